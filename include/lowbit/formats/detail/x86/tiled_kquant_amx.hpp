// lowbit/formats/detail/x86/tiled_kquant_amx.hpp — the int8 GEMM body of
// arch::amx on tiled K-quant weights (layout::tiled_kquant): AMX-INT8 tile dot
// products for the integer block sums, then the avx512vnni body's float steps
// (kdetail::kq_tile_scalar's) after each block's C tile, so the results equal
// the model bit for bit. docs/kernels.md, "The tiled K-quant layout".
//
// As in x86/amx_body.hpp, a block's 8 quad vectors are an AMX B operand in its
// VNNI format and the activation codes of 16 rows an A tile (tdpbssd).
// Q4_K/Q5_K: the codes (at most 31) are B as they are; one dot product a block
// (K = 32), C = A. Q6_K scales the two 16-column halves apart: two dot products
// of K = 16 (A tiles of 16 bytes a row, B tiles of quad vectors 0-3 and 4-7),
// C0 and C1.
//
// Q6_K's weights go to the tiles as signed bytes u - 32 (as the tiled layout's
// AMX body moves its zero points into the weights), so each C_h is A_h - 32 Q_h
// itself, and the epilogue forms float(I) in float: P = fma(sc0, float(C0), 0),
// then fma(sc1, float(C1), P). Exact: |C_h| <= 16 * 128 * 32 = 2^16 and |sc| <= 128,
// so P is an integer of at most 2^23 (exact), and the second fma rounds the exact
// I once, as the conversion of the integer I does; the fma with +0 keeps P from
// being -0, so I = 0 gives +0 as the conversion does. That is 6 vector operations
// a row against the model's order of integer steps (2 vpmulld, 2 µops each).
//
// The structure is the tiled layout's second AMX body (kernels/detail/x86/
// amx_body.hpp, whose pieces this file uses: amx::pipeline, amx::issue,
// amx::copy_steps): one C tile (16 activation rows x one weight tile) at a
// time over a strip of up to 32 blocks, its 16 accumulator rows in registers;
// software pipelined with lag 2 over a ring of 4 C buffers (block b's tile
// loads, dot products and C stores, then block b - 2's float steps); A, B, C
// alternate between tile sets 0 and 1 (Q6_K: its two halves are sets 0 and 1);
// the rows' dx (and Q4_K/Q5_K's float(Q0 + Q1)) copied into per-group tables
// per strip. Loop order strip -> weight tile -> row group: a strip is unpacked
// once per weight tile into an L1 buffer (the next tile's strip prefetched)
// that every group of 16 activation rows reuses; between strips the
// accumulators live in `out` (exact). Calls of fewer than min_rows activation
// rows, and a rest of fewer than min_rows after the groups of 16, run on the
// avx512vnni body (same results).
//
// Private to formats/detail/tiled_kquant_entries.hpp; the Tiles parameter is
// kdetail::amx_hw in the library, amx_emulated in the tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../../../kernels/detail/tiled_kquant_blocks.hpp"
#include "../../../kernels/detail/x86/amx_body.hpp"
#include "../../../kernels/detail/x86/amx_tiles.hpp"
#include "../../../kernels/detail/x86/kernels.hpp"

namespace lowbit {
namespace kdetail {
namespace kq_amx {

#define LOWBIT_KQ_AMX_TGT __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,amx-tile,amx-int8")))
#define LOWBIT_KQ_AMX_INLINE LOWBIT_KQ_AMX_TGT __attribute__((always_inline)) inline

constexpr std::size_t min_rows = 64;                         // as the tiled layout's AMX body (its M sweep)
constexpr std::size_t strip_blocks = amx::amx_strip_blocks;  // blocks unpacked at once (16 KiB)
constexpr std::size_t group = amx::group_rows;               // activation rows per A / C tile

namespace v = avx512vnni::tl;

// Tile shapes, sets P = 0, 1: Q4_K/Q5_K tmm(P) A (rows x 32 B), tmm(2+P) B
// (8 x 64 B), tmm(4+P) C (amx::group_config's); Q6_K tmm(h) A half h (rows x
// 16 B), tmm(2+h) B half (4 x 64 B: quad vectors 4h..4h+3), tmm(4+h) C.
template <int B>
amx_tile_config config_of(std::size_t rows) noexcept {
    if (B != 6) return amx::group_config(rows);
    amx_tile_config c;
    for (int h = 0; h < 2; ++h) {
        c.set(h, static_cast<int>(rows), 16);
        c.set(2 + h, 4, 64);
        c.set(4 + h, static_cast<int>(rows), 64);
    }
    return c;
}

// One row group's activations for the blocks of a strip: row m of strip block
// e has its codes at q + m*qs + 32e, its dx at dx[m][e] and (Q4_K/Q5_K)
// float(Q0 + Q1) at qf[m][e]; rows past `rows` have both 0.
struct kq_rows {
    const std::int8_t* q;
    std::size_t qs;
    const float (*dx)[strip_blocks];
    const float (*qf)[strip_blocks];
    std::size_t rows;
};

// The Step of amx::pipeline for one C tile: block i's dot products from the
// unpacked strip wb, block e's float steps (the model's, in its order; the
// super-block's d, dmin reloaded at its first block).
template <int B, class Tiles>
struct kq_step {
    Tiles& tm;
    const kq_view& w;
    std::size_t t, b0;
    const std::uint8_t (*wb)[tile_quads][64];
    const kq_rows& a;
    v::vf d, dmin;
    std::int32_t (*c)[B == 6 ? 2 : 1][group][group];  // [block % ring][half][activation row][weight row]
    template <int P>
    LOWBIT_KQ_AMX_INLINE void issue(std::size_t i) {
        const std::int8_t* aq = a.q + i * tile_block;
        if constexpr (B == 6) {
            amx::issue<true, 0>(tm, aq, a.qs, wb[i][0], c[i % amx::ring][0][0]);
            amx::issue<true, 1>(tm, aq + tile_block / 2, a.qs, wb[i][tile_quads / 2], c[i % amx::ring][1][0]);
        } else {
            amx::issue<true, P>(tm, aq, a.qs, wb[i][0], c[i % amx::ring][0][0]);
        }
    }
    LOWBIT_KQ_AMX_INLINE void epilogue(std::size_t e, v::vf (&acc)[group]) {
        const std::size_t b = b0 + e;
        const auto& C = c[e % amx::ring];
        if (e == 0 || b % kquant_blocks_per_super == 0) {
            d = v::kq_f16(w.scale_at(t, b / kquant_blocks_per_super, 0));
            if constexpr (B != 6) dmin = v::kq_f16(w.scale_at(t, b / kquant_blocks_per_super, 1));
        }
        if constexpr (B == 6) {
            const v::vf s0 = v::cvt(v::kq_s8(w.sub_at(t, b, 0))), s1 = v::cvt(v::kq_s8(w.sub_at(t, b, 1)));
            LOWBIT_UNROLL
            for (std::size_t m = 0; m < group; ++m) {
                const v::vf I = v::fma(s1, v::cvt(v::load(C[1][m])), v::fma(s0, v::cvt(v::load(C[0][m])), v::zero_f()));
                acc[m] = v::fma(I, v::mul(d, v::set1_f(a.dx[m][e])), acc[m]);
            }
        } else {
            const v::vf Ds = v::mul(d, v::cvt(v::kq_u8(w.sub_at(t, b, 0)))), Dm = v::mul(dmin, v::cvt(v::kq_u8(w.sub_at(t, b, 1))));
            LOWBIT_UNROLL
            for (std::size_t m = 0; m < group; ++m) {
                const v::vf val = v::fmsub(Ds, v::cvt(v::load(C[0][m])), v::mul(Dm, v::set1_f(a.qf[m][e])));
                acc[m] = v::fma(val, v::set1_f(a.dx[m][e]), acc[m]);
            }
        }
    }
};

// One C tile: the group's rows against weight tile t over strip blocks
// [b0, b0 + nb) unpacked in wb, accumulating into out (started from zero when `first`).
template <int B, class Tiles>
LOWBIT_KQ_AMX_TGT void c_tile(Tiles& tm, const kq_view& w, std::size_t t, std::size_t b0, std::size_t nb,
                              const std::uint8_t (*wb)[tile_quads][64], const kq_rows& a, bool first, float* out, std::size_t ld) {
    alignas(64) std::int32_t c[amx::ring][B == 6 ? 2 : 1][group][group];
    if (a.rows < group) std::memset(c, 0, sizeof c);  // the rows the tile stores do not write
    kq_step<B, Tiles> st{tm, w, t, b0, wb, a, v::zero_f(), v::zero_f(), c};
    amx::pipeline(st, nb, a.rows, amx::tile_lanes(w.rows, t), first, out + t * tile_rows, ld);
}

// Blocks [b0, b0 + nb) of weight tile t unpacked into dst as B operands
// (Q6_K: as u - 32).
template <int B>
LOWBIT_KQ_AMX_TGT void unpack_strip(const kq_view& w, std::size_t t, std::size_t t1, std::size_t b0, std::size_t nb,
                                    std::uint8_t (*dst)[tile_quads][64]) {
    for (std::size_t e = 0; e < nb; ++e) {
        // The next weight tile's same strip comes next: a jump the hardware prefetcher does not follow.
        if (t + 1 < t1)
            for (int l = 0; l < B; ++l) _mm_prefetch(reinterpret_cast<const char*>(w.block(t + 1, b0 + e, B) + 64 * l), _MM_HINT_T0);
        v::vi u[tile_quads];
        v::unpack_block<B>(w.block(t, b0 + e, B), u);
        for (std::size_t j = 0; j < tile_quads; ++j)
            _mm512_store_si512(dst[e][j], B == 6 ? _mm512_sub_epi8(u[j], _mm512_set1_epi8(32)) : u[j]);
    }
}

// Activation rows [0, groups * rows) in groups of `rows` against tiles [t0, t1).
// even: the rows' codes are evenly spaced (else each group's strip is gathered).
template <int B, class Tiles>
LOWBIT_KQ_AMX_TGT void groups_pass(Tiles& tm, const kq_view& w, std::size_t t0, std::size_t t1, const tact_i8* a, std::size_t groups,
                                   std::size_t rows, float* out, std::size_t ld, std::size_t strip, bool even) {
    alignas(64) std::uint8_t wb[strip_blocks][tile_quads][64];
    alignas(64) std::int8_t gq[group][strip_blocks * tile_block];
    alignas(64) float gdx[group][strip_blocks] = {};
    alignas(64) float gqf[group][strip_blocks] = {};
    const std::size_t qs = rows > 1 ? static_cast<std::size_t>(a[1].q - a[0].q) : tile_block;
    for (std::size_t b0 = 0; b0 < w.blocks; b0 += strip) {
        const std::size_t nb = w.blocks - b0 < strip ? w.blocks - b0 : strip;
        for (std::size_t t = t0; t < t1; ++t) {
            if (t * tile_rows >= w.rows) break;  // no rows: nothing to write
            unpack_strip<B>(w, t, t1, b0, nb, wb);
            for (std::size_t h = 0; h < groups; ++h) {
                const tact_i8* ah = a + h * rows;
                for (std::size_t m = 0; m < rows; ++m) {
                    amx::copy_steps<false>(ah[m], b0, nb, gdx[m], nullptr);
                    if constexpr (B != 6)
                        for (std::size_t e = 0; e < strip_blocks; ++e)
                            gqf[m][e] = e < nb ? static_cast<float>(ah[m].zq[2 * (b0 + e)] + ah[m].zq[2 * (b0 + e) + 1]) : 0.0f;
                }
                kq_rows kr{ah[0].q + b0 * tile_block, qs, gdx, gqf, rows};
                if (!even) {
                    for (std::size_t m = 0; m < rows; ++m) std::memcpy(gq[m], ah[m].q + b0 * tile_block, nb * tile_block);
                    kr.q = gq[0];
                    kr.qs = sizeof gq[0];
                }
                c_tile<B>(tm, w, t, b0, nb, wb, kr, b0 == 0, out + h * rows * ld, ld);
            }
        }
    }
}

// All activation rows [0, M) for tiles [t0, t1) (see the top of the file).
template <int B, class Tiles>
LOWBIT_KQ_AMX_TGT void tiles_on(const kq_view& w, std::size_t t0, std::size_t t1, const tact_i8* a, std::size_t M, float* out,
                                std::size_t ld, std::size_t min_m, std::size_t strip = strip_blocks) {
    amx::tiles_by_row_groups<config_of<B>, groups_pass<B, Tiles>, avx512vnni::kq_tiles<B>, &tact_i8::q, strip_blocks, Tiles>(
        w, t0, t1, a, M, out, ld, min_m, strip);
}

template <int B>
inline void kq_tiles(const kq_view& w, std::size_t t0, std::size_t t1, const tact_i8* a, std::size_t M, float* out, std::size_t ld) {
    tiles_on<B, amx_hw>(w, t0, t1, a, M, out, ld, min_rows);
}

#undef LOWBIT_KQ_AMX_INLINE
#undef LOWBIT_KQ_AMX_TGT

}  // namespace kq_amx
}  // namespace kdetail
}  // namespace lowbit
