// QAT layer: fake quantization vs lowbit's quantizer, export exactness, SIMD vs
// scalar, STE/LSQ/PACT gradients vs finite differences and the published
// boundary definitions, observers.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include <lowbit/kernels.hpp>
#include <lowbit/kernels/weights_matmul.hpp>
#include <lowbit/qat.hpp>

using namespace lowbit;

namespace {

struct rng {
    std::uint64_t s;
    explicit rng(std::uint64_t seed) : s(seed) {}
    std::uint32_t next() {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<std::uint32_t>(s >> 33);
    }
    float uniform() { return static_cast<float>(next() >> 8) * (1.0f / 16777216.0f); }  // [0, 1)
    float normal() {
        float a = uniform() + 1e-7f, b = uniform();
        return std::sqrt(-2.0f * std::log(a)) * std::cos(6.2831853f * b);
    }
};

std::vector<float> random_matrix(std::size_t n, std::uint64_t seed, float sigma = 0.05f) {
    rng r(seed);
    std::vector<float> v(n);
    for (auto& x : v) x = sigma * r.normal();
    // A few outliers and exact zeros, as real weights have.
    for (std::size_t i = 0; i < n; i += 97) v[i] *= 6.0f;
    for (std::size_t i = 5; i < n; i += 131) v[i] = 0.0f;
    return v;
}

bool bits_equal(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// The step layout of a scheme for an N x K matrix.
template <class S>
qlayout layout_of(std::size_t n, std::size_t k, int group) {
    const int g = S::static_group ? S::static_group : group;
    return *qlayout::make(S::runtime(g), n, k);
}

constexpr int dyn_group = 24;

}  // namespace

// The parameter grid: bits x granularity x symmetry x scale type.
#define QAT_SCHEMES                                                                                                  \
    scheme<1, per_channel, symmetric, scale_f32>, scheme<2, per_channel, symmetric, scale_f16>,                     \
        scheme<3, per_group<32>, symmetric, scale_bf16>, scheme<4, per_tensor, asymmetric, scale_f16>,              \
        scheme<4, per_group<16>, asymmetric, scale_f32>, scheme<8, per_channel, symmetric, scale_f16>,              \
        scheme<2, per_group_dynamic, asymmetric, scale_bf16>, scheme<5, per_tensor, symmetric, scale_f32>

TEST_CASE_TEMPLATE("fake_quantize with calibrated steps reproduces lowbit::quantize exactly", S, QAT_SCHEMES) {
    const std::size_t N = 37, K = 100;  // K not a multiple of the group: short tail groups
    const auto w = random_matrix(N * K, 1);
    const qlayout l = layout_of<S>(N, K, dyn_group);
    qat::fq_options opt;
    opt.group = dyn_group;
    for (const calibration& c : {calibration(calibrate::minmax{}), calibration(calibrate::mse{})}) {
        std::vector<float> steps(l.n_scales);
        std::vector<std::uint8_t> zeros(l.n_zeros);
        REQUIRE(qat::calibrated_init<S>({w.data(), N, K}, c, steps, zeros, opt).ok());
        std::vector<float> fq(N * K);
        REQUIRE(qat::fake_quantize<S>({w.data(), N, K}, steps, zeros, {fq.data(), N, K}, opt).ok());

        quantize_options qo;
        qo.calib = c;
        qo.group = dyn_group;
        auto q = quantize<S>(matrix_view<const float>(w.data(), N, K), qo);
        REQUIRE(q);
        std::vector<float> deq(N * K);
        REQUIRE(dequantize(*q, matrix_view<float>(deq.data(), N, K)).ok());
        CHECK(bits_equal(fq, deq));
    }
}

TEST_CASE_TEMPLATE("export: dequantize(export(w)) equals fake_quantize(w) bit for bit", S, QAT_SCHEMES) {
    const std::size_t N = 29, K = 75;
    const auto w = random_matrix(N * K, 2);
    const qlayout l = layout_of<S>(N, K, dyn_group);
    qat::fq_options opt;
    opt.group = dyn_group;
    std::vector<float> steps(l.n_scales);
    std::vector<std::uint8_t> zeros(l.n_zeros);
    REQUIRE(qat::lsq_init<S>({w.data(), N, K}, steps, zeros, opt).ok());
    // Learned steps are arbitrary floats, not representable in f16/bf16: perturb them.
    rng r(3);
    for (auto& s : steps) s *= 0.7f + 0.6f * r.uniform();
    std::vector<float> fq(N * K);
    REQUIRE(qat::fake_quantize<S>({w.data(), N, K}, steps, zeros, {fq.data(), N, K}, opt).ok());

    auto q = qat::export_qmatrix<S>({w.data(), N, K}, steps, zeros, dyn_group);
    REQUIRE(q);
    std::vector<float> deq(N * K);
    REQUIRE(dequantize(*q, matrix_view<float>(deq.data(), N, K)).ok());
    CHECK(bits_equal(fq, deq));
    // The stored scales are the steps rounded to the scale type.
    for (std::size_t i = 0; i < steps.size(); ++i) {
        const std::size_t row = S::gran == granularity::per_tensor ? 0 : i / l.groups_per_row;
        CHECK(q->view().scale(row, i % l.groups_per_row) == qat::stored_step<S>(steps[i]));
    }

    // A matmul through the kernels agrees with the float matmul over fake-quantized weights.
    const std::size_t M = 5;
    const auto x = random_matrix(M * K, 4, 1.0f);
    std::vector<float> y(M * N);
#if defined(LOWBIT_COMPILED)
    // Through the run-time front door, whose kernels lowbit::compiled holds: the
    // typed gemm compiled every arch's kernels of eight schemes into this file,
    // twice (test_qat_native at -O3 -march=native), a third of their compile
    // time. The kernel bodies are the kernel tests' to check; here, the export.
    const auto wv = to_weights(q->view());
    REQUIRE(wv);
    REQUIRE(gemm(*wv, matrix_view<const float>(x.data(), M, K), matrix_view<float>(y.data(), M, N)).ok());
#else
    REQUIRE(gemm(*q, matrix_view<const float>(x.data(), M, K), matrix_view<float>(y.data(), M, N)).ok());
#endif
    for (std::size_t m = 0; m < M; ++m)
        for (std::size_t n = 0; n < N; ++n) {
            double ref = 0, mag = 0;
            for (std::size_t k = 0; k < K; ++k) {
                ref += static_cast<double>(fq[n * K + k]) * x[m * K + k];
                mag += std::fabs(static_cast<double>(fq[n * K + k]) * x[m * K + k]);
            }
            CHECK(std::fabs(y[m * N + n] - ref) <= 1e-5 * mag + 1e-12);
        }
}

TEST_CASE_TEMPLATE("SIMD and scalar paths agree (values exactly, step sums to rounding)", S, QAT_SCHEMES) {
    const std::size_t N = 23, K = 131;
    auto w = random_matrix(N * K, 5);
    const qlayout l = layout_of<S>(N, K, dyn_group);
    qat::fq_options opt;
    opt.group = dyn_group;
    std::vector<float> steps(l.n_scales);
    std::vector<std::uint8_t> zeros(l.n_zeros);
    REQUIRE(qat::lsq_init<S>({w.data(), N, K}, steps, zeros, opt).ok());
    // Put some weights exactly on rounding ties and on the clip boundaries.
    for (std::size_t r = 0; r < N; ++r) {
        const std::size_t idx = S::gran == granularity::per_tensor ? 0 : r * l.groups_per_row;
        const float s = qat::stored_step<S>(steps[idx]);
        const float z = S::is_symmetric ? symmetric_zero(S::bits) : static_cast<float>(zeros[idx]);
        w[r * K + 1] = 0.5f * s;
        w[r * K + 2] = -1.5f * s;
        w[r * K + 3] = (static_cast<float>(max_code(S::bits)) - z) * s;
        w[r * K + 4] = (static_cast<float>(min_code(S::bits, S::is_symmetric)) - z) * s;
        w[r * K + 6] = 100.0f * s;
        w[r * K + 7] = -100.0f * s;
    }
    const auto gy = random_matrix(N * K, 6, 1.0f);

    std::vector<float> y_simd(N * K), y_scalar(N * K);
    qat::fq_options so = opt;
    so.path = qat::fq_path::scalar;
    REQUIRE(qat::fake_quantize<S>({w.data(), N, K}, steps, zeros, {y_simd.data(), N, K}, opt).ok());
    REQUIRE(qat::fake_quantize<S>({w.data(), N, K}, steps, zeros, {y_scalar.data(), N, K}, so).ok());
    CHECK(bits_equal(y_simd, y_scalar));

    std::vector<float> gw_simd(N * K), gw_scalar(N * K), gs_simd(l.n_scales), gs_scalar(l.n_scales);
    qat::fq_backward_options bo;
    bo.group = dyn_group;
    qat::fq_backward_options bs = bo;
    bs.path = qat::fq_path::scalar;
    REQUIRE(qat::fake_quantize_backward<S>({w.data(), N, K}, steps, zeros, {gy.data(), N, K}, {gw_simd.data(), N, K}, gs_simd, bo).ok());
    REQUIRE(qat::fake_quantize_backward<S>({w.data(), N, K}, steps, zeros, {gy.data(), N, K}, {gw_scalar.data(), N, K}, gs_scalar, bs).ok());
    CHECK(bits_equal(gw_simd, gw_scalar));
    for (std::size_t i = 0; i < l.n_scales; ++i) CHECK(gs_simd[i] == doctest::Approx(gs_scalar[i]).epsilon(1e-4).scale(1.0));

    // Results do not depend on the executor.
    thread_pool pool(2);
    std::vector<float> y_pool(N * K), gw_pool(N * K), gs_pool(l.n_scales);
    REQUIRE(qat::fake_quantize<S>({w.data(), N, K}, steps, zeros, {y_pool.data(), N, K}, opt, pool).ok());
    REQUIRE(qat::fake_quantize_backward<S>({w.data(), N, K}, steps, zeros, {gy.data(), N, K}, {gw_pool.data(), N, K}, gs_pool, bo, pool).ok());
    CHECK(bits_equal(y_pool, y_simd));
    CHECK(bits_equal(gw_pool, gw_simd));
    CHECK(bits_equal(gs_pool, gs_simd));
}

// ---- gradients ------------------------------------------------------------------------------

namespace {
// ŷ(s) for one value, no storage rounding, in double from the float quantizer.
template <int B, bool Sym>
double fq1(float x, float s, float z) {
    float y = 0.0f;
    REQUIRE(qat::fake_quantize_values<B, Sym>(span<const float>(&x, 1), s, z, span<float>(&y, 1)).ok());
    return y;
}
template <int B, bool Sym>
void grads1(float x, float s, float z, float* gx, float* gs) {
    const float one = 1.0f;
    auto r = qat::fake_quantize_values_backward<B, Sym>(span<const float>(&x, 1), s, z, span<const float>(&one, 1), span<float>(gx, 1));
    REQUIRE(r);
    *gs = *r;
}
}  // namespace

TEST_CASE_TEMPLATE("LSQ step gradient vs finite differences and the published definition", BZ,
                   std::integral_constant<int, 2>, std::integral_constant<int, 3>, std::integral_constant<int, 4>,
                   std::integral_constant<int, 8>) {
    constexpr int B = BZ::value;
    const float s = 0.1f;
    const float qp = static_cast<float>((1 << (B - 1)) - 1);
    rng r(7);
    for (int t = 0; t < 2000; ++t) {
        // v = x / s anywhere in [-1.5 Qp - 1, 1.5 Qp + 1]
        const float v = (r.uniform() * 2.0f - 1.0f) * (1.5f * qp + 1.0f);
        const float x = v * s;
        float gx, gs;
        grads1<B, true>(x, s, symmetric_zero(B), &gx, &gs);
        const float vv = x / s;
        const double h = 1e-4 * s;
        const double fd = (fq1<B, true>(x, s + static_cast<float>(h), symmetric_zero(B)) -
                           fq1<B, true>(x, s - static_cast<float>(h), symmetric_zero(B))) / (2.0 * h);
        const bool near_jump = std::fabs(std::fabs(vv - std::floor(vv)) - 0.5f) < 0.01f || std::fabs(std::fabs(vv) - qp) < 0.01f;
        if (near_jump) continue;  // the true function jumps there: no derivative to compare with
        if (vv <= -qp || vv >= qp) {
            // Clipped: ŷ = ±Qp s is differentiable in s, and LSQ's gradient is the true one.
            CHECK(gs == (vv <= -qp ? -qp : qp));
            CHECK(fd == doctest::Approx(gs).epsilon(2e-2));
            CHECK(gx == 0.0f);
        } else {
            // Inside: ŷ = s round(x/s), true ∂ŷ/∂s = round(v); LSQ adds the STE term -v.
            CHECK(fd == doctest::Approx(std::nearbyint(vv)).epsilon(2e-2));
            CHECK(gs == doctest::Approx(std::nearbyint(vv) - vv).epsilon(1e-5).scale(1.0));
            CHECK(gx == 1.0f);
        }
    }
    // Boundaries (LSQ eqs. 3 and 5): v = ±Qp is "clipped": ∂ŷ/∂s = ±Qp, ∂ŷ/∂x = 0.
    float gx, gs;
    grads1<B, true>(qp * s, s, symmetric_zero(B), &gx, &gs);
    if (qp * s / s == qp) {
        CHECK(gs == qp);
        CHECK(gx == 0.0f);
    }
    grads1<B, true>(-qp * 0.25f, 0.25f, symmetric_zero(B), &gx, &gs);  // exact in binary
    CHECK(gs == -qp);
    CHECK(gx == 0.0f);
    grads1<B, true>(0.0f, s, symmetric_zero(B), &gx, &gs);
    CHECK(gs == 0.0f);
    CHECK(gx == 1.0f);
}

TEST_CASE("LSQ: asymmetric clip range is (-z, 2^b - 1 - z); 1 bit is ±s/2") {
    // 4-bit asymmetric, z = 3: levels (u - 3) s for u in 0..15.
    float gx, gs;
    grads1<4, false>(-3.0f * 0.5f, 0.5f, 3.0f, &gx, &gs);  // v = -3 = lo: clipped
    CHECK(gs == -3.0f);
    CHECK(gx == 0.0f);
    grads1<4, false>(-2.75f * 0.5f, 0.5f, 3.0f, &gx, &gs);  // inside: round(-2.75) - (-2.75) = -0.25
    CHECK(gs == doctest::Approx(-0.25f));
    CHECK(gx == 1.0f);
    grads1<4, false>(40.0f, 0.5f, 3.0f, &gx, &gs);  // far above: hi = 12
    CHECK(gs == 12.0f);
    CHECK(gx == 0.0f);
    // 1 bit symmetric: ŷ = ±s/2, ∂ŷ/∂s = ±1/2 - v inside |v| < 1/2, ±1/2 outside.
    grads1<1, true>(0.2f, 1.0f, 0.5f, &gx, &gs);
    CHECK(gs == doctest::Approx(0.3f));
    CHECK(gx == 1.0f);
    grads1<1, true>(-3.0f, 1.0f, 0.5f, &gx, &gs);
    CHECK(gs == -0.5f);
    CHECK(gx == 0.0f);
    CHECK(fq1<1, true>(-3.0f, 1.0f, 0.5f) == -0.5);
    CHECK(fq1<1, true>(0.0f, 2.0f, 0.5f) == 1.0);
    // Clipped 1-bit: FD of ŷ = -s/2 in s is -1/2.
    const double fd = (fq1<1, true>(-3.0f, 1.001f, 0.5f) - fq1<1, true>(-3.0f, 0.999f, 0.5f)) / 0.002;
    CHECK(fd == doctest::Approx(-0.5).epsilon(1e-3));
}

TEST_CASE("LSQ gradient scale and loss-level check through fake_quantize_backward") {
    using S = scheme<3, per_channel, symmetric, scale_f32>;
    const std::size_t N = 4, K = 64;
    const auto w = random_matrix(N * K, 8);
    const auto gy = random_matrix(N * K, 9, 1.0f);
    std::vector<float> steps(N);
    std::vector<std::uint8_t> zeros;
    REQUIRE(qat::lsq_init<S>({w.data(), N, K}, steps, zeros).ok());
    for (std::size_t r = 0; r < N; ++r) {
        double mean = 0;
        for (std::size_t k = 0; k < K; ++k) mean += std::fabs(w[r * K + k]);
        mean /= K;
        CHECK(steps[r] == doctest::Approx(2.0 * mean / std::sqrt(3.0)));  // Qp = 3 at 3 bits
    }
    std::vector<float> g_raw(N), g_lsq(N);
    qat::fq_backward_options raw;
    raw.step_grad_scale = 1.0f;
    REQUIRE(qat::fake_quantize_backward<S>({w.data(), N, K}, steps, zeros, {gy.data(), N, K}, {}, g_raw, raw).ok());
    REQUIRE(qat::fake_quantize_backward<S>({w.data(), N, K}, steps, zeros, {gy.data(), N, K}, {}, g_lsq).ok());
    for (std::size_t r = 0; r < N; ++r) {
        CHECK(g_lsq[r] == doctest::Approx(g_raw[r] / std::sqrt(64.0 * 3.0)));
        // The raw gradient is the sum of the per-element definitions.
        double sum = 0;
        for (std::size_t k = 0; k < K; ++k) {
            const float v = w[r * K + k] / steps[r];
            const float d = v <= -3.0f ? -3.0f : v >= 3.0f ? 3.0f : std::nearbyint(v) - v;
            sum += static_cast<double>(gy[r * K + k]) * d;
        }
        CHECK(g_raw[r] == doctest::Approx(sum).epsilon(1e-5));
    }
}

TEST_CASE("PACT: gradients vs finite differences of the clip, and at the boundaries") {
    constexpr int B = 4;
    const float alpha = 1.5f;
    rng r(10);
    std::vector<float> x(4000), gy(4000, 1.0f), gx(4000);
    for (auto& v : x) v = (r.uniform() * 2.0f - 0.5f) * 2.0f;  // [-1, 3)
    x[0] = 0.0f;
    x[1] = alpha;
    x[2] = -0.0f;
    auto ga = qat::pact_backward<B>(x, alpha, gy, gx);
    REQUIRE(ga);
    double expect_ga = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        const double h = 1e-3;
        auto clip = [&](double xv, double a) { return std::min(std::max(xv, 0.0), a); };
        if (std::fabs(x[i] - alpha) > 2 * h && std::fabs(x[i]) > 2 * h) {
            const double fd_a = (clip(x[i], alpha + h) - clip(x[i], alpha - h)) / (2 * h);
            const double fd_x = (clip(x[i] + h, alpha) - clip(x[i] - h, alpha)) / (2 * h);
            CHECK(gx[i] == doctest::Approx(fd_x));
            CHECK((x[i] >= alpha ? 1.0 : 0.0) == doctest::Approx(fd_a));
        }
        if (x[i] >= alpha) expect_ga += 1.0;
    }
    CHECK(*ga == static_cast<float>(expect_ga));
    // Published boundaries: x = alpha counts for alpha and not for x; x = 0 passes.
    CHECK(gx[1] == 0.0f);
    CHECK(gx[0] == 1.0f);
    CHECK(gx[2] == 1.0f);
    // The forward is lowbit's asymmetric quantizer with z = 0 and s = alpha / 15.
    std::vector<float> y(x.size());
    REQUIRE(qat::pact_forward<B>(x, alpha, y).ok());
    const float s = alpha / 15.0f;
    for (std::size_t i = 0; i < x.size(); ++i) {
        CHECK(y[i] == dequantize_value(quantize_value<B, false>(x[i], s, 0.0f), s, 0.0f));
        CHECK(y[i] >= 0.0f);
        CHECK(y[i] <= alpha * 1.000001f);
    }
    // Clipped forward is differentiable in alpha with slope 1.
    const float xa = 5.0f;
    float y1, y2;
    REQUIRE(qat::pact_forward<B>(span<const float>(&xa, 1), alpha + 1e-3f, span<float>(&y1, 1)).ok());
    REQUIRE(qat::pact_forward<B>(span<const float>(&xa, 1), alpha - 1e-3f, span<float>(&y2, 1)).ok());
    CHECK((y1 - y2) / 2e-3 == doctest::Approx(1.0).epsilon(1e-3));
}

// ---- steps, errors -------------------------------------------------------------------------

TEST_CASE("stored steps: forward uses the step rounded to the scale type") {
    using S = scheme<4, per_tensor, symmetric, scale_f16>;
    const float learned = 0.0123456789f;
    CHECK(qat::stored_step<S>(learned) == f16_to_f32(f32_to_f16(learned)));
    CHECK(qat::stored_step<S>(learned) != learned);
    const float x = 0.05f;
    float y;
    const float steps[1] = {learned};
    REQUIRE(qat::fake_quantize<S>({&x, 1, 1}, span<const float>(steps, 1), {}, {&y, 1, 1}).ok());
    const float s = qat::stored_step<S>(learned);
    CHECK(y == s * std::nearbyint(x / s));

    std::vector<float> st = {-1.0f, 1e9f, 0.5f};
    REQUIRE(qat::project_steps<S>(st).ok());
    CHECK(st[0] == qat::min_step<S>());
    CHECK(st[1] == 65504.0f);
    CHECK(st[2] == 0.5f);
    CHECK(qat::stored_step<S>(qat::min_step<S>()) > 0.0f);
    st[0] = std::nanf("");
    CHECK(qat::project_steps<S>(st).code() == errc::non_finite);
}

TEST_CASE("errors are statuses naming the argument") {
    using S = scheme<4, per_group<8>, asymmetric, scale_f16>;
    std::vector<float> w(4 * 16, 0.1f), out(4 * 16);
    std::vector<float> steps(8, 0.1f);
    std::vector<std::uint8_t> zeros(8, 3);
    CHECK(qat::fake_quantize<S>({w.data(), 4, 16}, steps, zeros, {out.data(), 4, 16}).ok());
    status e = qat::fake_quantize<S>({w.data(), 4, 16}, span<const float>(steps.data(), 7), zeros, {out.data(), 4, 16});
    CHECK(e.code() == errc::shape_mismatch);
    CHECK(std::string(e.message()).find("steps") != std::string::npos);
    steps[3] = 0.0f;
    e = qat::fake_quantize<S>({w.data(), 4, 16}, steps, zeros, {out.data(), 4, 16});
    CHECK(e.code() == errc::invalid_argument);
    CHECK(std::string(e.message()).find("steps[3]") != std::string::npos);
    steps[3] = 0.1f;
    zeros[2] = 16;
    CHECK(qat::fake_quantize<S>({w.data(), 4, 16}, steps, zeros, {out.data(), 4, 16}).code() == errc::invalid_argument);
    zeros[2] = 3;
    CHECK(qat::fake_quantize<S>({w.data(), 4, 16}, steps, zeros, {out.data(), 4, 15}).code() == errc::shape_mismatch);
    using D = scheme<4, per_group_dynamic, symmetric, scale_f16>;
    CHECK(qat::fake_quantize<D>({w.data(), 4, 16}, steps, {}, {out.data(), 4, 16}).code() == errc::invalid_argument);
    CHECK(qat::fake_quantize_values<4, true>(w, -1.0f, 8.0f, out).code() == errc::invalid_argument);
    CHECK(qat::pact_forward<4>(w, 0.0f, out).code() == errc::invalid_argument);
}

// ---- observers -----------------------------------------------------------------------------

TEST_CASE("minmax_observer: moving average, freezing, parameters") {
    qat::minmax_observer ob(0.25f, 3);
    std::vector<float> a = {-1.0f, 2.0f}, b = {-3.0f, 6.0f}, c = {-100.0f, 100.0f};
    REQUIRE(ob.observe(a).ok());
    CHECK(ob.lo() == -1.0f);
    CHECK(ob.hi() == 2.0f);
    REQUIRE(ob.observe(b).ok());
    CHECK(ob.lo() == doctest::Approx(-1.0f + 0.25f * (-3.0f + 1.0f)));
    CHECK(ob.hi() == doctest::Approx(2.0f + 0.25f * 4.0f));
    REQUIRE(ob.observe(b).ok());
    CHECK(ob.frozen());
    const float lo = ob.lo(), hi = ob.hi();
    REQUIRE(ob.observe(c).ok());  // frozen: ignored
    CHECK(ob.lo() == lo);
    CHECK(ob.hi() == hi);
    const auto p = ob.params<8, false>();
    CHECK(p.scale == doctest::Approx((hi - lo) / 255.0f).epsilon(1e-6));
    std::vector<float> bad = {1.0f, std::nanf("")};
    qat::minmax_observer ob2;
    CHECK(ob2.observe(bad).code() == errc::non_finite);
}

TEST_CASE("histogram_observer: percentiles within a bin of the exact ones; exact range growth") {
    rng r(11);
    qat::histogram_observer ob(99.0f, 1024);
    std::vector<float> all;
    for (int batch = 0; batch < 20; ++batch) {
        std::vector<float> x(500);
        const float spread = 1.0f + static_cast<float>(batch);  // later batches widen the range: it must grow
        for (auto& v : x) v = spread * r.normal();
        REQUIRE(ob.observe(x).ok());
        all.insert(all.end(), x.begin(), x.end());
    }
    std::uint64_t total = 0;
    for (auto c : ob.counts()) total += c;
    CHECK(total == all.size());
    std::sort(all.begin(), all.end());
    const float width = 2.0f * ob.range() / 1024.0f;
    const float exact_hi = all[static_cast<std::size_t>(0.99 * (all.size() - 1))];
    const float exact_lo = all[static_cast<std::size_t>(0.01 * (all.size() - 1))];
    CHECK(std::fabs(ob.hi() - exact_hi) <= 2.0f * width);
    CHECK(std::fabs(ob.lo() - exact_lo) <= 2.0f * width);
    CHECK(ob.range() >= all.back());
    CHECK(ob.range() >= -all.front());
    // Freezing stops updates.
    ob.freeze();
    const float hi = ob.hi();
    std::vector<float> big(10, 1e6f);
    REQUIRE(ob.observe(big).ok());
    CHECK(ob.hi() == hi);
    const auto p = ob.params<4, true, scale_f16>();
    CHECK(p.scale >= std::max(-ob.lo(), ob.hi()) / 7.0f);
}
