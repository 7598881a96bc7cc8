// Writes the seed corpus of fuzz_vocab and fuzz_kld_base (lowbit-llama's
// tokenizer and base-file readers):
//   <dir>/vocab: real vocabularies as GGUF files, each after a one-byte text
//     length and the text (fuzz_vocab's input layout): the 1024-piece
//     SentencePiece vocabulary llama.cpp's converter wrote for
//     tests/data/tinyllama-sotu (converter-f16.json), its first 300 pieces,
//     and small byte-level BPE vocabularies (byte alphabet + merges) under the
//     "llama-bpe" and "default" pre-tokenizers, one with user-defined pieces;
//   <dir>/kld_base: base-logits files written with perplexity.hpp's own
//     record encoder for n_vocab 5 and 7 (odd: a padding uint16 per record).
// Usage: gen_llama_seeds <dir> <converter-f16.json>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <lowbit/formats/json.hpp>

#include "perplexity.hpp"
#include "tokenizer.hpp"

namespace {

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "gen_llama_seeds: %s\n", what);
    std::exit(1);
}

bool save(const std::string& path, const std::vector<std::uint8_t>& b) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return false;
    const bool ok = std::fwrite(b.data(), 1, b.size(), f) == b.size();
    return std::fclose(f) == 0 && ok;
}

std::string slurp(const char* path) {
    auto b = llama::read_file(path);
    if (!b) die(b.error().message());
    return std::string(b->begin(), b->end());
}

// The tokenizer.ggml.* arrays of converter-f16.json (numbers are taken as their raw text).
llama::vocab converter_vocab(const char* path) {
    const std::string text = slurp(path);
    lowbit::detail::json_reader j(text, 0);
    auto raw = [&]() {
        const std::size_t a = j.offset();
        if (!j.skip_value().ok()) die("bad JSON value");
        std::string s = text.substr(a, j.offset() - a);
        return s;
    };
    llama::vocab v;
    v.type = llama::vocab::kind::spm;
    v.bos = 1, v.eos = 2, v.unk = 0, v.add_bos = true, v.add_space_prefix = true;
    bool more = false;
    std::string key, s;
    if (!j.begin_object().ok()) die("converter JSON is not an object");
    while (j.next_key(&more, &key).ok() && more) {
        if (key != "metadata") {
            if (!j.skip_value().ok()) die("bad JSON");
            continue;
        }
        if (!j.begin_object().ok()) die("metadata is not an object");
        while (j.next_key(&more, &key).ok() && more) {
            if (key == "tokenizer.ggml.tokens" || key == "tokenizer.ggml.scores" || key == "tokenizer.ggml.token_type") {
                if (!j.begin_array().ok()) die("not an array");
                bool el = false;
                while (j.next_element(&el).ok() && el) {
                    if (key == "tokenizer.ggml.tokens") {
                        if (!j.read_string(&s).ok()) die("bad token");
                        v.tokens.push_back(s);
                    } else if (key == "tokenizer.ggml.scores") {
                        v.scores.push_back(std::strtof(raw().c_str(), nullptr));
                    } else {
                        v.types.push_back(static_cast<llama::token_type>(std::atoi(raw().c_str())));
                    }
                }
            } else if (!j.skip_value().ok()) {
                die("bad JSON");
            }
        }
    }
    if (v.tokens.empty() || v.scores.size() != v.tokens.size() || v.types.size() != v.tokens.size()) die("no vocabulary in the JSON");
    return v;
}

// A byte-level BPE vocabulary: the 256-symbol alphabet, then a few merges of
// common English pairs and their pieces; `user` adds two user-defined pieces.
llama::vocab bpe_vocab(const char* pre, bool user) {
    llama::vocab v;
    v.type = llama::vocab::kind::bpe;
    v.pre = pre;
    for (unsigned b = 0; b < 256; ++b) {
        std::string p;
        llama::utf8_append(p, llama::byte_to_unicode(static_cast<unsigned char>(b)));
        v.tokens.push_back(p);
    }
    const char* merges[][2] = {{"t", "h"}, {"th", "e"}, {"\xC4\xA0", "the"}, {"a", "a"}, {"aa", "aa"}, {"i", "n"}, {"in", "g"}, {"\xC4\xA0", "w"}};
    int rank = 0;
    for (const auto& m : merges) {
        v.tokens.push_back(std::string(m[0]) + m[1]);
        v.merge_rank.emplace(std::string(m[0]) + '\0' + m[1], rank++);
    }
    v.tokens.push_back("<|begin_of_text|>");
    v.bos = static_cast<int>(v.tokens.size()) - 1;
    v.add_bos = true;
    v.types.assign(v.tokens.size(), llama::token_type::normal);
    v.types.back() = llama::token_type::control;
    if (user) {
        v.tokens.push_back("<tool>");
        v.tokens.push_back("<|eot|>");
        v.types.push_back(llama::token_type::user_defined);
        v.types.push_back(llama::token_type::user_defined);
    }
    v.scores.assign(v.tokens.size(), 0.f);
    return v;
}

std::vector<std::uint8_t> vocab_seed(const llama::vocab& v, const std::string& text) {
    lowbit::gguf::gguf_writer w;
    if (!w.set("general.architecture", lowbit::gguf::meta_value::string("llama")).ok() || !llama::write_vocab(w, v).ok())
        die("write_vocab failed");
    std::vector<std::uint8_t> out(1, static_cast<std::uint8_t>(text.size()));
    out.insert(out.end(), text.begin(), text.end());
    if (!w.write_header(lowbit::gguf::byte_sink::to_vector(out)).ok() || !w.finish().ok()) die("gguf_writer failed");
    return out;
}

// A base-logits file: n_chunk chunks of n_ctx tokens, records from
// perplexity.hpp's encode_record on made-up logits.
std::vector<std::uint8_t> base_seed(int n_ctx, int n_vocab, int n_chunk) {
    std::vector<std::uint8_t> out = {'_', 'l', 'o', 'g', 'i', 't', 's', '_'};
    auto put = [&](const void* p, std::size_t n) { out.insert(out.end(), static_cast<const std::uint8_t*>(p), static_cast<const std::uint8_t*>(p) + n); };
    const std::int32_t h[3] = {n_ctx, n_vocab, n_chunk};
    put(h, 12);
    std::vector<std::int32_t> tok(static_cast<std::size_t>(n_ctx) * n_chunk);
    for (std::size_t i = 0; i < tok.size(); ++i) tok[i] = static_cast<std::int32_t>((i * 3 + 1) % static_cast<std::size_t>(n_vocab));
    put(tok.data(), tok.size() * 4);
    std::vector<float> logits(static_cast<std::size_t>(n_vocab));
    std::vector<std::uint16_t> rec(llama::record_u16(n_vocab));
    for (int c = 0; c < n_chunk; ++c)
        for (int j = n_ctx / 2; j < n_ctx - 1; ++j) {
            for (int i = 0; i < n_vocab; ++i) logits[static_cast<std::size_t>(i)] = static_cast<float>((i + j + c) % 5) - (i == 2 ? 30.f : 0.f);
            llama::encode_record(logits.data(), n_vocab, tok[static_cast<std::size_t>(c) * n_ctx + j + 1], rec.data());
            put(rec.data(), rec.size() * 2);
        }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s <corpus dir> <converter-f16.json>\n", argv[0]);
        return 2;
    }
    const std::string d = argv[1];
    const llama::vocab sotu = converter_vocab(argv[2]);
    llama::vocab small = sotu;
    small.tokens.resize(300), small.scores.resize(300), small.types.resize(300);
    const bool ok =
        save(d + "/vocab/spm-sotu", vocab_seed(sotu, "The State of the Union \xE2\x96\x81 caf\xC3\xA9 \xFF")) &&
        save(d + "/vocab/spm-300", vocab_seed(small, "aaaaaaaaaaaaaaaa the end")) &&
        save(d + "/vocab/bpe-llama3", vocab_seed(bpe_vocab("llama-bpe", false), "the thing's aaaa 12345 \n\n  x")) &&
        save(d + "/vocab/bpe-default", vocab_seed(bpe_vocab("default", false), "Hello, the world!!! 1234567 'll")) &&
        save(d + "/vocab/bpe-user", vocab_seed(bpe_vocab("llama-bpe", true), "a<tool>b<|eot|><tool>")) &&
        save(d + "/kld_base/v5", base_seed(4, 5, 2)) && save(d + "/kld_base/v7", base_seed(8, 7, 3));
    if (!ok) die("cannot write the seeds");
    return 0;
}
