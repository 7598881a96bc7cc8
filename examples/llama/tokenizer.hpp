// tokenizer.hpp — text <-> token ids from a GGUF file's vocabulary, the way
// llama.cpp's llama_tokenize / llama_token_to_piece do it for the two
// tokenizer models a LLaMA-family GGUF has: "llama" (SentencePiece BPE,
// tokenizer_spm.hpp) and "gpt2" (byte-level BPE, tokenizer_bpe.hpp).
//
// encode(text, add_special):
//  1. User-defined pieces (token type 4) are cut out of the text first, the
//     longest piece first, and become their own ids (llama.cpp does this even
//     when special tokens are not parsed). Control pieces such as "<s>" are not
//     recognised in text: "<s>" in the text is the characters < s >.
//  2. add_special: BOS first when the vocabulary says add_bos_token, EOS last
//     when it says add_eos_token.
//  3. "llama": each text fragment gets one ' ' in front when add_space_prefix is
//     set and the fragment is the first one or follows a user-defined piece,
//     every ' ' becomes U+2581, then SentencePiece BPE.
//     "gpt2": each fragment is pre-tokenized and encoded by byte-level BPE.
// decode(ids): the pieces joined: control and unknown tokens give nothing,
// byte tokens their byte, "llama" pieces with U+2581 turned back into spaces
// (and the space prefix of the first piece dropped), "gpt2" pieces mapped back
// from the byte-to-unicode alphabet to bytes.
#pragma once

#include <algorithm>

#include "tokenizer_bpe.hpp"
#include "tokenizer_spm.hpp"

namespace llama {

class tokenizer {
public:
    static result<tokenizer> from_gguf(const lowbit::gguf::gguf_file& f) {
        auto v = load_vocab(f);
        if (!v) return v.error();
        return tokenizer(std::move(*v));
    }

    explicit tokenizer(llama::vocab v) : v_(std::move(v)) {
        for (int id = 0; id < v_.size(); ++id)
            if (v_.type_of(id) == token_type::user_defined && !v_.tokens[static_cast<std::size_t>(id)].empty()) user_defined_.push_back(id);
        std::stable_sort(user_defined_.begin(), user_defined_.end(), [&](int a, int b) {
            return v_.tokens[static_cast<std::size_t>(a)].size() > v_.tokens[static_cast<std::size_t>(b)].size();
        });
    }

    const llama::vocab& vocabulary() const { return v_; }
    int size() const { return v_.size(); }

    result<std::vector<int>> encode(std::string_view text, bool add_special = true) const {
        std::vector<int> out;
        if (add_special && v_.add_bos) out.push_back(v_.bos);
        bool after_special = true;  // the text's start counts as following a special piece
        status st;
        for_each_fragment(text, [&](std::string_view frag, int id) {
            if (!st) return;
            if (id >= 0) {
                out.push_back(id);
                after_special = true;
                return;
            }
            if (v_.type == vocab::kind::spm) {
                std::string s;
                s.reserve(frag.size() + 4);
                if (v_.add_space_prefix && after_special) s += "\xE2\x96\x81";
                for (const char c : frag) {
                    if (c == ' ') s += "\xE2\x96\x81";
                    else s += c;
                }
                st = spm_encode(v_, s, out);
            } else {
                st = bpe_encode(v_, frag, out);
            }
            after_special = false;
        });
        if (!st) return st;
        if (add_special && v_.add_eos) out.push_back(v_.eos);
        return out;
    }

    // The text of one token (llama_token_to_piece without special tokens).
    std::string piece(int id) const {
        if (id < 0 || id >= v_.size()) return {};
        const std::string& t = v_.tokens[static_cast<std::size_t>(id)];
        switch (v_.type_of(id)) {
            case token_type::user_defined: return t;
            case token_type::normal: return v_.type == vocab::kind::spm ? unescape_spaces(t) : bpe_decode_piece(t);
            case token_type::byte: {
                if (v_.type == vocab::kind::bpe) return bpe_decode_piece(t);
                unsigned b = 0;
                if (t.size() == 6 && std::sscanf(t.c_str(), "<0x%2X>", &b) == 1) return std::string(1, static_cast<char>(b));
                return t;
            }
            default: return {};  // control, unknown, unused
        }
    }

    std::string decode(const std::vector<int>& ids) const {
        std::string out;
        bool first = true;
        for (const int id : ids) {
            std::string p = piece(id);
            if (p.empty()) continue;
            if (first && v_.type == vocab::kind::spm && v_.add_space_prefix && p[0] == ' ') p.erase(0, 1);
            first = false;
            out += p;
        }
        return out;
    }

private:
    static std::string unescape_spaces(const std::string& t) {
        std::string s;
        for (std::size_t i = 0; i < t.size(); ++i) {
            if (t.compare(i, 3, "\xE2\x96\x81") == 0) {
                s += ' ';
                i += 2;
            } else {
                s += t[i];
            }
        }
        return s;
    }

    // Calls f(text, -1) for raw text and f({}, id) for a user-defined piece, in order (rule 1).
    template <class F>
    void for_each_fragment(std::string_view text, F&& f) const {
        struct frag {
            std::string_view text;
            int id;
        };
        std::vector<frag> frags;
        if (!text.empty()) frags.push_back({text, -1});
        for (const int id : user_defined_) {
            const std::string& p = v_.tokens[static_cast<std::size_t>(id)];
            std::vector<frag> next;
            for (const frag& fr : frags) {
                if (fr.id >= 0) {
                    next.push_back(fr);
                    continue;
                }
                std::size_t at = 0;
                for (std::size_t m; (m = fr.text.find(p, at)) != std::string_view::npos; at = m + p.size()) {
                    if (m > at) next.push_back({fr.text.substr(at, m - at), -1});
                    next.push_back({{}, id});
                }
                if (at < fr.text.size()) next.push_back({fr.text.substr(at), -1});
            }
            frags.swap(next);
        }
        for (const frag& fr : frags) f(fr.text, fr.id);
    }

    llama::vocab v_;
    std::vector<int> user_defined_;  // ids, longest piece first
};

}  // namespace llama
