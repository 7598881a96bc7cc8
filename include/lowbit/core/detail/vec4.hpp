// lowbit/core/detail/vec4.hpp — a 4-lane float / int32 vector for the
// portable SIMD bodies: the dense f32 entry of arch::sse2
// (kernels/detail/generic.hpp), calibrate::mse's passes
// (quant/detail/fit_simd.hpp) and qat's fake quantizer
// (qat/detail/fake_quant_simd.hpp). Private: nothing public names it.
//
// Why not xsimd: the headers should need only the standard library, and its
// parse (~0.5 s alone) was more than half of quant.hpp's, for the ~25
// operations these bodies use (docs/redesign.md step 3). Why not plain loops:
// GCC turned the clamps into branches whenever the code range was a constant
// (fit_simd.hpp's header).
//
// Three implementations, one meaning:
//   - x86-64: SSE2 (<emmintrin.h>, the baseline; ~0.03 s to parse against
//     <immintrin.h>'s ~0.5 s). SSE4.1's round and FMA3's fused multiply-add
//     are used when the build enables them, as xsimd's default arch did.
//     With AVX2 there is an 8-lane f32x8 / i32x8 too (end of this file;
//     calibrate::mse's passes use it).
//   - AArch64: NEON (<arm_neon.h>).
//   - elsewhere, or with LOWBIT_VEC4_SCALAR defined: four floats in a struct
//     (test_quant_mse_plain runs calibrate::mse on it; define the macro in
//     every TU of a program or in none, as the bodies' types change with it).
//     kernels' arch::sse2
//     entry and qat's automatic path run the scalar code there (vec4_simd is
//     false), as they did where xsimd had no arch.
// The results are the ones lowbit got from xsimd 8.1-14 at the baseline
// arch, operation for operation (but division on AArch64 is IEEE here, where
// xsimd 8.1 refined a reciprocal estimate): min/max take the second operand when one is
// NaN on x86 and propagate it on NEON (callers pass finite values or
// compare-and-select instead), to_int truncates, shifts on int32 are
// arithmetic, round_even is nearbyint under the default rounding mode
// (ties to even; NaN and |x| >= 2^23 unchanged), and reduce_add sums the
// lanes in xsimd's order for the arch: (0 + 2) + (1 + 3) with SSE2,
// (0 + 1) + (2 + 3) with SSE3 and NEON.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../config.hpp"

#if defined(LOWBIT_VEC4_SCALAR)
#define LOWBIT_VEC4_PLAIN 1
#elif defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
#define LOWBIT_VEC4_SSE 1
#include <emmintrin.h>
#if defined(__SSE3__)
#include <pmmintrin.h>
#endif
#if defined(__SSE4_1__)
#include <smmintrin.h>
#endif
#if defined(__FMA__) || defined(__AVX2__)
#include "x86_intrin.hpp"  // FMA3, AVX2
#endif
#if defined(__AVX2__)
#define LOWBIT_VEC8_AVX2 1
#endif
#elif defined(__aarch64__) || defined(_M_ARM64)
#define LOWBIT_VEC4_NEON 1
#include <arm_neon.h>
#else
#define LOWBIT_VEC4_PLAIN 1
#endif

namespace lowbit {
namespace detail {
namespace v4 {

#if defined(LOWBIT_VEC4_PLAIN)
constexpr bool vec4_simd = false;
#else
constexpr bool vec4_simd = true;
#endif

constexpr std::size_t lanes = 4;

// ---- the three types: floats, int32s, and a lane mask (all ones / all zeros) ------------
// f32x4(x) and i32x4(x) broadcast x; {native} wraps a register.
#if defined(LOWBIT_VEC4_SSE)
using f32_native = __m128;
using i32_native = __m128i;
using mask_native = __m128;
#elif defined(LOWBIT_VEC4_NEON)
using f32_native = float32x4_t;
using i32_native = int32x4_t;
using mask_native = uint32x4_t;
#else
struct f32_native {
    float l[4];
};
struct i32_native {
    std::int32_t l[4];
};
struct mask_native {
    std::uint32_t l[4];
};
#endif

struct i32x4;
struct f32x4 {
    using int_type = i32x4;
    f32_native v;
    f32x4() = default;
    LOWBIT_ALWAYS_INLINE f32x4(f32_native n) noexcept : v(n) {}
    LOWBIT_ALWAYS_INLINE explicit f32x4(float x) noexcept {
#if defined(LOWBIT_VEC4_SSE)
        v = _mm_set1_ps(x);
#elif defined(LOWBIT_VEC4_NEON)
        v = vdupq_n_f32(x);
#else
        for (int i = 0; i < 4; ++i) v.l[i] = x;
#endif
    }
    LOWBIT_ALWAYS_INLINE static f32x4 load(const float* p) noexcept {
#if defined(LOWBIT_VEC4_SSE)
        return {_mm_loadu_ps(p)};
#elif defined(LOWBIT_VEC4_NEON)
        return {vld1q_f32(p)};
#else
        f32x4 r;
        for (int i = 0; i < 4; ++i) r.v.l[i] = p[i];
        return r;
#endif
    }
    LOWBIT_ALWAYS_INLINE void store(float* p) const noexcept {
#if defined(LOWBIT_VEC4_SSE)
        _mm_storeu_ps(p, v);
#elif defined(LOWBIT_VEC4_NEON)
        vst1q_f32(p, v);
#else
        for (int i = 0; i < 4; ++i) p[i] = v.l[i];
#endif
    }
};

struct i32x4 {
    i32_native v;
    i32x4() = default;
    LOWBIT_ALWAYS_INLINE i32x4(i32_native n) noexcept : v(n) {}
    LOWBIT_ALWAYS_INLINE explicit i32x4(std::int32_t x) noexcept {
#if defined(LOWBIT_VEC4_SSE)
        v = _mm_set1_epi32(x);
#elif defined(LOWBIT_VEC4_NEON)
        v = vdupq_n_s32(x);
#else
        for (int i = 0; i < 4; ++i) v.l[i] = x;
#endif
    }
};

struct mask4 {
    mask_native v;
};

// The plain implementation applies a lane operation four times.
#if defined(LOWBIT_VEC4_PLAIN)
#define LOWBIT_V4_LANES(T, EXPR)          \
    T r;                                  \
    for (int l = 0; l < 4; ++l) r.v.l[l] = EXPR; \
    return r
LOWBIT_ALWAYS_INLINE std::uint32_t v4_all(bool b) noexcept { return b ? 0xffffffffu : 0u; }
LOWBIT_ALWAYS_INLINE float v4_bits_f(std::uint32_t u) noexcept {
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}
LOWBIT_ALWAYS_INLINE std::uint32_t v4_bits_u(float f) noexcept {
    std::uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}
#endif

// ---- float arithmetic -------------------------------------------------------------------
#if defined(LOWBIT_VEC4_SSE)
LOWBIT_ALWAYS_INLINE f32x4 operator+(f32x4 a, f32x4 b) noexcept { return {_mm_add_ps(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE f32x4 operator-(f32x4 a, f32x4 b) noexcept { return {_mm_sub_ps(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE f32x4 operator*(f32x4 a, f32x4 b) noexcept { return {_mm_mul_ps(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE f32x4 operator/(f32x4 a, f32x4 b) noexcept { return {_mm_div_ps(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE f32x4 min(f32x4 a, f32x4 b) noexcept { return {_mm_min_ps(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE f32x4 max(f32x4 a, f32x4 b) noexcept { return {_mm_max_ps(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE f32x4 abs(f32x4 a) noexcept { return {_mm_andnot_ps(_mm_set1_ps(-0.0f), a.v)}; }
// a * b + c: fused where the build has FMA (as xsimd::fma), else two roundings.
LOWBIT_ALWAYS_INLINE f32x4 mul_add(f32x4 a, f32x4 b, f32x4 c) noexcept {
#if defined(__FMA__)
    return {_mm_fmadd_ps(a.v, b.v, c.v)};
#else
    return {_mm_add_ps(_mm_mul_ps(a.v, b.v), c.v)};
#endif
}
LOWBIT_ALWAYS_INLINE f32x4 round_even(f32x4 a) noexcept {
#if defined(__SSE4_1__)
    return {_mm_round_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
#else
    // |a| + 2^23 - 2^23 rounds |a| < 2^23 to an integer (ties to even); larger
    // magnitudes, infinities and NaN are already integers or stay as they are.
    const __m128 sign = _mm_and_ps(a.v, _mm_set1_ps(-0.0f));
    const __m128 mag = _mm_xor_ps(a.v, sign);
    const __m128 two23 = _mm_set1_ps(8388608.0f);
    const __m128 rounded = _mm_sub_ps(_mm_add_ps(mag, two23), two23);
    const __m128 small = _mm_cmplt_ps(mag, two23);
    const __m128 m = _mm_or_ps(_mm_and_ps(small, rounded), _mm_andnot_ps(small, mag));
    return {_mm_xor_ps(m, sign)};
#endif
}
LOWBIT_ALWAYS_INLINE float reduce_add(f32x4 a) noexcept {
#if defined(__SSE3__)
    const __m128 p = _mm_hadd_ps(a.v, a.v);
    return _mm_cvtss_f32(_mm_hadd_ps(p, p));
#else
    const __m128 p = _mm_add_ps(a.v, _mm_movehl_ps(a.v, a.v));
    return _mm_cvtss_f32(_mm_add_ss(p, _mm_shuffle_ps(p, p, 1)));
#endif
}
#elif defined(LOWBIT_VEC4_NEON)
LOWBIT_ALWAYS_INLINE f32x4 operator+(f32x4 a, f32x4 b) noexcept { return {vaddq_f32(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE f32x4 operator-(f32x4 a, f32x4 b) noexcept { return {vsubq_f32(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE f32x4 operator*(f32x4 a, f32x4 b) noexcept { return {vmulq_f32(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE f32x4 operator/(f32x4 a, f32x4 b) noexcept { return {vdivq_f32(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE f32x4 min(f32x4 a, f32x4 b) noexcept { return {vminq_f32(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE f32x4 max(f32x4 a, f32x4 b) noexcept { return {vmaxq_f32(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE f32x4 abs(f32x4 a) noexcept { return {vabsq_f32(a.v)}; }
LOWBIT_ALWAYS_INLINE f32x4 mul_add(f32x4 a, f32x4 b, f32x4 c) noexcept { return {vfmaq_f32(c.v, a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE f32x4 round_even(f32x4 a) noexcept { return {vrndnq_f32(a.v)}; }
LOWBIT_ALWAYS_INLINE float reduce_add(f32x4 a) noexcept {
    float32x2_t p = vpadd_f32(vget_low_f32(a.v), vget_high_f32(a.v));
    return vget_lane_f32(vpadd_f32(p, p), 0);
}
#else
LOWBIT_ALWAYS_INLINE f32x4 operator+(f32x4 a, f32x4 b) noexcept { LOWBIT_V4_LANES(f32x4, a.v.l[l] + b.v.l[l]); }
LOWBIT_ALWAYS_INLINE f32x4 operator-(f32x4 a, f32x4 b) noexcept { LOWBIT_V4_LANES(f32x4, a.v.l[l] - b.v.l[l]); }
LOWBIT_ALWAYS_INLINE f32x4 operator*(f32x4 a, f32x4 b) noexcept { LOWBIT_V4_LANES(f32x4, a.v.l[l] * b.v.l[l]); }
LOWBIT_ALWAYS_INLINE f32x4 operator/(f32x4 a, f32x4 b) noexcept { LOWBIT_V4_LANES(f32x4, a.v.l[l] / b.v.l[l]); }
// x86's operand order: b unless a < b (a > b for max), so a NaN in either gives b.
LOWBIT_ALWAYS_INLINE f32x4 min(f32x4 a, f32x4 b) noexcept { LOWBIT_V4_LANES(f32x4, a.v.l[l] < b.v.l[l] ? a.v.l[l] : b.v.l[l]); }
LOWBIT_ALWAYS_INLINE f32x4 max(f32x4 a, f32x4 b) noexcept { LOWBIT_V4_LANES(f32x4, a.v.l[l] > b.v.l[l] ? a.v.l[l] : b.v.l[l]); }
LOWBIT_ALWAYS_INLINE f32x4 abs(f32x4 a) noexcept { LOWBIT_V4_LANES(f32x4, v4_bits_f(v4_bits_u(a.v.l[l]) & 0x7fffffffu)); }
LOWBIT_ALWAYS_INLINE f32x4 mul_add(f32x4 a, f32x4 b, f32x4 c) noexcept {
    f32x4 r;
    for (int l = 0; l < 4; ++l) {
        const float p = a.v.l[l] * b.v.l[l];  // a statement of its own: no contraction into an FMA
        r.v.l[l] = p + c.v.l[l];
    }
    return r;
}
LOWBIT_ALWAYS_INLINE f32x4 round_even(f32x4 a) noexcept {
    f32x4 r;
    for (int l = 0; l < 4; ++l) {
        const std::uint32_t sign = v4_bits_u(a.v.l[l]) & 0x80000000u;
        const float mag = v4_bits_f(v4_bits_u(a.v.l[l]) ^ sign);
        float m = mag;
        if (mag < 8388608.0f) {
            volatile float t = mag + 8388608.0f;  // volatile: the add and the subtract must both round
            m = t - 8388608.0f;
        }
        r.v.l[l] = v4_bits_f(v4_bits_u(m) ^ sign);
    }
    return r;
}
LOWBIT_ALWAYS_INLINE float reduce_add(f32x4 a) noexcept { return (a.v.l[0] + a.v.l[2]) + (a.v.l[1] + a.v.l[3]); }
#endif
LOWBIT_ALWAYS_INLINE f32x4& operator+=(f32x4& a, f32x4 b) noexcept { return a = a + b; }

// ---- comparisons and masks ------------------------------------------------------------------
#if defined(LOWBIT_VEC4_SSE)
LOWBIT_ALWAYS_INLINE mask4 operator>(f32x4 a, f32x4 b) noexcept { return {_mm_cmpgt_ps(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE mask4 operator<(f32x4 a, f32x4 b) noexcept { return {_mm_cmplt_ps(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE mask4 operator>=(f32x4 a, f32x4 b) noexcept { return {_mm_cmpge_ps(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE mask4 operator>(i32x4 a, i32x4 b) noexcept { return {_mm_castsi128_ps(_mm_cmpgt_epi32(a.v, b.v))}; }
LOWBIT_ALWAYS_INLINE mask4 operator&(mask4 a, mask4 b) noexcept { return {_mm_and_ps(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE bool any(mask4 m) noexcept { return _mm_movemask_ps(m.v) != 0; }
LOWBIT_ALWAYS_INLINE f32x4 select(mask4 m, f32x4 a, f32x4 b) noexcept {
    return {_mm_or_ps(_mm_and_ps(m.v, a.v), _mm_andnot_ps(m.v, b.v))};
}
LOWBIT_ALWAYS_INLINE i32x4 select(mask4 m, i32x4 a, i32x4 b) noexcept {
    const __m128i mi = _mm_castps_si128(m.v);
    return {_mm_or_si128(_mm_and_si128(mi, a.v), _mm_andnot_si128(mi, b.v))};
}
#elif defined(LOWBIT_VEC4_NEON)
LOWBIT_ALWAYS_INLINE mask4 operator>(f32x4 a, f32x4 b) noexcept { return {vcgtq_f32(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE mask4 operator<(f32x4 a, f32x4 b) noexcept { return {vcltq_f32(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE mask4 operator>=(f32x4 a, f32x4 b) noexcept { return {vcgeq_f32(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE mask4 operator>(i32x4 a, i32x4 b) noexcept { return {vcgtq_s32(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE mask4 operator&(mask4 a, mask4 b) noexcept { return {vandq_u32(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE bool any(mask4 m) noexcept { return vmaxvq_u32(m.v) != 0; }
LOWBIT_ALWAYS_INLINE f32x4 select(mask4 m, f32x4 a, f32x4 b) noexcept { return {vbslq_f32(m.v, a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE i32x4 select(mask4 m, i32x4 a, i32x4 b) noexcept { return {vbslq_s32(m.v, a.v, b.v)}; }
#else
LOWBIT_ALWAYS_INLINE mask4 operator>(f32x4 a, f32x4 b) noexcept { LOWBIT_V4_LANES(mask4, v4_all(a.v.l[l] > b.v.l[l])); }
LOWBIT_ALWAYS_INLINE mask4 operator<(f32x4 a, f32x4 b) noexcept { LOWBIT_V4_LANES(mask4, v4_all(a.v.l[l] < b.v.l[l])); }
LOWBIT_ALWAYS_INLINE mask4 operator>=(f32x4 a, f32x4 b) noexcept { LOWBIT_V4_LANES(mask4, v4_all(a.v.l[l] >= b.v.l[l])); }
LOWBIT_ALWAYS_INLINE mask4 operator>(i32x4 a, i32x4 b) noexcept { LOWBIT_V4_LANES(mask4, v4_all(a.v.l[l] > b.v.l[l])); }
LOWBIT_ALWAYS_INLINE mask4 operator&(mask4 a, mask4 b) noexcept { LOWBIT_V4_LANES(mask4, a.v.l[l] & b.v.l[l]); }
LOWBIT_ALWAYS_INLINE bool any(mask4 m) noexcept { return (m.v.l[0] | m.v.l[1] | m.v.l[2] | m.v.l[3]) != 0; }
LOWBIT_ALWAYS_INLINE f32x4 select(mask4 m, f32x4 a, f32x4 b) noexcept { LOWBIT_V4_LANES(f32x4, m.v.l[l] ? a.v.l[l] : b.v.l[l]); }
LOWBIT_ALWAYS_INLINE i32x4 select(mask4 m, i32x4 a, i32x4 b) noexcept { LOWBIT_V4_LANES(i32x4, m.v.l[l] ? a.v.l[l] : b.v.l[l]); }
#endif

// ---- int32 arithmetic, bit casts and conversions ----------------------------------------------
#if defined(LOWBIT_VEC4_SSE)
LOWBIT_ALWAYS_INLINE i32x4 operator+(i32x4 a, i32x4 b) noexcept { return {_mm_add_epi32(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE i32x4 operator-(i32x4 a, i32x4 b) noexcept { return {_mm_sub_epi32(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE i32x4 operator&(i32x4 a, i32x4 b) noexcept { return {_mm_and_si128(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE i32x4 operator|(i32x4 a, i32x4 b) noexcept { return {_mm_or_si128(a.v, b.v)}; }
template <int N>
LOWBIT_ALWAYS_INLINE i32x4 shift_left(i32x4 a) noexcept {
    return {_mm_slli_epi32(a.v, N)};
}
template <int N>
LOWBIT_ALWAYS_INLINE i32x4 shift_right(i32x4 a) noexcept {  // arithmetic
    return {_mm_srai_epi32(a.v, N)};
}
LOWBIT_ALWAYS_INLINE i32x4 bits_of(f32x4 a) noexcept { return {_mm_castps_si128(a.v)}; }
LOWBIT_ALWAYS_INLINE f32x4 float_from_bits(i32x4 a) noexcept { return {_mm_castsi128_ps(a.v)}; }
LOWBIT_ALWAYS_INLINE f32x4 to_float(i32x4 a) noexcept { return {_mm_cvtepi32_ps(a.v)}; }
LOWBIT_ALWAYS_INLINE i32x4 to_int_trunc(f32x4 a) noexcept { return {_mm_cvttps_epi32(a.v)}; }
#elif defined(LOWBIT_VEC4_NEON)
LOWBIT_ALWAYS_INLINE i32x4 operator+(i32x4 a, i32x4 b) noexcept { return {vaddq_s32(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE i32x4 operator-(i32x4 a, i32x4 b) noexcept { return {vsubq_s32(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE i32x4 operator&(i32x4 a, i32x4 b) noexcept { return {vandq_s32(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE i32x4 operator|(i32x4 a, i32x4 b) noexcept { return {vorrq_s32(a.v, b.v)}; }
template <int N>
LOWBIT_ALWAYS_INLINE i32x4 shift_left(i32x4 a) noexcept {
    return {vshlq_n_s32(a.v, N)};
}
template <int N>
LOWBIT_ALWAYS_INLINE i32x4 shift_right(i32x4 a) noexcept {  // arithmetic
    return {vshrq_n_s32(a.v, N)};
}
LOWBIT_ALWAYS_INLINE i32x4 bits_of(f32x4 a) noexcept { return {vreinterpretq_s32_f32(a.v)}; }
LOWBIT_ALWAYS_INLINE f32x4 float_from_bits(i32x4 a) noexcept { return {vreinterpretq_f32_s32(a.v)}; }
LOWBIT_ALWAYS_INLINE f32x4 to_float(i32x4 a) noexcept { return {vcvtq_f32_s32(a.v)}; }
LOWBIT_ALWAYS_INLINE i32x4 to_int_trunc(f32x4 a) noexcept { return {vcvtq_s32_f32(a.v)}; }
#else
// Through uint32: wrap-around and shifts of negative values are defined there.
LOWBIT_ALWAYS_INLINE i32x4 operator+(i32x4 a, i32x4 b) noexcept {
    LOWBIT_V4_LANES(i32x4, static_cast<std::int32_t>(static_cast<std::uint32_t>(a.v.l[l]) + static_cast<std::uint32_t>(b.v.l[l])));
}
LOWBIT_ALWAYS_INLINE i32x4 operator-(i32x4 a, i32x4 b) noexcept {
    LOWBIT_V4_LANES(i32x4, static_cast<std::int32_t>(static_cast<std::uint32_t>(a.v.l[l]) - static_cast<std::uint32_t>(b.v.l[l])));
}
LOWBIT_ALWAYS_INLINE i32x4 operator&(i32x4 a, i32x4 b) noexcept { LOWBIT_V4_LANES(i32x4, a.v.l[l] & b.v.l[l]); }
LOWBIT_ALWAYS_INLINE i32x4 operator|(i32x4 a, i32x4 b) noexcept { LOWBIT_V4_LANES(i32x4, a.v.l[l] | b.v.l[l]); }
template <int N>
LOWBIT_ALWAYS_INLINE i32x4 shift_left(i32x4 a) noexcept {
    LOWBIT_V4_LANES(i32x4, static_cast<std::int32_t>(static_cast<std::uint32_t>(a.v.l[l]) << N));
}
template <int N>
LOWBIT_ALWAYS_INLINE i32x4 shift_right(i32x4 a) noexcept {  // arithmetic: floor(a / 2^N)
    LOWBIT_V4_LANES(i32x4, a.v.l[l] >= 0 ? a.v.l[l] >> N : -1 - ((-1 - a.v.l[l]) >> N));
}
LOWBIT_ALWAYS_INLINE i32x4 bits_of(f32x4 a) noexcept {
    LOWBIT_V4_LANES(i32x4, static_cast<std::int32_t>(v4_bits_u(a.v.l[l])));
}
LOWBIT_ALWAYS_INLINE f32x4 float_from_bits(i32x4 a) noexcept {
    LOWBIT_V4_LANES(f32x4, v4_bits_f(static_cast<std::uint32_t>(a.v.l[l])));
}
LOWBIT_ALWAYS_INLINE f32x4 to_float(i32x4 a) noexcept { LOWBIT_V4_LANES(f32x4, static_cast<float>(a.v.l[l])); }
// Callers convert values within int32's range (clamped first).
LOWBIT_ALWAYS_INLINE i32x4 to_int_trunc(f32x4 a) noexcept { LOWBIT_V4_LANES(i32x4, static_cast<std::int32_t>(a.v.l[l])); }
#endif

#if defined(LOWBIT_VEC4_PLAIN)
#undef LOWBIT_V4_LANES
#endif

#if defined(LOWBIT_VEC8_AVX2)
// ---- 8 lanes (AVX2 builds): f32x8 / i32x8 / mask8 ----------------------------------------------
// Each operation is lane for lane the 4-lane one of the same build (the same
// instruction at twice the width; mul_add fused only where f32x4's is), so a
// body that splits its 8 lanes into its 4-lane sums -- low(), high() -- in the
// 4-lane body's order gets that body's results (quant/detail/fit_simd.hpp).
struct i32x8;
struct f32x8 {
    using int_type = i32x8;
    __m256 v;
    f32x8() = default;
    LOWBIT_ALWAYS_INLINE f32x8(__m256 n) noexcept : v(n) {}
    LOWBIT_ALWAYS_INLINE explicit f32x8(float x) noexcept : v(_mm256_set1_ps(x)) {}
    LOWBIT_ALWAYS_INLINE static f32x8 load(const float* p) noexcept { return {_mm256_loadu_ps(p)}; }
    LOWBIT_ALWAYS_INLINE void store(float* p) const noexcept { _mm256_storeu_ps(p, v); }
};
struct i32x8 {
    __m256i v;
    i32x8() = default;
    LOWBIT_ALWAYS_INLINE i32x8(__m256i n) noexcept : v(n) {}
    LOWBIT_ALWAYS_INLINE explicit i32x8(std::int32_t x) noexcept : v(_mm256_set1_epi32(x)) {}
};
struct mask8 {
    __m256 v;
};
LOWBIT_ALWAYS_INLINE f32x4 low(f32x8 a) noexcept { return {_mm256_castps256_ps128(a.v)}; }
LOWBIT_ALWAYS_INLINE f32x4 high(f32x8 a) noexcept { return {_mm256_extractf128_ps(a.v, 1)}; }

LOWBIT_ALWAYS_INLINE f32x8 operator+(f32x8 a, f32x8 b) noexcept { return {_mm256_add_ps(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE f32x8 operator-(f32x8 a, f32x8 b) noexcept { return {_mm256_sub_ps(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE f32x8 operator*(f32x8 a, f32x8 b) noexcept { return {_mm256_mul_ps(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE f32x8 operator/(f32x8 a, f32x8 b) noexcept { return {_mm256_div_ps(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE f32x8 min(f32x8 a, f32x8 b) noexcept { return {_mm256_min_ps(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE f32x8 max(f32x8 a, f32x8 b) noexcept { return {_mm256_max_ps(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE f32x8 abs(f32x8 a) noexcept { return {_mm256_andnot_ps(_mm256_set1_ps(-0.0f), a.v)}; }
LOWBIT_ALWAYS_INLINE f32x8 mul_add(f32x8 a, f32x8 b, f32x8 c) noexcept {
#if defined(__FMA__)
    return {_mm256_fmadd_ps(a.v, b.v, c.v)};
#else
    return {_mm256_add_ps(_mm256_mul_ps(a.v, b.v), c.v)};
#endif
}
LOWBIT_ALWAYS_INLINE f32x8 round_even(f32x8 a) noexcept {
    return {_mm256_round_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
}
LOWBIT_ALWAYS_INLINE f32x8& operator+=(f32x8& a, f32x8 b) noexcept { return a = a + b; }

LOWBIT_ALWAYS_INLINE mask8 operator>(f32x8 a, f32x8 b) noexcept { return {_mm256_cmp_ps(a.v, b.v, _CMP_GT_OQ)}; }
LOWBIT_ALWAYS_INLINE mask8 operator<(f32x8 a, f32x8 b) noexcept { return {_mm256_cmp_ps(a.v, b.v, _CMP_LT_OQ)}; }
LOWBIT_ALWAYS_INLINE mask8 operator>=(f32x8 a, f32x8 b) noexcept { return {_mm256_cmp_ps(a.v, b.v, _CMP_GE_OQ)}; }
LOWBIT_ALWAYS_INLINE mask8 operator>(i32x8 a, i32x8 b) noexcept { return {_mm256_castsi256_ps(_mm256_cmpgt_epi32(a.v, b.v))}; }
LOWBIT_ALWAYS_INLINE mask8 operator&(mask8 a, mask8 b) noexcept { return {_mm256_and_ps(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE bool any(mask8 m) noexcept { return _mm256_movemask_ps(m.v) != 0; }
LOWBIT_ALWAYS_INLINE f32x8 select(mask8 m, f32x8 a, f32x8 b) noexcept { return {_mm256_blendv_ps(b.v, a.v, m.v)}; }
LOWBIT_ALWAYS_INLINE i32x8 select(mask8 m, i32x8 a, i32x8 b) noexcept {
    return {_mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(b.v), _mm256_castsi256_ps(a.v), m.v))};
}

LOWBIT_ALWAYS_INLINE i32x8 operator+(i32x8 a, i32x8 b) noexcept { return {_mm256_add_epi32(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE i32x8 operator-(i32x8 a, i32x8 b) noexcept { return {_mm256_sub_epi32(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE i32x8 operator&(i32x8 a, i32x8 b) noexcept { return {_mm256_and_si256(a.v, b.v)}; }
LOWBIT_ALWAYS_INLINE i32x8 operator|(i32x8 a, i32x8 b) noexcept { return {_mm256_or_si256(a.v, b.v)}; }
template <int N>
LOWBIT_ALWAYS_INLINE i32x8 shift_left(i32x8 a) noexcept {
    return {_mm256_slli_epi32(a.v, N)};
}
template <int N>
LOWBIT_ALWAYS_INLINE i32x8 shift_right(i32x8 a) noexcept {  // arithmetic
    return {_mm256_srai_epi32(a.v, N)};
}
LOWBIT_ALWAYS_INLINE i32x8 bits_of(f32x8 a) noexcept { return {_mm256_castps_si256(a.v)}; }
LOWBIT_ALWAYS_INLINE f32x8 float_from_bits(i32x8 a) noexcept { return {_mm256_castsi256_ps(a.v)}; }
LOWBIT_ALWAYS_INLINE f32x8 to_float(i32x8 a) noexcept { return {_mm256_cvtepi32_ps(a.v)}; }
LOWBIT_ALWAYS_INLINE i32x8 to_int_trunc(f32x8 a) noexcept { return {_mm256_cvttps_epi32(a.v)}; }
#endif

}  // namespace v4
}  // namespace detail
}  // namespace lowbit
