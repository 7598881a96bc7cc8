// Helpers of the codebook tests (test_codebook.cpp in test_gguf_matmul,
// test_codebook_tiled.cpp in test_kernels_tiled): grids the kernels must take,
// weights with adversarial rows, the plain value of a stored weight.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <vector>

#include <lowbit/formats/codebook.hpp>

#include "test_util.hpp"

namespace lowbit_test {
namespace cb_helpers {

using namespace lowbit;
namespace cb = lowbit::codebook;

inline cb::grid make_grid(int bits, std::initializer_list<int> levels) {
    cb::grid g;
    g.bits = bits;
    int i = 0;
    for (int v : levels) g.levels[i++] = static_cast<std::int8_t>(v);
    return g;
}

// Grids the kernels must take: NF, the extremes +-127, one-sided and lopsided ones.
inline std::vector<cb::grid> test_grids() {
    return {cb::nf_grid(4),
            cb::nf_grid(3),
            make_grid(4, {-127, -126, -125, -124, -123, -122, -121, -120, -119, -118, -117, -116, -115, -114, -113, 127}),
            make_grid(4, {0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 70, 80, 90, 100, 110, 127}),
            make_grid(3, {-127, -1, 0, 1, 2, 3, 4, 127}),
            make_grid(3, {-100, -50, -20, -5, 5, 20, 50, 100})};
}

// Plain value of weight (r, c) of codebook weights, from the block bytes.
inline float weight_at(const weights_view& w, std::size_t r, std::size_t c) {
    const std::uint8_t* blk = w.codes() + r * w.row_bytes() + (c / 32) * codebook_block_bytes(w.scheme().bits);
    std::uint16_t d;
    std::memcpy(&d, blk, 2);
    const int j = static_cast<int>(c % 32);
    int idx;
    if (w.scheme().bits == 4) idx = j < 16 ? blk[2 + j] & 15 : blk[2 + j - 16] >> 4;
    else idx = ((blk[2 + j % 8] >> (2 * (j / 8))) & 3) | (((blk[10 + j / 8] >> (j % 8)) & 1) << 2);
    return f16_to_f32(d) * static_cast<float>(w.grid()[idx]);
}

inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Weights with adversarial rows: zeros, one outlier, huge, tiny, constant.
inline std::vector<float> adversarial(std::size_t n, std::size_t k, std::uint32_t seed) {
    std::vector<float> w = lowbit_test::gaussian(n * k, seed);
    for (std::size_t r = 0; r < n; ++r) {
        float* row = w.data() + r * k;
        switch (r % 6) {
            case 1: std::fill(row, row + k, 0.0f); break;
            case 2: row[k / 2] = 300.0f; break;
            case 3: for (std::size_t c = 0; c < k; ++c) row[c] *= 3e3f; break;
            case 4: for (std::size_t c = 0; c < k; ++c) row[c] *= 1e-6f; break;
            case 5: std::fill(row, row + k, -0.75f); break;
            default: break;
        }
    }
    return w;
}

}  // namespace cb_helpers
}  // namespace lowbit_test
