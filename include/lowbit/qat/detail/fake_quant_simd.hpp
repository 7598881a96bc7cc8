// lowbit/qat/detail/fake_quant_simd.hpp — xsimd bodies of the fake-quantization
// segment kernels (private: only qat/fake_quant.hpp includes this).
//
// Each function handles the whole-batch prefix of a segment that shares one
// step s and zero point z, and returns how many elements it did; the caller
// finishes the tail with the scalar path. The arithmetic is the scalar path's,
// operation for operation (x / s, nearbyint, + z, clamp, s * (u - z)), so the
// forward values are bit-identical to lowbit::quantize_value/dequantize_value.
// Only the step-gradient sum is reassociated (lane-wise partial sums).
//
// Uses only xsimd operations that exist, with the same signatures, from 8.1 to
// 14.x (batch::load_unaligned/store_unaligned, nearbyint, min, max, select,
// comparisons); the lane sum is done by storing the accumulator, so no
// hadd/reduce_add version difference arises.
#pragma once

#include <cstddef>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "../../core/scheme.hpp"

// GCC 12 reports -Wmaybe-uninitialized inside its own AVX-512 intrinsics
// (_mm512_undefined_ps's self-initialisation) once they are inlined here with
// -march supporting AVX-512 (GCC PR 105593, fixed in 13): silenced for these
// bodies only, and restored at the end of the file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace lowbit {
namespace qat {
namespace detail {

#if defined(LOWBIT_QAT_NO_SIMD)
constexpr bool simd_available = false;
#else
constexpr bool simd_available = !std::is_same<xsimd::default_arch, xsimd::unavailable>::value;
#endif

// The batch loops are kept out of line: inlined into a caller that passes a
// one-element array, GCC 12 warns (-Warray-bounds) about the never-taken batch
// load. A call per segment costs nothing next to the segment's work.
#if defined(__GNUC__) || defined(__clang__)
#define LOWBIT_QAT_NOINLINE __attribute__((noinline))
#else
#define LOWBIT_QAT_NOINLINE
#endif

// u = the clamped code, as quantize_value computes it (1-bit symmetric: u = [x >= 0]).
template <int Bits, bool Symmetric, class B>
LOWBIT_ALWAYS_INLINE B simd_code(const B& x, const B& s, const B& z) noexcept {
    if constexpr (Symmetric && Bits == 1) {
        (void)s;
        (void)z;
        return xsimd::select(x >= B(0.0f), B(1.0f), B(0.0f));
    } else {
        const B lo(static_cast<float>(min_code(Bits, Symmetric))), hi(static_cast<float>(max_code(Bits)));
        // Comparisons, not min/max: a NaN code becomes lo on every arch, as
        // quantize_value's max(qmin, u) does (NEON's vmaxq would keep the NaN).
        const B u = xsimd::nearbyint(x / s) + z;
        const B v = xsimd::select(u > lo, u, lo);
        return xsimd::select(v < hi, v, hi);
    }
}

// y[i] = s * (u_i - z) for the batch-sized prefix of [0, n); s > 0.
template <int Bits, bool Symmetric, class Arch>
LOWBIT_QAT_NOINLINE inline std::size_t forward_simd(const float* x, std::size_t n, float s, float z, float* y) noexcept {
    using B = xsimd::batch<float, Arch>;
    constexpr std::size_t W = B::size;
    const B vs(s), vz(z);
    std::size_t i = 0;
    for (; i + W <= n; i += W) {
        const B u = simd_code<Bits, Symmetric>(B::load_unaligned(x + i), vs, vz);
        (vs * (u - vz)).store_unaligned(y + i);
    }
    return i;
}

// Backward over the batch-sized prefix: gx = gy inside the clip range (lo, hi)
// of v = x/s, else 0 (skipped when gx is null); lane sums of gy * dŷ/ds into
// lanes[0..W) (skipped when lanes is null). dŷ/ds = (u - z) - [inside] * v.
template <int Bits, bool Symmetric, class Arch>
LOWBIT_QAT_NOINLINE inline std::size_t backward_simd(const float* x, const float* gy, std::size_t n, float s, float z, float lo, float hi,
                                 float* gx, float* lanes) noexcept {
    using B = xsimd::batch<float, Arch>;
    constexpr std::size_t W = B::size;
    const B vs(s), vz(z), vlo(lo), vhi(hi), zero(0.0f);
    B acc(0.0f);
    std::size_t i = 0;
    for (; i + W <= n; i += W) {
        const B xv = B::load_unaligned(x + i);
        const B g = B::load_unaligned(gy + i);
        const B v = xv / vs;
        const auto inside = (v > vlo) & (v < vhi);
        if (gx) xsimd::select(inside, g, zero).store_unaligned(gx + i);
        if (lanes) {
            const B q = simd_code<Bits, Symmetric>(xv, vs, vz) - vz;
            acc = acc + g * (q - xsimd::select(inside, v, zero));
        }
    }
    if (lanes) acc.store_unaligned(lanes);
    return i;
}

template <class Arch>
constexpr std::size_t lanes_of() noexcept {
    return xsimd::batch<float, Arch>::size;
}

}  // namespace detail
}  // namespace qat
}  // namespace lowbit

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
