// tokenizer_bpe.hpp — byte-level BPE (GPT-2 style, the tokenizer.json model of
// LLaMA-3-style checkpoints; GGUF tokenizer.ggml.model = "gpt2") as llama.cpp
// does it: pre-tokenize the text into words, write each word's bytes in the
// byte-to-unicode alphabet, merge pairs by rank, look the pieces up.
//
// Byte-to-unicode (GPT-2's bytes_to_unicode): the 188 printable bytes
// 0x21-0x7E, 0xA1-0xAC and 0xAE-0xFF stand for themselves (as code points);
// the other 68 bytes, in increasing order, become U+0100, U+0101, ... so that
// ' ' is 'Ġ' (U+0120) and '\n' is 'Ċ' (U+010A). Every byte is one code point,
// so every text can be encoded.
//
// Pre-tokenizers (tokenizer.ggml.pre), written out by hand below instead of
// through a regex engine, on code points classed by unicode_class.hpp:
//  "llama-bpe" (also "llama3", "llama-v3"): the LLaMA-3 pattern
//      (?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])
//      | [^\r\n\p{L}\p{N}]?\p{L}+ | \p{N}{1,3} | ' '?[^\s\p{L}\p{N}]+[\r\n]*
//      | \s*[\r\n]+ | \s+(?!\S) | \s+
//    tried in that order at each position (the first alternative that matches
//    wins, each greedy as the regex is). A word that is a whole vocabulary
//    piece is taken as it is, without merging (llama.cpp's ignore_merges).
//  "default": four patterns applied one after the other, each splitting the
//    pieces the previous one left (matches and the gaps between them both
//    become pieces), as llama.cpp does for a BPE vocabulary without a known
//    pre-tokenizer:
//      1. [\p{P}$+<=>^~|]+      2. GPT-2's 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
//      3. \p{N}+                4. [0-9][0-9][0-9]
//    (in 2, a character no alternative matches becomes a piece of its own).
// Other pre-tokenizer names are refused. Bytes that are not well-formed UTF-8
// are read as U+FFFD first (one per byte), as llama.cpp does.
//
// Merging: the word starts as one symbol per code point of its encoded form;
// the adjacent pair with the lowest merge rank (ties: leftmost) merges,
// repeatedly, stale pairs skipped. A final symbol that is not a piece is
// written as one token per code point (llama.cpp looks up single bytes there
// and drops what it does not find; with a byte-level vocabulary every code
// point of the alphabet is a piece, so both give the same ids; a vocabulary
// missing one is an error here).
#pragma once

#include <queue>

#include "unicode_class.hpp"
#include "vocab.hpp"

namespace llama {

// byte -> code point of the byte-to-unicode alphabet.
inline char32_t byte_to_unicode(unsigned char b) {
    static const std::vector<char32_t> table = [] {
        auto printable = [](unsigned x) { return (x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF); };
        std::vector<char32_t> t(256);
        char32_t next = 0x100;  // the non-printable bytes, in increasing order
        for (unsigned x = 0; x < 256; ++x) t[x] = printable(x) ? static_cast<char32_t>(x) : next++;
        return t;
    }();
    return table[b];
}

// The bytes a piece of the byte-to-unicode alphabet stands for; code points
// outside the alphabet are kept as their UTF-8.
inline std::string bpe_decode_piece(std::string_view piece) {
    static const std::vector<int> inverse = [] {
        std::vector<int> inv(0x200, -1);
        for (unsigned b = 0; b < 256; ++b) inv[byte_to_unicode(static_cast<unsigned char>(b))] = static_cast<int>(b);
        return inv;
    }();
    std::string out;
    for (std::size_t at = 0; at < piece.size();) {
        std::size_t n;
        const char32_t cp = utf8_decode(piece, at, &n);
        if (cp < inverse.size() && inverse[cp] >= 0) out += static_cast<char>(inverse[cp]);
        else out.append(piece.substr(at, n));
        at += n;
    }
    return out;
}

namespace bpe_detail {

struct cpt {
    char32_t c;
    std::size_t at;  // byte offset in the text
    char_class k;
};

inline bool is_nl(char32_t c) { return c == '\r' || c == '\n'; }
inline char32_t lower_ascii(char32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

// Length (code points) of a contraction at i: 's 't 're 've 'm 'll 'd; `fold`: any case.
inline std::size_t contraction(const std::vector<cpt>& t, std::size_t i, std::size_t e, bool fold) {
    if (t[i].c != '\'' || i + 1 >= e) return 0;
    auto low = [&](std::size_t j) { return fold ? lower_ascii(t[j].c) : t[j].c; };
    const char32_t a = low(i + 1);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (i + 2 < e) {
        const char32_t b = low(i + 2);
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    }
    return 0;
}

inline std::size_t run(const std::vector<cpt>& t, std::size_t i, std::size_t e, char_class k) {
    std::size_t j = i;
    while (j < e && t[j].k == k) ++j;
    return j - i;
}

// Not \s, \p{L} or \p{N}.
inline bool is_rest(const cpt& c) { return c.k != char_class::space && c.k != char_class::letter && c.k != char_class::number; }

// \s+(?!\S) at i (whitespace run of length w ending at i + w): the run if it
// reaches the end, else the run less its last character, else nothing.
inline std::size_t space_not_before_text(std::size_t w, std::size_t i, std::size_t e) {
    if (w == 0) return 0;
    if (i + w == e) return w;
    return w >= 2 ? w - 1 : 0;
}

// The LLaMA-3 pattern: length of the match at i (>= 1).
inline std::size_t llama3_match(const std::vector<cpt>& t, std::size_t i, std::size_t e) {
    if (std::size_t n = contraction(t, i, e, true)) return n;
    if (t[i].k == char_class::letter) return run(t, i, e, char_class::letter);
    if (!is_nl(t[i].c) && t[i].k != char_class::number && i + 1 < e && t[i + 1].k == char_class::letter)
        return 1 + run(t, i + 1, e, char_class::letter);
    if (t[i].k == char_class::number) return std::min<std::size_t>(3, run(t, i, e, char_class::number));
    {
        std::size_t j = i + (t[i].c == ' ' ? 1 : 0);
        if (j < e && is_rest(t[j])) {
            while (j < e && is_rest(t[j])) ++j;
            while (j < e && is_nl(t[j].c)) ++j;
            return j - i;
        }
    }
    const std::size_t w = run(t, i, e, char_class::space);
    if (w > 0) {
        std::size_t last_nl = 0;  // \s*[\r\n]+ ends after the run's last newline
        for (std::size_t j = i; j < i + w; ++j)
            if (is_nl(t[j].c)) last_nl = j + 1;
        if (last_nl) return last_nl - i;
        if (std::size_t n = space_not_before_text(w, i, e)) return n;
        return w;
    }
    return 1;
}

// GPT-2's pattern: length of the match at i, or 1 for a character it does not match.
inline std::size_t gpt2_match(const std::vector<cpt>& t, std::size_t i, std::size_t e) {
    if (std::size_t n = contraction(t, i, e, false)) return n;
    const std::size_t j = i + (t[i].c == ' ' && i + 1 < e ? 1 : 0);
    if (t[j].k == char_class::letter) return j - i + run(t, j, e, char_class::letter);
    if (t[j].k == char_class::number) return j - i + run(t, j, e, char_class::number);
    if (is_rest(t[j])) {
        std::size_t k = j;
        while (k < e && is_rest(t[k])) ++k;
        return k - i;
    }
    if (std::size_t n = space_not_before_text(run(t, i, e, char_class::space), i, e)) return n;
    return 1;
}

// Splits each piece [b, e) of `cuts` (code point offsets) with a matcher
// `m(t, i, e)` that returns the length of the match at i, or 0 when none
// starts there (the character then joins the gap before the next match).
template <class M>
std::vector<std::size_t> split(const std::vector<cpt>& t, const std::vector<std::size_t>& cuts, M&& m) {
    std::vector<std::size_t> out;
    std::size_t b = 0;
    for (const std::size_t e : cuts) {
        std::size_t gap = b;
        for (std::size_t i = b; i < e;) {
            const std::size_t n = m(t, i, e);
            if (n == 0) {
                ++i;
                continue;
            }
            if (i > gap) out.push_back(i);
            out.push_back(i + n);
            i += n;
            gap = i;
        }
        if (gap < e) out.push_back(e);
        b = e;
    }
    return out;
}

inline bool default_punct(const cpt& c) {
    if (c.k == char_class::punct) return true;
    switch (c.c) {
        case '$': case '+': case '<': case '=': case '>': case '^': case '~': case '|': return true;
        default: return false;
    }
}

}  // namespace bpe_detail

// The words of `text` under the vocabulary's pre-tokenizer, as UTF-8. A
// byte that does not start a well-formed sequence (a stray continuation
// byte, a cut sequence, 0xF8-0xFF) becomes U+FFFD, as llama.cpp decodes text
// before splitting it; so such bytes do not survive encode + decode.
inline result<std::vector<std::string>> bpe_pretokenize(const vocab& v, std::string_view text) {
    using namespace bpe_detail;
    std::vector<cpt> t;
    for (std::size_t at = 0; at < text.size();) {
        std::size_t n;
        char32_t c = utf8_decode(text, at, &n);
        if (n == 1 && static_cast<unsigned char>(text[at]) >= 0x80) c = 0xFFFD;
        t.push_back({c, at, classify(c)});
        at += n;
    }
    std::vector<std::size_t> cuts;
    if (!t.empty()) cuts.push_back(t.size());
    const bool llama3 = v.pre == "llama-bpe" || v.pre == "llama3" || v.pre == "llama-v3";
    if (llama3) {
        cuts = split(t, cuts, [](const std::vector<cpt>& x, std::size_t i, std::size_t e) { return llama3_match(x, i, e); });
    } else if (v.pre == "default") {
        cuts = split(t, cuts, [](const std::vector<cpt>& x, std::size_t i, std::size_t e) {
            std::size_t j = i;
            while (j < e && default_punct(x[j])) ++j;
            return j - i;
        });
        cuts = split(t, cuts, [](const std::vector<cpt>& x, std::size_t i, std::size_t e) { return gpt2_match(x, i, e); });
        cuts = split(t, cuts, [](const std::vector<cpt>& x, std::size_t i, std::size_t e) { return run(x, i, e, char_class::number); });
        cuts = split(t, cuts, [](const std::vector<cpt>& x, std::size_t i, std::size_t e) -> std::size_t {
            auto digit = [&](std::size_t k) { return k < e && x[k].c >= '0' && x[k].c <= '9'; };
            return digit(i) && digit(i + 1) && digit(i + 2) ? 3 : 0;
        });
    } else {
        return status::error(errc::unsupported, "tokenizer: pre-tokenizer '%s' is not supported (llama-bpe, default)", v.pre.c_str());
    }
    std::vector<std::string> words;
    std::size_t b = 0;
    for (const std::size_t e : cuts) {
        std::string w;
        for (std::size_t i = b; i < e; ++i) utf8_append(w, t[i].c);
        words.push_back(std::move(w));
        b = e;
    }
    return words;
}

// Encodes `text` (one fragment: no special pieces in it) and appends the ids to `out`.
inline status bpe_encode(const vocab& v, std::string_view text, std::vector<int>& out) {
    auto words = bpe_pretokenize(v, text);
    if (!words) return words.error();
    const bool ignore_merges = v.pre != "default";
    struct symbol {
        std::size_t at, n;
        int prev, next;
    };
    struct candidate {
        int rank, left, right;
        std::string text;
    };
    auto later = [](const candidate& a, const candidate& b) { return a.rank > b.rank || (a.rank == b.rank && a.left > b.left); };
    for (const std::string& raw : *words) {
        std::string w;  // the word in the byte-to-unicode alphabet
        for (const char c : raw) utf8_append(w, byte_to_unicode(static_cast<unsigned char>(c)));
        if (ignore_merges) {
            const int id = v.find(w);
            if (id >= 0) {
                out.push_back(id);
                continue;
            }
        }
        std::vector<symbol> sym;
        for (std::size_t at = 0; at < w.size();) {
            std::size_t n;
            utf8_decode(w, at, &n);
            const int i = static_cast<int>(sym.size());
            sym.push_back({at, n, i - 1, at + n == w.size() ? -1 : i + 1});
            at += n;
        }
        std::priority_queue<candidate, std::vector<candidate>, decltype(later)> queue(later);
        auto text_of = [&](int i) { return std::string_view(w).substr(sym[i].at, sym[i].n); };
        auto consider = [&](int l, int r) {
            if (l < 0 || r < 0) return;
            const int rank = v.rank(text_of(l), text_of(r));
            if (rank < 0) return;
            std::string joined(text_of(l));
            joined.append(text_of(r));
            queue.push({rank, l, r, std::move(joined)});
        };
        for (int i = 1; i < static_cast<int>(sym.size()); ++i) consider(i - 1, i);
        while (!queue.empty()) {
            const candidate c = queue.top();
            queue.pop();
            symbol &l = sym[c.left], &r = sym[c.right];
            if (l.n == 0 || r.n == 0 || l.n + r.n != c.text.size() || w.compare(l.at, c.text.size(), c.text) != 0 ||
                l.next != c.right)
                continue;  // stale
            l.n += r.n;
            r.n = 0;
            l.next = r.next;
            if (r.next >= 0) sym[r.next].prev = c.left;
            consider(l.prev, c.left);
            consider(c.left, l.next);
        }
        for (int i = sym.empty() ? -1 : 0; i >= 0; i = sym[i].next) {
            const std::string_view piece = text_of(i);
            const int id = v.find(piece);
            if (id >= 0) {
                out.push_back(id);
                continue;
            }
            for (std::size_t at = 0; at < piece.size();) {
                std::size_t n;
                utf8_decode(piece, at, &n);
                const int b = v.find(piece.substr(at, n));
                if (b < 0)
                    return status::error(errc::invalid_argument, "tokenizer: the byte-level vocabulary has no piece for '%.*s'",
                                         static_cast<int>(n), piece.data() + at);
                out.push_back(b);
                at += n;
            }
        }
    }
    return {};
}

}  // namespace llama
