// lowbit/pack/bitpack.hpp — dense bit packing of b-bit codes, b = 1..8.
//
// Bit order (docs/formats.md, "lowbit weights in GGUF", "Values"): the codes
// form one little-endian bit stream. Code i occupies stream bits
// [i*b, i*b + b), and stream bit j is bit (j % 8) of byte j / 8. So 4-bit
// codes put code 0 in the low nibble of byte 0; 3-bit codes straddle bytes
// (code 2 uses bits 6..7 of byte 0 and bit 0 of byte 1). A row of n codes
// takes ceil(n*b/8) bytes and the unused high bits of the last byte are zero.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../core/config.hpp"
#include "../core/status.hpp"
#include "../core/views.hpp"  // detail::overlaps

namespace lowbit {

constexpr std::size_t packed_bytes(std::size_t n, int bits) noexcept {
    return (n * static_cast<std::size_t>(bits) + 7) / 8;
}

// Pack n codes (each < 2^Bits; higher bits are masked off) into packed_bytes(n, Bits) bytes.
template <int Bits>
inline void pack_codes(const std::uint8_t* codes, std::size_t n, std::uint8_t* out) noexcept {
    static_assert(Bits >= 1 && Bits <= 8, "1..8 bits");
    constexpr std::uint32_t mask = (1u << Bits) - 1u;
    std::uint32_t acc = 0;  // pending bits, LSB first
    int have = 0;
    std::size_t o = 0;
    for (std::size_t i = 0; i < n; ++i) {
        acc |= (codes[i] & mask) << have;
        have += Bits;
        while (have >= 8) {
            out[o++] = static_cast<std::uint8_t>(acc);
            acc >>= 8;
            have -= 8;
        }
    }
    if (have > 0) out[o] = static_cast<std::uint8_t>(acc);
}

// Unpack n codes from a stream written by pack_codes<Bits>.
template <int Bits>
inline void unpack_codes(const std::uint8_t* in, std::size_t n, std::uint8_t* codes) noexcept {
    static_assert(Bits >= 1 && Bits <= 8, "1..8 bits");
    constexpr std::uint32_t mask = (1u << Bits) - 1u;
    std::uint32_t acc = 0;
    int have = 0;
    std::size_t p = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (have < Bits) {
            acc |= static_cast<std::uint32_t>(in[p++]) << have;
            have += 8;
        }
        codes[i] = static_cast<std::uint8_t>(acc & mask);
        acc >>= Bits;
        have -= Bits;
    }
}

// Random access to code i of a packed row. Reads only bytes that hold its bits.
template <int Bits>
LOWBIT_ALWAYS_INLINE std::uint8_t get_code(const std::uint8_t* row, std::size_t i) noexcept {
    const std::size_t bit = i * Bits;
    const std::size_t byte = bit >> 3;
    const unsigned shift = static_cast<unsigned>(bit & 7u);
    std::uint32_t v = row[byte] >> shift;
    if (shift + Bits > 8) v |= static_cast<std::uint32_t>(row[byte + 1]) << (8 - shift);
    return static_cast<std::uint8_t>(v & ((1u << Bits) - 1u));
}

// Runtime-width twins (thin switches onto the templates), for tools.
namespace detail {
template <class F>
inline status with_bits(int bits, F&& f) {
    switch (bits) {
        case 1: f(std::integral_constant<int, 1>{}); break;
        case 2: f(std::integral_constant<int, 2>{}); break;
        case 3: f(std::integral_constant<int, 3>{}); break;
        case 4: f(std::integral_constant<int, 4>{}); break;
        case 5: f(std::integral_constant<int, 5>{}); break;
        case 6: f(std::integral_constant<int, 6>{}); break;
        case 7: f(std::integral_constant<int, 7>{}); break;
        case 8: f(std::integral_constant<int, 8>{}); break;
        default: return status::error(errc::invalid_argument, "bits = %d, must be 1..8", bits);
    }
    return {};
}

// The twins' buffers: present when n > 0, n * bits countable in size_t, and
// apart (unpack in place would overwrite packed bytes not yet read; pack in
// place happens to work, but is refused too rather than promised).
inline status check_pack_buffers(const char* fn, int bits, const void* codes, std::size_t n, const void* packed) noexcept {
    if (n == 0) return {};
    if (!codes || !packed) return status::error(errc::invalid_argument, "%s: n = %zu with a null buffer", fn, n);
    if (n > SIZE_MAX / 8) return status::error(errc::invalid_argument, "%s: n = %zu codes overflow the bit count", fn, n);
    const std::size_t packed_n = bits >= 1 && bits <= 8 ? packed_bytes(n, bits) : 0;  // bad bits: with_bits says so
    if (overlaps(codes, n, packed, packed_n))
        return status::error(errc::invalid_argument, "%s: the codes and the packed bytes overlap", fn);
    return {};
}
}  // namespace detail

inline status pack_codes(int bits, const std::uint8_t* codes, std::size_t n, std::uint8_t* out) noexcept {
    LOWBIT_TRY(detail::check_pack_buffers("pack_codes", bits, codes, n, out));
    return detail::with_bits(bits, [&](auto b) { pack_codes<decltype(b)::value>(codes, n, out); });
}
inline status unpack_codes(int bits, const std::uint8_t* in, std::size_t n, std::uint8_t* codes) noexcept {
    LOWBIT_TRY(detail::check_pack_buffers("unpack_codes", bits, codes, n, in));
    return detail::with_bits(bits, [&](auto b) { unpack_codes<decltype(b)::value>(in, n, codes); });
}

}  // namespace lowbit
