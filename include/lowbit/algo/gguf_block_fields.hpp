// lowbit/algo/gguf_block_fields.hpp — read and write the integer fields of
// one ggml block: for the K-quants (Q2_K … Q6_K) each sub-block's integer
// scale (and min), and for those and Q4_0, Q4_1, Q5_0, Q5_1 the codes,
// unpacked to one byte per value.
//
// Why: the block-level refinement after GPTQ (gguf_block_refine.hpp) moves
// these fields one at a time while the codes or the other fields stay, so it
// needs them apart from ggml's bit packing. The packing itself is
// formats/gguf_blocks.hpp's (pack_scales_k4, pack_scales_q3, store_codes);
// only the unpacking of the codes, which the decoders do inline, is written
// here, as the inverse of store_codes (tests/test_algo_gguf.cpp checks the
// round trip for every type).
//
// Every K-quant decodes value i of sub-block s as
//     d * sc_s * (code_i - code_bias) - dmin * mn_s
// (no mn term for Q3_K and Q6_K, whose scales are signed): block_fields<B>
// gives the ranges the bytes can hold for sc, mn and code. The legacy types
// are the same shape with one sub-block of 32 whose integer scale is fixed at
// 1 (sc_lo = sc_hi = 1) and no integer min (Q4_1/Q5_1's m is an f16 offset,
// re-fitted with d by gguf_refit.hpp). Q8_0 is left out: its codes are
// signed bytes and 8 bits leave little to gain.
#pragma once

#include <cstdint>
#include <cstring>

#include "../core/half.hpp"
#include "../formats/gguf_blocks.hpp"

namespace lowbit {
namespace detail {

template <class B>
struct block_fields;  // defined for block_q4_0 … block_q5_1, block_q2_K … block_q6_K and block_iq4_nl, block_iq4_xs

// The legacy blocks: 32 values, d (and the f16 m) only.
template <class B, int CodeMax, int CodeBias>
struct block_fields_legacy {
    static constexpr int width = 32, n_sub = 1, code_max = CodeMax, code_bias = CodeBias;
    static constexpr int sc_lo = 1, sc_hi = 1, mn_lo = 0, mn_hi = 0;
    static constexpr bool has_min = false;
    static int scale(const B&, int) noexcept { return 1; }
    static int min(const B&, int) noexcept { return 0; }
    static void set_scale(B&, int, int) noexcept {}
    static void set_min(B&, int, int) noexcept {}
    static float dmin(const B&) noexcept { return 0.0f; }
};
template <class B>
struct block_fields_q4_legacy : block_fields_legacy<B, 15, B::type_id == gguf::gguf_type::q4_0 ? 8 : 0> {
    static void codes(const B& b, std::uint8_t* L) noexcept {  // inverse of store_codes: byte j holds values j and j + 16
        for (int j = 0; j < 16; ++j) {
            L[j] = static_cast<std::uint8_t>(b.qs[j] & 0x0f);
            L[j + 16] = static_cast<std::uint8_t>(b.qs[j] >> 4);
        }
    }
};
template <class B>
struct block_fields_q5_legacy : block_fields_legacy<B, 31, B::type_id == gguf::gguf_type::q5_0 ? 16 : 0> {
    static void codes(const B& b, std::uint8_t* L) noexcept {
        const std::uint32_t word = gguf::detail::load_high_bits(b.qh);
        for (int j = 0; j < 32; ++j) L[j] = static_cast<std::uint8_t>(gguf::detail::q5_code(b.qs, word, j));
    }
};
template <>
struct block_fields<gguf::block_q4_0> : block_fields_q4_legacy<gguf::block_q4_0> {};
template <>
struct block_fields<gguf::block_q4_1> : block_fields_q4_legacy<gguf::block_q4_1> {};
template <>
struct block_fields<gguf::block_q5_0> : block_fields_q5_legacy<gguf::block_q5_0> {};
template <>
struct block_fields<gguf::block_q5_1> : block_fields_q5_legacy<gguf::block_q5_1> {};

// Inverse of gguf::detail::pack_2bit_k (Q2_K's codes, Q3_K's low two bits).
inline void unpack_2bit_k(const std::uint8_t* qs, std::uint8_t* L) noexcept {
    for (int half = 0; half < 2; ++half)
        for (int l = 0; l < 32; ++l)
            for (int k = 0; k < 4; ++k) L[128 * half + 32 * k + l] = static_cast<std::uint8_t>((qs[32 * half + l] >> (2 * k)) & 3);
}

template <>
struct block_fields<gguf::block_q2_K> {
    using B = gguf::block_q2_K;
    static constexpr int width = 16, n_sub = 16, code_max = 3, code_bias = 0;
    static constexpr int sc_lo = 0, sc_hi = 15, mn_lo = 0, mn_hi = 15;
    static constexpr bool has_min = true;
    static int scale(const B& b, int j) noexcept { return b.scales[j] & 0x0f; }
    static int min(const B& b, int j) noexcept { return b.scales[j] >> 4; }
    static void set_scale(B& b, int j, int v) noexcept { b.scales[j] = static_cast<std::uint8_t>((b.scales[j] & 0xf0) | v); }
    static void set_min(B& b, int j, int v) noexcept { b.scales[j] = static_cast<std::uint8_t>((b.scales[j] & 0x0f) | (v << 4)); }
    static float dmin(const B& b) noexcept { return f16_to_f32(b.dmin); }
    static void codes(const B& b, std::uint8_t* L) noexcept { unpack_2bit_k(b.qs, L); }
};

// The symmetric K-quants (Q3_K, Q6_K): 16 sub-blocks of 16 values, no mins.
template <class B>
struct block_fields_16_no_min {
    static constexpr int width = 16, n_sub = 16, mn_lo = 0, mn_hi = 0;
    static constexpr bool has_min = false;
    static int min(const B&, int) noexcept { return 0; }
    static void set_min(B&, int, int) noexcept {}
    static float dmin(const B&) noexcept { return 0.0f; }
};

template <>
struct block_fields<gguf::block_q3_K> : block_fields_16_no_min<gguf::block_q3_K> {
    using B = gguf::block_q3_K;
    static constexpr int code_max = 7, code_bias = 4, sc_lo = -32, sc_hi = 31;
    static int scale(const B& b, int j) noexcept { return gguf::detail::unpack_scale_q3(j, b.scales); }
    static void set_scale(B& b, int j, int v) noexcept {
        int six[16];
        for (int k = 0; k < 16; ++k) six[k] = gguf::detail::unpack_scale_q3(k, b.scales) + 32;
        six[j] = v + 32;
        gguf::detail::pack_scales_q3(six, b.scales);
    }
    static void codes(const B& b, std::uint8_t* L) noexcept {  // low two bits from qs, the third from hmask
        unpack_2bit_k(b.qs, L);
        for (int j = 0; j < gguf::qk_k; ++j)
            if ((b.hmask[j % 32] >> (j / 32)) & 1) L[j] = static_cast<std::uint8_t>(L[j] + 4);
    }
};

// Q4_K and Q5_K share the 12-byte packing of eight 6-bit scales and mins.
template <class B>
struct block_fields_k4 {
    static constexpr int width = 32, n_sub = 8, code_bias = 0;
    static constexpr int sc_lo = 0, sc_hi = 63, mn_lo = 0, mn_hi = 63;
    static constexpr bool has_min = true;
    static void unpack(const B& b, std::uint8_t* sc, std::uint8_t* mn) noexcept {
        for (int j = 0; j < 8; ++j) gguf::detail::unpack_scale_k4(j, b.scales, sc + j, mn + j);
    }
    static int scale(const B& b, int j) noexcept {
        std::uint8_t s, m;
        gguf::detail::unpack_scale_k4(j, b.scales, &s, &m);
        return s;
    }
    static int min(const B& b, int j) noexcept {
        std::uint8_t s, m;
        gguf::detail::unpack_scale_k4(j, b.scales, &s, &m);
        return m;
    }
    static void set_scale(B& b, int j, int v) noexcept {
        std::uint8_t sc[8], mn[8];
        unpack(b, sc, mn);
        sc[j] = static_cast<std::uint8_t>(v);
        gguf::detail::pack_scales_k4(sc, mn, b.scales);
    }
    static void set_min(B& b, int j, int v) noexcept {
        std::uint8_t sc[8], mn[8];
        unpack(b, sc, mn);
        mn[j] = static_cast<std::uint8_t>(v);
        gguf::detail::pack_scales_k4(sc, mn, b.scales);
    }
    static float dmin(const B& b) noexcept { return f16_to_f32(b.dmin); }
};

template <>
struct block_fields<gguf::block_q4_K> : block_fields_k4<gguf::block_q4_K> {
    static constexpr int code_max = 15;
    static void codes(const gguf::block_q4_K& b, std::uint8_t* L) noexcept {  // inverse of store_codes
        for (int c = 0; c < 4; ++c)
            for (int l = 0; l < 32; ++l) {
                L[64 * c + l] = static_cast<std::uint8_t>(b.qs[32 * c + l] & 0x0f);
                L[64 * c + l + 32] = static_cast<std::uint8_t>(b.qs[32 * c + l] >> 4);
            }
    }
};

template <>
struct block_fields<gguf::block_q5_K> : block_fields_k4<gguf::block_q5_K> {
    static constexpr int code_max = 31;
    static void codes(const gguf::block_q5_K& b, std::uint8_t* L) noexcept {  // nibbles as Q4_K, fifth bits from qh
        for (int c = 0; c < 4; ++c)
            for (int l = 0; l < 32; ++l) {
                L[64 * c + l] = static_cast<std::uint8_t>((b.qs[32 * c + l] & 0x0f) | (((b.qh[l] >> (2 * c)) & 1) << 4));
                L[64 * c + l + 32] = static_cast<std::uint8_t>((b.qs[32 * c + l] >> 4) | (((b.qh[l] >> (2 * c + 1)) & 1) << 4));
            }
    }
};

template <>
struct block_fields<gguf::block_q6_K> : block_fields_16_no_min<gguf::block_q6_K> {
    using B = gguf::block_q6_K;
    static constexpr int code_max = 63, code_bias = 32, sc_lo = -128, sc_hi = 127;
    static int scale(const B& b, int j) noexcept { return b.scales[j]; }
    static void set_scale(B& b, int j, int v) noexcept { b.scales[j] = static_cast<std::int8_t>(v); }
    static void codes(const B& b, std::uint8_t* L) noexcept {  // inverse of store_codes: two halves of 128
        for (int h = 0; h < 2; ++h) {
            const std::uint8_t* ql = b.ql + 64 * h;
            const std::uint8_t* qh = b.qh + 32 * h;
            for (int l = 0; l < 32; ++l) {
                L[128 * h + l] = static_cast<std::uint8_t>((ql[l] & 0x0f) | ((qh[l] & 3) << 4));
                L[128 * h + l + 32] = static_cast<std::uint8_t>((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4));
                L[128 * h + l + 64] = static_cast<std::uint8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
                L[128 * h + l + 96] = static_cast<std::uint8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
            }
        }
    }
};

// IQ4_NL and IQ4_XS: a code is an index into the 16 non-uniform levels
// (gguf::iq4nl_levels), so value i of sub-block s decodes as
// d * sc_s * level(code_i); IQ4_NL has one sub-block whose integer scale is
// fixed at 1 (like the legacy types), IQ4_XS eight with a signed 6-bit scale.
template <class B>
struct block_fields_iq4_codes {
    static constexpr int code_max = 15, code_bias = 0;
    static constexpr int mn_lo = 0, mn_hi = 0;
    static constexpr bool has_min = false;
    static int min(const B&, int) noexcept { return 0; }
    static void set_min(B&, int, int) noexcept {}
    static float dmin(const B&) noexcept { return 0.0f; }
    static void codes(const B& b, std::uint8_t* L) noexcept {  // inverse of pack_iq4_nibbles per 32 values
        for (int ib = 0; ib < B::values / 32; ++ib)
            for (int j = 0; j < 16; ++j) {
                L[32 * ib + j] = static_cast<std::uint8_t>(b.qs[16 * ib + j] & 0x0f);
                L[32 * ib + j + 16] = static_cast<std::uint8_t>(b.qs[16 * ib + j] >> 4);
            }
    }
};
template <>
struct block_fields<gguf::block_iq4_nl> : block_fields_iq4_codes<gguf::block_iq4_nl> {
    static constexpr int width = 32, n_sub = 1, sc_lo = 1, sc_hi = 1;
    static int scale(const gguf::block_iq4_nl&, int) noexcept { return 1; }
    static void set_scale(gguf::block_iq4_nl&, int, int) noexcept {}
};
template <>
struct block_fields<gguf::block_iq4_xs> : block_fields_iq4_codes<gguf::block_iq4_xs> {
    using B = gguf::block_iq4_xs;
    static constexpr int width = 32, n_sub = 8, sc_lo = -32, sc_hi = 31;
    static int scale(const B& b, int j) noexcept { return gguf::detail::iq4_xs_scale(b, j) - 32; }
    static void set_scale(B& b, int j, int v) noexcept { gguf::detail::set_iq4_xs_scale(b, j, v + 32); }
};

// The number a code stands for before the scales multiply it: code - code_bias
// on the uniform grids, the level on IQ4's.
template <class B>
struct code_levels {
    static constexpr bool uniform = true;
    static double value(int code) noexcept { return static_cast<double>(code - block_fields<B>::code_bias); }
};
template <>
struct code_levels<gguf::block_iq4_nl> {
    static constexpr bool uniform = false;
    static double value(int code) noexcept { return static_cast<double>(gguf::iq4nl_levels[code]); }
};
template <>
struct code_levels<gguf::block_iq4_xs> : code_levels<gguf::block_iq4_nl> {};

// True for the block types block_fields covers.
template <class B>
constexpr bool has_block_fields() noexcept {
    return B::type_id != gguf::gguf_type::q8_0;
}

}  // namespace detail
}  // namespace lowbit
