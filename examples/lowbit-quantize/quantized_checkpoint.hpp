// quantized_checkpoint.hpp — a Hugging Face folder holding a GPTQ, AutoAWQ or
// compressed-tensors checkpoint: its quantization config (quantize_config.json,
// quant_config.json or config.json's "quantization_config"), and each packed
// linear layer replaced in the folder's tensor list by one imported weight,
// PREFIX.weight, F32 [N, K], whose rows are dequantized exactly on demand
// (lowbit/formats/*_checkpoint.hpp; docs/formats.md, "Quantized checkpoints in").
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <lowbit/formats/awq_checkpoint.hpp>
#include <lowbit/formats/compressed_tensors_checkpoint.hpp>
#include <lowbit/formats/gptq_checkpoint.hpp>
#include <lowbit/formats/imported_to_ggml.hpp>

#include "hf_folder.hpp"
#include "hf_json.hpp"

namespace lbq {

namespace ck = lowbit::checkpoint;

struct quant_import {
    enum class kind { gptq, awq, compressed_tensors } method = kind::gptq;
    std::string config_file;  // where the config was read, for messages
    ck::gptq_config gptq;
    ck::awq_config awq;
    ck::compressed_tensors_config ct;
    std::size_t imported = 0;  // weights imported
    const char* name() const { return method == kind::gptq ? "GPTQ" : method == kind::awq ? "AWQ" : "compressed-tensors"; }
};

namespace detail {

inline status int_key(const json_value& cfg, const char* key, const char* alt, const std::string& file, bool required, int* out) {
    const json_value* v = cfg.find(key);
    if (!v && alt) v = cfg.find(alt);
    if (!v) {
        if (required) return status::error(errc::invalid_argument, "%s has no \"%s\"", file.c_str(), key);
        return status();
    }
    const auto i = v->integer();
    if (!i || *i < -1 || *i > (1 << 24)) return status::error(errc::invalid_argument, "%s: \"%s\" is not an integer in range", file.c_str(), key);
    *out = static_cast<int>(*i);
    return status();
}
inline status bool_key(const json_value& cfg, const char* key, const std::string& file, bool* out) {
    const json_value* v = cfg.find(key);
    if (!v || v->is(json_value::kind::null)) return status();
    if (!v->boolean()) return status::error(errc::invalid_argument, "%s: \"%s\" is not true or false", file.c_str(), key);
    *out = *v->boolean();
    return status();
}
inline std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    return s;
}

inline status read_gptq_config(const json_value& c, const std::string& file, ck::gptq_config* g) {
    LOWBIT_TRY(int_key(c, "bits", nullptr, file, true, &g->bits));
    LOWBIT_TRY(int_key(c, "group_size", nullptr, file, true, &g->group_size));
    LOWBIT_TRY(bool_key(c, "desc_act", file, &g->desc_act));
    LOWBIT_TRY(bool_key(c, "sym", file, &g->sym));
    if (const json_value* f = c.find("checkpoint_format")) {
        const std::string v = f->str() ? lower(f->text) : "";
        if (v == "gptq") g->format = ck::gptq_format::v1;
        else if (v == "gptq_v2") g->format = ck::gptq_format::v2;
        else return status::error(errc::unsupported, "%s: checkpoint_format \"%s\" is not gptq or gptq_v2", file.c_str(), printable(f->text).c_str());
    }
    return status();
}

inline status read_awq_config(const json_value& c, const std::string& file, ck::awq_config* a) {
    LOWBIT_TRY(int_key(c, "bits", "w_bit", file, true, &a->bits));
    LOWBIT_TRY(int_key(c, "group_size", "q_group_size", file, true, &a->group_size));
    LOWBIT_TRY(bool_key(c, "zero_point", file, &a->zero_point));
    if (const json_value* v = c.find("version")) {
        if (!v->str() || lower(v->text) != "gemm")
            return status::error(errc::unsupported, "%s: AWQ version \"%s\": lowbit reads the GEMM packing only", file.c_str(),
                                 printable(v->text).c_str());
    }
    return status();
}

inline status read_ct_weights(const json_value& w, const std::string& file, ck::compressed_tensors_config* c) {
    LOWBIT_TRY(int_key(w, "num_bits", nullptr, file, true, &c->num_bits));
    if (const json_value* t = w.find("type"); t && (!t->str() || t->text != "int"))
        return status::error(errc::unsupported, "%s: weights of type \"%s\"; lowbit reads int weights", file.c_str(), printable(t->text).c_str());
    LOWBIT_TRY(bool_key(w, "symmetric", file, &c->symmetric));
    const json_value* s = w.find("strategy");
    const std::string strategy = s && s->str() ? s->text : "";
    using sk = ck::compressed_tensors_config::strategy_kind;
    if (strategy == "group") {
        c->strategy = sk::group;
        LOWBIT_TRY(int_key(w, "group_size", nullptr, file, true, &c->group_size));
    } else if (strategy == "channel") {
        c->strategy = sk::channel;
    } else if (strategy == "tensor") {
        c->strategy = sk::tensor;
    } else {
        return status::error(errc::unsupported, "%s: weight strategy \"%s\" is not group, channel or tensor", file.c_str(), printable(strategy).c_str());
    }
    if (const json_value* d = w.find("dynamic"); d && d->boolean() && *d->boolean())
        return status::error(errc::unsupported, "%s: dynamic weight quantization has no stored scales", file.c_str());
    return status();
}

inline status read_ct_config(const json_value& q, const std::string& file, ck::compressed_tensors_config* c) {
    const json_value* groups = q.find("config_groups");
    if (!groups || !groups->is(json_value::kind::object) || groups->members.empty())
        return status::error(errc::invalid_argument, "%s: quantization_config has no \"config_groups\"", file.c_str());
    const json_value* fmt = q.find("format");
    bool first = true;
    for (const auto& g : groups->members) {
        const json_value* gf = g.second.find("format");
        const json_value* f = gf && gf->str() ? gf : fmt;
        if (!f || !f->str() || f->text != "pack-quantized")
            return status::error(errc::unsupported, "%s: config group \"%s\" has format \"%s\"; lowbit reads pack-quantized", file.c_str(),
                                 printable(g.first).c_str(), f && f->str() ? printable(f->text).c_str() : "(none)");
        const json_value* w = g.second.find("weights");
        if (!w || !w->is(json_value::kind::object))
            return status::error(errc::invalid_argument, "%s: config group \"%s\" has no \"weights\"", file.c_str(), printable(g.first).c_str());
        ck::compressed_tensors_config here;
        LOWBIT_TRY(read_ct_weights(*w, file, &here));
        if (!first && (here.num_bits != c->num_bits || here.strategy != c->strategy || here.group_size != c->group_size ||
                       here.symmetric != c->symmetric))
            return status::error(errc::unsupported, "%s: config groups with different weight schemes are not supported", file.c_str());
        *c = here;
        first = false;
    }
    return status();
}

}  // namespace detail

// The folder's quantization, if it has one. A config.json whose
// quantization_config names another method is refused.
inline status read_quant_import(const hf_folder& f, std::optional<quant_import>* out) {
    out->reset();
    quant_import q;
    const json_value* qc = f.config().find("quantization_config");
    if (qc) {
        q.config_file = "config.json quantization_config";
        const json_value* m = qc->find("quant_method");
        const std::string method = m && m->str() ? detail::lower(m->text) : "";
        if (method == "gptq") {
            q.method = quant_import::kind::gptq;
            LOWBIT_TRY(detail::read_gptq_config(*qc, q.config_file, &q.gptq));
        } else if (method == "awq") {
            q.method = quant_import::kind::awq;
            LOWBIT_TRY(detail::read_awq_config(*qc, q.config_file, &q.awq));
        } else if (method == "compressed-tensors") {
            q.method = quant_import::kind::compressed_tensors;
            LOWBIT_TRY(detail::read_ct_config(*qc, q.config_file, &q.ct));
        } else {
            return status::error(errc::unsupported, "config.json: quant_method \"%s\" is not gptq, awq or compressed-tensors",
                                 printable(method).c_str());
        }
    } else if (f.has("quantize_config.json")) {
        json_value c;
        LOWBIT_TRY(f.read_json("quantize_config.json", &c));
        q.config_file = "quantize_config.json";
        LOWBIT_TRY(detail::read_gptq_config(c, q.config_file, &q.gptq));
    } else if (f.has("quant_config.json")) {
        json_value c;
        LOWBIT_TRY(f.read_json("quant_config.json", &c));
        q.config_file = "quant_config.json";
        q.method = quant_import::kind::awq;
        LOWBIT_TRY(detail::read_awq_config(c, q.config_file, &q.awq));
    } else {
        return status();
    }
    *out = std::move(q);
    return status();
}

namespace detail {

// --dry-run: the scheme and shape of one packed linear from its tensors'
// headers (and compressed-tensors' 2-entry weight_shape), without decoding it.
inline status header_footprint(const quant_import& q, const std::string& prefix,
                               const std::function<const st::tensor_info*(const std::string&)>& find, std::size_t* rows,
                               std::size_t* cols, ck::imported_footprint* fp) {
    lowbit::runtime_scheme s;
    s.scale = lowbit::scale_type::f16;
    bool perm = false;
    std::uint64_t N = 0, K = 0;
    auto scale_of = [&](const char* part) {
        const st::tensor_info* t = find(prefix + part);
        if (t && t->type == st::dtype::bf16) s.scale = lowbit::scale_type::bf16;
        if (t && t->type == st::dtype::f32) s.scale = lowbit::scale_type::f32;
    };
    auto need = [&](const char* part, const st::tensor_info** out) {
        *out = find(prefix + part);
        if (!*out || (*out)->shape.size() != 2)
            return status::error(errc::invalid_argument, "tensor '%s%s' is missing or not 2-D", printable(prefix).c_str(), part);
        return status();
    };
    const st::tensor_info* main = nullptr;
    if (q.method == quant_import::kind::gptq) {
        LOWBIT_TRY(need(".qweight", &main));
        const int b = q.gptq.bits;
        if (b != 2 && b != 3 && b != 4 && b != 8)
            return status::error(errc::unsupported, "bits = %d; GPTQ checkpoints use 2, 3, 4 or 8", b);
        N = main->shape[1], K = main->shape[0] * 32 / static_cast<std::uint64_t>(b);
        s.bits = b, s.symmetric = q.gptq.sym;
        s.gran = q.gptq.group_size == -1 ? lowbit::granularity::per_channel : lowbit::granularity::per_group;
        s.group = q.gptq.group_size;
        perm = q.gptq.desc_act && find(prefix + ".g_idx");
        scale_of(".scales");
    } else if (q.method == quant_import::kind::awq) {
        LOWBIT_TRY(need(".qweight", &main));
        N = main->shape[1] * 8, K = main->shape[0];
        s.bits = 4, s.symmetric = false;
        s.gran = q.awq.group_size == -1 ? lowbit::granularity::per_channel : lowbit::granularity::per_group;
        s.group = q.awq.group_size;
        scale_of(".scales");
    } else {
        const st::tensor_info* shape = find(prefix + ".weight_shape");
        if (!shape || shape->n_elements != 2 || (shape->type != st::dtype::i32 && shape->type != st::dtype::i64))
            return status::error(errc::invalid_argument, "tensor '%s.weight_shape' is missing or not 2 integers", printable(prefix).c_str());
        const std::size_t w = shape->type == st::dtype::i32 ? 4 : 8;
        std::uint64_t v[2] = {0, 0};
        for (int i = 0; i < 2; ++i)
            for (std::size_t j = 0; j < w && j < 8; ++j) v[i] |= static_cast<std::uint64_t>(shape->data[static_cast<std::size_t>(i) * w + j]) << (8 * j);
        N = v[0], K = v[1];
        using sk = ck::compressed_tensors_config::strategy_kind;
        s.bits = q.ct.num_bits, s.symmetric = q.ct.symmetric;
        s.gran = q.ct.strategy == sk::group ? lowbit::granularity::per_group
                 : q.ct.strategy == sk::channel ? lowbit::granularity::per_channel : lowbit::granularity::per_tensor;
        s.group = q.ct.group_size;
        perm = find(prefix + ".weight_g_idx") != nullptr;
        scale_of(".weight_scale");
    }
    if (N == 0 || K == 0 || N > (1u << 30) || K > (1u << 30))
        return status::error(errc::shape_mismatch, "'%s' has a %llu x %llu weight", printable(prefix).c_str(),
                             static_cast<unsigned long long>(N), static_cast<unsigned long long>(K));
    auto f = ck::footprint_of(s, static_cast<std::size_t>(N), static_cast<std::size_t>(K), perm);
    if (!f) return f.error();
    *rows = static_cast<std::size_t>(N), *cols = static_cast<std::size_t>(K), *fp = *f;
    return status();
}

}  // namespace detail

// Replaces every packed linear (PREFIX.qweight / PREFIX.weight_packed and its
// parts) by one imported PREFIX.weight. Parts of one layer may sit in different
// shards. A packed part without its main tensor is refused.
// headers_only (--dry-run): the weights get their shape and footprint, not
// their values (nothing of the packed data is read but weight_shape).
inline status import_quantized_linears(hf_folder& f, quant_import& q, bool headers_only = false) {
    const bool ct = q.method == quant_import::kind::compressed_tensors;
    const std::vector<std::string> parts = ct ? std::vector<std::string>{".weight_packed", ".weight_shape", ".weight_scale", ".weight_zero_point", ".weight_g_idx"}
                                              : q.method == quant_import::kind::gptq ? std::vector<std::string>{".qweight", ".qzeros", ".scales", ".g_idx"}
                                                                                      : std::vector<std::string>{".qweight", ".qzeros", ".scales"};
    std::map<std::string, std::size_t> by_name;
    for (std::size_t i = 0; i < f.tensors().size(); ++i) by_name[f.tensors()[i].info->name] = i;
    auto find = [&](const std::string& n) -> const st::tensor_info* {
        auto it = by_name.find(n);
        return it == by_name.end() ? nullptr : f.tensors()[it->second].info;
    };
    auto part_of = [&](const std::string& n, std::string* prefix) {
        for (const std::string& p : parts)
            if (n.size() > p.size() && n.compare(n.size() - p.size(), p.size(), p) == 0) {
                *prefix = n.substr(0, n.size() - p.size());
                return true;
            }
        return false;
    };
    std::vector<hf_tensor> out;
    for (const hf_tensor& ht : f.tensors()) {
        std::string prefix;
        if (!part_of(ht.info->name, &prefix)) {
            out.push_back(ht);
            continue;
        }
        if (!find(prefix + parts[0]))
            return status::error(errc::invalid_argument, "tensor '%s' has no %s%s beside it", printable(ht.info->name).c_str(),
                                 printable(prefix).c_str(), parts[0].c_str());
        if (ht.info->name != prefix + parts[0]) continue;  // read with its main tensor
        if (find(prefix + ".weight"))
            return status::error(errc::invalid_argument, "'%s' is both quantized and stored as %s.weight", printable(prefix).c_str(),
                                 printable(prefix).c_str());
        if (headers_only) {
            std::size_t rows = 0, cols = 0;
            ck::imported_footprint fp;
            if (status s = detail::header_footprint(q, prefix, find, &rows, &cols, &fp); !s.ok())
                return status::error(s.code(), "%s (%s): %s", q.config_file.c_str(), q.name(), s.message());
            st::tensor_info w;
            w.name = prefix + ".weight";
            w.type = st::dtype::f32;
            w.shape = {rows, cols};
            w.n_elements = rows * cols;
            hf_tensor nt;
            nt.info = f.own(std::move(w));
            nt.shard = ht.shard;
            nt.footprint = fp;
            out.push_back(std::move(nt));
            q.imported += 1;
            continue;
        }
        lowbit::result<ck::imported_qmatrix> m = lowbit::status::error(errc::invalid_argument, "unreachable");
        if (q.method == quant_import::kind::gptq) {
            ck::gptq_tensors t;
            t.qweight = find(prefix + ".qweight"), t.qzeros = find(prefix + ".qzeros"), t.scales = find(prefix + ".scales");
            t.g_idx = find(prefix + ".g_idx");
            m = ck::read_gptq(t, q.gptq, prefix);
        } else if (q.method == quant_import::kind::awq) {
            ck::awq_tensors t;
            t.qweight = find(prefix + ".qweight"), t.qzeros = find(prefix + ".qzeros"), t.scales = find(prefix + ".scales");
            m = ck::read_awq(t, q.awq, prefix);
        } else {
            ck::compressed_tensors_tensors t;
            t.weight_packed = find(prefix + ".weight_packed"), t.weight_shape = find(prefix + ".weight_shape");
            t.weight_scale = find(prefix + ".weight_scale"), t.weight_zero_point = find(prefix + ".weight_zero_point");
            t.weight_g_idx = find(prefix + ".weight_g_idx");
            m = ck::read_compressed_tensors(t, q.ct, prefix);
        }
        if (!m) return status::error(m.error().code(), "%s (%s): %s", q.config_file.c_str(), q.name(), m.error().message());
        st::tensor_info w;
        w.name = prefix + ".weight";
        w.type = st::dtype::f32;
        w.shape = {m->rows(), m->cols()};
        w.n_elements = m->rows() * m->cols();
        hf_tensor nt;
        nt.info = f.own(std::move(w));
        nt.shard = ht.shard;
        nt.footprint = m->footprint();
        nt.imported = std::make_shared<const ck::imported_qmatrix>(std::move(*m));
        out.push_back(std::move(nt));
        q.imported += 1;
    }
    if (q.imported == 0)
        return status::error(errc::invalid_argument, "%s names %s but no tensor ends in %s", q.config_file.c_str(), q.name(), parts[0].c_str());
    f.replace_tensors(std::move(out));
    return status();
}

}  // namespace lbq
