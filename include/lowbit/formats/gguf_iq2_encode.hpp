// lowbit/formats/gguf_iq2_encode.hpp — IQ2_XXS, IQ2_XS and IQ2_S encoders,
// byte-exact with ggml's quantize_row_iq2_xxs_impl / iq2_xs_impl / iq2_s_impl.
//
// Same search as IQ3 (detail/gguf_iq_search.hpp) on the 8-wide IQ2 grids, with each
// type's parameters (docs/formats.md, "Encoding IQ2_XXS, IQ2_XS and IQ2_S").
// ggml quantizes IQ2_XXS and IQ2_XS only with an importance matrix (it
// asserts); lowbit refuses them without one (errc::invalid_argument).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "detail/gguf_search.hpp"
#include "gguf_block_rows.hpp"
#include "gguf_iq_lattice.hpp"

#include "gguf_iq_neighbours.hpp"  // (and <vector>) outside the pragma region

#include "detail/fp_contract_off_begin.inl"

#include "detail/gguf_iq_search.hpp"

namespace lowbit {
namespace gguf {
namespace detail {

constexpr float iq2s_group_eps = 1e-8f;  // ggml's GROUP_MAX_EPS_IQ2_S; IQ2_XXS/XS use group_max_eps (1e-15)

inline iq_lattice iq2xxs_lattice() { return {iq2xxs_neighbours(), iq_grids::iq2xxs_index, 8, 2, 2}; }
inline iq_lattice iq2xs_lattice() { return {iq2xs_neighbours(), iq_grids::iq2xs_index, 8, 2, 2}; }
inline iq_lattice iq2s_lattice() { return {iq2s_neighbours(), iq_grids::iq2s_index, 8, 2, 2}; }

inline void encode_iq2_xxs(const float* x, const float* qw, block_iq2_xxs& y) noexcept {
    const iq_lattice g = iq2xxs_lattice();
    const iq_search_params params{6, 0.1f, false, iq_recode::all_always};
    std::uint32_t q2[16] = {};  // per 32 values: indices, then signs and scale
    float scales[8];
    float max_scale = 0.0f;
    const float sigma2 = superblock_sum_squares(x) / static_cast<float>(qk_k);
    for (int ib = 0; ib < 8; ++ib) {
        const float* xb = x + 32 * ib;
        float w[32], w_sqrt[32], v[32];
        iq_group_weights(32, xb, qw + 32 * ib, sigma2, iq_plain_weights::quarter_sigma2_plus_squares, w, w_sqrt);
        std::uint8_t signs[4];
        iq_split_signs(32, xb, w, true, v, signs);
        if (iq_max(32, v) < group_max_eps) {
            scales[ib] = 0.0f;
            continue;
        }
        // Start from the best plain 4-level fit (ggml's make_qp_quants); its
        // codes are replaced below whenever the scale is positive.
        std::uint8_t Lqp[32];
        float scale = fit_positive(32, 4, v, Lqp, w);
        const float eff_max = scale * 3.0f;
        if (eff_max <= 0.0f) {
            scales[ib] = 0.0f;
            continue;
        }
        std::int8_t L[32];
        for (int i = 0; i < 32; ++i) L[i] = static_cast<std::int8_t>(Lqp[i]);
        scale = iq_search(g, params, 32, v, w, w_sqrt, eff_max, scale, L);
        scale = iq_positive_scale(scale, signs, 4, true);
        for (int k = 0; k < 4; ++k) {
            q2[2 * ib] |= static_cast<std::uint32_t>(g.map.point(g.code(L + 8 * k))) << (8 * k);
            q2[2 * ib + 1] |= static_cast<std::uint32_t>(signs[k]) << (7 * k);
        }
        scales[ib] = scale;
        max_scale = max_scale > scale ? max_scale : scale;
    }
    std::memset(&y, 0, sizeof y);
    float id;
    if (!iq_block_scale(max_scale, 1.0f, y.d, id)) return;
    for (int ib = 0; ib < 8; ++ib) q2[2 * ib + 1] |= static_cast<std::uint32_t>(iq_scale_code(id, scales[ib])) << 28;
    auto* out = reinterpret_cast<std::uint8_t*>(y.qs);
    for (int i = 0; i < 16; ++i)
        for (int b = 0; b < 4; ++b) out[4 * i + b] = static_cast<std::uint8_t>(q2[i] >> (8 * b));
}

inline void encode_iq2_xs(const float* x, const float* qw, block_iq2_xs& y) noexcept {
    const iq_lattice g = iq2xs_lattice();
    const iq_search_params params{9, 0.1f, true, iq_recode::off_grid};
    const iq_group_rule rule{iq_plain_weights::quarter_sigma2_plus_squares, true, group_max_eps, 5.0f};
    std::uint16_t q2[32] = {};  // per 8 values: 9-bit index | 7 signs << 9
    float scales[16];
    float max_scale = 0.0f;
    const float sigma2 = superblock_sum_squares(x) / static_cast<float>(qk_k);
    for (int ib = 0; ib < 16; ++ib) {
        iq_group_code<16> c;
        if (!iq_code_group(g, params, rule, x + 16 * ib, qw + 16 * ib, sigma2, c, scales[ib])) continue;
        for (int k = 0; k < 2; ++k)
            q2[2 * ib + k] = static_cast<std::uint16_t>(g.map.point(g.code(c.L + 8 * k)) | c.signs[k] << 9);
        max_scale = max_scale > scales[ib] ? max_scale : scales[ib];
    }
    std::memset(&y, 0, sizeof y);
    float id;
    if (!iq_block_scale(max_scale, 1.0f, y.d, id)) return;
    iq_pack_scale_nibbles(id, scales, 16, y.scales);
    auto* out = reinterpret_cast<std::uint8_t*>(y.qs);
    for (int i = 0; i < 32; ++i) {
        out[2 * i] = static_cast<std::uint8_t>(q2[i] & 0xff);
        out[2 * i + 1] = static_cast<std::uint8_t>(q2[i] >> 8);
    }
}

inline void encode_iq2_s(const float* x, const float* qw, block_iq2_s& y) noexcept {
    const iq_lattice g = iq2s_lattice();
    const iq_search_params params{9, 0.1f, true, iq_recode::off_grid};
    const iq_group_rule rule{iq_plain_weights::quarter_sigma2_plus_squares, false, iq2s_group_eps, 5.0f};
    std::memset(&y, 0, sizeof y);
    float scales[16];
    float max_scale = 0.0f;
    const float sigma2 = 2.0f * superblock_sum_squares(x) / static_cast<float>(qk_k);
    for (int ib = 0; ib < 16; ++ib) {
        iq_group_code<16> c;
        if (!iq_code_group(g, params, rule, x + 16 * ib, qw ? qw + 16 * ib : nullptr, sigma2, c, scales[ib])) continue;
        for (int k = 0; k < 2; ++k) {
            const int i8 = 2 * ib + k;
            const int p = g.map.point(g.code(c.L + 8 * k));
            y.qs[i8] = static_cast<std::uint8_t>(p & 255);
            y.qh[i8 / 4] = static_cast<std::uint8_t>(y.qh[i8 / 4] | (p >> 8) << (2 * (i8 % 4)));
            y.qs[qk_k / 8 + i8] = c.signs[k];
        }
        max_scale = max_scale > scales[ib] ? max_scale : scales[ib];
    }
    float id;
    if (!iq_block_scale(max_scale, 0.9875f, y.d, id)) return;
    iq_pack_scale_nibbles(id, scales, 16, y.scales);
}

inline status iq2_needs_weights(const char* fn, const char* type) noexcept {
    return status::error(errc::invalid_argument,
                         "%s: %s needs an importance matrix (quant_weights is null); llama.cpp refuses it without one too",
                         fn, type);
}

}  // namespace detail

// ---- public API (same contract as gguf_blocks.hpp's: a status, nothing written on error) ----
// IQ2_S: quantize_row_iq2_s is ggml's quantize_row_iq2_s_ref, quantize_iq2_s
// ggml's quantize_iq2_s with or without weights. IQ2_XXS and IQ2_XS have no
// reference quantizer in ggml: quantize_row_* refuses, quantize_* needs weights.

LOWBIT_GGUF_BLOCKWISE_QUANTIZERS(iq2_s)
inline status quantize_iq2_xs(const float* src, block_iq2_xs* dst, std::int64_t nrow, std::int64_t n_per_row,
                              const float* quant_weights) noexcept {
    if (!quant_weights) return detail::iq2_needs_weights("gguf::quantize_iq2_xs", "IQ2_XS");
    return detail::quantize_blockwise<block_iq2_xs, detail::encode_iq2_xs>("gguf::quantize_iq2_xs", src, dst, nrow,
                                                                            n_per_row, quant_weights);
}
inline status quantize_iq2_xxs(const float* src, block_iq2_xxs* dst, std::int64_t nrow, std::int64_t n_per_row,
                               const float* quant_weights) noexcept {
    if (!quant_weights) return detail::iq2_needs_weights("gguf::quantize_iq2_xxs", "IQ2_XXS");
    return detail::quantize_blockwise<block_iq2_xxs, detail::encode_iq2_xxs>("gguf::quantize_iq2_xxs", src, dst, nrow,
                                                                              n_per_row, quant_weights);
}

}  // namespace gguf
}  // namespace lowbit

#include "detail/fp_contract_off_end.inl"

