// lowbit-quantize: the type rules as functions, and the tool end to end on a
// small fake llama model (GGUF and safetensors input), read back with lowbit.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <lowbit/core/half.hpp>
#include <lowbit/formats/codebook.hpp>
#include <lowbit/formats/gguf.hpp>
#include <lowbit/formats/gguf_blocks.hpp>
#include <lowbit/formats/weights_gguf_reader.hpp>
#include <lowbit/algo/hqq.hpp>
#include <lowbit/runtime.hpp>
#include <lowbit/weights/repack.hpp>

#include "../examples/lowbit-quantize/files.hpp"
#include "../examples/lowbit-quantize/names.hpp"
#include "../examples/lowbit-quantize/tensor_rules.hpp"
#include "test_util.hpp"
#include "tool_test_util.hpp"

namespace gg = lowbit::gguf;
using gg::gguf_type;

namespace {

// ---- rules ----------------------------------------------------------------------------

lbq::tensor_desc desc(const std::string& name, std::vector<std::uint64_t> dims) {
    lbq::tensor_desc d;
    d.name = name;
    d.n_dims = static_cast<int>(dims.size());
    for (std::size_t i = 0; i < dims.size(); ++i) d.dims[i] = dims[i];
    return d;
}

std::map<std::string, gguf_type> plan_types(const std::vector<lbq::tensor_desc>& ts, const char* type, int n_layer,
                                            std::vector<std::string> overrides = {}) {
    lbq::options o;
    o.tgt = lbq::find_target(type);
    REQUIRE(o.tgt != nullptr);
    for (const auto& s : overrides) {
        lbq::override_rule r;
        REQUIRE(lbq::parse_override(s, &r).ok());
        o.overrides.push_back(r);
    }
    lbq::model_info m;
    m.arch = "llama";
    m.n_layer = n_layer;
    std::vector<lbq::decision> d;
    REQUIRE(lbq::plan(ts, m, o, &d).ok());
    std::map<std::string, gguf_type> out;
    for (std::size_t i = 0; i < ts.size(); ++i) out[ts[i].name] = d[i].type;
    return out;
}

}  // namespace

TEST_CASE("quantize tool: llama.cpp's layer rule for the _M mixes") {
    std::vector<int> more;
    for (int i = 0; i < 8; ++i)
        if (lbq::use_more_bits(i, 8)) more.push_back(i);
    CHECK(more == std::vector<int>{0, 3, 6, 7});
    more.clear();
    for (int i = 0; i < 32; ++i)
        if (lbq::use_more_bits(i, 32)) more.push_back(i);
    CHECK(more == std::vector<int>{0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31});
}

TEST_CASE("quantize tool: which tensors stay as they are") {
    CHECK(lbq::keep_reason("blk.0.attn_norm.weight", 1, false) != nullptr);           // 1-D
    CHECK(lbq::keep_reason("blk.0.attn_k_norm.weight", 2, false) != nullptr);         // norm, even 2-D
    CHECK(lbq::keep_reason("blk.0.attn_q.bias", 2, false) != nullptr);                // not a weight
    CHECK(lbq::keep_reason("blk.0.ffn_gate_inp.weight", 2, false) != nullptr);        // MoE router
    CHECK(lbq::keep_reason("output.weight", 2, true) != nullptr);                     // --leave-output-tensor
    CHECK(lbq::keep_reason("output.weight", 2, false) == nullptr);
    CHECK(lbq::keep_reason("blk.3.ffn_down.weight", 2, false) == nullptr);
    const std::uint64_t flat[4] = {256, 1, 1, 1};
    CHECK(lbq::effective_dims(flat, 2) == 1);  // a 256x1 matrix counts as 1-D, as in ggml_n_dims
}

TEST_CASE("quantize tool: fallback table and names") {
    CHECK(lbq::fallback_of(gguf_type::q4_K) == gguf_type::q5_0);
    CHECK(lbq::fallback_of(gguf_type::q5_K) == gguf_type::q5_1);
    CHECK(lbq::fallback_of(gguf_type::q6_K) == gguf_type::q8_0);
    CHECK(lbq::fallback_of(gguf_type::q2_K) == gguf_type::q4_0);
    CHECK(lbq::fallback_of(gguf_type::q3_K) == gguf_type::q4_0);
    CHECK(lbq::fallback_of(gguf_type::q4_0) == gguf_type::f16);
    CHECK(lbq::rule_name("model.layers.7.mlp.down_proj.weight") == "blk.7.ffn_down.weight");
    CHECK(lbq::rule_name("lm_head.weight") == "output.weight");
    CHECK(lbq::rule_name("model.embed_tokens.weight") == "token_embd.weight");
    CHECK(lbq::categorize("blk.1.attn_qkv.weight") == lbq::category::attn_qkv);
    CHECK(lbq::categorize("blk.1.ffn_down_exps.weight") == lbq::category::ffn_down);
    CHECK(lbq::layer_of("blk.12.attn_v.weight") == 12);
    CHECK(!lbq::layer_of("token_embd.weight"));
    CHECK(lbq::find_target("q4_k_m") != nullptr);
    CHECK(lbq::find_target("Q4_K_M")->ftype == 15);
    CHECK(lbq::find_target("Q5_K_M")->ftype == 17);
    CHECK(lbq::find_target("Q8_0")->ftype == 7);
    CHECK(lbq::find_target("IQ2_XS")->ftype == 20);
    CHECK(lbq::find_target("IQ9_Z") == nullptr);
    lbq::override_rule r;
    // Every i-quant lowbit writes may be given by hand (ggml's names, any case).
    for (gguf_type t : {gguf_type::iq1_s, gguf_type::iq1_m, gguf_type::iq2_xxs, gguf_type::iq2_xs, gguf_type::iq2_s,
                        gguf_type::iq3_xxs, gguf_type::iq3_s, gguf_type::iq4_nl, gguf_type::iq4_xs, gguf_type::tq1_0,
                        gguf_type::tq2_0, gguf_type::mxfp4}) {
        CAPTURE(gg::type_name(t));
        REQUIRE(lbq::parse_override(std::string("attn_q=") + gg::type_name(t), &r).ok());
        CHECK(r.type == t);
    }
    CHECK(lbq::parse_override("attn_q=iq2_xxs", &r).ok());
    CHECK(!lbq::parse_override("attn_q=Q8_K", &r).ok());  // an activation type, not a weight type
    CHECK(!lbq::parse_override("attn_(q=Q8_0", &r).ok());  // bad regex: an error, not a crash
    CHECK(!lbq::parse_override("attn_q=Q9_9", &r).ok());
    CHECK(!lbq::parse_override("attn_q", &r).ok());
}

TEST_CASE("quantize tool: Q4_K_M / Q5_K_M mixes over 8 layers") {
    std::vector<lbq::tensor_desc> ts = {desc("token_embd.weight", {512, 1000}), desc("output.weight", {512, 1000}),
                                        desc("output_norm.weight", {512})};
    for (int l = 0; l < 8; ++l) {
        const std::string b = "blk." + std::to_string(l) + ".";
        ts.push_back(desc(b + "attn_q.weight", {512, 512}));
        ts.push_back(desc(b + "attn_v.weight", {512, 128}));
        ts.push_back(desc(b + "ffn_down.weight", {1024, 512}));
        ts.push_back(desc(b + "ffn_up.weight", {512, 1024}));
        ts.push_back(desc(b + "attn_norm.weight", {512}));
    }
    for (const char* mix : {"Q4_K_M", "Q5_K_M"}) {
        const gguf_type base = std::string(mix) == "Q4_K_M" ? gguf_type::q4_K : gguf_type::q5_K;
        auto t = plan_types(ts, mix, 8);
        CHECK(t["output.weight"] == gguf_type::q6_K);
        CHECK(t["token_embd.weight"] == base);
        CHECK(t["output_norm.weight"] == gguf_type::f32);
        for (int l = 0; l < 8; ++l) {
            const std::string b = "blk." + std::to_string(l) + ".";
            const gguf_type more = (l == 0 || l == 3 || l == 6 || l == 7) ? gguf_type::q6_K : base;
            CHECK(t[b + "attn_v.weight"] == more);
            CHECK(t[b + "ffn_down.weight"] == more);
            CHECK(t[b + "attn_q.weight"] == base);
            CHECK(t[b + "ffn_up.weight"] == base);
            CHECK(t[b + "attn_norm.weight"] == gguf_type::f32);
        }
    }
    // Without output.weight the token embedding is the output: Q6_K.
    ts.erase(ts.begin() + 1);
    CHECK(plan_types(ts, "Q4_K_M", 8)["token_embd.weight"] == gguf_type::q6_K);
    // --tensor-type wins over the mix; --pure-like plain type keeps everything at the base.
    auto t = plan_types(ts, "Q4_K_M", 8, {"blk\\.[0-3]\\.attn_v=Q8_0"});
    CHECK(t["blk.0.attn_v.weight"] == gguf_type::q8_0);
    // As in llama.cpp, overridden tensors do not advance the attn_v counter:
    // blk.4..7 are attn_v #0..#3, so blk.4 and blk.7 get more bits, blk.6 does not.
    CHECK(t["blk.4.attn_v.weight"] == gguf_type::q6_K);
    CHECK(t["blk.6.attn_v.weight"] == gguf_type::q4_K);
    CHECK(t["blk.7.attn_v.weight"] == gguf_type::q6_K);
    CHECK(plan_types(ts, "Q4_K", 8) == plan_types(ts, "Q4_K_M", 8));  // llama-quantize's alias
    CHECK(plan_types(ts, "Q4_K_S", 8)["blk.0.attn_v.weight"] == gguf_type::q5_K);  // attn_v #0..#3
    CHECK(plan_types(ts, "Q4_K_S", 8)["blk.4.attn_v.weight"] == gguf_type::q4_K);
    // F16 target: no output rule.
    CHECK(plan_types(ts, "F16", 8)["token_embd.weight"] == gguf_type::f16);
}

// ---- the tool end to end ---------------------------------------------------------------

namespace {

using namespace tool_test;

struct fake_tensor {
    std::string name;
    std::vector<std::uint64_t> dims;
    std::vector<float> data;
};

std::vector<fake_tensor> fake_llama() {
    std::vector<fake_tensor> ts = {
        {"token_embd.weight", {256, 64}, {}},
        {"blk.0.attn_norm.weight", {256}, {}},
        {"blk.0.attn_q.weight", {256, 512}, {}},
        {"blk.0.attn_k.weight", {96, 64}, {}},      // 96: a 32-block type fits, a K-quant does not
        {"blk.0.attn_v.weight", {256, 64}, {}},
        {"blk.0.attn_k_norm.weight", {256, 2}, {}}, // a 2-D norm: kept
        {"blk.0.ffn_down.weight", {172, 256}, {}},  // 172: no block type fits -> F16
        {"blk.0.ffn_up.weight", {256, 172}, {}},
        {"blk.0.scale_factors", {256, 4}, {}},      // not a weight: kept
        {"blk.1.attn_v.weight", {256, 64}, {}},
        {"blk.1.ffn_down.weight", {512, 256}, {}},
        {"output_norm.weight", {256}, {}},
        {"output.weight", {256, 64}, {}},
    };
    std::uint32_t seed = 1;
    for (auto& t : ts) {
        std::uint64_t n = 1;
        for (auto d : t.dims) n *= d;
        t.data = lowbit_test::llm_like(n / t.dims[0], t.dims[0], seed++);
    }
    return ts;
}

std::vector<std::uint8_t> make_gguf(const std::vector<fake_tensor>& ts) {
    gg::gguf_writer w;
    REQUIRE(w.set("general.architecture", gg::meta_value::string("llama")).ok());
    REQUIRE(w.set("general.name", gg::meta_value::string("fake llama")).ok());
    REQUIRE(w.set("llama.block_count", gg::meta_value::u32(2)).ok());
    REQUIRE(w.set("llama.rope.freq_base", gg::meta_value::f32(10000.0f)).ok());
    REQUIRE(w.set("general.file_type", gg::meta_value::u32(0)).ok());
    const std::string_view toks[] = {"<s>", "</s>", "hello"};
    REQUIRE(w.set("tokenizer.ggml.tokens", gg::meta_value::array_of_strings(lowbit::span<const std::string_view>(toks, 3))).ok());
    const std::int32_t ids[] = {1, -2, 3};
    REQUIRE(w.set("tokenizer.ggml.token_type", gg::meta_value::array_of(lowbit::span<const std::int32_t>(ids, 3))).ok());
    for (const auto& t : ts)
        REQUIRE(w.add_tensor(t.name, gguf_type::f32, lowbit::span<const std::uint64_t>(t.dims.data(), t.dims.size())).ok());
    std::vector<std::uint8_t> out;
    REQUIRE(w.write_header(gg::byte_sink::to_vector(out)).ok());
    for (const auto& t : ts)
        REQUIRE(w.write_tensor_data(lowbit::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(t.data.data()),
                                                                     t.data.size() * 4))
                    .ok());
    REQUIRE(w.finish().ok());
    return out;
}

// Every converted tensor must hold exactly what lowbit::gguf::quantize makes of the input rows.
void check_tensor_bytes(const gg::tensor_info& out, const std::vector<float>& x, std::uint64_t k) {
    const std::uint64_t rows = x.size() / k;
    std::vector<std::uint8_t> want(static_cast<std::size_t>(gg::row_size(out.type, static_cast<std::int64_t>(k)) * rows));
    REQUIRE(gg::quantize(out.type, x.data(), want.data(), static_cast<std::int64_t>(rows), static_cast<std::int64_t>(k), nullptr).ok());
    REQUIRE(out.data.size() == want.size());
    CHECK(std::memcmp(out.data.data(), want.data(), want.size()) == 0);
}

}  // namespace

TEST_CASE("quantize tool: GGUF in, GGUF out, llama.cpp's rules, byte-exact blocks") {
    tmpdir d;
    const auto ts = fake_llama();
    const auto in_bytes = make_gguf(ts);
    write_file(d / "in.gguf", in_bytes);
    auto in = gg::gguf_file::parse(in_bytes);
    REQUIRE(in);

    struct expect {
        const char* type;
        std::uint32_t ftype;
        std::map<std::string, gguf_type> types;  // tensors not listed: the base type
        gguf_type base;
    };
    const gguf_type F32 = gguf_type::f32, F16 = gguf_type::f16;
    const std::map<std::string, gguf_type> kept = {{"blk.0.attn_norm.weight", F32}, {"blk.0.attn_k_norm.weight", F32},
                                                   {"blk.0.scale_factors", F32},    {"output_norm.weight", F32},
                                                   {"blk.0.ffn_down.weight", F16}};
    auto with = [&](std::map<std::string, gguf_type> m) {
        m.insert(kept.begin(), kept.end());
        return m;
    };
    const expect cases[] = {
        {"Q4_0", 2, with({{"output.weight", gguf_type::q6_K}}), gguf_type::q4_0},
        {"Q8_0", 7, with({}), gguf_type::q8_0},
        {"Q4_K_S", 14,
         with({{"output.weight", gguf_type::q6_K},
               {"blk.0.attn_k.weight", gguf_type::q5_0},
               {"blk.0.attn_v.weight", gguf_type::q5_K},     // attn_v #0..#3 get Q5_K
               {"blk.1.attn_v.weight", gguf_type::q5_K}}),
         gguf_type::q4_K},
        {"Q4_K_M", 15,
         with({{"output.weight", gguf_type::q6_K},
               {"blk.0.attn_k.weight", gguf_type::q5_0},
               {"blk.1.attn_v.weight", gguf_type::q6_K},     // use_more_bits(1, 2)
               {"blk.1.ffn_down.weight", gguf_type::q6_K}}),
         gguf_type::q4_K},
    };
    for (const expect& e : cases) {
        CAPTURE(e.type);
        const std::string out_path = d / (std::string("out-") + e.type + ".gguf");
        std::string log;
        REQUIRE(run_tool(d, "'" + (d / "in.gguf") + "' '" + out_path + "' --type " + e.type + " --threads 2", &log) == 0);
        INFO(log);
        CHECK(log.find("blk.0.ffn_down.weight") != std::string::npos);
        CHECK(log.find("fallback: row length 172") != std::string::npos);
        const auto out_bytes = read_file(out_path);
        auto out = gg::gguf_file::parse(out_bytes);
        REQUIRE(out);
        CHECK(out->version() == 3);
        // Metadata: every input key, same encoding, except the two llama.cpp sets.
        for (std::size_t i = 0; i < in->kv_count(); ++i) {
            const auto kv = in->kv(i);
            if (kv.key == "general.file_type") continue;
            const auto v = out->find_kv(kv.key);
            REQUIRE(v);
            CHECK(gg::meta_value::copy_of(*v).encoded() == gg::meta_value::copy_of(kv.value).encoded());
        }
        CHECK(*out->get_uint("general.file_type") == e.ftype);
        CHECK(*out->get_uint("general.quantization_version") == 2);
        // As llama-quantize writes them: the input's keys in order, then these two, moved to the end.
        REQUIRE(out->kv_count() == in->kv_count() + 1);
        CHECK(out->kv(out->kv_count() - 2).key == "general.quantization_version");
        CHECK(out->kv(out->kv_count() - 1).key == "general.file_type");
        REQUIRE(out->tensors().size() == ts.size());
        // llama-quantize's order: tensors outside blk.<i> first, then by layer, then by name.
        std::vector<std::string> names, want_order;
        for (const auto& src : ts) names.push_back(src.name);
        for (std::size_t i : lbq::llama_order(names)) want_order.push_back(names[i]);
        for (std::size_t i = 0; i < ts.size(); ++i) CHECK(std::string(out->tensors()[i].name) == want_order[i]);
        CHECK(want_order.front() == "output.weight");
        for (std::size_t i = 0; i < ts.size(); ++i) {
            const auto& src = ts[i];
            REQUIRE(out->find_tensor(src.name));
            const gg::tensor_info& t = *out->find_tensor(src.name);
            CAPTURE(src.name);
            CHECK(t.n_dims == src.dims.size());
            for (std::size_t k = 0; k < src.dims.size(); ++k) CHECK(t.dims[k] == src.dims[k]);
            const auto it = e.types.find(src.name);
            const gguf_type want = it != e.types.end() ? it->second : e.base;
            CHECK(gg::type_name(t.type) == std::string(gg::type_name(want)));
            if (t.type == want) check_tensor_bytes(t, src.data, src.dims[0]);
        }
    }
}

TEST_CASE("quantize tool: --tensor-type overrides and the summary table") {
    tmpdir d;
    const auto ts = fake_llama();
    write_file(d / "in.gguf", make_gguf(ts));
    std::string log;
    REQUIRE(run_tool(d, "'" + (d / "in.gguf") + "' '" + (d / "out.gguf") +
                            "' --type Q4_K --tensor-type 'attn_q=Q8_0' --tensor-type 'blk\\.1\\.=q5_k' --threads 1",
                     &log) == 0);
    INFO(log);
    const auto b = read_file(d / "out.gguf");
    auto f = gg::gguf_file::parse(b);
    REQUIRE(f);
    CHECK(f->find_tensor("blk.0.attn_q.weight")->type == gguf_type::q8_0);
    CHECK(f->find_tensor("blk.1.attn_v.weight")->type == gguf_type::q5_K);
    CHECK(f->find_tensor("blk.1.ffn_down.weight")->type == gguf_type::q5_K);
    CHECK(f->find_tensor("blk.0.attn_v.weight")->type == gguf_type::q4_K);
    CHECK(log.find("SQNR") != std::string::npos);
    CHECK(log.find("Q8_0") != std::string::npos);
    // A bad regex is a usage error, not a crash, and writes nothing.
    CHECK(run_tool(d, "'" + (d / "in.gguf") + "' '" + (d / "bad.gguf") + "' --type Q4_K --tensor-type 'attn_(q=Q8_0'", &log) == 2);
    CHECK(log.find("bad regex") != std::string::npos);
    CHECK(!exists(d / "bad.gguf"));
}

// ---- lowbit schemes as types (lowbit_types.hpp) -------------------------------------------

namespace {

// W as f32 from lowbit weights in any layout: tiled through dense, then the
// run-time dequantize of an any_qmatrix holding a copy of the dense arrays.
std::vector<float> dequantized(const lowbit::weights_view& w) {
    auto dense = lowbit::repack(w, lowbit::layout::dense);
    REQUIRE_MESSAGE(dense.ok(), std::string(dense.error().message()));
    const lowbit::weights_view v = dense->view();
    lowbit::any_qmatrix q;
    q.scheme = v.scheme();
    auto l = lowbit::qlayout::make(v.scheme(), v.rows(), v.cols());
    REQUIRE(l.ok());
    REQUIRE(l->row_bytes == v.row_bytes());
    q.storage.layout = *l;
    q.storage.codes.assign(v.codes(), v.codes() + v.code_bytes());
    if (v.scheme().scale == lowbit::scale_type::f32) {
        q.storage.scales_f32.resize(v.scale_count());
        std::memcpy(q.storage.scales_f32.data(), v.scales(), v.scale_bytes());
    } else {
        q.storage.scales_16.resize(v.scale_count());
        std::memcpy(q.storage.scales_16.data(), v.scales(), v.scale_bytes());
    }
    if (v.zeros()) q.storage.zeros.assign(v.zeros(), v.zeros() + v.zero_bytes());
    if (v.perm()) q.storage.perm.assign(v.perm(), v.perm() + v.cols());
    std::vector<float> out(v.rows() * v.cols());
    REQUIRE(lowbit::dequantize(q, lowbit::matrix_view<float>(out.data(), v.rows(), v.cols())).ok());
    return out;
}

std::vector<float> dequantized(const lowbit::any_qmatrix& q) {
    std::vector<float> out(q.rows() * q.cols());
    REQUIRE(lowbit::dequantize(q, lowbit::matrix_view<float>(out.data(), q.rows(), q.cols())).ok());
    return out;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

// The tool on d/in.gguf with `plan` and --dry-run: it must write nothing and
// name the size of the file that the same plan wrote, to the byte. Returns its output.
std::string dry_run(const tmpdir& d, const std::string& plan, std::size_t file_bytes) {
    std::string dry;
    REQUIRE_MESSAGE(run_tool(d, "'" + (d / "in.gguf") + "' '" + (d / "dry.gguf") + "'" + plan + " --dry-run", &dry) == 0, dry);
    CHECK(dry.find("file: " + std::to_string(file_bytes) + " bytes") != std::string::npos);
    CHECK(!exists(d / "dry.gguf"));
    return dry;
}

TEST_CASE("quantize tool: lowbit schemes as types, mixed per tensor with ggml types, bit for bit") {
    const auto ts = fake_llama();
    std::string log;
    tmpdir d;
    write_file(d / "in.gguf", make_gguf(ts));
    const std::string plan = " --type w4g128 --tensor-type 'blk\\.1\\.attn_v=w3g32a-bf16' --tensor-type 'attn_v=Q8_0'"
                             " --tensor-type ffn_down=w8pc --tensor-type attn_k=w5pt-f32 --threads 2";
    REQUIRE_MESSAGE(run_tool(d, "'" + (d / "in.gguf") + "' '" + (d / "out.gguf") + "'" + plan, &log) == 0, log);
    INFO(log);
    CHECK(log.find("w4g128") != std::string::npos);  // the summary names the schemes
    CHECK(log.find("w8pc") != std::string::npos);
    const aligned_file bytes(d / "out.gguf");
    auto r = lowbit::weights_gguf_reader::open(lowbit::span<const std::uint8_t>(bytes.data, bytes.size));
    REQUIRE_MESSAGE(r.ok(), std::string(r.error().message()));
    // --dry-run: the same plan's file size to the byte, and each lowbit tensor's stored bytes.
    const std::string dry = dry_run(d, plan, bytes.size);
    CHECK(std::regex_search(dry, std::regex("blk\\.0\\.attn_q\\.weight +w4g128 +256x512 +" +
                                            std::to_string(r->find("blk.0.attn_q.weight")->bytes()) + " ")));
    const gg::gguf_file& f = r->file();
    CHECK(!f.find_kv("general.file_type"));  // no llama.cpp file type describes lowbit weights
    CHECK(*f.get_string("general.name") == "fake llama");
    const std::map<std::string, std::string> lowbit_want = {
        {"blk.0.attn_q.weight", "w4g128"},  {"blk.0.attn_k.weight", "w5pt-f32"}, {"blk.0.ffn_down.weight", "w8pc"},
        {"blk.0.ffn_up.weight", "w4g128"},  {"blk.1.attn_v.weight", "w3g32a-bf16"}, {"blk.1.ffn_down.weight", "w8pc"}};
    const std::map<std::string, gguf_type> ggml_want = {
        {"token_embd.weight", gguf_type::q6_K}, {"output.weight", gguf_type::q6_K}, {"blk.0.attn_v.weight", gguf_type::q8_0}};
    CHECK(r->lowbit_count() == lowbit_want.size());
    for (const auto& src : ts) {
        CAPTURE(src.name);
        const auto lw = lowbit_want.find(src.name);
        if (lw == lowbit_want.end()) {
            const gg::tensor_info* t = f.find_tensor(src.name);
            REQUIRE(t != nullptr);
            const auto gw = ggml_want.find(src.name);
            const gguf_type want = gw != ggml_want.end() ? gw->second : gguf_type::f32;  // norms and non-weights kept
            CHECK(gg::type_name(t->type) == std::string(gg::type_name(want)));
            if (gw != ggml_want.end()) check_tensor_bytes(*t, src.data, src.dims[0]);
            continue;
        }
        REQUIRE(r->is_lowbit(src.name));
        const lowbit::weights_view v = *r->find(src.name);
        char name[48];
        v.scheme().name(name, sizeof name);
        CHECK(std::string(name) == lw->second);
        const std::size_t cols = static_cast<std::size_t>(src.dims[0]), rows = src.data.size() / cols;
        CHECK(v.rows() == rows);
        CHECK(v.cols() == cols);
        // The layout the kernels run where it holds the groups (a multiple of 32, or the whole row).
        CHECK(v.lay() == lowbit::layout::tiled);
        auto q = lowbit::quantize(v.scheme(), lowbit::matrix_view<const float>(src.data.data(), rows, cols));
        REQUIRE(q.ok());
        CHECK(same_bits(dequantized(v), dequantized(*q)));
    }

    // --method hqq: asymmetric schemes, HQQ's zero points, bit for bit too; a group
    // the tiled layout cannot walk (48) is stored dense.
    REQUIRE_MESSAGE(run_tool(d, "'" + (d / "in.gguf") + "' '" + (d / "hqq.gguf") + "' --type w4g64a --method hqq --tensor-type ffn_up=w2g48a", &log) == 0,
                    log);
    const aligned_file hb(d / "hqq.gguf");
    auto h = lowbit::weights_gguf_reader::open(lowbit::span<const std::uint8_t>(hb.data, hb.size));
    REQUIRE_MESSAGE(h.ok(), std::string(h.error().message()));
    for (const char* n : {"blk.0.attn_q.weight", "blk.0.ffn_up.weight"}) {
        CAPTURE(n);
        const auto& src = *std::find_if(ts.begin(), ts.end(), [&](const fake_tensor& t) { return t.name == n; });
        const lowbit::weights_view v = *h->find(n);
        CHECK(v.lay() == (std::string(n) == "blk.0.ffn_up.weight" ? lowbit::layout::dense : lowbit::layout::tiled));
        const std::size_t cols = static_cast<std::size_t>(src.dims[0]), rows = src.data.size() / cols;
        auto q = lowbit::hqq_quantize(v.scheme(), lowbit::matrix_view<const float>(src.data.data(), rows, cols));
        REQUIRE(q.ok());
        CHECK(same_bits(dequantized(v), dequantized(q->q)));
    }
}

TEST_CASE("quantize tool: codebook types (cb4 learned, cb3-nf) are written as codebook weights, bit for bit") {
    const auto ts = fake_llama();
    std::string log;
    tmpdir d;
    write_file(d / "in.gguf", make_gguf(ts));
    const std::string plan = " --type cb4 --tensor-type 'blk\\.1\\.ffn_down=cb3-nf' --tensor-type attn_v=Q8_0 --threads 2";
    REQUIRE_MESSAGE(run_tool(d, "'" + (d / "in.gguf") + "' '" + (d / "out.gguf") + "'" + plan, &log) == 0, log);
    INFO(log);
    CHECK(log.find("cb3-nf") != std::string::npos);  // the summary names the types
    CHECK(log.find("fallback: row length 172 is not a multiple of 32 (cb4) -> F16") != std::string::npos);
    const aligned_file bytes(d / "out.gguf");
    auto r = lowbit::weights_gguf_reader::open(lowbit::span<const std::uint8_t>(bytes.data, bytes.size));
    REQUIRE_MESSAGE(r.ok(), std::string(r.error().message()));
    // --dry-run: the same file size to the byte; a codebook tensor's bytes count its grid.
    const std::string dry = dry_run(d, plan, bytes.size);
    CHECK(std::regex_search(dry, std::regex("blk\\.0\\.attn_q\\.weight +cb4 +256x512 +" +
                                            std::to_string(r->find("blk.0.attn_q.weight")->bytes() + 16) + " ")));
    const std::map<std::string, int> want = {{"blk.0.attn_q.weight", 4}, {"blk.0.attn_k.weight", 4}, {"blk.0.ffn_up.weight", 4},
                                             {"blk.1.ffn_down.weight", 3}};
    CHECK(r->lowbit_count() == want.size());
    CHECK(r->file().find_tensor("blk.0.ffn_down.weight")->type == gguf_type::f16);  // 172-long rows
    CHECK(r->file().find_tensor("blk.0.attn_v.weight")->type == gguf_type::q8_0);
    for (const auto& src : ts) {
        const auto it = want.find(src.name);
        if (it == want.end()) continue;
        CAPTURE(src.name);
        const lowbit::weights_view v = *r->find(src.name);
        REQUIRE(v.lay() == lowbit::layout::codebook);
        CHECK(v.scheme().bits == it->second);
        const std::size_t cols = static_cast<std::size_t>(src.dims[0]), rows = src.data.size() / cols;
        const lowbit::matrix_view<const float> x(src.data.data(), rows, cols);
        // cb4: the grid k-means learns from the tensor; cb3-nf: NF3.
        lowbit::codebook::grid g = lowbit::codebook::nf_grid(it->second);
        if (it->second == 4) {
            auto l = lowbit::codebook::learn_grid(x, 4);
            REQUIRE(l.ok());
            g = *l;
        }
        CHECK(std::memcmp(v.grid(), g.levels, 16) == 0);
        auto q = lowbit::codebook::quantize(x, g);
        REQUIRE(q.ok());
        REQUIRE(v.code_bytes() == q->view().code_bytes());
        CHECK(std::memcmp(v.codes(), q->view().codes(), v.code_bytes()) == 0);
    }
}

TEST_CASE("quantize tool: bad lowbit types and plans are one clear line, exit 2, nothing written") {
    tmpdir d;
    write_file(d / "in.gguf", make_gguf(fake_llama()));
    const std::string io = "'" + (d / "in.gguf") + "' '" + (d / "out.gguf") + "' ";
    struct bad {
        const char* args;
        const char* says;
    };
    const bad cases[] = {
        {"--type w9g128", "bits must be 1..8"},
        {"--type w0g32", "bits must be 1..8"},
        {"--type w4g0", "group size out of range"},
        {"--type w4g", "group size missing"},
        {"--type w4g128x", "unexpected \"x\""},
        {"--type w4g128-f8", "unknown scale type"},
        {"--type Q4_K --tensor-type attn_q=w9", "--tensor-type: scheme \"w9\": bits must be 1..8"},
        {"--type w4g128 --tensor-type token_embd=w4g128", "tensor 'token_embd.weight' takes a ggml type"},
        {"--type w4g128 --method hqq", "HQQ optimises zero points"},
        {"--type Q4_K --method hqq", "--method hqq quantizes lowbit schemes"},
        {"--type w4g128 --output-tensor-type w8pc", "unknown tensor type 'w8pc'"},
        {"--type cb5", "expected cb4, cb3, cb4-nf or cb3-nf"},
        {"--type Q4_K --tensor-type attn_q=cb4-nf4", "expected cb4, cb3, cb4-nf or cb3-nf"},
        {"--type cb4 --method hqq", "codebook types take --method rtn, imatrix or gptq"},
    };
    for (const bad& b : cases) {
        CAPTURE(b.args);
        std::string log;
        CHECK(run_tool(d, io + b.args, &log) == 2);
        CHECK(log.find(b.says) != std::string::npos);
        CHECK(std::count(log.begin(), log.end(), '\n') == 1);
        CHECK(!exists(d / "out.gguf"));
    }
    // A NaN in a tensor given a lowbit scheme: refused (exit 2), naming the tensor and the place.
    auto ts = fake_llama();
    ts[2].data[1000] = std::nanf("");
    write_file(d / "nan.gguf", make_gguf(ts));
    std::string log;
    CHECK(run_tool(d, "'" + (d / "nan.gguf") + "' '" + (d / "out.gguf") + "' --type w4g128", &log) == 2);
    CHECK(log.find("tensor 'blk.0.attn_q.weight': value at row 3, column 232 is not finite") != std::string::npos);
    CHECK(!exists(d / "out.gguf"));
}

TEST_CASE("quantize tool: bad input gives an error naming the file and leaves no output") {
    tmpdir d;
    const auto good = make_gguf(fake_llama());
    std::string log;
    auto no_output_left = [&] {
        CHECK(!exists(d / "out.gguf"));
        const std::string ls = d / "ls.txt";
        std::system(("ls '" + d.path + "' > '" + ls + "'").c_str());
        std::ifstream f(ls);
        std::stringstream ss;
        ss << f.rdbuf();
        CHECK(ss.str().find(".tmp-") == std::string::npos);
    };
    // Truncated in the data section, in the header, and garbage.
    for (std::size_t keep : {good.size() - 1000, std::size_t(100), std::size_t(3)}) {
        CAPTURE(keep);
        write_file(d / "bad.gguf", std::vector<std::uint8_t>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(keep)));
        CHECK(run_tool(d, "'" + (d / "bad.gguf") + "' '" + (d / "out.gguf") + "' --type Q4_K", &log) == 1);
        CHECK(log.find("bad.gguf") != std::string::npos);
        no_output_left();
    }
    write_file(d / "junk.bin", std::vector<std::uint8_t>(4096, 0x5a));
    CHECK(run_tool(d, "'" + (d / "junk.bin") + "' '" + (d / "out.gguf") + "' --type Q4_K", &log) == 1);
    CHECK(log.find("junk.bin") != std::string::npos);
    no_output_left();
    CHECK(run_tool(d, "'" + (d / "missing.gguf") + "' '" + (d / "out.gguf") + "' --type Q4_K", &log) == 1);
    CHECK(log.find("missing.gguf") != std::string::npos);
    // A NaN in a weight is refused (exit 2), naming the tensor and the value's place.
    auto ts = fake_llama();
    ts[2].data[1000] = std::nanf("");
    write_file(d / "nan.gguf", make_gguf(ts));
    CHECK(run_tool(d, "'" + (d / "nan.gguf") + "' '" + (d / "out.gguf") + "' --type Q4_K", &log) == 2);
    CHECK(log.find("tensor 'blk.0.attn_q.weight': value 1000 (row 3, column 232) is NaN") != std::string::npos);
    no_output_left();
    // Usage errors.
    CHECK(run_tool(d, "'" + (d / "nan.gguf") + "' '" + (d / "out.gguf") + "' --type Q9_Z", &log) == 2);
    CHECK(run_tool(d, "'" + (d / "nan.gguf") + "'", &log) == 2);
    no_output_left();
}

TEST_CASE("quantize tool: safetensors input (F16, BF16, F32), metadata kept under a prefix") {
    tmpdir d;
    // Two weights named like a Hugging Face llama, one norm.
    const std::uint64_t n = 64, k = 256;
    const auto w0 = lowbit_test::llm_like(n, k, 7), w1 = lowbit_test::llm_like(n, k, 8), nrm = lowbit_test::gaussian(k, 9);
    std::vector<std::uint8_t> data;
    std::vector<float> x0(w0.size()), x1(w1.size());  // what the tool sees after the F16/BF16 decode
    for (std::size_t i = 0; i < w0.size(); ++i) {
        const std::uint16_t h = lowbit::f32_to_f16(w0[i]);
        x0[i] = lowbit::f16_to_f32(h);
        data.push_back(static_cast<std::uint8_t>(h));
        data.push_back(static_cast<std::uint8_t>(h >> 8));
    }
    for (std::size_t i = 0; i < w1.size(); ++i) {
        const std::uint16_t h = lowbit::f32_to_bf16(w1[i]);
        x1[i] = lowbit::bf16_to_f32(h);
        data.push_back(static_cast<std::uint8_t>(h));
        data.push_back(static_cast<std::uint8_t>(h >> 8));
    }
    const std::size_t norm_at = data.size();
    data.resize(norm_at + nrm.size() * 4);
    std::memcpy(data.data() + norm_at, nrm.data(), nrm.size() * 4);
    const std::size_t a = n * k * 2;
    std::string header = "{\"__metadata__\":{\"format\":\"pt\",\"source\":\"unit test\"},"
                         "\"model.layers.0.self_attn.q_proj.weight\":{\"dtype\":\"F16\",\"shape\":[64,256],\"data_offsets\":[0," +
                         std::to_string(a) + "]},\"lm_head.weight\":{\"dtype\":\"BF16\",\"shape\":[64,256],\"data_offsets\":[" +
                         std::to_string(a) + "," + std::to_string(2 * a) + "]},\"model.norm.weight\":{\"dtype\":\"F32\",\"shape\":[256],"
                         "\"data_offsets\":[" + std::to_string(2 * a) + "," + std::to_string(data.size()) + "]}}";
    while (header.size() % 8) header += ' ';
    header += ' ';  // safetensors does not align data: make every tensor start at an odd byte
    std::vector<std::uint8_t> file(8);
    for (int i = 0; i < 8; ++i) file[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(header.size()) >> (8 * i));
    file.insert(file.end(), header.begin(), header.end());
    file.insert(file.end(), data.begin(), data.end());
    write_file(d / "model.safetensors", file);

    std::string log;
    REQUIRE(run_tool(d, "'" + (d / "model.safetensors") + "' '" + (d / "out.gguf") + "' --type Q4_K_M", &log) == 0);
    INFO(log);
    const auto b = read_file(d / "out.gguf");
    auto f = gg::gguf_file::parse(b);
    REQUIRE(f);
    CHECK(*f->get_string("safetensors.metadata.format") == "pt");
    CHECK(*f->get_string("safetensors.metadata.source") == "unit test");
    CHECK(*f->get_uint("general.file_type") == 15);
    const gg::tensor_info* q = f->find_tensor("model.layers.0.self_attn.q_proj.weight");
    const gg::tensor_info* o = f->find_tensor("lm_head.weight");
    const gg::tensor_info* nm = f->find_tensor("model.norm.weight");
    REQUIRE((q && o && nm));
    CHECK(q->dims[0] == k);  // GGUF order: the row length first
    CHECK(q->dims[1] == n);
    CHECK(q->type == gguf_type::q4_K);
    CHECK(o->type == gguf_type::q6_K);  // lm_head is the output tensor
    CHECK(nm->type == gguf_type::f32);
    check_tensor_bytes(*q, x0, k);
    check_tensor_bytes(*o, x1, k);
    CHECK(std::memcmp(nm->data.data(), nrm.data(), nrm.size() * 4) == 0);
}

TEST_CASE("quantize tool: --imatrix in llama.cpp's GGUF and legacy .dat formats") {
    tmpdir d;
    const auto ts = fake_llama();
    write_file(d / "in.gguf", make_gguf(ts));
    const fake_tensor& q = ts[2];  // blk.0.attn_q.weight, rows of 256
    REQUIRE(q.name == "blk.0.attn_q.weight");
    const std::uint64_t k = q.dims[0];
    std::vector<float> sums(k);
    for (std::uint64_t i = 0; i < k; ++i) sums[i] = 4.0f * (1.0f + static_cast<float>((i * 37) % 11));
    const float count = 4.0f;
    std::vector<float> weights(k);  // what llama.cpp hands the quantizer: sum / count
    for (std::uint64_t i = 0; i < k; ++i) weights[i] = sums[i] / count;

    // GGUF: <name>.in_sum2 and <name>.counts.
    {
        gg::gguf_writer w;
        REQUIRE(w.set("general.type", gg::meta_value::string("imatrix")).ok());
        // llama-imatrix's bookkeeping; llama-quantize copies the first dataset (cut at 127 bytes) and the chunk count.
        const std::string long_name = "texts/" + std::string(200, 'x') + ".txt";
        const std::string_view sets[] = {long_name, "other.txt"};
        REQUIRE(w.set("imatrix.datasets", gg::meta_value::array_of_strings(lowbit::span<const std::string_view>(sets, 2))).ok());
        REQUIRE(w.set("imatrix.chunk_count", gg::meta_value::u32(12)).ok());
        REQUIRE(w.set("imatrix.chunk_size", gg::meta_value::u32(512)).ok());
        REQUIRE(w.add_tensor(q.name + ".in_sum2", gguf_type::f32, {k, 1}).ok());
        REQUIRE(w.add_tensor(q.name + ".counts", gguf_type::f32, {1, 1}).ok());
        std::vector<std::uint8_t> b;
        REQUIRE(w.write_header(gg::byte_sink::to_vector(b)).ok());
        REQUIRE(w.write_tensor_data(lowbit::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(sums.data()), k * 4)).ok());
        REQUIRE(w.write_tensor_data(lowbit::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(&count), 4)).ok());
        REQUIRE(w.finish().ok());
        write_file(d / "imatrix.gguf", b);
    }
    // Legacy: n_entries, then name length, name, ncall, n_values, values.
    {
        std::vector<std::uint8_t> b;
        auto put = [&](const void* p, std::size_t n) { b.insert(b.end(), static_cast<const std::uint8_t*>(p), static_cast<const std::uint8_t*>(p) + n); };
        const std::int32_t one = 1, len = static_cast<std::int32_t>(q.name.size()), ncall = 4, nval = static_cast<std::int32_t>(k);
        put(&one, 4);
        put(&len, 4);
        put(q.name.data(), q.name.size());
        put(&ncall, 4);
        put(&nval, 4);
        put(sums.data(), k * 4);
        write_file(d / "imatrix.dat", b);
    }
    std::vector<std::uint8_t> want(static_cast<std::size_t>(gg::row_size(gguf_type::q4_K, static_cast<std::int64_t>(k)) * (q.data.size() / k)));
    REQUIRE(gg::quantize(gguf_type::q4_K, q.data.data(), want.data(), static_cast<std::int64_t>(q.data.size() / k),
                         static_cast<std::int64_t>(k), weights.data())
                .ok());
    std::vector<std::uint8_t> plain(want.size());
    REQUIRE(gg::quantize(gguf_type::q4_K, q.data.data(), plain.data(), static_cast<std::int64_t>(q.data.size() / k),
                         static_cast<std::int64_t>(k), nullptr)
                .ok());
    REQUIRE(want != plain);  // the weights matter, so the check below means something
    for (const char* file : {"imatrix.gguf", "imatrix.dat"}) {
        CAPTURE(file);
        std::string log;
        REQUIRE(run_tool(d, "'" + (d / "in.gguf") + "' '" + (d / "out.gguf") + "' --type Q4_K --imatrix '" + (d / file) + "'", &log) == 0);
        INFO(log);
        const auto b = read_file(d / "out.gguf");
        auto f = gg::gguf_file::parse(b);
        REQUIRE(f);
        const gg::tensor_info* t = f->find_tensor(q.name);
        REQUIRE(t);
        REQUIRE(t->data.size() == want.size());
        CHECK(std::memcmp(t->data.data(), want.data(), want.size()) == 0);
        CHECK(*f->get_uint("quantize.imatrix.entries_count") == 1);  // u32, as llama-quantize writes it
        if (std::string(file) == "imatrix.gguf") {
            CHECK(*f->get_string("quantize.imatrix.dataset") == "texts/" + std::string(121, 'x'));
            CHECK(*f->get<std::uint32_t>("quantize.imatrix.chunks_count") == 12);
        } else {  // a .dat without the trailer names neither
            CHECK(!f->find_kv("quantize.imatrix.dataset"));
            CHECK(!f->find_kv("quantize.imatrix.chunks_count"));
        }
    }
    // An imatrix entry of the wrong length is an error naming the imatrix file.
    {
        std::vector<std::uint8_t> b = read_file(d / "imatrix.dat");
        b.resize(b.size() - 8);
        const std::int32_t nval = static_cast<std::int32_t>(k - 2);
        std::memcpy(b.data() + 4 + 4 + q.name.size() + 4, &nval, 4);
        write_file(d / "short.dat", b);
        std::string log;
        CHECK(run_tool(d, "'" + (d / "in.gguf") + "' '" + (d / "out2.gguf") + "' --type Q4_K --imatrix '" + (d / "short.dat") + "'", &log) == 1);
        CHECK(log.find("short.dat") != std::string::npos);
        CHECK(!exists(d / "out2.gguf"));
    }
}

TEST_CASE("quantize tool: NaN and Inf are refused in every path, not only in quantized tensors") {
    tmpdir d;
    const float inf = std::numeric_limits<float>::infinity();
    struct where {
        const char* tensor;  // in fake_llama()
        std::size_t index;
        float value;
        const char* message;  // what the log must say
    };
    const where cases[] = {
        // 172-wide rows: no block type fits, the tensor falls back to F16 (it was written with exit 0).
        {"blk.0.ffn_down.weight", 172 * 5 + 7, std::nanf(""), "tensor 'blk.0.ffn_down.weight': value 867 (row 5, column 7) is NaN"},
        {"blk.0.ffn_down.weight", 0, -inf, "tensor 'blk.0.ffn_down.weight': value 0 (row 0, column 0) is -Inf"},
        // Kept as F32 by the rules (1-D norm; a 2-D norm): copied, and checked.
        {"blk.0.attn_norm.weight", 255, inf, "tensor 'blk.0.attn_norm.weight': value 255 (row 0, column 255) is +Inf"},
        {"blk.0.attn_k_norm.weight", 256 + 1, std::nanf(""), "tensor 'blk.0.attn_k_norm.weight': value 257 (row 1, column 1) is NaN"},
        // 96-wide rows: Q4_K falls back to Q5_0 (quantized).
        {"blk.0.attn_k.weight", 95, inf, "tensor 'blk.0.attn_k.weight': value 95 (row 0, column 95) is +Inf"},
    };
    for (const where& w : cases) {
        CAPTURE(w.tensor);
        auto ts = fake_llama();
        for (auto& t : ts)
            if (t.name == w.tensor) t.data[w.index] = w.value;
        write_file(d / "bad.gguf", make_gguf(ts));
        write_file(d / "out.gguf", std::string("old"));  // an existing OUT stays as it was
        for (const char* type : {"Q4_K", "F16"}) {
            CAPTURE(type);
            std::string log;
            CHECK(run_tool(d, "'" + (d / "bad.gguf") + "' '" + (d / "out.gguf") + "' --quiet --type " + type, &log) == 2);
            CHECK(log.find(w.message) != std::string::npos);
            CHECK(std::count(log.begin(), log.end(), '\n') == 1);  // --quiet: the one error line
            CHECK(read_file(d / "out.gguf") == std::vector<std::uint8_t>{'o', 'l', 'd'});
        }
    }
}

TEST_CASE("quantize tool: NaN in tensors copied as they are (block types, F64) is refused too") {
    tmpdir d;
    std::string log;
    // A Q8_0 tensor whose block scale is an f16 NaN; --type Q8_0 copies it unchanged.
    {
        gg::gguf_writer w;
        REQUIRE(w.add_tensor("blk.0.attn_q.weight", gguf_type::q8_0, {32, 2}).ok());
        std::vector<std::uint8_t> b;
        REQUIRE(w.write_header(gg::byte_sink::to_vector(b)).ok());
        std::vector<std::uint8_t> blocks(2 * 34, 1);
        blocks[0] = 0x00, blocks[1] = 0x3c;        // row 0: scale 1.0
        blocks[34] = 0x00, blocks[35] = 0x7e;      // row 1: scale NaN
        REQUIRE(w.write_tensor_data(lowbit::span<const std::uint8_t>(blocks.data(), blocks.size())).ok());
        REQUIRE(w.finish().ok());
        write_file(d / "q8.gguf", b);
    }
    CHECK(run_tool(d, "'" + (d / "q8.gguf") + "' '" + (d / "out.gguf") + "' --quiet --type Q8_0", &log) == 2);
    CHECK(log.find("tensor 'blk.0.attn_q.weight': value 32 (row 1, column 0) is NaN") != std::string::npos);
    CHECK(!exists(d / "out.gguf"));
    // A 1-D safetensors F64 tensor (kept, copied unchanged) with a NaN at [5].
    {
        std::vector<double> v(8, 0.5);
        v[5] = std::nan("");
        std::string header = "{\"x.weight\":{\"dtype\":\"F64\",\"shape\":[8],\"data_offsets\":[0,64]}}";
        while (header.size() % 8) header += ' ';
        std::vector<std::uint8_t> f;
        for (int i = 0; i < 8; ++i) f.push_back(static_cast<std::uint8_t>(static_cast<std::uint64_t>(header.size()) >> (8 * i)));
        for (char c : header) f.push_back(static_cast<std::uint8_t>(c));
        const auto* p = reinterpret_cast<const std::uint8_t*>(v.data());
        f.insert(f.end(), p, p + 64);
        write_file(d / "f64.safetensors", f);
    }
    CHECK(run_tool(d, "'" + (d / "f64.safetensors") + "' '" + (d / "out.gguf") + "' --quiet --type Q8_0", &log) == 2);
    CHECK(log.find("tensor 'x.weight': value 5 (row 0, column 5) is NaN") != std::string::npos);
    CHECK(!exists(d / "out.gguf"));
}

// ---- tensor names: printed escaped, refused before anything is written -------------------

TEST_CASE("quantize tool: printable() escapes controls and broken UTF-8, keeps text") {
    using lbq::printable;
    CHECK(printable("blk.0.attn_q.weight") == "blk.0.attn_q.weight");
    CHECK(printable("a\x1b[31mred") == "a\\x1b[31mred");
    CHECK(printable(std::string("a\0b", 3)) == "a\\x00b");
    CHECK(printable("tab\there\nnl\x7f") == "tab\\x09here\\x0anl\\x7f");
    CHECK(printable("caf\xc3\xa9") == "caf\xc3\xa9");        // U+00E9: printed as it is
    CHECK(printable("\xc2\x9b" "2J") == "\\xc2\\x9b2J");     // U+009B (CSI, a C1 control)
    CHECK(printable("\xff\xfe") == "\\xff\\xfe");             // not UTF-8
    CHECK(printable("\xc0\xaf") == "\\xc0\\xaf");             // overlong '/'
    CHECK(printable("\xed\xa0\x80") == "\\xed\\xa0\\x80");    // a surrogate
    CHECK(printable("\xe2\x82") == "\\xe2\\x82");             // cut sequence
    CHECK(printable(std::string(100, 'x'), 10) == std::string(10, 'x') + "...");
    CHECK(printable("ab\xc3\xa9", 3) == "ab\\xc3...");      // a cut never splits a character into raw bytes
}

TEST_CASE("quantize tool: check_tensor_name refuses what GGUF and a terminal cannot take") {
    CHECK(lbq::check_tensor_name("blk.0.attn_q.weight").ok());
    CHECK(lbq::check_tensor_name(std::string(63, 'n')).ok());
    CHECK(lbq::check_tensor_name("caf\xc3\xa9.weight").ok());
    const lowbit::status too_long = lbq::check_tensor_name(std::string(64, 'n'));
    CHECK(!too_long.ok());
    CHECK(std::string(too_long.message()).find("is 64 bytes; GGUF allows at most 63") != std::string::npos);
    for (const std::string& bad : {std::string(), std::string("a\x1b[2Jb"), std::string("a\0b", 3), std::string("new\nline"),
                                  std::string("c1\xc2\x9b"), std::string("bad\xff"), std::string("sur\xed\xa0\x80")}) {
        CAPTURE(lbq::printable(bad));
        const lowbit::status s = lbq::check_tensor_name(bad);
        CHECK(!s.ok());
        for (const char* c = s.message(); *c; ++c) CHECK(static_cast<unsigned char>(*c) >= 0x20);  // the message is printable
    }
}

namespace {

// A GGUF v3 file with one F32 tensor of 32 values, written byte by byte so that
// the name can be what gguf_writer refuses to write (64 bytes, say).
std::vector<std::uint8_t> gguf_one_tensor(const std::string& name) {
    std::vector<std::uint8_t> b = {'G', 'G', 'U', 'F'};
    auto put = [&b](std::uint64_t v, int n) {
        for (int i = 0; i < n; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    };
    put(3, 4);            // version
    put(1, 8);            // tensors
    put(0, 8);            // metadata keys
    put(name.size(), 8);  // tensor info: name, n_dims, dims, type, offset
    b.insert(b.end(), name.begin(), name.end());
    put(1, 4);
    put(32, 8);
    put(0, 4);
    put(0, 8);
    b.resize((b.size() + 31) / 32 * 32, 0);
    for (int i = 0; i < 32; ++i) {
        const float x = 0.25f * static_cast<float>(i - 16);
        std::uint32_t u;
        std::memcpy(&u, &x, 4);
        put(u, 4);
    }
    return b;
}

}  // namespace

TEST_CASE("quantize tool: hostile tensor names never reach OUT or the terminal verbatim") {
    tmpdir d;
    struct named {
        std::string name, shown;  // shown: how the log must print it
    };
    const named cases[] = {
        {std::string(64, 'n'), std::string(40, 'n') + "..."},               // passes the reader, not GGUF's limit
        {"blk.0.\x1b[31mevil\x1b[0m", "blk.0.\\x1b[31mevil\\x1b[0m"},       // terminal escape codes
        {std::string("blk.0\0hidden", 12), "blk.0\\x00hidden"},             // a NUL byte
        {"blk.0.\xff\xfe", "blk.0.\\xff\\xfe"},                             // not UTF-8
    };
    for (const named& n : cases) {
        CAPTURE(n.shown);
        write_file(d / "names.gguf", gguf_one_tensor(n.name));
        std::string log;
        const int rc = run_tool(d, "'" + (d / "names.gguf") + "' '" + (d / "out.gguf") + "' --type F16", &log);
        // 2: refused by the tool; 1: refused earlier by the GGUF reader. Either way nothing is written.
        CHECK((rc == 2 || rc == 1));
        CHECK(log.find(n.shown) != std::string::npos);
        for (char c : log) CHECK((static_cast<unsigned char>(c) >= 0x20 || c == '\n'));  // no raw control byte in the log
        CHECK(!exists(d / "out.gguf"));
    }
    // The same file with a plain name converts: the failures above are the name's.
    write_file(d / "names.gguf", gguf_one_tensor("plain.weight"));
    CHECK(run_tool(d, "'" + (d / "names.gguf") + "' '" + (d / "out.gguf") + "' --type F16") == 0);
    CHECK(exists(d / "out.gguf"));
}

// ---- file rules (examples/common/output_file.hpp; the end-to-end scripts tests/cli/test_quantize_files.sh
// and tests/cli/test_tool_outputs.sh do the rest) ----

TEST_CASE("quantize tool: temporary file names and who owns them") {
    CHECK(tool_files::temp_owner("m.gguf.lowbit-tmp-1234-aB3xYz", "m.gguf") == 1234);
    CHECK(tool_files::temp_owner("m.gguf.lowbit-tmp-1234-aB3xYz", "n.gguf") == 0);     // another OUT's
    CHECK(tool_files::temp_owner("m.gguf.lowbit-tmp-1234-aB3xY", "m.gguf") == 0);      // not mkstemp's 6 characters
    CHECK(tool_files::temp_owner("m.gguf.lowbit-tmp-1234-aB3x/z", "m.gguf") == 0);
    CHECK(tool_files::temp_owner("m.gguf.lowbit-tmp--aB3xYz", "m.gguf") == 0);         // no pid
    CHECK(tool_files::temp_owner("m.gguf.lowbit-tmp-0-aB3xYz", "m.gguf") == 0);
    CHECK(tool_files::temp_owner("m.gguf.lowbit-tmp-99999999999-aB3xYz", "m.gguf") == 0);  // not a pid
    CHECK(tool_files::temp_owner("m.gguf.tmp-aB3xYz", "m.gguf") == 0);                  // the old naming: not ours to judge
    CHECK(tool_files::split_path("a/b/m.gguf") == std::make_pair(std::string("a/b"), std::string("m.gguf")));
    CHECK(tool_files::split_path("m.gguf") == std::make_pair(std::string("."), std::string("m.gguf")));
    CHECK(tool_files::split_path("/m.gguf") == std::make_pair(std::string("/"), std::string("m.gguf")));
}

TEST_CASE("quantize tool: check_output_path refuses the input and anything but a regular file") {
    tmpdir d;
    write_file(d / "in.gguf", std::vector<std::uint8_t>{1, 2, 3});
    lbq::input_file in;
    REQUIRE(in.open((d / "in.gguf").c_str()).ok());
    const std::vector<lbq::input_path> inputs = {{d / "in.gguf", in.id()}};
    REQUIRE(::link((d / "in.gguf").c_str(), (d / "hard").c_str()) == 0);
    REQUIRE(::symlink("in.gguf", (d / "soft").c_str()) == 0);
    REQUIRE(::mkfifo((d / "fifo").c_str(), 0600) == 0);
    write_file(d / "other", std::vector<std::uint8_t>{4});
    bool exists_ = true;
    CHECK(lbq::check_output_path(d / "new.gguf", inputs, &exists_).ok());
    CHECK(!exists_);
    CHECK(lbq::check_output_path(d / "other", inputs, &exists_).ok());
    CHECK(exists_);
    for (const char* same : {"in.gguf", "hard", "soft", "./in.gguf"}) {
        CAPTURE(same);
        const lowbit::status s = lbq::check_output_path(d / same, inputs, &exists_);
        CHECK(s.code() == lowbit::errc::invalid_argument);
        CHECK(std::string(s.message()).find("is the same file as the input") != std::string::npos);
    }
    const lowbit::status f = lbq::check_output_path(d / "fifo", inputs, &exists_);
    CHECK(f.code() == lowbit::errc::invalid_argument);
    CHECK(std::string(f.message()).find("a FIFO") != std::string::npos);
    CHECK(lbq::check_output_path(d.path, inputs, &exists_).code() == lowbit::errc::invalid_argument);  // a directory
    // A missing folder fails the check (before the run), with the words mkstemp would have used at the end of it.
    const lowbit::status m = lbq::check_output_path(d / "missing/x.gguf", inputs, &exists_);
    CHECK(m.code() == lowbit::errc::io_error);
    CHECK(std::string(m.message()) == std::string("cannot create a file next to it: ") + std::strerror(ENOENT));
    CHECK(read_file(d / "in.gguf") == std::vector<std::uint8_t>{1, 2, 3});
}

TEST_CASE("quantize tool: the 1- to 3-bit i-quant recipes need --imatrix, and write its dataset and chunk count") {
    tmpdir d;
    const auto ts = fake_llama();
    write_file(d / "in.gguf", make_gguf(ts));
    // A legacy .dat imatrix for the tensors that get IQ2_XXS (rows of 256 and 512),
    // with llama-imatrix's trailer: the chunk count and the dataset's name.
    const char* const wanted[] = {"blk.0.attn_q.weight", "blk.0.ffn_up.weight", "blk.1.ffn_down.weight"};
    auto imatrix_file = [&](const std::string& file, std::size_t n_entries) {
        std::vector<std::uint8_t> b;
        auto put = [&](const void* p, std::size_t n) { b.insert(b.end(), static_cast<const std::uint8_t*>(p), static_cast<const std::uint8_t*>(p) + n); };
        auto put_i32 = [&](std::int32_t v) { put(&v, 4); };
        put_i32(static_cast<std::int32_t>(n_entries));
        for (std::size_t e = 0; e < n_entries; ++e) {
            const fake_tensor* t = nullptr;
            for (const auto& x : ts) if (x.name == wanted[e]) t = &x;
            REQUIRE(t);
            put_i32(static_cast<std::int32_t>(t->name.size()));
            put(t->name.data(), t->name.size());
            put_i32(2);  // ncall: the weights are the sums / 2
            put_i32(static_cast<std::int32_t>(t->dims[0]));
            for (std::uint64_t i = 0; i < t->dims[0]; ++i) {
                const float s = 2.0f * (1.0f + static_cast<float>((i * 7) % 5));
                put(&s, 4);
            }
        }
        put_i32(7);  // chunks
        put_i32(9);
        put("calib.txt", 9);
        write_file(d / file, b);
    };
    imatrix_file("im.dat", 3);
    imatrix_file("short.dat", 2);  // no entry for blk.1.ffn_down.weight
    const std::string io = "'" + (d / "in.gguf") + "' '" + (d / "out.gguf") + "' ";

    std::string log;
    CHECK(run_tool(d, io + "--type IQ2_XXS", &log) == 2);
    CHECK(log.find("--type IQ2_XXS needs an importance matrix (--imatrix)") != std::string::npos);
    CHECK(!exists(d / "out.gguf"));
    // --dry-run sizes the file anyway and says what a real run needs, as llama-quantize --dry-run does.
    CHECK(run_tool(d, io + "--type IQ2_XXS --dry-run", &log) == 0);
    CHECK(log.find("--dry-run: writing this file needs an importance matrix (--imatrix)") != std::string::npos);
    CHECK(!exists(d / "out.gguf"));
    CHECK(run_tool(d, io + "--type IQ2_XXS --imatrix '" + (d / "short.dat") + "'", &log) == 1);
    CHECK(log.find("no imatrix entry for blk.1.ffn_down.weight, which IQ2_XXS needs") != std::string::npos);
    CHECK(!exists(d / "out.gguf"));
    // By hand: --tensor-type follows the same rule, and the output (which llama.cpp
    // quantizes without imatrix data) cannot be IQ2_XXS without one either.
    CHECK(run_tool(d, io + "--type Q4_K_M --tensor-type 'attn_q=IQ1_S'", &log) == 2);
    CHECK(log.find("needs an importance matrix (--imatrix): tensor 'blk.0.attn_q.weight' gets IQ1_S") != std::string::npos);
    CHECK(run_tool(d, io + "--type Q4_K_M --output-tensor-type IQ2_XXS", &log) == 2);
    CHECK(log.find("tensor 'output.weight' gets IQ2_XXS") != std::string::npos);
    CHECK(!exists(d / "out.gguf"));

    REQUIRE(run_tool(d, io + "--type IQ2_XXS --imatrix '" + (d / "im.dat") + "'", &log) == 0);
    INFO(log);
    {
        const auto b = read_file(d / "out.gguf");
        auto f = gg::gguf_file::parse(b);
        REQUIRE(f);
        CHECK(*f->get_uint("general.file_type") == 19);  // LLAMA_FTYPE_MOSTLY_IQ2_XXS
        const std::map<std::string, gguf_type> want = {
            {"token_embd.weight", gguf_type::q2_K},     {"output.weight", gguf_type::q5_K},
            {"blk.0.attn_q.weight", gguf_type::iq2_xxs}, {"blk.0.attn_k.weight", gguf_type::iq4_nl},  // 96 columns: fallback
            {"blk.0.attn_v.weight", gguf_type::q2_K},   {"blk.0.ffn_up.weight", gguf_type::iq2_xxs},
            {"blk.0.ffn_down.weight", gguf_type::f16},  {"blk.1.ffn_down.weight", gguf_type::iq2_xxs}};
        for (const auto& w : want) {
            CAPTURE(w.first);
            const gg::tensor_info* t = f->find_tensor(w.first);
            REQUIRE(t);
            CHECK(std::string(gg::type_name(t->type)) == gg::type_name(w.second));
        }
        // llama-quantize's keys, last and in its order.
        const std::size_t n = f->kv_count();
        REQUIRE(n >= 4);
        CHECK(f->kv(n - 4).key == "quantize.imatrix.file");
        CHECK(f->kv(n - 3).key == "quantize.imatrix.dataset");
        CHECK(f->kv(n - 2).key == "quantize.imatrix.entries_count");
        CHECK(f->kv(n - 1).key == "quantize.imatrix.chunks_count");
        CHECK(*f->get_string("quantize.imatrix.dataset") == "calib.txt");
        CHECK(*f->get_uint("quantize.imatrix.entries_count") == 3);
        CHECK(*f->get<std::uint32_t>("quantize.imatrix.chunks_count") == 7);
        // The bytes of one tensor: ggml's IQ2_XXS with the weights sum / ncall.
        const fake_tensor& q = ts[2];
        REQUIRE(q.name == "blk.0.attn_q.weight");
        const std::int64_t k = static_cast<std::int64_t>(q.dims[0]), rows = static_cast<std::int64_t>(q.dims[1]);
        std::vector<float> w(static_cast<std::size_t>(k));
        for (std::int64_t i = 0; i < k; ++i) w[static_cast<std::size_t>(i)] = 1.0f + static_cast<float>((i * 7) % 5);
        std::vector<std::uint8_t> expect(static_cast<std::size_t>(gg::row_size(gguf_type::iq2_xxs, k) * rows));
        REQUIRE(gg::quantize(gguf_type::iq2_xxs, q.data.data(), expect.data(), rows, k, w.data()).ok());
        const gg::tensor_info* t = f->find_tensor(q.name);
        REQUIRE(t);
        REQUIRE(t->data.size() == expect.size());
        CHECK(std::memcmp(t->data.data(), expect.data(), expect.size()) == 0);
    }
    // A trailer whose name runs past the end of the file: the chunk count is kept, the name dropped.
    {
        std::vector<std::uint8_t> b = read_file(d / "im.dat");
        const std::int32_t too_long = 1000;
        std::memcpy(b.data() + b.size() - 9 - 4, &too_long, 4);
        write_file(d / "trailer.dat", b);
        REQUIRE(run_tool(d, io + "--type IQ2_XXS --imatrix '" + (d / "trailer.dat") + "'", &log) == 0);
        const auto bytes = read_file(d / "out.gguf");
        auto f = gg::gguf_file::parse(bytes);
        REQUIRE(f);
        CHECK(!f->find_kv("quantize.imatrix.dataset"));
        CHECK(*f->get<std::uint32_t>("quantize.imatrix.chunks_count") == 7);
    }
    // --tensor-type takes every i-quant lowbit writes.
    REQUIRE(run_tool(d, io + "--type Q4_K_M --imatrix '" + (d / "im.dat") + "' --tensor-type 'attn_q=IQ1_S' --tensor-type 'ffn_up=IQ3_XXS'"
                            " --tensor-type 'blk\\.1\\.ffn_down=IQ2_S'", &log) == 0);
    {
        const auto b = read_file(d / "out.gguf");
        auto f = gg::gguf_file::parse(b);
        REQUIRE(f);
        CHECK(f->find_tensor("blk.0.attn_q.weight")->type == gguf_type::iq1_s);
        CHECK(f->find_tensor("blk.0.ffn_up.weight")->type == gguf_type::iq3_xxs);
        CHECK(f->find_tensor("blk.1.ffn_down.weight")->type == gguf_type::iq2_s);
        CHECK(*f->get_uint("general.file_type") == 15);
    }
}
