// model.hpp — the weights of a LLaMA-architecture model and the llama2.c
// checkpoint loader. Every weight matrix is row-major [out, in], the layout of
// lowbit's qmatrix (N outputs x K inputs), so nothing is transposed anywhere.
//
// A linear layer is either float (f32 weights, run by a plain matvec) or a
// lowbit any_qmatrix (run by lowbit::gemv). Quantizing here leaves the
// embedding, norms and the shared classifier float: they are a small part of a
// real model's bytes and the most sensitive part of its quality
// (docs/embedding.md, "What to keep in float"). A GGUF that stores its token
// embedding quantized keeps it in its blocks, a row decoded per token (embed).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <lowbit/lowbit.hpp>
#include <lowbit/formats/gguf_matmul.hpp>
#include <lowbit/formats/gguf_types.hpp>
#include <lowbit/quant/hadamard.hpp>

#include "../common/input_file.hpp"

namespace llama {

using lowbit::errc;
using lowbit::result;
using lowbit::status;

struct config {
    int dim = 0, hidden = 0, layers = 0, heads = 0, kv_heads = 0, vocab = 0, seq_len = 0;
    float rope_theta = 10000.0f;
    float norm_eps = 1e-5f;

    int head_size() const { return dim / heads; }
    int kv_dim() const { return dim / heads * kv_heads; }

    status validate() const {
        if (dim <= 0 || dim > 65536 || hidden <= 0 || hidden > 262144 || layers <= 0 || layers > 1024 || heads <= 0 ||
            kv_heads <= 0 || dim % heads || heads % kv_heads || (dim / heads) % 2 || vocab <= 0 || vocab > (1 << 22) ||
            seq_len <= 0 || seq_len > (1 << 22))
            return status::error(errc::corrupt_data,
                                 "implausible config: dim %d hidden %d layers %d heads %d kv_heads %d vocab %d seq_len %d", dim,
                                 hidden, layers, heads, kv_heads, vocab, seq_len);
        return {};
    }
};

// y = W x for one weight W (rows x cols).
struct linear {
    std::size_t rows = 0, cols = 0;
    std::vector<float> w;  // float weights, when !quantized
    lowbit::any_qmatrix q; // lowbit weights, when quantized
    bool quantized = false;
    std::string format = "f32";  // how the weight is stored: f32, f16, w4g32, w4g32-gptq, q4_0, q5_0, ...
    std::size_t bytes = 0;       // bytes of the weight in that format (as in a file)
    // The GGUF block bytes when the weight came from (or was quantized to) a ggml type.
    lowbit::gguf::gguf_type gguf_type = lowbit::gguf::gguf_type::f32;
    std::vector<std::uint8_t> gguf_data;
    // The quantized weights again in lowbit's tiled kernel layout
    // (lowbit::repack_tiled), which matvec runs when present (tile_model in
    // runtime.hpp): the layout lowbit's kernels stream fastest.
    struct tiled_weights {
        std::vector<std::uint8_t> codes;
        std::vector<std::uint16_t> scales;  // f16 bits: the engine's schemes have f16 scales
        std::vector<std::int32_t> perm;
        std::size_t tiles = 0, blocks = 0, groups = 0, blocks_per_group = 0;
        int group = 0;
    } tiled;
    bool has_tiled = false;
    // lowbit weights read from a lowbit GGUF (gguf_io.hpp): a view into the
    // mapped file (model::mapping keeps it), run where it lies, no copy.
    std::optional<lowbit::weights_view> mapped;
    // A mapped codebook linear again in the tiled codebook layout
    // (lowbit::repack(w, layout::tiled_codebook); tile_linear), which the int8
    // path runs when o.tiled, as it runs the tiled copy of other weights.
    lowbit::weights mapped_tiled;
    // A Q4_K / Q5_K / Q6_K linear's blocks again in the tiled K-quant layout
    // (lowbit::repack(w, layout::tiled_kquant)), an IQ4_NL linear's in the
    // tiled codebook layout (repack(w, layout::tiled_codebook): IQ4_NL is a
    // 4-bit codebook on a fixed grid); tile_linear / tile_blocks. The int8
    // path runs it when o.tiled instead of the blocks (gguf_data stays:
    // export and the f32 path read it).
    lowbit::weights blocks_tiled;
    // Why tile_linear left this linear off its tiled layout (the repack's
    // error), empty when it tiled or has no tiled form; layout_summary names it.
    std::string untiled_reason;
    // The -rot schemes quantize W Q^T (Q: a randomized Hadamard rotation of the
    // inputs) so that outliers of a row spread over its group; matvec then
    // computes (W Q^T)(Q x) = W x by rotating x first. Copies share Q.
    std::shared_ptr<const lowbit::hadamard_rotation> rot;

    std::size_t params() const { return rows * cols; }
    // Whether the int8 path runs this weight on its GGUF blocks or on their
    // tiled copy (lowbit::gguf::gemv, kquant::gemv or the tiled codebook
    // kernels; activations quantized to Q8_0 / Q8_K). Q4_0/Q5_0/Q8_0 are repacked into
    // lowbit's kernels instead (ggml_repack.hpp); the other ggml types
    // otherwise run their f32 copy. One form is enough: a model that holds one
    // copy (keep_what_runs) may have released the blocks after tiling them.
    bool runs_on_blocks() const {
        return (!gguf_data.empty() || !blocks_tiled.empty()) && !quantized && lowbit::gguf::matmul_supported(gguf_type);
    }
    // Bytes this linear holds in memory, every form counted (f32 values, GGUF
    // blocks, qmatrix, tiled copies; a mapped view counts its bytes in the
    // file mapping): what lowbit-llama's size line adds up.
    std::size_t held_bytes() const {
        std::size_t b = w.size() * sizeof(float) + gguf_data.size() + q.storage.bytes();
        b += tiled.codes.size() + tiled.scales.size() * 2 + tiled.perm.size() * 4;
        if (mapped) b += mapped->bytes();
        if (!mapped_tiled.empty()) b += mapped_tiled.view().bytes();
        if (!blocks_tiled.empty()) b += blocks_tiled.view().bytes();
        return b;
    }
    static linear from_floats(std::size_t rows, std::size_t cols, const float* src) {
        linear l;
        l.rows = rows;
        l.cols = cols;
        l.w.assign(src, src + rows * cols);
        l.bytes = rows * cols * sizeof(float);
        return l;
    }
};

// What loading keeps of a weight stored in a ggml type (linear_from_ggml).
// The default keeps every form: the blocks (export writes them back) and, for
// the types without a lowbit scheme, their f32 values (the fma path,
// requantizing). A model loaded for one kind of run keeps one copy
// (keep_for in runtime.hpp): the f32 values for the fma path, the blocks or
// their tiled copy (blocks_tiled) for the int8 path; the tiles are then made from
// the file's bytes and the blocks never copied.
struct ggml_keep {
    bool blocks = true, floats = true, block_tiles = false;
};

struct layer {
    std::vector<float> att_norm, ffn_norm;  // RMSNorm gains [dim]
    linear wq, wk, wv, wo;                  // attention: [dim,dim] [kv,dim] [kv,dim] [dim,dim]
    linear w1, w2, w3;                      // SwiGLU: gate [hidden,dim], down [dim,hidden], up [hidden,dim]

    template <class F>
    void for_each_linear(F&& f) {
        f(wq, "attn_q"), f(wk, "attn_k"), f(wv, "attn_v"), f(wo, "attn_output");
        f(w1, "ffn_gate"), f(w2, "ffn_down"), f(w3, "ffn_up");
    }
    template <class F>
    void for_each_linear(F&& f) const {
        f(wq, "attn_q"), f(wk, "attn_k"), f(wv, "attn_v"), f(wo, "attn_output");
        f(w1, "ffn_gate"), f(w2, "ffn_down"), f(w3, "ffn_up");
    }
};

struct model {
    config c;
    // The token embedding [vocab, dim] as f32 values: a llama2.c checkpoint's,
    // a synthetic model's, a GGUF's F32 token_embd.weight, or a quantized one
    // decoded whole when a tied classifier runs on f32 values (load_gguf).
    // Empty when the embedding is held in its GGUF type (tok_blocks).
    std::vector<float> tok_emb;
    // token_embd.weight in the type the file stores it in (F16, BF16, any
    // quantized type with a row decoder) when tok_emb is empty: vocab rows of
    // gguf::row_size(tok_type, dim) bytes, one decoded per token (embed). With
    // a tied classifier whose blocks the int8 path runs, the rows are
    // classifier_blocks.gguf_data (tok_in_classifier) and tok_blocks stays
    // empty: one copy serves both.
    lowbit::gguf::gguf_type tok_type = lowbit::gguf::gguf_type::f32;
    std::vector<std::uint8_t> tok_blocks;
    bool tok_in_classifier = false;
    std::vector<float> final_norm;  // [dim]
    std::vector<float> classifier;  // [vocab, dim]; empty: shared with the token embedding
    // The classifier's GGUF blocks (output.weight, or token_embd.weight when
    // tied) when the file stores them in a type gguf::gemv runs: the int8 path
    // uses them, as llama.cpp does, instead of the f32 copy above.
    linear classifier_blocks;
    // output.weight (not tied) is held only in classifier_blocks: a one-copy
    // load for the int8 path on blocks it runs, where `classifier` stays
    // empty. export_gguf writes those blocks then, and refuses if they are gone.
    bool classifier_in_blocks_only = false;
    std::vector<layer> layers;
    std::string scheme = "f32";     // what the linear layers were quantized with
    std::shared_ptr<const void> mapping;  // the file the linears' `mapped` views point into

    // The f32 classifier (tied: the f32 token embedding). Only paths that run
    // the classifier on f32 values read it; a model whose tied embedding is
    // held in blocks has none, and load_gguf keeps tok_emb for such paths.
    const float* cls() const { return classifier.empty() ? tok_emb.data() : classifier.data(); }

    // The rows of the token embedding in tok_type, when held in blocks; else null.
    const std::uint8_t* tok_rows() const {
        if (!tok_emb.empty()) return nullptr;
        if (tok_in_classifier) return classifier_blocks.gguf_data.empty() ? nullptr : classifier_blocks.gguf_data.data();
        return tok_blocks.empty() ? nullptr : tok_blocks.data();
    }
    // Bytes of the embedding's blocks (the tensor in the file), 0 when held as f32.
    std::size_t tok_block_bytes() const {
        if (!tok_emb.empty() || (tok_blocks.empty() && !tok_in_classifier)) return 0;
        return static_cast<std::size_t>(c.vocab) * static_cast<std::size_t>(lowbit::gguf::row_size(tok_type, c.dim));
    }
    // out[0..dim) = the embedding of `token`: its f32 row copied, or its row
    // of blocks decoded (gguf::dequantize_row: the values a whole-tensor
    // decode gives, bit for bit). A token outside the vocabulary is refused.
    status embed(int token, float* out) const {
        if (token < 0 || token >= c.vocab)
            return status::error(errc::invalid_argument, "token %d is outside the model's vocabulary of %d", token, c.vocab);
        const std::size_t D = static_cast<std::size_t>(c.dim);
        if (!tok_emb.empty()) {
            if (tok_emb.size() != static_cast<std::size_t>(c.vocab) * D)
                return status::error(errc::shape_mismatch, "the token embedding holds %zu values, not %d x %d", tok_emb.size(), c.vocab, c.dim);
            std::copy_n(tok_emb.data() + static_cast<std::size_t>(token) * D, D, out);
            return {};
        }
        const std::uint8_t* rows = tok_rows();
        if (!rows) return status::error(errc::invalid_argument, "the token embedding is not loaded");
        const auto row_bytes = static_cast<std::size_t>(lowbit::gguf::row_size(tok_type, c.dim));
        return lowbit::gguf::dequantize_row(tok_type, rows + static_cast<std::size_t>(token) * row_bytes, out,
                                            static_cast<std::int64_t>(D));
    }

    // Bytes and parameters of the linear layers (what quantization changes) and of the whole model.
    std::size_t linear_bytes() const {
        std::size_t b = 0;
        for (const layer& l : layers) l.for_each_linear([&](const linear& w, const char*) { b += w.bytes; });
        return b;
    }
    std::size_t linear_params() const {
        std::size_t n = 0;
        for (const layer& l : layers) l.for_each_linear([&](const linear& w, const char*) { n += w.params(); });
        return n;
    }
    std::size_t float_bytes() const {
        std::size_t n = tok_emb.size() + final_norm.size() + classifier.size();
        for (const layer& l : layers) n += l.att_norm.size() + l.ffn_norm.size();
        return n * sizeof(float);
    }
    std::size_t total_bytes() const { return linear_bytes() + float_bytes() + tok_block_bytes(); }
    // Bytes the model holds in memory: its f32 tensors, the embedding's
    // blocks (once: tied to the classifier's blocks, they are counted there)
    // and every form of every linear (linear::held_bytes), the classifier's
    // blocks included. Equal to total_bytes() only when each weight is held
    // once, in its file's format.
    std::size_t held_bytes() const {
        std::size_t b = float_bytes() + tok_blocks.size() + classifier_blocks.held_bytes();
        for (const layer& l : layers) l.for_each_linear([&](const linear& w, const char*) { b += w.held_bytes(); });
        return b;
    }
    double linear_bpw() const { return 8.0 * static_cast<double>(linear_bytes()) / static_cast<double>(linear_params()); }
};

// A whole small input (a --plan file, a --perplexity text) as bytes, read
// as every tool reads an input (../common/input_file.hpp); errors name the path.
inline result<std::vector<std::uint8_t>> read_file(const char* path) {
    auto f = tool_files::open_input(path);
    if (!f) return f.error();
    const lowbit::span<const std::uint8_t> b = (*f)->bytes();
    return std::vector<std::uint8_t>(b.begin(), b.end());
}

// llama2.c checkpoint (karpathy/llama2.c, export.py "legacy" version 0): a
// header of 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
// vocab_size, seq_len; a negative vocab_size means a separate classifier),
// then f32 arrays: token_embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2,
// w3, rms_final, two legacy RoPE tables (ignored: RoPE is computed), and the
// classifier when not shared. Each per-layer array holds all layers in turn.
inline result<model> load_llama2c(lowbit::span<const std::uint8_t> bytes, const char* name = "checkpoint") {
    if (bytes.size() < 28) return status::error(errc::corrupt_data, "%s: shorter than the 28-byte llama2.c header", name);
    std::int32_t h[7];
    std::memcpy(h, bytes.data(), sizeof h);
    model m;
    config& c = m.c;
    c.dim = h[0], c.hidden = h[1], c.layers = h[2], c.heads = h[3], c.kv_heads = h[4];
    c.vocab = h[5] < 0 ? -h[5] : h[5];
    c.seq_len = h[6];
    const bool shared = h[5] > 0;
    if (status st = c.validate(); !st) return st;

    const std::size_t D = c.dim, H = c.hidden, L = c.layers, KV = c.kv_dim(), V = c.vocab;
    std::size_t need = V * D + L * (2 * D + 2 * D * D + 2 * KV * D + 3 * H * D) + D + c.seq_len * (D / c.heads);
    if (!shared) need += V * D;
    if (bytes.size() < 28 + need * 4)
        return status::error(errc::corrupt_data, "%s: %zu bytes, the header promises %zu", name, bytes.size(), 28 + need * 4);

    const float* p = nullptr;
    std::vector<float> all(need);
    std::memcpy(all.data(), bytes.data() + 28, need * 4);
    p = all.data();
    auto take = [&](std::size_t n) {
        const float* r = p;
        p += n;
        return r;
    };
    const float* emb = take(V * D);
    const float* rms_att = take(L * D);
    const float* wq = take(L * D * D);
    const float* wk = take(L * KV * D);
    const float* wv = take(L * KV * D);
    const float* wo = take(L * D * D);
    const float* rms_ffn = take(L * D);
    const float* w1 = take(L * H * D);
    const float* w2 = take(L * D * H);
    const float* w3 = take(L * H * D);
    const float* rms_final = take(D);
    take(c.seq_len * (D / c.heads));  // freq_cis_real, freq_cis_imag: legacy tables, unused
    m.tok_emb.assign(emb, emb + V * D);
    m.final_norm.assign(rms_final, rms_final + D);
    if (!shared) m.classifier.assign(p, p + V * D);
    m.layers.resize(L);
    for (std::size_t l = 0; l < L; ++l) {
        layer& y = m.layers[l];
        y.att_norm.assign(rms_att + l * D, rms_att + (l + 1) * D);
        y.ffn_norm.assign(rms_ffn + l * D, rms_ffn + (l + 1) * D);
        y.wq = linear::from_floats(D, D, wq + l * D * D);
        y.wk = linear::from_floats(KV, D, wk + l * KV * D);
        y.wv = linear::from_floats(KV, D, wv + l * KV * D);
        y.wo = linear::from_floats(D, D, wo + l * D * D);
        y.w1 = linear::from_floats(H, D, w1 + l * H * D);
        y.w2 = linear::from_floats(D, H, w2 + l * D * H);
        y.w3 = linear::from_floats(H, D, w3 + l * H * D);
    }
    return m;
}

}  // namespace llama
