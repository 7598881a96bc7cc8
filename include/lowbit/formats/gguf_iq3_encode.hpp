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
//
// Include order: see gguf_block_rows.hpp (same guard scheme).
#include "gguf_iq_lattice.hpp"

#ifndef LOWBIT_FORMATS_GGUF_IQ3_ENCODE_HPP
#define LOWBIT_FORMATS_GGUF_IQ3_ENCODE_HPP

#include <cmath>
#include <cstdint>
#include <cstring>

#include "gguf_iq_neighbours.hpp"

#include "detail/fp_contract_off_begin.inl"

namespace lowbit {
namespace gguf {
namespace detail {

// Groups of 32 values with magnitude below this are coded as zero (IQ3_XXS;
// ggml's GROUP_MAX_EPS_IQ3_XXS). IQ3_S tests for exact zero instead.
constexpr float iq3xxs_group_eps = 1e-8f;

// Weights of one group of 32 and their square roots (the neighbour search's weights).
inline void iq3_weights(const float* x, const float* qw, float sigma2, float* w, float* w_sqrt) noexcept {
    for (int i = 0; i < 32; ++i) w[i] = qw ? qw[i] * std::sqrt(sigma2 + mul(x[i], x[i])) : x[i] * x[i];
    for (int i = 0; i < 32; ++i) w_sqrt[i] = std::sqrt(w[i]);
}

// 2·Σx²/256 over a super-block.
inline float iq3_sigma2(const float* x) noexcept {
    float s = 0.0f;
    for (int i = 0; i < qk_k; ++i) s += mul(x[i], x[i]);
    return 2.0f * s / static_cast<float>(qk_k);
}

// Level of one magnitude at inverse scale id: round((id·v − 1)/2), clamped to 0..7.
inline int iq3_level(float id, float v) noexcept { return clamp_int(nearest_int(0.5f * (mul(id, v) - 1.0f)), 0, 7); }

// The candidate of an off-grid code with the least weighted squared error at
// `scale` (first one on ties); writes its levels to L.
inline int iq3_best_candidate(const iq_neighbour_map& map, const std::uint16_t* grid, unsigned code, const float* xval,
                              const float* w, float scale, std::int8_t* L) noexcept {
    float best = 3.40282347e38f;  // FLT_MAX
    int pick = -1;
    for (const std::uint16_t* p = map.begin(code); p != map.end(code); ++p) {
        float d2 = 0.0f;
        for (int i = 0; i < 4; ++i) {
            const float q = static_cast<float>(2 * iq_grids::level3(grid[*p], i) + 1);
            const float diff = mul(scale, q) - xval[i];
            d2 += mul(mul(w[i], diff), diff);
        }
        if (d2 < best) {
            best = d2;
            pick = *p;
        }
    }
    for (int i = 0; i < 4; ++i) L[i] = static_cast<std::int8_t>(iq_grids::level3(grid[pick], i));
    return pick;
}

inline unsigned iq3_code(const std::int8_t* L) noexcept {
    unsigned u = 0;
    for (int i = 0; i < 4; ++i) u |= static_cast<unsigned>(L[i]) << (3 * i);
    return u;
}

// Codes 8 groups of 4 magnitudes at inverse scale id (scale = its inverse for
// the candidate search). on_grid[k]: group k's rounded code was a grid point.
inline void iq3_code_groups(const iq_neighbour_map& map, const std::uint16_t* grid, const float* xval, const float* w_sqrt,
                            float id, float scale, std::int8_t* L, bool* on_grid) noexcept {
    for (int k = 0; k < 8; ++k) {
        for (int i = 0; i < 4; ++i) L[4 * k + i] = static_cast<std::int8_t>(iq3_level(id, xval[4 * k + i]));
        const unsigned u = iq3_code(L + 4 * k);
        on_grid[k] = map.point(u) >= 0;
        if (!on_grid[k]) iq3_best_candidate(map, grid, u, xval + 4 * k, w_sqrt + 4 * k, scale, L + 4 * k);
    }
}

// Σ w·x·q and Σ w·q² with q = 2l + 1.
inline void iq3_sums(const float* w, const float* xval, const std::int8_t* L, float& sumqx, float& sumq2) noexcept {
    sumqx = 0.0f;
    sumq2 = 0.0f;
    for (int i = 0; i < 32; ++i) {
        const float q = static_cast<float>(2 * L[i] + 1);
        sumqx += mul(mul(w[i], xval[i]), q);
        sumq2 += mul(mul(w[i], q), q);
    }
}

// The search for one group of 32 magnitudes with max > 0: levels to L,
// returns the scale. `steps` inverse scales (15 + 0.2·is)/max, is = −steps … steps;
// then the off-grid groups of the winner are re-coded at its scale
// (IQ3_XXS: only those; IQ3_S: all eight, as ggml does).
inline float iq3_search(const iq_neighbour_map& map, const std::uint16_t* grid, const float* xval, const float* w,
                        const float* w_sqrt, float max, int steps, bool on_grid_start, bool recode_all,
                        std::int8_t* L) noexcept {
    float best = 0.0f;
    float scale = max / 15.0f;
    bool on_grid[8], on_grid_try[8];
    std::int8_t Ltry[32];
    for (bool& g : on_grid) g = on_grid_start;
    for (int is = -steps; is <= steps; ++is) {
        const float id = (15.0f + mul(static_cast<float>(is), 0.2f)) / max;
        iq3_code_groups(map, grid, xval, w_sqrt, id, 1.0f / id, Ltry, on_grid_try);
        float sumqx, sumq2;
        iq3_sums(w, xval, Ltry, sumqx, sumq2);
        if (sumq2 > 0.0f && sumqx * sumqx > best * sumq2) {
            scale = sumqx / sumq2;
            best = scale * sumqx;
            std::memcpy(L, Ltry, 32);
            std::memcpy(on_grid, on_grid_try, sizeof on_grid);
        }
    }
    int off_grid = 0;
    for (bool g : on_grid) off_grid += g ? 0 : 1;
    if (off_grid > 0 && scale > 0.0f) {
        const float id = 1.0f / scale;
        for (int k = 0; k < 8; ++k) {
            if (on_grid[k] && !recode_all) continue;
            std::int8_t l4[4];
            for (int i = 0; i < 4; ++i) l4[i] = static_cast<std::int8_t>(iq3_level(id, xval[4 * k + i]));
            const unsigned u = iq3_code(l4);
            if (map.point(u) >= 0)
                std::memcpy(L + 4 * k, l4, 4);
            else
                iq3_best_candidate(map, grid, u, xval + 4 * k, w_sqrt + 4 * k, scale, L + 4 * k);
        }
        float sumqx, sumq2;
        iq3_sums(w, xval, L, sumqx, sumq2);
        if (sumq2 > 0.0f) scale = sumqx / sumq2;
    }
    return scale;
}

// The 4-bit code of a sub-block scale against d = max_scale/31.
inline int iq3_scale_code(float id, float scale) noexcept { return clamp_int(nearest_int(0.5f * (mul(id, scale) - 1.0f)), 0, 15); }

inline void encode_iq3_xxs(const float* x, const float* qw, block_iq3_xxs& y) noexcept {
    const iq_neighbour_map& map = iq3xxs_neighbours();
    const std::uint16_t* grid = iq_grids::iq3xxs_index;
    std::uint8_t q3[3 * qk_k / 8] = {};
    std::uint8_t* meta_bytes = q3 + qk_k / 4;
    std::uint32_t meta[8] = {};
    float scales[8];
    float max_scale = 0.0f;
    const float sigma2 = iq3_sigma2(x);
    for (int ib = 0; ib < 8; ++ib) {
        const float* xb = x + 32 * ib;
        float w[32], w_sqrt[32], xval[32];
        iq3_weights(xb, qw ? qw + 32 * ib : nullptr, sigma2, w, w_sqrt);
        std::uint8_t signs[4];
        for (int k = 0; k < 4; ++k) {
            int negatives = 0;
            unsigned s = 0;
            for (int i = 0; i < 8; ++i) {
                const float v = xb[8 * k + i];
                xval[8 * k + i] = v >= 0.0f ? v : -v;
                if (!(v >= 0.0f)) {
                    ++negatives;
                    s |= 1u << i;
                }
            }
            if (negatives % 2) {  // odd: flip the value that costs least (w·x²), so the eighth sign is the parity
                int imin = 0;
                float min = mul(w[8 * k], xb[8 * k]) * xb[8 * k];
                for (int i = 1; i < 8; ++i) {
                    const float c = mul(w[8 * k + i], xb[8 * k + i]) * xb[8 * k + i];
                    if (c < min) {
                        min = c;
                        imin = i;
                    }
                }
                xval[8 * k + imin] = -xval[8 * k + imin];
                s ^= 1u << imin;
            }
            signs[k] = static_cast<std::uint8_t>(s & 127u);
        }
        float max = xval[0];
        for (int i = 1; i < 32; ++i) max = max > xval[i] ? max : xval[i];  // ggml's MAX(max, x)
        if (max < iq3xxs_group_eps) {
            scales[ib] = 0.0f;
            continue;
        }
        std::int8_t L[32] = {};
        float scale = iq3_search(map, grid, xval, w, w_sqrt, max, 15, true, false, L);
        if (scale < 0.0f) {  // ggml: "should never happen"; keep the scale positive, flip the signs
            scale = -scale;
            for (std::uint8_t& s : signs) s = static_cast<std::uint8_t>(~s & 127u);
        }
        for (int k = 0; k < 8; ++k) q3[8 * ib + k] = static_cast<std::uint8_t>(map.point(iq3_code(L + 4 * k)));
        meta[ib] = signs[0] | static_cast<std::uint32_t>(signs[1]) << 7 | static_cast<std::uint32_t>(signs[2]) << 14 |
                   static_cast<std::uint32_t>(signs[3]) << 21;
        scales[ib] = scale;
        max_scale = max_scale > scale ? max_scale : scale;
    }
    std::memset(&y, 0, sizeof y);
    if (max_scale == 0.0f) return;  // d = 0 and every byte 0
    const float d = max_scale / 31.0f;
    y.d = to_f16(d * 1.0125f);  // ggml's fudge factor
    const float id = 1.0f / d;
    for (int ib = 0; ib < 8; ++ib) {
        const std::uint32_t m = meta[ib] | static_cast<std::uint32_t>(iq3_scale_code(id, scales[ib])) << 28;
        for (int b = 0; b < 4; ++b) meta_bytes[4 * ib + b] = static_cast<std::uint8_t>(m >> (8 * b));
    }
    std::memcpy(y.qs, q3, sizeof y.qs);
}

inline void encode_iq3_s(const float* x, const float* qw, block_iq3_s& y) noexcept {
    const iq_neighbour_map& map = iq3s_neighbours();
    const std::uint16_t* grid = iq_grids::iq3s_index;
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
        float w[32], w_sqrt[32], xval[32];
        iq3_weights(xb, qw ? qw + 32 * ib : nullptr, sigma2, w, w_sqrt);
        std::uint8_t signs[4];
        for (int k = 0; k < 4; ++k) {
            unsigned s = 0;
            for (int i = 0; i < 8; ++i) {
                const float v = xb[8 * k + i];
                xval[8 * k + i] = v >= 0.0f ? v : -v;
                if (!(v >= 0.0f)) s |= 1u << i;
            }
            signs[k] = static_cast<std::uint8_t>(s);
        }
        float max = xval[0];
        for (int i = 1; i < 32; ++i) max = max > xval[i] ? max : xval[i];
        if (max == 0.0f) {
            scales[ib] = 0.0f;
            continue;
        }
        std::int8_t L[32] = {};
        float scale = iq3_search(map, grid, xval, w, w_sqrt, max, 9, false, true, L);
        if (scale < 0.0f) {
            scale = -scale;
            for (std::uint8_t& s : signs) s = static_cast<std::uint8_t>(~s);
        }
        for (int k = 0; k < 8; ++k) {
            const int p = map.point(iq3_code(L + 4 * k));
            qs[k] = static_cast<std::uint8_t>(p & 255);
            y.qh[ib] = static_cast<std::uint8_t>(y.qh[ib] | (p >> 8) << k);
        }
        qs += 8;
        std::memcpy(signs_out, signs, 4);
        signs_out += 4;
        scales[ib] = scale;
        max_scale = max_scale > scale ? max_scale : scale;
    }
    if (max_scale == 0.0f) return;
    const float d = max_scale / 31.0f;
    y.d = to_f16(d * 1.033f);  // ggml's fudge factor
    const float id = 1.0f / d;
    for (int ib = 0; ib < 8; ib += 2)
        y.scales[ib / 2] =
            static_cast<std::uint8_t>(iq3_scale_code(id, scales[ib]) | iq3_scale_code(id, scales[ib + 1]) << 4);
}

inline void encode_iq3_xxs_row(const float* x, const float* qw, std::int64_t n, block_iq3_xxs* y) noexcept {
    for (std::int64_t i = 0; i < n / qk_k; ++i) encode_iq3_xxs(x + qk_k * i, qw ? qw + qk_k * i : nullptr, y[i]);
}
inline void encode_iq3_s_row(const float* x, const float* qw, std::int64_t n, block_iq3_s* y) noexcept {
    for (std::int64_t i = 0; i < n / qk_k; ++i) encode_iq3_s(x + qk_k * i, qw ? qw + qk_k * i : nullptr, y[i]);
}

}  // namespace detail

// ---- public API (same contract as gguf_blocks.hpp's: a status, nothing written on error) ----
// quantize_row_<t> is ggml's quantize_row_<t>_ref (no weights); quantize_<t>
// is ggml's quantize_<t>, with or without importance weights (without, the
// two give the same bytes).

inline status quantize_row_iq3_xxs(const float* x, block_iq3_xxs* y, std::int64_t k) noexcept {
    return detail::encode_block_rows("gguf::quantize_row_iq3_xxs", "k", x, y, 1, k, nullptr,
                                     [](const float* r, const float*, std::int64_t n, block_iq3_xxs* out) {
                                         detail::encode_iq3_xxs_row(r, nullptr, n, out);
                                     });
}
inline status quantize_iq3_xxs(const float* src, block_iq3_xxs* dst, std::int64_t nrow, std::int64_t n_per_row,
                               const float* quant_weights) noexcept {
    return detail::encode_block_rows("gguf::quantize_iq3_xxs", "n_per_row", src, dst, nrow, n_per_row, quant_weights,
                                     [](const float* r, const float* qw, std::int64_t n, block_iq3_xxs* out) {
                                         detail::encode_iq3_xxs_row(r, qw, n, out);
                                     });
}
inline status quantize_row_iq3_s(const float* x, block_iq3_s* y, std::int64_t k) noexcept {
    return detail::encode_block_rows("gguf::quantize_row_iq3_s", "k", x, y, 1, k, nullptr,
                                     [](const float* r, const float*, std::int64_t n, block_iq3_s* out) {
                                         detail::encode_iq3_s_row(r, nullptr, n, out);
                                     });
}
inline status quantize_iq3_s(const float* src, block_iq3_s* dst, std::int64_t nrow, std::int64_t n_per_row,
                             const float* quant_weights) noexcept {
    return detail::encode_block_rows("gguf::quantize_iq3_s", "n_per_row", src, dst, nrow, n_per_row, quant_weights,
                                     [](const float* r, const float* qw, std::int64_t n, block_iq3_s* out) {
                                         detail::encode_iq3_s_row(r, qw, n, out);
                                     });
}

}  // namespace gguf
}  // namespace lowbit

#include "detail/fp_contract_off_end.inl"

#endif  // LOWBIT_FORMATS_GGUF_IQ3_ENCODE_HPP
