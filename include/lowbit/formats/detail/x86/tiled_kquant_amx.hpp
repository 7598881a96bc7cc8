// lowbit/formats/detail/x86/tiled_kquant_amx.hpp — the int8 GEMM body of
// arch::amx on tiled K-quant weights (layout::tiled_kquant): AMX-INT8 tile dot
// products for the integer block sums, then the avx512vnni body's float steps
// (kdetail::kq_tile_scalar's) after each block's C tile, so the results equal
// the model bit for bit. docs/kernels.md, "The tiled K-quant layout".
//
// As in x86/amx_body.hpp, a block's 8 quad vectors are an AMX B operand in its
// VNNI format and the activation codes of 16 rows an A tile. The codes are
// unsigned but at most 63, so they are B as they are and tdpbssd forms the
// sums. Q4_K/Q5_K: one dot product a block (K = 32), C = A. Q6_K scales the
// two 16-column halves apart: two dot products of K = 16 (A tiles of 16
// bytes a row, B tiles of quad vectors 0-3 and 4-7), C0 and C1, and the
// epilogue adds -32 Q_h to each before the scales (the model's A_h - 32 Q_h).
//
// Simpler than the tiled layout's AMX body (no software pipelining, one C
// tile a block through memory): strips of up to 32 blocks are unpacked once
// per weight tile into an L1 buffer that every group of 16 activation rows
// reuses; between strips the accumulators live in `out` (exact). Calls of
// fewer than min_rows activation rows, and a rest of fewer than min_rows
// after the groups of 16, run on the avx512vnni body (same results).
//
// Private to formats/detail/tiled_kquant_entries.hpp; the Tiles parameter is
// kdetail::amx_hw in the library, amx_emulated in the tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../../../kernels/detail/tiled_kquant_blocks.hpp"
#include "../../../kernels/detail/x86/amx_tiles.hpp"
#include "../../../kernels/detail/x86/kernels.hpp"

namespace lowbit {
namespace kdetail {
namespace kq_amx {

#define LOWBIT_KQ_AMX_TGT __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,amx-tile,amx-int8")))

constexpr std::size_t min_rows = 64;       // as the tiled layout's AMX body (its M sweep)
constexpr std::size_t strip_blocks = 32;   // blocks unpacked at once (16 KiB)
constexpr std::size_t group = 16;          // activation rows per A / C tile

namespace v = avx512vnni::tl;

// Tile shapes: Q4_K/Q5_K tmm0 A (rows x 32 B), tmm2 B (8 x 64 B), tmm4 C;
// Q6_K tmm0/tmm1 A halves (rows x 16 B), tmm2/tmm3 B halves (4 x 64 B), tmm4/tmm5 C.
inline amx_tile_config config(int B, std::size_t rows) noexcept {
    const int r = static_cast<int>(rows);
    amx_tile_config c;
    if (B == 6) {
        for (int h = 0; h < 2; ++h) {
            c.set(h, r, 16);
            c.set(2 + h, 4, 64);
            c.set(4 + h, r, 64);
        }
    } else {
        c.set(0, r, 32);
        c.set(2, 8, 64);
        c.set(4, r, 64);
    }
    return c;
}

// One C tile: `rows` activation rows against weight tile t over strip blocks
// [b0, b0 + nb) unpacked in wb, accumulating into out. Row m's codes of block
// b0 + e are at q + m*qs + 32e.
template <int B, class Tiles>
LOWBIT_KQ_AMX_TGT void c_tile(Tiles& tm, const kq_view& w, std::size_t t, std::size_t b0, std::size_t nb,
                              const std::uint8_t (*wb)[tile_quads][64], const tact_i8* a, const std::int8_t* q, std::size_t qs,
                              std::size_t rows, bool first, float* out, std::size_t ld) {
    const std::size_t r = t * tile_rows, n = w.rows - r < tile_rows ? w.rows - r : tile_rows;
    const __mmask16 lanes = static_cast<__mmask16>(n >= tile_rows ? 0xffffu : (1u << n) - 1u);
    v::vf acc[group];
    for (std::size_t m = 0; m < rows; ++m) acc[m] = first ? v::zero_f() : _mm512_maskz_loadu_ps(lanes, out + m * ld + r);
    alignas(64) std::int32_t c[2][group][group];
    v::vf d = v::zero_f(), dmin = v::zero_f();
    for (std::size_t e = 0; e < nb; ++e) {
        const std::size_t b = b0 + e;
        if (e == 0 || b % kquant_blocks_per_super == 0) {
            d = v::kq_f16(w.scale_at(t, b / kquant_blocks_per_super, 0));
            if constexpr (B != 6) dmin = v::kq_f16(w.scale_at(t, b / kquant_blocks_per_super, 1));
        }
        const std::int8_t* aq = q + e * tile_block;
        if constexpr (B == 6) {
            tm.template load<0>(aq, qs);
            tm.template load<1>(aq + 16, qs);
            tm.template load<2>(wb[e][0], 64);
            tm.template load<3>(wb[e][4], 64);
            tm.template zero<4>();
            tm.template zero<5>();
            tm.template dp_ss<4, 0, 2>();
            tm.template dp_ss<5, 1, 3>();
            tm.template store<4>(c[0], group * sizeof(std::int32_t));
            tm.template store<5>(c[1], group * sizeof(std::int32_t));
            const v::vi s0 = v::kq_s8(w.sub_at(t, b, 0)), s1 = v::kq_s8(w.sub_at(t, b, 1));
            for (std::size_t m = 0; m < rows; ++m) {
                const v::vi A0 = v::add32(v::load(c[0][m]), v::set1_32(-32 * a[m].zq[2 * b]));
                const v::vi A1 = v::add32(v::load(c[1][m]), v::set1_32(-32 * a[m].zq[2 * b + 1]));
                const v::vi I = v::add32(v::mul32(s0, A0), v::mul32(s1, A1));
                acc[m] = v::fma(v::cvt(I), v::mul(d, v::set1_f(a[m].dx[b])), acc[m]);
            }
        } else {
            tm.template load<0>(aq, qs);
            tm.template load<2>(wb[e][0], 64);
            tm.template zero<4>();
            tm.template dp_ss<4, 0, 2>();
            tm.template store<4>(c[0], group * sizeof(std::int32_t));
            const v::vf Ds = v::mul(d, v::cvt(v::kq_u8(w.sub_at(t, b, 0)))), Dm = v::mul(dmin, v::cvt(v::kq_u8(w.sub_at(t, b, 1))));
            for (std::size_t m = 0; m < rows; ++m) {
                const v::vf Q = v::set1_f(static_cast<float>(a[m].zq[2 * b] + a[m].zq[2 * b + 1]));
                const v::vf val = v::fmsub(Ds, v::cvt(v::load(c[0][m])), v::mul(Dm, Q));
                acc[m] = v::fma(val, v::set1_f(a[m].dx[b]), acc[m]);
            }
        }
    }
    for (std::size_t m = 0; m < rows; ++m) _mm512_mask_storeu_ps(out + m * ld + r, lanes, acc[m]);
}

// Activation rows [0, groups * rows) in groups of `rows` against tiles [t0, t1).
template <int B, class Tiles>
LOWBIT_KQ_AMX_TGT void groups_pass(Tiles& tm, const kq_view& w, std::size_t t0, std::size_t t1, const tact_i8* a, std::size_t groups,
                                   std::size_t rows, float* out, std::size_t ld, std::size_t strip) {
    alignas(64) std::uint8_t wb[strip_blocks][tile_quads][64];
    alignas(64) std::int8_t gq[group][strip_blocks * tile_block];
    for (std::size_t b0 = 0; b0 < w.blocks; b0 += strip) {
        const std::size_t nb = w.blocks - b0 < strip ? w.blocks - b0 : strip;
        for (std::size_t t = t0; t < t1; ++t) {
            if (t * tile_rows >= w.rows) break;
            for (std::size_t e = 0; e < nb; ++e) {
                v::vi u[tile_quads];
                v::unpack_block<B>(w.block(t, b0 + e, B), u);
                for (std::size_t j = 0; j < tile_quads; ++j) _mm512_store_si512(wb[e][j], u[j]);
            }
            for (std::size_t h = 0; h < groups; ++h) {
                const tact_i8* ah = a + h * rows;
                // The A tile reads 32 (16) bytes of each row at one stride: the
                // workspace lays rows out evenly; other callers' rows are gathered.
                const std::ptrdiff_t qs = rows > 1 ? ah[1].q - ah[0].q : static_cast<std::ptrdiff_t>(tile_block);
                bool even = qs >= static_cast<std::ptrdiff_t>(tile_block);
                for (std::size_t m = 2; even && m < rows; ++m) even = ah[m].q == ah[0].q + static_cast<std::ptrdiff_t>(m) * qs;
                const std::int8_t* q = ah[0].q + b0 * tile_block;
                std::size_t stride = static_cast<std::size_t>(qs);
                if (!even) {
                    for (std::size_t m = 0; m < rows; ++m) std::memcpy(gq[m], ah[m].q + b0 * tile_block, nb * tile_block);
                    q = gq[0];
                    stride = sizeof gq[0];
                }
                c_tile<B>(tm, w, t, b0, nb, wb, ah, q, stride, rows, b0 == 0, out + h * rows * ld, ld);
            }
        }
    }
}

// All activation rows [0, M) for tiles [t0, t1) (see the top of the file).
template <int B, class Tiles>
LOWBIT_KQ_AMX_TGT void tiles_on(const kq_view& w, std::size_t t0, std::size_t t1, const tact_i8* a, std::size_t M, float* out,
                                std::size_t ld, std::size_t min_m, std::size_t strip = strip_blocks) {
    if (strip == 0 || strip > strip_blocks) strip = strip_blocks;
    std::size_t m = 0;
    if (M >= min_m && M > 0 && t0 < t1) {
        Tiles tm;
        const std::size_t groups = M / group;
        if (groups) {
            tm.configure(config(B, group));
            groups_pass<B>(tm, w, t0, t1, a, groups, group, out, ld, strip);
            m = groups * group;
        }
        if (M > m && M - m >= min_m) {
            tm.configure(config(B, M - m));
            groups_pass<B>(tm, w, t0, t1, a + m, 1, M - m, out + m * ld, ld, strip);
            m = M;
        }
        tm.release();
    }
    if (m < M) avx512vnni::kq_tiles<B>(w, t0, t1, a + m, M - m, out + m * ld, ld);
}

template <int B>
inline void tiles(const kq_view& w, std::size_t t0, std::size_t t1, const tact_i8* a, std::size_t M, float* out, std::size_t ld) {
    tiles_on<B, amx_hw>(w, t0, t1, a, M, out, ld, min_rows);
}

#undef LOWBIT_KQ_AMX_TGT

}  // namespace kq_amx
}  // namespace kdetail
}  // namespace lowbit
