// lowbit/formats/codebook.hpp — non-uniform 3- and 4-bit weights (issue 20,
// item 2): blocks of 32 values, each an f16 scale d and 32 indices into one
// int8 grid of the whole tensor, x = d * grid[i]. The 4-bit block is IQ4_NL's
// byte for byte with the grid as a parameter instead of ggml's fixed table;
// the 3-bit block holds the indices' low two bits in 8 bytes and their high
// bits in a 32-bit word (docs/formats.md, "Codebook weights").
//
//   nf_grid(bits)         NF4 / NF3: normal quantiles (QLoRA's construction), scaled to +-127
//   learn_grid(x, bits)   weighted 1-D k-means (Lloyd, from the NF grid) on block-normalised weights
//   quantize(x, grid)     per block the scale that minimises the (importance-)weighted error
//   dequantize(w, y)      rows back to floats
//
// repack(w, layout::tiled_codebook) (weights/repack.hpp) rearranges them
// losslessly into the tiled kernel layout (the same indices, scales and grid;
// to_tiled / from_tiled below): what the int8 GEMV streams fastest.
//
// The weights are a weights_view of layout::codebook: every matmul front door
// (kernels/weights_matmul.hpp, formats/codebook_matmul.hpp) runs them through
// the one kernel table, int8 activations as Q8_0 (docs/kernels.md, "Codebook
// weights"). SIMD-free: only the standard library and lowbit's core.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../core/half.hpp"
#include "../core/status.hpp"
#include "../core/views.hpp"
#include "../pack/tiled.hpp"
#include "../weights/weights.hpp"
#include "../weights/weights_view.hpp"

namespace lowbit {
namespace codebook {

struct block4 {  // value j: low nibble of qs[j] (j < 16), high nibble of qs[j - 16]
    static constexpr int values = 32;
    static constexpr int bits = 4;
    std::uint16_t d;
    std::uint8_t qs[16];
};
struct block3 {  // value j: bits 2(j/8)..+1 of ql[j % 8], high bit j of the little-endian word qh
    static constexpr int values = 32;
    static constexpr int bits = 3;
    std::uint16_t d;
    std::uint8_t ql[8];
    std::uint8_t qh[4];
};
static_assert(sizeof(block4) == codebook_block_bytes(4) && sizeof(block3) == codebook_block_bytes(3), "codebook block sizes");

// A tensor's grid: 2^bits strictly ascending levels in [-127, 127], the rest 0.
struct grid {
    int bits = 4;
    std::int8_t levels[16] = {};
    int size() const noexcept { return 1 << bits; }
};
inline status validate(const grid& g) noexcept { return lowbit::detail::check_codebook_grid(g.bits, g.levels, "codebook grid"); }

// NF4 and NF3 (published constants: QLoRA's normal-quantile levels, offset
// 0.9677, max-normalised, times 127 and rounded).
constexpr std::int8_t nf4_levels[16] = {-127, -88, -67, -50, -36, -23, -12, 0, 10, 20, 31, 43, 56, 71, 92, 127};
constexpr std::int8_t nf3_levels[8] = {-127, -61, -28, 0, 20, 43, 71, 127};
inline grid nf_grid(int bits) noexcept {
    grid g;
    g.bits = bits == 3 ? 3 : 4;
    for (int i = 0; i < g.size(); ++i) g.levels[i] = g.bits == 3 ? nf3_levels[i] : nf4_levels[i];
    return g;
}

namespace detail {

inline int index_at(const block4& b, int j) noexcept { return j < 16 ? b.qs[j] & 15 : b.qs[j - 16] >> 4; }
inline int index_at(const block3& b, int j) noexcept {
    return ((b.ql[j & 7] >> (2 * (j >> 3))) & 3) | (((b.qh[j >> 3] >> (j & 7)) & 1) << 2);
}
inline void set_indices(block4& b, const std::uint8_t* idx) noexcept {
    for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<std::uint8_t>(idx[j] | idx[j + 16] << 4);
}
inline void set_indices(block3& b, const std::uint8_t* idx) noexcept {
    std::memset(b.ql, 0, sizeof b.ql);
    std::memset(b.qh, 0, sizeof b.qh);
    for (int j = 0; j < 32; ++j) {
        b.ql[j & 7] = static_cast<std::uint8_t>(b.ql[j & 7] | (idx[j] & 3) << (2 * (j >> 3)));
        b.qh[j >> 3] = static_cast<std::uint8_t>(b.qh[j >> 3] | ((idx[j] >> 2) & 1) << (j & 7));
    }
}

// The grid as floats with the midpoints between neighbours: the nearest level
// of v is the number of midpoints below it (ties go down).
struct level_table {
    int n = 0;
    float level[16] = {};
    float mid[15] = {};
    explicit level_table(const grid& g) noexcept : n(g.size()) {
        for (int i = 0; i < n; ++i) level[i] = static_cast<float>(g.levels[i]);
        for (int i = 0; i + 1 < n; ++i) mid[i] = 0.5f * (level[i] + level[i + 1]);
    }
    std::uint8_t nearest(float v) const noexcept {
        int k = 0;
        for (int i = 0; i + 1 < n; ++i) k += v > mid[i];
        return static_cast<std::uint8_t>(k);
    }
};

// One block: the scale d and indices that minimise sum w (x - d L[i])^2 over a
// sweep of candidate scales around "the largest |x| on an end level", each
// refitted in closed form (d = sum w x L / sum w L^2 for its indices). Both
// ends are tried (d may be negative: the grid need not be symmetric). The
// winner's d is rounded to f16 and the indices re-chosen for that d. A scale
// beyond f16's range comes back as f16 infinity (scale_overflows): the caller
// reports it, nothing is coded on it.
inline bool scale_overflows(std::uint16_t d) noexcept { return (d & 0x7c00u) == 0x7c00u; }
inline std::uint16_t fit_block(const float* x, const float* w, const level_table& t, std::uint8_t* idx) noexcept {
    float amax = 0.0f, xm = 0.0f;
    for (int j = 0; j < 32; ++j)
        if (std::fabs(x[j]) > amax) {
            amax = std::fabs(x[j]);
            xm = x[j];
        }
    if (!(amax > 1e-30f)) {
        for (int j = 0; j < 32; ++j) idx[j] = t.nearest(0.0f);
        return 0;
    }
    double best_gain = -1.0;
    float best_d = 0.0f;
    std::uint8_t cur[32];
    const float ends[2] = {t.level[t.n - 1], t.level[0]};
    for (float end : ends) {
        if (end == 0.0f) continue;
        for (int s = -5; s <= 12; ++s) {
            const float id = end * (1.0f + 0.02f * static_cast<float>(s)) / xm;
            double num = 0.0, den = 0.0;
            for (int j = 0; j < 32; ++j) {
                cur[j] = t.nearest(x[j] * id);
                const double l = t.level[cur[j]], wj = w ? w[j] : 1.0;
                num += wj * x[j] * l;
                den += wj * l * l;
            }
            if (den <= 0.0) continue;
            const double gain = num * num / den;  // the error is sum w x^2 - gain at d = num / den
            if (gain > best_gain) {
                best_gain = gain;
                best_d = static_cast<float>(num / den);
            }
        }
    }
    const std::uint16_t d = f32_to_f16(best_d);
    const float df = f16_to_f32(d);
    if (!(df != 0.0f) || scale_overflows(d)) {  // all weights zero (w = 0), the scale underflowed, or it overflowed (reported)
        for (int j = 0; j < 32; ++j) idx[j] = t.nearest(0.0f);
        return d;
    }
    const float inv = 1.0f / df;
    for (int j = 0; j < 32; ++j) idx[j] = t.nearest(x[j] * inv);
    return d;
}

template <class B>
status quantize_rows(matrix_view<const float> x, const level_table& t, const float* importance, std::uint8_t* out) {
    const std::size_t nb = x.cols() / 32;
    B* blocks = reinterpret_cast<B*>(out);
    for (std::size_t r = 0; r < x.rows(); ++r)
        for (std::size_t b = 0; b < nb; ++b) {
            std::uint8_t idx[32];
            B& blk = blocks[r * nb + b];
            blk.d = fit_block(x.row(r) + 32 * b, importance ? importance + 32 * b : nullptr, t, idx);
            if (scale_overflows(blk.d))
                return status::error(errc::invalid_argument, "codebook::quantize: row %zu, columns %zu..%zu: the block scale overflows f16 "
                                     "(weights too large for f16 scales)", r, 32 * b, 32 * b + 31);
            set_indices(blk, idx);
        }
    return {};
}

// The tiled codebook layout (docs/formats.md, "The tiled codebook layout"):
// the indices of rows 16t..16t+15, columns 32b..32b+31 are block (t, b) of
// the tiled layout (pack/tiled.hpp) with the indices as its IB-bit codes;
// the scale of row 16t + i, block b is scales[(t * blocks + b) * 16 + i].
// Rows past the last in the last tile: index 0, scale 0.
template <class B>
void to_tiled_rows(const weights_view& w, weights& out) noexcept {
    constexpr int IB = B::bits;
    const std::size_t nb = w.cols() / 32, tiles = (w.rows() + tile_rows - 1) / tile_rows;
    const B* blocks = reinterpret_cast<const B*>(w.codes());
    auto* scales = static_cast<std::uint16_t*>(out.scales());
    std::uint8_t v[tile_quads][64];
    for (std::size_t t = 0; t < tiles; ++t)
        for (std::size_t b = 0; b < nb; ++b) {
            std::memset(v, 0, sizeof v);
            for (std::size_t i = 0; i < tile_rows && t * tile_rows + i < w.rows(); ++i) {
                const B& blk = blocks[(t * tile_rows + i) * nb + b];
                scales[(t * nb + b) * tile_rows + i] = blk.d;
                for (int j = 0; j < 32; ++j) v[j / 4][4 * i + static_cast<std::size_t>(j % 4)] = static_cast<std::uint8_t>(index_at(blk, j));
            }
            lowbit::detail::quads_to_planes<IB>(v, out.codes() + (t * nb + b) * 64 * IB);
        }
}
// Calls f(r, b, d, idx) for row r and block b of every row of tiled codebook
// weights w: d the block's f16 scale, idx its 32 indices.
template <int IB, class F>
void for_each_tiled_block(const weights_view& w, F&& f) noexcept {
    const std::size_t nb = w.cols() / 32, tiles = (w.rows() + tile_rows - 1) / tile_rows;
    const auto* scales = static_cast<const std::uint16_t*>(w.scales());
    std::uint8_t v[tile_quads][64];
    for (std::size_t t = 0; t < tiles; ++t)
        for (std::size_t b = 0; b < nb; ++b) {
            lowbit::detail::planes_to_quads<IB>(w.codes() + (t * nb + b) * 64 * IB, v);
            for (std::size_t i = 0; i < tile_rows && t * tile_rows + i < w.rows(); ++i) {
                std::uint8_t idx[32];
                for (int j = 0; j < 32; ++j) idx[j] = v[j / 4][4 * i + static_cast<std::size_t>(j % 4)];
                f(t * tile_rows + i, b, scales[(t * nb + b) * tile_rows + i], idx);
            }
        }
}
template <class B>
void from_tiled_rows(const weights_view& w, weights& out) noexcept {
    const std::size_t nb = w.cols() / 32;
    B* blocks = reinterpret_cast<B*>(out.codes());
    for_each_tiled_block<B::bits>(w, [&](std::size_t r, std::size_t b, std::uint16_t d, const std::uint8_t* idx) {
        B& blk = blocks[r * nb + b];
        blk.d = d;
        set_indices(blk, idx);
    });
}

template <class B>
void dequantize_rows(const weights_view& w, matrix_view<float> y) noexcept {
    const std::size_t nb = w.cols() / 32;
    const B* blocks = reinterpret_cast<const B*>(w.codes());
    for (std::size_t r = 0; r < w.rows(); ++r)
        for (std::size_t b = 0; b < nb; ++b) {
            const B& blk = blocks[r * nb + b];
            const float d = f16_to_f32(blk.d);
            for (int j = 0; j < 32; ++j) y(r, 32 * b + static_cast<std::size_t>(j)) = d * static_cast<float>(w.grid()[index_at(blk, j)]);
        }
}
// The same values from the tiled codebook layout (the same float product).
template <int IB>
void dequantize_tiled(const weights_view& w, matrix_view<float> y) noexcept {
    for_each_tiled_block<IB>(w, [&](std::size_t r, std::size_t b, std::uint16_t d, const std::uint8_t* idx) {
        const float s = f16_to_f32(d);
        for (std::size_t j = 0; j < 32; ++j) y(r, 32 * b + j) = s * static_cast<float>(w.grid()[idx[j]]);
    });
}

// NaN/Inf, empty or mis-shaped inputs, bad importance: a status naming the first bad element.
inline status check_input(const char* who, matrix_view<const float> x, const float* importance) noexcept {
    if (x.rows() == 0 || x.cols() == 0) return status::error(errc::shape_mismatch, "%s: the weights are empty (%zu x %zu)", who, x.rows(), x.cols());
    LOWBIT_TRY(lowbit::detail::check_view(x, "w", who));
    if (x.cols() % 32 != 0) return status::error(errc::invalid_argument, "%s: k = %zu is not a multiple of 32", who, x.cols());
    for (std::size_t r = 0; r < x.rows(); ++r)
        for (std::size_t c = 0; c < x.cols(); ++c)
            if (!std::isfinite(x(r, c))) return status::error(errc::invalid_argument, "%s: weight (%zu, %zu) is not finite", who, r, c);
    if (importance) {
        LOWBIT_TRY(lowbit::detail::check_span(span<const float>(importance, x.cols()), "importance", who));
        for (std::size_t c = 0; c < x.cols(); ++c)
            if (!std::isfinite(importance[c]) || importance[c] < 0.0f)
                return status::error(errc::invalid_argument, "%s: importance[%zu] = %g is not a finite value >= 0", who, c,
                                     static_cast<double>(importance[c]));
    }
    return {};
}

}  // namespace detail

// x (N x K, K a multiple of 32) on grid g. importance: K non-negative column
// weights (an imatrix or a Hessian diagonal), or null for 1.
inline result<weights> quantize(matrix_view<const float> x, const grid& g, const float* importance = nullptr) {
    LOWBIT_TRY(validate(g));
    LOWBIT_TRY(detail::check_input("codebook::quantize", x, importance));
    weights_desc d;
    d.lay = layout::codebook;
    d.scheme.bits = g.bits;
    d.rows = x.rows();
    d.cols = x.cols();
    std::memcpy(d.grid, g.levels, sizeof d.grid);
    auto w = weights::allocate(d);
    if (!w) return w.error();
    const detail::level_table t(g);
    LOWBIT_TRY(g.bits == 4 ? detail::quantize_rows<block4>(x, t, importance, w->codes())
                           : detail::quantize_rows<block3>(x, t, importance, w->codes()));
    return w;
}

// The grid of codebook weights.
inline grid grid_of(const weights_view& w) noexcept {
    grid g;
    g.bits = w.scheme().bits;
    std::memcpy(g.levels, w.grid(), sizeof g.levels);
    return g;
}

namespace detail {
// w (layout `from`) copied into new weights of layout `to`: Rows<block4> or
// Rows<block3> moves the indices and scales.
template <template <class> class Rows>
result<weights> convert_layout(const weights_view& w, layout from, layout to, const char* who) {
    if (w.lay() != from) return status::error(errc::invalid_argument, "%s: the weights are %s, not %s", who, layout_name(w.lay()), layout_name(from));
    weights_desc d = w.desc();
    d.lay = to;
    if (to == layout::codebook) d.row_bytes = 0;  // the block rows' size
    auto out = weights::allocate(d);
    if (!out) return out.error();
    if (w.scheme().bits == 4) Rows<block4>::run(w, *out);
    else Rows<block3>::run(w, *out);
    return out;
}
template <class Block>
struct to_tiled_op {
    static void run(const weights_view& w, weights& out) noexcept { to_tiled_rows<Block>(w, out); }
};
template <class Block>
struct from_tiled_op {
    static void run(const weights_view& w, weights& out) noexcept { from_tiled_rows<Block>(w, out); }
};
}  // namespace detail

// w (layout::codebook) in the tiled codebook layout: the same indices, scales
// and grid (repack(w, layout::tiled_codebook) calls this).
inline result<weights> to_tiled(const weights_view& w) {
    return detail::convert_layout<detail::to_tiled_op>(w, layout::codebook, layout::tiled_codebook, "codebook::to_tiled");
}
// The inverse: codebook blocks equal to those to_tiled read.
inline result<weights> from_tiled(const weights_view& w) {
    return detail::convert_layout<detail::from_tiled_op>(w, layout::tiled_codebook, layout::codebook, "codebook::from_tiled");
}

// y (N x K) = the values of w (layout::codebook or layout::tiled_codebook).
inline status dequantize(const weights_view& w, matrix_view<float> y) noexcept {
    if (w.lay() != layout::codebook && w.lay() != layout::tiled_codebook)
        return status::error(errc::invalid_argument, "codebook::dequantize: the weights are %s", layout_name(w.lay()));
    if (y.rows() != w.rows() || y.cols() != w.cols())
        return status::error(errc::shape_mismatch, "codebook::dequantize: y is %zu x %zu, the weights %zu x %zu", y.rows(), y.cols(), w.rows(),
                             w.cols());
    LOWBIT_TRY(lowbit::detail::check_view(y, "y", "codebook::dequantize"));
    if (w.overlaps(y.data(), lowbit::detail::view_bytes(y))) return status::error(errc::invalid_argument, "codebook::dequantize: y overlaps the weights");
    if (w.lay() == layout::tiled_codebook) {
        if (w.scheme().bits == 4) detail::dequantize_tiled<4>(w, y);
        else detail::dequantize_tiled<3>(w, y);
    } else if (w.scheme().bits == 4) {
        detail::dequantize_rows<block4>(w, y);
    } else {
        detail::dequantize_rows<block3>(w, y);
    }
    return {};
}

// sum over rows and columns of importance[c] * (x - dequantized)^2 (importance null: 1).
inline result<double> weighted_error(matrix_view<const float> x, const weights_view& w, const float* importance = nullptr) {
    if (x.rows() != w.rows() || x.cols() != w.cols())
        return status::error(errc::shape_mismatch, "codebook::weighted_error: x is %zu x %zu, the weights %zu x %zu", x.rows(), x.cols(), w.rows(),
                             w.cols());
    LOWBIT_TRY(detail::check_input("codebook::weighted_error", x, importance));
    std::vector<float> y(w.rows() * w.cols());
    LOWBIT_TRY(dequantize(w, matrix_view<float>(y.data(), w.rows(), w.cols())));
    double e = 0.0;
    for (std::size_t r = 0; r < w.rows(); ++r)
        for (std::size_t c = 0; c < w.cols(); ++c) {
            const double d = static_cast<double>(x(r, c)) - y[r * w.cols() + c];
            e += (importance ? importance[c] : 1.0) * d * d;
        }
    return e;
}

// What learn_grid did.
struct learn_report {
    int iterations = 0;          // Lloyd iterations run (stops early once no centre moves)
    double kmeans_init = 0.0;    // the k-means objective (normalised units) at the NF start
    double kmeans_final = 0.0;   // and at the end: never larger
    double nf_error = 0.0;       // weighted_error of x quantized on the NF grid
    double learned_error = 0.0;  // and on the learned grid
    bool kept_nf = false;        // the learned grid was not better end to end, so the NF grid is returned
};

namespace detail {
constexpr int kmeans_bins = 4096;
// Lloyd on the histogram's bin centroids (weighted points p_b, weights W_b),
// centres kept sorted. Returns the objective sum W_b (p_b - c)^2 after the last
// assignment (the within-bin spread is a constant both ends share).
inline double lloyd(const std::vector<double>& W, const std::vector<double>& P, double* c, int n, int max_iter, int& iters) noexcept {
    const auto objective = [&]() {
        double e = 0.0;
        int k = 0;
        for (std::size_t b = 0; b < W.size(); ++b) {
            if (W[b] <= 0.0) continue;
            while (k + 1 < n && P[b] > 0.5 * (c[k] + c[k + 1])) ++k;
            e += W[b] * (P[b] - c[k]) * (P[b] - c[k]);
        }
        return e;
    };
    iters = 0;
    for (int it = 0; it < max_iter; ++it) {
        double sw[16] = {}, sp[16] = {};
        int k = 0;
        for (std::size_t b = 0; b < W.size(); ++b) {  // bins ascending, centres ascending: one sweep assigns
            if (W[b] <= 0.0) continue;
            while (k + 1 < n && P[b] > 0.5 * (c[k] + c[k + 1])) ++k;
            sw[k] += W[b];
            sp[k] += W[b] * P[b];
        }
        bool moved = false;
        for (int i = 0; i < n; ++i)
            if (sw[i] > 0.0 && sp[i] / sw[i] != c[i]) {
                c[i] = sp[i] / sw[i];  // an empty cluster keeps its centre
                moved = true;
            }
        ++iters;
        if (!moved) break;
    }
    return objective();
}
}  // namespace detail

// A grid learned from x (N x K) by weighted k-means: each 32-block divided by
// its largest |x| (values in [-1, 1], the scale quantize() starts from),
// weight importance[c] * amax^2 (the squared error in x's units); 1-D Lloyd
// iterations on a 4096-bin histogram from the NF grid; the centres scaled to
// +-127, rounded, kept strictly ascending. Then x is quantized on it and on
// the NF grid (the block scales re-fitted by quantize): the NF grid is
// returned when it is not worse (report->kept_nf), so the result is never
// worse than its start in weighted error.
inline result<grid> learn_grid(matrix_view<const float> x, int bits, const float* importance = nullptr, learn_report* report = nullptr,
                               int max_iter = 50) {
    if (bits != 3 && bits != 4) return status::error(errc::unsupported, "codebook::learn_grid: %d-bit indices (3 or 4)", bits);
    LOWBIT_TRY(detail::check_input("codebook::learn_grid", x, importance));
    const grid nf = nf_grid(bits);
    const int n = nf.size();
    std::vector<double> W(detail::kmeans_bins, 0.0), S(detail::kmeans_bins, 0.0);
    for (std::size_t r = 0; r < x.rows(); ++r)
        for (std::size_t b = 0; b < x.cols() / 32; ++b) {
            const float* v = x.row(r) + 32 * b;
            float amax = 0.0f;
            for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(v[j]));
            if (!(amax > 1e-30f)) continue;
            for (int j = 0; j < 32; ++j) {
                const double z = static_cast<double>(v[j]) / amax;
                const double wt = (importance ? importance[32 * b + j] : 1.0) * static_cast<double>(amax) * amax;
                int bin = static_cast<int>((z + 1.0) * 0.5 * detail::kmeans_bins);
                bin = bin < 0 ? 0 : bin >= detail::kmeans_bins ? detail::kmeans_bins - 1 : bin;
                W[bin] += wt;
                S[bin] += wt * z;
            }
        }
    std::vector<double> P(detail::kmeans_bins, 0.0);
    for (int b = 0; b < detail::kmeans_bins; ++b) P[b] = W[b] > 0.0 ? S[b] / W[b] : 0.0;
    double c[16];
    for (int i = 0; i < n; ++i) c[i] = nf.levels[i] / 127.0;
    learn_report rep;
    int none = 0;
    rep.kmeans_init = detail::lloyd(W, P, c, n, 0, none);
    rep.kmeans_final = detail::lloyd(W, P, c, n, max_iter, rep.iterations);
    double cmax = 0.0;
    for (int i = 0; i < n; ++i) cmax = std::fmax(cmax, std::fabs(c[i]));
    grid g;
    g.bits = bits;
    if (cmax > 0.0) {
        int q[16];
        for (int i = 0; i < n; ++i) q[i] = static_cast<int>(std::lround(127.0 * c[i] / cmax));
        for (int i = 1; i < n; ++i) q[i] = q[i] > q[i - 1] ? q[i] : q[i - 1] + 1;  // strictly ascending ...
        if (q[n - 1] > 127) q[n - 1] = 127;
        for (int i = n - 2; i >= 0; --i) q[i] = q[i] < q[i + 1] ? q[i] : q[i + 1] - 1;  // ... within [-127, 127]
        for (int i = 0; i < n; ++i) g.levels[i] = static_cast<std::int8_t>(q[i]);
    } else {
        g = nf;  // every block is zero: nothing to learn
    }
    auto qn = quantize(x, nf, importance);
    if (!qn) return qn.error();
    auto en = weighted_error(x, qn->view(), importance);
    if (!en) return en.error();
    rep.nf_error = *en;
    auto ql = quantize(x, g, importance);
    if (!ql) return ql.error();
    auto el = weighted_error(x, ql->view(), importance);
    if (!el) return el.error();
    rep.learned_error = *el;
    rep.kept_nf = !(rep.learned_error < rep.nf_error);
    if (report) *report = rep;
    return rep.kept_nf ? nf : g;
}

}  // namespace codebook
}  // namespace lowbit
