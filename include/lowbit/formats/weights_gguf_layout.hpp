// lowbit/formats/weights_gguf_layout.hpp — the names, keys and tensor shapes of
// lowbit weights stored in a GGUF file (docs/formats.md, "lowbit weights in
// GGUF"). Shared by the writer (weights_gguf_writer.hpp) and the reader
// (weights_gguf_reader.hpp), so that both derive every size from one place.
//
// A dense or tiled weight named W is stored as standard GGUF tensors
//   W.lowbit.codes   I8   the packed codes, byte for byte as weights_view::codes()
//   W.lowbit.scales  F32 | F16 | BF16, as weights_view::scales()
//   W.lowbit.zeros   I8   (asymmetric only) one unsigned byte per scale
//   W.lowbit.perm    I32  (only with an input permutation) cols entries
// plus the metadata keys lowbit.tensor.W.{scheme, bits, granularity, group,
// symmetric, scale_type, layout, shape, row_bytes}, the list lowbit.tensors
// and lowbit.format_version. Codebook weights (formats/codebook.hpp) are
//   W.lowbit.codes   I8   the blocks (f16 scale and indices), rows of row_bytes
//   W.lowbit.grid    I8   the tensor's 2^bits grid levels
// under the same nine keys (layout "codebook", scheme "cb4" / "cb3"). A ggml
// block weight stays one tensor of its own type under its own name, with no
// lowbit key.
//
// Standard library and SIMD-free lowbit headers only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "../weights/weights_view.hpp"
#include "gguf_format.hpp"

namespace lowbit {
namespace weights_gguf {

// The version this code writes and the only one it reads.
constexpr std::uint32_t format_version = 1;
// The least general.alignment a file holding lowbit tensors may have: the
// kernels load 64-byte vectors (a tiled quad vector, an AVX-512 register).
constexpr std::uint32_t min_alignment = 64;

constexpr std::string_view version_key = "lowbit.format_version";
constexpr std::string_view list_key = "lowbit.tensors";
constexpr std::string_view tensor_key_prefix = "lowbit.tensor.";
constexpr std::string_view component_marker = ".lowbit.";  // every component tensor's name holds it

enum class component : std::uint8_t { codes, scales, zeros, perm, grid };
constexpr std::size_t component_count = 5;

// Indexed by component (its enumerator order).
inline constexpr const char* component_suffixes[component_count] = {".lowbit.codes", ".lowbit.scales", ".lowbit.zeros",
                                                                    ".lowbit.perm", ".lowbit.grid"};
inline const char* component_suffix(component c) noexcept {
    const auto i = static_cast<std::size_t>(c);
    return i < component_count ? component_suffixes[i] : "";
}
// The longest suffix (".lowbit.scales"): a base name may take what is left of
// ggml's 63 bytes.
constexpr std::size_t max_suffix = 14;
constexpr std::size_t max_base_name = gguf::max_tensor_name - 1 - max_suffix;

// The per-tensor keys, in the order the writer sets them.
enum class field : std::uint8_t { scheme, bits, granularity, group, symmetric, scale_type, layout, shape, row_bytes };
constexpr std::size_t field_count = 9;
// Indexed by field (its enumerator order).
inline constexpr const char* field_names[field_count] = {"scheme",     "bits",   "granularity", "group",    "symmetric",
                                                         "scale_type", "layout", "shape",       "row_bytes"};
inline const char* field_name(field f) noexcept {
    const auto i = static_cast<std::size_t>(f);
    return i < field_count ? field_names[i] : "";
}

inline std::string component_name(std::string_view base, component c) { return std::string(base) + component_suffix(c); }
inline std::string key_name(std::string_view base, field f) {
    return std::string(tensor_key_prefix) + std::string(base) + "." + field_name(f);
}

inline const char* granularity_name(granularity g) noexcept {
    switch (g) {
        case granularity::per_tensor: return "per_tensor";
        case granularity::per_channel: return "per_channel";
        case granularity::per_group: return "per_group";
    }
    return "?";
}

// The scheme name of codebook weights with `bits`-bit indices: "cb4", "cb3".
inline std::string codebook_scheme_name(int bits) { return "cb" + std::to_string(bits); }

// A stand-in grid (levels -n/2 .. n/2-1, the unused entries 0) so that a
// codebook desc's shape can be checked before its grid is read or written.
inline void set_placeholder_grid(weights_desc& d) noexcept {
    const int n = d.scheme.bits == 3 || d.scheme.bits == 4 ? 1 << d.scheme.bits : 0;
    for (int i = 0; i < 16; ++i) d.grid[i] = static_cast<std::int8_t>(i < n ? i - n / 2 : 0);
}

inline gguf::gguf_type scale_tensor_type(scale_type s) noexcept {
    return s == scale_type::f32 ? gguf::gguf_type::f32 : s == scale_type::f16 ? gguf::gguf_type::f16 : gguf::gguf_type::bf16;
}

// Dims (ggml order: row length first) and type of one component of valid
// weights `d` (a dense, tiled or codebook weights_view's desc); n_dims == 0
// when the weights have no such component.
struct component_shape {
    gguf::gguf_type type = gguf::gguf_type::i8;
    std::uint32_t n_dims = 0;
    std::uint64_t dims[2] = {1, 1};
    std::uint64_t bytes() const noexcept { return dims[0] * dims[1] * gguf::type_size(type); }
};

inline component_shape shape_of(const weights_desc& d, bool has_perm, component c) noexcept {
    component_shape s;
    if (d.lay == layout::codebook) {  // the blocks hold the scales: codes and the grid only
        if (c == component::codes) {
            s.n_dims = 2;
            s.dims[0] = d.row_bytes;
            s.dims[1] = d.rows;
        } else if (c == component::grid) {
            s.n_dims = 1;
            s.dims[0] = std::uint64_t{1} << d.scheme.bits;
        }
        return s;
    }
    const bool tiled = d.lay == layout::tiled;
    using T = layout_traits<layout::tiled>;
    switch (c) {
        case component::codes:
            // dense: one GGUF row per code row; tiled: one GGUF row per tile of 16 rows
            s.n_dims = 2;
            s.dims[0] = tiled ? T::blocks(d) * 64 * static_cast<std::size_t>(d.scheme.bits) : d.row_bytes;
            s.dims[1] = tiled ? T::tiles(d) : d.rows;
            return s;
        case component::scales:
        case component::zeros:
            if (c == component::zeros && d.scheme.symmetric) return s;
            s.type = c == component::scales ? scale_tensor_type(d.scheme.scale) : gguf::gguf_type::i8;
            if (d.scheme.gran == granularity::per_tensor) {
                s.n_dims = 1;
                return s;
            }
            s.n_dims = 2;
            if (tiled) {
                s.dims[0] = T::groups(d) * tile_rows;  // [tile][group][row in tile]
                s.dims[1] = T::tiles(d);
            } else {
                const std::size_t g = static_cast<std::size_t>(d.group);
                s.dims[0] = (d.cols + g - 1) / g;
                s.dims[1] = d.rows;
            }
            return s;
        case component::perm:
            if (!has_perm) return s;
            s.type = gguf::gguf_type::i32;
            s.n_dims = 1;
            s.dims[0] = d.cols;
            return s;
        case component::grid: return s;
    }
    return s;
}

}  // namespace weights_gguf
}  // namespace lowbit
