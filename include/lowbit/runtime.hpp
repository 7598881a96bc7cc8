// lowbit/runtime.hpp — the run-time twins of the templated API, for tools and
// file formats: the scheme is a value (runtime_scheme), the matrix an
// any_qmatrix (pack/any_qmatrix.hpp). gemv and gemm go through the kernel
// table (an any_qmatrix is a dense weights_view; kernels/scheme_family.hpp);
// quantize, dequantize and measure switch onto the template (visit_scheme),
// never a second implementation. All of the per-scheme code is defined in
// detail/runtime_impl.hpp and kernels/detail/scheme_family_impl.hpp: inline by
// default, once in lowbit::compiled with LOWBIT_COMPILED (compiled_mode.hpp).
#pragma once


#include "compiled_mode.hpp"
#include "executor_ref.hpp"
#include "kernels.hpp"
#include "kernels/measure.hpp"
#include "kernels/run.hpp"
#include "kernels/scheme_family.hpp"
#include "pack/any_qmatrix.hpp"
#include "weights.hpp"

namespace lowbit {

// The dense weights_view of q, validated (make_weights); the group is the
// storage's, as q.view_as<S>() reads it.
inline result<weights_view> to_weights(const any_qmatrix& q) noexcept {
    LOWBIT_TRY(q.scheme.validate());
    const qstorage& st = q.storage;
    weights_desc d;
    d.lay = layout::dense;
    d.scheme = q.scheme;
    if (d.scheme.gran == granularity::per_group) d.scheme.group = st.layout.group;
    d.rows = st.layout.rows;
    d.cols = st.layout.cols;
    d.group = st.layout.group;
    d.row_bytes = st.layout.row_bytes;
    d.codes = st.codes.data();
    d.scales = q.scheme.scale == scale_type::f32 ? static_cast<const void*>(st.scales_f32.data()) : st.scales_16.data();
    d.zeros = q.scheme.symmetric ? nullptr : st.zeros.data();
    d.perm = st.perm.empty() ? nullptr : st.perm.data();
    return make_weights(d);
}

namespace detail {
// One function per twin, the scheme's width picked inside (runtime_impl.hpp).
// Templates (only <void> exists) so that a header-only TU instantiates the
// schemes only when it calls a twin, not whenever it includes this header.
template <class = void>
status quantize_any(const runtime_scheme& s, matrix_view<const float> w, const calibration& calib, executor_ref exec,
                    any_qmatrix& out);
template <class = void>
status dequantize_any(const any_qmatrix& w, matrix_view<float> out, executor_ref exec);
template <class = void>
status measure_any(matrix_view<const float> w, const any_qmatrix& q, matrix_view<const float> x, executor_ref exec,
                   quality_report& rep);
}  // namespace detail

template <class Exec = serial_executor>
result<any_qmatrix> quantize(const runtime_scheme& s, matrix_view<const float> w, const calibration& calib = {},
                             Exec&& exec = Exec{}) {
    any_qmatrix out;
    LOWBIT_TRY(detail::quantize_any(s, w, calib, executor_ref(exec), out));
    return out;
}

template <class Exec = serial_executor>
status gemv(const any_qmatrix& w, span<const float> x, span<float> y, Exec&& exec = Exec{}, const matmul_options& opt = {}) {
    auto wv = to_weights(w);
    if (!wv) return wv.error();
    detail::thread_workspace_guard ws;  // dense only: layout_family, not family_of (no tiled kernels header-only)
    return detail::family_gemv(detail::layout_family<layout::dense>(wv->scheme()), *wv, x, y, exec, opt, *ws.ws);
}
template <class Exec = serial_executor>
status gemm(const any_qmatrix& w, matrix_view<const float> x, matrix_view<float> y, Exec&& exec = Exec{},
            const matmul_options& opt = {}) {
    auto wv = to_weights(w);
    if (!wv) return wv.error();
    detail::thread_workspace_guard ws;
    return detail::family_gemm(detail::layout_family<layout::dense>(wv->scheme()), *wv, x, y, exec, opt, *ws.ws);
}
template <class Exec = serial_executor>
status dequantize(const any_qmatrix& w, matrix_view<float> out, Exec&& exec = Exec{}) {
    return detail::dequantize_any(w, out, executor_ref(exec));
}
template <class Exec = serial_executor>
result<quality_report> measure(matrix_view<const float> w, const any_qmatrix& q, matrix_view<const float> x = {},
                               Exec&& exec = Exec{}) {
    quality_report rep;
    LOWBIT_TRY(detail::measure_any(w, q, x, executor_ref(exec), rep));
    return rep;
}

}  // namespace lowbit

#if !defined(LOWBIT_COMPILED)
#include "detail/runtime_impl.hpp"
#endif
