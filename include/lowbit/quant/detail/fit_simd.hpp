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
#include "../../kernels/arch.hpp"

// The 16-lane copy (AVX-512F, picked at run time): x86-64 with GCC or Clang,
// in builds that do not enable FMA. Where they do, GCC contracts the 4-lane
// passes' multiply-adds (-ffp-contract=fast), and the 16-lane copy, which
// never contracts (fit_avx512.hpp), would not give their results; such builds
// (-march=native and the like) keep their 4- or 8-lane passes.
#if defined(LOWBIT_VEC4_SSE) && !defined(__FMA__) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LOWBIT_FIT16_AVX512 1
#include "fit_avx512.hpp"
#endif

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

#define LOWBIT_FIT_FN LOWBIT_ALWAYS_INLINE
#include "fit_body.inl"
#undef LOWBIT_FIT_FN

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

#if defined(LOWBIT_FIT16_AVX512)
namespace fit16 {
using v4::f32x16;
#define LOWBIT_FIT_FN LOWBIT_V16
#include "fit_body.inl"
#undef LOWBIT_FIT_FN
}  // namespace fit16

namespace fit16 {
// The double sums of the 16-lane passes from their float lanes (stored to
// memory): fit::flush's and scan_pass4's arithmetic, operation for operation,
// in the AVX-512 function itself: GCC puts no vzeroupper before a call from
// there, and baseline SSE code run with the upper halves dirty was several
// times slower on the test machine (perf: the out-of-line flushes were 6-10 %
// of the search on groups of 32; CMakeLists.txt tells the same of
// lowbit_compiled at -O1). tnorm *
// t + err by the explicit-rounding intrinsics: GCC would fuse it into one
// multiply-add (AVX-512F includes FMA; the baseline has none), and the sums
// must stay the 4-lane passes' bit for bit.
LOWBIT_V16 double mul_add_unfused(double a, double b, double c) noexcept {
    const __m128d p = _mm_maskz_mul_round_sd(1, _mm_set_sd(a), _mm_set_sd(b), _MM_FROUND_CUR_DIRECTION);
    return _mm_cvtsd_f64(_mm_maskz_add_round_sd(1, p, _mm_set_sd(c), _MM_FROUND_CUR_DIRECTION));
}
// fit::flush<M> on a0 = lanes 0-3, a1 = lanes 4-7 of each quantity (err, w,
// wk, wk2, wy, wyk, errt).
template <fit_mode M>
LOWBIT_V16 void flush_stored(const float (&lanes)[7][8], double tnorm, fit_sums& s) noexcept {
    double t[7] = {};
    for (std::size_t j = 0; j < 7; ++j) {
        if (j == 6 ? !fit::pow_mode(M) : j > 0 && !fit_sums_wanted(M)) continue;
        for (std::size_t l = 0; l < 4; ++l) t[j] += static_cast<double>(lanes[j][l] + lanes[j][l + 4]);
    }
    s.err += mul_add_unfused(tnorm, t[6], t[0]);
    s.w += t[1];
    s.wk += t[2];
    s.wk2 += t[3];
    s.wy += t[4];
    s.wyk += t[5];
}
// scan_pass4's flush for n candidates: 4 lanes each of sum |d|^norm (in
// units) and, at norm 2.4, of the polynomial's terms (in steps).
LOWBIT_V16 void scan_stored(const float* lanes, const float* lanes_t, bool pow, const fit_candidate* c, std::size_t n,
                            double* err) noexcept {
    for (std::size_t j = 0; j < n; ++j) {
        double t = 0.0;
        for (std::size_t l = 0; l < 4; ++l) t += lanes[4 * j + l];
        if (pow) {
            double tt = 0.0;
            for (std::size_t l = 0; l < 4; ++l) tt += lanes_t[4 * j + l];
            t = mul_add_unfused(c[j].tnorm, tt, t);
        }
        err[j] += t;
    }
}
}  // namespace fit16

// fit_pass4's sums from 16 lanes: the terms of values 16m..16m+15 at once,
// then added to one 8-lane set -- fit_pass4's a0 (lanes 0-3) and a1 (4-7) --
// lanes 0-7 first, as fit_pass4 adds values 8m'..8m'+7; the row's tail laid
// out as fit_pass8's; flushed after the same values.
template <fit_mode M>
__attribute__((target("avx2,avx512f"))) inline fit_sums fit_pass16(const float* data, std::size_t rows, std::size_t cols,
                                                                    std::size_t stride, const fit_candidate& c, float norm) noexcept {
    using B = v4::f32x16;
    const fit16::lane_consts<B> k = fit16::consts_for<B>(c, norm, false);
    const B one(1.0f);
    fit_sums s;
    __m256 a[7];
    for (__m256& q : a) q = _mm256_setzero_ps();
    alignas(64) float pad[16], valid[16], lanes[7][8];
    auto add = [&](B x, B ok) LOWBIT_V16_ATTR {
        fit16::acc<B> t{};
        fit16::add<M>(t, x, ok, k);
        const B* q[7] = {&t.err, &t.w, &t.wk, &t.wk2, &t.wy, &t.wyk, &t.errt};
        for (std::size_t j = 0; j < 7; ++j) {
            if (j == 6 ? !fit::pow_mode(M) : j > 0 && !fit_sums_wanted(M)) continue;
            a[j] = _mm256_add_ps(a[j], v4::half(*q[j], 0));
            a[j] = _mm256_add_ps(a[j], v4::half(*q[j], 1));
        }
    };
    auto flush = [&]() LOWBIT_V16_ATTR {
        for (std::size_t j = 0; j < 7; ++j) {
            _mm256_store_ps(lanes[j], a[j]);
            a[j] = _mm256_setzero_ps();
        }
        fit16::flush_stored<M>(lanes, c.tnorm, s);
    };
    for (std::size_t r = 0; r < rows; ++r) {
        const float* x = data + r * stride;
        std::size_t i = 0, n = 0;
        for (; i + 16 <= cols; i += 16) {
            add(B::load(x + i), one);
            if (++n == 16) {  // fit_pass4's 32 pairs of batches of 4
                n = 0;
                flush();
            }
        }
        if (i < cols) {  // lanes 0-7: a full 8 or fit_pass8's tail; 8-15: the tail after a full 8, or padding
            const std::size_t m = cols - i;
            for (std::size_t l = 0; l < 16; ++l) pad[l] = valid[l] = 0.0f;
            if (m >= 8) {
                for (std::size_t l = 0; l < 8; ++l) {
                    pad[l] = x[i + l];
                    valid[l] = 1.0f;
                }
                if (m > 8) fit16::tail8(x + i + 8, m - 8, false, pad + 8, valid + 8);
            } else {
                fit16::tail8(x + i, m, false, pad, valid);
            }
            add(B::load(pad), B::load(valid));
        }
        flush();
    }
    return s;
}

// scan_pass4's errors from 16 lanes: the terms of 16 values at once, added
// to each candidate's 4-lane sums a quarter at a time in the values' order
// (terms of padding are +0), flushed after the same values.
template <bool Pow, std::size_t N>
__attribute__((target("avx2,avx512f"))) inline void scan_pass16(const float* data, std::size_t rows, std::size_t cols,
                                                                std::size_t stride, const fit_candidate* c, float norm,
                                                                double* err, bool exact = false) noexcept {
    using B = v4::f32x16;
    constexpr fit_mode M = Pow ? fit_mode::pow_error : fit_mode::l2_error;
    fit16::lane_consts<B> k[N];
    for (std::size_t j = 0; j < N; ++j) {
        k[j] = fit16::consts_for<B>(c[j], norm, exact);
        err[j] = 0.0;
    }
    const B one(1.0f);
    __m128 sum[N], sumt[N];
    for (std::size_t j = 0; j < N; ++j) sum[j] = sumt[j] = _mm_setzero_ps();
    alignas(64) float pad[16], valid[16], lanes[4 * N], lanes_t[4 * N];
    auto batch = [&](B v, B ok) LOWBIT_V16_ATTR {
        for (std::size_t j = 0; j < N; ++j) {
            fit16::acc<B> t{};
            fit16::add<M>(t, v, ok, k[j]);
            sum[j] = _mm_add_ps(sum[j], v4::quarter<0>(t.err));
            sum[j] = _mm_add_ps(sum[j], v4::quarter<1>(t.err));
            sum[j] = _mm_add_ps(sum[j], v4::quarter<2>(t.err));
            sum[j] = _mm_add_ps(sum[j], v4::quarter<3>(t.err));
            if constexpr (Pow) {
                sumt[j] = _mm_add_ps(sumt[j], v4::quarter<0>(t.errt));
                sumt[j] = _mm_add_ps(sumt[j], v4::quarter<1>(t.errt));
                sumt[j] = _mm_add_ps(sumt[j], v4::quarter<2>(t.errt));
                sumt[j] = _mm_add_ps(sumt[j], v4::quarter<3>(t.errt));
            }
        }
    };
    auto flush = [&]() LOWBIT_V16_ATTR {
        for (std::size_t j = 0; j < N; ++j) {
            _mm_store_ps(lanes + 4 * j, sum[j]);
            _mm_store_ps(lanes_t + 4 * j, sumt[j]);
            sum[j] = sumt[j] = _mm_setzero_ps();
        }
        fit16::scan_stored(lanes, lanes_t, Pow, c, N, err);
    };
    for (std::size_t r = 0; r < rows; ++r) {
        const float* x = data + r * stride;
        std::size_t i = 0, n = 0;
        for (; i + 16 <= cols; i += 16) {
            batch(B::load(x + i), one);
            if (++n == 16) {  // scan_pass4's 64 batches of 4
                n = 0;
                flush();
            }
        }
        if (i < cols) {
            for (std::size_t l = 0; l < 16; ++l) {
                pad[l] = i + l < cols ? x[i + l] : 0.0f;
                valid[l] = i + l < cols ? 1.0f : 0.0f;
            }
            batch(B::load(pad), B::load(valid));
        }
        flush();
    }
}

// Whether the passes run 16 lanes: the kernels' arch (detected, or forced by
// LOWBIT_FORCE_ARCH / force_arch) has AVX-512F.
inline bool fit16_active() noexcept {
    const arch a = active_arch();
    return a == arch::avx512 || a == arch::avx512vnni || a == arch::amx;
}
#else
inline bool fit16_active() noexcept { return false; }
#endif

// The passes calibrate::mse runs: 16 lanes where the build allows them and
// the CPU has AVX-512F (wide), else 8 lanes where the build enables AVX2,
// else 4 -- each with the 4-lane passes' results (the same sums in the same
// order).
template <fit_mode M>
inline fit_sums fit_pass(const float* data, std::size_t rows, std::size_t cols, std::size_t stride, const fit_candidate& c,
                         float norm, bool wide) noexcept {
#if defined(LOWBIT_FIT16_AVX512)
    if (wide) return fit_pass16<M>(data, rows, cols, stride, c, norm);
#endif
    (void)wide;
#if defined(LOWBIT_VEC8_AVX2)
    return fit_pass8<M>(data, rows, cols, stride, c, norm);
#else
    return fit_pass4<M>(data, rows, cols, stride, c, norm);
#endif
}

template <bool Pow, std::size_t N>
inline void scan_pass(const float* data, std::size_t rows, std::size_t cols, std::size_t stride, const fit_candidate* c,
                      float norm, double* err, bool wide, bool exact = false) noexcept {
#if defined(LOWBIT_FIT16_AVX512)
    if (wide) return scan_pass16<Pow, N>(data, rows, cols, stride, c, norm, err, exact);
#endif
    (void)wide;
#if defined(LOWBIT_VEC8_AVX2)
    scan_pass8<Pow, N>(data, rows, cols, stride, c, norm, err, exact);
#else
    scan_pass4<Pow, N>(data, rows, cols, stride, c, norm, err, exact);
#endif
}

}  // namespace detail
}  // namespace lowbit

#if defined(LOWBIT_FIT16_AVX512)
#undef LOWBIT_V16
#undef LOWBIT_V16_ATTR
#endif
