// lowbit/formats/gguf_mxfp4.hpp — MXFP4 (OCP microscaling FP4), byte-exact with ggml.
//
// 32 values per block: one E8M0 exponent byte (a power of two, no sign or
// mantissa) and 32 E2M1 codes (1 sign, 2 exponent, 1 mantissa bit: magnitudes
// 0, 0.5, 1, 1.5, 2, 3, 4, 6). ggml keeps the E2M1 values doubled as integers
// (mxfp4_levels) and halves the exponent's value to compensate. Each value
// takes the code with the smallest |level * scale - x| (first one on ties).
// docs/formats.md, "MXFP4", has the layout and the exponent rule.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "detail/gguf_arith.hpp"
#include "gguf_block_rows.hpp"
#include "gguf_block_structs.hpp"

namespace lowbit {
namespace gguf {

// E2M1 code -> value * 2 (a format constant: bit 3 is the sign, bits 0-2 index
// 0, 0.5, 1, 1.5, 2, 3, 4, 6); ggml's kvalues_mxfp4.
constexpr std::int8_t mxfp4_levels[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

struct block_mxfp4 {  // x = 2^(e - 128) * levels[q]
    static constexpr int values = 32;
    static constexpr gguf_type type_id = gguf_type::mxfp4;
    std::uint8_t e;       // E8M0 shared exponent (bias 127)
    std::uint8_t qs[16];  // byte j: value j in the low nibble, value j+16 in the high one
};
static_assert(sizeof(block_mxfp4) == 17, "MXFP4 block is 17 bytes");
static_assert(detail::agrees_with_type_table<block_mxfp4>(), "MXFP4 block struct and gguf_types.hpp disagree");

}  // namespace gguf
}  // namespace lowbit

#include "detail/fp_contract_off_begin.inl"

namespace lowbit {
namespace gguf {
namespace detail {

// Half the value of E8M0 exponent e: 2^(e - 128), built from its bits. e = 0
// and 1 are subnormal floats; e = 255 (E8M0's NaN) reads as 2^127, as in ggml.
inline float e8m0_half(std::uint8_t e) noexcept {
    const std::uint32_t bits = e < 2 ? (0x00200000u << e) : (static_cast<std::uint32_t>(e - 1) << 23);
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

// The shared exponent of a block with largest magnitude amax: floor(log2(amax))
// - 2 + 127, so that the largest level, 6 = 1.5 * 2^2, covers amax; 0 for an
// all-zero block. log2 is the C library's log2f, as in ggml (its rounding
// decides amax just below a power of two). The float -> uint8 conversion keeps
// the low byte of the truncated integer, which is what ggml's (uint8_t) cast
// does on x86-64 and AArch64 for amax < 2^-125 (a negative exponent).
inline std::uint8_t mxfp4_exponent(float amax) noexcept {
    if (!(amax > 0.0f)) return 0;
    const float e = std::floor(std::log2(amax)) - 2.0f + 127.0f;
    return static_cast<std::uint8_t>(static_cast<unsigned>(truncate_to_int(e)) & 0xffu);
}

inline int nearest_mxfp4_code(float x, float d) noexcept {
    int best = 0;
    float best_err = std::fabs(mul(static_cast<float>(mxfp4_levels[0]), d) - x);
    for (int i = 1; i < 16; ++i) {
        const float err = std::fabs(mul(static_cast<float>(mxfp4_levels[i]), d) - x);
        if (err < best_err) {
            best = i;
            best_err = err;
        }
    }
    return best;
}

inline void encode_mxfp4(const float* x, block_mxfp4& y) noexcept {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j)
        if (amax < std::fabs(x[j])) amax = std::fabs(x[j]);
    y.e = mxfp4_exponent(amax);
    const float d = e8m0_half(y.e);
    for (int j = 0; j < 16; ++j)
        y.qs[j] = static_cast<std::uint8_t>(nearest_mxfp4_code(x[j], d) | (nearest_mxfp4_code(x[j + 16], d) << 4));
}

inline void decode_mxfp4(const block_mxfp4& b, float* y) noexcept {
    const float d = e8m0_half(b.e);
    for (int j = 0; j < 16; ++j) {
        y[j] = static_cast<float>(mxfp4_levels[b.qs[j] & 0xf]) * d;
        y[j + 16] = static_cast<float>(mxfp4_levels[b.qs[j] >> 4]) * d;
    }
}

inline void encode_mxfp4_row(const float* x, std::int64_t n, block_mxfp4* y) noexcept {
    for (std::int64_t i = 0; i < n / 32; ++i) encode_mxfp4(x + 32 * i, y[i]);
}

}  // namespace detail

// ---- public API (same contract as gguf_blocks.hpp's) --------------------------------
// quantize_mxfp4 takes importance weights for a uniform signature; ggml ignores them.
inline status quantize_row_mxfp4(const float* x, block_mxfp4* y, std::int64_t k) noexcept {
    return detail::encode_block_rows("gguf::quantize_row_mxfp4", "k", x, y, 1, k, nullptr,
                                     [](const float* r, const float*, std::int64_t n, block_mxfp4* out) {
                                         detail::encode_mxfp4_row(r, n, out);
                                     });
}
inline status quantize_mxfp4(const float* src, block_mxfp4* dst, std::int64_t nrow, std::int64_t n_per_row,
                             const float* quant_weights) noexcept {
    return detail::encode_block_rows("gguf::quantize_mxfp4", "n_per_row", src, dst, nrow, n_per_row, quant_weights,
                                     [](const float* r, const float*, std::int64_t n, block_mxfp4* out) {
                                         detail::encode_mxfp4_row(r, n, out);
                                     });
}
inline status dequantize_row_mxfp4(const block_mxfp4* x, float* y, std::int64_t k) noexcept {
    return detail::decode_block_rows("gguf::dequantize_row_mxfp4", x, y, k,
                                     [](const block_mxfp4& b, float* out) { detail::decode_mxfp4(b, out); });
}

}  // namespace gguf
}  // namespace lowbit

#include "detail/fp_contract_off_end.inl"

