// lowbit/quant/detail/fit_simd.hpp — one pass of calibrate::mse's search over
// a block for one candidate step (private: quant/calibrate.hpp includes this,
// and kernels/detail/x86/fit_avx512.hpp for its 16-lane copies). It returns
// the candidate's error, sum |x^ - x|^norm, and the weighted sums that refit
// the step (and zero point) to the codes it chose.
//
// 4-lane vectors (core/detail/vec4.hpp: SSE2 on x86-64, NEON on AArch64):
// auto-vectorized plain C++ turned the clamps into branches whenever the code
// range was a constant. Measured on the 2-core x86-64 test machine (loaded),
// a pass costs ~0.5 ns per value at norm 2 and ~1.8 ns at norm 2.4.
// Every copy sums in one order, defined for 16 float lanes per quantity
// (fit_pass_w, scan_pass4 say which value goes to which lane and when the
// lanes go to double), which the 4-lane passes keep as four vectors. Builds
// with AVX2 run 8 lanes (fit_pass8, scan_pass8: two vectors): the results are
// the 4-lane passes' in the same build. (Across builds they match where the
// compiler contracts no multiply-add: GCC's default -ffp-contract=fast and
// clang's "on" with -mfma change the last bits.) On CPUs with AVX-512F,
// x86-64 builds without FMA run 16 lanes (fit_pass16, scan_pass16 in
// kernels/detail/x86/fit_avx512.hpp, registered below: one vector, each
// term added by one instruction), again with the 4-lane passes' sums bit for
// bit (tests/test_quant_mse.cpp checks it).
// The per-value arithmetic is fit_body.inl, stamped out once per copy.
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

#include "../../compiled_mode.hpp"
#include "../../core/config.hpp"
#include "../../core/detail/vec4.hpp"
#include "../../kernels/arch.hpp"

namespace lowbit {
struct calibration;  // quant/calibrate.hpp
struct qparams;      // quant/params.hpp
enum class scale_type : std::uint8_t;
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

// The candidate a lane with none in a pass runs (lane_batch::set_dummy; its
// sums are dropped), whose norm constants lanes_pass also takes.
inline constexpr fit_candidate idle_candidate{1.0f, 1.0f, 1.0f, 0.0f, 1.0f, 1.0};

// The candidates of a pass over W groups at once (lanes_pass), structure of
// arrays: group l's candidate j at [j W + l] (N <= 4 candidates, W <= 16
// groups), so that the pass loads each constant as one vector and the search
// fills them lane by lane without building a fit_candidate per lane.
struct lane_batch {
    static constexpr std::size_t cap = 64;
    alignas(64) float scale[cap], inv[cap], unit_inv[cap], kmin[cap], kmax[cap];
    alignas(64) double tnorm[cap];
    void set(std::size_t i, const fit_candidate& c) noexcept {
        scale[i] = c.scale;
        inv[i] = c.inv;
        unit_inv[i] = c.unit_inv;
        kmin[i] = c.kmin;
        kmax[i] = c.kmax;
        tnorm[i] = c.tnorm;
    }
    // A candidate whose sums the caller drops (a lane with none in the pass).
    void set_dummy(std::size_t i) noexcept { set(i, idle_candidate); }
};
// A lanes pass's sums, the same layout.
struct lane_sums {
    fit_sums s[lane_batch::cap];
};

namespace fit {

using v4::f32x4;
using v4::i32x4;
#if defined(LOWBIT_VEC8_AVX2)
using v4::f32x8;
#endif

// a * b + c, as the passes' flushes write it (err + tnorm * errt); the
// AVX-512 copy spells it with explicit-rounding intrinsics so that GCC cannot
// fuse it where the baseline build does not.
LOWBIT_ALWAYS_INLINE double mul_add_unfused(double a, double b, double c) noexcept { return c + a * b; }

#define LOWBIT_FIT_FN LOWBIT_ALWAYS_INLINE
#include "fit_body.inl"
#undef LOWBIT_FIT_FN

constexpr bool pow_mode(fit_mode m) noexcept { return m == fit_mode::pow_error || m == fit_mode::pow_fit; }

// The double sums of a fit pass from its 16 float lanes of each quantity
// (err, w, wk, wk2, wy, wyk, errt), stored: lanes 0 to 15 in turn.
template <fit_mode M>
inline void flush_lanes(const float (&lanes)[7][16], double tnorm, fit_sums& s) noexcept {
    double t[7] = {};
    for (std::size_t j = 0; j < 7; ++j) {
        if (j == 6 ? !pow_mode(M) : j > 0 && !fit_sums_wanted(M)) continue;
        for (std::size_t l = 0; l < 16; ++l) t[j] += lanes[j][l];
    }
    s.err += t[0] + tnorm * t[6];
    s.w += t[1];
    s.wk += t[2];
    s.wk2 += t[3];
    s.wy += t[4];
    s.wyk += t[5];
}

// Stores the quantities of acc a at lane offset o of lanes, and clears a.
template <fit_mode M, class B, std::size_t W>
inline void store_acc(acc<B>& a, float (&lanes)[7][16], std::size_t o) noexcept {
    a.err.store(lanes[0] + o);
    if constexpr (pow_mode(M)) a.errt.store(lanes[6] + o);
    if constexpr (fit_sums_wanted(M)) {
        a.w.store(lanes[1] + o);
        a.wk.store(lanes[2] + o);
        a.wk2.store(lanes[3] + o);
        a.wy.store(lanes[4] + o);
        a.wyk.store(lanes[5] + o);
    }
    a = acc<B>{};
}

}  // namespace fit

// The pass over a block of rows x cols (row stride) for candidate c. The
// order of the sums, the same in every copy (4, 8 and 16 lanes): per
// quantity 16 float lanes, lane l taking the terms of values 16m + l of a
// row; flushed to double after every 16 batches of 16 values (256: no float
// sum runs over more than 16 terms) and at the row's end, lanes 0 to 15 in
// turn; the row's tail is a last batch whose missing values add nothing
// (their padding is 0, weighted 0: every term +0). The 4-lane copy keeps the
// 16 lanes as four vectors, the 8-lane one as two, the 16-lane one as one.
template <fit_mode M, class B, std::size_t W>
inline fit_sums fit_pass_w(const float* data, std::size_t rows, std::size_t cols, std::size_t stride, const fit_candidate& c,
                           float norm) noexcept {
    constexpr std::size_t Q = 16 / W;
    const fit::lane_consts<B> k = fit::consts_for<B>(c, norm, false);
    const B one(1.0f);
    fit_sums s;
    fit::acc<B> a[Q];
    alignas(64) float pad[16], valid[16], lanes[7][16] = {};
    auto flush = [&] {
        for (std::size_t q = 0; q < Q; ++q) fit::store_acc<M, B, W>(a[q], lanes, q * W);
        fit::flush_lanes<M>(lanes, c.tnorm, s);
    };
    // One batch of W values a step, into lane set q = (batch % Q): one copy
    // of the per-value code (a loop over the Q sets, unrolled, cost header-only
    // TUs that run the search ~0.5 CPU-s more to compile).
    for (std::size_t r = 0; r < rows; ++r) {
        const float* x = data + r * stride;
        const std::size_t full = cols / 16 * 16;
        for (std::size_t i = 0, n = 0; i < cols; i += W) {
            const float* p = x + i;
            B ok = one;
            if (i >= full) {  // the tail's batches: padding (0, weighted 0) past the row
                for (std::size_t l = 0; l < W; ++l) {
                    pad[l] = i + l < cols ? x[i + l] : 0.0f;
                    valid[l] = i + l < cols ? 1.0f : 0.0f;
                }
                p = pad;
                ok = B::load(valid);
            }
            const std::size_t q = (i / W) % Q;
            fit::add<M>(a[q], B::load(p), ok, k);
            if (q == Q - 1 && ++n == 16) {
                n = 0;
                flush();
            }
        }
        flush();
    }
    return s;
}
template <fit_mode M>
inline fit_sums fit_pass4(const float* data, std::size_t rows, std::size_t cols, std::size_t stride, const fit_candidate& c,
                          float norm) noexcept {
    return fit_pass_w<M, v4::f32x4, v4::lanes>(data, rows, cols, stride, c, norm);
}

// The errors of N candidates (the scan), one load of the values for all:
// small groups pay the loop and the lane sums once, and the N accumulators
// are independent. exact: no polynomial t^2.4 (every value's power from
// log2 and exp2).
// The order of the sums, the same in every copy (4, 8 and 16 lanes): per
// candidate 16 float lanes, lane l taking the terms of values 16m + l of a
// row; flushed to double after every 16 batches of 16 values (256) and at
// the row's end, lanes 0 to 15 in turn; the row's tail is a last batch whose
// missing values add nothing (their padding's terms are +0). The 4-lane copy
// keeps the 16 lanes as four vectors, the 8-lane one as two, the 16-lane one
// (kernels/detail/x86/fit_avx512.hpp) as one: the 16-lane copy adds its
// terms with one instruction instead of four extracts and four adds.
// One body for the 4- and 8-lane copies: W lanes a vector (B), the 16 lanes
// per candidate as Q = 16 / W vectors, batch i / W of a row into vector set
// (i / W) % Q.
template <bool Pow, std::size_t N, class B, std::size_t W>
inline void scan_pass_w(const float* data, std::size_t rows, std::size_t cols, std::size_t stride, const fit_candidate* c,
                        float norm, double* err, bool exact) noexcept {
    constexpr std::size_t Q = 16 / W;
    constexpr fit_mode M = Pow ? fit_mode::pow_error : fit_mode::l2_error;
    fit::lane_consts<B> k[N];
    fit::scan_consts(c, norm, exact, k, err);
    const B one(1.0f);
    fit::acc<B> a[N][Q];
    alignas(64) float pad[16], lanes[16], lanes_t[16];
    auto flush = [&] {
        for (std::size_t j = 0; j < N; ++j) {
            for (std::size_t q = 0; q < Q; ++q) {
                a[j][q].err.store(lanes + W * q);
                if constexpr (Pow) a[j][q].errt.store(lanes_t + W * q);
                a[j][q] = fit::acc<B>{};
            }
            double t = 0.0;
            for (std::size_t l = 0; l < 16; ++l) t += lanes[l];
            if constexpr (Pow) {
                double tt = 0.0;
                for (std::size_t l = 0; l < 16; ++l) tt += lanes_t[l];
                t += c[j].tnorm * tt;
            }
            err[j] += t;
        }
    };
    for (std::size_t r = 0; r < rows; ++r) {
        const float* x = data + r * stride;
        const std::size_t full = cols / 16 * 16;
        for (std::size_t i = 0, n = 0; i < cols; i += W) {
            const float* p = x + i;
            if (i >= full) {
                for (std::size_t l = 0; l < W; ++l) pad[l] = i + l < cols ? x[i + l] : 0.0f;
                p = pad;
            }
            const std::size_t q = (i / W) % Q;
            const B v = B::load(p);
            for (std::size_t j = 0; j < N; ++j) fit::add<M>(a[j][q], v, one, k[j]);
            if (q == Q - 1 && ++n == 16) {
                n = 0;
                flush();
            }
        }
        flush();
    }
}
template <bool Pow, std::size_t N>
inline void scan_pass4(const float* data, std::size_t rows, std::size_t cols, std::size_t stride, const fit_candidate* c,
                      float norm, double* err, bool exact = false) noexcept {
    scan_pass_w<Pow, N, v4::f32x4, v4::lanes>(data, rows, cols, stride, c, norm, err, exact);
}

#if defined(LOWBIT_VEC8_AVX2)
// fit_pass4's sums from 8 lanes (its 16 lanes as two vectors).
template <fit_mode M>
inline fit_sums fit_pass8(const float* data, std::size_t rows, std::size_t cols, std::size_t stride, const fit_candidate& c,
                          float norm) noexcept {
    return fit_pass_w<M, v4::f32x8, 8>(data, rows, cols, stride, c, norm);
}

// scan_pass4's errors from 8 lanes: its 16 lanes per candidate as two
// vectors, the same terms added in the same order.
template <bool Pow, std::size_t N>
inline void scan_pass8(const float* data, std::size_t rows, std::size_t cols, std::size_t stride, const fit_candidate* c,
                       float norm, double* err, bool exact = false) noexcept {
    scan_pass_w<Pow, N, v4::f32x8, 8>(data, rows, cols, stride, c, norm, err, exact);
}
#endif

// The passes over W groups at once, one group a lane (fit_body.inl,
// lanes_pass): 4 groups, or 8 in builds with AVX2.
#if defined(LOWBIT_VEC8_AVX2)
constexpr std::size_t lanes_pass_width = 8;
#else
constexpr std::size_t lanes_pass_width = 4;
#endif
template <fit_mode M, std::size_t N>
inline void lanes_pass_v(const float* xt, std::size_t G, const lane_batch& c, float norm, lane_sums& out) noexcept {
#if defined(LOWBIT_VEC8_AVX2)
    fit::lanes_pass<M, N, v4::f32x8, 8>(xt, G, c, norm, out);
#else
    fit::lanes_pass<M, N, v4::f32x4, v4::lanes>(xt, G, c, norm, out);
#endif
}

// The 16-lane (AVX-512F) copies of the passes, where the program has them:
// kernels/detail/x86/fit_avx512.hpp, compiled into lowbit::compiled only
// (kernels/detail/fit16_impl.hpp), which returns them (fit16_compiled);
// header-only programs run the 4-lane passes. They give the 4-lane passes'
// results bit for bit, so whether a program has them changes only the speed.
struct fit16_fns {
    fit_sums (*fit[4])(const float*, std::size_t, std::size_t, std::size_t, const fit_candidate&, float) noexcept;  // by fit_mode
    void (*scan[2][4])(const float*, std::size_t, std::size_t, std::size_t, const fit_candidate*, float, double*,
                       bool) noexcept;  // [Pow][N - 1]
    // lanes_pass over 16 groups, by fit_mode and N: 1, 2, 4 candidates a group
    void (*lanes[4][3])(const float*, std::size_t, const lane_batch&, float, lane_sums&) noexcept;
    // calibrate::mse's search of 16 groups at once (calibrate.hpp, mse_lanes::run
    // with these passes): compiled here, with the passes, so that no header-only
    // TU compiles it (~0.9 CPU-s at -O2 in a TU that runs quantize).
    void (*lanes_search)(const float*, std::size_t, const calibration&, int, bool, scale_type, const fit16_fns*,
                         qparams*) noexcept;
};
#if defined(LOWBIT_COMPILED)
LOWBIT_COMPILED_INLINE const fit16_fns* fit16_compiled() noexcept;  // null where the library has no 16-lane copy
#endif

// The 16-lane passes of this program, or null: never in a TU built with FMA,
// whose own 4-lane passes the compiler fuses (the 16-lane copy never does,
// so it would not give their results).
inline const fit16_fns* fit16_available() noexcept {
#if defined(__FMA__)
    return nullptr;
#elif defined(LOWBIT_COMPILED)
    return fit16_compiled();
#else
    return nullptr;  // header-only: the 4-lane passes (fit16_impl.hpp says why)
#endif
}

// The 16-lane passes if available and the kernels' arch (detected, or
// forced by LOWBIT_FORCE_ARCH / force_arch) has AVX-512F, else null.
inline const fit16_fns* fit16_active() noexcept {
    const fit16_fns* f = fit16_available();
    if (!f) return nullptr;
    const arch a = active_arch();
    return a == arch::avx512 || a == arch::avx512vnni || a == arch::amx ? f : nullptr;
}

// The passes calibrate::mse runs: 16 lanes where wide (fit16_active()) is
// not null, else 8 lanes where the build enables AVX2, else 4 -- each with
// the 4-lane passes' results (the same sums in the same order).
template <fit_mode M>
inline fit_sums fit_pass(const float* data, std::size_t rows, std::size_t cols, std::size_t stride, const fit_candidate& c,
                         float norm, const fit16_fns* wide) noexcept {
    if (wide) return wide->fit[static_cast<int>(M)](data, rows, cols, stride, c, norm);
#if defined(LOWBIT_VEC8_AVX2)
    return fit_pass8<M>(data, rows, cols, stride, c, norm);
#else
    return fit_pass4<M>(data, rows, cols, stride, c, norm);
#endif
}

// lanes_pass over lanes_width(wide) groups: 16 where wide is not null, else
// lanes_pass_width; every copy gives each group the one-group passes' sums.
inline std::size_t lanes_width(const fit16_fns* wide) noexcept { return wide ? 16 : lanes_pass_width; }
template <fit_mode M, std::size_t N>
inline void lanes_pass(const float* xt, std::size_t G, const lane_batch& c, float norm, lane_sums& out,
                       const fit16_fns* wide) noexcept {
    static_assert(N == 1 || N == 2 || N == 4, "1, 2 or 4 candidates a group");
    if (wide) return wide->lanes[static_cast<int>(M)][N == 4 ? 2 : N - 1](xt, G, c, norm, out);
    lanes_pass_v<M, N>(xt, G, c, norm, out);
}

template <bool Pow, std::size_t N>
inline void scan_pass(const float* data, std::size_t rows, std::size_t cols, std::size_t stride, const fit_candidate* c,
                      float norm, double* err, const fit16_fns* wide, bool exact = false) noexcept {
    if (wide) return wide->scan[Pow ? 1 : 0][N - 1](data, rows, cols, stride, c, norm, err, exact);
#if defined(LOWBIT_VEC8_AVX2)
    scan_pass8<Pow, N>(data, rows, cols, stride, c, norm, err, exact);
#else
    scan_pass4<Pow, N>(data, rows, cols, stride, c, norm, err, exact);
#endif
}

}  // namespace detail
}  // namespace lowbit
