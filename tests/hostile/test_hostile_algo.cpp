// Hostile input, algorithm family: GPTQ (hessian, quantize), AWQ, SmoothQuant,
// HQQ. (GPTQ's own bad-calibration test is in test_algo.cpp; this adds nulls,
// strides, misalignment, non-finite and degenerate inputs for every entry.)
// docs/reliability.md.
#include <cmath>
#include <cstring>
#include <vector>

#include <lowbit/algo.hpp>
#include <lowbit/lowbit.hpp>

#include "hostile_util.hpp"
#include "test_util.hpp"

using namespace lowbit;
using namespace hostile;

namespace {
using Sg = scheme<4, per_group<32>, symmetric, scale_f16>;
using Sa = scheme<4, per_group<32>, asymmetric, scale_f16>;
}  // namespace

TEST_CASE("hostile algo: hessian accumulation refuses bad batches and leaves H unchanged") {
    const std::size_t K = 64;
    hessian h(K);
    auto x = lowbit_test::gaussian(16 * K, 1);
    REQUIRE(h.add_batch(matrix_view<const float>(x.data(), 16, K)).ok());
    const std::vector<float> before(h.matrix().data(), h.matrix().data() + K * K);
    const double n_before = h.samples();
    auto unchanged = [&] { return h.samples() == n_before && std::memcmp(before.data(), h.matrix().data(), K * K * 4) == 0; };
    for (float bad : non_finite_values()) {
        x[5 * K + 9] = bad;
        CHECK(says(h.add_batch(matrix_view<const float>(x.data(), 16, K)), "x(5, 9)"));
    }
    x[5 * K + 9] = 0.0f;
    CHECK(h.add_batch(matrix_view<const float>(x.data(), 16, K - 1)).code() == errc::shape_mismatch);
    CHECK(says(h.add_batch(matrix_view<const float>(x.data(), 0, K)), "no rows"));
    CHECK(says(h.add_batch(matrix_view<const float>(nullptr, 4, K)), "null"));
    CHECK(says(h.add_batch(matrix_view<const float>(x.data(), 4, K, 8)), "stride"));
    sentinel mis(4 * K * 4, 1);
    CHECK(says(h.add_batch(matrix_view<const float>(mis.as<const float>(), 4, K)), "aligned"));
    for (double s : {0.0, std::nan("")})  // (negative means: one sample per row)
        CHECK(says(h.add_batch(matrix_view<const float>(x.data(), 4, K), serial_executor{}, s), "samples"));
    CHECK(says(h.add_batch(matrix_view<const float>(x.data(), 2, K, SIZE_MAX / 2)), "address space"));
    // finite batches that would overflow the f32 H: |x| = 1e20 (x x^T = 1e40), and a tiny sample count
    // (H += 2/n X^T X with n = 1e-38); both used to leave Inf in H and return OK
    std::vector<float> big(4 * K, 1e20f);
    CHECK(says(h.add_batch(matrix_view<const float>(big.data(), 4, K)), "overflow the f32 hessian"));
    hessian fresh(K);
    CHECK(says(fresh.add_batch(matrix_view<const float>(x.data(), 4, K), serial_executor{}, 1e-38), "overflow the f32 hessian"));
    CHECK(fresh.samples() == 0.0);
    CHECK(unchanged());
    // large but representable: accepted and finite
    std::vector<float> large(4 * K, 1e15f);
    hessian ok(K);
    REQUIRE(ok.add_batch(matrix_view<const float>(large.data(), 4, K)).ok());
    for (std::size_t i = 0; i < K * K; ++i) REQUIRE(std::isfinite(ok.matrix().data()[i]));
    // a Hessian given directly
    std::vector<float> H(K * K, 0.0f);
    for (std::size_t i = 0; i < K; ++i) H[i * K + i] = 1.0f;
    CHECK(hessian::from_matrix(matrix_view<const float>(H.data(), K, K), 10.0));
    CHECK(says(hessian::from_matrix(matrix_view<const float>(nullptr, K, K), 10.0).error(), "null"));
    CHECK(hessian::from_matrix(matrix_view<const float>(H.data(), K, K - 1), 10.0).error().code() == errc::shape_mismatch);
    CHECK(says(hessian::from_matrix(matrix_view<const float>(H.data(), K, K), std::nan("")).error(), "samples"));
    H[3] = inf_();
    CHECK(hessian::from_matrix(matrix_view<const float>(H.data(), K, K), 10.0).error().code() == errc::non_finite);
}

TEST_CASE("hostile algo: GPTQ on hostile weights, Hessians and options") {
    const std::size_t N = 16, K = 64;
    auto w = lowbit_test::gaussian(N * K, 2);
    auto x = lowbit_test::gaussian(128 * K, 3);
    hessian h(K);
    REQUIRE(h.add_batch(matrix_view<const float>(x.data(), 128, K)).ok());
    const matrix_view<const float> wv(w.data(), N, K);
    for (float bad : non_finite_values()) {
        w[40] = bad;
        CHECK(says(gptq_quantize<Sg>(wv, h).error(), "w(0, 40)"));
    }
    w[40] = 0.1f;
    CHECK(says(gptq_quantize<Sg>(matrix_view<const float>(nullptr, N, K), h).error(), "null"));
    CHECK(says(gptq_quantize<Sg>(matrix_view<const float>(w.data(), N, K, 10), h).error(), "stride"));
    CHECK(gptq_quantize<Sg>(matrix_view<const float>(w.data(), N, K - 1), h).error().code() == errc::shape_mismatch);
    CHECK(says(gptq_quantize<Sg>(wv, hessian(K)).error(), "samples"));  // nothing accumulated
    gptq_options o;
    o.percdamp = nan_();
    CHECK(says(gptq_quantize<Sg>(wv, h, o).error(), "percdamp"));
    o = {};
    o.block_size = 0;
    CHECK(says(gptq_quantize<Sg>(wv, h, o).error(), "block_size"));
    o = {};
    o.group = 0;
    CHECK(says(gptq_quantize<scheme<4, per_group_dynamic>>(wv, h, o).error(), "group"));
    CHECK(gptq_quantize<scheme<4, per_tensor>>(wv, h).error().code() == errc::unsupported);
    // an all-zero calibration set: nothing to fit, said so
    std::vector<float> zx(8 * K, 0.0f);
    hessian hz(K);
    REQUIRE(hz.add_batch(matrix_view<const float>(zx.data(), 8, K)).ok());
    CHECK(says(gptq_quantize<Sa>(wv, hz).error(), "hessian is zero"));
    // half the inputs dead, and denormal weights: finite codes, no NaN scales
    for (std::size_t t = 0; t < 128; ++t)
        for (std::size_t c = 0; c < K; c += 2) x[t * K + c] = 0.0f;
    hessian hd(K);
    REQUIRE(hd.add_batch(matrix_view<const float>(x.data(), 128, K)).ok());
    for (auto& v : w) v *= 1e-40f;
    auto q = gptq_quantize<Sa>(wv, hd);
    if (!q) FAIL(std::string(q.error().message()));
    for (std::size_t r = 0; r < N; ++r)
        for (std::size_t c = 0; c < K; ++c) CHECK(std::isfinite(q->q.view().value(r, c)));
    CHECK(q->report.dead_columns == K / 2);
}

TEST_CASE("hostile algo: AWQ, HQQ and SmoothQuant on hostile input") {
    const std::size_t N = 8, K = 64;
    auto w = lowbit_test::gaussian(N * K, 4);
    auto x = lowbit_test::gaussian(32 * K, 5);
    const matrix_view<const float> wv(w.data(), N, K), xv(x.data(), 32, K);
    // AWQ
    CHECK(says(awq_quantize<Sa>(wv, matrix_view<const float>(nullptr, 32, K)).error(), "null"));
    CHECK(says(awq_quantize<Sa>(wv, matrix_view<const float>(x.data(), 32, K, 3)).error(), "stride"));
    CHECK(awq_quantize<Sa>(wv, matrix_view<const float>(x.data(), 32, K - 1)).error().code() == errc::shape_mismatch);
    std::vector<float> zx(4 * K, 0.0f);
    CHECK(says(awq_quantize<Sa>(wv, matrix_view<const float>(zx.data(), 4, K)).error(), "all zero"));
    x[70] = nan_();
    CHECK(says(awq_quantize<Sa>(wv, xv).error(), "x(1, 6)"));
    x[70] = 0.0f;
    w[3] = -inf_();
    CHECK(awq_quantize<Sa>(wv, xv).error().code() == errc::non_finite);
    // HQQ: through quantize's checks
    CHECK(hqq_quantize<Sa>(wv).error().code() == errc::non_finite);
    w[3] = 0.0f;
    hqq_options ho;
    ho.p = nan_();
    CHECK(says(hqq_quantize<Sa>(wv, ho).error(), "hqq options"));
    CHECK(hqq_quantize<Sg>(wv).error().code() == errc::unsupported);
    for (auto& v : w) v *= 1e-41f;  // denormal weights: a valid, finite result
    auto hq = hqq_quantize<Sa>(wv);
    REQUIRE(hq);
    for (std::size_t r = 0; r < N; ++r)
        for (std::size_t c = 0; c < K; ++c) CHECK(std::isfinite(hq->q.view().value(r, c)));
    // SmoothQuant
    std::vector<float> am(K, 1.0f);
    CHECK(smoothquant_scales(span<const float>(am), wv));
    am[9] = -1.0f;
    CHECK(says(smoothquant_scales(span<const float>(am), wv).error(), "act_absmax[9]"));
    am[9] = inf_();
    CHECK(smoothquant_scales(span<const float>(am), wv).error().code() == errc::non_finite);
    CHECK(says(smoothquant_scales(span<const float>(nullptr, K), wv).error(), "null"));
    CHECK(smoothquant_scales(span<const float>(am.data(), K - 1), wv).error().code() == errc::shape_mismatch);
    CHECK(says(smoothquant_scales(span<const float>(am), wv, nan_()).error(), "alpha"));
    CHECK(says(quantize_per_token_int8(matrix_view<const float>(nullptr, 2, K)).error(), "null"));
    CHECK(quantize_per_token_int8(xv));
    x[0] = inf_();
    CHECK(quantize_per_token_int8(xv).error().code() == errc::non_finite);
    x[0] = 0.0f;
    auto q8 = quantize_per_token_int8(xv);
    REQUIRE(q8);
    sentinel out(32 * K * 4);
    CHECK(dequantize_per_token_int8(*q8, matrix_view<float>(out.as<float>(), 32, K - 1)).code() == errc::shape_mismatch);
    CHECK(says(dequantize_per_token_int8(*q8, matrix_view<float>(nullptr, 32, K)), "null"));
    int8_rows broken = *q8;
    broken.codes.resize(5);
    CHECK(dequantize_per_token_int8(broken, matrix_view<float>(out.as<float>(), 32, K)).code() == errc::shape_mismatch);
    CHECK(out.untouched());
}

// Issue 14, item 9: enum options of GPTQ (group_source, calib.kind) outside their enums are refused.
TEST_CASE("hostile algo: GPTQ refuses out-of-range enum options") {
    const std::size_t N = 4, K = 64;
    const auto w = lowbit_test::gaussian(N * K, 31);
    const auto x = lowbit_test::gaussian(32 * K, 32);
    hessian h(K);
    REQUIRE(h.add_batch(matrix_view<const float>(x.data(), 32, K)).ok());
    const matrix_view<const float> wv(w.data(), N, K);
    REQUIRE(gptq_quantize<Sg>(wv, h));
    gptq_options o;
    o.group_source = static_cast<gptq_group_source>(2);
    CHECK(says(gptq_quantize<Sg>(wv, h, o).error(), "options.group_source = 2"));
    o = {};
    o.calib.kind = static_cast<calibration::method>(9);
    CHECK(says(gptq_quantize<Sg>(wv, h, o).error(), "calibration.kind = 9"));
}

// Session 36 audit: the public linalg routines took their operands unchecked (a null x was loaded by the
// register tile, an output overlapping an input was read after being written, a short stride read
// overlapping rows).
TEST_CASE("hostile algo: linalg refuses null, short-stride and overlapping operands") {
    std::vector<float> x(2 * 64, 1.0f), w(8 * 64, 0.5f);
    sentinel y(2 * 8 * 4);
    const matrix_view<float> yv(y.as<float>(), 2, 8);
    const matrix_view<const float> wv(w.data(), 8, 64);
    CHECK(says(linalg::matmul_nt(matrix_view<const float>(nullptr, 2, 64), wv, yv), "x is null"));
    CHECK(says(linalg::matmul_nt(matrix_view<const float>(x.data(), 2, 64, 32), wv, yv), "stride"));
    CHECK(says(linalg::matmul_nt(matrix_view<const float>(x.data(), 2, 64), wv, matrix_view<float>(y.as<float>(), 2, 8, SIZE_MAX / 2)),
               "address space"));
    CHECK(y.untouched());
    CHECK(says(linalg::matmul_nt(matrix_view<const float>(x.data(), 2, 64), wv, matrix_view<float>(x.data() + 4, 2, 8)), "y overlaps x"));
    std::vector<float> h(64 * 64, 0.0f);
    CHECK(says(linalg::syrk_upper(matrix_view<const float>(h.data(), 2, 64), 1.0f, matrix_view<float>(h.data(), 64, 64)), "h overlaps x"));
    std::vector<double> a(16, 1.0), work;
    CHECK(says(linalg::cholesky_lower(matrix_view<double>(a.data(), 4, 4, 2)), "stride"));
    CHECK(says(linalg::tri_inverse_lower(matrix_view<double>(nullptr, 4, 4)), "l is null"));
    std::vector<float> u(16);
    CHECK(says(linalg::inverse_cholesky_upper(matrix_view<const float>(nullptr, 4, 4), 0.0, matrix_view<float>(u.data(), 4, 4), work), "h is null"));
    CHECK(says(linalg::inverse_cholesky_upper(matrix_view<const float>(u.data(), 4, 4), 0.0, matrix_view<float>(u.data(), 4, 4), work),
               "u overlaps h"));
}
