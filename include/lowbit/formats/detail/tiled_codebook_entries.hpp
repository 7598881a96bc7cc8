// lowbit/formats/detail/tiled_codebook_entries.hpp — the kernel table's
// entries for weights of layout::tiled_codebook (formats/codebook.hpp's
// to_tiled; docs/formats.md, "The tiled codebook layout"): one family per
// index width (3, 4 bits), one entry per arch, the int8 path and the reference.
//
// The kernels are the tiled int8 bodies (kernels/detail/x86/tiled_body.inl,
// kernels/detail/arm/tiled_body.inl) of the symmetric 8-bit scheme with f16
// scales per 32, run with IB = the index width: each unpacked quad vector of
// indices goes through one byte shuffle (pshufb / vqtbl1q; with AVX512_VBMI,
// vpermb on 64-byte tables that also stand in for the unpack's masks) that
// gives the grid level as u8, G + 128; the symmetric 8-bit dot starts from
// -128 Q (Q: the block's activation code sum), so the block integer is
// exactly sum G q (on AArch64 the table holds G itself, the 8-bit body's
// u - 128 bytes).
// Activations are the tiled int8 path's (kdetail::prepare_ti8<8, symmetric>).
//
// The model (tcb_tile_scalar below), per block b and row r with f16 scale d:
//     A   = sum over the block of G[idx] * q          (exact integer)
//     acc = fma(float(A), d * dx_b, acc)                blocks in order
// which is kdetail::int8_tile_scalar of the 8-bit codes G + 128; every entry
// equals it bit for bit. Not the codebook layout's numbers: that one quantizes
// activations as Q8_0 (f16 steps) and sums blocks in eight lanes.
//
// Entries: the reference and the model (scalar); avx2's ymm body for avx2 and
// avx512 (AVX-512 without VNNI: a zmm copy of the 8-bit maddubs body would
// add to every build's compile time for CPUs that have little use for it, as
// the codebook layout's entries decided), avxvnni's, avx512vnni's for
// avx512vnni and amx, each of these two preceded by the same body with the
// AVX512_VBMI lookup (x86/tiled_codebook_vbmi.hpp; needs_avx512vbmi, named
// `.../avx512vnni+vbmi`); neon and neondot. sse2 falls back to the model,
// reported.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "../../core/half.hpp"
#include "../../kernels/arch.hpp"
#include "../../kernels/detail/entries.hpp"
#include "../../kernels/detail/tiled_reference.hpp"
#include "../../kernels/table.hpp"
#include "../../pack/tiled.hpp"
#include "../../weights/convert.hpp"
#include "../../weights/weights_view.hpp"
#if defined(LOWBIT_HAVE_X86_KERNELS)
#include "x86/tiled_codebook_vbmi.hpp"
#endif

namespace lowbit {
namespace codebook {
namespace detail {

// The scheme whose tiled int8 kernel runs after the lookup.
using tcb_scheme = scheme<8, per_group_dynamic, symmetric, scale_f16>;

// The grid as the kernels read it: u8 G + 128 (unused entries: 128, level 0).
struct tcb_table {
    alignas(16) std::uint8_t u8[16];
    explicit tcb_table(const std::int8_t* grid) noexcept {
        for (int i = 0; i < 16; ++i) u8[i] = static_cast<std::uint8_t>(grid[i] + 128);
    }
};

// The model: rows of tile t against M (<= 64) prepared activation rows.
template <int IB>
void tcb_tile_scalar(const tiled_view<tcb_scheme>& w, const std::int8_t* grid, std::size_t t, const kdetail::tact_i8* a,
                     std::size_t M, float* out, std::size_t ld) noexcept {
    const std::size_t r0 = t * tile_rows, n = w.rows - r0 < tile_rows ? w.rows - r0 : tile_rows;
    float acc[64][tile_rows] = {};
    std::uint8_t v[tile_quads][64];
    for (std::size_t b = 0; b < w.blocks; ++b) {
        lowbit::detail::planes_to_quads<IB>(w.codes + (t * w.blocks + b) * 64 * IB, v);
        for (std::size_t i = 0; i < n; ++i) {
            const float d = f16_to_f32(w.scales[(t * w.blocks + b) * tile_rows + i]);
            for (std::size_t m = 0; m < M; ++m) {
                const std::int8_t* q = a[m].q + b * tile_block;
                std::int32_t A = 0;
                for (std::size_t c = 0; c < tile_block; ++c) A += static_cast<std::int32_t>(grid[v[c / 4][4 * i + c % 4]]) * q[c];
                acc[m][i] = std::fma(static_cast<float>(A), d * a[m].dx[b], acc[m][i]);
            }
        }
    }
    for (std::size_t m = 0; m < M; ++m)
        for (std::size_t i = 0; i < n; ++i) out[m * ld + r0 + i] = acc[m][i];
}

// `*_bodies`: tiles(...) runs tiles [t0, t1); prep is the arch's tiled int8
// preparation (kdetail's bodies struct).
struct tcb_scalar_bodies {
    static constexpr arch a = arch::scalar;
    using prep = kdetail::scalar_bodies;
    template <int IB>
    static void tiles(const tiled_view<tcb_scheme>& w, const std::int8_t* grid, const tcb_table&, std::size_t t0, std::size_t t1,
                      const kdetail::tact_i8* acts, std::size_t M, float* y, std::size_t ldy) noexcept {
        for (std::size_t m = 0; m < M; m += 64)
            for (std::size_t t = t0; t < t1; ++t) tcb_tile_scalar<IB>(w, grid, t, acts + m, M - m < 64 ? M - m : 64, y + m * ldy, ldy);
    }
};
#if defined(LOWBIT_HAVE_X86_KERNELS) || defined(LOWBIT_HAVE_ARM_KERNELS)
#define LOWBIT_TCB_BODIES(NS, PREP)                                                                                             \
    struct tcb_##NS##_bodies {                                                                                                  \
        static constexpr arch a = arch::NS;                                                                                     \
        using prep = kdetail::PREP##_bodies;                                                                                    \
        template <int IB>                                                                                                       \
        static void tiles(const tiled_view<tcb_scheme>& w, const std::int8_t*, const tcb_table& tab, std::size_t t0,            \
                          std::size_t t1, const kdetail::tact_i8* acts, std::size_t M, float* y, std::size_t ldy) noexcept {     \
            kdetail::NS::ti8_tiles<tcb_scheme, IB>(w, t0, t1, acts, M, y, ldy, tab.u8);                                         \
        }                                                                                                                       \
    };
#if defined(LOWBIT_HAVE_X86_KERNELS)
LOWBIT_TCB_BODIES(avx2, avx2)
LOWBIT_TCB_BODIES(avxvnni, avx2)
LOWBIT_TCB_BODIES(avx512vnni, avx512)
#endif
#if defined(LOWBIT_HAVE_ARM_KERNELS)
LOWBIT_TCB_BODIES(neon, neon)
LOWBIT_TCB_BODIES(neondot, neon)
#endif
#undef LOWBIT_TCB_BODIES
#endif
#if defined(LOWBIT_HAVE_X86_KERNELS)
// The avx512vnni body with the VBMI lookup (x86/tiled_codebook_vbmi.hpp): its
// entries have arch avx512vnni (amx) and needs_avx512vbmi.
struct tcb_avx512vbmi_bodies {
    static constexpr arch a = arch::avx512vnni;
    using prep = kdetail::avx512_bodies;
    template <int IB>
    static void tiles(const tiled_view<tcb_scheme>& w, const std::int8_t*, const tcb_table& tab, std::size_t t0, std::size_t t1,
                      const kdetail::tact_i8* acts, std::size_t M, float* y, std::size_t ldy) noexcept {
        kdetail::avx512vbmi::ti8_tiles<tcb_scheme, IB>(w, t0, t1, acts, M, y, ldy, tab.u8);
    }
};
#endif

// Weight rows [r0, r1): whole tiles (r0 a multiple of 64).
template <int IB, class Bodies>
void tcb_rows(const matmul_call& c, std::size_t r0, std::size_t r1) {
    const tiled_view<tcb_scheme> w = lowbit::detail::tiled_of<tcb_scheme>(*c.w);
    const tcb_table tab(c.w->grid());
    Bodies::template tiles<IB>(w, c.w->grid(), tab, r0 / tile_rows, (r1 + tile_rows - 1) / tile_rows,
                               kdetail::tiled_i8_ws::at(c.ws, w.cols, c.M).acts, c.M, c.y, c.ldy);
}
// The reference: double sums of d * G * x, on the tiled layouts' one walk
// (kernels/detail/tiled_reference.hpp).
template <int IB>
void tcb_reference_rows(const matmul_call& c, std::size_t r0, std::size_t r1) {
    const tiled_view<tcb_scheme> w = lowbit::detail::tiled_of<tcb_scheme>(*c.w);
    const std::int8_t* grid = c.w->grid();
    lowbit::detail::tiled_code_reference_rows<IB>(
        c, r0, r1, w.rows, w.blocks, [&](std::size_t t, std::size_t b) { return w.codes + (t * w.blocks + b) * 64 * IB; },
        [&](std::size_t t, std::size_t i, std::size_t b, std::size_t, std::uint8_t u) {
            return static_cast<double>(f16_to_f32(w.scales[(t * w.blocks + b) * tile_rows + i])) * grid[u];
        });
}

template <int IB, arch K>
constexpr kernel_key tcb_key(matmul_path p) noexcept {
    kernel_key k;
    k.lay = layout::tiled_codebook;
    k.bits_or_type = IB;
    k.scale = scale_type::f16;
    k.path = p;
    k.a = K;
    return k;
}
template <int IB, class Bodies, arch K = Bodies::a>
constexpr kernel_entry tcb_entry(std::uint8_t needs = 0) noexcept {
    return {tcb_key<IB, K>(matmul_path::int8_dot), Bodies::a, &kdetail::tiled_i8_bytes<tcb_scheme>,
            &kdetail::tiled_i8_prepare<tcb_scheme::bits, tcb_scheme::is_symmetric, typename Bodies::prep>, &tcb_rows<IB, Bodies>, 64, needs};
}

template <int IB>
struct tcb_table_of {
    static constexpr kernel_entry entries[] = {
        {tcb_key<IB, arch::scalar>(matmul_path::reference), arch::scalar, nullptr, nullptr, &tcb_reference_rows<IB>, 64},
        tcb_entry<IB, tcb_scalar_bodies>(),
#if defined(LOWBIT_HAVE_X86_KERNELS)
        tcb_entry<IB, tcb_avx2_bodies>(),
        tcb_entry<IB, tcb_avx2_bodies, arch::avx512>(),
        tcb_entry<IB, tcb_avxvnni_bodies>(),
        // find_entry takes the first entry of a key whose needs the CPU meets:
        // the VBMI body, else the plain avx512vnni one after it.
        tcb_entry<IB, tcb_avx512vbmi_bodies>(needs_avx512vbmi),
        tcb_entry<IB, tcb_avx512vnni_bodies>(),
        tcb_entry<IB, tcb_avx512vbmi_bodies, arch::amx>(needs_avx512vbmi),
        tcb_entry<IB, tcb_avx512vnni_bodies, arch::amx>(),
#endif
#if defined(LOWBIT_HAVE_ARM_KERNELS)
        tcb_entry<IB, tcb_neon_bodies>(),
        tcb_entry<IB, tcb_neondot_bodies>(),
#endif
    };
    static constexpr lowbit::detail::kernel_family family() noexcept { return {entries, sizeof entries / sizeof entries[0]}; }
};

// The family of tiled codebook weights with `bits`-bit indices (count 0: none).
constexpr lowbit::detail::kernel_family tiled_codebook_family(int bits) noexcept {
    return bits == 4 ? tcb_table_of<4>::family() : bits == 3 ? tcb_table_of<3>::family() : lowbit::detail::kernel_family{};
}

}  // namespace detail
}  // namespace codebook
}  // namespace lowbit
