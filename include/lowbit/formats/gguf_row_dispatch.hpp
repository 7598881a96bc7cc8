// lowbit/formats/gguf_row_dispatch.hpp — the run-time twins of the typed row
// API: quantize_row / dequantize_row / quantize on a gguf_type, for tools that
// learn the type from a file. A switch onto every type's typed functions
// (gguf_rows.hpp and the headers of the newer types), plus the plain
// F32/F16/BF16 conversions.
#pragma once

#include <cstdint>
#include <cstring>

#include "../core/half.hpp"
#include "../core/status.hpp"
#include "detail/gguf_checks.hpp"
#include "gguf_iq1_encode.hpp"
#include "gguf_iq2_encode.hpp"
#include "gguf_iq3_encode.hpp"
#include "gguf_iq_lattice.hpp"
#include "gguf_iquants.hpp"
#include "gguf_mxfp4.hpp"
#include "gguf_rows.hpp"
#include "gguf_ternary.hpp"
#include "gguf_types.hpp"

#include "detail/fp_contract_off_begin.inl"

namespace lowbit {
namespace gguf {

// ---- runtime dispatch (the tools' twin: a switch onto the typed functions) -----------

// True when quantize_row / dequantize_row handle type t.
constexpr bool has_row_codec(gguf_type t) noexcept {
    switch (t) {
        case gguf_type::f32: case gguf_type::f16: case gguf_type::bf16:
        case gguf_type::q4_0: case gguf_type::q4_1: case gguf_type::q5_0: case gguf_type::q5_1:
        case gguf_type::q8_0: case gguf_type::q8_1: case gguf_type::q2_K: case gguf_type::q3_K:
        case gguf_type::q4_K: case gguf_type::q5_K: case gguf_type::q6_K: case gguf_type::q8_K:
        case gguf_type::iq4_nl: case gguf_type::iq4_xs: case gguf_type::tq1_0: case gguf_type::tq2_0:
        case gguf_type::mxfp4: case gguf_type::iq3_xxs: case gguf_type::iq3_s: case gguf_type::iq2_s:
        case gguf_type::iq2_xs: case gguf_type::iq2_xxs: case gguf_type::iq1_s:  // quantize() only, with weights
        case gguf_type::iq1_m:
            return true;
        default:
            return false;
    }
}

// True for the types ggml quantizes only with an importance matrix (llama.cpp's
// ggml_quantize_requires_imatrix): quantize_row refuses them, quantize needs weights.
constexpr bool requires_imatrix(gguf_type t) noexcept {
    return t == gguf_type::iq2_xxs || t == gguf_type::iq2_xs || t == gguf_type::iq1_s;
}

// True when dequantize_row handles type t. Today the same set as
// has_row_codec; callers that only read ask this, so that a type lowbit can
// read before it can write stays readable.
constexpr bool has_row_decoder(gguf_type t) noexcept { return has_row_codec(t); }


namespace detail {
inline status plain_rows(gguf_type t, const float* x, void* y, std::int64_t k, const char* fn) noexcept {
    LOWBIT_TRY(check_length(fn, "k", k, 1));
    LOWBIT_TRY(check_pointers(fn, k, x, y));
    const std::size_t out_bytes = static_cast<std::size_t>(k) * (t == gguf_type::f32 ? 4 : 2);
    LOWBIT_TRY(check_buffers(fn, x, static_cast<std::size_t>(k) * 4, static_cast<const unsigned char*>(y), out_bytes));
    if (t == gguf_type::f32) {
        if (k > 0) std::memcpy(y, x, static_cast<std::size_t>(k) * sizeof(float));
        return status();
    }
    // Byte-wise writes: like the reads below, 16-bit data need not be aligned.
    auto* out = static_cast<unsigned char*>(y);
    for (std::int64_t i = 0; i < k; ++i) {
        const std::uint16_t h = t == gguf_type::f16 ? f32_to_f16(x[i]) : f32_to_bf16(x[i]);
        std::memcpy(out + 2 * i, &h, sizeof h);
    }
    return status();
}
inline status plain_rows_back(gguf_type t, const void* x, float* y, std::int64_t k, const char* fn) noexcept {
    LOWBIT_TRY(check_length(fn, "k", k, 1));
    LOWBIT_TRY(check_pointers(fn, k, x, y));
    LOWBIT_TRY(check_buffers(fn, static_cast<const unsigned char*>(x), static_cast<std::size_t>(k) * (t == gguf_type::f32 ? 4 : 2), y,
                             static_cast<std::size_t>(k) * 4));
    if (t == gguf_type::f32) {
        if (k > 0) std::memcpy(y, x, static_cast<std::size_t>(k) * sizeof(float));
        return status();
    }
    // Byte-wise reads: safetensors (and mmap'd files generally) need not align 16-bit data.
    const auto* in = static_cast<const unsigned char*>(x);
    for (std::int64_t i = 0; i < k; ++i) {
        std::uint16_t h;
        std::memcpy(&h, in + 2 * i, sizeof h);
        y[i] = t == gguf_type::f16 ? f16_to_f32(h) : bf16_to_f32(h);
    }
    return status();
}
inline status no_codec(const char* fn, gguf_type t) noexcept {
    return status::error(errc::unsupported, "%s: no codec for type %s (id %u)", fn, type_name(t), static_cast<unsigned>(t));
}
}  // namespace detail

// Quantize k floats into dst, laid out as type t. F32/F16/BF16 are plain
// conversions (F16 and BF16 round to nearest even, as ggml does) and accept
// any k; they do not reject NaN/Inf.
inline status quantize_row(gguf_type t, const float* x, void* dst, std::int64_t k) noexcept {
    switch (t) {
        case gguf_type::f32: case gguf_type::f16: case gguf_type::bf16:
            return detail::plain_rows(t, x, dst, k, "gguf::quantize_row");
        case gguf_type::q4_0: return quantize_row_q4_0(x, static_cast<block_q4_0*>(dst), k);
        case gguf_type::q4_1: return quantize_row_q4_1(x, static_cast<block_q4_1*>(dst), k);
        case gguf_type::q5_0: return quantize_row_q5_0(x, static_cast<block_q5_0*>(dst), k);
        case gguf_type::q5_1: return quantize_row_q5_1(x, static_cast<block_q5_1*>(dst), k);
        case gguf_type::q8_0: return quantize_row_q8_0(x, static_cast<block_q8_0*>(dst), k);
        case gguf_type::q8_1: return quantize_row_q8_1(x, static_cast<block_q8_1*>(dst), k);
        case gguf_type::q2_K: return quantize_row_q2_K(x, static_cast<block_q2_K*>(dst), k);
        case gguf_type::q3_K: return quantize_row_q3_K(x, static_cast<block_q3_K*>(dst), k);
        case gguf_type::q4_K: return quantize_row_q4_K(x, static_cast<block_q4_K*>(dst), k);
        case gguf_type::q5_K: return quantize_row_q5_K(x, static_cast<block_q5_K*>(dst), k);
        case gguf_type::q6_K: return quantize_row_q6_K(x, static_cast<block_q6_K*>(dst), k);
        case gguf_type::q8_K: return quantize_row_q8_K(x, static_cast<block_q8_K*>(dst), k);
        case gguf_type::iq4_nl: return quantize_row_iq4_nl(x, static_cast<block_iq4_nl*>(dst), k);
        case gguf_type::iq4_xs: return quantize_row_iq4_xs(x, static_cast<block_iq4_xs*>(dst), k);
        case gguf_type::tq1_0: return quantize_row_tq1_0(x, static_cast<block_tq1_0*>(dst), k);
        case gguf_type::tq2_0: return quantize_row_tq2_0(x, static_cast<block_tq2_0*>(dst), k);
        case gguf_type::mxfp4: return quantize_row_mxfp4(x, static_cast<block_mxfp4*>(dst), k);
        case gguf_type::iq3_xxs: return quantize_row_iq3_xxs(x, static_cast<block_iq3_xxs*>(dst), k);
        case gguf_type::iq3_s: return quantize_row_iq3_s(x, static_cast<block_iq3_s*>(dst), k);
        case gguf_type::iq2_s: return quantize_row_iq2_s(x, static_cast<block_iq2_s*>(dst), k);
        case gguf_type::iq1_m: return quantize_iq1_m(x, static_cast<block_iq1_m*>(dst), 1, k, nullptr);
        case gguf_type::iq2_xs: case gguf_type::iq2_xxs: case gguf_type::iq1_s:
            return status::error(errc::invalid_argument,
                                 "gguf::quantize_row: %s needs an importance matrix; use gguf::quantize with quant_weights",
                                 type_name(t));
        default: return detail::no_codec("gguf::quantize_row", t);
    }
}

// Dequantize k values of type t from src.
inline status dequantize_row(gguf_type t, const void* src, float* y, std::int64_t k) noexcept {
    switch (t) {
        case gguf_type::f32: case gguf_type::f16: case gguf_type::bf16:
            return detail::plain_rows_back(t, src, y, k, "gguf::dequantize_row");
        case gguf_type::q4_0: return dequantize_row_q4_0(static_cast<const block_q4_0*>(src), y, k);
        case gguf_type::q4_1: return dequantize_row_q4_1(static_cast<const block_q4_1*>(src), y, k);
        case gguf_type::q5_0: return dequantize_row_q5_0(static_cast<const block_q5_0*>(src), y, k);
        case gguf_type::q5_1: return dequantize_row_q5_1(static_cast<const block_q5_1*>(src), y, k);
        case gguf_type::q8_0: return dequantize_row_q8_0(static_cast<const block_q8_0*>(src), y, k);
        case gguf_type::q8_1: return dequantize_row_q8_1(static_cast<const block_q8_1*>(src), y, k);
        case gguf_type::q2_K: return dequantize_row_q2_K(static_cast<const block_q2_K*>(src), y, k);
        case gguf_type::q3_K: return dequantize_row_q3_K(static_cast<const block_q3_K*>(src), y, k);
        case gguf_type::q4_K: return dequantize_row_q4_K(static_cast<const block_q4_K*>(src), y, k);
        case gguf_type::q5_K: return dequantize_row_q5_K(static_cast<const block_q5_K*>(src), y, k);
        case gguf_type::q6_K: return dequantize_row_q6_K(static_cast<const block_q6_K*>(src), y, k);
        case gguf_type::q8_K: return dequantize_row_q8_K(static_cast<const block_q8_K*>(src), y, k);
        case gguf_type::iq4_nl: return dequantize_row_iq4_nl(static_cast<const block_iq4_nl*>(src), y, k);
        case gguf_type::iq4_xs: return dequantize_row_iq4_xs(static_cast<const block_iq4_xs*>(src), y, k);
        case gguf_type::tq1_0: return dequantize_row_tq1_0(static_cast<const block_tq1_0*>(src), y, k);
        case gguf_type::tq2_0: return dequantize_row_tq2_0(static_cast<const block_tq2_0*>(src), y, k);
        case gguf_type::mxfp4: return dequantize_row_mxfp4(static_cast<const block_mxfp4*>(src), y, k);
        case gguf_type::iq2_xxs: return dequantize_row_iq2_xxs(static_cast<const block_iq2_xxs*>(src), y, k);
        case gguf_type::iq2_xs: return dequantize_row_iq2_xs(static_cast<const block_iq2_xs*>(src), y, k);
        case gguf_type::iq2_s: return dequantize_row_iq2_s(static_cast<const block_iq2_s*>(src), y, k);
        case gguf_type::iq3_xxs: return dequantize_row_iq3_xxs(static_cast<const block_iq3_xxs*>(src), y, k);
        case gguf_type::iq3_s: return dequantize_row_iq3_s(static_cast<const block_iq3_s*>(src), y, k);
        case gguf_type::iq1_s: return dequantize_row_iq1_s(static_cast<const block_iq1_s*>(src), y, k);
        case gguf_type::iq1_m: return dequantize_row_iq1_m(static_cast<const block_iq1_m*>(src), y, k);
        default: return detail::no_codec("gguf::dequantize_row", t);
    }
}

// ggml's quantize_chunk for one type: nrow rows of n_per_row values, optional
// importance weights (ignored by the types where ggml ignores them: Q8_0,
// TQ1_0, TQ2_0, MXFP4, and Q8_1/Q8_K, which ggml never quantizes with an
// imatrix). For IQ4_NL this is ggml's quantize_iq4_nl, whose search differs
// from quantize_row's reference quantizer even without weights.
inline status quantize(gguf_type t, const float* src, void* dst, std::int64_t nrow, std::int64_t n_per_row,
                       const float* quant_weights) noexcept {
    switch (t) {
        case gguf_type::q4_0: return quantize_q4_0(src, static_cast<block_q4_0*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::q4_1: return quantize_q4_1(src, static_cast<block_q4_1*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::q5_0: return quantize_q5_0(src, static_cast<block_q5_0*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::q5_1: return quantize_q5_1(src, static_cast<block_q5_1*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::q8_0: return quantize_q8_0(src, static_cast<block_q8_0*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::q2_K: return quantize_q2_K(src, static_cast<block_q2_K*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::q3_K: return quantize_q3_K(src, static_cast<block_q3_K*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::q4_K: return quantize_q4_K(src, static_cast<block_q4_K*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::q5_K: return quantize_q5_K(src, static_cast<block_q5_K*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::q6_K: return quantize_q6_K(src, static_cast<block_q6_K*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::iq4_nl: return quantize_iq4_nl(src, static_cast<block_iq4_nl*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::iq4_xs: return quantize_iq4_xs(src, static_cast<block_iq4_xs*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::tq1_0: return quantize_tq1_0(src, static_cast<block_tq1_0*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::tq2_0: return quantize_tq2_0(src, static_cast<block_tq2_0*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::mxfp4: return quantize_mxfp4(src, static_cast<block_mxfp4*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::iq3_xxs: return quantize_iq3_xxs(src, static_cast<block_iq3_xxs*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::iq3_s: return quantize_iq3_s(src, static_cast<block_iq3_s*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::iq2_s: return quantize_iq2_s(src, static_cast<block_iq2_s*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::iq2_xs: return quantize_iq2_xs(src, static_cast<block_iq2_xs*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::iq2_xxs: return quantize_iq2_xxs(src, static_cast<block_iq2_xxs*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::iq1_s: return quantize_iq1_s(src, static_cast<block_iq1_s*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::iq1_m: return quantize_iq1_m(src, static_cast<block_iq1_m*>(dst), nrow, n_per_row, quant_weights);
        default: {
            if (nrow < 0 || n_per_row < 0) {
                return status::error(errc::invalid_argument, "gguf::quantize: nrow = %lld or n_per_row = %lld is negative",
                                     static_cast<long long>(nrow), static_cast<long long>(n_per_row));
            }
            if (!has_row_codec(t)) return detail::no_codec("gguf::quantize", t);
            // Rows are quantized as one run, so each row must be whole blocks (as in ggml).
            LOWBIT_TRY(detail::check_length("gguf::quantize", "n_per_row", n_per_row, static_cast<int>(type_block_size(t))));
            // The product is formed only when it fits: it used to overflow
            // (undefined behaviour) and, wrapped to 0, "succeed" writing nothing.
            if (n_per_row > 0 && nrow > detail::max_values / n_per_row)
                return status::error(errc::invalid_argument,
                                     "gguf::quantize: nrow * n_per_row = %lld * %lld overflows (limit %lld values)",
                                     static_cast<long long>(nrow), static_cast<long long>(n_per_row),
                                     static_cast<long long>(detail::max_values));
            return quantize_row(t, src, dst, nrow * n_per_row);
        }
    }
}

}  // namespace gguf
}  // namespace lowbit

#include "detail/fp_contract_off_end.inl"
