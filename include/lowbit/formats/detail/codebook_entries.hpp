// lowbit/formats/detail/codebook_entries.hpp — the kernel table's entries for
// codebook weights (formats/codebook.hpp; kernels/table.hpp): one family per
// index width (3, 4 bits), one entry per arch. Activations are quantized to
// Q8_0 blocks in the workspace (as for IQ4_NL); the grid is read from the
// weights_view. Every entry equals the scalar model bit for bit.
//
// Entries: the reference and the int8 path of the scalar model; on x86 the
// avx2 body for avx2, avxvnni and avx512, the avx512vnni body for avx512vnni
// and amx; on AArch64 the neon and neondot copies. sse2 falls back to the
// scalar model, reported in matmul_info.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../../kernels/arch.hpp"
#include "../../kernels/table.hpp"
#include "../../weights/weights_view.hpp"
#include "../codebook.hpp"
#include "codebook_dot.hpp"
#include "q8_activations.hpp"

#if defined(LOWBIT_X86) && (defined(__GNUC__) || defined(__clang__)) && !defined(LOWBIT_NO_X86_KERNELS)
#define LOWBIT_HAVE_CODEBOOK_X86 1
#include "x86/codebook_dot_x86.hpp"
#endif
#if defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(LOWBIT_NO_ARM_KERNELS)
#define LOWBIT_HAVE_CODEBOOK_ARM 1
#include "arm/codebook_dot_neon.hpp"
#endif

namespace lowbit {
namespace codebook {
namespace detail {

// A `*_bodies` struct: rows_dot<C> (one weight row against C activation rows).
struct cb_scalar_bodies {
    static constexpr arch a = arch::scalar;
    template <int C, class B>
    static void rows_dot(const B* w, const std::int8_t* g, const gguf::block_q8_0* x, std::size_t ldx, std::size_t nb, float* out) noexcept {
        for (int c = 0; c < C; ++c) out[c] = row_dot_scalar(w, g, x + c * ldx, nb);
    }
};
#if defined(LOWBIT_HAVE_CODEBOOK_X86) || defined(LOWBIT_HAVE_CODEBOOK_ARM)
#define LOWBIT_CB_BODIES(NS)                                                                                                    \
    struct cb_##NS##_bodies {                                                                                                   \
        static constexpr arch a = arch::NS;                                                                                     \
        template <int C, class B>                                                                                               \
        static void rows_dot(const B* w, const std::int8_t* g, const gguf::block_q8_0* x, std::size_t ldx, std::size_t nb,      \
                             float* out) noexcept {                                                                             \
            NS::rows_dot<C>(w, g, x, ldx, nb, out);                                                                             \
        }                                                                                                                       \
    };
#if defined(LOWBIT_HAVE_CODEBOOK_X86)
LOWBIT_CB_BODIES(avx2)
LOWBIT_CB_BODIES(avx512vnni)
#endif
#if defined(LOWBIT_HAVE_CODEBOOK_ARM)
LOWBIT_CB_BODIES(neon)
LOWBIT_CB_BODIES(neondot)
#endif
#undef LOWBIT_CB_BODIES
#endif

// Weight rows [r0, r1): four activation rows at a time against each weight
// row (the weight block is looked up once for the four), then the rest one by one.
template <class B, class Bodies>
void cb_rows(const matmul_call& c, std::size_t r0, std::size_t r1) {
    const std::size_t nb = c.w->cols() / 32, rb = c.w->row_bytes();
    const gguf::block_q8_0* acts = static_cast<const gguf::block_q8_0*>(c.ws);
    const std::int8_t* g = c.w->grid();
    std::size_t m = 0;
    for (; m + 4 <= c.M; m += 4)
        for (std::size_t r = r0; r < r1; ++r) {
            float out[4];
            Bodies::template rows_dot<4>(reinterpret_cast<const B*>(c.w->codes() + r * rb), g, acts + m * nb, nb, nb, out);
            for (int k = 0; k < 4; ++k) c.y[(m + k) * c.ldy + r] = out[k];
        }
    for (std::size_t r = r0; r < r1; ++r)
        for (std::size_t mm = m; mm < c.M; ++mm) {
            float out[1];
            Bodies::template rows_dot<1>(reinterpret_cast<const B*>(c.w->codes() + r * rb), g, acts + mm * nb, nb, nb, out);
            c.y[mm * c.ldy + r] = out[0];
        }
}

template <class B, class Bodies, matmul_path P = matmul_path::int8_dot, arch K = Bodies::a>
constexpr kernel_entry cb_entry() noexcept {
    kernel_key k;
    k.lay = layout::codebook;
    k.bits_or_type = B::bits;
    k.scale = scale_type::f16;
    k.path = P;
    k.a = K;
    using A = gguf::block_q8_0;
    return {k, Bodies::a, &gguf::detail::activation_ws_bytes<A>, &gguf::detail::prepare_activations<A>, &cb_rows<B, Bodies>, 32};
}

template <class B>
struct cb_table {
    static constexpr std::size_t count = 2
#if defined(LOWBIT_HAVE_CODEBOOK_X86)
                                         + 5
#endif
#if defined(LOWBIT_HAVE_CODEBOOK_ARM)
                                         + 2
#endif
        ;
    static constexpr lowbit::detail::entry_list<count> build() noexcept {
        lowbit::detail::entry_list<count> l{};
        l.add(cb_entry<B, cb_scalar_bodies, matmul_path::reference>());
        l.add(cb_entry<B, cb_scalar_bodies>());
#if defined(LOWBIT_HAVE_CODEBOOK_X86)
        l.add(cb_entry<B, cb_avx2_bodies>());
        l.add(cb_entry<B, cb_avx2_bodies, matmul_path::int8_dot, arch::avxvnni>());
        l.add(cb_entry<B, cb_avx2_bodies, matmul_path::int8_dot, arch::avx512>());
        l.add(cb_entry<B, cb_avx512vnni_bodies>());
        l.add(cb_entry<B, cb_avx512vnni_bodies, matmul_path::int8_dot, arch::amx>());
#endif
#if defined(LOWBIT_HAVE_CODEBOOK_ARM)
        l.add(cb_entry<B, cb_neon_bodies>());
        l.add(cb_entry<B, cb_neondot_bodies>());
#endif
        return l;
    }
    static constexpr lowbit::detail::entry_list<count> entries = build();
    static constexpr lowbit::detail::kernel_family family() noexcept { return entries.family(); }
};

// The family of codebook weights with `bits`-bit indices (count 0: none).
constexpr lowbit::detail::kernel_family codebook_family(int bits) noexcept {
    return bits == 4 ? cb_table<block4>::family() : bits == 3 ? cb_table<block3>::family() : lowbit::detail::kernel_family{};
}

}  // namespace detail
}  // namespace codebook
}  // namespace lowbit
