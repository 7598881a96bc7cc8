// lowbit/kernels/detail/x86/kernels.hpp — the x86 kernel copies, one namespace
// per instruction set, each function compiled for its set with
// __attribute__((target)) (docs/kernels.md, "Dispatch"). Included only by
// kernels/detail/entries.hpp, and only on x86 with GCC or Clang.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../../../core/detail/x86_intrin.hpp"
#include "../blocks.hpp"
#include "../tiled_blocks.hpp"
#include "../tiled_kquant_blocks.hpp"

namespace lowbit {
namespace kdetail {

// Byte-shuffle and multiplier tables of the B = 3, 5, 6, 7 unpacker (body.inl):
// code i of a 16-code half starts at bit i*B; lane i of the 16-bit view gets
// bytes (o, o+1) with o = i*B/8 and is multiplied by 2^(8 - i*B%8). Codes 8..15
// repeat the pattern of 0..7 shifted by B bytes.
template <int B>
struct unpack_table {
    alignas(32) std::uint8_t shuf_a[32] = {};
    alignas(32) std::uint8_t shuf_b[32] = {};
    alignas(32) std::uint16_t mul[16] = {};
    constexpr unpack_table() noexcept {
        for (int lane = 0; lane < 2; ++lane)
            for (int i = 0; i < 8; ++i) {
                const int bit = i * B, o = bit / 8, s = bit % 8;
                shuf_a[lane * 16 + 2 * i] = static_cast<std::uint8_t>(o);
                shuf_a[lane * 16 + 2 * i + 1] = static_cast<std::uint8_t>(o + 1);
                shuf_b[lane * 16 + 2 * i] = static_cast<std::uint8_t>(o + B);
                shuf_b[lane * 16 + 2 * i + 1] = static_cast<std::uint8_t>(o + B + 1);
                mul[lane * 8 + i] = static_cast<std::uint16_t>(1u << (8 - s));
            }
    }
};

#define LOWBIT_X86_NS avx2
#define LOWBIT_X86_ZMM 0
#define LOWBIT_TGT __attribute__((target("avx2,fma,f16c")))
#define LOWBIT_X86_DOT 0
#include "body.inl"
#include "tiled_body.inl"
#include "tiled_kquant_body.inl"
#undef LOWBIT_X86_NS
#undef LOWBIT_TGT
#undef LOWBIT_X86_DOT
#undef LOWBIT_X86_ZMM

#define LOWBIT_X86_NS avx512
#define LOWBIT_X86_ZMM 1
#define LOWBIT_TGT __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq")))
#define LOWBIT_X86_DOT 0
#include "body.inl"
#include "tiled_body.inl"
#include "tiled_kquant_body.inl"
#undef LOWBIT_X86_NS
#undef LOWBIT_TGT
#undef LOWBIT_X86_DOT
#undef LOWBIT_X86_ZMM

#define LOWBIT_X86_NS avxvnni
#define LOWBIT_X86_ZMM 0
#define LOWBIT_TGT __attribute__((target("avx2,fma,f16c,avxvnni")))
#define LOWBIT_X86_DOT 1
#include "body.inl"
#include "tiled_body.inl"
#include "tiled_kquant_body.inl"
#undef LOWBIT_X86_NS
#undef LOWBIT_TGT
#undef LOWBIT_X86_DOT
#undef LOWBIT_X86_ZMM

#define LOWBIT_X86_NS avx512vnni
#define LOWBIT_X86_ZMM 1
#define LOWBIT_TGT __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))
#define LOWBIT_X86_DOT 2
#include "body.inl"
#include "tiled_body.inl"
#include "tiled_kquant_body.inl"
#undef LOWBIT_X86_NS
#undef LOWBIT_TGT
#undef LOWBIT_X86_DOT
#undef LOWBIT_X86_ZMM

}  // namespace kdetail
}  // namespace lowbit
