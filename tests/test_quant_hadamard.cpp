// quant/hadamard.hpp: the fast Walsh–Hadamard transform and the randomized,
// block-diagonal Hadamard rotation, checked against dense matrices built
// from the definition (Sylvester's recursion), never from the fast code.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <lowbit/quant/hadamard.hpp>

#include "test_archs.hpp"

using namespace lowbit;

namespace {

// Dense orthonormal H_n, Sylvester's order: H[i][j] = (-1)^popcount(i & j) / sqrt(n).
std::vector<double> dense_hadamard(std::size_t n) {
    std::vector<double> h(n * n);
    const double norm = 1.0 / std::sqrt(static_cast<double>(n));
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) {
            std::size_t bits = i & j, parity = 0;
            for (; bits; bits &= bits - 1) parity ^= 1;
            h[i * n + j] = parity ? -norm : norm;
        }
    return h;
}

// Dense Q = B diag(s) over n, B block-diagonal with the blocks q.blocks() in order.
std::vector<double> dense_rotation(const hadamard_rotation& q) {
    const std::size_t n = q.size();
    std::vector<double> m(n * n, 0.0);
    std::size_t blk = 0;
    for (const std::size_t b : q.blocks()) {
        const std::vector<double> hb = dense_hadamard(b);
        for (std::size_t i = 0; i < b; ++i)
            for (std::size_t j = 0; j < b; ++j) m[(blk + i) * n + blk + j] = hb[i * b + j] * q.signs()[blk + j];
        blk += b;
    }
    REQUIRE(blk == n);
    return m;
}

std::vector<float> random_vector(std::size_t n, unsigned seed) {
    std::mt19937 gen(seed);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> x(n);
    for (float& v : x) v = nd(gen);
    return x;
}

// max_i |(M x)_i - y_i| for dense M (n x n) in double.
double max_diff(const std::vector<double>& m, const std::vector<float>& x, const std::vector<float>& y, bool transpose = false) {
    const std::size_t n = x.size();
    double worst = 0;
    for (std::size_t i = 0; i < n; ++i) {
        double s = 0;
        for (std::size_t j = 0; j < n; ++j) s += (transpose ? m[j * n + i] : m[i * n + j]) * x[j];
        worst = std::max(worst, std::fabs(s - y[i]));
    }
    return worst;
}

}  // namespace

TEST_CASE("hadamard: block is the largest power of two dividing n") {
    CHECK(hadamard_block(1) == 1);
    CHECK(hadamard_block(64) == 64);
    CHECK(hadamard_block(172) == 4);
    CHECK(hadamard_block(5632) == 512);
    CHECK(hadamard_block(768) == 256);
    CHECK(hadamard_block(7) == 1);
    CHECK(hadamard_block(0) == 0);
}

TEST_CASE("fwht: the dense definition is orthonormal, and the fast transform equals it") {
    for (std::size_t n : {1u, 2u, 4u, 8u, 16u, 64u, 256u}) {
        CAPTURE(n);
        const std::vector<double> h = dense_hadamard(n);
        double worst = 0;  // H H^T = I
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < n; ++j) {
                double s = 0;
                for (std::size_t k = 0; k < n; ++k) s += h[i * n + k] * h[j * n + k];
                worst = std::max(worst, std::fabs(s - (i == j ? 1.0 : 0.0)));
            }
        CHECK(worst < 1e-12);
        // The fast transform of each unit vector is the dense matrix's column.
        for (std::size_t j = 0; j < n; ++j) {
            std::vector<float> e(n, 0.0f);
            e[j] = 1.0f;
            REQUIRE(fwht(e).ok());
            for (std::size_t i = 0; i < n; ++i) REQUIRE(std::fabs(e[i] - h[i * n + j]) < 1e-6);
        }
        const std::vector<float> x = random_vector(n, static_cast<unsigned>(n));
        std::vector<float> y = x;
        REQUIRE(fwht(y).ok());
        CHECK(max_diff(h, x, y) < 1e-5);
        REQUIRE(fwht(y).ok());  // H is its own inverse
        for (std::size_t i = 0; i < n; ++i) CHECK(y[i] == doctest::Approx(x[i]).epsilon(1e-5).scale(1.0));
    }
}

TEST_CASE("hadamard_rotation: equals the dense B diag(s), power-of-two and block-diagonal sizes, both splits") {
    for (const hadamard_blocks split : {hadamard_blocks::equal, hadamard_blocks::binary})
    for (std::size_t n : {1u, 7u, 8u, 12u, 64u, 172u, 256u, 768u, 1536u}) {
        CAPTURE(n);
        CAPTURE(static_cast<int>(split));
        auto q = hadamard_rotation::make(n, 42 + n, split);
        REQUIRE(q.ok());
        CHECK(q->block() == hadamard_block(n));
        std::size_t sum = 0;
        for (std::size_t b : q->blocks()) {
            CHECK(is_power_of_two(b));
            CHECK((split == hadamard_blocks::binary || b == hadamard_block(n)));
            sum += b;
        }
        CHECK(sum == n);
        if (split == hadamard_blocks::binary && n == 172) CHECK(q->blocks() == std::vector<std::size_t>{128, 32, 8, 4});
        if (split == hadamard_blocks::binary && n == 7) CHECK(q->blocks() == std::vector<std::size_t>{4, 2, 1});
        const std::vector<double> m = dense_rotation(*q);
        const std::vector<float> x = random_vector(n, 7u + static_cast<unsigned>(n));
        std::vector<float> y = x, z = x;
        REQUIRE(q->apply(y).ok());
        CHECK(max_diff(m, x, y) < 1e-5);
        REQUIRE(q->apply_transpose(z).ok());
        CHECK(max_diff(m, x, z, true) < 1e-5);
        REQUIRE(q->apply_transpose(y).ok());  // Q^T Q x = x
        double worst = 0, norm_x = 0, norm_qx = 0;
        for (std::size_t i = 0; i < n; ++i) worst = std::max(worst, static_cast<double>(std::fabs(y[i] - x[i])));
        CHECK(worst < 1e-5);
        z = x;
        REQUIRE(q->apply(z).ok());  // orthonormal: the length is kept
        for (std::size_t i = 0; i < n; ++i) {
            norm_x += static_cast<double>(x[i]) * x[i];
            norm_qx += static_cast<double>(z[i]) * z[i];
        }
        CHECK(norm_qx == doctest::Approx(norm_x).epsilon(1e-5));
    }
}

TEST_CASE("hadamard_rotation: 5632 = 11 x 512 mixes within each block of 512 only, and inverts") {
    auto q = hadamard_rotation::make(5632, 9);
    REQUIRE(q.ok());
    REQUIRE(q->block() == 512);
    for (std::size_t j : {0u, 511u, 512u, 3000u, 5631u}) {
        CAPTURE(j);
        std::vector<float> e(5632, 0.0f);
        e[j] = 1.0f;
        REQUIRE(q->apply(e).ok());
        const std::size_t b0 = j / 512 * 512;
        for (std::size_t i = 0; i < e.size(); ++i) {
            const bool inside = i >= b0 && i < b0 + 512;
            // inside: +-1/sqrt(512) with the sign of s_j times H's entry; outside: 0
            REQUIRE(std::fabs(e[i]) == doctest::Approx(inside ? 1.0 / std::sqrt(512.0) : 0.0));
        }
    }
    const std::vector<float> x = random_vector(5632, 5);
    std::vector<float> y = x;
    REQUIRE(q->apply(y).ok());
    REQUIRE(q->apply_transpose(y).ok());
    for (std::size_t i = 0; i < x.size(); ++i) REQUIRE(y[i] == doctest::Approx(x[i]).epsilon(1e-5).scale(1.0));
}

TEST_CASE("hadamard_rotation: rows and columns of a matrix, against one vector at a time") {
    const std::size_t n = 24, other = 5;  // blocks of 8, or 16 + 8
    for (const hadamard_blocks split : {hadamard_blocks::equal, hadamard_blocks::binary})
    for (bool transpose : {false, true}) {
        auto q = hadamard_rotation::make(n, 3, split);
        REQUIRE(q.ok());
        CAPTURE(transpose);
        CAPTURE(static_cast<int>(split));
        // rows: other x n, each row rotated
        std::vector<float> m = random_vector(other * n, 11), want = m;
        REQUIRE(q->apply_rows(m, other, transpose).ok());
        for (std::size_t r = 0; r < other; ++r) {
            std::vector<float> row(want.begin() + r * n, want.begin() + (r + 1) * n);
            REQUIRE((transpose ? q->apply_transpose(row) : q->apply(row)).ok());
            for (std::size_t i = 0; i < n; ++i) REQUIRE(m[r * n + i] == doctest::Approx(row[i]).epsilon(1e-6).scale(1.0));
        }
        // columns: n x other, each column rotated
        std::vector<float> c = random_vector(n * other, 12), cwant = c;
        REQUIRE(q->apply_columns(c, other, transpose).ok());
        for (std::size_t j = 0; j < other; ++j) {
            std::vector<float> col(n);
            for (std::size_t i = 0; i < n; ++i) col[i] = cwant[i * other + j];
            REQUIRE((transpose ? q->apply_transpose(col) : q->apply(col)).ok());
            for (std::size_t i = 0; i < n; ++i) REQUIRE(c[i * other + j] == doctest::Approx(col[i]).epsilon(1e-6).scale(1.0));
        }
    }
}

TEST_CASE("hadamard_rotation: a seed gives one sign vector; another seed another") {
    auto a = hadamard_rotation::make(256, 1), b = hadamard_rotation::make(256, 1), c = hadamard_rotation::make(256, 2);
    REQUIRE((a.ok() && b.ok() && c.ok()));
    CHECK(a->signs() == b->signs());
    CHECK(a->signs() != c->signs());
    int neg = 0;
    for (float s : a->signs()) {
        REQUIRE((s == 1.0f || s == -1.0f));
        neg += s < 0;
    }
    CHECK(neg > 64);  // about half: 128 expected, 64 is 8 standard deviations away
    CHECK(neg < 192);
}

// The signs are the standard engine's draws (bit 63 of each), drawn without
// <random> in the header: checked against std::mt19937_64 over several of its
// 312-word state refills, for seeds at the ends of the range.
TEST_CASE("hadamard_rotation: signs are bit 63 of std::mt19937_64's draws") {
    for (std::uint64_t seed : {0ull, 1ull, 5489ull, 0x0123456789abcdefull, ~0ull}) {
        auto q = hadamard_rotation::make(2000, seed);
        REQUIRE(q.ok());
        std::mt19937_64 gen(seed);
        std::size_t same = 0;
        for (float s : q->signs()) same += s == ((gen() >> 63) ? -1.0f : 1.0f);
        CHECK(same == 2000);
    }
}

// The single-vector transform (the radix-4 first step, then four butterflies
// at a time) against the plain passes: the same additions, the same bits.
// The branch-free finite check finds a NaN or an Inf in any lane and in the tail.
// Every arch this CPU runs (the x86 copies of quant/detail/x86/fwht_x86.hpp:
// AVX2 from n = 8, AVX-512 from n = 16; the portable one elsewhere).
TEST_CASE("hadamard: the single-vector transform equals the plain passes bit for bit; the finite check sees every position") {
    for (arch a : lowbit_test::runnable_archs()) {
        lowbit_test::arch_scope scope(a);
        for (std::size_t n = 1; n <= 32768; n *= 2) {
            CAPTURE(arch_name(a));
            CAPTURE(n);
            std::vector<float> x = random_vector(n, 31u + static_cast<unsigned>(n));
            x[0] = 1e30f;  // magnitudes far apart: a reordered sum would show in the low bits
            if (n > 1) x[n - 1] = -3e-30f;
            if (n > 8) x[n / 2 + 3] = -7e25f, x[n / 4 + 1] = 2e-38f;
            std::vector<float> y = x;
            detail::fwht_unnormalized(x.data(), n, 1);
            detail::fwht_vector(y.data(), n);
            REQUIRE(std::memcmp(x.data(), y.data(), n * sizeof(float)) == 0);
        }
    }
    // (x86: multiples of 16 and of 8 take the AVX-512 / AVX2 copy, the rest the portable one)
    for (arch a : lowbit_test::runnable_archs()) {
        lowbit_test::arch_scope scope(a);
        CAPTURE(arch_name(a));
        for (std::size_t n : {1u, 3u, 4u, 7u, 8u, 13u, 16u, 24u, 48u}) {
            std::vector<float> x = random_vector(n, 5);
            CHECK(detail::all_finite(x.data(), n));
            for (std::size_t i = 0; i < n; ++i)
                for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                                  -std::numeric_limits<float>::infinity()}) {
                    CAPTURE(n);
                    CAPTURE(i);
                    std::vector<float> z = x;
                    z[i] = bad;
                    CHECK_FALSE(detail::all_finite(z.data(), n));
                }
            x[0] = std::numeric_limits<float>::max();
            x[n - 1] = std::numeric_limits<float>::denorm_min();
            CHECK(detail::all_finite(x.data(), n));
        }
    }
}

TEST_CASE("hadamard: bad input gets a clear error and leaves the data untouched") {
    std::vector<float> empty;
    CHECK(fwht(empty).code() == errc::shape_mismatch);
    std::vector<float> six(6, 1.0f);
    const status s6 = fwht(six);
    CHECK(s6.code() == errc::shape_mismatch);
    CHECK(std::string(s6.message()).find("power of two") != std::string::npos);
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
        std::vector<float> x = {1, 2, bad, 4};
        const std::vector<float> before = x;
        const status s = fwht(x);
        CHECK(s.code() == errc::non_finite);
        CHECK(std::string(s.message()).find("x[2]") != std::string::npos);
        CHECK(x[0] == before[0]);
        CHECK(x[3] == before[3]);
    }
    CHECK(hadamard_rotation::make(0, 1).error().code() == errc::shape_mismatch);
    auto q = hadamard_rotation::make(12, 1);
    REQUIRE(q.ok());
    std::vector<float> wrong(11, 1.0f);
    CHECK(q->apply(wrong).code() == errc::shape_mismatch);
    CHECK(q->apply_rows(wrong, 1).code() == errc::shape_mismatch);
    std::vector<float> m(24, 1.0f);
    CHECK(q->apply_columns(m, 3).code() == errc::shape_mismatch);  // 12 x 3 is 36 values
    CHECK(q->apply_rows(m, 0).code() == errc::shape_mismatch);
    CHECK(q->apply_rows(m, std::numeric_limits<std::size_t>::max()).code() == errc::shape_mismatch);  // 12 x that overflows
    m[13] = std::numeric_limits<float>::quiet_NaN();
    const std::vector<float> before = m;
    CHECK(q->apply_rows(m, 2).code() == errc::non_finite);
    for (std::size_t i = 0; i < m.size(); ++i)
        if (i != 13) REQUIRE(m[i] == before[i]);
    hadamard_rotation unbuilt;
    std::vector<float> one(1, 1.0f);
    CHECK(unbuilt.apply(one).code() == errc::invalid_argument);
}

// The whole rotation (signs, blocks, norms, the transpose too) gives the same
// bits on every arch: the x86 copies do the sign and scale passes at their own
// width (detail::rotate_block), the portable ones four floats at a time.
TEST_CASE("hadamard: apply and apply_transpose give the same bits on every arch") {
    for (std::size_t n : {4u, 12u, 96u, 172u, 2048u, 5632u})
        for (hadamard_blocks split : {hadamard_blocks::equal, hadamard_blocks::binary})
            for (bool transpose : {false, true}) {
                CAPTURE(n);
                CAPTURE(static_cast<int>(split));
                CAPTURE(transpose);
                auto q = hadamard_rotation::make(n, 7 + n, split);
                REQUIRE(q.ok());
                std::vector<float> x = random_vector(3 * n, 77u + static_cast<unsigned>(n));
                x[1] = 3e35f, x[n + 2] = -1e-35f;
                std::vector<float> want = x;
                {
                    lowbit_test::arch_scope scope(arch::scalar);
                    REQUIRE(q->apply_rows(span<float>(want), 3, transpose).ok());
                }
                for (arch a : lowbit_test::runnable_archs()) {
                    CAPTURE(arch_name(a));
                    lowbit_test::arch_scope scope(a);
                    std::vector<float> y = x;
                    REQUIRE(q->apply_rows(span<float>(y), 3, transpose).ok());
                    REQUIRE(std::memcmp(y.data(), want.data(), y.size() * sizeof(float)) == 0);
                }
            }
}

// apply_to (out = Q x, x untouched) against copy + apply() on the scalar arch
// (the portable passes), bit for bit, on every arch: each n from 1 to 300
// (every block size below the AVX-512 width and every odd tail of the binary
// split), the powers of two to 32768 and LLaMA-like widths, both splits, both
// directions. Adversarial values: magnitudes 1e30 apart (a reordered sum
// shows in the low bits), subnormals, and sums that overflow to Inf.
TEST_CASE("hadamard: apply_to equals copy + apply bit for bit on every arch") {
    std::vector<std::size_t> sizes;
    for (std::size_t n = 1; n <= 300; ++n) sizes.push_back(n);
    for (std::size_t n = 512; n <= 32768; n *= 2) sizes.push_back(n);
    for (std::size_t n : {1536u, 2816u, 5632u, 11008u}) sizes.push_back(n);
    for (const std::size_t n : sizes)
        for (hadamard_blocks split : {hadamard_blocks::equal, hadamard_blocks::binary})
            for (bool transpose : {false, true}) {
                CAPTURE(n);
                CAPTURE(static_cast<int>(split));
                CAPTURE(transpose);
                auto q = hadamard_rotation::make(n, 3 + n, split);
                REQUIRE(q.ok());
                std::vector<float> x = random_vector(n, 500u + static_cast<unsigned>(n));
                x[0] = 1e30f;
                if (n > 2) x[n - 1] = -3e-30f, x[n / 2] = 1e-42f;  // a subnormal
                if (n > 40) x[n / 3] = 3e38f, x[n / 3 + 1] = 3e38f;  // their sums overflow
                std::vector<float> want = x;
                {
                    lowbit_test::arch_scope scope(arch::scalar);
                    REQUIRE((transpose ? q->apply_transpose(span<float>(want)) : q->apply(span<float>(want))).ok());
                }
                for (arch a : lowbit_test::runnable_archs()) {
                    CAPTURE(arch_name(a));
                    lowbit_test::arch_scope scope(a);
                    const std::vector<float> before = x;
                    std::vector<float> out(n, -7.0f);
                    REQUIRE(q->apply_to(span<const float>(x), span<float>(out), transpose).ok());
                    REQUIRE(std::memcmp(out.data(), want.data(), n * sizeof(float)) == 0);
                    REQUIRE(std::memcmp(x.data(), before.data(), n * sizeof(float)) == 0);  // x is never written
                    std::vector<float> same = x;  // out == x: in place, apply()'s bits
                    REQUIRE(q->apply_to(span<const float>(same), span<float>(same), transpose).ok());
                    REQUIRE(std::memcmp(same.data(), want.data(), n * sizeof(float)) == 0);
                }
            }
}

// A NaN or Inf anywhere in x: apply()'s error (errc::non_finite naming the
// first bad index), x untouched, on every arch; shapes, overlap, unbuilt.
TEST_CASE("hadamard: apply_to refuses non-finite input, wrong shapes and overlap") {
    for (arch a : lowbit_test::runnable_archs()) {
        lowbit_test::arch_scope scope(a);
        CAPTURE(arch_name(a));
        for (std::size_t n : {1u, 5u, 8u, 16u, 24u, 96u, 172u, 2048u})
            for (hadamard_blocks split : {hadamard_blocks::equal, hadamard_blocks::binary}) {
                auto q = hadamard_rotation::make(n, 9, split);
                REQUIRE(q.ok());
                const std::vector<float> x = random_vector(n, 41);
                for (std::size_t i : {std::size_t(0), n / 2, n - 1})
                    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                                      -std::numeric_limits<float>::infinity()}) {
                        CAPTURE(n);
                        CAPTURE(i);
                        std::vector<float> z = x, out(n);
                        z[i] = bad;
                        const std::vector<float> before = z;
                        const status s = q->apply_to(span<const float>(z), span<float>(out));
                        CHECK(s.code() == errc::non_finite);
                        CHECK(std::string(s.message()).find("x[" + std::to_string(i) + "]") != std::string::npos);
                        CHECK(std::memcmp(z.data(), before.data(), n * sizeof(float)) == 0);
                        const status in_place = q->apply_to(span<const float>(z), span<float>(z));  // out == x: x untouched too
                        CHECK(in_place.code() == errc::non_finite);
                        CHECK(std::memcmp(z.data(), before.data(), n * sizeof(float)) == 0);
                    }
            }
    }
    auto q = hadamard_rotation::make(64, 1);
    REQUIRE(q.ok());
    std::vector<float> buf(130, 1.0f);
    CHECK(q->apply_to(span<const float>(buf.data(), 63), span<float>(buf.data() + 64, 64)).code() == errc::shape_mismatch);
    CHECK(q->apply_to(span<const float>(buf.data(), 64), span<float>(buf.data() + 64, 65)).code() == errc::shape_mismatch);
    CHECK(q->apply_to(span<const float>(buf.data(), 64), span<float>(buf.data() + 32, 64)).code() == errc::invalid_argument);  // overlap
    CHECK(q->apply_to(span<const float>(nullptr, 64), span<float>(buf.data(), 64)).code() == errc::invalid_argument);
    hadamard_rotation unbuilt;
    CHECK(unbuilt.apply_to(span<const float>(buf.data(), 1), span<float>(buf.data() + 1, 1)).code() == errc::invalid_argument);
}
