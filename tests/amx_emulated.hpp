// tests/amx_emulated.hpp — a scalar model of the AMX tile instructions of
// kernels/detail/x86/amx_tiles.hpp, with their exact semantics (Intel SDM,
// palette 1), so that the AMX GEMM body can be checked bit for bit on CPUs
// without AMX. Test code: the library never sees it; tests/test_amx.cpp
// instantiates the body with amx_emulated as its Tiles argument.
//
// Modelled: ldtilecfg (palette 0 = release, palette 1 = 8 tiles of at most 16
// rows x 64 bytes); tileloadd (rows x colsb bytes at p + r*stride, the rest of
// the tile zeroed); tilestored (rows x colsb bytes); tilezero; tdpb{ss,su,us}d:
// C[m][n] += sum over k < A.colsb/4 of the 4 byte products of A[m][4k..4k+3]
// and B[k][4n..4n+3], sign- or zero-extended per operand, summed in int32 with
// wrap-around; tdpbf16ps as the SDM's pseudo-code has it: per row m of C, two
// f32 chains from zero per output column n (element 0 of each bf16 pair of
// A row m times element 0 of B row k's pair n, over k in order; element 1
// likewise), each step an FMA rounded to nearest even with denormal inputs
// read as zero and a denormal result flushed to a zero of its sign, then
// C = C + (chain0 + chain1) with the same flushing; rows of C past C.rows and
// bytes past C.colsb zeroed. Operations
// the hardware faults on (#UD / #GP: an unconfigured tile, a bad config, shapes
// that do not chain, a tile used twice in one dot) are counted in faults() and
// leave the tiles as they were, so a test sees a wrong configuration.
#pragma once

#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include <lowbit/kernels/tiled_matmul.hpp>  // kdetail::amx_tile_config (x86/amx_tiles.hpp) where AMX code is built

#if defined(LOWBIT_HAVE_AMX_KERNELS)
#include "any_scale_view.hpp"  // kdetail::any_scale_view: the AMX bodies on the table's view

namespace lowbit {
namespace kdetail {

class amx_emulated {
public:
    // Faults since the program started (all instances, all threads).
    static std::atomic<unsigned>& faults() noexcept {
        static std::atomic<unsigned> n{0};
        return n;
    }
    // Dot products executed (all instances): shows a test that the tiles ran.
    static std::atomic<unsigned long>& dots() noexcept {
        static std::atomic<unsigned long> n{0};
        return n;
    }

    void configure(const amx_tile_config& c) noexcept {
        if (c.palette == 0) return release();
        bool ok = c.palette == 1 && c.start_row == 0;
        for (std::uint8_t r : c.reserved) ok = ok && r == 0;
        for (int t = 0; t < 16; ++t) {
            const bool used = c.rows[t] != 0 || c.colsb[t] != 0;
            if (!used) continue;
            ok = ok && t < amx_tile_count && c.rows[t] != 0 && c.colsb[t] != 0 && c.rows[t] <= amx_max_rows &&
                 c.colsb[t] <= amx_max_colsb;
        }
        if (!ok) return fault();
        cfg_ = c;
        configured_ = true;
        std::memset(tiles_, 0, sizeof tiles_);
    }
    void release() noexcept {
        cfg_ = amx_tile_config{};
        configured_ = false;
        std::memset(tiles_, 0, sizeof tiles_);
    }
    template <int T>
    void zero() noexcept {
        if (!valid(T)) return fault();
        std::memset(tiles_[T], 0, sizeof tiles_[T]);
    }
    template <int T>
    void load(const void* p, std::size_t stride) noexcept {
        if (!valid(T)) return fault();
        const auto* src = static_cast<const std::uint8_t*>(p);
        std::memset(tiles_[T], 0, sizeof tiles_[T]);
        for (int r = 0; r < cfg_.rows[T]; ++r) std::memcpy(tiles_[T][r], src + static_cast<std::size_t>(r) * stride, cfg_.colsb[T]);
    }
    template <int T>
    void store(void* p, std::size_t stride) const noexcept {
        if (!valid(T)) return fault();
        auto* dst = static_cast<std::uint8_t*>(p);
        for (int r = 0; r < cfg_.rows[T]; ++r) std::memcpy(dst + static_cast<std::size_t>(r) * stride, tiles_[T][r], cfg_.colsb[T]);
    }
    template <int C, int A, int B>
    void dp_su() noexcept { dot<C, A, B, true, false>(); }
    template <int C, int A, int B>
    void dp_ss() noexcept { dot<C, A, B, true, true>(); }
    template <int C, int A, int B>
    void dp_us() noexcept { dot<C, A, B, false, true>(); }
    template <int C, int A, int B>
    void dp_bf16() noexcept {
        if (!chains<C, A, B>()) return fault();
        dots().fetch_add(1, std::memory_order_relaxed);
        bf16_rows(C, A, B);
    }
    // DAZ / FTZ: a subnormal becomes a zero of its sign.
    static float flushed(float v) noexcept { return std::fpclassify(v) == FP_SUBNORMAL ? std::copysign(0.0f, v) : v; }

private:
    static void fault() noexcept { faults().fetch_add(1, std::memory_order_relaxed); }
    bool valid(int t) const noexcept { return configured_ && t >= 0 && t < amx_tile_count && cfg_.rows[t] != 0; }

    static std::int32_t byte_of(const std::uint8_t* row, int i, bool is_signed) noexcept {
        return is_signed ? static_cast<std::int32_t>(static_cast<std::int8_t>(row[i])) : static_cast<std::int32_t>(row[i]);
    }
    static float bf16_at(const std::uint8_t* row, int i) noexcept {
        const std::uint32_t u = static_cast<std::uint32_t>(row[2 * i] | (row[2 * i + 1] << 8)) << 16;
        float f;
        std::memcpy(&f, &u, sizeof f);
        return f;
    }
    // The shapes a dot product accepts (both kinds: 4-byte groups of A's row
    // against B's rows, B's row as wide as C's), distinct valid tiles.
    template <int C, int A, int B>
    bool chains() const noexcept {
        if (!valid(C) || !valid(A) || !valid(B) || C == A || C == B || A == B) return false;
        return cfg_.rows[A] == cfg_.rows[C] && cfg_.colsb[A] % 4 == 0 && cfg_.colsb[A] / 4 == cfg_.rows[B] &&
               cfg_.colsb[B] == cfg_.colsb[C] && cfg_.colsb[C] % 4 == 0;
    }
    template <int C, int A, int B, bool SignedA, bool SignedB>
    void dot() noexcept {
        if (!chains<C, A, B>()) return fault();
        dots().fetch_add(1, std::memory_order_relaxed);
        int8_rows(C, A, B, SignedA, SignedB);
    }
    // The two dot products' loops over the tiles c += a . b (shapes already
    // checked), out of line in tests/amx_emulated.cpp: under sanitizers that
    // TU is built -O1 (tests/CMakeLists.txt), still instrumented; at -O0 these
    // loops took most of test_amx's run.
    void int8_rows(int c, int a, int b, bool signed_a, bool signed_b) noexcept;
    void bf16_rows(int c, int a, int b) noexcept;

    amx_tile_config cfg_{};
    bool configured_ = false;
    alignas(64) std::uint8_t tiles_[amx_tile_count][amx_max_rows][amx_max_colsb] = {};
};

}  // namespace kdetail
}  // namespace lowbit
#endif
