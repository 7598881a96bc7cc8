// Codebook weights (formats/codebook.hpp, issue 20 item 2): grids, the block
// quantizer, the learned grid, and the int8 kernels of every arch against the
// scalar model (bit for bit) and against a double-precision reference. Part of
// the test_gguf_matmul binary (header-only kernels, like the ggml types').
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <lowbit/formats/codebook_matmul.hpp>

#include "test_archs.hpp"
#include "test_codebook_common.hpp"
#include "test_util.hpp"

namespace {

using namespace lowbit;
using lowbit_test::arch_scope;
namespace cb = lowbit::codebook;
using namespace lowbit_test::cb_helpers;

// codebook::gemv / gemm on the codebook layout's entries alone: the front
// doors take tiled codebook weights too, so in this header-only binary they
// would compile the tiled codebook family as well (33 CPU-s under clang ASan
// -O1); test_codebook_tiled.cpp (test_kernels_tiled, with lowbit::compiled)
// checks the front doors on both layouts.
template <class Exec = serial_executor>
status cb_gemv(const weights_view& w, span<const float> x, span<float> y, Exec&& exec = Exec{}, const matmul_options& o = {}) {
    matmul_workspace ws;
    return lowbit::detail::family_gemv(cb::detail::codebook_layout_family(w.scheme().bits), w, x, y, exec, o, ws);
}
template <class Exec = serial_executor>
status cb_gemm(const weights_view& w, matrix_view<const float> x, matrix_view<float> y, Exec&& exec = Exec{}, const matmul_options& o = {}) {
    matmul_workspace ws;
    return lowbit::detail::family_gemm(cb::detail::codebook_layout_family(w.scheme().bits), w, x, y, exec, o, ws);
}

}  // namespace

TEST_CASE("codebook: grids are checked") {
    CHECK(cb::validate(cb::nf_grid(4)).ok());
    CHECK(cb::validate(cb::nf_grid(3)).ok());
    for (const cb::grid& g : test_grids()) CHECK(cb::validate(g).ok());
    cb::grid g = cb::nf_grid(4);
    g.levels[0] = -128;
    CHECK(cb::validate(g).code() == errc::invalid_argument);
    g = cb::nf_grid(4);
    g.levels[5] = g.levels[4];
    CHECK(cb::validate(g).code() == errc::invalid_argument);
    g = cb::nf_grid(3);
    g.levels[9] = 1;
    CHECK(cb::validate(g).code() == errc::invalid_argument);
    g.bits = 5;
    CHECK(cb::validate(g).code() == errc::unsupported);
}

TEST_CASE("codebook: quantize picks the nearest level for each block's scale, and dequantize gives d * level") {
    const std::size_t n = 7, k = 96;
    const std::vector<float> x = adversarial(n, k, 11u);
    const std::vector<float> imp = [&] {
        std::vector<float> v = lowbit_test::gaussian(k, 4u);
        for (auto& e : v) e = e * e;
        v[3] = 0.0f;
        return v;
    }();
    for (const cb::grid& g : test_grids())
        for (const float* importance : {static_cast<const float*>(nullptr), imp.data()}) {
            auto w = cb::quantize(matrix_view<const float>(x.data(), n, k), g, importance);
            REQUIRE(w);
            const weights_view v = w->view();
            CHECK(v.lay() == layout::codebook);
            CHECK(v.code_bytes() == n * k / 32 * codebook_block_bytes(g.bits));
            std::vector<float> y(n * k);
            REQUIRE(cb::dequantize(v, matrix_view<float>(y.data(), n, k)).ok());
            for (std::size_t r = 0; r < n; ++r)
                for (std::size_t c = 0; c < k; ++c) {
                    const float got = y[r * k + c];
                    REQUIRE(got == weight_at(v, r, c));
                    // nearest level for the block's scale d (d = got / level when level != 0)
                    std::uint16_t dh;
                    std::memcpy(&dh, v.codes() + r * v.row_bytes() + (c / 32) * codebook_block_bytes(g.bits), 2);
                    const double d = f16_to_f32(dh);
                    for (int i = 0; i < g.size(); ++i)
                        CHECK(std::fabs(x[r * k + c] - got) <= std::fabs(x[r * k + c] - d * g.levels[i]) * (1 + 1e-6) + 1e-30);
                }
            // zero rows stay zero; a constant row is reproduced to f16's precision
            for (std::size_t c = 0; c < k; ++c) CHECK(y[1 * k + c] == 0.0f);
            if (g.bits == 4 && g.levels[0] == -127 && g.levels[15] == 127)
                for (std::size_t c = 0; c < k; ++c) CHECK(y[5 * k + c] == doctest::Approx(-0.75).epsilon(2e-3));
        }
}

TEST_CASE("codebook: quantization error of Gaussian weights is that of a 3- / 4-bit grid") {
    const std::size_t n = 16, k = 256;
    const std::vector<float> x = lowbit_test::gaussian(n * k, 3u);
    double ss = 0;
    for (float v : x) ss += static_cast<double>(v) * v;
    for (int bits : {3, 4}) {
        auto w = cb::quantize(matrix_view<const float>(x.data(), n, k), cb::nf_grid(bits));
        REQUIRE(w);
        auto e = cb::weighted_error(matrix_view<const float>(x.data(), n, k), w->view());
        REQUIRE(e);
        const double rel = std::sqrt(*e / ss);
        CAPTURE(bits);
        CAPTURE(rel);
        CHECK(rel < (bits == 4 ? 0.10 : 0.20));
        CHECK(rel > (bits == 4 ? 0.04 : 0.08));  // not a lossless stub
    }
}

TEST_CASE("codebook: k-means lowers its objective and is never worse than the NF grid it starts from") {
    const std::size_t n = 24, k = 128;
    std::mt19937 rng(9);
    std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
    std::vector<float> uniform(n * k);
    for (auto& v : uniform) v = uni(rng);
    std::vector<float> laplace = lowbit_test::gaussian(n * k, 5u);
    for (auto& v : laplace) v = v * std::fabs(v);  // heavier tails than Gaussian
    const std::vector<float> llm = lowbit_test::llm_like(n, k, 6u);
    std::vector<float> imp(k);
    for (std::size_t c = 0; c < k; ++c) imp[c] = 0.1f + static_cast<float>(c % 7);
    for (const std::vector<float>* x : std::vector<const std::vector<float>*>{&uniform, &laplace, &llm})
        for (int bits : {3, 4})
            for (const float* importance : {static_cast<const float*>(nullptr), static_cast<const float*>(imp.data())}) {
                const matrix_view<const float> xv(x->data(), n, k);
                cb::learn_report rep;
                auto g = cb::learn_grid(xv, bits, importance, &rep);
                REQUIRE(g);
                CHECK(cb::validate(*g).ok());
                CHECK(g->bits == bits);
                CHECK(rep.iterations >= 1);
                CHECK(rep.kmeans_final <= rep.kmeans_init);
                auto q = cb::quantize(xv, *g, importance);
                REQUIRE(q);
                auto qn = cb::quantize(xv, cb::nf_grid(bits), importance);
                auto e = cb::weighted_error(xv, q->view(), importance);
                auto en = cb::weighted_error(xv, qn->view(), importance);
                REQUIRE(e);
                REQUIRE(en);
                CHECK(*e <= *en);
                CHECK(*en == doctest::Approx(rep.nf_error));
            }
    // On uniform data the normal-quantile grid is far from optimal: the learned one must win clearly.
    cb::learn_report rep;
    auto g = cb::learn_grid(matrix_view<const float>(uniform.data(), n, k), 4, nullptr, &rep);
    REQUIRE(g);
    CHECK_FALSE(rep.kept_nf);
    CHECK(rep.learned_error < 0.9 * rep.nf_error);
}

TEST_CASE("codebook: bad input gives a status and writes nothing") {
    const std::size_t n = 3, k = 64;
    std::vector<float> x = lowbit_test::gaussian(n * k, 2u);
    const matrix_view<const float> xv(x.data(), n, k);
    CHECK(cb::quantize(matrix_view<const float>(x.data(), n, 48), cb::nf_grid(4)).error().code() == errc::invalid_argument);
    CHECK(cb::quantize(matrix_view<const float>(x.data(), 0, k), cb::nf_grid(4)).error().code() == errc::shape_mismatch);
    CHECK(cb::quantize(matrix_view<const float>(nullptr, n, k), cb::nf_grid(4)).error().code() == errc::invalid_argument);
    CHECK(cb::learn_grid(xv, 5).error().code() == errc::unsupported);
    cb::grid bad = cb::nf_grid(4);
    bad.levels[1] = -127;
    CHECK(cb::quantize(xv, bad).error().code() == errc::invalid_argument);
    std::vector<float> imp(k, 1.0f);
    imp[7] = -1.0f;
    CHECK(cb::quantize(xv, cb::nf_grid(4), imp.data()).error().code() == errc::invalid_argument);
    imp[7] = std::numeric_limits<float>::quiet_NaN();
    CHECK(cb::learn_grid(xv, 4, imp.data()).error().code() == errc::invalid_argument);
    for (float v : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
        std::vector<float> y = x;
        y[70] = v;
        const matrix_view<const float> yv(y.data(), n, k);
        CHECK(cb::quantize(yv, cb::nf_grid(3)).error().code() == errc::invalid_argument);
        CHECK(cb::learn_grid(yv, 3).error().code() == errc::invalid_argument);
    }
    {  // a block whose scale cannot be an f16 (|x| > 65504 * 127): an error, not zeros
        std::vector<float> y = x;
        y[100] = 1e8f;
        auto big = cb::quantize(matrix_view<const float>(y.data(), n, k), cb::nf_grid(4));
        REQUIRE_FALSE(big);
        CHECK(big.error().code() == errc::invalid_argument);
        CHECK(std::string(big.error().message()).find("row 1, columns 32..63") != std::string::npos);
        y[100] = 6e6f;  // just inside: d = 6e6 / 127 < 65504
        CHECK(cb::quantize(matrix_view<const float>(y.data(), n, k), cb::nf_grid(4)).ok());
    }
    auto w = cb::quantize(xv, cb::nf_grid(4));
    REQUIRE(w);
    std::vector<float> out(n * k, 5.0f);
    CHECK(cb::dequantize(w->view(), matrix_view<float>(out.data(), n, k - 32)).code() == errc::shape_mismatch);
    // matmul: NaN activations, wrong sizes, the f32 path (there is none): errors, y untouched
    std::vector<float> a = lowbit_test::gaussian(k, 8u), y(n, 5.0f);
    a[33] = std::numeric_limits<float>::infinity();
    CHECK_FALSE(cb_gemv(w->view(), span<const float>(a.data(), k), span<float>(y.data(), n)).ok());
    a[33] = 0.0f;
    CHECK(cb_gemv(w->view(), span<const float>(a.data(), k - 1), span<float>(y.data(), n)).code() == errc::shape_mismatch);
    matmul_options o;
    o.path = matmul_path::dequant_fma;
    CHECK(cb_gemv(w->view(), span<const float>(a.data(), k), span<float>(y.data(), n), serial_executor{}, o).code() == errc::unsupported);
    for (float v : y) CHECK(v == 5.0f);
    // That repack refuses codebook weights (both ways) is checked in test_weights,
    // against lowbit::compiled's repack: this binary is header-only, where a
    // call to repack compiles the packers of every width (30 of this file's 37
    // CPU-s at -O2).
    // a description with a bad grid or shape never becomes a view
    weights_desc d = w->view().desc();
    d.grid[15] = -3;
    CHECK(make_weights(d).error().code() == errc::invalid_argument);
    d = w->view().desc();
    d.cols = 48;
    d.row_bytes = 0;
    CHECK(make_weights(d).error().code() == errc::invalid_argument);
    d = w->view().desc();
    d.scheme.bits = 2;
    CHECK(make_weights(d).error().code() == errc::unsupported);
}

TEST_CASE("codebook gemv/gemm: every arch equals the scalar model bit for bit, which is close to a double reference") {
    const std::size_t ks[] = {32, 96, 256, 288, 544};  // fewer than, exactly and more than 8 blocks, tails of 1..7 blocks
    const std::size_t ns[] = {1, 5, 37};
    const std::size_t M = 7;  // gemm: one register block of four rows and three single rows
    std::uint32_t seed = 1;
    for (const cb::grid& g : test_grids())
        for (std::size_t k : ks)
            for (std::size_t n : ns) {
                CAPTURE(g.bits);
                CAPTURE(int(g.levels[0]));
                CAPTURE(k);
                CAPTURE(n);
                const std::vector<float> w_f = adversarial(n, k, ++seed);
                auto w = cb::quantize(matrix_view<const float>(w_f.data(), n, k), g);
                REQUIRE(w);
                std::vector<float> X = lowbit_test::gaussian(M * k, ++seed, 2.0f);
                X[k + 3] = 1e4f;  // a huge activation in row 1
                std::fill(X.begin() + 2 * static_cast<std::ptrdiff_t>(k), X.begin() + 3 * static_cast<std::ptrdiff_t>(k), 0.0f);  // row 2 zero
                std::vector<float> y_ref(n), Y_ref(M * n);
                {
                    arch_scope s(arch::scalar);
                    REQUIRE(cb_gemv(w->view(), span<const float>(X.data(), k), span<float>(y_ref)).ok());
                    REQUIRE(cb_gemm(w->view(), matrix_view<const float>(X.data(), M, k), matrix_view<float>(Y_ref.data(), M, n)).ok());
                    std::vector<float> y_r(n);
                    matmul_options o;
                    o.path = matmul_path::reference;
                    REQUIRE(cb_gemv(w->view(), span<const float>(X.data(), k), span<float>(y_r), serial_executor{}, o).ok());
                    CHECK(same_bits(y_r, y_ref));
                }
                CHECK(std::memcmp(Y_ref.data(), y_ref.data(), n * sizeof(float)) == 0);  // gemm row 0 = gemv
                // The model against doubles: weights as stored, activations Q8_0-rounded (half a step each).
                for (std::size_t m = 0; m < M; ++m)
                    for (std::size_t r = 0; r < n; ++r) {
                        double ref = 0, mag = 0, step = 0;
                        for (std::size_t b = 0; b < k / 32; ++b) {
                            float amax = 0;
                            for (std::size_t j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(X[m * k + 32 * b + j]));
                            for (std::size_t j = 0; j < 32; ++j) {
                                const double wv = weight_at(w->view(), r, 32 * b + j), xv = X[m * k + 32 * b + j];
                                ref += wv * xv;
                                mag += std::fabs(wv * xv);
                                step += std::fabs(wv) * amax / 254.0;
                            }
                        }
                        CHECK(std::fabs(Y_ref[m * n + r] - ref) <= 1.01 * step + 1e-5 * mag + 1e-30);
                    }
                for (arch a : lowbit_test::runnable_archs()) {
                    const std::string arch_s = arch_name(a);
                    CAPTURE(arch_s);
                    arch_scope s(a);
                    std::vector<float> y(n), Y(M * n);
                    matmul_info info;
                    matmul_options o;
                    o.info = &info;
                    REQUIRE(cb_gemv(w->view(), span<const float>(X.data(), k), span<float>(y), serial_executor{}, o).ok());
                    REQUIRE(cb_gemm(w->view(), matrix_view<const float>(X.data(), M, k), matrix_view<float>(Y.data(), M, n)).ok());
                    CHECK(same_bits(y, y_ref));
                    CHECK(same_bits(Y, Y_ref));
                    const bool own = a != arch::sse2;  // every arch but sse2 has its entry
                    CHECK(info.fell_back == !own);
                    CHECK(std::string(info.kernel).rfind("cb" + std::to_string(g.bits) + "/codebook/i8/", 0) == 0);
                }
            }
}

TEST_CASE("codebook gemm: threads and strided, unaligned activations give the same bits") {
    const std::size_t n = 70, k = 320, M = 5;
    const std::vector<float> w_f = lowbit_test::gaussian(n * k, 21u);
    auto w = cb::quantize(matrix_view<const float>(w_f.data(), n, k), cb::nf_grid(3));
    REQUIRE(w);
    std::vector<float> X(M * (k + 3) + 1);
    const std::vector<float> g = lowbit_test::gaussian(X.size(), 22u);
    X = g;
    const matrix_view<const float> Xv(X.data() + 1, M, k, k + 3);
    std::vector<float> Y1(M * n), Y2(M * (n + 1));
    REQUIRE(cb_gemm(w->view(), Xv, matrix_view<float>(Y1.data(), M, n)).ok());
    thread_pool pool(3);
    REQUIRE(cb_gemm(w->view(), Xv, matrix_view<float>(Y2.data(), M, n, n + 1), pool).ok());
    for (std::size_t m = 0; m < M; ++m)
        for (std::size_t r = 0; r < n; ++r) CHECK(Y1[m * n + r] == Y2[m * (n + 1) + r]);
}
