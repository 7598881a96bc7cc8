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
        LOWBIT_UNROLL
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

// Arranged offset of pair j's first register (blocks 2j, 2j+1); its second is 64 further.
constexpr int pair_offset(int j) noexcept { return (j / 2) * 128 + (j % 2) * 32; }

// One super-chunk (8 blocks) of one weight row against MB activation rows:
// isum[m] = the 8 integer block sums, natural block order.
#if LOWBIT_X86_ZMM
// Four blocks (a quad) into two zmm registers: 16-byte lane l of each = block 4q + l.
template <int B>
LOWBIT_TGT_INLINE void unpack_quad(const std::uint8_t* p, __m512i& lo, __m512i& hi) {
    if constexpr (B == 4) {
        const __m512i m = _mm512_set1_epi8(0x0f);
        const __m512i v = _mm512_loadu_si512(p);
        lo = _mm512_and_si512(v, m);
        hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m);
    } else if constexpr (B == 8) {
        const __m512i v0 = _mm512_loadu_si512(p), v1 = _mm512_loadu_si512(p + 64);
        lo = _mm512_maskz_shuffle_i32x4(0xffff, v0, v1, _MM_SHUFFLE(2, 0, 2, 0));  // maskz: see codes16
        hi = _mm512_maskz_shuffle_i32x4(0xffff, v0, v1, _MM_SHUFFLE(3, 1, 3, 1));
    } else {
        __m256i a0, a1, b0, b1;
        unpack_pair<B>(p, a0, a1);
        unpack_pair<B>(p + 8 * B, b0, b1);
        lo = _mm512_maskz_inserti64x4(0xff, _mm512_castsi256_si512(a0), b0, 1);
        hi = _mm512_maskz_inserti64x4(0xff, _mm512_castsi256_si512(a1), b1, 1);
    }
}
template <int B>
LOWBIT_TGT_INLINE __m512i dot512(__m512i acc, __m512i u, __m512i x) {
#if LOWBIT_X86_DOT == 2
    return _mm512_dpbusd_epi32(acc, u, x);
#else
    const __m512i ones = _mm512_set1_epi16(1);
    if constexpr (B < 8) {
        return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, x), ones));
    } else {
        const __m512i m = _mm512_set1_epi8(0x0f);
        const __m512i lo = _mm512_and_si512(u, m), hi = _mm512_and_si512(_mm512_srli_epi16(u, 4), m);
        const __m512i s = _mm512_add_epi32(_mm512_madd_epi16(_mm512_maddubs_epi16(hi, x), _mm512_set1_epi16(16)),
                                           _mm512_madd_epi16(_mm512_maddubs_epi16(lo, x), ones));
        return _mm512_add_epi32(acc, s);
    }
#endif
}
// The int8 row accumulator: 16 float lanes (blocks.hpp).
struct i8acc {
    __m512 v;
};
LOWBIT_TGT_INLINE void i8acc_zero(i8acc& a) { a.v = _mm512_setzero_ps(); }
LOWBIT_TGT_INLINE __m256 i8acc_fold(const i8acc& a) {  // lanes i + (i + 8)
    const __m512d d = _mm512_castps_pd(a.v);
    return _mm256_add_ps(_mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xf, d, 0)),
                         _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xf, d, 1)));
}
// One super-chunk of one weight row against MB activation rows: acc[m] lanes +=
// float(A_i) * (s * dx) (blocks.hpp). s: the 8 blocks' scales.
template <class S, int MB>
LOWBIT_TGT_INLINE void i8_chunk(const std::uint8_t* w, const std::int8_t* const* x, const float* const* dxl,
                                const std::int32_t* const* zq, __m256 s, __m256 z, i8acc* acc) {
    constexpr int B = S::bits;
    const __m512 s16 = _mm512_castps256_ps512(s);
    const __m512i z16 = _mm512_castsi256_si512(_mm256_cvtps_epi32(z));
    LOWBIT_UNROLL
    for (int q = 0; q < 2; ++q) {
        __m512i lo, hi;
        unpack_quad<B>(w + q * 16 * B, lo, hi);
        const __m512i idx = _mm512_setr_epi32(4 * q, 4 * q, 4 * q, 4 * q, 4 * q + 1, 4 * q + 1, 4 * q + 1, 4 * q + 1, 4 * q + 2,
                                              4 * q + 2, 4 * q + 2, 4 * q + 2, 4 * q + 3, 4 * q + 3, 4 * q + 3, 4 * q + 3);
        const __m512 sl = _mm512_maskz_permutexvar_ps(0xffff, idx, s16);
        __m512i zl = _mm512_setzero_si512();
        if constexpr (!S::is_symmetric) zl = _mm512_maskz_permutexvar_epi32(0xffff, idx, z16);
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) {
            const __m512i x0 = _mm512_loadu_si512(x[m] + q * 128);
            const __m512i x1 = _mm512_loadu_si512(x[m] + q * 128 + 64);
            const __m512i zqm = _mm512_loadu_si512(zq[m] + q * 16);
            constexpr bool start_at_zq = S::is_symmetric && B > 1;  // the dot starts from -zQ
            __m512i A = dot512<B>(dot512<B>(start_at_zq ? zqm : _mm512_setzero_si512(), lo, x0), hi, x1);
            if constexpr (!S::is_symmetric) A = _mm512_sub_epi32(A, _mm512_mullo_epi32(zl, zqm));
            else if constexpr (B == 1) A = _mm512_sub_epi32(_mm512_add_epi32(A, A), zqm);
            const __m512 t = _mm512_mul_ps(sl, _mm512_loadu_ps(dxl[m] + q * 16));
            acc[m].v = _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(0xffff, A), t, acc[m].v);
        }
    }
}
#else
struct i8acc {
    __m256 v[2];  // lanes 0..7 and 8..15 of the 16-lane accumulator
};
LOWBIT_TGT_INLINE void i8acc_zero(i8acc& a) { a.v[0] = a.v[1] = _mm256_setzero_ps(); }
LOWBIT_TGT_INLINE __m256 i8acc_fold(const i8acc& a) { return _mm256_add_ps(a.v[0], a.v[1]); }
// Pair j = 2q + h of a quad is lanes 8h..8h+7 of its 16-lane accumulator.
template <class S, int MB>
LOWBIT_TGT_INLINE void i8_chunk(const std::uint8_t* w, const std::int8_t* const* x, const float* const* dxl,
                                const std::int32_t* const* zq, __m256 s, __m256 z, i8acc* acc) {
    constexpr int B = S::bits;
    const __m256i zi = _mm256_cvtps_epi32(z);
    LOWBIT_UNROLL
    for (int j = 0; j < 4; ++j) {
        __m256i r0, r1;
        unpack_pair<B>(w + j * 8 * B, r0, r1);
        const __m256i idx = _mm256_setr_epi32(2 * j, 2 * j, 2 * j, 2 * j, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1);
        const __m256 sl = _mm256_permutevar8x32_ps(s, idx);
        __m256i zl = _mm256_setzero_si256();
        if constexpr (!S::is_symmetric) zl = _mm256_permutevar8x32_epi32(zi, idx);
        const int lane0 = (j / 2) * 16 + (j % 2) * 8;
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) {
            const std::int8_t* xp = x[m] + pair_offset(j);
            const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xp));
            const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xp + 64));
            const __m256i zqm = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(zq[m] + lane0));
            constexpr bool start_at_zq = S::is_symmetric && B > 1;  // the dot starts from -zQ
            __m256i A = dot_u8s8<B>(dot_u8s8<B>(start_at_zq ? zqm : _mm256_setzero_si256(), r0, x0), r1, x1);
            if constexpr (!S::is_symmetric) A = _mm256_sub_epi32(A, _mm256_mullo_epi32(zl, zqm));
            else if constexpr (B == 1) A = _mm256_sub_epi32(_mm256_add_epi32(A, A), zqm);
            const __m256 t = _mm256_mul_ps(sl, _mm256_loadu_ps(dxl[m] + lane0));
            acc[m].v[j % 2] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(A), t, acc[m].v[j % 2]);
        }
    }
}
#endif

// f32 path: one super-chunk against MB arranged f32 rows. For each block b the
// partial dot P_b = sum((u - z_b) * x) is formed in registers and folded into the
// row accumulator with its scale: acc = fma(P_b, s_b, acc) (no per-block horizontal
// sums). z and s: the 8 blocks' zeros and scales. The zero is subtracted exactly:
// in bytes for symmetric B >= 2 (u - 2^(B-1) fits int8), in floats otherwise.
template <class S>
constexpr bool zero_in_bytes() noexcept {
    return S::is_symmetric && S::bits >= 2;
}

#if LOWBIT_X86_ZMM
using facc = __m512;
LOWBIT_TGT_INLINE facc facc_zero() { return _mm512_setzero_ps(); }
// 16 codes (one half-register, one block) to floats, zero removed. (The maskz forms:
// GCC 12 warns -Wmaybe-uninitialized inside the unmasked AVX-512 conversions.)
template <class S>
LOWBIT_TGT_INLINE __m512 codes16(__m128i c, const float* z) {
    const __mmask16 all = 0xffff;
    if constexpr (zero_in_bytes<S>()) return _mm512_maskz_cvtepi32_ps(all, _mm512_maskz_cvtepi8_epi32(all, c));
    else return _mm512_sub_ps(_mm512_maskz_cvtepi32_ps(all, _mm512_maskz_cvtepu8_epi32(all, c)), _mm512_set1_ps(*z));
}
template <class S, int MB>
LOWBIT_TGT_INLINE void f32_chunk(const std::uint8_t* w, const float* const* x, const float* z, const float* s, facc* acc) {
    LOWBIT_UNROLL
    for (int j = 0; j < 4; ++j) {
        __m256i r0, r1;
        unpack_pair<S::bits>(w + j * 8 * S::bits, r0, r1);
        if constexpr (zero_in_bytes<S>()) {
            const __m256i zb = _mm256_set1_epi8(static_cast<char>(1 << (S::bits - 1)));
            r0 = _mm256_sub_epi8(r0, zb);
            r1 = _mm256_sub_epi8(r1, zb);
        }
        const __m512 e0 = codes16<S>(_mm256_castsi256_si128(r0), z + 2 * j);
        const __m512 e1 = codes16<S>(_mm256_castsi256_si128(r1), z + 2 * j);
        const __m512 o0 = codes16<S>(_mm256_extracti128_si256(r0, 1), z + 2 * j + 1);
        const __m512 o1 = codes16<S>(_mm256_extracti128_si256(r1, 1), z + 2 * j + 1);
        const __m512 se = _mm512_set1_ps(s[2 * j]), so = _mm512_set1_ps(s[2 * j + 1]);
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) {
            const float* xp = x[m] + pair_offset(j);
            const __m512 pe = _mm512_fmadd_ps(e1, _mm512_loadu_ps(xp + 64), _mm512_mul_ps(e0, _mm512_loadu_ps(xp)));
            const __m512 po = _mm512_fmadd_ps(o1, _mm512_loadu_ps(xp + 80), _mm512_mul_ps(o0, _mm512_loadu_ps(xp + 16)));
            acc[m] = _mm512_fmadd_ps(po, so, _mm512_fmadd_ps(pe, se, acc[m]));
        }
    }
}
LOWBIT_TGT_INLINE float facc_sum(__m512 a) {
    const __m512d ad = _mm512_castps_pd(a);  // (GCC 12's _mm512_castps512_ps256 warns too)
    const __m256 h = _mm256_add_ps(_mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xf, ad, 0)),
                                   _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xf, ad, 1)));
    const __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    const __m128 d = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(d, _mm_shuffle_ps(d, d, 1)));
}
#else
using facc = __m256;
LOWBIT_TGT_INLINE facc facc_zero() { return _mm256_setzero_ps(); }
// 8 codes to floats, zero removed.
template <class S>
LOWBIT_TGT_INLINE __m256 codes8(__m128i c, const float* z) {
    if constexpr (zero_in_bytes<S>()) return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(c));
    else return _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c)), _mm256_set1_ps(*z));
}
template <class S, int MB>
LOWBIT_TGT_INLINE void f32_chunk(const std::uint8_t* w, const float* const* x, const float* z, const float* s, facc* acc) {
    LOWBIT_UNROLL
    for (int j = 0; j < 4; ++j) {
        __m256i r[2];
        unpack_pair<S::bits>(w + j * 8 * S::bits, r[0], r[1]);
        if constexpr (zero_in_bytes<S>()) {
            const __m256i zb = _mm256_set1_epi8(static_cast<char>(1 << (S::bits - 1)));
            r[0] = _mm256_sub_epi8(r[0], zb);
            r[1] = _mm256_sub_epi8(r[1], zb);
        }
        __m256 e[4], o[4];  // block 2j: r0 low half, r1 low half; block 2j+1: the high halves
        LOWBIT_UNROLL
        for (int k = 0; k < 2; ++k) {
            const __m128i lo = _mm256_castsi256_si128(r[k]), hi = _mm256_extracti128_si256(r[k], 1);
            e[2 * k] = codes8<S>(lo, z + 2 * j);
            e[2 * k + 1] = codes8<S>(_mm_srli_si128(lo, 8), z + 2 * j);
            o[2 * k] = codes8<S>(hi, z + 2 * j + 1);
            o[2 * k + 1] = codes8<S>(_mm_srli_si128(hi, 8), z + 2 * j + 1);
        }
        const __m256 se = _mm256_broadcast_ss(s + 2 * j), so = _mm256_broadcast_ss(s + 2 * j + 1);
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) {
            const float* xp = x[m] + pair_offset(j);
            __m256 pe = _mm256_mul_ps(e[0], _mm256_loadu_ps(xp));
            __m256 po = _mm256_mul_ps(o[0], _mm256_loadu_ps(xp + 16));
            pe = _mm256_fmadd_ps(e[1], _mm256_loadu_ps(xp + 8), pe);
            po = _mm256_fmadd_ps(o[1], _mm256_loadu_ps(xp + 24), po);
            pe = _mm256_fmadd_ps(e[2], _mm256_loadu_ps(xp + 64), pe);
            po = _mm256_fmadd_ps(o[2], _mm256_loadu_ps(xp + 80), po);
            pe = _mm256_fmadd_ps(e[3], _mm256_loadu_ps(xp + 72), pe);
            po = _mm256_fmadd_ps(o[3], _mm256_loadu_ps(xp + 88), po);
            acc[m] = _mm256_fmadd_ps(po, so, _mm256_fmadd_ps(pe, se, acc[m]));
        }
    }
}
LOWBIT_TGT_INLINE float facc_sum(__m256 a) {
    const __m128 q = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    const __m128 d = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(d, _mm_shuffle_ps(d, d, 1)));
}
#endif

// ---- small groups (blocks.hpp, "small groups"): scales and zeros per quarter ---------
// qs, qz: the super-chunk's 32 quarter scales and zeros. The int8 lanes sum
// their two registers apart (A_k = D_k - z_k Q_k, Q_0 by a dot with ones,
// Q_1 = Q - Q_0 from the prepared zq); the f32 codes are dequantized before
// their products.
#if LOWBIT_X86_ZMM
// 16 quarter values as two 256-bit loads: quarter_scales writes them 256 bits at
// a time, and a 512-bit load of two such stores would miss store forwarding.
LOWBIT_TGT_INLINE __m512 load_quarters16(const float* p) {
    const __m512d lo = _mm512_castps_pd(_mm512_castps256_ps512(_mm256_loadu_ps(p)));
    return _mm512_castpd_ps(_mm512_maskz_insertf64x4(0xff, lo, _mm256_castps_pd(_mm256_loadu_ps(p + 8)), 1));
}
template <class S, int MB>
LOWBIT_TGT_INLINE void i8_chunk_small(const std::uint8_t* w, const std::int8_t* const* x, const float* const* dxl,
                                      const std::int32_t* const* zq, const float* qs, const float* qz, i8acc* acc) {
    constexpr int B = S::bits;
    const auto& qm = kdetail::quarters<B>();
    const __m512i ones = _mm512_set1_epi8(1);
    LOWBIT_UNROLL
    for (int q = 0; q < 2; ++q) {
        __m512i lo, hi;
        unpack_quad<B>(w + q * 16 * B, lo, hi);
        const __m512 sv = load_quarters16(qs + 16 * q);
        const __m512i i0 = _mm512_maskz_cvtepu8_epi32(0xffff, _mm_loadu_si128(reinterpret_cast<const __m128i*>(qm.lane.data() + 16 * q)));
        const __m512i i1 = _mm512_maskz_cvtepu8_epi32(0xffff, _mm_loadu_si128(reinterpret_cast<const __m128i*>(qm.lane.data() + 32 + 16 * q)));
        const __m512 s0 = _mm512_maskz_permutexvar_ps(0xffff, i0, sv), s1 = _mm512_maskz_permutexvar_ps(0xffff, i1, sv);
        __m512i z0 = _mm512_setzero_si512(), z1 = _mm512_setzero_si512();
        if constexpr (!S::is_symmetric) {
            const __m512 zv = load_quarters16(qz + 16 * q);
            z0 = _mm512_maskz_cvtps_epi32(0xffff, _mm512_maskz_permutexvar_ps(0xffff, i0, zv));
            z1 = _mm512_maskz_cvtps_epi32(0xffff, _mm512_maskz_permutexvar_ps(0xffff, i1, zv));
        }
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) {
            const __m512i x0 = _mm512_loadu_si512(x[m] + q * 128);
            const __m512i x1 = _mm512_loadu_si512(x[m] + q * 128 + 64);
            const __m512i zqm = _mm512_loadu_si512(zq[m] + q * 16);
            const __m512i D0 = dot512<B>(_mm512_setzero_si512(), lo, x0), D1 = dot512<B>(_mm512_setzero_si512(), hi, x1);
            const __m512i Q0 = dot512<1>(_mm512_setzero_si512(), ones, x0);
            __m512i A0, A1;
            if constexpr (S::is_symmetric) {  // zq = -z Q
                const __m512i zQ0 = _mm512_maskz_slli_epi32(0xffff, Q0, B - 1);  // maskz: see codes16
                A0 = _mm512_sub_epi32(D0, zQ0);
                A1 = _mm512_add_epi32(_mm512_add_epi32(D1, zqm), zQ0);
            } else {  // zq = Q
                A0 = _mm512_sub_epi32(D0, _mm512_mullo_epi32(z0, Q0));
                A1 = _mm512_sub_epi32(D1, _mm512_mullo_epi32(z1, _mm512_sub_epi32(zqm, Q0)));
            }
            const __m512 dx = _mm512_loadu_ps(dxl[m] + q * 16);
            acc[m].v = _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(0xffff, A0), _mm512_mul_ps(s0, dx), acc[m].v);
            acc[m].v = _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(0xffff, A1), _mm512_mul_ps(s1, dx), acc[m].v);
        }
    }
}
// 16 codes (one 16-byte lane) dequantized with the scales and zeros of their
// quarters; at: the quarter of each (arranged positions). qsv/qzv: the 16
// quarters around them (permutexvar reads the low 4 bits of an index).
template <class S>
LOWBIT_TGT_INLINE __m512 dequant16(__m128i c, const std::uint8_t* at, __m512 qsv, __m512 qzv) {
    const __mmask16 all = 0xffff;
    const __m512i idx = _mm512_maskz_cvtepu8_epi32(all, _mm_loadu_si128(reinterpret_cast<const __m128i*>(at)));
    __m512 f;
    if constexpr (zero_in_bytes<S>()) f = _mm512_maskz_cvtepi32_ps(all, _mm512_maskz_cvtepi8_epi32(all, c));
    else f = _mm512_sub_ps(_mm512_maskz_cvtepi32_ps(all, _mm512_maskz_cvtepu8_epi32(all, c)), _mm512_maskz_permutexvar_ps(all, idx, qzv));
    return _mm512_mul_ps(f, _mm512_maskz_permutexvar_ps(all, idx, qsv));
}
template <class S, int MB>
LOWBIT_TGT_INLINE void f32_chunk_small(const std::uint8_t* w, const float* const* x, const float* qs, const float* qz, facc* acc) {
    const auto& qm = kdetail::quarters<S::bits>();
    LOWBIT_UNROLL
    for (int j = 0; j < 4; ++j) {
        __m256i r0, r1;
        unpack_pair<S::bits>(w + j * 8 * S::bits, r0, r1);
        if constexpr (zero_in_bytes<S>()) {
            const __m256i zb = _mm256_set1_epi8(static_cast<char>(1 << (S::bits - 1)));
            r0 = _mm256_sub_epi8(r0, zb);
            r1 = _mm256_sub_epi8(r1, zb);
        }
        const __m512 qsv = load_quarters16(qs + 16 * (j / 2));
        __m512 qzv = _mm512_setzero_ps();
        if constexpr (!zero_in_bytes<S>()) qzv = load_quarters16(qz + 16 * (j / 2));
        const std::uint8_t* at = qm.at.data() + pair_offset(j);
        const __m512 e0 = dequant16<S>(_mm256_castsi256_si128(r0), at, qsv, qzv);
        const __m512 e1 = dequant16<S>(_mm256_castsi256_si128(r1), at + 64, qsv, qzv);
        const __m512 o0 = dequant16<S>(_mm256_extracti128_si256(r0, 1), at + 16, qsv, qzv);
        const __m512 o1 = dequant16<S>(_mm256_extracti128_si256(r1, 1), at + 80, qsv, qzv);
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) {
            const float* xp = x[m] + pair_offset(j);
            const __m512 pe = _mm512_fmadd_ps(e1, _mm512_loadu_ps(xp + 64), _mm512_mul_ps(e0, _mm512_loadu_ps(xp)));
            const __m512 po = _mm512_fmadd_ps(o1, _mm512_loadu_ps(xp + 80), _mm512_mul_ps(o0, _mm512_loadu_ps(xp + 16)));
            acc[m] = _mm512_add_ps(acc[m], _mm512_add_ps(pe, po));
        }
    }
}
#else
template <class S, int MB>
LOWBIT_TGT_INLINE void i8_chunk_small(const std::uint8_t* w, const std::int8_t* const* x, const float* const* dxl,
                                      const std::int32_t* const* zq, const float* qs, const float* qz, i8acc* acc) {
    constexpr int B = S::bits;
    const auto& qm = kdetail::quarters<B>();
    const __m256i ones = _mm256_set1_epi8(1);
    LOWBIT_UNROLL
    for (int j = 0; j < 4; ++j) {
        __m256i r0, r1;
        unpack_pair<B>(w + j * 8 * B, r0, r1);
        const int lane0 = (j / 2) * 16 + (j % 2) * 8;
        // permutevar8x32 reads the low 3 bits: quarter 8j + i is entry i
        const __m256 sv = _mm256_loadu_ps(qs + 8 * j);
        const __m256i i0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(qm.lane.data() + lane0)));
        const __m256i i1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(qm.lane.data() + 32 + lane0)));
        const __m256 s0 = _mm256_permutevar8x32_ps(sv, i0), s1 = _mm256_permutevar8x32_ps(sv, i1);
        __m256i z0 = _mm256_setzero_si256(), z1 = _mm256_setzero_si256();
        if constexpr (!S::is_symmetric) {
            const __m256 zv = _mm256_loadu_ps(qz + 8 * j);
            z0 = _mm256_cvtps_epi32(_mm256_permutevar8x32_ps(zv, i0));
            z1 = _mm256_cvtps_epi32(_mm256_permutevar8x32_ps(zv, i1));
        }
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) {
            const std::int8_t* xp = x[m] + pair_offset(j);
            const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xp));
            const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xp + 64));
            const __m256i zqm = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(zq[m] + lane0));
            const __m256i D0 = dot_u8s8<B>(_mm256_setzero_si256(), r0, x0), D1 = dot_u8s8<B>(_mm256_setzero_si256(), r1, x1);
            const __m256i Q0 = dot_u8s8<1>(_mm256_setzero_si256(), ones, x0);
            __m256i A0, A1;
            if constexpr (S::is_symmetric) {  // zq = -z Q
                const __m256i zQ0 = _mm256_slli_epi32(Q0, B - 1);
                A0 = _mm256_sub_epi32(D0, zQ0);
                A1 = _mm256_add_epi32(_mm256_add_epi32(D1, zqm), zQ0);
            } else {  // zq = Q
                A0 = _mm256_sub_epi32(D0, _mm256_mullo_epi32(z0, Q0));
                A1 = _mm256_sub_epi32(D1, _mm256_mullo_epi32(z1, _mm256_sub_epi32(zqm, Q0)));
            }
            const __m256 dx = _mm256_loadu_ps(dxl[m] + lane0);
            __m256& a = acc[m].v[j % 2];
            a = _mm256_fmadd_ps(_mm256_cvtepi32_ps(A0), _mm256_mul_ps(s0, dx), a);
            a = _mm256_fmadd_ps(_mm256_cvtepi32_ps(A1), _mm256_mul_ps(s1, dx), a);
        }
    }
}
// 8 codes dequantized with the scales and zeros of their quarters (at: arranged positions).
template <class S>
LOWBIT_TGT_INLINE __m256 dequant8(__m128i c, const std::uint8_t* at, __m256 qsv, __m256 qzv) {
    const __m256i idx = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(at)));
    __m256 f;
    if constexpr (zero_in_bytes<S>()) f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(c));
    else f = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c)), _mm256_permutevar8x32_ps(qzv, idx));
    return _mm256_mul_ps(f, _mm256_permutevar8x32_ps(qsv, idx));
}
template <class S, int MB>
LOWBIT_TGT_INLINE void f32_chunk_small(const std::uint8_t* w, const float* const* x, const float* qs, const float* qz, facc* acc) {
    const auto& qm = kdetail::quarters<S::bits>();
    LOWBIT_UNROLL
    for (int j = 0; j < 4; ++j) {
        __m256i r[2];
        unpack_pair<S::bits>(w + j * 8 * S::bits, r[0], r[1]);
        if constexpr (zero_in_bytes<S>()) {
            const __m256i zb = _mm256_set1_epi8(static_cast<char>(1 << (S::bits - 1)));
            r[0] = _mm256_sub_epi8(r[0], zb);
            r[1] = _mm256_sub_epi8(r[1], zb);
        }
        const __m256 qsv = _mm256_loadu_ps(qs + 8 * j);
        __m256 qzv = _mm256_setzero_ps();
        if constexpr (!zero_in_bytes<S>()) qzv = _mm256_loadu_ps(qz + 8 * j);
        const std::uint8_t* at = qm.at.data() + pair_offset(j);
        __m256 e[4], o[4];  // arranged offsets 0, 8, 64, 72 (block 2j) and 16, 24, 80, 88 (block 2j+1)
        LOWBIT_UNROLL
        for (int k = 0; k < 2; ++k) {
            const __m128i lo = _mm256_castsi256_si128(r[k]), hi = _mm256_extracti128_si256(r[k], 1);
            e[2 * k] = dequant8<S>(lo, at + 64 * k, qsv, qzv);
            e[2 * k + 1] = dequant8<S>(_mm_srli_si128(lo, 8), at + 64 * k + 8, qsv, qzv);
            o[2 * k] = dequant8<S>(hi, at + 64 * k + 16, qsv, qzv);
            o[2 * k + 1] = dequant8<S>(_mm_srli_si128(hi, 8), at + 64 * k + 24, qsv, qzv);
        }
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) {
            const float* xp = x[m] + pair_offset(j);
            __m256 pe = _mm256_mul_ps(e[0], _mm256_loadu_ps(xp));
            __m256 po = _mm256_mul_ps(o[0], _mm256_loadu_ps(xp + 16));
            pe = _mm256_fmadd_ps(e[1], _mm256_loadu_ps(xp + 8), pe);
            po = _mm256_fmadd_ps(o[1], _mm256_loadu_ps(xp + 24), po);
            pe = _mm256_fmadd_ps(e[2], _mm256_loadu_ps(xp + 64), pe);
            po = _mm256_fmadd_ps(o[2], _mm256_loadu_ps(xp + 80), po);
            pe = _mm256_fmadd_ps(e[3], _mm256_loadu_ps(xp + 72), pe);
            po = _mm256_fmadd_ps(o[3], _mm256_loadu_ps(xp + 88), po);
            acc[m] = _mm256_add_ps(acc[m], _mm256_add_ps(pe, po));
        }
    }
}
#endif

// ---- scales and zeros of the 8 blocks of super-chunk sc of row r --------------------
// k: the scales' type, kdetail::scale_kind(w) (a constant unless the scheme's
// codec is scale_any: then one branch per call, the same one every time).
template <class S>
LOWBIT_TGT_INLINE float scale_at(const qmatrix_view<S>& w, scale_type k, std::size_t i) {
    const void* p = w.scales;
    if (k == scale_type::f16) return _cvtsh_ss(static_cast<const std::uint16_t*>(p)[i]);
    if (k == scale_type::bf16) return bf16_to_f32(static_cast<const std::uint16_t*>(p)[i]);
    return static_cast<const float*>(p)[i];
}
template <class S>
LOWBIT_TGT_INLINE __m256 scales8(const qmatrix_view<S>& w, scale_type k, std::size_t i) {  // 8 consecutive scales
    const void* p = w.scales;
    if (k == scale_type::f16)
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const std::uint16_t*>(p) + i)));
    if (k == scale_type::bf16)
        return _mm256_castsi256_ps(_mm256_slli_epi32(
            _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const std::uint16_t*>(p) + i))), 16));
    return _mm256_loadu_ps(static_cast<const float*>(p) + i);
}
// Where a row's scales are: computed once per call and row, not per super-chunk
// (groups_per_row() divides).
struct row_scales {
    std::size_t gpr = 0, bpg = 0;  // groups per row, 32-blocks per group (0: one scale per row)
    int shift = -1;                // log2(bpg) when bpg is a power of two
    std::size_t base = 0;          // index of the row's first scale
    scale_type kind = scale_type::f32;  // the scales' type
};
template <class S>
LOWBIT_TGT_INLINE row_scales row_scales_of(const qmatrix_view<S>& w) {
    row_scales rs;
    rs.gpr = w.groups_per_row();
    // a group spanning the whole row is one scale per row, like per-channel
    rs.bpg = S::gran == granularity::per_group && static_cast<std::size_t>(w.group) < w.cols
                 ? static_cast<std::size_t>(w.group) / kdetail::block
                 : 0;
    for (int k = 0; k < 40; ++k)
        if (rs.bpg == (std::size_t{1} << k)) rs.shift = k;
    rs.kind = kdetail::scale_kind(w);
    return rs;
}
template <class S>
LOWBIT_TGT_INLINE float zero_at(const qmatrix_view<S>& w, std::size_t i) {
    if constexpr (S::is_symmetric) {
        (void)w;
        (void)i;
        return symmetric_zero(S::bits);
    } else {
        return static_cast<float>(w.zeros[i]);
    }
}
// Scales and zeros of the 8 blocks starting at block b0 of a row (blocks >= nb: 0).
template <class S>
LOWBIT_TGT_INLINE void scale_zero8(const qmatrix_view<S>& w, const row_scales& rs, std::size_t b0, std::size_t nb,
                                   bool full, __m256& s, __m256& z) {
    if (rs.bpg == 0 && full) {
        s = _mm256_set1_ps(scale_at(w, rs.kind, rs.base));
        z = _mm256_set1_ps(zero_at(w, rs.base));
        return;
    }
    if (full && rs.bpg == 1) {
        const std::size_t i = rs.base + b0;
        s = scales8(w, rs.kind, i);
        if constexpr (S::is_symmetric) z = _mm256_set1_ps(symmetric_zero(S::bits));
        else z = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(w.zeros + i))));
        return;
    }
    if (full && rs.bpg % 8 == 0) {
        const std::size_t i = rs.base + b0 / rs.bpg;
        s = _mm256_set1_ps(scale_at(w, rs.kind, i));
        z = _mm256_set1_ps(zero_at(w, i));
        return;
    }
    if (full && (rs.bpg == 2 || rs.bpg == 4)) {  // g64, g128: 4 or 2 scales, built in registers
        const std::size_t i = rs.base + (b0 >> rs.shift);
        if (rs.bpg == 4) {
            s = _mm256_set_m128(_mm_set1_ps(scale_at(w, rs.kind, i + 1)), _mm_set1_ps(scale_at(w, rs.kind, i)));
            z = _mm256_set_m128(_mm_set1_ps(zero_at(w, i + 1)), _mm_set1_ps(zero_at(w, i)));
        } else {
            const float s0 = scale_at(w, rs.kind, i), s1 = scale_at(w, rs.kind, i + 1);
            const float s2 = scale_at(w, rs.kind, i + 2), s3 = scale_at(w, rs.kind, i + 3);
            const float z0 = zero_at(w, i), z1 = zero_at(w, i + 1), z2 = zero_at(w, i + 2), z3 = zero_at(w, i + 3);
            s = _mm256_setr_ps(s0, s0, s1, s1, s2, s2, s3, s3);
            z = _mm256_setr_ps(z0, z0, z1, z1, z2, z2, z3, z3);
        }
        return;
    }
    // Other group sizes (g96, g160, ...) and the tail: per block, no division per block.
    alignas(32) float sv[8], zv[8];
    std::size_t g = 0, in_group = 0;
    if (rs.bpg) {
        g = rs.shift >= 0 ? b0 >> rs.shift : b0 / rs.bpg;
        in_group = b0 - g * rs.bpg;
    }
    LOWBIT_UNROLL
    for (std::size_t k = 0; k < 8; ++k) {
        const std::size_t b = b0 + k, i = rs.base + g;
        sv[k] = b < nb ? scale_at(w, rs.kind, i) : 0.0f;
        zv[k] = b < nb ? zero_at(w, i) : 0.0f;
        if (rs.bpg && ++in_group == rs.bpg) {
            ++g;
            in_group = 0;
        }
    }
    s = _mm256_load_ps(sv);
    z = _mm256_load_ps(zv);
}

// The 32 quarter scales and zeros of super-chunk sc of row r (small groups).
// Groups of 16 over a whole super-chunk: 16 scales loaded and each doubled in registers.
template <class S>
LOWBIT_TGT_INLINE void quarter_scales(const qmatrix_view<S>& w, std::size_t r, std::size_t sc, float* qs, float* qz) {
    if (w.group != 16 || (sc + 1) * kdetail::chunk > w.cols) {
        kdetail::quarter_scales(w, r, sc, kdetail::decode_scale<S>{w}, qs, qz);
        return;
    }
    const std::size_t i = w.scale_index(r, sc * 16);
    const scale_type k = kdetail::scale_kind(w);
    LOWBIT_UNROLL
    for (int h = 0; h < 2; ++h) {
        const __m256 a = scales8(w, k, i + 8 * h);
        const __m256 lo = _mm256_unpacklo_ps(a, a), hi = _mm256_unpackhi_ps(a, a);  // a0 a0 a1 a1 | a4 a4 a5 a5 ; a2 ..
        _mm256_storeu_ps(qs + 16 * h, _mm256_permute2f128_ps(lo, hi, 0x20));
        _mm256_storeu_ps(qs + 16 * h + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
        __m256 z;
        if constexpr (S::is_symmetric) z = _mm256_set1_ps(symmetric_zero(S::bits));
        else z = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(w.zeros + i + 8 * h))));
        const __m256 zlo = _mm256_unpacklo_ps(z, z), zhi = _mm256_unpackhi_ps(z, z);
        _mm256_storeu_ps(qz + 16 * h, _mm256_permute2f128_ps(zlo, zhi, 0x20));
        _mm256_storeu_ps(qz + 16 * h + 8, _mm256_permute2f128_ps(zlo, zhi, 0x31));
    }
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

// Small: the small-group chunks (blocks.hpp), a copy of the driver of its own so
// that the other groups' loop is exactly what it was.
template <class S, int MB, bool Small>
LOWBIT_TGT inline void i8_rows_mb(const qmatrix_view<S>& w, std::size_t r0, std::size_t r1, const kdetail::act_i8* a,
                                  const kdetail::act_geometry& g, float* out, std::size_t ld) {
    constexpr int B = S::bits;
    const std::size_t row_len = packed_bytes(g.K, B), cb = 32 * B, nsc = g.nsc, nb = g.nb;
    alignas(32) std::uint8_t tmp[32 * 8 + 16];
    row_scales rs = row_scales_of(w);
    const std::int8_t* xq[MB];
    const float* dxl[MB];
    const std::int32_t* zqs[MB];
    LOWBIT_UNROLL
    for (int m = 0; m < MB; ++m) {
        xq[m] = a[m].q;
        dxl[m] = a[m].dxl;
        zqs[m] = a[m].zq;
    }
    for (std::size_t r = r0; r < r1; ++r) {
        const std::uint8_t* row = w.row(r);
        rs.base = w.scale_index(r, 0);
        i8acc acc[MB];
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) i8acc_zero(acc[m]);
        for (std::size_t sc = 0; sc < nsc; ++sc) {
            const std::size_t off = sc * cb;
            const bool full = off + cb + unpack_slack<B>() <= row_len;
            const std::uint8_t* wp = row + off;
            if (!full) {
                std::memset(tmp, 0, sizeof tmp);
                std::memcpy(tmp, wp, (row_len - off < cb ? row_len - off : cb));
                wp = tmp;
            }
            __m256 s, z;
            if constexpr (!Small) scale_zero8(w, rs, sc * 8, nb, off + cb <= row_len, s, z);
            const std::int8_t* xp[MB];
            const float* lp[MB];
            const std::int32_t* zp[MB];
            LOWBIT_UNROLL
            for (int m = 0; m < MB; ++m) {
                xp[m] = xq[m] + sc * kdetail::chunk;
                lp[m] = dxl[m] + sc * 32;
                zp[m] = zqs[m] + sc * 32;
            }
            if constexpr (Small) {
                alignas(32) float qs[32], qz[32];
                quarter_scales(w, r, sc, qs, qz);
                i8_chunk_small<S, MB>(wp, xp, lp, zp, qs, qz, acc);
            } else {
                i8_chunk<S, MB>(wp, xp, lp, zp, s, z, acc);
            }
        }
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) out[static_cast<std::size_t>(m) * ld + r] = reduce8(i8acc_fold(acc[m]));
    }
}

template <class S, int MB, bool Small>
LOWBIT_TGT inline void f32_rows_mb(const qmatrix_view<S>& w, std::size_t r0, std::size_t r1, const kdetail::act_f32* a,
                                   const kdetail::act_geometry& g, float* out, std::size_t ld) {
    constexpr int B = S::bits;
    const std::size_t row_len = packed_bytes(g.K, B), cb = 32 * B;
    alignas(32) std::uint8_t tmp[32 * 8 + 16];
    row_scales rs = row_scales_of(w);
    for (std::size_t r = r0; r < r1; ++r) {
        const std::uint8_t* row = w.row(r);
        rs.base = w.scale_index(r, 0);
        facc acc[MB];
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) acc[m] = facc_zero();
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
            LOWBIT_UNROLL
            for (int m = 0; m < MB; ++m) xp[m] = a[m].x + sc * kdetail::chunk;
            if constexpr (Small) {
                alignas(32) float qs[32], qz[32];
                quarter_scales(w, r, sc, qs, qz);
                f32_chunk_small<S, MB>(wp, xp, qs, qz, acc);
                continue;
            }
            __m256 s, z;
            scale_zero8(w, rs, sc * 8, g.nb, off + cb <= row_len, s, z);
            alignas(32) float sv[8], zv[8];
            _mm256_store_ps(sv, s);
            _mm256_store_ps(zv, z);
            f32_chunk<S, MB>(wp, xp, zv, sv, acc);
        }
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) out[static_cast<std::size_t>(m) * ld + r] = facc_sum(acc[m]);
    }
}

// All activation rows [0, M) for weight rows [r0, r1).
template <class S>
LOWBIT_TGT inline void i8_rows(const qmatrix_view<S>& w, std::size_t r0, std::size_t r1, const kdetail::act_i8* a,
                               std::size_t M, const kdetail::act_geometry& g, float* out, std::size_t ld) {
    std::size_t m = 0;
    if (kdetail::small_groups(w)) {
        for (; m + 4 <= M; m += 4) i8_rows_mb<S, 4, true>(w, r0, r1, a + m, g, out + m * ld, ld);
        for (; m < M; ++m) i8_rows_mb<S, 1, true>(w, r0, r1, a + m, g, out + m * ld, ld);
        return;
    }
    for (; m + 4 <= M; m += 4) i8_rows_mb<S, 4, false>(w, r0, r1, a + m, g, out + m * ld, ld);
    for (; m < M; ++m) i8_rows_mb<S, 1, false>(w, r0, r1, a + m, g, out + m * ld, ld);
}
template <class S>
LOWBIT_TGT inline void f32_rows(const qmatrix_view<S>& w, std::size_t r0, std::size_t r1, const kdetail::act_f32* a,
                                std::size_t M, const kdetail::act_geometry& g, float* out, std::size_t ld) {
    std::size_t m = 0;
    constexpr int mb = 4;  // measured: faster than 2 rows on AVX2 and than 8 on AVX-512 (docs/kernels.md)
    if (kdetail::small_groups(w)) {
        for (; m + mb <= M; m += mb) f32_rows_mb<S, mb, true>(w, r0, r1, a + m, g, out + m * ld, ld);
        for (; m < M; ++m) f32_rows_mb<S, 1, true>(w, r0, r1, a + m, g, out + m * ld, ld);
        return;
    }
    for (; m + mb <= M; m += mb) f32_rows_mb<S, mb, false>(w, r0, r1, a + m, g, out + m * ld, ld);
    for (; m < M; ++m) f32_rows_mb<S, 1, false>(w, r0, r1, a + m, g, out + m * ld, ld);
}

#undef LOWBIT_TGT_INLINE

}  // namespace LOWBIT_X86_NS
