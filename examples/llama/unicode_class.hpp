// unicode_class.hpp — UTF-8 decoding and the character classes the byte-level
// BPE pre-tokenizers ask about (\p{L} letter, \p{N} number, \s white space,
// \p{P} punctuation).
//
// The classes come from a compact range table, not the full Unicode database:
// ASCII, Latin-1 and Latin Extended, IPA, Greek, Cyrillic, Armenian, Hebrew,
// Arabic, Devanagari, Thai, Georgian, Latin Extended Additional, Greek
// Extended, the general punctuation / super- and subscript / number-form
// blocks, CJK symbols, kana, Hangul, CJK ideographs and full-width forms.
// Anything outside them (other scripts, emoji, combining marks) is `other`:
// neither letter, number, space nor punctuation. llama.cpp uses complete
// tables, so text in scripts missing here may be split differently by the two.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llama {

enum class char_class : std::uint8_t { other, letter, number, space, punct };

// One code point of `s` at byte `at`, and its length in bytes. Malformed
// sequences decode as one code point per byte (its value), so every byte of
// the input is covered exactly once.
inline char32_t utf8_decode(std::string_view s, std::size_t at, std::size_t* len) {
    const unsigned char c = static_cast<unsigned char>(s[at]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || at + n > s.size()) {
        *len = 1;
        return c;
    }
    char32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (std::size_t i = 1; i < n; ++i) {
        const unsigned char d = static_cast<unsigned char>(s[at + i]);
        if ((d >> 6) != 2) {
            *len = 1;
            return c;
        }
        cp = (cp << 6) | (d & 0x3F);
    }
    *len = n;
    return cp;
}

inline void utf8_append(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

inline char_class classify(char32_t c) {
    if (c < 0x80) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return char_class::letter;
        if (c >= '0' && c <= '9') return char_class::number;
        if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return char_class::space;
        // ASCII punctuation (Unicode P): ! " # % & ' ( ) * , - . / : ; ? @ [ \ ] _ { }
        // ($ + < = > ^ ` | ~ are symbols, S).
        switch (c) {
            case '!': case '"': case '#': case '%': case '&': case '\'': case '(': case ')': case '*': case ',': case '-':
            case '.': case '/': case ':': case ';': case '?': case '@': case '[': case '\\': case ']': case '_': case '{':
            case '}': return char_class::punct;
            default: return char_class::other;
        }
    }
    struct range {
        char32_t lo, hi;
        char_class k;
    };
    // Sorted, non-overlapping.
    static const range table[] = {
        {0x85, 0x85, char_class::space}, {0xA0, 0xA0, char_class::space}, {0xA1, 0xA1, char_class::punct},
        {0xA7, 0xA7, char_class::punct}, {0xAA, 0xAA, char_class::letter}, {0xAB, 0xAB, char_class::punct},
        {0xB2, 0xB3, char_class::number}, {0xB5, 0xB5, char_class::letter}, {0xB6, 0xB7, char_class::punct},
        {0xB9, 0xB9, char_class::number}, {0xBA, 0xBA, char_class::letter}, {0xBB, 0xBB, char_class::punct},
        {0xBC, 0xBE, char_class::number}, {0xBF, 0xBF, char_class::punct}, {0xC0, 0xD6, char_class::letter},
        {0xD8, 0xF6, char_class::letter}, {0xF8, 0x2C1, char_class::letter}, {0x2C6, 0x2D1, char_class::letter},
        {0x2E0, 0x2E4, char_class::letter}, {0x370, 0x373, char_class::letter}, {0x376, 0x377, char_class::letter},
        {0x37A, 0x37D, char_class::letter}, {0x37E, 0x37E, char_class::punct}, {0x37F, 0x37F, char_class::letter},
        {0x386, 0x386, char_class::letter}, {0x387, 0x387, char_class::punct}, {0x388, 0x3F5, char_class::letter},
        {0x3F7, 0x481, char_class::letter}, {0x48A, 0x52F, char_class::letter}, {0x531, 0x556, char_class::letter},
        {0x55A, 0x55F, char_class::punct}, {0x560, 0x588, char_class::letter}, {0x589, 0x58A, char_class::punct},
        {0x5BE, 0x5BE, char_class::punct}, {0x5C0, 0x5C0, char_class::punct}, {0x5C3, 0x5C3, char_class::punct},
        {0x5C6, 0x5C6, char_class::punct}, {0x5D0, 0x5EA, char_class::letter}, {0x5F3, 0x5F4, char_class::punct},
        {0x60C, 0x60D, char_class::punct}, {0x61B, 0x61B, char_class::punct}, {0x61F, 0x61F, char_class::punct},
        {0x620, 0x64A, char_class::letter}, {0x660, 0x669, char_class::number}, {0x66A, 0x66D, char_class::punct},
        {0x671, 0x6D3, char_class::letter}, {0x6D4, 0x6D4, char_class::punct}, {0x6F0, 0x6F9, char_class::number},
        {0x904, 0x939, char_class::letter}, {0x964, 0x965, char_class::punct}, {0x966, 0x96F, char_class::number},
        {0xE01, 0xE30, char_class::letter}, {0xE50, 0xE59, char_class::number}, {0x10A0, 0x10FF, char_class::letter},
        {0x1680, 0x1680, char_class::space}, {0x1E00, 0x1FBC, char_class::letter}, {0x2000, 0x200A, char_class::space},
        {0x2010, 0x2027, char_class::punct}, {0x2028, 0x2029, char_class::space}, {0x202F, 0x202F, char_class::space},
        {0x2030, 0x2043, char_class::punct}, {0x2045, 0x2051, char_class::punct}, {0x2053, 0x205E, char_class::punct},
        {0x205F, 0x205F, char_class::space}, {0x2070, 0x2070, char_class::number}, {0x2074, 0x2079, char_class::number},
        {0x2080, 0x2089, char_class::number}, {0x2150, 0x2189, char_class::number}, {0x2460, 0x249B, char_class::number},
        {0x24EA, 0x24FF, char_class::number}, {0x2776, 0x2793, char_class::number}, {0x2E00, 0x2E4F, char_class::punct},
        {0x3000, 0x3000, char_class::space}, {0x3001, 0x3003, char_class::punct}, {0x3005, 0x3006, char_class::letter},
        {0x3007, 0x3007, char_class::number}, {0x3008, 0x3011, char_class::punct}, {0x3014, 0x301F, char_class::punct},
        {0x3021, 0x3029, char_class::number}, {0x3030, 0x3030, char_class::punct}, {0x3041, 0x3096, char_class::letter},
        {0x309D, 0x309F, char_class::letter}, {0x30A0, 0x30A0, char_class::punct}, {0x30A1, 0x30FA, char_class::letter},
        {0x30FB, 0x30FB, char_class::punct}, {0x30FC, 0x30FF, char_class::letter}, {0x3105, 0x312F, char_class::letter},
        {0x3131, 0x318E, char_class::letter}, {0x3400, 0x4DBF, char_class::letter}, {0x4E00, 0x9FFF, char_class::letter},
        {0xAC00, 0xD7A3, char_class::letter}, {0xF900, 0xFAFF, char_class::letter}, {0xFE10, 0xFE19, char_class::punct},
        {0xFE30, 0xFE52, char_class::punct}, {0xFE54, 0xFE61, char_class::punct}, {0xFF01, 0xFF03, char_class::punct},
        {0xFF05, 0xFF0A, char_class::punct}, {0xFF0C, 0xFF0F, char_class::punct}, {0xFF10, 0xFF19, char_class::number},
        {0xFF1A, 0xFF1B, char_class::punct}, {0xFF1F, 0xFF20, char_class::punct}, {0xFF21, 0xFF3A, char_class::letter},
        {0xFF3B, 0xFF3D, char_class::punct}, {0xFF3F, 0xFF3F, char_class::punct}, {0xFF41, 0xFF5A, char_class::letter},
        {0xFF5B, 0xFF5B, char_class::punct}, {0xFF5D, 0xFF5D, char_class::punct}, {0xFF5F, 0xFF65, char_class::punct},
        {0xFF66, 0xFFDC, char_class::letter}, {0x20000, 0x2FA1F, char_class::letter},
    };
    std::size_t lo = 0, hi = sizeof table / sizeof table[0];
    while (lo < hi) {  // the first range whose hi >= c
        const std::size_t mid = (lo + hi) / 2;
        if (table[mid].hi < c) lo = mid + 1;
        else hi = mid;
    }
    if (lo < sizeof table / sizeof table[0] && table[lo].lo <= c) return table[lo].k;
    return char_class::other;
}

}  // namespace llama
