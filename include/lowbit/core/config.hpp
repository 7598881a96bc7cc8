// lowbit/core/config.hpp — version, assertion and configuration macros.
//
// Users may define before including any lowbit header:
//   LOWBIT_ASSERT(cond, msg)  what a violated precondition does (default: print and abort).
//                             Data errors never go through it: they are returned as lowbit::status.
//   LOWBIT_NO_ASSERT          compile the default assertions out.
#pragma once

#include <cstdio>
#include <cstdlib>

#define LOWBIT_VERSION_MAJOR 0
#define LOWBIT_VERSION_MINOR 1
#define LOWBIT_VERSION_PATCH 0
#define LOWBIT_VERSION_STRING "0.1.0"

#if !defined(LOWBIT_ASSERT)
#if defined(LOWBIT_NO_ASSERT)
#define LOWBIT_ASSERT(cond, msg) ((void)0)
#else
#define LOWBIT_ASSERT(cond, msg) \
    ((cond) ? (void)0 : ::lowbit::detail::assert_fail(#cond, msg, __FILE__, __LINE__))
#endif
#endif

#if defined(__GNUC__) || defined(__clang__)
#define LOWBIT_LIKELY(x) __builtin_expect(!!(x), 1)
#define LOWBIT_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define LOWBIT_RESTRICT __restrict__
#define LOWBIT_ALWAYS_INLINE inline __attribute__((always_inline))
// Before a kernel's small fixed-count loop (over the register block's rows,
// units, halves): unroll it completely. GCC does that only from -O3
// (-fpeel-loops); at -O2 the accumulators of an unrolled-by-hand register block
// stayed in memory, and the int8 GEMM ran at a third of its -O3 speed
// (docs/kernels.md, "Unrolled at any -O").
#if !defined(LOWBIT_UNROLL)
#define LOWBIT_UNROLL _Pragma("GCC unroll 16")
#endif
#else
#define LOWBIT_LIKELY(x) (x)
#define LOWBIT_UNLIKELY(x) (x)
#define LOWBIT_RESTRICT
#define LOWBIT_ALWAYS_INLINE inline
#if !defined(LOWBIT_UNROLL)
#define LOWBIT_UNROLL
#endif
#endif

namespace lowbit {
namespace detail {
[[noreturn]] inline void assert_fail(const char* cond, const char* msg, const char* file, int line) {
    std::fprintf(stderr, "lowbit: assertion failed: %s (%s) at %s:%d\n", cond, msg, file, line);
    std::abort();
}
}  // namespace detail
}  // namespace lowbit
