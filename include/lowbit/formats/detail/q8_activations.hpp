// lowbit/formats/detail/q8_activations.hpp — the int8 activation step that
// the ggml-block and codebook entries of the kernel table share
// (kernels/table.hpp: ws_bytes and prepare): each activation row quantized
// into the workspace as ggml's activation blocks A (Q8_0, Q8_1 or Q8_K, the
// partner type of the weights' blocks, of the same block length).
#pragma once

#include <cstddef>
#include <cstdint>

#include "../../kernels/table.hpp"
#include "../../weights/weights_view.hpp"
#include "../gguf_rows.hpp"

namespace lowbit {
namespace gguf {
namespace detail {

inline status quantize_activations(const float* x, block_q8_0* y, std::int64_t k) noexcept { return quantize_row_q8_0(x, y, k); }
inline status quantize_activations(const float* x, block_q8_1* y, std::int64_t k) noexcept { return quantize_row_q8_1(x, y, k); }
inline status quantize_activations(const float* x, block_q8_K* y, std::int64_t k) noexcept { return quantize_row_q8_K(x, y, k); }

// The workspace: M rows of cols / A::values blocks A.
template <class A>
std::size_t activation_ws_bytes(const weights_view& w, std::size_t M) noexcept {
    return M * (w.cols() / static_cast<std::size_t>(A::values)) * sizeof(A);
}
// Row m of the activations into its blocks. NaN/Inf cannot be quantized
// (ggml's quantizers would write garbage): the status says which row.
template <class A>
status prepare_activations(const matmul_call& c, std::size_t m) {
    A* acts = static_cast<A*>(c.ws) + m * (c.w->cols() / static_cast<std::size_t>(A::values));
    const status s = quantize_activations(c.x + m * c.ldx, acts, static_cast<std::int64_t>(c.w->cols()));
    if (!s) return status::error(s.code(), "%s matmul: activation row %zu: %s", c.w->lay() == layout::codebook ? "codebook" : "gguf", m,
                                 s.message());
    return {};
}

}  // namespace detail
}  // namespace gguf
}  // namespace lowbit
