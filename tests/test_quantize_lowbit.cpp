// lowbit-quantize --type w4g128 on the real tinyllama-sotu checkpoint
// (tests/data/tinyllama-sotu), read back by lowbit-llama: round to nearest
// gives the perplexity of lowbit-llama's own in-memory w4g128 bit for bit;
// --method gptq --act-order writes act-order permutations, lowers the
// layer-output error of most tensors below rtn's and the perplexity with it;
// mixed with ggml types and other schemes per tensor; --method awq, awq+gptq
// and smoothquant on lowbit schemes (their scales folded into the norms and
// previous linears): the files load; against F32, awq+gptq's KLD is below
// rtn's and awq's within 10 % of it (one AWQ group mixing a lowbit scheme and
// a ggml type; AWQ alone loses a little on this model), smoothquant's fold
// leaves F32 logits unchanged and its w8pc file runs on the int8 path;
// codebook types (cb4, cb3, cb3-nf) with --method gptq: below rtn per tensor
// and in KLD against F32, the file run on lowbit-llama's fma and int8 paths.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include <lowbit/formats/weights_gguf_reader.hpp>
#include <lowbit/parallel.hpp>

#include "gguf_io.hpp"     // examples/llama
#include "prefill.hpp"     // examples/llama
#include "quantize.hpp"    // examples/llama
#include "tinyllama_ppl.hpp"
#include "tokenizer.hpp"   // examples/llama
#include "tool_test_util.hpp"

namespace gg = lowbit::gguf;

namespace {

using namespace tool_test;

const std::string data_dir = std::string(LOWBIT_TEST_DATA_DIR) + "/tinyllama-sotu";

// A GGUF file's bytes, aligned as mmap aligns them, kept alive beside the
// model: its lowbit weights are views into them.
struct loaded {
    aligned_file bytes;
    llama::model m;
};

loaded load(const std::string& path) {
    aligned_file b(path);
    auto m = llama::load_gguf(lowbit::span<const std::uint8_t>(b.data, b.size));
    REQUIRE_MESSAGE(m.ok(), std::string(m.error().message()));
    REQUIRE(llama::decode_codebooks(*m).ok());  // codebook linears: their f32 values for the fma path
    return loaded{std::move(b), std::move(*m)};
}

// Perplexity (tinyllama_ppl.hpp) of a model; the vocabulary from a GGUF file.
double ppl(const llama::model& m, const aligned_file& file_with_vocab) {
    auto f = gg::gguf_file::parse(lowbit::span<const std::uint8_t>(file_with_vocab.data, file_with_vocab.size));
    REQUIRE(f.ok());
    auto tok = llama::tokenizer::from_gguf(*f);
    REQUIRE_MESSAGE(tok.ok(), std::string(tok.error().message()));
    return tinyllama_test::dev_perplexity(m, *tok, data_dir + "/dev.txt");
}

}  // namespace

TEST_CASE("lowbit-quantize --type w4g128: lowbit-llama runs the file as it runs its own w4g128, bit for bit") {
    tmpdir d;
    std::string log;
    // Embedding and output kept F32 so that only the linear weights differ from the F32 model.
    REQUIRE_MESSAGE(run_tool(d, "'" + data_dir + "' '" + (d / "f32.gguf") + "' --type F32 --threads 2", &log) == 0, log);
    REQUIRE_MESSAGE(run_tool(d, "'" + data_dir + "' '" + (d / "w4.gguf") +
                                    "' --type w4g128 --token-embedding-type F32 --output-tensor-type F32 --threads 2",
                             &log) == 0,
                    log);
    loaded file = load(d / "w4.gguf");
    CHECK(file.m.layers[3].w2.mapped.has_value());  // run from the file's bytes
    CHECK(file.m.layers[3].w2.format == "w4g128");
    loaded mem = load(d / "f32.gguf");
    lowbit::thread_pool pool(2);
    auto s = llama::parse_scheme_name("w4g128");
    REQUIRE(s.ok());
    REQUIRE(llama::quantize_model(mem.m, *s, pool).ok());
    const double p_file = ppl(file.m, file.bytes), p_mem = ppl(mem.m, file.bytes);
    INFO("file ", p_file, " in memory ", p_mem);
    CHECK(std::isfinite(p_file));
    CHECK(p_file == p_mem);
}

TEST_CASE("lowbit-quantize --type w4g128 --method gptq --act-order: permutations, below rtn, mixed per tensor") {
    tmpdir d;
    std::string log;
    const std::string calib = " --calib '" + data_dir + "/calib.txt' --calib-tokens 1024 --threads 2";
    REQUIRE_MESSAGE(run_tool(d, "'" + data_dir + "' '" + (d / "rtn.gguf") + "' --type w4g128 --tensor-type ffn_down=w8pc --threads 2", &log) ==
                        0,
                    log);
    REQUIRE_MESSAGE(run_tool(d, "'" + data_dir + "' '" + (d / "gptq.gguf") +
                                    "' --type w4g128 --method gptq --act-order --tensor-type ffn_down=w8pc --tensor-type attn_v=Q8_0" + calib,
                             &log) == 0,
                    log);
    std::smatch mt;
    REQUIRE_MESSAGE(std::regex_search(log, mt, std::regex("layer-output error below rtn's on (\\d+) of (\\d+) calibrated tensors")), log);
    const int better = std::stoi(mt[1]), all = std::stoi(mt[2]);
    CHECK(all == 57);  // 8 layers x 7 weights (attn_v Q8_0 by GPTQ too) and output.weight (Q6_K)
    CHECK(better * 4 >= all * 3);
    CHECK(std::regex_search(log, std::regex("blk\\.0\\.attn_q\\.weight +w4g128 .* gptq act-order")));
    const aligned_file bytes(d / "gptq.gguf");
    auto r = lowbit::weights_gguf_reader::open(lowbit::span<const std::uint8_t>(bytes.data, bytes.size));
    REQUIRE_MESSAGE(r.ok(), std::string(r.error().message()));
    CHECK(r->lowbit_count() == 8 * 6);
    const lowbit::weights_view q = *r->find("blk.5.attn_q.weight");
    CHECK(q.perm() != nullptr);  // act-order groups live in processing order
    CHECK(q.lay() == lowbit::layout::tiled);
    CHECK(r->find("blk.5.ffn_down.weight")->perm() == nullptr);  // per channel: no permutation kept
    CHECK(r->file().find_tensor("blk.5.attn_v.weight")->type == gg::gguf_type::q8_0);
    loaded g = load(d / "gptq.gguf"), n = load(d / "rtn.gguf");
    const double p_gptq = ppl(g.m, g.bytes), p_rtn = ppl(n.m, n.bytes);
    INFO("rtn ", p_rtn, " gptq ", p_gptq);
    CHECK(std::isfinite(p_gptq));
    CHECK(p_gptq < p_rtn * 1.01);
}

// --method awq, awq+gptq and smoothquant on lowbit schemes (issue 17 item 2):
// the scales found on (or for) the lowbit grid are folded into the norms and
// previous linears (awq_fold.hpp), the weights then quantized on that grid.
namespace {

// Logits of every position of two 128-token chunks of dev.txt (BOS first).
std::vector<float> dev_logits(const llama::model& m, const aligned_file& file_with_vocab,
                              lowbit::matmul_path path = lowbit::matmul_path::dequant_fma) {
    auto f = gg::gguf_file::parse(lowbit::span<const std::uint8_t>(file_with_vocab.data, file_with_vocab.size));
    REQUIRE(f.ok());
    auto tok = llama::tokenizer::from_gguf(*f);
    REQUIRE(tok.ok());
    const std::vector<std::uint8_t> text = read_file(data_dir + "/dev.txt");
    auto ids = tok->encode(std::string(text.begin(), text.begin() + 4000), true);
    REQUIRE(ids.ok());
    REQUIRE(ids->size() >= 256);
    llama::run_options ro;
    ro.matmul.path = path;
    lowbit::thread_pool pool(2);
    llama::prefill_state s;
    std::vector<float> out;
    for (int c = 0; c < 2; ++c) {
        std::vector<int> chunk(ids->begin() + 128 * c, ids->begin() + 128 * (c + 1));
        chunk[0] = tok->vocabulary().bos;
        llama::prefill(m, chunk.data(), 128, 0, s, pool, ro);
        out.insert(out.end(), s.logits.begin(), s.logits.begin() + 128 * static_cast<std::size_t>(m.c.vocab));
    }
    return out;
}

// Mean KL(p_base || p) over the positions, V logits each.
double mean_kld(const std::vector<float>& base, const std::vector<float>& x, int V) {
    REQUIRE(base.size() == x.size());
    auto log_softmax = [V](const float* l, std::vector<double>& o) {
        double mx = l[0], sum = 0;
        for (int i = 1; i < V; ++i) mx = std::max(mx, static_cast<double>(l[i]));
        for (int i = 0; i < V; ++i) sum += std::exp(l[i] - mx);
        o.resize(static_cast<std::size_t>(V));
        for (int i = 0; i < V; ++i) o[static_cast<std::size_t>(i)] = l[i] - mx - std::log(sum);
    };
    const std::size_t n = base.size() / static_cast<std::size_t>(V);
    std::vector<double> lp, lq;
    double kld = 0;
    for (std::size_t t = 0; t < n; ++t) {
        log_softmax(base.data() + t * V, lp);
        log_softmax(x.data() + t * V, lq);
        for (int i = 0; i < V; ++i) kld += std::exp(lp[static_cast<std::size_t>(i)]) * (lp[static_cast<std::size_t>(i)] - lq[static_cast<std::size_t>(i)]);
    }
    return kld / static_cast<double>(n);
}

bool all_finite(const std::vector<float>& v) {
    for (float x : v)
        if (!std::isfinite(x)) return false;
    return true;
}

}  // namespace

TEST_CASE("lowbit-quantize --method awq / awq+gptq on lowbit schemes, mixed with a ggml type: files load; KLD vs F32: awq+gptq below rtn, awq within 10 %") {
    tmpdir d;
    std::string log;
    const std::string in = "'" + data_dir + "' ", calib = " --calib '" + data_dir + "/calib.txt' --calib-tokens 1024 --threads 2";
    // Only the linears differ from F32. One AWQ group mixes both grids: attn_q/k w4g128 (the lowbit
    // grid, awq_lowbit_round_trip) with attn_v Q4_0 (ggml's); ffn_down another scheme.
    const std::string plan = " --type w4g128 --tensor-type attn_v=Q4_0 --tensor-type ffn_down=w4g32 --token-embedding-type F32 "
                             "--output-tensor-type F32";
    REQUIRE_MESSAGE(run_tool(d, in + "'" + (d / "f32.gguf") + "' --type F32 --threads 2", &log) == 0, log);
    REQUIRE_MESSAGE(run_tool(d, in + "'" + (d / "rtn.gguf") + "'" + plan + " --threads 2", &log) == 0, log);
    REQUIRE_MESSAGE(run_tool(d, in + "'" + (d / "awq.gguf") + "'" + plan + " --method awq" + calib, &log) == 0, log);
    // the search ran and moved off s = 1 somewhere (a ratio above 0), never raising its own loss
    CHECK(std::regex_search(log, std::regex("awq ratios:.* 0\\.[0-9]*[1-9][0-9]* \\(loss")));
    int searches = 0;
    for (std::size_t at = log.find("(loss "); at != std::string::npos; at = log.find("(loss ", at + 1), ++searches) {
        char* end = nullptr;
        const double before = std::strtod(log.c_str() + at + 6, &end);
        REQUIRE(std::string(end, 4) == " -> ");
        CHECK(std::strtod(end + 4, nullptr) <= before);
    }
    CHECK(searches == 8 * 4);  // 8 layers x 4 linear inputs
    CHECK(std::regex_search(log, std::regex("blk\\.0\\.attn_q\\.weight +w4g128 .* awq, rtn")));
    CHECK(std::regex_search(log, std::regex("blk\\.0\\.ffn_down\\.weight +w4g32 .* awq, rtn")));
    CHECK(std::regex_search(log, std::regex("blk\\.0\\.attn_v\\.weight +Q4_0 .* awq, rtn\\+imatrix")));
    REQUIRE_MESSAGE(run_tool(d, in + "'" + (d / "awqg.gguf") + "'" + plan + " --method awq+gptq" + calib, &log) == 0, log);
    CHECK(std::regex_search(log, std::regex("blk\\.0\\.ffn_down\\.weight +w4g32 .* awq\\+gptq")));

    loaded f32 = load(d / "f32.gguf"), rtn = load(d / "rtn.gguf"), awq = load(d / "awq.gguf"), awqg = load(d / "awqg.gguf");
    CHECK(awq.m.layers[2].wq.mapped.has_value());  // lowbit weights run from the file
    CHECK(awq.m.layers[2].wq.format == "w4g128");
    CHECK(awqg.m.layers[2].w2.format == "w4g32");
    const int V = f32.m.c.vocab;
    const std::vector<float> base = dev_logits(f32.m, f32.bytes);
    const std::vector<float> l_rtn = dev_logits(rtn.m, rtn.bytes), l_awq = dev_logits(awq.m, awq.bytes), l_awqg = dev_logits(awqg.m, awqg.bytes);
    for (const auto* l : {&l_rtn, &l_awq, &l_awqg}) CHECK(all_finite(*l));
    const double k_rtn = mean_kld(base, l_rtn, V), k_awq = mean_kld(base, l_awq, V), k_awqg = mean_kld(base, l_awqg, V);
    MESSAGE("mean KLD vs F32 on 256 dev positions: rtn ", k_rtn, ", awq ", k_awq, ", awq+gptq ", k_awqg);
    // AWQ followed by plain rtn loses to rtn on this model: measured 0.0379 against 0.0363 here, and
    // 0.042777 against 0.041828 on docs/ptq.md's 16 chunks at w4g128. Its search lowers the group's
    // layer-output loss in-sample (every "loss A -> B" line of the log has B <= A, checked below), which
    // the KLD does not follow on this tiny model; so awq is held to within 10 % of rtn's KLD, and
    // awq+gptq, which beats both, to below rtn's.
    CHECK(k_awq <= 1.10 * k_rtn);
    CHECK(k_awqg <= k_rtn);
}

TEST_CASE("lowbit-quantize --method smoothquant: the fold keeps F32 logits; a w8pc file runs on the int8 path") {
    tmpdir d;
    std::string log;
    // 512 tokens: max |x| needs no more here (any scales must fold exactly; w8pc barely moves)
    const std::string in = "'" + data_dir + "' ", calib = " --calib '" + data_dir + "/calib.txt' --calib-tokens 512 --threads 2";
    const std::string f32_io = " --token-embedding-type F32 --output-tensor-type F32";
    REQUIRE_MESSAGE(run_tool(d, in + "'" + (d / "f32.gguf") + "' --type F32 --threads 2", &log) == 0, log);
    // Weights left in float: the folded model computes what the unfolded one does, up to float rounding.
    REQUIRE_MESSAGE(run_tool(d, in + "'" + (d / "sq-f32.gguf") + "' --type F32 --method smoothquant" + calib, &log) == 0, log);
    loaded f32 = load(d / "f32.gguf"), sqf = load(d / "sq-f32.gguf");
    CHECK(sqf.m.layers[1].att_norm != f32.m.layers[1].att_norm);  // the scales are folded (not all 1)
    CHECK(sqf.m.layers[1].w2.w != f32.m.layers[1].w2.w);
    const std::vector<float> base = dev_logits(f32.m, f32.bytes), folded = dev_logits(sqf.m, sqf.bytes);
    double worst = 0, scale = 0;
    for (std::size_t i = 0; i < base.size(); ++i)
        worst = std::max(worst, std::fabs(static_cast<double>(base[i]) - folded[i])), scale = std::max(scale, std::fabs(static_cast<double>(base[i])));
    MESSAGE("smoothquant fold, F32 weights: max |logit difference| ", worst, " (max |logit| ", scale, ")");
    CHECK(worst <= 1e-4 * scale);

    const int V = f32.m.c.vocab;
    {  // W8A8, SmoothQuant's own setting (docs/ptq.md measures w4g128 on the int8 path)
        const std::string s = "w8pc";
        REQUIRE_MESSAGE(run_tool(d, in + "'" + (d / (s + "-rtn.gguf")) + "' --type " + s + f32_io + " --threads 2", &log) == 0, log);
        REQUIRE_MESSAGE(run_tool(d, in + "'" + (d / (s + "-sq.gguf")) + "' --type " + s + " --method smoothquant" + f32_io + calib, &log) == 0,
                        log);
        CHECK(std::regex_search(log, std::regex("blk\\.0\\.ffn_up\\.weight +" + s + " .* smoothquant, rtn")));
        loaded rtn = load(d / (s + "-rtn.gguf")), sq = load(d / (s + "-sq.gguf"));
        CHECK(sq.m.layers[0].w1.format == s);
        const std::vector<float> l_rtn = dev_logits(rtn.m, rtn.bytes, lowbit::matmul_path::int8_dot),
                                 l_sq = dev_logits(sq.m, sq.bytes, lowbit::matmul_path::int8_dot);
        CHECK(all_finite(l_rtn));
        CHECK(all_finite(l_sq));
        const double k_rtn = mean_kld(base, l_rtn, V), k_sq = mean_kld(base, l_sq, V);
        MESSAGE(s, " int8 path, mean KLD vs F32 on 256 dev positions: rtn ", k_rtn, ", smoothquant ", k_sq);
        CHECK(std::isfinite(k_sq));
    }
}

TEST_CASE("lowbit-quantize codebook types with --method gptq: below rtn per tensor and in KLD; lowbit-llama runs them on both paths") {
    tmpdir d;
    std::string log;
    // Three linears of each layer as codebooks (learned 4-bit, NF 3-bit, learned 3-bit), the rest F32:
    // the learned grids' k-means and codebook::quantize's scale search dominate a whole-model run's CPU time.
    // 2048 calibration tokens: with 512, GPTQ's KLD here was above rtn's (0.0280 vs 0.0273; 4 of 24
    // tensors above rtn on the held-back chunk), too few tokens for these Hessians.
    const std::string in = "'" + data_dir + "' ", calib = " --calib '" + data_dir + "/calib.txt' --calib-tokens 2048 --threads 2";
    const std::string plan = " --type F32 --tensor-type attn_q=cb4 --tensor-type attn_output=cb3-nf --tensor-type ffn_up=cb3";
    REQUIRE_MESSAGE(run_tool(d, in + "'" + (d / "f32.gguf") + "' --type F32 --threads 2", &log) == 0, log);
    REQUIRE_MESSAGE(run_tool(d, in + "'" + (d / "rtn.gguf") + "'" + plan + " --threads 2", &log) == 0, log);
    REQUIRE_MESSAGE(run_tool(d, in + "'" + (d / "gptq.gguf") + "'" + plan + " --method gptq" + calib, &log) == 0, log);
    std::smatch mt;
    REQUIRE_MESSAGE(std::regex_search(log, mt, std::regex("layer-output error below rtn's on (\\d+) of (\\d+) calibrated tensors")), log);
    const int better = std::stoi(mt[1]), all = std::stoi(mt[2]);
    CHECK(all == 24);
    CHECK(better * 4 >= all * 3);
    CHECK(std::regex_search(log, std::regex("blk\\.0\\.attn_q\\.weight +cb4 .* gptq, learned grid")));
    CHECK(std::regex_search(log, std::regex("blk\\.0\\.attn_output\\.weight +cb3-nf .* gptq, NF grid")));
    loaded f32 = load(d / "f32.gguf"), rtn = load(d / "rtn.gguf"), cb = load(d / "gptq.gguf");
    CHECK(cb.m.layers[5].wq.format == "cb4");
    CHECK(cb.m.layers[5].wo.format == "cb3");
    CHECK(cb.m.layers[5].w3.format == "cb3");
    REQUIRE(cb.m.layers[5].w3.mapped.has_value());
    CHECK(cb.m.layers[5].w3.mapped->lay() == lowbit::layout::codebook);
    const int V = f32.m.c.vocab;
    const std::vector<float> base = dev_logits(f32.m, f32.bytes), l_rtn = dev_logits(rtn.m, rtn.bytes), l_fma = dev_logits(cb.m, cb.bytes),
                             l_int8 = dev_logits(cb.m, cb.bytes, lowbit::matmul_path::int8_dot);
    CHECK(all_finite(l_fma));
    CHECK(all_finite(l_int8));
    CHECK(l_fma != l_int8);  // int8 ran the codebook kernels on the file's blocks
    const double k_rtn = mean_kld(base, l_rtn, V), k_fma = mean_kld(base, l_fma, V), k_int8 = mean_kld(base, l_int8, V);
    MESSAGE("mean KLD vs F32 on 256 dev positions: rtn ", k_rtn, "; gptq: fma ", k_fma, ", int8 ", k_int8);
    CHECK(k_fma < k_rtn);
    CHECK(k_int8 < k_fma * 1.1);
}

TEST_CASE("lowbit-quantize --method awq / smoothquant on lowbit schemes: bad requests are one line, exit 2, nothing written") {
    tmpdir d;
    const std::string in = "'" + data_dir + "' '" + (d / "x.gguf") + "' ", calib = " --calib '" + data_dir + "/calib.txt'";
    const std::pair<std::string, std::string> cases[] = {
        {"--type w4pt --method awq" + calib, "gets w4pt: AWQ's scale search rounds blocks of rows, a per-tensor scale spans them all"},
        {"--type w4g128 --method awq+gptq --tensor-type ffn_up=w8pt" + calib, "tensor 'blk.0.ffn_up.weight' gets w8pt: AWQ's"},
        {"--type w4g128 --method smoothquant --sq-alpha 1.5" + calib, "--sq-alpha '1.5': expected a number in [0, 1], with --method smoothquant"},
        {"--type w4g128 --method awq --sq-alpha 0.5" + calib, "with --method smoothquant"},
        {"--type w4g128 --method smoothquant", "--method smoothquant needs --calib TEXT"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.first);
        std::string log;
        CHECK(run_tool(d, in + c.first, &log) == 2);
        CHECK(log.find(c.second) != std::string::npos);
        CHECK(std::count(log.begin(), log.end(), '\n') == 1);
        CHECK_FALSE(exists(d / "x.gguf"));
    }
}
