// lowbit/kernels/detail/arm/body.inl — the AArch64 kernels (int8 and f32), written once
// and stamped out by arm/kernels.hpp inside different namespaces with:
//   LOWBIT_ARM_NS    the namespace (neon, neondot)
//   LOWBIT_ARM_TGT   the target attribute of every function here (empty for neon)
//   LOWBIT_ARM_DOT   0: SMULL/SMLAL + pairwise adds, 1: SDOT
// As in detail/x86/body.inl: every function carries the attribute, helpers are
// templates or always_inline inside the copy's namespace, no lambdas. The block
// structure and the float steps are those of detail/blocks.hpp (the comment at
// its top is the specification); this file follows them so that every result
// equals kdetail::int8_row_scalar bit for bit.
//
// One 16-byte NEON register is one block's lane of one arranged register k:
// bytes 4i..4i+3 of registers k = 0 and k = 1 are the 8 codes of lane i, so one
// int32x4 holds the four lane integers A_i of a block, and one float32x4 its
// four accumulator lanes. The zero point is removed in integers:
//   symmetric, B >= 2: bytes u - 2^(B-1) (fit int8), A' = sum((u - z) q)
//                      (= A - z Q, the model's A + zq);
//   symmetric, B = 1:  bytes 2u - 1 (= +-1), A' = sum((2u - 1) q) = 2A - Q;
//   asymmetric:        bytes u (B <= 7) or u - 128 (B = 8), A' = dot - z' Q
//                      with z' = z (B <= 7) or z - 128 (B = 8).
// The integers are exact whatever the order, so the model's float steps
// (one conversion, one multiply s * dx, one FMA per lane and block, the final
// fixed-order sum) give the same bits.
//
// No include guard on purpose.

namespace LOWBIT_ARM_NS {

#define LOWBIT_ARM_INLINE LOWBIT_ARM_TGT __attribute__((always_inline)) inline

// ---- unpacking: block b's 32 codes (p = its first byte) into two registers ---------
// r0, r1: byte t = code code_in_block<B>(k, t) of the block, for k = 0, 1.
template <int B>
LOWBIT_ARM_INLINE void unpack_block(const std::uint8_t* p, uint8x16_t& r0, uint8x16_t& r1) {
    if constexpr (B == 8) {
        r0 = vld1q_u8(p);
        r1 = vld1q_u8(p + 16);
    } else if constexpr (B == 4) {  // byte t: codes 2t (low nibble), 2t + 1 (high nibble)
        const uint8x16_t v = vld1q_u8(p);
        r0 = vandq_u8(v, vdupq_n_u8(0x0f));
        r1 = vshrq_n_u8(v, 4);
    } else if constexpr (B == 2) {  // byte t: codes 4t .. 4t + 3 at bits 0, 2, 4, 6
        const uint8x8_t v = vld1_u8(p), m = vdup_n_u8(0x03);
        r0 = vcombine_u8(vand_u8(v, m), vand_u8(vshr_n_u8(v, 2), m));
        r1 = vcombine_u8(vand_u8(vshr_n_u8(v, 4), m), vshr_n_u8(v, 6));
    } else if constexpr (B == 1) {  // byte t of register k: bit 4k + t/4 of byte t % 4
        static constexpr kdetail::arm_bit_masks masks{};
        std::uint32_t bits;
        std::memcpy(&bits, p, 4);
        const uint8x16_t v = vreinterpretq_u8_u32(vdupq_n_u32(bits)), one = vdupq_n_u8(1);
        r0 = vandq_u8(vtstq_u8(v, vld1q_u8(masks.m[0])), one);
        r1 = vandq_u8(vtstq_u8(v, vld1q_u8(masks.m[1])), one);
    } else {
        // B = 3, 5, 6, 7: natural order; half k (codes 16k .. 16k + 15) is the 2B bytes
        // at p + 2Bk. Reads 16 bytes per half: up to 16 - 2B bytes past the block's
        // last half, covered by the caller's slack rule (unpack_slack).
        static constexpr kdetail::arm_unpack_table<B> tab{};
        const uint8x16_t lo_idx = vld1q_u8(tab.idx_lo), hi_idx = vld1q_u8(tab.idx_hi);
        const int16x8_t shr = vld1q_s16(tab.shr);
        const uint8x16_t m = vdupq_n_u8(static_cast<std::uint8_t>((1u << B) - 1u));
        LOWBIT_UNROLL
        for (int k = 0; k < 2; ++k) {
            const uint8x16_t v = vld1q_u8(p + 2 * B * k);
            const uint16x8_t lo = vshlq_u16(vreinterpretq_u16_u8(vqtbl1q_u8(v, lo_idx)), shr);
            const uint16x8_t hi = vshlq_u16(vreinterpretq_u16_u8(vqtbl1q_u8(v, hi_idx)), shr);
            const uint8x16_t c = vandq_u8(vuzp1q_u8(vreinterpretq_u8_u16(lo), vreinterpretq_u8_u16(hi)), m);
            if (k == 0) r0 = c;
            else r1 = c;
        }
    }
}

// The bytes that enter the dot product (see the top of this file).
template <class S>
LOWBIT_ARM_INLINE int8x16_t dot_bytes(uint8x16_t u) {
    constexpr int B = S::bits;
    if constexpr (S::is_symmetric && B == 1) return vreinterpretq_s8_u8(vsubq_u8(vshlq_n_u8(u, 1), vdupq_n_u8(1)));
    else if constexpr (S::is_symmetric || B == 8)
        return vreinterpretq_s8_u8(vsubq_u8(u, vdupq_n_u8(static_cast<std::uint8_t>(1u << (B - 1)))));
    else return vreinterpretq_s8_u8(u);
}

// acc[i] += sum over e < 4 of (w0 x0 + w1 x1)[4i + e]: the 8 codes of lane i.
LOWBIT_ARM_INLINE int32x4_t dot8(int32x4_t acc, int8x16_t w0, int8x16_t x0, int8x16_t w1, int8x16_t x1) {
#if LOWBIT_ARM_DOT && LOWBIT_ARM_DOT_ASM
    __asm__("sdot %0.4s, %1.16b, %2.16b\n\tsdot %0.4s, %3.16b, %4.16b" : "+w"(acc) : "w"(w0), "w"(x0), "w"(w1), "w"(x1));
    return acc;
#elif LOWBIT_ARM_DOT
    return vdotq_s32(vdotq_s32(acc, w0, x0), w1, x1);
#else
    // |w| <= 128, |x| <= 127: a product is at most 16256 in magnitude, two of them
    // 32512, so the int16 sums of the two registers cannot overflow.
    const int16x8_t lo = vmlal_s8(vmull_s8(vget_low_s8(w0), vget_low_s8(x0)), vget_low_s8(w1), vget_low_s8(x1));
    const int16x8_t hi = vmlal_high_s8(vmull_high_s8(w0, x0), w1, x1);
    return vaddq_s32(acc, vpaddq_s32(vpaddlq_s16(lo), vpaddlq_s16(hi)));
#endif
}

// ---- one super-chunk (8 blocks) of one weight row against MB activation rows --------
// acc[m][l]: lanes 4l .. 4l + 3 of row m's 16-lane accumulator (blocks.hpp).
// s[k], z[k]: scale and (adjusted) integer zero of block k of the chunk.
template <class S, int MB>
LOWBIT_ARM_INLINE void i8_chunk(const std::uint8_t* w, const std::int8_t* const* x, const float* const* dxl,
                                const std::int32_t* const* zq, const float* s, const std::int32_t* z,
                                float32x4_t (*acc)[4]) {
    constexpr int B = S::bits;
    LOWBIT_UNROLL
    for (int q = 0; q < 2; ++q)
        LOWBIT_UNROLL
        for (int l = 0; l < 4; ++l) {
            const int b = 4 * q + l, lane = 16 * q + 4 * l;
            uint8x16_t u0, u1;
            unpack_block<B>(w + b * 4 * B, u0, u1);
            const int8x16_t c0 = dot_bytes<S>(u0), c1 = dot_bytes<S>(u1);
            LOWBIT_UNROLL
            for (int m = 0; m < MB; ++m) {
                const std::int8_t* xp = x[m] + 128 * q + 16 * l;
                int32x4_t A = dot8(vdupq_n_s32(0), c0, vld1q_s8(xp), c1, vld1q_s8(xp + 64));
                if constexpr (!S::is_symmetric) A = vmlsq_s32(A, vld1q_s32(zq[m] + lane), vdupq_n_s32(z[b]));
                const float32x4_t t = vmulq_n_f32(vld1q_f32(dxl[m] + lane), s[b]);
                acc[m][l] = vfmaq_f32(acc[m][l], vcvtq_f32_s32(A), t);
            }
        }
}

// ---- small groups (blocks.hpp, "small groups"): each register k of a lane apart ------
// ls, lz: [k * 32 + lane] the scale and adjusted zero of the lane's register k.
// Symmetric bytes already hold u - z (A_k = dot); asymmetric: A_k = dot - z'_k Q_k.
LOWBIT_ARM_INLINE int32x4_t dot4(int8x16_t w, int8x16_t x) {
#if LOWBIT_ARM_DOT && LOWBIT_ARM_DOT_ASM
    int32x4_t acc = vdupq_n_s32(0);
    __asm__("sdot %0.4s, %1.16b, %2.16b" : "+w"(acc) : "w"(w), "w"(x));
    return acc;
#elif LOWBIT_ARM_DOT
    return vdotq_s32(vdupq_n_s32(0), w, x);
#else
    return vpaddq_s32(vpaddlq_s16(vmull_s8(vget_low_s8(w), vget_low_s8(x))), vpaddlq_s16(vmull_high_s8(w, x)));
#endif
}
template <class S, int MB>
LOWBIT_ARM_INLINE void i8_chunk_small(const std::uint8_t* w, const std::int8_t* const* x, const float* const* dxl,
                                      const float* ls, const std::int32_t* lz, float32x4_t (*acc)[4]) {
    constexpr int B = S::bits;
    LOWBIT_UNROLL
    for (int q = 0; q < 2; ++q)
        LOWBIT_UNROLL
        for (int l = 0; l < 4; ++l) {
            const int b = 4 * q + l, lane = 16 * q + 4 * l;
            uint8x16_t u0, u1;
            unpack_block<B>(w + b * 4 * B, u0, u1);
            const int8x16_t c0 = dot_bytes<S>(u0), c1 = dot_bytes<S>(u1);
            const float32x4_t s0 = vld1q_f32(ls + lane), s1 = vld1q_f32(ls + 32 + lane);
            LOWBIT_UNROLL
            for (int m = 0; m < MB; ++m) {
                const std::int8_t* xp = x[m] + 128 * q + 16 * l;
                const int8x16_t x0 = vld1q_s8(xp), x1 = vld1q_s8(xp + 64);
                int32x4_t A0 = dot4(c0, x0), A1 = dot4(c1, x1);
                if constexpr (!S::is_symmetric) {
                    A0 = vmlsq_s32(A0, vpaddlq_s16(vpaddlq_s8(x0)), vld1q_s32(lz + lane));
                    A1 = vmlsq_s32(A1, vpaddlq_s16(vpaddlq_s8(x1)), vld1q_s32(lz + 32 + lane));
                }
                const float32x4_t dx = vld1q_f32(dxl[m] + lane);
                acc[m][l] = vfmaq_f32(acc[m][l], vcvtq_f32_s32(A0), vmulq_f32(s0, dx));
                acc[m][l] = vfmaq_f32(acc[m][l], vcvtq_f32_s32(A1), vmulq_f32(s1, dx));
            }
        }
}
// The lane scales and adjusted zeros of super-chunk sc of row r from its quarters.
template <class S>
LOWBIT_ARM_INLINE void lane_scales(const qmatrix_view<S>& w, std::size_t r, std::size_t sc, float* ls, std::int32_t* lz) {
    float qs[32], qz[32];
    kdetail::quarter_scales(w, r, sc, kdetail::decode_scale<S>{w}, qs, qz);
    const auto& qm = kdetail::quarters<S::bits>();
    constexpr std::int32_t z_off = S::bits == 8 ? 128 : 0;
    for (int i = 0; i < 64; ++i) {
        ls[i] = qs[qm.lane[i]];
        lz[i] = S::is_symmetric ? 0 : static_cast<std::int32_t>(qz[qm.lane[i]]) - z_off;
    }
}

// Where a row's scales are, computed once per call (the row's first index is set per row).
struct row_groups {
    std::size_t bpg = 0;  // 32-blocks per group; 0: one scale per row
    int shift = -1;       // log2(bpg) when bpg is a power of two
    std::size_t base = 0;
};
template <class S>
LOWBIT_ARM_INLINE row_groups row_groups_of(const qmatrix_view<S>& w) {
    row_groups rg;
    // a group spanning the whole row is one scale per row, like per-channel
    rg.bpg = S::gran == granularity::per_group && static_cast<std::size_t>(w.group) < w.cols
                 ? static_cast<std::size_t>(w.group) / kdetail::block
                 : 0;
    for (int k = 0; k < 40; ++k)
        if (rg.bpg == (std::size_t{1} << k)) rg.shift = k;
    return rg;
}
// Scale and adjusted zero (B = 8 asymmetric: z - 128) of the 8 blocks from b0; blocks >= nb: 0.
template <class S>
LOWBIT_ARM_INLINE void chunk_scales(const qmatrix_view<S>& w, const row_groups& rg, std::size_t b0, std::size_t nb,
                                    float* s, std::int32_t* z) {
    std::size_t g = 0, in_group = 0;
    if (rg.bpg) {
        g = rg.shift >= 0 ? b0 >> rg.shift : b0 / rg.bpg;
        in_group = b0 - g * rg.bpg;
    }
    constexpr std::int32_t z_off = S::bits == 8 ? 128 : 0;
    const scale_type kind = kdetail::scale_kind(w);  // a constant unless the codec is scale_any
    for (std::size_t k = 0; k < 8; ++k) {
        const std::size_t b = b0 + k, i = rg.base + g;
        if (b < nb) {
            s[k] = kdetail::load_scale(w.scales, i, kind);
            if constexpr (S::is_symmetric) z[k] = 0;
            else z[k] = static_cast<std::int32_t>(w.zeros[i]) - z_off;
        } else {
            s[k] = 0.0f;
            z[k] = 0;
        }
        if (rg.bpg && ++in_group == rg.bpg) {
            ++g;
            in_group = 0;
        }
    }
}

// The model's final sum: v[i] = acc[i] + acc[i + 8], then kdetail::reduce8(v).
LOWBIT_ARM_INLINE float fold16(const float32x4_t* a) {
    const float32x4_t c = vaddq_f32(vaddq_f32(a[0], a[2]), vaddq_f32(a[1], a[3]));  // v[j] + v[j + 4]
    const float32x2_t d = vadd_f32(vget_low_f32(c), vget_high_f32(c));
    return vget_lane_f32(d, 0) + vget_lane_f32(d, 1);
}

template <int B>
constexpr std::size_t unpack_slack() noexcept {
    return (B == 1 || B == 2 || B == 4 || B == 8) ? 0 : 16;
}

// ---- row drivers ------------------------------------------------------------------
// out(m, r) = out[m * ld + r] for rows [r0, r1) and activation rows [0, MB): one
// unpack of the weights feeds MB activation rows (register blocking).
// Small: the small-group chunks (blocks.hpp), a copy of the driver of its own so
// that the other groups' loop is exactly what it was.
template <class S, int MB, bool Small>
LOWBIT_ARM_TGT inline void i8_rows_mb(const qmatrix_view<S>& w, std::size_t r0, std::size_t r1, const kdetail::act_i8* a,
                                      const kdetail::act_geometry& g, float* out, std::size_t ld) {
    constexpr int B = S::bits;
    const std::size_t row_len = packed_bytes(g.K, B), cb = 32 * B;
    alignas(16) std::uint8_t tmp[32 * 8 + 16];
    row_groups rg = row_groups_of(w);
    for (std::size_t r = r0; r < r1; ++r) {
        const std::uint8_t* row = w.row(r);
        rg.base = w.scale_index(r, 0);
        float32x4_t acc[MB][4];
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m)
            LOWBIT_UNROLL
            for (int l = 0; l < 4; ++l) acc[m][l] = vdupq_n_f32(0.0f);
        for (std::size_t sc = 0; sc < g.nsc; ++sc) {
            const std::size_t off = sc * cb;
            const std::uint8_t* wp = row + off;
            if (off + cb + unpack_slack<B>() > row_len) {  // the row's last bytes: zero-padded copy
                std::memset(tmp, 0, sizeof tmp);
                std::memcpy(tmp, wp, row_len - off < cb ? row_len - off : cb);
                wp = tmp;
            }
            float s[8];
            std::int32_t z[8];
            if constexpr (!Small) chunk_scales(w, rg, sc * kdetail::chunk_blocks, g.nb, s, z);
            const std::int8_t* xp[MB];
            const float* lp[MB];
            const std::int32_t* zp[MB];
            LOWBIT_UNROLL
            for (int m = 0; m < MB; ++m) {
                xp[m] = a[m].q + sc * kdetail::chunk;
                lp[m] = a[m].dxl + sc * 32;
                zp[m] = a[m].zq + sc * 32;
            }
            if constexpr (Small) {
                float ls[64];
                std::int32_t lz[64];
                lane_scales(w, r, sc, ls, lz);
                i8_chunk_small<S, MB>(wp, xp, lp, ls, lz, acc);
            } else {
                i8_chunk<S, MB>(wp, xp, lp, zp, s, z, acc);
            }
        }
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) out[static_cast<std::size_t>(m) * ld + r] = fold16(acc[m]);
    }
}

// ---- f32 path: P_b = sum((u - z_b) x) in registers, acc = fma(P_b, s_b, acc) ----------
// (the float steps of kdetail::f32_row_scalar up to summation order; not bit-matched).
// The zero is subtracted exactly: in bytes for symmetric B >= 2, in floats otherwise.
template <class S>
constexpr bool zero_in_bytes() noexcept {
    return S::is_symmetric && S::bits >= 2;
}
// 16 codes to 4 x 4 floats, zero removed.
template <class S>
LOWBIT_ARM_INLINE void codes_f32(uint8x16_t u, float z, float32x4_t* f) {
    if constexpr (zero_in_bytes<S>()) {
        const int8x16_t c = vreinterpretq_s8_u8(vsubq_u8(u, vdupq_n_u8(static_cast<std::uint8_t>(1u << (S::bits - 1)))));
        const int16x8_t lo = vmovl_s8(vget_low_s8(c)), hi = vmovl_high_s8(c);
        f[0] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo)));
        f[1] = vcvtq_f32_s32(vmovl_high_s16(lo));
        f[2] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi)));
        f[3] = vcvtq_f32_s32(vmovl_high_s16(hi));
        (void)z;
    } else {
        const uint16x8_t lo = vmovl_u8(vget_low_u8(u)), hi = vmovl_high_u8(u);
        const float32x4_t zv = vdupq_n_f32(z);
        f[0] = vsubq_f32(vcvtq_f32_u32(vmovl_u16(vget_low_u16(lo))), zv);
        f[1] = vsubq_f32(vcvtq_f32_u32(vmovl_high_u16(lo)), zv);
        f[2] = vsubq_f32(vcvtq_f32_u32(vmovl_u16(vget_low_u16(hi))), zv);
        f[3] = vsubq_f32(vcvtq_f32_u32(vmovl_high_u16(hi)), zv);
    }
}
// One super-chunk of one weight row against MB arranged f32 rows.
template <class S, int MB>
LOWBIT_ARM_INLINE void f32_chunk(const std::uint8_t* w, const float* const* x, const float* z, const float* s,
                                 float32x4_t* acc) {
    constexpr int B = S::bits;
    LOWBIT_UNROLL
    for (int q = 0; q < 2; ++q)
        LOWBIT_UNROLL
        for (int l = 0; l < 4; ++l) {
            const int b = 4 * q + l;
            uint8x16_t u0, u1;
            unpack_block<B>(w + b * 4 * B, u0, u1);
            float32x4_t c[8];
            codes_f32<S>(u0, z[b], c);
            codes_f32<S>(u1, z[b], c + 4);
            LOWBIT_UNROLL
            for (int m = 0; m < MB; ++m) {
                const float* xp = x[m] + 128 * q + 16 * l;  // register 1 at +64
                float32x4_t p = vmulq_f32(c[0], vld1q_f32(xp));
                for (int i = 1; i < 4; ++i) p = vfmaq_f32(p, c[i], vld1q_f32(xp + 4 * i));
                LOWBIT_UNROLL
                for (int i = 0; i < 4; ++i) p = vfmaq_f32(p, c[4 + i], vld1q_f32(xp + 64 + 4 * i));
                acc[m] = vfmaq_n_f32(acc[m], p, s[b]);
            }
        }
}

// Small groups: each code dequantized with its quarter's scale and zero (a table
// lookup spreads the block's 4 quarter values over its codes), then the products.
template <class S, int MB>
LOWBIT_ARM_INLINE void f32_chunk_small(const std::uint8_t* w, const float* const* x, const float* qs, const float* qz,
                                       float32x4_t* acc) {
    constexpr int B = S::bits;
    static constexpr kdetail::arm_quarter_bytes<B> tb{};
    LOWBIT_UNROLL
    for (int q = 0; q < 2; ++q)
        LOWBIT_UNROLL
        for (int l = 0; l < 4; ++l) {
            const int b = 4 * q + l, base = 128 * q + 16 * l;
            uint8x16_t u0, u1;
            unpack_block<B>(w + b * 4 * B, u0, u1);
            float32x4_t c[8];
            codes_f32<S>(u0, 0.0f, c);
            codes_f32<S>(u1, 0.0f, c + 4);
            const uint8x16_t sb = vreinterpretq_u8_f32(vld1q_f32(qs + 4 * b)), zb = vreinterpretq_u8_f32(vld1q_f32(qz + 4 * b));
            LOWBIT_UNROLL
            for (int i = 0; i < 8; ++i) {
                const uint8x16_t idx = vld1q_u8(tb.idx + 4 * (base + (i < 4 ? 4 * i : 64 + 4 * (i - 4))));
                if constexpr (!zero_in_bytes<S>()) c[i] = vsubq_f32(c[i], vreinterpretq_f32_u8(vqtbl1q_u8(zb, idx)));
                c[i] = vmulq_f32(c[i], vreinterpretq_f32_u8(vqtbl1q_u8(sb, idx)));
            }
            LOWBIT_UNROLL
            for (int m = 0; m < MB; ++m) {
                const float* xp = x[m] + base;  // register 1 at +64
                float32x4_t p = vmulq_f32(c[0], vld1q_f32(xp));
                for (int i = 1; i < 4; ++i) p = vfmaq_f32(p, c[i], vld1q_f32(xp + 4 * i));
                LOWBIT_UNROLL
                for (int i = 0; i < 4; ++i) p = vfmaq_f32(p, c[4 + i], vld1q_f32(xp + 64 + 4 * i));
                acc[m] = vaddq_f32(acc[m], p);
            }
        }
}

template <class S, int MB, bool Small>
LOWBIT_ARM_TGT inline void f32_rows_mb(const qmatrix_view<S>& w, std::size_t r0, std::size_t r1, const kdetail::act_f32* a,
                                       const kdetail::act_geometry& g, float* out, std::size_t ld) {
    constexpr int B = S::bits;
    const std::size_t row_len = packed_bytes(g.K, B), cb = 32 * B;
    alignas(16) std::uint8_t tmp[32 * 8 + 16];
    row_groups rg = row_groups_of(w);
    for (std::size_t r = r0; r < r1; ++r) {
        const std::uint8_t* row = w.row(r);
        rg.base = w.scale_index(r, 0);
        float32x4_t acc[MB];
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) acc[m] = vdupq_n_f32(0.0f);
        for (std::size_t sc = 0; sc < g.nsc; ++sc) {
            const std::size_t off = sc * cb;
            const std::uint8_t* wp = row + off;
            if (off + cb + unpack_slack<B>() > row_len) {
                std::memset(tmp, 0, sizeof tmp);
                std::memcpy(tmp, wp, row_len - off < cb ? row_len - off : cb);
                wp = tmp;
            }
            if constexpr (Small) {
                float qs[32], qz[32];
                kdetail::quarter_scales(w, r, sc, kdetail::decode_scale<S>{w}, qs, qz);
                const float* xp[MB];
                LOWBIT_UNROLL
                for (int m = 0; m < MB; ++m) xp[m] = a[m].x + sc * kdetail::chunk;
                f32_chunk_small<S, MB>(wp, xp, qs, qz, acc);
                continue;
            }
            float s[8], z[8];
            std::int32_t zi[8];
            chunk_scales(w, rg, sc * kdetail::chunk_blocks, g.nb, s, zi);
            for (int k = 0; k < 8; ++k)
                z[k] = S::is_symmetric ? symmetric_zero(B) : static_cast<float>(zi[k] + (B == 8 ? 128 : 0));
            const float* xp[MB];
            LOWBIT_UNROLL
            for (int m = 0; m < MB; ++m) xp[m] = a[m].x + sc * kdetail::chunk;
            f32_chunk<S, MB>(wp, xp, z, s, acc);
        }
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) out[static_cast<std::size_t>(m) * ld + r] = vaddvq_f32(acc[m]);
    }
}

template <class S>
LOWBIT_ARM_TGT inline void f32_rows(const qmatrix_view<S>& w, std::size_t r0, std::size_t r1, const kdetail::act_f32* a,
                                    std::size_t M, const kdetail::act_geometry& g, float* out, std::size_t ld) {
    std::size_t m = 0;
    if (kdetail::small_groups(w)) {
        for (; m + 4 <= M; m += 4) f32_rows_mb<S, 4, true>(w, r0, r1, a + m, g, out + m * ld, ld);
        for (; m < M; ++m) f32_rows_mb<S, 1, true>(w, r0, r1, a + m, g, out + m * ld, ld);
        return;
    }
    for (; m + 4 <= M; m += 4) f32_rows_mb<S, 4, false>(w, r0, r1, a + m, g, out + m * ld, ld);
    for (; m < M; ++m) f32_rows_mb<S, 1, false>(w, r0, r1, a + m, g, out + m * ld, ld);
}

// All activation rows [0, M) for weight rows [r0, r1).
template <class S>
LOWBIT_ARM_TGT inline void i8_rows(const qmatrix_view<S>& w, std::size_t r0, std::size_t r1, const kdetail::act_i8* a,
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

#undef LOWBIT_ARM_INLINE

}  // namespace LOWBIT_ARM_NS
