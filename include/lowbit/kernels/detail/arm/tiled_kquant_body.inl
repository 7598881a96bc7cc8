// lowbit/kernels/detail/arm/tiled_kquant_body.inl — the AArch64 int8 kernels
// of tiled K-quant weights (layout::tiled_kquant), stamped per copy (neon,
// neondot) by arm/kernels.hpp after tiled_body.inl, whose unpack (tl::quad),
// integer dot (tl::dot_pair, tl::finish) and store (tl::store_n) they reuse:
// the codes are unpacked and dotted exactly as the tiled layout's (4-, 5- and
// 6-bit codes are at most 63, valid signed bytes as they are), only the float
// step per block differs. Math and float order: detail/tiled_kquant_blocks.hpp
// (kq_tile_scalar); every function here equals it bit for bit.
//
// A unit is 4 rows, one per int32 / float lane (tiled_body.inl). Per block,
// unit and activation row:
//   Q4_K / Q5_K: the 8 quads summed as the tiled body sums them (one A), then
//     v = fma(Ds, float(A), -(Dm * float(Q0 + Q1))), acc = fma(v, dx_b, acc),
//     Ds = d * float(sc) and Dm = dmin * float(m) once per block and unit;
//   Q6_K: the two 16-column halves' sums A0 (quads 0-3) and A1 (quads 4-7)
//     apart, I = sc0 (A0 - 32 Q0) + sc1 (A1 - 32 Q1) in int32 (exact),
//     acc = fma(float(I), d * dx_b, acc).
// -(Dm * Q) is a multiply then a negation (vnegq), as the model's expression,
// so even a NaN's sign bit matches it.
//
// No include guard on purpose.

namespace LOWBIT_ARM_NS {
namespace tl {

#define LOWBIT_ARM_INLINE LOWBIT_ARM_TGT __attribute__((always_inline)) inline

// The bytes of rows 4h0 .. 4h0 + 4 NU - 1 of a per-row byte field (p: its row
// 4h0) as int32 lanes, one vector per unit (NU = 2 or 4: the register blocks
// are whole and half tiles); Signed: the bytes are int8.
template <int NU, bool Signed>
LOWBIT_ARM_INLINE void kq_bytes(const std::uint8_t* p, int32x4_t (&v)[NU]) {
    static_assert(NU % 2 == 0, "units come in pairs");
    LOWBIT_UNROLL
    for (int j = 0; j < NU / 2; ++j) {  // 8 bytes: two units
        const uint8x8_t b = vld1_u8(p + 8 * j);
        if constexpr (Signed) {
            const int16x8_t h = vmovl_s8(vreinterpret_s8_u8(b));
            v[2 * j] = vmovl_s16(vget_low_s16(h));
            v[2 * j + 1] = vmovl_high_s16(h);
        } else {
            const uint16x8_t h = vmovl_u8(b);
            v[2 * j] = vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(h)));
            v[2 * j + 1] = vreinterpretq_s32_u32(vmovl_high_u16(h));
        }
    }
}
// f16 fields of 4 rows as floats (FCVTL: exact, as f16_to_f32).
LOWBIT_ARM_INLINE float32x4_t kq_f16(const std::uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }

// Quads J and J + 1 (J even) of NU units into the chain pairs c of MB rows
// (x: the rows' 32 activation bytes as two registers), unit by unit.
template <int B, int MB, int NU, int J>
LOWBIT_ARM_INLINE void kq_quad_pair(const std::uint8_t* p, const int8x16_t (*x)[2], int32x4_t (&c)[NU][MB][2]) {
    LOWBIT_UNROLL
    for (int k = 0; k < NU; ++k) {
        const int8x16_t w0 = dot_bytes<B>(quad<B, J>(p + unit_bytes * static_cast<std::size_t>(k)));
        const int8x16_t w1 = dot_bytes<B>(quad<B, J + 1>(p + unit_bytes * static_cast<std::size_t>(k)));
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) dot_pair<J>(c[k][m][0], c[k][m][1], w0, w1, x[m][J / 4]);
    }
}

// Units [h0, h0 + NU) of tile t against MB activation rows.
template <int B, int MB, int NU>
LOWBIT_ARM_TGT inline void kq_units(const kdetail::kq_view& w, std::size_t t, std::size_t h0, const kdetail::tact_i8* a, float* out,
                                    std::size_t ld) {
    float32x4_t acc[NU][MB], d[NU], dmin[NU];
    LOWBIT_UNROLL
    for (int k = 0; k < NU; ++k) {
        d[k] = dmin[k] = vdupq_n_f32(0.0f);  // (set at b = 0)
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) acc[k][m] = vdupq_n_f32(0.0f);
    }
    const std::size_t r4 = h0 * unit_rows;  // the units' first row in the tile
    for (std::size_t b = 0; b < w.blocks; ++b) {
        if (b % kquant_blocks_per_super == 0) {
            const std::size_t s = b / kquant_blocks_per_super;
            LOWBIT_UNROLL
            for (int k = 0; k < NU; ++k) {
                d[k] = kq_f16(w.scale_at(t, s, 0) + r4 + unit_rows * static_cast<std::size_t>(k));
                if constexpr (B != 6) dmin[k] = kq_f16(w.scale_at(t, s, 1) + r4 + unit_rows * static_cast<std::size_t>(k));
            }
        }
        const std::uint8_t* p = w.block(t, b, B) + h0 * unit_bytes;
        int8x16_t x[MB][2];
        int32x4_t c[NU][MB][2], A[NU][MB];
        [[maybe_unused]] int32x4_t A0[NU][MB];  // Q6_K's first half
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) {
            x[m][0] = vld1q_s8(a[m].q + b * tile_block);
            x[m][1] = vld1q_s8(a[m].q + b * tile_block + 16);
            LOWBIT_UNROLL
            for (int k = 0; k < NU; ++k) c[k][m][0] = c[k][m][1] = vdupq_n_s32(0);
        }
        kq_quad_pair<B, MB, NU, 0>(p, x, c);
        kq_quad_pair<B, MB, NU, 2>(p, x, c);
        if constexpr (B == 6) {  // the first half's sums apart: Q6_K scales the halves apart
            LOWBIT_UNROLL
            for (int k = 0; k < NU; ++k)
                LOWBIT_UNROLL
                for (int m = 0; m < MB; ++m) {
                    A0[k][m] = finish(c[k][m][0], c[k][m][1]);
                    c[k][m][0] = c[k][m][1] = vdupq_n_s32(0);
                }
        }
        kq_quad_pair<B, MB, NU, 4>(p, x, c);
        kq_quad_pair<B, MB, NU, 6>(p, x, c);
        LOWBIT_UNROLL
        for (int k = 0; k < NU; ++k)
            LOWBIT_UNROLL
            for (int m = 0; m < MB; ++m) A[k][m] = finish(c[k][m][0], c[k][m][1]);  // Q6_K: A1; else the whole block
        if constexpr (B == 6) {
            int32x4_t s0[NU], s1[NU];
            kq_bytes<NU, true>(w.sub_at(t, b, 0) + r4, s0);
            kq_bytes<NU, true>(w.sub_at(t, b, 1) + r4, s1);
            LOWBIT_UNROLL
            for (int m = 0; m < MB; ++m) {
                const float dx = a[m].dx[b];
                const int32x4_t z0 = vdupq_n_s32(32 * a[m].zq[2 * b]), z1 = vdupq_n_s32(32 * a[m].zq[2 * b + 1]);
                LOWBIT_UNROLL
                for (int k = 0; k < NU; ++k) {
                    const int32x4_t I = vmlaq_s32(vmulq_s32(s0[k], vsubq_s32(A0[k][m], z0)), s1[k], vsubq_s32(A[k][m], z1));
                    acc[k][m] = vfmaq_f32(acc[k][m], vcvtq_f32_s32(I), vmulq_n_f32(d[k], dx));
                }
            }
        } else {
            int32x4_t sc[NU], mn[NU];
            kq_bytes<NU, false>(w.sub_at(t, b, 0) + r4, sc);
            kq_bytes<NU, false>(w.sub_at(t, b, 1) + r4, mn);
            float32x4_t Ds[NU], Dm[NU];
            LOWBIT_UNROLL
            for (int k = 0; k < NU; ++k) {
                Ds[k] = vmulq_f32(d[k], vcvtq_f32_s32(sc[k]));
                Dm[k] = vmulq_f32(dmin[k], vcvtq_f32_s32(mn[k]));
            }
            LOWBIT_UNROLL
            for (int m = 0; m < MB; ++m) {
                const float dx = a[m].dx[b];
                const float Q = static_cast<float>(a[m].zq[2 * b] + a[m].zq[2 * b + 1]);
                LOWBIT_UNROLL
                for (int k = 0; k < NU; ++k) {
                    const float32x4_t v = vfmaq_f32(vnegq_f32(vmulq_n_f32(Dm[k], Q)), Ds[k], vcvtq_f32_s32(A[k][m]));
                    acc[k][m] = vfmaq_n_f32(acc[k][m], v, dx);
                }
            }
        }
    }
    LOWBIT_UNROLL
    for (int k = 0; k < NU; ++k) {
        const std::size_t row = t * tile_rows + r4 + unit_rows * static_cast<std::size_t>(k);
        if (row >= w.rows) break;
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) store_n(out + static_cast<std::size_t>(m) * ld + row, acc[k][m], w.rows - row);
    }
}
// Tiles [t0, t1) against MB activation rows, NU units at a time (units wholly
// in the last tile's padding are skipped).
template <int B, int MB, int NU>
LOWBIT_ARM_TGT inline void kq_tiles_mb(const kdetail::kq_view& w, std::size_t t0, std::size_t t1, const kdetail::tact_i8* a,
                                       float* out, std::size_t ld) {
    for (std::size_t t = t0; t < t1; ++t)
        for (std::size_t h = 0; h < units && t * tile_rows + h * unit_rows < w.rows; h += NU) kq_units<B, MB, NU>(w, t, h, a, out, ld);
}

#undef LOWBIT_ARM_INLINE

}  // namespace tl

// All activation rows [0, M) for tiles [t0, t1): pairs of activation rows on
// half tiles (2 units), then single rows on whole tiles (4 units), as
// ti8_tiles (the chains, the accumulators and d, dmin of every unit: about 24
// of the 32 vector registers). Single rows of 5- and 6-bit codes without sdot
// run half tiles too: with 4 units GCC -O2 loaded their 5 or 6 code planes
// (20 or 24 vectors) early and spilled them (24-32 stores a block); on half
// tiles the loop has 0-1 stores and a GEMV executes 8 % fewer instructions
// (docs/kernels.md, "The tiled K-quant layout on ARM").
template <int B>
LOWBIT_ARM_TGT inline void kq_tiles(const kdetail::kq_view& w, std::size_t t0, std::size_t t1, const kdetail::tact_i8* a, std::size_t M,
                                    float* out, std::size_t ld) {
    tiled_runs().kq.fetch_add(1, std::memory_order_relaxed);
    constexpr int gemv_units = LOWBIT_ARM_DOT || B == 4 ? 4 : 2;
    std::size_t m = 0;
    for (; m + 2 <= M; m += 2) tl::kq_tiles_mb<B, 2, 2>(w, t0, t1, a + m, out + m * ld, ld);
    for (; m < M; ++m) tl::kq_tiles_mb<B, 1, gemv_units>(w, t0, t1, a + m, out + m * ld, ld);
}

}  // namespace LOWBIT_ARM_NS
