// lowbit::compiled: everything instantiated per scheme for the schemes of one
// code width, LOWBIT_COMPILED_BITS (set by kernels_w<B>.cpp): the dense and
// tiled kernel families, the quantize / dequantize / measure twins, the
// GPTQ / HQQ / AWQ twins (algo/) and the dense <-> tiled repack.
#include <lowbit/algo/awq.hpp>
#include <lowbit/algo/gptq.hpp>
#include <lowbit/algo/hqq.hpp>
#include <lowbit/runtime.hpp>
#include <lowbit/weights/repack.hpp>

#include <lowbit/detail/runtime_impl.hpp>
#include <lowbit/kernels/detail/scheme_family_impl.hpp>

namespace lowbit {
namespace detail {
template kernel_family bits_family<LOWBIT_COMPILED_BITS, layout::dense>(const runtime_scheme&) noexcept;
template kernel_family bits_family<LOWBIT_COMPILED_BITS, layout::tiled>(const runtime_scheme&) noexcept;
template struct bits_twins<LOWBIT_COMPILED_BITS>;
template struct gptq_width<LOWBIT_COMPILED_BITS>;
template struct hqq_width<LOWBIT_COMPILED_BITS>;
template struct awq_width<LOWBIT_COMPILED_BITS>;
template struct repack_width<LOWBIT_COMPILED_BITS>;
}  // namespace detail
}  // namespace lowbit
