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
// "<|begin_of_text|>" (266, control, BOS) and "<sep>" (267, user defined).
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
    for (std::size_t i = 0; i < v.tokens.size(); ++i) v.ids[v.tokens[i]] = static_cast<int>(i);
    return v;
}

std::vector<std::string> words(const llama::vocab& v, const std::string& s) {
    auto w = llama::bpe_pretokenize(v, s);
    REQUIRE_MESSAGE(w.ok(), w.error().message());
    return std::vector<std::string>(w->begin(), w->end());
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
    // Any bytes round-trip.
    const std::string samples[] = {"Hello the world", std::string("\0\x01\xff\xfe", 4), "cut \xE2\x82 \xF0 end", "tab\t\r\n x  "};
    for (const std::string& s : samples) {
        CHECK(t3.decode(enc(t3, s, true)) == s);
        CHECK(td.decode(enc(td, s, true)) == s);
    }
    // An unknown pre-tokenizer is refused by name.
    llama::vocab odd = hand_bpe("qwen2");
    std::vector<int> out;
    const auto st = llama::bpe_encode(odd, "x", out);
    CHECK(!st.ok());
    CHECK(std::string(st.message()).find("qwen2") != std::string::npos);
}
