// lowbit/formats/json.hpp — a small, strict pull parser for JSON (RFC 8259):
// the safetensors header reader's, and the tools' (lowbit-quantize reads
// Hugging Face configs with it). A public header so that tests and tools need
// no detail/ include; the parser keeps its lowbit::detail namespace (it is
// not part of the stable API).
//
// Pull, not DOM: the caller walks the document with begin_object/next_key,
// begin_array/next_element and read_* calls, and skips what it does not need
// with skip_value (which still validates it). Nothing is stored but what the
// caller keeps, so a hostile header cannot make the parser allocate more than
// the longest string in it.
//
// Strict: no comments, no trailing commas, no leading zeros, no unescaped
// control characters, strings must be valid UTF-8 and \u escapes valid UTF-16
// (surrogates in pairs), nesting at most max_depth. Integers are read exactly
// into uint64 (read_uint); other numbers are validated, not converted (the
// safetensors header needs none). Errors name the byte offset, counted from
// `base` so that messages can give file offsets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "../core/status.hpp"

namespace lowbit {
namespace detail {

class json_reader {
public:
    static constexpr int max_depth = 64;
    enum class kind { end, object, array, string, number, boolean, null, invalid };

    json_reader(std::string_view text, std::size_t base) noexcept : s_(text), base_(base) {}

    // Offset of the next token (whitespace skipped), for messages.
    std::size_t offset() noexcept {
        skip_ws();
        return base_ + pos_;
    }

    // What the next value is, from its first byte (after whitespace).
    kind peek() noexcept {
        skip_ws();
        if (pos_ >= s_.size()) return kind::end;
        switch (s_[pos_]) {
            case '{': return kind::object;
            case '[': return kind::array;
            case '"': return kind::string;
            case 't':
            case 'f': return kind::boolean;
            case 'n': return kind::null;
            default: return (s_[pos_] == '-' || (s_[pos_] >= '0' && s_[pos_] <= '9')) ? kind::number : kind::invalid;
        }
    }

    status begin_object() { return open('{', "an object"); }
    status begin_array() { return open('[', "an array"); }

    // Inside an object: true and the key when a member follows (the reader is
    // then at its value), false after the closing brace.
    status next_key(bool* more, std::string* key) {
        LOWBIT_TRY(next_item('}', more));
        if (!*more) return status();
        if (peek() != kind::string) return fail("expected a string key");
        LOWBIT_TRY(read_string(key));
        skip_ws();
        if (pos_ >= s_.size() || s_[pos_] != ':') return fail("expected ':' after a key");
        ++pos_;
        return status();
    }
    // Inside an array: true when an element follows, false after the closing bracket.
    status next_element(bool* more) { return next_item(']', more); }

    // A string value, unescaped, as UTF-8.
    status read_string(std::string* out) {
        skip_ws();
        if (pos_ >= s_.size() || s_[pos_] != '"') return fail("expected a string");
        ++pos_;
        out->clear();
        for (;;) {
            if (pos_ >= s_.size()) return fail("unterminated string");
            const unsigned char c = static_cast<unsigned char>(s_[pos_]);
            if (c == '"') {
                ++pos_;
                return status();
            }
            if (c < 0x20) return fail("control character in a string");
            if (c == '\\') {
                LOWBIT_TRY(read_escape(out));
            } else if (c < 0x80) {
                out->push_back(static_cast<char>(c));
                ++pos_;
            } else {
                LOWBIT_TRY(read_utf8(out));
            }
        }
    }

    // A non-negative integer without fraction or exponent that fits in uint64.
    status read_uint(std::uint64_t* out) {
        skip_ws();
        const std::size_t start = pos_;
        LOWBIT_TRY(scan_number());
        std::uint64_t v = 0;
        for (std::size_t i = start; i < pos_; ++i) {
            const char c = s_[i];
            if (c < '0' || c > '9') {
                pos_ = start;
                return fail("expected a non-negative integer");
            }
            const std::uint64_t d = static_cast<std::uint64_t>(c - '0');
            if (v > (UINT64_MAX - d) / 10) {
                pos_ = start;
                return fail("integer does not fit in 64 bits");
            }
            v = v * 10 + d;
        }
        *out = v;
        return status();
    }

    // Any value, validated and discarded.
    status skip_value() {
        std::string scratch;
        return skip(&scratch);
    }

    // Only whitespace may follow the top-level value.
    status finish() {
        skip_ws();
        if (pos_ != s_.size()) return fail("trailing characters after the JSON value");
        return status();
    }

    status fail(const char* what) const {
        return status::error(errc::corrupt_data, "json: %s at byte %zu", what, base_ + pos_);
    }

private:
    void skip_ws() noexcept {
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
    }

    status open(char c, const char* what) {
        skip_ws();
        if (pos_ >= s_.size() || s_[pos_] != c) {
            char msg[64];
            std::snprintf(msg, sizeof msg, "expected %s", what);
            return fail(msg);
        }
        if (depth_ >= max_depth) return fail("nesting deeper than 64");
        ++depth_;
        ++pos_;
        first_ = true;
        return status();
    }

    status next_item(char close, bool* more) {
        skip_ws();
        if (pos_ >= s_.size()) return fail(close == '}' ? "unterminated object" : "unterminated array");
        if (s_[pos_] == close) {
            ++pos_;
            --depth_;
            first_ = false;
            *more = false;
            return status();
        }
        if (!first_) {
            if (s_[pos_] != ',') return fail(close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
            ++pos_;
            skip_ws();
            if (pos_ < s_.size() && s_[pos_] == close) return fail("trailing comma");
        }
        first_ = false;
        *more = true;
        return status();
    }

    status skip(std::string* scratch) {
        switch (peek()) {
            case kind::object: {
                LOWBIT_TRY(begin_object());
                for (bool more = true;;) {
                    LOWBIT_TRY(next_key(&more, scratch));
                    if (!more) return status();
                    LOWBIT_TRY(skip(scratch));
                    first_ = false;
                }
            }
            case kind::array: {
                LOWBIT_TRY(begin_array());
                for (bool more = true;;) {
                    LOWBIT_TRY(next_element(&more));
                    if (!more) return status();
                    LOWBIT_TRY(skip(scratch));
                    first_ = false;
                }
            }
            case kind::string: return read_string(scratch);
            case kind::number: return scan_number();
            case kind::boolean:
                if (s_.substr(pos_, 4) == "true") return literal(4);
                if (s_.substr(pos_, 5) == "false") return literal(5);
                return fail("invalid literal");
            case kind::null:
                if (s_.substr(pos_, 4) == "null") return literal(4);
                return fail("invalid literal");
            case kind::end: return fail("expected a value, found the end");
            case kind::invalid: break;
        }
        return fail("unexpected character");
    }

    status literal(std::size_t n) {
        pos_ += n;
        return status();
    }

    // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    status scan_number() {
        auto digit = [this] { return pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9'; };
        if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
        if (!digit()) return fail("invalid number");
        if (s_[pos_] == '0') {
            ++pos_;
            if (digit()) return fail("leading zero in a number");
        } else {
            while (digit()) ++pos_;
        }
        if (pos_ < s_.size() && s_[pos_] == '.') {
            ++pos_;
            if (!digit()) return fail("digits expected after '.'");
            while (digit()) ++pos_;
        }
        if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
            ++pos_;
            if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
            if (!digit()) return fail("digits expected in an exponent");
            while (digit()) ++pos_;
        }
        return status();
    }

    status hex4(std::uint32_t* out) {
        if (s_.size() - pos_ < 4) return fail("truncated \\u escape");
        std::uint32_t v = 0;
        for (int i = 0; i < 4; ++i) {
            const char c = s_[pos_ + static_cast<std::size_t>(i)];
            std::uint32_t d;
            if (c >= '0' && c <= '9') d = static_cast<std::uint32_t>(c - '0');
            else if (c >= 'a' && c <= 'f') d = static_cast<std::uint32_t>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') d = static_cast<std::uint32_t>(c - 'A' + 10);
            else return fail("invalid hex digit in a \\u escape");
            v = v * 16 + d;
        }
        pos_ += 4;
        *out = v;
        return status();
    }

    static void put_utf8(std::string* out, std::uint32_t cp) {
        if (cp < 0x80) {
            out->push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
            out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
            out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
        } else if (cp < 0x10000) {
            out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
            out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
            out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
        } else {
            out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
            out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
            out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
            out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
        }
    }

    status read_escape(std::string* out) {
        ++pos_;  // the backslash
        if (pos_ >= s_.size()) return fail("truncated escape");
        const char c = s_[pos_++];
        switch (c) {
            case '"': out->push_back('"'); return status();
            case '\\': out->push_back('\\'); return status();
            case '/': out->push_back('/'); return status();
            case 'b': out->push_back('\b'); return status();
            case 'f': out->push_back('\f'); return status();
            case 'n': out->push_back('\n'); return status();
            case 'r': out->push_back('\r'); return status();
            case 't': out->push_back('\t'); return status();
            case 'u': break;
            default: --pos_; return fail("invalid escape");
        }
        std::uint32_t cp = 0;
        LOWBIT_TRY(hex4(&cp));
        if (cp >= 0xdc00 && cp <= 0xdfff) return fail("unpaired low surrogate in a \\u escape");
        if (cp >= 0xd800 && cp <= 0xdbff) {  // a high surrogate needs its low half next
            if (s_.size() - pos_ < 2 || s_[pos_] != '\\' || s_[pos_ + 1] != 'u')
                return fail("unpaired high surrogate in a \\u escape");
            pos_ += 2;
            std::uint32_t lo = 0;
            LOWBIT_TRY(hex4(&lo));
            if (lo < 0xdc00 || lo > 0xdfff) return fail("high surrogate not followed by a low one");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        put_utf8(out, cp);
        return status();
    }

    // One multi-byte UTF-8 sequence: no overlongs, no surrogates, <= U+10FFFF.
    status read_utf8(std::string* out) {
        const unsigned char c0 = static_cast<unsigned char>(s_[pos_]);
        std::size_t n;
        std::uint32_t cp, min;
        if (c0 >= 0xc2 && c0 <= 0xdf) { n = 2; cp = c0 & 0x1fu; min = 0x80; }
        else if (c0 >= 0xe0 && c0 <= 0xef) { n = 3; cp = c0 & 0x0fu; min = 0x800; }
        else if (c0 >= 0xf0 && c0 <= 0xf4) { n = 4; cp = c0 & 0x07u; min = 0x10000; }
        else return fail("invalid UTF-8 lead byte in a string");
        if (s_.size() - pos_ < n) return fail("truncated UTF-8 sequence in a string");
        for (std::size_t i = 1; i < n; ++i) {
            const unsigned char c = static_cast<unsigned char>(s_[pos_ + i]);
            if ((c & 0xc0u) != 0x80u) return fail("invalid UTF-8 continuation byte in a string");
            cp = (cp << 6) | (c & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return fail("invalid UTF-8 sequence (overlong, surrogate or out of range) in a string");
        out->append(s_.data() + pos_, n);
        pos_ += n;
        return status();
    }

    std::string_view s_;
    std::size_t base_;
    std::size_t pos_ = 0;
    int depth_ = 0;
    bool first_ = false;  // just opened a container: no comma expected before the next item
};

}  // namespace detail
}  // namespace lowbit
