// lowbit/algo/detail/microkernel.hpp — the register tile of algo/'s dense
// linear algebra: C[MR x NR] += alpha * A[MR x P] * B[P x NR] with strided A.
// A portable version (the reference, also used for edge tiles) and, on
// x86 with GCC/Clang, AVX2+FMA versions picked at run time by active_arch()
// (kernels/arch.hpp), so LOWBIT_FORCE_ARCH governs them too.
// Define LOWBIT_ALGO_PORTABLE to build only the portable code.
#pragma once

#include <cstddef>

#if !defined(LOWBIT_ALGO_PORTABLE) && (defined(__x86_64__) || defined(__i386__)) && \
    (defined(__GNUC__) || defined(__clang__))
#define LOWBIT_ALGO_X86 1
#include "x86/microkernel_avx2.hpp"
#else
#define LOWBIT_ALGO_X86 0
#endif

namespace lowbit {
namespace detail {

template <class T>
struct tile_shape;
template <>
struct tile_shape<float> {
    static constexpr std::size_t mr = 6, nr = 16;
};
template <>
struct tile_shape<double> {
    static constexpr std::size_t mr = 6, nr = 8;
};

// Any m <= MR rows, n <= NR columns; accumulates in T in the order p = 0..P-1.
template <class T>
inline void micro_portable(std::size_t m, std::size_t n, std::size_t P, const T* a, std::size_t a_m, std::size_t a_p,
                           const T* b, std::size_t b_p, T* c, std::size_t c_m, T alpha) noexcept {
    constexpr std::size_t MR = tile_shape<T>::mr, NR = tile_shape<T>::nr;
    T acc[MR][NR] = {};
    for (std::size_t p = 0; p < P; ++p) {
        const T* bp = b + p * b_p;
        for (std::size_t i = 0; i < m; ++i) {
            const T x = a[i * a_m + p * a_p];
            for (std::size_t j = 0; j < n; ++j) acc[i][j] += x * bp[j];
        }
    }
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < n; ++j) c[i * c_m + j] += alpha * acc[i][j];
}

// A full MR x NR tile: the fast path when the CPU has one.
inline void micro_full(std::size_t P, const float* a, std::size_t a_m, std::size_t a_p, const float* b, std::size_t b_p,
                       float* c, std::size_t c_m, float alpha) noexcept {
#if LOWBIT_ALGO_X86
    if (x86::has_avx2_fma()) return x86::micro_6x16_f32_avx2(P, a, a_m, a_p, b, b_p, c, c_m, alpha);
#endif
    micro_portable<float>(6, 16, P, a, a_m, a_p, b, b_p, c, c_m, alpha);
}
inline void micro_full(std::size_t P, const double* a, std::size_t a_m, std::size_t a_p, const double* b,
                       std::size_t b_p, double* c, std::size_t c_m, double alpha) noexcept {
#if LOWBIT_ALGO_X86
    if (x86::has_avx2_fma()) return x86::micro_6x8_f64_avx2(P, a, a_m, a_p, b, b_p, c, c_m, alpha);
#endif
    micro_portable<double>(6, 8, P, a, a_m, a_p, b, b_p, c, c_m, alpha);
}

}  // namespace detail
}  // namespace lowbit
