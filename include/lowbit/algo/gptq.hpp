// lowbit/algo/gptq.hpp — GPTQ (Frantar et al., 2022, "GPTQ: Accurate
// Post-Training Quantization for Generative Pre-trained Transformers"),
// faithful to the reference `fasterquant` of IST-DASLab/gptq. docs/ptq.md
// explains the method and every default; this file cites the steps.
//
//   1. H = 2/n sum_t x_t x_t^T over calibration activations (hessian, a running
//      mean over any number of batches, as the reference's add_batch).
//   2. Dead inputs (H_jj = 0): H_jj = 1 and weight column j = 0.
//   3. act-order: process columns by decreasing H_jj.
//   4. U = chol((H + damp I)^-1) upper, damp = percdamp * mean diag(H); if the
//      factorization fails, damp is multiplied by 10 and retried (reported).
//   5. Columns in blocks of 128: quantize column i, e = (w - q) / U_ii,
//      update the rest of the block with e U_i,; after the block, update all
//      later columns with Err * U_block,later (the "lazy batch" update).
//   6. Groups: the scale and zero of a group are computed when its first column
//      is reached, from the outer matrix W — which has received the updates of
//      previous 128-column blocks but *not* the in-block corrections (the
//      reference reads W[:, i:i+g], not the block copy W1). That is the default
//      (gptq_group_source::reference); gptq_group_source::updated uses the
//      fully updated values instead. Static groups: all parameters from the
//      original W, before any update.
//
// Memory: O(K^2 + N K). H (caller's, K^2 f32), the f64 factorization workspace
// (K^2 doubles, freed before the column sweep), U (K^2 f32), the output
// qmatrix, and per task 48 rows of W in f32. W itself is read, never copied
// whole. Rows are independent given U, so the sweep is split over the
// executor by 48-row tiles: results are bit-identical for any thread count.
//
// Deviations from the reference (documented in docs/ptq.md):
//   - symmetric schemes use lowbit's restricted range (s = amax/(2^(b-1)-1),
//     codes 1..2^b-1); the reference's symmetric grid is s = 2 amax/(2^b-1),
//     codes 0..2^b-1. Asymmetric (the reference's LLaMA default) is identical.
//   - codes are computed with the *stored* scale (f16 by default, rounded up);
//     use a scale_f32 scheme for bit-exact agreement with the reference.
//   - H factorizations run in f64 (the reference: f32).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <utility>
#include <vector>

#include "../compiled_mode.hpp"
#include "../core/status.hpp"
#include "../core/views.hpp"
#include "../executor_ref.hpp"
#include "../pack/qmatrix.hpp"
#include "../parallel.hpp"
#include "../quant/calibrate.hpp"
#include "../quant/params.hpp"
#include "../pack/any_qmatrix.hpp"
#include "linalg.hpp"

namespace lowbit {

// ---- the Hessian accumulator ----------------------------------------------------------------
// H = 2/n sum x x^T, kept as a running mean so any number of batches can be
// streamed (the reference: H *= n/(n+m); n += m; H += 2/n X^T X). n counts
// samples; by default one sample per row (token) of a batch. The reference
// counts a batch's leading dimension (sequences) instead, which scales H by a
// constant: GPTQ's result does not depend on that scale (damping is relative).
class hessian {
public:
    hessian() = default;
    explicit hessian(std::size_t k) : k_(k), h_(k * k, 0.0f) {}

    // An H computed elsewhere (K x K, symmetric), counted as `samples` samples.
    static result<hessian> from_matrix(matrix_view<const float> h, double samples) {
        if (h.rows() != h.cols() || h.rows() == 0)
            return status::error(errc::shape_mismatch, "h is %zu x %zu, must be square and non-empty", h.rows(), h.cols());
        LOWBIT_TRY(detail::check_finite(h, "h"));
        if (!(samples > 0.0) || !std::isfinite(samples))
            return status::error(errc::invalid_argument, "samples = %g, must be positive and finite", samples);
        hessian r(h.rows());
        for (std::size_t i = 0; i < h.rows(); ++i) std::copy(h.row(i), h.row(i) + h.cols(), r.h_.data() + i * h.cols());
        r.n_ = samples;
        for (const float v : r.h_) r.hbound_ = std::max(r.hbound_, static_cast<double>(std::fabs(v)));
        r.tokens_ = static_cast<std::size_t>(samples > 0 ? samples : 0);
        return r;
    }

    std::size_t cols() const noexcept { return k_; }
    double samples() const noexcept { return n_; }
    std::size_t tokens() const noexcept { return tokens_; }
    std::size_t zero_rows() const noexcept { return zero_rows_; }
    matrix_view<const float> matrix() const noexcept { return {h_.data(), k_, k_}; }

    // Add a batch x (T x K). samples < 0: T samples. Rejects NaN/Inf (naming
    // the element) before touching H, so a bad batch leaves H unchanged.
    template <class Exec = serial_executor>
    status add_batch(matrix_view<const float> x, Exec&& exec = Exec{}, double samples = -1.0) {
        if (x.cols() != k_) return status::error(errc::shape_mismatch, "x has %zu columns, the hessian is %zu x %zu", x.cols(), k_, k_);
        if (x.rows() == 0) return status::error(errc::invalid_argument, "x has no rows: a calibration batch needs at least one token");
        LOWBIT_TRY(lowbit::detail::check_view(x, "x"));
        std::size_t zero = 0;
        float amax = 0.0f;
        for (std::size_t t = 0; t < x.rows(); ++t) {
            bool all_zero = true;
            for (std::size_t c = 0; c < k_; ++c) {
                const float v = x(t, c);
                if (!std::isfinite(v))
                    return status::error(errc::non_finite, "x(%zu, %zu) = %g: calibration activations must be finite", t, c,
                                         static_cast<double>(v));
                all_zero = all_zero && v == 0.0f;
                amax = std::max(amax, std::fabs(v));
            }
            zero += all_zero;
        }
        const double m = samples < 0 ? static_cast<double>(x.rows()) : samples;
        if (!(m > 0.0)) return status::error(errc::invalid_argument, "samples = %g, must be > 0", m);
        // Finite activations can still overflow H (f32): after this batch |H(i, j)| <= keep * hbound_ +
        // (2 / n) * T * max|x|^2, and syrk_upper's unscaled partial sums are at most T * max|x|^2. Refused
        // before H changes (x of 1e20 used to leave Inf in H with OK returned; GPTQ refused it only later).
        // hbound_ is a running bound, so no pass over H is needed.
        const double sq = static_cast<double>(x.rows()) * amax * amax;
        const double grown = n_ / (n_ + m) * hbound_ + 2.0 / (n_ + m) * sq;
        if (!(std::max(grown, sq) <= 0.5 * static_cast<double>(std::numeric_limits<float>::max())))
            return status::error(errc::invalid_argument,
                                 "x: max |x| = %g over %zu rows with samples = %g would overflow the f32 hessian",
                                 static_cast<double>(amax), x.rows(), m);
        hbound_ = grown;
        const float keep = static_cast<float>(n_ / (n_ + m));
        for (float& v : h_) v *= keep;
        n_ += m;
        tokens_ += x.rows();
        zero_rows_ += zero;
        matrix_view<float> h(h_.data(), k_, k_);
        LOWBIT_TRY(linalg::syrk_upper(x, static_cast<float>(2.0 / n_), h, exec));
        linalg::symmetrize_from_upper(h);
        return {};
    }

private:
    std::size_t k_ = 0;
    std::vector<float> h_;
    double n_ = 0.0;
    double hbound_ = 0.0;  // an upper bound on max |H(i, j)| (add_batch's overflow check)
    std::size_t tokens_ = 0, zero_rows_ = 0;
};

// ---- options and report ---------------------------------------------------------------------
enum class gptq_group_source : std::uint8_t {
    reference,  // outer W: previous blocks' updates only (IST-DASLab/gptq fasterquant)
    updated,    // W with every update so far, in-block corrections included
};

struct gptq_options {
    int block_size = 128;      // lazy-batch block (reference: blocksize=128)
    float percdamp = 0.01f;    // damping, fraction of mean diag(H) (reference: percdamp=.01)
    int max_damp_retries = 4;  // on Cholesky failure, damp *= 10 and retry this many times (0: fail)
    bool act_order = false;    // desc_act: columns by decreasing H_jj
    bool static_groups = false;
    int group = 0;             // group size for per_group_dynamic schemes
    calibration calib{};       // minmax (reference default) or mse (reference --mse: grid 100, shrink .8, norm 2.4)
    gptq_group_source group_source = gptq_group_source::reference;
    double min_samples = 1.0;  // fewer calibration samples than this is an error
};

struct gptq_report {
    double damp = 0;              // absolute damping added to diag(H)
    double damp_fraction = 0;     // damp / mean diag(H)
    int damp_retries = 0;         // how many times Cholesky failed and damping was raised
    std::size_t dead_columns = 0; // inputs whose activations were all zero (weights set to 0)
    double loss = 0;              // reference "error": sum (w - q)^2 / (2 U_ii^2)
    double samples = 0;
    std::size_t tokens = 0;
    bool rank_deficient = false;  // fewer tokens than inputs: H is singular, damping carries it
    double seconds = 0, seconds_factor = 0, seconds_sweep = 0;
    std::size_t workspace_bytes = 0;  // peak bytes allocated by gptq_quantize besides the output
};

template <class S>
struct gptq_result {
    qmatrix<S> q;
    gptq_report report;
};

namespace detail {
constexpr std::size_t gptq_rows_per_task = 48;

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Steps 2-4, shared with the sweep on ggml's block formats (gptq_gguf.hpp):
// dead inputs (H_jj = 0: H_jj = 1, the caller zeroes the weight column), the
// processing order (act-order: decreasing H_jj) and U = chol((H + damp I)^-1)
// upper in that order, damping raised tenfold on each failure.
template <class Exec>
status gptq_factor(matrix_view<const float> H, bool act_order, float percdamp, int max_damp_retries, std::vector<unsigned char>& dead,
                   std::vector<std::int32_t>& perm, std::vector<float>& U, gptq_report& rep, Exec&& exec, std::size_t order_unit = 1) {
    const std::size_t K = H.rows();
    dead.assign(K, 0);
    double diag_sum = 0;
    for (std::size_t j = 0; j < K; ++j) {
        dead[j] = H(j, j) == 0.0f;
        rep.dead_columns += dead[j];
        diag_sum += dead[j] ? 1.0 : static_cast<double>(H(j, j));
    }
    if (rep.dead_columns == K)
        return status::error(errc::invalid_argument, "hessian is zero: every calibration activation is zero, nothing to fit");
    perm.resize(K);
    std::iota(perm.begin(), perm.end(), 0);
    auto hdiag = [&](std::size_t j) { return dead[j] ? 1.0f : H(j, j); };
    if (act_order && order_unit > 1 && K % order_unit == 0) {
        // Whole units of order_unit consecutive columns (a lattice point's), by decreasing sum of their H_jj;
        // the columns of a unit stay together and in order.
        const std::size_t n_units = K / order_unit;
        std::vector<std::int32_t> units(n_units);
        std::vector<double> mass(n_units, 0.0);
        std::iota(units.begin(), units.end(), 0);
        for (std::size_t j = 0; j < K; ++j) mass[j / order_unit] += static_cast<double>(hdiag(j));
        std::stable_sort(units.begin(), units.end(), [&](std::int32_t a, std::int32_t b) {
            return mass[static_cast<std::size_t>(a)] > mass[static_cast<std::size_t>(b)];
        });
        for (std::size_t u = 0; u < n_units; ++u)
            for (std::size_t c = 0; c < order_unit; ++c)
                perm[u * order_unit + c] = static_cast<std::int32_t>(static_cast<std::size_t>(units[u]) * order_unit + c);
    } else if (act_order) {
        std::stable_sort(perm.begin(), perm.end(), [&](std::int32_t a, std::int32_t b) { return hdiag(a) > hdiag(b); });
    }

    const double mean_diag = diag_sum / static_cast<double>(K);
    if (!(mean_diag > 0) || !std::isfinite(mean_diag))
        return status::error(errc::numerical, "hessian has mean diagonal %g: not a Gram matrix", mean_diag);
    U.assign(K * K, 0.0f);
    std::vector<double> work;
    auto hval = [&](std::size_t i, std::size_t j) -> double {
        const std::size_t a = static_cast<std::size_t>(perm[i]), b = static_cast<std::size_t>(perm[j]);
        if (dead[a] || dead[b]) return a == b ? 1.0 : 0.0;
        return H(a, b);
    };
    double damp = static_cast<double>(percdamp) * mean_diag;
    for (int attempt = 0;; ++attempt) {
        const status st = linalg::inverse_cholesky_upper_of(K, hval, damp, {U.data(), K, K}, work, exec);
        if (st) break;
        if (st.code() != errc::numerical || attempt >= max_damp_retries)
            return status::error(st.code(), "GPTQ: H + %g I is not positive definite after %d damping retries (%s)", damp, attempt,
                                 st.message());
        damp = damp > 0 ? damp * 10.0 : 0.01 * mean_diag;
        rep.damp_retries = attempt + 1;
    }
    rep.damp = damp;
    rep.damp_fraction = damp / mean_diag;
    rep.workspace_bytes = K * K * (sizeof(double) + sizeof(float));
    return {};
}
// The start every GPTQ variant shares (gptq, gptq_gguf, gptq_codebook): the
// report's calibration fields, then gptq_factor, timed into seconds_factor.
struct gptq_factors {
    std::vector<unsigned char> dead;  // inputs that never fired: their weights are zeroed
    std::vector<std::int32_t> perm;   // processing position -> column
    std::vector<float> U;             // K x K upper factor of (H + damp I)^-1
};
template <class Options, class Exec>
status gptq_begin(const hessian& hs, matrix_view<const float> H, const Options& opt, std::chrono::steady_clock::time_point t_start,
                  gptq_report& rep, gptq_factors& f, Exec&& exec, std::size_t order_unit = 1) {
    rep.samples = hs.samples();
    rep.tokens = hs.tokens();
    rep.rank_deficient = hs.tokens() < H.rows();
    LOWBIT_TRY(gptq_factor(H, opt.act_order, opt.percdamp, opt.max_damp_retries, f.dead, f.perm, f.U, rep, exec, order_unit));
    rep.seconds_factor = seconds_since(t_start);
    return {};
}

}  // namespace detail

// GPTQ-quantize w (N x K) given the Hessian of its inputs. per_tensor schemes
// are not supported (GPTQ's parameters are per row or per group).
template <class S, class Exec = serial_executor>
result<gptq_result<S>> gptq_quantize(matrix_view<const float> w, const hessian& hs, const gptq_options& opt = {},
                                     Exec&& exec = Exec{}) {
    using codec = typename S::scale_codec;
    constexpr int B = S::bits;
    constexpr bool sym = S::is_symmetric;
    const auto t_start = std::chrono::steady_clock::now();
    if (S::gran == granularity::per_tensor)
        return status::error(errc::unsupported, "GPTQ needs per-channel or per-group scales, not per-tensor");
    LOWBIT_TRY(opt.calib.validate());
    if (static_cast<int>(opt.group_source) > static_cast<int>(gptq_group_source::updated))
        return status::error(errc::invalid_argument, "options.group_source = %d is not a gptq_group_source (reference 0, updated 1)",
                             static_cast<int>(opt.group_source));
    if (opt.block_size < 1) return status::error(errc::invalid_argument, "options.block_size = %d, must be >= 1", opt.block_size);
    if (!(opt.percdamp >= 0.0f) || !std::isfinite(opt.percdamp))
        return status::error(errc::invalid_argument, "options.percdamp = %g, must be finite and >= 0", static_cast<double>(opt.percdamp));
    if (opt.max_damp_retries < 0) return status::error(errc::invalid_argument, "options.max_damp_retries = %d, must be >= 0", opt.max_damp_retries);
    if (!w.data() || w.empty()) return status::error(errc::invalid_argument, "w is null or empty (%zu x %zu)", w.rows(), w.cols());
    const std::size_t N = w.rows(), K = w.cols();
    if (hs.cols() != K) return status::error(errc::shape_mismatch, "w has %zu columns but the hessian is %zu x %zu", K, hs.cols(), hs.cols());
    if (!(hs.samples() >= opt.min_samples) || hs.samples() <= 0)
        return status::error(errc::invalid_argument, "hessian has %g calibration samples, need >= %g (add_batch first)", hs.samples(),
                             std::max(opt.min_samples, 1.0));
    LOWBIT_TRY(detail::check_finite(w, "w"));
    const matrix_view<const float> H = hs.matrix();
    LOWBIT_TRY(detail::check_finite(H, "hessian"));
    const std::size_t G = S::gran == granularity::per_group ? static_cast<std::size_t>(S::static_group ? S::static_group : opt.group) : K;
    if (G < 1 || static_cast<long long>(G) > (1ll << 30))
        return status::error(errc::invalid_argument, "options.group = %d: per-group GPTQ needs a group size >= 1", opt.group);
    const bool grouped = S::gran == granularity::per_group;
    const bool static_groups = grouped && opt.static_groups;

    auto qm = qmatrix<S>::allocate(N, K, static_cast<int>(G));
    if (!qm) return qm.error();
    gptq_result<S> res{std::move(*qm), {}};
    gptq_report& rep = res.report;

    // 2. dead inputs; 3. processing order; 4. U.
    detail::gptq_factors f;
    LOWBIT_TRY(detail::gptq_begin(hs, H, opt, t_start, rep, f, exec));
    const auto t_sweep = std::chrono::steady_clock::now();

    // Parameters fixed before the sweep: per channel from the original W (the
    // reference's find_params(W) precedes the dead-column zeroing), static
    // groups from W with dead columns zeroed, in the original column order.
    const qmatrix_mut_view<S> out = res.q.mut_view();
    const qmatrix_view<S> ov = out;
    const std::size_t gpr = ov.groups_per_row();
    const bool keep_perm = opt.act_order && grouped && !static_groups;  // groups live in processing order
    std::vector<group_params<codec>> fixed;
    if (!grouped || static_groups) fixed.resize(N * gpr);

    const std::size_t R = detail::gptq_rows_per_task, BS = static_cast<std::size_t>(opt.block_size);
    const std::size_t n_tasks = (N + R - 1) / R;
    std::vector<double> task_loss(n_tasks, 0.0);
    std::vector<unsigned char> task_overflow(n_tasks, 0);
    rep.workspace_bytes = std::max(rep.workspace_bytes, K * K * sizeof(float) + fixed.size() * sizeof(group_params<codec>) +
                                                            std::min<std::size_t>(n_tasks, executor_concurrency<std::decay_t<Exec>>::get(exec)) *
                                                                (R * K * (sizeof(float) + 2) + 2 * R * BS * sizeof(float) + G * 4));
    exec(n_tasks, [&](std::size_t t) {
        const std::size_t r0 = t * R, rows = std::min(R, N - r0);
        std::vector<float> wt(rows * K), w1(rows * BS), err(rows * BS), slice(G);
        std::vector<std::uint8_t> codes(rows * K), row_codes(K);
        std::vector<float> sc(rows), zr(rows);
        double loss = 0;
        bool overflow = false;
        auto store = [&](std::size_t r, std::size_t g, const group_params<codec>& p) {
            out.scales[ov.scale_index(r0 + r, g)] = p.stored_scale;
            if (!sym) out.zeros[ov.scale_index(r0 + r, g)] = p.stored_zero;
            overflow = overflow || !std::isfinite(p.scale);
        };
        for (std::size_t r = 0; r < rows; ++r) {
            const float* src = w.row(r0 + r);
            if (!grouped) {
                const group_params<codec> p = calibrate_block<B, sym, codec>({src, 1, K, K}, opt.calib, slice.data());
                store(r, 0, p);
                sc[r] = p.scale;
                zr[r] = p.zero;
            }
            for (std::size_t j = 0; j < K; ++j) wt[r * K + j] = f.dead[static_cast<std::size_t>(f.perm[j])] ? 0.0f : src[f.perm[j]];
            if (static_groups)
                for (std::size_t g = 0; g < gpr; ++g) {
                    const std::size_t c0 = g * G, n = std::min(G, K - c0);
                    for (std::size_t c = 0; c < n; ++c) slice[c] = f.dead[c0 + c] ? 0.0f : src[c0 + c];
                    std::vector<float> scratch(n);
                    const group_params<codec> p = calibrate_block<B, sym, codec>({slice.data(), 1, n, n}, opt.calib, scratch.data());
                    fixed[(r0 + r) * gpr + g] = p;
                    store(r, g, p);
                }
        }
        std::vector<float> scratch(G);
        for (std::size_t i1 = 0; i1 < K; i1 += BS) {
            const std::size_t i2 = std::min(K, i1 + BS), cnt = i2 - i1;
            for (std::size_t r = 0; r < rows; ++r) std::copy(wt.data() + r * K + i1, wt.data() + r * K + i2, w1.data() + r * BS);
            for (std::size_t i = 0; i < cnt; ++i) {
                const std::size_t col = i1 + i;
                const float d = f.U[col * K + col];
                if (grouped && !static_groups && col % G == 0) {  // 6. a new group starts here
                    const std::size_t n = std::min(G, K - col);
                    for (std::size_t r = 0; r < rows; ++r) {
                        const float* srcp = wt.data() + r * K + col;
                        if (opt.group_source == gptq_group_source::updated) {
                            for (std::size_t c = 0; c < n; ++c) slice[c] = col + c < i2 ? w1[r * BS + i + c] : srcp[c];
                            srcp = slice.data();
                        }
                        const group_params<codec> p = calibrate_block<B, sym, codec>({srcp, 1, n, n}, opt.calib, scratch.data());
                        store(r, col / G, p);
                        sc[r] = p.scale;
                        zr[r] = p.zero;
                    }
                }
                if (static_groups)
                    for (std::size_t r = 0; r < rows; ++r) {
                        const group_params<codec>& p = fixed[(r0 + r) * gpr + static_cast<std::size_t>(f.perm[col]) / G];
                        sc[r] = p.scale;
                        zr[r] = p.zero;
                    }
                const float* urow = f.U.data() + col * K + i1;
                for (std::size_t r = 0; r < rows; ++r) {
                    float* w1r = w1.data() + r * BS;
                    const float x = w1r[i];
                    const std::uint8_t u = quantize_value<B, sym>(x, sc[r], zr[r]);
                    const float q = dequantize_value(u, sc[r], zr[r]);
                    codes[r * K + col] = u;
                    const float e = (x - q) / d;
                    loss += static_cast<double>(e) * e;
                    err[r * BS + i] = e;
                    for (std::size_t j = i + 1; j < cnt; ++j) w1r[j] -= e * urow[j];
                }
            }
            if (i2 < K)  // lazy batch: W[:, i2:] -= Err1 U[i1:i2, i2:]
                linalg::gemm_acc<float>(rows, K - i2, cnt, err.data(), BS, 1, f.U.data() + i1 * K + i2, K, wt.data() + i2, K, -1.0f);
        }
        for (std::size_t r = 0; r < rows; ++r) {
            const std::uint8_t* cr = codes.data() + r * K;
            if (!keep_perm)
                for (std::size_t j = 0; j < K; ++j) row_codes[static_cast<std::size_t>(f.perm[j])] = cr[j];
            std::uint8_t* dst = out.codes + (r0 + r) * out.row_bytes;
            pack_codes<B>(keep_perm ? cr : row_codes.data(), K, dst);
        }
        task_loss[t] = loss / 2.0;
        task_overflow[t] = overflow;
    });
    for (std::size_t t = 0; t < n_tasks; ++t) {
        if (task_overflow[t])
            return status::error(errc::invalid_argument, "w: a %d-bit step overflows %s scales (use f32 scales)", B, scale_type_name(S::scale));
        rep.loss += task_loss[t];
    }
    if (keep_perm) res.q.set_perm(std::move(f.perm));
    rep.seconds_sweep = detail::seconds_since(t_sweep);
    rep.seconds = detail::seconds_since(t_start);
    return res;
}

// Convenience: H from one calibration batch x (T x K), then GPTQ.
template <class S, class Exec = serial_executor>
result<gptq_result<S>> gptq_quantize(matrix_view<const float> w, matrix_view<const float> x, const gptq_options& opt = {},
                                     Exec&& exec = Exec{}) {
    hessian h(w.cols());
    LOWBIT_TRY(h.add_batch(x, exec));
    return gptq_quantize<S>(w, h, opt, exec);
}

// The run-time twin for tools: a switch onto the template. The 18 schemes of
// each width are instantiated once per width (gptq_width<B>): in the caller's
// TU when header-only, in lowbit::compiled (src/kernels_w*.cpp) with
// LOWBIT_COMPILED, so that a tool calling the twin compiles no scheme.
struct gptq_any_result {
    any_qmatrix q;
    gptq_report report;
};
namespace detail {
template <int B>
struct gptq_width {
    static status run(const runtime_scheme& s, matrix_view<const float> w, const hessian& h, const gptq_options& opt,
                      executor_ref exec, gptq_any_result& out);
};
template <int B>
status gptq_width<B>::run(const runtime_scheme& s, matrix_view<const float> w, const hessian& h, const gptq_options& opt,
                          executor_ref exec, gptq_any_result& out) {
    auto f = [&](auto tag) {
        auto r = gptq_quantize<decltype(tag)>(w, h, opt, exec);
        return take_typed_result(r, out);
    };
    return visit_symmetry<B>(s, f);
}
LOWBIT_EXTERN_WIDTHS(gptq_width)
}  // namespace detail

template <class Exec = serial_executor>
result<gptq_any_result> gptq_quantize(const runtime_scheme& s, matrix_view<const float> w, const hessian& h, gptq_options opt = {},
                                      Exec&& exec = Exec{}) {
    gptq_any_result out;
    out.q.scheme = s;
    opt.group = s.group;
    const executor_ref ex(exec);
    LOWBIT_TRY(detail::visit_width(s, [&](auto b) { return detail::gptq_width<decltype(b)::value>::run(s, w, h, opt, ex, out); }));
    return out;
}

}  // namespace lowbit
