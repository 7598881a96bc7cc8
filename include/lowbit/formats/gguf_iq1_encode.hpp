// lowbit/formats/gguf_iq1_encode.hpp — IQ1_S and IQ1_M encoders, byte-exact
// with ggml's quantize_row_iq1_s_impl / quantize_row_iq1_m_impl.
//
// With three levels −1, 0, 1 (plus a shift of ±1/8) the best split of a
// group's values into the three levels can be searched exhaustively: sort the
// values, and try every pair of boundaries i1 ≤ i2 in the sorted order
// (docs/formats.md, "Encoding IQ1_S and IQ1_M"). Runs of 8 levels that are not
// grid points then take their nearest candidate (gguf_iq_neighbours.hpp).
// ggml quantizes IQ1_S only with an importance matrix (it asserts); lowbit
// refuses it without one. IQ1_M accepts none.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "detail/gguf_search.hpp"
#include "gguf_block_rows.hpp"
#include "gguf_iq_lattice.hpp"

#include "gguf_iq_neighbours.hpp"  // (and <vector>) outside the pragma region

#include "detail/fp_contract_off_begin.inl"

namespace lowbit {
namespace gguf {
namespace detail {

constexpr float iq1s_group_eps = 1e-12f;  // ggml's GROUP_MAX_EPS_IQ1_S
constexpr float iq1m_group_eps = 1e-7f;   // ggml's GROUP_MAX_EPS_IQ1_M

// The three levels with the shift added (+) or subtracted (−).
constexpr float iq1_plus[3] = {-1.0f + iq1_delta, iq1_delta, 1.0f + iq1_delta};
constexpr float iq1_minus[3] = {-1.0f - iq1_delta, -iq1_delta, 1.0f - iq1_delta};

// Positions 0..n-1 ordered by value, equal values keeping their order (ggml
// sorts with glibc's qsort, a merge sort for arrays this small: stable).
inline void iq1_order(int n, const float* x, int* order) noexcept {
    for (int j = 0; j < n; ++j) order[j] = j;
    std::stable_sort(order, order + n, [x](int a, int b) { return x[a] < x[b]; });
}

// A group of N values as the search starts it: its largest magnitude (the
// first scale) and the order of its values.
template <int N>
struct iq1_group {
    float max = 0.0f;
    int order[N];
    // False (a zero group, nothing to search) when max is below eps.
    bool start(const float* x, float eps) noexcept {
        max = std::fabs(x[0]);
        for (int i = 1; i < N; ++i) max = max > std::fabs(x[i]) ? max : std::fabs(x[i]);
        if (max < eps) return false;
        iq1_order(N, x, order);
        return true;
    }
};

// The search's winner as levels: 0 below position i1 of the order, 1 up to i2,
// 2 from there. A negative scale is made positive by flipping every level
// (l -> 2 - l); returns true when it did, so the caller flips its shifts too.
inline bool iq1_levels(int n, const int* order, int i1, int i2, float& scale, std::int8_t* L) noexcept {
    for (int j = 0; j < n; ++j) L[order[j]] = static_cast<std::int8_t>(j < i1 ? 0 : j < i2 ? 1 : 2);
    if (!(scale < 0.0f)) return false;
    for (int j = 0; j < n; ++j) L[j] = static_cast<std::int8_t>(2 - L[j]);
    scale = -scale;
    return true;
}

// The candidate for an off-grid run of 8 levels with the least Σ w·(scale·lv[l] − x)²
// (x signed; first on ties); its levels go to L; returns its grid index.
// When every candidate's error overflows, ggml's fallback reads past its
// arrays (undefined); lowbit keeps the first candidate.
inline int iq1_best_candidate(unsigned code, const float* x, const float* w, float scale, const float* lv,
                              std::int8_t* L) noexcept {
    const iq_neighbour_map& map = iq1s_neighbours();
    float best = 3.40282347e38f;  // FLT_MAX
    int pick = *map.begin(code);
    for (const std::uint16_t* p = map.begin(code); p != map.end(code); ++p) {
        float d2 = 0.0f;
        for (int i = 0; i < 8; ++i) {
            const float diff = mul(scale, lv[iq_grids::level2(iq_grids::iq1s_index[*p], i)]) - x[i];
            d2 += mul(mul(w[i], diff), diff);
        }
        if (d2 < best) {
            best = d2;
            pick = *p;
        }
    }
    for (int i = 0; i < 8; ++i) L[i] = static_cast<std::int8_t>(iq_grids::level2(iq_grids::iq1s_index[pick], i));
    return pick;
}

// Grid indices of the runs of 8 in L (off-grid runs replaced by their best
// candidate at `scale`, with levels lv_of(k)); returns whether all were on the grid.
template <class LevelsOf>
bool iq1_points(int n, const float* x, const float* w, float scale, LevelsOf lv_of, std::int8_t* L,
                std::uint16_t* index) noexcept {
    const iq_neighbour_map& map = iq1s_neighbours();
    bool all_on_grid = true;
    for (int k = 0; k < n / 8; ++k) {
        unsigned u = 0;
        for (int j = 0; j < 8; ++j) u |= static_cast<unsigned>(L[8 * k + j]) << (2 * j);
        int p = map.point(u);
        if (p < 0) {
            all_on_grid = false;
            p = iq1_best_candidate(u, x + 8 * k, w + 8 * k, scale, lv_of(k), L + 8 * k);
        }
        index[k] = static_cast<std::uint16_t>(p);
    }
    return all_on_grid;
}

// Refit of the scale over the chosen points: Σ w·q·x / Σ w·q², kept when both are positive.
template <class LevelsOf>
float iq1_refit(int n, const float* x, const float* w, LevelsOf lv_of, const std::uint16_t* index, float scale) noexcept {
    float sumqx = 0.0f, sumq2 = 0.0f;
    for (int k = 0; k < n / 8; ++k) {
        const float* lv = lv_of(k);
        for (int j = 0; j < 8; ++j) {
            const float q = lv[iq_grids::level2(iq_grids::iq1s_index[index[k]], j)];
            sumqx += mul(mul(w[8 * k + j], q), x[8 * k + j]);
            sumq2 += mul(mul(w[8 * k + j], q), q);
        }
    }
    return sumqx > 0.0f && sumq2 > 0.0f ? sumqx / sumq2 : scale;
}

inline void encode_iq1_s(const float* x, const float* qw, block_iq1_s& y) noexcept {
    std::memset(&y, 0, sizeof y);
    float scales[8] = {};
    float max_scale = 0.0f;
    const float sigma2 = 2.0f * superblock_sum_squares(x) / static_cast<float>(qk_k);
    for (int ib = 0; ib < 8; ++ib) {
        const float* xb = x + 32 * ib;
        const float* q = qw + 32 * ib;
        float w[32];
        for (int i = 0; i < 32; ++i) w[i] = q[i] * std::sqrt(sigma2 + mul(xb[i], xb[i]));
        iq1_group<32> grp;
        if (!grp.start(xb, iq1s_group_eps)) continue;
        const int* order = grp.order;
        float sumx[33], sumw[33];
        sumx[0] = sumw[0] = 0.0f;
        for (int j = 0; j < 32; ++j) {
            sumx[j + 1] = sumx[j] + mul(w[order[j]], xb[order[j]]);
            sumw[j + 1] = sumw[j] + w[order[j]];
        }
        float best = -3.40282347e38f, scale = grp.max;
        int best1 = -1, best2 = -1, best_shift = 0;
        for (int i1 = 0; i1 <= 32; ++i1) {
            for (int i2 = i1; i2 <= 32; ++i2) {
                const float ax = sumx[i1] - sumx[0], bx = sumx[i2] - sumx[i1], cx = sumx[32] - sumx[i2];
                const float aw = sumw[i1] - sumw[0], bw = sumw[i2] - sumw[i1], cw = sumw[32] - sumw[i2];
                for (int sh = 1; sh >= -1; sh -= 2) {
                    const float* lv = sh == 1 ? iq1_plus : iq1_minus;
                    const float sumqx = mul(ax, lv[0]) + mul(bx, lv[1]) + mul(cx, lv[2]);
                    const float sumq2 = mul(mul(aw, lv[0]), lv[0]) + mul(mul(bw, lv[1]), lv[1]) + mul(mul(cw, lv[2]), lv[2]);
                    if (sumq2 > 0.0f && sumqx * sumqx > best * sumq2) {
                        scale = sumqx / sumq2;
                        best = scale * sumqx;
                        best1 = i1;
                        best2 = i2;
                        best_shift = sh;
                    }
                }
            }
        }
        if (best1 < 0 || best2 < 0 || best_shift == 0) continue;
        std::int8_t L[32];
        if (iq1_levels(32, order, best1, best2, scale, L)) best_shift = -best_shift;
        const float* lv = best_shift == 1 ? iq1_plus : iq1_minus;
        auto lv_of = [lv](int) { return lv; };
        std::uint16_t index[4];
        if (!iq1_points(32, xb, w, scale, lv_of, L, index)) scale = iq1_refit(32, xb, w, lv_of, index, scale);
        unsigned h = 0;
        for (int k = 0; k < 4; ++k) {
            y.qs[4 * ib + k] = static_cast<std::uint8_t>(index[k] & 255);
            h |= static_cast<unsigned>(index[k] >> 8) << (3 * k);
        }
        y.qh[ib] = static_cast<std::uint16_t>(best_shift == -1 ? h | 0x8000u : h);  // the shift's sign: bit 15
        scales[ib] = scale;
        max_scale = max_scale > scale ? max_scale : scale;
    }
    if (max_scale == 0.0f) return;
    const float d = max_scale / 15.0f;
    y.d = to_f16(d * 1.125f);  // ggml's fudge factor
    const float id = 1.0f / d;
    for (int ib = 0; ib < 8; ++ib) {
        const int l = clamp_int(nearest_int(0.5f * (mul(id, scales[ib]) - 1.0f)), 0, 7);
        y.qh[ib] = static_cast<std::uint16_t>(y.qh[ib] | l << 12);
    }
}

// IQ1_M's four shift choices per 16 values: k = 0 (+, +), 1 (+, −), 2 (−, +),
// 3 (−, −) for the first and second run of 8; the qh bits that store them.
inline const float* iq1_m_levels(int k, int run) noexcept {
    return (run == 0 ? k < 2 : k % 2 == 0) ? iq1_plus : iq1_minus;
}
constexpr std::uint8_t iq1_m_shift_bits[4] = {0x00, 0x80, 0x08, 0x88};

inline void iq1_m_weights(const float* xb, const float* qw, float sigma2, float* w) noexcept {
    for (int i = 0; i < 16; ++i) w[i] = qw ? qw[i] * std::sqrt(sigma2 + mul(xb[i], xb[i])) : xb[i] * xb[i];
}

inline void encode_iq1_m(const float* x, const float* qw, block_iq1_m& y) noexcept {
    std::memset(&y, 0, sizeof y);
    float scales[16] = {};
    int shifts[16] = {};
    float max_scale = 0.0f;
    const float sigma2 = 2.0f * superblock_sum_squares(x) / static_cast<float>(qk_k);
    for (int ib = 0; ib < 16; ++ib) {
        const float* xb = x + 16 * ib;
        float w[16];
        iq1_m_weights(xb, qw ? qw + 16 * ib : nullptr, sigma2, w);
        iq1_group<16> grp;
        if (!grp.start(xb, iq1m_group_eps)) continue;
        const int* order = grp.order;
        float best = -3.40282347e38f, scale = grp.max;
        int best1 = -1, best2 = -1, best_k = -1;
        for (int i1 = 0; i1 <= 16; ++i1) {
            for (int i2 = i1; i2 <= 16; ++i2) {
                // ggml accumulates the four shift choices value by value in sorted order.
                float sumqx[4] = {}, sumq2[4] = {};
                for (int j = 0; j < 16; ++j) {
                    const int i = order[j];
                    const int l = j < i1 ? 0 : j < i2 ? 1 : 2;
                    const float p = iq1_plus[l], m = iq1_minus[l];
                    const float px = mul(mul(w[i], p), xb[i]), mx = mul(mul(w[i], m), xb[i]);
                    const float p2 = mul(mul(w[i], p), p), m2 = mul(mul(w[i], m), m);
                    if (i < 8) {  // first run: k 0, 1 are +; 2, 3 are −
                        sumqx[0] += px; sumqx[1] += px; sumqx[2] += mx; sumqx[3] += mx;
                        sumq2[0] += p2; sumq2[1] += p2; sumq2[2] += m2; sumq2[3] += m2;
                    } else {      // second run: k 0, 2 are +; 1, 3 are −
                        sumqx[0] += px; sumqx[2] += px; sumqx[1] += mx; sumqx[3] += mx;
                        sumq2[0] += p2; sumq2[2] += p2; sumq2[1] += m2; sumq2[3] += m2;
                    }
                }
                for (int k = 0; k < 4; ++k) {
                    if (sumq2[k] > 0.0f && sumqx[k] * sumqx[k] > best * sumq2[k]) {
                        scale = sumqx[k] / sumq2[k];
                        best = scale * sumqx[k];
                        best1 = i1;
                        best2 = i2;
                        best_k = k;
                    }
                }
            }
        }
        if (best1 < 0 || best2 < 0 || best_k < 0) continue;
        std::int8_t L[16];
        if (iq1_levels(16, order, best1, best2, scale, L)) best_k = 3 - best_k;  // both shifts flip: 0 <-> 3, 1 <-> 2
        const int k_sel = best_k;
        auto lv_of = [k_sel](int run) { return iq1_m_levels(k_sel, run); };
        std::uint16_t index[2];
        if (!iq1_points(16, xb, w, scale, lv_of, L, index)) scale = iq1_refit(16, xb, w, lv_of, index, scale);
        y.qs[2 * ib] = static_cast<std::uint8_t>(index[0] & 255);
        y.qs[2 * ib + 1] = static_cast<std::uint8_t>(index[1] & 255);
        y.qh[ib] = static_cast<std::uint8_t>((index[0] >> 8) | (index[1] >> 8) << 4);
        scales[ib] = scale;
        shifts[ib] = best_k;
        max_scale = max_scale > scale ? max_scale : scale;
    }
    if (max_scale == 0.0f) return;
    // 3-bit scale codes against d = S/15, then d itself refit over every value
    // (zero groups included, at code 0 and grid point 0, as ggml does).
    std::uint16_t sc[4] = {};
    float d = max_scale / 15.0f;
    const float id = 1.0f / d;
    float sumqx = 0.0f, sumq2 = 0.0f;
    for (int ib = 0; ib < 16; ++ib) {
        const int l = clamp_int(nearest_int(0.5f * (mul(id, scales[ib]) - 1.0f)), 0, 7);
        sc[ib / 4] = static_cast<std::uint16_t>(sc[ib / 4] | l << (3 * (ib % 4)));
        y.qh[ib] = static_cast<std::uint8_t>(y.qh[ib] | iq1_m_shift_bits[shifts[ib]]);
        const float* xb = x + 16 * ib;
        float w[16];
        iq1_m_weights(xb, qw ? qw + 16 * ib : nullptr, sigma2, w);
        for (int run = 0; run < 2; ++run) {
            const float* lv = iq1_m_levels(shifts[ib], run);
            const unsigned p = y.qs[2 * ib + run] | ((y.qh[ib] >> (4 * run)) & 7u) << 8;
            for (int j = 0; j < 8; ++j) {
                const float q = lv[iq_grids::level2(iq_grids::iq1s_index[p], j)] * static_cast<float>(2 * l + 1);
                sumqx += mul(mul(w[8 * run + j], q), xb[8 * run + j]);
                sumq2 += mul(mul(w[8 * run + j], q), q);
            }
        }
    }
    if (sumq2 > 0.0f) d = sumqx / sumq2;
    const std::uint16_t h = to_f16(d * 1.1125f);  // ggml's fudge factor
    for (int i = 0; i < 4; ++i) {
        sc[i] = static_cast<std::uint16_t>(sc[i] | ((h >> (4 * i)) & 0xf) << 12);
        y.scales[2 * i] = static_cast<std::uint8_t>(sc[i] & 0xff);
        y.scales[2 * i + 1] = static_cast<std::uint8_t>(sc[i] >> 8);
    }
}

}  // namespace detail

// ---- public API (same contract as gguf_blocks.hpp's: a status, nothing written on error) ----
// ggml has no reference quantizer for either type: quantize_<t> is ggml's
// quantize_<t>. IQ1_S needs weights (as in ggml); IQ1_M takes them or not.

inline status quantize_iq1_s(const float* src, block_iq1_s* dst, std::int64_t nrow, std::int64_t n_per_row,
                             const float* quant_weights) noexcept {
    if (!quant_weights)
        return status::error(errc::invalid_argument,
                             "gguf::quantize_iq1_s: IQ1_S needs an importance matrix (quant_weights is null); "
                             "llama.cpp refuses it without one too");
    return detail::quantize_blockwise<block_iq1_s, detail::encode_iq1_s>("gguf::quantize_iq1_s", src, dst, nrow,
                                                                          n_per_row, quant_weights);
}
inline status quantize_iq1_m(const float* src, block_iq1_m* dst, std::int64_t nrow, std::int64_t n_per_row,
                             const float* quant_weights) noexcept {
    return detail::quantize_blockwise<block_iq1_m, detail::encode_iq1_m>("gguf::quantize_iq1_m", src, dst, nrow,
                                                                          n_per_row, quant_weights);
}

}  // namespace gguf
}  // namespace lowbit

#include "detail/fp_contract_off_end.inl"

