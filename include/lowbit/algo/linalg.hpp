// lowbit/algo/linalg.hpp — the small dense linear algebra that GPTQ, AWQ and
// the tools need, header-only, no BLAS: a blocked GEMM-accumulate, the
// symmetric rank-k update H += alpha X^T X, Cholesky, triangular inverse and
// solves, and the upper Cholesky factor of an inverse (GPTQ's "Hinv").
//
// Matrices are row-major views (matrix_view: element (r, c) at r*stride + c).
// The register tile (detail/microkernel.hpp) is 6x16 floats or 6x8 doubles,
// AVX2+FMA when the CPU has it, portable C++ otherwise. Work is split into
// tasks whose results do not depend on the executor, so every routine here is
// bit-identical for any thread count.
//
// Precision: storage is f32 for the big operands (activations, H, weights);
// the factorizations run in f64, since GPTQ's quality depends on H^-1 and a
// damped H of a real layer can have a condition number of 1e6 or more.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <utility>
#include <vector>

#include "../core/status.hpp"
#include "../core/views.hpp"
#include "../parallel.hpp"
#include "detail/microkernel.hpp"

namespace lowbit {
namespace linalg {

// ---- GEMM-accumulate ----------------------------------------------------------------
// C (M x N) += alpha * A (M x P) * B (P x N), serial.
//   A(m, p) = a[m * a_m + p * a_p]   (any strides: A may be a transposed view)
//   B(p, n) = b[p * b_p + n]         C(m, n) = c[m * c_m + n]
// Blocked so that a 96-row block of A and a P-slice of B stay in cache.
template <class T>
inline void gemm_acc(std::size_t M, std::size_t N, std::size_t P, const T* a, std::size_t a_m, std::size_t a_p,
                     const T* b, std::size_t b_p, T* c, std::size_t c_m, T alpha) noexcept {
    constexpr std::size_t MR = detail::tile_shape<T>::mr, NR = detail::tile_shape<T>::nr;
    constexpr std::size_t KC = 256, MC = 96;
    for (std::size_t p0 = 0; p0 < P; p0 += KC) {
        const std::size_t pc = std::min(KC, P - p0);
        for (std::size_t i0 = 0; i0 < M; i0 += MC) {
            const std::size_t i1 = std::min(M, i0 + MC);
            for (std::size_t j = 0; j < N; j += NR) {
                const std::size_t n = std::min(NR, N - j);
                const T* bj = b + p0 * b_p + j;
                for (std::size_t i = i0; i < i1; i += MR) {
                    const std::size_t m = std::min(MR, i1 - i);
                    const T* ai = a + i * a_m + p0 * a_p;
                    T* cij = c + i * c_m + j;
                    if (m == MR && n == NR) detail::micro_full(pc, ai, a_m, a_p, bj, b_p, cij, c_m, alpha);
                    else detail::micro_portable<T>(m, n, pc, ai, a_m, a_p, bj, b_p, cij, c_m, alpha);
                }
            }
        }
    }
}

namespace detail {
// out (written) may not share a byte with in (read).
template <class T, class U>
status check_apart(const matrix_view<T>& out, const matrix_view<U>& in, const char* out_name, const char* in_name) noexcept {
    if (lowbit::detail::overlaps(out.data(), lowbit::detail::view_bytes(out), in.data(), lowbit::detail::view_bytes(in)))
        return status::error(errc::invalid_argument, "%s overlaps %s", out_name, in_name);
    return {};
}
}  // namespace detail

// Y (M x N) = X (M x K) * W^T (W: N x K), f32, split over the executor.
template <class Exec = serial_executor>
status matmul_nt(matrix_view<const float> x, matrix_view<const float> w, matrix_view<float> y, Exec&& exec = Exec{}) {
    if (x.cols() != w.cols()) return status::error(errc::shape_mismatch, "x has %zu columns, w has %zu", x.cols(), w.cols());
    if (y.rows() != x.rows() || y.cols() != w.rows())
        return status::error(errc::shape_mismatch, "y is %zu x %zu, expected %zu x %zu", y.rows(), y.cols(), x.rows(), w.rows());
    const std::size_t M = x.rows(), N = w.rows(), K = x.cols();
    if (M == 0 || N == 0) return {};
    LOWBIT_TRY(lowbit::detail::check_view(x, "x"));
    LOWBIT_TRY(lowbit::detail::check_view(w, "w"));
    LOWBIT_TRY(lowbit::detail::check_view(y, "y"));
    LOWBIT_TRY(detail::check_apart(y, x, "y", "x"));
    LOWBIT_TRY(detail::check_apart(y, w, "y", "w"));
    std::vector<float> wt(K * N);  // W^T, so that B(p, n) is contiguous in n
    for (std::size_t n = 0; n < N; ++n)
        for (std::size_t k = 0; k < K; ++k) wt[k * N + n] = w(n, k);
    const std::size_t MB = 96, NB = 512;
    const std::size_t tm = (M + MB - 1) / MB, tn = (N + NB - 1) / NB;
    exec(tm * tn, [&](std::size_t t) {
        const std::size_t m0 = (t / tn) * MB, n0 = (t % tn) * NB;
        const std::size_t m1 = std::min(M, m0 + MB), n1 = std::min(N, n0 + NB);
        for (std::size_t m = m0; m < m1; ++m)
            for (std::size_t n = n0; n < n1; ++n) y(m, n) = 0.0f;
        gemm_acc<float>(m1 - m0, n1 - n0, K, x.row(m0), x.stride(), 1, wt.data() + n0, N, y.row(m0) + n0, y.stride(), 1.0f);
    });
    return {};
}

// ---- symmetric rank-k update ----------------------------------------------------------
// H (K x K) += alpha * X^T X for X (T x K): the upper triangle of H is updated
// (the lower triangle of the 96 x 96 diagonal tiles too); call
// symmetrize_from_upper() once all batches are in. Tokens are processed in
// chunks of 256, copied to a buffer whose row stride is not a power of two
// (a 4096-float stride would map every row to the same L1 sets).
template <class Exec = serial_executor>
status syrk_upper(matrix_view<const float> x, float alpha, matrix_view<float> h, Exec&& exec = Exec{}) {
    const std::size_t K = x.cols();
    if (h.rows() != K || h.cols() != K)
        return status::error(errc::shape_mismatch, "h is %zu x %zu, x has %zu columns", h.rows(), h.cols(), K);
    if (x.rows() == 0 || K == 0) return {};
    LOWBIT_TRY(lowbit::detail::check_view(x, "x"));
    LOWBIT_TRY(lowbit::detail::check_view(h, "h"));
    LOWBIT_TRY(detail::check_apart(h, x, "h", "x"));
    constexpr std::size_t TC = 256, TB = 96;
    const std::size_t ld = (K + 15) / 16 * 16 + 16;
    std::vector<float> pack(TC * ld, 0.0f);
    const std::size_t nt = (K + TB - 1) / TB;
    std::vector<std::pair<std::size_t, std::size_t>> tiles;  // (row tile, col tile), col >= row
    for (std::size_t i = 0; i < nt; ++i)
        for (std::size_t j = i; j < nt; ++j) tiles.emplace_back(i, j);
    for (std::size_t t0 = 0; t0 < x.rows(); t0 += TC) {
        const std::size_t tc = std::min(TC, x.rows() - t0);
        for (std::size_t t = 0; t < tc; ++t) std::copy(x.row(t0 + t), x.row(t0 + t) + K, pack.data() + t * ld);
        exec(tiles.size(), [&](std::size_t k) {
            const std::size_t i0 = tiles[k].first * TB, j0 = tiles[k].second * TB;
            const std::size_t i1 = std::min(K, i0 + TB), j1 = std::min(K, j0 + TB);
            gemm_acc<float>(i1 - i0, j1 - j0, tc, pack.data() + i0, 1, ld, pack.data() + j0, ld, h.row(i0) + j0, h.stride(),
                            alpha);
        });
    }
    return {};
}

template <class T>
inline void symmetrize_from_upper(matrix_view<T> h) noexcept {
    for (std::size_t i = 0; i < h.rows(); ++i)
        for (std::size_t j = i + 1; j < h.cols(); ++j) h(j, i) = h(i, j);
}

// ---- Cholesky ---------------------------------------------------------------------------
// A = L L^T in place (lower triangle of a; the strict upper triangle is set to
// zero). Reads only the lower triangle. Right-looking, 96-column panels; the
// trailing update is split over the executor. Fails with errc::numerical,
// naming the pivot, when A is not (numerically) positive definite; a is then
// partly overwritten.
template <class T, class Exec = serial_executor>
status cholesky_lower(matrix_view<T> a, Exec&& exec = Exec{}) {
    const std::size_t n = a.rows();
    if (a.cols() != n) return status::error(errc::shape_mismatch, "a is %zu x %zu, must be square", a.rows(), a.cols());
    LOWBIT_TRY(lowbit::detail::check_view(a, "a"));
    constexpr std::size_t NB = 96;
    std::vector<T> pt;
    for (std::size_t k0 = 0; k0 < n; k0 += NB) {
        const std::size_t kb = std::min(NB, n - k0), k1 = k0 + kb;
        for (std::size_t j = k0; j < k1; ++j) {  // the diagonal block, unblocked, sums in double
            double s = a(j, j);
            for (std::size_t p = k0; p < j; ++p) s -= static_cast<double>(a(j, p)) * a(j, p);
            if (!(s > 0.0) || !std::isfinite(s))
                return status::error(errc::numerical, "matrix is not positive definite: pivot %zu is %g", j, s);
            const double d = std::sqrt(s);
            a(j, j) = static_cast<T>(d);
            for (std::size_t i = j + 1; i < k1; ++i) {
                double t = a(i, j);
                for (std::size_t p = k0; p < j; ++p) t -= static_cast<double>(a(i, p)) * a(j, p);
                a(i, j) = static_cast<T>(t / d);
            }
        }
        if (k1 == n) break;
        const std::size_t m = n - k1;  // rows below the panel: L21 = A21 L11^-T
        const std::size_t rows_per_task = 64, n_tasks = (m + rows_per_task - 1) / rows_per_task;
        exec(n_tasks, [&](std::size_t t) {
            const std::size_t r1 = std::min(n, k1 + (t + 1) * rows_per_task);
            for (std::size_t i = k1 + t * rows_per_task; i < r1; ++i)
                for (std::size_t j = k0; j < k1; ++j) {
                    double s = a(i, j);
                    for (std::size_t p = k0; p < j; ++p) s -= static_cast<double>(a(i, p)) * a(j, p);
                    a(i, j) = static_cast<T>(s / a(j, j));
                }
        });
        pt.assign(kb * m, T(0));  // L21^T, so that B(p, c) is contiguous in c
        for (std::size_t r = 0; r < m; ++r)
            for (std::size_t p = 0; p < kb; ++p) pt[p * m + r] = a(k1 + r, k0 + p);
        const std::size_t RB = 96, n_blocks = (m + RB - 1) / RB;
        exec(n_blocks, [&](std::size_t t) {  // A22 -= L21 L21^T, lower part (whole diagonal tiles)
            const std::size_t r0 = t * RB, r1 = std::min(m, r0 + RB);
            gemm_acc<T>(r1 - r0, r1, kb, a.row(k1 + r0) + k0, a.stride(), 1, pt.data(), m, a.row(k1 + r0) + k1, a.stride(), T(-1));
        });
    }
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = i + 1; j < n; ++j) a(i, j) = T(0);
    return {};
}

// L^-1 in place for a lower-triangular L with a nonzero diagonal (strict upper
// triangle must be zero, as cholesky_lower leaves it). Block row by block row:
//   X_i,<i = -L_ii^-1 (L_i,<i X_<i,<i),   X_ii = L_ii^-1.
template <class T, class Exec = serial_executor>
status tri_inverse_lower(matrix_view<T> l, Exec&& exec = Exec{}) {
    const std::size_t n = l.rows();
    if (l.cols() != n) return status::error(errc::shape_mismatch, "l is %zu x %zu, must be square", l.rows(), l.cols());
    LOWBIT_TRY(lowbit::detail::check_view(l, "l"));
    for (std::size_t i = 0; i < n; ++i)
        if (!(l(i, i) != T(0)) || !std::isfinite(static_cast<double>(l(i, i))))
            return status::error(errc::numerical, "l(%zu, %zu) = %g: triangular matrix is singular", i, i, static_cast<double>(l(i, i)));
    constexpr std::size_t NB = 96;
    std::vector<T> tmp, diag;
    for (std::size_t i0 = 0; i0 < n; i0 += NB) {
        const std::size_t ib = std::min(NB, n - i0);
        if (i0 > 0) {
            tmp.assign(ib * i0, T(0));
            const std::size_t n_tasks = (i0 + NB - 1) / NB;
            exec(n_tasks, [&](std::size_t t) {
                const std::size_t j0 = t * NB, j1 = std::min(i0, j0 + NB);
                // X_<i,<i is lower triangular: rows p < j0 of columns [j0, j1) are zero.
                gemm_acc<T>(ib, j1 - j0, i0 - j0, l.row(i0) + j0, l.stride(), 1, l.row(j0) + j0, l.stride(), tmp.data() + j0, i0,
                            T(-1));
                for (std::size_t j = j0; j < j1; ++j)  // forward substitution with L_ii, column j
                    for (std::size_t r = 0; r < ib; ++r) {
                        double s = tmp[r * i0 + j];
                        for (std::size_t p = 0; p < r; ++p) s -= static_cast<double>(l(i0 + r, i0 + p)) * tmp[p * i0 + j];
                        tmp[r * i0 + j] = static_cast<T>(s / l(i0 + r, i0 + r));
                    }
            });
            for (std::size_t r = 0; r < ib; ++r) std::copy(tmp.data() + r * i0, tmp.data() + (r + 1) * i0, l.row(i0 + r));
        }
        diag.assign(ib * ib, T(0));  // invert the diagonal block
        for (std::size_t j = 0; j < ib; ++j) {
            diag[j * ib + j] = T(1) / l(i0 + j, i0 + j);
            for (std::size_t r = j + 1; r < ib; ++r) {
                double s = 0.0;
                for (std::size_t p = j; p < r; ++p) s += static_cast<double>(l(i0 + r, i0 + p)) * diag[p * ib + j];
                diag[r * ib + j] = static_cast<T>(-s / l(i0 + r, i0 + r));
            }
        }
        for (std::size_t r = 0; r < ib; ++r) std::copy(diag.data() + r * ib, diag.data() + (r + 1) * ib, l.row(i0 + r) + i0);
    }
    return {};
}

// ---- triangular solves (vectors, in place) -----------------------------------------------
template <class T>
inline void solve_lower(matrix_view<const T> l, T* b) noexcept {  // L x = b
    for (std::size_t i = 0; i < l.rows(); ++i) {
        double s = b[i];
        for (std::size_t p = 0; p < i; ++p) s -= static_cast<double>(l(i, p)) * b[p];
        b[i] = static_cast<T>(s / l(i, i));
    }
}
template <class T>
inline void solve_upper(matrix_view<const T> u, T* b) noexcept {  // U x = b
    for (std::size_t i = u.rows(); i-- > 0;) {
        double s = b[i];
        for (std::size_t p = i + 1; p < u.rows(); ++p) s -= static_cast<double>(u(i, p)) * b[p];
        b[i] = static_cast<T>(s / u(i, i));
    }
}
template <class T>
inline void solve_lower_transposed(matrix_view<const T> l, T* b) noexcept {  // L^T x = b
    for (std::size_t i = l.rows(); i-- > 0;) {
        double s = b[i];
        for (std::size_t p = i + 1; p < l.rows(); ++p) s -= static_cast<double>(l(p, i)) * b[p];
        b[i] = static_cast<T>(s / l(i, i));
    }
}

// ---- upper Cholesky factor of an inverse ---------------------------------------------------
// U upper triangular with U^T U = (H + damp I)^-1: what GPTQ calls Hinv
// (torch: cholesky(cholesky_inverse(cholesky(H)), upper=True)). Computed with
// one Cholesky and one triangular inverse instead of three factorizations:
// with J the reversal permutation, J H J = L L^T gives H = (J L J)(J L J)^T,
// so H^-1 = (J L^-1 J)^T (J L^-1 J) and U = J L^-1 J is upper triangular with
// a positive diagonal, i.e. the unique Cholesky factor. Both steps run in f64
// (`work`, n*n doubles, reused across calls). u's strict lower triangle is zeroed.
// hval(i, j) gives H(i, j) for j <= i (only the lower triangle is read), so a
// caller can pass a permuted or patched H without copying it.
template <class F, class Exec = serial_executor>
status inverse_cholesky_upper_of(std::size_t n, F&& hval, double damp, matrix_view<float> u, std::vector<double>& work,
                                 Exec&& exec = Exec{}) {
    if (u.rows() != n || u.cols() != n) return status::error(errc::shape_mismatch, "u is %zu x %zu, h is %zu x %zu", u.rows(), u.cols(), n, n);
    LOWBIT_TRY(lowbit::detail::check_view(u, "u"));
    work.assign(n * n, 0.0);
    matrix_view<double> a(work.data(), n, n);
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j <= i; ++j) a(i, j) = hval(n - 1 - j, n - 1 - i);  // (J H J)(i, j) = H(n-1-i, n-1-j), symmetric
        a(i, i) += damp;
    }
    LOWBIT_TRY(cholesky_lower(a, exec));
    LOWBIT_TRY(tri_inverse_lower(a, exec));
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) u(i, j) = j >= i ? static_cast<float>(a(n - 1 - i, n - 1 - j)) : 0.0f;
    return {};
}

template <class Exec = serial_executor>
status inverse_cholesky_upper(matrix_view<const float> h, double damp, matrix_view<float> u, std::vector<double>& work,
                              Exec&& exec = Exec{}) {
    if (h.cols() != h.rows()) return status::error(errc::shape_mismatch, "h is %zu x %zu, must be square", h.rows(), h.cols());
    LOWBIT_TRY(lowbit::detail::check_view(h, "h"));
    LOWBIT_TRY(detail::check_apart(u, h, "u", "h"));
    return inverse_cholesky_upper_of(h.rows(), [&](std::size_t i, std::size_t j) { return static_cast<double>(h(i, j)); }, damp,
                                     u, work, std::forward<Exec>(exec));
}

}  // namespace linalg
}  // namespace lowbit
