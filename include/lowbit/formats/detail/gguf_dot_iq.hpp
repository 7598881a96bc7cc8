// lowbit/formats/detail/gguf_dot_iq.hpp — the scalar model of the dot
// products on the newer ggml weight types: IQ4_NL, IQ4_XS, MXFP4, TQ1_0,
// TQ2_0 and the lattice i-quants (IQ3_XXS, IQ3_S, IQ2_XXS, IQ2_XS, IQ2_S,
// IQ1_S, IQ1_M); and the row sum every type shares. Private to
// formats/gguf_matmul.hpp; read gguf_dot.hpp first (the two-part split).
//
// Activations as ggml's vec_dot_type: Q8_0 for IQ4_NL and MXFP4, Q8_K for the rest.
//
// Every weight value is an integer code times a float the block fixes, so each
// block's sum is exact in int32:
//   IQ4_NL, MXFP4   levels[q] (iq4nl_levels, mxfp4_levels: 2x the E2M1 value);
//   IQ4_XS          (s - 32) * levels[q] per 32-value sub-block;
//   TQ1_0, TQ2_0    the trit t - 1;
//   IQ2_*, IQ3_*    (2 s + 1) * level * sign per sub-block, level the grid's;
//   IQ1_S, IQ1_M    (2 s + 1) * (8 level +- 1): the +-1/8 shift, scaled by 8.
// The lattice types' remaining factor (1/8 for IQ2 and IQ1, 1/4 for IQ3_XXS,
// 1 for IQ3_S) is a power of two applied in lattice_term.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../gguf_blocks.hpp"
#include "gguf_dot.hpp"

namespace lowbit {
namespace gguf {
namespace detail {

// ---- part 2 -------------------------------------------------------------------------

// A lattice super-block against Q8_K: ((d_x d) * isum) * unit, unit a power of two.
inline float lattice_term(float d_x, float d, std::int32_t isum, float unit) noexcept {
    return mul(mul(mul(d_x, d), static_cast<float>(isum)), unit);
}
constexpr float iq2_unit = 0.125f, iq3xxs_unit = 0.25f, iq3s_unit = 1.0f, iq1_unit = 0.125f;

// ---- part 1: integer sums ------------------------------------------------------------

// 16 bytes of nibbles (value j low, j + 16 high) through a 16-entry level table.
inline std::int32_t nibble_lut_dot(const std::uint8_t* qs, const std::int8_t* levels, const std::int8_t* a) noexcept {
    std::int32_t s = 0;
    for (int j = 0; j < 16; ++j) s += levels[qs[j] & 0x0f] * a[j] + levels[qs[j] >> 4] * a[j + 16];
    return s;
}

inline std::int32_t isum(const block_iq4_nl& w, const block_q8_0& a) noexcept { return nibble_lut_dot(w.qs, iq4nl_levels, a.qs); }
inline std::int32_t isum(const block_mxfp4& w, const block_q8_0& a) noexcept { return nibble_lut_dot(w.qs, mxfp4_levels, a.qs); }

inline std::int32_t isum(const block_iq4_xs& w, const block_q8_K& a) noexcept {
    std::int32_t s = 0;
    for (int ib = 0; ib < 8; ++ib) s += (iq4_xs_scale(w, ib) - 32) * nibble_lut_dot(w.qs + 16 * ib, iq4nl_levels, a.qs + 32 * ib);
    return s;
}

inline std::int32_t isum(const block_tq1_0& w, const block_q8_K& a) noexcept {
    std::int32_t s = 0;  // value order as decode_tq1_0
    for (int n = 0; n < 5; ++n)
        for (int m = 0; m < 32; ++m) s += (unpack_trit(w.qs[m], n) - 1) * a.qs[32 * n + m];
    for (int n = 0; n < 5; ++n)
        for (int m = 0; m < 16; ++m) s += (unpack_trit(w.qs[32 + m], n) - 1) * a.qs[160 + 16 * n + m];
    for (int n = 0; n < 4; ++n)
        for (int j = 0; j < 4; ++j) s += (unpack_trit(w.qh[j], n) - 1) * a.qs[240 + 4 * n + j];
    return s;
}

inline std::int32_t isum(const block_tq2_0& w, const block_q8_K& a) noexcept {
    std::int32_t s = 0;  // value order as decode_tq2_0
    for (int h = 0; h < 2; ++h)
        for (int n = 0; n < 4; ++n)
            for (int m = 0; m < 32; ++m) s += (((w.qs[32 * h + m] >> (2 * n)) & 3) - 1) * a.qs[128 * h + 32 * n + m];
    return s;
}

// One 8-value IQ2 point (levels iq2_levels) with its sign byte, dotted with a.
inline std::int32_t iq2_point_dot(std::uint16_t point, std::uint8_t signs, const std::int8_t* a) noexcept {
    std::int32_t s = 0;
    for (int j = 0; j < 8; ++j) {
        const int v = iq_grids::iq2_levels[iq_grids::level2(point, j)] * a[j];
        s += (signs >> j) & 1 ? -v : v;
    }
    return s;
}
// One 4-value IQ3 point with its four sign bits.
inline std::int32_t iq3_point_dot(std::uint16_t point, const std::uint8_t* levels, unsigned signs, const std::int8_t* a) noexcept {
    std::int32_t s = 0;
    for (int j = 0; j < 4; ++j) {
        const int v = levels[iq_grids::level3(point, j)] * a[j];
        s += (signs >> j) & 1 ? -v : v;
    }
    return s;
}
// One 8-value IQ1 point shifted by +-1/8, times 8: sum (8 level + shift_sign) a.
inline std::int32_t iq1_point_dot(std::uint16_t point, bool minus, const std::int8_t* a) noexcept {
    std::int32_t s = 0, sa = 0;
    for (int j = 0; j < 8; ++j) {
        s += iq_grids::iq1_levels[iq_grids::level2(point, j)] * a[j];
        sa += a[j];
    }
    return 8 * s + (minus ? -sa : sa);
}

inline std::int32_t isum(const block_iq2_xxs& w, const block_q8_K& a) noexcept {
    const auto* q = reinterpret_cast<const std::uint8_t*>(w.qs);
    std::int32_t s = 0;
    for (int ib = 0; ib < 8; ++ib, q += 8) {
        const std::uint32_t meta = load_u32le(q + 4);
        std::int32_t sub = 0;
        for (int l = 0; l < 4; ++l)
            sub += iq2_point_dot(iq_grids::iq2xxs_index[q[l]], iq_grids::iq_sign_byte(meta >> (7 * l)), a.qs + 32 * ib + 8 * l);
        s += static_cast<std::int32_t>(2 * (meta >> 28) + 1) * sub;
    }
    return s;
}

inline std::int32_t isum(const block_iq2_xs& w, const block_q8_K& a) noexcept {
    const auto* q = reinterpret_cast<const std::uint8_t*>(w.qs);
    std::int32_t s = 0;
    for (int ib = 0; ib < 8; ++ib)
        for (int half = 0; half < 2; ++half) {  // 16 values under one 4-bit scale
            std::int32_t sub = 0;
            for (int l = 2 * half; l < 2 * half + 2; ++l) {
                const std::uint16_t v = load_u16le(q + 2 * (4 * ib + l));
                sub += iq2_point_dot(iq_grids::iq2xs_index[v & 511], iq_grids::iq_sign_byte(v >> 9), a.qs + 32 * ib + 8 * l);
            }
            s += (2 * ((w.scales[ib] >> (4 * half)) & 0xf) + 1) * sub;
        }
    return s;
}

inline std::int32_t isum(const block_iq2_s& w, const block_q8_K& a) noexcept {
    const std::uint8_t* signs = w.qs + qk_k / 8;
    std::int32_t s = 0;
    for (int ib = 0; ib < 8; ++ib)
        for (int half = 0; half < 2; ++half) {
            std::int32_t sub = 0;
            for (int l = 2 * half; l < 2 * half + 2; ++l) {
                const unsigned index = w.qs[4 * ib + l] | ((w.qh[ib] >> (2 * l)) & 3u) << 8;
                sub += iq2_point_dot(iq_grids::iq2s_index[index], signs[4 * ib + l], a.qs + 32 * ib + 8 * l);
            }
            s += (2 * ((w.scales[ib] >> (4 * half)) & 0xf) + 1) * sub;
        }
    return s;
}

inline std::int32_t isum(const block_iq3_xxs& w, const block_q8_K& a) noexcept {
    const std::uint8_t* meta_bytes = w.qs + qk_k / 4;
    std::int32_t s = 0;
    for (int ib = 0; ib < 8; ++ib) {
        const std::uint32_t meta = load_u32le(meta_bytes + 4 * ib);
        const std::uint8_t* q = w.qs + 8 * ib;
        std::int32_t sub = 0;
        for (int l = 0; l < 4; ++l) {
            const std::uint8_t signs = iq_grids::iq_sign_byte(meta >> (7 * l));
            const std::int8_t* al = a.qs + 32 * ib + 8 * l;
            sub += iq3_point_dot(iq_grids::iq3xxs_index[q[2 * l]], iq_grids::iq3xxs_levels, signs & 0xfu, al);
            sub += iq3_point_dot(iq_grids::iq3xxs_index[q[2 * l + 1]], iq_grids::iq3xxs_levels, signs >> 4, al + 4);
        }
        s += static_cast<std::int32_t>(2 * (meta >> 28) + 1) * sub;
    }
    return s;
}

inline std::int32_t isum(const block_iq3_s& w, const block_q8_K& a) noexcept {
    std::int32_t s = 0;
    for (int ib = 0; ib < 8; ++ib) {
        const int sc = (w.scales[ib / 2] >> (4 * (ib % 2))) & 0xf;
        const std::uint8_t* q = w.qs + 8 * ib;
        std::int32_t sub = 0;
        for (int l = 0; l < 4; ++l)
            for (int h = 0; h < 2; ++h) {
                const unsigned index = q[2 * l + h] | ((w.qh[ib] >> (2 * l + h)) & 1u) << 8;
                sub += iq3_point_dot(iq_grids::iq3s_index[index], iq_grids::iq3s_levels, (w.signs[4 * ib + l] >> (4 * h)) & 0xfu,
                                     a.qs + 32 * ib + 8 * l + 4 * h);
            }
        s += (2 * sc + 1) * sub;
    }
    return s;
}

inline std::int32_t isum(const block_iq1_s& w, const block_q8_K& a) noexcept {
    std::int32_t s = 0;
    for (int ib = 0; ib < 8; ++ib) {
        const unsigned qh = w.qh[ib];
        std::int32_t sub = 0;
        for (int l = 0; l < 4; ++l) {
            const unsigned index = w.qs[4 * ib + l] | ((qh >> (3 * l)) & 7u) << 8;
            sub += iq1_point_dot(iq_grids::iq1s_index[index], (qh & 0x8000) != 0, a.qs + 32 * ib + 8 * l);
        }
        s += static_cast<std::int32_t>(2 * ((qh >> 12) & 7) + 1) * sub;
    }
    return s;
}

inline std::int32_t isum(const block_iq1_m& w, const block_q8_K& a) noexcept {
    std::int32_t s = 0;
    for (int ib = 0; ib < 8; ++ib) {
        const unsigned sc = load_u16le(w.scales + 2 * (ib / 2));
        for (int half = 0; half < 2; ++half) {  // 16 values: two points under one 3-bit scale
            const unsigned qh = w.qh[2 * ib + half];
            std::int32_t sub = 0;
            for (int l = 0; l < 2; ++l) {
                const unsigned index = w.qs[4 * ib + 2 * half + l] | ((qh >> (4 * l)) & 7u) << 8;
                sub += iq1_point_dot(iq_grids::iq1s_index[index], ((qh >> (4 * l + 3)) & 1) != 0, a.qs + 32 * ib + 16 * half + 8 * l);
            }
            s += static_cast<std::int32_t>(2 * ((sc >> (6 * (ib % 2) + 3 * half)) & 7u) + 1) * sub;
        }
    }
    return s;
}

// ---- one block's float contribution ------------------------------------------------

inline float block_dot(const block_iq4_nl& w, const block_q8_0& a) noexcept {
    return legacy_term(to_f32(w.d), to_f32(a.d), isum(w, a));
}
inline float block_dot(const block_mxfp4& w, const block_q8_0& a) noexcept {
    return legacy_term(e8m0_half(w.e), to_f32(a.d), isum(w, a));
}
template <class W>  // IQ4_XS, TQ1_0, TQ2_0: one f16 scale, signed codes
inline float symmetric_k_block_dot(const W& w, const block_q8_K& a) noexcept {
    return kquant_symmetric_term(a.d, to_f32(w.d), isum(w, a));
}
inline float block_dot(const block_iq4_xs& w, const block_q8_K& a) noexcept { return symmetric_k_block_dot(w, a); }
inline float block_dot(const block_tq1_0& w, const block_q8_K& a) noexcept { return symmetric_k_block_dot(w, a); }
inline float block_dot(const block_tq2_0& w, const block_q8_K& a) noexcept { return symmetric_k_block_dot(w, a); }

// The power of two left over from each lattice type's integer scale.
inline float lattice_unit(const block_iq2_xxs&) noexcept { return iq2_unit; }
inline float lattice_unit(const block_iq2_xs&) noexcept { return iq2_unit; }
inline float lattice_unit(const block_iq2_s&) noexcept { return iq2_unit; }
inline float lattice_unit(const block_iq3_xxs&) noexcept { return iq3xxs_unit; }
inline float lattice_unit(const block_iq3_s&) noexcept { return iq3s_unit; }
inline float lattice_unit(const block_iq1_s&) noexcept { return iq1_unit; }
inline float lattice_unit(const block_iq1_m&) noexcept { return iq1_unit; }
inline std::uint16_t lattice_scale(const block_iq1_m& w) noexcept { return iq1_m_block_scale(w); }
template <class W>
inline std::uint16_t lattice_scale(const W& w) noexcept {
    return w.d;
}
template <class W>
inline float lattice_block_dot(const W& w, const block_q8_K& a) noexcept {
    return lattice_term(a.d, to_f32(lattice_scale(w)), isum(w, a), lattice_unit(w));
}
inline float block_dot(const block_iq2_xxs& w, const block_q8_K& a) noexcept { return lattice_block_dot(w, a); }
inline float block_dot(const block_iq2_xs& w, const block_q8_K& a) noexcept { return lattice_block_dot(w, a); }
inline float block_dot(const block_iq2_s& w, const block_q8_K& a) noexcept { return lattice_block_dot(w, a); }
inline float block_dot(const block_iq3_xxs& w, const block_q8_K& a) noexcept { return lattice_block_dot(w, a); }
inline float block_dot(const block_iq3_s& w, const block_q8_K& a) noexcept { return lattice_block_dot(w, a); }
inline float block_dot(const block_iq1_s& w, const block_q8_K& a) noexcept { return lattice_block_dot(w, a); }
inline float block_dot(const block_iq1_m& w, const block_q8_K& a) noexcept { return lattice_block_dot(w, a); }

// ---- a whole row (every type) -----------------------------------------------------

// The row dot product: block terms summed in block order, from 0.0f.
template <class W, class A>
inline float row_dot_scalar(const W* w, const A* a, std::size_t nb) noexcept {
    float sum = 0.0f;
    for (std::size_t i = 0; i < nb; ++i) sum += block_dot(w[i], a[i]);
    return sum;
}

}  // namespace detail
}  // namespace gguf
}  // namespace lowbit
