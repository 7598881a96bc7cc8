// Tests of examples/llama (lowbit-llama): the F32 runtime against llama2.c's
// reference, GGUF round trips, ggml-block repacking, llama.cpp's K-quant
// fallback, sampling, and the quality of the quantized paths against F32.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <ostream>  // doctest prints std::shared_ptr through operator<<, which needs the full ostream
#include <string>
#include <vector>

#include <lowbit/formats/codebook.hpp>
#include <lowbit/formats/codebook_matmul.hpp>

#include <lowbit/formats/tiled_kquant_matmul.hpp>

#include "eval.hpp"
#include "test_util.hpp"
#include "gguf_io.hpp"
#include "planner.hpp"

namespace {

const char* model_path() { return LOWBIT_LLAMA_MODEL; }

const llama::model& f32_model() {
    static const llama::model m = [] {
        auto r = llama::load_model(model_path());
        REQUIRE_MESSAGE(r.ok(), r.error().message());
        return *r;
    }();
    return m;
}

std::vector<int> greedy(const llama::model& m, int steps, const std::vector<int>& prompt = {}) {
    llama::sampler g;
    g.temperature = 0;
    lowbit::serial_executor ex;
    return llama::generate(m, steps, g, ex, {}, prompt);
}

// Golden ids from llama2.c's reference implementation (karpathy/llama2.c run.c,
// commit 350e04f), captured once: run.c compiled with -DTESTING and included
// by a 20-line driver (kept outside this repository) that calls its
// build_transformer / forward / sample_argmax from BOS = 1 — the tokenizer is
// not needed to print ids — on examples/llama/models/stories260K.bin:
//   greedy (temperature 0) for 64 steps from BOS:
const std::vector<int> run_c_greedy_64 = {
    461, 461, 401, 401, 401, 461, 378, 455, 473, 456, 435, 299, 362, 409, 283, 264, 283, 452, 288, 13, 431, 431,
    431, 431, 431, 431, 431, 431, 431, 431, 431, 431, 431, 293, 430, 417, 363, 416, 315, 342, 418, 424, 400, 442,
    402, 303, 266, 299, 374, 466, 396, 303, 271, 362, 390, 469, 306, 469, 423, 314, 347, 305, 356, 333};
//   the same driver with the prompt ids 400 300 266 401 288 forced after BOS,
//   then greedy up to position 48 (43 generated ids):
const std::vector<int> prompt = {400, 300, 266, 401, 288};
const std::vector<int> run_c_prompt_43 = {292, 401, 379, 414, 465, 466, 369, 276, 422, 422, 422, 422, 417, 295, 386,
                                          316, 303, 283, 461, 261, 401, 363, 465, 441, 388, 327, 469, 296, 328, 396,
                                          317, 386, 287, 287, 283, 283, 1,   456, 469, 458, 388, 371, 387};

// |a - b| / |b| over n logits (infinite when b is all zero: a check against it fails).
double relative_rms(const float* a, const float* b, int n) {
    double num = 0, den = 0;
    for (int v = 0; v < n; ++v) {
        num += (a[v] - b[v]) * static_cast<double>(a[v] - b[v]);
        den += b[v] * static_cast<double>(b[v]);
    }
    return den > 0 ? std::sqrt(num / den) : HUGE_VAL;
}

}  // namespace

TEST_CASE("llama: the F32 runtime reproduces llama2.c run.c greedy tokens") {
    const auto& m = f32_model();
    CHECK(m.c.dim == 64);
    CHECK(m.c.hidden == 172);
    CHECK(m.c.kv_heads == 4);
    CHECK(greedy(m, 64) == run_c_greedy_64);
    CHECK(greedy(m, 43, prompt) == run_c_prompt_43);
}

TEST_CASE("llama: results do not depend on the thread count") {
    const auto& m = f32_model();
    llama::model q = m;
    lowbit::serial_executor ex;
    REQUIRE(llama::quantize_model(q, *llama::parse_scheme_name("w4g32"), ex).ok());
    llama::sampler a, b;
    a.r = llama::rng(7), b.r = llama::rng(7);
    lowbit::thread_pool pool(2);
    CHECK(llama::generate(q, 48, a, ex) == llama::generate(q, 48, b, pool));
}

TEST_CASE("llama: the tiled and the plain weight layouts give the same logits up to float rounding") {
    const auto& m = f32_model();
    for (const char* name : {"w4g32", "w3g32", "w8"}) {
        CAPTURE(name);
        llama::model q = m;
        lowbit::serial_executor ex;
        REQUIRE(llama::quantize_model(q, *llama::parse_scheme_name(name), ex).ok());
        int tiled = 0;
        for (const auto& y : q.layers) y.for_each_linear([&](const llama::linear& w, const char*) { tiled += w.has_tiled; });
        CHECK(tiled == 7 * q.c.layers);
        for (auto path : {lowbit::matmul_path::dequant_fma, lowbit::matmul_path::int8_dot}) {
            llama::run_options a, b;
            a.matmul.path = b.matmul.path = path;
            b.tiled = false;
            llama::state sa(q.c, 8), sb(q.c, 8);
            for (int pos = 0; pos < 8; ++pos) {
                const int token = pos == 0 ? 1 : 300 + pos;
                const float* la = llama::forward(q, sa, token, pos, ex, a);
                const float* lb = llama::forward(q, sb, token, pos, ex, b);
                // f32 path: rounding only; int8 path: the two layouts' float steps differ (docs/kernels.md)
                CHECK(relative_rms(la, lb, q.c.vocab) < (path == lowbit::matmul_path::dequant_fma ? 1e-5 : 1e-3));
            }
        }
    }
}

TEST_CASE("llama: sampling is reproducible from the seed") {
    const auto& m = f32_model();
    lowbit::serial_executor ex;
    auto run = [&](std::uint64_t seed, float t, float p) {
        llama::sampler s;
        s.temperature = t;
        s.top_p = p;
        s.r = llama::rng(seed);
        return llama::generate(m, 40, s, ex);
    };
    CHECK(run(5, 1.0f, 0.9f) == run(5, 1.0f, 0.9f));
    CHECK(run(5, 1.0f, 1.0f) != run(6, 1.0f, 1.0f));
    // top-p -> 0 keeps only the most likely token: greedy
    CHECK(run(5, 1.0f, 1e-6f) == greedy(m, 40));
}

TEST_CASE("llama: GGUF export and load (F32, ggml blocks, lowbit weights)") {
    const auto& m = f32_model();
    const std::string f32_path = "test_llama_f32.gguf", q_path = "test_llama_q4_0.gguf";
    REQUIRE(llama::export_gguf(m, f32_path.c_str()).ok());
    auto g = llama::load_model(f32_path.c_str());
    REQUIRE_MESSAGE(g.ok(), g.error().message());
    CHECK(g->c.vocab == 512);
    CHECK(g->layers[3].w2.w == m.layers[3].w2.w);
    CHECK(greedy(*g, 64) == run_c_greedy_64);

    // q4_0 blocks survive the file byte for byte and run through the same lowbit kernels
    llama::model q = m;
    lowbit::serial_executor ex;
    REQUIRE(llama::quantize_model(q, *llama::parse_scheme_name("q4_0"), ex).ok());
    REQUIRE(llama::export_gguf(q, q_path.c_str()).ok());
    auto gq = llama::load_model(q_path.c_str());
    REQUIRE_MESSAGE(gq.ok(), gq.error().message());
    CHECK(gq->scheme == "gguf:q4_0");
    CHECK(gq->layers[0].wq.quantized);
    CHECK(gq->layers[0].wq.gguf_data == q.layers[0].wq.gguf_data);
    CHECK(gq->layers[0].w2.format == "f16");  // 172-long rows: no q4_0
    CHECK(greedy(*gq, 32) == greedy(q, 32));

    // lowbit schemes are written as lowbit weights in GGUF (docs/formats.md) and
    // run from the mapped file, the same bytes as in memory
    llama::model w = m;
    const std::string w_path = "test_llama_w4.gguf";
    REQUIRE(llama::quantize_model(w, *llama::parse_scheme_name("w4g32"), ex).ok());
    REQUIRE(llama::export_gguf(w, w_path.c_str()).ok());
    auto gw = llama::load_model(w_path.c_str());
    REQUIRE_MESSAGE(gw.ok(), gw.error().message());
    CHECK(gw->scheme == "gguf:w4g32");
    CHECK(gw->layers[0].wq.mapped.has_value());
    CHECK(gw->mapping != nullptr);
    CHECK(greedy(*gw, 32) == greedy(w, 32));
    std::remove(f32_path.c_str());
    std::remove(q_path.c_str());
    std::remove(w_path.c_str());
}

// Logits at 16 positions, concatenated: BOS, then the F32 model's greedy ids
// (the same inputs for every model).
std::vector<float> logits_16(const llama::model& m, const llama::run_options& o) {
    lowbit::serial_executor ex;
    llama::state s(m.c, 16);
    std::vector<float> out;
    for (int pos = 0; pos < 16; ++pos) {
        const float* l = llama::forward(m, s, pos ? run_c_greedy_64[static_cast<std::size_t>(pos - 1)] : llama::bos_token, pos, ex, o);
        out.insert(out.end(), l, l + m.c.vocab);
    }
    return out;
}

TEST_CASE("llama: codebook weights (cb4, cb3) in a lowbit GGUF load and run: fma on their values, int8 on their blocks") {
    const auto& m = f32_model();
    llama::model c = m;  // the linears with whole 32-blocks as codebook weights, alternately CB4 and CB3 on learned grids
    std::vector<lowbit::weights> owned;
    owned.reserve(c.layers.size() * 7);
    for (auto& y : c.layers)
        y.for_each_linear([&](llama::linear& l, const char*) {
            if (l.cols % 32 != 0) return;  // ffn_down: 172-long rows stay f32
            const int bits = owned.size() % 2 ? 3 : 4;
            const lowbit::matrix_view<const float> x(l.w.data(), l.rows, l.cols);
            auto g = lowbit::codebook::learn_grid(x, bits);
            REQUIRE(g.ok());
            auto q = lowbit::codebook::quantize(x, *g);
            REQUIRE(q.ok());
            owned.push_back(std::move(*q));
            l.mapped = owned.back().view();
            l.format = bits == 4 ? "cb4" : "cb3";
            l.bytes = owned.back().bytes();
            REQUIRE(lowbit::codebook::dequantize(owned.back().view(), lowbit::matrix_view<float>(l.w.data(), l.rows, l.cols)).ok());
        });
    REQUIRE(owned.size() == c.layers.size() * 6);
    const std::string path = "test_llama_cb.gguf";
    REQUIRE(llama::export_gguf(c, path.c_str()).ok());
    auto g = llama::load_model(path.c_str());
    std::remove(path.c_str());  // mapped: the pages stay
    REQUIRE_MESSAGE(g.ok(), g.error().message());
    llama::run_options fma, int8;
    int8.matmul.path = lowbit::matmul_path::int8_dot;
    // Loaded, the codebook linears are views into the file only: the int8 path runs them as they are.
    CHECK(g->layers[0].wq.w.empty());
    const auto file_int8 = logits_16(*g, int8);
    REQUIRE(llama::decode_codebooks(*g).ok());  // their f32 values, for fma
    for (std::size_t i = 0; i < c.layers.size(); ++i)
        c.layers[i].for_each_linear([&](const llama::linear& a, const char* n) {
            CAPTURE(i);
            CAPTURE(n);
            const llama::linear* b = nullptr;
            g->layers[i].for_each_linear([&](const llama::linear& x, const char* xn) {
                if (std::string(xn) == n) b = &x;
            });
            REQUIRE(b);
            CHECK(b->format == a.format);
            CHECK(b->w == a.w);  // the f32 values: the blocks and the grid came back whole
            REQUIRE(b->mapped.has_value() == a.mapped.has_value());
            if (!a.mapped) return;
            CHECK(b->mapped->lay() == lowbit::layout::codebook);
            CHECK(std::memcmp(b->mapped->grid(), a.mapped->grid(), 16) == 0);
            CHECK(std::memcmp(b->mapped->codes(), a.mapped->codes(), a.mapped->code_bytes()) == 0);
        });
    const auto mem_fma = logits_16(c, fma), mem_int8 = logits_16(c, int8);
    CHECK(logits_16(*g, fma) == mem_fma);    // f32 values
    CHECK(file_int8 == mem_int8);            // the codebook kernels on the file's bytes
    CHECK(logits_16(*g, int8) == mem_int8);  // the f32 values do not change the int8 path
    // int8 ran the blocks (Q8_0 activations): not fma's numbers, but closer to
    // them than the codebook model is to the F32 one.
    CHECK(mem_int8 != mem_fma);
    const auto rel = [](const std::vector<float>& a, const std::vector<float>& b) {
        double num = 0.0, den = 0.0;
        for (std::size_t i = 0; i < a.size(); ++i) {
            num += (a[i] - b[i]) * static_cast<double>(a[i] - b[i]);
            den += b[i] * static_cast<double>(b[i]);
        }
        return std::sqrt(num / den);
    };
    const double int8_err = rel(mem_int8, mem_fma), weight_err = rel(mem_fma, logits_16(m, fma));
    MESSAGE("codebook model logits, relative RMS: int8 vs fma " << int8_err << ", fma vs F32 " << weight_err);
    CHECK(int8_err < 0.1);
    CHECK(int8_err < weight_err);
    // tile_model (which lowbit-llama runs after loading) gives each codebook
    // linear its tiled codebook copy: the int8 path runs it (the tiled kernels'
    // activation rounding: other bits, as close to fma), --layout plain the blocks.
    llama::tile_model(*g);
    CHECK_FALSE(g->layers[0].wq.mapped_tiled.empty());
    CHECK(g->layers[0].wq.mapped_tiled.view().lay() == lowbit::layout::tiled_codebook);
    const auto tiled_int8 = logits_16(*g, int8);
    CHECK(tiled_int8 != mem_int8);
    CHECK(rel(tiled_int8, mem_fma) < 0.1);
    CHECK(rel(tiled_int8, mem_fma) < weight_err);
    llama::run_options plain_int8 = int8;
    plain_int8.tiled = false;
    CHECK(logits_16(*g, plain_int8) == mem_int8);
    {
        // One-copy loads (lowbit-llama's generation, --bench, --perplexity): for fma
        // load_model decodes the codebooks' f32 values itself, for int8 it keeps the views and
        // their tiled copies (tile_model, as above), no f32 values.
        const std::string one_path = "test_llama_cb_one.gguf";
        REQUIRE(llama::export_gguf(c, one_path.c_str()).ok());
        auto one_fma = llama::load_model(one_path.c_str(), &fma);
        auto one_int8 = llama::load_model(one_path.c_str(), &int8);
        std::remove(one_path.c_str());
        REQUIRE_MESSAGE(one_fma.ok(), one_fma.error().message());
        REQUIRE_MESSAGE(one_int8.ok(), one_int8.error().message());
        CHECK(one_fma->layers[0].wq.w == g->layers[0].wq.w);
        CHECK(one_int8->layers[0].wq.w.empty());
        CHECK_FALSE(one_int8->layers[0].wq.mapped_tiled.empty());
        CHECK(logits_16(*one_fma, fma) == mem_fma);
        CHECK(logits_16(*one_int8, int8) == tiled_int8);
    }
    // Requantizing the loaded model (lowbit-llama FILE --scheme w4g32) replaces the codebook views.
    llama::model r = *g;
    lowbit::serial_executor ex;
    REQUIRE(llama::quantize_model(r, *llama::parse_scheme_name("w4g32"), ex).ok());
    CHECK(r.layers[0].wq.format == "w4g32");
    CHECK_FALSE(r.layers[0].wq.mapped.has_value());
    CHECK(r.layers[0].wq.mapped_tiled.empty());
    CHECK(logits_16(r, fma) != mem_fma);
}

TEST_CASE("llama: Q4_0 / Q5_0 / Q8_0 blocks repack losslessly into lowbit qmatrices") {
    const auto& w = f32_model().layers[1].w1;  // 172 x 64
    for (auto t : {llama::gg::gguf_type::q4_0, llama::gg::gguf_type::q5_0, llama::gg::gguf_type::q8_0}) {
        CAPTURE(llama::ggml_format_name(t));
        auto l = llama::quantize_ggml(w, t);
        REQUIRE(l.ok());
        REQUIRE(l->quantized);
        std::vector<float> ggml(w.rows * w.cols), ours(w.rows * w.cols);
        REQUIRE(llama::gg::dequantize_row(t, l->gguf_data.data(), ggml.data(), static_cast<std::int64_t>(ggml.size())).ok());
        const lowbit::status st = llama::visit_engine_scheme(l->q.scheme, [&](auto tag) {
            return lowbit::dequantize(l->q.view_as<decltype(tag)>(), lowbit::matrix_view<float>(ours.data(), w.rows, w.cols));
        });
        REQUIRE(st.ok());
        CHECK(ours == ggml);
        CHECK(l->bytes == l->q.storage.codes.size() + 2 * l->q.storage.scales_16.size());  // same bytes as the blocks
    }
}

TEST_CASE("llama: Q4_K / Q6_K linears run their tiled K-quant copy on the int8 path (--layout plain: the blocks)") {
    using T = llama::gg::gguf_type;
    for (T t : {T::q4_K, T::q6_K}) {
        llama::linear l;
        l.rows = 40;
        l.cols = 512;
        l.gguf_type = t;
        l.gguf_data.resize(l.rows * lowbit::gguf::row_size(t, l.cols));
        std::uint32_t s = 12345;
        for (auto& b : l.gguf_data) b = static_cast<std::uint8_t>((s = s * 1664525u + 1013904223u) >> 24);
        const std::size_t bb = lowbit::gguf::type_size(t);
        for (std::size_t i = 0; i < l.gguf_data.size() / bb; ++i) {  // finite d, dmin: 2^-8 .. 2^-1
            const std::uint16_t h = static_cast<std::uint16_t>(0x1c00 + (i * 97) % 0x1c00);
            std::memcpy(l.gguf_data.data() + i * bb + (t == T::q6_K ? 208 : 0), &h, 2);
            if (t != T::q6_K) std::memcpy(l.gguf_data.data() + i * bb + 2, &h, 2);
        }
        llama::tile_linear(l);
        REQUIRE_FALSE(l.blocks_tiled.empty());
        CHECK(l.blocks_tiled.view().lay() == lowbit::layout::tiled_kquant);
        std::vector<float> x(l.cols), y(l.rows), yb(l.rows), want(l.rows);
        for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i));
        lowbit::serial_executor ex;
        llama::run_options o;
        o.matmul.path = lowbit::matmul_path::int8_dot;
        llama::matvec(l, x.data(), y.data(), ex, o);
        REQUIRE(lowbit::kquant::gemv(l.blocks_tiled.view(), lowbit::span<const float>(x), lowbit::span<float>(want)).ok());
        CHECK(std::memcmp(y.data(), want.data(), y.size() * sizeof(float)) == 0);
        o.tiled = false;  // the blocks: ggml's arithmetic, close but not the same bits
        llama::matvec(l, x.data(), yb.data(), ex, o);
        float ymax = 0;
        for (float v : y) ymax = std::max(ymax, std::fabs(v));
        CHECK(ymax > 0);
        for (std::size_t r = 0; r < l.rows; ++r) CHECK(std::fabs(yb[r] - y[r]) <= 0.02f * ymax);
    }
}

TEST_CASE("llama: IQ4_NL linears run their tiled codebook copy on the int8 path (--layout plain: the blocks), the same logits within rounding") {
    // Every linear whose rows are whole 32-blocks in IQ4_NL (ffn_down's 172 columns stay float).
    llama::model q = f32_model();
    int iq4 = 0;
    for (auto& y : q.layers)
        y.for_each_linear([&](llama::linear& w, const char*) {
            if (w.cols % 32 != 0) return;
            auto l = llama::quantize_ggml(w, llama::gg::gguf_type::iq4_nl);
            REQUIRE(l.ok());
            w = std::move(*l);
            ++iq4;
        });
    CHECK(iq4 == 6 * q.c.layers);
    llama::tile_model(q);
    llama::run_options a, b;
    a.matmul.path = b.matmul.path = lowbit::matmul_path::int8_dot;
    b.tiled = false;
    int tiled = 0;
    for (const auto& y : q.layers)
        y.for_each_linear([&](const llama::linear& w, const char*) {
            if (w.gguf_type != llama::gg::gguf_type::iq4_nl) return;
            CHECK(w.untiled_reason.empty());
            REQUIRE_FALSE(w.blocks_tiled.empty());
            CHECK(w.blocks_tiled.view().lay() == lowbit::layout::tiled_codebook);
            CHECK(llama::runs_as(w, a) == "tiled codebook");
            CHECK(llama::runs_as(w, b) == "ggml blocks IQ4_NL");
            ++tiled;
        });
    CHECK(tiled == iq4);
    const std::string summary = llama::layout_summary(q, a);
    CAPTURE(summary);
    CHECK(summary.find(std::to_string(iq4) + " tiled codebook") != std::string::npos);
    // One matvec is exactly the tiled codebook kernel it runs.
    const llama::linear& wq = q.layers[0].wq;
    std::vector<float> x(wq.cols), y(wq.rows), want(wq.rows);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i));
    lowbit::serial_executor ex;
    llama::matvec(wq, x.data(), y.data(), ex, a);
    REQUIRE(lowbit::codebook::gemv(wq.blocks_tiled.view(), lowbit::span<const float>(x), lowbit::span<float>(want)).ok());
    CHECK(std::memcmp(y.data(), want.data(), y.size() * sizeof(float)) == 0);
    // Logits: the two int8 paths quantize activations differently (the blocks:
    // ggml's Q8_0, f16 scales; the tiled bodies: lowbit's tiled int8
    // activations, f32 scales), so they are not within the 1e-3 of the
    // tiled / plain test above, which compares one activation quantizer in
    // two float orders. Each is checked against the f32 path on the same
    // IQ4_NL values (--path fma): summed over the 8 positions, the tiled copy's
    // error is no larger than the blocks' by more than a quarter (position by
    // position either may be up to ~1.6x the other: measured 0.372 vs 0.408).
    llama::run_options f = a;
    f.matmul.path = lowbit::matmul_path::dequant_fma;
    llama::state sa(q.c, 8), sb(q.c, 8), sf(q.c, 8);
    double tiled_sum = 0, blocks_sum = 0;
    for (int pos = 0; pos < 8; ++pos) {
        const int token = pos == 0 ? 1 : 300 + pos;
        const float* la = llama::forward(q, sa, token, pos, ex, a);
        const float* lb = llama::forward(q, sb, token, pos, ex, b);
        const float* lf = llama::forward(q, sf, token, pos, ex, f);
        const double tiled_err = relative_rms(la, lf, q.c.vocab), blocks_err = relative_rms(lb, lf, q.c.vocab);
        CAPTURE(pos);
        CHECK(std::isfinite(tiled_err));
        CHECK(blocks_err > 0);
        tiled_sum += tiled_err, blocks_sum += blocks_err;
    }
    CAPTURE(tiled_sum);
    CAPTURE(blocks_sum);
    CHECK(tiled_sum <= 1.25 * blocks_sum);
}

TEST_CASE("llama: K-quants fall back as llama.cpp does when rows are not multiples of 256") {
    using T = llama::gg::gguf_type;
    CHECK(llama::ggml_type_for_row(T::q4_K, 4096) == T::q4_K);
    CHECK(llama::ggml_type_for_row(T::q4_K, 64) == T::q5_0);
    CHECK(llama::ggml_type_for_row(T::q4_K, 172) == T::f16);
    CHECK(llama::ggml_type_for_row(T::q6_K, 64) == T::q8_0);
    CHECK(llama::ggml_type_for_row(T::q5_K, 96) == T::q5_1);
    CHECK(llama::ggml_type_for_row(T::q4_0, 172) == T::f16);
    llama::model q = f32_model();
    lowbit::serial_executor ex;
    llama::quant_report rep;
    REQUIRE(llama::quantize_model(q, *llama::parse_scheme_name("q4_k"), ex, &rep).ok());
    CHECK(q.layers[0].wq.format == "q5_0");
    CHECK(q.layers[0].w2.format == "f16");
    CHECK(rep.notes.size() == 7);  // one fallback line per tensor kind
}

// Quality bounds. The F32 model samples 16 sequences x 256 tokens (seed 1); each
// scheme is scored against it. Why these bounds (docs/embedding.md, "Quality"):
// this 260K-parameter model is extremely sensitive to weight noise. An
// independent float64 implementation measured 1 % relative Gaussian noise at
// KLD ~0.05, 8-bit per-channel RTN ~0.03, 4-bit g32 RTN above 2. So:
//   - W8 per channel <= 0.035 (the acceptance criterion; measured 0.032);
//   - W4 g32 RTN in (1, 4): a large number is expected; outside, the kernels
//     or the quantizer changed (measured 2.73);
//   - GPTQ must beat RTN at the same scheme (measured 2.17 vs 2.73);
//   - q4_k (Q5_0 and F16 after the fallback) < W4 g32 RTN: more bits;
//   - int8 activations (per-32-block absmax) add a little: W8 on the int8 path
//     <= 0.06 (measured 0.046).
//
// LOWBIT_TEST_REDUCED (ASan+UBSan, where this case took 41 s of test_llama's
// 56): every scheme and path below still quantizes and runs, scored on 2
// sequences x 32 tokens (GPTQ calibrated on 2 x 32), and the bounds, which
// hold for the 16 x 256 sample and 16 x 128 calibration only, are
// left to the plain build's lowbit_llama_eval (tests/check_llama_eval.cmake:
// lowbit-llama --eval, the same make_reference and measure_quality at 16 x 256).
TEST_CASE("llama: quantized paths run and their KLD against F32 is bounded") {
    const auto& f32 = f32_model();
    llama::eval_options eo;  // 16 x 256, seed 1: the table of docs/embedding.md
    llama::calib_options co;  // GPTQ's: 16 x 128 tokens sampled from F32
    const bool bounds = !lowbit_test::reduced();
    if (!bounds) {
        eo.sequences = 2;
        eo.length = 32;
        co.sequences = 2;
        co.length = 32;
    }
    lowbit::thread_pool pool(2);
    const auto ref = llama::make_reference(f32, eo, pool);
    auto kld = [&](const char* name, lowbit::matmul_path path = lowbit::matmul_path::dequant_fma) {
        llama::model m = f32;
        auto s = llama::parse_scheme_name(name);
        REQUIRE(s.ok());
        REQUIRE(llama::quantize_model(m, *s, pool, nullptr, co).ok());
        llama::eval_row row;
        llama::eval_options o = eo;
        o.run.matmul.path = path;
        llama::measure_quality(m, ref, o, pool, row);
        MESSAGE(std::string(name) << (path == lowbit::matmul_path::int8_dot ? " (int8)" : "") << ": KLD " << row.kld << ", PPL " << row.ppl
                     << ", top-1 " << row.top1);
        CHECK(row.top1 > 0.0);
        CHECK(std::isfinite(row.kld));
        CHECK(row.kld >= 0.0);
        return row.kld;
    };
    CHECK(kld("f32") < 1e-9);
    const double w8 = kld("w8"), w4 = kld("w4g32"), gptq = kld("w4g32-gptq");
    const double q4_k = kld("q4_k"), w8_int8 = kld("w8", lowbit::matmul_path::int8_dot), q4_0 = kld("q4_0");
    if (!bounds) return;  // lowbit_llama_eval checks them (above)
    CHECK(w8 <= 0.035);
    CHECK(w4 > 1.0);
    CHECK(w4 < 4.0);
    CHECK(gptq < w4);
    CHECK(q4_k < w4);
    CHECK(w8_int8 <= 0.06);
    CHECK(q4_0 < 4.0);
}

// Scheme names of issue 20's planner: -gptq-sg (act-order with static groups:
// no permutation stored), -mse (MSE scales), -rot (W Q^T quantized, x rotated
// by Q at run time). A -rot model must still compute W x: with 8-bit weights
// its KLD stays near W8's, where running the rotated weights on unrotated
// inputs would scramble every output.
TEST_CASE("llama: -gptq-sg stores no permutation, -rot runs W Q^T on Q x, bad scheme names are refused") {
    const auto& f32 = f32_model();
    auto s = llama::parse_scheme_name("w4g32-gptq-sg-mse-rot");
    REQUIRE(s.ok());
    CHECK(s->k == llama::scheme_spec::kind::lowbit_gptq);
    CHECK((s->static_groups && s->mse && s->rot));
    CHECK(s->rs.bits == 4);
    CHECK(s->rs.group == 32);
    CHECK_FALSE(llama::parse_scheme_name("w4g32-sg").ok());    // static groups without GPTQ
    CHECK_FALSE(llama::parse_scheme_name("q4_0-rot").ok());    // no rotation for ggml blocks
    CHECK_FALSE(llama::parse_scheme_name("w4g32-rot-mse").ok());  // suffixes in their order

    lowbit::thread_pool pool(2);
    llama::calib_options co;
    co.sequences = 2;
    co.length = 32;
    auto bytes_of = [&](const char* name) {
        llama::model m = f32;
        REQUIRE(llama::quantize_model(m, *llama::parse_scheme_name(name), pool, nullptr, co).ok());
        return m.linear_bytes();
    };
    const std::size_t rtn = bytes_of("w4g32"), gptq = bytes_of("w4g32-gptq"), sg = bytes_of("w4g32-gptq-sg-rot");
    CHECK(sg == rtn);
    CHECK(gptq == rtn + 4 * 5 * (6 * 64 + 172));  // act-order's int32 permutation: one per input column of each linear

    llama::eval_options eo;
    eo.sequences = 2;
    eo.length = 64;
    const auto ref = llama::make_reference(f32, eo, pool);
    auto kld = [&](const char* name) {
        llama::model m = f32;
        REQUIRE(llama::quantize_model(m, *llama::parse_scheme_name(name), pool, nullptr, co).ok());
        llama::eval_row row;
        llama::measure_quality(m, ref, eo, pool, row);
        MESSAGE(std::string(name) << ": KLD " << row.kld);
        return row.kld;
    };
    const double w8 = kld("w8g32"), w8rot = kld("w8g32-rot");
    CHECK(w8rot < 0.05);
    CHECK(w8rot < 2 * w8 + 0.01);
    // true-sequential GPTQ (each stage recaptured) runs and lands near the one-capture result
    const double one = kld("w4g32-gptq-sg-mse-rot");
    co.true_sequential = true;
    const double seq = kld("w4g32-gptq-sg-mse-rot");
    CHECK(seq < 1.5 * one);
    CHECK(one < 1.5 * seq);
    llama::model r = f32;
    REQUIRE(llama::quantize_model(r, *llama::parse_scheme_name("w4g32-rot"), pool).ok());
    CHECK(r.layers[0].w2.rot != nullptr);
    const auto st = llama::export_gguf(r, "test_llama_rot.gguf");
    CHECK(st.code() == lowbit::errc::unsupported);  // GGUF has no place for the rotation
    std::remove("test_llama_rot.gguf");
}

// -rotN keeps the sign vector with the least GPTQ loss of N (the first is
// -rot's, so it never loses to -rot on its own calibration), -rotb splits
// ffn_down's 172 inputs as 128 + 32 + 8 + 4; linears of one input share one
// rotation object, and the decode step rotates that input once for them and
// runs them through multi_gemv: the same logits, bit for bit, as each linear
// rotating its own copy (the path taken when the rotations differ).
TEST_CASE("llama: -rotN keeps the least GPTQ loss, -rotb splits 172 by its bits, a shared rotation runs once per input") {
    const auto& f32 = f32_model();
    auto s = llama::parse_scheme_name("w4g32-gptq-sg-mse-rotb4");
    REQUIRE(s.ok());
    CHECK((s->rot && s->rot_binary && s->rot_tries == 4 && s->mse && s->static_groups));
    auto r3 = llama::parse_scheme_name("w4g32-gptq-rot3");
    REQUIRE(r3.ok());
    CHECK((r3->rot && !r3->rot_binary && r3->rot_tries == 3));
    CHECK_FALSE(llama::parse_scheme_name("w4g32-rot2").ok());        // the choice needs GPTQ's loss
    CHECK_FALSE(llama::parse_scheme_name("w4g32-gptq-rot0").ok());
    CHECK_FALSE(llama::parse_scheme_name("w4g32-gptq-rot65").ok());
    CHECK_FALSE(llama::parse_scheme_name("w4g32-gptq-rot99999999999").ok());
    CHECK_FALSE(llama::parse_scheme_name("w4g32-gptq-rotx").ok());

    lowbit::thread_pool pool(2);
    llama::calib_options co;
    co.sequences = 2;
    co.length = 32;
    const auto seqs = llama::detail::sample_sequences(f32, co.sequences, co.length, co.seed);
    llama::detail::layer_hessians hs(f32.c);
    REQUIRE(llama::detail::capture_layer(f32, 0, seqs, hs).ok());
    auto loss_of = [&](const char* name, std::vector<std::size_t>* blocks = nullptr) {
        llama::linear w = f32.layers[0].w2;
        double loss = 0;
        REQUIRE(llama::quantize_linear(w, *llama::parse_scheme_name(name), pool, &hs.w2_in, co, &loss).ok());
        REQUIRE(w.rot != nullptr);
        if (blocks) *blocks = w.rot->blocks();
        return loss;
    };
    std::vector<std::size_t> equal, binary;
    const double one = loss_of("w3g32-gptq-sg-rot", &equal), four = loss_of("w3g32-gptq-sg-rot4");
    const double b1 = loss_of("w3g32-gptq-sg-rotb", &binary), b4 = loss_of("w3g32-gptq-sg-rotb4");
    MESSAGE("ffn_down GPTQ loss: -rot " << one << ", -rot4 " << four << ", -rotb " << b1 << ", -rotb4 " << b4);
    CHECK(one > 0);
    CHECK(four <= one);
    CHECK(b4 <= b1);
    CHECK(equal == std::vector<std::size_t>(43, 4));
    CHECK(binary == std::vector<std::size_t>{128, 32, 8, 4});

    llama::model m = f32;
    REQUIRE(llama::quantize_model(m, *llama::parse_scheme_name("w4g32-rot"), pool).ok());
    const llama::layer& y = m.layers[1];
    CHECK((y.wq.rot && y.wq.rot == y.wk.rot && y.wk.rot == y.wv.rot && y.w1.rot == y.w3.rot));
    CHECK(y.wq.rot == y.wo.rot);  // the same length and seed: one object for the layer's 64-input linears
    CHECK(y.w2.rot != y.wq.rot);
    llama::model apart = m;       // each linear its own copy of Q: matvec_shared_x runs them one by one
    for (llama::layer& l : apart.layers)
        l.for_each_linear([](llama::linear& w, const char*) { w.rot = std::make_shared<const lowbit::hadamard_rotation>(*w.rot); });
    CHECK(apart.layers[1].wq.rot != apart.layers[1].wk.rot);
    llama::state a(m.c, 8), b(m.c, 8);
    for (int pos = 0; pos < 8; ++pos) {
        const float* la = llama::forward(m, a, 300 + pos, pos, pool);
        const float* lb = llama::forward(apart, b, 300 + pos, pos, pool);
        REQUIRE(std::memcmp(la, lb, sizeof(float) * static_cast<std::size_t>(m.c.vocab)) == 0);
    }
}

// The --bpw planner on a tiny calibration set (2 x 16 tokens, two candidates):
// every probe measured, more bits predicting less KLD, the knapsack's plan
// within its budget at the extremes and in between, and the planned model
// measured between the two uniform ones.
TEST_CASE("llama: the --bpw planner measures each linear, fits the budget and lands between its candidates") {
    const auto& f32 = f32_model();
    lowbit::thread_pool pool(2);
    llama::calib_options co;
    co.sequences = 2;
    co.length = 16;
    llama::eval_options ce;
    ce.sequences = co.sequences, ce.length = co.length, ce.seed = co.seed;
    const auto calib = llama::make_reference(f32, ce, pool);
    const std::vector<llama::scheme_spec> cands = {*llama::parse_scheme_name("w3g64-gptq-sg-mse-rot"),
                                                   *llama::parse_scheme_name("w6g64-gptq-sg-mse-rot")};
    auto t = llama::measure_sensitivity(f32, cands, calib, ce, co, pool);
    REQUIRE_MESSAGE(t.ok(), t.error().message());
    REQUIRE(t->tensors.size() == 35);
    CHECK(t->tensors[5] == "blk.0.ffn_down");
    std::uint64_t lo = 0, hi = 0, weights = 0;
    for (std::size_t i = 0; i < t->tensors.size(); ++i) {
        CAPTURE(t->tensors[i]);
        CHECK(t->kld[i][0] > t->kld[i][1]);
        CHECK(t->kld[i][1] >= 0.0);
        CHECK(t->bytes[i][0] < t->bytes[i][1]);
        lo += t->bytes[i][0], hi += t->bytes[i][1], weights += t->params[i];
    }
    auto all = [&](const llama::tensor_plan& p, const char* name) {
        for (const auto& s : p.schemes)
            if (s.name != name) return false;
        return true;
    };
    auto small = llama::plan_for_bpw(*t, 8.0 * static_cast<double>(lo) / static_cast<double>(weights));
    REQUIRE(small.ok());
    CHECK(all(*small, "w3g64-gptq-sg-mse-rot"));
    auto big = llama::plan_for_bpw(*t, 8.0 * static_cast<double>(hi) / static_cast<double>(weights) + 1e-9);
    REQUIRE(big.ok());
    CHECK(all(*big, "w6g64-gptq-sg-mse-rot"));
    CHECK_FALSE(llama::plan_for_bpw(*t, 8.0 * static_cast<double>(lo - 1) / static_cast<double>(weights)).ok());
    CHECK_FALSE(llama::plan_for_bpw(*t, std::nan("")).ok());
    auto mid = llama::plan_for_bpw(*t, 4.5);
    REQUIRE(mid.ok());
    CHECK(mid->bytes <= mid->budget);
    CHECK(mid->budget == static_cast<std::uint64_t>(4.5 * static_cast<double>(weights) / 8.0));
    CHECK(mid->predicted_kld < small->predicted_kld);
    CHECK(mid->predicted_kld > big->predicted_kld);

    // The second pass (--plan-passes 2) measures each linear in the planned
    // model: layer 0's q (its Hessian sees only the embedding, as in the first
    // quantization) at the plan's own choice is the planned model itself.
    auto t2 = llama::measure_sensitivity(f32, cands, calib, ce, co, pool, &mid->schemes);
    REQUIRE_MESSAGE(t2.ok(), t2.error().message());
    REQUIRE(t2->kld.size() == t->kld.size());
    CHECK(t2->bytes == t->bytes);
    {
        llama::model planned = f32;
        REQUIRE(llama::quantize_tensors(planned, mid->schemes, pool, nullptr, co).ok());
        llama::eval_row row;
        llama::measure_quality(planned, calib, ce, pool, row);
        const std::size_t chosen = mid->schemes[0].name == cands[0].name ? 0 : 1;
        MESSAGE("planned model on the calibration set: KLD " << row.kld << "; pass 2 at blk.0.attn_q " << t2->kld[0][chosen]);
        CHECK(t2->kld[0][chosen] == doctest::Approx(row.kld).epsilon(1e-9));
        for (std::size_t i = 0; i < t2->kld.size(); ++i) CHECK(t2->kld[i][0] > 0.0);
    }
    auto again = llama::plan_for_bpw(*t2, 4.5);
    REQUIRE(again.ok());
    CHECK(again->bytes <= again->budget);

    llama::eval_options eo;
    eo.sequences = 2;
    eo.length = 64;
    const auto ref = llama::make_reference(f32, eo, pool);
    auto kld = [&](const llama::tensor_plan& p) {
        llama::model m = f32;
        REQUIRE(llama::quantize_tensors(m, p.schemes, pool, nullptr, co).ok());
        CHECK(m.linear_bytes() == p.bytes);  // the bytes the probe measured are the bytes quantize_tensors makes
        llama::eval_row row;
        llama::measure_quality(m, ref, eo, pool, row);
        return row.kld;
    };
    const double k3 = kld(*small), k45 = kld(*mid), k6 = kld(*big);
    MESSAGE("KLD w3 " << k3 << ", plan 4.5 " << k45 << ", w6 " << k6);
    CHECK(k45 < k3);
    CHECK(k45 > k6);
    llama::model m = f32;
    CHECK_FALSE(llama::quantize_tensors(m, llama::tensor_schemes(3), pool).ok());  // not one scheme per linear
}

// Issue 20's best configuration (docs/quality.md): the plan --bpw 4.5 chose,
// replayed from its file, on a small calibration and evaluation set to stay
// cheap (8 x 64 calibration tokens, 4 x 256 evaluated: measured 1.0170 for
// session 15's -rotb4 plan, 1.0118 for session 14's -rot plan; the
// documented 0.8596 needs 128 x 256 and 16 x 256). The bounds leave room for
// float differences between machines, not for a change of method.
TEST_CASE("llama: the shipped 4.5-bpw plan replays within 4.5 bpw and its KLD stays where it was measured") {
    const auto& f32 = f32_model();
    auto plan = llama::read_plan_file(LOWBIT_LLAMA_PLAN, f32);
    REQUIRE_MESSAGE(plan.ok(), plan.error().message());
    lowbit::thread_pool pool(2);
    llama::calib_options co;
    co.sequences = 8;
    co.length = 64;
    llama::eval_options eo;
    eo.sequences = 4;
    const auto ref = llama::make_reference(f32, eo, pool);
    llama::model m = f32;
    REQUIRE(llama::quantize_tensors(m, *plan, pool, nullptr, co).ok());
    CHECK(m.linear_bpw() <= 4.5);
    CHECK(m.linear_bpw() > 4.49);
    llama::eval_row row;
    llama::measure_quality(m, ref, eo, pool, row);
    MESSAGE("plan: KLD " << row.kld << ", top-1 " << row.top1);
    CHECK(row.kld < 1.1);
    CHECK(row.kld > 0.9);
    CHECK_FALSE(llama::read_plan_file("no-such-plan.txt", f32).ok());
}

TEST_CASE("llama: a linear the tiled layout cannot hold runs on its plain layout, and the load summary names it") {
    llama::model q = f32_model();
    lowbit::serial_executor ex;
    llama::tensor_schemes ts(q.layers.size() * llama::linears_per_layer, *llama::parse_scheme_name("w4g32"));
    ts[5] = *llama::parse_scheme_name("w4g16");  // blk.0.ffn_down: groups of 16 are not whole 32-blocks
    REQUIRE(llama::quantize_tensors(q, ts, ex).ok());
    const llama::linear& down = q.layers[0].w2;
    CHECK(!down.has_tiled);
    CHECK(!down.untiled_reason.empty());
    CHECK(q.layers[1].w2.has_tiled);
    CHECK(q.layers[1].w2.untiled_reason.empty());
    llama::run_options o;
    o.matmul.path = lowbit::matmul_path::int8_dot;
    const std::string s = llama::layout_summary(q, o);
    CAPTURE(s);
    const std::size_t all = q.layers.size() * llama::linears_per_layer;
    CHECK(s.find(std::to_string(all) + " linears on --path int8 --layout tiled: 1 dense, " + std::to_string(all - 1) + " tiled;") !=
          std::string::npos);
    CHECK(s.find("1 stayed off the tiled layout (blk.0.ffn_down): " + down.untiled_reason) != std::string::npos);
    // it runs, on the qmatrix: the bits of the plain layout
    llama::run_options plain = o;
    plain.tiled = false;
    std::vector<float> x(down.cols), a(down.rows), b(down.rows);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::cos(0.3f * static_cast<float>(i));
    llama::matvec(down, x.data(), a.data(), ex, o);
    llama::matvec(down, x.data(), b.data(), ex, plain);
    CHECK(a == b);
    llama::state st(q.c, 4);
    for (int pos = 0; pos < 4; ++pos) {
        const float* l = llama::forward(q, st, pos == 0 ? 1 : 300 + pos, pos, ex, o);
        CHECK(std::all_of(l, l + q.c.vocab, [](float v) { return std::isfinite(v); }));
    }
    // the plain layout asked for is no fallback: nothing to report
    CHECK(llama::layout_summary(q, plain).find("stayed off") == std::string::npos);
}
