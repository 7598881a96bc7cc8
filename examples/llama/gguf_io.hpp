// gguf_io.hpp — a LLaMA model to and from a GGUF file with llama.cpp's tensor
// names and `llama.*` metadata keys.
//
//   token_embd.weight [dim, vocab]    output_norm.weight [dim]    output.weight (absent: shared with token_embd)
//   blk.N.attn_norm.weight  blk.N.attn_q/k/v.weight  blk.N.attn_output.weight
//   blk.N.ffn_norm.weight   blk.N.ffn_gate.weight (w1)  blk.N.ffn_down.weight (w2)  blk.N.ffn_up.weight (w3)
// (dims in ggml order: the row length first). llama2.c's wq/wk already use the
// interleaved RoPE pairs of ggml's normal rope mode, so no permutation is needed.
//
// Loading maps the file (zero-copy parse: tensor spans point into the mapping),
// then: F32/F16/BF16 -> float; Q4_0/Q5_0/Q8_0 -> repacked losslessly into a
// lowbit qmatrix and run by lowbit's kernels; other block types -> dequantized
// to f32 at load (ggml_repack.hpp); lowbit weights (a lowbit GGUF,
// docs/formats.md "lowbit weights in GGUF") -> views into the mapping, run
// where they lie (linear::mapped; model::mapping keeps the file mapped). The file has no tokenizer (this model's is
// not available): llama.cpp itself would refuse it for that reason alone.
#pragma once

#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include <lowbit/formats/codebook.hpp>
#include <lowbit/formats/gguf.hpp>
#include <lowbit/formats/weights_gguf_reader.hpp>
#include <lowbit/formats/weights_gguf_writer.hpp>

#include "../common/input_file.hpp"
#include "../common/output_file.hpp"
#include "ggml_repack.hpp"
#include "runtime.hpp"
#include "vocab.hpp"

namespace llama {

// The model file as lowbit-llama opens it (../common/input_file.hpp): a
// regular file only, since the tool opens it more than once (the weights,
// later its vocabulary for --perplexity, --tokenize, --export-gguf), which a
// pipe cannot give; a FIFO is refused without waiting for a writer.
inline tool_files::input_options model_input() {
    tool_files::input_options o;
    o.regular_only = true;
    return o;
}

inline bool is_gguf(const std::uint8_t* p, std::size_t n) { return n >= 4 && std::memcmp(p, "GGUF", 4) == 0; }

// The model's shape from the `llama.*` keys of a parsed GGUF file (tensors
// not needed: `vocab_rows` is token_embd's row count); validated.
inline status read_config(const gg::gguf_file& f, std::uint64_t vocab_rows, config& c) {
    auto u = [&](const char* key, int& out) -> status {
        auto v = f.get_uint(key);
        if (!v) return v.error();
        out = static_cast<int>(std::min<std::uint64_t>(*v, 1u << 30));
        return {};
    };
    LOWBIT_TRY(u("llama.embedding_length", c.dim));
    LOWBIT_TRY(u("llama.feed_forward_length", c.hidden));
    LOWBIT_TRY(u("llama.block_count", c.layers));
    LOWBIT_TRY(u("llama.attention.head_count", c.heads));
    LOWBIT_TRY(u("llama.context_length", c.seq_len));
    c.kv_heads = c.heads;
    if (f.find_kv("llama.attention.head_count_kv")) LOWBIT_TRY(u("llama.attention.head_count_kv", c.kv_heads));
    if (auto e = f.get_float("llama.attention.layer_norm_rms_epsilon")) c.norm_eps = static_cast<float>(*e);
    if (auto t = f.get_float("llama.rope.freq_base")) c.rope_theta = static_cast<float>(*t);
    c.vocab = static_cast<int>(std::min<std::uint64_t>(vocab_rows, 1u << 30));
    return c.validate();
}

// A linear whose weights are lowbit weights of a lowbit GGUF (docs/formats.md,
// "lowbit weights in GGUF"): a view into the file (validated by the reader),
// of any scheme: its matmuls go through the kernel table (runtime.hpp, weights_of).
// Codebook weights (cb4, cb3) have int8 kernels only: decode_codebooks gives
// them their f32 values, which --path fma runs (runtime.hpp, runs_quantized).
inline result<linear> linear_from_mapped(const lowbit::weights_view& v, const std::string& name, std::size_t rows, std::size_t cols) {
    if (v.rows() != rows || v.cols() != cols)
        return status::error(errc::shape_mismatch, "gguf: %s is %zu x %zu, expected %zu x %zu", name.c_str(), v.rows(), v.cols(), rows, cols);
    linear l;
    l.rows = rows;
    l.cols = cols;
    char scheme[48];
    v.scheme().name(scheme, sizeof scheme);
    l.format = scheme;
    if (v.lay() == lowbit::layout::codebook) l.format = "cb" + std::to_string(v.scheme().bits);
    l.bytes = v.bytes();
    l.mapped = v;
    return l;
}

// The f32 values of every mapped codebook linear (4 bytes per weight), for the
// fma path and for requantizing (--scheme), as the ggml types without a lowbit
// repack have theirs; the int8 path runs the mapped blocks and needs none.
inline status decode_codebooks(model& m) {
    status st;
    for (layer& y : m.layers)
        y.for_each_linear([&](linear& l, const char*) {
            if (!st || !l.mapped || l.mapped->lay() != lowbit::layout::codebook || !l.w.empty()) return;
            l.w.resize(l.rows * l.cols);
            st = lowbit::codebook::dequantize(*l.mapped, lowbit::matrix_view<float>(l.w.data(), l.rows, l.cols));
        });
    return st;
}

// Loads a GGUF model from `bytes`; lowbit weights stay views into them (the
// caller keeps the bytes alive: load_model stores the mapping in the model).
// With `one_copy`, every weight is held once, in the form runs with those
// options read (keep_for, keep_what_runs in runtime.hpp): no export, --eval
// or requantizing afterwards.
// `file`, when the bytes are its mapping: the pages of every tensor copied
// out are given back as loading goes (input_file::release).
inline result<model> load_gguf(lowbit::span<const std::uint8_t> bytes, const run_options* one_copy = nullptr,
                               const tool_files::input_file* file = nullptr) {
    auto reader = lowbit::weights_gguf_reader::open(bytes);
    if (!reader) return reader.error();
    const gg::gguf_file& f = reader->file();
    auto arch = f.get_string("general.architecture");
    if (!arch) return arch.error();
    if (*arch != "llama")
        return status::error(errc::unsupported, "gguf: architecture '%.*s', expected llama", static_cast<int>(arch->size()), arch->data());
    model m;
    config& c = m.c;
    const gg::tensor_info* emb = f.find_tensor("token_embd.weight");
    if (!emb) return status::error(errc::corrupt_data, "gguf: no token_embd.weight");
    LOWBIT_TRY(read_config(f, emb->rows(), c));

    // A tensor of the expected shape, as floats or as a linear layer.
    auto find = [&](const std::string& name, std::size_t rows, std::size_t cols, const gg::tensor_info** out) -> status {
        const gg::tensor_info* t = f.find_tensor(name);
        if (!t) return status::error(errc::corrupt_data, "gguf: tensor %s is missing", name.c_str());
        if (t->row_length() != cols || t->rows() != rows)
            return status::error(errc::shape_mismatch, "gguf: %s is %llu x %llu, expected %zu x %zu", name.c_str(),
                                 static_cast<unsigned long long>(t->rows()), static_cast<unsigned long long>(t->row_length()), rows, cols);
        if (!gg::has_row_decoder(t->type))
            return status::error(errc::unsupported, "gguf: %s has type %s, which lowbit cannot decode", name.c_str(), gg::type_name(t->type));
        *out = t;
        return {};
    };
    auto floats = [&](const std::string& name, std::size_t rows, std::size_t cols, std::vector<float>& out) -> status {
        const gg::tensor_info* t = nullptr;
        LOWBIT_TRY(find(name, rows, cols, &t));
        out.resize(rows * cols);
        LOWBIT_TRY(gg::dequantize_row(t->type, t->data.data(), out.data(), static_cast<std::int64_t>(rows * cols)));
        if (file) file->release(t->data);
        return {};
    };
    auto lin = [&](const std::string& name, std::size_t rows, std::size_t cols, linear& out) -> status {
        if (reader->is_lowbit(name)) {
            auto l = linear_from_mapped(*reader->find(name), name, rows, cols);
            if (!l) return l.error();
            out = std::move(*l);
            return {};
        }
        const gg::tensor_info* t = nullptr;
        LOWBIT_TRY(find(name, rows, cols, &t));
        auto l = linear_from_ggml(t->type, t->data.data(), rows, cols, one_copy ? keep_for(t->type, *one_copy) : ggml_keep{});
        if (!l) return l.error();
        out = std::move(*l);
        if (t->type == gg::gguf_type::f32) out.gguf_data.clear();  // plain floats: nothing to keep
        if (file) file->release(t->data);
        return {};
    };
    const std::size_t D = c.dim, H = c.hidden, KV = c.kv_dim(), V = c.vocab;
    // The classifier's blocks, for the int8 path (model::classifier_blocks);
    // one copy: the blocks on the int8 path when it runs them, else the floats.
    const bool tied = !f.find_tensor("output.weight");
    const gg::tensor_info* cls = tied ? emb : f.find_tensor("output.weight");
    const bool cls_blocks = gg::matmul_supported(cls->type);
    const bool cls_int8 = one_copy && one_copy->matmul.path == lowbit::matmul_path::int8_dot;
    const bool keep_cls_blocks = cls_blocks && !(one_copy && !cls_int8);
    // The token embedding: F32 as floats; any other type in its blocks, a row
    // decoded per token (model::embed), unless a tied classifier may run on
    // f32 values (every load but a one-copy one for the int8 path on blocks
    // gguf::gemv runs): then the f32 values serve both, as they always did.
    // Tied and on blocks, the embedding reads the classifier's blocks: one copy.
    if (emb->type == gg::gguf_type::f32 || (tied && !(cls_int8 && cls_blocks))) {
        LOWBIT_TRY(floats("token_embd.weight", V, D, m.tok_emb));
    } else {
        const gg::tensor_info* t = nullptr;
        LOWBIT_TRY(find("token_embd.weight", V, D, &t));
        m.tok_type = t->type;
        if (tied) {
            m.tok_in_classifier = true;  // keep_cls_blocks holds: the blocks are copied below
        } else {
            m.tok_blocks.assign(t->data.data(), t->data.data() + V * gg::row_size(t->type, D));
            if (file) file->release(t->data);
        }
    }
    LOWBIT_TRY(floats("output_norm.weight", 1, D, m.final_norm));
    if (!tied && !(cls_int8 && cls_blocks)) LOWBIT_TRY(floats("output.weight", V, D, m.classifier));
    m.classifier_in_blocks_only = !tied && cls_int8 && cls_blocks;
    if (const gg::tensor_info* t = cls; keep_cls_blocks) {
        linear& cb = m.classifier_blocks;
        cb.rows = V, cb.cols = D, cb.gguf_type = t->type, cb.format = ggml_format_name(t->type);
        cb.bytes = V * gg::row_size(t->type, D);
        cb.gguf_data.assign(t->data.data(), t->data.data() + cb.bytes);
        if (file) file->release(t->data);
    }
    m.layers.resize(c.layers);
    std::string formats;
    for (int l = 0; l < c.layers; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        layer& y = m.layers[l];
        LOWBIT_TRY(floats(p + "attn_norm.weight", 1, D, y.att_norm));
        LOWBIT_TRY(floats(p + "ffn_norm.weight", 1, D, y.ffn_norm));
        LOWBIT_TRY(lin(p + "attn_q.weight", D, D, y.wq));
        LOWBIT_TRY(lin(p + "attn_k.weight", KV, D, y.wk));
        LOWBIT_TRY(lin(p + "attn_v.weight", KV, D, y.wv));
        LOWBIT_TRY(lin(p + "attn_output.weight", D, D, y.wo));
        LOWBIT_TRY(lin(p + "ffn_gate.weight", H, D, y.w1));
        LOWBIT_TRY(lin(p + "ffn_down.weight", D, H, y.w2));
        LOWBIT_TRY(lin(p + "ffn_up.weight", H, D, y.w3));
    }
    // Name the file's scheme after its attention type (e.g. "gguf:q5_0").
    m.scheme = std::string("gguf:") + m.layers[0].wq.format;
    return m;
}

// Writes `m` as GGUF. Float linears are written as F32; linears quantized to a
// ggml type keep their exact blocks; lowbit schemes (w4g128, GPTQ) are written
// as lowbit weights (docs/formats.md, "lowbit weights in GGUF") in the layout
// the engine runs (tiled when it has the tiled copy), so that loading the file
// runs the same bytes. With `v`, the vocabulary goes along (tokenizer.ggml.*).
// The lowbit weights a quantized linear runs (its tiled copy when it has one).
inline result<lowbit::weights_view> lowbit_view_of(const linear& l) {
    if (l.mapped) return *l.mapped;
    lowbit::weights_desc d;
    d.scheme = l.q.scheme;
    d.rows = l.rows;
    d.cols = l.cols;
    const auto& st = l.q.storage;
    if (l.has_tiled) {
        d.lay = lowbit::layout::tiled;
        d.group = l.tiled.group;
        d.codes = l.tiled.codes.data();
        d.scales = l.tiled.scales.data();
        d.perm = l.tiled.perm.empty() ? nullptr : l.tiled.perm.data();
    } else {
        d.lay = lowbit::layout::dense;
        d.group = st.layout.group;
        d.row_bytes = st.layout.row_bytes;
        d.codes = st.codes.data();
        d.scales = st.scales_16.data();  // engine schemes: f16 scales, symmetric
        d.perm = st.perm.empty() ? nullptr : st.perm.data();
    }
    return lowbit::make_weights(d);
}

// Writes `m` to `path` as every tool writes a file (../common/output_file.hpp):
// a temporary file next to it, renamed over `path` only when complete; `path`
// must not be one of `inputs` (the model file, the plan) nor anything but a
// regular file. Errors about the file name `path`; a refused `path` is
// invalid_argument.
inline status export_gguf(const model& m, const char* path, const char* name = "lowbit-llama", const vocab* v = nullptr,
                          const std::vector<tool_files::input_path>& inputs = {}) {
    namespace g = lowbit::gguf;
    for (const layer& y : m.layers) {
        status st;
        y.for_each_linear([&](const linear& l, const char* t) {
            if (st && l.rot)
                st = status::error(errc::unsupported, "%s is quantized with an input rotation (%s), which GGUF cannot say; export a scheme without -rot",
                                   t, l.format.c_str());
        });
        LOWBIT_TRY(st);
    }
    g::gguf_writer w;
    const config& c = m.c;
    auto u32 = [](int v) { return g::meta_value::u32(static_cast<std::uint32_t>(v)); };
    LOWBIT_TRY(w.set("general.architecture", g::meta_value::string("llama")));
    LOWBIT_TRY(w.set("general.name", g::meta_value::string(name)));
    LOWBIT_TRY(w.set("llama.context_length", u32(c.seq_len)));
    LOWBIT_TRY(w.set("llama.embedding_length", u32(c.dim)));
    LOWBIT_TRY(w.set("llama.feed_forward_length", u32(c.hidden)));
    LOWBIT_TRY(w.set("llama.block_count", u32(c.layers)));
    LOWBIT_TRY(w.set("llama.attention.head_count", u32(c.heads)));
    LOWBIT_TRY(w.set("llama.attention.head_count_kv", u32(c.kv_heads)));
    LOWBIT_TRY(w.set("llama.rope.dimension_count", u32(c.head_size())));
    LOWBIT_TRY(w.set("llama.rope.freq_base", g::meta_value::f32(c.rope_theta)));
    LOWBIT_TRY(w.set("llama.attention.layer_norm_rms_epsilon", g::meta_value::f32(c.norm_eps)));
    LOWBIT_TRY(w.set("llama.vocab_size", u32(c.vocab)));
    if (v) {
        if (v->size() != c.vocab)
            return status::error(errc::shape_mismatch, "the vocabulary has %d tokens, the model %d", v->size(), c.vocab);
        LOWBIT_TRY(write_vocab(w, *v));
    }

    struct item {
        std::string name;
        g::gguf_type type;
        std::uint64_t cols, rows;
        const std::uint8_t* data;
        std::optional<lowbit::weights_view> lowbit;  // lowbit weights instead of a plain tensor
    };
    std::vector<item> items;
    auto add_floats = [&](std::string n, const std::vector<float>& v, std::size_t rows) {
        items.push_back({std::move(n), g::gguf_type::f32, v.size() / rows, rows, reinterpret_cast<const std::uint8_t*>(v.data()), {}});
    };
    status bad;
    auto add_linear = [&](std::string n, const linear& l) {
        // quantized to a lowbit scheme: gguf_data, if any, is the float source (F16/BF16), not these weights
        if (l.mapped || (l.quantized && !g::is_quantized(l.gguf_type))) {
            auto lv = lowbit_view_of(l);
            if (!lv && bad) bad = lv.error();
            if (lv) items.push_back({std::move(n), g::gguf_type::f32, l.cols, l.rows, nullptr, *lv});
        } else if (!l.gguf_data.empty()) {
            items.push_back({std::move(n), l.gguf_type, l.cols, l.rows, l.gguf_data.data(), {}});
        } else if (g::is_quantized(l.gguf_type) || l.w.size() != l.rows * l.cols) {
            if (bad) bad = status::error(errc::invalid_argument, "%s: its %s weights were loaded for a run (one copy: load_model's one_copy), "
                                         "not for export", n.c_str(), l.format.c_str());
        } else {
            items.push_back({std::move(n), g::gguf_type::f32, l.cols, l.rows, reinterpret_cast<const std::uint8_t*>(l.w.data()), {}});
        }
    };
    // The token embedding as it is held: f32 values, or its blocks (the
    // file's bytes again; tied, the classifier's blocks).
    if (!m.tok_emb.empty()) add_floats("token_embd.weight", m.tok_emb, static_cast<std::size_t>(c.vocab));
    else if (const std::uint8_t* rows = m.tok_rows()) items.push_back({"token_embd.weight", m.tok_type, static_cast<std::uint64_t>(c.dim), static_cast<std::uint64_t>(c.vocab), rows, {}});
    else return status::error(errc::invalid_argument, "token_embd.weight was not loaded");
    add_floats("output_norm.weight", m.final_norm, 1);
    if (!m.classifier.empty()) {
        add_floats("output.weight", m.classifier, static_cast<std::size_t>(c.vocab));
    } else if (m.classifier_in_blocks_only) {  // else the next load would take the embedding for the classifier
        const linear& cb = m.classifier_blocks;
        if (cb.gguf_data.size() != static_cast<std::size_t>(c.vocab) * static_cast<std::size_t>(g::row_size(cb.gguf_type, c.dim)))
            return status::error(errc::invalid_argument, "output.weight was loaded for a run (one copy: load_model's one_copy), not for export");
        items.push_back({"output.weight", cb.gguf_type, static_cast<std::uint64_t>(c.dim), static_cast<std::uint64_t>(c.vocab), cb.gguf_data.data(), {}});
    }
    for (int l = 0; l < c.layers; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        const layer& y = m.layers[l];
        add_floats(p + "attn_norm.weight", y.att_norm, 1);
        y.for_each_linear([&](const linear& x, const char* n) { add_linear(p + n + ".weight", x); });
        add_floats(p + "ffn_norm.weight", y.ffn_norm, 1);
    }
    LOWBIT_TRY(bad);
    lowbit::weights_gguf_writer lw(w);
    for (const item& it : items) {
        if (it.lowbit) LOWBIT_TRY(lw.declare(it.name, *it.lowbit));
        else if (it.rows == 1) LOWBIT_TRY(w.add_tensor(it.name, it.type, {it.cols}));
        else LOWBIT_TRY(w.add_tensor(it.name, it.type, {it.cols, it.rows}));
    }
    const status st = tool_files::write_output(path, inputs, [&](tool_files::output_file& out) -> status {
        const g::byte_sink sink(&out, tool_files::output_file::write_to);
        LOWBIT_TRY(lw.write_header(sink));
        for (const item& it : items) {
            const std::size_t n = static_cast<std::size_t>(g::row_size(it.type, static_cast<std::int64_t>(it.cols)) * it.rows);
            LOWBIT_TRY(it.lowbit ? lw.write(it.name, *it.lowbit) : w.write_tensor(it.name, lowbit::span<const std::uint8_t>(it.data, n)));
        }
        return w.finish();
    });
    return st ? st : status::error(st.code(), "%s: %s", path, st.message());
}

// Loads a llama2.c checkpoint or a GGUF file (by its magic); `one_copy` as
// load_gguf, with the f32 values of codebook linears decoded where the fma
// path runs them. The file stays mapped only while lowbit weights point into it:
// everything else is copied out, and unmapping gives its pages back.
inline result<model> load_model(const char* path, const run_options* one_copy = nullptr) {
    auto f = tool_files::open_input(path, model_input());
    if (!f) return f.error();
    const auto b = (*f)->bytes();
    if (!is_gguf(b.data(), b.size())) return load_llama2c(b, path);
    auto m = load_gguf(b, one_copy, f->get());
    if (!m) return m;
    bool views = false;
    for (const layer& y : m->layers) y.for_each_linear([&](const linear& l, const char*) { views = views || l.mapped.has_value(); });
    if (views) m->mapping = std::shared_ptr<const tool_files::input_file>(std::move(*f));  // lowbit weights point into it
    if (one_copy) {
        if (one_copy->tiled) tile_model(*m);
        // --path fma runs codebook linears on their f32 values: decoded before
        // keep_what_runs settles what stays, so that one pass suffices.
        if (one_copy->matmul.path != lowbit::matmul_path::int8_dot)
            if (auto st = decode_codebooks(*m); !st) return st;
        keep_what_runs(*m, *one_copy);
    }
    return m;
}

}  // namespace llama
