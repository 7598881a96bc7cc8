// lowbit/runtime.hpp — the run-time twins of the templated API, for tools and
// file formats: the scheme is a value (runtime_scheme), the matrix an
// any_qmatrix. Each twin is a switch onto the template (visit_scheme), never a
// second implementation. Static group sizes map to per_group_dynamic.
#pragma once

#include <utility>

#include "kernels.hpp"
#include "weights.hpp"

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
template <int B, class Sym, class Sc, class F>
status visit_granularity(const runtime_scheme& s, F& f) {
    switch (s.gran) {
        case granularity::per_tensor: return f(scheme<B, per_tensor, Sym, Sc>{});
        case granularity::per_channel: return f(scheme<B, per_channel, Sym, Sc>{});
        case granularity::per_group: return f(scheme<B, per_group_dynamic, Sym, Sc>{});
    }
    return status::error(errc::invalid_argument, "unknown granularity");
}
template <int B, class Sym, class F>
status visit_scale(const runtime_scheme& s, F& f) {
    switch (s.scale) {
        case scale_type::f32: return visit_granularity<B, Sym, scale_f32>(s, f);
        case scale_type::f16: return visit_granularity<B, Sym, scale_f16>(s, f);
        case scale_type::bf16: return visit_granularity<B, Sym, scale_bf16>(s, f);
    }
    return status::error(errc::invalid_argument, "unknown scale type");
}
template <int B, class F>
status visit_symmetry(const runtime_scheme& s, F& f) {
    return s.symmetric ? visit_scale<B, symmetric>(s, f) : visit_scale<B, asymmetric>(s, f);
}
}  // namespace detail

// Calls f(S{}) with the compile-time scheme S matching s; returns f's status.
template <class F>
status visit_scheme(const runtime_scheme& s, F&& f) {
    LOWBIT_TRY(s.validate());
    switch (s.bits) {
        case 1: return detail::visit_symmetry<1>(s, f);
        case 2: return detail::visit_symmetry<2>(s, f);
        case 3: return detail::visit_symmetry<3>(s, f);
        case 4: return detail::visit_symmetry<4>(s, f);
        case 5: return detail::visit_symmetry<5>(s, f);
        case 6: return detail::visit_symmetry<6>(s, f);
        case 7: return detail::visit_symmetry<7>(s, f);
        default: return detail::visit_symmetry<8>(s, f);
    }
}

template <class Exec = serial_executor>
result<any_qmatrix> quantize(const runtime_scheme& s, matrix_view<const float> w, const calibration& calib = {},
                             Exec&& exec = Exec{}) {
    any_qmatrix out;
    out.scheme = s;
    status st = visit_scheme(s, [&](auto tag) {
        using S = decltype(tag);
        quantize_options o;
        o.calib = calib;
        o.group = s.group;
        auto q = quantize<S>(w, o, exec);
        if (!q) return q.error();
        out.storage = std::move(*q).release();
        return status{};
    });
    if (!st) return st;
    return out;
}

template <class Exec = serial_executor>
status gemv(const any_qmatrix& w, span<const float> x, span<float> y, Exec&& exec = Exec{}, const matmul_options& opt = {}) {
    return visit_scheme(w.scheme, [&](auto tag) { return gemv(w.view_as<decltype(tag)>(), x, y, exec, opt); });
}
template <class Exec = serial_executor>
status gemm(const any_qmatrix& w, matrix_view<const float> x, matrix_view<float> y, Exec&& exec = Exec{},
            const matmul_options& opt = {}) {
    return visit_scheme(w.scheme, [&](auto tag) { return gemm(w.view_as<decltype(tag)>(), x, y, exec, opt); });
}
template <class Exec = serial_executor>
status dequantize(const any_qmatrix& w, matrix_view<float> out, Exec&& exec = Exec{}) {
    return visit_scheme(w.scheme, [&](auto tag) { return dequantize(w.view_as<decltype(tag)>(), out, exec); });
}
template <class Exec = serial_executor>
result<quality_report> measure(matrix_view<const float> w, const any_qmatrix& q, matrix_view<const float> x = {},
                               Exec&& exec = Exec{}) {
    quality_report rep;
    status st = visit_scheme(q.scheme, [&](auto tag) {
        auto r = measure(w, q.view_as<decltype(tag)>(), x, exec);
        if (!r) return r.error();
        rep = *r;
        return status{};
    });
    if (!st) return st;
    return rep;
}

}  // namespace lowbit
