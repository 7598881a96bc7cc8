// Quantization layer: round trips over the whole scheme grid, error bounds,
// calibration, edge cases, SQNR figures and the footprint calculator.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <lowbit/kernels.hpp>
#include <lowbit/quant.hpp>

#include "test_util.hpp"

using namespace lowbit;

// ---- the scheme grid: bits 1..8 x granularity x symmetry x scale type --------------
template <int B, class G>
using grid_for = std::tuple<scheme<B, G, symmetric, scale_f16>, scheme<B, G, asymmetric, scale_f16>,
                            scheme<B, G, symmetric, scale_f32>, scheme<B, G, asymmetric, scale_bf16>>;
template <class... T>
struct cat;
template <class... A, class... B, class... Rest>
struct cat<std::tuple<A...>, std::tuple<B...>, Rest...> : cat<std::tuple<A..., B...>, Rest...> {};
template <class... A>
struct cat<std::tuple<A...>> {
    using type = std::tuple<A...>;
};
#if defined(LOWBIT_TEST_SAMPLED_GRID)
// A Latin square of the grid (the AArch64 cross build, scripts/test-arm.sh):
// width B takes, for granularity g, the combination (B + g) % 4 of symmetry
// and scale type. Every (width, granularity), (width, combination) and
// (granularity, combination) pair is still there; 32 schemes instead of 128,
// a quarter of the compile. The code is generic C++ (no arch-specific path in
// quant/); the whole grid runs under ASan+UBSan on x86.
template <int B, class G, int C>
using grid_pick = std::tuple<typename std::tuple_element<C, grid_for<B, G>>::type>;
template <int B>
using grid_bits = typename cat<grid_pick<B, per_tensor, B % 4>, grid_pick<B, per_channel, (B + 1) % 4>,
                               grid_pick<B, per_group<32>, (B + 2) % 4>, grid_pick<B, per_group_dynamic, (B + 3) % 4>>::type;
#else
template <int B>
using grid_bits = typename cat<grid_for<B, per_tensor>, grid_for<B, per_channel>, grid_for<B, per_group<32>>,
                               grid_for<B, per_group_dynamic>>::type;
#endif
using scheme_grid = typename cat<grid_bits<1>, grid_bits<2>, grid_bits<3>, grid_bits<4>, grid_bits<5>, grid_bits<6>,
                                 grid_bits<7>, grid_bits<8>>::type;

namespace {
template <class S>
result<qmatrix<S>> quantize_test(const std::vector<float>& w, std::size_t rows, std::size_t cols,
                                 const calibration& c = {}) {
    quantize_options o;
    o.calib = c;
    o.group = 24;  // used by per_group_dynamic: does not divide the 100-column rows below
    return quantize<S>(matrix_view<const float>(w.data(), rows, cols), o);
}
}  // namespace

TEST_CASE_TEMPLATE_DEFINE("round trip: |x - dq(q(x))| <= scale/2, codes in range, packing exact", S, round_trip) {
    const std::size_t rows = 7, cols = 100;  // 100 = 3 * 32 + 4: a tail group
    std::vector<float> w = lowbit_test::gaussian(rows * cols, 42);
    w[5] = 0.0f;
    w[17] = -0.0f;
    w[33] = 1e-39f;  // a float denormal
    auto q = quantize_test<S>(w, rows, cols);
    REQUIRE_MESSAGE(q, q.error().message());
    const qmatrix_view<S> v = q->view();
    REQUIRE(v.validate().ok());
    std::vector<float> deq(rows * cols);
    REQUIRE(dequantize(v, matrix_view<float>(deq.data(), rows, cols)).ok());
    std::vector<std::uint8_t> codes(cols);
    for (std::size_t r = 0; r < rows; ++r) {
        unpack_codes<S::bits>(v.row(r), cols, codes.data());
        for (std::size_t c = 0; c < cols; ++c) {
            const std::size_t g = c / static_cast<std::size_t>(v.group);
            const float s = v.scale(r, g), z = v.zero(r, g), x = w[r * cols + c];
            CHECK(codes[c] >= S::qmin);
            CHECK(codes[c] <= S::qmax);
            // the packed code is exactly what quantize_value gives with the stored parameters
            REQUIRE(codes[c] == quantize_value<S::bits, S::is_symmetric>(x, s, z));
            REQUIRE(deq[r * cols + c] == dequantize_value(codes[c], s, z));
            REQUIRE(std::fabs(x - deq[r * cols + c]) <= 0.5f * s * (1.0f + 1e-5f));
            if (S::is_symmetric && x != 0.0f && deq[r * cols + c] != 0.0f)
                REQUIRE((x > 0) == (deq[r * cols + c] > 0));  // symmetric schemes never flip a sign
        }
    }
    // padding bits of each row's last byte are zero
    const std::size_t used_bits = cols * S::bits;
    if (used_bits % 8) {
        for (std::size_t r = 0; r < rows; ++r) CHECK((v.row(r)[used_bits / 8] >> (used_bits % 8)) == 0);
    }
}
TEST_CASE_TEMPLATE_APPLY(round_trip, scheme_grid);

TEST_CASE_TEMPLATE_DEFINE("calibration: MSE never worse than minmax; percentile clips", S, calibration_grid) {
    const std::size_t rows = 5, cols = 100;
    std::vector<float> w = lowbit_test::gaussian(rows * cols, 7);
    w[3] = 9.0f;  // an outlier gives clipping something to gain
    auto mm = quantize_test<S>(w, rows, cols, calibrate::minmax{});
    auto ms = quantize_test<S>(w, rows, cols, calibrate::mse{});
    auto pc = quantize_test<S>(w, rows, cols, calibrate::percentile{99.0f});
    REQUIRE(mm);
    REQUIRE(ms);
    REQUIRE(pc);
    const auto a = mm->view(), b = ms->view(), p = pc->view();
    // objective of the search, per group: sum |x^ - x|^2.4
    const std::size_t G = static_cast<std::size_t>(a.group);
    const std::size_t ngroups = S::gran == granularity::per_tensor ? 1 : rows * a.groups_per_row();
    std::vector<double> ea(ngroups, 0.0), eb(ngroups, 0.0);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) {
            const std::size_t gi = a.scale_index(r, c / G);
            ea[gi] += std::pow(std::fabs(a.value(r, c) - w[r * cols + c]), 2.4);
            eb[gi] += std::pow(std::fabs(b.value(r, c) - w[r * cols + c]), 2.4);
        }
    for (std::size_t gi = 0; gi < ngroups; ++gi) CHECK(eb[gi] <= ea[gi] * (1 + 1e-6) + 1e-12);
    for (std::size_t i = 0; i < (S::gran == granularity::per_tensor ? 1 : rows * a.groups_per_row()); ++i)
        CHECK(S::scale_codec::decode(p.scales[i]) <= S::scale_codec::decode(a.scales[i]));
}
TEST_CASE_TEMPLATE_APPLY(calibration_grid, scheme_grid);

TEST_CASE("edge cases: zero, constant and outlier groups; tiny values") {
    using S = scheme<4, per_group<32>, asymmetric, scale_f16>;
    const std::size_t cols = 96;
    std::vector<float> w(cols, 0.0f);                    // group 0: all zero
    for (std::size_t c = 32; c < 64; ++c) w[c] = 0.75f;  // group 1: constant
    for (std::size_t c = 64; c < 96; ++c) w[c] = 1e-3f * static_cast<float>(c % 7);
    w[80] = 1000.0f;  // group 2: one huge outlier
    auto q = quantize<S>(matrix_view<const float>(w.data(), 1, cols));
    REQUIRE(q);
    const auto v = q->view();
    for (std::size_t c = 0; c < 32; ++c) CHECK(v.value(0, c) == 0.0f);
    for (std::size_t c = 32; c < 64; ++c) CHECK(v.value(0, c) == doctest::Approx(0.75).epsilon(1e-3));
    CHECK(v.value(0, 80) == doctest::Approx(1000.0).epsilon(1e-3));
    for (std::size_t c = 64; c < 96; ++c) CHECK(std::fabs(v.value(0, c) - w[c]) <= v.scale(0, 2) / 2 * 1.0001f);

    // Values below f16's range: the scale rounds *up* to the smallest f16, codes go to zero, error stays tiny.
    std::vector<float> tiny = lowbit_test::gaussian(64, 3, 1e-14f);
    auto qt = quantize<scheme<4, per_group<32>, symmetric, scale_f16>>(matrix_view<const float>(tiny.data(), 1, 64));
    REQUIRE(qt);
    for (std::size_t c = 0; c < 64; ++c) CHECK(std::fabs(qt->view().value(0, c) - tiny[c]) <= 1e-13f);
    // ... and with f32 scales they are resolved.
    auto qf = quantize<scheme<8, per_group<32>, symmetric, scale_f32>>(matrix_view<const float>(tiny.data(), 1, 64));
    REQUIRE(qf);
    auto rep = measure(matrix_view<const float>(tiny.data(), 1, 64), *qf);
    REQUIRE(rep);
    CHECK(rep->weight.sqnr_db > 40.0);
}

TEST_CASE("bad input gets a clear error and leaves the output untouched") {
    using S = scheme<4, per_group<32>>;
    std::vector<float> w = lowbit_test::gaussian(2 * 64, 5);
    auto q = qmatrix<S>::allocate(2, 64);
    REQUIRE(q);
    std::vector<std::uint8_t> before(q->view().codes, q->view().codes + q->layout().code_bytes());
    std::memset(const_cast<std::uint8_t*>(q->view().codes), 0xAB, q->layout().code_bytes());
    before.assign(q->view().codes, q->view().codes + q->layout().code_bytes());

    w[70] = std::numeric_limits<float>::quiet_NaN();
    status st = quantize_into<S>(matrix_view<const float>(w.data(), 2, 64), q->mut_view());
    CHECK(st.code() == errc::non_finite);
    CHECK(std::string(st.message()).find("w(1, 6)") != std::string::npos);
    CHECK(std::memcmp(before.data(), q->view().codes, before.size()) == 0);

    w[70] = std::numeric_limits<float>::infinity();
    CHECK(quantize<S>(matrix_view<const float>(w.data(), 2, 64)).error().code() == errc::non_finite);
    w[70] = 1.0f;

    // shape mismatch, empty, bad group, bad calibration, f16 overflow
    CHECK(quantize_into<S>(matrix_view<const float>(w.data(), 1, 64), q->mut_view()).code() == errc::shape_mismatch);
    CHECK(quantize<S>(matrix_view<const float>(w.data(), 0, 64)).error().code() == errc::shape_mismatch);
    CHECK(quantize<S>(matrix_view<const float>(nullptr, 0, 0)).error().code() == errc::shape_mismatch);
    CHECK(!quantize<scheme<4, per_group_dynamic>>(matrix_view<const float>(w.data(), 2, 64)));  // no group given
    CHECK(quantize<S>(matrix_view<const float>(w.data(), 2, 64), calibrate::percentile{20.0f}).error().code() ==
          errc::invalid_argument);
    CHECK(!quantize<S>(matrix_view<const float>(w.data(), 2, 64), calibrate::mse{0, 0.8f, 2.4f}));
    std::vector<float> huge(64, 3e6f);
    huge[1] = -3e6f;
    auto h = quantize<scheme<4, per_channel, symmetric, scale_f16>>(matrix_view<const float>(huge.data(), 1, 64));
    CHECK(!h);
    CHECK(std::string(h.error().message()).find("f32 scales") != std::string::npos);
    CHECK(quantize<scheme<4, per_channel, symmetric, scale_f32>>(matrix_view<const float>(huge.data(), 1, 64)));
}

TEST_CASE("row stride: quantizing a sub-matrix equals quantizing its copy") {
    using S = scheme<3, per_group<16>, asymmetric>;
    const std::size_t rows = 6, cols = 50, stride = 64;
    std::vector<float> big = lowbit_test::gaussian(rows * stride, 9), packed(rows * cols);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) packed[r * cols + c] = big[r * stride + c];
    auto a = quantize<S>(matrix_view<const float>(big.data(), rows, cols, stride));
    auto b = quantize<S>(matrix_view<const float>(packed.data(), rows, cols));
    REQUIRE(a);
    REQUIRE(b);
    CHECK(std::memcmp(a->view().codes, b->view().codes, a->layout().code_bytes()) == 0);
}

TEST_CASE("footprint: bits per weight and bytes") {
    runtime_scheme s;  // 4-bit, g128, f16, symmetric
    CHECK(bits_per_weight(s) == doctest::Approx(4.125));
    CHECK(footprint_bytes(s, 70e9) == doctest::Approx(36.09375e9));
    s.symmetric = false;  // + one zero-point byte per group
    CHECK(bits_per_weight(s) == doctest::Approx(4.1875));
    s.group = 32;
    s.symmetric = true;
    CHECK(bits_per_weight(s) == doctest::Approx(4.5));
    s.gran = granularity::per_channel;
    CHECK(bits_per_weight(s, 4096) == doctest::Approx(4.0 + 16.0 / 4096));
    s.gran = granularity::per_group;
    s.group = 128;
    CHECK(bits_per_weight(s, 172) == doctest::Approx(4.0 + 2 * 16.0 / 172));  // the tail group costs a scale too
    s.scale = scale_type::f32;
    s.gran = granularity::per_tensor;
    CHECK(bits_per_weight(s, 100, 10) == doctest::Approx(4.0 + 32.0 / 1000));
    // agrees with what a qmatrix actually holds
    using S = scheme<4, per_group<128>, asymmetric, scale_f16>;
    std::vector<float> w = lowbit_test::gaussian(64 * 300, 1);
    auto q = quantize<S>(matrix_view<const float>(w.data(), 64, 300));
    REQUIRE(q);
    CHECK(static_cast<double>(q->bytes()) == doctest::Approx(64 * (150 + 3 * 3)));
    auto rep = measure(matrix_view<const float>(w.data(), 64, 300), *q);
    REQUIRE(rep);
    CHECK(rep->bytes == q->bytes());
    CHECK(rep->bits_per_weight == doctest::Approx(8.0 * static_cast<double>(q->bytes()) / (64 * 300)));
}

TEST_CASE("metrics") {
    std::vector<float> a{1, 2, 3, 4}, b{1, 2, 3, 4}, c{1, 2, 3, 5}, z{0, 0, 0, 0};
    auto e = compare(span<const float>(a), span<const float>(b));
    CHECK(std::isinf(e.sqnr_db));
    CHECK(e.cosine == doctest::Approx(1.0));
    auto f = compare(span<const float>(a), span<const float>(c));
    CHECK(f.mse == doctest::Approx(0.25));
    CHECK(f.max_abs == doctest::Approx(1.0));
    CHECK(f.sqnr_db == doctest::Approx(10 * std::log10(30.0 / 1.0)));
    CHECK(compare(span<const float>(z), span<const float>(z)).cosine == 1.0);
    CHECK(compare(span<const float>(a), span<const float>(z)).cosine == 0.0);
}
