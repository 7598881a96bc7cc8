// lowbit/kernels/family_matmul.hpp — the one front door of the layouts'
// own gemv / gemm (codebook::gemv on codebook and tiled codebook weights,
// kquant::gemv on tiled K-quant weights): the layout checked, then the
// family it picks run through the common argument checks (kernels/run.hpp,
// family_gemv / family_gemm). kernels/weights_matmul.hpp reaches the same
// families from the whole table.
//
// A layout's door is a type with
//   static status check(const weights_view& w, const char* who) noexcept;  // w is of a layout it serves
//   static detail::kernel_family family(const weights_view& w) noexcept;   // the entries w runs on
//   static constexpr const char* gemv_name, gemm_name;                     // who, in error messages
#pragma once

#include <type_traits>
#include <utility>

#include "../core/status.hpp"
#include "../core/views.hpp"
#include "../parallel.hpp"
#include "../weights/weights_view.hpp"
#include "run.hpp"
#include "table.hpp"

namespace lowbit {
namespace detail {

template <class Door, class Exec>
status door_gemv(const weights_view& w, span<const float> x, span<float> y, Exec& exec, const matmul_options& opt, matmul_workspace& ws) {
    LOWBIT_TRY(Door::check(w, Door::gemv_name));
    return family_gemv(Door::family(w), w, x, y, exec, opt, ws);
}
template <class Door, class Exec>
status door_gemm(const weights_view& w, matrix_view<const float> x, matrix_view<float> y, Exec& exec, const matmul_options& opt,
                 matmul_workspace& ws) {
    LOWBIT_TRY(Door::check(w, Door::gemm_name));
    return family_gemm(Door::family(w), w, x, y, exec, opt, ws);
}

// A layout's gemv and gemm as objects, so that each layout's namespace holds
// them in one line (codebook::gemv, kquant::gemm): called as functions, with
// the caller's workspace or the calling thread's. In / Out: span (gemv) or
// matrix_view (gemm).
template <class Door, class In, class Out>
struct door_fn {
    template <class Exec>
    status operator()(const weights_view& w, In x, Out y, Exec&& exec, const matmul_options& opt, matmul_workspace& ws) const {
        if constexpr (std::is_same<In, span<const float>>::value) return door_gemv<Door>(w, x, y, exec, opt, ws);
        else return door_gemm<Door>(w, x, y, exec, opt, ws);
    }
    template <class Exec = serial_executor>
    status operator()(const weights_view& w, In x, Out y, Exec&& exec = Exec{}, const matmul_options& opt = {}) const {
        thread_workspace_guard ws;
        return (*this)(w, x, y, exec, opt, *ws.ws);
    }
};
template <class Door>
using door_gemv_fn = door_fn<Door, span<const float>, span<float>>;
template <class Door>
using door_gemm_fn = door_fn<Door, matrix_view<const float>, matrix_view<float>>;

}  // namespace detail
}  // namespace lowbit
