// lowbit/formats/detail/x86/gguf_dot_avx2.hpp — AVX2 copies of the GGUF-block
// dot products of detail/gguf_dot.hpp. Private to formats/gguf_matmul.hpp,
// included only on x86 with GCC or Clang.
//
// Only part 1 (the integer block sums) is vectorised: u8 x s8 products with
// maddubs, pairs widened and scaled with madd, all exact in int16/int32 for the
// code ranges of these formats (largest pair: 2 * 128 * 127 = 32512 < 2^15).
// Signed weights meet signed activations through a sign trick: against Q8_0
// (codes within +-127) the weight's magnitude is the unsigned side (dot_s8);
// against Q8_K, whose codes reach -128, the activation's is (dot_s8_q8k), so
// no -128 is ever negated. Codes through a 16-entry table (IQ4_NL, IQ4_XS,
// MXFP4) are looked up with pshufb.
// Part 2 (scales) calls the shared *_term functions of gguf_dot.hpp in block
// order, so the results equal the scalar model bit for bit. Every function
// carries the target attribute (AVX2 + F16C, no FMA: nothing here may be contracted);
// the CPU is checked by kernels/arch.hpp before any of them runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../../../core/detail/x86_intrin.hpp"
#include "../gguf_dot.hpp"
#include "../gguf_dot_iq.hpp"

namespace lowbit {
namespace gguf {
namespace detail {
namespace avx2 {

#include "gguf_avx2_target_begin.inl"

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

// The same sum for activations that may hold -128 (Q8_K): |a| (u8) x sign(a) w
// (s8); w in [-127, 127]. Pairs of the maddubs are scaled by sc16's int16 lanes.
LOWBIT_GGUF_AVX2_INLINE __m256i dot_s8_q8k(__m256i w, __m256i a, __m256i sc16) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(a), _mm256_sign_epi8(w, a)), sc16);
}

LOWBIT_GGUF_AVX2_INLINE __m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
// Little-endian words, as load_u32le / load_u16le but always inlined: GCC may
// leave those as calls, and a call in a kernel loop costs a vzeroupper and spills.
LOWBIT_GGUF_AVX2_INLINE std::uint32_t u32_at(const std::uint8_t* p) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
LOWBIT_GGUF_AVX2_INLINE std::uint16_t u16_at(const std::uint8_t* p) {
    std::uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}

// A 16-entry table of signed bytes in both 128-bit lanes, for pshufb lookups.
LOWBIT_GGUF_AVX2_INLINE __m256i lut16(const std::int8_t* levels) {
    return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(levels)));
}

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

// 0xff at byte j where bit j of the 32-bit word is set, else 0.
LOWBIT_GGUF_AVX2_INLINE __m256i bit_mask32(std::uint32_t word) {
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(word)),
                                               _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,  //
                                                                2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}

// Q5_0 / Q5_1 codes 0..31: the nibbles, plus bit j of the 32-bit qh word as 0x10 at byte j.
LOWBIT_GGUF_AVX2_INLINE __m256i q5_codes(const std::uint8_t* qs, const std::uint8_t* qh) {
    return _mm256_or_si256(nibbles_32(qs), _mm256_and_si256(bit_mask32(load_high_bits(qh)), _mm256_set1_epi8(0x10)));
}

LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_q5_0& w, const block_q8_0& a) {
    const __m256i q = _mm256_sub_epi8(q5_codes(w.qs, w.qh), _mm256_set1_epi8(16));
    return hsum(dot_s8(q, load32(a.qs)));
}

// Q4_1 / Q5_1: unsigned codes straight into maddubs (the min is in the term).
LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_q4_1& w, const block_q8_1& a) {
    return hsum(dot_u8_scaled(nibbles_32(w.qs), load32(a.qs), _mm256_set1_epi16(1)));
}
LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_q5_1& w, const block_q8_1& a) {
    return hsum(dot_u8_scaled(q5_codes(w.qs, w.qh), load32(a.qs), _mm256_set1_epi16(1)));
}

// IQ4_NL / MXFP4: nibbles through the level table (levels within +-127).
LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_iq4_nl& w, const block_q8_0& a) {
    return hsum(dot_s8(_mm256_shuffle_epi8(lut16(iq4nl_levels), nibbles_32(w.qs)), load32(a.qs)));
}
LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_mxfp4& w, const block_q8_0& a) {
    return hsum(dot_s8(_mm256_shuffle_epi8(lut16(mxfp4_levels), nibbles_32(w.qs)), load32(a.qs)));
}

LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_q8_0& w, const block_q8_0& a) {
    return hsum(dot_s8(load32(w.qs), load32(a.qs)));
}

// Q4_K: 32-byte group p holds sub-block 2p in its low nibbles and 2p+1 in its high ones.
LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_q4_K& w, const k4_scales& s, const block_q8_K& a) {
    const __m256i m = _mm256_set1_epi8(0x0f);
    __m256i acc = _mm256_setzero_si256();
    LOWBIT_UNROLL
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
    LOWBIT_UNROLL
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
    LOWBIT_UNROLL
    for (int t = 0; t < 4; ++t)
        q[t] = _mm256_or_si256(low[t], _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * t), m2), 4));
}

// Q6_K: codes stay unsigned; the -32 offset is applied once with the activation bsums.
LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_q6_K& w, const block_q8_K& a) {
    __m256i acc = _mm256_setzero_si256();
    LOWBIT_UNROLL
    for (int h = 0; h < 2; ++h) {
        __m256i q[4];
        q6_codes(w, h, q);
        LOWBIT_UNROLL
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

// Q2_K / Q3_K: the 2-bit codes of 32-byte half h at shift 2t are sub-blocks
// 8h + 2t (low 128-bit lane) and 8h + 2t + 1 (high lane), values 128h + 32t .. +31.
LOWBIT_GGUF_AVX2_INLINE __m256i k2_codes(const std::uint8_t* qs, int h, int t) {
    return _mm256_and_si256(_mm256_srli_epi16(load32(qs + 32 * h), 2 * t), _mm256_set1_epi8(3));
}
// Two int16 scales, one per 128-bit lane.
LOWBIT_GGUF_AVX2_INLINE __m256i lane_scales(int lo, int hi) {
    return _mm256_set_m128i(_mm_set1_epi16(static_cast<short>(hi)), _mm_set1_epi16(static_cast<short>(lo)));
}
// From eight int16 scales s0..s7 (in both 128-bit lanes): s_{2t} in the low
// lane and s_{2t+1} in the high one, by one byte shuffle.
LOWBIT_GGUF_AVX2_INLINE __m256i pair_scales(__m256i sc8, int t) {
    const char lo = static_cast<char>(4 * t), hi = static_cast<char>(4 * t + 2);
    const __m256i idx = _mm256_setr_epi8(lo, lo + 1, lo, lo + 1, lo, lo + 1, lo, lo + 1, lo, lo + 1, lo, lo + 1, lo, lo + 1, lo,
                                         lo + 1, hi, hi + 1, hi, hi + 1, hi, hi + 1, hi, hi + 1, hi, hi + 1, hi, hi + 1, hi,
                                         hi + 1, hi, hi + 1);
    return _mm256_shuffle_epi8(sc8, idx);
}
// sum over the 16 sub-blocks of sc_j * (codes . activations), as int32 lanes;
// sc16 the 16 int16 scales, codes the 2-bit ones of qs (k2_codes) with, for
// Q3_K, the third bit of value 128h + 32t + m from bit 4h + t of hmask[m] as 4.
template <bool Third>
LOWBIT_GGUF_AVX2_INLINE __m256i k2_lanes(__m256i sc16, const std::uint8_t* qs, const std::uint8_t* hmask, const block_q8_K& a) {
    const __m256i hm = Third ? load32(hmask) : _mm256_setzero_si256();
    __m256i acc = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
        const __m128i half = h ? _mm256_extracti128_si256(sc16, 1) : _mm256_castsi256_si128(sc16);
        const __m256i sc8 = _mm256_broadcastsi128_si256(half);
        LOWBIT_UNROLL
        for (int t = 0; t < 4; ++t) {
            __m256i q = k2_codes(qs, h, t);
            if (Third) {
                const __m256i bit = _mm256_set1_epi8(static_cast<char>(1u << (4 * h + t)));
                q = _mm256_or_si256(q, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hm, bit), bit), _mm256_set1_epi8(4)));
            }
            acc = _mm256_add_epi32(acc, dot_u8_scaled(q, load32(a.qs + 128 * h + 32 * t), pair_scales(sc8, t)));
        }
    }
    return acc;
}

// Q2_K: scales are the low nibbles of scales[], mins the high ones.
LOWBIT_GGUF_AVX2_INLINE __m128i q2k_scale_bytes(const block_q2_K& w) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales)); }
LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_q2_K& w, const block_q8_K& a) {
    const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(q2k_scale_bytes(w), _mm_set1_epi8(0x0f)));
    return hsum(k2_lanes<false>(sc16, w.qs, nullptr, a));
}
// sum_j (scales[j] >> 4) * bsums[j], as q2k_min_sum.
LOWBIT_GGUF_AVX2_INLINE std::int32_t q2k_min_sum(const block_q2_K& w, const block_q8_K& a) {
    const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(q2k_scale_bytes(w), 4), _mm_set1_epi8(0x0f)));
    return hsum(_mm256_madd_epi16(mins, load32(a.bsums)));
}

// Q3_K's sixteen 6-bit scales minus 32 as int16 lanes (unpack_scale_q3 on
// 32-bit words: low nibbles from bytes 0..7, high bit pairs from bytes 8..11).
LOWBIT_GGUF_AVX2_INLINE __m256i q3k_scales16(const std::uint8_t* in) {
    std::uint32_t w[3];
    std::memcpy(w, in, 12);
    const std::uint32_t m4 = 0x0f0f0f0fu, m2 = 0x03030303u;
    const __m128i sc = _mm_setr_epi32(static_cast<int>((w[0] & m4) | ((w[2] & m2) << 4)),
                                      static_cast<int>((w[1] & m4) | (((w[2] >> 2) & m2) << 4)),
                                      static_cast<int>(((w[0] >> 4) & m4) | (((w[2] >> 4) & m2) << 4)),
                                      static_cast<int>(((w[1] >> 4) & m4) | (((w[2] >> 6) & m2) << 4)));
    return _mm256_sub_epi16(_mm256_cvtepu8_epi16(sc), _mm256_set1_epi16(32));
}

// Q3_K: unsigned codes 0..7 (low two bits | third bit << 2); the -4 comes off
// with the bsums: sum_j sc_j (sum q a - 4 bsums_j).
LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_q3_K& w, const block_q8_K& a) {
    const __m256i sc16 = q3k_scales16(w.scales);
    const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(sc16, load32(a.bsums)), 2);  // 4 sum_j sc_j bsums_j
    return hsum(_mm256_sub_epi32(k2_lanes<true>(sc16, w.qs, w.hmask, a), offset));
}

// IQ4_XS's eight 6-bit scales minus 32, as int16 lanes in both 128-bit halves:
// low nibbles from scales_l (sub-block 2j low, 2j + 1 high), bit pairs from scales_h.
LOWBIT_GGUF_AVX2_INLINE __m256i iq4xs_scales8(const block_iq4_xs& w) {
    const __m128i l = _mm_cvtsi32_si128(static_cast<int>(load_high_bits(w.scales_l)));
    const __m128i m4 = _mm_set1_epi8(0x0f);
    std::uint64_t high = 0;
    for (int ib = 0; ib < 8; ++ib) high |= static_cast<std::uint64_t>((w.scales_h >> (2 * ib)) & 3u) << (8 * ib + 4);
    const __m128i bytes = _mm_or_si128(_mm_unpacklo_epi8(_mm_and_si128(l, m4), _mm_and_si128(_mm_srli_epi16(l, 4), m4)),
                                       _mm_cvtsi64_si128(static_cast<long long>(high)));
    const __m128i sc = _mm_sub_epi16(_mm_cvtepu8_epi16(bytes), _mm_set1_epi16(32));
    return _mm256_broadcastsi128_si256(sc);
}
// Int16 lane ib of sc8 in every lane.
LOWBIT_GGUF_AVX2_INLINE __m256i broadcast_scale(__m256i sc8, int ib) {
    return _mm256_shuffle_epi8(sc8, _mm256_set1_epi16(static_cast<short>((2 * ib) | ((2 * ib + 1) << 8))));
}

// IQ4_XS: per 32-value sub-block the table's levels, scaled by s - 32.
LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_iq4_xs& w, const block_q8_K& a) {
    const __m256i lut = lut16(iq4nl_levels);
    const __m256i sc8 = iq4xs_scales8(w);
    __m256i acc = _mm256_setzero_si256();
    LOWBIT_UNROLL
    for (int ib = 0; ib < 8; ++ib) {
        const __m256i q = _mm256_shuffle_epi8(lut, nibbles_32(w.qs + 16 * ib));
        acc = _mm256_add_epi32(acc, dot_s8_q8k(q, load32(a.qs + 32 * ib), broadcast_scale(sc8, ib)));
    }
    return hsum(acc);
}

// TQ2_0: trits t in 0..2 (same layout as k2_codes); sum (t - 1) a = sum t a - sum bsums.
LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_tq2_0& w, const block_q8_K& a) {
    __m256i acc = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h)
        LOWBIT_UNROLL
        for (int n = 0; n < 4; ++n)
            acc = _mm256_add_epi32(acc, dot_u8_scaled(k2_codes(w.qs, h, n), load32(a.qs + 128 * h + 32 * n), _mm256_set1_epi16(1)));
    return hsum(_mm256_sub_epi32(acc, _mm256_madd_epi16(load32(a.bsums), _mm256_set1_epi16(1))));
}

// TQ1_0: trit n of a byte is (q * 3) >> 8 with q = byte * 3^n mod 256
// (unpack_trit), which is [q >= 86] + [q >= 171]. Byte-wise and without a
// multiply: q * 3 by wrapping byte adds, the thresholds by signed compares.
// The bytes are kept as q ^ 0x80 (q - 128, signed) throughout: (q ^ 0x80) * 3
// = (q * 3) ^ 0x80 mod 256, so one xor per loaded byte suffices.
LOWBIT_GGUF_AVX2_INLINE __m256i times3(__m256i q) { return _mm256_add_epi8(_mm256_add_epi8(q, q), q); }
LOWBIT_GGUF_AVX2_INLINE __m256i flip(__m256i q) { return _mm256_xor_si256(q, _mm256_set1_epi8(-128)); }
LOWBIT_GGUF_AVX2_INLINE __m256i trit_of_flipped(__m256i s) {
    const __m256i ge86 = _mm256_cmpgt_epi8(s, _mm256_set1_epi8(85 - 128));
    const __m256i ge171 = _mm256_cmpgt_epi8(s, _mm256_set1_epi8(170 - 128));
    return _mm256_sub_epi8(_mm256_sub_epi8(_mm256_setzero_si256(), ge86), ge171);
}
// Trits t in 0..2, as decode_tq1_0 orders them; sum (t - 1) a = sum t a - sum bsums.
// The eight maddubs pair sums add in int16: at most 8 x 2 x 2 x 128 = 4096 per lane.
LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_tq1_0& w, const block_q8_K& a) {
    __m256i q = flip(load32(w.qs));  // byte m, trit n: value 32n + m
    __m256i p16 = _mm256_maddubs_epi16(trit_of_flipped(q), load32(a.qs));
    LOWBIT_UNROLL
    for (int n = 1; n < 5; ++n) {
        q = times3(q);
        p16 = _mm256_add_epi16(p16, _mm256_maddubs_epi16(trit_of_flipped(q), load32(a.qs + 32 * n)));
    }
    // qs[32 + m], trit n: value 160 + 16n + m; qh[j], trit n: value 240 + 4n + j.
    // As 32-value vectors: trits (0 | 1), (2 | 3) of the 16 bytes, then (4 | qh's),
    // qh's with 32-bit lane n of the high half times 3^n.
    const __m256i b1 = flip(_mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.qs + 32))));
    const __m256i b3 = times3(b1), b9 = times3(b3), b27 = times3(b9), b81 = times3(b27);
    const __m256i h1 = flip(_mm256_set1_epi32(static_cast<int>(u32_at(w.qh)))), h3 = times3(h1), h9 = times3(h3), h27 = times3(h9);
    const __m256i h = _mm256_blend_epi32(_mm256_blend_epi32(_mm256_blend_epi32(h1, h3, 0x22), h9, 0x44), h27, 0x88);
    const __m256i tail[3] = {_mm256_blend_epi32(b1, b3, 0xf0), _mm256_blend_epi32(b9, b27, 0xf0), _mm256_blend_epi32(b81, h, 0xf0)};
    LOWBIT_UNROLL
    for (int v = 0; v < 3; ++v) p16 = _mm256_add_epi16(p16, _mm256_maddubs_epi16(trit_of_flipped(tail[v]), load32(a.qs + 160 + 32 * v)));
    const __m256i one = _mm256_set1_epi16(1);
    return hsum(_mm256_sub_epi32(_mm256_madd_epi16(p16, one), _mm256_madd_epi16(load32(a.bsums), one)));
}

// sum_j m_j * (bsums[2j] + bsums[2j+1]), as kquant_min_sum.
LOWBIT_GGUF_AVX2_INLINE std::int32_t min_sum(const k4_scales& s, const block_q8_K& a) {
    const __m256i pairs = _mm256_madd_epi16(load32(a.bsums), _mm256_set1_epi16(1));  // lane j: bsums[2j] + bsums[2j+1]
    std::int64_t mn8;
    std::memcpy(&mn8, s.mn, 8);
    const __m256i mins = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(mn8));
    return hsum(_mm256_mullo_epi32(pairs, mins));
}

// One row: the sum over its blocks of the type's term (gguf_dot.hpp's model)
// of the integer dot isum. The lattice i-quants specialise it
// (gguf_dot_avx2_lattice.hpp).
template <class W, class A>
LOWBIT_GGUF_AVX2 inline float row_dot(const W* w, const A* a, std::size_t nb) {
    float sum = 0.0f;
    for (std::size_t i = 0; i < nb; ++i) {
        if constexpr (std::is_same_v<W, block_q4_K> || std::is_same_v<W, block_q5_K>) {
            // 6-bit scales and mins packed alike (unpack_k4).
            const k4_scales s = unpack_k4(w[i].scales);
            sum += kquant_affine_term(a[i].d, h2f(w[i].d), h2f(w[i].dmin), avx2::isum(w[i], s, a[i]), min_sum(s, a[i]));
        } else if constexpr (std::is_same_v<W, block_q2_K>) {
            sum += kquant_affine_term(a[i].d, h2f(w[i].d), h2f(w[i].dmin), avx2::isum(w[i], a[i]), avx2::q2k_min_sum(w[i], a[i]));
        } else if constexpr (std::is_same_v<A, block_q8_K>) {  // Q3_K, Q6_K, IQ4_XS, TQ1_0, TQ2_0: one f16 scale, signed codes
            sum += kquant_symmetric_term(a[i].d, h2f(w[i].d), avx2::isum(w[i], a[i]));
        } else if constexpr (std::is_same_v<A, block_q8_1>) {  // Q4_1, Q5_1
            sum += legacy_affine_term(h2f(w[i].d), h2f(w[i].m), h2f(a[i].d), h2f(a[i].s), avx2::isum(w[i], a[i]));
        } else if constexpr (std::is_same_v<W, block_mxfp4>) {
            sum += legacy_term(e8m0_half(w[i].e), h2f(a[i].d), avx2::isum(w[i], a[i]));
        } else {  // Q4_0, Q5_0, Q8_0, IQ4_NL
            sum += legacy_term(h2f(w[i].d), h2f(a[i].d), avx2::isum(w[i], a[i]));
        }
    }
    return sum;
}

#include "gguf_avx2_target_end.inl"

}  // namespace avx2
}  // namespace detail
}  // namespace gguf
}  // namespace lowbit
