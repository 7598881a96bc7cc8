// lowbit/formats/gguf_writer.hpp — a streaming GGUF writer.
//
// `gguf_writer` takes metadata and tensor declarations up front, writes
// header + metadata + tensor infos, then takes tensor data in declaration order
// in chunks of any size, adding ggml's alignment padding, so a model never has
// to be in memory at once. It enforces the reader's limits (gguf_format.hpp),
// so what it writes parses.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "gguf_format.hpp"

namespace lowbit {
namespace gguf {

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
        LOWBIT_TRY(lowbit::detail::check_span(chunk, "chunk", "gguf_writer"));
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
