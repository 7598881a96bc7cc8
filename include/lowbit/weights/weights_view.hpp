// lowbit/weights/weights_view.hpp — one run-time typed description of a
// quantized weight matrix, whatever its layout (docs/redesign.md, step 1).
//
//   layout::dense   today's qmatrix packing (pack/qmatrix.hpp): N rows of packed codes
//   layout::tiled   the kernel layout of pack/tiled.hpp (16-row tiles, 32-column blocks)
//   layout::ggml    the bytes of a GGUF tensor of one ggml block type (formats/gguf_types.hpp)
//   layout::codebook  blocks of 32 indices into a per-tensor int8 grid of 8 or 16 levels, an f16 scale
//                     per block (formats/codebook.hpp; docs/formats.md, "Codebook weights")
//   layout::tiled_codebook  the same indices, scales and grid in the tiled layout's geometry: index
//                     planes as pack/tiled.hpp stores 3- or 4-bit codes, f16 scales [tile][block][row]
//                     (repack(w, layout::tiled_codebook); docs/formats.md, "The tiled codebook layout")
//   layout::tiled_kquant  a ggml K-quant tensor (Q4_K, Q5_K, Q6_K) in the tiled geometry: code planes
//                     as pack/tiled.hpp stores 4-, 5-, 6-bit codes, the sub-block scale/min bytes
//                     [tile][block][2][row], the super-block f16 d (and dmin) [tile][super][field][row]
//                     (repack(w, layout::tiled_kquant); docs/formats.md, "The tiled K-quant layout")
//
// A caller fills a weights_desc and calls make_weights(desc): the one validator
// of the layout (layout_traits<L>::validate) runs there, once, and a
// weights_view that exists is valid. The kernels never check it again. The
// typed views (qmatrix_view<S>, tiled_view<S>) run the same validators from
// their validate(), so each check exists once (weights/convert.hpp converts
// between the typed views and this one).
//
// This header includes only the standard library and lowbit's SIMD-free core:
// an engine that stores weights pays nothing for the kernels.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../core/scheme.hpp"
#include "../core/status.hpp"
#include "../core/views.hpp"
#include "../formats/gguf_types.hpp"
#include "../pack/bitpack.hpp"

namespace lowbit {

enum class layout : std::uint8_t { dense, tiled, ggml, codebook, tiled_codebook, tiled_kquant };

// dense and tiled: codes, scales and zeros per a runtime_scheme (the scheme
// kernels); ggml and codebook weights carry their scales inside their blocks.
constexpr bool is_scheme_layout(layout l) noexcept { return l == layout::dense || l == layout::tiled; }

inline const char* layout_name(layout l) noexcept {
    switch (l) {
        case layout::dense: return "dense";
        case layout::tiled: return "tiled";
        case layout::ggml: return "ggml";
        case layout::codebook: return "codebook";
        case layout::tiled_codebook: return "tiled_codebook";
        case layout::tiled_kquant: return "tiled_kquant";
    }
    return "?";
}

// Geometry of the tiled layout (pack/tiled.hpp describes it).
constexpr std::size_t tile_rows = 16;    // rows of a tile: one 16-lane int32 vector
constexpr std::size_t tile_block = 32;   // columns of a block
constexpr std::size_t tile_quads = 8;    // quad vectors per block

// Geometry of the codebook layout: 32 values per block, an f16 scale, then the
// indices (4 bits: 16 bytes of nibbles as IQ4_NL; 3 bits: 8 bytes of 2-bit low
// parts and a 32-bit word of high bits). docs/formats.md, "Codebook weights".
constexpr std::size_t codebook_block = 32;
constexpr std::size_t codebook_block_bytes(int bits) noexcept { return bits == 4 ? 18 : bits == 3 ? 14 : 0; }

// Geometry of the tiled K-quant layout: a ggml super-block of 256 values is 8
// tile blocks of 32 (one Q4_K/Q5_K sub-block, two Q6_K sub-blocks each).
constexpr std::size_t kquant_super = 256;
constexpr std::size_t kquant_blocks_per_super = kquant_super / tile_block;
// Code bits of a K-quant type in the tiled layout (0: not one it holds).
constexpr int kquant_bits(gguf::gguf_type t) noexcept {
    return t == gguf::gguf_type::q4_K ? 4 : t == gguf::gguf_type::q5_K ? 5 : t == gguf::gguf_type::q6_K ? 6 : 0;
}
// f16 fields per super-block and row: d and dmin (Q4_K, Q5_K), d (Q6_K).
constexpr std::size_t kquant_fields(gguf::gguf_type t) noexcept { return t == gguf::gguf_type::q6_K ? 1 : 2; }

// What a caller fills to describe weights; make_weights checks it.
struct weights_desc {
    layout lay = layout::dense;
    runtime_scheme scheme{};                               // dense, tiled
    gguf::gguf_type ggml = gguf::gguf_type::q4_0;          // ggml
    std::size_t rows = 0, cols = 0;
    int group = 0;              // dense, tiled: elements per group; 0 = from the scheme (per_group: scheme.group, else cols)
    std::size_t row_bytes = 0;  // dense: bytes per code row (>= packed size); ggml: 0 = the type's row size
    const std::uint8_t* codes = nullptr;  // dense: rows * row_bytes; tiled, tiled_codebook: tiles * blocks * 64 * bits; ggml: the block bytes
    const void* scales = nullptr;         // f32 or u16 (f16/bf16) per the scheme; tiled_codebook: f16 tiles * blocks * 16;
                                          // tiled_kquant: f16 d (dmin) per super-block; ggml: unused
    const std::uint8_t* zeros = nullptr;  // asymmetric schemes; tiled_kquant: the sub-block scale/min bytes
    const std::int32_t* perm = nullptr;   // optional input permutation, cols entries in [0, cols)
    // codebook, tiled_codebook: the grid, 2^scheme.bits strictly ascending levels in [-127, 127]
    // (the rest zero). Held by value so that a copied description stays whole.
    std::int8_t grid[16] = {};
};

namespace detail {
// The description of a typed dense or tiled view V (qmatrix_view, tiled_view:
// the fields rows, cols, group, codes, scales, zeros, perm).
template <class V>
weights_desc typed_view_desc(layout lay, const runtime_scheme& scheme, const V& v, std::size_t row_bytes) noexcept {
    weights_desc d;
    d.lay = lay;
    d.scheme = scheme;
    d.rows = v.rows;
    d.cols = v.cols;
    d.group = v.group;
    d.row_bytes = row_bytes;
    d.codes = v.codes;
    d.scales = v.scales;
    d.zeros = v.zeros;
    d.perm = v.perm;
    return d;
}

// Pointers checked by every layout: alignment to the element type (C++
// reads them through typed pointers), perm entries inside [0, cols) (the
// kernels read x[perm[j]]). `what` names the view in the message.
inline status check_scales_and_perm(const char* what, const void* scales, std::size_t scale_align, const std::int32_t* perm,
                                    std::size_t cols) noexcept {
    if (reinterpret_cast<std::uintptr_t>(scales) % scale_align != 0 || misaligned(perm))
        return status::error(errc::invalid_argument, "%s.scales or %s.perm is not aligned to its element type", what, what);
    if (perm) LOWBIT_TRY(check_span(span<const std::int32_t>(perm, cols), "perm", what));
    if (perm)
        for (std::size_t j = 0; j < cols; ++j)
            if (perm[j] < 0 || static_cast<std::size_t>(perm[j]) >= cols)
                return status::error(errc::invalid_argument, "%s.perm[%zu] = %d is outside [0, %zu)", what, j,
                                     static_cast<int>(perm[j]), cols);
    return {};
}

inline std::size_t scale_bytes(scale_type t) noexcept { return t == scale_type::f32 ? 4 : 2; }

// The checks the dense and tiled layouts share: scheme, shape, group, arrays.
// `group` is the view's group field (already resolved from the scheme).
inline status check_quantized(const char* what, const runtime_scheme& s, int group, const weights_desc& d) noexcept {
    LOWBIT_TRY(s.validate());
    if (d.rows == 0 || d.cols == 0) return status::error(errc::shape_mismatch, "%s is empty (%zu x %zu)", what, d.rows, d.cols);
    if (d.cols > (std::size_t{1} << 40) || d.rows > (std::size_t{1} << 40) || d.rows * d.cols > (std::size_t{1} << 46))
        return status::error(errc::invalid_argument, "%s %zu x %zu is too large", what, d.rows, d.cols);
    if (group < 1) return status::error(errc::invalid_argument, "%s.group = %d, must be >= 1", what, group);
    if (s.gran != granularity::per_group && static_cast<std::size_t>(group) != d.cols)
        return status::error(errc::invalid_argument, "%s.group = %d, must equal cols = %zu for per-channel/per-tensor", what, group,
                             d.cols);
    if (!d.codes || !d.scales) return status::error(errc::invalid_argument, "%s.codes or %s.scales is null", what, what);
    if (!s.symmetric && !d.zeros) return status::error(errc::invalid_argument, "%s.zeros is null for an asymmetric scheme", what);
    return check_scales_and_perm(what, d.scales, scale_bytes(s.scale), d.perm, d.cols);
}

// A codebook grid: 3- or 4-bit indices; 2^bits levels in [-127, 127] (no -128,
// which the int8 kernels would negate), strictly ascending (a unique nearest
// level), the unused entries 0.
inline status check_codebook_grid(int bits, const std::int8_t* grid, const char* what) noexcept {
    if (bits != 3 && bits != 4) return status::error(errc::unsupported, "%s: %d-bit indices (codebooks have 3 or 4)", what, bits);
    const int n = 1 << bits;
    for (int i = 0; i < 16; ++i) {
        if (i < n && grid[i] == -128) return status::error(errc::invalid_argument, "%s: grid level %d is -128 (must be in [-127, 127])", what, i);
        if (i >= n && grid[i] != 0) return status::error(errc::invalid_argument, "%s: grid entry %d of a %d-level grid is not 0", what, i, n);
        if (i > 0 && i < n && grid[i] <= grid[i - 1])
            return status::error(errc::invalid_argument, "%s: grid levels %d, %d are not strictly ascending (%d, %d)", what, i - 1, i,
                                 grid[i - 1], grid[i]);
    }
    return {};
}
// Both codebook layouts: the grid, a non-empty shape of whole 32-blocks per row, not too large.
inline status check_codebook_shape(const weights_desc& d, const char* what) noexcept {
    LOWBIT_TRY(check_codebook_grid(d.scheme.bits, d.grid, what));
    if (d.rows == 0 || d.cols == 0) return status::error(errc::shape_mismatch, "%s is empty (%zu x %zu)", what, d.rows, d.cols);
    if (d.cols % codebook_block != 0)
        return status::error(errc::invalid_argument, "%s: k = %zu is not a multiple of %zu", what, d.cols, codebook_block);
    if (d.cols > (std::size_t{1} << 40) || d.rows > (std::size_t{1} << 40) || d.rows * d.cols > (std::size_t{1} << 46))
        return status::error(errc::invalid_argument, "%s: %zu x %zu is too large", what, d.rows, d.cols);
    return {};
}
}  // namespace detail

class weights_view;

// Per-layout facts: the one validator, array sizes, what the kernels read.
template <layout L>
struct layout_traits;

template <>
struct layout_traits<layout::dense> {
    // Packed codes must fill a row; everything else as check_quantized.
    static status validate(const weights_desc& d, const char* what = "qmatrix") noexcept {
        LOWBIT_TRY(detail::check_quantized(what, d.scheme, d.group, d));
        if (d.row_bytes < packed_bytes(d.cols, d.scheme.bits))
            return status::error(errc::invalid_argument, "%s.row_bytes = %zu, need >= %zu", what, d.row_bytes,
                                 packed_bytes(d.cols, d.scheme.bits));
        return {};
    }
    static std::size_t code_bytes(const weights_desc& d) noexcept { return d.rows * d.row_bytes; }
    static std::size_t scale_count(const weights_desc& d) noexcept {
        if (d.scheme.gran == granularity::per_tensor) return 1;
        const std::size_t g = static_cast<std::size_t>(d.group);
        return d.rows * ((d.cols + g - 1) / g);
    }
};

template <>
struct layout_traits<layout::tiled> {
    // The kernels walk whole 32-blocks inside one group: a group must be a
    // multiple of 32 or span the row.
    static status validate(const weights_desc& d, const char* what = "tiled") noexcept {
        LOWBIT_TRY(detail::check_quantized(what, d.scheme, d.group, d));
        if (static_cast<std::size_t>(d.group) < d.cols && d.group % static_cast<int>(tile_block) != 0)
            return status::error(errc::unsupported, "%s: group size %d is not a multiple of 32", what, d.group);
        return {};
    }
    static std::size_t tiles(const weights_desc& d) noexcept { return (d.rows + tile_rows - 1) / tile_rows; }
    static std::size_t blocks(const weights_desc& d) noexcept { return (d.cols + tile_block - 1) / tile_block; }
    static std::size_t groups(const weights_desc& d) noexcept {
        const std::size_t g = static_cast<std::size_t>(d.group);
        return (d.cols + g - 1) / g;
    }
    static std::size_t blocks_per_group(const weights_desc& d) noexcept {
        const std::size_t g = static_cast<std::size_t>(d.group);
        return g < d.cols ? g / tile_block : 0;
    }
    static std::size_t code_bytes(const weights_desc& d) noexcept {
        return tiles(d) * blocks(d) * 64 * static_cast<std::size_t>(d.scheme.bits);
    }
    static std::size_t scale_count(const weights_desc& d) noexcept {
        return d.scheme.gran == granularity::per_tensor ? 1 : tiles(d) * groups(d) * tile_rows;
    }
};

template <>
struct layout_traits<layout::ggml> {
    // A quantized ggml type with known geometry, whole blocks per row, and
    // 2-byte aligned rows (every block struct starts with f16 fields).
    static status validate(const weights_desc& d, const char* what = "ggml weights") noexcept {
        const std::size_t qk = gguf::type_block_size(d.ggml);
        if (!gguf::is_quantized(d.ggml))
            return status::error(errc::unsupported, "%s: type %s (%u) is not a ggml block type", what, gguf::type_name(d.ggml),
                                 static_cast<unsigned>(d.ggml));
        if (d.rows == 0) return status::error(errc::shape_mismatch, "%s: no rows", what);
        if (d.cols == 0 || d.cols % qk != 0)
            return status::error(errc::invalid_argument, "%s: k = %zu is not a positive multiple of %s's block size %zu", what, d.cols,
                                 gguf::type_name(d.ggml), qk);
        if (d.cols > (std::size_t{1} << 40) || d.rows > (std::size_t{1} << 40) || d.rows * d.cols > (std::size_t{1} << 46))
            return status::error(errc::invalid_argument, "%s: %zu x %zu is too large", what, d.rows, d.cols);
        const std::size_t rb = row_size(d);
        if (d.row_bytes != 0 && d.row_bytes != rb)
            return status::error(errc::invalid_argument, "%s: row_bytes = %zu, a %s row of %zu values is %zu bytes", what, d.row_bytes,
                                 gguf::type_name(d.ggml), d.cols, rb);
        if (!d.codes) return status::error(errc::invalid_argument, "%s: weight rows are null", what);
        if (reinterpret_cast<std::uintptr_t>(d.codes) % 2 != 0)
            return status::error(errc::invalid_argument, "%s: weight rows are not 2-byte aligned", what);
        return {};
    }
    static std::size_t row_size(const weights_desc& d) noexcept {
        const std::size_t qk = gguf::type_block_size(d.ggml);
        return qk ? d.cols / qk * gguf::type_size(d.ggml) : 0;
    }
    static std::size_t code_bytes(const weights_desc& d) noexcept { return d.rows * row_size(d); }
    static std::size_t scale_count(const weights_desc&) noexcept { return 0; }  // inside the blocks
};

template <>
struct layout_traits<layout::codebook> {
    // scheme.bits 3 or 4; a grid the int8 kernels can take (levels within
    // +-127, so no -128 is ever negated; strictly ascending, so the nearest
    // level is unique); whole blocks per row; 2-byte aligned rows (f16 scales).
    static status validate(const weights_desc& d, const char* what = "codebook weights") noexcept {
        LOWBIT_TRY(detail::check_codebook_shape(d, what));
        if (d.row_bytes != 0 && d.row_bytes != row_size(d))
            return status::error(errc::invalid_argument, "%s: row_bytes = %zu, a row of %zu values is %zu bytes", what, d.row_bytes, d.cols,
                                 row_size(d));
        if (!d.codes) return status::error(errc::invalid_argument, "%s: blocks are null", what);
        if (reinterpret_cast<std::uintptr_t>(d.codes) % 2 != 0) return status::error(errc::invalid_argument, "%s: blocks are not 2-byte aligned", what);
        return {};
    }
    static std::size_t row_size(const weights_desc& d) noexcept { return d.cols / codebook_block * codebook_block_bytes(d.scheme.bits); }
    static std::size_t code_bytes(const weights_desc& d) noexcept { return d.rows * row_size(d); }
};

template <>
struct layout_traits<layout::tiled_codebook> {
    // The codebook layout's rules (3- or 4-bit indices, a grid the int8 kernels
    // can take, whole 32-blocks per row) in the tiled geometry: one f16 scale
    // per row and block, stored as the tiled layout stores 32-groups.
    static status validate(const weights_desc& d, const char* what = "tiled codebook weights") noexcept {
        LOWBIT_TRY(detail::check_codebook_shape(d, what));
        if (!d.codes || !d.scales) return status::error(errc::invalid_argument, "%s: codes or scales are null", what);
        return detail::check_scales_and_perm(what, d.scales, 2, nullptr, d.cols);
    }
    static std::size_t code_bytes(const weights_desc& d) noexcept {
        return layout_traits<layout::tiled>::tiles(d) * layout_traits<layout::tiled>::blocks(d) * 64 * static_cast<std::size_t>(d.scheme.bits);
    }
    static std::size_t scale_count(const weights_desc& d) noexcept {
        return layout_traits<layout::tiled>::tiles(d) * layout_traits<layout::tiled>::blocks(d) * tile_rows;
    }
};

template <>
struct layout_traits<layout::tiled_kquant> {
    // A K-quant type the layout holds (d.ggml: Q4_K, Q5_K, Q6_K), whole
    // super-blocks of 256 per row (as the ggml tensor has), rows padded to
    // whole tiles; codes, d/dmin and the sub-block bytes present, the f16
    // array 2-byte aligned.
    static status validate(const weights_desc& d, const char* what = "tiled K-quant weights") noexcept {
        if (kquant_bits(d.ggml) == 0)
            return status::error(errc::unsupported, "%s: type %s (%u) has no tiled K-quant form (Q4_K, Q5_K, Q6_K)", what,
                                 gguf::type_name(d.ggml), static_cast<unsigned>(d.ggml));
        if (d.rows == 0 || d.cols == 0) return status::error(errc::shape_mismatch, "%s is empty (%zu x %zu)", what, d.rows, d.cols);
        if (d.cols % kquant_super != 0)
            return status::error(errc::invalid_argument, "%s: k = %zu is not a multiple of the super-block size %zu", what, d.cols,
                                 kquant_super);
        if (d.cols > (std::size_t{1} << 40) || d.rows > (std::size_t{1} << 40) || d.rows * d.cols > (std::size_t{1} << 46))
            return status::error(errc::invalid_argument, "%s: %zu x %zu is too large", what, d.rows, d.cols);
        if (!d.codes || !d.scales || !d.zeros)
            return status::error(errc::invalid_argument, "%s: codes, super-block scales or sub-block scales are null", what);
        if (d.perm) return status::error(errc::unsupported, "%s: K-quant blocks hold no input permutation", what);
        return detail::check_scales_and_perm(what, d.scales, 2, nullptr, d.cols);
    }
    static std::size_t tiles(const weights_desc& d) noexcept { return (d.rows + tile_rows - 1) / tile_rows; }
    static std::size_t blocks(const weights_desc& d) noexcept { return d.cols / tile_block; }
    static std::size_t supers(const weights_desc& d) noexcept { return d.cols / kquant_super; }
    static std::size_t code_bytes(const weights_desc& d) noexcept {
        return tiles(d) * blocks(d) * 64 * static_cast<std::size_t>(kquant_bits(d.ggml));
    }
    static std::size_t scale_count(const weights_desc& d) noexcept { return tiles(d) * supers(d) * kquant_fields(d.ggml) * tile_rows; }
    static std::size_t zero_bytes(const weights_desc& d) noexcept { return tiles(d) * blocks(d) * 2 * tile_rows; }
};

// A validated description of quantized weights. Only make_weights (and the
// owning `weights`) create one; copying is cheap (pointers and sizes).
class weights_view {
public:
    layout lay() const noexcept { return d_.lay; }
    const runtime_scheme& scheme() const noexcept { return d_.scheme; }  // dense, tiled
    gguf::gguf_type ggml_type() const noexcept { return d_.ggml; }       // ggml
    const std::int8_t* grid() const noexcept { return d_.grid; }         // codebook: 2^scheme().bits levels
    std::size_t rows() const noexcept { return d_.rows; }
    std::size_t cols() const noexcept { return d_.cols; }
    int group() const noexcept { return d_.group; }
    std::size_t row_bytes() const noexcept { return d_.row_bytes; }
    const std::uint8_t* codes() const noexcept { return d_.codes; }
    const void* scales() const noexcept { return d_.scales; }
    const std::uint8_t* zeros() const noexcept { return d_.zeros; }
    const std::int32_t* perm() const noexcept { return d_.perm; }
    const weights_desc& desc() const noexcept { return d_; }

    // Bytes of each array (for overlap checks and copies).
    std::size_t code_bytes() const noexcept {
        switch (d_.lay) {
            case layout::dense: return layout_traits<layout::dense>::code_bytes(d_);
            case layout::tiled: return layout_traits<layout::tiled>::code_bytes(d_);
            case layout::ggml: return layout_traits<layout::ggml>::code_bytes(d_);
            case layout::codebook: return layout_traits<layout::codebook>::code_bytes(d_);
            case layout::tiled_codebook: return layout_traits<layout::tiled_codebook>::code_bytes(d_);
            case layout::tiled_kquant: return layout_traits<layout::tiled_kquant>::code_bytes(d_);
        }
        return 0;
    }
    std::size_t scale_count() const noexcept {
        switch (d_.lay) {
            case layout::dense: return layout_traits<layout::dense>::scale_count(d_);
            case layout::tiled: return layout_traits<layout::tiled>::scale_count(d_);
            case layout::ggml:
            case layout::codebook: return 0;  // inside the blocks
            case layout::tiled_codebook: return layout_traits<layout::tiled_codebook>::scale_count(d_);
            case layout::tiled_kquant: return layout_traits<layout::tiled_kquant>::scale_count(d_);
        }
        return 0;
    }
    // (ggml and codebook: 0, their scales are inside the blocks; tiled_codebook, tiled_kquant: f16)
    std::size_t scale_bytes() const noexcept { return scale_count() * detail::scale_bytes(d_.scheme.scale); }
    // (tiled_kquant: the sub-block scale/min bytes)
    std::size_t zero_bytes() const noexcept {
        if (d_.lay == layout::tiled_kquant) return layout_traits<layout::tiled_kquant>::zero_bytes(d_);
        return is_scheme_layout(d_.lay) && !d_.scheme.symmetric ? scale_count() : 0;
    }
    std::size_t perm_bytes() const noexcept { return d_.perm ? d_.cols * sizeof(std::int32_t) : 0; }
    std::size_t bytes() const noexcept { return code_bytes() + scale_bytes() + zero_bytes() + perm_bytes(); }

    // Whether [p, p + n) shares a byte with any array of the weights.
    bool overlaps(const void* p, std::size_t n) const noexcept {
        return detail::overlaps(p, n, d_.codes, code_bytes()) || detail::overlaps(p, n, d_.scales, scale_bytes()) ||
               detail::overlaps(p, n, d_.zeros, zero_bytes()) || detail::overlaps(p, n, d_.perm, perm_bytes());
    }

private:
    explicit weights_view(const weights_desc& d) noexcept : d_(d) {}
    friend result<weights_view> make_weights(const weights_desc& d) noexcept;
    friend class weights;
    weights_desc d_;
};

// The one validator per layout, run once. The result's desc is normalised:
// group resolved (per_group: scheme.group), the scheme's group equal to it,
// ggml row_bytes set, scales and zeros cleared where the layout has none.
inline result<weights_view> make_weights(const weights_desc& in) noexcept {
    weights_desc d = in;
    switch (d.lay) {
        case layout::dense:
        case layout::tiled: {
            if (d.group == 0) d.group = d.scheme.gran == granularity::per_group ? d.scheme.group : static_cast<int>(d.cols > (1u << 30) ? 0 : d.cols);
            if (d.scheme.gran == granularity::per_group && d.group != d.scheme.group)
                return status::error(errc::invalid_argument, "weights.group = %d but scheme.group = %d", d.group, d.scheme.group);
            if (d.scheme.gran != granularity::per_group) d.scheme.group = 0;
            if (d.scheme.symmetric) d.zeros = nullptr;
            if (d.lay == layout::tiled) d.row_bytes = packed_bytes(d.cols, d.scheme.bits);
            const status s = d.lay == layout::dense ? layout_traits<layout::dense>::validate(d, "weights")
                                                    : layout_traits<layout::tiled>::validate(d, "weights");
            if (!s) return s;
            break;
        }
        case layout::ggml: {
            LOWBIT_TRY(layout_traits<layout::ggml>::validate(d));
            d.row_bytes = layout_traits<layout::ggml>::row_size(d);
            d.scales = nullptr;
            d.zeros = nullptr;
            d.perm = nullptr;
            d.group = static_cast<int>(gguf::type_block_size(d.ggml));
            break;
        }
        case layout::codebook:
        case layout::tiled_codebook: {
            const bool tiled = d.lay == layout::tiled_codebook;
            LOWBIT_TRY(tiled ? layout_traits<layout::tiled_codebook>::validate(d) : layout_traits<layout::codebook>::validate(d));
            // The scheme says only the index width; the rest is the block format's.
            const int bits = d.scheme.bits;
            d.scheme = runtime_scheme{};
            d.scheme.bits = bits;
            d.scheme.symmetric = true;
            d.scheme.scale = scale_type::f16;
            d.scheme.gran = granularity::per_group;
            d.scheme.group = static_cast<int>(codebook_block);
            d.group = static_cast<int>(codebook_block);
            d.row_bytes = tiled ? packed_bytes(d.cols, bits) : layout_traits<layout::codebook>::row_size(d);
            if (!tiled) d.scales = nullptr;
            d.zeros = nullptr;
            d.perm = nullptr;
            break;
        }
        case layout::tiled_kquant: {
            LOWBIT_TRY(layout_traits<layout::tiled_kquant>::validate(d));
            // The scheme records the code width; scales are f16 (d, dmin).
            d.scheme = runtime_scheme{};
            d.scheme.bits = kquant_bits(d.ggml);
            d.scheme.symmetric = false;
            d.scheme.scale = scale_type::f16;
            d.scheme.gran = granularity::per_group;
            d.scheme.group = static_cast<int>(tile_block);
            d.group = static_cast<int>(tile_block);
            d.row_bytes = packed_bytes(d.cols, d.scheme.bits);
            d.perm = nullptr;
            break;
        }
        default:
            return status::error(errc::invalid_argument, "weights.lay = %d is not a layout (dense 0, tiled 1, ggml 2, codebook 3, tiled_codebook 4, tiled_kquant 5)",
                                 static_cast<int>(d.lay));
    }
    // Arrays whose end would wrap past the top of memory: the kernels' reads
    // would land on low addresses, and overlaps() could not see them.
    const weights_view v(d);
    if (detail::range_wraps(d.codes, v.code_bytes()) || detail::range_wraps(d.scales, v.scale_bytes()) ||
        detail::range_wraps(d.zeros, v.zero_bytes()))
        return status::error(errc::invalid_argument, "weights: the codes, scales or zeros (%zu x %zu) run past the address space", d.rows,
                             d.cols);
    return v;
}

// make_weights on the shape and scheme of `d` alone (its pointers are
// ignored): placeholder arrays, no permutation to scan. For storage about to be
// allocated or written (weights::allocate, weights_gguf_writer): the view it
// returns points at the placeholders and is only good for its sizes.
inline result<weights_view> make_weights_shape(weights_desc d) noexcept {
    static const std::uint32_t placeholder[1] = {0};
    const auto* p = reinterpret_cast<const std::uint8_t*>(placeholder);
    d.codes = p;
    d.scales = placeholder;
    d.zeros = p;
    d.perm = nullptr;
    return make_weights(d);
}

// The bytes of a GGUF tensor: rows of `cols` values of ggml type t.
inline result<weights_view> make_ggml_weights(gguf::gguf_type t, const void* data, std::size_t rows, std::size_t cols) noexcept {
    weights_desc d;
    d.lay = layout::ggml;
    d.ggml = t;
    d.rows = rows;
    d.cols = cols;
    d.codes = static_cast<const std::uint8_t*>(data);
    return make_weights(d);
}

}  // namespace lowbit
