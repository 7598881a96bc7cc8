// lowbit/kernels/detail/x86/amx_body.hpp — the int8 GEMM body of arch::amx on
// the tiled layout (pack/tiled.hpp): AMX-INT8 tile dot products for the integer
// part, the avx512vnni body's float steps for the rest (docs/kernels.md, "AMX").
//
// Why the tiled layout fits: quad vector j of a block (64 bytes: byte 4i + e =
// code of row i, column 4j + e) is row j of an AMX B operand in its "VNNI"
// format (K/4 rows of N x 4 bytes). A block's 8 quad vectors are a B tile of
// 8 rows x 64 bytes (16 weight rows x 32 codes); the activation codes of up to
// 16 rows for the same 32 columns are an A tile of rows x 32 bytes; one dot
// product gives the 16 x 16 int32 block sums. The model (detail/tiled_blocks.hpp)
// scales every 32-block separately, so a dot product spans one block (K = 32,
// half the tile's depth) and its C tile goes through memory to the float steps
// after every block: fma(float(A'), s*dx_b, acc) per block in block order, the
// same operations as avx512vnni::ti8_tiles, so results equal the scalar model
// bit for bit.
//
// What made the first version (one chunk of 32 rows x a pair of weight tiles
// per block, each C tile stored and reloaded at once) no faster than the
// avx512vnni body on an Emerald Rapids (docs/benchmarks-llamacpp.md, session
// 15), and what this version does about it:
// - The float steps are the bottleneck, not the tiles: per C tile and block, 16
//   rows of (load C, int32 correction, convert, s*dx, FMA) on the two 512-bit
//   vector ports, against one tdpb on the tile unit. So the corrections move
//   into the weights: every scheme but asymmetric 8-bit has weights u - z that
//   fit a signed byte (symmetric: z = 2^(B-1), 1 bit: 2u - 1; asymmetric B <= 7:
//   |u - z| <= 127), so the strip unpack below stores them signed and tdpbssd
//   gives A' itself (A + zq, 2A - Q, A - z*Q: the same integers, the model's
//   zq is -2^(B-1)*Q for symmetric B >= 2). The epilogue is then 3 vector
//   operations per row (asymmetric 8-bit keeps its 2 extra: u - z needs 9 bits).
// - Each C tile's 16 accumulator rows stay in registers across the blocks: the
//   loop runs one C tile (16 activation rows x one weight tile) over a strip of
//   blocks, instead of keeping 64 accumulators of a 32 x 32 chunk on the stack
//   (one load and one store more per row, on a store port already busy with
//   the tile stores). The A and B tiles are loaded once per C tile (from L1/L2).
// - The tile dot product's latency and the tile-store -> vector-load round trip
//   are hidden by software pipelining: block b's tile loads, dot product and C
//   store are issued before block b - 2's epilogue, from a ring of 4 C buffers;
//   A, B and C alternate between two sets of tile registers (tiles are not
//   renamed), so consecutive blocks overlap on the tile unit too.
// - Weights are unpacked (and made signed) once per (strip, weight tile) into
//   an L1 buffer reused by every 16-row group of activation rows, not once per
//   32 activation rows right before a tile load of the same bytes.
// - Loop order: strips of 32 blocks (K = 1024) outer, weight tiles, then groups
//   of 16 activation rows: a strip's activations (M x 1 KiB) stay in L2 across
//   the weight tiles, the unpacked strip (16 KiB) in L1 across the row groups,
//   and the weights are read from memory once per call. Between strips the
//   accumulators are kept in `out` (exact: floats stored and reloaded).
//
// Rows: a call of fewer than min_rows rows runs on the avx512vnni body (the
// same results): a dot product works on 16 rows whatever M is, and the tiles
// pay for their weight unpack only when enough row groups share it. Otherwise
// every whole group of 16 rows goes to the tiles, and the rest (1-15 rows)
// too, with its own tile configuration, if at least min_rows, else to the
// avx512vnni body. amx_min_rows and the strip length are run-time arguments (tests pass
// 1 and short strips to reach every edge), so there is one instantiation per
// scheme.
//
// Tiles (palette 1): tmm0/tmm1 = A, tmm2/tmm3 = B, tmm4/tmm5 = C of even/odd
// blocks. amx_hw (x86/amx_tiles.hpp) in the library; amx_emulated
// (tests/amx_emulated.hpp) in the tests only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "amx_tiles.hpp"
#include "kernels.hpp"

namespace lowbit {
namespace kdetail {
namespace amx {

#define LOWBIT_AMX_BODY_TGT \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,amx-tile,amx-int8")))
#define LOWBIT_AMX_BODY_INLINE LOWBIT_AMX_BODY_TGT __attribute__((always_inline)) inline

// Activation rows below which a call (or the rows left after the groups of 16)
// runs on the avx512vnni body. Measured with this body (lowbit_bench_amx's M
// sweep, docs/history/kernels.md "AMX: the M sweep"): at 4096 x 4096 on one
// thread the tiles lose at M = 8 (2.1x the time), 16 and 32 (1.05-1.25x), and
// win from M = 64 (0.64-0.72x); 33-63 not measured.
constexpr std::size_t amx_min_rows = 64;
constexpr std::size_t amx_strip_blocks = 32;     // blocks per strip (at most; tests pass fewer)
constexpr std::size_t group_rows = amx_max_rows;  // activation rows per A / C tile
constexpr std::size_t lag = 2;                    // blocks between a C tile's store and its epilogue
constexpr std::size_t ring = 4;                   // C buffers (> lag)

namespace v = avx512vnni::tl;  // the epilogue's vector helpers (zmm, 16 rows per vector)

// Whether the weights go to the tiles as signed bytes u - z (see above); else
// (asymmetric 8-bit) as the unsigned codes, in place, with the correction in the epilogue.
template <class S>
constexpr bool signed_weights = S::is_symmetric || S::bits < 8;

// Activation rows of one A tile for the blocks of a strip: row m of strip block
// e has its codes at q + m*qs + 32e, its dx at dx[m][e], its zq at zq[m][e]
// (copies: one base pointer and constant offsets in the epilogue; rows past
// `rows` have dx = 0, zq = 0).
struct row_group {
    const std::int8_t* q;
    std::size_t qs;
    const float (*dx)[amx_strip_blocks];
    const std::int32_t (*zq)[amx_strip_blocks];
    std::size_t rows;
};

template <class S>
LOWBIT_AMX_BODY_INLINE v::vi zero_bytes(const tiled_view<S>& w, std::size_t t, std::size_t g) {
    v::vf s;
    v::vi z;
    v::scale_zero(w, t, g, 0, s, z);
    return _mm512_mullo_epi32(z, _mm512_set1_epi32(0x01010101));  // z < 128 in every byte of its row's dword
}
template <class S>
LOWBIT_AMX_BODY_INLINE v::vi to_signed(v::vi u, v::vi zb) {
    if constexpr (!S::is_symmetric) return _mm512_sub_epi8(u, zb);
    else if constexpr (S::bits == 1) return _mm512_sub_epi8(_mm512_add_epi8(u, u), _mm512_set1_epi8(1));
    else return _mm512_add_epi8(u, _mm512_set1_epi8(static_cast<char>(-(1 << (S::bits - 1)))));  // mod 256: u - 2^(B-1)
}

// dx (and, with Zq, zq for the epilogue's correction) of blocks [b0, b0 + nb)
// of one activation row; 0 past nb. (The K-quant AMX body shares it.)
template <bool Zq>
LOWBIT_AMX_BODY_INLINE void copy_steps(const tact_i8& a, std::size_t b0, std::size_t nb, float* dx, std::int32_t* zq) {
    for (std::size_t i = 0; i < amx_strip_blocks; i += 16) {
        const __mmask16 k = static_cast<__mmask16>(nb <= i ? 0u : nb - i >= 16 ? 0xffffu : (1u << (nb - i)) - 1u);
        _mm512_store_ps(dx + i, _mm512_maskz_loadu_ps(k, a.dx + b0 + i));
        if constexpr (Zq) _mm512_store_si512(zq + i, _mm512_maskz_loadu_epi32(k, a.zq + b0 + i));
    }
}

// Blocks [b0, b0 + nb) of weight tile t as signed B operands (signed_weights<S> only).
template <class S>
LOWBIT_AMX_BODY_TGT void unpack_strip(const tiled_view<S>& w, std::size_t t, std::size_t t1, std::size_t b0, std::size_t nb,
                                      std::size_t bpg, std::uint8_t (*dst)[tile_quads][64]) {
    constexpr int B = S::bits;
    std::size_t g = b0 / bpg, left = bpg - b0 % bpg;
    v::vi zb = v::zero_i();
    if constexpr (!S::is_symmetric) zb = zero_bytes(w, t, g);
    for (std::size_t e = 0; e < nb; ++e, --left) {
        if (left == 0) {
            ++g;
            left = bpg;
            if constexpr (!S::is_symmetric) zb = zero_bytes(w, t, g);
        }
        const std::uint8_t* p = w.block(t, b0 + e);
        // The next weight tile's same strip comes next: a jump the hardware prefetcher does not follow.
        if (t + 1 < t1)
            for (int l = 0; l < B; ++l) _mm_prefetch(reinterpret_cast<const char*>(w.block(t + 1, b0 + e) + 64 * l), _MM_HINT_T0);
        v::vi q[tile_quads];
        v::unpack_block<B>(p, q);
        for (std::size_t j = 0; j < tile_quads; ++j) _mm512_store_si512(dst[e][j], to_signed<S>(q[j], zb));
    }
}

// One dot product into tile set P (0/1): A, B loads, C = A . B (tdpbssd for
// signed weights, else tdpbsud), C stored at c. (The K-quant AMX body shares it.)
template <bool Signed, int P, class Tiles>
LOWBIT_AMX_BODY_INLINE void issue(Tiles& tm, const std::int8_t* aq, std::size_t qs, const std::uint8_t* bq, std::int32_t* c) {
    tm.template load<P>(aq, qs);
    tm.template load<2 + P>(bq, 64);
    tm.template zero<4 + P>();
    if constexpr (Signed) tm.template dp_ss<4 + P, P, 2 + P>();
    else tm.template dp_su<4 + P, P, 2 + P>();
    tm.template store<4 + P>(c, group_rows * sizeof(std::int32_t));
}

// Weight rows of tile t that exist (n of its 16 lanes) as a mask.
inline __mmask16 tile_lanes(std::size_t rows, std::size_t t) noexcept {
    const std::size_t n = rows - t * tile_rows;
    return static_cast<__mmask16>(n >= tile_rows ? 0xffffu : (1u << n) - 1u);
}

// The software pipeline of one C tile over nb blocks (see the top of the file):
// step i issues block i's tile work (st.issue<P>(i), P = i & 1: the tile set)
// and then block i - lag's float steps (st.epilogue(i - lag, acc)), whose C
// the tiles stored `lag` steps before. The 16 accumulator rows stay in
// registers: read from out (rows x the tile's lanes; zero when `first`),
// written back at the end. Both AMX bodies (this one and the tiled K-quant
// layout's, formats/detail/x86/tiled_kquant_amx.hpp) are a Step.
template <class Step>
LOWBIT_AMX_BODY_INLINE void pipeline(Step& st, std::size_t nb, std::size_t rows, __mmask16 lanes, bool first, float* out,
                                     std::size_t ld) {
    v::vf acc[group_rows];
    LOWBIT_UNROLL
    for (std::size_t m = 0; m < group_rows; ++m) acc[m] = !first && m < rows ? _mm512_maskz_loadu_ps(lanes, out + m * ld) : v::zero_f();
    for (std::size_t i = 0; i < nb + lag; ++i) {
        if (i < nb) {
            if (i & 1) st.template issue<1>(i);
            else st.template issue<0>(i);
        }
        if (i >= lag) st.epilogue(i - lag, acc);
    }
    LOWBIT_UNROLL
    for (std::size_t m = 0; m < group_rows; ++m)
        if (m < rows) _mm512_mask_storeu_ps(out + m * ld, lanes, acc[m]);
}

// Block e's float steps for the group's rows: the avx512vnni body's, operation for
// operation. All 16 rows, without a branch per row: a group of fewer rows
// computes the others from zeroed C rows and dx = 0 and never stores them.
template <class S>
LOWBIT_AMX_BODY_INLINE void epilogue(const std::int32_t (*c)[group_rows], const row_group& a, std::size_t e, v::vf s, v::vi z,
                                     v::vf (&acc)[group_rows]) {
    LOWBIT_UNROLL
    for (std::size_t m = 0; m < group_rows; ++m) {
        v::vi A = v::load(c[m]);
        if constexpr (!signed_weights<S>) A = v::sub32(A, v::mul32(z, v::set1_32(a.zq[m][e])));
        acc[m] = v::fma(v::cvt(A), v::mul(s, v::set1_f(a.dx[m][e])), acc[m]);
    }
}

// This body's Step for pipeline(): block i's dot product from the unpacked
// strip (or the codes in place), the scale group's s, z kept across epilogues.
template <class S, class Tiles>
struct ti8_step {
    Tiles& tm;
    const tiled_view<S>& w;
    std::size_t t, b0, bpg;
    const std::uint8_t (*wb)[tile_quads][64];
    const row_group& a;
    std::size_t g, left;  // the scale group of the next epilogue, its blocks left
    v::vf s;
    v::vi z;
    std::int32_t (*c)[group_rows][group_rows];  // C buffers [block % ring][activation row][weight row]
    template <int P>
    LOWBIT_AMX_BODY_INLINE void issue(std::size_t i) {
        const std::uint8_t* bq = wb ? wb[i][0] : w.block(t, b0 + i);
        amx::issue<signed_weights<S>, P>(tm, a.q + i * tile_block, a.qs, bq, c[i % ring][0]);
    }
    LOWBIT_AMX_BODY_INLINE void epilogue(std::size_t e, v::vf (&acc)[group_rows]) {
        if (left == 0) {
            ++g;
            left = bpg;
            v::scale_zero(w, t, g, 0, s, z);
        }
        --left;
        amx::epilogue<S>(c[e % ring], a, e, s, z, acc);
    }
};

// One C tile: the group's rows against weight tile t over strip blocks [b0, b0 + nb)
// (wb: the unpacked strip, or null to read the codes in place), accumulating into
// out (rows x the tile's columns; started from zero when `first`).
template <class S, class Tiles>
LOWBIT_AMX_BODY_TGT void c_tile(Tiles& tm, const tiled_view<S>& w, std::size_t t, std::size_t b0, std::size_t nb, std::size_t bpg,
                                const std::uint8_t (*wb)[tile_quads][64], const row_group& a, bool first, float* out,
                                std::size_t ld) {
    alignas(64) std::int32_t c[ring][group_rows][group_rows];
    if (a.rows < group_rows) std::memset(c, 0, sizeof c);  // the rows the tile stores do not write
    ti8_step<S, Tiles> st{tm, w, t, b0, bpg, wb, a, b0 / bpg, bpg - b0 % bpg, v::zero_f(), v::zero_i(), c};
    v::scale_zero(w, t, st.g, 0, st.s, st.z);
    pipeline(st, nb, a.rows, tile_lanes(w.rows, t), first, out + t * tile_rows, ld);
}

// The tile shapes for groups of `rows` activation rows (see "Tiles" above).
inline amx_tile_config group_config(std::size_t rows) noexcept {
    const int rw = static_cast<int>(rows);
    amx_tile_config cfg;
    for (int p = 0; p < 2; ++p) {
        cfg.set(p, rw, static_cast<int>(tile_block));
        cfg.set(2 + p, static_cast<int>(tile_quads), 64);
        cfg.set(4 + p, rw, static_cast<int>(group_rows * sizeof(std::int32_t)));
    }
    return cfg;
}

// Activation rows [0, groups * rows) in groups of `rows` (a configuration of
// that many rows is loaded) against tiles [t0, t1). even: the rows' codes are
// evenly spaced (the workspace's layout); else each group's strip of codes is
// gathered first. Their dx (and zq) are copied per group and strip either way.
template <class S, class Tiles>
LOWBIT_AMX_BODY_TGT void groups_pass(Tiles& tm, const tiled_view<S>& w, std::size_t t0, std::size_t t1, const tact_i8* a,
                                     std::size_t groups, std::size_t rows, float* out, std::size_t ld, std::size_t strip, bool even) {
    const std::size_t bpg = w.blocks_per_group ? w.blocks_per_group : w.blocks;
    alignas(64) std::uint8_t wb[amx_strip_blocks][tile_quads][64];
    alignas(64) std::int8_t gq[group_rows][amx_strip_blocks * tile_block];
    alignas(64) float gdx[group_rows][amx_strip_blocks] = {};
    alignas(64) std::int32_t gzq[group_rows][amx_strip_blocks] = {};
    const std::size_t qs = rows > 1 ? static_cast<std::size_t>(a[1].q - a[0].q) : tile_block;
    for (std::size_t b0 = 0; b0 < w.blocks; b0 += strip) {
        const std::size_t nb = w.blocks - b0 < strip ? w.blocks - b0 : strip;
        for (std::size_t t = t0; t < t1; ++t) {
            if (t * tile_rows >= w.rows) break;  // no rows: nothing to write
            if constexpr (signed_weights<S>) unpack_strip(w, t, t1, b0, nb, bpg, wb);
            for (std::size_t h = 0; h < groups; ++h) {
                const tact_i8* ah = a + h * rows;
                for (std::size_t m = 0; m < rows; ++m) copy_steps<!signed_weights<S>>(ah[m], b0, nb, gdx[m], gzq[m]);
                row_group rg{ah[0].q + b0 * tile_block, qs, gdx, gzq, rows};
                if (!even) {
                    for (std::size_t m = 0; m < rows; ++m) std::memcpy(gq[m], ah[m].q + b0 * tile_block, nb * tile_block);
                    rg.q = gq[0];
                    rg.qs = sizeof gq[0];
                }
                c_tile<S>(tm, w, t, b0, nb, bpg, signed_weights<S> ? wb : nullptr, rg, b0 == 0, out + h * rows * ld, ld);
            }
        }
    }
}

// The row split of every AMX tile body (this file's, amx_bf16_body.hpp's,
// formats' tiled_kquant_amx.hpp's): activation rows [0, M) for tiles [t0, t1).
// If M >= min_rows, every whole group of 16 rows is one Pass over the tiles
// (with the tile shapes Config(16) loaded), then the rest (fewer than 16)
// another if at least min_rows; the rows left run on Rest, the arch's body
// without tiles. The A tile reads each row at one stride: `even` tells Pass
// whether the rows (Row: the activation member that points at a row) lie one
// stride apart, as the workspace lays them out; other callers' rows are
// gathered. strip: blocks per strip, 1..StripBlocks (the library passes the
// largest). Pass, Rest and Config are template arguments: direct calls.
template <auto Config, auto Pass, auto Rest, auto Row, std::size_t StripBlocks, class Tiles, class W, class Act>
LOWBIT_AMX_BODY_INLINE void tiles_by_row_groups(const W& w, std::size_t t0, std::size_t t1, const Act* a, std::size_t M, float* out,
                                                std::size_t ld, std::size_t min_rows, std::size_t strip) {
    if (strip == 0 || strip > StripBlocks) strip = StripBlocks;
    std::size_t m = 0;
    if (M >= min_rows && M > 0 && t0 < t1) {
        const std::ptrdiff_t stride = M > 1 ? a[1].*Row - a[0].*Row : static_cast<std::ptrdiff_t>(tile_block);
        bool even = stride >= static_cast<std::ptrdiff_t>(tile_block);
        for (std::size_t i = 2; even && i < M; ++i) even = a[i].*Row == a[0].*Row + static_cast<std::ptrdiff_t>(i) * stride;
        const std::size_t groups = M / group_rows;
        Tiles tm;
        if (groups) {
            tm.configure(Config(group_rows));
            Pass(tm, w, t0, t1, a, groups, group_rows, out, ld, strip, even);
            m = groups * group_rows;
        }
        if (M > m && M - m >= min_rows) {  // the rest, fewer than 16 rows
            tm.configure(Config(M - m));
            Pass(tm, w, t0, t1, a + m, 1, M - m, out + m * ld, ld, strip, even);
            m = M;
        }
        tm.release();  // leaves the tile state in its init state (cheaper context switches)
    }
    if (m < M) Rest(w, t0, t1, a + m, M - m, out + m * ld, ld);
}

// The rows the tiles leave: the avx512vnni body (of the plain tiled layout:
// no codebook table).
template <class S>
LOWBIT_AMX_BODY_INLINE void ti8_rest(const tiled_view<S>& w, std::size_t t0, std::size_t t1, const tact_i8* a, std::size_t M, float* out,
                                     std::size_t ld) {
    avx512vnni::ti8_tiles<S>(w, t0, t1, a, M, out, ld);
}

// All activation rows [0, M) for tiles [t0, t1) (tiles_by_row_groups), the
// rest on the avx512vnni body. The library runs it on amx_hw, the real tile
// instructions, with min_rows = amx_min_rows.
template <class S, class Tiles>
LOWBIT_AMX_BODY_TGT void ti8_tiles_on(const tiled_view<S>& w, std::size_t t0, std::size_t t1, const tact_i8* a, std::size_t M,
                                      float* out, std::size_t ld, std::size_t min_rows, std::size_t strip = amx_strip_blocks) {
    tiles_by_row_groups<group_config, groups_pass<S, Tiles>, ti8_rest<S>, &tact_i8::q, amx_strip_blocks, Tiles>(
        w, t0, t1, a, M, out, ld, min_rows, strip);
}

#undef LOWBIT_AMX_BODY_INLINE
#undef LOWBIT_AMX_BODY_TGT

}  // namespace amx
}  // namespace kdetail
}  // namespace lowbit
