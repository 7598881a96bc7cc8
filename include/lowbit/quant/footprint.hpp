// lowbit/quant/footprint.hpp — bits per weight and bytes of a scheme.
//
// A group of G weights stores G codes of b bits, one scale (16 or 32 bits) and,
// for asymmetric schemes, one zero point (8 bits: a byte, as lowbit stores it).
//   bpw = b + scale_bits / G + zero_bits / G
// e.g. 4-bit, g128, f16 scales, symmetric: 4 + 16/128 = 4.125 bpw, so a 70e9
// parameter model takes 70e9 * 4.125 / 8 = 36.09e9 bytes (36.1 GB, 33.6 GiB).
// Per channel, G is the row length K; per tensor, the scale is amortised over
// everything (bpw -> b).
#pragma once

#include <cstddef>
#include <limits>

#include "../core/scheme.hpp"

namespace lowbit {

// Bits per weight for rows of length `cols` (needed for per-channel; ignored by
// per-group except for the shorter tail group). per_tensor counts one scale per
// rows * cols weights.
// An invalid scheme (s.validate() fails: bits outside 1..8, group < 1) gives NaN.
inline double bits_per_weight(const runtime_scheme& s, std::size_t cols = 0, std::size_t rows = 1) noexcept {
    if (!s.validate().ok()) return std::numeric_limits<double>::quiet_NaN();
    const double extra = scale_bits(s.scale) + (s.symmetric ? 0 : 8);
    switch (s.gran) {
        case granularity::per_tensor: {
            const double n = static_cast<double>(rows) * static_cast<double>(cols);
            return s.bits + (n > 0 ? extra / n : 0.0);
        }
        case granularity::per_channel: return s.bits + (cols ? extra / static_cast<double>(cols) : 0.0);
        case granularity::per_group:
        default: {
            if (cols == 0) return s.bits + extra / s.group;
            const std::size_t groups = (cols + static_cast<std::size_t>(s.group) - 1) / static_cast<std::size_t>(s.group);
            return s.bits + extra * static_cast<double>(groups) / static_cast<double>(cols);
        }
    }
}

// Bytes of n_params weights under s (rows of length cols; 0 = asymptotic per-group value).
inline double footprint_bytes(const runtime_scheme& s, double n_params, std::size_t cols = 0) noexcept {
    return n_params * bits_per_weight(s, cols) / 8.0;
}

}  // namespace lowbit
