// llama2c.hpp — a minimal forward pass of a llama2.c checkpoint (e.g. the
// stories260K model), used to capture *real* activations at the inputs of a
// model's linear layers for calibration. Format: /work docs in
// tests/data/stories260K/README.md. f32, one sequence at a time, clear rather
// than fast: the models it is meant for have a few hundred thousand weights.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <lowbit/core/status.hpp>

namespace llama2c {

struct config {
    int dim = 0, hidden = 0, layers = 0, heads = 0, kv_heads = 0, vocab = 0, seq_len = 0;
};

struct model {
    config c;
    std::vector<float> emb, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final;
    int kv_dim() const { return c.dim * c.kv_heads / c.heads; }
    int head_size() const { return c.dim / c.heads; }
};

inline lowbit::result<model> load(const char* path) {
    using lowbit::errc;
    using lowbit::status;
    std::FILE* f = std::fopen(path, "rb");
    if (!f) return status::error(errc::io_error, "cannot open %s", path);
    model m;
    std::int32_t h[7];
    if (std::fread(h, 4, 7, f) != 7) {
        std::fclose(f);
        return status::error(errc::corrupt_data, "%s: truncated header", path);
    }
    m.c = {h[0], h[1], h[2], h[3], h[4], h[5] < 0 ? -h[5] : h[5], h[6]};
    const config& c = m.c;
    if (c.dim <= 0 || c.dim > 8192 || c.hidden <= 0 || c.hidden > 65536 || c.layers <= 0 || c.layers > 256 || c.heads <= 0 ||
        c.kv_heads <= 0 || c.dim % c.heads || c.heads % c.kv_heads || c.vocab <= 0 || c.vocab > 1 << 20 || c.seq_len <= 0) {
        std::fclose(f);
        return status::error(errc::corrupt_data, "%s: implausible llama2.c header", path);
    }
    const std::size_t D = static_cast<std::size_t>(c.dim), Hd = static_cast<std::size_t>(c.hidden),
                      L = static_cast<std::size_t>(c.layers), KV = static_cast<std::size_t>(m.kv_dim());
    bool ok = true;
    auto rd = [&](std::vector<float>& v, std::size_t n) {
        v.resize(n);
        ok = ok && std::fread(v.data(), 4, n, f) == n;
    };
    rd(m.emb, static_cast<std::size_t>(c.vocab) * D);
    rd(m.rms_att, L * D);
    rd(m.wq, L * D * D);
    rd(m.wk, L * KV * D);
    rd(m.wv, L * KV * D);
    rd(m.wo, L * D * D);
    rd(m.rms_ffn, L * D);
    rd(m.w1, L * Hd * D);
    rd(m.w2, L * D * Hd);
    rd(m.w3, L * Hd * D);
    rd(m.rms_final, D);
    std::fclose(f);
    if (!ok) return status::error(errc::corrupt_data, "%s: truncated weights", path);
    return m;
}

// y (n) = W (n x k) x (k)
inline void matvec(const float* w, const float* x, float* y, int n, int k) {
    for (int i = 0; i < n; ++i) {
        double s = 0;
        for (int j = 0; j < k; ++j) s += static_cast<double>(w[static_cast<std::size_t>(i) * k + j]) * x[j];
        y[i] = static_cast<float>(s);
    }
}
inline void rmsnorm(const float* x, const float* g, float* o, int n) {
    double ss = 0;
    for (int i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
    const float r = static_cast<float>(1.0 / std::sqrt(ss / n + 1e-5));
    for (int i = 0; i < n; ++i) o[i] = g[i] * x[i] * r;
}

// Which linear layer's input to capture: "wq" (= wk, wv input), "wo", "w1" (= w3 input), "w2".
struct capture {
    int layer = 0;
    std::string which = "w1";
    std::vector<float> rows;  // tokens x in_features
    int in_features = 0;
};

// Runs `n_seq` sequences of `len` tokens, each sampled from the model itself
// (temperature 1, seeded xorshift, starting at BOS = 1), and records the
// activations entering the chosen layer at every position.
inline void run(const model& m, int n_seq, int len, std::uint64_t seed, capture& cap) {
    const config& c = m.c;
    const int D = c.dim, Hd = c.hidden, KV = m.kv_dim(), hs = m.head_size(), kvmul = c.heads / c.kv_heads;
    cap.in_features = cap.which == "w2" ? Hd : D;
    std::vector<float> x(D), xb(D), xb2(D), q(D), hb(Hd), hb2(Hd), att(len), logits(c.vocab);
    std::vector<float> kc(static_cast<std::size_t>(c.layers) * len * KV), vc(kc.size());
    std::uint64_t s = seed | 1;
    auto rnd = [&] {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        return static_cast<float>((s >> 40) * (1.0 / 16777216.0));
    };
    auto keep = [&](int l, const char* which, const float* v, int n) {
        if (l == cap.layer && cap.which == which) cap.rows.insert(cap.rows.end(), v, v + n);
    };
    for (int sq = 0; sq < n_seq; ++sq) {
        int tok = 1;
        for (int pos = 0; pos < len && pos < c.seq_len; ++pos) {
            std::copy(m.emb.begin() + static_cast<std::ptrdiff_t>(tok) * D, m.emb.begin() + static_cast<std::ptrdiff_t>(tok + 1) * D, x.begin());
            for (int l = 0; l < c.layers; ++l) {
                const std::size_t L = static_cast<std::size_t>(l);
                rmsnorm(x.data(), &m.rms_att[L * D], xb.data(), D);
                keep(l, "wq", xb.data(), D);
                float* kr = &kc[(L * len + pos) * KV];
                float* vr = &vc[(L * len + pos) * KV];
                matvec(&m.wq[L * D * D], xb.data(), q.data(), D, D);
                matvec(&m.wk[L * KV * D], xb.data(), kr, KV, D);
                matvec(&m.wv[L * KV * D], xb.data(), vr, KV, D);
                for (int i = 0; i < D; i += 2) {  // RoPE, theta 10000
                    const float fr = std::pow(10000.0f, -static_cast<float>(i % hs) / hs), a = pos * fr;
                    const float co = std::cos(a), si = std::sin(a);
                    for (int v = 0; v < (i < KV ? 2 : 1); ++v) {
                        float* p = v == 0 ? q.data() : kr;
                        const float p0 = p[i], p1 = p[i + 1];
                        p[i] = p0 * co - p1 * si;
                        p[i + 1] = p0 * si + p1 * co;
                    }
                }
                for (int h = 0; h < c.heads; ++h) {
                    const float* qh = &q[static_cast<std::size_t>(h) * hs];
                    const int kvh = h / kvmul;
                    float mx = -1e30f;
                    for (int t = 0; t <= pos; ++t) {
                        const float* kt = &kc[(L * len + t) * KV + static_cast<std::size_t>(kvh) * hs];
                        float d = 0;
                        for (int i = 0; i < hs; ++i) d += qh[i] * kt[i];
                        att[t] = d / std::sqrt(static_cast<float>(hs));
                        mx = std::max(mx, att[t]);
                    }
                    float sum = 0;
                    for (int t = 0; t <= pos; ++t) sum += att[t] = std::exp(att[t] - mx);
                    float* o = &xb[static_cast<std::size_t>(h) * hs];
                    for (int i = 0; i < hs; ++i) o[i] = 0;
                    for (int t = 0; t <= pos; ++t) {
                        const float* vt = &vc[(L * len + t) * KV + static_cast<std::size_t>(kvh) * hs];
                        for (int i = 0; i < hs; ++i) o[i] += att[t] / sum * vt[i];
                    }
                }
                keep(l, "wo", xb.data(), D);
                matvec(&m.wo[L * D * D], xb.data(), xb2.data(), D, D);
                for (int i = 0; i < D; ++i) x[i] += xb2[i];
                rmsnorm(x.data(), &m.rms_ffn[L * D], xb.data(), D);
                keep(l, "w1", xb.data(), D);
                matvec(&m.w1[L * Hd * D], xb.data(), hb.data(), Hd, D);
                matvec(&m.w3[L * Hd * D], xb.data(), hb2.data(), Hd, D);
                for (int i = 0; i < Hd; ++i) hb[i] = hb[i] / (1.0f + std::exp(-hb[i])) * hb2[i];  // SwiGLU
                keep(l, "w2", hb.data(), Hd);
                matvec(&m.w2[L * D * Hd], hb.data(), xb.data(), D, Hd);
                for (int i = 0; i < D; ++i) x[i] += xb[i];
            }
            rmsnorm(x.data(), m.rms_final.data(), xb.data(), D);
            matvec(m.emb.data(), xb.data(), logits.data(), c.vocab, D);
            float mx = -1e30f;
            for (float v : logits) mx = std::max(mx, v);
            double sum = 0;
            for (float& v : logits) sum += v = std::exp(v - mx);
            double r = rnd() * sum, acc = 0;
            tok = c.vocab - 1;
            for (int i = 0; i < c.vocab; ++i)
                if ((acc += logits[i]) >= r) {
                    tok = i;
                    break;
                }
        }
    }
}

// The weight matrix (out x in, row-major) of a layer: "wq", "wk", "wv", "wo", "w1", "w2", "w3".
inline std::vector<float> weight(const model& m, int layer, const std::string& which, int& out, int& in) {
    const int D = m.c.dim, Hd = m.c.hidden, KV = m.kv_dim();
    const std::vector<float>* src = nullptr;
    out = D;
    in = D;
    if (which == "wq") src = &m.wq;
    else if (which == "wk") src = &m.wk, out = KV;
    else if (which == "wv") src = &m.wv, out = KV;
    else if (which == "wo") src = &m.wo;
    else if (which == "w1") src = &m.w1, out = Hd;
    else if (which == "w3") src = &m.w3, out = Hd;
    else if (which == "w2") src = &m.w2, in = Hd;
    if (!src) return {};
    const std::size_t n = static_cast<std::size_t>(out) * in;
    return std::vector<float>(src->begin() + static_cast<std::ptrdiff_t>(n * layer), src->begin() + static_cast<std::ptrdiff_t>(n * (layer + 1)));
}

}  // namespace llama2c
