// lowbit/formats/detail/x86/gguf_dot_avx2_lattice.hpp — AVX2 copies of the
// lattice i-quant dot products of detail/gguf_dot_iq.hpp (IQ2_XXS, IQ2_XS,
// IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M). Private to formats/gguf_matmul.hpp,
// included only on x86 with GCC or Clang; read gguf_dot_avx2.hpp first.
//
// Per 32 values: the grid points are fetched as bytes (gguf_iq_grid_bytes.hpp)
// and their signs applied by one byte-wise sign (a grid byte is at most 62, so
// negating it is exact); a 7-bit sign field is one 64-bit mask of +-1 bytes
// (iq_sign_masks), stored sign bytes go through bit_mask32. How the points
// are fetched was measured on Zen 5 (ns per 256 values, a scratch harness):
// scalar loads at indices computed in general registers, passed straight to
// _mm256_set_* (IQ1_S 17.6, IQ2_S 22), beat one vpgatherdq per 32 values (21.6,
// 26); the copies before stored the points to an array and loaded that as a
// vector (IQ1_S 85, IQ2_S 82). IQ3_S keeps one vpgatherdd for its eight
// points (31.7 vs 32.3 with scalar loads).
// The signed bytes are dotted with the Q8_K activations by dot_s8_q8k, each
// 16-value pair scaled by the sub-block's integer scale 2 s + 1 — the sums of
// gguf_dot_iq.hpp, exactly. IQ1 adds its +-1 shift to bytes of 8 x level.
// The term is the model's lattice_term.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "../gguf_dot_iq.hpp"
#include "../gguf_iq_grid_bytes.hpp"
#include "gguf_dot_avx2.hpp"

namespace lowbit {
namespace gguf {
namespace detail {
namespace avx2 {

#define LOWBIT_GGUF_AVX2 __attribute__((target("avx2,f16c")))
#define LOWBIT_GGUF_AVX2_INLINE LOWBIT_GGUF_AVX2 __attribute__((always_inline)) inline

// Eight 32-bit table entries at the 32-bit indices of idx.
template <std::size_t N>
LOWBIT_GGUF_AVX2_INLINE __m256i gather4(const grid_bytes<std::uint32_t, N>& table, __m256i idx) {
    return _mm256_i32gather_epi32(reinterpret_cast<const int*>(table.v), idx, 4);
}
LOWBIT_GGUF_AVX2_INLINE __m256i bytes8_u32(const std::uint8_t* p) {
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}
// Field l of four: (word >> shift_l) & mask, in 32-bit lane l.
LOWBIT_GGUF_AVX2_INLINE __m128i fields4(std::uint32_t word, __m128i shifts, int mask) {
    return _mm_and_si128(_mm_srlv_epi32(_mm_set1_epi32(static_cast<int>(word)), shifts), _mm_set1_epi32(mask));
}
LOWBIT_GGUF_AVX2_INLINE __m256i points8(std::uint64_t p0, std::uint64_t p1, std::uint64_t p2, std::uint64_t p3) {
    return _mm256_set_epi64x(static_cast<long long>(p3), static_cast<long long>(p2), static_cast<long long>(p1),
                             static_cast<long long>(p0));
}
// The +-1 masks of the four 7-bit sign fields at bits 0, 7, 14, 21 of meta.
LOWBIT_GGUF_AVX2_INLINE __m256i sign_masks4(std::uint32_t meta) {
    const auto& m = iq_sign_masks.v;
    return points8(m[meta & 127u], m[(meta >> 7) & 127u], m[(meta >> 14) & 127u], m[(meta >> 21) & 127u]);
}
// Stored sign bytes (bit j: value j negated) applied to 32 grid bytes.
LOWBIT_GGUF_AVX2_INLINE __m256i with_signs(__m256i grid, std::uint32_t signs) {
    return _mm256_sign_epi8(grid, _mm256_or_si256(bit_mask32(signs), _mm256_set1_epi8(1)));
}
LOWBIT_GGUF_AVX2_INLINE __m256i odd_scale(unsigned s) { return _mm256_set1_epi16(static_cast<short>(2 * s + 1)); }
LOWBIT_GGUF_AVX2_INLINE __m256i odd_scales(unsigned lo, unsigned hi) {
    return lane_scales(static_cast<int>(2 * lo + 1), static_cast<int>(2 * hi + 1));
}

LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_iq2_xxs& w, const block_q8_K& a) {
    const auto* q = reinterpret_cast<const std::uint8_t*>(w.qs);
    __m256i acc = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ++ib, q += 8) {
        const std::uint32_t meta = u32_at(q + 4);
        const auto& t = iq2xxs_bytes.v;
        const __m256i g = _mm256_sign_epi8(points8(t[q[0]], t[q[1]], t[q[2]], t[q[3]]), sign_masks4(meta));
        acc = _mm256_add_epi32(acc, dot_s8_q8k(g, load32(a.qs + 32 * ib), odd_scale(meta >> 28)));
    }
    return hsum(acc);
}

LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_iq2_xs& w, const block_q8_K& a) {
    const auto* q = reinterpret_cast<const std::uint8_t*>(w.qs);
    __m256i acc = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ++ib, q += 8) {  // four 16-bit words: 9-bit index, 7-bit sign field
        const std::uint16_t v0 = u16_at(q), v1 = u16_at(q + 2), v2 = u16_at(q + 4), v3 = u16_at(q + 6);
        const auto& t = iq2xs_bytes.v;
        const auto& m = iq_sign_masks.v;
        const __m256i g = _mm256_sign_epi8(points8(t[v0 & 511], t[v1 & 511], t[v2 & 511], t[v3 & 511]),
                                           points8(m[v0 >> 9], m[v1 >> 9], m[v2 >> 9], m[v3 >> 9]));
        acc = _mm256_add_epi32(acc, dot_s8_q8k(g, load32(a.qs + 32 * ib), odd_scales(w.scales[ib] & 0xfu, w.scales[ib] >> 4)));
    }
    return hsum(acc);
}

LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_iq2_s& w, const block_q8_K& a) {
    const std::uint8_t* signs = w.qs + qk_k / 8;
    __m256i acc = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ++ib) {  // index l: qs byte | bits 2l, 2l+1 of qh << 8
        const unsigned qh = w.qh[ib];
        const std::uint8_t* q = w.qs + 4 * ib;
        const auto& t = iq2s_bytes.v;
        const __m256i pts = points8(t[q[0] | (qh << 8 & 0x300u)], t[q[1] | (qh << 6 & 0x300u)], t[q[2] | (qh << 4 & 0x300u)],
                                    t[q[3] | (qh << 2 & 0x300u)]);
        const __m256i g = with_signs(pts, u32_at(signs + 4 * ib));
        acc = _mm256_add_epi32(acc, dot_s8_q8k(g, load32(a.qs + 32 * ib), odd_scales(w.scales[ib] & 0xfu, w.scales[ib] >> 4)));
    }
    return hsum(acc);
}

LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_iq3_xxs& w, const block_q8_K& a) {
    const std::uint8_t* meta_bytes = w.qs + qk_k / 4;
    __m256i acc = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ++ib) {  // eight 4-value points; a sign field covers two
        const std::uint32_t meta = u32_at(meta_bytes + 4 * ib);
        const auto& t = iq3xxs_bytes.v;
        const std::uint8_t* q = w.qs + 8 * ib;
        const __m256i points = _mm256_setr_epi32(static_cast<int>(t[q[0]]), static_cast<int>(t[q[1]]), static_cast<int>(t[q[2]]),
                                                 static_cast<int>(t[q[3]]), static_cast<int>(t[q[4]]), static_cast<int>(t[q[5]]),
                                                 static_cast<int>(t[q[6]]), static_cast<int>(t[q[7]]));
        const __m256i g = _mm256_sign_epi8(points, sign_masks4(meta));
        acc = _mm256_add_epi32(acc, dot_s8_q8k(g, load32(a.qs + 32 * ib), odd_scale(meta >> 28)));
    }
    return hsum(acc);
}

LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_iq3_s& w, const block_q8_K& a) {
    const __m256i bit_k = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i acc = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ++ib) {  // index k: qs byte | bit k of qh << 8
        const __m256i high = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(w.qh[ib]), bit_k), _mm256_set1_epi32(1));
        const __m256i idx = _mm256_or_si256(bytes8_u32(w.qs + 8 * ib), _mm256_slli_epi32(high, 8));
        const unsigned sc = (w.scales[ib / 2] >> (4 * (ib % 2))) & 0xfu;
        acc = _mm256_add_epi32(acc, dot_s8_q8k(with_signs(gather4(iq3s_bytes, idx), u32_at(w.signs + 4 * ib)),
                                               load32(a.qs + 32 * ib), odd_scale(sc)));
    }
    return hsum(acc);
}

// IQ1 bytes of a 64-bit lane: 8 x level, plus the shift: +1 bytes, or all-ones
// (-1) bytes where the lane's `minus` is 1.
LOWBIT_GGUF_AVX2_INLINE __m256i shifted(__m256i grid, __m256i minus64) {
    const __m256i shift = _mm256_or_si256(_mm256_sub_epi64(_mm256_setzero_si256(), minus64), _mm256_set1_epi8(1));
    return _mm256_add_epi8(grid, shift);
}

// IQ1_S: the +-1 shift is one sign per 32 values, so its part of the sum,
// (2 s + 1) (+-1) sum a, comes from the activation bsums for all eight
// sub-blocks at once; the points stay 8 x level.
LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_iq1_s& w, const block_q8_K& a) {
    __m256i acc = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ++ib) {  // index l: qs byte | bits 3l .. 3l+2 of qh << 8
        const unsigned qh = w.qh[ib];
        const std::uint8_t* q = w.qs + 4 * ib;
        const auto& t = iq1s_bytes.v;
        const __m256i pts = points8(t[q[0] | (qh << 8 & 0x700u)], t[q[1] | (qh << 5 & 0x700u)], t[q[2] | (qh << 2 & 0x700u)],
                                    t[q[3] | (qh >> 1 & 0x700u)]);
        acc = _mm256_add_epi32(acc, dot_s8_q8k(pts, load32(a.qs + 32 * ib), odd_scale((qh >> 12) & 7u)));
    }
    // Per sub-block: 2 s + 1 from bits 12..14 of qh, negated where bit 15 is set.
    const __m128i qh = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.qh));
    const __m128i odd = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(qh, 11), _mm_set1_epi16(14)), _mm_set1_epi16(1));
    const __m128i neg = _mm_srai_epi16(qh, 15);
    const __m256i coef = _mm256_cvtepi16_epi32(_mm_sub_epi16(_mm_xor_si128(odd, neg), neg));
    const __m256i sums32 = _mm256_madd_epi16(load32(a.bsums), _mm256_set1_epi16(1));  // lane ib: sum of its 32 activations
    return hsum(_mm256_add_epi32(acc, _mm256_mullo_epi32(sums32, coef)));
}

LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_iq1_m& w, const block_q8_K& a) {
    __m256i acc = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ++ib) {  // point k: bits 4k .. 4k+2 of the two qh bytes the index's high bits, 4k+3 the shift's sign
        const unsigned qh = u16_at(w.qh + 2 * ib);
        const std::uint8_t* q = w.qs + 4 * ib;
        const auto& t = iq1s_bytes.v;
        const __m256i pts = points8(t[q[0] | (qh << 8 & 0x700u)], t[q[1] | (qh << 4 & 0x700u)], t[q[2] | (qh & 0x700u)],
                                    t[q[3] | (qh >> 4 & 0x700u)]);
        const __m256i minus = _mm256_cvtepu32_epi64(fields4(qh, _mm_setr_epi32(3, 7, 11, 15), 1));
        const unsigned sc = u16_at(w.scales + 2 * (ib / 2));
        const unsigned s0 = (sc >> (6 * (ib % 2))) & 7u, s1 = (sc >> (6 * (ib % 2) + 3)) & 7u;
        acc = _mm256_add_epi32(acc, dot_s8_q8k(shifted(pts, minus), load32(a.qs + 32 * ib), odd_scales(s0, s1)));
    }
    return hsum(acc);
}

template <>
LOWBIT_GGUF_AVX2 inline float row_dot(const block_iq1_m* w, const block_q8_K* a, std::size_t nb) {
    float sum = 0.0f;
    for (std::size_t i = 0; i < nb; ++i)
        sum += lattice_term(a[i].d, h2f(iq1_m_block_scale(w[i])), avx2::isum(w[i], a[i]), iq1_unit);
    return sum;
}
template <class W>  // the lattice types with an f16 d
LOWBIT_GGUF_AVX2 inline float lattice_row_dot(const W* w, const block_q8_K* a, std::size_t nb) {
    float sum = 0.0f;
    for (std::size_t i = 0; i < nb; ++i) sum += lattice_term(a[i].d, h2f(w[i].d), avx2::isum(w[i], a[i]), lattice_unit(w[i]));
    return sum;
}
#define LOWBIT_GGUF_LATTICE_ROW(T)                                                           \
    template <>                                                                              \
    LOWBIT_GGUF_AVX2 inline float row_dot(const T* w, const block_q8_K* a, std::size_t nb) { \
        return lattice_row_dot(w, a, nb);                                                    \
    }
LOWBIT_GGUF_LATTICE_ROW(block_iq2_xxs)
LOWBIT_GGUF_LATTICE_ROW(block_iq2_xs)
LOWBIT_GGUF_LATTICE_ROW(block_iq2_s)
LOWBIT_GGUF_LATTICE_ROW(block_iq3_xxs)
LOWBIT_GGUF_LATTICE_ROW(block_iq3_s)
LOWBIT_GGUF_LATTICE_ROW(block_iq1_s)
#undef LOWBIT_GGUF_LATTICE_ROW

#undef LOWBIT_GGUF_AVX2_INLINE
#undef LOWBIT_GGUF_AVX2

}  // namespace avx2
}  // namespace detail
}  // namespace gguf
}  // namespace lowbit
