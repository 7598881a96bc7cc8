// sensitivity.hpp — what quantizing each weight to each ggml type costs the
// model, the numbers the --bpw planner (plan.hpp) spends its bytes by.
//
// Two measurements per weight, both on the calibration text, with every
// other weight left in float (so the cost of one weight is its own):
//   1. for each candidate type, the relative layer-output error
//      |(Wq - W) x|^2 / |W x|^2 on the held-back chunk, Wq from the tool's
//      method (GPTQ with its options, or rtn+imatrix / rtn) — cheap: one
//      quantization per type;
//   2. at one probe type, the model's output KLD on the held-back chunk with
//      only this weight quantized (a forward pass from its layer to the
//      logits) against the float model's.
// Both are measured on --probe-chunks held-back chunks (default 1: the
// chunk after the statistics'; N: the N chunks after them, errors and KLDs
// over all their positions), the statistics' chunks unchanged.
// The predicted KLD of a weight at a type is probe KLD x (error at the type /
// error at the probe): to first order the KLD is a quadratic form in the
// logit change, so it scales with the output-error energy; the probe gives
// each weight the gain from its error to the model's output (which differs a
// lot between, say, attn_k and ffn_down, or a first and a last layer).
// Summing the weights' predictions assumes their errors do not interact.
//
// Cost: one float pass of the calibration chunks (as calibrate() makes), a
// quantization per weight and candidate, and one partial forward pass of one
// chunk per weight; memory: the whole model in f32 (the probe runs it).
// token_embd.weight has no input to take an output error over: its error is
// that of the held chunk's embedding rows (rtn, as the plain writer quantizes
// it), its probe a full forward pass.
#pragma once

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "calibrate.hpp"

namespace lbq {

// The ggml types --bpw chooses among, by increasing size (Q3_K and IQ3_S
// both 3.4375 bits per weight, IQ4_NL and Q4_K both 4.5). Every one of them
// is written by GPTQ when the method is gptq (algo/gptq_gguf.hpp; IQ3_XXS and
// IQ3_S a lattice point at a time), so the planner compares the types with
// the method the file is made with.
inline const std::vector<gguf_type>& plan_candidates() {
    static const std::vector<gguf_type> v{gguf_type::q2_K,   gguf_type::iq3_xxs, gguf_type::q3_K, gguf_type::iq3_s, gguf_type::iq4_xs,
                                          gguf_type::iq4_nl, gguf_type::q4_K,    gguf_type::q5_K, gguf_type::q6_K,  gguf_type::q8_0};
    return v;
}
// The probe type: mid-range, where single-weight KLDs stand well above f32
// rounding and stay in the quadratic regime.
constexpr gguf_type plan_probe_type = gguf_type::q3_K;

struct tensor_sensitivity {
    std::string name;
    std::uint64_t rows = 0, row_length = 0;
    std::vector<double> loss;  // predicted KLD per candidate; NaN: the type cannot hold this tensor
    std::vector<double> rel_err;  // layer-output error per candidate (NaN when read back from a report)
    double probe_kld = NAN;
    std::uint64_t elements() const { return rows * row_length; }
};

struct sensitivity {
    std::vector<gguf_type> types;              // plan_candidates()
    std::vector<tensor_sensitivity> tensors;   // the weights the recipe quantizes, in file order
};

// Whether type t can hold rows of length k (the block divides it; GPTQ covers it when gptq runs).
inline bool candidate_fits(gguf_type t, std::uint64_t k) { return k % static_cast<std::uint64_t>(gguf::type_block_size(t)) == 0; }

namespace detail {

// KL(p || q) summed over positions, p from `base` and q from `logits` (both n x V).
inline double sum_kld(const std::vector<float>& base, const std::vector<float>& logits, std::size_t n, std::size_t V) {
    double total = 0;
    for (std::size_t t = 0; t < n; ++t) {
        const float* a = base.data() + t * V;
        const float* b = logits.data() + t * V;
        const float ma = *std::max_element(a, a + V), mb = *std::max_element(b, b + V);
        double za = 0, zb = 0;
        for (std::size_t i = 0; i < V; ++i) za += std::exp(static_cast<double>(a[i] - ma)), zb += std::exp(static_cast<double>(b[i] - mb));
        const double la = ma + std::log(za), lb = mb + std::log(zb);
        double k = 0;
        for (std::size_t i = 0; i < V; ++i) {
            const double lpa = a[i] - la;
            k += std::exp(lpa) * (lpa - (b[i] - lb));
        }
        total += std::max(0.0, k);
    }
    return total;
}

// token_embd at type t (rtn, as the plain writer quantizes it): its decoded
// rows in `dec` and the relative error of the rows the held chunk's tokens read.
inline status held_rows_error(gguf_type t, const std::vector<float>& w, std::size_t rows, std::size_t k, const int* held, std::size_t n,
                              std::vector<float>& dec, double& rel_err) {
    std::vector<std::uint8_t> bytes(rows * static_cast<std::size_t>(gguf::row_size(t, static_cast<std::int64_t>(k))));
    LOWBIT_TRY(gguf::quantize(t, w.data(), bytes.data(), static_cast<std::int64_t>(rows), static_cast<std::int64_t>(k), nullptr));
    LOWBIT_TRY(decode_rows(t, bytes, rows, k, dec));
    double e = 0, r = 0;
    for (std::size_t p = 0; p < n; ++p) {
        const std::size_t row = static_cast<std::size_t>(held[p]) * k;
        for (std::size_t j = 0; j < k; ++j) {
            const double d = static_cast<double>(dec[row + j]) - w[row + j];
            e += d * d, r += static_cast<double>(w[row + j]) * w[row + j];
        }
    }
    rel_err = r > 0 ? e / r : 0.0;
    return status();
}

// The float model, whole, and the held chunk run from any layer to the logits.
struct probe_model {
    llama::model m;
    llama::prefill_state ps;
    std::vector<std::vector<float>> layer_in;  // the held chunks' float stream entering each layer, then the final one
    std::vector<float> base;                   // the float model's logits on the held chunks
    const int* held = nullptr;                 // the held chunks' tokens, one after another
    std::size_t ctx = 0, n_held = 1;

    // layer < 0: from the token embeddings (token_embd's probe). Each held
    // chunk is its own sequence (positions from 0), as in calibration.
    template <class Exec>
    void logits_from(int layer, std::vector<float>& out, Exec& exec) {
        const std::size_t D = static_cast<std::size_t>(m.c.dim), V = static_cast<std::size_t>(m.c.vocab);
        out.resize(n_held * ctx * V);
        for (std::size_t h = 0; h < n_held; ++h) {
            if (layer < 0) {
                ps.x.resize(ctx * D);
                for (std::size_t t = 0; t < ctx; ++t) llama::require_ok(m.embed(held[h * ctx + t], ps.x.data() + t * D), "the token embedding");
            } else {
                const std::vector<float>& in = layer_in[static_cast<std::size_t>(layer)];
                ps.x.assign(in.begin() + static_cast<std::ptrdiff_t>(h * ctx * D), in.begin() + static_cast<std::ptrdiff_t>((h + 1) * ctx * D));
            }
            for (int l = std::max(layer, 0); l < m.c.layers; ++l) llama::prefill_layer(m, l, ctx, ps, exec);
            for (std::size_t t = 0; t < ctx; ++t)
                llama::rmsnorm(ps.x.data() + t * D, m.final_norm.data(), ps.xb.data() + t * D, m.c.dim, m.c.norm_eps);
            llama::float_gemm(m.cls(), ps.xb.data(), out.data() + h * ctx * V, ctx, V, D, exec);
        }
    }
    // Mean KLD per position with `w` replaced by `q` for the run (restored after).
    template <class Exec>
    double kld_with(std::vector<float>& w, std::vector<float>& q, int layer, Exec& exec) {
        std::vector<float> logits;
        w.swap(q);
        logits_from(layer, logits, exec);
        w.swap(q);
        return sum_kld(base, logits, n_held * ctx, static_cast<std::size_t>(m.c.vocab)) / static_cast<double>(n_held * ctx);
    }
};

}  // namespace detail

// Measures the sensitivity of every weight `plan` quantizes to a ggml type
// (blk.* linears, output.weight, token_embd.weight of a LLaMA model).
// GPTQ runs its sweep (with --act-order, --damp) but not the re-fits
// (--refit, --refit-sub, --refit-codes): they lower every type's error a
// little and would cost most of the time, six times over.
template <class Exec>
result<sensitivity> measure_sensitivity(const model_source& src, const std::vector<decision>& plan, const calib_options& calib, progress& p,
                                        Exec& exec) {
    calib_options o = calib;
    o.refit = o.refit_sub = o.refit_codes = false;
    if (folds_scales(o.method)) return status::error(errc::unsupported, "--bpw plans with --method rtn, imatrix or gptq, not %s", method_name(o.method));
    const std::size_t P = std::max<std::size_t>(1, o.probe_chunks);
    auto setup = detail::calibration_setup(src, o, P);
    if (!setup) return setup.error();
    const llama::config& c = setup->c;
    const std::size_t ctx = o.ctx, n_cal = setup->n_cal, D = static_cast<std::size_t>(c.dim), V = static_cast<std::size_t>(c.vocab);
    const std::vector<int>& ids = setup->toks.ids;
    const double t_start = p.elapsed();

    std::map<std::string, std::size_t> by_name;
    for (std::size_t i = 0; i < src.tensors.size(); ++i) by_name[src.tensors[i].desc.name] = i;
    auto load = [&](const std::string& n, std::vector<float>& v) -> status {
        const auto it = by_name.find(n);
        if (it == by_name.end()) return status::error(errc::corrupt_data, "sensitivity: tensor %s is missing", n.c_str());
        return detail::load_f32(src.tensors[it->second], v);
    };
    detail::probe_model pm;
    pm.ctx = ctx;
    pm.n_held = P;
    pm.held = ids.data() + n_cal * ctx;
    llama::model& m = pm.m;
    m.c = c;
    LOWBIT_TRY(load("token_embd.weight", m.tok_emb));
    LOWBIT_TRY(load("output_norm.weight", m.final_norm));
    if (by_name.count("output.weight")) LOWBIT_TRY(load("output.weight", m.classifier));
    if (m.final_norm.size() != D || (!m.classifier.empty() && m.classifier.size() != V * D))
        return status::error(errc::shape_mismatch, "sensitivity: output_norm.weight / output.weight do not match the llama.* metadata");
    m.layers.resize(static_cast<std::size_t>(c.layers));
    for (int l = 0; l < c.layers; ++l) LOWBIT_TRY(detail::load_layer(src, by_name, c, l, m.layers[static_cast<std::size_t>(l)]));

    // The float stream of every chunk, layer by layer; the held chunk's is kept at each layer's input.
    std::vector<float> stream((n_cal + P) * ctx * D);
    for (std::size_t t = 0; t < stream.size() / D; ++t) LOWBIT_TRY(m.embed(ids[t], stream.data() + t * D));
    llama::prefill_resize(c, ctx, pm.ps);
    auto keep_held = [&] { pm.layer_in.emplace_back(stream.begin() + static_cast<std::ptrdiff_t>(n_cal * ctx * D), stream.end()); };
    keep_held();
    pm.logits_from(0, pm.base, exec);  // the float model's logits: what every probe compares against

    sensitivity out;
    out.types = plan_candidates();
    const std::size_t n_types = out.types.size();
    const auto probe_at = static_cast<std::size_t>(std::find(out.types.begin(), out.types.end(), plan_probe_type) - out.types.begin());
    std::map<std::string, tensor_sensitivity> found;
    auto quantized_here = [&](const std::string& n) {
        const auto it = by_name.find(n);
        return it != by_name.end() && plan[it->second].convert && !plan[it->second].lowbit && gguf::is_quantized(plan[it->second].type);
    };
    // One weight: its error at every candidate, then the probe. s: its input's statistics
    // (null for token_embd); layer: where the probe's forward pass starts.
    auto measure = [&](const std::string& name, std::vector<float>& w, std::size_t rows, std::size_t k, const detail::tap_stats* s,
                       int layer) -> status {
        tensor_sensitivity ts;
        ts.name = name, ts.rows = rows, ts.row_length = k;
        ts.rel_err.assign(n_types, NAN);
        ts.loss.assign(n_types, NAN);
        std::vector<float> probe;
        std::size_t pi = n_types;
        for (std::size_t i = 0; i < n_types; ++i) {
            const gguf_type t = out.types[i];
            if (!candidate_fits(t, k)) continue;
            std::vector<float> q = w;
            if (s) {
                decision d;
                d.type = t, d.convert = true;
                calibrated_tensor ct;
                LOWBIT_TRY(quantize_calibrated(name, d, o.method, o, *s, q, rows, k, &ct, exec));
                ts.rel_err[i] = ct.out_err;
            } else {
                LOWBIT_TRY(detail::held_rows_error(t, w, rows, k, ids.data() + n_cal * ctx, P * ctx, q, ts.rel_err[i]));
            }
            // the probe type, or the next larger one that fits
            if (pi == n_types && i >= probe_at) probe.swap(q), pi = i;
        }
        if (pi == n_types) return status();  // no candidate fits: the weight keeps the recipe's type
        ts.probe_kld = pm.kld_with(w, probe, layer, exec);
        for (std::size_t i = 0; i < n_types; ++i)
            if (!std::isnan(ts.rel_err[i])) ts.loss[i] = ts.rel_err[pi] > 0 ? ts.probe_kld * ts.rel_err[i] / ts.rel_err[pi] : 0.0;
        found[name] = std::move(ts);
        return status();
    };

    for (int l = 0; l < c.layers; ++l) {
        const double t0 = p.elapsed();
        const std::string pre = "blk." + std::to_string(l) + ".";
        llama::layer& y = m.layers[static_cast<std::size_t>(l)];
        if (l > 0) keep_held();
        detail::tap_stats st[4];
        LOWBIT_TRY(detail::float_layer_pass(m, l, o, stream, n_cal, ctx, pm.ps, st, true, exec, P));
        status bad;
        y.for_each_linear([&](llama::linear& w, const char* n) {
            const std::string name = pre + n + ".weight";
            if (bad.ok() && quantized_here(name)) bad = measure(name, w.w, w.rows, w.cols, &st[static_cast<int>(detail::tap_of(y, w))], l);
        });
        if (!bad.ok()) return bad;
        p.line("sensitivity: layer %d/%d, %.1f s", l + 1, c.layers, p.elapsed() - t0);
    }
    keep_held();  // the final stream: output.weight's probe starts there
    if (!m.classifier.empty() && quantized_here("output.weight")) {
        detail::tap_stats s;
        LOWBIT_TRY(detail::output_stats(m.final_norm, c, stream, n_cal, ctx, s, exec, P));
        LOWBIT_TRY(measure("output.weight", m.classifier, V, D, &s, c.layers));
    }
    if (quantized_here("token_embd.weight")) LOWBIT_TRY(measure("token_embd.weight", m.tok_emb, V, D, nullptr, -1));
    for (const source_tensor& t : src.tensors) {  // file order
        auto it = found.find(t.desc.name);
        if (it != found.end()) out.tensors.push_back(std::move(it->second));
    }
    p.line("sensitivity: %zu weights x %zu types measured in %.1f s (probe %s, held back: %zu x %zu tokens)", out.tensors.size(), n_types,
           p.elapsed() - t_start, gguf::type_name(plan_probe_type), P, ctx);
    return out;
}

}  // namespace lbq
