// lowbit/formats/gguf_iq3_encode.hpp — IQ3_XXS and IQ3_S encoders, byte-exact
// with ggml's quantize_row_iq3_xxs_impl / quantize_row_iq3_s_impl.
//
// The bytes are defined by ggml's search, so this follows it step for step
// (docs/formats.md, "Lattice i-quants", encoding): per 32 values, signs are
// split off (IQ3_XXS forces an even count of negatives by flipping the
// cheapest value), a sweep of inverse scales rounds |x| to levels, codes that
// are not grid points take their best candidate (gguf_iq_neighbours.hpp), and
// the scale with the best weighted least-squares fit wins; then sub-block
// scales are coded against the block's largest one.
//
// Arithmetic as in the other codecs: every product that feeds a sum goes
// through detail::mul, and the body sits in the contraction-off region.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "detail/gguf_search.hpp"
#include "gguf_iq_lattice.hpp"

#include "gguf_iq_neighbours.hpp"  // (and <vector>) outside the pragma region

#include "detail/fp_contract_off_begin.inl"

#include "detail/gguf_iq_search.hpp"

namespace lowbit {
namespace gguf {
namespace detail {

// Groups of 32 values with magnitude below this are coded as zero (IQ3_XXS;
// ggml's GROUP_MAX_EPS_IQ3_XXS). IQ3_S tests for exact zero instead.
constexpr float iq3xxs_group_eps = 1e-8f;

// Weights of one group of 32 and their square roots (the candidate search's
// weights): x² without an importance row, qw·sqrt(σ² + x²) with one.
inline void iq3_weights(const float* x, const float* qw, float sigma2, float* w, float* w_sqrt) noexcept {
    for (int i = 0; i < 32; ++i) w[i] = qw ? qw[i] * std::sqrt(sigma2 + mul(x[i], x[i])) : x[i] * x[i];
    for (int i = 0; i < 32; ++i) w_sqrt[i] = std::sqrt(w[i]);
}

inline float iq3_sigma2(const float* x) noexcept { return 2.0f * superblock_sum_squares(x) / static_cast<float>(qk_k); }

inline iq_lattice iq3xxs_lattice() { return {iq3xxs_neighbours(), iq_grids::iq3xxs_index, 4, 3, 7}; }
inline iq_lattice iq3s_lattice() { return {iq3s_neighbours(), iq_grids::iq3s_index, 4, 3, 7}; }

inline void encode_iq3_xxs(const float* x, const float* qw, block_iq3_xxs& y) noexcept {
    const iq_lattice g = iq3xxs_lattice();
    const iq_search_params params{15, 0.2f, true, iq_recode::off_grid};
    std::uint8_t q3[3 * qk_k / 8] = {};
    std::uint32_t meta[8] = {};
    float scales[8];
    float max_scale = 0.0f;
    const float sigma2 = iq3_sigma2(x);
    for (int ib = 0; ib < 8; ++ib) {
        const float* xb = x + 32 * ib;
        float w[32], w_sqrt[32];
        iq3_weights(xb, qw ? qw + 32 * ib : nullptr, sigma2, w, w_sqrt);
        std::uint8_t signs[4];
        std::int8_t L[32] = {};
        float scale = 0.0f;
        if (!iq_search_group(g, params, 32, xb, w, w_sqrt, true, iq3xxs_group_eps, 15.0f, L, signs, scale)) {
            scales[ib] = 0.0f;
            continue;
        }
        for (int k = 0; k < 8; ++k) q3[8 * ib + k] = static_cast<std::uint8_t>(g.map.point(g.code(L + 4 * k)));
        meta[ib] = signs[0] | static_cast<std::uint32_t>(signs[1]) << 7 | static_cast<std::uint32_t>(signs[2]) << 14 |
                   static_cast<std::uint32_t>(signs[3]) << 21;
        scales[ib] = scale;
        max_scale = max_scale > scale ? max_scale : scale;
    }
    std::memset(&y, 0, sizeof y);
    float id;
    if (!iq_block_scale(max_scale, 1.0125f, y.d, id)) return;  // d = 0 and every byte 0
    std::uint8_t* meta_bytes = q3 + qk_k / 4;
    for (int ib = 0; ib < 8; ++ib) {
        const std::uint32_t m = meta[ib] | static_cast<std::uint32_t>(iq_scale_code(id, scales[ib])) << 28;
        for (int b = 0; b < 4; ++b) meta_bytes[4 * ib + b] = static_cast<std::uint8_t>(m >> (8 * b));
    }
    std::memcpy(y.qs, q3, sizeof y.qs);
}

inline void encode_iq3_s(const float* x, const float* qw, block_iq3_s& y) noexcept {
    const iq_lattice g = iq3s_lattice();
    const iq_search_params params{9, 0.2f, false, iq_recode::all_if_any};
    std::memset(&y, 0, sizeof y);
    float scales[8];
    float max_scale = 0.0f;
    const float sigma2 = iq3_sigma2(x);
    // ggml advances its index and sign cursors only past sub-blocks it codes:
    // after an all-zero sub-block the following ones land 8 index bytes and 4
    // sign bytes early (the high index bits in qh stay in place). Kept, for the bytes.
    std::uint8_t* qs = y.qs;
    std::uint8_t* signs_out = y.signs;
    for (int ib = 0; ib < 8; ++ib) {
        const float* xb = x + 32 * ib;
        float w[32], w_sqrt[32];
        iq3_weights(xb, qw ? qw + 32 * ib : nullptr, sigma2, w, w_sqrt);
        std::uint8_t signs[4];
        std::int8_t L[32] = {};
        float scale = 0.0f;
        if (!iq_search_group(g, params, 32, xb, w, w_sqrt, false, 0.0f, 15.0f, L, signs, scale)) {
            scales[ib] = 0.0f;
            continue;
        }
        for (int k = 0; k < 8; ++k) {
            const int p = g.map.point(g.code(L + 4 * k));
            qs[k] = static_cast<std::uint8_t>(p & 255);
            y.qh[ib] = static_cast<std::uint8_t>(y.qh[ib] | (p >> 8) << k);
        }
        qs += 8;
        std::memcpy(signs_out, signs, 4);
        signs_out += 4;
        scales[ib] = scale;
        max_scale = max_scale > scale ? max_scale : scale;
    }
    float id;
    if (!iq_block_scale(max_scale, 1.033f, y.d, id)) return;
    iq_pack_scale_nibbles(id, scales, 8, y.scales);
}

}  // namespace detail

// ---- public API (same contract as gguf_blocks.hpp's: a status, nothing written on error) ----
// quantize_row_<t> is ggml's quantize_row_<t>_ref (no weights); quantize_<t>
// is ggml's quantize_<t>, with or without importance weights (without, the
// two give the same bytes).

inline status quantize_row_iq3_xxs(const float* x, block_iq3_xxs* y, std::int64_t k) noexcept {
    return detail::encode_block_rows("gguf::quantize_row_iq3_xxs", "k", x, y, 1, k, nullptr,
                                     detail::encode_row_blocks<block_iq3_xxs, detail::encode_iq3_xxs>);
}
inline status quantize_iq3_xxs(const float* src, block_iq3_xxs* dst, std::int64_t nrow, std::int64_t n_per_row,
                               const float* quant_weights) noexcept {
    return detail::encode_block_rows("gguf::quantize_iq3_xxs", "n_per_row", src, dst, nrow, n_per_row, quant_weights,
                                     detail::encode_row_blocks<block_iq3_xxs, detail::encode_iq3_xxs>);
}
inline status quantize_row_iq3_s(const float* x, block_iq3_s* y, std::int64_t k) noexcept {
    return detail::encode_block_rows("gguf::quantize_row_iq3_s", "k", x, y, 1, k, nullptr,
                                     detail::encode_row_blocks<block_iq3_s, detail::encode_iq3_s>);
}
inline status quantize_iq3_s(const float* src, block_iq3_s* dst, std::int64_t nrow, std::int64_t n_per_row,
                             const float* quant_weights) noexcept {
    return detail::encode_block_rows("gguf::quantize_iq3_s", "n_per_row", src, dst, nrow, n_per_row, quant_weights,
                                     detail::encode_row_blocks<block_iq3_s, detail::encode_iq3_s>);
}

}  // namespace gguf
}  // namespace lowbit

#include "detail/fp_contract_off_end.inl"

