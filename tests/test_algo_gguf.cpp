// algo/gptq_gguf.hpp: GPTQ written as ggml block formats (the legacy types,
// the K-quants, IQ4_NL and IQ4_XS's non-uniform grids, IQ3_S and IQ3_XXS's lattices). For every type the
// bytes decode to exactly the values the sweep coded; with a diagonal Hessian
// (no error propagates) they are gguf::quantize's bytes, with and without an
// importance matrix and with act-order; on a real layer (tinyllama-sotu layer 0
// q/k/v with its real input activations, and its down_proj with correlated
// synthetic activations) the layer-output error beats round-to-nearest and
// imatrix round-to-nearest. Hostile input gives a status.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include <lowbit/algo/gptq_codebook.hpp>
#include <lowbit/algo/gptq_gguf.hpp>
#include <lowbit/formats/safetensors.hpp>
#include <lowbit/parallel.hpp>

#include "test_util.hpp"
#include "token_ids.hpp"

using namespace lowbit;
using gguf::gguf_type;

namespace {
struct rng {
    std::uint64_t s;
    explicit rng(std::uint64_t seed) : s(seed * 0x9e3779b97f4a7c15ull + 1) {}
    double uniform() {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        return static_cast<double>(s >> 11) * (1.0 / 9007199254740992.0);
    }
    float normal() {
        const double u1 = uniform() + 1e-300, u2 = uniform();
        return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
    }
};

const gguf_type all_types[] = {gguf_type::q4_0, gguf_type::q4_1, gguf_type::q5_0, gguf_type::q5_1, gguf_type::q8_0,
                               gguf_type::q2_K, gguf_type::q3_K, gguf_type::q4_K, gguf_type::q5_K, gguf_type::q6_K,
                               gguf_type::iq4_nl, gguf_type::iq4_xs};
// and the lattice types, which GPTQ codes a grid point (IQ3_S: 4 values; IQ3_XXS: 8, two points and their sign parity) at a time
const gguf_type gptq_types[] = {gguf_type::q4_0, gguf_type::q4_1, gguf_type::q5_0, gguf_type::q5_1, gguf_type::q8_0,
                                gguf_type::q2_K, gguf_type::q3_K, gguf_type::q4_K, gguf_type::q5_K, gguf_type::q6_K,
                                gguf_type::iq4_nl, gguf_type::iq4_xs, gguf_type::iq3_s, gguf_type::iq3_xxs};

// Weights with ggml-like structure: gaussian, a few large outliers, one row of zeros.
std::vector<float> test_weights(std::size_t N, std::size_t K, std::uint64_t seed) {
    rng r(seed);
    std::vector<float> w(N * K);
    for (float& v : w) v = 0.02f * r.normal();
    for (std::size_t i = 0; i < N * K; i += 97) w[i] *= 8.0f;
    if (N > 2)
        for (std::size_t j = 0; j < K; ++j) w[2 * K + j] = 0.0f;
    return w;
}

// T x K activations with correlated channels: x = z A, A = I + 0.6 * (random mixing), some loud channels.
std::vector<float> correlated_activations(std::size_t T, std::size_t K, std::uint64_t seed) {
    rng r(seed);
    const std::size_t F = 16;  // latent factors shared by all channels
    std::vector<float> mix(F * K), x(T * K);
    for (float& v : mix) v = r.normal();
    for (std::size_t t = 0; t < T; ++t) {
        float f[F];
        for (float& v : f) v = r.normal();
        for (std::size_t j = 0; j < K; ++j) {
            float s = r.normal();
            for (std::size_t k = 0; k < F; ++k) s += 0.6f * f[k] * mix[k * K + j];
            x[t * K + j] = s * (j % 61 == 0 ? 6.0f : 1.0f);
        }
    }
    return x;
}

hessian identity_like(std::size_t K, const std::vector<float>& diag) {
    std::vector<float> h(K * K, 0.0f);
    for (std::size_t j = 0; j < K; ++j) h[j * K + j] = diag.empty() ? 1.0f : diag[j];
    auto r = hessian::from_matrix(matrix_view<const float>(h.data(), K, K), 1.0);
    REQUIRE(r.ok());
    return std::move(*r);
}

std::vector<std::uint8_t> rtn_bytes(gguf_type t, const std::vector<float>& w, std::size_t N, std::size_t K, const float* imatrix) {
    std::vector<std::uint8_t> out(N * static_cast<std::size_t>(gguf::row_size(t, static_cast<std::int64_t>(K))));
    REQUIRE(gguf::quantize(t, w.data(), out.data(), static_cast<std::int64_t>(N), static_cast<std::int64_t>(K), imatrix).ok());
    return out;
}

std::vector<float> decode_bytes(gguf_type t, const std::vector<std::uint8_t>& bytes, std::size_t N, std::size_t K) {
    std::vector<float> out(N * K);
    const std::size_t rs = static_cast<std::size_t>(gguf::row_size(t, static_cast<std::int64_t>(K)));
    for (std::size_t r = 0; r < N; ++r)
        REQUIRE(gguf::dequantize_row(t, bytes.data() + r * rs, out.data() + r * K, static_cast<std::int64_t>(K)).ok());
    return out;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// ||X W^T - X Wq^T||_F / ||X W^T||_F, in double.
double rel_output_error(const std::vector<float>& x, std::size_t T, const std::vector<float>& w, const std::vector<float>& wq,
                        std::size_t N, std::size_t K) {
    std::vector<double> dw(K), wr(K);
    double e = 0, ref = 0;
    for (std::size_t n = 0; n < N; ++n) {
        for (std::size_t k = 0; k < K; ++k) dw[k] = static_cast<double>(w[n * K + k]) - wq[n * K + k], wr[k] = w[n * K + k];
        for (std::size_t t = 0; t < T; ++t) {
            const float* xt = x.data() + t * K;
            double y = 0, dy = 0;
            for (std::size_t k = 0; k < K; ++k) y += xt[k] * wr[k], dy += xt[k] * dw[k];
            e += dy * dy;
            ref += y * y;
        }
    }
    return std::sqrt(e / ref);
}

std::vector<std::uint8_t> read_all(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    REQUIRE(f.good());
    return std::vector<std::uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}


struct sotu_layer0 {
    std::vector<float> qkv;  // q_proj, k_proj, v_proj stacked: 512 x 256
    std::vector<float> down; // 256 x 768
    std::vector<float> x_cal, x_eval;  // rmsnorm(embedding) * input_layernorm: the real input of q/k/v
    std::size_t T_cal = 0, T_eval = 0;
};

sotu_layer0 load_sotu() {
    const std::string dir = std::string(LOWBIT_TEST_DATA_DIR) + "/tinyllama-sotu/";
    const std::vector<std::uint8_t> bytes = read_all(dir + "model.safetensors");
    auto f = safetensors::safetensors_file::parse(span<const std::uint8_t>(bytes.data(), bytes.size()));
    REQUIRE(f.ok());
    auto tensor = [&](const char* name) {
        const safetensors::tensor_info* t = f->find_tensor(name);
        REQUIRE(t != nullptr);
        std::vector<float> v(static_cast<std::size_t>(t->n_elements));
        REQUIRE(safetensors::read_f32(*t, span<float>(v.data(), v.size())).ok());
        return v;
    };
    sotu_layer0 L;
    for (const char* n : {"model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight",
                          "model.layers.0.self_attn.v_proj.weight"}) {
        const std::vector<float> w = tensor(n);
        L.qkv.insert(L.qkv.end(), w.begin(), w.end());
    }
    L.down = tensor("model.layers.0.mlp.down_proj.weight");
    const std::vector<float> emb = tensor("model.embed_tokens.weight"), g = tensor("model.layers.0.input_layernorm.weight");
    const std::vector<int> tok = lowbit_test::read_u16_token_ids(dir + "dev_tokens.npy");
    const std::size_t D = 256;
    REQUIRE(tok.size() >= 1536);
    auto rows = [&](std::size_t t0, std::size_t n, std::vector<float>& x) {
        x.resize(n * D);
        for (std::size_t t = 0; t < n; ++t) {
            const std::size_t id = static_cast<std::size_t>(tok[t0 + t]);
            REQUIRE(id < 1024);
            double ss = 0;
            for (std::size_t j = 0; j < D; ++j) ss += static_cast<double>(emb[id * D + j]) * emb[id * D + j];
            const float inv = static_cast<float>(1.0 / std::sqrt(ss / D + 1e-5));
            for (std::size_t j = 0; j < D; ++j) x[t * D + j] = emb[id * D + j] * inv * g[j];
        }
    };
    L.T_cal = 1024, L.T_eval = 256;
    rows(0, L.T_cal, L.x_cal);        // calibration: the first 1024 held-out tokens
    rows(L.T_cal, L.T_eval, L.x_eval);  // evaluation: the next 256, not seen by calibration
    return L;
}

// llama-imatrix's statistic: the mean of x^2 per input column.
std::vector<float> imatrix_of(const std::vector<float>& x, std::size_t T, std::size_t K) {
    std::vector<double> s(K, 0.0);
    for (std::size_t t = 0; t < T; ++t)
        for (std::size_t j = 0; j < K; ++j) s[j] += static_cast<double>(x[t * K + j]) * x[t * K + j];
    std::vector<float> out(K);
    for (std::size_t j = 0; j < K; ++j) out[j] = static_cast<float>(s[j] / static_cast<double>(T));
    return out;
}
}  // namespace

TEST_CASE("gptq_gguf: a diagonal Hessian gives gguf::quantize's bytes for every type, with or without imatrix and act-order") {
    const std::size_t N = 6, K = 512;
    const std::vector<float> w = test_weights(N, K, 1);
    rng r(2);
    std::vector<float> qw(K), diag(K);
    for (float& v : qw) v = 0.1f + static_cast<float>(r.uniform()) * 3.0f;
    for (float& v : diag) v = 0.5f + static_cast<float>(r.uniform());  // distinct: act-order really permutes
    const matrix_view<const float> wv(w.data(), N, K);
    for (gguf_type t : gptq_types) {
        CAPTURE(gguf::type_name(t));
        for (int variant = 0; variant < 4; ++variant) {
            CAPTURE(variant);
            const bool imat = variant & 1, act = variant & 2;
            gptq_gguf_options o;
            o.act_order = act;
            o.keep_values = true;
            if (imat) o.importance = span<const float>(qw.data(), K);
            const hessian h = identity_like(K, act ? diag : std::vector<float>{});
            auto g = gptq_quantize_gguf(t, wv, h, o);
            REQUIRE(g.ok());
            CHECK(g->row_size == static_cast<std::size_t>(gguf::row_size(t, K)));
            CHECK(g->data == rtn_bytes(t, w, N, K, imat ? qw.data() : nullptr));
            CHECK(same_bits(decode_bytes(t, g->data, N, K), g->values));
        }
    }
}

TEST_CASE("gptq_gguf: on correlated activations the bytes decode to exactly the values the sweep coded") {
    // 60 rows: two row tiles (48 + 12); LOWBIT_TEST_REDUCED (ASan+UBSan): one 256-block per row.
    const std::size_t N = 60, K = lowbit_test::reduced() ? 256 : 512, T = 384;
    const std::vector<float> w = test_weights(N, K, 3), x = correlated_activations(T, K, 4);
    const std::vector<float> qw = imatrix_of(x, T, K);
    hessian h(K);
    REQUIRE(h.add_batch(matrix_view<const float>(x.data(), T, K)).ok());
    thread_pool pool(2);
    for (gguf_type t : gptq_types) {
        CAPTURE(gguf::type_name(t));
        for (int variant = 0; variant < 8; ++variant) {
            CAPTURE(variant);
            gptq_gguf_options o;
            o.keep_values = true;
            o.act_order = variant & 1;
            o.static_grids = variant & 4;
            if (variant & 2) o.importance = span<const float>(qw.data(), K);
            if (variant == 5) o.block_size = 100;  // lazy batches that cut through blocks
            auto g = gptq_quantize_gguf(t, matrix_view<const float>(w.data(), N, K), h, o);
            REQUIRE(g.ok());
            const std::vector<float> dq = decode_bytes(t, g->data, N, K);
            CHECK(same_bits(dq, g->values));
            bool finite = true;
            for (float v : dq) finite = finite && std::isfinite(v);
            CHECK(finite);
            CHECK(g->report.loss > 0.0);
        }
        // The thread count does not change the bytes.
        auto a = gptq_quantize_gguf(t, matrix_view<const float>(w.data(), N, K), h);
        auto b = gptq_quantize_gguf(t, matrix_view<const float>(w.data(), N, K), h, {}, pool);
        REQUIRE(a.ok());
        REQUIRE(b.ok());
        CHECK(a->data == b->data);
    }
}

TEST_CASE("gptq_gguf: lower layer-output error than RTN and imatrix-RTN on tinyllama-sotu layer 0, every type") {
    const sotu_layer0 L = load_sotu();
    struct layer {
        const char* name;
        const std::vector<float>* w;
        std::size_t N, K;
        std::vector<float> x_cal, x_eval;
        std::size_t T_cal, T_eval;
    };
    std::vector<layer> layers;
    layers.push_back({"attn_qkv (real activations)", &L.qkv, 512, 256, L.x_cal, L.x_eval, L.T_cal, L.T_eval});
    if (!lowbit_test::reduced()) {  // LOWBIT_TEST_REDUCED (ASan+UBSan): the real layer only
        const std::vector<float> x = correlated_activations(1280, 768, 11);  // down_proj: synthetic correlated inputs
        layers.push_back({"ffn_down (synthetic correlated)", &L.down, 256, 768, std::vector<float>(x.begin(), x.begin() + 1024 * 768),
                          std::vector<float>(x.begin() + 1024 * 768, x.end()), 1024, 256});
    }
    for (const layer& ly : layers) {
        const std::vector<float>& w = *ly.w;
        const std::vector<float> imat = imatrix_of(ly.x_cal, ly.T_cal, ly.K);
        hessian h(ly.K);
        REQUIRE(h.add_batch(matrix_view<const float>(ly.x_cal.data(), ly.T_cal, ly.K)).ok());
        const matrix_view<const float> wv(w.data(), ly.N, ly.K);
        for (gguf_type t : gptq_types) {
            CAPTURE(ly.name);
            CAPTURE(gguf::type_name(t));
            auto err = [&](const std::vector<std::uint8_t>& bytes) {
                return rel_output_error(ly.x_eval, ly.T_eval, w, decode_bytes(t, bytes, ly.N, ly.K), ly.N, ly.K);
            };
            const double e_rtn = err(rtn_bytes(t, w, ly.N, ly.K, nullptr));
            const double e_imat = err(rtn_bytes(t, w, ly.N, ly.K, imat.data()));
            gptq_gguf_options o;
            auto g = gptq_quantize_gguf(t, wv, h, o);
            o.importance = span<const float>(imat.data(), imat.size());
            auto gi = gptq_quantize_gguf(t, wv, h, o);
            o.act_order = true;
            auto ga = gptq_quantize_gguf(t, wv, h, o);
            REQUIRE(g.ok());
            REQUIRE(gi.ok());
            REQUIRE(ga.ok());
            const double e_g = err(g->data), e_gi = err(gi->data), e_ga = err(ga->data);
            std::printf("%-32s %-5s rel. output error  rtn %.5f  imatrix %.5f  gptq %.5f  gptq+imatrix %.5f  +act-order %.5f\n",
                        ly.name, gguf::type_name(t), e_rtn, e_imat, e_g, e_gi, e_ga);
            CHECK(e_g < e_rtn);
            CHECK(e_gi < e_rtn);
            CHECK(e_gi < e_imat);
            CHECK(e_ga < e_imat);
        }
    }
}

TEST_CASE("gptq_gguf: hostile input gives a clear status") {
    const std::size_t N = 4, K = 256;
    std::vector<float> w = test_weights(N, K, 5);
    const hessian h = identity_like(K, {});
    const matrix_view<const float> wv(w.data(), N, K);
    auto expect = [](const result<gptq_gguf_result>& r, errc code, const char* words) {
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code() == code);
        CHECK(std::string(r.error().message()).find(words) != std::string::npos);
    };
    SUBCASE("unsupported type") {
        expect(gptq_quantize_gguf(gguf_type::f16, wv, h), errc::unsupported, "F16");
        expect(gptq_quantize_gguf(gguf_type::q8_1, wv, h), errc::unsupported, "Q8_1");
        expect(gptq_quantize_gguf(gguf_type::iq2_xxs, wv, h), errc::unsupported, "IQ2_XXS");  // lattice of 8-value points: not yet
        gptq_gguf_options o;
        o.refine = true;
        o.refine_options.rounds = 0;
        expect(gptq_quantize_gguf(gguf_type::iq3_xxs, wv, h, o), errc::invalid_argument, "refine_options.rounds");
    }
    SUBCASE("NaN and Inf weights") {
        w[K + 7] = std::nanf("");
        expect(gptq_quantize_gguf(gguf_type::q4_K, wv, h), errc::non_finite, "w");
        w[K + 7] = INFINITY;
        expect(gptq_quantize_gguf(gguf_type::q4_0, wv, h), errc::non_finite, "w");
        expect(gptq_quantize_gguf(gguf_type::iq4_xs, wv, h), errc::non_finite, "w");
        expect(gptq_quantize_gguf(gguf_type::iq3_s, wv, h), errc::non_finite, "w");
        w[K + 7] = std::nanf("");
        expect(gptq_quantize_gguf(gguf_type::iq3_xxs, wv, h), errc::non_finite, "w");
    }
    SUBCASE("K not a multiple of the block") {
        std::vector<float> w48(N * 48, 0.1f), w288(N * 288, 0.1f);
        expect(gptq_quantize_gguf(gguf_type::q4_0, matrix_view<const float>(w48.data(), N, 48), identity_like(48, {})),
               errc::shape_mismatch, "multiple of the Q4_0 block");
        expect(gptq_quantize_gguf(gguf_type::q4_K, matrix_view<const float>(w288.data(), N, 288), identity_like(288, {})),
               errc::shape_mismatch, "multiple of the Q4_K block");
        CHECK(gptq_quantize_gguf(gguf_type::q4_0, matrix_view<const float>(w288.data(), N, 288), identity_like(288, {})).ok());
        expect(gptq_quantize_gguf(gguf_type::iq4_nl, matrix_view<const float>(w48.data(), N, 48), identity_like(48, {})),
               errc::shape_mismatch, "multiple of the IQ4_NL block");
        expect(gptq_quantize_gguf(gguf_type::iq4_xs, matrix_view<const float>(w288.data(), N, 288), identity_like(288, {})),
               errc::shape_mismatch, "multiple of the IQ4_XS block");
        CHECK(gptq_quantize_gguf(gguf_type::iq4_nl, matrix_view<const float>(w288.data(), N, 288), identity_like(288, {})).ok());
        expect(gptq_quantize_gguf(gguf_type::iq3_s, matrix_view<const float>(w288.data(), N, 288), identity_like(288, {})),
               errc::shape_mismatch, "multiple of the IQ3_S block");
        expect(gptq_quantize_gguf(gguf_type::iq3_xxs, matrix_view<const float>(w288.data(), N, 288), identity_like(288, {})),
               errc::shape_mismatch, "multiple of the IQ3_XXS block");
    }
    SUBCASE("mis-shaped or empty Hessian") {
        expect(gptq_quantize_gguf(gguf_type::q4_0, wv, identity_like(128, {})), errc::shape_mismatch, "hessian is 128 x 128");
        expect(gptq_quantize_gguf(gguf_type::q4_0, wv, hessian(K)), errc::invalid_argument, "calibration samples");
        std::vector<float> bad(K * K, 0.0f);
        bad[5] = std::nanf("");
        CHECK_FALSE(hessian::from_matrix(matrix_view<const float>(bad.data(), K, K), 1.0).ok());
        std::vector<float> zero(K * K, 0.0f);
        auto hz = hessian::from_matrix(matrix_view<const float>(zero.data(), K, K), 1.0);
        REQUIRE(hz.ok());
        expect(gptq_quantize_gguf(gguf_type::q4_0, wv, *hz), errc::invalid_argument, "hessian is zero");
    }
    SUBCASE("bad importance and options") {
        std::vector<float> qw(K, 1.0f);
        gptq_gguf_options o;
        o.importance = span<const float>(qw.data(), K - 1);
        expect(gptq_quantize_gguf(gguf_type::q4_K, wv, h, o), errc::shape_mismatch, "options.importance has 255 values");
        qw[3] = -1.0f;
        o.importance = span<const float>(nullptr, K);  // session 36: was dereferenced
        expect(gptq_quantize_gguf(gguf_type::q4_K, wv, h, o), errc::invalid_argument, "options.importance is null");
        o.importance = span<const float>(qw.data(), K);
        expect(gptq_quantize_gguf(gguf_type::q4_K, wv, h, o), errc::invalid_argument, "options.importance[3]");
        qw[3] = std::nanf("");
        expect(gptq_quantize_gguf(gguf_type::q4_K, wv, h, o), errc::invalid_argument, "options.importance[3]");
        gptq_gguf_options b;
        b.block_size = 0;
        expect(gptq_quantize_gguf(gguf_type::q4_K, wv, h, b), errc::invalid_argument, "block_size");
        b.block_size = 128;
        b.percdamp = -1.0f;
        expect(gptq_quantize_gguf(gguf_type::q4_K, wv, h, b), errc::invalid_argument, "percdamp");
    }
    SUBCASE("weights whose block scale overflows f16") {
        std::vector<float> big(N * K, 1.0f);
        big[0] = 3.0e9f;
        expect(gptq_quantize_gguf(gguf_type::q4_0, matrix_view<const float>(big.data(), N, K), h), errc::invalid_argument,
               "overflows f16");
        expect(gptq_quantize_gguf(gguf_type::iq4_nl, matrix_view<const float>(big.data(), N, K), h), errc::invalid_argument,
               "overflows f16");
        expect(gptq_quantize_gguf(gguf_type::iq4_xs, matrix_view<const float>(big.data(), N, K), h), errc::invalid_argument,
               "overflows f16");
        expect(gptq_quantize_gguf(gguf_type::iq3_s, matrix_view<const float>(big.data(), N, K), h), errc::invalid_argument,
               "overflows f16");
        expect(gptq_quantize_gguf(gguf_type::iq3_xxs, matrix_view<const float>(big.data(), N, K), h), errc::invalid_argument,
               "overflows f16");
    }
}

namespace {
// (w - q) H (w - q)^T for one row, in double, computed here independently of gguf_refit.hpp.
double row_weighted_error(const float* w, const float* q, const hessian& h, std::size_t K) {
    const matrix_view<const float> H = h.matrix();
    double s = 0;
    for (std::size_t i = 0; i < K; ++i)
        for (std::size_t j = 0; j < K; ++j) s += (static_cast<double>(w[i]) - q[i]) * H(i, j) * (static_cast<double>(w[j]) - q[j]);
    return s;
}

// The re-fit's promise against the sweep's decoded values dp: every row's H-weighted error (target wd) no
// higher than the sweep's, the total lower. Returns the totals {sweep, re-fit}.
std::pair<double, double> check_rows_no_worse(const std::vector<float>& wd, const std::vector<float>& dp, const std::vector<float>& dq,
                                              const hessian& h, std::size_t N, std::size_t K) {
    double sum_plain = 0, sum_refit = 0;
    bool no_row_worse = true;
    for (std::size_t r = 0; r < N; ++r) {
        const double ep = row_weighted_error(wd.data() + r * K, dp.data() + r * K, h, K);
        const double er = row_weighted_error(wd.data() + r * K, dq.data() + r * K, h, K);
        no_row_worse = no_row_worse && er <= ep * (1.0 + 1e-9) + 1e-12;
        sum_plain += ep, sum_refit += er;
    }
    CHECK(no_row_worse);
    CHECK(sum_refit < sum_plain);
    return {sum_plain, sum_refit};
}

// The layer the re-fit cases quantize: N x K weights, T correlated activations whose input column 40 is dead
// (H's row and column 40 are 0), their imatrix and Hessian, and the target wd (column 40 zeroed, as the sweep
// does). LOWBIT_TEST_REDUCED (ASan+UBSan): one 256-block per row (the dead column is in it).
struct refit_layer {
    std::size_t N, K, T = 384;
    std::vector<float> w, x, qw, wd;
    hessian h;
    refit_layer(std::size_t n, std::uint64_t seed)
        : N(n), K(lowbit_test::reduced() ? 256 : 512), w(test_weights(N, K, seed)), x(correlated_activations(T, K, seed + 1)), h(K) {
        for (std::size_t t = 0; t < T; ++t) x[t * K + 40] = 0.0f;
        qw = imatrix_of(x, T, K);
        REQUIRE(h.add_batch(matrix_view<const float>(x.data(), T, K)).ok());
        wd = w;
        for (std::size_t r = 0; r < N; ++r) wd[r * K + 40] = 0.0f;
    }
    // The sweep's options: values kept, the imatrix as importance.
    gptq_gguf_options options(bool act_order) const {
        gptq_gguf_options o;
        o.keep_values = true;
        o.act_order = act_order;
        o.importance = span<const float>(qw.data(), K);
        return o;
    }
};

// A block's bytes with its f16 scale fields zeroed: what the re-fit must leave alone.
template <class B>
std::vector<std::uint8_t> without_scale_fields(const std::vector<std::uint8_t>& bytes) {
    std::vector<std::uint8_t> out(bytes);
    for (std::size_t o = 0; o + sizeof(B) <= out.size(); o += sizeof(B)) {
        B b;
        std::memcpy(&b, out.data() + o, sizeof(B));
        std::uint16_t* f[2];
        const int n = lowbit::detail::refit_fields(b, f);
        for (int k = 0; k < n; ++k) *f[k] = 0;
        std::memcpy(out.data() + o, &b, sizeof(B));
    }
    return out;
}

std::vector<std::uint8_t> codes_only(gguf_type t, const std::vector<std::uint8_t>& bytes) {
    switch (t) {
        case gguf_type::q4_0: return without_scale_fields<gguf::block_q4_0>(bytes);
        case gguf_type::q4_1: return without_scale_fields<gguf::block_q4_1>(bytes);
        case gguf_type::q5_0: return without_scale_fields<gguf::block_q5_0>(bytes);
        case gguf_type::q5_1: return without_scale_fields<gguf::block_q5_1>(bytes);
        case gguf_type::q8_0: return without_scale_fields<gguf::block_q8_0>(bytes);
        case gguf_type::q2_K: return without_scale_fields<gguf::block_q2_K>(bytes);
        case gguf_type::q3_K: return without_scale_fields<gguf::block_q3_K>(bytes);
        case gguf_type::q4_K: return without_scale_fields<gguf::block_q4_K>(bytes);
        case gguf_type::q5_K: return without_scale_fields<gguf::block_q5_K>(bytes);
        case gguf_type::q6_K: return without_scale_fields<gguf::block_q6_K>(bytes);
        case gguf_type::iq4_nl: return without_scale_fields<gguf::block_iq4_nl>(bytes);
        case gguf_type::iq4_xs: return without_scale_fields<gguf::block_iq4_xs>(bytes);
        default: FAIL("type not covered"); return {};
    }
}
}  // namespace

TEST_CASE("gptq_gguf refit_scales: codes kept, every row's H-weighted error no higher, lower in total, bytes decode to the values") {
    const refit_layer L(60, 7);
    const std::size_t N = L.N, K = L.K;
    const std::vector<float>&w = L.w, &wd = L.wd;
    const hessian& h = L.h;
    for (gguf_type t : all_types) {
        CAPTURE(gguf::type_name(t));
        for (int act_order = 0; act_order < 2; ++act_order) {
            CAPTURE(act_order);
            gptq_gguf_options o = L.options(act_order != 0);
            auto plain = gptq_quantize_gguf(t, matrix_view<const float>(w.data(), N, K), h, o);
            o.refit_scales = true;
            auto refit = gptq_quantize_gguf(t, matrix_view<const float>(w.data(), N, K), h, o);
            REQUIRE(plain.ok());
            REQUIRE(refit.ok());
            CHECK(plain->refit_rows == 0);
            CHECK(refit->refit_rows > 0);
            CHECK(refit->refit_loss_after < refit->refit_loss_before);
            CHECK(codes_only(t, refit->data) == codes_only(t, plain->data));
            const std::vector<float> dq = decode_bytes(t, refit->data, N, K);
            CHECK(same_bits(dq, refit->values));
            const std::vector<float> dp = decode_bytes(t, plain->data, N, K);
            const auto [sum_plain, sum_refit] = check_rows_no_worse(wd, dp, dq, h, N, K);
            MESSAGE((std::string(gguf::type_name(t)) + (act_order ? " act-order" : "")), ": H-weighted error ", sum_plain, " -> ", sum_refit, " (",
                    refit->refit_rows, " of ", N, " rows re-fitted)");
        }
    }
}

TEST_CASE("gptq_gguf refit_scales: a row whose Hessian is zero is left as it is") {
    const std::size_t N = 3, K = 256;
    const std::vector<float> w = test_weights(N, K, 9);
    std::vector<float> zero(K * K, 0.0f);
    zero[0] = 1.0f;  // one live column: the refit may move only the block that holds it
    auto hz = hessian::from_matrix(matrix_view<const float>(zero.data(), K, K), 1.0);
    REQUIRE(hz.ok());
    std::vector<std::uint8_t> row(static_cast<std::size_t>(gguf::row_size(gguf_type::q4_0, K)));
    REQUIRE(gguf::quantize(gguf_type::q4_0, w.data(), row.data(), 1, K, nullptr).ok());
    const std::vector<std::uint8_t> before = row;
    double b = -1, a = -1;
    refit_row_scales<gguf::block_q4_0>(w.data(), hz->matrix(), row.data(), &b, &a);
    CHECK(a <= b);
    // Blocks 1..7 see no Hessian weight: their bytes do not move.
    const std::size_t bs = sizeof(gguf::block_q4_0);
    CHECK(std::memcmp(row.data() + bs, before.data() + bs, row.size() - bs) == 0);
}

// ---- gguf_block_fields.hpp / gguf_block_refine.hpp ------------------------------------
namespace {
// Random codes and fields for one block: the codes through ggml's own
// packing (store_codes), read back by block_fields; every scale/min set over
// its whole range and checked against the decoder.
template <class B>
void check_block_fields(std::uint64_t seed) {
    using F = lowbit::detail::block_fields<B>;
    rng r(seed);
    B b;
    std::memset(&b, 0, sizeof b);
    b.d = f32_to_f16(0.03125f);
    std::uint8_t L[B::values], back[B::values];
    for (int i = 0; i < B::values; ++i) L[i] = static_cast<std::uint8_t>(r.uniform() * (F::code_max + 1));
    L[0] = 0, L[1] = static_cast<std::uint8_t>(F::code_max);
    gguf::detail::store_codes(L, b);
    F::codes(b, back);
    CHECK(std::memcmp(L, back, sizeof L) == 0);
    if constexpr (F::has_min) b.dmin = f32_to_f16(0.015625f);
    int sc[16] = {}, mn[16] = {};
    for (int j = 0; j < F::n_sub; ++j) {
        sc[j] = F::sc_lo + static_cast<int>(r.uniform() * (F::sc_hi - F::sc_lo + 1));
        mn[j] = F::mn_lo + static_cast<int>(r.uniform() * (F::mn_hi - F::mn_lo + 1));
    }
    sc[0] = F::sc_lo, sc[1] = F::sc_hi, mn[0] = F::mn_hi, mn[1] = F::mn_lo;
    for (int j = 0; j < F::n_sub; ++j) {
        F::set_scale(b, j, sc[j]);
        F::set_min(b, j, mn[j]);
    }
    float y[B::values];
    gguf::detail::decode(b, y);
    bool fields_ok = true, values_ok = true;
    for (int j = 0; j < F::n_sub; ++j) {  // setting one field left the others
        fields_ok = fields_ok && F::scale(b, j) == sc[j] && (!F::has_min || F::min(b, j) == mn[j]);
        for (int c = 0; c < F::width; ++c) {
            const int i = j * F::width + c;
            const double level = lowbit::detail::code_levels<B>::value(L[i]);  // L[i] - code_bias, or IQ4's level
            const double want = 0.03125 * sc[j] * level - (F::has_min ? 0.015625 * mn[j] : 0.0);
            values_ok = values_ok && std::fabs(y[i] - want) <= 1e-6 * (1.0 + std::fabs(want));
        }
    }
    CHECK(fields_ok);
    CHECK(values_ok);
    F::codes(b, back);  // the fields did not touch the codes
    CHECK(std::memcmp(L, back, sizeof L) == 0);
}

// The codes of every block of a tensor, unpacked.
template <class B>
std::vector<std::uint8_t> block_codes(const std::vector<std::uint8_t>& bytes) {
    std::vector<std::uint8_t> out;
    for (std::size_t o = 0; o + sizeof(B) <= bytes.size(); o += sizeof(B)) {
        B b;
        std::memcpy(&b, bytes.data() + o, sizeof(B));
        std::uint8_t L[B::values];
        lowbit::detail::block_fields<B>::codes(b, L);
        out.insert(out.end(), L, L + B::values);
    }
    return out;
}
std::vector<std::uint8_t> block_codes(gguf_type t, const std::vector<std::uint8_t>& bytes) {
    switch (t) {
        case gguf_type::q4_0: return block_codes<gguf::block_q4_0>(bytes);
        case gguf_type::q4_1: return block_codes<gguf::block_q4_1>(bytes);
        case gguf_type::q5_0: return block_codes<gguf::block_q5_0>(bytes);
        case gguf_type::q5_1: return block_codes<gguf::block_q5_1>(bytes);
        case gguf_type::q2_K: return block_codes<gguf::block_q2_K>(bytes);
        case gguf_type::q3_K: return block_codes<gguf::block_q3_K>(bytes);
        case gguf_type::q4_K: return block_codes<gguf::block_q4_K>(bytes);
        case gguf_type::q5_K: return block_codes<gguf::block_q5_K>(bytes);
        case gguf_type::q6_K: return block_codes<gguf::block_q6_K>(bytes);
        case gguf_type::iq4_nl: return block_codes<gguf::block_iq4_nl>(bytes);
        case gguf_type::iq4_xs: return block_codes<gguf::block_iq4_xs>(bytes);
        default: FAIL("no block_fields for this type"); return {};
    }
}
}  // namespace

TEST_CASE("block_fields: codes unpack what store_codes packed; scales and mins set over their range decode as d*sc*(q-bias) - dmin*mn "
          "(IQ4: d*sc*level(q))") {
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
        check_block_fields<gguf::block_q4_0>(seed);
        check_block_fields<gguf::block_q4_1>(seed);
        check_block_fields<gguf::block_q5_0>(seed);
        check_block_fields<gguf::block_q5_1>(seed);
        check_block_fields<gguf::block_q2_K>(seed);
        check_block_fields<gguf::block_q3_K>(seed);
        check_block_fields<gguf::block_q4_K>(seed);
        check_block_fields<gguf::block_q5_K>(seed);
        check_block_fields<gguf::block_q6_K>(seed);
        check_block_fields<gguf::block_iq4_nl>(seed);
        check_block_fields<gguf::block_iq4_xs>(seed);
    }
}

TEST_CASE("gptq_gguf refine: every row's H-weighted error no higher than the sweep's, lower in total, bytes decode to the values") {
    const refit_layer L(24, 11);
    const std::size_t N = L.N, K = L.K;
    const std::vector<float>&w = L.w, &wd = L.wd;
    const hessian& h = L.h;
    for (gguf_type t : all_types) {
        CAPTURE(gguf::type_name(t));
        gptq_gguf_options o = L.options(true);
        auto plain = gptq_quantize_gguf(t, matrix_view<const float>(w.data(), N, K), h, o);
        REQUIRE(plain.ok());
        const std::vector<float> dp = decode_bytes(t, plain->data, N, K);
        o.refine = true;
        for (int codes = 0; codes < 2; ++codes) {
            CAPTURE(codes);
            o.refine_options.codes = codes != 0;
            auto ref = gptq_quantize_gguf(t, matrix_view<const float>(w.data(), N, K), h, o);
            REQUIRE(ref.ok());
            if (t == gguf_type::q8_0) {  // no block_fields: the sweep's bytes, untouched
                CHECK(ref->data == plain->data);
                CHECK(ref->refit_rows == 0);
                continue;
            }
            CHECK(ref->refit_rows > 0);
            CHECK(ref->refit_loss_after < ref->refit_loss_before);
            if (!codes) CHECK(block_codes(t, ref->data) == block_codes(t, plain->data));
            const std::vector<float> dq = decode_bytes(t, ref->data, N, K);
            CHECK(same_bits(dq, ref->values));
            const auto [sum_plain, sum_ref] = check_rows_no_worse(wd, dp, dq, h, N, K);
            CHECK(std::fabs(ref->refit_loss_after - sum_ref) <= 1e-6 * sum_ref);
            MESSAGE((std::string(gguf::type_name(t)) + (codes ? " refine+codes" : " refine")), ": H-weighted error ", sum_plain, " -> ", sum_ref);
        }
    }
}

// The lattice types' re-fit and refine (gguf_refit.hpp's d, gguf_lattice_refine.hpp's sub-block scales and
// grid points): every row no worse than the sweep's, lower in total, the bytes decode to the values returned,
// refit_scales alone keeps every grid point and sub-block scale (only d moves), and without codes the points stay.
TEST_CASE("gptq_gguf refit and refine on IQ3_S / IQ3_XXS: every row's H-weighted error no higher, lower in total") {
    const refit_layer L(16, 21);
    const std::size_t N = L.N, K = L.K;
    const std::vector<float>&w = L.w, &wd = L.wd;
    const hessian& h = L.h;
    // the bytes with d zeroed (IQ3_S: 2 bytes of 110, IQ3_XXS: of 98), and with d and the sub-block scales zeroed
    auto without_d = [](gguf_type t, std::vector<std::uint8_t> b) {
        const std::size_t bs = t == gguf_type::iq3_s ? sizeof(gguf::block_iq3_s) : sizeof(gguf::block_iq3_xxs);
        for (std::size_t o = 0; o + bs <= b.size(); o += bs) b[o] = b[o + 1] = 0;
        return b;
    };
    auto points_only = [&](gguf_type t, std::vector<std::uint8_t> b) {
        b = without_d(t, b);
        const std::size_t bs = t == gguf_type::iq3_s ? sizeof(gguf::block_iq3_s) : sizeof(gguf::block_iq3_xxs);
        for (std::size_t o = 0; o + bs <= b.size(); o += bs) {
            if (t == gguf_type::iq3_s) {
                for (std::size_t i = bs - 4; i < bs; ++i) b[o + i] = 0;  // scales[4], the block's last bytes
            } else {
                for (std::size_t ib = 0; ib < 8; ++ib) b[o + 2 + 64 + 4 * ib + 3] &= 0x0f;  // meta bits 28..31
            }
        }
        return b;
    };
    for (gguf_type t : {gguf_type::iq3_s, gguf_type::iq3_xxs}) {
        for (int act_order = 0; act_order < 2; ++act_order) {
            CAPTURE(gguf::type_name(t));
            CAPTURE(act_order);
            gptq_gguf_options o = L.options(act_order != 0);
            auto plain = gptq_quantize_gguf(t, matrix_view<const float>(w.data(), N, K), h, o);
            REQUIRE(plain.ok());
            CHECK(plain->refit_rows == 0);
            const std::vector<float> dp = decode_bytes(t, plain->data, N, K);
            for (int mode = 0; mode < 3; ++mode) {  // 0: refit_scales; 1: + refine; 2: + refine with codes
                CAPTURE(mode);
                gptq_gguf_options om = o;
                om.refit_scales = true;
                om.refine = mode >= 1;
                om.refine_options.codes = mode == 2;
                auto ref = gptq_quantize_gguf(t, matrix_view<const float>(w.data(), N, K), h, om);
                REQUIRE(ref.ok());
                CHECK(ref->refit_rows > 0);
                CHECK(ref->refit_loss_after < ref->refit_loss_before);
                if (mode == 0) CHECK(without_d(t, ref->data) == without_d(t, plain->data));
                if (mode == 1) CHECK(points_only(t, ref->data) == points_only(t, plain->data));
                if (mode == 2) CHECK(points_only(t, ref->data) != points_only(t, plain->data));
                const std::vector<float> dq = decode_bytes(t, ref->data, N, K);
                CHECK(same_bits(dq, ref->values));
                const auto [sum_plain, sum_ref] = check_rows_no_worse(wd, dp, dq, h, N, K);
                CHECK(std::fabs(ref->refit_loss_after - sum_ref) <= 1e-6 * sum_ref);
                MESSAGE((std::string(gguf::type_name(t)) + (act_order ? " act-order" : "") +
                         (mode == 0 ? " refit" : mode == 1 ? " refit+refine" : " refit+refine+codes")),
                        ": H-weighted error ", sum_plain, " -> ", sum_ref);
            }
        }
    }
}

TEST_CASE("gptq_gguf lattice refine: a row the Hessian does not see is left as it is") {
    const std::size_t K = 256;
    const std::vector<float> w = test_weights(1, K, 23);
    std::vector<float> hm(K * K, 0.0f);
    auto hz = hessian::from_matrix(matrix_view<const float>(hm.data(), K, K), 1.0);
    REQUIRE(hz.ok());
    block_refine_options ro;
    ro.codes = true;
    std::vector<std::uint8_t> row(sizeof(gguf::block_iq3_s));
    REQUIRE(gguf::quantize(gguf_type::iq3_s, w.data(), row.data(), 1, K, nullptr).ok());
    const std::vector<std::uint8_t> before = row;
    double b = -1, a = -1;
    CHECK_FALSE(refine_lattice_row<gguf::block_iq3_s>(w.data(), hz->matrix(), row.data(), ro, &b, &a));
    CHECK(b == 0.0);
    CHECK(a == 0.0);
    CHECK(row == before);
    std::vector<std::uint8_t> row2(sizeof(gguf::block_iq3_xxs));
    REQUIRE(gguf::quantize(gguf_type::iq3_xxs, w.data(), row2.data(), 1, K, nullptr).ok());
    const std::vector<std::uint8_t> before2 = row2;
    CHECK_FALSE(refine_lattice_row<gguf::block_iq3_xxs>(w.data(), hz->matrix(), row2.data(), ro, &b, &a));
    CHECK(row2 == before2);
}

TEST_CASE("gptq_gguf refine: a row the Hessian does not see, and bad options") {
    const std::size_t N = 3, K = 256;
    const std::vector<float> w = test_weights(N, K, 13);
    std::vector<float> hm(K * K, 0.0f);
    auto hz = hessian::from_matrix(matrix_view<const float>(hm.data(), K, K), 1.0);
    REQUIRE(hz.ok());
    std::vector<std::uint8_t> row(static_cast<std::size_t>(gguf::row_size(gguf_type::q4_K, K)));
    REQUIRE(gguf::quantize(gguf_type::q4_K, w.data(), row.data(), 1, K, nullptr).ok());
    const std::vector<std::uint8_t> before = row;
    block_refine_options ro;
    ro.codes = true;
    double b = -1, a = -1;
    CHECK_FALSE(refine_row_blocks<gguf::block_q4_K>(w.data(), hz->matrix(), row.data(), ro, &b, &a));  // zero loss: nothing to gain
    CHECK(b == 0.0);
    CHECK(a == 0.0);
    CHECK(row == before);

    hessian h(K);
    const std::vector<float> x = correlated_activations(64, K, 14);
    REQUIRE(h.add_batch(matrix_view<const float>(x.data(), 64, K)).ok());
    gptq_gguf_options o;
    o.refine = true;
    o.refine_options.rounds = 0;
    auto r = gptq_quantize_gguf(gguf_type::q4_K, matrix_view<const float>(w.data(), N, K), h, o);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code() == errc::invalid_argument);
    CHECK(std::string(r.error().message()).find("refine_options.rounds") != std::string::npos);
}

// ---- GPTQ on codebook grids (algo/gptq_codebook.hpp, issue 20 item 2) ---------------

namespace {
std::vector<float> codebook_values(const weights& w) {
    std::vector<float> y(w.view().rows() * w.view().cols());
    REQUIRE(codebook::dequantize(w.view(), matrix_view<float>(y.data(), w.view().rows(), w.view().cols())).ok());
    return y;
}
bool same_codes(const weights& a, const weights& b) {
    return a.view().code_bytes() == b.view().code_bytes() && std::memcmp(a.view().codes(), b.view().codes(), a.view().code_bytes()) == 0;
}
}  // namespace

TEST_CASE("gptq_codebook: a diagonal Hessian gives codebook::quantize's bytes (importance = its diagonal), with or without act-order") {
    const std::size_t N = 9, K = 160;
    const std::vector<float> w = test_weights(N, K, 31);
    std::vector<float> diag(K);
    rng r(5);
    for (float& v : diag) v = 0.2f + static_cast<float>(r.uniform()) * 3.0f;
    const matrix_view<const float> wv(w.data(), N, K);
    for (const codebook::grid& g : {codebook::nf_grid(4), codebook::nf_grid(3)})
        for (bool act : {false, true})
            for (bool flat : {true, false}) {
                CAPTURE(g.bits);
                CAPTURE(act);
                CAPTURE(flat);
                gptq_codebook_options o;
                o.act_order = act;
                const hessian h = identity_like(K, flat ? std::vector<float>{} : diag);
                auto q = gptq_quantize_codebook(wv, h, g, o);
                REQUIRE(q.ok());
                auto rtn = codebook::quantize(wv, g, flat ? nullptr : diag.data());
                REQUIRE(rtn.ok());
                CHECK(same_codes(q->w, *rtn));
                CHECK(q->report.loss > 0.0);
            }
}

TEST_CASE("gptq_codebook: lower layer-output error than RTN on the same grid, tinyllama-sotu layer 0") {
    const sotu_layer0 L = load_sotu();
    const std::size_t N = 512, K = 256;
    const std::vector<float>& w = L.qkv;
    const matrix_view<const float> wv(w.data(), N, K);
    const std::vector<float> imat = imatrix_of(L.x_cal, L.T_cal, K);
    hessian h(K);
    REQUIRE(h.add_batch(matrix_view<const float>(L.x_cal.data(), L.T_cal, K)).ok());
    auto err = [&](const std::vector<float>& wq) { return rel_output_error(L.x_eval, L.T_eval, w, wq, N, K); };
    auto q4_0 = [&](bool gptq) {
        if (!gptq) return err(decode_bytes(gguf_type::q4_0, rtn_bytes(gguf_type::q4_0, w, N, K, imat.data()), N, K));
        gptq_gguf_options o;
        o.importance = span<const float>(imat.data(), K);
        auto g = gptq_quantize_gguf(gguf_type::q4_0, wv, h, o);
        REQUIRE(g.ok());
        return err(decode_bytes(gguf_type::q4_0, g->data, N, K));
    };
    const double e_q40 = q4_0(false), e_q40_gptq = q4_0(true);
    for (int bits : {4, 3}) {
        codebook::learn_report rep;
        auto learned = codebook::learn_grid(wv, bits, imat.data(), &rep);
        REQUIRE(learned.ok());
        for (const codebook::grid& g : {codebook::nf_grid(bits), *learned}) {
            CAPTURE(bits);
            const bool nf = std::memcmp(g.levels, codebook::nf_grid(bits).levels, 16) == 0;
            auto rtn = codebook::quantize(wv, g, imat.data());
            REQUIRE(rtn.ok());
            gptq_codebook_options o;
            o.importance = span<const float>(imat.data(), K);
            auto gq = gptq_quantize_codebook(wv, h, g, o);
            o.act_order = true;
            auto ga = gptq_quantize_codebook(wv, h, g, o);
            REQUIRE(gq.ok());
            REQUIRE(ga.ok());
            const double e_rtn = err(codebook_values(*rtn)), e_g = err(codebook_values(gq->w)), e_ga = err(codebook_values(ga->w));
            std::printf("attn_qkv CB%d %-7s rel. output error  rtn+imatrix %.5f  gptq+imatrix %.5f  +act-order %.5f   (Q4_0: imatrix %.5f gptq %.5f)\n",
                        bits, nf ? "nf" : "learned", e_rtn, e_g, e_ga, e_q40, e_q40_gptq);
            CHECK(e_g < e_rtn);
            CHECK(e_ga < e_rtn);
            if (bits == 4) CHECK(e_g < e_q40_gptq);  // same 4.5 bits per weight as Q4_0, a better grid
        }
    }
}

TEST_CASE("gptq_codebook: hostile input gives a clear status") {
    const std::size_t N = 4, K = 64;
    std::vector<float> w = test_weights(N, K, 3);
    const hessian h = identity_like(K, {});
    const matrix_view<const float> wv(w.data(), N, K);
    codebook::grid bad = codebook::nf_grid(4);
    bad.levels[3] = bad.levels[2];
    CHECK(gptq_quantize_codebook(wv, h, bad).error().code() == errc::invalid_argument);
    CHECK(gptq_quantize_codebook(matrix_view<const float>(w.data(), N, 48), identity_like(48, {}), codebook::nf_grid(4)).error().code() ==
          errc::invalid_argument);
    CHECK(gptq_quantize_codebook(wv, identity_like(32, {}), codebook::nf_grid(4)).error().code() == errc::shape_mismatch);
    gptq_codebook_options o;
    std::vector<float> imp(K - 1, 1.0f);
    o.importance = span<const float>(imp.data(), imp.size());
    CHECK(gptq_quantize_codebook(wv, h, codebook::nf_grid(3), o).error().code() == errc::shape_mismatch);
    o.importance = span<const float>(nullptr, K);  // session 36: was taken as "no importance", silently unweighted
    CHECK(gptq_quantize_codebook(wv, h, codebook::nf_grid(3), o).error().code() == errc::invalid_argument);
    o = {};
    o.block_size = 0;
    CHECK(gptq_quantize_codebook(wv, h, codebook::nf_grid(3), o).error().code() == errc::invalid_argument);
    w[5] = std::nanf("");
    CHECK(gptq_quantize_codebook(wv, h, codebook::nf_grid(4)).error().code() == errc::invalid_argument);
    w[5] = 1e9f;  // a block scale beyond f16
    CHECK(gptq_quantize_codebook(wv, h, codebook::nf_grid(4)).error().code() == errc::invalid_argument);
}
