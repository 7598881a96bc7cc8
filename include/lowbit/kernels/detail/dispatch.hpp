// lowbit/kernels/detail/dispatch.hpp — picks the kernel copy for the active
// arch (kernels/arch.hpp) and runs it on a range of weight rows.
#pragma once

#include <cstddef>
#include <type_traits>

#include "../arch.hpp"
#include "blocks.hpp"
#include "generic.hpp"

#if defined(LOWBIT_X86) && (defined(__GNUC__) || defined(__clang__)) && !defined(LOWBIT_NO_X86_KERNELS)
#define LOWBIT_HAVE_X86_KERNELS 1
#include "x86/kernels.hpp"
#endif
#if defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(LOWBIT_NO_ARM_KERNELS)
#define LOWBIT_HAVE_ARM_KERNELS 1
#include "arm/kernels.hpp"
#endif

namespace lowbit {
namespace kdetail {

constexpr bool xsimd_available = !std::is_same<simd::default_arch, xsimd::unavailable>::value;

// int8 path: out(m, r) for r in [r0, r1), m in [0, M).
template <class S>
inline void int8_rows(arch a, const qmatrix_view<S>& w, std::size_t r0, std::size_t r1, const act_i8* acts, std::size_t M,
                      const act_geometry& g, float* out, std::size_t ld) noexcept {
    switch (a) {
#if defined(LOWBIT_HAVE_X86_KERNELS)
        case arch::avx2: return avx2::i8_rows(w, r0, r1, acts, M, g, out, ld);
        case arch::avx512: return avx512::i8_rows(w, r0, r1, acts, M, g, out, ld);
        case arch::avxvnni: return avxvnni::i8_rows(w, r0, r1, acts, M, g, out, ld);
        case arch::avx512vnni: return avx512vnni::i8_rows(w, r0, r1, acts, M, g, out, ld);
#endif
#if defined(LOWBIT_HAVE_ARM_KERNELS)
        case arch::neon: return neon::i8_rows(w, r0, r1, acts, M, g, out, ld);
        case arch::neondot: return neondot::i8_rows(w, r0, r1, acts, M, g, out, ld);
#endif
        default:
            for (std::size_t r = r0; r < r1; ++r)
                for (std::size_t m = 0; m < M; ++m) out[m * ld + r] = int8_row_scalar(w, r, acts[m], g);
    }
}

// f32 (dequantize-and-FMA) path.
template <class S>
inline void f32_rows(arch a, const qmatrix_view<S>& w, std::size_t r0, std::size_t r1, const act_f32* acts, std::size_t M,
                     const act_geometry& g, float* out, std::size_t ld) noexcept {
    switch (a) {
#if defined(LOWBIT_HAVE_X86_KERNELS)
        case arch::avx2:
        case arch::avxvnni: return avx2::f32_rows(w, r0, r1, acts, M, g, out, ld);
        case arch::avx512:
        case arch::avx512vnni: return avx512::f32_rows(w, r0, r1, acts, M, g, out, ld);
#endif
#if defined(LOWBIT_HAVE_ARM_KERNELS)
        case arch::neon:
        case arch::neondot: return neon::f32_rows(w, r0, r1, acts, M, g, out, ld);  // sdot does not help f32
#endif
        case arch::scalar: break;
        default:
            if constexpr (xsimd_available) return f32_rows_generic<simd::default_arch>(w, r0, r1, acts, M, g, out, ld);
    }
    for (std::size_t r = r0; r < r1; ++r)
        for (std::size_t m = 0; m < M; ++m) out[m * ld + r] = f32_row_scalar(w, r, acts[m], g);
}

}  // namespace kdetail
}  // namespace lowbit
