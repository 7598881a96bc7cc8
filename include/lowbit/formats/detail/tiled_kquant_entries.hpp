// lowbit/formats/detail/tiled_kquant_entries.hpp — the kernel table's entries
// for weights of layout::tiled_kquant (formats/tiled_kquant.hpp): one family
// per ggml type (Q4_K, Q5_K, Q6_K), the int8 path and the reference.
//
// The model is kdetail::kq_tile_scalar (kernels/detail/tiled_kquant_blocks.hpp);
// every entry equals it bit for bit. Not ggml's numbers: ggml quantizes the
// activations per 256 (Q8_K); this path quantizes them per 32 as the tiled
// layout does, so a repacked Q4_K runs the same activation preparation as a
// repacked Q4_0.
//
// Entries: the reference and the model (scalar); x86: avx2's ymm body for avx2
// and avx512 (as the tiled codebook entries decided: a zmm maddubs copy for
// AVX-512 without VNNI would cost every build compile time for CPUs that have
// little use for it), avxvnni's, avx512vnni's, and amx's tile body
// (x86/tiled_kquant_amx.hpp); AArch64: neon's and neondot's
// (kernels/detail/arm/tiled_kquant_body.inl). sse2 falls back to the model,
// reported.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../../core/half.hpp"
#include "../../core/scheme.hpp"
#include "../../kernels/arch.hpp"
#include "../../kernels/detail/entries.hpp"
#include "../../kernels/detail/tiled_kquant_blocks.hpp"
#include "../../kernels/detail/tiled_reference.hpp"
#include "../../kernels/table.hpp"
#include "../../weights/weights_view.hpp"
#include "tiled_kquant_view.hpp"
#if defined(LOWBIT_HAVE_AMX_KERNELS)
#include "x86/tiled_kquant_amx.hpp"
#endif

namespace lowbit {
namespace kquant {
namespace detail {

// The activation preparation's scheme: the asymmetric form of prepare_ti8
// (zq = the block's code sum; the code width does not enter it).
using kq_prep_scheme = scheme<4, per_group<32>, asymmetric, scale_f16>;

// Workspace: codes, steps, two half sums per block, one tact_i8 per row.
struct kq_ws {
    std::int8_t* q;
    float* dx;
    std::int32_t* zq;
    kdetail::tact_i8* acts;
    std::size_t pad, nb;
    static std::size_t bytes(std::size_t K, std::size_t M) noexcept {
        const std::size_t nb = K / tile_block;
        return kdetail::round64(M * nb * tile_block) + kdetail::round64(M * nb * 4) + kdetail::round64(M * nb * 8) +
               M * sizeof(kdetail::tact_i8);
    }
    static kq_ws at(void* base, std::size_t K, std::size_t M) noexcept {
        const std::size_t nb = K / tile_block, pad = nb * tile_block;
        const std::size_t q_bytes = kdetail::round64(M * pad), f_bytes = kdetail::round64(M * nb * 4), z_bytes = kdetail::round64(M * nb * 8);
        auto* b = static_cast<unsigned char*>(base);
        return {reinterpret_cast<std::int8_t*>(b), reinterpret_cast<float*>(b + q_bytes), reinterpret_cast<std::int32_t*>(b + q_bytes + f_bytes),
                reinterpret_cast<kdetail::tact_i8*>(b + q_bytes + f_bytes + z_bytes), pad, nb};
    }
};

inline std::size_t kq_bytes(const weights_view& w, std::size_t M) noexcept { return kq_ws::bytes(w.cols(), M); }
template <class Prep>
status kq_prepare(const matmul_call& c, std::size_t m) {
    const kq_ws ws = kq_ws::at(c.ws, c.w->cols(), c.M);
    const float* x = c.x + m * c.ldx;
    std::int8_t* q = ws.q + m * ws.pad;
    float* dx = ws.dx + m * ws.nb;
    std::int32_t* zq = ws.zq + 2 * m * ws.nb;
    if (!Prep::template tprep<kq_prep_scheme>(x, nullptr, c.w->cols(), ws.nb, q, dx, zq))
        kdetail::prepare_ti8<4, false>(x, nullptr, c.w->cols(), ws.nb, q, dx, zq);
    kdetail::kq_half_sums(q, ws.nb, zq);
    ws.acts[m] = kdetail::tact_i8{q, dx, zq};
    return {};
}

// `*_bodies`: tiles<B>(...) runs tiles [t0, t1); prep: whose preparation.
struct kq_scalar_bodies {
    static constexpr arch a = arch::scalar;
    using prep = kdetail::scalar_bodies;
    template <int B>
    static void tiles(const kdetail::kq_view& w, std::size_t t0, std::size_t t1, const kdetail::tact_i8* acts, std::size_t M, float* y,
                      std::size_t ldy) noexcept {
        for (std::size_t m = 0; m < M; m += 64)
            for (std::size_t t = t0; t < t1; ++t) kdetail::kq_tile_scalar<B>(w, t, acts + m, M - m < 64 ? M - m : 64, y + m * ldy, ldy);
    }
};
#if defined(LOWBIT_HAVE_X86_KERNELS) || defined(LOWBIT_HAVE_ARM_KERNELS)
// A: the arch; NS: its kq_tiles (kdetail::NS); PREP: whose preparation.
#define LOWBIT_KQ_BODIES(A, NS, PREP)                                                                                          \
    struct kq_##A##_bodies {                                                                                                   \
        static constexpr arch a = arch::A;                                                                                     \
        using prep = kdetail::PREP##_bodies;                                                                                   \
        template <int B>                                                                                                       \
        static void tiles(const kdetail::kq_view& w, std::size_t t0, std::size_t t1, const kdetail::tact_i8* acts, std::size_t M, \
                          float* y, std::size_t ldy) noexcept {                                                                \
            kdetail::NS::kq_tiles<B>(w, t0, t1, acts, M, y, ldy);                                                              \
        }                                                                                                                      \
    };
#if defined(LOWBIT_HAVE_X86_KERNELS)
LOWBIT_KQ_BODIES(avx2, avx2, avx2)
LOWBIT_KQ_BODIES(avxvnni, avxvnni, avx2)
LOWBIT_KQ_BODIES(avx512vnni, avx512vnni, avx512)
#endif
#if defined(LOWBIT_HAVE_AMX_KERNELS)
// amx: the tile body (x86/tiled_kquant_amx.hpp; the avx512vnni body below
// its row thresholds), avx512's preparation.
LOWBIT_KQ_BODIES(amx, kq_amx, avx512)
#endif
#if defined(LOWBIT_HAVE_ARM_KERNELS)
// arm/tiled_kquant_body.inl; both with the NEON activation preparation.
LOWBIT_KQ_BODIES(neon, neon, neon)
LOWBIT_KQ_BODIES(neondot, neondot, neon)
#endif
#undef LOWBIT_KQ_BODIES
#endif

// Weight rows [r0, r1): whole tiles (r0 a multiple of 64).
template <int B, class Bodies>
void kq_rows(const matmul_call& c, std::size_t r0, std::size_t r1) {
    Bodies::template tiles<B>(kdetail::kq_view_of(*c.w), r0 / tile_rows, (r1 + tile_rows - 1) / tile_rows, kq_ws::at(c.ws, c.w->cols(), c.M).acts,
                              c.M, c.y, c.ldy);
}
// The reference: double sums of the weights' values (ggml's decode) times x,
// on the tiled layouts' one walk (kernels/detail/tiled_reference.hpp).
template <int B>
void kq_reference_rows(const matmul_call& c, std::size_t r0, std::size_t r1) {
    const kdetail::kq_view w = kdetail::kq_view_of(*c.w);
    lowbit::detail::tiled_code_reference_rows<B>(
        c, r0, r1, w.rows, w.blocks, [&](std::size_t t, std::size_t b) { return w.block(t, b, B); },
        [&](std::size_t t, std::size_t i, std::size_t b, std::size_t j, std::uint8_t u) { return kdetail::kq_value<B>(w, t, i, b, j, u); });
}

template <gguf::gguf_type T, arch K>
constexpr kernel_key kq_key(matmul_path p) noexcept {
    kernel_key k;
    k.lay = layout::tiled_kquant;
    k.bits_or_type = static_cast<int>(T);
    k.symmetric = false;
    k.scale = scale_type::f16;
    k.path = p;
    k.a = K;
    return k;
}
template <gguf::gguf_type T, class Bodies, arch K = Bodies::a>
constexpr kernel_entry kq_entry() noexcept {
    return {kq_key<T, K>(matmul_path::int8_dot), Bodies::a, &kq_bytes, &kq_prepare<typename Bodies::prep>, &kq_rows<kquant_bits(T), Bodies>,
            64, 0};
}

template <gguf::gguf_type T>
struct kq_table_of {
    static constexpr kernel_entry entries[] = {
        {kq_key<T, arch::scalar>(matmul_path::reference), arch::scalar, nullptr, nullptr, &kq_reference_rows<kquant_bits(T)>, 64},
        kq_entry<T, kq_scalar_bodies>(),
#if defined(LOWBIT_HAVE_X86_KERNELS)
        kq_entry<T, kq_avx2_bodies>(),
        kq_entry<T, kq_avx2_bodies, arch::avx512>(),
        kq_entry<T, kq_avxvnni_bodies>(),
        kq_entry<T, kq_avx512vnni_bodies>(),
#endif
#if defined(LOWBIT_HAVE_AMX_KERNELS)
        kq_entry<T, kq_amx_bodies>(),
#endif
#if defined(LOWBIT_HAVE_ARM_KERNELS)
        kq_entry<T, kq_neon_bodies>(),
        kq_entry<T, kq_neondot_bodies>(),
#endif
    };
    static constexpr lowbit::detail::kernel_family family() noexcept { return {entries, sizeof entries / sizeof entries[0]}; }
};

// The family of tiled K-quant weights of ggml type t (count 0: none).
constexpr lowbit::detail::kernel_family tiled_kquant_family(gguf::gguf_type t) noexcept {
    return t == gguf::gguf_type::q4_K   ? kq_table_of<gguf::gguf_type::q4_K>::family()
           : t == gguf::gguf_type::q5_K ? kq_table_of<gguf::gguf_type::q5_K>::family()
           : t == gguf::gguf_type::q6_K ? kq_table_of<gguf::gguf_type::q6_K>::family()
                                        : lowbit::detail::kernel_family{};
}

}  // namespace detail
}  // namespace kquant
}  // namespace lowbit
