// lowbit/kernels/detail/entries.hpp — the kernel table's entries for the
// dense and tiled layouts (kernels/table.hpp). dense_table<KS> and
// tiled_table<KS> are constexpr arrays of entries for one kernel scheme KS
// (per_tensor or per_group_dynamic: kernels read the group at run time; the
// per-tensor entries run the per-group bodies, see "per-tensor weights"), one
// entry per (path, arch) this build has a kernel for.
//
// Adding an arch: write its bodies (detail/<arch>/), add a `*_bodies` struct
// below that forwards to them, and list its entries in the tables at the end
// of this file. Nothing else dispatches.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "../../compiled_mode.hpp"
#include "../../pack/qmatrix.hpp"
#include "../../pack/tiled.hpp"
#include "../../weights/convert.hpp"
#include "../../weights/weights_view.hpp"
#include "../arch.hpp"
#include "../table.hpp"
#include "blocks.hpp"
#include "generic.hpp"
#include "reference.hpp"
#include "tiled_blocks.hpp"

#if defined(LOWBIT_X86) && (defined(__GNUC__) || defined(__clang__)) && !defined(LOWBIT_NO_X86_KERNELS)
#define LOWBIT_HAVE_X86_KERNELS 1
#include "x86/kernels.hpp"
// AMX tile code needs GCC 11 / Clang 12 (the amx-tile, amx-int8 targets).
#if (defined(__clang__) && __clang_major__ >= 12) || (!defined(__clang__) && __GNUC__ >= 11)
#define LOWBIT_HAVE_AMX_KERNELS 1
#include "x86/amx_body.hpp"
#endif
// vdpbf16ps needs GCC 10 / Clang 11 (the avx512bf16 target).
#if (defined(__clang__) && __clang_major__ >= 11) || (!defined(__clang__) && __GNUC__ >= 10)
#define LOWBIT_HAVE_BF16_KERNELS 1
#include "x86/bf16_body.hpp"
#endif
// tdpbf16ps (AMX-BF16): with both; the asm needs no newer compiler than amx-int8's.
#if defined(LOWBIT_HAVE_AMX_KERNELS) && defined(LOWBIT_HAVE_BF16_KERNELS)
#define LOWBIT_HAVE_AMX_BF16_KERNELS 1
#include "x86/amx_bf16_body.hpp"
#endif
#endif
#if defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(LOWBIT_NO_ARM_KERNELS)
#define LOWBIT_HAVE_ARM_KERNELS 1
#include "arm/kernels.hpp"
#endif

namespace lowbit {
namespace kdetail {

inline std::size_t round64(std::size_t n) noexcept { return (n + 63) & ~std::size_t{63}; }

// ---- workspaces: where each layout's prepared activations live ---------------------
// dense int8: codes (arranged order), lane steps, lane zero terms, one act_i8 per row.
struct dense_i8_ws {
    std::int8_t* q;
    float* dxl;
    std::int32_t* zq;
    act_i8* acts;
    std::size_t pad, nl;
    static std::size_t bytes(std::size_t K, std::size_t M) noexcept {
        const act_geometry g = act_geometry::of(K);
        return round64(M * g.padded()) + 2 * round64(M * 4 * g.padded_blocks() * sizeof(float)) + M * sizeof(act_i8);
    }
    static dense_i8_ws at(void* base, std::size_t K, std::size_t M) noexcept {
        const act_geometry g = act_geometry::of(K);
        const std::size_t pad = g.padded(), nl = 4 * g.padded_blocks();
        const std::size_t q_bytes = round64(M * pad), l_bytes = round64(M * nl * sizeof(float));
        auto* b = static_cast<unsigned char*>(base);
        return {reinterpret_cast<std::int8_t*>(b), reinterpret_cast<float*>(b + q_bytes),
                reinterpret_cast<std::int32_t*>(b + q_bytes + l_bytes), reinterpret_cast<act_i8*>(b + q_bytes + 2 * l_bytes), pad, nl};
    }
};
// dense f32: activations in arranged order, one act_f32 per row.
struct dense_f32_ws {
    float* x;
    act_f32* acts;
    std::size_t pad;
    static std::size_t bytes(std::size_t K, std::size_t M) noexcept {
        return round64(M * act_geometry::of(K).padded() * sizeof(float)) + M * sizeof(act_f32);
    }
    static dense_f32_ws at(void* base, std::size_t K, std::size_t M) noexcept {
        const std::size_t pad = act_geometry::of(K).padded();
        auto* b = static_cast<unsigned char*>(base);
        return {reinterpret_cast<float*>(b), reinterpret_cast<act_f32*>(b + round64(M * pad * sizeof(float))), pad};
    }
};
// tiled int8: codes (natural order), block steps, block zero terms, one tact_i8 per row.
struct tiled_i8_ws {
    std::int8_t* q;
    float* dx;
    std::int32_t* zq;
    tact_i8* acts;
    std::size_t pad, nb;
    static std::size_t bytes(std::size_t K, std::size_t M) noexcept {
        const std::size_t nb = (K + tile_block - 1) / tile_block;
        return round64(M * nb * tile_block) + 2 * round64(M * nb * 4) + M * sizeof(tact_i8);
    }
    static tiled_i8_ws at(void* base, std::size_t K, std::size_t M) noexcept {
        const std::size_t nb = (K + tile_block - 1) / tile_block, pad = nb * tile_block;
        const std::size_t q_bytes = round64(M * pad), f_bytes = round64(M * nb * 4);
        auto* b = static_cast<unsigned char*>(base);
        return {reinterpret_cast<std::int8_t*>(b), reinterpret_cast<float*>(b + q_bytes),
                reinterpret_cast<std::int32_t*>(b + q_bytes + f_bytes), reinterpret_cast<tact_i8*>(b + q_bytes + 2 * f_bytes), pad, nb};
    }
};
// tiled f32: activations in natural order, zero padded, one tact_f32 per row.
struct tiled_f32_ws {
    float* x;
    tact_f32* acts;
    std::size_t pad, nb;
    static std::size_t bytes(std::size_t K, std::size_t M) noexcept {
        const std::size_t nb = (K + tile_block - 1) / tile_block;
        return round64(M * nb * tile_block * sizeof(float)) + M * sizeof(tact_f32);
    }
    static tiled_f32_ws at(void* base, std::size_t K, std::size_t M) noexcept {
        const std::size_t nb = (K + tile_block - 1) / tile_block, pad = nb * tile_block;
        auto* b = static_cast<unsigned char*>(base);
        return {reinterpret_cast<float*>(b), reinterpret_cast<tact_f32*>(b + round64(M * pad * sizeof(float))), pad, nb};
    }
};

// ---- one body per (bits, symmetry): per-tensor weights and the scale type ------------
// A per-tensor matrix is a per-group one whose rows are one group each, all with
// the same scale (and zero). Its entries run the per-group bodies on such a view:
// one copy of every kernel instead of two (half the kernel code to compile:
// issue 15), the same arithmetic and the same bits as a per-tensor body. The
// view's per-row scales (and zeros) are the one scale repeated into the
// workspace after the activations; each task writes the rows it reads (tasks
// own disjoint rows), so nothing is written twice or shared.
// The bodies of an arch whose Bodies::any_scale is true are compiled once for
// the three scale types too: their scheme's codec is scale_any and they read
// the type from the view where they load scales (blocks.hpp, "scales whose
// type is read at run time"); 16 bodies per arch and path instead of 48.
template <class KS, bool Any>
using body_scheme = scheme<KS::bits, per_group_dynamic, typename KS::symmetry_type,
                           std::conditional_t<Any, scale_any, typename KS::scale_codec>>;
template <class KS>
constexpr bool expands_scales = KS::gran == granularity::per_tensor;

// Workspace bytes: the activations' (act_bytes), then n repeated scales and zeros.
template <class KS>
std::size_t with_expanded(std::size_t act_bytes, std::size_t n) noexcept {
    if constexpr (!expands_scales<KS>) {
        (void)n;
        return act_bytes;
    } else {
        return round64(act_bytes) + round64(n * sizeof(typename KS::scale_storage)) + (KS::is_symmetric ? 0 : n);
    }
}
// Repeats scale 0 (and zero 0) of w into slots [i0, i1) of the arrays after act_bytes; returns them.
template <class KS>
std::pair<const typename KS::scale_storage*, const std::uint8_t*> expand_scales(const matmul_call& c, std::size_t act_bytes, std::size_t n,
                                                                               std::size_t i0, std::size_t i1) noexcept {
    using St = typename KS::scale_storage;
    auto* base = static_cast<unsigned char*>(c.ws) + round64(act_bytes);
    St* s = reinterpret_cast<St*>(base);
    std::uint8_t* z = KS::is_symmetric ? nullptr : base + round64(n * sizeof(St));
    const St s0 = static_cast<const St*>(c.w->scales())[0];
    for (std::size_t i = i0; i < i1; ++i) s[i] = s0;
    if (z) std::memset(z + i0, c.w->zeros()[0], i1 - i0);
    return {s, z};
}
// The view type the bodies of Bodies read for kernel scheme KS.
template <class KS, class Bodies>
using dense_body_view_t =
    std::conditional_t<Bodies::any_scale, any_scale_qview<body_scheme<KS, true>>, qmatrix_view<body_scheme<KS, false>>>;
template <class KS, class Bodies>
using tiled_body_view_t = std::conditional_t<Bodies::any_scale, any_scale_tview<body_scheme<KS, true>>, tiled_view<body_scheme<KS, false>>>;
// The view the dense bodies read for rows [r0, r1).
template <class KS, class Bodies>
dense_body_view_t<KS, Bodies> dense_body_view(const matmul_call& c, std::size_t act_bytes, std::size_t r0, std::size_t r1) noexcept {
    using BS = body_scheme<KS, Bodies::any_scale>;
    dense_body_view_t<KS, Bodies> w;
    static_cast<qmatrix_view<BS>&>(w) = lowbit::detail::qmatrix_of<BS>(*c.w);
    if constexpr (Bodies::any_scale) w.kind = KS::scale;
    if constexpr (expands_scales<KS>) {
        const auto sz = expand_scales<KS>(c, act_bytes, w.rows, r0, r1);
        w.scales = reinterpret_cast<const typename BS::scale_storage*>(sz.first);
        w.zeros = sz.second;
        w.group = static_cast<int>(w.cols);
    } else {
        (void)act_bytes, (void)r0, (void)r1;
    }
    return w;
}
// The view the tiled bodies read for tiles [t0, t1).
template <class KS, class Bodies>
tiled_body_view_t<KS, Bodies> tiled_body_view(const matmul_call& c, std::size_t act_bytes, std::size_t t0, std::size_t t1) noexcept {
    using BS = body_scheme<KS, Bodies::any_scale>;
    tiled_body_view_t<KS, Bodies> w;
    static_cast<tiled_view<BS>&>(w) = lowbit::detail::tiled_of<BS>(*c.w);
    if constexpr (Bodies::any_scale) w.kind = KS::scale;
    if constexpr (expands_scales<KS>) {
        const auto sz = expand_scales<KS>(c, act_bytes, w.tiles * tile_rows, t0 * tile_rows, t1 * tile_rows);
        w.scales = reinterpret_cast<const typename BS::scale_storage*>(sz.first);
        w.zeros = sz.second;
        w.group = static_cast<int>(w.cols);
        w.groups = 1;
        w.blocks_per_group = 0;
    } else {
        (void)act_bytes, (void)t0, (void)t1;
    }
    return w;
}

// ---- the int8 preparation of hostile rows ------------------------------------------
// Activations the int8 path cannot quantize as they are: a NaN or +-Inf (its
// block step would be NaN/Inf and x/step a NaN, whose conversion to int8 is
// undefined), or a magnitude below 2^-120 (a block whose largest value is that
// small has a step whose reciprocal overflows). One branch-free pass over the
// row; such rows take prepare_i8_guarded.
inline bool i8_needs_guard(const float* x, std::size_t k) noexcept {
    std::uint32_t bad = 0;
    for (std::size_t i = 0; i < k; ++i) {
        std::uint32_t u;
        std::memcpy(&u, x + i, sizeof u);
        u &= 0x7fffffffu;
        bad |= static_cast<std::uint32_t>(u >= 0x7f800000u) | static_cast<std::uint32_t>(u - 1u < 0x037fffffu);
    }
    return bad != 0;
}

// Defined results for a hostile row: magnitudes below 2^-120 count as 0 (their
// products are below 2^-120 * |w| anyway); a row holding NaN or +-Inf makes
// every output it feeds NaN (as a NaN input of an f32 dot product does), by a
// NaN block step. Allocates: hostile rows are not the hot path.
template <int B, bool Sym>
void prepare_i8_guarded(const float* x, const std::int32_t* perm, const act_geometry& g, std::int8_t* q, float* dxl,
                        std::int32_t* zq) {
    std::vector<float> clean(x, x + g.K);
    bool non_finite = false;
    for (float& v : clean) {
        if (!std::isfinite(v)) {
            non_finite = true;
            v = 0.0f;
        } else if (std::fabs(v) < 7.52316384526264e-37f) {  // 2^-120
            v = 0.0f;
        }
    }
    prepare_i8<B, Sym>(clean.data(), perm, g, q, dxl, zq);
    if (non_finite)
        for (std::size_t i = 0; i < 4 * g.padded_blocks(); ++i) dxl[i] = std::numeric_limits<float>::quiet_NaN();
}

// ---- bodies: one struct per arch, forwarding to its kernel copies -------------------
// i8 / f32: dense rows [r0, r1); ti8 / tf32: tiles [t0, t1); tprep: the tiled
// int8 preparation (false: the arch has none, run the scalar one).
struct scalar_bodies {
    static constexpr arch a = arch::scalar;
    static constexpr bool any_scale = true;
    template <class S>
    static void i8(const qmatrix_view<S>& w, std::size_t r0, std::size_t r1, const act_i8* acts, std::size_t M,
                   const act_geometry& g, float* out, std::size_t ld) noexcept {
        for (std::size_t r = r0; r < r1; ++r)
            for (std::size_t m = 0; m < M; ++m) out[m * ld + r] = int8_row_scalar(w, r, acts[m], g);
    }
    template <class S>
    static void f32(const qmatrix_view<S>& w, std::size_t r0, std::size_t r1, const act_f32* acts, std::size_t M,
                    const act_geometry& g, float* out, std::size_t ld) noexcept {
        for (std::size_t r = r0; r < r1; ++r)
            for (std::size_t m = 0; m < M; ++m) out[m * ld + r] = f32_row_scalar(w, r, acts[m], g);
    }
    template <class S>
    static void ti8(const tiled_view<S>& w, std::size_t t0, std::size_t t1, const tact_i8* acts, std::size_t M, float* y,
                    std::size_t ldy) noexcept {
        for (std::size_t m = 0; m < M; m += 64)
            for (std::size_t t = t0; t < t1; ++t) int8_tile_scalar(w, t, acts + m, M - m < 64 ? M - m : 64, y + m * ldy, ldy);
    }
    template <class S>
    static void tf32(const tiled_view<S>& w, std::size_t t0, std::size_t t1, const tact_f32* acts, std::size_t M, float* y,
                     std::size_t ldy) noexcept {
        for (std::size_t m = 0; m < M; m += 64)
            for (std::size_t t = t0; t < t1; ++t) f32_tile_scalar(w, t, acts + m, M - m < 64 ? M - m : 64, y + m * ldy, ldy);
    }
    template <class S>
    static bool tprep(const float*, const std::int32_t*, std::size_t, std::size_t, std::int8_t*, float*, std::int32_t*) noexcept {
        return false;
    }
};

// sse2 = the 4-lane vectors every x86-64 and AArch64 CPU runs (core/detail/vec4.hpp):
// the f32 path only. Where vec4 is plain floats the entry is the scalar model's.
struct generic_bodies {
    static constexpr arch a = lowbit::detail::v4::vec4_simd ? arch::sse2 : arch::scalar;
    static constexpr bool any_scale = true;
    template <class S>
    static void f32(const qmatrix_view<S>& w, std::size_t r0, std::size_t r1, const act_f32* acts, std::size_t M,
                    const act_geometry& g, float* out, std::size_t ld) noexcept {
        if constexpr (lowbit::detail::v4::vec4_simd) f32_rows_generic(w, r0, r1, acts, M, g, out, ld);
        else scalar_bodies::f32(w, r0, r1, acts, M, g, out, ld);
    }
};

// NS: the arch's kernel copies (x86/, arm/); PREP: whose tiled int8 preparation it uses.
// A member the arch's tables do not list is never instantiated.
#define LOWBIT_ARCH_BODIES(NS, PREP)                                                                                        \
    struct NS##_bodies {                                                                                                   \
        static constexpr arch a = arch::NS;                                                                                \
        static constexpr bool any_scale = true;                                                                            \
        template <class S>                                                                                                 \
        static void i8(const qmatrix_view<S>& w, std::size_t r0, std::size_t r1, const act_i8* acts, std::size_t M,        \
                       const act_geometry& g, float* out, std::size_t ld) noexcept {                                       \
            NS::i8_rows(w, r0, r1, acts, M, g, out, ld);                                                                   \
        }                                                                                                                  \
        template <class S>                                                                                                 \
        static void f32(const qmatrix_view<S>& w, std::size_t r0, std::size_t r1, const act_f32* acts, std::size_t M,      \
                        const act_geometry& g, float* out, std::size_t ld) noexcept {                                      \
            NS::f32_rows(w, r0, r1, acts, M, g, out, ld);                                                                  \
        }                                                                                                                  \
        template <class S>                                                                                                 \
        static void ti8(const tiled_view<S>& w, std::size_t t0, std::size_t t1, const tact_i8* acts, std::size_t M, float* y, \
                        std::size_t ldy) noexcept {                                                                        \
            NS::ti8_tiles(w, t0, t1, acts, M, y, ldy);                                                                     \
        }                                                                                                                  \
        template <class S>                                                                                                 \
        static void tf32(const tiled_view<S>& w, std::size_t t0, std::size_t t1, const tact_f32* acts, std::size_t M,      \
                         float* y, std::size_t ldy) noexcept {                                                             \
            NS::tf32_tiles(w, t0, t1, acts, M, y, ldy);                                                                    \
        }                                                                                                                  \
        template <class S>                                                                                                 \
        static bool tprep(const float* x, const std::int32_t* perm, std::size_t K, std::size_t nb, std::int8_t* q, float* dx, \
                          std::int32_t* zq) noexcept {                                                                     \
            return PREP::tprep_i8<S>(x, perm, K, nb, q, dx, zq);                                                           \
        }                                                                                                                  \
    };
#if defined(LOWBIT_HAVE_X86_KERNELS)
LOWBIT_ARCH_BODIES(avx2, avx2)
LOWBIT_ARCH_BODIES(avx512, avx512)
LOWBIT_ARCH_BODIES(avxvnni, avx2)
LOWBIT_ARCH_BODIES(avx512vnni, avx512)
#endif
#if defined(LOWBIT_HAVE_AMX_KERNELS)
// amx: only the tiled int8 path has tile code (x86/amx_body.hpp); its
// preparation is avx512's. The other paths are avx512vnni's bodies, listed
// under amx in the tables so that an AMX machine runs them without a fallback.
struct amx_bodies {
    static constexpr arch a = arch::amx;
    static constexpr bool any_scale = true;
    template <class S>
    static void ti8(const tiled_view<S>& w, std::size_t t0, std::size_t t1, const tact_i8* acts, std::size_t M, float* y,
                    std::size_t ldy) noexcept {
        amx::ti8_tiles_on<S, amx_hw>(w, t0, t1, acts, M, y, ldy, amx::amx_min_rows);  // the real tile instructions
    }
    template <class S>
    static bool tprep(const float* x, const std::int32_t* perm, std::size_t K, std::size_t nb, std::int8_t* q, float* dx,
                      std::int32_t* zq) noexcept {
        return avx512::tprep_i8<S>(x, perm, K, nb, q, dx, zq);
    }
};
#endif

#if defined(LOWBIT_HAVE_ARM_KERNELS)
// neondot: the int8 paths with sdot (its tables list only those); the preparation is neon's.
LOWBIT_ARCH_BODIES(neon, neon)
LOWBIT_ARCH_BODIES(neondot, neon)
#endif
#undef LOWBIT_ARCH_BODIES

// ---- entry functions ----------------------------------------------------------------
template <class KS>
std::size_t dense_i8_bytes(const weights_view& w, std::size_t M) noexcept {
    return with_expanded<KS>(dense_i8_ws::bytes(w.cols(), M), w.rows());
}
// The preparations read only the width and the symmetry (or nothing) of the
// scheme: one copy per width and symmetry, not one per kernel scheme and arch
// (the 12 kernel schemes of a width share them: issue 15, compile time).
template <int B, bool Sym>
status dense_i8_prepare(const matmul_call& c, std::size_t m) {
    const std::size_t K = c.w->cols();
    const act_geometry g = act_geometry::of(K);
    const dense_i8_ws ws = dense_i8_ws::at(c.ws, K, c.M);
    const float* x = c.x + m * c.ldx;
    std::int8_t* q = ws.q + m * ws.pad;
    float* dxl = ws.dxl + m * ws.nl;
    std::int32_t* zq = ws.zq + m * ws.nl;
    if (LOWBIT_UNLIKELY(i8_needs_guard(x, K))) prepare_i8_guarded<B, Sym>(x, c.w->perm(), g, q, dxl, zq);
    else prepare_i8<B, Sym>(x, c.w->perm(), g, q, dxl, zq);
    ws.acts[m] = act_i8{q, dxl, zq};
    return {};
}
template <class KS, class Bodies>
void dense_i8_rows(const matmul_call& c, std::size_t r0, std::size_t r1) {
    const std::size_t K = c.w->cols();
    const auto w = dense_body_view<KS, Bodies>(c, dense_i8_ws::bytes(K, c.M), r0, r1);
    Bodies::template i8<body_scheme<KS, Bodies::any_scale>>(w, r0, r1, dense_i8_ws::at(c.ws, K, c.M).acts, c.M, act_geometry::of(K), c.y,
                                                            c.ldy);
}

template <class KS>
std::size_t dense_f32_bytes(const weights_view& w, std::size_t M) noexcept {
    return with_expanded<KS>(dense_f32_ws::bytes(w.cols(), M), w.rows());
}
template <int B>
status dense_f32_prepare(const matmul_call& c, std::size_t m) {
    const std::size_t K = c.w->cols();
    const dense_f32_ws ws = dense_f32_ws::at(c.ws, K, c.M);
    prepare_f32<B>(c.x + m * c.ldx, c.w->perm(), act_geometry::of(K), ws.x + m * ws.pad);
    ws.acts[m] = act_f32{ws.x + m * ws.pad};
    return {};
}
template <class KS, class Bodies>
void dense_f32_rows(const matmul_call& c, std::size_t r0, std::size_t r1) {
    const std::size_t K = c.w->cols();
    const auto w = dense_body_view<KS, Bodies>(c, dense_f32_ws::bytes(K, c.M), r0, r1);
    Bodies::template f32<body_scheme<KS, Bodies::any_scale>>(w, r0, r1, dense_f32_ws::at(c.ws, K, c.M).acts, c.M, act_geometry::of(K), c.y,
                                                             c.ldy);
}

// The reference reads the activations as they are (double accumulation).
template <class KS>
void dense_reference_rows(const matmul_call& c, std::size_t r0, std::size_t r1) {
    const qmatrix_view<KS> w = lowbit::detail::qmatrix_of<KS>(*c.w);
    for (std::size_t m = 0; m < c.M; ++m)
        for (std::size_t r = r0; r < r1; ++r) c.y[m * c.ldy + r] = static_cast<float>(reference::dot_row(w, r, c.x + m * c.ldx));
}

template <class KS>
std::size_t tiled_i8_bytes(const weights_view& w, std::size_t M) noexcept {
    return with_expanded<KS>(tiled_i8_ws::bytes(w.cols(), M), layout_traits<layout::tiled>::tiles(w.desc()) * tile_rows);
}
// Bodies::tprep reads only the width and symmetry of its scheme: it runs for
// one scheme of them (f32 scales, per group).
template <int B, bool Sym, class Bodies>
status tiled_i8_prepare(const matmul_call& c, std::size_t m) {
    const tiled_i8_ws ws = tiled_i8_ws::at(c.ws, c.w->cols(), c.M);
    const float* x = c.x + m * c.ldx;
    std::int8_t* q = ws.q + m * ws.pad;
    float* dx = ws.dx + m * ws.nb;
    std::int32_t* zq = ws.zq + m * ws.nb;
    using prep_scheme = scheme<B, per_group_dynamic, std::conditional_t<Sym, symmetric, asymmetric>, scale_f32>;
    if (!Bodies::template tprep<prep_scheme>(x, c.w->perm(), c.w->cols(), ws.nb, q, dx, zq))
        prepare_ti8<B, Sym>(x, c.w->perm(), c.w->cols(), ws.nb, q, dx, zq);
    ws.acts[m] = tact_i8{q, dx, zq};
    return {};
}
// Weight rows [r0, r1) are whole tiles (r0 is a multiple of 64, r1 of 16 or the end).
template <class KS, class Bodies>
void tiled_i8_rows(const matmul_call& c, std::size_t r0, std::size_t r1) {
    const std::size_t K = c.w->cols(), t0 = r0 / tile_rows, t1 = (r1 + tile_rows - 1) / tile_rows;
    const auto w = tiled_body_view<KS, Bodies>(c, tiled_i8_ws::bytes(K, c.M), t0, t1);
    Bodies::template ti8<body_scheme<KS, Bodies::any_scale>>(w, t0, t1, tiled_i8_ws::at(c.ws, K, c.M).acts, c.M, c.y, c.ldy);
}

template <class KS>
std::size_t tiled_f32_bytes(const weights_view& w, std::size_t M) noexcept {
    return with_expanded<KS>(tiled_f32_ws::bytes(w.cols(), M), layout_traits<layout::tiled>::tiles(w.desc()) * tile_rows);
}
inline status tiled_f32_prepare(const matmul_call& c, std::size_t m) {
    const tiled_f32_ws ws = tiled_f32_ws::at(c.ws, c.w->cols(), c.M);
    prepare_tf32(c.x + m * c.ldx, c.w->perm(), c.w->cols(), ws.nb, ws.x + m * ws.pad);
    ws.acts[m] = tact_f32{ws.x + m * ws.pad};
    return {};
}
template <class KS, class Bodies>
void tiled_f32_rows(const matmul_call& c, std::size_t r0, std::size_t r1) {
    const std::size_t K = c.w->cols(), t0 = r0 / tile_rows, t1 = (r1 + tile_rows - 1) / tile_rows;
    const auto w = tiled_body_view<KS, Bodies>(c, tiled_f32_ws::bytes(K, c.M), t0, t1);
    Bodies::template tf32<body_scheme<KS, Bodies::any_scale>>(w, t0, t1, tiled_f32_ws::at(c.ws, K, c.M).acts, c.M, c.y, c.ldy);
}
template <class KS>
void tiled_reference_rows(const matmul_call& c, std::size_t r0, std::size_t r1) {
    const tiled_view<KS> w = lowbit::detail::tiled_of<KS>(*c.w);
    for (std::size_t t = r0 / tile_rows; t < (r1 + tile_rows - 1) / tile_rows; ++t) reference_tile(w, t, c.x, c.ldx, c.M, c.y, c.ldy);
}

// ---- keys and entries ---------------------------------------------------------------
template <class KS>
constexpr kernel_key key_of(layout lay, matmul_path path, arch a) noexcept {
    kernel_key k;
    k.lay = lay;
    k.bits_or_type = KS::bits;
    k.symmetric = KS::is_symmetric;
    k.scale = KS::scale;
    k.per_tensor = KS::gran == granularity::per_tensor;
    k.path = path;
    k.a = a;
    return k;
}
template <class KS, class Bodies, arch A = Bodies::a>
constexpr kernel_entry dense_i8_entry() noexcept {
    return {key_of<KS>(layout::dense, matmul_path::int8_dot, A), Bodies::a, &dense_i8_bytes<KS>, &dense_i8_prepare<KS::bits, KS::is_symmetric>,
            &dense_i8_rows<KS, Bodies>, 64};
}
template <class KS, class Bodies, arch A = Bodies::a>
constexpr kernel_entry dense_f32_entry() noexcept {
    return {key_of<KS>(layout::dense, matmul_path::dequant_fma, A), Bodies::a, &dense_f32_bytes<KS>, &dense_f32_prepare<KS::bits>,
            &dense_f32_rows<KS, Bodies>, 64};
}
template <class KS, class Bodies, arch A = Bodies::a>
constexpr kernel_entry tiled_i8_entry() noexcept {
    return {key_of<KS>(layout::tiled, matmul_path::int8_dot, A), Bodies::a, &tiled_i8_bytes<KS>, &tiled_i8_prepare<KS::bits, KS::is_symmetric, Bodies>,
            &tiled_i8_rows<KS, Bodies>, 64};
}
template <class KS, class Bodies, arch A = Bodies::a>
constexpr kernel_entry tiled_f32_entry() noexcept {
    return {key_of<KS>(layout::tiled, matmul_path::dequant_fma, A), Bodies::a, &tiled_f32_bytes<KS>, &tiled_f32_prepare,
            &tiled_f32_rows<KS, Bodies>, 64};
}

// bf16 path. The f32 bodies serve it on activations rounded to bf16 and kept
// as floats (they then compute the model exactly: tiled_blocks.hpp, "bf16
// path"); on the tiled layout with AVX512_BF16 the vdpbf16ps body reads them
// as bf16 pairs.
template <int B>
status dense_bf16_prepare(const matmul_call& c, std::size_t m) {
    LOWBIT_TRY(dense_f32_prepare<B>(c, m));
    const dense_f32_ws ws = dense_f32_ws::at(c.ws, c.w->cols(), c.M);
    round_to_bf16(ws.x + m * ws.pad, ws.pad);
    return {};
}
inline status tiled_bf16f_prepare(const matmul_call& c, std::size_t m) {
    LOWBIT_TRY(tiled_f32_prepare(c, m));
    const tiled_f32_ws ws = tiled_f32_ws::at(c.ws, c.w->cols(), c.M);
    round_to_bf16(ws.x + m * ws.pad, ws.pad);
    return {};
}
// The f32 entry of the same bodies, with the path and the rounding preparation.
constexpr kernel_entry as_bf16_entry(kernel_entry e, status (*prepare)(const matmul_call&, std::size_t)) noexcept {
    e.key.path = matmul_path::bf16_dot;
    e.prepare = prepare;
    return e;
}
template <class KS, class Bodies, arch A = Bodies::a>
constexpr kernel_entry dense_bf16_entry() noexcept {
    return as_bf16_entry(dense_f32_entry<KS, Bodies, A>(), &dense_bf16_prepare<KS::bits>);
}
template <class KS, class Bodies, arch A = Bodies::a>
constexpr kernel_entry tiled_bf16f_entry() noexcept {
    return as_bf16_entry(tiled_f32_entry<KS, Bodies, A>(), &tiled_bf16f_prepare);
}
#if defined(LOWBIT_HAVE_BF16_KERNELS)
// tiled bf16 words: blocks * 32 per row, one tact_bf16 per row. Rows are
// 64 bytes further apart than their length: at K = 4096 a stride of exactly
// 8 KiB put the 12 rows of a register block in the same L1 sets.
struct tiled_bf16_ws {
    std::uint16_t* x;
    tact_bf16* acts;
    std::size_t pad;  // row stride in words
    static std::size_t stride(std::size_t K) noexcept { return (K + tile_block - 1) / tile_block * tile_block + tile_block; }
    static std::size_t bytes(std::size_t K, std::size_t M) noexcept { return round64(M * stride(K) * 2) + M * sizeof(tact_bf16); }
    static tiled_bf16_ws at(void* base, std::size_t K, std::size_t M) noexcept {
        const std::size_t pad = stride(K);
        auto* b = static_cast<unsigned char*>(base);
        return {reinterpret_cast<std::uint16_t*>(b), reinterpret_cast<tact_bf16*>(b + round64(M * pad * 2)), pad};
    }
};
template <class KS>
std::size_t tiled_bf16_bytes(const weights_view& w, std::size_t M) noexcept {
    return with_expanded<KS>(tiled_bf16_ws::bytes(w.cols(), M), layout_traits<layout::tiled>::tiles(w.desc()) * tile_rows);
}
inline status tiled_bf16_prepare(const matmul_call& c, std::size_t m) {
    const tiled_bf16_ws ws = tiled_bf16_ws::at(c.ws, c.w->cols(), c.M);
    avx512bf16::prep_bf16(c.x + m * c.ldx, c.w->perm(), c.w->cols(), (c.w->cols() + tile_block - 1) / tile_block, ws.x + m * ws.pad);
    ws.acts[m] = tact_bf16{ws.x + m * ws.pad};
    return {};
}
template <class KS>
void tiled_bf16_rows(const matmul_call& c, std::size_t r0, std::size_t r1) {
    const std::size_t K = c.w->cols(), t0 = r0 / tile_rows, t1 = (r1 + tile_rows - 1) / tile_rows;
    const auto w = tiled_body_view<KS, avx512_bodies>(c, tiled_bf16_ws::bytes(K, c.M), t0, t1);
    avx512bf16::tbf16_tiles<body_scheme<KS, avx512_bodies::any_scale>>(w, t0, t1, tiled_bf16_ws::at(c.ws, K, c.M).acts, c.M, c.y, c.ldy);
}
// Listed under avx512, avx512vnni and amx; needs AVX512_BF16 (the lookup
// passes over it where the CPU lacks it: the avx2 entry runs, reported).
template <class KS, arch A>
constexpr kernel_entry tiled_bf16_entry() noexcept {
    return {key_of<KS>(layout::tiled, matmul_path::bf16_dot, A), arch::avx512, &tiled_bf16_bytes<KS>, &tiled_bf16_prepare,
            &tiled_bf16_rows<KS>, 64, needs_avx512bf16};
}
#endif
#if defined(LOWBIT_HAVE_AMX_BF16_KERNELS)
// The AMX-BF16 tile body (x86/amx_bf16_body.hpp): the same workspace and
// preparation as the vdpbf16ps entry (whose body it runs for few rows).
template <class KS>
void tiled_amx_bf16_rows(const matmul_call& c, std::size_t r0, std::size_t r1) {
    const std::size_t K = c.w->cols(), t0 = r0 / tile_rows, t1 = (r1 + tile_rows - 1) / tile_rows;
    const auto w = tiled_body_view<KS, amx_bodies>(c, tiled_bf16_ws::bytes(K, c.M), t0, t1);
    amx::tbf16_tiles_on<body_scheme<KS, amx_bodies::any_scale>, amx_hw>(w, t0, t1, tiled_bf16_ws::at(c.ws, K, c.M).acts, c.M, c.y, c.ldy,
                                                                         amx::bf16_min_rows);
}
// Listed under amx before the vdpbf16ps entry of the same key: a CPU with
// AMX-INT8 but no AMX-BF16 passes over it to that one.
template <class KS>
constexpr kernel_entry tiled_amx_bf16_entry() noexcept {
    return {key_of<KS>(layout::tiled, matmul_path::bf16_dot, arch::amx), arch::amx, &tiled_bf16_bytes<KS>, &tiled_bf16_prepare,
            &tiled_amx_bf16_rows<KS>, 64, static_cast<std::uint8_t>(needs_avx512bf16 | needs_amx_bf16)};
}
#endif

// ---- the tables -----------------------------------------------------------------------
// Archs without an entry of a path use the next one down fallback_arch's chain
// (reported). An entry whose key arch differs from its body's is that arch's
// declared kernel: the f32 path gains nothing from VNNI or sdot. A TU's own
// copy in compiled mode (LOWBIT_INLINE_KERNELS) has other names than
// lowbit::compiled's (typed_family.hpp).
LOWBIT_OWN_KERNELS_BEGIN
template <class KS>
struct dense_table {
    static constexpr kernel_entry entries[] = {
        {key_of<KS>(layout::dense, matmul_path::reference, arch::scalar), arch::scalar, nullptr, nullptr, &dense_reference_rows<KS>, 64},
        dense_i8_entry<KS, scalar_bodies>(),
        dense_f32_entry<KS, scalar_bodies>(),
        dense_f32_entry<KS, generic_bodies, arch::sse2>(),
        dense_bf16_entry<KS, scalar_bodies>(),
        dense_bf16_entry<KS, generic_bodies, arch::sse2>(),
#if defined(LOWBIT_HAVE_X86_KERNELS)
        dense_i8_entry<KS, avx2_bodies>(),
        dense_f32_entry<KS, avx2_bodies>(),
        dense_i8_entry<KS, avx512_bodies>(),
        dense_f32_entry<KS, avx512_bodies>(),
        dense_i8_entry<KS, avxvnni_bodies>(),
        dense_f32_entry<KS, avx2_bodies, arch::avxvnni>(),
        dense_i8_entry<KS, avx512vnni_bodies>(),
        dense_f32_entry<KS, avx512_bodies, arch::avx512vnni>(),
        dense_bf16_entry<KS, avx2_bodies>(),
        dense_bf16_entry<KS, avx512_bodies>(),
        dense_bf16_entry<KS, avx2_bodies, arch::avxvnni>(),
        dense_bf16_entry<KS, avx512_bodies, arch::avx512vnni>(),
#endif
#if defined(LOWBIT_HAVE_AMX_KERNELS)
        dense_i8_entry<KS, avx512vnni_bodies, arch::amx>(),
        dense_f32_entry<KS, avx512_bodies, arch::amx>(),
        dense_bf16_entry<KS, avx512_bodies, arch::amx>(),
#endif
#if defined(LOWBIT_HAVE_ARM_KERNELS)
        dense_i8_entry<KS, neon_bodies>(),
        dense_f32_entry<KS, neon_bodies>(),
        dense_i8_entry<KS, neondot_bodies>(),
        dense_f32_entry<KS, neon_bodies, arch::neondot>(),
        dense_bf16_entry<KS, neon_bodies>(),
        dense_bf16_entry<KS, neon_bodies, arch::neondot>(),
#endif
    };
    static constexpr detail::kernel_family family() noexcept { return {entries, sizeof entries / sizeof entries[0]}; }
};

template <class KS>
struct tiled_table {
    static constexpr kernel_entry entries[] = {
        {key_of<KS>(layout::tiled, matmul_path::reference, arch::scalar), arch::scalar, nullptr, nullptr, &tiled_reference_rows<KS>, 64},
        tiled_i8_entry<KS, scalar_bodies>(),
        tiled_f32_entry<KS, scalar_bodies>(),
        tiled_bf16f_entry<KS, scalar_bodies>(),
#if defined(LOWBIT_HAVE_X86_KERNELS)
        tiled_bf16f_entry<KS, avx2_bodies>(),
        tiled_i8_entry<KS, avx2_bodies>(),
        tiled_f32_entry<KS, avx2_bodies>(),
        tiled_i8_entry<KS, avx512_bodies>(),
        tiled_f32_entry<KS, avx512_bodies>(),
        tiled_i8_entry<KS, avxvnni_bodies>(),
        tiled_f32_entry<KS, avx2_bodies, arch::avxvnni>(),
        tiled_i8_entry<KS, avx512vnni_bodies>(),
        tiled_f32_entry<KS, avx512_bodies, arch::avx512vnni>(),
#endif
#if defined(LOWBIT_HAVE_BF16_KERNELS)
        tiled_bf16_entry<KS, arch::avx512>(),
        tiled_bf16_entry<KS, arch::avx512vnni>(),
#if defined(LOWBIT_HAVE_AMX_BF16_KERNELS)
        tiled_amx_bf16_entry<KS>(),
#endif
        tiled_bf16_entry<KS, arch::amx>(),
#endif
#if defined(LOWBIT_HAVE_AMX_KERNELS)
        tiled_i8_entry<KS, amx_bodies>(),
        tiled_f32_entry<KS, avx512_bodies, arch::amx>(),
#endif
#if defined(LOWBIT_HAVE_ARM_KERNELS)
        tiled_i8_entry<KS, neon_bodies>(),
        tiled_f32_entry<KS, neon_bodies>(),
        tiled_i8_entry<KS, neondot_bodies>(),
        tiled_f32_entry<KS, neon_bodies, arch::neondot>(),
        tiled_bf16f_entry<KS, neon_bodies>(),
        tiled_bf16f_entry<KS, neon_bodies, arch::neondot>(),
#endif
    };
    static constexpr detail::kernel_family family() noexcept { return {entries, sizeof entries / sizeof entries[0]}; }
};
LOWBIT_OWN_KERNELS_END

}  // namespace kdetail
}  // namespace lowbit
