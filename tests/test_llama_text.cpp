// Tests of lowbit-llama's text side (examples/llama): the SentencePiece and
// byte-level BPE tokenizers built from a GGUF vocabulary, and the perplexity /
// KL-divergence evaluator with llama-perplexity's base-logits file.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <lowbit/formats/json.hpp>
#include <lowbit/formats/tiled_kquant_matmul.hpp>

#include "bench.hpp"
#include "eval.hpp"
#include "perplexity.hpp"
#include "test_util.hpp"
#include "tokenizer.hpp"
#include "token_ids.hpp"

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


}  // namespace

TEST_CASE("tokenizer spm: every paragraph of dev.txt encodes to SentencePiece's ids (dev_tokens.npy)") {
    const auto& t = sotu_tokenizer();
    CHECK(t.vocabulary().add_bos);
    CHECK(t.vocabulary().bos == 1);
    const std::vector<int> ref = lowbit_test::read_u16_token_ids(data_dir + "/dev_tokens.npy");
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

TEST_CASE("tokenizer spm: empty text, odd bytes and invalid UTF-8 round-trip through byte fallback") {
    const auto& t = sotu_tokenizer();
    auto empty = t.encode("", true);
    REQUIRE(empty.ok());
    CHECK(*empty == std::vector<int>{1});  // BOS only, as SentencePiece / llama.cpp give for ""
    auto none = t.encode("", false);
    REQUIRE(none.ok());
    CHECK(none->empty());
    // {text, what decode(encode(text)) gives}. A broken UTF-8 lead byte takes
    // the bytes after it into its symbol (rule 2 of tokenizer_spm.hpp), so a
    // space right after one stays the escaped "▁" bytes: llama.cpp does the same.
    const std::pair<std::string, std::string> cases[] = {
        {"Hello world", "Hello world"},
        {"  two leading spaces, and   three inside", "  two leading spaces, and   three inside"},
        {"tab\there, newline\nthere\r\n", "tab\there, newline\nthere\r\n"},
        {std::string("nul \0 byte", 10), std::string("nul \0 byte", 10)},
        {"bytes \x01\x7f\x80\xff alone", "bytes \x01\x7f\x80\xff\xE2\x96\x81" "alone"},
        {"cut UTF-8 \xC3 \xE2\x82 \xF0\x9F\x98 end",
         "cut UTF-8 \xC3\xE2\x96\x81\xE2\x82\xE2\x96\x81\xF0\x9F\x98\xE2\x96\x81" "end"},
        {"\xC3\xA9t\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xE4\xB8\xAD", "\xC3\xA9t\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xE4\xB8\xAD"},  // été € 😀 中
        {"<s> and </s> are text here", "<s> and </s> are text here"},
        {"\xE2\x96\x81 is the space marker itself", "  is the space marker itself"},  // the piece "▁" decodes as a space
    };
    for (const auto& c : cases) {
        CAPTURE(c.first);
        auto ids = t.encode(c.first, false);
        REQUIRE(ids.ok());
        for (const int id : *ids) {
            CHECK(id >= 0);
            CHECK(id < t.size());
            CHECK(id != t.vocabulary().unk);  // the byte pieces cover everything
        }
        CHECK(t.decode(*ids) == c.second);
    }
    // "<s>" in text is not BOS (control pieces are not parsed from text).
    auto lt = t.encode("<s>", false);
    REQUIRE(lt.ok());
    CHECK(std::find(lt->begin(), lt->end(), 1) == lt->end());
    // A byte that is no piece falls back to <0xNN>: 0xFF is id 3 + 0xFF.
    auto ff = t.encode("\xff", false);
    REQUIRE(ff.ok());
    REQUIRE(ff->size() == 2);  // "▁" (the space prefix), then the byte
    CHECK((*ff)[1] == 3 + 0xFF);
    CHECK(t.vocabulary().tokens[static_cast<std::size_t>((*ff)[1])] == "<0xFF>");
}

namespace {

// A byte-level BPE vocabulary small enough to check by hand: ids 0..255 are
// the byte-to-unicode alphabet in byte order (so id = byte), then merges:
//   0 "Ġ t"  1 "h e"  2 "Ġt he"  3 "l l"  4 "e ll"  5 "ell o"  6 "H ello"  7 "Ġ w"  8 "o r"
// their results as ids 256..264, "Ġworld" (265, a piece no merge makes),
// "<|begin_of_text|>" (266, control, BOS) and "<sep>" (267, user defined),
// then merges 9.. that only apply across the words some pre-tokenizer makes
// (their results ids 268..), so that a wrong split shows in the ids:
//   9 "Ġ Ġ"  10 "! !"  11 "' s"  12 "1 2"  13 "2 3"  14 "3 4"  15 "4 5"  16 "Ċ Ċ"  17 "Ġ !"  18 "d '"
llama::vocab hand_bpe(const char* pre) {
    llama::vocab v;
    v.type = llama::vocab::kind::bpe;
    v.pre = pre;
    for (unsigned b = 0; b < 256; ++b) {
        std::string s;
        llama::utf8_append(s, llama::byte_to_unicode(static_cast<unsigned char>(b)));
        v.tokens.push_back(s);
    }
    const char* merges[] = {"Ġ t", "h e", "Ġt he", "l l", "e ll", "ell o", "H ello", "Ġ w", "o r"};
    for (int r = 0; r < 9; ++r) {
        std::string m = merges[r];
        const std::size_t sp = m.find(' ', 1);
        v.tokens.push_back(m.substr(0, sp) + m.substr(sp + 1));
        m[sp] = '\0';
        v.merge_rank[m] = r;
    }
    v.tokens.push_back("Ġworld");
    v.tokens.push_back("<|begin_of_text|>");
    v.tokens.push_back("<sep>");
    v.scores.assign(v.tokens.size(), 0.0f);
    v.types.assign(v.tokens.size(), llama::token_type::normal);
    v.types[266] = llama::token_type::control;
    v.types[267] = llama::token_type::user_defined;
    v.bos = 266;
    v.add_bos = true;
    const char* cross[] = {"Ġ Ġ", "! !", "' s", "1 2", "2 3", "3 4", "4 5", "Ċ Ċ", "Ġ !", "d '"};
    for (int r = 0; r < 10; ++r) {
        std::string m = cross[r];
        const std::size_t sp = m.find(' ', 1);
        v.tokens.push_back(m.substr(0, sp) + m.substr(sp + 1));
        v.scores.push_back(0.0f);
        v.types.push_back(llama::token_type::normal);
        m[sp] = '\0';
        v.merge_rank[m] = 9 + r;
    }
    for (std::size_t i = 0; i < v.tokens.size(); ++i) v.ids[v.tokens[i]] = static_cast<int>(i);
    return v;
}

std::vector<std::string> words(const llama::vocab& v, const std::string& s) {
    auto w = llama::bpe_pretokenize(v, s);
    REQUIRE_MESSAGE(w.ok(), w.error().message());
    return *w;
}

}  // namespace

TEST_CASE("tokenizer bpe: the byte-to-unicode alphabet") {
    CHECK(llama::byte_to_unicode(' ') == 0x120);   // Ġ
    CHECK(llama::byte_to_unicode('\n') == 0x10A);  // Ċ
    CHECK(llama::byte_to_unicode(0) == 0x100);
    CHECK(llama::byte_to_unicode('!') == '!');
    CHECK(llama::byte_to_unicode(0xAD) == 0x143);  // the soft hyphen, the last non-printable byte below 0xFF
    CHECK(llama::byte_to_unicode(0xFF) == 0xFF);
    std::vector<bool> seen(0x200);
    for (unsigned b = 0; b < 256; ++b) {
        const char32_t c = llama::byte_to_unicode(static_cast<unsigned char>(b));
        REQUIRE(c < 0x200);
        CHECK(!seen[c]);
        seen[c] = true;
    }
}

TEST_CASE("tokenizer bpe: the llama-bpe (LLaMA-3) pre-tokenizer, split by hand") {
    const llama::vocab v = hand_bpe("llama-bpe");
    CHECK(words(v, "Hello world's 12345 !!\n\n  x") ==
          std::vector<std::string>{"Hello", " world", "'s", " ", "123", "45", " !!\n\n", " ", " x"});
    CHECK(words(v, "I'LL go") == std::vector<std::string>{"I", "'LL", " go"});  // contractions in any case
    CHECK(words(v, "a \n\n b") == std::vector<std::string>{"a", " \n\n", " b"});  // \s*[\r\n]+ ends at the last newline
    CHECK(words(v, "x   ") == std::vector<std::string>{"x", "   "});          // trailing spaces: \s+(?!\S) to the end
    CHECK(words(v, "$x") == std::vector<std::string>{"$x"});                  // one non-letter joins the letters after it
    CHECK(words(v, "\xC3\xA9t\xC3\xA9 1\xE2\x82\xAC") == std::vector<std::string>{"\xC3\xA9t\xC3\xA9", " ", "1", "\xE2\x82\xAC"});
}

TEST_CASE("tokenizer bpe: the default pre-tokenizer's four passes, split by hand") {
    const llama::vocab v = hand_bpe("default");
    // pass 1 cuts out "'" and "!!"; pass 2 (GPT-2) splits words; pass 3 "12345"; pass 4 "123" "45".
    CHECK(words(v, "Hello world's 12345 !!\n\n  x") ==
          std::vector<std::string>{"Hello", " world", "'", "s", " ", "123", "45", " ", "!!", "\n\n ", " x"});
    CHECK(words(v, "it's") == std::vector<std::string>{"it", "'", "s"});
}

namespace {

// Ids printed by llama.cpp's llama-tokenize (commit 0a50d990) for these texts,
// each written byte for byte to a file and run as
//   llama-tokenize -m VOCAB.gguf -f TEXT --ids --log-disable
// where VOCAB.gguf is tinyllama-f16.gguf (the hf-gguf converter's output for
// tests/data/tinyllama-sotu, vocabulary = converter-f16.json's) for "spm", and
// hand_bpe("llama-bpe") / hand_bpe("default") written by write_vocab with
// llama.* header keys and no tensors (llama-tokenize loads the vocabulary only)
// for "bpe3" / "bpedef". docs/embedding.md section 7 has the procedure.
struct llama_tokenize_case {
    const char* vocab;
    const char* text;
    std::vector<int> ids;
};
const llama_tokenize_case llama_tokenize_cases[] = {
    {"spm", "Hello world\'s 12345 !!\n\n  x", {1, 436, 583, 936, 823, 966, 938, 932, 995, 1001, 1002, 1007, 1005, 932, 963, 963, 13, 13, 932, 932, 974}},
    {"bpe3", "Hello world\'s 12345 !!\n\n  x", {266, 262, 265, 270, 32, 271, 51, 274, 32, 269, 275, 32, 32, 120}},
    {"bpedef", "Hello world\'s 12345 !!\n\n  x", {266, 262, 263, 264, 108, 100, 39, 115, 32, 271, 51, 274, 32, 269, 275, 32, 32, 120}},
    {"spm", "the  Hello\tworld\r\n \xC3\xA9t\xC3\xA9 \xE2\x82\xAC 1234567 it\'s I\'LL $x a<sep>b  ", {1, 263, 932, 436, 583, 936, 12, 947, 288, 322, 16, 13, 932, 198, 172, 934, 198, 172, 932, 229, 133, 175, 932, 995, 1001, 1002, 1007, 1005, 1006, 1004, 316, 966, 938, 313, 966, 984, 984, 932, 1012, 974, 261, 63, 317, 952, 65, 953, 932, 932}},
    {"bpe3", "the  Hello\tworld\r\n \xC3\xA9t\xC3\xA9 \xE2\x82\xAC 1234567 it\'s I\'LL $x a<sep>b  ", {266, 116, 257, 32, 32, 262, 9, 119, 264, 108, 100, 13, 10, 32, 195, 169, 116, 195, 169, 32, 226, 130, 172, 32, 271, 51, 274, 54, 55, 32, 105, 116, 270, 32, 73, 39, 76, 76, 32, 36, 120, 32, 97, 267, 98, 268}},
    {"bpedef", "the  Hello\tworld\r\n \xC3\xA9t\xC3\xA9 \xE2\x82\xAC 1234567 it\'s I\'LL $x a<sep>b  ", {266, 116, 257, 32, 32, 262, 9, 119, 264, 108, 100, 13, 10, 32, 195, 169, 116, 195, 169, 32, 226, 130, 172, 32, 271, 51, 274, 54, 55, 32, 105, 116, 39, 115, 32, 73, 39, 76, 76, 32, 36, 120, 32, 97, 267, 98, 268}},
    {"spm", "cut \xC3 \xE2\x82 \xF0\x9F\x98 end \xff\xfe \x01\x7f", {1, 279, 304, 932, 198, 229, 153, 132, 229, 133, 229, 153, 132, 243, 162, 155, 229, 153, 132, 933, 269, 932, 258, 257, 229, 153, 132, 4, 130}},
    {"bpe3", "cut \xC3 \xE2\x82 \xF0\x9F\x98 end \xff\xfe \x01\x7f", {266, 99, 117, 116, 32, 239, 191, 189, 32, 239, 191, 189, 239, 191, 189, 32, 239, 191, 189, 239, 191, 189, 239, 191, 189, 32, 101, 110, 100, 32, 239, 191, 189, 239, 191, 189, 32, 1, 127}},
    {"bpedef", "cut \xC3 \xE2\x82 \xF0\x9F\x98 end \xff\xfe \x01\x7f", {266, 99, 117, 116, 32, 239, 191, 189, 32, 239, 191, 189, 239, 191, 189, 32, 239, 191, 189, 239, 191, 189, 239, 191, 189, 32, 101, 110, 100, 32, 239, 191, 189, 239, 191, 189, 32, 1, 127}},
    {"spm", "\xE2\x80\x9Cquoted\xE2\x80\x9D \xE2\x80\x94 dash\xE2\x80\xA6 \xC2\xBFqu\xC3\xA9? \xC2\xABx\xC2\xBB \xE4\xB8\xAD\xE6\x96\x87\xEF\xBC\x8C\xE6\xA0\x87\xE7\x82\xB9\xE3\x80\x82 \xCE\xA9mega \xD0\x9C\xD0\xBE\xD1\x81\xD0\xBA\xD0\xB2\xD0\xB0 3\xC2\xBD", {1, 440, 375, 320, 280, 980, 932, 964, 293, 296, 940, 229, 131, 169, 932, 197, 194, 375, 198, 172, 975, 932, 197, 174, 974, 197, 190, 932, 231, 187, 176, 233, 153, 138, 242, 191, 143, 233, 163, 138, 234, 133, 188, 230, 131, 133, 932, 209, 172, 945, 609, 935, 932, 211, 159, 211, 193, 212, 132, 211, 189, 211, 181, 211, 179, 932, 1002, 197, 192}},
    {"bpe3", "\xE2\x80\x9Cquoted\xE2\x80\x9D \xE2\x80\x94 dash\xE2\x80\xA6 \xC2\xBFqu\xC3\xA9? \xC2\xABx\xC2\xBB \xE4\xB8\xAD\xE6\x96\x87\xEF\xBC\x8C\xE6\xA0\x87\xE7\x82\xB9\xE3\x80\x82 \xCE\xA9mega \xD0\x9C\xD0\xBE\xD1\x81\xD0\xBA\xD0\xB2\xD0\xB0 3\xC2\xBD", {266, 226, 128, 156, 113, 117, 111, 116, 101, 100, 226, 128, 157, 32, 226, 128, 148, 32, 100, 97, 115, 104, 226, 128, 166, 32, 194, 191, 113, 117, 195, 169, 63, 32, 194, 171, 120, 194, 187, 32, 228, 184, 173, 230, 150, 135, 239, 188, 140, 230, 160, 135, 231, 130, 185, 227, 128, 130, 32, 206, 169, 109, 101, 103, 97, 32, 208, 156, 208, 190, 209, 129, 208, 186, 208, 178, 208, 176, 32, 51, 194, 189}},
    {"bpedef", "\xE2\x80\x9Cquoted\xE2\x80\x9D \xE2\x80\x94 dash\xE2\x80\xA6 \xC2\xBFqu\xC3\xA9? \xC2\xABx\xC2\xBB \xE4\xB8\xAD\xE6\x96\x87\xEF\xBC\x8C\xE6\xA0\x87\xE7\x82\xB9\xE3\x80\x82 \xCE\xA9mega \xD0\x9C\xD0\xBE\xD1\x81\xD0\xBA\xD0\xB2\xD0\xB0 3\xC2\xBD", {266, 226, 128, 156, 113, 117, 111, 116, 101, 100, 226, 128, 157, 32, 226, 128, 148, 32, 100, 97, 115, 104, 226, 128, 166, 32, 194, 191, 113, 117, 195, 169, 63, 32, 194, 171, 120, 194, 187, 32, 228, 184, 173, 230, 150, 135, 239, 188, 140, 230, 160, 135, 231, 130, 185, 227, 128, 130, 32, 206, 169, 109, 101, 103, 97, 32, 208, 156, 208, 190, 209, 129, 208, 186, 208, 178, 208, 176, 32, 51, 194, 189}},
};
}  // namespace

TEST_CASE("tokenizer bpe: merges by rank, ignore_merges, specials, round trip") {
    std::vector<std::uint8_t> keep3, keepd;
    const llama::tokenizer t3 = through_gguf(hand_bpe("llama-bpe"), keep3);
    const llama::tokenizer td = through_gguf(hand_bpe("default"), keepd);
    auto enc = [](const llama::tokenizer& t, const std::string& s, bool special = false) {
        auto r = t.encode(s, special);
        REQUIRE_MESSAGE(r.ok(), r.error().message());
        return *r;
    };
    // H e l l o: (l,l) rank 3, then (e,ll) 4, (ell,o) 5, (H,ello) 6 -> "Hello".
    CHECK(enc(t3, "Hello") == std::vector<int>{262});
    // t h e: (h,e) rank 1; no (t,he) merge.
    CHECK(enc(t3, "the") == std::vector<int>{'t', 257});
    // Ġ t h e: (Ġ,t) 0, (h,e) 1, (Ġt,he) 2.
    CHECK(enc(t3, " the") == std::vector<int>{258});
    // " world": llama-bpe takes the whole word when it is a piece (ignore_merges) ...
    CHECK(enc(t3, " world") == std::vector<int>{265});
    // ... default merges it: (Ġ,w) 7, (o,r) 8, then nothing.
    CHECK(enc(td, " world") == std::vector<int>{263, 264, 'l', 'd'});
    // BOS from add_bos_token; the user-defined piece is cut out of the text; "é" is two byte pieces.
    CHECK(enc(t3, "a<sep>b", true) == std::vector<int>{266, 'a', 267, 'b'});
    CHECK(enc(t3, "\xC3\xA9") == std::vector<int>{0xC3, 0xA9});
    // "<|begin_of_text|>" in text is text (control pieces are not parsed).
    CHECK(enc(t3, "<|begin_of_text|>").size() > 1);
    // Text round-trips; bytes that are not well-formed UTF-8 come back as U+FFFD, one per byte (as in llama.cpp).
    const std::pair<std::string, std::string> samples[] = {
        {"Hello the world", "Hello the world"},
        {"tab\t\r\n x  ", "tab\t\r\n x  "},
        {std::string("\0\x01\x7f", 3), std::string("\0\x01\x7f", 3)},
        {"\xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80", "\xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80"},
        {"cut \xE2\x82 \xff end", "cut \xEF\xBF\xBD\xEF\xBF\xBD \xEF\xBF\xBD end"},
    };
    for (const auto& s : samples) {
        CHECK(t3.decode(enc(t3, s.first, true)) == s.second);
        CHECK(td.decode(enc(td, s.first, true)) == s.second);
    }
    // An unknown pre-tokenizer is refused by name.
    llama::vocab odd = hand_bpe("qwen2");
    std::vector<int> out;
    const auto st = llama::bpe_encode(odd, "x", out);
    CHECK(!st.ok());
    CHECK(std::string(st.message()).find("qwen2") != std::string::npos);
}

namespace {

const llama::model& small_model() {
    static const llama::model m = [] {
        auto r = llama::load_model(LOWBIT_LLAMA_MODEL);
        REQUIRE_MESSAGE(r.ok(), r.error().message());
        return *r;
    }();
    return m;
}

// 4 chunks of 64 tokens and a few more: tokens the model samples from BOS (its own text).
std::vector<int> sampled_tokens() {
    llama::sampler smp;
    smp.r = llama::rng(11);
    lowbit::serial_executor ex;
    std::vector<int> t = {1};
    const auto out = llama::generate(small_model(), 4 * 64 + 9, smp, ex);
    t.insert(t.end(), out.begin(), out.end());
    return t;
}

std::vector<std::uint8_t> file_bytes(const std::string& path) {
    auto b = llama::read_file(path.c_str());
    REQUIRE_MESSAGE(b.ok(), b.error().message());
    return *b;
}

void write_bytes(const std::string& path, const std::vector<std::uint8_t>& b) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f);
    if (!b.empty()) REQUIRE(std::fwrite(b.data(), 1, b.size(), f) == b.size());
    REQUIRE(std::fclose(f) == 0);
}

std::string captured(std::FILE* f) {
    std::fflush(f);
    std::rewind(f);
    std::string s;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
    return s;
}

}  // namespace

TEST_CASE("perplexity: batched prefill gives the logits of token-by-token decoding") {
    const auto& m = small_model();
    const std::vector<int> tok = sampled_tokens();
    lowbit::thread_pool pool(2);
    for (const char* scheme : {"f32", "q8_0", "w4g32-rot"}) {  // -rot: prefill rotates its rows of x as decode does
        CAPTURE(scheme);
        llama::model q = m;
        REQUIRE(llama::quantize_model(q, *llama::parse_scheme_name(scheme), pool).ok());
        llama::prefill_state ps;
        llama::prefill(q, tok.data(), 64, 0, ps, pool);
        llama::state s(q.c, 64);
        double worst = 0;
        for (int pos = 0; pos < 64; ++pos) {
            const float* lg = llama::forward(q, s, tok[static_cast<std::size_t>(pos)], pos, pool);
            for (int v = 0; v < q.c.vocab; ++v)
                worst = std::max(worst, std::fabs(static_cast<double>(lg[v]) - ps.logits[static_cast<std::size_t>(pos) * q.c.vocab + v]));
        }
        CHECK(worst < 1e-4);
    }
}

TEST_CASE("perplexity: PPL is exp(mean NLL of the second half of each chunk); the base file round-trips") {
    const auto& m = small_model();
    const std::vector<int> tok = sampled_tokens();
    const int n_ctx = 64, first = n_ctx / 2, V = m.c.vocab;
    lowbit::thread_pool pool(2);
    llama::perplexity_options o;
    o.n_ctx = n_ctx;
    o.bos = 1;
    std::FILE* log = std::tmpfile();
    REQUIRE(log);
    o.out = log;
    const std::string base = "test_llama_text_base.bin";
    std::remove(base.c_str());
    auto r = llama::perplexity(m, tok, o, pool, base.c_str());
    REQUIRE_MESSAGE(r.ok(), r.error().message());
    CHECK(r->chunks == 4);
    CHECK(r->count == 4u * (n_ctx - 1 - first));

    // The mean NLL computed independently: token by token through forward(),
    // log-softmax in double, BOS first in every chunk, positions first..n_ctx-2.
    double nll = 0, nll_window = 0;  // nll_window: log-probabilities clamped 16 nats under the top one, as the file stores them
    std::size_t n = 0;
    for (int c = 0; c < 4; ++c) {
        llama::state s(m.c, n_ctx);
        for (int j = 0; j < n_ctx - 1; ++j) {
            const int in = j == 0 ? 1 : tok[static_cast<std::size_t>(c * n_ctx + j)];
            const float* lg = llama::forward(m, s, in, j, pool);
            if (j < first) continue;
            double mx = lg[0], sum = 0;
            for (int v = 1; v < V; ++v) mx = std::max(mx, static_cast<double>(lg[v]));
            for (int v = 0; v < V; ++v) sum += std::exp(lg[v] - mx);
            const double t_nll = mx + std::log(sum) - lg[tok[static_cast<std::size_t>(c * n_ctx + j + 1)]];
            nll += t_nll;
            nll_window += std::min(t_nll, std::log(sum) + 16);
            ++n;
        }
    }
    CHECK(n == r->count);
    CHECK(r->ppl == doctest::Approx(std::exp(nll / static_cast<double>(n))).epsilon(1e-5));
    const std::string printed = captured(log);
    char want[96];
    std::snprintf(want, sizeof want, "Final estimate: PPL = %.4f +/- ", r->ppl);
    CHECK(printed.find(want) != std::string::npos);
    CHECK(printed.find("[4]") != std::string::npos);
    std::fclose(log);

    // The file is llama-perplexity's layout: header, the tokens (before the BOS substitution), records.
    const std::vector<std::uint8_t> bytes = file_bytes(base);
    const std::size_t nv = 2 * ((V + 1) / 2) + 4;
    REQUIRE(bytes.size() == 20 + 4u * 4 * n_ctx + 2u * 4 * (n_ctx - 1 - first) * nv);
    CHECK(std::memcmp(bytes.data(), "_logits_", 8) == 0);
    std::int32_t h[3];
    std::memcpy(h, bytes.data() + 8, 12);
    CHECK(h[0] == n_ctx);
    CHECK(h[1] == V);
    CHECK(h[2] == 4);
    std::vector<std::int32_t> ft(4 * n_ctx);
    std::memcpy(ft.data(), bytes.data() + 20, ft.size() * 4);
    CHECK(std::vector<int>(ft.begin(), ft.end()) == std::vector<int>(tok.begin(), tok.begin() + 4 * n_ctx));
    // Record 0 (chunk 0, position `first`) decodes to the log-probabilities within half a step.
    {
        llama::state s(m.c, n_ctx);
        const float* lg = nullptr;
        for (int j = 0; j <= first; ++j) lg = llama::forward(m, s, j == 0 ? 1 : tok[static_cast<std::size_t>(j)], j, pool);
        std::vector<float> lp(static_cast<std::size_t>(V));
        llama::log_softmax(lg, lp.data(), V);
        float scale, lo;
        const std::uint8_t* rec = bytes.data() + 20 + 4u * 4 * n_ctx;
        std::memcpy(&scale, rec, 4);
        std::memcpy(&lo, rec + 4, 4);
        CHECK(scale > 0);
        const float top = *std::max_element(lp.begin(), lp.end());
        for (int v = 0; v < V; ++v) {
            std::uint16_t q;
            std::memcpy(&q, rec + 8 + 2 * v, 2);
            const float decoded = scale * q + lo;
            if (lp[static_cast<std::size_t>(v)] > top - 16) CHECK(std::fabs(decoded - lp[static_cast<std::size_t>(v)]) < scale + 1e-4f);
            else CHECK(q == 0);
        }
    }

    // Read back against the same model: KLD 0 (to the file's 16-bit rounding), same top token everywhere.
    auto b = llama::base_file::open(base.c_str(), V);
    REQUIRE_MESSAGE(b.ok(), b.error().message());
    log = std::tmpfile();
    o.out = log;
    auto k = llama::kl_divergence(m, *b, o, pool);
    REQUIRE_MESSAGE(k.ok(), k.error().message());
    CHECK(k->count == r->count);
    CHECK(std::fabs(k->sum_kld / static_cast<double>(k->count)) < 1e-5);
    CHECK(k->same_top == k->count);
    CHECK(std::exp(k->sum_nll / static_cast<double>(k->count)) == doctest::Approx(r->ppl).epsilon(1e-4));
    CHECK(std::exp(k->sum_nll_base / static_cast<double>(k->count)) == doctest::Approx(std::exp(nll_window / static_cast<double>(n))).epsilon(1e-4));
    const std::string kprinted = captured(log);
    for (const char* line : {"Mean PPL(Q)                   :", "Mean PPL(base)                :", "Mean    KLD:", "99.0%   KLD:",
                             "Median  KLD:", "Same top p: 100.000 ± 0.000 %"})
        CHECK_MESSAGE(kprinted.find(line) != std::string::npos, line);
    std::fclose(log);

    // A quantized model against the F32 base: KLD > 0 and the PPL it reports is its own.
    llama::model q = m;
    REQUIRE(llama::quantize_model(q, *llama::parse_scheme_name("w2g32"), pool).ok());
    log = std::tmpfile();
    o.out = log;
    auto kq = llama::kl_divergence(q, *b, o, pool);
    REQUIRE(kq.ok());
    CHECK(kq->sum_kld / static_cast<double>(kq->count) > 1e-3);
    CHECK(kq->same_top < kq->count);
    std::fclose(log);
    std::remove(base.c_str());
}

TEST_CASE("perplexity: malformed base files are refused with one clear line") {
    const auto& m = small_model();
    const std::vector<int> tok = sampled_tokens();
    lowbit::serial_executor ex;
    llama::perplexity_options o;
    o.n_ctx = 16;
    o.bos = 1;
    std::FILE* log = std::tmpfile();
    o.out = log;
    const std::string good = "test_llama_text_good.bin", bad = "test_llama_text_bad.bin";
    REQUIRE(llama::perplexity(m, tok, o, ex, good.c_str()).ok());
    std::fclose(log);
    const std::vector<std::uint8_t> g = file_bytes(good);
    auto put_i32 = [](std::vector<std::uint8_t> b, std::size_t at, std::int32_t v) {
        std::memcpy(b.data() + at, &v, 4);
        return b;
    };
    const float nan = std::nanf("");
    struct bad_case {
        const char* name;
        std::vector<std::uint8_t> bytes;
        const char* says;
    };
    const int chunks = static_cast<int>(tok.size() / 16);
    std::vector<std::uint8_t> magic = g;
    magic[0] = 'X';
    std::vector<std::uint8_t> nan_rec = g;
    std::memcpy(nan_rec.data() + 20 + 4u * 16 * chunks, &nan, 4);
    // A finite but huge scale states log-probabilities far above 0: exp() of them is Inf (found by fuzz_kld_base).
    std::vector<std::uint8_t> huge_rec = g;
    const float huge = 1e30f;
    std::memcpy(huge_rec.data() + 20 + 4u * 16 * chunks, &huge, 4);
    const bad_case cases[] = {
        {"empty", {}, "empty"},
        {"short", std::vector<std::uint8_t>(g.begin(), g.begin() + 12), "no _logits_ header"},
        {"magic", magic, "no _logits_ header"},
        {"truncated", std::vector<std::uint8_t>(g.begin(), g.end() - 1), "promises"},
        {"trailing", [&] { auto b = g; b.push_back(0); return b; }(), "promises"},
        {"vocab", put_i32(g, 12, 1000), "vocabulary of 1000 tokens, the model has 512"},
        {"n_ctx", put_i32(g, 8, 2), "implausible header"},
        {"n_chunk", put_i32(g, 16, -1), "implausible header"},
        {"token", put_i32(g, 20 + 4 * 5, 9999), "token 5 is 9999"},
        {"record", nan_rec, "record 0 has scale nan"},
        {"record above 0", huge_rec, "record 0 has scale 1e+30"},
    };
    for (const bad_case& c : cases) {
        CAPTURE(c.name);
        write_bytes(bad, c.bytes);
        auto b = llama::base_file::open(bad.c_str(), m.c.vocab);
        REQUIRE(!b.ok());
        const std::string msg = b.error().message();
        CHECK_MESSAGE(msg.find(c.says) != std::string::npos, msg);
        CHECK(msg.find('\n') == std::string::npos);
    }
    auto missing = llama::base_file::open("test_llama_text_no_such_file.bin", m.c.vocab);
    CHECK(!missing.ok());
    CHECK(std::string(missing.error().message()).find("cannot open") != std::string::npos);
    std::remove(good.c_str());
    std::remove(bad.c_str());
}

TEST_CASE("perplexity: too little text, a bad --ctx and out-of-vocabulary tokens are refused") {
    const auto& m = small_model();
    lowbit::serial_executor ex;
    llama::perplexity_options o;
    o.n_ctx = 64;
    std::FILE* log = std::tmpfile();
    o.out = log;
    std::vector<int> few(100, 5);
    auto r = llama::perplexity(m, few, o, ex);
    CHECK(!r.ok());
    CHECK(std::string(r.error().message()).find("needs at least 128") != std::string::npos);
    o.n_ctx = 2;
    CHECK(!llama::perplexity(m, few, o, ex).ok());
    o.n_ctx = 16;
    few[7] = 512;
    auto oov = llama::perplexity(m, few, o, ex);
    CHECK(!oov.ok());
    CHECK(std::string(oov.error().message()).find("token 512") != std::string::npos);
    std::fclose(log);
}

TEST_CASE("perplexity: text end to end through a GGUF that carries its vocabulary") {
    // stories260K (vocab 512) exported with the first 512 pieces of the
    // tinyllama vocabulary (<unk> <s> </s>, the 256 byte pieces, 253 merges):
    // a consistent SentencePiece vocabulary of the model's size.
    llama::vocab v = converter_vocab();
    v.tokens.resize(512), v.scores.resize(512), v.types.resize(512);
    v.ids.clear();
    for (std::size_t i = 0; i < v.tokens.size(); ++i) v.ids[v.tokens[i]] = static_cast<int>(i);
    const std::string path = "test_llama_text_model.gguf";
    REQUIRE(llama::export_gguf(small_model(), path.c_str(), "test", &v).ok());
    auto m = llama::load_model(path.c_str());
    REQUIRE_MESSAGE(m.ok(), m.error().message());
    auto f = tool_files::open_input(path);
    REQUIRE(f.ok());
    auto g = lowbit::gguf::gguf_file::parse((*f)->bytes());
    REQUIRE(g.ok());
    auto t = llama::tokenizer::from_gguf(*g);
    REQUIRE_MESSAGE(t.ok(), t.error().message());
    CHECK(t->size() == m->c.vocab);
    const std::string text = slurp(data_dir + "/dev.txt").substr(0, 3000);
    auto ids = t->encode(text, true);
    REQUIRE(ids.ok());
    CHECK(ids->front() == 1);
    CHECK(*std::max_element(ids->begin(), ids->end()) < 512);
    // (no decode check here: "▁" is not among the 512 pieces, so a lone space
    // marker falls back to its three bytes and decodes as "▁", as in llama.cpp)
    lowbit::thread_pool pool(2);
    llama::perplexity_options o;
    o.n_ctx = 128;
    o.n_chunks = 3;
    o.bos = t->vocabulary().bos;
    std::FILE* log = std::tmpfile();
    o.out = log;
    auto r = llama::perplexity(*m, *ids, o, pool);
    REQUIRE_MESSAGE(r.ok(), r.error().message());
    CHECK(r->chunks == 3);
    CHECK(std::isfinite(r->ppl));
    CHECK(r->ppl > 1);
    std::fclose(log);
    std::remove(path.c_str());
}

TEST_CASE("tokenizer: the ids llama.cpp's llama-tokenize gives, on odd bytes, both vocabulary kinds") {
    std::vector<std::uint8_t> k3, kd;
    const llama::tokenizer b3 = through_gguf(hand_bpe("llama-bpe"), k3), bd = through_gguf(hand_bpe("default"), kd);
    for (const llama_tokenize_case& c : llama_tokenize_cases) {
        CAPTURE(c.vocab);
        CAPTURE(c.text);
        const std::string v = c.vocab;
        const llama::tokenizer& t = v == "spm" ? sotu_tokenizer() : v == "bpe3" ? b3 : bd;
        auto ids = t.encode(c.text, true);
        REQUIRE(ids.ok());
        CHECK(*ids == c.ids);
    }
}

TEST_CASE("lowbit-llama int8 path: K-quant weights and the classifier run on their GGUF blocks") {
    // A one-layer model whose rows are multiples of 256, so q4_k stays Q4_K.
    llama::synthetic_spec sp;
    sp.dim = 256, sp.hidden = 512, sp.layers = 1, sp.heads = 4, sp.kv_heads = 2, sp.vocab = 320, sp.seq = 48;
    lowbit::thread_pool pool(2);
    auto made = llama::make_synthetic(sp, *llama::parse_scheme_name("q4_k"), pool);
    REQUIRE_MESSAGE(made.ok(), made.error().message());
    llama::model& m = *made;
    REQUIRE(m.layers[0].wq.gguf_type == llama::gg::gguf_type::q4_K);
    CHECK(m.layers[0].wq.runs_on_blocks());
    CHECK(m.layers[0].w2.runs_on_blocks());
    auto cls = llama::quantize_ggml(llama::linear::from_floats(sp.vocab, sp.dim, m.cls()), llama::gg::gguf_type::q6_K);
    REQUIRE(cls.ok());
    m.classifier_blocks = std::move(*cls);
    CHECK(m.classifier_blocks.runs_on_blocks());

    llama::run_options fma, i8;
    i8.matmul.path = lowbit::matmul_path::int8_dot;
    std::vector<int> tok(40);
    for (std::size_t i = 0; i < tok.size(); ++i) tok[i] = static_cast<int>((i * 37 + 5) % sp.vocab);

    // One matvec is exactly the kernel it runs: the tiled K-quant copy
    // (tile_linear) by default, kquant::gemv; with the tiled copies off
    // (--layout plain), the blocks themselves, gguf::gemv.
    std::vector<float> x(sp.dim), y(sp.dim), ref(sp.dim);
    for (int i = 0; i < sp.dim; ++i) x[i] = std::sin(0.1f * static_cast<float>(i));
    llama::op_times times;
    i8.times = &times;
    REQUIRE(!m.layers[0].wq.blocks_tiled.empty());
    llama::matvec(m.layers[0].wq, x.data(), y.data(), pool, i8);
    REQUIRE(lowbit::kquant::gemv(m.layers[0].wq.blocks_tiled.view(), lowbit::span<const float>(x), lowbit::span<float>(ref), pool).ok());
    CHECK(y == ref);
    CHECK(times.matmul > 0);
    llama::run_options plain = i8;
    plain.tiled = false;
    llama::matvec(m.layers[0].wq, x.data(), y.data(), pool, plain);
    REQUIRE(lowbit::gguf::gemv(llama::gg::gguf_type::q4_K, m.layers[0].wq.gguf_data.data(), sp.dim, sp.dim,
                               lowbit::span<const float>(x), lowbit::span<float>(ref), pool)
                .ok());
    CHECK(y == ref);
    i8.times = nullptr;

    // Decoding on the blocks stays close to the float copy (only the Q8_K/Q8_0
    // activation rounding and the classifier's Q6_K differ), and batched prefill
    // on the blocks gives the token-by-token logits.
    llama::state s8(m.c, 40), sf(m.c, 40);
    llama::prefill_state ps;
    llama::prefill(m, tok.data(), 40, 0, ps, pool, i8);
    double worst_pf = 0, err = 0, norm = 0;
    for (int pos = 0; pos < 40; ++pos) {
        const float* a = llama::forward(m, s8, tok[static_cast<std::size_t>(pos)], pos, pool, i8);
        const float* b = llama::forward(m, sf, tok[static_cast<std::size_t>(pos)], pos, pool, fma);
        for (int v = 0; v < sp.vocab; ++v) {
            worst_pf = std::max(worst_pf, std::fabs(static_cast<double>(a[v]) - ps.logits[static_cast<std::size_t>(pos) * sp.vocab + v]));
            err += (static_cast<double>(a[v]) - b[v]) * (static_cast<double>(a[v]) - b[v]);
            norm += static_cast<double>(b[v]) * b[v];
        }
    }
    CHECK(worst_pf < 1e-4);
    CHECK(err < 1e-3 * norm);  // relative error below ~3 %
    CHECK(err > 0);            // the blocks path did run (it rounds the activations)
}

TEST_CASE("lowbit-llama --bench: tests parsed, nonsense refused with one line") {
    auto t = llama::parse_bench("pp512,tg128");
    REQUIRE(t.ok());
    REQUIRE(t->size() == 2);
    CHECK(((*t)[0].prompt && (*t)[0].tokens == 512));
    CHECK((!(*t)[1].prompt && (*t)[1].tokens == 128));
    for (const char* bad : {"", "pp", "pp0", "tg-3", "xx12", "pp12x", "pp99999999"}) {
        CAPTURE(bad);
        auto r = llama::parse_bench(bad);
        REQUIRE(!r.ok());
        CHECK(std::string(r.error().message()).find("--bench") != std::string::npos);
    }
    llama::synthetic_spec sp;
    sp.dim = 64, sp.hidden = 128, sp.layers = 1, sp.heads = 2, sp.kv_heads = 2, sp.vocab = 64, sp.seq = 16;
    lowbit::serial_executor ex;
    auto m = llama::make_synthetic(sp, *llama::parse_scheme_name("f32"), ex);
    REQUIRE(m.ok());
    llama::bench_test too_long;
    too_long.tokens = 17;
    CHECK(!llama::run_bench(*m, too_long, 1, ex, {}).ok());
    llama::bench_test tg;
    tg.prompt = false, tg.tokens = 8;
    auto r = llama::run_bench(*m, tg, 2, ex, {});
    REQUIRE(r.ok());
    CHECK(r->mean_tps > 0);
    CHECK(r->matmul_share > 0);
    CHECK(r->matmul_share + r->attention_share <= 1.0);
}

// A GGUF of a one-layer model with a linear in each ggml type lowbit-llama
// handles differently (K-quants: blocks or tiles; Q4_0/Q8_0: a qmatrix and its
// tiled copy; Q5_1: blocks or f32 values), rows multiples of 256.
static std::string mixed_ggml_gguf(const char* path) {
    llama::synthetic_spec sp;
    sp.dim = 256, sp.hidden = 512, sp.layers = 1, sp.heads = 4, sp.kv_heads = 2, sp.vocab = 96, sp.seq = 16;
    lowbit::serial_executor ex;
    auto m = llama::make_synthetic(sp, *llama::parse_scheme_name("f32"), ex);
    REQUIRE(m.ok());
    llama::tensor_schemes ts;
    for (const char* s : {"q4_k", "q5_k", "q6_k", "q4_0", "q8_0", "q6_k", "q5_1"}) ts.push_back(*llama::parse_scheme_name(s));
    REQUIRE(llama::quantize_tensors(*m, ts, ex).ok());
    REQUIRE(llama::export_gguf(*m, path).ok());
    return path;
}

TEST_CASE("lowbit-llama one copy: a GGUF loaded for one run holds each weight once and gives the bits of a full load") {
    const std::string path = mixed_ggml_gguf("test_llama_text_one_copy.gguf");
    lowbit::thread_pool pool(2);
    const int tok[] = {1, 17, 42, 5, 88, 3, 60, 9};
    for (const bool int8 : {true, false})
        for (const bool tiled : {true, false}) {
            CAPTURE(int8);
            CAPTURE(tiled);
            llama::run_options o;
            o.matmul.path = int8 ? lowbit::matmul_path::int8_dot : lowbit::matmul_path::dequant_fma;
            o.tiled = tiled;
            auto full = llama::load_model(path.c_str());  // every form, tiled as lowbit-llama tiles (quantize_model)
            REQUIRE(full.ok());
            llama::tile_model(*full);
            auto one = llama::load_model(path.c_str(), &o);
            REQUIRE_MESSAGE(one.ok(), one.error().message());
            // each linear holds one form: the one this run reads
            const llama::layer& y = one->layers[0];
            for (const llama::linear* l : {&y.wq, &y.wk, &y.wv, &y.w2}) {
                CHECK(l->w.empty() == int8);
                CHECK(l->gguf_data.empty() == (!int8 || tiled));
                CHECK(l->blocks_tiled.empty() == !(int8 && tiled));
                CHECK(llama::runs_as(*l, o) == (!int8 ? "f32" : tiled ? "tiled K-quant" : std::string("ggml blocks ") + lowbit::gguf::type_name(l->gguf_type)));
            }
            for (const llama::linear* l : {&y.wo, &y.w1}) {  // Q4_0, Q8_0: the qmatrix or its tiled copy, no blocks
                CHECK(l->gguf_data.empty());
                CHECK(l->q.storage.codes.empty() == tiled);
                CHECK(l->has_tiled == tiled);
            }
            CHECK(y.w3.w.empty() == int8);  // Q5_1: blocks on the int8 path, f32 values on fma
            CHECK(y.w3.gguf_data.empty() == !int8);
            std::size_t want = one->float_bytes();
            y.for_each_linear([&](const llama::linear& l, const char*) {
                want += !l.w.empty() ? l.w.size() * 4 : !l.blocks_tiled.empty() ? l.blocks_tiled.view().bytes() : l.bytes;
            });
            CHECK(one->held_bytes() == want);  // the Q4_0/Q8_0 qmatrix and tiles hold the blocks' bytes
            CHECK(one->held_bytes() < full->held_bytes());
            // the same logits, bit for bit, token by token and as a prefill
            llama::state sf(full->c, 8), so(one->c, 8);
            for (int pos = 0; pos < 8; ++pos) {
                const float* a = llama::forward(*full, sf, tok[pos], pos, pool, o);
                const float* b = llama::forward(*one, so, tok[pos], pos, pool, o);
                CHECK(std::memcmp(a, b, sizeof(float) * full->c.vocab) == 0);
            }
            llama::prefill_state pf, po;
            llama::prefill(*full, tok, 8, 0, pf, pool, o);
            llama::prefill(*one, tok, 8, 0, po, pool, o);
            CHECK(pf.logits == po.logits);
            llama::sampler greedy;
            greedy.temperature = 0;
            CHECK(llama::generate(*full, 8, greedy, pool, o) == llama::generate(*one, 8, greedy, pool, o));
            // what the other runs read is gone, and saying so beats garbage
            const lowbit::status ex = llama::export_gguf(*one, "test_llama_text_one_copy_out.gguf");
            CHECK(!ex.ok());
            CHECK(std::string(ex.message()).find("one copy") != std::string::npos);
            std::remove("test_llama_text_one_copy_out.gguf");
        }
    std::remove(path.c_str());
}

// The one-layer model (q4_k linears) under every file embedding_gguf writes:
// make_synthetic's weights come from a fixed seed, so it is made once and
// copied (quantizing its seven linears to Q4_K was a third of the embedding
// case's time under ASan+UBSan, fifteen times over).
static const llama::model& synthetic_q4_k() {
    static const llama::model base = [] {
        llama::synthetic_spec sp;
        sp.dim = 256, sp.hidden = 512, sp.layers = 1, sp.heads = 4, sp.kv_heads = 2, sp.vocab = 96, sp.seq = 16;
        lowbit::serial_executor ex;
        auto m = llama::make_synthetic(sp, *llama::parse_scheme_name("q4_k"), ex);
        REQUIRE(m.ok());
        return std::move(*m);
    }();
    return base;
}

// A one-layer GGUF (q4_k linears) whose token_embd.weight is stored in `type`;
// `tied`: no output.weight (the classifier is the embedding), else an F32 one.
static std::string embedding_gguf(const char* path, lowbit::gguf::gguf_type type, bool tied) {
    llama::model m = synthetic_q4_k();
    const std::size_t V = static_cast<std::size_t>(m.c.vocab), D = static_cast<std::size_t>(m.c.dim);
    if (!tied) {  // a classifier unlike the embedding: its rows reversed, scaled
        m.classifier.resize(V * D);
        for (std::size_t r = 0; r < V; ++r)
            for (std::size_t i = 0; i < D; ++i) m.classifier[r * D + i] = 1.5f * m.tok_emb[(V - 1 - r) * D + i];
    }
    // the embedding's big values at odd places, so that the blocks' scales differ
    for (std::size_t r = 0; r < V; r += 7) m.tok_emb[r * D + (r * 13) % D] = 0.25f;
    m.tok_blocks.resize(V * static_cast<std::size_t>(lowbit::gguf::row_size(type, m.c.dim)));
    REQUIRE(lowbit::gguf::quantize(type, m.tok_emb.data(), m.tok_blocks.data(), m.c.vocab, m.c.dim, nullptr).ok());
    m.tok_type = type;
    llama::release(m.tok_emb);  // export writes the blocks as they are held
    REQUIRE(llama::export_gguf(m, path).ok());
    return path;
}

// token_embd.weight of the file at `path` decoded whole, as loading did when
// the embedding was always held as f32 values.
static std::vector<float> embedding_decoded(const std::string& path) {
    const std::vector<std::uint8_t> bytes = file_bytes(path);
    auto f = lowbit::gguf::gguf_file::parse(lowbit::span<const std::uint8_t>(bytes.data(), bytes.size()));
    REQUIRE(f.ok());
    const lowbit::gguf::tensor_info* t = f->find_tensor("token_embd.weight");
    REQUIRE(t);
    std::vector<float> out(t->rows() * t->row_length());
    REQUIRE(lowbit::gguf::dequantize_row(t->type, t->data.data(), out.data(), static_cast<std::int64_t>(out.size())).ok());
    return out;
}

TEST_CASE("lowbit-llama embedding in blocks: a quantized token_embd is held in its blocks and gives the logits of its f32 values") {
    namespace g = lowbit::gguf;
    lowbit::thread_pool pool(2);
    const int tok[] = {1, 17, 42, 5, 88, 3, 60, 95, 0};
    const std::string path = "test_llama_text_embedding.gguf", out = "test_llama_text_embedding_out.gguf";
    // LOWBIT_TEST_REDUCED (ASan+UBSan): a pairwise sample of the 7 x 2 x 5 (type, tied, run)
    // grid, 35 of 70: every (type, run) once, tied or not alternating with both, so every
    // (type, tied) and (tied, run) pair still runs (session 29, docs/history/test-command.md).
    const bool sampled = lowbit_test::reduced();
    int type_index = -1;
    for (const g::gguf_type type : {g::gguf_type::q4_0, g::gguf_type::q8_0, g::gguf_type::q4_K, g::gguf_type::q6_K, g::gguf_type::q5_1,
                                    g::gguf_type::f16, g::gguf_type::bf16}) {
        ++type_index;
        for (const bool tied : {true, false}) {
            CAPTURE(g::type_name(type));
            CAPTURE(tied);
            embedding_gguf(path.c_str(), type, tied);
            const std::vector<float> whole = embedding_decoded(path);
            // A load as it was: the same model with the embedding decoded whole into f32 values.
            auto as_floats = [&](llama::model m) {
                m.tok_emb = whole;
                llama::release(m.tok_blocks);
                m.tok_in_classifier = false;
                return m;
            };
            // Every load: the full one (export, --eval), and one copy for each path and layout.
            for (int run = 0; run < 5; ++run) {
                if (sampled && tied != ((type_index + run) % 2 == 0)) continue;
                CAPTURE(run);
                llama::run_options o;
                o.matmul.path = run == 1 || run == 2 ? lowbit::matmul_path::int8_dot : lowbit::matmul_path::dequant_fma;
                o.tiled = run != 2 && run != 4;
                const bool int8 = o.matmul.path == lowbit::matmul_path::int8_dot;
                auto one = run == 0 ? llama::load_model(path.c_str()) : llama::load_model(path.c_str(), &o);
                REQUIRE_MESSAGE(one.ok(), one.error().message());
                if (run == 0) llama::tile_model(*one);
                const llama::model& m = *one;
                const std::size_t V = static_cast<std::size_t>(m.c.vocab), D = static_cast<std::size_t>(m.c.dim);
                const auto row_bytes = static_cast<std::size_t>(g::row_size(type, m.c.dim));
                // Held in blocks unless a tied classifier runs on f32 values (then those serve both:
                // F16/BF16 have no gguf::gemv); tied and on the classifier's blocks, the embedding
                // reads them: one copy.
                const bool cls_on_blocks = run != 0 && int8 && g::matmul_supported(type);
                const bool floats = tied && !cls_on_blocks;
                CHECK(m.tok_emb.empty() == !floats);
                CHECK(m.tok_in_classifier == (tied && cls_on_blocks));
                CHECK(m.tok_blocks.size() == (floats || tied ? 0 : V * row_bytes));
                if (!floats) CHECK(m.tok_type == type);
                if (m.tok_in_classifier) CHECK(m.tok_rows() == m.classifier_blocks.gguf_data.data());
                // every row is the whole tensor's decode, bit for bit
                std::vector<float> row(D);
                for (std::size_t t = 0; t < V; ++t) {
                    REQUIRE(m.embed(static_cast<int>(t), row.data()).ok());
                    CHECK(std::memcmp(row.data(), whole.data() + t * D, D * sizeof(float)) == 0);
                }
                const llama::model ref = as_floats(m);
                // held bytes: the f32 values' place taken by the blocks (none more when tied)
                const std::size_t blocks = floats || tied ? 0 : V * row_bytes;
                CHECK(m.held_bytes() == ref.held_bytes() - (floats ? 0 : V * D * 4) + blocks);
                CHECK(m.total_bytes() == ref.total_bytes() - (floats ? 0 : V * D * 4) + (floats ? 0 : V * row_bytes));
                // the logits of the f32 embedding, bit for bit: decode, prefill, generation
                llama::state sa(m.c, 9), sb(m.c, 9);
                for (int pos = 0; pos < 9; ++pos) {
                    const float* a = llama::forward(m, sa, tok[pos], pos, pool, o);
                    const float* b = llama::forward(ref, sb, tok[pos], pos, pool, o);
                    CHECK(std::memcmp(a, b, sizeof(float) * V) == 0);
                }
                llama::prefill_state pa, pb;
                llama::prefill(m, tok, 9, 0, pa, pool, o);
                llama::prefill(ref, tok, 9, 0, pb, pool, o);
                CHECK(pa.logits == pb.logits);
                llama::sampler greedy;
                greedy.temperature = 0;
                CHECK(llama::generate(m, 8, greedy, pool, o) == llama::generate(ref, 8, greedy, pool, o));
                // bad token ids are refused, by embed and before any run
                for (const int bad : {-1, static_cast<int>(V), 1 << 30}) {
                    const lowbit::status st = m.embed(bad, row.data());
                    CHECK(!st.ok());
                    CHECK(std::string(st.message()).find("outside the model's vocabulary") != std::string::npos);
                }
                std::vector<int> text(64, 3);
                text[40] = static_cast<int>(V);
                llama::perplexity_options po;
                po.n_ctx = 16;
                std::FILE* log = std::tmpfile();
                po.out = log;
                auto oov = llama::perplexity(m, text, po, pool);
                CHECK(!oov.ok());
                std::fclose(log);
                // a full load writes the embedding back as it read it: the same file
                if (run == 0) {
                    REQUIRE(llama::export_gguf(m, out.c_str()).ok());
                    if (!floats) CHECK(file_bytes(out) == file_bytes(path));
                    CHECK(embedding_decoded(out) == whole);
                    std::remove(out.c_str());
                }
            }
        }
    }
    std::remove(path.c_str());
}

TEST_CASE("lowbit-llama export after a one-copy int8 load: an output.weight held only in its blocks is written, not dropped") {
    namespace g = lowbit::gguf;
    const std::string src = embedding_gguf("test_llama_text_cls_src.gguf", g::gguf_type::q8_0, false);
    const std::string blocks = "test_llama_text_cls_q6k.gguf", again = "test_llama_text_cls_again.gguf";
    {  // the same model with output.weight in Q6_K blocks, written from a model that holds only those
        auto m = llama::load_model(src.c_str());
        REQUIRE(m.ok());
        REQUIRE(m->classifier.size() == static_cast<std::size_t>(m->c.vocab) * static_cast<std::size_t>(m->c.dim));
        llama::linear& cb = m->classifier_blocks;
        cb.rows = static_cast<std::size_t>(m->c.vocab), cb.cols = static_cast<std::size_t>(m->c.dim), cb.gguf_type = g::gguf_type::q6_K;
        cb.format = llama::ggml_format_name(cb.gguf_type);
        cb.bytes = cb.rows * static_cast<std::size_t>(g::row_size(cb.gguf_type, m->c.dim));
        cb.gguf_data.resize(cb.bytes);
        REQUIRE(g::quantize(cb.gguf_type, m->classifier.data(), cb.gguf_data.data(), m->c.vocab, m->c.dim, nullptr).ok());
        llama::release(m->classifier);
        m->classifier_in_blocks_only = true;
        REQUIRE(llama::export_gguf(*m, blocks.c_str()).ok());
    }
    llama::run_options o;
    o.matmul.path = lowbit::matmul_path::int8_dot;
    o.tiled = false;
    auto one = llama::load_model(blocks.c_str(), &o);
    REQUIRE_MESSAGE(one.ok(), one.error().message());
    CHECK(one->classifier.empty());
    CHECK(one->classifier_in_blocks_only);
    REQUIRE(llama::export_gguf(*one, again.c_str()).ok());
    CHECK(file_bytes(again) == file_bytes(blocks));  // output.weight written from its blocks, as the file had it
    auto back = llama::load_model(again.c_str());
    REQUIRE(back.ok());
    CHECK(back->classifier.size() == static_cast<std::size_t>(back->c.vocab) * static_cast<std::size_t>(back->c.dim));  // not tied
    llama::release(one->classifier_blocks.gguf_data);  // blocks gone: refused, never a file that reads as tied
    const lowbit::status ex = llama::export_gguf(*one, again.c_str());
    CHECK(!ex.ok());
    CHECK(std::string(ex.message()).find("one copy") != std::string::npos);
    for (const std::string& p : {src, blocks, again}) std::remove(p.c_str());
}
