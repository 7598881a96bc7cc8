// lowbit/formats/detail/x86/gguf_dot_avx2.hpp — AVX2 copies of the GGUF-block
// dot products of detail/gguf_dot.hpp. Private to formats/gguf_matmul.hpp,
// included only on x86 with GCC or Clang.
//
// Only part 1 (the integer block sums) is vectorised: u8 x s8 products with
// maddubs, pairs widened and scaled with madd, all exact in int16/int32 for the
// code ranges of these formats (largest pair: 2 * 128 * 127 = 32512 < 2^15).
// Part 2 (scales) calls the shared *_term functions of gguf_dot.hpp in block
// order, so the results equal the scalar model bit for bit. Every function
// carries the target attribute (AVX2 + F16C, no FMA: nothing here may be contracted);
// the CPU is checked by kernels/arch.hpp before any of them runs.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../gguf_dot.hpp"

namespace lowbit {
namespace gguf {
namespace detail {
namespace avx2 {

#define LOWBIT_GGUF_AVX2 __attribute__((target("avx2,f16c")))
#define LOWBIT_GGUF_AVX2_INLINE LOWBIT_GGUF_AVX2 __attribute__((always_inline)) inline

// f16 bits -> f32 with F16C: exact, so equal to the software to_f32 of the model.
LOWBIT_GGUF_AVX2_INLINE float h2f(std::uint16_t h) { return _cvtsh_ss(h); }

LOWBIT_GGUF_AVX2_INLINE std::int32_t hsum(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

// sum of w_i * a_i over 32 signed bytes, as 8 int32 lanes: |w| (u8) x sign(w) a (s8).
LOWBIT_GGUF_AVX2_INLINE __m256i dot_s8(__m256i w, __m256i a) {
    const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

// sum of sc * q_i * a_i, q unsigned codes < 64, as 8 int32 lanes; sc per 128-bit lane.
LOWBIT_GGUF_AVX2_INLINE __m256i dot_u8_scaled(__m256i q, __m256i a, __m256i sc16) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(q, a), sc16);
}

LOWBIT_GGUF_AVX2_INLINE __m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// 16 bytes of packed nibbles -> 32 codes: low nibbles in bytes 0..15, high in 16..31.
LOWBIT_GGUF_AVX2_INLINE __m256i nibbles_32(const std::uint8_t* p) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i m = _mm_set1_epi8(0x0f);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
}

LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_q4_0& w, const block_q8_0& a) {
    const __m256i q = _mm256_sub_epi8(nibbles_32(w.qs), _mm256_set1_epi8(8));
    return hsum(dot_s8(q, load32(a.qs)));
}

LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_q5_0& w, const block_q8_0& a) {
    // Broadcast the 32-bit qh word and turn bit j into 0x10 at byte j.
    const __m256i word = _mm256_set1_epi32(static_cast<int>(load_high_bits(w.qh)));
    const __m256i spread = _mm256_shuffle_epi8(word, _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,  //
                                                                      2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
    const __m256i high = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(0x10));
    const __m256i q = _mm256_sub_epi8(_mm256_or_si256(nibbles_32(w.qs), high), _mm256_set1_epi8(16));
    return hsum(dot_s8(q, load32(a.qs)));
}

LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_q8_0& w, const block_q8_0& a) {
    return hsum(dot_s8(load32(w.qs), load32(a.qs)));
}

// Q4_K: 32-byte group p holds sub-block 2p in its low nibbles and 2p+1 in its high ones.
LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_q4_K& w, const k4_scales& s, const block_q8_K& a) {
    const __m256i m = _mm256_set1_epi8(0x0f);
    __m256i acc = _mm256_setzero_si256();
    for (int p = 0; p < 4; ++p) {
        const std::uint8_t sc0 = s.sc[2 * p], sc1 = s.sc[2 * p + 1];
        const __m256i v = load32(w.qs + 32 * p);
        acc = _mm256_add_epi32(acc, dot_u8_scaled(_mm256_and_si256(v, m), load32(a.qs + 64 * p), _mm256_set1_epi16(sc0)));
        acc = _mm256_add_epi32(acc, dot_u8_scaled(_mm256_and_si256(_mm256_srli_epi16(v, 4), m), load32(a.qs + 64 * p + 32),
                                                  _mm256_set1_epi16(sc1)));
    }
    return hsum(acc);
}

// Q5_K: as Q4_K, plus bit j of qh[l] as the fifth bit of sub-block j's value l.
LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_q5_K& w, const k4_scales& s, const block_q8_K& a) {
    const __m256i m = _mm256_set1_epi8(0x0f);
    const __m256i h = load32(w.qh);
    const __m256i fifth = _mm256_set1_epi8(0x10);
    __m256i acc = _mm256_setzero_si256();
    for (int j = 0; j < 8; ++j) {
        const std::uint8_t sc = s.sc[j];
        const __m256i v = load32(w.qs + 32 * (j / 2));
        const __m256i low = _mm256_and_si256(j % 2 ? _mm256_srli_epi16(v, 4) : v, m);
        const __m256i bit = _mm256_set1_epi8(static_cast<char>(1u << j));
        const __m256i high = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(h, bit), bit), fifth);
        acc = _mm256_add_epi32(acc, dot_u8_scaled(_mm256_or_si256(low, high), load32(a.qs + 32 * j), _mm256_set1_epi16(sc)));
    }
    return hsum(acc);
}

// Q6_K codes of half h (0..63, unsigned): q[t] holds quarter t, values
// 128h + 32t .. +31, i.e. sub-blocks 8h + 2t (low 128-bit lane) and 8h + 2t + 1
// (high lane). Shared with the AVX-512 copies (their targets include AVX2).
LOWBIT_GGUF_AVX2_INLINE void q6_codes(const block_q6_K& w, int h, __m256i q[4]) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(0x03);
    const __m256i ql0 = load32(w.ql + 64 * h), ql1 = load32(w.ql + 64 * h + 32), qh = load32(w.qh + 32 * h);
    const __m256i low[4] = {_mm256_and_si256(ql0, m4), _mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                            _mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4)};
    for (int t = 0; t < 4; ++t)
        q[t] = _mm256_or_si256(low[t], _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * t), m2), 4));
}

// Q6_K: codes stay unsigned; the -32 offset is applied once with the activation bsums.
LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_q6_K& w, const block_q8_K& a) {
    __m256i acc = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
        __m256i q[4];
        q6_codes(w, h, q);
        for (int t = 0; t < 4; ++t) {
            const int s = 8 * h + 2 * t;
            const __m256i sc = _mm256_set_m128i(_mm_set1_epi16(w.scales[s + 1]), _mm_set1_epi16(w.scales[s]));
            acc = _mm256_add_epi32(acc, dot_u8_scaled(q[t], load32(a.qs + 128 * h + 32 * t), sc));
        }
    }
    std::int32_t offset = 0;
    for (int s = 0; s < 16; ++s) offset += static_cast<std::int32_t>(w.scales[s]) * a.bsums[s];
    return hsum(acc) - 32 * offset;
}

// sum_j m_j * (bsums[2j] + bsums[2j+1]), as kquant_min_sum.
LOWBIT_GGUF_AVX2_INLINE std::int32_t min_sum(const k4_scales& s, const block_q8_K& a) {
    const __m256i pairs = _mm256_madd_epi16(load32(a.bsums), _mm256_set1_epi16(1));  // lane j: bsums[2j] + bsums[2j+1]
    std::int64_t mn8;
    std::memcpy(&mn8, s.mn, 8);
    const __m256i mins = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(mn8));
    return hsum(_mm256_mullo_epi32(pairs, mins));
}

template <class W, class A>
LOWBIT_GGUF_AVX2 inline float row_dot(const W* w, const A* a, std::size_t nb) {
    float sum = 0.0f;
    for (std::size_t i = 0; i < nb; ++i) sum += legacy_term(h2f(w[i].d), h2f(a[i].d), avx2::isum(w[i], a[i]));
    return sum;
}
template <>
LOWBIT_GGUF_AVX2 inline float row_dot(const block_q4_K* w, const block_q8_K* a, std::size_t nb) {
    float sum = 0.0f;
    for (std::size_t i = 0; i < nb; ++i) {
        const k4_scales s = unpack_k4(w[i].scales);
        sum += kquant_affine_term(a[i].d, h2f(w[i].d), h2f(w[i].dmin), avx2::isum(w[i], s, a[i]), min_sum(s, a[i]));
    }
    return sum;
}
template <>
LOWBIT_GGUF_AVX2 inline float row_dot(const block_q5_K* w, const block_q8_K* a, std::size_t nb) {
    float sum = 0.0f;
    for (std::size_t i = 0; i < nb; ++i) {
        const k4_scales s = unpack_k4(w[i].scales);
        sum += kquant_affine_term(a[i].d, h2f(w[i].d), h2f(w[i].dmin), avx2::isum(w[i], s, a[i]), min_sum(s, a[i]));
    }
    return sum;
}
template <>
LOWBIT_GGUF_AVX2 inline float row_dot(const block_q6_K* w, const block_q8_K* a, std::size_t nb) {
    float sum = 0.0f;
    for (std::size_t i = 0; i < nb; ++i) sum += kquant_symmetric_term(a[i].d, h2f(w[i].d), avx2::isum(w[i], a[i]));
    return sum;
}

#undef LOWBIT_GGUF_AVX2_INLINE
#undef LOWBIT_GGUF_AVX2

}  // namespace avx2
}  // namespace detail
}  // namespace gguf
}  // namespace lowbit
