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
// passes; then the entries gemv / multi_gemv of weights_matmul.hpp would run,
// on it. So y holds exactly what apply() followed by gemv gives
// (tests/test_rotated_matmul.cpp), on every path and executor. A NaN or Inf in
// x is errc::non_finite (apply()'s error), with y untouched; x is never written.
#pragma once

#include <utility>

#include "../quant/hadamard.hpp"
#include "weights_matmul.hpp"

namespace lowbit {

namespace detail {
// Q's length against W's and x's; where Q x goes (ws.input()).
inline result<float*> rotation_target(const hadamard_rotation& q, std::size_t cols, span<const float> x, matmul_workspace& ws,
                                      const char* who) {
    if (q.size() == 0) return status::error(errc::invalid_argument, "%s: the rotation is not built (hadamard_rotation::make)", who);
    if (q.size() != cols) return status::error(errc::shape_mismatch, "%s: the rotation has length %zu, W has %zu columns", who, q.size(), cols);
    if (x.size() != cols) return status::error(errc::shape_mismatch, "%s: x has %zu elements, W has %zu columns", who, x.size(), cols);
    if (!x.data()) return status::error(errc::invalid_argument, "%s: x or y is null", who);
    return ws.input(cols);
}
}  // namespace detail

// y = W Q x. ws holds Q x and the prepared activations. On an executor of
// more than one thread (executor_concurrency) the rotation and the activation
// preparation run as the first work of the GEMV's job (kernels/run.hpp,
// job_gate: one task runs them while the workers pick the job up), else
// before it.
template <class Exec>
status rotated_gemv(const hadamard_rotation& q, const weights_view& w, span<const float> x, span<float> y, Exec&& exec,
                    const matmul_options& opt, matmul_workspace& ws) {
    auto xr = detail::rotation_target(q, w.cols(), x, ws, "rotated_gemv");
    if (!xr) return xr.error();
    const span<float> out(*xr, w.cols());
    LOWBIT_TRY(detail::check_path(w, opt));
    LOWBIT_TRY(detail::check_gemv_args(w, out, y, "rotated_gemv"));
    if (detail::overlaps(x.data(), x.size() * 4, y.data(), y.size() * 4))  // x is read in the job that writes y
        return status::error(errc::invalid_argument, "rotated_gemv: x and y overlap");
    auto rotate = [&] { return q.apply_to(x, out); };
    return detail::run_gemv_after(detail::family_of(w), w, out.data(), y.data(), exec, opt, ws, rotate);
}
template <class Exec = serial_executor>
status rotated_gemv(const hadamard_rotation& q, const weights_view& w, span<const float> x, span<float> y, Exec&& exec = Exec{},
                    const matmul_options& opt = {}) {
    detail::thread_workspace_guard ws;
    return rotated_gemv(q, w, x, y, std::forward<Exec>(exec), opt, *ws.ws);
}

// y[i] = w[i] Q x for up to max_multi_gemv weights quantized with the same
// rotation (q, k and v; gate and up): x rotated once, then one job, as
// multi_gemv (the rotation and the preparations in the job as above).
template <class Exec>
status rotated_multi_gemv(const hadamard_rotation& q, span<const weights_view> w, span<const float> x, span<const span<float>> y,
                          Exec&& exec, const matmul_options& opt, matmul_workspace& ws) {
    if (w.empty()) return multi_gemv(w, x, y, std::forward<Exec>(exec), opt, ws);  // its checks of the empty call
    if (w.size() > max_multi_gemv)
        return status::error(errc::invalid_argument, "rotated_multi_gemv: %zu weights, at most %zu", w.size(), max_multi_gemv);
    auto xr = detail::rotation_target(q, w[0].cols(), x, ws, "rotated_multi_gemv");
    if (!xr) return xr.error();
    const span<float> out(*xr, w[0].cols());
    for (std::size_t i = 0; i < y.size(); ++i)
        if (y[i].data() && detail::overlaps(x.data(), x.size() * 4, y[i].data(), y[i].size() * 4))
            return status::error(errc::invalid_argument, "rotated_multi_gemv: x and output %zu overlap", i);
    detail::kernel_family fam[max_multi_gemv];
    for (std::size_t i = 0; i < w.size(); ++i) fam[i] = detail::family_of(w[i]);
    auto rotate = [&] { return q.apply_to(x, out); };
    return detail::run_multi_gemv(fam, w, span<const float>(out), y, exec, opt, ws, rotate);
}
template <class Exec = serial_executor>
status rotated_multi_gemv(const hadamard_rotation& q, span<const weights_view> w, span<const float> x, span<const span<float>> y,
                          Exec&& exec = Exec{}, const matmul_options& opt = {}) {
    detail::thread_workspace_guard ws;
    return rotated_multi_gemv(q, w, x, y, std::forward<Exec>(exec), opt, *ws.ws);
}

}  // namespace lowbit
