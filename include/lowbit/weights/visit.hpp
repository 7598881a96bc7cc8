// lowbit/weights/visit.hpp — from a run-time scheme to the compile-time
// scheme the kernels and packers are instantiated for: per_tensor stays,
// every other granularity is per_group_dynamic (same memory layout, group
// read at run time). 8 widths x 2 symmetries x 3 scale types x 2 = 96.
#pragma once

#include "../core/scheme.hpp"
#include "../core/status.hpp"

namespace lowbit {
namespace detail {
// The three steps from a run-time scheme to a compile-time one, shared by the
// kernel schemes (Kernel = true: per_tensor stays, every other granularity is
// per_group_dynamic) and the typed schemes of any_qmatrix (Kernel = false:
// per_channel stays too, pack/any_qmatrix.hpp's visit_scheme).
template <bool Kernel, int B, class Sym, class Sc, class F>
status visit_gran(const runtime_scheme& s, F& f) {
    if (s.gran == granularity::per_tensor) return f(scheme<B, per_tensor, Sym, Sc>{});
    if constexpr (!Kernel)
        if (s.gran == granularity::per_channel) return f(scheme<B, per_channel, Sym, Sc>{});
    return f(scheme<B, per_group_dynamic, Sym, Sc>{});
}
template <bool Kernel, int B, class Sym, class F>
status visit_scale_type(const runtime_scheme& s, F& f) {
    switch (s.scale) {
        case scale_type::f32: return visit_gran<Kernel, B, Sym, scale_f32>(s, f);
        case scale_type::f16: return visit_gran<Kernel, B, Sym, scale_f16>(s, f);
        case scale_type::bf16: return visit_gran<Kernel, B, Sym, scale_bf16>(s, f);
    }
    return status::error(errc::invalid_argument, "scheme.scale = %d is not a scale type", static_cast<int>(s.scale));
}
template <bool Kernel, int B, class F>
status visit_sym(const runtime_scheme& s, F& f) {
    return s.symmetric ? visit_scale_type<Kernel, B, symmetric>(s, f) : visit_scale_type<Kernel, B, asymmetric>(s, f);
}
template <bool Kernel, class F>
status visit_runtime(const runtime_scheme& s, F& f) {
    LOWBIT_TRY(s.validate());
    return switch_width(s.bits, [&](auto b) { return visit_sym<Kernel, decltype(b)::value>(s, f); });
}
// f(KS{}) for s's width B and the kernel scheme KS of s.
template <int B, class F>
status visit_kernel_sym(const runtime_scheme& s, F& f) {
    return visit_sym<true, B>(s, f);
}
}  // namespace detail

// Calls f(KS{}) for the kernel scheme of s; returns f's status.
template <class F>
status visit_kernel_scheme(const runtime_scheme& s, F&& f) {
    return detail::visit_runtime<true>(s, f);
}

// Calls f(KS{}) for every kernel scheme (the 96 above).
template <class F>
void for_each_kernel_scheme(F&& f) {
    for (int bits = 1; bits <= 8; ++bits)
        for (int sym = 0; sym < 2; ++sym)
            for (int sc = 0; sc < 3; ++sc)
                for (int pt = 0; pt < 2; ++pt) {
                    runtime_scheme s;
                    s.bits = bits;
                    s.symmetric = sym == 1;
                    s.scale = static_cast<scale_type>(sc);
                    s.gran = pt ? granularity::per_tensor : granularity::per_group;
                    s.group = 32;
                    visit_kernel_scheme(s, [&](auto tag) {
                        f(tag);
                        return status{};
                    });
                }
}

}  // namespace lowbit
