// lowbit/formats/detail/arm/gguf_dot_neon.hpp — AArch64 copies of the
// GGUF-block dot products of detail/gguf_dot.hpp. Private to
// formats/gguf_matmul.hpp, included only on AArch64 with GCC or Clang.
//
// gguf_dot_neon_body.inl is stamped out twice:
//   neon     plain Armv8-A NEON: s8 x s8 products with SMULL, pairwise-added
//            into int32 lanes (SADALP);
//   neondot  the Armv8.2 dot product SDOT (four s8 x s8 products per int32 lane).
// The dotprod copy is compiled exactly as kernels/detail/arm/kernels.hpp
// compiles its own (that file explains the per-compiler attribute and when a
// build has no dotprod copy: arch::neondot then runs the neon copy); its
// LOWBIT_ARM_DOT_* macros are reused here rather than decided twice.
//
// Codes are turned into signed bytes (q - 8, q - 16, q - 32, or Q8_0's own),
// so both copies multiply s8 by s8; every sum is exact in int32 (an SMULL
// product pair is at most 2 * 128 * 127 < 2^15 before SADALP widens it). The
// float part calls the shared *_term functions in block order, so both
// copies equal the scalar model bit for bit.
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "../../../kernels/detail/arm/kernels.hpp"
#include "../gguf_dot.hpp"
#include "../gguf_dot_iq.hpp"
#include "../gguf_iq_grid_bytes.hpp"

namespace lowbit {
namespace gguf {
namespace detail {

#define LOWBIT_GGUF_NS neon
#define LOWBIT_GGUF_TGT
#define LOWBIT_GGUF_SDOT 0
#include "gguf_dot_neon_body.inl"
#undef LOWBIT_GGUF_NS
#undef LOWBIT_GGUF_TGT
#undef LOWBIT_GGUF_SDOT

#if LOWBIT_ARM_DOT_COPY
#define LOWBIT_GGUF_NS neondot
#define LOWBIT_GGUF_TGT LOWBIT_ARM_DOT_ATTR
#define LOWBIT_GGUF_SDOT 1
#include "gguf_dot_neon_body.inl"
#undef LOWBIT_GGUF_NS
#undef LOWBIT_GGUF_TGT
#undef LOWBIT_GGUF_SDOT
#else
namespace neondot = neon;  // no dotprod copy in this build
#endif

}  // namespace detail
}  // namespace gguf
}  // namespace lowbit
