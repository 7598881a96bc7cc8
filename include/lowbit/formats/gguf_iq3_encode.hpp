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
#include "gguf_block_rows.hpp"
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

inline float iq3_sigma2(const float* x) noexcept { return 2.0f * superblock_sum_squares(x) / static_cast<float>(qk_k); }

inline iq_lattice iq3xxs_lattice() { return {iq3xxs_neighbours(), iq_grids::iq3xxs_index, 4, 3, 7}; }
inline iq_lattice iq3s_lattice() { return {iq3s_neighbours(), iq_grids::iq3s_index, 4, 3, 7}; }

inline void encode_iq3_xxs(const float* x, const float* qw, block_iq3_xxs& y) noexcept {
    const iq_lattice g = iq3xxs_lattice();
    const iq_search_params params{15, 0.2f, true, iq_recode::off_grid};
    const iq_group_rule rule{iq_plain_weights::squares, true, iq3xxs_group_eps, 15.0f};
    std::uint8_t q3[3 * qk_k / 8] = {};
    std::uint32_t meta[8] = {};
    float scales[8];
    float max_scale = 0.0f;
    const float sigma2 = iq3_sigma2(x);
    for (int ib = 0; ib < 8; ++ib) {
        iq_group_code<32> c;
        if (!iq_code_group(g, params, rule, x + 32 * ib, qw ? qw + 32 * ib : nullptr, sigma2, c, scales[ib])) continue;
        for (int k = 0; k < 8; ++k) q3[8 * ib + k] = static_cast<std::uint8_t>(g.map.point(g.code(c.L + 4 * k)));
        meta[ib] = c.signs[0] | static_cast<std::uint32_t>(c.signs[1]) << 7 | static_cast<std::uint32_t>(c.signs[2]) << 14 |
                   static_cast<std::uint32_t>(c.signs[3]) << 21;
        max_scale = max_scale > scales[ib] ? max_scale : scales[ib];
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
    const iq_group_rule rule{iq_plain_weights::squares, false, 0.0f, 15.0f};
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
        iq_group_code<32> c;
        if (!iq_code_group(g, params, rule, x + 32 * ib, qw ? qw + 32 * ib : nullptr, sigma2, c, scales[ib])) continue;
        for (int k = 0; k < 8; ++k) {
            const int p = g.map.point(g.code(c.L + 4 * k));
            qs[k] = static_cast<std::uint8_t>(p & 255);
            y.qh[ib] = static_cast<std::uint8_t>(y.qh[ib] | (p >> 8) << k);
        }
        qs += 8;
        std::memcpy(signs_out, c.signs, 4);
        signs_out += 4;
        max_scale = max_scale > scales[ib] ? max_scale : scales[ib];
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

LOWBIT_GGUF_BLOCKWISE_QUANTIZERS(iq3_xxs)
LOWBIT_GGUF_BLOCKWISE_QUANTIZERS(iq3_s)

}  // namespace gguf
}  // namespace lowbit

#include "detail/fp_contract_off_end.inl"

