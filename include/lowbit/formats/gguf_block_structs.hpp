// lowbit/formats/gguf_block_structs.hpp — ggml's legacy and K-quant blocks as
// plain structs (Q4_0 … Q8_1, Q2_K … Q8_K), byte for byte; no code.
//
// docs/formats.md ("GGUF block formats") draws every layout. The codecs that fill
// and read these structs live in detail/gguf_encode.hpp and detail/gguf_decode.hpp;
// the checked row API in gguf_rows.hpp.
#pragma once

#include <cstddef>
#include <cstdint>

#include "gguf_types.hpp"

namespace lowbit {
namespace gguf {

// ---- block geometry --------------------------------------------------------------
constexpr int qk_legacy = 32;  // values per block of Q4_0 … Q8_1
constexpr int qk_k = 256;      // values per super-block of the K-quants (ggml's QK_K)
constexpr int k_scale_size = 12;  // bytes of packed 6-bit scales/mins in Q4_K and Q5_K

// ---- block structs: ggml's exact layouts (docs/formats.md, "GGUF block formats") ---
// fp16 fields hold IEEE binary16 bits (lowbit::f16_to_f32 reads them). Multi-byte
// fields are in host order; GGUF files are little-endian, like every host ggml runs on.

struct block_q4_0 {  // x = d * (q - 8)
    static constexpr int values = qk_legacy;
    static constexpr gguf_type type_id = gguf_type::q4_0;
    std::uint16_t d;
    std::uint8_t qs[qk_legacy / 2];  // byte j: value j in the low nibble, value j+16 in the high one
};
struct block_q4_1 {  // x = d * q + m
    static constexpr int values = qk_legacy;
    static constexpr gguf_type type_id = gguf_type::q4_1;
    std::uint16_t d;
    std::uint16_t m;
    std::uint8_t qs[qk_legacy / 2];
};
struct block_q5_0 {  // x = d * (q - 16)
    static constexpr int values = qk_legacy;
    static constexpr gguf_type type_id = gguf_type::q5_0;
    std::uint16_t d;
    std::uint8_t qh[4];  // bit j (little-endian 32-bit word): fifth bit of value j
    std::uint8_t qs[qk_legacy / 2];
};
struct block_q5_1 {  // x = d * q + m
    static constexpr int values = qk_legacy;
    static constexpr gguf_type type_id = gguf_type::q5_1;
    std::uint16_t d;
    std::uint16_t m;
    std::uint8_t qh[4];
    std::uint8_t qs[qk_legacy / 2];
};
struct block_q8_0 {  // x = d * q
    static constexpr int values = qk_legacy;
    static constexpr gguf_type type_id = gguf_type::q8_0;
    std::uint16_t d;
    std::int8_t qs[qk_legacy];
};
struct block_q8_1 {  // x = d * q; s = d * sum(q), for the integer-dot kernels
    static constexpr int values = qk_legacy;
    static constexpr gguf_type type_id = gguf_type::q8_1;
    std::uint16_t d;
    std::uint16_t s;
    std::int8_t qs[qk_legacy];
};
struct block_q2_K {  // x = d * sc * q - dmin * m, 16 sub-blocks of 16
    static constexpr int values = qk_k;
    static constexpr gguf_type type_id = gguf_type::q2_K;
    std::uint8_t scales[qk_k / 16];  // low nibble: sub-block scale, high nibble: sub-block min
    std::uint8_t qs[qk_k / 4];
    std::uint16_t d;
    std::uint16_t dmin;
};
struct block_q3_K {  // x = d * (sc - 32) * (q - 4), 16 sub-blocks of 16
    static constexpr int values = qk_k;
    static constexpr gguf_type type_id = gguf_type::q3_K;
    std::uint8_t hmask[qk_k / 8];  // third bit of each value
    std::uint8_t qs[qk_k / 4];     // low two bits
    std::uint8_t scales[12];       // sixteen 6-bit scales
    std::uint16_t d;
};
struct block_q4_K {  // x = d * sc * q - dmin * m, 8 sub-blocks of 32
    static constexpr int values = qk_k;
    static constexpr gguf_type type_id = gguf_type::q4_K;
    std::uint16_t d;
    std::uint16_t dmin;
    std::uint8_t scales[k_scale_size];  // eight 6-bit scales and eight 6-bit mins
    std::uint8_t qs[qk_k / 2];
};
struct block_q5_K {  // x = d * sc * q - dmin * m, 8 sub-blocks of 32
    static constexpr int values = qk_k;
    static constexpr gguf_type type_id = gguf_type::q5_K;
    std::uint16_t d;
    std::uint16_t dmin;
    std::uint8_t scales[k_scale_size];
    std::uint8_t qh[qk_k / 8];
    std::uint8_t qs[qk_k / 2];
};
struct block_q6_K {  // x = d * sc * (q - 32), 16 sub-blocks of 16
    static constexpr int values = qk_k;
    static constexpr gguf_type type_id = gguf_type::q6_K;
    std::uint8_t ql[qk_k / 2];       // low four bits
    std::uint8_t qh[qk_k / 4];       // high two bits
    std::int8_t scales[qk_k / 16];   // signed 8-bit sub-block scales
    std::uint16_t d;
};
struct block_q8_K {  // x = d * q; activations for the K-quant dot products (d is f32)
    static constexpr int values = qk_k;
    static constexpr gguf_type type_id = gguf_type::q8_K;
    float d;
    std::int8_t qs[qk_k];
    std::int16_t bsums[qk_k / 16];  // sum of each run of 16 quants
};

// format constants: data, not code (ggml's block sizes).
static_assert(sizeof(block_q4_0) == 18, "Q4_0 block is 18 bytes");
static_assert(sizeof(block_q4_1) == 20, "Q4_1 block is 20 bytes");
static_assert(sizeof(block_q5_0) == 22, "Q5_0 block is 22 bytes");
static_assert(sizeof(block_q5_1) == 24, "Q5_1 block is 24 bytes");
static_assert(sizeof(block_q8_0) == 34, "Q8_0 block is 34 bytes");
static_assert(sizeof(block_q8_1) == 36, "Q8_1 block is 36 bytes");
static_assert(sizeof(block_q2_K) == 84, "Q2_K block is 84 bytes");
static_assert(sizeof(block_q3_K) == 110, "Q3_K block is 110 bytes");
static_assert(sizeof(block_q4_K) == 144, "Q4_K block is 144 bytes");
static_assert(sizeof(block_q5_K) == 176, "Q5_K block is 176 bytes");
static_assert(sizeof(block_q6_K) == 210, "Q6_K block is 210 bytes");
static_assert(sizeof(block_q8_K) == 292, "Q8_K block is 292 bytes");

namespace detail {
template <class B>
constexpr bool agrees_with_type_table() {
    return type_size(B::type_id) == sizeof(B) && type_block_size(B::type_id) == static_cast<std::size_t>(B::values);
}
static_assert(agrees_with_type_table<block_q4_0>() && agrees_with_type_table<block_q4_1>() &&
                  agrees_with_type_table<block_q5_0>() && agrees_with_type_table<block_q5_1>() &&
                  agrees_with_type_table<block_q8_0>() && agrees_with_type_table<block_q8_1>() &&
                  agrees_with_type_table<block_q2_K>() && agrees_with_type_table<block_q3_K>() &&
                  agrees_with_type_table<block_q4_K>() && agrees_with_type_table<block_q5_K>() &&
                  agrees_with_type_table<block_q6_K>() && agrees_with_type_table<block_q8_K>(),
              "block structs and gguf_types.hpp disagree");
}  // namespace detail

}  // namespace gguf
}  // namespace lowbit
