// lowbit/kernels/detail/x86/amx_bf16_body.hpp — the bf16_dot path of arch::amx
// on the tiled layout: AMX-BF16 tile dot products (tdpbf16ps) for each block's
// sums, the vdpbf16ps body's float step for the rest (docs/kernels.md, "The
// AMX-BF16 body"). Model and contract: detail/tiled_blocks.hpp ("bf16 path").
//
// Why the tiled layout fits: the vdpbf16ps body (x86/bf16_body.hpp) widens a
// block of one weight tile into 16 vectors of bf16 pairs, vector 2j pairing
// columns (4j, 4j+2) and vector 2j+1 columns (4j+1, 4j+3) of every weight row
// (lane i = row i). Each such vector is one row of an AMX-BF16 B operand in
// its pair format (K/2 rows of N x 2 bf16): the 16 vectors of a block are a B
// tile of 16 rows x 64 bytes (16 weight rows x 32 codes). The prepared
// activations (prepare_tbf16 / prep_bf16: every 4 columns stored as
// x0 x2 x1 x3) put the matching pair in dword k of a row, so 16 activation
// rows of one block are an A tile of rows x 64 bytes, read in place from the
// workspace. One tdpbf16ps gives the 16 x 16 f32 block sums P_b; the float
// step is acc = fma(P_b, s, acc) per block in block order, as in the
// vdpbf16ps body and the model. Codes minus the zero point are integers of at
// most 8 significant bits (or +-1/2 for 1-bit symmetric): exact in bf16.
//
// Exactness: every product of two bf16 is exact in f32, so only the sums can
// differ from the model. The SDM defines tdpbf16ps per output element as two
// f32 chains over the dword pairs (element 0 of each pair, element 1 of each
// pair, each an RNE FMA with denormal inputs read as zero and denormal results
// flushed to zero), then their sum, then that sum added to C. With C zeroed
// per block that is P_b summed in another order than the model's column order
// (columns 0 1 4 5 8 9 ... in one chain, 2 3 6 7 ... in the other), and with
// flushing of subnormal partial sums: the contract is the vdpbf16ps body's,
// "the model up to the order of the f32 sums" (a flushed subnormal is below
// 2^-126 each, far inside the tests' absolute slack). On the SDM's definition
// (tests/amx_emulated.hpp) the body is bit-exact to that order, which
// tests/test_amx.cpp checks; whether a given CPU follows the definition's
// order is checked there too but only reported (it has no bearing on the
// contract).
//
// Structure: the int8 AMX body's (x86/amx_body.hpp), sharing its software
// pipeline (a Step: block i's tile loads, dot product and C store issued
// `lag` blocks before its float step, tile sets alternating), its loop order
// (strips of blocks outer, weight tiles, groups of 16 activation rows inner)
// and its row rules: a call of fewer than min_rows rows, and the rest after
// the groups of 16 if fewer than min_rows, run on the vdpbf16ps body. The
// weights are widened once per (strip, weight tile) into an L1 buffer (16
// blocks x 1 KiB) reused by every row group; the scales of the strip's blocks
// are kept beside them. The epilogue is 2 vector operations per row (load C,
// FMA): cheaper than the int8 body's.
//
// Unlike the int8 AMX body (bit-exact to avx512vnni's), this body's sums are
// in another order than the vdpbf16ps body's, so on an AMX machine a GEMM row
// that runs on the tiles can differ from the same row run alone (GEMV, or a
// call of fewer than min_rows rows) by the order of the f32 sums; results do
// not depend on the thread count (tasks split the weight rows, never M).
//
// Tiles (palette 1): tmm0/tmm1 = A, tmm2/tmm3 = B, tmm4/tmm5 = C of even/odd blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../../../core/detail/x86_intrin.hpp"

// (x86/amx_body.hpp and x86/bf16_body.hpp, whose pipeline, tiles and widening
// this uses, are included before by entries.hpp)

namespace lowbit {
namespace kdetail {
namespace amx {

// The union of what it inlines: the shared pipeline (amx_body.hpp's target),
// the widening (bf16_body.hpp's). tdpbf16ps is inline asm (amx_tiles.hpp).
#define LOWBIT_AMXBF_TGT \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512bf16,amx-tile,amx-int8")))
#define LOWBIT_AMXBF_STEP \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,amx-tile,amx-int8"), always_inline)) inline

// Activation rows below which a call (or the rest after the groups of 16) runs
// on the vdpbf16ps body. Measured on a 16-core Emerald Rapids (session 25,
// lowbit_bench_amx amx-bf16 w4g32 4096x4096, ms at 1 / 16 threads): the tiles
// at M = 16 take 2.64 / 0.272 where the vdpbf16ps body takes 7.97 / 0.655 at
// M = 16, 4.34 / 0.409 at M = 8 and 2.63 / 0.298 at M = 4; a partly filled
// group of 16 costs the tiles no more than a full one (the same widened
// weights, fewer rows loaded), so they win from about 5 rows on. 8: the
// vdpbf16ps body keeps M <= 7, where the two are level or it is ahead.
constexpr std::size_t bf16_min_rows = 8;
// Blocks per strip (at most; tests pass fewer): 16 KiB of widened weights in L1.
constexpr std::size_t bf16_strip_blocks = 16;

// One group's activation rows for the blocks of a strip: row m's words of
// strip block e at x + m*xs (bytes) + 64e. Rows past `rows` are not loaded.
struct bf16_group {
    const std::uint16_t* x;
    std::size_t xs;  // bytes between rows
    std::size_t rows;
};

// Blocks [b0, b0 + nb) of weight tile t as B tiles (the vdpbf16ps body's
// widening), and their scale vectors.
template <class S>
LOWBIT_AMXBF_TGT void widen_strip(const tiled_view<S>& w, std::size_t t, std::size_t t1, std::size_t b0, std::size_t nb,
                                  __m512i (*wb)[16], __m512* sb) {
    namespace tl = avx512::tl;
    for (std::size_t e = 0; e < nb; ++e) {
        // The next weight tile's same strip comes next: a jump the hardware prefetcher does not follow.
        if (t + 1 < t1)
            for (int l = 0; l < S::bits; ++l) _mm_prefetch(reinterpret_cast<const char*>(w.block(t + 1, b0 + e) + 64 * l), _MM_HINT_T0);
        __m512 s;
        __m512i z;
        tl::scale_zero(w, t, w.group_of_block(b0 + e), 0, s, z);
        __m512 zf = _mm512_setzero_ps();
        if constexpr (!S::is_symmetric) zf = tl::cvt(z);
        else if constexpr (S::bits == 1) zf = _mm512_set1_ps(0.5f);
        sb[e] = s;
        avx512bf16::tb::widen_block<S>(w.block(t, b0 + e), zf, wb[e]);
    }
}

// This body's Step for pipeline() (amx_body.hpp): block i's dot product from
// the widened strip, its float step with the block's scales.
template <class Tiles>
struct tbf16_step {
    Tiles& tm;
    const __m512i (*wb)[16];
    const __m512* sb;
    const bf16_group& a;
    float (*c)[group_rows][group_rows];  // C buffers [block % ring][activation row][weight row]
    template <int P>
    LOWBIT_AMXBF_STEP void issue(std::size_t i) {
        tm.template load<P>(a.x + i * tile_block, a.xs);
        tm.template load<2 + P>(wb[i], 64);
        tm.template zero<4 + P>();
        tm.template dp_bf16<4 + P, P, 2 + P>();
        tm.template store<4 + P>(c[i % ring][0], group_rows * sizeof(float));
    }
    LOWBIT_AMXBF_STEP void epilogue(std::size_t e, v::vf (&acc)[group_rows]) {
        const v::vf s = _mm512_load_ps(reinterpret_cast<const float*>(sb + e));
        const float(*ce)[group_rows] = c[e % ring];
        LOWBIT_UNROLL
        for (std::size_t m = 0; m < group_rows; ++m) acc[m] = _mm512_fmadd_ps(_mm512_load_ps(ce[m]), s, acc[m]);
    }
};

// The tile shapes for groups of `rows` activation rows.
inline amx_tile_config bf16_group_config(std::size_t rows) noexcept {
    const int rw = static_cast<int>(rows);
    amx_tile_config cfg;
    for (int p = 0; p < 2; ++p) {
        cfg.set(p, rw, 64);          // A: rows x 16 bf16 pairs
        cfg.set(2 + p, 16, 64);      // B: 16 pair rows x 16 weight rows
        cfg.set(4 + p, rw, 64);      // C: rows x 16 f32
    }
    return cfg;
}

// Activation rows [0, groups * rows) in groups of `rows` (a configuration of
// that many rows is loaded) against tiles [t0, t1). even: the rows' words are
// evenly spaced (the workspace's layout); else each group's strip is gathered.
template <class S, class Tiles>
LOWBIT_AMXBF_TGT void bf16_groups_pass(Tiles& tm, const tiled_view<S>& w, std::size_t t0, std::size_t t1, const tact_bf16* a,
                                       std::size_t groups, std::size_t rows, float* out, std::size_t ld, std::size_t strip, bool even) {
    alignas(64) __m512i wb[bf16_strip_blocks][16];
    alignas(64) __m512 sb[bf16_strip_blocks];
    alignas(64) std::uint16_t gx[group_rows][bf16_strip_blocks * tile_block];
    alignas(64) float c[ring][group_rows][group_rows];
    if (rows < group_rows) std::memset(c, 0, sizeof c);  // the rows the tile stores do not write
    const std::size_t xs = rows > 1 ? static_cast<std::size_t>(a[1].x - a[0].x) * sizeof(std::uint16_t) : 64;
    for (std::size_t b0 = 0; b0 < w.blocks; b0 += strip) {
        const std::size_t nb = w.blocks - b0 < strip ? w.blocks - b0 : strip;
        for (std::size_t t = t0; t < t1; ++t) {
            if (t * tile_rows >= w.rows) break;  // no rows: nothing to write
            widen_strip(w, t, t1, b0, nb, wb, sb);
            for (std::size_t h = 0; h < groups; ++h) {
                const tact_bf16* ah = a + h * rows;
                bf16_group g{ah[0].x + b0 * tile_block, xs, rows};
                if (!even) {
                    for (std::size_t m = 0; m < rows; ++m) std::memcpy(gx[m], ah[m].x + b0 * tile_block, nb * tile_block * sizeof(std::uint16_t));
                    g.x = gx[0];
                    g.xs = sizeof gx[0];
                }
                tbf16_step<Tiles> st{tm, wb, sb, g, c};
                pipeline(st, nb, rows, tile_lanes(w.rows, t), b0 == 0, out + h * rows * ld + t * tile_rows, ld);
            }
        }
    }
}

// All activation rows [0, M) for tiles [t0, t1) (amx_body.hpp's
// tiles_by_row_groups), the rest on the vdpbf16ps body. The library runs it
// on amx_hw, the real tile instructions, with min_rows = bf16_min_rows.
template <class S, class Tiles>
LOWBIT_AMXBF_TGT void tbf16_tiles_on(const tiled_view<S>& w, std::size_t t0, std::size_t t1, const tact_bf16* a, std::size_t M,
                                     float* out, std::size_t ld, std::size_t min_rows, std::size_t strip = bf16_strip_blocks) {
    tiles_by_row_groups<bf16_group_config, bf16_groups_pass<S, Tiles>, avx512bf16::tbf16_tiles<S>, &tact_bf16::x, bf16_strip_blocks, Tiles>(
        w, t0, t1, a, M, out, ld, min_rows, strip);
}

#undef LOWBIT_AMXBF_STEP
#undef LOWBIT_AMXBF_TGT

}  // namespace amx
}  // namespace kdetail
}  // namespace lowbit
