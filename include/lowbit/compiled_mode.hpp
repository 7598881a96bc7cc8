// lowbit/compiled_mode.hpp — header-only or compiled (the fmt model).
//
// By default lowbit is header-only: the run-time dispatch (the whole kernel
// table, the run-time-scheme twins of runtime.hpp) is defined inline in the
// headers and compiled in every TU that calls it. With LOWBIT_COMPILED defined
// (CMake: link lowbit::compiled, which defines it), the headers only declare
// those functions and the static library lowbit_compiled (src/) defines them
// once, so a TU that calls the twins no longer instantiates every scheme.
// Without CMake: define LOWBIT_COMPILED everywhere and compile src/*.cpp once.
//
// The typed API (gemv / gemm on a qmatrix_view<S> or tiled_view<S>,
// dense_kernels<S>, tiled_kernels<S>) runs S's kernel family. Header-only, the
// caller's TU instantiates it (kernels/detail/entries.hpp, with the x86 or Arm
// kernel bodies and <immintrin.h>: ~0.8 CPU-s to parse alone). With
// LOWBIT_COMPILED it runs lowbit::compiled's family of S (the same entries,
// names and order: detail::layout_family) and the public headers do not parse
// a kernel body. A TU that wants its own copies of the kernels anyway (a test
// that instruments them under a sanitizer, or checks them at its own
// optimisation level) defines LOWBIT_INLINE_KERNELS before including lowbit:
// its typed calls then run its own family, a table object distinct from the
// library's (kernels/detail/typed_family.hpp says how the names are kept
// apart). thread_pool's workings (its threads, mutexes and condition
// variables) are the library's too in that mode (parallel.hpp).
#pragma once

// LOWBIT_LIBRARY_KERNELS: this TU's typed calls run lowbit::compiled's kernel
// families (set here, never by the user).
#if defined(LOWBIT_COMPILED) && !defined(LOWBIT_INLINE_KERNELS)
#define LOWBIT_LIBRARY_KERNELS 1
#endif

// Around a TU's own kernel tables and the typed front doors that run them
// when the TU has LOWBIT_INLINE_KERNELS in compiled mode: other names than
// lowbit::compiled's (kernels/detail/typed_family.hpp says why).
#if defined(LOWBIT_COMPILED) && defined(LOWBIT_INLINE_KERNELS)
#define LOWBIT_OWN_KERNELS_BEGIN inline namespace own_kernels {
#define LOWBIT_OWN_KERNELS_END }
#else
#define LOWBIT_OWN_KERNELS_BEGIN
#define LOWBIT_OWN_KERNELS_END
#endif

// On the declarations and definitions of what lowbit::compiled provides.
#if defined(LOWBIT_COMPILED)
#define LOWBIT_COMPILED_INLINE
#else
#define LOWBIT_COMPILED_INLINE inline
#endif

// X(B) for every code width: lowbit::compiled instantiates the per-scheme code
// once per width, one source file each (src/kernels_w*.cpp), so that its
// build spreads over cores. A source file of one width defines
// LOWBIT_COMPILED_BITS to it; the one without (src/dispatch.cpp) holds the
// non-template definitions and instantiates no width.
#define LOWBIT_FOR_EACH_WIDTH(X) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8)

// `extern template struct T<B>;` for every width B where lowbit::compiled
// holds T's instantiations (a TU of LOWBIT_COMPILED that is not one of its
// per-width sources); nothing elsewhere. T: a per-width struct of run-time
// dispatch (awq_width, gptq_width, hqq_width, repack_width, bits_twins).
#if defined(LOWBIT_COMPILED) && !defined(LOWBIT_COMPILED_BITS)
#define LOWBIT_EXTERN_WIDTHS(T)                                                                                        \
    extern template struct T<1>;                                                                                       \
    extern template struct T<2>;                                                                                       \
    extern template struct T<3>;                                                                                       \
    extern template struct T<4>;                                                                                       \
    extern template struct T<5>;                                                                                       \
    extern template struct T<6>;                                                                                       \
    extern template struct T<7>;                                                                                       \
    extern template struct T<8>;
#else
#define LOWBIT_EXTERN_WIDTHS(T)
#endif

// The code widths the run-time dispatch instantiates, one bit each (bit B-1
// for width B): all eight by default. In header-only mode a program that only
// meets some widths may define it to fewer before including lowbit, e.g.
// -DLOWBIT_WIDTHS=0x88 for 4 and 8 bits, and compiles an eighth of the
// run-time dispatch per width left out; the run-time twins and the kernel
// table then refuse (twins: errc::unsupported) or do not list (table) the
// others. The typed API (qmatrix<S>, gemv on a qmatrix_view<S>) is not
// affected. lowbit::compiled is built with all widths.
#ifndef LOWBIT_WIDTHS
#define LOWBIT_WIDTHS 0xFF
#endif

namespace lowbit {
namespace detail {
constexpr bool width_compiled(int bits) noexcept { return bits >= 1 && bits <= 8 && ((LOWBIT_WIDTHS >> (bits - 1)) & 1) != 0; }
}  // namespace detail
}  // namespace lowbit
