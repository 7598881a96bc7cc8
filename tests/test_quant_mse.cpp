// test_quant's MSE-search and statistical cases (calibrate::mse against the
// exhaustive search, SQNR against the published RTN figures, the search under
// any executor), in a TU of their own so that the sanitizer build compiles it
// at -O1 (tests/CMakeLists.txt): these cases spend their time in the search's
// 4-lane vector code (core/detail/vec4.hpp; xsimd when measured), which clang's -O0 runs ~35x slower than -O1 under ASan+UBSan
// (about 100 s of the ASan+UBSan CTest run), while the rest of test_quant
// (its 128-scheme grid) compiles five times faster at -O0. Same binary, same
// LOWBIT_TEST_REDUCED sampling as before.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include <lowbit/kernels/measure.hpp>
#include <lowbit/pack.hpp>
#include <lowbit/parallel.hpp>

#include "test_util.hpp"

using namespace lowbit;

namespace {
#if defined(LOWBIT_TEST_SAMPLED_GRID)
constexpr bool sampled_grid = true;  // the AArch64 build (scripts/test-arm.sh): see the two cases that read it
#else
constexpr bool sampled_grid = false;
#endif
// The MSE search as it was before issue 20 item 4: every grid candidate in
// turn, scalar, keeping the first of the smallest error (float std::pow). The
// search of calibrate.hpp must reach as small an error summed over many groups
// (it may lose on single groups, by a bounded amount, and win on others).
double reference_range_error(const value_block& b, const qparams& p, int bits, bool symmetric, float norm, double bound) {
    double err = 0.0;
    const bool l2 = norm == 2.0f;
    for (std::size_t r = 0; r < b.rows; ++r) {
        const float* x = b.data + r * b.stride;
        for (std::size_t c = 0; c < b.cols; ++c) {
            const float q = dequantize_value(quantize_value(x[c], p.scale, p.zero, bits, symmetric), p.scale, p.zero);
            const float e = std::fabs(q - x[c]);
            err += l2 ? static_cast<double>(e) * e : static_cast<double>(std::pow(e, norm));
            if ((c & 15u) == 15u && err >= bound) return err;
        }
        if (err >= bound) return err;
    }
    return err;
}
qparams reference_mse_search(const value_block& b, const calibration& c, int bits, bool symmetric, scale_type st) {
    float lo = std::numeric_limits<float>::infinity(), hi = -lo;
    b.for_each([&](float x) {
        lo = std::min(lo, x);
        hi = std::max(hi, x);
    });
    qparams best = params_for_range(lo, hi, bits, symmetric, st);
    if (!(best.scale > 0.0f)) return best;
    double best_err = reference_range_error(b, best, bits, symmetric, c.norm, std::numeric_limits<double>::infinity());
    const int steps = static_cast<int>(c.max_shrink * static_cast<float>(c.grid));
    for (int i = 1; i < steps; ++i) {
        const float f = 1.0f - static_cast<float>(i) / static_cast<float>(c.grid);
        const qparams p = params_for_range(f * lo, f * hi, bits, symmetric, st);
        if (!(p.scale > 0.0f)) break;
        const double err = reference_range_error(b, p, bits, symmetric, c.norm, best_err);
        if (err < best_err) {
            best_err = err;
            best = p;
        }
    }
    return best;
}
// sum |x^ - x|^norm in double throughout (no float overflow or underflow of the terms).
double mse_objective(const value_block& b, const qparams& p, int bits, bool symmetric, float norm) {
    double e = 0.0;
    b.for_each([&](float x) {
        const float q = dequantize_value(quantize_value(x, p.scale, p.zero, bits, symmetric), p.scale, p.zero);
        e += std::pow(std::fabs(static_cast<double>(q) - x), static_cast<double>(norm));
    });
    return e;
}
// min/max's parameters for a block (the search's first candidate).
qparams minmax_params(const value_block& b, int bits, bool symmetric, scale_type st) {
    return calibrate_block(b, calibrate::minmax{}, bits, symmetric, st, nullptr);
}
}  // namespace

// The bounds asserted, per group: never above min/max's error (the search
// keeps min/max unless a candidate beats it: the only bound the design
// gives), and never above 5x the exhaustive search's, a tripwire: the
// largest ratio measured on this sweep is printed (4.3, on groups of a few
// values on a grid, which one grid candidate represents almost exactly). Summed: over each family of
// groups below and over the tensors of the next test, at most the exhaustive
// search's error (sums of errors relative to min/max's, so that no magnitude
// outweighs the others).
TEST_CASE("calibration: the MSE search's error summed over groups is at most trying every candidate's") {
    // Groups of many shapes: Gaussian with and without outliers, constant,
    // zeros, one sign, away from 0, on a grid, sparse; tiny (down to
    // denormals) and huge values; lengths that are and are not multiples of
    // the SIMD width; a 2-D block with a row stride (per-tensor calibration).
    std::mt19937 rng(2020);
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    std::uniform_real_distribution<float> unif(0.0f, 1.0f);
    std::student_t_distribution<float> heavy(1.5f);
    const std::size_t lengths[] = {1, 5, 8, 32, 37, 128, 200};
    const float magnitudes[] = {1.0f, 0.02f, 1e-30f, 1e-38f, 1e30f, 1e37f};
    const float norms[] = {2.4f, 2.0f, 3.0f, 1.0f, 0.5f};
    std::size_t groups = 0, better = 0, worse = 0;
    double worst = 1.0;  // largest new / exhaustive
    // LOWBIT_TEST_REDUCED (ASan+UBSan, qemu): every 7th group of the sweep, so
    // each kind, length, magnitude, width and norm still occurs (7 is prime to
    // every loop's length); the AArch64 build (LOWBIT_TEST_SAMPLED_GRID) every
    // 13th (prime to them too: ~6 900 groups instead of ~12 800, ~690 a kind).
    const std::size_t stride = sampled_grid ? 13 : lowbit_test::reduced() ? 7 : 1;
    std::size_t visit = 0;
    std::vector<float> x;
    for (int kind = 0; kind < 10; ++kind) {
        double sum_new = 0.0, sum_ref = 0.0;  // relative to min/max's error
        for (std::size_t n : lengths)
            for (float mag : magnitudes) {
                x.assign(n, 0.0f);
                for (float& v : x) {
                    switch (kind) {
                        case 0: v = gauss(rng); break;
                        case 1: v = unif(rng) < 0.05f ? 10.0f * gauss(rng) : gauss(rng); break;  // outliers
                        case 2: v = 0.7f; break;                                              // constant
                        case 3: v = 0.0f; break;                                              // zeros
                        case 4: v = std::fabs(gauss(rng)); break;                             // one sign
                        case 5: v = -std::fabs(gauss(rng)) - 3.0f; break;                     // away from 0
                        case 6: v = std::round(gauss(rng) * 4.0f); break;                     // on a grid
                        case 7: v = unif(rng) < 0.9f ? 0.0f : gauss(rng); break;              // sparse
                        case 8: v = unif(rng) < 0.5f ? 1.3f : -0.4f; break;                   // two values
                        default: v = std::min(std::max(heavy(rng), -30.0f), 30.0f); break;   // heavy tails (Student t, 1.5)
                    }
                    v *= mag;
                }
                if (kind == 1 && n > 1) x[0] = 40.0f * mag;  // at least one outlier
                const bool huge = mag > 1e20f;
                for (const scale_type st : {scale_type::f16, scale_type::f32, scale_type::bf16}) {
                    if (huge && st == scale_type::f16) continue;  // f16 steps overflow: quantize refuses such groups
                    for (int bits = 1; bits <= 8; ++bits)
                        for (const bool sym : {true, false})
                            for (const float norm : norms) {
                                if (visit++ % stride != 0) continue;
                                calibrate::mse m;
                                m.norm = norm;
                                const calibration c = m;
                                const value_block b{x.data(), 1, n, n};
                                const qparams fast = calibrate_block(b, c, bits, sym, st, nullptr);
                                const qparams ref = reference_mse_search(b, c, bits, sym, st);
                                const double ef = mse_objective(b, fast, bits, sym, norm), er = mse_objective(b, ref, bits, sym, norm);
                                const double em = mse_objective(b, minmax_params(b, bits, sym, st), bits, sym, norm);
                                ++groups;
                                better += ef < er * (1.0 - 1e-6);
                                worse += ef > er * (1.0 + 1e-6);
                                if (er > 0.0) worst = std::max(worst, ef / er);
                                if (em > 0.0 && std::isfinite(em)) {  // (40 * 1e37 overflows f32: a group of Inf, NaN errors)
                                    sum_new += ef / em;
                                    sum_ref += er / em;
                                }
                                CHECK_MESSAGE(ef <= em * (1.0 + 1e-5), "kind ", kind, " n ", n, " magnitude ", mag, " scale type ",
                                              int(st), " bits ", bits, " sym ", sym, " norm ", norm, ": ", ef, " above min/max's ", em);
                                CHECK_MESSAGE(ef <= 5.0 * er + 1e-30 * em, "kind ", kind, " n ", n, " magnitude ", mag, " scale type ",
                                              int(st), " bits ", bits, " sym ", sym, " norm ", norm, ": ", ef, " vs every candidate ", er);
                            }
                }
            }
        MESSAGE("kind ", kind, ": sum of errors relative to min/max: search ", sum_new, ", every candidate ", sum_ref);
        CHECK(sum_new <= sum_ref * (1.0 + 1e-9));
    }
    // A 2-D block with a stride: rows of 13 values (a tail in every row) inside rows of 16.
    {
        std::vector<float> w(40 * 16);
        for (float& v : w) v = unif(rng) < 0.02f ? 8.0f * gauss(rng) : gauss(rng);
        const value_block b{w.data(), 40, 13, 16};
        for (int bits : {3, 4, 8})
            for (const bool sym : {true, false}) {
                const calibration c = calibrate::mse{};
                const qparams fast = calibrate_block(b, c, bits, sym, scale_type::f16, nullptr);
                const qparams ref = reference_mse_search(b, c, bits, sym, scale_type::f16);
                const double ef = mse_objective(b, fast, bits, sym, 2.4f), er = mse_objective(b, ref, bits, sym, 2.4f);
                CHECK(ef <= er * (1.0 + 1e-3));  // one block of 520 values: a single group, the bound of a group
                CHECK(ef <= mse_objective(b, minmax_params(b, bits, sym, scale_type::f16), bits, sym, 2.4f) * (1.0 + 1e-5));
                ++groups;
            }
    }
    MESSAGE(groups, " groups: a smaller error than every candidate's in ", better, ", a larger one in ", worse,
            ", largest ratio ", worst);
}

// Per tensor: the bench's weight (Gaussian, 1 % of values x8), a heavier-tailed
// one (5 % x20) and a Student t (3 degrees of freedom), 64 rows of 2048
// (LOWBIT_TEST_REDUCED: 16), every group scheme of bench_calibrate and per
// channel, and 5 to 7 bits (which share the 4-bit symmetric and the
// asymmetric plans), norms 2.4 and 2. The search's plan
// (mse_searcher::plan_for) tries fewer candidates than the grid has on every
// scheme and loses to it on some groups (asymmetric groups: on up to 80 % of
// them, by little): what it must keep is the sum (the closest: w3g64 on the
// Student t at norm 2, 0.999998). Per group the assert is a tripwire at 2x
// the exhaustive search's error: the largest ratio measured on these
// tensors is 1.34 (w5g32, the bench's weight, norm 2.4), 1.33 on w2g16a
// (5 % x20, norm 2.4: 16 values whose best grid step the coarse set and
// one refit miss);
// on 128 rows of the same weights 1.86 (w2g16a, Student t, norm 2; main's
// search before the plans too) (docs/history/mse-search.md, "Branch mse23" and
// "Branch mse24", have the distribution).
TEST_CASE("calibration: over a tensor the MSE search's error is at most trying every candidate's") {
    const std::size_t rows = lowbit_test::reduced() ? 16 : 64, cols = 2048;
    struct cfg {
        int bits;
        bool sym;
        std::size_t group;
    };
    const cfg cfgs[] = {{4, true, 32},  {4, false, 32},  {4, true, 128}, {4, false, 128}, {3, true, 128},  {3, false, 128},
                        {3, true, 64},  {3, false, 64},  {2, true, 16},  {2, false, 16},  {8, true, 32},   {8, false, 32},
                        {8, true, cols}, {8, false, cols},
                        // 5 to 7 bits share the 4-bit plans (symmetric) and the asymmetric one
                        {5, true, 32}, {5, false, 32}, {6, true, 128}, {7, false, 128}};
    int worse = 0, tensors = 0;
    std::size_t groups = 0, groups_worse = 0;
    double worst_all = 1.0;
    for (int dist = 0; dist < 3; ++dist) {
        std::mt19937 rng(20 + dist);
        std::normal_distribution<float> gauss(0.0f, 0.02f);
        std::student_t_distribution<float> t3(3.0f);
        std::uniform_real_distribution<float> unif(0.0f, 1.0f);
        std::vector<float> w(rows * cols);
        for (float& v : w) {
            if (dist == 2) {
                v = 0.01f * t3(rng);
                continue;
            }
            v = gauss(rng);
            if (unif(rng) < (dist == 0 ? 0.01f : 0.05f)) v *= dist == 0 ? 8.0f : 20.0f;
        }
        for (std::size_t gi = 0; gi < sizeof cfgs / sizeof cfgs[0]; ++gi)
            for (const float norm : {2.4f, 2.0f}) {
                const cfg& g = cfgs[gi];
                // The AArch64 build (LOWBIT_TEST_SAMPLED_GRID: qemu, where this case
                // took 47 of test_quant's 63 CPU-s) runs half of the tensors: each
                // symmetric / asymmetric pair of configurations with one norm per
                // distribution, the other norm on the next distribution and on the
                // next pair, so that every configuration still meets both norms and
                // every distribution both; still 16 rows each. x86 (ASan+UBSan, and
                // test_quant_mse_plain's plain-float copy) runs all 108.
                if (sampled_grid && (gi / 2 + static_cast<std::size_t>(dist) + (norm == 2.0f)) % 2 != 0) continue;
                calibrate::mse m;
                m.norm = norm;
                const calibration c = m;
                double sum_new = 0.0, sum_ref = 0.0, worst = 1.0;
                std::size_t n_worse = 0, n = 0;
                for (std::size_t r = 0; r < rows; ++r)
                    for (std::size_t c0 = 0; c0 < cols; c0 += g.group) {
                        const value_block b{w.data() + r * cols + c0, 1, g.group, g.group};
                        const double en = mse_objective(b, calibrate_block(b, c, g.bits, g.sym, scale_type::f16, nullptr), g.bits, g.sym, norm);
                        const double er = mse_objective(b, reference_mse_search(b, c, g.bits, g.sym, scale_type::f16), g.bits, g.sym, norm);
                        sum_new += en;
                        sum_ref += er;
                        worst = std::max(worst, en / er);
                        n_worse += en > er * (1.0 + 1e-6);
                        ++n;
                        CHECK_MESSAGE(en <= 2.0 * er, "dist ", dist, " w", g.bits, g.sym ? "" : "a", " group ", g.group,
                                      " norm ", norm, " row ", r, " col ", c0, ": ", en, " vs every candidate ", er);
                    }
                MESSAGE("dist ", dist, " w", g.bits, std::string(g.sym ? "" : "a"), " group ", g.group, " norm ", norm,
                        ": search / every candidate = ", sum_new / sum_ref, ", groups above it ", n_worse, " of ", n,
                        ", largest ratio of a group ", worst);
                // Same or better: the refits (two zero points where asymmetric) win
                // more on other groups than the fewer grid candidates lose.
                CHECK(sum_new <= sum_ref);
                worse += sum_new > sum_ref;
                ++tensors;
                groups += n;
                groups_worse += n_worse;
                worst_all = std::max(worst_all, worst);
            }
    }
    MESSAGE(worse, " of ", tensors, " tensors above the exhaustive search's error; ", groups_worse, " of ", groups,
            " groups above it, by at most x", worst_all);
}

TEST_CASE("SQNR on N(0,1) meets the published RTN figures; MSE search beats minmax") {
    const std::size_t rows = lowbit_test::reduced() ? 64 : 256, cols = 4096;  // reduced: see below
    const std::vector<float> w = lowbit_test::gaussian(rows * cols, 2024);
    const matrix_view<const float> wv(w.data(), rows, cols);
    auto sqnr = [&](auto tag, const calibration& c) {
        using S = decltype(tag);
        auto q = quantize<S>(wv, c);
        REQUIRE(q);
        auto rep = measure(wv, *q);
        REQUIRE(rep);
        return rep->weight.sqnr_db;
    };
    using A4g128 = scheme<4, per_group<128>, asymmetric>;
    using S4g32 = scheme<4, per_group<32>, symmetric>;
    using S8g32 = scheme<8, per_group<32>, symmetric>;
    const double a4 = sqnr(A4g128{}, calibrate::minmax{}), a4m = sqnr(A4g128{}, calibrate::mse{});
    const double s4 = sqnr(S4g32{}, calibrate::minmax{}), s4m = sqnr(S4g32{}, calibrate::mse{});
    const double s8 = sqnr(S8g32{}, calibrate::minmax{}), s8m = sqnr(S8g32{}, calibrate::mse{});
    MESSAGE("w4g128 asym minmax ", a4, " dB, mse ", a4m, " dB");
    MESSAGE("w4g32 sym minmax ", s4, " dB, mse ", s4m, " dB");
    MESSAGE("w8g32 sym minmax ", s8, " dB, mse ", s8m, " dB");
    CHECK(a4 >= 19.9);
    CHECK(s4 >= 20.2);
    CHECK(s8 >= 45.0);
    CHECK(a4m > a4);
    CHECK(s4m > s4);
    // 8 bits: the search gains ~2e-4 dB on 256 rows; on the reduced 64 rows it ties
    if (lowbit_test::reduced()) CHECK(s8m >= s8);
    else CHECK(s8m > s8);
}


TEST_CASE("quantize is identical for any executor") {
    using S = scheme<4, per_group<64>, asymmetric>;
    const std::size_t rows = 300, cols = 512;
    const std::vector<float> w = lowbit_test::gaussian(rows * cols, 11);
    auto a = quantize<S>(matrix_view<const float>(w.data(), rows, cols), calibrate::mse{});
    thread_pool pool(3);
    auto b = quantize<S>(matrix_view<const float>(w.data(), rows, cols), calibrate::mse{}, pool);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(std::memcmp(a->view().codes, b->view().codes, a->layout().code_bytes()) == 0);
    CHECK(std::memcmp(a->view().scales, b->view().scales, a->layout().n_scales * 2) == 0);
}

// The 16-lane (AVX-512F) passes of the search, picked at run time, against the
// 4-lane ones (the reference every copy must match): the same sums, bit for
// bit, in every mode, on rows of every length around the vector widths and
// the flush interval (256 values), with a row stride, padding-sized tails,
// clipped values, zeros and tiny values (the far path's log2/exp2). Equal
// passes give equal choices, so the search's result does not depend on the
// CPU's vector width; the last check runs the whole search both ways.
TEST_CASE("calibration: the MSE search's 16-lane passes give the 4-lane passes' sums bit for bit") {
    // The program's copy: lowbit::compiled's (header-only programs have none).
    const detail::fit16_fns* t16 = detail::fit16_available();
#if defined(LOWBIT_COMPILED) && defined(__x86_64__) && defined(LOWBIT_VEC4_SSE) && !defined(__FMA__) && \
    !defined(LOWBIT_NO_X86_KERNELS) && (defined(__GNUC__) || defined(__clang__))
    REQUIRE(t16 != nullptr);  // a build that should have them (no silent fallback to 4 lanes)
#endif
    if (!t16 || !detail::cpu().has(arch::avx512)) {
        MESSAGE("no 16-lane passes in this build (header-only, AArch64, FMA builds), or no AVX-512F on this CPU: not run");
        return;
    }
    std::mt19937 rng(1616);
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    std::uniform_real_distribution<float> unif(0.0f, 1.0f);
    const std::size_t lengths[] = {1, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 20, 24, 31, 32, 33, 40, 48, 63, 64, 65,
                                   127, 128, 129, 255, 256, 257, 263, 271, 300, 512, 520, 1000, 2053};
    std::vector<float> x;
    auto same = [](double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; };
    std::size_t blocks = 0, mismatches = 0;
    for (const std::size_t cols : lengths)
        for (const std::size_t rows : {std::size_t{1}, std::size_t{3}}) {
            const std::size_t stride = rows == 1 ? cols : cols + 5;
            x.assign(rows * stride, 0.0f);
            for (float& v : x) {
                const float u = unif(rng);
                v = u < 0.05f ? 8.0f * gauss(rng) : u < 0.1f ? 0.0f : u < 0.12f ? 1e-12f * gauss(rng) : gauss(rng);
            }
            const value_block b{x.data(), rows, cols, stride};
            for (const int bits : {2, 4, 8})
                for (const bool sym : {true, false})
                    for (const float norm : {2.4f, 2.0f, 3.0f, 1.5f}) {
                        const qparams mm = minmax_params(b, bits, sym, scale_type::f32);
                        REQUIRE(mm.scale > 0.0f);
                        calibrate::mse m;
                        m.norm = norm;
                        const detail::mse_searcher s(b, calibration{m}, bits, sym, scale_type::f32, mm.scale);
                        detail::fit_candidate fc[4];
                        const float fs[4] = {1.0f, 0.83f, 0.5f, 0.21f};  // 0.21: most values clipped
                        // Asymmetric: min/max's zero point and one beside it, in the code range as
                        // every candidate of the search (0, the passes' padding, is then exact).
                        const float z2 = mm.zero > 0.0f ? mm.zero - 1.0f : mm.zero + 1.0f;
                        for (int j = 0; j < 4; ++j) fc[j] = s.candidate(mm.scale * fs[j], sym || j % 2 == 0 ? mm.zero : z2);
                        ++blocks;
                        auto check_fit = [&](auto mode) {
                            constexpr detail::fit_mode M = decltype(mode)::value;
                            for (int j = 0; j < 4; ++j) {
                                const detail::fit_sums a = detail::fit_pass4<M>(x.data(), rows, cols, stride, fc[j], norm);
                                const detail::fit_sums w = t16->fit[static_cast<int>(M)](x.data(), rows, cols, stride, fc[j], norm);
                                const bool eq = same(a.err, w.err) && same(a.w, w.w) && same(a.wk, w.wk) && same(a.wk2, w.wk2) &&
                                                same(a.wy, w.wy) && same(a.wyk, w.wyk);
                                mismatches += !eq;
                                CHECK_MESSAGE(eq, "fit mode ", static_cast<int>(M), " rows ", rows, " cols ", cols, " bits ", bits,
                                              " sym ", sym, " norm ", norm, " candidate ", j, ": err ", a.err, " vs ", w.err);
                            }
                        };
                        check_fit(std::integral_constant<detail::fit_mode, detail::fit_mode::l2_error>{});
                        check_fit(std::integral_constant<detail::fit_mode, detail::fit_mode::l2_fit>{});
                        check_fit(std::integral_constant<detail::fit_mode, detail::fit_mode::pow_error>{});
                        check_fit(std::integral_constant<detail::fit_mode, detail::fit_mode::pow_fit>{});
                        for (const bool exact : {false, true}) {
                            double e4[4], e16[4], e4l[4], e16l[4];
                            detail::scan_pass4<true, 4>(x.data(), rows, cols, stride, fc, norm, e4, exact);
                            t16->scan[1][3](x.data(), rows, cols, stride, fc, norm, e16, exact);
                            detail::scan_pass4<false, 3>(x.data(), rows, cols, stride, fc, norm, e4l, exact);
                            t16->scan[0][2](x.data(), rows, cols, stride, fc, norm, e16l, exact);
                            for (int j = 0; j < 4; ++j) {
                                const bool eq = same(e4[j], e16[j]) && (j == 3 || same(e4l[j], e16l[j]));
                                mismatches += !eq;
                                CHECK_MESSAGE(eq, "scan rows ", rows, " cols ", cols, " bits ", bits, " sym ", sym, " norm ", norm,
                                              " exact ", exact, " candidate ", j, ": ", e4[j], " vs ", e16[j]);
                            }
                        }
                    }
        }
    MESSAGE(blocks, " blocks x 4 candidates, ", mismatches, " mismatches");
    // The whole search, through quantize, with the kernels' arch forced to
    // sse2 (4-lane passes) and back to automatic (16 lanes).
    const std::vector<float> w = lowbit_test::gaussian(64 * 512, 77);
    const matrix_view<const float> wv(w.data(), 64, 512);
    using A = scheme<4, per_group<32>, asymmetric>;
    REQUIRE(force_arch(arch::sse2));
    auto q4 = quantize<A>(wv, calibrate::mse{});
    CHECK(detail::fit16_active() == nullptr);
    REQUIRE(force_arch(arch::automatic));
    CHECK(detail::fit16_active() == t16);
    auto q16 = quantize<A>(wv, calibrate::mse{});
    REQUIRE(q4);
    REQUIRE(q16);
    CHECK(std::memcmp(q4->view().codes, q16->view().codes, q4->layout().code_bytes()) == 0);
    CHECK(std::memcmp(q4->view().scales, q16->view().scales, q4->layout().n_scales * 2) == 0);
    CHECK(std::memcmp(q4->view().zeros, q16->view().zeros, q4->layout().n_scales) == 0);
}

// calibrate_groups (what quantize runs for the whole groups of a row) and the
// search of several groups at once, one a vector lane (detail::mse_lanes, on
// every group size it can take: 16 to 256), against calibrate_block on each
// group: the same parameters, bit for bit. The lanes are 16 with the AVX-512F
// passes, 4 or 8 otherwise (both run here where the CPU has AVX-512F); both
// searches skip grid candidates whose lower bound (clip_bound) cannot beat a
// group's best so far: none of that may change a group's result. Rows of 35 groups
// (whole batches and a rest) mixing the kinds of the sweep above per group --
// Gaussian, one outlier, constant, zeros, one sign, on a grid, sparse, tiny
// and huge magnitudes -- so the lanes of a batch differ; widths 1 to 8, both
// symmetries, norms 2.4, 2, 3 and 1.5, f16 and f32 scales, group sizes that
// take the lanes (16 ... 256) and two that do not (8, 40).
TEST_CASE("calibration: calibrate_groups gives calibrate_block's parameters") {
    std::mt19937 rng(2121);
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    std::uniform_real_distribution<float> unif(0.0f, 1.0f);
    const std::size_t n_groups = 35;
    std::vector<float> x;
    std::vector<qparams> got(n_groups), lanes(n_groups);
    std::size_t checked = 0, mismatches = 0;
    auto run = [&](const char* arch_name) {
        std::size_t gsize_index = 0;
        for (const std::size_t G : {16, 32, 64, 128, 256, 8, 40}) {
            ++gsize_index;
            x.assign(n_groups * G, 0.0f);
            for (std::size_t g = 0; g < n_groups; ++g) {
                const int kind = static_cast<int>(g % 9);
                const float mag = g % 11 == 3 ? 1e-30f : g % 13 == 5 ? 1e30f : 0.02f;
                float* v = x.data() + g * G;
                for (std::size_t i = 0; i < G; ++i) {
                    float y;
                    switch (kind) {
                        case 0: y = gauss(rng); break;
                        case 1: y = unif(rng) < 0.03f ? 8.0f * gauss(rng) : gauss(rng); break;
                        case 2: y = 0.7f; break;
                        case 3: y = i % 3 == 1 ? -0.0f : 0.0f; break;  // (signed zeros: their min/max order)
                        case 4: y = std::fabs(gauss(rng)); break;
                        case 5: y = std::round(gauss(rng) * 4.0f); break;
                        case 6: y = unif(rng) < 0.9f ? (i % 2 == 0 ? -0.0f : 0.0f) : gauss(rng); break;
                        case 7: y = -std::fabs(gauss(rng)) - 3.0f; break;
                        default: y = gauss(rng) * 0.1f; break;
                    }
                    v[i] = y * mag;
                }
                if (kind == 8) v[G / 2] = 30.0f * mag;  // one outlier
            }
            for (const scale_type st : {scale_type::f16, scale_type::f32})
                for (int bits = 1; bits <= 8; ++bits)
                    for (const bool sym : {true, false})
                        for (const float norm : {2.4f, 2.0f, 3.0f, 1.5f}) {
                            if (st == scale_type::f16 && bits < 8 && norm == 1.5f) continue;  // (fewer cases: norm 1.5 once per width)
                            // AArch64 (LOWBIT_TEST_SAMPLED_GRID): the search has three kinds
                            // of norm (2: the l2 passes; 2.4: its own plans; any other: the
                            // general ones, calibrate.hpp). Norms 2 and 2.4 run for every
                            // group size, width, symmetry and scale type; of 3 and 1.5 (the
                            // general kind) one, alternating with group size and width, so
                            // that each still meets every width, symmetry, scale type and
                            // group size. x86 (ASan+UBSan) runs them all.
                            if (sampled_grid && (norm == 3.0f) != ((gsize_index + static_cast<std::size_t>(bits)) % 2 == 0) &&
                                (norm == 3.0f || norm == 1.5f))
                                continue;
                            calibrate::mse m;
                            m.norm = norm;
                            const calibration c = m;
                            std::fill(got.begin(), got.end(), qparams{});
                            calibrate_groups(x.data(), n_groups, G, c, bits, sym, st, nullptr, got.data());
                            // The lanes' search itself on every size it can take (calibrate_groups gives
                            // it only those where it pays): its whole batches, the rest as calibrate_groups.
                            std::fill(lanes.begin(), lanes.end(), qparams{});
                            std::size_t j = 0;
                            if (detail::mse_lanes::fits(G)) {
                                const detail::fit16_fns* wide = detail::fit16_active();
                                const std::size_t w = detail::lanes_width(wide);
                                for (; j + w <= n_groups; j += w)
                                    detail::mse_lanes::run(x.data() + j * G, G, c, bits, sym, st, wide, lanes.data() + j);
                            }
                            for (; j < n_groups; ++j) lanes[j] = got[j];
                            for (std::size_t g = 0; g < n_groups; ++g) {
                                const float* v = x.data() + g * G;
                                bool huge = false;
                                for (std::size_t i = 0; i < G; ++i) huge = huge || std::fabs(v[i]) > 1e20f;
                                if (huge && st == scale_type::f16) continue;  // (quantize refuses such groups)
                                const qparams want = calibrate_block({v, 1, G, G}, c, bits, sym, st, nullptr);
                                auto same = [&](const qparams& q) {
                                    return std::memcmp(&want.scale, &q.scale, sizeof(float)) == 0 &&
                                           std::memcmp(&want.zero, &q.zero, sizeof(float)) == 0 &&
                                           want.stored_scale == q.stored_scale && want.stored_zero == q.stored_zero;
                                };
                                const bool eq = same(got[g]) && same(lanes[g]);
                                ++checked;
                                mismatches += !eq;
                                if (!eq)
                                    CHECK_MESSAGE(eq, arch_name, " G ", G, " group ", g, " bits ", bits, " sym ", sym, " norm ", norm,
                                                  " scale ", want.scale, " vs ", got[g].scale, " / ", lanes[g].scale, " zero ", want.zero,
                                                  " vs ", got[g].zero, " / ", lanes[g].zero);
                            }
                        }
        }
    };
    run("active");
    if (detail::fit16_active() != nullptr) {  // the 16-lane passes ran: the 4-lane ones too
        REQUIRE(force_arch(arch::sse2));
        CHECK(detail::fit16_active() == nullptr);
        run("sse2");
        REQUIRE(force_arch(arch::automatic));
    }
    MESSAGE(checked, " groups, ", mismatches, " mismatches");
    CHECK(checked > 0);
    CHECK(mismatches == 0);
}

// ---- calibrate::mse at norm 2 on symmetric 2-bit groups: the sweep over the
// sorted magnitudes (quant/detail/ternary_l2.hpp, calibrate.hpp's
// ternary_l2_search), against plain references in long double.
namespace {
// The squared error of step s on x, levels -s, 0, s: each value to the nearer
// of 0 and its own sign's level (what round-to-nearest does; a tie errs the
// same either way).
long double ternary_error(const float* x, std::size_t n, long double s) {
    long double e = 0.0L;
    for (std::size_t i = 0; i < n; ++i) {
        const long double a = std::fabs(static_cast<long double>(x[i]));
        e += std::min(a * a, (a - s) * (a - s));
    }
    return e;
}
// The least of ternary_error over every real step, found without the sweep's
// segment argument: the mean of the k largest magnitudes for every k (the
// stationary points of every parabola, inside their segment or not), every
// breakpoint 2|x|, and 4096 steps spread over (0, 2 max|x|]. Returns the step.
long double ternary_best_step(const float* x, std::size_t n) {
    std::vector<long double> a(n);
    for (std::size_t i = 0; i < n; ++i) a[i] = std::fabs(static_cast<long double>(x[i]));
    std::sort(a.begin(), a.end(), [](long double u, long double v) { return u > v; });
    long double best_s = 0.0L, best_e = ternary_error(x, n, 0.0L), sum = 0.0L;
    auto try_s = [&](long double s) {
        if (!(s > 0.0L)) return;
        const long double e = ternary_error(x, n, s);
        if (e < best_e) {
            best_e = e;
            best_s = s;
        }
    };
    for (std::size_t k = 0; k < n; ++k) {
        sum += a[k];
        try_s(sum / static_cast<long double>(k + 1));
        try_s(2.0L * a[k]);
    }
    for (int i = 1; i <= 4096; ++i) try_s(2.0L * a[0] * i / 4096.0L);
    return best_s;
}
// Groups of the kinds the brief of the sweep names: Gaussian, one outlier,
// all equal, zeros, signed zeros among values, one value, two values, on a
// grid, magnitudes just around powers of two (steps whose storable
// neighbours are at the ends of a binade), sparse.
void ternary_group(std::mt19937& rng, int kind, std::size_t n, float mag, std::vector<float>& x) {
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    std::uniform_real_distribution<float> unif(0.0f, 1.0f);
    x.assign(n, 0.0f);
    for (std::size_t i = 0; i < n; ++i) {
        float v;
        switch (kind) {
            case 0: v = gauss(rng); break;
            case 1: v = i == n / 2 ? 30.0f : gauss(rng); break;                              // one outlier
            case 2: v = 0.7f; break;                                                         // all equal
            case 3: v = i % 2 ? -0.0f : 0.0f; break;                                         // zeros, both signs
            case 4: v = unif(rng) < 0.5f ? (i % 2 ? -0.0f : 0.0f) : gauss(rng); break;       // signed zeros among values
            case 5: v = i == 0 ? -1.5f : 0.0f; break;                                        // one value
            case 6: v = unif(rng) < 0.5f ? 1.3f : -0.4f; break;                              // two values
            case 7: v = std::round(gauss(rng) * 3.0f); break;                                // on a grid
            case 8: v = (unif(rng) < 0.5f ? -1.0f : 1.0f) * std::ldexp(1.0f + (unif(rng) - 0.5f) * 1e-3f, -2); break;
            default: v = unif(rng) < 0.85f ? 0.0f : gauss(rng); break;                       // sparse
        }
        x[i] = v * mag;
    }
}
}  // namespace

TEST_CASE("calibration: the 2-bit sweep sorts, and its step has the least squared error over every step") {
    std::mt19937 rng(3232);
    std::vector<float> x, a(detail::ternary_l2_max + 1), want;
    std::size_t groups = 0;
    for (int kind = 0; kind < 10; ++kind)
        for (const std::size_t n : {1, 2, 5, 15, 16, 17, 31, 32, 33, 64, 200, 256})
            for (const float mag : {1.0f, 0.02f, 1e-30f, 1e30f}) {
                ternary_group(rng, kind, n, mag, x);
                for (std::size_t i = 0; i < n; ++i) a[i] = std::fabs(x[i]);
                REQUIRE(detail::sort_magnitudes_down(a.data(), n));
                want.resize(n);
                for (std::size_t i = 0; i < n; ++i) want[i] = std::fabs(x[i]);
                std::sort(want.begin(), want.end(), [](float u, float v) { return u > v; });
                CHECK(std::equal(want.begin(), want.end(), a.begin()));
                a[n] = 0.0f;  // (ternary_l2_step reads it as the last segment's lower end)
                const double s = detail::ternary_l2_step(a.data(), n);
                const long double ref = ternary_best_step(x.data(), n);
                const long double es = ternary_error(x.data(), n, s), er = ternary_error(x.data(), n, ref);
                CHECK_MESSAGE(es <= er * (1.0L + 1e-12L), "kind ", kind, " n ", n, " magnitude ", mag, ": step ", s, " errs ",
                              static_cast<double>(es), ", the reference's ", static_cast<double>(ref), " ",
                              static_cast<double>(er));
                CHECK((s > 0.0) == (ref > 0.0L));  // 0 only for a group of zeros
                ++groups;
            }
    float big[detail::ternary_l2_max + 1] = {};
    CHECK_FALSE(detail::sort_magnitudes_down(big, detail::ternary_l2_max + 1));  // (over the sweep's size: mse_searcher's)
    MESSAGE(groups, " groups");
}

// What calibrate_block returns at norm 2 for a symmetric 2-bit group: never a
// larger error than min/max's, nor than the two storable steps on either side
// of the least-error real step (ternary_best_step: the reference finds it
// without the sweep), and within what the storable steps' spacing allows of
// the best storable step near it (the error's square root moves by at most
// sqrt(n) |s - s'| between steps s and s'; 512 storable steps each side are
// tried). Groups whose min/max step has no finite reciprocal take the
// exhaustive scan (detail::mse_scan) as before: only the first bound there.
TEST_CASE("calibration: at norm 2 a symmetric 2-bit group gets the storable step nearest the least-error step") {
    std::mt19937 rng(3233);
    std::vector<float> x;
    calibrate::mse m;
    m.norm = 2.0f;
    const calibration c = m;
    std::size_t groups = 0, swept = 0, better = 0;
    for (int kind = 0; kind < 10; ++kind)
        for (const std::size_t n : {1, 5, 16, 17, 32, 40, 64, 256})
            for (const float mag : {1.0f, 0.02f, 3e-5f, 1e-30f, 1e-40f, 1e30f})
                for (const scale_type st : {scale_type::f16, scale_type::f32, scale_type::bf16}) {
                    if (mag > 1e20f && st == scale_type::f16) continue;  // f16 steps overflow: quantize refuses such groups
                    ternary_group(rng, kind, n, mag, x);
                    const value_block b{x.data(), 1, n, n};
                    const qparams got = calibrate_block(b, c, 2, true, st, nullptr);
                    const qparams mm = minmax_params(b, 2, true, st);
                    const long double eg = ternary_error(x.data(), n, got.scale), em = ternary_error(x.data(), n, mm.scale);
                    ++groups;
                    better += eg < em;
                    CHECK_MESSAGE(eg <= em * (1.0L + 1e-9L), "kind ", kind, " n ", n, " magnitude ", mag, " scale type ", int(st),
                                  ": ", static_cast<double>(eg), " above min/max's ", static_cast<double>(em));
                    if (!(mm.scale > 0.0f) || !std::isfinite(10.0f / mm.scale)) continue;
                    ++swept;
                    // The storable steps around the least-error step: codes of positive steps are monotone.
                    const long double ref = ternary_best_step(x.data(), n);
                    if (!(ref > 0.0L)) continue;
                    const std::uint32_t c0 = encode_scale(st, static_cast<float>(ref));
                    if (c0 == 0) continue;  // (below the least storable step: min/max's is the only one near)
                    const std::uint32_t top = max_stored_scale(st);
                    long double e_near = em, e_window = em;
                    for (std::uint32_t k = c0 > 512 ? c0 - 512 : 1; k <= c0 + 512 && k <= top; ++k) {
                        const float s = decode_scale(st, k);
                        if (!(s > 0.0f)) continue;
                        const long double e = ternary_error(x.data(), n, s);
                        e_window = std::min(e_window, e);
                        const float below = decode_scale(st, k - 1), above = k < top ? decode_scale(st, k + 1) : s;
                        if ((s <= ref && above > ref) || (s >= ref && below < ref)) e_near = std::min(e_near, e);  // the two neighbours
                    }
                    const std::uint32_t cn = c0 >= top ? top : c0;
                    const long double spacing = static_cast<long double>(decode_scale(st, cn + (cn < top))) - decode_scale(st, cn - 1);
                    CHECK_MESSAGE(eg <= e_near * (1.0L + 1e-9L), "kind ", kind, " n ", n, " magnitude ", mag, " scale type ", int(st),
                                  ": ", static_cast<double>(eg), " above the neighbours' ", static_cast<double>(e_near), " (step ",
                                  got.scale, ", least-error step ", static_cast<double>(ref), ")");
                    CHECK_MESSAGE(std::sqrt(eg) <= std::sqrt(e_window) + std::sqrt(static_cast<long double>(n)) * spacing,
                                  "kind ", kind, " n ", n, " magnitude ", mag, " scale type ", int(st), ": ",
                                  static_cast<double>(eg), " vs the best storable step's ", static_cast<double>(e_window));
                }
    MESSAGE(groups, " groups, ", swept, " by the sweep; below min/max's error in ", better);
    CHECK(swept > groups / 2);
}

// Where the sweep does not apply, calibrate_block is mse_searcher's search as
// before, bit for bit: blocks over ternary_l2_max values (a per-channel row),
// and blocks holding NaN or Inf (which the sweep's sort cannot order).
TEST_CASE("calibration: norm-2 2-bit groups the sweep does not take get mse_searcher's parameters") {
    std::mt19937 rng(3234);
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    calibrate::mse m;
    m.norm = 2.0f;
    const calibration c = m;
    std::size_t checked = 0;
    for (const std::size_t n : {16, 64, 257, 300, 2048})
        for (int odd = 0; odd < 3; ++odd)
            for (const scale_type st : {scale_type::f16, scale_type::f32}) {
                std::vector<float> x(n);
                for (float& v : x) v = gauss(rng);
                if (odd == 1) x[n / 3] = std::numeric_limits<float>::quiet_NaN();
                if (odd == 2) x[n / 2] = -std::numeric_limits<float>::infinity();
                if (n <= detail::ternary_l2_max && odd == 0) continue;  // (the sweep's: the cases above)
                const value_block b{x.data(), 1, n, n};
                float lo = std::numeric_limits<float>::infinity(), hi = -lo;
                b.for_each([&](float v) {
                    lo = std::min(lo, v);
                    hi = std::max(hi, v);
                });
                const qparams mm = params_for_range(lo, hi, 2, true, st);
                const qparams got = calibrate_block(b, c, 2, true, st, nullptr);
                qparams want = mm;
                if (mm.scale > 0.0f && std::isfinite(10.0f / mm.scale))
                    want = detail::mse_searcher(b, c, 2, true, st, mm.scale).run(lo, hi, mm);
                else if (mm.scale > 0.0f)
                    want = detail::mse_scan(b, lo, hi, mm, c, 2, true, st);
                const bool same = std::memcmp(&got.scale, &want.scale, sizeof(float)) == 0 &&
                                  std::memcmp(&got.zero, &want.zero, sizeof(float)) == 0 &&
                                  got.stored_scale == want.stored_scale && got.stored_zero == want.stored_zero;
                CHECK_MESSAGE(same, "n ", n, " odd ", odd, " scale type ", int(st), ": ",
                              got.scale, " vs ", want.scale);
                ++checked;
            }
    CHECK(checked == 26);
}
