// lowbit/formats/detail/x86/gguf_search_avx2.hpp — fit_affine (ggml's
// make_qkx2_quants, detail/gguf_search.hpp) for eight sub-blocks at once, one
// per AVX2 lane. Private to detail/gguf_search_lanes.hpp, included only on
// x86 with GCC or Clang; the CPU is checked there before this runs.
//
// Lane j does for sub-block j exactly what the scalar fit_affine does: the
// same float operations in the same order (every sum runs over the values in
// index order within its lane, nothing is reassociated), so the scales, mins
// and codes are the scalar ones bit for bit. The scalar code's branches are
// masks: the flat sub-block (max == min), det > 0, this_min > 0 and
// err < best_error. Products that reach an addition pass through prod(), an
// empty asm that keeps them rounded to float on their own (no FMA, whatever
// -mfma / -ffp-contract the includer uses), as detail::mul() does for the
// scalar code. The target is AVX2 only: no FMA instruction can be emitted.
#pragma once

#include <cstdint>

#include "../../../core/detail/x86_intrin.hpp"
#include "../gguf_arith.hpp"

namespace lowbit {
namespace gguf {
namespace detail {
namespace avx2_search {

#define LOWBIT_GGUF_SEARCH_AVX2 __attribute__((target("avx2")))
#define LOWBIT_GGUF_SEARCH_AVX2_INLINE LOWBIT_GGUF_SEARCH_AVX2 __attribute__((always_inline)) inline

// a * b rounded to float on its own (the vector twin of detail::mul).
LOWBIT_GGUF_SEARCH_AVX2_INLINE __m256 prod(__m256 a, __m256 b) {
    __m256 p = _mm256_mul_ps(a, b);
    __asm__("" : "+x"(p));
    return p;
}

// nearest_int (gguf_arith.hpp) per lane: v + 1.5 * 2^23, low mantissa bits - 2^22.
LOWBIT_GGUF_SEARCH_AVX2_INLINE __m256i nearest(__m256 v) {
    const __m256 biased = _mm256_add_ps(v, _mm256_set1_ps(12582912.0f));
    const __m256i bits = _mm256_and_si256(_mm256_castps_si256(biased), _mm256_set1_epi32(0x007fffff));
    return _mm256_sub_epi32(bits, _mm256_set1_epi32(0x00400000));
}

// clamp_int(nearest_int(iscale * (x - min)), 0, nmax) per lane.
LOWBIT_GGUF_SEARCH_AVX2_INLINE __m256i code(__m256 iscale, __m256 x, __m256 min, __m256i nmax) {
    const __m256i l = nearest(prod(iscale, _mm256_sub_ps(x, min)));
    return _mm256_min_epi32(_mm256_max_epi32(l, _mm256_setzero_si256()), nmax);
}

// The weighted error of fit_affine's error_of: sum_i w (s l + m - x)^2, or |.| when mad.
LOWBIT_GGUF_SEARCH_AVX2_INLINE __m256 error_of(int n, const float* xt, const float* wt, const float* lt, __m256 s, __m256 m,
                                               bool mad) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 err = _mm256_setzero_ps();
    for (int i = 0; i < n; ++i) {
        const __m256 x = _mm256_load_ps(xt + 8 * i);
        __m256 diff = _mm256_sub_ps(_mm256_add_ps(prod(s, _mm256_load_ps(lt + 8 * i)), m), x);
        diff = mad ? _mm256_and_ps(diff, abs_mask) : prod(diff, diff);
        err = _mm256_add_ps(err, prod(_mm256_load_ps(wt + 8 * i), diff));
    }
    return err;
}

// Eight sub-blocks of n values (16 or 32: the K-quants'), sub-block j at
// x + n j (weights at weights + n j, codes to L + n j): scales[j] and
// neg_mins[j] as fit_affine returns and writes them.
template <int n>
LOWBIT_GGUF_SEARCH_AVX2 inline void fit_affine_x8(int nmax, const float* x, const float* weights, std::uint8_t* L,
                                                  float* scales, float* neg_mins, float rmin, float rdelta, int nstep,
                                                  bool use_mad) noexcept {
    static_assert(n == 16 || n == 32, "the K-quants' sub-blocks");
    alignas(32) float xt[n * 8];            // value i of lane j at 8 i + j
    alignas(32) float wt[n * 8];
    alignas(32) float lt[n * 8];            // the candidate's codes as floats
    alignas(32) std::int32_t best[n * 8];   // the best codes so far
    alignas(32) std::int32_t cand[n * 8];   // the candidate's codes
    for (int j = 0; j < 8; ++j) {
        for (int i = 0; i < n; ++i) {
            xt[8 * i + j] = x[n * j + i];
            wt[8 * i + j] = weights[n * j + i];
        }
    }
    const __m256i nmax_v = _mm256_set1_epi32(nmax);
    const __m256 zero = _mm256_setzero_ps();

    __m256 min = _mm256_load_ps(xt);
    __m256 max = min;
    __m256 sum_w = _mm256_load_ps(wt);
    __m256 sum_x = prod(sum_w, min);
    for (int i = 1; i < n; ++i) {
        const __m256 xi = _mm256_load_ps(xt + 8 * i);
        const __m256 wi = _mm256_load_ps(wt + 8 * i);
        min = _mm256_min_ps(xi, min);  // xi < min ? xi : min
        max = _mm256_max_ps(xi, max);  // xi > max ? xi : max
        sum_w = _mm256_add_ps(sum_w, wi);
        sum_x = _mm256_add_ps(sum_x, prod(wi, xi));
    }
    min = _mm256_min_ps(zero, min);  // min > 0 -> 0
    const __m256 min0 = min;
    const __m256 flat = _mm256_cmp_ps(max, min, _CMP_EQ_OQ);

    __m256 iscale = _mm256_div_ps(_mm256_set1_ps(static_cast<float>(nmax)), _mm256_sub_ps(max, min));
    __m256 scale = _mm256_div_ps(_mm256_set1_ps(1.0f), iscale);
    for (int i = 0; i < n; ++i) {
        const __m256i l = code(iscale, _mm256_load_ps(xt + 8 * i), min, nmax_v);
        _mm256_store_si256(reinterpret_cast<__m256i*>(best + 8 * i), l);
        _mm256_store_ps(lt + 8 * i, _mm256_cvtepi32_ps(l));
    }
    __m256 best_error = error_of(n, xt, wt, lt, scale, min, use_mad);

    for (int step = 0; step <= nstep; ++step) {
        // The same scalar expression as fit_affine's, then one division per lane.
        const float num = rmin + mul(rdelta, static_cast<float>(step)) + static_cast<float>(nmax);
        iscale = _mm256_div_ps(_mm256_set1_ps(num), _mm256_sub_ps(max, min));
        __m256 sum_l = zero, sum_l2 = zero, sum_xl = zero;
        for (int i = 0; i < n; ++i) {
            const __m256 xi = _mm256_load_ps(xt + 8 * i);
            const __m256 wi = _mm256_load_ps(wt + 8 * i);
            const __m256i l = code(iscale, xi, min, nmax_v);
            _mm256_store_si256(reinterpret_cast<__m256i*>(cand + 8 * i), l);
            const __m256 fl = _mm256_cvtepi32_ps(l);
            _mm256_store_ps(lt + 8 * i, fl);
            const __m256 wfl = prod(wi, fl);
            sum_l = _mm256_add_ps(sum_l, wfl);
            sum_l2 = _mm256_add_ps(sum_l2, prod(wfl, fl));
            sum_xl = _mm256_add_ps(sum_xl, prod(wfl, xi));
        }
        const __m256 det = _mm256_sub_ps(prod(sum_w, sum_l2), prod(sum_l, sum_l));
        const __m256 det_ok = _mm256_cmp_ps(det, zero, _CMP_GT_OQ);
        if (_mm256_movemask_ps(det_ok) == 0) continue;
        __m256 this_scale = _mm256_div_ps(_mm256_sub_ps(prod(sum_w, sum_xl), prod(sum_x, sum_l)), det);
        __m256 this_min = _mm256_div_ps(_mm256_sub_ps(prod(sum_l2, sum_x), prod(sum_l, sum_xl)), det);
        const __m256 min_pos = _mm256_cmp_ps(this_min, zero, _CMP_GT_OQ);
        this_min = _mm256_blendv_ps(this_min, zero, min_pos);
        this_scale = _mm256_blendv_ps(this_scale, _mm256_div_ps(sum_xl, sum_l2), min_pos);
        const __m256 err = error_of(n, xt, wt, lt, this_scale, this_min, use_mad);
        const __m256 better = _mm256_and_ps(det_ok, _mm256_cmp_ps(err, best_error, _CMP_LT_OQ));
        if (_mm256_movemask_ps(better) == 0) continue;
        const __m256i better_i = _mm256_castps_si256(better);
        for (int i = 0; i < n; ++i) {
            __m256i* b = reinterpret_cast<__m256i*>(best + 8 * i);
            const __m256i c = _mm256_load_si256(reinterpret_cast<const __m256i*>(cand + 8 * i));
            _mm256_store_si256(b, _mm256_blendv_epi8(_mm256_load_si256(b), c, better_i));
        }
        best_error = _mm256_blendv_ps(best_error, err, better);
        scale = _mm256_blendv_ps(scale, this_scale, better);
        min = _mm256_blendv_ps(min, this_min, better);
    }
    // A flat sub-block: codes 0, scale 0, -min of the clamped minimum.
    scale = _mm256_blendv_ps(scale, zero, flat);
    min = _mm256_blendv_ps(min, min0, flat);
    const __m256 neg_min = _mm256_xor_ps(min, _mm256_set1_ps(-0.0f));
    _mm256_storeu_ps(scales, scale);
    _mm256_storeu_ps(neg_mins, neg_min);
    const int flat_bits = _mm256_movemask_ps(flat);
    for (int j = 0; j < 8; ++j) {
        const bool is_flat = (flat_bits >> j) & 1;
        for (int i = 0; i < n; ++i) L[n * j + i] = is_flat ? std::uint8_t{0} : static_cast<std::uint8_t>(best[8 * i + j]);
    }
}

#undef LOWBIT_GGUF_SEARCH_AVX2_INLINE
#undef LOWBIT_GGUF_SEARCH_AVX2

}  // namespace avx2_search
}  // namespace detail
}  // namespace gguf
}  // namespace lowbit
