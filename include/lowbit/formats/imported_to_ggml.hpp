// lowbit/formats/imported_to_ggml.hpp — an imported checkpoint matrix written
// as a ggml block type without requantizing, where that type represents every
// value exactly.
//
// Q4_0 stores d * (q - 8) with an f16 d and a 4-bit q per block of 32: that is
// a symmetric 4-bit, group-32, f16-scale scheme (zero 8) with the groups in
// input order. Q8_0 stores d * q, q an int8: a symmetric 8-bit group-32 f16
// scheme (q = u - 128). For these the blocks take the scale bits and the codes
// as they are, and ggml's decoder computes the same product as
// imported_qmatrix::dequantize_row, so the values are bit-identical. An
// act-order permutation (columns stored out of input order) rules it out, as
// does any other scheme: those are requantized by the caller.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>

#include "gguf_blocks.hpp"
#include "imported_qmatrix.hpp"

namespace lowbit {
namespace checkpoint {

// The ggml type `want` if it represents q exactly, else nullopt.
inline std::optional<gguf::gguf_type> exact_ggml_type(const imported_qmatrix& q, gguf::gguf_type want) noexcept {
    const runtime_scheme& s = q.scheme;
    const bool g32 = s.gran == granularity::per_group && s.group == 32 && q.cols() % 32 == 0;
    if (!g32 || !s.symmetric || s.scale != scale_type::f16 || !q.storage.perm.empty()) return std::nullopt;
    if (want == gguf::gguf_type::q4_0 && s.bits == 4) return want;
    if (want == gguf::gguf_type::q8_0 && s.bits == 8) return want;
    return std::nullopt;
}

// Row r of q as ggml blocks of `t` (exact_ggml_type(q, t) must hold): out
// receives gguf::row_size(t, cols) bytes.
inline status encode_exact_row(const imported_qmatrix& q, gguf::gguf_type t, std::size_t r, std::uint8_t* out) noexcept {
    if (!exact_ggml_type(q, t))
        return status::error(errc::unsupported, "the imported scheme is not exactly representable as %s", gguf::type_name(t));
    const std::size_t blocks = q.cols() / 32, gpr = q.storage.layout.groups_per_row;
    for (std::size_t b = 0; b < blocks; ++b) {
        const std::uint16_t d = q.storage.scales_16[r * gpr + b];
        if (t == gguf::gguf_type::q4_0) {
            gguf::block_q4_0 blk;
            blk.d = d;
            for (int j = 0; j < 16; ++j)
                blk.qs[j] = static_cast<std::uint8_t>(q.code(r, b * 32 + static_cast<std::size_t>(j)) |
                                                      q.code(r, b * 32 + static_cast<std::size_t>(j) + 16) << 4);
            std::memcpy(out + b * sizeof blk, &blk, sizeof blk);
        } else {
            gguf::block_q8_0 blk;
            blk.d = d;
            for (int j = 0; j < 32; ++j) blk.qs[j] = static_cast<std::int8_t>(q.code(r, b * 32 + static_cast<std::size_t>(j)) - 128);
            std::memcpy(out + b * sizeof blk, &blk, sizeof blk);
        }
    }
    return {};
}

}  // namespace checkpoint
}  // namespace lowbit
