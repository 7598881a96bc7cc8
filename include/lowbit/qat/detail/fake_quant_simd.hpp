// lowbit/qat/detail/fake_quant_simd.hpp — 4-lane bodies (core/detail/vec4.hpp)
// of the fake-quantization segment kernels (private: only qat/fake_quant.hpp includes this).
//
// Each function handles the whole-batch prefix of a segment that shares one
// step s and zero point z, and returns how many elements it did; the caller
// finishes the tail with the scalar path. The arithmetic is the scalar path's,
// operation for operation (x / s, nearbyint, + z, clamp, s * (u - z)), so the
// forward values are bit-identical to lowbit::quantize_value/dequantize_value.
// Only the step-gradient sum is reassociated (lane-wise partial sums).
#pragma once

#include <cstddef>

#include "../../core/detail/vec4.hpp"
#include "../../core/scheme.hpp"

namespace lowbit {
namespace qat {
namespace detail {

#if defined(LOWBIT_QAT_NO_SIMD)
constexpr bool simd_available = false;
#else
constexpr bool simd_available = lowbit::detail::v4::vec4_simd;
#endif

// The batch loops are kept out of line: inlined into a caller that passes a
// one-element array, GCC 12 warns (-Warray-bounds) about the never-taken batch
// load. A call per segment costs nothing next to the segment's work.
#if defined(__GNUC__) || defined(__clang__)
#define LOWBIT_QAT_NOINLINE __attribute__((noinline))
#else
#define LOWBIT_QAT_NOINLINE
#endif

namespace v4 = lowbit::detail::v4;
using v4::f32x4;
constexpr std::size_t lanes = v4::lanes;

// u = the clamped code, as quantize_value computes it (1-bit symmetric: u = [x >= 0]).
template <int Bits, bool Symmetric>
LOWBIT_ALWAYS_INLINE f32x4 simd_code(f32x4 x, f32x4 s, f32x4 z) noexcept {
    if constexpr (Symmetric && Bits == 1) {
        (void)s;
        (void)z;
        return v4::select(x >= f32x4(0.0f), f32x4(1.0f), f32x4(0.0f));
    } else {
        const f32x4 lo(static_cast<float>(min_code(Bits, Symmetric))), hi(static_cast<float>(max_code(Bits)));
        // Comparisons, not min/max: a NaN code becomes lo on every arch, as
        // quantize_value's max(qmin, u) does (NEON's vmaxq would keep the NaN).
        const f32x4 u = v4::round_even(x / s) + z;
        const f32x4 v = v4::select(u > lo, u, lo);
        return v4::select(v < hi, v, hi);
    }
}

// y[i] = s * (u_i - z) for the batch-sized prefix of [0, n); s > 0.
template <int Bits, bool Symmetric>
LOWBIT_QAT_NOINLINE inline std::size_t forward_simd(const float* x, std::size_t n, float s, float z, float* y) noexcept {
    constexpr std::size_t W = lanes;
    const f32x4 vs(s), vz(z);
    std::size_t i = 0;
    for (; i + W <= n; i += W) {
        const f32x4 u = simd_code<Bits, Symmetric>(f32x4::load(x + i), vs, vz);
        (vs * (u - vz)).store(y + i);
    }
    return i;
}

// Backward over the batch-sized prefix: gx = gy inside the clip range (lo, hi)
// of v = x/s, else 0 (skipped when gx is null); lane sums of gy * dŷ/ds into
// lane_sums[0..W) (skipped when lane_sums is null). dŷ/ds = (u - z) - [inside] * v.
template <int Bits, bool Symmetric>
LOWBIT_QAT_NOINLINE inline std::size_t backward_simd(const float* x, const float* gy, std::size_t n, float s, float z, float lo, float hi,
                                 float* gx, float* lane_sums) noexcept {
    constexpr std::size_t W = lanes;
    const f32x4 vs(s), vz(z), vlo(lo), vhi(hi), zero(0.0f);
    f32x4 acc(0.0f);
    std::size_t i = 0;
    for (; i + W <= n; i += W) {
        const f32x4 xv = f32x4::load(x + i);
        const f32x4 g = f32x4::load(gy + i);
        const f32x4 v = xv / vs;
        const auto inside = (v > vlo) & (v < vhi);
        if (gx) v4::select(inside, g, zero).store(gx + i);
        if (lane_sums) {
            const f32x4 q = simd_code<Bits, Symmetric>(xv, vs, vz) - vz;
            acc = acc + g * (q - v4::select(inside, v, zero));
        }
    }
    if (lane_sums) acc.store(lane_sums);
    return i;
}

}  // namespace detail
}  // namespace qat
}  // namespace lowbit
