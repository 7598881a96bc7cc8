// lowbit/kernels/scheme_family.hpp — the kernel table's families of a
// run-time scheme in the dense or tiled layout: layout_family<L>(scheme).
// Reaching every scheme, its definition instantiates the kernels of all 96
// kernel schemes of that layout: detail/scheme_family_impl.hpp, inline in the
// caller's TU by default, compiled once in lowbit::compiled with
// LOWBIT_COMPILED (compiled_mode.hpp). No ggml blocks here (kernel_list.hpp).
#pragma once

#include "../compiled_mode.hpp"
#include "../core/scheme.hpp"
#include "../weights/weights_view.hpp"
#include "table.hpp"

namespace lowbit {
namespace detail {
// The dense or tiled family (L) of scheme s (count 0: s is not valid). Templates
// on the layout so that a caller that needs one layout instantiates only it;
// lowbit::compiled instantiates bits_family once per width (src/kernels_w*.cpp).
template <layout L>
kernel_family layout_family(const runtime_scheme& s) noexcept;
template <int B, layout L>
kernel_family bits_family(const runtime_scheme& s) noexcept;
}  // namespace detail
}  // namespace lowbit

#if !defined(LOWBIT_COMPILED)
#include "detail/scheme_family_impl.hpp"
#endif
