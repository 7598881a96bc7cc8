// lowbit/quant/calibrate.hpp — choosing the range [lo, hi] that a group's
// scale must cover. docs/concepts.md, "Calibration".
//
//   minmax      lo = min x, hi = max x: no clipping; outliers set the step.
//   percentile  lo, hi = the (100 - p)th and p-th percentiles (linear
//               interpolation between order statistics, as numpy's default).
//   mse         grid search over a shrink factor f = 1 - i/grid, i < max_shrink*grid,
//               of the range [f*lo, f*hi], minimising sum |x^ - x|^norm. The
//               defaults (grid 100, max shrink 0.8, norm 2.4) are those of the
//               GPTQ reference quantizer's `mse` option; f = 1 (minmax) is the first
//               candidate and only a strictly smaller error replaces it, so the
//               search is never worse than minmax in its own objective.
//
// The MSE search gives the answer of trying every candidate in order (the
// first of the smallest error), for a fraction of the cost (issue 20 item 4):
//   - each candidate's error is a vectorizable loop (quant/step_error.hpp);
//   - a candidate stops as soon as its partial error reaches the best so far;
//   - clipping bound: a value beyond a candidate's outermost levels errs by at
//     least its distance to them, and a candidate whose levels lie inside
//     another's clips each such value at least as far. So once candidate i's
//     clipped values alone cost >= the best error, no candidate whose levels
//     lie within i's can win, and it is skipped; symmetric ranges shrink with
//     the shrink factor, so the search ends there.
// 1-bit symmetric groups, norms below 1 and steps whose reciprocal overflows
// take the scalar loop (detail::range_error).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

#include "../core/status.hpp"
#include "params.hpp"
#include "step_error.hpp"

namespace lowbit {

namespace calibrate {
struct minmax {};
struct percentile {
    float p = 99.9f;
};
struct mse {
    int grid = 100;
    float max_shrink = 0.8f;
    float norm = 2.4f;
};
}  // namespace calibrate

// The run-time form of a calibration method, built implicitly from the tags above.
struct calibration {
    enum class method : std::uint8_t { minmax, percentile, mse };
    method kind = method::minmax;
    float percentile = 99.9f;
    int grid = 100;
    float max_shrink = 0.8f;
    float norm = 2.4f;

    calibration() noexcept = default;
    calibration(calibrate::minmax) noexcept {}
    calibration(calibrate::percentile p) noexcept : kind(method::percentile), percentile(p.p) {}
    calibration(calibrate::mse m) noexcept : kind(method::mse), grid(m.grid), max_shrink(m.max_shrink), norm(m.norm) {}

    status validate() const noexcept {
        if (static_cast<int>(kind) > static_cast<int>(method::mse))  // a value cast from an int, or unset memory
            return status::error(errc::invalid_argument, "calibration.kind = %d is not a method (minmax 0, percentile 1, mse 2)",
                                 static_cast<int>(kind));
        if (kind == method::percentile && !(percentile > 50.0f && percentile <= 100.0f))
            return status::error(errc::invalid_argument, "calibration.percentile = %g, must be in (50, 100]",
                                 static_cast<double>(percentile));
        if (kind == method::mse) {
            if (grid < 1 || grid > 100000)
                return status::error(errc::invalid_argument, "calibration.grid = %d, must be 1..100000", grid);
            if (!(max_shrink >= 0.0f && max_shrink < 1.0f))
                return status::error(errc::invalid_argument, "calibration.max_shrink = %g, must be in [0, 1)",
                                     static_cast<double>(max_shrink));
            if (!(norm > 0.0f && norm <= 16.0f))
                return status::error(errc::invalid_argument, "calibration.norm = %g, must be in (0, 16]",
                                     static_cast<double>(norm));
        }
        return {};
    }
    const char* name() const noexcept {
        return kind == method::minmax ? "minmax" : kind == method::percentile ? "percentile" : "mse";
    }
};

// A block of values sharing one scale: rows x cols with a row stride (a slice
// of one row for per-group/per-channel, the whole matrix for per-tensor).
struct value_block {
    const float* data;
    std::size_t rows, cols, stride;
    std::size_t size() const noexcept { return rows * cols; }
    template <class F>
    void for_each(F&& f) const {
        for (std::size_t r = 0; r < rows; ++r)
            for (std::size_t c = 0; c < cols; ++c) f(data[r * stride + c]);
    }
};

namespace detail {
inline float quantile_sorted(const float* v, std::size_t n, double q) noexcept {
    const double pos = q * static_cast<double>(n - 1);
    const std::size_t i = static_cast<std::size_t>(pos);
    if (i + 1 >= n) return v[n - 1];
    const double frac = pos - static_cast<double>(i);
    return static_cast<float>(v[i] + frac * (static_cast<double>(v[i + 1]) - v[i]));
}

// sum |x^ - x|^norm over the block, the scalar way (1-bit symmetric groups,
// norms below 1, steps whose reciprocal overflows); stops early (returning a
// value >= bound) once the partial sum reaches `bound`, since that candidate
// cannot win. The power is taken in double, as the fast path's s^norm: the
// two agree on groups of tiny or huge values, where a float power would
// underflow to 0 or overflow.
inline double range_error(const value_block& b, const qparams& p, int bits, bool symmetric, float norm,
                          double bound) noexcept {
    double err = 0.0;
    const bool l2 = norm == 2.0f;
    for (std::size_t r = 0; r < b.rows; ++r) {
        const float* x = b.data + r * b.stride;
        for (std::size_t c = 0; c < b.cols; ++c) {
            const float q = dequantize_value(quantize_value(x[c], p.scale, p.zero, bits, symmetric), p.scale, p.zero);
            const float e = std::fabs(q - x[c]);
            err += l2 ? static_cast<double>(e) * e : std::pow(static_cast<double>(e), static_cast<double>(norm));
            if ((c & 15u) == 15u && err >= bound) return err;
        }
        if (err >= bound) return err;
    }
    return err;
}

// The error of one candidate (sum |x^ - x|^norm) and the part of it from
// clipped values, both partial once the total reaches `bound`.
struct candidate_error {
    double total, clipped;
    float lo_level, hi_level;  // outermost levels s*(qmin - z), s*(qmax - z)
};
inline candidate_error evaluate_candidate(const value_block& b, const qparams& p, int bits, bool symmetric, float norm,
                                          double bound) noexcept {
    const float kmin = static_cast<float>(min_code(bits, symmetric)) - p.zero, kmax = static_cast<float>(max_code(bits)) - p.zero;
    const step_candidate sc{p.scale, 1.0f / p.scale, kmin, kmax, p.scale * kmin, p.scale * kmax};
    const bool l2 = norm == 2.0f;
    if ((symmetric && bits == 1) || norm < 1.0f || !std::isfinite(sc.inv)) {  // no clipping bound from this path
        return {range_error(b, p, bits, symmetric, norm, bound), 0.0, sc.lo_level, sc.hi_level};
    }
    // Errors come back in steps: scale by s^norm (in double: no overflow or underflow).
    const double s = p.scale, sp = l2 ? s * s : std::pow(s, static_cast<double>(norm));
    const double step_bound = bound / sp;
    const step_error_sums e = l2 ? step_errors<true>(b.data, b.rows, b.cols, b.stride, sc, norm, step_bound)
                                 : step_errors<false>(b.data, b.rows, b.cols, b.stride, sc, norm, step_bound);
    return {e.total * sp, e.clipped * sp, sc.lo_level, sc.hi_level};
}

// calibrate::mse over candidates f = 1 - i/grid, i < max_shrink*grid; `best`
// is the minmax candidate (i = 0, scale > 0). The result is the first
// candidate of smallest error, as trying each in turn (see the top).
inline qparams mse_search(const value_block& b, float lo, float hi, qparams best, const calibration& c, int bits,
                          bool symmetric, scale_type st) noexcept {
    const candidate_error first = evaluate_candidate(b, best, bits, symmetric, c.norm, std::numeric_limits<double>::infinity());
    double best_err = first.total;
    bool have_box = false;  // levels of a candidate whose clipped values alone cost >= best_err
    float box_lo = 0.0f, box_hi = 0.0f;
    auto note_box = [&](const candidate_error& e) {
        if (!(e.clipped >= best_err)) return;  // NaN (a power overflowing at norm 16): no bound
        have_box = true;
        box_lo = e.lo_level;
        box_hi = e.hi_level;
    };
    note_box(first);
    const int steps = static_cast<int>(c.max_shrink * static_cast<float>(c.grid));
    for (int i = 1; i < steps; ++i) {
        const float f = 1.0f - static_cast<float>(i) / static_cast<float>(c.grid);
        const qparams p = params_for_range(f * lo, f * hi, bits, symmetric, st);
        if (!(p.scale > 0.0f)) break;
        const float kmin = static_cast<float>(min_code(bits, symmetric)) - p.zero, kmax = static_cast<float>(max_code(bits)) - p.zero;
        if (have_box && p.scale * kmin >= box_lo && p.scale * kmax <= box_hi) {
            if (symmetric) break;  // every later candidate's levels lie inside this one's
            continue;
        }
        const candidate_error e = evaluate_candidate(b, p, bits, symmetric, c.norm, best_err);
        if (e.total < best_err) {
            best_err = e.total;
            best = p;
        }
        note_box(e);
    }
    return best;
}
}  // namespace detail

// Parameters for one block of finite values. `scratch` must hold b.size()
// floats when c.kind == percentile (unused otherwise).
inline qparams calibrate_block(const value_block& b, const calibration& c, int bits, bool symmetric, scale_type st,
                               float* scratch) noexcept {
    float lo = std::numeric_limits<float>::infinity(), hi = -lo;
    if (c.kind == calibration::method::percentile) {
        std::size_t n = 0;
        b.for_each([&](float x) { scratch[n++] = x; });
        std::sort(scratch, scratch + n);
        const double q = static_cast<double>(c.percentile) / 100.0;
        lo = detail::quantile_sorted(scratch, n, 1.0 - q);
        hi = detail::quantile_sorted(scratch, n, q);
        return params_for_range(lo, hi, bits, symmetric, st);
    }
    b.for_each([&](float x) {
        lo = std::min(lo, x);
        hi = std::max(hi, x);
    });
    qparams best = params_for_range(lo, hi, bits, symmetric, st);
    if (c.kind == calibration::method::minmax || !(best.scale > 0.0f)) return best;

    return detail::mse_search(b, lo, hi, best, c, bits, symmetric, st);
}

template <int Bits, bool Symmetric, class Codec>
inline group_params<Codec> calibrate_block(const value_block& b, const calibration& c, float* scratch) noexcept {
    return group_params<Codec>::from(calibrate_block(b, c, Bits, Symmetric, Codec::value, scratch));
}

}  // namespace lowbit
