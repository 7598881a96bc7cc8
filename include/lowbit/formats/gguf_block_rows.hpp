// lowbit/formats/gguf_block_rows.hpp — the one checked row writer and reader
// of every GGUF block type ("validate, quantize each row, pack").
//
// One job: validate a (src, dst, nrow, n_per_row, weights) request (lengths,
// overflow, null/misaligned/overlapping buffers, NaN/Inf) and only then hand
// each row to a type's row encoder, so a refused call writes nothing. Every
// typed quantize_row_<t> / quantize_<t> / dequantize_row_<t> of formats/ goes
// through these two functions; the codecs themselves stay in their own headers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../core/status.hpp"
#include "../core/views.hpp"
#include "detail/gguf_checks.hpp"

#include "detail/fp_contract_off_begin.inl"

namespace lowbit {
namespace gguf {
namespace detail {

// nrow rows of n_per_row values into nrow * n_per_row / B::values blocks.
// row(x, qw, n, y) encodes one row; qw is the caller's importance row or null.
// `what` and `src_name` name the length and the input in messages ("k" and
// "x" for the quantize_row_* API of gguf_rows.hpp).
template <class B, class RowFn>
status encode_block_rows(const char* fn, const char* what, const char* src_name, const float* src, B* dst, std::int64_t nrow,
                         std::int64_t n_per_row, const float* qw, RowFn row) noexcept {
    if (nrow < 0) return status::error(errc::invalid_argument, "%s: nrow = %lld is negative", fn, static_cast<long long>(nrow));
    LOWBIT_TRY(check_length(fn, what, n_per_row, B::values));
    if (n_per_row > 0 && nrow > max_values / n_per_row)
        return status::error(errc::invalid_argument, "%s: nrow * n_per_row = %lld * %lld overflows (limit %lld values)", fn,
                             static_cast<long long>(nrow), static_cast<long long>(n_per_row),
                             static_cast<long long>(max_values));
    const std::int64_t total = nrow * n_per_row;
    LOWBIT_TRY(check_pointers(fn, total, src, dst));
    LOWBIT_TRY(check_buffers(fn, src, static_cast<std::size_t>(total) * 4, dst,
                             static_cast<std::size_t>(total / B::values) * sizeof(B)));
    if (qw) LOWBIT_TRY(lowbit::detail::check_span(span<const float>(qw, static_cast<std::size_t>(n_per_row)), "quant_weights", fn));
    LOWBIT_TRY(check_finite(fn, src_name, src, total));
    if (qw) LOWBIT_TRY(check_finite(fn, "quant_weights", qw, n_per_row));
    const std::int64_t nb = n_per_row / B::values;
    for (std::int64_t r = 0; r < nrow; ++r) row(src + r * n_per_row, qw, n_per_row, dst + r * nb);
    return status();
}
template <class B, class RowFn>
status encode_block_rows(const char* fn, const char* what, const float* src, B* dst, std::int64_t nrow, std::int64_t n_per_row,
                         const float* qw, RowFn row) noexcept {
    return encode_block_rows(fn, what, "src", src, dst, nrow, n_per_row, qw, row);
}

// One row of n values, block by block: Encode(x, qw or null, y) per block.
// The row function of every type whose blocks are coded independently.
template <class B, void (*Encode)(const float*, const float*, B&)>
void encode_row_blocks(const float* x, const float* qw, std::int64_t n, B* y) noexcept {
    for (std::int64_t i = 0; i < n / B::values; ++i) Encode(x + B::values * i, qw ? qw + B::values * i : nullptr, y[i]);
}

// The two doors of a type whose blocks are coded one at a time by
// Encode(x, qw or null, block): quantize_row_<t> (one row of k values, no
// weights) and quantize_<t> (nrow rows, with or without importance weights).
template <class B, void (*Encode)(const float*, const float*, B&)>
status quantize_row_blockwise(const char* fn, const float* x, B* y, std::int64_t k) noexcept {
    return encode_block_rows(fn, "k", x, y, 1, k, nullptr, encode_row_blocks<B, Encode>);
}
template <class B, void (*Encode)(const float*, const float*, B&)>
status quantize_blockwise(const char* fn, const float* src, B* dst, std::int64_t nrow, std::int64_t n_per_row,
                          const float* qw) noexcept {
    return encode_block_rows(fn, "n_per_row", src, dst, nrow, n_per_row, qw, encode_row_blocks<B, Encode>);
}

// k values (k / B::values blocks) back to floats, one block at a time.
template <class B, class BlockFn>
status decode_block_rows(const char* fn, const B* x, float* y, std::int64_t k, BlockFn decode_block) noexcept {
    LOWBIT_TRY(check_length(fn, "k", k, B::values));
    LOWBIT_TRY(check_pointers(fn, k, x, y));
    LOWBIT_TRY(check_buffers(fn, x, static_cast<std::size_t>(k / B::values) * sizeof(B), y, static_cast<std::size_t>(k) * 4));
    const std::int64_t nb = k / B::values;
    for (std::int64_t i = 0; i < nb; ++i) decode_block(x[i], y + i * B::values);
    return status();
}

}  // namespace detail
}  // namespace gguf
}  // namespace lowbit

// The public pair quantize_row_<t> / quantize_<t> of a blockwise-coded type t
// (detail::encode_<t>), declared by name as ggml spells it (the way
// gguf_rows.hpp declares the legacy and K-quant rows).
#define LOWBIT_GGUF_BLOCKWISE_QUANTIZERS(t)                                                                          \
    inline status quantize_row_##t(const float* x, block_##t* y, std::int64_t k) noexcept {                          \
        return detail::quantize_row_blockwise<block_##t, detail::encode_##t>("gguf::quantize_row_" #t, x, y, k);      \
    }                                                                                                                \
    inline status quantize_##t(const float* src, block_##t* dst, std::int64_t nrow, std::int64_t n_per_row,          \
                               const float* quant_weights) noexcept {                                                \
        return detail::quantize_blockwise<block_##t, detail::encode_##t>("gguf::quantize_" #t, src, dst, nrow,        \
                                                                         n_per_row, quant_weights);                  \
    }

#include "detail/fp_contract_off_end.inl"
