// lowbit/pack/any_qmatrix.hpp — a qmatrix whose scheme is a run-time value
// (any_qmatrix), and visit_scheme, the switch from a runtime_scheme onto the
// compile-time scheme. Light: pack/ only, no kernels; the run-time twins that
// compute on an any_qmatrix are runtime.hpp. Static group sizes map to
// per_group_dynamic.
#pragma once

#include <type_traits>
#include <utility>

#include "../compiled_mode.hpp"
#include "../core/scheme.hpp"
#include "../core/status.hpp"
#include "../weights/visit.hpp"
#include "qmatrix.hpp"

namespace lowbit {

// A qmatrix whose scheme is known at run time.
struct any_qmatrix {
    runtime_scheme scheme;
    qstorage storage;

    std::size_t rows() const noexcept { return storage.layout.rows; }
    std::size_t cols() const noexcept { return storage.layout.cols; }

    template <class S>
    qmatrix_view<S> view_as() const noexcept {
        return storage_view<qmatrix_view<S>>(storage);
    }
};

namespace detail {
// f(S{}) for s's width B and the typed scheme S of s (weights/visit.hpp).
template <int B, class F>
status visit_symmetry(const runtime_scheme& s, F& f) {
    return visit_sym<false, B>(s, f);
}
}  // namespace detail

// Calls f(S{}) with the compile-time scheme S matching s; returns f's status.
template <class F>
status visit_scheme(const runtime_scheme& s, F&& f) {
    return detail::visit_runtime<false>(s, f);
}

namespace detail {
// Calls f(std::integral_constant<int, B>{}) for s's width B, after validating
// s: the switch of the run-time twins that are compiled once per width
// (src/kernels_w*.cpp with LOWBIT_COMPILED). A width this build leaves out
// (LOWBIT_WIDTHS) is errc::unsupported.
template <int B, class F>
status call_width(F& f) {
    if constexpr (width_compiled(B)) return f(std::integral_constant<int, B>{});
    else return status::error(errc::unsupported, "%d-bit schemes: this build leaves them out (LOWBIT_WIDTHS)", B);
}
// An algorithm twin's last step: the typed result's matrix and report into
// the run-time result (out.q.scheme is set by the caller).
template <class R, class Out>
status take_typed_result(R& r, Out& out) {
    if (!r) return r.error();
    out.report = r->report;
    out.q.storage = std::move(r->q).release();
    return status{};
}
template <class F>
status visit_width(const runtime_scheme& s, F&& f) {
    LOWBIT_TRY(s.validate());
    return switch_width(s.bits, [&](auto b) { return call_width<decltype(b)::value>(f); });
}
}  // namespace detail

}  // namespace lowbit
