// lowbit/formats/detail/arm/codebook_dot_neon.hpp — AArch64 copies of the
// codebook int8 dot products (detail/codebook_dot.hpp is the model they
// equal): the grid is a TBL table, indices unpacked in registers.
// codebook_dot_neon_body.inl is stamped out twice, as gguf_dot_neon.hpp does:
//   neon     SMULL + SADALP
//   neondot  SDOT (compiled as kernels/detail/arm/kernels.hpp decides; a build
//            without the dotprod copy runs the neon copy for arch::neondot)
// Private to the codebook kernel entries; AArch64 with GCC or Clang only.
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "../../../kernels/detail/arm/kernels.hpp"
#include "../codebook_dot.hpp"

namespace lowbit {
namespace codebook {
namespace detail {

#define LOWBIT_CB_NS neon
#define LOWBIT_CB_TGT
#define LOWBIT_CB_SDOT 0
#include "codebook_dot_neon_body.inl"
#undef LOWBIT_CB_NS
#undef LOWBIT_CB_TGT
#undef LOWBIT_CB_SDOT

#if LOWBIT_ARM_DOT_COPY
#define LOWBIT_CB_NS neondot
#define LOWBIT_CB_TGT LOWBIT_ARM_DOT_ATTR
#define LOWBIT_CB_SDOT 1
#include "codebook_dot_neon_body.inl"
#undef LOWBIT_CB_NS
#undef LOWBIT_CB_TGT
#undef LOWBIT_CB_SDOT
#else
namespace neondot = neon;  // no dotprod copy in this build
#endif

}  // namespace detail
}  // namespace codebook
}  // namespace lowbit
