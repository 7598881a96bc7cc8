// lowbit/formats/detail/gguf_iq4_grids.hpp — IQ4_NL and IQ4_XS as a block
// grid (gguf_block_grid.hpp): the scale search of gguf_iquants.hpp's encoders
// apart from the coding of each value, for GPTQ on these formats
// (algo/gptq_gguf.hpp).
//
// choose_grid runs the encoder's search (ggml's quantize_iq4_nl /
// quantize_iq4_xs, ntry 7, with or without importance weights) and stores the
// scale fields; code_on_grid then gives each value the level ggml's rule
// would (the nearest of the 16 levels to inv * x, inv the inverse of the
// search's unrounded scale), and value_on_grid what decode_iq4_nl /
// decode_iq4_xs read back. choose_grid + code_on_grid per value + store_codes
// is byte for byte quantize_iq4_nl / quantize_iq4_xs (tests/test_algo_gguf.cpp
// checks it through a diagonal-Hessian GPTQ).
#pragma once

#include <cmath>
#include <cstdint>

#include "../gguf_iquants.hpp"
#include "gguf_arith.hpp"
#include "gguf_block_grid.hpp"

#include "fp_contract_off_begin.inl"

namespace lowbit {
namespace gguf {
namespace detail {

inline void iq4_grid_shape(block_grid& g) noexcept {
    g.rule = code_rule::iq4_level;
    g.width = 32;
    g.lo = 0;
    g.hi = 15;
    g.bias = 0;
    g.add = 0.0f;
    g.affine = false;
    g.vbias = 0;
}

// One IQ4_NL block: the sigma2 of its importance weights is its own 32 values'.
inline void choose_grid(const float* x, const float* qw, float, block_iq4_nl& y, block_grid& g) noexcept {
    float w[32];
    iq4_weights(x, qw, iq4_sigma2(x, 32), w);
    std::uint8_t L[32];
    float scale;
    fit_iq4_group(x, w, 7, L, scale);
    y.d = to_f16(scale);
    iq4_grid_shape(g);
    g.inv[0] = scale != 0.0f ? 1.0f / scale : 0.0f;
    g.off[0] = 0.0f;
    g.dl[0] = to_f32(y.d);
    g.keep[0] = false;
}

// One IQ4_XS super-block: eight sub-block scales fitted as in IQ4_NL, rounded
// to 6-bit codes under the f16 d (the largest on -32), each sub-block's values
// coded against d * code.
inline void choose_grid(const float* x, const float* qw, float, block_iq4_xs& y, block_grid& g) noexcept {
    const float sigma2 = iq4_sigma2(x, qk_k);
    float scales[8];
    std::uint8_t L[32];
    float max_scale = 0.0f, amax_scale = 0.0f;
    for (int ib = 0; ib < 8; ++ib) {
        float w[32];
        iq4_weights(x + 32 * ib, qw ? qw + 32 * ib : nullptr, sigma2, w);
        if (!fit_iq4_group(x + 32 * ib, w, 7, L, scales[ib])) continue;
        if (std::fabs(scales[ib]) > amax_scale) {
            amax_scale = std::fabs(scales[ib]);
            max_scale = scales[ib];
        }
    }
    const float d = -max_scale / 32.0f;
    y.d = to_f16(d);
    const float id = d != 0.0f ? 1.0f / d : 0.0f, d16 = to_f32(y.d);
    y.scales_h = 0;
    iq4_grid_shape(g);
    for (int ib = 0; ib < 8; ++ib) {
        const int l = clamp_int(nearest_int(id * scales[ib]), -32, 31);
        const float dl = d * static_cast<float>(l);
        g.inv[ib] = dl != 0.0f ? 1.0f / dl : 0.0f;
        g.off[ib] = 0.0f;
        g.dl[ib] = d16 * static_cast<float>(l);
        g.keep[ib] = false;
        const int s = l + 32;
        if (ib % 2 == 0)
            y.scales_l[ib / 2] = static_cast<std::uint8_t>(s & 0xf);
        else
            y.scales_l[ib / 2] = static_cast<std::uint8_t>(y.scales_l[ib / 2] | ((s & 0xf) << 4));
        y.scales_h = static_cast<std::uint16_t>(y.scales_h | ((s >> 4) << (2 * ib)));
    }
}

inline void store_codes(const std::uint8_t* L, block_iq4_nl& y) noexcept { pack_iq4_nibbles(L, y.qs); }
inline void store_codes(const std::uint8_t* L, block_iq4_xs& y) noexcept {
    for (int ib = 0; ib < 8; ++ib) pack_iq4_nibbles(L + 32 * ib, y.qs + 16 * ib);
}

// The decoders under the name the block-generic code (algo/) calls.
inline void decode(const block_iq4_nl& b, float* y) noexcept { decode_iq4_nl(b, y); }
inline void decode(const block_iq4_xs& b, float* y) noexcept { decode_iq4_xs(b, y); }

}  // namespace detail
}  // namespace gguf
}  // namespace lowbit

#include "fp_contract_off_end.inl"
