// gguf_dot_neon_body.inl — one AArch64 copy of the GGUF-block dot products,
// stamped out by gguf_dot_neon.hpp (read that file first). Parameters:
//   LOWBIT_GGUF_NS    the namespace (neon, neondot)
//   LOWBIT_GGUF_TGT   the target attribute of every function (empty for neon)
//   LOWBIT_GGUF_SDOT  0: SMULL + SADALP, 1: SDOT
// Included once per copy: no #pragma once.

namespace LOWBIT_GGUF_NS {

#define LOWBIT_GGUF_INLINE LOWBIT_GGUF_TGT __attribute__((always_inline)) inline

// acc + the products a_i * b_i of 16 signed bytes, summed per int32 lane.
LOWBIT_GGUF_INLINE int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if LOWBIT_GGUF_SDOT && LOWBIT_ARM_DOT_ASM
    __asm__("sdot %0.4s, %1.16b, %2.16b" : "+w"(acc) : "w"(a), "w"(b));
    return acc;
#elif LOWBIT_GGUF_SDOT
    return vdotq_s32(acc, a, b);
#else
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
#endif
}

// 32 signed codes (two halves) dotted with 32 activation codes.
LOWBIT_GGUF_INLINE std::int32_t dot32(int8x16_t q0, int8x16_t q1, const std::int8_t* x) {
    return vaddvq_s32(dot16(dot16(vdupq_n_s32(0), q0, vld1q_s8(x)), q1, vld1q_s8(x + 16)));
}

// All-ones in byte j where bit j of b0 (bytes 0..7) or of b1 (bytes 8..15) is set.
LOWBIT_GGUF_INLINE uint8x16_t bit_lanes16(std::uint8_t b0, std::uint8_t b1) {
    static const std::uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    return vtstq_u8(vcombine_u8(vdup_n_u8(b0), vdup_n_u8(b1)), vld1q_u8(bit));
}
// 0x10 in byte i where bit i of the 16-bit word is set.
LOWBIT_GGUF_INLINE uint8x16_t fifth_bits16(std::uint32_t word16) {
    return vandq_u8(bit_lanes16(static_cast<std::uint8_t>(word16), static_cast<std::uint8_t>(word16 >> 8)), vdupq_n_u8(0x10));
}

LOWBIT_GGUF_INLINE std::int32_t isum(const block_q4_0& w, const block_q8_0& a) {
    const uint8x16_t v = vld1q_u8(w.qs);
    const int8x16_t eight = vdupq_n_s8(8);
    const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0f))), eight);
    const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), eight);
    return dot32(lo, hi, a.qs);
}

LOWBIT_GGUF_INLINE std::int32_t isum(const block_q5_0& w, const block_q8_0& a) {
    const std::uint32_t word = load_high_bits(w.qh);
    const uint8x16_t v = vld1q_u8(w.qs);
    const int8x16_t sixteen = vdupq_n_s8(16);
    const uint8x16_t lo = vorrq_u8(vandq_u8(v, vdupq_n_u8(0x0f)), fifth_bits16(word & 0xffff));
    const uint8x16_t hi = vorrq_u8(vshrq_n_u8(v, 4), fifth_bits16(word >> 16));
    return dot32(vsubq_s8(vreinterpretq_s8_u8(lo), sixteen), vsubq_s8(vreinterpretq_s8_u8(hi), sixteen), a.qs);
}

LOWBIT_GGUF_INLINE std::int32_t isum(const block_q8_0& w, const block_q8_0& a) {
    return dot32(vld1q_s8(w.qs), vld1q_s8(w.qs + 16), a.qs);
}

// Q4_K / Q5_K: 32-byte group p holds sub-block 2p in its low nibbles and 2p+1
// in its high ones; Q5_K adds bit j of qh[l] as the fifth bit of sub-block j's value l.
template <bool Fifth, class W>
LOWBIT_GGUF_INLINE std::int32_t affine_k_isum(const W& w, const std::uint8_t* qh, const k4_scales& s, const block_q8_K& a) {
    const uint8x16_t m = vdupq_n_u8(0x0f);
    int32x4_t acc = vdupq_n_s32(0);
    for (int j = 0; j < 8; ++j) {
        const uint8x16_t v0 = vld1q_u8(w.qs + 32 * (j / 2)), v1 = vld1q_u8(w.qs + 32 * (j / 2) + 16);
        uint8x16_t q0 = j % 2 ? vshrq_n_u8(v0, 4) : vandq_u8(v0, m);
        uint8x16_t q1 = j % 2 ? vshrq_n_u8(v1, 4) : vandq_u8(v1, m);
        if (Fifth) {
            const uint8x16_t bit = vdupq_n_u8(static_cast<std::uint8_t>(1u << j));
            q0 = vorrq_u8(q0, vandq_u8(vtstq_u8(vld1q_u8(qh), bit), vdupq_n_u8(0x10)));
            q1 = vorrq_u8(q1, vandq_u8(vtstq_u8(vld1q_u8(qh + 16), bit), vdupq_n_u8(0x10)));
        }
        const int32x4_t d = dot16(dot16(vdupq_n_s32(0), vreinterpretq_s8_u8(q0), vld1q_s8(a.qs + 32 * j)),
                                  vreinterpretq_s8_u8(q1), vld1q_s8(a.qs + 32 * j + 16));
        acc = vmlaq_n_s32(acc, d, static_cast<std::int32_t>(s.sc[j]));
    }
    return vaddvq_s32(acc);
}

// Q6_K: half h, quarter t covers values 128h + 32t + l, l < 32 (sub-blocks
// 8h + 2t and 8h + 2t + 1): low bits from ql[64h + 32(t & 1) + l] (low nibble
// for t < 2), high bits (qh[32h + l] >> 2t) & 3, code - 32 as a signed byte.
LOWBIT_GGUF_INLINE std::int32_t isum(const block_q6_K& w, const block_q8_K& a) {
    const uint8x16_t m4 = vdupq_n_u8(0x0f), m2 = vdupq_n_u8(0x03);
    const int8x16_t offset = vdupq_n_s8(32);
    int32x4_t acc = vdupq_n_s32(0);
    for (int h = 0; h < 2; ++h)
        for (int t = 0; t < 4; ++t)
            for (int half = 0; half < 2; ++half) {
                const int l0 = 16 * half;
                const uint8x16_t lb = vld1q_u8(w.ql + 64 * h + 32 * (t & 1) + l0);
                const uint8x16_t low = t < 2 ? vandq_u8(lb, m4) : vshrq_n_u8(lb, 4);
                const uint8x16_t qh = vld1q_u8(w.qh + 32 * h + l0);
                const uint8x16_t high = vandq_u8(vshlq_u8(qh, vdupq_n_s8(static_cast<std::int8_t>(-2 * t))), m2);
                const int8x16_t q = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(low, vshlq_n_u8(high, 4))), offset);
                const int sb = 8 * h + 2 * t + half;
                const int32x4_t d = dot16(vdupq_n_s32(0), q, vld1q_s8(a.qs + 16 * sb));
                acc = vmlaq_n_s32(acc, d, static_cast<std::int32_t>(w.scales[sb]));
            }
    return vaddvq_s32(acc);
}

// ---- the newer types: Q4_1, Q5_1, IQ4_NL, MXFP4, IQ4_XS, Q2_K, Q3_K, TQ2_0 ----------
// s8 x s8 throughout (SMULL's products of Q8_K's -128 fit int16), so codes
// are used signed as the model writes them; tables through TBL.

// Q4_1 / Q5_1: unsigned codes (the min is in the term).
LOWBIT_GGUF_INLINE std::int32_t isum(const block_q4_1& w, const block_q8_1& a) {
    const uint8x16_t v = vld1q_u8(w.qs);
    return dot32(vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0f))), vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), a.qs);
}
LOWBIT_GGUF_INLINE std::int32_t isum(const block_q5_1& w, const block_q8_1& a) {
    const std::uint32_t word = load_high_bits(w.qh);
    const uint8x16_t v = vld1q_u8(w.qs);
    const uint8x16_t lo = vorrq_u8(vandq_u8(v, vdupq_n_u8(0x0f)), fifth_bits16(word & 0xffff));
    const uint8x16_t hi = vorrq_u8(vshrq_n_u8(v, 4), fifth_bits16(word >> 16));
    return dot32(vreinterpretq_s8_u8(lo), vreinterpretq_s8_u8(hi), a.qs);
}

// 16 bytes of nibbles (value j low, j + 16 high) through a 16-entry level table, as lanes.
LOWBIT_GGUF_INLINE int32x4_t lut_lanes(const std::uint8_t* qs, const std::int8_t* levels, const std::int8_t* x) {
    const int8x16_t lut = vld1q_s8(levels);
    const uint8x16_t v = vld1q_u8(qs);
    const int32x4_t lo = dot16(vdupq_n_s32(0), vqtbl1q_s8(lut, vandq_u8(v, vdupq_n_u8(0x0f))), vld1q_s8(x));
    return dot16(lo, vqtbl1q_s8(lut, vshrq_n_u8(v, 4)), vld1q_s8(x + 16));
}
LOWBIT_GGUF_INLINE std::int32_t isum(const block_iq4_nl& w, const block_q8_0& a) {
    return vaddvq_s32(lut_lanes(w.qs, iq4nl_levels, a.qs));
}
LOWBIT_GGUF_INLINE std::int32_t isum(const block_mxfp4& w, const block_q8_0& a) {
    return vaddvq_s32(lut_lanes(w.qs, mxfp4_levels, a.qs));
}
LOWBIT_GGUF_INLINE std::int32_t isum(const block_iq4_xs& w, const block_q8_K& a) {
    int32x4_t acc = vdupq_n_s32(0);
    for (int ib = 0; ib < 8; ++ib)
        acc = vmlaq_n_s32(acc, lut_lanes(w.qs + 16 * ib, iq4nl_levels, a.qs + 32 * ib), iq4_xs_scale(w, ib) - 32);
    return vaddvq_s32(acc);
}

// Q2_K / Q3_K: sub-block j's 2-bit codes (k2_code) as 16 bytes.
LOWBIT_GGUF_INLINE uint8x16_t k2_codes16(const std::uint8_t* qs, int j) {
    const uint8x16_t v = vld1q_u8(qs + 32 * (j / 8) + 16 * (j % 2));
    return vandq_u8(vshlq_u8(v, vdupq_n_s8(static_cast<std::int8_t>(-2 * ((j % 8) / 2)))), vdupq_n_u8(3));
}
LOWBIT_GGUF_INLINE std::int32_t isum(const block_q2_K& w, const block_q8_K& a) {
    int32x4_t acc = vdupq_n_s32(0);
    for (int j = 0; j < 16; ++j)
        acc = vmlaq_n_s32(acc, dot16(vdupq_n_s32(0), vreinterpretq_s8_u8(k2_codes16(w.qs, j)), vld1q_s8(a.qs + 16 * j)),
                          w.scales[j] & 0x0f);
    return vaddvq_s32(acc);
}
// Q3_K: value 16j + l takes its third bit from bit j / 2 of hmask[16 (j % 2) + l]; code - 4 unless set.
LOWBIT_GGUF_INLINE std::int32_t isum(const block_q3_K& w, const block_q8_K& a) {
    int32x4_t acc = vdupq_n_s32(0);
    for (int j = 0; j < 16; ++j) {
        const uint8x16_t third = vandq_u8(vtstq_u8(vld1q_u8(w.hmask + 16 * (j % 2)), vdupq_n_u8(static_cast<std::uint8_t>(1u << (j / 2)))),
                                          vdupq_n_u8(4));
        const int8x16_t q = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(k2_codes16(w.qs, j), third)), vdupq_n_s8(4));
        acc = vmlaq_n_s32(acc, dot16(vdupq_n_s32(0), q, vld1q_s8(a.qs + 16 * j)), unpack_scale_q3(j, w.scales));
    }
    return vaddvq_s32(acc);
}
// TQ2_0: byte 32h + m, bits 2n: value 128h + 32n + m, trit - 1.
LOWBIT_GGUF_INLINE std::int32_t isum(const block_tq2_0& w, const block_q8_K& a) {
    int32x4_t acc = vdupq_n_s32(0);
    for (int h = 0; h < 2; ++h)
        for (int half = 0; half < 2; ++half) {
            const uint8x16_t v = vld1q_u8(w.qs + 32 * h + 16 * half);
            for (int n = 0; n < 4; ++n) {
                const uint8x16_t t = vandq_u8(vshlq_u8(v, vdupq_n_s8(static_cast<std::int8_t>(-2 * n))), vdupq_n_u8(3));
                acc = dot16(acc, vsubq_s8(vreinterpretq_s8_u8(t), vdupq_n_s8(1)), vld1q_s8(a.qs + 128 * h + 32 * n + 16 * half));
            }
        }
    return vaddvq_s32(acc);
}

// TQ1_0: trit n of a byte is (q * 3) >> 8 with q = byte * 3^n mod 256
// (unpack_trit), i.e. [q >= 86] + [q >= 171]; so the signed code t - 1 is
// [q >= 171] - [q < 86]. NEON multiplies bytes mod 256 and compares them
// unsigned, and a true compare is the byte -1: code = (q < 86) - (q >= 171).
LOWBIT_GGUF_INLINE int8x16_t tq1_codes(uint8x16_t q) {
    return vsubq_s8(vreinterpretq_s8_u8(vcltq_u8(q, vdupq_n_u8(86))), vreinterpretq_s8_u8(vcgeq_u8(q, vdupq_n_u8(171))));
}
// Values as decode_tq1_0 orders them: qs[m] trit n is value 32n + m (m < 32),
// qs[32 + m] trit n is 160 + 16n + m, qh[j] trit n is 240 + 4n + j.
LOWBIT_GGUF_INLINE std::int32_t isum(const block_tq1_0& w, const block_q8_K& a) {
    static const std::uint8_t pow3[5] = {1, 3, 9, 27, 81};
    static const std::uint8_t qh_pow3[16] = {1, 1, 1, 1, 3, 3, 3, 3, 9, 9, 9, 9, 27, 27, 27, 27};
    int32x4_t acc = vdupq_n_s32(0);
    const uint8x16_t lo = vld1q_u8(w.qs), hi = vld1q_u8(w.qs + 16), tail = vld1q_u8(w.qs + 32);
    for (int n = 0; n < 5; ++n) {
        const uint8x16_t p = vdupq_n_u8(pow3[n]);
        acc = dot16(acc, tq1_codes(vmulq_u8(lo, p)), vld1q_s8(a.qs + 32 * n));
        acc = dot16(acc, tq1_codes(vmulq_u8(hi, p)), vld1q_s8(a.qs + 32 * n + 16));
        acc = dot16(acc, tq1_codes(vmulq_u8(tail, p)), vld1q_s8(a.qs + 160 + 16 * n));
    }
    const uint8x16_t h = vmulq_u8(vreinterpretq_u8_u32(vdupq_n_u32(load_u32le(w.qh))), vld1q_u8(qh_pow3));  // lane 4n + j: qh[j] * 3^n
    acc = dot16(acc, tq1_codes(h), vld1q_s8(a.qs + 240));
    return vaddvq_s32(acc);
}

LOWBIT_GGUF_TGT inline float row_dot(const block_mxfp4* w, const block_q8_0* a, std::size_t nb) {
    float sum = 0.0f;
    for (std::size_t i = 0; i < nb; ++i) sum += legacy_term(e8m0_half(w[i].e), to_f32(a[i].d), LOWBIT_GGUF_NS::isum(w[i], a[i]));
    return sum;
}
template <class W>  // Q4_1, Q5_1
LOWBIT_GGUF_TGT inline float row_dot(const W* w, const block_q8_1* a, std::size_t nb) {
    float sum = 0.0f;
    for (std::size_t i = 0; i < nb; ++i)
        sum += legacy_affine_term(to_f32(w[i].d), to_f32(w[i].m), to_f32(a[i].d), to_f32(a[i].s), LOWBIT_GGUF_NS::isum(w[i], a[i]));
    return sum;
}
LOWBIT_GGUF_TGT inline float row_dot(const block_q2_K* w, const block_q8_K* a, std::size_t nb) {
    float sum = 0.0f;
    for (std::size_t i = 0; i < nb; ++i)
        sum += kquant_affine_term(a[i].d, to_f32(w[i].d), to_f32(w[i].dmin), LOWBIT_GGUF_NS::isum(w[i], a[i]), q2k_min_sum(w[i], a[i]));
    return sum;
}
template <class W>  // Q3_K, IQ4_XS, TQ1_0, TQ2_0
LOWBIT_GGUF_TGT inline float symmetric_k_row_dot(const W* w, const block_q8_K* a, std::size_t nb) {
    float sum = 0.0f;
    for (std::size_t i = 0; i < nb; ++i) sum += kquant_symmetric_term(a[i].d, to_f32(w[i].d), LOWBIT_GGUF_NS::isum(w[i], a[i]));
    return sum;
}
LOWBIT_GGUF_TGT inline float row_dot(const block_q3_K* w, const block_q8_K* a, std::size_t nb) { return symmetric_k_row_dot(w, a, nb); }
LOWBIT_GGUF_TGT inline float row_dot(const block_iq4_xs* w, const block_q8_K* a, std::size_t nb) { return symmetric_k_row_dot(w, a, nb); }
LOWBIT_GGUF_TGT inline float row_dot(const block_tq1_0* w, const block_q8_K* a, std::size_t nb) { return symmetric_k_row_dot(w, a, nb); }
LOWBIT_GGUF_TGT inline float row_dot(const block_tq2_0* w, const block_q8_K* a, std::size_t nb) { return symmetric_k_row_dot(w, a, nb); }

template <class W>
LOWBIT_GGUF_TGT inline float row_dot(const W* w, const block_q8_0* a, std::size_t nb) {
    float sum = 0.0f;
    for (std::size_t i = 0; i < nb; ++i) sum += legacy_term(to_f32(w[i].d), to_f32(a[i].d), LOWBIT_GGUF_NS::isum(w[i], a[i]));
    return sum;
}
LOWBIT_GGUF_TGT inline float row_dot(const block_q4_K* w, const block_q8_K* a, std::size_t nb) {
    float sum = 0.0f;
    for (std::size_t i = 0; i < nb; ++i) {
        const k4_scales s = unpack_k4(w[i].scales);
        sum += kquant_affine_term(a[i].d, to_f32(w[i].d), to_f32(w[i].dmin), affine_k_isum<false>(w[i], nullptr, s, a[i]),
                                  kquant_min_sum(s, a[i]));
    }
    return sum;
}
LOWBIT_GGUF_TGT inline float row_dot(const block_q5_K* w, const block_q8_K* a, std::size_t nb) {
    float sum = 0.0f;
    for (std::size_t i = 0; i < nb; ++i) {
        const k4_scales s = unpack_k4(w[i].scales);
        sum += kquant_affine_term(a[i].d, to_f32(w[i].d), to_f32(w[i].dmin), affine_k_isum<true>(w[i], w[i].qh, s, a[i]),
                                  kquant_min_sum(s, a[i]));
    }
    return sum;
}
LOWBIT_GGUF_TGT inline float row_dot(const block_q6_K* w, const block_q8_K* a, std::size_t nb) {
    float sum = 0.0f;
    for (std::size_t i = 0; i < nb; ++i) sum += kquant_symmetric_term(a[i].d, to_f32(w[i].d), LOWBIT_GGUF_NS::isum(w[i], a[i]));
    return sum;
}

#include "gguf_dot_neon_lattice.inl"

#undef LOWBIT_GGUF_INLINE

}  // namespace LOWBIT_GGUF_NS
