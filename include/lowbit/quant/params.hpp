// lowbit/quant/params.hpp — scale and zero point of one group, and
// round-to-nearest of single values. Formulas: docs/concepts.md, "Scales and
// zero points".
//
//   symmetric (b >= 2): s = amax / (2^(b-1) - 1),  z = 2^(b-1)
//   symmetric (b == 1): s = 2 * amax,              z = 1/2      (levels +-amax)
//   asymmetric:         s = (hi - lo) / (2^b - 1), z = round(-lo / s), with lo <= 0 <= hi
//   code:  u = clamp(round(x / s) + z, qmin, qmax)      value: x^ = s * (u - z)
//          (1 bit symmetric: u = [x >= 0])
//
// The scale that is *stored* (f16/bf16 rounding included) is the one used to
// compute codes, and it is rounded up to the next representable value when
// rounding would shrink it, so the range stays covered and |x - x^| <= s/2
// holds for every x inside [lo, hi].
//
// Finite in, finite out: every level a group can decode to, s * (u - z), is
// finite (at most FLT_MAX in magnitude, whatever the order the product is
// formed in: the largest |u - z| times s, with |u - z| exact). Groups whose
// range reaches FLT_MAX would need a larger s: for f32 and bf16 scales (f32's
// range) s is then capped at the largest stored value with s * m <= FLT_MAX,
// m = max |u - z| over the codes (2^(b-1) - 1 symmetric, 1/2 at 1 bit,
// max(z, 2^b - 1 - z) asymmetric), rounding the stored scale down. Only
// groups with amax (symmetric) or hi - lo (asymmetric) above FLT_MAX / 2 can
// be capped; in them values beyond the outermost level +-m*s clip to it, so
// |x - x^| <= s/2 no longer holds there (docs/reliability.md gives the bound).
// f16 scales (largest 65504) are never capped: a step beyond f16 leaves
// scale = +Inf, which every caller reports as an error.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "../core/scheme.hpp"

namespace lowbit {

// Scale storage at run time: the stored bits of a scale of type t (f32 bits,
// or a 16-bit f16/bf16 code in the low half).
inline std::uint32_t encode_scale(scale_type t, float s) noexcept {
    return t == scale_type::f32 ? f32_to_bits(s) : t == scale_type::f16 ? f32_to_f16(s) : f32_to_bf16(s);
}
inline float decode_scale(scale_type t, std::uint32_t v) noexcept {
    return t == scale_type::f32 ? bits_to_f32(v)
                                : t == scale_type::f16 ? f16_to_f32(static_cast<std::uint16_t>(v))
                                                       : bf16_to_f32(static_cast<std::uint16_t>(v));
}

// Parameters of one group: stored form and decoded float values.
struct qparams {
    std::uint32_t stored_scale = 0;  // encode_scale() bits
    std::uint8_t stored_zero = 0;    // asymmetric only
    float scale = 0.0f;              // decoded stored scale (the quantization step)
    float zero = 0.0f;               // zero point as a float (integer for b >= 2)
};

// Largest finite stored scale of type t (f32: FLT_MAX, bf16: 0x7f7f = 3.39e38, f16: 65504).
inline std::uint32_t max_stored_scale(scale_type t) noexcept {
    return t == scale_type::f32 ? 0x7f7fffffu : t == scale_type::f16 ? 0x7bffu : 0x7f7fu;
}

// Largest |u - z| a group's codes reach: the factor of s in its outermost level.
inline double max_level(int bits, bool symmetric, float zero) noexcept {
    if (symmetric) return bits == 1 ? 0.5 : static_cast<double>((1 << (bits - 1)) - 1);
    const double z = zero, qmax = max_code(bits);
    return z > qmax - z ? z : qmax - z;
}

// Parameters covering [lo, hi] (lo <= hi, finite). Every level s * (u - z) is
// finite (see the top of this file). If the step overflows f16 scales,
// `scale` is +Inf: callers report that as an error.
// Run-time bits: quantization is not the hot path, and one implementation
// keeps tools that switch over every scheme quick to compile.
inline qparams params_for_range(float lo, float hi, int bits, bool symmetric, scale_type st) noexcept {
    const int qmax = max_code(bits);
    qparams p;
    float step;  // +Inf where f32 overflows (1 bit: 2 * amax; asymmetric: hi - lo); the cap below handles it
    double wide_step = 0.0;  // asymmetric: the step in double, for the zero point where f32 overflows
    if (symmetric) {
        const float amax = std::max(-lo, hi);
        step = bits == 1 ? 2.0f * amax : amax / static_cast<float>((1 << (bits - 1)) - 1);
        p.zero = symmetric_zero(bits);
    } else {
        lo = std::min(lo, 0.0f);
        hi = std::max(hi, 0.0f);
        step = (hi - lo) / static_cast<float>(qmax);
        wide_step = (static_cast<double>(hi) - lo) / qmax;
    }
    if (!(step > 0.0f)) {  // all-zero group (or a step below f32's smallest): every code is the zero point, x^ = 0
        p.stored_scale = encode_scale(st, 0.0f);
        return p;
    }
    // Round the stored scale up when storage would shrink it (16-bit codes of
    // positive values are monotone: the next code is the next larger value).
    // f32 arithmetic is kept where it does not overflow: the codes are then
    // those of the reference quantizers bit for bit.
    p.stored_scale = encode_scale(st, step);
    p.scale = decode_scale(st, p.stored_scale);
    if (p.scale < step && std::isfinite(p.scale)) p.scale = decode_scale(st, ++p.stored_scale);
    if (st == scale_type::f16 && !std::isfinite(p.scale)) return p;  // beyond 65504: the caller refuses
    // The zero point from the step as stored (in f32, as the reference
    // quantizers), or from the exact step where the f32 one overflowed.
    if (!symmetric) {
        const double z = std::isfinite(p.scale) ? static_cast<double>(std::nearbyint(-lo / p.scale))
                                                : std::nearbyint(-static_cast<double>(lo) / wide_step);
        p.stored_zero = static_cast<std::uint8_t>(std::min(std::max(z, 0.0), static_cast<double>(qmax)));
        p.zero = static_cast<float>(p.stored_zero);
    }
    // Cap: the largest stored value with s * m <= FLT_MAX (exact in double: a
    // 24-bit significand times m <= 255), searched down from FLT_MAX / m.
    const double m = max_level(bits, symmetric, p.zero), limit = std::numeric_limits<float>::max();
    if (std::isfinite(p.scale) && static_cast<double>(p.scale) * m <= limit) return p;
    const double cap = std::min(limit / m, static_cast<double>(decode_scale(st, max_stored_scale(st))));
    p.stored_scale = encode_scale(st, static_cast<float>(cap));
    while (!(static_cast<double>(decode_scale(st, p.stored_scale)) * m <= limit) || decode_scale(st, p.stored_scale) > cap)
        --p.stored_scale;
    p.scale = decode_scale(st, p.stored_scale);
    return p;
}

// Round one value to its code (round half to even, as torch.round); NaN gives
// the lowest code and +-Inf the extreme ones (quantizers refuse non-finite
// weights before getting here; QAT's fake quantization relies on this):
// u = clamp(round(x / s) + z) -- not round(x / s + z): z is an integer and this
// is the reference GPTQ/AWQ order, so codes agree with theirs bit for bit.
LOWBIT_ALWAYS_INLINE std::uint8_t quantize_value(float x, float scale, float zero, int bits, bool symmetric) noexcept {
    if (symmetric && bits == 1) return x >= 0.0f ? 1 : 0;  // sign binarisation: levels -s/2, +s/2
    const float qmin = static_cast<float>(min_code(bits, symmetric)), qmax = static_cast<float>(max_code(bits));
    const float u = scale > 0.0f ? std::nearbyint(x / scale) + zero : zero;
    // max(qmin, u), not max(u, qmin): NaN gives qmin (x86 maxss order), never a NaN -> int conversion.
    return static_cast<std::uint8_t>(std::min(std::max(qmin, u), qmax));
}

LOWBIT_ALWAYS_INLINE float dequantize_value(std::uint8_t u, float scale, float zero) noexcept {
    return scale * (static_cast<float>(u) - zero);
}

// ---- compile-time forms (same functions, typed storage) --------------------------
template <class Codec>
struct group_params {
    typename Codec::storage stored_scale{};
    std::uint8_t stored_zero = 0;
    float scale = 0.0f;
    float zero = 0.0f;

    static group_params from(const qparams& p) noexcept {
        group_params g;
        g.stored_scale = static_cast<typename Codec::storage>(decode_stored(p.stored_scale));
        g.stored_zero = p.stored_zero;
        g.scale = p.scale;
        g.zero = p.zero;
        return g;
    }

private:
    static typename Codec::storage decode_stored(std::uint32_t v) noexcept {
        if constexpr (Codec::value == scale_type::f32) return bits_to_f32(v);
        else return static_cast<typename Codec::storage>(v);
    }
};

template <int Bits, bool Symmetric, class Codec>
inline group_params<Codec> params_for_range(float lo, float hi) noexcept {
    return group_params<Codec>::from(params_for_range(lo, hi, Bits, Symmetric, Codec::value));
}

template <int Bits, bool Symmetric>
LOWBIT_ALWAYS_INLINE std::uint8_t quantize_value(float x, float scale, float zero) noexcept {
    return quantize_value(x, scale, zero, Bits, Symmetric);
}

}  // namespace lowbit
