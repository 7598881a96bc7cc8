// lowbit/formats/gguf_iquants.hpp — IQ4_NL and IQ4_XS, byte-exact with ggml.
//
// Both store 4-bit indices into one fixed non-uniform table of 16 levels
// (iq4nl_levels), times a scale: IQ4_NL one f16 scale per 32 values, IQ4_XS a
// 6-bit scale per 32 values under one f16 per 256. The encoders follow ggml's
// search step for step (docs/formats.md, "IQ4_NL and IQ4_XS"), because the
// bytes are defined by it: a scale from the largest value, a sweep of nearby
// scales keeping the best weighted least-squares fit, then (IQ4_XS) the
// sub-block scales rounded to 6 bits and every value re-coded.
//
// Arithmetic is guarded against FP contraction as in gguf_blocks.hpp (every
// product feeding a sum goes through detail::mul; contraction off by pragma).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "detail/gguf_arith.hpp"
#include "gguf_block_rows.hpp"
#include "gguf_block_structs.hpp"

namespace lowbit {
namespace gguf {

// The 16 levels of IQ4_NL/IQ4_XS (a format constant: ggml's kvalues_iq4nl),
// ascending; code i means iq4nl_levels[i] * scale.
constexpr std::int8_t iq4nl_levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

struct block_iq4_nl {  // x = d * levels[q], 32 values
    static constexpr int values = 32;
    static constexpr gguf_type type_id = gguf_type::iq4_nl;
    std::uint16_t d;
    std::uint8_t qs[16];  // byte j: value j in the low nibble, value j+16 in the high one
};
struct block_iq4_xs {  // x = d * (s_i - 32) * levels[q], 8 sub-blocks of 32
    static constexpr int values = qk_k;
    static constexpr gguf_type type_id = gguf_type::iq4_xs;
    std::uint16_t d;
    std::uint16_t scales_h;   // bits 2i, 2i+1: high two bits of sub-block i's 6-bit scale
    std::uint8_t scales_l[4];  // low four bits: sub-block 2j in the low nibble, 2j+1 in the high
    std::uint8_t qs[qk_k / 2];  // per sub-block 16 bytes, nibbles as in IQ4_NL
};
static_assert(sizeof(block_iq4_nl) == 18, "IQ4_NL block is 18 bytes");
static_assert(sizeof(block_iq4_xs) == 136, "IQ4_XS block is 136 bytes");
static_assert(detail::agrees_with_type_table<block_iq4_nl>() && detail::agrees_with_type_table<block_iq4_xs>(),
              "IQ4 block structs and gguf_types.hpp disagree");

}  // namespace gguf
}  // namespace lowbit

#include "detail/fp_contract_off_begin.inl"

namespace lowbit {
namespace gguf {
namespace detail {

// Index of the level nearest to v; a value exactly half-way between two
// levels takes the upper one, and values beyond the ends take the end codes
// (ggml's best_index_int8, whose tie rule the bytes depend on).
// v is usually a product (id * x): opaque() keeps it from being fused into
// the subtractions below.
inline int nearest_iq4_level(float v) noexcept {
    v = opaque(v);
    if (v <= static_cast<float>(iq4nl_levels[0])) return 0;
    if (v >= static_cast<float>(iq4nl_levels[15])) return 15;
    int hi = 1;  // first level above v
    while (!(v < static_cast<float>(iq4nl_levels[hi]))) ++hi;
    const float below = v - static_cast<float>(iq4nl_levels[hi - 1]);
    const float above = static_cast<float>(iq4nl_levels[hi]) - v;
    return below < above ? hi - 1 : hi;
}

// Σx² · 2/n over a super-block: the variance term of the imatrix weights.
inline float iq4_sigma2(const float* x, int n) noexcept {
    float s = 0.0f;
    for (int j = 0; j < n; ++j) s += mul(x[j], x[j]);
    return s * (2.0f / static_cast<float>(n));
}

// Per-value weights of one 32-value group: qw·sqrt(sigma2 + x²) with an
// importance row, x² without.
inline void iq4_weights(const float* x, const float* qw, float sigma2, float* w) noexcept {
    for (int j = 0; j < 32; ++j) w[j] = qw ? mul(qw[j], std::sqrt(sigma2 + mul(x[j], x[j]))) : x[j] * x[j];
}

// Σ w·l·x and Σ w·l² for the codes of x at inverse scale id (codes to L if given).
inline void iq4_sums(const float* x, const float* w, float id, std::uint8_t* L, float& sumqx, float& sumq2) noexcept {
    sumqx = 0.0f;
    sumq2 = 0.0f;
    for (int j = 0; j < 32; ++j) {
        const int l = nearest_iq4_level(id * x[j]);
        if (L) L[j] = static_cast<std::uint8_t>(l);
        const float q = static_cast<float>(iq4nl_levels[l]);
        const float wq = w[j] * q;
        sumqx += mul(wq, x[j]);
        sumq2 += mul(wq, q);
    }
}

// Scale of one group of 32 (ggml's quantize_row_iq4_nl_impl, per block).
// Returns false, leaving L alone, for a group whose largest magnitude is below
// group_max_eps (scale 0). With ntry > 0 the search starts from d = max/127
// and then tries the 2·ntry+1 inverse scales (t - 127)/max, t = -ntry … ntry;
// with ntry <= 0 it starts from d = max/-127 (max on level -127) and does not
// sweep. L receives the codes of the starting scale only: callers re-code.
inline bool fit_iq4_group(const float* x, const float* w, int ntry, std::uint8_t* L, float& scale) noexcept {
    float amax = 0.0f;
    float max = 0.0f;
    for (int j = 0; j < 32; ++j) {
        const float ax = std::fabs(x[j]);
        if (ax > amax) {
            amax = ax;
            max = x[j];
        }
    }
    if (amax < group_max_eps) {
        scale = 0.0f;
        return false;
    }
    const float first = static_cast<float>(iq4nl_levels[0]);
    float d = ntry > 0 ? -max / first : max / first;
    float sumqx, sumq2;
    iq4_sums(x, w, 1.0f / d, L, sumqx, sumq2);
    d = sumq2 > 0.0f ? sumqx / sumq2 : 0.0f;
    float best = d * sumqx;
    for (int itry = -ntry; itry <= ntry; ++itry) {
        const float id = static_cast<float>(itry + iq4nl_levels[0]) / max;
        iq4_sums(x, w, id, nullptr, sumqx, sumq2);
        if (sumq2 > 0.0f && sumqx * sumqx > best * sumq2) {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    scale = d;
    return true;
}

inline void pack_iq4_nibbles(const std::uint8_t* L, std::uint8_t* qs) noexcept {
    for (int j = 0; j < 16; ++j) qs[j] = static_cast<std::uint8_t>(L[j] | (L[j + 16] << 4));
}

// One IQ4_NL block. L is the caller's code buffer: with ntry <= 0 (the
// reference quantizer) ggml re-uses the previous block's codes for an all-zero
// block (its buffer is never written for it), and so do we, within one call.
inline void encode_iq4_nl(const float* x, const float* qw, int ntry, std::uint8_t* L, block_iq4_nl& y) noexcept {
    float w[32];
    iq4_weights(x, qw, iq4_sigma2(x, 32), w);
    float scale;
    fit_iq4_group(x, w, ntry, L, scale);
    y.d = to_f16(scale);
    if (ntry > 0) {
        const float id = scale != 0.0f ? 1.0f / scale : 0.0f;
        for (int j = 0; j < 32; ++j) L[j] = static_cast<std::uint8_t>(nearest_iq4_level(id * x[j]));
    }
    pack_iq4_nibbles(L, y.qs);
}

// Sub-block ib's 6-bit scale code s (0..63: the scale is s - 32): four bits
// in scales_l's nibble ib, two in scales_h's bits 2ib, 2ib + 1.
inline int iq4_xs_scale(const block_iq4_xs& b, int ib) noexcept {
    return ((b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xf) | (((b.scales_h >> (2 * ib)) & 3) << 4);
}
inline void set_iq4_xs_scale(block_iq4_xs& b, int ib, int s) noexcept {
    const int sh = 4 * (ib % 2);
    b.scales_l[ib / 2] = static_cast<std::uint8_t>((b.scales_l[ib / 2] & ~(0xf << sh)) | ((s & 0xf) << sh));
    b.scales_h = static_cast<std::uint16_t>((b.scales_h & ~(3u << (2 * ib))) | (static_cast<unsigned>(s >> 4) << (2 * ib)));
}

// IQ4_XS's scales (ggml always runs its search with ntry = 7): each sub-block's
// own fitted scale, then d = -max / 32 into y.d and sub-block ib's 6-bit code
// l[ib] + 32, l[ib] = round(scale / d) in [-32, 31], into y.scales_l /
// scales_h: the largest scale lands on -32 (an all-zero block gives d = -0,
// stored as f16 0x8000). Returns d; the codes are the caller's (against d * l[ib]).
inline float fit_iq4_xs_scales(const float* x, const float* qw, block_iq4_xs& y, int* l) noexcept {
    const float sigma2 = iq4_sigma2(x, qk_k);
    float scales[8];
    std::uint8_t L[32];  // the search's codes, not kept
    float max_scale = 0.0f, amax_scale = 0.0f;
    for (int ib = 0; ib < 8; ++ib) {
        float w[32];
        iq4_weights(x + 32 * ib, qw ? qw + 32 * ib : nullptr, sigma2, w);
        if (!fit_iq4_group(x + 32 * ib, w, 7, L, scales[ib])) continue;
        if (std::fabs(scales[ib]) > amax_scale) {
            amax_scale = std::fabs(scales[ib]);
            max_scale = scales[ib];
        }
    }
    const float d = -max_scale / 32.0f;
    y.d = to_f16(d);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    std::memset(y.scales_l, 0, sizeof y.scales_l);
    y.scales_h = 0;
    for (int ib = 0; ib < 8; ++ib) {
        l[ib] = clamp_int(nearest_int(id * scales[ib]), -32, 31);
        set_iq4_xs_scale(y, ib, l[ib] + 32);
    }
    return d;
}

// One IQ4_XS super-block: its scales, then each value the nearest level of d * l.
inline void encode_iq4_xs(const float* x, const float* qw, block_iq4_xs& y) noexcept {
    int l[8];
    const float d = fit_iq4_xs_scales(x, qw, y, l);
    std::uint8_t L[qk_k];
    for (int ib = 0; ib < 8; ++ib) {
        const float dl = d * static_cast<float>(l[ib]);
        const float idl = dl != 0.0f ? 1.0f / dl : 0.0f;
        for (int j = 0; j < 32; ++j) L[32 * ib + j] = static_cast<std::uint8_t>(nearest_iq4_level(idl * x[32 * ib + j]));
    }
    for (int ib = 0; ib < 8; ++ib) pack_iq4_nibbles(L + 32 * ib, y.qs + 16 * ib);
}

inline void decode_iq4_nl(const block_iq4_nl& b, float* y) noexcept {
    const float d = to_f32(b.d);
    for (int j = 0; j < 16; ++j) {
        y[j] = d * static_cast<float>(iq4nl_levels[b.qs[j] & 0xf]);
        y[j + 16] = d * static_cast<float>(iq4nl_levels[b.qs[j] >> 4]);
    }
}


inline void decode_iq4_xs(const block_iq4_xs& b, float* y) noexcept {
    const float d = to_f32(b.d);
    for (int ib = 0; ib < 8; ++ib) {
        const float dl = d * static_cast<float>(iq4_xs_scale(b, ib) - 32);
        const std::uint8_t* qs = b.qs + 16 * ib;
        for (int j = 0; j < 16; ++j) {
            y[32 * ib + j] = dl * static_cast<float>(iq4nl_levels[qs[j] & 0xf]);
            y[32 * ib + j + 16] = dl * static_cast<float>(iq4nl_levels[qs[j] >> 4]);
        }
    }
}

// Rows: ntry -1 is ggml's reference quantizer for IQ4_NL, 7 its quantize_iq4_nl.
inline void encode_iq4_nl_row(const float* x, const float* qw, std::int64_t n, int ntry, block_iq4_nl* y) noexcept {
    std::uint8_t L[32] = {};  // codes carried between blocks (see encode_iq4_nl)
    for (std::int64_t i = 0; i < n / 32; ++i) encode_iq4_nl(x + 32 * i, qw ? qw + 32 * i : nullptr, ntry, L, y[i]);
}

}  // namespace detail

// ---- public API (same contract as gguf_blocks.hpp's: a status, nothing written on error) ----
// quantize_row_iq4_nl: ggml's quantize_row_iq4_nl_ref (no sweep). quantize_iq4_nl:
// ggml's quantize_iq4_nl, with or without importance weights (what llama-quantize
// writes; it differs from the reference quantizer). IQ4_XS has one quantizer.

inline status quantize_row_iq4_nl(const float* x, block_iq4_nl* y, std::int64_t k) noexcept {
    return detail::encode_block_rows("gguf::quantize_row_iq4_nl", "k", x, y, 1, k, nullptr,
                                     [](const float* r, const float*, std::int64_t n, block_iq4_nl* out) {
                                         detail::encode_iq4_nl_row(r, nullptr, n, -1, out);
                                     });
}
inline status quantize_iq4_nl(const float* src, block_iq4_nl* dst, std::int64_t nrow, std::int64_t n_per_row,
                              const float* quant_weights) noexcept {
    return detail::encode_block_rows("gguf::quantize_iq4_nl", "n_per_row", src, dst, nrow, n_per_row, quant_weights,
                                     [](const float* r, const float* qw, std::int64_t n, block_iq4_nl* out) {
                                         detail::encode_iq4_nl_row(r, qw, n, 7, out);
                                     });
}
inline status dequantize_row_iq4_nl(const block_iq4_nl* x, float* y, std::int64_t k) noexcept {
    return detail::decode_block_rows("gguf::dequantize_row_iq4_nl", x, y, k,
                                     [](const block_iq4_nl& b, float* out) { detail::decode_iq4_nl(b, out); });
}

LOWBIT_GGUF_BLOCKWISE_QUANTIZERS(iq4_xs)
inline status dequantize_row_iq4_xs(const block_iq4_xs* x, float* y, std::int64_t k) noexcept {
    return detail::decode_block_rows("gguf::dequantize_row_iq4_xs", x, y, k,
                                     [](const block_iq4_xs& b, float* out) { detail::decode_iq4_xs(b, out); });
}

}  // namespace gguf
}  // namespace lowbit

#include "detail/fp_contract_off_end.inl"

