// lowbit/kernels/measure.hpp — the quality of a quantized matrix against its
// f32 original: weight error, and the layer-output error ||W X - Q(W) X|| on a
// calibration batch, which is what the model actually feels.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "../quant/footprint.hpp"
#include "../quant/metrics.hpp"
#include "matmul.hpp"

namespace lowbit {

struct quality_report {
    error_stats weight;   // Q(W) against W, element-wise
    error_stats output;   // X Q(W)^T against X W^T (n = 0 when no X was given)
    double bits_per_weight = 0;
    std::size_t bytes = 0;  // codes + scales + zeros (+ permutation)
};

// x: optional calibration batch (M x K, M may be 0). Work is split over row
// blocks and merged in a fixed order: deterministic for any executor.
template <class S, class Exec = serial_executor>
result<quality_report> measure(matrix_view<const float> w, const qmatrix_view<S>& q,
                               matrix_view<const float> x = {}, Exec&& exec = Exec{}) {
    LOWBIT_TRY(q.validate());
    if (w.rows() != q.rows || w.cols() != q.cols)
        return status::error(errc::shape_mismatch, "w is %zu x %zu, the qmatrix is %zu x %zu", w.rows(), w.cols(), q.rows, q.cols);
    LOWBIT_TRY(detail::check_view(w, "w"));
    if (x.rows() > 0 && x.cols() != w.cols())
        return status::error(errc::shape_mismatch, "x has %zu columns, w has %zu", x.cols(), w.cols());
    LOWBIT_TRY(detail::check_view(x, "x"));
    quality_report rep;
    const std::size_t block = 64, n_tasks = (w.rows() + block - 1) / block;
    std::vector<error_accumulator> wacc(n_tasks), yacc(n_tasks);
    exec(n_tasks, [&](std::size_t t) {
        std::vector<float> deq(w.cols());
        const std::size_t r1 = std::min(w.rows(), (t + 1) * block);
        for (std::size_t r = t * block; r < r1; ++r) {
            for (std::size_t c = 0; c < w.cols(); ++c) deq[q.perm ? static_cast<std::size_t>(q.perm[c]) : c] = q.value(r, c);
            for (std::size_t c = 0; c < w.cols(); ++c) wacc[t].add(w(r, c), deq[c]);
            for (std::size_t m = 0; m < x.rows(); ++m) {  // output error in double: y_ref and y_q for this (m, r)
                double yr = 0, yq = 0;
                for (std::size_t c = 0; c < w.cols(); ++c) {
                    yr += static_cast<double>(w(r, c)) * x(m, c);
                    yq += static_cast<double>(deq[c]) * x(m, c);
                }
                yacc[t].add(static_cast<float>(yr), static_cast<float>(yq));
            }
        }
    });
    error_accumulator wa, ya;
    for (std::size_t t = 0; t < n_tasks; ++t) {
        wa.merge(wacc[t]);
        ya.merge(yacc[t]);
    }
    rep.weight = error_stats::from(wa);
    rep.output = error_stats::from(ya);
    rep.bits_per_weight = bits_per_weight(S::runtime(q.group), q.cols, q.rows);
    rep.bytes = q.rows * packed_bytes(q.cols, S::bits) +
                (S::gran == granularity::per_tensor ? 1 : q.rows * q.groups_per_row()) *
                    (sizeof(typename S::scale_storage) + (S::is_symmetric ? 0 : 1)) +
                (q.perm ? q.cols * 4 : 0);
    return rep;
}

template <class S, class Exec = serial_executor>
result<quality_report> measure(matrix_view<const float> w, const qmatrix<S>& q, matrix_view<const float> x = {},
                               Exec&& exec = Exec{}) {
    return measure(w, q.view(), x, std::forward<Exec>(exec));
}

}  // namespace lowbit
