// lowbit/kernels/detail/xsimd_shim.hpp — every difference between the xsimd
// versions lowbit supports (Debian's 8.1 up to 14.x) lives here.
//   - horizontal sum: 8.x has hadd(), later versions reduce_add() (hadd removed in 11).
//   - the compile-time best arch: default_arch in every version.
#pragma once

#include <xsimd/xsimd.hpp>

namespace lowbit {
namespace kdetail {
namespace simd {

using default_arch = xsimd::default_arch;

template <class T, class A>
inline T reduce_add(const xsimd::batch<T, A>& b) noexcept {
#if XSIMD_VERSION_MAJOR >= 10
    return xsimd::reduce_add(b);
#else
    return xsimd::hadd(b);
#endif
}

}  // namespace simd
}  // namespace kdetail
}  // namespace lowbit
