// lowbit/kernels/detail/arm/kernels.hpp — the AArch64 kernel copies
// (docs/kernels.md, "ARM kernels"): body.inl (plain layout), tiled_body.inl
// (tiled layout) and tiled_kquant_body.inl (tiled K-quant layout) stamped out
// twice,
//   neon     plain Armv8-A NEON (every AArch64 CPU): int8 dot with widening
//            multiplies (SMULL/SMLAL) and pairwise adds; the f32 path;
//   neondot  the Armv8.2 dot product SDOT (vdotq_s32), compiled with a
//            function-level target attribute, so a baseline AArch64 build holds
//            both copies and runs SDOT only where the CPU reports HWCAP_ASIMDDP.
// Included only by kernels/detail/entries.hpp, and only on AArch64 with GCC or
// Clang; on any other target this header is empty.
//
// How the dotprod copy is compiled, per compiler:
// - the translation unit already targets dotprod (__ARM_FEATURE_DOTPROD, e.g.
//   -march=armv8.4-a or -mcpu=neoverse-n1): no attribute, the vdotq_s32 intrinsic;
// - Clang: target("dotprod") adds the feature to whatever the command line has;
//   its arm_neon.h (Clang 14) declares vdotq_s32 only under
//   __ARM_FEATURE_DOTPROD, so the instruction is written as inline assembly;
// - GCC: target("+dotprod") would keep the command-line arch, but GCC 12 then
//   announces ".arch armv8-a+dotprod", which binutils 2.40 rejects for SDOT; so
//   the attribute names a whole arch, "arch=armv8.2-a+dotprod", plus the
//   command-line extensions that have a feature macro (crypto, fp16), because
//   GCC refuses to inline a NEON intrinsic compiled for features the calling
//   function lacks. Command lines with other extensions (Armv8.3 JCVT/complex,
//   SVE, ...) but without dotprod get no dotprod copy: arch::neondot then runs
//   the neon copy. Define LOWBIT_NO_ARM_DOTPROD to drop the copy by hand.
#pragma once

#if defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))

#include <arm_neon.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../blocks.hpp"
#include "../tiled_blocks.hpp"
#include "../tiled_kquant_blocks.hpp"

#if defined(LOWBIT_NO_ARM_DOTPROD)
#define LOWBIT_ARM_DOT_COPY 0
#elif defined(__ARM_FEATURE_DOTPROD)
#define LOWBIT_ARM_DOT_COPY 1
#define LOWBIT_ARM_DOT_ATTR
#define LOWBIT_ARM_DOT_ASM 0
#elif defined(__clang__)
#define LOWBIT_ARM_DOT_COPY 1
#define LOWBIT_ARM_DOT_ATTR __attribute__((target("dotprod")))
#define LOWBIT_ARM_DOT_ASM 1
#elif defined(__ARM_FEATURE_JCVT) || defined(__ARM_FEATURE_COMPLEX) || defined(__ARM_FEATURE_SVE) ||            \
    defined(__ARM_FEATURE_FP16_FML) || defined(__ARM_FEATURE_SHA3) || defined(__ARM_FEATURE_SM3) ||           \
    defined(__ARM_FEATURE_MATMUL_INT8) || defined(__ARM_FEATURE_BF16_VECTOR_ARITHMETIC) ||                    \
    defined(__ARM_FEATURE_FRINT) || defined(__ARM_FEATURE_RNG) || defined(__ARM_FEATURE_MEMORY_TAGGING)
#define LOWBIT_ARM_DOT_COPY 0
#else
#define LOWBIT_ARM_DOT_COPY 1
#if defined(__ARM_FEATURE_CRYPTO)
#define LOWBIT_ARM_DOT_CRYPTO "+crypto"
#else
#define LOWBIT_ARM_DOT_CRYPTO ""
#endif
#if defined(__ARM_FEATURE_FP16_SCALAR_ARITHMETIC)
#define LOWBIT_ARM_DOT_FP16 "+fp16"
#else
#define LOWBIT_ARM_DOT_FP16 ""
#endif
#define LOWBIT_ARM_DOT_ATTR \
    __attribute__((target("arch=armv8.2-a+dotprod" LOWBIT_ARM_DOT_CRYPTO LOWBIT_ARM_DOT_FP16)))
#define LOWBIT_ARM_DOT_ASM 0
#endif

namespace lowbit {
namespace kdetail {

// Tables of the B = 3, 5, 6, 7 unpacker (body.inl). Code i of a 16-code half
// starts at bit i*B, i.e. at byte o = i*B/8, bit s = i*B%8. A table lookup puts
// bytes (o, o+1) in 16-bit lane i (little endian: byte o is the low half), a
// right shift by s (vshlq_u16 by -s) aligns the code, the narrowing keeps the
// low byte. Lanes 0..7 and 8..15 are two 8-lane registers; codes 8..15 repeat
// the pattern of 0..7 B bytes further.
template <int B>
struct arm_unpack_table {
    std::uint8_t idx_lo[16] = {};
    std::uint8_t idx_hi[16] = {};
    std::int16_t shr[8] = {};
    constexpr arm_unpack_table() noexcept {
        for (int i = 0; i < 8; ++i) {
            const int bit = i * B, o = bit / 8;
            idx_lo[2 * i] = static_cast<std::uint8_t>(o);
            idx_lo[2 * i + 1] = static_cast<std::uint8_t>(o + 1);
            idx_hi[2 * i] = static_cast<std::uint8_t>(o + B);
            idx_hi[2 * i + 1] = static_cast<std::uint8_t>(o + B + 1);
            shr[i] = static_cast<std::int16_t>(-(bit % 8));
        }
    }
};

// Small groups (blocks.hpp): a table lookup (vqtbl1q_u8) spreads a block's 4
// quarter scales over its codes: bytes 4p .. 4p + 3 pick the float of the
// quarter of arranged position p within its block.
template <int B>
struct arm_quarter_bytes {
    std::uint8_t idx[4 * chunk] = {};
    constexpr arm_quarter_bytes() noexcept {
        const quarter_map<B> qm{};
        for (int p = 0; p < 256; ++p)
            for (int e = 0; e < 4; ++e) idx[4 * p + e] = static_cast<std::uint8_t>((qm.at[p] % 4) * 4 + e);
    }
};

// Bit masks of the B = 1 unpacker: register k, byte t tests bit 4k + t/4.
struct arm_bit_masks {
    std::uint8_t m[2][16] = {};
    constexpr arm_bit_masks() noexcept {
        for (int k = 0; k < 2; ++k)
            for (int t = 0; t < 16; ++t) m[k][t] = static_cast<std::uint8_t>(1u << (4 * k + t / 4));
    }
};

#define LOWBIT_ARM_NS neon
#define LOWBIT_ARM_TGT
#define LOWBIT_ARM_DOT 0
#include "body.inl"
#include "tiled_body.inl"
#include "tiled_kquant_body.inl"
#undef LOWBIT_ARM_NS
#undef LOWBIT_ARM_TGT
#undef LOWBIT_ARM_DOT

#if LOWBIT_ARM_DOT_COPY
#define LOWBIT_ARM_NS neondot
#define LOWBIT_ARM_TGT LOWBIT_ARM_DOT_ATTR
#define LOWBIT_ARM_DOT 1
#include "body.inl"
#include "tiled_body.inl"
#include "tiled_kquant_body.inl"
#undef LOWBIT_ARM_NS
#undef LOWBIT_ARM_TGT
#undef LOWBIT_ARM_DOT
#else
namespace neondot = neon;  // no dotprod copy in this build (see the top of this file)
#endif

}  // namespace kdetail
}  // namespace lowbit

#endif  // __aarch64__ with GCC or Clang
