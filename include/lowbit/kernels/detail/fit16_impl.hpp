// lowbit/kernels/detail/fit16_impl.hpp — where calibrate::mse's 16-lane
// passes (x86/fit_avx512.hpp) are compiled: only in lowbit::compiled's
// src/dispatch.cpp (through detail/runtime_impl.hpp), which returns them from
// fit16_compiled(). Header-only programs keep the 4-lane passes (the same
// results): compiling the copy into every TU that includes lowbit.hpp cost
// ~0.7 CPU-s each at -O2. Not where the build enables FMA, nor on the plain
// 4-lane model (x86/fit_avx512.hpp says why); there fit16_compiled() returns
// null.
#pragma once

#include "../../compiled_mode.hpp"
#include "../../quant/calibrate.hpp"
#include "../../quant/detail/fit_simd.hpp"
#include "entries.hpp"

#if defined(LOWBIT_HAVE_X86_KERNELS) && !defined(__FMA__) && defined(LOWBIT_VEC4_SSE) && defined(__x86_64__)
#define LOWBIT_FIT16_AVX512 1
#include "x86/fit_avx512.hpp"
#else
namespace lowbit {
namespace detail {
LOWBIT_COMPILED_INLINE const fit16_fns* fit16_compiled() noexcept { return nullptr; }
}  // namespace detail
}  // namespace lowbit
#endif
