// tokenizer_spm.hpp — SentencePiece-BPE encoding of one piece of text, as
// llama.cpp's "llama" tokenizer model does it (llama-vocab.cpp, the SPM session).
//
// The rules:
//  1. The caller has already put the space prefix in front (tokenizer.hpp) and
//     every ' ' is written as U+2581 "▁" (what SentencePiece calls escaping).
//  2. The text starts as one symbol per UTF-8 character. A lead byte gives the
//     length (0xxxxxxx and stray continuation bytes 1, 110xxxxx 2, 1110xxxx 3,
//     11110xxx and above 4), cut short at the end of the text; the bytes are not
//     validated, so malformed UTF-8 still makes symbols (and byte tokens below).
//  3. Every pair of neighbouring symbols whose concatenation is a vocabulary
//     piece is a candidate. Repeatedly merge the candidate with the highest
//     piece score (ties: the leftmost), skipping stale candidates whose symbols
//     have changed since they were queued, then queue the merged symbol's new
//     pairs with its neighbours.
//  4. Each final symbol is its piece's id; a symbol that is not a piece (only
//     single characters can be: merges only make pieces) becomes one token per
//     byte: "<0xNN>" (byte fallback), else the one-byte piece, else the unknown
//     token (llama.cpp aborts in that last case; a vocabulary without byte
//     pieces and without UNK makes that byte an error here instead).
// Cost: O(n log n) in the text's length.
#pragma once

#include <queue>

#include "vocab.hpp"

namespace llama {

// Bytes of the UTF-8 sequence that `lead` starts (rule 2).
inline std::size_t utf8_len(unsigned char lead) {
    static const std::uint8_t by_high_nibble[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return by_high_nibble[lead >> 4];
}

// The token of one raw byte in a SentencePiece vocabulary (rule 4); -1 if it has none.
inline int spm_byte_token(const vocab& v, unsigned char b) {
    static const char* hex = "0123456789ABCDEF";
    const char piece[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
    int id = v.find(std::string_view(piece, 6));
    if (id < 0) id = v.find(std::string_view(reinterpret_cast<const char*>(&b), 1));
    if (id < 0) id = v.unk;
    return id;
}

// Encodes `text` (already escaped, rule 1) and appends the ids to `out`.
inline status spm_encode(const vocab& v, std::string_view text, std::vector<int>& out) {
    struct symbol {
        std::size_t at, n;  // bytes of text; n == 0 once merged into its left neighbour
        int prev, next;
    };
    struct candidate {
        float score;
        int left, right;
        std::size_t size;
    };
    // Highest score first; equal scores: the smaller left index first.
    auto lower = [](const candidate& a, const candidate& b) { return a.score < b.score || (a.score == b.score && a.left > b.left); };
    std::vector<symbol> sym;
    for (std::size_t at = 0; at < text.size();) {
        const std::size_t n = std::min(utf8_len(static_cast<unsigned char>(text[at])), text.size() - at);
        const int i = static_cast<int>(sym.size());
        sym.push_back({at, n, i - 1, at + n == text.size() ? -1 : i + 1});
        at += n;
    }
    std::priority_queue<candidate, std::vector<candidate>, decltype(lower)> queue(lower);
    auto consider = [&](int l, int r) {
        if (l < 0 || r < 0) return;
        const std::size_t size = sym[l].n + sym[r].n;
        const int id = v.find(text.substr(sym[l].at, size));
        if (id < 0) return;
        queue.push({v.scores[static_cast<std::size_t>(id)], l, r, size});
    };
    for (int i = 1; i < static_cast<int>(sym.size()); ++i) consider(i - 1, i);
    while (!queue.empty()) {
        const candidate c = queue.top();
        queue.pop();
        symbol &l = sym[c.left], &r = sym[c.right];
        if (l.n == 0 || r.n == 0 || l.n + r.n != c.size) continue;  // stale
        l.n += r.n;
        r.n = 0;
        l.next = r.next;
        if (r.next >= 0) sym[r.next].prev = c.left;
        consider(l.prev, c.left);
        consider(c.left, l.next);
    }
    for (int i = sym.empty() ? -1 : 0; i >= 0; i = sym[i].next) {
        const std::string_view piece = text.substr(sym[i].at, sym[i].n);
        const int id = v.find(piece);
        if (id >= 0) {
            out.push_back(id);
            continue;
        }
        for (const char ch : piece) {
            const int b = spm_byte_token(v, static_cast<unsigned char>(ch));
            if (b < 0)
                return status::error(errc::invalid_argument,
                                     "tokenizer: byte 0x%02X has no token (no <0xNN> piece, no one-byte piece, no unknown token)",
                                     static_cast<unsigned char>(ch));
            out.push_back(b);
        }
    }
    return {};
}

}  // namespace llama
