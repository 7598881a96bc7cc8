// lowbit/quant/calibrate.hpp — choosing the range [lo, hi] that a group's
// scale must cover. docs/concepts.md, "Calibration".
//
//   minmax      lo = min x, hi = max x: no clipping; outliers set the step.
//   percentile  lo, hi = the (100 - p)th and p-th percentiles (linear
//               interpolation between order statistics, as numpy's default).
//   mse         minimises sum |x^ - x|^norm over the steps of the range
//               [f*lo, f*hi], f = 1 - i/grid, i < max_shrink*grid (the defaults,
//               grid 100, max shrink 0.8, norm 2.4, are those of the GPTQ
//               reference quantizer's `mse` option), and over the steps that
//               refit to the codes from there.
//
// The search (issue 20 item 4) evaluates 3 to 17 candidates per group instead
// of one per grid candidate (80), and finds a smaller error over a tensor:
//   1. min/max and a coarse set of up to 7 (by default i = 2, 5, 9, 14, 22,
//      35, 55 of the default grid, denser near f = 1: the best of 4- and
//      8-bit groups mostly lies below i = 10), then up to three times the
//      two at half the distance from the best to its nearest tried
//      neighbours. Steps here are f * s0, unrounded, with min/max's zero
//      point, up to four candidates per pass over the values
//      (quant/detail/fit_simd.hpp; min/max itself in the first);
//   2. from the best, rounded to a storable step: one or two rounds of "codes
//      for the step, then the step (and zero point) that fit those codes
//      best" -- least squares at norm 2, weighted by |x^ - x|^(norm-2)
//      otherwise. A refit is not on the grid and often beats every grid
//      candidate, which makes up for the groups where stage 1 misses the
//      grid's best. Asymmetric: two zero points each round (see refit).
// How many of each, by width, symmetry, block size and norm: mse_searcher::plan_for
// (8-bit and asymmetric groups: no levels and one refit round; symmetric
// groups of 4 to 7 bits: one refit round).
// At norms other than 2, stage 1 skips a candidate whose lower bound (the
// clipping of the group's extremes: clip_bound) is at least the best error so
// far, and with lowbit::compiled's 16-lane passes groups of 16 to 64 are
// searched 16 at a time, one a vector lane (calibrate_groups, mse_lanes):
// neither changes any group's result.
// Only storable candidates (min/max, stage 2's) are returned, the first of the
// smallest error; min/max is the first, so the result is never worse than
// min/max in the search's own objective. Measured against trying every
// candidate (tests/test_quant_mse.cpp keeps that search as the reference): the
// error summed over a tensor is lower; on single groups it can be higher
// (docs/concepts.md, "Calibration", has the figures).
// 1-bit symmetric groups (sign codes), norms below 1 and steps whose
// reciprocal overflows try every candidate with the scalar loop (detail::mse_scan).
// Symmetric 2-bit groups of up to 256 finite values at norm 2 take none of the
// above: the least-squares step over every real step has a closed form there
// (detail::ternary_l2_search: a sort and one sweep), stored as its nearest
// storable step or the one on its other side, whichever errs less, unless
// min/max's errs no more.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

#include "../core/status.hpp"
#include "detail/fit_simd.hpp"
#include "detail/ternary_l2.hpp"
#include "params.hpp"

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

// Parameters for one block of finite values (defined below; mse_lanes hands
// it the groups its search does not take).
inline qparams calibrate_block(const value_block& b, const calibration& c, int bits, bool symmetric, scale_type st,
                               float* scratch) noexcept;

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

// A storable candidate for step s and zero point z (asymmetric; rounded and
// clamped to the code range), or scale 0 where there is none (s not positive
// or the stored step overflowing, as params_for_range's cap).
inline qparams params_for_step(double s, double z, int bits, bool symmetric, scale_type st) noexcept {
    qparams p;
    if (!(s > 0.0) || !(s <= std::numeric_limits<float>::max())) return p;
    p.stored_scale = encode_scale(st, static_cast<float>(s));
    p.scale = decode_scale(st, p.stored_scale);
    if (!(p.scale > 0.0f) || !std::isfinite(p.scale)) return qparams{};
    if (symmetric) {
        p.zero = symmetric_zero(bits);
    } else {
        const double zc = std::min(std::max(std::nearbyint(z), 0.0), static_cast<double>(max_code(bits)));
        p.stored_zero = static_cast<std::uint8_t>(zc);
        p.zero = static_cast<float>(zc);
    }
    if (static_cast<double>(p.scale) * max_level(bits, symmetric, p.zero) > std::numeric_limits<float>::max()) return qparams{};
    return p;
}

// calibrate::mse for groups the vector pass handles (see the top).
class mse_searcher {
public:
    // unit: min/max's step, the unit of every error the passes return.
    mse_searcher() noexcept : b_{nullptr, 0, 0, 0}, unit_(1.0f), bits_(8), sym_(true), st_(scale_type::f32), wide_(nullptr) {}
    mse_searcher(const value_block& b, const calibration& c, int bits, bool symmetric, scale_type st, float unit) noexcept
        : b_(b), c_(c), unit_(unit), bits_(bits), sym_(symmetric), st_(st), wide_(fit16_active()) {}

    // The error of step s and zero point z, sum |x^ - x|^norm in units of
    // min/max's step (norm 2 but for the pow modes), and, for the
    // *_fit modes, the refit sums.
    template <fit_mode M>
    fit_sums pass(float s, float z) const noexcept {
        return pass_with<M>(s, z, [this](fit_candidate& c) { set_tnorm(&c, 1); });
    }
    template <fit_mode M>
    fit_sums pass(const qparams& p) const noexcept {
        return pass<M>(p.scale, p.zero);
    }
    // The same with the candidate's tnorm given.
    template <fit_mode M>
    fit_sums pass(const qparams& p, double tnorm) const noexcept {
        return pass_with<M>(p.scale, p.zero, [tnorm](fit_candidate& c) { c.tnorm = tnorm; });
    }
    // Both: a step that is not positive with a finite inverse errs +inf; for
    // the others set_t sets the candidate's tnorm, then the pass runs.
    template <fit_mode M, class SetT>
    fit_sums pass_with(float s, float z, SetT set_t) const noexcept {
        fit_candidate c = candidate_base(s, z);
        if (!(s > 0.0f) || !std::isfinite(c.inv)) {
            fit_sums r;
            r.err = std::numeric_limits<double>::infinity();
            return r;
        }
        set_t(c);
        return fit_pass<M>(b_.data, b_.rows, b_.cols, b_.stride, c, c_.norm, wide_);
    }
    // x^0.4 for |x - 1| <= 1/16: the binomial series to x^6 (truncation
    // below 2e-9 there), a few multiply-adds instead of a log and an exp.
    static double pow04_near1(double x) noexcept {
        const double d = x - 1.0;
        return 1.0 + d * (0.4 + d * (-0.12 + d * (0.064 + d * (-0.0416 + d * (0.029952 + d * -0.0229632)))));
    }
    fit_candidate candidate(float s, float z) const noexcept {
        fit_candidate c = candidate_base(s, z);
        set_tnorm(&c, 1);
        return c;
    }
    // g^0.4 and 1/g for g = top - j/100 (1.5 down to 0.2): the default
    // grid's f = 1 - i/100 at j = at_one + i, and the points nearest any other
    // step's f (search's tnorm_of).
    struct pow04_table {
        static constexpr double top = 1.5;
        static constexpr int size = 131, at_one = 50;
        double pow04[size], inv[size];
        pow04_table() noexcept {
            for (int j = 0; j < size; ++j) {
                const double g = top - j / 100.0;
                pow04[j] = std::pow(g, 0.4);
                inv[j] = 1.0 / g;
            }
        }
    };
    static const pow04_table& pow04_steps() noexcept {
        static const pow04_table t;
        return t;
    }
    // What the search tries, by width, symmetry, block size and norm (issue
    // 20 item 4): the coarse set (shrinks 1 - f in hundredths of the default
    // grid, increasing), how many halving levels follow, how many refit
    // rounds. Chosen on the bench's group schemes (and 5 to 7 bits in groups
    // of 32 and 128) at norms 2.4 and 2 against the exhaustive search's
    // error summed over a tensor (three weights of 16, 64 and 128 rows:
    // docs/history/mse-search.md, "Branch mse23", "Branch mse24";
    // tests/test_quant_mse.cpp checks it):
    //   groups of up to 256 values at norms 2.4 and 2:
    //     8 bits: min/max and i = 2, no levels, one refit round (the bound
    //       drops nearly every grid candidate; the refit alone ends 1-4 %
    //       below the exhaustive search's sum);
    //     asymmetric, 1 to 7 bits: i = 2, 6, 14, 30 (min/max and four: one
    //       pass of four and one of one, where the dense set took two of
    //       four), no levels, one refit round (the two zero points of a
    //       round win 0.2-1.5 % over the grid's best, more than the levels'
    //       refinement or a denser coarse set add; three points -- 3, 10,
    //       30 or 2, 7, 20 and the like -- ended up to 0.7 % above);
    //     symmetric, 2 bits: every 10th of 10..70, 2 levels (the error has
    //       several basins over f; the dense set ended 0.01-0.04 % above
    //       the exhaustive search's sum on every weight);
    //     symmetric, 3 bits: a set spread further out, 3 levels, 2 refit
    //       rounds (the dense one ended 0.01-0.02 % above on the Student-t
    //       weight at norm 2; one refit round 0.007 % above on w3g64);
    //     symmetric, 4 to 7 bits: the dense set, 3 levels, one refit round
    //       (two levels ended 0.006 % above on w4g128); in groups of up to
    //       32 values i = 2, 6, 14 only (min/max and three: one pass; groups
    //       of 128 need the far points: 0.25 % above without 22, 35, 55);
    //   anything else (blocks over 256 values: per channel, per tensor;
    //   other norms): the dense set, 3 levels, 2 refit rounds. The dense
    //   set is denser near f = 1, where the best of 4- and 8-bit groups lies.
    struct plan {
        const int* coarse;
        int ncoarse, levels, refits;
    };
    static plan plan_for(int bits, bool symmetric, std::size_t size, float norm) noexcept {
        static constexpr int dense[] = {2, 5, 9, 14, 22, 35, 55}, eight[] = {2}, two[] = {10, 20, 30, 40, 50, 60, 70},
                             three[] = {3, 8, 14, 22, 32, 44, 60}, asym[] = {2, 6, 14, 30}, near[] = {2, 6, 14};
        if (size > 256 || (norm != 2.4f && norm != 2.0f)) return {dense, 7, 3, 2};
        if (bits == 8) return {eight, 1, 0, 1};
        if (!symmetric) return {asym, 4, 0, 1};
        if (bits == 2) return {two, 7, 2, 2};
        if (bits == 3) return {three, 7, 3, 2};
        if (size <= 32) return {near, 3, 3, 1};
        return {dense, 7, 3, 1};
    }
    // The first scan's grid indices: 0 (min/max), then the plan's coarse set
    // (the grid's nearest), increasing, below steps. Returns how many.
    static int coarse_set(const plan& pl, int grid, int steps, int (&tried)[8]) noexcept {
        int nt = 0;
        tried[nt++] = 0;
        for (int t = 0; t < pl.ncoarse; ++t) {
            const int i = static_cast<int>((static_cast<long long>(pl.coarse[t]) * grid + 50) / 100);
            if (i <= tried[nt - 1] || i >= steps) continue;
            tried[nt++] = i;
        }
        return nt;
    }
    // A candidate without its tnorm (0; set_tnorm sets it).
    fit_candidate candidate_base(float s, float z) const noexcept {
        return {s, 1.0f / s, 1.0f / unit_, static_cast<float>(min_code(bits_, sym_)) - z, static_cast<float>(max_code(bits_)) - z, 0.0};
    }
    // (s/u)^2.4 for the polynomial's sums (only norm 2.4 has them) of n <= 4
    // candidates at once, in float, r^0.4 by the passes' log2 and exp2
    // polynomials (relative error ~1e-6, well inside the slack of search):
    // a double std::pow cost as much as a pass over 32 values; float exp2f
    // and log2f were ~9 % of the search on groups of 32 (perf, w4g32a), and
    // the polynomials' latency (~100 cycles) is paid once for the candidates
    // of a scan. Lane for lane, so a candidate's tnorm does not depend on
    // the others.
    void set_tnorm(fit_candidate* fc, std::size_t n) const noexcept {
        if (c_.norm != 2.4f) return;
        alignas(16) float r[4] = {1.0f, 1.0f, 1.0f, 1.0f}, p[4];
        for (std::size_t j = 0; j < n; ++j) r[j] = fc[j].scale / unit_;
        fit::exp2_clamped(v4::f32x4(0.4f) * fit::log2_normal(v4::f32x4::load(r))).store(p);
        for (std::size_t j = 0; j < n; ++j) fc[j].tnorm = static_cast<double>(r[j] * r[j] * p[j]);
    }
    // The steps (and zero points) that minimise the weighted squares for the
    // codes of p: one symmetric; asymmetric, the zero points on either side of
    // the real-valued best, each with its step: rounding to the nearer alone
    // loses where the two are near a tie (the grid's own zero point flips
    // between them as the stored step rounds). Returns how many (0 to 2).
    int refit(const qparams& p, const fit_sums& r, qparams* out) const noexcept {
        int n = 0;
        if (sym_) {
            if (r.wk2 > 0.0) out[n] = params_for_step(p.scale * (r.wyk / r.wk2), 0.0, bits_, sym_, st_);
            return out[0].scale > 0.0f ? 1 : 0;
        }
        // y = x/s ~ a k + c over k = code - z: the zero point z - c/a; then a again for each integer one near it.
        const double det = r.w * r.wk2 - r.wk * r.wk;
        if (!(det > 0.0)) return 0;
        const double a = (r.w * r.wyk - r.wk * r.wy) / det;
        if (!(a > 0.0)) return 0;
        const double cc = (r.wy - a * r.wk) / r.w;
        const double zr = std::min(std::max(static_cast<double>(p.zero) - cc / a, 0.0), static_cast<double>(max_code(bits_)));
        const double z0 = std::floor(zr);
        for (const double z : {z0, z0 + 1.0}) {
            if (z > max_code(bits_) || (z > zr && z0 == zr)) continue;
            const double dz = z - p.zero;  // codes relative to the new zero: k - dz
            const double num = r.wyk - dz * r.wy, den = r.wk2 - 2.0 * dz * r.wk + dz * dz * r.w;
            if (!(den > 0.0) || !(num > 0.0)) continue;
            const qparams q = params_for_step(p.scale * (num / den), z, bits_, sym_, st_);
            if (q.scale > 0.0f) out[n++] = q;
        }
        return n;
    }

    // The grid's origin s0 (the step of [lo, hi] unrounded; min/max's if not
    // positive or above it) and what tnorm_of needs of a group: tnorm = (s/u)^2.4
    // of a candidate at norm 2.4 (the only norm whose passes need it):
    // (s/u)^2 (s0/u)^0.4 f^0.4, f = s/s0, with f^0.4 from a table (exactly,
    // for the default grid's steps) or from the table's nearest point g times
    // (f/g)^0.4 by a short series: no chain of the log2/exp2 polynomials per
    // candidate (set_tnorm), which cost ~15 % of the search on groups of 32
    // (perf), once (s0/u)^0.4 is known.
    struct step_model {
        float s0;
        bool n24, grid100;
        const pow04_table* t04;
        double s0_04, inv_s0, inv_u;  // (s0/u)^0.4 (s0/u is 1 up to the rounding of the stored step), 1/s0, 1/u
        float step_at(int i, int grid) const noexcept { return s0 * (1.0f - static_cast<float>(i) / static_cast<float>(grid)); }
    };
    step_model model(float lo, float hi, const qparams& mm) const noexcept {
        step_model m;
        if (sym_) {
            m.s0 = std::max(-lo, hi) / static_cast<float>((1 << (bits_ - 1)) - 1);
        } else {
            m.s0 = (std::max(hi, 0.0f) - std::min(lo, 0.0f)) / static_cast<float>(max_code(bits_));
        }
        if (!(m.s0 > 0.0f) || !(m.s0 <= mm.scale)) m.s0 = mm.scale;
        m.n24 = c_.norm == 2.4f;
        m.t04 = m.n24 ? &pow04_steps() : nullptr;
        m.grid100 = m.n24 && c_.grid == 100;
        m.s0_04 = 1.0;
        if (m.n24) {
            const double r0 = static_cast<double>(m.s0) / static_cast<double>(unit_);
            if (std::fabs(r0 - 1.0) <= 1.0 / 16.0) {
                m.s0_04 = pow04_near1(r0);
            } else {
                fit_candidate c0 = candidate_base(m.s0, mm.zero);
                set_tnorm(&c0, 1);
                m.s0_04 = c0.tnorm / (r0 * r0);
            }
        }
        m.inv_s0 = 1.0 / static_cast<double>(m.s0);
        m.inv_u = 1.0 / static_cast<double>(unit_);
        return m;
    }
    // tnorm of step s (steps outside [0.195, 1.505] s0 take the polynomials' chain).
    double tnorm_of(const step_model& m, float s) const noexcept {
        if (!m.n24) return 1.0;  // (unused: the passes' polynomial runs at norm 2.4 only)
        const double f = static_cast<double>(s) * m.inv_s0, r = static_cast<double>(s) * m.inv_u;
        const double x = (pow04_table::top - f) * 100.0 + 0.5;
        if (x >= 0.0 && x < static_cast<double>(pow04_table::size)) {
            const int i = static_cast<int>(x);
            return r * r * m.s0_04 * m.t04->pow04[i] * pow04_near1(f * m.t04->inv[i]);
        }
        fit_candidate c1 = candidate_base(s, 0.0f);
        set_tnorm(&c1, 1);
        return c1.tnorm;
    }
    // tnorm of grid candidate i (0: min/max) of step s.
    double tnorm_at(const step_model& m, int i, float s) const noexcept {
        if (i == 0) return 1.0;  // min/max: s = u
        if (m.grid100) {  // f = 1 - i/100: the table's g exactly
            const double r = static_cast<double>(s) * m.inv_u;
            return r * r * m.s0_04 * m.t04->pow04[pow04_table::at_one + i];
        }
        return tnorm_of(m, s);
    }

    // A lower bound on the error a scan computes for candidate f of a group
    // spanning [lo, hi]: what clipping the extremes costs, where they are
    // clipped by more than half a step (so the pass takes their power from
    // log2 and exp2, relative error ~1e-6, or squares them at norm 2; the float
    // rounding of x^ - x adds < 1e-3 of the term), d^norm >= d^n for d >= 1 and
    // d^(n+1) below (n = floor(norm)); every other term a pass adds is >= 0
    // (the t^2.4 polynomial is positive on [0, 1/2]), and 2 % is left for all
    // of that. Powers whose log2 the pass clamps (d^(norm-2) above 2^120) add
    // nothing here. A candidate whose bound is at least the best error so far
    // cannot replace it, so the search skips it: the same result, fewer passes
    // (8-bit groups: nearly every grid candidate below the first). Not at
    // norm 2, whose passes are cheap: there the bound and the smaller scans
    // it leaves were measured slower (bench_calibrate, docs/history/mse-search.md).
    // The bound's constants, once per search (an exp2 per candidate was ~2 %
    // of the search on groups of 32: perf).
    struct bound_consts {
        int npow;
        double dmax;
    };
    static bound_consts bound_for(float norm) noexcept {
        return {static_cast<int>(norm), norm > 2.0f ? std::exp2(120.0 / (static_cast<double>(norm) - 2.0))
                                                    : std::numeric_limits<double>::infinity()};
    }
    double clip_bound(const fit_candidate& f, float lo, float hi, const bound_consts& bc) const noexcept {
        const double sd = f.scale, edge = sd * (0.5 + 1.0 / 256.0), ui = f.unit_inv;
        const double over = static_cast<double>(hi) - sd * f.kmax, under = sd * f.kmin - static_cast<double>(lo);
        const double dh = over * ui, dl = under * ui;
        // (& of the comparisons, not &&: no branch on them; at norm 2.4,
        // d^2 min(d, 1) straight, the loop's products exactly: ~14 % of the
        // lanes search on groups of 16 went to this bound, perf)
        const double ph = ((over > edge) & (dh <= bc.dmax)) ? dh : 0.0;
        const double pl = ((under > edge) & (dl <= bc.dmax) & (lo != hi)) ? dl : 0.0;
        if (bc.npow == 2) return 0.98 * (ph * ph * std::min(ph, 1.0) + pl * pl * std::min(pl, 1.0));
        auto lowpow = [&](double d) {  // d >= 0
            double v = 1.0;
            for (int e = 0; e < bc.npow; ++e) v *= d;
            return v * std::min(d, 1.0);
        };
        return 0.98 * (lowpow(ph) + lowpow(pl));
    }
    // t^2.4 as a polynomial is off by at most 1.7e-5 steps^2.4 a value (and
    // the power of clipped values by ~1e-6 of it): where best's margin over
    // min/max is within what that can make up, the power of every value
    // settles it (2-bit groups of small values, most errors near 0). The
    // search's result at norms other than 2 (errors best_err and mm_err).
    qparams settle(const qparams& best, double best_err, const qparams& mm, double mm_err, const step_model& sm) const noexcept {
        if (c_.norm != 2.4f || same(best, mm)) return best;
        fit_candidate f2[2] = {candidate_base(mm.scale, mm.zero), candidate_base(best.scale, best.zero)};
        f2[0].tnorm = 1.0;  // (the exact scan below takes no polynomial: tnorm unused there)
        f2[1].tnorm = tnorm_of(sm, best.scale);
        const double slack = 1.8e-5 * static_cast<double>(b_.size()) * (1.0 + f2[1].tnorm) + 1e-5 * mm_err;
        if (!(best_err + slack < mm_err)) {
            double e2[2];
            scan_pass<true, 2>(b_.data, b_.rows, b_.cols, b_.stride, f2, c_.norm, e2, wide_, true);
            if (!(e2[1] < e2[0])) return mm;
        }
        return best;
    }
    static bool same(const qparams& x, const qparams& y) noexcept {
        return x.stored_scale == y.stored_scale && x.stored_zero == y.stored_zero;
    }

    qparams run(float lo, float hi, const qparams& mm) const noexcept {
        return c_.norm == 2.0f ? search<fit_mode::l2_error, fit_mode::l2_fit>(lo, hi, mm)
                               : search<fit_mode::pow_error, fit_mode::pow_fit>(lo, hi, mm);
    }

private:
    // The errors of n <= 4 candidates in one pass over the values.
    template <bool Pow>
    void scan(const fit_candidate* fc, std::size_t n, double* e) const noexcept {
        switch (n) {
            case 4: return scan_pass<Pow, 4>(b_.data, b_.rows, b_.cols, b_.stride, fc, c_.norm, e, wide_);
            case 3: return scan_pass<Pow, 3>(b_.data, b_.rows, b_.cols, b_.stride, fc, c_.norm, e, wide_);
            case 2: return scan_pass<Pow, 2>(b_.data, b_.rows, b_.cols, b_.stride, fc, c_.norm, e, wide_);
            case 1: return scan_pass<Pow, 1>(b_.data, b_.rows, b_.cols, b_.stride, fc, c_.norm, e, wide_);
            default: return;
        }
    }

    template <fit_mode Error, fit_mode Fit>
    qparams search(float lo, float hi, const qparams& mm) const noexcept {
        const plan pl = plan_for(bits_, sym_, b_.size(), c_.norm);
        const int levels = pl.levels, refits = pl.refits;
        const int steps = std::max(1, static_cast<int>(c_.max_shrink * static_cast<float>(c_.grid)));
        // 1. The grid's steps f * s0 (f = 1 - i/grid), unrounded and with
        //    min/max's zero point (the grid's, up to the rounding of the
        //    stored step): a coarse set, then halving distances around the best.
        const step_model sm = model(lo, hi, mm);
        auto step_at = [&](int i) { return sm.step_at(i, c_.grid); };
        constexpr bool pow_norm = Error == fit_mode::pow_error;
        double mm_err = 0.0, scan_err = std::numeric_limits<double>::infinity();
        int ib = 0;
        const bound_consts bc = bound_for(c_.norm);
        // Candidates go through the scan four (or two) at a time.
        int idx[4];
        fit_candidate fc[4] = {};  // (GCC 12 -O2 cannot see that scan reads only the n written)
        double e[4];
        std::size_t n = 0;
        auto tnorm_of = [&](float s) { return this->tnorm_of(sm, s); };
        auto flush = [&] {
            for (std::size_t j = 0; j < n; ++j) fc[j].tnorm = tnorm_at(sm, idx[j], fc[j].scale);
            scan<pow_norm>(fc, n, e);
            for (std::size_t j = 0; j < n; ++j) {
                if (idx[j] == 0) mm_err = e[j];
                if (e[j] < scan_err) {
                    scan_err = e[j];
                    ib = idx[j];
                }
            }
            n = 0;
        };
        auto try_i = [&](int i) {
            if (i <= 0 || i >= steps) return;  // (the caller saw to 1/step being finite down to f = 0.1)
            idx[n] = i;
            fc[n] = candidate_base(step_at(i), mm.zero);
            if (pow_norm && clip_bound(fc[n], lo, hi, bc) >= scan_err) return;  // cannot replace the best so far (clip_bound)
            if (++n == 4) flush();
        };
        // min/max first, in the first scan: the others replace it only where
        // strictly better. Then the coarse set (coarse_set): three with
        // min/max, four in the second scan.
        idx[0] = 0;
        fc[n++] = candidate_base(mm.scale, mm.zero);
        int tried[8];
        const int nt = coarse_set(pl, c_.grid, steps, tried);
        for (int t = 1; t < nt; ++t) try_i(tried[t]);
        if (n > 0) flush();
        // The plan's halving levels from the best towards its tried neighbours.
        int gl = 0, gr = steps - ib;
        for (int t = 0; t < nt; ++t) {
            if (tried[t] < ib) gl = ib - tried[t];
            if (tried[t] > ib) {
                gr = tried[t] - ib;
                break;
            }
        }
        for (int l = 0; l < levels && (gl > 1 || gr > 1); ++l) {
            const int center = ib;
            const int L = gl > 1 ? center - gl / 2 : -1, R = gr > 1 ? center + gr / 2 : -1;
            try_i(L);
            try_i(R);
            if (n > 0) flush();
            if (ib == L) {
                gr = center - L;
                gl -= center - L;
            } else if (ib == R) {
                gl = R - center;
                gr -= R - center;
            } else {
                if (L > 0) gl = center - L;
                if (R > 0) gr = R - center;
            }
        }
        double best_err = mm_err;
        // 2. Storable candidates: the best step, then alternate codes and
        //    (weighted) least-squares step (asymmetric: two zero points, the
        //    next round from the better); min/max stays in the running.
        qparams best = mm, cur[2];
        cur[0] = ib == 0 ? mm : params_for_step(step_at(ib), mm.zero, bits_, sym_, st_);
        if (!(cur[0].scale > 0.0f)) return best;
        int nc = 1;
        if (!sym_) {  // the zero point on the other side of the real-valued one (the grid's flips to it where the stored step rounds)
            const float zr = -std::min(lo, 0.0f) / sm.s0;
            const float z2 = mm.zero + (zr > mm.zero ? 1.0f : -1.0f);
            if (z2 >= 0.0f && z2 <= static_cast<float>(max_code(bits_))) {
                cur[1] = params_for_step(cur[0].scale, z2, bits_, sym_, st_);
                nc += cur[1].scale > 0.0f;
            }
        }
        for (int it = 0; nc > 0; ++it) {
            if (it == refits) {
                fit_candidate f2[2];
                double e2[2] = {0.0, 0.0};  // scan writes nc of them (GCC -O1 cannot see it)
                for (int j = 0; j < nc; ++j) {
                    f2[j] = candidate_base(cur[j].scale, cur[j].zero);
                    f2[j].tnorm = tnorm_of(cur[j].scale);
                }
                scan<pow_norm>(f2, static_cast<std::size_t>(nc), e2);
                for (int j = 0; j < nc; ++j)
                    if (e2[j] < best_err) {
                        best_err = e2[j];
                        best = cur[j];
                    }
                break;
            }
            fit_sums r, rj;
            int jb = 0;
            for (int j = 0; j < nc; ++j) {
                rj = pass<Fit>(cur[j], tnorm_of(cur[j].scale));
                if (j == 0 || rj.err < r.err) {
                    r = rj;
                    jb = j;
                }
            }
            if (r.err < best_err) {
                best_err = r.err;
                best = cur[jb];
            }
            const qparams from = cur[jb];
            qparams nx[2];
            const int m = refit(from, r, nx);
            nc = 0;
            for (int j = 0; j < m; ++j)
                if (!same(nx[j], from)) cur[nc++] = nx[j];
        }
        if (pow_norm) best = settle(best, best_err, mm, mm_err, sm);
        return best;
    }

    value_block b_;
    calibration c_;
    float unit_;  // errors are in min/max's steps
    int bits_;
    bool sym_;
    scale_type st_;
    const fit16_fns* wide_;  // the 16-lane passes (AVX-512F; the 4-lane ones' results) or null
};

// calibrate::mse for the rest (1-bit symmetric groups, norms below 1, steps
// whose reciprocal overflows): every candidate f = 1 - i/grid in turn, the
// first of the smallest error.
inline qparams mse_scan(const value_block& b, float lo, float hi, qparams best, const calibration& c, int bits,
                        bool symmetric, scale_type st) noexcept {
    double best_err = range_error(b, best, bits, symmetric, c.norm, std::numeric_limits<double>::infinity());
    const int steps = static_cast<int>(c.max_shrink * static_cast<float>(c.grid));
    for (int i = 1; i < steps; ++i) {
        const float f = 1.0f - static_cast<float>(i) / static_cast<float>(c.grid);
        const qparams p = params_for_range(f * lo, f * hi, bits, symmetric, st);
        if (!(p.scale > 0.0f)) break;
        const double e = range_error(b, p, bits, symmetric, c.norm, best_err);
        if (e < best_err) {
            best_err = e;
            best = p;
        }
    }
    return best;
}

// calibrate::mse at norm 2 for symmetric 2-bit blocks of up to ternary_l2_max
// values: the step of least squared error over every real step
// (detail/ternary_l2.hpp: a sort and one sweep, about what min/max's own
// parameters cost, where mse_searcher evaluates 15 candidates), then the
// storable step nearest it and the storable step on its other side, each
// kept only where its error is strictly below the best so far, from
// min/max's (mm): never worse than min/max, and below the exhaustive
// search's error wherever the grid's best step is no better than those two
// (the grid's steps are among the real ones). The errors are range_error's
// terms summed in another order (ternary_l2_error), without its nearbyint
// per value and candidate (a libm call in baseline x86-64 builds: with it,
// the three errors cost more than the search they replace, perf). The same code on every arch (no
// SIMD, no result that an FMA could change: ternary_l2.hpp). False for
// larger blocks, non-finite values and a min/max step of +Inf (mse_searcher
// takes those, as before).
// The schemes and norm that try ternary_l2_search: mse_search and
// mse_lanes::run must agree on them for the lanes to give calibrate_block's
// parameters.
inline bool takes_ternary_l2(int bits, bool symmetric, float norm) noexcept { return symmetric && bits == 2 && norm == 2.0f; }

inline bool ternary_l2_search(const value_block& b, const qparams& mm, scale_type st, qparams* out) noexcept {
    const std::size_t n = b.size();
    if (n > ternary_l2_max || !std::isfinite(mm.scale)) return false;  // (+Inf: an f16 step too large, which quantize refuses)
    float a[ternary_l2_max + 1];
    std::size_t i = 0;
    bool finite = true;
    b.for_each([&](float x) {
        a[i] = std::fabs(x);
        finite = finite && a[i] <= std::numeric_limits<float>::max();  // (false for NaN: the sort needs an order)
        ++i;
    });
    if (!finite || !sort_magnitudes_down(a, n)) return false;
    a[n] = 0.0f;
    const double s = ternary_l2_step(a, n);
    // The candidates: min/max's, the storable step nearest s and the one on
    // its other side (stored codes of positive steps are monotone: the next
    // code); a missing one is min/max's again, which cannot replace itself.
    qparams cand[3] = {mm, mm, mm};
    const qparams nearest = params_for_step(s, 0.0, 2, true, st);
    if (nearest.scale > 0.0f) {
        cand[1] = nearest;
        const double d = static_cast<double>(nearest.scale);
        if (d != s) {
            qparams other = nearest;
            other.stored_scale = d < s ? nearest.stored_scale + 1u : nearest.stored_scale - 1u;
            other.scale = decode_scale(st, other.stored_scale);  // (0 below the least step, +Inf above the largest: refused)
            if (other.scale > 0.0f && std::isfinite(other.scale)) cand[2] = other;
        }
    }
    const float steps[3] = {cand[0].scale, cand[1].scale, cand[2].scale};
    double err[3];
    ternary_l2_errors(a, n, steps, err);
    qparams best = mm;
    double best_err = err[0];
    for (int c = 1; c < 3; ++c)
        if (err[c] < best_err) {
            best_err = err[c];
            best = cand[c];
        }
    *out = best;
    return true;
}

inline qparams mse_search(const value_block& b, float lo, float hi, qparams best, const calibration& c, int bits,
                          bool symmetric, scale_type st) noexcept {
    if ((symmetric && bits == 1) || c.norm < 1.0f || !std::isfinite(10.0f / best.scale))
        return mse_scan(b, lo, hi, best, c, bits, symmetric, st);
    qparams t;
    if (takes_ternary_l2(bits, symmetric, c.norm) && ternary_l2_search(b, best, st, &t)) return t;
    return mse_searcher(b, c, bits, symmetric, st, best.scale).run(lo, hi, best);
}

// calibrate::mse's search over W groups of G values at once, one group a
// vector lane (W = lanes_width: 16 with the AVX-512F passes, else 4, or 8 in
// AVX2 builds), for groups of 16 to 256 values, a multiple of 16 (the sizes
// of per_group schemes): on small groups the one-group search's costs that do
// not shrink with the group -- a call, the constants and the flush to double
// per pass -- are paid once per W groups (calibrate_groups uses it where
// that was measured to pay: pays). The search is mse_searcher::search's, step for step, each lane
// with its own candidates (a lane that has none in a pass runs a dummy whose
// sums are dropped), and lanes_pass gives each group the one-group passes'
// sums bit for bit, so every group gets the parameters calibrate_block would
// give it (tests/test_quant_mse.cpp checks it on every width, both
// symmetries, norms 2.4, 2, 3, and groups of 16 to 256).
class mse_lanes {
public:
    static constexpr std::size_t max_lanes = 16, max_group = 256;
    // Whether groups of g values can take this search.
    static bool fits(std::size_t g) noexcept { return g >= 16 && g <= max_group && g % 16 == 0; }
    // Whether calibrate_groups gives it groups of g values at norm `norm`:
    // where it was measured faster than one group at a time (bench_calibrate,
    // docs/history/mse-search.md "Branch mse21", "Branch mse22"): groups of 16 to 64
    // at norms other than 2 (64 since the bounds run 4 lanes a vector:
    // w3g64 5.5x -> 4.7x min/max, w3g64a 7.0x -> 6.2x). Elsewhere the
    // per-lane scalar search between passes (building each lane's
    // candidates, the comparisons, from arrays) costs more than the
    // per-group calls and flushes it saves: norm 2's passes are cheap, and
    // groups of 128 already spread those costs over 8 vectors (there the
    // lanes were 0-8 % slower).
    static bool pays(std::size_t g, float norm) noexcept { return fits(g) && g <= 64 && norm != 2.0f; }

    // The parameters of groups x + l g, l < W = lanes_width(wide), into out;
    // c is mse, fits(g).
    static void run(const float* x, std::size_t g, const calibration& c, int bits, bool sym, scale_type st,
                    const fit16_fns* wide, qparams* out) noexcept {
        if (takes_ternary_l2(bits, sym, c.norm)) {  // the sweep's groups: no lanes search gives its result
            for (std::size_t l = 0; l < lanes_width(wide); ++l) out[l] = calibrate_block({x + l * g, 1, g, g}, c, bits, sym, st, nullptr);
            return;
        }
        mse_lanes s(x, g, c, bits, sym, st, wide, out);
        if (s.any_live_) {
            if (c.norm == 2.0f) {
                s.search<fit_mode::l2_error, fit_mode::l2_fit>();
            } else {
                s.search<fit_mode::pow_error, fit_mode::pow_fit>();
            }
        }
    }

private:
    using step_model = mse_searcher::step_model;

    mse_lanes(const float* x, std::size_t g, const calibration& c, int bits, bool sym, scale_type st, const fit16_fns* wide,
              qparams* out) noexcept
        : g_(g), W_(lanes_width(wide)), c_(c), bits_(bits), sym_(sym), st_(st), wide_(wide), out_(out) {
        // calibrate_block's range and min/max, and mse_search's choice of search, per group.
        const bool scalar_all = (sym && bits == 1) || c.norm < 1.0f;
        for (std::size_t l = 0; l < W_; ++l) {
            const float* v = x + l * g;
            const value_block b{v, 1, g, g};
            float lo = std::numeric_limits<float>::infinity(), hi = -lo;
            b.for_each([&](float y) {
                lo = std::min(lo, y);
                hi = std::max(hi, y);
            });
            lo_[l] = lo;
            hi_[l] = hi;
            mm_[l] = params_for_range(lo, hi, bits, sym, st);
            live_[l] = false;
            if (!(mm_[l].scale > 0.0f)) {
                out[l] = mm_[l];
            } else if (scalar_all || !std::isfinite(10.0f / mm_[l].scale)) {
                out[l] = mse_scan(b, lo, hi, mm_[l], c, bits, sym, st);
            } else {
                live_[l] = any_live_ = true;
                sr_[l] = mse_searcher(b, c, bits, sym, st, mm_[l].scale);
                sm_[l] = sr_[l].model(lo, hi, mm_[l]);
            }
        }
        if (!any_live_) return;
        // The groups transposed: value i of group l at xt_[i W + l].
        for (std::size_t l = 0; l < W_; ++l)
            for (std::size_t i = 0; i < g; ++i) xt_[i * W_ + l] = x[l * g + i];
    }

    // One pass of mode M over N candidates a group: lane l's candidate j is
    // fc's [j W + l] where use[j W + l] (else a dummy), its sums r's [j W + l].
    template <fit_mode M, std::size_t N>
    void eval(lane_batch& fc, const bool* use, lane_sums& r) const noexcept {
        for (std::size_t i = 0; i < N * W_; ++i)
            if (!use[i]) fc.set_dummy(i);
        lanes_pass<M, N>(xt_, g_, fc, c_.norm, r, wide_);
    }

    // mse_searcher::clip_bound for the W lanes' grid candidates of steps sc
    // (0: none), 4 lanes a vector, in float: cut[l] = 1 where lane l's bound
    // is at least its best error so far (best), else 0. Any lower bound of
    // the scan's error gives the search's result (a candidate it drops could
    // not have replaced the best), so this one need not be clip_bound's to
    // the bit: the float roundings of x - s kmax are < 1e-3 of d at d > 1/2,
    // well inside clip_bound's 2 % slack, and d above 2^(126 / (n + 1)),
    // whose power could overflow a float, counts 0 (a smaller bound; only
    // values that far out of the range take it). In double, lane by lane,
    // the bound cost more than the passes it saved on 2- and 4-bit groups of
    // 16 and 32 (bench_calibrate, docs/history/mse-search.md).
    void lane_bounds(const float* sc, const float* hi, const float* lo, const float* kmax, const float* kmin,
                     const float* ui, const float* best, int npow, float* cut) const noexcept {
        using v4::f32x4;
        const f32x4 zero(0.0f), one(1.0f), half(0.5f + 1.0f / 256.0f), slack(0.98f),
            cap(std::exp2(126.0f / static_cast<float>(npow + 1)));
        for (std::size_t l = 0; l < W_; l += 4) {
            const f32x4 s = f32x4::load(sc + l), u = f32x4::load(ui + l);
            const f32x4 edge = s * half;
            const f32x4 over = f32x4::load(hi + l) - s * f32x4::load(kmax + l);
            const f32x4 under = s * f32x4::load(kmin + l) - f32x4::load(lo + l);
            const f32x4 dh = over * u, dl = under * u;
            const f32x4 ph = select((over > edge) & (cap > dh), dh, zero);
            const f32x4 pl = select((under > edge) & (cap > dl), dl, zero);
            f32x4 vh = min(ph, one), vl = min(pl, one);
            for (int e = 0; e < npow; ++e) {
                vh = vh * ph;
                vl = vl * pl;
            }
            const f32x4 b = slack * (vh + vl);
            select((s > zero) & (b >= f32x4::load(best + l)), one, zero).store(cut + l);
        }
    }

    template <fit_mode Error, fit_mode Fit>
    void search() noexcept {
        const mse_searcher::plan pl = mse_searcher::plan_for(bits_, sym_, g_, c_.norm);  // as mse_searcher::search
        const int levels = pl.levels, refits = pl.refits;
        constexpr bool pow_norm = Error == fit_mode::pow_error;
        const std::size_t W = W_;
        const int steps = std::max(1, static_cast<int>(c_.max_shrink * static_cast<float>(c_.grid)));
        lane_batch fc;  // the candidates of a pass, lane l's j-th at [j W + l]
        lane_sums r;    // their sums
        bool use[4 * max_lanes];
        double mm_err[max_lanes], scan_err[max_lanes];
        int ib[max_lanes];
        // 1. min/max and the coarse set (the same indices for every group).
        int tried[8];
        const int nt = mse_searcher::coarse_set(pl, c_.grid, steps, tried);
        const mse_searcher::bound_consts bc = mse_searcher::bound_for(c_.norm);  // (its npow)
        for (std::size_t l = 0; l < W; ++l) {
            mm_err[l] = 0.0;
            scan_err[l] = std::numeric_limits<double>::infinity();
            ib[l] = 0;
        }
        // Lane l's grid candidate i into f; count: the error e of candidate i.
        // (candidate_base and tnorm_at, with what depends only on the lane computed once)
        float uinv[max_lanes], kmin[max_lanes], kmax[max_lanes];
        for (std::size_t l = 0; l < W; ++l) {
            if (!live_[l]) continue;
            const fit_candidate b = sr_[l].candidate_base(mm_[l].scale, mm_[l].zero);
            uinv[l] = b.unit_inv;
            kmin[l] = b.kmin;
            kmax[l] = b.kmax;
        }
        // clip_bound over the lanes, 4 at a time in float (lane_bounds):
        // the lanes' constants once.
        alignas(16) float bhi[max_lanes], blo[max_lanes], bkmax[max_lanes], bkmin[max_lanes], bui[max_lanes],
            best_f[max_lanes];
        for (std::size_t l = 0; l < W; ++l) {
            best_f[l] = std::numeric_limits<float>::infinity();
            // (dead lanes: a range that clips nothing; lo == hi: the low end adds
            // nothing, as clip_bound: s kmin - FLT_MAX is below the edge)
            bhi[l] = live_[l] ? hi_[l] : 0.0f;
            blo[l] = live_[l] && lo_[l] != hi_[l] ? lo_[l] : std::numeric_limits<float>::max();
            bkmax[l] = live_[l] ? kmax[l] : 1.0f;
            bkmin[l] = live_[l] ? kmin[l] : -1.0f;
            bui[l] = live_[l] ? uinv[l] : 0.0f;
        }
        const bool grid100 = c_.norm == 2.4f && c_.grid == 100;
        const double* pow04 = grid100 ? mse_searcher::pow04_steps().pow04 + mse_searcher::pow04_table::at_one : nullptr;
        auto grid_candidate = [&](std::size_t at, std::size_t l, int i) {
            const float sc = i == 0 ? mm_[l].scale : sm_[l].step_at(i, c_.grid);
            fc.scale[at] = sc;
            fc.inv[at] = 1.0f / sc;
            fc.unit_inv[at] = uinv[l];
            fc.kmin[at] = kmin[l];
            fc.kmax[at] = kmax[l];
            if (i == 0) {
                fc.tnorm[at] = 1.0;
            } else if (grid100) {
                const double rr = static_cast<double>(sc) * sm_[l].inv_u;
                fc.tnorm[at] = rr * rr * sm_[l].s0_04 * pow04[i];
            } else {
                fc.tnorm[at] = sr_[l].tnorm_of(sm_[l], sc);
            }
        };
        auto count = [&](std::size_t l, int i, double e, bool u) {
            if (!u) return;
            if (i == 0) mm_err[l] = e;
            if (e < scan_err[l]) {
                scan_err[l] = e;
                best_f[l] = static_cast<float>(e);
                ib[l] = i;
            }
        };
        // Candidates idx[j W + l] (j < n <= 4; < 0: none) through a scan, counted
        // in order; those whose clip_bound is at least the lane's best error so
        // far cannot replace it and are not run (nor is a slot no lane runs).
        auto scan_grid = [&](const int* idx, std::size_t n) {
            std::size_t slot[4], ns = 0;
            alignas(16) float sc[max_lanes], cut[max_lanes];
            for (std::size_t j = 0; j < n; ++j) {
                bool any = false;
                for (std::size_t l = 0; l < W; ++l) {
                    const std::size_t i = ns * W + l;
                    const int ix = idx[j * W + l];
                    use[i] = ix >= 0;
                    sc[l] = 0.0f;  // (no bound)
                    if (!use[i]) continue;
                    grid_candidate(i, l, ix);
                    if (ix != 0) sc[l] = fc.scale[i];
                }
                if (pow_norm) lane_bounds(sc, bhi, blo, bkmax, bkmin, bui, best_f, bc.npow, cut);
                for (std::size_t l = 0; l < W; ++l) {
                    const std::size_t i = ns * W + l;
                    if (pow_norm && cut[l] != 0.0f) use[i] = false;
                    any = any || use[i];
                }
                if (any) slot[ns++] = j;
            }
            if (ns == 0) return;
            if (ns == 1) {
                eval<Error, 1>(fc, use, r);
            } else if (ns == 2) {
                eval<Error, 2>(fc, use, r);
            } else {
                for (std::size_t i = ns * W; i < 4 * W; ++i) use[i] = false;
                eval<Error, 4>(fc, use, r);
            }
            for (std::size_t l = 0; l < W; ++l)
                for (std::size_t k = 0; k < ns; ++k) count(l, idx[slot[k] * W + l], r.s[k * W + l].err, use[k * W + l]);
        };
        int idx[4 * max_lanes];
        for (int t0 = 0; t0 < nt; t0 += 4) {
            const std::size_t n = static_cast<std::size_t>(std::min(4, nt - t0));
            for (std::size_t j = 0; j < n; ++j)
                for (std::size_t l = 0; l < W; ++l) idx[j * W + l] = live_[l] ? tried[t0 + static_cast<int>(j)] : -1;
            scan_grid(idx, n);
        }
        // 2. Halving distances from each group's best towards its tried neighbours.
        int gl[max_lanes], gr[max_lanes];
        for (std::size_t l = 0; l < W; ++l) {
            gl[l] = 0;
            gr[l] = steps - ib[l];
            for (int t = 0; t < nt; ++t) {
                if (tried[t] < ib[l]) gl[l] = ib[l] - tried[t];
                if (tried[t] > ib[l]) {
                    gr[l] = tried[t] - ib[l];
                    break;
                }
            }
        }
        for (int lv = 0; lv < levels; ++lv) {
            int center[max_lanes];
            int* L = idx;  // idx[l]: L, idx[W + l]: R
            int* R = idx + W;
            bool act[max_lanes], any = false;
            for (std::size_t l = 0; l < W; ++l) {
                act[l] = live_[l] && (gl[l] > 1 || gr[l] > 1);
                any = any || act[l];
                center[l] = ib[l];
                L[l] = gl[l] > 1 ? center[l] - gl[l] / 2 : -1;
                R[l] = gr[l] > 1 ? center[l] + gr[l] / 2 : -1;
            }
            if (!any) break;
            int tries[2 * max_lanes];  // those try_i runs: 0 < i < steps
            for (std::size_t l = 0; l < W; ++l) {
                tries[l] = act[l] && L[l] > 0 && L[l] < steps ? L[l] : -1;
                tries[W + l] = act[l] && R[l] > 0 && R[l] < steps ? R[l] : -1;
            }
            scan_grid(tries, 2);
            for (std::size_t l = 0; l < W; ++l) {
                if (!act[l]) continue;
                if (ib[l] == L[l]) {
                    gr[l] = center[l] - L[l];
                    gl[l] -= center[l] - L[l];
                } else if (ib[l] == R[l]) {
                    gl[l] = R[l] - center[l];
                    gr[l] -= R[l] - center[l];
                } else {
                    if (L[l] > 0) gl[l] = center[l] - L[l];
                    if (R[l] > 0) gr[l] = R[l] - center[l];
                }
            }
        }
        // 3. Storable candidates and the refits.
        double best_err[max_lanes];
        qparams best[max_lanes], cur[2][max_lanes];
        int nc[max_lanes];
        bool fin[max_lanes];  // to settle (mse_searcher::settle)
        for (std::size_t l = 0; l < W; ++l) {
            nc[l] = 0;
            fin[l] = false;
            if (!live_[l]) continue;
            best_err[l] = mm_err[l];
            best[l] = mm_[l];
            cur[0][l] = ib[l] == 0 ? mm_[l] : params_for_step(sm_[l].step_at(ib[l], c_.grid), mm_[l].zero, bits_, sym_, st_);
            if (!(cur[0][l].scale > 0.0f)) {
                out_[l] = best[l];
                continue;
            }
            fin[l] = true;
            nc[l] = 1;
            if (!sym_) {
                const float zr = -std::min(lo_[l], 0.0f) / sm_[l].s0;
                const float z2 = mm_[l].zero + (zr > mm_[l].zero ? 1.0f : -1.0f);
                if (z2 >= 0.0f && z2 <= static_cast<float>(max_code(bits_))) {
                    cur[1][l] = params_for_step(cur[0][l].scale, z2, bits_, sym_, st_);
                    nc[l] += cur[1][l].scale > 0.0f;
                }
            }
        }
        for (int it = 0; it <= refits; ++it) {
            const bool last = it == refits;  // the last round scans; the others fit
            bool any = false, two = false;
            double rerr[2 * max_lanes];  // the errors (+inf: mse_searcher::pass_with's for a step it refuses)
            for (std::size_t j = 0; j < 2; ++j)
                for (std::size_t l = 0; l < W; ++l) {
                    const std::size_t i = j * W + l;
                    use[i] = nc[l] > static_cast<int>(j);
                    rerr[i] = 0.0;
                    if (!use[i]) continue;
                    const qparams& q = cur[j][l];
                    fit_candidate b = sr_[l].candidate_base(q.scale, q.zero);
                    // mse_searcher::pass_with: a step not positive or of no finite inverse errs +inf
                    if (!last && (!(q.scale > 0.0f) || !std::isfinite(b.inv))) {
                        use[i] = false;
                        rerr[i] = std::numeric_limits<double>::infinity();
                        continue;
                    }
                    b.tnorm = sr_[l].tnorm_of(sm_[l], q.scale);
                    fc.set(i, b);
                    any = true;
                    two = two || j == 1;
                }
            if (any) {
                if (last && two) {
                    eval<Error, 2>(fc, use, r);
                } else if (last) {  // (symmetric groups: one candidate each; the lanes' sums do not depend on N)
                    eval<Error, 1>(fc, use, r);
                } else if (two) {
                    eval<Fit, 2>(fc, use, r);
                } else {
                    eval<Fit, 1>(fc, use, r);
                }
                for (std::size_t i = 0; i < 2 * W; ++i)
                    if (use[i]) rerr[i] = r.s[i].err;
            }
            for (std::size_t l = 0; l < W; ++l) {
                if (nc[l] == 0) continue;
                if (last) {
                    for (int j = 0; j < nc[l]; ++j)
                        if (rerr[j * W + l] < best_err[l]) {
                            best_err[l] = rerr[j * W + l];
                            best[l] = cur[j][l];
                        }
                    continue;
                }
                std::size_t jb = 0;
                if (nc[l] > 1 && rerr[W + l] < rerr[l]) jb = 1;
                const std::size_t ib_ = jb * W + l;
                fit_sums rb = use[ib_] ? r.s[ib_] : fit_sums{};  // (a refused step: no sums)
                rb.err = rerr[ib_];
                if (rb.err < best_err[l]) {
                    best_err[l] = rb.err;
                    best[l] = cur[jb][l];
                }
                const qparams from = cur[jb][l];
                qparams nx[2];
                const int m = sr_[l].refit(from, rb, nx);
                nc[l] = 0;
                for (int j = 0; j < m; ++j)
                    if (!mse_searcher::same(nx[j], from)) cur[nc[l]++][l] = nx[j];
            }
        }
        for (std::size_t l = 0; l < W; ++l) {
            if (!fin[l]) continue;
            out_[l] = pow_norm ? sr_[l].settle(best[l], best_err[l], mm_[l], mm_err[l], sm_[l]) : best[l];
        }
    }

    std::size_t g_, W_;
    calibration c_;
    int bits_;
    bool sym_;
    scale_type st_;
    const fit16_fns* wide_;
    qparams* out_;
    bool any_live_ = false;
    bool live_[max_lanes];
    float lo_[max_lanes], hi_[max_lanes];
    qparams mm_[max_lanes];
    mse_searcher sr_[max_lanes];
    step_model sm_[max_lanes];
    alignas(64) float xt_[max_lanes * max_group];
};
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

// Parameters for n groups of g finite values each, group j at x + j g (a
// row of per_group groups), into out[j]: calibrate_block's for each group,
// the same values. With lowbit::compiled's 16-lane passes (AVX-512F), the
// MSE search takes groups of 16 to 64 values 16 at a time, one a vector
// lane (detail::mse_lanes; where that pays, see mse_lanes::pays), at norms
// other than 2.
inline void calibrate_groups(const float* x, std::size_t n, std::size_t g, const calibration& c, int bits, bool symmetric,
                             scale_type st, float* scratch, qparams* out) noexcept {
    std::size_t j = 0;
    // (With the 16-lane passes only, which lowbit::compiled alone has: the
    // search is compiled there with them, not in every TU that quantizes.)
    const detail::fit16_fns* wide = c.kind == calibration::method::mse ? detail::fit16_active() : nullptr;
    if (wide && detail::mse_lanes::pays(g, c.norm))
        for (; j + 16 <= n; j += 16) wide->lanes_search(x + j * g, g, c, bits, symmetric, st, wide, out + j);
    for (; j < n; ++j) out[j] = calibrate_block({x + j * g, 1, g, g}, c, bits, symmetric, st, scratch);
}

template <int Bits, bool Symmetric, class Codec>
inline group_params<Codec> calibrate_block(const value_block& b, const calibration& c, float* scratch) noexcept {
    return group_params<Codec>::from(calibrate_block(b, c, Bits, Symmetric, Codec::value, scratch));
}

}  // namespace lowbit
