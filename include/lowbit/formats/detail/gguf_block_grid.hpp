// lowbit/formats/detail/gguf_block_grid.hpp — a block's grid: the scales a
// quantizer chose for one block, and the coding of one value on them.
#pragma once

#include <cstdint>

#include "../gguf_block_structs.hpp"
#include "../gguf_iquants.hpp"
#include "gguf_arith.hpp"
#include "gguf_search.hpp"

#include "fp_contract_off_begin.inl"

namespace lowbit {
namespace gguf {
namespace detail {

// ---- a block's grid: the scale choice and the coding of one value, apart --------------
// ggml's quantizers choose a block's scales (and mins) from its values, then code
// each value on them. GPTQ on these formats (algo/gptq_gguf.hpp) needs the two
// steps apart: it fixes a block's grid from the weights as they are when its
// sweep reaches the block, then codes each weight after the error updates of the
// columns before it. block_grid is that fixed grid: the rule ggml applies to
// turn a value into a code, and what the decoder makes of a code. Every encoder
// below is choose_grid + code_on_grid per value + store_codes, so the split
// cannot drift from the bytes ggml writes.
enum class code_rule : std::uint8_t {
    truncate,     // legacy reference types: trunc(mul(x - off, inv) + add) (ggml adds 8.5, 16.5 or 0.5)
    round_away,   // Q8_0: roundf(x * inv)
    nearest_mul,  // the importance searches: nearest_int(inv * (x - off)) with the search's own inv
    nearest_div,  // K-quants: nearest_int((x - off) / inv) with inv the stored sub-block scale
    iq4_level,    // IQ4_NL/IQ4_XS: the nearest of the 16 non-uniform levels to inv * x (ggml's best_index_int8)
};

struct block_grid {
    code_rule rule = code_rule::nearest_mul;
    int width = 32;       // values per sub-block (one scale)
    int lo = 0, hi = 15;  // the rounded integer is clamped to [lo, hi] and stored as that + bias
    int bias = 0;
    float add = 0.0f;     // the truncate rule's constant
    bool affine = false;  // value = mul(dl, code - vbias) + ml, else (code - vbias) * dl: the decoders' shapes
    int vbias = 0;
    // Per sub-block; left uninitialised (a block is encoded millions of times):
    // choose_grid writes every entry that code_on_grid and value_on_grid read.
    float inv[16], off[16], dl[16], ml[16];
    bool keep[16];            // a zero scale: ggml keeps the search's codes (they do not change the value)
    std::uint8_t kept[qk_k];  // the search's codes, read only where keep is set
};

// Keeps |v| inside the range where nearest_int is exact. A no-op for every value
// ggml itself codes (those land within one step of the grid); it only matters
// for the GPTQ-updated values that fall far outside a block's range.
inline float clamp_for_rounding(float v, int lo, int hi) noexcept {
    const float a = static_cast<float>(lo - 1), b = static_cast<float>(hi + 1);
    return v < a ? a : (v > b ? b : v);
}

// The code ggml would store for value x at position i of the block. Clamped to
// the type's range (ggml's own clamps, or none where its values cannot leave it).
inline int code_on_grid(const block_grid& g, int i, float x) noexcept {
    const int s = i / g.width;
    if (g.keep[s]) return g.kept[i];
    int v = 0;
    switch (g.rule) {
        case code_rule::truncate: v = truncate_to_int(mul(x - g.off[s], g.inv[s]) + g.add); break;
        case code_rule::round_away: v = truncate_to_int(std::round(x * g.inv[s])); break;
        case code_rule::nearest_mul: v = nearest_int(clamp_for_rounding(g.inv[s] * (x - g.off[s]), g.lo, g.hi)); break;
        case code_rule::nearest_div: v = nearest_int(clamp_for_rounding((x - g.off[s]) / g.inv[s], g.lo, g.hi)); break;
        case code_rule::iq4_level: v = nearest_iq4_level(g.inv[s] * x); break;
    }
    return clamp_int(v, g.lo, g.hi) + g.bias;
}

// The float the type's decoder reads back for `code` at position i (the same
// expression as decode() below, so the two agree to the bit).
inline float value_on_grid(const block_grid& g, int i, int code) noexcept {
    const int s = i / g.width;
    if (g.rule == code_rule::iq4_level) return mul(g.dl[s], static_cast<float>(iq4nl_levels[code]));  // decode_iq4_nl/_xs
    const float c = static_cast<float>(code - g.vbias);
    return g.affine ? mul(g.dl[s], c) + g.ml[s] : mul(c, g.dl[s]);  // mul: never fused into the caller's arithmetic
}

inline void one_scale_grid(block_grid& g, code_rule rule, int lo, int hi, int bias, float add, float inv, float off) noexcept {
    g.rule = rule;
    g.width = 32;
    g.lo = lo;
    g.hi = hi;
    g.bias = bias;
    g.add = add;
    g.inv[0] = inv;
    g.off[0] = off;
    g.keep[0] = false;
}
inline void keep_search_codes(block_grid& g, const search_rounding& r, const std::uint8_t* L, int n) noexcept {
    g.keep[0] = r.all_zero;
    for (int i = 0; i < n; ++i) g.kept[i] = L[i];
}

}  // namespace detail
}  // namespace gguf
}  // namespace lowbit

#include "fp_contract_off_end.inl"
