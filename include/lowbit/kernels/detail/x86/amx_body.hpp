// lowbit/kernels/detail/x86/amx_body.hpp — the int8 GEMM body of arch::amx on
// the tiled layout (pack/tiled.hpp): AMX-INT8 tile dot products for the integer
// part, the avx512vnni body's float epilogue (docs/kernels.md, "AMX").
//
// Why the tiled layout fits: quad vector j of a block (64 bytes: byte 4i + e =
// code of row i, column 4j + e) is row j of an AMX B operand in its "VNNI"
// format (K/4 rows of N x 4 bytes). A block's 8 quad vectors are a B tile of
// 8 rows x 64 bytes (16 weight rows x 32 codes); the activation codes of up to
// 16 rows for the same 32 columns (contiguous in the tiled int8 workspace) are
// an A tile of rows x 32 bytes; tdpbsud (A signed, B unsigned) gives the
// 16 x 16 int32 sums A = sum u * q of one block, exactly as the vpdpbusd body.
// The model (detail/tiled_blocks.hpp) scales every 32-block separately, so
// one dot product spans one block (K = 32, half the tile's depth) and its C
// tile is stored after each block for the float epilogue: the same int32
// corrections (zq, 2A - Q, A - z*Q) and the same fma(float(A'), s*dx_b, acc)
// per block in order as avx512vnni::ti8_tiles, so results equal the scalar
// model bit for bit.
//
// Register use (palette 1, 8 tiles): tmm0, tmm1 = A of activation rows 0-15 and
// 16-31; tmm2, tmm3 = B of two weight tiles; tmm4 + 2i + k = C of activation
// half i and weight tile k. One B load feeds two dot products and one A load
// two. Widths below 8 are unpacked into a 512-byte buffer per weight tile (the
// shifts and masks of the avx512vnni body); 8-bit blocks are loaded in place.
//
// Few activation rows (GEMV-like calls): the tile work is per 16 rows, a dot
// product with 1-7 rows wastes most of it, so rows left over below
// amx_min_rows go to the avx512vnni body (the same results). The entry keeps
// one code path per scheme; the threshold is a run-time argument (tests pass 1
// to run every M through the tiles) — not a template parameter, so no per-M
// instantiation.
//
// Tiles: amx_hw (x86/amx_tiles.hpp) in the library; amx_emulated
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

// Activation rows below which a call (or the rows left after the tiles' chunks
// of 32) runs on the avx512vnni body. A first guess to be tuned on AMX hardware
// with lowbit_bench_amx (bench/bench_amx.cpp): not measured yet.
constexpr std::size_t amx_min_rows = 8;
constexpr std::size_t chunk_rows = 2 * amx_max_rows;  // two A tiles

namespace v = avx512vnni::tl;  // the epilogue's vector helpers (zmm, 16 rows per vector)

// Activation rows [0, rows) (rows <= 32) of `a` against tiles [t0, t1).
template <class S, class Tiles>
LOWBIT_AMX_BODY_TGT void chunk(Tiles& tm, const tiled_view<S>& w, std::size_t t0, std::size_t t1, const tact_i8* a,
                               std::size_t rows, float* out, std::size_t ld) {
    constexpr int B = S::bits;
    const std::size_t bpg = w.blocks_per_group ? w.blocks_per_group : w.blocks;
    const std::size_t rows0 = rows < amx_max_rows ? rows : amx_max_rows, rows1 = rows - rows0;
    // The A tile reads the activation codes of its rows with one stride: the
    // workspace lays the rows out evenly; other callers' rows are gathered.
    const std::ptrdiff_t stride = rows > 1 ? a[1].q - a[0].q : tile_block;
    bool even = stride >= static_cast<std::ptrdiff_t>(tile_block);
    for (std::size_t m = 2; even && m < rows; ++m) even = a[m].q == a[0].q + static_cast<std::ptrdiff_t>(m) * stride;
    alignas(64) std::int8_t gathered[chunk_rows][tile_block];
    alignas(64) std::uint8_t unpacked[2][tile_quads][64];
    alignas(64) std::int32_t c[2][chunk_rows][tile_rows];  // [weight tile][activation row][weight row]
    v::vf acc[2][chunk_rows];
    for (std::size_t t = t0; t < t1; t += 2) {
        const std::size_t nt = t1 - t < 2 ? 1 : 2;
        for (std::size_t k = 0; k < nt; ++k)
            for (std::size_t m = 0; m < rows; ++m) acc[k][m] = v::zero_f();
        for (std::size_t g = 0, b = 0; b < w.blocks; ++g) {
            v::vf s[2];
            v::vi z[2];
            for (std::size_t k = 0; k < nt; ++k) v::scale_zero(w, t + k, g, 0, s[k], z[k]);
            const std::size_t b_end = b + bpg < w.blocks ? b + bpg : w.blocks;
            for (; b < b_end; ++b) {
                // B: the weight tiles' block b (as the avx512vnni body, prefetched 4 KiB ahead)
                for (std::size_t k = 0; k < nt; ++k) {
                    const std::uint8_t* p = w.block(t + k, b);
                    for (int l = 0; l < B; ++l) _mm_prefetch(reinterpret_cast<const char*>(p + v::prefetch_bytes + 64 * l), _MM_HINT_T0);
                    if constexpr (B < 8) {
                        v::vi q[tile_quads];
                        v::unpack_block<B>(p, q);
                        for (std::size_t j = 0; j < tile_quads; ++j) _mm512_store_si512(unpacked[k][j], q[j]);
                        p = unpacked[k][0];
                    }
                    if (k == 0) tm.template load<2>(p, 64);
                    else tm.template load<3>(p, 64);
                }
                // A: the activation codes of block b
                const std::int8_t* a0 = a[0].q + b * tile_block;
                std::size_t astride = static_cast<std::size_t>(stride);
                if (!even) {
                    for (std::size_t m = 0; m < rows; ++m) std::memcpy(gathered[m], a[m].q + b * tile_block, tile_block);
                    a0 = gathered[0];
                    astride = tile_block;
                }
                tm.template load<0>(a0, astride);
                if (rows1) tm.template load<1>(a0 + amx_max_rows * astride, astride);
                tm.template zero<4>();
                tm.template dp_su<4, 0, 2>();
                tm.template store<4>(c[0][0], sizeof c[0][0]);
                if (nt == 2) {
                    tm.template zero<5>();
                    tm.template dp_su<5, 0, 3>();
                    tm.template store<5>(c[1][0], sizeof c[1][0]);
                }
                if (rows1) {
                    tm.template zero<6>();
                    tm.template dp_su<6, 1, 2>();
                    tm.template store<6>(c[0][amx_max_rows], sizeof c[0][0]);
                    if (nt == 2) {
                        tm.template zero<7>();
                        tm.template dp_su<7, 1, 3>();
                        tm.template store<7>(c[1][amx_max_rows], sizeof c[1][0]);
                    }
                }
                // The float epilogue of avx512vnni::tl::i8_units, operation for operation.
                for (std::size_t m = 0; m < rows; ++m) {
                    const v::vf dx = v::set1_f(a[m].dx[b]);
                    const v::vi zq = v::set1_32(a[m].zq[b]);
                    for (std::size_t k = 0; k < nt; ++k) {
                        v::vi A = v::load(c[k][m]);
                        if constexpr (!S::is_symmetric) A = v::sub32(A, v::mul32(z[k], zq));
                        else if constexpr (B == 1) A = v::sub32(v::add32(A, A), zq);
                        else A = v::add32(A, zq);  // the avx512vnni body starts its sum at zq: integers, same value
                        acc[k][m] = v::fma(v::cvt(A), v::mul(s[k], dx), acc[k][m]);
                    }
                }
            }
        }
        for (std::size_t k = 0; k < nt; ++k) {
            const std::size_t r = (t + k) * tile_rows;
            if (r >= w.rows) continue;
            for (std::size_t m = 0; m < rows; ++m) v::store_n(out + m * ld + r, acc[k][m], w.rows - r);
        }
    }
}

// The tile shapes of a chunk of `rows` activation rows (see the register use above).
inline amx_tile_config chunk_config(std::size_t rows) noexcept {
    const int rows0 = static_cast<int>(rows < amx_max_rows ? rows : amx_max_rows), rows1 = static_cast<int>(rows) - rows0;
    amx_tile_config cfg;
    cfg.set(0, rows0, static_cast<int>(tile_block));
    cfg.set(2, static_cast<int>(tile_quads), 64);
    cfg.set(3, static_cast<int>(tile_quads), 64);
    cfg.set(4, rows0, 64);
    cfg.set(5, rows0, 64);
    if (rows1) {
        cfg.set(1, rows1, static_cast<int>(tile_block));
        cfg.set(6, rows1, 64);
        cfg.set(7, rows1, 64);
    }
    return cfg;
}

// All activation rows [0, M) for tiles [t0, t1): chunks of 32 rows on the
// tiles while at least min_rows are left, the rest on the avx512vnni body.
template <class S, class Tiles>
LOWBIT_AMX_BODY_TGT void ti8_tiles_on(const tiled_view<S>& w, std::size_t t0, std::size_t t1, const tact_i8* a, std::size_t M,
                                      float* out, std::size_t ld, std::size_t min_rows) {
    std::size_t m = 0;
    if (M >= min_rows && t0 < t1) {
        Tiles tm;
        std::size_t configured = 0;  // rows of the loaded configuration
        for (; m < M && M - m >= min_rows; m += chunk_rows) {
            const std::size_t rows = M - m < chunk_rows ? M - m : chunk_rows;
            if (rows != configured) {
                tm.configure(chunk_config(rows));
                configured = rows;
            }
            chunk<S>(tm, w, t0, t1, a + m, rows, out + m * ld, ld);
        }
        if (m > M) m = M;
        tm.release();  // leaves the tile state in its init state (cheaper context switches)
    }
    if (m < M) avx512vnni::ti8_tiles<S>(w, t0, t1, a + m, M - m, out + m * ld, ld);
}

// The library's body: the real tile instructions.
template <class S>
inline void ti8_tiles(const tiled_view<S>& w, std::size_t t0, std::size_t t1, const tact_i8* a, std::size_t M, float* out,
                      std::size_t ld) {
    ti8_tiles_on<S, amx_hw>(w, t0, t1, a, M, out, ld, amx_min_rows);
}

#undef LOWBIT_AMX_BODY_TGT

}  // namespace amx
}  // namespace kdetail
}  // namespace lowbit
