// lowbit/formats/weights_gguf_writer.hpp — any weights_view into a GGUF file,
// streamed through gguf::gguf_writer (docs/formats.md, "lowbit weights in GGUF").
//
//   gguf::gguf_writer g;
//   g.set("general.architecture", ...);                 // the caller's own metadata and tensors
//   weights_gguf_writer w(g);
//   w.declare("blk.0.attn_q.weight", view);             // dense, tiled, codebook or ggml weights: up front
//   g.add_tensor("output_norm.weight", gguf_type::f32, {dim});   // plain tensors may be mixed in
//   w.write_header(gguf::byte_sink::to_file(fp));        // lowbit keys, alignment >= 64, header
//   w.write("blk.0.attn_q.weight", view);                // then the data, in declaration order
//   g.write_tensor("output_norm.weight", ...);
//   g.finish();
//
// Declaring needs only the shape (weights_desc, pointers ignored), so a tool
// can declare every tensor before it quantizes the first one. The bytes
// written are the view's arrays verbatim: the reader hands them back as a
// view into the mapped file, with nothing to convert.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "../core/status.hpp"
#include "../weights/weights_view.hpp"
#include "gguf_writer.hpp"
#include "weights_gguf_layout.hpp"

namespace lowbit {

class weights_gguf_writer {
public:
    explicit weights_gguf_writer(gguf::gguf_writer& g) noexcept : g_(&g) {}

    // Declares weights of the shape of `d` (its pointers and a codebook's grid
    // are not read; a stored input permutation is `with_perm`). Dense, tiled
    // and codebook weights become the lowbit components and keys; ggml weights
    // one tensor of their type.
    status declare(std::string_view name, const weights_desc& d, bool with_perm) {
        if (name.empty() || name.size() > weights_gguf::max_base_name)
            return status::error(errc::invalid_argument, "weights_gguf_writer: name '%s' is %zu bytes, outside 1..%zu",
                                 lowbit::detail::printable(name).c_str(), name.size(), weights_gguf::max_base_name);
        if (name.find(weights_gguf::component_marker) != std::string_view::npos)
            return status::error(errc::invalid_argument, "weights_gguf_writer: name '%s' holds the reserved '.lowbit.'",
                                 lowbit::detail::printable(name).c_str());
        auto v = checked_shape(d, with_perm);
        if (!v) return v.error();
        if (decls_.count(name) != 0)
            return status::error(errc::invalid_argument, "weights_gguf_writer: '%s' declared twice", lowbit::detail::printable(name).c_str());
        const weights_desc& s = v->desc();
        if (s.lay == layout::ggml) {
            LOWBIT_TRY(g_->add_tensor(name, s.ggml, {s.cols, s.rows}));
        } else {
            LOWBIT_TRY(set_keys(name, s));
            for (std::size_t c = 0; c < weights_gguf::component_count; ++c) {
                const auto sh = weights_gguf::shape_of(s, with_perm, static_cast<weights_gguf::component>(c));
                if (sh.n_dims == 0) continue;
                LOWBIT_TRY(g_->add_tensor(weights_gguf::component_name(name, static_cast<weights_gguf::component>(c)), sh.type,
                                          span<const std::uint64_t>(sh.dims, sh.n_dims)));
            }
            lowbit_names_.emplace_back(name);
        }
        decls_.emplace(std::string(name), decl{s, with_perm});
        return {};
    }
    status declare(std::string_view name, const weights_view& v) { return declare(name, v.desc(), v.perm() != nullptr); }

    // Sets lowbit.format_version, lowbit.tensors and (unless the caller set
    // one of at least 64) general.alignment = 64, then writes the header.
    status write_header(const gguf::byte_sink& sink) {
        if (!lowbit_names_.empty()) {
            if (g_->alignment() < weights_gguf::min_alignment) {
                const status s = g_->set_alignment(weights_gguf::min_alignment);
                if (!s)
                    return status::error(errc::invalid_argument, "weights_gguf_writer: general.alignment = %u, lowbit tensors need >= %u",
                                         g_->alignment(), weights_gguf::min_alignment);
            }
            LOWBIT_TRY(g_->set(weights_gguf::version_key, gguf::meta_value::u32(weights_gguf::format_version)));
            std::vector<std::string_view> names(lowbit_names_.begin(), lowbit_names_.end());
            LOWBIT_TRY(g_->set(weights_gguf::list_key,
                               gguf::meta_value::array_of_strings(span<const std::string_view>(names.data(), names.size()))));
        }
        return g_->write_header(sink);
    }

    // Writes the bytes of weights declared as `name`; `v` must have the
    // declared shape, and these weights must be the next in the file.
    status write(std::string_view name, const weights_view& v) {
        const auto it = decls_.find(name);
        if (it == decls_.end())
            return status::error(errc::invalid_argument, "weights_gguf_writer: '%s' was not declared", lowbit::detail::printable(name).c_str());
        LOWBIT_TRY(same_shape(name, it->second, v));
        if (v.lay() == layout::ggml) return g_->write_tensor(name, span<const std::uint8_t>(v.codes(), v.code_bytes()));
        using weights_gguf::component;
        const std::size_t grid_bytes = v.lay() == layout::codebook ? std::size_t{1} << v.scheme().bits : 0;
        const void* data[weights_gguf::component_count] = {v.codes(), v.scales(), v.zeros(), v.perm(), v.grid()};
        const std::size_t bytes[weights_gguf::component_count] = {v.code_bytes(), v.scale_bytes(), v.zero_bytes(), v.perm_bytes(), grid_bytes};
        for (std::size_t c = 0; c < weights_gguf::component_count; ++c) {
            if (bytes[c] == 0) continue;
            LOWBIT_TRY(g_->write_tensor(weights_gguf::component_name(name, static_cast<component>(c)),
                                        span<const std::uint8_t>(static_cast<const std::uint8_t*>(data[c]), bytes[c])));
        }
        return {};
    }

private:
    struct decl {
        weights_desc d;  // normalised by make_weights; pointers are placeholders
        bool perm = false;
    };

    // make_weights on the shape alone (make_weights_shape): the data comes
    // later, a codebook's grid with it (a placeholder grid stands in here).
    static result<weights_view> checked_shape(const weights_desc& d, bool with_perm) {
        if (d.lay == layout::tiled_codebook)  // a kernel layout made at load time, not a file format
            return status::error(errc::unsupported, "weights_gguf_writer: tiled_codebook weights are written as codebook weights "
                                 "(repack(w, layout::codebook))");
        if (d.lay == layout::tiled_kquant)  // likewise: the file holds the ggml blocks
            return status::error(errc::unsupported, "weights_gguf_writer: tiled_kquant weights are written as their ggml blocks "
                                 "(repack(w, layout::ggml))");
        if (with_perm && (d.lay == layout::ggml || d.lay == layout::codebook))
            return status::error(errc::invalid_argument, "weights_gguf_writer: %s weights have no input permutation", layout_name(d.lay));
        if (d.lay != layout::codebook) return make_weights_shape(d);
        weights_desc s = d;
        weights_gguf::set_placeholder_grid(s);
        return make_weights_shape(s);
    }

    status set_keys(std::string_view name, const weights_desc& d) {
        using weights_gguf::field;
        using weights_gguf::key_name;
        using gguf::meta_value;
        char scheme[48];
        runtime_scheme rs = d.scheme;
        if (d.lay == layout::codebook) std::snprintf(scheme, sizeof scheme, "%s", weights_gguf::codebook_scheme_name(d.scheme.bits).c_str());
        else rs.name(scheme, sizeof scheme);
        const std::uint64_t shape[2] = {d.rows, d.cols};
        LOWBIT_TRY(g_->set(key_name(name, field::scheme), meta_value::string(scheme)));
        LOWBIT_TRY(g_->set(key_name(name, field::bits), meta_value::u32(static_cast<std::uint32_t>(d.scheme.bits))));
        LOWBIT_TRY(g_->set(key_name(name, field::granularity), meta_value::string(weights_gguf::granularity_name(d.scheme.gran))));
        LOWBIT_TRY(g_->set(key_name(name, field::group), meta_value::u32(static_cast<std::uint32_t>(d.group))));
        LOWBIT_TRY(g_->set(key_name(name, field::symmetric), meta_value::boolean(d.scheme.symmetric)));
        LOWBIT_TRY(g_->set(key_name(name, field::scale_type), meta_value::string(scale_type_name(d.scheme.scale))));
        LOWBIT_TRY(g_->set(key_name(name, field::layout), meta_value::string(layout_name(d.lay))));
        LOWBIT_TRY(g_->set(key_name(name, field::shape), meta_value::array_of(span<const std::uint64_t>(shape, 2))));
        LOWBIT_TRY(g_->set(key_name(name, field::row_bytes), meta_value::u64(d.row_bytes)));
        return {};
    }

    static status same_shape(std::string_view name, const decl& k, const weights_view& v) {
        const weights_desc& a = k.d;
        const weights_desc& b = v.desc();
        bool same = a.lay == b.lay && a.rows == b.rows && a.cols == b.cols && a.row_bytes == b.row_bytes;
        if (a.lay == layout::ggml) {
            same = same && a.ggml == b.ggml;
        } else {
            same = same && a.group == b.group && a.scheme.bits == b.scheme.bits && a.scheme.gran == b.scheme.gran &&
                   a.scheme.symmetric == b.scheme.symmetric && a.scheme.scale == b.scheme.scale && k.perm == (b.perm != nullptr);
        }
        if (!same)
            return status::error(errc::invalid_argument, "weights_gguf_writer: '%s' differs from its declaration (layout, scheme, shape or permutation)",
                                 lowbit::detail::printable(name).c_str());
        return {};
    }

    gguf::gguf_writer* g_;
    std::map<std::string, decl, std::less<>> decls_;
    std::vector<std::string> lowbit_names_;  // in declaration order: lowbit.tensors
};

}  // namespace lowbit
