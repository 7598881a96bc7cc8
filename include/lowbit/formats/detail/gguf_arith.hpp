// lowbit/formats/detail/gguf_arith.hpp — the float arithmetic every GGUF block
// codec shares: products that are never fused, ggml's rounding, f16 fields.
//
// Why the arithmetic looks fussy. The scale searches of the K-quants compare
// sums of products, so a single fused multiply-add (one rounding instead of
// two) can flip a decision and change the bytes. ggml's reference bytes come
// from code compiled without contraction. Two guards keep that true here
// whatever the user's flags (-O3 -march=native, -ffp-contract=fast):
//   1. every product that reaches an addition goes through detail::mul(),
//      which hides the product from the optimiser (core/fp_barrier.hpp), so
//      no FMA can be formed (clang ignores pragmas under -ffp-contract=fast,
//      so this is the guard that always holds);
//   2. every codec body is compiled with contraction off by pragma
//      (fp_contract_off_begin.inl / _end.inl), pushed and popped so nothing
//      leaks into the includer.
// -ffast-math (reassociation, finite-math) is not supported: it changes the
// order of the sums, and no ggml build produces its bytes either.
#pragma once

#include <climits>
#include <cmath>
#include <cstdint>

#include "../../core/fp_barrier.hpp"
#include "../../core/half.hpp"

#include "fp_contract_off_begin.inl"

namespace lowbit {
namespace gguf {
namespace detail {

// ggml treats a group whose largest magnitude is below this as all zeros.
constexpr float group_max_eps = 1e-15f;

// The one FP-contraction barrier of the library (guard 1 above).
using lowbit::detail::opaque;
// a * b rounded to float on its own, never fused into a neighbouring add.
// Always inlined: GCC does not inline a plain function with float code into
// the target("avx2") kernels, and a call per block term costs a vzeroupper
// and spills (~10 % of the lattice i-quants' AVX2 time).
LOWBIT_ALWAYS_INLINE float mul(float a, float b) noexcept { return opaque(a * b); }

// Round to nearest, ties to even, by the magic-number trick ggml uses: adding
// 1.5 * 2^23 leaves round(v) in the low mantissa bits. Valid for |v| < 2^22.
inline int nearest_int(float v) noexcept {
    const float biased = opaque(v) + 12582912.0f;
    std::uint32_t bits;
    std::memcpy(&bits, &biased, sizeof bits);
    return static_cast<int>(bits & 0x007fffffu) - 0x00400000;
}

// C's float -> int conversion (truncation), made total: out-of-range and NaN
// give INT_MIN, as x86's cvttss2si does. Only reachable with degenerate scales.
inline int truncate_to_int(float v) noexcept {
    if (v > -2147483904.0f && v < 2147483648.0f) return static_cast<int>(v);
    return INT_MIN;
}

inline int clamp_int(int v, int lo, int hi) noexcept { return v < lo ? lo : (v > hi ? hi : v); }

inline float to_f32(std::uint16_t h) noexcept { return f16_to_f32(h); }
inline std::uint16_t to_f16(float f) noexcept { return f32_to_f16(f); }

}  // namespace detail
}  // namespace gguf
}  // namespace lowbit

#include "fp_contract_off_end.inl"
