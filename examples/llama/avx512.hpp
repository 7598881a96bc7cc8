// avx512.hpp — lowbit-llama's own AVX-512 code for the float steps around the
// linear layers: an exp on 16 lanes, the two products and the softmax of
// attention (attention.hpp), SwiGLU and RMSNorm (runtime.hpp).
//
// Why here and not in lowbit: these are the example's steps, with the shapes
// attention has (head size a multiple of 16, key blocks of 96, ~100 query
// rows), not general kernels; lowbit::linalg::gemm_acc (a 6x16 AVX2 tile, used
// by GPTQ and others, whose bits tests pin) stays as it is and is the path on
// CPUs without AVX-512. The functions carry __attribute__((target)), so the
// file builds without -m flags, and are called only after use_avx512() (which
// follows lowbit::active_arch(), so LOWBIT_FORCE_ARCH=avx2 turns them off).
// Every value's summation order depends on the shapes only, never on the
// thread count.
#pragma once

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define LLAMA_AVX512 1
#else
#define LLAMA_AVX512 0
#endif

#include <cmath>
#include <cstddef>

#include <lowbit/core/config.hpp>
#include <lowbit/kernels/arch.hpp>

#if LLAMA_AVX512
#include <immintrin.h>

#define LLAMA_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))

namespace llama {
namespace x86 {

// AVX-512 F/BW/VL at least, as lowbit's kernels decide it.
inline bool use_avx512() noexcept {
    const lowbit::arch a = lowbit::active_arch();
    return a == lowbit::arch::avx512 || a == lowbit::arch::avx512vnni || a == lowbit::arch::amx;
}

// exp(x) on 16 lanes, within 2 ulp of the exact value over the float range.
// Cody-Waite: n = round(x log2 e), r = x - n ln 2 with ln 2 split in two
// (the high part has few bits, so n * hi is exact for |n| < 2^9), |r| <= ln2/2;
// exp(r) = 1 + r + r^2 P(r) with Cephes expf's degree-5 minimax P; then
// scalef multiplies by 2^n, which rounds to a subnormal, 0 or inf correctly
// at the ends. The clamp keeps r finite (-inf gives 0, +inf gives inf); a
// NaN comes back as NaN.
LLAMA_TARGET_AVX512 inline __m512 exp16(__m512 x) noexcept {
    // (maskz forms with all lanes: GCC 12 warns -Wmaybe-uninitialized inside
    // the unmasked min, max, roundscale and scalef)
    const __mmask16 all = 0xFFFF;
    const __m512 xc = _mm512_maskz_min_ps(all, _mm512_maskz_max_ps(all, x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(89.0f));
    const __m512 n = _mm512_maskz_roundscale_ps(all, _mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)),
                                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), xc);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    const __m512 e = _mm512_maskz_scalef_ps(all, y, n);
    return _mm512_mask_mov_ps(e, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);
}

// out[i] = exp(x[i]) for n values (the tests' handle on exp16).
LLAMA_TARGET_AVX512 inline void exp_n(const float* x, float* out, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(out + i, k, exp16(_mm512_maskz_loadu_ps(k, x + i)));
    }
}

// g[i] = g[i] / (1 + exp(-g[i])) * u[i] (SwiGLU), the scalar formula's order.
LLAMA_TARGET_AVX512 inline void swiglu_n(float* g, const float* u, std::size_t n) noexcept {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (std::size_t i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
        const __m512 x = _mm512_maskz_loadu_ps(k, g + i);
        const __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), x));
        _mm512_mask_storeu_ps(g + i, k, _mm512_mul_ps(_mm512_div_ps(x, _mm512_add_ps(one, e)), _mm512_maskz_loadu_ps(k, u + i)));
    }
}

// RMSNorm: out = gain * (x / sqrt(mean(x^2) + eps)). The sum of squares runs
// in 4 x 16 lanes (element i into lane i % 64), added up in a fixed order at
// the end: a serial float sum is a chain of n dependent adds (2048 x 4
// cycles per row), paid twice per layer and position. The products are the
// scalar formula's, gain * (inv * x).
LLAMA_TARGET_AVX512 inline void rmsnorm_n(const float* x, const float* gain, float* out, std::size_t n, float eps) noexcept {
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (std::size_t i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
        const __m512 v = _mm512_maskz_loadu_ps(k, x + i);
        acc[(i / 16) % 4] = _mm512_fmadd_ps(v, v, acc[(i / 16) % 4]);
    }
    float lanes[16];
    _mm512_storeu_ps(lanes, _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
    float ss = 0.0f;
    for (float v : lanes) ss += v;
    const __m512 inv = _mm512_set1_ps(1.0f / std::sqrt(ss / static_cast<float>(n) + eps));
    for (std::size_t i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
        const __m512 v = _mm512_mul_ps(inv, _mm512_maskz_loadu_ps(k, x + i));
        _mm512_mask_storeu_ps(out + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, gain + i), v));
    }
}

// ---- prefill attention ---------------------------------------------------------------
// The block layout of attention.hpp: S is nk x ld (keys x query rows), Q^T is
// hs x ld (already scaled by 1/sqrt(hs)), O is rows x hs. ld is a multiple of
// 16; the callers' buffers have the slack documented at each function.

// S[i][j..j+16 NV) = sum_d a[i][d] qt[d][j..] for the 12 key rows of a
// (row i at a + i * a_stride), storing the first m rows.
template <int NV>
LLAMA_TARGET_AVX512 inline __attribute__((always_inline)) void scores_tile(std::size_t hs, const float* a, std::size_t a_stride,
                                                                          const float* qt, std::size_t ld, float* s,
                                                                          std::size_t m) noexcept {
    constexpr int MR = 12;
    __m512 acc[MR][NV];
    LOWBIT_UNROLL
    for (int i = 0; i < MR; ++i)
        LOWBIT_UNROLL
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
    for (std::size_t d = 0; d < hs; ++d) {
        __m512 b[NV];
        LOWBIT_UNROLL
        for (int v = 0; v < NV; ++v) b[v] = _mm512_loadu_ps(qt + d * ld + 16 * v);
        LOWBIT_UNROLL
        for (int i = 0; i < MR; ++i) {
            const __m512 x = _mm512_set1_ps(a[i * a_stride + d]);
            LOWBIT_UNROLL
            for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(x, b[v], acc[i][v]);
        }
    }
    LOWBIT_UNROLL
    for (int i = 0; i < MR; ++i) {
        if (static_cast<std::size_t>(i) >= m) break;
        LOWBIT_UNROLL
        for (int v = 0; v < NV; ++v) _mm512_storeu_ps(s + i * ld + 16 * v, acc[i][v]);
    }
}

// S (nk x ld) = K_blk Q^T: K row k at k + k * k_stride. `pad` holds 12 x hs
// floats: a last group of fewer than 12 keys is copied there, zero-padded, so
// the tile never reads past the keys.
LLAMA_TARGET_AVX512 inline void scores(std::size_t nk, std::size_t hs, const float* k, std::size_t k_stride, const float* qt,
                                       std::size_t ld, float* s, float* pad) noexcept {
    for (std::size_t k0 = 0; k0 < nk; k0 += 12) {
        const std::size_t m = nk - k0 < 12 ? nk - k0 : 12;
        const float* a = k + k0 * k_stride;
        std::size_t a_stride = k_stride;
        if (m < 12) {
            for (std::size_t i = 0; i < 12; ++i)
                for (std::size_t d = 0; d < hs; ++d) pad[i * hs + d] = i < m ? a[i * k_stride + d] : 0.0f;
            a = pad, a_stride = hs;
        }
        std::size_t j = 0;
        for (; j + 32 <= ld; j += 32) scores_tile<2>(hs, a, a_stride, qt + j, ld, s + k0 * ld + j, m);
        if (j < ld) scores_tile<1>(hs, a, a_stride, qt + j, ld, s + k0 * ld + j, m);
    }
}

// The online softmax step over one key block, in one sweep of S per 16
// columns (two passes over that strip while it is in L1): lanes masked for
// key k are the columns below lim[k] (keys after the row's position).
//   m' = max(m, max_k S);  c = exp(m - m');  S = exp(S - m') (0 where masked);
//   l = c l + sum_k S (summed k = 0 .. nk-1 per column);  m = m'.
LLAMA_TARGET_AVX512 inline void softmax_block(std::size_t nk, std::size_t ld, float* s, const std::size_t* lim, float* m,
                                              float* l, float* c) noexcept {
    for (std::size_t j = 0; j < ld; j += 16) {
        const __m512 m_old = _mm512_loadu_ps(m + j);
        __m512 mx = m_old;
        for (std::size_t k = 0; k < nk; ++k) {
            const __mmask16 live = lim[k] <= j ? __mmask16(0xFFFF) : lim[k] >= j + 16 ? __mmask16(0) : __mmask16(0xFFFFu << (lim[k] - j));
            mx = _mm512_mask_max_ps(mx, live, mx, _mm512_loadu_ps(s + k * ld + j));
        }
        __m512 sum = _mm512_setzero_ps();
        for (std::size_t k = 0; k < nk; ++k) {
            const __mmask16 live = lim[k] <= j ? __mmask16(0xFFFF) : lim[k] >= j + 16 ? __mmask16(0) : __mmask16(0xFFFFu << (lim[k] - j));
            const __m512 e = _mm512_maskz_mov_ps(live, exp16(_mm512_sub_ps(_mm512_loadu_ps(s + k * ld + j), mx)));
            _mm512_storeu_ps(s + k * ld + j, e);
            sum = _mm512_add_ps(sum, e);
        }
        // m_old = -inf (first block): exp(-inf) = 0, and l and O are 0 already.
        const __m512 cj = exp16(_mm512_sub_ps(m_old, mx));
        _mm512_storeu_ps(c + j, cj);
        _mm512_storeu_ps(l + j, _mm512_fmadd_ps(cj, _mm512_loadu_ps(l + j), sum));
        _mm512_storeu_ps(m + j, mx);
    }
}

// O[r0 + i][d..d + 16 NV) = c[r0 + i] O[..] + sum_k S[k][r0 + i] V[k][d..] for
// the 6 rows i of the tile (O row stride hs, V row k at v + k * v_stride).
template <int NV>
LLAMA_TARGET_AVX512 inline __attribute__((always_inline)) void pv_tile(std::size_t nk, const float* s, std::size_t ld,
                                                                      const float* v, std::size_t v_stride, const float* c,
                                                                      float* o, std::size_t hs) noexcept {
    constexpr int MR = 6;
    __m512 acc[MR][NV];
    LOWBIT_UNROLL
    for (int i = 0; i < MR; ++i) {
        const __m512 ci = _mm512_set1_ps(c[i]);
        LOWBIT_UNROLL
        for (int w = 0; w < NV; ++w) acc[i][w] = _mm512_mul_ps(ci, _mm512_loadu_ps(o + i * hs + 16 * w));
    }
    for (std::size_t k = 0; k < nk; ++k) {
        __m512 b[NV];
        LOWBIT_UNROLL
        for (int w = 0; w < NV; ++w) b[w] = _mm512_loadu_ps(v + k * v_stride + 16 * w);
        LOWBIT_UNROLL
        for (int i = 0; i < MR; ++i) {
            const __m512 x = _mm512_set1_ps(s[k * ld + i]);
            LOWBIT_UNROLL
            for (int w = 0; w < NV; ++w) acc[i][w] = _mm512_fmadd_ps(x, b[w], acc[i][w]);
        }
    }
    LOWBIT_UNROLL
    for (int i = 0; i < MR; ++i)
        LOWBIT_UNROLL
        for (int w = 0; w < NV; ++w) _mm512_storeu_ps(o + i * hs + 16 * w, acc[i][w]);
}

// O = c O + S^T V_blk for rows query rows, in tiles of 6 rows: the last tile
// runs whole, so O must hold rows rounded up to 6, and S and c at least ld + 6
// readable finite floats past the last row (the extra rows are never stored
// out). hs is a multiple of 16.
LLAMA_TARGET_AVX512 inline void weighted_values(std::size_t rows, std::size_t hs, std::size_t nk, const float* s, std::size_t ld,
                                                const float* v, std::size_t v_stride, const float* c, float* o) noexcept {
    for (std::size_t r0 = 0; r0 < rows; r0 += 6) {
        std::size_t d = 0;
        for (; d + 64 <= hs; d += 64) pv_tile<4>(nk, s + r0, ld, v + d, v_stride, c + r0, o + r0 * hs + d, hs);
        for (; d < hs; d += 16) pv_tile<1>(nk, s + r0, ld, v + d, v_stride, c + r0, o + r0 * hs + d, hs);
    }
}

}  // namespace x86
}  // namespace llama
#endif
