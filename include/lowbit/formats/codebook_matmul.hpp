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

#include "../compiled_mode.hpp"
#include "../core/status.hpp"
#include "../core/views.hpp"
#include "../kernels/family_matmul.hpp"
#include "../kernels/run.hpp"
#include "../kernels/table.hpp"
#include "../parallel.hpp"
#include "../weights/weights_view.hpp"
#include "codebook.hpp"
// The codebook families: lowbit::compiled's (the kernel table, compiled once)
// with LOWBIT_COMPILED, else instantiated in this TU (these four families only).
#if defined(LOWBIT_COMPILED)
#include "../kernels/kernel_list.hpp"
#else
#include "detail/codebook_entries.hpp"
#include "detail/tiled_codebook_entries.hpp"
#endif

namespace lowbit {
namespace codebook {

namespace detail {
// The entries of codebook weights with `bits`-bit indices (3, 4; else count
// 0) in the codebook layout and in the tiled codebook layout. With
// LOWBIT_COMPILED they are lowbit::compiled's families, read by their place in
// kernel_list.hpp's walk (after the ggml types: cb3, cb4, then their tiled forms).
#if defined(LOWBIT_COMPILED)
inline lowbit::detail::kernel_family compiled_family(int bits, bool tiled) noexcept {
    if (bits != 3 && bits != 4) return {};
    const std::size_t at = 2 * lowbit::detail::kernel_scheme_count + lowbit::detail::ggml_family_count;
    return lowbit::detail::kernel_family_at(at + (tiled ? 2 : 0) + (bits == 4 ? 1 : 0));
}
inline lowbit::detail::kernel_family codebook_layout_family(int bits) noexcept { return compiled_family(bits, false); }
inline lowbit::detail::kernel_family tiled_layout_family(int bits) noexcept { return compiled_family(bits, true); }
#else
inline lowbit::detail::kernel_family codebook_layout_family(int bits) noexcept { return codebook_family(bits); }
inline lowbit::detail::kernel_family tiled_layout_family(int bits) noexcept { return tiled_codebook_family(bits); }
#endif
// Either layout's (count 0 for other layouts).
inline lowbit::detail::kernel_family family_of(int bits, layout lay) noexcept {
    return lay == layout::tiled_codebook ? tiled_layout_family(bits) : lay == layout::codebook ? codebook_layout_family(bits)
                                                                                                : lowbit::detail::kernel_family{};
}
// codebook::gemv / gemm's door (kernels/family_matmul.hpp): either layout.
struct door {
    static constexpr const char* gemv_name = "codebook::gemv";
    static constexpr const char* gemm_name = "codebook::gemm";
    static status check(const weights_view& w, const char* who) noexcept {
        if (w.lay() != layout::codebook && w.lay() != layout::tiled_codebook)
            return status::error(errc::invalid_argument, "%s: the weights are %s, not codebook or tiled_codebook", who, layout_name(w.lay()));
        return {};
    }
    static lowbit::detail::kernel_family family(const weights_view& w) noexcept { return family_of(w.scheme().bits, w.lay()); }
};
}  // namespace detail

// The kernel table's entries for codebook weights with `bits`-bit indices in
// layout `lay` (codebook or tiled_codebook; empty: none).
inline span<const kernel_entry> kernels(int bits, layout lay = layout::codebook) noexcept {
    const auto f = detail::family_of(bits, lay);
    return span<const kernel_entry>(f.begin, f.count);
}

inline constexpr lowbit::detail::door_gemv_fn<detail::door> gemv{};
inline constexpr lowbit::detail::door_gemm_fn<detail::door> gemm{};

}  // namespace codebook
}  // namespace lowbit
