// lowbit/formats/detail/printable.hpp — a file's names and keys made safe to
// print, private to formats/.
//
// Names and keys in a GGUF or safetensors file are bytes the file's author
// chose. Error messages quote them, and messages end up in terminals and logs:
// a name holding ESC [ 2 J would clear the reader's screen, a NUL would cut the
// message short. printable() copies at most `limit` (40) bytes, writing every byte
// outside printable ASCII (0x20..0x7e) and the backslash as \xNN, so the quoted
// text is always plain ASCII and says exactly which bytes the file holds.
#pragma once

#include <cstddef>
#include <string_view>

namespace lowbit {
namespace detail {

struct printable_text {
    // 40 shown bytes at most (a status message holds 200 characters, and \xNN
    // takes 4 of them; lowbit-quantize's log cuts names at 40 too), each at
    // most 4 characters, plus "..." and the NUL.
    static constexpr std::size_t limit = 40;
    char text[limit * 4 + 4] = {};
    const char* c_str() const noexcept { return text; }
};

// The escaped, possibly shortened form of `s` (shortened ones end in "...").
inline printable_text printable(std::string_view s) noexcept {
    static const char hex[] = "0123456789abcdef";
    printable_text out;
    std::size_t w = 0;
    const std::size_t n = s.size() < printable_text::limit ? s.size() : printable_text::limit;
    for (std::size_t i = 0; i < n; ++i) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c <= 0x7e && c != '\\') {
            out.text[w++] = static_cast<char>(c);
        } else {
            out.text[w++] = '\\';
            out.text[w++] = 'x';
            out.text[w++] = hex[c >> 4];
            out.text[w++] = hex[c & 15];
        }
    }
    if (n < s.size())
        for (int i = 0; i < 3; ++i) out.text[w++] = '.';
    out.text[w] = '\0';
    return out;
}

// True when `s` holds no NUL or other control byte (0x00..0x1f, 0x7f): what a
// writer accepts as a key or tensor name. Bytes >= 0x80 (UTF-8) are allowed.
inline bool has_no_control_bytes(std::string_view s) noexcept {
    for (char ch : s) {
        const unsigned char c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f) return false;
    }
    return true;
}

}  // namespace detail
}  // namespace lowbit
