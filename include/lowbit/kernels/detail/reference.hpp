// lowbit/kernels/detail/reference.hpp — the scalar reference kernels.
//
// Written for clarity, not speed: every optimised kernel is tested against
// these. Accumulation is in double, so the reference is closer to the exact
// product than any float kernel; tests compare with a tolerance scaled by
// sum_k |w_nk x_k| (docs/kernels.md, "Accuracy").
#pragma once

#include <cstddef>

#include "../../core/views.hpp"
#include "../../pack/qmatrix.hpp"

namespace lowbit {
namespace reference {

template <class S>
inline float input_at(const qmatrix_view<S>& w, const float* x, std::size_t c) noexcept {
    return w.perm ? x[w.perm[c]] : x[c];
}

// One output: sum over groups of s_g * sum_{c in g} (u_c - z_g) * x_c.
template <class S>
inline double dot_row(const qmatrix_view<S>& w, std::size_t r, const float* x) noexcept {
    const std::size_t G = static_cast<std::size_t>(w.group);
    double acc = 0.0;
    for (std::size_t g = 0, c0 = 0; c0 < w.cols; ++g, c0 += G) {
        const std::size_t c1 = c0 + G < w.cols ? c0 + G : w.cols;
        const double z = w.zero(r, g);
        double gs = 0.0;
        for (std::size_t c = c0; c < c1; ++c) gs += (static_cast<double>(w.code(r, c)) - z) * input_at(w, x, c);
        acc += static_cast<double>(w.scale(r, g)) * gs;
    }
    return acc;
}

// out (rows x cols) = dequantized w, in the input order (perm undone).
template <class S>
inline void dequantize_rows(const qmatrix_view<S>& w, matrix_view<float> out, std::size_t r0, std::size_t r1) noexcept {
    for (std::size_t r = r0; r < r1; ++r)
        for (std::size_t c = 0; c < w.cols; ++c) out(r, w.perm ? static_cast<std::size_t>(w.perm[c]) : c) = w.value(r, c);
}

// y[r] = W[r,:] . x for r in [r0, r1)
template <class S>
inline void gemv_rows(const qmatrix_view<S>& w, const float* x, float* y, std::size_t r0, std::size_t r1) noexcept {
    for (std::size_t r = r0; r < r1; ++r) y[r] = static_cast<float>(dot_row(w, r, x));
}

// Y[m, n] = X[m,:] . W[n,:] for n in [n0, n1), all m.
template <class S>
inline void gemm_cols(const qmatrix_view<S>& w, matrix_view<const float> x, matrix_view<float> y, std::size_t n0,
                      std::size_t n1) noexcept {
    for (std::size_t m = 0; m < x.rows(); ++m)
        for (std::size_t n = n0; n < n1; ++n) y(m, n) = static_cast<float>(dot_row(w, n, x.row(m)));
}

}  // namespace reference
}  // namespace lowbit
