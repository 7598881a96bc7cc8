// lowbit/kernels/detail/x86/fit_avx512.hpp — the 16-lane (AVX-512F) copies
// of calibrate::mse's passes (quant/detail/fit_simd.hpp), which the search
// runs where the kernels' arch has AVX-512F. Private: compiled only into
// lowbit::compiled (kernels/detail/fit16_impl.hpp, from its dispatch.cpp),
// after the x86 kernels' <immintrin.h>; fit16_compiled() returns them. No
// consumer TU compiles these passes (~0.7 CPU-s at -O2 each), and header-only
// programs run the 4-lane ones (the same results). Not in builds that
// enable FMA: there GCC contracts the 4-lane passes' multiply-adds
// (-ffp-contract=fast), which these copies never do, so they would not give
// those passes' results; such builds (-march=native and the like) keep their
// 4- or 8-lane passes.
//
// Each operation of f32x16 / i32x16 is lane for lane the SSE2 one of
// core/detail/vec4.hpp (the same IEEE operation on 16 lanes), so the terms of
// a value are the 4-lane passes' bit for bit, and the passes add them in the
// 4-lane passes' order. Multiplies, adds, subtracts and divides go through the
// explicit-rounding intrinsics (_MM_FROUND_CUR_DIRECTION: the plain
// instruction): GCC implements _mm512_mul_ps and _mm512_add_ps as generic
// vector arithmetic and, with AVX-512F (which includes FMA) enabled by the
// target attribute, contracts a multiply and an add into one fused
// multiply-add, whose single rounding the SSE2 build does not have. Builtins
// with a rounding operand are never contracted. (The maskz forms, with an
// all-ones mask, throughout: GCC 12 warns -Wmaybe-uninitialized inside the
// unmasked ones, whose source operand is _mm512_undefined_*.)
#pragma once

#include <cstddef>
#include <cstdint>

#include "../../../compiled_mode.hpp"
#include "../../../core/detail/vec4.hpp"
#include "../../../core/detail/x86_intrin.hpp"
#include "../../../quant/calibrate.hpp"
#include "../../../quant/detail/fit_simd.hpp"

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
    LOWBIT_V16 void store(float* p) const noexcept { _mm512_storeu_ps(p, v); }
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
// All lanes, as the mask of the maskz forms (a function's value: without
// optimization the _round_ forms are macros that hand the mask to a builtin
// taking a signed short, and a literal 0xffff there warns -Woverflow).
LOWBIT_V16 __mmask16 all16() noexcept { return static_cast<__mmask16>(0xffff); }
LOWBIT_V16 f32x16 operator+(f32x16 a, f32x16 b) noexcept { return {_mm512_maskz_add_round_ps(all16(), a.v, b.v, LOWBIT_V16_R)}; }
LOWBIT_V16 f32x16 operator-(f32x16 a, f32x16 b) noexcept { return {_mm512_maskz_sub_round_ps(all16(), a.v, b.v, LOWBIT_V16_R)}; }
LOWBIT_V16 f32x16 operator*(f32x16 a, f32x16 b) noexcept { return {_mm512_maskz_mul_round_ps(all16(), a.v, b.v, LOWBIT_V16_R)}; }
LOWBIT_V16 f32x16 operator/(f32x16 a, f32x16 b) noexcept { return {_mm512_maskz_div_round_ps(all16(), a.v, b.v, LOWBIT_V16_R)}; }
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


}  // namespace v4

namespace fit16 {
using v4::f32x16;
// a * b + c with two roundings (flush_stored says why).
LOWBIT_V16 double mul_add_unfused(double a, double b, double c) noexcept {
    const __m128d p = _mm_maskz_mul_round_sd(1, _mm_set_sd(a), _mm_set_sd(b), _MM_FROUND_CUR_DIRECTION);
    return _mm_cvtsd_f64(_mm_maskz_add_round_sd(1, p, _mm_set_sd(c), _MM_FROUND_CUR_DIRECTION));
}
#define LOWBIT_FIT_FN LOWBIT_V16
#include "../../../quant/detail/fit_body.inl"
#undef LOWBIT_FIT_FN
}  // namespace fit16

namespace fit16 {
// The double sums of the 16-lane passes from their float lanes (stored to
// memory): fit::flush's and scan_pass4's arithmetic, operation for operation,
// in the AVX-512 function itself: GCC puts no vzeroupper before a call from
// there, and baseline SSE code run with the upper halves dirty was several
// times slower on the test machine (perf: the out-of-line flushes were 6-10 %
// of the search on groups of 32; CMakeLists.txt tells the same of
// lowbit_compiled at -O1). tnorm *
// t + err by the explicit-rounding intrinsics: GCC would fuse it into one
// multiply-add (AVX-512F includes FMA; the baseline has none), and the sums
// must stay the 4-lane passes' bit for bit.
// fit::flush_lanes<M>: the 16 lanes of each quantity (err, w, wk, wk2, wy,
// wyk, errt) in turn.
template <fit_mode M>
LOWBIT_V16 void flush_stored(const float (&lanes)[7][16], double tnorm, fit_sums& s) noexcept {
    double t[7] = {};
    for (std::size_t j = 0; j < 7; ++j) {
        if (j == 6 ? !fit::pow_mode(M) : j > 0 && !fit_sums_wanted(M)) continue;
        for (std::size_t l = 0; l < 16; ++l) t[j] += lanes[j][l];
    }
    s.err += mul_add_unfused(tnorm, t[6], t[0]);
    s.w += t[1];
    s.wk += t[2];
    s.wk2 += t[3];
    s.wy += t[4];
    s.wyk += t[5];
}
}  // namespace fit16

// fit_pass4's sums from 16 lanes: its 16 lanes of each quantity in one
// vector, the same terms added in the same order (fit_simd.hpp, fit_pass_w,
// defines it); padding lanes of the tail add +0.
template <fit_mode M>
__attribute__((target("avx2,avx512f"))) inline fit_sums fit_pass16(const float* data, std::size_t rows, std::size_t cols,
                                                                    std::size_t stride, const fit_candidate& c, float norm) noexcept {
    using B = v4::f32x16;
    const fit16::lane_consts<B> k = fit16::consts_for<B>(c, norm, false);
    const B one(1.0f);
    fit_sums s;
    fit16::acc<B> a{};
    alignas(64) float pad[16], valid[16], lanes[7][16] = {};
    auto flush = [&]() LOWBIT_V16_ATTR {
        _mm512_store_ps(lanes[0], a.err.v);
        if constexpr (fit::pow_mode(M)) _mm512_store_ps(lanes[6], a.errt.v);
        if constexpr (fit_sums_wanted(M)) {
            _mm512_store_ps(lanes[1], a.w.v);
            _mm512_store_ps(lanes[2], a.wk.v);
            _mm512_store_ps(lanes[3], a.wk2.v);
            _mm512_store_ps(lanes[4], a.wy.v);
            _mm512_store_ps(lanes[5], a.wyk.v);
        }
        a = fit16::acc<B>{};
        fit16::flush_stored<M>(lanes, c.tnorm, s);
    };
    for (std::size_t r = 0; r < rows; ++r) {
        const float* x = data + r * stride;
        std::size_t i = 0, n = 0;
        for (; i + 16 <= cols; i += 16) {
            fit16::add<M>(a, B::load(x + i), one, k);
            if (++n == 16) {
                n = 0;
                flush();
            }
        }
        if (i < cols) {
            for (std::size_t l = 0; l < 16; ++l) {
                pad[l] = i + l < cols ? x[i + l] : 0.0f;
                valid[l] = i + l < cols ? 1.0f : 0.0f;
            }
            fit16::add<M>(a, B::load(pad), B::load(valid), k);
        }
        flush();
    }
    return s;
}

// scan_pass4's errors from 16 lanes: its 16 lanes per candidate in one
// vector, the same terms added in the same order (fit_simd.hpp, scan_pass4,
// defines it), the flush's err + tnorm * t unfused.
template <bool Pow, std::size_t N>
__attribute__((target("avx2,avx512f"))) inline void scan_pass16(const float* data, std::size_t rows, std::size_t cols,
                                                                std::size_t stride, const fit_candidate* c, float norm,
                                                                double* err, bool exact = false) noexcept {
    using B = v4::f32x16;
    constexpr fit_mode M = Pow ? fit_mode::pow_error : fit_mode::l2_error;
    fit16::lane_consts<B> k[N];
    fit16::scan_consts(c, norm, exact, k, err);
    const B one(1.0f);
    fit16::acc<B> a[N] = {};
    alignas(64) float pad[16], lanes[16], lanes_t[16];
    auto flush = [&]() LOWBIT_V16_ATTR {
        for (std::size_t j = 0; j < N; ++j) {
            _mm512_store_ps(lanes, a[j].err.v);
            if constexpr (Pow) _mm512_store_ps(lanes_t, a[j].errt.v);
            a[j] = fit16::acc<B>{};
            double t = 0.0;
            for (std::size_t l = 0; l < 16; ++l) t += lanes[l];
            if constexpr (Pow) {
                double tt = 0.0;
                for (std::size_t l = 0; l < 16; ++l) tt += lanes_t[l];
                t = fit16::mul_add_unfused(c[j].tnorm, tt, t);
            }
            err[j] += t;
        }
    };
    for (std::size_t r = 0; r < rows; ++r) {
        const float* x = data + r * stride;
        std::size_t i = 0, n = 0;
        for (; i + 16 <= cols; i += 16) {
            const B v = B::load(x + i);
            for (std::size_t j = 0; j < N; ++j) fit16::add<M>(a[j], v, one, k[j]);
            if (++n == 16) {
                n = 0;
                flush();
            }
        }
        if (i < cols) {  // padding: +0 terms, which the 4-lane pass does not add
            for (std::size_t l = 0; l < 16; ++l) pad[l] = i + l < cols ? x[i + l] : 0.0f;
            const B v = B::load(pad);
            for (std::size_t j = 0; j < N; ++j) fit16::add<M>(a[j], v, one, k[j]);
        }
        flush();
    }
}

// lanes_pass over 16 groups (fit_body.inl): one group a lane.
template <fit_mode M, std::size_t N>
__attribute__((target("avx2,avx512f"))) inline void lanes_pass16(const float* xt, std::size_t G, const lane_batch& c,
                                                                  float norm, lane_sums& out) noexcept {
    fit16::lanes_pass<M, N, v4::f32x16, 16>(xt, G, c, norm, out);
}
#define LOWBIT_LANES16(M) {&lanes_pass16<M, 1>, &lanes_pass16<M, 2>, &lanes_pass16<M, 4>}

// calibrate::mse's search of 16 groups at once with these passes (wide: the table below).
inline void lanes_search16(const float* x, std::size_t g, const calibration& c, int bits, bool sym, scale_type st,
                           const fit16_fns* wide, qparams* out) noexcept {
    mse_lanes::run(x, g, c, bits, sym, st, wide, out);
}

// The passes, by mode and candidate count, for fit_simd.hpp's dispatch.
inline const fit16_fns& fit16_table() noexcept {
    static const fit16_fns t = {
        {&fit_pass16<fit_mode::l2_error>, &fit_pass16<fit_mode::l2_fit>, &fit_pass16<fit_mode::pow_error>,
         &fit_pass16<fit_mode::pow_fit>},
        {{&scan_pass16<false, 1>, &scan_pass16<false, 2>, &scan_pass16<false, 3>, &scan_pass16<false, 4>},
         {&scan_pass16<true, 1>, &scan_pass16<true, 2>, &scan_pass16<true, 3>, &scan_pass16<true, 4>}},
        {LOWBIT_LANES16(fit_mode::l2_error), LOWBIT_LANES16(fit_mode::l2_fit), LOWBIT_LANES16(fit_mode::pow_error),
         LOWBIT_LANES16(fit_mode::pow_fit)},
        &lanes_search16};
    return t;
}
#undef LOWBIT_LANES16
LOWBIT_COMPILED_INLINE const fit16_fns* fit16_compiled() noexcept { return &fit16_table(); }

}  // namespace detail
}  // namespace lowbit

#undef LOWBIT_V16
#undef LOWBIT_V16_ATTR
