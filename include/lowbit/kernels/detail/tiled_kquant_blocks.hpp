// lowbit/kernels/detail/tiled_kquant_blocks.hpp — what the kernels read of
// tiled K-quant weights (layout::tiled_kquant, formats/tiled_kquant.hpp) and
// the scalar model of their int8 path (docs/kernels.md, "The tiled K-quant
// layout").
//
// Activations: the tiled int8 path's per 32-block (kdetail::prepare_ti8, the
// asymmetric form): codes q, step dx_b, and here the two half-block code sums
// Q0_b (columns 0-15) and Q1_b (16-31) in zq[2b], zq[2b + 1].
//
// Per block b (super-block s = b / 8) and row, with u the codes:
//   Q4_K, Q5_K (sub-block scale byte sc, min byte m; d, dmin of s):
//     A   = sum u q                                   exact integer
//     Ds  = d * float(sc),  Dm = dmin * float(m)      (per block and row)
//     v   = fma(Ds, float(A), -(Dm * float(Q0 + Q1)))
//     acc = fma(v, dx_b, acc)
//   Q6_K (int8 scales sc0, sc1 of the two 16-column halves; d of s):
//     I   = sc0 (A0 - 32 Q0) + sc1 (A1 - 32 Q1)       exact integer (|I| < 2^24)
//     acc = fma(float(I), d * dx_b, acc)
// blocks in order, y = acc. The value of a weight is ggml's d sc u - dmin m
// (Q6_K: d sc (u - 32)), so the model is the blocks' dot product up to the
// activations' int8 rounding and these float roundings. Every SIMD body does
// exactly these float operations in this order, 16 rows side by side.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "../../core/half.hpp"
#include "../../pack/tiled.hpp"
#include "tiled_blocks.hpp"

namespace lowbit {
namespace kdetail {

// Tiled K-quant weights as the kernels read them (B: code bits 4, 5, 6).
struct kq_view {
    const std::uint8_t* codes = nullptr;   // tiles * blocks * 64 * B
    const std::uint16_t* scales = nullptr;  // f16 [tile][super][field][row]
    const std::uint8_t* sub = nullptr;      // [tile][block][2][row]
    std::size_t rows = 0, blocks = 0, supers = 0, fields = 0;
    const std::uint8_t* block(std::size_t t, std::size_t b, int bits) const noexcept {
        return codes + (t * blocks + b) * 64 * static_cast<std::size_t>(bits);
    }
    const std::uint8_t* sub_at(std::size_t t, std::size_t b, std::size_t k) const noexcept {
        return sub + ((t * blocks + b) * 2 + k) * tile_rows;
    }
    const std::uint16_t* scale_at(std::size_t t, std::size_t s, std::size_t f) const noexcept {
        return scales + ((t * supers + s) * fields + f) * tile_rows;
    }
};

// The half-block code sums from the whole-block ones prepare_ti8 wrote into
// zq[0, nb): zq[2b] = Q0_b, zq[2b + 1] = Q1_b (zq holds 2 nb entries; walked
// down so that no sum is overwritten before it is read).
inline void kq_half_sums(const std::int8_t* q, std::size_t nb, std::int32_t* zq) noexcept {
    for (std::size_t b = nb; b-- > 0;) {
        const std::int32_t whole = zq[b];
        std::int32_t lo = 0;
        for (std::size_t c = 0; c < tile_block / 2; ++c) lo += q[b * tile_block + c];
        zq[2 * b] = lo;
        zq[2 * b + 1] = whole - lo;
    }
}

// The model: tile t's rows for M (<= 64) prepared activation rows.
template <int B>
void kq_tile_scalar(const kq_view& w, std::size_t t, const tact_i8* a, std::size_t M, float* out, std::size_t ld) noexcept {
    const std::size_t r0 = t * tile_rows, n = w.rows - r0 < tile_rows ? w.rows - r0 : tile_rows;
    float acc[64][tile_rows] = {};
    std::uint8_t v[tile_quads][64];
    for (std::size_t b = 0; b < w.blocks; ++b) {
        const std::size_t s = b / kquant_blocks_per_super;
        lowbit::detail::planes_to_quads<B>(w.block(t, b, B), v);
        for (std::size_t i = 0; i < n; ++i) {
            const float d = f16_to_f32(w.scale_at(t, s, 0)[i]);
            const std::uint8_t k0 = w.sub_at(t, b, 0)[i], k1 = w.sub_at(t, b, 1)[i];
            for (std::size_t m = 0; m < M; ++m) {
                const std::int8_t* q = a[m].q + b * tile_block;
                std::int32_t A[2] = {0, 0};
                for (std::size_t c = 0; c < tile_block; ++c) A[c / 16] += static_cast<std::int32_t>(v[c / 4][4 * i + c % 4]) * q[c];
                const std::int32_t Q0 = a[m].zq[2 * b], Q1 = a[m].zq[2 * b + 1];
                if constexpr (B == 6) {
                    const std::int32_t I = static_cast<std::int8_t>(k0) * (A[0] - 32 * Q0) + static_cast<std::int8_t>(k1) * (A[1] - 32 * Q1);
                    acc[m][i] = std::fma(static_cast<float>(I), d * a[m].dx[b], acc[m][i]);
                } else {
                    const float dmin = f16_to_f32(w.scale_at(t, s, 1)[i]);
                    const float Ds = d * static_cast<float>(k0), Dm = dmin * static_cast<float>(k1);
                    const float vb = std::fma(Ds, static_cast<float>(A[0] + A[1]), -(Dm * static_cast<float>(Q0 + Q1)));
                    acc[m][i] = std::fma(vb, a[m].dx[b], acc[m][i]);
                }
            }
        }
    }
    for (std::size_t m = 0; m < M; ++m)
        for (std::size_t i = 0; i < n; ++i) out[m * ld + r0 + i] = acc[m][i];
}

// The value of weight (row i of tile t, column c), as ggml decodes it but in
// double: d sc u - dmin m (Q6_K: d sc (u - 32)). For the reference.
template <int B>
double kq_value(const kq_view& w, std::size_t t, std::size_t i, std::size_t b, std::size_t c, std::uint8_t u) noexcept {
    const double d = f16_to_f32(w.scale_at(t, b / kquant_blocks_per_super, 0)[i]);
    if constexpr (B == 6) {
        const double sc = static_cast<std::int8_t>(w.sub_at(t, b, c / 16)[i]);
        return d * sc * (static_cast<double>(u) - 32.0);
    } else {
        const double dmin = f16_to_f32(w.scale_at(t, b / kquant_blocks_per_super, 1)[i]);
        return d * w.sub_at(t, b, 0)[i] * u - dmin * w.sub_at(t, b, 1)[i];
    }
}

}  // namespace kdetail
}  // namespace lowbit
