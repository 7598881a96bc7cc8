// lowbit/kernels/detail/x86/tiled_kquant_body.inl — the x86 int8 kernels of
// tiled K-quant weights (layout::tiled_kquant), stamped per instruction set by
// x86/kernels.hpp after tiled_body.inl, whose helpers (tl::quad, tl::dot, the
// vector wrappers) they reuse: the codes are unpacked and dotted exactly as
// the tiled layout's, only the per-block float step differs. Math and float
// order: detail/tiled_kquant_blocks.hpp (kq_tile_scalar).
//
// No include guard on purpose.

namespace LOWBIT_X86_NS {
namespace tl {

#define LOWBIT_TGT_INLINE LOWBIT_TGT __attribute__((always_inline)) inline

#if LOWBIT_X86_ZMM
// The unit's bytes (16 rows) as int32 lanes, unsigned or signed; f16 as float.
LOWBIT_TGT_INLINE vi kq_u8(const std::uint8_t* p) { return _mm512_maskz_cvtepu8_epi32(0xffff, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
LOWBIT_TGT_INLINE vi kq_s8(const std::uint8_t* p) { return _mm512_maskz_cvtepi8_epi32(0xffff, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
LOWBIT_TGT_INLINE vf kq_f16(const std::uint16_t* p) {
    return _mm512_maskz_cvtph_ps(0xffff, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
LOWBIT_TGT_INLINE vf fmsub(vf a, vf b, vf c) { return _mm512_fmsub_ps(a, b, c); }
#else
LOWBIT_TGT_INLINE vi kq_u8(const std::uint8_t* p) { return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))); }
LOWBIT_TGT_INLINE vi kq_s8(const std::uint8_t* p) { return _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))); }
LOWBIT_TGT_INLINE vf kq_f16(const std::uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
LOWBIT_TGT_INLINE vf fmsub(vf a, vf b, vf c) { return _mm256_fmsub_ps(a, b, c); }
#endif

// Quad J of NU units into the half-block sums A[.][.][J / 4] of MB rows.
template <int B, int MB, int NU, int J>
LOWBIT_TGT_INLINE void kq_quad_step(const std::uint8_t* const* p, const std::int32_t* const* xq, vi (&A)[NU][MB][2]) {
    vi v[NU];
    LOWBIT_UNROLL
    for (int k = 0; k < NU; ++k) v[k] = quad<B, J>(p[k]);
    LOWBIT_UNROLL
    for (int m = 0; m < MB; ++m) {
        const vi x = set1_32(xq[m][J]);
        LOWBIT_UNROLL
        for (int k = 0; k < NU; ++k) A[k][m][J / 4] = dot<B>(A[k][m][J / 4], v[k], x);
    }
}

// Units u0 .. u0 + NU - 1 (a unit: the rows of one vector, see tiled_body.inl)
// against MB activation rows. Two integer sums per unit and row, one per
// 16-column half: Q6_K scales the halves apart, and for Q4_K / Q5_K they are
// two independent chains (added before the float step).
template <int B, int MB, int NU>
LOWBIT_TGT inline void kq_units(const kdetail::kq_view& w, std::size_t u0, const kdetail::tact_i8* a, float* out, std::size_t ld) {
    std::size_t t[NU], h[NU];
    LOWBIT_UNROLL
    for (int k = 0; k < NU; ++k) {
        t[k] = (u0 + static_cast<std::size_t>(k)) / halves;
        h[k] = (u0 + static_cast<std::size_t>(k)) % halves;
    }
    vf acc[NU][MB];
    LOWBIT_UNROLL
    for (int k = 0; k < NU; ++k)
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) acc[k][m] = zero_f();
    vf d[NU], dmin[NU];  // (set at b = 0; zeroed first: GCC 12 warns -Wmaybe-uninitialized otherwise)
    LOWBIT_UNROLL
    for (int k = 0; k < NU; ++k) d[k] = dmin[k] = zero_f();
    for (std::size_t b = 0; b < w.blocks; ++b) {
        if (b % kquant_blocks_per_super == 0) {
            const std::size_t s = b / kquant_blocks_per_super;
            LOWBIT_UNROLL
            for (int k = 0; k < NU; ++k) {
                d[k] = kq_f16(w.scale_at(t[k], s, 0) + h[k] * lanes);
                if constexpr (B != 6) dmin[k] = kq_f16(w.scale_at(t[k], s, 1) + h[k] * lanes);
            }
        }
        const std::uint8_t* p[NU];
        LOWBIT_UNROLL
        for (int k = 0; k < NU; ++k) p[k] = w.block(t[k], b, B) + h[k] * half_bytes;
        // Prefetch as the tiled int8 kernel does (4 KiB ahead in each unit's stream).
        if (h[0] == 0)
            LOWBIT_UNROLL
            for (int k = 0; k < NU; ++k)
                LOWBIT_UNROLL
                for (int l = 0; l < B; ++l) _mm_prefetch(reinterpret_cast<const char*>(p[k] + prefetch_bytes + 64 * l), _MM_HINT_T0);
        const std::int32_t* xq[MB];
        vi A[NU][MB][2];
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) {
            xq[m] = reinterpret_cast<const std::int32_t*>(a[m].q + b * tile_block);
            LOWBIT_UNROLL
            for (int e = 0; e < 2; ++e) {
                // Q6_K: each half's sum starts from -32 Q_e (its codes are u - 32)
                const vi start = B == 6 ? set1_32(-32 * a[m].zq[2 * b + e]) : zero_i();
                LOWBIT_UNROLL
                for (int k = 0; k < NU; ++k) A[k][m][e] = start;
            }
        }
        kq_quad_step<B, MB, NU, 0>(p, xq, A);
        kq_quad_step<B, MB, NU, 1>(p, xq, A);
        kq_quad_step<B, MB, NU, 2>(p, xq, A);
        kq_quad_step<B, MB, NU, 3>(p, xq, A);
        kq_quad_step<B, MB, NU, 4>(p, xq, A);
        kq_quad_step<B, MB, NU, 5>(p, xq, A);
        kq_quad_step<B, MB, NU, 6>(p, xq, A);
        kq_quad_step<B, MB, NU, 7>(p, xq, A);
        if constexpr (B == 6) {
            vi s0[NU], s1[NU];
            LOWBIT_UNROLL
            for (int k = 0; k < NU; ++k) {
                s0[k] = kq_s8(w.sub_at(t[k], b, 0) + h[k] * lanes);
                s1[k] = kq_s8(w.sub_at(t[k], b, 1) + h[k] * lanes);
            }
            LOWBIT_UNROLL
            for (int m = 0; m < MB; ++m) {
                const vf dx = set1_f(a[m].dx[b]);
                LOWBIT_UNROLL
                for (int k = 0; k < NU; ++k) {
                    const vi I = add32(mul32(s0[k], A[k][m][0]), mul32(s1[k], A[k][m][1]));
                    acc[k][m] = fma(cvt(I), mul(d[k], dx), acc[k][m]);
                }
            }
        } else {
            vf Ds[NU], Dm[NU];
            LOWBIT_UNROLL
            for (int k = 0; k < NU; ++k) {
                Ds[k] = mul(d[k], cvt(kq_u8(w.sub_at(t[k], b, 0) + h[k] * lanes)));
                Dm[k] = mul(dmin[k], cvt(kq_u8(w.sub_at(t[k], b, 1) + h[k] * lanes)));
            }
            LOWBIT_UNROLL
            for (int m = 0; m < MB; ++m) {
                const vf dx = set1_f(a[m].dx[b]);
                const vf Q = set1_f(static_cast<float>(a[m].zq[2 * b] + a[m].zq[2 * b + 1]));
                LOWBIT_UNROLL
                for (int k = 0; k < NU; ++k) {
                    const vf v = fmsub(Ds[k], cvt(add32(A[k][m][0], A[k][m][1])), mul(Dm[k], Q));
                    acc[k][m] = fma(v, dx, acc[k][m]);
                }
            }
        }
    }
    LOWBIT_UNROLL
    for (int k = 0; k < NU; ++k) {
        const std::size_t r = t[k] * tile_rows + h[k] * lanes;
        if (r >= w.rows) continue;
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) store_n(out + static_cast<std::size_t>(m) * ld + r, acc[k][m], w.rows - r);
    }
}
template <int B, int MB>
LOWBIT_TGT inline void kq_units_mb(const kdetail::kq_view& w, std::size_t u0, std::size_t u1, const kdetail::tact_i8* a, float* out,
                                   std::size_t ld) {
    std::size_t u = u0;
    for (; u + 2 <= u1; u += 2) kq_units<B, MB, 2>(w, u, a, out, ld);
    if (u < u1) kq_units<B, MB, 1>(w, u, a, out, ld);
}

#undef LOWBIT_TGT_INLINE

}  // namespace tl

// All activation rows [0, M) for tiles [t0, t1), MB rows at a time (as
// ti8_tiles: the rows' activations stay in L1 while the tiles stream).
template <int B>
LOWBIT_TGT inline void kq_tiles(const kdetail::kq_view& w, std::size_t t0, std::size_t t1, const kdetail::tact_i8* a, std::size_t M,
                                float* out, std::size_t ld) {
    // 32 zmm: 2 units x 4 rows x 2 half sums + 8 accumulators; 16 ymm: 2 x 1 x 2 + 2.
    constexpr int mb = LOWBIT_X86_ZMM ? 4 : 1;
    const std::size_t u0 = t0 * tl::halves, u1 = t1 * tl::halves;
    std::size_t m = 0;
    for (; m + mb <= M; m += mb) tl::kq_units_mb<B, mb>(w, u0, u1, a + m, out + m * ld, ld);
    if constexpr (mb > 2)
        for (; m + 2 <= M; m += 2) tl::kq_units_mb<B, 2>(w, u0, u1, a + m, out + m * ld, ld);
    for (; m < M; ++m) tl::kq_units_mb<B, 1>(w, u0, u1, a + m, out + m * ld, ld);
}

}  // namespace LOWBIT_X86_NS
