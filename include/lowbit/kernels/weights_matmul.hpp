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
