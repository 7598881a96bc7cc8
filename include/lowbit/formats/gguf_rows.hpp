// lowbit/formats/gguf_rows.hpp — the typed row API of ggml's legacy and
// K-quant blocks: quantize_row_<t>, quantize_<t>, dequantize_row_<t> for
// Q4_0 … Q8_1 and Q2_K … Q8_K, byte-exact with ggml.
//
// Each is the shared checked row writer/reader (gguf_block_rows.hpp) over one
// block codec (detail/gguf_encode.hpp, detail/gguf_decode.hpp).
#pragma once

#include <cstdint>

#include "../core/status.hpp"
#include "detail/gguf_decode.hpp"
#include "detail/gguf_encode.hpp"
#include "gguf_block_rows.hpp"
#include "gguf_block_structs.hpp"

#include "detail/fp_contract_off_begin.inl"

namespace lowbit {
namespace gguf {
namespace detail {

// ---- the typed drivers, all over the shared writer/reader (gguf_block_rows.hpp) ----

// The reference quantizer over a row: every block on its own, no weights.
template <class B>
void encode_plain_row(const float* x, std::int64_t n, B* y) noexcept {
    for (std::int64_t i = 0; i < n / B::values; ++i) encode(x + i * B::values, y[i]);
}

template <class B>
status quantize_rows(const char* fn, const float* x, B* y, std::int64_t k) noexcept {
    return encode_block_rows(fn, "k", "x", x, y, 1, k, nullptr,
                             [](const float* row, const float*, std::int64_t n, B* out) { encode_plain_row(row, n, out); });
}

template <class B>
status dequantize_rows(const char* fn, const B* x, float* y, std::int64_t k) noexcept {
    return decode_block_rows(fn, x, y, k, [](const B& b, float* out) { decode(b, out); });
}

// Legacy types: sigma2 over the whole row. K-quants: per super-block, inside encode_weighted.
template <class B>
void encode_legacy_weighted_row(const float* x, const float* qw, std::int64_t n, B* y) noexcept {
    const float sigma2 = row_mean_square(x, n);
    for (std::int64_t i = 0; i < n / B::values; ++i) encode_weighted(x + i * B::values, qw + i * B::values, sigma2, y[i]);
}
template <class B>
void encode_k_weighted_row(const float* x, const float* qw, std::int64_t n, B* y) noexcept {
    for (std::int64_t i = 0; i < n / B::values; ++i) encode_weighted(x + i * B::values, qw + i * B::values, y[i]);
}
inline void encode_weighted_row(const float* x, const float* qw, std::int64_t n, block_q4_0* y) noexcept { encode_legacy_weighted_row(x, qw, n, y); }
inline void encode_weighted_row(const float* x, const float* qw, std::int64_t n, block_q4_1* y) noexcept { encode_legacy_weighted_row(x, qw, n, y); }
inline void encode_weighted_row(const float* x, const float* qw, std::int64_t n, block_q5_0* y) noexcept { encode_legacy_weighted_row(x, qw, n, y); }
inline void encode_weighted_row(const float* x, const float* qw, std::int64_t n, block_q5_1* y) noexcept { encode_legacy_weighted_row(x, qw, n, y); }
inline void encode_weighted_row(const float* x, const float* qw, std::int64_t n, block_q2_K* y) noexcept { encode_k_weighted_row(x, qw, n, y); }
inline void encode_weighted_row(const float* x, const float* qw, std::int64_t n, block_q3_K* y) noexcept { encode_k_weighted_row(x, qw, n, y); }
inline void encode_weighted_row(const float* x, const float* qw, std::int64_t n, block_q4_K* y) noexcept { encode_k_weighted_row(x, qw, n, y); }
inline void encode_weighted_row(const float* x, const float* qw, std::int64_t n, block_q5_K* y) noexcept { encode_k_weighted_row(x, qw, n, y); }
inline void encode_weighted_row(const float* x, const float* qw, std::int64_t n, block_q6_K* y) noexcept { encode_k_weighted_row(x, qw, n, y); }
// Q8_0 ignores importance weights in ggml.
inline void encode_weighted_row(const float* x, const float*, std::int64_t n, block_q8_0* y) noexcept { encode_plain_row(x, n, y); }

// Importance-matrix quantization of nrow rows of n_per_row values; the weights
// (n_per_row of them) apply to every row. Without weights it is the reference
// quantizer over all rows, as in ggml.
template <class B>
status quantize_weighted_rows(const char* fn, const float* src, B* dst, std::int64_t nrow, std::int64_t n_per_row,
                              const float* qw) noexcept {
    return encode_block_rows(fn, "n_per_row", src, dst, nrow, n_per_row, qw,
                             [](const float* x, const float* w, std::int64_t n, B* y) {
                                 if (w == nullptr) {
                                     encode_plain_row(x, n, y);
                                 } else {
                                     encode_weighted_row(x, w, n, y);
                                 }
                             });
}

}  // namespace detail

// ---- public API -------------------------------------------------------------------
// quantize_row_<t>(x, y, k): k values (a multiple of the block size) -> k / block
//   blocks, the bytes of ggml's quantize_row_<t>_ref.
// quantize_<t>(src, dst, nrow, n_per_row, quant_weights): ggml's quantize_<t>; with
//   quant_weights (an imatrix row of n_per_row values, or nullptr) for the types
//   where ggml uses them. Rows are contiguous in both src and dst.
// dequantize_row_<t>(x, y, k): the floats of ggml's dequantize_row_<t>.
// All return a status: k not a multiple of the block, a null pointer, or a NaN/Inf
// input is an error, and then nothing has been written.

#define LOWBIT_GGUF_ROW_CODECS(t)                                                                     \
    inline status quantize_row_##t(const float* x, block_##t* y, std::int64_t k) noexcept {           \
        return detail::quantize_rows("gguf::quantize_row_" #t, x, y, k);                                \
    }                                                                                                   \
    inline status dequantize_row_##t(const block_##t* x, float* y, std::int64_t k) noexcept {         \
        return detail::dequantize_rows("gguf::dequantize_row_" #t, x, y, k);                            \
    }
#define LOWBIT_GGUF_WEIGHTED(t)                                                                         \
    inline status quantize_##t(const float* src, block_##t* dst, std::int64_t nrow, std::int64_t n_per_row, \
                               const float* quant_weights) noexcept {                                   \
        return detail::quantize_weighted_rows("gguf::quantize_" #t, src, dst, nrow, n_per_row, quant_weights); \
    }

LOWBIT_GGUF_ROW_CODECS(q4_0)
LOWBIT_GGUF_ROW_CODECS(q4_1)
LOWBIT_GGUF_ROW_CODECS(q5_0)
LOWBIT_GGUF_ROW_CODECS(q5_1)
LOWBIT_GGUF_ROW_CODECS(q8_0)
LOWBIT_GGUF_ROW_CODECS(q8_1)
LOWBIT_GGUF_ROW_CODECS(q2_K)
LOWBIT_GGUF_ROW_CODECS(q3_K)
LOWBIT_GGUF_ROW_CODECS(q4_K)
LOWBIT_GGUF_ROW_CODECS(q5_K)
LOWBIT_GGUF_ROW_CODECS(q6_K)
LOWBIT_GGUF_ROW_CODECS(q8_K)
LOWBIT_GGUF_WEIGHTED(q4_0)
LOWBIT_GGUF_WEIGHTED(q4_1)
LOWBIT_GGUF_WEIGHTED(q5_0)
LOWBIT_GGUF_WEIGHTED(q5_1)
LOWBIT_GGUF_WEIGHTED(q8_0)
LOWBIT_GGUF_WEIGHTED(q2_K)
LOWBIT_GGUF_WEIGHTED(q3_K)
LOWBIT_GGUF_WEIGHTED(q4_K)
LOWBIT_GGUF_WEIGHTED(q5_K)
LOWBIT_GGUF_WEIGHTED(q6_K)

#undef LOWBIT_GGUF_ROW_CODECS
#undef LOWBIT_GGUF_WEIGHTED

}  // namespace gguf
}  // namespace lowbit

#include "detail/fp_contract_off_end.inl"
