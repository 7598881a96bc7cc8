// lowbit/kernels/detail/generic.hpp — layer A of the dispatch (arch::sse2):
// the f32 path on core/detail/vec4.hpp's 4-lane vectors, which need no
// run-time check (SSE2 on x86-64, NEON on AArch64). Codes of a super-chunk
// are unpacked into a 256-entry float buffer (in arranged order), then each
// block is two 16-float runs of multiply-adds. The int8 path has no kernel
// here; arch::sse2 runs its scalar model there.
#pragma once

#include <cstddef>
#include <cstdint>

#include "blocks.hpp"
#include "../../core/detail/vec4.hpp"

namespace lowbit {
namespace kdetail {

template <class S>
inline void f32_rows_generic(const qmatrix_view<S>& w, std::size_t r0, std::size_t r1, const act_f32* a, std::size_t M,
                             const act_geometry& g, float* out, std::size_t ld) noexcept {
    namespace v4 = lowbit::detail::v4;
    using v4::f32x4;
    constexpr std::size_t L = v4::lanes;
    constexpr int B = S::bits;
    const auto& ar = arranged<B>();
    alignas(64) float u[chunk];
    const bool small = small_groups(w);  // codes dequantized per quarter in u (blocks.hpp)
    const auto& qm = quarters<B>();
    float qs[32], qz[32];
    for (std::size_t r = r0; r < r1; ++r) {
        const std::uint8_t* row = w.row(r);
        for (std::size_t m = 0; m < M; ++m) {
            float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            for (std::size_t sc = 0; sc < g.nsc; ++sc) {
                if (small) quarter_scales(w, r, sc, decode_scale<S>{w}, qs, qz);
                for (std::size_t p = 0; p < chunk; ++p) {
                    const std::size_t col = sc * chunk + ar.nat[p];
                    u[p] = col < g.K ? static_cast<float>(get_code<B>(row, col)) : 0.0f;
                    if (small) u[p] = (u[p] - qz[qm.at[p]]) * qs[qm.at[p]];
                }
                const float* xc = a[m].x + sc * chunk;
                for (std::size_t k = 0; k < chunk_blocks; ++k) {
                    const std::size_t b = sc * chunk_blocks + k;
                    if (b >= g.nb) break;
                    const std::size_t base = (k / 4) * 128 + (k % 4) * 16;  // register 0; register 1 at +64
                    const float sg = small ? 1.0f : scale_value(w, w.scale_index(r, block_group(w, b)));
                    const f32x4 z(small ? 0.0f : block_zero(w, r, b));
                    f32x4 s(0.0f);
                    for (std::size_t half = 0; half < 2; ++half)
                        for (std::size_t i = 0; i < 16; i += L) {
                            const std::size_t q = base + half * 64 + i;
                            s = v4::mul_add(f32x4::load(u + q) - z, f32x4::load(xc + q), s);
                        }
                    acc[k] = std::fma(sg, v4::reduce_add(s), acc[k]);
                }
            }
            out[m * ld + r] = reduce8(acc);
        }
    }
}

}  // namespace kdetail
}  // namespace lowbit
