// lowbit/algo/gguf_refit.hpp — re-fit the f16 scale fields of one row of a
// ggml block-format tensor (d, and m or dmin where the type has one) to the
// Hessian-weighted error, with every code and every sub-block scale kept.
//
// Why: GPTQ fixes a block's grid when its sweep reaches the block, from the
// weights as they are then; the codes that follow are chosen against that
// grid, and the error they leave is only ever pushed forward. Once every code
// of the row is known, the decoded row is linear in the blocks' f16 fields:
//     q = sum_p theta_p * phi_p
// where phi_p is what the decoder reads back for block b(p) with field p set
// to 1 and the other fields to 0. The layer-output error of the row,
// (w - q) H (w - q)^T, is then a quadratic in theta; its minimiser is a small
// least-squares problem (1 or 2 fields per block). The codes stay, so the
// bytes are still a valid block of the same type that llama.cpp decodes with
// the same expressions. (Re-fitting scales after the codes are fixed against
// a second-order loss is a known refinement of GPTQ-style quantizers; this is
// lowbit's own formulation on ggml's fields.)
//
// The solution is rounded to f16 and kept only when its loss, computed on the
// decoded bytes, is lower than before: the row never gets worse.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../core/half.hpp"
#include "../core/views.hpp"
#include "../formats/gguf_blocks.hpp"

namespace lowbit {
namespace detail {

// The f16 fields of a block that its decoder multiplies linearly.
inline int refit_fields(gguf::block_q4_0& b, std::uint16_t** f) noexcept { f[0] = &b.d; return 1; }
inline int refit_fields(gguf::block_q4_1& b, std::uint16_t** f) noexcept { f[0] = &b.d; f[1] = &b.m; return 2; }
inline int refit_fields(gguf::block_q5_0& b, std::uint16_t** f) noexcept { f[0] = &b.d; return 1; }
inline int refit_fields(gguf::block_q5_1& b, std::uint16_t** f) noexcept { f[0] = &b.d; f[1] = &b.m; return 2; }
inline int refit_fields(gguf::block_q8_0& b, std::uint16_t** f) noexcept { f[0] = &b.d; return 1; }
inline int refit_fields(gguf::block_q2_K& b, std::uint16_t** f) noexcept { f[0] = &b.d; f[1] = &b.dmin; return 2; }
inline int refit_fields(gguf::block_q3_K& b, std::uint16_t** f) noexcept { f[0] = &b.d; return 1; }
inline int refit_fields(gguf::block_q4_K& b, std::uint16_t** f) noexcept { f[0] = &b.d; f[1] = &b.dmin; return 2; }
inline int refit_fields(gguf::block_q5_K& b, std::uint16_t** f) noexcept { f[0] = &b.d; f[1] = &b.dmin; return 2; }
inline int refit_fields(gguf::block_q6_K& b, std::uint16_t** f) noexcept { f[0] = &b.d; return 1; }
inline int refit_fields(gguf::block_iq4_nl& b, std::uint16_t** f) noexcept { f[0] = &b.d; return 1; }
inline int refit_fields(gguf::block_iq4_xs& b, std::uint16_t** f) noexcept { f[0] = &b.d; return 1; }
inline int refit_fields(gguf::block_iq3_s& b, std::uint16_t** f) noexcept { f[0] = &b.d; return 1; }
inline int refit_fields(gguf::block_iq3_xxs& b, std::uint16_t** f) noexcept { f[0] = &b.d; return 1; }

// (w - q) H (w - q)^T for a row of K values, in double.
inline double weighted_error(const float* w, const float* q, matrix_view<const float> H, std::vector<double>& e) {
    const std::size_t K = H.rows();
    e.resize(K);
    for (std::size_t j = 0; j < K; ++j) e[j] = static_cast<double>(w[j]) - q[j];
    double s = 0;
    for (std::size_t i = 0; i < K; ++i) {
        if (e[i] == 0.0) continue;
        const float* h = H.row(i);
        double t = 0;
        for (std::size_t j = 0; j < K; ++j) t += h[j] * e[j];
        s += e[i] * t;
    }
    return s;
}

// Solves (A + ridge) x = b in place for a small symmetric positive
// semi-definite A (n x n, row-major, double); false when not solvable.
inline bool solve_small_spd(std::vector<double>& a, std::vector<double>& b, std::size_t n) {
    for (std::size_t j = 0; j < n; ++j) {
        double s = a[j * n + j];
        for (std::size_t p = 0; p < j; ++p) s -= a[j * n + p] * a[j * n + p];
        if (!(s > 0.0) || !std::isfinite(s)) return false;
        const double d = std::sqrt(s);
        a[j * n + j] = d;
        for (std::size_t i = j + 1; i < n; ++i) {
            double t = a[i * n + j];
            for (std::size_t p = 0; p < j; ++p) t -= a[i * n + p] * a[j * n + p];
            a[i * n + j] = t / d;
        }
    }
    for (std::size_t i = 0; i < n; ++i) {  // L y = b
        double t = b[i];
        for (std::size_t p = 0; p < i; ++p) t -= a[i * n + p] * b[p];
        b[i] = t / a[i * n + i];
    }
    for (std::size_t i = n; i-- > 0;) {  // L^T x = y
        double t = b[i];
        for (std::size_t p = i + 1; p < n; ++p) t -= a[p * n + i] * b[p];
        b[i] = t / a[i * n + i];
    }
    for (std::size_t i = 0; i < n; ++i)
        if (!std::isfinite(b[i])) return false;
    return true;
}

}  // namespace detail

// Re-fits the f16 fields of the K / B::values blocks at `row` (ggml layout,
// written in place) so that the decoded row q minimises (w - q) H (w - q)^T,
// codes and sub-block scales unchanged. w: the K target weights; H: K x K,
// symmetric positive semi-definite. Returns true when the row was changed
// (only ever to a lower loss); `before` / `after` receive the two losses.
template <class B>
bool refit_row_scales(const float* w, matrix_view<const float> H, std::uint8_t* row, double* before = nullptr, double* after = nullptr) {
    const std::size_t K = H.rows(), bw = static_cast<std::size_t>(B::values), nblk = K / bw;
    std::vector<B> blk(nblk);
    std::memcpy(blk.data(), row, nblk * sizeof(B));
    std::uint16_t* f[2] = {nullptr, nullptr};
    const std::size_t nf = static_cast<std::size_t>(detail::refit_fields(blk[0], f)), P = nblk * nf;

    // phi_p: block b(p) decoded with field p at 1 and its other fields at 0.
    std::vector<float> phi(P * bw), q(K);
    std::vector<double> theta0(P);
    for (std::size_t b = 0; b < nblk; ++b) {
        B t = blk[b];
        std::uint16_t* tf[2];
        detail::refit_fields(t, tf);
        for (std::size_t k = 0; k < nf; ++k) theta0[b * nf + k] = f16_to_f32(*tf[k]);
        for (std::size_t k = 0; k < nf; ++k) {
            for (std::size_t k2 = 0; k2 < nf; ++k2) *tf[k2] = k2 == k ? f32_to_f16(1.0f) : std::uint16_t(0);
            gguf::detail::decode(t, phi.data() + (b * nf + k) * bw);
        }
        gguf::detail::decode(blk[b], q.data() + b * bw);
    }
    std::vector<double> e;
    const double loss0 = detail::weighted_error(w, q.data(), H, e);
    if (before) *before = loss0;
    if (after) *after = loss0;
    if (!(loss0 > 0.0) || !std::isfinite(loss0)) return false;

    // Normal equations G theta = g: g_p = phi_p . (H w), G_pq = phi_p H phi_q.
    std::vector<double> hw(K, 0.0), hphi(K), G(P * P), g(P);
    for (std::size_t i = 0; i < K; ++i) {
        const float* h = H.row(i);
        double t = 0;
        for (std::size_t j = 0; j < K; ++j) t += static_cast<double>(h[j]) * w[j];
        hw[i] = t;
    }
    for (std::size_t p = 0; p < P; ++p) {
        const std::size_t bp = p / nf;
        const float* ph = phi.data() + p * bw;
        double t = 0;
        for (std::size_t i = 0; i < bw; ++i) t += ph[i] * hw[bp * bw + i];
        g[p] = t;
        for (std::size_t i = 0; i < K; ++i) {  // H phi_p (phi_p is zero outside its block)
            const float* h = H.row(i) + bp * bw;
            double s = 0;
            for (std::size_t c = 0; c < bw; ++c) s += static_cast<double>(h[c]) * ph[c];
            hphi[i] = s;
        }
        for (std::size_t r = 0; r <= p; ++r) {
            const std::size_t br = r / nf;
            const float* pr = phi.data() + r * bw;
            double s = 0;
            for (std::size_t i = 0; i < bw; ++i) s += pr[i] * hphi[br * bw + i];
            G[p * P + r] = G[r * P + p] = s;
        }
    }
    // A small ridge towards the current fields: directions H does not see
    // (dead columns, a block whose mins are all 0) keep their values.
    double tr = 0;
    for (std::size_t p = 0; p < P; ++p) tr += G[p * P + p];
    const double lambda = 1e-9 * (tr / static_cast<double>(P)) + 1e-30;
    for (std::size_t p = 0; p < P; ++p) G[p * P + p] += lambda, g[p] += lambda * theta0[p];
    if (!detail::solve_small_spd(G, g, P)) return false;

    std::vector<B> nb(blk);
    for (std::size_t b = 0; b < nblk; ++b) {
        std::uint16_t* tf[2];
        detail::refit_fields(nb[b], tf);
        for (std::size_t k = 0; k < nf; ++k) {
            const double v = g[b * nf + k];
            if (!(std::fabs(v) < 65504.0)) return false;
            *tf[k] = f32_to_f16(static_cast<float>(v));
        }
        gguf::detail::decode(nb[b], q.data() + b * bw);
    }
    for (std::size_t j = 0; j < K; ++j)
        if (!std::isfinite(q[j])) return false;
    const double loss1 = detail::weighted_error(w, q.data(), H, e);
    if (!(loss1 < loss0)) return false;
    std::memcpy(row, nb.data(), nblk * sizeof(B));
    if (after) *after = loss1;
    return true;
}

}  // namespace lowbit
