// lowbit/algo/awq.hpp — AWQ, activation-aware weight quantization (Lin et
// al., 2023), following the reference implementations (mit-han-lab/llm-awq
// auto_scale / auto_clip; AutoAWQ's duo scaling). docs/ptq.md, "AWQ".
//
//   1. Activation statistic per input channel: x_mean_j = mean_t |x_tj|.
//   2. Scale search over a grid of 20 ratios a = 0, 1/20, ..., 19/20:
//        s_j = max(x_mean_j^a, 1e-4)                          (llm-awq)
//        s_j = max(x_mean_j^a / (w_mean_j^(1-a) + 1e-4), 1e-4) (duo scaling, AutoAWQ)
//        s  /= sqrt(max s * min s)
//      where w_mean_j is the mean over output rows of |W_ij| / max|W_i,group(j)|.
//      Loss: mean (X W^T - X (Q(W diag s) diag(1/s))^T)^2 over the
//      calibration tokens (at most max_loss_tokens of them, evenly strided):
//      the output of this layer, where the reference uses its enclosing block.
//      a = 0 (s = 1) is plain RTN, so the search never loses to RTN in-sample.
//   3. Clip search on W diag s, per row and group: clamp to +-m with
//      m = max|w| (1 - i/20), i < 0.5 * 20, quantize, keep the m with the least
//      mean squared partial output error on at most 512 tokens (strided).
//   4. Final round-to-nearest of clip(W diag s) with the scheme.
// The caller folds 1/s into the operation producing x (a norm's gain, the
// previous linear's rows): y = (x / s) Q(W diag s)^T.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "../compiled_mode.hpp"
#include "../core/status.hpp"
#include "../core/views.hpp"
#include "../pack/qmatrix.hpp"
#include "../parallel.hpp"
#include "../runtime.hpp"
#include "linalg.hpp"

namespace lowbit {

struct awq_options {
    int grid = 20;               // ratios a = i / grid, i < grid
    bool duo_scaling = false;    // AutoAWQ's weight-magnitude term
    bool clip = true;
    int clip_grid = 20;
    float clip_max_shrink = 0.5f;
    std::size_t clip_tokens = 512;       // reference n_sample_token
    std::size_t max_loss_tokens = 2048;  // tokens used by the scale-search loss
    int group = 0;                       // for per_group_dynamic schemes
};

struct awq_report {
    float best_ratio = 0;
    double loss = 0;       // scale-search loss at the best ratio (output MSE)
    double loss_rtn = 0;   // the same loss at ratio 0 (plain RTN)
    std::size_t clipped_groups = 0;
    double seconds = 0;
};

template <class S>
struct awq_result {
    qmatrix<S> q;            // Q(clip(W diag s))
    std::vector<float> scales;  // s: divide the layer's input by it (fold into the previous op)
    awq_report report;
};

namespace detail {
// Rows of X at a fixed stride so that at most `max_rows` are used (reference: x[0::T // n]).
inline std::vector<float> strided_rows(matrix_view<const float> x, std::size_t max_rows, std::size_t& rows) {
    const std::size_t step = x.rows() > max_rows ? x.rows() / max_rows : 1;
    std::vector<float> out;
    rows = 0;
    for (std::size_t t = 0; t < x.rows() && rows < max_rows; t += step, ++rows) out.insert(out.end(), x.row(t), x.row(t) + x.cols());
    return out;
}

// What awq_quantize reads of its scheme S, behind function pointers so that
// the search (awq_search) is compiled once, not once per scheme (18 per code
// width; issue 15: lowbit::compiled's compile time). The arithmetic is the
// same as when it was written inline.
struct awq_scheme_ops {
    void* ctx;  // awq_round_trip's: the qmatrix<S> it writes
    // Q(ws) decoded into deq (N x K, row-major): the scheme's quantizer and dequantizer.
    status (*round_trip)(void* ctx, matrix_view<const float> ws, float* deq, executor_ref exec);
    // out[j * stride] for j < n: clamp(wr[j], -m, m) rounded to the scheme's
    // grid for the clamped row's range and decoded back.
    void (*clip_round_trip)(const float* wr, std::size_t n, float m, float* out, std::size_t stride);
};
template <int B, bool Sym, class Codec>
void awq_clip_round_trip(const float* wr, std::size_t n, float m, float* out, std::size_t stride) {
    float lo = std::numeric_limits<float>::infinity(), hi = -lo;
    for (std::size_t j = 0; j < n; ++j) {
        const float v = std::min(std::max(wr[j], -m), m);
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
    const group_params<Codec> p = params_for_range<B, Sym, Codec>(lo, hi);
    for (std::size_t j = 0; j < n; ++j) {
        const float v = std::min(std::max(wr[j], -m), m);
        out[j * stride] = dequantize_value(quantize_value<B, Sym>(v, p.scale, p.zero), p.scale, p.zero);
    }
}
template <class S>
status awq_round_trip(void* ctx, matrix_view<const float> ws, float* deq, executor_ref exec) {
    qmatrix<S>& q = *static_cast<qmatrix<S>*>(ctx);
    LOWBIT_TRY(quantize_into<S>(ws, q.mut_view(), calibration{}, exec));
    return dequantize(q, matrix_view<float>(deq, ws.rows(), ws.cols()), exec);
}

// awq_quantize's argument checks, in its order; group: the scheme's group size.
inline status awq_check(matrix_view<const float> w, matrix_view<const float> x, const awq_options& opt, int group) {
    if (!w.data() || w.empty()) return status::error(errc::invalid_argument, "w is null or empty (%zu x %zu)", w.rows(), w.cols());
    const std::size_t K = w.cols();
    if (x.cols() != K) return status::error(errc::shape_mismatch, "x has %zu columns, w has %zu", x.cols(), K);
    if (x.rows() == 0) return status::error(errc::invalid_argument, "x has no rows: AWQ needs calibration activations");
    if (opt.grid < 1 || opt.clip_grid < 1) return status::error(errc::invalid_argument, "options.grid and options.clip_grid must be >= 1");
    if (!(opt.clip_max_shrink >= 0.0f && opt.clip_max_shrink < 1.0f))
        return status::error(errc::invalid_argument, "options.clip_max_shrink = %g, must be in [0, 1)", static_cast<double>(opt.clip_max_shrink));
    LOWBIT_TRY(detail::check_finite(w, "w"));
    LOWBIT_TRY(detail::check_finite(x, "x"));
    if (group < 1) return status::error(errc::invalid_argument, "options.group = %d: per-group AWQ needs a group size >= 1", opt.group);
    return {};
}

// Steps 1-3 (the statistics, the scale search, the clip search) on checked
// arguments: ws = clip(W diag s) (N x K), best_s = s.
inline status awq_search(matrix_view<const float> w, matrix_view<const float> x, const awq_options& opt, std::size_t G,
                         const awq_scheme_ops& ops, executor_ref exec, std::vector<float>& ws, std::vector<float>& best_s,
                         awq_report& rep) {
    const std::size_t N = w.rows(), K = w.cols();
    // 1. statistics
    std::vector<double> xm(K, 0.0);
    for (std::size_t t = 0; t < x.rows(); ++t)
        for (std::size_t j = 0; j < K; ++j) xm[j] += std::fabs(x(t, j));
    double xsum = 0;
    for (double& v : xm) xsum += v /= static_cast<double>(x.rows());
    if (!(xsum > 0)) return status::error(errc::invalid_argument, "x is all zero: AWQ needs non-zero calibration activations");
    std::vector<double> wm(K, 0.0);
    if (opt.duo_scaling) {
        for (std::size_t r = 0; r < N; ++r)
            for (std::size_t c0 = 0; c0 < K; c0 += G) {
                const std::size_t c1 = std::min(K, c0 + G);
                float mx = 0;
                for (std::size_t c = c0; c < c1; ++c) mx = std::max(mx, std::fabs(w(r, c)));
                for (std::size_t c = c0; c < c1; ++c) wm[c] += mx > 0 ? std::fabs(w(r, c)) / mx : 0.0;
            }
        for (double& v : wm) v /= static_cast<double>(N);
    }

    // Loss tokens and reference outputs.
    std::size_t T = 0;
    const std::vector<float> xs = detail::strided_rows(x, std::max<std::size_t>(1, opt.max_loss_tokens), T);
    const matrix_view<const float> xv(xs.data(), T, K);
    std::vector<float> yref(T * N), yq(T * N), deq(N * K);
    ws.assign(N * K, 0.0f);
    LOWBIT_TRY(linalg::matmul_nt(xv, w, matrix_view<float>(yref.data(), T, N), exec));

    auto scales_for = [&](double a, std::vector<float>& s) {
        s.resize(K);
        double mx = 0, mn = std::numeric_limits<double>::infinity();
        std::vector<double> sd(K);
        for (std::size_t j = 0; j < K; ++j) {
            double v = std::pow(xm[j], a);
            if (opt.duo_scaling) v /= std::pow(wm[j], 1.0 - a) + 1e-4;
            sd[j] = std::max(v, 1e-4);
            mx = std::max(mx, sd[j]);
            mn = std::min(mn, sd[j]);
        }
        const double norm = std::sqrt(mx * mn);
        for (std::size_t j = 0; j < K; ++j) s[j] = static_cast<float>(sd[j] / norm);
    };
    // Q(W diag s) diag(1/s) into deq; output MSE against yref.
    auto loss_of = [&](const std::vector<float>& s, double& loss) -> status {
        for (std::size_t r = 0; r < N; ++r)
            for (std::size_t j = 0; j < K; ++j) ws[r * K + j] = w(r, j) * s[j];
        LOWBIT_TRY(ops.round_trip(ops.ctx, matrix_view<const float>(ws.data(), N, K), deq.data(), exec));
        for (std::size_t r = 0; r < N; ++r)
            for (std::size_t j = 0; j < K; ++j) deq[r * K + j] /= s[j];
        LOWBIT_TRY(linalg::matmul_nt(xv, matrix_view<const float>(deq.data(), N, K), matrix_view<float>(yq.data(), T, N), exec));
        double e = 0;
        for (std::size_t i = 0; i < yq.size(); ++i) e += (static_cast<double>(yq[i]) - yref[i]) * (static_cast<double>(yq[i]) - yref[i]);
        loss = e / static_cast<double>(yq.size());
        return {};
    };

    // 2. scale search
    std::vector<float> s;
    double best = std::numeric_limits<double>::infinity();
    for (int i = 0; i < opt.grid; ++i) {
        const double a = static_cast<double>(i) / opt.grid;
        scales_for(a, s);
        double l = 0;
        LOWBIT_TRY(loss_of(s, l));
        if (i == 0) rep.loss_rtn = l;
        if (l < best) {  // strictly smaller, as the reference
            best = l;
            best_s = s;
            rep.best_ratio = static_cast<float>(a);
        }
    }
    rep.loss = best;

    // 3. clip search on W diag s
    for (std::size_t r = 0; r < N; ++r)
        for (std::size_t j = 0; j < K; ++j) ws[r * K + j] = w(r, j) * best_s[j];
    if (opt.clip) {
        std::size_t Tc = 0;
        const std::vector<float> xc = detail::strided_rows(x, std::max<std::size_t>(1, opt.clip_tokens), Tc);
        const int n_shrink = static_cast<int>(opt.clip_max_shrink * static_cast<float>(opt.clip_grid));
        const std::size_t C = static_cast<std::size_t>(n_shrink) + 1;  // candidate 0: the unclipped original
        const std::size_t RT = 32, n_rt = (N + RT - 1) / RT, n_groups = (K + G - 1) / G;
        std::vector<float> best_m(N * n_groups, std::numeric_limits<float>::infinity());
        exec(n_rt * n_groups, [&](std::size_t task) {
            const std::size_t g = task % n_groups, r0 = (task / n_groups) * RT, rows = std::min(RT, N - r0);
            const std::size_t c0 = g * G, gn = std::min(G, K - c0), cols = rows * C;
            std::vector<float> cand(gn * cols), out(Tc * cols, 0.0f), amax(rows);
            for (std::size_t r = 0; r < rows; ++r) {
                const float* wr = ws.data() + (r0 + r) * K + c0;
                float mx = 0;
                for (std::size_t j = 0; j < gn; ++j) mx = std::max(mx, std::fabs(wr[j]));
                amax[r] = mx;
                for (std::size_t j = 0; j < gn; ++j) cand[j * cols + r * C] = wr[j];
                for (int i = 0; i < n_shrink; ++i) {
                    const float m = mx * (1.0f - static_cast<float>(i) / static_cast<float>(opt.clip_grid));
                    ops.clip_round_trip(wr, gn, m, cand.data() + r * C + 1 + static_cast<std::size_t>(i), cols);
                }
            }
            linalg::gemm_acc<float>(Tc, cols, gn, xc.data() + c0, K, 1, cand.data(), cols, out.data(), cols, 1.0f);
            for (std::size_t r = 0; r < rows; ++r) {
                double best_err = std::numeric_limits<double>::infinity();
                float bm = amax[r];
                for (std::size_t c = 1; c < C; ++c) {
                    double e = 0;
                    for (std::size_t t = 0; t < Tc; ++t) {
                        const double d = static_cast<double>(out[t * cols + r * C + c]) - out[t * cols + r * C];
                        e += d * d;
                    }
                    if (e < best_err) {
                        best_err = e;
                        bm = amax[r] * (1.0f - static_cast<float>(c - 1) / static_cast<float>(opt.clip_grid));
                    }
                }
                best_m[(r0 + r) * n_groups + g] = bm;
            }
        });
        for (std::size_t r = 0; r < N; ++r)
            for (std::size_t g = 0; g < n_groups; ++g) {
                const float m = best_m[r * n_groups + g];
                bool clipped = false;
                for (std::size_t j = g * G; j < std::min(K, (g + 1) * G); ++j) {
                    float& v = ws[r * K + j];
                    clipped = clipped || std::fabs(v) > m;
                    v = std::min(std::max(v, -m), m);
                }
                rep.clipped_groups += clipped;
            }
    }
    return {};
}
}  // namespace detail

template <class S, class Exec = serial_executor>
result<awq_result<S>> awq_quantize(matrix_view<const float> w, matrix_view<const float> x, const awq_options& opt = {},
                                   Exec&& exec = Exec{}) {
    const auto t0 = std::chrono::steady_clock::now();
    const int group = S::gran == granularity::per_group ? (S::static_group ? S::static_group : opt.group) : static_cast<int>(w.cols());
    LOWBIT_TRY(detail::awq_check(w, x, opt, group));
    const std::size_t N = w.rows(), K = w.cols();
    const executor_ref ex(exec);
    auto q = qmatrix<S>::allocate(N, K, group);
    if (!q) return q.error();
    awq_result<S> res{qmatrix<S>{}, {}, {}};
    const detail::awq_scheme_ops ops{&*q, &detail::awq_round_trip<S>,
                                     &detail::awq_clip_round_trip<S::bits, S::is_symmetric, typename S::scale_codec>};
    std::vector<float> ws, best_s;
    LOWBIT_TRY(detail::awq_search(w, x, opt, static_cast<std::size_t>(group), ops, ex, ws, best_s, res.report));
    awq_report& rep = res.report;
    // 4. final RTN
    LOWBIT_TRY(quantize_into<S>(matrix_view<const float>(ws.data(), N, K), q->mut_view(), calibration{}, exec));
    res.q = std::move(*q);
    res.scales = std::move(best_s);
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return res;
}

// The run-time twin, compiled once per width like gptq's (gptq.hpp).
struct awq_any_result {
    any_qmatrix q;
    std::vector<float> scales;
    awq_report report;
};
namespace detail {
template <int B>
struct awq_width {
    static status run(const runtime_scheme& s, matrix_view<const float> w, matrix_view<const float> x, const awq_options& opt,
                      executor_ref exec, awq_any_result& out);
};
template <int B>
status awq_width<B>::run(const runtime_scheme& s, matrix_view<const float> w, matrix_view<const float> x, const awq_options& opt,
                         executor_ref exec, awq_any_result& out) {
    auto f = [&](auto tag) {
        auto r = awq_quantize<decltype(tag)>(w, x, opt, exec);
        if (r) out.scales = std::move(r->scales);
        return take_typed_result(r, out);
    };
    return visit_symmetry<B>(s, f);
}
LOWBIT_EXTERN_WIDTHS(awq_width)
}  // namespace detail

template <class Exec = serial_executor>
result<awq_any_result> awq_quantize(const runtime_scheme& s, matrix_view<const float> w, matrix_view<const float> x,
                                    awq_options opt = {}, Exec&& exec = Exec{}) {
    awq_any_result out;
    out.q.scheme = s;
    opt.group = s.group;
    const executor_ref ex(exec);
    LOWBIT_TRY(detail::visit_width(s, [&](auto b) { return detail::awq_width<decltype(b)::value>::run(s, w, x, opt, ex, out); }));
    return out;
}

// The lowbit grid for awq_gguf.hpp's group search (awq_gguf_linear::round_trip,
// ctx: a const runtime_scheme*): the scheme's round to nearest (min/max range,
// as awq_quantize's loss), decoded back into ws in place. Serial: the search
// calls it from its own worker tasks. The search hands it blocks of rows, so
// only row-local schemes (per channel, per group) are its tensor's grid: a
// per-tensor scale spans all rows, and is refused. A template so that only a
// caller instantiates the run-time quantizer (awq_lowbit_round_trip<>).
template <class = void>
status awq_lowbit_round_trip(const void* scheme, float* ws, std::size_t rows, std::size_t cols) {
    const runtime_scheme& s = *static_cast<const runtime_scheme*>(scheme);
    if (s.gran == granularity::per_tensor)
        return status::error(errc::unsupported, "scheme: AWQ's group search rounds blocks of rows; a per-tensor scale spans all of them");
    auto q = quantize(s, matrix_view<const float>(ws, rows, cols));
    if (!q) return q.error();
    return dequantize(*q, matrix_view<float>(ws, rows, cols));
}

}  // namespace lowbit
