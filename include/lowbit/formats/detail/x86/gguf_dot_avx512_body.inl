// gguf_dot_avx512_body.inl — one AVX-512 copy of the GGUF-block dot products,
// stamped out by gguf_dot_avx512.hpp (read that file first). Parameters:
//   LOWBIT_GGUF_NS    the namespace (avx512, avx512vnni)
//   LOWBIT_GGUF_TGT   the target attribute of every function
//   LOWBIT_GGUF_VNNI  0: maddubs + madd, 1: vpdpbusd / vpdpwssd
// Included once per copy: no #pragma once.

namespace LOWBIT_GGUF_NS {

#define LOWBIT_GGUF_INLINE LOWBIT_GGUF_TGT __attribute__((always_inline)) inline

// The AVX2 copy's helpers (always_inline, target AVX2 + F16C, a subset of this copy's).
using avx2::h2f;
using avx2::hsum;
using avx2::load32;
using avx2::lut16;
using avx2::nibbles_32;
using avx2::q6_codes;


// Lane j of the result = the sum of the eight lanes of v[j].
LOWBIT_GGUF_INLINE __m256i lane_sums8(const __m256i* v) {
    // Two rounds of hadd leave, in 128-bit half h, the sums of half h of v[0..3]
    // (resp. v[4..7]); adding the two halves completes each sum.
    const __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    const __m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20), _mm256_permute2x128_si256(a, b, 0x31));
}

// acc + the products u_i * s_i (u unsigned, s signed bytes), summed in fours per int32 lane.
LOWBIT_GGUF_INLINE __m256i dot_us(__m256i acc, __m256i u, __m256i s) {
#if LOWBIT_GGUF_VNNI
    return _mm256_dpbusd_epi32(acc, u, s);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}

// acc + sc * (u_i * s_i), the pairs of maddubs scaled by the int16 lanes of sc16.
LOWBIT_GGUF_INLINE __m256i dot_us_scaled(__m256i acc, __m256i u, __m256i s, __m256i sc16) {
    const __m256i pairs = _mm256_maddubs_epi16(u, s);
#if LOWBIT_GGUF_VNNI
    return _mm256_dpwssd_epi32(acc, pairs, sc16);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, sc16));
#endif
}


// 0x10 in byte j where bit j of the mask is set.
LOWBIT_GGUF_INLINE __m256i fifth_bits(__mmask32 bits) { return _mm256_maskz_mov_epi8(bits, _mm256_set1_epi8(0x10)); }

// ---- legacy blocks: int32 lanes whose sum is detail::isum(w, a) --------------------
// Codes stay unsigned (q, not q - offset); the offset comes off with the sum of
// the activation codes: sum (q - o) a = sum q a - o sum a. A weight block's
// codes are unpacked once (codes()) and dotted with each activation row
// (lanes()): rows_dot below serves C activation rows per weight row.

LOWBIT_GGUF_INLINE __m256i offset_dot(__m256i q, std::int8_t offset, const block_q8_0& a) {
    const __m256i x = load32(a.qs);
    const __m256i z = _mm256_setzero_si256();
    return _mm256_sub_epi32(dot_us(z, q, x), dot_us(z, _mm256_set1_epi8(offset), x));
}
LOWBIT_GGUF_INLINE __m256i codes(const block_q4_0& w) { return nibbles_32(w.qs); }
LOWBIT_GGUF_INLINE __m256i codes(const block_q5_0& w) {
    return _mm256_or_si256(nibbles_32(w.qs), fifth_bits(static_cast<__mmask32>(load_high_bits(w.qh))));
}
LOWBIT_GGUF_INLINE __m256i codes(const block_q8_0& w) { return load32(w.qs); }
// IQ4_NL / MXFP4: signed levels (within +-127) from the table, dotted like Q8_0's codes.
LOWBIT_GGUF_INLINE __m256i codes(const block_iq4_nl& w) { return _mm256_shuffle_epi8(lut16(iq4nl_levels), nibbles_32(w.qs)); }
LOWBIT_GGUF_INLINE __m256i codes(const block_mxfp4& w) { return _mm256_shuffle_epi8(lut16(mxfp4_levels), nibbles_32(w.qs)); }
LOWBIT_GGUF_INLINE __m256i lanes(__m256i q, const block_q4_0&, const block_q8_0& a) { return offset_dot(q, 8, a); }
LOWBIT_GGUF_INLINE __m256i lanes(__m256i q, const block_q5_0&, const block_q8_0& a) { return offset_dot(q, 16, a); }
// Signed x signed: |w| (u8; |-128| = 128 fits) times a with w's sign. The
// activation codes are within +-127 (quantize_row_q8_0), so the negation is exact.
LOWBIT_GGUF_INLINE __m256i signed_lanes(__m256i q, const block_q8_0& a) {
    return dot_us(_mm256_setzero_si256(), _mm256_abs_epi8(q), _mm256_sign_epi8(load32(a.qs), q));
}
LOWBIT_GGUF_INLINE __m256i lanes(__m256i q, const block_q8_0&, const block_q8_0& a) { return signed_lanes(q, a); }
LOWBIT_GGUF_INLINE __m256i lanes(__m256i q, const block_iq4_nl&, const block_q8_0& a) { return signed_lanes(q, a); }
LOWBIT_GGUF_INLINE __m256i lanes(__m256i q, const block_mxfp4&, const block_q8_0& a) { return signed_lanes(q, a); }

// A weight block's scale as a float: its f16 d, or MXFP4's E8M0 exponent (e8m0_half, the model's).
template <class B>
LOWBIT_GGUF_INLINE float block_scale(const B& b) {
    return h2f(b.d);
}
LOWBIT_GGUF_INLINE float block_scale(const block_mxfp4& b) { return e8m0_half(b.e); }

// The f16 scales of eight consecutive blocks, widened (exactly) to f32 lanes.
template <class B>
LOWBIT_GGUF_INLINE __m256 scales8(const B* b) {
    return _mm256_cvtph_ps(_mm_setr_epi16(static_cast<short>(b[0].d), static_cast<short>(b[1].d), static_cast<short>(b[2].d),
                                          static_cast<short>(b[3].d), static_cast<short>(b[4].d), static_cast<short>(b[5].d),
                                          static_cast<short>(b[6].d), static_cast<short>(b[7].d)));
}
// MXFP4: e8m0_half of eight exponents, bit for bit: (e - 1) << 23 for e >= 2,
// the subnormals 2^-128 and 2^-127 (0x00200000 << e) for e = 0, 1.
LOWBIT_GGUF_INLINE __m256 scales8(const block_mxfp4* b) {
    const __m256i e = _mm256_setr_epi32(b[0].e, b[1].e, b[2].e, b[3].e, b[4].e, b[5].e, b[6].e, b[7].e);
    const __m256i normal = _mm256_slli_epi32(_mm256_sub_epi32(e, _mm256_set1_epi32(1)), 23);
    const __m256i sub = _mm256_sllv_epi32(_mm256_set1_epi32(0x00200000), e);
    return _mm256_castsi256_ps(_mm256_blendv_epi8(sub, normal, _mm256_cmpgt_epi32(e, _mm256_set1_epi32(1))));
}

// Eight products as they are, hidden from the optimiser (as gguf::detail::mul
// does for one): once the lanes are stored and added, GCC may vectorise the
// adds and fuse them with the product into an FMA (-ffp-contract=fast, GNU
// mode's default), which rounds once where the scalar model rounds twice:
// seen at -O2 on Q4_1/Q5_1, whose terms add two products.
LOWBIT_GGUF_INLINE __m256 opaque8(__m256 v) {
    __asm__("" : "+x"(v));
    return v;
}

// out[c] = the row dot product of w with activation row c (a + c * lda), for
// c < C: each weight block is unpacked once for the C rows, and the C sums are
// independent chains (no add waits on another row's). Each is row_dot_scalar's
// sum, in block order from 0.0f, so every C gives the same bits.
template <int C, class W>
LOWBIT_GGUF_TGT inline void rows_dot(const W* w, const block_q8_0* a, std::size_t lda, std::size_t nb, float* out) {
    float sum[C] = {};
    std::size_t i = 0;
    alignas(32) float terms[8];
    for (; i + 8 <= nb; i += 8) {
        __m256i q[8];
        LOWBIT_UNROLL
        for (std::size_t j = 0; j < 8; ++j) q[j] = codes(w[i + j]);
        const __m256 dw = scales8(w + i);
        for (int c = 0; c < C; ++c) {
            const block_q8_0* ac = a + c * lda + i;
            __m256i v[8];
            LOWBIT_UNROLL
            for (std::size_t j = 0; j < 8; ++j) v[j] = lanes(q[j], w[i + j], ac[j]);
            const __m256 isums = _mm256_cvtepi32_ps(lane_sums8(v));  // exact: |isum| < 2^24
            // legacy_term's products, eight at a time; the sum stays in block order
            _mm256_store_ps(terms, opaque8(_mm256_mul_ps(_mm256_mul_ps(dw, scales8(ac)), isums)));
            for (int j = 0; j < 8; ++j) sum[c] += terms[j];
        }
    }
    for (; i < nb; ++i) {
        const __m256i q = codes(w[i]);
        for (int c = 0; c < C; ++c) {
            const block_q8_0& ac = a[c * lda + i];
            sum[c] += legacy_term(block_scale(w[i]), h2f(ac.d), hsum(lanes(q, w[i], ac)));
        }
    }
    for (int c = 0; c < C; ++c) out[c] = sum[c];
}

// ---- Q4_1 / Q5_1 against Q8_1: unsigned codes, the min in the term ------------------
// As rows_dot above, with legacy_affine_term's two products formed eight at a
// time (each the same IEEE product) and added per block, in block order.

LOWBIT_GGUF_INLINE __m256i codes(const block_q4_1& w) { return nibbles_32(w.qs); }
LOWBIT_GGUF_INLINE __m256i codes(const block_q5_1& w) {
    return _mm256_or_si256(nibbles_32(w.qs), fifth_bits(static_cast<__mmask32>(load_high_bits(w.qh))));
}
// One f16 field of eight consecutive blocks, widened to f32 lanes.
template <class B>
LOWBIT_GGUF_INLINE __m256 f16x8(const B* b, std::uint16_t B::*field) {
    return _mm256_cvtph_ps(_mm_setr_epi16(static_cast<short>(b[0].*field), static_cast<short>(b[1].*field),
                                          static_cast<short>(b[2].*field), static_cast<short>(b[3].*field),
                                          static_cast<short>(b[4].*field), static_cast<short>(b[5].*field),
                                          static_cast<short>(b[6].*field), static_cast<short>(b[7].*field)));
}

template <int C, class W>  // Q4_1, Q5_1
LOWBIT_GGUF_TGT inline void rows_dot(const W* w, const block_q8_1* a, std::size_t lda, std::size_t nb, float* out) {
    float sum[C] = {};
    std::size_t i = 0;
    const __m256i z = _mm256_setzero_si256();
    alignas(32) float scaled[8], mins[8];
    for (; i + 8 <= nb; i += 8) {
        __m256i q[8];
        LOWBIT_UNROLL
        for (std::size_t j = 0; j < 8; ++j) q[j] = codes(w[i + j]);
        const __m256 dw = f16x8(w + i, &W::d), mw = f16x8(w + i, &W::m);
        for (int c = 0; c < C; ++c) {
            const block_q8_1* ac = a + c * lda + i;
            __m256i v[8];
            LOWBIT_UNROLL
            for (std::size_t j = 0; j < 8; ++j) v[j] = dot_us(z, q[j], load32(ac[j].qs));
            const __m256 isums = _mm256_cvtepi32_ps(lane_sums8(v));  // exact: |isum| < 2^24
            _mm256_store_ps(scaled, opaque8(_mm256_mul_ps(_mm256_mul_ps(dw, f16x8(ac, &block_q8_1::d)), isums)));
            _mm256_store_ps(mins, opaque8(_mm256_mul_ps(mw, f16x8(ac, &block_q8_1::s))));
            for (int j = 0; j < 8; ++j) sum[c] += scaled[j] + mins[j];
        }
    }
    for (; i < nb; ++i) {
        const __m256i q = codes(w[i]);
        for (int c = 0; c < C; ++c) {
            const block_q8_1& ac = a[c * lda + i];
            sum[c] += legacy_affine_term(h2f(w[i].d), h2f(w[i].m), h2f(ac.d), h2f(ac.s), hsum(dot_us(z, q, load32(ac.qs))));
        }
    }
    for (int c = 0; c < C; ++c) out[c] = sum[c];
}

// ---- K-quants ----------------------------------------------------------------------

// The eight 6-bit scales and mins of a Q4_K/Q5_K super-block (unpack_scale_k4),
// four at a time in 32-bit words, widened to int32 lanes: sc[j], mn[j] = lane j.
struct k4_lanes {
    __m256i sc, mn;
};
LOWBIT_GGUF_INLINE k4_lanes unpack_k4_lanes(const std::uint8_t* in) {
    std::uint32_t w[3];
    std::memcpy(w, in, 12);
    const std::uint32_t lo6 = 0x3f3f3f3fu, lo4 = 0x0f0f0f0fu, lo2 = 0x03030303u;
    const std::uint32_t sc_lo = w[0] & lo6, mn_lo = w[1] & lo6;                        // j < 4
    const std::uint32_t sc_hi = (w[2] & lo4) | (((w[0] >> 6) & lo2) << 4);             // j >= 4
    const std::uint32_t mn_hi = ((w[2] >> 4) & lo4) | (((w[1] >> 6) & lo2) << 4);
    const __m128i sc8 = _mm_setr_epi32(static_cast<int>(sc_lo), static_cast<int>(sc_hi), 0, 0);
    const __m128i mn8 = _mm_setr_epi32(static_cast<int>(mn_lo), static_cast<int>(mn_hi), 0, 0);
    return {_mm256_cvtepu8_epi32(sc8), _mm256_cvtepu8_epi32(mn8)};
}

// Q4_K / Q5_K codes of a super-block, unsigned: q[j] holds sub-block j.
// 32-byte group p holds sub-block 2p in its low nibbles and 2p+1 in its high
// ones; Q5_K adds bit j of qh[l] as the fifth bit of sub-block j's value l.
template <bool Fifth, class W>
LOWBIT_GGUF_INLINE void affine_k_codes(const W& w, const std::uint8_t* qh, __m256i q[8]) {
    const __m256i m = _mm256_set1_epi8(0x0f);
    const __m256i h = Fifth ? load32(qh) : _mm256_setzero_si256();
    LOWBIT_UNROLL
    for (int p = 0; p < 4; ++p) {
        const __m256i v = load32(w.qs + 32 * p);
        __m256i lo = _mm256_and_si256(v, m), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
        if (Fifth) {
            lo = _mm256_or_si256(lo, fifth_bits(_mm256_test_epi8_mask(h, _mm256_set1_epi8(static_cast<char>(1u << (2 * p))))));
            hi = _mm256_or_si256(hi, fifth_bits(_mm256_test_epi8_mask(h, _mm256_set1_epi8(static_cast<char>(1u << (2 * p + 1))))));
        }
        q[2 * p] = lo;
        q[2 * p + 1] = hi;
    }
}
// sum_j sc_j * (sub-block j's codes . activations): the eight sub-block sums
// are reduced together, then scaled in int32 lanes.
LOWBIT_GGUF_INLINE std::int32_t affine_k_isum(const __m256i q[8], __m256i sc, const block_q8_K& a) {
    const __m256i z = _mm256_setzero_si256();
    __m256i d[8];
    LOWBIT_UNROLL
    for (int j = 0; j < 8; ++j) d[j] = dot_us(z, q[j], load32(a.qs + 32 * j));
    return hsum(_mm256_mullo_epi32(lane_sums8(d), sc));
}

// Q6_K: codes stay unsigned (avx2::q6_codes); the -32 offset comes off once,
// with the activation bsums. q[4h + t] holds quarter t of half h, sc[4h + t]
// its two sub-block scales (int16, one per 128-bit half), sc16 all sixteen.
struct q6_unpacked {
    __m256i q[8], sc[8], sc16;
};
LOWBIT_GGUF_INLINE void q6_unpack(const block_q6_K& w, q6_unpacked& u) {
    u.sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales)));
    LOWBIT_UNROLL
    for (int h = 0; h < 2; ++h) {
        q6_codes(w, h, u.q + 4 * h);
        LOWBIT_UNROLL
        for (int t = 0; t < 4; ++t) {
            const short s = static_cast<short>(8 * h + 2 * t);
            u.sc[4 * h + t] = _mm256_permutexvar_epi16(_mm256_set_m128i(_mm_set1_epi16(static_cast<short>(s + 1)), _mm_set1_epi16(s)), u.sc16);
        }
    }
}
LOWBIT_GGUF_INLINE std::int32_t isum(const q6_unpacked& u, const block_q8_K& a) {
    __m256i acc = _mm256_setzero_si256();
    LOWBIT_UNROLL
    for (int k = 0; k < 8; ++k) acc = dot_us_scaled(acc, u.q[k], load32(a.qs + 32 * k), u.sc[k]);
    // sum_s sc_s * bsums_s, as 16 int16 products summed in int32 pairs
    const std::int32_t offset = hsum(_mm256_madd_epi16(u.sc16, load32(a.bsums)));
    return hsum(acc) - 32 * offset;
}

// sum_j m_j * (bsums[2j] + bsums[2j+1]), as kquant_min_sum.
LOWBIT_GGUF_INLINE std::int32_t min_sum(__m256i mn, const block_q8_K& a) {
    const __m256i pairs = _mm256_madd_epi16(load32(a.bsums), _mm256_set1_epi16(1));  // lane j: bsums[2j] + bsums[2j+1]
    return hsum(_mm256_mullo_epi32(pairs, mn));
}

LOWBIT_GGUF_INLINE const std::uint8_t* high_bits(const block_q4_K&) { return nullptr; }
LOWBIT_GGUF_INLINE const std::uint8_t* high_bits(const block_q5_K& w) { return w.qh; }

// rows_dot for the K-quants: as for the legacy blocks, one unpack per weight
// super-block serves C activation rows, each summed in block order.
template <bool Fifth, int C, class W>  // Q4_K (no fifth bit), Q5_K
LOWBIT_GGUF_TGT inline void affine_k_rows_dot(const W* w, const block_q8_K* a, std::size_t lda, std::size_t nb, float* out) {
    float sum[C] = {};
    for (std::size_t i = 0; i < nb; ++i) {
        const k4_lanes s = unpack_k4_lanes(w[i].scales);
        __m256i q[8];
        affine_k_codes<Fifth>(w[i], high_bits(w[i]), q);
        const float d = h2f(w[i].d), dmin = h2f(w[i].dmin);
        for (int c = 0; c < C; ++c) {
            const block_q8_K& ac = a[c * lda + i];
            sum[c] += kquant_affine_term(ac.d, d, dmin, affine_k_isum(q, s.sc, ac), min_sum(s.mn, ac));
        }
    }
    for (int c = 0; c < C; ++c) out[c] = sum[c];
}
template <int C>
LOWBIT_GGUF_TGT inline void rows_dot(const block_q4_K* w, const block_q8_K* a, std::size_t lda, std::size_t nb, float* out) {
    affine_k_rows_dot<false, C>(w, a, lda, nb, out);
}
template <int C>
LOWBIT_GGUF_TGT inline void rows_dot(const block_q5_K* w, const block_q8_K* a, std::size_t lda, std::size_t nb, float* out) {
    affine_k_rows_dot<true, C>(w, a, lda, nb, out);
}
template <int C>
LOWBIT_GGUF_TGT inline void rows_dot(const block_q6_K* w, const block_q8_K* a, std::size_t lda, std::size_t nb, float* out) {
    float sum[C] = {};
    for (std::size_t i = 0; i < nb; ++i) {
        q6_unpacked u;
        q6_unpack(w[i], u);
        const float d = h2f(w[i].d);
        LOWBIT_UNROLL
        for (int c = 0; c < C; ++c) {
            const block_q8_K& ac = a[c * lda + i];
            sum[c] += kquant_symmetric_term(ac.d, d, LOWBIT_GGUF_NS::isum(u, ac));
        }
    }
    for (int c = 0; c < C; ++c) out[c] = sum[c];
}

// ---- Q2_K, Q3_K, TQ1_0 on 512-bit registers --------------------------------------
// These have no 32-value sub-block structure to keep in 256-bit lanes: a
// zmm holds 64 codes against a[64p .. 64p + 63] (four 16-value sub-blocks,
// one per 128-bit lane, for Q2_K/Q3_K), which halves the instructions per
// value of the AVX2 copy. The integer sums are the AVX2 copy's, regrouped
// (exact); the terms are the model's, per super-block in block order.

// (The maskz forms: GCC 12 warns -Wmaybe-uninitialized inside the unmasked
// 256-bit inserts, extracts and broadcasts, GCC PR 105593.)
LOWBIT_GGUF_INLINE __m512i load64(const void* p) { return _mm512_loadu_si512(p); }
LOWBIT_GGUF_INLINE __m512i join(__m256i lo, __m256i hi) { return _mm512_maskz_inserti64x4(0xff, _mm512_castsi256_si512(lo), hi, 1); }
LOWBIT_GGUF_INLINE __m512i twice(__m256i v) { return _mm512_maskz_broadcast_i64x4(0xff, v); }
// The two 256-bit halves added: int32 lane j = lanes j + 8 j.
LOWBIT_GGUF_INLINE __m256i fold(__m512i v) {
    return _mm256_add_epi32(_mm512_maskz_extracti64x4_epi64(0xf, v, 0), _mm512_maskz_extracti64x4_epi64(0xf, v, 1));
}
LOWBIT_GGUF_INLINE std::int32_t hsum512(__m512i v) { return hsum(fold(v)); }
// acc + sc * (u_i * s_i) on 512 bits: maddubs pairs (u < 8: within +-2^11)
// scaled by the int16 lanes of sc16.
LOWBIT_GGUF_INLINE __m512i dot_us_scaled512(__m512i acc, __m512i u, __m512i s, __m512i sc16) {
    const __m512i pairs = _mm512_maddubs_epi16(u, s);
#if LOWBIT_GGUF_VNNI
    return _mm512_dpwssd_epi32(acc, pairs, sc16);
#else
    return _mm512_add_epi32(acc, _mm512_madd_epi16(pairs, sc16));
#endif
}

// Q2_K / Q3_K: zmm p holds values 64p .. 64p + 63, i.e. the 2-bit fields at
// shifts 2t and 2t + 2 (t = 2 (p % 2)) of qs half h = p / 2, in its low and
// high 256 bits: sub-blocks 4p .. 4p + 3, one per 128-bit lane.
struct k2_unpacked {
    __m512i q[4], sc[4];  // codes (unsigned), int16 sub-block scales per 128-bit lane
    __m256i sc16;         // the sixteen scales (Q3_K: the -4 offset's weights)
    __m256i mn16;         // Q2_K: the sixteen mins
};
// zmm P of k2_unpack; P a template parameter, so that its shifts, bit
// masks and permutation are constants (GCC keeps a loop over P rolled and
// builds them at run time).
template <int P, bool Third>
LOWBIT_GGUF_INLINE void k2_chunk(__m512i sc32, const std::uint8_t* qs, __m512i hm, k2_unpacked& u) {
    constexpr int h = P / 2, t = 2 * (P % 2);
    // word i of sc[P] = scale 4P + i / 8
    const __m512i idx = _mm512_set_epi32(0x30003 + 0x40004 * P, 0x30003 + 0x40004 * P, 0x30003 + 0x40004 * P, 0x30003 + 0x40004 * P,
                                         0x20002 + 0x40004 * P, 0x20002 + 0x40004 * P, 0x20002 + 0x40004 * P, 0x20002 + 0x40004 * P,
                                         0x10001 + 0x40004 * P, 0x10001 + 0x40004 * P, 0x10001 + 0x40004 * P, 0x10001 + 0x40004 * P,
                                         0x40004 * P, 0x40004 * P, 0x40004 * P, 0x40004 * P);
    u.sc[P] = _mm512_permutexvar_epi16(idx, sc32);
    constexpr long long wlo = 0x0001000100010001ll * (2 * t), whi = 0x0001000100010001ll * (2 * t + 2);  // word shifts
    const __m512i shifts = _mm512_set_epi64(whi, whi, whi, whi, wlo, wlo, wlo, wlo);
    __m512i q = _mm512_and_si512(_mm512_srlv_epi16(twice(load32(qs + 32 * h)), shifts), _mm512_set1_epi8(3));
    if (Third) {  // bit 4h + t of hmask[m] for the low half, 4h + t + 1 for the high one
        constexpr long long lo = static_cast<long long>(0x0101010101010101ull * (1u << (4 * h + t))),
                            hi = static_cast<long long>(0x0101010101010101ull * (1u << (4 * h + t + 1)));
        const __mmask64 k = _mm512_test_epi8_mask(hm, _mm512_set_epi64(hi, hi, hi, hi, lo, lo, lo, lo));
        q = _mm512_or_si512(q, _mm512_maskz_mov_epi8(k, _mm512_set1_epi8(4)));
    }
    u.q[P] = q;
}
template <bool Third>
LOWBIT_GGUF_INLINE void k2_unpack(__m256i sc16, const std::uint8_t* qs, const std::uint8_t* hmask, k2_unpacked& u) {
    const __m512i sc32 = _mm512_castsi256_si512(sc16);
    const __m512i hm = Third ? twice(load32(hmask)) : _mm512_setzero_si512();
    u.sc16 = sc16;
    k2_chunk<0, Third>(sc32, qs, hm, u);
    k2_chunk<1, Third>(sc32, qs, hm, u);
    k2_chunk<2, Third>(sc32, qs, hm, u);
    k2_chunk<3, Third>(sc32, qs, hm, u);
}
LOWBIT_GGUF_INLINE void unpack(const block_q2_K& w, k2_unpacked& u) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales));
    const __m128i m4 = _mm_set1_epi8(0x0f);
    u.mn16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(b, 4), m4));
    k2_unpack<false>(_mm256_cvtepu8_epi16(_mm_and_si128(b, m4)), w.qs, nullptr, u);
}
LOWBIT_GGUF_INLINE void unpack(const block_q3_K& w, k2_unpacked& u) {
    k2_unpack<true>(avx2::q3k_scales16(w.scales), w.qs, w.hmask, u);
}
LOWBIT_GGUF_INLINE __m512i k2_lanes(const k2_unpacked& u, const block_q8_K& a) {
    // written out: a rolled loop keeps u in memory
    __m512i acc = dot_us_scaled512(_mm512_setzero_si512(), u.q[0], load64(a.qs), u.sc[0]);
    acc = dot_us_scaled512(acc, u.q[1], load64(a.qs + 64), u.sc[1]);
    acc = dot_us_scaled512(acc, u.q[2], load64(a.qs + 128), u.sc[2]);
    return dot_us_scaled512(acc, u.q[3], load64(a.qs + 192), u.sc[3]);
}

template <int C>
LOWBIT_GGUF_TGT inline void rows_dot(const block_q2_K* w, const block_q8_K* a, std::size_t lda, std::size_t nb, float* out) {
    float sum[C] = {};
    for (std::size_t i = 0; i < nb; ++i) {
        k2_unpacked u;
        unpack(w[i], u);
        const float d = h2f(w[i].d), dmin = h2f(w[i].dmin);
        for (int c = 0; c < C; ++c) {
            const block_q8_K& ac = a[c * lda + i];
            const std::int32_t summ = hsum(_mm256_madd_epi16(u.mn16, load32(ac.bsums)));  // q2k_min_sum
            sum[c] += kquant_affine_term(ac.d, d, dmin, hsum512(k2_lanes(u, ac)), summ);
        }
    }
    for (int c = 0; c < C; ++c) out[c] = sum[c];
}
// Q3_K: codes 0..7; the -4 comes off with the bsums, sum_j sc_j (sum q a - 4 bsums_j).
template <int C>
LOWBIT_GGUF_TGT inline void rows_dot(const block_q3_K* w, const block_q8_K* a, std::size_t lda, std::size_t nb, float* out) {
    float sum[C] = {};
    for (std::size_t i = 0; i < nb; ++i) {
        k2_unpacked u;
        unpack(w[i], u);
        const float d = h2f(w[i].d);
        for (int c = 0; c < C; ++c) {
            const block_q8_K& ac = a[c * lda + i];
            const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(u.sc16, load32(ac.bsums)), 2);
            sum[c] += kquant_symmetric_term(ac.d, d, hsum(_mm256_sub_epi32(fold(k2_lanes(u, ac)), offset)));
        }
    }
    for (int c = 0; c < C; ++c) out[c] = sum[c];
}

// TQ1_0: trit n of a byte q is t(q * 3^n mod 256) with t(s) = (3 s) >> 8
// (unpack_trit). Each zmm holds the bytes behind 64 values (in
// decode_tq1_0's order, against a[0..63] .. a[192..255]) and, per 16-bit
// word, the power of 3 of their trit:
//   [qs[0..31] x 1 | x 3], [x 9 | x 27], [qs[0..31] x 81 | qs[32..47] x 1 | x 3],
//   [qs[32..47] x 9 | x 27 | x 81 | qh x 1, 3, 9, 27 (one dword each)].
// x86 has no byte multiply: each byte is taken alone into the high byte of
// its word, where a 16-bit multiply wraps it mod 256, and a second (high
// half) multiply gives t (trits_times). No compares and no mask registers:
// on this Zen 5 the compare-and-masked-move form of the same layout ran
// ~1.25x slower per super-block, the AVX2 layout (chains of byte adds times
// 3, 256-bit joins) ~1.5x (docs/formats.md, TQ1_0).
struct tq1_unpacked {
    __m512i t[4];  // trits 0..2
};
// The trits t(b * c mod 256) of the bytes b of v, c the word's lane of c,
// without masks. lo8 = v << 8 and hi = v & 0xff00 (words) each hold one byte
// of a word in the high byte, so vpmullw by c leaves s = b * c mod 256 there,
// exactly (s << 8); then vpmulhuw by 3 gives (3 s) >> 8 = t in the low byte,
// and vpmulhuw by 768 gives 3 s, whose bits 8 and 9 are t in the high byte.
struct tq1_bytes {
    __m512i lo8, hi;
};
LOWBIT_GGUF_INLINE tq1_bytes split_bytes(__m512i v) {
    return {_mm512_slli_epi16(v, 8), _mm512_and_si512(v, _mm512_set1_epi16(static_cast<short>(0xff00)))};
}
LOWBIT_GGUF_INLINE __m512i trits_times(const tq1_bytes& v, __m512i c) {
    const __m512i t_low = _mm512_mulhi_epu16(_mm512_mullo_epi16(v.lo8, c), _mm512_set1_epi16(3));
    const __m512i t_high = _mm512_mulhi_epu16(_mm512_mullo_epi16(v.hi, c), _mm512_set1_epi16(768));
    return _mm512_ternarylogic_epi32(t_low, t_high, _mm512_set1_epi16(static_cast<short>(0xff00)), 0xf8);  // t_low | (t_high & 0xff00)
}
// Per-word powers of 3: p0 in the low 256 bits, p1 in the high (words 16..31).
LOWBIT_GGUF_INLINE __m512i powers2(short p0, short p1) {
    return _mm512_mask_mov_epi16(_mm512_set1_epi16(p0), 0xffff0000u, _mm512_set1_epi16(p1));
}
LOWBIT_GGUF_INLINE void unpack(const block_tq1_0& w, tq1_unpacked& u) {
    const __m512i x = twice(load32(w.qs));  // qs[0..31] twice
    const __m512i b = _mm512_maskz_broadcast_i32x4(0xffff, _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.qs + 32)));  // qs[32..47] x 4
    const __m512i y = _mm512_mask_blend_epi64(0xf0, x, b);                                                      // [qs[0..31] | qs[32..47] x 2]
    const __m512i z = _mm512_mask_set1_epi32(b, 0xf000, static_cast<int>(avx2::u32_at(w.qh)));                  // [qs[32..47] x 3 | qh x 4]
    // words 8 per 128-bit lane: 81 | 1 | 3, and 9 | 27 | 81 | 1, 1, 3, 3, 9, 9, 27, 27 (a dword per power)
    const __m512i p2 = _mm512_set_epi16(3, 3, 3, 3, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 81, 81, 81, 81, 81, 81, 81, 81, 81, 81, 81, 81, 81,
                                        81, 81, 81);
    const __m512i p3 = _mm512_set_epi16(27, 27, 9, 9, 3, 3, 1, 1, 81, 81, 81, 81, 81, 81, 81, 81, 27, 27, 27, 27, 27, 27, 27, 27, 9, 9, 9,
                                        9, 9, 9, 9, 9);
    const tq1_bytes xs = split_bytes(x);
    u.t[0] = trits_times(xs, powers2(1, 3));
    u.t[1] = trits_times(xs, powers2(9, 27));
    u.t[2] = trits_times(split_bytes(y), p2);
    u.t[3] = trits_times(split_bytes(z), p3);
}
// sum (t - 1) a = sum t a - sum bsums: int32 lanes whose sum is isum(w, a).
LOWBIT_GGUF_INLINE __m256i tq1_lanes(const tq1_unpacked& u, const block_q8_K& a) {
    // written out (as k2_lanes)
#if LOWBIT_GGUF_VNNI
    // The chain starts from -sum bsums (pairs, in the low eight lanes): no zeroed
    // register and no subtraction after the fold.
    const __m256i minus_bsums = _mm256_madd_epi16(load32(a.bsums), _mm256_set1_epi16(-1));
    __m512i acc = _mm512_dpbusd_epi32(_mm512_maskz_mov_epi64(0x0f, _mm512_castsi256_si512(minus_bsums)), u.t[0], load64(a.qs));
    acc = _mm512_dpbusd_epi32(acc, u.t[1], load64(a.qs + 64));
    acc = _mm512_dpbusd_epi32(acc, u.t[2], load64(a.qs + 128));
    acc = _mm512_dpbusd_epi32(acc, u.t[3], load64(a.qs + 192));
    return fold(acc);
#else
    // four maddubs pair sums add in int16: at most 4 x 2 x 2 x 128 = 2048 per lane
    const __m256i one16 = _mm256_set1_epi16(1);
    __m512i p16 = _mm512_add_epi16(_mm512_maddubs_epi16(u.t[0], load64(a.qs)), _mm512_maddubs_epi16(u.t[1], load64(a.qs + 64)));
    p16 = _mm512_add_epi16(p16, _mm512_add_epi16(_mm512_maddubs_epi16(u.t[2], load64(a.qs + 128)), _mm512_maddubs_epi16(u.t[3], load64(a.qs + 192))));
    const __m512i acc = _mm512_madd_epi16(p16, _mm512_set1_epi16(1));
    return _mm256_sub_epi32(fold(acc), _mm256_madd_epi16(load32(a.bsums), one16));
#endif
}
// Per eight super-blocks: their lanes reduced together (lane_sums8) and the
// terms, kquant_symmetric_term's two products, formed eight at a time (the
// same IEEE products; the int32 -> float rounding is static_cast's), then
// summed one by one in block order; the blocks left over one at a time.
template <int C>
LOWBIT_GGUF_TGT inline void rows_dot(const block_tq1_0* w, const block_q8_K* a, std::size_t lda, std::size_t nb, float* out) {
    float sum[C] = {};
    std::size_t i = 0;
    alignas(32) float terms[8];
    for (; i + 8 <= nb; i += 8) {
        __m256i v[C][8];
        LOWBIT_UNROLL
        for (int j = 0; j < 8; ++j) {
            tq1_unpacked u;
            unpack(w[i + j], u);
            LOWBIT_UNROLL
            for (int c = 0; c < C; ++c) v[c][j] = tq1_lanes(u, a[c * lda + i + j]);
        }
        const __m256 dw = scales8(w + i);
        for (int c = 0; c < C; ++c) {
            const block_q8_K* ac = a + c * lda + i;
            const __m256 dx = _mm256_setr_ps(ac[0].d, ac[1].d, ac[2].d, ac[3].d, ac[4].d, ac[5].d, ac[6].d, ac[7].d);
            _mm256_store_ps(terms, opaque8(_mm256_mul_ps(opaque8(_mm256_mul_ps(dx, dw)), _mm256_cvtepi32_ps(lane_sums8(v[c])))));
            for (int j = 0; j < 8; ++j) sum[c] += terms[j];
        }
    }
    for (; i < nb; ++i) {
        tq1_unpacked u;
        unpack(w[i], u);
        const float d = h2f(w[i].d);
        for (int c = 0; c < C; ++c) {
            const block_q8_K& ac = a[c * lda + i];
            sum[c] += kquant_symmetric_term(ac.d, d, hsum(tq1_lanes(u, ac)));
        }
    }
    for (int c = 0; c < C; ++c) out[c] = sum[c];
}

// ---- lattice i-quants on 512-bit registers --------------------------------------
// Per 64 values (zmm k against a[64k .. 64k + 63]) the signed grid bytes g
// (|g| <= 62) are made unsigned as u = 64 + g, so that u8 x s8 products take
// the activations as they are (Q8_K's -128 included; largest maddubs pair
// 2 * 126 * 128 < 2^15), and the 64 comes off once per super-block with the
// activation bsums: sum_j sc_j sum (u - 64) a = sum_j sc_j sum u a - 64 sum_j sc_j bsum_j.
// The signs are one mask register per 64 values (a masked 64 - g), taken
// from the block's sign bytes (IQ2_S, IQ3_S) or from sign bytes built for the
// whole super-block at once (IQ2_XXS, IQ3_XXS, IQ2_XS: the 7-bit fields and
// their parity bit, as iq_grids::iq_sign_byte). The points are fetched as in
// the AVX2 copy, by scalar loads. IQ1_S and IQ1_M have a body of their own
// ("IQ1_S, IQ1_M" below). Each 64 values are dotted as soon as they are built
// (kept in registers, not stored for the C rows).

// What a super-block's chunks share: the odd scale 2 s + 1 of each 16 values
// (int16), what comes off per activation of a 16-value group, sc16 x 64,
// and the sign bits (bit v: value v
// negated) as four 64-bit masks.
// The grid indices whose high bits sit apart from their low byte (IQ2_S,
// IQ3_S) or share a word with the signs (IQ2_XS) are put together for the whole super-block in vector
// registers and stored: the scalar loads of the points then take them as
// they are (a load each, instead of four or five integer instructions).
struct lat_block {
    __m256i sc16, off16;
    alignas(32) std::uint64_t signs[4];
    alignas(64) std::uint16_t idx[64];
};
// Word p of the result: byte p / 4 of the eight bytes at p (p < 32).
LOWBIT_GGUF_INLINE __m512i quarter_spread(__m128i bytes8) {
    const __m512i w = _mm512_maskz_cvtepu8_epi16(0xffffffffu, _mm256_castsi128_si256(bytes8));
    const __m512i by4 = _mm512_srli_epi16(_mm512_set_epi16(31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12,
                                                           11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 2);
    return _mm512_permutexvar_epi16(by4, w);
}
// 32 low bytes | ((high >> shift_p) & mask) << 8, stored at idx.
LOWBIT_GGUF_INLINE void store_indices(const std::uint8_t* low, __m512i high, __m512i shifts, int mask, std::uint16_t* idx) {
    const __m512i hi = _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(high, shifts), _mm512_set1_epi16(static_cast<short>(mask))), 8);
    _mm512_store_si512(idx, _mm512_or_si512(_mm512_maskz_cvtepu8_epi16(0xffffffffu, load32(low)), hi));
}
// Shifts s0 s1 s2 s3 repeated over the 32 words.
LOWBIT_GGUF_INLINE __m512i shifts4(int s0, int s1, int s2, int s3) {
    return _mm512_set4_epi32((s3 << 16) | s2, (s1 << 16) | s0, (s3 << 16) | s2, (s1 << 16) | s0);
}
// Eight 4-bit scales s (int32 lanes, one per 32 values) -> 2 s + 1 in both words of each lane.
LOWBIT_GGUF_INLINE __m256i odd_scales32(__m256i s) {
    const __m256i o = _mm256_add_epi32(_mm256_add_epi32(s, s), _mm256_set1_epi32(1));
    return _mm256_or_si256(o, _mm256_slli_epi32(o, 16));
}
// IQ2_XS / IQ2_S: a 4-bit scale per 16 values, two to a byte (low first).
LOWBIT_GGUF_INLINE __m256i odd_scales16(const std::uint8_t* scales) {
    const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(scales));
    const __m128i m4 = _mm_set1_epi8(0x0f);
    const __m256i s = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(_mm_and_si128(b, m4), _mm_and_si128(_mm_srli_epi16(b, 4), m4)));
    return _mm256_add_epi16(_mm256_add_epi16(s, s), _mm256_set1_epi16(1));
}
// The int16 scales of chunk k: 128-bit lane L holds that of 16-value group 4k + L.
LOWBIT_GGUF_INLINE __m512i chunk_scales(__m256i sc16, int k) {
    const __m512i base = _mm512_set_epi32(0x30003, 0x30003, 0x30003, 0x30003, 0x20002, 0x20002, 0x20002, 0x20002, 0x10001,
                                          0x10001, 0x10001, 0x10001, 0, 0, 0, 0);
    return _mm512_permutexvar_epi16(_mm512_add_epi16(base, _mm512_set1_epi16(static_cast<short>(4 * k))), _mm512_castsi256_si512(sc16));
}
// 64 + g where the sign bit is clear, 64 - g where it is set.
LOWBIT_GGUF_INLINE __m512i offset_signed(__m512i g, std::uint64_t minus) {
    const __m512i c = _mm512_set1_epi8(64);
    return _mm512_mask_sub_epi8(_mm512_add_epi8(g, c), _cvtu64_mask64(minus), c, g);
}
LOWBIT_GGUF_INLINE __m512i points8(std::uint64_t p0, std::uint64_t p1, std::uint64_t p2, std::uint64_t p3, std::uint64_t p4,
                                   std::uint64_t p5, std::uint64_t p6, std::uint64_t p7) {
    return _mm512_set_epi64(static_cast<long long>(p7), static_cast<long long>(p6), static_cast<long long>(p5), static_cast<long long>(p4),
                            static_cast<long long>(p3), static_cast<long long>(p2), static_cast<long long>(p1), static_cast<long long>(p0));
}
LOWBIT_GGUF_INLINE __m512i points16(const std::uint32_t* t, const std::uint8_t* q) {
    return _mm512_setr_epi32(static_cast<int>(t[q[0]]), static_cast<int>(t[q[1]]), static_cast<int>(t[q[2]]), static_cast<int>(t[q[3]]),
                             static_cast<int>(t[q[4]]), static_cast<int>(t[q[5]]), static_cast<int>(t[q[6]]), static_cast<int>(t[q[7]]),
                             static_cast<int>(t[q[8]]), static_cast<int>(t[q[9]]), static_cast<int>(t[q[10]]), static_cast<int>(t[q[11]]),
                             static_cast<int>(t[q[12]]), static_cast<int>(t[q[13]]), static_cast<int>(t[q[14]]), static_cast<int>(t[q[15]]));
}
// Four 7-bit fields at bits 0, 7, 14, 21 of each int32 lane -> four bytes.
LOWBIT_GGUF_INLINE __m256i spread7(__m256i x) {
    const __m256i m = _mm256_set1_epi32(0x7f);
    __m256i r = _mm256_and_si256(x, m);
    for (int l = 1; l < 4; ++l) r = _mm256_or_si256(r, _mm256_and_si256(_mm256_slli_epi32(x, l), _mm256_slli_epi32(m, 8 * l)));
    return r;
}
// The sign bytes (iq_sign_byte: the field, its parity in bit 7) of the four
// fields of each of eight metadata words.
LOWBIT_GGUF_INLINE void fields_to_signs(__m256i meta, lat_block& b) {
    const __m256i x = _mm256_and_si256(meta, _mm256_set1_epi32(0x0fffffff));
    // bit i of t: the parity of bits i .. i + 7 of x; of p: of bits i .. i + 6
    __m256i t = _mm256_xor_si256(x, _mm256_srli_epi32(x, 1));
    t = _mm256_xor_si256(t, _mm256_srli_epi32(t, 2));
    t = _mm256_xor_si256(t, _mm256_srli_epi32(t, 4));
    const __m256i p = _mm256_xor_si256(t, _mm256_srli_epi32(x, 7));
    const __m256i bytes = _mm256_or_si256(spread7(x), _mm256_and_si256(_mm256_slli_epi32(spread7(p), 7), _mm256_set1_epi32(static_cast<int>(0x80808080u))));
    _mm256_store_si256(reinterpret_cast<__m256i*>(b.signs), bytes);
}
LOWBIT_GGUF_INLINE std::uint64_t u64_at(const std::uint8_t* p) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}

// prep(w, b): the scales and signs; chunk(w, b, k): the 64 unsigned bytes of zmm k.
LOWBIT_GGUF_INLINE void prep(const block_iq2_xxs& w, lat_block& b) {
    const auto* q = reinterpret_cast<const std::uint8_t*>(w.qs);
    // lane ib: the u32 after sub-block ib's four indices
    const __m256i meta = _mm512_maskz_cvtepi64_epi32(0xff, _mm512_maskz_srli_epi64(0xff, load64(q), 32));
    b.sc16 = odd_scales32(_mm256_srli_epi32(meta, 28));
    fields_to_signs(meta, b);
}
LOWBIT_GGUF_INLINE __m512i chunk(const block_iq2_xxs& w, const lat_block& b, int k) {
    const std::uint8_t* q = reinterpret_cast<const std::uint8_t*>(w.qs) + 16 * k;
    const auto& t = iq2xxs_bytes.v;
    return offset_signed(points8(t[q[0]], t[q[1]], t[q[2]], t[q[3]], t[q[8]], t[q[9]], t[q[10]], t[q[11]]), b.signs[k]);
}
LOWBIT_GGUF_INLINE void prep(const block_iq3_xxs& w, lat_block& b) {
    const __m256i meta = load32(w.qs + qk_k / 4);
    b.sc16 = odd_scales32(_mm256_srli_epi32(meta, 28));
    fields_to_signs(meta, b);
}
LOWBIT_GGUF_INLINE __m512i chunk(const block_iq3_xxs& w, const lat_block& b, int k) {
    return offset_signed(points16(iq3xxs_bytes.v, w.qs + 16 * k), b.signs[k]);
}
LOWBIT_GGUF_INLINE void prep(const block_iq2_xs& w, lat_block& b) {
    b.sc16 = odd_scales16(w.scales);
    // per 8 values a 16-bit word: 9-bit index, 7-bit sign field; its parity in bit 0 of t
    const __m512i x = _mm512_srli_epi16(load64(w.qs), 9);
    __m512i t = _mm512_xor_si512(x, _mm512_srli_epi16(x, 1));
    t = _mm512_xor_si512(t, _mm512_srli_epi16(t, 2));
    t = _mm512_xor_si512(t, _mm512_srli_epi16(t, 4));
    const __m512i bytes = _mm512_or_si512(x, _mm512_slli_epi16(_mm512_and_si512(t, _mm512_set1_epi16(1)), 7));
    _mm256_store_si256(reinterpret_cast<__m256i*>(b.signs), _mm512_maskz_cvtepi16_epi8(0xffffffffu, bytes));
    _mm512_store_si512(b.idx, _mm512_and_si512(load64(w.qs), _mm512_set1_epi16(511)));
}

LOWBIT_GGUF_INLINE void prep(const block_iq2_s& w, lat_block& b) {
    b.sc16 = odd_scales16(w.scales);
    // index l of sub-block ib: qs byte | bits 2l, 2l+1 of qh[ib] << 8
    store_indices(w.qs, quarter_spread(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(w.qh))), shifts4(0, 2, 4, 6), 3, b.idx);
}
// Eight points of 8 bytes at b.idx[8k ..].
// The eight indices leave the vector register as two 64-bit words (vmovq,
// vpextrq) and are split by shifts in general registers (the ALU ports),
// not by eight vpextrw (two uops each, on the vector ports that the point
// inserts and the dots need): IQ1_S 6 %, IQ2_XS 8 % less CPU time (scratch
// harness, docs/formats.md). The empty asm keeps GCC from turning the
// shifts back into vpextrw.
LOWBIT_GGUF_INLINE __m512i stored_points8(const std::uint64_t* t, const lat_block& b, int k) {
    const __m128i v = _mm_load_si128(reinterpret_cast<const __m128i*>(b.idx + 8 * k));
    std::uint64_t lo = static_cast<std::uint64_t>(_mm_cvtsi128_si64(v)), hi = static_cast<std::uint64_t>(_mm_extract_epi64(v, 1));
    __asm__("" : "+r"(lo), "+r"(hi));
    return points8(t[lo & 0xffff], t[(lo >> 16) & 0xffff], t[(lo >> 32) & 0xffff], t[lo >> 48], t[hi & 0xffff], t[(hi >> 16) & 0xffff],
                   t[(hi >> 32) & 0xffff], t[hi >> 48]);
}
LOWBIT_GGUF_INLINE __m512i chunk(const block_iq2_xs&, const lat_block& b, int k) {
    return offset_signed(stored_points8(iq2xs_bytes.v, b, k), b.signs[k]);
}
LOWBIT_GGUF_INLINE __m512i chunk(const block_iq2_s& w, const lat_block& b, int k) {
    return offset_signed(stored_points8(iq2s_bytes.v, b, k), u64_at(w.qs + qk_k / 8 + 8 * k));
}
LOWBIT_GGUF_INLINE void prep(const block_iq3_s& w, lat_block& b) {
    const __m256i nib = _mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(avx2::u32_at(w.scales))), _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28));
    b.sc16 = odd_scales32(_mm256_and_si256(nib, _mm256_set1_epi32(0xf)));
    // index m: qs byte | bit m of the 64-bit qh << 8
    const std::uint64_t h = u64_at(w.qh);
    const __m512i bit8 = _mm512_set1_epi16(256);
    for (int half = 0; half < 2; ++half) {
        const __m512i lo = _mm512_maskz_cvtepu8_epi16(0xffffffffu, load32(w.qs + 32 * half));
        _mm512_store_si512(b.idx + 32 * half, _mm512_mask_add_epi16(lo, _cvtu32_mask32(static_cast<std::uint32_t>(h >> (32 * half))), lo, bit8));
    }
}
LOWBIT_GGUF_INLINE __m512i chunk(const block_iq3_s& w, const lat_block& b, int k) {
    const auto& t = iq3s_bytes.v;
    const std::uint16_t* i = b.idx + 16 * k;
    const __m512i g = _mm512_setr_epi32(static_cast<int>(t[i[0]]), static_cast<int>(t[i[1]]), static_cast<int>(t[i[2]]), static_cast<int>(t[i[3]]),
                                        static_cast<int>(t[i[4]]), static_cast<int>(t[i[5]]), static_cast<int>(t[i[6]]), static_cast<int>(t[i[7]]),
                                        static_cast<int>(t[i[8]]), static_cast<int>(t[i[9]]), static_cast<int>(t[i[10]]), static_cast<int>(t[i[11]]),
                                        static_cast<int>(t[i[12]]), static_cast<int>(t[i[13]]), static_cast<int>(t[i[14]]), static_cast<int>(t[i[15]]));
    return offset_signed(g, u64_at(w.signs + 8 * k));
}
template <int K, int C, class W>
LOWBIT_GGUF_INLINE void lattice_step(const W& w, const lat_block& b, const block_q8_K* a, std::size_t lda, __m512i* acc) {
    const __m512i u = chunk(w, b, K), sc = chunk_scales(b.sc16, K);
    LOWBIT_UNROLL
    for (int c = 0; c < C; ++c) acc[c] = dot_us_scaled512(acc[c], u, load64(a[c * lda].qs + 64 * K), sc);
}
// A super-block's exact integer sums against activation rows a[c * lda],
// c < C, as eight int32 lanes each (their sum is the model's isum).
template <int C, class W>
LOWBIT_GGUF_INLINE void lattice_lanes(const W& w, const block_q8_K* a, std::size_t lda, __m256i* v) {
    lat_block b;
    prep(w, b);
    b.off16 = _mm256_slli_epi16(b.sc16, 6);  // 64 sc_j; 31 * 64 < 2^15
    __m512i acc[C];
    for (int c = 0; c < C; ++c) acc[c] = _mm512_setzero_si512();
    // written out: with k a constant, chunk's offsets and chunk_scales' index fold
    lattice_step<0, C>(w, b, a, lda, acc);
    lattice_step<1, C>(w, b, a, lda, acc);
    lattice_step<2, C>(w, b, a, lda, acc);
    lattice_step<3, C>(w, b, a, lda, acc);
    for (int c = 0; c < C; ++c) v[c] = _mm256_sub_epi32(fold(acc[c]), _mm256_madd_epi16(b.off16, load32(a[c * lda].bsums)));
}
// ---- IQ1_S, IQ1_M: stored indices in chunks (branch iq27) ---------------------------
// As the AVX2 copy (gguf_dot_avx2_lattice.hpp, "IQ1_S, IQ1_M", whose pieces
// it calls): the row in chunks of up to avx2::index_chunk super-blocks, each
// chunk's 32 indices a block formed first and stored (avx2::store_indices,
// doubled), then read back by volatile 16-bit loads, each indexing the 64-bit
// load of its point (avx2::iq1_point: the unsigned bytes u = 8 (level + 1),
// 0, 8, 16). What AVX-512 adds: 64 values (two IQ1_S sub-blocks) per
// register, one maddubs and one vpdpwssd (madd and add without VNNI) against
// chunk_scales' int16 scales; IQ1_M's +2 on the points of shift +1 is one
// masked 64-bit add per eight points (no byte carries: u + 2 <= 18). What u
// adds per activation, 8 -+ 1 (IQ1_S: 7 where the shift is +1, 9 where it is
// -1; IQ1_M: 9), comes off with the bsums per 16-value group. The copy
// before stored each block's indices and took them straight back out of the
// vector register (vmovq, vpextrq, shifts), one block at a time.
struct iq1_scales {
    __m256i sc16, off16;  // 2 s + 1 and (8 -+ 1)(2 s + 1) per 16-value group
    std::uint32_t plus;   // IQ1_M: bit p set where point p's shift is +1
};
LOWBIT_GGUF_INLINE iq1_scales iq1_block_scales(const block_iq1_s& w) {
    const __m256i qh32 = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.qh)));
    iq1_scales s;
    s.sc16 = odd_scales32(_mm256_and_si256(_mm256_srli_epi32(qh32, 12), _mm256_set1_epi32(7)));
    // 7 where the shift is +1, 9 where it is -1 (bit 15); 15 * 9 < 2^15
    const __m256i minus = _mm256_srli_epi32(qh32, 15);
    const __m256i off = _mm256_add_epi32(_mm256_set1_epi32(7), _mm256_add_epi32(minus, minus));
    s.off16 = _mm256_mullo_epi16(s.sc16, _mm256_or_si256(off, _mm256_slli_epi32(off, 16)));
    s.plus = 0;
    return s;
}
LOWBIT_GGUF_INLINE iq1_scales iq1_block_scales(const block_iq1_m& w) {
    // 3-bit scale of 16-value group g: bits 3 (g % 4) .. of the u16 scales[2 (g / 4)]
    const __m256i words = _mm256_permutexvar_epi16(_mm256_setr_epi16(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
                                                   _mm256_castsi128_si256(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(w.scales))));
    const __m256i sc = _mm256_and_si256(_mm256_srlv_epi16(words, _mm256_setr_epi16(0, 3, 6, 9, 0, 3, 6, 9, 0, 3, 6, 9, 0, 3, 6, 9)),
                                        _mm256_set1_epi16(7));
    iq1_scales s;
    s.sc16 = _mm256_add_epi16(_mm256_add_epi16(sc, sc), _mm256_set1_epi16(1));
    s.off16 = _mm256_mullo_epi16(s.sc16, _mm256_set1_epi16(9));
    // point p's shift sign: bit 3 of nibble p % 2 of qh byte p / 2 (set: -1)
    const __m128i qh = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.qh));
    const __m128i up = _mm_slli_epi16(qh, 4);  // bit 3 of each byte to bit 7
    const std::uint32_t minus = static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_unpacklo_epi8(up, qh))) |
                                static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_unpackhi_epi8(up, qh))) << 16;
    s.plus = ~minus;
    return s;
}
// Points 8k .. 8k + 7 of the block whose stored (doubled) indices are idx2.
LOWBIT_GGUF_INLINE __m512i iq1_points8(const volatile std::uint16_t* idx2, int k) {
    const __m256i lo = avx2::iq1_points4(idx2, 2 * k), hi = avx2::iq1_points4(idx2, 2 * k + 1);
    return _mm512_maskz_inserti64x4(0xff, _mm512_castsi256_si512(lo), hi, 1);
}
template <int K, int C, class W>
LOWBIT_GGUF_INLINE void iq1_step(const iq1_scales& s, const volatile std::uint16_t* idx2, const block_q8_K* a, std::size_t lda,
                                 __m512i* acc) {
    __m512i u = iq1_points8(idx2, K);
    if (std::is_same<W, block_iq1_m>::value)
        u = _mm512_mask_add_epi64(u, static_cast<__mmask8>(s.plus >> (8 * K)), u, _mm512_set1_epi8(2));
    const __m512i sc = chunk_scales(s.sc16, K);
    LOWBIT_UNROLL
    for (int r = 0; r < C; ++r) acc[r] = dot_us_scaled512(acc[r], u, load64(a[r * lda].qs + 64 * K), sc);
}
// A super-block's int32 lanes against activation rows a[r * lda], r < C (their sum is the model's isum).
template <int C, class W>
LOWBIT_GGUF_INLINE void iq1_lanes(const W& w, const block_q8_K* a, std::size_t lda, const volatile std::uint16_t* idx2, __m256i* out) {
    const iq1_scales s = iq1_block_scales(w);
    __m512i acc[C];
    for (int r = 0; r < C; ++r) acc[r] = _mm512_setzero_si512();
    // written out: with K a constant, the shifts and chunk_scales' index fold
    iq1_step<0, C, W>(s, idx2, a, lda, acc);
    iq1_step<1, C, W>(s, idx2, a, lda, acc);
    iq1_step<2, C, W>(s, idx2, a, lda, acc);
    iq1_step<3, C, W>(s, idx2, a, lda, acc);
    // sum_j sc_j sum (8 g + d) a = sum_j sc_j sum u a - sum_j sc_j off_j bsum_j
    for (int r = 0; r < C; ++r) out[r] = _mm256_sub_epi32(fold(acc[r]), _mm256_madd_epi16(s.off16, load32(a[r * lda].bsums)));
}
// Eight super-blocks' f16 scales (IQ1_M's put together from its scale words) as floats.
template <class W>
LOWBIT_GGUF_INLINE __m256 lattice_scales8(const W* w) {
    return _mm256_cvtph_ps(_mm_setr_epi16(static_cast<short>(lattice_scale(w[0])), static_cast<short>(lattice_scale(w[1])),
                                          static_cast<short>(lattice_scale(w[2])), static_cast<short>(lattice_scale(w[3])),
                                          static_cast<short>(lattice_scale(w[4])), static_cast<short>(lattice_scale(w[5])),
                                          static_cast<short>(lattice_scale(w[6])), static_cast<short>(lattice_scale(w[7]))));
}
// Adds eight lattice super-blocks' terms to sum, one by one in block order:
// v holds each block's eight int32 lanes (reduced here, lane_sums8), dw their
// scales, ar the activation row's eight blocks; the terms are the model's
// lattice_term (three IEEE products through opaque8, the int32 -> float
// rounding static_cast's), formed eight at a time. The VBMI copies use it too
// (their IQ2 copies through lattice_terms8: their own activation blocks, their
// own reduction).
LOWBIT_GGUF_INLINE void lattice_terms8(float& sum, __m256 dx, __m256 dw, __m256 unit, __m256i isums) {
    alignas(32) float terms[8];
    const __m256 dd = opaque8(_mm256_mul_ps(dx, dw));
    const __m256 t = opaque8(_mm256_mul_ps(dd, _mm256_cvtepi32_ps(isums)));  // exact: |isum| < 2^24
    _mm256_store_ps(terms, opaque8(_mm256_mul_ps(t, unit)));
    for (int j = 0; j < 8; ++j) sum += terms[j];
}
LOWBIT_GGUF_INLINE void add_lattice_terms8(float& sum, const block_q8_K* ar, __m256 dw, __m256 unit, const __m256i* v) {
    const __m256 dx = _mm256_setr_ps(ar[0].d, ar[1].d, ar[2].d, ar[3].d, ar[4].d, ar[5].d, ar[6].d, ar[7].d);
    lattice_terms8(sum, dx, dw, unit, lane_sums8(v));
}
// Blocks [0, n) of w against activation rows a[c * lda], c < C, added to
// sum[c]: per eight blocks (when Group) each block's lanes for every row, then
// their terms (add_lattice_terms8, as the VBMI copies do); the blocks left
// over one at a time (hsum and a scalar term each). lanes(w, a, lda, j, l)
// writes block j's C lane vectors: a class with a target-attributed call
// operator, not a lambda, which would not carry this copy's target.
template <int C, bool Group, class W, class Lanes>
LOWBIT_GGUF_INLINE void lattice_blocks(const W* w, const block_q8_K* a, std::size_t lda, std::size_t n, const Lanes& lanes,
                                       float* sum) {
    std::size_t j = 0;
    for (; Group && j + 8 <= n; j += 8) {
        __m256i v[C][8];
        LOWBIT_UNROLL
        for (int b = 0; b < 8; ++b) {
            __m256i l[C];
            lanes(w, a, lda, j + b, l);
            for (int c = 0; c < C; ++c) v[c][b] = l[c];
        }
        const __m256 dw = lattice_scales8(w + j), unit = _mm256_set1_ps(lattice_unit(w[j]));
        for (int c = 0; c < C; ++c) add_lattice_terms8(sum[c], a + c * lda + j, dw, unit, v[c]);
    }
    for (; j < n; ++j) {
        __m256i v[C];
        lanes(w, a, lda, j, v);
        const float d = h2f(lattice_scale(w[j])), unit = lattice_unit(w[j]);
        for (int c = 0; c < C; ++c) sum[c] += lattice_term(a[c * lda + j].d, d, hsum(v[c]), unit);
    }
}
template <int C>
struct lattice_block_lanes {
    template <class W>
    LOWBIT_GGUF_INLINE void operator()(const W* w, const block_q8_K* a, std::size_t lda, std::size_t j, __m256i* l) const {
        lattice_lanes<C>(w[j], a + j, lda, l);
    }
};
template <int C>
struct iq1_block_lanes {
    const std::uint16_t (*idx)[32];  // block j's indices: idx[j]
    template <class W>
    LOWBIT_GGUF_INLINE void operator()(const W* w, const block_q8_K* a, std::size_t lda, std::size_t j, __m256i* l) const {
        iq1_lanes<C>(w[j], a + j, lda, idx[j], l);
    }
};
// GEMV only in eights: the GEMM tile's 4 x 8 lane vectors would not stay in registers.
template <int C, class W>
LOWBIT_GGUF_TGT inline void lattice_rows_dot(const W* w, const block_q8_K* a, std::size_t lda, std::size_t nb, float* out) {
    float sum[C] = {};
    lattice_blocks<C, C == 1>(w, a, lda, nb, lattice_block_lanes<C>{}, sum);
    for (int c = 0; c < C; ++c) out[c] = sum[c];
}
// out[c] = the row dot product with activation row c: per chunk the indices
// first, then its blocks in eights (chunks are a multiple of 8 long, so an
// eight never crosses one); the model's terms, summed one by one in block order.
template <int C, class W>
LOWBIT_GGUF_TGT inline void iq1_rows_dot(const W* w, const block_q8_K* a, std::size_t lda, std::size_t nb, float* out) {
    constexpr std::size_t chunk = avx2::index_chunk;
    static_assert(chunk % 8 == 0, "a group of eight blocks must not cross a chunk");
    alignas(64) std::uint16_t idx[chunk][32];
    float sum[C] = {};
    for (std::size_t i0 = 0; i0 < nb; i0 += chunk) {
        const std::size_t n = nb - i0 < chunk ? nb - i0 : chunk;
        for (std::size_t c = 0; c < n; ++c) avx2::store_indices(w[i0 + c], idx[c]);
        lattice_blocks<C, true>(w + i0, a + i0, lda, n, iq1_block_lanes<C>{idx}, sum);
    }
    for (int r = 0; r < C; ++r) out[r] = sum[r];
}
#define LOWBIT_GGUF_LATTICE_ROWS(T)                                                                                     \
    template <int C>                                                                                                    \
    LOWBIT_GGUF_TGT inline void rows_dot(const T* w, const block_q8_K* a, std::size_t lda, std::size_t nb, float* out) { \
        lattice_rows_dot<C>(w, a, lda, nb, out);                                                                        \
    }
LOWBIT_GGUF_LATTICE_ROWS(block_iq2_xxs)
LOWBIT_GGUF_LATTICE_ROWS(block_iq2_xs)
LOWBIT_GGUF_LATTICE_ROWS(block_iq2_s)
LOWBIT_GGUF_LATTICE_ROWS(block_iq3_xxs)
LOWBIT_GGUF_LATTICE_ROWS(block_iq3_s)
#undef LOWBIT_GGUF_LATTICE_ROWS
#define LOWBIT_GGUF_IQ1_ROWS(T)                                                                                         \
    template <int C>                                                                                                    \
    LOWBIT_GGUF_TGT inline void rows_dot(const T* w, const block_q8_K* a, std::size_t lda, std::size_t nb, float* out) { \
        iq1_rows_dot<C>(w, a, lda, nb, out);                                                                            \
    }
LOWBIT_GGUF_IQ1_ROWS(block_iq1_s)
LOWBIT_GGUF_IQ1_ROWS(block_iq1_m)
#undef LOWBIT_GGUF_IQ1_ROWS

// One activation row.
template <class W, class A>
LOWBIT_GGUF_TGT inline float row_dot(const W* w, const A* a, std::size_t nb) {
    float out;
    rows_dot<1>(w, a, nb, nb, &out);
    return out;
}

#undef LOWBIT_GGUF_INLINE

}  // namespace LOWBIT_GGUF_NS
