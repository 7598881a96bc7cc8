// lowbit/formats/detail/gguf_legacy_grids.hpp — the grids of ggml's legacy
// blocks (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), with and without an importance matrix
// (quantize_row_*_ref and quantize_q*_*_impl), and their code packing.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "../gguf_block_structs.hpp"
#include "gguf_arith.hpp"
#include "gguf_bit_packing.hpp"
#include "gguf_block_grid.hpp"
#include "gguf_search.hpp"

#include "fp_contract_off_begin.inl"

namespace lowbit {
namespace gguf {
namespace detail {

// ---- legacy blocks (docs/formats.md, "Legacy blocks (32 values)") -------------

inline void min_max(const float* x, int n, float* lo, float* hi) noexcept {
    float mn = 3.40282347e+38f;
    float mx = -3.40282347e+38f;
    for (int j = 0; j < n; ++j) {
        if (x[j] < mn) mn = x[j];
        if (x[j] > mx) mx = x[j];
    }
    *lo = mn;
    *hi = mx;
}

// Q5 code pair -> nibble byte and two bits of the high-bit word.
inline void put_q5_pair(int j, unsigned a, unsigned b, std::uint8_t* qs, std::uint32_t& word) noexcept {
    qs[j] = static_cast<std::uint8_t>((a & 0x0fu) | ((b & 0x0fu) << 4));
    word |= ((a >> 4) & 1u) << j;
    word |= ((b >> 4) & 1u) << (j + 16);
}

// ---- legacy blocks with an importance matrix (ggml's quantize_q*_*_impl) ---------
// Legacy blocks on a grid. qw == nullptr: ggml's reference quantizer
// (quantize_row_*_ref); otherwise its importance path with the row's sigma2.
inline void choose_grid_symmetric(const float* x, const float* qw, float sigma2, int nmax, std::uint16_t& d16, block_grid& g) noexcept {
    if (!qw) {
        const float d = signed_absmax(x, 32) / static_cast<float>(-nmax);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        d16 = to_f16(d);
        one_scale_grid(g, code_rule::truncate, 0, 2 * nmax - 1, 0, static_cast<float>(nmax) + 0.5f, id, 0.0f);
    } else {
        float w[32];
        std::int8_t L[32];
        search_rounding r;
        importance(x, qw, sigma2, 32, w);
        d16 = to_f16(fit_symmetric(32, nmax, x, L, w, &r));
        one_scale_grid(g, code_rule::nearest_mul, -nmax, nmax - 1, nmax, 0.0f, r.inv, r.off);
        keep_search_codes(g, r, reinterpret_cast<const std::uint8_t*>(L), 32);
    }
    g.affine = false;
    g.vbias = nmax;
    g.dl[0] = to_f32(d16);
}

inline void choose_grid_affine(const float* x, const float* qw, float sigma2, int nmax, std::uint16_t& d16, std::uint16_t& m16,
                               block_grid& g) noexcept {
    if (!qw) {
        float lo, hi;
        min_max(x, 32, &lo, &hi);
        const float d = (hi - lo) / static_cast<float>(nmax);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        d16 = to_f16(d);
        m16 = to_f16(lo);
        one_scale_grid(g, code_rule::truncate, 0, nmax, 0, 0.5f, id, lo);
    } else {
        float w[32];
        std::uint8_t L[32], Laux[32];
        search_rounding r;
        importance(x, qw, sigma2, 32, w);
        float neg_min;
        const float d = fit_affine(32, nmax, x, w, L, Laux, &neg_min, -0.9f, 0.05f, 36, false, &r);
        d16 = to_f16(d);
        m16 = to_f16(-neg_min);
        one_scale_grid(g, code_rule::nearest_mul, 0, nmax, 0, 0.0f, r.inv, r.off);
        keep_search_codes(g, r, L, 32);
    }
    g.affine = true;
    g.vbias = 0;
    g.dl[0] = to_f32(d16);
    g.ml[0] = to_f32(m16);
}

inline void choose_grid(const float* x, const float* qw, float sigma2, block_q4_0& y, block_grid& g) noexcept {
    choose_grid_symmetric(x, qw, sigma2, 8, y.d, g);
}
inline void choose_grid(const float* x, const float* qw, float sigma2, block_q5_0& y, block_grid& g) noexcept {
    choose_grid_symmetric(x, qw, sigma2, 16, y.d, g);
}
inline void choose_grid(const float* x, const float* qw, float sigma2, block_q4_1& y, block_grid& g) noexcept {
    choose_grid_affine(x, qw, sigma2, 15, y.d, y.m, g);
}
inline void choose_grid(const float* x, const float* qw, float sigma2, block_q5_1& y, block_grid& g) noexcept {
    choose_grid_affine(x, qw, sigma2, 31, y.d, y.m, g);
}
// Q8_0: d = absmax / 127, q = round(x / d) with halves away from zero (C's roundf);
// ggml ignores importance weights for it.
inline void choose_grid(const float* x, const float*, float, block_q8_0& y, block_grid& g) noexcept {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y.d = to_f16(d);
    one_scale_grid(g, code_rule::round_away, -127, 127, 0, 0.0f, id, 0.0f);
    g.affine = false;
    g.vbias = 0;
    g.dl[0] = to_f32(y.d);
}

inline void store_codes(const std::uint8_t* L, block_q4_0& y) noexcept {
    for (int j = 0; j < 16; ++j) y.qs[j] = static_cast<std::uint8_t>(L[j] | (L[j + 16] << 4));
}
inline void store_codes(const std::uint8_t* L, block_q4_1& y) noexcept {
    for (int j = 0; j < 16; ++j) y.qs[j] = static_cast<std::uint8_t>(L[j] | (L[j + 16] << 4));
}
inline void store_codes(const std::uint8_t* L, block_q5_0& y) noexcept {
    std::uint32_t word = 0;
    for (int j = 0; j < 16; ++j) put_q5_pair(j, L[j], L[j + 16], y.qs, word);
    store_high_bits(word, y.qh);
}
inline void store_codes(const std::uint8_t* L, block_q5_1& y) noexcept {
    std::uint32_t word = 0;
    for (int j = 0; j < 16; ++j) put_q5_pair(j, L[j], L[j + 16], y.qs, word);
    store_high_bits(word, y.qh);
}
inline void store_codes(const std::uint8_t* L, block_q8_0& y) noexcept { std::memcpy(y.qs, L, 32); }  // two's complement bytes

}  // namespace detail
}  // namespace gguf
}  // namespace lowbit

#include "fp_contract_off_end.inl"
