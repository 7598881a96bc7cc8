// lowbit/formats/detail/gguf_dot.hpp — the scalar model of the GGUF-block dot
// products (docs/formats.md, "Matmul on GGUF blocks"). Private to
// formats/gguf_matmul.hpp.
//
// A weight row of GGUF blocks is dotted with an activation row quantized to
// ggml's activation blocks, paired as ggml's type_traits vec_dot_type pairs
// them: Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for the K-quants.
// The i-quants, ternary and MXFP4 blocks are in gguf_dot_iq.hpp.
// Each block splits in two parts, as in ggml's vec_dot:
//   1. an integer sum over the block's codes (exact: every kernel, scalar or
//      SIMD, must produce the same int32), and
//   2. a few float operations applying the block scales — the functions
//      `*_term` below, shared by every kernel copy and summed in block order.
// Products in part 2 go through gguf::detail::mul (an optimiser barrier), so no
// FMA is formed whatever the flags or the target attribute of the caller; the
// SIMD copies therefore equal this model bit for bit.
//
// The scalar code is written for clarity, not speed: it is the reference the
// SIMD copies are tested against.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../gguf_blocks.hpp"

namespace lowbit {
namespace gguf {
namespace detail {

// ---- part 2: scales, in float (shared by every kernel copy) ------------------------

// Q4_0 / Q5_0 / Q8_0 block against a Q8_0 block: (d_w * d_x) * isum.
// Scales arrive as floats (f16 fields already widened, exactly, by the caller:
// software here, F16C in the AVX2 copy).
inline float legacy_term(float d_w, float d_x, std::int32_t isum) noexcept {
    return mul(mul(d_w, d_x), static_cast<float>(isum));
}

// Q4_1 / Q5_1 block against a Q8_1 block: (d_w * d_x) * isum + m_w * s_x, where
// Q8_1's s = d_x * sum(a) carries the activation sum that the min multiplies.
inline float legacy_affine_term(float d_w, float m_w, float d_x, float s_x, std::int32_t isum) noexcept {
    return mul(mul(d_w, d_x), static_cast<float>(isum)) + mul(m_w, s_x);
}

// Q4_K / Q5_K super-block against Q8_K: (d_x d) * sum(sc * q.x) - (d_x dmin) * sum(m * bsum).
inline float kquant_affine_term(float d_x, float d, float dmin, std::int32_t sumi, std::int32_t summ) noexcept {
    return mul(mul(d_x, d), static_cast<float>(sumi)) - mul(mul(d_x, dmin), static_cast<float>(summ));
}

// Q6_K (and Q3_K, IQ4_XS, TQ1_0, TQ2_0) super-block against Q8_K: (d_x d) * sum(sc * q.x),
// q the signed code.
inline float kquant_symmetric_term(float d_x, float d, std::int32_t sumi) noexcept {
    return mul(mul(d_x, d), static_cast<float>(sumi));
}

// The eight 6-bit scales and mins of a Q4_K/Q5_K super-block, unpacked once.
struct k4_scales {
    std::uint8_t sc[8], mn[8];
};
inline k4_scales unpack_k4(const std::uint8_t* packed) noexcept {
    k4_scales s;
    for (int j = 0; j < 8; ++j) unpack_scale_k4(j, packed, &s.sc[j], &s.mn[j]);
    return s;
}

// sum over the eight 32-value sub-blocks of m_j * (sum of their activation
// codes), from Q8_K's 16-value bsums.
inline std::int32_t kquant_min_sum(const k4_scales& s, const block_q8_K& a) noexcept {
    std::int32_t summ = 0;
    for (int j = 0; j < 8; ++j) summ += static_cast<std::int32_t>(s.mn[j]) * (a.bsums[2 * j] + a.bsums[2 * j + 1]);
    return summ;
}

// ---- part 1: integer sums, by the block definitions of gguf_blocks.hpp --------------

inline std::int32_t isum(const block_q4_0& w, const block_q8_0& a) noexcept {
    std::int32_t s = 0;
    for (int j = 0; j < 16; ++j) {
        s += ((w.qs[j] & 0x0f) - 8) * a.qs[j];
        s += ((w.qs[j] >> 4) - 8) * a.qs[j + 16];
    }
    return s;
}

inline std::int32_t isum(const block_q5_0& w, const block_q8_0& a) noexcept {
    const std::uint32_t word = load_high_bits(w.qh);
    std::int32_t s = 0;
    for (int j = 0; j < 32; ++j) s += (q5_code(w.qs, word, j) - 16) * a.qs[j];
    return s;
}

// Q4_1 / Q5_1 codes are unsigned (0..15, 0..31): the min is applied in the term.
inline std::int32_t isum(const block_q4_1& w, const block_q8_1& a) noexcept {
    std::int32_t s = 0;
    for (int j = 0; j < 16; ++j) s += (w.qs[j] & 0x0f) * a.qs[j] + (w.qs[j] >> 4) * a.qs[j + 16];
    return s;
}

inline std::int32_t isum(const block_q5_1& w, const block_q8_1& a) noexcept {
    const std::uint32_t word = load_high_bits(w.qh);
    std::int32_t s = 0;
    for (int j = 0; j < 32; ++j) s += q5_code(w.qs, word, j) * a.qs[j];
    return s;
}

inline std::int32_t isum(const block_q8_0& w, const block_q8_0& a) noexcept {
    std::int32_t s = 0;
    for (int j = 0; j < 32; ++j) s += w.qs[j] * a.qs[j];
    return s;
}

// sum_j sc_j * sum_{l in sub-block j} q_l * a_l  (codes only; mins in kquant_min_sum).
// Q4_K and Q5_K; Q5_K's codes take a fifth bit from qh (bit j of qh[l]).
template <bool FifthBit>
inline std::int32_t isum_k4(const std::uint8_t* qs, const std::uint8_t* qh, const k4_scales& scales, const block_q8_K& a) noexcept {
    std::int32_t s = 0;
    for (int j = 0; j < 8; ++j) {
        const std::uint8_t sc = scales.sc[j];
        const std::uint8_t* q = qs + 32 * (j / 2);
        const int shift = 4 * (j % 2);
        std::int32_t sub = 0;
        for (int l = 0; l < 32; ++l) {
            int code = (q[l] >> shift) & 0x0f;
            if (FifthBit) code += ((qh[l] >> j) & 1) << 4;
            sub += code * a.qs[32 * j + l];
        }
        s += static_cast<std::int32_t>(sc) * sub;
    }
    return s;
}
inline std::int32_t isum(const block_q4_K& w, const k4_scales& scales, const block_q8_K& a) noexcept {
    return isum_k4<false>(w.qs, nullptr, scales, a);
}
inline std::int32_t isum(const block_q5_K& w, const k4_scales& scales, const block_q8_K& a) noexcept {
    return isum_k4<true>(w.qs, w.qh, scales, a);
}

// sum_j scale(j) * sum_{l < 16} code(j, l) * a_{16j + l}: the 16 sub-blocks of
// 16 values of Q2_K, Q3_K and Q6_K (integer sums: exact in any order).
template <class Scale, class Code>
inline std::int32_t isum_16x16(const block_q8_K& a, Scale scale, Code code) noexcept {
    std::int32_t s = 0;
    for (int j = 0; j < 16; ++j) {
        std::int32_t sub = 0;
        for (int l = 0; l < 16; ++l) sub += code(j, l) * a.qs[16 * j + l];
        s += scale(j) * sub;
    }
    return s;
}

// sum_s sc_s * sum_{v in sub-block s} (q_v - 32) * a_v, codes as in decode(block_q6_K).
inline std::int32_t isum(const block_q6_K& w, const block_q8_K& a) noexcept {
    return isum_16x16(
        a, [&](int j) { return static_cast<std::int32_t>(w.scales[j]); },
        [&](int j, int i) {
            const int v = 16 * j + i;
            const int h = v / 128, r = v % 128, quarter = r / 32, l = r % 32;
            const std::uint8_t lbyte = w.ql[64 * h + l + 32 * (quarter & 1)];
            const int low = quarter < 2 ? (lbyte & 0x0f) : (lbyte >> 4);
            const int high = (w.qh[32 * h + l] >> (2 * quarter)) & 3;
            return (low | (high << 4)) - 32;
        });
}

// Q2_K and Q3_K share a layout of 2-bit codes: sub-block j (16 values) sits in
// the 32-byte half j / 8, at byte offset 16 (j % 2), bits 2 ((j % 8) / 2).
inline int k2_code(const std::uint8_t* qs, int j, int l) noexcept {
    return (qs[32 * (j / 8) + 16 * (j % 2) + l] >> (2 * ((j % 8) / 2))) & 3;
}

// sum_j sc_j * sum_{l in sub-block j} q_l * a_l, sc the low nibble of scales[j].
inline std::int32_t isum(const block_q2_K& w, const block_q8_K& a) noexcept {
    return isum_16x16(
        a, [&](int j) { return static_cast<std::int32_t>(w.scales[j] & 0x0f); }, [&](int j, int l) { return k2_code(w.qs, j, l); });
}
// sum_j m_j * bsums[j], m the high nibble of scales[j] (the mins of Q2_K's 16-value sub-blocks).
inline std::int32_t q2k_min_sum(const block_q2_K& w, const block_q8_K& a) noexcept {
    std::int32_t s = 0;
    for (int j = 0; j < 16; ++j) s += (w.scales[j] >> 4) * a.bsums[j];
    return s;
}

// sum_j (sc_j - 32) * sum_l (q_l - 4 [third bit clear]) * a_l, codes as in decode(block_q3_K).
inline std::int32_t isum(const block_q3_K& w, const block_q8_K& a) noexcept {
    return isum_16x16(
        a, [&](int j) { return static_cast<std::int32_t>(unpack_scale_q3(j, w.scales)); },
        [&](int j, int l) {
            const int v = 16 * j + l;
            const int high = (w.hmask[v % 32] >> (v / 32)) & 1;
            return k2_code(w.qs, j, l) - (high ? 0 : 4);
        });
}

// ---- one block's float contribution ------------------------------------------------

template <class W>
inline float block_dot(const W& w, const block_q8_0& a) noexcept {
    return legacy_term(to_f32(w.d), to_f32(a.d), isum(w, a));
}
template <class W>  // Q4_K, Q5_K
inline float affine_k_block_dot(const W& w, const block_q8_K& a) noexcept {
    const k4_scales s = unpack_k4(w.scales);
    return kquant_affine_term(a.d, to_f32(w.d), to_f32(w.dmin), isum(w, s, a), kquant_min_sum(s, a));
}
template <class W>  // Q4_1, Q5_1
inline float block_dot(const W& w, const block_q8_1& a) noexcept {
    return legacy_affine_term(to_f32(w.d), to_f32(w.m), to_f32(a.d), to_f32(a.s), isum(w, a));
}
inline float block_dot(const block_q2_K& w, const block_q8_K& a) noexcept {
    return kquant_affine_term(a.d, to_f32(w.d), to_f32(w.dmin), isum(w, a), q2k_min_sum(w, a));
}
inline float block_dot(const block_q3_K& w, const block_q8_K& a) noexcept {
    return kquant_symmetric_term(a.d, to_f32(w.d), isum(w, a));
}
inline float block_dot(const block_q4_K& w, const block_q8_K& a) noexcept { return affine_k_block_dot(w, a); }
inline float block_dot(const block_q5_K& w, const block_q8_K& a) noexcept { return affine_k_block_dot(w, a); }
inline float block_dot(const block_q6_K& w, const block_q8_K& a) noexcept {
    return kquant_symmetric_term(a.d, to_f32(w.d), isum(w, a));
}

}  // namespace detail
}  // namespace gguf
}  // namespace lowbit
