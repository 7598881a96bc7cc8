// Tests of lowbit-llama's text side (examples/llama): the SentencePiece and
// byte-level BPE tokenizers built from a GGUF vocabulary, and the perplexity /
// KL-divergence evaluator with llama-perplexity's base-logits file.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <lowbit/formats/detail/json.hpp>

#include "gguf_io.hpp"
#include "tokenizer.hpp"

namespace {

std::string slurp(const std::string& path) {
    auto b = llama::read_file(path.c_str());
    REQUIRE_MESSAGE(b.ok(), b.error().message());
    return std::string(b->begin(), b->end());
}

const std::string data_dir = LOWBIT_TINYLLAMA_DIR;

// The tokenizer.ggml.* metadata of converter-f16.json (what llama.cpp's
// converter wrote for tests/data/tinyllama-sotu) as a vocabulary. The JSON
// reader validates numbers without converting them, so the raw text of each
// number is taken from the reader's offsets and converted here.
llama::vocab converter_vocab() {
    const std::string text = slurp(data_dir + "/converter-f16.json");
    lowbit::detail::json_reader j(text, 0);
    auto raw = [&](std::string* out) {
        const std::size_t a = j.offset();
        REQUIRE(j.skip_value().ok());
        *out = text.substr(a, j.offset() - a);
        while (!out->empty() && (out->back() == ',' || out->back() == ' ' || out->back() == '\n')) out->pop_back();
    };
    llama::vocab v;
    v.type = llama::vocab::kind::spm;
    v.add_space_prefix = true;  // the converter writes no add_space_prefix key: llama.cpp's default for "llama"
    bool more = false;
    std::string key, s;
    REQUIRE(j.begin_object().ok());
    while (j.next_key(&more, &key).ok() && more) {
        if (key != "metadata") {
            REQUIRE(j.skip_value().ok());
            continue;
        }
        REQUIRE(j.begin_object().ok());
        while (j.next_key(&more, &key).ok() && more) {
            if (key == "tokenizer.ggml.tokens" || key == "tokenizer.ggml.scores" || key == "tokenizer.ggml.token_type") {
                REQUIRE(j.begin_array().ok());
                bool el = false;
                while (j.next_element(&el).ok() && el) {
                    if (key == "tokenizer.ggml.tokens") {
                        REQUIRE(j.read_string(&s).ok());
                        v.tokens.push_back(s);
                    } else {
                        raw(&s);
                        if (key == "tokenizer.ggml.scores") v.scores.push_back(std::strtof(s.c_str(), nullptr));
                        else v.types.push_back(static_cast<llama::token_type>(std::atoi(s.c_str())));
                    }
                }
            } else if (key == "tokenizer.ggml.model") {
                REQUIRE(j.read_string(&s).ok());
                CHECK(s == "llama");
            } else {
                raw(&s);
                if (key == "tokenizer.ggml.bos_token_id") v.bos = std::atoi(s.c_str());
                else if (key == "tokenizer.ggml.eos_token_id") v.eos = std::atoi(s.c_str());
                else if (key == "tokenizer.ggml.add_bos_token") v.add_bos = s == "true";
                else if (key == "tokenizer.ggml.add_eos_token") v.add_eos = s == "true";
            }
        }
    }
    REQUIRE(v.tokens.size() == 1024);
    REQUIRE(v.scores.size() == v.tokens.size());
    REQUIRE(v.types.size() == v.tokens.size());
    return v;
}

// A GGUF holding only `v`, written and parsed again: the tokenizer under test
// is the one load_vocab builds from file metadata.
std::vector<std::uint8_t> vocab_gguf(const llama::vocab& v) {
    lowbit::gguf::gguf_writer w;
    REQUIRE(w.set("general.architecture", lowbit::gguf::meta_value::string("llama")).ok());
    REQUIRE(llama::write_vocab(w, v).ok());
    std::vector<std::uint8_t> bytes;
    REQUIRE(w.write_header(lowbit::gguf::byte_sink::to_vector(bytes)).ok());
    REQUIRE(w.finish().ok());
    return bytes;
}

llama::tokenizer through_gguf(const llama::vocab& v, std::vector<std::uint8_t>& keep) {
    keep = vocab_gguf(v);
    auto f = lowbit::gguf::gguf_file::parse(lowbit::span<const std::uint8_t>(keep.data(), keep.size()));
    REQUIRE_MESSAGE(f.ok(), f.error().message());
    auto t = llama::tokenizer::from_gguf(*f);
    REQUIRE_MESSAGE(t.ok(), t.error().message());
    return std::move(*t);
}

const llama::tokenizer& sotu_tokenizer() {
    static std::vector<std::uint8_t> keep;
    static const llama::tokenizer t = through_gguf(converter_vocab(), keep);
    return t;
}

// dev_tokens.npy: a uint16 vector (numpy '<u2'); the small reader here
// checks the header fields it relies on.
std::vector<int> read_u16_npy(const std::string& path) {
    const std::string b = slurp(path);
    REQUIRE(b.size() > 10);
    REQUIRE(b.compare(0, 6, "\x93NUMPY") == 0);
    const std::size_t hl = static_cast<unsigned char>(b[8]) | static_cast<std::size_t>(static_cast<unsigned char>(b[9])) << 8;
    const std::string header = b.substr(10, hl);
    REQUIRE(header.find("'<u2'") != std::string::npos);
    REQUIRE(header.find("'fortran_order': False") != std::string::npos);
    std::vector<int> out;
    for (std::size_t at = 10 + hl; at + 1 < b.size(); at += 2)
        out.push_back(static_cast<unsigned char>(b[at]) | static_cast<unsigned char>(b[at + 1]) << 8);
    return out;
}

}  // namespace

TEST_CASE("tokenizer spm: every paragraph of dev.txt encodes to SentencePiece's ids (dev_tokens.npy)") {
    const auto& t = sotu_tokenizer();
    CHECK(t.vocabulary().add_bos);
    CHECK(t.vocabulary().bos == 1);
    const std::vector<int> ref = read_u16_npy(data_dir + "/dev_tokens.npy");
    const std::string text = slurp(data_dir + "/dev.txt");
    // dev_tokens.npy = BOS, then each paragraph (blank-line separated) encoded, BOS between paragraphs.
    std::vector<int> ours;
    std::size_t at = 0, paragraphs = 0;
    while (at < text.size()) {
        std::size_t end = text.find("\n\n", at);
        if (end == std::string::npos) end = text.size();
        // Paragraphs are separated by one or more blank lines: no newline at either end.
        std::string para = text.substr(at, end - at);
        while (!para.empty() && para.back() == '\n') para.pop_back();
        while (!para.empty() && para.front() == '\n') para.erase(0, 1);
        auto ids = t.encode(para, true);  // BOS + the paragraph
        REQUIRE(ids.ok());
        ours.insert(ours.end(), ids->begin(), ids->end());
        ++paragraphs;
        at = end + 2;
    }
    CHECK(paragraphs == 6);
    std::size_t first_diff = std::min(ours.size(), ref.size());
    for (std::size_t i = 0; i < first_diff; ++i)
        if (ours[i] != ref[i]) first_diff = i;
    CHECK_MESSAGE(first_diff == ref.size(), "first difference at token " << first_diff);
    CHECK(ours.size() == ref.size());
}
