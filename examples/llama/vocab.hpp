// vocab.hpp — a model's vocabulary as a GGUF file stores it (the
// `tokenizer.ggml.*` keys that llama.cpp's converter writes), the data both
// tokenizers (tokenizer_spm.hpp, tokenizer_bpe.hpp) work from.
//
//   tokenizer.ggml.model       "llama" (SentencePiece BPE) or "gpt2" (byte-level BPE)
//   tokenizer.ggml.pre         pre-tokenizer of "gpt2" vocabularies ("llama-bpe", "default", ...)
//   tokenizer.ggml.tokens      [string] piece text, indexed by token id
//   tokenizer.ggml.scores      [f32] merge priority of "llama" pieces (higher merges first)
//   tokenizer.ggml.token_type  [i32] 1 normal, 2 unknown, 3 control, 4 user defined, 5 unused, 6 byte
//   tokenizer.ggml.merges      [string] "left right" pairs of "gpt2" vocabularies, by rank
//   tokenizer.ggml.{bos,eos,unknown}_token_id, add_bos_token, add_eos_token, add_space_prefix
// Defaults for absent keys are llama.cpp's (llama-vocab.cpp): "llama" has
// BOS 1, EOS 2, UNK 0, adds BOS and a space prefix; "gpt2" adds neither.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <lowbit/formats/gguf.hpp>

namespace llama {

using lowbit::errc;
using lowbit::result;
using lowbit::status;

enum class token_type : std::int32_t { undefined = 0, normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };

struct vocab {
    enum class kind { spm, bpe };
    kind type = kind::spm;
    std::string pre = "default";  // pre-tokenizer name (bpe only)
    std::vector<std::string> tokens;
    std::vector<float> scores;
    std::vector<token_type> types;
    std::unordered_map<std::string, int> ids;         // piece text -> id (the last id wins, as in llama.cpp)
    std::unordered_map<std::string, int> merge_rank;  // left + '\0' + right -> rank (bpe)
    int bos = -1, eos = -1, unk = -1;
    bool add_bos = false, add_eos = false, add_space_prefix = false;

    int size() const { return static_cast<int>(tokens.size()); }
    int find(std::string_view piece) const {
        const auto it = ids.find(std::string(piece));
        return it == ids.end() ? -1 : it->second;
    }
    int rank(std::string_view left, std::string_view right) const {
        std::string k;
        k.reserve(left.size() + right.size() + 1);
        k.append(left).push_back('\0');
        k.append(right);
        const auto it = merge_rank.find(k);
        return it == merge_rank.end() ? -1 : it->second;
    }
    token_type type_of(int id) const { return id >= 0 && id < size() ? types[static_cast<std::size_t>(id)] : token_type::undefined; }
};

namespace detail {

// The string array `key`, or an error naming it.
inline status read_strings(const lowbit::gguf::gguf_file& f, const char* key, std::vector<std::string>& out) {
    const auto v = f.find_kv(key);
    if (!v) return status::error(errc::corrupt_data, "gguf: %s is missing", key);
    if (!v->is_array() || v->element_type() != lowbit::gguf::value_type::string)
        return status::error(errc::corrupt_data, "gguf: %s is not an array of strings", key);
    out.resize(v->size());
    for (std::size_t i = 0; i < v->size(); ++i) out[i] = std::string(*(*v)[i].get<std::string_view>());
    return {};
}

// An optional token id key: absent keeps `out`; present must be an id of the vocabulary.
inline status read_token_id(const lowbit::gguf::gguf_file& f, const char* key, int n_tokens, int& out) {
    const auto v = f.find_kv(key);
    if (!v) return {};
    const auto u = v->to_uint();
    if (!u || *u >= static_cast<std::uint64_t>(n_tokens))
        return status::error(errc::corrupt_data, "gguf: %s is not a token id below the vocabulary size %d", key, n_tokens);
    out = static_cast<int>(*u);
    return {};
}

inline status read_flag(const lowbit::gguf::gguf_file& f, const char* key, bool& out) {
    const auto v = f.find_kv(key);
    if (!v) return {};
    const auto b = v->get<bool>();
    if (!b) return status::error(errc::corrupt_data, "gguf: %s is not a bool", key);
    out = *b;
    return {};
}

}  // namespace detail

// The vocabulary of a parsed GGUF file; an error naming the key for a file
// without one, of an unsupported tokenizer model, or with inconsistent arrays.
inline result<vocab> load_vocab(const lowbit::gguf::gguf_file& f) {
    namespace g = lowbit::gguf;
    vocab v;
    const auto model = f.find_kv("tokenizer.ggml.model");
    if (!model || !model->get<std::string_view>())
        return status::error(errc::unsupported, "gguf: no tokenizer (tokenizer.ggml.model is missing): give token ids instead of text");
    const std::string_view name = *model->get<std::string_view>();
    if (name == "llama") {
        v.type = vocab::kind::spm;
        v.bos = 1, v.eos = 2, v.unk = 0;
        v.add_bos = true, v.add_space_prefix = true;
    } else if (name == "gpt2") {
        v.type = vocab::kind::bpe;
    } else {
        return status::error(errc::unsupported, "gguf: tokenizer.ggml.model '%.*s' is not supported (llama, gpt2)",
                             static_cast<int>(std::min<std::size_t>(name.size(), 40)), name.data());
    }
    LOWBIT_TRY(detail::read_strings(f, "tokenizer.ggml.tokens", v.tokens));
    const std::size_t n = v.tokens.size();
    if (n == 0 || n > (std::size_t{1} << 24)) return status::error(errc::corrupt_data, "gguf: tokenizer.ggml.tokens has %zu entries", n);
    v.scores.assign(n, 0.0f);
    v.types.assign(n, token_type::normal);
    if (const auto s = f.find_kv("tokenizer.ggml.scores")) {
        if (!s->is_array() || s->element_type() != g::value_type::f32 || s->size() != n)
            return status::error(errc::corrupt_data, "gguf: tokenizer.ggml.scores is not %zu f32 values", n);
        for (std::size_t i = 0; i < n; ++i) v.scores[i] = *(*s)[i].get<float>();
    }
    if (const auto t = f.find_kv("tokenizer.ggml.token_type")) {
        if (!t->is_array() || t->element_type() != g::value_type::i32 || t->size() != n)
            return status::error(errc::corrupt_data, "gguf: tokenizer.ggml.token_type is not %zu i32 values", n);
        for (std::size_t i = 0; i < n; ++i) {
            const std::int32_t x = *(*t)[i].get<std::int32_t>();
            v.types[i] = x >= 1 && x <= 6 ? static_cast<token_type>(x) : token_type::undefined;
        }
    }
    v.ids.reserve(n);
    for (std::size_t i = 0; i < n; ++i) v.ids[v.tokens[i]] = static_cast<int>(i);
    if (v.type == vocab::kind::bpe) {
        if (const auto p = f.find_kv("tokenizer.ggml.pre"); p && p->get<std::string_view>()) v.pre = std::string(*p->get<std::string_view>());
        std::vector<std::string> merges;
        LOWBIT_TRY(detail::read_strings(f, "tokenizer.ggml.merges", merges));
        v.merge_rank.reserve(merges.size());
        for (std::size_t i = 0; i < merges.size(); ++i) {
            // The separator is the first space after the first byte: a left
            // piece may itself start with a space (llama.cpp splits the same way).
            const std::size_t sp = merges[i].size() > 1 ? merges[i].find(' ', 1) : std::string::npos;
            if (sp == std::string::npos)
                return status::error(errc::corrupt_data, "gguf: tokenizer.ggml.merges[%zu] has no 'left right' separator", i);
            std::string k = merges[i];
            k[sp] = '\0';
            v.merge_rank.emplace(std::move(k), static_cast<int>(i));  // the first rank of a pair wins
        }
    }
    const int nt = static_cast<int>(n);
    if (v.bos >= nt) v.bos = -1;
    if (v.eos >= nt) v.eos = -1;
    if (v.unk >= nt) v.unk = -1;
    LOWBIT_TRY(detail::read_token_id(f, "tokenizer.ggml.bos_token_id", nt, v.bos));
    LOWBIT_TRY(detail::read_token_id(f, "tokenizer.ggml.eos_token_id", nt, v.eos));
    LOWBIT_TRY(detail::read_token_id(f, "tokenizer.ggml.unknown_token_id", nt, v.unk));
    LOWBIT_TRY(detail::read_flag(f, "tokenizer.ggml.add_bos_token", v.add_bos));
    LOWBIT_TRY(detail::read_flag(f, "tokenizer.ggml.add_eos_token", v.add_eos));
    LOWBIT_TRY(detail::read_flag(f, "tokenizer.ggml.add_space_prefix", v.add_space_prefix));
    if (v.add_bos && v.bos < 0) return status::error(errc::corrupt_data, "gguf: add_bos_token is set but there is no BOS token id");
    if (v.add_eos && v.eos < 0) return status::error(errc::corrupt_data, "gguf: add_eos_token is set but there is no EOS token id");
    return v;
}

// Writes `v` as `tokenizer.ggml.*` keys (export_gguf, tests).
inline status write_vocab(lowbit::gguf::gguf_writer& w, const vocab& v) {
    namespace g = lowbit::gguf;
    LOWBIT_TRY(w.set("tokenizer.ggml.model", g::meta_value::string(v.type == vocab::kind::spm ? "llama" : "gpt2")));
    if (v.type == vocab::kind::bpe) LOWBIT_TRY(w.set("tokenizer.ggml.pre", g::meta_value::string(v.pre)));
    std::vector<std::string_view> pieces(v.tokens.begin(), v.tokens.end());
    LOWBIT_TRY(w.set("tokenizer.ggml.tokens", g::meta_value::array_of_strings(lowbit::span<const std::string_view>(pieces.data(), pieces.size()))));
    LOWBIT_TRY(w.set("tokenizer.ggml.scores", g::meta_value::array_of(lowbit::span<const float>(v.scores.data(), v.scores.size()))));
    std::vector<std::int32_t> types(v.types.size());
    for (std::size_t i = 0; i < types.size(); ++i) types[i] = static_cast<std::int32_t>(v.types[i]);
    LOWBIT_TRY(w.set("tokenizer.ggml.token_type", g::meta_value::array_of(lowbit::span<const std::int32_t>(types.data(), types.size()))));
    if (v.type == vocab::kind::bpe) {
        std::vector<std::pair<int, std::string>> by_rank;
        for (const auto& kv : v.merge_rank) {
            std::string m = kv.first;
            m[m.find('\0')] = ' ';
            by_rank.emplace_back(kv.second, std::move(m));
        }
        std::sort(by_rank.begin(), by_rank.end());
        std::vector<std::string_view> merges;
        for (const auto& r : by_rank) merges.push_back(r.second);
        LOWBIT_TRY(w.set("tokenizer.ggml.merges", g::meta_value::array_of_strings(lowbit::span<const std::string_view>(merges.data(), merges.size()))));
    }
    auto id = [](int x) { return g::meta_value::u32(static_cast<std::uint32_t>(x)); };
    if (v.bos >= 0) LOWBIT_TRY(w.set("tokenizer.ggml.bos_token_id", id(v.bos)));
    if (v.eos >= 0) LOWBIT_TRY(w.set("tokenizer.ggml.eos_token_id", id(v.eos)));
    if (v.unk >= 0) LOWBIT_TRY(w.set("tokenizer.ggml.unknown_token_id", id(v.unk)));
    LOWBIT_TRY(w.set("tokenizer.ggml.add_bos_token", g::meta_value::boolean(v.add_bos)));
    LOWBIT_TRY(w.set("tokenizer.ggml.add_eos_token", g::meta_value::boolean(v.add_eos)));
    // Written only when it differs from llama.cpp's default (true for "llama"), as the converter does.
    if (v.type == vocab::kind::spm && !v.add_space_prefix) LOWBIT_TRY(w.set("tokenizer.ggml.add_space_prefix", g::meta_value::boolean(false)));
    return {};
}

}  // namespace llama
