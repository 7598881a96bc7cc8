// lowbit/algo/gguf_block_refine.hpp — after GPTQ has written one row of a
// ggml block tensor (Q2_K … Q6_K, IQ4_XS; Q4_0 … Q5_1, IQ4_NL for the codes
// and d/m only),
// lower its Hessian-weighted error
// (w - q) H (w - q)^T further by moving the integer fields GPTQ fixed early:
// each sub-block's 4/6/8-bit scale (and min), and optionally the codes, then
// the f16 super-block d/dmin (gguf_refit.hpp's closed form), a few rounds.
//
// Why: GPTQ picks a super-block's sub-block scales from the weights as they
// are when the sweep reaches the block, before the error of the columns in it
// and after it is known, and the scales are rounded to 6 bits against a d
// chosen for the unrefined values. With every code known, the row's error is
// a quadratic in each field; the exact change of the loss for moving one
// field by t steps is
//     delta(t) = -2 t <u, r> + t^2 u^T H u,     r = H (w - q),
// where u is what one step of the field adds to the decoded row (u = d*(c-bias)
// on a sub-block for its scale, -dmin on a sub-block for its min, d*sc at one
// position for a code). The minimiser over t is rounded to the field's range
// and kept only when delta < 0; r is updated with H u. This is coordinate
// descent on the same loss GPTQ minimises greedily (the idea of re-fitting
// quantization parameters with the codes fixed is published; the formulation
// on ggml's fields is lowbit's own).
//
// The loss is recomputed exactly from the decoded bytes after every round and
// the best bytes seen are kept: the row never ends worse than it came in. The
// output is a block of the same type with every field inside the range its
// bits hold, so unmodified llama.cpp decodes it.
//
// Cost per row and round: O(K^2) for r plus O(K * moves); memory O(K).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../core/half.hpp"
#include "../core/views.hpp"
#include "../formats/gguf_blocks.hpp"
#include "gguf_block_fields.hpp"
#include "gguf_refit.hpp"

namespace lowbit {

struct block_refine_options {
    int rounds = 4;          // rounds of (codes, sub-block fields, d/dmin); stops early when nothing moves
    bool subscales = true;   // move each sub-block's integer scale (and min)
    bool codes = false;      // move single codes by one step
    bool super_scales = true;  // re-fit d (and dmin) after each round (refit_row_scales)
};

namespace detail {

// What both refiners keep of a row (this file's for the scalar grids,
// gguf_lattice_refine.hpp's for the lattices): the target w, H, the blocks,
// their decoded values q, the error e = w - q and r = H e, with exact updates
// for a step along a direction and the best integer step along one.
template <class B>
struct row_residual {
    static constexpr std::size_t bw = static_cast<std::size_t>(B::values);
    const float* w = nullptr;
    matrix_view<const float> H;
    std::size_t K = 0, nblk = 0;
    std::vector<B> blk;
    std::vector<float> q;
    std::vector<double> e, r, hu;
    double tiny = 0;  // a move must gain more than this (float noise in r)

    void load(const float* w_, matrix_view<const float> H_, const std::uint8_t* row) {
        w = w_;
        H = H_;
        K = H.rows();
        nblk = K / bw;
        blk.resize(nblk);
        std::memcpy(blk.data(), row, nblk * sizeof(B));
        q.resize(K);
        e.resize(K);
        r.resize(K);
    }

    // e and r from q as decoded; returns the loss e^T H e.
    double residual() {
        for (std::size_t j = 0; j < K; ++j) e[j] = static_cast<double>(w[j]) - q[j];
        double s = 0;
        for (std::size_t i = 0; i < K; ++i) {
            const float* h = H.row(i);
            double t = 0;
            for (std::size_t j = 0; j < K; ++j) t += h[j] * e[j];
            r[i] = t;
            s += e[i] * t;
        }
        return s;
    }

    // Adds step * u (u nonzero on [s0, s0 + n)) to the decoded row: e -= step*u, r -= step*H u
    // (q is the caller's to update where it reads it).
    void apply(std::size_t s0, std::size_t n, const double* u, double step) {
        for (std::size_t i = 0; i < K; ++i) {
            const float* h = H.row(i) + s0;
            double t = 0;
            for (std::size_t c = 0; c < n; ++c) t += h[c] * u[c];
            r[i] -= step * t;
        }
        for (std::size_t c = 0; c < n; ++c) e[s0 + c] -= step * u[c];
    }

    // The best integer step t in [lo, hi] (t = 0 allowed) for direction u on
    // [s0, s0 + n): minimises -2 t <u, r> + t^2 u^T H u. Returns 0 when no step gains.
    int best_step(std::size_t s0, std::size_t n, const double* u, int lo, int hi) const {
        double a = 0, quad = 0;
        for (std::size_t c = 0; c < n; ++c) {
            if (u[c] == 0.0) continue;
            a += u[c] * r[s0 + c];
            const float* h = H.row(s0 + c) + s0;
            double t = 0;
            for (std::size_t c2 = 0; c2 < n; ++c2) t += h[c2] * u[c2];
            quad += u[c] * t;
        }
        if (!(quad > 0.0) || !std::isfinite(quad) || !std::isfinite(a)) return 0;
        const double ts = a / quad;
        int cand[3] = {0, -1, 1};
        cand[0] = ts < lo ? lo : ts > hi ? hi : static_cast<int>(std::lround(ts));
        int best = 0;
        double gain = -tiny;
        for (int t : cand) {
            if (t == 0 || t < lo || t > hi) continue;
            const double dl = -2.0 * t * a + static_cast<double>(t) * t * quad;
            if (dl < gain) gain = dl, best = t;
        }
        return best;
    }
};

// Working state of one row for the scalar grids: row_residual and the blocks'
// codes L, all in file order.
template <class B>
struct refine_state : row_residual<B> {
    using F = block_fields<B>;
    using row_residual<B>::bw;
    static constexpr std::size_t W = static_cast<std::size_t>(F::width);
    using row_residual<B>::w, row_residual<B>::H, row_residual<B>::K, row_residual<B>::nblk, row_residual<B>::blk,
          row_residual<B>::q, row_residual<B>::e, row_residual<B>::r, row_residual<B>::hu, row_residual<B>::apply,
          row_residual<B>::best_step, row_residual<B>::tiny;
    std::vector<std::uint8_t> L;

    // Exact loss of the blocks as they are; refreshes q, L, e and r.
    double refresh() {
        for (std::size_t b = 0; b < nblk; ++b) {
            gguf::detail::decode(blk[b], q.data() + b * bw);
            F::codes(blk[b], L.data() + b * bw);
        }
        return this->residual();
    }



    // One pass over every code: each moves by at most one step. Returns the moves made.
    std::size_t pass_codes() {
        std::size_t moves = 0;
        for (std::size_t b = 0; b < nblk; ++b) {
            const float d = f16_to_f32(blk[b].d);
            bool changed = false;
            for (std::size_t s = 0; s < bw / W; ++s) {
                const double dl = static_cast<double>(d * static_cast<float>(F::scale(blk[b], static_cast<int>(s))));
                if (dl == 0.0 || !std::isfinite(dl)) continue;
                for (std::size_t c = 0; c < W; ++c) {
                    const std::size_t j = b * bw + s * W + c;
                    const int code = L[j];
                    if (!code_levels<B>::uniform) {  // non-uniform levels: the two neighbours are steps of their own size
                        if (move_to_neighbour(j, code, dl)) changed = true, ++moves;
                        continue;
                    }
                    const int t = best_step(j, 1, &dl, code > 0 ? -1 : 0, code < F::code_max ? 1 : 0);
                    if (t == 0) continue;
                    L[j] = static_cast<std::uint8_t>(code + t);
                    apply(j, 1, &dl, t);
                    changed = true;
                    ++moves;
                }
            }
            if (changed) gguf::detail::store_codes(L.data() + b * bw, blk[b]);
        }
        return moves;
    }

    // A code on a non-uniform grid moved to the neighbouring level that lowers
    // the loss most (u = dl * (level(code +- 1) - level(code)), one step), if any.
    bool move_to_neighbour(std::size_t j, int code, double dl) {
        const double hjj = H(j, j), cur = code_levels<B>::value(code);
        int best = code;
        double gain = -tiny, ub = 0;
        for (int n : {code - 1, code + 1}) {
            if (n < 0 || n > F::code_max) continue;
            const double u = dl * (code_levels<B>::value(n) - cur);
            const double delta = -2.0 * u * r[j] + u * hjj * u;
            if (std::isfinite(delta) && delta < gain) gain = delta, best = n, ub = u;
        }
        if (best == code) return false;
        L[j] = static_cast<std::uint8_t>(best);
        apply(j, 1, &ub, 1.0);
        return true;
    }

    // One pass over every sub-block's integer scale and min.
    std::size_t pass_subscales() {
        std::size_t moves = 0;
        hu.resize(W);
        for (std::size_t b = 0; b < nblk; ++b) {
            const double d = f16_to_f32(blk[b].d), dm = F::dmin(blk[b]);
            for (std::size_t s = 0; s < bw / W; ++s) {
                const int js = static_cast<int>(s);
                const std::size_t s0 = b * bw + s * W;
                const int sc = F::scale(blk[b], js);
                for (std::size_t c = 0; c < W; ++c) hu[c] = d * code_levels<B>::value(L[s0 + c]);
                int t = best_step(s0, W, hu.data(), F::sc_lo - sc, F::sc_hi - sc);
                if (t != 0) {
                    F::set_scale(blk[b], js, sc + t);
                    apply(s0, W, hu.data(), t);
                    ++moves;
                }
                if (!F::has_min) continue;
                const int mn = F::min(blk[b], js);
                for (std::size_t c = 0; c < W; ++c) hu[c] = -dm;
                t = best_step(s0, W, hu.data(), F::mn_lo - mn, F::mn_hi - mn);
                if (t != 0) {
                    F::set_min(blk[b], js, mn + t);
                    apply(s0, W, hu.data(), t);
                    ++moves;
                }
            }
        }
        return moves;
    }
};


// The rounds both refiners run on a loaded state St (row_residual): St's
// passes (pass(st): the moves made), then d (and dmin) re-fit, the loss
// refreshed, the best blocks kept; stops when a round moves nothing. Writes
// the best blocks back to row only if they lower the loss.
template <class B, class St, class Passes>
bool refine_rounds(St& st, std::uint8_t* row, const block_refine_options& o, double* before, double* after, Passes pass) {
    const double loss0 = st.refresh();
    if (before) *before = loss0;
    if (after) *after = loss0;
    if (!(loss0 > 0.0) || !std::isfinite(loss0)) return false;
    st.tiny = 1e-12 * loss0;
    std::vector<B> best(st.blk);
    double best_loss = loss0;
    for (int round = 0; round < o.rounds; ++round) {
        const std::size_t moves = pass(st);
        bool refit = false;
        if (o.super_scales) refit = refit_row_scales<B>(st.w, st.H, reinterpret_cast<std::uint8_t*>(st.blk.data()));
        const double loss = st.refresh();
        if (std::isfinite(loss) && loss < best_loss) {
            best_loss = loss;
            best = st.blk;
        }
        if (moves == 0 && !refit) break;
    }
    if (!(best_loss < loss0)) return false;
    std::memcpy(row, best.data(), st.nblk * sizeof(B));
    if (after) *after = best_loss;
    return true;
}
}  // namespace detail

// Refines the blocks of one row (ggml layout, in place) to a
// lower (w - q) H (w - q)^T; see the top of this file. w: the K target
// weights; H: K x K symmetric positive semi-definite. Returns true when the
// row changed (only ever to a lower loss); `before` / `after` get the losses.
template <class B>
bool refine_row_blocks(const float* w, matrix_view<const float> H, std::uint8_t* row, const block_refine_options& o,
                       double* before = nullptr, double* after = nullptr) {
    static_assert(detail::has_block_fields<B>(), "refine_row_blocks: a block type with block_fields (not Q8_0)");
    using F = detail::block_fields<B>;
    detail::refine_state<B> st;
    st.load(w, H, row);
    st.L.resize(st.K);
    return detail::refine_rounds<B>(st, row, o, before, after, [&o](detail::refine_state<B>& s) {
        std::size_t moves = 0;
        if (o.codes) moves += s.pass_codes();
        if (o.subscales && (F::sc_lo != F::sc_hi || F::has_min)) moves += s.pass_subscales();
        return moves;
    });
}

}  // namespace lowbit
