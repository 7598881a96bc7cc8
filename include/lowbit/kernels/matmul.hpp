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
//
// The fast paths first prepare the activations (gathered through the
// permutation, arranged for the weight width, quantized to int8 for the int8
// path) into a workspace: pass a matmul_workspace (the overloads taking one as
// the last argument) to keep allocation off the hot path; without one, a
// thread_local workspace of the calling thread is used, which allocates only
// when it must grow. Kernels: docs/kernels.md; the arch: kernels/arch.hpp.
//
// These typed front doors are thin: the weights become a weights_view (its
// one validator runs), then kernels/run.hpp looks up the kernel of the
// scheme's table (kernels/table.hpp) and runs it. options.info says which
// kernel ran and whether it was a fallback; options.allow_fallback = false
// refuses one.
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>

#include "../core/status.hpp"
#include "../core/views.hpp"
#include "../pack/qmatrix.hpp"
#include "../parallel.hpp"
#include "../weights/convert.hpp"
#include "arch.hpp"
#include "detail/reference.hpp"
#include "detail/typed_family.hpp"
#include "run.hpp"
#include "table.hpp"

namespace lowbit {

namespace detail {
constexpr std::size_t rows_per_task = 64;  // dequantize's fixed split

// The kernels see per_channel and per_group<G> as per_group_dynamic (per_channel
// is one group of K per row): the memory layout is identical and the kernels
// read the group size at run time, so every granularity but per_tensor shares
// one instantiation. This keeps code that dispatches over all schemes (the
// run-time twins) a third smaller and quicker to compile.
template <class S>
struct kernel_scheme {
    using type = std::conditional_t<S::gran == granularity::per_tensor, S,
                                    scheme<S::bits, per_group_dynamic, typename S::symmetry_type, typename S::scale_codec>>;
};

// The typed front doors run the family typed_family gives (header-only: this
// TU's; LOWBIT_COMPILED: lowbit::compiled's); detail/typed_family.hpp says
// why they sit between LOWBIT_OWN_KERNELS_BEGIN and _END.
LOWBIT_OWN_KERNELS_BEGIN
// The dense layout's gemv / gemm on a checked weights_view, for the family of kernel scheme KS.
template <class KS, class Exec>
status dense_gemv(const weights_view& w, span<const float> x, span<float> y, Exec& exec, const matmul_options& opt, matmul_workspace& ws) {
    return family_gemv(typed_family<KS, layout::dense>(), w, x, y, exec, opt, ws);
}
template <class KS, class Exec>
status dense_gemm(const weights_view& w, matrix_view<const float> x, matrix_view<float> y, Exec& exec, const matmul_options& opt,
                  matmul_workspace& ws) {
    return family_gemm(typed_family<KS, layout::dense>(), w, x, y, exec, opt, ws);
}
LOWBIT_OWN_KERNELS_END
}  // namespace detail

LOWBIT_OWN_KERNELS_BEGIN

// The kernel table's entries for dense weights of scheme S (tests, benches).
template <class S>
span<const kernel_entry> dense_kernels() noexcept {
    const auto f = detail::typed_family<typename detail::kernel_scheme<S>::type, layout::dense>();
    return span<const kernel_entry>(f.begin, f.count);
}

template <class S, class Exec>
status gemv(const qmatrix_view<S>& w, span<const float> x, span<float> y, Exec&& exec, const matmul_options& opt,
            matmul_workspace& ws) {
    auto wv = to_weights(w);
    if (!wv) return wv.error();
    return detail::dense_gemv<typename detail::kernel_scheme<S>::type>(*wv, x, y, exec, opt, ws);
}

template <class S, class Exec = serial_executor>
status gemv(const qmatrix_view<S>& w, span<const float> x, span<float> y, Exec&& exec = Exec{}, const matmul_options& opt = {}) {
    detail::thread_workspace_guard ws;
    return gemv(w, x, y, std::forward<Exec>(exec), opt, *ws.ws);
}

template <class S, class Exec>
status gemm(const qmatrix_view<S>& w, matrix_view<const float> x, matrix_view<float> y, Exec&& exec, const matmul_options& opt,
            matmul_workspace& ws) {
    auto wv = to_weights(w);
    if (!wv) return wv.error();
    return detail::dense_gemm<typename detail::kernel_scheme<S>::type>(*wv, x, y, exec, opt, ws);
}

template <class S, class Exec = serial_executor>
status gemm(const qmatrix_view<S>& w, matrix_view<const float> x, matrix_view<float> y, Exec&& exec = Exec{},
            const matmul_options& opt = {}) {
    detail::thread_workspace_guard ws;
    return gemm(w, x, y, std::forward<Exec>(exec), opt, *ws.ws);
}

LOWBIT_OWN_KERNELS_END

template <class S, class Exec = serial_executor>
status dequantize(const qmatrix_view<S>& w, matrix_view<float> out, Exec&& exec = Exec{}) {
    auto wv = to_weights(w);
    if (!wv) return wv.error();
    if (out.rows() != w.rows || out.cols() != w.cols)
        return status::error(errc::shape_mismatch, "out is %zu x %zu, W is %zu x %zu", out.rows(), out.cols(), w.rows, w.cols);
    LOWBIT_TRY(detail::check_view(out, "out"));
    if (wv->overlaps(out.data(), detail::view_bytes(out)))
        return status::error(errc::invalid_argument, "out overlaps the weights (codes, scales, zeros or perm)");
    const std::size_t n_tasks = (w.rows + detail::rows_per_task - 1) / detail::rows_per_task;
    exec(n_tasks, [&](std::size_t t) {
        const std::size_t r0 = t * detail::rows_per_task;
        reference::dequantize_rows(w, out, r0, r0 + detail::rows_per_task < w.rows ? r0 + detail::rows_per_task : w.rows);
    });
    return {};
}

// Owning-container conveniences (template deduction does not see conversions).
LOWBIT_OWN_KERNELS_BEGIN
template <class S, class Exec = serial_executor>
status gemv(const qmatrix<S>& w, span<const float> x, span<float> y, Exec&& exec = Exec{}, const matmul_options& opt = {}) {
    return gemv(w.view(), x, y, std::forward<Exec>(exec), opt);
}
template <class S, class Exec = serial_executor>
status gemm(const qmatrix<S>& w, matrix_view<const float> x, matrix_view<float> y, Exec&& exec = Exec{},
            const matmul_options& opt = {}) {
    return gemm(w.view(), x, y, std::forward<Exec>(exec), opt);
}
LOWBIT_OWN_KERNELS_END
template <class S, class Exec = serial_executor>
status dequantize(const qmatrix<S>& w, matrix_view<float> out, Exec&& exec = Exec{}) {
    return dequantize(w.view(), out, std::forward<Exec>(exec));
}

}  // namespace lowbit
