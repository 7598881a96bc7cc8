// lowbit-quantize's recipes against llama.cpp's: the type every tensor of small
// generated models gets, per recipe, compared with tables llama-quantize wrote
// (tests/data/recipes/llama_quantize_types.txt; provenance and format in
// scripts/make_recipe_tables.sh). The models are described, not generated: the
// rules only look at names and shapes, so the test builds the same tensor list
// test_quantize_tool_mkmodel writes and runs lbq::plan on it.
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <lowbit/formats/gguf.hpp>
#include <lowbit/formats/gguf_blocks.hpp>

#include "../examples/lowbit-quantize/tensor_rules.hpp"

namespace gg = lowbit::gguf;
using gg::gguf_type;

namespace {

// The generator's model options (test_quantize_tool_mkmodel's arguments).
struct model_spec {
    std::string name;
    std::uint64_t layers = 0, n_embd = 0, n_ff = 0, n_vocab = 0, heads = 0, kv_heads = 0, experts = 0;
    bool qkv = false, tied = false;
};

model_spec parse_model(std::istringstream& in) {
    model_spec m;
    in >> m.name >> m.layers >> m.n_embd >> m.n_ff >> m.n_vocab;
    std::string opt;
    while (in >> opt) {
        if (opt == "--heads") in >> m.heads;
        else if (opt == "--kv-heads") in >> m.kv_heads;
        else if (opt == "--experts") in >> m.experts;
        else if (opt == "--qkv") m.qkv = true;
        else if (opt == "--tied") m.tied = true;
        else FAIL("unknown model option " << opt);
    }
    return m;
}

lbq::tensor_desc desc(const std::string& name, std::uint64_t d0, std::uint64_t d1 = 1, std::uint64_t d2 = 1) {
    lbq::tensor_desc d;
    d.name = name;
    d.dims[0] = d0;
    d.dims[1] = d1;
    d.dims[2] = d2;
    d.n_dims = d2 > 1 ? 3 : d1 > 1 ? 2 : 1;
    return d;
}

// The tensor list of test_quantize_tool_mkmodel, in its order.
std::vector<lbq::tensor_desc> tensors_of(const model_spec& m) {
    const std::uint64_t kv = m.n_embd / m.heads * m.kv_heads;
    std::vector<lbq::tensor_desc> ts = {desc("token_embd.weight", m.n_embd, m.n_vocab)};
    for (std::uint64_t l = 0; l < m.layers; ++l) {
        const std::string b = "blk." + std::to_string(l) + ".";
        ts.push_back(desc(b + "attn_norm.weight", m.n_embd));
        if (m.qkv) {
            ts.push_back(desc(b + "attn_qkv.weight", m.n_embd, m.n_embd + 2 * kv));
        } else {
            ts.push_back(desc(b + "attn_q.weight", m.n_embd, m.n_embd));
            ts.push_back(desc(b + "attn_k.weight", m.n_embd, kv));
            ts.push_back(desc(b + "attn_v.weight", m.n_embd, kv));
        }
        ts.push_back(desc(b + "attn_output.weight", m.n_embd, m.n_embd));
        ts.push_back(desc(b + "ffn_norm.weight", m.n_embd));
        if (m.experts > 0) {
            ts.push_back(desc(b + "ffn_gate_inp.weight", m.n_embd, m.experts));
            ts.push_back(desc(b + "ffn_gate_exps.weight", m.n_embd, m.n_ff, m.experts));
            ts.push_back(desc(b + "ffn_up_exps.weight", m.n_embd, m.n_ff, m.experts));
            ts.push_back(desc(b + "ffn_down_exps.weight", m.n_ff, m.n_embd, m.experts));
        } else {
            ts.push_back(desc(b + "ffn_gate.weight", m.n_embd, m.n_ff));
            ts.push_back(desc(b + "ffn_up.weight", m.n_embd, m.n_ff));
            ts.push_back(desc(b + "ffn_down.weight", m.n_ff, m.n_embd));
        }
    }
    ts.push_back(desc("output_norm.weight", m.n_embd));
    if (!m.tied) ts.push_back(desc("output.weight", m.n_embd, m.n_vocab));
    return ts;
}

lbq::model_info info_of(const model_spec& m) {
    lbq::model_info i;
    i.arch = "llama";
    i.n_layer = static_cast<int>(m.layers);
    i.n_expert = static_cast<int>(m.experts);
    i.n_head = static_cast<int>(m.heads);
    i.n_head_kv = static_cast<int>(m.kv_heads);
    return i;
}

std::optional<gguf_type> type_named(const std::string& s) {
    for (int t = 0; t < 64; ++t) {
        const auto g = static_cast<gguf_type>(t);
        if (s == gg::type_name(g)) return g;
    }
    return std::nullopt;
}

lowbit::status plan_for(const model_spec& m, const std::string& recipe, bool pure, bool has_imatrix,
                        std::vector<lbq::tensor_desc>* ts, std::vector<lbq::decision>* d) {
    lbq::options o;
    o.tgt = lbq::find_target(recipe);
    REQUIRE(o.tgt != nullptr);
    o.pure = pure;
    o.has_imatrix = has_imatrix;
    *ts = tensors_of(m);
    return lbq::plan(*ts, info_of(m), o, d);
}

}  // namespace

TEST_CASE("quantize recipes: every tensor's type as llama-quantize gives it") {
    std::ifstream f(LOWBIT_TEST_DATA_DIR "/recipes/llama_quantize_types.txt");
    REQUIRE(f);
    std::map<std::string, model_spec> models;
    std::string line;
    int tables = 0, refused = 0, pure_tables = 0, imatrix_tables = 0;
    std::map<std::string, int> recipes_seen;
    while (std::getline(f, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream in(line);
        std::string head;
        in >> head;
        if (head == "model") {
            const model_spec m = parse_model(in);
            models[m.name] = m;
            continue;
        }
        std::string recipe = head, model, base;
        in >> model >> base;
        auto strip = [&](const std::string& suffix) {
            const bool has = recipe.size() > suffix.size() && recipe.compare(recipe.size() - suffix.size(), suffix.size(), suffix) == 0;
            if (has) recipe.resize(recipe.size() - suffix.size());
            return has;
        };
        const bool pure = strip("+pure");
        const bool with_imatrix = strip("+imatrix");
        CAPTURE(line.substr(0, 60));
        REQUIRE(models.count(model) == 1);
        std::vector<lbq::tensor_desc> ts;
        std::vector<lbq::decision> d;
        const lowbit::status s = plan_for(models[model], recipe, pure, with_imatrix, &ts, &d);
        if (base == "refused") {
            // llama-quantize stops (Q2_K_S and the 1- to 3-bit i-quant mixes without an
            // importance matrix); so does the plan, naming the option.
            CHECK(!s.ok());
            CHECK(s.code() == lowbit::errc::unsupported);
            CHECK(std::string(s.message()).find("--imatrix") != std::string::npos);
            ++refused;
            continue;
        }
        REQUIRE(s.ok());
        const std::optional<gguf_type> base_type = type_named(base);
        REQUIRE(base_type);
        std::map<std::string, gguf_type> want;
        std::string item;
        while (in >> item) {
            const std::size_t eq = item.find('=');
            REQUIRE(eq != std::string::npos);
            const std::optional<gguf_type> t = type_named(item.substr(eq + 1));
            REQUIRE(t);
            want[item.substr(0, eq)] = *t;
        }
        std::size_t listed = 0;
        for (std::size_t i = 0; i < ts.size(); ++i) {
            CAPTURE(ts[i].name);
            if (ts[i].n_dims == 1) {
                CHECK(d[i].type == gguf_type::f32);  // norms are kept
                continue;
            }
            const auto it = want.find(ts[i].name);
            listed += it != want.end();
            CHECK(std::string(gg::type_name(d[i].type)) == gg::type_name(it != want.end() ? it->second : *base_type));
        }
        CHECK(listed == want.size());  // every listed name is a tensor of the model
        // With an imatrix, exactly the tensors llama.cpp would refuse without one need it.
        for (std::size_t i = 0; i < ts.size(); ++i)
            if (ts[i].n_dims > 1)
                CHECK(d[i].needs_imatrix == lbq::requires_imatrix(ts[i].name, d[i].type, lbq::find_target(recipe)->ftype));
        ++tables;
        pure_tables += pure;
        imatrix_tables += with_imatrix;
        ++recipes_seen[recipe];
    }
    // The file covers every recipe llama-quantize has, on every model: 30 recipes, of
    // which Q2_K_S and the eight 1- to 3-bit i-quant mixes are refused without an
    // imatrix, and tables with one for those nine and four whose rules look at it.
    CHECK(models.size() == 5);
    CHECK(recipes_seen.size() == 30);
    CHECK(refused == 9 * 5);
    CHECK(pure_tables == 10);
    CHECK(imatrix_tables == 13 * 5);
    CHECK(tables == 21 * 5 + 10 + 13 * 5);
}

TEST_CASE("quantize recipes: Q2_K_S with an importance matrix") {
    // llama.cpp needs imatrix data for Q2_K tensors of a Q2_K_S file (not for the output or token embedding).
    model_spec m;
    m.layers = 8, m.n_embd = 256, m.n_ff = 512, m.n_vocab = 256, m.heads = 4, m.kv_heads = 4;
    lbq::options o;
    o.tgt = lbq::find_target("Q2_K_S");
    o.has_imatrix = true;
    const auto ts = tensors_of(m);
    std::vector<lbq::decision> d;
    REQUIRE(lbq::plan(ts, info_of(m), o, &d).ok());
    for (std::size_t i = 0; i < ts.size(); ++i) {
        CAPTURE(ts[i].name);
        const bool q2 = d[i].type == gguf_type::q2_K;
        const bool io = ts[i].name == "token_embd.weight" || ts[i].name == "output.weight";
        CHECK(d[i].needs_imatrix == (q2 && !io));
        if (ts[i].name == "blk.0.ffn_down.weight") CHECK(d[i].type == gguf_type::q4_K);  // layer < n/8
        if (ts[i].name == "blk.1.ffn_down.weight") CHECK(q2);
    }
}

TEST_CASE("quantize recipes: --dry-run plans an i-quant recipe without an importance matrix") {
    model_spec m;
    m.layers = 8, m.n_embd = 256, m.n_ff = 512, m.n_vocab = 256, m.heads = 8, m.kv_heads = 2;
    lbq::options o;
    o.tgt = lbq::find_target("IQ2_M");
    const auto ts = tensors_of(m);
    std::vector<lbq::decision> d;
    CHECK(lbq::plan(ts, info_of(m), o, &d).code() == lowbit::errc::unsupported);  // a real run is refused
    o.dry_run = true;
    REQUIRE(lbq::plan(ts, info_of(m), o, &d).ok());
    int need = 0;
    for (std::size_t i = 0; i < ts.size(); ++i) {
        CAPTURE(ts[i].name);
        need += d[i].needs_imatrix;
        if (ts[i].name == "blk.3.attn_q.weight") CHECK((d[i].type == gguf_type::iq2_s && d[i].needs_imatrix));
        if (ts[i].name == "blk.3.attn_v.weight") CHECK((d[i].type == gguf_type::q4_K && !d[i].needs_imatrix));  // n_gqa 4
    }
    CHECK(need > 0);
}

TEST_CASE("quantize recipes: 70B and 8-expert rules") {
    // A LLaMA-2-70B-shaped attention: 80 layers, 64 heads, 8 KV heads.
    std::vector<lbq::tensor_desc> ts;
    for (int l = 0; l < 80; ++l) ts.push_back(desc("blk." + std::to_string(l) + ".attn_v.weight", 8192, 1024));
    lbq::model_info m;
    m.arch = "llama";
    m.n_layer = 80;
    m.n_head = 64;
    m.n_head_kv = 8;
    CHECK(m.is_70b());
    CHECK(m.n_gqa() == 8);
    lbq::options o;
    std::vector<lbq::decision> d;
    o.tgt = lbq::find_target("Q3_K_M");  // attn_v #0, #1: Q5_K; the rest Q4_K, raised to Q5_K on 70B
    REQUIRE(lbq::plan(ts, m, o, &d).ok());
    for (const auto& x : d) CHECK(x.type == gguf_type::q5_K);
    o.tgt = lbq::find_target("Q2_K");  // GQA >= 4: Q4_K, raised to Q5_K
    REQUIRE(lbq::plan(ts, m, o, &d).ok());
    for (const auto& x : d) CHECK(x.type == gguf_type::q5_K);
    m.n_head_kv = 64;  // same size without GQA: a 65B, no raise
    CHECK(!m.is_70b());
    REQUIRE(lbq::plan(ts, m, o, &d).ok());
    for (const auto& x : d) CHECK(x.type == gguf_type::q3_K);
    m.n_expert = 8;  // 8 experts: attn_v is Q8_0 whatever the recipe
    REQUIRE(lbq::plan(ts, m, o, &d).ok());
    for (const auto& x : d) CHECK(x.type == gguf_type::q8_0);
}

TEST_CASE("quantize recipes: names and file types llama-quantize takes") {
    CHECK(lbq::find_target("Q4_K")->ftype == lbq::ftype::Q4_K_M);  // llama-quantize's aliases
    CHECK(lbq::find_target("Q3_K")->ftype == lbq::ftype::Q3_K_M);
    CHECK(lbq::find_target("Q5_K")->ftype == lbq::ftype::Q5_K_M);
    CHECK(lbq::find_target("Q2_K")->ftype == 10);
    CHECK(lbq::find_target("Q2_K_S")->ftype == 21);
    CHECK(lbq::find_target("IQ4_XS")->ftype == 30);
    CHECK(lbq::find_target("MXFP4_MOE")->ftype == 38);
    // llama.h's LLAMA_FTYPE_MOSTLY_* numbers and llama_ftype_get_default_type of the i-quant mixes.
    const struct {
        const char* name;
        std::uint32_t ftype;
        gguf_type base;
    } iq[] = {{"IQ2_XXS", 19, gguf_type::iq2_xxs}, {"IQ2_XS", 20, gguf_type::iq2_xs}, {"IQ3_XS", 22, gguf_type::iq3_s},
              {"IQ3_XXS", 23, gguf_type::iq3_xxs}, {"IQ1_S", 24, gguf_type::iq1_s},  {"IQ2_S", 28, gguf_type::iq2_xs},
              {"IQ2_M", 29, gguf_type::iq2_s},     {"IQ1_M", 31, gguf_type::iq1_m}};
    for (const auto& e : iq) {
        CAPTURE(e.name);
        REQUIRE(lbq::find_target(e.name) != nullptr);
        CHECK(lbq::find_target(e.name)->ftype == e.ftype);
        CHECK(lbq::find_target(e.name)->base == e.base);
    }
    for (const lbq::target& t : lbq::targets()) CHECK(lowbit::gguf::has_row_codec(t.base));
}

TEST_CASE("quantize recipes: fallback chain and order") {
    CHECK(lbq::fallback_of(gguf_type::iq4_xs) == gguf_type::iq4_nl);
    CHECK(lbq::fallback_of(gguf_type::iq3_s) == gguf_type::iq4_nl);  // every i-quant, as llama.cpp
    CHECK(lbq::fallback_of(gguf_type::iq1_m) == gguf_type::iq4_nl);
    CHECK(lbq::fallback_of(gguf_type::tq1_0) == gguf_type::q4_0);
    CHECK(lbq::fallback_of(gguf_type::tq2_0) == gguf_type::q4_0);
    // llama.cpp's loader order: tensors outside blk.<i> first, then by layer number (not text), then name.
    const std::vector<std::string> names = {"blk.10.attn_q.weight", "output.weight", "blk.2.ffn_up.weight",
                                            "blk.2.attn_k.weight", "token_embd.weight", "output_norm.weight"};
    std::vector<std::string> sorted;
    for (std::size_t i : lbq::llama_order(names)) sorted.push_back(names[i]);
    CHECK(sorted == std::vector<std::string>{"output.weight", "output_norm.weight", "token_embd.weight", "blk.2.attn_k.weight",
                                             "blk.2.ffn_up.weight", "blk.10.attn_q.weight"});
}
