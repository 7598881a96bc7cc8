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
// passes; then the GEMV that gemv / multi_gemv of weights_matmul.hpp would
// run, on it. So y holds exactly what apply() followed by gemv gives
// (tests/test_rotated_matmul.cpp), on every path and executor. Every argument
// is checked before x is read; a NaN or Inf in x is then errc::non_finite
// (apply()'s error), with y untouched; x is never written, and may overlap y
// (it is read before any row is written).
//
// The rotation and the activation preparation run on the caller before the
// row tasks are handed to the executor: serial work of ~1 us for K =
// 2048-4096, which weighs on a cache-resident GEMV of a few us at many
// threads (a 2048 x 512 weight at 4-16 threads: 1.13-1.19x the plain GEMV on
// the 16-core Xeon). Running it as the job's first work behind a gate, so
// that it overlaps the workers' wake-up, was built and measured (sessions 33
// and 34) and lost at every thread count from 2 to 16: docs/history/rotated-gemv.md
// (docs/quality.md, "Rotated GEMV at run time": where it stands).
#pragma once

#include <utility>

#include "../quant/hadamard.hpp"
#include "weights_matmul.hpp"

namespace lowbit {

namespace detail {
// Q against W's columns and x; the rest of apply_to's checks cannot fail on
// a workspace buffer of Q's length.
inline status check_rotation(const hadamard_rotation& q, std::size_t cols, span<const float> x, const char* who) noexcept {
    if (q.size() == 0) return status::error(errc::invalid_argument, "%s: the rotation is not built (hadamard_rotation::make)", who);
    if (q.size() != cols) return status::error(errc::shape_mismatch, "%s: the rotation has length %zu, W has %zu columns", who, q.size(), cols);
    if (x.size() != cols) return status::error(errc::shape_mismatch, "%s: x has %zu elements, W has %zu columns", who, x.size(), cols);
    return lowbit::detail::check_span(x, "x", who);
}
}  // namespace detail

// y = W Q x. ws holds Q x and the prepared activations.
template <class Exec>
status rotated_gemv(const hadamard_rotation& q, const weights_view& w, span<const float> x, span<float> y, Exec&& exec,
                    const matmul_options& opt, matmul_workspace& ws) {
    LOWBIT_TRY(detail::check_rotation(q, w.cols(), x, "rotated_gemv"));
    const span<float> xr(ws.input(w.cols()), w.cols());
    auto rotate = [&] { return q.apply_to(x, xr); };
    return detail::family_gemv(detail::family_of(w), w, span<const float>(xr), y, exec, opt, ws, rotate, "rotated_gemv");
}
template <class Exec = serial_executor>
status rotated_gemv(const hadamard_rotation& q, const weights_view& w, span<const float> x, span<float> y, Exec&& exec = Exec{},
                    const matmul_options& opt = {}) {
    detail::thread_workspace_guard ws;
    return rotated_gemv(q, w, x, y, std::forward<Exec>(exec), opt, *ws.ws);
}

// y[i] = w[i] Q x for up to max_multi_gemv weights quantized with the same
// rotation (q, k and v; gate and up): x rotated once, then one job, as
// multi_gemv's. Every output is checked before x is read.
template <class Exec>
status rotated_multi_gemv(const hadamard_rotation& q, span<const weights_view> w, span<const float> x, span<const span<float>> y,
                          Exec&& exec, const matmul_options& opt, matmul_workspace& ws) {
    if (w.empty()) return multi_gemv(w, x, y, exec, opt, ws);  // its checks of the empty call
    if (w.size() > max_multi_gemv)
        return status::error(errc::invalid_argument, "rotated_multi_gemv: %zu weights, at most %zu", w.size(), max_multi_gemv);
    LOWBIT_TRY(detail::check_rotation(q, w[0].cols(), x, "rotated_multi_gemv"));
    const span<float> xr(ws.input(w[0].cols()), w[0].cols());
    detail::kernel_family fam[max_multi_gemv];
    for (std::size_t i = 0; i < w.size(); ++i) fam[i] = detail::family_of(w[i]);
    auto rotate = [&] { return q.apply_to(x, xr); };
    return detail::run_multi_gemv(fam, w, span<const float>(xr), y, exec, opt, ws, rotate);
}
template <class Exec = serial_executor>
status rotated_multi_gemv(const hadamard_rotation& q, span<const weights_view> w, span<const float> x, span<const span<float>> y,
                          Exec&& exec = Exec{}, const matmul_options& opt = {}) {
    detail::thread_workspace_guard ws;
    return rotated_multi_gemv(q, w, x, y, std::forward<Exec>(exec), opt, *ws.ws);
}

}  // namespace lowbit
