// AWQ on ggml's block formats (include/lowbit/algo/awq_gguf.hpp) and its fold
// into a LLaMA layer (examples/lowbit-quantize/awq_fold.hpp): the search never
// loses to the plain quantizer on its own loss, the scaled Hessian is that of
// the scaled input, the folded float layer computes what the original did, and
// bad input is a status; the clip search per ggml block lowers the H-weighted
// error when blocks are independent; lowbit schemes join the search through
// awq_lowbit_round_trip (their rtn, alone or beside a ggml type in a group).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <lowbit/algo/awq.hpp>
#include <lowbit/algo/awq_gguf.hpp>
#include <lowbit/parallel.hpp>

#include "../examples/lowbit-quantize/awq_fold.hpp"
#include "prefill.hpp"  // examples/llama

namespace {

using lowbit::gguf::gguf_type;
using lowbit::matrix_view;
using lowbit::span;

// T tokens of K correlated activations whose channel magnitudes span two decades (a few salient ones), and W (N x K).
struct layer_data {
    std::size_t N, K, T;
    std::vector<float> w, x, x_mean, imp, h;
};

layer_data make_layer(std::size_t N, std::size_t K, std::size_t T, std::uint32_t seed) {
    layer_data d{N, K, T, {}, {}, {}, {}, {}};
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> mag(K);
    for (std::size_t j = 0; j < K; ++j) mag[j] = j % 17 == 3 ? 20.0f : 0.2f + 2.0f * static_cast<float>(j % 5) / 5.0f;
    d.w.resize(N * K);
    for (float& v : d.w) v = 0.05f * nd(rng);
    d.x.resize(T * K);
    for (std::size_t t = 0; t < T; ++t) {
        const float common = nd(rng);
        for (std::size_t j = 0; j < K; ++j) d.x[t * K + j] = mag[j] * (0.6f * nd(rng) + 0.4f * common);
    }
    d.x_mean.assign(K, 0.0f);
    d.imp.assign(K, 0.0f);
    d.h.assign(K * K, 0.0f);
    for (std::size_t t = 0; t < T; ++t)
        for (std::size_t i = 0; i < K; ++i) {
            const float xi = d.x[t * K + i];
            d.x_mean[i] += std::fabs(xi) / static_cast<float>(T);
            d.imp[i] += xi * xi / static_cast<float>(T);
            for (std::size_t j = 0; j < K; ++j) d.h[i * K + j] += xi * d.x[t * K + j] / static_cast<float>(T);
        }
    return d;
}

// sum_r |(W - deq diag(1/s)) x|^2 / sum_r |W x|^2 over the tokens, by direct products.
double relative_output_error(const layer_data& d, const std::vector<float>& deq, const std::vector<float>& s) {
    double e = 0, ref = 0;
    for (std::size_t tk = 0; tk < d.T; ++tk)
        for (std::size_t r = 0; r < d.N; ++r) {
            double y = 0, yq = 0;
            for (std::size_t j = 0; j < d.K; ++j) {
                y += static_cast<double>(d.w[r * d.K + j]) * d.x[tk * d.K + j];
                yq += static_cast<double>(deq[r * d.K + j]) / s[j] * d.x[tk * d.K + j];
            }
            e += (y - yq) * (y - yq);
            ref += y * y;
        }
    return e / ref;
}

// sum_r |(W - Q) x|^2 over the tokens for Q = Q(W diag s) diag(1/s), by direct products (the loss's definition).
double direct_error(const layer_data& d, gguf_type t, const std::vector<float>& s, const float* imp) {
    const std::size_t rs = static_cast<std::size_t>(lowbit::gguf::row_size(t, static_cast<std::int64_t>(d.K)));
    std::vector<float> ws(d.N * d.K), deq(d.N * d.K);
    for (std::size_t r = 0; r < d.N; ++r)
        for (std::size_t j = 0; j < d.K; ++j) ws[r * d.K + j] = d.w[r * d.K + j] * s[j];
    std::vector<float> scaled_imp;
    if (imp)
        for (std::size_t j = 0; j < d.K; ++j) scaled_imp.push_back(imp[j] / (s[j] * s[j]));
    std::vector<std::uint8_t> q(d.N * rs);
    REQUIRE(lowbit::gguf::quantize(t, ws.data(), q.data(), static_cast<std::int64_t>(d.N), static_cast<std::int64_t>(d.K),
                                   imp ? scaled_imp.data() : nullptr)
                .ok());
    for (std::size_t r = 0; r < d.N; ++r)
        REQUIRE(lowbit::gguf::dequantize_row(t, q.data() + r * rs, deq.data() + r * d.K, static_cast<std::int64_t>(d.K)).ok());
    return relative_output_error(d, deq, s);
}

}  // namespace

TEST_CASE("awq_search_gguf: never worse than the plain quantizer on its loss, which is the layer-output error") {
    const layer_data d = make_layer(48, 256, 384, 7);
    const matrix_view<const float> h(d.h.data(), d.K, d.K);
    lowbit::thread_pool pool(2);
    for (gguf_type t : {gguf_type::q4_0, gguf_type::q4_K, gguf_type::q3_K, gguf_type::q2_K, gguf_type::q6_K}) {
        for (bool weighted : {false, true}) {
            CAPTURE(lowbit::gguf::type_name(t));
            CAPTURE(weighted);
            const lowbit::awq_gguf_linear l{t, matrix_view<const float>(d.w.data(), d.N, d.K)};
            lowbit::awq_gguf_options o;
            if (weighted) o.importance = span<const float>(d.imp.data(), d.K);
            auto r = lowbit::awq_search_gguf(span<const lowbit::awq_gguf_linear>(&l, 1), span<const float>(d.x_mean.data(), d.K), h, o, pool);
            REQUIRE_MESSAGE(r.ok(), r.error().message());
            REQUIRE(r->scales.size() == d.K);
            CHECK(r->loss <= r->loss_plain);
            // a = 0 is the plain quantizer; the loss is the relative output error over the tokens, computed directly.
            const std::vector<float> ones(d.K, 1.0f);
            CHECK(r->loss_plain == doctest::Approx(direct_error(d, t, ones, weighted ? d.imp.data() : nullptr)).epsilon(1e-3));
            CHECK(r->loss == doctest::Approx(direct_error(d, t, r->scales, weighted ? d.imp.data() : nullptr)).epsilon(1e-3));
            // With salient channels the search finds a better ratio; printed for docs/ptq.md.
            CHECK(r->best_ratio > 0.0f);
            CHECK(r->loss < r->loss_plain);
            std::printf("awq_gguf %-4s %-10s best a %.2f  loss %.4e (plain %.4e, %.1f %% lower)\n", lowbit::gguf::type_name(t),
                        weighted ? "imatrix" : "unweighted", static_cast<double>(r->best_ratio), r->loss, r->loss_plain,
                        100.0 * (1.0 - r->loss / r->loss_plain));
        }
    }
}

TEST_CASE("awq_candidate_scales and awq_scaled_hessian") {
    const std::vector<float> xm = {0.0f, 1.0f, 4.0f, 4.0f, 16.0f};
    const std::vector<float> s0 = lowbit::awq_candidate_scales(span<const float>(xm.data(), xm.size()), 0.0);
    for (float v : s0) CHECK(v == 1.0f);
    const std::vector<float> s = lowbit::awq_candidate_scales(span<const float>(xm.data(), xm.size()), 0.5);
    // x^0.5 = {1e-4 (clamped), 1, 2, 2, 4} / sqrt(4 * 1e-4)
    CHECK(s[0] == doctest::Approx(1e-4 / 0.02));
    CHECK(s[4] == doctest::Approx(4.0 / 0.02));
    CHECK(s[2] == s[3]);  // equal statistics, equal scales (the GQA tie relies on it)

    const layer_data d = make_layer(4, 32, 64, 3);
    lowbit::hessian h(d.K), hs(d.K);
    std::vector<float> sc(d.K), xs(d.x.size());
    for (std::size_t j = 0; j < d.K; ++j) sc[j] = 0.5f + static_cast<float>(j % 7) * 0.3f;
    for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = d.x[i] / sc[i % d.K];
    REQUIRE(h.add_batch(matrix_view<const float>(d.x.data(), d.T, d.K)).ok());
    REQUIRE(hs.add_batch(matrix_view<const float>(xs.data(), d.T, d.K)).ok());
    auto t = lowbit::awq_scaled_hessian(h, span<const float>(sc.data(), sc.size()));
    REQUIRE(t.ok());
    CHECK(t->samples() == hs.samples());
    for (std::size_t i = 0; i < d.K; ++i)
        for (std::size_t j = 0; j < d.K; ++j) CHECK(t->matrix()(i, j) == doctest::Approx(hs.matrix()(i, j)).epsilon(1e-4).scale(1e-3));
    CHECK_FALSE(lowbit::awq_scaled_hessian(h, span<const float>(sc.data(), 5)).ok());
}

TEST_CASE("awq_search_gguf: bad input is a status") {
    const layer_data d = make_layer(8, 64, 32, 5);
    const matrix_view<const float> h(d.h.data(), d.K, d.K);
    const lowbit::awq_gguf_linear l{gguf_type::q4_0, matrix_view<const float>(d.w.data(), d.N, d.K)};
    const span<const lowbit::awq_gguf_linear> g(&l, 1);
    const span<const float> xm(d.x_mean.data(), d.K);
    CHECK_FALSE(lowbit::awq_search_gguf(span<const lowbit::awq_gguf_linear>(), xm, h).ok());               // empty group
    CHECK_FALSE(lowbit::awq_search_gguf(g, span<const float>(d.x_mean.data(), 32), h).ok());              // K mismatch
    std::vector<float> bad = d.x_mean;
    bad[3] = NAN;
    CHECK_FALSE(lowbit::awq_search_gguf(g, span<const float>(bad.data(), d.K), h).ok());                   // NaN statistic
    bad[3] = -1.0f;
    CHECK_FALSE(lowbit::awq_search_gguf(g, span<const float>(bad.data(), d.K), h).ok());                   // negative statistic
    std::vector<float> wn = d.w;
    wn[10] = INFINITY;
    const lowbit::awq_gguf_linear ln{gguf_type::q4_0, matrix_view<const float>(wn.data(), d.N, d.K)};
    CHECK_FALSE(lowbit::awq_search_gguf(span<const lowbit::awq_gguf_linear>(&ln, 1), xm, h).ok());         // Inf weight
    const lowbit::awq_gguf_linear lk{gguf_type::q4_K, matrix_view<const float>(d.w.data(), d.N, d.K)};
    CHECK_FALSE(lowbit::awq_search_gguf(span<const lowbit::awq_gguf_linear>(&lk, 1), xm, h).ok());         // 64 not a Q4_K block
    const std::vector<float> zero(d.K * d.K, 0.0f);
    CHECK_FALSE(lowbit::awq_search_gguf(g, xm, matrix_view<const float>(zero.data(), d.K, d.K)).ok());  // no output energy
    lowbit::awq_gguf_options o;
    o.grid = 0;
    CHECK_FALSE(lowbit::awq_search_gguf(g, xm, h, o).ok());
    o.grid = 20;
    o.importance = span<const float>(d.imp.data(), 8);
    CHECK_FALSE(lowbit::awq_search_gguf(g, xm, h, o).ok());
    // session 36: null spans were dereferenced; awq_gguf_loss read h and s unchecked (an h smaller than
    // K x K was read out of bounds); awq_clip_gguf read a null h
    o.importance = span<const float>(nullptr, d.K);
    CHECK(std::string(lowbit::awq_search_gguf(g, xm, h, o).error().message()).find("options.importance is null") != std::string::npos);
    CHECK(std::string(lowbit::awq_search_gguf(g, span<const float>(nullptr, d.K), h).error().message()).find("x_mean is null") !=
          std::string::npos);
    const std::vector<float> s(d.K, 1.0f);
    CHECK(lowbit::awq_gguf_loss(g, span<const float>(s.data(), d.K), h).ok());
    CHECK(lowbit::awq_gguf_loss(g, span<const float>(s.data(), d.K), matrix_view<const float>(d.h.data(), 32, 32)).error().code() ==
          lowbit::errc::shape_mismatch);
    CHECK(lowbit::awq_gguf_loss(g, span<const float>(s.data(), 32), h).error().code() == lowbit::errc::shape_mismatch);
    std::vector<float> s0 = s;
    s0[9] = 0.0f;
    CHECK(std::string(lowbit::awq_gguf_loss(g, span<const float>(s0.data(), d.K), h).error().message()).find("s[9]") != std::string::npos);
    std::vector<float> wc = d.w;
    CHECK(std::string(lowbit::awq_clip_gguf(gguf_type::q4_0, matrix_view<float>(wc.data(), d.N, d.K), matrix_view<const float>(nullptr, d.K, d.K))
                          .error()
                          .message())
              .find("h") != std::string::npos);
    CHECK(wc == d.w);
}

TEST_CASE("fold_awq_scales: the folded float layer computes the original's output (GQA, tied attn_output scales)") {
    llama::model m;
    m.c.dim = 64, m.c.hidden = 96, m.c.layers = 1, m.c.heads = 4, m.c.kv_heads = 2, m.c.vocab = 8, m.c.seq_len = 32;
    REQUIRE(m.c.validate().ok());
    const std::size_t D = 64, KV = static_cast<std::size_t>(m.c.kv_dim()), H = 96, N = 24;
    std::mt19937 rng(11);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::uniform_real_distribution<float> ud(0.3f, 3.0f);
    m.layers.resize(1);
    llama::layer& y = m.layers[0];
    auto fill = [&](llama::linear& w, std::size_t rows, std::size_t cols) {
        w.rows = rows, w.cols = cols;
        w.w.resize(rows * cols);
        for (float& v : w.w) v = nd(rng) / std::sqrt(static_cast<float>(cols));
    };
    fill(y.wq, D, D), fill(y.wk, KV, D), fill(y.wv, KV, D), fill(y.wo, D, D), fill(y.w1, H, D), fill(y.w3, H, D), fill(y.w2, D, H);
    for (auto* g : {&y.att_norm, &y.ffn_norm}) {
        g->resize(D);
        for (float& v : *g) v = ud(rng);
    }
    std::vector<float> x0(N * D);
    for (float& v : x0) v = nd(rng);
    lowbit::serial_executor ex;
    auto run = [&]() {
        llama::prefill_state ps;
        llama::prefill_resize(m.c, N, ps);
        ps.x = x0;
        llama::prefill_layer(m, 0, N, ps, ex);
        return ps.x;
    };
    const std::vector<float> before = run();

    lbq::awq_layer_scales sc;
    using tp = llama::tap_point;
    for (tp at : {tp::attn_in, tp::wo_in, tp::ffn_in, tp::w2_in}) {
        std::vector<float>& s = sc[at];
        s.resize(at == tp::w2_in ? H : D);
        for (float& v : s) v = ud(rng);
    }
    sc[tp::wo_in] = lbq::tie_to_kv_heads(sc[tp::wo_in], m.c);
    const std::size_t hd = static_cast<std::size_t>(m.c.head_size());
    CHECK(sc[tp::wo_in][0 * hd + 5] == sc[tp::wo_in][1 * hd + 5]);  // query heads 0 and 1 share kv head 0
    CHECK(sc[tp::wo_in][2 * hd + 5] == sc[tp::wo_in][3 * hd + 5]);
    const std::vector<float> wq0 = y.wq.w;
    lbq::fold_awq_scales(y, m.c, sc);
    CHECK(y.wq.w != wq0);
    const std::vector<float> after = run();
    double e = 0, ref = 0, worst = 0;
    for (std::size_t i = 0; i < before.size(); ++i) {
        const double dlt = static_cast<double>(after[i]) - before[i];
        e += dlt * dlt, ref += static_cast<double>(before[i]) * before[i];
        worst = std::max(worst, std::fabs(dlt));
    }
    INFO("relative error ", std::sqrt(e / ref), ", worst ", worst);
    CHECK(std::sqrt(e / ref) < 1e-5);  // f32 rounding of a reordered product (scales up to 10x apart)
}

TEST_CASE("awq_clip_gguf: with a diagonal H (blocks independent) the clipped weights quantize to a smaller H-weighted error") {
    // Heavy-tailed rows: a few large values per block, where clamping them helps the rest of the block.
    const std::size_t N = 16, K = 512;
    std::mt19937 rng(5);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> w(N * K), hdiag(K), h(K * K, 0.0f);
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = i % 61 == 0 ? 8.0f * nd(rng) : nd(rng);
    for (std::size_t j = 0; j < K; ++j) h[j * K + j] = hdiag[j] = 0.5f + static_cast<float>(j % 3);
    const matrix_view<const float> hv(h.data(), K, K);
    for (gguf_type t : {gguf_type::q4_K, gguf_type::q2_K, gguf_type::q4_0}) {
        CAPTURE(lowbit::gguf::type_name(t));
        auto err = [&](const std::vector<float>& src) {  // sum_j h_jj (w_j - Q(src)_j)^2 over all rows
            const std::size_t rs = static_cast<std::size_t>(lowbit::gguf::row_size(t, static_cast<std::int64_t>(K)));
            std::vector<std::uint8_t> q(N * rs);
            std::vector<float> dq(K);
            REQUIRE(lowbit::gguf::quantize(t, src.data(), q.data(), static_cast<std::int64_t>(N), static_cast<std::int64_t>(K), hdiag.data()).ok());
            double e = 0;
            for (std::size_t r = 0; r < N; ++r) {
                REQUIRE(lowbit::gguf::dequantize_row(t, q.data() + r * rs, dq.data(), static_cast<std::int64_t>(K)).ok());
                for (std::size_t j = 0; j < K; ++j) e += hdiag[j] * (static_cast<double>(w[r * K + j]) - dq[j]) * (w[r * K + j] - dq[j]);
            }
            return e;
        };
        std::vector<float> c = w;
        auto n = lowbit::awq_clip_gguf(t, matrix_view<float>(c.data(), N, K), hv, span<const float>(hdiag.data(), K));
        REQUIRE_MESSAGE(n.ok(), n.error().message());
        CHECK(*n > 0);
        for (std::size_t i = 0; i < c.size(); ++i) CHECK(std::fabs(c[i]) <= std::fabs(w[i]));
        const double e0 = err(w), e1 = err(c);
        std::printf("awq_clip_gguf %-4s clipped %zu blocks, H-weighted error %.4e -> %.4e\n", lowbit::gguf::type_name(t), *n, e0, e1);
        if (t != gguf_type::q4_0) CHECK(e1 <= e0);  // Q4_0's imatrix path weighs by the whole row's mean square: not block-independent
    }
    std::vector<float> c = w;
    CHECK_FALSE(lowbit::awq_clip_gguf(gguf_type::f16, matrix_view<float>(c.data(), N, K), hv).ok());
    CHECK_FALSE(lowbit::awq_clip_gguf(gguf_type::q4_K, matrix_view<float>(c.data(), N, 256), hv).ok());
    CHECK_FALSE(lowbit::awq_clip_gguf(gguf_type::q4_K, matrix_view<float>(c.data(), N, K), hv, {}, 20, 1.0f).ok());
    c[7] = NAN;
    CHECK_FALSE(lowbit::awq_clip_gguf(gguf_type::q4_K, matrix_view<float>(c.data(), N, K), hv).ok());
}

// Lowbit schemes in the group search (issue 17): awq_lowbit_round_trip (algo/awq.hpp)
// as a linear's round_trip, alone or beside a ggml type in one group.
namespace {

// direct_error's twin for a lowbit scheme: Q = lowbit::quantize of the whole
// scaled matrix (the search quantizes blocks of 32 rows; row-local schemes agree).
double direct_error_lowbit(const layer_data& d, const lowbit::runtime_scheme& sc, const std::vector<float>& s) {
    std::vector<float> ws(d.N * d.K), deq(d.N * d.K);
    for (std::size_t r = 0; r < d.N; ++r)
        for (std::size_t j = 0; j < d.K; ++j) ws[r * d.K + j] = d.w[r * d.K + j] * s[j];
    auto q = lowbit::quantize(sc, matrix_view<const float>(ws.data(), d.N, d.K));
    REQUIRE(q.ok());
    REQUIRE(lowbit::dequantize(*q, lowbit::matrix_view<float>(deq.data(), d.N, d.K)).ok());
    return relative_output_error(d, deq, s);
}

}  // namespace

TEST_CASE("awq_search_gguf on lowbit grids (awq_lowbit_round_trip): a = 0 is the scheme's rtn, never worse, mixed groups") {
    const layer_data d = make_layer(48, 256, 384, 7);
    const matrix_view<const float> h(d.h.data(), d.K, d.K), w(d.w.data(), d.N, d.K);
    lowbit::thread_pool pool(2);
    lowbit::runtime_scheme w4g32, w3g64a, w8pc, w5pt;
    w4g32.group = 32;
    w3g64a.bits = 3, w3g64a.group = 64, w3g64a.symmetric = false;
    w8pc.bits = 8, w8pc.gran = lowbit::granularity::per_channel;
    w5pt.bits = 5, w5pt.gran = lowbit::granularity::per_tensor;
    const std::vector<float> ones(d.K, 1.0f);
    for (const lowbit::runtime_scheme* sc : {&w4g32, &w3g64a, &w8pc}) {
        char name[32];
        sc->name(name, sizeof name);
        CAPTURE(name);
        lowbit::awq_gguf_linear l{gguf_type::f32, w};
        l.round_trip = lowbit::awq_lowbit_round_trip<>, l.round_trip_ctx = sc;
        auto r = lowbit::awq_search_gguf(span<const lowbit::awq_gguf_linear>(&l, 1), span<const float>(d.x_mean.data(), d.K), h, {}, pool);
        REQUIRE_MESSAGE(r.ok(), r.error().message());
        CHECK(r->loss <= r->loss_plain);
        CHECK(r->loss_plain == doctest::Approx(direct_error_lowbit(d, *sc, ones)).epsilon(1e-3));
        CHECK(r->loss == doctest::Approx(direct_error_lowbit(d, *sc, r->scales)).epsilon(1e-3));
        std::printf("awq on lowbit %-7s best a %.2f  loss %.4e (rtn %.4e)\n", name, static_cast<double>(r->best_ratio), r->loss, r->loss_plain);
    }
    // the 3- and 4-bit grids leave room: the salient channels move the ratio off 0
    lowbit::awq_gguf_linear l4{gguf_type::f32, w}, lq{gguf_type::q4_0, w};
    l4.round_trip = lowbit::awq_lowbit_round_trip<>, l4.round_trip_ctx = &w4g32;
    auto r4 = lowbit::awq_search_gguf(span<const lowbit::awq_gguf_linear>(&l4, 1), span<const float>(d.x_mean.data(), d.K), h, {}, pool);
    REQUIRE(r4.ok());
    CHECK(r4->best_ratio > 0.0f);
    // one group, both grids: its loss is the sum of each linear's
    const lowbit::awq_gguf_linear both[] = {lq, l4};
    auto rb = lowbit::awq_search_gguf(span<const lowbit::awq_gguf_linear>(both, 2), span<const float>(d.x_mean.data(), d.K), h, {}, pool);
    REQUIRE(rb.ok());
    CHECK(rb->loss_plain == doctest::Approx(direct_error(d, gguf_type::q4_0, ones, nullptr) + direct_error_lowbit(d, w4g32, ones)).epsilon(1e-3));
    CHECK(rb->loss <= rb->loss_plain);
    // a per-tensor scale cannot be rounded a block of rows at a time: refused
    lowbit::awq_gguf_linear lt{gguf_type::f32, w};
    lt.round_trip = lowbit::awq_lowbit_round_trip<>, lt.round_trip_ctx = &w5pt;
    auto rt = lowbit::awq_search_gguf(span<const lowbit::awq_gguf_linear>(&lt, 1), span<const float>(d.x_mean.data(), d.K), h, {}, pool);
    REQUIRE_FALSE(rt.ok());
    CHECK(std::string(rt.error().message()).find("per-tensor") != std::string::npos);
}
