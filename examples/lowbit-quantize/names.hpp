// names.hpp — tensor names as the tool prints and writes them. A name comes
// from the input file, so it may hold NUL bytes, terminal escape codes or
// bytes that are not UTF-8: the log shows such bytes as \xNN (never raw, so a
// file cannot recolour or rewrite the user's terminal), and the output GGUF
// never receives them (the GGUF spec says names are UTF-8, at most 63 bytes
// for ggml's char[64]).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include <lowbit/core/status.hpp>
#include <lowbit/formats/gguf.hpp>

namespace lbq {

namespace detail {
// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF), or 0 if there is none.
inline std::size_t utf8_length(std::string_view s, std::size_t i, std::uint32_t* cp) {
    const auto b = [&](std::size_t j) { return static_cast<std::uint8_t>(s[j]); };
    const std::uint8_t c = b(i);
    std::size_t n;
    std::uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        n = 2, v = c & 0x1fu, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3, v = c & 0x0fu, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4, v = c & 0x07u, min = 0x10000;
    } else {
        return 0;
    }
    if (s.size() - i < n) return 0;
    for (std::size_t j = 1; j < n; ++j) {
        if ((b(i + j) & 0xc0) != 0x80) return 0;
        v = v << 6 | (b(i + j) & 0x3fu);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *cp = v;
    return n;
}

// C0 controls (NUL, ESC, newline, ...), DEL and the C1 controls (U+0080..U+009F:
// some terminals read U+009B as an escape introducer).
inline bool is_control(std::uint32_t cp) { return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f); }
}  // namespace detail

// `s` safe to print: controls and bytes outside well-formed UTF-8 become \xNN;
// longer than `max_bytes` input bytes, it is cut there and ends in "..."
// (messages use 40: a status holds 200 characters, and \xNN is 4 of them).
inline std::string printable(std::string_view s, std::size_t max_bytes = 64) {
    std::string out;
    const std::size_t end = s.size() > max_bytes ? max_bytes : s.size();
    for (std::size_t i = 0; i < end;) {
        std::uint32_t cp = 0;
        const std::size_t n = detail::utf8_length(s, i, &cp);
        if (n == 0 || detail::is_control(cp) || i + n > end) {
            char b[8];
            std::snprintf(b, sizeof b, "\\x%02x", static_cast<unsigned>(static_cast<std::uint8_t>(s[i])));
            out += b;
            ++i;
        } else {
            out.append(s.data() + i, n);
            i += n;
        }
    }
    if (end < s.size()) out += "...";
    return out;
}

// Why `name` cannot be a tensor name in the output GGUF, or ok.
inline lowbit::status check_tensor_name(std::string_view name) {
    using lowbit::errc;
    using lowbit::status;
    namespace gguf = lowbit::gguf;
    if (name.empty()) return status::error(errc::invalid_argument, "a tensor has an empty name");
    if (name.size() >= gguf::max_tensor_name)
        return status::error(errc::invalid_argument, "tensor name '%s' is %zu bytes; GGUF allows at most %zu",
                             printable(name, 40).c_str(), name.size(), gguf::max_tensor_name - 1);
    for (std::size_t i = 0; i < name.size();) {
        std::uint32_t cp = 0;
        const std::size_t n = detail::utf8_length(name, i, &cp);
        if (n == 0)
            return status::error(errc::invalid_argument, "tensor name '%s' is not UTF-8 (byte 0x%02x at offset %zu)",
                                 printable(name, 40).c_str(), static_cast<unsigned>(static_cast<std::uint8_t>(name[i])), i);
        if (detail::is_control(cp))
            return status::error(errc::invalid_argument, "tensor name '%s' holds the control character U+%04X at offset %zu",
                                 printable(name, 40).c_str(), static_cast<unsigned>(cp), i);
        i += n;
    }
    return status();
}

}  // namespace lbq
