// lowbit/formats/gguf_matmul.hpp — GEMV/GEMM directly on GGUF weight rows
// (docs/formats.md, "Matmul on GGUF blocks"), so an engine can run a GGUF file
// without converting it.
//
//   gemv: y = W x        W: n_rows x k in GGUF blocks, x: k, y: n_rows
//   gemm: Y = X W^T      X: M x k, Y: M x n_rows
//
// Weight types: Q4_0, Q5_0, Q8_0, Q4_K, Q5_K, Q6_K. The weights are the bytes
// of a GGUF tensor: row r starts at rows + r * row_size(type, k). Activations
// are quantized as ggml does (each row with quantize_row_q8_0 for Q4_0/Q5_0/
// Q8_0, quantize_row_q8_K for the K-quants); each block's dot product is an
// exact integer sum, scaled in float and summed in block order
// (detail/gguf_dot.hpp). Results are therefore close to ggml's vec_dot and,
// since rows are split into fixed tasks, bit-identical for every executor,
// thread count and kernel arch. Kernel copies, one per arch, all equal to the
// scalar model bit for bit: AVX2 (detail/x86/gguf_dot_avx2.hpp, also run for
// arch::avxvnni), AVX-512 and AVX-512 VNNI (detail/x86/gguf_dot_avx512.hpp),
// NEON and NEON dotprod (detail/arm/gguf_dot_neon.hpp); lowbit::force_arch /
// LOWBIT_FORCE_ARCH pick one (kernels/arch.hpp), arch::sse2 runs the model.
//
// Errors (unsupported type, k not a multiple of the block size, shapes, null or
// misaligned pointers, overlapping buffers, NaN/Inf in the activations, which
// ggml's activation quantizers cannot represent) return a status and leave the
// output untouched. Scratch: the quantized activations, ~1.07 * M * k bytes,
// in a matmul_workspace (kernels/matmul.hpp): the caller's, passed after the
// executor, or else the calling thread's, which allocates only when it grows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "../core/status.hpp"
#include "../core/views.hpp"
#include "../kernels/arch.hpp"
#include "../kernels/matmul.hpp"  // matmul_workspace, the thread's workspace
#include "../parallel.hpp"
#include "detail/gguf_dot.hpp"
#include "gguf_blocks.hpp"
#include "gguf_types.hpp"

#if defined(LOWBIT_X86) && (defined(__GNUC__) || defined(__clang__)) && !defined(LOWBIT_NO_X86_KERNELS)
#define LOWBIT_HAVE_GGUF_X86 1
#include "detail/x86/gguf_dot_avx2.hpp"
#include "detail/x86/gguf_dot_avx512.hpp"
#endif
#if defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
#define LOWBIT_HAVE_GGUF_ARM 1
#include "detail/arm/gguf_dot_neon.hpp"
#endif

namespace lowbit {
namespace gguf {

// True for the weight types gemv/gemm accept.
constexpr bool matmul_supported(gguf_type t) noexcept {
    return t == gguf_type::q4_0 || t == gguf_type::q5_0 || t == gguf_type::q8_0 || t == gguf_type::q4_K ||
           t == gguf_type::q5_K || t == gguf_type::q6_K;
}

// Bytes of one row of k values (k a multiple of the block size).
constexpr std::size_t row_size(gguf_type t, std::size_t k) noexcept {
    return type_block_size(t) ? k / type_block_size(t) * type_size(t) : 0;
}

namespace detail {

constexpr std::size_t gguf_rows_per_task = 32;  // fixed split: results never depend on the thread count

inline bool ranges_overlap(const void* a, std::size_t a_bytes, const void* b, std::size_t b_bytes) noexcept {
    const auto pa = reinterpret_cast<std::uintptr_t>(a), pb = reinterpret_cast<std::uintptr_t>(b);
    return a_bytes && b_bytes && pa < pb + b_bytes && pb < pa + a_bytes;
}

// out[m * ldy + r] for weight rows [r0, r1) and activation rows m < M. The arch
// switch is here, per task, so the dispatch costs nothing per block.
template <class W, class A>
inline void gguf_rows(arch a, const unsigned char* rows, std::size_t rbytes, std::size_t r0, std::size_t r1, const A* acts,
                      std::size_t nb, std::size_t M, float* y, std::size_t ldy) noexcept {
    for (std::size_t r = r0; r < r1; ++r) {
        const W* w = reinterpret_cast<const W*>(rows + r * rbytes);
        for (std::size_t m = 0; m < M; ++m) {
            const A* x = acts + m * nb;
            float v;
            switch (a) {
#if defined(LOWBIT_HAVE_GGUF_X86)
                case arch::avx2:
                case arch::avxvnni: v = avx2::row_dot(w, x, nb); break;
                case arch::avx512: v = avx512::row_dot(w, x, nb); break;
                case arch::avx512vnni: v = avx512vnni::row_dot(w, x, nb); break;
#endif
#if defined(LOWBIT_HAVE_GGUF_ARM)
                case arch::neon: v = neon::row_dot(w, x, nb); break;
                case arch::neondot: v = neondot::row_dot(w, x, nb); break;
#endif
                default: v = row_dot_scalar(w, x, nb);
            }
            y[m * ldy + r] = v;
        }
    }
}

// Bytes of workspace a call with M activation rows of k values takes: the
// quantized activations (M * k / 32 Q8_0 or M * k / 256 Q8_K blocks, ~1.07 * M * k)
// and one failure flag per row.
template <class A>
constexpr std::size_t gguf_act_bytes(std::size_t M, std::size_t nb) noexcept {
    return (M * nb * sizeof(A) + 63) / 64 * 64 + M;
}

// Quantize the M activation rows to A blocks in ws, then run the row tasks.
template <class W, class A, class Exec>
status gguf_matmul_typed(const void* rows, std::size_t n_rows, std::size_t k, const float* x, std::size_t ldx,
                         std::size_t M, float* y, std::size_t ldy, Exec& exec, matmul_workspace& ws) {
    const std::size_t nb = k / W::values;
    auto* base = static_cast<unsigned char*>(ws.get(gguf_act_bytes<A>(M, nb)));  // 64-byte aligned
    A* acts = reinterpret_cast<A*>(base);
    unsigned char* failed = base + gguf_act_bytes<A>(M, nb) - M;
    auto quantize = [&](std::size_t m) {
        failed[m] = !quantize_row(A::type_id, x + m * ldx, acts + m * nb, static_cast<std::int64_t>(k)).ok();
    };
    if (M == 1) quantize(0);
    else exec(M, quantize);
    for (std::size_t m = 0; m < M; ++m)
        if (failed[m]) {  // say why, from the codec (NaN/Inf); nothing was written to y
            const status s = quantize_row(A::type_id, x + m * ldx, acts + m * nb, static_cast<std::int64_t>(k));
            return status::error(s.code(), "gguf matmul: activation row %zu: %s", m, s.message());
        }
    const arch a = active_arch();
    const auto* wbase = static_cast<const unsigned char*>(rows);
    const std::size_t rbytes = nb * sizeof(W);
    const std::size_t n_tasks = (n_rows + gguf_rows_per_task - 1) / gguf_rows_per_task;
    exec(n_tasks, [&](std::size_t t) {
        const std::size_t r0 = t * gguf_rows_per_task;
        const std::size_t r1 = r0 + gguf_rows_per_task < n_rows ? r0 + gguf_rows_per_task : n_rows;
        gguf_rows<W>(a, wbase, rbytes, r0, r1, acts, nb, M, y, ldy);
    });
    return {};
}

template <class Exec>
status gguf_matmul(gguf_type t, const void* rows, std::size_t n_rows, std::size_t k, const float* x, std::size_t ldx,
                   std::size_t M, float* y, std::size_t ldy, Exec& exec, matmul_workspace& ws) {
    switch (t) {
        case gguf_type::q4_0: return gguf_matmul_typed<block_q4_0, block_q8_0>(rows, n_rows, k, x, ldx, M, y, ldy, exec, ws);
        case gguf_type::q5_0: return gguf_matmul_typed<block_q5_0, block_q8_0>(rows, n_rows, k, x, ldx, M, y, ldy, exec, ws);
        case gguf_type::q8_0: return gguf_matmul_typed<block_q8_0, block_q8_0>(rows, n_rows, k, x, ldx, M, y, ldy, exec, ws);
        case gguf_type::q4_K: return gguf_matmul_typed<block_q4_K, block_q8_K>(rows, n_rows, k, x, ldx, M, y, ldy, exec, ws);
        case gguf_type::q5_K: return gguf_matmul_typed<block_q5_K, block_q8_K>(rows, n_rows, k, x, ldx, M, y, ldy, exec, ws);
        case gguf_type::q6_K: return gguf_matmul_typed<block_q6_K, block_q8_K>(rows, n_rows, k, x, ldx, M, y, ldy, exec, ws);
        default: return status::error(errc::unsupported, "gguf matmul: type %s is not supported", type_name(t));
    }
}

// Checks shared by gemv and gemm: type, k, weight pointer. All block structs
// of the supported types need 2-byte alignment (their f16 fields).
inline status check_weights(gguf_type t, const void* rows, std::size_t n_rows, std::size_t k) noexcept {
    if (!matmul_supported(t)) return status::error(errc::unsupported, "gguf matmul: type %s is not supported", type_name(t));
    const std::size_t qk = type_block_size(t);
    if (k == 0 || k % qk != 0)
        return status::error(errc::invalid_argument, "gguf matmul: k = %zu is not a positive multiple of %s's block size %zu", k,
                             type_name(t), qk);
    if (n_rows > 0 && rows == nullptr) return status::error(errc::invalid_argument, "gguf matmul: weight rows are null");
    if (reinterpret_cast<std::uintptr_t>(rows) % 2 != 0)
        return status::error(errc::invalid_argument, "gguf matmul: weight rows are not 2-byte aligned");
    return {};
}

}  // namespace detail

// y = W x. rows: n_rows GGUF rows of type t, k values each. ws holds the
// quantized activations: once it has grown to a shape, calls of that shape
// allocate nothing.
template <class Exec>
status gemv(gguf_type t, const void* rows, std::size_t n_rows, std::size_t k, span<const float> x, span<float> y,
            Exec&& exec, matmul_workspace& ws) {
    LOWBIT_TRY(detail::check_weights(t, rows, n_rows, k));
    if (x.size() != k) return status::error(errc::shape_mismatch, "gguf::gemv: x has %zu elements, k = %zu", x.size(), k);
    if (y.size() != n_rows)
        return status::error(errc::shape_mismatch, "gguf::gemv: y has %zu elements, W has %zu rows", y.size(), n_rows);
    if (!x.data() || (n_rows > 0 && !y.data())) return status::error(errc::invalid_argument, "gguf::gemv: x or y is null");
    if (lowbit::detail::misaligned(x.data()) || lowbit::detail::misaligned(y.data()))
        return status::error(errc::invalid_argument, "gguf::gemv: x or y is not aligned to a float");
    if (detail::ranges_overlap(x.data(), k * sizeof(float), y.data(), n_rows * sizeof(float)) ||
        detail::ranges_overlap(rows, n_rows * row_size(t, k), y.data(), n_rows * sizeof(float)))
        return status::error(errc::invalid_argument, "gguf::gemv: y overlaps x or the weights");
    if (n_rows == 0) return {};
    return detail::gguf_matmul(t, rows, n_rows, k, x.data(), k, 1, y.data(), n_rows, exec, ws);
}

// As above, with the calling thread's workspace (kernels/matmul.hpp).
template <class Exec = serial_executor>
status gemv(gguf_type t, const void* rows, std::size_t n_rows, std::size_t k, span<const float> x, span<float> y,
            Exec&& exec = Exec{}) {
    lowbit::detail::thread_workspace_guard ws;
    return gemv(t, rows, n_rows, k, x, y, std::forward<Exec>(exec), *ws.ws);
}

// Y = X W^T: Y(m, r) = W row r . X row m. ws as for gemv.
template <class Exec>
status gemm(gguf_type t, const void* rows, std::size_t n_rows, std::size_t k, matrix_view<const float> X,
            matrix_view<float> Y, Exec&& exec, matmul_workspace& ws) {
    LOWBIT_TRY(detail::check_weights(t, rows, n_rows, k));
    if (X.cols() != k) return status::error(errc::shape_mismatch, "gguf::gemm: X has %zu columns, k = %zu", X.cols(), k);
    if (Y.rows() != X.rows() || Y.cols() != n_rows)
        return status::error(errc::shape_mismatch, "gguf::gemm: Y is %zu x %zu, expected %zu x %zu", Y.rows(), Y.cols(), X.rows(),
                             n_rows);
    if (X.rows() == 0 || n_rows == 0) return {};
    if (!X.data() || !Y.data()) return status::error(errc::invalid_argument, "gguf::gemm: X or Y is null");
    if (X.stride() < X.cols() || Y.stride() < Y.cols())
        return status::error(errc::invalid_argument, "gguf::gemm: row stride < columns");
    if (lowbit::detail::misaligned(X.data()) || lowbit::detail::misaligned(Y.data()))
        return status::error(errc::invalid_argument, "gguf::gemm: X or Y is not aligned to a float");
    const std::size_t x_bytes = ((X.rows() - 1) * X.stride() + X.cols()) * sizeof(float);
    const std::size_t y_bytes = ((Y.rows() - 1) * Y.stride() + Y.cols()) * sizeof(float);
    if (detail::ranges_overlap(X.data(), x_bytes, Y.data(), y_bytes) ||
        detail::ranges_overlap(rows, n_rows * row_size(t, k), Y.data(), y_bytes))
        return status::error(errc::invalid_argument, "gguf::gemm: Y overlaps X or the weights");
    return detail::gguf_matmul(t, rows, n_rows, k, X.data(), X.stride(), X.rows(), Y.data(), Y.stride(), exec, ws);
}

// As above, with the calling thread's workspace (kernels/matmul.hpp).
template <class Exec = serial_executor>
status gemm(gguf_type t, const void* rows, std::size_t n_rows, std::size_t k, matrix_view<const float> X,
            matrix_view<float> Y, Exec&& exec = Exec{}) {
    lowbit::detail::thread_workspace_guard ws;
    return gemm(t, rows, n_rows, k, X, Y, std::forward<Exec>(exec), *ws.ws);
}

}  // namespace gguf
}  // namespace lowbit
