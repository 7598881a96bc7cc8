// lowbit/formats/detail/gguf_search.hpp — ggml's scale searches for the
// K-quants and the importance-matrix legacy types (make_qx_quants,
// make_q3_quants, make_qkx2/3_quants, make_qp_quants), step for step.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "../gguf_block_structs.hpp"
#include "gguf_arith.hpp"

#include "fp_contract_off_begin.inl"

namespace lowbit {
namespace gguf {
namespace detail {

// ---- scale searches (docs/formats.md, "How the K-quant scales are chosen") --------
// Each returns the scale and writes codes to L. They follow ggml's searches step
// for step, including evaluation order, so that ties break the same way.

// The rule a search used for its final codes: code = nearest_int(inv * (x - off)),
// or no rule when the group was all zeros (codes 0). A block's grid (below)
// keeps it, so that values coded later land exactly where ggml would put them.
// The signed value of largest magnitude (first one wins): the symmetric
// searches and the legacy symmetric types put it at the most negative code.
inline float signed_absmax(const float* x, int n) noexcept {
    float amax = 0.0f;
    float max = 0.0f;
    for (int j = 0; j < n; ++j) {
        if (amax < std::fabs(x[j])) {
            amax = std::fabs(x[j]);
            max = x[j];
        }
    }
    return max;
}

struct search_rounding {
    float inv = 0.0f, off = 0.0f;
    bool all_zero = true;
};

// Symmetric codes l in [-nmax, nmax): start from the scale that maps the
// largest-magnitude value to -nmax, then try 18 nearby scales and keep the one
// with the largest weighted sum(x*l)^2 / sum(l^2) (ggml's make_qx_quants with
// rmse_type 1). Weights default to x^2. L receives l + nmax.
inline float fit_symmetric(int n, int nmax, const float* x, std::int8_t* L, const float* qw,
                           search_rounding* rounding = nullptr) noexcept {
    const float max = signed_absmax(x, n);
    const float amax = std::fabs(max);
    if (amax < group_max_eps) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        if (rounding) *rounding = search_rounding{};
        return 0.0f;
    }
    auto weight = [&](int i) { return qw ? qw[i] : x[i] * x[i]; };
    auto code = [&](float iscale, int i) { return clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1); };

    float iscale = static_cast<float>(-nmax) / max;
    float sumlx = 0.0f;
    float suml2 = 0.0f;
    for (int i = 0; i < n; ++i) {
        const int l = code(iscale, i);
        L[i] = static_cast<std::int8_t>(l + nmax);
        const float w = weight(i);
        sumlx += mul(w * x[i], static_cast<float>(l));
        suml2 += mul(w * static_cast<float>(l), static_cast<float>(l));
    }
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    float code_iscale = iscale;
    for (int step = -9; step <= 9; ++step) {
        if (step == 0) continue;
        iscale = -(static_cast<float>(nmax) + mul(0.1f, static_cast<float>(step))) / max;
        sumlx = 0.0f;
        suml2 = 0.0f;
        for (int i = 0; i < n; ++i) {
            const int l = code(iscale, i);
            const float w = weight(i);
            sumlx += mul(w * x[i], static_cast<float>(l));
            suml2 += mul(w * static_cast<float>(l), static_cast<float>(l));
        }
        if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) L[i] = static_cast<std::int8_t>(nmax + code(iscale, i));
            code_iscale = iscale;
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    if (rounding) *rounding = search_rounding{code_iscale, 0.0f, false};
    return scale;
}

// Q3_K's search (ggml's make_q3_quants with do_rmse): the plain scale, then up
// to five sweeps that move single codes when that raises sum(w x l)^2/sum(w l^2),
// with w = x^2. L receives l + nmax (or 0 for an all-zero group).
inline float fit_symmetric_sweeps(int n, int nmax, const float* x, std::int8_t* L) noexcept {
    const float max = signed_absmax(x, n);
    const float amax = std::fabs(max);
    if (amax < group_max_eps) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.0f;
    }
    const float iscale = static_cast<float>(-nmax) / max;
    float sumlx = 0.0f;
    float suml2 = 0.0f;
    for (int i = 0; i < n; ++i) {
        const int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = static_cast<std::int8_t>(l);
        const float w = x[i] * x[i];
        sumlx += mul(w * x[i], static_cast<float>(l));
        suml2 += mul(w * static_cast<float>(l), static_cast<float>(l));
    }
    for (int sweep = 0; sweep < 5; ++sweep) {
        int changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = x[i] * x[i];
            const float li = static_cast<float>(L[i]);
            float slx = sumlx - mul(w * x[i], li);
            if (!(slx > 0.0f)) continue;
            float sl2 = suml2 - mul(w * li, li);
            const int nl = clamp_int(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
            if (nl == L[i]) continue;
            slx += mul(w * x[i], static_cast<float>(nl));
            sl2 += mul(w * static_cast<float>(nl), static_cast<float>(nl));
            if (sl2 > 0.0f && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = static_cast<std::int8_t>(nl);
                sumlx = slx;
                suml2 = sl2;
                ++changed;
            }
        }
        if (changed == 0) break;
    }
    for (int i = 0; i < n; ++i) L[i] = static_cast<std::int8_t>(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// Affine codes l in [0, nmax] with x ~ scale * l + min, min <= 0: start from
// the min/max grid, then for nstep+1 candidate inverse scales solve the
// weighted least-squares (scale, min) for the rounded codes and keep the one
// with the smallest weighted error (|err| when use_mad, err^2 otherwise).
// This is ggml's make_qkx2_quants; make_qkx3_quants is the same computation
// whenever weights are given, which is every use ggml makes of it.
// Writes -min to *neg_min.
inline float fit_affine(int n, int nmax, const float* x, const float* weights, std::uint8_t* L, std::uint8_t* Laux,
                        float* neg_min, float rmin, float rdelta, int nstep, bool use_mad,
                        search_rounding* rounding = nullptr) noexcept {
    float min = x[0];
    float max = x[0];
    float sum_w = weights[0];
    float sum_x = mul(sum_w, x[0]);
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += weights[i];
        sum_x += mul(weights[i], x[i]);
    }
    if (min > 0.0f) min = 0.0f;
    if (max == min) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        *neg_min = -min;
        if (rounding) *rounding = search_rounding{};
        return 0.0f;
    }
    auto error_of = [&](float s, float m, const std::uint8_t* codes) {
        float err = 0.0f;
        for (int i = 0; i < n; ++i) {
            float diff = mul(s, static_cast<float>(codes[i])) + m - x[i];
            diff = use_mad ? std::fabs(diff) : diff * diff;
            err += mul(weights[i], diff);
        }
        return err;
    };

    float iscale = static_cast<float>(nmax) / (max - min);
    float scale = 1.0f / iscale;
    for (int i = 0; i < n; ++i) {
        L[i] = static_cast<std::uint8_t>(clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax));
    }
    float best_error = error_of(scale, min, L);
    search_rounding codes_from{iscale, min, false};
    if (nstep < 1) {
        *neg_min = -min;
        if (rounding) *rounding = codes_from;
        return scale;
    }
    for (int step = 0; step <= nstep; ++step) {
        iscale = (rmin + mul(rdelta, static_cast<float>(step)) + static_cast<float>(nmax)) / (max - min);
        float sum_l = 0.0f;
        float sum_l2 = 0.0f;
        float sum_xl = 0.0f;
        for (int i = 0; i < n; ++i) {
            const int l = clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = static_cast<std::uint8_t>(l);
            const float fl = static_cast<float>(l);
            const float w = weights[i];
            sum_l += mul(w, fl);
            sum_l2 += mul(w * fl, fl);
            sum_xl += mul(w * fl, x[i]);
        }
        const float det = mul(sum_w, sum_l2) - mul(sum_l, sum_l);
        if (!(det > 0.0f)) continue;
        float this_scale = (mul(sum_w, sum_xl) - mul(sum_x, sum_l)) / det;
        float this_min = (mul(sum_l2, sum_x) - mul(sum_l, sum_xl)) / det;
        if (this_min > 0.0f) {
            this_min = 0.0f;
            this_scale = sum_xl / sum_l2;
        }
        const float err = error_of(this_scale, this_min, Laux);
        if (err < best_error) {
            for (int i = 0; i < n; ++i) L[i] = Laux[i];
            codes_from = search_rounding{iscale, min, false};  // min before this step's update: the one Laux used
            best_error = err;
            scale = this_scale;
            min = this_min;
        }
    }
    *neg_min = -min;
    if (rounding) *rounding = codes_from;
    return scale;
}

// Non-negative values (sub-block scales or mins) to codes in [0, nmax] with a
// weighted MSE search over 8 nearby scales, then code sweeps as in Q3_K (ggml's
// make_qp_quants, used by the importance-matrix K-quants).
inline float fit_positive(int n, int nmax, const float* x, std::uint8_t* L, const float* qw) noexcept {
    float max = 0.0f;
    for (int i = 0; i < n; ++i) max = max > x[i] ? max : x[i];
    if (max < group_max_eps) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.0f;
    }
    float iscale = static_cast<float>(nmax) / max;
    for (int i = 0; i < n; ++i) L[i] = static_cast<std::uint8_t>(nearest_int(iscale * x[i]));
    const float scale = 1.0f / iscale;
    float best_mse = 0.0f;
    for (int i = 0; i < n; ++i) {
        const float diff = x[i] - mul(scale, static_cast<float>(L[i]));
        best_mse += mul(qw[i] * diff, diff);
    }
    for (int step = -4; step <= 4; ++step) {
        if (step == 0) continue;
        const float iscale_try = (mul(0.1f, static_cast<float>(step)) + static_cast<float>(nmax)) / max;
        const float scale_try = 1.0f / iscale_try;
        float mse = 0.0f;
        for (int i = 0; i < n; ++i) {
            const int l = std::min(nmax, nearest_int(iscale_try * x[i]));
            const float diff = x[i] - mul(scale_try, static_cast<float>(l));
            mse += mul(qw[i] * diff, diff);
        }
        if (mse < best_mse) {
            best_mse = mse;
            iscale = iscale_try;
        }
    }
    float sumlx = 0.0f;
    float suml2 = 0.0f;
    for (int i = 0; i < n; ++i) {
        const int l = std::min(nmax, nearest_int(iscale * x[i]));
        L[i] = static_cast<std::uint8_t>(l);
        const float w = qw[i];
        sumlx += mul(w * x[i], static_cast<float>(l));
        suml2 += mul(w * static_cast<float>(l), static_cast<float>(l));
    }
    for (int sweep = 0; sweep < 5; ++sweep) {
        int changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = qw[i];
            const float li = static_cast<float>(L[i]);
            float slx = sumlx - mul(w * x[i], li);
            float sl2 = suml2 - mul(w * li, li);
            if (!(slx > 0.0f && sl2 > 0.0f)) continue;
            const int nl = std::min(nmax, nearest_int(x[i] * sl2 / slx));
            if (nl == L[i]) continue;
            slx += mul(w * x[i], static_cast<float>(nl));
            sl2 += mul(w * static_cast<float>(nl), static_cast<float>(nl));
            if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = static_cast<std::uint8_t>(nl);
                sumlx = slx;
                suml2 = sl2;
                ++changed;
            }
        }
        if (changed == 0) break;
    }
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// ---- importance weights (ggml's quantize_q*_*_impl and the K-quants) ------------------
// sigma2 is the mean square of the whole row; each value's weight is
// qw * sqrt(sigma2 + x^2).
inline float row_mean_square(const float* x, std::int64_t n) noexcept {
    float sum = 0.0f;
    for (std::int64_t j = 0; j < n; ++j) sum += mul(x[j], x[j]);
    return sum / static_cast<float>(n);
}

inline void importance(const float* x, const float* qw, float sigma2, int n, float* w) noexcept {
    for (int j = 0; j < n; ++j) w[j] = mul(qw[j], std::sqrt(sigma2 + mul(x[j], x[j])));
}

// Sum of squares of one 256-value super-block (the K-quants' and i-quants'
// sigma2 is per super-block; each scales it its own way).
inline float superblock_sum_squares(const float* x) noexcept {
    float sum = 0.0f;
    for (int j = 0; j < qk_k; ++j) sum += mul(x[j], x[j]);
    return sum;
}

// importance(), and the sum of the n weights (the K-quants weigh each
// sub-block's scale by it).
inline float importance_sum(const float* x, const float* qw, float sigma2, int n, float* w) noexcept {
    importance(x, qw, sigma2, n, w);
    float sumw = 0.0f;
    for (int l = 0; l < n; ++l) sumw += w[l];
    return sumw;
}

}  // namespace detail
}  // namespace gguf
}  // namespace lowbit

#include "fp_contract_off_end.inl"
