// tests/test_kernels_common.hpp — helpers of the kernel tests (test_kernels*.cpp):
// random and adversarial matrices, every arch this CPU runs, and the tolerance
// of docs/kernels.md "Accuracy".
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include <lowbit/lowbit.hpp>

#include "test_archs.hpp"
#include "test_util.hpp"

namespace kt {

using namespace lowbit;

using lowbit_test::runnable_archs;
using lowbit_test::arch_scope;  // restores automatic arch selection when a test ends

struct shape {
    std::size_t N, K;
};
// Tails everywhere: K below, at and above multiples of 32 and 256, odd N.
inline const std::vector<shape>& shapes() {
    static const std::vector<shape> s = {{1, 1},   {3, 31},  {2, 32},   {5, 33},   {7, 255}, {4, 256},
                                         {9, 257}, {6, 300}, {17, 513}, {66, 640}, {3, 1031}};
    return s;
}

template <class S>
int group_for(std::size_t K) {
    if (S::static_group) return S::static_group;
    return S::gran == granularity::per_group ? 64 : static_cast<int>(K);
}

// A quantized random matrix; with `adversarial`, rows hit the code extremes
// (constant rows, a single huge value, alternating signs).
template <class S>
qmatrix<S> make_matrix(std::size_t N, std::size_t K, unsigned seed, bool with_perm, bool adversarial = false) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd;
    std::vector<float> w(N * K);
    for (std::size_t r = 0; r < N; ++r)
        for (std::size_t c = 0; c < K; ++c) {
            float v = nd(rng);
            if (adversarial) {
                switch (r % 4) {
                    case 0: v = 1.0f; break;
                    case 1: v = c == K / 2 ? 1000.0f : v * 1e-3f; break;
                    case 2: v = (c % 2) ? -3.0f : 3.0f; break;
                    default: break;
                }
            }
            w[r * K + c] = v;
        }
    quantize_options o;
    o.group = group_for<S>(K);
    auto q = quantize<S>(matrix_view<const float>(w.data(), N, K), o);
    REQUIRE(q.ok());
    if (with_perm) {
        std::vector<std::int32_t> p(K);
        std::iota(p.begin(), p.end(), 0);
        std::shuffle(p.begin(), p.end(), rng);
        q->set_perm(p);
    }
    return std::move(*q);
}

inline std::vector<float> random_vec(std::size_t n, unsigned seed, bool adversarial = false) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd;
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = adversarial ? (i % 7 == 0 ? 0.0f : (i % 5 == 0 ? 1e4f : nd(rng))) : nd(rng);
    return v;
}

// M rows of n activations, row-major: row m is random_vec(n, seed++), its
// adversarial form on every third row when `adversarial` (the AMX bodies' tests).
inline std::vector<float> random_rows(std::size_t M, std::size_t n, unsigned& seed, bool adversarial) {
    std::vector<float> X(M * n);
    for (std::size_t m = 0; m < M; ++m) {
        const auto r = random_vec(n, seed++, adversarial && m % 3 == 0);
        std::copy(r.begin(), r.end(), X.begin() + static_cast<std::ptrdiff_t>(m * n));
    }
    return X;
}

// q's weights dequantized (row-major N x K, input column order): the tests that
// take several dot products with one matrix dequantize it once (dot_rows below).
template <class S>
std::vector<float> dequantized(const qmatrix<S>& q) {
    std::vector<float> d(q.rows() * q.cols());
    REQUIRE(dequantize(q, matrix_view<float>(d.data(), q.rows(), q.cols()), serial_executor{}).ok());
    return d;
}

// sum_k w_nk x_k (or sum_k |w_nk x_k|, the scale of its rounding error) for
// every row n of the dequantized N x K weights d, in double (input order).
inline std::vector<double> dot_rows(const std::vector<float>& d, std::size_t N, std::size_t K, const float* x,
                                    bool absolute = false) {
    std::vector<double> s(N, 0.0);
    for (std::size_t r = 0; r < N; ++r)
        for (std::size_t c = 0; c < K; ++c) {
            const double p = static_cast<double>(d[r * K + c]) * x[c];
            s[r] += absolute ? std::fabs(p) : p;
        }
    return s;
}
template <class S>
std::vector<double> dequantized_dot(const qmatrix<S>& q, const float* x, bool absolute = false) {
    return dot_rows(dequantized(q), q.rows(), q.cols(), x, absolute);
}
template <class S>
std::vector<double> abs_dot(const qmatrix<S>& q, const float* x) {
    return dequantized_dot(q, x, true);
}

// The int8 path's own error bound: each activation moves by at most dx/2 = amax_block/254,
// so |y - y_exact| <= sum_k |w_nk| * amax(block of k) / 254 (+ float rounding).
// d: q dequantized (dequantized(q)).
template <class S>
std::vector<double> int8_bound(const qmatrix<S>& q, const std::vector<float>& d, const float* x) {
    const std::size_t N = q.rows(), K = q.cols();
    const auto v = q.view();
    std::vector<double> amax((K + 31) / 32, 0.0);
    for (std::size_t j = 0; j < K; ++j) {  // blocks are over the stored (permuted) column order
        const std::size_t in = v.perm ? static_cast<std::size_t>(v.perm[j]) : j;
        amax[j / 32] = std::max(amax[j / 32], static_cast<double>(std::fabs(x[in])));
    }
    std::vector<double> b(N, 0.0);
    for (std::size_t r = 0; r < N; ++r)
        for (std::size_t j = 0; j < K; ++j) {
            const std::size_t in = v.perm ? static_cast<std::size_t>(v.perm[j]) : j;
            b[r] += std::fabs(static_cast<double>(d[r * K + in])) * amax[j / 32] / 254.0;
        }
    return b;
}
template <class S>
std::vector<double> int8_bound(const qmatrix<S>& q, const float* x) {
    return int8_bound(q, dequantized(q), x);
}

// Float kernels against the double reference: |y - ref| <= 1e-5 * sum|w x| + 1e-30.
constexpr double f32_rel_tol = 1e-5;

// x and y at an odd float offset inside larger buffers (unaligned pointers).
struct offset_buffer {
    std::vector<float> storage;
    float* p;
    offset_buffer(std::size_t n, std::size_t off, float fill = 0.0f) : storage(n + off + 1, fill), p(storage.data() + off) {}
};


inline bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Every arch's dequant-FMA GEMV against the reference; every arch's int8 GEMV
// bit-exact against the int8 scalar model and within the int8 error bound.
template <class S>
void check_gemv_all_archs() {
    unsigned seed = 1;
    // LOWBIT_TEST_REDUCED (ASan+UBSan, qemu): two of the four (permutation,
    // value kind) pairs per shape, (0, 0) and (1, 1) on even shapes, (0, 1) and
    // (1, 0) on odd ones: every shape still runs with and without a
    // permutation and with random and adversarial values, and each pair runs
    // on five or six shapes (as test_kernels_tiled's grid).
    const bool pairs = lowbit_test::reduced();
    for (std::size_t si = 0; si < shapes().size(); ++si)
        for (int perm = 0; perm < 2; ++perm)
            for (int adv = 0; adv < 2; ++adv) {
                if (pairs && ((perm ^ adv) != static_cast<int>(si % 2))) continue;
                const shape& sh = shapes()[si];
                CAPTURE(sh.N);
                CAPTURE(sh.K);
                CAPTURE(perm);
                CAPTURE(adv);
                const auto q = make_matrix<S>(sh.N, sh.K, seed++, perm != 0, adv != 0);
                offset_buffer x(sh.K, 1 + seed % 3), yref(sh.N, 0), y(sh.N, 3), ymodel(sh.N, 0);
                const auto xv = random_vec(sh.K, seed++, adv != 0);
                std::copy(xv.begin(), xv.end(), x.p);
                matmul_options ref, fma, i8;
                ref.path = matmul_path::reference;
                fma.path = matmul_path::dequant_fma;
                i8.path = matmul_path::int8_dot;
                REQUIRE(gemv(q, span<const float>(x.p, sh.K), span<float>(yref.p, sh.N), serial_executor{}, ref).ok());
                const auto d = dequantized(q);
                const auto tol = dot_rows(d, sh.N, sh.K, x.p, true);
                const auto bound = int8_bound(q, d, x.p);
                {
                    arch_scope s(arch::scalar);
                    REQUIRE(gemv(q, span<const float>(x.p, sh.K), span<float>(ymodel.p, sh.N), serial_executor{}, i8).ok());
                }
                for (arch a : runnable_archs()) {
                    const std::string arch_str = arch_name(a);
                    CAPTURE(arch_str);
                    arch_scope s(a);
                    REQUIRE(gemv(q, span<const float>(x.p, sh.K), span<float>(y.p, sh.N), serial_executor{}, fma).ok());
                    for (std::size_t r = 0; r < sh.N; ++r) {
                        CAPTURE(r);
                        REQUIRE(std::fabs(static_cast<double>(y.p[r]) - yref.p[r]) <= f32_rel_tol * tol[r] + 1e-30);
                    }
                    REQUIRE(gemv(q, span<const float>(x.p, sh.K), span<float>(y.p, sh.N), serial_executor{}, i8).ok());
                    for (std::size_t r = 0; r < sh.N; ++r) {
                        CAPTURE(r);
                        REQUIRE(same_bits(y.p[r], ymodel.p[r]));
                        REQUIRE(std::fabs(static_cast<double>(y.p[r]) - yref.p[r]) <= 1.001 * bound[r] + f32_rel_tol * tol[r] + 1e-30);
                    }
                }
            }
}

// GEMM: each output row equals the GEMV of that activation row bit for bit (same
// per-row arithmetic), on strided X and Y, for both paths and every arch.
template <class S>
void check_gemm_all_archs() {
    unsigned seed = 100;
    for (const auto& sh : shapes())
        for (std::size_t M : {2, 3, 5, 7}) {
            CAPTURE(sh.N);
            CAPTURE(sh.K);
            CAPTURE(M);
            const bool use_perm = seed % 2 == 0;
            const auto q = make_matrix<S>(sh.N, sh.K, seed++, use_perm);
            const std::size_t ldx = sh.K + 3, ldy = sh.N + 5;
            offset_buffer X(M * ldx, 1), Y(M * ldy, 2, -7.0f), Yref(M * ldy, 0), y(sh.N, 1);
            for (std::size_t m = 0; m < M; ++m) {
                const auto xv = random_vec(sh.K, seed++);
                std::copy(xv.begin(), xv.end(), X.p + m * ldx);
            }
            const matrix_view<const float> Xv(X.p, M, sh.K, ldx);
            matmul_options ref;
            ref.path = matmul_path::reference;
            REQUIRE(gemm(q, Xv, matrix_view<float>(Yref.p, M, sh.N, ldy), serial_executor{}, ref).ok());
            // Each row's tolerance once, not once per arch and path: a dequantization
            // and a double dot product each, most of this check's time at -O0.
            const auto d = dequantized(q);
            std::vector<std::vector<double>> tols(M);
            for (std::size_t m = 0; m < M; ++m) tols[m] = dot_rows(d, sh.N, sh.K, X.p + m * ldx, true);
            for (arch a : runnable_archs()) {
                const std::string arch_str = arch_name(a);
                    CAPTURE(arch_str);
                arch_scope s(a);
                for (auto path : {matmul_path::dequant_fma, matmul_path::int8_dot}) {
                    matmul_options o;
                    o.path = path;
                    REQUIRE(gemm(q, Xv, matrix_view<float>(Y.p, M, sh.N, ldy), serial_executor{}, o).ok());
                    for (std::size_t m = 0; m < M; ++m) {
                        REQUIRE(gemv(q, span<const float>(X.p + m * ldx, sh.K), span<float>(y.p, sh.N), serial_executor{}, o).ok());
                        const auto& tol = tols[m];
                        for (std::size_t r = 0; r < sh.N; ++r) {
                            REQUIRE(same_bits(Y.p[m * ldy + r], y.p[r]));
                            if (path == matmul_path::dequant_fma)
                                REQUIRE(std::fabs(static_cast<double>(Y.p[m * ldy + r]) - Yref.p[m * ldy + r]) <=
                                        f32_rel_tol * tol[r] + 1e-30);
                        }
                        for (std::size_t r = sh.N; r < ldy; ++r) REQUIRE(Y.p[m * ldy + r] == -7.0f);  // padding untouched
                    }
                }
            }
        }
}

// Results are bit-identical for any thread count (fixed task split).
template <class S>
void check_thread_determinism() {
    const std::size_t N = 300, K = 700, M = 6;
    const auto q = make_matrix<S>(N, K, 7, true);
    const auto x = random_vec(M * K, 8);
    thread_pool p2(2), p3(3);
    for (auto path : {matmul_path::dequant_fma, matmul_path::int8_dot}) {
        matmul_options o;
        o.path = path;
        std::vector<float> y1(M * N), y2(M * N), y3(M * N);
        const matrix_view<const float> X(x.data(), M, K);
        REQUIRE(gemm(q, X, matrix_view<float>(y1.data(), M, N), serial_executor{}, o).ok());
        REQUIRE(gemm(q, X, matrix_view<float>(y2.data(), M, N), p2, o).ok());
        REQUIRE(gemm(q, X, matrix_view<float>(y3.data(), M, N), p3, o).ok());
        REQUIRE(std::memcmp(y1.data(), y2.data(), y1.size() * 4) == 0);
        REQUIRE(std::memcmp(y1.data(), y3.data(), y1.size() * 4) == 0);
        REQUIRE(gemv(q, span<const float>(x.data(), K), span<float>(y2.data(), N), p2, o).ok());
        REQUIRE(gemv(q, span<const float>(x.data(), K), span<float>(y3.data(), N), p3, o).ok());
        REQUIRE(std::memcmp(y1.data(), y2.data(), N * 4) == 0);
        REQUIRE(std::memcmp(y1.data(), y3.data(), N * 4) == 0);
    }
}

}  // namespace kt
