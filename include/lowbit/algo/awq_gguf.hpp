// lowbit/algo/awq_gguf.hpp — AWQ's scale search for weights whose bytes are
// one of ggml's block formats (Q4_0 … Q8_0, Q2_K … Q6_K): the scales are to be
// folded into the operation that produces the input (a norm's gain, the rows
// of a previous linear), so the file stays a plain GGUF. docs/ptq.md, "AWQ on
// ggml block formats".
//
// A group is the linears that read one input x (K columns): q/k/v, gate/up,
// attn_output, ffn_down. For ratios a = i / grid (i < grid, llm-awq's grid):
//   s_j = max(x_mean_j^a, 1e-4),  s /= sqrt(max s * min s)      (algo/awq.hpp)
//   loss(a) = sum over the group's W of  sum_r d_r H d_r^T / sum_r w_r H w_r^T,
//   d = W - Q(W diag s) diag(1/s),
// where Q is ggml's quantizer of the linear's type (gguf::quantize, the bytes
// llama-quantize writes) or, for a linear given a lowbit scheme, that scheme's
// round to nearest (round_trip: awq_lowbit_round_trip in algo/awq.hpp), weighted by importance_j / s_j^2 when an imatrix
// row is given (the imatrix of the scaled input x / s), and H = X^T X of the
// calibration tokens, so the loss is the relative output error of the group
// on all of them, not a strided sample. a = 0 is s = 1, the plain (or
// imatrix-weighted) quantizer: the search never does worse than it on this loss.
// Scales tied across channels (GQA: one value head feeds several query heads'
// columns of attn_output) come out tied when the caller gives those channels
// the same x_mean: every step maps equal x_mean to equal s.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "../core/status.hpp"
#include "../core/views.hpp"
#include "../formats/gguf_blocks.hpp"
#include "../parallel.hpp"
#include "gptq.hpp"
#include "linalg.hpp"

namespace lowbit {

// A linear whose grid is not one of ggml's (a lowbit scheme: awq_lowbit_round_trip
// in algo/awq.hpp): replaces rows x cols scaled weights by what its quantizer
// decodes them to. Called from the search's worker tasks, so it runs serially.
using awq_round_trip = status (*)(const void* ctx, float* ws, std::size_t rows, std::size_t cols);

struct awq_gguf_linear {
    gguf::gguf_type type;         // the type its bytes will have
    matrix_view<const float> w;   // rows x K (K: the group's input width)
    awq_round_trip round_trip = nullptr;  // set: this quantizer instead of type's (importance unused)
    const void* round_trip_ctx = nullptr;
};

struct awq_gguf_options {
    int grid = 20;                 // ratios a = i / grid, i < grid (llm-awq)
    span<const float> importance;  // K: mean x^2 per input (an imatrix row), or empty: ggml's unweighted quantizer
};

struct awq_gguf_result {
    std::vector<float> scales;  // s (K): W's columns are multiplied by it, the input divided by it
    float best_ratio = 0;
    double loss = 0;        // the group's loss at the best ratio
    double loss_plain = 0;  // the same at a = 0 (s = 1: the quantizer alone)
};

// llm-awq's candidate scales for one ratio: x_mean^a, clamped, normalised by
// the geometric mean of the extremes.
inline std::vector<float> awq_candidate_scales(span<const float> x_mean, double a) {
    std::vector<double> sd(x_mean.size());
    double mx = 0, mn = std::numeric_limits<double>::infinity();
    for (std::size_t j = 0; j < sd.size(); ++j) {
        sd[j] = std::max(std::pow(static_cast<double>(x_mean[j]), a), 1e-4);
        mx = std::max(mx, sd[j]);
        mn = std::min(mn, sd[j]);
    }
    const double norm = std::sqrt(mx * mn);
    std::vector<float> s(sd.size());
    for (std::size_t j = 0; j < sd.size(); ++j) s[j] = static_cast<float>(sd[j] / norm);
    return s;
}

// The Hessian of the scaled input x / s: H' = S^-1 H S^-1 (same sample count).
inline result<hessian> awq_scaled_hessian(const hessian& h, span<const float> s) {
    const std::size_t K = h.cols();
    if (s.size() != K) return status::error(errc::shape_mismatch, "s has %zu values, the hessian is %zu x %zu", s.size(), K, K);
    const matrix_view<const float> m = h.matrix();
    std::vector<float> out(K * K);
    for (std::size_t i = 0; i < K; ++i)
        for (std::size_t j = 0; j < K; ++j) out[i * K + j] = m(i, j) / (s[i] * s[j]);
    return hessian::from_matrix(matrix_view<const float>(out.data(), K, K), h.samples());
}

namespace detail {

// sum_r d_r H d_r^T with d = W - Q(W diag s) diag(1/s), and sum_r w_r H w_r^T.
template <class Exec>
status awq_gguf_error(const awq_gguf_linear& l, span<const float> s, span<const float> importance, matrix_view<const float> h,
                      double& err, double& ref, Exec& exec) {
    const std::size_t N = l.w.rows(), K = l.w.cols(), RT = 32, tasks = (N + RT - 1) / RT;
    const auto row_bytes = l.round_trip ? 0 : static_cast<std::size_t>(gguf::row_size(l.type, static_cast<std::int64_t>(K)));
    std::vector<float> imp;
    if (!importance.empty()) {
        imp.resize(K);
        for (std::size_t j = 0; j < K; ++j) imp[j] = importance[j] / (s[j] * s[j]);
    }
    std::vector<double> e(tasks, 0.0), r(tasks, 0.0);
    std::vector<status> st(tasks);
    exec(tasks, [&](std::size_t t) {
        const std::size_t r0 = t * RT, n = std::min(RT, N - r0);
        std::vector<float> ws(n * K), d(2 * n * K), hd(2 * n * K, 0.0f);
        std::vector<std::uint8_t> q(n * row_bytes);
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < K; ++j) ws[i * K + j] = l.w(r0 + i, j) * s[j];
        if (l.round_trip) {
            st[t] = l.round_trip(l.round_trip_ctx, ws.data(), n, K);
        } else {
            st[t] = gguf::quantize(l.type, ws.data(), q.data(), static_cast<std::int64_t>(n), static_cast<std::int64_t>(K),
                                   imp.empty() ? nullptr : imp.data());
            for (std::size_t i = 0; i < n && st[t].ok(); ++i)
                st[t] = gguf::dequantize_row(l.type, q.data() + i * row_bytes, ws.data() + i * K, static_cast<std::int64_t>(K));
        }
        if (!st[t].ok()) return;
        // rows 0..n-1 of d: the error; rows n..2n-1: the weights (the reference energy), one GEMM for both
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < K; ++j) {
                d[i * K + j] = l.w(r0 + i, j) - ws[i * K + j] / s[j];
                d[(n + i) * K + j] = l.w(r0 + i, j);
            }
        linalg::gemm_acc<float>(2 * n, K, K, d.data(), K, 1, h.data(), h.stride(), hd.data(), K, 1.0f);
        for (std::size_t i = 0; i < 2 * n; ++i) {
            double acc = 0;
            for (std::size_t j = 0; j < K; ++j) acc += static_cast<double>(d[i * K + j]) * hd[i * K + j];
            (i < n ? e[t] : r[t]) += acc;
        }
    });
    for (const status& x : st)
        if (!x.ok()) return x;
    err = ref = 0;
    for (std::size_t t = 0; t < tasks; ++t) err += e[t], ref += r[t];
    return status();
}

// What awq_search_gguf and awq_gguf_loss read, for K inputs: the linears (K
// columns, finite, whole blocks of their type), h (K x K, finite) and the
// optional importance (K finite values >= 0). `imp_name` names the importance
// argument in messages.
inline status check_awq_gguf_group(span<const awq_gguf_linear> group, std::size_t K, matrix_view<const float> h,
                                   span<const float> importance, const char* imp_name) {
    if (group.empty()) return status::error(errc::invalid_argument, "group is empty: AWQ needs at least one linear");
    LOWBIT_TRY(lowbit::detail::check_span(group, "group"));
    if (K == 0 || h.rows() != K || h.cols() != K)
        return status::error(errc::shape_mismatch, "x_mean (or s) has %zu values, h is %zu x %zu", K, h.rows(), h.cols());
    if (!importance.empty() && importance.size() != K)
        return status::error(errc::shape_mismatch, "%s has %zu values, x_mean %zu", imp_name, importance.size(), K);
    LOWBIT_TRY(lowbit::detail::check_span(importance, imp_name));
    for (std::size_t j = 0; j < importance.size(); ++j)
        if (!(importance[j] >= 0.0f) || !std::isfinite(importance[j]))
            return status::error(errc::non_finite, "%s[%zu] = %g: must be finite and >= 0", imp_name, j, static_cast<double>(importance[j]));
    LOWBIT_TRY(lowbit::detail::check_finite(h, "h"));
    for (const awq_gguf_linear& l : group) {
        if (l.w.cols() != K || l.w.rows() == 0 || !l.w.data())
            return status::error(errc::shape_mismatch, "a linear of the group is %zu x %zu, expected rows x %zu", l.w.rows(), l.w.cols(), K);
        if (!l.round_trip && K % static_cast<std::size_t>(gguf::type_block_size(l.type)) != 0)
            return status::error(errc::shape_mismatch, "K = %zu is not a multiple of %s's block of %lld", K, gguf::type_name(l.type),
                                 static_cast<long long>(gguf::type_block_size(l.type)));
        LOWBIT_TRY(lowbit::detail::check_finite(l.w, "w"));
    }
    return {};
}

}  // namespace detail

// The group's loss (see the top) for the scales s (K finite values > 0).
// Every argument is checked as awq_search_gguf checks it (it used to read
// h and s unchecked: an h smaller than K x K was read out of bounds).
template <class Exec = serial_executor>
result<double> awq_gguf_loss(span<const awq_gguf_linear> group, span<const float> s, matrix_view<const float> h,
                             span<const float> importance = {}, Exec&& exec = Exec{}) {
    LOWBIT_TRY(lowbit::detail::check_span(s, "s"));
    for (std::size_t j = 0; j < s.size(); ++j)
        if (!(s[j] > 0.0f) || !std::isfinite(s[j]))
            return status::error(errc::invalid_argument, "s[%zu] = %g: must be finite and > 0", j, static_cast<double>(s[j]));
    LOWBIT_TRY(detail::check_awq_gguf_group(group, s.size(), h, importance, "importance"));
    double total = 0;
    for (const awq_gguf_linear& l : group) {
        double e = 0, r = 0;
        LOWBIT_TRY(detail::awq_gguf_error(l, s, importance, h, e, r, exec));
        if (!(r > 0)) return status::error(errc::invalid_argument, "h: the group's output energy w H w^T is %g, not positive", r);
        total += e / r;
    }
    return total;
}

// The scale search. x_mean: mean |x_j| over the calibration tokens; h: their X^T X (any positive multiple).
template <class Exec = serial_executor>
result<awq_gguf_result> awq_search_gguf(span<const awq_gguf_linear> group, span<const float> x_mean, matrix_view<const float> h,
                                        const awq_gguf_options& o = {}, Exec&& exec = Exec{}) {
    const std::size_t K = x_mean.size();
    LOWBIT_TRY(detail::check_awq_gguf_group(group, K, h, o.importance, "options.importance"));
    if (o.grid < 1) return status::error(errc::invalid_argument, "options.grid = %d, must be >= 1", o.grid);
    LOWBIT_TRY(lowbit::detail::check_span(x_mean, "x_mean"));
    for (std::size_t j = 0; j < K; ++j)
        if (!(x_mean[j] >= 0.0f) || !std::isfinite(x_mean[j]))
            return status::error(errc::non_finite, "x_mean[%zu] = %g: must be finite and >= 0", j, static_cast<double>(x_mean[j]));
    awq_gguf_result best;
    best.loss = std::numeric_limits<double>::infinity();
    for (int i = 0; i < o.grid; ++i) {
        const double a = static_cast<double>(i) / o.grid;
        std::vector<float> s = awq_candidate_scales(x_mean, a);
        auto l = awq_gguf_loss(group, s, h, o.importance, exec);
        if (!l) return l.error();
        if (i == 0) best.loss_plain = *l;
        if (*l < best.loss) {  // strictly smaller, as the reference: ties keep the smaller ratio
            best.loss = *l;
            best.best_ratio = static_cast<float>(a);
            best.scales = std::move(s);
        }
    }
    if (best.scales.empty()) return status::error(errc::non_finite, "the loss is not finite for any ratio (loss at a = 0: %g)", best.loss_plain);
    return best;
}

// llm-awq's clip search, per ggml block (the bytes' own grouping) instead of
// per group of 128: for each row and block of the (scaled) weights, clamp to
// +-m with m = max|w| (1 - i / grid), i < max_shrink * grid (i = 0: unclipped);
// each candidate is quantized as a one-block row by the type's quantizer
// (importance-weighted when given) and scored by d H_bb d^T, H_bb the block's
// diagonal block of H (cross-block terms left out, as the reference scores a
// group alone). The best clamp is applied to w in place; returns the number
// of blocks clipped. Only the choice is approximate: the caller quantizes the
// clipped rows whole, as usual.
template <class Exec = serial_executor>
result<std::size_t> awq_clip_gguf(gguf::gguf_type t, matrix_view<float> w, matrix_view<const float> h, span<const float> importance = {},
                                  int grid = 20, float max_shrink = 0.5f, Exec&& exec = Exec{}) {
    const std::size_t N = w.rows(), K = w.cols(), B = gguf::type_block_size(t);
    if (!gguf::is_quantized(t)) return status::error(errc::invalid_argument, "%s is not a block type: nothing to clip", gguf::type_name(t));
    if (K == 0 || K % B != 0 || h.rows() != K || h.cols() != K)
        return status::error(errc::shape_mismatch, "w is %zu x %zu (rows of whole %zu-value blocks), h %zu x %zu", N, K, B, h.rows(), h.cols());
    if (!importance.empty() && importance.size() != K)
        return status::error(errc::shape_mismatch, "importance has %zu values, w's rows %zu", importance.size(), K);
    LOWBIT_TRY(lowbit::detail::check_span(importance, "importance"));
    if (grid < 1 || !(max_shrink >= 0.0f && max_shrink < 1.0f))
        return status::error(errc::invalid_argument, "grid = %d (>= 1), max_shrink = %g (in [0, 1))", grid, static_cast<double>(max_shrink));
    LOWBIT_TRY(detail::check_finite(matrix_view<const float>(w.data(), N, K, w.stride()), "w"));
    LOWBIT_TRY(detail::check_finite(h, "h"));  // read below (a null h used to be dereferenced)
    const int n_shrink = static_cast<int>(max_shrink * static_cast<float>(grid));
    const std::size_t row_bytes = static_cast<std::size_t>(gguf::row_size(t, static_cast<std::int64_t>(B)));
    std::vector<std::size_t> clipped(N, 0);
    std::vector<status> st(N);
    exec(N, [&](std::size_t r) {
        std::vector<float> c(B), q(B);
        std::vector<std::uint8_t> bytes(row_bytes);
        float* row = w.data() + r * w.stride();
        for (std::size_t b0 = 0; b0 < K && st[r].ok(); b0 += B) {
            float mx = 0;
            for (std::size_t j = 0; j < B; ++j) mx = std::max(mx, std::fabs(row[b0 + j]));
            double best = std::numeric_limits<double>::infinity();
            float best_m = mx;
            for (int i = 0; i <= n_shrink && st[r].ok(); ++i) {
                const float m = mx * (1.0f - static_cast<float>(i) / static_cast<float>(grid));
                for (std::size_t j = 0; j < B; ++j) c[j] = std::min(std::max(row[b0 + j], -m), m);
                st[r] = gguf::quantize(t, c.data(), bytes.data(), 1, static_cast<std::int64_t>(B),
                                       importance.empty() ? nullptr : importance.data() + b0);
                if (st[r].ok()) st[r] = gguf::dequantize_row(t, bytes.data(), q.data(), static_cast<std::int64_t>(B));
                for (std::size_t j = 0; j < B; ++j) q[j] = row[b0 + j] - q[j];
                double e = 0;
                for (std::size_t a = 0; a < B; ++a) {
                    double acc = 0;
                    for (std::size_t j = 0; j < B; ++j) acc += static_cast<double>(h(b0 + a, b0 + j)) * q[j];
                    e += acc * q[a];
                }
                if (e < best) best = e, best_m = m;
            }
            if (best_m < mx) {
                clipped[r] += 1;
                for (std::size_t j = 0; j < B; ++j) row[b0 + j] = std::min(std::max(row[b0 + j], -best_m), best_m);
            }
        }
    });
    std::size_t n = 0;
    for (std::size_t r = 0; r < N; ++r) {
        if (!st[r].ok()) return st[r];
        n += clipped[r];
    }
    return n;
}

}  // namespace lowbit
