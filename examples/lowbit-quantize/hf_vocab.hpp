// hf_vocab.hpp — a Hugging Face tokenizer as a GGUF vocabulary
// (tokenizer.ggml.*), following the rules of llama.cpp's convert_hf_to_gguf.py
// for SentencePiece ("llama") vocabularies; docs/tools.md lists where and why
// the result differs from that script's.
//
//  * tokenizer.model (preferred): every piece's text, score and type (unknown,
//    control, unused and byte pieces keep their type; user-defined pieces are
//    normal, as the converter's SentencePiece calls report them); then the
//    added tokens of tokenizer_config.json's "added_tokens_decoder" override
//    their ids (control when special, else user-defined; score -1000).
//  * tokenizer.json when there is no tokenizer.model: a byte-fallback BPE model
//    (what transformers writes for a SentencePiece BPE tokenizer) or a Unigram
//    model. Unigram carries its scores; BPE does not, so they are rebuilt the way
//    SentencePiece's BPE trainer assigned them: 0 for special and byte pieces and
//    minus the piece's rank among the normal pieces, in id order. That gives the
//    same vocabulary as the tokenizer.model it came from (llama.cpp's converter
//    writes -1000 for every token here instead, which its SPM tokenizer cannot
//    rank merges by).
//  * tokenizer.json with a byte-level BPE (no byte fallback: LLaMA-3) becomes
//    a "gpt2" vocabulary: tokens in id order (added tokens control when special
//    or special-looking, else user-defined), the merges, and the pre-tokenizer
//    name llama.cpp knows it by. The script names the pre-tokenizer by hashing
//    what the Hugging Face tokenizer makes of a test text; without that
//    tokenizer the pre-tokenizer's own definition is matched instead, and only
//    LLaMA-3's ("llama-bpe") is recognised.
//  * special ids (bos, eos, unk, pad): tokenizer_config.json's *_token strings,
//    else config.json's *_token_id, else the SentencePiece trainer's ids.
//    add_bos / add_eos: tokenizer_config.json's add_*_token, else the
//    tokenizer.json post-processor template, else LLaMA's defaults (true, false).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <lowbit/formats/gguf.hpp>

#include "hf_folder.hpp"
#include "hf_json.hpp"
#include "sentencepiece_model.hpp"

namespace lbq {

struct gguf_vocab {
    std::string source;  // the file it was read from, for messages
    std::string model = "llama", pre = "default";  // tokenizer.ggml.model / .pre
    std::vector<std::string> tokens;
    std::vector<float> scores;         // "llama" only
    std::vector<std::string> merges;   // "gpt2" only: "left right", spaces inside a side as U+0120
    std::vector<std::int32_t> types;  // piece_type values (GGUF token types)
    std::vector<std::pair<std::string, std::uint32_t>> special_ids;  // "bos" -> id, in the order written
    bool add_bos = true, add_eos = false;
    std::optional<bool> add_space_prefix;
    std::optional<std::string> chat_template;
};

namespace detail {

inline bool valid_utf8(const std::string& s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        std::size_t n;
        std::uint32_t cp, min;
        if (c < 0x80) { ++i; continue; }
        if (c >= 0xc2 && c <= 0xdf) { n = 2; cp = c & 0x1fu; min = 0x80; }
        else if (c >= 0xe0 && c <= 0xef) { n = 3; cp = c & 0x0fu; min = 0x800; }
        else if (c >= 0xf0 && c <= 0xf4) { n = 4; cp = c & 0x07u; min = 0x10000; }
        else return false;
        if (s.size() - i < n) return false;
        for (std::size_t k = 1; k < n; ++k) {
            const unsigned char d = static_cast<unsigned char>(s[i + k]);
            if ((d & 0xc0u) != 0x80u) return false;
            cp = (cp << 6) | (d & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += n;
    }
    return true;
}

// "<0x1F>": a byte-fallback piece.
inline bool is_byte_piece(const std::string& s) {
    auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); };
    return s.size() == 6 && s[0] == '<' && s[1] == '0' && s[2] == 'x' && hex(s[3]) && hex(s[4]) && s[5] == '>';
}

// Added tokens llama.cpp's converter treats as control even when not marked special.
inline bool looks_special(const std::string& t) {
    auto starts = [&](const char* p) { return t.rfind(p, 0) == 0; };
    auto ends = [&](const char* p) {
        const std::size_t n = std::strlen(p);
        return t.size() >= n && t.compare(t.size() - n, n, p) == 0;
    };
    if (t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]") return true;
    if (starts("<|") && ends("|>")) return true;
    if (starts("<\xef\xbd\x9c") && ends("\xef\xbd\x9c>")) return true;  // fullwidth vertical bar
    return starts("<unused") && ends(">");
}

// `t` with each U+2581 (SentencePiece's space) as a space, in one pass: a
// find-and-replace loop is quadratic in the token's length, which a hostile
// tokenizer.json controls.
inline std::string spaces_for_u2581(const std::string& t) {
    std::string u;
    u.reserve(t.size());
    for (std::size_t i = 0; i < t.size(); ++i) {
        if (t.compare(i, 3, "\xe2\x96\x81") == 0) {
            u += ' ';
            i += 2;
        } else {
            u += t[i];
        }
    }
    return u;
}

// A *_token entry of tokenizer_config.json: a string or {"content": string}.
inline std::optional<std::string> token_text(const json_value* v) {
    if (!v) return std::nullopt;
    if (v->str()) return v->text;
    if (const json_value* c = v->find("content"); c && c->str()) return c->text;
    return std::nullopt;
}

inline status vocab_from_sentencepiece(lowbit::span<const std::uint8_t> b, gguf_vocab* out) {
    sp_model m;
    LOWBIT_TRY(read_sentencepiece_model(b, &m));
    if (m.model_type != 1 && m.model_type != 2)
        return status::error(errc::unsupported, "tokenizer.model has model type %d; only Unigram (1) and BPE (2) are supported",
                             m.model_type);
    out->tokens.reserve(m.pieces.size());
    out->scores.reserve(m.pieces.size());
    out->types.reserve(m.pieces.size());
    // A piece defined twice is refused, as SentencePiece's loader does: normal,
    // user-defined and unused pieces share one namespace, the others
    // (unknown, control, byte) another. Sorted ids keep this O(n log n).
    {
        auto group = [&](std::uint32_t i) {
            const piece_type t = m.pieces[i].type;
            return t == piece_type::normal || t == piece_type::user_defined || t == piece_type::unused ? 0 : 1;
        };
        std::vector<std::uint32_t> ids(m.pieces.size());
        for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::uint32_t>(i);
        std::sort(ids.begin(), ids.end(), [&](std::uint32_t a, std::uint32_t b) {
            return group(a) != group(b) ? group(a) < group(b) : m.pieces[a].text < m.pieces[b].text;
        });
        for (std::size_t k = 1; k < ids.size(); ++k)
            if (group(ids[k]) == group(ids[k - 1]) && m.pieces[ids[k]].text == m.pieces[ids[k - 1]].text)
                return status::error(errc::corrupt_data, "tokenizer.model: pieces %u and %u are both '%s'", std::min(ids[k], ids[k - 1]),
                                     std::max(ids[k], ids[k - 1]), printable(m.pieces[ids[k]].text, 40).c_str());
    }
    for (std::size_t i = 0; i < m.pieces.size(); ++i) {
        sp_piece& p = m.pieces[i];
        if (!valid_utf8(p.text)) return status::error(errc::corrupt_data, "tokenizer.model: piece %zu is not valid UTF-8", i);
        piece_type t = p.type;
        if (t == piece_type::user_defined) t = piece_type::normal;  // SentencePiece's Is*() calls do not report it
        out->tokens.push_back(std::move(p.text));
        out->scores.push_back(p.score);
        out->types.push_back(static_cast<std::int32_t>(t));
    }
    const std::pair<const char*, std::int32_t> ids[] = {{"bos", m.bos_id}, {"eos", m.eos_id}, {"unk", m.unk_id}, {"pad", m.pad_id}};
    for (const auto& id : ids)
        if (id.second >= 0 && static_cast<std::size_t>(id.second) < out->tokens.size())
            out->special_ids.emplace_back(id.first, static_cast<std::uint32_t>(id.second));
    return status();
}

// The pre-tokenizer of LLaMA-3's tokenizer.json (a Split on this regex, then
// ByteLevel without its own regex), which llama.cpp calls "llama-bpe".
inline const char* llama3_pre_regex() {
    return R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
}

inline std::optional<std::string> bpe_pre_name(const json_value& tj) {
    const json_value* pt = tj.find("pre_tokenizer");
    const json_value* list = pt ? pt->find("pretokenizers") : nullptr;
    if (!list || !list->is(json_value::kind::array) || list->items.size() != 2) return std::nullopt;
    const json_value& split = list->items[0];
    const json_value& bl = list->items[1];
    const json_value* re = split.find("pattern", "Regex");
    const json_value* st = split.find("type");
    const json_value* bt = bl.find("type");
    const json_value* ur = bl.find("use_regex");
    if (st && st->text == "Split" && re && re->text == llama3_pre_regex() && bt && bt->text == "ByteLevel" && ur &&
        ur->boolean() == std::optional<bool>(false))
        return std::string("llama-bpe");
    return std::nullopt;
}

inline status gpt2_vocab_from_tokenizer_json(const json_value& tj, gguf_vocab* out) {
    const std::optional<std::string> pre = bpe_pre_name(tj);
    if (!pre)
        return status::error(errc::unsupported,
                             "tokenizer.json is a byte-level BPE whose pre-tokenizer is not LLaMA-3's; only that one and "
                             "SentencePiece vocabularies are supported");
    out->model = "gpt2";
    out->pre = *pre;
    const json_value* model = tj.find("model");
    const json_value* vocab = model->find("vocab");
    if (!vocab || !vocab->is(json_value::kind::object)) return status::error(errc::corrupt_data, "tokenizer.json: model.vocab is not an object");
    std::vector<std::optional<std::string>> text;
    std::vector<int> kind;  // 0 normal, 1 added special, 2 added other
    const json_value* at = tj.find("added_tokens");
    // Ids are dense: none can reach the number of entries (this also bounds the memory a hostile id could ask for).
    const std::size_t n_entries = vocab->members.size() + (at && at->is(json_value::kind::array) ? at->items.size() : 0);
    auto put = [&](const json_value& id, const std::string& t, int k) -> status {
        const std::optional<std::int64_t> i = id.integer();
        if (!i || *i < 0 || static_cast<std::uint64_t>(*i) >= n_entries)
            return status::error(errc::corrupt_data, "tokenizer.json: token '%.60s' has no id in 0..%zu", t.c_str(), n_entries - 1);
        const std::size_t u = static_cast<std::size_t>(*i);
        if (u >= text.size()) text.resize(u + 1), kind.resize(u + 1, 0);
        if (text[u] && *text[u] != t)
            return status::error(errc::corrupt_data, "tokenizer.json: id %zu is both '%.40s' and '%.40s'", u, text[u]->c_str(), t.c_str());
        text[u] = t;
        kind[u] = std::max(kind[u], k);
        return status();
    };
    for (const auto& kv : vocab->members) LOWBIT_TRY(put(kv.second, kv.first, 0));
    if (at && at->is(json_value::kind::array))
        for (const json_value& a : at->items) {
            const json_value* id = a.find("id");
            const json_value* content = a.find("content");
            if (!id || !content || !content->str())
                return status::error(errc::corrupt_data, "tokenizer.json: an added_tokens entry lacks an id or a content string");
            const json_value* sp = a.find("special");
            LOWBIT_TRY(put(*id, content->text, sp && sp->boolean().value_or(false) ? 1 : 2));
        }
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (!text[i]) return status::error(errc::corrupt_data, "tokenizer.json: no token has id %zu", i);
        std::string t = std::move(*text[i]);
        piece_type ty = piece_type::normal;
        if (kind[i] == 1 || (kind[i] == 2 && looks_special(t))) {
            ty = piece_type::control;
        } else if (kind[i] == 2) {
            ty = piece_type::user_defined;
            t = spaces_for_u2581(t);
        }
        out->tokens.push_back(std::move(t));
        out->types.push_back(static_cast<std::int32_t>(ty));
    }
    // Merges: "a b" strings, or [a, b] pairs (newer tokenizers), where a space
    // inside a side is written as U+0120 so that the pair can be split again.
    const json_value* merges = model->find("merges");
    if (!merges || !merges->is(json_value::kind::array) || merges->items.empty())
        return status::error(errc::corrupt_data, "tokenizer.json: a BPE model without merges");
    for (const json_value& m : merges->items) {
        if (m.str()) {
            out->merges.push_back(m.text);
            continue;
        }
        if (!m.is(json_value::kind::array) || m.items.size() != 2 || !m.items[0].str() || !m.items[1].str())
            return status::error(errc::corrupt_data, "tokenizer.json: a merge is neither \"a b\" nor [a, b]");
        std::string joined;
        for (int side = 0; side < 2; ++side) {
            if (side) joined += ' ';
            for (char c : m.items[static_cast<std::size_t>(side)].text) joined += c == ' ' ? std::string("\xc4\xa0") : std::string(1, c);
        }
        out->merges.push_back(std::move(joined));
    }
    return status();
}

inline status vocab_from_tokenizer_json(const json_value& tj, const json_value& tc, gguf_vocab* out) {
    const json_value* model = tj.find("model");
    const json_value* type = model ? model->find("type") : nullptr;
    if (!type || !type->str()) return status::error(errc::corrupt_data, "tokenizer.json has no model.type");
    const json_value* vocab = model->find("vocab");
    std::vector<std::optional<std::string>> text;
    std::vector<float> score;
    const json_value* added_list = tj.find("added_tokens");
    // Ids are dense: none can reach the number of entries (this also bounds the memory a hostile id could ask for).
    const std::size_t n_entries = (vocab ? vocab->members.size() + vocab->items.size() : 0) +
                                  (added_list && added_list->is(json_value::kind::array) ? added_list->items.size() : 0);
    auto put = [&](std::int64_t id, const std::string& t, float s) -> status {
        if (id < 0 || static_cast<std::uint64_t>(id) >= n_entries)
            return status::error(errc::corrupt_data, "tokenizer.json: token id %lld is outside 0..%zu", static_cast<long long>(id),
                                 n_entries - 1);
        const std::size_t i = static_cast<std::size_t>(id);
        if (i >= text.size()) {
            text.resize(i + 1);
            score.resize(i + 1, 0.0f);
        }
        if (text[i] && *text[i] != t)
            return status::error(errc::corrupt_data, "tokenizer.json: id %zu is both '%.40s' and '%.40s'", i, text[i]->c_str(), t.c_str());
        text[i] = t;
        score[i] = s;
        return status();
    };
    const bool unigram = type->text == "Unigram";
    bool byte_fallback = false;
    if (type->text == "BPE") {
        const json_value* bf = model->find("byte_fallback");
        byte_fallback = bf && bf->boolean().value_or(false);
        if (!byte_fallback) return gpt2_vocab_from_tokenizer_json(tj, out);
        if (!vocab || !vocab->is(json_value::kind::object)) return status::error(errc::corrupt_data, "tokenizer.json: model.vocab is not an object");
        for (const auto& kv : vocab->members) {
            const std::optional<std::int64_t> id = kv.second.integer();
            if (!id) return status::error(errc::corrupt_data, "tokenizer.json: vocab entry '%.60s' has no integer id", kv.first.c_str());
            LOWBIT_TRY(put(*id, kv.first, 0.0f));
        }
    } else if (unigram) {
        if (!vocab || !vocab->is(json_value::kind::array)) return status::error(errc::corrupt_data, "tokenizer.json: model.vocab is not an array");
        for (std::size_t i = 0; i < vocab->items.size(); ++i) {
            const json_value& e = vocab->items[i];
            // Size first: an entry like [] must not reach items[0].
            const bool pair = e.is(json_value::kind::array) && e.items.size() == 2;
            const std::optional<double> s = pair ? e.items[1].number() : std::nullopt;
            if (!pair || !e.items[0].str() || !s)
                return status::error(errc::corrupt_data, "tokenizer.json: Unigram vocab entry %zu is not [piece, score]", i);
            LOWBIT_TRY(put(static_cast<std::int64_t>(i), e.items[0].text, static_cast<float>(*s)));
        }
        const json_value* bf = model->find("byte_fallback");
        byte_fallback = bf && bf->boolean().value_or(false);
    } else {
        return status::error(errc::unsupported, "tokenizer.json model type '%.40s' is not supported (BPE with byte_fallback, Unigram)",
                             type->text.c_str());
    }
    const std::size_t n_base = text.size();
    // Added tokens: special ones are control tokens; others are user-defined
    // when they extend the vocabulary.
    std::map<std::size_t, bool> added;  // id -> special
    if (const json_value* at = tj.find("added_tokens"); at && at->is(json_value::kind::array)) {
        for (const json_value& a : at->items) {
            const json_value* id = a.find("id");
            const json_value* content = a.find("content");
            if (!id || !id->integer() || !content || !content->str())
                return status::error(errc::corrupt_data, "tokenizer.json: an added_tokens entry lacks an integer id or a content string");
            LOWBIT_TRY(put(*id->integer(), content->text, 0.0f));
            const json_value* sp = a.find("special");
            added[static_cast<std::size_t>(*id->integer())] = sp && sp->boolean().value_or(false);
        }
    }
    std::optional<std::size_t> unk;
    // The unknown token: the model's unk_token, else tokenizer_config.json's.
    std::optional<std::string> unk_text = token_text(model->find("unk_token"));
    if (!unk_text) unk_text = token_text(tc.find("unk_token"));
    if (unk_text)
        for (std::size_t i = 0; i < text.size(); ++i)
            if (text[i] && *text[i] == *unk_text) {
                unk = i;
                break;
            }
    float rank = 0.0f;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (!text[i]) return status::error(errc::corrupt_data, "tokenizer.json: no token has id %zu", i);
        piece_type t = piece_type::normal;
        float s = score[i];
        auto a = added.find(i);
        if (unk && *unk == i) t = piece_type::unknown;
        else if (a != added.end() && a->second) t = piece_type::control;
        else if (a != added.end() && i >= n_base) t = piece_type::user_defined, s = -1000.0f;
        else if (byte_fallback && is_byte_piece(*text[i])) t = piece_type::byte;
        if (t == piece_type::normal && !unigram) s = -(rank++);
        if (t != piece_type::normal && t != piece_type::user_defined && !unigram) s = 0.0f;
        out->tokens.push_back(std::move(*text[i]));
        out->scores.push_back(s);
        out->types.push_back(static_cast<std::int32_t>(t));
    }
    if (unk) out->special_ids.emplace_back("unk", static_cast<std::uint32_t>(*unk));
    return status();
}

// add_bos / add_eos from a TemplateProcessing post-processor (alone or in a Sequence).
inline void template_adds(const json_value& tj, gguf_vocab* out) {
    const json_value* pp = tj.find("post_processor");
    if (!pp) return;
    std::vector<const json_value*> procs;
    if (const json_value* list = pp->find("processors"); list && list->is(json_value::kind::array))
        for (const json_value& p : list->items) procs.push_back(&p);
    else
        procs.push_back(pp);
    for (const json_value* p : procs) {
        const json_value* type = p->find("type");
        const json_value* single = p->find("single");
        if (!type || type->text != "TemplateProcessing" || !single || !single->is(json_value::kind::array) || single->items.empty()) continue;
        out->add_bos = single->items.front().find("SpecialToken") != nullptr;
        out->add_eos = single->items.size() > 1 && single->items.back().find("SpecialToken") != nullptr;
    }
}

}  // namespace detail

inline status vocab_from_files(const std::vector<std::uint8_t>* spm, const json_value* tj, const json_value& tc, const json_value& config,
                               std::uint64_t n_vocab, gguf_vocab* out);

// Reads the folder's tokenizer; `n_vocab` is config.json's vocab_size, which
// the vocabulary must match exactly.
inline status read_hf_vocab(const hf_folder& f, std::uint64_t n_vocab, gguf_vocab* out) {
    json_value tc, tj;
    std::vector<std::uint8_t> spm;
    const bool has_tc = f.has("tokenizer_config.json"), has_tj = f.has("tokenizer.json"), has_spm = f.has("tokenizer.model");
    if (has_tc) LOWBIT_TRY(f.read_json("tokenizer_config.json", &tc));
    if (has_tj) LOWBIT_TRY(f.read_json("tokenizer.json", &tj));
    if (has_spm) LOWBIT_TRY(f.read_bytes("tokenizer.model", &spm));
    return vocab_from_files(has_spm ? &spm : nullptr, has_tj ? &tj : nullptr, tc, f.config(), n_vocab, out);
}

// The same from the files' contents (nullptr: the file is absent; an absent
// tokenizer_config.json is an empty `tc`), so that tests and fuzzers reach
// every rule without a folder.
inline status vocab_from_files(const std::vector<std::uint8_t>* spm, const json_value* tj, const json_value& tc, const json_value& config,
                               std::uint64_t n_vocab, gguf_vocab* out) {
    *out = gguf_vocab{};
    const bool has_tj = tj != nullptr;
    if (spm) {
        out->source = "tokenizer.model";
        LOWBIT_TRY(detail::vocab_from_sentencepiece(lowbit::span<const std::uint8_t>(spm->data(), spm->size()), out));
    } else if (has_tj) {
        out->source = "tokenizer.json";
        LOWBIT_TRY(detail::vocab_from_tokenizer_json(*tj, tc, out));
    } else {
        return status::error(errc::invalid_argument, "no tokenizer.model or tokenizer.json");
    }
    const std::size_t n = out->tokens.size();

    // added_tokens_decoder of tokenizer_config.json overrides those ids, as the converter does.
    if (const json_value* atd = tc.find("added_tokens_decoder"); atd && atd->is(json_value::kind::object)) {
        for (const auto& kv : atd->members) {
            char* end = nullptr;
            const unsigned long long id = std::strtoull(kv.first.c_str(), &end, 10);
            const json_value* content = kv.second.find("content");
            if (kv.first.empty() || *end != '\0' || !content || !content->str())
                return status::error(errc::corrupt_data, "tokenizer_config.json: added_tokens_decoder entry '%.40s' is malformed", kv.first.c_str());
            if (id >= n) continue;  // the size check below reports a vocabulary that is too small
            const json_value* sp = kv.second.find("special");
            const bool special = (sp && sp->boolean().value_or(false)) || detail::looks_special(content->text);
            std::string t = content->text;
            if (!special) t = detail::spaces_for_u2581(t);  // user-defined pieces store spaces, not SentencePiece's U+2581
            out->tokens[id] = t;
            out->scores[id] = -1000.0f;
            out->types[id] = static_cast<std::int32_t>(special ? piece_type::control : piece_type::user_defined);
        }
    }
    if (n != n_vocab)
        return status::error(errc::shape_mismatch, "%s has %zu tokens but config.json vocab_size is %llu", out->source.c_str(), n,
                             static_cast<unsigned long long>(n_vocab));

    // Special token ids: tokenizer_config.json names them, config.json numbers them,
    // the tokenizer's own ids (kept in special_ids so far) come last.
    std::map<std::string, std::uint32_t> own(out->special_ids.begin(), out->special_ids.end());
    out->special_ids.clear();
    for (const char* typ : {"bos", "eos", "unk", "pad"}) {
        std::optional<std::uint32_t> id;
        if (auto t = detail::token_text(tc.find(std::string(typ) + "_token"))) {
            for (std::size_t i = 0; i < n && !id; ++i)
                if (out->tokens[i] == *t) id = static_cast<std::uint32_t>(i);
        }
        if (!id) {
            const json_value* c = config.find(std::string(typ) + "_token_id");
            if (c && c->integer() && *c->integer() >= 0 && static_cast<std::uint64_t>(*c->integer()) < n)
                id = static_cast<std::uint32_t>(*c->integer());
        }
        if (!id) {
            auto o = own.find(typ);
            if (o != own.end()) id = o->second;
        }
        if (id) out->special_ids.emplace_back(typ, *id);
    }

    if (has_tj) detail::template_adds(*tj, out);
    if (const json_value* v = tc.find("add_bos_token"); v && v->boolean()) out->add_bos = *v->boolean();
    if (const json_value* v = tc.find("add_eos_token"); v && v->boolean()) out->add_eos = *v->boolean();
    if (const json_value* v = tc.find("add_prefix_space"); v && v->boolean()) out->add_space_prefix = *v->boolean();
    if (const json_value* v = tc.find("chat_template"); v && v->str()) out->chat_template = v->text;
    return status();
}

// The tokenizer.ggml.* keys, in the converter's order.
inline void append_vocab_kvs(const gguf_vocab& v, std::vector<std::pair<std::string, lowbit::gguf::meta_value>>* kvs) {
    namespace gguf = lowbit::gguf;
    if (v.add_space_prefix) kvs->emplace_back("tokenizer.ggml.add_space_prefix", gguf::meta_value::boolean(*v.add_space_prefix));
    kvs->emplace_back("tokenizer.ggml.model", gguf::meta_value::string(v.model));
    kvs->emplace_back("tokenizer.ggml.pre", gguf::meta_value::string(v.pre));
    std::vector<std::string_view> t(v.tokens.begin(), v.tokens.end());
    kvs->emplace_back("tokenizer.ggml.tokens", gguf::meta_value::array_of_strings(lowbit::span<const std::string_view>(t.data(), t.size())));
    if (v.model == "llama")
        kvs->emplace_back("tokenizer.ggml.scores", gguf::meta_value::array_of(lowbit::span<const float>(v.scores.data(), v.scores.size())));
    kvs->emplace_back("tokenizer.ggml.token_type",
                      gguf::meta_value::array_of(lowbit::span<const std::int32_t>(v.types.data(), v.types.size())));
    if (!v.merges.empty()) {
        std::vector<std::string_view> m(v.merges.begin(), v.merges.end());
        kvs->emplace_back("tokenizer.ggml.merges", gguf::meta_value::array_of_strings(lowbit::span<const std::string_view>(m.data(), m.size())));
    }
    for (const auto& s : v.special_ids)
        kvs->emplace_back("tokenizer.ggml." + s.first + "_token_id", gguf::meta_value::u32(s.second));
    kvs->emplace_back("tokenizer.ggml.add_bos_token", gguf::meta_value::boolean(v.add_bos));
    kvs->emplace_back("tokenizer.ggml.add_eos_token", gguf::meta_value::boolean(v.add_eos));
    if (v.chat_template) kvs->emplace_back("tokenizer.chat_template", gguf::meta_value::string(*v.chat_template));
}

}  // namespace lbq
