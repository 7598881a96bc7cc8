// lowbit/kernels/detail/kernel_list_impl.hpp — the definition of the kernel
// table's walk and lookup (kernels/kernel_list.hpp): the dense and tiled
// families (scheme_family.hpp) and the ggml ones. Included by kernel_list.hpp
// in header-only mode, and by lowbit::compiled's src/dispatch.cpp only when
// LOWBIT_COMPILED is defined (compiled_mode.hpp). Included after
// kernels/kernel_list.hpp (its declarations), never alone.
#pragma once

#include <cstddef>

#include "../../formats/detail/codebook_entries.hpp"
#include "../../formats/detail/gguf_entries.hpp"
#include "../../formats/detail/tiled_codebook_entries.hpp"
#include "../../formats/detail/tiled_kquant_entries.hpp"

namespace lowbit {
namespace detail {

#if !defined(LOWBIT_COMPILED_BITS)
LOWBIT_COMPILED_INLINE kernel_family kernel_family_at(std::size_t i) noexcept {
    if (i >= kernel_family_count) return {};
    if (i >= kernel_family_count - tiled_kquant_family_count)
        return kquant::detail::tiled_kquant_family(tiled_kquant_types[i - (kernel_family_count - tiled_kquant_family_count)]);
    if (i >= 2 * kernel_scheme_count + ggml_family_count) {  // cb3, cb4, then their tiled_codebook families
        const std::size_t c = i - 2 * kernel_scheme_count - ggml_family_count;
        const int bits = c % 2 ? 4 : 3;
        return c < 2 ? codebook::detail::codebook_family(bits) : codebook::detail::tiled_codebook_family(bits);
    }
    if (i >= 2 * kernel_scheme_count) return gguf::detail::ggml_family(ggml_kernel_types[i - 2 * kernel_scheme_count]);
    const std::size_t j = i % kernel_scheme_count;  // for_each_kernel_scheme's order
    runtime_scheme s;
    s.bits = static_cast<int>(j / 12) + 1;
    s.symmetric = (j / 6) % 2 == 1;
    s.scale = static_cast<scale_type>((j / 2) % 3);
    s.gran = j % 2 ? granularity::per_tensor : granularity::per_group;
    s.group = 32;
    return i < kernel_scheme_count ? layout_family<layout::dense>(s) : layout_family<layout::tiled>(s);
}

LOWBIT_COMPILED_INLINE kernel_family family_of(const weights_view& w) noexcept {
    if (w.lay() == layout::ggml) return gguf::detail::ggml_family(w.ggml_type());
    if (w.lay() == layout::codebook) return codebook::detail::codebook_family(w.scheme().bits);
    if (w.lay() == layout::tiled_codebook) return codebook::detail::tiled_codebook_family(w.scheme().bits);
    if (w.lay() == layout::tiled_kquant) return kquant::detail::tiled_kquant_family(w.ggml_type());
    return w.lay() == layout::dense ? layout_family<layout::dense>(w.scheme()) : layout_family<layout::tiled>(w.scheme());
}

#endif  // !LOWBIT_COMPILED_BITS

}  // namespace detail
}  // namespace lowbit
