// lowbit/formats/gguf.hpp — GGUF (v3, and v2) files: a validating zero-copy
// reader over a caller's memory span and a streaming writer.
//
// Reader: `gguf_file::parse(bytes)` checks the whole header (magic, version,
// counts, every string and array length, value types, tensor infos, alignment,
// data offsets, sizes, overlaps, duplicates) before it returns, so a file that
// parses can be used without further checks; tensor `data` spans point into the
// caller's bytes (mmap them). Every failure is a `lowbit::status` naming the
// problem and its byte offset; the reader never reads outside the span, and
// what it holds is at most 12 bytes per byte of the span, whatever the counts
// in the header claim (limits below; docs/reliability.md, "Limits of the
// readers"). Names and keys quoted in messages are escaped (detail/printable.hpp).
//
// Writer: `gguf_writer` takes metadata and tensor declarations up front, writes
// header + metadata + tensor infos, then takes tensor data in declaration order
// in chunks of any size, adding ggml's alignment padding, so a model never has
// to be in memory at once.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/config.hpp"
#include "../core/status.hpp"
#include "../core/views.hpp"
#include "detail/printable.hpp"
#include "gguf_types.hpp"

namespace lowbit {
namespace gguf {

// Metadata value types (gguf_metadata_value_type).
enum class value_type : std::uint32_t {
    u8 = 0,
    i8 = 1,
    u16 = 2,
    i16 = 3,
    u32 = 4,
    i32 = 5,
    f32 = 6,
    boolean = 7,
    string = 8,
    array = 9,
    u64 = 10,
    i64 = 11,
    f64 = 12,
};

inline const char* value_type_name(value_type t) noexcept {
    switch (t) {
        case value_type::u8: return "uint8";
        case value_type::i8: return "int8";
        case value_type::u16: return "uint16";
        case value_type::i16: return "int16";
        case value_type::u32: return "uint32";
        case value_type::i32: return "int32";
        case value_type::f32: return "float32";
        case value_type::boolean: return "bool";
        case value_type::string: return "string";
        case value_type::array: return "array";
        case value_type::u64: return "uint64";
        case value_type::i64: return "int64";
        case value_type::f64: return "float64";
    }
    return "unknown";
}

// Encoded size of a fixed-size value type; 0 for string and array.
constexpr std::size_t value_type_size(value_type t) noexcept {
    switch (t) {
        case value_type::u8:
        case value_type::i8:
        case value_type::boolean: return 1;
        case value_type::u16:
        case value_type::i16: return 2;
        case value_type::u32:
        case value_type::i32:
        case value_type::f32: return 4;
        case value_type::u64:
        case value_type::i64:
        case value_type::f64: return 8;
        case value_type::string:
        case value_type::array: return 0;
    }
    return 0;
}

// Limits. Past any of them the reader and the writer give a clear error; below
// them the reader's time and memory are linear in the file's size
// (docs/reliability.md, "Limits of the readers", states the constants).
constexpr std::uint32_t default_alignment = 32;  // when general.alignment is absent
// general.alignment: a power of two up to 1 MiB. The format allows any u32
// power of two, but padding is written after the header and every tensor, so
// 2^31 turned a 57-byte file into a 2 GiB copy; ggml writes 32, and no file
// seen in practice uses more than a page.
constexpr std::uint32_t max_alignment = 1u << 20;
constexpr std::uint32_t max_dims = 4;            // GGML_MAX_DIMS
// Tensor names are stored by ggml in char[GGML_MAX_NAME = 64] with a NUL:
// at most 63 bytes. llama.cpp refuses longer names when it loads a file, and so
// do this reader and the writer (the spec's prose says "at most 64 bytes", but
// a 64-byte name cannot be loaded by the reference implementation).
constexpr std::size_t max_tensor_name = 64;      // GGML_MAX_NAME: names are at most max_tensor_name - 1 bytes
constexpr std::size_t max_key_length = 65535;    // the spec's limit on metadata keys
constexpr std::uint64_t max_kv_count = 1u << 20; // metadata pairs (real models have tens to hundreds)
constexpr int max_array_depth = 32;              // nesting of arrays in arrays (the reader recurses)

namespace detail {

inline std::uint64_t load_le(const std::uint8_t* p, std::size_t n) noexcept {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
    return v;
}

// Appends the n low bytes of v, little-endian.
inline void append_le(std::vector<std::uint8_t>& out, std::uint64_t v, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

// a * b, false on overflow.
inline bool checked_mul(std::uint64_t a, std::uint64_t b, std::uint64_t* out) noexcept {
    if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return false;
    *out = a * b;
    return true;
}

// x rounded up to a multiple of the power of two `a`, false on overflow.
inline bool checked_align(std::uint64_t x, std::uint64_t a, std::uint64_t* out) noexcept {
    if (x > std::numeric_limits<std::uint64_t>::max() - (a - 1)) return false;
    *out = (x + (a - 1)) & ~(a - 1);
    return true;
}

constexpr bool is_pow2(std::uint64_t x) noexcept { return x != 0 && (x & (x - 1)) == 0; }

// Names and keys in messages: escaped, at most 40 bytes shown (detail/printable.hpp).
using lowbit::detail::printable;

// One parsed metadata value. Scalars keep their bits; strings and arrays of
// fixed-size values point into the file; arrays of strings or arrays keep
// their elements as consecutive nodes of the file's pool.
struct node {
    const std::uint8_t* data = nullptr;  // string bytes, or the first encoded element of an array
    std::uint64_t n = 0;                 // string length or array element count
    std::uint64_t payload = 0;           // scalar bits; pool index of the first child for string/array arrays
    value_type type = value_type::u8;
    value_type elem = value_type::u8;    // element type of an array
};

template <class T> struct value_type_of;
template <> struct value_type_of<std::uint8_t> { static constexpr value_type v = value_type::u8; };
template <> struct value_type_of<std::int8_t> { static constexpr value_type v = value_type::i8; };
template <> struct value_type_of<std::uint16_t> { static constexpr value_type v = value_type::u16; };
template <> struct value_type_of<std::int16_t> { static constexpr value_type v = value_type::i16; };
template <> struct value_type_of<std::uint32_t> { static constexpr value_type v = value_type::u32; };
template <> struct value_type_of<std::int32_t> { static constexpr value_type v = value_type::i32; };
template <> struct value_type_of<float> { static constexpr value_type v = value_type::f32; };
template <> struct value_type_of<bool> { static constexpr value_type v = value_type::boolean; };
template <> struct value_type_of<std::string_view> { static constexpr value_type v = value_type::string; };
template <> struct value_type_of<std::uint64_t> { static constexpr value_type v = value_type::u64; };
template <> struct value_type_of<std::int64_t> { static constexpr value_type v = value_type::i64; };
template <> struct value_type_of<double> { static constexpr value_type v = value_type::f64; };

}  // namespace detail

// A view of one metadata value; valid while the gguf_file it came from lives
// (and, for strings, while the file's bytes do).
class value {
public:
    value_type type() const noexcept { return n_.type; }
    bool is_array() const noexcept { return n_.type == value_type::array; }

    // The value as T when its type is exactly T's (uint32 for std::uint32_t,
    // string for std::string_view, ...); nullopt otherwise.
    template <class T>
    std::optional<T> get() const noexcept {
        constexpr value_type want = detail::value_type_of<T>::v;
        if (n_.type != want) return std::nullopt;
        if constexpr (std::is_same<T, std::string_view>::value) {
            return std::string_view(reinterpret_cast<const char*>(n_.data), static_cast<std::size_t>(n_.n));
        } else if constexpr (std::is_same<T, bool>::value) {
            return n_.payload != 0;
        } else if constexpr (std::is_floating_point<T>::value) {
            using bits_t = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
            const bits_t bits = static_cast<bits_t>(n_.payload);
            T x;
            std::memcpy(&x, &bits, sizeof x);
            return x;
        } else {
            using u_t = std::make_unsigned_t<T>;
            return static_cast<T>(static_cast<u_t>(n_.payload));
        }
    }

    // Any integer type holding a value representable as uint64 / int64
    // (GGUF writers use uint32 and uint64 interchangeably for counts).
    std::optional<std::uint64_t> to_uint() const noexcept {
        if (is_unsigned_int()) return n_.payload;
        if (is_signed_int()) {
            const std::int64_t v = signed_value();
            if (v >= 0) return static_cast<std::uint64_t>(v);
        }
        return std::nullopt;
    }
    std::optional<std::int64_t> to_int() const noexcept {
        if (is_signed_int()) return signed_value();
        if (is_unsigned_int() && n_.payload <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            return static_cast<std::int64_t>(n_.payload);
        return std::nullopt;
    }
    // float32 or float64 as double.
    std::optional<double> to_float() const noexcept {
        if (n_.type == value_type::f32) return static_cast<double>(*get<float>());
        if (n_.type == value_type::f64) return *get<double>();
        return std::nullopt;
    }

    // Arrays: element type, length and elements. size() is 0 for non-arrays.
    value_type element_type() const noexcept { return n_.elem; }
    std::size_t size() const noexcept { return is_array() ? static_cast<std::size_t>(n_.n) : 0; }
    value operator[](std::size_t i) const noexcept {
        LOWBIT_ASSERT(is_array() && i < size(), "gguf value index out of range");
        const std::size_t sz = value_type_size(n_.elem);
        if (sz == 0) return value(pool_, pool_[static_cast<std::size_t>(n_.payload) + i]);
        detail::node e;
        e.type = n_.elem;
        e.payload = detail::load_le(n_.data + i * sz, sz);
        return value(pool_, e);
    }
    // The little-endian encoded elements of an array of fixed-size values
    // (e.g. a uint8 array is its bytes); empty for other values.
    span<const std::uint8_t> raw_elements() const noexcept {
        const std::size_t sz = value_type_size(n_.elem);
        if (!is_array() || sz == 0) return {};
        return span<const std::uint8_t>(n_.data, static_cast<std::size_t>(n_.n) * sz);
    }

private:
    friend class gguf_file;
    value(const detail::node* pool, const detail::node& n) noexcept : pool_(pool), n_(n) {}
    bool is_unsigned_int() const noexcept {
        return n_.type == value_type::u8 || n_.type == value_type::u16 || n_.type == value_type::u32 ||
               n_.type == value_type::u64;
    }
    bool is_signed_int() const noexcept {
        return n_.type == value_type::i8 || n_.type == value_type::i16 || n_.type == value_type::i32 ||
               n_.type == value_type::i64;
    }
    std::int64_t signed_value() const noexcept {
        switch (n_.type) {
            case value_type::i8: return *get<std::int8_t>();
            case value_type::i16: return *get<std::int16_t>();
            case value_type::i32: return *get<std::int32_t>();
            default: return *get<std::int64_t>();
        }
    }

    const detail::node* pool_ = nullptr;
    detail::node n_;
};

struct kv_view {
    std::string_view key;
    gguf::value value;
};

struct tensor_info {
    std::string_view name;
    gguf_type type = gguf_type::f32;
    std::uint32_t n_dims = 0;
    // ggml order: dims[0] is the contiguous (innermost) dimension, i.e. the
    // row length K of an N x K weight; unused trailing dims are 1.
    std::uint64_t dims[max_dims] = {1, 1, 1, 1};
    std::uint64_t offset = 0;      // relative to the start of the data section
    std::uint64_t n_elements = 0;
    std::uint64_t n_bytes = 0;
    span<const std::uint8_t> data; // points into the parsed bytes

    span<const std::uint64_t> shape() const noexcept { return span<const std::uint64_t>(dims, n_dims); }
    std::uint64_t row_length() const noexcept { return dims[0]; }
    std::uint64_t rows() const noexcept { return dims[1] * dims[2] * dims[3]; }  // cannot overflow: <= n_elements
};

class gguf_file {
public:
    static result<gguf_file> parse(span<const std::uint8_t> bytes);

    std::uint32_t version() const noexcept { return version_; }
    std::uint32_t alignment() const noexcept { return alignment_; }
    std::uint64_t data_offset() const noexcept { return data_offset_; }  // file offset of the data section
    span<const std::uint8_t> bytes() const noexcept { return bytes_; }

    // Metadata in file order.
    std::size_t kv_count() const noexcept { return kvs_.size(); }
    kv_view kv(std::size_t i) const noexcept {
        LOWBIT_ASSERT(i < kvs_.size(), "gguf kv index out of range");
        return kv_view{kvs_[i].key, value(pool_.data(), pool_[kvs_[i].node])};
    }
    std::optional<value> find_kv(std::string_view key) const noexcept {
        const kv_entry* e = find_entry(key);
        if (!e) return std::nullopt;
        return value(pool_.data(), pool_[e->node]);
    }

    // Typed look-ups: an error names the key when it is missing or has another type.
    template <class T>
    result<T> get(std::string_view key) const {
        const auto v = find_kv(key);
        if (!v) return missing(key);
        const auto x = v->get<T>();
        if (!x) return wrong_type(key, v->type(), value_type_name(detail::value_type_of<T>::v));
        return *x;
    }
    result<std::string_view> get_string(std::string_view key) const { return get<std::string_view>(key); }
    result<bool> get_bool(std::string_view key) const { return get<bool>(key); }
    result<std::uint64_t> get_uint(std::string_view key) const {
        const auto v = find_kv(key);
        if (!v) return missing(key);
        const auto x = v->to_uint();
        if (!x) return wrong_type(key, v->type(), "a non-negative integer");
        return *x;
    }
    result<std::int64_t> get_int(std::string_view key) const {
        const auto v = find_kv(key);
        if (!v) return missing(key);
        const auto x = v->to_int();
        if (!x) return wrong_type(key, v->type(), "an integer in int64 range");
        return *x;
    }
    result<double> get_float(std::string_view key) const {
        const auto v = find_kv(key);
        if (!v) return missing(key);
        const auto x = v->to_float();
        if (!x) return wrong_type(key, v->type(), "float32 or float64");
        return *x;
    }

    // Tensors in file order.
    const std::vector<tensor_info>& tensors() const noexcept { return tensors_; }
    const tensor_info* find_tensor(std::string_view name) const noexcept {
        auto it = std::lower_bound(tensor_order_.begin(), tensor_order_.end(), name,
                                   [this](std::size_t i, std::string_view n) { return tensors_[i].name < n; });
        if (it == tensor_order_.end() || tensors_[*it].name != name) return nullptr;
        return &tensors_[*it];
    }

private:
    struct kv_entry {
        std::string_view key;
        std::size_t node;
        std::uint64_t at;  // byte offset of the key
    };
    class cursor;

    const kv_entry* find_entry(std::string_view key) const noexcept {
        auto it = std::lower_bound(kv_order_.begin(), kv_order_.end(), key,
                                   [this](std::size_t i, std::string_view k) { return kvs_[i].key < k; });
        if (it == kv_order_.end() || kvs_[*it].key != key) return nullptr;
        return &kvs_[*it];
    }
    static status missing(std::string_view key) {
        return status::error(errc::invalid_argument, "gguf: metadata key '%s' not found", detail::printable(key).c_str());
    }
    static status wrong_type(std::string_view key, value_type have, const char* want) {
        return status::error(errc::invalid_argument, "gguf: metadata key '%s' is %s, expected %s",
                             detail::printable(key).c_str(), value_type_name(have), want);
    }

    status parse_value(cursor& c, value_type t, int depth, detail::node* out);
    status parse_tensor_info(cursor& c, tensor_info& ti);
    status check_tensors();

    span<const std::uint8_t> bytes_;
    std::uint32_t version_ = 0;
    std::uint32_t alignment_ = default_alignment;
    std::uint64_t data_offset_ = 0;
    std::vector<detail::node> pool_;
    std::vector<kv_entry> kvs_;
    std::vector<std::size_t> kv_order_;  // kvs_ indices sorted by key
    std::vector<tensor_info> tensors_;
    std::vector<std::uint64_t> tensor_at_;     // byte offset of each tensor info
    std::vector<std::size_t> tensor_order_;    // tensors_ indices sorted by name
};

// Bounds-checked reading position over the file.
class gguf_file::cursor {
public:
    cursor(const std::uint8_t* base, std::size_t size) noexcept : base_(base), size_(size) {}
    std::size_t pos() const noexcept { return pos_; }
    std::size_t remaining() const noexcept { return size_ - pos_; }
    const std::uint8_t* here() const noexcept { return base_ + pos_; }

    status need(std::uint64_t n, const char* what) const {
        if (n > remaining())
            return status::error(errc::corrupt_data,
                                 "gguf: truncated: %s needs %llu bytes at byte %zu but the file has %zu", what,
                                 static_cast<unsigned long long>(n), pos_, size_);
        return status();
    }
    void skip(std::size_t n) noexcept { pos_ += n; }
    status read(std::size_t n, const char* what, std::uint64_t* out) {
        LOWBIT_TRY(need(n, what));
        *out = detail::load_le(here(), n);
        pos_ += n;
        return status();
    }
    status read_u32(const char* what, std::uint32_t* out) {
        std::uint64_t v = 0;
        LOWBIT_TRY(read(4, what, &v));
        *out = static_cast<std::uint32_t>(v);
        return status();
    }
    // A gguf_string_t of at most max_len bytes.
    status read_string(const char* what, std::uint64_t max_len, std::string_view* out) {
        const std::size_t at = pos_;
        std::uint64_t len = 0;
        LOWBIT_TRY(read(8, what, &len));
        if (len > max_len)
            return status::error(errc::corrupt_data, "gguf: %s at byte %zu is %llu bytes long, limit %llu", what, at,
                                 static_cast<unsigned long long>(len), static_cast<unsigned long long>(max_len));
        LOWBIT_TRY(need(len, what));
        *out = std::string_view(reinterpret_cast<const char*>(here()), static_cast<std::size_t>(len));
        pos_ += static_cast<std::size_t>(len);
        return status();
    }

private:
    const std::uint8_t* base_;
    std::size_t size_;
    std::size_t pos_ = 0;
};

// One value of type t into *out. The children of an array of strings or of
// arrays are one consecutive run of pool_ nodes; that run is appended only as
// children are actually parsed, never reserved from the declared count: a
// count is checked against the bytes left, but nested arrays share those bytes,
// so reserving per level let a 16 MiB file of nested arrays claim 1.4 GB. Every
// node stands for at least 8 bytes of the file, so the pool (and the run of an
// array of arrays, held aside while its grandchildren are appended) is bounded
// by the file's size (docs/reliability.md, "Limits of the readers").
inline status gguf_file::parse_value(cursor& c, value_type t, int depth, detail::node* out) {
    const std::size_t at = c.pos();
    detail::node n;
    n.type = t;
    const std::size_t sz = value_type_size(t);
    if (sz != 0) {
        LOWBIT_TRY(c.read(sz, value_type_name(t), &n.payload));
        if (t == value_type::boolean && n.payload > 1)
            return status::error(errc::corrupt_data, "gguf: bool value %llu at byte %zu is neither 0 nor 1",
                                 static_cast<unsigned long long>(n.payload), at);
        *out = n;
        return status();
    }
    if (t == value_type::string) {
        std::string_view s;
        LOWBIT_TRY(c.read_string("string value", std::numeric_limits<std::uint64_t>::max(), &s));
        n.data = reinterpret_cast<const std::uint8_t*>(s.data());
        n.n = s.size();
        *out = n;
        return status();
    }
    // Array: element type, count, elements.
    std::uint32_t elem = 0;
    LOWBIT_TRY(c.read_u32("array element type", &elem));
    if (elem > static_cast<std::uint32_t>(value_type::f64))
        return status::error(errc::corrupt_data, "gguf: array at byte %zu has unknown element type %u", at, elem);
    n.elem = static_cast<value_type>(elem);
    const std::size_t count_at = c.pos();
    LOWBIT_TRY(c.read(8, "array length", &n.n));
    n.data = c.here();
    const std::size_t esz = value_type_size(n.elem);
    // Every element takes at least this many bytes: a count the rest of the
    // file cannot hold is refused at once (a cheap early error, not the bound
    // on memory: see above).
    const std::size_t min_size = esz != 0 ? esz : (n.elem == value_type::string ? 8 : 12);
    if (n.n > c.remaining() / min_size)
        return status::error(errc::corrupt_data,
                             "gguf: array length %llu at byte %zu does not fit in the %zu bytes left (%s elements)",
                             static_cast<unsigned long long>(n.n), count_at, c.remaining(), value_type_name(n.elem));
    const std::size_t count = static_cast<std::size_t>(n.n);
    if (esz != 0) {
        if (n.elem == value_type::boolean) {
            for (std::size_t i = 0; i < count; ++i)
                if (n.data[i] > 1)
                    return status::error(errc::corrupt_data, "gguf: bool array element at byte %zu is %u, not 0 or 1",
                                         c.pos() + i, static_cast<unsigned>(n.data[i]));
        }
        c.skip(count * esz);
        *out = n;
        return status();
    }
    if (n.elem == value_type::string) {
        // Strings have no children of their own: they go straight to the pool.
        n.payload = pool_.size();
        for (std::size_t i = 0; i < count; ++i) {
            detail::node s;
            LOWBIT_TRY(parse_value(c, value_type::string, depth + 1, &s));
            pool_.push_back(s);
        }
        *out = n;
        return status();
    }
    if (depth + 1 > max_array_depth)
        return status::error(errc::corrupt_data, "gguf: arrays nested deeper than %d at byte %zu", max_array_depth, at);
    // Arrays of arrays: each child appends its own run while it is parsed, so
    // this array's run is collected aside and appended after the last child.
    std::vector<detail::node> kids;
    for (std::size_t i = 0; i < count; ++i) {
        detail::node k;
        LOWBIT_TRY(parse_value(c, value_type::array, depth + 1, &k));
        kids.push_back(k);
    }
    n.payload = pool_.size();
    pool_.insert(pool_.end(), kids.begin(), kids.end());
    *out = n;
    return status();
}

inline status gguf_file::parse_tensor_info(cursor& c, tensor_info& ti) {
    const std::size_t at = c.pos();
    LOWBIT_TRY(c.read_string("tensor name", std::numeric_limits<std::uint64_t>::max(), &ti.name));
    if (ti.name.size() >= max_tensor_name)
        return status::error(errc::corrupt_data,
                             "gguf: tensor name '%s' (info at byte %zu) is %zu bytes long; ggml's limit is %zu",
                             detail::printable(ti.name).c_str(), at, ti.name.size(), max_tensor_name - 1);
    LOWBIT_TRY(c.read_u32("tensor n_dims", &ti.n_dims));
    if (ti.n_dims > max_dims)
        return status::error(errc::corrupt_data, "gguf: tensor '%s' (info at byte %zu) has %u dimensions, limit %u",
                             detail::printable(ti.name).c_str(), at, ti.n_dims, max_dims);
    for (std::uint32_t d = 0; d < ti.n_dims; ++d) {
        const std::size_t dim_at = c.pos();
        LOWBIT_TRY(c.read(8, "tensor dimension", &ti.dims[d]));
        if (ti.dims[d] == 0)
            return status::error(errc::corrupt_data, "gguf: tensor '%s' dimension %u at byte %zu is 0",
                                 detail::printable(ti.name).c_str(), d, dim_at);
    }
    const std::size_t type_at = c.pos();
    std::uint32_t type_id = 0;
    LOWBIT_TRY(c.read_u32("tensor type", &type_id));
    if (!is_valid_type_id(type_id))
        return status::error(errc::corrupt_data, "gguf: tensor '%s' has unknown ggml type %u at byte %zu",
                             detail::printable(ti.name).c_str(), type_id, type_at);
    ti.type = static_cast<gguf_type>(type_id);
    LOWBIT_TRY(c.read(8, "tensor offset", &ti.offset));

    // n_elements and n_bytes with overflow checks; ggml keeps counts in int64.
    std::uint64_t ne = 1;
    for (std::uint32_t d = 0; d < ti.n_dims; ++d)
        if (!detail::checked_mul(ne, ti.dims[d], &ne) ||
            ne > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            return status::error(errc::corrupt_data,
                                 "gguf: tensor '%s' (info at byte %zu): element count overflows int64",
                                 detail::printable(ti.name).c_str(), at);
    const std::uint64_t block = type_block_size(ti.type);
    if (ti.dims[0] % block != 0)
        return status::error(errc::corrupt_data,
                             "gguf: tensor '%s' (info at byte %zu): row length %llu is not a multiple of the %s "
                             "block size %llu",
                             detail::printable(ti.name).c_str(), at, static_cast<unsigned long long>(ti.dims[0]),
                             type_name(ti.type), static_cast<unsigned long long>(block));
    ti.n_elements = ne;
    if (!detail::checked_mul(ne / block, type_size(ti.type), &ti.n_bytes))
        return status::error(errc::corrupt_data, "gguf: tensor '%s' (info at byte %zu): byte size overflows",
                             detail::printable(ti.name).c_str(), at);
    return status();
}

// Offsets aligned, data inside the file, no two tensors sharing bytes, names unique.
inline status gguf_file::check_tensors() {
    const std::uint64_t data_size = bytes_.size() - data_offset_;
    for (std::size_t i = 0; i < tensors_.size(); ++i) {
        tensor_info& t = tensors_[i];
        if (t.offset % alignment_ != 0)
            return status::error(errc::corrupt_data,
                                 "gguf: tensor '%s' (info at byte %llu): offset %llu is not a multiple of the "
                                 "alignment %u",
                                 detail::printable(t.name).c_str(), static_cast<unsigned long long>(tensor_at_[i]),
                                 static_cast<unsigned long long>(t.offset), alignment_);
        if (t.offset > data_size || t.n_bytes > data_size - t.offset)
            return status::error(errc::corrupt_data,
                                 "gguf: tensor '%s' (info at byte %llu): data [%llu, +%llu) runs past the end of "
                                 "the data section (%llu bytes from byte %llu)",
                                 detail::printable(t.name).c_str(), static_cast<unsigned long long>(tensor_at_[i]),
                                 static_cast<unsigned long long>(t.offset), static_cast<unsigned long long>(t.n_bytes),
                                 static_cast<unsigned long long>(data_size),
                                 static_cast<unsigned long long>(data_offset_));
        t.data = span<const std::uint8_t>(bytes_.data() + data_offset_ + t.offset, static_cast<std::size_t>(t.n_bytes));
    }
    std::vector<std::size_t> by_offset(tensors_.size());
    for (std::size_t i = 0; i < by_offset.size(); ++i) by_offset[i] = i;
    std::sort(by_offset.begin(), by_offset.end(), [this](std::size_t a, std::size_t b) {
        return tensors_[a].offset < tensors_[b].offset || (tensors_[a].offset == tensors_[b].offset && a < b);
    });
    for (std::size_t k = 1; k < by_offset.size(); ++k) {
        const tensor_info& p = tensors_[by_offset[k - 1]];
        const tensor_info& t = tensors_[by_offset[k]];
        if (t.offset < p.offset + p.n_bytes)  // no overflow: checked against data_size above
            return status::error(errc::corrupt_data,
                                 "gguf: tensor '%s' data at offset %llu overlaps tensor '%s' [%llu, %llu)",
                                 detail::printable(t.name).c_str(), static_cast<unsigned long long>(t.offset),
                                 detail::printable(p.name).c_str(), static_cast<unsigned long long>(p.offset),
                                 static_cast<unsigned long long>(p.offset + p.n_bytes));
    }
    tensor_order_.resize(tensors_.size());
    for (std::size_t i = 0; i < tensor_order_.size(); ++i) tensor_order_[i] = i;
    std::sort(tensor_order_.begin(), tensor_order_.end(), [this](std::size_t a, std::size_t b) {
        return tensors_[a].name < tensors_[b].name || (tensors_[a].name == tensors_[b].name && a < b);
    });
    for (std::size_t k = 1; k < tensor_order_.size(); ++k) {
        const std::size_t a = tensor_order_[k - 1], b = tensor_order_[k];
        if (tensors_[a].name == tensors_[b].name)
            return status::error(errc::corrupt_data, "gguf: duplicate tensor name '%s' at bytes %llu and %llu",
                                 detail::printable(tensors_[b].name).c_str(),
                                 static_cast<unsigned long long>(tensor_at_[a]),
                                 static_cast<unsigned long long>(tensor_at_[b]));
    }
    return status();
}

inline result<gguf_file> gguf_file::parse(span<const std::uint8_t> bytes) {
    if (!bytes.data() && !bytes.empty())
        return status::error(errc::invalid_argument, "gguf: bytes.data is null with %zu bytes", bytes.size());
    gguf_file f;
    f.bytes_ = bytes;
    cursor c(bytes.data(), bytes.size());

    // Header: magic, version, tensor count, metadata count (24 bytes).
    LOWBIT_TRY(c.need(4, "magic"));
    if (std::memcmp(c.here(), "GGUF", 4) != 0)
        return status::error(errc::corrupt_data, "gguf: bad magic at byte 0 (expected \"GGUF\")");
    c.skip(4);
    LOWBIT_TRY(c.read_u32("version", &f.version_));
    if (f.version_ != 2 && f.version_ != 3) {
        if ((f.version_ & 0xffffu) == 0 && f.version_ != 0)
            return status::error(errc::unsupported, "gguf: version field at byte 4 is 0x%08x: a big-endian file?",
                                 f.version_);
        return status::error(errc::unsupported, "gguf: version %u at byte 4 is not supported (2 and 3 are)",
                             f.version_);
    }
    std::uint64_t n_tensors = 0, n_kv = 0;
    LOWBIT_TRY(c.read(8, "tensor count", &n_tensors));
    LOWBIT_TRY(c.read(8, "metadata count", &n_kv));
    // A key-value pair takes at least 13 bytes (key length, type, 1-byte value)
    // and a tensor info at least 24 (name length, n_dims, type, offset): counts
    // the file cannot hold are rejected before anything is reserved for them.
    constexpr std::uint64_t min_kv = 13, min_tensor = 24;
    if (n_kv > max_kv_count)
        return status::error(errc::corrupt_data, "gguf: metadata count %llu at byte 16 exceeds the limit of %llu pairs",
                             static_cast<unsigned long long>(n_kv), static_cast<unsigned long long>(max_kv_count));
    if (n_kv > c.remaining() / min_kv)
        return status::error(errc::corrupt_data, "gguf: metadata count %llu at byte 16 cannot fit in a %zu-byte file",
                             static_cast<unsigned long long>(n_kv), bytes.size());
    if (n_tensors > (c.remaining() - n_kv * min_kv) / min_tensor)
        return status::error(errc::corrupt_data, "gguf: tensor count %llu at byte 8 cannot fit in a %zu-byte file",
                             static_cast<unsigned long long>(n_tensors), bytes.size());

    // Metadata.
    f.kvs_.reserve(static_cast<std::size_t>(n_kv));
    for (std::uint64_t i = 0; i < n_kv; ++i) {
        kv_entry e;
        e.at = c.pos();
        LOWBIT_TRY(c.read_string("metadata key", max_key_length, &e.key));
        const std::size_t type_at = c.pos();
        std::uint32_t type = 0;
        LOWBIT_TRY(c.read_u32("metadata value type", &type));
        if (type > static_cast<std::uint32_t>(value_type::f64))
            return status::error(errc::corrupt_data, "gguf: metadata key '%s' has unknown value type %u at byte %zu",
                                 detail::printable(e.key).c_str(), type, type_at);
        detail::node n;
        LOWBIT_TRY(f.parse_value(c, static_cast<value_type>(type), 0, &n));
        e.node = f.pool_.size();
        f.pool_.push_back(n);
        if (e.key == "general.alignment") {
            if (n.type != value_type::u32)
                return status::error(errc::corrupt_data, "gguf: general.alignment at byte %llu is %s, expected uint32",
                                     static_cast<unsigned long long>(e.at), value_type_name(n.type));
            if (!detail::is_pow2(n.payload) || n.payload > max_alignment)
                return status::error(errc::corrupt_data,
                                     "gguf: general.alignment %llu at byte %llu is not a power of two up to %u",
                                     static_cast<unsigned long long>(n.payload), static_cast<unsigned long long>(e.at),
                                     max_alignment);
            f.alignment_ = static_cast<std::uint32_t>(n.payload);
        }
        f.kvs_.push_back(e);
    }
    f.kv_order_.resize(f.kvs_.size());
    for (std::size_t i = 0; i < f.kv_order_.size(); ++i) f.kv_order_[i] = i;
    std::sort(f.kv_order_.begin(), f.kv_order_.end(), [&f](std::size_t a, std::size_t b) {
        return f.kvs_[a].key < f.kvs_[b].key || (f.kvs_[a].key == f.kvs_[b].key && a < b);
    });
    for (std::size_t k = 1; k < f.kv_order_.size(); ++k) {
        const kv_entry& a = f.kvs_[f.kv_order_[k - 1]];
        const kv_entry& b = f.kvs_[f.kv_order_[k]];
        if (a.key == b.key)
            return status::error(errc::corrupt_data, "gguf: duplicate metadata key '%s' at bytes %llu and %llu",
                                 detail::printable(b.key).c_str(), static_cast<unsigned long long>(a.at),
                                 static_cast<unsigned long long>(b.at));
    }

    // Tensor infos.
    f.tensors_.reserve(static_cast<std::size_t>(n_tensors));
    f.tensor_at_.reserve(static_cast<std::size_t>(n_tensors));
    for (std::uint64_t i = 0; i < n_tensors; ++i) {
        f.tensor_at_.push_back(c.pos());
        tensor_info ti;
        LOWBIT_TRY(f.parse_tensor_info(c, ti));
        f.tensors_.push_back(ti);
    }

    // The data section starts at the next multiple of the alignment.
    std::uint64_t data_start = 0;
    if (!detail::checked_align(c.pos(), f.alignment_, &data_start) || data_start > bytes.size()) {
        if (!f.tensors_.empty())
            return status::error(errc::corrupt_data,
                                 "gguf: data section would start at byte %llu (after %zu header bytes, alignment %u), "
                                 "past the end of the %zu-byte file",
                                 static_cast<unsigned long long>(data_start), c.pos(), f.alignment_, bytes.size());
        data_start = bytes.size();  // no tensors: an unpadded end is harmless
    }
    f.data_offset_ = data_start;
    LOWBIT_TRY(f.check_tensors());
    return f;
}

// ---- writing ------------------------------------------------------------------------

// Where the writer's bytes go: a function pointer and its context (no allocation).
class byte_sink {
public:
    using write_fn = status (*)(void* ctx, const std::uint8_t* data, std::size_t n);
    byte_sink() noexcept = default;
    byte_sink(void* ctx, write_fn fn) noexcept : ctx_(ctx), fn_(fn) {}

    // fwrite to an open FILE*; a short write is an io_error.
    static byte_sink to_file(std::FILE* f) noexcept {
        return byte_sink(f, [](void* ctx, const std::uint8_t* p, std::size_t n) -> status {
            if (n != 0 && std::fwrite(p, 1, n, static_cast<std::FILE*>(ctx)) != n)
                return status::error(errc::io_error, "gguf: fwrite of %zu bytes failed", n);
            return status();
        });
    }
    // Appends to a vector (tests, small files).
    static byte_sink to_vector(std::vector<std::uint8_t>& v) noexcept {
        return byte_sink(&v, [](void* ctx, const std::uint8_t* p, std::size_t n) -> status {
            auto& out = *static_cast<std::vector<std::uint8_t>*>(ctx);
            out.insert(out.end(), p, p + n);
            return status();
        });
    }

    bool valid() const noexcept { return fn_ != nullptr; }
    status write(const std::uint8_t* p, std::size_t n) const { return fn_(ctx_, p, n); }

private:
    void* ctx_ = nullptr;
    write_fn fn_ = nullptr;
};

// An owned metadata value for the writer, encoded as GGUF bytes when built.
class meta_value {
public:
    static meta_value u8(std::uint8_t v) { return scalar(value_type::u8, v); }
    static meta_value i8(std::int8_t v) { return scalar(value_type::i8, static_cast<std::uint8_t>(v)); }
    static meta_value u16(std::uint16_t v) { return scalar(value_type::u16, v); }
    static meta_value i16(std::int16_t v) { return scalar(value_type::i16, static_cast<std::uint16_t>(v)); }
    static meta_value u32(std::uint32_t v) { return scalar(value_type::u32, v); }
    static meta_value i32(std::int32_t v) { return scalar(value_type::i32, static_cast<std::uint32_t>(v)); }
    static meta_value u64(std::uint64_t v) { return scalar(value_type::u64, v); }
    static meta_value i64(std::int64_t v) { return scalar(value_type::i64, static_cast<std::uint64_t>(v)); }
    static meta_value f32(float v) {
        std::uint32_t b;
        std::memcpy(&b, &v, 4);
        return scalar(value_type::f32, b);
    }
    static meta_value f64(double v) {
        std::uint64_t b;
        std::memcpy(&b, &v, 8);
        return scalar(value_type::f64, b);
    }
    static meta_value boolean(bool v) { return scalar(value_type::boolean, v ? 1u : 0u); }
    static meta_value string(std::string_view s) {
        meta_value m(value_type::string);
        m.put_string(s);
        return m;
    }
    // An array whose items all have type `elem` (a programming error otherwise).
    static meta_value array(value_type elem, const std::vector<meta_value>& items) {
        meta_value m = array_header(elem, items.size());
        for (const meta_value& it : items) {
            LOWBIT_ASSERT(it.type_ == elem, "gguf meta_value::array: item type differs from the element type");
            m.bytes_.insert(m.bytes_.end(), it.bytes_.begin(), it.bytes_.end());
        }
        return m;
    }
    // An array of numbers or bools from a span: T picks the element type.
    template <class T>
    static meta_value array_of(span<const T> items) {
        static_assert(!std::is_same<T, std::string_view>::value, "use array_of_strings");
        constexpr value_type elem = detail::value_type_of<T>::v;
        meta_value m = array_header(elem, items.size());
        for (const T& x : items) m.put_scalar(elem, x);
        return m;
    }
    static meta_value array_of_strings(span<const std::string_view> items) {
        meta_value m = array_header(value_type::string, items.size());
        for (std::string_view s : items) m.put_string(s);
        return m;
    }
    // A copy of a value read from a gguf_file.
    static meta_value copy_of(const value& v) {
        meta_value m(v.type());
        m.append_copy(v);
        return m;
    }

    value_type type() const noexcept { return type_; }
    // The encoded value (without its type tag).
    const std::vector<std::uint8_t>& encoded() const noexcept { return bytes_; }

private:
    explicit meta_value(value_type t) : type_(t) {}
    static meta_value scalar(value_type t, std::uint64_t bits) {
        meta_value m(t);
        m.put_le(bits, value_type_size(t));
        return m;
    }
    static meta_value array_header(value_type elem, std::size_t n) {
        meta_value m(value_type::array);
        m.put_le(static_cast<std::uint32_t>(elem), 4);
        m.put_le(n, 8);
        return m;
    }
    void put_le(std::uint64_t v, std::size_t n) {
        detail::append_le(bytes_, v, n);
    }
    void put_string(std::string_view s) {
        put_le(s.size(), 8);
        bytes_.insert(bytes_.end(), s.begin(), s.end());
    }
    template <class T>
    void put_scalar(value_type t, T x) {
        std::uint64_t bits = 0;
        if constexpr (std::is_same<T, bool>::value) {
            bits = x ? 1 : 0;
        } else if constexpr (std::is_floating_point<T>::value) {
            using bits_t = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
            bits_t b;
            std::memcpy(&b, &x, sizeof b);
            bits = b;
        } else {
            bits = static_cast<std::uint64_t>(static_cast<std::make_unsigned_t<T>>(x));
        }
        put_le(bits, value_type_size(t));
    }
    void append_copy(const value& v) {
        switch (v.type()) {
            case value_type::string: put_string(*v.get<std::string_view>()); return;
            case value_type::array: {
                put_le(static_cast<std::uint32_t>(v.element_type()), 4);
                put_le(v.size(), 8);
                const span<const std::uint8_t> raw = v.raw_elements();
                if (value_type_size(v.element_type()) != 0) {
                    bytes_.insert(bytes_.end(), raw.begin(), raw.end());
                } else {
                    for (std::size_t i = 0; i < v.size(); ++i) append_copy(v[i]);
                }
                return;
            }
            default: {
                // Re-encode the scalar from its bits (to_uint/get are type-exact views of them).
                std::uint64_t bits = 0;
                switch (v.type()) {
                    case value_type::f32: {
                        const float x = *v.get<float>();
                        std::uint32_t b;
                        std::memcpy(&b, &x, 4);
                        bits = b;
                        break;
                    }
                    case value_type::f64: {
                        const double x = *v.get<double>();
                        std::memcpy(&bits, &x, 8);
                        break;
                    }
                    case value_type::boolean: bits = *v.get<bool>() ? 1 : 0; break;
                    default: {
                        const auto u = v.to_uint();
                        bits = u ? *u : static_cast<std::uint64_t>(*v.to_int());
                        break;
                    }
                }
                put_le(bits, value_type_size(v.type()));
                return;
            }
        }
    }

    value_type type_;
    std::vector<std::uint8_t> bytes_;
};

// Streaming writer. Use:
//   gguf_writer w;
//   w.set("general.architecture", meta_value::string("llama"));   // metadata ...
//   w.add_tensor("blk.0.attn_q.weight", gguf_type::q4_K, dims);    // ... and every tensor, up front
//   w.write_header(byte_sink::to_file(fp));                        // header, metadata, tensor infos
//   w.write_tensor_data(bytes) ...                                 // data in declaration order, any chunking
//   w.finish();                                                    // checks that every byte arrived
class gguf_writer {
public:
    // Adds a metadata pair. Keys must be unique, 1..65535 bytes, without NUL or
    // other control bytes, and at most max_kv_count of them; general.alignment
    // must be a uint32 power of two up to max_alignment (it sets the alignment).
    // O(log n) per call (keys are indexed), so n pairs cost O(n log n).
    status set(std::string_view key, const meta_value& v) {
        LOWBIT_TRY(check_declaring("set"));
        if (key.empty() || key.size() > max_key_length)
            return status::error(errc::invalid_argument, "gguf_writer: key length %zu outside 1..%zu", key.size(),
                                 max_key_length);
        if (!lowbit::detail::has_no_control_bytes(key))
            return status::error(errc::invalid_argument, "gguf_writer: key '%s' holds a NUL or control byte",
                                 detail::printable(key).c_str());
        if (kvs_.size() >= max_kv_count)
            return status::error(errc::invalid_argument, "gguf_writer: more than %llu metadata pairs (key '%s')",
                                 static_cast<unsigned long long>(max_kv_count), detail::printable(key).c_str());
        if (key == "general.alignment") {
            if (v.type() != value_type::u32)
                return status::error(errc::invalid_argument, "gguf_writer: general.alignment must be uint32, not %s",
                                     value_type_name(v.type()));
            const std::uint64_t a = detail::load_le(v.encoded().data(), 4);
            if (!detail::is_pow2(a) || a > max_alignment)
                return status::error(errc::invalid_argument,
                                     "gguf_writer: general.alignment %llu is not a power of two up to %u",
                                     static_cast<unsigned long long>(a), max_alignment);
        }
        if (!key_index_.insert(std::string(key)).second)
            return status::error(errc::invalid_argument, "gguf_writer: duplicate key '%s'",
                                 detail::printable(key).c_str());
        if (key == "general.alignment") alignment_ = static_cast<std::uint32_t>(detail::load_le(v.encoded().data(), 4));
        kvs_.emplace_back(std::string(key), v);
        return status();
    }
    status set_alignment(std::uint32_t a) { return set("general.alignment", meta_value::u32(a)); }

    // Declares a tensor; dims in ggml order (dims[0] = row length), 1..4 of them.
    status add_tensor(std::string_view name, gguf_type type, span<const std::uint64_t> dims) {
        LOWBIT_TRY(check_declaring("add_tensor"));
        // ggml keeps names in char[64] with a terminating zero: at most 63 bytes.
        if (name.empty() || name.size() >= max_tensor_name)
            return status::error(errc::invalid_argument, "gguf_writer: tensor name '%s' is %zu bytes long, outside 1..%zu",
                                 detail::printable(name).c_str(), name.size(), max_tensor_name - 1);
        if (!lowbit::detail::has_no_control_bytes(name))
            return status::error(errc::invalid_argument, "gguf_writer: tensor name '%s' holds a NUL or control byte",
                                 detail::printable(name).c_str());
        if (tensor_index_.count(name) != 0)
            return status::error(errc::invalid_argument, "gguf_writer: duplicate tensor name '%s'",
                                 detail::printable(name).c_str());
        if (!is_valid_type_id(static_cast<std::uint32_t>(type)))
            return status::error(errc::invalid_argument, "gguf_writer: tensor '%s' has invalid type %u",
                                 detail::printable(name).c_str(), static_cast<unsigned>(type));
        if (dims.size() < 1 || dims.size() > max_dims)
            return status::error(errc::invalid_argument, "gguf_writer: tensor '%s' has %zu dims, expected 1..%u",
                                 detail::printable(name).c_str(), dims.size(), max_dims);
        decl t;
        t.name = std::string(name);
        t.type = type;
        t.n_dims = static_cast<std::uint32_t>(dims.size());
        std::uint64_t ne = 1;
        for (std::size_t d = 0; d < dims.size(); ++d) {
            if (dims[d] == 0)
                return status::error(errc::invalid_argument, "gguf_writer: tensor '%s' dim %zu is 0",
                                     detail::printable(name).c_str(), d);
            t.dims[d] = dims[d];
            if (!detail::checked_mul(ne, dims[d], &ne) ||
                ne > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
                return status::error(errc::invalid_argument, "gguf_writer: tensor '%s' element count overflows",
                                     detail::printable(name).c_str());
        }
        const std::uint64_t block = type_block_size(type);
        if (dims[0] % block != 0)
            return status::error(errc::invalid_argument,
                                 "gguf_writer: tensor '%s' row length %llu is not a multiple of the %s block %llu",
                                 detail::printable(name).c_str(), static_cast<unsigned long long>(dims[0]),
                                 type_name(type), static_cast<unsigned long long>(block));
        if (!detail::checked_mul(ne / block, type_size(type), &t.n_bytes))
            return status::error(errc::invalid_argument, "gguf_writer: tensor '%s' byte size overflows",
                                 detail::printable(name).c_str());
        tensor_index_.insert(t.name);
        tensors_.push_back(std::move(t));
        return status();
    }
    status add_tensor(std::string_view name, gguf_type type, std::initializer_list<std::uint64_t> dims) {
        return add_tensor(name, type, span<const std::uint64_t>(dims.begin(), dims.size()));
    }

    std::size_t tensor_count() const noexcept { return tensors_.size(); }
    std::uint32_t alignment() const noexcept { return alignment_; }

    // Writes header, metadata and tensor infos and the padding up to the data
    // section; the sink is kept for the data that follows.
    status write_header(const byte_sink& sink) {
        LOWBIT_TRY(check_declaring("write_header"));
        if (!sink.valid()) return status::error(errc::invalid_argument, "gguf_writer: write_header: empty sink");
        // Data offsets: each tensor at the next multiple of the alignment.
        std::uint64_t off = 0;
        for (decl& t : tensors_) {
            t.offset = off;
            if (t.n_bytes > std::numeric_limits<std::uint64_t>::max() - off ||
                !detail::checked_align(off + t.n_bytes, alignment_, &off))
                return status::error(errc::invalid_argument, "gguf_writer: total data size overflows");
        }
        sink_ = sink;
        std::vector<std::uint8_t> h;
        auto put = [&h](std::uint64_t v, std::size_t n) { detail::append_le(h, v, n); };
        auto put_str = [&](std::string_view s) {
            put(s.size(), 8);
            h.insert(h.end(), s.begin(), s.end());
        };
        h.insert(h.end(), {'G', 'G', 'U', 'F'});
        put(3, 4);
        put(tensors_.size(), 8);
        put(kvs_.size(), 8);
        for (const auto& kv : kvs_) {
            put_str(kv.first);
            put(static_cast<std::uint32_t>(kv.second.type()), 4);
            h.insert(h.end(), kv.second.encoded().begin(), kv.second.encoded().end());
        }
        for (const decl& t : tensors_) {
            put_str(t.name);
            put(t.n_dims, 4);
            for (std::uint32_t d = 0; d < t.n_dims; ++d) put(t.dims[d], 8);
            put(static_cast<std::uint32_t>(t.type), 4);
            put(t.offset, 8);
        }
        h.resize(static_cast<std::size_t>((h.size() + alignment_ - 1) / alignment_ * alignment_), 0);
        data_offset_ = h.size();
        LOWBIT_TRY(sink_.write(h.data(), h.size()));
        phase_ = phase::data;
        cur_ = 0;
        cur_written_ = 0;
        return status();
    }

    // Takes the next bytes of tensor data, in declaration order, in chunks of
    // any size (a chunk may end one tensor and start the next). Padding to the
    // alignment is written after each tensor.
    status write_tensor_data(span<const std::uint8_t> chunk) {
        if (!chunk.data() && !chunk.empty())
            return status::error(errc::invalid_argument, "gguf_writer: chunk.data is null with %zu bytes", chunk.size());
        if (phase_ != phase::data)
            return status::error(errc::invalid_argument,
                                 "gguf_writer: write_tensor_data before write_header or after finish");
        std::size_t done = 0;
        while (done < chunk.size()) {
            if (cur_ >= tensors_.size())
                return status::error(errc::invalid_argument, "gguf_writer: %zu bytes more than the declared tensors hold",
                                     chunk.size() - done);
            const decl& t = tensors_[cur_];
            const std::uint64_t left = t.n_bytes - cur_written_;
            const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk.size() - done));
            LOWBIT_TRY(sink_.write(chunk.data() + done, n));
            done += n;
            cur_written_ += n;
            if (cur_written_ == t.n_bytes) LOWBIT_TRY(end_tensor());
        }
        return status();
    }
    // One whole tensor; its name must be the next declared one.
    status write_tensor(std::string_view name, span<const std::uint8_t> data) {
        if (phase_ != phase::data || cur_ >= tensors_.size() || cur_written_ != 0)
            return status::error(errc::invalid_argument, "gguf_writer: write_tensor('%s') out of sequence",
                                 detail::printable(name).c_str());
        const decl& t = tensors_[cur_];
        if (t.name != name)
            return status::error(errc::invalid_argument, "gguf_writer: write_tensor('%s') but '%s' is next",
                                 detail::printable(name).c_str(), t.name.c_str());
        if (data.size() != t.n_bytes)
            return status::error(errc::invalid_argument, "gguf_writer: tensor '%s' takes %llu bytes, got %zu",
                                 t.name.c_str(), static_cast<unsigned long long>(t.n_bytes), data.size());
        return write_tensor_data(data);
    }

    // Checks that every declared tensor has all its bytes.
    status finish() {
        if (phase_ != phase::data)
            return status::error(errc::invalid_argument, "gguf_writer: finish called twice or before write_header");
        if (cur_ != tensors_.size())
            return status::error(errc::invalid_argument,
                                 "gguf_writer: finish with tensor '%s' incomplete (%llu of %llu bytes)",
                                 tensors_[cur_].name.c_str(), static_cast<unsigned long long>(cur_written_),
                                 static_cast<unsigned long long>(tensors_[cur_].n_bytes));
        phase_ = phase::done;
        return status();
    }

    // After write_header: where the data section starts and the file's total size.
    std::uint64_t data_offset() const noexcept { return data_offset_; }
    std::uint64_t file_size() const noexcept {
        if (tensors_.empty()) return data_offset_;
        const decl& t = tensors_.back();
        std::uint64_t end = 0;
        detail::checked_align(t.offset + t.n_bytes, alignment_, &end);
        return data_offset_ + end;
    }

private:
    enum class phase { declaring, data, done };
    struct decl {
        std::string name;
        gguf_type type = gguf_type::f32;
        std::uint32_t n_dims = 0;
        std::uint64_t dims[max_dims] = {1, 1, 1, 1};
        std::uint64_t n_bytes = 0;
        std::uint64_t offset = 0;
    };

    status check_declaring(const char* what) const {
        if (phase_ != phase::declaring)
            return status::error(errc::invalid_argument, "gguf_writer: %s after write_header", what);
        return status();
    }
    status end_tensor() {
        const decl& t = tensors_[cur_];
        const std::uint64_t pad = (alignment_ - t.n_bytes % alignment_) % alignment_;
        static const std::uint8_t zeros[256] = {};
        for (std::uint64_t left = pad; left > 0;) {
            const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, sizeof zeros));
            LOWBIT_TRY(sink_.write(zeros, n));
            left -= n;
        }
        ++cur_;
        cur_written_ = 0;
        return status();
    }

    std::vector<std::pair<std::string, meta_value>> kvs_;
    std::vector<decl> tensors_;
    // Keys and names already declared. An ordered set, not a hash: O(log n)
    // per look-up whatever keys a hostile input file supplies (a copy tool
    // feeds them in), where a hash table degrades to O(n) on crafted collisions.
    std::set<std::string, std::less<>> key_index_;
    std::set<std::string, std::less<>> tensor_index_;
    std::uint32_t alignment_ = default_alignment;
    phase phase_ = phase::declaring;
    byte_sink sink_;
    std::uint64_t data_offset_ = 0;
    std::size_t cur_ = 0;
    std::uint64_t cur_written_ = 0;
};

}  // namespace gguf
}  // namespace lowbit
