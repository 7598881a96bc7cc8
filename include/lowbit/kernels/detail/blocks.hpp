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
// Per block b of 32 activations the int8 path stores dx[b] = amax/127 and the
// codes q = round_even(x / dx) in [-127, 127]. A vpdpbusd lane i sums 4
// arranged bytes of each of a quad's two registers (8 codes, all of one block
// b): an exact integer A_i = sum(u * q). The zero point is removed in integers
// too, with Q_i = sum(q) over the same 8 codes (precomputed per activation):
//     A'_i = A_i - z * Q_i            (1 bit, z = 1/2:  A'_i = 2 A_i - Q_i, dx halved)
//     acc[i] = fma(float(A'_i), s * dx, acc[i])        16 lanes per quad
//     y = R(acc[i] + acc[i + 8])
// so the only rounding is one float conversion and one FMA per lane and
// block, and no horizontal sum happens before the end of the row. The
// activation prep stores dx per lane (dxl: lane i of quad q is block 4q + i/4)
// and -zQ_i for symmetric schemes of 2+ bits (the integer dot starts from it,
// so removing the zero costs nothing), Q_i otherwise.
// The f32 path subtracts the zero in registers before the FMA, so its error is
// float rounding of the products sum((u - z) * x) (no cancellation between a
// sum(u*x) and a z*sum(x) term):
//     acc[b % 8] = fma(s, sum((u - z) * x), acc[b % 8])
// R(a) = ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)). The SIMD int8
// kernels follow exactly these float steps, so they equal the scalar model bit
// for bit (integer sums are exact in any order).
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../../core/fp_barrier.hpp"
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
// v is usually a product x * (1/step): the empty asm makes it opaque, so it is
// rounded to float before the addition and never fused into an FMA (GCC
// contracts by default on AArch64, and under -march=native -ffp-contract=fast
// on x86), and every build and arch computes the same activation codes.
LOWBIT_ALWAYS_INLINE float round_even(float v) noexcept {
    v = lowbit::detail::opaque(v);  // core/fp_barrier.hpp
    const float m = 12582912.0f;  // 1.5 * 2^23: adding it leaves the integer part in the mantissa
    return (v + m) - m;           // not folded: IEEE semantics (lowbit is never built with -ffast-math)
}

// ---- small groups: a multiple of 8 codes that is not one of 32 ------------------
// A 32-block then spans 2 or more groups, so one scale per block no longer
// holds. Both paths take their scale per quarter instead (8 codes: natural
// codes 8j..8j+7 of a super-chunk, j < 32), which every group that is a
// multiple of 8 keeps whole.
//   f32:  each code is dequantized in registers, (u - z_j) * s_j, before its
//         product with x (a quarter's scale per float lane).
//   int8: an int32 lane sums 4 codes of each of the two arranged registers k;
//         those 4 lie in one quarter for B = 3..8 (B = 4: codes 8i..8i+7 of the
//         block; else codes 16k + 4i ..), in one 16-code half for B = 2, and are
//         8 apart for B = 1. So the lane's two registers are summed apart:
//             A_k = D_k - z_k * Q_k    (D_k = sum(u q), Q_k = sum(q) of register k)
//             acc[i] = fma(float(A_1), s_1 * dx, fma(float(A_0), s_0 * dx, acc[i]))
//         with (s_k, z_k) of the quarter of the lane's first code in register
//         k. B = 2 needs groups of 16k; B = 1 has no int8 small-group kernel
//         (the public API runs the reference, reported as a fallback:
//         kernels/run.hpp, fast_kernels_fit).
// Groups of a multiple of 32 (and per-channel, per-tensor) keep the steps above.
template <class S>
inline bool small_groups(const qmatrix_view<S>& w) noexcept {
    return S::gran == granularity::per_group && w.group % static_cast<int>(block) != 0 && static_cast<std::size_t>(w.group) < w.cols;
}

// quarter (0..31) of arranged position p, and of lane l's first code in register k.
template <int B>
struct quarter_map {
    std::array<std::uint8_t, chunk> at{};
    std::array<std::uint8_t, 64> lane{};  // [k * 32 + l]
    constexpr quarter_map() noexcept {
        const arrangement<B> ar{};
        for (int p = 0; p < 256; ++p) at[p] = static_cast<std::uint8_t>(ar.nat[p] / 8);
        for (int k = 0; k < 2; ++k)
            for (int l = 0; l < 32; ++l) lane[k * 32 + l] = at[(l / 16) * 128 + k * 64 + (l % 16) * 4];
    }
};
template <int B>
inline const quarter_map<B>& quarters() noexcept {
    static constexpr quarter_map<B> m{};
    return m;
}

// ---- scales whose type is read at run time -----------------------------------------
// The kernel bodies are compiled once per (bits, symmetry), not once per scale
// type (issue 15, compile time): the entries (entries.hpp) run them on a
// scheme whose codec is scale_any, through a view that is the typed view's
// fields (scales as bytes) plus the scale type of the weights: any_scale_qview
// (dense), any_scale_tview (tiled_blocks.hpp). The bodies take the typed view
// by reference, as always; where they load scales they read the type with
// scale_kind (one predictable branch per 8 blocks or per tile group) and
// decode as the typed body did, so the results keep their bits. scale_any has
// no decode: a body that decodes w.scales[i] through the codec does not compile.
struct scale_any {
    static constexpr scale_type value = scale_type::f32;  // unused: the view's kind is the type
    using storage = unsigned char;
};
template <class S>
constexpr bool any_scales = std::is_same<typename S::scale_codec, scale_any>::value;
// A typed view V<S> (qmatrix_view, tiled_view) with the scale type of its weights.
template <template <class> class V, class S>
struct any_scale_view_of : V<S> {
    scale_type kind = scale_type::f32;
};
template <class S>
using any_scale_qview = any_scale_view_of<qmatrix_view, S>;
// The scale type of w's scales: the view's kind for scale_any (w is then an
// any_scale_view_of: the entries build no other view of that scheme), else the scheme's.
template <template <class> class V, class S>
LOWBIT_ALWAYS_INLINE scale_type scale_kind(const V<S>& w) noexcept {
    if constexpr (any_scales<S>) {
        return static_cast<const any_scale_view_of<V, S>&>(w).kind;
    } else {
        (void)w;
        return S::scale;
    }
}
// Scale i of the array p, stored as type k, decoded portably (the codecs' decode).
LOWBIT_ALWAYS_INLINE float load_scale(const void* p, std::size_t i, scale_type k) noexcept {
    if (k == scale_type::f16) return f16_to_f32(static_cast<const std::uint16_t*>(p)[i]);
    if (k == scale_type::bf16) return bf16_to_f32(static_cast<const std::uint16_t*>(p)[i]);
    return static_cast<const float*>(p)[i];
}
// w.scales[i] decoded (any view of either layout whose scale_kind applies).
template <class V>
LOWBIT_ALWAYS_INLINE float scale_value(const V& w, std::size_t i) noexcept {
    using S = typename V::scheme_type;
    if constexpr (any_scales<S>) return load_scale(w.scales, i, scale_kind(w));
    else return S::scale_codec::decode(w.scales[i]);
}

// The portable decoding of w.scales[i].
template <class S>
struct decode_scale {
    const qmatrix_view<S>& w;
    float operator()(std::size_t i) const noexcept { return scale_value(w, i); }
};

// Scale and zero of the 32 quarters of super-chunk sc of row r (quarters past
// the row: 0). `scale_of(i)` decodes w.scales[i].
template <class S, class ScaleOf>
LOWBIT_ALWAYS_INLINE void quarter_scales(const qmatrix_view<S>& w, std::size_t r, std::size_t sc, ScaleOf scale_of, float* s,
                                         float* z) noexcept {
    const std::size_t G = static_cast<std::size_t>(w.group), base = w.scale_index(r, 0);
    std::size_t col = sc * chunk, g = col / G, in = col - g * G;
    float cs = 0.0f, cz = 0.0f;
    std::size_t cached = ~std::size_t{0};
    for (std::size_t j = 0; j < 32; ++j, col += 8) {
        if (col < w.cols) {
            if (g != cached) {
                cached = g;
                cs = scale_of(base + g);
                cz = S::is_symmetric ? symmetric_zero(S::bits) : static_cast<float>(w.zeros[base + g]);
            }
            s[j] = cs;
            z[j] = cz;
        } else {
            s[j] = z[j] = 0.0f;
        }
        if ((in += 8) == G) {
            in = 0;
            ++g;
        }
    }
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
    const std::int8_t* q = nullptr;     // padded() codes, arranged order
    const float* dxl = nullptr;         // the block step per lane (halved for 1-bit symmetric): 32 per super-chunk
    const std::int32_t* zq = nullptr;   // -z*Q per lane (symmetric, 2+ bits) or Q: 32 per super-chunk
};
struct act_f32 {
    const float* x = nullptr;  // padded(), arranged order
};

// Quantize one activation row to int8 per 32-block (input order via perm),
// arranged for width B, with the per-lane step and code sums (see above).
template <int B, bool Sym>
inline void prepare_i8(const float* x, const std::int32_t* perm, const act_geometry& g, std::int8_t* q, float* dxl,
                       std::int32_t* zq) noexcept {
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
        std::int8_t* qc = q + (b / chunk_blocks) * chunk;
        for (std::size_t i = 0; i < block; ++i)
            qc[ar.pos[(b % chunk_blocks) * block + i]] = static_cast<std::int8_t>(static_cast<int>(round_even(xb[i] * id)));
        const std::size_t k = b % chunk_blocks, sc = b / chunk_blocks;  // lanes 4*(k % 4) .. +3 of quad k / 4
        for (std::size_t i = 0; i < 4; ++i) {
            const std::size_t lane = (k / 4) * 16 + (k % 4) * 4 + i;  // 0..31 within the super-chunk
            std::int32_t sum = 0;
            for (std::size_t r = 0; r < 2; ++r)
                for (std::size_t e = 0; e < 4; ++e) sum += qc[(lane / 16) * 128 + r * 64 + (lane % 16) * 4 + e];
            dxl[sc * 32 + lane] = Sym && B == 1 ? d * 0.5f : d;
            zq[sc * 32 + lane] = Sym && B > 1 ? -sum * (1 << (B - 1)) : sum;  // negated: the dot's start value
        }
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
    const bool small = small_groups(w);
    float acc[16] = {};
    float qs[32], qz[32];
    for (std::size_t sc = 0; sc < g.nsc; ++sc) {
        const std::int8_t* qc = a.q + sc * chunk;
        if (small) quarter_scales(w, r, sc, decode_scale<S>{w}, qs, qz);
        for (std::size_t qd = 0; qd < 2; ++qd)
            for (std::size_t i = 0; i < 16; ++i) {
                const std::size_t b = sc * chunk_blocks + 4 * qd + i / 4, lane = sc * 32 + qd * 16 + i;
                if (b >= g.nb) continue;
                if (small) {  // the two registers apart, each with its quarter's scale and zero
                    for (std::size_t k = 0; k < 2; ++k) {
                        std::int32_t D = 0, Q = 0;
                        for (std::size_t e = 0; e < 4; ++e) {
                            const std::size_t p = qd * 128 + k * 64 + 4 * i + e, col = sc * chunk + ar.nat[p];
                            if (col < g.K) D += static_cast<std::int32_t>(get_code<B>(row, col)) * qc[p];
                            Q += qc[p];
                        }
                        const std::size_t j = quarters<B>().lane[k * 32 + qd * 16 + i];
                        const std::int32_t A = D - static_cast<std::int32_t>(qz[j]) * Q;
                        acc[i] = std::fma(static_cast<float>(A), qs[j] * a.dxl[lane], acc[i]);
                    }
                    continue;
                }
                std::int32_t A = 0;
                for (std::size_t k = 0; k < 2; ++k)
                    for (std::size_t e = 0; e < 4; ++e) {
                        const std::size_t p = qd * 128 + k * 64 + 4 * i + e, col = sc * chunk + ar.nat[p];
                        if (col < g.K) A += static_cast<std::int32_t>(get_code<B>(row, col)) * qc[p];
                    }
                if (S::is_symmetric) A = B == 1 ? 2 * A - a.zq[lane] : A + a.zq[lane];
                else A -= static_cast<std::int32_t>(block_zero(w, r, b)) * a.zq[lane];
                const float t = scale_value(w, w.scale_index(r, block_group(w, b))) * a.dxl[lane];
                acc[i] = std::fma(static_cast<float>(A), t, acc[i]);
            }
    }
    float v[8];
    for (int i = 0; i < 8; ++i) v[i] = acc[i] + acc[i + 8];
    return reduce8(v);
}

// f32 path, scalar: same structure with float block sums (not bit-matched to SIMD).
template <class S>
inline float f32_row_scalar(const qmatrix_view<S>& w, std::size_t r, const act_f32& a, const act_geometry& g) noexcept {
    constexpr int B = S::bits;
    const auto& ar = arranged<B>();
    const std::uint8_t* row = w.row(r);
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    if (small_groups(w)) {  // each code dequantized with its quarter's scale and zero, then the product
        float qs[32], qz[32];
        for (std::size_t b = 0; b < g.nb; ++b) {
            const float* xc = a.x + (b / chunk_blocks) * chunk;
            if (b % chunk_blocks == 0)
                quarter_scales(w, r, b / chunk_blocks, decode_scale<S>{w}, qs, qz);
            float p = 0.0f;
            for (std::size_t i = 0; i < block && b * block + i < g.K; ++i) {
                const std::size_t j = (b % chunk_blocks) * 4 + i / 8;
                const float d = (static_cast<float>(get_code<B>(row, b * block + i)) - qz[j]) * qs[j];
                p += d * xc[ar.pos[(b % chunk_blocks) * block + i]];
            }
            acc[b % 8] += p;
        }
        return reduce8(acc);
    }
    for (std::size_t b = 0; b < g.nb; ++b) {
        const float* xc = a.x + (b / chunk_blocks) * chunk;
        const float s = scale_value(w, w.scale_index(r, block_group(w, b))), z = block_zero(w, r, b);
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
