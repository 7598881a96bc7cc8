// lowbit/kernels/detail/scheme_family_impl.hpp — the definition of
// layout_family / bits_family (kernels/scheme_family.hpp): every dense or
// tiled family of every kernel scheme. Included by scheme_family.hpp in
// header-only mode; with LOWBIT_COMPILED only by lowbit::compiled's sources:
// bits_family<B, L> by the width's src/kernels_w<B>.cpp (which defines
// LOWBIT_COMPILED_BITS), layout_family by src/dispatch.cpp. Included after
// kernels/scheme_family.hpp (its declarations), never alone.
#pragma once

#include "../../weights/visit.hpp"
#include "entries.hpp"

namespace lowbit {
namespace detail {

template <int B, layout L>
kernel_family bits_family(const runtime_scheme& s) noexcept {
    kernel_family fam;
    auto pick = [&](auto tag) {
        using KS = decltype(tag);
        if constexpr (L == layout::dense) fam = kdetail::dense_table<KS>::family();
        else fam = kdetail::tiled_table<KS>::family();
        return status{};
    };
    if (s.validate().ok()) visit_kernel_sym<B>(s, pick);
    return fam;
}

#if defined(LOWBIT_COMPILED) && !defined(LOWBIT_COMPILED_BITS)
// Defined in the width's own source file (src/kernels_w*.cpp), not here.
#define LOWBIT_EXTERN_BITS_FAMILY(B)                                                            \
    extern template kernel_family bits_family<B, layout::dense>(const runtime_scheme&) noexcept; \
    extern template kernel_family bits_family<B, layout::tiled>(const runtime_scheme&) noexcept;
LOWBIT_FOR_EACH_WIDTH(LOWBIT_EXTERN_BITS_FAMILY)
#undef LOWBIT_EXTERN_BITS_FAMILY
#endif

#if !defined(LOWBIT_COMPILED_BITS)
// bits_family<B, L> if this build instantiates width B (LOWBIT_WIDTHS), else no kernels.
template <int B, layout L>
kernel_family compiled_bits_family(const runtime_scheme& s) noexcept {
    if constexpr (width_compiled(B)) return bits_family<B, L>(s);
    else return {};
}
template <layout L>
kernel_family layout_family(const runtime_scheme& s) noexcept {
    switch (s.bits) {
        case 1: return compiled_bits_family<1, L>(s);
        case 2: return compiled_bits_family<2, L>(s);
        case 3: return compiled_bits_family<3, L>(s);
        case 4: return compiled_bits_family<4, L>(s);
        case 5: return compiled_bits_family<5, L>(s);
        case 6: return compiled_bits_family<6, L>(s);
        case 7: return compiled_bits_family<7, L>(s);
        case 8: return compiled_bits_family<8, L>(s);
        default: return {};
    }
}
#if defined(LOWBIT_COMPILED)
template kernel_family layout_family<layout::dense>(const runtime_scheme&) noexcept;
template kernel_family layout_family<layout::tiled>(const runtime_scheme&) noexcept;
#endif
#endif  // !LOWBIT_COMPILED_BITS

}  // namespace detail
}  // namespace lowbit
