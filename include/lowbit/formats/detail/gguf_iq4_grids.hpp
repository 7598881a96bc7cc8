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
    int l[8];
    const float d = fit_iq4_xs_scales(x, qw, y, l), d16 = to_f32(y.d);
    iq4_grid_shape(g);
    for (int ib = 0; ib < 8; ++ib) {
        const float dl = d * static_cast<float>(l[ib]);
        g.inv[ib] = dl != 0.0f ? 1.0f / dl : 0.0f;
        g.off[ib] = 0.0f;
        g.dl[ib] = d16 * static_cast<float>(l[ib]);
        g.keep[ib] = false;
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
