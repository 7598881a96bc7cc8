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
    if (qw && lowbit::detail::misaligned(qw))
        return status::error(errc::invalid_argument, "%s: quant_weights is not float aligned", fn);
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

#include "detail/fp_contract_off_end.inl"
