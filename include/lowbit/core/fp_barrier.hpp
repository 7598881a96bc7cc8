// lowbit/core/fp_barrier.hpp — the library's one floating-point contraction
// barrier.
//
// Byte-exact codecs (formats/, ggml's reference quantizers) and activation
// quantizers that must give the same codes in scalar and SIMD code on every
// arch (kernels/) need a product rounded to float on its own before the
// addition that consumes it. Compilers fuse the two into an FMA whenever
// contraction is allowed (GCC does by default on AArch64, and on x86 under
// -march=native -ffp-contract=fast; clang ignores pragmas under
// -ffp-contract=fast). Passing the product through opaque() stops that: the
// empty asm statement hides the value from the optimiser, so it must be
// materialised as a float in a register, and no instruction is emitted.
#pragma once

#include "config.hpp"

namespace lowbit {
namespace detail {

// Returns v unchanged, but opaque to the optimiser: v cannot be fused with
// the operation that consumes it.
LOWBIT_ALWAYS_INLINE float opaque(float v) noexcept {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__SSE_MATH__))
    __asm__("" : "+x"(v));
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
    __asm__("" : "+w"(v));
#elif defined(__GNUC__) || defined(__clang__)
    __asm__("" : "+m"(v));
#else
    volatile float spill = v;
    v = spill;
#endif
    return v;
}

}  // namespace detail
}  // namespace lowbit
