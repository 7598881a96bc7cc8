// lowbit/formats/detail/gguf_encode.hpp — one block of floats to ggml's bytes:
// grid, codes, packing for the grid types; Q8_1 and Q8_K (activation blocks,
// no grid) directly.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "../gguf_block_structs.hpp"
#include "gguf_arith.hpp"
#include "gguf_block_grid.hpp"
#include "gguf_kquant_grids.hpp"
#include "gguf_legacy_grids.hpp"

#include "fp_contract_off_begin.inl"

namespace lowbit {
namespace gguf {
namespace detail {

// One block: its grid, each value's code on it, the packed codes.
template <class B>
inline void encode_on_grid(const float* x, const float* qw, float sigma2, B& y) noexcept {
    block_grid g;
    choose_grid(x, qw, sigma2, y, g);
    std::uint8_t L[B::values];
    for (int i = 0; i < B::values; ++i) L[i] = static_cast<std::uint8_t>(code_on_grid(g, i, x[i]));
    store_codes(L, y);
}

inline void encode(const float* x, block_q4_0& y) noexcept { encode_on_grid(x, nullptr, 0.0f, y); }
inline void encode(const float* x, block_q4_1& y) noexcept { encode_on_grid(x, nullptr, 0.0f, y); }
inline void encode(const float* x, block_q5_0& y) noexcept { encode_on_grid(x, nullptr, 0.0f, y); }
inline void encode(const float* x, block_q5_1& y) noexcept { encode_on_grid(x, nullptr, 0.0f, y); }
inline void encode(const float* x, block_q8_0& y) noexcept { encode_on_grid(x, nullptr, 0.0f, y); }
inline void encode_weighted(const float* x, const float* qw, float sigma2, block_q4_0& y) noexcept { encode_on_grid(x, qw, sigma2, y); }
inline void encode_weighted(const float* x, const float* qw, float sigma2, block_q4_1& y) noexcept { encode_on_grid(x, qw, sigma2, y); }
inline void encode_weighted(const float* x, const float* qw, float sigma2, block_q5_0& y) noexcept { encode_on_grid(x, qw, sigma2, y); }
inline void encode_weighted(const float* x, const float* qw, float sigma2, block_q5_1& y) noexcept { encode_on_grid(x, qw, sigma2, y); }
inline void encode(const float* x, block_q2_K& y) noexcept { encode_on_grid(x, nullptr, 0.0f, y); }
inline void encode(const float* x, block_q3_K& y) noexcept { encode_on_grid(x, nullptr, 0.0f, y); }
inline void encode(const float* x, block_q4_K& y) noexcept { encode_on_grid(x, nullptr, 0.0f, y); }
inline void encode(const float* x, block_q5_K& y) noexcept { encode_on_grid(x, nullptr, 0.0f, y); }
inline void encode(const float* x, block_q6_K& y) noexcept { encode_on_grid(x, nullptr, 0.0f, y); }
inline void encode_weighted(const float* x, const float* qw, block_q2_K& y) noexcept { encode_on_grid(x, qw, 0.0f, y); }
inline void encode_weighted(const float* x, const float* qw, block_q3_K& y) noexcept { encode_on_grid(x, qw, 0.0f, y); }
inline void encode_weighted(const float* x, const float* qw, block_q4_K& y) noexcept { encode_on_grid(x, qw, 0.0f, y); }
inline void encode_weighted(const float* x, const float* qw, block_q5_K& y) noexcept { encode_on_grid(x, qw, 0.0f, y); }
inline void encode_weighted(const float* x, const float* qw, block_q6_K& y) noexcept { encode_on_grid(x, qw, 0.0f, y); }

// Q8_K: symmetric 8-bit with scale max / -127 (so the largest magnitude maps to
// -127, never -128), d kept in f32, plus sums of each run of 16 codes.
inline void encode(const float* x, block_q8_K& y) noexcept {
    float max = 0.0f;
    float amax = 0.0f;
    for (int j = 0; j < qk_k; ++j) {
        if (std::fabs(x[j]) > amax) {
            amax = std::fabs(x[j]);
            max = x[j];
        }
    }
    if (amax == 0.0f) {  // ggml leaves bsums untouched here; we zero them
        std::memset(&y, 0, sizeof y);
        return;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < qk_k; ++j) y.qs[j] = static_cast<std::int8_t>(std::min(127, nearest_int(iscale * x[j])));
    for (int g = 0; g < 16; ++g) {
        int sum = 0;
        for (int i = 0; i < 16; ++i) sum += y.qs[16 * g + i];
        y.bsums[g] = static_cast<std::int16_t>(sum);
    }
    y.d = 1.0f / iscale;
}

// Q8_1: d = absmax / 127, q = round(x / d) with halves away from zero (C's roundf),
// as Q8_0's grid below.
inline float encode_q8(const float* x, std::int8_t* qs) noexcept {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < 32; ++j) qs[j] = static_cast<std::int8_t>(truncate_to_int(std::round(x[j] * id)));
    return d;
}

inline void encode(const float* x, block_q8_1& y) noexcept {
    const float d = encode_q8(x, y.qs);
    y.d = to_f16(d);
    int sum = 0;
    for (int j = 0; j < 32; ++j) sum += y.qs[j];
    y.s = to_f16(static_cast<float>(sum) * d);
}

}  // namespace detail
}  // namespace gguf
}  // namespace lowbit

#include "fp_contract_off_end.inl"
