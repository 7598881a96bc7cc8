// lowbit/core/detail/x86_intrin.hpp — the x86 intrinsics the kernels use:
// every lowbit header that needs <immintrin.h> includes this instead.
//
// Why: parse time. With g++ 12, <immintrin.h> alone is 0.53-0.58 s (user s,
// AMD Zen 5), a third of a header-only TU of lowbit.hpp that calls nothing
// (issue 15 wants that under 1.0 s); session 34's 22 sub-headers were
// 0.32-0.36, the 18 below ~0.1 s less (docs/history/test-command.md,
// sessions 34 and 37). GCC lets no sub-header be included alone
// (each stops with an error unless <immintrin.h>'s guard macro is defined),
// so this defines that guard around them, in <immintrin.h>'s own order, and
// takes it away after: a later `#include <immintrin.h>` in the user's code
// still includes all the others (the ones here have their own guards), and
// tests/test_intrin_include.cpp checks that it does.
//
// Only GCC 12: the list of sub-headers, their order and the guard's name are
// that version's (other versions add, drop and reorder them), and GCC 12 is
// the one this is measured and tested with. Clang (whose <immintrin.h> parses
// in ~0.2 s) and other GCC versions include <immintrin.h> itself.
//
// The set is what the kernels call: a kernel that uses an intrinsic from a
// sub-header missing here does not compile with GCC 12, so the full build
// (tests, bench, examples, lowbit::compiled) proves it complete. AMX's tile
// instructions are inline asm (kernels/detail/x86/amx_tiles.hpp): no
// amx*intrin.h. <x86gprintrin.h> (BMI, POPCNT, LZCNT) is left out: nothing
// here uses its intrinsics (the kernels count bits with __builtin_*).
//
// <avx512vlintrin.h> (13 900 lines, the largest after <avx512fintrin.h>;
// ~0.07 s of the list) and <avx512bf16vlintrin.h> are left out too: no
// kernel calls their intrinsics, and what the others need of them is two
// types, declared below as they declare them: <avx512bwintrin.h> and
// <avx512vlbwintrin.h> use __mmask32, <avx512bf16intrin.h> (for
// _mm512_dpbf16_ps) __m256bh and __bfloat16. A typedef may be repeated with
// the same type, so a later <immintrin.h> (which then includes both
// left-out headers) compiles as before; tests/test_intrin_include.cpp uses
// an intrinsic of each after lowbit.hpp. <avx512vlbwintrin.h> (4 700 lines)
// and <avx512vbmivlintrin.h> are for the ggml-block kernels only:
// x86_intrin_vlbw.hpp adds them (LOWBIT_X86_INTRIN_SUBSET tells it that
// this took the narrow path).
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12 && !defined(_IMMINTRIN_H_INCLUDED)
#define _IMMINTRIN_H_INCLUDED
#define LOWBIT_X86_INTRIN_SUBSET 1
#include <mmintrin.h>
#include <xmmintrin.h>
#include <emmintrin.h>
#include <pmmintrin.h>
#include <tmmintrin.h>
#include <smmintrin.h>
#include <avxintrin.h>
#include <avxvnniintrin.h>
#include <avx2intrin.h>
#include <avx512fintrin.h>
typedef unsigned int __mmask32;  // <avx512vlintrin.h>'s
#include <avx512bwintrin.h>
#include <avx512vbmiintrin.h>
#include <avx512vnniintrin.h>
#include <avx512vnnivlintrin.h>
#include <avx512bitalgintrin.h>
#include <fmaintrin.h>
#include <f16cintrin.h>
typedef short __m256bh __attribute__((__vector_size__(32), __may_alias__));  // <avx512bf16vlintrin.h>'s
typedef unsigned short __bfloat16;                                          // <avx512bf16vlintrin.h>'s
#include <avx512bf16intrin.h>
#undef _IMMINTRIN_H_INCLUDED
#else
#include <immintrin.h>
#endif
