// lowbit/formats/npy.hpp — NumPy .npy files of float32, C order: a reader that
// validates everything it is given and a writer that replaces its file only
// when the whole file is written (write_npy); and a reader of integer
// arrays (token ids: '|u1', '|i1', '<u2', '<i2', '<u4', '<i4', '<i8'). Format (numpy's
// "format.py"): magic "\x93NUMPY", major/minor version, a little-endian header
// length (2 bytes in v1, 4 in v2/v3), an ASCII Python dict literal
//   {'descr': '<f4', 'fortran_order': False, 'shape': (360, 120), }
// padded with spaces to a multiple of 64 bytes and ending in '\n', then the data.
//
// The header is parsed as the Python literal it is (detail::npy_header below),
// and held to numpy's own rules (format.py, _read_array_header): a dict whose
// keys are exactly 'descr', 'fortran_order' and 'shape'; shape a tuple of
// non-negative ints ("(2,)" is a tuple, "(2)" is the int 2 and is refused,
// "()" is a scalar); fortran_order a bool; headers over 10000 bytes refused
// (numpy's default max_header_size). Where numpy is looser we refuse rather than
// guess: a repeated key (a Python dict keeps the last, but no numpy writes one),
// non-decimal ints, strings other than plain '...' / "..." literals.
// parse_npy accepts only '<f4' and parse_npy_ints only the integer dtypes
// above, both with fortran_order False: anything else is an error naming the
// field, never a silent conversion.
#pragma once

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "../core/status.hpp"
#include "../core/views.hpp"

namespace lowbit {

constexpr std::size_t npy_max_header = 10000;  // numpy's default max_header_size
constexpr std::size_t npy_max_rank = 64;       // numpy's NPY_MAXDIMS (before 2.0: 32)

struct npy_array {
    std::vector<std::size_t> shape;
    std::vector<float> data;  // row-major (C order)
    std::size_t rows() const noexcept { return shape.empty() ? 1 : shape[0]; }
    // Product of the trailing dimensions (1 for a vector). SIZE_MAX when that
    // product overflows (a hand-built shape; parse_npy refuses such shapes), so
    // it can never wrap to a small count that matches too little data.
    std::size_t cols() const noexcept {
        std::size_t c = 1;
        for (std::size_t i = 1; i < shape.size(); ++i) {
            if (shape[i] != 0 && c > std::numeric_limits<std::size_t>::max() / shape[i])
                return std::numeric_limits<std::size_t>::max();
            c *= shape[i];
        }
        return c;
    }
};

namespace detail {

// A recursive-descent reader of the subset of Python literals a .npy header
// can hold: dict, tuple, str, int, True/False. It reads the whole header (an
// unknown key or a string holding "'descr': '<f8'" is a value like any other,
// never mistaken for a field), and builds nothing but the three fields.
class npy_header {
public:
    std::string descr;
    bool fortran_order = false;
    std::vector<std::size_t> shape;

    npy_header(std::string_view text, bool py2_longs) noexcept : s_(text), py2_longs_(py2_longs) {}

    status parse() {
        ws();
        LOWBIT_TRY(expect('{', "the header to start with '{'"));
        bool seen[3] = {false, false, false};
        for (bool first = true;; first = false) {
            ws();
            if (eat('}')) break;
            if (!first) {
                LOWBIT_TRY(expect(',', "',' or '}' after a dict entry"));
                ws();
                if (eat('}')) break;  // Python allows one trailing comma
            }
            const std::size_t key_at = pos_;
            if (peek() != '\'' && peek() != '"') return fail("a string key");
            std::string key;
            LOWBIT_TRY(read_string(&key));
            ws();
            LOWBIT_TRY(expect(':', "':' after a key"));
            ws();
            const int k = key == "descr" ? 0 : key == "fortran_order" ? 1 : key == "shape" ? 2 : -1;
            if (k < 0)
                return error(key_at, "unexpected key (numpy allows exactly 'descr', 'fortran_order' and 'shape')");
            if (seen[k]) return error(key_at, "repeated key (refused: which one numpy would take is a guess)");
            seen[k] = true;
            value v;
            const std::size_t val_at = pos_;
            LOWBIT_TRY(read_value(&v, 0));
            if (k == 0) {
                if (v.k != value::kind::string) return error(val_at, "'descr' is not a string (structured dtypes are not supported)");
                descr = v.text;
            } else if (k == 1) {
                if (v.k != value::kind::boolean) return error(val_at, "'fortran_order' is not True or False");
                fortran_order = v.flag;
            } else {
                LOWBIT_TRY(take_shape(v, val_at));
            }
        }
        ws();
        if (pos_ != s_.size()) return fail("nothing but whitespace after the dict");
        for (int k = 0; k < 3; ++k)
            if (!seen[k])
                return status::error(errc::corrupt_data, "header lacks '%s'",
                                     k == 0 ? "descr" : k == 1 ? "fortran_order" : "shape");
        return status();
    }

private:
    struct value {
        enum class kind { string, boolean, integer, tuple } k = kind::integer;
        std::string text;           // string
        bool flag = false;          // boolean; integer: negative
        std::uint64_t num = 0;      // integer magnitude
        std::vector<value> items;   // tuple
    };
    static constexpr int max_depth = 8;  // nested parentheses

    char peek() const noexcept { return pos_ < s_.size() ? s_[pos_] : '\0'; }
    bool eat(char c) noexcept {
        if (pos_ < s_.size() && s_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }
    void ws() noexcept {
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r' ||
                                    s_[pos_] == '\f' || s_[pos_] == '\v'))
            ++pos_;
    }
    status error(std::size_t at, const char* what) const {
        return status::error(errc::corrupt_data, "header byte %zu: %s", at, what);
    }
    status fail(const char* expected) const {
        char msg[96];
        std::snprintf(msg, sizeof msg, "expected %s", expected);
        return error(pos_, msg);
    }
    status expect(char c, const char* what) { return eat(c) ? status() : fail(what); }

    status read_value(value* v, int depth) {
        const char c = peek();
        if (c == '\'' || c == '"') {
            v->k = value::kind::string;
            return read_string(&v->text);
        }
        if (c == '(') return read_tuple(v, depth);
        if (c == '-' || c == '+' || (c >= '0' && c <= '9')) return read_int(v);
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_') {
            const std::size_t at = pos_;
            while (pos_ < s_.size() && ((s_[pos_] >= 'A' && s_[pos_] <= 'Z') || (s_[pos_] >= 'a' && s_[pos_] <= 'z') ||
                                        (s_[pos_] >= '0' && s_[pos_] <= '9') || s_[pos_] == '_'))
                ++pos_;
            const std::string_view word = s_.substr(at, pos_ - at);
            if (word == "True" || word == "False") {
                v->k = value::kind::boolean;
                v->flag = word == "True";
                return status();
            }
            if (pos_ < s_.size() && (s_[pos_] == '\'' || s_[pos_] == '"'))
                return error(at, "string prefixes (b'', u'', r'') are not supported");
            return error(at, "a name other than True or False");
        }
        return fail("a string, an int, True, False or a tuple");
    }

    // '...' or "..." with the escapes \\ \' \" \n \r \t \0 \xNN; no raw newline.
    status read_string(std::string* out) {
        const char q = s_[pos_++];
        out->clear();
        for (;;) {
            if (pos_ >= s_.size() || s_[pos_] == '\n') return error(pos_, "unterminated string");
            const char c = s_[pos_++];
            if (c == q) return status();
            if (c != '\\') {
                out->push_back(c);
                continue;
            }
            if (pos_ >= s_.size()) return error(pos_, "unterminated string");
            const char e = s_[pos_++];
            switch (e) {
                case '\\': case '\'': case '"': out->push_back(e); break;
                case 'n': out->push_back('\n'); break;
                case 'r': out->push_back('\r'); break;
                case 't': out->push_back('\t'); break;
                case '0': out->push_back('\0'); break;
                case 'x': {
                    unsigned v = 0;
                    for (int i = 0; i < 2; ++i, ++pos_) {
                        const char h = peek();
                        const int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                    : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                        if (d < 0) return error(pos_, "a \\x escape needs two hex digits");
                        v = v * 16 + static_cast<unsigned>(d);
                    }
                    out->push_back(static_cast<char>(v));
                    break;
                }
                default: return error(pos_ - 2, "unsupported escape in a string");
            }
        }
    }

    // Decimal, optionally signed; Python's rule against leading zeros ("00" is
    // 0, "01" a syntax error); a trailing L (Python 2 longs) in v1/v2 headers,
    // which numpy still accepts there.
    status read_int(value* v) {
        const std::size_t at = pos_;
        v->k = value::kind::integer;
        v->flag = false;
        if (peek() == '-' || peek() == '+') {
            v->flag = s_[pos_] == '-';
            ++pos_;
            ws();
        }
        const std::size_t digits = pos_;
        std::uint64_t n = 0;
        bool nonzero_seen = false;
        while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
            const unsigned d = static_cast<unsigned>(s_[pos_] - '0');
            if (n > (std::numeric_limits<std::uint64_t>::max() - d) / 10) return error(at, "integer does not fit in 64 bits");
            if (d != 0) nonzero_seen = true;
            n = n * 10 + d;
            ++pos_;
        }
        if (pos_ == digits) return error(at, "digits expected in an integer");
        if (s_[digits] == '0' && pos_ - digits > 1 && nonzero_seen)
            return error(at, "leading zeros in an integer (a syntax error in Python)");
        if (py2_longs_ && (peek() == 'L' || peek() == 'l')) ++pos_;
        const char c = peek();
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == '.')
            return error(at, "only decimal integers are supported");
        v->num = n;
        return status();
    }

    // "()" an empty tuple, "(x,)" and "(x, y[,])" tuples, "(x)" just x.
    status read_tuple(value* v, int depth) {
        if (depth >= max_depth) return error(pos_, "parentheses nested too deeply");
        ++pos_;
        ws();
        if (eat(')')) {
            v->k = value::kind::tuple;
            v->items.clear();
            return status();
        }
        value first;
        LOWBIT_TRY(read_value(&first, depth + 1));
        ws();
        if (eat(')')) {  // a parenthesized value, not a tuple
            *v = std::move(first);
            return status();
        }
        LOWBIT_TRY(expect(',', "',' or ')' in a tuple"));
        v->k = value::kind::tuple;
        v->items.clear();
        v->items.push_back(std::move(first));
        for (;;) {
            ws();
            if (eat(')')) return status();
            if (v->items.size() >= npy_max_rank) return error(pos_, "a tuple longer than 64 entries");
            value item;
            LOWBIT_TRY(read_value(&item, depth + 1));
            v->items.push_back(std::move(item));
            ws();
            if (eat(')')) return status();
            LOWBIT_TRY(expect(',', "',' or ')' in a tuple"));
        }
    }

    // A tuple of non-negative ints whose product fits in size_t, also when a
    // zero dimension makes the element count 0 (cols() must not overflow).
    status take_shape(const value& v, std::size_t at) {
        if (v.k != value::kind::tuple) return error(at, "'shape' is not a tuple (write (n,) for one dimension)");
        std::size_t product = 1;
        for (const value& d : v.items) {
            if (d.k != value::kind::integer) return error(at, "'shape' holds something other than integers");
            if (d.flag && d.num != 0) return error(at, "'shape' holds a negative dimension");
            if (d.num > std::numeric_limits<std::size_t>::max()) return error(at, "'shape' holds a dimension too large");
            const std::size_t n = static_cast<std::size_t>(d.num);
            if (n != 0 && product > std::numeric_limits<std::size_t>::max() / n)
                return error(at, "'shape' dimensions multiply past the size_t range");
            if (n != 0) product *= n;
            shape.push_back(n);
        }
        return status();
    }

    std::string_view s_;
    bool py2_longs_;
    std::size_t pos_ = 0;
};

}  // namespace detail

namespace detail {
// The checked header of a whole .npy file held in memory: its dtype string,
// shape (C order) and where the data starts. `name` is used in messages.
struct npy_layout {
    std::string descr;
    std::vector<std::size_t> shape;
    std::size_t count = 1;  // elements: the shape's product (checked not to overflow)
    std::size_t data_off = 0;
};
inline result<npy_layout> parse_npy_layout(const std::uint8_t* b, std::size_t n, const char* name) {
    LOWBIT_TRY(lowbit::detail::check_span(span<const std::uint8_t>(b, n), "data", name));
    if (n < 10 || std::memcmp(b, "\x93NUMPY", 6) != 0) return status::error(errc::corrupt_data, "%s: not a .npy file (bad magic)", name);
    const int major = b[6];
    std::size_t hlen, off;
    if (major == 1) {
        hlen = static_cast<std::size_t>(b[8]) | static_cast<std::size_t>(b[9]) << 8;
        off = 10;
    } else if (major == 2 || major == 3) {
        if (n < 12) return status::error(errc::corrupt_data, "%s: truncated header", name);
        hlen = static_cast<std::size_t>(b[8]) | static_cast<std::size_t>(b[9]) << 8 | static_cast<std::size_t>(b[10]) << 16 |
               static_cast<std::size_t>(b[11]) << 24;
        off = 12;
    } else {
        return status::error(errc::unsupported, "%s: .npy format version %d is not supported", name, major);
    }
    if (hlen > n - off) return status::error(errc::corrupt_data, "%s: header length %zu exceeds the file (%zu bytes)", name, hlen, n);
    if (hlen > npy_max_header)
        return status::error(errc::corrupt_data, "%s: header length %zu exceeds numpy's limit of %zu bytes", name, hlen,
                             npy_max_header);
    npy_header h(std::string_view(reinterpret_cast<const char*>(b + off), hlen), major <= 2);
    if (status st = h.parse(); !st.ok()) return status::error(st.code(), "%s: %s", name, st.message());
    if (h.fortran_order) return status::error(errc::unsupported, "%s: fortran_order = True, expected False (C order)", name);
    npy_layout l;
    l.descr = std::move(h.descr);
    l.shape = std::move(h.shape);
    for (std::size_t d : l.shape) l.count *= d;  // cannot overflow: take_shape checked the product
    l.data_off = off + hlen;
    return l;
}
// The dtype as text for a message, its non-printable bytes shown as '?'.
inline std::string npy_shown_dtype(const std::string& descr) {
    std::string shown = descr.substr(0, 40);
    for (char& c : shown)
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
    return shown;
}
}  // namespace detail

// Parse a whole .npy file held in memory. `name` is used in messages.
inline result<npy_array> parse_npy(const std::uint8_t* b, std::size_t n, const char* name = "npy") {
    auto l = detail::parse_npy_layout(b, n, name);
    if (!l) return l.error();
    if (l->descr != "<f4")
        return status::error(errc::unsupported, "%s: dtype '%s', expected little-endian float32 '<f4'", name,
                             detail::npy_shown_dtype(l->descr).c_str());
    const std::size_t count = l->count, data_off = l->data_off;
    if ((n - data_off) / 4 < count)
        return status::error(errc::corrupt_data, "%s: the shape needs %zu floats of data, the file has %zu bytes", name,
                             count, n - data_off);
    npy_array a;
    a.shape = std::move(l->shape);
    a.data.resize(count);
    for (std::size_t i = 0; i < count; ++i) {  // little-endian on any host
        const std::uint8_t* p = b + data_off + 4 * i;
        const std::uint32_t u = static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
                                static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
        std::memcpy(&a.data[i], &u, 4);
    }
    return a;
}

// An integer .npy array (token ids), every value widened to int64.
struct npy_int_array {
    std::vector<std::size_t> shape;
    std::vector<std::int64_t> data;  // row-major (C order)
};

// Parse a whole .npy file of integers: '|u1', '|i1', '<u2', '<i2', '<u4',
// '<i4' or '<i8' (what tokenizers and numpy write for token ids; '<u8' is
// refused: its values need not fit an int64). `name` is used in messages.
inline result<npy_int_array> parse_npy_ints(const std::uint8_t* b, std::size_t n, const char* name = "npy") {
    auto l = detail::parse_npy_layout(b, n, name);
    if (!l) return l.error();
    const std::string& d = l->descr;
    const bool is_signed = d == "|i1" || d == "<i2" || d == "<i4" || d == "<i8";
    const std::size_t width = d == "|u1" || d == "|i1" ? 1 : d == "<u2" || d == "<i2" ? 2 : d == "<u4" || d == "<i4" ? 4 : d == "<i8" ? 8 : 0;
    if (width == 0)
        return status::error(errc::unsupported, "%s: dtype '%s', expected an integer dtype ('|u1' '|i1' '<u2' '<i2' '<u4' '<i4' '<i8')",
                             name, detail::npy_shown_dtype(d).c_str());
    const std::size_t count = l->count, data_off = l->data_off;
    if ((n - data_off) / width < count)
        return status::error(errc::corrupt_data, "%s: the shape needs %zu values of %zu bytes, the file has %zu bytes", name, count,
                             width, n - data_off);
    npy_int_array a;
    a.shape = std::move(l->shape);
    a.data.resize(count);
    for (std::size_t i = 0; i < count; ++i) {  // little-endian on any host
        const std::uint8_t* p = b + data_off + width * i;
        std::uint64_t u = 0;
        for (std::size_t k = 0; k < width; ++k) u |= static_cast<std::uint64_t>(p[k]) << (8 * k);
        if (is_signed && width < 8 && (u >> (8 * width - 1)) != 0) u |= ~std::uint64_t{0} << (8 * width);  // sign-extend
        std::int64_t v;
        std::memcpy(&v, &u, 8);
        a.data[i] = v;
    }
    return a;
}

namespace detail {
inline status read_whole_file(const char* path, std::vector<std::uint8_t>& buf) {
    std::FILE* f = std::fopen(path, "rb");
    if (!f) return status::error(errc::io_error, "cannot open %s", path);
    std::uint8_t chunk[1 << 16];
    std::size_t got;
    while ((got = std::fread(chunk, 1, sizeof chunk, f)) > 0) buf.insert(buf.end(), chunk, chunk + got);
    const bool err = std::ferror(f) != 0;
    std::fclose(f);
    if (err) return status::error(errc::io_error, "error reading %s", path);
    return {};
}
}  // namespace detail

inline result<npy_array> read_npy(const char* path) {
    std::vector<std::uint8_t> buf;
    LOWBIT_TRY(detail::read_whole_file(path, buf));
    return parse_npy(buf.data(), buf.size(), path);
}
inline result<npy_int_array> read_npy_ints(const char* path) {
    std::vector<std::uint8_t> buf;
    LOWBIT_TRY(detail::read_whole_file(path, buf));
    return parse_npy_ints(buf.data(), buf.size(), path);
}

namespace detail {
// The header of a .npy file (version 1.0) of float32 `data` with `shape`,
// after the shape and data are checked; *count: the number of values.
inline status npy_header_text(const float* data, const std::vector<std::size_t>& shape, std::string* header, std::size_t* count) {
    std::string& h = *header;
    h = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
    if (shape.size() > npy_max_rank)
        return status::error(errc::invalid_argument, "write_npy: %zu dimensions, numpy reads at most %zu", shape.size(),
                             npy_max_rank);
    *count = 1;
    for (std::size_t d : shape) {
        h += std::to_string(d) + ", ";
        if (d != 0 && *count > std::numeric_limits<std::size_t>::max() / 4 / d)
            return status::error(errc::invalid_argument, "write_npy: the shape's element count overflows");
        *count *= d;
    }
    if (shape.size() > 1) h.resize(h.size() - 1);  // "(3, 4)" ; a 1-tuple keeps its comma: "(3,)"
    else if (shape.size() == 1) h.pop_back();
    h += "), }";
    LOWBIT_TRY(lowbit::detail::check_span(span<const float>(data, *count), "data", "write_npy"));
    while ((10 + h.size() + 1) % 64) h += ' ';
    h += '\n';
    return {};
}
}  // namespace detail

// The bytes of a .npy file of float32 `data` with `shape` (C order, format
// version 1.0), handed in order to `put(const std::uint8_t*, std::size_t)`,
// which returns a status (the first error stops the encoding and is
// returned): the header, then the values, little-endian on any host. For a
// destination other than a file by name (write_npy), e.g. a tool's own
// output file.
template <class Put>
status encode_npy(const float* data, const std::vector<std::size_t>& shape, Put&& put) {
    std::string h;
    std::size_t count = 0;
    LOWBIT_TRY(detail::npy_header_text(data, shape, &h, &count));
    const std::uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<std::uint8_t>(h.size() & 0xff),
                                  static_cast<std::uint8_t>(h.size() >> 8)};
    LOWBIT_TRY(put(pre, sizeof pre));
    LOWBIT_TRY(put(reinterpret_cast<const std::uint8_t*>(h.data()), h.size()));
    std::uint8_t le[4096];  // values in chunks: one put per 1024 values, not per value
    for (std::size_t i = 0; i < count;) {
        const std::size_t n = std::min<std::size_t>(count - i, sizeof le / 4);
        for (std::size_t k = 0; k < n; ++k) {
            std::uint32_t u;
            std::memcpy(&u, data + i + k, 4);
            for (int b = 0; b < 4; ++b) le[4 * k + static_cast<std::size_t>(b)] = static_cast<std::uint8_t>(u >> (8 * b));
        }
        LOWBIT_TRY(put(le, 4 * n));
        i += n;
    }
    return {};
}

namespace detail {
// A name for write_npy's temporary file, "<path>.tmp-<16 hex digits>": a
// process-wide counter mixed with the clock and a stack address (which
// differs between processes where addresses are randomised), so that two
// writers rarely pick the same name; fopen's "x" makes a clash an EEXIST,
// never a shared file.
inline std::string npy_temp_name(const char* path, unsigned attempt) {
    static std::atomic<std::uint64_t> counter{0};
    const int local = 0;
    std::uint64_t z = counter.fetch_add(1) * 0x9e3779b97f4a7c15ULL ^
                      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
                      static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&local)) ^ attempt;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;  // splitmix64's finaliser: every input bit moves the whole name
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    char hex[17];
    for (int i = 0; i < 16; ++i) hex[i] = "0123456789abcdef"[(z >> (60 - 4 * i)) & 15];
    hex[16] = '\0';
    return std::string(path) + ".tmp-" + hex;
}
}  // namespace detail

// Writes float32 data of the given shape (C order, format version 1.0) to
// `path`, which is replaced only if everything succeeds: the bytes go to a
// new file next to it ("<path>.tmp-<16 hex digits>", created exclusively
// with fopen's "x", another name tried on EEXIST, at most 16 times), which
// std::rename then moves over `path`. On any error the temporary file is
// removed and `path` is left as it was (absent, or its old contents).
// Consequences: a symbolic link at `path` is replaced by the file, not
// written through; the file has a new file's permissions (umask), not the
// old one's; a process killed mid-write leaves its temporary file behind.
// The replacement is atomic where rename replaces an existing file in one
// step (POSIX); where it cannot (Windows), the old file is removed first, so
// a failure between the two steps leaves no file at `path`.
inline status write_npy(const char* path, const float* data, const std::vector<std::size_t>& shape) {
    std::string header;
    std::size_t count = 0;
    LOWBIT_TRY(detail::npy_header_text(data, shape, &header, &count));  // bad arguments create no file
    std::string tmp;
    std::FILE* f = nullptr;
    for (unsigned attempt = 0; !f && attempt < 16; ++attempt) {
        tmp = detail::npy_temp_name(path, attempt);
        errno = 0;
        f = std::fopen(tmp.c_str(), "wbx");
        if (!f && errno != EEXIST) break;
    }
    if (!f) return status::error(errc::io_error, "cannot create a file next to %s: %s", path, std::strerror(errno));
    int err = 0;
    const status st = encode_npy(data, shape, [&](const std::uint8_t* p, std::size_t n) {
        if (std::fwrite(p, 1, n, f) == n) return status();
        err = errno;
        return status::error(errc::io_error, "write failed");
    });
    const bool closed = std::fclose(f) == 0;  // flushes: a full disk may show only here
    if (!closed && st) err = errno;
    if (!st || !closed) {
        std::remove(tmp.c_str());
        return status::error(errc::io_error, "error writing %s: %s", path, err ? std::strerror(err) : "short write");
    }
    int rc = std::rename(tmp.c_str(), path);
#if defined(_WIN32)
    if (rc != 0 && std::remove(path) == 0) rc = std::rename(tmp.c_str(), path);  // rename cannot replace here
#endif
    if (rc != 0) {
        err = errno;
        std::remove(tmp.c_str());
        return status::error(errc::io_error, "cannot replace %s: %s", path, std::strerror(err));
    }
    return {};
}

}  // namespace lowbit
