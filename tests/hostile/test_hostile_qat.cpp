// Hostile input, QAT family: fake_quantize (forward/backward), lsq_init,
// calibrated_init, fake_quantize_values, PACT, observers, export.
// docs/reliability.md.
#include <cmath>
#include <cstring>
#include <vector>

#include <lowbit/lowbit.hpp>
#include <lowbit/qat.hpp>

#include "hostile_util.hpp"
#include "test_util.hpp"

using namespace lowbit;
using namespace hostile;

namespace {
using Sq = scheme<4, per_group<16>, asymmetric, scale_f16>;
using Ss = scheme<3, per_channel, symmetric, scale_f32>;
}  // namespace

TEST_CASE_TEMPLATE("hostile qat: NaN/Inf weights give the same defined values on the SIMD and scalar paths", S, Sq, Ss) {
    const std::size_t rows = 4, cols = 48;
    auto w = lowbit_test::gaussian(rows * cols, 1);
    const float specials[] = {nan_(), inf_(), -inf_(), denorm_(), -huge_(), huge_()};
    for (std::size_t i = 0; i < w.size(); i += 7) w[i] = specials[(i / 7) % 6];
    const matrix_view<const float> wv(w.data(), rows, cols);
    auto l = qlayout::make(S::runtime(), rows, cols);
    REQUIRE(l);
    std::vector<float> steps(l->n_scales, 0.05f);
    std::vector<std::uint8_t> zeros(l->n_zeros, 7);
    std::vector<float> a(w.size()), b(w.size()), ga(w.size()), gb(w.size()), gs_a(steps.size()), gs_b(steps.size());
    qat::fq_options simd, scalar;
    scalar.path = qat::fq_path::scalar;
    REQUIRE(qat::fake_quantize<S>(wv, span<const float>(steps), span<const std::uint8_t>(zeros), matrix_view<float>(a.data(), rows, cols), simd)
                .ok());
    REQUIRE(qat::fake_quantize<S>(wv, span<const float>(steps), span<const std::uint8_t>(zeros), matrix_view<float>(b.data(), rows, cols), scalar)
                .ok());
    CHECK(same_bits(a.data(), b.data(), a.size() * 4));
    const float st = qat::stored_step<S>(0.05f);
    const float lo_level = st * (static_cast<float>(min_code(S::bits, S::is_symmetric)) - (S::is_symmetric ? symmetric_zero(S::bits) : 7.0f));
    const float hi_level = st * (static_cast<float>(max_code(S::bits)) - (S::is_symmetric ? symmetric_zero(S::bits) : 7.0f));
    for (std::size_t i = 0; i < a.size(); ++i) {
        CHECK(std::isfinite(a[i]));
        if (std::isnan(w[i]) || w[i] == -inf_()) CHECK(a[i] == lo_level);
        if (w[i] == inf_()) CHECK(a[i] == hi_level);
    }
    // backward: the same input gradients on both paths; NaN weights get no gradient
    const auto gy = lowbit_test::gaussian(w.size(), 2);
    const matrix_view<const float> gyv(gy.data(), rows, cols);
    qat::fq_backward_options bs, bc;
    bc.path = qat::fq_path::scalar;
    REQUIRE(qat::fake_quantize_backward<S>(wv, span<const float>(steps), span<const std::uint8_t>(zeros), gyv,
                                           matrix_view<float>(ga.data(), rows, cols), span<float>(gs_a), bs)
                .ok());
    REQUIRE(qat::fake_quantize_backward<S>(wv, span<const float>(steps), span<const std::uint8_t>(zeros), gyv,
                                           matrix_view<float>(gb.data(), rows, cols), span<float>(gs_b), bc)
                .ok());
    CHECK(same_bits(ga.data(), gb.data(), ga.size() * 4));
    for (std::size_t i = 0; i < w.size(); ++i)
        if (!std::isfinite(w[i])) CHECK(ga[i] == 0.0f);
    // the initialisers refuse non-finite weights, naming the element
    CHECK(qat::lsq_init<S>(wv, span<float>(steps), span<std::uint8_t>(zeros)).code() == errc::non_finite);
    CHECK(says(qat::calibrated_init<S>(wv, calibration{}, span<float>(steps), span<std::uint8_t>(zeros)), "w(0, 0)"));
    // export refuses them too, leaving the output alone
    auto q = qat::export_qmatrix<S>(wv, span<const float>(steps), span<const std::uint8_t>(zeros));
    CHECK(q.error().code() == errc::non_finite);
}

TEST_CASE("hostile qat: flat activations (values, PACT) with NaN/Inf agree on both paths") {
    std::vector<float> x = lowbit_test::gaussian(37, 3), y1(37), y2(37);
    x[0] = nan_();
    x[9] = inf_();
    x[20] = -inf_();
    x[30] = denorm_();
    REQUIRE(qat::fake_quantize_values<4, false>(span<const float>(x), 0.1f, 3.0f, span<float>(y1)).ok());
    REQUIRE(qat::fake_quantize_values<4, false>(span<const float>(x), 0.1f, 3.0f, span<float>(y2), qat::fq_path::scalar).ok());
    CHECK(same_bits(y1.data(), y2.data(), y1.size() * 4));
    for (float v : y1) CHECK(std::isfinite(v));
    REQUIRE(qat::pact_forward<3>(span<const float>(x), 2.0f, span<float>(y1)).ok());
    REQUIRE(qat::pact_forward<3>(span<const float>(x), 2.0f, span<float>(y2), qat::fq_path::scalar).ok());
    CHECK(same_bits(y1.data(), y2.data(), y1.size() * 4));
    auto ga = qat::pact_backward<3>(span<const float>(x), 2.0f, span<const float>(x), span<float>(y1));
    REQUIRE(ga);
    CHECK(std::isinf(*ga));  // x[9] = +Inf >= alpha contributes grad_y = +Inf: propagated, not hidden
}

TEST_CASE("hostile qat: bad steps, zeros, shapes, nulls, overlaps and misaligned views are refused; outputs untouched") {
    const std::size_t rows = 3, cols = 32;
    auto w = lowbit_test::gaussian(rows * cols, 4);
    const matrix_view<const float> wv(w.data(), rows, cols);
    const std::size_t ns = rows * 2;
    std::vector<float> steps(ns, 0.1f);
    std::vector<std::uint8_t> zeros(ns, 8);
    sentinel out(rows * cols * 4);
    const matrix_view<float> ov(out.as<float>(), rows, cols);
    auto fq = [&](matrix_view<const float> wi, span<const float> st, span<const std::uint8_t> z, matrix_view<float> o) {
        return qat::fake_quantize<Sq>(wi, st, z, o);
    };
    for (float bad : {0.0f, -0.1f, nan_(), inf_(), 1e-30f /* rounds to 0 in f16 */, 1e6f /* overflows f16 */}) {
        steps[3] = bad;
        CHECK(says(fq(wv, span<const float>(steps), span<const std::uint8_t>(zeros), ov), "steps[3]"));
    }
    steps[3] = 0.1f;
    zeros[1] = 16;
    CHECK(says(fq(wv, span<const float>(steps), span<const std::uint8_t>(zeros), ov), "zeros[1] = 16"));
    zeros[1] = 8;
    CHECK(fq(wv, span<const float>(steps.data(), ns - 1), span<const std::uint8_t>(zeros), ov).code() == errc::shape_mismatch);
    CHECK(fq(wv, span<const float>(steps), span<const std::uint8_t>(zeros.data(), 1), ov).code() == errc::shape_mismatch);
    CHECK(says(fq(wv, span<const float>(nullptr, ns), span<const std::uint8_t>(zeros), ov), "null"));
    CHECK(says(fq(wv, span<const float>(steps), span<const std::uint8_t>(nullptr, ns), ov), "null"));
    CHECK(says(fq(matrix_view<const float>(nullptr, rows, cols), span<const float>(steps), span<const std::uint8_t>(zeros), ov), "null"));
    CHECK(fq(matrix_view<const float>(w.data(), 0, cols), span<const float>(steps), span<const std::uint8_t>(zeros), ov).code() ==
          errc::shape_mismatch);
    CHECK(fq(wv, span<const float>(steps), span<const std::uint8_t>(zeros), matrix_view<float>(out.as<float>(), rows, cols - 1)).code() ==
          errc::shape_mismatch);
    CHECK(says(fq(wv, span<const float>(steps), span<const std::uint8_t>(zeros), matrix_view<float>(out.as<float>(), rows, cols, 8)),
               "stride"));
    CHECK(says(fq(wv, span<const float>(steps), span<const std::uint8_t>(zeros),
                  matrix_view<float>(out.as<float>(), rows, cols, SIZE_MAX / 2)),
               "address space"));
    sentinel mis(rows * cols * 4, 1);
    CHECK(says(fq(wv, span<const float>(steps), span<const std::uint8_t>(zeros), matrix_view<float>(mis.as<float>(), rows, cols)),
               "aligned"));
    CHECK(mis.untouched());
    CHECK(out.untouched());
    // zero-size and bad groups for per_group_dynamic
    qat::fq_options o;
    o.group = 0;
    CHECK(says(qat::fake_quantize<scheme<4, per_group_dynamic>>(wv, span<const float>(steps), span<const std::uint8_t>(), ov, o),
               "group"));
    // in place is allowed; a partial overlap (out = w shifted by one row) is not
    std::vector<float> inplace = w;
    CHECK(qat::fake_quantize<Sq>(matrix_view<const float>(inplace.data(), rows, cols), span<const float>(steps),
                                 span<const std::uint8_t>(zeros), matrix_view<float>(inplace.data(), rows, cols))
              .ok());
    std::vector<float> big(rows * cols + cols);
    std::copy(w.begin(), w.end(), big.begin());
    const std::vector<float> keep = big;
    CHECK(says(qat::fake_quantize<Sq>(matrix_view<const float>(big.data(), rows, cols), span<const float>(steps),
                                      span<const std::uint8_t>(zeros), matrix_view<float>(big.data() + cols, rows, cols)),
               "overlaps"));
    CHECK(big == keep);
    // flat tensors
    std::vector<float> x(8, 1.0f), y(8, 5.0f);
    CHECK(says(qat::fake_quantize_values<4, true>(span<const float>(nullptr, 8), 0.1f, 8.0f, span<float>(y)), "null"));
    CHECK(says(qat::fake_quantize_values<4, true>(span<const float>(x), 0.1f, 8.0f, span<float>(x.data() + 1, 8 - 1)), "y has 7"));
    std::vector<float> xy(12, 1.0f);
    CHECK(says(qat::fake_quantize_values<4, true>(span<const float>(xy.data(), 8), 0.1f, 8.0f, span<float>(xy.data() + 2, 8)),
               "overlaps"));
    // Spans no memory can back (session 38, detail::check_span; were read until the crash): 2^62 floats, and
    // 8 floats starting 32 bytes below the top of the address space. Never dereferenced: refused first.
    const auto top = reinterpret_cast<float*>(static_cast<std::uintptr_t>(UINTPTR_MAX - 31) & ~std::uintptr_t(3));
    const auto low = reinterpret_cast<float*>(std::uintptr_t(64));
    CHECK(says(qat::fake_quantize_values<4, true>(span<const float>(low, std::size_t(1) << 62), 0.1f, 8.0f,
                                                  span<float>(top, std::size_t(1) << 62)),
               "x (4611686018427387904 values) runs past the address space"));
    CHECK(says(qat::fake_quantize_values<4, true>(span<const float>(x), 0.1f, 8.0f, span<float>(top, 8)), "y (8 values) runs past"));
    CHECK(y == std::vector<float>(8, 5.0f));
    for (float s : {0.0f, -1.0f, nan_(), inf_()}) {
        CHECK(says(qat::fake_quantize_values<4, true>(span<const float>(x), s, 8.0f, span<float>(y)), "step"));
        CHECK(says(qat::pact_forward<4>(span<const float>(x), s, span<float>(y)), "alpha"));
    }
    for (float v : y) CHECK(v == 5.0f);
    // observers
    qat::minmax_observer mo;
    CHECK(says(mo.observe(span<const float>(nullptr, 4)), "null"));
    CHECK(mo.observe(span<const float>()).code() == errc::shape_mismatch);
    std::vector<float> bad{1.0f, nan_()};
    CHECK(says(mo.observe(span<const float>(bad)), "x[1]"));
    qat::histogram_observer ho;
    bad[1] = -inf_();
    CHECK(ho.observe(span<const float>(bad)).code() == errc::non_finite);
    // project_steps: a diverged optimiser (NaN step) is reported, finite extremes are clamped
    std::vector<float> ps{nan_(), 1.0f};
    CHECK(says(qat::project_steps<Sq>(span<float>(ps)), "steps[0]"));
    ps = {1e30f, 0.0f};
    CHECK(qat::project_steps<Sq>(span<float>(ps)).ok());
    CHECK(std::isfinite(ps[0]));
    CHECK(ps[1] > 0.0f);
}

// Issue 14, item 9: an fq_path (or a calibration kind) outside its enum is refused by every QAT entry point
// that takes one; outputs untouched.
TEST_CASE("hostile qat: out-of-range fq_path and calibration kind are refused") {
    const std::size_t rows = 2, cols = 32;
    const auto w = lowbit_test::gaussian(rows * cols, 41);
    const matrix_view<const float> wv(w.data(), rows, cols);
    auto l = qlayout::make(Sq::runtime(), rows, cols);
    REQUIRE(l);
    std::vector<float> steps(l->n_scales, 0.05f), gsteps(l->n_scales, -3.0f);
    std::vector<std::uint8_t> zeros(l->n_zeros, 7);
    sentinel out(rows * cols * 4), gw(rows * cols * 4), y(cols * 4);
    for (int p : {2, 9, 255}) {
        char what[32];
        std::snprintf(what, sizeof what, "path = %d", p);
        qat::fq_backward_options o;
        o.path = static_cast<qat::fq_path>(p);
        const span<const float> st(steps);
        const span<const std::uint8_t> zs(zeros);
        CHECK(says(qat::fake_quantize<Sq>(wv, st, zs, matrix_view<float>(out.as<float>(), rows, cols), o), what));
        CHECK(says(qat::fake_quantize_backward<Sq>(wv, st, zs, wv, matrix_view<float>(gw.as<float>(), rows, cols), span<float>(gsteps), o),
                   what));
        std::vector<float> s2(steps), g2(gsteps);
        std::vector<std::uint8_t> z2(zeros);
        CHECK(says(qat::lsq_init<Sq>(wv, span<float>(s2), span<std::uint8_t>(z2), o), what));
        CHECK(says(qat::calibrated_init<Sq>(wv, calibration{}, span<float>(s2), span<std::uint8_t>(z2), o), what));
        CHECK(s2 == steps);
        CHECK(z2 == zeros);
        CHECK(g2 == gsteps);
        const span<const float> xv(w.data(), cols);
        CHECK(says(qat::fake_quantize_values<4, true>(xv, 0.1f, 8.0f, span<float>(y.as<float>(), cols), o.path), what));
        CHECK(says(qat::fake_quantize_values_backward<4, true>(xv, 0.1f, 8.0f, xv, span<float>(y.as<float>(), cols), o.path).error(),
                   what));
        CHECK(says(qat::pact_forward<4>(xv, 2.0f, span<float>(y.as<float>(), cols), o.path), what));
    }
    CHECK(out.untouched());
    CHECK(gw.untouched());
    CHECK(y.untouched());
    calibration c;
    c.kind = static_cast<calibration::method>(5);
    std::vector<float> s2(steps);
    std::vector<std::uint8_t> z2(zeros);
    CHECK(says(qat::calibrated_init<Sq>(wv, c, span<float>(s2), span<std::uint8_t>(z2)), "calibration.kind = 5"));
}
