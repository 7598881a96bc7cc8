// Hostile input, quantization family: quantize / quantize_into (templated and
// run-time twin), params_for_range / quantize_value, calibration, metrics,
// measure, footprint. docs/reliability.md lists every case and its outcome.
#include <cmath>
#include <cstring>
#include <vector>

#include <lowbit/lowbit.hpp>

#include "hostile_util.hpp"
#include "test_util.hpp"

using namespace lowbit;
using namespace hostile;

namespace {

// A qmatrix<S>'s storage prepared for quantize_into, every byte a sentinel.
template <class S>
struct sentinel_qmatrix {
    qlayout l;
    sentinel codes, scales, zeros;
    sentinel_qmatrix(std::size_t rows, std::size_t cols, int group = 0, std::size_t scale_offset = 0)
        : l(*qlayout::make(S::runtime(group), rows, cols)),
          codes(l.code_bytes()),
          scales(l.n_scales * sizeof(typename S::scale_storage), scale_offset),
          zeros(l.n_zeros + 1) {}
    qmatrix_mut_view<S> view() {
        qmatrix_mut_view<S> v;
        v.codes = codes.base();
        v.scales = scales.as<typename S::scale_storage>();
        v.zeros = S::is_symmetric ? nullptr : zeros.base();
        v.rows = l.rows;
        v.cols = l.cols;
        v.group = l.group;
        v.row_bytes = l.row_bytes;
        return v;
    }
    bool untouched() const { return codes.untouched() && scales.untouched() && zeros.untouched(); }
};

using S4g = scheme<4, per_group<32>, asymmetric, scale_f16>;

}  // namespace

TEST_CASE("hostile quant: NaN and +-Inf anywhere in w are refused, naming the element; output untouched") {
    const std::size_t rows = 3, cols = 70;
    for (float bad : non_finite_values())
        for (std::size_t at : {std::size_t{0}, std::size_t{69}, std::size_t{101}, rows * cols - 1}) {
            CAPTURE(bad);
            CAPTURE(at);
            std::vector<float> w = lowbit_test::gaussian(rows * cols, 1);
            w[at] = bad;
            const matrix_view<const float> wv(w.data(), rows, cols);
            sentinel_qmatrix<S4g> out(rows, cols);
            const status st = quantize_into<S4g>(wv, out.view());
            CHECK(st.code() == errc::non_finite);
            char where[48];
            std::snprintf(where, sizeof where, "w(%zu, %zu)", at / cols, at % cols);
            CHECK(says(st, where));
            CHECK(out.untouched());
            // every calibration, every granularity, the run-time twin
            CHECK(quantize<scheme<3, per_tensor>>(wv, calibrate::percentile{}).error().code() == errc::non_finite);
            CHECK(quantize<scheme<8, per_channel, symmetric, scale_f32>>(wv, calibrate::mse{}).error().code() == errc::non_finite);
            runtime_scheme rs;
            rs.bits = 2;
            rs.group = 16;
            CHECK(quantize(rs, wv).error().code() == errc::non_finite);
        }
}

TEST_CASE("hostile quant: denormal weights quantize to finite values within a denormal of the input") {
    for (int mixed = 0; mixed < 2; ++mixed) {
        std::vector<float> w(2 * 64);
        for (std::size_t i = 0; i < w.size(); ++i)
            w[i] = static_cast<float>(static_cast<int>(i % 9) - 4) * denorm_() * 1000.0f;  // all subnormal
        if (mixed) w[5] = 1.0f;  // one normal value in group 0 of row 0
        const matrix_view<const float> wv(w.data(), 2, 64);
        auto a = quantize<scheme<4, per_group<32>, symmetric, scale_f32>>(wv, calibrate::mse{});
        auto b = quantize<scheme<4, per_group<32>, asymmetric, scale_f16>>(wv);
        auto c = quantize<scheme<8, per_tensor, asymmetric, scale_bf16>>(wv, calibrate::percentile{99.0f});
        REQUIRE(a);
        REQUIRE(b);
        REQUIRE(c);
        for (std::size_t r = 0; r < 2; ++r)
            for (std::size_t col = 0; col < 64; ++col) {
                const float x = wv(r, col);
                const float tol = mixed && r == 0 && col < 32 ? 0.1f : 1e-37f;  // group 0 of row 0 holds 1.0
                CHECK(std::isfinite(a->view().value(r, col)));
                CHECK(std::fabs(a->view().value(r, col) - x) <= tol);
                CHECK(std::fabs(b->view().value(r, col) - x) <= (tol > 1e-30f ? tol : 1e-7f));  // f16 steps >= 2^-24
                CHECK(std::isfinite(c->view().value(r, col)));
            }
    }
}

TEST_CASE("hostile quant: huge magnitudes quantize to finite values with f32/bf16 scales; f16 scales refuse, naming the group") {
    const float big = huge_();
    std::vector<float> w = {big, -big, big / 3, 0.0f, -big / 7, 1.0f, -1.0f, big};
    const matrix_view<const float> wv(w.data(), 1, 8);
    // symmetric f32: step = FLT_MAX / 7 is representable; values come back within a step/2
    auto q = quantize<scheme<4, per_channel, symmetric, scale_f32>>(wv, calibrate::mse{});
    REQUIRE(q);
    for (std::size_t c = 0; c < 8; ++c) {
        CHECK(std::isfinite(q->view().value(0, c)));
        CHECK(std::fabs(static_cast<double>(q->view().value(0, c)) - w[c]) <= 0.5001 * q->view().scale(0, 0));
    }
    // asymmetric: hi - lo = 2 FLT_MAX overflows f32 itself; 1-bit symmetric: the step 2 amax does. Both
    // get a capped scale (every level finite); the values beyond the outermost level clip to it (<= 2 s).
    auto qa = quantize<scheme<4, per_channel, asymmetric, scale_f32>>(wv);
    REQUIRE(qa);
    auto q1 = quantize<scheme<1, per_channel, symmetric, scale_f32>>(wv);
    REQUIRE(q1);
    for (std::size_t c = 0; c < 8; ++c) {
        CHECK(std::isfinite(qa->view().value(0, c)));
        CHECK(std::fabs(static_cast<double>(qa->view().value(0, c)) - w[c]) <= 2.0 * qa->view().scale(0, 0));
        CHECK(std::isfinite(q1->view().value(0, c)));
        CHECK(std::fabs(static_cast<double>(q1->view().value(0, c)) - w[c]) <= 0.5 * q1->view().scale(0, 0));
    }
    // f16 scales overflow: refused naming the row and group, output untouched; bf16 (f32's range) works
    sentinel_qmatrix<scheme<8, per_group<4>, symmetric, scale_f16>> out(1, 8);
    const status st = quantize_into<scheme<8, per_group<4>, symmetric, scale_f16>>(wv, out.view());
    CHECK(st.code() == errc::invalid_argument);
    CHECK(says(st, "w row 0, group 0 (columns 0..3)"));
    CHECK(says(st, "overflows f16 scales"));
    CHECK(out.untouched());
    CHECK(says(quantize<scheme<8, per_tensor, symmetric, scale_f16>>(wv).error(), "per-tensor step overflows f16 scales"));
    CHECK(quantize<scheme<8, per_group<4>, symmetric, scale_bf16>>(wv, calibrate::percentile{99.0f}));
    // the f16 check is per group: rows that each fit are accepted even when the tensor's range does not
    // (asymmetric 8-bit, f16: a step of 1e7 / 255 fits, 2e7 / 255 does not)
    std::vector<float> two = {-1e7f, 0.0f, 0.0f, 1e7f};
    const matrix_view<const float> tv(two.data(), 2, 2);
    CHECK(quantize<scheme<8, per_channel, asymmetric, scale_f16>>(tv));
    CHECK(says(quantize<scheme<8, per_tensor, asymmetric, scale_f16>>(tv).error(), "per-tensor step overflows f16"));
}

TEST_CASE("hostile quant: empty tensors and zero-size groups are refused") {
    std::vector<float> w(64, 1.0f);
    for (auto sh : {std::pair<std::size_t, std::size_t>{0, 64}, {64, 0}, {0, 0}}) {
        const auto e = quantize<S4g>(matrix_view<const float>(w.data(), sh.first, sh.second));
        CHECK(e.error().code() == errc::shape_mismatch);
        CHECK(says(e.error(), "empty"));
        CHECK(quantize<S4g>(matrix_view<const float>(nullptr, sh.first, sh.second)).error().code() == errc::shape_mismatch);
    }
    const matrix_view<const float> wv(w.data(), 2, 32);
    quantize_options o;
    for (int g : {0, -1, -128}) {
        o.group = g;
        CHECK(says(quantize<scheme<4, per_group_dynamic>>(wv, o).error(), "group"));
        runtime_scheme rs;
        rs.group = g;
        CHECK(quantize(rs, wv).error().code() == errc::invalid_argument);
        CHECK(says(rs.validate(), "scheme.group"));
    }
    // a writable view whose group is 0 (would divide by zero) is refused
    sentinel_qmatrix<scheme<4, per_group_dynamic>> out(2, 32, 8);
    auto v = out.view();
    v.group = 0;
    CHECK(says(quantize_into<scheme<4, per_group_dynamic>>(wv, v), "group = 0"));
    CHECK(out.untouched());
    // group larger than the row: one short group per row, fine
    o.group = 1 << 20;
    CHECK(quantize<scheme<4, per_group_dynamic>>(wv, o));
}

TEST_CASE("hostile quant: mismatched shapes, bad strides, null pointers, bad views") {
    std::vector<float> w = lowbit_test::gaussian(4 * 64, 2);
    const matrix_view<const float> wv(w.data(), 4, 64);
    sentinel_qmatrix<S4g> out(4, 64);
    CHECK(quantize_into<S4g>(matrix_view<const float>(w.data(), 3, 64), out.view()).code() == errc::shape_mismatch);
    CHECK(quantize_into<S4g>(matrix_view<const float>(w.data(), 4, 63), out.view()).code() == errc::shape_mismatch);
    CHECK(says(quantize_into<S4g>(matrix_view<const float>(w.data(), 4, 64, 60), out.view()), "stride"));
    CHECK(says(quantize_into<S4g>(matrix_view<const float>(nullptr, 4, 64), out.view()), "w is null"));
    // rows x stride past the address space (row 1 would wrap onto other memory; it used to be read)
    CHECK(says(quantize_into<S4g>(matrix_view<const float>(w.data(), 4, 64, SIZE_MAX / 2), out.view()), "runs past the address space"));
    runtime_scheme r4;
    r4.bits = 4;
    r4.group = 32;
    const std::size_t back = SIZE_MAX - 63;  // row 1 at w.data() - 64 floats, mod 2^64
    CHECK(says(quantize(r4, matrix_view<const float>(w.data(), 2, 64, back)).error(), "runs past the address space"));
    auto v = out.view();
    v.codes = nullptr;
    CHECK(says(quantize_into<S4g>(wv, v), "null"));
    v = out.view();
    v.zeros = nullptr;
    CHECK(says(quantize_into<S4g>(wv, v), "zeros is null"));
    v = out.view();
    v.row_bytes = 31;  // 64 4-bit codes need 32 bytes
    CHECK(says(quantize_into<S4g>(wv, v), "row_bytes"));
    v = out.view();
    v.group = 16;  // the scheme says 32
    CHECK(says(quantize_into<S4g>(wv, v), "group"));
    CHECK(out.untouched());
    // per-channel views must have group == cols
    sentinel_qmatrix<scheme<4, per_channel>> pc(4, 64);
    auto pv = pc.view();
    pv.group = 32;
    CHECK(says(quantize_into<scheme<4, per_channel>>(wv, pv), "must equal cols"));
    CHECK(pc.untouched());
    // bad run-time schemes
    runtime_scheme rs;
    rs.bits = 9;
    CHECK(says(quantize(rs, wv).error(), "scheme.bits = 9"));
    rs.bits = 0;
    CHECK(says(quantize(rs, wv).error(), "scheme.bits = 0"));
    rs.bits = 4;
    rs.gran = static_cast<granularity>(7);
    CHECK(quantize(rs, wv).error().code() == errc::invalid_argument);
    rs.gran = granularity::per_group;
    rs.scale = static_cast<scale_type>(9);
    CHECK(quantize(rs, wv).error().code() == errc::invalid_argument);
    CHECK(!parse_scheme(nullptr));
    CHECK(!parse_scheme("w4g0"));
    CHECK(!parse_scheme("w4g99999999999999999999"));
    CHECK(!parse_scheme("w9"));
}

TEST_CASE("hostile quant: output overlapping the input, and misaligned pointers, are refused") {
    std::vector<float> w = lowbit_test::gaussian(4 * 64, 3);
    const matrix_view<const float> wv(w.data(), 4, 64);
    sentinel_qmatrix<S4g> out(4, 64);
    const std::vector<float> keep = w;
    auto v = out.view();
    v.codes = reinterpret_cast<std::uint8_t*>(w.data() + 64);  // codes would overwrite rows 1..
    CHECK(says(quantize_into<S4g>(wv, v), "overlap"));
    v = out.view();
    v.scales = reinterpret_cast<std::uint16_t*>(w.data() + 200);
    CHECK(says(quantize_into<S4g>(wv, v), "overlap"));
    v = out.view();
    v.zeros = reinterpret_cast<std::uint8_t*>(w.data());
    CHECK(says(quantize_into<S4g>(wv, v), "overlap"));
    CHECK(std::memcmp(keep.data(), w.data(), w.size() * 4) == 0);
    CHECK(out.untouched());

    // w not 4-byte aligned; scales not aligned to their type
    sentinel src(4 * 64 * sizeof(float), 1);
    std::memcpy(src.base(), w.data(), w.size() * 4);
    CHECK(says(quantize_into<S4g>(matrix_view<const float>(src.as<const float>(), 4, 64), out.view()), "aligned"));
    sentinel_qmatrix<S4g> odd(4, 64, 0, 1);
    CHECK(says(quantize_into<S4g>(wv, odd.view()), "aligned"));
    CHECK(odd.untouched());
    CHECK(out.untouched());
    // codes and zeros are bytes: any address is fine
    sentinel_qmatrix<S4g> fine(4, 64);
    auto fv = fine.view();
    fv.codes += 0;  // (base() is 64-aligned; a +1 offset is exercised by the codes buffer below)
    sentinel codes1(fine.l.code_bytes(), 1);
    fv.codes = codes1.base();
    CHECK(quantize_into<S4g>(wv, fv).ok());
}

TEST_CASE("hostile quant: bad calibration settings are refused; calibration of degenerate blocks is defined") {
    std::vector<float> w = lowbit_test::gaussian(2 * 32, 4);
    const matrix_view<const float> wv(w.data(), 2, 32);
    for (float p : {nan_(), inf_(), 50.0f, 100.5f, -1.0f})
        CHECK(says(quantize<S4g>(wv, calibrate::percentile{p}).error(), "calibration.percentile"));
    CHECK(says(quantize<S4g>(wv, calibrate::mse{0, 0.8f, 2.4f}).error(), "calibration.grid"));
    CHECK(says(quantize<S4g>(wv, calibrate::mse{100, nan_(), 2.4f}).error(), "calibration.max_shrink"));
    CHECK(says(quantize<S4g>(wv, calibrate::mse{100, 1.0f, 2.4f}).error(), "calibration.max_shrink"));
    CHECK(says(quantize<S4g>(wv, calibrate::mse{100, 0.8f, nan_()}).error(), "calibration.norm"));
    CHECK(says(quantize<S4g>(wv, calibrate::mse{100, 0.8f, inf_()}).error(), "calibration.norm"));
    // constant, all-zero and single-element blocks under every method
    const float one[1] = {3.0f}, zero[4] = {0, 0, 0, 0};
    for (const calibration& c : {calibration(calibrate::minmax{}), calibration(calibrate::percentile{99.0f}),
                                 calibration(calibrate::mse{})}) {
        float scratch[4];
        const qparams a = calibrate_block({one, 1, 1, 1}, c, 4, false, scale_type::f16, scratch);
        CHECK(std::isfinite(a.scale));
        CHECK(dequantize_value(quantize_value(3.0f, a.scale, a.zero, 4, false), a.scale, a.zero) == doctest::Approx(3.0f).epsilon(0.01));
        const qparams z = calibrate_block({zero, 1, 4, 4}, c, 4, true, scale_type::f32, scratch);
        CHECK(z.scale == 0.0f);
        CHECK(dequantize_value(quantize_value(0.0f, z.scale, z.zero, 4, true), z.scale, z.zero) == 0.0f);
    }
}

TEST_CASE("hostile quant: quantize_value of NaN, +-Inf and huge values is a defined code") {
    // NaN maps to the lowest code, +-Inf to the extremes (no undefined float->int conversion).
    for (int bits = 1; bits <= 8; ++bits)
        for (bool sym : {true, false}) {
            const int lo = min_code(bits, sym), hi = max_code(bits);
            const float z = sym ? symmetric_zero(bits) : 3.0f;
            CHECK(quantize_value(nan_(), 0.5f, z, bits, sym) == (sym && bits == 1 ? 0 : lo));
            CHECK(quantize_value(inf_(), 0.5f, z, bits, sym) == hi);
            CHECK(quantize_value(-inf_(), 0.5f, z, bits, sym) == (sym && bits == 1 ? 0 : lo));
            CHECK(quantize_value(huge_(), 1e-30f, z, bits, sym) == hi);
            CHECK(quantize_value(-huge_(), 1e-30f, z, bits, sym) == (sym && bits == 1 ? 0 : lo));
            CHECK(quantize_value(1.0f, 0.0f, z, bits, sym) <= hi);  // zero step: the zero point
        }
    // params_for_range of an all-zero, a reversed and a denormal range
    CHECK(params_for_range(0.0f, 0.0f, 4, true, scale_type::f16).scale == 0.0f);
    CHECK(params_for_range(1.0f, -1.0f, 4, true, scale_type::f16).scale == 0.0f);  // lo > hi: empty range, zero step
    const qparams d = params_for_range(-denorm_(), denorm_(), 4, false, scale_type::f32);
    CHECK(std::isfinite(d.scale));
    // ranges reaching FLT_MAX: capped so that every level is finite; f16 overflow: +Inf (documented: callers refuse)
    const qparams h = params_for_range(-huge_(), huge_(), 4, false, scale_type::f32);
    CHECK(std::isfinite(h.scale));
    CHECK(static_cast<double>(h.scale) * std::max(h.zero, 15.0f - h.zero) <= static_cast<double>(huge_()));
    CHECK(params_for_range(-huge_(), huge_(), 4, false, scale_type::f16).scale == inf_());
}

TEST_CASE("hostile quant: metrics and measure on hostile input") {
    // compare: NaN in the approximation shows in the statistics, it is not hidden
    std::vector<float> r{1, 2, 3, 4}, a{1, nan_(), 3, 4}, i{1, 2, inf_(), 4};
    CHECK(std::isnan(compare(span<const float>(r), span<const float>(a)).mse));
    CHECK(std::isinf(compare(span<const float>(r), span<const float>(i)).max_abs));
    // lengths that differ: the common prefix is compared and n says how much
    const auto e = compare(span<const float>(r), span<const float>(r.data(), 2));
    CHECK(e.n == 2);
    CHECK(compare(span<const float>(), span<const float>()).n == 0);
    CHECK(compare(span<const float>(), span<const float>()).cosine == 1.0);
    CHECK(compare(span<const float>(nullptr, 0), span<const float>(r)).n == 0);

    std::vector<float> w = lowbit_test::gaussian(8 * 64, 5);
    auto q = quantize<S4g>(matrix_view<const float>(w.data(), 8, 64));
    REQUIRE(q);
    CHECK(measure(matrix_view<const float>(w.data(), 8, 63), *q).error().code() == errc::shape_mismatch);
    CHECK(says(measure(matrix_view<const float>(nullptr, 8, 64), *q).error(), "w"));
    CHECK(says(measure(matrix_view<const float>(w.data(), 8, 64, 10), *q).error(), "stride"));
    CHECK(says(measure(matrix_view<const float>(w.data(), 8, 64, SIZE_MAX / 4), *q).error(), "runs past the address space"));
    CHECK(says(measure(matrix_view<const float>(w.data(), 8, 64), *q, matrix_view<const float>(nullptr, 3, 64)).error(), "x"));
    CHECK(says(measure(matrix_view<const float>(w.data(), 8, 64), *q, matrix_view<const float>(w.data(), 3, 64, 5)).error(),
               "stride"));
    CHECK(measure(matrix_view<const float>(w.data(), 8, 64), *q, matrix_view<const float>(w.data(), 3, 32)).error().code() ==
          errc::shape_mismatch);
    // NaN in the reference weights: reported as NaN statistics, not an error
    w[3] = nan_();
    auto m = measure(matrix_view<const float>(w.data(), 8, 64), *q);
    REQUIRE(m);
    CHECK(std::isnan(m->weight.mse));
}

TEST_CASE("hostile quant: footprint of invalid schemes is NaN, never a division by zero") {
    runtime_scheme s;
    s.group = 0;
    CHECK(std::isnan(bits_per_weight(s)));
    CHECK(std::isnan(footprint_bytes(s, 1e9)));
    s.group = -5;
    CHECK(std::isnan(bits_per_weight(s, 100)));
    s.group = 128;
    s.bits = 0;
    CHECK(std::isnan(bits_per_weight(s)));
    s.bits = 4;
    CHECK(bits_per_weight(s, 0, 0) == doctest::Approx(4.125));
    s.gran = granularity::per_tensor;
    CHECK(bits_per_weight(s, 0, 0) == 4.0);  // empty tensor: no scale to amortise
    s.gran = granularity::per_channel;
    CHECK(bits_per_weight(s, 0) == 4.0);
}

TEST_CASE("hostile quant: bit packing twins refuse bad widths and accept empty input") {
    std::uint8_t codes[4] = {1, 2, 3, 4}, out[4] = {0xA5, 0xA5, 0xA5, 0xA5};
    CHECK(says(pack_codes(0, codes, 4, out), "bits = 0"));
    CHECK(says(unpack_codes(9, out, 4, codes), "bits = 9"));
    CHECK(out[0] == 0xA5);
    CHECK(pack_codes(4, nullptr, 0, nullptr).ok());
    CHECK(unpack_codes(4, nullptr, 0, nullptr).ok());
    // null with n > 0 (was a null dereference), a bit count past size_t, and overlapping buffers (unpacking in
    // place overwrote packed bytes before reading them)
    CHECK(says(pack_codes(4, nullptr, 4, out), "null buffer"));
    CHECK(says(unpack_codes(4, out, 4, nullptr), "null buffer"));
    CHECK(says(pack_codes(4, codes, SIZE_MAX / 4, out), "overflow"));
    std::uint8_t buf[8] = {0x21, 0x43, 0xA5, 0xA5, 0xA5, 0xA5, 0xA5, 0xA5};
    CHECK(says(unpack_codes(4, buf, 4, buf), "overlap"));
    CHECK(says(pack_codes(3, buf + 1, 4, buf), "overlap"));
    CHECK(buf[0] == 0x21);
    CHECK(buf[2] == 0xA5);
    CHECK(out[0] == 0xA5);
}

// Session 36 audit: the Hadamard rotation's entry points on null and misaligned spans (UBSan: a null pointer
// passed to memcpy, then a crash), an out-of-range split and lengths no vector can hold (std::length_error,
// i.e. abort under -fno-exceptions).
TEST_CASE("hostile quant: Hadamard rotations refuse null and misaligned data, bad splits and impossible lengths") {
    auto q = hadamard_rotation::make(8, 1);
    REQUIRE(q);
    CHECK(says(fwht(span<float>(nullptr, 8)), "null"));
    CHECK(says(q->apply(span<float>(nullptr, 8)), "null"));
    CHECK(says(q->apply_transpose(span<float>(nullptr, 8)), "null"));
    CHECK(says(q->apply_rows(span<float>(nullptr, 16), 2), "null"));
    CHECK(says(q->apply_columns(span<float>(nullptr, 16), 2), "null"));
    sentinel m(16 * 4, 2);  // 2 bytes off float alignment
    CHECK(says(fwht(span<float>(m.as<float>(), 8)), "aligned"));
    CHECK(says(q->apply(span<float>(m.as<float>(), 8)), "aligned"));
    CHECK(says(q->apply_columns(span<float>(m.as<float>(), 16), 2), "aligned"));
    std::vector<float> x(8, 1.0f);
    CHECK(says(q->apply_to(span<const float>(m.as<const float>(), 8), span<float>(x)), "aligned"));
    CHECK(says(q->apply_to(span<const float>(x), span<float>(m.as<float>(), 8)), "aligned"));
    CHECK(m.untouched());
    // Spans no memory can back (session 38, detail::check_span; they were read until the crash): 2^62 floats
    // (a power of two, 8 | 2^62), and 16 floats that wrap past the top of the address space. Refused unread.
    const auto low = reinterpret_cast<float*>(std::uintptr_t(64));
    const auto top = reinterpret_cast<float*>(static_cast<std::uintptr_t>(UINTPTR_MAX - 31) & ~std::uintptr_t(3));
    CHECK(says(fwht(span<float>(low, std::size_t(1) << 62)), "fwht: x (4611686018427387904 values) runs past the address space"));
    CHECK(says(q->apply_rows(span<float>(low, std::size_t(1) << 62), std::size_t(1) << 59), "runs past the address space"));
    CHECK(says(q->apply_columns(span<float>(top, 16), 2), "runs past the address space"));
    CHECK(says(q->apply_to(span<const float>(top, 8), span<float>(x)), "hadamard_rotation: x (8 values) runs past"));
    CHECK(says(fwht(span<float>(top, 8)), "runs past"));
    CHECK(says(hadamard_rotation::make(8, 1, static_cast<hadamard_blocks>(7)).error(), "split = 7"));
    CHECK(says(hadamard_rotation::make(SIZE_MAX, 1).error(), "fit in memory"));
    CHECK(says(hadamard_rotation::make(std::size_t(1) << 62, 1, hadamard_blocks::binary).error(), "fit in memory"));
}

// Finite in, finite out (issue 14, item 4): every scheme (bits 1..8 x per-tensor/per-channel/per-group x
// symmetric/asymmetric x f32/f16/bf16 scales) under every calibration, on rows holding +-FLT_MAX, mixes of
// huge and tiny values, and subnormals. Each pattern is row 1 of a 2-row matrix (row 0 is benign), so an error
// must name row 1. f16 scales cannot hold the step of a group with |x| >= 1e30: refused naming the first such
// group; f32 and bf16 never refuse finite weights. Every dequantized value is finite; under min-max calibration
// |x - x^| <= s/2 in groups whose range (amax symmetric, hi - lo asymmetric) is at most FLT_MAX/2, and <= 2 s in
// the others, whose scale is capped (quant/params.hpp).
TEST_CASE("hostile quant: finite weights never dequantize to Inf or NaN, for every scheme and calibration") {
    const float M = huge_(), d = denorm_();
    constexpr std::size_t K = 8;
    const std::vector<std::vector<float>> patterns = {
        {M, M, M, M, M, M, M, M},
        {-M, -M, -M, -M, -M, -M, -M, -M},
        {M, -M, M, -M, 0.0f, 1.0f, -1.0f, M},
        {0.5f, 1.0f, 0.25f, 2.0f, 1e-30f, -M, 1e-38f, d},      // huge only in groups 1 (G = 3) and 0 (G = K)
        {1.0f, 2.0f, 3.0f, -4.0f, 5.0f, 6.0f, M, 0.9999f * M},  // one-sided, in the tail group
        {M, 0.999f * M, 0.5f * M, -0.501f * M, 1e30f, -1e30f, 7.0f, -d},
        {d, -d, 2 * d, 0.0f, 3 * d, -5 * d, d, 4 * d},          // all subnormal
        {1.7e38f, -1.7e38f, 1.0f, 1e-20f, -M, 3.3e38f, -1e38f, 0.0f},
    };
    const std::vector<float> benign = {0.5f, -0.25f, 1.0f, 0.125f, -2.0f, 0.75f, 3.0f, -1.5f};
    const calibration calibs[] = {calibration(calibrate::minmax{}), calibration(calibrate::percentile{90.0f}),
                                  calibration(calibrate::mse{20, 0.8f, 2.4f})};
    const granularity grans[] = {granularity::per_tensor, granularity::per_channel, granularity::per_group};
    const scale_type types[] = {scale_type::f32, scale_type::f16, scale_type::bf16};
    std::size_t runs = 0, refused = 0, capped_checked = 0;
    for (std::size_t pi = 0; pi < patterns.size(); ++pi) {
        std::vector<float> w = benign;
        w.insert(w.end(), patterns[pi].begin(), patterns[pi].end());
        const matrix_view<const float> wv(w.data(), 2, K);
        for (int bits = 1; bits <= 8; ++bits)
            for (granularity gran : grans)
                for (bool sym : {true, false})
                    for (scale_type st : types)
                        for (const calibration& cal : calibs) {
                            runtime_scheme rs;
                            rs.bits = bits;
                            rs.gran = gran;
                            rs.group = 3;  // groups of 3, 3 and 2 columns
                            rs.symmetric = sym;
                            rs.scale = st;
                            const std::size_t G = gran == granularity::per_group ? 3 : K;
                            char name[32];
                            rs.name(name, sizeof name);
                            CAPTURE(pi);
                            CAPTURE(name);
                            const std::string cal_name = cal.name();
                            CAPTURE(cal_name);
                            ++runs;
                            // the oracle: which groups hold a value of magnitude >= 1e30 (a step f16 cannot hold)
                            auto huge_in = [&](std::size_t r, std::size_t c0, std::size_t c1) {
                                for (std::size_t c = c0; c < c1; ++c)
                                    if (std::fabs(wv(r, c)) >= 1e30f) return true;
                                return false;
                            };
                            auto q = quantize(rs, wv, cal);
                            if (st == scale_type::f16 && huge_in(1, 0, K)) {
                                REQUIRE_FALSE(q);
                                ++refused;
                                CHECK(q.error().code() == errc::invalid_argument);
                                CHECK(says(q.error(), "overflows f16 scales"));
                                if (gran == granularity::per_tensor) {
                                    CHECK(says(q.error(), "per-tensor"));
                                } else {
                                    std::size_t g = 0;
                                    while (!huge_in(1, g * G, std::min(K, g * G + G))) ++g;
                                    char where[32];
                                    std::snprintf(where, sizeof where, "w row 1, group %zu ", g);
                                    CHECK(says(q.error(), where));
                                }
                                continue;
                            }
                            REQUIRE(q);
                            std::vector<float> out(2 * K, nan_());
                            REQUIRE(dequantize(*q, matrix_view<float>(out.data(), 2, K)).ok());
                            const qstorage& sto = q->storage;
                            const std::size_t gpr = (K + G - 1) / G;
                            for (std::size_t r = 0; r < 2; ++r)
                                for (std::size_t c = 0; c < K; ++c) {
                                    const float xh = out[r * K + c];
                                    CAPTURE(r);
                                    CAPTURE(c);
                                    CAPTURE(xh);
                                    REQUIRE(std::isfinite(xh));
                                    if (cal.kind != calibration::method::minmax) continue;  // they clip by design
                                    const std::size_t g = c / G;
                                    const std::size_t idx = gran == granularity::per_tensor ? 0 : r * gpr + g;
                                    const float s = st == scale_type::f32 ? sto.scales_f32[idx]
                                                                          : decode_scale(st, sto.scales_16[idx]);
                                    // the range calibration covered: the group's, or the tensor's
                                    double lo = 0.0, hi = 0.0;
                                    const std::size_t r0 = gran == granularity::per_tensor ? 0 : r,
                                                      r1 = gran == granularity::per_tensor ? 2 : r + 1;
                                    const std::size_t c0 = gran == granularity::per_group ? g * G : 0,
                                                      c1 = gran == granularity::per_group ? std::min(K, c0 + G) : K;
                                    for (std::size_t rr = r0; rr < r1; ++rr)
                                        for (std::size_t cc = c0; cc < c1; ++cc) {
                                            lo = std::min(lo, static_cast<double>(wv(rr, cc)));
                                            hi = std::max(hi, static_cast<double>(wv(rr, cc)));
                                        }
                                    const double span = sym ? std::max(-lo, hi) : hi - lo;
                                    const double err = std::fabs(static_cast<double>(xh) - wv(r, c));
                                    if (s == 0.0f) {
                                        // a step below f32's smallest subnormal (span < 255 * 2^-149 / 2): zero
                                        CHECK(xh == 0.0f);
                                        CHECK(std::fabs(wv(r, c)) <= 255 * d);
                                    } else if (span <= static_cast<double>(M) / 2) {
                                        // s/2, plus the f32 roundings of the step's division and of s * (u - z):
                                        // relative to x, or (2^b - 1)/2 subnormals where the step is subnormal
                                        CHECK(err <= 0.5 * s + std::ldexp(std::fabs(wv(r, c)), -22) + 128 * d);
                                    } else {
                                        ++capped_checked;
                                        CHECK(err <= 2.0 * s);
                                    }
                                }
                        }
    }
    CHECK(runs == patterns.size() * 8 * 3 * 2 * 3 * 3);
    CHECK(refused > 0);
    CHECK(capped_checked > 0);
}

// Issue 14, item 9: an enum field set from an int (or left as garbage) is refused at the entry point,
// naming the field and its value, before anything is written. (matmul_path and arch: test_hostile_kernels;
// gptq_group_source: test_hostile_algo; fq_path: test_hostile_qat.)
TEST_CASE("hostile quant: out-of-range enum values (calibration kind, granularity, scale type) are refused") {
    const auto w = lowbit_test::gaussian(2 * 64, 21);
    const matrix_view<const float> wv(w.data(), 2, 64);
    for (int k : {3, 7, 255}) {
        CAPTURE(k);
        calibration c;
        c.kind = static_cast<calibration::method>(k);
        char what[48];
        std::snprintf(what, sizeof what, "calibration.kind = %d", k);
        CHECK(says(c.validate(), what));
        sentinel_qmatrix<S4g> out(2, 64);
        const status st = quantize_into<S4g>(wv, out.view(), c);
        CHECK(st.code() == errc::invalid_argument);
        CHECK(says(st, what));
        CHECK(out.untouched());
        CHECK(says(quantize<scheme<8, per_channel, symmetric, scale_f32>>(wv, c).error(), what));
        quantize_options o;
        o.calib = c;
        CHECK(says(quantize<S4g>(wv, o).error(), what));
        runtime_scheme rs;
        CHECK(says(quantize(rs, wv, c).error(), what));
    }
    for (int g : {3, 7, 200}) {
        runtime_scheme rs;
        rs.gran = static_cast<granularity>(g);
        char what[40];
        std::snprintf(what, sizeof what, "scheme.gran = %d", g);
        CHECK(says(rs.validate(), what));
        CHECK(says(quantize(rs, wv).error(), what));
        CHECK(says(qlayout::make(rs, 2, 64).error(), what));
        CHECK(std::isnan(bits_per_weight(rs, 64)));
    }
    for (int s : {3, 9, 255}) {
        runtime_scheme rs;
        rs.scale = static_cast<scale_type>(s);
        char what[40];
        std::snprintf(what, sizeof what, "scheme.scale = %d", s);
        CHECK(says(rs.validate(), what));
        CHECK(says(quantize(rs, wv).error(), what));
        CHECK(says(qlayout::make(rs, 2, 64).error(), what));
        CHECK(std::isnan(bits_per_weight(rs, 64)));
    }
}
