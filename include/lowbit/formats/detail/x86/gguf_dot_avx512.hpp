// lowbit/formats/detail/x86/gguf_dot_avx512.hpp — AVX-512 copies of the
// GGUF-block dot products of detail/gguf_dot.hpp. Private to
// formats/gguf_matmul.hpp, included only on x86 with GCC or Clang.
//
// gguf_dot_avx512_body.inl is stamped out twice:
//   avx512      AVX-512 F/BW/VL: u8 x s8 products with maddubs, widened with madd;
//   avx512vnni  AVX-512 VNNI: the same sums with vpdpbusd (u8 x s8, four
//               products per int32 lane) and vpdpwssd (int16 pairs x scales).
// The 32-value types and Q4_K..Q6_K work on 256-bit registers (the VL
// forms): a legacy block is 32 bytes, a K-quant sub-block 32 or 16. What they
// add over the AVX2 copy is fewer instructions per block (VNNI, mask
// registers for the high bits) and, for Q4_0/Q5_0/Q8_0, one horizontal
// reduction and one vector of float terms per eight blocks instead of one of
// each per block. Q2_K, Q3_K, TQ1_0 and the lattice i-quants work on 512-bit
// registers, 64 values each (issue 18; the body says how).
//
// Exactness is as in the AVX2 copy: every integer sum is exact (largest
// maddubs pair 2 * 63 * 127 < 2^15, vpdpbusd/vpdpwssd do not saturate), and
// the float terms are the model's: the products (d_w * d_x) * isum computed
// eight at a time are the same IEEE products, with no add to fuse them into,
// and they are summed one by one in block order. The K-quant terms call the
// shared *_term functions. The CPU is checked by kernels/arch.hpp first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../../../core/detail/x86_intrin_vlbw.hpp"
#include "../gguf_dot.hpp"
#include "../gguf_dot_iq.hpp"
#include "../gguf_iq_grid_bytes.hpp"
#include "gguf_dot_avx2.hpp"  // shared helpers
#include "gguf_dot_avx2_lattice.hpp"  // the IQ1 index pass and point loads

namespace lowbit {
namespace gguf {
namespace detail {

#define LOWBIT_GGUF_NS avx512
#define LOWBIT_GGUF_TGT __attribute__((target("avx2,f16c,avx512f,avx512bw,avx512vl")))
#define LOWBIT_GGUF_VNNI 0
#include "gguf_dot_avx512_body.inl"
#undef LOWBIT_GGUF_NS
#undef LOWBIT_GGUF_TGT
#undef LOWBIT_GGUF_VNNI

#define LOWBIT_GGUF_NS avx512vnni
#define LOWBIT_GGUF_TGT __attribute__((target("avx2,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))
#define LOWBIT_GGUF_VNNI 1
#include "gguf_dot_avx512_body.inl"
#undef LOWBIT_GGUF_NS
#undef LOWBIT_GGUF_TGT
#undef LOWBIT_GGUF_VNNI

}  // namespace detail
}  // namespace gguf
}  // namespace lowbit
