// lowbit/pack/tiled.hpp — a tiled, row-interleaved kernel layout of a qmatrix,
// and its exact inverse (docs/kernels.md, "Tiled layout").
//
// tiled<S, R> holds the same codes, scales, zeros and permutation as a
// qmatrix<S>, rearranged for streaming kernels:
//   - rows are grouped in tiles of R (the last tile padded with zero rows);
//   - each row is cut into chunks of 256 codes (the last padded with code 0);
//   - codes are stored [tile][chunk][row in tile][planes], so the R rows'
//     chunk k are adjacent: one activation chunk, loaded once, feeds R rows
//     from one contiguous stream;
//   - a chunk of B-bit codes is split into bit planes of widths 4, 2 and 1
//     (B = 8: 4+4, 7: 4+2+1, 6: 4+2, 5: 4+1, 4, 3: 2+1, 2, 1), low bits
//     first, each plane packed densely (bitpack.hpp order). Every plane is
//     byte-aligned and holds 1, 2 or 4 codes per byte, so unpacking any width
//     is shifts, masks and ors: no code straddles a byte;
//   - scales (and zeros) are stored [tile][group][row in tile], so one load
//     gives the R rows' scales of a group.
// A chunk takes 32*B bytes, as in the plain layout: the repack moves bits,
// it does not add any. repack is pure; unpack(repack(q)) == q bit for bit
// (rows are re-padded with zero bytes up to the qmatrix's row_bytes).
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
    const int widths[4] = {4, 4, 2, 1};
    int rest = bits, at = 0;
    for (int k = bits == 8 ? 0 : 1; k < 4; ++k)  // 8 bits: 4+4; otherwise greedy over 4, 2, 1
        if (rest >= widths[k]) {
            p.width[p.count] = widths[k];
            p.shift[p.count] = at;
            ++p.count;
            at += widths[k];
            rest -= widths[k];
        }
    return p;
}

template <class S, int R = 4>
struct tiled {
    static_assert(R >= 1 && R <= 64, "tile height must be 1..64");
    using scheme_type = S;
    using scale_storage = typename S::scale_storage;
    static constexpr int tile_rows = R;
    static constexpr std::size_t chunk_codes = 256;
    static constexpr std::size_t chunk_bytes = 32 * S::bits;

    std::size_t rows = 0, cols = 0;
    int group = 0;
    std::size_t row_bytes = 0;  // of the qmatrix it came from (restored by unpack)
    std::size_t tiles = 0, chunks = 0, groups = 0;  // per matrix, per row, per row
    std::vector<std::uint8_t> codes;          // tiles * chunks * R * chunk_bytes
    std::vector<scale_storage> scales;        // per_tensor: 1; else tiles * groups * R
    std::vector<std::uint8_t> zeros;          // asymmetric: as scales
    std::vector<std::int32_t> perm;           // as in the qmatrix

    // Bytes of chunk k of row i of tile t (all planes).
    const std::uint8_t* chunk(std::size_t t, std::size_t k, std::size_t i) const noexcept {
        return codes.data() + ((t * chunks + k) * R + i) * chunk_bytes;
    }
    std::size_t scale_slot(std::size_t t, std::size_t g, std::size_t i) const noexcept {
        return S::gran == granularity::per_tensor ? 0 : (t * groups + g) * R + i;
    }
};

namespace detail {
// 256 codes <-> the plane bytes of one chunk.
template <int B>
inline void codes_to_planes(const std::uint8_t* codes, std::uint8_t* out) noexcept {
    constexpr bit_planes p = planes_of(B);
    std::uint8_t plane[256];
    for (int k = 0; k < p.count; ++k) {
        for (int c = 0; c < 256; ++c) plane[c] = static_cast<std::uint8_t>((codes[c] >> p.shift[k]) & ((1 << p.width[k]) - 1));
        switch (p.width[k]) {
            case 4: pack_codes<4>(plane, 256, out); break;
            case 2: pack_codes<2>(plane, 256, out); break;
            default: pack_codes<1>(plane, 256, out); break;
        }
        out += 32 * p.width[k];
    }
}
template <int B>
inline void planes_to_codes(const std::uint8_t* in, std::uint8_t* codes) noexcept {
    constexpr bit_planes p = planes_of(B);
    std::uint8_t plane[256];
    std::memset(codes, 0, 256);
    for (int k = 0; k < p.count; ++k) {
        switch (p.width[k]) {
            case 4: unpack_codes<4>(in, 256, plane); break;
            case 2: unpack_codes<2>(in, 256, plane); break;
            default: unpack_codes<1>(in, 256, plane); break;
        }
        for (int c = 0; c < 256; ++c) codes[c] = static_cast<std::uint8_t>(codes[c] | (plane[c] << p.shift[k]));
        in += 32 * p.width[k];
    }
}
}  // namespace detail

// Repack a qmatrix into the tiled layout (pure: reads q, returns a new object).
template <int R = 4, class S>
result<tiled<S, R>> repack_tiled(const qmatrix_view<S>& q) {
    LOWBIT_TRY(q.validate());
    constexpr int B = S::bits;
    tiled<S, R> t;
    t.rows = q.rows;
    t.cols = q.cols;
    t.group = q.group;
    t.row_bytes = q.row_bytes;
    t.tiles = (q.rows + R - 1) / R;
    t.chunks = (q.cols + 255) / 256;
    t.groups = q.groups_per_row();
    t.codes.assign(t.tiles * t.chunks * R * t.chunk_bytes, 0);
    const std::size_t n_scales = S::gran == granularity::per_tensor ? 1 : t.tiles * t.groups * R;
    t.scales.assign(n_scales, typename S::scale_storage{});
    if (!S::is_symmetric) t.zeros.assign(n_scales, 0);
    if (q.perm) t.perm.assign(q.perm, q.perm + q.cols);
    std::vector<std::uint8_t> row_codes(t.chunks * 256);
    for (std::size_t r = 0; r < q.rows; ++r) {
        const std::size_t ti = r / R, i = r % R;
        std::fill(row_codes.begin(), row_codes.end(), 0);
        unpack_codes<B>(q.row(r), q.cols, row_codes.data());
        for (std::size_t k = 0; k < t.chunks; ++k)
            detail::codes_to_planes<B>(row_codes.data() + k * 256, t.codes.data() + ((ti * t.chunks + k) * R + i) * t.chunk_bytes);
        if (S::gran == granularity::per_tensor) continue;
        for (std::size_t g = 0; g < t.groups; ++g) {
            t.scales[t.scale_slot(ti, g, i)] = q.scales[q.scale_index(r, g)];
            if (!S::is_symmetric) t.zeros[t.scale_slot(ti, g, i)] = q.zeros[q.scale_index(r, g)];
        }
    }
    if (S::gran == granularity::per_tensor) {
        t.scales[0] = q.scales[0];
        if (!S::is_symmetric) t.zeros[0] = q.zeros[0];
    }
    return t;
}

// The inverse: a qmatrix equal to the one repack_tiled read (same row_bytes,
// zero padding bytes).
template <class S, int R>
result<qmatrix<S>> unpack_tiled(const tiled<S, R>& t) {
    constexpr int B = S::bits;
    if (t.rows == 0 || t.cols == 0) return status::error(errc::shape_mismatch, "tiled matrix is empty");
    if (t.codes.size() != t.tiles * t.chunks * R * t.chunk_bytes)
        return status::error(errc::corrupt_data, "tiled.codes has %zu bytes, expected %zu", t.codes.size(),
                             t.tiles * t.chunks * R * t.chunk_bytes);
    qstorage st;
    auto l = qlayout::make(S::runtime(t.group), t.rows, t.cols);
    if (!l) return l.error();
    l->row_bytes = t.row_bytes;
    st.layout = *l;
    st.codes.assign(t.rows * t.row_bytes, 0);
    std::vector<typename S::scale_storage> scales(l->n_scales);
    st.zeros.assign(l->n_zeros, 0);
    st.perm = t.perm;
    std::vector<std::uint8_t> row_codes(t.chunks * 256);
    const std::size_t gpr = t.groups;
    for (std::size_t r = 0; r < t.rows; ++r) {
        const std::size_t ti = r / R, i = r % R;
        for (std::size_t k = 0; k < t.chunks; ++k) detail::planes_to_codes<B>(t.chunk(ti, k, i), row_codes.data() + k * 256);
        pack_codes<B>(row_codes.data(), t.cols, st.codes.data() + r * t.row_bytes);
        if (S::gran == granularity::per_tensor) continue;
        for (std::size_t g = 0; g < gpr; ++g) {
            scales[r * gpr + g] = t.scales[t.scale_slot(ti, g, i)];
            if (!S::is_symmetric) st.zeros[r * gpr + g] = t.zeros[t.scale_slot(ti, g, i)];
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
