// lowbit/formats/gguf_ternary.hpp — TQ1_0 and TQ2_0 (ternary weights), byte-exact with ggml.
//
// Both hold values in {-1, 0, +1} times one f16 scale per 256 values (BitNet
// b1.58 / TriLM models). TQ2_0 spends two bits per value; TQ1_0 packs five
// trits per byte (3^5 = 243 <= 256) as a fixed-point fraction, so a trit is
// read back with one multiply and a shift (docs/formats.md, "TQ1_0 and TQ2_0").
// The scale is the block's largest magnitude and each value rounds half away
// from zero (lround) to the nearest trit. ggml ignores importance weights for
// these types, and so do we (they are still checked for NaN/Inf).
#pragma once

#include <cmath>
#include <cstdint>

#include "detail/gguf_arith.hpp"
#include "gguf_block_rows.hpp"
#include "gguf_block_structs.hpp"

namespace lowbit {
namespace gguf {

struct block_tq1_0 {  // x = d * (t - 1), t in {0, 1, 2}
    static constexpr int values = qk_k;
    static constexpr gguf_type type_id = gguf_type::tq1_0;
    std::uint8_t qs[48];  // 5 trits per byte: bytes 0-31 hold values 0-159, bytes 32-47 values 160-239
    std::uint8_t qh[4];   // 4 trits per byte (shifted up one trit): values 240-255
    std::uint16_t d;
};
struct block_tq2_0 {  // x = d * (t - 1), t in {0, 1, 2}, two bits each
    static constexpr int values = qk_k;
    static constexpr gguf_type type_id = gguf_type::tq2_0;
    std::uint8_t qs[qk_k / 4];  // byte 32*h + m, bits 2n..2n+1: value 128*h + 32*n + m
    std::uint16_t d;
};
static_assert(sizeof(block_tq1_0) == 54, "TQ1_0 block is 54 bytes");
static_assert(sizeof(block_tq2_0) == 66, "TQ2_0 block is 66 bytes");
static_assert(detail::agrees_with_type_table<block_tq1_0>() && detail::agrees_with_type_table<block_tq2_0>(),
              "ternary block structs and gguf_types.hpp disagree");

namespace detail {

// Largest magnitude of the super-block and its f16 scale; id = 1/amax (0 for
// an all-zero block).
inline float ternary_scale(const float* x, std::uint16_t& d) noexcept {
    float amax = 0.0f;
    for (int j = 0; j < qk_k; ++j) amax = amax > std::fabs(x[j]) ? amax : std::fabs(x[j]);
    d = to_f16(amax);
    return amax != 0.0f ? 1.0f / amax : 0.0f;
}

// x * id rounded half away from zero, as a trit 0, 1, 2 (values within the
// block's range; a degenerate id, e.g. 1/subnormal = inf, gives what lround
// gives, as in ggml).
inline int trit(float x, float id) noexcept { return static_cast<int>(std::lround(x * id)) + 1; }

// Trits t0..t(n-1) (t0 most significant) as the byte ceil(T * 256 / 243),
// T = Σ t_i 3^(4-i) padded to five trits: the fraction T/243 in 8 bits,
// rounded up so that (byte * 3^i * 3) >> 8, taken mod 256 before the *3,
// yields trit i.
inline std::uint8_t pack_trits(const int* t, int n) noexcept {
    std::uint8_t q = 0;
    for (int i = 0; i < n; ++i) q = static_cast<std::uint8_t>(q * 3 + t[i]);
    for (int i = n; i < 5; ++i) q = static_cast<std::uint8_t>(q * 3);
    return static_cast<std::uint8_t>((static_cast<unsigned>(q) * 256u + 242u) / 243u);
}
inline int unpack_trit(std::uint8_t byte, int i) noexcept {
    static constexpr std::uint8_t pow3[5] = {1, 3, 9, 27, 81};
    const std::uint8_t q = static_cast<std::uint8_t>(byte * pow3[i]);
    return (static_cast<unsigned>(q) * 3u) >> 8;
}

inline void encode_tq1_0(const float* x, block_tq1_0& y) noexcept {
    const float id = ternary_scale(x, y.d);
    int t[5];
    for (int m = 0; m < 32; ++m) {  // values 0..159: byte m holds values m, m+32, ..., m+128
        for (int n = 0; n < 5; ++n) t[n] = trit(x[m + 32 * n], id);
        y.qs[m] = pack_trits(t, 5);
    }
    for (int m = 0; m < 16; ++m) {  // values 160..239: byte 32+m holds 160+m, 176+m, ...
        for (int n = 0; n < 5; ++n) t[n] = trit(x[160 + m + 16 * n], id);
        y.qs[32 + m] = pack_trits(t, 5);
    }
    for (int j = 0; j < 4; ++j) {  // values 240..255: byte j holds 240+j, 244+j, 248+j, 252+j
        for (int n = 0; n < 4; ++n) t[n] = trit(x[240 + j + 4 * n], id);
        y.qh[j] = pack_trits(t, 4);
    }
}

inline void decode_tq1_0(const block_tq1_0& b, float* y) noexcept {
    const float d = to_f32(b.d);
    for (int n = 0; n < 5; ++n)
        for (int m = 0; m < 32; ++m) y[32 * n + m] = static_cast<float>(unpack_trit(b.qs[m], n) - 1) * d;
    for (int n = 0; n < 5; ++n)
        for (int m = 0; m < 16; ++m) y[160 + 16 * n + m] = static_cast<float>(unpack_trit(b.qs[32 + m], n) - 1) * d;
    for (int n = 0; n < 4; ++n)
        for (int j = 0; j < 4; ++j) y[240 + 4 * n + j] = static_cast<float>(unpack_trit(b.qh[j], n) - 1) * d;
}

inline void encode_tq2_0(const float* x, block_tq2_0& y) noexcept {
    const float id = ternary_scale(x, y.d);
    for (int h = 0; h < 2; ++h) {
        for (int m = 0; m < 32; ++m) {
            unsigned q = 0;
            for (int n = 0; n < 4; ++n) q += static_cast<unsigned>(trit(x[128 * h + 32 * n + m], id) & 3) << (2 * n);
            y.qs[32 * h + m] = static_cast<std::uint8_t>(q);
        }
    }
}

inline void decode_tq2_0(const block_tq2_0& b, float* y) noexcept {
    const float d = to_f32(b.d);
    for (int h = 0; h < 2; ++h)
        for (int n = 0; n < 4; ++n)
            for (int m = 0; m < 32; ++m)
                y[128 * h + 32 * n + m] = static_cast<float>(((b.qs[32 * h + m] >> (2 * n)) & 3) - 1) * d;
}

}  // namespace detail

// ---- public API (same contract as gguf_blocks.hpp's) --------------------------------
// quantize_<t> takes importance weights for a uniform signature; ggml ignores them.
#define LOWBIT_GGUF_TERNARY_CODECS(t)                                                                        \
    inline status quantize_row_##t(const float* x, block_##t* y, std::int64_t k) noexcept {                  \
        return detail::encode_block_rows("gguf::quantize_row_" #t, "k", x, y, 1, k, nullptr,                 \
                                         [](const float* r, const float*, std::int64_t n, block_##t* out) {  \
                                             for (std::int64_t i = 0; i < n / qk_k; ++i)                     \
                                                 detail::encode_##t(r + qk_k * i, out[i]);                   \
                                         });                                                                 \
    }                                                                                                        \
    inline status quantize_##t(const float* src, block_##t* dst, std::int64_t nrow, std::int64_t n_per_row,  \
                               const float* quant_weights) noexcept {                                        \
        return detail::encode_block_rows("gguf::quantize_" #t, "n_per_row", src, dst, nrow, n_per_row,       \
                                         quant_weights,                                                      \
                                         [](const float* r, const float*, std::int64_t n, block_##t* out) {  \
                                             for (std::int64_t i = 0; i < n / qk_k; ++i)                     \
                                                 detail::encode_##t(r + qk_k * i, out[i]);                   \
                                         });                                                                 \
    }                                                                                                        \
    inline status dequantize_row_##t(const block_##t* x, float* y, std::int64_t k) noexcept {                \
        return detail::decode_block_rows("gguf::dequantize_row_" #t, x, y, k,                                \
                                         [](const block_##t& b, float* out) { detail::decode_##t(b, out); }); \
    }
LOWBIT_GGUF_TERNARY_CODECS(tq1_0)
LOWBIT_GGUF_TERNARY_CODECS(tq2_0)
#undef LOWBIT_GGUF_TERNARY_CODECS

}  // namespace gguf
}  // namespace lowbit

