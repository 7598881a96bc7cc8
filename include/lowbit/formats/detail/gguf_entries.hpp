// lowbit/formats/detail/gguf_entries.hpp — the kernel table's entries for
// weights in ggml blocks (kernels/table.hpp): one family per weight type,
// one entry per arch with a row kernel. Activations are quantized as ggml
// does (its vec_dot_type: Q8_0, Q8_1 or Q8_K, see gguf_dot.hpp) into the
// caller's workspace; each block's dot product is exact in integers, scaled
// in float and summed in block order (gguf_dot.hpp, gguf_dot_iq.hpp), so
// every entry gives the same bits.
//
// A type without a SIMD copy for an arch (simd_copies below) has no entry for
// it: the lookup walks fallback_arch down to the scalar model and matmul_info
// reports the fallback.
//
// Adding an arch: a `*_bodies` struct with row_dot for the types it covers
// (and rows_dot<C> for GEMM tiles, or tile = 1), its flag in simd_copies, and
// its entries in ggml_table below.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../../kernels/arch.hpp"
#include "../../kernels/table.hpp"
#include "../../weights/weights_view.hpp"
#include "../gguf_blocks.hpp"
#include "../gguf_types.hpp"
#include "gguf_dot.hpp"
#include "gguf_dot_iq.hpp"
#include "q8_activations.hpp"

#if defined(LOWBIT_X86) && (defined(__GNUC__) || defined(__clang__)) && !defined(LOWBIT_NO_X86_KERNELS)
#define LOWBIT_HAVE_GGUF_X86 1
#include "x86/gguf_dot_avx2.hpp"
#include "x86/gguf_dot_avx2_lattice.hpp"
#include "x86/gguf_dot_avx512.hpp"
// The VBMI + BITALG intrinsics (vpmultishiftqb, vpshufbitqmb) need GCC 8 / Clang 8.
#if (defined(__clang__) && __clang_major__ >= 8) || (!defined(__clang__) && __GNUC__ >= 8)
#define LOWBIT_HAVE_GGUF_VBMI 1
#include "x86/gguf_dot_avx512_vbmi.hpp"
#endif
#endif
#if defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(LOWBIT_NO_ARM_KERNELS)
#define LOWBIT_HAVE_GGUF_ARM 1
#include "arm/gguf_dot_neon.hpp"
#endif

namespace lowbit {
namespace gguf {
namespace detail {

// A `*_bodies` struct: row_dot (one weight row . one activation row) and
// `tile`, how many activation rows its rows_dot serves per weight row (1: it
// has none, and ggml_rows calls row_dot per pair).
struct gguf_scalar_bodies {
    static constexpr arch a = arch::scalar;
    static constexpr int tile = 1;
    template <class W, class A>
    static float row_dot(const W* w, const A* x, std::size_t nb) noexcept {
        return row_dot_scalar(w, x, nb);
    }
};
// NS: the arch's copies of row_dot (detail/x86/, detail/arm/).
#define LOWBIT_GGUF_BODIES(NS)                                                  \
    struct gguf_##NS##_bodies {                                                 \
        static constexpr arch a = arch::NS;                                     \
        static constexpr int tile = 1;                                          \
        template <class W, class A>                                             \
        static float row_dot(const W* w, const A* x, std::size_t nb) noexcept { \
            return NS::row_dot(w, x, nb);                                       \
        }                                                                       \
    };
// NS's bodies with its rows_dot<C>: C activation rows per weight row (GEMM).
#define LOWBIT_GGUF_TILED_BODIES(NS)                                                                         \
    struct gguf_##NS##_tiled_bodies : gguf_##NS##_bodies {                                                   \
        static constexpr int tile = 4;                                                                       \
        template <int C, class W, class A>                                                                   \
        static void rows_dot(const W* w, const A* x, std::size_t ldx, std::size_t nb, float* out) noexcept { \
            NS::rows_dot<C>(w, x, ldx, nb, out);                                                             \
        }                                                                                                    \
    };
#if defined(LOWBIT_HAVE_GGUF_X86)
LOWBIT_GGUF_BODIES(avx2)
LOWBIT_GGUF_BODIES(avx512)
LOWBIT_GGUF_BODIES(avx512vnni)
LOWBIT_GGUF_TILED_BODIES(avx512)
LOWBIT_GGUF_TILED_BODIES(avx512vnni)
#endif
#if defined(LOWBIT_HAVE_GGUF_VBMI)
// The lattice i-quants' AVX-512 VNNI + VBMI copies (x86/gguf_dot_avx512_vbmi.hpp):
// entries of arch avx512vnni that need AVX512_VBMI and AVX512_BITALG, before the plain ones.
// IQ2_XXS, IQ2_XS and IQ2_S read activations of their own layout
// (avx512vbmi::activation_block: Q8_K by 16-value group), the others Q8_K.
struct gguf_avx512vbmi_tiled_bodies {
    static constexpr arch a = arch::avx512vnni;
    static constexpr int tile = 4;
    template <class W, class A>
    static float row_dot(const W* w, const A* x, std::size_t nb) noexcept {
        return avx512vbmi::row_dot(w, x, nb);
    }
    template <int C, class W, class A>
    static void rows_dot(const W* w, const A* x, std::size_t ldx, std::size_t nb, float* out) noexcept {
        avx512vbmi::rows_dot<C>(w, x, ldx, nb, out);
    }
};
#endif
#if defined(LOWBIT_HAVE_GGUF_ARM)
LOWBIT_GGUF_BODIES(neon)
LOWBIT_GGUF_BODIES(neondot)
#endif
#undef LOWBIT_GGUF_BODIES
#undef LOWBIT_GGUF_TILED_BODIES

// Weight rows [r0, r1) against every activation row. With a tile of C rows:
// C activation rows at a time, each against every weight row of the task, so
// the task's weight rows are re-read from cache while the C activation rows
// stay in L1 (instead of all M activation rows streamed once per weight row).
template <int C, class W, class A, class Bodies>
struct ggml_tiles {
    static std::size_t run(const matmul_call& c, std::size_t r0, std::size_t r1, std::size_t nb, const A* acts) {
        std::size_t m = 0;
        for (; m + C <= c.M; m += C)
            for (std::size_t r = r0; r < r1; ++r) {
                float out[C];
                Bodies::template rows_dot<C>(reinterpret_cast<const W*>(c.w->codes() + r * c.w->row_bytes()), acts + m * nb, nb, nb, out);
                for (int k = 0; k < C; ++k) c.y[(m + k) * c.ldy + r] = out[k];
            }
        return m;
    }
};
template <class W, class A, class Bodies>
struct ggml_tiles<1, W, A, Bodies> {
    static std::size_t run(const matmul_call&, std::size_t, std::size_t, std::size_t, const A*) { return 0; }
};
template <class W, class A, class Bodies>
void ggml_rows(const matmul_call& c, std::size_t r0, std::size_t r1) {
    const std::size_t nb = c.w->cols() / static_cast<std::size_t>(W::values);
    const A* acts = static_cast<const A*>(c.ws);
    const std::size_t m0 = ggml_tiles<Bodies::tile, W, A, Bodies>::run(c, r0, r1, nb, acts);
    for (std::size_t r = r0; r < r1; ++r) {
        const W* w = reinterpret_cast<const W*>(c.w->codes() + r * c.w->row_bytes());
        for (std::size_t m = m0; m < c.M; ++m) c.y[m * c.ldy + r] = Bodies::row_dot(w, acts + m * nb, nb);
    }
}

template <class W, class A, class Bodies, matmul_path P = matmul_path::int8_dot, arch K = Bodies::a>
constexpr kernel_entry ggml_entry() noexcept {
    kernel_key k;
    k.lay = layout::ggml;
    k.bits_or_type = static_cast<int>(W::type_id);
    k.scale = scale_type::f16;
    k.path = P;
    k.a = K;
    static_assert(W::values == A::values, "a weight block and its activation block cover the same columns");
    return {k, Bodies::a, &activation_ws_bytes<A>, &prepare_activations<A>, &ggml_rows<W, A, Bodies>, 32};
}

// Which SIMD copies a weight type has. avx2 also serves avxvnni; avx512 is
// the AVX-512 and AVX-512 VNNI (and AMX) copies; neon the NEON and dotprod
// ones. IQ4_XS and TQ2_0 have AVX2's copy only on x86 (the AVX-512 archs fall
// back to it: it is already within issue 18's per-byte target).
struct ggml_simd {
    bool avx2 = false, avx512 = false, neon = false;
    bool vbmi = false;  // an AVX-512 VNNI + VBMI copy too (the lattice i-quants with a grid lookup in registers)
};
constexpr ggml_simd simd_copies(gguf_type t) noexcept {
    switch (t) {
        case gguf_type::q4_0: case gguf_type::q5_0: case gguf_type::q8_0:
        case gguf_type::q4_K: case gguf_type::q5_K: case gguf_type::q6_K:
        case gguf_type::q4_1: case gguf_type::q5_1: case gguf_type::iq4_nl: case gguf_type::mxfp4:
        case gguf_type::q2_K: case gguf_type::q3_K: case gguf_type::tq1_0:
            return {true, true, true};
        case gguf_type::iq3_xxs: case gguf_type::iq3_s: case gguf_type::iq2_xxs: case gguf_type::iq2_xs: case gguf_type::iq2_s:
        case gguf_type::iq1_s: case gguf_type::iq1_m:
            return {true, true, true, true};
        case gguf_type::iq4_xs: case gguf_type::tq2_0:
            return {true, false, true};
        default:
            return {};
    }
}

// The scalar entry is also the reference path (it is the model the others equal).
template <class W, class A>
struct ggml_table {
    static constexpr ggml_simd simd = simd_copies(W::type_id);
    static constexpr std::size_t count = 2
#if defined(LOWBIT_HAVE_GGUF_X86)
                                         + (simd.avx2 ? 2 : 0) + (simd.avx512 ? 3 : 0)
#endif
#if defined(LOWBIT_HAVE_GGUF_VBMI)
                                         + (simd.vbmi ? 2 : 0)
#endif
#if defined(LOWBIT_HAVE_GGUF_ARM)
                                         + (simd.neon ? 2 : 0)
#endif
        ;
    // if constexpr: a copy a type lacks is never instantiated.
    static constexpr lowbit::detail::entry_list<count> build() noexcept {
        lowbit::detail::entry_list<count> l{};
        l.add(ggml_entry<W, A, gguf_scalar_bodies, matmul_path::reference>());
        l.add(ggml_entry<W, A, gguf_scalar_bodies>());
#if defined(LOWBIT_HAVE_GGUF_X86)
        if constexpr (simd.avx2) {
            l.add(ggml_entry<W, A, gguf_avx2_bodies>());
            l.add(ggml_entry<W, A, gguf_avx2_bodies, matmul_path::int8_dot, arch::avxvnni>());  // 256-bit VNNI gains nothing here
        }
        if constexpr (simd.avx512) {
            l.add(ggml_entry<W, A, gguf_avx512_tiled_bodies>());
#if defined(LOWBIT_HAVE_GGUF_VBMI)
            if constexpr (simd.vbmi) {  // first: find_entry takes the first entry of a key whose needs are met
                l.add(ggml_entry<W, avx512vbmi::activation_block<W>, gguf_avx512vbmi_tiled_bodies>()).needs = needs_avx512vbmi;
            }
#endif
            l.add(ggml_entry<W, A, gguf_avx512vnni_tiled_bodies>());
#if defined(LOWBIT_HAVE_GGUF_VBMI)
            if constexpr (simd.vbmi) {
                l.add(ggml_entry<W, avx512vbmi::activation_block<W>, gguf_avx512vbmi_tiled_bodies, matmul_path::int8_dot, arch::amx>())
                    .needs = needs_avx512vbmi;
            }
#endif
            l.add(ggml_entry<W, A, gguf_avx512vnni_tiled_bodies, matmul_path::int8_dot, arch::amx>());  // no tile code for ggml blocks yet
        }
#endif
#if defined(LOWBIT_HAVE_GGUF_ARM)
        if constexpr (simd.neon) {
            l.add(ggml_entry<W, A, gguf_neon_bodies>());
            l.add(ggml_entry<W, A, gguf_neondot_bodies>());
        }
#endif
        return l;
    }
    static constexpr lowbit::detail::entry_list<count> entries = build();
    static constexpr lowbit::detail::kernel_family family() noexcept { return entries.family(); }
};

// The family of a ggml weight type; count 0 for a type without kernels.
// Activation blocks: ggml's vec_dot_type of each weight type.
constexpr lowbit::detail::kernel_family ggml_family(gguf_type t) noexcept {
    switch (t) {
        case gguf_type::q4_0: return ggml_table<block_q4_0, block_q8_0>::family();
        case gguf_type::q4_1: return ggml_table<block_q4_1, block_q8_1>::family();
        case gguf_type::q5_0: return ggml_table<block_q5_0, block_q8_0>::family();
        case gguf_type::q5_1: return ggml_table<block_q5_1, block_q8_1>::family();
        case gguf_type::q8_0: return ggml_table<block_q8_0, block_q8_0>::family();
        case gguf_type::q2_K: return ggml_table<block_q2_K, block_q8_K>::family();
        case gguf_type::q3_K: return ggml_table<block_q3_K, block_q8_K>::family();
        case gguf_type::q4_K: return ggml_table<block_q4_K, block_q8_K>::family();
        case gguf_type::q5_K: return ggml_table<block_q5_K, block_q8_K>::family();
        case gguf_type::q6_K: return ggml_table<block_q6_K, block_q8_K>::family();
        case gguf_type::iq4_nl: return ggml_table<block_iq4_nl, block_q8_0>::family();
        case gguf_type::iq4_xs: return ggml_table<block_iq4_xs, block_q8_K>::family();
        case gguf_type::mxfp4: return ggml_table<block_mxfp4, block_q8_0>::family();
        case gguf_type::tq1_0: return ggml_table<block_tq1_0, block_q8_K>::family();
        case gguf_type::tq2_0: return ggml_table<block_tq2_0, block_q8_K>::family();
        case gguf_type::iq3_xxs: return ggml_table<block_iq3_xxs, block_q8_K>::family();
        case gguf_type::iq3_s: return ggml_table<block_iq3_s, block_q8_K>::family();
        case gguf_type::iq2_xxs: return ggml_table<block_iq2_xxs, block_q8_K>::family();
        case gguf_type::iq2_xs: return ggml_table<block_iq2_xs, block_q8_K>::family();
        case gguf_type::iq2_s: return ggml_table<block_iq2_s, block_q8_K>::family();
        case gguf_type::iq1_s: return ggml_table<block_iq1_s, block_q8_K>::family();
        case gguf_type::iq1_m: return ggml_table<block_iq1_m, block_q8_K>::family();
        default: return {};
    }
}

}  // namespace detail
}  // namespace gguf
}  // namespace lowbit
