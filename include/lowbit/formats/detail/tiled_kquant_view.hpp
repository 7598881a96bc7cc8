// lowbit/formats/detail/tiled_kquant_view.hpp — the kernels' view
// (kdetail::kq_view, kernels/detail/tiled_kquant_blocks.hpp) of tiled K-quant
// weights (layout::tiled_kquant): where the entries and the AMX tests get it.
#pragma once

#include <cstdint>

#include "../../kernels/detail/tiled_kquant_blocks.hpp"
#include "../../weights/weights_view.hpp"

namespace lowbit {
namespace kdetail {

// w: a valid weights_view of layout::tiled_kquant.
inline kq_view kq_view_of(const weights_view& w) noexcept {
    kq_view v;
    v.codes = w.codes();
    v.scales = static_cast<const std::uint16_t*>(w.scales());
    v.sub = w.zeros();
    v.rows = w.rows();
    v.blocks = w.cols() / tile_block;
    v.supers = w.cols() / kquant_super;
    v.fields = kquant_fields(w.ggml_type());
    return v;
}

}  // namespace kdetail
}  // namespace lowbit
