// lowbit/kernels/matmul.hpp — the public matmul entry points on quantized weights.
//
//   gemv:       y = W x          W: N x K quantized, x: K, y: N       (decoding)
//   gemm:       Y = X W^T        X: M x K, Y: M x N                   (batches, prefill)
//   dequantize: out = W as f32 (input order, permutation undone)
//
// Inputs are views; outputs are caller-owned; work is split over output rows
// into tasks for the executor, so results are bit-identical for any executor
// and thread count. Errors (shapes, null pointers, overlapping buffers) return
// a status and leave the output untouched. NaN/Inf in activations propagate
// as in an f32 matmul.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "../core/status.hpp"
#include "../core/views.hpp"
#include "../pack/qmatrix.hpp"
#include "../parallel.hpp"
#include "detail/reference.hpp"

namespace lowbit {

// Which arithmetic a matmul uses (docs/kernels.md):
//   dequant_fma  codes -> f32 in registers, FMA with f32 activations (exact up to float rounding)
//   int8_dot     activations quantized per block to int8, integer dot products (fastest, slightly lossy)
enum class matmul_path : std::uint8_t { automatic, dequant_fma, int8_dot, reference };

struct matmul_options {
    matmul_path path = matmul_path::automatic;
};

namespace detail {
inline bool overlaps(const void* a, std::size_t a_bytes, const void* b, std::size_t b_bytes) noexcept {
    const auto pa = reinterpret_cast<std::uintptr_t>(a), pb = reinterpret_cast<std::uintptr_t>(b);
    return a_bytes && b_bytes && pa < pb + b_bytes && pb < pa + a_bytes;
}
inline std::size_t view_bytes(matrix_view<const float> v) noexcept {
    return v.empty() ? 0 : ((v.rows() - 1) * v.stride() + v.cols()) * sizeof(float);
}
constexpr std::size_t rows_per_task = 64;  // fixed split: results never depend on the thread count
}  // namespace detail

template <class S, class Exec = serial_executor>
status gemv(const qmatrix_view<S>& w, span<const float> x, span<float> y, Exec&& exec = Exec{}, const matmul_options& opt = {}) {
    (void)opt;
    LOWBIT_TRY(w.validate());
    if (x.size() != w.cols) return status::error(errc::shape_mismatch, "x has %zu elements, W has %zu columns", x.size(), w.cols);
    if (y.size() != w.rows) return status::error(errc::shape_mismatch, "y has %zu elements, W has %zu rows", y.size(), w.rows);
    if (!x.data() || !y.data()) return status::error(errc::invalid_argument, "x or y is null");
    if (detail::overlaps(x.data(), x.size() * 4, y.data(), y.size() * 4))
        return status::error(errc::invalid_argument, "x and y overlap");
    const std::size_t n_tasks = (w.rows + detail::rows_per_task - 1) / detail::rows_per_task;
    exec(n_tasks, [&](std::size_t t) {
        const std::size_t r0 = t * detail::rows_per_task;
        const std::size_t r1 = r0 + detail::rows_per_task < w.rows ? r0 + detail::rows_per_task : w.rows;
        reference::gemv_rows(w, x.data(), y.data(), r0, r1);
    });
    return {};
}

template <class S, class Exec = serial_executor>
status gemm(const qmatrix_view<S>& w, matrix_view<const float> x, matrix_view<float> y, Exec&& exec = Exec{},
            const matmul_options& opt = {}) {
    (void)opt;
    LOWBIT_TRY(w.validate());
    if (x.cols() != w.cols) return status::error(errc::shape_mismatch, "X has %zu columns, W has %zu", x.cols(), w.cols);
    if (y.rows() != x.rows() || y.cols() != w.rows)
        return status::error(errc::shape_mismatch, "Y is %zu x %zu, expected %zu x %zu", y.rows(), y.cols(), x.rows(), w.rows);
    if (x.rows() == 0) return {};
    if (!x.data() || !y.data()) return status::error(errc::invalid_argument, "X or Y is null");
    if (x.stride() < x.cols() || y.stride() < y.cols()) return status::error(errc::invalid_argument, "row stride < columns");
    if (detail::overlaps(x.data(), detail::view_bytes(x), y.data(), detail::view_bytes(y)))
        return status::error(errc::invalid_argument, "X and Y overlap");
    const std::size_t n_tasks = (w.rows + detail::rows_per_task - 1) / detail::rows_per_task;
    exec(n_tasks, [&](std::size_t t) {
        const std::size_t n0 = t * detail::rows_per_task;
        const std::size_t n1 = n0 + detail::rows_per_task < w.rows ? n0 + detail::rows_per_task : w.rows;
        reference::gemm_cols(w, x, y, n0, n1);
    });
    return {};
}

template <class S, class Exec = serial_executor>
status dequantize(const qmatrix_view<S>& w, matrix_view<float> out, Exec&& exec = Exec{}) {
    LOWBIT_TRY(w.validate());
    if (out.rows() != w.rows || out.cols() != w.cols)
        return status::error(errc::shape_mismatch, "out is %zu x %zu, W is %zu x %zu", out.rows(), out.cols(), w.rows, w.cols);
    if (!out.data() || out.stride() < out.cols()) return status::error(errc::invalid_argument, "out is null or its stride < columns");
    const std::size_t n_tasks = (w.rows + detail::rows_per_task - 1) / detail::rows_per_task;
    exec(n_tasks, [&](std::size_t t) {
        const std::size_t r0 = t * detail::rows_per_task;
        reference::dequantize_rows(w, out, r0, r0 + detail::rows_per_task < w.rows ? r0 + detail::rows_per_task : w.rows);
    });
    return {};
}

// Owning-container conveniences (template deduction does not see conversions).
template <class S, class Exec = serial_executor>
status gemv(const qmatrix<S>& w, span<const float> x, span<float> y, Exec&& exec = Exec{}, const matmul_options& opt = {}) {
    return gemv(w.view(), x, y, std::forward<Exec>(exec), opt);
}
template <class S, class Exec = serial_executor>
status gemm(const qmatrix<S>& w, matrix_view<const float> x, matrix_view<float> y, Exec&& exec = Exec{},
            const matmul_options& opt = {}) {
    return gemm(w.view(), x, y, std::forward<Exec>(exec), opt);
}
template <class S, class Exec = serial_executor>
status dequantize(const qmatrix<S>& w, matrix_view<float> out, Exec&& exec = Exec{}) {
    return dequantize(w.view(), out, std::forward<Exec>(exec));
}

}  // namespace lowbit
