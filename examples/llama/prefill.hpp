// prefill.hpp — a whole sequence through the model at once (prefill), the
// forward pass that perplexity evaluation runs on each chunk.
//
// The n tokens travel as one n x dim activation matrix, so every linear layer
// is one matrix-matrix product Y = X W^T (lowbit::gemm for quantized weights,
// algo/'s blocked float GEMM for float ones) instead of n matrix-vector products:
// the weights are read once per chunk instead of once per token. Attention is
// causal: position t attends to positions 0..t of the same sequence. The math
// per position is forward() in runtime.hpp; only the summation order of the
// products differs (a test checks the two agree to float rounding).
#pragma once

#include <functional>
#include <vector>

#include <lowbit/algo/linalg.hpp>

#include "runtime.hpp"

namespace llama {

// Y[n x rows] = X[n x cols] W^T for float W[rows x cols], on algo/'s register
// tile (linalg::gemm_acc: 6 x 16 floats, AVX2+FMA where the CPU has it): the
// calibration passes of lowbit-quantize spend most of their time here. X is
// transposed once (cols x n), so the tile's B operand runs along the tokens;
// each task computes the block of `rows_per_task` weight rows for all n tokens
// into its own buffer and writes it back transposed. Every output depends only
// on its row, its token and n (never on the thread count).
template <class Exec>
void float_gemm(const float* w, const float* x, float* y, std::size_t n, std::size_t rows, std::size_t cols, Exec& exec) {
    constexpr std::size_t rows_per_task = 48;
    if (n == 0 || rows == 0) return;
    std::vector<float> xt(cols * n);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t k = 0; k < cols; ++k) xt[k * n + i] = x[i * cols + k];
    exec((rows + rows_per_task - 1) / rows_per_task, [&](std::size_t t) {
        const std::size_t r0 = t * rows_per_task, r1 = std::min(rows, r0 + rows_per_task);
        std::vector<float> c((r1 - r0) * n, 0.0f);
        lowbit::linalg::gemm_acc<float>(r1 - r0, n, cols, w + r0 * cols, cols, 1, xt.data(), n, c.data(), n, 1.0f);
        for (std::size_t r = r0; r < r1; ++r)
            for (std::size_t i = 0; i < n; ++i) y[i * rows + r] = c[(r - r0) * n + i];
    });
}

template <class Exec>
void matmul_rows(const linear& l, const float* x, float* y, std::size_t n, Exec& exec, const run_options& o) {
    const op_timer timer(matmul_slot(o));
    std::vector<float> xr;
    x = rotated_input(l, x, n, xr);
    const lowbit::matrix_view<const float> X(x, n, l.cols);
    const lowbit::matrix_view<float> Y(y, n, l.rows);
    if (!runs_quantized(l, o)) return float_gemm(l.w.data(), x, y, n, l.rows, l.cols, exec);
    const auto w = weights_of(l, o);
    require_ok(w ? lowbit::gemm(*w, X, Y, exec, o.matmul) : w.error(), "gemm");
}

// f(t) for every position t < N, in tasks of 16 positions: the per-position
// steps (norms, RoPE, SwiGLU, residual adds) are independent, so any thread
// count gives the same result, and on many threads they stop being the serial
// part that bounds the speed-up.
template <class Exec, class F>
void for_positions(Exec& exec, std::size_t N, F&& f) {
    constexpr std::size_t per_task = 16;
    exec((N + per_task - 1) / per_task, [&](std::size_t task) {
        const std::size_t t1 = std::min(N, (task + 1) * per_task);
        for (std::size_t t = task * per_task; t < t1; ++t) f(t);
    });
}

// Activations of one prefill (reused from chunk to chunk).
struct prefill_state {
    std::vector<float> x, xb, q, k, v, hb, hb2, out, logits, rope_cs;  // rope_cs: N x head_size RoPE angles
    std::size_t rope_n = 0;  // positions rope_cs holds (the same in every layer: computed by the first)
};

// Sees the activation rows about to enter a layer's linear layers (n rows of
// `cols` values): calibration's hook into the one forward pass (imatrix sums,
// GPTQ Hessians). It runs before the linears of that tap point are read, so it
// may also replace their weights (true-sequential quantization).
using rows_tap = std::function<void(int layer, tap_point, const float* x, std::size_t rows, std::size_t cols)>;

inline void prefill_resize(const config& c, std::size_t N, prefill_state& s) {
    const std::size_t D = c.dim, KV = c.kv_dim(), H = c.hidden;
    s.x.resize(N * D), s.xb.resize(N * D), s.q.resize(N * D), s.k.resize(N * KV), s.v.resize(N * KV);
    s.hb.resize(N * H), s.hb2.resize(N * H), s.out.resize(N * D);
    s.rope_n = 0;
}

// Layer l over the n positions whose residual stream is in s.x (n x dim, from
// position 0, sized by prefill_resize); leaves the layer's output in s.x.
template <class Exec>
void prefill_layer(const model& m, int l, std::size_t N, prefill_state& s, Exec& exec, const run_options& o = {},
                   const rows_tap* tap = nullptr) {
    const config& c = m.c;
    const std::size_t D = c.dim, KV = c.kv_dim(), H = c.hidden;
    const int hs = c.head_size();
    const layer& w = m.layers[l];
    for_positions(exec, N, [&](std::size_t t) { rmsnorm(s.x.data() + t * D, w.att_norm.data(), s.xb.data() + t * D, c.dim, c.norm_eps); });
    if (tap) (*tap)(l, tap_point::attn_in, s.xb.data(), N, D);
    matmul_rows(w.wq, s.xb.data(), s.q.data(), N, exec, o);
    matmul_rows(w.wk, s.xb.data(), s.k.data(), N, exec, o);
    matmul_rows(w.wv, s.xb.data(), s.v.data(), N, exec, o);
    if (s.rope_n != N) {  // once per prefill_resize (a std::pow, cos and sin per angle)
        s.rope_cs.resize(N * hs);
        for_positions(exec, N, [&](std::size_t t) { rope_angles(hs, static_cast<int>(t), c.rope_theta, s.rope_cs.data() + t * hs); });
        s.rope_n = N;
    }
    for_positions(exec, N, [&](std::size_t t) {
        rope_rotate(s.q.data() + t * D, c.dim, hs, s.rope_cs.data() + t * hs);
        rope_rotate(s.k.data() + t * KV, static_cast<int>(KV), hs, s.rope_cs.data() + t * hs);
    });
    {
        const op_timer att_timer(attention_slot(o));
        causal_attention(attention_of(c), {s.q.data(), D, s.k.data(), s.v.data(), KV, s.xb.data(), D}, 0, N, exec);
    }
    if (tap) (*tap)(l, tap_point::wo_in, s.xb.data(), N, D);
    matmul_rows(w.wo, s.xb.data(), s.out.data(), N, exec, o);
    for_positions(exec, N, [&](std::size_t t) {
        for (std::size_t i = t * D; i < (t + 1) * D; ++i) s.x[i] += s.out[i];
        rmsnorm(s.x.data() + t * D, w.ffn_norm.data(), s.xb.data() + t * D, c.dim, c.norm_eps);
    });
    if (tap) (*tap)(l, tap_point::ffn_in, s.xb.data(), N, D);
    matmul_rows(w.w1, s.xb.data(), s.hb.data(), N, exec, o);
    matmul_rows(w.w3, s.xb.data(), s.hb2.data(), N, exec, o);
    swiglu(s.hb.data(), s.hb2.data(), N * H, exec);
    if (tap) (*tap)(l, tap_point::w2_in, s.hb.data(), N, H);
    matmul_rows(w.w2, s.hb.data(), s.out.data(), N, exec, o);
    for_positions(exec, N, [&](std::size_t t) {
        for (std::size_t i = t * D; i < (t + 1) * D; ++i) s.x[i] += s.out[i];
    });
}

// Runs tokens[0..n) from position 0 and leaves in s.logits the logits of
// positions first..n-1 ((n - first) x vocab, row-major).
template <class Exec>
void prefill(const model& m, const int* tokens, int n, int first, prefill_state& s, Exec& exec, const run_options& o = {}) {
    const config& c = m.c;
    const std::size_t D = c.dim, N = n;
    prefill_resize(c, N, s);
    for_positions(exec, N, [&](std::size_t t) { require_ok(m.embed(tokens[t], s.x.data() + t * D), "the token embedding"); });
    for (int l = 0; l < c.layers; ++l) prefill_layer(m, l, N, s, exec, o);
    const std::size_t F = static_cast<std::size_t>(std::max(0, std::min(first, n)));
    for (std::size_t t = F; t < N; ++t) rmsnorm(s.x.data() + t * D, m.final_norm.data(), s.xb.data() + (t - F) * D, c.dim, c.norm_eps);
    s.logits.resize((N - F) * static_cast<std::size_t>(c.vocab));
    if (on_gguf_blocks(m.classifier_blocks, o)) {
        matmul_rows(m.classifier_blocks, s.xb.data(), s.logits.data(), N - F, exec, o);
    } else {
        const op_timer timer(matmul_slot(o));
        float_gemm(m.cls(), s.xb.data(), s.logits.data(), N - F, static_cast<std::size_t>(c.vocab), D, exec);
    }
}

}  // namespace llama
