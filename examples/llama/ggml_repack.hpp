// ggml_repack.hpp — GGUF block types <-> lowbit linear layers.
//
// Three ggml types are lowbit schemes in disguise: per 32 weights one f16
// scale d and a symmetric code with a fixed zero,
//   Q4_0: x = d * (q - 8),  q in 0..15   = lowbit scheme<4, per_group<32>, symmetric, scale_f16>
//   Q5_0: x = d * (q - 16), q in 0..31   = lowbit scheme<5, per_group<32>, symmetric, scale_f16>
//   Q8_0: x = d * q,        q in -127..127 = lowbit scheme<8, per_group<32>, symmetric, scale_f16> (u = q + 128)
// (lowbit's own quantizer never emits the lowest code, ggml's may; the kernels
// compute s * (u - z) for every code, so the values are exactly ggml's.) Those
// blocks are repacked at load, losslessly, into a qmatrix by lowbit::repack
// and run by lowbit's kernels; the qmatrix has exactly the bytes of the blocks
// (18, 22, 34 per 32).
// Every other ggml type keeps its blocks for the int8 path (lowbit::gguf::gemv),
// Q4_K / Q5_K / Q6_K and IQ4_NL as a tiled copy (tile_blocks), and its f32
// values for the fma path.
#pragma once

#include <lowbit/formats/gguf_blocks.hpp>
#include <lowbit/weights/repack.hpp>

#include "model.hpp"

namespace llama {

namespace gg = lowbit::gguf;

inline bool repackable(gg::gguf_type t) {
    return t == gg::gguf_type::q4_0 || t == gg::gguf_type::q5_0 || t == gg::gguf_type::q8_0;
}

inline const char* ggml_format_name(gg::gguf_type t) {
    switch (t) {
        case gg::gguf_type::f32: return "f32";
        case gg::gguf_type::f16: return "f16";
        case gg::gguf_type::bf16: return "bf16";
        case gg::gguf_type::q4_0: return "q4_0";
        case gg::gguf_type::q4_1: return "q4_1";
        case gg::gguf_type::q5_0: return "q5_0";
        case gg::gguf_type::q5_1: return "q5_1";
        case gg::gguf_type::q8_0: return "q8_0";
        case gg::gguf_type::q2_K: return "q2_k";
        case gg::gguf_type::q3_K: return "q3_k";
        case gg::gguf_type::q4_K: return "q4_k";
        case gg::gguf_type::q5_K: return "q5_k";
        case gg::gguf_type::q6_K: return "q6_k";
        default: return gg::type_name(t);
    }
}

// Whether ggml type t has a tiled copy that the int8 path runs instead of
// its blocks: Q4_K / Q5_K / Q6_K in the tiled K-quant layout, IQ4_NL (a 4-bit
// codebook on its fixed grid, weights/repack.hpp) in the tiled codebook layout.
inline bool has_tiled_blocks(gg::gguf_type t) { return lowbit::kquant_bits(t) != 0 || t == gg::gguf_type::iq4_nl; }

// The tiled copy (lowbit::repack to layout::tiled_kquant or
// layout::tiled_codebook) of a linear's blocks, read from `blocks` (rows x
// cols of l): into l.blocks_tiled, or the repack's error.
inline status tile_blocks(linear& l, const std::uint8_t* blocks) {
    auto g = lowbit::make_ggml_weights(l.gguf_type, blocks, l.rows, l.cols);
    if (!g) return g.error();
    const lowbit::layout to = l.gguf_type == gg::gguf_type::iq4_nl ? lowbit::layout::tiled_codebook : lowbit::layout::tiled_kquant;
    auto t = lowbit::repack(*g, to);
    if (!t) return t.error();
    l.blocks_tiled = std::move(*t);
    return {};
}

// A linear layer over ggml blocks (rows x cols, rows contiguous): repacked when
// the type allows it, dequantized to f32 otherwise; `keep` says which forms it
// holds (ggml_keep). `data` holds rows * row_size(t, cols) bytes.
inline result<linear> linear_from_ggml(gg::gguf_type t, const std::uint8_t* data, std::size_t rows, std::size_t cols,
                                       const ggml_keep& keep = {}) {
    linear l;
    l.rows = rows;
    l.cols = cols;
    l.gguf_type = t;
    l.format = ggml_format_name(t);
    const std::size_t row_bytes = static_cast<std::size_t>(gg::row_size(t, static_cast<std::int64_t>(cols)));
    l.bytes = rows * row_bytes;
    bool keep_blocks = keep.blocks;
    if (keep.block_tiles && has_tiled_blocks(t))
        if (status st = tile_blocks(l, data); !st) {
            l.untiled_reason = st.message();  // the int8 path runs the blocks instead (layout_summary says so)
            keep_blocks = true;
        }
    if (keep_blocks) l.gguf_data.assign(data, data + l.bytes);
    if (!repackable(t)) {
        if (!keep.floats) return l;
        l.w.resize(rows * cols);
        for (std::size_t r = 0; r < rows; ++r)
            if (status st = gg::dequantize_row(t, data + r * row_bytes, l.w.data() + r * cols, static_cast<std::int64_t>(cols)); !st)
                return st;
        return l;
    }
    // The lossless conversion is the library's (lowbit::repack, weights/repack.hpp).
    auto blocks = lowbit::make_ggml_weights(t, data, rows, cols);
    if (!blocks) return blocks.error();
    auto dense = lowbit::repack(*blocks, lowbit::layout::dense);
    if (!dense) return dense.error();
    const lowbit::weights_view v = dense->view();
    const lowbit::runtime_scheme rs = v.scheme();
    auto lay = lowbit::qlayout::make(rs, rows, cols);
    if (!lay) return lay.error();
    lowbit::qstorage& st = l.q.storage;
    st.layout = *lay;
    st.codes.resize(v.code_bytes());
    std::memcpy(st.codes.data(), v.codes(), v.code_bytes());
    st.scales_16.resize(v.scale_count());
    std::memcpy(st.scales_16.data(), v.scales(), v.scale_bytes());
    l.q.scheme = rs;
    l.quantized = true;
    return l;
}

// llama.cpp's fallback (llama-quant.cpp, llama_tensor_get_type): a K-quant
// needs rows that are a multiple of 256; otherwise Q4_K -> Q5_0, Q5_K -> Q5_1,
// Q6_K -> Q8_0, Q2_K/Q3_K -> IQ4_NL (here: Q4_0, lowbit has no IQ4_NL codec);
// and when the fallback's block (32) does not divide the row either, F16.
// llama.cpp refuses a legacy type whose block does not divide the row; we use F16 there too.
inline gg::gguf_type ggml_type_for_row(gg::gguf_type want, std::size_t cols) {
    if (cols % gg::type_block_size(want) == 0) return want;
    gg::gguf_type t = want;
    switch (want) {
        case gg::gguf_type::q4_K: t = gg::gguf_type::q5_0; break;
        case gg::gguf_type::q5_K: t = gg::gguf_type::q5_1; break;
        case gg::gguf_type::q6_K: t = gg::gguf_type::q8_0; break;
        case gg::gguf_type::q2_K:
        case gg::gguf_type::q3_K: t = gg::gguf_type::q4_0; break;
        default: break;
    }
    return cols % gg::type_block_size(t) == 0 ? t : gg::gguf_type::f16;
}

// Float weights -> ggml type t (ggml's exact bytes) -> linear (repacked or dequantized).
inline result<linear> quantize_ggml(const linear& src, gg::gguf_type t) {
    const std::size_t row_bytes = static_cast<std::size_t>(gg::row_size(t, static_cast<std::int64_t>(src.cols)));
    std::vector<std::uint8_t> data(src.rows * row_bytes);
    status st = gg::is_quantized(t) ? gg::quantize(t, src.w.data(), data.data(), static_cast<std::int64_t>(src.rows),
                                                   static_cast<std::int64_t>(src.cols), nullptr)
                                    : gg::quantize_row(t, src.w.data(), data.data(), static_cast<std::int64_t>(src.rows * src.cols));
    if (!st) return st;
    return linear_from_ggml(t, data.data(), src.rows, src.cols);
}

}  // namespace llama
