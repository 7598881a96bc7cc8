// lowbit/formats/detail/x86/tiled_codebook_vbmi.hpp — the tiled codebook
// GEMV / GEMM body for AVX-512 VNNI CPUs that also have AVX512_VBMI (Ice
// Lake, Sapphire Rapids, Zen 4 and later): the x86 tiled int8 body
// (kernels/detail/x86/tiled_body.inl) stamped once more, in namespace
// kdetail::avx512vbmi, with LOWBIT_X86_VBMI set. Only its IB > 0 (codebook)
// lookup differs from the avx512vnni stamp: `vpermb` on 64-byte tables
// instead of a mask and a `pshufb` per quad vector (tiled_body.inl, "The
// tiled codebook lookup", says how; docs/kernels.md, "The tiled codebook
// layout"). Everything after the lookup, and so every result bit, is the
// avx512vnni body's.
//
// Private to formats/detail/tiled_codebook_entries.hpp, included only where
// the x86 kernels are (GCC or Clang on x86); stamped here rather than in
// kernels/detail/x86/kernels.hpp so that only the codebook entries' users
// parse it. The CPU is checked by the kernel table (needs_avx512vbmi) before
// any of this runs.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../../../core/detail/x86_intrin.hpp"
#include "../../../kernels/detail/x86/kernels.hpp"

namespace lowbit {
namespace kdetail {

#define LOWBIT_X86_NS avx512vbmi
#define LOWBIT_X86_ZMM 1
#define LOWBIT_X86_VBMI 1
#define LOWBIT_TGT __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi")))
#define LOWBIT_X86_DOT 2
#include "../../../kernels/detail/x86/tiled_body.inl"
#undef LOWBIT_X86_NS
#undef LOWBIT_TGT
#undef LOWBIT_X86_DOT
#undef LOWBIT_X86_VBMI
#undef LOWBIT_X86_ZMM

}  // namespace kdetail
}  // namespace lowbit
