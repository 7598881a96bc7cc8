// lowbit/qat/export.hpp — turn trained float weights and learned steps into a
// qmatrix that lowbit's kernels run.
//
// The stored scale of group i is encode(steps[i]) and its codes are
// quantize_value(x, decode(encode(steps[i])), z): the same stored step and the
// same rounding that fake_quantize used in training, so dequantize(export(w))
// equals fake_quantize(w) bit for bit (tests/test_qat.cpp checks this).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../pack/bitpack.hpp"
#include "../pack/qmatrix.hpp"
#include "fake_quant.hpp"

namespace lowbit {
namespace qat {

// Write w (N x K) with the given steps and zero points into caller storage
// (shape and group must match; its group is the step layout's group).
template <class S>
status export_into(matrix_view<const float> w, span<const float> steps, span<const std::uint8_t> zeros, qmatrix_mut_view<S> out) {
    LOWBIT_TRY(detail::check_matrix(w, "w"));
    LOWBIT_TRY(lowbit::detail::check_shape(w, out));
    LOWBIT_TRY(lowbit::detail::check_finite(w, "w"));
    auto l = detail::step_layout<S>(w.rows(), w.cols(), out.group);
    if (!l) return l.error();
    LOWBIT_TRY(detail::check_steps<S>(*l, steps, zeros));
    using codec = typename S::scale_codec;
    for (std::size_t i = 0; i < steps.size(); ++i) {
        out.scales[i] = codec::encode(steps[i]);
        if (!S::is_symmetric) out.zeros[i] = zeros[i];
    }
    std::vector<std::uint8_t> codes(w.cols());
    for (std::size_t r = 0; r < w.rows(); ++r) {
        detail::for_groups(*l, S::gran == granularity::per_tensor, r, r + 1,
                           [&](std::size_t, std::size_t, std::size_t c0, std::size_t n, std::size_t idx) {
                               const float s = stored_step<S>(steps[idx]), z = detail::zero_of<S>(zeros, idx);
                               for (std::size_t c = c0; c < c0 + n; ++c) codes[c] = quantize_value<S::bits, S::is_symmetric>(w(r, c), s, z);
                           });
        std::uint8_t* dst = out.codes + r * out.row_bytes;
        pack_codes<S::bits>(codes.data(), w.cols(), dst);
        const std::size_t used = packed_bytes(w.cols(), S::bits);
        std::memset(dst + used, 0, out.row_bytes - used);
    }
    return {};
}

// Export into a new qmatrix (group: for per_group_dynamic schemes).
template <class S>
result<qmatrix<S>> export_qmatrix(matrix_view<const float> w, span<const float> steps, span<const std::uint8_t> zeros,
                                  int group = 0) {
    auto l = detail::step_layout<S>(w.rows(), w.cols(), group);
    if (!l) return l.error();
    auto q = qmatrix<S>::allocate(w.rows(), w.cols(), l->group);
    if (!q) return q.error();
    LOWBIT_TRY(export_into<S>(w, steps, zeros, q->mut_view()));
    return q;
}

}  // namespace qat
}  // namespace lowbit
