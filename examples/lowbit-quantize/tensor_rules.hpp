// tensor_rules.hpp — which GGUF type each tensor of a model gets.
//
// The rules are llama.cpp's (src/llama-quant.cpp: which tensors may be
// quantized, every recipe whose types lowbit can write, the output-tensor
// rule and the fallback table for rows that a block size does not divide), restated in
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

#include <lowbit/core/scheme.hpp>
#include <lowbit/core/status.hpp>
#include <lowbit/formats/gguf_types.hpp>

namespace lbq {

using lowbit::errc;
using lowbit::status;
using lowbit::gguf::gguf_type;

// ---- what --type can name ------------------------------------------------------------

// llama.cpp's LLAMA_FTYPE_* values (include/llama.h), written as general.file_type.
// The recipe of each is a function of this number alone, as in llama.cpp.
namespace ftype {
constexpr std::uint32_t F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q8_0 = 7, Q5_0 = 8, Q5_1 = 9, Q2_K = 10, Q3_K_S = 11,
                        Q3_K_M = 12, Q3_K_L = 13, Q4_K_S = 14, Q4_K_M = 15, Q5_K_S = 16, Q5_K_M = 17, Q6_K = 18,
                        IQ2_XXS = 19, IQ2_XS = 20, Q2_K_S = 21, IQ3_XS = 22, IQ3_XXS = 23, IQ1_S = 24, IQ4_NL = 25,
                        IQ3_S = 26, IQ3_M = 27, IQ2_S = 28, IQ2_M = 29, IQ4_XS = 30, IQ1_M = 31, BF16 = 32, TQ1_0 = 36,
                        TQ2_0 = 37, MXFP4_MOE = 38;
}  // namespace ftype

struct target {
    const char* name;
    gguf_type base;       // the default type of a quantizable tensor (llama_ftype_get_default_type)
    std::uint32_t ftype;  // picks the recipe; written as general.file_type
};

// The names llama-quantize accepts, with the same meaning: Q3_K, Q4_K and Q5_K
// are its aliases of the _M mixes. A plain K type for every tensor is --pure.
// IQ2_S and IQ3_XS are named after their mix, not their base type: IQ2_S files
// are mostly IQ2_XS, IQ3_XS files mostly IQ3_S.
inline const std::vector<target>& targets() {
    static const std::vector<target> t = {
        {"F32", gguf_type::f32, ftype::F32},
        {"F16", gguf_type::f16, ftype::F16},
        {"BF16", gguf_type::bf16, ftype::BF16},
        {"Q4_0", gguf_type::q4_0, ftype::Q4_0},
        {"Q4_1", gguf_type::q4_1, ftype::Q4_1},
        {"Q5_0", gguf_type::q5_0, ftype::Q5_0},
        {"Q5_1", gguf_type::q5_1, ftype::Q5_1},
        {"Q8_0", gguf_type::q8_0, ftype::Q8_0},
        {"Q2_K", gguf_type::q2_K, ftype::Q2_K},
        {"Q2_K_S", gguf_type::q2_K, ftype::Q2_K_S},
        {"Q3_K", gguf_type::q3_K, ftype::Q3_K_M},
        {"Q3_K_S", gguf_type::q3_K, ftype::Q3_K_S},
        {"Q3_K_M", gguf_type::q3_K, ftype::Q3_K_M},
        {"Q3_K_L", gguf_type::q3_K, ftype::Q3_K_L},
        {"Q4_K", gguf_type::q4_K, ftype::Q4_K_M},
        {"Q4_K_S", gguf_type::q4_K, ftype::Q4_K_S},
        {"Q4_K_M", gguf_type::q4_K, ftype::Q4_K_M},
        {"Q5_K", gguf_type::q5_K, ftype::Q5_K_M},
        {"Q5_K_S", gguf_type::q5_K, ftype::Q5_K_S},
        {"Q5_K_M", gguf_type::q5_K, ftype::Q5_K_M},
        {"Q6_K", gguf_type::q6_K, ftype::Q6_K},
        {"IQ4_NL", gguf_type::iq4_nl, ftype::IQ4_NL},
        {"IQ4_XS", gguf_type::iq4_xs, ftype::IQ4_XS},
        {"TQ1_0", gguf_type::tq1_0, ftype::TQ1_0},
        {"TQ2_0", gguf_type::tq2_0, ftype::TQ2_0},
        {"MXFP4_MOE", gguf_type::mxfp4, ftype::MXFP4_MOE},
        {"IQ3_S", gguf_type::iq3_s, ftype::IQ3_S},
        {"IQ3_M", gguf_type::iq3_s, ftype::IQ3_M},
        {"IQ3_XS", gguf_type::iq3_s, ftype::IQ3_XS},
        {"IQ3_XXS", gguf_type::iq3_xxs, ftype::IQ3_XXS},
        {"IQ2_M", gguf_type::iq2_s, ftype::IQ2_M},
        {"IQ2_S", gguf_type::iq2_xs, ftype::IQ2_S},
        {"IQ2_XS", gguf_type::iq2_xs, ftype::IQ2_XS},
        {"IQ2_XXS", gguf_type::iq2_xxs, ftype::IQ2_XXS},
        {"IQ1_M", gguf_type::iq1_m, ftype::IQ1_M},
        {"IQ1_S", gguf_type::iq1_s, ftype::IQ1_S},
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
    static const gguf_type allowed[] = {
        gguf_type::f32,    gguf_type::f16,     gguf_type::bf16,   gguf_type::q4_0,   gguf_type::q4_1,  gguf_type::q5_0,
        gguf_type::q5_1,   gguf_type::q8_0,    gguf_type::q2_K,   gguf_type::q3_K,   gguf_type::q4_K,  gguf_type::q5_K,
        gguf_type::q6_K,   gguf_type::iq4_nl,  gguf_type::iq4_xs, gguf_type::tq1_0,  gguf_type::tq2_0, gguf_type::mxfp4,
        gguf_type::iq3_s,  gguf_type::iq3_xxs, gguf_type::iq2_s,  gguf_type::iq2_xs, gguf_type::iq2_xxs, gguf_type::iq1_m,
        gguf_type::iq1_s};
    for (gguf_type t : allowed)
        if (iequals(lowbit::gguf::type_name(t), name)) return t;
    return std::nullopt;
}

// A lowbit type (--type w4g128, --tensor-type 'ffn_down=cb4'): a uniform
// scheme, runtime_scheme::name's grammar w<bits>{g<group>|pc|pt}[a][-f16|-bf16|-f32]
// (core/scheme.hpp), or a codebook cb4 / cb3 (formats/codebook.hpp: 32-value
// blocks of 4- / 3-bit indices into one int8 grid per tensor, learned from the
// tensor by weighted k-means) or cb4-nf / cb3-nf (on the NF4 / NF3 grid).
// lowbit_types.hpp quantizes and writes such tensors. ggml's type names never
// start with w or cb.
struct lowbit_type {
    lowbit::runtime_scheme scheme{};  // a uniform scheme (codebook == 0)
    int codebook = 0;                 // 3 or 4: codebook weights with indices of that width
    bool nf = false;                  // codebook: the NF grid instead of a learned one
};
inline bool names_lowbit_type(std::string_view s) {
    const auto lower = [&](std::size_t i) { return i < s.size() ? static_cast<char>(std::tolower(static_cast<unsigned char>(s[i]))) : '\0'; };
    return lower(0) == 'w' || (lower(0) == 'c' && lower(1) == 'b');
}

// The type named `s`; a malformed name (w9g128, w4g0, w4x, cb5) is an error
// saying what is wrong with it.
inline lowbit::result<lowbit_type> parse_lowbit_type(std::string_view s) {
    if (s.size() > 40) return status::error(errc::invalid_argument, "lowbit type '%.40s...' is too long", s.data());
    const std::string z(s);
    lowbit_type t;
    if (s.size() >= 2 && (s[0] == 'c' || s[0] == 'C') && (s[1] == 'b' || s[1] == 'B')) {
        std::string l;
        for (char c : s) l += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (l != "cb4" && l != "cb3" && l != "cb4-nf" && l != "cb3-nf")
            return status::error(errc::invalid_argument, "codebook type '%s': expected cb4, cb3, cb4-nf or cb3-nf", z.c_str());
        t.codebook = l[2] - '0';
        t.nf = l.size() > 3;
        return t;
    }
    auto r = lowbit::parse_scheme(z.c_str());
    if (!r) return r.error();
    t.scheme = *r;
    return t;
}

inline std::string lowbit_type_name(const lowbit_type& t) {
    if (t.codebook) return "cb" + std::to_string(t.codebook) + (t.nf ? "-nf" : "");
    char b[48];
    t.scheme.name(b, sizeof b);
    return b;
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
// 256-value types drop to a 32-value type (K and ternary types to a legacy
// type, the i-quants to IQ4_NL), and anything a 32-value type cannot hold either
// becomes F16. (llama.cpp has no entry for the 32-value types and stops with
// an error; lowbit-quantize uses F16 for them too and says so.)
inline gguf_type fallback_of(gguf_type t) {
    switch (t) {
        case gguf_type::q2_K:
        case gguf_type::q3_K:
        case gguf_type::tq1_0:
        case gguf_type::tq2_0: return gguf_type::q4_0;
        case gguf_type::q4_K: return gguf_type::q5_0;
        case gguf_type::q5_K: return gguf_type::q5_1;
        case gguf_type::q6_K: return gguf_type::q8_0;
        case gguf_type::iq1_s:
        case gguf_type::iq1_m:
        case gguf_type::iq2_xxs:
        case gguf_type::iq2_xs:
        case gguf_type::iq2_s:
        case gguf_type::iq3_xxs:
        case gguf_type::iq3_s:
        case gguf_type::iq4_xs: return gguf_type::iq4_nl;
        default: return gguf_type::f16;
    }
}

// llama.cpp refuses to write these types without an importance matrix (the
// 1- to 3-bit lattice i-quants, and Q2_K inside a Q2_K_S file), except for the
// output and the token embedding, which it quantizes without one.
inline bool requires_imatrix(std::string_view rule_name, gguf_type t, std::uint32_t ft) {
    if (rule_name == "output.weight" || rule_name == "token_embd.weight" || rule_name == "per_layer_token_embd.weight") return false;
    switch (t) {
        case gguf_type::iq3_xxs:
        case gguf_type::iq2_xxs:
        case gguf_type::iq2_xs:
        case gguf_type::iq2_s:
        case gguf_type::iq1_m:
        case gguf_type::iq1_s: return true;
        case gguf_type::q2_K: return ft == ftype::Q2_K_S;
        default: return false;
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
    int n_head = 0;    // <arch>.attention.head_count (0: unknown)
    int n_head_kv = 0; // <arch>.attention.head_count_kv (llama.cpp: n_head when absent)

    // Query heads per key/value head; 0 when unknown (no GQA rule fires).
    int n_gqa() const { return n_head_kv > 0 ? n_head / n_head_kv : 0; }
    // llama.cpp's LLM_TYPE_70B, the one model size its recipes look at.
    bool is_70b() const {
        if (arch == "llama") return n_layer == 80 && n_head != n_head_kv;
        if (arch == "qwen2" || arch == "olmo" || arch == "deci") return n_layer == 80;
        if (arch == "jais2") return n_layer == 68;
        return false;
    }
};

struct override_rule {
    std::string pattern;
    std::regex re;
    gguf_type type;
    std::optional<lowbit_type> lowbit;  // a lowbit type instead of `type` (lowbit_types.hpp)
};

struct options {
    const target* tgt = nullptr;
    bool pure = false;          // no mixes, no output-tensor rule: every quantizable tensor gets the base type
    bool leave_output = false;  // output.weight is kept as it is
    bool has_imatrix = false;
    // --dry-run: a missing importance matrix is not an error (llama-quantize
    // --dry-run only warns); the tensors that need one are marked instead.
    bool dry_run = false;
    std::optional<gguf_type> output_type, token_embd_type;
    std::vector<override_rule> overrides;  // first match wins
    // --type w4g128 or cb4 (lowbit_types.hpp): every quantizable tensor gets
    // this type, except token_embd and output, which get tgt->base (no recipe).
    std::optional<lowbit_type> lowbit;
};

struct decision {
    gguf_type type = gguf_type::f32;
    bool convert = false;  // false: the bytes are copied unchanged
    std::string why;       // for the log; empty when the base type was simply used
    bool fell_back = false;
    bool needs_imatrix = false;  // llama.cpp refuses to write this tensor without imatrix data (requires_imatrix)
    std::optional<lowbit_type> lowbit;  // written as lowbit weights of this type (`type` unused)
};

namespace detail {

struct mix_state {
    int n_attn_v = 0, i_attn_v = 0, i_ffn_down = 0, i_ffn_gate = 0, i_ffn_up = 0;
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

// The layer a per-layer rule uses: the count of such tensors seen so far, or
// for MoE models (experts are not stored in layer order) the name's blk.<i>.
inline status rule_layer(const tensor_desc& t, const std::string& rname, const model_info& m, int counter, int* layer) {
    *layer = counter;
    if (m.n_expert <= 1) return status();
    const std::optional<int> l = layer_of(rname);
    if (!l) return status::error(errc::invalid_argument, "cannot tell the layer of tensor '%s'", t.name.c_str());
    if (*l >= m.n_layer)
        return status::error(errc::invalid_argument, "tensor '%s' is in layer %d but the model has %d layers", t.name.c_str(),
                             *l, m.n_layer);
    *layer = *l;
    return status();
}

// The 1- and 2-bit i-quant mixes. llama.cpp gives them one set of rules of
// their own (tested before the attn_v rules of the other recipes): the
// sensitive tensors get a few more bits, IQ3_S in the IQ2_S/IQ2_M mixes and
// Q2_K in the others.
inline bool low_iquant_mix(std::uint32_t f) {
    return f == ftype::IQ1_S || f == ftype::IQ1_M || f == ftype::IQ2_XXS || f == ftype::IQ2_XS || f == ftype::IQ2_S ||
           f == ftype::IQ2_M;
}

// The type the recipe picks for a quantizable tensor: llama.cpp's
// llama_tensor_get_type_impl, every ftype.
inline status recipe_type(const tensor_desc& t, const std::string& rname, category cat, const model_info& m,
                          const options& o, mix_state& s, gguf_type* type, std::string* why) {
    using gt = gguf_type;
    const std::uint32_t f = o.tgt->ftype;
    const bool falcon = m.arch == "falcon";
    const int gqa = m.n_gqa();
    gt nt = *type;
    const char* reason = nullptr;
    if (cat == category::output || (s.tied_embeddings && cat == category::token_embd)) {
        // The output projection is the most sensitive matrix.
        if (o.output_type) {  // only reached by a tied token embedding
            nt = *o.output_type;
        } else if (f == ftype::MXFP4_MOE || falcon || t.dims[0] % lowbit::gguf::type_block_size(nt) != 0) {
            nt = gt::q8_0;
        } else if (low_iquant_mix(f) || f == ftype::IQ3_XXS) {
            nt = gt::q5_K;
        } else if (nt != gt::q8_0) {
            nt = gt::q6_K;
        }
        reason = cat == category::output ? "output tensor" : "tied token embedding = output tensor";
    } else if (f == ftype::MXFP4_MOE) {
        // Expert stacks (3-D) get MXFP4, everything else Q8_0.
        nt = t.dims[2] > 1 ? gt::mxfp4 : gt::q8_0;
        reason = t.dims[2] > 1 ? "MXFP4_MOE: expert tensor" : "MXFP4_MOE: not an expert tensor";
    } else if (cat == category::token_embd) {
        if (f == ftype::TQ1_0 || f == ftype::TQ2_0) nt = gt::q4_K;
        else if (f == ftype::IQ2_S || f == ftype::IQ2_M || f == ftype::IQ3_XXS) nt = gt::iq3_s;
        else if (low_iquant_mix(f)) nt = gt::q2_K;
        reason = "token embedding";
    } else if (low_iquant_mix(f)) {
        // No 70B or 8-expert attn_v rule here, and ffn_down counts tensors even in MoE models.
        const gt lift = f == ftype::IQ2_S || f == ftype::IQ2_M ? gt::iq3_s : gt::q2_K;
        if (is_attn_v_like(cat)) {
            nt = gqa >= 4 || m.n_expert >= 4 ? gt::q4_K : lift;
            *why = fmt("recipe: %s attn_v, n_gqa %d, %d experts", o.tgt->name, gqa, m.n_expert);
            ++s.i_attn_v;
        } else if (cat == category::attn_k && m.n_expert == 8) {
            nt = gt::q4_K;
            reason = "recipe: attn_k of an 8-expert model";
        } else if (cat == category::ffn_down) {
            if (s.i_ffn_down < m.n_layer / 8) nt = lift;
            *why = fmt("recipe: ffn_down #%d of %d", s.i_ffn_down, m.n_layer);
            ++s.i_ffn_down;
        } else if (cat == category::attn_output) {
            if (m.n_expert == 8) nt = gt::q5_K;
            else if (f == ftype::IQ1_S || f == ftype::IQ1_M) nt = gt::iq2_xxs;
            else if (f == ftype::IQ2_S || f == ftype::IQ2_M) nt = gt::iq3_s;
            reason = "recipe: attn_output";
        }
    } else if (is_attn_v_like(cat)) {
        // attn_v, and the fused attn_qkv / attn_kv_b that contain it.
        const int i = s.i_attn_v, n = s.n_attn_v;
        if (f == ftype::Q2_K) nt = gqa >= 4 ? gt::q4_K : gt::q3_K;
        else if (f == ftype::Q2_K_S && gqa >= 4) nt = gt::q4_K;
        else if (f == ftype::IQ3_XXS) nt = gqa >= 4 ? gt::q4_K : o.has_imatrix ? gt::iq3_xxs : gt::iq3_s;
        else if (f == ftype::Q3_K_M) nt = i < 2 ? gt::q5_K : gt::q4_K;
        else if (f == ftype::Q3_K_L) nt = gt::q5_K;
        else if ((f == ftype::IQ4_NL || f == ftype::IQ4_XS) && gqa >= 4) nt = gt::q5_K;
        else if ((f == ftype::IQ3_XS || f == ftype::IQ3_S) && gqa >= 4) nt = gt::q4_K;
        else if (f == ftype::IQ3_M) nt = gt::q4_K;
        else if ((f == ftype::Q4_K_M || f == ftype::Q5_K_M) && use_more_bits(i, n)) nt = gt::q6_K;
        else if (f == ftype::Q4_K_S && i < 4) nt = gt::q5_K;
        // 70B: attn_v is 8x smaller than attn_q, so more bits cost little.
        if (m.is_70b() && (nt == gt::q3_K || nt == gt::q4_K)) nt = gt::q5_K;
        if (m.n_expert == 8) nt = gt::q8_0;
        *why = fmt("recipe: attn_v #%d of %d, n_gqa %d", i, n, gqa);
        ++s.i_attn_v;
    } else if (cat == category::attn_k || cat == category::attn_q) {
        // The IQ3_XXS and IQ3_XS mixes spend fewer bits on attn_q and attn_k.
        if (cat == category::attn_k && m.n_expert == 8) nt = gt::q8_0;
        else if (f == ftype::IQ3_XS) nt = gt::iq3_xxs;
        else if (f == ftype::IQ3_XXS) nt = gt::iq2_s;
        reason = m.n_expert == 8 && cat == category::attn_k ? "recipe: attn_k of an 8-expert model" : "recipe: attn_q/attn_k";
    } else if (cat == category::ffn_down) {
        int il = 0;
        LOWBIT_TRY(rule_layer(t, rname, m, s.i_ffn_down, &il));
        const int nl = m.n_layer;
        const bool more = use_more_bits(il, nl);
        if (f == ftype::Q2_K) nt = gt::q3_K;
        else if (f == ftype::Q2_K_S) { if (il < nl / 8) nt = gt::q4_K; }
        else if (f == ftype::IQ3_XXS && !o.has_imatrix) nt = il < nl / 8 ? gt::q4_K : gt::q3_K;
        else if (f == ftype::Q3_K_M) nt = il < nl / 16 ? gt::q5_K : (!falcon || more) ? gt::q4_K : gt::q3_K;
        else if (f == ftype::IQ3_M && (il < nl / 8 || (m.n_expert == 8 && more))) nt = gt::q4_K;
        else if (f == ftype::Q3_K_L) nt = falcon ? gt::q4_K : gt::q5_K;
        else if (f == ftype::Q4_K_M) {
            if (falcon) nt = il < nl / 16 ? gt::q6_K : more ? gt::q5_K : gt::q4_K;
            else if (more) nt = gt::q6_K;
        }
        else if (il < nl / 8 && (f == ftype::IQ4_NL || f == ftype::IQ4_XS) && !o.has_imatrix) nt = gt::q5_K;
        else if (f == ftype::Q5_K_M && more) nt = gt::q6_K;
        else if (f == ftype::Q4_K_S && !falcon && il < nl / 8) nt = gt::q5_K;
        else if ((f == ftype::Q4_0 || f == ftype::Q5_0) && o.has_imatrix && il < nl / 8)
            nt = f == ftype::Q4_0 ? gt::q4_1 : gt::q5_1;  // with an imatrix only: the first layers' ffn_down
        *why = fmt("recipe: ffn_down layer %d of %d", il, nl);
        ++s.i_ffn_down;
    } else if (cat == category::attn_output) {
        if (!falcon && m.n_expert == 8) {
            if (f == ftype::Q2_K || f == ftype::IQ3_XS || f == ftype::IQ3_XXS || f == ftype::Q3_K_S || f == ftype::Q3_K_M ||
                f == ftype::IQ4_NL || f == ftype::Q4_K_S || f == ftype::Q4_K_M || f == ftype::IQ4_XS || f == ftype::IQ3_S ||
                f == ftype::IQ3_M)
                nt = gt::q5_K;
        } else if (!falcon) {
            if (f == ftype::Q2_K) nt = gt::q3_K;
            else if (f == ftype::IQ3_XXS) nt = gt::iq3_s;
            else if (f == ftype::Q3_K_M) nt = gt::q4_K;
            else if (f == ftype::Q3_K_L) nt = gt::q5_K;
            else if (f == ftype::IQ3_M) nt = gt::q4_K;
        } else if (f == ftype::Q3_K_L) {
            nt = gt::q4_K;
        }
        reason = "recipe: attn_output";
    } else if (cat == category::ffn_gate || cat == category::ffn_up) {
        // IQ3_XS: IQ3_XXS outside the first and last eighth of the layers.
        int il = 0;
        int& counter = cat == category::ffn_gate ? s.i_ffn_gate : s.i_ffn_up;
        LOWBIT_TRY(rule_layer(t, rname, m, counter, &il));
        const int nl = m.n_layer;
        if (f == ftype::IQ3_XS && il >= nl / 8 && il < 7 * nl / 8) nt = gt::iq3_xxs;
        reason = "recipe: IQ3_XS, middle layers";
        ++counter;
    }
    if (nt != *type && why->empty() && reason) *why = reason;
    if (nt == *type) why->clear();
    *type = nt;
    return status();
}

}  // namespace detail

// llama.cpp's tensor order (its loader keeps tensors in a map keyed by layer,
// then name; tensors outside blk.<i> come first): the order llama-quantize
// writes them in and the order its per-layer counters advance in.
inline std::vector<std::size_t> llama_order(const std::vector<std::string>& names) {
    std::vector<std::size_t> order(names.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        const int la = layer_of(names[a]).value_or(-1), lb = layer_of(names[b]).value_or(-1);
        return la != lb ? la < lb : names[a] < names[b];
    });
    return order;
}

// Decides every tensor's type. Counters that depend on order (the n-th attn_v)
// advance in llama_order. A recipe that needs an importance matrix for some
// tensor and has none is refused (errc::unsupported), as llama.cpp does.
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
    const std::vector<std::size_t> order = llama_order(rnames);

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
        std::optional<lowbit_type> lb;
        if (o.lowbit && cats[i] != category::token_embd && cats[i] != category::output) lb = o.lowbit;
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
                    lb = r.lowbit;
                    why = "--tensor-type " + r.pattern;
                    manual = true;
                    break;
                }
            }
        }
        if (lb) {  // lowbit weights: any row length (the last group of a row may be shorter)
            // lowbit-llama and llama.cpp read the embedding and the output as ggml tensors.
            if (cats[i] == category::token_embd || cats[i] == category::output)
                return status::error(errc::unsupported, "tensor '%s' takes a ggml type, not the lowbit scheme of %s", t.name.c_str(),
                                     why.c_str());
            if (lb->codebook && t.dims[0] % 32 != 0) {  // codebooks have whole 32-value blocks; no 32-block ggml type fits either
                d.type = gguf_type::f16;
                d.convert = true;
                d.fell_back = true;
                d.why = detail::fmt("fallback: row length %llu is not a multiple of 32 (%s) -> F16", static_cast<unsigned long long>(t.dims[0]),
                                    lowbit_type_name(*lb).c_str());
                continue;
            }
            d.lowbit = lb;
            d.convert = true;
            d.why = why;
            continue;
        }
        if (!manual && quantized_recipe && !o.pure && !o.lowbit)
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
        // Also when the type was chosen by hand (--tensor-type), as in llama.cpp.
        d.needs_imatrix = requires_imatrix(rnames[i], nt, o.tgt->ftype);
        if (o.dry_run) continue;
        if (d.needs_imatrix && !o.has_imatrix)
            return status::error(errc::unsupported, "--type %s needs an importance matrix (--imatrix): tensor '%s' gets %s",
                                 o.tgt->name, t.name.c_str(), lowbit::gguf::type_name(nt));
        // ggml has no quantizer for these three without importance weights, not even
        // for the output or the token embedding (llama-quantize aborts there).
        if (!o.has_imatrix && (nt == gguf_type::iq2_xxs || nt == gguf_type::iq2_xs || nt == gguf_type::iq1_s))
            return status::error(errc::unsupported, "tensor '%s' gets %s (%s), which can only be quantized with an importance matrix (--imatrix)",
                                 t.name.c_str(), lowbit::gguf::type_name(nt), why.empty() ? o.tgt->name : why.c_str());
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
    std::optional<gguf_type> t = parse_tensor_type(tname);
    if (names_lowbit_type(tname)) {
        auto s = parse_lowbit_type(tname);
        if (!s) return status::error(errc::invalid_argument, "--tensor-type: %s", s.error().message());
        out->lowbit = *s;
        t = gguf_type::f32;  // unused: the tensor is written as lowbit weights
    }
    if (!t)
        return status::error(errc::invalid_argument, "--tensor-type: unknown type '%.*s' (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ4_NL, IQ4_XS, TQ1_0, TQ2_0, MXFP4, a lowbit scheme such as w4g128, or cb4, cb3, cb4-nf, cb3-nf)",
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
