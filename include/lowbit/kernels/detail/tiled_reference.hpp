// lowbit/kernels/detail/tiled_reference.hpp — the reference walk of the tiled
// layouts whose blocks hold one code per weight in IB bit planes and whose
// value per code is a layout's own (tiled K-quant: ggml's sub-block scales
// and mins; tiled codebook: a grid entry times the block's scale).
//
// Written for clarity, as kernels/detail/reference.hpp: sums in double in
// column order, rounded to float once. Both layouts' reference entries are
// this walk; they differ only in the value callable, so a change of the walk
// (a tile's rows, the quad order of planes_to_quads) cannot reach one of them
// and not the other.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../../pack/tiled.hpp"
#include "../../weights/weights_view.hpp"
#include "../table.hpp"

namespace lowbit {
namespace detail {

// y[m][t * tile_rows + i] = sum over blocks b and columns j of
// value(t, i, b, j, u) * x[m][b * tile_block + j], for the tiles holding rows
// [r0, r1) of a rows x (blocks * tile_block) matrix, every activation row m
// of c; u is code (i, j) of block (t, b) unpacked from block(t, b)'s IB bit
// planes, value returns it as a double.
template <int IB, class Block, class Value>
void tiled_code_reference_rows(const matmul_call& c, std::size_t r0, std::size_t r1, std::size_t rows, std::size_t blocks, Block&& block,
                          Value&& value) {
    std::uint8_t v[tile_quads][64];
    for (std::size_t t = r0 / tile_rows; t < (r1 + tile_rows - 1) / tile_rows; ++t) {
        const std::size_t n = rows - t * tile_rows < tile_rows ? rows - t * tile_rows : tile_rows;
        for (std::size_t m = 0; m < c.M; ++m) {
            double acc[tile_rows] = {};
            const float* x = c.x + m * c.ldx;
            for (std::size_t b = 0; b < blocks; ++b) {
                planes_to_quads<IB>(block(t, b), v);
                for (std::size_t i = 0; i < n; ++i)
                    for (std::size_t j = 0; j < tile_block; ++j) acc[i] += value(t, i, b, j, v[j / 4][4 * i + j % 4]) * x[b * tile_block + j];
            }
            for (std::size_t i = 0; i < n; ++i) c.y[m * c.ldy + t * tile_rows + i] = static_cast<float>(acc[i]);
        }
    }
}

}  // namespace detail
}  // namespace lowbit
