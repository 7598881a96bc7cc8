// gguf_dot_neon_lattice.inl — the lattice i-quants (IQ2_XXS, IQ2_XS, IQ2_S,
// IQ3_XXS, IQ3_S, IQ1_S, IQ1_M) in one AArch64 copy; included by
// gguf_dot_neon_body.inl inside its namespace, after dot16 (no #pragma once).
//
// As the x86 copies (detail/x86/gguf_dot_avx2_lattice.hpp): grid points as
// bytes (gguf_iq_grid_bytes.hpp) fetched by scalar loads, 16 values to a
// vector; signs applied by multiplying with +-1 bytes (a grid byte is at most
// 62 and an IQ1 byte 9 in magnitude, so products and SMULL pairs stay exact);
// each 16-value half weighted by its odd integer scale 2 s + 1 in int32, the
// model's sums (detail/gguf_dot_iq.hpp) exactly.

// Two 8-byte grid points as one vector: p0 in values 0..7, p1 in 8..15.
LOWBIT_GGUF_INLINE int8x16_t points16(std::uint64_t p0, std::uint64_t p1) {
    return vreinterpretq_s8_u64(vcombine_u64(vcreate_u64(p0), vcreate_u64(p1)));
}
// Four 4-byte grid points as one vector.
LOWBIT_GGUF_INLINE int8x16_t points16(std::uint32_t p0, std::uint32_t p1, std::uint32_t p2, std::uint32_t p3) {
    return points16(p0 | static_cast<std::uint64_t>(p1) << 32, p2 | static_cast<std::uint64_t>(p3) << 32);
}
// +-1 bytes from two stored sign bytes (bit j set: value j negated).
LOWBIT_GGUF_INLINE int8x16_t sign_bytes16(std::uint8_t s0, std::uint8_t s1) {
    return vreinterpretq_s8_u8(vorrq_u8(bit_lanes16(s0, s1), vdupq_n_u8(1)));
}
// 16 signed values dotted with 16 activations, times the odd scale 2 s + 1.
LOWBIT_GGUF_INLINE int32x4_t scaled_dot16(int32x4_t acc, int8x16_t v, const std::int8_t* a, unsigned s) {
    return vmlaq_n_s32(acc, dot16(vdupq_n_s32(0), v, vld1q_s8(a)), static_cast<std::int32_t>(2 * s + 1));
}
// 32 signed values (two vectors) under one odd scale 2 s + 1.
LOWBIT_GGUF_INLINE int32x4_t scaled_dot32(int32x4_t acc, int8x16_t v0, int8x16_t v1, const std::int8_t* a, unsigned s) {
    return vmlaq_n_s32(acc, dot16(dot16(vdupq_n_s32(0), v0, vld1q_s8(a)), v1, vld1q_s8(a + 16)), static_cast<std::int32_t>(2 * s + 1));
}

LOWBIT_GGUF_INLINE std::int32_t isum(const block_iq2_xxs& w, const block_q8_K& a) {
    const auto* q = reinterpret_cast<const std::uint8_t*>(w.qs);
    const auto& t = iq2xxs_bytes.v;
    const auto& m = iq_sign_masks.v;
    int32x4_t acc = vdupq_n_s32(0);
    for (int ib = 0; ib < 8; ++ib, q += 8) {  // four index bytes, then 4 x 7 sign bits and the scale
        const std::uint32_t meta = load_u32le(q + 4);
        const int8x16_t g0 = vmulq_s8(points16(t[q[0]], t[q[1]]), points16(m[meta & 127u], m[(meta >> 7) & 127u]));
        const int8x16_t g1 = vmulq_s8(points16(t[q[2]], t[q[3]]), points16(m[(meta >> 14) & 127u], m[(meta >> 21) & 127u]));
        acc = scaled_dot32(acc, g0, g1, a.qs + 32 * ib, meta >> 28);
    }
    return vaddvq_s32(acc);
}

LOWBIT_GGUF_INLINE std::int32_t isum(const block_iq2_xs& w, const block_q8_K& a) {
    const auto* q = reinterpret_cast<const std::uint8_t*>(w.qs);
    const auto& t = iq2xs_bytes.v;
    const auto& m = iq_sign_masks.v;
    int32x4_t acc = vdupq_n_s32(0);
    for (int ib = 0; ib < 8; ++ib, q += 8) {  // four 16-bit words: 9-bit index, 7-bit sign field
        const unsigned v0 = load_u16le(q), v1 = load_u16le(q + 2), v2 = load_u16le(q + 4), v3 = load_u16le(q + 6);
        const int8x16_t g0 = vmulq_s8(points16(t[v0 & 511u], t[v1 & 511u]), points16(m[v0 >> 9], m[v1 >> 9]));
        const int8x16_t g1 = vmulq_s8(points16(t[v2 & 511u], t[v3 & 511u]), points16(m[v2 >> 9], m[v3 >> 9]));
        acc = scaled_dot16(acc, g0, a.qs + 32 * ib, w.scales[ib] & 0xfu);
        acc = scaled_dot16(acc, g1, a.qs + 32 * ib + 16, w.scales[ib] >> 4);
    }
    return vaddvq_s32(acc);
}

LOWBIT_GGUF_INLINE std::int32_t isum(const block_iq2_s& w, const block_q8_K& a) {
    const std::uint8_t* signs = w.qs + qk_k / 8;
    const auto& t = iq2s_bytes.v;
    int32x4_t acc = vdupq_n_s32(0);
    for (int ib = 0; ib < 8; ++ib) {  // index l: qs byte | bits 2l, 2l+1 of qh << 8
        const unsigned qh = w.qh[ib];
        const std::uint8_t* q = w.qs + 4 * ib;
        const std::uint8_t* s = signs + 4 * ib;
        const int8x16_t g0 = vmulq_s8(points16(t[q[0] | (qh << 8 & 0x300u)], t[q[1] | (qh << 6 & 0x300u)]), sign_bytes16(s[0], s[1]));
        const int8x16_t g1 = vmulq_s8(points16(t[q[2] | (qh << 4 & 0x300u)], t[q[3] | (qh << 2 & 0x300u)]), sign_bytes16(s[2], s[3]));
        acc = scaled_dot16(acc, g0, a.qs + 32 * ib, w.scales[ib] & 0xfu);
        acc = scaled_dot16(acc, g1, a.qs + 32 * ib + 16, w.scales[ib] >> 4);
    }
    return vaddvq_s32(acc);
}

LOWBIT_GGUF_INLINE std::int32_t isum(const block_iq3_xxs& w, const block_q8_K& a) {
    const std::uint8_t* meta_bytes = w.qs + qk_k / 4;
    const auto& t = iq3xxs_bytes.v;
    const auto& m = iq_sign_masks.v;
    int32x4_t acc = vdupq_n_s32(0);
    for (int ib = 0; ib < 8; ++ib) {  // eight 4-value points; a 7-bit sign field covers two
        const std::uint32_t meta = load_u32le(meta_bytes + 4 * ib);
        const std::uint8_t* q = w.qs + 8 * ib;
        const int8x16_t g0 = vmulq_s8(points16(t[q[0]], t[q[1]], t[q[2]], t[q[3]]), points16(m[meta & 127u], m[(meta >> 7) & 127u]));
        const int8x16_t g1 = vmulq_s8(points16(t[q[4]], t[q[5]], t[q[6]], t[q[7]]), points16(m[(meta >> 14) & 127u], m[(meta >> 21) & 127u]));
        acc = scaled_dot32(acc, g0, g1, a.qs + 32 * ib, meta >> 28);
    }
    return vaddvq_s32(acc);
}

LOWBIT_GGUF_INLINE std::int32_t isum(const block_iq3_s& w, const block_q8_K& a) {
    const auto& t = iq3s_bytes.v;
    int32x4_t acc = vdupq_n_s32(0);
    for (int ib = 0; ib < 8; ++ib) {  // index k: qs byte | bit k of qh << 8; sign byte l covers values 8l .. 8l + 7
        const unsigned qh = w.qh[ib];
        const std::uint8_t* q = w.qs + 8 * ib;
        const std::uint8_t* s = w.signs + 4 * ib;
        std::uint32_t p[8];
        for (int k = 0; k < 8; ++k) p[k] = t[q[k] | ((qh >> k) & 1u) << 8];
        const int8x16_t g0 = vmulq_s8(points16(p[0], p[1], p[2], p[3]), sign_bytes16(s[0], s[1]));
        const int8x16_t g1 = vmulq_s8(points16(p[4], p[5], p[6], p[7]), sign_bytes16(s[2], s[3]));
        acc = scaled_dot32(acc, g0, g1, a.qs + 32 * ib, (w.scales[ib / 2] >> (4 * (ib % 2))) & 0xfu);
    }
    return vaddvq_s32(acc);
}

// IQ1_S: the points are 8 x level; the +-1 shift is one sign per 32 values,
// so its part, (2 s + 1) (+-1) sum a, comes from the activation bsums.
LOWBIT_GGUF_INLINE std::int32_t isum(const block_iq1_s& w, const block_q8_K& a) {
    const auto& t = iq1s_bytes.v;
    int32x4_t acc = vdupq_n_s32(0);
    std::int32_t shift = 0;
    for (int ib = 0; ib < 8; ++ib) {  // index l: qs byte | bits 3l .. 3l+2 of qh << 8
        const unsigned qh = w.qh[ib];
        const std::uint8_t* q = w.qs + 4 * ib;
        const int8x16_t g0 = points16(t[q[0] | (qh << 8 & 0x700u)], t[q[1] | (qh << 5 & 0x700u)]);
        const int8x16_t g1 = points16(t[q[2] | (qh << 2 & 0x700u)], t[q[3] | (qh >> 1 & 0x700u)]);
        const unsigned sc = (qh >> 12) & 7u;
        acc = scaled_dot32(acc, g0, g1, a.qs + 32 * ib, sc);
        const std::int32_t odd = static_cast<std::int32_t>(2 * sc + 1), sa = a.bsums[2 * ib] + a.bsums[2 * ib + 1];
        shift += (qh & 0x8000u) ? -odd * sa : odd * sa;
    }
    return vaddvq_s32(acc) + shift;
}

// IQ1_M: a shift sign per 8-value point, added to the 8 x level bytes (|byte| <= 9).
LOWBIT_GGUF_INLINE std::int32_t isum(const block_iq1_m& w, const block_q8_K& a) {
    const auto& t = iq1s_bytes.v;
    constexpr std::uint64_t plus = 0x0101010101010101u, minus = ~std::uint64_t{0};
    int32x4_t acc = vdupq_n_s32(0);
    for (int ib = 0; ib < 8; ++ib) {  // point k: bits 4k .. 4k+2 of the two qh bytes the index's high bits, 4k+3 the shift's sign
        const unsigned qh = load_u16le(w.qh + 2 * ib);
        const std::uint8_t* q = w.qs + 4 * ib;
        const int8x16_t g0 = vaddq_s8(points16(t[q[0] | (qh << 8 & 0x700u)], t[q[1] | (qh << 4 & 0x700u)]),
                                      points16(qh >> 3 & 1u ? minus : plus, qh >> 7 & 1u ? minus : plus));
        const int8x16_t g1 = vaddq_s8(points16(t[q[2] | (qh & 0x700u)], t[q[3] | (qh >> 4 & 0x700u)]),
                                      points16(qh >> 11 & 1u ? minus : plus, qh >> 15 & 1u ? minus : plus));
        const unsigned sc = load_u16le(w.scales + 2 * (ib / 2));
        acc = scaled_dot16(acc, g0, a.qs + 32 * ib, (sc >> (6 * (ib % 2))) & 7u);
        acc = scaled_dot16(acc, g1, a.qs + 32 * ib + 16, (sc >> (6 * (ib % 2) + 3)) & 7u);
    }
    return vaddvq_s32(acc);
}

template <class W>  // every lattice type: the model's lattice_term in block order
LOWBIT_GGUF_TGT inline float lattice_row_dot(const W* w, const block_q8_K* a, std::size_t nb) {
    float sum = 0.0f;
    for (std::size_t i = 0; i < nb; ++i)
        sum += lattice_term(a[i].d, to_f32(lattice_scale(w[i])), LOWBIT_GGUF_NS::isum(w[i], a[i]), lattice_unit(w[i]));
    return sum;
}
LOWBIT_GGUF_TGT inline float row_dot(const block_iq2_xxs* w, const block_q8_K* a, std::size_t nb) { return lattice_row_dot(w, a, nb); }
LOWBIT_GGUF_TGT inline float row_dot(const block_iq2_xs* w, const block_q8_K* a, std::size_t nb) { return lattice_row_dot(w, a, nb); }
LOWBIT_GGUF_TGT inline float row_dot(const block_iq2_s* w, const block_q8_K* a, std::size_t nb) { return lattice_row_dot(w, a, nb); }
LOWBIT_GGUF_TGT inline float row_dot(const block_iq3_xxs* w, const block_q8_K* a, std::size_t nb) { return lattice_row_dot(w, a, nb); }
LOWBIT_GGUF_TGT inline float row_dot(const block_iq3_s* w, const block_q8_K* a, std::size_t nb) { return lattice_row_dot(w, a, nb); }
LOWBIT_GGUF_TGT inline float row_dot(const block_iq1_s* w, const block_q8_K* a, std::size_t nb) { return lattice_row_dot(w, a, nb); }
LOWBIT_GGUF_TGT inline float row_dot(const block_iq1_m* w, const block_q8_K* a, std::size_t nb) { return lattice_row_dot(w, a, nb); }
