// lowbit/formats/gguf_iq_lattice.hpp — the lattice i-quants IQ2_XXS, IQ2_XS,
// IQ2_S, IQ3_XXS, IQ3_S, IQ1_S and IQ1_M: block layouts and decoding,
// bit-exact with ggml's dequantize_row_*.
//
// Each group of 8 (IQ2, IQ1) or 4 (IQ3) values is one point of a fixed grid
// (gguf_iq_grids.hpp) stored as its index, times a scale; IQ2/IQ3 add a sign
// byte per 8 values, IQ1 a shift of ±1/8 per group. docs/formats.md,
// "Lattice i-quants", gives each layout bit by bit. Encoding is not here yet:
// the encoders are refused by the row API (has_row_encoder).
//
// Products are written in ggml's order ((scale · level) · sign), and the body
// sits in the FP-contraction-off region like the other codecs, so the floats
// are ggml's to the bit.
#pragma once

#include <cstdint>
#include <cstring>

#include "detail/gguf_arith.hpp"
#include "gguf_block_rows.hpp"
#include "gguf_block_structs.hpp"

#include "gguf_iq_grids.hpp"

namespace lowbit {
namespace gguf {

struct block_iq2_xxs {  // 2.0625 bpw
    static constexpr int values = qk_k;
    static constexpr gguf_type type_id = gguf_type::iq2_xxs;
    std::uint16_t d;
    // Per 32 values two little-endian u32: the first holds four 8-bit grid
    // indices, the second four 7-bit sign fields (bits 0..27) and a 4-bit scale (28..31).
    std::uint16_t qs[qk_k / 8];
};
struct block_iq2_xs {  // 2.3125 bpw
    static constexpr int values = qk_k;
    static constexpr gguf_type type_id = gguf_type::iq2_xs;
    std::uint16_t d;
    std::uint16_t qs[qk_k / 8];   // per 8 values: 9-bit grid index | 7 sign bits << 9
    std::uint8_t scales[qk_k / 32];  // per 32 values: 4-bit scale of values 0..15 (low), 16..31 (high)
};
struct block_iq2_s {  // 2.5625 bpw
    static constexpr int values = qk_k;
    static constexpr gguf_type type_id = gguf_type::iq2_s;
    std::uint16_t d;
    std::uint8_t qs[qk_k / 4];  // 32 low bytes of the 10-bit grid indices, then 32 sign bytes
    std::uint8_t qh[qk_k / 32];  // per 32 values: bits 2l, 2l+1 are index l's bits 8, 9
    std::uint8_t scales[qk_k / 32];
};
struct block_iq3_xxs {  // 3.0625 bpw
    static constexpr int values = qk_k;
    static constexpr gguf_type type_id = gguf_type::iq3_xxs;
    std::uint16_t d;
    // 64 grid indices (one per 4 values), then per 32 values a little-endian
    // u32 of four 7-bit sign fields and a 4-bit scale (bits 28..31).
    std::uint8_t qs[3 * qk_k / 8];
};
struct block_iq3_s {  // 3.4375 bpw
    static constexpr int values = qk_k;
    static constexpr gguf_type type_id = gguf_type::iq3_s;
    std::uint16_t d;
    std::uint8_t qs[qk_k / 4];      // low bytes of the 9-bit grid indices
    std::uint8_t qh[qk_k / 32];     // per 32 values: bit k is index k's bit 8
    std::uint8_t signs[qk_k / 8];   // one full sign byte per 8 values
    std::uint8_t scales[qk_k / 64];  // per 64 values: 4-bit scales of two halves of 32
};
struct block_iq1_s {  // 1.5625 bpw
    static constexpr int values = qk_k;
    static constexpr gguf_type type_id = gguf_type::iq1_s;
    std::uint16_t d;
    std::uint8_t qs[qk_k / 8];   // low bytes of the 11-bit grid indices
    // Per 32 values: bits 3l..3l+2 are index l's high bits, 12..14 the 3-bit
    // scale, 15 the sign of the shift.
    std::uint16_t qh[qk_k / 32];
};
struct block_iq1_m {  // 1.75 bpw
    static constexpr int values = qk_k;
    static constexpr gguf_type type_id = gguf_type::iq1_m;
    std::uint8_t qs[qk_k / 8];   // low bytes of the 11-bit grid indices
    std::uint8_t qh[qk_k / 16];  // per 16 values: high bits of two indices (bits 0..2, 4..6), shift signs (3, 7)
    // Four little-endian u16: 3-bit scales per 16 values in bits 0..11, and
    // the block's f16 scale spread over the four top nibbles (12..15).
    std::uint8_t scales[qk_k / 32];
};
static_assert(sizeof(block_iq2_xxs) == 66 && sizeof(block_iq2_xs) == 74 && sizeof(block_iq2_s) == 82,
              "IQ2 block sizes");
static_assert(sizeof(block_iq3_xxs) == 98 && sizeof(block_iq3_s) == 110, "IQ3 block sizes");
static_assert(sizeof(block_iq1_s) == 50 && sizeof(block_iq1_m) == 56, "IQ1 block sizes");
static_assert(detail::agrees_with_type_table<block_iq2_xxs>() && detail::agrees_with_type_table<block_iq2_xs>() &&
                  detail::agrees_with_type_table<block_iq2_s>() && detail::agrees_with_type_table<block_iq3_xxs>() &&
                  detail::agrees_with_type_table<block_iq3_s>() && detail::agrees_with_type_table<block_iq1_s>() &&
                  detail::agrees_with_type_table<block_iq1_m>(),
              "lattice i-quant block structs and gguf_types.hpp disagree");

// The shift IQ1_S and IQ1_M add to every grid coordinate (ggml's IQ1S_DELTA), ±.
constexpr float iq1_delta = 0.125f;

}  // namespace gguf
}  // namespace lowbit

#include "detail/fp_contract_off_begin.inl"

namespace lowbit {
namespace gguf {
namespace detail {

inline std::uint32_t load_u32le(const std::uint8_t* p) noexcept {
    return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
           static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}
inline std::uint16_t load_u16le(const std::uint8_t* p) noexcept {
    return static_cast<std::uint16_t>(p[0] | p[1] << 8);
}

// 8 values of an IQ2 point: scale · level · (−1 where the sign byte says so).
inline void put_iq2_point(std::uint16_t point, std::uint8_t signs, float scale, float* y) noexcept {
    for (int j = 0; j < 8; ++j) {
        const float level = static_cast<float>(iq_grids::iq2_levels[iq_grids::level2(point, j)]);
        y[j] = scale * level * ((signs >> j) & 1 ? -1.0f : 1.0f);
    }
}
// 4 values of an IQ3 point; `signs` are the four sign bits of these values.
inline void put_iq3_point(std::uint16_t point, const std::uint8_t* levels, unsigned signs, float scale, float* y) noexcept {
    for (int j = 0; j < 4; ++j) {
        const float level = static_cast<float>(levels[iq_grids::level3(point, j)]);
        y[j] = scale * level * ((signs >> j) & 1 ? -1.0f : 1.0f);
    }
}
// 8 values of an IQ1 point: scale · (level + shift).
inline void put_iq1_point(std::uint16_t point, float shift, float scale, float* y) noexcept {
    for (int j = 0; j < 8; ++j) {
        const float level = static_cast<float>(iq_grids::iq1_levels[iq_grids::level2(point, j)]);
        y[j] = scale * (level + shift);
    }
}

// The 4-bit sub-block scale s of IQ2 means d · (s + 1/2) / 4; IQ3_XXS's d · (s + 1/2) / 2.
inline float iq2_sub_scale(float d, unsigned s) noexcept { return d * (0.5f + static_cast<float>(s)) * 0.25f; }

inline void decode_iq2_xxs(const block_iq2_xxs& b, float* y) noexcept {
    const float d = to_f32(b.d);
    const auto* q = reinterpret_cast<const std::uint8_t*>(b.qs);
    for (int ib = 0; ib < 8; ++ib, q += 8) {
        const std::uint32_t meta = load_u32le(q + 4);
        const float db = iq2_sub_scale(d, meta >> 28);
        for (int l = 0; l < 4; ++l, y += 8)
            put_iq2_point(iq_grids::iq2xxs_index[q[l]], iq_grids::iq_sign_byte(meta >> (7 * l)), db, y);
    }
}

inline void decode_iq2_xs(const block_iq2_xs& b, float* y) noexcept {
    const float d = to_f32(b.d);
    const auto* q = reinterpret_cast<const std::uint8_t*>(b.qs);
    for (int ib = 0; ib < 8; ++ib) {
        const float db[2] = {iq2_sub_scale(d, b.scales[ib] & 0xfu), iq2_sub_scale(d, b.scales[ib] >> 4)};
        for (int l = 0; l < 4; ++l, y += 8) {
            const std::uint16_t v = load_u16le(q + 2 * (4 * ib + l));
            put_iq2_point(iq_grids::iq2xs_index[v & 511], iq_grids::iq_sign_byte(v >> 9), db[l / 2], y);
        }
    }
}

inline void decode_iq2_s(const block_iq2_s& b, float* y) noexcept {
    const float d = to_f32(b.d);
    const std::uint8_t* signs = b.qs + qk_k / 8;
    for (int ib = 0; ib < 8; ++ib) {
        const float db[2] = {iq2_sub_scale(d, b.scales[ib] & 0xfu), iq2_sub_scale(d, b.scales[ib] >> 4)};
        for (int l = 0; l < 4; ++l, y += 8) {
            const unsigned index = b.qs[4 * ib + l] | ((b.qh[ib] >> (2 * l)) & 3u) << 8;
            put_iq2_point(iq_grids::iq2s_index[index], signs[4 * ib + l], db[l / 2], y);
        }
    }
}

inline void decode_iq3_xxs(const block_iq3_xxs& b, float* y) noexcept {
    const float d = to_f32(b.d);
    const std::uint8_t* meta_bytes = b.qs + qk_k / 4;
    for (int ib = 0; ib < 8; ++ib) {
        const std::uint32_t meta = load_u32le(meta_bytes + 4 * ib);
        const float db = d * (0.5f + static_cast<float>(meta >> 28)) * 0.5f;
        const std::uint8_t* q = b.qs + 8 * ib;
        for (int l = 0; l < 4; ++l, y += 8) {
            const std::uint8_t signs = iq_grids::iq_sign_byte(meta >> (7 * l));
            put_iq3_point(iq_grids::iq3xxs_index[q[2 * l]], iq_grids::iq3xxs_levels, signs & 0xfu, db, y);
            put_iq3_point(iq_grids::iq3xxs_index[q[2 * l + 1]], iq_grids::iq3xxs_levels, signs >> 4, db, y + 4);
        }
    }
}

inline void decode_iq3_s(const block_iq3_s& b, float* y) noexcept {
    const float d = to_f32(b.d);
    for (int ib = 0; ib < 8; ++ib) {
        const unsigned s = (b.scales[ib / 2] >> (4 * (ib % 2))) & 0xfu;
        const float db = d * static_cast<float>(1 + 2 * static_cast<int>(s));
        const std::uint8_t* q = b.qs + 8 * ib;
        for (int l = 0; l < 4; ++l, y += 8) {
            const std::uint8_t signs = b.signs[4 * ib + l];
            for (int h = 0; h < 2; ++h) {
                const unsigned index = q[2 * l + h] | ((b.qh[ib] >> (2 * l + h)) & 1u) << 8;
                put_iq3_point(iq_grids::iq3s_index[index], iq_grids::iq3s_levels, (signs >> (4 * h)) & 0xfu, db,
                              y + 4 * h);
            }
        }
    }
}

inline void decode_iq1_s(const block_iq1_s& b, float* y) noexcept {
    const float d = to_f32(b.d);
    for (int ib = 0; ib < 8; ++ib) {
        const unsigned qh = b.qh[ib];
        const float dl = d * static_cast<float>(2 * static_cast<int>((qh >> 12) & 7) + 1);
        const float shift = qh & 0x8000 ? -iq1_delta : iq1_delta;
        for (int l = 0; l < 4; ++l, y += 8) {
            const unsigned index = b.qs[4 * ib + l] | ((qh >> (3 * l)) & 7u) << 8;
            put_iq1_point(iq_grids::iq1s_index[index], shift, dl, y);
        }
    }
}

// IQ1_M's f16 block scale: the top nibble of each of its four scale words.
inline std::uint16_t iq1_m_block_scale(const block_iq1_m& b) noexcept {
    std::uint16_t h = 0;
    for (int i = 0; i < 4; ++i) h = static_cast<std::uint16_t>(h | (load_u16le(b.scales + 2 * i) >> 12) << (4 * i));
    return h;
}

inline void decode_iq1_m(const block_iq1_m& b, float* y) noexcept {
    const float d = to_f32(iq1_m_block_scale(b));
    for (int ib = 0; ib < 8; ++ib) {
        const unsigned sc = load_u16le(b.scales + 2 * (ib / 2));
        for (int half = 0; half < 2; ++half) {  // 16 values: two points under one 3-bit scale
            const unsigned s = (sc >> (6 * (ib % 2) + 3 * half)) & 7u;
            const float dl = d * static_cast<float>(2 * static_cast<int>(s) + 1);
            const unsigned qh = b.qh[2 * ib + half];
            for (int l = 0; l < 2; ++l, y += 8) {
                const unsigned index = b.qs[4 * ib + 2 * half + l] | ((qh >> (4 * l)) & 7u) << 8;
                const float shift = (qh >> (4 * l + 3)) & 1 ? -iq1_delta : iq1_delta;
                put_iq1_point(iq_grids::iq1s_index[index], shift, dl, y);
            }
        }
    }
}

}  // namespace detail

// ---- public API (same contract as gguf_blocks.hpp's: a status, nothing written on error) ----

#define LOWBIT_GGUF_IQ_DECODER(name)                                                                        \
    inline status dequantize_row_##name(const block_##name* x, float* y, std::int64_t k) noexcept {        \
        return detail::decode_block_rows("gguf::dequantize_row_" #name, x, y, k,                           \
                                         [](const block_##name& b, float* out) { detail::decode_##name(b, out); }); \
    }
LOWBIT_GGUF_IQ_DECODER(iq2_xxs)
LOWBIT_GGUF_IQ_DECODER(iq2_xs)
LOWBIT_GGUF_IQ_DECODER(iq2_s)
LOWBIT_GGUF_IQ_DECODER(iq3_xxs)
LOWBIT_GGUF_IQ_DECODER(iq3_s)
LOWBIT_GGUF_IQ_DECODER(iq1_s)
LOWBIT_GGUF_IQ_DECODER(iq1_m)
#undef LOWBIT_GGUF_IQ_DECODER

}  // namespace gguf
}  // namespace lowbit

#include "detail/fp_contract_off_end.inl"

