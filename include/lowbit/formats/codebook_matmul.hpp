// lowbit/formats/codebook_matmul.hpp — GEMV/GEMM on codebook weights
// (formats/codebook.hpp) with int8 activations, through the kernel table's
// codebook and tiled codebook entries only (kernels/weights_matmul.hpp
// reaches the same entries from the whole table).
//
//   auto w = lowbit::codebook::quantize(W, lowbit::codebook::nf_grid(4));
//   lowbit::codebook::gemv(w->view(), x, y);          // y = W x
//   lowbit::codebook::gemm(w->view(), X, Y, pool);    // Y = X W^T
//   auto t = lowbit::repack(w->view(), lowbit::layout::tiled_codebook);  // once, at load time
//   lowbit::codebook::gemv(t->view(), x, y);          // the tiled int8 kernels (faster)
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
#include "detail/tiled_codebook_entries.hpp"

namespace lowbit {
namespace codebook {

namespace detail {
inline status check_codebook_view(const weights_view& w, const char* who) noexcept {
    if (w.lay() != layout::codebook && w.lay() != layout::tiled_codebook)
        return status::error(errc::invalid_argument, "%s: the weights are %s, not codebook or tiled_codebook", who, layout_name(w.lay()));
    return {};
}
// The entries that read w (checked above).
inline lowbit::detail::kernel_family codebook_family_of(const weights_view& w) noexcept {
    return w.lay() == layout::tiled_codebook ? tiled_codebook_family(w.scheme().bits) : codebook_family(w.scheme().bits);
}
}  // namespace detail

// The kernel table's entries for codebook weights with `bits`-bit indices in
// layout `lay` (codebook or tiled_codebook; empty: none).
inline span<const kernel_entry> kernels(int bits, layout lay = layout::codebook) noexcept {
    const auto f = lay == layout::tiled_codebook ? detail::tiled_codebook_family(bits)
                   : lay == layout::codebook     ? detail::codebook_family(bits)
                                                 : lowbit::detail::kernel_family{};
    return span<const kernel_entry>(f.begin, f.count);
}

template <class Exec>
status gemv(const weights_view& w, span<const float> x, span<float> y, Exec&& exec, const matmul_options& opt, matmul_workspace& ws) {
    LOWBIT_TRY(detail::check_codebook_view(w, "codebook::gemv"));
    return lowbit::detail::family_gemv(detail::codebook_family_of(w), w, x, y, exec, opt, ws);
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
    return lowbit::detail::family_gemm(detail::codebook_family_of(w), w, x, y, exec, opt, ws);
}
template <class Exec = serial_executor>
status gemm(const weights_view& w, matrix_view<const float> x, matrix_view<float> y, Exec&& exec = Exec{}, const matmul_options& opt = {}) {
    lowbit::detail::thread_workspace_guard ws;
    return codebook::gemm(w, x, y, std::forward<Exec>(exec), opt, *ws.ws);
}

}  // namespace codebook
}  // namespace lowbit
