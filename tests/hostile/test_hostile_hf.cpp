// Hostile input to lowbit-quantize's readers of Hugging Face folders and
// imatrix files (examples/lowbit-quantize/): the JSON tree of config.json,
// tokenizer.json, tokenizer_config.json and model.safetensors.index.json, the
// protobuf reader of tokenizer.model, the folder's shard names and links, and
// llama.cpp's imatrix formats. Each gets one clear error, no crash, and memory
// bounded per input byte (docs/reliability.md); the fuzzers in tests/fuzz/
// check the same bounds on random input.
//
// A binary of its own (not test_hostile): the tool's headers are POSIX-only,
// and alloc_meter.hpp, which replaces operator new, may be included by one
// translation unit per program.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "../../examples/lowbit-quantize/hf_folder.hpp"
#include "../../examples/lowbit-quantize/hf_json.hpp"
#include "../../examples/lowbit-quantize/hf_llama.hpp"
#include "../../examples/lowbit-quantize/hf_vocab.hpp"
#include "../../examples/lowbit-quantize/model_source.hpp"
#include "../../examples/lowbit-quantize/sentencepiece_model.hpp"
#include "alloc_meter.hpp"
#include "../tool_test_util.hpp"

namespace {

using bytes_t = std::vector<std::uint8_t>;
const std::string data_dir = std::string(LOWBIT_TEST_DATA_DIR) + "/tinyllama-sotu";

bool says(const lowbit::status& s, const char* what) { return !s.ok() && std::string(s.message()).find(what) != std::string::npos; }

bool no_control_bytes(const char* s) {
    for (; *s; ++s)
        if (static_cast<unsigned char>(*s) < 0x20 || *s == 0x7f) return false;
    return true;
}

lbq::json_value json(const std::string& text) {
    lbq::json_value v;
    REQUIRE(lbq::parse_json(text, &v).ok());
    return v;
}

using namespace tool_test;

// A folder holding links to the real checkpoint's files.
void link_files(const std::string& dir, const std::vector<std::string>& files) {
    REQUIRE(::mkdir(dir.c_str(), 0755) == 0);
    for (const std::string& f : files) REQUIRE(::symlink((data_dir + "/" + f).c_str(), (dir + "/" + f).c_str()) == 0);
}

// ---- protobuf ----
void varint(bytes_t& b, std::uint64_t v) {
    while (v >= 0x80) {
        b.push_back(static_cast<std::uint8_t>(v | 0x80));
        v >>= 7;
    }
    b.push_back(static_cast<std::uint8_t>(v));
}
void field_bytes(bytes_t& b, std::uint32_t field, const bytes_t& v) {
    varint(b, field << 3 | 2);
    varint(b, v.size());
    b.insert(b.end(), v.begin(), v.end());
}
bytes_t piece(const std::string& text, std::int64_t type = 1) {
    bytes_t p;
    field_bytes(p, 1, bytes_t(text.begin(), text.end()));
    p.insert(p.end(), {0x15, 0, 0, 0, 0});  // score 0
    varint(p, 3 << 3);
    varint(p, static_cast<std::uint64_t>(type));
    return p;
}
bytes_t model_of(const std::vector<std::string>& texts) {
    bytes_t m;
    for (const std::string& t : texts) field_bytes(m, 1, piece(t));
    return m;
}

lowbit::status sp_vocab(const bytes_t& model, std::uint64_t n_vocab, lbq::gguf_vocab* v) {
    const lbq::json_value none;
    return lbq::vocab_from_files(&model, nullptr, none, none, n_vocab, v);
}

std::size_t peak_of(const std::function<void()>& f) {
    const std::size_t base = alloc_meter::mark();
    f();
    return alloc_meter::peak_since(base);
}

}  // namespace

TEST_CASE("hostile hf: JSON text that is truncated, too deep or not JSON is one error naming the offset") {
    lbq::json_value v;
    for (const char* bad : {"", "{", "{\"a\": [1, 2", "{\"a\": tru}", "[1,]", "{\"a\" 1}", "\"\\ud800\"", "[1] 2", "{\"a\": 01}"}) {
        CAPTURE(bad);
        const lowbit::status s = lbq::parse_json(bad, &v);
        CHECK(!s.ok());
        CHECK(std::string(s.message()).find("byte") != std::string::npos);
    }
    const int depth = lowbit::detail::json_reader::max_depth;
    CHECK(lbq::parse_json(std::string(depth, '[') + std::string(depth, ']'), &v).ok());
    CHECK(says(lbq::parse_json(std::string(depth + 1, '[') + std::string(depth + 1, ']'), &v), "nesting deeper than 64"));
    CHECK(says(lbq::parse_json(std::string(100000, '['), &v), "nesting deeper than 64"));
}

TEST_CASE("hostile hf: the JSON tree holds at most 160 bytes per input byte") {
    // The densest trees: one value per 2 bytes, empty containers, short keys.
    const std::size_t n = 1 << 18;
    std::string zeros = "[", empties = "[", keys = "{";
    for (std::size_t i = 0; i < n; ++i) {
        zeros += i ? ",0" : "0";
        empties += i ? ",[]" : "[]";
        keys += (i ? ",\"" : "\"") + std::to_string(i % 10) + "\":{}";
    }
    zeros += "]", empties += "]", keys += "}";
    for (const std::string* t : {&zeros, &empties, &keys}) {
        lbq::json_value v;
        bool ok = false;
        const std::size_t peak = peak_of([&] { ok = lbq::parse_json(*t, &v).ok(); });
        CHECK(ok);
        CAPTURE(t->size());
        CHECK(peak <= 160 * t->size() + 65536);
        MESSAGE("JSON tree of ", t->size(), " bytes: ", peak, " bytes held (", static_cast<double>(peak) / t->size(), " per byte)");
    }
}

TEST_CASE("hostile hf: tokenizer.model with lengths past the end, long varints, bad types") {
    lbq::sp_model m;
    auto read = [&](const bytes_t& b) { return lbq::read_sentencepiece_model(lowbit::span<const std::uint8_t>(b.data(), b.size()), &m); };
    CHECK(says(read({}), "no pieces"));
    CHECK(says(read({0x0a, 0x05, 0x0a, 0x01}), "length runs past the end of its message"));
    CHECK(says(read({0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}), "length runs past the end of its message"));  // 2^32 - 1
    {
        bytes_t b = {0x0a, 0x03, 0x0a, 0x09, 0x61};  // the piece's string claims 9 bytes inside a 3-byte message
        CHECK(says(read(b), "length runs past the end of its message"));
    }
    {
        bytes_t b = model_of({"a"});
        b.push_back(0x28);  // field 5 (skipped), a varint of 11 bytes
        for (int i = 0; i < 10; ++i) b.push_back(0xff);
        b.push_back(0x01);
        CHECK(says(read(b), "varint longer than 10 bytes"));
    }
    CHECK(says(read({0x28}), "truncated varint"));
    CHECK(says(read({0x28, 0x80}), "truncated varint"));
    CHECK(says(read({0x2b, 0x2c}), "unsupported wire type"));  // a group, field 5
    CHECK(says(read({0x00}), "invalid field number"));
    CHECK(says(read({0x08, 0x01}), "field ModelProto.pieces has wire type 0"));
    {
        bytes_t b;
        field_bytes(b, 1, piece("a", -1));  // type -1 (a 10-byte varint)
        CHECK(says(read(b), "SentencePiece.type is not one of NORMAL..BYTE"));
        b.clear();
        field_bytes(b, 1, piece("a", 7));
        CHECK(says(read(b), "SentencePiece.type is not one of NORMAL..BYTE"));
    }
    {
        bytes_t p = {0x15, 0, 0};  // a score cut short
        bytes_t b;
        field_bytes(b, 1, p);
        CHECK(says(read(b), "truncated 32-bit field"));
    }
}

TEST_CASE("hostile hf: tokenizer.model pieces that are not UTF-8, defined twice, or ids outside the vocabulary") {
    lbq::gguf_vocab v;
    CHECK(says(sp_vocab(model_of({"a", "\xc0\xaf", "b"}), 3, &v), "tokenizer.model: piece 1 is not valid UTF-8"));
    CHECK(says(sp_vocab(model_of({"a", std::string("x\0y", 3) + "\xff"}), 2, &v), "piece 1 is not valid UTF-8"));
    CHECK(says(sp_vocab(model_of({"a", "b", "a"}), 3, &v), "tokenizer.model: pieces 0 and 2 are both 'a'"));
    CHECK(says(sp_vocab(model_of({"\x1b[2J", "b", "\x1b[2J"}), 3, &v), "both '\\x1b[2J'"));  // escaped, not sent to the terminal
    {
        // The same text as a normal and a control piece: two namespaces in SentencePiece, accepted.
        bytes_t m;
        field_bytes(m, 1, piece("<s>", 3));
        field_bytes(m, 1, piece("<s>", 1));
        CHECK(sp_vocab(m, 2, &v).ok());
    }
    {
        // bos / eos / unk / pad ids outside the pieces, negative or huge: not written.
        bytes_t m = model_of({"a", "b", "c"});
        bytes_t trainer;
        for (std::uint32_t f : {40u, 41u, 42u, 43u}) {
            varint(trainer, f << 3);
            varint(trainer, f == 41 ? 5000 : f == 42 ? static_cast<std::uint64_t>(-7) : f == 43 ? 0x7fffffff : 0);
        }
        field_bytes(m, 2, trainer);
        REQUIRE(sp_vocab(m, 3, &v).ok());
        REQUIRE(v.special_ids.size() == 1);
        CHECK(v.special_ids[0].first == "unk");
        CHECK(v.special_ids[0].second == 0);
    }
    {
        bytes_t m = model_of({"a"});
        bytes_t trainer = {0x18, 0x03};  // model_type WORD
        field_bytes(m, 2, trainer);
        CHECK(says(sp_vocab(m, 1, &v), "model type 3; only Unigram (1) and BPE (2) are supported"));
    }
    CHECK(says(sp_vocab(model_of({"a", "b"}), 3, &v), "tokenizer.model has 2 tokens but config.json vocab_size is 3"));
}

TEST_CASE("hostile hf: a tokenizer.model of many pieces costs memory linear in its size") {
    // 2 bytes per empty piece, the densest form: the reader holds one sp_piece each.
    bytes_t empties;
    for (int i = 0; i < (1 << 18); ++i) empties.insert(empties.end(), {0x0a, 0x00});
    lbq::sp_model m;
    bool ok = false;
    std::size_t peak = peak_of([&] { ok = lbq::read_sentencepiece_model(lowbit::span<const std::uint8_t>(empties.data(), empties.size()), &m).ok(); });
    CHECK(ok);
    CHECK(m.pieces.size() == (1u << 18));
    CHECK(peak <= 64 * empties.size() + 65536);
    MESSAGE("2^18 empty pieces (", empties.size(), " bytes): ", peak, " bytes held");
    m = lbq::sp_model{};
    // Distinct short pieces through the whole vocabulary (duplicate check included).
    std::vector<std::string> texts;
    for (int i = 0; i < (1 << 16); ++i) texts.push_back({static_cast<char>('a' + i % 26), static_cast<char>('a' + i / 26 % 26),
                                                         static_cast<char>('a' + i / 676 % 26), static_cast<char>('a' + i / 17576)});
    const bytes_t model = model_of(texts);
    lbq::gguf_vocab v;
    peak = peak_of([&] { ok = sp_vocab(model, texts.size(), &v).ok(); });
    CHECK(ok);
    CHECK(peak <= 64 * model.size() + 65536);
    MESSAGE("2^16 pieces (", model.size(), " bytes) to a vocabulary: ", peak, " bytes held");
}

TEST_CASE("hostile hf: config.json values of the wrong type or absurd are refused by name") {
    const std::string head = R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 1024, "intermediate_size": 768, )";
    auto hp = [&](const std::string& rest) {
        lbq::llama_hparams h;
        return lbq::read_llama_hparams(json(head + rest), &h);
    };
    const std::string ok_rest = R"("hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 8})";
    CHECK(hp(ok_rest).ok());
    CHECK(says(hp(R"("hidden_size": 256, "num_hidden_layers": 1e9, "num_attention_heads": 8})"),
               "num_hidden_layers = 1e9 is not a positive integer below 2^31"));
    CHECK(says(hp(R"("hidden_size": 256, "num_hidden_layers": "2", "num_attention_heads": 8})"), "num_hidden_layers = 2 is not a positive integer"));
    CHECK(says(hp(R"("hidden_size": 256, "num_hidden_layers": 4294967297, "num_attention_heads": 8})"), "num_hidden_layers = 4294967297"));
    CHECK(says(hp(R"("hidden_size": 256, "num_hidden_layers": 99999999999999999999999, "num_attention_heads": 8})"), "num_hidden_layers"));
    CHECK(says(hp(R"("hidden_size": 0, "num_hidden_layers": 2, "num_attention_heads": 8})"), "hidden_size = 0 is not a positive integer"));
    CHECK(says(hp(R"("hidden_size": -256, "num_hidden_layers": 2, "num_attention_heads": 8})"), "hidden_size = -256"));
    CHECK(says(hp(R"("hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": true})"), "num_attention_heads"));
    CHECK(says(hp(R"("hidden_size": 256, "num_hidden_layers": 2})"), "config.json has no num_attention_heads"));
    CHECK(says(hp(R"("hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 6, "num_key_value_heads": 4})"),
               "num_attention_heads 6 is not a multiple of num_key_value_heads 4"));
    CHECK(says(hp(R"("hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 8})"),
               "is not a multiple of num_key_value_heads 8"));
    CHECK(says(hp(R"("hidden_size": 6, "num_hidden_layers": 2, "num_attention_heads": 2})"), "head_dim 3 must be even"));
    CHECK(says(hp(R"("hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 8, "rms_norm_eps": "1e-5"})"), "rms_norm_eps"));
    CHECK(says(hp(R"("hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 8, "rope_theta": 1e999})"), "rope_theta"));
    CHECK(says(hp(R"("hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 8, "rope_scaling": [1]})"), "is not an object"));
    CHECK(says(hp(R"("hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 8, "tie_word_embeddings": 1})"), "tie_word_embeddings"));
    lbq::llama_hparams h;
    CHECK(says(lbq::read_llama_hparams(json(R"({"architectures": "LlamaForCausalLM"})"), &h), "has no \"architectures\""));
    CHECK(says(lbq::read_llama_hparams(json("[]"), &h), "has no \"architectures\""));
}

TEST_CASE("hostile hf: config.json cannot size anything the checkpoint does not back") {
    // llama3 RoPE with head_dim = 2^31 would be a rope_freqs tensor of 2^30
    // floats: refused on the first attn_q shape, with little memory held.
    tmpdir d;
    link_files(d / "rope", {"model.safetensors", "tokenizer.model"});
    write_file(d / "rope/config.json", R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 1024, "hidden_size": 256,
        "intermediate_size": 768, "num_hidden_layers": 8, "num_attention_heads": 1, "num_key_value_heads": 1, "head_dim": 2147483648,
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192}})");
    lbq::hf_folder f;
    REQUIRE(f.open(d / "rope").ok());
    lbq::model_source src;
    lowbit::status s;
    const std::size_t peak = peak_of([&] { s = lbq::open_hf_llama(f, &src); });
    CHECK(says(s, "tensor 'model.layers.0.self_attn.k_proj.weight' has shape [128, 256]; config.json implies [2147483648, 256]"));
    CHECK(peak < (std::size_t(64) << 20));
    // A layer count far past the tensors.
    link_files(d / "layers", {"model.safetensors", "tokenizer.model"});
    write_file(d / "layers/config.json", R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 1024, "hidden_size": 256,
        "intermediate_size": 768, "num_hidden_layers": 1000000000, "num_attention_heads": 8})");
    lbq::hf_folder g;
    REQUIRE(g.open(d / "layers").ok());
    CHECK(says(lbq::open_hf_llama(g, &src), "config.json says 1000000000 layers but the checkpoint has only 75 tensors"));
}

TEST_CASE("hostile hf: an index naming files outside the folder, or odd names, is refused") {
    for (const char* name : {"../model.safetensors", "/etc/passwd", "sub/model.safetensors", "..", ".", "", "a\\u0000b", "\\u001b[2J.safetensors",
                             "a\\nb", "a\\u007f"}) {
        CAPTURE(name);
        std::map<std::string, std::string> wm;
        std::vector<std::string> parts;
        const lowbit::status s = lbq::hf_folder::read_weight_map(
            json(std::string(R"({"weight_map": {"\u001b]0;x\u0007w": ")") + name + "\"}}"), &wm, &parts);
        CHECK(says(s, "maps to an invalid file name"));
        CHECK(no_control_bytes(s.message()));
    }
    std::map<std::string, std::string> wm;
    std::vector<std::string> parts;
    CHECK(says(lbq::hf_folder::read_weight_map(json(R"({"weight_map": {"a": 1}})"), &wm, &parts), "invalid file name"));
    CHECK(says(lbq::hf_folder::read_weight_map(json(R"({"weight_map": ["a"]})"), &wm, &parts), "no \"weight_map\" object"));
    CHECK(says(lbq::hf_folder::read_weight_map(json(R"([])"), &wm, &parts), "no \"weight_map\" object"));
    CHECK(says(lbq::hf_folder::read_weight_map(json(std::string(R"({"weight_map": {"a": ")") + std::string(256, 'x') + "\"}}"), &wm, &parts),
               "invalid file name"));

    // In a folder: the shard ../model.safetensors exists, yet is not read.
    tmpdir d;
    link_files(d / "up", {"config.json", "tokenizer.model"});
    REQUIRE(::symlink((data_dir + "/model.safetensors").c_str(), (d / "model.safetensors").c_str()) == 0);
    write_file(d / "up/model.safetensors.index.json", R"({"weight_map": {"model.norm.weight": "../model.safetensors"}})");
    lbq::hf_folder f;
    CHECK(says(f.open(d / "up"), "maps to an invalid file name"));
}

TEST_CASE("hostile hf: links in the folder are followed to regular files only; FIFOs and devices are not read") {
    tmpdir d;
    // A Hugging Face cache snapshot is links into ../../blobs: followed.
    link_files(d / "snap", {"config.json", "model.safetensors", "tokenizer.model"});
    lbq::hf_folder f;
    CHECK(f.open(d / "snap").ok());
    // model.safetensors as a link to a device, or a FIFO: not a weight file (no hang, no read).
    link_files(d / "dev", {"config.json", "tokenizer.model"});
    REQUIRE(::symlink("/dev/zero", (d / "dev/model.safetensors").c_str()) == 0);
    lbq::hf_folder g;
    CHECK(says(g.open(d / "dev"), "no model.safetensors"));
    link_files(d / "fifo", {"config.json", "tokenizer.model"});
    REQUIRE(::mkfifo((d / "fifo/model.safetensors").c_str(), 0644) == 0);
    lbq::hf_folder h;
    CHECK(says(h.open(d / "fifo"), "no model.safetensors"));
    // config.json as a FIFO: not a model folder.
    REQUIRE(::mkdir((d / "cfifo").c_str(), 0755) == 0);
    REQUIRE(::mkfifo((d / "cfifo/config.json").c_str(), 0644) == 0);
    lbq::hf_folder k;
    CHECK(says(k.open(d / "cfifo"), "no config.json"));
    // A config.json past the small-file cap (a sparse file: nothing is read).
    link_files(d / "big", {"model.safetensors", "tokenizer.model"});
    {
        const int fd = ::open((d / "big/config.json").c_str(), O_CREAT | O_WRONLY, 0644);
        REQUIRE(fd >= 0);
        REQUIRE(::ftruncate(fd, static_cast<off_t>(lbq::hf_folder::max_small_file + 1)) == 0);
        ::close(fd);
    }
    lbq::hf_folder b;
    CHECK(says(b.open(d / "big"), "config.json is 134217729 bytes; more than the 134217728 read for a metadata file"));
    // An index naming a shard that is a directory: missing, not opened.
    link_files(d / "dir", {"config.json", "tokenizer.model"});
    REQUIRE(::mkdir((d / "dir/model-00001-of-00001.safetensors").c_str(), 0755) == 0);
    write_file(d / "dir/model.safetensors.index.json", R"({"weight_map": {"model.norm.weight": "model-00001-of-00001.safetensors"}})");
    lbq::hf_folder l;
    CHECK(says(l.open(d / "dir"), "model-00001-of-00001.safetensors named by model.safetensors.index.json is missing"));
}

TEST_CASE("hostile hf: tokenizer.json and tokenizer_config.json of the wrong shape") {
    const lbq::json_value none;
    lbq::gguf_vocab v;
    auto tj = [&](const std::string& t, std::uint64_t n = 3) {
        const lbq::json_value j = json(t);
        return lbq::vocab_from_files(nullptr, &j, none, none, n, &v);
    };
    CHECK(says(tj("[]"), "tokenizer.json has no model.type"));
    CHECK(says(tj(R"({"model": {"type": 1}})"), "no model.type"));
    CHECK(says(tj(R"({"model": {"type": "WordPiece"}})"), "model type 'WordPiece' is not supported"));
    CHECK(says(tj(R"({"model": {"type": "BPE", "byte_fallback": true, "vocab": ["a"]}})"), "model.vocab is not an object"));
    CHECK(says(tj(R"({"model": {"type": "BPE", "byte_fallback": true, "vocab": {"a": "0"}}})"), "vocab entry 'a' has no integer id"));
    CHECK(says(tj(R"({"model": {"type": "BPE", "byte_fallback": true, "vocab": {"a": 0.0}}})"), "vocab entry 'a' has no integer id"));
    CHECK(says(tj(R"({"model": {"type": "BPE", "byte_fallback": true, "vocab": {"a": -1}}})"), "token id -1 is outside"));
    CHECK(says(tj(R"({"model": {"type": "BPE", "byte_fallback": true, "vocab": {"a": 0, "b": 2}}, "added_tokens": [{"id": 0, "content": "a"}]})"),
               "no token has id 1"));
    CHECK(says(tj(R"({"model": {"type": "BPE", "byte_fallback": true, "vocab": {"a": 0, "b": 2}}})"), "token id 2 is outside 0..1"));
    // Duplicate tokens: one id with two texts is refused; one text at two ids is kept, as the converter keeps it.
    CHECK(says(tj(R"({"model": {"type": "BPE", "byte_fallback": true, "vocab": {"a": 0, "b": 0}}})"), "id 0 is both 'a' and 'b'"));
    CHECK(tj(R"({"model": {"type": "BPE", "byte_fallback": true, "vocab": {"a": 0, "a": 1}}})", 2).ok());
    CHECK(says(tj(R"({"model": {"type": "Unigram", "vocab": {"a": 0}}})"), "model.vocab is not an array"));
    CHECK(says(tj(R"({"model": {"type": "Unigram", "vocab": [["a", "x"]]}})"), "Unigram vocab entry 0 is not [piece, score]"));
    CHECK(says(tj(R"({"model": {"type": "Unigram", "vocab": [[1, 0.5]]}})"), "Unigram vocab entry 0 is not [piece, score]"));
    CHECK(says(tj(R"({"model": {"type": "Unigram", "vocab": ["a"]}})"), "Unigram vocab entry 0 is not [piece, score]"));
    CHECK(says(tj(R"({"model": {"type": "Unigram", "vocab": [["a", 1e999]]}})"), "Unigram vocab entry 0 is not [piece, score]"));
    CHECK(says(tj(R"({"model": {"type": "Unigram", "vocab": [["a", 0]]}, "added_tokens": [{"id": "0", "content": "a"}]})"),
               "added_tokens entry lacks an integer id"));
    CHECK(says(tj(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a a"]}})"), "pre-tokenizer is not LLaMA-3's"));
    // tokenizer_config.json's added_tokens_decoder: malformed keys refused; ids past the vocabulary leave it alone.
    const lbq::json_value small = json(R"({"model": {"type": "BPE", "byte_fallback": true, "vocab": {"<unk>": 0, "<s>": 1, "a": 2}}})");
    auto tc = [&](const std::string& t) { return lbq::vocab_from_files(nullptr, &small, json(t), none, 3, &v); };
    CHECK(says(tc(R"({"added_tokens_decoder": {"x": {"content": "y"}}})"), "added_tokens_decoder entry 'x' is malformed"));
    CHECK(says(tc(R"({"added_tokens_decoder": {"1": {"content": 5}}})"), "added_tokens_decoder entry '1' is malformed"));
    CHECK(says(tc(R"({"added_tokens_decoder": {"": {"content": "y"}}})"), "added_tokens_decoder entry '' is malformed"));
    REQUIRE(tc(R"({"added_tokens_decoder": {"18446744073709551617": {"content": "z"}, "99": {"content": "z"}}, "bos_token": 7,
                  "add_bos_token": "yes", "chat_template": ["x"]})")
                .ok());
    CHECK(v.tokens == std::vector<std::string>{"<unk>", "<s>", "a"});
    CHECK(!v.chat_template);
    CHECK(v.add_bos);  // a non-boolean add_bos_token is ignored, as the converter's dict.get of a bool
}

TEST_CASE("hostile hf: imatrix files, legacy and GGUF, that lie about their sizes") {
    lbq::imatrix im;
    auto load = [&](const bytes_t& b) { return im.load(lowbit::span<const std::uint8_t>(b.data(), b.size())); };
    struct dat {
        bytes_t b;
        dat& i32(std::int64_t v) {
            for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(static_cast<std::uint64_t>(v) >> (8 * i)));
            return *this;
        }
        dat& name(const std::string& s) { return i32(static_cast<std::int64_t>(s.size())), b.insert(b.end(), s.begin(), s.end()), *this; }
    };
    CHECK(says(load({}), "not an imatrix file"));
    CHECK(says(load(dat().i32(0).b), "not an imatrix file"));
    CHECK(says(load(dat().i32(-1).b), "not an imatrix file"));
    CHECK(says(load(dat().i32(0x7fffffff).name("a").i32(1).i32(1).i32(0).b), "imatrix entry 1: bad name length"));
    CHECK(says(load(dat().i32(1).i32(1000).b), "imatrix entry 0: bad name length"));
    CHECK(says(load(dat().i32(1).i32(-4).b), "imatrix entry 0: bad name length"));
    CHECK(says(load(dat().i32(1).name("w").i32(1).i32(0x40000000).i32(0).b), "imatrix entry 'w': truncated"));
    CHECK(says(load(dat().i32(1).name("w").i32(1).i32(-2).b), "imatrix entry 'w': truncated"));
    CHECK(says(load(dat().i32(1).name("w").i32(1).i32(2).i32(0).b), "imatrix entry 'w': truncated"));
    CHECK(says(load(dat().i32(1).name("w\x1b[2J").i32(1).i32(1).i32(0x7f800000).b), "imatrix entry 'w\\x1b[2J' has a non-finite value"));
    CHECK(says(load(dat().i32(1).name("w").i32(0).i32(1).i32(0x7fc00000).b), "non-finite"));
    // A name given twice: the last entry counts (llama.cpp's loader overwrites too).
    REQUIRE(load(dat().i32(2).name("w").i32(1).i32(1).i32(0x3f800000).name("w").i32(2).i32(2).i32(0x40000000).i32(0x40800000).b).ok());
    REQUIRE(im.find("w"));
    CHECK(*im.find("w") == std::vector<float>{1.0f, 2.0f});
    CHECK(im.size() == 1);  // nothing left from the files refused above

    // GGUF: .in_sum2 without F32 .counts, counts that do not match, no entries at all.
    auto gguf_of = [](const std::vector<std::pair<std::string, std::vector<std::uint64_t>>>& tensors, lbq::gguf_type type) {
        lowbit::gguf::gguf_writer w;
        for (const auto& t : tensors) {
            REQUIRE(w.add_tensor(t.first, t.first.find(".counts") != std::string::npos ? lbq::gguf_type::f32 : type,
                                 std::vector<std::uint64_t>(t.second))
                        .ok());
        }
        bytes_t out;
        REQUIRE(w.write_header(lowbit::gguf::byte_sink::to_vector(out)).ok());
        std::size_t need = 0;
        for (const auto& t : tensors) {
            std::uint64_t n = 1;
            for (std::uint64_t x : t.second) n *= x;
            need += static_cast<std::size_t>(n) * (type == lbq::gguf_type::f16 && t.first.find(".counts") == std::string::npos ? 2 : 4);
        }
        bytes_t data(need, 0);  // the tensors' bytes back to back: the writer pads them
        REQUIRE(w.write_tensor_data(lowbit::span<const std::uint8_t>(data.data(), data.size())).ok());
        REQUIRE(w.finish().ok());
        return out;
    };
    CHECK(says(load(gguf_of({{"w.in_sum2", {4, 2}}}, lbq::gguf_type::f32)), "imatrix entry 'w' needs F32 .in_sum2 and .counts tensors"));
    CHECK(says(load(gguf_of({{"w.in_sum2", {4, 2}}, {"w.counts", {2}}}, lbq::gguf_type::f16)), "needs F32 .in_sum2 and .counts"));
    CHECK(says(load(gguf_of({{"w.in_sum2", {4, 2}}, {"w.counts", {3}}}, lbq::gguf_type::f32)), "imatrix entry 'w': 3 counts for 2 matrices"));
    CHECK(says(load(gguf_of({{"w.sums", {4}}}, lbq::gguf_type::f32)), "GGUF file has no imatrix entries"));
    CHECK(says(load({'G', 'G', 'U', 'F', 3, 0}), "gguf"));
}

TEST_CASE("hostile hf: an imatrix of many tiny entries costs memory linear in its size") {
    bytes_t b;
    auto i32 = [&](std::uint32_t v) {
        for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    };
    const std::uint32_t n = 1 << 16;
    i32(n);
    for (std::uint32_t e = 0; e < n; ++e) {
        i32(4);
        for (int k = 0; k < 4; ++k) b.push_back(static_cast<std::uint8_t>('a' + (e >> (4 * k)) % 16));
        i32(1), i32(1), i32(0x3f800000);
    }
    lbq::imatrix im;
    bool ok = false;
    const std::size_t peak = peak_of([&] { ok = im.load(lowbit::span<const std::uint8_t>(b.data(), b.size())).ok(); });
    CHECK(ok);
    CHECK(im.size() == n);
    CHECK(peak <= 32 * b.size() + 65536);
    MESSAGE("imatrix of 2^16 entries (", b.size(), " bytes): ", peak, " bytes held");
}

TEST_CASE("hostile hf: a token of a million U+2581 becomes a million spaces in one pass") {
    // The gpt2 path used to replace them one find-and-replace at a time: quadratic
    // in the token's length (a 3 MB token meant ~10^12 byte moves).
    const std::size_t n = 1 << 20;
    std::string u2581;
    for (std::size_t i = 0; i < n; ++i) u2581 += "\xe2\x96\x81";
    const std::string pre = std::string(R"({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": ")") +
                            [] {
                                std::string q;
                                for (const char* c = lbq::detail::llama3_pre_regex(); *c; ++c) q += *c == '\\' || *c == '"' ? std::string("\\") + *c : std::string(1, *c);
                                return q;
                            }() +
                            R"("}}, {"type": "ByteLevel", "use_regex": false}]})";
    const lbq::json_value tj = json(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a a"]}, "pre_tokenizer": )" + pre +
                                    R"(, "added_tokens": [{"id": 1, "content": ")" + u2581 + R"(", "special": false}]})");
    const lbq::json_value none;
    lbq::gguf_vocab v;
    REQUIRE(lbq::vocab_from_files(nullptr, &tj, none, none, 2, &v).ok());
    CHECK(v.model == "gpt2");
    CHECK(v.tokens[1] == std::string(n, ' '));
    // The same through tokenizer_config.json's added_tokens_decoder.
    const lbq::json_value small = json(R"({"model": {"type": "BPE", "byte_fallback": true, "vocab": {"<unk>": 0, "<s>": 1, "a": 2}}})");
    REQUIRE(lbq::vocab_from_files(nullptr, &small, json(R"({"added_tokens_decoder": {"2": {"content": ")" + u2581 + R"("}}})"), none, 3, &v)
                .ok());
    CHECK(v.tokens[2] == std::string(n, ' '));
}
