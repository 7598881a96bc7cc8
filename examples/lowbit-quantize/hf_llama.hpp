// hf_llama.hpp — a Hugging Face LlamaForCausalLM folder seen as a llama.cpp
// model: config.json as the llama.* keys, tensors under llama.cpp's names with
// the Q/K RoPE row permutation, the tokenizer as tokenizer.ggml.*, in the order
// llama.cpp's convert_hf_to_gguf.py writes them. The rules are restated in
// docs/tools.md ("Hugging Face folders"), with every difference from that script.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <lowbit/formats/gguf.hpp>

#include "hf_folder.hpp"
#include "hf_json.hpp"
#include "hf_vocab.hpp"
#include "model_source.hpp"

namespace lbq {

struct llama_hparams {
    std::uint64_t n_vocab = 0, n_embd = 0, n_ff = 0, n_layer = 0, n_head = 0, n_head_kv = 0, head_dim = 0, n_ctx = 0;
    double rope_theta = 10000.0, rms_eps = 1e-6;
    bool tied = false;
    std::optional<double> linear_rope_factor;  // rope_type "linear"
    struct llama3_rope {
        double factor = 8.0, low_freq_factor = 1.0, high_freq_factor = 4.0, original_context = 8192.0;
    };
    std::optional<llama3_rope> llama3;  // rope_type "llama3": a rope_freqs tensor
};

namespace detail {

inline status config_uint(const json_value& cfg, const char* key, std::optional<std::uint64_t> fallback, std::uint64_t* out) {
    const json_value* v = cfg.find(key);
    if (!v || v->is(json_value::kind::null)) {
        if (!fallback) return status::error(errc::invalid_argument, "config.json has no %s", key);
        *out = *fallback;
        return status();
    }
    const std::optional<std::int64_t> i = v->integer();
    if (!i || *i <= 0 || *i > (std::int64_t(1) << 31))
        return status::error(errc::invalid_argument, "config.json: %s = %.40s is not a positive integer below 2^31", key, v->text.c_str());
    *out = static_cast<std::uint64_t>(*i);
    return status();
}

inline status config_number(const json_value* v, const char* key, double* out) {
    if (!v || v->is(json_value::kind::null)) return status();
    const std::optional<double> d = v->number();
    if (!d || !std::isfinite(*d) || *d <= 0)
        return status::error(errc::invalid_argument, "config.json: %s = %.40s is not a positive number", key, v->text.c_str());
    *out = *d;
    return status();
}

// The nine tensors of every layer, by llama.cpp name.
inline constexpr const char* layer_parts[9] = {"attn_norm.weight", "ffn_norm.weight", "attn_q.weight",  "attn_k.weight",  "attn_v.weight",
                                        "attn_output.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight"};

// The hf names of a LLaMA checkpoint -> llama.cpp's (gguf-py's tensor map for LLAMA).
inline std::optional<std::string> llama_tensor_name(const std::string& hf, int* layer) {
    *layer = -1;
    if (hf == "model.embed_tokens.weight") return std::string("token_embd.weight");
    if (hf == "lm_head.weight") return std::string("output.weight");
    if (hf == "model.norm.weight") return std::string("output_norm.weight");
    const std::string pre = "model.layers.";
    if (hf.compare(0, pre.size(), pre) != 0) return std::nullopt;
    std::size_t i = pre.size();
    long l = 0;
    while (i < hf.size() && hf[i] >= '0' && hf[i] <= '9' && l < 1000000) l = l * 10 + (hf[i++] - '0');
    if (i == pre.size() || i >= hf.size() || hf[i] != '.' || (hf[pre.size()] == '0' && i > pre.size() + 1)) return std::nullopt;
    const std::string part = hf.substr(i + 1);
    static const std::pair<const char*, const char*> parts[] = {
        {"input_layernorm.weight", "attn_norm.weight"},  {"post_attention_layernorm.weight", "ffn_norm.weight"},
        {"self_attn.q_proj.weight", "attn_q.weight"},    {"self_attn.k_proj.weight", "attn_k.weight"},
        {"self_attn.v_proj.weight", "attn_v.weight"},    {"self_attn.o_proj.weight", "attn_output.weight"},
        {"mlp.gate_proj.weight", "ffn_gate.weight"},     {"mlp.up_proj.weight", "ffn_up.weight"},
        {"mlp.down_proj.weight", "ffn_down.weight"},
    };
    for (const auto& p : parts)
        if (part == p.first) {
            *layer = static_cast<int>(l);
            return "blk." + std::to_string(l) + "." + p.second;
        }
    return std::nullopt;
}

// llama.cpp's converter undoes the Hugging Face RoPE layout: within each head,
// rows [first half | second half] become interleaved pairs. Output row
// h*d + 2*j + a is input row h*d + a*d/2 + j (a in {0, 1}, j < d/2).
inline std::vector<std::uint32_t> rope_row_order(std::uint64_t n_heads, std::uint64_t d) {
    std::vector<std::uint32_t> r(static_cast<std::size_t>(n_heads * d));
    for (std::uint64_t h = 0; h < n_heads; ++h)
        for (std::uint64_t j = 0; j < d / 2; ++j)
            for (std::uint64_t a = 0; a < 2; ++a)
                r[static_cast<std::size_t>(h * d + 2 * j + a)] = static_cast<std::uint32_t>(h * d + a * (d / 2) + j);
    return r;
}

// gguf-py's size label: the parameter count in K/M/B/T with at least two digits.
inline std::string size_label(std::uint64_t n) {
    const double x = static_cast<double>(n);
    double scaled;
    const char* suffix;
    if (x > 1e12) scaled = x * 1e-12, suffix = "T";
    else if (x > 1e9) scaled = x * 1e-9, suffix = "B";
    else if (x > 1e6) scaled = x * 1e-6, suffix = "M";
    else scaled = x * 1e-3, suffix = "K";
    const double r = std::nearbyint(scaled);  // round half to even, as Python's round()
    const int digits = r == 0 ? 0 : static_cast<int>(std::to_string(static_cast<long long>(r)).size());
    const int fix = digits >= 2 ? 0 : 2 - digits;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f%s", fix, scaled, suffix);
    return buf;
}

// LLaMA-3.1's RoPE frequency factors (the rope_freqs tensor, one per rotated
// pair), with the script's float32 steps in its order: freq = 1 / theta^(i/d),
// wavelen = 2*pi * (1/freq); 1 above the high-frequency wavelength, `factor`
// below the low one, a smooth blend between. (PyTorch's vectorized pow may
// differ from the C library's powf in the last bit.)
inline std::vector<float> llama3_rope_factors(double theta, std::uint64_t dim, const llama_hparams::llama3_rope& p) {
    const float two_pi = static_cast<float>(2.0 * 3.14159265358979323846);
    const float low_wavelen = static_cast<float>(p.original_context / p.low_freq_factor);
    const float high_wavelen = static_cast<float>(p.original_context / p.high_freq_factor);
    std::vector<float> out;
    for (std::uint64_t i = 0; i < dim; i += 2) {
        const float freq = 1.0f / std::pow(static_cast<float>(theta), static_cast<float>(i) / static_cast<float>(dim));
        const float wavelen = (1.0f / freq) * two_pi;
        if (wavelen < high_wavelen) {
            out.push_back(1.0f);
        } else if (wavelen > low_wavelen) {
            out.push_back(static_cast<float>(p.factor));
        } else {
            const float smooth = ((1.0f / wavelen) * static_cast<float>(p.original_context) - static_cast<float>(p.low_freq_factor)) /
                                 static_cast<float>(p.high_freq_factor - p.low_freq_factor);
            out.push_back(1.0f / ((1.0f - smooth) / static_cast<float>(p.factor) + smooth));
        }
    }
    return out;
}

}  // namespace detail

// quantized: the folder's packed weights were imported (quantized_checkpoint.hpp),
// so its quantization_config has been read and is no reason to refuse.
inline status read_llama_hparams(const json_value& cfg, llama_hparams* h, bool quantized = false) {
    const json_value* archs = cfg.find("architectures");
    if (!archs || !archs->is(json_value::kind::array) || archs->items.empty() || !archs->items[0].str())
        return status::error(errc::unsupported, "config.json has no \"architectures\"; only LlamaForCausalLM is supported");
    const std::string& arch = archs->items[0].text;
    if (arch != "LlamaForCausalLM")
        return status::error(errc::unsupported, "architecture %.60s is not supported; only LlamaForCausalLM is", arch.c_str());
    if (const json_value* q = cfg.find("quantization_config"); q && !q->is(json_value::kind::null) && !quantized)
        return status::error(errc::unsupported, "config.json has a quantization_config; only float (F32/F16/BF16) checkpoints are supported");
    for (const char* b : {"attention_bias", "mlp_bias"})
        if (const json_value* v = cfg.find(b); v && v->boolean().value_or(false))
            return status::error(errc::unsupported, "config.json: %s = true; LLaMA checkpoints with biases are not supported", b);
    LOWBIT_TRY(detail::config_uint(cfg, "vocab_size", std::nullopt, &h->n_vocab));
    LOWBIT_TRY(detail::config_uint(cfg, "hidden_size", std::nullopt, &h->n_embd));
    LOWBIT_TRY(detail::config_uint(cfg, "intermediate_size", std::nullopt, &h->n_ff));
    LOWBIT_TRY(detail::config_uint(cfg, "num_hidden_layers", std::nullopt, &h->n_layer));
    LOWBIT_TRY(detail::config_uint(cfg, "num_attention_heads", std::nullopt, &h->n_head));
    // transformers' LlamaConfig defaults, which the converter sees through AutoConfig.
    LOWBIT_TRY(detail::config_uint(cfg, "num_key_value_heads", h->n_head, &h->n_head_kv));
    LOWBIT_TRY(detail::config_uint(cfg, "head_dim", h->n_embd / h->n_head, &h->head_dim));
    LOWBIT_TRY(detail::config_uint(cfg, "max_position_embeddings", std::uint64_t(2048), &h->n_ctx));
    if (h->n_head % h->n_head_kv != 0)
        return status::error(errc::invalid_argument, "config.json: num_attention_heads %llu is not a multiple of num_key_value_heads %llu",
                             static_cast<unsigned long long>(h->n_head), static_cast<unsigned long long>(h->n_head_kv));
    if (h->head_dim == 0 || h->head_dim % 2 != 0)
        return status::error(errc::invalid_argument, "config.json: head_dim %llu must be even (RoPE rotates pairs)",
                             static_cast<unsigned long long>(h->head_dim));
    LOWBIT_TRY(detail::config_number(cfg.find("rms_norm_eps"), "rms_norm_eps", &h->rms_eps));
    if (const json_value* t = cfg.find("tie_word_embeddings"); t && !t->is(json_value::kind::null)) {
        if (!t->boolean()) return status::error(errc::invalid_argument, "config.json: tie_word_embeddings is not a boolean");
        h->tied = *t->boolean();
    }
    // RoPE: rope_parameters (newer transformers) or rope_scaling; theta inside
    // it or at the top level.
    const json_value* rp = cfg.find("rope_parameters");
    if (!rp || rp->is(json_value::kind::null)) rp = cfg.find("rope_scaling");
    if (rp && !rp->is(json_value::kind::null) && !rp->is(json_value::kind::object))
        return status::error(errc::invalid_argument, "config.json: rope_parameters / rope_scaling is not an object");
    LOWBIT_TRY(detail::config_number(cfg.find("rope_theta"), "rope_theta", &h->rope_theta));
    if (rp) {
        LOWBIT_TRY(detail::config_number(rp->find("rope_theta"), "rope_parameters.rope_theta", &h->rope_theta));
        const json_value* type = rp->find("rope_type");
        if (!type || !type->str()) type = rp->find("type");
        const std::string t = type && type->str() ? type->text : "default";
        if (t == "linear") {
            double f = 0;
            LOWBIT_TRY(detail::config_number(rp->find("factor"), "rope factor", &f));
            if (f > 0) h->linear_rope_factor = f;
        } else if (t == "llama3" || t == "Llama3" || t == "LLAMA3") {
            llama_hparams::llama3_rope l;
            LOWBIT_TRY(detail::config_number(rp->find("factor"), "rope factor", &l.factor));
            LOWBIT_TRY(detail::config_number(rp->find("low_freq_factor"), "rope low_freq_factor", &l.low_freq_factor));
            LOWBIT_TRY(detail::config_number(rp->find("high_freq_factor"), "rope high_freq_factor", &l.high_freq_factor));
            LOWBIT_TRY(detail::config_number(rp->find("original_max_position_embeddings"), "rope original_max_position_embeddings",
                                             &l.original_context));
            if (l.low_freq_factor == l.high_freq_factor)
                return status::error(errc::invalid_argument, "config.json: llama3 RoPE needs low_freq_factor != high_freq_factor");
            h->llama3 = l;
        } else if (t != "default") {
            return status::error(errc::unsupported, "RoPE scaling type '%.40s' is not supported (default, linear and llama3 are)",
                                 t.c_str());
        }
    }
    return status();
}

// Builds the model: tensors (in the converter's order) and metadata (the
// converter's keys and order; general.file_type is a placeholder the tool sets).
inline status open_hf_llama(hf_folder& f, model_source* out) {
    *out = model_source{};
    namespace gguf = lowbit::gguf;
    llama_hparams h;
    bool quantized = false;
    for (const hf_tensor& ht : f.tensors()) quantized = quantized || ht.footprint.has_value();
    LOWBIT_TRY(read_llama_hparams(f.config(), &h, quantized));
    gguf_vocab vocab;
    LOWBIT_TRY(read_hf_vocab(f, h.n_vocab, &vocab));

    // Nine tensors per layer: a layer count the checkpoint cannot hold is an error
    // before anything is sized by it.
    if (h.n_layer > f.tensors().size() / 9)
        return status::error(errc::invalid_argument, "config.json says %llu layers but the checkpoint has only %zu tensors",
                             static_cast<unsigned long long>(h.n_layer), f.tensors().size());
    out->format = "Hugging Face folder";
    out->info.arch = "llama";
    out->info.n_layer = static_cast<int>(h.n_layer);
    out->info.n_head = static_cast<int>(h.n_head);
    out->info.n_head_kv = static_cast<int>(h.n_head_kv);
    std::vector<std::vector<bool>> have(h.n_layer, std::vector<bool>(9, false));
    bool have_embd = false, have_norm = false;
    std::uint64_t n_params = 0;
    for (const hf_tensor& ht : f.tensors()) {
        const st::tensor_info& ti = *ht.info;
        const std::string& n = ti.name;
        auto ends = [&](const char* s) { return n.size() >= std::strlen(s) && n.compare(n.size() - std::strlen(s), std::strlen(s), s) == 0; };
        if (ends(".rotary_emb.inv_freq") || ends(".attention.masked_bias") || ends(".attention.bias")) continue;  // not weights
        if (h.tied && n == "lm_head.weight") continue;  // llama.cpp reuses token_embd
        int layer = -1;
        const std::optional<std::string> name = detail::llama_tensor_name(n, &layer);
        if (!name) return status::error(errc::unsupported, "tensor '%.80s' is not part of a LlamaForCausalLM model", n.c_str());
        if (layer >= static_cast<long long>(h.n_layer))
            return status::error(errc::invalid_argument, "tensor '%.80s' is in layer %d but num_hidden_layers is %llu", n.c_str(), layer,
                                 static_cast<unsigned long long>(h.n_layer));
        source_tensor t;
        t.desc.name = *name;
        switch (ti.type) {
            case st::dtype::f32: t.desc.type = gguf_type::f32; break;
            case st::dtype::f16: t.desc.type = gguf_type::f16; break;
            case st::dtype::bf16: t.desc.type = gguf_type::bf16; break;
            default:
                return status::error(errc::unsupported, "tensor '%.80s' has dtype %s; only F32, F16 and BF16 are supported", n.c_str(),
                                     st::dtype_name(ti.type));
        }
        // Expected shape, outermost first (as safetensors lists it).
        const std::uint64_t q_rows = h.n_head * h.head_dim, kv_rows = h.n_head_kv * h.head_dim;
        std::vector<std::uint64_t> want;
        std::uint64_t rope_heads = 0;
        const std::string part = layer >= 0 ? name->substr(name->find('.', 4) + 1) : *name;
        const char* const* parts = detail::layer_parts;
        if (part == "token_embd.weight" || part == "output.weight") want = {h.n_vocab, h.n_embd};
        else if (part == "output_norm.weight" || part == parts[0] || part == parts[1]) want = {h.n_embd};
        else if (part == parts[2]) want = {q_rows, h.n_embd}, rope_heads = h.n_head;
        else if (part == parts[3]) want = {kv_rows, h.n_embd}, rope_heads = h.n_head_kv;
        else if (part == parts[4]) want = {kv_rows, h.n_embd};
        else if (part == parts[5]) want = {h.n_embd, q_rows};
        else if (part == parts[6] || part == parts[7]) want = {h.n_ff, h.n_embd};
        else want = {h.n_embd, h.n_ff};
        if (ti.shape != want) {
            std::string got, exp;
            for (std::uint64_t d : ti.shape) got += (got.empty() ? "" : ", ") + std::to_string(d);
            for (std::uint64_t d : want) exp += (exp.empty() ? "" : ", ") + std::to_string(d);
            return status::error(errc::shape_mismatch, "tensor '%.60s' has shape [%s]; config.json implies [%s]", n.c_str(), got.c_str(),
                                 exp.c_str());
        }
        if (layer >= 0)
            for (int k = 0; k < 9; ++k)
                if (part == parts[k]) have[static_cast<std::size_t>(layer)][static_cast<std::size_t>(k)] = true;
        have_embd |= part == "token_embd.weight";
        have_norm |= part == "output_norm.weight";
        t.desc.n_dims = static_cast<int>(want.size());
        for (std::size_t d = 0; d < want.size(); ++d) t.desc.dims[d] = want[want.size() - 1 - d];
        t.data = ti.data.data();
        t.n_bytes = ti.data.size();
        if (ht.imported) t.imported = ht.imported, t.n_bytes = ti.n_elements * sizeof(float);
        t.footprint = ht.footprint;
        t.file = &f.shard_file(ht.shard);
        if (rope_heads) t.row_order = detail::rope_row_order(rope_heads, h.head_dim);
        if (want.size() == 1 || part.find("_norm.weight") != std::string::npos) t.kept_type = gguf_type::f32;
        n_params += ti.n_elements;
        out->tensors.push_back(std::move(t));
    }
    if (!have_embd) return status::error(errc::invalid_argument, "no model.embed_tokens.weight in the checkpoint");
    if (!have_norm) return status::error(errc::invalid_argument, "no model.norm.weight in the checkpoint");
    for (std::size_t l = 0; l < have.size(); ++l)
        for (int k = 0; k < 9; ++k)
            if (!have[l][static_cast<std::size_t>(k)])
                return status::error(errc::invalid_argument, "the checkpoint has no tensor for blk.%zu.%s", l, detail::layer_parts[k]);

    // Generated last, once every attn_q tensor has matched n_head * head_dim
    // rows (so head_dim is backed by the checkpoint's bytes, not only by
    // config.json), and put first, as the script's generate_extra_tensors.
    if (h.llama3) {
        const std::vector<float> v = detail::llama3_rope_factors(h.rope_theta, h.head_dim, *h.llama3);
        source_tensor t;
        t.desc.name = "rope_freqs.weight";
        t.desc.type = gguf_type::f32;
        t.desc.n_dims = 1;
        t.desc.dims[0] = v.size();
        t.n_bytes = v.size() * sizeof(float);
        t.data = f.keep(std::vector<std::uint8_t>(reinterpret_cast<const std::uint8_t*>(v.data()),
                                                  reinterpret_cast<const std::uint8_t*>(v.data()) + t.n_bytes));
        t.kept_type = gguf_type::f32;
        n_params += v.size();
        out->tensors.insert(out->tensors.begin(), std::move(t));
    }

    auto& kv = out->kvs;
    auto u32 = [](std::uint64_t v) { return gguf::meta_value::u32(static_cast<std::uint32_t>(v)); };
    kv.emplace_back("general.architecture", gguf::meta_value::string("llama"));
    kv.emplace_back("general.type", gguf::meta_value::string("model"));
    kv.emplace_back("general.name", gguf::meta_value::string(f.base_name()));
    kv.emplace_back("general.size_label", gguf::meta_value::string(detail::size_label(n_params)));
    kv.emplace_back("llama.block_count", u32(h.n_layer));
    kv.emplace_back("llama.context_length", u32(h.n_ctx));
    kv.emplace_back("llama.embedding_length", u32(h.n_embd));
    kv.emplace_back("llama.feed_forward_length", u32(h.n_ff));
    kv.emplace_back("llama.attention.head_count", u32(h.n_head));
    kv.emplace_back("llama.attention.head_count_kv", u32(h.n_head_kv));
    if (h.linear_rope_factor) {
        kv.emplace_back("llama.rope.scaling.type", gguf::meta_value::string("linear"));
        kv.emplace_back("llama.rope.scaling.factor", gguf::meta_value::f32(static_cast<float>(*h.linear_rope_factor)));
    }
    kv.emplace_back("llama.rope.freq_base", gguf::meta_value::f32(static_cast<float>(h.rope_theta)));
    kv.emplace_back("llama.attention.layer_norm_rms_epsilon", gguf::meta_value::f32(static_cast<float>(h.rms_eps)));
    kv.emplace_back("llama.attention.key_length", u32(h.head_dim));
    kv.emplace_back("llama.attention.value_length", u32(h.head_dim));
    kv.emplace_back("general.file_type", u32(1));  // placeholder: the tool writes the real --type's
    kv.emplace_back("llama.vocab_size", u32(h.n_vocab));
    kv.emplace_back("llama.rope.dimension_count", u32(h.head_dim));
    kv.emplace_back("general.quantization_version", u32(2));
    append_vocab_kvs(vocab, &kv);
    return status();
}

}  // namespace lbq
