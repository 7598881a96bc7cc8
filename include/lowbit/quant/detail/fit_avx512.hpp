// lowbit/quant/detail/fit_avx512.hpp — the 16-lane (AVX-512F) vector type of
// calibrate::mse's passes, for the copy that the CPU picks at run time
// (quant/detail/fit_simd.hpp says when). Private: only fit_simd.hpp includes
// it, on x86-64 with GCC or Clang.
//
// Each operation is lane for lane the SSE2 one of core/detail/vec4.hpp (the
// same IEEE operation on 16 lanes), so the terms of a value are the 4-lane
// passes' bit for bit. Multiplies, adds, subtracts and divides go through the
// explicit-rounding intrinsics (_MM_FROUND_CUR_DIRECTION: the plain
// instruction): GCC implements _mm512_mul_ps and _mm512_add_ps as generic
// vector arithmetic and, with AVX-512F (which includes FMA) enabled by the
// target attribute, contracts a multiply and an add into one fused
// multiply-add, whose single rounding the SSE2 build does not have. Builtins
// with a rounding operand are never contracted. (The maskz forms, with an
// all-ones mask, throughout: GCC 12 warns -Wmaybe-uninitialized inside the
// unmasked ones, whose source operand is _mm512_undefined_*.)
#pragma once

#include <cstdint>
#include <immintrin.h>

#include "../../core/detail/vec4.hpp"

// Every function here (and the passes' lambdas, _ATTR): always inlined into
// the AVX-512 passes, which carry the same target.
#define LOWBIT_V16_ATTR __attribute__((always_inline, target("avx2,avx512f")))
#define LOWBIT_V16 inline LOWBIT_V16_ATTR

namespace lowbit {
namespace detail {
namespace v4 {

struct i32x16;
struct f32x16 {
    using int_type = i32x16;
    __m512 v;
    f32x16() = default;
    LOWBIT_V16 f32x16(__m512 n) noexcept : v(n) {}
    LOWBIT_V16 explicit f32x16(float x) noexcept : v(_mm512_set1_ps(x)) {}
    LOWBIT_V16 static f32x16 load(const float* p) noexcept { return {_mm512_loadu_ps(p)}; }
};
struct i32x16 {
    __m512i v;
    i32x16() = default;
    LOWBIT_V16 i32x16(__m512i n) noexcept : v(n) {}
    LOWBIT_V16 explicit i32x16(std::int32_t x) noexcept : v(_mm512_set1_epi32(x)) {}
};
struct mask16 {
    __mmask16 m;
};

#define LOWBIT_V16_R _MM_FROUND_CUR_DIRECTION
LOWBIT_V16 f32x16 operator+(f32x16 a, f32x16 b) noexcept { return {_mm512_maskz_add_round_ps(0xffff, a.v, b.v, LOWBIT_V16_R)}; }
LOWBIT_V16 f32x16 operator-(f32x16 a, f32x16 b) noexcept { return {_mm512_maskz_sub_round_ps(0xffff, a.v, b.v, LOWBIT_V16_R)}; }
LOWBIT_V16 f32x16 operator*(f32x16 a, f32x16 b) noexcept { return {_mm512_maskz_mul_round_ps(0xffff, a.v, b.v, LOWBIT_V16_R)}; }
LOWBIT_V16 f32x16 operator/(f32x16 a, f32x16 b) noexcept { return {_mm512_maskz_div_round_ps(0xffff, a.v, b.v, LOWBIT_V16_R)}; }
#undef LOWBIT_V16_R
LOWBIT_V16 f32x16& operator+=(f32x16& a, f32x16 b) noexcept { return a = a + b; }
// minps/maxps: the second operand where either is NaN, as SSE2's (callers pass finite values).
LOWBIT_V16 f32x16 min(f32x16 a, f32x16 b) noexcept { return {_mm512_maskz_min_ps(0xffff, a.v, b.v)}; }
LOWBIT_V16 f32x16 max(f32x16 a, f32x16 b) noexcept { return {_mm512_maskz_max_ps(0xffff, a.v, b.v)}; }
LOWBIT_V16 f32x16 abs(f32x16 a) noexcept {  // the sign bit cleared (AVX-512F has no float and-not)
    return {_mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a.v), _mm512_set1_epi32(0x7fffffff)))};
}
LOWBIT_V16 f32x16 round_even(f32x16 a) noexcept {
    return {_mm512_maskz_roundscale_ps(0xffff, a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
}

LOWBIT_V16 mask16 operator>(f32x16 a, f32x16 b) noexcept { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_GT_OQ)}; }
LOWBIT_V16 mask16 operator>(i32x16 a, i32x16 b) noexcept { return {_mm512_cmpgt_epi32_mask(a.v, b.v)}; }
LOWBIT_V16 bool any(mask16 m) noexcept { return m.m != 0; }
LOWBIT_V16 f32x16 select(mask16 m, f32x16 a, f32x16 b) noexcept { return {_mm512_mask_blend_ps(m.m, b.v, a.v)}; }
LOWBIT_V16 i32x16 select(mask16 m, i32x16 a, i32x16 b) noexcept { return {_mm512_mask_blend_epi32(m.m, b.v, a.v)}; }

LOWBIT_V16 i32x16 operator+(i32x16 a, i32x16 b) noexcept { return {_mm512_add_epi32(a.v, b.v)}; }
LOWBIT_V16 i32x16 operator-(i32x16 a, i32x16 b) noexcept { return {_mm512_sub_epi32(a.v, b.v)}; }
LOWBIT_V16 i32x16 operator&(i32x16 a, i32x16 b) noexcept { return {_mm512_and_si512(a.v, b.v)}; }
LOWBIT_V16 i32x16 operator|(i32x16 a, i32x16 b) noexcept { return {_mm512_or_si512(a.v, b.v)}; }
template <int N>
LOWBIT_V16 i32x16 shift_left(i32x16 a) noexcept {
    return {_mm512_maskz_slli_epi32(0xffff, a.v, N)};
}
template <int N>
LOWBIT_V16 i32x16 shift_right(i32x16 a) noexcept {  // arithmetic
    return {_mm512_maskz_srai_epi32(0xffff, a.v, N)};
}
LOWBIT_V16 i32x16 bits_of(f32x16 a) noexcept { return {_mm512_castps_si512(a.v)}; }
LOWBIT_V16 f32x16 float_from_bits(i32x16 a) noexcept { return {_mm512_castsi512_ps(a.v)}; }
LOWBIT_V16 f32x16 to_float(i32x16 a) noexcept { return {_mm512_maskz_cvtepi32_ps(0xffff, a.v)}; }
LOWBIT_V16 i32x16 to_int_trunc(f32x16 a) noexcept { return {_mm512_maskz_cvttps_epi32(0xffff, a.v)}; }

// Lanes 0-7 and 8-15, and lanes 4q..4q+3.
LOWBIT_V16 __m256 half(f32x16 a, int h) noexcept {
    const __m512d d = _mm512_castps_pd(a.v);  // (GCC 12's _mm512_castps512_ps256 warns too)
    return _mm256_castpd_ps(h == 0 ? _mm512_maskz_extractf64x4_pd(0xf, d, 0) : _mm512_maskz_extractf64x4_pd(0xf, d, 1));
}
template <int Q>
LOWBIT_V16 __m128 quarter(f32x16 a) noexcept {
    return _mm512_maskz_extractf32x4_ps(0xf, a.v, Q);
}

}  // namespace v4
}  // namespace detail
}  // namespace lowbit
