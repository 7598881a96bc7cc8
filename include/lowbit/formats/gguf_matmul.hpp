// lowbit/formats/gguf_matmul.hpp — GEMV/GEMM directly on GGUF weight rows
// (docs/formats.md, "Matmul on GGUF blocks"), so an engine can run a GGUF file
// without converting it.
//
//   gemv: y = W x        W: n_rows x k in GGUF blocks, x: k, y: n_rows
//   gemm: Y = X W^T      X: M x k, Y: M x n_rows
//
// Weight types: every ggml block type with a codec — Q4_0, Q4_1, Q5_0, Q5_1,
// Q8_0, Q2_K … Q6_K, IQ4_NL, IQ4_XS, MXFP4, TQ1_0, TQ2_0 and the lattice
// i-quants IQ1_S … IQ3_S (matmul_supported). The weights are the bytes of a
// GGUF tensor: row r starts at rows + r * row_size(type, k). Activations are
// quantized as ggml does (its vec_dot_type: Q8_0 for Q4_0/Q5_0/Q8_0/IQ4_NL/
// MXFP4, Q8_1 for Q4_1/Q5_1, Q8_K for the 256-value types); each block's dot
// product is an exact integer sum, scaled in float and summed in block order
// (detail/gguf_dot.hpp, gguf_dot_iq.hpp). Results are therefore close to
// ggml's vec_dot and, since rows are split into fixed tasks, bit-identical for
// every executor, thread count and kernel arch. Kernel copies, one per arch,
// all equal to the scalar model bit for bit: AVX2 for every type
// (detail/x86/gguf_dot_avx2.hpp, gguf_dot_avx2_lattice.hpp, also run for
// arch::avxvnni), AVX-512 and AVX-512 VNNI for all but IQ4_XS and TQ2_0
// (detail/x86/gguf_dot_avx512.hpp; those two run AVX2's there), NEON and
// NEON dotprod for every type (detail/arm/gguf_dot_neon.hpp);
// lowbit::force_arch / LOWBIT_FORCE_ARCH pick one (kernels/arch.hpp); an arch
// without a copy (arch::sse2) falls back to the model, reported in matmul_info. The copies
// are entries of the kernel table (detail/gguf_entries.hpp, kernels/table.hpp);
// these front doors are thin wrappers over kernels/run.hpp.
//
// Errors (unsupported type, k not a multiple of the block size, shapes, null or
// misaligned pointers, overlapping buffers, NaN/Inf in the activations, which
// ggml's activation quantizers cannot represent) return a status and leave the
// output untouched. Scratch: the quantized activations, ~1.07 * M * k bytes,
// in a matmul_workspace (the caller's, or the calling thread's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "../core/status.hpp"
#include "../core/views.hpp"
#include "../compiled_mode.hpp"
#include "../kernels/arch.hpp"
#include "../kernels/run.hpp"
#include "../kernels/table.hpp"
#include "../parallel.hpp"
#include "../weights/weights_view.hpp"
#include "gguf_blocks.hpp"
#include "gguf_types.hpp"
// The ggml types' kernel families: lowbit::compiled's (the kernel table,
// compiled once) with LOWBIT_COMPILED, else instantiated in this TU, the ggml
// types only (the 96 schemes' families are not reached from here).
#if defined(LOWBIT_COMPILED)
#include "../kernels/kernel_list.hpp"
#else
#include "detail/gguf_entries.hpp"
#endif

namespace lowbit {
namespace gguf {

namespace detail {
// The family of kernels for weights of type t (count 0: none).
#if defined(LOWBIT_COMPILED)
constexpr std::size_t matmul_type_index(gguf_type t) noexcept {
    std::size_t i = 0;
    while (i < sizeof ggml_kernel_types / sizeof ggml_kernel_types[0] && ggml_kernel_types[i] != t) ++i;
    return i;
}
inline lowbit::detail::kernel_family matmul_family(gguf_type t) noexcept {
    const std::size_t i = matmul_type_index(t);
    if (i == sizeof ggml_kernel_types / sizeof ggml_kernel_types[0]) return {};
    return lowbit::detail::kernel_family_at(2 * lowbit::detail::kernel_scheme_count + i);
}
#else
inline lowbit::detail::kernel_family matmul_family(gguf_type t) noexcept { return ggml_family(t); }
#endif
}  // namespace detail

// True for the weight types gemv/gemm accept.
#if defined(LOWBIT_COMPILED)
constexpr bool matmul_supported(gguf_type t) noexcept {
    return detail::matmul_type_index(t) != sizeof ggml_kernel_types / sizeof ggml_kernel_types[0];
}
#else
constexpr bool matmul_supported(gguf_type t) noexcept { return detail::ggml_family(t).count != 0; }
#endif

namespace detail {

// The weights as a weights_view: a type with kernels, then the ggml layout's
// one validator. n_rows == 0 (nothing to compute) is checked the same way on
// a placeholder row, with or without a pointer, and gives no view.
inline status check_ggml_type(gguf_type t) noexcept {
    if (!matmul_supported(t)) return status::error(errc::unsupported, "gguf matmul: type %s is not supported", type_name(t));
    return {};
}
inline result<weights_view> ggml_view(gguf_type t, const void* rows, std::size_t n_rows, std::size_t k) noexcept {
    LOWBIT_TRY(check_ggml_type(t));
    return make_ggml_weights(t, rows, n_rows, k);
}
inline status check_no_rows(gguf_type t, std::size_t k) noexcept {
    LOWBIT_TRY(check_ggml_type(t));
    static const std::uint16_t placeholder[1] = {0};
    weights_desc d;
    d.lay = layout::ggml;
    d.ggml = t;
    d.rows = 1;
    d.cols = k;
    d.codes = reinterpret_cast<const std::uint8_t*>(placeholder);
    return layout_traits<layout::ggml>::validate(d, "gguf matmul");
}

}  // namespace detail

// The kernel table's entries for weights of type t (empty: no kernels).
inline span<const kernel_entry> kernels(gguf_type t) noexcept {
    const auto f = detail::matmul_family(t);
    return span<const kernel_entry>(f.begin, f.count);
}

// y = W x. rows: n_rows GGUF rows of type t, k values each.
template <class Exec>
status gemv(gguf_type t, const void* rows, std::size_t n_rows, std::size_t k, span<const float> x, span<float> y, Exec&& exec,
            const matmul_options& opt, matmul_workspace& ws) {
    if (n_rows == 0) {
        LOWBIT_TRY(detail::check_no_rows(t, k));
        if (x.size() != k) return status::error(errc::shape_mismatch, "gguf::gemv: x has %zu elements, k = %zu", x.size(), k);
        if (y.size() != 0) return status::error(errc::shape_mismatch, "gguf::gemv: y has %zu elements, W has no rows", y.size());
        return {};
    }
    auto w = detail::ggml_view(t, rows, n_rows, k);
    if (!w) return w.error();
    LOWBIT_TRY(lowbit::detail::check_path(*w, opt));
    LOWBIT_TRY(lowbit::detail::check_gemv_args(*w, x, y, "gguf::gemv"));
    return lowbit::detail::run_matmul(detail::matmul_family(t), *w, x.data(), k, 1, y.data(), n_rows, exec, opt, ws);
}
// With a caller's workspace and the default options: once ws has grown to a
// shape, calls of that shape allocate nothing.
template <class Exec>
status gemv(gguf_type t, const void* rows, std::size_t n_rows, std::size_t k, span<const float> x, span<float> y, Exec&& exec,
            matmul_workspace& ws) {
    return gemv(t, rows, n_rows, k, x, y, std::forward<Exec>(exec), matmul_options{}, ws);
}
template <class Exec = serial_executor>
status gemv(gguf_type t, const void* rows, std::size_t n_rows, std::size_t k, span<const float> x, span<float> y,
            Exec&& exec = Exec{}, const matmul_options& opt = {}) {
    lowbit::detail::thread_workspace_guard ws;
    return gemv(t, rows, n_rows, k, x, y, std::forward<Exec>(exec), opt, *ws.ws);
}

// Y = X W^T: Y(m, r) = W row r . X row m.
template <class Exec>
status gemm(gguf_type t, const void* rows, std::size_t n_rows, std::size_t k, matrix_view<const float> X, matrix_view<float> Y,
            Exec&& exec, const matmul_options& opt, matmul_workspace& ws) {
    if (n_rows == 0) {
        LOWBIT_TRY(detail::check_no_rows(t, k));
        if (X.cols() != k) return status::error(errc::shape_mismatch, "gguf::gemm: X has %zu columns, k = %zu", X.cols(), k);
        if (Y.rows() != X.rows() || Y.cols() != 0)
            return status::error(errc::shape_mismatch, "gguf::gemm: Y is %zu x %zu, expected %zu x 0", Y.rows(), Y.cols(), X.rows());
        return {};
    }
    auto w = detail::ggml_view(t, rows, n_rows, k);
    if (!w) return w.error();
    LOWBIT_TRY(lowbit::detail::check_path(*w, opt));
    bool no_x = false;
    LOWBIT_TRY(lowbit::detail::check_gemm_args(*w, X, Y, "gguf::gemm", no_x));
    if (no_x) return {};
    return lowbit::detail::run_matmul(detail::matmul_family(t), *w, X.data(), X.stride(), X.rows(), Y.data(), Y.stride(), exec, opt, ws);
}
template <class Exec>
status gemm(gguf_type t, const void* rows, std::size_t n_rows, std::size_t k, matrix_view<const float> X, matrix_view<float> Y,
            Exec&& exec, matmul_workspace& ws) {
    return gemm(t, rows, n_rows, k, X, Y, std::forward<Exec>(exec), matmul_options{}, ws);
}
template <class Exec = serial_executor>
status gemm(gguf_type t, const void* rows, std::size_t n_rows, std::size_t k, matrix_view<const float> X, matrix_view<float> Y,
            Exec&& exec = Exec{}, const matmul_options& opt = {}) {
    lowbit::detail::thread_workspace_guard ws;
    return gemm(t, rows, n_rows, k, X, Y, std::forward<Exec>(exec), opt, *ws.ws);
}

}  // namespace gguf
}  // namespace lowbit
