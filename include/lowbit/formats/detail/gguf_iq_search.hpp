// lowbit/formats/detail/gguf_iq_search.hpp — the scale search shared by the IQ2 and
// IQ3 encoders (ggml's quantize_row_iq2_*_impl / iq3_*_impl inner loop).
//
// One job: given the magnitudes of one group of values (16 or 32), their
// weights and a grid, find a scale and per-value levels such that every run
// of `coords` levels is a grid point. docs/formats.md, "Encoding IQ3_XXS and
// IQ3_S", states the steps; the IQ2 encoders differ only in the parameters
// (struct iq_search_params). Products that feed sums go through mul(); the
// including header provides the contraction-off region.
//
// Include order: included by the encoder headers, inside their
// contraction-off region, after gguf_iq_lattice.hpp.
#ifndef LOWBIT_FORMATS_GGUF_IQ_SEARCH_HPP
#define LOWBIT_FORMATS_GGUF_IQ_SEARCH_HPP

#include <cmath>
#include <cstdint>
#include <cstring>

#include "../gguf_iq_neighbours.hpp"
#include "../gguf_block_structs.hpp"
#include "gguf_arith.hpp"

namespace lowbit {
namespace gguf {
namespace detail {

// A grid as the search sees it.
struct iq_lattice {
    const iq_neighbour_map& map;
    const std::uint16_t* points;  // gguf_iq_grids.hpp index list
    int coords;                   // values per point: 4 or 8
    int bits;                     // bits per coordinate in a code: 3 or 2
    int max_level;                // highest level: 7 or 2

    int level(int point, int i) const noexcept { return (points[point] >> (bits * i)) & ((1 << bits) - 1); }
    unsigned code(const std::int8_t* L) const noexcept {
        unsigned u = 0;
        for (int i = 0; i < coords; ++i) u |= static_cast<unsigned>(L[i]) << (bits * i);
        return u;
    }
};

// Re-coding after the sweep: which groups are coded again at the winning scale.
enum class iq_recode {
    off_grid,      // only groups whose rounded code was off the grid (IQ3_XXS, IQ2_XS, IQ2_S)
    all_if_any,    // all groups, when any was off the grid (IQ3_S)
    all_always,    // all groups, always (IQ2_XXS)
};

struct iq_search_params {
    int steps;           // inverse scales (top + step·is)/base, is = −steps … steps
    float step;          // 0.2 (IQ3) or 0.1 (IQ2)
    bool on_grid_start;  // what "on the grid" is before any try is kept
    iq_recode recode;
};

// Level of a magnitude at inverse scale id: round((id·v − 1)/2), clamped to 0..max_level.
inline int iq_level(float id, float v, int max_level) noexcept {
    return clamp_int(nearest_int(0.5f * (mul(id, v) - 1.0f)), 0, max_level);
}

// The candidate of an off-grid code with the least Σ w·(scale·q − v)², q = 2l + 1
// (first one on ties); its levels go to L.
inline void iq_best_candidate(const iq_lattice& g, unsigned code, const float* v, const float* w, float scale,
                              std::int8_t* L) noexcept {
    float best = 3.40282347e38f;  // FLT_MAX
    int pick = -1;
    for (const std::uint16_t* p = g.map.begin(code); p != g.map.end(code); ++p) {
        float d2 = 0.0f;
        for (int i = 0; i < g.coords; ++i) {
            const float q = static_cast<float>(2 * g.level(*p, i) + 1);
            const float diff = mul(scale, q) - v[i];
            d2 += mul(mul(w[i], diff), diff);
        }
        if (d2 < best) {
            best = d2;
            pick = *p;
        }
    }
    for (int i = 0; i < g.coords; ++i) L[i] = static_cast<std::int8_t>(g.level(pick, i));
}

// Codes one group of `coords` magnitudes at inverse scale id; returns whether
// the rounded code was a grid point (if not, L holds the best candidate at `scale`).
inline bool iq_code_group(const iq_lattice& g, const float* v, const float* w_sqrt, float id, float scale,
                          std::int8_t* L) noexcept {
    for (int i = 0; i < g.coords; ++i) L[i] = static_cast<std::int8_t>(iq_level(id, v[i], g.max_level));
    const unsigned u = g.code(L);
    if (g.map.point(u) >= 0) return true;
    iq_best_candidate(g, u, v, w_sqrt, scale, L);
    return false;
}

// Σ w·v·q and Σ w·q², q = 2l + 1.
inline void iq_sums(int n, const float* w, const float* v, const std::int8_t* L, float& sumqx, float& sumq2) noexcept {
    sumqx = 0.0f;
    sumq2 = 0.0f;
    for (int i = 0; i < n; ++i) {
        const float q = static_cast<float>(2 * L[i] + 1);
        sumqx += mul(mul(w[i], v[i]), q);
        sumq2 += mul(mul(w[i], q), q);
    }
}

// The search over n magnitudes v (n/coords groups, at most 8): sweep, keep the
// best weighted least-squares fit, re-code, refit. `base` is what the
// inverse scales are relative to (the largest magnitude, or IQ2_XXS's
// effective maximum), `scale` the starting scale; L holds the starting
// levels and receives the result. Returns the scale.
inline float iq_search(const iq_lattice& g, const iq_search_params& p, int n, const float* v, const float* w,
                       const float* w_sqrt, float base, float scale, std::int8_t* L) noexcept {
    const int groups = n / g.coords;
    const float top = static_cast<float>(2 * g.max_level + 1);
    float best = 0.0f;
    bool on_grid[8], on_grid_try[8];
    std::int8_t Ltry[32];
    for (int k = 0; k < groups; ++k) on_grid[k] = p.on_grid_start;
    for (int is = -p.steps; is <= p.steps; ++is) {
        const float id = (top + mul(static_cast<float>(is), p.step)) / base;
        const float this_scale = 1.0f / id;
        for (int k = 0; k < groups; ++k)
            on_grid_try[k] = iq_code_group(g, v + g.coords * k, w_sqrt + g.coords * k, id, this_scale, Ltry + g.coords * k);
        float sumqx, sumq2;
        iq_sums(n, w, v, Ltry, sumqx, sumq2);
        if (sumq2 > 0.0f && sumqx * sumqx > best * sumq2) {
            scale = sumqx / sumq2;
            best = scale * sumqx;
            std::memcpy(L, Ltry, static_cast<std::size_t>(n));
            std::memcpy(on_grid, on_grid_try, sizeof on_grid);
        }
    }
    int off_grid = 0;
    for (int k = 0; k < groups; ++k) off_grid += on_grid[k] ? 0 : 1;
    const bool recode = p.recode == iq_recode::all_always ? scale > 0.0f : off_grid > 0 && scale > 0.0f;
    if (recode) {
        const float id = 1.0f / scale;
        for (int k = 0; k < groups; ++k) {
            if (on_grid[k] && p.recode == iq_recode::off_grid) continue;
            iq_code_group(g, v + g.coords * k, w_sqrt + g.coords * k, id, scale, L + g.coords * k);
        }
        float sumqx, sumq2;
        iq_sums(n, w, v, L, sumqx, sumq2);
        if (sumq2 > 0.0f) scale = sumqx / sumq2;
    }
    return scale;
}

// Splits signs from magnitudes for groups of 8: v = |x|, bit i of signs[k]
// set where x is negative. With `even`, a group of 8 with an odd number of
// negatives flips the value of least w·x² (its magnitude enters the fit
// negated), so that the stored 7 bits and their parity give all 8 signs.
inline void iq_split_signs(int n, const float* x, const float* w, bool even, float* v, std::uint8_t* signs) noexcept {
    for (int k = 0; k < n / 8; ++k) {
        int negatives = 0;
        unsigned s = 0;
        for (int i = 0; i < 8; ++i) {
            const float xi = x[8 * k + i];
            v[8 * k + i] = xi >= 0.0f ? xi : -xi;
            if (!(xi >= 0.0f)) {
                ++negatives;
                s |= 1u << i;
            }
        }
        if (even && negatives % 2) {
            int imin = 0;
            float min = mul(w[8 * k], x[8 * k]) * x[8 * k];
            for (int i = 1; i < 8; ++i) {
                const float c = mul(w[8 * k + i], x[8 * k + i]) * x[8 * k + i];
                if (c < min) {
                    min = c;
                    imin = i;
                }
            }
            v[8 * k + imin] = -v[8 * k + imin];
            s ^= 1u << imin;
        }
        signs[k] = static_cast<std::uint8_t>(even ? s & 127u : s);
    }
}

// A negative scale from the search (ggml: "should never happen"): the scale is
// kept positive and the group's n_signs sign bytes flipped instead (7 bits of
// them for the even-parity types, whose eighth sign is implied).
inline float iq_positive_scale(float scale, std::uint8_t* signs, int n_signs, bool even) noexcept {
    if (!(scale < 0.0f)) return scale;
    for (int k = 0; k < n_signs; ++k) signs[k] = static_cast<std::uint8_t>(even ? (~signs[k] & 127u) : ~signs[k]);
    return -scale;
}

inline float iq_max(int n, const float* v) noexcept {
    float max = v[0];
    for (int i = 1; i < n; ++i) max = max > v[i] ? max : v[i];  // ggml's MAX(max, v)
    return max;
}

// The 4-bit code of a group scale against d: clamp(round((scale/d − 1)/2), 0, 15), with id = 1/d.
inline int iq_scale_code(float id, float scale) noexcept { return clamp_int(nearest_int(0.5f * (mul(id, scale) - 1.0f)), 0, 15); }

// The super-block scale of IQ2/IQ3: d = max_scale / 31, stored times the
// type's fudge factor (ggml's; 1 for IQ2_XXS and IQ2_XS); id = 1/d is what the
// group scales are coded against. False when every group was zero: the block
// then stays all zero bytes.
inline bool iq_block_scale(float max_scale, float fudge, std::uint16_t& d16, float& id) noexcept {
    if (max_scale == 0.0f) return false;
    const float d = max_scale / 31.0f;
    d16 = to_f16(d * fudge);
    id = 1.0f / d;
    return true;
}

// n group scales to 4-bit codes, two to a byte (even group in the low nibble).
inline void iq_pack_scale_nibbles(float id, const float* scales, int n, std::uint8_t* out) noexcept {
    for (int ib = 0; ib < n; ib += 2)
        out[ib / 2] = static_cast<std::uint8_t>(iq_scale_code(id, scales[ib]) | iq_scale_code(id, scales[ib + 1]) << 4);
}

// The search weights of a group without an importance row: x² (IQ3) or
// σ²/4 + x² (IQ2). With one (qw): qw·sqrt(σ² + x²) for every type.
enum class iq_plain_weights { squares, quarter_sigma2_plus_squares };

// n weights of group x (qw: its importance row or null) and their square roots.
inline void iq_group_weights(int n, const float* x, const float* qw, float sigma2, iq_plain_weights plain, float* w,
                             float* w_sqrt) noexcept {
    for (int i = 0; i < n; ++i) {
        if (qw) {
            w[i] = qw[i] * std::sqrt(sigma2 + mul(x[i], x[i]));
        } else {
            w[i] = plain == iq_plain_weights::squares ? x[i] * x[i] : mul(0.25f, sigma2) + mul(x[i], x[i]);
        }
    }
    for (int i = 0; i < n; ++i) w_sqrt[i] = std::sqrt(w[i]);
}

// How IQ2_XS, IQ2_S, IQ3_XXS and IQ3_S code one group besides the grid and the
// search parameters: its weights without an importance row; whether the count
// of negatives is forced even; the largest magnitude below which the group is
// coded as zero (0: only an all-zero group); the start of the search, max / start_div.
struct iq_group_rule {
    iq_plain_weights plain;
    bool even;
    float zero_below;
    float start_div;
};

// The codes of one group of N values: levels, N/8 sign bytes.
template <int N>
struct iq_group_code {
    std::int8_t L[N] = {};
    std::uint8_t signs[N / 8] = {};
};

// One group of N values (16 or 32): weights, signs split off, then, unless the
// group counts as zero, the search. The positive scale goes to scale; false
// (scale 0, codes all zero) for a zero group.
template <int N>
bool iq_code_group(const iq_lattice& g, const iq_search_params& p, const iq_group_rule& r, const float* x, const float* qw,
                   float sigma2, iq_group_code<N>& c, float& scale) noexcept {
    scale = 0.0f;
    float w[N], w_sqrt[N];
    iq_group_weights(N, x, qw, sigma2, r.plain, w, w_sqrt);
    float v[32] = {};  // iq_split_signs fills N of them; zeroed so g++ -O1 sees no uninitialised read
    iq_split_signs(N, x, w, r.even, v, c.signs);
    const float max = iq_max(N, v);
    if (max < r.zero_below || max == 0.0f) return false;
    scale = iq_positive_scale(iq_search(g, p, N, v, w, w_sqrt, max, max / r.start_div, c.L), c.signs, N / 8, r.even);
    return true;
}

}  // namespace detail
}  // namespace gguf
}  // namespace lowbit

#endif  // LOWBIT_FORMATS_GGUF_IQ_SEARCH_HPP
