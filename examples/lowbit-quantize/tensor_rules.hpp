// tensor_rules.hpp — which GGUF type each tensor of a model gets.
//
// The rules are llama.cpp's (src/llama-quant.cpp: which tensors may be
// quantized, the Q4_K_M / Q5_K_M mixes, the output-tensor rule and the
// fallback table for rows that a block size does not divide), restated in
// docs/tools.md, "Which type each tensor gets". Everything here is a pure
// function of tensor names, shapes and options, so tests can check the rules
// without running the tool.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include <lowbit/core/status.hpp>
#include <lowbit/formats/gguf_types.hpp>

namespace lbq {

using lowbit::errc;
using lowbit::status;
using lowbit::gguf::gguf_type;

// ---- what --type can name ------------------------------------------------------------
enum class mix { none, q4_K_M, q5_K_M };

struct target {
    const char* name;
    gguf_type base;      // the default type of a quantizable tensor
    mix recipe;
    std::uint32_t ftype;  // llama.cpp's LLAMA_FTYPE_* value, written as general.file_type
};

// Plain K types carry the ftype of llama.cpp's "_S" variant (Q4_K -> MOSTLY_Q4_K_S),
// the closest label for "mostly this type"; see docs/tools.md.
inline const std::vector<target>& targets() {
    static const std::vector<target> t = {
        {"F32", gguf_type::f32, mix::none, 0},      {"F16", gguf_type::f16, mix::none, 1},
        {"BF16", gguf_type::bf16, mix::none, 32},   {"Q4_0", gguf_type::q4_0, mix::none, 2},
        {"Q4_1", gguf_type::q4_1, mix::none, 3},    {"Q5_0", gguf_type::q5_0, mix::none, 8},
        {"Q5_1", gguf_type::q5_1, mix::none, 9},    {"Q8_0", gguf_type::q8_0, mix::none, 7},
        {"Q2_K", gguf_type::q2_K, mix::none, 10},   {"Q3_K", gguf_type::q3_K, mix::none, 11},
        {"Q4_K", gguf_type::q4_K, mix::none, 14},   {"Q5_K", gguf_type::q5_K, mix::none, 16},
        {"Q6_K", gguf_type::q6_K, mix::none, 18},   {"Q4_K_M", gguf_type::q4_K, mix::q4_K_M, 15},
        {"Q5_K_M", gguf_type::q5_K, mix::q5_K_M, 17},
    };
    return t;
}

inline bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::toupper(static_cast<unsigned char>(a[i])) != std::toupper(static_cast<unsigned char>(b[i]))) return false;
    return true;
}

inline const target* find_target(std::string_view name) {
    for (const target& t : targets())
        if (iequals(t.name, name)) return &t;
    return nullptr;
}

// Types a single tensor may be given (--tensor-type, --output-tensor-type, ...):
// every weight type lowbit can write byte-exactly.
inline std::optional<gguf_type> parse_tensor_type(std::string_view name) {
    static const gguf_type allowed[] = {gguf_type::f32,  gguf_type::f16,  gguf_type::bf16, gguf_type::q4_0,
                                        gguf_type::q4_1, gguf_type::q5_0, gguf_type::q5_1, gguf_type::q8_0,
                                        gguf_type::q2_K, gguf_type::q3_K, gguf_type::q4_K, gguf_type::q5_K,
                                        gguf_type::q6_K};
    for (gguf_type t : allowed)
        if (iequals(lowbit::gguf::type_name(t), name)) return t;
    return std::nullopt;
}

// ---- names -------------------------------------------------------------------------

// Hugging Face (safetensors) names of llama-style models, translated to the
// GGUF names the rules are written for. Only the rules see the translation;
// the output keeps the input's names. Other names pass through unchanged.
inline std::string rule_name(std::string_view name) {
    std::string n(name);
    auto starts = [&](std::string_view p) { return n.compare(0, p.size(), p) == 0; };
    if (starts("model.")) n.erase(0, 6);
    if (n == "embed_tokens.weight") return "token_embd.weight";
    if (n == "lm_head.weight") return "output.weight";
    if (n == "norm.weight") return "output_norm.weight";
    if (!starts("layers.")) return std::string(name);
    // layers.<i>.<part>  ->  blk.<i>.<ggml part>
    const std::size_t dot = n.find('.', 7);
    if (dot == std::string::npos) return std::string(name);
    const std::string layer = n.substr(7, dot - 7);
    const std::string part = n.substr(dot + 1);
    static const std::pair<const char*, const char*> parts[] = {
        {"self_attn.q_proj.weight", "attn_q.weight"},     {"self_attn.k_proj.weight", "attn_k.weight"},
        {"self_attn.v_proj.weight", "attn_v.weight"},     {"self_attn.o_proj.weight", "attn_output.weight"},
        {"self_attn.qkv_proj.weight", "attn_qkv.weight"}, {"mlp.gate_proj.weight", "ffn_gate.weight"},
        {"mlp.up_proj.weight", "ffn_up.weight"},          {"mlp.down_proj.weight", "ffn_down.weight"},
        {"input_layernorm.weight", "attn_norm.weight"},   {"post_attention_layernorm.weight", "ffn_norm.weight"},
    };
    for (const auto& p : parts)
        if (part == p.first) return "blk." + layer + "." + p.second;
    return std::string(name);
}

// The layer of "blk.<i>.…", if the name has that form.
inline std::optional<int> layer_of(std::string_view name) {
    if (name.compare(0, 4, "blk.") != 0) return std::nullopt;
    std::size_t i = 4;
    long v = 0;
    while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])) && v < 1000000) v = v * 10 + (name[i++] - '0');
    if (i == 4 || i >= name.size() || name[i] != '.') return std::nullopt;
    return static_cast<int>(v);
}

enum class category { token_embd, attn_q, attn_k, attn_v, attn_qkv, attn_kv_b, attn_output, ffn_up, ffn_gate, ffn_down, output, other };

inline bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

// Broad roles by name; the order of the tests matters (attn_qkv before attn_q, ...).
inline category categorize(std::string_view name) {
    if (name == "output.weight") return category::output;
    if (name == "token_embd.weight" || name == "per_layer_token_embd.weight") return category::token_embd;
    if (contains(name, "attn_qkv.weight")) return category::attn_qkv;
    if (contains(name, "attn_kv_b.weight")) return category::attn_kv_b;
    if (contains(name, "attn_v.weight")) return category::attn_v;
    if (contains(name, "attn_k.weight")) return category::attn_k;
    if (contains(name, "attn_q.weight")) return category::attn_q;
    if (contains(name, "attn_output.weight")) return category::attn_output;
    if (contains(name, "ffn_up")) return category::ffn_up;
    if (contains(name, "ffn_gate")) return category::ffn_gate;
    if (contains(name, "ffn_down")) return category::ffn_down;
    return category::other;
}

// attn_v and the fused tensors that contain it get attn_v's treatment.
inline bool is_attn_v_like(category c) {
    return c == category::attn_v || c == category::attn_qkv || c == category::attn_kv_b;
}

// ggml_n_dims: trailing dimensions of size 1 do not count (a 256x1 tensor is 1-D).
inline int effective_dims(const std::uint64_t* dims, int n_dims) {
    for (int i = n_dims - 1; i >= 1; --i)
        if (dims[i] > 1) return i + 1;
    return 1;
}

// Why a tensor stays as it is, or nullptr when it may be quantized.
inline const char* keep_reason(std::string_view name, int eff_dims, bool leave_output) {
    if (eff_dims < 2) return "1-D";
    if (name.size() < 6 || name.compare(name.size() - 6, 6, "weight") != 0) return "name does not end in 'weight'";
    if (contains(name, "_norm.weight")) return "norm";
    if (leave_output && name == "output.weight") return "--leave-output-tensor";
    // Small or special tensors llama.cpp never quantizes (substrings of their names).
    static const char* const special[] = {
        "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj", "ssm_conv1d",
        "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight", "time_mix_first.weight",
        "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight",
        "time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight",
        "time_mix_g2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight",
        "attn_rel_b.weight", ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd",
        ".patch_merger", "a.rvq.codebook", "mm.a.code_embd"};
    for (const char* s : special)
        if (contains(name, s)) return "special tensor llama.cpp keeps";
    if (name == "position_embd.weight" || name == "token_types.weight") return "positional/token-type embedding";
    return nullptr;
}

// llama.cpp's fallback when the row length is not a multiple of the block:
// K-quants drop to a 32-value type, and anything a 32-value type cannot hold
// either becomes F16. (llama.cpp has no entry for the legacy types and stops
// with an error; lowbit-quantize uses F16 for them too and says so.)
inline gguf_type fallback_of(gguf_type t) {
    switch (t) {
        case gguf_type::q2_K:
        case gguf_type::q3_K: return gguf_type::q4_0;
        case gguf_type::q4_K: return gguf_type::q5_0;
        case gguf_type::q5_K: return gguf_type::q5_1;
        case gguf_type::q6_K: return gguf_type::q8_0;
        default: return gguf_type::f16;
    }
}

// The layers that get more bits in the _M mixes: the first and last eighth,
// and every third layer in between.
inline bool use_more_bits(int i_layer, int n_layers) {
    return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

// ---- planning ------------------------------------------------------------------------

struct tensor_desc {
    std::string name;
    std::uint64_t dims[4] = {1, 1, 1, 1};  // ggml order: dims[0] is the row length
    int n_dims = 1;
    gguf_type type = gguf_type::f32;       // its type in the input
};

struct model_info {
    std::string arch;  // general.architecture ("" when unknown)
    int n_layer = 0;   // <arch>.block_count, else 1 + the largest blk.<i>
    int n_expert = 0;  // <arch>.expert_count
};

struct override_rule {
    std::string pattern;
    std::regex re;
    gguf_type type;
};

struct options {
    const target* tgt = nullptr;
    bool pure = false;          // no mixes, no output-tensor rule: every quantizable tensor gets the base type
    bool leave_output = false;  // output.weight is kept as it is
    bool has_imatrix = false;
    std::optional<gguf_type> output_type, token_embd_type;
    std::vector<override_rule> overrides;  // first match wins
};

struct decision {
    gguf_type type = gguf_type::f32;
    bool convert = false;  // false: the bytes are copied unchanged
    std::string why;       // for the log; empty when the base type was simply used
    bool fell_back = false;
};

namespace detail {

struct mix_state {
    int n_attn_v = 0, i_attn_v = 0, i_ffn_down = 0;
    bool tied_embeddings = true;  // no output.weight: token_embd doubles as the output
};

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 1, 2)))
#endif
inline std::string fmt(const char* f, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, f);
    std::vsnprintf(buf, sizeof buf, f, ap);
    va_end(ap);
    return buf;
}

inline bool is_mix(const options& o) { return o.tgt->recipe != mix::none; }

// The type the recipe picks for a quantizable tensor (llama.cpp's
// llama_tensor_get_type_impl, restricted to the recipes this tool offers).
inline status recipe_type(const tensor_desc& t, const std::string& rname, category cat, const model_info& m,
                          const options& o, mix_state& s, gguf_type* type, std::string* why) {
    const gguf_type base = o.tgt->base;
    const bool falcon = m.arch == "falcon";
    gguf_type nt = *type;
    if (cat == category::output || (s.tied_embeddings && cat == category::token_embd)) {
        // The output projection is the most sensitive matrix: Q6_K unless the
        // recipe is already Q8_0 (Q8_0 when its rows do not fit the base block).
        if (falcon || t.dims[0] % lowbit::gguf::type_block_size(base) != 0) nt = gguf_type::q8_0;
        else if (nt != gguf_type::q8_0) nt = gguf_type::q6_K;
        if (nt != *type) *why = cat == category::output ? "output tensor" : "tied token embedding = output tensor";
    } else if (cat == category::token_embd) {
        // stays at the base type in every recipe offered here
    } else if (is_attn_v_like(cat)) {
        if (is_mix(o) && use_more_bits(s.i_attn_v, s.n_attn_v)) {
            nt = gguf_type::q6_K;
            *why = fmt("mix: attn_v #%d of %d", s.i_attn_v, s.n_attn_v);
        }
        if (m.n_expert == 8) {
            nt = gguf_type::q8_0;
            *why = "8-expert model: attn_v";
        }
        ++s.i_attn_v;
    } else if (cat == category::attn_k) {
        if (m.n_expert == 8) {
            nt = gguf_type::q8_0;
            *why = "8-expert model: attn_k";
        }
    } else if (cat == category::ffn_down) {
        int i_layer = s.i_ffn_down;
        const int n_layer = m.n_layer;
        if (m.n_expert > 1) {  // experts are not in layer order: read the layer from the name
            const std::optional<int> l = layer_of(rname);
            if (!l) return status::error(errc::invalid_argument, "cannot tell the layer of tensor '%s'", t.name.c_str());
            if (*l >= n_layer)
                return status::error(errc::invalid_argument, "tensor '%s' is in layer %d but the model has %d layers",
                                     t.name.c_str(), *l, n_layer);
            i_layer = *l;
        }
        if (o.tgt->recipe == mix::q4_K_M) {
            if (falcon) {
                nt = i_layer < n_layer / 16 ? gguf_type::q6_K : use_more_bits(i_layer, n_layer) ? gguf_type::q5_K : gguf_type::q4_K;
            } else if (use_more_bits(i_layer, n_layer)) {
                nt = gguf_type::q6_K;
            }
        } else if (o.tgt->recipe == mix::q5_K_M && use_more_bits(i_layer, n_layer)) {
            nt = gguf_type::q6_K;
        } else if ((base == gguf_type::q4_0 || base == gguf_type::q5_0) && !is_mix(o) && o.has_imatrix &&
                   i_layer < n_layer / 8) {
            nt = base == gguf_type::q4_0 ? gguf_type::q4_1 : gguf_type::q5_1;
        }
        if (nt != *type) *why = fmt("mix: ffn_down layer %d of %d", i_layer, n_layer);
        ++s.i_ffn_down;
    } else if (cat == category::attn_output) {
        if (!falcon && m.n_expert == 8 && o.tgt->recipe == mix::q4_K_M) {
            nt = gguf_type::q5_K;
            *why = "8-expert model: attn_output";
        }
    }
    *type = nt;
    return status();
}

}  // namespace detail

// Decides every tensor's type. Counters that depend on order (the n-th attn_v)
// advance in llama.cpp's order: by layer, then by name.
inline status plan(const std::vector<tensor_desc>& tensors, const model_info& m, const options& o,
                   std::vector<decision>* out) {
    out->assign(tensors.size(), decision{});
    std::vector<std::string> rnames(tensors.size());
    std::vector<category> cats(tensors.size());
    detail::mix_state s;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        rnames[i] = rule_name(tensors[i].name);
        cats[i] = categorize(rnames[i]);
        if (is_attn_v_like(cats[i])) ++s.n_attn_v;
        if (cats[i] == category::output) s.tied_embeddings = false;
    }
    std::vector<std::size_t> order(tensors.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        const int la = layer_of(rnames[a]).value_or(-1), lb = layer_of(rnames[b]).value_or(-1);
        return la != lb ? la < lb : rnames[a] < rnames[b];
    });

    const bool quantized_recipe = lowbit::gguf::is_quantized(o.tgt->base);
    for (std::size_t i : order) {
        const tensor_desc& t = tensors[i];
        decision& d = (*out)[i];
        const char* keep = keep_reason(rnames[i], effective_dims(t.dims, t.n_dims), o.leave_output);
        if (keep) {
            d.type = t.type;
            d.why = std::string("kept: ") + keep;
            continue;
        }
        gguf_type nt = o.tgt->base;
        std::string why;
        bool manual = false;
        if (o.token_embd_type && cats[i] == category::token_embd) {
            nt = *o.token_embd_type;
            why = "--token-embedding-type";
            manual = true;
        } else if (o.output_type && cats[i] == category::output) {
            nt = *o.output_type;
            why = "--output-tensor-type";
            manual = true;
        } else {
            for (const override_rule& r : o.overrides) {
                if (std::regex_search(t.name, r.re)) {
                    nt = r.type;
                    why = "--tensor-type " + r.pattern;
                    manual = true;
                    break;
                }
            }
        }
        if (!manual && quantized_recipe && !o.pure)
            LOWBIT_TRY(detail::recipe_type(t, rnames[i], cats[i], m, o, s, &nt, &why));
        // Rows that the block size does not divide.
        const std::uint64_t block = lowbit::gguf::type_block_size(nt);
        if (t.dims[0] % block != 0) {
            gguf_type fb = fallback_of(nt);
            if (t.dims[0] % lowbit::gguf::type_block_size(fb) != 0) fb = gguf_type::f16;
            why = detail::fmt("fallback: row length %llu is not a multiple of %llu (%s) -> %s",
                              static_cast<unsigned long long>(t.dims[0]), static_cast<unsigned long long>(block),
                              lowbit::gguf::type_name(nt), lowbit::gguf::type_name(fb));
            nt = fb;
            d.fell_back = true;
        }
        d.type = nt;
        d.convert = true;
        d.why = why;
    }
    return status();
}

// Parses "REGEX=TYPE" (the last '=' separates them; the regex is ECMAScript, searched
// anywhere in the name, as llama.cpp's --tensor-type does).
inline status parse_override(std::string_view arg, override_rule* out) {
    const std::size_t eq = arg.rfind('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == arg.size())
        return status::error(errc::invalid_argument, "--tensor-type '%.*s': expected REGEX=TYPE",
                             static_cast<int>(std::min<std::size_t>(arg.size(), 120)), arg.data());
    const std::string pattern(arg.substr(0, eq));
    const std::string_view tname = arg.substr(eq + 1);
    const std::optional<gguf_type> t = parse_tensor_type(tname);
    if (!t)
        return status::error(errc::invalid_argument, "--tensor-type: unknown type '%.*s' (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K)",
                             static_cast<int>(std::min<std::size_t>(tname.size(), 40)), tname.data());
    try {
        out->re = std::regex(pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
        return status::error(errc::invalid_argument, "--tensor-type: bad regex '%.80s': %.80s", pattern.c_str(), e.what());
    }
    out->pattern = pattern;
    out->type = *t;
    return status();
}

}  // namespace lbq
