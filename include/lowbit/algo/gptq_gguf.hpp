// lowbit/algo/gptq_gguf.hpp — GPTQ whose output is a tensor in one of ggml's
// block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K … Q6_K, IQ4_NL, IQ4_XS, IQ3_S,
// IQ3_XXS): bytes that
// unmodified llama.cpp reads, with GPTQ's error feedback instead of
// llama-quantize's independent rounding. docs/ptq.md, "GPTQ on ggml block
// formats", explains the choices; in short:
//
//   - The column sweep is gptq.hpp's (the same H, dead inputs, damping, U =
//     chol((H + damp I)^-1), lazy batches; detail::gptq_factor is shared).
//   - A ggml block (32 values for the legacy types, the 256-value super-block
//     for the K-quants) gets its grid — every scale and min it stores — when
//     the sweep reaches the first of its columns, from the block's weights as
//     they are at that moment (all error updates of earlier columns applied).
//     The grid is chosen by ggml's own search for the type (gguf::detail::
//     choose_grid, the code gguf_blocks.hpp's quantizers run), optionally with
//     importance weights (an imatrix row); each column of the block is then
//     coded on that fixed grid by ggml's own rule (gguf::detail::code_on_grid)
//     and its error is propagated to the columns not yet coded.
//   - act-order: columns are swept by decreasing H_jj, but the file keeps
//     ggml's column order (llama.cpp has no permutation). A block's grid is
//     chosen when the first of its columns comes up in the permuted order,
//     from the current values of all its columns (those outside the current
//     lazy batch with that batch's pending updates added). This is the GPTQ
//     paper's "static groups" idea turned around: the grouping is fixed by the
//     file format, not by the processing order. static_grids chooses every
//     grid from the original weights instead (the reference's static_groups).
//   - Legacy types' importance path uses the row's mean square (sigma2) of
//     the original row: ggml takes it over the whole row, which GPTQ changes
//     while it sweeps. K-quants take it per super-block, from the current
//     values, exactly as ggml does.
//
//   - IQ4_NL and IQ4_XS code each value as the nearest of their 16
//     non-uniform levels times the block's (IQ4_XS: the sub-block's 6-bit
//     scale times the f16 d) scale, chosen by ggml's own search for the type
//     (formats/detail/gguf_iq4_grids.hpp), the same error feedback following;
//     their importance weights take sigma2 from the block being chosen
//     (IQ4_NL: its 32 values, IQ4_XS: its 256), current values, as ggml does.
//
//   - IQ3_S and IQ3_XXS (lattices: 4 values are one grid point, IQ3_XXS's
//     signs have an implied parity per 8) are swept a group of points at a
//     time (gptq_lattice_sweep below; formats/detail/gguf_iq3_grids.hpp): the
//     super-block's scales by ggml's encoder on the current values, then each
//     group (IQ3_S 4 columns, IQ3_XXS 8) coded jointly from its current values
//     and its error propagated column by column, which is GPTVQ's block
//     update. act-order sorts whole groups; refit_scales re-fits d, refine
//     moves the sub-block scales and (with codes) the grid points
//     (gguf_lattice_refine.hpp).
//
//   - refit_scales: once a row's codes are all fixed, its blocks' f16 d (and
//     m/dmin) are re-fitted to (w - q) H (w - q)^T with the codes kept
//     (gguf_refit.hpp); off by default, so the bytes below stay ggml's.
//   - refine: then, a few rounds of coordinate descent on the same error over
//     each K-quant sub-block's integer scale and min and optionally each code
//     (legacy types and IQ4_NL: the codes only; IQ4_XS: its 6-bit sub-block
//     scales and the codes, a code moving to a neighbouring level), with d/dmin re-fitted every round
//     (gguf_block_refine.hpp); off by default; Q8_0 is left as it is.
//
// With H = I (no correlation), nothing propagates and the bytes equal
// gguf::quantize's (tests/test_algo_gguf.cpp checks every type).
//
// Memory: O(K^2) for H and U, the N x row_size output, and per task 48 rows of
// W in f32 plus each live block's grid (one per row without act-order).
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
#include "../formats/gguf_blocks.hpp"
#include "../parallel.hpp"
#include "gguf_block_refine.hpp"
#include "gguf_lattice_refine.hpp"
#include "gguf_refit.hpp"
#include "gptq.hpp"
#include "linalg.hpp"

namespace lowbit {

struct gptq_gguf_options {
    float percdamp = 0.01f;        // damping, fraction of mean diag(H) (reference: percdamp=.01)
    int max_damp_retries = 4;      // on Cholesky failure, damp *= 10 and retry (0: fail)
    int block_size = 128;          // lazy-batch width (reference: blocksize=128)
    bool act_order = false;        // sweep columns by decreasing H_jj (the file keeps ggml's order)
    bool static_grids = false;     // every block's grid from the original weights, before any update
    span<const float> importance;  // K per-column weights (an imatrix row: mean x^2), or empty: ggml's reference search
    bool keep_values = false;      // also return the N x K floats the sweep coded (what the bytes decode to)
    bool refit_scales = false;     // after the sweep, re-fit each block's f16 d (and m/dmin) to the H-weighted
                                   // error of its row, codes kept (gguf_refit.hpp); only ever lowers that error
    bool refine = false;           // after the sweep (and refit_scales): coordinate descent on the K-quant sub-block
                                   // scales/mins and the codes, with d/dmin re-fits (gguf_block_refine.hpp); IQ3_S /
                                   // IQ3_XXS: their 4-bit sub-block scales and grid points (gguf_lattice_refine.hpp);
                                   // not Q8_0
    block_refine_options refine_options;
};

struct gptq_gguf_result {
    std::vector<std::uint8_t> data;  // N rows of row_size bytes, ggml's block layout
    std::size_t row_size = 0;
    std::vector<float> values;       // keep_values: the decoded weights, N x K
    gptq_report report;
    // refit_scales / refine: rows changed, and sum over rows of (w - q) H (w - q)^T before and after
    // (before: the sweep's bytes; after: the bytes written)
    std::size_t refit_rows = 0;
    double refit_loss_before = 0, refit_loss_after = 0;
};

// True for the types gptq_quantize_gguf writes; refit_scales re-fits every one
// of them, refine every one but Q8_0 (IQ3_S, IQ3_XXS: gguf_lattice_refine.hpp).
constexpr bool gptq_gguf_supports(gguf::gguf_type t) noexcept {
    switch (t) {
        case gguf::gguf_type::q4_0: case gguf::gguf_type::q4_1: case gguf::gguf_type::q5_0: case gguf::gguf_type::q5_1:
        case gguf::gguf_type::q8_0: case gguf::gguf_type::q2_K: case gguf::gguf_type::q3_K: case gguf::gguf_type::q4_K:
        case gguf::gguf_type::q5_K: case gguf::gguf_type::q6_K: case gguf::gguf_type::iq4_nl: case gguf::gguf_type::iq4_xs:
        case gguf::gguf_type::iq3_s: case gguf::gguf_type::iq3_xxs:
            return true;
        default:
            return false;
    }
}


namespace detail {

// One block of one row while the sweep is inside it: its grid (scale fields
// already in y), the codes so far, and how many of its columns are coded.
template <class B>
struct gguf_live_block {
    gguf::detail::block_grid grid;
    B y;
    std::uint8_t codes[B::values];
};

// Column i of one row (w1r, the sweep's working copy) coded as q: its error
// scaled by the factor's diagonal d goes to err_i and the loss, and is fed to
// the row's later columns i + 1 .. cnt - 1 (GPTQ's update, U's row urow).
inline void feed_back_column(float* w1r, std::size_t i, std::size_t cnt, float q, float d, const float* urow, float& err_i,
                             double& loss) noexcept {
    const float e = (w1r[i] - q) / d;
    loss += static_cast<double>(e) * e;
    err_i = e;
    for (std::size_t j = i + 1; j < cnt; ++j) w1r[j] -= e * urow[j];
}

// The sweep for one block type over rows [r0, r0 + rows). wt holds those rows
// in processing order (dead columns zeroed); orig the same rows in file order
// for static grids and the legacy sigma2.
template <class B>
struct gptq_gguf_sweep {
    static constexpr std::size_t bw = static_cast<std::size_t>(B::values);
    std::size_t K = 0, BS = 0;
    const float* U = nullptr;
    const std::int32_t* perm = nullptr;  // processing position -> column
    const std::int32_t* pos = nullptr;   // column -> processing position
    const float* qw = nullptr;           // importance (file order) or null
    bool act_order = false, static_grids = false, legacy = true;

    // Returns false when a decoded value is not finite (a scale overflowed f16).
    bool run(std::size_t rows, std::vector<float>& wt, const std::vector<float>& orig, std::uint8_t* out, std::size_t row_size,
             float* values, std::size_t values_stride, double& loss) const {
        const std::size_t nblk = K / bw, slots = act_order ? nblk : 1;
        std::vector<gguf_live_block<B>> live(rows * slots);
        std::vector<unsigned char> started(nblk, 0);
        std::vector<std::size_t> done(nblk, 0);
        std::vector<float> w1(rows * BS), err(rows * BS), cur(bw), sigma2(rows, 0.0f);
        if (qw && legacy)
            for (std::size_t r = 0; r < rows; ++r) sigma2[r] = gguf::detail::row_mean_square(orig.data() + r * K, static_cast<std::int64_t>(K));
        bool finite = true;
        for (std::size_t i1 = 0; i1 < K; i1 += BS) {
            const std::size_t i2 = std::min(K, i1 + BS), cnt = i2 - i1;
            for (std::size_t r = 0; r < rows; ++r) std::copy(wt.data() + r * K + i1, wt.data() + r * K + i2, w1.data() + r * BS);
            for (std::size_t i = 0; i < cnt; ++i) {
                const std::size_t p = i1 + i, col = static_cast<std::size_t>(perm[p]);
                const std::size_t b = col / bw, in_b = col % bw, slot = act_order ? b : 0;
                if (!started[b]) {  // the sweep reaches this block: choose its grid now
                    started[b] = 1;
                    for (std::size_t r = 0; r < rows; ++r) {
                        for (std::size_t c = 0; c < bw; ++c) cur[c] = current(r, b * bw + c, p, i1, i2, wt, w1, err, orig);
                        gguf_live_block<B>& lb = live[r * slots + slot];
                        std::memset(&lb.y, 0, sizeof lb.y);
                        gguf::detail::choose_grid(cur.data(), qw ? qw + b * bw : nullptr, sigma2[r], lb.y, lb.grid);
                    }
                }
                const float d = U[p * K + p];
                const float* urow = U + p * K + i1;
                for (std::size_t r = 0; r < rows; ++r) {
                    gguf_live_block<B>& lb = live[r * slots + slot];
                    float* w1r = w1.data() + r * BS;
                    const float x = w1r[i];
                    // After an f16 overflow (inf scale, reported below) the feedback spreads inf and NaN:
                    // those are coded as 0, so that no grid rule sees a NaN (IQ4's level search would run off its table).
                    const int code = gguf::detail::code_on_grid(lb.grid, static_cast<int>(in_b), std::isfinite(x) ? x : 0.0f);
                    const float q = gguf::detail::value_on_grid(lb.grid, static_cast<int>(in_b), code);
                    finite = finite && std::isfinite(q);
                    lb.codes[in_b] = static_cast<std::uint8_t>(code);
                    if (values) values[r * values_stride + col] = q;
                    feed_back_column(w1r, i, cnt, q, d, urow, err[r * BS + i], loss);
                }
                if (++done[b] == bw)  // the block's last column: its codes are final
                    for (std::size_t r = 0; r < rows; ++r) {
                        gguf_live_block<B>& lb = live[r * slots + slot];
                        gguf::detail::store_codes(lb.codes, lb.y);
                        std::memcpy(out + r * row_size + b * sizeof(B), &lb.y, sizeof(B));
                    }
            }
            if (i2 < K)  // lazy batch: W[:, i2:] -= Err1 U[i1:i2, i2:]
                linalg::gemm_acc<float>(rows, K - i2, cnt, err.data(), BS, 1, U + i1 * K + i2, K, wt.data() + i2, K, -1.0f);
        }
        return finite;
    }

    // The current value of column `col` of row r when the sweep is at
    // processing position p (batch [i1, i2)): in the batch copy, or the outer
    // copy with this batch's pending updates (columns p' in [i1, p)) added.
    float current(std::size_t r, std::size_t col, std::size_t p, std::size_t i1, std::size_t i2, const std::vector<float>& wt,
                  const std::vector<float>& w1, const std::vector<float>& err, const std::vector<float>& orig) const {
        if (static_grids) return orig[r * K + col];
        const std::size_t q = static_cast<std::size_t>(pos[col]);
        if (q < i2) return w1[r * BS + (q - i1)];  // q >= p: no column of an unstarted block is coded yet
        float v = wt[r * K + q];
        for (std::size_t s = i1; s < p; ++s) v -= err[r * BS + (s - i1)] * U[s * K + q];
        return v;
    }
};

// The sweep for a lattice type (IQ3_S, IQ3_XXS): the unit is a group of
// gw = lattice_group_width<B>() consecutive columns, contiguous in the
// processing order (act-order sorts whole groups: gptq_factor's order_unit).
// A super-block's scales are chosen (the encoder on the current values) when
// the sweep reaches its first group; each group's gw values are then coded
// jointly from their current values, after every earlier group's error is
// applied: the encoder's coding where the values are still the ones it saw,
// else lattice_code_group on the block's scales. The group's columns then run
// the ordinary column loop with their values fixed: each error
// e_i = (x_i - q_i) / U_ii, x_i including the updates from the group's earlier
// columns, is GPTVQ's block update E (U_SS)^-1 U_S,rest done one row of U_SS at
// a time (e U_SS = x - q with U_SS upper triangular).
template <class B>
struct gptq_lattice_sweep {
    static constexpr std::size_t bw = static_cast<std::size_t>(B::values);
    static constexpr std::size_t gw = static_cast<std::size_t>(gguf::detail::lattice_group_width<B>());
    struct live_block {
        B y;
        float sigma2;
        float seen[B::values];  // the values the encoder coded
    };
    gptq_gguf_sweep<B> at;  // K, BS, U, perm, pos, qw, act_order, static_grids; and current()

    bool run(std::size_t rows, std::vector<float>& wt, const std::vector<float>& orig, std::uint8_t* out, std::size_t row_size,
             float* values, std::size_t values_stride, double& loss) const {
        const std::size_t K = at.K, BS = at.BS, nblk = K / bw, slots = at.act_order ? nblk : 1;
        gptq_gguf_sweep<B> now = at;  // a group's values are always the current ones (static_grids: the scales only)
        now.static_grids = false;
        const float* U = at.U;
        std::vector<live_block> live(rows * slots);
        std::vector<unsigned char> started(nblk, 0);
        std::vector<std::size_t> done(nblk, 0);
        std::vector<float> w1(rows * BS), err(rows * BS), q(rows * gw);
        bool finite = true;
        for (std::size_t i1 = 0; i1 < K; i1 += BS) {
            const std::size_t i2 = std::min(K, i1 + BS), cnt = i2 - i1;
            for (std::size_t r = 0; r < rows; ++r) std::copy(wt.data() + r * K + i1, wt.data() + r * K + i2, w1.data() + r * BS);
            for (std::size_t i = 0; i < cnt; ++i) {
                const std::size_t p = i1 + i, col = static_cast<std::size_t>(at.perm[p]);
                const std::size_t b = col / bw, in_b = col % bw, slot = at.act_order ? b : 0;
                if (!started[b]) {  // the sweep reaches this block: its scales now
                    started[b] = 1;
                    for (std::size_t r = 0; r < rows; ++r) {
                        live_block& lb = live[r * slots + slot];
                        for (std::size_t c = 0; c < bw; ++c) {  // non-finite (after an f16 overflow, reported below): 0
                            const float v = at.current(r, b * bw + c, p, i1, i2, wt, w1, err, orig);
                            lb.seen[c] = std::isfinite(v) ? v : 0.0f;
                        }
                        gguf::detail::lattice_choose(lb.seen, at.qw ? at.qw + b * bw : nullptr, lb.y, lb.sigma2);
                    }
                }
                if (in_b % gw == 0) {  // a group's first column: code its gw values jointly
                    const int g = static_cast<int>(in_b / gw);
                    float ow[gw];  // the OBS metric's diagonal: an error of r in column p costs (r / U_pp)^2
                    for (std::size_t c = 0; c < gw; ++c) {
                        const float u = U[(p + c) * K + (p + c)];
                        ow[c] = 1.0f / (u * u);
                    }
                    for (std::size_t r = 0; r < rows; ++r) {
                        live_block& lb = live[r * slots + slot];
                        float x[gw];
                        bool same = true;
                        for (std::size_t c = 0; c < gw; ++c) {
                            const float v = now.current(r, col + c, p, i1, i2, wt, w1, err, orig);
                            x[c] = std::isfinite(v) ? v : 0.0f;
                            same = same && std::memcmp(&x[c], &lb.seen[in_b + c], sizeof(float)) == 0;
                        }
                        if (!same)
                            gguf::detail::lattice_code_group(x, at.qw ? at.qw + col : nullptr, lb.sigma2, ow, g, lb.y);
                        gguf::detail::lattice_decode_group(lb.y, g, q.data() + r * gw);
                    }
                }
                const float d = U[p * K + p];
                const float* urow = U + p * K + i1;
                for (std::size_t r = 0; r < rows; ++r) {
                    float* w1r = w1.data() + r * BS;
                    const float qv = q[r * gw + in_b % gw];
                    finite = finite && std::isfinite(qv);
                    if (values) values[r * values_stride + col] = qv;
                    feed_back_column(w1r, i, cnt, qv, d, urow, err[r * BS + i], loss);
                }
                if (++done[b] == bw)  // the block's last column: its bytes are final
                    for (std::size_t r = 0; r < rows; ++r)
                        std::memcpy(out + r * row_size + b * sizeof(B), &live[r * slots + slot].y, sizeof(B));
            }
            if (i2 < K)  // lazy batch: W[:, i2:] -= Err1 U[i1:i2, i2:]
                linalg::gemm_acc<float>(rows, K - i2, cnt, err.data(), BS, 1, U + i1 * K + i2, K, wt.data() + i2, K, -1.0f);
        }
        return finite;
    }
};

template <class B, class Exec>
status gptq_gguf_typed(matrix_view<const float> w, matrix_view<const float> H, const std::vector<unsigned char>& dead,
                       const std::vector<std::int32_t>& perm, const std::vector<float>& U, const gptq_gguf_options& opt,
                       gptq_gguf_result& res, Exec&& exec) {
    const std::size_t N = w.rows(), K = w.cols();
    std::vector<std::int32_t> pos(K);
    for (std::size_t p = 0; p < K; ++p) pos[static_cast<std::size_t>(perm[p])] = static_cast<std::int32_t>(p);
    gptq_gguf_sweep<B> sw;
    sw.K = K;
    sw.BS = static_cast<std::size_t>(opt.block_size);
    sw.U = U.data();
    sw.perm = perm.data();
    sw.pos = pos.data();
    sw.qw = opt.importance.empty() ? nullptr : opt.importance.data();
    sw.act_order = opt.act_order;
    sw.static_grids = opt.static_grids;
    sw.legacy = B::values == gguf::qk_legacy && B::type_id != gguf::gguf_type::iq4_nl;  // IQ4_NL's sigma2 is per block
    const std::size_t R = gptq_rows_per_task, n_tasks = (N + R - 1) / R;
    std::vector<double> task_loss(n_tasks, 0.0);
    std::vector<unsigned char> task_ok(n_tasks, 1);
    std::vector<std::size_t> task_refit(n_tasks, 0);
    std::vector<double> task_before(n_tasks, 0.0), task_after(n_tasks, 0.0);
    exec(n_tasks, [&](std::size_t t) {
        const std::size_t r0 = t * R, rows = std::min(R, N - r0);
        std::vector<float> wt(rows * K), orig(rows * K);
        for (std::size_t r = 0; r < rows; ++r) {
            const float* src = w.row(r0 + r);
            for (std::size_t j = 0; j < K; ++j) orig[r * K + j] = dead[j] ? 0.0f : src[j];
            for (std::size_t p = 0; p < K; ++p) wt[r * K + p] = orig[r * K + static_cast<std::size_t>(perm[p])];
        }
        double loss = 0;
        float* values = res.values.empty() ? nullptr : res.values.data() + r0 * K;
        constexpr bool lattice = gguf::detail::is_lattice_block<B>();
        if constexpr (lattice) {
            gptq_lattice_sweep<B> ls{sw};
            task_ok[t] = ls.run(rows, wt, orig, res.data.data() + r0 * res.row_size, res.row_size, values, K, loss);
        } else {
            task_ok[t] = sw.run(rows, wt, orig, res.data.data() + r0 * res.row_size, res.row_size, values, K, loss);
        }
        task_loss[t] = loss / 2.0;
        const bool refine = opt.refine && (lattice || has_block_fields<B>());
        if (!(opt.refit_scales || refine) || !task_ok[t]) return;
        for (std::size_t r = 0; r < rows; ++r) {  // against the original row (dead columns zeroed), file order
            std::uint8_t* row = res.data.data() + (r0 + r) * res.row_size;
            double before = 0, after = 0, b2 = 0;
            bool changed = opt.refit_scales && refit_row_scales<B>(orig.data() + r * K, H, row, &before, &after);
            if (refine) {
                bool moved = false;
                if constexpr (lattice)
                    moved = refine_lattice_row<B>(orig.data() + r * K, H, row, opt.refine_options, opt.refit_scales ? &b2 : &before, &after);
                else if constexpr (has_block_fields<B>())
                    moved = refine_row_blocks<B>(orig.data() + r * K, H, row, opt.refine_options, opt.refit_scales ? &b2 : &before, &after);
                changed = changed || moved;
            }
            if (changed) {
                ++task_refit[t];
                if (values)  // the bytes changed: keep_values is what they decode to
                    for (std::size_t b = 0; b < K / B::values; ++b) {
                        B blk;
                        std::memcpy(&blk, row + b * sizeof(B), sizeof(B));
                        gguf::detail::decode(blk, values + r * K + b * B::values);
                    }
            }
            task_before[t] += before;
            task_after[t] += after;
        }
    });
    for (std::size_t t = 0; t < n_tasks; ++t) {
        if (!task_ok[t])
            return status::error(errc::invalid_argument, "w: a block scale in rows %zu..%zu overflows f16 (weights too large for the type)",
                                 t * R, std::min(N, t * R + R) - 1);
        res.report.loss += task_loss[t];
        res.refit_rows += task_refit[t];
        res.refit_loss_before += task_before[t];
        res.refit_loss_after += task_after[t];
    }
    return {};
}

}  // namespace detail

// GPTQ-quantize w (N x K, row-major, N outputs) into ggml type t given the
// Hessian of its inputs. K must be a multiple of the type's block (32 or 256).
template <class Exec = serial_executor>
result<gptq_gguf_result> gptq_quantize_gguf(gguf::gguf_type t, matrix_view<const float> w, const hessian& hs,
                                            const gptq_gguf_options& opt = {}, Exec&& exec = Exec{}) {
    const auto t_start = std::chrono::steady_clock::now();
    if (!gptq_gguf_supports(t))
        return status::error(errc::unsupported, "type %s (id %u): GPTQ writes Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, IQ3_S or IQ3_XXS",
                             gguf::type_name(t), static_cast<unsigned>(t));
    if (opt.block_size < 1) return status::error(errc::invalid_argument, "options.block_size = %d, must be >= 1", opt.block_size);
    if (!(opt.percdamp >= 0.0f) || !std::isfinite(opt.percdamp))
        return status::error(errc::invalid_argument, "options.percdamp = %g, must be finite and >= 0", static_cast<double>(opt.percdamp));
    if (opt.refine && opt.refine_options.rounds < 1)
        return status::error(errc::invalid_argument, "options.refine_options.rounds = %d, must be >= 1", opt.refine_options.rounds);
    if (opt.max_damp_retries < 0)
        return status::error(errc::invalid_argument, "options.max_damp_retries = %d, must be >= 0", opt.max_damp_retries);
    if (!w.data() || w.empty()) return status::error(errc::invalid_argument, "w is null or empty (%zu x %zu)", w.rows(), w.cols());
    const std::size_t N = w.rows(), K = w.cols(), bw = gguf::type_block_size(t);
    if (K % bw != 0)
        return status::error(errc::shape_mismatch, "w has K = %zu columns, not a multiple of the %s block (%zu values)", K, gguf::type_name(t),
                             bw);
    if (hs.cols() != K) return status::error(errc::shape_mismatch, "w has %zu columns but the hessian is %zu x %zu", K, hs.cols(), hs.cols());
    if (!(hs.samples() > 0)) return status::error(errc::invalid_argument, "hessian has no calibration samples (add_batch first)");
    if (!opt.importance.empty()) {
        if (opt.importance.size() != K)
            return status::error(errc::shape_mismatch, "options.importance has %zu values, w has K = %zu columns", opt.importance.size(), K);
        LOWBIT_TRY(lowbit::detail::check_span(opt.importance, "options.importance"));
        for (std::size_t j = 0; j < K; ++j)
            if (!std::isfinite(opt.importance[j]) || opt.importance[j] < 0.0f)
                return status::error(errc::invalid_argument, "options.importance[%zu] = %g, must be finite and >= 0", j,
                                     static_cast<double>(opt.importance[j]));
    }
    LOWBIT_TRY(detail::check_finite(w, "w"));
    const matrix_view<const float> H = hs.matrix();
    LOWBIT_TRY(detail::check_finite(H, "hessian"));
    const std::size_t row_size = static_cast<std::size_t>(gguf::row_size(t, static_cast<std::int64_t>(K)));
    if (N > static_cast<std::size_t>(-1) / 8 / (row_size > K * 4 ? row_size : K * 4))
        return status::error(errc::invalid_argument, "w is %zu x %zu: the output would overflow size_t", N, K);

    gptq_gguf_result res;
    gptq_report& rep = res.report;
    detail::gptq_factors f;
    // Lattice types: act-order sorts whole groups of a grid point's columns (the sweep codes them jointly).
    using gguf::detail::lattice_group_width;
    const int unit = t == gguf::gguf_type::iq3_s     ? lattice_group_width<gguf::block_iq3_s>()
                     : t == gguf::gguf_type::iq3_xxs ? lattice_group_width<gguf::block_iq3_xxs>()
                                                     : 1;
    const std::size_t order_unit = static_cast<std::size_t>(unit);
    LOWBIT_TRY(detail::gptq_begin(hs, H, opt, t_start, rep, f, exec, order_unit));
    const auto t_sweep = std::chrono::steady_clock::now();

    res.row_size = row_size;
    res.data.assign(N * row_size, 0);
    if (opt.keep_values) res.values.assign(N * K, 0.0f);
    status st;
    switch (t) {
        case gguf::gguf_type::q4_0: st = detail::gptq_gguf_typed<gguf::block_q4_0>(w, H, f.dead, f.perm, f.U, opt, res, exec); break;
        case gguf::gguf_type::q4_1: st = detail::gptq_gguf_typed<gguf::block_q4_1>(w, H, f.dead, f.perm, f.U, opt, res, exec); break;
        case gguf::gguf_type::q5_0: st = detail::gptq_gguf_typed<gguf::block_q5_0>(w, H, f.dead, f.perm, f.U, opt, res, exec); break;
        case gguf::gguf_type::q5_1: st = detail::gptq_gguf_typed<gguf::block_q5_1>(w, H, f.dead, f.perm, f.U, opt, res, exec); break;
        case gguf::gguf_type::q8_0: st = detail::gptq_gguf_typed<gguf::block_q8_0>(w, H, f.dead, f.perm, f.U, opt, res, exec); break;
        case gguf::gguf_type::q2_K: st = detail::gptq_gguf_typed<gguf::block_q2_K>(w, H, f.dead, f.perm, f.U, opt, res, exec); break;
        case gguf::gguf_type::q3_K: st = detail::gptq_gguf_typed<gguf::block_q3_K>(w, H, f.dead, f.perm, f.U, opt, res, exec); break;
        case gguf::gguf_type::q4_K: st = detail::gptq_gguf_typed<gguf::block_q4_K>(w, H, f.dead, f.perm, f.U, opt, res, exec); break;
        case gguf::gguf_type::q5_K: st = detail::gptq_gguf_typed<gguf::block_q5_K>(w, H, f.dead, f.perm, f.U, opt, res, exec); break;
        case gguf::gguf_type::q6_K: st = detail::gptq_gguf_typed<gguf::block_q6_K>(w, H, f.dead, f.perm, f.U, opt, res, exec); break;
        case gguf::gguf_type::iq4_nl: st = detail::gptq_gguf_typed<gguf::block_iq4_nl>(w, H, f.dead, f.perm, f.U, opt, res, exec); break;
        case gguf::gguf_type::iq4_xs: st = detail::gptq_gguf_typed<gguf::block_iq4_xs>(w, H, f.dead, f.perm, f.U, opt, res, exec); break;
        case gguf::gguf_type::iq3_s: st = detail::gptq_gguf_typed<gguf::block_iq3_s>(w, H, f.dead, f.perm, f.U, opt, res, exec); break;
        case gguf::gguf_type::iq3_xxs: st = detail::gptq_gguf_typed<gguf::block_iq3_xxs>(w, H, f.dead, f.perm, f.U, opt, res, exec); break;
        default: break;  // refused above
    }
    if (!st) return st;
    rep.seconds_sweep = detail::seconds_since(t_sweep);
    rep.seconds = detail::seconds_since(t_start);
    return res;
}

// Convenience: H from one calibration batch x (T x K), then GPTQ.
template <class Exec = serial_executor>
result<gptq_gguf_result> gptq_quantize_gguf(gguf::gguf_type t, matrix_view<const float> w, matrix_view<const float> x,
                                            const gptq_gguf_options& opt = {}, Exec&& exec = Exec{}) {
    hessian h(w.cols());
    LOWBIT_TRY(h.add_batch(x, exec));
    return gptq_quantize_gguf(t, w, h, opt, exec);
}

}  // namespace lowbit
