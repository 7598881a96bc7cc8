// lowbit/formats/gguf_types.hpp — ggml tensor type ids and their block geometry.
//
// NOTE for formats/gguf_blocks.hpp: this header owns `lowbit::gguf::gguf_type`
// (the enum with ggml's numeric ids). The block-format header should include
// this file and reuse the enum instead of declaring a second one, so that the
// GGUF file reader/writer (gguf.hpp) and the block codecs agree on one type.
//
// Ids, block sizes (values per block) and type sizes (bytes per block) follow
// ggml's `enum ggml_type` and the block structs of ggml-common.h; ids that ggml
// removed (4, 5, 31..33, 36..38) are not types here, and files that use them
// are rejected by the reader. See docs/formats.md, "GGUF files".
#pragma once

#include <cstddef>
#include <cstdint>

namespace lowbit {
namespace gguf {

enum class gguf_type : std::uint32_t {
    f32 = 0,
    f16 = 1,
    q4_0 = 2,
    q4_1 = 3,
    q5_0 = 6,
    q5_1 = 7,
    q8_0 = 8,
    q8_1 = 9,
    q2_K = 10,
    q3_K = 11,
    q4_K = 12,
    q5_K = 13,
    q6_K = 14,
    q8_K = 15,
    iq2_xxs = 16,
    iq2_xs = 17,
    iq3_xxs = 18,
    iq1_s = 19,
    iq4_nl = 20,
    iq3_s = 21,
    iq2_s = 22,
    iq4_xs = 23,
    i8 = 24,
    i16 = 25,
    i32 = 26,
    i64 = 27,
    f64 = 28,
    iq1_m = 29,
    bf16 = 30,
    tq1_0 = 34,
    tq2_0 = 35,
    mxfp4 = 39,
};

// One past the largest id ggml has assigned (GGML_TYPE_COUNT).
constexpr std::uint32_t gguf_type_id_end = 40;

struct gguf_type_info {
    const char* name;        // ggml's spelling ("Q4_K"); nullptr for an unassigned id
    std::uint32_t block;     // values per block
    std::uint32_t bytes;     // bytes per block
};

namespace detail {
// Indexed by id. Sizes are those of ggml's block structs (ggml-common.h), e.g.
// Q4_K = 2 f16 + 12 scale bytes + 128 nibble bytes = 144 bytes per 256 values.
constexpr gguf_type_info gguf_type_table[gguf_type_id_end] = {
    {"F32", 1, 4},         {"F16", 1, 2},        {"Q4_0", 32, 18},     {"Q4_1", 32, 20},
    {nullptr, 0, 0},       {nullptr, 0, 0},      {"Q5_0", 32, 22},     {"Q5_1", 32, 24},
    {"Q8_0", 32, 34},      {"Q8_1", 32, 36},     {"Q2_K", 256, 84},    {"Q3_K", 256, 110},
    {"Q4_K", 256, 144},    {"Q5_K", 256, 176},   {"Q6_K", 256, 210},   {"Q8_K", 256, 292},
    {"IQ2_XXS", 256, 66},  {"IQ2_XS", 256, 74},  {"IQ3_XXS", 256, 98}, {"IQ1_S", 256, 50},
    {"IQ4_NL", 32, 18},    {"IQ3_S", 256, 110},  {"IQ2_S", 256, 82},   {"IQ4_XS", 256, 136},
    {"I8", 1, 1},          {"I16", 1, 2},        {"I32", 1, 4},        {"I64", 1, 8},
    {"F64", 1, 8},         {"IQ1_M", 256, 56},   {"BF16", 1, 2},       {nullptr, 0, 0},
    {nullptr, 0, 0},       {nullptr, 0, 0},      {"TQ1_0", 256, 54},   {"TQ2_0", 256, 66},
    {nullptr, 0, 0},       {nullptr, 0, 0},      {nullptr, 0, 0},      {"MXFP4", 32, 17},
};
}  // namespace detail

// True when `id` names a type that GGUF files may use today.
constexpr bool is_valid_type_id(std::uint32_t id) noexcept {
    return id < gguf_type_id_end && detail::gguf_type_table[id].name != nullptr;
}

// Values per block (1 for plain types); 0 for an invalid type.
constexpr std::size_t type_block_size(gguf_type t) noexcept {
    return is_valid_type_id(static_cast<std::uint32_t>(t)) ? detail::gguf_type_table[static_cast<std::uint32_t>(t)].block
                                                           : 0;
}

// Bytes per block; 0 for an invalid type.
constexpr std::size_t type_size(gguf_type t) noexcept {
    return is_valid_type_id(static_cast<std::uint32_t>(t)) ? detail::gguf_type_table[static_cast<std::uint32_t>(t)].bytes
                                                           : 0;
}

// ggml's name ("Q4_K"), or "unknown" for an invalid type.
constexpr const char* type_name(gguf_type t) noexcept {
    return is_valid_type_id(static_cast<std::uint32_t>(t)) ? detail::gguf_type_table[static_cast<std::uint32_t>(t)].name
                                                           : "unknown";
}

// True for block-quantized types (block size > 1).
constexpr bool is_quantized(gguf_type t) noexcept { return type_block_size(t) > 1; }

// Bytes that k values of type t occupy (k a multiple of the block size), 0 for
// an unknown type. The one definition: GGUF rows, the codecs and the matmuls use it.
constexpr std::int64_t row_size(gguf_type t, std::int64_t k) noexcept {
    return type_block_size(t) == 0 ? 0
                                   : k / static_cast<std::int64_t>(type_block_size(t)) * static_cast<std::int64_t>(type_size(t));
}

static_assert(type_size(gguf_type::q4_0) == 18 && type_block_size(gguf_type::q4_0) == 32, "Q4_0 geometry");
static_assert(type_size(gguf_type::q6_K) == 210 && type_block_size(gguf_type::q6_K) == 256, "Q6_K geometry");
static_assert(type_size(gguf_type::bf16) == 2 && type_block_size(gguf_type::bf16) == 1, "BF16 geometry");

}  // namespace gguf
}  // namespace lowbit
