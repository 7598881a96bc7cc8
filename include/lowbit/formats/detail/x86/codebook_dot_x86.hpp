// lowbit/formats/detail/x86/codebook_dot_x86.hpp — x86 copies of the codebook
// int8 dot products (detail/codebook_dot.hpp is the model they equal). The
// grid is a pshufb table, so a block costs what an IQ4_NL block does (3 bits:
// a variable shift and a bit spread more). codebook_dot_body.inl is stamped
// out twice:
//   avx2        maddubs + madd (also run for avxvnni and avx512: 256-bit
//               VNNI and AVX-512 without VNNI gain nothing over it here)
//   avx512vnni  vpdpbusd on 256-bit registers (also run for amx)
// Private to the codebook kernel entries; x86 with GCC or Clang only. No FMA
// in the targets: nothing may be contracted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../../../core/detail/x86_intrin.hpp"
#include "../codebook_dot.hpp"

namespace lowbit {
namespace codebook {
namespace detail {

#define LOWBIT_CB_NS avx2
#define LOWBIT_CB_TGT __attribute__((target("avx2,f16c")))
#define LOWBIT_CB_VNNI 0
#include "codebook_dot_body.inl"
#undef LOWBIT_CB_NS
#undef LOWBIT_CB_TGT
#undef LOWBIT_CB_VNNI

#define LOWBIT_CB_NS avx512vnni
#define LOWBIT_CB_TGT __attribute__((target("avx2,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))
#define LOWBIT_CB_VNNI 1
#include "codebook_dot_body.inl"
#undef LOWBIT_CB_NS
#undef LOWBIT_CB_TGT
#undef LOWBIT_CB_VNNI

}  // namespace detail
}  // namespace codebook
}  // namespace lowbit
