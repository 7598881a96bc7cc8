// lowbit/kernels/tiled_matmul.hpp — gemv / gemm on the tiled layout
// (pack/tiled.hpp), the fastest form of the weights for the kernels.
//
//   auto t = lowbit::repack_tiled(q);             // once, at load time
//   lowbit::gemv(t->view(), x, y, pool, opt);     // y = W x
//   lowbit::gemm(t->view(), X, Y, pool, opt);     // Y = X W^T
//
// Same contract as kernels/matmul.hpp (paths, errors, output untouched on
// error, bit-identical results for every executor and thread count). The int8
// path's float steps differ from the plain layout's (one FMA per 32-block and
// row instead of 16 lane accumulators, detail/tiled_blocks.hpp), so results
// differ between layouts at float-rounding level; each is bit-exact against
// its scalar model on every arch. Like matmul.hpp's, these front doors are
// thin: a weights_view (one validator), then the scheme's tiled kernel table
// through kernels/run.hpp.
#pragma once

#include <cstddef>
#include <utility>

#include "../pack/tiled.hpp"
#include "../weights/convert.hpp"
#include "detail/typed_family.hpp"
#include "matmul.hpp"
#include "run.hpp"

namespace lowbit {
// Between LOWBIT_OWN_KERNELS_BEGIN and _END: see matmul.hpp.
namespace detail {
LOWBIT_OWN_KERNELS_BEGIN
template <class KS, class Exec>
status tiled_gemv(const weights_view& w, span<const float> x, span<float> y, Exec& exec, const matmul_options& opt, matmul_workspace& ws) {
    return family_gemv(typed_family<KS, layout::tiled>(), w, x, y, exec, opt, ws);
}
template <class KS, class Exec>
status tiled_gemm(const weights_view& w, matrix_view<const float> x, matrix_view<float> y, Exec& exec, const matmul_options& opt,
                  matmul_workspace& ws) {
    return family_gemm(typed_family<KS, layout::tiled>(), w, x, y, exec, opt, ws);
}
LOWBIT_OWN_KERNELS_END
}  // namespace detail

LOWBIT_OWN_KERNELS_BEGIN
// The kernel table's entries for tiled weights of scheme S (tests, benches).
template <class S>
span<const kernel_entry> tiled_kernels() noexcept {
    const auto f = detail::typed_family<typename detail::kernel_scheme<S>::type, layout::tiled>();
    return span<const kernel_entry>(f.begin, f.count);
}

// y = W x on a tiled matrix.
template <class S, class Exec>
status gemv(const tiled_view<S>& w, span<const float> x, span<float> y, Exec&& exec, const matmul_options& opt,
            matmul_workspace& ws) {
    auto wv = to_weights(w);
    if (!wv) return wv.error();
    return detail::tiled_gemv<typename detail::kernel_scheme<S>::type>(*wv, x, y, exec, opt, ws);
}
template <class S, class Exec = serial_executor>
status gemv(const tiled_view<S>& w, span<const float> x, span<float> y, Exec&& exec = Exec{}, const matmul_options& opt = {}) {
    detail::thread_workspace_guard ws;
    return gemv(w, x, y, std::forward<Exec>(exec), opt, *ws.ws);
}

// Y = X W^T on a tiled matrix: X is M x K, Y is M x N (row strides allowed).
template <class S, class Exec>
status gemm(const tiled_view<S>& w, matrix_view<const float> x, matrix_view<float> y, Exec&& exec, const matmul_options& opt,
            matmul_workspace& ws) {
    auto wv = to_weights(w);
    if (!wv) return wv.error();
    return detail::tiled_gemm<typename detail::kernel_scheme<S>::type>(*wv, x, y, exec, opt, ws);
}
template <class S, class Exec = serial_executor>
status gemm(const tiled_view<S>& w, matrix_view<const float> x, matrix_view<float> y, Exec&& exec = Exec{},
            const matmul_options& opt = {}) {
    detail::thread_workspace_guard ws;
    return gemm(w, x, y, std::forward<Exec>(exec), opt, *ws.ws);
}
LOWBIT_OWN_KERNELS_END

}  // namespace lowbit
