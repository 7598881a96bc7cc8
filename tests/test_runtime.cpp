// The run-time twins: same bytes and results as the templates they switch onto.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <lowbit/formats/codebook_matmul.hpp>
#include <lowbit/formats/gguf_row_dispatch.hpp>
#include <lowbit/kernels/weights_matmul.hpp>
#include <lowbit/parallel.hpp>
#include <lowbit/runtime.hpp>
#include <lowbit/weights/repack.hpp>

#include "test_util.hpp"

using namespace lowbit;

namespace {
// The twin of scheme name (lowbit::compiled's, reached through the run-time
// switch) against the typed call of S, the scheme visit_scheme maps it to.
// Listed by hand, not through visit_scheme: that would instantiate the typed
// API for all 144 schemes in this TU (172 CPU-s to compile under ASan+UBSan)
// to run eight of them.
template <class S>
void check_twins(const char* name_c) {
    const std::size_t N = 37, K = 150, M = 3;
    const std::vector<float> w = lowbit_test::gaussian(N * K, 8), x = lowbit_test::gaussian(M * K, 9);
    const matrix_view<const float> wv(w.data(), N, K);
    const std::string name = name_c;
    CAPTURE(name);
    auto rs = parse_scheme(name_c);
    REQUIRE(rs);
    const runtime_scheme ts = S::runtime(rs->group);
    REQUIRE((ts.bits == rs->bits && ts.symmetric == rs->symmetric && ts.scale == rs->scale && ts.gran == rs->gran &&
             (ts.gran != granularity::per_group || ts.group == rs->group)));
    auto aq = quantize(*rs, wv, calibrate::mse{});
    REQUIRE(aq);
    CHECK(aq->rows() == N);
    quantize_options o;
    o.calib = calibrate::mse{};
    o.group = rs->group;
    auto tq = quantize<S>(wv, o);
    REQUIRE(tq);
    const auto a = aq->view_as<S>(), b = tq->view();
    CHECK(std::memcmp(a.codes, b.codes, N * a.row_bytes) == 0);
    for (std::size_t r = 0; r < N; ++r)
        for (std::size_t c = 0; c < K; ++c) REQUIRE(a.value(r, c) == b.value(r, c));
    std::vector<float> y1(M * N), y2(M * N);
    REQUIRE(gemm(*aq, matrix_view<const float>(x.data(), M, K), matrix_view<float>(y1.data(), M, N)).ok());
    REQUIRE(gemm(*tq, matrix_view<const float>(x.data(), M, K), matrix_view<float>(y2.data(), M, N)).ok());
    CHECK(std::memcmp(y1.data(), y2.data(), y1.size() * 4) == 0);
    REQUIRE(gemv(*aq, span<const float>(x.data(), K), span<float>(y1.data(), N)).ok());
    REQUIRE(gemv(*tq, span<const float>(x.data(), K), span<float>(y2.data(), N)).ok());
    CHECK(std::memcmp(y1.data(), y2.data(), N * 4) == 0);
    std::vector<float> d1(N * K), d2(N * K);
    REQUIRE(dequantize(*aq, matrix_view<float>(d1.data(), N, K)).ok());
    REQUIRE(dequantize(*tq, matrix_view<float>(d2.data(), N, K)).ok());
    CHECK(d1 == d2);
    auto r1 = measure(wv, *aq, matrix_view<const float>(x.data(), M, K));
    auto r2 = measure(wv, *tq, matrix_view<const float>(x.data(), M, K));
    REQUIRE(r1);
    REQUIRE(r2);
    CHECK(r1->weight.sqnr_db == r2->weight.sqnr_db);
    // The output error sums 150 double products per output in one order, but
    // GCC's -O2 vectorizer gives its last bits another value than -O0 does (a
    // plain g++ build runs this TU at -O0 against the library at -O2; measured
    // 20.803414213 vs 20.803414899 dB for one w4g32 case): a metric, not a kernel's bits.
    CHECK(r1->output.sqnr_db == doctest::Approx(r2->output.sqnr_db).epsilon(1e-6));
}
}  // namespace

// Every width, both symmetries, every scale type and granularity: each arm of
// the run-time switch (pack/any_qmatrix.hpp, the library's per-width code).
TEST_CASE("runtime quantize/gemv/gemm/dequantize/measure equal the templated calls") {
    check_twins<scheme<4, per_group_dynamic>>("w4g32");
    check_twins<scheme<3, per_group_dynamic, asymmetric>>("w3g64a");
    check_twins<scheme<8, per_channel>>("w8pc");
    check_twins<scheme<2, per_tensor, symmetric, scale_f32>>("w2pt-f32");
    check_twins<scheme<5, per_group_dynamic, asymmetric, scale_bf16>>("w5g128a-bf16");
    check_twins<scheme<1, per_group_dynamic>>("w1g16");
    check_twins<scheme<6, per_channel>>("w6pc");
    check_twins<scheme<7, per_group_dynamic, asymmetric>>("w7g50a");
}

TEST_CASE("runtime twins reject invalid schemes with a message") {
    const std::vector<float> w(64, 1.0f);
    runtime_scheme rs;
    rs.bits = 0;
    auto q = quantize(rs, matrix_view<const float>(w.data(), 1, 64));
    CHECK(!q);
    CHECK(q.error().code() == errc::invalid_argument);
    rs.bits = 4;
    rs.group = 0;
    CHECK(!quantize(rs, matrix_view<const float>(w.data(), 1, 64)));
}

// Hostile input through the twins (docs/reliability.md): the checks are the
// templates', reached through visit_scheme; outputs stay untouched on error.
TEST_CASE("runtime twins: hostile buffers and a tampered scheme give a status, outputs untouched") {
    const std::vector<float> w = lowbit_test::gaussian(8 * 64, 3);
    auto q = quantize(*parse_scheme("w4g32a"), matrix_view<const float>(w.data(), 8, 64));
    REQUIRE(q);
    std::vector<float> x = lowbit_test::gaussian(64, 4), y(8, 7.0f), Y(16, 7.0f), D(8 * 64, 7.0f);
    CHECK(gemv(*q, span<const float>(x.data(), 63), span<float>(y)).code() == errc::shape_mismatch);
    CHECK(gemv(*q, span<const float>(nullptr, 64), span<float>(y)).code() == errc::invalid_argument);
    CHECK(gemm(*q, matrix_view<const float>(x.data(), 1, 64), matrix_view<float>(Y.data(), 2, 8)).code() == errc::shape_mismatch);
    CHECK(dequantize(*q, matrix_view<float>(D.data(), 8, 63)).code() == errc::shape_mismatch);
    CHECK(dequantize(*q, matrix_view<float>(const_cast<float*>(reinterpret_cast<const float*>(q->storage.scales_16.data())), 1, 8))
              .code() == errc::shape_mismatch);
    const std::vector<float> keep(8, 7.0f);
    CHECK(y == keep);
    for (float v : Y) CHECK(v == 7.0f);
    for (float v : D) CHECK(v == 7.0f);
    // a scheme changed after quantization no longer matches the storage: refused, not read
    any_qmatrix bad = *q;
    bad.scheme.bits = 12;
    CHECK(gemv(bad, span<const float>(x), span<float>(y)).code() == errc::invalid_argument);
    bad = *q;
    bad.scheme.symmetric = true;
    bad.storage.zeros.clear();
    bad.storage.layout.group = 0;
    CHECK(!gemv(bad, span<const float>(x), span<float>(y)).ok());
    CHECK(y == keep);
    // NaN activations propagate through the twin as through the template
    x[3] = std::numeric_limits<float>::quiet_NaN();
    matmul_options i8;
    i8.path = matmul_path::int8_dot;
    REQUIRE(gemv(*q, span<const float>(x), span<float>(y), serial_executor{}, i8).ok());
    for (float v : y) CHECK(std::isnan(v));
    // NaN weights are refused by the twin's quantize
    std::vector<float> wn = w;
    wn[100] = -std::numeric_limits<float>::infinity();
    CHECK(quantize(*parse_scheme("w3pc"), matrix_view<const float>(wn.data(), 8, 64)).error().code() == errc::non_finite);
}

// Codebook weights through the whole table (lowbit::gemv on a weights_view,
// the library's kernel_family_at / family_of) run the entries codebook::gemv
// runs: the same bits, the same kernel name.
TEST_CASE("runtime gemv/gemm on codebook weights equal codebook::gemv/gemm") {
    const std::size_t n = 9, k = 320, M = 5;
    const std::vector<float> w = lowbit_test::gaussian(n * k, 41u), X = lowbit_test::gaussian(M * k, 42u);
    for (int bits : {3, 4}) {
        auto q = codebook::quantize(matrix_view<const float>(w.data(), n, k), codebook::nf_grid(bits));
        REQUIRE(q);
        std::vector<float> y1(n), y2(n), Y1(M * n), Y2(M * n);
        matmul_info i1, i2;
        matmul_options o1, o2;
        o1.info = &i1;
        o2.info = &i2;
        REQUIRE(gemv(q->view(), span<const float>(X.data(), k), span<float>(y1), serial_executor{}, o1).ok());
        REQUIRE(codebook::gemv(q->view(), span<const float>(X.data(), k), span<float>(y2), serial_executor{}, o2).ok());
        CHECK(std::memcmp(y1.data(), y2.data(), n * sizeof(float)) == 0);
        CHECK(std::string(i1.kernel) == i2.kernel);
        CHECK(std::string(i1.kernel).rfind("cb" + std::to_string(bits) + "/codebook/i8/", 0) == 0);
        REQUIRE(gemm(q->view(), matrix_view<const float>(X.data(), M, k), matrix_view<float>(Y1.data(), M, n)).ok());
        REQUIRE(codebook::gemm(q->view(), matrix_view<const float>(X.data(), M, k), matrix_view<float>(Y2.data(), M, n)).ok());
        CHECK(std::memcmp(Y1.data(), Y2.data(), Y1.size() * sizeof(float)) == 0);
        auto d = describe(q->view());
        REQUIRE(d);
        CHECK((*d)->key.lay == layout::codebook);
        CHECK((*d)->key.bits_or_type == bits);
        // The tiled codebook form (repack: lowbit::compiled's), likewise.
        auto t = repack(q->view(), layout::tiled_codebook);
        REQUIRE(t);
        REQUIRE(gemv(t->view(), span<const float>(X.data(), k), span<float>(y1), serial_executor{}, o1).ok());
        REQUIRE(codebook::gemv(t->view(), span<const float>(X.data(), k), span<float>(y2), serial_executor{}, o2).ok());
        CHECK(std::memcmp(y1.data(), y2.data(), n * sizeof(float)) == 0);
        CHECK(std::string(i1.kernel) == i2.kernel);
        CHECK(std::string(i1.kernel).rfind("cb" + std::to_string(bits) + "/tiled_codebook/i8/", 0) == 0);
        REQUIRE(gemm(t->view(), matrix_view<const float>(X.data(), M, k), matrix_view<float>(Y1.data(), M, n)).ok());
        REQUIRE(codebook::gemm(t->view(), matrix_view<const float>(X.data(), M, k), matrix_view<float>(Y2.data(), M, n)).ok());
        CHECK(std::memcmp(Y1.data(), Y2.data(), Y1.size() * sizeof(float)) == 0);
        d = describe(t->view());
        REQUIRE(d);
        CHECK((*d)->key.lay == layout::tiled_codebook);
        CHECK((*d)->key.bits_or_type == bits);
        // codebook::kernels reads lowbit::compiled's families by their place in the walk.
        for (layout lay : {layout::codebook, layout::tiled_codebook}) {
            const span<const kernel_entry> k = codebook::kernels(bits, lay);
            REQUIRE(k.size() > 0);
            for (const kernel_entry& e : k) CHECK((e.key.lay == lay && e.key.bits_or_type == bits));
        }
    }
}

// multi_gemv: several weights that read one x, as one job. Each output must
// hold gemv's bits whatever the layouts, paths and executor; on any error none
// is written.
TEST_CASE("multi_gemv equals one gemv per weight, and writes nothing on an error") {
    const std::size_t K = 160;  // 5 blocks of 32; not a multiple of 64
    const std::vector<float> x = lowbit_test::gaussian(K, 71u);
    // A 4-bit dense weight of an odd row count, its tiled copy (other rows), an
    // asymmetric 3-bit one, an 8-bit per-channel one, a group of 12 (the
    // reference kernel: no fast kernel fits), and ggml Q4_0 blocks.
    std::vector<any_qmatrix> qs;
    const char* names[] = {"w4g32", "w4g32", "w3g32a", "w8", "w4g12"};
    const std::size_t rows[] = {67, 45, 9, 130, 5};
    for (int i = 0; i < 5; ++i) {
        auto rs = parse_scheme(names[i]);
        REQUIRE(rs);
        const std::vector<float> w = lowbit_test::gaussian(rows[i] * K, 80u + static_cast<unsigned>(i));
        auto q = quantize(*rs, matrix_view<const float>(w.data(), rows[i], K), calibrate::minmax{});
        REQUIRE(q);
        qs.push_back(std::move(*q));
    }
    std::vector<weights> owned;
    std::vector<weights_view> ws;
    for (std::size_t i = 0; i < qs.size(); ++i) {
        auto v = to_weights(qs[i]);
        REQUIRE(v);
        if (i == 1) {  // the tiled layout
            auto t = repack(*v, layout::tiled);
            REQUIRE(t);
            owned.push_back(std::move(*t));
            ws.push_back(owned.back().view());
        } else {
            ws.push_back(*v);
        }
    }
    const std::size_t ggml_rows = 11;
    std::vector<std::uint8_t> blocks(ggml_rows * K / 32 * 18);
    {
        const std::vector<float> w = lowbit_test::gaussian(ggml_rows * K, 90u);
        for (std::size_t r = 0; r < ggml_rows; ++r)
            REQUIRE(gguf::quantize_row(gguf::gguf_type::q4_0, w.data() + r * K, blocks.data() + r * (K / 32 * 18), static_cast<std::int64_t>(K)).ok());
        auto g = make_ggml_weights(gguf::gguf_type::q4_0, blocks.data(), ggml_rows, K);
        REQUIRE(g);
        ws.push_back(*g);
    }
    thread_pool pool(3);
    for (matmul_path path : {matmul_path::int8_dot, matmul_path::dequant_fma}) {
        CAPTURE(path_name(path));
        matmul_options opt;
        opt.path = path;
        // dequant_fma has no ggml kernel: that weight is left out of the f32 set
        const std::size_t n = path == matmul_path::int8_dot ? ws.size() : ws.size() - 1;
        std::vector<std::vector<float>> want(n), got(n);
        std::vector<span<float>> ys;
        for (std::size_t i = 0; i < n; ++i) {
            want[i].assign(ws[i].rows(), 0.0f);
            REQUIRE(gemv(ws[i], span<const float>(x), span<float>(want[i]), serial_executor{}, opt).ok());
            got[i].assign(ws[i].rows(), -1.0f);
            ys.emplace_back(got[i].data(), got[i].size());
        }
        for (int with_pool = 0; with_pool < 2; ++with_pool) {
            for (auto& g : got) std::fill(g.begin(), g.end(), -1.0f);
            matmul_info info;
            opt.info = &info;
            const status st = with_pool ? multi_gemv(span<const weights_view>(ws.data(), n), span<const float>(x),
                                                     span<const span<float>>(ys.data(), n), pool, opt)
                                        : multi_gemv(span<const weights_view>(ws.data(), n), span<const float>(x),
                                                     span<const span<float>>(ys.data(), n), serial_executor{}, opt);
            opt.info = nullptr;
            REQUIRE(st.ok());
            CHECK(info.fell_back);  // the group of 12 runs the reference
            for (std::size_t i = 0; i < n; ++i) {
                CAPTURE(i);
                CHECK(std::memcmp(got[i].data(), want[i].data(), want[i].size() * sizeof(float)) == 0);
            }
        }
        // Errors: nothing written.
        auto untouched = [&] {
            for (const auto& g : got)
                for (float v : g)
                    if (v != -1.0f) return false;
            return true;
        };
        auto refused = [&](span<const weights_view> w, span<const float> xx, span<const span<float>> y, errc want_code) {
            for (auto& g : got) std::fill(g.begin(), g.end(), -1.0f);
            const status st = multi_gemv(w, xx, y, pool, opt);
            REQUIRE_FALSE(st.ok());
            CHECK(st.code() == want_code);
            CHECK(untouched());
        };
        refused(span<const weights_view>(ws.data(), n), span<const float>(x), span<const span<float>>(ys.data(), n - 1), errc::shape_mismatch);
        refused(span<const weights_view>(ws.data(), n), span<const float>(x.data(), K - 1), span<const span<float>>(ys.data(), n),
                errc::shape_mismatch);
        std::vector<span<float>> short_y = ys;
        short_y[n - 1] = span<float>(got[n - 1].data(), got[n - 1].size() - 1);  // the last output one row short
        refused(span<const weights_view>(ws.data(), n), span<const float>(x), span<const span<float>>(short_y.data(), n),
                errc::shape_mismatch);
        std::vector<weights_view> two = {ws[0], ws[0]};
        std::vector<span<float>> same = {ys[0], ys[0]};  // two outputs on one buffer
        refused(span<const weights_view>(two), span<const float>(x), span<const span<float>>(same), errc::invalid_argument);
        std::vector<weights_view> nine(9, ws[0]);
        std::vector<std::vector<float>> nine_y(9, std::vector<float>(ws[0].rows()));
        std::vector<span<float>> nine_s;
        for (auto& v : nine_y) nine_s.emplace_back(v.data(), v.size());
        CHECK(multi_gemv(span<const weights_view>(nine), span<const float>(x), span<const span<float>>(nine_s), pool, opt).code() ==
              errc::invalid_argument);
        if (path == matmul_path::int8_dot) {  // a NaN activation: the int8 preparation refuses it before any row runs
            std::vector<float> bad = x;
            bad[K / 2] = std::numeric_limits<float>::quiet_NaN();
            refused(span<const weights_view>(ws.data(), n), span<const float>(bad), span<const span<float>>(ys.data(), n),
                    errc::non_finite);
        }
        CHECK(multi_gemv(span<const weights_view>(), span<const float>(x), span<const span<float>>(), pool, opt).ok());
    }
    // dequant_fma on ggml blocks is refused like gemv, nothing written
    matmul_options fma;
    fma.path = matmul_path::dequant_fma;
    std::vector<float> y0(ws[0].rows(), -1.0f), yg(ggml_rows, -1.0f);
    std::vector<weights_view> mixed = {ws[0], ws.back()};
    std::vector<span<float>> my = {span<float>(y0), span<float>(yg)};
    CHECK(multi_gemv(span<const weights_view>(mixed), span<const float>(x), span<const span<float>>(my), pool, fma).code() == errc::unsupported);
    CHECK(std::all_of(y0.begin(), y0.end(), [](float v) { return v == -1.0f; }));
}
