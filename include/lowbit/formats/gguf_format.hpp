// lowbit/formats/gguf_format.hpp — what GGUF's reader and writer share: the
// metadata value types, the limits both enforce, the little-endian and
// overflow-checked arithmetic helpers, and `value`, the view of one parsed
// metadata value (the writer copies one with meta_value::copy_of).
// The reader is gguf_reader.hpp, the writer gguf_writer.hpp; gguf.hpp has both.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string_view>
#include <type_traits>
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
    u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6,  // scalars
    boolean = 7, string = 8, array = 9,                           // (array: element type, count, elements)
    u64 = 10, i64 = 11, f64 = 12,                                 // the 64-bit scalars (GGUF v2)
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

class gguf_file;

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

}  // namespace gguf
}  // namespace lowbit
