// lowbit/detail/runtime_impl.hpp — the definitions behind runtime.hpp's
// quantize, dequantize and measure twins: a switch on the width, then one
// visit_scheme per width (bits_twins<B>, which lowbit::compiled instantiates
// once per width in src/kernels_w*.cpp). Included by runtime.hpp in
// header-only mode, by src/ only with LOWBIT_COMPILED (compiled_mode.hpp).
// Included after runtime.hpp (its declarations), never alone.
#pragma once

#include <utility>


namespace lowbit {
namespace detail {

// The twins of the B-bit schemes.
template <int B>
struct bits_twins {
    static status quantize(const runtime_scheme& s, matrix_view<const float> w, const calibration& calib, executor_ref exec,
                           any_qmatrix& out);
    static status dequantize(const any_qmatrix& w, matrix_view<float> out, executor_ref exec);
    static status measure(matrix_view<const float> w, const any_qmatrix& q, matrix_view<const float> x, executor_ref exec,
                          quality_report& rep);
};

template <int B>
status bits_twins<B>::quantize(const runtime_scheme& s, matrix_view<const float> w, const calibration& calib, executor_ref exec,
                               any_qmatrix& out) {
    auto f = [&](auto tag) {
        using S = decltype(tag);
        quantize_options o;
        o.calib = calib;
        o.group = s.group;
        auto q = lowbit::quantize<S>(w, o, exec);
        if (!q) return q.error();
        out.scheme = s;
        out.storage = std::move(*q).release();
        return status{};
    };
    return visit_symmetry<B>(s, f);
}

template <int B>
status bits_twins<B>::dequantize(const any_qmatrix& w, matrix_view<float> out, executor_ref exec) {
    auto f = [&](auto tag) { return lowbit::dequantize(w.view_as<decltype(tag)>(), out, exec); };
    return visit_symmetry<B>(w.scheme, f);
}

template <int B>
status bits_twins<B>::measure(matrix_view<const float> w, const any_qmatrix& q, matrix_view<const float> x, executor_ref exec,
                              quality_report& rep) {
    auto f = [&](auto tag) {
        auto r = lowbit::measure(w, q.view_as<decltype(tag)>(), x, exec);
        if (!r) return r.error();
        rep = *r;
        return status{};
    };
    return visit_symmetry<B>(q.scheme, f);
}

// Defined in the width's own source file (src/kernels_w*.cpp), not here.
LOWBIT_EXTERN_WIDTHS(bits_twins)

#if !defined(LOWBIT_COMPILED_BITS)
// f(bits_twins<B>{}) for s's width B (visit_width: validated, LOWBIT_WIDTHS).
template <class F>
status with_bits_twins(const runtime_scheme& s, F&& f) {
    return visit_width(s, [&](auto b) { return f(bits_twins<decltype(b)::value>{}); });
}

template <class>
status quantize_any(const runtime_scheme& s, matrix_view<const float> w, const calibration& calib, executor_ref exec,
                    any_qmatrix& out) {
    return with_bits_twins(s, [&](auto t) { return t.quantize(s, w, calib, exec, out); });
}
template <class>
status dequantize_any(const any_qmatrix& w, matrix_view<float> out, executor_ref exec) {
    return with_bits_twins(w.scheme, [&](auto t) { return t.dequantize(w, out, exec); });
}
template <class>
status measure_any(matrix_view<const float> w, const any_qmatrix& q, matrix_view<const float> x, executor_ref exec,
                   quality_report& rep) {
    return with_bits_twins(q.scheme, [&](auto t) { return t.measure(w, q, x, exec, rep); });
}

#if defined(LOWBIT_COMPILED)  // src/dispatch.cpp
template status quantize_any<>(const runtime_scheme&, matrix_view<const float>, const calibration&, executor_ref, any_qmatrix&);
template status dequantize_any<>(const any_qmatrix&, matrix_view<float>, executor_ref);
template status measure_any<>(matrix_view<const float>, const any_qmatrix&, matrix_view<const float>, executor_ref, quality_report&);
#endif
#endif  // !LOWBIT_COMPILED_BITS

}  // namespace detail
}  // namespace lowbit

// calibrate::mse's 16-lane passes: compiled into lowbit::compiled (src/dispatch.cpp),
// not per width and not in header-only mode, where this file is part of every TU
// that includes lowbit.hpp and the copy cost ~0.7 CPU-s of each (measured at -O2).
#if defined(LOWBIT_COMPILED) && !defined(LOWBIT_COMPILED_BITS)
#include "../kernels/detail/fit16_impl.hpp"
#endif
