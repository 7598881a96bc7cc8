// lowbit-quantize on Hugging Face folders: the real tinyllama-sotu checkpoint
// (tests/data/tinyllama-sotu) converted to F16 against what llama.cpp's
// convert_hf_to_gguf.py wrote for it (converter-f16.json: every tensor's sha256,
// every metadata value), a sharded copy and a tokenizer.json-only copy giving
// the same file, the rules of the mixes on converted tensors, and bad folders.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <lowbit/core/half.hpp>
#include <lowbit/formats/gguf.hpp>
#include <lowbit/formats/safetensors.hpp>

#include "../examples/lowbit-quantize/hf_json.hpp"
#include "../examples/lowbit-quantize/hf_llama.hpp"
#include "../examples/lowbit-quantize/sentencepiece_model.hpp"
#include "sha256.hpp"
#include "tool_test_util.hpp"

namespace gg = lowbit::gguf;

namespace {

const std::string data_dir = std::string(LOWBIT_TEST_DATA_DIR) + "/tinyllama-sotu";

using namespace tool_test;

// A folder `dir` holding the listed files of the checkpoint (symlinks: the
// tool must follow them, as Hugging Face's cache layout needs).
void link_checkpoint(const std::string& dir, const std::vector<std::string>& files) {
    REQUIRE(::mkdir(dir.c_str(), 0755) == 0);
    for (const std::string& f : files) REQUIRE(::symlink((data_dir + "/" + f).c_str(), (dir + "/" + f).c_str()) == 0);
}

// Metadata values as comparable text: numbers as doubles (%.17g), strings quoted.
std::string canon(const gg::value& v) {
    char b[64];
    if (v.is_array()) {
        std::string s = "[";
        for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + canon(v[i]);
        return s + "]";
    }
    if (auto x = v.get<std::string_view>()) return "\"" + std::string(*x) + "\"";
    if (auto x = v.get<bool>()) return *x ? "true" : "false";
    if (auto x = v.to_float()) {
        std::snprintf(b, sizeof b, "%.17g", *x);
        return b;
    }
    if (auto x = v.to_int()) {
        std::snprintf(b, sizeof b, "%.17g", static_cast<double>(*x));
        return b;
    }
    return "?";
}

std::string canon(const lbq::json_value& v) {
    using K = lbq::json_value::kind;
    if (v.is(K::array)) {
        std::string s = "[";
        for (std::size_t i = 0; i < v.items.size(); ++i) s += (i ? "," : "") + canon(v.items[i]);
        return s + "]";
    }
    if (v.is(K::string)) return "\"" + v.text + "\"";
    if (v.is(K::boolean)) return v.text;
    if (v.is(K::number)) {
        char b[64];
        std::snprintf(b, sizeof b, "%.17g", *v.number());
        return b;
    }
    return "?";
}

struct gguf_on_disk {
    std::vector<std::uint8_t> bytes;
    lowbit::result<gg::gguf_file> file = lowbit::status::error(lowbit::errc::io_error, "not read");
    explicit gguf_on_disk(const std::string& p) : bytes(read_file(p)) {
        file = gg::gguf_file::parse(lowbit::span<const std::uint8_t>(bytes.data(), bytes.size()));
    }
};

lbq::json_value reference() {
    const std::vector<std::uint8_t> b = read_file(data_dir + "/converter-f16.json");
    lbq::json_value j;
    REQUIRE(lbq::parse_json(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()), &j).ok());
    return j;
}

// The safetensors bytes of `names` (a subset of `src`), tensors listed in the
// header in reverse order so that the reader's own sorting is exercised.
std::string safetensors_subset(const lowbit::safetensors::safetensors_file& src, const std::vector<std::string>& names) {
    std::string header = "{", data;
    for (auto it = names.rbegin(); it != names.rend(); ++it) {
        const lowbit::safetensors::tensor_info* t = src.find_tensor(*it);
        REQUIRE(t != nullptr);
        std::string shape;
        for (std::uint64_t d : t->shape) shape += (shape.empty() ? "" : ",") + std::to_string(d);
        header += (header.size() > 1 ? "," : "") + std::string("\"") + *it + "\":{\"dtype\":\"" + lowbit::safetensors::dtype_name(t->type) +
                  "\",\"shape\":[" + shape + "],\"data_offsets\":[" + std::to_string(data.size()) + "," +
                  std::to_string(data.size() + t->data.size()) + "]}";
        data.append(reinterpret_cast<const char*>(t->data.data()), t->data.size());
    }
    header += "}";
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
    return out + header + data;
}

// True when the folder holds nothing but (some of) `allowed`: no OUT, no temporary file.
bool only_files(const std::string& dir, const std::vector<std::string>& allowed) {
    const std::string ls = dir + ".ls";
    std::system(("ls -A '" + dir + "' > '" + ls + "'").c_str());
    std::ifstream f(ls);
    std::vector<std::string> got;
    for (std::string line; std::getline(f, line);) got.push_back(line);
    std::remove(ls.c_str());
    for (const std::string& g : got)
        if (std::find(allowed.begin(), allowed.end(), g) == allowed.end()) return false;
    return true;
}

}  // namespace

TEST_CASE("hf: tinyllama-sotu to F16 has the tensors and metadata of llama.cpp's converter") {
    tmpdir d;
    const std::string out = d / "f16.gguf";
    std::string log;
    REQUIRE(run_tool(d, "'" + data_dir + "' '" + out + "' --type F16 --threads 2", &log) == 0);
    gguf_on_disk g(out);
    REQUIRE(g.file);
    const lbq::json_value ref = reference();

    // Tensors: same names in the same order, same type, ne and bytes.
    const lbq::json_value* rt = ref.find("tensors");
    REQUIRE(rt != nullptr);
    REQUIRE(g.file->tensors().size() == rt->items.size());
    std::size_t same_bytes = 0;
    for (std::size_t i = 0; i < rt->items.size(); ++i) {
        const lbq::json_value& r = rt->items[i];
        const gg::tensor_info& t = g.file->tensors()[i];
        CAPTURE(r.find("name")->text);
        CHECK(std::string(t.name) == r.find("name")->text);
        std::string type = gg::type_name(t.type);
        std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        CHECK(type == r.find("type")->text);
        const lbq::json_value* ne = r.find("ne");
        REQUIRE(ne->items.size() == t.n_dims);
        for (std::size_t k = 0; k < t.n_dims; ++k) CHECK(t.dims[k] == static_cast<std::uint64_t>(*ne->items[k].integer()));
        const std::string h = lbtest::sha256_hex(t.data.data(), t.data.size());
        CHECK(h == r.find("sha256")->text);
        same_bytes += h == r.find("sha256")->text;
    }
    CHECK(same_bytes == 75);

    // Metadata: every key of the converter's, same value, same order; the
    // documented differences (docs/tools.md) are general.name and the added
    // tokenizer.ggml.unk_token_id.
    const lbq::json_value* rm = ref.find("metadata");
    REQUIRE(rm != nullptr);
    std::vector<std::string> ours;
    for (std::size_t i = 0; i < g.file->kv_count(); ++i) ours.emplace_back(g.file->kv(i).key);
    std::vector<std::string> ours_common;
    for (const std::string& k : ours)
        if (k != "tokenizer.ggml.unk_token_id") ours_common.push_back(k);
    std::vector<std::string> theirs;
    for (const auto& kv : rm->members) theirs.push_back(kv.first);
    CHECK(ours_common == theirs);
    for (const auto& kv : rm->members) {
        CAPTURE(kv.first);
        const auto v = g.file->find_kv(kv.first);
        REQUIRE(v.has_value());
        if (kv.first == "general.name") {
            CHECK(canon(*v) == "\"tinyllama-sotu\"");  // the converter used its folder's name, "hf" -> "Hf"
            continue;
        }
        CHECK(canon(*v) == canon(kv.second));
    }
    REQUIRE(g.file->get_uint("tokenizer.ggml.unk_token_id"));
    CHECK(*g.file->get_uint("tokenizer.ggml.unk_token_id") == 0);
    // The types llama.cpp reads them as.
    CHECK(g.file->find_kv("llama.rope.freq_base")->type() == gg::value_type::f32);
    CHECK(g.file->find_kv("llama.block_count")->type() == gg::value_type::u32);
    CHECK(g.file->find_kv("tokenizer.ggml.token_type")->element_type() == gg::value_type::i32);
    CHECK(g.file->find_kv("tokenizer.ggml.scores")->element_type() == gg::value_type::f32);
}

TEST_CASE("hf: F32 and BF16 outputs hold the same values as the converter's F16") {
    // The converter's F16 is bf16 -> f32 -> f16 (round to nearest even); so
    // rounding our F32 (and our BF16 widened) to f16 must give its bytes.
    tmpdir d;
    std::string log;
    const lbq::json_value ref = reference();
    const lbq::json_value* rt = ref.find("tensors");
    for (const char* type : {"F32", "BF16"}) {
        CAPTURE(type);
        const std::string out = d / (std::string(type) + ".gguf");
        REQUIRE(run_tool(d, "'" + data_dir + "' '" + out + "' --type " + type + " --quiet", &log) == 0);
        gguf_on_disk g(out);
        REQUIRE(g.file);
        CHECK(*g.file->get_uint("general.file_type") == (std::string(type) == "F32" ? 0u : 32u));
        std::size_t same = 0;
        for (const lbq::json_value& r : rt->items) {
            const gg::tensor_info* t = g.file->find_tensor(r.find("name")->text);
            REQUIRE(t != nullptr);
            const bool f16_in_ref = r.find("type")->text == "f16";
            CHECK(t->type == (f16_in_ref && std::string(type) == "BF16" ? gg::gguf_type::bf16 : gg::gguf_type::f32));
            std::vector<std::uint8_t> b;
            for (std::uint64_t i = 0; i < t->n_elements; ++i) {
                float x;
                if (t->type == gg::gguf_type::bf16) {
                    std::uint16_t h;
                    std::memcpy(&h, t->data.data() + 2 * i, 2);
                    x = lowbit::bf16_to_f32(h);
                } else {
                    std::memcpy(&x, t->data.data() + 4 * i, 4);
                }
                if (f16_in_ref) {
                    const std::uint16_t h = lowbit::f32_to_f16(x);
                    b.push_back(static_cast<std::uint8_t>(h & 0xff));
                    b.push_back(static_cast<std::uint8_t>(h >> 8));
                } else {
                    const std::uint8_t* p = reinterpret_cast<const std::uint8_t*>(&x);
                    b.insert(b.end(), p, p + 4);
                }
            }
            same += lbtest::sha256_hex(b.data(), b.size()) == r.find("sha256")->text;
        }
        CHECK(same == rt->items.size());
    }
}

TEST_CASE("hf: a sharded copy and a tokenizer.json-only copy give the same file") {
    tmpdir d;
    std::string log;
    // The reference: the checkpoint as it is, under the same folder name as the copies.
    REQUIRE(::mkdir((d / "a").c_str(), 0755) == 0);
    link_checkpoint(d / "a/ckpt", {"config.json", "model.safetensors", "tokenizer.model", "tokenizer.json", "tokenizer_config.json"});
    REQUIRE(run_tool(d, "'" + (d / "a/ckpt") + "' '" + (d / "a.gguf") + "' --type F16 --quiet", &log) == 0);
    const std::vector<std::uint8_t> want = read_file(d / "a.gguf");
    REQUIRE(want.size() > 1000000);

    // Three shards + model.safetensors.index.json.
    const std::vector<std::uint8_t> st_bytes = read_file(data_dir + "/model.safetensors");
    auto st = lowbit::safetensors::safetensors_file::parse(lowbit::span<const std::uint8_t>(st_bytes.data(), st_bytes.size()));
    REQUIRE(st);
    std::vector<std::string> names;
    for (const auto& t : st->tensors()) names.push_back(t.name);
    std::sort(names.begin(), names.end());
    REQUIRE(::mkdir((d / "b").c_str(), 0755) == 0);
    link_checkpoint(d / "b/ckpt", {"config.json", "tokenizer.model", "tokenizer.json", "tokenizer_config.json"});
    std::string index = "{\"metadata\":{\"total_size\":" + std::to_string(st_bytes.size()) + "},\"weight_map\":{";
    const std::size_t cut[4] = {0, names.size() / 3, 2 * names.size() / 3, names.size()};
    for (int s = 0; s < 3; ++s) {
        const std::string file = "model-0000" + std::to_string(s + 1) + "-of-00003.safetensors";
        std::vector<std::string> part(names.begin() + static_cast<std::ptrdiff_t>(cut[s]), names.begin() + static_cast<std::ptrdiff_t>(cut[s + 1]));
        write_file(d / ("b/ckpt/" + file), safetensors_subset(*st, part));
        for (const std::string& n : part) index += (index.back() == '{' ? "" : ",") + std::string("\"") + n + "\":\"" + file + "\"";
    }
    index += "}}";
    write_file(d / "b/ckpt/model.safetensors.index.json", index);
    REQUIRE(run_tool(d, "'" + (d / "b/ckpt") + "' '" + (d / "b.gguf") + "' --type F16 --quiet", &log) == 0);
    CHECK(read_file(d / "b.gguf") == want);

    // tokenizer.json (+ tokenizer_config.json) without tokenizer.model.
    REQUIRE(::mkdir((d / "c").c_str(), 0755) == 0);
    link_checkpoint(d / "c/ckpt", {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"});
    REQUIRE(run_tool(d, "'" + (d / "c/ckpt") + "' '" + (d / "c.gguf") + "' --type F16 --quiet", &log) == 0);
    gguf_on_disk a(d / "a.gguf"), c(d / "c.gguf");
    REQUIRE(a.file);
    REQUIRE(c.file);
    for (const char* k : {"tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
                          "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unk_token_id",
                          "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token"}) {
        CAPTURE(k);
        REQUIRE(c.file->find_kv(k).has_value());
        CHECK(canon(*c.file->find_kv(k)) == canon(*a.file->find_kv(k)));
    }
    CHECK(read_file(d / "c.gguf") == want);  // and so the whole file
}

TEST_CASE("hf: the type rules and mixes apply to converted tensors") {
    tmpdir d;
    std::string log;
    REQUIRE(run_tool(d, "'" + data_dir + "' '" + (d / "q.gguf") + "' --type Q4_K_M --tensor-type 'ffn_up=Q8_0' --threads 2", &log) == 0);
    gguf_on_disk g(d / "q.gguf");
    REQUIRE(g.file);
    auto type_of = [&](const char* n) { return g.file->find_tensor(n) ? g.file->find_tensor(n)->type : gg::gguf_type::f64; };  // f64: "absent" here
    CHECK(type_of("output.weight") == gg::gguf_type::q6_K);      // the output-tensor rule
    CHECK(type_of("token_embd.weight") == gg::gguf_type::q4_K);
    CHECK(type_of("blk.0.attn_v.weight") == gg::gguf_type::q6_K);  // the mix's first layers
    CHECK(type_of("blk.2.attn_v.weight") == gg::gguf_type::q4_K);
    CHECK(type_of("blk.0.ffn_up.weight") == gg::gguf_type::q8_0);  // --tensor-type
    CHECK(type_of("blk.0.attn_norm.weight") == gg::gguf_type::f32);
    CHECK(type_of("output_norm.weight") == gg::gguf_type::f32);
    CHECK(*g.file->get_uint("general.file_type") == 15);  // MOSTLY_Q4_K_M
    CHECK(g.file->find_kv("tokenizer.ggml.tokens")->size() == 1024);
}

TEST_CASE("hf: bad folders fail with one line, exit 2, nothing written") {
    tmpdir d;
    std::string log;
    auto check_refused = [&](const std::string& dir, const char* expect) {
        CAPTURE(dir);
        CHECK(run_tool(d, "'" + dir + "' '" + (d / "out.gguf") + "' --type F16", &log) == 2);
        CAPTURE(log);
        CHECK(log.find(expect) != std::string::npos);
        CHECK(std::count(log.begin(), log.end(), '\n') == 1);
        CHECK(!exists(d / "out.gguf"));
        CHECK(only_files(d.path, {"tool.log", "nocfg", "arch", "shard", "extra", "vocab", "notok", "bigid", "emptyentry", "layers", "self"}));
    };
    // No config.json.
    link_checkpoint(d / "nocfg", {"model.safetensors", "tokenizer.model"});
    check_refused(d / "nocfg", "no config.json");
    // Another architecture.
    link_checkpoint(d / "arch", {"model.safetensors", "tokenizer.model"});
    write_file(d / "arch/config.json", "{\"architectures\": [\"MistralForCausalLM\"], \"vocab_size\": 1024}");
    check_refused(d / "arch", "architecture MistralForCausalLM is not supported; only LlamaForCausalLM is");
    // An index naming a shard that is not there.
    link_checkpoint(d / "shard", {"config.json", "model.safetensors", "tokenizer.model"});
    write_file(d / "shard/model.safetensors.index.json",
               "{\"weight_map\": {\"model.norm.weight\": \"model.safetensors\", \"lm_head.weight\": \"model-00002-of-00002.safetensors\"}}");
    check_refused(d / "shard", "model-00002-of-00002.safetensors named by model.safetensors.index.json is missing");
    // A shard holding a tensor the index does not list.
    link_checkpoint(d / "extra", {"config.json", "model.safetensors", "tokenizer.model"});
    write_file(d / "extra/model.safetensors.index.json", "{\"weight_map\": {\"model.norm.weight\": \"model.safetensors\"}}");
    check_refused(d / "extra", "is not in model.safetensors.index.json");
    // A tokenizer whose size is not config.json's vocab_size.
    link_checkpoint(d / "vocab", {"model.safetensors", "tokenizer.model"});
    {
        const std::vector<std::uint8_t> c = read_file(data_dir + "/config.json");
        std::string cfg(c.begin(), c.end());
        const std::size_t at = cfg.find("\"vocab_size\": 1024");
        REQUIRE(at != std::string::npos);
        cfg.replace(at, 18, "\"vocab_size\": 1000");
        write_file(d / "vocab/config.json", cfg);
    }
    check_refused(d / "vocab", "tokenizer.model has 1024 tokens but config.json vocab_size is 1000");
    // No tokenizer at all.
    link_checkpoint(d / "notok", {"config.json", "model.safetensors"});
    check_refused(d / "notok", "no tokenizer.model or tokenizer.json");
    // A hostile token id in a tiny tokenizer.json: refused, not allocated.
    link_checkpoint(d / "bigid", {"config.json", "model.safetensors"});
    write_file(d / "bigid/tokenizer.json", R"({"model": {"type": "BPE", "byte_fallback": true, "vocab": {"a": 0, "b": 2000000000}}})");
    check_refused(d / "bigid", "tokenizer.json: token id 2000000000 is outside 0..1");
    // A Unigram vocabulary entry that is an empty array (found by fuzz_hf_json):
    // refused, never indexed.
    link_checkpoint(d / "emptyentry", {"config.json", "model.safetensors"});
    write_file(d / "emptyentry/tokenizer.json", R"({"model": {"type": "Unigram", "unk_id": 0, "vocab": [[], ["a", -1.5]]}})");
    check_refused(d / "emptyentry", "tokenizer.json: Unigram vocab entry 0 is not [piece, score]");
    // A layer count the checkpoint cannot hold.
    link_checkpoint(d / "layers", {"model.safetensors", "tokenizer.model"});
    write_file(d / "layers/config.json", R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 1024, "hidden_size": 256,
        "intermediate_size": 768, "num_hidden_layers": 2000000000, "num_attention_heads": 8})");
    check_refused(d / "layers", "config.json says 2000000000 layers but the checkpoint has only 75 tensors");
    // OUT may not be one of the shards (a real copy here, not a link into tests/data).
    link_checkpoint(d / "self", {"config.json", "tokenizer.model"});
    {
        const std::vector<std::uint8_t> w = read_file(data_dir + "/model.safetensors");
        write_file(d / "self/model.safetensors", std::string(w.begin(), w.end()));
    }
    CHECK(run_tool(d, "'" + (d / "self") + "' '" + (d / "self/model.safetensors") + "' --type F16", &log) == 2);
    CHECK(log.find("refusing to overwrite the input") != std::string::npos);
    CHECK(read_file(d / "self/model.safetensors") == read_file(data_dir + "/model.safetensors"));
}

TEST_CASE("hf: the pieces") {
    // Q/K rows: within each head, the first half and the second half interleave.
    const std::vector<std::uint32_t> r = lbq::detail::rope_row_order(2, 4);
    CHECK(r == std::vector<std::uint32_t>{0, 2, 1, 3, 4, 6, 5, 7});
    // gguf-py's size labels.
    CHECK(lbq::detail::size_label(6820096) == "6.8M");
    CHECK(lbq::detail::size_label(1100048384) == "1.1B");
    CHECK(lbq::detail::size_label(6738415616) == "6.7B");
    CHECK(lbq::detail::size_label(13015864320) == "13B");
    CHECK(lbq::detail::size_label(260000) == "260K");
    // The SentencePiece model: the real file, then every truncation of its
    // first kilobyte is an error or a shorter model, never a crash.
    const std::vector<std::uint8_t> b = read_file(data_dir + "/tokenizer.model");
    lbq::sp_model m;
    REQUIRE(lbq::read_sentencepiece_model(lowbit::span<const std::uint8_t>(b.data(), b.size()), &m).ok());
    CHECK(m.pieces.size() == 1024);
    CHECK(m.model_type == 2);
    CHECK(m.byte_fallback);
    CHECK(m.unk_id == 0);
    CHECK(m.bos_id == 1);
    CHECK(m.eos_id == 2);
    CHECK(m.pieces[3].text == "<0x00>");
    CHECK(m.pieces[3].type == lbq::piece_type::byte);
    for (std::size_t n = 0; n < 1024; ++n) {
        const lowbit::status s = lbq::read_sentencepiece_model(lowbit::span<const std::uint8_t>(b.data(), n), &m);
        if (!s.ok()) CHECK(std::string(s.message()).find("tokenizer.model") != std::string::npos);
    }
    const std::uint8_t hostile[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f};  // a piece claiming 4 GiB
    CHECK(!lbq::read_sentencepiece_model(lowbit::span<const std::uint8_t>(hostile, sizeof hostile), &m).ok());
}

TEST_CASE("hf: a LLaMA-3 style tokenizer.json becomes a gpt2 vocabulary with merges") {
    tmpdir d;
    std::string log;
    // The checkpoint's weights (vocab 1024) with a synthetic byte-level BPE of 1024 tokens.
    auto make = [&](const std::string& dir, const std::string& regex) {
        link_checkpoint(dir, {"config.json", "model.safetensors"});
        std::string vocab;
        for (int i = 0; i < 1021; ++i) vocab += (i ? "," : "") + std::string("\"t") + std::to_string(i) + "\":" + std::to_string(i);
        const std::string tj =
            R"({"version":"1.0","added_tokens":[)"
            R"({"id":1021,"content":"<|begin_of_text|>","special":true,"normalized":false},)"
            R"({"id":1022,"content":"<|end_of_text|>","special":true,"normalized":false},)"
            R"({"id":1023,"content":"my\u2581word","special":false,"normalized":false}],)"
            R"("pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":")" + regex +
            R"("},"behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}]},)"
            R"("post_processor":{"type":"Sequence","processors":[{"type":"ByteLevel"},{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<|begin_of_text|>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}]}]},)"
            R"("model":{"type":"BPE","byte_fallback":false,"ignore_merges":true,"vocab":{)" + vocab + R"(},"merges":[["t","0"],["a b","c"]]}})";
        write_file(dir + "/tokenizer.json", tj);
        write_file(dir + "/tokenizer_config.json", R"({"bos_token":"<|begin_of_text|>","eos_token":"<|end_of_text|>"})");
    };
    const std::string llama3 =
        R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+)";
    make(d / "l3", llama3);
    REQUIRE(run_tool(d, "'" + (d / "l3") + "' '" + (d / "l3.gguf") + "' --type F16 --quiet", &log) == 0);
    gguf_on_disk g(d / "l3.gguf");
    REQUIRE(g.file);
    CHECK(canon(*g.file->find_kv("tokenizer.ggml.model")) == "\"gpt2\"");
    CHECK(canon(*g.file->find_kv("tokenizer.ggml.pre")) == "\"llama-bpe\"");
    CHECK(!g.file->find_kv("tokenizer.ggml.scores"));
    const gg::value tokens = *g.file->find_kv("tokenizer.ggml.tokens");
    const gg::value types = *g.file->find_kv("tokenizer.ggml.token_type");
    REQUIRE(tokens.size() == 1024);
    CHECK(canon(tokens[5]) == "\"t5\"");
    CHECK(canon(types[5]) == "1");
    CHECK(canon(tokens[1021]) == "\"<|begin_of_text|>\"");
    CHECK(canon(types[1021]) == "3");
    CHECK(canon(tokens[1023]) == "\"my word\"");  // user-defined: U+2581 pre-normalized to a space
    CHECK(canon(types[1023]) == "4");
    CHECK(canon(*g.file->find_kv("tokenizer.ggml.merges")) == "[\"t 0\",\"a\xc4\xa0" "b c\"]");
    CHECK(*g.file->get_uint("tokenizer.ggml.bos_token_id") == 1021);
    CHECK(*g.file->get_uint("tokenizer.ggml.eos_token_id") == 1022);
    CHECK(canon(*g.file->find_kv("tokenizer.ggml.add_bos_token")) == "true");
    CHECK(canon(*g.file->find_kv("tokenizer.ggml.add_eos_token")) == "false");
    // Another pre-tokenizer: llama.cpp would need its name, which only running
    // the Hugging Face tokenizer tells: refused.
    make(d / "other", "\\\\s+");
    CHECK(run_tool(d, "'" + (d / "other") + "' '" + (d / "other.gguf") + "' --type F16", &log) == 2);
    CHECK(log.find("pre-tokenizer is not LLaMA-3's") != std::string::npos);
    CHECK(!exists(d / "other.gguf"));
}

TEST_CASE("hf: llama3 RoPE scaling adds the rope_freqs tensor first") {
    tmpdir d;
    std::string log;
    link_checkpoint(d / "l31", {"model.safetensors", "tokenizer.model"});
    const std::vector<std::uint8_t> c = read_file(data_dir + "/config.json");
    std::string cfg(c.begin(), c.end());
    const std::string from = "\"rope_theta\": 10000.0,\n    \"rope_type\": \"default\"";
    const std::size_t at = cfg.find(from);
    REQUIRE(at != std::string::npos);
    cfg.replace(at, from.size(),
                "\"rope_theta\": 500000.0, \"rope_type\": \"llama3\", \"factor\": 32.0, \"low_freq_factor\": 1.0, "
                "\"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192");
    write_file(d / "l31/config.json", cfg);
    REQUIRE(run_tool(d, "'" + (d / "l31") + "' '" + (d / "l31.gguf") + "' --type F16 --quiet", &log) == 0);
    gguf_on_disk g(d / "l31.gguf");
    REQUIRE(g.file);
    REQUIRE(g.file->tensors().size() == 76);
    const gg::tensor_info& t = g.file->tensors()[0];
    CHECK(std::string(t.name) == "rope_freqs.weight");
    CHECK(t.type == gg::gguf_type::f32);
    REQUIRE(t.n_elements == 16);  // head_dim / 2
    std::vector<float> f(16);
    std::memcpy(f.data(), t.data.data(), 64);
    // theta^(2i/32) * 2*pi against the wavelengths 8192/4 and 8192/1: the
    // fastest pairs are kept (1), the slowest scaled by the factor (32), and the
    // ones between blended, growing with the wavelength.
    CHECK(f[0] == 1.0f);
    CHECK(f[15] == 32.0f);
    for (int i = 1; i < 16; ++i) CHECK(f[static_cast<std::size_t>(i)] >= f[static_cast<std::size_t>(i - 1)]);
    const double wavelen8 = 2 * 3.14159265358979 * std::pow(500000.0, 16.0 / 32);  // between 2048 and 8192
    REQUIRE(wavelen8 > 2048);
    REQUIRE(wavelen8 < 8192);
    const double smooth = (8192 / wavelen8 - 1) / 3;
    CHECK(f[8] == doctest::Approx(1 / ((1 - smooth) / 32 + smooth)).epsilon(1e-5));
    CHECK(*g.file->get_float("llama.rope.freq_base") == 500000.0);
    CHECK(canon(*g.file->find_kv("general.size_label")) == "\"6.8M\"");
}

TEST_CASE("hf: config.json values are checked") {
    auto hp = [](const std::string& extra, lbq::llama_hparams* h = nullptr) {
        const std::string text = R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 1024, "hidden_size": 256,
            "intermediate_size": 768, "num_hidden_layers": 2, "num_attention_heads": 8)" + extra + "}";
        lbq::json_value j;
        REQUIRE(lbq::parse_json(text, &j).ok());
        lbq::llama_hparams tmp;
        return lbq::read_llama_hparams(j, h ? h : &tmp);
    };
    lbq::llama_hparams h;
    REQUIRE(hp("", &h).ok());  // transformers' LlamaConfig defaults
    CHECK(h.n_head_kv == 8);
    CHECK(h.head_dim == 32);
    CHECK(h.n_ctx == 2048);
    CHECK(h.rms_eps == 1e-6);
    CHECK(h.rope_theta == 10000.0);
    CHECK(!h.tied);
    REQUIRE(hp(R"(, "rope_theta": 500000.0, "tie_word_embeddings": true, "num_key_value_heads": 2, "head_dim": 64)", &h).ok());
    CHECK(h.rope_theta == 500000.0);  // top level, older checkpoints
    CHECK(h.tied);
    CHECK(h.n_head_kv == 2);
    CHECK(h.head_dim == 64);
    REQUIRE(hp(R"(, "rope_scaling": {"type": "linear", "factor": 4.0})", &h).ok());
    CHECK(h.linear_rope_factor == 4.0);
    CHECK(hp(R"(, "num_key_value_heads": 3)").message() == std::string("config.json: num_attention_heads 8 is not a multiple of num_key_value_heads 3"));
    CHECK(!hp(R"(, "head_dim": 33)").ok());
    CHECK(!hp(R"(, "head_dim": -32)").ok());
    CHECK(!hp(R"(, "num_key_value_heads": 99999999999999999999)").ok());
    CHECK(!hp(R"(, "rms_norm_eps": "small")").ok());
    CHECK(!hp(R"(, "rope_parameters": "x")").ok());
    CHECK(!hp(R"(, "rope_parameters": {"rope_type": "yarn", "factor": 4.0})").ok());
    CHECK(!hp(R"(, "quantization_config": {"quant_method": "gptq"})").ok());
    CHECK(!hp(R"(, "attention_bias": true)").ok());
    lbq::json_value j;
    REQUIRE(lbq::parse_json(R"({"architectures": [], "vocab_size": 1.0e3})", &j).ok());
    CHECK(!lbq::read_llama_hparams(j, &h).ok());
    REQUIRE(lbq::parse_json(R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 1.0e3})", &j).ok());
    CHECK(std::string(lbq::read_llama_hparams(j, &h).message()).find("vocab_size") != std::string::npos);
    // The JSON tree refuses what the pull parser refuses.
    CHECK(!lbq::parse_json("{\"a\": [1, 2,]}", &j).ok());
    CHECK(!lbq::parse_json("{\"a\": 01}", &j).ok());
    CHECK(!lbq::parse_json(std::string(100, '['), &j).ok());
    CHECK(!lbq::parse_json("{\"a\": 1} x", &j).ok());
}
