// codebook_dot_neon_body.inl — one AArch64 copy of the codebook int8 dot
// products, stamped out by codebook_dot_neon.hpp (read that file first).
// Parameters:
//   LOWBIT_CB_NS    the namespace (neon, neondot)
//   LOWBIT_CB_TGT   the target attribute of every function (empty for neon)
//   LOWBIT_CB_SDOT  0: SMULL + SADALP, 1: SDOT
// Included once per copy: no #pragma once.

namespace LOWBIT_CB_NS {

#define LOWBIT_CB_INLINE LOWBIT_CB_TGT __attribute__((always_inline)) inline

// acc + the products a_i * b_i of 16 signed bytes, summed per int32 lane
// (|a|, |b| <= 127: an SMULL pair is below 2^15).
LOWBIT_CB_INLINE int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if LOWBIT_CB_SDOT && LOWBIT_ARM_DOT_ASM
    __asm__("sdot %0.4s, %1.16b, %2.16b" : "+w"(acc) : "w"(a), "w"(b));
    return acc;
#elif LOWBIT_CB_SDOT
    return vdotq_s32(acc, a, b);
#else
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
#endif
}

// Indices 0..15 and 16..31 of a block, one per byte.
LOWBIT_CB_INLINE void indices(const block4& b, uint8x16_t& lo, uint8x16_t& hi) {
    const uint8x16_t v = vld1q_u8(b.qs);
    lo = vandq_u8(v, vdupq_n_u8(0x0f));
    hi = vshrq_n_u8(v, 4);
}
// 3 bits: the 8 low-part bytes twice per register, shifted right by 0/2
// (indices 0..15) and 4/6 (16..31); the high bit j of qh set as 4 in byte j.
LOWBIT_CB_INLINE void indices(const block3& b, uint8x16_t& lo, uint8x16_t& hi) {
    static const std::int8_t shift_lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, -2, -2, -2, -2, -2, -2, -2, -2};
    static const std::int8_t shift_hi[16] = {-4, -4, -4, -4, -4, -4, -4, -4, -6, -6, -6, -6, -6, -6, -6, -6};
    static const std::uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x8_t l8 = vld1_u8(b.ql);
    const uint8x16_t l = vcombine_u8(l8, l8), three = vdupq_n_u8(3), four = vdupq_n_u8(4);
    const uint8x16_t h0 = vcombine_u8(vdup_n_u8(b.qh[0]), vdup_n_u8(b.qh[1]));
    const uint8x16_t h1 = vcombine_u8(vdup_n_u8(b.qh[2]), vdup_n_u8(b.qh[3]));
    lo = vorrq_u8(vandq_u8(vshlq_u8(l, vld1q_s8(shift_lo)), three), vandq_u8(vtstq_u8(h0, vld1q_u8(bit)), four));
    hi = vorrq_u8(vandq_u8(vshlq_u8(l, vld1q_s8(shift_hi)), three), vandq_u8(vtstq_u8(h1, vld1q_u8(bit)), four));
}

// out[c] = row_dot_scalar(w, grid, a + c * lda, nb) for c < C, bit for bit:
// exact integer sums, then the model's float terms into its eight lanes.
template <int C, class B>
LOWBIT_CB_TGT inline void rows_dot(const B* w, const std::int8_t* grid, const gguf::block_q8_0* a, std::size_t lda, std::size_t nb, float* out) {
    const int8x16_t g = vld1q_s8(grid);
    float lane[C][8] = {};
    for (std::size_t i = 0; i < nb; ++i) {
        uint8x16_t lo, hi;
        indices(w[i], lo, hi);
        const int8x16_t q0 = vqtbl1q_s8(g, lo), q1 = vqtbl1q_s8(g, hi);
        const float dw = gguf::detail::to_f32(w[i].d);
        for (int c = 0; c < C; ++c) {
            const gguf::block_q8_0& ac = a[c * lda + i];
            const std::int32_t s = vaddvq_s32(dot16(dot16(vdupq_n_s32(0), q0, vld1q_s8(ac.qs)), q1, vld1q_s8(ac.qs + 16)));
            lane[c][i % 8] += block_term(dw, gguf::detail::to_f32(ac.d), s);
        }
    }
    for (int c = 0; c < C; ++c) out[c] = lane_tree(lane[c]);
}

#undef LOWBIT_CB_INLINE

}  // namespace LOWBIT_CB_NS
