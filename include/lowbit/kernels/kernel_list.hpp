// lowbit/kernels/kernel_list.hpp — the whole kernel table: every entry of
// every kernel scheme in the dense and tiled layouts and of every ggml
// weight type, for tests, benches and tools (lowbit-kernels prints it).
//
// Heavy: it instantiates the kernels of all 96 kernel schemes. The typed
// API (kernels/matmul.hpp) never includes it.
#pragma once

#include <cstddef>

#include "../formats/detail/gguf_entries.hpp"
#include "../weights/visit.hpp"
#include "../weights/weights_view.hpp"
#include "detail/entries.hpp"
#include "run.hpp"
#include "table.hpp"

namespace lowbit {

// The ggml weight types with kernels.
constexpr gguf::gguf_type ggml_kernel_types[] = {gguf::gguf_type::q4_0, gguf::gguf_type::q5_0, gguf::gguf_type::q8_0,
                                                 gguf::gguf_type::q4_K, gguf::gguf_type::q5_K, gguf::gguf_type::q6_K};

// f(const kernel_entry&) for every entry: dense, then tiled per kernel scheme, then ggml per type.
template <class F>
void for_each_kernel(F&& f) {
    auto each = [&](const detail::kernel_family& fam) {
        for (std::size_t i = 0; i < fam.count; ++i) f(fam.begin[i]);
    };
    for_each_kernel_scheme([&](auto tag) { each(kdetail::dense_table<decltype(tag)>::family()); });
    for_each_kernel_scheme([&](auto tag) { each(kdetail::tiled_table<decltype(tag)>::family()); });
    for (gguf::gguf_type t : ggml_kernel_types) each(gguf::detail::ggml_family(t));
}

namespace detail {
// The family of kernels that read w (count 0: none).
inline kernel_family family_of(const weights_view& w) noexcept {
    if (w.lay() == layout::ggml) return gguf::detail::ggml_family(w.ggml_type());
    kernel_family fam;
    visit_kernel_scheme(w.scheme(), [&](auto tag) {
        fam = w.lay() == layout::dense ? kdetail::dense_table<decltype(tag)>::family() : kdetail::tiled_table<decltype(tag)>::family();
        return status{};
    });
    return fam;
}
}  // namespace detail

// The entry registered under exactly this key, or null.
inline const kernel_entry* lookup(const kernel_key& k) noexcept {
    const kernel_entry* found = nullptr;
    for_each_kernel([&](const kernel_entry& e) {
        const kernel_key& o = e.key;
        if (!found && o.lay == k.lay && o.bits_or_type == k.bits_or_type && o.path == k.path && o.a == k.a &&
            (k.lay == layout::ggml || (o.symmetric == k.symmetric && o.scale == k.scale && o.per_tensor == k.per_tensor)))
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
