// lowbit/kernels/detail/typed_family.hpp — the kernel family that the typed
// front doors (kernels/matmul.hpp, kernels/tiled_matmul.hpp) run for kernel
// scheme KS (kernel_scheme<S>: per_tensor or per_group_dynamic).
//
// Header-only, or with LOWBIT_INLINE_KERNELS: the TU's own tables
// (entries.hpp, every kernel body of the build's archs). With LOWBIT_COMPILED
// alone: lowbit::compiled's family of KS, found once through layout_family
// (kernels/scheme_family.hpp), which picks the same table template for the
// same KS (weights/visit.hpp) — the same entries in the same order, so the
// typed calls give the same bits as in a TU with its own copy; no kernel body
// and no <immintrin.h> is parsed here.
//
// Names. With LOWBIT_COMPILED and LOWBIT_INLINE_KERNELS the TU's tables and
// the front doors that pick them live in the inline namespace own_kernels
// (compiled_mode.hpp): other objects and functions than the library's, so the
// linker, which keeps one copy of an inline function or variable per name,
// never hands one mode's copy to the other's callers, and a test tells its
// own entries from the library's by address. The kernel bodies that the
// entries point to keep their names: the linker keeps one copy of each, the
// first object's (a test's, linked before the library's archive).
#pragma once

#include "../../compiled_mode.hpp"
#include "../../core/scheme.hpp"
#include "../../weights/weights_view.hpp"
#include "../table.hpp"

#if defined(LOWBIT_LIBRARY_KERNELS)
#include "../scheme_family.hpp"
#else
#include "entries.hpp"
#endif

namespace lowbit {
namespace detail {
LOWBIT_OWN_KERNELS_BEGIN

template <class KS, layout L>
kernel_family typed_family() noexcept {
    static_assert(L == layout::dense || L == layout::tiled, "the typed front doors are dense or tiled");
#if defined(LOWBIT_LIBRARY_KERNELS)
    // runtime(1): per_group_dynamic's group is read at run time; any valid
    // group maps back to the same KS.
    static const kernel_family f = layout_family<L>(KS::runtime(1));
    return f;
#else
    if constexpr (L == layout::dense) return kdetail::dense_table<KS>::family();
    else return kdetail::tiled_table<KS>::family();
#endif
}

LOWBIT_OWN_KERNELS_END
}  // namespace detail
}  // namespace lowbit
