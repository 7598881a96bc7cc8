// model_source.hpp — a GGUF or safetensors input seen as one list of tensors
// (GGUF dims, input type, bytes in the mapped file) plus the metadata the
// output will carry; and the importance matrix (imatrix) files of llama.cpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <lowbit/formats/gguf.hpp>
#include <lowbit/formats/imported_qmatrix.hpp>
#include <lowbit/formats/safetensors.hpp>

#include "files.hpp"  // lbq::span, status, errc; input_file
#include "names.hpp"
#include "tensor_rules.hpp"

namespace lbq {

namespace gguf = lowbit::gguf;
namespace st = lowbit::safetensors;

struct source_tensor {
    tensor_desc desc;                      // name, dims (ggml order), input type
    const std::uint8_t* data = nullptr;    // into the input's bytes
    std::uint64_t n_bytes = 0;
    // Set by inputs made of several files (a Hugging Face folder's shards): the
    // file whose mapping holds `data`; nullptr means the one input file.
    const input_file* file = nullptr;
    // Output row r is input row row_order[r] (the Q/K RoPE row permutation of a
    // Hugging Face checkpoint); empty means the identity.
    std::vector<std::uint32_t> row_order;
    // The type a tensor the rules keep as it is is written in (llama.cpp's
    // converter stores norms and other 1-D tensors as F32); unset: unchanged.
    std::optional<gguf_type> kept_type;
    // Set for a weight read from a quantized checkpoint: desc.type is F32 and
    // `data` is null; rows are dequantized from here (exactly), or written as
    // ggml blocks directly where the type represents them (imported_to_ggml.hpp).
    std::shared_ptr<const lowbit::checkpoint::imported_qmatrix> imported;
    std::optional<lowbit::checkpoint::imported_footprint> footprint;  // its bytes in lowbit's layout
    std::uint64_t source_row(std::uint64_t r) const { return row_order.empty() ? r : row_order[static_cast<std::size_t>(r)]; }
    std::uint64_t row_length() const { return desc.dims[0]; }
    std::uint64_t rows() const { return desc.dims[1] * desc.dims[2] * desc.dims[3]; }
};

// Prefix of the string KVs that carry a safetensors file's __metadata__.
constexpr const char* safetensors_meta_prefix = "safetensors.metadata.";

struct model_source {
    const char* format = "";
    std::vector<std::pair<std::string, gguf::meta_value>> kvs;  // input metadata to carry over, in order
    std::vector<source_tensor> tensors;
    model_info info;
};

inline bool looks_like_safetensors(span<const std::uint8_t> b) {
    return b.size() >= 9 && b[8] == '{';
}

namespace detail {

inline void finish_info(model_source& m) {
    if (m.info.n_layer == 0) {  // no <arch>.block_count: count the blk.<i> prefixes
        for (const source_tensor& t : m.tensors) {
            const auto l = layer_of(rule_name(t.desc.name));
            if (l && *l + 1 > m.info.n_layer) m.info.n_layer = *l + 1;
        }
    }
}

inline status from_gguf(span<const std::uint8_t> bytes, model_source* out) {
    auto f = gguf::gguf_file::parse(bytes);
    if (!f) return f.error();
    out->format = "GGUF";
    for (std::size_t i = 0; i < f->kv_count(); ++i) {
        const gguf::kv_view kv = f->kv(i);
        out->kvs.emplace_back(std::string(kv.key), gguf::meta_value::copy_of(kv.value));
    }
    if (auto a = f->find_kv("general.architecture")) {
        if (auto s = a->get<std::string_view>()) out->info.arch = std::string(*s);
    }
    if (!out->info.arch.empty()) {
        if (auto v = f->get_uint(out->info.arch + ".block_count")) out->info.n_layer = static_cast<int>(std::min<std::uint64_t>(*v, 1 << 20));
        if (auto v = f->get_uint(out->info.arch + ".expert_count")) out->info.n_expert = static_cast<int>(std::min<std::uint64_t>(*v, 1 << 20));
        // Head counts feed the GQA rules; per-layer arrays are not read (no GQA rule then).
        if (auto v = f->get_uint(out->info.arch + ".attention.head_count")) out->info.n_head = static_cast<int>(std::min<std::uint64_t>(*v, 1 << 20));
        out->info.n_head_kv = out->info.n_head;
        if (auto v = f->get_uint(out->info.arch + ".attention.head_count_kv")) out->info.n_head_kv = static_cast<int>(std::min<std::uint64_t>(*v, 1 << 20));
    }
    for (const gguf::tensor_info& ti : f->tensors()) {
        source_tensor t;
        t.desc.name = std::string(ti.name);
        t.desc.n_dims = static_cast<int>(std::max<std::uint32_t>(ti.n_dims, 1));
        for (int d = 0; d < 4; ++d) t.desc.dims[d] = ti.dims[d];
        t.desc.type = ti.type;
        t.data = ti.data.data();
        t.n_bytes = ti.n_bytes;
        out->tensors.push_back(std::move(t));
    }
    finish_info(*out);
    return status();
}

inline status from_safetensors(span<const std::uint8_t> bytes, model_source* out) {
    auto f = st::safetensors_file::parse(bytes);
    if (!f) return f.error();
    out->format = "safetensors";
    for (const auto& kv : f->metadata())
        out->kvs.emplace_back(safetensors_meta_prefix + kv.first, gguf::meta_value::string(kv.second));
    for (const st::tensor_info& ti : f->tensors()) {
        source_tensor t;
        t.desc.name = ti.name;
        switch (ti.type) {
            case st::dtype::f32: t.desc.type = gguf_type::f32; break;
            case st::dtype::f16: t.desc.type = gguf_type::f16; break;
            case st::dtype::bf16: t.desc.type = gguf_type::bf16; break;
            case st::dtype::i8: t.desc.type = gguf_type::i8; break;
            case st::dtype::i16: t.desc.type = gguf_type::i16; break;
            case st::dtype::i32: t.desc.type = gguf_type::i32; break;
            case st::dtype::i64: t.desc.type = gguf_type::i64; break;
            case st::dtype::f64: t.desc.type = gguf_type::f64; break;
            default:
                return status::error(errc::unsupported, "tensor '%s' has dtype %s, which GGUF cannot store",
                                     printable(ti.name, 40).c_str(), st::dtype_name(ti.type));
        }
        if (ti.shape.size() > gguf::max_dims)
            return status::error(errc::unsupported, "tensor '%s' has %zu dimensions; GGUF allows at most %u",
                                 printable(ti.name, 40).c_str(), ti.shape.size(), gguf::max_dims);
        if (ti.n_elements == 0)
            return status::error(errc::unsupported, "tensor '%s' is empty; GGUF cannot store it", printable(ti.name, 40).c_str());
        // safetensors lists the outermost dimension first, GGUF the innermost.
        t.desc.n_dims = ti.shape.empty() ? 1 : static_cast<int>(ti.shape.size());
        for (std::size_t d = 0; d < ti.shape.size(); ++d) t.desc.dims[d] = ti.shape[ti.shape.size() - 1 - d];
        t.data = ti.data.data();
        t.n_bytes = ti.data.size();
        out->tensors.push_back(std::move(t));
    }
    finish_info(*out);
    return status();
}

}  // namespace detail

inline status open_model(span<const std::uint8_t> bytes, model_source* out) {
    *out = model_source{};
    if (bytes.size() >= 4 && std::memcmp(bytes.data(), "GGUF", 4) == 0) return detail::from_gguf(bytes, out);
    if (looks_like_safetensors(bytes)) return detail::from_safetensors(bytes, out);
    return status::error(errc::corrupt_data, "neither a GGUF file (magic \"GGUF\") nor a safetensors file (JSON header)");
}

// ---- importance matrices -----------------------------------------------------------
// Two formats, both llama.cpp's (docs/tools.md, "--imatrix"):
//  * GGUF: for each weight W, tensors "W.in_sum2" (F32, n_per_row x n_mat: sums of
//    squared activations) and "W.counts" (F32, n_mat); the weights are sum / count
//    (1 where the count is 0).
//  * legacy .dat: int32 n_entries, then per entry int32 name length, the name,
//    int32 ncall, int32 n_values, n_values float32 (sums); weights are sum / ncall.
// Both may name the calibration text and its chunk count (GGUF: imatrix.datasets,
// imatrix.chunk_count; .dat: a trailing int32 and a length-prefixed name), which
// llama-quantize copies into the quantized file's metadata.
class imatrix {
public:
    // Replaces what was loaded; a file that fails leaves no entries behind.
    status load(span<const std::uint8_t> b) {
        values_.clear();
        dataset_.clear();
        chunk_count_ = 0;
        const status s = b.size() >= 4 && std::memcmp(b.data(), "GGUF", 4) == 0 ? load_gguf(b) : load_legacy(b);
        if (!s.ok()) values_.clear();
        return s;
    }
    const std::vector<float>* find(const std::string& name) const {
        auto it = values_.find(name);
        return it == values_.end() ? nullptr : &it->second;
    }
    std::size_t size() const { return values_.size(); }
    // The first dataset the file names ("" if none) and its chunk count (0 if not given).
    const std::string& dataset() const { return dataset_; }
    std::uint32_t chunk_count() const { return chunk_count_; }

private:
    static float f32_at(const std::uint8_t* p) {
        float x;
        std::memcpy(&x, p, 4);
        return x;
    }

    status load_gguf(span<const std::uint8_t> b) {
        auto f = gguf::gguf_file::parse(b);
        if (!f) return f.error();
        const std::string sums = ".in_sum2";
        for (const gguf::tensor_info& t : f->tensors()) {
            const std::string name(t.name);
            if (name.size() <= sums.size() || name.compare(name.size() - sums.size(), sums.size(), sums) != 0) continue;
            const std::string base = name.substr(0, name.size() - sums.size());
            const gguf::tensor_info* c = f->find_tensor(base + ".counts");
            if (t.type != gguf_type::f32 || !c || c->type != gguf_type::f32)
                return status::error(errc::corrupt_data, "imatrix entry '%s' needs F32 .in_sum2 and .counts tensors", printable(base, 40).c_str());
            const std::uint64_t ne0 = t.dims[0], n_mat = t.n_elements / ne0;
            if (c->n_elements != n_mat)
                return status::error(errc::corrupt_data, "imatrix entry '%s': %llu counts for %llu matrices", printable(base, 40).c_str(),
                                     static_cast<unsigned long long>(c->n_elements), static_cast<unsigned long long>(n_mat));
            std::vector<float> v(static_cast<std::size_t>(t.n_elements));
            for (std::uint64_t j = 0; j < n_mat; ++j) {
                const float count = f32_at(c->data.data() + 4 * j);
                for (std::uint64_t i = 0; i < ne0; ++i)
                    v[j * ne0 + i] = count > 0 ? f32_at(t.data.data() + 4 * (j * ne0 + i)) / count : 1.0f;
            }
            values_[base] = std::move(v);
        }
        if (values_.empty()) return status::error(errc::corrupt_data, "GGUF file has no imatrix entries (*.in_sum2)");
        // Optional bookkeeping; a key of another type is ignored.
        if (auto d = f->find_kv("imatrix.datasets"); d && d->element_type() == gguf::value_type::string && d->size() > 0)
            if (auto s0 = (*d)[0].get<std::string_view>()) dataset_ = std::string(*s0);
        if (auto c = f->find_kv("imatrix.chunk_count"))
            if (auto n = c->get<std::uint32_t>()) chunk_count_ = *n <= 0x7fffffffu ? *n : 0;  // llama.cpp keeps it in an int
        return check_finite();
    }

    status load_legacy(span<const std::uint8_t> b) {
        std::size_t pos = 0;
        auto read_i32 = [&](std::int32_t* v) {
            if (b.size() - pos < 4) return false;
            std::memcpy(v, b.data() + pos, 4);
            pos += 4;
            return true;
        };
        std::int32_t n = 0;
        if (!read_i32(&n) || n <= 0)
            return status::error(errc::corrupt_data, "not an imatrix file (neither GGUF nor a legacy .dat with entries)");
        for (std::int32_t e = 0; e < n; ++e) {
            std::int32_t len = 0, ncall = 0, nval = 0;
            if (!read_i32(&len) || len <= 0 || static_cast<std::size_t>(len) > b.size() - pos)
                return status::error(errc::corrupt_data, "imatrix entry %d: bad name length at byte %zu", e, pos);
            std::string name(reinterpret_cast<const char*>(b.data() + pos), static_cast<std::size_t>(len));
            pos += static_cast<std::size_t>(len);
            if (!read_i32(&ncall) || !read_i32(&nval) || nval <= 0 || static_cast<std::size_t>(nval) > (b.size() - pos) / 4)
                return status::error(errc::corrupt_data, "imatrix entry '%s': truncated at byte %zu", printable(name, 40).c_str(), pos);
            std::vector<float> v(static_cast<std::size_t>(nval));
            for (std::int32_t i = 0; i < nval; ++i) {
                const float s = f32_at(b.data() + pos + 4 * static_cast<std::size_t>(i));
                v[static_cast<std::size_t>(i)] = ncall > 0 ? s / static_cast<float>(ncall) : s;
            }
            pos += 4 * static_cast<std::size_t>(nval);
            values_[name] = std::move(v);
        }
        // Optional trailer: int32 chunk count, then int32 length and the dataset name
        // (up to its first NUL, as llama.cpp reads it as a C string).
        std::int32_t chunks = 0, len = 0;
        if (read_i32(&chunks)) {
            chunk_count_ = chunks > 0 ? static_cast<std::uint32_t>(chunks) : 0;
            if (read_i32(&len) && len > 0 && static_cast<std::size_t>(len) <= b.size() - pos) {
                const char* p = reinterpret_cast<const char*>(b.data() + pos);
                dataset_.assign(p, std::find(p, p + len, '\0'));
            }
        }
        return check_finite();
    }

    status check_finite() const {
        for (const auto& kv : values_)
            for (float x : kv.second)
                if (!std::isfinite(x))
                    return status::error(errc::non_finite, "imatrix entry '%s' has a non-finite value", printable(kv.first, 40).c_str());
        return status();
    }

    std::map<std::string, std::vector<float>> values_;
    std::string dataset_;
    std::uint32_t chunk_count_ = 0;
};

}  // namespace lbq
