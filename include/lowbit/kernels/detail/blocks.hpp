// lowbit/kernels/detail/blocks.hpp — the block structure shared by every fast
// kernel, the prepared activations, and the scalar models of both paths
// (docs/kernels.md, "Blocks" and "The int8 path").
//
// A row of K codes is cut into blocks of 32 codes and super-chunks of 8 blocks
// (256 codes, 32*B bytes: always byte aligned). Inside a super-chunk, SIMD
// kernels unpack the codes in a width-specific order (a shift and a mask away
// from the packed bytes, no cross-byte gathering for B = 1, 2, 4, 8); instead
// of reordering the codes we reorder the activations once per call
// ("arranged" order), so every weight row streams straight from the qmatrix.
//
// Arranged position p in [0, 256) of a super-chunk: quad q = p / 128 (blocks
// 4q..4q+3), register k = (p / 64) % 2, lane l = (p / 16) % 4, t = p % 16. It
// holds code code_in_block<B>(k, t) of block 4q + l. So every 16-byte lane of a
// register belongs to one block: a 64-byte (zmm) register covers four blocks,
// and a 32-byte (ymm) register at q*128 + k*64 + h*32 covers blocks 4q+2h and
// 4q+2h+1 (the "pair" j = 2q + h); block sums fall out of a fixed reduction.
//
// Per block b of 32 activations the int8 path stores dxh[b] = (amax/127)/2,
// the codes q = round_even(x / dx) in [-127, 127] and qs[b] = sum(q); with
// the weight group's scale s and zero z of the block, everything up to one
// float conversion stays integer (z and 2z are integers; 2z = 1 for 1 bit):
//     ii = 2*isum - 2z*qs           isum = sum(u * q), exact
//     acc[b % 8] = fma(s, float(ii) * dxh, acc[b % 8])
// The f32 path subtracts the zero in registers before the FMA, so its error is
// float rounding of the products sum((u - z) * x) (no cancellation between a
// sum(u*x) and a z*sum(x) term):
//     acc[b % 8] = fma(s, sum((u - z) * x), acc[b % 8])
// Both end with y = ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)). The
// SIMD int8 kernels follow exactly these steps, so they equal the scalar model
// bit for bit (integer sums are exact in any order).
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../../pack/qmatrix.hpp"

namespace lowbit {
namespace kdetail {

constexpr std::size_t block = 32;
constexpr std::size_t chunk = 256;  // codes per super-chunk
constexpr std::size_t chunk_blocks = 8;

// Code (0..31) within its block held at byte t (0..15) of a block's lane in register k (0, 1).
template <int B>
constexpr int code_in_block(int k, int t) noexcept {
    if (B == 8) return k * 16 + t;
    if (B == 4) return 2 * t + k;
    if (B == 2) return t < 8 ? 4 * t + 2 * k : 4 * (t - 8) + 2 * k + 1;
    if (B == 1) return 8 * (t % 4) + 4 * k + t / 4;
    return k * 16 + t;  // 3, 5, 6, 7: natural order within each 16-code half
}

// natural index (0..255) of the code at arranged position p.
template <int B>
struct arrangement {
    std::array<std::uint8_t, chunk> nat{};
    std::array<std::uint8_t, chunk> pos{};  // inverse
    constexpr arrangement() noexcept {
        for (int p = 0; p < 256; ++p) {
            const int q = p / 128, k = (p / 64) % 2, l = (p / 16) % 4, t = p % 16;
            const int n = (4 * q + l) * 32 + code_in_block<B>(k, t);
            nat[p] = static_cast<std::uint8_t>(n);
            pos[n] = static_cast<std::uint8_t>(p);
        }
    }
};
template <int B>
inline const arrangement<B>& arranged() noexcept {
    static constexpr arrangement<B> a{};
    return a;
}

// Round to nearest, ties to even, for |v| < 2^22, identical in scalar and SIMD
// code under the default rounding mode (and fast: no libm call).
LOWBIT_ALWAYS_INLINE float round_even(float v) noexcept {
    const float m = 12582912.0f;  // 1.5 * 2^23: adding it leaves the integer part in the mantissa
    return (v + m) - m;           // not folded: IEEE semantics (lowbit is never built with -ffast-math)
}

// Whether the block kernels can run this matrix: every 32-block must lie in one
// weight group. Otherwise the public API falls back to the reference kernel.
template <class S>
inline bool blocks_fit(const qmatrix_view<S>& w) noexcept {
    return S::gran != granularity::per_group || w.group % static_cast<int>(block) == 0;
}

// Geometry of one prepared activation row.
struct act_geometry {
    std::size_t K = 0, nb = 0, nsc = 0;  // columns, blocks, super-chunks
    static act_geometry of(std::size_t K) noexcept {
        act_geometry g;
        g.K = K;
        g.nb = (K + block - 1) / block;
        g.nsc = (g.nb + chunk_blocks - 1) / chunk_blocks;
        return g;
    }
    std::size_t padded() const noexcept { return nsc * chunk; }
    std::size_t padded_blocks() const noexcept { return nsc * chunk_blocks; }
};

// One prepared activation row (views into a workspace).
struct act_i8 {
    const std::int8_t* q = nullptr;    // padded() codes, arranged order
    const float* dxh = nullptr;        // half the block step, padded_blocks()
    const std::int32_t* qs = nullptr;  // sum(q) per block, padded_blocks()
};
struct act_f32 {
    const float* x = nullptr;  // padded(), arranged order
};

// Quantize one activation row to int8 per 32-block (input order via perm), arranged for width B.
template <int B>
inline void prepare_i8(const float* x, const std::int32_t* perm, const act_geometry& g, std::int8_t* q, float* dxh,
                       std::int32_t* qs) noexcept {
    const auto& ar = arranged<B>();
    float xb[block];
    for (std::size_t b = 0; b < g.padded_blocks(); ++b) {
        const std::size_t c0 = b * block;
        float amax = 0.0f;
        for (std::size_t i = 0; i < block; ++i) {
            const std::size_t col = c0 + i;
            xb[i] = col < g.K ? (perm ? x[perm[col]] : x[col]) : 0.0f;
            amax = std::fmax(amax, std::fabs(xb[i]));
        }
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        int sum = 0;
        std::int8_t* qc = q + (b / chunk_blocks) * chunk;
        for (std::size_t i = 0; i < block; ++i) {
            const int v = static_cast<int>(round_even(xb[i] * id));
            sum += v;
            qc[ar.pos[(b % chunk_blocks) * block + i]] = static_cast<std::int8_t>(v);
        }
        dxh[b] = d * 0.5f;
        qs[b] = sum;
    }
}

// Gather one f32 activation row into arranged order.
template <int B>
inline void prepare_f32(const float* x, const std::int32_t* perm, const act_geometry& g, float* xa) noexcept {
    const auto& ar = arranged<B>();
    for (std::size_t b = 0; b < g.padded_blocks(); ++b) {
        float* xc = xa + (b / chunk_blocks) * chunk;
        for (std::size_t i = 0; i < block; ++i) {
            const std::size_t col = b * block + i;
            xc[ar.pos[(b % chunk_blocks) * block + i]] = col < g.K ? (perm ? x[perm[col]] : x[col]) : 0.0f;
        }
    }
}

// 2z * qs, exact in integers (2z is an integer for every width, 1 for 1 bit).
template <int B>
LOWBIT_ALWAYS_INLINE std::int32_t twice_zero_times(float z, std::int32_t qs) noexcept {
    return static_cast<std::int32_t>(2.0f * z) * qs;
}

// Scale / zero of block b of row r (block b lies in one group: blocks_fit).
template <class S>
LOWBIT_ALWAYS_INLINE std::size_t block_group(const qmatrix_view<S>& w, std::size_t b) noexcept {
    return S::gran == granularity::per_group ? b * block / static_cast<std::size_t>(w.group) : 0;
}
template <class S>
LOWBIT_ALWAYS_INLINE float block_zero(const qmatrix_view<S>& w, std::size_t r, std::size_t b) noexcept {
    return S::is_symmetric ? symmetric_zero(S::bits) : static_cast<float>(w.zeros[w.scale_index(r, block_group(w, b))]);
}

// The final fixed-order reduction of the 8 block-lane accumulators.
LOWBIT_ALWAYS_INLINE float reduce8(const float* a) noexcept {
    return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

// ---- the scalar models (arch::scalar) ---------------------------------------------
// int8 path: the model the SIMD int8 kernels equal bit for bit.
template <class S>
inline float int8_row_scalar(const qmatrix_view<S>& w, std::size_t r, const act_i8& a, const act_geometry& g) noexcept {
    constexpr int B = S::bits;
    const auto& ar = arranged<B>();
    const std::uint8_t* row = w.row(r);
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (std::size_t b = 0; b < g.nb; ++b) {
        const std::int8_t* qc = a.q + (b / chunk_blocks) * chunk;
        std::int32_t isum = 0;
        for (std::size_t i = 0; i < block; ++i) {
            const std::size_t col = b * block + i;
            if (col >= g.K) break;
            isum += static_cast<std::int32_t>(get_code<B>(row, col)) * qc[ar.pos[(b % chunk_blocks) * block + i]];
        }
        const float s = w.scale(r, block_group(w, b)), z = block_zero(w, r, b);
        const std::int32_t ii = 2 * isum - twice_zero_times<B>(z, a.qs[b]);
        acc[b % 8] = std::fma(s, static_cast<float>(ii) * a.dxh[b], acc[b % 8]);
    }
    return reduce8(acc);
}

// f32 path, scalar: same structure with float block sums (not bit-matched to SIMD).
template <class S>
inline float f32_row_scalar(const qmatrix_view<S>& w, std::size_t r, const act_f32& a, const act_geometry& g) noexcept {
    constexpr int B = S::bits;
    const auto& ar = arranged<B>();
    const std::uint8_t* row = w.row(r);
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (std::size_t b = 0; b < g.nb; ++b) {
        const float* xc = a.x + (b / chunk_blocks) * chunk;
        const float s = w.scale(r, block_group(w, b)), z = block_zero(w, r, b);
        float p = 0.0f;
        for (std::size_t i = 0; i < block; ++i) {
            const std::size_t col = b * block + i;
            if (col >= g.K) break;
            p += (static_cast<float>(get_code<B>(row, col)) - z) * xc[ar.pos[(b % chunk_blocks) * block + i]];
        }
        acc[b % 8] = std::fma(s, p, acc[b % 8]);
    }
    return reduce8(acc);
}

}  // namespace kdetail
}  // namespace lowbit
