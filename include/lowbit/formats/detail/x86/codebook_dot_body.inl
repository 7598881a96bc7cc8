// codebook_dot_body.inl — one x86 copy of the codebook int8 dot products,
// stamped out by codebook_dot_x86.hpp (read that file first). Parameters:
//   LOWBIT_CB_NS    the namespace (avx2, avx512vnni)
//   LOWBIT_CB_TGT   the target attribute of every function
//   LOWBIT_CB_VNNI  0: maddubs + madd, 1: vpdpbusd (AVX-512 VNNI, 256-bit form)
// Included once per copy: no #pragma once.

namespace LOWBIT_CB_NS {

#define LOWBIT_CB_INLINE LOWBIT_CB_TGT __attribute__((always_inline)) inline

LOWBIT_CB_INLINE __m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// The grid in both 128-bit lanes: pshufb looks indices 0..15 up in it.
LOWBIT_CB_INLINE __m256i grid16(const std::int8_t* g) {
    return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g)));
}

// Index j of a block in byte j.
LOWBIT_CB_INLINE __m256i indices(const block4& b) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs));
    const __m128i m = _mm_set1_epi8(0x0f);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
}
// 3 bits: the 8 low-part bytes in every 64-bit lane, lane k shifted by 2k
// (byte 8k + i then holds index 8k + i in its low two bits); the high bit j of
// qh spread to byte j by a byte shuffle and a per-byte bit test.
LOWBIT_CB_INLINE __m256i indices(const block3& b) {
    std::uint64_t ql;
    std::uint32_t qh;
    std::memcpy(&ql, b.ql, 8);
    std::memcpy(&qh, b.qh, 4);
    const __m256i low = _mm256_and_si256(_mm256_srlv_epi64(_mm256_set1_epi64x(static_cast<long long>(ql)), _mm256_setr_epi64x(0, 2, 4, 6)),
                                         _mm256_set1_epi8(3));
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(qh)),
                                               _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,  //
                                                                2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
    const __m256i high = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(4));
    return _mm256_or_si256(low, high);
}

// Eight int32 lanes summing to the block's sum of grid[i] * q: |w| (u8) times
// q with w's sign (s8). Pairs of maddubs are at most 2 * 127 * 127 < 2^15.
LOWBIT_CB_INLINE __m256i lanes(__m256i w, const gguf::block_q8_0& a) {
    const __m256i u = _mm256_abs_epi8(w), s = _mm256_sign_epi8(load32(a.qs), w);
#if LOWBIT_CB_VNNI
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

LOWBIT_CB_INLINE std::int32_t hsum(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}
// Lane j = the sum of the eight lanes of v[j] (two rounds of hadd, then the halves added).
LOWBIT_CB_INLINE __m256i lane_sums8(const __m256i* v) {
    const __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    const __m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20), _mm256_permute2x128_si256(a, b, 0x31));
}
template <class B>
LOWBIT_CB_INLINE __m256 scales8(const B* b) {
    return _mm256_cvtph_ps(_mm_setr_epi16(static_cast<short>(b[0].d), static_cast<short>(b[1].d), static_cast<short>(b[2].d),
                                          static_cast<short>(b[3].d), static_cast<short>(b[4].d), static_cast<short>(b[5].d),
                                          static_cast<short>(b[6].d), static_cast<short>(b[7].d)));
}
// The products as they are: hidden from the optimiser so that the lane adds
// are never fused with them into an FMA (the model rounds twice).
LOWBIT_CB_INLINE __m256 opaque8(__m256 v) {
    __asm__("" : "+x"(v));
    return v;
}

// out[c] = row_dot_scalar(w, grid, a + c * lda, nb) for c < C, bit for bit:
// each weight block is looked up once for the C activation rows; eight block
// terms are formed at a time ((d_w * d_x) * isum: the same two IEEE products)
// and added to the model's eight lanes with one vector add.
template <int C, class B>
LOWBIT_CB_TGT inline void rows_dot(const B* w, const std::int8_t* grid, const gguf::block_q8_0* a, std::size_t lda, std::size_t nb, float* out) {
    const __m256i g = grid16(grid);
    __m256 acc[C];
    for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
    std::size_t i = 0;
    for (; i + 8 <= nb; i += 8) {
        __m256i q[8];
        LOWBIT_UNROLL
        for (std::size_t j = 0; j < 8; ++j) q[j] = _mm256_shuffle_epi8(g, indices(w[i + j]));
        const __m256 dw = scales8(w + i);
        for (int c = 0; c < C; ++c) {
            const gguf::block_q8_0* ac = a + c * lda + i;
            __m256i v[8];
            LOWBIT_UNROLL
            for (std::size_t j = 0; j < 8; ++j) v[j] = lanes(q[j], ac[j]);
            const __m256 isums = _mm256_cvtepi32_ps(lane_sums8(v));  // exact: |isum| < 2^24
            acc[c] = _mm256_add_ps(acc[c], opaque8(_mm256_mul_ps(_mm256_mul_ps(dw, scales8(ac)), isums)));
        }
    }
    alignas(32) float lane[C][8];
    for (int c = 0; c < C; ++c) _mm256_store_ps(lane[c], acc[c]);
    for (; i < nb; ++i) {
        const __m256i q = _mm256_shuffle_epi8(g, indices(w[i]));
        const float dw = _cvtsh_ss(w[i].d);
        for (int c = 0; c < C; ++c) {
            const gguf::block_q8_0& ac = a[c * lda + i];
            lane[c][i % 8] += block_term(dw, _cvtsh_ss(ac.d), hsum(lanes(q, ac)));
        }
    }
    for (int c = 0; c < C; ++c) out[c] = lane_tree(lane[c]);
}

#undef LOWBIT_CB_INLINE

}  // namespace LOWBIT_CB_NS
