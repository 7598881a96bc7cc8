// lowbit/kernels/rotated_matmul.hpp — the GEMV of weights quantized after an
// input rotation: y = W (Q x), Q a hadamard_rotation (quant/hadamard.hpp),
// W the weights stored as W Q^T was quantized (lowbit-llama's -rot linears).
//
//   auto q = lowbit::hadamard_rotation::make(K, seed);
//   lowbit::rotated_gemv(*q, w.view(), x, y, pool);
//
// The same bits as rotating a copy of x with q->apply() and calling gemv on
// it, without that serial step before the GEMV: the rotation's chunks run as
// the first work of the GEMV's own job (run.hpp, input_transform), on every
// thread, with no second fork and join. x is not written; the rotated copy
// lives in the workspace. Errors as gemv's (a NaN or Inf in x included), and
// q must be built over x's length; y is written only on success.
#pragma once

#include <utility>

#include "../quant/hadamard.hpp"
#include "weights_matmul.hpp"

namespace lowbit {

namespace detail {

struct rotation_input {
    const hadamard_rotation* q;
    const float* x;
};
inline bool rotation_chunk(const void* ctx, int stage, std::size_t i, float* out) noexcept {
    const auto* r = static_cast<const rotation_input*>(ctx);
    return r->q->run_chunk(stage, i, r->x, out);
}

template <class Exec>
status run_rotated(const hadamard_rotation& q, span<const weights_view> w, span<const float> x, span<const span<float>> y, Exec& exec,
                   const matmul_options& opt, matmul_workspace& ws, const char* who) {
    if (q.size() == 0) return status::error(errc::invalid_argument, "%s: the rotation is not built (use hadamard_rotation::make)", who);
    if (q.size() != x.size()) return status::error(errc::shape_mismatch, "%s: the rotation is over %zu values, x has %zu", who, q.size(), x.size());
    if (w.size() > max_multi_gemv) return status::error(errc::invalid_argument, "%s: %zu weights, at most %zu", who, w.size(), max_multi_gemv);
    kernel_family fam[max_multi_gemv];
    for (std::size_t i = 0; i < w.size(); ++i) fam[i] = family_of(w[i]);
    const rotation_input in{&q, x.data()};
    input_transform t;
    t.chunks[0] = q.stage_chunks(0);
    t.chunks[1] = q.stage_chunks(1);
    t.run = rotation_chunk;
    t.ctx = &in;
    return run_multi_gemv(fam, w, x, y, exec, opt, ws, &t, who);
}

}  // namespace detail

// y = W (Q x).
template <class Exec>
status rotated_gemv(const hadamard_rotation& q, const weights_view& w, span<const float> x, span<float> y, Exec&& exec,
                    const matmul_options& opt, matmul_workspace& ws) {
    return detail::run_rotated(q, span<const weights_view>(&w, 1), x, span<const span<float>>(&y, 1), exec, opt, ws, "rotated_gemv");
}
template <class Exec = serial_executor>
status rotated_gemv(const hadamard_rotation& q, const weights_view& w, span<const float> x, span<float> y, Exec&& exec = Exec{},
                    const matmul_options& opt = {}) {
    detail::thread_workspace_guard ws;
    return rotated_gemv(q, w, x, y, std::forward<Exec>(exec), opt, *ws.ws);
}

// y[i] = W[i] (Q x) for up to max_multi_gemv weights that share the rotation
// (a layer's q, k and v): one rotation, one job, multi_gemv's bits.
template <class Exec>
status rotated_multi_gemv(const hadamard_rotation& q, span<const weights_view> w, span<const float> x, span<const span<float>> y,
                          Exec&& exec, const matmul_options& opt, matmul_workspace& ws) {
    return detail::run_rotated(q, w, x, y, exec, opt, ws, "rotated_multi_gemv");
}
template <class Exec = serial_executor>
status rotated_multi_gemv(const hadamard_rotation& q, span<const weights_view> w, span<const float> x, span<const span<float>> y,
                          Exec&& exec = Exec{}, const matmul_options& opt = {}) {
    detail::thread_workspace_guard ws;
    return rotated_multi_gemv(q, w, x, y, std::forward<Exec>(exec), opt, *ws.ws);
}

}  // namespace lowbit
