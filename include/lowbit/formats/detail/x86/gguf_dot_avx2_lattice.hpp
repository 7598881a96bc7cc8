// lowbit/formats/detail/x86/gguf_dot_avx2_lattice.hpp — AVX2 copies of the
// lattice i-quant dot products of detail/gguf_dot_iq.hpp (IQ2_XXS, IQ2_XS,
// IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M). Private to formats/gguf_matmul.hpp,
// included only on x86 with GCC or Clang; read gguf_dot_avx2.hpp first.
//
// Per 32 values: the grid points are gathered as bytes (gguf_iq_grid_bytes.hpp,
// one 64-bit or 32-bit load per point), their signs applied (a grid byte is at
// most 62, so negating it is exact), and the signed bytes dotted with the Q8_K
// activations by dot_s8_q8k, each 16-value pair scaled by the sub-block's
// integer scale 2 s + 1 — the sums of gguf_dot_iq.hpp, exactly. IQ1 adds its
// +-1 shift to bytes of 8 x level. The term is the model's lattice_term.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "../gguf_dot_iq.hpp"
#include "../gguf_iq_grid_bytes.hpp"
#include "gguf_dot_avx2.hpp"

namespace lowbit {
namespace gguf {
namespace detail {
namespace avx2 {

#define LOWBIT_GGUF_AVX2 __attribute__((target("avx2,f16c")))
#define LOWBIT_GGUF_AVX2_INLINE LOWBIT_GGUF_AVX2 __attribute__((always_inline)) inline

LOWBIT_GGUF_AVX2_INLINE __m256i points8(std::uint64_t p0, std::uint64_t p1, std::uint64_t p2, std::uint64_t p3) {
    return _mm256_set_epi64x(static_cast<long long>(p3), static_cast<long long>(p2), static_cast<long long>(p1),
                             static_cast<long long>(p0));
}
// Byte l of `signs` is the sign byte of values 8l .. 8l+7: the grid bytes negated where its bits are set.
LOWBIT_GGUF_AVX2_INLINE __m256i with_signs(__m256i grid, std::uint32_t signs) {
    return _mm256_sign_epi8(grid, _mm256_or_si256(bit_mask32(signs), _mm256_set1_epi8(1)));
}
// The four sign bytes of four 7-bit fields (bits 7l .. 7l+6 of meta).
LOWBIT_GGUF_AVX2_INLINE std::uint32_t sign_bytes4(std::uint32_t meta) {
    std::uint32_t s = 0;
    for (int l = 0; l < 4; ++l) s |= static_cast<std::uint32_t>(iq_sign_bytes.v[(meta >> (7 * l)) & 127u]) << (8 * l);
    return s;
}
LOWBIT_GGUF_AVX2_INLINE __m256i odd_scale(unsigned s) { return _mm256_set1_epi16(static_cast<short>(2 * s + 1)); }
LOWBIT_GGUF_AVX2_INLINE __m256i odd_scales(unsigned lo, unsigned hi) {
    return lane_scales(static_cast<int>(2 * lo + 1), static_cast<int>(2 * hi + 1));
}

LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_iq2_xxs& w, const block_q8_K& a) {
    const auto* q = reinterpret_cast<const std::uint8_t*>(w.qs);
    __m256i acc = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ++ib, q += 8) {
        const std::uint32_t meta = load_u32le(q + 4);
        const __m256i g = points8(iq2xxs_bytes.v[q[0]], iq2xxs_bytes.v[q[1]], iq2xxs_bytes.v[q[2]], iq2xxs_bytes.v[q[3]]);
        acc = _mm256_add_epi32(acc, dot_s8_q8k(with_signs(g, sign_bytes4(meta)), load32(a.qs + 32 * ib), odd_scale(meta >> 28)));
    }
    return hsum(acc);
}

LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_iq2_xs& w, const block_q8_K& a) {
    const auto* q = reinterpret_cast<const std::uint8_t*>(w.qs);
    __m256i acc = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ++ib, q += 8) {
        std::uint16_t v[4];
        std::uint32_t signs = 0;
        for (int l = 0; l < 4; ++l) {
            v[l] = load_u16le(q + 2 * l);
            signs |= static_cast<std::uint32_t>(iq_sign_bytes.v[v[l] >> 9]) << (8 * l);
        }
        const __m256i g = points8(iq2xs_bytes.v[v[0] & 511], iq2xs_bytes.v[v[1] & 511], iq2xs_bytes.v[v[2] & 511],
                                  iq2xs_bytes.v[v[3] & 511]);
        acc = _mm256_add_epi32(acc, dot_s8_q8k(with_signs(g, signs), load32(a.qs + 32 * ib),
                                               odd_scales(w.scales[ib] & 0xfu, w.scales[ib] >> 4)));
    }
    return hsum(acc);
}

LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_iq2_s& w, const block_q8_K& a) {
    const std::uint8_t* signs = w.qs + qk_k / 8;
    __m256i acc = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ++ib) {
        std::uint64_t p[4];
        for (int l = 0; l < 4; ++l) p[l] = iq2s_bytes.v[w.qs[4 * ib + l] | ((w.qh[ib] >> (2 * l)) & 3u) << 8];
        const __m256i g = with_signs(points8(p[0], p[1], p[2], p[3]), load_u32le(signs + 4 * ib));
        acc = _mm256_add_epi32(acc, dot_s8_q8k(g, load32(a.qs + 32 * ib), odd_scales(w.scales[ib] & 0xfu, w.scales[ib] >> 4)));
    }
    return hsum(acc);
}

// Eight 4-value IQ3 points as 32 bytes.
LOWBIT_GGUF_AVX2_INLINE __m256i points4(const std::uint32_t* p) {
    return _mm256_setr_epi32(static_cast<int>(p[0]), static_cast<int>(p[1]), static_cast<int>(p[2]), static_cast<int>(p[3]),
                             static_cast<int>(p[4]), static_cast<int>(p[5]), static_cast<int>(p[6]), static_cast<int>(p[7]));
}

LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_iq3_xxs& w, const block_q8_K& a) {
    const std::uint8_t* meta_bytes = w.qs + qk_k / 4;
    __m256i acc = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ++ib) {
        const std::uint32_t meta = load_u32le(meta_bytes + 4 * ib);
        std::uint32_t p[8];
        for (int k = 0; k < 8; ++k) p[k] = iq3xxs_bytes.v[w.qs[8 * ib + k]];
        acc = _mm256_add_epi32(acc, dot_s8_q8k(with_signs(points4(p), sign_bytes4(meta)), load32(a.qs + 32 * ib),
                                               odd_scale(meta >> 28)));
    }
    return hsum(acc);
}

LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_iq3_s& w, const block_q8_K& a) {
    __m256i acc = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ++ib) {
        std::uint32_t p[8];
        for (int k = 0; k < 8; ++k) p[k] = iq3s_bytes.v[w.qs[8 * ib + k] | ((w.qh[ib] >> k) & 1u) << 8];
        const unsigned sc = (w.scales[ib / 2] >> (4 * (ib % 2))) & 0xfu;
        acc = _mm256_add_epi32(acc, dot_s8_q8k(with_signs(points4(p), load_u32le(w.signs + 4 * ib)), load32(a.qs + 32 * ib),
                                               odd_scale(sc)));
    }
    return hsum(acc);
}

// IQ1 bytes of one point: 8 x level, plus the shift +-1 (all-ones bytes for -1).
LOWBIT_GGUF_AVX2_INLINE std::uint64_t shift_bytes(bool minus) { return minus ? ~0ull : 0x0101010101010101ull; }

LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_iq1_s& w, const block_q8_K& a) {
    __m256i acc = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ++ib) {
        const unsigned qh = w.qh[ib];
        std::uint64_t p[4];
        for (int l = 0; l < 4; ++l) p[l] = iq1s_bytes.v[w.qs[4 * ib + l] | ((qh >> (3 * l)) & 7u) << 8];
        const __m256i g = _mm256_add_epi8(points8(p[0], p[1], p[2], p[3]),
                                          _mm256_set1_epi64x(static_cast<long long>(shift_bytes((qh & 0x8000) != 0))));
        acc = _mm256_add_epi32(acc, dot_s8_q8k(g, load32(a.qs + 32 * ib), odd_scale((qh >> 12) & 7u)));
    }
    return hsum(acc);
}

LOWBIT_GGUF_AVX2_INLINE std::int32_t isum(const block_iq1_m& w, const block_q8_K& a) {
    __m256i acc = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ++ib) {
        const unsigned sc = load_u16le(w.scales + 2 * (ib / 2));
        std::uint64_t p[4], sh[4];
        for (int k = 0; k < 4; ++k) {  // point k: half k / 2, l = k % 2
            const unsigned qh = w.qh[2 * ib + k / 2];
            const int l = k % 2;
            p[k] = iq1s_bytes.v[w.qs[4 * ib + k] | ((qh >> (4 * l)) & 7u) << 8];
            sh[k] = shift_bytes(((qh >> (4 * l + 3)) & 1) != 0);
        }
        const __m256i g = _mm256_add_epi8(points8(p[0], p[1], p[2], p[3]), points8(sh[0], sh[1], sh[2], sh[3]));
        const unsigned s0 = (sc >> (6 * (ib % 2))) & 7u, s1 = (sc >> (6 * (ib % 2) + 3)) & 7u;
        acc = _mm256_add_epi32(acc, dot_s8_q8k(g, load32(a.qs + 32 * ib), odd_scales(s0, s1)));
    }
    return hsum(acc);
}

template <>
LOWBIT_GGUF_AVX2 inline float row_dot(const block_iq1_m* w, const block_q8_K* a, std::size_t nb) {
    float sum = 0.0f;
    for (std::size_t i = 0; i < nb; ++i)
        sum += lattice_term(a[i].d, h2f(iq1_m_block_scale(w[i])), avx2::isum(w[i], a[i]), iq1_unit);
    return sum;
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
LOWBIT_GGUF_LATTICE_ROW(block_iq3_s)
LOWBIT_GGUF_LATTICE_ROW(block_iq1_s)
#undef LOWBIT_GGUF_LATTICE_ROW

#undef LOWBIT_GGUF_AVX2_INLINE
#undef LOWBIT_GGUF_AVX2

}  // namespace avx2
}  // namespace detail
}  // namespace gguf
}  // namespace lowbit
