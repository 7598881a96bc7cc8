// rotate.hpp — QuaRot's rotations that fold offline into a LLaMA checkpoint
// (--rotate, --rotate-seed N), so the output is still a plain LLaMA GGUF that
// llama.cpp runs unchanged, with the same function up to f32 rounding, while
// its weights are incoherent (no outlier columns) and quantize better.
//
// Residual stream. Q = the randomized Hadamard rotation over the model width
// D (lowbit/quant/hadamard.hpp). Every RMSNorm's gain g is first folded into
// the linears that read the norm (W <- W diag(g)) and set to 1; a gain-free
// RMSNorm commutes with Q (|Q x| = |x|), so with the stream r replaced by Q r:
//   token_embd        each row e      -> Q e          (the stream starts as Q r)
//   attn_q/k/v, ffn_gate/up, output   W diag(g) Q^T  (each row w -> Q (g * w))
//   attn_output, ffn_down             Q W            (each column c -> Q c)
// Values. Q_v = a randomized Hadamard over the head size: each head's value
// vector v -> Q_v v (attn_v's rows, per kv head) and attn_output's columns of
// each query head rotate by Q_v as well (W_o <- W_o diag(Q_v^T)); attention
// mixes a head's value vectors linearly, so Q_v passes through it. One Q_v for
// every head, so the query heads that share a kv head (GQA) agree.
//
// The rotated tensors replace the source's (F32, in memory); calibration and
// every method then see the rotated model. A tensor the recipe keeps is
// written in its input type (kept_type). A model without output.weight (tied
// to token_embd) is refused: the folded output needs its own tensor.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <string>
#include <vector>

#include <lowbit/quant/hadamard.hpp>

#include "calibrate.hpp"  // detail::load_f32, view_metadata, llama::read_config
#include "files.hpp"
#include "model_source.hpp"

namespace lbq {

// The rotated tensors' bytes, which the source's tensors point into.
struct rotated_weights {
    std::list<std::vector<float>> data;  // a list: its elements never move
    // The "file" of a rotated tensor: it maps nothing, so the writer's
    // release of pages it is done with (input_file::release) does nothing.
    input_file none;
};

namespace detail {

inline status rotation_error(const status& s, const std::string& name) {
    return status::error(s.code(), "--rotate: tensor %s: %s", printable(name, 60).c_str(), s.message());
}

// Points `t` at `v` (f32, output row order), kept in the input's type.
inline void replace_with_rotated(source_tensor& t, std::vector<float> v, rotated_weights& store) {
    if (!t.kept_type) t.kept_type = t.desc.type;
    store.data.push_back(std::move(v));
    const std::vector<float>& mine = store.data.back();
    t.desc.type = gguf_type::f32;
    t.data = reinterpret_cast<const std::uint8_t*>(mine.data());
    t.n_bytes = mine.size() * sizeof(float);
    t.row_order.clear();
    t.file = &store.none;
}

inline void scale_columns(std::vector<float>& w, std::size_t cols, const std::vector<float>& g) {
    for (std::size_t i = 0; i < w.size(); ++i) w[i] *= g[i % cols];
}

}  // namespace detail

// Folds the norms and rotates src's LLaMA weights in place (see the top).
// On an error src may be partly rotated; the caller writes nothing then.
inline status rotate_llama(model_source& src, std::uint64_t seed, rotated_weights& store) {
    std::map<std::string, source_tensor*> by_name;
    for (source_tensor& t : src.tensors) by_name[t.desc.name] = &t;
    auto meta = view_metadata(src.kvs);
    if (!meta) return meta.error();
    auto arch = meta->file.get_string("general.architecture");
    if (!arch || *arch != "llama") return status::error(errc::unsupported, "--rotate folds into LLaMA models (general.architecture = llama) only");
    const auto emb = by_name.find("token_embd.weight");
    if (emb == by_name.end()) return status::error(errc::unsupported, "--rotate needs token_embd.weight");
    if (by_name.find("output.weight") == by_name.end())
        return status::error(errc::unsupported, "--rotate needs output.weight: this model ties its output to token_embd, and the "
                                                "folded output_norm would change the embedding too");
    llama::config c;
    LOWBIT_TRY(llama::read_config(meta->file, emb->second->rows(), c));
    const std::size_t D = static_cast<std::size_t>(c.dim), hd = static_cast<std::size_t>(c.head_size());
    auto q = lowbit::hadamard_rotation::make(D, seed);
    if (!q) return q.error();
    auto qv = lowbit::hadamard_rotation::make(hd, seed ^ 0x9e3779b97f4a7c15ull);  // another sign vector, the same seed
    if (!qv) return qv.error();

    // Loads a tensor as f32 rows, checking its row length.
    auto load = [&](const std::string& name, std::size_t row_length, std::vector<float>& w) -> result<source_tensor*> {
        const auto it = by_name.find(name);
        if (it == by_name.end()) return status::error(errc::corrupt_data, "--rotate: tensor %s is missing", printable(name, 60).c_str());
        source_tensor& t = *it->second;
        if (t.imported || !(t.desc.type == gguf_type::f32 || t.desc.type == gguf_type::f16 || t.desc.type == gguf_type::bf16))
            return status::error(errc::unsupported, "--rotate: tensor %s has type %s; rotations need F32/F16/BF16 weights",
                                 printable(name, 60).c_str(), t.imported ? "(a quantized checkpoint's)" : gguf::type_name(t.desc.type));
        if (t.row_length() != row_length)
            return status::error(errc::shape_mismatch, "--rotate: tensor %s has rows of %llu values, expected %zu", printable(name, 60).c_str(),
                                 static_cast<unsigned long long>(t.row_length()), row_length);
        if (status s = detail::load_f32(t, w); !s.ok()) return detail::rotation_error(s, name);
        return &t;
    };
    // A norm's gain, then replaced by ones.
    auto take_gain = [&](const std::string& name, std::vector<float>& g) -> status {
        auto t = load(name, D, g);
        if (!t) return t.error();
        if (g.size() != D) return status::error(errc::shape_mismatch, "--rotate: %s has %zu values, expected %zu", name.c_str(), g.size(), D);
        detail::replace_with_rotated(**t, std::vector<float>(D, 1.0f), store);
        return status();
    };
    // A reader of a norm: W diag(g) Q^T.
    auto reader = [&](const std::string& name, const std::vector<float>& g) -> status {
        std::vector<float> w;
        auto t = load(name, D, w);
        if (!t) return t.error();
        detail::scale_columns(w, D, g);
        if (status s = q->apply_rows(w, w.size() / D); !s.ok()) return detail::rotation_error(s, name);
        detail::replace_with_rotated(**t, std::move(w), store);
        return status();
    };

    std::vector<float> w, g;
    {
        auto t = load("token_embd.weight", D, w);
        if (!t) return t.error();
        if (status s = q->apply_rows(w, w.size() / D); !s.ok()) return detail::rotation_error(s, "token_embd.weight");
        detail::replace_with_rotated(**t, std::move(w), store);
    }
    LOWBIT_TRY(take_gain("output_norm.weight", g));
    LOWBIT_TRY(reader("output.weight", g));
    for (int l = 0; l < c.layers; ++l) {
        const std::string pre = "blk." + std::to_string(l) + ".";
        LOWBIT_TRY(take_gain(pre + "attn_norm.weight", g));
        for (const char* n : {"attn_q.weight", "attn_k.weight"}) LOWBIT_TRY(reader(pre + n, g));
        {  // attn_v: W diag(g) Q^T, then each kv head's rows rotated by Q_v
            const std::string name = pre + "attn_v.weight";
            w.clear();
            auto t = load(name, D, w);
            if (!t) return t.error();
            detail::scale_columns(w, D, g);
            if (w.size() % (hd * D) != 0)
                return status::error(errc::shape_mismatch, "--rotate: %s has %zu rows, not whole heads of %zu", name.c_str(), w.size() / D, hd);
            status s = q->apply_rows(w, w.size() / D);
            for (std::size_t h = 0; s.ok() && h < w.size(); h += hd * D) s = qv->apply_columns(lowbit::span<float>(w.data() + h, hd * D), D);
            if (!s.ok()) return detail::rotation_error(s, name);
            detail::replace_with_rotated(**t, std::move(w), store);
        }
        {  // attn_output: Q W, its columns of each head rotated by Q_v
            const std::string name = pre + "attn_output.weight";
            w.clear();
            auto t = load(name, D, w);
            if (!t) return t.error();
            if (w.size() != D * D) return status::error(errc::shape_mismatch, "--rotate: %s is not %zu x %zu", name.c_str(), D, D);
            status s = qv->apply_rows(w, w.size() / hd);
            if (s.ok()) s = q->apply_columns(w, D);
            if (!s.ok()) return detail::rotation_error(s, name);
            detail::replace_with_rotated(**t, std::move(w), store);
        }
        LOWBIT_TRY(take_gain(pre + "ffn_norm.weight", g));
        for (const char* n : {"ffn_gate.weight", "ffn_up.weight"}) LOWBIT_TRY(reader(pre + n, g));
        {  // ffn_down: Q W
            const std::string name = pre + "ffn_down.weight";
            w.clear();
            auto t = load(name, static_cast<std::size_t>(c.hidden), w);
            if (!t) return t.error();
            if ((*t)->rows() != D) return status::error(errc::shape_mismatch, "--rotate: %s has %llu rows, expected %zu", name.c_str(),
                                                         static_cast<unsigned long long>((*t)->rows()), D);
            if (status s = q->apply_columns(w, static_cast<std::size_t>(c.hidden)); !s.ok()) return detail::rotation_error(s, name);
            detail::replace_with_rotated(**t, std::move(w), store);
        }
    }
    // Provenance only: llama.cpp ignores keys it does not know.
    src.kvs.emplace_back("lowbit.rotation", gguf::meta_value::string("QuaRot residual (Hadamard " + std::to_string(q->block()) + "-blocks) + per-head values, seed " +
                                                                      std::to_string(seed)));
    return status();
}

}  // namespace lbq
