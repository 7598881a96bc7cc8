// kernels/rotated_matmul.hpp: y = W Q x for weights quantized after an input
// rotation. rotated_gemv / rotated_multi_gemv must give exactly the bits of
// apply() on a copy of x followed by gemv / multi_gemv, on every layout, path,
// arch and executor; the math is checked against Q x in double through the
// reference path; errors write nothing; a caller's workspace stops allocating.
// The same bits and errors whatever the executor's threads and order of tasks.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <lowbit/formats/gguf_row_dispatch.hpp>
#include <lowbit/kernels/rotated_matmul.hpp>
#include <lowbit/parallel.hpp>
#include <lowbit/runtime.hpp>
#include <lowbit/weights/repack.hpp>

#include "test_archs.hpp"
#include "test_util.hpp"

using namespace lowbit;

namespace {

// Weights of K columns: 4-bit dense, its tiled copy, 8-bit per channel, a
// group of 12 where K allows (the reference kernel: no fast kernel fits) and
// ggml Q4_0 blocks where K is a multiple of 32. `owned` keeps what the views read.
struct weight_set {
    std::vector<any_qmatrix> qs;
    std::vector<weights> owned;
    std::vector<std::uint8_t> blocks;
    std::vector<weights_view> views;
    std::vector<std::string> names;
};

void make_weights(std::size_t K, weight_set& s) {
    s.qs.reserve(3);
    s.owned.reserve(1);
    const char* names[] = {"w4g32", "w8", "w4g12"};
    const std::size_t rows[] = {67, 45, 9};
    for (int i = 0; i < 3; ++i) {
        if (i == 2 && K % 12 != 0) continue;
        auto rs = parse_scheme(names[i]);
        REQUIRE(rs);
        const std::vector<float> w = lowbit_test::gaussian(rows[i] * K, 80u + static_cast<unsigned>(i));
        auto q = quantize(*rs, matrix_view<const float>(w.data(), rows[i], K), calibrate::minmax{});
        REQUIRE(q);
        s.qs.push_back(std::move(*q));
        auto v = to_weights(s.qs.back());
        REQUIRE(v);
        s.views.push_back(*v);
        s.names.push_back(names[i]);
        if (i == 0 && K % 32 == 0) {
            auto t = repack(*v, layout::tiled);
            REQUIRE(t);
            s.owned.push_back(std::move(*t));
            s.views.push_back(s.owned.back().view());
            s.names.push_back("w4g32 tiled");
        }
    }
    if (K % 32 == 0) {
        const std::size_t rows_g = 11, rb = K / 32 * 18;
        s.blocks.resize(rows_g * rb);
        const std::vector<float> w = lowbit_test::gaussian(rows_g * K, 90u);
        for (std::size_t r = 0; r < rows_g; ++r)
            REQUIRE(gguf::quantize_row(gguf::gguf_type::q4_0, w.data() + r * K, s.blocks.data() + r * rb, static_cast<std::int64_t>(K)).ok());
        auto g = make_ggml_weights(gguf::gguf_type::q4_0, s.blocks.data(), rows_g, K);
        REQUIRE(g);
        s.views.push_back(*g);
        s.names.push_back("q4_0");
    }
}

bool has_path(const weights_view& w, matmul_path p) { return p != matmul_path::dequant_fma || is_scheme_layout(w.lay()); }

// The weights of s that opt.path runs, into ws, and gemv's output for each on
// the already rotated xr (serial, default arch), into want: what every
// rotated call must reproduce bit for bit.
void expected_gemvs(const weight_set& s, const std::vector<float>& xr, const matmul_options& opt, std::vector<weights_view>& ws,
                    std::vector<std::vector<float>>& want) {
    for (std::size_t i = 0; i < s.views.size(); ++i)
        if (has_path(s.views[i], opt.path)) {
            ws.push_back(s.views[i]);
            want.emplace_back(s.views[i].rows());
            REQUIRE(gemv(s.views[i], span<const float>(xr), span<float>(want.back()), serial_executor{}, opt).ok());
        }
}

// Claims four threads but runs the tasks on the caller, last first.
struct reversed_executor {
    template <class F>
    void operator()(std::size_t n, F&& fn) const {
        for (std::size_t i = n; i-- > 0;) fn(i);
    }
    unsigned concurrency() const noexcept { return 4; }
};

// Claims sixteen threads but runs every task on the caller, in order.
struct one_thread_executor {
    template <class F>
    void operator()(std::size_t n, F&& fn) const {
        for (std::size_t i = 0; i < n; ++i) fn(i);
    }
    unsigned concurrency() const noexcept { return 16; }
};

// An executor without concurrency(): a serial one as far as the library knows.
struct plain_executor {
    template <class F>
    void operator()(std::size_t n, F&& fn) const {
        for (std::size_t i = 0; i < n; ++i) fn(i);
    }
};

// f(exec, name) on the serial executor, pools of 2, 3 and 5 threads and the
// two executors above.
template <class F>
void every_executor(F&& f) {
    serial_executor serial;
    f(serial, "serial");
    for (unsigned n : {2u, 3u, 5u}) {
        thread_pool pool(n);
        f(pool, "pool" + std::to_string(n));
    }
    reversed_executor reversed;
    f(reversed, "reversed (claims 4)");
    one_thread_executor one;
    f(one, "one thread (claims 16)");
}

}  // namespace

// The bits of apply() + gemv, for each weight, path, arch and executor; K a
// power of two, a binary split (96 = 64 + 32, 172 = 128 + 32 + 8 + 4) and a
// block-diagonal one (96 = 3 x 32 equal; 5632 = 11 x 512). x with a value far
// from the rest and a subnormal, so a reordered sum would show.
TEST_CASE("rotated_gemv and rotated_multi_gemv equal apply() then gemv / multi_gemv, bit for bit") {
    thread_pool pool(3);
    struct shape {
        std::size_t K;
        hadamard_blocks split;
    };
    for (const shape sh : {shape{64, hadamard_blocks::equal}, shape{96, hadamard_blocks::equal}, shape{96, hadamard_blocks::binary},
                           shape{172, hadamard_blocks::binary}, shape{2048, hadamard_blocks::equal},
                           shape{5632, hadamard_blocks::equal}}) {
        const std::size_t K = sh.K;
        CAPTURE(K);
        CAPTURE(static_cast<int>(sh.split));
        weight_set s;
        make_weights(K, s);
        auto q = hadamard_rotation::make(K, 1234 + K, sh.split);
        REQUIRE(q);
        std::vector<float> x = lowbit_test::gaussian(K, 7u + static_cast<unsigned>(K));
        x[1] = 40.0f, x[K - 1] = 1e-40f;
        const std::vector<float> x_before = x;
        std::vector<float> xr = x;
        REQUIRE(q->apply(span<float>(xr)).ok());
        for (matmul_path path : {matmul_path::int8_dot, matmul_path::dequant_fma, matmul_path::reference}) {
            matmul_options opt;
            opt.path = path;
            std::vector<weights_view> ws;
            std::vector<std::vector<float>> want;
            expected_gemvs(s, xr, opt, ws, want);
            for (arch a : lowbit_test::runnable_archs()) {
                lowbit_test::arch_scope scope(a);
                CAPTURE(path_name(path));
                CAPTURE(arch_name(a));
                for (int with_pool = 0; with_pool < 2; ++with_pool) {
                    CAPTURE(with_pool);
                    matmul_workspace mws;
                    std::vector<std::vector<float>> got(ws.size());
                    std::vector<span<float>> ys;
                    for (std::size_t i = 0; i < ws.size(); ++i) {
                        got[i].assign(ws[i].rows(), -1.0f);
                        ys.emplace_back(got[i].data(), got[i].size());
                        // gemv's own bits on every arch: want is the default arch's, and every arch's equals it
                        std::vector<float> one(ws[i].rows(), -1.0f);
                        const status st = with_pool ? rotated_gemv(*q, ws[i], span<const float>(x), span<float>(one), pool, opt, mws)
                                                    : rotated_gemv(*q, ws[i], span<const float>(x), span<float>(one), serial_executor{}, opt, mws);
                        REQUIRE(st.ok());
                        std::vector<float> plain(ws[i].rows());
                        REQUIRE(gemv(ws[i], span<const float>(xr), span<float>(plain), serial_executor{}, opt).ok());
                        CHECK(std::memcmp(one.data(), plain.data(), plain.size() * sizeof(float)) == 0);
                    }
                    const status st = with_pool ? rotated_multi_gemv(*q, span<const weights_view>(ws), span<const float>(x),
                                                                     span<const span<float>>(ys), pool, opt, mws)
                                                : rotated_multi_gemv(*q, span<const weights_view>(ws), span<const float>(x),
                                                                     span<const span<float>>(ys), serial_executor{}, opt);
                    REQUIRE(st.ok());
                    for (std::size_t i = 0; i < ws.size(); ++i) {
                        std::vector<float> plain(ws[i].rows());
                        REQUIRE(gemv(ws[i], span<const float>(xr), span<float>(plain), serial_executor{}, opt).ok());
                        CHECK(std::memcmp(got[i].data(), plain.data(), plain.size() * sizeof(float)) == 0);
                    }
                    CHECK(std::memcmp(x.data(), x_before.data(), K * sizeof(float)) == 0);  // x never written
                }
            }
            // the default arch's results are the ones computed above
            for (std::size_t i = 0; i < ws.size(); ++i) {
                std::vector<float> one(ws[i].rows());
                REQUIRE(rotated_gemv(*q, ws[i], span<const float>(x), span<float>(one), pool, opt).ok());
                CHECK(std::memcmp(one.data(), want[i].data(), one.size() * sizeof(float)) == 0);
            }
        }
    }
}

// The math, apart from the fast transform: the reference path on the dense
// weights against sum_j W[r][j] (Q x)_j in double, Q from its definition
// (H[i][j] = (-1)^popcount(i & j) / sqrt(b) per block, times the signs).
TEST_CASE("rotated_gemv: the reference path equals W times Q x computed from the definition") {
    for (std::size_t K : {std::size_t(24), std::size_t(172), std::size_t(256)}) {
        CAPTURE(K);
        auto q = hadamard_rotation::make(K, 55, hadamard_blocks::binary);
        REQUIRE(q);
        std::vector<double> qx(K, 0.0);
        const std::vector<float> x = lowbit_test::gaussian(K, 3u);
        std::size_t at = 0;
        for (const std::size_t b : q->blocks()) {
            for (std::size_t i = 0; i < b; ++i)
                for (std::size_t j = 0; j < b; ++j) {
                    std::size_t bits = i & j, parity = 0;
                    for (; bits; bits &= bits - 1) parity ^= 1;
                    const double h = (parity ? -1.0 : 1.0) / std::sqrt(static_cast<double>(b));
                    qx[at + i] += h * q->signs()[at + j] * x[at + j];
                }
            at += b;
        }
        auto rs = parse_scheme("w8");
        REQUIRE(rs);
        const std::size_t N = 13;
        const std::vector<float> w = lowbit_test::gaussian(N * K, 4u);
        auto aq = quantize(*rs, matrix_view<const float>(w.data(), N, K), calibrate::minmax{});
        REQUIRE(aq);
        auto v = to_weights(*aq);
        REQUIRE(v);
        std::vector<float> deq(N * K);
        REQUIRE(dequantize(*aq, matrix_view<float>(deq.data(), N, K)).ok());
        matmul_options opt;
        opt.path = matmul_path::reference;
        std::vector<float> y(N);
        REQUIRE(rotated_gemv(*q, *v, span<const float>(x), span<float>(y), serial_executor{}, opt).ok());
        for (std::size_t r = 0; r < N; ++r) {
            double want = 0, mag = 0;
            for (std::size_t j = 0; j < K; ++j) want += deq[r * K + j] * qx[j], mag += std::fabs(deq[r * K + j] * qx[j]);
            CAPTURE(r);
            CHECK(std::fabs(y[r] - want) <= 1e-5 * mag + 1e-6);
        }
    }
}

// Errors leave y as it was: NaN or Inf in x (apply()'s errc::non_finite, also
// where the int8 path alone would have made the outputs NaN), a rotation of
// another length, an unbuilt one, x of the wrong length; and a workspace that
// has served one call does not grow on the next.
TEST_CASE("rotated_gemv: errors write nothing; a caller's workspace stops growing") {
    const std::size_t K = 128;
    weight_set s;
    make_weights(K, s);
    auto q = hadamard_rotation::make(K, 5);
    auto q_other = hadamard_rotation::make(K / 2, 5);
    REQUIRE(q);
    REQUIRE(q_other);
    thread_pool pool(2);
    matmul_options opt;
    opt.path = matmul_path::int8_dot;
    for (std::size_t i = 0; i < s.views.size(); ++i) {
        CAPTURE(s.names[i]);
        const weights_view& w = s.views[i];
        std::vector<float> y(w.rows(), -1.0f);
        auto untouched = [&] {
            for (float v : y)
                if (v != -1.0f) return false;
            return true;
        };
        for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
            std::vector<float> x = lowbit_test::gaussian(K, 1u);
            x[K / 3] = bad;
            const status st = rotated_gemv(*q, w, span<const float>(x), span<float>(y), pool, opt);
            CHECK(st.code() == errc::non_finite);
            CHECK(std::string(st.message()).find("x[" + std::to_string(K / 3) + "]") != std::string::npos);
            CHECK(untouched());
            span<float> ys[] = {span<float>(y)};
            CHECK(rotated_multi_gemv(*q, span<const weights_view>(&w, 1), span<const float>(x), span<const span<float>>(ys, 1), pool, opt)
                      .code() == errc::non_finite);
            CHECK(untouched());
        }
        const std::vector<float> x = lowbit_test::gaussian(K, 2u);
        CHECK(rotated_gemv(*q_other, w, span<const float>(x), span<float>(y), pool, opt).code() == errc::shape_mismatch);
        CHECK(rotated_gemv(hadamard_rotation{}, w, span<const float>(x), span<float>(y), pool, opt).code() == errc::invalid_argument);
        CHECK(rotated_gemv(*q, w, span<const float>(x.data(), K - 1), span<float>(y), pool, opt).code() == errc::shape_mismatch);
        CHECK(rotated_gemv(*q, w, span<const float>(x), span<float>(y.data(), y.size() - 1), pool, opt).code() == errc::shape_mismatch);
        CHECK(untouched());
        matmul_workspace mws;
        REQUIRE(rotated_gemv(*q, w, span<const float>(x), span<float>(y), pool, opt, mws).ok());
        const std::size_t cap = mws.capacity();
        CHECK(cap >= K * sizeof(float));
        REQUIRE(rotated_gemv(*q, w, span<const float>(x), span<float>(y), pool, opt, mws).ok());
        CHECK(mws.capacity() == cap);
    }
}

// rotated_gemv and rotated_multi_gemv on every executor (pools, tasks run in
// reverse, a one-thread executor that claims sixteen): apply() + gemv's bits.
// Weights of every kind make_weights builds, three paths, K a binary split
// and a power of two; the default arch (the first test case runs every arch).
TEST_CASE("rotated_gemv: the same bits on every executor") {
    struct shape {
        std::size_t K;
        hadamard_blocks split;
    };
    for (const shape sh : {shape{96, hadamard_blocks::binary}, shape{2048, hadamard_blocks::equal}}) {
        const std::size_t K = sh.K;
        CAPTURE(K);
        weight_set s;
        make_weights(K, s);
        auto q = hadamard_rotation::make(K, 99 + K, sh.split);
        REQUIRE(q);
        std::vector<float> x = lowbit_test::gaussian(K, 17u + static_cast<unsigned>(K));
        x[2] = -55.0f, x[K - 2] = 3e-39f;
        const std::vector<float> x_before = x;
        std::vector<float> xr = x;
        REQUIRE(q->apply(span<float>(xr)).ok());
        for (matmul_path path : {matmul_path::int8_dot, matmul_path::dequant_fma, matmul_path::reference}) {
            CAPTURE(path_name(path));
            matmul_options opt;
            opt.path = path;
            std::vector<weights_view> ws;
            std::vector<std::vector<float>> want;
            expected_gemvs(s, xr, opt, ws, want);
            every_executor([&](auto& exec, const std::string& name) {
                CAPTURE(name);
                matmul_workspace mws;
                std::vector<std::vector<float>> got(ws.size());
                std::vector<span<float>> ys;
                for (std::size_t i = 0; i < ws.size(); ++i) {
                    CAPTURE(i);
                    got[i].assign(ws[i].rows(), -1.0f);
                    ys.emplace_back(got[i].data(), got[i].size());
                    std::vector<float> one(ws[i].rows(), -1.0f);
                    REQUIRE(rotated_gemv(*q, ws[i], span<const float>(x), span<float>(one), exec, opt, mws).ok());
                    CHECK(std::memcmp(one.data(), want[i].data(), one.size() * sizeof(float)) == 0);
                }
                const span<const span<float>> yv(ys);
                REQUIRE(rotated_multi_gemv(*q, span<const weights_view>(ws), span<const float>(x), yv, exec, opt, mws).ok());
                for (std::size_t i = 0; i < ws.size(); ++i) {
                    CAPTURE(i);
                    CHECK(std::memcmp(got[i].data(), want[i].data(), want[i].size() * sizeof(float)) == 0);
                }
                CHECK(std::memcmp(x.data(), x_before.data(), K * sizeof(float)) == 0);  // x never written
            });
        }
    }
}

// Errors on every executor: a NaN or Inf in x is apply()'s errc::non_finite
// naming the index, and y stays untouched; every argument is checked before x
// is read (a NaN x with a y of the wrong length is the shape error). And x
// may overlap y: x is rotated before any row is written.
TEST_CASE("rotated_gemv: errors and x overlapping y, on every executor") {
    const std::size_t K = 256;
    weight_set s;
    make_weights(K, s);
    auto q = hadamard_rotation::make(K, 21);
    REQUIRE(q);
    matmul_options opt;
    opt.path = matmul_path::int8_dot;
    every_executor([&](auto& exec, const std::string& name) {
        CAPTURE(name);
        matmul_workspace mws;
        for (std::size_t i = 0; i < s.views.size(); ++i) {
            CAPTURE(s.names[i]);
            const weights_view& w = s.views[i];
            std::vector<float> y(w.rows(), -1.0f);
            const std::vector<float> y_before = y;
            span<float> ys[] = {span<float>(y)};
            const span<const span<float>> yv(ys, 1);
            const span<const weights_view> wv(&w, 1);
            for (float bad : {std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::infinity()}) {
                std::vector<float> x = lowbit_test::gaussian(K, 5u);
                x[K / 3] = bad;
                const std::string where = "x[" + std::to_string(K / 3) + "]";
                status st = rotated_gemv(*q, w, span<const float>(x), span<float>(y), exec, opt, mws);
                CHECK(st.code() == errc::non_finite);
                CHECK(std::string(st.message()).find(where) != std::string::npos);
                st = rotated_multi_gemv(*q, wv, span<const float>(x), yv, exec, opt, mws);
                CHECK(st.code() == errc::non_finite);
                CHECK(std::string(st.message()).find(where) != std::string::npos);
                CHECK(y == y_before);
                // the arguments first: y one short, an unknown path
                CHECK(rotated_gemv(*q, w, span<const float>(x), span<float>(y.data(), y.size() - 1), exec, opt, mws)
                          .code() == errc::shape_mismatch);
                matmul_options bad_path;
                bad_path.path = static_cast<matmul_path>(9);
                CHECK(rotated_gemv(*q, w, span<const float>(x), span<float>(y), exec, bad_path, mws).code() ==
                      errc::invalid_argument);
                CHECK(rotated_multi_gemv(*q, wv, span<const float>(x), yv, exec, bad_path, mws).code() ==
                      errc::invalid_argument);
                CHECK(y == y_before);
            }
            // x overlapping y: x's first values are y's last ones
            const std::vector<float> x = lowbit_test::gaussian(K, 6u);
            std::vector<float> xr = x, want(w.rows());
            REQUIRE(q->apply(span<float>(xr)).ok());
            REQUIRE(gemv(w, span<const float>(xr), span<float>(want), serial_executor{}, opt).ok());
            std::vector<float> buf(w.rows() + K);
            std::copy(x.begin(), x.end(), buf.begin() + static_cast<long>(w.rows()) - 3);
            REQUIRE(rotated_gemv(*q, w, span<const float>(buf.data() + w.rows() - 3, K), span<float>(buf.data(), w.rows()),
                                              exec, opt, mws)
                        .ok());
            CHECK(std::memcmp(buf.data(), want.data(), want.size() * sizeof(float)) == 0);
        }
    });
}
