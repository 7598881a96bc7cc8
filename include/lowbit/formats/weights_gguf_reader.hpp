// lowbit/formats/weights_gguf_reader.hpp — weights_views into the bytes of a
// GGUF file that holds lowbit weights (docs/formats.md, "lowbit weights in
// GGUF"), with no copy: the caller maps the file and keeps the mapping alive
// as long as the views.
//
//   auto r = lowbit::weights_gguf_reader::open(bytes);   // parses and checks everything
//   if (!r) { std::fprintf(stderr, "%s\n", r.error().message()); return 1; }
//   auto w = r->find("blk.0.attn_q.weight");            // result<weights_view>
//
// open() checks the whole file before it returns: the GGUF container
// (gguf_file::parse), the format version, every listed weight's keys against
// the sizes, types and alignment of its component tensors, no stray component
// or key, and each view through make_weights. A file that opens yields views
// the kernels can run; one that does not is refused with one line naming the
// tensor or key. Time and memory are linear in the file's size.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

#include "../core/status.hpp"
#include "../weights/weights_view.hpp"
#include "gguf_reader.hpp"
#include "weights_gguf_layout.hpp"

namespace lowbit {

class weights_gguf_reader {
public:
    static result<weights_gguf_reader> open(span<const std::uint8_t> bytes) {
        auto f = gguf::gguf_file::parse(bytes);
        if (!f) return f.error();
        return open(std::move(*f));
    }
    static result<weights_gguf_reader> open(gguf::gguf_file&& f) {
        weights_gguf_reader r;
        r.f_ = std::move(f);
        LOWBIT_TRY(r.index());
        return r;
    }

    const gguf::gguf_file& file() const noexcept { return f_; }
    // The lowbit (dense, tiled or codebook) weights, in the order of lowbit.tensors.
    std::size_t lowbit_count() const noexcept { return entries_.size(); }
    std::string_view lowbit_name(std::size_t i) const noexcept { return entries_[i].name; }
    const weights_view& lowbit_weights(std::size_t i) const noexcept { return entries_[i].view; }
    bool is_lowbit(std::string_view name) const noexcept { return find_entry(name) != nullptr; }

    // The weights called `name`: lowbit weights, or a tensor of a ggml block
    // type (rows = the product of its outer dims). Other tensors (F32, ...) and
    // unknown names are an error.
    result<weights_view> find(std::string_view name) const {
        if (const entry* e = find_entry(name)) return e->view;
        const gguf::tensor_info* t = f_.find_tensor(name);
        if (!t)
            return status::error(errc::invalid_argument, "lowbit gguf: no weights named '%s'", lowbit::detail::printable(name).c_str());
        if (!gguf::is_quantized(t->type))
            return status::error(errc::unsupported, "lowbit gguf: '%s' is %s, not lowbit or ggml block weights",
                                 lowbit::detail::printable(name).c_str(), gguf::type_name(t->type));
        return make_ggml_weights(t->type, t->data.data(), static_cast<std::size_t>(t->rows()), static_cast<std::size_t>(t->row_length()));
    }

private:
    struct entry {
        std::string_view name;  // points into the file's bytes
        weights_view view;
    };
    weights_gguf_reader() = default;

    const entry* find_entry(std::string_view name) const noexcept {
        auto it = std::lower_bound(order_.begin(), order_.end(), name,
                                   [this](std::size_t i, std::string_view n) { return entries_[i].name < n; });
        return it != order_.end() && entries_[*it].name == name ? &entries_[*it] : nullptr;
    }

    static status bad(std::string_view name, const char* what) {
        return status::error(errc::corrupt_data, "lowbit gguf: '%s': %s", lowbit::detail::printable(name).c_str(), what);
    }

    // Every check of the file, once.
    status index() {
        std::size_t marked_tensors = 0, tensor_keys = 0;
        for (const gguf::tensor_info& t : f_.tensors())
            if (t.name.find(weights_gguf::component_marker) != std::string_view::npos) ++marked_tensors;
        for (std::size_t i = 0; i < f_.kv_count(); ++i)
            if (f_.kv(i).key.substr(0, weights_gguf::tensor_key_prefix.size()) == weights_gguf::tensor_key_prefix) ++tensor_keys;
        const auto version = f_.find_kv(weights_gguf::version_key);
        if (!version) {
            if (marked_tensors || tensor_keys || f_.find_kv(weights_gguf::list_key))
                return status::error(errc::corrupt_data, "lowbit gguf: lowbit tensors or keys without %s",
                                     std::string(weights_gguf::version_key).c_str());
            return {};  // a plain GGUF file: ggml weights only
        }
        const auto v = version->to_uint();
        if (!v)
            return status::error(errc::corrupt_data, "lowbit gguf: %s is %s, not an unsigned integer",
                                 std::string(weights_gguf::version_key).c_str(), gguf::value_type_name(version->type()));
        if (*v != weights_gguf::format_version)
            return status::error(errc::unsupported, "lowbit gguf: %s = %llu, this reader knows version %u",
                                 std::string(weights_gguf::version_key).c_str(), static_cast<unsigned long long>(*v),
                                 weights_gguf::format_version);
        const auto list = f_.find_kv(weights_gguf::list_key);
        if (!list || list->type() != gguf::value_type::array || list->element_type() != gguf::value_type::string)
            return status::error(errc::corrupt_data, "lowbit gguf: %s is missing or not an array of strings",
                                 std::string(weights_gguf::list_key).c_str());
        if (list->size() > 0 && f_.alignment() < weights_gguf::min_alignment)
            return status::error(errc::corrupt_data, "lowbit gguf: general.alignment = %u, lowbit tensors need >= %u", f_.alignment(),
                                 weights_gguf::min_alignment);
        std::size_t components = 0;
        for (std::size_t i = 0; i < list->size(); ++i) {
            const std::string_view name = *(*list)[i].get<std::string_view>();
            auto w = read_one(name, &components);
            if (!w) return w.error();
            entries_.push_back(entry{name, *w});
        }
        order_.resize(entries_.size());
        for (std::size_t i = 0; i < order_.size(); ++i) order_[i] = i;
        std::sort(order_.begin(), order_.end(), [this](std::size_t a, std::size_t b) { return entries_[a].name < entries_[b].name; });
        for (std::size_t k = 1; k < order_.size(); ++k)
            if (entries_[order_[k - 1]].name == entries_[order_[k]].name) return bad(entries_[order_[k]].name, "listed twice in lowbit.tensors");
        // Each listed weight claimed distinct tensors and exactly field_count keys:
        // equal counts mean nothing is left over.
        if (marked_tensors != components)
            return status::error(errc::corrupt_data, "lowbit gguf: %zu tensors named '*.lowbit.*' belong to no listed weights",
                                 marked_tensors - components);
        if (tensor_keys != entries_.size() * weights_gguf::field_count)
            return status::error(errc::corrupt_data, "lowbit gguf: %zu lowbit.tensor.* keys, the %zu listed weights have %zu",
                                 tensor_keys, entries_.size(), entries_.size() * weights_gguf::field_count);
        return {};
    }

    // One listed weight: its keys, its component tensors, make_weights.
    result<weights_view> read_one(std::string_view name, std::size_t* components) const {
        using weights_gguf::field;
        if (name.empty() || name.size() > weights_gguf::max_base_name) return bad(name, "name length outside 1..49");
        if (name.find(weights_gguf::component_marker) != std::string_view::npos) return bad(name, "name holds '.lowbit.'");
        if (f_.find_tensor(name)) return bad(name, "is both lowbit weights and a plain tensor");
        auto key = [&](field k) { return weights_gguf::key_name(name, k); };
        auto uint_key = [&](field k, std::uint64_t max, std::uint64_t* out) -> status {
            auto x = f_.get_uint(key(k));
            if (!x) return x.error();
            if (*x > max)
                return status::error(errc::corrupt_data, "lowbit gguf: %s = %llu is out of range", key(k).c_str(),
                                     static_cast<unsigned long long>(*x));
            *out = *x;
            return {};
        };
        auto string_key = [&](field k, std::initializer_list<const char*> allowed, int* out) -> status {
            auto s = f_.get_string(key(k));
            if (!s) return s.error();
            int i = 0;
            for (const char* a : allowed) {
                if (*s == a) {
                    *out = i;
                    return {};
                }
                ++i;
            }
            return status::error(errc::corrupt_data, "lowbit gguf: %s = '%s' is not a known value", key(k).c_str(),
                                 lowbit::detail::printable(*s).c_str());
        };
        weights_desc d;
        std::uint64_t bits = 0, group = 0, row_bytes = 0;
        int gran = 0, scale = 0, lay = 0;
        LOWBIT_TRY(uint_key(field::bits, 8, &bits));
        LOWBIT_TRY(string_key(field::granularity, {"per_tensor", "per_channel", "per_group"}, &gran));
        LOWBIT_TRY(uint_key(field::group, std::uint64_t{1} << 30, &group));  // an int in weights_desc
        auto sym = f_.get_bool(key(field::symmetric));
        if (!sym) return sym.error();
        LOWBIT_TRY(string_key(field::scale_type, {"f32", "f16", "bf16"}, &scale));
        LOWBIT_TRY(string_key(field::layout, {"dense", "tiled", "codebook"}, &lay));
        LOWBIT_TRY(uint_key(field::row_bytes, std::uint64_t{1} << 40, &row_bytes));
        auto shape = f_.find_kv(key(field::shape));
        if (!shape || shape->type() != gguf::value_type::array || shape->size() != 2)
            return status::error(errc::corrupt_data, "lowbit gguf: %s is missing or not an array [rows, cols]", key(field::shape).c_str());
        const auto rows = (*shape)[0].to_uint(), cols = (*shape)[1].to_uint();
        if (!rows || !cols || *rows > (std::uint64_t{1} << 40) || *cols > (std::uint64_t{1} << 40))
            return status::error(errc::corrupt_data, "lowbit gguf: %s holds no valid [rows, cols]", key(field::shape).c_str());
        d.lay = lay == 0 ? layout::dense : lay == 1 ? layout::tiled : layout::codebook;
        d.scheme.bits = static_cast<int>(bits);
        d.scheme.gran = static_cast<granularity>(gran);
        d.scheme.group = d.scheme.gran == granularity::per_group ? static_cast<int>(group) : 0;
        d.scheme.symmetric = *sym;
        d.scheme.scale = static_cast<scale_type>(scale);
        d.rows = static_cast<std::size_t>(*rows);
        d.cols = static_cast<std::size_t>(*cols);
        d.group = static_cast<int>(group);
        d.row_bytes = static_cast<std::size_t>(row_bytes);
        if (group == 0) return bad(name, "group is 0");
        const bool cb = d.lay == layout::codebook;
        // A codebook block fixes all but the index width: the keys must say so.
        if (cb && !(d.scheme.gran == granularity::per_group && group == codebook_block && d.scheme.symmetric &&
                    d.scheme.scale == scale_type::f16))
            return bad(name, "codebook weights must be per_group, group 32, symmetric, f16 scales");
        // The scheme name is for people reading the file; it must not disagree.
        char want[48];
        if (cb) std::snprintf(want, sizeof want, "%s", weights_gguf::codebook_scheme_name(d.scheme.bits).c_str());
        else d.scheme.name(want, sizeof want);
        auto sname = f_.get_string(key(field::scheme));
        if (!sname) return sname.error();
        if (*sname != want)
            return status::error(errc::corrupt_data, "lowbit gguf: %s = '%s' but the fields say %s", key(field::scheme).c_str(),
                                 lowbit::detail::printable(*sname).c_str(), want);
        // The shape alone first (placeholder pointers, a codebook's placeholder
        // grid), so the sizes below are sane.
        static const std::uint32_t placeholder[1] = {0};
        weights_desc probe = d;
        probe.codes = reinterpret_cast<const std::uint8_t*>(placeholder);
        probe.scales = placeholder;
        probe.zeros = probe.codes;
        if (cb) weights_gguf::set_placeholder_grid(probe);
        auto checked = make_weights(probe);
        if (!checked) return status::error(errc::corrupt_data, "lowbit gguf: '%s': %s", lowbit::detail::printable(name).c_str(),
                                           checked.error().message());
        if (checked->row_bytes() != d.row_bytes) return bad(name, "row_bytes is not the layout's");
        const bool has_perm = f_.find_tensor(weights_gguf::component_name(name, weights_gguf::component::perm)) != nullptr;
        const void* data[weights_gguf::component_count] = {};
        for (std::size_t c = 0; c < weights_gguf::component_count; ++c) {
            const auto comp = static_cast<weights_gguf::component>(c);
            const auto want_shape = weights_gguf::shape_of(checked->desc(), has_perm, comp);
            const std::string tname = weights_gguf::component_name(name, comp);
            const gguf::tensor_info* t = f_.find_tensor(tname);
            if (want_shape.n_dims == 0) {
                if (t) return status::error(errc::corrupt_data, "lowbit gguf: %s is present but the scheme has none", tname.c_str());
                continue;
            }
            if (!t) return status::error(errc::corrupt_data, "lowbit gguf: tensor %s is missing", tname.c_str());
            if (t->type != want_shape.type || t->n_dims != want_shape.n_dims || t->dims[0] != want_shape.dims[0] ||
                (want_shape.n_dims > 1 && t->dims[1] != want_shape.dims[1]))
                return status::error(errc::corrupt_data, "lowbit gguf: %s is %s [%llu, %llu], the keys say %s [%llu, %llu]", tname.c_str(),
                                     gguf::type_name(t->type), static_cast<unsigned long long>(t->dims[0]),
                                     static_cast<unsigned long long>(t->n_dims > 1 ? t->dims[1] : 1), gguf::type_name(want_shape.type),
                                     static_cast<unsigned long long>(want_shape.dims[0]), static_cast<unsigned long long>(want_shape.dims[1]));
            if (reinterpret_cast<std::uintptr_t>(t->data.data()) % weights_gguf::min_alignment != 0)
                return status::error(errc::invalid_argument,
                                     "lowbit gguf: %s is not %u-byte aligned in memory (map the file at an aligned address, as mmap does)",
                                     tname.c_str(), weights_gguf::min_alignment);
            data[c] = t->data.data();
            ++*components;
        }
        d.codes = static_cast<const std::uint8_t*>(data[0]);
        d.scales = data[1];
        d.zeros = static_cast<const std::uint8_t*>(data[2]);
        d.perm = static_cast<const std::int32_t*>(data[3]);
        if (cb) std::memcpy(d.grid, data[4], std::size_t{1} << bits);  // held by value; make_weights checks the levels
        auto w = make_weights(d);
        if (!w) return status::error(errc::corrupt_data, "lowbit gguf: '%s': %s", lowbit::detail::printable(name).c_str(), w.error().message());
        return w;
    }

    gguf::gguf_file f_;
    std::vector<entry> entries_;
    std::vector<std::size_t> order_;  // entries_ sorted by name
};

}  // namespace lowbit
