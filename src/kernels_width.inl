// lowbit::compiled: everything instantiated per scheme for the schemes of one
// code width, LOWBIT_COMPILED_BITS (set by kernels_w<B>.cpp): the dense and
// tiled kernel families and the quantize / dequantize / measure twins.
#include <lowbit/runtime.hpp>

#include <lowbit/detail/runtime_impl.hpp>
#include <lowbit/kernels/detail/scheme_family_impl.hpp>

namespace lowbit {
namespace detail {
template kernel_family bits_family<LOWBIT_COMPILED_BITS, layout::dense>(const runtime_scheme&) noexcept;
template kernel_family bits_family<LOWBIT_COMPILED_BITS, layout::tiled>(const runtime_scheme&) noexcept;
template struct bits_twins<LOWBIT_COMPILED_BITS>;
}  // namespace detail
}  // namespace lowbit
