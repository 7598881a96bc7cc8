// lowbit/algo/gguf_lattice_refine.hpp — after GPTQ has written one row of
// IQ3_S or IQ3_XXS (the lattice types), lower its Hessian-weighted error
// (w - q) H (w - q)^T by moving what the sweep fixed early: each sub-block's
// 4-bit scale, each grid point (optionally), and the f16 super-block d
// (gguf_refit.hpp's closed form), a few rounds.
//
// Why: the sweep (gptq_gguf.hpp) takes a super-block's d and sub-block scales
// from ggml's encoder on the values as they are when the sweep reaches the
// block, before the error of its own columns is known, and codes each point
// against them; the error of a point is only ever pushed forward. Once the
// row is coded, the error is a quadratic in every field:
//   - a sub-block scale s (IQ3_S: db = d (1 + 2 s); IQ3_XXS: db = d (s + 1/2) / 2)
//     moves every value of its 32 by u = q / db · d·2 (IQ3_S) or q / db · d/2
//     (IQ3_XXS) per step; the loss change of t steps is
//     -2 t <u, r> + t^2 u^T H u with r = H (w - q), and the best t in the
//     4-bit range is taken when it lowers the loss (gguf_block_refine.hpp's
//     coordinate descent, on these fields);
//   - a grid point (4 values, one index) can move to any of the grid's 512
//     (IQ3_S) or 256 (IQ3_XXS) points: u = the new point's decoded values
//     minus the old, the loss change -2 <u, r_g> + u^T H_gg u exactly (H_gg:
//     the 4 x 4 block of H), all points tried, the best kept if it lowers the
//     loss. IQ3_S stores every sign: both the current signs and those of the
//     per-value Newton target q + r_i / H_ii are tried. IQ3_XXS's signs share
//     a parity per 8 values: they stay, only the magnitudes' point moves;
//   - d: refit_row_scales (every code and sub-block scale kept).
// The loss is recomputed exactly from the decoded bytes after each round and
// the best bytes seen are kept: the row never ends worse than it came in. The
// output is a block of the same type with every field inside its bits, so
// unmodified llama.cpp decodes it. (Re-fitting quantization parameters with
// the codes fixed, and re-coding with the parameters fixed, are published
// ideas; this formulation on ggml's lattice fields is lowbit's own.)
//
// Cost per row and round: O(K^2) for r, O(K/4 · points · 24) for the point
// search, O(K) per move; memory O(K).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../core/half.hpp"
#include "../core/views.hpp"
#include "../formats/gguf_blocks.hpp"
#include "gguf_block_refine.hpp"
#include "gguf_refit.hpp"

namespace lowbit {
namespace detail {

// The fields a lattice block's refine moves, per type.
template <class B>
struct lattice_fields;

template <>
struct lattice_fields<gguf::block_iq3_s> {
    static constexpr int n_points = 512;
    static constexpr bool free_signs = true;  // a sign bit per value
    static const std::uint8_t* levels() noexcept { return gguf::iq_grids::iq3s_levels; }
    static const std::uint16_t* grid() noexcept { return gguf::iq_grids::iq3s_index; }
    static int scale(const gguf::block_iq3_s& b, int ib) noexcept { return (b.scales[ib / 2] >> (4 * (ib % 2))) & 0xf; }
    static void set_scale(gguf::block_iq3_s& b, int ib, int s) noexcept {
        const unsigned shift = 4u * static_cast<unsigned>(ib % 2);
        b.scales[ib / 2] = static_cast<std::uint8_t>((b.scales[ib / 2] & ~(0xfu << shift)) | static_cast<unsigned>(s) << shift);
    }
    // d times what one step of the sub-block scale adds to db: db = d (1 + 2 s)
    static double step_per_d() noexcept { return 2.0; }
    // Point k (0..63) of the block: its grid index and its four sign bits.
    static unsigned point(const gguf::block_iq3_s& b, int k) noexcept {
        const int ib = k / 8, j = k % 8;
        return b.qs[8 * ib + j] | ((b.qh[ib] >> j) & 1u) << 8;
    }
    static unsigned signs(const gguf::block_iq3_s& b, int k) noexcept {
        const int ib = k / 8, j = k % 8;
        return (b.signs[4 * ib + j / 2] >> (4 * (j % 2))) & 0xfu;
    }
    static void set_point(gguf::block_iq3_s& b, int k, unsigned p, unsigned sg) noexcept {
        const int ib = k / 8, j = k % 8;
        b.qs[8 * ib + j] = static_cast<std::uint8_t>(p & 255u);
        b.qh[ib] = static_cast<std::uint8_t>((b.qh[ib] & ~(1u << j)) | (p >> 8) << j);
        std::uint8_t& sb = b.signs[4 * ib + j / 2];
        const unsigned shift = 4u * static_cast<unsigned>(j % 2);
        sb = static_cast<std::uint8_t>((sb & ~(0xfu << shift)) | sg << shift);
    }
};

template <>
struct lattice_fields<gguf::block_iq3_xxs> {
    static constexpr int n_points = 256;
    static constexpr bool free_signs = false;  // 7 stored sign bits per 8 values, the eighth by parity
    static const std::uint8_t* levels() noexcept { return gguf::iq_grids::iq3xxs_levels; }
    static const std::uint16_t* grid() noexcept { return gguf::iq_grids::iq3xxs_index; }
    static std::uint32_t meta(const gguf::block_iq3_xxs& b, int ib) noexcept { return gguf::detail::load_u32le(b.qs + gguf::qk_k / 4 + 4 * ib); }
    static int scale(const gguf::block_iq3_xxs& b, int ib) noexcept { return static_cast<int>(meta(b, ib) >> 28); }
    static void set_scale(gguf::block_iq3_xxs& b, int ib, int s) noexcept {
        const std::uint32_t m = (meta(b, ib) & 0x0fffffffu) | static_cast<std::uint32_t>(s) << 28;
        std::uint8_t* mb = b.qs + gguf::qk_k / 4 + 4 * ib;
        for (int i = 0; i < 4; ++i) mb[i] = static_cast<std::uint8_t>(m >> (8 * i));
    }
    // db = d (s + 1/2) / 2
    static double step_per_d() noexcept { return 0.5; }
    static unsigned point(const gguf::block_iq3_xxs& b, int k) noexcept { return b.qs[k]; }
    static unsigned signs(const gguf::block_iq3_xxs& b, int k) noexcept {
        const int ib = k / 8, l = (k % 8) / 2, h = k % 2;
        const std::uint8_t s8 = gguf::iq_grids::iq_sign_byte(meta(b, ib) >> (7 * l));
        return h ? s8 >> 4 : s8 & 0xfu;
    }
    static void set_point(gguf::block_iq3_xxs& b, int k, unsigned p, unsigned) noexcept { b.qs[k] = static_cast<std::uint8_t>(p); }
};

template <class B>
struct lattice_refine_state : row_residual<B> {
    using F = lattice_fields<B>;
    using row_residual<B>::bw, row_residual<B>::w, row_residual<B>::H, row_residual<B>::K, row_residual<B>::nblk,
          row_residual<B>::blk, row_residual<B>::q, row_residual<B>::e, row_residual<B>::r, row_residual<B>::hu,
          row_residual<B>::best_step, row_residual<B>::tiny;

    double refresh() {
        for (std::size_t b = 0; b < nblk; ++b) gguf::detail::decode(blk[b], q.data() + b * bw);
        return this->residual();
    }

    // q += step * u on [s0, s0 + n), with e and r (row_residual::apply).
    void apply(std::size_t s0, std::size_t n, const double* u, double step) {
        row_residual<B>::apply(s0, n, u, step);
        for (std::size_t c = 0; c < n; ++c) q[s0 + c] = static_cast<float>(q[s0 + c] + step * u[c]);
    }

    // Every sub-block's 4-bit scale, one best step each.
    std::size_t pass_subscales() {
        std::size_t moves = 0;
        hu.resize(32);
        for (std::size_t b = 0; b < nblk; ++b) {
            const double d = f16_to_f32(blk[b].d);
            if (d == 0.0 || !std::isfinite(d)) continue;
            for (int ib = 0; ib < 8; ++ib) {
                const int s = F::scale(blk[b], ib);
                const double db = gguf::detail::lattice_sub_scale(blk[b], ib);
                if (!(db != 0.0) || !std::isfinite(db)) continue;
                const std::size_t s0 = b * bw + 32 * static_cast<std::size_t>(ib);
                for (std::size_t c = 0; c < 32; ++c) hu[c] = q[s0 + c] / db * (F::step_per_d() * d);
                const int t = best_step(s0, 32, hu.data(), -s, 15 - s);
                if (t == 0) continue;
                F::set_scale(blk[b], ib, s + t);
                apply(s0, 32, hu.data(), t);
                ++moves;
            }
        }
        return moves;
    }

    // Every grid point: the point (and, for IQ3_S, sign set) that lowers the loss most.
    std::size_t pass_points() {
        std::size_t moves = 0;
        const std::uint8_t* lv = F::levels();
        const std::uint16_t* grid = F::grid();
        for (std::size_t b = 0; b < nblk; ++b) {
            for (int k = 0; k < static_cast<int>(bw / 4); ++k) {
                const float db = gguf::detail::lattice_sub_scale(blk[b], k / 8);
                if (!(db > 0.0f) || !std::isfinite(db)) continue;
                const std::size_t s0 = b * bw + 4 * static_cast<std::size_t>(k);
                double hg[16], rg[4];
                for (int i = 0; i < 4; ++i) {
                    rg[i] = r[s0 + static_cast<std::size_t>(i)];
                    for (int j = 0; j < 4; ++j) hg[4 * i + j] = H(s0 + static_cast<std::size_t>(i), s0 + static_cast<std::size_t>(j));
                }
                const unsigned cur_p = F::point(blk[b], k), cur_s = F::signs(blk[b], k);
                unsigned sign_sets[2] = {cur_s, cur_s};
                int n_sets = 1;
                if (F::free_signs) {  // the signs of the per-value Newton target q + r / H_ii
                    unsigned ts = 0;
                    for (int i = 0; i < 4; ++i) {
                        const double hii = hg[5 * i];
                        const double target = q[s0 + static_cast<std::size_t>(i)] + (hii > 0.0 ? rg[i] / hii : 0.0);
                        if (target < 0.0) ts |= 1u << i;
                    }
                    if (ts != cur_s) sign_sets[n_sets++] = ts;
                }
                double best = -tiny;
                unsigned best_p = cur_p, best_s = cur_s;
                double best_u[4] = {0, 0, 0, 0};
                for (int si = 0; si < n_sets; ++si) {
                    const unsigned sg = sign_sets[si];
                    float sv[4][8];  // the decoder's value of each level under this sign set
                    for (int i = 0; i < 4; ++i)
                        for (int l = 0; l < 8; ++l)
                            sv[i][l] = db * static_cast<float>(lv[l]) * ((sg >> i) & 1u ? -1.0f : 1.0f);
                    for (unsigned p = 0; p < static_cast<unsigned>(F::n_points); ++p) {
                        if (p == cur_p && sg == cur_s) continue;
                        double u[4];
                        for (int i = 0; i < 4; ++i)
                            u[i] = static_cast<double>(sv[i][gguf::iq_grids::level3(grid[p], i)]) - q[s0 + static_cast<std::size_t>(i)];
                        double dl = 0;
                        for (int i = 0; i < 4; ++i) {
                            double t = 0;
                            for (int j = 0; j < 4; ++j) t += hg[4 * i + j] * u[j];
                            dl += u[i] * (t - 2.0 * rg[i]);
                        }
                        if (dl < best) {
                            best = dl;
                            best_p = p, best_s = sg;
                            for (int i = 0; i < 4; ++i) best_u[i] = u[i];
                        }
                    }
                }
                if (best_p == cur_p && best_s == cur_s) continue;
                F::set_point(blk[b], k, best_p, best_s);
                apply(s0, 4, best_u, 1.0);
                ++moves;
            }
        }
        return moves;
    }
};

}  // namespace detail

// Refines one row of IQ3_S / IQ3_XXS blocks (ggml layout, in place) to a
// lower (w - q) H (w - q)^T; see the top of this file. o.codes moves the grid
// points, o.subscales the 4-bit sub-block scales, o.super_scales re-fits d,
// o.rounds bounds the rounds. Returns true when the row changed (only ever to
// a lower loss); `before` / `after` get the losses.
template <class B>
bool refine_lattice_row(const float* w, matrix_view<const float> H, std::uint8_t* row, const block_refine_options& o,
                        double* before = nullptr, double* after = nullptr) {
    static_assert(gguf::detail::is_lattice_block<B>(), "refine_lattice_row: IQ3_S or IQ3_XXS");
    detail::lattice_refine_state<B> st;
    st.load(w, H, row);
    return detail::refine_rounds<B>(st, row, o, before, after, [&o](detail::lattice_refine_state<B>& s) {
        std::size_t moves = 0;
        if (o.codes) moves += s.pass_points();
        if (o.subscales) moves += s.pass_subscales();
        return moves;
    });
}

}  // namespace lowbit
