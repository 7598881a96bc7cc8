// awq_fold.hpp — AWQ's per-channel scales for one LLaMA layer (--method awq,
// awq+gptq; SmoothQuant's too, --method smoothquant), folded into operations
// llama.cpp already runs, so the output is a standard GGUF:
//   attn_in  (D): attn_norm gain / s,  attn_q/k/v columns * s
//   wo_in    (D): attn_v rows / s_v,   attn_output columns * s   (s tied, below)
//   ffn_in   (D): ffn_norm gain / s,   ffn_gate/up columns * s
//   w2_in    (H): ffn_up rows / s,     ffn_down columns * s       (silu(g) * (u / s) = (silu(g) * u) / s)
// In float every product is unchanged, so the layer's output is the same up to
// f32 rounding (tests/test_lowbit_quantize_awq.cpp checks it on a generated model).
// attn_output's input column h * head + i is value channel (h / g) * head + i
// of attn_v, g = heads / kv_heads (llama.cpp and Hugging Face map query head h
// to kv head h / g), so its scale must be the same for the g query heads of a
// group: the search sees x_mean averaged over them, which ties s.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include <lowbit/algo/awq_gguf.hpp>

#include "model.hpp"  // examples/llama
#include "runtime.hpp"

namespace lbq {

// The input divisor per tap point (empty: not scaled).
struct awq_layer_scales {
    std::vector<float> at[4];  // indexed by llama::tap_point
    std::vector<float>& operator[](llama::tap_point p) { return at[static_cast<int>(p)]; }
    const std::vector<float>& operator[](llama::tap_point p) const { return at[static_cast<int>(p)]; }
};

// attn_output's per-channel statistic with each channel replaced by the mean
// (AWQ's x_mean) or the max (SmoothQuant's max |x|, max |w|) over the query
// heads that share its value head.
inline std::vector<float> tie_to_kv_heads(const std::vector<float>& v, const llama::config& c, bool max = false) {
    const std::size_t hd = static_cast<std::size_t>(c.head_size()), g = static_cast<std::size_t>(c.heads / c.kv_heads);
    std::vector<float> out(v.size());
    for (std::size_t kv = 0; kv < static_cast<std::size_t>(c.kv_heads); ++kv)
        for (std::size_t i = 0; i < hd; ++i) {
            double m = 0;
            for (std::size_t h = kv * g; h < (kv + 1) * g; ++h) m = max ? std::max(m, static_cast<double>(v[h * hd + i])) : m + v[h * hd + i];
            if (!max) m /= static_cast<double>(g);
            for (std::size_t h = kv * g; h < (kv + 1) * g; ++h) out[h * hd + i] = static_cast<float>(m);
        }
    return out;
}

namespace detail {
inline void scale_columns(llama::linear& w, const std::vector<float>& s) {
    for (std::size_t r = 0; r < w.rows; ++r)
        for (std::size_t j = 0; j < w.cols; ++j) w.w[r * w.cols + j] *= s[j];
}
inline void divide_rows(llama::linear& w, const std::vector<float>& s) {
    for (std::size_t r = 0; r < w.rows; ++r)
        for (std::size_t j = 0; j < w.cols; ++j) w.w[r * w.cols + j] /= s[r];
}
inline void divide(std::vector<float>& gain, const std::vector<float>& s) {
    for (std::size_t j = 0; j < gain.size(); ++j) gain[j] /= s[j];
}
}  // namespace detail

// Folds `s` into the layer's float weights and norm gains (the shapes are the
// caller's, checked against the config before). wo_in's scales must be tied
// (tie_to_kv_heads); attn_v's rows take the first query head's copy.
inline void fold_awq_scales(llama::layer& y, const llama::config& c, const awq_layer_scales& s) {
    using tp = llama::tap_point;
    if (!s[tp::attn_in].empty()) {
        detail::divide(y.att_norm, s[tp::attn_in]);
        for (llama::linear* w : {&y.wq, &y.wk, &y.wv}) detail::scale_columns(*w, s[tp::attn_in]);
    }
    if (!s[tp::wo_in].empty()) {
        const std::size_t hd = static_cast<std::size_t>(c.head_size()), g = static_cast<std::size_t>(c.heads / c.kv_heads);
        std::vector<float> sv(y.wv.rows);
        for (std::size_t r = 0; r < sv.size(); ++r) sv[r] = s[tp::wo_in][(r / hd) * g * hd + r % hd];
        detail::divide_rows(y.wv, sv);
        detail::scale_columns(y.wo, s[tp::wo_in]);
    }
    if (!s[tp::ffn_in].empty()) {
        detail::divide(y.ffn_norm, s[tp::ffn_in]);
        for (llama::linear* w : {&y.w1, &y.w3}) detail::scale_columns(*w, s[tp::ffn_in]);
    }
    if (!s[tp::w2_in].empty()) {
        detail::divide_rows(y.w3, s[tp::w2_in]);
        detail::scale_columns(y.w2, s[tp::w2_in]);
    }
}

}  // namespace lbq
