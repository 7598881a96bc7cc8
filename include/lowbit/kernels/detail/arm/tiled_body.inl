// lowbit/kernels/detail/arm/tiled_body.inl — the AArch64 kernels on the tiled
// layout (pack/tiled.hpp), stamped per copy by arm/kernels.hpp with the same
// macros as body.inl (LOWBIT_ARM_NS, LOWBIT_ARM_TGT, LOWBIT_ARM_DOT). Math and
// float order: detail/tiled_blocks.hpp; every function here equals its scalar
// model (int8_tile_scalar, f32_tile_scalar, prepare_ti8) bit for bit.
//
// A 16-byte register holds bytes 16h..16h+15 of a 64-byte quad vector: the 4
// codes 4j..4j+3 of rows 4h..4h+3 of the tile, one row per int32 lane. So a
// tile is 4 "units" of 4 rows; an int32x4 holds a unit's block integers and a
// float32x4 its accumulators. Quad vector j of a unit is a shift and a mask
// per bit plane (as on x86, with byte shifts: no code crosses a byte).
//
// The integer dot of quad j with the 4 activation bytes 4j..4j+3:
//   neondot: SDOT by element (sdot v.4s, w.16b, x.4b[j % 4]) on the block's
//            32 activation bytes loaded as two registers: no broadcast;
//   neon:    the activation dword broadcast (dup by lane), SMULL/SMLAL of two
//            quads into int16 (|w| <= 128, |x| <= 127: a pair sum is at most
//            32512) and SADALP into int32 pairs; one ADDP per block joins the
//            pairs into the 4 row sums.
// The weight bytes are signed: codes u <= 127 as they are (B <= 7), u - 128
// for B = 8, which is u - z for symmetric 8-bit (the dot is then A + zq
// without reading zq) and leaves A' = dot - (z - 128) Q for asymmetric 8-bit.
// Integers are exact in any order, and the float steps are the model's: one
// conversion, s * dx (one multiply), one FMA per row and block.
//
// No include guard on purpose.

namespace LOWBIT_ARM_NS {

// How many times each tiled kernel of this copy ran (kq: the tiled K-quant
// kernels, tiled_kquant_body.inl). The kernels equal the scalar models bit for
// bit, so results cannot tell which one ran: these counters let tests prove
// that a forced arch reaches this copy.
struct tiled_run_counts {
    std::atomic<unsigned long long> i8{0}, f32{0}, prep{0}, kq{0};
};
inline tiled_run_counts& tiled_runs() noexcept {
    static tiled_run_counts c;
    return c;
}

namespace tl {

#define LOWBIT_ARM_INLINE LOWBIT_ARM_TGT __attribute__((always_inline)) inline

constexpr std::size_t unit_rows = 4;                     // rows of a unit: one int32x4
constexpr std::size_t units = tile_rows / unit_rows;     // units per tile
constexpr std::size_t unit_bytes = 4 * unit_rows;        // bytes of a quad vector per unit

// ---- unpacking ---------------------------------------------------------------------
// D > 0: right shift, D < 0: left shift (bytes).
template <int D>
LOWBIT_ARM_INLINE uint8x16_t shift8(uint8x16_t a) {
    if constexpr (D > 0) return vshrq_n_u8(a, D);
    else if constexpr (D < 0) return vshlq_n_u8(a, -D);
    else return a;
}
// Quad vector J of one unit (p: the block + the unit's byte offset), from plane K on.
template <int B, int J, int K = 0>
LOWBIT_ARM_INLINE uint8x16_t quad(const std::uint8_t* p) {
    constexpr bit_planes pl = planes_of(B);
    if constexpr (B == 8) {
        return vld1q_u8(p + 64 * J);
    } else {
        constexpr int w = pl.width[K], sh = pl.shift[K], a = J % w, t = J / w, d = t * w - sh;
        constexpr int offset = (K == 0 ? 0 : pl.width[0]) + (K == 2 ? pl.width[1] : 0);  // vectors before plane K
        uint8x16_t part = shift8<d>(vld1q_u8(p + 64 * (offset + a)));
        // (a right shift that leaves only the field's bits, at bit 0, needs no mask)
        if constexpr (!(d > 0 && sh == 0 && 8 - d == w)) part = vandq_u8(part, vdupq_n_u8(((1u << w) - 1u) << sh));
        if constexpr (K + 1 < pl.count) return vorrq_u8(part, quad<B, J, K + 1>(p));
        else return part;
    }
}

// The signed bytes that enter the dot (see the top of this file).
template <int B>
LOWBIT_ARM_INLINE int8x16_t dot_bytes(uint8x16_t u) {
    if constexpr (B == 8) return vreinterpretq_s8_u8(veorq_u8(u, vdupq_n_u8(0x80)));  // u - 128
    else return vreinterpretq_s8_u8(u);
}

// ---- the integer dot -----------------------------------------------------------------
// Quads J (even) and J + 1 of one unit into the pair (a, b); x: the activation
// bytes 16 * (J / 4) .. + 15 of the block. finish() gives the 4 row sums.
#if LOWBIT_ARM_DOT
template <int L>
LOWBIT_ARM_INLINE int32x4_t sdot_lane(int32x4_t acc, int8x16_t w, int8x16_t x) {
#if LOWBIT_ARM_DOT_ASM
    if constexpr (L == 0) __asm__("sdot %0.4s, %1.16b, %2.4b[0]" : "+w"(acc) : "w"(w), "w"(x));
    else if constexpr (L == 1) __asm__("sdot %0.4s, %1.16b, %2.4b[1]" : "+w"(acc) : "w"(w), "w"(x));
    else if constexpr (L == 2) __asm__("sdot %0.4s, %1.16b, %2.4b[2]" : "+w"(acc) : "w"(w), "w"(x));
    else __asm__("sdot %0.4s, %1.16b, %2.4b[3]" : "+w"(acc) : "w"(w), "w"(x));
    return acc;
#else
    return vdotq_laneq_s32(acc, w, x, L);
#endif
}
template <int J>
LOWBIT_ARM_INLINE void dot_pair(int32x4_t& a, int32x4_t& b, int8x16_t w0, int8x16_t w1, int8x16_t x) {
    a = sdot_lane<J % 4>(a, w0, x);  // two chains: even and odd quads
    b = sdot_lane<(J + 1) % 4>(b, w1, x);
}
LOWBIT_ARM_INLINE int32x4_t finish(int32x4_t a, int32x4_t b) { return vaddq_s32(a, b); }
#else
template <int J>
LOWBIT_ARM_INLINE void dot_pair(int32x4_t& a, int32x4_t& b, int8x16_t w0, int8x16_t w1, int8x16_t x) {
    const int32x4_t xw = vreinterpretq_s32_s8(x);
    const int8x16_t x0 = vreinterpretq_s8_s32(vdupq_laneq_s32(xw, J % 4));
    const int8x16_t x1 = vreinterpretq_s8_s32(vdupq_laneq_s32(xw, (J + 1) % 4));
    const int16x8_t lo = vmlal_s8(vmull_s8(vget_low_s8(w0), vget_low_s8(x0)), vget_low_s8(w1), vget_low_s8(x1));  // rows 0, 1
    const int16x8_t hi = vmlal_high_s8(vmull_high_s8(w0, x0), w1, x1);                                          // rows 2, 3
    a = vpadalq_s16(a, lo);  // [r0, r0, r1, r1]
    b = vpadalq_s16(b, hi);  // [r2, r2, r3, r3]
}
LOWBIT_ARM_INLINE int32x4_t finish(int32x4_t a, int32x4_t b) { return vpaddq_s32(a, b); }
#endif

// ---- scales ----------------------------------------------------------------------------
// Scale, integer zero (adjusted: z - 128 for 8-bit asymmetric) and float zero
// of rows 4h..4h+3 of tile t for group g. The conversions are exact (f16 and
// bf16 to f32 with FCVTL and a shift, as the scalar decoders): with 32-code
// groups a scalar f16 decode per row cost more instructions than the dot.
template <class S>
LOWBIT_ARM_INLINE void scale_zero(const tiled_view<S>& w, std::size_t t, std::size_t g, std::size_t h, float32x4_t& s,
                                  int32x4_t& z, float32x4_t& zf) {
    constexpr int B = S::bits;
    constexpr std::int32_t z_off = B == 8 ? 128 : 0;
    z = vdupq_n_s32(0);
    zf = vdupq_n_f32(symmetric_zero(B));
    if constexpr (S::gran == granularity::per_tensor) {
        s = vdupq_n_f32(kdetail::scale_value(w, 0));
        if constexpr (!S::is_symmetric) {
            z = vdupq_n_s32(static_cast<std::int32_t>(w.zeros[0]) - z_off);
            zf = vdupq_n_f32(static_cast<float>(w.zeros[0]));
        }
    } else {
        const std::size_t slot = w.scale_slot(t, g) + h * unit_rows;
        // the scales' type: a constant unless the codec is scale_any (one branch per tile group)
        const scale_type k = kdetail::scale_kind(w);
        const void* p = w.scales;
        if (k == scale_type::f16) s = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(static_cast<const std::uint16_t*>(p) + slot)));
        else if (k == scale_type::bf16) s = vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(static_cast<const std::uint16_t*>(p) + slot), 16));
        else s = vld1q_f32(static_cast<const float*>(p) + slot);
        if constexpr (!S::is_symmetric) {
            std::uint32_t four;
            std::memcpy(&four, w.zeros + slot, 4);
            const int32x4_t zi = vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(vmovl_u8(vreinterpret_u8_u32(vdup_n_u32(four))))));
            z = vsubq_s32(zi, vdupq_n_s32(z_off));
            zf = vcvtq_f32_s32(zi);
        }
    }
}

// Store the first n (1..4) lanes of v at p.
LOWBIT_ARM_INLINE void store_n(float* p, float32x4_t v, std::size_t n) {
    if (n >= 4) return vst1q_f32(p, v);
    float tmp[4];
    vst1q_f32(tmp, v);
    for (std::size_t i = 0; i < n; ++i) p[i] = tmp[i];
}

// ---- int8 path -------------------------------------------------------------------------
// Units [h0, h0 + NU) of tile t against MB activation rows: per quad pair, the
// NU units' quads are unpacked once and feed MB rows (register blocking);
// every (unit, row) has two independent integer chains.
template <class S, int MB, int NU>
struct i8_regs {
    int32x4_t A[NU][MB][2];
    int8x16_t x[MB][2];  // the block's 32 activation bytes per row
};
// IB > 0: the tiled codebook layout (formats/detail/tiled_codebook_entries.hpp):
// IB-bit index planes, one TBL per quad maps each index to its grid level G
// (tab: the grid as signed bytes), which is u - 128 of the symmetric 8-bit
// scheme S the rest of the kernel runs, so A' = sum G q as the model's.
template <class S, int MB, int NU, int J, int IB>
LOWBIT_ARM_INLINE void i8_quad_pair(const std::uint8_t* p, i8_regs<S, MB, NU>& r, int8x16_t tab) {
    constexpr int B = S::bits;
    int8x16_t w0[NU], w1[NU];
    LOWBIT_UNROLL
    for (int k = 0; k < NU; ++k) {
        if constexpr (IB > 0) {
            w0[k] = vqtbl1q_s8(tab, quad<IB, J>(p + unit_bytes * static_cast<std::size_t>(k)));
            w1[k] = vqtbl1q_s8(tab, quad<IB, J + 1>(p + unit_bytes * static_cast<std::size_t>(k)));
        } else {
            w0[k] = dot_bytes<B>(quad<B, J>(p + unit_bytes * static_cast<std::size_t>(k)));
            w1[k] = dot_bytes<B>(quad<B, J + 1>(p + unit_bytes * static_cast<std::size_t>(k)));
        }
    }
    LOWBIT_UNROLL
    for (int m = 0; m < MB; ++m)
        LOWBIT_UNROLL
        for (int k = 0; k < NU; ++k) dot_pair<J>(r.A[k][m][0], r.A[k][m][1], w0[k], w1[k], r.x[m][J / 4]);
}
template <class S, int MB, int NU, int IB>
LOWBIT_ARM_TGT inline void i8_units(const tiled_view<S>& w, std::size_t t, std::size_t h0, const kdetail::tact_i8* a, float* out,
                                    std::size_t ld, const std::uint8_t* tab16) {
    constexpr int B = S::bits;
    constexpr std::size_t block_bytes = 64 * static_cast<std::size_t>(IB ? IB : B);
    int8x16_t tab = vdupq_n_s8(0);
    if constexpr (IB > 0) tab = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(tab16), vdupq_n_u8(0x80)));  // G + 128 -> G
    const std::size_t bpg = w.blocks_per_group ? w.blocks_per_group : w.blocks;
    float32x4_t acc[NU][MB];
    LOWBIT_UNROLL
    for (int k = 0; k < NU; ++k)
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) acc[k][m] = vdupq_n_f32(0.0f);
    for (std::size_t g = 0, b = 0; b < w.blocks; ++g) {
        float32x4_t s[NU], zf[NU];
        int32x4_t z[NU];
        LOWBIT_UNROLL
        for (int k = 0; k < NU; ++k) scale_zero(w, t, g, h0 + static_cast<std::size_t>(k), s[k], z[k], zf[k]);
        const std::size_t b_end = b + bpg < w.blocks ? b + bpg : w.blocks;
        for (; b < b_end; ++b) {
            const std::uint8_t* p = (IB > 0 ? w.codes + (t * w.blocks + b) * block_bytes : w.block(t, b)) + h0 * unit_bytes;
            i8_regs<S, MB, NU> r;
            LOWBIT_UNROLL
            for (int m = 0; m < MB; ++m) {
                r.x[m][0] = vld1q_s8(a[m].q + b * tile_block);
                r.x[m][1] = vld1q_s8(a[m].q + b * tile_block + 16);
                LOWBIT_UNROLL
                for (int k = 0; k < NU; ++k) r.A[k][m][0] = r.A[k][m][1] = vdupq_n_s32(0);
            }
            i8_quad_pair<S, MB, NU, 0, IB>(p, r, tab);
            i8_quad_pair<S, MB, NU, 2, IB>(p, r, tab);
            i8_quad_pair<S, MB, NU, 4, IB>(p, r, tab);
            i8_quad_pair<S, MB, NU, 6, IB>(p, r, tab);
            LOWBIT_UNROLL
            for (int m = 0; m < MB; ++m) {
                const std::int32_t zq = a[m].zq[b];
                const float dx = a[m].dx[b];
                LOWBIT_UNROLL
                for (int k = 0; k < NU; ++k) {
                    int32x4_t A = finish(r.A[k][m][0], r.A[k][m][1]);
                    if constexpr (!S::is_symmetric) A = vmlsq_n_s32(A, z[k], zq);           // A - z'Q
                    else if constexpr (B == 1) A = vsubq_s32(vshlq_n_s32(A, 1), vdupq_n_s32(zq));  // 2A - Q
                    else if constexpr (B < 8) A = vaddq_s32(A, vdupq_n_s32(zq));             // A - zQ
                    acc[k][m] = vfmaq_f32(acc[k][m], vcvtq_f32_s32(A), vmulq_n_f32(s[k], dx));
                }
            }
        }
    }
    LOWBIT_UNROLL
    for (int k = 0; k < NU; ++k) {
        const std::size_t row = t * tile_rows + (h0 + static_cast<std::size_t>(k)) * unit_rows;
        if (row >= w.rows) break;
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) store_n(out + static_cast<std::size_t>(m) * ld + row, acc[k][m], w.rows - row);
    }
}
// Tiles [t0, t1) against MB activation rows, NU units at a time (units wholly
// in the last tile's padding are skipped).
template <class S, int MB, int NU, int IB>
LOWBIT_ARM_TGT inline void i8_tiles_mb(const tiled_view<S>& w, std::size_t t0, std::size_t t1, const kdetail::tact_i8* a,
                                       float* out, std::size_t ld, const std::uint8_t* tab16) {
    for (std::size_t t = t0; t < t1; ++t)
        for (std::size_t h = 0; h < units && t * tile_rows + h * unit_rows < w.rows; h += NU)
            i8_units<S, MB, NU, IB>(w, t, h, a, out, ld, tab16);
}

// ---- f32 path --------------------------------------------------------------------------
// Code byte E of every int32 lane of a unit's quad vector as floats, zero
// removed: signed bytes (symmetric B >= 2: the zero was subtracted in bytes)
// or unsigned bytes minus the float zero. Both equal float(u) - z exactly.
template <class S, int E>
LOWBIT_ARM_INLINE float32x4_t code_lane(uint32x4_t v, float32x4_t zf) {
    if constexpr (S::is_symmetric && S::bits >= 2) {
        const int32x4_t sv = vreinterpretq_s32_u32(v);
        if constexpr (E == 3) return vcvtq_f32_s32(vshrq_n_s32(sv, 24));
        else return vcvtq_f32_s32(vshrq_n_s32(vshlq_n_s32(sv, 24 - 8 * E), 24));
    } else {
        uint32x4_t u;
        if constexpr (E == 3) u = vshrq_n_u32(v, 24);
        else if constexpr (E == 0) u = vandq_u32(v, vdupq_n_u32(0xff));
        else u = vandq_u32(vshrq_n_u32(v, 8 * E), vdupq_n_u32(0xff));
        return vsubq_f32(vcvtq_f32_u32(u), zf);
    }
}
template <class S, int MB, int NU, int J>
LOWBIT_ARM_INLINE void f32_quad(const std::uint8_t* p, const float* const* x, const float32x4_t* zf, float32x4_t (*acc)[MB]) {
    constexpr int B = S::bits;
    float32x4_t xv[MB];
    LOWBIT_UNROLL
    for (int m = 0; m < MB; ++m) xv[m] = vld1q_f32(x[m] + 4 * J);
    LOWBIT_UNROLL
    for (int k = 0; k < NU; ++k) {
        uint8x16_t u = quad<B, J>(p + unit_bytes * static_cast<std::size_t>(k));
        if constexpr (S::is_symmetric && B >= 2) u = vsubq_u8(u, vdupq_n_u8(static_cast<std::uint8_t>(1u << (B - 1))));
        const uint32x4_t v = vreinterpretq_u32_u8(u);
        // the model's order: codes 4J, 4J+1, 4J+2, 4J+3, one FMA each
        const float32x4_t c0 = code_lane<S, 0>(v, zf[k]), c1 = code_lane<S, 1>(v, zf[k]);
        const float32x4_t c2 = code_lane<S, 2>(v, zf[k]), c3 = code_lane<S, 3>(v, zf[k]);
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) {
            acc[k][m] = vfmaq_laneq_f32(acc[k][m], c0, xv[m], 0);
            acc[k][m] = vfmaq_laneq_f32(acc[k][m], c1, xv[m], 1);
            acc[k][m] = vfmaq_laneq_f32(acc[k][m], c2, xv[m], 2);
            acc[k][m] = vfmaq_laneq_f32(acc[k][m], c3, xv[m], 3);
        }
    }
}
template <class S, int MB, int NU>
LOWBIT_ARM_TGT inline void f32_units(const tiled_view<S>& w, std::size_t t, std::size_t h0, const kdetail::tact_f32* a, float* out,
                                     std::size_t ld) {
    const std::size_t bpg = w.blocks_per_group ? w.blocks_per_group : w.blocks;
    float32x4_t acc[NU][MB];
    LOWBIT_UNROLL
    for (int k = 0; k < NU; ++k)
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) acc[k][m] = vdupq_n_f32(0.0f);
    for (std::size_t g = 0, b = 0; b < w.blocks; ++g) {
        float32x4_t s[NU], zf[NU];
        int32x4_t z[NU];
        LOWBIT_UNROLL
        for (int k = 0; k < NU; ++k) scale_zero(w, t, g, h0 + static_cast<std::size_t>(k), s[k], z[k], zf[k]);
        const std::size_t b_end = b + bpg < w.blocks ? b + bpg : w.blocks;
        for (; b < b_end; ++b) {
            const std::uint8_t* p = w.block(t, b) + h0 * unit_bytes;
            const float* x[MB];
            float32x4_t P[NU][MB];
            LOWBIT_UNROLL
            for (int m = 0; m < MB; ++m) x[m] = a[m].x + b * tile_block;
            LOWBIT_UNROLL
            for (int k = 0; k < NU; ++k)
                LOWBIT_UNROLL
                for (int m = 0; m < MB; ++m) P[k][m] = vdupq_n_f32(0.0f);
            f32_quad<S, MB, NU, 0>(p, x, zf, P);
            f32_quad<S, MB, NU, 1>(p, x, zf, P);
            f32_quad<S, MB, NU, 2>(p, x, zf, P);
            f32_quad<S, MB, NU, 3>(p, x, zf, P);
            f32_quad<S, MB, NU, 4>(p, x, zf, P);
            f32_quad<S, MB, NU, 5>(p, x, zf, P);
            f32_quad<S, MB, NU, 6>(p, x, zf, P);
            f32_quad<S, MB, NU, 7>(p, x, zf, P);
            LOWBIT_UNROLL
            for (int k = 0; k < NU; ++k)
                LOWBIT_UNROLL
                for (int m = 0; m < MB; ++m) acc[k][m] = vfmaq_f32(acc[k][m], P[k][m], s[k]);
        }
    }
    LOWBIT_UNROLL
    for (int k = 0; k < NU; ++k) {
        const std::size_t row = t * tile_rows + (h0 + static_cast<std::size_t>(k)) * unit_rows;
        if (row >= w.rows) break;
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) store_n(out + static_cast<std::size_t>(m) * ld + row, acc[k][m], w.rows - row);
    }
}
template <class S, int MB, int NU>
LOWBIT_ARM_TGT inline void f32_tiles_mb(const tiled_view<S>& w, std::size_t t0, std::size_t t1, const kdetail::tact_f32* a,
                                        float* out, std::size_t ld) {
    for (std::size_t t = t0; t < t1; ++t)
        for (std::size_t h = 0; h < units && t * tile_rows + h * unit_rows < w.rows; h += NU)
            f32_units<S, MB, NU>(w, t, h, a, out, ld);
}

// ---- int8 activation preparation -------------------------------------------------------
// The float steps of kdetail::prepare_ti8 (so the results are identical): per
// 32-block amax, step, codes rounded half to even (FCVTNS), code sum. Returns
// false, having written nothing that matters, if the row holds NaN, Inf or
// magnitudes below 2^-120: the caller then runs the scalar preparation, which
// defines those cases.
template <int B, bool Sym>
LOWBIT_ARM_TGT inline bool prep_i8(const float* x, const std::int32_t* perm, std::size_t K, std::size_t blocks, std::int8_t* q,
                                   float* dx, std::int32_t* zq) {
    float xb[tile_block];
    const float32x4_t big = vdupq_n_f32(3.40282347e38f), tiny = vdupq_n_f32(7.52316384526264e-37f);
    for (std::size_t b = 0; b < blocks; ++b) {
        const std::size_t c0 = b * tile_block, n = K - c0 < tile_block ? K - c0 : tile_block;
        const float* src = x + c0;
        if (perm || n < tile_block) {
            for (std::size_t i = 0; i < tile_block; ++i) xb[i] = i < n ? (perm ? x[perm[c0 + i]] : x[c0 + i]) : 0.0f;
            src = xb;
        }
        float32x4_t v[8], amaxv = vdupq_n_f32(0.0f);
        uint32x4_t bad = vdupq_n_u32(0);
        for (int k = 0; k < 8; ++k) {
            v[k] = vld1q_f32(src + 4 * k);
            const float32x4_t av = vabsq_f32(v[k]);
            // bad: !(a <= FLT_MAX) (NaN, Inf) or 0 < a < 2^-120
            bad = vorrq_u32(bad, vmvnq_u32(vcleq_f32(av, big)));
            bad = vorrq_u32(bad, vandq_u32(vcltq_f32(av, tiny), vmvnq_u32(vceqzq_f32(av))));
            amaxv = vmaxq_f32(amaxv, av);
        }
        if (vmaxvq_u32(bad)) return false;
        const float amax = vmaxvq_f32(amaxv);
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        int32x4_t c[8], sumv = vdupq_n_s32(0);
        for (int k = 0; k < 8; ++k) {
            c[k] = vcvtnq_s32_f32(vmulq_n_f32(v[k], id));
            sumv = vaddq_s32(sumv, c[k]);
        }
        LOWBIT_UNROLL
        for (int h = 0; h < 2; ++h) {  // int32 -> int8 (values in [-127, 127]: the narrowing is exact)
            const int16x8_t lo = vcombine_s16(vmovn_s32(c[4 * h]), vmovn_s32(c[4 * h + 1]));
            const int16x8_t hi = vcombine_s16(vmovn_s32(c[4 * h + 2]), vmovn_s32(c[4 * h + 3]));
            vst1q_s8(q + c0 + 16 * static_cast<std::size_t>(h), vcombine_s8(vmovn_s16(lo), vmovn_s16(hi)));
        }
        const std::int32_t sum = vaddvq_s32(sumv);
        dx[b] = Sym && B == 1 ? d * 0.5f : d;
        zq[b] = Sym && B > 1 ? -sum * (1 << (B - 1)) : sum;
    }
    return true;
}

#undef LOWBIT_ARM_INLINE

}  // namespace tl

// All activation rows [0, M) for tiles [t0, t1): pairs of activation rows on
// half tiles (2 units), then single rows on whole tiles (4 units): about 24
// of the 32 vector registers either way. IB > 0: the tiled codebook layout
// (IB-bit indices, tab16 = the grid as u8 G + 128; S the symmetric 8-bit f16 scheme).
template <class S, int IB = 0>
LOWBIT_ARM_TGT inline void ti8_tiles(const tiled_view<S>& w, std::size_t t0, std::size_t t1, const kdetail::tact_i8* a,
                                     std::size_t M, float* out, std::size_t ld, const std::uint8_t* tab16 = nullptr) {
    tiled_runs().i8.fetch_add(1, std::memory_order_relaxed);
    std::size_t m = 0;
    for (; m + 2 <= M; m += 2) tl::i8_tiles_mb<S, 2, 2, IB>(w, t0, t1, a + m, out + m * ld, ld, tab16);
    for (; m < M; ++m) tl::i8_tiles_mb<S, 1, 4, IB>(w, t0, t1, a + m, out + m * ld, ld, tab16);
}
template <class S>
LOWBIT_ARM_TGT inline bool tprep_i8(const float* x, const std::int32_t* perm, std::size_t K, std::size_t blocks, std::int8_t* q,
                                    float* dx, std::int32_t* zq) {
    tiled_runs().prep.fetch_add(1, std::memory_order_relaxed);
    return tl::prep_i8<S::bits, S::is_symmetric>(x, perm, K, blocks, q, dx, zq);
}
template <class S>
LOWBIT_ARM_TGT inline void tf32_tiles(const tiled_view<S>& w, std::size_t t0, std::size_t t1, const kdetail::tact_f32* a,
                                      std::size_t M, float* out, std::size_t ld) {
    tiled_runs().f32.fetch_add(1, std::memory_order_relaxed);
    std::size_t m = 0;
    for (; m + 2 <= M; m += 2) tl::f32_tiles_mb<S, 2, 2>(w, t0, t1, a + m, out + m * ld, ld);
    for (; m < M; ++m) tl::f32_tiles_mb<S, 1, 4>(w, t0, t1, a + m, out + m * ld, ld);
}

}  // namespace LOWBIT_ARM_NS
