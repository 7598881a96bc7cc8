// lowbit/formats/tiled_kquant.hpp — ggml's K-quant blocks (Q4_K, Q5_K, Q6_K)
// in the tiled layout's geometry (layout::tiled_kquant; docs/formats.md, "The
// tiled K-quant layout"; docs/redesign.md, step 6), and back.
//
// A K-quant value is not s (u - z) with an integer zero point, so the tiled
// layout proper cannot hold it; this layout keeps every field of the blocks
// and only moves them:
//   codes    the unsigned codes u (Q4_K 0..15, Q5_K 0..31, Q6_K 0..63) as
//            pack/tiled.hpp stores 4-, 5-, 6-bit codes: 16-row tiles of
//            32-column blocks, quad vectors in VNNI order, bit planes;
//   zeros    per tile, block and row two bytes, [tile][block][k][row]:
//            Q4_K/Q5_K the sub-block's 6-bit scale (k = 0) and min (k = 1)
//            as unpacked from the 12 packed bytes; Q6_K the two int8
//            scales of the block's 16-column halves (k = 0: columns 0-15);
//   scales   per tile, super-block (256 columns) and row the f16 bits of d
//            and dmin (Q6_K: d alone), [tile][super][field][row].
// Rows pad to whole tiles (zero codes, bytes and scales). Bytes per 16 x 32:
// Q4_K 256 + 32 + 8 = 296 (4.63 bits a weight against the blocks' 4.5),
// Q5_K 320 + 32 + 8 = 360 (5.63 / 5.5), Q6_K 384 + 32 + 4 = 420 (6.56 / 6.56).
//
// to_tiled / from_tiled copy every field; the 12 packed scale bytes of Q4_K
// and Q5_K are a bijection with their sixteen 6-bit values, so from_tiled
// (to_tiled(w)) is byte for byte w.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../core/status.hpp"
#include "../pack/tiled.hpp"
#include "../weights/weights.hpp"
#include "../weights/weights_view.hpp"
#include "detail/gguf_bit_packing.hpp"
#include "gguf_block_structs.hpp"

namespace lowbit {
namespace kquant {

// One super-block's fields, unpacked: codes u, the sub-block bytes per tile
// block (two each), d and dmin (Q6_K: dmin 0).
struct super_fields {
    std::uint8_t u[kquant_super];
    std::uint8_t sub[kquant_blocks_per_super][2];
    std::uint16_t d = 0, dmin = 0;
};

namespace detail {

// The eight sub-blocks' 6-bit scale and min into Q4_K's / Q5_K's 12 bytes.
inline void pack_sub_fields(const super_fields& f, std::uint8_t* scales) noexcept {
    std::uint8_t sc[8], mn[8];
    for (int j = 0; j < 8; ++j) {
        sc[j] = f.sub[j][0];
        mn[j] = f.sub[j][1];
    }
    gguf::detail::pack_scales_k4(sc, mn, scales);
}
inline void read_block(const gguf::block_q4_K& b, super_fields& f) noexcept {
    for (int j = 0; j < 8; ++j) {
        gguf::detail::unpack_scale_k4(j, b.scales, &f.sub[j][0], &f.sub[j][1]);
        for (int l = 0; l < 32; ++l) f.u[32 * j + l] = static_cast<std::uint8_t>((b.qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 15);
    }
    f.d = b.d;
    f.dmin = b.dmin;
}
inline void write_block(const super_fields& f, gguf::block_q4_K& b) noexcept {
    pack_sub_fields(f, b.scales);
    for (int j = 0; j < 4; ++j)
        for (int l = 0; l < 32; ++l) b.qs[32 * j + l] = static_cast<std::uint8_t>(f.u[64 * j + l] | (f.u[64 * j + 32 + l] << 4));
    b.d = f.d;
    b.dmin = f.dmin;
}
inline void read_block(const gguf::block_q5_K& b, super_fields& f) noexcept {
    for (int j = 0; j < 8; ++j) {
        gguf::detail::unpack_scale_k4(j, b.scales, &f.sub[j][0], &f.sub[j][1]);
        for (int l = 0; l < 32; ++l)
            f.u[32 * j + l] = static_cast<std::uint8_t>(((b.qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 15) | (((b.qh[l] >> j) & 1) << 4));
    }
    f.d = b.d;
    f.dmin = b.dmin;
}
inline void write_block(const super_fields& f, gguf::block_q5_K& b) noexcept {
    pack_sub_fields(f, b.scales);
    for (int j = 0; j < 4; ++j)
        for (int l = 0; l < 32; ++l)
            b.qs[32 * j + l] = static_cast<std::uint8_t>((f.u[64 * j + l] & 15) | ((f.u[64 * j + 32 + l] & 15) << 4));
    for (int l = 0; l < 32; ++l) {
        unsigned h = 0;
        for (int j = 0; j < 8; ++j) h |= static_cast<unsigned>((f.u[32 * j + l] >> 4) & 1) << j;
        b.qh[l] = static_cast<std::uint8_t>(h);
    }
    b.d = f.d;
    b.dmin = f.dmin;
}
// Q6_K: value v of the super-block is in half h = v / 128; within it, quarter
// q = (v % 128) / 32 and l = v % 32 name the low nibble (ql byte 64h + l +
// 32 (q & 1), low for q < 2) and the two high bits (qh byte 32h + l, bits 2q).
inline void read_block(const gguf::block_q6_K& b, super_fields& f) noexcept {
    for (int v = 0; v < 256; ++v) {
        const int h = v / 128, q = (v % 128) / 32, l = v % 32;
        const std::uint8_t lb = b.ql[64 * h + l + 32 * (q & 1)];
        const int low = q < 2 ? (lb & 15) : (lb >> 4), high = (b.qh[32 * h + l] >> (2 * q)) & 3;
        f.u[v] = static_cast<std::uint8_t>(low | (high << 4));
    }
    for (int j = 0; j < 8; ++j)
        for (int k = 0; k < 2; ++k) f.sub[j][k] = static_cast<std::uint8_t>(b.scales[2 * j + k]);
    f.d = b.d;
    f.dmin = 0;
}
inline void write_block(const super_fields& f, gguf::block_q6_K& b) noexcept {
    std::memset(b.ql, 0, sizeof b.ql);
    std::memset(b.qh, 0, sizeof b.qh);
    for (int v = 0; v < 256; ++v) {
        const int h = v / 128, q = (v % 128) / 32, l = v % 32;
        std::uint8_t& lb = b.ql[64 * h + l + 32 * (q & 1)];
        lb = static_cast<std::uint8_t>(lb | ((f.u[v] & 15) << (q < 2 ? 0 : 4)));
        b.qh[32 * h + l] = static_cast<std::uint8_t>(b.qh[32 * h + l] | ((f.u[v] >> 4) << (2 * q)));
    }
    for (int j = 0; j < 8; ++j)
        for (int k = 0; k < 2; ++k) b.scales[2 * j + k] = static_cast<std::int8_t>(f.sub[j][k]);
    b.d = f.d;
}

// The block struct of a ggml K-quant type, by bits (4: Q4_K, 5: Q5_K, 6: Q6_K).
template <int B>
using block_of = typename std::conditional<B == 4, gguf::block_q4_K,
                                           typename std::conditional<B == 5, gguf::block_q5_K, gguf::block_q6_K>::type>::type;

// Where the fields of tile t live (w: a tiled_kquant description).
struct tiled_at {
    std::size_t blocks, supers, fields;
    std::size_t code(std::size_t t, std::size_t b, int bits) const noexcept { return (t * blocks + b) * 64 * static_cast<std::size_t>(bits); }
    std::size_t sub(std::size_t t, std::size_t b, std::size_t k) const noexcept { return ((t * blocks + b) * 2 + k) * tile_rows; }
    std::size_t scale(std::size_t t, std::size_t s, std::size_t f) const noexcept { return ((t * supers + s) * fields + f) * tile_rows; }
    static tiled_at of(const weights_desc& d) noexcept {
        return {d.cols / tile_block, d.cols / kquant_super, kquant_fields(d.ggml)};
    }
};

// Blocks -> tiles, or back (ToTiles false), one tile of 16 rows at a time.
template <int B, bool ToTiles>
void convert_rows(const weights_view& from, weights& to) {
    using block = block_of<B>;
    const weights_view tv = to.view();
    const weights_desc g = ToTiles ? from.desc() : tv.desc();  // the ggml side
    const weights_desc k = ToTiles ? tv.desc() : from.desc();  // the tiled side
    const std::size_t rows = g.rows, supers = g.cols / kquant_super, tiles = (rows + tile_rows - 1) / tile_rows;
    const std::size_t row_bytes = supers * sizeof(block);
    const tiled_at at = tiled_at::of(k);
    std::uint8_t* tcodes = ToTiles ? to.codes() : nullptr;
    auto* tscales = ToTiles ? static_cast<std::uint16_t*>(to.scales()) : nullptr;
    std::uint8_t* tsub = ToTiles ? to.zeros() : nullptr;
    const std::uint8_t* fcodes = k.codes;
    const auto* fscales = static_cast<const std::uint16_t*>(k.scales);
    const std::uint8_t* fsub = k.zeros;
    std::vector<super_fields> f(tile_rows);
    std::uint8_t v[tile_quads][64];
    for (std::size_t t = 0; t < tiles; ++t)
        for (std::size_t s = 0; s < supers; ++s) {
            const std::size_t n = rows - t * tile_rows < tile_rows ? rows - t * tile_rows : tile_rows;
            if (ToTiles) {
                for (std::size_t i = 0; i < tile_rows; ++i) {
                    if (i < n) {
                        block b;
                        std::memcpy(&b, g.codes + (t * tile_rows + i) * row_bytes + s * sizeof(block), sizeof(block));
                        read_block(b, f[i]);
                    } else {
                        f[i] = super_fields{};
                    }
                }
                for (std::size_t j = 0; j < kquant_blocks_per_super; ++j) {
                    const std::size_t b = s * kquant_blocks_per_super + j;
                    for (std::size_t q = 0; q < tile_quads; ++q)
                        for (std::size_t i = 0; i < tile_rows; ++i)
                            for (std::size_t e = 0; e < 4; ++e) v[q][4 * i + e] = f[i].u[tile_block * j + 4 * q + e];
                    lowbit::detail::quads_to_planes<B>(v, tcodes + at.code(t, b, B));
                    for (std::size_t kk = 0; kk < 2; ++kk)
                        for (std::size_t i = 0; i < tile_rows; ++i) tsub[at.sub(t, b, kk) + i] = f[i].sub[j][kk];
                }
                for (std::size_t i = 0; i < tile_rows; ++i) {
                    tscales[at.scale(t, s, 0) + i] = f[i].d;
                    if (at.fields > 1) tscales[at.scale(t, s, 1) + i] = f[i].dmin;
                }
            } else {
                for (std::size_t j = 0; j < kquant_blocks_per_super; ++j) {
                    const std::size_t b = s * kquant_blocks_per_super + j;
                    lowbit::detail::planes_to_quads<B>(fcodes + at.code(t, b, B), v);
                    for (std::size_t i = 0; i < n; ++i) {
                        for (std::size_t c = 0; c < tile_block; ++c) f[i].u[tile_block * j + c] = v[c / 4][4 * i + c % 4];
                        for (std::size_t kk = 0; kk < 2; ++kk) f[i].sub[j][kk] = fsub[at.sub(t, b, kk) + i];
                    }
                }
                for (std::size_t i = 0; i < n; ++i) {
                    f[i].d = fscales[at.scale(t, s, 0) + i];
                    f[i].dmin = at.fields > 1 ? fscales[at.scale(t, s, 1) + i] : 0;
                    block b;
                    write_block(f[i], b);
                    std::memcpy(to.codes() + (t * tile_rows + i) * row_bytes + s * sizeof(block), &b, sizeof(block));
                }
            }
        }
}

template <bool ToTiles>
result<weights> convert(const weights_view& w, const char* who) {
    const layout from = ToTiles ? layout::ggml : layout::tiled_kquant;
    if (w.lay() != from) return status::error(errc::invalid_argument, "%s: the weights are %s, not %s", who, layout_name(w.lay()), layout_name(from));
    const int bits = kquant_bits(w.ggml_type());
    if (bits == 0)
        return status::error(errc::unsupported, "%s: %s has no tiled K-quant form (Q4_K, Q5_K, Q6_K)", who, gguf::type_name(w.ggml_type()));
    weights_desc d = w.desc();
    d.lay = ToTiles ? layout::tiled_kquant : layout::ggml;
    d.row_bytes = 0;
    auto out = weights::allocate(d);
    if (!out) return out.error();
    if (bits == 4) convert_rows<4, ToTiles>(w, *out);
    else if (bits == 5) convert_rows<5, ToTiles>(w, *out);
    else convert_rows<6, ToTiles>(w, *out);
    return out;
}

}  // namespace detail

// w (layout::ggml, Q4_K / Q5_K / Q6_K) in the tiled K-quant layout: every
// field copied, none recomputed (repack(w, layout::tiled_kquant) calls this).
inline result<weights> to_tiled(const weights_view& w) { return detail::convert<true>(w, "kquant::to_tiled"); }
// The inverse: the ggml blocks, byte for byte those to_tiled read.
inline result<weights> from_tiled(const weights_view& w) { return detail::convert<false>(w, "kquant::from_tiled"); }

}  // namespace kquant
}  // namespace lowbit
