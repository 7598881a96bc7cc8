// lowbit/kernels/rotated_matmul.hpp — y = W (Q x) for a weight quantized after
// an input rotation (W Q^T stored, Q a hadamard_rotation: quant/hadamard.hpp),
// the run-time half of incoherence processing (lowbit-llama's -rot linears).
//
//   auto q = lowbit::hadamard_rotation::make(K, seed);   // the one the weights were quantized with
//   lowbit::matmul_workspace ws;                         // one per thread that calls
//   lowbit::rotated_gemv(*q, w, x, y, pool, opt, ws);    // no allocation once ws has grown
//
// Q x goes into ws.input(K) (apart from the prepared activations), by
// hadamard_rotation::apply_to: the bits of copying x and apply(), in fewer
// passes; then the gemv / multi_gemv of weights_matmul.hpp on it. So y holds
// exactly what apply() followed by gemv gives (tests/test_rotated_matmul.cpp),
// on every path and executor. A NaN or Inf in x is errc::non_finite (apply()'s
// error), with y untouched; x is never written.
#pragma once

#include <utility>

#include "../quant/hadamard.hpp"
#include "weights_matmul.hpp"

namespace lowbit {

namespace detail {
// Q x into ws.input(), for weights of Q's length.
inline result<span<const float>> rotate_input(const hadamard_rotation& q, std::size_t cols, span<const float> x, matmul_workspace& ws,
                                              const char* who) {
    if (q.size() == 0) return status::error(errc::invalid_argument, "%s: the rotation is not built (hadamard_rotation::make)", who);
    if (q.size() != cols) return status::error(errc::shape_mismatch, "%s: the rotation has length %zu, W has %zu columns", who, q.size(), cols);
    if (x.size() != cols) return status::error(errc::shape_mismatch, "%s: x has %zu elements, W has %zu columns", who, x.size(), cols);
    if (!x.data()) return status::error(errc::invalid_argument, "%s: x is null", who);
    float* xr = ws.input(cols);
    LOWBIT_TRY(q.apply_to(x, span<float>(xr, cols)));
    return span<const float>(xr, cols);
}
}  // namespace detail

// y = W Q x. ws holds Q x and the prepared activations.
template <class Exec>
status rotated_gemv(const hadamard_rotation& q, const weights_view& w, span<const float> x, span<float> y, Exec&& exec,
                    const matmul_options& opt, matmul_workspace& ws) {
    auto xr = detail::rotate_input(q, w.cols(), x, ws, "rotated_gemv");
    if (!xr) return xr.error();
    return gemv(w, *xr, y, std::forward<Exec>(exec), opt, ws);
}
template <class Exec = serial_executor>
status rotated_gemv(const hadamard_rotation& q, const weights_view& w, span<const float> x, span<float> y, Exec&& exec = Exec{},
                    const matmul_options& opt = {}) {
    detail::thread_workspace_guard ws;
    return rotated_gemv(q, w, x, y, std::forward<Exec>(exec), opt, *ws.ws);
}

// y[i] = w[i] Q x for up to max_multi_gemv weights quantized with the same
// rotation (q, k and v; gate and up): x rotated once, then one multi_gemv job.
template <class Exec>
status rotated_multi_gemv(const hadamard_rotation& q, span<const weights_view> w, span<const float> x, span<const span<float>> y,
                          Exec&& exec, const matmul_options& opt, matmul_workspace& ws) {
    if (w.empty()) return multi_gemv(w, x, y, std::forward<Exec>(exec), opt, ws);  // its checks of the empty call
    auto xr = detail::rotate_input(q, w[0].cols(), x, ws, "rotated_multi_gemv");
    if (!xr) return xr.error();
    return multi_gemv(w, *xr, y, std::forward<Exec>(exec), opt, ws);
}
template <class Exec = serial_executor>
status rotated_multi_gemv(const hadamard_rotation& q, span<const weights_view> w, span<const float> x, span<const span<float>> y,
                          Exec&& exec = Exec{}, const matmul_options& opt = {}) {
    detail::thread_workspace_guard ws;
    return rotated_multi_gemv(q, w, x, y, std::forward<Exec>(exec), opt, *ws.ws);
}

}  // namespace lowbit
