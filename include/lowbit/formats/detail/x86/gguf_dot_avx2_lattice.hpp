// lowbit/formats/detail/x86/gguf_dot_avx2_lattice.hpp — AVX2 copies of the
// lattice i-quant dot products of detail/gguf_dot_iq.hpp (IQ2_XXS, IQ2_XS,
// IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M). Private to formats/gguf_matmul.hpp,
// included only on x86 with GCC or Clang; read gguf_dot_avx2.hpp first.
//
// Per 32 values: the grid points are fetched as bytes (gguf_iq_grid_bytes.hpp)
// and their signs applied by one byte-wise sign (a grid byte is at most 62, so
// negating it is exact); a 7-bit sign field is one 64-bit mask of +-1 bytes
// (iq_sign_masks), stored sign bytes go through bit_mask32. How the points
// are fetched was measured on Zen 5 (ns per 256 values, a scratch harness):
// scalar loads at indices computed in general registers, passed straight to
// _mm256_set_* (IQ1_S 17.6, IQ2_S 22), beat one vpgatherdq per 32 values (21.6,
// 26); the copies before stored the points to an array and loaded that as a
// vector (IQ1_S 85, IQ2_S 82). Indices that take vector work (IQ3_S's ninth
// bit, IQ1's three high bits) are formed in vector registers for a chunk of
// up to 16 super-blocks and stored as 16-bit words, each then read by a movzx
// that the point's load indexes (stored_index_row_dot; IQ3_S: vpgatherdd
// before, 8 points a gather, on Zen 5 about 0.4 ns a point against about 0.2
// for a scalar load).
// The scales: the super-block's odd scales 2 s + 1 are formed once as int16
// words and broadcast per sub-block by one vpshufb (broadcast_scale).
// The signed bytes are dotted with the Q8_K activations by dot_s8_q8k, each
// 16-value pair scaled by the sub-block's integer scale 2 s + 1 — the sums of
// gguf_dot_iq.hpp, exactly. IQ1 dots unsigned bytes instead (see there).
// The term is the model's lattice_term.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../../../core/detail/x86_intrin.hpp"
#include "../gguf_dot_iq.hpp"
#include "../gguf_iq_grid_bytes.hpp"
#include "gguf_dot_avx2.hpp"

namespace lowbit {
namespace gguf {
namespace detail {
namespace avx2 {

#include "gguf_avx2_target_begin.inl"

LOWBIT_GGUF_AVX2_INLINE __m256i points8(std::uint64_t p0, std::uint64_t p1, std::uint64_t p2, std::uint64_t p3) {
    return _mm256_set_epi64x(static_cast<long long>(p3), static_cast<long long>(p2), static_cast<long long>(p1),
                             static_cast<long long>(p0));
}
// The +-1 masks of the four 7-bit sign fields at bits 0, 7, 14, 21 of meta.
LOWBIT_GGUF_AVX2_INLINE __m256i sign_masks4(std::uint32_t meta) {
    const auto& m = iq_sign_masks.v;
    return points8(m[meta & 127u], m[(meta >> 7) & 127u], m[(meta >> 14) & 127u], m[(meta >> 21) & 127u]);
}
// Stored sign bytes (bit j: value j negated) applied to 32 grid bytes.
LOWBIT_GGUF_AVX2_INLINE __m256i with_signs(__m256i grid, std::uint32_t signs) {
    return _mm256_sign_epi8(grid, _mm256_or_si256(bit_mask32(signs), _mm256_set1_epi8(1)));
}
LOWBIT_GGUF_AVX2_INLINE std::uint64_t u64_at(const std::uint8_t* p) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}
// The odd scales 2 s + 1 of a super-block as int16 words, formed once: word
// ib of both 128-bit lanes (one scale per 32 values), or word ib of lane 0
// and of lane 1 (the first and second 16 values' scales), so that
// broadcast_scale(sc8, ib) (one vpshufb) gives sub-block ib's madd factors.
LOWBIT_GGUF_AVX2_INLINE __m256i odd16(__m256i s) { return _mm256_add_epi16(_mm256_add_epi16(s, s), _mm256_set1_epi16(1)); }
// The scales in the top four bits of eight u32 words (dwords 0..7 of m).
LOWBIT_GGUF_AVX2_INLINE __m256i top4_scales(__m256i m) {
    const __m256i t = _mm256_packs_epi32(_mm256_srli_epi32(m, 28), _mm256_setzero_si256());  // lane L: words 4 L .. 4 L + 3
    return odd16(_mm256_broadcastsi128_si256(_mm256_castsi256_si128(_mm256_permute4x64_epi64(t, 0x08))));
}
// Eight bytes of two 4-bit scales (low: first 16 values): lane 0 the low nibbles, lane 1 the high ones.
LOWBIT_GGUF_AVX2_INLINE __m256i nibble_pair_scales(const std::uint8_t* scales) {
    const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(scales));
    const __m128i m4 = _mm_set1_epi8(0x0f);
    return odd16(_mm256_set_m128i(_mm_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(b, 4), m4)), _mm_cvtepu8_epi16(_mm_and_si128(b, m4))));
}

LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_iq2_xxs& w, const block_q8_K& a) {
    const auto* q = reinterpret_cast<const std::uint8_t*>(w.qs);
    // the u32 of each 8 bytes: dwords 1, 3 of each 128-bit lane of the two halves, then in order
    const __m256i m = _mm256_castps_si256(_mm256_shuffle_ps(_mm256_castsi256_ps(load32(q)), _mm256_castsi256_ps(load32(q + 32)), 0xdd));
    const __m256i sc8 = top4_scales(_mm256_permute4x64_epi64(m, 0xd8));  // lane order 0, 1, 4, 5 | 2, 3, 6, 7 -> 0 .. 7
    __m256i acc = _mm256_setzero_si256();
    LOWBIT_UNROLL
    for (int ib = 0; ib < 8; ++ib, q += 8) {
        const std::uint32_t meta = u32_at(q + 4);
        const auto& t = iq2xxs_bytes.v;
        const __m256i g = _mm256_sign_epi8(points8(t[q[0]], t[q[1]], t[q[2]], t[q[3]]), sign_masks4(meta));
        acc = _mm256_add_epi32(acc, dot_s8_q8k(g, load32(a.qs + 32 * ib), broadcast_scale(sc8, ib)));
    }
    return hsum(acc);
}

LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_iq2_xs& w, const block_q8_K& a) {
    const auto* q = reinterpret_cast<const std::uint8_t*>(w.qs);
    const __m256i sc8 = nibble_pair_scales(w.scales);
    __m256i acc = _mm256_setzero_si256();
    LOWBIT_UNROLL
    for (int ib = 0; ib < 8; ++ib, q += 8) {  // four 16-bit words: 9-bit index, 7-bit sign field
        const std::uint16_t v0 = u16_at(q), v1 = u16_at(q + 2), v2 = u16_at(q + 4), v3 = u16_at(q + 6);
        const auto& t = iq2xs_bytes.v;
        const auto& m = iq_sign_masks.v;
        const __m256i g = _mm256_sign_epi8(points8(t[v0 & 511], t[v1 & 511], t[v2 & 511], t[v3 & 511]),
                                           points8(m[v0 >> 9], m[v1 >> 9], m[v2 >> 9], m[v3 >> 9]));
        acc = _mm256_add_epi32(acc, dot_s8_q8k(g, load32(a.qs + 32 * ib), broadcast_scale(sc8, ib)));
    }
    return hsum(acc);
}

LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_iq2_s& w, const block_q8_K& a) {
    const std::uint8_t* signs = w.qs + qk_k / 8;
    const __m256i sc8 = nibble_pair_scales(w.scales);
    __m256i acc = _mm256_setzero_si256();
    LOWBIT_UNROLL
    for (int ib = 0; ib < 8; ++ib) {  // index l: qs byte | bits 2l, 2l+1 of qh << 8
        const unsigned qh = w.qh[ib];
        const std::uint8_t* q = w.qs + 4 * ib;
        const auto& t = iq2s_bytes.v;
        const __m256i pts = points8(t[q[0] | (qh << 8 & 0x300u)], t[q[1] | (qh << 6 & 0x300u)], t[q[2] | (qh << 4 & 0x300u)],
                                    t[q[3] | (qh << 2 & 0x300u)]);
        const __m256i g = with_signs(pts, u32_at(signs + 4 * ib));
        acc = _mm256_add_epi32(acc, dot_s8_q8k(g, load32(a.qs + 32 * ib), broadcast_scale(sc8, ib)));
    }
    return hsum(acc);
}

LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_iq3_xxs& w, const block_q8_K& a) {
    const std::uint8_t* meta_bytes = w.qs + qk_k / 4;
    const __m256i sc8 = top4_scales(load32(meta_bytes));
    __m256i acc = _mm256_setzero_si256();
    LOWBIT_UNROLL
    for (int ib = 0; ib < 8; ++ib) {  // eight 4-value points; a sign field covers two
        const std::uint32_t meta = u32_at(meta_bytes + 4 * ib);
        const auto& t = iq3xxs_bytes.v;
        const std::uint8_t* q = w.qs + 8 * ib;
        const __m256i points = _mm256_setr_epi32(static_cast<int>(t[q[0]]), static_cast<int>(t[q[1]]), static_cast<int>(t[q[2]]),
                                                 static_cast<int>(t[q[3]]), static_cast<int>(t[q[4]]), static_cast<int>(t[q[5]]),
                                                 static_cast<int>(t[q[6]]), static_cast<int>(t[q[7]]));
        const __m256i g = _mm256_sign_epi8(points, sign_masks4(meta));
        acc = _mm256_add_epi32(acc, dot_s8_q8k(g, load32(a.qs + 32 * ib), broadcast_scale(sc8, ib)));
    }
    return hsum(acc);
}

// IQ3_S's 64 indices m = 8 ib + k: qs byte | bit k of qh[ib] << 8, formed 16
// at a time in vector registers and stored (the row in chunks, as IQ1's
// below: stored_index_row_dot).
LOWBIT_GGUF_AVX2_INLINE void store_indices(const block_iq3_s& w, std::uint16_t* idx) {
    const __m256i qh = _mm256_set1_epi64x(static_cast<long long>(u64_at(w.qh)));
    const __m256i bit = _mm256_setr_epi16(1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
    const __m256i up = _mm256_setr_epi16(256, 128, 64, 32, 16, 8, 4, 2, 256, 128, 64, 32, 16, 8, 4, 2);
    LOWBIT_UNROLL
    for (int g = 0; g < 4; ++g) {  // words of lane L: qh byte 2 g + L
        const char b0 = static_cast<char>(2 * g), b1 = static_cast<char>(2 * g + 1), z = static_cast<char>(0x80);
        const __m256i spread = _mm256_shuffle_epi8(qh, _mm256_setr_epi8(b0, z, b0, z, b0, z, b0, z, b0, z, b0, z, b0, z, b0, z,  //
                                                                        b1, z, b1, z, b1, z, b1, z, b1, z, b1, z, b1, z, b1, z));
        const __m256i lo = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.qs + 16 * g)));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(idx + 16 * g), _mm256_or_si256(lo, _mm256_mullo_epi16(_mm256_and_si256(spread, bit), up)));
    }
}
// idx: what store_indices stored for w.
LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_iq3_s& w, const block_q8_K& a, const volatile std::uint16_t* idx) {
    // sub-block ib's scale: nibble ib % 2 of scales[ib / 2]
    const __m128i b = _mm_cvtsi32_si128(static_cast<int>(u32_at(w.scales)));
    const __m128i m4 = _mm_set1_epi8(0x0f);
    const __m256i sc8 = odd16(_mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_unpacklo_epi8(_mm_and_si128(b, m4), _mm_and_si128(_mm_srli_epi16(b, 4), m4)))));
    const auto& t = iq3s_bytes.v;
    __m256i acc = _mm256_setzero_si256();
    LOWBIT_UNROLL
    for (int ib = 0; ib < 8; ++ib) {
        const volatile std::uint16_t* i = idx + 8 * ib;
        const __m256i points = _mm256_setr_epi32(static_cast<int>(t[i[0]]), static_cast<int>(t[i[1]]), static_cast<int>(t[i[2]]),
                                                 static_cast<int>(t[i[3]]), static_cast<int>(t[i[4]]), static_cast<int>(t[i[5]]),
                                                 static_cast<int>(t[i[6]]), static_cast<int>(t[i[7]]));
        acc = _mm256_add_epi32(acc, dot_s8_q8k(with_signs(points, u32_at(w.signs + 4 * ib)), load32(a.qs + 32 * ib), broadcast_scale(sc8, ib)));
    }
    return hsum(acc);
}

// ---- IQ1_S, IQ1_M ------------------------------------------------------------------
// A row is taken in chunks of up to index_chunk super-blocks, in two passes:
// first the 32 grid indices of each super-block of the chunk are computed in
// vector registers and stored (times 2, so that the point's address is the
// table plus 4 x the stored word: a plain scaled-index load), then each
// super-block's points are read, one 16-bit load and one 64-bit load each.
// The stored words are read through a volatile pointer: otherwise GCC takes
// each word out of the vector register (vpextrw, 2 uops, and a shift, the
// copy before branch iq26) instead of loading it; and the chunk's stores are
// long done when the loads run, where with both passes per super-block the
// 16-bit loads wait on the 256-bit stores. On Zen 5 (a scratch harness, IQ1_S,
// ns per super-block): 12.6 vpextrw, 14.0 volatile loads one super-block at a
// time, 10.0 in chunks of 8, 9.3 in chunks of 16 (Q4_0: 19.5 per 256 values).
// IQ1_M's points of shift +1 from a 4096-entry table (the sign as index bit
// 11) instead of iq1m_plus measured 1.1x slower: 32 KiB of table against 16.
// The points are the unsigned bytes u = 8 (level + 1) (iq1_unsigned_bytes:
// 0, 8, 16), dotted with the activations by one maddubs and scaled by one
// madd whose int16 scale comes from a vector of the block's scales (one
// vpshufb); what u adds over 8 level +- 1, (8 -+ 1) per activation, comes off
// once per super-block with the bsums:
//   sum_j sc_j sum (8 g + d) a = sum_j sc_j sum u a - sum_j sc_j (8 - d) bsum_j.
// IQ1_M's shift is per point: its points of shift +1 get 2 more (u + 2 =
// 8 (g + 1) + d + 1), and 9 comes off per activation.
LOWBIT_GGUF_AVX2_INLINE std::uint64_t iq1_point(const volatile std::uint16_t* idx2, int p) {
    return u64_at(reinterpret_cast<const std::uint8_t*>(iq1_unsigned_bytes.v) + 4 * std::size_t{idx2[p]});
}
// Sub-block ib's four points: vmovq and vpinsrq from memory, one vinserti128
// (on Zen 5 about 10 % faster than four vpbroadcastq and three vpblendd).
LOWBIT_GGUF_AVX2_INLINE __m256i iq1_points4(const volatile std::uint16_t* idx2, int ib) {
    const __m128i lo = _mm_insert_epi64(_mm_cvtsi64_si128(static_cast<long long>(iq1_point(idx2, 4 * ib))),
                                        static_cast<long long>(iq1_point(idx2, 4 * ib + 1)), 1);
    const __m128i hi = _mm_insert_epi64(_mm_cvtsi64_si128(static_cast<long long>(iq1_point(idx2, 4 * ib + 2))),
                                        static_cast<long long>(iq1_point(idx2, 4 * ib + 3)), 1);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
}
// idx2[16 h + w] = 2 (qs byte | high << 8), the high bits picked out of the
// words that `spread` put at word w (one per half h), masked by `mask` and
// taken to bits 9..11 by `mult` (a power of two per word).
LOWBIT_GGUF_AVX2_INLINE void iq1_store_indices(const std::uint8_t* qs, __m256i spread0, __m256i spread1, __m256i mask, __m256i mult,
                                               std::uint16_t* idx2) {
    const __m256i spread[2] = {spread0, spread1};
    LOWBIT_UNROLL
    for (int h = 0; h < 2; ++h) {
        const __m256i lo = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs + 16 * h)));
        const __m256i hi = _mm256_mullo_epi16(_mm256_and_si256(spread[h], mask), mult);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(idx2 + 16 * h), _mm256_or_si256(_mm256_add_epi16(lo, lo), hi));
    }
}

// IQ1_S: per 32 values a u16 qh: the four indices' high bits (3 l .. 3 l + 2),
// the scale (12..14), the shift sign (15: -1).
LOWBIT_GGUF_AVX2_INLINE void store_indices(const block_iq1_s& w, std::uint16_t* idx2) {
    const __m256i qh2 = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.qh)));
    // word 4 ib + l of each half: qh[ib], masked to bits 3 l .. 3 l + 2 and times 2^(9 - 3 l)
    const __m256i spread0 = _mm256_shuffle_epi8(qh2, _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3,  //
                                                                      4, 5, 4, 5, 4, 5, 4, 5, 6, 7, 6, 7, 6, 7, 6, 7));
    const __m256i spread1 = _mm256_shuffle_epi8(qh2, _mm256_setr_epi8(8, 9, 8, 9, 8, 9, 8, 9, 10, 11, 10, 11, 10, 11, 10, 11,  //
                                                                      12, 13, 12, 13, 12, 13, 12, 13, 14, 15, 14, 15, 14, 15, 14, 15));
    iq1_store_indices(w.qs, spread0, spread1, _mm256_set1_epi64x(0x0e0001c000380007ll), _mm256_set1_epi64x(0x0001000800400200ll), idx2);
}
// idx2: what store_indices stored for w.
LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_iq1_s& w, const block_q8_K& a, const volatile std::uint16_t* idx2) {
    const __m128i qh = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.qh));
    // 2 s + 1 per sub-block (int16, in both 128-bit lanes), and 8 - d: 9 where bit 15 is set, else 7
    const __m128i odd = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(qh, 11), _mm_set1_epi16(14)), _mm_set1_epi16(1));
    const __m256i sc8 = _mm256_broadcastsi128_si256(odd);
    const __m128i coef = _mm_mullo_epi16(odd, _mm_add_epi16(_mm_set1_epi16(7), _mm_slli_epi16(_mm_srli_epi16(qh, 15), 1)));
    const __m256i off = _mm256_madd_epi16(load32(a.bsums), _mm256_set_m128i(_mm_unpackhi_epi16(coef, coef), _mm_unpacklo_epi16(coef, coef)));
    __m256i acc = _mm256_setzero_si256();
    LOWBIT_UNROLL
    for (int ib = 0; ib < 8; ++ib)
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(iq1_points4(idx2, ib), load32(a.qs + 32 * ib)),
                                                      broadcast_scale(sc8, ib)));
    return hsum(_mm256_sub_epi32(acc, off));
}

// +2 in the bytes of the points of a sub-block whose shift is +1: entry m
// (bit l set: point l's shift is -1) has 2 in qword l where bit l is clear.
constexpr grid_bytes<std::uint64_t, 64> iq1m_plus_table() noexcept {
    grid_bytes<std::uint64_t, 64> g{};
    for (int m = 0; m < 16; ++m)
        for (int l = 0; l < 4; ++l) g.v[4 * m + l] = (m >> l) & 1 ? 0 : 0x0202020202020202ull;
    return g;
}
alignas(32) inline constexpr auto iq1m_plus = iq1m_plus_table();
// The odd scales 2 s + 1 of IQ1_M's sixteen 16-value groups, as int16 words:
// word w holds group `ctrl`'s scale, 3 bits at 3 (group % 4) of scale word
// group / 4 (spread there by ctrl), masked by mask and brought down by an
// unsigned high multiply (mult = 2^(13 - 3 (group % 4)), after a << 3).
LOWBIT_GGUF_AVX2_INLINE __m256i iq1m_odd_scales(__m256i words, __m256i ctrl, __m256i mask, __m256i mult) {
    return odd16(_mm256_mulhi_epu16(_mm256_slli_epi16(_mm256_and_si256(_mm256_shuffle_epi8(words, ctrl), mask), 3), mult));
}
// IQ1_M: point p = 4 ib + 2 half + l: qh byte p / 2, nibble l = p % 2 (three
// high bits, then the shift's sign: 1 = -1).
LOWBIT_GGUF_AVX2_INLINE void store_indices(const block_iq1_m& w, std::uint16_t* idx2) {
    const __m256i qh2 = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.qh)));
    const char z = static_cast<char>(0x80);
    const __m256i spread0 = _mm256_shuffle_epi8(qh2, _mm256_setr_epi8(0, z, 0, z, 1, z, 1, z, 2, z, 2, z, 3, z, 3, z,  //
                                                                      4, z, 4, z, 5, z, 5, z, 6, z, 6, z, 7, z, 7, z));
    const __m256i spread1 = _mm256_shuffle_epi8(qh2, _mm256_setr_epi8(8, z, 8, z, 9, z, 9, z, 10, z, 10, z, 11, z, 11, z,  //
                                                                      12, z, 12, z, 13, z, 13, z, 14, z, 14, z, 15, z, 15, z));
    iq1_store_indices(w.qs, spread0, spread1, _mm256_set1_epi32(0x00700007), _mm256_set1_epi32(0x00200200), idx2);
}
LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_iq1_m& w, const block_q8_K& a, const volatile std::uint16_t* idx2) {
    const __m128i qh = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.qh));
    // the shift signs as 32 bits, bit p for point p (bit 3 of nibble 0 to bit 7 of the byte, beside nibble 1's bit 7)
    const __m128i up = _mm_slli_epi16(qh, 4);
    const std::uint32_t minus = static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_unpacklo_epi8(up, qh))) |
                                static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_unpackhi_epi8(up, qh))) << 16;
    // scales: lane L, word ib: group 2 ib + L (for the dots); natural order, group h at word h (for the bsums)
    const __m256i words = _mm256_set1_epi64x(static_cast<long long>(u64_at(w.scales)));
    const __m256i sc8 = iq1m_odd_scales(words,
                                        _mm256_setr_epi8(0, 1, 0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7,  //
                                                         0, 1, 0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7),
                                        _mm256_setr_epi16(7, 0x1c0, 7, 0x1c0, 7, 0x1c0, 7, 0x1c0, 0x38, 0xe00, 0x38, 0xe00, 0x38, 0xe00, 0x38, 0xe00),
                                        _mm256_setr_epi16(1 << 13, 1 << 7, 1 << 13, 1 << 7, 1 << 13, 1 << 7, 1 << 13, 1 << 7,  //
                                                          1 << 10, 1 << 4, 1 << 10, 1 << 4, 1 << 10, 1 << 4, 1 << 10, 1 << 4));
    const __m256i natural = iq1m_odd_scales(words,
                                            _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3,  //
                                                             4, 5, 4, 5, 4, 5, 4, 5, 6, 7, 6, 7, 6, 7, 6, 7),
                                            _mm256_set1_epi64x(0x0e0001c000380007ll),
                                            _mm256_set1_epi64x(static_cast<long long>(0x0010008004002000ull)));
    const __m256i off = _mm256_madd_epi16(load32(a.bsums), _mm256_mullo_epi16(natural, _mm256_set1_epi16(9)));
    __m256i acc = _mm256_setzero_si256();
    LOWBIT_UNROLL
    for (int ib = 0; ib < 8; ++ib) {
        const __m256i u = _mm256_add_epi8(iq1_points4(idx2, ib), load32(iq1m_plus.v + 4 * ((minus >> (4 * ib)) & 15u)));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, load32(a.qs + 32 * ib)), broadcast_scale(sc8, ib)));
    }
    return hsum(_mm256_sub_epi32(acc, off));
}

// The lattice types whose indices are stored first (IQ1_S, IQ1_M: 32 words
// a super-block, IQ3_S: 64): the row in chunks of up to index_chunk
// super-blocks, the chunk's indices first, then its terms in block order
// (lattice_term, summed from 0.0f as the model does).
constexpr std::size_t index_chunk = 16;
template <std::size_t Words, class W>
LOWBIT_GGUF_AVX2_INLINE float stored_index_row_dot(const W* w, const block_q8_K* a, std::size_t nb) {
    alignas(32) std::uint16_t idx[index_chunk][Words];
    float sum = 0.0f;
    for (std::size_t i0 = 0; i0 < nb; i0 += index_chunk) {
        const std::size_t n = nb - i0 < index_chunk ? nb - i0 : index_chunk;
        for (std::size_t c = 0; c < n; ++c) store_indices(w[i0 + c], idx[c]);
        for (std::size_t c = 0; c < n; ++c) {
            const std::size_t i = i0 + c;
            sum += lattice_term(a[i].d, h2f(lattice_scale(w[i])), avx2::isum(w[i], a[i], idx[c]), lattice_unit(w[i]));
        }
    }
    return sum;
}
template <>
LOWBIT_GGUF_AVX2 inline float row_dot(const block_iq1_s* w, const block_q8_K* a, std::size_t nb) {
    return stored_index_row_dot<32>(w, a, nb);
}
template <>
LOWBIT_GGUF_AVX2 inline float row_dot(const block_iq1_m* w, const block_q8_K* a, std::size_t nb) {
    return stored_index_row_dot<32>(w, a, nb);
}
template <>
LOWBIT_GGUF_AVX2 inline float row_dot(const block_iq3_s* w, const block_q8_K* a, std::size_t nb) {
    return stored_index_row_dot<64>(w, a, nb);
}
template <class W>  // the lattice types with an f16 d
LOWBIT_GGUF_AVX2 inline float lattice_row_dot(const W* w, const block_q8_K* a, std::size_t nb) {
    float sum = 0.0f;
    for (std::size_t i = 0; i < nb; ++i) sum += lattice_term(a[i].d, h2f(w[i].d), avx2::isum(w[i], a[i]), lattice_unit(w[i]));
    return sum;
}
#define LOWBIT_GGUF_LATTICE_ROW(T)                                                           \
    template <>                                                                              \
    LOWBIT_GGUF_AVX2 inline float row_dot(const T* w, const block_q8_K* a, std::size_t nb) { \
        return lattice_row_dot(w, a, nb);                                                    \
    }
LOWBIT_GGUF_LATTICE_ROW(block_iq2_xxs)
LOWBIT_GGUF_LATTICE_ROW(block_iq2_xs)
LOWBIT_GGUF_LATTICE_ROW(block_iq2_s)
LOWBIT_GGUF_LATTICE_ROW(block_iq3_xxs)
#undef LOWBIT_GGUF_LATTICE_ROW

#include "gguf_avx2_target_end.inl"

}  // namespace avx2
}  // namespace detail
}  // namespace gguf
}  // namespace lowbit
