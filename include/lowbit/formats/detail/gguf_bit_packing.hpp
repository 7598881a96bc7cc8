// lowbit/formats/detail/gguf_bit_packing.hpp — how the legacy and K-quant
// blocks pack codes, high bits and 6-bit scales into bytes (docs/formats.md).
// Integer code only: the encoders and decoders share these so they cannot
// disagree on a layout.
#pragma once

#include <cstdint>
#include <cstring>

#include "fp_contract_off_begin.inl"

namespace lowbit {
namespace gguf {
namespace detail {

// ---- bit packing shared by several K-quants (docs/formats.md) ----------------------

// Four 2-bit codes per byte: within each half (128 values), byte l holds
// values l, l+32, l+64, l+96 from the lowest bits up. Used by Q2_K and Q3_K.
inline void pack_2bit_k(const std::uint8_t* L, std::uint8_t* qs) noexcept {
    for (int half = 0; half < 2; ++half) {
        const std::uint8_t* src = L + 128 * half;
        for (int l = 0; l < 32; ++l) {
            qs[32 * half + l] = static_cast<std::uint8_t>(src[l] | (src[l + 32] << 2) | (src[l + 64] << 4) | (src[l + 96] << 6));
        }
    }
}

// Eight 6-bit scales and eight 6-bit mins in 12 bytes (Q4_K, Q5_K): bytes 0-3
// hold scales 0-3, bytes 4-7 mins 0-3, each with two spare top bits that carry
// the high bits of scales/mins 4-7, whose low nibbles fill bytes 8-11.
inline void pack_scales_k4(const std::uint8_t* sc, const std::uint8_t* mn, std::uint8_t* out) noexcept {
    for (int j = 0; j < 4; ++j) {
        out[j] = static_cast<std::uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
        out[j + 4] = static_cast<std::uint8_t>(mn[j] | ((mn[j + 4] >> 4) << 6));
        out[j + 8] = static_cast<std::uint8_t>((sc[j + 4] & 0x0f) | ((mn[j + 4] & 0x0f) << 4));
    }
}

inline void unpack_scale_k4(int j, const std::uint8_t* in, std::uint8_t* sc, std::uint8_t* mn) noexcept {
    if (j < 4) {
        *sc = static_cast<std::uint8_t>(in[j] & 63);
        *mn = static_cast<std::uint8_t>(in[j + 4] & 63);
    } else {
        *sc = static_cast<std::uint8_t>((in[j + 4] & 0x0f) | ((in[j - 4] >> 6) << 4));
        *mn = static_cast<std::uint8_t>((in[j + 4] >> 4) | ((in[j] >> 6) << 4));
    }
}

// Sixteen 6-bit scales in 12 bytes (Q3_K): low nibbles of scales 0-7 and 8-15
// share bytes 0-7 (low, high nibble); the high two bits go to bytes 8-11,
// scale j at bit 2*(j/4) of byte 8 + j%4.
inline void pack_scales_q3(const int* six_bit, std::uint8_t* out) noexcept {
    std::memset(out, 0, 12);
    for (int j = 0; j < 16; ++j) {
        const unsigned v = static_cast<unsigned>(six_bit[j]) & 63u;
        if (j < 8) {
            out[j] = static_cast<std::uint8_t>(v & 0x0f);
        } else {
            out[j - 8] = static_cast<std::uint8_t>(out[j - 8] | ((v & 0x0f) << 4));
        }
        out[8 + j % 4] = static_cast<std::uint8_t>(out[8 + j % 4] | ((v >> 4) << (2 * (j / 4))));
    }
}

inline int unpack_scale_q3(int j, const std::uint8_t* in) noexcept {
    const int low = j < 8 ? (in[j] & 0x0f) : (in[j - 8] >> 4);
    const int high = (in[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (low | (high << 4)) - 32;
}

// Fifth bits of 32 codes into the little-endian 32-bit word qh.
inline void store_high_bits(std::uint32_t word, std::uint8_t* qh) noexcept {
    for (int b = 0; b < 4; ++b) qh[b] = static_cast<std::uint8_t>(word >> (8 * b));
}
inline std::uint32_t load_high_bits(const std::uint8_t* qh) noexcept {
    return static_cast<std::uint32_t>(qh[0]) | (static_cast<std::uint32_t>(qh[1]) << 8) |
           (static_cast<std::uint32_t>(qh[2]) << 16) | (static_cast<std::uint32_t>(qh[3]) << 24);
}

}  // namespace detail
}  // namespace gguf
}  // namespace lowbit

#include "fp_contract_off_end.inl"
