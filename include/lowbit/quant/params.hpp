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
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "../core/scheme.hpp"

namespace lowbit {

// Parameters of one group as stored, and their decoded float values.
template <class Codec>
struct group_params {
    typename Codec::storage stored_scale{};
    std::uint8_t stored_zero = 0;  // asymmetric only
    float scale = 0.0f;            // decoded stored scale (the quantization step)
    float zero = 0.0f;             // zero point as a float (integer for b >= 2)
};

namespace detail {
// Encode a positive step, rounding up when the storage type would shrink it.
template <class Codec>
inline typename Codec::storage encode_scale_up(float step, float* decoded) noexcept {
    typename Codec::storage s = Codec::encode(step);
    float d = Codec::decode(s);
    if (d < step && std::isfinite(d)) {  // 16-bit storage: the next code up is the next larger value
        s = static_cast<typename Codec::storage>(s + 1);
        d = Codec::decode(s);
    }
    *decoded = d;
    return s;
}
}  // namespace detail

// Parameters covering [lo, hi] (lo <= hi, finite). If the stored scale overflows
// its type, `scale` is +Inf: callers report that as an error.
template <int Bits, bool Symmetric, class Codec>
inline group_params<Codec> params_for_range(float lo, float hi) noexcept {
    constexpr int qmax = max_code(Bits);
    group_params<Codec> p;
    float step;
    if (Symmetric) {
        const float amax = std::max(-lo, hi);
        step = Bits == 1 ? 2.0f * amax : amax / static_cast<float>((1 << (Bits - 1)) - 1);
        p.zero = symmetric_zero(Bits);
    } else {
        lo = std::min(lo, 0.0f);
        hi = std::max(hi, 0.0f);
        step = (hi - lo) / static_cast<float>(qmax);
    }
    if (!(step > 0.0f)) {  // all-zero group: every code is the zero point, x^ = 0
        p.stored_scale = Codec::encode(0.0f);
        p.scale = 0.0f;
        return p;
    }
    p.stored_scale = detail::encode_scale_up<Codec>(step, &p.scale);
    if (!Symmetric && std::isfinite(p.scale)) {
        const float z = std::nearbyint(-lo / p.scale);
        p.stored_zero = static_cast<std::uint8_t>(std::min(std::max(z, 0.0f), static_cast<float>(qmax)));
        p.zero = static_cast<float>(p.stored_zero);
    }
    return p;
}

// Round one value to its code (round half to even, as torch.round).
template <int Bits, bool Symmetric>
LOWBIT_ALWAYS_INLINE std::uint8_t quantize_value(float x, float scale, float zero) noexcept {
    constexpr float qmin = static_cast<float>(min_code(Bits, Symmetric));
    constexpr float qmax = static_cast<float>(max_code(Bits));
    if (Symmetric && Bits == 1) return x >= 0.0f ? 1 : 0;  // sign binarisation: levels -s/2, +s/2
    // round(x / s) + z rather than round(x / s + z): z is an integer and this is
    // the reference GPTQ/AWQ order, so codes agree with theirs bit for bit.
    const float u = scale > 0.0f ? std::nearbyint(x / scale) + zero : zero;
    return static_cast<std::uint8_t>(std::min(std::max(u, qmin), qmax));
}

LOWBIT_ALWAYS_INLINE float dequantize_value(std::uint8_t u, float scale, float zero) noexcept {
    return scale * (static_cast<float>(u) - zero);
}

}  // namespace lowbit
