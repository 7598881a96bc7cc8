// lowbit/quant/hadamard.hpp — the fast Walsh–Hadamard transform and the
// randomized Hadamard rotation that incoherence processing (QuIP#, QuaRot)
// applies to weights before quantizing them.
//
//   H_1 = [1],  H_2n = [[H_n, H_n], [H_n, -H_n]] / sqrt(2)   (Sylvester's order)
//
// H_n is symmetric and orthonormal (H H^T = I), so it is its own inverse. The
// in-place transform is log2(n) passes of n/2 butterflies (a, b) -> (a + b, a - b),
// O(n log n), with the 1/sqrt(n) applied once at the end.
//
// The randomized rotation over a length K is Q = B · diag(s): s a sign vector
// drawn from a seed, B block-diagonal with K/b copies of H_b, b the largest
// power of two that divides K (K & -K). Why block-diagonal rather than padded:
// a padded transform is not square over K, so it could not be folded into the
// neighbouring weights of a model (a rotation must map R^K onto itself); the
// blocks keep Q orthonormal over exactly K. The price is that a K with a small
// power-of-two factor mixes little (K = 172 = 4 · 43: blocks of 4); LLaMA's
// widths (256, 4096, 5632 = 11 · 512) get blocks of 256..4096 or 512.
// hadamard_blocks::binary is the other form: one block per set bit of K,
// largest first (172 = 128 + 32 + 8 + 4), so most of a short odd K is mixed
// by one large block; it is still orthonormal over exactly K.
//
// Every function checks its input before it writes, so an error leaves the
// caller's data as it was.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "../core/status.hpp"
#include "../core/views.hpp"
#include "detail/mt19937_64.hpp"

// The x86 copies need __builtin_shufflevector: Clang, GCC 12 and later.
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12))
#define LOWBIT_FWHT_X86 1
#include "detail/x86/fwht_x86.hpp"
#else
#define LOWBIT_FWHT_X86 0
#endif

namespace lowbit {

// The largest power of two that divides n (0 for n = 0): the block of the
// block-diagonal form.
constexpr std::size_t hadamard_block(std::size_t n) noexcept { return n & (~n + 1); }

constexpr bool is_power_of_two(std::size_t n) noexcept { return n != 0 && (n & (n - 1)) == 0; }

// How hadamard_rotation splits a length that is not a power of two.
enum class hadamard_blocks {
    equal,   // K / b blocks of b = hadamard_block(K)
    binary,  // a block per set bit of K, largest first
};

namespace detail {

// n vectors of `width` contiguous floats, x[i] at x + i * width: each output
// vector is the sum of H_n's row times the input vectors. width = 1 is the
// plain transform of one vector; width = W transforms the columns of an
// n x W row-major matrix with whole-row butterflies (contiguous, so the
// compiler vectorizes the inner loop). Unnormalized; n a power of two.
inline void fwht_unnormalized(float* x, std::size_t n, std::size_t width) noexcept {
    for (std::size_t h = 1; h < n; h *= 2)
        for (std::size_t i = 0; i < n; i += 2 * h)
            for (std::size_t j = i; j < i + h; ++j) {
                float* a = x + j * width;
                float* b = x + (j + h) * width;
                for (std::size_t c = 0; c < width; ++c) {
                    const float u = a[c], v = b[c];
                    a[c] = u + v;
                    b[c] = u - v;
                }
            }
}

// The same transform of one contiguous vector (width 1), in the same
// arithmetic: the first two passes as one radix-4 step per 4 values (their
// butterflies are too short for vectors), then the later passes four
// butterflies at a time through local arrays, which GCC and Clang turn into
// 4-float vector adds at -O2 (the plain loop over a run of h butterflies is
// not vectorized there: h is not a constant). Every value sees the same
// additions in the same order as fwht_unnormalized: the same bits.
inline void fwht_portable(float* x, std::size_t n) noexcept {
    if (n < 4) return fwht_unnormalized(x, n, 1);
    for (std::size_t i = 0; i < n; i += 4) {
        const float s0 = x[i] + x[i + 1], d0 = x[i] - x[i + 1], s1 = x[i + 2] + x[i + 3], d1 = x[i + 2] - x[i + 3];
        x[i] = s0 + s1, x[i + 1] = d0 + d1, x[i + 2] = s0 - s1, x[i + 3] = d0 - d1;
    }
    for (std::size_t h = 4; h < n; h *= 2)
        for (std::size_t i = 0; i < n; i += 2 * h)
            for (std::size_t j = i; j < i + h; j += 4) {
                float u[4], v[4], sum[4], diff[4];
                std::memcpy(u, x + j, sizeof u);
                std::memcpy(v, x + j + h, sizeof v);
                for (int k = 0; k < 4; ++k) sum[k] = u[k] + v[k], diff[k] = u[k] - v[k];
                std::memcpy(x + j, sum, sizeof sum);
                std::memcpy(x + j + h, diff, sizeof diff);
            }
}

// The transform of one vector: the AVX-512 or AVX2 copy (quant/detail/x86/
// fwht_x86.hpp) where the active arch has it, else the portable one; all give
// the same bits.
inline void fwht_vector(float* x, std::size_t n) noexcept {
#if LOWBIT_FWHT_X86
    const std::size_t lanes = x86::fwht_lanes();
    if (lanes == 16 && n >= 16) return x86::fwht_avx512(x, n);
    if (lanes >= 8 && n >= 8) return x86::fwht_avx2(x, n);
#endif
    fwht_portable(x, n);
}

// x[i] *= s[i] * c (x[i] *= c for s null) over n values, four at a time
// through local arrays (as fwht_portable: vectorized at -O2), the tail one by
// one. s holds the signs (+-1): the product s[i] * c is exact. One loop per
// case: with the test for s inside the loop GCC 12 left it scalar (2.1 us for
// 2048 values against 0.36 without signs).
inline void scale_by(float* x, const float* s, float c, std::size_t n) noexcept {
    std::size_t i = 0;
    if (s) {
        for (; i + 4 <= n; i += 4) {
            float v[4], m[4];
            std::memcpy(v, x + i, sizeof v);
            std::memcpy(m, s + i, sizeof m);
            for (int k = 0; k < 4; ++k) v[k] *= m[k] * c;
            std::memcpy(x + i, v, sizeof v);
        }
        for (; i < n; ++i) x[i] *= s[i] * c;
        return;
    }
    for (; i + 4 <= n; i += 4) {
        float v[4];
        std::memcpy(v, x + i, sizeof v);
        for (int k = 0; k < 4; ++k) v[k] *= c;
        std::memcpy(x + i, v, sizeof v);
    }
    for (; i < n; ++i) x[i] *= c;
}

// One block of a rotation: x <- diag(s_out) * c * H_n * diag(s_in) * x over
// n values (n a power of two; s_in, s_out null for no signs), the products
// x * s_in, then x * (s_out * c) exactly as scale_by computes them: the same
// bits on every arch.
inline void rotate_block(float* x, std::size_t n, const float* s_in, const float* s_out, float c) noexcept {
#if LOWBIT_FWHT_X86
    if (x86::rotate_block_x86(x, n, s_in, s_out, c)) return;
#endif
    if (s_in) scale_by(x, s_in, 1.0f, n);
    fwht_vector(x, n);
    scale_by(x, s_out, c, n);
}

// Whether all of x is finite, without a branch per value: an exponent of all
// ones (Inf, NaN) is the one that carries into bit 31 when 2^23 is added to
// it; four lanes OR-ed at a time, which the compiler vectorizes at -O2.
inline bool all_finite(const float* x, std::size_t n) noexcept {
#if LOWBIT_FWHT_X86
    const int wide = x86::all_finite_x86(x, n);
    if (wide >= 0) return wide != 0;
#endif
    std::uint32_t acc[4] = {0, 0, 0, 0};
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        std::uint32_t u[4];
        std::memcpy(u, x + i, sizeof u);
        for (int k = 0; k < 4; ++k) acc[k] |= (u[k] & 0x7f800000u) + 0x00800000u;
    }
    for (; i < n; ++i)
        if (!std::isfinite(x[i])) return false;
    return !((acc[0] | acc[1] | acc[2] | acc[3]) & 0x80000000u);
}

inline status check_finite(const float* x, std::size_t n, const char* fn, const char* what) noexcept {
    if (all_finite(x, n)) return status();
    for (std::size_t i = 0; i < n; ++i)
        if (!std::isfinite(x[i])) return status::error(errc::non_finite, "%s: %s[%zu] is not finite", fn, what, i);
    return status();
}

// rotate_block out of place: dst <- diag(s_out) * c * H_n * diag(s_in) * src,
// the same bits as copying src to dst and running rotate_block there. On x86
// one pass fewer than the copy and three fewer than the finite test, the
// sign pass and the scale pass apart (quant/detail/x86/fwht_x86.hpp: the
// copy, the test and the signs ride on the first in-register pass, the scale
// on the stores of the last pass over memory). src and dst are equal or do
// not overlap. False, with dst written, if src holds a NaN or an Inf.
inline bool rotate_block_from(const float* src, float* dst, std::size_t n, const float* s_in, const float* s_out, float c) noexcept {
#if LOWBIT_FWHT_X86
    const int done = x86::rotate_from_x86(src, dst, n, s_in, s_out, c);
    if (done >= 0) return done != 0;
#endif
    const bool finite = all_finite(src, n);
    if (dst != src) std::memcpy(dst, src, n * sizeof(float));
    rotate_block(dst, n, s_in, s_out, c);
    return finite;
}

}  // namespace detail

// x <- H_n x, orthonormal, in place. n = x.size() must be a power of two.
inline status fwht(span<float> x) noexcept {
    if (x.empty()) return status::error(errc::shape_mismatch, "fwht: x is empty");
    LOWBIT_TRY(lowbit::detail::check_span(x, "x", "fwht"));
    if (!is_power_of_two(x.size()))
        return status::error(errc::shape_mismatch, "fwht: x has %zu values, not a power of two", x.size());
    LOWBIT_TRY(detail::check_finite(x.data(), x.size(), "fwht", "x"));
    const float norm = static_cast<float>(1.0 / std::sqrt(static_cast<double>(x.size())));
    detail::rotate_block(x.data(), x.size(), nullptr, nullptr, norm);
    return status();
}

// Q = B · diag(s) over a length n (see the top of the file). Build it with
// make(); apply() computes Q x, apply_transpose() Q^T x = diag(s) · B x (the
// inverse). The _rows forms rotate each row of a row-major matrix whose rows
// have length n (W Q^T: row w becomes Q w); the _columns forms rotate its
// columns (Q W, the matrix has n rows).
class hadamard_rotation {
public:
    // Signs from the standard's mt19937_64 (its output is fixed by the C++
    // standard, so a seed gives the same rotation on every platform): bit 63
    // of each draw. detail::mt19937_64 is that engine without <random>.
    static result<hadamard_rotation> make(std::size_t n, std::uint64_t seed, hadamard_blocks split = hadamard_blocks::equal) {
        if (n == 0) return status::error(errc::shape_mismatch, "hadamard_rotation: n = 0");
        if (split != hadamard_blocks::equal && split != hadamard_blocks::binary)
            return status::error(errc::invalid_argument, "hadamard_rotation: split = %d is not a hadamard_blocks (equal 0, binary 1)",
                                 static_cast<int>(split));
        // The signs are n floats (and equal blocks of an odd n, n sizes): refuse
        // what no vector can hold rather than let resize throw (or abort
        // under -fno-exceptions).
        if (n > static_cast<std::size_t>(PTRDIFF_MAX) / sizeof(std::size_t))
            return status::error(errc::invalid_argument, "hadamard_rotation: n = %zu is more values than fit in memory", n);
        hadamard_rotation q;
        q.block_ = hadamard_block(n);
        if (split == hadamard_blocks::binary) {
            for (std::size_t bit = std::size_t(1) << (std::numeric_limits<std::size_t>::digits - 1); bit != 0; bit >>= 1)
                if (n & bit) q.sizes_.push_back(bit);
        } else {
            q.sizes_.assign(n / q.block_, q.block_);
        }
        q.signs_.resize(n);
        detail::mt19937_64 gen(seed);
        for (float& s : q.signs_) s = (gen() >> 63) ? -1.0f : 1.0f;
        return q;
    }

    std::size_t size() const noexcept { return signs_.size(); }
    // The smallest block (all blocks for hadamard_blocks::equal) and each block's length in order.
    std::size_t block() const noexcept { return block_; }
    const std::vector<std::size_t>& blocks() const noexcept { return sizes_; }
    const std::vector<float>& signs() const noexcept { return signs_; }

    status apply(span<float> x) const noexcept { return transform_rows(x, 1, false, "x"); }
    status apply_transpose(span<float> x) const noexcept { return transform_rows(x, 1, true, "x"); }

    // out = Q x (Q^T x with transpose), x left as it is: the bits of copying x
    // into out and apply() there, in fewer passes over the values
    // (detail::rotate_block_from; what rotated_gemv runs on every call). out
    // may be x itself (then this is apply()) but must not overlap it
    // otherwise. A NaN or Inf in x: errc::non_finite, out's values unspecified.
    status apply_to(span<const float> x, span<float> out, bool transpose = false) const noexcept {
        const std::size_t n = size();
        if (n == 0) return status::error(errc::invalid_argument, "hadamard_rotation: not built (use make())");
        if (x.size() != n || out.size() != n)
            return status::error(errc::shape_mismatch, "hadamard_rotation: x has %zu values and out %zu, the rotation %zu", x.size(),
                                 out.size(), n);
        LOWBIT_TRY(lowbit::detail::check_span(x, "x", "hadamard_rotation"));
        LOWBIT_TRY(lowbit::detail::check_span(out, "out", "hadamard_rotation"));
        if (out.data() == x.data()) return transform_rows(out, 1, transpose, "x");
        if (detail::overlaps(x.data(), n * sizeof(float), out.data(), n * sizeof(float)))
            return status::error(errc::invalid_argument, "hadamard_rotation: x and out overlap");
        bool finite = true;
        std::size_t at = 0;
        for (const std::size_t b : sizes_) {
            const float norm = static_cast<float>(1.0 / std::sqrt(static_cast<double>(b)));
            const float* s = signs_.data() + at;
            finite &= detail::rotate_block_from(x.data() + at, out.data() + at, b, transpose ? nullptr : s, transpose ? s : nullptr, norm);
            at += b;
        }
        return finite ? status() : detail::check_finite(x.data(), n, "hadamard_rotation", "x");
    }

    // m is rows x size() row-major; each row w becomes Q w (or Q^T w).
    status apply_rows(span<float> m, std::size_t n_rows, bool transpose = false) const noexcept {
        return transform_rows(m, n_rows, transpose, "m");
    }

    // m is size() x cols row-major; m becomes Q m (or Q^T m).
    status apply_columns(span<float> m, std::size_t cols, bool transpose = false) const noexcept {
        const std::size_t n = size();
        LOWBIT_TRY(check_shape(m, n, cols, "m"));
        LOWBIT_TRY(detail::check_finite(m.data(), m.size(), "hadamard_rotation", "m"));
        if (transpose)  // Q^T m = diag(s) B m
            for_blocks_columns(m.data(), cols);
        for (std::size_t r = 0; r < n; ++r)
            for (std::size_t c = 0; c < cols; ++c) m[r * cols + c] *= signs_[r];
        if (!transpose) for_blocks_columns(m.data(), cols);
        return status();
    }

private:
    // m must be rows x cols, neither zero, on a built rotation.
    status check_shape(span<float> m, std::size_t n_rows, std::size_t cols, const char* what) const noexcept {
        if (size() == 0) return status::error(errc::invalid_argument, "hadamard_rotation: not built (use make())");
        if (n_rows == 0 || cols == 0 || m.empty())
            return status::error(errc::shape_mismatch, "hadamard_rotation: %s is empty (%zu x %zu)", what, n_rows, cols);
        if (cols > std::numeric_limits<std::size_t>::max() / n_rows || m.size() != n_rows * cols)
            return status::error(errc::shape_mismatch, "hadamard_rotation: %s has %zu values, not %zu x %zu", what, m.size(), n_rows, cols);
        LOWBIT_TRY(lowbit::detail::check_span(m, what, "hadamard_rotation"));
        return status();
    }

    // Each of `count` contiguous vectors of length size(): x <- Q x or Q^T x.
    status transform_rows(span<float> m, std::size_t count, bool transpose, const char* what) const noexcept {
        const std::size_t n = size();
        LOWBIT_TRY(check_shape(m, count, n, what));
        LOWBIT_TRY(detail::check_finite(m.data(), m.size(), "hadamard_rotation", what));
        for (std::size_t r = 0; r < count; ++r) {
            float* x = m.data() + r * n;
            std::size_t at = 0;
            for (const std::size_t b : sizes_) {
                const float norm = static_cast<float>(1.0 / std::sqrt(static_cast<double>(b)));
                // forward: signs, transform, x * norm; transpose: transform, x * (s * norm), the products with s exact
                const float* s = signs_.data() + at;
                detail::rotate_block(x + at, b, transpose ? nullptr : s, transpose ? s : nullptr, norm);
                at += b;
            }
        }
        return status();
    }

    // m <- B m for an n x cols matrix: each block's rows transformed together.
    void for_blocks_columns(float* m, std::size_t cols) const noexcept {
        std::size_t at = 0;
        for (const std::size_t b : sizes_) {
            detail::fwht_unnormalized(m + at * cols, b, cols);
            const float norm = static_cast<float>(1.0 / std::sqrt(static_cast<double>(b)));
            for (std::size_t i = at * cols; i < (at + b) * cols; ++i) m[i] *= norm;
            at += b;
        }
    }

    std::size_t block_ = 0;
    std::vector<std::size_t> sizes_;
    std::vector<float> signs_;
};

}  // namespace lowbit
