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

// The most weights one multi_gemv call takes (its bookkeeping lives on the stack).
constexpr std::size_t max_multi_gemv = 8;

namespace detail {

// y[i] = W[i] x for n <= max_multi_gemv weights of x's length, as one job of
// the executor (multi_gemv below). Every argument is checked
// and every activation prepared before any task runs, so an error leaves
// every y[i] untouched. Each y[i] gets gemv's bits: the same entry, the same
// prepared activation, the same row tasks; only their order in the job differs.

template <class Exec>
status run_multi_gemv(span<const weights_view> w, span<const float> x, span<const span<float>> y, Exec& exec,
                      const matmul_options& opt, matmul_workspace& ws) {
    const std::size_t n = w.size();
    if (n == 0 && y.empty()) return {};
    if (n != y.size()) return status::error(errc::shape_mismatch, "multi_gemv: %zu weights but %zu outputs", n, y.size());
    if (n > max_multi_gemv) return status::error(errc::invalid_argument, "multi_gemv: %zu weights, at most %zu", n, max_multi_gemv);
    const kernel_entry* e[max_multi_gemv];
    matmul_call c[max_multi_gemv];
    std::size_t first_task[max_multi_gemv + 1] = {0};
    std::size_t ws_at[max_multi_gemv + 1] = {0};
    bool fell = false;
    for (std::size_t i = 0; i < n; ++i) {
        LOWBIT_TRY(check_path(w[i], opt));
        LOWBIT_TRY(check_gemv_args(w[i], x, y[i], "multi_gemv"));
        for (std::size_t j = 0; j < i; ++j)  // every output is written while the others are
            if (overlaps(y[i].data(), y[i].size() * 4, y[j].data(), y[j].size() * 4) || w[j].overlaps(y[i].data(), y[i].size() * 4) ||
                w[i].overlaps(y[j].data(), y[j].size() * 4))
                return status::error(errc::invalid_argument, "multi_gemv: output %zu overlaps output %zu or its weights", i, j);
        auto found = select_entry(family_of(w[i]), w[i], opt);
        if (!found) return found.error();
        e[i] = *found;
        fell = fell || (opt.info && opt.info->fell_back);
        c[i].w = &w[i];
        c[i].x = x.data();
        c[i].ldx = x.size();
        c[i].M = 1;
        c[i].y = y[i].data();
        c[i].ldy = y[i].size();
        const std::size_t bytes = e[i]->ws_bytes ? e[i]->ws_bytes(w[i], 1) : 0;
        ws_at[i + 1] = ws_at[i] + (bytes + 63) / 64 * 64;  // each part 64-byte aligned
        first_task[i + 1] = first_task[i] + (w[i].rows() + e[i]->rows_per_task - 1) / e[i]->rows_per_task;
    }
    if (opt.info) opt.info->fell_back = fell;  // the last weight's entry, and whether any fell back
    unsigned char* base = ws_at[n] ? static_cast<unsigned char*>(ws.get(ws_at[n])) : nullptr;
    for (std::size_t i = 0; i < n; ++i) {
        if (e[i]->ws_bytes) c[i].ws = base + ws_at[i];
        if (e[i]->prepare) LOWBIT_TRY(e[i]->prepare(c[i], 0));  // M = 1: on the caller, as gemv does
    }
    exec(first_task[n], [&](std::size_t t) {
        std::size_t i = 0;
        while (t >= first_task[i + 1]) ++i;
        const std::size_t rpt = e[i]->rows_per_task, rows = w[i].rows();
        const std::size_t r0 = (t - first_task[i]) * rpt, r1 = r0 + rpt < rows ? r0 + rpt : rows;
        e[i]->rows(c[i], r0, r1);
    });
    return {};
}

}  // namespace detail

template <class Exec>
status gemv(const weights_view& w, span<const float> x, span<float> y, Exec&& exec, const matmul_options& opt, matmul_workspace& ws) {
    return detail::family_gemv(detail::family_of(w), w, x, y, exec, opt, ws);
}
template <class Exec = serial_executor>
status gemv(const weights_view& w, span<const float> x, span<float> y, Exec&& exec = Exec{}, const matmul_options& opt = {}) {
    detail::thread_workspace_guard ws;
    return gemv(w, x, y, std::forward<Exec>(exec), opt, *ws.ws);
}

// y[i] = w[i] x for up to max_multi_gemv (8) weights that read the same x (a layer's q, k
// and v; the feed-forward's gate and up), as one job of the executor: one
// fork and join instead of one per weight, and a small weight's rows share
// the threads with a large one's. Each y[i] holds the bits gemv(w[i], x, y[i])
// gives; on an error none is written. opt.info: the last weight's kernel,
// fell_back if any weight's did.
//
//   lowbit::weights_view w[] = {wq, wk, wv};
//   lowbit::span<float> y[] = {{q, nq}, {k, nk}, {v, nv}};
//   lowbit::multi_gemv({w, 3}, x, {y, 3}, pool);
template <class Exec>
status multi_gemv(span<const weights_view> w, span<const float> x, span<const span<float>> y, Exec&& exec, const matmul_options& opt,
                  matmul_workspace& ws) {
    return detail::run_multi_gemv(w, x, y, exec, opt, ws);
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
