// lowbit/quant/detail/x86/fwht_x86.hpp — the unnormalized Walsh–Hadamard
// transform of one vector (quant/hadamard.hpp, detail::fwht_vector) in
// 8-lane (AVX2) and 16-lane (AVX-512) registers, picked at run time by
// active_arch() (kernels/arch.hpp), so LOWBIT_FORCE_ARCH governs it like every
// kernel.
//
// Why: a rotated linear layer transforms its input on every call, serially;
// the portable transform (four lanes, one pass over memory per butterfly
// distance) cost 9-19 us at n = 2048-4096 on the 2-core machine, as much as
// the int8 GEMV of a 2048 x 512 weight it precedes (docs/quality.md,
// "Rotations"). Here the butterflies of distance below the register width run
// inside a register (a lane permute, an add, a subtract and a blend per
// distance), and the wider ones three distances per pass over memory (eight
// registers loaded, twelve butterflies, eight stored), the last one or two in
// one more pass: n = 4096 takes 4 passes over memory instead of 11 (AVX-512:
// distances 1-8 in registers, 16-64, 128-512, then 1024-2048).
//
// Written with the compilers' vector extensions (GCC >= 12 and Clang have
// __builtin_shufflevector) under target attributes, not <immintrin.h>: the
// intrinsics header is ~0.5 s of parsing, which quant/ does not otherwise need.
//
// Same bits as detail::fwht_portable: every value sees the same additions and
// subtractions, with the same operands, in the same order of distances
// (1, 2, 4, ...); a butterfly (u, v) -> (u + v, u - v) is computed as x + x'
// in the lower lane (u + v) and x' - x in the upper one (u - v), where x' is
// the partner lane's value. tests/test_quant_hadamard.cpp checks every arch
// against the plain passes bit for bit.
#pragma once

#include <cstddef>
#include <cstring>

#include "../../../kernels/arch.hpp"

namespace lowbit {
namespace detail {
namespace x86 {

// The widest register the active arch gives the transform: 16 floats
// (AVX-512), 8 (AVX2) or 0 (none: the portable code runs).
inline std::size_t fwht_lanes() noexcept {
    switch (active_arch()) {
        case arch::avx512:
        case arch::avx512vnni:
        case arch::amx: return 16;
        case arch::avx2:
        case arch::avxvnni: return 8;
        default: return 0;
    }
}

typedef float fwht_v8 __attribute__((vector_size(32)));
typedef float fwht_v16 __attribute__((vector_size(64)));
typedef unsigned fwht_u8 __attribute__((vector_size(32)));
typedef unsigned fwht_u16 __attribute__((vector_size(64)));

#define LOWBIT_FWHT_TGT(isa) __attribute__((target(isa), always_inline)) inline

// ---- 8 lanes (AVX2) ---------------------------------------------------------------------
// Distances 1, 2, 4 inside an 8-value register: p = the partner lanes; lower
// lanes take x + p (index i), upper lanes p - x (index 8 + i of the pair).
LOWBIT_FWHT_TGT("avx2") fwht_v8 fwht_in_register(fwht_v8 x) {
    fwht_v8 p = __builtin_shufflevector(x, x, 1, 0, 3, 2, 5, 4, 7, 6);
    x = __builtin_shufflevector(x + p, p - x, 0, 9, 2, 11, 4, 13, 6, 15);
    p = __builtin_shufflevector(x, x, 2, 3, 0, 1, 6, 7, 4, 5);
    x = __builtin_shufflevector(x + p, p - x, 0, 1, 10, 11, 4, 5, 14, 15);
    p = __builtin_shufflevector(x, x, 4, 5, 6, 7, 0, 1, 2, 3);
    return __builtin_shufflevector(x + p, p - x, 0, 1, 2, 3, 12, 13, 14, 15);
}

// ---- 16 lanes (AVX-512) -----------------------------------------------------------------
LOWBIT_FWHT_TGT("avx2,avx512f") fwht_v16 fwht_in_register(fwht_v16 x) {
    fwht_v16 p = __builtin_shufflevector(x, x, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
    x = __builtin_shufflevector(x + p, p - x, 0, 17, 2, 19, 4, 21, 6, 23, 8, 25, 10, 27, 12, 29, 14, 31);
    p = __builtin_shufflevector(x, x, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
    x = __builtin_shufflevector(x + p, p - x, 0, 1, 18, 19, 4, 5, 22, 23, 8, 9, 26, 27, 12, 13, 30, 31);
    p = __builtin_shufflevector(x, x, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11);
    x = __builtin_shufflevector(x + p, p - x, 0, 1, 2, 3, 20, 21, 22, 23, 8, 9, 10, 11, 28, 29, 30, 31);
    p = __builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
    return __builtin_shufflevector(x + p, p - x, 0, 1, 2, 3, 4, 5, 6, 7, 24, 25, 26, 27, 28, 29, 30, 31);
}

// The passes over memory, stamped for each width (a template cannot carry
// the target attribute its vector type needs). n a power of two, n >= the
// lanes: after the in-register distances, three distances h, 2h, 4h per pass
// (eight registers at x + j + r*h, r = 0..7, butterflies in pass order), then
// the last two or one.
#define LOWBIT_FWHT_PASSES(NAME, V, U, ISA)                                                   \
    LOWBIT_FWHT_TGT(ISA) V NAME##_load(const float* p) {                                   \
        V v;                                                                                \
        std::memcpy(&v, p, sizeof v);                                                       \
        return v;                                                                           \
    }                                                                                       \
    LOWBIT_FWHT_TGT(ISA) void NAME##_store(float* p, V v) { std::memcpy(p, &v, sizeof v); } \
    LOWBIT_FWHT_TGT(ISA) void NAME##_butterfly(V& a, V& b) {                               \
        const V s = a + b, d = a - b;                                                       \
        a = s;                                                                              \
        b = d;                                                                              \
    }                                                                                       \
    /* distances h, 2h, 4h over eight registers r*h apart, in pass order */                 \
    LOWBIT_FWHT_TGT(ISA) void NAME##_butterflies8(V& v0, V& v1, V& v2, V& v3, V& v4, V& v5, V& v6, V& v7) { \
        NAME##_butterfly(v0, v1), NAME##_butterfly(v2, v3);                                 \
        NAME##_butterfly(v4, v5), NAME##_butterfly(v6, v7);                                 \
        NAME##_butterfly(v0, v2), NAME##_butterfly(v1, v3);                                 \
        NAME##_butterfly(v4, v6), NAME##_butterfly(v5, v7);                                 \
        NAME##_butterfly(v0, v4), NAME##_butterfly(v1, v5);                                 \
        NAME##_butterfly(v2, v6), NAME##_butterfly(v3, v7);                                 \
    }                                                                                       \
    /* detail::all_finite's test, one register at a time (n a multiple of the lanes) */    \
    __attribute__((target(ISA))) inline bool NAME##_finite(const float* x, std::size_t n) noexcept { \
        constexpr std::size_t L = sizeof(V) / sizeof(float);                                \
        U acc = U{};                                                                        \
        for (std::size_t i = 0; i < n; i += L) {                                            \
            U u;                                                                            \
            std::memcpy(&u, x + i, sizeof u);                                               \
            acc |= (u & 0x7f800000u) + 0x00800000u;                                         \
        }                                                                                   \
        unsigned r = 0;                                                                     \
        for (std::size_t k = 0; k < L; ++k) r |= acc[k];                                    \
        return !(r & 0x80000000u);                                                          \
    }                                                                                       \
    /* x[i] *= s[i] * c (x[i] *= c for s null), one register at a time */                \
    __attribute__((target(ISA))) inline void NAME##_scale(float* x, const float* s, float c, std::size_t n) noexcept { \
        constexpr std::size_t L = sizeof(V) / sizeof(float);                                \
        const V cv = V{} + c;                                                               \
        for (std::size_t i = 0; i < n; i += L)                                              \
            NAME##_store(x + i, NAME##_load(x + i) * (s ? NAME##_load(s + i) * cv : cv));   \
    }                                                                                       \
    __attribute__((target(ISA))) inline void NAME(float* x, std::size_t n) noexcept {       \
        constexpr std::size_t L = sizeof(V) / sizeof(float);                                \
        for (std::size_t i = 0; i < n; i += L) NAME##_store(x + i, fwht_in_register(NAME##_load(x + i))); \
        std::size_t h = L;                                                                  \
        for (; 8 * h <= n; h *= 8)                                                          \
            for (std::size_t i = 0; i < n; i += 8 * h)                                      \
                for (std::size_t j = i; j < i + h; j += L) {                                \
                    float* p = x + j;                                                       \
                    V v0 = NAME##_load(p), v1 = NAME##_load(p + h), v2 = NAME##_load(p + 2 * h); \
                    V v3 = NAME##_load(p + 3 * h), v4 = NAME##_load(p + 4 * h);             \
                    V v5 = NAME##_load(p + 5 * h), v6 = NAME##_load(p + 6 * h);             \
                    V v7 = NAME##_load(p + 7 * h);                                          \
                    NAME##_butterflies8(v0, v1, v2, v3, v4, v5, v6, v7);                    \
                    NAME##_store(p, v0), NAME##_store(p + h, v1), NAME##_store(p + 2 * h, v2); \
                    NAME##_store(p + 3 * h, v3), NAME##_store(p + 4 * h, v4);               \
                    NAME##_store(p + 5 * h, v5), NAME##_store(p + 6 * h, v6);               \
                    NAME##_store(p + 7 * h, v7);                                            \
                }                                                                           \
        if (4 * h <= n) {                                                                   \
            for (std::size_t j = 0; j < h; j += L) {                                        \
                float* p = x + j;                                                           \
                V v0 = NAME##_load(p), v1 = NAME##_load(p + h);                             \
                V v2 = NAME##_load(p + 2 * h), v3 = NAME##_load(p + 3 * h);                 \
                NAME##_butterfly(v0, v1), NAME##_butterfly(v2, v3);                         \
                NAME##_butterfly(v0, v2), NAME##_butterfly(v1, v3);                         \
                NAME##_store(p, v0), NAME##_store(p + h, v1);                               \
                NAME##_store(p + 2 * h, v2), NAME##_store(p + 3 * h, v3);                   \
            }                                                                               \
        } else if (2 * h <= n) {                                                            \
            for (std::size_t j = 0; j < h; j += L) {                                        \
                V a = NAME##_load(x + j), b = NAME##_load(x + j + h);                       \
                NAME##_butterfly(a, b);                                                     \
                NAME##_store(x + j, a);                                                     \
                NAME##_store(x + j + h, b);                                                 \
            }                                                                               \
        }                                                                                   \
    }                                                                                       \
    /* dst[i] = v * (s[i] * c) (v * c for s null) where `scale`, else v: the store of */   \
    /* NAME##_scale's product, made as the value leaves the registers */                   \
    LOWBIT_FWHT_TGT(ISA) void NAME##_put(float* dst, std::size_t i, V v, bool scale, const float* s, V cv) { \
        if (scale) v = v * (s ? NAME##_load(s + i) * cv : cv);                              \
        NAME##_store(dst + i, v);                                                           \
    }                                                                                       \
    /* dst = diag(s_out) c H diag(s_in) src, n >= the lanes, src and dst equal or */       \
    /* apart: the passes of NAME with src's load, finite test and sign product in the */   \
    /* first one and the scale in the stores of the last one (the same operations on */    \
    /* the same values as copy, NAME##_finite, NAME##_scale, NAME, NAME##_scale). */       \
    /* False if src holds a NaN or an Inf (dst is then written all the same). */           \
    __attribute__((target(ISA))) inline bool NAME##_rotate(const float* src, float* dst, std::size_t n, const float* s_in, \
                                                           const float* s_out, float c) noexcept { \
        constexpr std::size_t L = sizeof(V) / sizeof(float);                                \
        const V cv = V{} + c;                                                               \
        U acc = U{};                                                                        \
        for (std::size_t i = 0; i < n; i += L) {                                            \
            U u;                                                                            \
            std::memcpy(&u, src + i, sizeof u);                                             \
            acc |= (u & 0x7f800000u) + 0x00800000u;                                         \
            V v = NAME##_load(src + i);                                                     \
            if (s_in) v = v * NAME##_load(s_in + i);                                        \
            NAME##_put(dst, i, fwht_in_register(v), n == L, s_out, cv);                     \
        }                                                                                   \
        std::size_t h = L;                                                                  \
        for (; 8 * h <= n; h *= 8) {                                                        \
            const bool last = 8 * h == n;                                                   \
            for (std::size_t i = 0; i < n; i += 8 * h)                                      \
                for (std::size_t j = i; j < i + h; j += L) {                                \
                    V v0 = NAME##_load(dst + j), v1 = NAME##_load(dst + j + h);             \
                    V v2 = NAME##_load(dst + j + 2 * h), v3 = NAME##_load(dst + j + 3 * h); \
                    V v4 = NAME##_load(dst + j + 4 * h), v5 = NAME##_load(dst + j + 5 * h); \
                    V v6 = NAME##_load(dst + j + 6 * h), v7 = NAME##_load(dst + j + 7 * h); \
                    NAME##_butterflies8(v0, v1, v2, v3, v4, v5, v6, v7);                    \
                    NAME##_put(dst, j, v0, last, s_out, cv);                                \
                    NAME##_put(dst, j + h, v1, last, s_out, cv);                            \
                    NAME##_put(dst, j + 2 * h, v2, last, s_out, cv);                        \
                    NAME##_put(dst, j + 3 * h, v3, last, s_out, cv);                        \
                    NAME##_put(dst, j + 4 * h, v4, last, s_out, cv);                        \
                    NAME##_put(dst, j + 5 * h, v5, last, s_out, cv);                        \
                    NAME##_put(dst, j + 6 * h, v6, last, s_out, cv);                        \
                    NAME##_put(dst, j + 7 * h, v7, last, s_out, cv);                        \
                }                                                                           \
        }                                                                                   \
        if (4 * h <= n) {                                                                   \
            for (std::size_t j = 0; j < h; j += L) {                                        \
                V v0 = NAME##_load(dst + j), v1 = NAME##_load(dst + j + h);                 \
                V v2 = NAME##_load(dst + j + 2 * h), v3 = NAME##_load(dst + j + 3 * h);     \
                NAME##_butterfly(v0, v1), NAME##_butterfly(v2, v3);                         \
                NAME##_butterfly(v0, v2), NAME##_butterfly(v1, v3);                         \
                NAME##_put(dst, j, v0, true, s_out, cv), NAME##_put(dst, j + h, v1, true, s_out, cv); \
                NAME##_put(dst, j + 2 * h, v2, true, s_out, cv);                            \
                NAME##_put(dst, j + 3 * h, v3, true, s_out, cv);                            \
            }                                                                               \
        } else if (2 * h <= n) {                                                            \
            for (std::size_t j = 0; j < h; j += L) {                                        \
                V a = NAME##_load(dst + j), b = NAME##_load(dst + j + h);                   \
                NAME##_butterfly(a, b);                                                     \
                NAME##_put(dst, j, a, true, s_out, cv), NAME##_put(dst, j + h, b, true, s_out, cv); \
            }                                                                               \
        }                                                                                   \
        unsigned r = 0;                                                                     \
        for (std::size_t k = 0; k < L; ++k) r |= acc[k];                                    \
        return !(r & 0x80000000u);                                                          \
    }

LOWBIT_FWHT_PASSES(fwht_avx2, fwht_v8, fwht_u8, "avx2")
LOWBIT_FWHT_PASSES(fwht_avx512, fwht_v16, fwht_u16, "avx2,avx512f")

// detail::all_finite's x86 form for n a multiple of 16 (AVX-512) or 8: the
// portable 16-byte loads of values the caller has just written with wider
// stores wait for those stores (0.3 us per 2048 values alone, ~0.8 after a
// copy). -1 where it does not apply.
inline int all_finite_x86(const float* x, std::size_t n) noexcept {
    const std::size_t lanes = fwht_lanes();
    if (lanes == 16 && n % 16 == 0) return fwht_avx512_finite(x, n);
    if (lanes >= 8 && n % 8 == 0) return fwht_avx2_finite(x, n);
    return -1;
}

// detail::rotate_block's x86 form: x <- diag(s_out) c H diag(s_in) x, the
// sign and scale passes at the transform's width. (Done by the portable
// 4-float passes, they cost more than the transform: on the 2-core Zen 5 a
// 16-byte load of what a 64-byte store just wrote waits for the store,
// 2.4 us per 2048 values against 0.8 here.) False where the active arch has
// neither width or n is below it: the caller runs the portable form.
inline bool rotate_block_x86(float* x, std::size_t n, const float* s_in, const float* s_out, float c) noexcept {
    const std::size_t lanes = fwht_lanes();
    if (lanes == 16 && n >= 16) {
        if (s_in) fwht_avx512_scale(x, s_in, 1.0f, n);
        fwht_avx512(x, n);
        fwht_avx512_scale(x, s_out, c, n);
        return true;
    }
    if (lanes >= 8 && n >= 8) {
        if (s_in) fwht_avx2_scale(x, s_in, 1.0f, n);
        fwht_avx2(x, n);
        fwht_avx2_scale(x, s_out, c, n);
        return true;
    }
    return false;
}

// detail::rotate_block_from's x86 form (fwht_avx512_rotate, fwht_avx2_rotate):
// 1 if src is finite, 0 if not (dst written either way), -1 where the active
// arch has neither width or n is below it (the caller runs the portable form).
inline int rotate_from_x86(const float* src, float* dst, std::size_t n, const float* s_in, const float* s_out, float c) noexcept {
    const std::size_t lanes = fwht_lanes();
    if (lanes == 16 && n >= 16) return fwht_avx512_rotate(src, dst, n, s_in, s_out, c);
    if (lanes >= 8 && n >= 8) return fwht_avx2_rotate(src, dst, n, s_in, s_out, c);
    return -1;
}

#undef LOWBIT_FWHT_PASSES
#undef LOWBIT_FWHT_TGT

}  // namespace x86
}  // namespace detail
}  // namespace lowbit
