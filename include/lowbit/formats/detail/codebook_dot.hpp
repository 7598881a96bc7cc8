// lowbit/formats/detail/codebook_dot.hpp — the scalar model of the int8 dot
// product of codebook weights (formats/codebook.hpp) with Q8_0 activations:
// per block the exact integer sum of grid[i] * q (|grid| <= 127, |q| <= 127:
// at most 32 * 127^2 < 2^24), then the float term as IQ4_NL's,
// (d_w * d_x) * isum. The terms are summed in eight lanes, block i into lane
// i % 8 (each lane in block order from 0.0f), and the lanes added as a fixed
// tree at the end. Not ggml's order (one chain in block order): a lowbit-only
// format may choose its own, and eight independent chains let a SIMD copy add
// eight terms with one vector add instead of waiting on eight dependent adds
// (with one chain, a block cost the add latency, whatever its integer work).
// Every SIMD copy (x86/, arm/) forms the same integers and the same float
// operations in the same order, so it equals this bit for bit.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../codebook.hpp"
#include "../gguf_block_structs.hpp"
#include "gguf_arith.hpp"

namespace lowbit {
namespace codebook {
namespace detail {

template <class B>
inline std::int32_t isum_scalar(const B& w, const std::int8_t* grid, const gguf::block_q8_0& a) noexcept {
    std::int32_t s = 0;
    for (int j = 0; j < 32; ++j) s += grid[index_at(w, j)] * a.qs[j];
    return s;
}
// (d_w * d_x) * isum with both products rounded (gguf::detail::mul: never contracted).
inline float block_term(float dw, float dx, std::int32_t isum) noexcept {
    return gguf::detail::mul(gguf::detail::mul(dw, dx), static_cast<float>(isum));
}
// The eight lanes' sum, as a fixed tree.
inline float lane_tree(const float* l) noexcept { return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7])); }
template <class B>
inline float row_dot_scalar(const B* w, const std::int8_t* grid, const gguf::block_q8_0* a, std::size_t nb) noexcept {
    float lane[8] = {};
    for (std::size_t i = 0; i < nb; ++i)
        lane[i % 8] += block_term(gguf::detail::to_f32(w[i].d), gguf::detail::to_f32(a[i].d), isum_scalar(w[i], grid, a[i]));
    return lane_tree(lane);
}

}  // namespace detail
}  // namespace codebook
}  // namespace lowbit
