// lowbit/algo/smoothquant.hpp — SmoothQuant (Xiao et al., 2023): migrate
// activation outliers into the weights before W8A8 quantization, and the
// per-token int8 activation quantization it pairs with. docs/ptq.md.
//
//   s_j = max(max_t |X_tj|^a / max_i |W_ij|^(1-a), 1e-5),  a = 0.5  (reference:
//   act_scales.pow(a) / weight_scales.pow(1-a), weight_scales clamped to >= 1e-5)
//   X' = X diag(1/s),  W' = W diag(s),  X' W'^T = X W^T exactly.
// The caller folds 1/s into the previous op (a LayerNorm's gain) and
// quantizes W' (per channel, 8 bits in the paper) and X' per token at run time.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../core/status.hpp"
#include "../core/views.hpp"
#include "../pack/qmatrix.hpp"

namespace lowbit {

// max_t |x_tj| per column (the statistic SmoothQuant calibrates; merge batches with max).
inline std::vector<float> column_absmax(matrix_view<const float> x) {
    std::vector<float> m(x.cols(), 0.0f);
    for (std::size_t t = 0; t < x.rows(); ++t)
        for (std::size_t j = 0; j < x.cols(); ++j) m[j] = std::max(m[j], std::fabs(x(t, j)));
    return m;
}

inline result<std::vector<float>> smoothquant_scales(span<const float> act_absmax, matrix_view<const float> w, float alpha = 0.5f) {
    if (act_absmax.size() != w.cols())
        return status::error(errc::shape_mismatch, "act_absmax has %zu entries, w has %zu columns", act_absmax.size(), w.cols());
    if (!(alpha >= 0.0f && alpha <= 1.0f)) return status::error(errc::invalid_argument, "alpha = %g, must be in [0, 1]", static_cast<double>(alpha));
    LOWBIT_TRY(detail::check_finite(w, "w"));
    LOWBIT_TRY(lowbit::detail::check_span(act_absmax, "act_absmax"));
    std::vector<float> s(w.cols());
    for (std::size_t j = 0; j < w.cols(); ++j) {
        if (!std::isfinite(act_absmax[j])) return status::error(errc::non_finite, "act_absmax[%zu] = %g is not finite", j, static_cast<double>(act_absmax[j]));
        if (act_absmax[j] < 0.0f)  // pow(negative, alpha) would be a NaN scale
            return status::error(errc::invalid_argument, "act_absmax[%zu] = %g is negative", j, static_cast<double>(act_absmax[j]));
        float wmax = 0;
        for (std::size_t i = 0; i < w.rows(); ++i) wmax = std::max(wmax, std::fabs(w(i, j)));
        const double v = std::pow(static_cast<double>(act_absmax[j]), alpha) / std::pow(std::max(static_cast<double>(wmax), 1e-5), 1.0 - alpha);
        s[j] = static_cast<float>(std::max(v, 1e-5));
    }
    return s;
}

// Symmetric int8 per row (token): x ~ scale_t * code, scale_t = max_j |x_tj| / 127, codes in [-127, 127].
struct int8_rows {
    std::vector<std::int8_t> codes;
    std::vector<float> scales;
    std::size_t rows = 0, cols = 0;
};

inline result<int8_rows> quantize_per_token_int8(matrix_view<const float> x) {
    LOWBIT_TRY(detail::check_finite(x, "x"));
    int8_rows q;
    q.rows = x.rows();
    q.cols = x.cols();
    q.codes.resize(x.rows() * x.cols());
    q.scales.resize(x.rows());
    for (std::size_t t = 0; t < x.rows(); ++t) {
        float m = 0;
        for (std::size_t j = 0; j < x.cols(); ++j) m = std::max(m, std::fabs(x(t, j)));
        const float s = m / 127.0f;
        q.scales[t] = s;
        for (std::size_t j = 0; j < x.cols(); ++j)
            q.codes[t * x.cols() + j] = static_cast<std::int8_t>(s > 0 ? std::max(-127.0f, std::min(127.0f, std::nearbyint(x(t, j) / s))) : 0.0f);
    }
    return q;
}

inline status dequantize_per_token_int8(const int8_rows& q, matrix_view<float> out) {
    if (out.rows() != q.rows || out.cols() != q.cols)
        return status::error(errc::shape_mismatch, "out is %zu x %zu, the int8 rows are %zu x %zu", out.rows(), out.cols(), q.rows, q.cols);
    if (q.codes.size() != q.rows * q.cols || q.scales.size() != q.rows)
        return status::error(errc::shape_mismatch, "the int8 rows hold %zu codes and %zu scales, expected %zu and %zu", q.codes.size(),
                             q.scales.size(), q.rows * q.cols, q.rows);
    LOWBIT_TRY(detail::check_view(out, "out"));
    for (std::size_t t = 0; t < q.rows; ++t)
        for (std::size_t j = 0; j < q.cols; ++j) out(t, j) = q.scales[t] * static_cast<float>(q.codes[t * q.cols + j]);
    return {};
}

}  // namespace lowbit
