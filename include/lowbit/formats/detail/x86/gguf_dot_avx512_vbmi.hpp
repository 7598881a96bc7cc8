// lowbit/formats/detail/x86/gguf_dot_avx512_vbmi.hpp — the IQ2_XXS, IQ2_XS,
// IQ2_S, IQ3_XXS, IQ3_S, IQ1_S and IQ1_M dot products for AVX-512 VNNI CPUs that also have
// AVX512_VBMI and AVX512_BITALG (Ice Lake, Zen 4 and later). Private to
// formats/gguf_matmul.hpp, included only on x86 with GCC or Clang; read
// gguf_dot_avx512_body.inl's lattice part first: this copy keeps its sums
// (u = 64 +- g unsigned against the activations, the 64 taken off with the
// bsums; maddubs pairs scaled by 2 s + 1 with vpdpwssd).
//
// What changes is how the grid points are found. The avx512vnni copy loads
// every point with a scalar load at an index computed in general registers
// and assembles the zmm from them (about two instructions a point, plus the
// index arithmetic). Here the grid stays compact, the 16-bit code of each
// point (iq_grids::*_index: 2 bits per coordinate for the 8-wide grids, 3 for
// the 4-wide ones), held as two byte planes (low, high byte of each code):
//   1. one vpermb (vpermi2b) puts a super-block's index bytes (two blocks'
//      for the 32-point grids) in the order the expansion wants, then each
//      plane is looked up by vpermi2b, 128 entries per instruction, index
//      bits 7, 8, 9 choosing among the results by mask (IQ2_S's high plane
//      instead by rank: iq2s_high); vpunpck{l,h}bw join the planes into
//      codes (the IQ2 types keep them apart);
//   2. per 64 values, vpmultishiftqb takes each coordinate's bits (2 or 3)
//      to the bottom of a byte and vpermb maps them to 64 + level (the
//      table, built at compile time, repeats every 4 or 8 entries, so the
//      bits above a coordinate's are ignored);
//   3. the signs are a mask register per 64 values, applied as 128 - u: the
//      block's sign bytes (IQ3_S), or sign bytes kept in a register and made
//      masks by vpshufbitqmb (BITALG): the 7-bit fields turned into sign
//      bytes by a vpermi2b through the 128-entry iq_sign_byte table (its
//      eighth bit, the parity, comes with it), or IQ2_S's stored ones. The
//      IQ2 types instead move each value's sign bit next to its coordinate
//      bits, and the vpermb of step 2 maps both to 64 +- level.
// IQ2_XXS, IQ2_XS and IQ2_S read activations of their own layout
// (block_q8_K_groups: Q8_K by 16-value group), so that one vpdpbusd
// accumulator and one vpmulld by the scales serve a block's four chunks.
// IQ1_S and IQ1_M (2048 points, 11-bit indices) differ in steps 1 and 2:
// the low code byte from a 2048-entry plane, the high one from three
// 128-entry tables of runs of 16 indices, the values by vpternlogd (see
// "IQ1_S, IQ1_M" below); they have no signs.
// The eight terms of eight super-blocks are formed at once (the model's
// products, in its order) and summed one by one in block order. Gathers are
// no option on this Zen 5: one vpgatherdd of 16 values measured 34 ns.
// The CPU is checked by the kernel table (needs_avx512vbmi) before any of
// this runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../../../core/detail/x86_intrin_vlbw.hpp"
#include "../../gguf_rows.hpp"
#include "gguf_dot_avx512.hpp"

namespace lowbit {
namespace gguf {
namespace detail {
namespace avx512vbmi {

#define LOWBIT_GGUF_VBMI __attribute__((target("avx2,f16c,avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi,avx512bitalg")))
#define LOWBIT_GGUF_VBMI_INLINE LOWBIT_GGUF_VBMI __attribute__((always_inline)) inline

using avx512vnni::fold;
using avx512vnni::load64;
using avx512vnni::h2f;
using avx512vnni::hsum;
using avx512vnni::load32;

// The iq_sign_byte of every 7-bit field, for vpermi2b.
constexpr grid_bytes<std::uint8_t, 128> expand_sign_bytes() noexcept {
    grid_bytes<std::uint8_t, 128> g{};
    for (unsigned s = 0; s < 128; ++s) g.v[s] = iq_grids::iq_sign_byte(s);
    return g;
}
alignas(64) inline constexpr auto sign_bytes = expand_sign_bytes();
// Byte `shift / 8` of each 16-bit code: the codes are looked up as two byte
// planes, 128 entries per vpermi2b (vpermi2w serves only 64 per instruction).
template <std::size_t N>
constexpr grid_bytes<std::uint8_t, N> code_plane(const std::uint16_t (&index)[N], int shift) noexcept {
    grid_bytes<std::uint8_t, N> g{};
    for (std::size_t i = 0; i < N; ++i) g.v[i] = static_cast<std::uint8_t>(index[i] >> shift);
    return g;
}
alignas(64) inline constexpr auto iq2xxs_lo = code_plane(iq_grids::iq2xxs_index, 0);
alignas(64) inline constexpr auto iq2xxs_hi = code_plane(iq_grids::iq2xxs_index, 8);
alignas(64) inline constexpr auto iq2xs_lo = code_plane(iq_grids::iq2xs_index, 0);
alignas(64) inline constexpr auto iq2xs_hi = code_plane(iq_grids::iq2xs_index, 8);
alignas(64) inline constexpr auto iq2s_lo = code_plane(iq_grids::iq2s_index, 0);
alignas(64) inline constexpr auto iq3xxs_lo = code_plane(iq_grids::iq3xxs_index, 0);
alignas(64) inline constexpr auto iq3xxs_hi = code_plane(iq_grids::iq3xxs_index, 8);
alignas(64) inline constexpr auto iq3s_lo = code_plane(iq_grids::iq3s_index, 0);
alignas(64) inline constexpr auto iq3s_hi = code_plane(iq_grids::iq3s_index, 8);

// The vpermb tables of the levels: byte i = 64 + levels[i % n], n = 4 for the
// 8-wide grids' 2-bit coordinates (level 3 unused), 8 for the 4-wide grids'
// 3-bit ones (the bits above a coordinate's, another coordinate's, are
// ignored). Built at compile time: filled on the stack per row and loaded
// back, they cost the IQ3 types a quarter of their time.
constexpr grid_bytes<std::uint8_t, 64> level_bytes(const std::uint8_t* levels, int n) noexcept {
    grid_bytes<std::uint8_t, 64> g{};
    for (int i = 0; i < 64; ++i) g.v[i] = static_cast<std::uint8_t>(64 + (i % n < 3 || n == 8 ? levels[i % n] : 0));
    return g;
}
alignas(64) inline constexpr auto iq2_level_bytes = level_bytes(iq_grids::iq2_levels, 4);
// The IQ2 types' table with the sign in the index: byte i = 64 + level[i % 4]
// where bit 2 of i is clear, 64 - level[i % 4] (apply_signs's 128 - u) where
// it is set, repeating every 8 (iq2_step puts the sign bit at bit 2).
constexpr grid_bytes<std::uint8_t, 64> signed_level_bytes(const std::uint8_t* levels) noexcept {
    grid_bytes<std::uint8_t, 64> g{};
    for (int i = 0; i < 64; ++i) {
        const int level = i % 4 < 3 ? levels[i % 4] : 0;
        g.v[i] = static_cast<std::uint8_t>(i & 4 ? 64 - level : 64 + level);
    }
    return g;
}
alignas(64) inline constexpr auto iq2_signed_level_bytes = signed_level_bytes(iq_grids::iq2_levels);
alignas(64) inline constexpr auto iq3xxs_level_bytes = level_bytes(iq_grids::iq3xxs_levels, 8);
alignas(64) inline constexpr auto iq3s_level_bytes = level_bytes(iq_grids::iq3s_levels, 8);

// The unmasked forms through all-ones masks: GCC 12 warns -Wmaybe-uninitialized
// inside the unmasked intrinsics (their undefined merge source, GCC PR 105593);
// the masked forms are written out where used (vpshufd, vpunpck*dq, vshufi64x2, vpermd).
LOWBIT_GGUF_VBMI_INLINE __m512i vpermb(__m512i idx, __m512i t) { return _mm512_maskz_permutexvar_epi8(~0ull, idx, t); }
LOWBIT_GGUF_VBMI_INLINE __m512i multishift(__m512i shifts, __m512i x) { return _mm512_maskz_multishift_epi64_epi8(~0ull, shifts, x); }
LOWBIT_GGUF_VBMI_INLINE __m256i multishift256(__m256i shifts, __m256i x) { return _mm256_maskz_multishift_epi64_epi8(~0u, shifts, x); }

LOWBIT_GGUF_VBMI_INLINE __m512i zext(__m256i x) { return _mm512_maskz_mov_epi64(0x0f, _mm512_castsi256_si512(x)); }

// ---- looking codes up ---------------------------------------------------------------
// Bytes of a 256-, 512- or 1024-entry byte table at the byte indices of idx:
// bit 7 of each index (b7) and the ninth and tenth bits (b8, b9) choose by mask.
LOWBIT_GGUF_VBMI_INLINE __m512i bytes128(const std::uint8_t* t, __m512i idx) {
    return _mm512_permutex2var_epi8(_mm512_load_si512(t), idx, _mm512_load_si512(t + 64));
}
LOWBIT_GGUF_VBMI_INLINE __m512i bytes256(const std::uint8_t* t, __m512i idx, __mmask64 b7) {
    return _mm512_mask_mov_epi8(bytes128(t, idx), b7, bytes128(t + 128, idx));
}
LOWBIT_GGUF_VBMI_INLINE __m512i bytes512(const std::uint8_t* t, __m512i idx, __mmask64 b7, __mmask64 b8) {
    return _mm512_mask_mov_epi8(bytes256(t, idx, b7), b8, bytes256(t + 256, idx, b7));
}
LOWBIT_GGUF_VBMI_INLINE __m512i bytes1024(const std::uint8_t* t, __m512i idx, __mmask64 b7, __mmask64 b8, __mmask64 b9) {
    return _mm512_mask_mov_epi8(bytes512(t, idx, b7, b8), b9, bytes512(t + 512, idx, b7, b8));
}

// IQ2_S's high code bytes by rank: iq2s_index is ascending, so the high byte
// (coordinates 4..7) never falls as the index grows and takes each of its 81
// values in one run; its rank (0..80, the how-many-th value) is the rank at
// the start of the index's run of 8 (i >> 3: 128 runs) plus the steps within
// the run up to the index (bit j of a run's step byte: the high byte changes
// between i - 1 and i, j = i % 8). Three 128-entry vpermi2b (run start rank,
// steps, the byte of a rank), a vpermb (the bits 1..j), a vpopcntb: 8
// port-5 uops on Intel for 64 indices where bytes1024 takes 16.
struct iq2s_rank_tables {
    std::uint8_t base[128], steps[128], high[128];
    bool ok;  // every index's high byte is high[base + popcount(steps & bits 1..j)]
};
constexpr iq2s_rank_tables make_iq2s_rank_tables() noexcept {
    iq2s_rank_tables t{};
    int rank[1024] = {};
    t.ok = true;
    for (int i = 0; i < 1024; ++i) {
        const int h = iq_grids::iq2s_index[i] >> 8;
        if (i > 0 && h < (iq_grids::iq2s_index[i - 1] >> 8)) t.ok = false;
        rank[i] = i == 0 ? 0 : rank[i - 1] + (h != (iq_grids::iq2s_index[i - 1] >> 8));
        if (rank[i] >= 128) {
            t.ok = false;
            return t;
        }
        t.high[rank[i]] = static_cast<std::uint8_t>(h);
        if (i % 8 == 0) t.base[i / 8] = static_cast<std::uint8_t>(rank[i]);
        else if (rank[i] != rank[i - 1]) t.steps[i / 8] = static_cast<std::uint8_t>(t.steps[i / 8] | 1u << (i % 8));
    }
    for (int i = 0; i < 1024; ++i) {
        const unsigned upto = (2u << (i % 8)) - 2u, steps = t.steps[i / 8] & upto;
        int n = 0;
        for (unsigned s = steps; s; s &= s - 1) ++n;
        if (t.high[t.base[i / 8] + n] != (iq_grids::iq2s_index[i] >> 8)) t.ok = false;
    }
    return t;
}
alignas(64) inline constexpr iq2s_rank_tables iq2s_ranks = make_iq2s_rank_tables();
static_assert(iq2s_ranks.ok, "iq2s_index: the high bytes are not a non-decreasing run");
// The 64-byte vpermb table of the bits 1..j (j = i % 8, repeating every 8).
constexpr grid_bytes<std::uint8_t, 64> make_steps_upto() noexcept {
    grid_bytes<std::uint8_t, 64> g{};
    for (int i = 0; i < 64; ++i) g.v[i] = static_cast<std::uint8_t>((2u << (i % 8)) - 2u);
    return g;
}
alignas(64) inline constexpr auto steps_upto = make_steps_upto();
// The high code bytes of the 10-bit indices idx | b8 << 8 | b9 << 9.
LOWBIT_GGUF_VBMI_INLINE __m512i iq2s_high(__m512i idx, __mmask64 b8, __mmask64 b9) {
    const __m512i r0 = _mm512_and_si512(_mm512_srli_epi16(idx, 3), _mm512_set1_epi8(0x1f));  // i >> 3, bits 0..4
    const __m512i r1 = _mm512_mask_add_epi8(r0, b8, r0, _mm512_set1_epi8(0x20));
    const __m512i r = _mm512_mask_add_epi8(r1, b9, r1, _mm512_set1_epi8(0x40));
    const __m512i steps = _mm512_and_si512(bytes128(iq2s_ranks.steps, r), vpermb(idx, _mm512_load_si512(steps_upto.v)));
    return bytes128(iq2s_ranks.high, _mm512_add_epi8(bytes128(iq2s_ranks.base, r), _mm512_popcnt_epi8(steps)));
}

// ---- the point order -------------------------------------------------------------
// The super-block's indices are permuted (one vpermb, or one vpermi2b for a
// pair of blocks) before the lookup so that the codes come out where the
// expansion wants them:
//   8-wide grids (32 points a block, looked up per pair): the two code
//     planes stay apart, byte 8 q + 4 S + k of each the point 4 q + k of
//     block S (pair_pick, below; the expansion is coord_bits's);
//   4-wide grids (64 points, two zmm of words, built as lo | hi byte planes
//     interleaved by vpunpck{l,h}bw): qword p of codes[m] holds the points
//     2p, 2p + 1 of chunk 2m (words 0, 1) and of chunk 2m + 1 (words 2, 3).
// pick4(b): the point whose index goes to byte b of the vector whose unpacks
// give codes[0] (low bytes of each 128-bit lane) and codes[1].
constexpr int pick4(int b) {
    const int lane = b / 16, m = (b % 16) / 8, w = 8 * lane + b % 8;  // word w of codes[m]
    const int p = w / 4, s = w % 4;
    return 16 * (2 * m + s / 2) + 2 * p + s % 2;
}
template <class F>
constexpr long long qword_of(F f, int q, int per, int bits) {
    unsigned long long v = 0;
    for (int i = 0; i < per; ++i) v |= static_cast<unsigned long long>(f(per * q + i)) << (bits * i);
    return static_cast<long long>(v);
}
// The 64 bytes f(0) .. f(63), byte b at byte b (a vpermb, vpermi2b or
// vpmultishiftqb index; f is constexpr, so the vector is a constant).
template <class F>
LOWBIT_GGUF_VBMI_INLINE __m512i bytes_of(F f) {
    return _mm512_set_epi64(qword_of(f, 7, 8, 8), qword_of(f, 6, 8, 8), qword_of(f, 5, 8, 8), qword_of(f, 4, 8, 8),
                            qword_of(f, 3, 8, 8), qword_of(f, 2, 8, 8), qword_of(f, 1, 8, 8), qword_of(f, 0, 8, 8));
}
// The vpermb index that puts byte src(pick4(b)) at byte b.
template <class Src>
LOWBIT_GGUF_VBMI_INLINE __m512i pick4_bytes() {
    constexpr auto f = [](int b) { return Src{}(pick4(b)); };
    return bytes_of(f);
}

// ---- expanding and dotting a chunk --------------------------------------------------
// 64 + g where the sign bit is clear, 64 - g where it is set (u = 64 + g given).
LOWBIT_GGUF_VBMI_INLINE __m512i apply_signs(__m512i u, __mmask64 minus) {
    return _mm512_mask_sub_epi8(u, minus, _mm512_set1_epi8(static_cast<char>(128)), u);
}
// Chunk k of a 4-wide grid: words 2 (k % 2), 2 (k % 2) + 1 of each qword of
// codes[k / 2], three bits per coordinate.
template <int K>
LOWBIT_GGUF_VBMI_INLINE __m512i expand4(const __m512i* codes, __m512i levels) {
    constexpr long long s = 0x1916131009060300ll + 0x2020202020202020ll * (K % 2);
    return vpermb(multishift(_mm512_set1_epi64(s), codes[K / 2]), levels);
}

// What a super-block leaves for its chunks.
struct vbmi_block {
    __m512i codes[2];           // 16-bit grid codes in the point order above (IQ1: codes[0] only; IQ2: the pair's two byte planes)
    __m256i sc16;               // 2 s + 1 per 16 values (IQ3, IQ1)
    __m512i sc32;               // IQ2: 2 s + 1 of 16-value group p in dword p
    const std::uint8_t* signs;  // stored sign bytes (IQ3_S): bit v of bytes 8k .. 8k + 7, value 64 k + v negated
    __m512i sign_t;             // IQ3_XXS: built sign bytes, transposed (sign_transpose); IQ2: sign bytes by group (iq2_sign_bits)
    __m256i off16;              // IQ1: what comes off per activation of a 16-value group (iq1_lanes)
    __m512i base;               // IQ1_M: per point 64 | 2 (shift +1) or 64 (shift -1), A's points 0..31, B's 32..63
};
// What a row's blocks share: the level table and the sign-byte table.
struct vbmi_consts {
    __m512i levels, sign_lo, sign_hi;  // the level table (level_bytes), the iq_sign_byte table
};
// Sign bytes built from 7-bit fields stay in a register: 64 of them (two
// blocks', A's first, or one block's 32) are transposed so that qword p holds
// sign byte 8k + p of A in byte k and of B in byte 4 + k (k < 4): then
// vpshufbitqmb makes chunk k's mask from it (bit j of byte k or 4 + k of
// every qword), with no store and no move through a general register.
LOWBIT_GGUF_VBMI_INLINE __m512i sign_transpose(__m512i sign_bytes64) {
    constexpr auto f = [](int b) {
        const int p = b / 8, s = b % 8;
        return 32 * (s / 4) + 8 * (s % 4) + p;
    };
    return vpermb(bytes_of(f), sign_bytes64);
}
// The sign bytes (iq_sign_byte) of 64 7-bit fields (bit 7 of each byte of f ignored), transposed.
LOWBIT_GGUF_VBMI_INLINE __m512i build_signs(__m512i f, const vbmi_consts& c) {
    return sign_transpose(_mm512_permutex2var_epi8(c.sign_lo, f, c.sign_hi));
}
// Eight u32 words per block, each four 7-bit sign fields (bits 0, 7, 14, 21)
// and a 4-bit scale (bits 28..31), one per 32 values (IQ2_XXS, IQ3_XXS):
// meta_scales gives the odd scales, meta_fields the fields as bytes in value
// order (of sixteen words: A's 32, then B's).
LOWBIT_GGUF_VBMI_INLINE void meta_scales(__m256i meta, vbmi_block& b) {
    const __m256i s = _mm256_srli_epi32(meta, 28);
    const __m256i o = _mm256_add_epi32(_mm256_add_epi32(s, s), _mm256_set1_epi32(1));
    b.sc16 = _mm256_or_si256(o, _mm256_slli_epi32(o, 16));
}
LOWBIT_GGUF_VBMI_INLINE __m512i meta_fields(__m512i meta16) {
    return multishift(_mm512_set1_epi64(0x352e2720150e0700ll), meta16);
}
// ---- IQ2_XXS, IQ2_XS, IQ2_S: activations by 16-value group ------------------------
// The 8-wide grids' copies read activations of their own layout (the entry's
// prepare writes it once per activation row, quantize_activations below):
// Q8_K's 256 values with each 64-byte chunk r (r < 4) holding four values of
// every 16-value group, dword p of chunk r = values 16 p + 4 r .. 16 p + 4 r + 3.
// Then dword p of every chunk belongs to group p: vpdpbusd sums u * a of a
// chunk into dword p, the four chunks into one accumulator, and one vpmulld
// by the scales (dword p: 2 s + 1 of group p) scales the block: no per-chunk
// scale vector (vpermw), no vpmaddubsw. The accumulator starts at
// -64 * (the sum of group p's activations), stored beside the values, which
// takes off the 64 of u = 64 +- g: the block's integer sum is the model's
// (sum_p (2 s_p + 1) sum_{v in p} (u_v - 64) a_v; exact in int32).
struct alignas(64) block_q8_K_groups {
    static constexpr int values = qk_k;
    std::int8_t qs[qk_k];          // chunk r (bytes 64 r ..): byte 4 p + i = Q8_K value 16 p + 4 r + i
    std::int32_t off[qk_k / 16];   // -64 * Q8_K's bsums[p]
    float d8[8];                   // block 8 j of a row: the d of its blocks 8 j .. 8 j + 7 (0 past the row's end)
    float d;                       // Q8_K's d
};
static_assert(sizeof(block_q8_K_groups) == 384, "six cache lines per super-block");
// A row of k values as Q8_K (the bytes of quantize_row_q8_K, so the same status
// on NaN/Inf), reordered in place from the last block back: block i's Q8_K
// bytes (292 from 292 i) are copied out before block i is written (384 from
// 384 i), and they lie below it, so later blocks' bytes are read before they
// are overwritten.
inline status quantize_activations(const float* x, block_q8_K_groups* y, std::int64_t k) noexcept {
    const status s = quantize_row_q8_K(x, reinterpret_cast<block_q8_K*>(y), k);
    if (!s) return s;
    static_assert(sizeof(block_q8_K) <= sizeof(block_q8_K_groups), "the Q8_K row fits in place");
    for (std::int64_t i = k / qk_k; i-- > 0;) {
        block_q8_K q;
        std::memcpy(&q, reinterpret_cast<const unsigned char*>(y) + i * static_cast<std::int64_t>(sizeof(block_q8_K)), sizeof q);
        block_q8_K_groups g{};
        for (int r = 0; r < 4; ++r)
            for (int p = 0; p < qk_k / 16; ++p) std::memcpy(g.qs + 64 * r + 4 * p, q.qs + 16 * p + 4 * r, 4);
        for (int p = 0; p < qk_k / 16; ++p) g.off[p] = -64 * static_cast<std::int32_t>(q.bsums[p]);
        g.d = q.d;
        if (i % 8 == 0) {  // blocks i + 1 .. i + 7 are written already
            g.d8[0] = q.d;
            for (std::int64_t j = 1; j < 8 && i + j < k / qk_k; ++j) g.d8[j] = y[i + j].d;
        }
        std::memcpy(static_cast<void*>(y + i), &g, sizeof g);
    }
    return {};
}

// The 8-wide grids have 32 points per super-block: two super-blocks (slots
// S = 0, 1: A, B) are looked up together, the index of point 4 q + k of
// block S at byte 8 q + 4 S + k of one vector (qword q: points 4 q .. 4 q + 3
// of both blocks, groups 2 q and 2 q + 1). The two code planes are kept as
// they come (codes[0] the low bytes, coordinates 0..3; codes[1] the high
// ones, 4..7): chunk r reads coordinates 4 (r % 2) .. 4 (r % 2) + 3 only, so
// of one plane, and no vpunpck joins them. The sign bytes of a pair are in
// this order too (iq2_sign_bits). pair_pick(src): the vpermi2b index (A's bytes
// 0..63, B's 64..127) taking byte src(point) of each block there.
template <class Src>
LOWBIT_GGUF_VBMI_INLINE __m512i pair_pick() {
    constexpr auto f = [](int b) {
        const int q = b / 8, s = (b % 8) / 4, k = b % 4;
        return 64 * s + Src{}(4 * q + k);
    };
    return bytes_of(f);
}
LOWBIT_GGUF_VBMI_INLINE void set_planes(__m512i lo, __m512i hi, vbmi_block& ba, vbmi_block& bb) {
    ba.codes[0] = bb.codes[0] = lo;
    ba.codes[1] = bb.codes[1] = hi;
}

// Where point p's index byte is: p itself (IQ2_S, IQ3_XXS, IQ3_S).
struct natural {
    constexpr int operator()(int point) const { return point; }
};

// The signs of a pair (sign_t): 64 sign bytes, qword q holding those of
// points 4 q .. 4 q + 3 of A in bytes 0..3 and of B in bytes 4..7, bit j of a
// byte negating coordinate j of its point. Chunk r's byte 4 e + i of qword q
// (value 16 (2 q + e) + 4 r + i: coordinate 4 (r % 2) + i of point
// 4 q + 2 e + r / 2) takes its sign from bit 32 Slot + 16 e + 4 r + i of
// qword q. IQ2_S's stored sign bits (bit v of byte n: value 8 n + v) are the
// same bits once qword q holds A's dword q and B's dword q (one vpermt2d).
// iq2_sign_bits<R> moves that bit to bit 2 of the byte (vpmultishiftqb
// offset 32 Slot + 16 e + 4 R + i - 2, mod 64), where iq2_step puts it into
// the level lookup's index; chunk R + 1's bit (4 above) lands at bit 6 of
// the same byte, so one vpmultishiftqb and a vpsrlw by 4 serve chunks R, R + 1
// (a mask per chunk by vpshufbitqmb, and a masked vpsubb, cost a port-5 uop
// more per chunk on Intel: docs/history/kernels.md, "Branch iq31").
template <int R, int Slot>
LOWBIT_GGUF_VBMI_INLINE __m512i iq2_sign_bits(__m512i sign_t) {
    constexpr auto f = [](int b) { return (32 * Slot + 16 * ((b % 8) / 4) + 4 * R + b % 4 + 62) % 64; };
    return multishift(bytes_of(f), sign_t);
}
// Chunk r's coordinate bits for the block in slot S: byte 4 e + i of qword q
// is coordinate 4 (r % 2) + i of point 4 q + 2 e + r / 2, in plane r % 2 byte
// 8 q + 4 S + 2 e + r / 2, bits 2 i: vpmultishiftqb offset
// 32 S + 16 e + 8 (r / 2) + 2 i puts them at bits 0, 1 of the byte (the bits
// above are the next coordinate's: iq2_step replaces bit 2, the level table
// repeats every 8 entries).
template <int R, int Slot>
LOWBIT_GGUF_VBMI_INLINE __m512i coord_bits(const __m512i* planes) {
    constexpr long long s = static_cast<long long>(0x1614121006040200ull + 0x0101010101010101ull * (32 * Slot + 8 * (R / 2)));
    return multishift(_mm512_set1_epi64(s), planes[R % 2]);
}
// IQ2_XXS: per 32 values (qword ib of qs: four index bytes, then a u32) a
// scale s in bits 28..31 of the u32: qword >> 59 is 2 s plus a sign bit in
// bit 0, so 2 s + 1 = (qword >> 59) | 1, put in both dwords of the qword
// (groups 2 ib, 2 ib + 1) by one vpternlogd (x | x << 32 | 1).
LOWBIT_GGUF_VBMI_INLINE __m512i iq2xxs_scales(__m512i q) {
    const __m512i x = _mm512_maskz_srli_epi64(0xff, q, 59);
    return _mm512_ternarylogic_epi32(x, _mm512_maskz_slli_epi64(0xff, x, 32), _mm512_set1_epi32(1), 0xfe);
}
// IQ2_XS, IQ2_S: eight scale bytes, two 4-bit scales each (low nibble first),
// group p's the nibble p of the 64-bit word. Dwords 0..7 hold its low u32,
// dwords 8..15 its high one (two vpbroadcastd from memory, the second under a
// mask); vprorvd turns dword p right by 4 (p % 8) - 1 (mod 32), which takes
// nibble p to bits 1..4, and one vpternlogd makes (x & 0x1e) | 1. No port-5
// uop on Intel, where a vpmultishiftqb of the broadcast u64 cost one.
LOWBIT_GGUF_VBMI_INLINE __m512i iq2_nibble_scales(const std::uint8_t* scales) {
    std::uint32_t lo, hi;
    std::memcpy(&lo, scales, 4);
    std::memcpy(&hi, scales + 4, 4);
    const __m512i v = _mm512_mask_set1_epi32(_mm512_set1_epi32(static_cast<int>(lo)), 0xff00, static_cast<int>(hi));
    const __m512i by_p = _mm512_setr_epi32(31, 3, 7, 11, 15, 19, 23, 27, 31, 3, 7, 11, 15, 19, 23, 27);
    return _mm512_ternarylogic_epi32(_mm512_maskz_rorv_epi32(0xffff, v, by_p), _mm512_set1_epi32(0x1e), _mm512_set1_epi32(1), 0xea);
}

// ---- IQ2_XXS: per 32 values four index bytes and a u32 (four sign fields, a scale)
struct iq2xxs_index_byte {
    constexpr int operator()(int point) const { return 8 * (point / 4) + point % 4; }
};
LOWBIT_GGUF_VBMI_INLINE void prep2(const block_iq2_xxs& wa, const block_iq2_xxs& wb, const vbmi_consts& c, vbmi_block& ba, vbmi_block& bb) {
    const __m512i qa = load64(wa.qs), qb = load64(wb.qs);  // qword ib: four index bytes, then the u32
    const __m512i idx = _mm512_permutex2var_epi8(qa, pair_pick<iq2xxs_index_byte>(), qb);
    const __mmask64 b7 = _mm512_movepi8_mask(idx);
    set_planes(bytes256(iq2xxs_lo.v, idx, b7), bytes256(iq2xxs_hi.v, idx, b7), ba, bb);
    ba.sc32 = iq2xxs_scales(qa);
    bb.sc32 = iq2xxs_scales(qb);
    // qword q: A's u32 q, then B's (dwords 2 q + 1 of each); its four 7-bit
    // fields each (points 4 q .. 4 q + 3) as bytes are iq2_sign_bits's order already
    const __m512i meta = _mm512_permutex2var_epi32(qa, _mm512_setr_epi32(1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31), qb);
    ba.sign_t = bb.sign_t = _mm512_permutex2var_epi8(c.sign_lo, meta_fields(meta), c.sign_hi);
}
// ---- IQ2_XS: per 8 values a u16 (9-bit index, 7-bit sign field); 4-bit scales per 16
struct low_byte_of_word {
    constexpr int operator()(int point) const { return 2 * point; }
};
struct high_byte_of_word {
    constexpr int operator()(int point) const { return 2 * point + 1; }
};
LOWBIT_GGUF_VBMI_INLINE void prep2(const block_iq2_xs& wa, const block_iq2_xs& wb, const vbmi_consts& c, vbmi_block& ba, vbmi_block& bb) {
    const __m512i qa = load64(wa.qs), qb = load64(wb.qs);
    const __m512i idx = _mm512_permutex2var_epi8(qa, pair_pick<low_byte_of_word>(), qb);
    const __m512i high = _mm512_permutex2var_epi8(qa, pair_pick<high_byte_of_word>(), qb);
    const __mmask64 b7 = _mm512_movepi8_mask(idx), b8 = _mm512_test_epi8_mask(high, _mm512_set1_epi8(1));
    set_planes(bytes512(iq2xs_lo.v, idx, b7, b8), bytes512(iq2xs_hi.v, idx, b7, b8), ba, bb);
    // The sign fields are the high bytes >> 1, already in iq2_sign_bits's order
    // (the lookup's): their sign bytes are looked up there (the bit that
    // vpsrlw moves into bit 7 of the low bytes is ignored by vpermi2b).
    ba.sign_t = bb.sign_t = _mm512_permutex2var_epi8(c.sign_lo, _mm512_maskz_srli_epi16(~0u, high, 1), c.sign_hi);
    ba.sc32 = iq2_nibble_scales(wa.scales);
    bb.sc32 = iq2_nibble_scales(wb.scales);
}
// ---- IQ2_S: 10-bit indices (qs byte | two bits of qh), stored sign bytes
struct qh_shift {  // bits 2 (point % 4), 2 (point % 4) + 1 of the point's qh byte
    constexpr int operator()(int point) const { return 2 * (point % 4); }
};
LOWBIT_GGUF_VBMI_INLINE void prep2(const block_iq2_s& wa, const block_iq2_s& wb, const vbmi_consts&, vbmi_block& ba, vbmi_block& bb) {
    const __m512i idx = _mm512_permutex2var_epi8(load64(wa.qs), pair_pick<natural>(), load64(wb.qs));
    // bits 8, 9 of point P = 4 q + k: bits 2 k, 2 k + 1 of the block's qh byte q
    // (bits 2 P, 2 P + 1 of its eight qh bytes as one u64). Qword q of h2: A's
    // qh byte q in bits 0..7, B's in bits 8..15: the two words broadcast, A's
    // rotated right by 8 q, B's by 8 q - 8 (vprorvq; B's rotated left by 8 in
    // a general register cost a vpbroadcastq from it, port 5 on Intel, where
    // both now broadcast from memory), joined by one vpternlogq (bits 0..7
    // from A's).
    std::uint64_t ha, hb;
    std::memcpy(&ha, wa.qh, 8);
    std::memcpy(&hb, wb.qh, 8);
    const __m512i ra = _mm512_maskz_rorv_epi64(0xff, _mm512_set1_epi64(static_cast<long long>(ha)), _mm512_setr_epi64(0, 8, 16, 24, 32, 40, 48, 56));
    const __m512i rb = _mm512_maskz_rorv_epi64(0xff, _mm512_set1_epi64(static_cast<long long>(hb)), _mm512_setr_epi64(56, 0, 8, 16, 24, 32, 40, 48));
    const __m512i h2 = _mm512_ternarylogic_epi64(_mm512_set1_epi64(0xff), ra, rb, 0xca);  // 0xff ? ra : rb, bit by bit
    // byte b of idx (slot S = (b % 8) / 4, k = b % 4) lies in qword b / 8 of
    // h2: vpshufbitqmb takes bit 8 S + 2 k (bit 8) or 8 S + 2 k + 1 (bit 9)
    // of that qword straight to mask bit b
    constexpr auto f8 = [](int b) { return 8 * ((b % 8) / 4) + qh_shift{}(b % 4); };
    constexpr auto f9 = [](int b) { return 8 * ((b % 8) / 4) + qh_shift{}(b % 4) + 1; };
    const __mmask64 b7 = _mm512_movepi8_mask(idx), b8 = _mm512_bitshuffle_epi64_mask(h2, bytes_of(f8)),
                    b9 = _mm512_bitshuffle_epi64_mask(h2, bytes_of(f9));
    set_planes(bytes1024(iq2s_lo.v, idx, b7, b8, b9), iq2s_high(idx, b8, b9), ba, bb);
    // the 32 sign bytes of each block (after the 32 index bytes): qword q = A's dword q, B's dword q
    const __m512i sa = _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(wa.qs + qk_k / 8)));
    const __m512i sb = _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb.qs + qk_k / 8)));
    ba.sign_t = bb.sign_t = _mm512_permutex2var_epi32(sa, _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23), sb);
    ba.sc32 = iq2_nibble_scales(wa.scales);
    bb.sc32 = iq2_nibble_scales(wb.scales);
}
// Chunk r of the block in slot Slot of its pair, dotted with the grouped
// activations: the coordinate's two bits (coord_bits) with the sign at bit 2
// (bit 2 of `signs`, one vpternlogd) index iq2_signed_level_bytes: 64 +- g
// in one vpermb.
template <int R, int Slot>
LOWBIT_GGUF_VBMI_INLINE __m512i iq2_step(const vbmi_block& b, const vbmi_consts& c, const block_q8_K_groups& a, __m512i signs, __m512i acc) {
    // bit by bit 4 ? signs : coords; the coordinates first, as vpternlogd overwrites its first operand (the constant's copies cost 4 moves a block)
    const __m512i coords = coord_bits<R, Slot>(b.codes);  // not inside the intrinsic: clang's is a macro, the template's comma splits it
    const __m512i idx = _mm512_ternarylogic_epi32(coords, signs, _mm512_set1_epi8(4), 0xd8);
    const __m512i u = vpermb(idx, c.levels);
    return _mm512_dpbusd_epi32(acc, u, load64(a.qs + 64 * R));
}
// int32 lanes whose sum is isum(w, a): from -64 bsum_p, the four chunks' u * a
// by group, times 2 s_p + 1.
template <int Slot>
LOWBIT_GGUF_VBMI_INLINE __m512i iq2_lanes(const vbmi_block& b, const block_q8_K_groups& a, const vbmi_consts& c) {
    const __m512i s01 = iq2_sign_bits<0, Slot>(b.sign_t), s23 = iq2_sign_bits<2, Slot>(b.sign_t);
    __m512i acc = _mm512_load_si512(a.off);
    acc = iq2_step<0, Slot>(b, c, a, s01, acc);
    acc = iq2_step<1, Slot>(b, c, a, _mm512_maskz_srli_epi16(~0u, s01, 4), acc);
    acc = iq2_step<2, Slot>(b, c, a, s23, acc);
    acc = iq2_step<3, Slot>(b, c, a, _mm512_maskz_srli_epi16(~0u, s23, 4), acc);
    return _mm512_mullo_epi32(acc, b.sc32);
}
// A pair's lanes folded into one zmm: A's eight sums in the low half, B's in the high.
LOWBIT_GGUF_VBMI_INLINE __m512i fold_pair(__m512i a, __m512i b) {
    return _mm512_add_epi32(_mm512_maskz_shuffle_i64x2(0xff, a, b, 0x44), _mm512_maskz_shuffle_i64x2(0xff, a, b, 0xee));
}
// The eight blocks' sums from four folded pairs (v[j]: blocks 2 j, 2 j + 1),
// in block order: 128-bit lanes first (lane L of d: block L's four partial
// sums, of e: block 4 + L's), then within the lanes.
LOWBIT_GGUF_VBMI_INLINE __m256i iq2_sums8(const __m512i* v) {
    const __m512i d = _mm512_add_epi32(_mm512_maskz_shuffle_i64x2(0xff, v[0], v[1], 0x88), _mm512_maskz_shuffle_i64x2(0xff, v[0], v[1], 0xdd));
    const __m512i e = _mm512_add_epi32(_mm512_maskz_shuffle_i64x2(0xff, v[2], v[3], 0x88), _mm512_maskz_shuffle_i64x2(0xff, v[2], v[3], 0xdd));
    // lane L: [d0 + d2, e0 + e2, d1 + d3, e1 + e3], then [d, e, d, e]
    const __m512i f = _mm512_add_epi32(_mm512_maskz_unpacklo_epi32(0xffff, d, e), _mm512_maskz_unpackhi_epi32(0xffff, d, e));
    const __m512i g = _mm512_add_epi32(f, _mm512_maskz_shuffle_epi32(0xffff, f, _MM_PERM_BADC));
    const __m512i s = _mm512_maskz_permutexvar_epi32(0xff, _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 0, 0, 0, 0, 0, 0, 0, 0), g);
    return _mm512_maskz_extracti64x4_epi64(0xf, s, 0);  // not the cast: GCC 12 makes it an unmasked extract (PR 105593)
}
// ---- IQ3_XXS: 64 index bytes, then eight u32 (sign fields, scale)
LOWBIT_GGUF_VBMI_INLINE void prep(const block_iq3_xxs& w, const vbmi_consts& c, vbmi_block& b) {
    const __m512i idx = vpermb(pick4_bytes<natural>(), load64(w.qs));
    const __mmask64 b7 = _mm512_movepi8_mask(idx);
    const __m512i lo = bytes256(iq3xxs_lo.v, idx, b7), hi = bytes256(iq3xxs_hi.v, idx, b7);
    b.codes[0] = _mm512_unpacklo_epi8(lo, hi);
    b.codes[1] = _mm512_unpackhi_epi8(lo, hi);
    const __m256i meta = load32(w.qs + qk_k / 4);
    meta_scales(meta, b);
    b.sign_t = build_signs(zext(multishift256(_mm256_set1_epi64x(0x352e2720150e0700ll), meta)), c);
}
// ---- IQ3_S: 9-bit indices (qs byte | bit of qh), stored sign bytes, 4-bit scales per 32
LOWBIT_GGUF_VBMI_INLINE void prep(const block_iq3_s& w, const vbmi_consts&, vbmi_block& b) {
    const __m512i pick = pick4_bytes<natural>();
    const __m512i idx = vpermb(pick, load64(w.qs));
    std::uint64_t h;
    std::memcpy(&h, w.qh, 8);
    // bit 8 of index m is bit m of qh: as bytes, permuted with the low bytes, and back to a mask
    const __mmask64 b8 = _mm512_movepi8_mask(vpermb(pick, _mm512_movm_epi8(_cvtu64_mask64(h))));
    const __mmask64 b7 = _mm512_movepi8_mask(idx);
    const __m512i lo = bytes512(iq3s_lo.v, idx, b7, b8), hi = bytes512(iq3s_hi.v, idx, b7, b8);
    b.codes[0] = _mm512_unpacklo_epi8(lo, hi);
    b.codes[1] = _mm512_unpackhi_epi8(lo, hi);
    b.signs = w.signs;
    const __m256i nib = _mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(avx2::u32_at(w.scales))), _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28));
    b.sc16 = avx512vnni::odd_scales32(_mm256_and_si256(nib, _mm256_set1_epi32(0xf)));
}

// ---- IQ1_S, IQ1_M: 11-bit indices into the 2048-point grid --------------------------
// The codes (iq1s_index: 2 bits per coordinate, levels -1, 0, 1 as 0, 1, 2)
// are looked up per pair of super-blocks, 64 indices at once, in natural
// point order (A's points at bytes 0..31, B's at 32..63):
//   low byte: a 2048-byte plane, 16 vpermi2b on the index's low 7 bits, the
//     four bits above (bit 7 of the qs byte, the three high bits) choosing
//     by masked moves (15);
//   high byte: iq1s_index is ascending, so in each aligned run of 16
//     indices the high byte takes at most two values, the second from a
//     threshold position on (checked at compile time: iq1_runs.ok): three
//     128-entry vpermi2b at i >> 4 (first value, threshold, difference),
//     a compare of i & 15 with the threshold and a masked add.
// Two vpermi2b then put each block's codes in the 8-wide grids' point order
// (qword p, word k: point 8k + p), and per 64 values one vpmultishiftqb
// takes coordinate j's two bits to bits 3 and 4 of byte j (offset 2j - 3),
// where one vpternlogd makes the unsigned value u = base | (c << 3), c in
// 0..2: base 66 = 8 (-1 + 1/8) + 73, so that
// u = 8 (level + 1/8) + 73, and IQ1_M's points of shift -1 take base 64
// (8 (level - 1/8) + 73). The 73 comes off with the bsums per 16-value group
// (IQ1_S: 75 where the sub-block's shift is -1), as in the plain copy's 64/66.
// u <= 82: the largest maddubs pair is 2 * 82 * 128 < 2^15.
struct iq1_run_tables {
    std::uint8_t lo[2048];                           // low byte of each code
    std::uint8_t hi0[128], thr[128], delta[128];     // per run of 16: first high byte, where it changes, by how much
    bool ok;                                          // every run takes at most two high bytes, in that form
};
constexpr iq1_run_tables make_iq1_run_tables() noexcept {
    iq1_run_tables t{};
    t.ok = true;
    for (int i = 0; i < 2048; ++i) t.lo[i] = static_cast<std::uint8_t>(iq_grids::iq1s_index[i] & 0xff);
    for (int r = 0; r < 128; ++r) {
        const int h0 = iq_grids::iq1s_index[16 * r] >> 8;
        int thr = 16, h1 = h0;
        for (int j = 1; j < 16; ++j)
            if ((iq_grids::iq1s_index[16 * r + j] >> 8) != h0) {
                thr = j;
                h1 = iq_grids::iq1s_index[16 * r + j] >> 8;
                break;
            }
        for (int j = 0; j < 16; ++j)
            if ((iq_grids::iq1s_index[16 * r + j] >> 8) != (j >= thr ? h1 : h0)) t.ok = false;
        t.hi0[r] = static_cast<std::uint8_t>(h0);
        t.thr[r] = static_cast<std::uint8_t>(thr);
        t.delta[r] = static_cast<std::uint8_t>(h1 - h0);
    }
    return t;
}
alignas(64) inline constexpr iq1_run_tables iq1_runs = make_iq1_run_tables();
static_assert(iq1_runs.ok, "iq1s_index: a run of 16 takes more than two high bytes");

template <class W>
constexpr bool is_iq1() {
    return std::is_same<W, block_iq1_s>::value || std::is_same<W, block_iq1_m>::value;
}
// The codes of 64 indices: q their low bytes, h their three high bits (bytes 0..7).
LOWBIT_GGUF_VBMI_INLINE void iq1_lookup(__m512i q, __m512i h, vbmi_block& ba, vbmi_block& bb) {
    const __mmask64 b7 = _mm512_movepi8_mask(q), b8 = _mm512_test_epi8_mask(h, _mm512_set1_epi8(1)),
                    b9 = _mm512_test_epi8_mask(h, _mm512_set1_epi8(2)), b10 = _mm512_test_epi8_mask(h, _mm512_set1_epi8(4));
    // written out (as a loop over bit 10, GCC kept it rolled, its result on the stack)
    const std::uint8_t* t = iq1_runs.lo;
    const __m512i l0 = bytes512(t, q, b7, b8), l1 = bytes512(t + 512, q, b7, b8);
    const __m512i l2 = bytes512(t + 1024, q, b7, b8), l3 = bytes512(t + 1536, q, b7, b8);
    const __m512i lo = _mm512_mask_mov_epi8(_mm512_mask_mov_epi8(l0, b9, l1), b10, _mm512_mask_mov_epi8(l2, b9, l3));
    // run r = i >> 4 = (qs >> 4) | h << 4 (< 128), position i & 15
    const __m512i r = _mm512_ternarylogic_epi32(_mm512_srli_epi16(q, 4), _mm512_set1_epi8(0x0f), _mm512_slli_epi16(h, 4), 0xea);
    const __m512i h0 = bytes128(iq1_runs.hi0, r);
    const __mmask64 second = _mm512_cmpge_epu8_mask(_mm512_and_si512(q, _mm512_set1_epi8(0x0f)), bytes128(iq1_runs.thr, r));
    const __m512i hi = _mm512_mask_add_epi8(h0, second, h0, bytes128(iq1_runs.delta, r));
    // word 4p + k of block X's codes: point 8k + p of X (bytes 32 X + 8k + p of lo, hi)
    constexpr auto fa = [](int b) { return 64 * (b % 2) + 8 * ((b / 2) % 4) + b / 8; };
    constexpr auto fb = [](int b) { return 64 * (b % 2) + 8 * ((b / 2) % 4) + b / 8 + 32; };
    ba.codes[0] = _mm512_permutex2var_epi8(lo, bytes_of(fa), hi);
    bb.codes[0] = _mm512_permutex2var_epi8(lo, bytes_of(fb), hi);
}
// The 16 qh bytes of A and B, qword q of the result holding the qh qword
// that points 8q .. 8q + 7 of A (q < 4) or of B (q >= 4) read: [A0 A0 A1 A1 B0 B0 B1 B1].
LOWBIT_GGUF_VBMI_INLINE __m512i iq1_qh_pairs(const void* qha, const void* qhb) {
    const __m256i ab = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128(static_cast<const __m128i*>(qha))),
                                               _mm_loadu_si128(static_cast<const __m128i*>(qhb)), 1);
    return _mm512_maskz_permutexvar_epi64(0xff, _mm512_set_epi64(3, 3, 2, 2, 1, 1, 0, 0), zext(ab));
}
LOWBIT_GGUF_VBMI_INLINE __m512i iq1_qs_pair(const std::uint8_t* qsa, const std::uint8_t* qsb) {
    return _mm512_maskz_inserti64x4(0xff, zext(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qsa))),
                                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qsb)), 1);
}
// ---- IQ1_S: per 32 values a u16 qh: four 3-bit high parts, a 3-bit scale, the shift sign
LOWBIT_GGUF_VBMI_INLINE void iq1s_scales(const block_iq1_s& w, vbmi_block& b) {
    const __m256i qh32 = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.qh)));
    b.sc16 = avx512vnni::odd_scales32(_mm256_and_si256(_mm256_srli_epi32(qh32, 12), _mm256_set1_epi32(7)));
    // 73 where the shift is +1, 75 where it is -1; (2 s + 1) * 75 < 2^15
    const __m256i minus = _mm256_srli_epi32(qh32, 15);
    const __m256i off = _mm256_add_epi32(_mm256_set1_epi32(73), _mm256_add_epi32(minus, minus));
    b.off16 = _mm256_mullo_epi16(b.sc16, _mm256_or_si256(off, _mm256_slli_epi32(off, 16)));
}
LOWBIT_GGUF_VBMI_INLINE void prep2(const block_iq1_s& wa, const block_iq1_s& wb, const vbmi_consts&, vbmi_block& ba, vbmi_block& bb) {
    // byte j of qword q (point 8q + j of its block, sub-block 2q + j / 4): bits 16 ((2q + j / 4) % 4) + 3 (j % 4) of the qh qword
    constexpr auto f = [](int b) {
        const int q = b / 8, j = b % 8;
        return 16 * ((2 * q + j / 4) % 4) + 3 * (j % 4);
    };
    const __m512i h = _mm512_and_si512(multishift(bytes_of(f), iq1_qh_pairs(wa.qh, wb.qh)),
                                       _mm512_set1_epi8(7));
    iq1_lookup(iq1_qs_pair(wa.qs, wb.qs), h, ba, bb);
    iq1s_scales(wa, ba);
    iq1s_scales(wb, bb);
}
// ---- IQ1_M: per point a qh nibble (three high bits, the shift sign); 3-bit scales per 16 values
LOWBIT_GGUF_VBMI_INLINE void iq1m_scales(const block_iq1_m& w, vbmi_block& b) {
    const __m256i words = _mm256_permutexvar_epi16(_mm256_setr_epi16(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
                                                   _mm256_castsi128_si256(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(w.scales))));
    const __m256i s = _mm256_and_si256(_mm256_srlv_epi16(words, _mm256_setr_epi16(0, 3, 6, 9, 0, 3, 6, 9, 0, 3, 6, 9, 0, 3, 6, 9)),
                                       _mm256_set1_epi16(7));
    b.sc16 = _mm256_add_epi16(_mm256_add_epi16(s, s), _mm256_set1_epi16(1));
    b.off16 = _mm256_mullo_epi16(b.sc16, _mm256_set1_epi16(73));  // 15 * 73 < 2^15
}
LOWBIT_GGUF_VBMI_INLINE void prep2(const block_iq1_m& wa, const block_iq1_m& wb, const vbmi_consts&, vbmi_block& ba, vbmi_block& bb) {
    // byte j of qword q (point 8q + j): nibble j of bytes 4q .. 4q + 3, bits 32 (q % 2) + 4 j of the qh qword
    constexpr auto f = [](int b) { return 32 * ((b / 8) % 2) + 4 * (b % 8); };
    const __m512i nib = multishift(bytes_of(f), iq1_qh_pairs(wa.qh, wb.qh));
    iq1_lookup(iq1_qs_pair(wa.qs, wb.qs), _mm512_and_si512(nib, _mm512_set1_epi8(7)), ba, bb);
    // 66 where bit 3 (the shift sign) is clear, 64 where it is set
    ba.base = bb.base = _mm512_ternarylogic_epi32(_mm512_srli_epi16(nib, 2), _mm512_set1_epi8(2), _mm512_set1_epi8(66), 0x6a);
    iq1m_scales(wa, ba);
    iq1m_scales(wb, bb);
}
// Chunk K's 64 values of the block in slot Slot of its pair, dotted with a[64K ..] and scaled.
template <int K, int Slot, class W>
LOWBIT_GGUF_VBMI_INLINE __m512i iq1_step(const vbmi_block& b, const block_q8_K& a, __m512i acc) {
    // byte j of each qword: bits 16K + 2j - 3 (mod 64: vpmultishiftqb rotates) and up, so coordinate j's two bits land at bits 3, 4
    constexpr long long s = static_cast<long long>(0x0b09070503013f3dull + 0x1010101010101010ull * K);
    const __m512i x = multishift(_mm512_set1_epi64(s), b.codes[0]);
    __m512i base;
    if constexpr (std::is_same<W, block_iq1_m>::value) {
        // qword p: the base of point 8K + p of this block
        constexpr auto f = [](int byte) { return 32 * Slot + 8 * K + byte / 8; };
        base = vpermb(bytes_of(f), b.base);
    } else {
        base = _mm512_set1_epi8(66);
    }
    const __m512i u = _mm512_ternarylogic_epi32(x, _mm512_set1_epi8(0x18), base, 0xea);  // (x & 0x18) | base
    return _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(u, load64(a.qs + 64 * K)), avx512vnni::chunk_scales(b.sc16, K));
}
template <class W, int Slot>
LOWBIT_GGUF_VBMI_INLINE __m256i iq1_lanes(const vbmi_block& b, const block_q8_K& a) {
    __m512i acc = iq1_step<0, Slot, W>(b, a, _mm512_setzero_si512());
    acc = iq1_step<1, Slot, W>(b, a, acc);
    acc = iq1_step<2, Slot, W>(b, a, acc);
    acc = iq1_step<3, Slot, W>(b, a, acc);
    // sum_j sc_j sum (8 (g +- 1/8)) a = sum_j sc_j sum u a - sum_j sc_j off_j bsum_j
    return _mm256_sub_epi32(avx512vnni::fold(acc), _mm256_madd_epi16(b.off16, load32(a.bsums)));
}

template <class W>
struct grid_width {  // 8 values per point, or 4 (IQ3)
    static constexpr int value = 8;
};
template <>
struct grid_width<block_iq3_xxs> {
    static constexpr int value = 4;
};
template <>
struct grid_width<block_iq3_s> {
    static constexpr int value = 4;
};

// The activation blocks of a VBMI copy: Q8_K's, the IQ2 types' own (block_q8_K_groups).
template <class W>
constexpr bool grouped_activations() {
    return std::is_same<W, block_iq2_xxs>::value || std::is_same<W, block_iq2_xs>::value || std::is_same<W, block_iq2_s>::value;
}
template <class W>
using activation_block = typename std::conditional<grouped_activations<W>(), block_q8_K_groups, block_q8_K>::type;

// IQ3: chunk k's 64 + g, signed as the block says, dotted with a[64k ..] and scaled.
template <int K, class W>
LOWBIT_GGUF_VBMI_INLINE __m512i step(const vbmi_block& b, const vbmi_consts& c, const block_q8_K& a, __m512i acc) {
    const __m512i g = expand4<K>(b.codes, c.levels);
    __mmask64 minus;
    if constexpr (std::is_same<W, block_iq3_s>::value) {  // stored sign bytes
        std::uint64_t m;
        std::memcpy(&m, b.signs + 8 * K, 8);
        minus = _cvtu64_mask64(m);
    } else {
        minus = _mm512_bitshuffle_epi64_mask(b.sign_t, _mm512_set1_epi64(0x0706050403020100ll + 0x0808080808080808ll * K));
    }
    const __m512i u = apply_signs(g, minus);
    const __m512i pairs = _mm512_maddubs_epi16(u, load64(a.qs + 64 * K));
    // chunk 0 starts the sums: vpmaddwd, not vpdpwssd into a copy of a zeroed register
    if constexpr (K == 0) return _mm512_madd_epi16(pairs, avx512vnni::chunk_scales(b.sc16, K));
    else return _mm512_dpwssd_epi32(acc, pairs, avx512vnni::chunk_scales(b.sc16, K));
}

// IQ3: int32 lanes whose sum is isum(w, a), from the prepared block.
template <class W>
LOWBIT_GGUF_VBMI_INLINE __m256i lanes(const vbmi_block& b, const block_q8_K& a, const vbmi_consts& c) {
    __m512i acc = step<0, W>(b, c, a, _mm512_setzero_si512());
    acc = step<1, W>(b, c, a, acc);
    acc = step<2, W>(b, c, a, acc);
    acc = step<3, W>(b, c, a, acc);
    // sum_j sc_j sum (u - 64) a = sum_j sc_j sum u a - 64 sum_j sc_j bsum_j
    return _mm256_sub_epi32(fold(acc), _mm256_madd_epi16(_mm256_slli_epi16(b.sc16, 6), load32(a.bsums)));
}
// Two weight blocks (i, i + 1) against C activation rows: lanes out[c][0], out[c][1].
// The 8-wide grids prepare the two together; each block is prepared once for the C rows.
template <int C, class W>
LOWBIT_GGUF_VBMI_INLINE void pair_lanes(const W* w, const activation_block<W>* a, std::size_t lda, const vbmi_consts& c, __m256i (*out)[2]) {
    vbmi_block b[2];
    if constexpr (grid_width<W>::value == 8) {
        prep2(w[0], w[1], c, b[0], b[1]);
    } else {
        prep(w[0], c, b[0]);
        prep(w[1], c, b[1]);
    }
    LOWBIT_UNROLL
    for (int r = 0; r < C; ++r) {
        if constexpr (is_iq1<W>()) {
            out[r][0] = iq1_lanes<W, 0>(b[0], a[r * lda]);
            out[r][1] = iq1_lanes<W, 1>(b[1], a[r * lda + 1]);
        } else {
            out[r][0] = lanes<W>(b[0], a[r * lda], c);
            out[r][1] = lanes<W>(b[1], a[r * lda + 1], c);
        }
    }
}
// IQ2: two weight blocks (i, i + 1) against C activation rows: out[c], the
// folded pair (fold_pair); the blocks are prepared once for the C rows.
template <int C, class W>
LOWBIT_GGUF_VBMI_INLINE void iq2_pair(const W* w, const block_q8_K_groups* a, std::size_t lda, const vbmi_consts& c, __m512i* out) {
    vbmi_block b[2];
    prep2(w[0], w[1], c, b[0], b[1]);
    LOWBIT_UNROLL
    for (int r = 0; r < C; ++r) out[r] = fold_pair(iq2_lanes<0>(b[0], a[r * lda], c), iq2_lanes<1>(b[1], a[r * lda + 1], c));
}
// One weight block (the row's last ones when nb is not a multiple of 8).
template <int C, class W>
LOWBIT_GGUF_VBMI_INLINE void single_lanes(const W& w, const activation_block<W>* a, std::size_t lda, const vbmi_consts& c, __m256i* out) {
    vbmi_block b[2];
    if constexpr (grid_width<W>::value == 8) prep2(w, w, c, b[0], b[1]);
    else prep(w, c, b[0]);
    LOWBIT_UNROLL
    for (int r = 0; r < C; ++r) {
        if constexpr (is_iq1<W>()) out[r] = iq1_lanes<W, 0>(b[0], a[r * lda]);
        else if constexpr (grouped_activations<W>()) out[r] = fold(iq2_lanes<0>(b[0], a[r * lda], c));
        else out[r] = lanes<W>(b[0], a[r * lda], c);
    }
}

// out[r] = the row dot product of w with activation row r (a + r * lda):
// per eight blocks, each block's lanes for every row, reduced together
// (eight sums at once), their terms (the model's lattice_term: three IEEE
// products, the int32 -> float rounding static_cast's) formed eight at a
// time and summed one by one in block order; the blocks left over one at a
// time. Every C gives row_dot_scalar's bits.
template <int C, class W>
LOWBIT_GGUF_VBMI inline void lattice_rows_dot(const W* w, const activation_block<W>* a, std::size_t lda, std::size_t nb,
                                              const vbmi_consts& c, float* out) {
    float sum[C] = {};
    std::size_t i = 0;
    const __m256 unit = _mm256_set1_ps(lattice_unit(w[0]));
    if constexpr (grouped_activations<W>()) {  // IQ2: pairs folded as they come, d from block i's d8
        for (; i + 8 <= nb; i += 8) {
            __m512i v[C][4];
            LOWBIT_UNROLL
            for (int j = 0; j < 4; ++j) {
                __m512i p[C];
                iq2_pair<C>(w + i + 2 * j, a + i + 2 * j, lda, c, p);
                for (int r = 0; r < C; ++r) v[r][j] = p[r];
            }
            const __m256 dw = avx512vnni::lattice_scales8(w + i);
            for (int r = 0; r < C; ++r) avx512vnni::lattice_terms8(sum[r], _mm256_load_ps(a[r * lda + i].d8), dw, unit, iq2_sums8(v[r]));
        }
    } else {
        for (; i + 8 <= nb; i += 8) {
            __m256i v[C][8];
            LOWBIT_UNROLL
            for (int j = 0; j < 8; j += 2) {
                __m256i p[C][2];
                pair_lanes<C>(w + i + j, a + i + j, lda, c, p);
                for (int r = 0; r < C; ++r) {
                    v[r][j] = p[r][0];
                    v[r][j + 1] = p[r][1];
                }
            }
            const __m256 dw = avx512vnni::lattice_scales8(w + i);
            for (int r = 0; r < C; ++r) avx512vnni::add_lattice_terms8(sum[r], a + r * lda + i, dw, unit, v[r]);
        }
    }
    for (; i < nb; ++i) {
        __m256i v[C];
        single_lanes<C>(w[i], a + i, lda, c, v);
        const float d = h2f(lattice_scale(w[i]));
        for (int r = 0; r < C; ++r) sum[r] += lattice_term(a[r * lda + i].d, d, hsum(v[r]), lattice_unit(w[i]));
    }
    for (int r = 0; r < C; ++r) out[r] = sum[r];
}

LOWBIT_GGUF_VBMI_INLINE vbmi_consts consts(const std::uint8_t* level_table) {
    return {_mm512_load_si512(level_table), _mm512_load_si512(sign_bytes.v), _mm512_load_si512(sign_bytes.v + 64)};
}
LOWBIT_GGUF_VBMI_INLINE const std::uint8_t* grid_levels(const block_iq2_xxs&) { return iq2_signed_level_bytes.v; }
LOWBIT_GGUF_VBMI_INLINE const std::uint8_t* grid_levels(const block_iq2_xs&) { return iq2_signed_level_bytes.v; }
LOWBIT_GGUF_VBMI_INLINE const std::uint8_t* grid_levels(const block_iq2_s&) { return iq2_signed_level_bytes.v; }
LOWBIT_GGUF_VBMI_INLINE const std::uint8_t* grid_levels(const block_iq3_xxs&) { return iq3xxs_level_bytes.v; }
LOWBIT_GGUF_VBMI_INLINE const std::uint8_t* grid_levels(const block_iq3_s&) { return iq3s_level_bytes.v; }
// IQ1 builds its values by vpternlogd (iq1_step): the level table goes unused.
LOWBIT_GGUF_VBMI_INLINE const std::uint8_t* grid_levels(const block_iq1_s&) { return iq2_level_bytes.v; }
LOWBIT_GGUF_VBMI_INLINE const std::uint8_t* grid_levels(const block_iq1_m&) { return iq2_level_bytes.v; }

// The entry points (formats/detail/gguf_entries.hpp): C activation rows per weight row, and one.
#define LOWBIT_GGUF_VBMI_ROWS(T)                                                                                          \
    template <int C>                                                                                                      \
    LOWBIT_GGUF_VBMI inline void rows_dot(const T* w, const activation_block<T>* a, std::size_t lda, std::size_t nb, float* out) { \
        if (nb == 0) {                                                                                                    \
            for (int r = 0; r < C; ++r) out[r] = 0.0f;                                                                    \
            return;                                                                                                       \
        }                                                                                                                 \
        lattice_rows_dot<C>(w, a, lda, nb, consts(grid_levels(w[0])), out);                    \
    }
LOWBIT_GGUF_VBMI_ROWS(block_iq2_xxs)
LOWBIT_GGUF_VBMI_ROWS(block_iq2_xs)
LOWBIT_GGUF_VBMI_ROWS(block_iq2_s)
LOWBIT_GGUF_VBMI_ROWS(block_iq3_xxs)
LOWBIT_GGUF_VBMI_ROWS(block_iq3_s)
LOWBIT_GGUF_VBMI_ROWS(block_iq1_s)
LOWBIT_GGUF_VBMI_ROWS(block_iq1_m)
#undef LOWBIT_GGUF_VBMI_ROWS

template <class W>
LOWBIT_GGUF_VBMI inline float row_dot(const W* w, const activation_block<W>* a, std::size_t nb) {
    float out;
    rows_dot<1>(w, a, nb, nb, &out);
    return out;
}

#undef LOWBIT_GGUF_VBMI_INLINE
#undef LOWBIT_GGUF_VBMI

}  // namespace avx512vbmi
}  // namespace detail
}  // namespace gguf
}  // namespace lowbit
