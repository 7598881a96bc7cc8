// Hostile inputs for lowbit-llama's text readers (examples/llama, issue 14):
// vocabularies read from GGUF (vocab.hpp) that are malformed or odd, and texts
// that are invalid UTF-8 or very long runs of one character (tokenizer_spm.hpp,
// tokenizer_bpe.hpp). Each gets one clear error or a stated result; long
// inputs are checked for the right result and for memory linear in their size
// (alloc_meter.hpp: this binary's operator new counts bytes), not for time.
// The base-logits reader's hostile files are in test_llama_text.cpp
// ("malformed base files") and fuzzed by tests/fuzz/fuzz_kld_base.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "tokenizer.hpp"

#include "hostile/alloc_meter.hpp"

namespace {

namespace g = lowbit::gguf;

// A GGUF whose metadata is whatever `fill` sets (arrays written raw, so that
// values write_vocab would never produce can be tried).
std::vector<std::uint8_t> gguf_of(const std::function<void(g::gguf_writer&)>& fill) {
    g::gguf_writer w;
    fill(w);
    std::vector<std::uint8_t> out;
    REQUIRE(w.write_header(g::byte_sink::to_vector(out)).ok());
    REQUIRE(w.finish().ok());
    return out;
}

void set(g::gguf_writer& w, const char* k, g::meta_value v) { REQUIRE(w.set(k, std::move(v)).ok()); }

g::meta_value strings(const std::vector<std::string>& s) {
    std::vector<std::string_view> v(s.begin(), s.end());
    return g::meta_value::array_of_strings(lowbit::span<const std::string_view>(v.data(), v.size()));
}
template <class T>
g::meta_value array(const std::vector<T>& x) {
    return g::meta_value::array_of(lowbit::span<const T>(x.data(), x.size()));
}

// load_vocab on the GGUF `fill` makes; the GGUF bytes are kept alive in `keep`.
lowbit::result<llama::tokenizer> tokenizer_of(const std::function<void(g::gguf_writer&)>& fill, std::vector<std::uint8_t>& keep) {
    keep = gguf_of(fill);
    auto f = g::gguf_file::parse(lowbit::span<const std::uint8_t>(keep.data(), keep.size()));
    REQUIRE_MESSAGE(f.ok(), f.error().message());
    auto t = llama::tokenizer::from_gguf(*f);
    if (!t) return t.error();
    return std::move(*t);
}

// A SentencePiece vocabulary: <unk> <s> </s>, the 256 byte pieces, then `pieces`
// (scores: the piece's length, so longer pieces merge first).
llama::vocab spm_vocab(const std::vector<std::string>& pieces) {
    llama::vocab v;
    v.type = llama::vocab::kind::spm;
    v.tokens = {"<unk>", "<s>", "</s>"};
    v.types = {llama::token_type::unknown, llama::token_type::control, llama::token_type::control};
    static const char* hex = "0123456789ABCDEF";
    for (unsigned b = 0; b < 256; ++b) {
        v.tokens.push_back(std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">");
        v.types.push_back(llama::token_type::byte);
    }
    for (const std::string& p : pieces) v.tokens.push_back(p), v.types.push_back(llama::token_type::normal);
    for (const std::string& t : v.tokens) v.scores.push_back(static_cast<float>(t.size()));
    v.unk = 0, v.bos = 1, v.eos = 2, v.add_bos = true, v.add_space_prefix = true;
    return v;
}

// A byte-level BPE vocabulary: the 256-symbol alphabet, then one piece per merge.
llama::vocab bpe_vocab(const char* pre, const std::vector<std::pair<std::string, std::string>>& merges) {
    llama::vocab v;
    v.type = llama::vocab::kind::bpe;
    v.pre = pre;
    for (unsigned b = 0; b < 256; ++b) {
        std::string p;
        llama::utf8_append(p, llama::byte_to_unicode(static_cast<unsigned char>(b)));
        v.tokens.push_back(p);
    }
    int rank = 0;
    for (const auto& m : merges) {
        v.tokens.push_back(m.first + m.second);
        v.merge_rank.emplace(m.first + '\0' + m.second, rank++);
    }
    v.types.assign(v.tokens.size(), llama::token_type::normal);
    v.scores.assign(v.tokens.size(), 0.f);
    return v;
}

std::vector<std::uint8_t> vocab_gguf(const llama::vocab& v) {
    return gguf_of([&](g::gguf_writer& w) { REQUIRE(llama::write_vocab(w, v).ok()); });
}

lowbit::result<llama::tokenizer> load(const std::vector<std::uint8_t>& bytes) {
    auto f = g::gguf_file::parse(lowbit::span<const std::uint8_t>(bytes.data(), bytes.size()));
    REQUIRE_MESSAGE(f.ok(), f.error().message());
    auto t = llama::tokenizer::from_gguf(*f);
    if (!t) return t.error();
    return std::move(*t);
}

std::string repeat(const std::string& s, std::size_t n) {
    std::string out;
    out.reserve(s.size() * n);
    for (std::size_t i = 0; i < n; ++i) out += s;
    return out;
}

}  // namespace

TEST_CASE("llama vocab: malformed tokenizer.ggml.* metadata is refused naming the key") {
    const std::vector<std::string> toks = {"<unk>", "<s>", "</s>", "a", "b"};
    auto base = [&](g::gguf_writer& w, const char* model) {
        set(w, "tokenizer.ggml.model", g::meta_value::string(model));
        set(w, "tokenizer.ggml.tokens", strings(toks));
    };
    struct bad_case {
        const char* name;
        std::function<void(g::gguf_writer&)> fill;
        const char* says;
    };
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const bad_case cases[] = {
        {"no model", [&](g::gguf_writer& w) { set(w, "tokenizer.ggml.tokens", strings(toks)); }, "tokenizer.ggml.model is missing"},
        {"unknown model", [&](g::gguf_writer& w) { base(w, "bert"); }, "'bert' is not supported"},
        {"no tokens", [&](g::gguf_writer& w) { set(w, "tokenizer.ggml.model", g::meta_value::string("llama")); }, "tokenizer.ggml.tokens is missing"},
        {"tokens not strings", [&](g::gguf_writer& w) {
             set(w, "tokenizer.ggml.model", g::meta_value::string("llama"));
             set(w, "tokenizer.ggml.tokens", array(std::vector<std::int32_t>{1, 2}));
         }, "tokenizer.ggml.tokens is not an array of strings"},
        {"zero tokens", [&](g::gguf_writer& w) {
             set(w, "tokenizer.ggml.model", g::meta_value::string("llama"));
             set(w, "tokenizer.ggml.tokens", strings({}));
         }, "has 0 entries"},
        {"scores count", [&](g::gguf_writer& w) { base(w, "llama"); set(w, "tokenizer.ggml.scores", array(std::vector<float>{0, 0})); },
         "tokenizer.ggml.scores is not 5 f32 values"},
        {"scores NaN", [&](g::gguf_writer& w) { base(w, "llama"); set(w, "tokenizer.ggml.scores", array(std::vector<float>{0, 0, 0, nan, 0})); },
         "tokenizer.ggml.scores[3] (piece 3) is NaN"},
        {"types f32", [&](g::gguf_writer& w) { base(w, "llama"); set(w, "tokenizer.ggml.token_type", array(std::vector<float>{1, 1, 1, 1, 1})); },
         "tokenizer.ggml.token_type is not 5 i32 values"},
        {"BOS past the end", [&](g::gguf_writer& w) { base(w, "llama"); set(w, "tokenizer.ggml.bos_token_id", g::meta_value::u32(5)); },
         "tokenizer.ggml.bos_token_id is not a token id below the vocabulary size 5"},
        {"EOS huge", [&](g::gguf_writer& w) { base(w, "llama"); set(w, "tokenizer.ggml.eos_token_id", g::meta_value::u64(~0ull)); },
         "tokenizer.ggml.eos_token_id is not a token id"},
        {"EOS negative", [&](g::gguf_writer& w) { base(w, "llama"); set(w, "tokenizer.ggml.eos_token_id", g::meta_value::i32(-1)); },
         "tokenizer.ggml.eos_token_id is not a token id"},
        {"UNK a string", [&](g::gguf_writer& w) { base(w, "llama"); set(w, "tokenizer.ggml.unknown_token_id", g::meta_value::string("0")); },
         "tokenizer.ggml.unknown_token_id is not a token id"},
        {"add_bos without BOS", [&](g::gguf_writer& w) {
             set(w, "tokenizer.ggml.model", g::meta_value::string("gpt2"));
             set(w, "tokenizer.ggml.tokens", strings(toks));
             set(w, "tokenizer.ggml.merges", strings({}));
             set(w, "tokenizer.ggml.add_bos_token", g::meta_value::boolean(true));
         }, "add_bos_token is set but there is no BOS token id"},
        {"gpt2 without merges", [&](g::gguf_writer& w) { base(w, "gpt2"); }, "tokenizer.ggml.merges is missing"},
        {"merge without separator", [&](g::gguf_writer& w) { base(w, "gpt2"); set(w, "tokenizer.ggml.merges", strings({"a b", "ab"})); },
         "tokenizer.ggml.merges[1] has no 'left right' separator"},
        {"empty merge", [&](g::gguf_writer& w) { base(w, "gpt2"); set(w, "tokenizer.ggml.merges", strings({""})); },
         "tokenizer.ggml.merges[0] has no 'left right' separator"},
    };
    for (const bad_case& c : cases) {
        CAPTURE(c.name);
        std::vector<std::uint8_t> keep;
        auto t = tokenizer_of(c.fill, keep);
        REQUIRE(!t.ok());
        const std::string msg = t.error().message();
        CHECK_MESSAGE(msg.find(c.says) != std::string::npos, msg);
    }
    // An unknown pre-tokenizer loads (it is only a name) and fails on first use.
    std::vector<std::uint8_t> keep;
    auto t = tokenizer_of([&](g::gguf_writer& w) {
        base(w, "gpt2");
        set(w, "tokenizer.ggml.merges", strings({}));
        set(w, "tokenizer.ggml.pre", g::meta_value::string("qwen9"));
    }, keep);
    REQUIRE(t.ok());
    auto ids = t->encode("ab");
    REQUIRE(!ids.ok());
    CHECK(std::string(ids.error().message()).find("pre-tokenizer 'qwen9' is not supported") != std::string::npos);
}

TEST_CASE("llama vocab: duplicate, empty, non-UTF-8 pieces, ±Inf scores and unknown token types have a defined meaning") {
    llama::vocab v = spm_vocab({"\xE2\x96\x81", "\xE2\x96\x81" "ab", "ab", "", "\xFF\xFE", "q", "ab"});
    const int n = v.size();
    const int space = n - 7, empty = n - 4, ff = n - 3, q = n - 2, ab_last = n - 1;
    v.scores[static_cast<std::size_t>(ff)] = std::numeric_limits<float>::infinity();
    v.scores[static_cast<std::size_t>(q)] = -std::numeric_limits<float>::infinity();
    v.types[static_cast<std::size_t>(q)] = static_cast<llama::token_type>(99);  // out of range: read back as undefined
    auto t = load(vocab_gguf(v));
    REQUIRE_MESSAGE(t.ok(), t.error().message());
    CHECK(t->vocabulary().type_of(q) == llama::token_type::undefined);
    CHECK(t->vocabulary().find("ab") == ab_last);  // duplicate pieces: the last id wins (as llama.cpp)
    auto ids = t->encode("xab", false);
    REQUIRE(ids.ok());
    CHECK(*ids == std::vector<int>{space, 3 + 'x', ab_last});
    CHECK(t->decode(*ids) == "xab");
    // The empty piece is never produced and decodes to nothing; encode("") is empty.
    CHECK(t->decode({empty}).empty());
    CHECK(t->encode("", false)->empty());
    // A non-UTF-8 piece matches the same bytes in the text (symbols are cut by lead byte, unvalidated).
    ids = t->encode("\xFF\xFE", false);
    REQUIRE(ids.ok());
    CHECK(*ids == std::vector<int>{space, ff});
    CHECK(t->decode(*ids) == "\xFF\xFE");
    // A piece of an undefined type is still encoded to (it is in the vocabulary) but decodes to nothing, like control pieces.
    ids = t->encode("q", false);
    REQUIRE(ids.ok());
    CHECK(ids->back() == q);
    CHECK(t->decode({q}).empty());
}

TEST_CASE("llama vocab: merges naming pieces the vocabulary lacks, and a huge merges list") {
    // "x y" merges to "xy", which is no piece: the symbol falls back to one token per code point.
    // "zz qq" names pieces that are not in the vocabulary at all: never matches anything.
    llama::vocab v = bpe_vocab("llama-bpe", {{"a", "b"}});
    v.merge_rank.emplace(std::string("x") + '\0' + "y", 1);
    v.merge_rank.emplace(std::string("zz") + '\0' + "qq", 2);
    auto t = load(vocab_gguf(v));
    REQUIRE_MESSAGE(t.ok(), t.error().message());
    auto ids = t->encode("xyab", false);
    REQUIRE(ids.ok());
    CHECK(*ids == std::vector<int>{t->vocabulary().find("x"), t->vocabulary().find("y"), 256});
    CHECK(t->decode(*ids) == "xyab");

    // 200 000 merges (4.4 MB of GGUF): loads, and memory stays a small multiple of the file.
    std::vector<std::string> merges;
    for (int i = 0; i < 200000; ++i) merges.push_back("m" + std::to_string(i) + " n" + std::to_string(i));
    const std::vector<std::uint8_t> bytes = gguf_of([&](g::gguf_writer& w) {
        set(w, "tokenizer.ggml.model", g::meta_value::string("gpt2"));
        set(w, "tokenizer.ggml.tokens", strings({"a", "b"}));
        set(w, "tokenizer.ggml.merges", strings(merges));
    });
    const std::size_t base = alloc_meter::mark();
    auto big = load(bytes);
    const std::size_t peak = alloc_meter::peak_since(base);
    REQUIRE(big.ok());
    CHECK(big->vocabulary().merge_rank.size() == merges.size());
    MESSAGE("200k merges: GGUF " << bytes.size() << " bytes, load_vocab peak " << peak << " bytes");
    CHECK(peak < 40 * bytes.size());
}

// 2^20 copies of one character through both encoders: the result is known,
// and the memory is a bounded multiple of the text (measured: 85 bytes per
// byte for SentencePiece, 100-155 for byte-level BPE; the merge loops are
// O(n log n): one heap entry per pair, each symbol merged once per level).
TEST_CASE("llama tokenizer: 1 MiB runs of one character and of invalid UTF-8 encode to the expected ids") {
    const std::size_t n = std::size_t{1} << 20;
    auto measure = [](const llama::tokenizer& t, const std::string& text, bool special, std::size_t* peak) {
        const std::size_t base = alloc_meter::mark();
        auto ids = t.encode(text, special);
        *peak = alloc_meter::peak_since(base);
        REQUIRE_MESSAGE(ids.ok(), ids.error().message());
        return std::move(*ids);
    };
    std::size_t peak = 0;
    SUBCASE("spm: 'a' and 'é' with pieces of 1, 2, 4, ... 1024 copies") {
        for (const std::string& ch : {std::string("a"), std::string("\xC3\xA9")}) {
            CAPTURE(ch);
            std::vector<std::string> pieces = {"\xE2\x96\x81"};
            for (std::size_t k = 1; k <= 1024; k *= 2) pieces.push_back(repeat(ch, k));
            auto t = load(vocab_gguf(spm_vocab(pieces)));
            REQUIRE(t.ok());
            const std::string text = repeat(ch, n / ch.size());
            const std::vector<int> ids = measure(*t, text, true, &peak);
            const int top = t->vocabulary().find(repeat(ch, 1024));
            REQUIRE(ids.size() == 2 + n / ch.size() / 1024);
            CHECK(ids[0] == 1);
            CHECK(ids[1] == t->vocabulary().find("\xE2\x96\x81"));
            CHECK(std::count(ids.begin(), ids.end(), top) == static_cast<std::ptrdiff_t>(n / ch.size() / 1024));
            MESSAGE("spm, 1 MiB of '" << ch << "': " << ids.size() << " ids, encode peak " << peak << " bytes");
            CHECK(peak < 128 * n);
        }
    }
    SUBCASE("spm: 1 MiB of 0xFF (no valid UTF-8) falls back to one byte token per byte") {
        auto t = load(vocab_gguf(spm_vocab({"\xE2\x96\x81"})));
        REQUIRE(t.ok());
        const std::vector<int> ids = measure(*t, std::string(n, '\xFF'), false, &peak);
        REQUIRE(ids.size() == 1 + n);
        CHECK(std::count(ids.begin(), ids.end(), 3 + 0xFF) == static_cast<std::ptrdiff_t>(n));
        MESSAGE("spm, 1 MiB of 0xFF: encode peak " << peak << " bytes");
        CHECK(peak < 128 * n);
    }
    SUBCASE("bpe: 'a' with merges up to 1024 copies, under both pre-tokenizers") {
        std::vector<std::pair<std::string, std::string>> merges;
        for (std::size_t k = 1; k < 1024; k *= 2) merges.emplace_back(repeat("a", k), repeat("a", k));
        for (const char* pre_name : {"llama-bpe", "default"}) {
            const std::string pre = pre_name;
            CAPTURE(pre);
            auto t = load(vocab_gguf(bpe_vocab(pre.c_str(), merges)));
            REQUIRE(t.ok());
            const std::vector<int> ids = measure(*t, std::string(n, 'a'), false, &peak);
            REQUIRE(ids.size() == n / 1024);
            CHECK(std::count(ids.begin(), ids.end(), t->vocabulary().find(repeat("a", 1024))) == static_cast<std::ptrdiff_t>(n / 1024));
            MESSAGE("bpe " << pre << ", 1 MiB of 'a': encode peak " << peak << " bytes");
            CHECK(peak < 256 * n);
        }
    }
    SUBCASE("bpe: 1 MiB of '\xE2\x82\xAC' (one symbol word) and of 0xFF (each read as U+FFFD)") {
        auto t = load(vocab_gguf(bpe_vocab("llama-bpe", {})));
        REQUIRE(t.ok());
        std::vector<int> ids = measure(*t, repeat("\xE2\x82\xAC", n / 3), false, &peak);
        REQUIRE(ids.size() == 3 * (n / 3));  // one alphabet token per byte
        CHECK(t->decode(ids) == repeat("\xE2\x82\xAC", n / 3));
        CHECK(peak < 256 * n);
        ids = measure(*t, std::string(n, '\xFF'), false, &peak);
        REQUIRE(ids.size() == 3 * n);  // U+FFFD is EF BF BD
        CHECK(t->decode({ids[0], ids[1], ids[2]}) == "\xEF\xBF\xBD");
        MESSAGE("bpe, 1 MiB of 0xFF: encode peak " << peak << " bytes");
        CHECK(peak < 256 * n);
    }
}
