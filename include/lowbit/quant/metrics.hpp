// lowbit/quant/metrics.hpp — how far an approximation is from a reference.
// docs/concepts.md, "Reading SQNR".
//
//   mse     = mean (a - r)^2
//   sqnr_db = 10 log10( sum r^2 / sum (a - r)^2 )   (+Inf when exact; each 6.02 dB ~ one bit)
//   cosine  = <r, a> / (|r| |a|)                     (1 when both are zero)
//   max_abs = max |a - r|
// Sums are in double and in a fixed order, so results are deterministic.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

#include "../core/views.hpp"

namespace lowbit {

// Running sums; merge() combines partial results (in a fixed order for determinism).
struct error_accumulator {
    double sum_ref2 = 0, sum_app2 = 0, sum_dot = 0, sum_err2 = 0, max_abs = 0;
    std::size_t n = 0;

    void add(float ref, float app) noexcept {
        const double r = ref, a = app, e = a - r;
        sum_ref2 += r * r;
        sum_app2 += a * a;
        sum_dot += r * a;
        sum_err2 += e * e;
        max_abs = std::max(max_abs, std::fabs(e));
        ++n;
    }
    void merge(const error_accumulator& o) noexcept {
        sum_ref2 += o.sum_ref2;
        sum_app2 += o.sum_app2;
        sum_dot += o.sum_dot;
        sum_err2 += o.sum_err2;
        max_abs = std::max(max_abs, o.max_abs);
        n += o.n;
    }
};

struct error_stats {
    double mse = 0, sqnr_db = 0, cosine = 1, max_abs = 0;
    double rel_error = 0;  // ||a - r|| / ||r|| (0 when both are zero)
    std::size_t n = 0;

    static error_stats from(const error_accumulator& a) noexcept {
        error_stats s;
        s.n = a.n;
        s.mse = a.n ? a.sum_err2 / static_cast<double>(a.n) : 0.0;
        s.max_abs = a.max_abs;
        const double inf = std::numeric_limits<double>::infinity();
        s.sqnr_db = a.sum_err2 == 0 ? inf : a.sum_ref2 == 0 ? -inf : 10.0 * std::log10(a.sum_ref2 / a.sum_err2);
        const double den = std::sqrt(a.sum_ref2) * std::sqrt(a.sum_app2);
        s.cosine = den > 0 ? a.sum_dot / den : (a.sum_ref2 == 0 && a.sum_app2 == 0 ? 1.0 : 0.0);
        s.rel_error = a.sum_ref2 > 0 ? std::sqrt(a.sum_err2 / a.sum_ref2) : (a.sum_err2 > 0 ? inf : 0.0);
        return s;
    }
};

inline error_stats compare(span<const float> ref, span<const float> approx) noexcept {
    error_accumulator acc;
    const std::size_t n = std::min(ref.size(), approx.size());
    for (std::size_t i = 0; i < n; ++i) acc.add(ref[i], approx[i]);
    return error_stats::from(acc);
}

inline error_stats compare(matrix_view<const float> ref, matrix_view<const float> approx) noexcept {
    error_accumulator acc;
    const std::size_t rows = std::min(ref.rows(), approx.rows()), cols = std::min(ref.cols(), approx.cols());
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) acc.add(ref(r, c), approx(r, c));
    return error_stats::from(acc);
}

}  // namespace lowbit
