// runtime.hpp — one decode step of a LLaMA model (RMSNorm, RoPE, grouped-query
// attention with a KV cache, SwiGLU, classifier) and token sampling.
//
// Every linear layer goes through `matvec`: lowbit::gemv for quantized weights,
// a plain float loop for float ones; both split their rows over the same
// executor (any lowbit executor: serial_executor, thread_pool, an engine's own).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <numeric>
#include <vector>

#include <lowbit/kernels/rotated_matmul.hpp>
#include <lowbit/kernels/weights_matmul.hpp>
#include <lowbit/weights/repack.hpp>

#include "attention.hpp"
#include "ggml_repack.hpp"
#include "model.hpp"

namespace llama {

// Seconds spent in the linear layers (classifier included) and in attention,
// summed over calls, when run_options::times points at one (--bench's split).
struct op_times {
    double matmul = 0, attention = 0;
};

struct run_options {
    lowbit::matmul_options matmul;  // dequant_fma (default) or int8_dot
    bool tiled = true;              // run the tiled copy of the weights when there is one
    op_times* times = nullptr;      // accumulate the time split here (the calling thread's view)
};

// Adds the time since it was made to *slot (nothing when slot is null).
class op_timer {
public:
    explicit op_timer(double* slot) : slot_(slot) {
        if (slot_) t0_ = std::chrono::steady_clock::now();
    }
    ~op_timer() {
        if (slot_) *slot_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    }
    op_timer(const op_timer&) = delete;
    op_timer& operator=(const op_timer&) = delete;

private:
    double* slot_;
    std::chrono::steady_clock::time_point t0_;
};

// Whether this call runs the weight on its GGUF blocks (lowbit::gguf::gemv /
// gemm): the int8 path asked for, and blocks that path can run.
inline bool on_gguf_blocks(const linear& l, const run_options& o) {
    return o.matmul.path == lowbit::matmul_path::int8_dot && l.runs_on_blocks();
}

// The linear layers' calls fail only on what load checked (shapes, schemes)
// or a NaN activation: a bug or a broken model, not input to recover from.
inline void require_ok(const status& st, const char* what) {
    if (st) return;
    std::fprintf(stderr, "lowbit-llama: %s failed: %s\n", what, st.message());
    std::abort();
}

inline double* matmul_slot(const run_options& o) { return o.times ? &o.times->matmul : nullptr; }
inline double* attention_slot(const run_options& o) { return o.times ? &o.times->attention : nullptr; }

// y[rows] = W[rows x cols] x, float weights: one dot product per row, summed in
// order (as llama2.c's matmul does, so the F32 path reproduces its tokens).
template <class Exec>
void float_matvec(const float* w, const float* x, float* y, std::size_t rows, std::size_t cols, Exec& exec) {
    constexpr std::size_t rows_per_task = 64;
    exec((rows + rows_per_task - 1) / rows_per_task, [&](std::size_t t) {
        const std::size_t r1 = std::min(rows, (t + 1) * rows_per_task);
        for (std::size_t r = t * rows_per_task; r < r1; ++r) {
            const float* wr = w + r * cols;
            float s = 0.0f;
            for (std::size_t j = 0; j < cols; ++j) s += wr[j] * x[j];
            y[r] = s;
        }
    });
}

// The lowbit schemes this runtime quantizes to (RTN, GPTQ) and tiles:
// symmetric codes of 2..8 bits, f16 scales, per group or per channel (as
// lowbit's run-time twin does, per channel runs as one group of K). Its
// matmuls take any scheme: they go through the kernel table (weights_of).
// GPTQ and the tiled packer are templates: the engine instantiates the
// schemes it ships, as here (docs/embedding.md, "Pitfalls").
template <int Bits>
using engine_scheme = lowbit::scheme<Bits, lowbit::per_group_dynamic, lowbit::symmetric, lowbit::scale_f16>;

inline status check_engine_scheme(const lowbit::runtime_scheme& s) {
    LOWBIT_TRY(s.validate());
    if (!s.symmetric || s.scale != lowbit::scale_type::f16 || s.gran == lowbit::granularity::per_tensor || s.bits < 2) {
        char name[48];
        s.name(name, sizeof name);
        return status::error(errc::unsupported,
                             "scheme %s: lowbit-llama compiles kernels for symmetric, f16-scale, per-group or per-channel "
                             "schemes of 2..8 bits (engine_scheme in runtime.hpp)", name);
    }
    return {};
}

// Calls f(engine_scheme<bits>{}) for a scheme that check_engine_scheme accepts.
template <class F>
status visit_engine_scheme(const lowbit::runtime_scheme& s, F&& f) {
    LOWBIT_TRY(check_engine_scheme(s));
    switch (s.bits) {
        case 2: return f(engine_scheme<2>{});
        case 3: return f(engine_scheme<3>{});
        case 4: return f(engine_scheme<4>{});
        case 5: return f(engine_scheme<5>{});
        case 6: return f(engine_scheme<6>{});
        case 7: return f(engine_scheme<7>{});
        default: return f(engine_scheme<8>{});
    }
}

// Repacks a quantized linear into the tiled layout (kept beside the qmatrix,
// which exports and evaluation tools read, until keep_what_runs). Schemes the
// layout cannot hold (groups that are not whole 32-blocks) stay on the plain
// layout, and l.untiled_reason says why (layout_summary prints it). A mapped
// codebook linear gets its tiled codebook copy (the mapped blocks stay for
// export and --path fma's decode), a Q4_K / Q5_K / Q6_K linear its tiled
// K-quant copy and an IQ4_NL linear its tiled codebook copy (tile_blocks; the
// int8 path's prefill and decode run it; --layout plain keeps the blocks). A
// linear that has its tiled form already (made at load, or by an earlier
// call) keeps it: requantizing a linear drops its tiled
// forms (quantize.hpp, store_lowbit; quantize_ggml makes a new linear).
inline void tile_linear(linear& l) {
    if (l.has_tiled || !l.mapped_tiled.empty() || !l.blocks_tiled.empty()) return;
    l.untiled_reason.clear();
    auto untiled = [&](const status& st) { l.untiled_reason = st.message(); };
    if (l.runs_on_blocks() && has_tiled_blocks(l.gguf_type)) {
        if (status st = tile_blocks(l, l.gguf_data.data()); !st) untiled(st);
        return;
    }
    if (l.mapped && l.mapped->lay() == lowbit::layout::codebook) {
        auto t = lowbit::repack(*l.mapped, lowbit::layout::tiled_codebook);
        if (t) l.mapped_tiled = std::move(*t);
        else untiled(t.error());
        return;
    }
    if (!l.quantized) return;
    const status st = visit_engine_scheme(l.q.scheme, [&](auto tag) -> status {
        auto t = lowbit::repack_tiled(l.q.view_as<decltype(tag)>());
        if (!t) return t.error();
        auto& d = l.tiled;
        d.codes = std::move(t->codes);
        d.scales = std::move(t->scales);
        d.perm = std::move(t->perm);
        d.tiles = t->tiles;
        d.blocks = t->blocks;
        d.groups = t->groups;
        d.blocks_per_group = t->blocks_per_group;
        d.group = t->group;
        l.has_tiled = true;
        return {};
    });
    if (!st) untiled(st);
}
inline void tile_model(model& m) {
    for (layer& y : m.layers) y.for_each_linear([](linear& w, const char*) { tile_linear(w); });
}

// ---- one copy of each weight --------------------------------------------------------
// A loaded model holds every form of its weights by default (the blocks a
// GGUF stores, f32 values, the qmatrix, the tiled copies): export, --eval,
// requantizing and the tests read them. A run that only generates, benches or
// evaluates perplexity with fixed run options needs one form of each weight:
// keep_for tells loading which forms to make (load_model), keep_what_runs
// releases the others afterwards. Every run with the same options gives the
// same bits either way: the form kept is the one those options run.

// What loading keeps of a weight of ggml type t for runs with `o`.
inline ggml_keep keep_for(lowbit::gguf::gguf_type t, const run_options& o) {
    const bool int8 = o.matmul.path == lowbit::matmul_path::int8_dot && lowbit::gguf::matmul_supported(t);
    ggml_keep k;
    k.block_tiles = int8 && o.tiled && has_tiled_blocks(t);
    k.blocks = int8 && !k.block_tiles;  // Q4_0/Q5_0/Q8_0 run their qmatrix / tiled copy: export alone reads the blocks
    k.floats = !int8;
    return k;
}

template <class T>
void release(std::vector<T>& v) {
    std::vector<T>().swap(v);
}

// Releases every form of l that runs with `o` do not read (after tile_linear).
// A form is released only when the one that runs is there.
inline void keep_what_runs(linear& l, const run_options& o) {
    const bool int8 = o.matmul.path == lowbit::matmul_path::int8_dot;
    if (l.mapped) {  // a lowbit GGUF's view costs no copy; codebooks may have f32 values and a tiled copy
        const bool floats_run = !int8 && l.mapped->lay() == lowbit::layout::codebook && !l.w.empty();
        if (!floats_run) release(l.w);
        if (!int8 || !o.tiled) l.mapped_tiled = lowbit::weights{};
        return;
    }
    if (l.runs_on_blocks()) {  // ggml types: int8 runs the blocks or their tiled copy, fma the f32 values
        if (!int8) {
            if (l.w.empty()) return;
            release(l.gguf_data);
            l.blocks_tiled = lowbit::weights{};
            return;
        }
        release(l.w);
        if (o.tiled && !l.blocks_tiled.empty()) release(l.gguf_data);
        else if (!l.gguf_data.empty()) l.blocks_tiled = lowbit::weights{};
        return;
    }
    release(l.gguf_data);  // Q4_0/Q5_0/Q8_0 blocks (the qmatrix holds their bytes), an F16 source: export's only
    if (!l.quantized) return;
    release(l.w);
    if (o.tiled && l.has_tiled) {
        l.q.storage = lowbit::qstorage{};  // the scheme stays: weights_of describes the tiled copy with it
    } else {
        l.tiled = linear::tiled_weights{};
        l.has_tiled = false;
    }
}
inline void keep_what_runs(model& m, const run_options& o) {
    for (layer& y : m.layers) y.for_each_linear([&](linear& w, const char*) { keep_what_runs(w, o); });
    // The classifier: the int8 path runs its blocks when the file has them
    // (classify), else its f32 copy; the embedding stays as it is held
    // (model::embed reads it), the tied classifier's blocks included.
    if (o.matmul.path == lowbit::matmul_path::int8_dot && m.classifier_blocks.runs_on_blocks()) release(m.classifier);
    else if (!m.tok_in_classifier) release(m.classifier_blocks.gguf_data);
}

// The weights a quantized linear's matmuls run on, as the one run-time
// description lowbit's front door takes: its GGUF blocks (on the int8 path,
// on_gguf_blocks), the view into the mapped file, the tiled copy (when there
// is one and o.tiled) or the dense codes. lowbit::gemv / gemm on it go
// through the kernel table, which lowbit::compiled holds: this file compiles
// no kernel. Validated on every call, as the typed front doors do (O(cols)
// at most, for a permutation).
inline lowbit::result<lowbit::weights_view> weights_of(const linear& l, const run_options& o) {
    if (on_gguf_blocks(l, o)) {
        if (o.tiled && !l.blocks_tiled.empty()) return l.blocks_tiled.view();
        return lowbit::make_ggml_weights(l.gguf_type, l.gguf_data.data(), l.rows, l.cols);
    }
    if (l.mapped) return o.tiled && !l.mapped_tiled.empty() ? l.mapped_tiled.view() : *l.mapped;
    if (!(l.has_tiled && o.tiled)) return lowbit::to_weights(l.q);
    lowbit::weights_desc d;
    d.lay = lowbit::layout::tiled;
    d.scheme = l.q.scheme;
    d.rows = l.rows;
    d.cols = l.cols;
    d.group = l.tiled.group;
    d.codes = l.tiled.codes.data();
    d.scales = l.tiled.scales.data();
    d.perm = l.tiled.perm.empty() ? nullptr : l.tiled.perm.data();
    return lowbit::make_weights(d);
}
// Mapped codebook weights have int8 kernels only: the f32 path runs their f32
// values (decode_codebooks in gguf_io.hpp), as it does for ggml blocks; without
// them the matmul reports that codebooks have no f32 path.
inline bool runs_quantized(const linear& l, const run_options& o) {
    const bool mapped = l.mapped && (l.mapped->lay() != lowbit::layout::codebook || o.matmul.path == lowbit::matmul_path::int8_dot ||
                                     l.w.empty());
    return on_gguf_blocks(l, o) || l.quantized || mapped;
}

// What a linear's matmuls run on with `o`: the layout (and, for ggml blocks,
// the type), in layout_summary's words.
inline std::string runs_as(const linear& l, const run_options& o) {
    if (!runs_quantized(l, o)) return "f32";
    if (on_gguf_blocks(l, o))
        return o.tiled && !l.blocks_tiled.empty()
                   ? (l.blocks_tiled.view().lay() == lowbit::layout::tiled_codebook ? "tiled codebook" : "tiled K-quant")
                   : std::string("ggml blocks ") + lowbit::gguf::type_name(l.gguf_type);
    if (l.mapped) return o.tiled && !l.mapped_tiled.empty() ? "tiled codebook" : lowbit::layout_name(l.mapped->lay());
    return l.has_tiled && o.tiled ? "tiled" : "dense";
}

// One line for stderr after loading: how many linears run on which layout
// with `o` (and the classifier's), the bytes the model holds, and every
// linear that stayed off its tiled layout with the repack's reason
// (linear::untiled_reason): a slower layout is never taken silently.
inline std::string layout_summary(const model& m, const run_options& o) {
    std::map<std::string, int> runs;
    std::map<std::string, std::vector<std::string>> untiled;  // reason -> tensors
    std::size_t linears = 0;
    for (std::size_t i = 0; i < m.layers.size(); ++i)
        m.layers[i].for_each_linear([&](const linear& l, const char* name) {
            ++linears;
            ++runs[runs_as(l, o)];
            if (o.tiled && !l.untiled_reason.empty()) untiled[l.untiled_reason].push_back("blk." + std::to_string(i) + "." + name);
        });
    const bool int8 = o.matmul.path == lowbit::matmul_path::int8_dot;
    std::string s = std::to_string(linears) + " linears on --path " + (int8 ? "int8" : "fma") + " --layout " +
                    (o.tiled ? "tiled" : "plain") + ":";
    const char* sep = " ";
    for (const auto& r : runs) s += sep + std::to_string(r.second) + " " + r.first, sep = ", ";
    s += "; classifier: " + (on_gguf_blocks(m.classifier_blocks, o) ? runs_as(m.classifier_blocks, o) : std::string("f32"));
    char held[64];
    std::snprintf(held, sizeof held, "; %.2f MiB held", static_cast<double>(m.held_bytes()) / (1 << 20));
    s += held;
    for (const auto& u : untiled) {
        s += "; " + std::to_string(u.second.size()) + " stayed off the tiled layout (" + u.second[0];
        if (u.second.size() > 1) s += ", +" + std::to_string(u.second.size() - 1) + " more";
        s += "): " + u.first;
    }
    return s;
}

// x, or its rotation Q x in `buf` for a linear with an input rotation (n rows
// of l.cols values). buf is the caller's workspace: assign() reuses its
// capacity, so a buffer that has held the largest input never allocates again.
inline const float* rotated_input(const linear& l, const float* x, std::size_t n, std::vector<float>& buf) {
    if (!l.rot) return x;
    buf.assign(x, x + n * l.cols);
    require_ok(l.rot->apply_rows(lowbit::span<float>(buf.data(), buf.size()), n), "input rotation");
    return buf.data();
}

// y = W x for an x already rotated by l.rot (when l has one).
template <class Exec>
void matvec_rotated(const linear& l, const float* x, float* y, Exec& exec, const run_options& o) {
    if (!runs_quantized(l, o)) return float_matvec(l.w.data(), x, y, l.rows, l.cols, exec);
    const auto w = weights_of(l, o);
    require_ok(w ? lowbit::gemv(*w, lowbit::span<const float>(x, l.cols), lowbit::span<float>(y, l.rows), exec, o.matmul) : w.error(),
               "gemv");
}

// y = W x. A quantized linear with an input rotation runs lowbit::rotated_gemv
// (Q x into the calling thread's matmul workspace, fewer passes than a copy and
// apply(): kernels/rotated_matmul.hpp; the same bits); a float one rotates
// into `work`.
template <class Exec>
void matvec(const linear& l, const float* x, float* y, Exec& exec, const run_options& o, std::vector<float>& work) {
    const op_timer timer(matmul_slot(o));
    if (l.rot && runs_quantized(l, o)) {
        const auto w = weights_of(l, o);
        require_ok(w ? lowbit::rotated_gemv(*l.rot, *w, lowbit::span<const float>(x, l.cols), lowbit::span<float>(y, l.rows), exec, o.matmul)
                     : w.error(),
                   "rotated_gemv");
        return;
    }
    matvec_rotated(l, rotated_input(l, x, 1, work), y, exec, o);
}
template <class Exec>
void matvec(const linear& l, const float* x, float* y, Exec& exec, const run_options& o) {
    std::vector<float> work;
    matvec(l, x, y, exec, o, work);
}

// y_i = W_i x for linears that read the same x (q, k and v; gate and up).
// Linears that share one input rotation (quantize_tensors gives equal ones
// one object) rotate x once; the quantized ones then run as one job of the
// executor (lowbit::rotated_multi_gemv, or multi_gemv without a rotation: one
// fork and join, and k's and v's few rows share the threads with q's). A float weight among them makes each
// run alone, as do different rotations (-rotN chooses one per linear), each
// rotating x again. Same bits either way.
struct linear_out {
    const linear& l;
    float* y;
};
inline lowbit::weights_view weights_or_die(const linear& l, const run_options& o) {
    auto v = weights_of(l, o);
    require_ok(v ? status{} : v.error(), "multi_gemv");
    return *v;
}
template <class Exec, class... Out>
void matvec_shared_x(const float* x, Exec& exec, const run_options& o, std::vector<float>& work, const Out&... outs) {
    static_assert(sizeof...(Out) <= lowbit::max_multi_gemv, "multi_gemv takes at most max_multi_gemv weights");
    const linear* first[] = {&outs.l...};
    if (!((outs.l.rot == first[0]->rot) && ...)) {
        (matvec(outs.l, x, outs.y, exec, o, work), ...);
        return;
    }
    const op_timer timer(matmul_slot(o));
    if (!(runs_quantized(outs.l, o) && ...)) {
        x = rotated_input(*first[0], x, 1, work);
        (matvec_rotated(outs.l, x, outs.y, exec, o), ...);
        return;
    }
    const lowbit::weights_view w[] = {weights_or_die(outs.l, o)...};
    const lowbit::span<float> y[] = {lowbit::span<float>(outs.y, outs.l.rows)...};
    const lowbit::span<const float> xs(x, w[0].cols());
    const lowbit::span<const lowbit::weights_view> ws(w, sizeof...(Out));
    const lowbit::span<const lowbit::span<float>> ys(y, sizeof...(Out));
    const lowbit::hadamard_rotation* rot = first[0]->rot.get();
    require_ok(rot ? lowbit::rotated_multi_gemv(*rot, ws, xs, ys, exec, o.matmul) : lowbit::multi_gemv(ws, xs, ys, exec, o.matmul),
               "multi_gemv");
}

// With AVX-512 the sum of squares runs on 64 lanes (avx512.hpp): another
// rounding of the sum than llama2.c's serial one (its greedy tokens on
// stories260K stay the same: test_llama).
inline void rmsnorm(const float* x, const float* gain, float* out, int n, float eps) {
#if LLAMA_AVX512
    if (x86::use_avx512()) return x86::rmsnorm_n(x, gain, out, static_cast<std::size_t>(n), eps);
#endif
    float ss = 0.0f;
    for (int i = 0; i < n; ++i) ss += x[i] * x[i];
    const float inv = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
    for (int i = 0; i < n; ++i) out[i] = gain[i] * (inv * x[i]);
}

// RoPE rotates consecutive pairs (v[i], v[i+1]) of each head by the angle
// pos * theta^(-i/head_size) (the interleaved RoPE of Meta's LLaMA, llama2.c
// and ggml's "normal" rope mode). The angles depend on i within the head only,
// so their cos and sin are computed once per position (head_size values:
// cs[i] = cos, cs[i + 1] = sin) and serve every head of q and k, instead of
// a std::pow, cos and sin per element of every head.
inline void rope_angles(int head_size, int pos, float theta, float* cs) {
    for (int i = 0; i < head_size; i += 2) {
        const float freq = std::pow(theta, -static_cast<float>(i) / static_cast<float>(head_size));
        const float a = static_cast<float>(pos) * freq;
        cs[i] = std::cos(a), cs[i + 1] = std::sin(a);
    }
}

// Rotates the n values of v (whole heads) by the angles of rope_angles.
inline void rope_rotate(float* v, int n, int head_size, const float* cs) {
    for (int h = 0; h < n; h += head_size)
        for (int i = 0; i < head_size; i += 2) {
            const float v0 = v[h + i], v1 = v[h + i + 1];
            v[h + i] = v0 * cs[i] - v1 * cs[i + 1];
            v[h + i + 1] = v0 * cs[i + 1] + v1 * cs[i];
        }
}

inline void softmax(float* x, int n) {
    const float mx = *std::max_element(x, x + n);
    float sum = 0.0f;
    for (int i = 0; i < n; ++i) sum += x[i] = std::exp(x[i] - mx);
    for (int i = 0; i < n; ++i) x[i] /= sum;
}

inline attention_dims attention_of(const config& c) {
    return {static_cast<std::size_t>(c.heads), static_cast<std::size_t>(c.kv_heads), static_cast<std::size_t>(c.head_size())};
}

// Where calibration taps the inputs of the linear layers (GPTQ).
enum class tap_point { attn_in, wo_in, ffn_in, w2_in };
// logits = classifier x: on the classifier's GGUF blocks for the int8 path
// when the file has them, else on its f32 copy.
template <class Exec>
void classify(const model& m, const float* x, float* logits, Exec& exec, const run_options& o) {
    if (on_gguf_blocks(m.classifier_blocks, o)) return matvec(m.classifier_blocks, x, logits, exec, o);
    const op_timer timer(matmul_slot(o));
    float_matvec(m.cls(), x, logits, static_cast<std::size_t>(m.c.vocab), static_cast<std::size_t>(m.c.dim), exec);
}

// g = silu(g) * u over n values (one position's hidden units in decode, all
// positions' in prefill). The one elementwise step with a cost: an exp per
// hidden unit (5,632 per layer of a 1B LLaMA, 13 us on one core of the Zen 5
// development machine: serial, it stood beside decode's GEMVs that run on
// every thread), so it runs on the pool in slices of 512; each value is
// computed alone, so any split gives the same bits. With AVX-512 the exp is
// avx512.hpp's 16-lane one (within 2 ulp of std::exp): prefill runs 2.9 M of
// them per layer of a 1B model at pp512, a large part of the time outside
// the linear layers and attention with std::exp.
template <class Exec>
void swiglu(float* g, const float* u, std::size_t n, Exec& exec) {
    constexpr std::size_t per_task = 512;
#if LLAMA_AVX512
    const bool wide = x86::use_avx512();
#endif
    exec((n + per_task - 1) / per_task, [&](std::size_t t) {
        const std::size_t i1 = std::min(n, (t + 1) * per_task);
#if LLAMA_AVX512
        if (wide) return x86::swiglu_n(g + t * per_task, u + t * per_task, i1 - t * per_task);
#endif
        for (std::size_t i = t * per_task; i < i1; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
    });
}

using tap_fn = std::function<void(int layer, tap_point, const float* x, std::size_t n)>;

// Activations and the KV cache of one sequence; `rotated` is the rotated
// linears' workspace (the largest input: dim or hidden values).
struct state {
    std::vector<float> x, xb, xb2, q, hb, hb2, logits, rope_cs, k_cache, v_cache, rotated;
    int max_seq = 0;
    state(const config& c, int max_seq_len)
        : x(c.dim), xb(c.dim), xb2(c.dim), q(c.dim), hb(c.hidden), hb2(c.hidden), logits(c.vocab), rope_cs(c.head_size()),
          k_cache(static_cast<std::size_t>(c.layers) * max_seq_len * c.kv_dim()), v_cache(k_cache.size()),
          rotated(static_cast<std::size_t>(std::max(c.dim, c.hidden))), max_seq(max_seq_len) {}
};

// Runs `token` at position `pos` (0 <= pos < max_seq; earlier positions must
// have run) and returns the logits over the vocabulary.
template <class Exec>
const float* forward(const model& m, state& s, int token, int pos, Exec& exec, const run_options& o = {},
                     const tap_fn* tap = nullptr) {
    const config& c = m.c;
    const int D = c.dim, KV = c.kv_dim(), hs = c.head_size();
    require_ok(m.embed(token, s.x.data()), "the token embedding");
    rope_angles(hs, pos, c.rope_theta, s.rope_cs.data());  // the same in every layer
    for (int l = 0; l < c.layers; ++l) {
        const layer& w = m.layers[l];
        const std::size_t cache_at = (static_cast<std::size_t>(l) * s.max_seq + pos) * KV;
        float* k = s.k_cache.data() + cache_at;
        float* v = s.v_cache.data() + cache_at;

        // attention: xb = RMSNorm(x); q, k, v; RoPE on q and k; cache k, v
        rmsnorm(s.x.data(), w.att_norm.data(), s.xb.data(), D, c.norm_eps);
        if (tap) (*tap)(l, tap_point::attn_in, s.xb.data(), D);
        matvec_shared_x(s.xb.data(), exec, o, s.rotated, linear_out{w.wq, s.q.data()}, linear_out{w.wk, k}, linear_out{w.wv, v});
        rope_rotate(s.q.data(), D, hs, s.rope_cs.data());
        rope_rotate(k, KV, hs, s.rope_cs.data());

        // each query head attends over the cache of its KV head (attention.hpp)
        {
            const op_timer att_timer(attention_slot(o));
            const std::size_t layer_at = static_cast<std::size_t>(l) * s.max_seq * KV;
            causal_attention(attention_of(c), {s.q.data(), 0, s.k_cache.data() + layer_at, s.v_cache.data() + layer_at, static_cast<std::size_t>(KV), s.xb.data(), 0},
                             static_cast<std::size_t>(pos), 1, exec);
        }
        if (tap) (*tap)(l, tap_point::wo_in, s.xb.data(), D);
        matvec(w.wo, s.xb.data(), s.xb2.data(), exec, o, s.rotated);
        for (int i = 0; i < D; ++i) s.x[i] += s.xb2[i];

        // feed-forward: x += W2 (silu(W1 xb) * (W3 xb))
        rmsnorm(s.x.data(), w.ffn_norm.data(), s.xb.data(), D, c.norm_eps);
        if (tap) (*tap)(l, tap_point::ffn_in, s.xb.data(), D);
        matvec_shared_x(s.xb.data(), exec, o, s.rotated, linear_out{w.w1, s.hb.data()}, linear_out{w.w3, s.hb2.data()});
        swiglu(s.hb.data(), s.hb2.data(), static_cast<std::size_t>(c.hidden), exec);
        if (tap) (*tap)(l, tap_point::w2_in, s.hb.data(), static_cast<std::size_t>(c.hidden));
        matvec(w.w2, s.hb.data(), s.xb.data(), exec, o, s.rotated);
        for (int i = 0; i < D; ++i) s.x[i] += s.xb[i];
    }
    rmsnorm(s.x.data(), m.final_norm.data(), s.x.data(), D, c.norm_eps);
    classify(m, s.x.data(), s.logits.data(), exec, o);
    return s.logits.data();
}

// ---- sampling ------------------------------------------------------------------------
// xorshift64* : small, seedable, the same sequence on every platform.
struct rng {
    std::uint64_t s;
    explicit rng(std::uint64_t seed) : s(seed ? seed : 0x9E3779B97F4A7C15ull) {}
    std::uint32_t next_u32() {
        s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
        return static_cast<std::uint32_t>((s * 0x2545F4914F6CDD1Dull) >> 32);
    }
    float uniform() { return static_cast<float>(next_u32() >> 8) / 16777216.0f; }  // [0, 1)
};

struct sampler {
    float temperature = 1.0f;  // 0: greedy (argmax)
    float top_p = 1.0f;        // nucleus sampling when < 1
    rng r{1};
    std::vector<std::pair<float, int>> sorted;

    int operator()(const float* logits, int n) {
        if (temperature <= 0.0f) return static_cast<int>(std::max_element(logits, logits + n) - logits);
        std::vector<float> p(logits, logits + n);
        for (float& v : p) v /= temperature;
        softmax(p.data(), n);
        const float u = r.uniform();
        if (top_p <= 0.0f || top_p >= 1.0f) {
            float acc = 0.0f;
            for (int i = 0; i < n; ++i)
                if ((acc += p[i]) > u) return i;
            return n - 1;
        }
        // nucleus: the smallest set of most likely tokens whose mass reaches top_p
        sorted.clear();
        for (int i = 0; i < n; ++i) sorted.emplace_back(p[i], i);
        std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
        float mass = 0.0f;
        std::size_t keep = 0;
        while (keep < sorted.size() && mass < top_p) mass += sorted[keep++].first;
        float acc = 0.0f;
        for (std::size_t i = 0; i < keep; ++i)
            if ((acc += sorted[i].first) > u * mass) return sorted[i].second;
        return sorted[keep - 1].second;
    }
};

constexpr int bos_token = 1;

// Generates `steps` tokens from BOS (or after `prompt`), returns them (prompt excluded).
template <class Exec>
std::vector<int> generate(const model& m, int steps, sampler& smp, Exec& exec, const run_options& o = {},
                          const std::vector<int>& prompt = {}) {
    std::vector<int> in = {bos_token};
    in.insert(in.end(), prompt.begin(), prompt.end());
    const int total = std::min<int>(m.c.seq_len, static_cast<int>(in.size()) - 1 + steps);
    state s(m.c, total);
    std::vector<int> out;
    int tok = in[0];
    for (int pos = 0; pos < total; ++pos) {
        const float* logits = forward(m, s, tok, pos, exec, o);
        if (pos + 1 < static_cast<int>(in.size())) {
            tok = in[pos + 1];
            continue;
        }
        tok = smp(logits, m.c.vocab);
        out.push_back(tok);
    }
    return out;
}

}  // namespace llama
