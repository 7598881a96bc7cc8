// lowbit/quant/detail/fit_simd.hpp — one pass of calibrate::mse's search over
// a block for one candidate step (private: only quant/calibrate.hpp includes
// this). It returns the candidate's error, sum |x^ - x|^norm, and the
// weighted sums that refit the step (and zero point) to the codes it chose.
//
// 4-lane vectors (core/detail/vec4.hpp: SSE2 on x86-64, NEON on AArch64):
// auto-vectorized plain C++ turned the clamps into branches whenever the code
// range was a constant. Measured on the 2-core x86-64 test machine (loaded),
// a pass costs ~0.5 ns per value at norm 2 and ~1.8 ns at norm 2.4.
// Builds with AVX2 run 8 lanes (fit_pass8, scan_pass8) that add their terms
// into the 4-lane passes' sums in the same order: the results are the 4-lane
// passes' in the same build. (Across builds they match where the compiler
// contracts no multiply-add: GCC's default -ffp-contract=fast and clang's
// "on" with -mfma change the last bits, before this as after.)
//
// Errors are in units of min/max's step u, d = |s k - x| / u for the code k
// (s k - x as dequantization computes it), so the float sums neither
// overflow for values near FLT_MAX nor underflow for tiny ones, and the
// caller compares candidates without a power of s for each. At norm 2.4 an
// unclipped value's error is summed in the candidate's steps instead, by a
// polynomial (pow24_half), and scaled to units once per pass. Other powers
// are w * d^2 with w = d^(norm-2) = exp2((norm-2) log2 d) from short
// polynomials (relative error below 1e-6 at norm 2.4, 5e-5 at norm 16).
#pragma once

#include <cstddef>
#include <cstdint>

#include "../../core/config.hpp"
#include "../../core/detail/vec4.hpp"

namespace lowbit {
namespace detail {

// A candidate in steps: its reciprocal step and the code range relative to the zero point.
// Errors come back in units of a reference step (unit_inv = 1 / reference):
// the caller compares candidates without a power of s for each.
struct fit_candidate {
    float scale, inv, unit_inv, kmin, kmax;
    double tnorm;  // (scale * unit_inv)^norm: errors in the candidate's steps to units
};

// Sums over a block for one candidate, in steps: err = sum d^norm, and for
// the refit, with weights w = d^(norm-2) (1 at norm 2), y = x/s and k the code
// relative to the zero point: sums of w, w k, w k^2, w y, w y k.
struct fit_sums {
    double err = 0.0, w = 0.0, wk = 0.0, wk2 = 0.0, wy = 0.0, wyk = 0.0;
};

enum class fit_mode : std::uint8_t {
    l2_error,   // norm 2, err only (the scan)
    l2_fit,     // norm 2, err and refit sums
    pow_error,  // any norm >= 1, err only
    pow_fit,    // any norm >= 1, err and refit sums
};
constexpr bool fit_sums_wanted(fit_mode m) noexcept { return m == fit_mode::l2_fit || m == fit_mode::pow_fit; }

namespace fit {

using v4::f32x4;
using v4::i32x4;
#if defined(LOWBIT_VEC8_AVX2)
using v4::f32x8;
#endif

// log2 d for normal d > 0: d = (1 + t) 2^e with 1 + t in [sqrt(1/2), sqrt(2)),
// log2(1 + t) = t * P(t), P of degree 5 fitted by least squares on that
// interval (absolute error 3.8e-6).
template <class B>
LOWBIT_ALWAYS_INLINE B log2_normal(B d) noexcept {
    using I = typename B::int_type;
    const I bits = v4::bits_of(d);
    // The mantissa above sqrt(2)'s moves to the binade below: 1 + t < sqrt(2).
    const I mant = bits & I(0x007fffff);
    const I up = v4::select(mant > I(0x003504f3), I(1), I(0));
    const B m = v4::float_from_bits(mant | v4::shift_left<23>(I(127) - up));
    const B e = v4::to_float(v4::shift_right<23>(bits) - I(127) + up);
    const B t = m - B(1.0f);
    B p(-0.206858124f);
    p = p * t + B(0.318407118f);
    p = p * t + B(-0.366413259f);
    p = p * t + B(0.479793884f);
    p = p * t + B(-0.721208468f);
    p = p * t + B(1.4427018f);
    return e + t * p;
}

// 2^y for y in [-126, 127]: 2^n exp2(f), n = round(y), f in [-1/2, 1/2],
// exp2(f) of degree 5 fitted on that interval (relative error 1.1e-7).
template <class B>
LOWBIT_ALWAYS_INLINE B exp2_clamped(B y) noexcept {
    using I = typename B::int_type;
    const B magic(12582912.0f);  // 1.5 * 2^23: (y + magic) - magic rounds y
    const B n = (y + magic) - magic;
    const B f = y - n;
    B p(0.00134004322f);
    p = p * f + B(0.0096760371f);
    p = p * f + B(0.0555032721f);
    p = p * f + B(0.240221074f);
    p = p * f + B(0.693147207f);
    p = p * f + B(1.00000008f);
    const I ni = v4::to_int_trunc(n);
    return p * v4::float_from_bits(v4::shift_left<23>(ni + I(127)));
}

template <class B>
struct acc {
    B err = B(0.0f), errt = B(0.0f), w = B(0.0f), wk = B(0.0f), wk2 = B(0.0f), wy = B(0.0f), wyk = B(0.0f);
};

// t^2.4 for t in [0, 1/2] (an unclipped value's error in candidate steps):
// t^2 (c2 + c3 t + ... + c7 t^5), least squares on that interval, absolute
// error below 1.7e-5 (3e-4 of the mean term). The terms' errors mostly cancel
// between candidates, whose unclipped errors spread over [0, 1/2] alike.
template <class B>
LOWBIT_ALWAYS_INLINE B pow24_half(B t) noexcept {
    B p(12.4637709f);
    p = p * t + B(-23.8889542f);
    p = p * t + B(18.9011974f);
    p = p * t + B(-8.26929474f);
    p = p * t + B(2.75643849f);
    p = p * t + B(0.18793945f);
    return p * (t * t);
}

// d^q for d in [2^-20, 2^10], q = norm - 2 in (-1, 14]: log2 and exp2 as the
// float's bits read linearly (a few % off): the refit's weights only steer
// the refit; its candidate is then judged by its error.
template <class B>
LOWBIT_ALWAYS_INLINE B pow_rough(B d, B q, B bias) noexcept {
    const B e = v4::to_float(v4::bits_of(d)) * q + bias;  // bias = (1 - q) 127 2^23
    return v4::float_from_bits(v4::to_int_trunc(v4::min(v4::max(e, B(8388608.0f)), B(2130706432.0f))));
}

// The constants of one pass: the candidate's, and for norms other than 2
// where the clipped values lie and how the rest's power is taken.
template <class B>
struct lane_consts {
    B scale, inv, unit_inv, kmin, kmax, pm2, rough_bias, poly_max;
};

// One batch of values x (valid: 1 for values of the block, 0 for padding).
// Norms other than 2: at norm 2.4 a value's error t = |x^ - x| / s, in the
// candidate's steps, is at most 1/2 unless the value is clipped, and t^2.4
// is a polynomial there (err_t, in steps); clipped values -- and every value
// at other norms (poly_max = -1) -- take the power from log2 and exp2
// polynomials (err, in units), for the batches that hold any.
// x^ - x (as dequantization computes it) for values x, and their codes k.
template <class B>
LOWBIT_ALWAYS_INLINE B code_diff(B x, const lane_consts<B>& c, B& y, B& k) noexcept {
    // x / s, not x * (1/s): the codes must be quantize_value's, also at ties (values on a grid).
    y = x / c.scale;
    const B t = v4::min(v4::max(y, c.kmin), c.kmax);  // y is finite (finite x, s >= min/max's step / 10 > 0)
#if defined(__FAST_MATH__)
    k = v4::round_even(t);  // -ffast-math may fold the magic add; lowbit does not support it (docs/formats.md)
#else
    const B magic(12582912.0f);
    k = (t + magic) - magic;  // |t| <= 255: round half to even
#endif
    return c.scale * k - x;
}

template <fit_mode M, class B>
LOWBIT_ALWAYS_INLINE void add(acc<B>& a, B x, B valid, const lane_consts<B>& c) noexcept {
    B y, k;
    const B diff = code_diff(x, c, y, k);
    const B r = diff * c.unit_inv;  // in units
    const B d2 = r * r;
    if constexpr (M == fit_mode::l2_error) {
        a.err += d2;  // padding adds 0
        return;
    } else {
        B w = valid;
        if constexpr (M == fit_mode::pow_error || M == fit_mode::pow_fit) {
            const B ts = v4::abs(diff) * c.inv;
            const auto far = ts > c.poly_max;
            const B d = v4::max(v4::abs(r), B(9.53674316e-07f));  // >= 2^-20 units: log2 finite, w <= 2^20 down to norm 1
            a.errt += v4::select(far, B(0.0f), pow24_half(v4::min(ts, B(0.5f))));  // padding: t = 0
            if (v4::any(far)) {
                const B ly = v4::min(v4::max(c.pm2 * log2_normal(d), B(-126.0f)), B(127.0f));
                const B wx = exp2_clamped(ly);
                a.err += v4::select(far, wx * d2, B(0.0f));  // padding: d2 = 0
                if constexpr (M == fit_mode::pow_fit) w = w * v4::select(far, wx, pow_rough(d, c.pm2, c.rough_bias));
            } else if constexpr (M == fit_mode::pow_fit) {
                w = w * pow_rough(d, c.pm2, c.rough_bias);
            }
        } else {
            a.err += d2;
        }
        if constexpr (fit_sums_wanted(M)) {
            const B wk = w * k;
            a.w += w;
            a.wk += wk;
            a.wk2 += wk * k;
            a.wy += w * y;
            a.wyk += wk * y;
        }
    }
}

constexpr bool pow_mode(fit_mode m) noexcept { return m == fit_mode::pow_error || m == fit_mode::pow_fit; }

template <fit_mode M>
inline void flush(acc<f32x4>& a, acc<f32x4>& b, double tnorm, fit_sums& s) noexcept {
    constexpr std::size_t W = v4::lanes;
    alignas(64) float lanes[7][W];
    (a.err + b.err).store(lanes[0]);
    if constexpr (pow_mode(M)) (a.errt + b.errt).store(lanes[6]);
    if constexpr (fit_sums_wanted(M)) {
        (a.w + b.w).store(lanes[1]);
        (a.wk + b.wk).store(lanes[2]);
        (a.wk2 + b.wk2).store(lanes[3]);
        (a.wy + b.wy).store(lanes[4]);
        (a.wyk + b.wyk).store(lanes[5]);
    }
    double t[7] = {};
    for (std::size_t j = 0; j < 7; ++j) {
        if (j == 6 ? !pow_mode(M) : j > 0 && !fit_sums_wanted(M)) continue;
        for (std::size_t l = 0; l < W; ++l) t[j] += lanes[j][l];
    }
    s.err += t[0] + tnorm * t[6];
    s.w += t[1];
    s.wk += t[2];
    s.wk2 += t[3];
    s.wy += t[4];
    s.wyk += t[5];
    a = acc<f32x4>{};
    b = acc<f32x4>{};
}

template <class B>
inline lane_consts<B> consts_for(const fit_candidate& c, float norm, bool exact) noexcept {
    // 2^-10 of a step above 1/2: a value that a tie or the rounding of x^ puts there is not clipped.
    const float poly_max = norm == 2.4f && !exact ? 0.5f + 0.5f / 1024.0f : -1.0f;
    const float q = norm - 2.0f;
    return {B(c.scale), B(c.inv), B(c.unit_inv), B(c.kmin), B(c.kmax), B(q), B((1.0f - q) * 1065353216.0f), B(poly_max)};
}

}  // namespace fit

// The pass over a block of rows x cols (row stride) for candidate c. Two
// sets of float lanes (the adds of one batch do not wait for the last's);
// they go to double every 64 batches and at the end of each row, so no float
// sum runs over more than 32 terms per lane.
template <fit_mode M>
inline fit_sums fit_pass4(const float* data, std::size_t rows, std::size_t cols, std::size_t stride, const fit_candidate& c,
                         float norm) noexcept {
    using B = v4::f32x4;
    constexpr std::size_t W = v4::lanes;
    const fit::lane_consts<B> k = fit::consts_for<B>(c, norm, false);
    const B one(1.0f);
    fit_sums s;
    fit::acc<B> a0, a1;
    alignas(64) float pad[W], valid[W];
    for (std::size_t r = 0; r < rows; ++r) {
        const float* x = data + r * stride;
        std::size_t i = 0, n = 0;
        for (; i + 2 * W <= cols; i += 2 * W) {
            fit::add<M>(a0, B::load(x + i), one, k);
            fit::add<M>(a1, B::load(x + i + W), one, k);
            if (++n == 32) {
                n = 0;
                fit::flush<M>(a0, a1, c.tnorm, s);
            }
        }
        if (i + W <= cols) {
            fit::add<M>(a0, B::load(x + i), one, k);
            i += W;
        }
        if (i < cols) {  // padding: 0, which every candidate represents exactly (d = 0), weighted 0
            for (std::size_t l = 0; l < W; ++l) {
                pad[l] = i + l < cols ? x[i + l] : 0.0f;
                valid[l] = i + l < cols ? 1.0f : 0.0f;
            }
            fit::add<M>(a1, B::load(pad), B::load(valid), k);
        }
        fit::flush<M>(a0, a1, c.tnorm, s);
    }
    return s;
}

// The errors of N candidates (the scan), one load of the values for all:
// small groups pay the loop and the lane sums once, and the N accumulators
// are independent. exact: no polynomial t^2.4 (every value's power from
// log2 and exp2).
template <bool Pow, std::size_t N>
inline void scan_pass4(const float* data, std::size_t rows, std::size_t cols, std::size_t stride, const fit_candidate* c,
                      float norm, double* err, bool exact = false) noexcept {
    using B = v4::f32x4;
    constexpr std::size_t W = v4::lanes;
    constexpr fit_mode M = Pow ? fit_mode::pow_error : fit_mode::l2_error;
    fit::lane_consts<B> k[N];
    for (std::size_t j = 0; j < N; ++j) {
        k[j] = fit::consts_for<B>(c[j], norm, exact);
        err[j] = 0.0;
    }
    const B one(1.0f);
    fit::acc<B> a[N];
    alignas(64) float pad[W], valid[W], lanes[W];
    auto flush = [&] {
        for (std::size_t j = 0; j < N; ++j) {
            a[j].err.store(lanes);
            double t = 0.0;
            for (std::size_t l = 0; l < W; ++l) t += lanes[l];
            if constexpr (Pow) {
                a[j].errt.store(lanes);
                double tt = 0.0;
                for (std::size_t l = 0; l < W; ++l) tt += lanes[l];
                t += c[j].tnorm * tt;
                a[j].errt = B(0.0f);
            }
            err[j] += t;
            a[j].err = B(0.0f);
        }
    };
    for (std::size_t r = 0; r < rows; ++r) {
        const float* x = data + r * stride;
        std::size_t i = 0, n = 0;
        for (; i + W <= cols; i += W) {
            const B v = B::load(x + i);
            for (std::size_t j = 0; j < N; ++j) fit::add<M>(a[j], v, one, k[j]);
            if (++n == 64) {
                n = 0;
                flush();
            }
        }
        if (i < cols) {
            for (std::size_t l = 0; l < W; ++l) {
                pad[l] = i + l < cols ? x[i + l] : 0.0f;
                valid[l] = i + l < cols ? 1.0f : 0.0f;
            }
            const B v = B::load(pad), ok = B::load(valid);
            for (std::size_t j = 0; j < N; ++j) fit::add<M>(a[j], v, ok, k[j]);
        }
        flush();
    }
}

#if defined(LOWBIT_VEC8_AVX2)
namespace fit {

// The tail of a row for the 8-lane passes, laid out as the 4-lane passes
// take it: a full batch of 4 (if there is one) in lanes 0-3, the rest padded
// in lanes 4-7 -- or, with fewer than 4 values, padded in lanes 0-3 (scan)
// or 4-7 (fit) -- and padding (0, weighted 0) elsewhere, whose terms are
// +0 or -0 and leave a float sum unchanged.
inline void tail8(const float* x, std::size_t n, bool short_low, float* pad, float* valid) noexcept {
    const std::size_t lo = n >= 4 ? 4 : 0;
    for (std::size_t l = 0; l < 8; ++l) {
        std::size_t j = l < 4 ? l : lo + l - 4;  // the value lane l takes
        bool ok = l < 4 ? lo == 4 : j < n;
        if (lo == 0 && short_low) {
            j = l;
            ok = l < 4 && l < n;
        }
        pad[l] = ok ? x[j] : 0.0f;
        valid[l] = ok ? 1.0f : 0.0f;
    }
}

}  // namespace fit

// fit_pass4's sums from 8 lanes: its two 4-lane sets a0 (values 8m..8m+3 of
// a row) and a1 (8m+4..8m+7) are this pass's low and high halves, added in
// the same order, flushed after the same batches and combined a0 + a1 lane
// for lane before the double sums.
template <fit_mode M>
inline fit_sums fit_pass8(const float* data, std::size_t rows, std::size_t cols, std::size_t stride, const fit_candidate& c,
                          float norm) noexcept {
    using B = v4::f32x8;
    const fit::lane_consts<B> k = fit::consts_for<B>(c, norm, false);
    const B one(1.0f);
    fit_sums s;
    fit::acc<B> a;
    alignas(64) float pad[8], valid[8];
    auto flush = [&] {
        fit::acc<v4::f32x4> lo, hi;
        lo.err = v4::low(a.err), hi.err = v4::high(a.err);
        lo.errt = v4::low(a.errt), hi.errt = v4::high(a.errt);
        lo.w = v4::low(a.w), hi.w = v4::high(a.w);
        lo.wk = v4::low(a.wk), hi.wk = v4::high(a.wk);
        lo.wk2 = v4::low(a.wk2), hi.wk2 = v4::high(a.wk2);
        lo.wy = v4::low(a.wy), hi.wy = v4::high(a.wy);
        lo.wyk = v4::low(a.wyk), hi.wyk = v4::high(a.wyk);
        fit::flush<M>(lo, hi, c.tnorm, s);
        a = fit::acc<B>{};
    };
    for (std::size_t r = 0; r < rows; ++r) {
        const float* x = data + r * stride;
        std::size_t i = 0, n = 0;
        for (; i + 8 <= cols; i += 8) {
            fit::add<M>(a, B::load(x + i), one, k);
            if (++n == 32) {
                n = 0;
                flush();
            }
        }
        if (i < cols) {
            fit::tail8(x + i, cols - i, false, pad, valid);
            fit::add<M>(a, B::load(pad), B::load(valid), k);
        }
        flush();
    }
    return s;
}

// scan_pass4's errors from 8 lanes: the terms of 8 values are computed at
// once and added to the 4-lane sums low half first, as scan_pass4 adds two
// batches of 4 (terms added to a zero set are exact).
template <bool Pow, std::size_t N>
inline void scan_pass8(const float* data, std::size_t rows, std::size_t cols, std::size_t stride, const fit_candidate* c,
                       float norm, double* err, bool exact = false) noexcept {
    using B = v4::f32x8;
    using B4 = v4::f32x4;
    constexpr fit_mode M = Pow ? fit_mode::pow_error : fit_mode::l2_error;
    fit::lane_consts<B> k[N];
    for (std::size_t j = 0; j < N; ++j) {
        k[j] = fit::consts_for<B>(c[j], norm, exact);
        err[j] = 0.0;
    }
    const B one(1.0f);
    B4 sum[N], sumt[N];
    for (std::size_t j = 0; j < N; ++j) sum[j] = sumt[j] = B4(0.0f);
    alignas(64) float pad[8], valid[8], lanes[4];
    auto batch = [&](B v, B ok) {
        for (std::size_t j = 0; j < N; ++j) {
            if constexpr (!Pow) {
                // r * r is added as scan_pass4 adds it: where the compiler
                // contracts that add into an FMA (GCC's default with FMA
                // enabled), it must contract this one alike.
                B y, kk;
                const B r = fit::code_diff(v, k[j], y, kk) * k[j].unit_inv;
                const B4 rl = v4::low(r), rh = v4::high(r);
                sum[j] += rl * rl;
                sum[j] += rh * rh;
                continue;
            }
            fit::acc<B> t;
            fit::add<M>(t, v, ok, k[j]);
            sum[j] += v4::low(t.err);
            sum[j] += v4::high(t.err);
            if constexpr (Pow) {
                sumt[j] += v4::low(t.errt);
                sumt[j] += v4::high(t.errt);
            }
        }
    };
    auto flush = [&] {
        for (std::size_t j = 0; j < N; ++j) {
            sum[j].store(lanes);
            double t = 0.0;
            for (std::size_t l = 0; l < 4; ++l) t += lanes[l];
            if constexpr (Pow) {
                sumt[j].store(lanes);
                double tt = 0.0;
                for (std::size_t l = 0; l < 4; ++l) tt += lanes[l];
                t += c[j].tnorm * tt;
                sumt[j] = B4(0.0f);
            }
            err[j] += t;
            sum[j] = B4(0.0f);
        }
    };
    for (std::size_t r = 0; r < rows; ++r) {
        const float* x = data + r * stride;
        std::size_t i = 0, n = 0;
        for (; i + 8 <= cols; i += 8) {
            batch(B::load(x + i), one);
            if (++n == 32) {
                n = 0;
                flush();
            }
        }
        if (i < cols) {
            fit::tail8(x + i, cols - i, true, pad, valid);
            batch(B::load(pad), B::load(valid));
        }
        flush();
    }
}
#endif

// The passes calibrate::mse runs: 8 lanes where the build enables AVX2, with
// the 4-lane passes' results (the same sums in the same order), else 4.
template <fit_mode M>
inline fit_sums fit_pass(const float* data, std::size_t rows, std::size_t cols, std::size_t stride, const fit_candidate& c,
                         float norm) noexcept {
#if defined(LOWBIT_VEC8_AVX2)
    return fit_pass8<M>(data, rows, cols, stride, c, norm);
#else
    return fit_pass4<M>(data, rows, cols, stride, c, norm);
#endif
}

template <bool Pow, std::size_t N>
inline void scan_pass(const float* data, std::size_t rows, std::size_t cols, std::size_t stride, const fit_candidate* c,
                      float norm, double* err, bool exact = false) noexcept {
#if defined(LOWBIT_VEC8_AVX2)
    scan_pass8<Pow, N>(data, rows, cols, stride, c, norm, err, exact);
#else
    scan_pass4<Pow, N>(data, rows, cols, stride, c, norm, err, exact);
#endif
}

}  // namespace detail
}  // namespace lowbit
