// lowbit/formats/gguf_iq_neighbours.hpp — for every code of levels that is
// not a grid point, the grid points the lattice encoders try instead.
//
// One job: the search structure of the IQ1/IQ2/IQ3 encoders. An encoder
// rounds a group of values to per-coordinate levels; that code is either a
// grid point (gguf_iq_grids.hpp) or not, and if not, the encoder picks the
// best of a fixed candidate list. ggml builds those lists at start-up
// (iq2xs_init_impl / iq3xs_init_impl); the bytes depend on them, so this
// builds the same lists from the grids, deterministically:
//
//   candidates(code) = every grid point whose squared distance to the code
//   is one of the `nwant` smallest distinct distances, ordered by distance,
//   then by grid index.
//
// Distances are over the coordinates' levels (level l sits at 2l + 1, a
// scaling that changes no order). A code holds `coords` fields of `bits`
// bits; fields ≥ n_levels (codes the encoders never form) get no list.
//
// Built on first use (a function-local static: thread-safe, once per grid,
// a few milliseconds for IQ3, longer for the 2048-point IQ1 grid) and kept
// for the life of the program.
#pragma once

#include <cstdint>
#include <vector>

#include "gguf_iq_grids.hpp"

namespace lowbit {
namespace gguf {
namespace detail {

class iq_neighbour_map {
public:
    iq_neighbour_map(const std::uint16_t* grid, int grid_size, int coords, int bits, int n_levels, int nwant) {
        const int n_codes = 1 << (coords * bits);
        point_.assign(static_cast<std::size_t>(n_codes), -1);
        first_.assign(static_cast<std::size_t>(n_codes) + 1, 0);
        for (int p = 0; p < grid_size; ++p) point_[grid[p]] = p;
        const unsigned mask = (1u << bits) - 1u;
        std::vector<int> dist(static_cast<std::size_t>(grid_size));
        for (int code = 0; code < n_codes; ++code) {
            first_[static_cast<std::size_t>(code)] = static_cast<std::uint32_t>(list_.size());
            if (point_[static_cast<std::size_t>(code)] >= 0 || !valid(code, coords, bits, n_levels)) continue;
            // Squared distances, and the nwant smallest distinct values among them.
            int smallest[4];
            int n_small = 0;
            for (int p = 0; p < grid_size; ++p) {
                int d2 = 0;
                for (int i = 0; i < coords; ++i) {
                    const int diff = static_cast<int>((grid[p] >> (bits * i)) & mask) -
                                     static_cast<int>((static_cast<unsigned>(code) >> (bits * i)) & mask);
                    d2 += diff * diff;
                }
                dist[static_cast<std::size_t>(p)] = d2;
                insert_distinct(smallest, n_small, nwant, d2);
            }
            for (int r = 0; r < n_small; ++r)
                for (int p = 0; p < grid_size; ++p)
                    if (dist[static_cast<std::size_t>(p)] == smallest[r]) list_.push_back(static_cast<std::uint16_t>(p));
        }
        first_[static_cast<std::size_t>(n_codes)] = static_cast<std::uint32_t>(list_.size());
    }

    // Grid index of `code`, or -1 when it is not a grid point.
    int point(unsigned code) const noexcept { return point_[code]; }
    // The candidates of an off-grid code: [begin, end).
    const std::uint16_t* begin(unsigned code) const noexcept { return list_.data() + first_[code]; }
    const std::uint16_t* end(unsigned code) const noexcept { return list_.data() + first_[code + 1]; }

private:
    static bool valid(int code, int coords, int bits, int n_levels) noexcept {
        for (int i = 0; i < coords; ++i)
            if (((code >> (bits * i)) & ((1 << bits) - 1)) >= n_levels) return false;
        return true;
    }
    // Keeps `s` (size n ≤ cap ≤ 4) the cap smallest distinct values seen, ascending.
    static void insert_distinct(int* s, int& n, int cap, int v) noexcept {
        int at = 0;
        while (at < n && s[at] < v) ++at;
        if (at < n && s[at] == v) return;
        if (at == cap) return;
        if (n < cap) ++n;
        for (int j = n - 1; j > at; --j) s[j] = s[j - 1];
        s[at] = v;
    }

    std::vector<int> point_;            // per code: grid index or -1
    std::vector<std::uint32_t> first_;  // per code: start of its candidates in list_
    std::vector<std::uint16_t> list_;
};

// The maps the encoders use, one per grid (points, coords, bits, levels), with
// ggml's nwant (the last argument): IQ3_XXS 2, IQ3_S 3, IQ2_XXS 2, IQ2_XS 2,
// IQ2_S 1, IQ1_S/IQ1_M 3.
inline const iq_neighbour_map& iq3xxs_neighbours() { static const iq_neighbour_map m(iq_grids::iq3xxs_index, 256, 4, 3, 8, 2); return m; }
inline const iq_neighbour_map& iq3s_neighbours() { static const iq_neighbour_map m(iq_grids::iq3s_index, 512, 4, 3, 8, 3); return m; }
inline const iq_neighbour_map& iq2xxs_neighbours() { static const iq_neighbour_map m(iq_grids::iq2xxs_index, 256, 8, 2, 3, 2); return m; }
inline const iq_neighbour_map& iq2xs_neighbours() { static const iq_neighbour_map m(iq_grids::iq2xs_index, 512, 8, 2, 3, 2); return m; }
inline const iq_neighbour_map& iq2s_neighbours() { static const iq_neighbour_map m(iq_grids::iq2s_index, 1024, 8, 2, 3, 1); return m; }
inline const iq_neighbour_map& iq1s_neighbours() { static const iq_neighbour_map m(iq_grids::iq1s_index, 2048, 8, 2, 3, 3); return m; }

}  // namespace detail
}  // namespace gguf
}  // namespace lowbit
