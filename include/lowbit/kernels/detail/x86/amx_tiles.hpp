// lowbit/kernels/detail/x86/amx_tiles.hpp — the few AMX tile operations the
// int8 GEMM body uses (x86/amx_body.hpp), behind a small interface so that the
// same body runs on the hardware (amx_hw, here) or on the scalar model of the
// instructions (amx_emulated, tests/amx_emulated.hpp: test code, on CPUs
// without AMX). docs/kernels.md, "AMX".
//
// The interface (instance members; tile numbers are template arguments because
// the instructions encode them):
//   configure(const amx_tile_config&)   ldtilecfg
//   release()                           tilerelease
//   zero<T>()                           tilezero tmmT
//   load<T>(p, stride)                  tileloaddT: row r from p + r*stride
//   store<T>(p, stride)                 tilestored
//   dp_su<C, A, B>()                    tdpbsud: C += A (s8) . B (u8)
//   dp_ss<C, A, B>(), dp_us<C, A, B>()  tdpbssd, tdpbusd (for the ggml blocks; unused by the tiled body)
//   dp_bf16<C, A, B>()                  tdpbf16ps: C += A (bf16 pairs) . B (bf16 pairs), f32 (x86/amx_bf16_body.hpp;
//                                       AMX-BF16: run only where cpu().amx_bf16, which kernel_entry::needs checks)
// The hardware forms are inline asm (the intrinsics need the tile number as a
// literal token); each carries a "memory" clobber where it reads or writes
// memory so the compiler keeps the stores into the unpack buffer before the load.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace lowbit {
namespace kdetail {

// The 64-byte operand of ldtilecfg, palette 1 (Intel SDM vol. 1, "Tile configuration"):
// byte 0 palette, byte 1 start_row, bytes 16-47 colsb[16] (bytes per row), bytes 48-63
// rows[16]. Palette 1 has 8 tiles of at most 16 rows x 64 bytes.
struct alignas(64) amx_tile_config {
    std::uint8_t palette = 1;
    std::uint8_t start_row = 0;
    std::uint8_t reserved[14] = {};
    std::uint16_t colsb[16] = {};
    std::uint8_t rows[16] = {};

    void set(int tile, int r, int bytes) noexcept {
        rows[tile] = static_cast<std::uint8_t>(r);
        colsb[tile] = static_cast<std::uint16_t>(bytes);
    }
};
static_assert(sizeof(amx_tile_config) == 64, "ldtilecfg reads 64 bytes");

constexpr int amx_max_rows = 16;      // palette 1
constexpr int amx_max_colsb = 64;     // palette 1
constexpr int amx_tile_count = 8;     // palette 1

#if defined(__GNUC__) || defined(__clang__)
#define LOWBIT_AMX_TGT __attribute__((target("amx-tile,amx-int8"), always_inline)) inline

// The real instructions. Only run where cpu().has(arch::amx): the OS granted
// the tile state (a tile instruction traps otherwise).
struct amx_hw {
    LOWBIT_AMX_TGT void configure(const amx_tile_config& c) noexcept { __asm__ volatile("ldtilecfg %0" ::"m"(c) : "memory"); }
    LOWBIT_AMX_TGT void release() noexcept { __asm__ volatile("tilerelease" ::: "memory"); }
    template <int T>
    LOWBIT_AMX_TGT void zero() noexcept {
        __asm__ volatile("tilezero %%tmm%c0" ::"i"(T));
    }
    template <int T>
    LOWBIT_AMX_TGT void load(const void* p, std::size_t stride) noexcept {
        __asm__ volatile("tileloadd (%0,%1,1), %%tmm%c2" ::"r"(p), "r"(stride), "i"(T) : "memory");
    }
    template <int T>
    LOWBIT_AMX_TGT void store(void* p, std::size_t stride) noexcept {
        __asm__ volatile("tilestored %%tmm%c2, (%0,%1,1)" ::"r"(p), "r"(stride), "i"(T) : "memory");
    }
    // AT&T order: sources reversed, destination last.
    template <int C, int A, int B>
    LOWBIT_AMX_TGT void dp_su() noexcept {
        __asm__ volatile("tdpbsud %%tmm%c2, %%tmm%c1, %%tmm%c0" ::"i"(C), "i"(A), "i"(B));
    }
    template <int C, int A, int B>
    LOWBIT_AMX_TGT void dp_ss() noexcept {
        __asm__ volatile("tdpbssd %%tmm%c2, %%tmm%c1, %%tmm%c0" ::"i"(C), "i"(A), "i"(B));
    }
    template <int C, int A, int B>
    LOWBIT_AMX_TGT void dp_us() noexcept {
        __asm__ volatile("tdpbusd %%tmm%c2, %%tmm%c1, %%tmm%c0" ::"i"(C), "i"(A), "i"(B));
    }
    // (The assembler needs no amx-bf16 target for the asm; keeping the amx-int8
    // target lets it inline into the shared pipeline, amx_body.hpp.)
    template <int C, int A, int B>
    LOWBIT_AMX_TGT void dp_bf16() noexcept {
        __asm__ volatile("tdpbf16ps %%tmm%c2, %%tmm%c1, %%tmm%c0" ::"i"(C), "i"(A), "i"(B));
    }
};
#undef LOWBIT_AMX_TGT
#endif

}  // namespace kdetail
}  // namespace lowbit
