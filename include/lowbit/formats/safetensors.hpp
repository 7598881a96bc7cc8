// lowbit/formats/safetensors.hpp — a validating, zero-copy safetensors reader
// over a caller's memory span.
//
// Layout: an 8-byte little-endian header length N, N bytes of JSON, then the
// data section. The JSON object maps tensor names to {"dtype", "shape",
// "data_offsets": [begin, end)} (offsets relative to the data section) and may
// hold "__metadata__", a string-to-string map. parse() checks the header length
// against the file (and a 100 MB cap), the JSON strictly (formats/json.hpp),
// every dtype, shape and offset pair (size = numel x dtype size with overflow
// checks, inside the data section, no overlaps), duplicate names and keys; see
// docs/formats.md, "safetensors files". Tensor `data` spans point into the
// caller's bytes; F32, F16 and BF16 tensors can be read as float with read_f32.
//
// Limits and cost: header <= 100 MB, JSON nesting <= 64, rank <= 64; parsing
// holds at most 32 bytes per header byte and finds duplicate names and
// __metadata__ keys by sorting, O(n log n) (docs/reliability.md, "Limits of
// the readers"). Names and keys quoted in messages are escaped.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../core/half.hpp"
#include "../core/status.hpp"
#include "../core/views.hpp"
#include "json.hpp"
#include "detail/printable.hpp"
#include "detail/sorted_names.hpp"

namespace lowbit {
namespace safetensors {

enum class dtype : std::uint8_t {
    boolean, u8, i8, f8_e5m2, f8_e4m3, f8_e8m0, i16, u16, f16, bf16, i32, u32, f32, f64, i64, u64, f4, f6_e2m3, f6_e3m2,
};

constexpr std::uint64_t max_header_size = 100000000;  // the reference implementation's limit
constexpr std::size_t max_rank = 64;

namespace detail {
struct dtype_entry {
    const char* name;
    dtype type;
    std::uint32_t bits;
};
constexpr dtype_entry dtype_table[] = {
    {"BOOL", dtype::boolean, 8}, {"U8", dtype::u8, 8},           {"I8", dtype::i8, 8},
    {"F8_E5M2", dtype::f8_e5m2, 8}, {"F8_E4M3", dtype::f8_e4m3, 8}, {"F8_E8M0", dtype::f8_e8m0, 8},
    {"I16", dtype::i16, 16},     {"U16", dtype::u16, 16},        {"F16", dtype::f16, 16},
    {"BF16", dtype::bf16, 16},   {"I32", dtype::i32, 32},        {"U32", dtype::u32, 32},
    {"F32", dtype::f32, 32},     {"F64", dtype::f64, 64},        {"I64", dtype::i64, 64},
    {"U64", dtype::u64, 64},     {"F4", dtype::f4, 4},           {"F6_E2M3", dtype::f6_e2m3, 6},
    {"F6_E3M2", dtype::f6_e3m2, 6},
};
// Names and keys in messages: escaped, at most 40 bytes shown (detail/printable.hpp).
using lowbit::detail::printable;
}  // namespace detail

inline const char* dtype_name(dtype t) noexcept {
    for (const auto& e : detail::dtype_table)
        if (e.type == t) return e.name;
    return "unknown";
}
// Bits per element (sub-byte types F4/F6 pack elements; a tensor must fill whole bytes).
inline std::uint32_t dtype_bits(dtype t) noexcept {
    for (const auto& e : detail::dtype_table)
        if (e.type == t) return e.bits;
    return 0;
}
inline std::optional<dtype> dtype_from_name(std::string_view name) noexcept {
    for (const auto& e : detail::dtype_table)
        if (name == e.name) return e.type;
    return std::nullopt;
}

struct tensor_info {
    std::string name;
    dtype type = dtype::f32;
    std::vector<std::uint64_t> shape;  // row-major, outermost first; [] is a scalar
    std::uint64_t begin = 0, end = 0;  // data_offsets, relative to the data section
    std::uint64_t n_elements = 0;
    span<const std::uint8_t> data;     // points into the parsed bytes

    // F32, F16 and BF16 are supported as data (read_f32); others are listed by name.
    bool is_float() const noexcept { return type == dtype::f32 || type == dtype::f16 || type == dtype::bf16; }
};

class safetensors_file {
public:
    static result<safetensors_file> parse(span<const std::uint8_t> bytes);

    std::uint64_t header_size() const noexcept { return header_size_; }
    std::uint64_t data_offset() const noexcept { return 8 + header_size_; }  // file offset of the data section

    const std::vector<tensor_info>& tensors() const noexcept { return tensors_; }  // in header order
    const tensor_info* find_tensor(std::string_view name) const noexcept {
        auto it = std::lower_bound(order_.begin(), order_.end(), name,
                                   [this](std::size_t i, std::string_view n) { return tensors_[i].name < n; });
        if (it == order_.end() || tensors_[*it].name != name) return nullptr;
        return &tensors_[*it];
    }

    // __metadata__ pairs in header order.
    const std::vector<std::pair<std::string, std::string>>& metadata() const noexcept { return metadata_; }
    std::optional<std::string_view> find_metadata(std::string_view key) const noexcept {
        auto it = std::lower_bound(metadata_order_.begin(), metadata_order_.end(), key,
                                   [this](std::size_t i, std::string_view k) { return metadata_[i].first < k; });
        if (it == metadata_order_.end() || metadata_[*it].first != key) return std::nullopt;
        return std::string_view(metadata_[*it].second);
    }

private:
    status parse_tensor(lowbit::detail::json_reader& j, std::string name, std::size_t at);
    status parse_metadata(lowbit::detail::json_reader& j);
    status check_layout(span<const std::uint8_t> bytes);

    std::uint64_t header_size_ = 0;
    std::vector<tensor_info> tensors_;
    std::vector<std::size_t> at_;     // byte offset of each tensor's entry in the file
    std::vector<std::size_t> order_;  // tensors_ indices sorted by name
    std::vector<std::pair<std::string, std::string>> metadata_;
    std::vector<std::size_t> metadata_at_;     // byte offset of each __metadata__ key
    std::vector<std::size_t> metadata_order_;  // metadata_ indices sorted by key
};

inline status safetensors_file::parse_metadata(lowbit::detail::json_reader& j) {
    if (j.peek() != lowbit::detail::json_reader::kind::object) return j.fail("__metadata__ is not an object");
    LOWBIT_TRY(j.begin_object());
    for (;;) {
        bool more = false;
        std::string key, val;
        const std::size_t at = j.offset();
        LOWBIT_TRY(j.next_key(&more, &key));
        if (!more) break;
        if (j.peek() != lowbit::detail::json_reader::kind::string)
            return status::error(errc::corrupt_data, "safetensors: __metadata__ value of '%s' at byte %zu is not a string",
                                 detail::printable(key).c_str(), j.offset());
        LOWBIT_TRY(j.read_string(&val));
        metadata_.emplace_back(std::move(key), std::move(val));
        metadata_at_.push_back(at);
    }
    // Duplicates by sorting (detail/sorted_names.hpp).
    std::size_t a = 0, b = 0;
    if (lowbit::detail::sort_by_name(metadata_order_, metadata_.size(), [this](std::size_t i) { return std::string_view(metadata_[i].first); },
                                     a, b))
        return status::error(errc::corrupt_data, "safetensors: duplicate __metadata__ key '%s' at bytes %zu and %zu",
                             detail::printable(metadata_[b].first).c_str(), metadata_at_[a], metadata_at_[b]);
    return status();
}

inline status safetensors_file::parse_tensor(lowbit::detail::json_reader& j, std::string name, std::size_t at) {
    using kind = lowbit::detail::json_reader::kind;
    tensor_info t;
    t.name = std::move(name);
    const auto nl = detail::printable(t.name);
    if (j.peek() != kind::object)
        return status::error(errc::corrupt_data, "safetensors: entry '%s' at byte %zu is not an object", nl.c_str(), j.offset());
    LOWBIT_TRY(j.begin_object());
    bool have_dtype = false, have_shape = false, have_offsets = false;
    for (;;) {
        bool more = false;
        std::string key;
        const std::size_t key_at = j.offset();
        LOWBIT_TRY(j.next_key(&more, &key));
        if (!more) break;
        bool* seen = key == "dtype" ? &have_dtype : key == "shape" ? &have_shape : key == "data_offsets" ? &have_offsets : nullptr;
        if (seen && *seen)
            return status::error(errc::corrupt_data, "safetensors: tensor '%s' repeats \"%s\" at byte %zu", nl.c_str(), key.c_str(), key_at);
        if (seen) *seen = true;
        if (key == "dtype") {
            std::string dt;
            const std::size_t dt_at = j.offset();
            if (j.peek() != kind::string)
                return status::error(errc::corrupt_data, "safetensors: tensor '%s' dtype at byte %zu is not a string",
                                     nl.c_str(), dt_at);
            LOWBIT_TRY(j.read_string(&dt));
            const auto d = dtype_from_name(dt);
            if (!d)
                return status::error(errc::corrupt_data, "safetensors: tensor '%s' has unknown dtype '%s' at byte %zu",
                                     nl.c_str(), detail::printable(dt).c_str(), dt_at);
            t.type = *d;
        } else if (key == "shape" || key == "data_offsets") {
            const bool is_shape = key == "shape";
            const std::size_t arr_at = j.offset();
            if (j.peek() != kind::array)
                return status::error(errc::corrupt_data, "safetensors: tensor '%s' %s at byte %zu is not an array", nl.c_str(), key.c_str(), arr_at);
            LOWBIT_TRY(j.begin_array());
            std::vector<std::uint64_t> v;
            for (;;) {
                bool more_el = false;
                LOWBIT_TRY(j.next_element(&more_el));
                if (!more_el) break;
                if (v.size() >= (is_shape ? max_rank : 2))
                    return status::error(errc::corrupt_data, "safetensors: tensor '%s' %s at byte %zu has more than %zu entries",
                                         nl.c_str(), key.c_str(), arr_at, is_shape ? max_rank : std::size_t(2));
                std::uint64_t x = 0;
                LOWBIT_TRY(j.read_uint(&x));
                v.push_back(x);
            }
            if (is_shape) {
                t.shape = std::move(v);
            } else {
                if (v.size() != 2)
                    return status::error(errc::corrupt_data,
                                         "safetensors: tensor '%s' data_offsets at byte %zu needs 2 entries, has %zu", nl.c_str(), arr_at, v.size());
                t.begin = v[0];
                t.end = v[1];
            }
        } else {
            LOWBIT_TRY(j.skip_value());  // unknown fields are ignored, as the reference reader does
        }
    }
    if (!have_dtype || !have_shape || !have_offsets)
        return status::error(errc::corrupt_data, "safetensors: tensor '%s' at byte %zu lacks \"%s\"", nl.c_str(),
                             at, !have_dtype ? "dtype" : !have_shape ? "shape" : "data_offsets");

    // Size = numel x dtype size, with overflow checks.
    std::uint64_t ne = 1;
    for (std::uint64_t d : t.shape) {
        if (d != 0 && ne > std::numeric_limits<std::uint64_t>::max() / d)
            return status::error(errc::corrupt_data, "safetensors: tensor '%s' at byte %zu: element count overflows",
                                 nl.c_str(), at);
        ne *= d;
    }
    t.n_elements = ne;
    const std::uint64_t bits = dtype_bits(t.type);
    if (ne > std::numeric_limits<std::uint64_t>::max() / bits)
        return status::error(errc::corrupt_data, "safetensors: tensor '%s' at byte %zu: byte size overflows", nl.c_str(), at);
    if ((ne * bits) % 8 != 0)
        return status::error(errc::corrupt_data, "safetensors: tensor '%s' at byte %zu: %llu %s elements do not fill whole bytes",
                             nl.c_str(), at, static_cast<unsigned long long>(ne), dtype_name(t.type));
    const std::uint64_t n_bytes = ne * bits / 8;
    if (t.end < t.begin || t.end - t.begin != n_bytes)
        return status::error(errc::corrupt_data,
                             "safetensors: tensor '%s' at byte %zu: data_offsets [%llu, %llu) do not hold %llu bytes "
                             "(%llu x %s)",
                             nl.c_str(), at, static_cast<unsigned long long>(t.begin),
                             static_cast<unsigned long long>(t.end), static_cast<unsigned long long>(n_bytes),
                             static_cast<unsigned long long>(ne), dtype_name(t.type));
    tensors_.push_back(std::move(t));
    at_.push_back(at);
    return status();
}

inline status safetensors_file::check_layout(span<const std::uint8_t> bytes) {
    const std::uint64_t data_off = data_offset();
    const std::uint64_t data_size = bytes.size() - data_off;
    for (std::size_t i = 0; i < tensors_.size(); ++i) {
        tensor_info& t = tensors_[i];
        if (t.end > data_size)
            return status::error(errc::corrupt_data,
                                 "safetensors: tensor '%s' at byte %zu: data_offsets end %llu is past the %llu-byte data "
                                 "section",
                                 detail::printable(t.name).c_str(), at_[i], static_cast<unsigned long long>(t.end),
                                 static_cast<unsigned long long>(data_size));
        t.data = span<const std::uint8_t>(bytes.data() + data_off + t.begin, static_cast<std::size_t>(t.end - t.begin));
    }
    order_.resize(tensors_.size());
    for (std::size_t i = 0; i < order_.size(); ++i) order_[i] = i;
    std::sort(order_.begin(), order_.end(), [this](std::size_t a, std::size_t b) {
        return tensors_[a].name < tensors_[b].name || (tensors_[a].name == tensors_[b].name && a < b);
    });
    for (std::size_t k = 1; k < order_.size(); ++k)
        if (tensors_[order_[k - 1]].name == tensors_[order_[k]].name)
            return status::error(errc::corrupt_data, "safetensors: duplicate tensor name '%s' at bytes %zu and %zu",
                                 detail::printable(tensors_[order_[k]].name).c_str(),
                                 at_[order_[k - 1]], at_[order_[k]]);
    // Overlaps: sort by begin; empty tensors occupy no bytes.
    std::vector<std::size_t> by_off(tensors_.size());
    for (std::size_t i = 0; i < by_off.size(); ++i) by_off[i] = i;
    std::sort(by_off.begin(), by_off.end(), [this](std::size_t a, std::size_t b) {
        return tensors_[a].begin < tensors_[b].begin || (tensors_[a].begin == tensors_[b].begin && a < b);
    });
    std::size_t prev = by_off.size();  // last non-empty tensor
    for (std::size_t k = 0; k < by_off.size(); ++k) {
        const tensor_info& t = tensors_[by_off[k]];
        if (t.begin == t.end) continue;
        if (prev != by_off.size() && t.begin < tensors_[prev].end)
            return status::error(errc::corrupt_data, "safetensors: tensor '%s' [%llu, %llu) overlaps '%s' [%llu, %llu)",
                                 detail::printable(t.name).c_str(), static_cast<unsigned long long>(t.begin),
                                 static_cast<unsigned long long>(t.end), detail::printable(tensors_[prev].name).c_str(), static_cast<unsigned long long>(tensors_[prev].begin),
                                 static_cast<unsigned long long>(tensors_[prev].end));
        prev = by_off[k];
    }
    return status();
}

inline result<safetensors_file> safetensors_file::parse(span<const std::uint8_t> bytes) {
    LOWBIT_TRY(lowbit::detail::check_span(bytes, "bytes", "safetensors"));
    safetensors_file f;
    if (bytes.size() < 8)
        return status::error(errc::corrupt_data, "safetensors: truncated: %zu bytes, the header length alone needs 8",
                             bytes.size());
    std::uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(bytes[static_cast<std::size_t>(i)]) << (8 * i);
    if (n > max_header_size)
        return status::error(errc::corrupt_data, "safetensors: header length %llu at byte 0 exceeds the %llu-byte limit",
                             static_cast<unsigned long long>(n), static_cast<unsigned long long>(max_header_size));
    if (n > bytes.size() - 8)
        return status::error(errc::corrupt_data,
                             "safetensors: header length %llu at byte 0 runs past the end of the %zu-byte file",
                             static_cast<unsigned long long>(n), bytes.size());
    if (n < 2) return status::error(errc::corrupt_data, "safetensors: header length %llu is too small for a JSON object",
                                    static_cast<unsigned long long>(n));
    f.header_size_ = n;
    lowbit::detail::json_reader j(
        std::string_view(reinterpret_cast<const char*>(bytes.data() + 8), static_cast<std::size_t>(n)), 8);
    if (bytes[8] != '{') return status::error(errc::corrupt_data, "safetensors: the header at byte 8 does not start with '{'");
    LOWBIT_TRY(j.begin_object());
    for (bool seen_metadata = false;;) {
        bool more = false;
        std::string key;
        const std::size_t at = j.offset();
        LOWBIT_TRY(j.next_key(&more, &key));
        if (!more) break;
        if (key == "__metadata__") {
            if (seen_metadata)
                return status::error(errc::corrupt_data, "safetensors: duplicate __metadata__ at byte %zu", at);
            seen_metadata = true;
            LOWBIT_TRY(f.parse_metadata(j));
        } else {
            LOWBIT_TRY(f.parse_tensor(j, std::move(key), at));
        }
    }
    LOWBIT_TRY(j.finish());
    LOWBIT_TRY(f.check_layout(bytes));
    return f;
}

// Converts an F32, F16 or BF16 tensor to float; `out` must hold n_elements.
inline status read_f32(const tensor_info& t, span<float> out) {
    if (!t.is_float())
        return status::error(errc::unsupported, "safetensors: tensor '%s' has dtype %s; read_f32 takes F32, F16, BF16",
                             detail::printable(t.name).c_str(), dtype_name(t.type));
    if (out.size() != t.n_elements)
        return status::error(errc::shape_mismatch, "safetensors: read_f32('%s'): out has %zu floats, tensor has %llu",
                             detail::printable(t.name).c_str(), out.size(),
                             static_cast<unsigned long long>(t.n_elements));
    char who[sizeof(lowbit::detail::printable_text::text) + 32];
    std::snprintf(who, sizeof who, "safetensors: read_f32('%s')", detail::printable(t.name).c_str());
    LOWBIT_TRY(lowbit::detail::check_span(out, "out", who));
    if (lowbit::detail::overlaps(out.data(), out.size() * 4, t.data.data(), t.data.size()))
        return status::error(errc::invalid_argument, "%s: out overlaps the data", who);
    const std::uint8_t* p = t.data.data();
    for (std::size_t i = 0; i < out.size(); ++i) {
        if (t.type == dtype::f32) {
            const std::uint32_t b = static_cast<std::uint32_t>(p[4 * i]) | static_cast<std::uint32_t>(p[4 * i + 1]) << 8 |
                                    static_cast<std::uint32_t>(p[4 * i + 2]) << 16 |
                                    static_cast<std::uint32_t>(p[4 * i + 3]) << 24;
            out[i] = bits_to_f32(b);
        } else {
            const std::uint16_t h = static_cast<std::uint16_t>(p[2 * i] | p[2 * i + 1] << 8);
            out[i] = t.type == dtype::f16 ? f16_to_f32(h) : bf16_to_f32(h);
        }
    }
    return status();
}

}  // namespace safetensors
}  // namespace lowbit
