// lowbit/formats/detail/gguf_decode.hpp — one block back to floats, the same
// floats as ggml's dequantize_row_* (legacy and K-quant blocks).
#pragma once

#include <cstdint>

#include "../gguf_block_structs.hpp"
#include "gguf_arith.hpp"
#include "gguf_bit_packing.hpp"

#include "fp_contract_off_begin.inl"

namespace lowbit {
namespace gguf {
namespace detail {

inline void decode(const block_q4_0& b, float* y) noexcept {
    const float d = to_f32(b.d);
    for (int j = 0; j < 16; ++j) {
        y[j] = static_cast<float>((b.qs[j] & 0x0f) - 8) * d;
        y[j + 16] = static_cast<float>((b.qs[j] >> 4) - 8) * d;
    }
}

inline void decode(const block_q4_1& b, float* y) noexcept {
    const float d = to_f32(b.d);
    const float m = to_f32(b.m);
    for (int j = 0; j < 16; ++j) {
        y[j] = mul(static_cast<float>(b.qs[j] & 0x0f), d) + m;
        y[j + 16] = mul(static_cast<float>(b.qs[j] >> 4), d) + m;
    }
}

inline int q5_code(const std::uint8_t* qs, std::uint32_t word, int j) noexcept {
    const int nib = j < 16 ? (qs[j] & 0x0f) : (qs[j - 16] >> 4);
    return nib | static_cast<int>(((word >> j) & 1u) << 4);
}

inline void decode(const block_q5_0& b, float* y) noexcept {
    const float d = to_f32(b.d);
    const std::uint32_t word = load_high_bits(b.qh);
    for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(q5_code(b.qs, word, j) - 16) * d;
}

inline void decode(const block_q5_1& b, float* y) noexcept {
    const float d = to_f32(b.d);
    const float m = to_f32(b.m);
    const std::uint32_t word = load_high_bits(b.qh);
    for (int j = 0; j < 32; ++j) y[j] = mul(static_cast<float>(q5_code(b.qs, word, j)), d) + m;
}

inline void decode(const block_q8_0& b, float* y) noexcept {
    const float d = to_f32(b.d);
    for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(b.qs[j]) * d;
}

// ggml has no dequantizer for Q8_1 (it only feeds dot products); this one
// reads the block by its definition, x = d * q.
inline void decode(const block_q8_1& b, float* y) noexcept {
    const float d = to_f32(b.d);
    for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(b.qs[j]) * d;
}

// Dequantizers: the expression shapes below (which product is formed first,
// product then subtraction) are ggml's, so the floats agree to the bit.
inline void decode(const block_q2_K& b, float* y) noexcept {
    const float d = to_f32(b.d);
    const float dmin = to_f32(b.dmin);
    for (int j = 0; j < 16; ++j) {  // sub-block j: half j/8, byte offset 16*(j%2), shift 2*((j%8)/2)
        const float dl = d * static_cast<float>(b.scales[j] & 0x0f);
        const float ml = dmin * static_cast<float>(b.scales[j] >> 4);
        const std::uint8_t* q = b.qs + 32 * (j / 8) + 16 * (j % 2);
        const int shift = 2 * ((j % 8) / 2);
        for (int l = 0; l < 16; ++l) y[16 * j + l] = mul(dl, static_cast<float>((q[l] >> shift) & 3)) - ml;
    }
}

inline void decode(const block_q3_K& b, float* y) noexcept {
    const float d_all = to_f32(b.d);
    for (int j = 0; j < 16; ++j) {  // sub-block j covers values 16j .. 16j+15
        const float dl = d_all * static_cast<float>(unpack_scale_q3(j, b.scales));
        const std::uint8_t* q = b.qs + 32 * (j / 8) + 16 * (j % 2);
        const int shift = 2 * ((j % 8) / 2);
        for (int l = 0; l < 16; ++l) {
            const int v = 16 * j + l;
            const int low = (q[l] >> shift) & 3;
            const int high = (b.hmask[v % 32] >> (v / 32)) & 1;
            y[v] = dl * static_cast<float>(low - (high ? 0 : 4));
        }
    }
}

// Q4_K and Q5_K: eight affine sub-blocks of 32 on 6-bit scales and mins; Q5_K
// adds a fifth bit per value from qh (bit j of qh[l] for sub-block j).
template <bool FifthBit>
inline void decode_k4(std::uint16_t d16, std::uint16_t dmin16, const std::uint8_t* scales, const std::uint8_t* qs,
                      const std::uint8_t* qh, float* y) noexcept {
    const float d = to_f32(d16);
    const float dmin = to_f32(dmin16);
    for (int j = 0; j < 8; ++j) {
        std::uint8_t sc, mn;
        unpack_scale_k4(j, scales, &sc, &mn);
        const float dl = d * static_cast<float>(sc);
        const float ml = dmin * static_cast<float>(mn);
        const std::uint8_t* q = qs + 32 * (j / 2);
        const int shift = 4 * (j % 2);
        for (int l = 0; l < 32; ++l) {
            int code = (q[l] >> shift) & 0x0f;
            if (FifthBit) code += ((qh[l] >> j) & 1) << 4;
            y[32 * j + l] = mul(dl, static_cast<float>(code)) - ml;
        }
    }
}

inline void decode(const block_q4_K& b, float* y) noexcept { decode_k4<false>(b.d, b.dmin, b.scales, b.qs, nullptr, y); }
inline void decode(const block_q5_K& b, float* y) noexcept { decode_k4<true>(b.d, b.dmin, b.scales, b.qs, b.qh, y); }

inline void decode(const block_q6_K& b, float* y) noexcept {
    const float d = to_f32(b.d);
    for (int v = 0; v < qk_k; ++v) {
        const int h = v / 128;        // half
        const int r = v % 128;        // position inside the half
        const int quarter = r / 32;   // which of the four values sharing ql/qh bytes
        const int l = r % 32;
        const std::uint8_t lbyte = b.ql[64 * h + l + 32 * (quarter & 1)];
        const int low = (quarter < 2) ? (lbyte & 0x0f) : (lbyte >> 4);
        const int high = (b.qh[32 * h + l] >> (2 * quarter)) & 3;
        const int q = (low | (high << 4)) - 32;
        y[v] = d * static_cast<float>(b.scales[v / 16]) * static_cast<float>(q);
    }
}

inline void decode(const block_q8_K& b, float* y) noexcept {
    for (int j = 0; j < qk_k; ++j) y[j] = b.d * static_cast<float>(b.qs[j]);
}

}  // namespace detail
}  // namespace gguf
}  // namespace lowbit

#include "fp_contract_off_end.inl"
