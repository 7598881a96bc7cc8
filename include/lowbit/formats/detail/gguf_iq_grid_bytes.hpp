// lowbit/formats/detail/gguf_iq_grid_bytes.hpp — the lattice grids of
// gguf_iq_grids.hpp expanded, at compile time, to one byte per coordinate,
// for the SIMD dot products (a point becomes one 64-bit or 32-bit load).
// Private to formats/gguf_matmul.hpp's kernels.
//
// Built from the compact definition (index list + level table), not
// transcribed: point p's byte i is the level of coordinate i. IQ1's bytes are
// 8 x level (-8, 0, 8), so that adding the block's +-1 shift gives the
// integer 8 (level +- 1/8) of gguf_dot_iq.hpp. Also the 128 7-bit sign fields
// (iq_sign_byte) as 64-bit masks of +-1 bytes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../gguf_iq_grids.hpp"

namespace lowbit {
namespace gguf {
namespace detail {

template <class T, std::size_t N>
struct grid_bytes {
    T v[N];
};

// Byte i of v[p] = the level of coordinate i of point p: 8-wide grids (2 bits
// per coordinate) in 64-bit words, 4-wide grids (3 bits) in 32-bit words.
template <class T, std::size_t N>
constexpr grid_bytes<T, N> expand_grid(const std::uint16_t (&index)[N], const std::uint8_t* levels) noexcept {
    constexpr int coords = sizeof(T);
    grid_bytes<T, N> g{};
    for (std::size_t p = 0; p < N; ++p)
        for (int i = 0; i < coords; ++i) {
            const int level = coords == 8 ? iq_grids::level2(index[p], i) : iq_grids::level3(index[p], i);
            g.v[p] |= static_cast<T>(levels[level]) << (8 * i);
        }
    return g;
}
// IQ1: levels -1, 0, 1 as the bytes of 8 x level.
constexpr std::uint8_t iq1_levels_x8[3] = {static_cast<std::uint8_t>(-8), 0, 8};

inline constexpr auto iq2xxs_bytes = expand_grid<std::uint64_t>(iq_grids::iq2xxs_index, iq_grids::iq2_levels);
inline constexpr auto iq2xs_bytes = expand_grid<std::uint64_t>(iq_grids::iq2xs_index, iq_grids::iq2_levels);
inline constexpr auto iq2s_bytes = expand_grid<std::uint64_t>(iq_grids::iq2s_index, iq_grids::iq2_levels);
inline constexpr auto iq1s_bytes = expand_grid<std::uint64_t>(iq_grids::iq1s_index, iq1_levels_x8);
// IQ1 points as the AVX2 copies dot them: the unsigned bytes 8 (level + 1),
// i.e. 0, 8, 16; the shift and the 8 come off with the activation bsums.
constexpr std::uint8_t iq1_levels_x8_plus8[3] = {0, 8, 16};
inline constexpr auto iq1_unsigned_bytes = expand_grid<std::uint64_t>(iq_grids::iq1s_index, iq1_levels_x8_plus8);
inline constexpr auto iq3xxs_bytes = expand_grid<std::uint32_t>(iq_grids::iq3xxs_index, iq_grids::iq3xxs_levels);
inline constexpr auto iq3s_bytes = expand_grid<std::uint32_t>(iq_grids::iq3s_index, iq_grids::iq3s_levels);

// The 7-bit sign fields as 8 bytes each, ready for a byte-wise sign
// instruction: 0xff (-1) where iq_sign_byte's bit is set, else 0x01 (+1), so
// that one 64-bit load replaces the per-bit unpacking of the field.
constexpr grid_bytes<std::uint64_t, 128> expand_sign_masks() noexcept {
    grid_bytes<std::uint64_t, 128> g{};
    for (unsigned s = 0; s < 128; ++s)
        for (int j = 0; j < 8; ++j)
            g.v[s] |= static_cast<std::uint64_t>((iq_grids::iq_sign_byte(s) >> j) & 1u ? 0xffu : 0x01u) << (8 * j);
    return g;
}
inline constexpr auto iq_sign_masks = expand_sign_masks();

}  // namespace detail
}  // namespace gguf
}  // namespace lowbit
