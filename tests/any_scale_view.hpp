// tests/any_scale_view.hpp — a typed tiled view as the kernel table's entries
// give it to the bodies (entries.hpp, tiled_body_view): the same fields, the
// scheme's codec kdetail::scale_any and the scale type read at run time, so
// one body serves every scale type. Tests that call the tiled bodies directly
// (test_kernels_tiled, the AMX tests) run them on this view: the table's copy
// of a body, not a second, typed one. Needs the bodies in the TU
// (LOWBIT_INLINE_KERNELS), as those tests build.
#pragma once

#include <lowbit/kernels/tiled_matmul.hpp>

namespace lowbit {
namespace kdetail {

template <class S>
using any_scale_view_t = any_scale_tview<scheme<S::bits, per_group_dynamic, typename S::symmetry_type, scale_any>>;

template <class S>
any_scale_view_t<S> any_scale_view(const tiled_view<S>& w) {
    static_assert(S::gran != granularity::per_tensor, "the entries expand per-tensor scales first");
    any_scale_view_t<S> a;
    a.codes = w.codes;
    a.scales = reinterpret_cast<const unsigned char*>(w.scales);
    a.zeros = w.zeros;
    a.perm = w.perm;
    a.rows = w.rows;
    a.cols = w.cols;
    a.group = w.group;
    a.tiles = w.tiles;
    a.blocks = w.blocks;
    a.groups = w.groups;
    a.blocks_per_group = w.blocks_per_group;
    a.kind = S::scale;
    return a;
}

}  // namespace kdetail
}  // namespace lowbit
