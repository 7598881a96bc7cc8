// lowbit/algo/detail/x86/microkernel_avx2.hpp — AVX2+FMA register tiles for
// the dense linear algebra of algo/ (private: included by algo/detail/microkernel.hpp).
//
// Header-only runtime dispatch (docs/design.md, "Dispatch"): these functions
// carry __attribute__((target("avx2,fma"))), so they compile without any
// -m flag, and are only called after the CPU reported AVX2 and FMA. They are
// free functions used by nothing else, so no baseline code is ever built
// with AVX instructions.
//
//   C[MR x NR] += alpha * sum_p A(m, p) * B(p, n)
//   A(m, p) = a[m * a_m + p * a_p],  B(p, n) = b[p * b_p + n],  C(m, n) = c[m * c_m + n]
// float: 6 x 16 (12 ymm accumulators); double: 6 x 8 (12 ymm accumulators).
#pragma once

#include <cstddef>
#include <immintrin.h>

#include "../../../kernels/arch.hpp"

namespace lowbit {
namespace detail {
namespace x86 {

__attribute__((target("avx2,fma"))) inline void micro_6x16_f32_avx2(std::size_t P, const float* a, std::size_t a_m,
                                                                      std::size_t a_p, const float* b, std::size_t b_p,
                                                                      float* c, std::size_t c_m, float alpha) noexcept {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (std::size_t p = 0; p < P; ++p) {
        const float* bp = b + p * b_p;
        const float* ap = a + p * a_p;
        const __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
        __m256 x = _mm256_broadcast_ss(ap);
        c00 = _mm256_fmadd_ps(x, b0, c00);
        c01 = _mm256_fmadd_ps(x, b1, c01);
        x = _mm256_broadcast_ss(ap + a_m);
        c10 = _mm256_fmadd_ps(x, b0, c10);
        c11 = _mm256_fmadd_ps(x, b1, c11);
        x = _mm256_broadcast_ss(ap + 2 * a_m);
        c20 = _mm256_fmadd_ps(x, b0, c20);
        c21 = _mm256_fmadd_ps(x, b1, c21);
        x = _mm256_broadcast_ss(ap + 3 * a_m);
        c30 = _mm256_fmadd_ps(x, b0, c30);
        c31 = _mm256_fmadd_ps(x, b1, c31);
        x = _mm256_broadcast_ss(ap + 4 * a_m);
        c40 = _mm256_fmadd_ps(x, b0, c40);
        c41 = _mm256_fmadd_ps(x, b1, c41);
        x = _mm256_broadcast_ss(ap + 5 * a_m);
        c50 = _mm256_fmadd_ps(x, b0, c50);
        c51 = _mm256_fmadd_ps(x, b1, c51);
    }
    const __m256 al = _mm256_set1_ps(alpha);
    const __m256 acc[12] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
    for (int m = 0; m < 6; ++m) {
        float* cm = c + static_cast<std::size_t>(m) * c_m;
        _mm256_storeu_ps(cm, _mm256_fmadd_ps(al, acc[2 * m], _mm256_loadu_ps(cm)));
        _mm256_storeu_ps(cm + 8, _mm256_fmadd_ps(al, acc[2 * m + 1], _mm256_loadu_ps(cm + 8)));
    }
}

__attribute__((target("avx2,fma"))) inline void micro_6x8_f64_avx2(std::size_t P, const double* a, std::size_t a_m,
                                                                     std::size_t a_p, const double* b, std::size_t b_p,
                                                                     double* c, std::size_t c_m, double alpha) noexcept {
    __m256d c00 = _mm256_setzero_pd(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256d c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (std::size_t p = 0; p < P; ++p) {
        const double* bp = b + p * b_p;
        const double* ap = a + p * a_p;
        const __m256d b0 = _mm256_loadu_pd(bp), b1 = _mm256_loadu_pd(bp + 4);
        __m256d x = _mm256_broadcast_sd(ap);
        c00 = _mm256_fmadd_pd(x, b0, c00);
        c01 = _mm256_fmadd_pd(x, b1, c01);
        x = _mm256_broadcast_sd(ap + a_m);
        c10 = _mm256_fmadd_pd(x, b0, c10);
        c11 = _mm256_fmadd_pd(x, b1, c11);
        x = _mm256_broadcast_sd(ap + 2 * a_m);
        c20 = _mm256_fmadd_pd(x, b0, c20);
        c21 = _mm256_fmadd_pd(x, b1, c21);
        x = _mm256_broadcast_sd(ap + 3 * a_m);
        c30 = _mm256_fmadd_pd(x, b0, c30);
        c31 = _mm256_fmadd_pd(x, b1, c31);
        x = _mm256_broadcast_sd(ap + 4 * a_m);
        c40 = _mm256_fmadd_pd(x, b0, c40);
        c41 = _mm256_fmadd_pd(x, b1, c41);
        x = _mm256_broadcast_sd(ap + 5 * a_m);
        c50 = _mm256_fmadd_pd(x, b0, c50);
        c51 = _mm256_fmadd_pd(x, b1, c51);
    }
    const __m256d al = _mm256_set1_pd(alpha);
    const __m256d acc[12] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
    for (int m = 0; m < 6; ++m) {
        double* cm = c + static_cast<std::size_t>(m) * c_m;
        _mm256_storeu_pd(cm, _mm256_fmadd_pd(al, acc[2 * m], _mm256_loadu_pd(cm)));
        _mm256_storeu_pd(cm + 4, _mm256_fmadd_pd(al, acc[2 * m + 1], _mm256_loadu_pd(cm + 4)));
    }
}

// The active arch (kernels/arch.hpp: CPU detection, LOWBIT_FORCE_ARCH,
// force_arch) has AVX2 and FMA, so forcing scalar or sse2 turns these off
// like every other kernel.
inline bool has_avx2_fma() noexcept {
    const arch a = active_arch();
    return a == arch::avx2 || a == arch::avx512 || a == arch::avxvnni || a == arch::avx512vnni || a == arch::amx;
}

}  // namespace x86
}  // namespace detail
}  // namespace lowbit
