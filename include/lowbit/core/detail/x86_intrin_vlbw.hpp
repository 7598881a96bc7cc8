// lowbit/core/detail/x86_intrin_vlbw.hpp — x86_intrin.hpp and the AVX512BW
// and VBMI intrinsics on 256-bit registers (<avx512vlbwintrin.h>,
// <avx512vbmivlintrin.h>), which only the ggml-block AVX-512 kernels call
// (formats/detail/x86/gguf_dot_avx512*.hpp). Kept out of x86_intrin.hpp, and
// so out of lowbit.hpp: <avx512vlbwintrin.h> is 4 700 lines, ~0.02 s of a
// header-only TU of lowbit.hpp with g++ 12 (docs/history/test-command.md,
// session 37). Where x86_intrin.hpp took GCC 12's narrow path, the two come
// in the same way, under <immintrin.h>'s guard; after that they are parsed
// later than in <immintrin.h>'s order, which they do not depend on (they
// use only what the sub-headers before them declare). Where a whole
// <immintrin.h> is in, they are too.
#pragma once

#include "x86_intrin.hpp"

#if defined(LOWBIT_X86_INTRIN_SUBSET) && !defined(_IMMINTRIN_H_INCLUDED)
#define _IMMINTRIN_H_INCLUDED
#include <avx512vlbwintrin.h>
#include <avx512vbmivlintrin.h>
#undef _IMMINTRIN_H_INCLUDED
#endif
