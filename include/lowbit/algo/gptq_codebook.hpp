// lowbit/algo/gptq_codebook.hpp — GPTQ whose output is codebook weights
// (formats/codebook.hpp): the column sweep rounds each weight to the nearest
// grid level times its block's scale, and feeds the error forward as GPTQ
// does. docs/ptq.md, "GPTQ on codebook grids".
//
//   - The factorisation is gptq.hpp's (the same H, dead inputs, damping, U =
//     chol((H + damp I)^-1), lazy batches; detail::gptq_factor is shared).
//   - A block's f16 scale is chosen when the sweep reaches the first of its
//     columns, from the block's current weights (all earlier error updates
//     applied), by codebook::quantize's search weighted by the importance
//     (options.importance, else H's diagonal: the weight GPTQ's error puts on
//     each column). Each column is then the nearest level for that scale.
//   - act-order sweeps columns by decreasing H_jj; the weights keep their
//     column order (blocks are fixed by the format; a block's scale comes from
//     all its current columns when the first of them comes up), as
//     gptq_gguf.hpp does for ggml's blocks.
//
// With H = c I nothing propagates, every column has the same importance, and
// the bytes equal codebook::quantize's (tests/test_algo_gguf.cpp checks it).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../core/status.hpp"
#include "../core/views.hpp"
#include "../formats/codebook.hpp"
#include "../parallel.hpp"
#include "gptq.hpp"
#include "linalg.hpp"

namespace lowbit {

struct gptq_codebook_options {
    float percdamp = 0.01f;        // damping, fraction of mean diag(H)
    int max_damp_retries = 4;      // on Cholesky failure, damp *= 10 and retry (0: fail)
    int block_size = 128;          // lazy-batch width
    bool act_order = false;        // sweep columns by decreasing H_jj (the weights keep their order)
    span<const float> importance;  // K per-column weights for the block scales, or empty: H's diagonal
};

struct gptq_codebook_result {
    weights w;  // layout::codebook, on the caller's grid
    gptq_report report;
};

namespace detail {

struct cb_live_block {
    std::uint16_t d = 0;
    float inv = 0.0f;  // 1 / d, 0 when d is 0
    std::uint8_t idx[32] = {};
};

// Returns false when a block scale overflows f16 (the sweep's updates can grow weights).
template <class B>
bool gptq_codebook_rows(std::size_t rows, std::size_t K, std::size_t BS, const float* U, const std::int32_t* perm, const std::int32_t* pos,
                        const float* imp, bool act_order, const codebook::detail::level_table& t, std::vector<float>& wt,
                        std::uint8_t* out, std::size_t row_bytes, double& loss) {
    const std::size_t nblk = K / 32, slots = act_order ? nblk : 1;
    std::vector<cb_live_block> live(rows * slots);
    std::vector<unsigned char> started(nblk, 0);
    std::vector<std::size_t> done(nblk, 0);
    std::vector<float> w1(rows * BS), err(rows * BS);
    float cur[32];
    std::uint8_t unused[32];
    for (std::size_t i1 = 0; i1 < K; i1 += BS) {
        const std::size_t i2 = std::min(K, i1 + BS), cnt = i2 - i1;
        for (std::size_t r = 0; r < rows; ++r) std::copy(wt.data() + r * K + i1, wt.data() + r * K + i2, w1.data() + r * BS);
        for (std::size_t i = 0; i < cnt; ++i) {
            const std::size_t p = i1 + i, col = static_cast<std::size_t>(perm[p]);
            const std::size_t b = col / 32, in_b = col % 32, slot = act_order ? b : 0;
            if (!started[b]) {  // the sweep reaches this block: its scale from its current values
                started[b] = 1;
                for (std::size_t r = 0; r < rows; ++r) {
                    for (std::size_t c = 0; c < 32; ++c) {
                        const std::size_t q = static_cast<std::size_t>(pos[b * 32 + c]);
                        if (q >= i1 && q < i2) {
                            cur[c] = w1[r * BS + (q - i1)];
                        } else {  // a later batch: this batch's pending updates added
                            float v = wt[r * K + q];
                            for (std::size_t s = i1; s < p; ++s) v -= err[r * BS + (s - i1)] * U[s * K + q];
                            cur[c] = v;
                        }
                    }
                    cb_live_block& lb = live[r * slots + slot];
                    lb.d = codebook::detail::fit_block(cur, imp + b * 32, t, unused);
                    if (codebook::detail::scale_overflows(lb.d)) return false;
                    const float df = f16_to_f32(lb.d);
                    lb.inv = df != 0.0f ? 1.0f / df : 0.0f;
                }
            }
            const float dd = U[p * K + p];
            const float* urow = U + p * K + i1;
            for (std::size_t r = 0; r < rows; ++r) {
                cb_live_block& lb = live[r * slots + slot];
                float* w1r = w1.data() + r * BS;
                const float x = w1r[i];
                const std::uint8_t k = t.nearest(x * lb.inv);
                const float q = f16_to_f32(lb.d) * t.level[k];
                lb.idx[in_b] = k;
                const float e = (x - q) / dd;
                loss += static_cast<double>(e) * e;
                err[r * BS + i] = e;
                for (std::size_t j = i + 1; j < cnt; ++j) w1r[j] -= e * urow[j];
            }
            if (++done[b] == 32)  // the block's last column: write it
                for (std::size_t r = 0; r < rows; ++r) {
                    const cb_live_block& lb = live[r * slots + slot];
                    B blk;
                    blk.d = lb.d;
                    codebook::detail::set_indices(blk, lb.idx);
                    std::memcpy(out + r * row_bytes + b * sizeof(B), &blk, sizeof(B));
                }
        }
        if (i2 < K) linalg::gemm_acc<float>(rows, K - i2, cnt, err.data(), BS, 1, U + i1 * K + i2, K, wt.data() + i2, K, -1.0f);
    }
    return true;
}

}  // namespace detail

// GPTQ-quantize w (N x K, K a multiple of 32) onto grid g given the Hessian of its inputs.
template <class Exec = serial_executor>
result<gptq_codebook_result> gptq_quantize_codebook(matrix_view<const float> w, const hessian& hs, const codebook::grid& g,
                                                    const gptq_codebook_options& opt = {}, Exec&& exec = Exec{}) {
    const auto t_start = std::chrono::steady_clock::now();
    LOWBIT_TRY(codebook::validate(g));
    if (opt.block_size < 1) return status::error(errc::invalid_argument, "options.block_size = %d, must be >= 1", opt.block_size);
    if (!(opt.percdamp >= 0.0f) || !std::isfinite(opt.percdamp))
        return status::error(errc::invalid_argument, "options.percdamp = %g, must be finite and >= 0", static_cast<double>(opt.percdamp));
    if (opt.max_damp_retries < 0) return status::error(errc::invalid_argument, "options.max_damp_retries = %d, must be >= 0", opt.max_damp_retries);
    if (!opt.importance.empty() && opt.importance.size() != w.cols())
        return status::error(errc::shape_mismatch, "options.importance has %zu values, w has K = %zu columns", opt.importance.size(), w.cols());
    // (a null importance.data() would read as "no importance" below: refused rather than silently unweighted)
    LOWBIT_TRY(lowbit::detail::check_span(opt.importance, "options.importance"));
    LOWBIT_TRY(codebook::detail::check_input("gptq_quantize_codebook", w, opt.importance.empty() ? nullptr : opt.importance.data()));
    const std::size_t N = w.rows(), K = w.cols();
    if (hs.cols() != K) return status::error(errc::shape_mismatch, "w has %zu columns but the hessian is %zu x %zu", K, hs.cols(), hs.cols());
    if (!(hs.samples() > 0)) return status::error(errc::invalid_argument, "hessian has no calibration samples (add_batch first)");
    const matrix_view<const float> H = hs.matrix();
    LOWBIT_TRY(detail::check_finite(H, "hessian"));

    gptq_codebook_result res;
    gptq_report& rep = res.report;
    detail::gptq_factors f;
    LOWBIT_TRY(detail::gptq_begin(hs, H, opt, t_start, rep, f, exec));
    const auto t_sweep = std::chrono::steady_clock::now();

    std::vector<float> imp(K);
    for (std::size_t j = 0; j < K; ++j) imp[j] = !opt.importance.empty() ? opt.importance[j] : f.dead[j] ? 0.0f : std::fmax(H(j, j), 0.0f);
    std::vector<std::int32_t> pos(K);
    for (std::size_t p = 0; p < K; ++p) pos[static_cast<std::size_t>(f.perm[p])] = static_cast<std::int32_t>(p);
    weights_desc d;
    d.lay = layout::codebook;
    d.scheme.bits = g.bits;
    d.rows = N;
    d.cols = K;
    std::memcpy(d.grid, g.levels, sizeof d.grid);
    auto out = weights::allocate(d);
    if (!out) return out.error();
    res.w = std::move(*out);
    const std::size_t row_bytes = res.w.view().row_bytes();
    const codebook::detail::level_table table(g);
    const std::size_t R = detail::gptq_rows_per_task, n_tasks = (N + R - 1) / R, BS = static_cast<std::size_t>(opt.block_size);
    std::vector<double> task_loss(n_tasks, 0.0);
    std::vector<unsigned char> task_ok(n_tasks, 1);
    std::uint8_t* codes = res.w.codes();
    exec(n_tasks, [&](std::size_t t) {
        const std::size_t r0 = t * R, rows = std::min(R, N - r0);
        std::vector<float> wt(rows * K);
        for (std::size_t r = 0; r < rows; ++r)
            for (std::size_t p = 0; p < K; ++p) {
                const std::size_t c = static_cast<std::size_t>(f.perm[p]);
                wt[r * K + p] = f.dead[c] ? 0.0f : w(r0 + r, c);
            }
        double loss = 0;
        if (g.bits == 4)
            task_ok[t] = detail::gptq_codebook_rows<codebook::block4>(rows, K, BS, f.U.data(), f.perm.data(), pos.data(), imp.data(), opt.act_order, table, wt,
                                                         codes + r0 * row_bytes, row_bytes, loss);
        else
            task_ok[t] = detail::gptq_codebook_rows<codebook::block3>(rows, K, BS, f.U.data(), f.perm.data(), pos.data(), imp.data(), opt.act_order, table, wt,
                                                         codes + r0 * row_bytes, row_bytes, loss);
        task_loss[t] = loss / 2.0;
    });
    for (std::size_t t = 0; t < n_tasks; ++t) {
        if (!task_ok[t])
            return status::error(errc::invalid_argument, "w: a block scale in rows %zu..%zu overflows f16 (weights too large for f16 scales)",
                                 t * R, std::min(N, t * R + R) - 1);
        rep.loss += task_loss[t];
    }
    rep.seconds_sweep = detail::seconds_since(t_sweep);
    rep.seconds = detail::seconds_since(t_start);
    return res;
}

}  // namespace lowbit
