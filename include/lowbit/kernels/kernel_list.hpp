// lowbit/kernels/kernel_list.hpp — the whole kernel table: every entry of
// every kernel scheme in the dense and tiled layouts and of every ggml
// weight type, for the run-time front door (weights_matmul.hpp, runtime.hpp),
// tests, benches and tools (lowbit-kernels prints it).
//
// The table's definition instantiates the kernels of all 96 kernel schemes
// (scheme_family.hpp) and of the ggml types: kernels/detail/kernel_list_impl.hpp,
// compiled in the caller's TU by default and once in lowbit::compiled with
// LOWBIT_COMPILED (compiled_mode.hpp). Here only the walk and the lookup, which
// reach the families through detail::kernel_family_at, are inline.
#pragma once

#include <cstddef>

#include "../compiled_mode.hpp"
#include "../formats/gguf_types.hpp"
#include "../weights/weights_view.hpp"
#include "run.hpp"
#include "scheme_family.hpp"
#include "table.hpp"

namespace lowbit {

// The ggml weight types with kernels.
// The ggml weight types with kernels (gguf::matmul_supported), in gguf_type order.
constexpr gguf::gguf_type ggml_kernel_types[] = {
    gguf::gguf_type::q4_0,  gguf::gguf_type::q4_1,    gguf::gguf_type::q5_0,   gguf::gguf_type::q5_1,    gguf::gguf_type::q8_0,
    gguf::gguf_type::q2_K,  gguf::gguf_type::q3_K,    gguf::gguf_type::q4_K,   gguf::gguf_type::q5_K,    gguf::gguf_type::q6_K,
    gguf::gguf_type::iq2_xxs, gguf::gguf_type::iq2_xs, gguf::gguf_type::iq3_xxs, gguf::gguf_type::iq1_s, gguf::gguf_type::iq4_nl,
    gguf::gguf_type::iq3_s, gguf::gguf_type::iq2_s,   gguf::gguf_type::iq4_xs, gguf::gguf_type::iq1_m,   gguf::gguf_type::tq1_0,
    gguf::gguf_type::tq2_0, gguf::gguf_type::mxfp4};

namespace detail {
// Families in walking order: dense per kernel scheme (for_each_kernel_scheme's
// order: bits, symmetry, scale type, per-tensor), tiled likewise, then ggml per
// type of ggml_kernel_types, then codebook weights (3, 4 bits), then tiled
// codebook weights (3, 4 bits), then tiled K-quant weights (Q4_K, Q5_K, Q6_K).
constexpr std::size_t kernel_scheme_count = 96;
constexpr std::size_t ggml_family_count = sizeof ggml_kernel_types / sizeof ggml_kernel_types[0];
constexpr std::size_t codebook_family_count = 4;  // 3- and 4-bit indices, codebook and tiled_codebook layouts
constexpr gguf::gguf_type tiled_kquant_types[] = {gguf::gguf_type::q4_K, gguf::gguf_type::q5_K, gguf::gguf_type::q6_K};
constexpr std::size_t tiled_kquant_family_count = sizeof tiled_kquant_types / sizeof tiled_kquant_types[0];
constexpr std::size_t kernel_family_count = 2 * kernel_scheme_count + ggml_family_count + codebook_family_count + tiled_kquant_family_count;
LOWBIT_COMPILED_INLINE kernel_family kernel_family_at(std::size_t i) noexcept;  // i < kernel_family_count
// The family of kernels that read w (count 0: none).
LOWBIT_COMPILED_INLINE kernel_family family_of(const weights_view& w) noexcept;
}  // namespace detail

// f(const kernel_entry&) for every entry: dense, then tiled per kernel scheme, then ggml per type, then codebook, tiled codebook, tiled K-quant.
template <class F>
void for_each_kernel(F&& f) {
    for (std::size_t i = 0; i < detail::kernel_family_count; ++i) {
        const detail::kernel_family fam = detail::kernel_family_at(i);
        for (std::size_t j = 0; j < fam.count; ++j) f(fam.begin[j]);
    }
}

// The entry registered under exactly this key, or null.
inline const kernel_entry* lookup(const kernel_key& k) noexcept {
    const kernel_entry* found = nullptr;
    for_each_kernel([&](const kernel_entry& e) {
        const kernel_key& o = e.key;
        if (!found && o.lay == k.lay && o.bits_or_type == k.bits_or_type && o.path == k.path && o.a == k.a &&
            (!is_scheme_layout(k.lay) || (o.symmetric == k.symmetric && o.scale == k.scale && o.per_tensor == k.per_tensor)))
            found = &e;
    });
    return found;
}

// The entry a matmul on w with these options would run now (active_arch(),
// the fallback chain), without running it; opt.info is filled as a call would.
inline result<const kernel_entry*> describe(const weights_view& w, const matmul_options& opt = {}) noexcept {
    return detail::select_entry(detail::family_of(w), w, opt);
}

}  // namespace lowbit

#if !defined(LOWBIT_COMPILED)
#include "detail/kernel_list_impl.hpp"
#endif
