// lowbit/kernels/detail/x86/body.inl — the x86 kernels, written once and
// stamped out per instruction set by x86/kernels.hpp, which includes this file
// several times inside different namespaces with:
//   LOWBIT_X86_NS    the namespace (avx2, avx512, avxvnni, avx512vnni)
//   LOWBIT_TGT       __attribute__((target("..."))) for every function here
//   LOWBIT_X86_DOT   0: maddubs/madd (AVX2), 1: AVX-VNNI vpdpbusd, 2: AVX-512 VNNI vpdpbusd
// Every function carries the target attribute, so a baseline x86-64 build
// holds all copies and runs the one the CPU supports (header-only runtime
// dispatch, docs/kernels.md "Dispatch"). No lambdas: they would not inherit
// the attribute. The block structure and the float steps are those of
// detail/blocks.hpp; comments there explain the math.
//
// No include guard on purpose.

namespace LOWBIT_X86_NS {

#define LOWBIT_TGT_INLINE LOWBIT_TGT __attribute__((always_inline)) inline

// ---- unpacking: one pair of blocks (2j, 2j+1) into two registers of u8 codes --------
// Low 128 bits of each register: 16 codes of block 2j; high: 16 codes of block 2j+1,
// in the order code_in_block<B>(k, t). p points at block 2j.
template <int B>
LOWBIT_TGT_INLINE void unpack_pair(const std::uint8_t* p, __m256i& r0, __m256i& r1) {
    if constexpr (B == 8) {
        const __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
        const __m256i v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32));
        r0 = _mm256_permute2x128_si256(v0, v1, 0x20);
        r1 = _mm256_permute2x128_si256(v0, v1, 0x31);
    } else if constexpr (B == 4) {
        const __m256i m = _mm256_set1_epi8(0x0f);
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
        r0 = _mm256_and_si256(v, m);
        r1 = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
    } else if constexpr (B == 2) {
        const __m256i m = _mm256_set1_epi8(0x03);
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const __m256i w = _mm256_permute4x64_epi64(_mm256_castsi128_si256(v), 0x50);  // [A, A, B, B]
        r0 = _mm256_and_si256(_mm256_srlv_epi64(w, _mm256_setr_epi64x(0, 2, 0, 2)), m);
        r1 = _mm256_and_si256(_mm256_srlv_epi64(w, _mm256_setr_epi64x(4, 6, 4, 6)), m);
    } else if constexpr (B == 1) {
        const __m256i m = _mm256_set1_epi8(0x01);
        const __m128i v = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
        const __m256i w = _mm256_permutevar8x32_epi32(_mm256_castsi128_si256(v), _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1));
        r0 = _mm256_and_si256(_mm256_srlv_epi32(w, _mm256_setr_epi32(0, 1, 2, 3, 0, 1, 2, 3)), m);
        r1 = _mm256_and_si256(_mm256_srlv_epi32(w, _mm256_setr_epi32(4, 5, 6, 7, 4, 5, 6, 7)), m);
    } else {
        // B = 3, 5, 6, 7: code i of a 16-code half sits at bit i*B. A byte shuffle puts
        // its two bytes in a 16-bit lane, a multiply by 2^(8 - (i*B)%8) and a shift
        // right by 8 align it, pack and mask finish. Reads 16 bytes per half (over-read
        // of up to 16 - 2B bytes, covered by the caller's slack rule).
        static constexpr kdetail::unpack_table<B> tables{};
        const __m256i shufA = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tables.shuf_a));
        const __m256i shufB = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tables.shuf_b));
        const __m256i mul = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tables.mul));
        const __m256i m = _mm256_set1_epi8(static_cast<char>((1 << B) - 1));
        const std::uint8_t* q[2] = {p, p + 2 * B};
        __m256i* out[2] = {&r0, &r1};
        for (int k = 0; k < 2; ++k) {
            const __m256i v = _mm256_inserti128_si256(
                _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q[k]))),
                _mm_loadu_si128(reinterpret_cast<const __m128i*>(q[k] + 4 * B)), 1);
            const __m256i a = _mm256_srli_epi16(_mm256_mullo_epi16(_mm256_shuffle_epi8(v, shufA), mul), 8);
            const __m256i b = _mm256_srli_epi16(_mm256_mullo_epi16(_mm256_shuffle_epi8(v, shufB), mul), 8);
            *out[k] = _mm256_and_si256(_mm256_packus_epi16(a, b), m);
        }
    }
}

// ---- integer dot: acc += sum over 4-byte groups of u8 codes * s8 activations ---------
template <int B>
LOWBIT_TGT_INLINE __m256i dot_u8s8(__m256i acc, __m256i u, __m256i x) {
#if LOWBIT_X86_DOT == 2
    return _mm256_dpbusd_epi32(acc, u, x);
#elif LOWBIT_X86_DOT == 1
    return _mm256_dpbusd_avx_epi32(acc, u, x);
#else
    const __m256i ones = _mm256_set1_epi16(1);
    if constexpr (B < 8) {
        // u <= 127: a pair sum u0*x0 + u1*x1 <= 2*127*127 never saturates in maddubs.
        return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), ones));
    } else {
        // 8-bit codes could saturate: split into nibbles, u = 16*hi + lo.
        const __m256i m = _mm256_set1_epi8(0x0f);
        const __m256i lo = _mm256_and_si256(u, m), hi = _mm256_and_si256(_mm256_srli_epi16(u, 4), m);
        const __m256i s = _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(hi, x), _mm256_set1_epi16(16)),
                                           _mm256_madd_epi16(_mm256_maddubs_epi16(lo, x), ones));
        return _mm256_add_epi32(acc, s);
    }
#endif
}

// One super-chunk (8 blocks) of one weight row against MB activation rows:
// isum[m] = the 8 integer block sums, natural block order.
template <int B, int MB>
LOWBIT_TGT_INLINE void i8_chunk(const std::uint8_t* w, const std::int8_t* const* x, __m256i* isum) {
    __m256i h[MB][2];
    for (int half = 0; half < 2; ++half) {
        __m256i a[MB][2];
        for (int jj = 0; jj < 2; ++jj) {
            const int j = half * 2 + jj;
            __m256i r0, r1;
            unpack_pair<B>(w + j * 8 * B, r0, r1);
            for (int m = 0; m < MB; ++m) {
                const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[m] + j * 64));
                const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[m] + j * 64 + 32));
                a[m][jj] = dot_u8s8<B>(dot_u8s8<B>(_mm256_setzero_si256(), r0, x0), r1, x1);
            }
        }
        for (int m = 0; m < MB; ++m) h[m][half] = _mm256_hadd_epi32(a[m][0], a[m][1]);
    }
    // hadd(hadd(A0,A1), hadd(A2,A3)) holds blocks [0,2,4,6,1,3,5,7].
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int m = 0; m < MB; ++m) isum[m] = _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(h[m][0], h[m][1]), order);
}

// f32 path: one super-chunk against MB arranged f32 rows: the 8 block sums
// sum((u - z) * x), z[b] the zero of block b (exact small numbers after the subtraction).
template <int B, int MB>
LOWBIT_TGT_INLINE void f32_chunk(const std::uint8_t* w, const float* const* x, const float* z, __m256* psum) {
    __m256 h[MB][4];
    for (int j = 0; j < 4; ++j) {
        __m256i r[2];
        unpack_pair<B>(w + j * 8 * B, r[0], r[1]);
        __m256 u[2][4];
        const __m256 ze = _mm256_broadcast_ss(z + 2 * j), zo = _mm256_broadcast_ss(z + 2 * j + 1);
        for (int k = 0; k < 2; ++k) {
            const __m128i lo = _mm256_castsi256_si128(r[k]), hi = _mm256_extracti128_si256(r[k], 1);
            u[k][0] = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo)), ze);
            u[k][1] = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8))), ze);
            u[k][2] = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi)), zo);
            u[k][3] = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8))), zo);
        }
        for (int m = 0; m < MB; ++m) {
            const float* xp = x[m] + j * 64;
            __m256 e = _mm256_mul_ps(u[0][0], _mm256_loadu_ps(xp));  // block 2j
            __m256 o = _mm256_mul_ps(u[0][2], _mm256_loadu_ps(xp + 16));  // block 2j+1
            e = _mm256_fmadd_ps(u[0][1], _mm256_loadu_ps(xp + 8), e);
            o = _mm256_fmadd_ps(u[0][3], _mm256_loadu_ps(xp + 24), o);
            e = _mm256_fmadd_ps(u[1][0], _mm256_loadu_ps(xp + 32), e);
            o = _mm256_fmadd_ps(u[1][2], _mm256_loadu_ps(xp + 48), o);
            e = _mm256_fmadd_ps(u[1][1], _mm256_loadu_ps(xp + 40), e);
            o = _mm256_fmadd_ps(u[1][3], _mm256_loadu_ps(xp + 56), o);
            h[m][j] = _mm256_hadd_ps(e, o);
        }
    }
    for (int m = 0; m < MB; ++m) {
        const __m256 a = _mm256_hadd_ps(h[m][0], h[m][1]);  // [b0 b1 b2 b3 | b0 b1 b2 b3] partial
        const __m256 b = _mm256_hadd_ps(h[m][2], h[m][3]);  // [b4 .. b7 | b4 .. b7] partial
        psum[m] = _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
    }
}

// ---- scales and zeros of the 8 blocks of super-chunk sc of row r --------------------
template <class S>
LOWBIT_TGT_INLINE float scale_at(const qmatrix_view<S>& w, std::size_t i) {
    if constexpr (S::scale == scale_type::f16) return _cvtsh_ss(w.scales[i]);
    else return S::scale_codec::decode(w.scales[i]);
}
template <class S>
LOWBIT_TGT_INLINE __m256 scales8(const qmatrix_view<S>& w, std::size_t i) {  // 8 consecutive scales
    if constexpr (S::scale == scale_type::f16)
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales + i)));
    else if constexpr (S::scale == scale_type::bf16)
        return _mm256_castsi256_ps(_mm256_slli_epi32(
            _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales + i))), 16));
    else return _mm256_loadu_ps(reinterpret_cast<const float*>(w.scales + i));
}
template <class S>
LOWBIT_TGT_INLINE void scale_zero8(const qmatrix_view<S>& w, std::size_t r, std::size_t sc, std::size_t nb, bool full,
                                   __m256& s, __m256& z) {
    const std::size_t b0 = sc * kdetail::chunk_blocks;
    if (S::gran != granularity::per_group) {
        const std::size_t i = w.scale_index(r, 0);
        if (full) {
            s = _mm256_set1_ps(scale_at(w, i));
            z = _mm256_set1_ps(kdetail::block_zero(w, r, 0));
            return;
        }
    }
    const std::size_t bpg = static_cast<std::size_t>(w.group) / kdetail::block;
    if (full && bpg == 1) {
        const std::size_t i = w.scale_index(r, b0);
        s = scales8(w, i);
        if constexpr (S::is_symmetric) z = _mm256_set1_ps(symmetric_zero(S::bits));
        else z = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(w.zeros + i))));
        return;
    }
    if (full && bpg % 8 == 0) {
        const std::size_t i = w.scale_index(r, b0 / bpg);
        s = _mm256_set1_ps(scale_at(w, i));
        z = _mm256_set1_ps(kdetail::block_zero(w, r, b0));
        return;
    }
    alignas(32) float sv[8], zv[8];
    for (std::size_t k = 0; k < 8; ++k) {
        const std::size_t b = b0 + k;
        sv[k] = b < nb ? scale_at(w, w.scale_index(r, kdetail::block_group(w, b))) : 0.0f;
        zv[k] = b < nb ? kdetail::block_zero(w, r, b) : 0.0f;
    }
    s = _mm256_load_ps(sv);
    z = _mm256_load_ps(zv);
}

// Sum of 8 lanes in the order of kdetail::reduce8.
LOWBIT_TGT_INLINE float reduce8(__m256 a) {
    const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

// ---- row drivers ------------------------------------------------------------------
// out(m, r) = out[m * ld + r] for rows [r0, r1) and activation rows [0, M).
// Activation rows are walked in blocks of MB (register blocking: one unpack of the
// weights feeds MB rows); rows of W inner, so an MB-row activation block stays in L1
// while the task's weight rows stream from L2 (cache blocking).
template <int B>
constexpr std::size_t unpack_slack() noexcept {
    return (B == 1 || B == 2 || B == 4 || B == 8) ? 0 : 16;
}

template <class S, int MB>
LOWBIT_TGT inline void i8_rows_mb(const qmatrix_view<S>& w, std::size_t r0, std::size_t r1, const kdetail::act_i8* a,
                                  const kdetail::act_geometry& g, float* out, std::size_t ld) {
    constexpr int B = S::bits;
    const std::size_t row_len = packed_bytes(g.K, B), cb = 32 * B;
    alignas(32) std::uint8_t tmp[32 * 8 + 16];
    for (std::size_t r = r0; r < r1; ++r) {
        const std::uint8_t* row = w.row(r);
        __m256 acc[MB];
        for (int m = 0; m < MB; ++m) acc[m] = _mm256_setzero_ps();
        for (std::size_t sc = 0; sc < g.nsc; ++sc) {
            const std::size_t off = sc * cb;
            const bool full = off + cb + unpack_slack<B>() <= row_len;
            const std::uint8_t* wp = row + off;
            if (!full) {
                std::memset(tmp, 0, sizeof tmp);
                std::memcpy(tmp, wp, (row_len - off < cb ? row_len - off : cb));
                wp = tmp;
            }
            const std::int8_t* xp[MB];
            for (int m = 0; m < MB; ++m) xp[m] = a[m].q + sc * kdetail::chunk;
            __m256i isum[MB];
            i8_chunk<B, MB>(wp, xp, isum);
            __m256 s, z;
            scale_zero8(w, r, sc, g.nb, off + cb <= row_len, s, z);
            for (int m = 0; m < MB; ++m) {
                // ii = 2*isum - 2z*qs (blocks.hpp); 2z = 2^B for symmetric B > 1, 1 for B = 1
                const __m256i qs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[m].qs + sc * 8));
                __m256i zq;
                if constexpr (!S::is_symmetric) zq = _mm256_slli_epi32(_mm256_mullo_epi32(_mm256_cvtps_epi32(z), qs), 1);
                else if constexpr (B == 1) zq = qs;
                else zq = _mm256_slli_epi32(qs, B);
                const __m256i ii = _mm256_sub_epi32(_mm256_slli_epi32(isum[m], 1), zq);
                const __m256 p = _mm256_mul_ps(_mm256_cvtepi32_ps(ii), _mm256_loadu_ps(a[m].dxh + sc * 8));
                acc[m] = _mm256_fmadd_ps(s, p, acc[m]);
            }
        }
        for (int m = 0; m < MB; ++m) out[static_cast<std::size_t>(m) * ld + r] = reduce8(acc[m]);
    }
}

template <class S, int MB>
LOWBIT_TGT inline void f32_rows_mb(const qmatrix_view<S>& w, std::size_t r0, std::size_t r1, const kdetail::act_f32* a,
                                   const kdetail::act_geometry& g, float* out, std::size_t ld) {
    constexpr int B = S::bits;
    const std::size_t row_len = packed_bytes(g.K, B), cb = 32 * B;
    alignas(32) std::uint8_t tmp[32 * 8 + 16];
    for (std::size_t r = r0; r < r1; ++r) {
        const std::uint8_t* row = w.row(r);
        __m256 acc[MB];
        for (int m = 0; m < MB; ++m) acc[m] = _mm256_setzero_ps();
        for (std::size_t sc = 0; sc < g.nsc; ++sc) {
            const std::size_t off = sc * cb;
            const bool full = off + cb + unpack_slack<B>() <= row_len;
            const std::uint8_t* wp = row + off;
            if (!full) {
                std::memset(tmp, 0, sizeof tmp);
                std::memcpy(tmp, wp, (row_len - off < cb ? row_len - off : cb));
                wp = tmp;
            }
            const float* xp[MB];
            for (int m = 0; m < MB; ++m) xp[m] = a[m].x + sc * kdetail::chunk;
            __m256 s, z;
            scale_zero8(w, r, sc, g.nb, off + cb <= row_len, s, z);
            alignas(32) float zv[8];
            _mm256_store_ps(zv, z);
            __m256 p[MB];
            f32_chunk<B, MB>(wp, xp, zv, p);
            for (int m = 0; m < MB; ++m) acc[m] = _mm256_fmadd_ps(s, p[m], acc[m]);
        }
        for (int m = 0; m < MB; ++m) out[static_cast<std::size_t>(m) * ld + r] = reduce8(acc[m]);
    }
}

// All activation rows [0, M) for weight rows [r0, r1).
template <class S>
LOWBIT_TGT inline void i8_rows(const qmatrix_view<S>& w, std::size_t r0, std::size_t r1, const kdetail::act_i8* a,
                               std::size_t M, const kdetail::act_geometry& g, float* out, std::size_t ld) {
    std::size_t m = 0;
    for (; m + 4 <= M; m += 4) i8_rows_mb<S, 4>(w, r0, r1, a + m, g, out + m * ld, ld);
    for (; m < M; ++m) i8_rows_mb<S, 1>(w, r0, r1, a + m, g, out + m * ld, ld);
}
template <class S>
LOWBIT_TGT inline void f32_rows(const qmatrix_view<S>& w, std::size_t r0, std::size_t r1, const kdetail::act_f32* a,
                                std::size_t M, const kdetail::act_geometry& g, float* out, std::size_t ld) {
    std::size_t m = 0;
    for (; m + 2 <= M; m += 2) f32_rows_mb<S, 2>(w, r0, r1, a + m, g, out + m * ld, ld);
    for (; m < M; ++m) f32_rows_mb<S, 1>(w, r0, r1, a + m, g, out + m * ld, ld);
}

#undef LOWBIT_TGT_INLINE

}  // namespace LOWBIT_X86_NS
