// lowbit/formats/detail/gguf_kquant_grids.hpp — the grids of ggml's K-quants
// (Q2_K … Q6_K): sub-block scales from the searches, their 4/6-bit packing,
// and the packing of each type's codes.
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
#include "gguf_search_lanes.hpp"

#include "fp_contract_off_begin.inl"

namespace lowbit {
namespace gguf {
namespace detail {

// ---- K-quants (docs/formats.md, "K-quant super-blocks (256 values)") -----------

// K-quant grids: the search's codes are kept for sub-blocks whose stored scale
// is zero; every other code is recomputed from the stored (f16, 4/6-bit) scales.
// sc/mn: each sub-block's integer scale and min; x ~ d*sc*q - dmin*mn.
inline void affine_k_grid(block_grid& g, int width, int n_sub, int nmax, std::uint16_t d16, std::uint16_t dmin16, const int* sc,
                          const int* mn) noexcept {
    const float d_all = to_f32(d16);
    const float m_all = to_f32(dmin16);
    g.rule = code_rule::nearest_div;
    g.width = width;
    g.lo = 0;
    g.hi = nmax;
    g.bias = 0;
    g.affine = true;
    g.vbias = 0;
    for (int j = 0; j < n_sub; ++j) {
        const float d = d_all * static_cast<float>(sc[j]);
        const float dm = m_all * static_cast<float>(mn[j]);
        g.keep[j] = d == 0.0f;
        g.inv[j] = d;
        g.off[j] = -dm;  // (x - off) is ggml's (x + dm), exactly
        g.dl[j] = d;
        g.ml[j] = -dm;   // mul(dl, q) + (-dm) is the decoder's mul(dl, q) - dm, exactly
    }
}
// Q3_K, Q6_K: x ~ d*sc*(q - bias), one signed integer scale per sub-block of 16.
inline void symmetric_k_grid(block_grid& g, int lo, int hi, std::uint16_t d16, const int* sc) noexcept {
    const float d_all = to_f32(d16);
    g.rule = code_rule::nearest_div;
    g.width = 16;
    g.lo = lo;
    g.hi = hi;
    g.bias = -lo;
    g.affine = false;
    g.vbias = -lo;
    for (int j = 0; j < 16; ++j) {
        const float d = d_all * static_cast<float>(sc[j]);
        g.keep[j] = d == 0.0f;
        g.inv[j] = d;
        g.off[j] = 0.0f;
        g.dl[j] = d;
    }
}

inline void choose_grid(const float* x, const float* qw, float, block_q2_K& y, block_grid& g) noexcept {
    std::uint8_t* L = g.kept;
    float w[qk_k], mins[16], scales[16];
    if (!qw) {
        float max_scale = 0.0f;
        float max_min = 0.0f;
        for (int i = 0; i < qk_k; ++i) w[i] = std::fabs(x[i]);
        fit_affine_subblocks(16, 16, 3, x, w, L, scales, mins, -0.5f, 0.1f, 15, true);
        for (int j = 0; j < 16; ++j) {
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0.0f) {
            const float iscale = 15.0f / max_scale;
            for (int j = 0; j < 16; ++j) y.scales[j] = static_cast<std::uint8_t>(nearest_int(iscale * scales[j]));
            y.d = to_f16(max_scale / 15.0f);
        } else {
            for (int j = 0; j < 16; ++j) y.scales[j] = 0;
            y.d = to_f16(0.0f);
        }
        if (max_min > 0.0f) {
            const float iscale = 15.0f / max_min;
            for (int j = 0; j < 16; ++j) {
                const unsigned l = static_cast<unsigned>(nearest_int(iscale * mins[j]));
                y.scales[j] = static_cast<std::uint8_t>(y.scales[j] | (l << 4));
            }
            y.dmin = to_f16(max_min / 15.0f);
        } else {
            y.dmin = to_f16(0.0f);
        }
    } else {
        std::uint8_t Ls[16], Lm[16];
        float sw[16];
        const float sigma2 = superblock_sum_squares(x) / static_cast<float>(qk_k);
        for (int j = 0; j < 16; ++j) sw[j] = importance_sum(x + 16 * j, qw + 16 * j, sigma2, 16, w + 16 * j);
        fit_affine_subblocks(16, 16, 3, x, w, L, scales, mins, -0.9f, 0.05f, 36, false);
        y.d = to_f16(fit_positive(16, 15, scales, Ls, sw));
        y.dmin = to_f16(fit_positive(16, 15, mins, Lm, sw));
        for (int j = 0; j < 16; ++j) y.scales[j] = static_cast<std::uint8_t>(Ls[j] | (Lm[j] << 4));
    }
    int sc[16], mn[16];
    for (int j = 0; j < 16; ++j) {
        sc[j] = y.scales[j] & 0x0f;
        mn[j] = y.scales[j] >> 4;
    }
    affine_k_grid(g, 16, 16, 3, y.d, y.dmin, sc, mn);
}
inline void store_codes(const std::uint8_t* L, block_q2_K& y) noexcept { pack_2bit_k(L, y.qs); }

inline void choose_grid(const float* x, const float* qw, float, block_q3_K& y, block_grid& g) noexcept {
    std::int8_t L[qk_k];
    float scales[16];
    if (!qw) {
        float max_scale = 0.0f;  // signed scale of largest magnitude
        float amax = 0.0f;
        for (int j = 0; j < 16; ++j) {
            scales[j] = fit_symmetric_sweeps(16, 4, x + 16 * j, L + 16 * j);
            if (std::fabs(scales[j]) > amax) {
                amax = std::fabs(scales[j]);
                max_scale = scales[j];
            }
        }
        if (max_scale != 0.0f) {
            const float iscale = -32.0f / max_scale;
            int six_bit[16];
            for (int j = 0; j < 16; ++j) {
                const int l = static_cast<std::int8_t>(nearest_int(iscale * scales[j]));  // ggml narrows to int8 first
                six_bit[j] = clamp_int(l, -32, 31) + 32;
            }
            pack_scales_q3(six_bit, y.scales);
            y.d = to_f16(1.0f / iscale);
        } else {
            std::memset(y.scales, 0, sizeof y.scales);
            y.d = to_f16(0.0f);
        }
    } else {
        std::int8_t Ls[16];
        float w[16], sw[16];
        const float sigma2 = 2.0f * superblock_sum_squares(x) / static_cast<float>(qk_k);
        for (int j = 0; j < 16; ++j) {
            sw[j] = importance_sum(x + 16 * j, qw + 16 * j, sigma2, 16, w);
            scales[j] = fit_symmetric(16, 4, x + 16 * j, L + 16 * j, w);
        }
        const float d_block = fit_symmetric(16, 32, scales, Ls, sw);
        int six_bit[16];
        for (int j = 0; j < 16; ++j) six_bit[j] = Ls[j];
        pack_scales_q3(six_bit, y.scales);
        y.d = to_f16(d_block);
    }
    for (int i = 0; i < qk_k; ++i) g.kept[i] = static_cast<std::uint8_t>(L[i]);
    int sc[16];
    for (int j = 0; j < 16; ++j) sc[j] = unpack_scale_q3(j, y.scales);
    symmetric_k_grid(g, -4, 3, y.d, sc);
}
// The third bits to hmask (value j -> byte j%32, bit j/32), the rest packed.
inline void store_codes(const std::uint8_t* L, block_q3_K& y) noexcept {
    std::uint8_t low[qk_k];
    std::memset(y.hmask, 0, sizeof y.hmask);
    for (int j = 0; j < qk_k; ++j) {
        int l = L[j];
        if (l > 3) {
            y.hmask[j % 32] = static_cast<std::uint8_t>(y.hmask[j % 32] | (1u << (j / 32)));
            l -= 4;
        }
        low[j] = static_cast<std::uint8_t>(l);
    }
    pack_2bit_k(low, y.qs);
}

// Q4_K / Q5_K share the scale stage: eight affine sub-blocks of 32.
// Reference path: weights av_x + |x| with av_x the sub-block's RMS; the
// sub-block scales and mins are then put on 6-bit grids by their maxima.
inline void scales_k_ref(const float* x, int nmax, float rmin, float rdelta, int nstep, std::uint8_t* L, std::uint8_t* packed,
                         std::uint16_t* d, std::uint16_t* dmin) noexcept {
    std::uint8_t ls[8], lm[8];
    float w[qk_k], mins[8], scales[8];
    float max_scale = 0.0f;
    float max_min = 0.0f;
    for (int j = 0; j < 8; ++j) {
        const float* xs = x + 32 * j;
        float sum_x2 = 0.0f;
        for (int l = 0; l < 32; ++l) sum_x2 += mul(xs[l], xs[l]);
        const float av_x = std::sqrt(sum_x2 / 32.0f);
        for (int l = 0; l < 32; ++l) w[32 * j + l] = av_x + std::fabs(xs[l]);
    }
    fit_affine_subblocks(8, 32, nmax, x, w, L, scales, mins, rmin, rdelta, nstep, false);
    for (int j = 0; j < 8; ++j) {
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
    for (int j = 0; j < 8; ++j) {  // narrowed to 8 bits before the clamp, as in ggml
        ls[j] = std::min<std::uint8_t>(63, static_cast<std::uint8_t>(nearest_int(inv_scale * scales[j])));
        lm[j] = std::min<std::uint8_t>(63, static_cast<std::uint8_t>(nearest_int(inv_min * mins[j])));
    }
    pack_scales_k4(ls, lm, packed);
    *d = to_f16(max_scale / 63.0f);
    *dmin = to_f16(max_min / 63.0f);
}

// Importance-matrix path: weights qw * sqrt(sigma2 + x^2) with sigma2 twice the
// super-block's mean square, finer search, and fit_positive for the 6-bit grids.
inline void scales_k_weighted(const float* x, const float* qw, int nmax, std::uint8_t* L, std::uint8_t* packed,
                              std::uint16_t* d, std::uint16_t* dmin) noexcept {
    std::uint8_t ls[8], lm[8];
    float w[qk_k], mins[8], scales[8], sw[8];
    const float sigma2 = 2.0f * superblock_sum_squares(x) / static_cast<float>(qk_k);
    for (int j = 0; j < 8; ++j) sw[j] = importance_sum(x + 32 * j, qw + 32 * j, sigma2, 32, w + 32 * j);
    fit_affine_subblocks(8, 32, nmax, x, w, L, scales, mins, -0.9f, 0.05f, 36, false);
    const float d_block = fit_positive(8, 63, scales, ls, sw);
    const float m_block = fit_positive(8, 63, mins, lm, sw);
    for (int j = 0; j < 8; ++j) {
        ls[j] = std::min<std::uint8_t>(63, ls[j]);
        lm[j] = std::min<std::uint8_t>(63, lm[j]);
    }
    pack_scales_k4(ls, lm, packed);
    *d = to_f16(d_block);
    *dmin = to_f16(m_block);
}

// Q4_K (nmax 15) and Q5_K (nmax 31); the reference searches differ in their ranges.
template <class B>
inline void choose_grid_k4(const float* x, const float* qw, int nmax, float rmin, float rdelta, int nstep, B& y, block_grid& g) noexcept {
    if (!qw) scales_k_ref(x, nmax, rmin, rdelta, nstep, g.kept, y.scales, &y.d, &y.dmin);
    else scales_k_weighted(x, qw, nmax, g.kept, y.scales, &y.d, &y.dmin);
    int sc[8], mn[8];
    for (int j = 0; j < 8; ++j) {
        std::uint8_t s, m;
        unpack_scale_k4(j, y.scales, &s, &m);
        sc[j] = s;
        mn[j] = m;
    }
    affine_k_grid(g, 32, 8, nmax, y.d, y.dmin, sc, mn);
}
inline void choose_grid(const float* x, const float* qw, float, block_q4_K& y, block_grid& g) noexcept {
    choose_grid_k4(x, qw, 15, -1.0f, 0.1f, 20, y, g);
}
inline void choose_grid(const float* x, const float* qw, float, block_q5_K& y, block_grid& g) noexcept {
    choose_grid_k4(x, qw, 31, -0.5f, 0.1f, 15, y, g);
}

// Q4_K nibbles: byte l of chunk c holds value 64c + l (low) and 64c + l + 32 (high).
inline void store_codes(const std::uint8_t* L, block_q4_K& y) noexcept {
    for (int c = 0; c < 4; ++c) {
        for (int l = 0; l < 32; ++l) {
            y.qs[32 * c + l] = static_cast<std::uint8_t>(L[64 * c + l] | (L[64 * c + l + 32] << 4));
        }
    }
}

// Q5_K: nibbles as Q4_K; fifth bit of value 64c + l at bit 2c of qh[l], of
// value 64c + l + 32 at bit 2c + 1.
inline void store_codes(const std::uint8_t* L, block_q5_K& y) noexcept {
    std::memset(y.qh, 0, sizeof y.qh);
    for (int c = 0; c < 4; ++c) {
        for (int l = 0; l < 32; ++l) {
            const unsigned a = L[64 * c + l];
            const unsigned b = L[64 * c + l + 32];
            y.qs[32 * c + l] = static_cast<std::uint8_t>((a & 0x0fu) | ((b & 0x0fu) << 4));
            y.qh[l] = static_cast<std::uint8_t>(y.qh[l] | (((a >> 4) & 1u) << (2 * c)) | (((b >> 4) & 1u) << (2 * c + 1)));
        }
    }
}

// Q6_K: ggml's reference and importance paths differ only in the weights handed
// to fit_symmetric (x^2, or the importance values as they are). A block whose
// sub-block scales are all ~0 is stored as zero bytes.
inline void choose_grid(const float* x, const float* qw, float, block_q6_K& y, block_grid& g) noexcept {
    std::int8_t L[qk_k];
    float scales[16];
    float max_scale = 0.0f;
    float max_abs = 0.0f;
    for (int j = 0; j < 16; ++j) {
        scales[j] = fit_symmetric(16, 32, x + 16 * j, L + 16 * j, qw ? qw + 16 * j : nullptr);
        if (std::fabs(scales[j]) > max_abs) {
            max_abs = std::fabs(scales[j]);
            max_scale = scales[j];
        }
    }
    int sc[16] = {};
    if (max_abs < group_max_eps) {
        y.d = 0;
        std::memset(y.scales, 0, sizeof y.scales);
        std::memset(L, 0, sizeof L);  // every code 0: with d = 0 the whole block is zero bytes
    } else {
        const float iscale = -128.0f / max_scale;
        y.d = to_f16(1.0f / iscale);
        for (int j = 0; j < 16; ++j) {
            y.scales[j] = static_cast<std::int8_t>(std::min(127, nearest_int(iscale * scales[j])));
            sc[j] = y.scales[j];
        }
    }
    for (int i = 0; i < qk_k; ++i) g.kept[i] = static_cast<std::uint8_t>(L[i]);
    symmetric_k_grid(g, -32, 31, y.d, sc);
}
// Per half of 128: ql[l] = low nibbles of values l (low) and l+64 (high),
// ql[l+32] of l+32 and l+96; qh[l] = the top two bits of l, l+32, l+64, l+96.
inline void store_codes(const std::uint8_t* L, block_q6_K& y) noexcept {
    for (int h = 0; h < 2; ++h) {
        const std::uint8_t* src = L + 128 * h;
        std::uint8_t* ql = y.ql + 64 * h;
        std::uint8_t* qh = y.qh + 32 * h;
        for (int l = 0; l < 32; ++l) {
            const unsigned v0 = src[l];
            const unsigned v1 = src[l + 32];
            const unsigned v2 = src[l + 64];
            const unsigned v3 = src[l + 96];
            ql[l] = static_cast<std::uint8_t>((v0 & 0x0fu) | ((v2 & 0x0fu) << 4));
            ql[l + 32] = static_cast<std::uint8_t>((v1 & 0x0fu) | ((v3 & 0x0fu) << 4));
            qh[l] = static_cast<std::uint8_t>((v0 >> 4) | ((v1 >> 4) << 2) | ((v2 >> 4) << 4) | ((v3 >> 4) << 6));
        }
    }
}

}  // namespace detail
}  // namespace gguf
}  // namespace lowbit

#include "fp_contract_off_end.inl"
