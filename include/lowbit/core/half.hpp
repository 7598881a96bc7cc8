// lowbit/core/half.hpp — IEEE binary16 and bfloat16 conversions in portable code.
//
// Round-to-nearest-even, subnormals kept, overflow to infinity, NaN stays NaN
// (quiet). No hardware (F16C, NEON fp16) is assumed, and the result does not
// depend on the FPU's rounding or flush-to-zero mode: it is pure integer code.
// These are the conversions ggml uses, so GGUF scales come out byte-identical.
#pragma once

#include <cstdint>
#include <cstring>

namespace lowbit {

struct f16_bits { std::uint16_t bits; };   // documentation types for raw storage
struct bf16_bits { std::uint16_t bits; };

inline std::uint32_t f32_to_bits(float x) noexcept {
    std::uint32_t u;
    std::memcpy(&u, &x, sizeof u);
    return u;
}
inline float bits_to_f32(std::uint32_t u) noexcept {
    float x;
    std::memcpy(&x, &u, sizeof x);
    return x;
}

// float -> binary16 bits, round to nearest even.
inline std::uint16_t f32_to_f16(float x) noexcept {
    std::uint32_t f = f32_to_bits(x);
    const std::uint16_t sign = static_cast<std::uint16_t>((f >> 16) & 0x8000u);
    f &= 0x7fffffffu;
    if (f >= 0x7f800000u) {  // Inf or NaN; NaN keeps its top payload bits and is made quiet
        return static_cast<std::uint16_t>(sign | (f > 0x7f800000u ? 0x7e00u | ((f >> 13) & 0x3ffu) : 0x7c00u));
    }
    if (f >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // >= 65520 rounds to Inf
    if (f < 0x38800000u) {                                                    // below 2^-14: half subnormal
        if (f < 0x33000000u) return sign;                                     // below 2^-25: rounds to zero
        const int e = static_cast<int>(f >> 23);
        const std::uint32_t m = (f & 0x7fffffu) | 0x800000u;
        const int shift = 126 - e;  // 14..24: aligns m to units of 2^-24
        std::uint32_t q = m >> shift;
        const std::uint32_t rem = m & ((1u << shift) - 1u);
        const std::uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1u))) ++q;  // may carry into the smallest normal: still right
        return static_cast<std::uint16_t>(sign | q);
    }
    std::uint32_t h = (f >> 13) - (112u << 10);  // rebias exponent 127 -> 15
    const std::uint32_t rem = f & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // carry into the exponent is correct
    return static_cast<std::uint16_t>(sign | h);
}

// binary16 bits -> float, exact.
inline float f16_to_f32(std::uint16_t h) noexcept {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    const std::uint32_t e = (h >> 10) & 0x1fu;
    std::uint32_t m = h & 0x3ffu;
    if (e == 0x1fu) return bits_to_f32(sign | 0x7f800000u | (m << 13));
    if (e == 0) {
        if (m == 0) return bits_to_f32(sign);
        int shift = 0;  // normalise the subnormal
        while (!(m & 0x400u)) {
            m <<= 1;
            ++shift;
        }
        m &= 0x3ffu;
        return bits_to_f32(sign | ((113u - static_cast<std::uint32_t>(shift)) << 23) | (m << 13));
    }
    return bits_to_f32(sign | ((e + 112u) << 23) | (m << 13));
}

// float -> bfloat16 bits, round to nearest even; NaN made quiet.
inline std::uint16_t f32_to_bf16(float x) noexcept {
    const std::uint32_t f = f32_to_bits(x);
    if ((f & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((f >> 16) | 0x40u);
    return static_cast<std::uint16_t>((f + 0x7fffu + ((f >> 16) & 1u)) >> 16);
}

inline float bf16_to_f32(std::uint16_t b) noexcept { return bits_to_f32(static_cast<std::uint32_t>(b) << 16); }

}  // namespace lowbit
