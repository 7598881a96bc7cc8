// lowbit/quant/detail/ternary_l2.hpp — the step of a symmetric 2-bit group
// (levels -s, 0, +s) with the least squared error, over every real step, by a
// sweep over the group's sorted magnitudes (calibrate::mse at norm 2;
// docs/history/mse-search.md, "Session 32 (branch sw32)").
//
// With a = |x| sorted down, a_1 >= a_2 >= ... >= a_n, a step s gives the k
// largest the level s and the rest 0, where k counts the a_i above s/2. On
// the steps of one k, 2 a_(k+1) <= s <= 2 a_k, the error is
//   E_k(s) = Q - 2 s P_k + k s^2,   P_k = a_1 + ... + a_k,  Q = sum a_i^2,
// a parabola whose least value is Q - P_k^2 / k at s_k = P_k / k. E is
// continuous in s (at s = 2 a_k that value errs a_k either way), and at a
// breakpoint its slope from below exceeds its slope from above by 2 a_k > 0:
// a kink that bends down, never a minimum. So the least error over all s is
// at an s_k inside its own segment: the largest P_k^2 / k among those.
// Every operation is an addition, a division, a product by 2 or a product
// that is only compared: no contraction into an FMA can change the result,
// which is the same bit for bit on every arch and build.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <utility>

namespace lowbit {
namespace detail {

// Batcher's odd-even merge network for N values (N a power of two): its
// compare-exchanges (i, j), i < j, in order, built at compile time.
template <std::size_t N>
struct merge_network {
    static constexpr std::size_t count() noexcept { return walk(nullptr, nullptr); }
    // Visits every compare-exchange; stores them where i and j are given.
    static constexpr std::size_t walk(std::size_t* i, std::size_t* j) noexcept {
        std::size_t c = 0;
        for (std::size_t p = 1; p < N; p <<= 1)
            for (std::size_t k = p; k >= 1; k >>= 1)
                for (std::size_t s = k % p; s + k < N; s += 2 * k)
                    for (std::size_t t = 0; t < k && s + t + k < N; ++t)
                        if ((s + t) / (2 * p) == (s + t + k) / (2 * p)) {  // both in one merge of two runs of p
                            if (i) {
                                i[c] = s + t;
                                j[c] = s + t + k;
                            }
                            ++c;
                        }
        return c;
    }
    static constexpr std::size_t size = count();
    std::size_t i[size], j[size];
    constexpr merge_network() noexcept : i(), j() { walk(i, j); }
};

// a[0..N) sorted down by the network, unrolled (the indices are constants:
// the values stay in registers; min and max, no branch on the data, and the
// caller sees that they are finite).
template <std::size_t N, std::size_t... C>
inline void sort_down_unrolled(float* a, std::index_sequence<C...>) noexcept {
    constexpr merge_network<N> net{};
    auto exchange = [a](std::size_t i, std::size_t j) {
        const float u = a[i], v = a[j];
        a[i] = std::max(u, v);
        a[j] = std::min(u, v);
    };
    (exchange(net.i[C], net.j[C]), ...);
}

// The largest group the sweep takes (its magnitudes live on the stack).
constexpr std::size_t ternary_l2_max = 256;

// a[0..n) (finite, not negative) sorted down; false if n is over
// ternary_l2_max. Up to 32 values (the groups of 16 and 32 that 2-bit
// schemes use) by the network, padded with zeros, which sort last and never
// take a level; larger groups by std::sort.
inline bool sort_magnitudes_down(float* a, std::size_t n) noexcept {
    if (n > ternary_l2_max) return false;
    if (n > 32) {
        std::sort(a, a + n, [](float u, float v) { return u > v; });
    } else if (n > 16) {
        std::fill(a + n, a + 32, 0.0f);
        sort_down_unrolled<32>(a, std::make_index_sequence<merge_network<32>::size>{});
    } else {
        std::fill(a + n, a + 16, 0.0f);
        sort_down_unrolled<16>(a, std::make_index_sequence<merge_network<16>::size>{});
    }
    return true;
}

// 1/k for k = 0 ... ternary_l2_max (0 at 0), rounded once, at compile time.
struct ternary_l2_reciprocals {
    double r[ternary_l2_max + 1];
    constexpr ternary_l2_reciprocals() noexcept : r() {
        for (std::size_t k = 1; k <= ternary_l2_max; ++k) r[k] = 1.0 / static_cast<double>(k);
    }
};

// The step of least squared error (see the top) for the n magnitudes a,
// sorted down, with a[n] = 0 (read as the last segment's lower end); 0
// where every a_i is 0.
inline double ternary_l2_step(const float* a, std::size_t n) noexcept {
    // Three loops (the prefix sums; each segment's gain; the first of the
    // largest) rather than one with the tests as branches: which segments
    // hold their s_k is data, and its mispredictions were most of the
    // sweep's time (perf); the middle loop has no dependence between k, and
    // no division (a gain is P_k^2 times 1/k from a table: the comparison
    // between segments, not the step, takes that rounding).
    // s_k inside [2 a_(k+1), 2 a_k] is tested as 2 k a_(k+1) <= P_k <= 2 k a_k
    // (exact products: k <= 256).
    static constexpr ternary_l2_reciprocals inv{};
    double p[ternary_l2_max], gain[ternary_l2_max];
    // P_k as two chains of additions, each half's from its start, then the
    // first half's total added to the second's: half the latency of one
    // chain (the same sums on every build: the order is written out).
    const std::size_t h = n / 2;
    double lo = 0.0, hi = 0.0;
    for (std::size_t k = 0; k < h; ++k) {
        lo += static_cast<double>(a[k]);
        hi += static_cast<double>(a[h + k]);
        p[k] = lo;
        p[h + k] = hi;
    }
    if (n % 2 != 0) p[n - 1] = hi + static_cast<double>(a[n - 1]);
    for (std::size_t k = h; k < n; ++k) p[k] += lo;
    for (std::size_t k = 0; k < n; ++k) {
        const double kk = static_cast<double>(k + 1);
        const bool inside = (p[k] >= 2.0 * kk * static_cast<double>(a[k + 1])) & (p[k] <= 2.0 * kk * static_cast<double>(a[k]));
        // P_k^2 / k (what this segment's best takes off Q) times 1 or 0: GCC
        // kept a select on `inside` as a branch
        gain[k] = p[k] * p[k] * inv.r[k + 1] * static_cast<double>(inside);
    }
    double most4[4] = {0.0, 0.0, 0.0, 0.0};  // (a max: any order gives it; four chains are shorter)
    for (std::size_t k = 0; k < n; ++k) most4[k % 4] = std::max(most4[k % 4], gain[k]);
    const double most = std::max(std::max(most4[0], most4[1]), std::max(most4[2], most4[3]));
    if (!(most > 0.0)) return 0.0;
    std::size_t k = 0;
    while (gain[k] != most) ++k;
    return p[k] / static_cast<double>(k + 1);
}

// The squared errors of the steps s[0..3) (each > 0) over the n magnitudes
// a, as range_error computes them up to the order of the sum: a value errs
// the smaller of a and d = |s - a| in float (the level s where a > s/2,
// else 0), squared in double (exact: floats squared). quantize_value takes
// the level where a / s > 1/2 in float, i.e. where a > s (1/2 + 2^-25);
// for a in (s/2, s (1/2 + 2^-25)] it gives 0 where this takes d, and d >=
// a - s 2^-24 there: the term differs by < 2^-21 of itself, in that band
// only. The smaller of two squares is a minsd (vectorizable), where the
// quantizer's own test compiled to a branch on the data (GCC) and its
// float quotient to a division per value. The three steps in one pass
// (the loads, a^2 once). Each summed in two running sums in a fixed order
// (value i into sum i mod 2; the same on every build: no reassociation is
// left to the compiler). Every term is a square: an error is resolved to
// double's precision of itself, even where it is a tiny fraction of
// sum a^2 (nearly equal values).
inline void ternary_l2_errors(const float* a, std::size_t n, const float* s, double* err) noexcept {
    double part[3][2] = {};
    for (std::size_t i = 0; i < n; ++i) {
        const double x = a[i], x2 = x * x;
        for (int c = 0; c < 3; ++c) {
            const double d = std::fabs(s[c] - a[i]);
            part[c][i % 2] += std::min(x2, d * d);
        }
    }
    for (int c = 0; c < 3; ++c) err[c] = part[c][0] + part[c][1];
}

}  // namespace detail
}  // namespace lowbit
