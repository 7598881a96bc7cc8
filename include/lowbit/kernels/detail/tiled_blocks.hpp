// lowbit/kernels/detail/tiled_blocks.hpp — prepared activations and the scalar
// models of the kernels on the tiled layout (pack/tiled.hpp; docs/kernels.md,
// "Tiled layout and its kernels").
//
// int8 path. Per block b of 32 activations (natural order, gathered through
// the permutation): dx_b = amax/127, q = round_even(x / dx_b) in [-127, 127],
// Q_b = sum(q). For row r with scale s and zero z of b's group:
//     A  = sum over the block of u * q                      (exact integer)
//     A' = A - z*Q_b       (symmetric B >= 2: the dot starts from zq_b = -z*Q_b;
//                           1 bit, z = 1/2: A' = 2A - Q_b with dx_b halved)
//     acc = fma(float(A'), s * dx_b, acc)                   blocks in order
//     y_r = acc
// Every SIMD kernel performs exactly these float operations in this order
// (16 rows side by side in one vector), so all equal int8_tile_scalar bit for
// bit; the integer part is exact whatever instructions form it.
//
// f32 path: P_b = sum over the block of (u - z) * x (zero removed exactly),
// one FMA per code in column order from P_b = 0, then acc = fma(P_b, s, acc)
// blocks in order. The SIMD kernels (16 rows side by side) perform the same
// FMAs, so they too equal f32_tile_scalar bit for bit on every arch.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "../../pack/tiled.hpp"
#include "blocks.hpp"

namespace lowbit {
namespace kdetail {

// One prepared activation row for the tiled kernels (views into a workspace).
struct tact_i8 {
    const std::int8_t* q = nullptr;    // blocks * 32 codes, natural order, zero padded
    const float* dx = nullptr;         // per block (halved for 1-bit symmetric)
    const std::int32_t* zq = nullptr;  // per block: -z*Q (symmetric, 2+ bits) or Q
};
struct tact_f32 {
    const float* x = nullptr;  // blocks * 32, natural order, zero padded
};

// Quantize one activation row per 32-block. Hostile values get defined
// results: magnitudes below 2^-120 count as 0 (the reciprocal of such a block
// step would overflow); a NaN or +-Inf anywhere makes the row's every block
// step NaN, so every output it feeds is NaN, as in an f32 product.
template <int B, bool Sym>
inline void prepare_ti8(const float* x, const std::int32_t* perm, std::size_t K, std::size_t blocks, std::int8_t* q, float* dx,
                        std::int32_t* zq) noexcept {
    bool non_finite = false;
    float xb[tile_block];
    for (std::size_t b = 0; b < blocks; ++b) {
        float amax = 0.0f;
        for (std::size_t i = 0; i < tile_block; ++i) {
            const std::size_t col = b * tile_block + i;
            float v = col < K ? (perm ? x[perm[col]] : x[col]) : 0.0f;
            const float a = std::fabs(v);
            if (LOWBIT_UNLIKELY(!(a <= std::numeric_limits<float>::max()))) {  // NaN or Inf
                non_finite = true;
                v = 0.0f;
            } else if (LOWBIT_UNLIKELY(a < 7.52316384526264e-37f)) {  // 2^-120
                v = 0.0f;
            }
            xb[i] = v;
            amax = std::fmax(amax, std::fabs(v));
        }
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        std::int32_t sum = 0;
        for (std::size_t i = 0; i < tile_block; ++i) {
            const int c = static_cast<int>(round_even(xb[i] * id));
            q[b * tile_block + i] = static_cast<std::int8_t>(c);
            sum += c;
        }
        dx[b] = Sym && B == 1 ? d * 0.5f : d;
        zq[b] = Sym && B > 1 ? -sum * (1 << (B - 1)) : sum;
    }
    if (non_finite)
        for (std::size_t b = 0; b < blocks; ++b) dx[b] = std::numeric_limits<float>::quiet_NaN();
}

inline void prepare_tf32(const float* x, const std::int32_t* perm, std::size_t K, std::size_t blocks, float* xa) noexcept {
    for (std::size_t col = 0; col < blocks * tile_block; ++col) xa[col] = col < K ? (perm ? x[perm[col]] : x[col]) : 0.0f;
}

// ---- bf16 path (matmul_path::bf16_dot) ----------------------------------------------
// Activations are rounded to bf16 once per call; the codes minus the zero point
// are integers of at most 8 significant bits (|u - z| <= 255, or +-1/2 for
// 1-bit symmetric), so they and their products with a bf16 are exact in f32.
// The model is therefore the f32 model above run on the rounded activations:
// P_b = sum of exact products in f32, acc = fma(P_b, s, acc). vdpbf16ps forms
// the same exact products and sums them in f32, pairwise and in its own order,
// so the SIMD kernel equals the model up to the order of the f32 additions
// (the tests' tolerance covers that and nothing else).
//
// The rounding: round to nearest even; NaN stays NaN (quieted); magnitudes
// below 2^-126 (f32 subnormals) become a zero of the same sign, as
// vcvtneps2bf16 does (vdpbf16ps reads bf16 subnormals as zero anyway);
// finite values above the largest bf16 round to +-Inf.
inline std::uint16_t bf16_round(float v) noexcept {
    const std::uint32_t u = f32_to_bits(v);
    if ((u & 0x7fffffffu) < 0x00800000u) return static_cast<std::uint16_t>((u >> 16) & 0x8000u);
    return f32_to_bf16(v);  // round to nearest even, NaN quieted (core/half.hpp)
}
// In place: every value replaced by its bf16 rounding, kept as a float (the
// model's and the f32 bodies' activations).
inline void round_to_bf16(float* x, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; ++i) x[i] = bf16_to_f32(bf16_round(x[i]));
}

// One prepared activation row of the vdpbf16ps kernel: blocks * 32 bf16 words,
// zero padded, each 4 columns c..c+3 stored as (c, c+2, c+1, c+3): dword 2j of
// a block pairs columns 4j and 4j+2, dword 2j+1 columns 4j+1 and 4j+3, the
// pairs in which the kernel widens a quad vector's bytes (x86/bf16_body.hpp).
struct tact_bf16 {
    const std::uint16_t* x = nullptr;
};
inline void prepare_tbf16(const float* x, const std::int32_t* perm, std::size_t K, std::size_t blocks, std::uint16_t* xw) noexcept {
    static constexpr std::size_t order[4] = {0, 2, 1, 3};
    for (std::size_t i = 0; i < blocks * tile_block; ++i) {
        const std::size_t col = (i & ~std::size_t{3}) + order[i & 3];
        xw[i] = col < K ? bf16_round(perm ? x[perm[col]] : x[col]) : 0;
    }
}

// The tiled bodies' view of scale_any schemes (blocks.hpp, "scales whose type is read at run time").
template <class S>
using any_scale_tview = any_scale_view_of<tiled_view, S>;

// Scale / zero of row i of tile t for group g.
template <class S>
inline float tiled_scale(const tiled_view<S>& w, std::size_t t, std::size_t g, std::size_t i) noexcept {
    return scale_value(w, w.scale_slot(t, g) + (S::gran == granularity::per_tensor ? 0 : i));
}
template <class S>
inline float tiled_zero(const tiled_view<S>& w, std::size_t t, std::size_t g, std::size_t i) noexcept {
    if (S::is_symmetric) return symmetric_zero(S::bits);
    return static_cast<float>(w.zeros[w.scale_slot(t, g) + (S::gran == granularity::per_tensor ? 0 : i)]);
}

// The walk both scalar models share: tile t's rows for M activation rows (at
// most 64 per call: the dispatcher splits), block by block in order, each
// block's codes unpacked once. step(m, b, code, s, z, acc) returns row i's new
// sum for activation row m after block b, code(c) being row i's code c of the
// block and s, z its group's scale and zero.
template <class S, class Step>
inline void tile_scalar_walk(const tiled_view<S>& w, std::size_t t, std::size_t M, float* out, std::size_t ld, Step step) noexcept {
    const std::size_t r0 = t * tile_rows, n = w.rows - r0 < tile_rows ? w.rows - r0 : tile_rows;
    float acc[64][tile_rows];
    for (std::size_t m = 0; m < M; ++m)
        for (std::size_t i = 0; i < tile_rows; ++i) acc[m][i] = 0.0f;
    std::uint8_t v[tile_quads][64];
    for (std::size_t b = 0; b < w.blocks; ++b) {
        detail::planes_to_quads<S::bits>(w.block(t, b), v);
        const std::size_t g = w.group_of_block(b);
        for (std::size_t i = 0; i < n; ++i) {
            const float s = tiled_scale(w, t, g, i), z = tiled_zero(w, t, g, i);
            const auto code = [&](std::size_t c) { return v[c / 4][4 * i + c % 4]; };
            for (std::size_t m = 0; m < M; ++m) acc[m][i] = step(m, b, code, s, z, acc[m][i]);
        }
    }
    for (std::size_t m = 0; m < M; ++m)
        for (std::size_t i = 0; i < n; ++i) out[m * ld + r0 + i] = acc[m][i];
}

// The int8 model: tile t's outputs for M activation rows. Exact integer block
// sums, then one float step per block (std::fma: independent of the
// compiler's FP contraction).
template <class S>
inline void int8_tile_scalar(const tiled_view<S>& w, std::size_t t, const tact_i8* a, std::size_t M, float* out,
                             std::size_t ld) noexcept {
    constexpr int B = S::bits;
    tile_scalar_walk(w, t, M, out, ld, [&](std::size_t m, std::size_t b, const auto& code, float s, float zf, float acc) {
        const std::int8_t* q = a[m].q + b * tile_block;
        std::int32_t A = 0;
        for (std::size_t c = 0; c < tile_block; ++c) A += static_cast<std::int32_t>(code(c)) * q[c];
        if (S::is_symmetric) A = B == 1 ? 2 * A - a[m].zq[b] : A + a[m].zq[b];
        else A -= static_cast<std::int32_t>(zf) * a[m].zq[b];
        return std::fma(static_cast<float>(A), s * a[m].dx[b], acc);
    });
}

// The f32 model (arch::scalar and archs without a tiled SIMD body): explicit
// std::fma, so the float steps do not depend on the compiler's FP contraction.
template <class S>
inline void f32_tile_scalar(const tiled_view<S>& w, std::size_t t, const tact_f32* a, std::size_t M, float* out,
                            std::size_t ld) noexcept {
    tile_scalar_walk(w, t, M, out, ld, [&](std::size_t m, std::size_t b, const auto& code, float s, float z, float acc) {
        const float* x = a[m].x + b * tile_block;
        float p = 0.0f;
        for (std::size_t c = 0; c < tile_block; ++c) p = std::fma(static_cast<float>(code(c)) - z, x[c], p);
        return std::fma(p, s, acc);
    });
}

// The reference: double accumulation over dequantized weights (as reference.hpp
// does for the plain layout). Row r of W (input order) . x.
template <class S>
inline void reference_tile(const tiled_view<S>& w, std::size_t t, const float* x, std::size_t ldx, std::size_t M, float* out,
                           std::size_t ld) noexcept {
    constexpr int B = S::bits;
    const std::size_t r0 = t * tile_rows, n = w.rows - r0 < tile_rows ? w.rows - r0 : tile_rows;
    double acc[tile_rows];
    std::uint8_t v[tile_quads][64];
    for (std::size_t m = 0; m < M; ++m) {
        for (auto& a : acc) a = 0.0;
        for (std::size_t b = 0; b < w.blocks; ++b) {
            detail::planes_to_quads<B>(w.block(t, b), v);
            const std::size_t g = w.group_of_block(b);
            for (std::size_t i = 0; i < n; ++i) {
                const double s = tiled_scale(w, t, g, i), z = tiled_zero(w, t, g, i);
                for (std::size_t c = 0; c < tile_block && b * tile_block + c < w.cols; ++c) {
                    const std::size_t col = b * tile_block + c;
                    const double xv = x[m * ldx + (w.perm ? static_cast<std::size_t>(w.perm[col]) : col)];
                    acc[i] += (static_cast<double>(v[c / 4][4 * i + c % 4]) - z) * s * xv;
                }
            }
        }
        for (std::size_t i = 0; i < n; ++i) out[m * ld + r0 + i] = static_cast<float>(acc[i]);
    }
}

}  // namespace kdetail
}  // namespace lowbit
