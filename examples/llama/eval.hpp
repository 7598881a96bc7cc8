// eval.hpp — how much a quantized model differs from F32, and how fast it runs.
//
// Quality (the metrics llama.cpp's perplexity tool reports with --kl-divergence):
// the F32 model samples N sequences from BOS (temperature 1, fixed seeds); every
// scheme then reads the same sequences (teacher forcing) and, at each position,
//   PPL  = exp(mean -log q(next token))
//   KLD  = mean sum_v p(v) (log p(v) - log q(v))      p: F32, q: the scheme
//   top1 = fraction of positions where argmax q = argmax p
// Speed: decode tokens/s (one token at a time, KV cache, greedy), through the
// executor, best of 3 runs.
#pragma once

#include <chrono>
#include <cmath>
#include <random>

#include "quantize.hpp"

namespace llama {

struct eval_options {
    int sequences = 16;
    int length = 256;
    std::uint64_t seed = 1;
    run_options run;
    int speed_tokens = 256;
};

struct eval_reference {
    std::vector<std::vector<int>> seqs;
    std::vector<float> logp;  // F32 log-probabilities, one row of vocab per predicted position
};

struct eval_row {
    std::string scheme;
    double bpw = 0;           // bits per weight of the linear layers
    std::size_t bytes = 0;    // model bytes (linear layers in their format + float embedding and norms)
    double ppl = 0, kld = 0, top1 = 0;
    double tok_per_s = 0;     // decode at --threads
    double tok_per_s_1t = 0, tok_per_s_2t = 0;
    std::vector<std::string> notes;
};

inline void log_softmax(const float* x, float* out, int n) {
    const float mx = *std::max_element(x, x + n);
    double sum = 0;
    for (int i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i] - mx));
    const float lse = mx + static_cast<float>(std::log(sum));
    for (int i = 0; i < n; ++i) out[i] = x[i] - lse;
}

template <class Exec>
eval_reference make_reference(const model& f32, const eval_options& o, Exec& exec) {
    eval_reference ref;
    ref.seqs = detail::sample_sequences(f32, o.sequences, std::min(o.length, f32.c.seq_len), o.seed);
    const int V = f32.c.vocab;
    for (const auto& seq : ref.seqs) {
        state s(f32.c, static_cast<int>(seq.size()));
        for (std::size_t pos = 0; pos + 1 < seq.size(); ++pos) {
            const float* logits = forward(f32, s, seq[pos], static_cast<int>(pos), exec, o.run);
            ref.logp.resize(ref.logp.size() + V);
            log_softmax(logits, ref.logp.data() + ref.logp.size() - V, V);
        }
    }
    return ref;
}

// PPL, KLD and top-1 of `m` against the reference; the time of its forward passes gives tok_per_s.
template <class Exec>
void measure_quality(const model& m, const eval_reference& ref, const eval_options& o, Exec& exec, eval_row& row) {
    const int V = m.c.vocab;
    std::vector<float> lq(V);
    double nll = 0, kld = 0, seconds = 0;
    std::size_t n = 0, agree = 0;
    for (const auto& seq : ref.seqs) {
        state s(m.c, static_cast<int>(seq.size()));
        for (std::size_t pos = 0; pos + 1 < seq.size(); ++pos, ++n) {
            const auto t0 = std::chrono::steady_clock::now();
            const float* logits = forward(m, s, seq[pos], static_cast<int>(pos), exec, o.run);
            seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            log_softmax(logits, lq.data(), V);
            const float* lp = ref.logp.data() + n * V;
            double k = 0;
            for (int v = 0; v < V; ++v) k += std::exp(static_cast<double>(lp[v])) * (static_cast<double>(lp[v]) - lq[v]);
            kld += k;
            nll -= lq[seq[pos + 1]];
            agree += std::max_element(lp, lp + V) - lp == std::max_element(lq.data(), lq.data() + V) - lq.data();
        }
    }
    row.ppl = std::exp(nll / static_cast<double>(n));
    row.kld = kld / static_cast<double>(n);
    row.top1 = static_cast<double>(agree) / static_cast<double>(n);
    row.tok_per_s = static_cast<double>(n) / seconds;
}

// Decode tokens/s: greedy generation of `tokens` tokens from BOS, best of 3.
template <class Exec>
double decode_speed(const model& m, int tokens, Exec& exec, const run_options& o = {}) {
    double best = 0;
    for (int rep = 0; rep < 3; ++rep) {
        sampler greedy;
        greedy.temperature = 0;
        const auto t0 = std::chrono::steady_clock::now();
        const auto out = generate(m, tokens, greedy, exec, o);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        best = std::max(best, static_cast<double>(out.size()) / s);
    }
    return best;
}

inline void fill_size(const model& m, eval_row& row) {
    row.scheme = m.scheme;
    row.bpw = m.linear_bpw();
    row.bytes = m.total_bytes();
}

inline void print_table(const std::vector<eval_row>& rows, double ppl_f32, int threads, std::FILE* out = stdout) {
    std::fprintf(out, "| scheme | bpw | bytes | PPL | ΔPPL | KLD | top-1 %% | tok/s (%dT) | tok/s 1T | tok/s 2T |\n", threads);
    std::fprintf(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (const eval_row& r : rows)
        std::fprintf(out, "| %s | %.2f | %zu | %.4f | %+.4f | %.4f | %.2f | %.0f | %.0f | %.0f |\n", r.scheme.c_str(), r.bpw, r.bytes,
                     r.ppl, r.ppl - ppl_f32, r.kld, 100.0 * r.top1, r.tok_per_s, r.tok_per_s_1t, r.tok_per_s_2t);
}

inline void print_json(const eval_row& r, double ppl_f32, std::FILE* out = stdout) {
    std::fprintf(out,
                 "{\"scheme\": \"%s\", \"bpw\": %.4f, \"bytes\": %zu, \"ppl\": %.6f, \"dppl\": %.6f, \"kld\": %.6f, \"top1\": %.6f, "
                 "\"tok_per_s\": %.1f, \"tok_per_s_1t\": %.1f, \"tok_per_s_2t\": %.1f, \"notes\": [",
                 r.scheme.c_str(), r.bpw, r.bytes, r.ppl, r.ppl - ppl_f32, r.kld, r.top1, r.tok_per_s, r.tok_per_s_1t, r.tok_per_s_2t);
    for (std::size_t i = 0; i < r.notes.size(); ++i) std::fprintf(out, "%s\"%s\"", i ? ", " : "", r.notes[i].c_str());
    std::fprintf(out, "]}\n");
}

// ---- synthetic 7B-like layers ------------------------------------------------------------
struct synthetic_spec {
    int dim = 4096, hidden = 11008, layers = 1, heads = 32, kv_heads = 32, vocab = 256, seq = 64;
};

inline result<synthetic_spec> parse_synthetic(const std::string& s) {
    synthetic_spec sp;
    std::size_t at = 0;
    while (at < s.size()) {
        std::size_t end = s.find(',', at);
        if (end == std::string::npos) end = s.size();
        const std::string kv = s.substr(at, end - at);
        const std::size_t eq = kv.find('=');
        if (eq == std::string::npos) return status::error(errc::invalid_argument, "--synthetic: '%s' is not key=value", kv.c_str());
        const std::string k = kv.substr(0, eq);
        const int v = std::atoi(kv.c_str() + eq + 1);
        if (v <= 0) return status::error(errc::invalid_argument, "--synthetic: %s must be positive", k.c_str());
        if (k == "dim") sp.dim = v;
        else if (k == "hidden") sp.hidden = v;
        else if (k == "layers") sp.layers = v;
        else if (k == "heads") sp.heads = v;
        else if (k == "kv_heads") sp.kv_heads = v;
        else if (k == "vocab") sp.vocab = v;
        else if (k == "seq") sp.seq = v;
        else return status::error(errc::invalid_argument, "--synthetic: unknown key '%s' (dim, hidden, layers, heads, kv_heads, vocab, seq)", k.c_str());
        at = end + 1;
    }
    return sp;
}

// Random weights (uniform, std 0.02 — the scale of a trained 7B's linear layers)
// of the given shape, each matrix quantized as soon as it is made so that the
// f32 copy of the whole model never exists.
template <class Exec>
result<model> make_synthetic(const synthetic_spec& sp, const scheme_spec& s, Exec& exec) {
    if (s.k == scheme_spec::kind::lowbit_gptq)
        return status::error(errc::unsupported, "--synthetic: GPTQ needs a real model's activations; use an RTN or ggml scheme");
    model m;
    config& c = m.c;
    c.dim = sp.dim, c.hidden = sp.hidden, c.layers = sp.layers, c.heads = sp.heads, c.kv_heads = sp.kv_heads;
    c.vocab = sp.vocab, c.seq_len = sp.seq;
    LOWBIT_TRY(c.validate());
    rng r(12345);
    const float a = 0.02f * std::sqrt(3.0f);
    auto fill = [&](std::vector<float>& v, std::size_t n) {
        v.resize(n);
        for (float& x : v) x = a * (2.0f * r.uniform() - 1.0f);
    };
    fill(m.tok_emb, static_cast<std::size_t>(c.vocab) * c.dim);
    m.final_norm.assign(c.dim, 1.0f);
    m.layers.resize(c.layers);
    const std::size_t D = c.dim, H = c.hidden, KV = c.kv_dim();
    for (layer& y : m.layers) {
        y.att_norm.assign(D, 1.0f);
        y.ffn_norm.assign(D, 1.0f);
        const std::size_t shapes[7][2] = {{D, D}, {KV, D}, {KV, D}, {D, D}, {H, D}, {D, H}, {H, D}};
        int i = 0;
        status st;
        y.for_each_linear([&](linear& w, const char*) {
            if (!st) return;
            std::vector<float> tmp;
            fill(tmp, shapes[i][0] * shapes[i][1]);
            w = linear::from_floats(shapes[i][0], shapes[i][1], tmp.data());
            ++i;
        });
        model one;  // quantize this layer alone
        one.c = c;
        one.layers.push_back(std::move(y));
        LOWBIT_TRY(quantize_model(one, s, exec));
        y = std::move(one.layers[0]);
    }
    m.scheme = s.name;
    return m;
}

// Streaming-read bandwidth (bytes/s) with the executor's threads: a 512 MiB
// buffer summed as 64-bit words in 1 MiB tasks, best of 3.
template <class Exec>
double read_bandwidth(Exec& exec) {
    const std::size_t words = (std::size_t{512} << 20) / 8, per_task = (std::size_t{1} << 20) / 8;
    std::vector<std::uint64_t> buf(words);
    for (std::size_t i = 0; i < words; ++i) buf[i] = i;
    const std::size_t tasks = words / per_task;
    std::vector<std::uint64_t> sums(tasks);
    double best = 0;
    for (int rep = 0; rep < 3; ++rep) {
        const auto t0 = std::chrono::steady_clock::now();
        exec(tasks, [&](std::size_t t) {
            const std::uint64_t* p = buf.data() + t * per_task;
            std::uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            for (std::size_t i = 0; i < per_task; i += 4) a0 += p[i], a1 += p[i + 1], a2 += p[i + 2], a3 += p[i + 3];
            sums[t] = a0 + a1 + a2 + a3;
        });
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        best = std::max(best, static_cast<double>(words * 8) / s);
    }
    std::uint64_t total = 0;
    for (std::uint64_t v : sums) total += v;
    if (total == 42) std::fprintf(stderr, " ");  // keep the sums alive
    return best;
}

}  // namespace llama
