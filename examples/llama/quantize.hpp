// quantize.hpp — quantize a model's linear layers on load.
//
// Scheme names (the --scheme flag and the --eval table):
//   f32                 no quantization
//   f16                 weights rounded to f16 (run as f32)
//   w<b>[g<G>|pc][a]    lowbit round-to-nearest (min/max), e.g. w8 (per channel), w4g32, w3g32, w2g32
//   w<b>g<G>-gptq       lowbit GPTQ, calibrated on the model's own samples (below)
//   q4_0 q5_0 q8_0 q4_1 q5_1 q2_k q3_k q4_k q5_k q6_k
//                       ggml's block types, byte-exact with llama.cpp's quantizer,
//                       with llama.cpp's fallback when a row length does not fit
//                       the block (ggml_repack.hpp)
// Embedding, norms and the (shared) classifier stay float.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include <lowbit/algo/gptq.hpp>

#include "ggml_repack.hpp"
#include "runtime.hpp"

namespace llama {

struct scheme_spec {
    std::string name = "f32";
    enum class kind { f32, lowbit_rtn, lowbit_gptq, ggml } k = kind::f32;
    lowbit::runtime_scheme rs;
    gg::gguf_type ggml = gg::gguf_type::f32;
};

inline result<scheme_spec> parse_scheme_name(const std::string& name) {
    scheme_spec s;
    s.name = name;
    if (name == "f32") return s;
    static const std::pair<const char*, gg::gguf_type> ggml_names[] = {
        {"f16", gg::gguf_type::f16},   {"q4_0", gg::gguf_type::q4_0}, {"q4_1", gg::gguf_type::q4_1}, {"q5_0", gg::gguf_type::q5_0},
        {"q5_1", gg::gguf_type::q5_1}, {"q8_0", gg::gguf_type::q8_0}, {"q2_k", gg::gguf_type::q2_K}, {"q3_k", gg::gguf_type::q3_K},
        {"q4_k", gg::gguf_type::q4_K}, {"q5_k", gg::gguf_type::q5_K}, {"q6_k", gg::gguf_type::q6_K}};
    for (const auto& g : ggml_names)
        if (name == g.first) {
            s.k = scheme_spec::kind::ggml;
            s.ggml = g.second;
            return s;
        }
    std::string base = name;
    s.k = scheme_spec::kind::lowbit_rtn;
    const std::string gptq = "-gptq";
    if (base.size() > gptq.size() && base.compare(base.size() - gptq.size(), gptq.size(), gptq) == 0) {
        base.resize(base.size() - gptq.size());
        s.k = scheme_spec::kind::lowbit_gptq;
    }
    auto rs = lowbit::parse_scheme(base.c_str());
    if (!rs) return rs.error();
    s.rs = *rs;
    LOWBIT_TRY(check_engine_scheme(s.rs));
    if (s.k == scheme_spec::kind::lowbit_gptq && s.rs.gran != lowbit::granularity::per_group)
        return status::error(errc::invalid_argument, "scheme %s: GPTQ here needs a group size (e.g. w4g32-gptq)", name.c_str());
    return s;
}

// GPTQ settings and calibration data: sequences sampled from the F32 model
// itself (temperature 1, from BOS, seeds disjoint from --eval's).
struct calib_options {
    int sequences = 16;
    int length = 128;
    std::uint64_t seed = 0xCA11B;
    bool act_order = true;
    float percdamp = 0.01f;
};

struct quant_report {
    double seconds = 0;
    std::vector<std::string> notes;  // fallbacks and GPTQ diagnostics, one line each
};

namespace detail {
// H = 2/n sum x x^T of the four distinct inputs of one layer.
struct layer_hessians {
    lowbit::hessian attn_in, wo_in, ffn_in, w2_in;
    explicit layer_hessians(const config& c)
        : attn_in(c.dim), wo_in(c.dim), ffn_in(c.dim), w2_in(static_cast<std::size_t>(c.hidden)) {}
    lowbit::hessian& at(tap_point p) {
        return p == tap_point::attn_in ? attn_in : p == tap_point::wo_in ? wo_in : p == tap_point::ffn_in ? ffn_in : w2_in;
    }
};

inline std::vector<std::vector<int>> sample_sequences(const model& f32, int n, int len, std::uint64_t seed) {
    std::vector<std::vector<int>> out;
    lowbit::serial_executor ex;
    for (int i = 0; i < n; ++i) {
        sampler smp;
        smp.temperature = 1.0f;
        smp.r = rng(seed + 7919u * static_cast<std::uint64_t>(i));
        std::vector<int> seq = {bos_token};
        auto gen = generate(f32, len - 1, smp, ex);
        seq.insert(seq.end(), gen.begin(), gen.end());
        out.push_back(std::move(seq));
    }
    return out;
}

// Hessians of layer `l`'s inputs, computed by running `m` (whose layers < l are
// already quantized: the reference GPTQ's sequential order) over the sequences.
inline status capture_layer(const model& m, int l, const std::vector<std::vector<int>>& seqs, layer_hessians& hs) {
    std::vector<float> rows[4];
    tap_fn tap = [&](int layer, tap_point p, const float* x, std::size_t n) {
        if (layer == l) rows[static_cast<int>(p)].insert(rows[static_cast<int>(p)].end(), x, x + n);
    };
    lowbit::serial_executor ex;
    for (const auto& seq : seqs) {
        state s(m.c, static_cast<int>(seq.size()));
        for (std::size_t pos = 0; pos < seq.size(); ++pos) forward(m, s, seq[pos], static_cast<int>(pos), ex, {}, &tap);
        for (int p = 0; p < 4; ++p) {
            const std::size_t k = hs.at(static_cast<tap_point>(p)).cols();
            LOWBIT_TRY(hs.at(static_cast<tap_point>(p)).add_batch(lowbit::matrix_view<const float>(rows[p].data(), rows[p].size() / k, k)));
            rows[p].clear();
        }
    }
    return {};
}
}  // namespace detail

// Quantizes the linear layers of `m` (float weights) with scheme `s`, in place.
template <class Exec>
status quantize_model(model& m, const scheme_spec& s, Exec& exec, quant_report* rep = nullptr,
                      const calib_options& co = {}) {
    const auto t0 = std::chrono::steady_clock::now();
    if (s.k != scheme_spec::kind::f32) m.scheme = s.name;
    auto note = [&](std::string line) {
        if (rep) rep->notes.push_back(std::move(line));
    };
    if (s.k == scheme_spec::kind::f32) {
        tile_model(m);  // weights loaded quantized (GGUF) still get the tiled copy
        return {};
    }

    if (s.k == scheme_spec::kind::ggml) {
        std::map<std::string, int> fallbacks;  // "ffn_down: q4_k -> f16 (row 172)" -> count
        for (layer& y : m.layers) {
            status st;
            y.for_each_linear([&](linear& w, const char* name) {
                if (!st || w.quantized || w.w.empty()) return;
                const gg::gguf_type t = ggml_type_for_row(s.ggml, w.cols);
                if (t != s.ggml)
                    ++fallbacks[std::string(name) + ": " + ggml_format_name(s.ggml) + " needs rows of " +
                                std::to_string(gg::type_block_size(s.ggml)) + ", this one is " + std::to_string(w.cols) + " -> " +
                                ggml_format_name(t)];
                auto q = quantize_ggml(w, t);
                if (!q) st = q.error();
                else w = std::move(*q);
            });
            LOWBIT_TRY(st);
        }
        for (const auto& f : fallbacks) note("fallback " + f.first + " (" + std::to_string(f.second) + " tensors)");
    } else if (s.k == scheme_spec::kind::lowbit_rtn) {
        for (layer& y : m.layers) {
            status st;
            y.for_each_linear([&](linear& w, const char*) {
                if (!st || w.quantized || w.w.empty()) return;
                st = visit_engine_scheme(s.rs, [&](auto tag) -> status {
                    lowbit::quantize_options qo;
                    qo.group = s.rs.gran == lowbit::granularity::per_group ? s.rs.group : static_cast<int>(w.cols);
                    auto q = lowbit::quantize<decltype(tag)>(lowbit::matrix_view<const float>(w.w.data(), w.rows, w.cols), qo, exec);
                    if (!q) return q.error();
                    w.q.scheme = s.rs;
                    w.q.storage = std::move(*q).release();
                    return {};
                });
                if (!st) return;
                w.quantized = true;
                w.mapped.reset();  // a mapped codebook linear (it has its f32 values) now runs the new weights
                w.format = s.name;
                w.bytes = w.q.storage.codes.size() + w.q.storage.scales_16.size() * 2 + w.q.storage.scales_f32.size() * 4 +
                          w.q.storage.zeros.size() + w.q.storage.perm.size() * 4;
                w.w.clear();
                w.w.shrink_to_fit();
            });
            LOWBIT_TRY(st);
        }
    } else {
        // GPTQ, layer by layer: layer l is calibrated on inputs produced by the
        // model whose layers < l are already quantized (as the reference llama.py).
        const auto seqs = detail::sample_sequences(m, co.sequences, std::min(co.length, m.c.seq_len), co.seed);
        lowbit::gptq_options go;
        go.act_order = co.act_order;
        go.percdamp = co.percdamp;
        go.group = s.rs.group;
        double loss = 0;
        int retries = 0;
        for (int l = 0; l < m.c.layers; ++l) {
            detail::layer_hessians hs(m.c);
            LOWBIT_TRY(detail::capture_layer(m, l, seqs, hs));
            auto run = [&](linear& w, tap_point p) -> status {
                LOWBIT_TRY(visit_engine_scheme(s.rs, [&](auto tag) -> status {
                    auto r = lowbit::gptq_quantize<decltype(tag)>(lowbit::matrix_view<const float>(w.w.data(), w.rows, w.cols),
                                                                  hs.at(p), go, exec);
                    if (!r) return r.error();
                    loss += r->report.loss;
                    retries += r->report.damp_retries;
                    w.q.scheme = s.rs;
                    w.q.storage = std::move(r->q).release();
                    return {};
                }));
                w.quantized = true;
                w.mapped.reset();  // as above
                w.format = s.name;
                const auto& q = w.q.storage;
                w.bytes = q.codes.size() + q.scales_16.size() * 2 + q.scales_f32.size() * 4 + q.zeros.size() + q.perm.size() * 4;
                w.w.clear();
                w.w.shrink_to_fit();
                return {};
            };
            layer& y = m.layers[l];
            LOWBIT_TRY(run(y.wq, tap_point::attn_in));
            LOWBIT_TRY(run(y.wk, tap_point::attn_in));
            LOWBIT_TRY(run(y.wv, tap_point::attn_in));
            LOWBIT_TRY(run(y.wo, tap_point::wo_in));
            LOWBIT_TRY(run(y.w1, tap_point::ffn_in));
            LOWBIT_TRY(run(y.w3, tap_point::ffn_in));
            LOWBIT_TRY(run(y.w2, tap_point::w2_in));
        }
        char buf[200];
        std::snprintf(buf, sizeof buf, "gptq: %d calibration sequences x %d tokens, act_order %s, damp %.3g, total loss %.4g, %d damping retries",
                      co.sequences, co.length, co.act_order ? "on" : "off", static_cast<double>(co.percdamp), loss, retries);
        note(buf);
    }
    tile_model(m);
    if (rep) rep->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return {};
}

}  // namespace llama
