// Writes the fuzzers' seed corpus: small valid GGUF and safetensors files, and
// files built at the readers' limits (docs/reliability.md, "Limits of the
// readers"): arrays nested 32 deep with counts as large as the bytes allow, the
// largest and just-too-large alignments, hundreds of keys, names at ggml's
// length limit and holding control bytes, JSON nested to its depth limit.
// Random mutation rarely builds such structure within CI's 20 s per reader;
// starting from it, the fuzzers explore around the limits instead.
// Every seed fits run.sh's -max_len of 4096 bytes.
// For lowbit-quantize's readers (fuzz_sentencepiece, fuzz_hf_json,
// fuzz_imatrix): cut-down copies of the real tinyllama-sotu files (the first
// pieces of tokenizer.model, the first tokens of tokenizer.json) and hostile
// ones: lengths past the end, 11-byte varints, wrong wire types, absurd config
// values, index entries pointing outside the folder, imatrix counts past the end.
// Usage: gen_seeds <dir> [<tests/data/tinyllama-sotu>]
//   (creates <dir>/{gguf,safetensors,sentencepiece,hf_json,imatrix} first)
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <lowbit/formats/gguf.hpp>
#include <lowbit/formats/safetensors.hpp>

#include "../../examples/lowbit-quantize/hf_json.hpp"
#include "../../examples/lowbit-quantize/hf_vocab.hpp"
#include "../../examples/lowbit-quantize/sentencepiece_model.hpp"

using namespace lowbit;
using namespace lowbit::gguf;

namespace {

bool save(const std::string& path, const std::vector<std::uint8_t>& b) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return false;
    const bool ok = std::fwrite(b.data(), 1, b.size(), f) == b.size();
    return std::fclose(f) == 0 && ok;
}

// A GGUF with the given alignment, every metadata type and a few small tensors.
std::vector<std::uint8_t> gguf_seed(std::uint32_t alignment, bool with_metadata, bool with_tensors) {
    gguf_writer w;
    if (alignment != default_alignment && !w.set_alignment(alignment).ok()) std::abort();
    if (with_metadata) {
        const std::int32_t ints[] = {1, -2};
        const std::string_view strs[] = {"a", "bc"};
        const bool ok = w.set("general.architecture", meta_value::string("llama")).ok() &&
                        w.set("u8", meta_value::u8(1)).ok() && w.set("i8", meta_value::i8(-1)).ok() &&
                        w.set("u16", meta_value::u16(2)).ok() && w.set("i16", meta_value::i16(-2)).ok() &&
                        w.set("u32", meta_value::u32(3)).ok() && w.set("i32", meta_value::i32(-3)).ok() &&
                        w.set("f32", meta_value::f32(0.5f)).ok() && w.set("b", meta_value::boolean(true)).ok() &&
                        w.set("u64", meta_value::u64(4)).ok() && w.set("i64", meta_value::i64(-4)).ok() &&
                        w.set("f64", meta_value::f64(0.25)).ok() &&
                        w.set("ai", meta_value::array_of(span<const std::int32_t>(ints, 2))).ok() &&
                        w.set("as", meta_value::array_of_strings(span<const std::string_view>(strs, 2))).ok() &&
                        w.set("aa", meta_value::array(value_type::array,
                                                      {meta_value::array_of(span<const std::int32_t>(ints, 1)),
                                                       meta_value::array(value_type::string, {})}))
                            .ok();
        if (!ok) std::abort();
    }
    if (with_tensors) {
        if (!w.add_tensor("q", gguf_type::q4_0, {32, 2}).ok() || !w.add_tensor("f", gguf_type::f32, {3}).ok() ||
            !w.add_tensor("h", gguf_type::f16, {2, 1, 1, 2}).ok())
            std::abort();
    }
    std::vector<std::uint8_t> out;
    if (!w.write_header(byte_sink::to_vector(out)).ok()) std::abort();
    std::vector<std::uint8_t> data(36 + 12 + 8);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 37);
    if (with_tensors && !w.write_tensor_data(span<const std::uint8_t>(data.data(), data.size())).ok()) std::abort();
    if (!w.finish().ok()) std::abort();
    return out;
}

// Raw GGUF fields, for the seeds the writer refuses to write.
struct raw_gguf {
    std::vector<std::uint8_t> b;
    raw_gguf& le(std::uint64_t v, int n) {
        for (int i = 0; i < n; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
        return *this;
    }
    raw_gguf& str(const std::string& s) {
        le(s.size(), 8);
        b.insert(b.end(), s.begin(), s.end());
        return *this;
    }
    raw_gguf& header(std::uint64_t n_tensors, std::uint64_t n_kv) {
        b.insert(b.end(), {'G', 'G', 'U', 'F'});
        return le(3, 4).le(n_tensors, 8).le(n_kv, 8);
    }
};

// Arrays of arrays max_array_depth deep; each level declares `declared(left)`
// children where `left` is the bytes still to come, the rest is zero bytes.
template <class Count>
std::vector<std::uint8_t> nested_seed(std::size_t size, Count declared) {
    raw_gguf g;
    g.header(0, 1).str("k").le(9, 4);
    for (int l = 0; l < max_array_depth; ++l) {
        const bool last = l + 1 == max_array_depth;
        g.le(last ? 0 : 9, 4);
        const std::size_t left = size > g.b.size() + 8 ? size - g.b.size() - 8 : 0;
        g.le(last ? 0 : declared(left), 8);
    }
    if (g.b.size() < size) g.b.resize(size, 0);
    return g.b;
}

// A valid file whose only metadata is general.alignment = a, and no tensors
// (so no padding: any u32 fits in a few bytes).
std::vector<std::uint8_t> alignment_seed(std::uint32_t a) {
    raw_gguf g;
    g.header(0, 1).str("general.alignment").le(4, 4).le(a, 4);
    return g.b;
}

std::vector<std::uint8_t> many_keys_seed(std::size_t n) {
    raw_gguf g;
    g.header(0, n);
    for (std::size_t i = 0; i < n; ++i) g.str("k" + std::to_string(i)).le(0, 4).le(i & 0xff, 1);
    return g.b;
}

// Tensor names of 63 bytes (the limit), 64 (one past) and with control bytes.
std::vector<std::uint8_t> names_seed(const std::string& name) {
    raw_gguf g;
    g.header(1, 1).str(std::string("key\x1b[2J\0", 9)).le(8, 4).str("v");
    g.str(name).le(1, 4).le(32, 8).le(0, 4).le(0, 8);  // f32 [32] at offset 0
    while (g.b.size() % 32) g.b.push_back(0);
    g.b.resize(g.b.size() + 128, 0);
    return g.b;
}

std::vector<std::uint8_t> safetensors_seed(const std::string& header, std::size_t data_bytes) {
    std::vector<std::uint8_t> f;
    for (int i = 0; i < 8; ++i) f.push_back(static_cast<std::uint8_t>(static_cast<std::uint64_t>(header.size()) >> (8 * i)));
    f.insert(f.end(), header.begin(), header.end());
    for (std::size_t i = 0; i < data_bytes; ++i) f.push_back(static_cast<std::uint8_t>(i * 13 + 1));
    return f;
}

std::vector<std::uint8_t> slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::vector<std::uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

std::vector<std::uint8_t> bytes_of(const std::string& s) { return std::vector<std::uint8_t>(s.begin(), s.end()); }

// ---- tokenizer.model (protobuf) ----
void pb_varint(std::vector<std::uint8_t>& b, std::uint64_t v) {
    while (v >= 0x80) {
        b.push_back(static_cast<std::uint8_t>(v | 0x80));
        v >>= 7;
    }
    b.push_back(static_cast<std::uint8_t>(v));
}
void pb_bytes(std::vector<std::uint8_t>& b, std::uint32_t field, const std::vector<std::uint8_t>& v) {
    pb_varint(b, field << 3 | 2);
    pb_varint(b, v.size());
    b.insert(b.end(), v.begin(), v.end());
}
std::vector<std::uint8_t> pb_piece(const std::string& text, std::int64_t type) {
    std::vector<std::uint8_t> p;
    pb_bytes(p, 1, bytes_of(text));
    p.insert(p.end(), {0x15, 0, 0, 0x80, 0xbf});  // score = -1.0f
    pb_varint(p, 3 << 3);
    pb_varint(p, static_cast<std::uint64_t>(type));
    return p;
}

// The real model's trainer spec and its first `n` pieces (top-level fields
// 1 and 2 in file order), re-encoded; empty when the file is missing.
std::vector<std::uint8_t> cut_sentencepiece(const std::vector<std::uint8_t>& m, std::size_t n) {
    lbq::detail::pb_reader r(m.data(), m.size(), 0);
    std::vector<std::uint8_t> out;
    std::size_t pieces = 0;
    while (!r.done()) {
        std::uint32_t f = 0, w = 0;
        if (!r.key(&f, &w).ok()) return {};
        if (w != 2) {
            if (!r.skip(w).ok()) return {};
            continue;
        }
        const std::uint8_t* p = nullptr;
        std::size_t len = 0;
        if (!r.bytes(&p, &len).ok()) return {};
        if (f == 2 || (f == 1 && pieces++ < n)) pb_bytes(out, f, std::vector<std::uint8_t>(p, p + len));
    }
    return out;
}

// ---- JSON ----
std::string json_quote(const std::string& s) {
    std::string o = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') o += '\\', o += c;
        else if (static_cast<unsigned char>(c) < 0x20) {
            char b[8];
            std::snprintf(b, sizeof b, "\\u%04x", static_cast<unsigned>(c));
            o += b;
        } else o += c;
    }
    return o + "\"";
}
// Writes `v` back as JSON, keeping at most `cap` members / items per object or array.
std::string json_write(const lbq::json_value& v, std::size_t cap) {
    using K = lbq::json_value::kind;
    switch (v.k) {
        case K::string: return json_quote(v.text);
        case K::array: {
            std::string o = "[";
            for (std::size_t i = 0; i < v.items.size() && i < cap; ++i) o += (i ? "," : "") + json_write(v.items[i], cap);
            return o + "]";
        }
        case K::object: {
            std::string o = "{";
            for (std::size_t i = 0; i < v.members.size() && i < cap; ++i)
                o += (i ? "," : "") + json_quote(v.members[i].first) + ":" + json_write(v.members[i].second, cap);
            return o + "}";
        }
        case K::null: return "null";
        default: return v.text;
    }
}
std::vector<std::uint8_t> mode(char m, const std::string& text) {
    std::vector<std::uint8_t> b(1, static_cast<std::uint8_t>(m));
    b.insert(b.end(), text.begin(), text.end());
    return b;
}

// ---- imatrix ----
std::vector<std::uint8_t> imatrix_gguf(float count) {
    gguf_writer w;
    if (!w.add_tensor("blk.0.attn_q.weight.in_sum2", gguf_type::f32, {4, 2}).ok() ||
        !w.add_tensor("blk.0.attn_q.weight.counts", gguf_type::f32, {2}).ok())
        std::abort();
    std::vector<std::uint8_t> out;
    if (!w.write_header(byte_sink::to_vector(out)).ok()) std::abort();
    float v[8 + 2] = {1, 2, 3, 4, 5, 6, 7, 8, 0, 0};
    v[8] = count;
    v[9] = 0.0f;  // a matrix never seen: weights 1
    const std::size_t n_sums = 8 * 4;
    std::vector<std::uint8_t> data(reinterpret_cast<const std::uint8_t*>(v), reinterpret_cast<const std::uint8_t*>(v) + n_sums);
    data.resize(32, 0);  // the counts start at the next 32-byte boundary (offset 32)
    data.insert(data.end(), reinterpret_cast<const std::uint8_t*>(v + 8), reinterpret_cast<const std::uint8_t*>(v + 10));
    if (!w.write_tensor_data(span<const std::uint8_t>(data.data(), data.size())).ok()) std::abort();
    if (!w.finish().ok()) std::abort();
    return out;
}
struct dat {
    std::vector<std::uint8_t> b;
    dat& i32(std::int64_t v) {
        for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(static_cast<std::uint64_t>(v) >> (8 * i)));
        return *this;
    }
    dat& name(const std::string& s) {
        i32(static_cast<std::int64_t>(s.size()));
        b.insert(b.end(), s.begin(), s.end());
        return *this;
    }
};

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2 && argc != 3) {
        std::fprintf(stderr, "usage: %s <corpus dir> [<tinyllama-sotu dir>]\n", argv[0]);
        return 2;
    }
    const std::string d = argv[1];
    bool ok = save(d + "/gguf/full.gguf", gguf_seed(32, true, true)) &&
              save(d + "/gguf/align64.gguf", gguf_seed(64, false, true)) &&
              save(d + "/gguf/metadata_only.gguf", gguf_seed(32, true, false)) &&
              save(d + "/gguf/empty.gguf", gguf_seed(32, false, false));
    ok = ok &&
         save(d + "/safetensors/mixed.safetensors",
              safetensors_seed("{\"__metadata__\": {\"format\": \"pt\", \"n\": \"caf\\u00e9\"},"
                               " \"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]},"
                               " \"h\": {\"dtype\": \"F16\", \"shape\": [3], \"data_offsets\": [16, 22]},"
                               " \"b\": {\"dtype\": \"BF16\", \"shape\": [], \"data_offsets\": [22, 24]},"
                               " \"i\": {\"dtype\": \"I64\", \"shape\": [1, 1], \"data_offsets\": [24, 32],"
                               " \"x\": [1, -2.5e3, true, false, null, {\"k\": \"v\"}]}}  ",
                               32)) &&
         save(d + "/safetensors/empty.safetensors", safetensors_seed("{}", 0)) &&
         save(d + "/safetensors/f4.safetensors",
              safetensors_seed("{\"q\": {\"dtype\": \"F4\", \"shape\": [4], \"data_offsets\": [0, 2]},"
                               " \"e\": {\"dtype\": \"U8\", \"shape\": [0], \"data_offsets\": [2, 2]}}",
                               2));
    // At the limits (see the top of this file).
    const auto all_fit = [](std::size_t left) { return left / 12; };
    const auto few = [](std::size_t) { return std::size_t(3); };
    ok = ok && save(d + "/gguf/nested_max.gguf", nested_seed(4096, all_fit)) &&
         save(d + "/gguf/nested_few.gguf", nested_seed(2048, few)) &&
         save(d + "/gguf/align_1mib.gguf", alignment_seed(max_alignment)) &&
         save(d + "/gguf/align_2mib.gguf", alignment_seed(max_alignment * 2)) &&
         save(d + "/gguf/align_2gib.gguf", alignment_seed(1u << 31)) &&
         save(d + "/gguf/many_keys.gguf", many_keys_seed(240)) &&
         save(d + "/gguf/name_63.gguf", names_seed(std::string(max_tensor_name - 1, 'n'))) &&
         save(d + "/gguf/name_64.gguf", names_seed(std::string(max_tensor_name, 'n'))) &&
         save(d + "/gguf/name_ctrl.gguf", names_seed(std::string("\x1b[31mx\0y\n", 9)));
    std::string meta = "{\"__metadata__\": {";
    for (int i = 0; i < 300; ++i) meta += (i ? ",\"" : "\"") + std::to_string(i) + "\":\"\"";
    meta += "}}";
    std::string deep = "{\"t\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1], \"x\": ";
    for (int i = 0; i < lowbit::detail::json_reader::max_depth - 2; ++i) deep += '[';
    for (int i = 0; i < lowbit::detail::json_reader::max_depth - 2; ++i) deep += ']';
    deep += "}}";
    ok = ok && save(d + "/safetensors/many_keys.safetensors", safetensors_seed(meta, 0)) &&
         save(d + "/safetensors/deep.safetensors", safetensors_seed(deep, 1)) &&
         save(d + "/safetensors/names.safetensors",
              safetensors_seed("{\"\\u001b[2J" + std::string(200, 'n') +
                                   "\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                                   " \"__metadata__\": {\"a\\u0000\": \"\\n\", \"a\": \"\"}}",
                               4));

    // lowbit-quantize's readers.
    const std::string real = argc == 3 ? argv[2] : "";
    if (!real.empty()) {
        const std::vector<std::uint8_t> spm = cut_sentencepiece(slurp(real + "/tokenizer.model"), 60);
        const std::vector<std::uint8_t> cfg = slurp(real + "/config.json"), tc = slurp(real + "/tokenizer_config.json");
        lbq::json_value tj;
        const std::vector<std::uint8_t> tjb = slurp(real + "/tokenizer.json");
        if (spm.empty() || cfg.empty() || tc.empty() ||
            !lbq::parse_json(std::string_view(reinterpret_cast<const char*>(tjb.data()), tjb.size()), &tj).ok()) {
            std::fprintf(stderr, "gen_seeds: cannot read the tokenizer files in %s\n", real.c_str());
            return 1;
        }
        ok = ok && save(d + "/sentencepiece/tinyllama_60.model", spm) &&
             save(d + "/hf_json/config.json", mode(0, std::string(cfg.begin(), cfg.end()))) &&
             save(d + "/hf_json/tokenizer_config.json", mode(2, std::string(tc.begin(), tc.end()))) &&
             save(d + "/hf_json/tokenizer_40.json", mode(1, json_write(tj, 40)));
    }
    {
        std::vector<std::uint8_t> trainer;
        trainer.insert(trainer.end(), {3 << 3, 2, 0x98, 0x02, 1});  // model_type BPE; byte_fallback (field 35) = 1
        trainer.insert(trainer.end(), {0xc0, 0x02, 0x00, 0xc8, 0x02, 0x01, 0xd0, 0x02, 0x02});  // unk 0, bos 1, eos 2
        std::vector<std::uint8_t> ok_model, long_varint, past_end, bad_type, non_utf8, many;
        pb_bytes(ok_model, 2, trainer);
        for (const char* p : {"<unk>", "<s>", "</s>", "<0x0A>", "\xe2\x96\x81the", "a"}) pb_bytes(ok_model, 1, pb_piece(p, 1));
        long_varint = ok_model;
        long_varint.insert(long_varint.end(), {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01});
        past_end = ok_model;
        past_end.insert(past_end.end(), {0x0a, 0xff, 0xff, 0x03, 0x0a});
        pb_bytes(bad_type, 1, pb_piece("x", -1));
        pb_bytes(non_utf8, 1, pb_piece("\xc0\xaf\xff", 1));
        for (int i = 0; i < 1000; ++i) many.insert(many.end(), {0x0a, 0x00});
        ok = ok && save(d + "/sentencepiece/small.model", ok_model) && save(d + "/sentencepiece/varint11.model", long_varint) &&
             save(d + "/sentencepiece/past_end.model", past_end) && save(d + "/sentencepiece/type_neg.model", bad_type) &&
             save(d + "/sentencepiece/non_utf8.model", non_utf8) && save(d + "/sentencepiece/many_empty.model", many);
    }
    {
        const std::string cfg_head =
            R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 32, "hidden_size": 64, "intermediate_size": 128, )";
        std::string nest = "{\"weight_map\": ";
        for (int i = 0; i < lowbit::detail::json_reader::max_depth - 1; ++i) nest += '[';
        for (int i = 0; i < lowbit::detail::json_reader::max_depth - 1; ++i) nest += ']';
        nest += "}";
        ok = ok &&
             save(d + "/hf_json/config_huge_layers.json", mode(0, cfg_head + R"("num_hidden_layers": 1e9, "num_attention_heads": 4})")) &&
             save(d + "/hf_json/config_llama3.json",
                  mode(0, cfg_head + R"("num_hidden_layers": 2, "num_attention_heads": 6, "num_key_value_heads": 4, "head_dim": 2147483648, )"
                             R"("rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1, "high_freq_factor": 4, )"
                             R"("original_max_position_embeddings": 8192}})")) &&
             save(d + "/hf_json/config_zero.json", mode(0, cfg_head + R"("hidden_size": 0, "num_hidden_layers": "2", "num_attention_heads": true})")) &&
             save(d + "/hf_json/index.json",
                  mode(3, R"({"metadata": {"total_size": 1}, "weight_map": {"a": "model-00001-of-00002.safetensors", )"
                          R"("b": "../x.safetensors", "c": "/etc/passwd", "d": "x\u0000y", "e": "\u001b[2J", "f": ".."}})")) &&
             save(d + "/hf_json/index_deep.json", mode(3, nest)) &&
             save(d + "/hf_json/tokenizer_gpt2.json",
                  mode(1, std::string(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b", ["a", "b"]]}, )"
                                      R"("added_tokens": [{"id": 3, "content": "<|x|>", "special": false}, {"id": 99999999, "content": "y"}], )"
                                      R"("pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": )") +
                              json_quote(lbq::detail::llama3_pre_regex()) +
                              R"(}}, {"type": "ByteLevel", "use_regex": false}]}})")) &&
             save(d + "/hf_json/tokenizer_unigram.json",
                  mode(1, R"({"model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], ["a", -1.5], ["a", -2], ["\ud800", 1e999]]}})")) &&
             save(d + "/hf_json/tokenizer_config_decoder.json",
                  mode(2, R"({"added_tokens_decoder": {"1": {"content": "\u2581hi", "special": false}, "18446744073709551617": {"content": "z"}, )"
                          R"("-1": {"content": "q"}}, "bos_token": {"content": "<s>"}, "add_bos_token": false, "chat_template": "{{x}}"})"));
    }
    {
        dat legacy, huge_count, past_end, dup;
        legacy.i32(2).name("blk.0.attn_q.weight").i32(10).i32(4).i32(0x3f800000).i32(0x40000000).i32(0).i32(0x3f000000);
        legacy.name("output.weight").i32(0).i32(1).i32(0x3f800000).i32(1).name("calib.txt");
        huge_count.i32(0x7fffffff).name("a").i32(1).i32(1).i32(0);
        past_end.i32(1).name("a").i32(1).i32(0x40000000).i32(0);
        dup.i32(3).name("a").i32(1).i32(1).i32(0).name("a").i32(1).i32(2).i32(0).i32(0).name("a").i32(-5).i32(1).i32(0x7f800000);
        ok = ok && save(d + "/imatrix/model.imatrix.gguf", imatrix_gguf(10.0f)) && save(d + "/imatrix/zero_count.gguf", imatrix_gguf(0.0f)) &&
             save(d + "/imatrix/legacy.dat", legacy.b) && save(d + "/imatrix/huge_count.dat", huge_count.b) &&
             save(d + "/imatrix/past_end.dat", past_end.b) && save(d + "/imatrix/dup_inf.dat", dup.b);
    }
    if (!ok) {
        std::fprintf(stderr, "gen_seeds: could not write into %s/{gguf,safetensors,sentencepiece,hf_json,imatrix}\n", d.c_str());
        return 1;
    }
    return 0;
}
