// A user's own `#include <immintrin.h>` after lowbit's headers still declares
// every intrinsic. With GCC 12, lowbit includes only the sub-headers its
// kernels use, under <immintrin.h>'s guard macro, and takes the guard away
// after (core/detail/x86_intrin.hpp says why); this TU is built header-only
// (tests/CMakeLists.txt) so that lowbit.hpp reaches that include, and uses
// intrinsics of five sub-headers lowbit.hpp leaves out: GFNI (run where the
// CPU has it, against a scalar GF(2^8) product), AVX512-FP16 (compiled
// only: no CPU here has it), and AVX512VL, AVX512BW's and AVX512-BF16's VL
// parts (run where the CPU has them, against scalar sums, masks and a scalar
// bf16 rounding; lowbit declares two of their types itself, which they then
// declare again). x86 with GCC or Clang only (tests/CMakeLists.txt).
#include <lowbit/lowbit.hpp>

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12 && (defined(__x86_64__) || defined(__i386__))
// What this test is about: lowbit's narrower include took place, and left
// neither the guard nor the sub-headers tested below behind.
#if defined(_IMMINTRIN_H_INCLUDED)
#error "lowbit.hpp left <immintrin.h>'s guard macro defined"
#endif
#if !defined(_AVX2INTRIN_H_INCLUDED)
#error "lowbit.hpp did not include the x86 kernels' intrinsics (header-only build expected)"
#endif
#if defined(_GFNIINTRIN_H_INCLUDED) || defined(__AVX512FP16INTRIN_H_INCLUDED) || \
    defined(_AVX512VLINTRIN_H_INCLUDED) || defined(_AVX512BF16VLINTRIN_H_INCLUDED) || \
    defined(_AVX512VLBWINTRIN_H_INCLUDED)
#error "lowbit.hpp included a sub-header this test expects it to leave out"
#endif
#endif

#include <doctest/doctest.h>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace {

__attribute__((target("gfni,sse2"))) void gf_mul16(const std::uint8_t* a, const std::uint8_t* b, std::uint8_t* out) {
    const __m128i va = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a));
    const __m128i vb = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm_gf2p8mul_epi8(va, vb));
}

// Product in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1 (GFNI's polynomial).
std::uint8_t gf_mul_ref(std::uint8_t a, std::uint8_t b) {
    unsigned p = 0, x = a;
    for (int i = 0; i < 8; ++i) {
        if ((b >> i) & 1u) p ^= x;
        x <<= 1;
        if (x & 0x100u) x ^= 0x11bu;
    }
    return static_cast<std::uint8_t>(p);
}

// Clang 14's <immintrin.h> declares these only when the build enables AVX512-FP16.
#if !defined(__clang__)
#define LOWBIT_TEST_FP16 1
__attribute__((target("avx512fp16"))) void add_ph32(const void* a, const void* b, void* out) {
    _mm512_storeu_ph(out, _mm512_add_ph(_mm512_loadu_ph(a), _mm512_loadu_ph(b)));
}
#endif

// AVX512VL (<avx512vlintrin.h>): a masked 8-lane add; and AVX512BW's
// 256-bit form (<avx512vlbwintrin.h>, which lowbit.hpp leaves to the
// ggml-block kernels' x86_intrin_vlbw.hpp): a masked byte move.
__attribute__((target("avx512f,avx512vl"))) void mask_add8(const float* src, unsigned mask, const float* a,
                                                         const float* b, float* out) {
    const __m256 r = _mm256_mask_add_ps(_mm256_loadu_ps(src), static_cast<__mmask8>(mask), _mm256_loadu_ps(a),
                                        _mm256_loadu_ps(b));
    _mm256_storeu_ps(out, r);
}
__attribute__((target("avx512f,avx512vl,avx512bw"))) void mask_bytes32(std::uint32_t mask, const std::uint8_t* a,
                                                                     std::uint8_t* out) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_maskz_mov_epi8(static_cast<__mmask32>(mask), v));
}

// AVX512-BF16 with VL (<avx512bf16vlintrin.h>): 8 floats to bf16, returned
// as the __m128bh that header declares.
__attribute__((target("avx512f,avx512vl,avx512bf16"))) __m128bh to_bf16x8(const float* x) {
    return _mm256_cvtneps_pbh(_mm256_loadu_ps(x));
}

// Round to nearest even, for finite normal x (what vcvtneps2bf16 does there).
std::uint16_t bf16_ref(float x) {
    std::uint32_t u;
    std::memcpy(&u, &x, sizeof u);
    return static_cast<std::uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

}  // namespace

TEST_CASE("intrinsics: <immintrin.h> after lowbit.hpp runs AVX512VL and AVX512-BF16 VL intrinsics") {
    if (!__builtin_cpu_supports("avx512vl")) {
        MESSAGE("no AVX512VL on this CPU: its intrinsics compiled, not run");
        return;
    }
    float src[8], a[8], b[8], out[8];
    for (unsigned i = 0; i < 8; ++i) {
        src[i] = -1.0f - static_cast<float>(i);
        a[i] = 0.5f * static_cast<float>(i);
        b[i] = 100.0f + static_cast<float>(i);
    }
    for (unsigned mask = 0; mask < 256; ++mask) {
        mask_add8(src, mask, a, b, out);
        for (unsigned i = 0; i < 8; ++i) REQUIRE(out[i] == (((mask >> i) & 1u) ? a[i] + b[i] : src[i]));
    }
    if (__builtin_cpu_supports("avx512bw")) {
        std::uint8_t bytes[32], moved[32];
        for (unsigned i = 0; i < 32; ++i) bytes[i] = static_cast<std::uint8_t>(7 * i + 1);
        for (std::uint32_t mask : {0u, 1u, 0x80000000u, 0xffffffffu, 0x5a5aa5a5u, 0x0f0f0f0fu, 0x12345678u}) {
            mask_bytes32(mask, bytes, moved);
            for (unsigned i = 0; i < 32; ++i) REQUIRE(moved[i] == (((mask >> i) & 1u) ? bytes[i] : 0));
        }
    }

    if (!__builtin_cpu_supports("avx512bf16")) {
        MESSAGE("no AVX512-BF16 on this CPU: _mm256_cvtneps_pbh compiled, not run");
        return;
    }
    // Normal floats whose low 16 bits cover the halfway cases (0x8000, odd
    // and even kept bit) and values on either side of them; both signs.
    const std::uint32_t lows[] = {0x0000u, 0x0001u, 0x7fffu, 0x8000u, 0x8001u, 0xffffu, 0x4000u, 0xc000u};
    for (std::uint32_t high = 0x0080u; high < 0xff80u; high += 0x00b3u) {  // exponents 1..254, both signs
        if ((high & 0x7f80u) == 0 || (high & 0x7f80u) == 0x7f80u) continue;  // zero/denormal, Inf/NaN exponents
        float x[8];
        for (unsigned i = 0; i < 8; ++i) {
            const std::uint32_t u = (high << 16) | lows[i];
            std::memcpy(&x[i], &u, sizeof u);
        }
        const __m128bh r = to_bf16x8(x);
        std::uint16_t got[8];
        std::memcpy(got, &r, sizeof got);
        for (unsigned i = 0; i < 8; ++i) REQUIRE(got[i] == bf16_ref(x[i]));
    }
}

TEST_CASE("intrinsics: <immintrin.h> after lowbit.hpp declares what lowbit left out") {
#if defined(LOWBIT_TEST_FP16)
    // Compiled is the check for AVX512-FP16; its address keeps the function.
    void (*volatile fp16)(const void*, const void*, void*) = add_ph32;
    CHECK(fp16 != nullptr);
#endif

    if (!__builtin_cpu_supports("gfni")) {
        MESSAGE("no GFNI on this CPU: gf2p8mulb compiled, not run");
        return;
    }
    std::uint8_t a[16], b[16], out[16];
    for (unsigned r = 0; r < 256; ++r) {  // all 65536 pairs (a, b)
        for (unsigned i = 0; i < 16; ++i) a[i] = static_cast<std::uint8_t>(r);
        for (unsigned round = 0; round < 16; ++round) {
            for (unsigned i = 0; i < 16; ++i) b[i] = static_cast<std::uint8_t>(16 * round + i);
            gf_mul16(a, b, out);
            for (unsigned i = 0; i < 16; ++i) REQUIRE(out[i] == gf_mul_ref(a[i], b[i]));
        }
    }
}
#endif
