// lowbit/formats/tiled_kquant_matmul.hpp — GEMV/GEMM on tiled K-quant weights
// (layout::tiled_kquant, formats/tiled_kquant.hpp) with int8 activations,
// through the kernel table's tiled K-quant entries only (kernels/
// weights_matmul.hpp reaches the same entries from the whole table).
//
//   auto t = lowbit::repack(q4k_view, lowbit::layout::tiled_kquant);  // once, at load time
//   lowbit::kquant::gemm(t->view(), X, Y, pool);                        // Y = X W^T
//
// Same contract as gguf::gemv/gemm: the int8_dot path (automatic means it) or
// the reference; shapes, null, misaligned or overlapping buffers are errors
// that leave the output untouched.
#pragma once

#include <utility>

#include "../compiled_mode.hpp"
#include "../core/status.hpp"
#include "../core/views.hpp"
#include "../kernels/family_matmul.hpp"
#include "../kernels/run.hpp"
#include "../kernels/table.hpp"
#include "../parallel.hpp"
#include "../weights/weights_view.hpp"
#include "tiled_kquant.hpp"
// The tiled K-quant families: lowbit::compiled's (the kernel table, compiled
// once) with LOWBIT_COMPILED, else instantiated in this TU (these three only).
// LOWBIT_INLINE_KERNELS (a TU that wants its own copies of the bodies, as the
// sanitized tests) parses the bodies in both modes; the calls stay as above.
#if defined(LOWBIT_COMPILED)
#include "../kernels/kernel_list.hpp"
#endif
#if !defined(LOWBIT_COMPILED) || defined(LOWBIT_INLINE_KERNELS)
#include "detail/tiled_kquant_entries.hpp"
#endif

namespace lowbit {
namespace kquant {

namespace detail {
// The entries of tiled K-quant weights of ggml type t (Q4_K, Q5_K, Q6_K;
// else count 0). With LOWBIT_COMPILED they are lowbit::compiled's, read by
// their place in kernel_list.hpp's walk (the last families).
inline lowbit::detail::kernel_family family_of(gguf::gguf_type t) noexcept {
#if defined(LOWBIT_COMPILED)
    for (std::size_t j = 0; j < lowbit::detail::tiled_kquant_family_count; ++j)
        if (lowbit::detail::tiled_kquant_types[j] == t)
            return lowbit::detail::kernel_family_at(lowbit::detail::kernel_family_count - lowbit::detail::tiled_kquant_family_count + j);
    return {};
#else
    return tiled_kquant_family(t);
#endif
}
// kquant::gemv / gemm's door (kernels/family_matmul.hpp).
struct door {
    static constexpr const char* gemv_name = "kquant::gemv";
    static constexpr const char* gemm_name = "kquant::gemm";
    static status check(const weights_view& w, const char* who) noexcept {
        if (w.lay() != layout::tiled_kquant)
            return status::error(errc::invalid_argument, "%s: the weights are %s, not tiled_kquant", who, layout_name(w.lay()));
        return {};
    }
    static lowbit::detail::kernel_family family(const weights_view& w) noexcept { return family_of(w.ggml_type()); }
};
}  // namespace detail

// The kernel table's entries for tiled K-quant weights of ggml type t (empty: none).
inline span<const kernel_entry> kernels(gguf::gguf_type t) noexcept {
    const auto f = detail::family_of(t);
    return span<const kernel_entry>(f.begin, f.count);
}

inline constexpr lowbit::detail::door_gemv_fn<detail::door> gemv{};
inline constexpr lowbit::detail::door_gemm_fn<detail::door> gemm{};

}  // namespace kquant
}  // namespace lowbit
