// lowbit/kernels/detail/x86/bf16_body.hpp — the bf16_dot path on the tiled
// layout with AVX512_BF16 (vdpbf16ps: per f32 lane, two bf16 products added
// to the accumulator). Math and the model: detail/tiled_blocks.hpp ("bf16
// path"); docs/kernels.md, "The bf16 path".
//
// Why a buffer: the f32 path's small-M body widens every code once per
// activation row block (8 rows on zmm), so at M = 256 it would convert each
// code 32 times (its panel body, from 64 rows, widens to floats once per panel
// like this one), and it issues one FMA per code and row. Here the codes of a few blocks of one tile are widened
// once to bf16 pairs into an 8 KiB stack buffer (codes minus the zero point,
// exact: at most 8 significant bits) and then serve up to 128 activation
// rows, 12 at a time: per 64-byte weight vector one load and 12 vdpbf16ps with
// the activation pair broadcast from memory, i.e. 32 multiply-adds per
// instruction instead of 16, and the widening cost divided by the rows. Since
// session 25 the tiles of a task go two at a time (16 KiB of widened blocks):
// each broadcast pair feeds both tiles' weight vectors, 24 independent chains
// for 12 rows (rows_pass2); an odd last tile runs alone (rows_pass).
//
// Included by kernels/detail/entries.hpp after x86/kernels.hpp: the unpacking
// helpers are avx512::tl's (always_inline, for a subset of this target).
#pragma once

#include <cstddef>
#include <cstdint>

#include "../../../core/detail/x86_intrin.hpp"
#include "../tiled_blocks.hpp"
// (x86/kernels.hpp, whose avx512::tl this uses, is included before by entries.hpp)

namespace lowbit {
namespace kdetail {
namespace avx512bf16 {

#define LOWBIT_BF16_TGT __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))
#define LOWBIT_BF16_INLINE LOWBIT_BF16_TGT __attribute__((always_inline)) inline

namespace tb {

using vi = __m512i;
using vf = __m512;
// Blocks of one tile widened at once: 8 x 16 vectors = 8 KiB (two tiles: 16
// KiB), in L1 with the activations and the accumulators.
constexpr std::size_t chunk_blocks = 8;
// Activation rows whose accumulators (16 floats each, 8 KiB) stay on the stack
// while the chunks of a tile stream: the widening is paid once per 128 rows.
constexpr std::size_t rows_per_pass = 128;
// Tiles whose accumulators a pass keeps (4 x 8 KiB): a task's 64 weight rows.
constexpr std::size_t task_tiles = 4;

// bf16 pair vector from two f32 vectors of integers (exact in bf16, so the high
// halves are their bf16 values): word 2i = lo lane i, word 2i+1 = hi lane i.
LOWBIT_BF16_INLINE vi pair(vf lo, vf hi) {
    return _mm512_mask_blend_epi16(0xAAAAAAAAu, _mm512_maskz_srli_epi32(0xffff, _mm512_castps_si512(lo), 16), _mm512_castps_si512(hi));
}

// Block of one tile -> 16 pair vectors: out[2j] pairs columns (4j, 4j+2),
// out[2j+1] columns (4j+1, 4j+3), as prepare_tbf16 orders the activations.
template <class S>
LOWBIT_BF16_INLINE void widen_block(const std::uint8_t* p, vf zf, vi* out) {
    namespace tl = avx512::tl;
    constexpr int B = S::bits;
    vi v[8];
    tl::unpack_block<B>(p, v);
    if constexpr (S::is_symmetric && B >= 2)
        LOWBIT_UNROLL
        for (auto& q : v) q = tl::sub8(q, tl::set1_8(1 << (B - 1)));
    LOWBIT_UNROLL
    for (int j = 0; j < 8; ++j) {
        _mm512_store_si512(out + 2 * j, pair(tl::code_lane<S, 0>(v[j], zf), tl::code_lane<S, 2>(v[j], zf)));
        _mm512_store_si512(out + 2 * j + 1, pair(tl::code_lane<S, 1>(v[j], zf), tl::code_lane<S, 3>(v[j], zf)));
    }
}

LOWBIT_BF16_INLINE vf dot(vf acc, vi w, std::int32_t xpair) {
    return _mm512_dpbf16_ps(acc, (__m512bh)w, (__m512bh)_mm512_set1_epi32(xpair));
}

// MB activation rows against nblk widened blocks: per block P_b from zero, 16
// vdpbf16ps in vector order, then acc = fma(P_b, s_b, acc). Every MB does the
// same operations per row, so GEMM row m equals GEMV of row m bit for bit (one
// chain per row even at MB = 1: the blocks' chains are independent, and
// out-of-order execution overlaps them). x[m]: row m's pairs at the chunk's
// first block.
template <int MB>
LOWBIT_BF16_INLINE void rows_pass(const vi* wb, const vf* sb, std::size_t nblk, const std::int32_t* const* x, float* accs, bool first) {
    constexpr int split = 1;
    vf acc[MB];
    LOWBIT_UNROLL
    for (int m = 0; m < MB; ++m) acc[m] = first ? _mm512_setzero_ps() : _mm512_load_ps(accs + 16 * m);
    for (std::size_t b = 0; b < nblk; ++b) {
        vf P[split][MB];
        LOWBIT_UNROLL
        for (int c = 0; c < split; ++c)
            LOWBIT_UNROLL
            for (int m = 0; m < MB; ++m) P[c][m] = _mm512_setzero_ps();
        const vi* wv = wb + 16 * b;
        LOWBIT_UNROLL
        for (int k = 0; k < 16; ++k) {
            const vi w = _mm512_load_si512(wv + k);
            LOWBIT_UNROLL
            for (int m = 0; m < MB; ++m) P[k % split][m] = dot(P[k % split][m], w, x[m][16 * b + k]);
        }
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) {
            const vf p = split > 1 ? _mm512_add_ps(P[0][m], P[split - 1][m]) : P[0][m];
            acc[m] = _mm512_fmadd_ps(p, sb[b], acc[m]);
        }
    }
    LOWBIT_UNROLL
    for (int m = 0; m < MB; ++m) _mm512_store_ps(accs + 16 * m, acc[m]);
}

// The same operations per row and block for two tiles at once (widened blocks
// wb[0] and wb[1], scales sb[0] and sb[1]; row m's running sums at accs + 16 m
// for the first tile and pair_gap floats further for the second): each
// activation pair is broadcast once for both tiles' weight vectors, so MB = 12
// runs 24 independent vdpbf16ps chains with 14 loads per 24 of them, where
// rows_pass runs 12 chains with 13 loads per 12. In a scratch loop on the
// Zen 5 here (weights and activations in L1) 12 chains with the broadcast
// from memory reach 5.5-5.8 G vdpbf16ps/s, 24 chains sharing each broadcast
// 6.6-6.7 G/s, its peak. The running sums live in accs between blocks (the
// 24 P_b fill the registers): a load, acc = fma(P_b, s_b, acc) and a store
// per row, tile and block, the FMA that rows_pass performs in registers.
constexpr std::size_t pair_gap = rows_per_pass * 16;
// Calls of fewer rows keep one tile at a time (rows_pass). Measured on the
// Zen 5 here (1 thread, 4096 x 4096 w4g32, four alternating rounds): pairs
// took 0.74-0.99 of the single-tile time at M = 6, 0.80-0.98 at 8 and 0.78-1.15
// at 16, but 0.87-1.13 at M = 4 (1.15-1.39 in an earlier run) and 0.89-1.18
// at M = 1.
constexpr std::size_t pair_min_rows = 6;
template <int MB>
LOWBIT_BF16_INLINE void rows_pass2(const vi* const* wb, const vf* const* sb, std::size_t nblk, const std::int32_t* const* x, float* accs,
                                   bool first) {
    for (std::size_t b = 0; b < nblk; ++b) {
        vf P0[MB], P1[MB];
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) P0[m] = P1[m] = _mm512_setzero_ps();
        const vi* wv0 = wb[0] + 16 * b;
        const vi* wv1 = wb[1] + 16 * b;
        LOWBIT_UNROLL
        for (int k = 0; k < 16; ++k) {
            const vi w0 = _mm512_load_si512(wv0 + k), w1 = _mm512_load_si512(wv1 + k);
            LOWBIT_UNROLL
            for (int m = 0; m < MB; ++m) {
                const __m512bh xp = (__m512bh)_mm512_set1_epi32(x[m][16 * b + k]);
                P0[m] = _mm512_dpbf16_ps(P0[m], (__m512bh)w0, xp);
                P1[m] = _mm512_dpbf16_ps(P1[m], (__m512bh)w1, xp);
            }
        }
        const bool zero = first && b == 0;
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) {
            float* a0 = accs + 16 * m;
            float* a1 = a0 + pair_gap;
            _mm512_store_ps(a0, _mm512_fmadd_ps(P0[m], sb[0][b], zero ? _mm512_setzero_ps() : _mm512_load_ps(a0)));
            _mm512_store_ps(a1, _mm512_fmadd_ps(P1[m], sb[1][b], zero ? _mm512_setzero_ps() : _mm512_load_ps(a1)));
        }
    }
}

template <int MB>
LOWBIT_BF16_INLINE void rows_pass2_at(const vi* const* wb, const vf* const* sb, std::size_t nblk, const kdetail::tact_bf16* a,
                                      std::size_t c0, float* accs, bool first) {
    const std::int32_t* x[MB];
    LOWBIT_UNROLL
    for (int m = 0; m < MB; ++m) x[m] = reinterpret_cast<const std::int32_t*>(a[m].x + c0 * tile_block);
    rows_pass2<MB>(wb, sb, nblk, x, accs, first);
}

template <int MB>
LOWBIT_BF16_INLINE void rows_pass_at(const vi* wb, const vf* sb, std::size_t nblk, const kdetail::tact_bf16* a, std::size_t c0,
                                     float* accs, bool first) {
    const std::int32_t* x[MB];
    LOWBIT_UNROLL
    for (int m = 0; m < MB; ++m) x[m] = reinterpret_cast<const std::int32_t*>(a[m].x + c0 * tile_block);
    rows_pass<MB>(wb, sb, nblk, x, accs, first);
}

}  // namespace tb

// Tiles [t0, t1) against activation rows [0, M), up to task_tiles tiles at a
// time: the loop over those tiles is inside the loop over the chunks, so a
// chunk of the rows' activations (128 rows x 512 bytes) is read from memory
// once and from L2 by the other tiles (all rows' whole length, 8 KiB each at
// K = 4096, does not stay in L2 across tiles).
template <class S>
LOWBIT_BF16_TGT inline void tbf16_tiles(const tiled_view<S>& w, std::size_t t0, std::size_t t1, const kdetail::tact_bf16* a,
                                        std::size_t M, float* out, std::size_t ld) {
    namespace tl = avx512::tl;
    alignas(64) tb::vi wb[2][tb::chunk_blocks * 16];
    alignas(64) tb::vf sb[2][tb::chunk_blocks];
    alignas(64) float accs[tb::task_tiles * tb::rows_per_pass * 16];
    const std::size_t pair_step = M >= tb::pair_min_rows ? 2 : 1;
    for (std::size_t tg = t0; tg < t1; tg += tb::task_tiles) {
        const std::size_t tn = t1 - tg < tb::task_tiles ? t1 - tg : tb::task_tiles;
        for (std::size_t m0 = 0; m0 < M; m0 += tb::rows_per_pass) {
            const std::size_t mc = M - m0 < tb::rows_per_pass ? M - m0 : tb::rows_per_pass;
            const kdetail::tact_bf16* am = a + m0;
            for (std::size_t c0 = 0; c0 < w.blocks; c0 += tb::chunk_blocks) {
                const std::size_t nblk = w.blocks - c0 < tb::chunk_blocks ? w.blocks - c0 : tb::chunk_blocks;
                const bool first = c0 == 0;
                // Tiles two at a time (rows_pass2), a last odd one alone (rows_pass).
                for (std::size_t ti = 0; ti < tn; ti += pair_step) {
                    const std::size_t pair = pair_step == 2 && tn - ti >= 2 ? 2 : 1;
                    for (std::size_t h = 0; h < pair; ++h) {
                        const std::size_t t = tg + ti + h;
                        for (std::size_t b = 0; b < nblk; ++b) {
                            tb::vf s;
                            tb::vi z;
                            tl::scale_zero(w, t, w.group_of_block(c0 + b), 0, s, z);
                            tb::vf zf = _mm512_setzero_ps();
                            if constexpr (!S::is_symmetric) zf = tl::cvt(z);
                            else if constexpr (S::bits == 1) zf = _mm512_set1_ps(0.5f);
                            sb[h][b] = s;
                            tb::widen_block<S>(w.block(t, c0 + b), zf, wb[h] + 16 * b);
                        }
                    }
                    float* acc_t = accs + ti * tb::rows_per_pass * 16;
                    std::size_t m = 0;
                    if (pair == 2) {
                        const tb::vi* wbp[2] = {wb[0], wb[1]};
                        const tb::vf* sbp[2] = {sb[0], sb[1]};
                        for (; m + 12 <= mc; m += 12) tb::rows_pass2_at<12>(wbp, sbp, nblk, am + m, c0, acc_t + 16 * m, first);
                        for (; m + 8 <= mc; m += 8) tb::rows_pass2_at<8>(wbp, sbp, nblk, am + m, c0, acc_t + 16 * m, first);
                        for (; m + 4 <= mc; m += 4) tb::rows_pass2_at<4>(wbp, sbp, nblk, am + m, c0, acc_t + 16 * m, first);
                        for (; m < mc; ++m) tb::rows_pass2_at<1>(wbp, sbp, nblk, am + m, c0, acc_t + 16 * m, first);
                    } else {
                        for (; m + 12 <= mc; m += 12) tb::rows_pass_at<12>(wb[0], sb[0], nblk, am + m, c0, acc_t + 16 * m, first);
                        for (; m + 4 <= mc; m += 4) tb::rows_pass_at<4>(wb[0], sb[0], nblk, am + m, c0, acc_t + 16 * m, first);
                        for (; m < mc; ++m) tb::rows_pass_at<1>(wb[0], sb[0], nblk, am + m, c0, acc_t + 16 * m, first);
                    }
                }
            }
            for (std::size_t ti = 0; ti < tn; ++ti) {
                const std::size_t r = (tg + ti) * tile_rows;
                if (r >= w.rows) continue;
                const float* acc_t = accs + ti * tb::rows_per_pass * 16;
                for (std::size_t m = 0; m < mc; ++m) tl::store_n(out + (m0 + m) * ld + r, _mm512_load_ps(acc_t + 16 * m), w.rows - r);
            }
        }
    }
}

// The activation preparation of tbf16_tiles: prepare_tbf16's words, bit for
// bit (the same integer rounding, 16 lanes at a time).
LOWBIT_BF16_TGT inline void prep_bf16(const float* x, const std::int32_t* perm, std::size_t K, std::size_t blocks, std::uint16_t* xw) {
    alignas(64) float xb[tile_block];
    alignas(64) static constexpr std::uint16_t order[32] = {0,  2,  1,  3,  4,  6,  5,  7,  8,  10, 9,  11, 12, 14, 13, 15,
                                                            16, 18, 17, 19, 20, 22, 21, 23, 24, 26, 25, 27, 28, 30, 29, 31};
    const __m512i idx = _mm512_load_si512(order);
    const __m512i sign_off = _mm512_set1_epi32(0x7fffffff), one = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7fff);
    const __m512i inf = _mm512_set1_epi32(0x7f800000), min_normal = _mm512_set1_epi32(0x00800000);
    const __m512i quiet = _mm512_set1_epi32(0x40), sign = _mm512_set1_epi32(0x8000);
    for (std::size_t b = 0; b < blocks; ++b) {
        const std::size_t c0 = b * tile_block, n = K - c0 < tile_block ? K - c0 : tile_block;
        const float* src = x + c0;
        if (perm || n < tile_block) {
            for (std::size_t i = 0; i < tile_block; ++i) xb[i] = i < n ? (perm ? x[perm[c0 + i]] : x[c0 + i]) : 0.0f;
            src = xb;
        }
        __m256i half[2];
        for (int h = 0; h < 2; ++h) {
            const __m512i u = _mm512_castps_si512(_mm512_loadu_ps(src + 16 * h));
            const __m512i a = _mm512_and_si512(u, sign_off), hi = _mm512_maskz_srli_epi32(0xffff, u, 16);
            __m512i r = _mm512_maskz_srli_epi32(0xffff, _mm512_add_epi32(u, _mm512_add_epi32(bias, _mm512_and_si512(hi, one))), 16);
            r = _mm512_mask_mov_epi32(r, _mm512_cmpgt_epu32_mask(a, inf), _mm512_or_si512(hi, quiet));
            r = _mm512_mask_mov_epi32(r, _mm512_cmplt_epu32_mask(a, min_normal), _mm512_and_si512(hi, sign));
            half[h] = _mm512_maskz_cvtepi32_epi16(0xffff, r);
        }
        // (maskz form: GCC 12 warns -Wmaybe-uninitialized inside the unmasked one)
        const __m512i words = _mm512_maskz_inserti64x4(0xff, _mm512_castsi256_si512(half[0]), half[1], 1);
        _mm512_storeu_si512(xw + c0, _mm512_permutexvar_epi16(idx, words));
    }
}

#undef LOWBIT_BF16_INLINE
#undef LOWBIT_BF16_TGT

}  // namespace avx512bf16
}  // namespace kdetail
}  // namespace lowbit
