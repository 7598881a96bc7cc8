// lowbit/quant/step_error.hpp — the error of rounding a block of values to
// one candidate (scale, zero point), fast enough to try dozens of candidates
// per group: the inner loop of calibrate::mse (quant/calibrate.hpp).
//
// Plain C++ written for the auto-vectorizer (public quant/ headers use no
// intrinsics): values go through fixed-width lanes of independent float
// accumulators, so no reassociation is needed, and there is no libm call in
// the loop:
//   - round half to even by the 1.5 * 2^23 trick (|t| <= 255 after the clamp);
//     under -ffast-math, which may fold it away, std::nearbyint instead
//     (lowbit does not support -ffast-math, docs/formats.md; this only keeps
//     the rounding right for values in the normal range if a user builds so);
//   - norm 2 is a multiplication; any other norm is exp2(p * log2 d) by short
//     polynomials (relative error ~1e-6: it can only reorder candidates whose
//     errors agree to that, which calibrate.hpp's tests allow for).
// Errors are measured in steps, d = |x^ - x| / s, and the caller multiplies
// by s^norm in double: the float sums neither overflow for values near
// FLT_MAX nor underflow for tiny ones.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "../core/config.hpp"
#include "../core/half.hpp"

namespace lowbit {
namespace detail {

// Round to the nearest integer, ties to even, for |t| <= 2^22 (the current
// rounding mode, as std::nearbyint).
LOWBIT_ALWAYS_INLINE float round_small(float t) noexcept {
#if defined(__FAST_MATH__)
    return std::nearbyint(t);
#else
    constexpr float magic = 12582912.0f;  // 1.5 * 2^23: the sum's ulp is 1, so the add rounds t
    return (t + magic) - magic;
#endif
}

// d^p for d >= 0 and 1 <= p <= 16, relative error ~1e-6, in place of std::pow
// in the search. d + 2^-100 is used: it keeps the log finite at d = 0, adds at
// most (2^-100)^p <= 2^-100 steps, and has no test of d that GCC would turn
// into branches (and then not vectorize).
LOWBIT_ALWAYS_INLINE float pow_nonneg(float d, float p) noexcept {
    const float dn = d + 7.88860905e-31f;  // 2^-100
    // d = m * 2^e with m in [sqrt(1/2), sqrt(2)): ln m = 2 atanh(u), u = (m-1)/(m+1), |u| <= 0.172.
    // The halving of m above sqrt(2) is integer arithmetic on the bits: a
    // float select of m or m/2 becomes a branch in GCC, which stops vectorization.
    const std::int32_t bits = static_cast<std::int32_t>(f32_to_bits(dn));  // dn > 0: the sign bit is clear
    const std::int32_t mant = bits & 0x007fffff, up = mant > 0x003504f3 ? 1 : 0;  // 0x3504f3: sqrt(2)'s mantissa
    const float m = bits_to_f32(static_cast<std::uint32_t>(mant | ((127 - up) << 23)));
    const float e = static_cast<float>((bits >> 23) - 127 + up);
    const float u = (m - 1.0f) / (m + 1.0f), u2 = u * u;
    const float ln_m = 2.0f * u * (1.0f + u2 * (1.0f / 3 + u2 * (1.0f / 5 + u2 * (1.0f / 7 + u2 * (1.0f / 9)))));
    const float log2_d = e + ln_m * 1.44269504f;
    // 2^y = 2^n * exp(g), n = round(y), g = (y - n) ln 2, |y| <= 1600. n is
    // clamped as an integer (a float clamp here gets threaded into branches)
    // so 2^n is a normal float (terms below 2^-126 steps count as that) or +Inf.
    const float y = p * log2_d;
    const float n = round_small(y);
    const float g = (y - n) * 0.693147181f;
    const float ex = 1.0f + g * (1.0f + g * (0.5f + g * (1.0f / 6 + g * (1.0f / 24 + g * (1.0f / 120 + g * (1.0f / 720))))));
    const std::int32_t ni = std::min(std::max(static_cast<std::int32_t>(n), -126), 128);
    const float two_n = bits_to_f32(static_cast<std::uint32_t>(ni + 127) << 23);
    return ex * two_n;
}

// One candidate: the step s, its reciprocal, the code range relative to the
// zero point [kmin, kmax], and the outermost levels s*kmin, s*kmax (values
// beyond them are clipped).
struct step_candidate {
    float scale, inv, kmin, kmax, lo_level, hi_level;
};

// Sums over a block (rows x cols, row stride) of d^norm, d = |x^ - x| / s:
// `total` over all values, `clipped` over the values outside [lo_level,
// hi_level]. Stops early, with partial sums, once total >= bound (the caller's
// best so far: this candidate cannot win, and partial sums are lower bounds).
struct step_error_sums {
    double total = 0.0, clipped = 0.0;
};

// Errors of 32 values into err[] and, for the clipped ones, clip[] (0 for the
// others). A fixed trip count and selects instead of branches: GCC and Clang
// vectorize it at -O2 as well as -O3.
template <bool L2>
LOWBIT_ALWAYS_INLINE void step_errors_32(const float* LOWBIT_RESTRICT x, const step_candidate& c, float norm,
                                         float* LOWBIT_RESTRICT err, float* LOWBIT_RESTRICT clip) noexcept {
    for (std::size_t i = 0; i < 32; ++i) {
        const float t = std::min(std::max(x[i] * c.inv, c.kmin), c.kmax);  // clamping first = clamping the code
        const float d = std::fabs((c.scale * round_small(t) - x[i]) * c.inv);
        const float e = L2 ? d * d : pow_nonneg(d, norm);
        const float above = x[i] > c.hi_level ? e : 0.0f;
        err[i] = e;
        clip[i] = x[i] < c.lo_level ? e : above;
    }
}

template <bool L2>
inline step_error_sums step_errors(const float* data, std::size_t rows, std::size_t cols, std::size_t stride,
                                   const step_candidate& c, float norm, double bound) noexcept {
    // Chunks of 32 values of one row (a short chunk is padded with zeros,
    // which every candidate represents exactly) summed in 8 float lanes; the
    // lanes go to double (and the early exit is tested) every 8 chunks and at
    // the end, so a group of <= 256 values pays for one horizontal sum.
    constexpr std::size_t chunk = 32, lanes = 8, flush_every = 8;
    float err[chunk], clip[chunk], pad[chunk];
    float acc[lanes] = {}, cacc[lanes] = {};
    step_error_sums s;
    auto flush = [&] {
        float t = 0.0f, ct = 0.0f;
        for (std::size_t j = 0; j < lanes; ++j) {
            t += acc[j];
            ct += cacc[j];
            acc[j] = cacc[j] = 0.0f;
        }
        s.total += t;
        s.clipped += ct;
    };
    std::size_t pending = 0;
    for (std::size_t r = 0; r < rows; ++r) {
        const float* row = data + r * stride;
        for (std::size_t i0 = 0; i0 < cols; i0 += chunk) {
            const float* x = row + i0;
            if (cols - i0 < chunk) {
                std::fill(pad, pad + chunk, 0.0f);
                std::copy(x, row + cols, pad);
                x = pad;
            }
            step_errors_32<L2>(x, c, norm, err, clip);
            for (std::size_t i = 0; i < chunk; i += lanes)
                for (std::size_t j = 0; j < lanes; ++j) {
                    acc[j] += err[i + j];
                    cacc[j] += clip[i + j];
                }
            if (++pending == flush_every) {
                pending = 0;
                flush();
                if (s.total >= bound) return s;
            }
        }
    }
    flush();
    return s;
}

}  // namespace detail
}  // namespace lowbit
