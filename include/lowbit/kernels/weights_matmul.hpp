// lowbit/kernels/weights_matmul.hpp — gemv / gemm on a weights_view: the one
// front door for weights whose layout and scheme are known only at run time
// (dense, tiled or ggml blocks; weights/weights_view.hpp).
//
//   auto w = lowbit::repack(*lowbit::to_weights(q.view()), lowbit::layout::tiled);
//   lowbit::matmul_info info;
//   lowbit::matmul_options opt;
//   opt.info = &info;                               // which kernel ran, and whether it fell back
//   lowbit::gemv(w->view(), x, y, pool, opt);
//
// Same contract as kernels/matmul.hpp. The kernels of every scheme come from
// the table (kernels/kernel_list.hpp): heavy to compile header-only, compiled
// once with lowbit::compiled (compiled_mode.hpp); an engine that knows its few
// schemes and wants no library calls the typed API instead.
#pragma once

#include <utility>

#include "../parallel.hpp"
#include "../weights/weights.hpp"
#include "kernel_list.hpp"
#include "run.hpp"
#include "table.hpp"

namespace lowbit {

template <class Exec>
status gemv(const weights_view& w, span<const float> x, span<float> y, Exec&& exec, const matmul_options& opt, matmul_workspace& ws) {
    return detail::family_gemv(detail::family_of(w), w, x, y, exec, opt, ws);
}
template <class Exec = serial_executor>
status gemv(const weights_view& w, span<const float> x, span<float> y, Exec&& exec = Exec{}, const matmul_options& opt = {}) {
    detail::thread_workspace_guard ws;
    return gemv(w, x, y, std::forward<Exec>(exec), opt, *ws.ws);
}

// y[i] = w[i] x for up to max_multi_gemv (8) weights that read the same x
// (a layer's q, k and v; the feed-forward's gate and up), as one job of the
// executor: one fork and join instead of one per weight, and a small
// weight's rows share the threads with a large one's. Each y[i] holds the
// bits gemv(w[i], x, y[i]) gives; on an error none is written. opt.info: the
// last weight's kernel, fell_back if any weight's did.
//
//   lowbit::weights_view w[] = {wq, wk, wv};
//   lowbit::span<float> y[] = {{q, nq}, {k, nk}, {v, nv}};
//   lowbit::multi_gemv({w, 3}, x, {y, 3}, pool);
template <class Exec>
status multi_gemv(span<const weights_view> w, span<const float> x, span<const span<float>> y, Exec&& exec, const matmul_options& opt,
                  matmul_workspace& ws) {
    if (w.size() > max_multi_gemv) return status::error(errc::invalid_argument, "multi_gemv: %zu weights, at most %zu", w.size(), max_multi_gemv);
    detail::kernel_family fam[max_multi_gemv];
    for (std::size_t i = 0; i < w.size(); ++i) fam[i] = detail::family_of(w[i]);
    return detail::run_multi_gemv(fam, w, x, y, exec, opt, ws);
}
template <class Exec = serial_executor>
status multi_gemv(span<const weights_view> w, span<const float> x, span<const span<float>> y, Exec&& exec = Exec{},
                  const matmul_options& opt = {}) {
    detail::thread_workspace_guard ws;
    return multi_gemv(w, x, y, std::forward<Exec>(exec), opt, *ws.ws);
}

template <class Exec>
status gemm(const weights_view& w, matrix_view<const float> x, matrix_view<float> y, Exec&& exec, const matmul_options& opt,
            matmul_workspace& ws) {
    return detail::family_gemm(detail::family_of(w), w, x, y, exec, opt, ws);
}
template <class Exec = serial_executor>
status gemm(const weights_view& w, matrix_view<const float> x, matrix_view<float> y, Exec&& exec = Exec{},
            const matmul_options& opt = {}) {
    detail::thread_workspace_guard ws;
    return gemm(w, x, y, std::forward<Exec>(exec), opt, *ws.ws);
}

}  // namespace lowbit
