// lowbit/formats/codebook_matmul.hpp — GEMV/GEMM on codebook weights
// (formats/codebook.hpp) with int8 activations, through the kernel table's
// codebook entries only (kernels/weights_matmul.hpp reaches the same entries
// from the whole table).
//
//   auto w = lowbit::codebook::quantize(W, lowbit::codebook::nf_grid(4));
//   lowbit::codebook::gemv(w->view(), x, y);          // y = W x
//   lowbit::codebook::gemm(w->view(), X, Y, pool);    // Y = X W^T
//
// Same contract as gguf::gemv/gemm: the int8_dot path (automatic means it) or
// the reference; NaN/Inf activations, shapes, null, misaligned or overlapping
// buffers are errors that leave the output untouched.
#pragma once

#include <utility>

#include "../core/status.hpp"
#include "../core/views.hpp"
#include "../kernels/run.hpp"
#include "../kernels/table.hpp"
#include "../parallel.hpp"
#include "../weights/weights_view.hpp"
#include "codebook.hpp"
#include "detail/codebook_entries.hpp"

namespace lowbit {
namespace codebook {

namespace detail {
inline status check_codebook_view(const weights_view& w, const char* who) noexcept {
    if (w.lay() != layout::codebook) return status::error(errc::invalid_argument, "%s: the weights are %s, not codebook", who, layout_name(w.lay()));
    return {};
}
}  // namespace detail

// The kernel table's entries for codebook weights with `bits`-bit indices (empty: none).
inline span<const kernel_entry> kernels(int bits) noexcept {
    const auto f = detail::codebook_family(bits);
    return span<const kernel_entry>(f.begin, f.count);
}

template <class Exec>
status gemv(const weights_view& w, span<const float> x, span<float> y, Exec&& exec, const matmul_options& opt, matmul_workspace& ws) {
    LOWBIT_TRY(detail::check_codebook_view(w, "codebook::gemv"));
    return lowbit::detail::family_gemv(detail::codebook_family(w.scheme().bits), w, x, y, exec, opt, ws);
}
template <class Exec = serial_executor>
status gemv(const weights_view& w, span<const float> x, span<float> y, Exec&& exec = Exec{}, const matmul_options& opt = {}) {
    lowbit::detail::thread_workspace_guard ws;
    return codebook::gemv(w, x, y, std::forward<Exec>(exec), opt, *ws.ws);
}
template <class Exec>
status gemm(const weights_view& w, matrix_view<const float> x, matrix_view<float> y, Exec&& exec, const matmul_options& opt,
            matmul_workspace& ws) {
    LOWBIT_TRY(detail::check_codebook_view(w, "codebook::gemm"));
    return lowbit::detail::family_gemm(detail::codebook_family(w.scheme().bits), w, x, y, exec, opt, ws);
}
template <class Exec = serial_executor>
status gemm(const weights_view& w, matrix_view<const float> x, matrix_view<float> y, Exec&& exec = Exec{}, const matmul_options& opt = {}) {
    lowbit::detail::thread_workspace_guard ws;
    return codebook::gemm(w, x, y, std::forward<Exec>(exec), opt, *ws.ws);
}

}  // namespace codebook
}  // namespace lowbit
