// lowbit/pack/tiled.hpp — the tiled kernel layout of a qmatrix and its exact
// inverse (docs/kernels.md, "Tiled layout").
//
// tiled<S> holds the same codes, scales, zeros and permutation as a
// qmatrix<S>, rearranged so that one activation load feeds 16 weight rows:
//   - rows are grouped in tiles of 16 (the last tile padded with zero rows),
//     columns in blocks of 32 (the last padded with code 0);
//   - a block of a tile (16 rows x 32 codes) is 8 "quad vectors" of 64 bytes:
//     byte 4i + e of quad vector j is the code of row i, column 4j + e. A
//     vpdpbusd of quad vector j with the 4 activations 4j..4j+3 broadcast
//     gives the 16 rows' partial dot products at once;
//   - the quad vectors are stored as bit planes of widths 8, 4, 2 or 1
//     (B = 8: 8; 7: 4+2+1; 6: 4+2; 5: 4+1; 4: 4; 3: 2+1; 2: 2; 1: 1), low
//     bits first. A plane of width p is p vectors of 64 bytes; its vector a
//     holds, at bits [t*p, t*p + p) of every byte, that plane's bits of quad
//     vector a + p*t. So quad vector j is a shift and a mask per plane: no
//     code straddles a byte and no lane crossing is needed;
//   - a block takes 64*B bytes, the bits of the codes and nothing else;
//   - scales (and zeros) are stored [tile][group][row in tile]: one load
//     gives the 16 rows' scales of a group.
// Groups must hold whole 32-blocks (group % 32 == 0, or one group per row);
// repack_tiled refuses other schemes. repack_tiled is pure, and
// unpack_tiled(repack_tiled(q)) == q bit for bit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../core/status.hpp"
#include "bitpack.hpp"
#include "qmatrix.hpp"

namespace lowbit {

// Bit planes of a B-bit code in the tiled layout, low bits first.
struct bit_planes {
    int count = 0;
    int width[3] = {0, 0, 0};
    int shift[3] = {0, 0, 0};  // position of the plane's bits within the code
};
constexpr bit_planes planes_of(int bits) noexcept {
    bit_planes p;
    if (bits == 8) {
        p.count = 1;
        p.width[0] = 8;
        return p;
    }
    const int widths[3] = {4, 2, 1};
    int rest = bits, at = 0;
    for (int k = 0; k < 3; ++k)  // greedy over 4, 2, 1
        if (rest >= widths[k]) {
            p.width[p.count] = widths[k];
            p.shift[p.count] = at;
            ++p.count;
            at += widths[k];
            rest -= widths[k];
        }
    return p;
}

// tile_rows, tile_block, tile_quads: weights/weights_view.hpp (the geometry
// every layout-aware header shares).

// A non-owning view of a tiled matrix (what the kernels read).
template <class S>
struct tiled_view {
    using scheme_type = S;
    using scale_storage = typename S::scale_storage;
    static constexpr std::size_t block_bytes = 64 * S::bits;

    const std::uint8_t* codes = nullptr;        // tiles * blocks * block_bytes
    const scale_storage* scales = nullptr;      // per_tensor: 1; else tiles * groups * 16
    const std::uint8_t* zeros = nullptr;        // asymmetric: as scales
    const std::int32_t* perm = nullptr;         // optional, cols entries
    std::size_t rows = 0, cols = 0;
    int group = 0;                              // as in the qmatrix
    std::size_t tiles = 0, blocks = 0, groups = 0;  // per matrix, per row, per row
    std::size_t blocks_per_group = 0;           // 0: one group spans the row

    const std::uint8_t* block(std::size_t t, std::size_t b) const noexcept { return codes + (t * blocks + b) * block_bytes; }
    std::size_t scale_slot(std::size_t t, std::size_t g) const noexcept {
        return S::gran == granularity::per_tensor ? 0 : (t * groups + g) * tile_rows;
    }
    std::size_t group_of_block(std::size_t b) const noexcept { return blocks_per_group ? b / blocks_per_group : 0; }

    // Checks that the fields describe a consistent tiled matrix (not the data
    // itself). The stored geometry and the static group are the typed view's
    // own checks; the rest (shape, arrays, group rule, scales and perm: the
    // kernels read x[perm[col]]) is the tiled layout's one validator
    // (weights/weights_view.hpp).
    status validate() const noexcept {
        if (S::static_group && group != S::static_group)
            return status::error(errc::invalid_argument, "tiled.group = %d but the scheme's group is %d", group, S::static_group);
        const weights_desc d = desc();
        LOWBIT_TRY(layout_traits<layout::tiled>::validate(d, "tiled"));
        using T = layout_traits<layout::tiled>;
        if (tiles != T::tiles(d) || blocks != T::blocks(d) || groups != T::groups(d) || blocks_per_group != T::blocks_per_group(d))
            return status::error(errc::invalid_argument, "tiled matrix: tiles/blocks/groups do not match %zu x %zu, group %d", rows,
                                 cols, group);
        return {};
    }
    // The run-time description of these fields (not validated).
    weights_desc desc() const noexcept {
        return detail::typed_view_desc(layout::tiled, S::runtime(group), *this, packed_bytes(cols, S::bits));
    }
};

// The owning form: repack_tiled's result.
template <class S>
struct tiled {
    using scheme_type = S;
    using scale_storage = typename S::scale_storage;
    static constexpr std::size_t block_bytes = 64 * S::bits;

    std::size_t rows = 0, cols = 0;
    int group = 0;
    std::size_t row_bytes = 0;  // of the qmatrix it came from (restored by unpack_tiled)
    std::size_t tiles = 0, blocks = 0, groups = 0, blocks_per_group = 0;
    std::vector<std::uint8_t> codes;
    std::vector<scale_storage> scales;
    std::vector<std::uint8_t> zeros;
    std::vector<std::int32_t> perm;

    tiled_view<S> view() const noexcept {  // (tiled_view's fields are in this order)
        return {codes.data(), scales.data(), S::is_symmetric ? nullptr : zeros.data(), perm.empty() ? nullptr : perm.data(),
                rows, cols, group, tiles, blocks, groups, blocks_per_group};
    }
    std::size_t bytes() const noexcept {
        return codes.size() + scales.size() * sizeof(scale_storage) + zeros.size() + perm.size() * sizeof(std::int32_t);
    }
};

namespace detail {
// One block: quad vectors v[j][4i + e] <-> the plane bytes.
template <int B>
inline void quads_to_planes(const std::uint8_t (&v)[tile_quads][64], std::uint8_t* out) noexcept {
    constexpr bit_planes p = planes_of(B);
    for (int k = 0; k < p.count; ++k) {
        const int w = p.width[k], per_byte = 8 / w, mask = (1 << w) - 1;
        for (int a = 0; a < w; ++a, out += 64)
            for (int n = 0; n < 64; ++n) {
                unsigned byte = 0;
                for (int t = 0; t < per_byte; ++t)
                    byte |= static_cast<unsigned>((v[a + w * t][n] >> p.shift[k]) & mask) << (t * w);
                out[n] = static_cast<std::uint8_t>(byte);
            }
    }
}
template <int B>
inline void planes_to_quads(const std::uint8_t* in, std::uint8_t (&v)[tile_quads][64]) noexcept {
    constexpr bit_planes p = planes_of(B);
    std::memset(v, 0, sizeof v);
    for (int k = 0; k < p.count; ++k) {
        const int w = p.width[k], per_byte = 8 / w, mask = (1 << w) - 1;
        for (int a = 0; a < w; ++a, in += 64)
            for (int n = 0; n < 64; ++n)
                for (int t = 0; t < per_byte; ++t)
                    v[a + w * t][n] = static_cast<std::uint8_t>(v[a + w * t][n] | (((in[n] >> (t * w)) & mask) << p.shift[k]));
    }
}
}  // namespace detail

// Repack a qmatrix into the tiled layout (pure: reads q, returns a new object).
template <class S>
result<tiled<S>> repack_tiled(const qmatrix_view<S>& q) {
    LOWBIT_TRY(q.validate());
    constexpr int B = S::bits;
    weights_desc target = q.desc();
    target.lay = layout::tiled;
    LOWBIT_TRY(layout_traits<layout::tiled>::validate(target, "tiled layout"));
    const bool one_group = S::gran != granularity::per_group || static_cast<std::size_t>(q.group) >= q.cols;
    tiled<S> t;
    t.rows = q.rows;
    t.cols = q.cols;
    t.group = q.group;
    t.row_bytes = q.row_bytes;
    t.tiles = (q.rows + tile_rows - 1) / tile_rows;
    t.blocks = (q.cols + tile_block - 1) / tile_block;
    t.groups = S::gran == granularity::per_group ? q.groups_per_row() : 1;
    t.blocks_per_group = one_group ? 0 : static_cast<std::size_t>(q.group) / tile_block;
    t.codes.assign(t.tiles * t.blocks * t.block_bytes, 0);
    const std::size_t n_scales = S::gran == granularity::per_tensor ? 1 : t.tiles * t.groups * tile_rows;
    t.scales.assign(n_scales, typename S::scale_storage{});
    if (!S::is_symmetric) t.zeros.assign(n_scales, 0);
    if (q.perm) t.perm.assign(q.perm, q.perm + q.cols);

    std::vector<std::uint8_t> codes(tile_rows * t.blocks * tile_block);  // one tile, row-major, zero padded
    std::uint8_t v[tile_quads][64];
    for (std::size_t ti = 0; ti < t.tiles; ++ti) {
        std::fill(codes.begin(), codes.end(), 0);
        for (std::size_t i = 0; i < tile_rows && ti * tile_rows + i < q.rows; ++i)
            unpack_codes<B>(q.row(ti * tile_rows + i), q.cols, codes.data() + i * t.blocks * tile_block);
        for (std::size_t b = 0; b < t.blocks; ++b) {
            for (std::size_t j = 0; j < tile_quads; ++j)
                for (std::size_t i = 0; i < tile_rows; ++i)
                    for (std::size_t e = 0; e < 4; ++e) v[j][4 * i + e] = codes[i * t.blocks * tile_block + b * tile_block + 4 * j + e];
            detail::quads_to_planes<B>(v, t.codes.data() + (ti * t.blocks + b) * t.block_bytes);
        }
        if (S::gran == granularity::per_tensor) continue;
        for (std::size_t i = 0; i < tile_rows && ti * tile_rows + i < q.rows; ++i)
            for (std::size_t g = 0; g < t.groups; ++g) {
                const std::size_t slot = (ti * t.groups + g) * tile_rows + i;
                t.scales[slot] = q.scales[q.scale_index(ti * tile_rows + i, g)];
                if (!S::is_symmetric) t.zeros[slot] = q.zeros[q.scale_index(ti * tile_rows + i, g)];
            }
    }
    if (S::gran == granularity::per_tensor) {
        t.scales[0] = q.scales[0];
        if (!S::is_symmetric) t.zeros[0] = q.zeros[0];
    }
    return t;
}
template <class S>
result<tiled<S>> repack_tiled(const qmatrix<S>& q) {
    return repack_tiled(q.view());
}

// The inverse: a qmatrix equal to the one repack_tiled read (same row_bytes,
// zero padding bytes).
template <class S>
result<qmatrix<S>> unpack_tiled(const tiled<S>& t) {
    constexpr int B = S::bits;
    if (t.rows == 0 || t.cols == 0) return status::error(errc::shape_mismatch, "tiled matrix is empty");
    if (t.tiles != (t.rows + tile_rows - 1) / tile_rows || t.blocks != (t.cols + tile_block - 1) / tile_block ||
        t.codes.size() != t.tiles * t.blocks * t.block_bytes)
        return status::error(errc::corrupt_data, "tiled matrix: %zu code bytes do not match %zu x %zu", t.codes.size(), t.rows,
                             t.cols);
    auto l = qlayout::make(S::runtime(t.group), t.rows, t.cols);
    if (!l) return l.error();
    if (t.row_bytes < l->row_bytes)
        return status::error(errc::corrupt_data, "tiled matrix: row_bytes %zu < %zu", t.row_bytes, l->row_bytes);
    const std::size_t n_scales = S::gran == granularity::per_tensor ? 1 : t.tiles * t.groups * tile_rows;
    if (t.scales.size() != n_scales || t.zeros.size() != (S::is_symmetric ? 0 : n_scales) ||
        (S::gran == granularity::per_group && t.groups != l->groups_per_row) || (!t.perm.empty() && t.perm.size() != t.cols))
        return status::error(errc::corrupt_data, "tiled matrix: scales, zeros or perm have the wrong size");
    LOWBIT_TRY(detail::check_scales_and_perm("tiled", t.scales.data(), alignof(typename S::scale_storage), t.perm.empty() ? nullptr : t.perm.data(), t.cols));
    l->row_bytes = t.row_bytes;
    qstorage st;
    st.layout = *l;
    st.codes.assign(t.rows * t.row_bytes, 0);
    std::vector<typename S::scale_storage> scales(l->n_scales);
    st.zeros.assign(l->n_zeros, 0);
    st.perm = t.perm;
    std::vector<std::uint8_t> codes(tile_rows * t.blocks * tile_block);
    std::uint8_t v[tile_quads][64];
    for (std::size_t ti = 0; ti < t.tiles; ++ti) {
        for (std::size_t b = 0; b < t.blocks; ++b) {
            detail::planes_to_quads<B>(t.codes.data() + (ti * t.blocks + b) * t.block_bytes, v);
            for (std::size_t j = 0; j < tile_quads; ++j)
                for (std::size_t i = 0; i < tile_rows; ++i)
                    for (std::size_t e = 0; e < 4; ++e) codes[i * t.blocks * tile_block + b * tile_block + 4 * j + e] = v[j][4 * i + e];
        }
        for (std::size_t i = 0; i < tile_rows && ti * tile_rows + i < t.rows; ++i) {
            const std::size_t r = ti * tile_rows + i;
            pack_codes<B>(codes.data() + i * t.blocks * tile_block, t.cols, st.codes.data() + r * t.row_bytes);
            if (S::gran == granularity::per_tensor) continue;
            for (std::size_t g = 0; g < l->groups_per_row; ++g) {
                const std::size_t slot = (ti * t.groups + g) * tile_rows + i;
                scales[r * l->groups_per_row + g] = t.scales[slot];
                if (!S::is_symmetric) st.zeros[r * l->groups_per_row + g] = t.zeros[slot];
            }
        }
    }
    if (S::gran == granularity::per_tensor) {
        scales[0] = t.scales[0];
        if (!S::is_symmetric) st.zeros[0] = t.zeros[0];
    }
    if constexpr (S::scale == scale_type::f32) st.scales_f32 = std::move(scales);
    else st.scales_16 = std::move(scales);
    return qmatrix<S>::from_storage(std::move(st));
}

}  // namespace lowbit
