// lowbit/formats/detail/gguf_search_lanes.hpp — fit_affine over the
// sub-blocks of a K-quant super-block (docs/formats.md, "How the K-quant
// scales are chosen"): the scalar fit_affine per sub-block, or, where the
// arch the kernels use (kernels/arch.hpp: active_arch, LOWBIT_FORCE_ARCH) has
// AVX2, eight sub-blocks at once in the lanes of x86/gguf_search_avx2.hpp,
// whose results equal the scalar ones bit for bit.
#pragma once

#include <cstdint>

#include "../../kernels/arch.hpp"
#include "gguf_search.hpp"

#if defined(LOWBIT_X86) && (defined(__GNUC__) || defined(__clang__)) && !defined(LOWBIT_NO_X86_KERNELS)
#define LOWBIT_HAVE_GGUF_SEARCH_X86 1
#include "x86/gguf_search_avx2.hpp"
#endif

namespace lowbit {
namespace gguf {
namespace detail {

// Whether fit_affine_subblocks runs the lanes on arch a (tests force each arch).
inline bool fit_affine_lanes_on(arch a) noexcept {
#if defined(LOWBIT_HAVE_GGUF_SEARCH_X86)
    return arch_has_avx2(a);
#else
    (void)a;
    return false;
#endif
}

// count sub-blocks of n <= 32 values (the lanes take n = 16 and 32), sub-block j at x + n j with its weights
// at weights + n j: scales[j], neg_mins[j] and the codes L + n j as
// fit_affine(n, nmax, x + n j, weights + n j, L + n j, ..., &neg_mins[j],
// rmin, rdelta, nstep, use_mad) gives them.
inline void fit_affine_subblocks(int count, int n, int nmax, const float* x, const float* weights, std::uint8_t* L,
                                 float* scales, float* neg_mins, float rmin, float rdelta, int nstep, bool use_mad) noexcept {
    int j = 0;
#if defined(LOWBIT_HAVE_GGUF_SEARCH_X86)
    if ((n == 16 || n == 32) && fit_affine_lanes_on(active_arch())) {
        for (; j + 8 <= count; j += 8) {
            const int o = n * j;
            auto* lanes = n == 16 ? &avx2_search::fit_affine_x8<16> : &avx2_search::fit_affine_x8<32>;
            lanes(nmax, x + o, weights + o, L + o, scales + j, neg_mins + j, rmin, rdelta, nstep, use_mad);
        }
    }
#endif
    std::uint8_t Laux[32];
    for (; j < count; ++j) {
        scales[j] = fit_affine(n, nmax, x + n * j, weights + n * j, L + n * j, Laux, &neg_mins[j], rmin, rdelta, nstep, use_mad);
    }
}

}  // namespace detail
}  // namespace gguf
}  // namespace lowbit
