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
//
// Written with the compilers' vector extensions and their FMA builtins
// (GCC and Clang name them alike) under target attributes, not
// <immintrin.h>: that header is ~0.45 s of parsing with g++, which every TU
// of algo/ paid for these twelve operations, in compiled mode too. The same
// instructions (vmovups/vmovupd, vbroadcastss/sd, vfmadd), so the same bits
// as the intrinsics were.
#pragma once

#include <cstddef>

#include "../../../kernels/arch.hpp"

namespace lowbit {
namespace detail {
namespace x86 {

// The vector type and the operations the tile uses, per element type, so
// that the float and the double tile are one body (micro_6x2v below). The
// unaligned, may-alias form is what loads and stores go through (a and c
// are arrays of floats or doubles, aligned to their element only).
typedef float avx2_v8f __attribute__((vector_size(32)));
typedef double avx2_v4d __attribute__((vector_size(32)));
typedef float avx2_v8f_u __attribute__((vector_size(32), aligned(alignof(float)), may_alias));
typedef double avx2_v4d_u __attribute__((vector_size(32), aligned(alignof(double)), may_alias));

struct avx2_f32 {
    using value = float;
    using vec = avx2_v8f;
    static constexpr std::size_t lanes = 8;
    __attribute__((target("avx2,fma"))) static vec zero() noexcept { return vec{}; }
    __attribute__((target("avx2,fma"))) static vec load(const float* p) noexcept { return *reinterpret_cast<const avx2_v8f_u*>(p); }
    __attribute__((target("avx2,fma"))) static void store(float* p, vec v) noexcept { *reinterpret_cast<avx2_v8f_u*>(p) = v; }
    __attribute__((target("avx2,fma"))) static vec set1(float x) noexcept { return vec{x, x, x, x, x, x, x, x}; }
    __attribute__((target("avx2,fma"))) static vec splat(const float* p) noexcept { return set1(*p); }
    __attribute__((target("avx2,fma"))) static vec fma(vec a, vec b, vec c) noexcept { return __builtin_ia32_vfmaddps256(a, b, c); }
};
struct avx2_f64 {
    using value = double;
    using vec = avx2_v4d;
    static constexpr std::size_t lanes = 4;
    __attribute__((target("avx2,fma"))) static vec zero() noexcept { return vec{}; }
    __attribute__((target("avx2,fma"))) static vec load(const double* p) noexcept { return *reinterpret_cast<const avx2_v4d_u*>(p); }
    __attribute__((target("avx2,fma"))) static void store(double* p, vec v) noexcept { *reinterpret_cast<avx2_v4d_u*>(p) = v; }
    __attribute__((target("avx2,fma"))) static vec set1(double x) noexcept { return vec{x, x, x, x}; }
    __attribute__((target("avx2,fma"))) static vec splat(const double* p) noexcept { return set1(*p); }
    __attribute__((target("avx2,fma"))) static vec fma(vec a, vec b, vec c) noexcept { return __builtin_ia32_vfmaddpd256(a, b, c); }
};

// C[6 x 2 vectors] += alpha * A B: twelve accumulators named one by one (not an
// array) so that the compiler keeps every one in a register at any -O level.
template <class O>
__attribute__((target("avx2,fma"))) inline void micro_6x2v(std::size_t P, const typename O::value* a, std::size_t a_m, std::size_t a_p,
                                                           const typename O::value* b, std::size_t b_p, typename O::value* c,
                                                           std::size_t c_m, typename O::value alpha) noexcept {
    using V = typename O::vec;
    constexpr std::size_t L = O::lanes;
    V c00 = O::zero(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    V c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (std::size_t p = 0; p < P; ++p) {
        const typename O::value* bp = b + p * b_p;
        const typename O::value* ap = a + p * a_p;
        const V b0 = O::load(bp), b1 = O::load(bp + L);
        V x = O::splat(ap);
        c00 = O::fma(x, b0, c00);
        c01 = O::fma(x, b1, c01);
        x = O::splat(ap + a_m);
        c10 = O::fma(x, b0, c10);
        c11 = O::fma(x, b1, c11);
        x = O::splat(ap + 2 * a_m);
        c20 = O::fma(x, b0, c20);
        c21 = O::fma(x, b1, c21);
        x = O::splat(ap + 3 * a_m);
        c30 = O::fma(x, b0, c30);
        c31 = O::fma(x, b1, c31);
        x = O::splat(ap + 4 * a_m);
        c40 = O::fma(x, b0, c40);
        c41 = O::fma(x, b1, c41);
        x = O::splat(ap + 5 * a_m);
        c50 = O::fma(x, b0, c50);
        c51 = O::fma(x, b1, c51);
    }
    const V al = O::set1(alpha);
    const V acc[12] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
    for (int m = 0; m < 6; ++m) {
        typename O::value* cm = c + static_cast<std::size_t>(m) * c_m;
        O::store(cm, O::fma(al, acc[2 * m], O::load(cm)));
        O::store(cm + L, O::fma(al, acc[2 * m + 1], O::load(cm + L)));
    }
}

// float: 6 x 16; double: 6 x 8.
inline void micro_6x16_f32_avx2(std::size_t P, const float* a, std::size_t a_m, std::size_t a_p, const float* b, std::size_t b_p, float* c,
                                std::size_t c_m, float alpha) noexcept {
    micro_6x2v<avx2_f32>(P, a, a_m, a_p, b, b_p, c, c_m, alpha);
}
inline void micro_6x8_f64_avx2(std::size_t P, const double* a, std::size_t a_m, std::size_t a_p, const double* b, std::size_t b_p, double* c,
                               std::size_t c_m, double alpha) noexcept {
    micro_6x2v<avx2_f64>(P, a, a_m, a_p, b, b_p, c, c_m, alpha);
}

// The active arch (kernels/arch.hpp: CPU detection, LOWBIT_FORCE_ARCH,
// force_arch) has AVX2 and FMA, so forcing scalar or sse2 turns these off
// like every other kernel.
inline bool has_avx2_fma() noexcept { return arch_has_avx2(active_arch()); }

}  // namespace x86
}  // namespace detail
}  // namespace lowbit
