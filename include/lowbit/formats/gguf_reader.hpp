// lowbit/formats/gguf_reader.hpp — GGUF (v3, and v2) files: a validating
// zero-copy reader over a caller's memory span.
//
// `gguf_file::parse(bytes)` checks the whole header (magic, version,
// counts, every string and array length, value types, tensor infos, alignment,
// data offsets, sizes, overlaps, duplicates) before it returns, so a file that
// parses can be used without further checks; tensor `data` spans point into the
// caller's bytes (mmap them). Every failure is a `lowbit::status` naming the
// problem and its byte offset; the reader never reads outside the span, and
// what it holds is at most 12 bytes per byte of the span, whatever the counts
// in the header claim (limits: gguf_format.hpp; docs/reliability.md, "Limits of
// the readers"). Names and keys quoted in messages are escaped (detail/printable.hpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

#include "detail/sorted_names.hpp"
#include "gguf_format.hpp"

namespace lowbit {
namespace gguf {

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
        return converted<T>(key, [](const auto& v) { return v.template get<T>(); }, value_type_name(detail::value_type_of<T>::v));
    }
    result<std::string_view> get_string(std::string_view key) const { return get<std::string_view>(key); }
    result<bool> get_bool(std::string_view key) const { return get<bool>(key); }
    result<std::uint64_t> get_uint(std::string_view key) const {
        return converted<std::uint64_t>(key, [](const auto& v) { return v.to_uint(); }, "a non-negative integer");
    }
    result<std::int64_t> get_int(std::string_view key) const {
        return converted<std::int64_t>(key, [](const auto& v) { return v.to_int(); }, "an integer in int64 range");
    }
    result<double> get_float(std::string_view key) const {
        return converted<double>(key, [](const auto& v) { return v.to_float(); }, "float32 or float64");
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
    // The value of `key` through convert (an optional: empty when the value is
    // not one); errors name the key and what it should have been (`want`).
    template <class T, class Convert>
    result<T> converted(std::string_view key, Convert convert, const char* want) const {
        const auto v = find_kv(key);
        if (!v) return missing(key);
        const auto x = convert(*v);
        if (!x) return wrong_type(key, v->type(), want);
        return *x;
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
    std::size_t a = 0, b = 0;
    if (lowbit::detail::sort_by_name(tensor_order_, tensors_.size(), [this](std::size_t i) { return std::string_view(tensors_[i].name); }, a, b))
        return status::error(errc::corrupt_data, "gguf: duplicate tensor name '%s' at bytes %llu and %llu",
                             detail::printable(tensors_[b].name).c_str(), static_cast<unsigned long long>(tensor_at_[a]),
                             static_cast<unsigned long long>(tensor_at_[b]));
    return status();
}

inline result<gguf_file> gguf_file::parse(span<const std::uint8_t> bytes) {
    LOWBIT_TRY(lowbit::detail::check_span(bytes, "bytes", "gguf"));
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

}  // namespace gguf
}  // namespace lowbit
