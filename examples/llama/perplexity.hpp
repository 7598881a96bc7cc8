// perplexity.hpp — perplexity and KL divergence over a text, with the meaning,
// the summary lines and the base-logits file of llama.cpp's llama-perplexity,
// so that each tool can check the other.
//
// Perplexity (llama-perplexity's default mode):
//   the text is tokenized with BOS as the vocabulary says; n_chunk = tokens /
//   n_ctx (or --chunks, if fewer); chunk i is tokens [i n_ctx, (i+1) n_ctx) with
//   its first token replaced by BOS (when the vocabulary adds BOS); each chunk
//   is run from position 0 and only the second half is scored: the logits at
//   positions j = n_ctx/2 .. n_ctx-2 predict token j+1, so n_ctx - 1 - n_ctx/2
//   tokens per chunk. PPL = exp(mean NLL); its uncertainty is
//   PPL * sqrt((mean NLL^2 - mean NLL^2) / (count - 1)).
//   At least 2 n_ctx tokens are needed.
//
// Base-logits file (--kl-divergence-base FILE without --kl-divergence),
// little-endian, as llama-perplexity writes it:
//   "_logits_" | n_ctx i32 | n_vocab i32 | n_chunk i32 | tokens i32[n_chunk * n_ctx]
//   then for every chunk, for each of its n_ctx - 1 - n_ctx/2 scored positions,
//   one record of nv = 2 ceil(n_vocab / 2) + 4 uint16:
//     f32 scale | f32 min_log_prob | uint16 q[n_vocab] | (one uint16 of padding when n_vocab is odd)
//   where, with m = max logit, lo = max(min logit, m - 16), lse = log sum exp(logit - m):
//     scale = (m - lo) / 65535, min_log_prob = lo - m - lse,
//     q[v] = round((logit[v] - lo) / scale) if logit[v] > lo else 0
//   so log p(v) = scale q[v] + min_log_prob (log-probabilities below the
//   window of 16 nats under the top one are clamped to its bottom).
//   The tokens are the text's, before the BOS substitution.
//
// KL divergence (--kl-divergence with --kl-divergence-base FILE): the chunks and
// tokens come from the file (the text is not read); for every scored position:
//   KLD = sum over v with log p_base(v) > -16 of p_base(v) (log p_base(v) - log q(v))
//   and NLL(Q), NLL(base), Δp = q(token) - p_base(token), whether the argmax
//   agree; then llama-perplexity's per-chunk lines and its three blocks of
//   statistics (perplexity, KL divergence, token probability).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "gguf_io.hpp"
#include "prefill.hpp"

namespace llama {

struct perplexity_options {
    int n_ctx = 512;
    int n_chunks = -1;  // < 0: all
    int bos = -1;       // the token put first in every chunk; < 0: none (the vocabulary adds no BOS)
    run_options run;
    std::FILE* out = stdout;
};

inline std::size_t record_u16(int n_vocab) { return 2 * ((static_cast<std::size_t>(n_vocab) + 1) / 2) + 4; }

// Encodes one position's logits as a base-file record; returns its NLL of `tok`.
inline double encode_record(const float* logits, int n_vocab, int tok, std::uint16_t* rec) {
    float mx = logits[0], mn = logits[0];
    for (int i = 1; i < n_vocab; ++i) mx = std::max(mx, logits[i]), mn = std::min(mn, logits[i]);
    mn = std::max(mn, mx - 16);
    double sum = 0;
    for (int i = 0; i < n_vocab; ++i) sum += std::exp(logits[i] - mx);
    const float lse = static_cast<float>(std::log(sum));
    const float min_log_prob = mn - mx - lse;
    const float scale = (mx - mn) / 65535.f;
    std::memcpy(rec, &scale, 4);
    std::memcpy(rec + 2, &min_log_prob, 4);
    std::uint16_t* q = rec + 4;
    std::fill(q, q + (record_u16(n_vocab) - 4), std::uint16_t{0});
    if (scale > 0) {
        const float inv = 1 / scale;
        for (int i = 0; i < n_vocab; ++i)
            q[i] = logits[i] > mn ? static_cast<std::uint16_t>(std::min(65535L, std::lrint(inv * (logits[i] - mn)))) : 0;
    }
    return static_cast<double>(mx) + lse - logits[tok];
}

// NLL of `tok` under logits (log-softmax in double).
inline double token_nll(const float* logits, int n_vocab, int tok) {
    const float mx = *std::max_element(logits, logits + n_vocab);
    double sum = 0;
    for (int i = 0; i < n_vocab; ++i) sum += std::exp(static_cast<double>(logits[i] - mx));
    return std::log(sum) - static_cast<double>(logits[tok] - mx);
}

// ---- the base-logits file ---------------------------------------------------------------
class base_file {
public:
    // Maps and checks the whole file: header, exact size, token ids, record
    // headers. One clear message for anything else.
    static result<base_file> open(const char* path, int model_vocab) {
        auto f = tool_files::open_input(path);
        if (!f) return f.error();
        base_file b;
        b.map_ = std::move(*f);
        const auto bytes = b.map_->bytes();
        const std::size_t n = bytes.size();
        if (n < 20 || std::memcmp(bytes.data(), "_logits_", 8) != 0)
            return status::error(errc::corrupt_data, "%s is not a llama-perplexity --kl-divergence-base file (no _logits_ header)", path);
        std::int32_t h[3];
        std::memcpy(h, bytes.data() + 8, 12);
        b.n_ctx = h[0], b.n_vocab = h[1], b.n_chunk = h[2];
        if (b.n_ctx < 4 || b.n_ctx > (1 << 22) || b.n_chunk < 1 || b.n_chunk > (1 << 22) || b.n_vocab < 1 || b.n_vocab > (1 << 24))
            return status::error(errc::corrupt_data, "%s: implausible header: n_ctx %d, n_vocab %d, n_chunk %d", path, b.n_ctx, b.n_vocab, b.n_chunk);
        if (b.n_vocab != model_vocab)
            return status::error(errc::shape_mismatch, "%s was written for a vocabulary of %d tokens, the model has %d", path, b.n_vocab,
                                 model_vocab);
        // Bytes per chunk (its tokens and records) fit in 64 bits; the total is
        // checked by division so that a hostile header cannot overflow it.
        const unsigned long long per_chunk = 4ull * b.n_ctx + 2ull * b.scored() * record_u16(b.n_vocab);
        const unsigned long long tokens = static_cast<unsigned long long>(b.n_ctx) * b.n_chunk;
        if ((n - 20) % per_chunk != 0 || (n - 20) / per_chunk != static_cast<unsigned long long>(b.n_chunk))
            return status::error(errc::corrupt_data, "%s: %zu bytes, its header (n_ctx %d, n_vocab %d, n_chunk %d) promises 20 + %d x %llu",
                                 path, n, b.n_ctx, b.n_vocab, b.n_chunk, b.n_chunk, per_chunk);
        b.tokens.resize(static_cast<std::size_t>(tokens));
        std::memcpy(b.tokens.data(), bytes.data() + 20, static_cast<std::size_t>(tokens) * 4);
        for (std::size_t i = 0; i < b.tokens.size(); ++i)
            if (b.tokens[i] < 0 || b.tokens[i] >= b.n_vocab)
                return status::error(errc::corrupt_data, "%s: token %zu is %d, outside the vocabulary of %d", path, i, b.tokens[i], b.n_vocab);
        b.records_ = bytes.data() + 20 + tokens * 4;
        const std::size_t nrec = static_cast<std::size_t>(b.scored()) * b.n_chunk;
        for (std::size_t r = 0; r < nrec; ++r) {
            float sm[2];
            std::memcpy(sm, b.records_ + r * record_u16(b.n_vocab) * 2, 8);
            // The largest log-probability a record can state, scale 65535 +
            // min_log_prob, is -lse <= 0 in a written file (up to rounding):
            // above that a huge finite scale makes exp() overflow and the KLD Inf.
            if (!std::isfinite(sm[0]) || !std::isfinite(sm[1]) || sm[0] < 0 || sm[1] > 0 || !(sm[0] * 65535.f + sm[1] <= 1e-3f))
                return status::error(errc::corrupt_data,
                                     "%s: record %zu has scale %g and min log-prob %g (need a finite scale >= 0, log-prob <= 0 and "
                                     "scale x 65535 + min log-prob <= 0)",
                                     path, r, static_cast<double>(sm[0]), static_cast<double>(sm[1]));
        }
        return b;
    }

    int scored() const { return n_ctx - 1 - n_ctx / 2; }
    // The record of scored position j (0 <= j < scored()) of chunk c, as uint16 (copied: the mapping need not be aligned).
    void record(int c, int j, std::vector<std::uint16_t>& out) const {
        const std::size_t nv = record_u16(n_vocab);
        out.resize(nv);
        std::memcpy(out.data(), records_ + (static_cast<std::size_t>(c) * scored() + j) * nv * 2, nv * 2);
    }

    int n_ctx = 0, n_vocab = 0, n_chunk = 0;
    std::vector<std::int32_t> tokens;

private:
    std::unique_ptr<tool_files::input_file> map_;
    const std::uint8_t* records_ = nullptr;
};

// ---- perplexity ----------------------------------------------------------------------------
struct perplexity_result {
    double ppl = 0, ppl_error = 0, mean_nll = 0;
    std::size_t count = 0;
    int chunks = 0;
};

// Runs the perplexity evaluation over `tokens`; with base_path, writes the
// base-logits file there as every tool writes a file (../common/output_file.hpp:
// a temporary file renamed over base_path when complete, so a failed run
// leaves no half file and no earlier file destroyed; base_path is never one
// of `inputs`, the model and the text). Errors about the file name it; a
// refused base_path is invalid_argument.
template <class Exec>
result<perplexity_result> perplexity(const model& m, const std::vector<int>& tokens, const perplexity_options& o, Exec& exec,
                                     const char* base_path = nullptr, const std::vector<tool_files::input_path>& inputs = {}) {
    const int n_ctx = o.n_ctx, V = m.c.vocab;
    if (n_ctx < 4) return status::error(errc::invalid_argument, "--ctx %d: need at least 4", n_ctx);
    if (static_cast<long long>(tokens.size()) < 2ll * n_ctx)
        return status::error(errc::invalid_argument, "the text is %zu tokens; a context of %d needs at least %d", tokens.size(), n_ctx,
                             2 * n_ctx);
    for (const int t : tokens)
        if (t < 0 || t >= V) return status::error(errc::invalid_argument, "token %d is outside the model's vocabulary of %d", t, V);
    const int max_chunks = static_cast<int>(tokens.size() / static_cast<std::size_t>(n_ctx));
    const int n_chunk = o.n_chunks < 0 ? max_chunks : std::min(o.n_chunks, max_chunks);
    if (n_chunk < 1) return status::error(errc::invalid_argument, "--chunks %d: nothing to evaluate", o.n_chunks);
    const int first = n_ctx / 2;

    tool_files::output_file base;
    const bool writing = base_path != nullptr;
    auto base_error = [&](const status& st) -> status { return status::error(st.code(), "%s: %s", base_path, st.message()); };
    auto put = [&](const void* p, std::size_t n) { return base.write(static_cast<const std::uint8_t*>(p), n); };
    if (writing) {
        tool_files::remove_stale_temps(base_path);
        const std::int32_t h[3] = {n_ctx, V, n_chunk};
        std::vector<std::int32_t> tok(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(n_chunk) * n_ctx);
        status st = base.open(base_path, inputs);
        if (st) st = put("_logits_", 8);
        if (st) st = put(h, sizeof h);
        if (st) st = put(tok.data(), tok.size() * 4);
        if (!st) return base_error(st);  // `base` removes its temporary file
    }

    prefill_state s;
    std::vector<int> chunk(static_cast<std::size_t>(n_ctx));
    std::vector<std::uint16_t> recs(static_cast<std::size_t>(n_ctx - 1 - first) * record_u16(V));
    double nll = 0, nll2 = 0;
    std::size_t count = 0;
    for (int i = 0; i < n_chunk; ++i) {
        std::copy_n(tokens.begin() + static_cast<std::ptrdiff_t>(i) * n_ctx, n_ctx, chunk.begin());
        if (o.bos >= 0) chunk[0] = o.bos;
        prefill(m, chunk.data(), n_ctx, first, s, exec, o.run);
        for (int j = first; j < n_ctx - 1; ++j) {
            const float* lg = s.logits.data() + static_cast<std::size_t>(j - first) * V;
            const int next = chunk[static_cast<std::size_t>(j) + 1];
            const double v = writing ? encode_record(lg, V, next, recs.data() + static_cast<std::size_t>(j - first) * record_u16(V))
                                : token_nll(lg, V, next);
            nll += v;
            nll2 += v * v;
        }
        if (writing)
            if (status st = put(recs.data(), recs.size() * 2); !st) return base_error(st);
        count += static_cast<std::size_t>(n_ctx - 1 - first);
        std::fprintf(o.out, "[%d]%.4f,", i + 1, std::exp(nll / static_cast<double>(count)));
        std::fflush(o.out);
    }
    std::fprintf(o.out, "\n");
    if (writing)
        if (status st = base.commit(); !st) return base_error(st);
    perplexity_result r;
    r.count = count;
    r.chunks = n_chunk;
    const double mean = nll / static_cast<double>(count);
    double var = nll2 / static_cast<double>(count) - mean * mean;
    r.mean_nll = mean;
    r.ppl = std::exp(mean);
    r.ppl_error = var > 0 ? std::sqrt(var / static_cast<double>(count - 1)) * r.ppl : 0;
    if (var > 0) std::fprintf(o.out, "Final estimate: PPL = %.4f +/- %.5f\n", r.ppl, r.ppl_error);
    else std::fprintf(o.out, "Unexpected negative standard deviation of log(prob)\n");
    std::fflush(o.out);
    return r;
}

// ---- KL divergence against a base file ----------------------------------------------------------
struct kld_stats {
    double sum_nll = 0, sum_nll2 = 0, sum_nll_base = 0, sum_nll_base2 = 0, sum_nll_nll_base = 0;
    double sum_kld = 0, sum_kld2 = 0, sum_p_diff = 0, sum_p_diff2 = 0, sum_p_diff4 = 0;
    float max_p_diff = 0;
    std::size_t same_top = 0, count = 0;
    std::vector<float> kld_values, p_diff_values;
};

// One scored position: `logits` of the model under test against the base record.
inline void kld_position(const float* logits, int n_vocab, const std::uint16_t* rec, int tok, kld_stats& k) {
    float mx = logits[0];
    int imax = 0;
    for (int i = 1; i < n_vocab; ++i)
        if (logits[i] > mx) mx = logits[i], imax = i;
    double sum_exp = 0;
    for (int i = 0; i < n_vocab; ++i) sum_exp += std::exp(logits[i] - mx);
    const float lse = static_cast<float>(std::log(sum_exp));
    float scale, min_log_prob;
    std::memcpy(&scale, rec, 4);
    std::memcpy(&min_log_prob, rec + 2, 4);
    const std::uint16_t* q = rec + 4;
    const float nll = mx + lse - logits[tok];
    const float nll_base = -(scale * q[tok] + min_log_prob);
    k.sum_nll += nll, k.sum_nll2 += static_cast<double>(nll) * nll;
    k.sum_nll_base += nll_base, k.sum_nll_base2 += static_cast<double>(nll_base) * nll_base;
    k.sum_nll_nll_base += static_cast<double>(nll) * nll_base;
    const float log_norm = mx + lse;
    double kld = 0;
    int imax_base = 0;
    float best = 0;
    for (int i = 0; i < n_vocab; ++i) {
        const float lb = scale * q[i] + min_log_prob;
        if (i == 0 || lb > best) best = lb, imax_base = i;
        if (lb > -16.f) kld += std::exp(lb) * (lb - logits[i] + log_norm);
    }
    k.sum_kld += kld, k.sum_kld2 += kld * kld;
    ++k.count;
    k.same_top += imax == imax_base;
    const float p_diff = std::exp(-nll) - std::exp(-nll_base);
    k.sum_p_diff += p_diff;
    const double d2 = static_cast<double>(p_diff) * p_diff;
    k.sum_p_diff2 += d2, k.sum_p_diff4 += d2 * d2;
    k.max_p_diff = std::max(k.max_p_diff, std::fabs(p_diff));
    k.kld_values.push_back(static_cast<float>(kld));
    k.p_diff_values.push_back(p_diff);
}

namespace detail {
// Mean and its standard error (0 for fewer than 11 values), as llama-perplexity reports them.
inline std::pair<double, double> mean_and_error(double sum, double sum2, std::size_t n) {
    if (n < 1) return {0., 0.};
    const double f = sum / static_cast<double>(n);
    double df = sum2 / static_cast<double>(n) - f * f;
    df = df > 0 && n > 10 ? std::sqrt(df / static_cast<double>(n - 1)) : 0.;
    return {f, df};
}
inline double covariance(double a, double b, double ab, std::size_t n) {
    if (n < 10) return 0.0;
    const double dn = static_cast<double>(n);
    return (ab / dn - (a / dn) * (b / dn)) / (dn - 1);
}
// Linear interpolation between the sorted values around fraction (n - 1).
inline float percentile(const std::vector<float>& v, float fraction) {
    if (fraction <= 0) return v.front();
    if (fraction >= 1) return v.back();
    float p = fraction * static_cast<float>(v.size() - 1);
    const std::size_t ip = static_cast<std::size_t>(p);
    p -= static_cast<float>(ip);
    return (1 - p) * v[ip] + p * v[std::min(ip + 1, v.size() - 1)];
}
inline float median(const std::vector<float>& v) {
    return v.size() % 2 == 0 ? 0.5f * (v[v.size() / 2] + v[v.size() / 2 - 1]) : v[v.size() / 2];
}
}  // namespace detail

// The chunk line: PPL(Q), ln(PPL(Q)/PPL(base)), KLD, RMS Δp, same top p, each ± its error.
inline void print_kld_line(std::FILE* out, int chunk, const kld_stats& k) {
    using namespace detail;
    const auto lp = mean_and_error(k.sum_nll, k.sum_nll2, k.count);
    const auto lb = mean_and_error(k.sum_nll_base, k.sum_nll_base2, k.count);
    const double cov = covariance(k.sum_nll, k.sum_nll_base, k.sum_nll_nll_base, k.count);
    const double ppl = std::exp(lp.first);
    std::fprintf(out, "%4d", chunk);
    std::fprintf(out, "    %9.4f ± %9.4f", ppl, ppl * lp.second);
    std::fprintf(out, "    %10.5f ± %10.5f", lp.first - lb.first, std::sqrt(lp.second * lp.second + lb.second * lb.second - 2.0 * cov));
    const auto kl = mean_and_error(k.sum_kld, k.sum_kld2, k.count);
    std::fprintf(out, "    %10.5f ± %10.5f", kl.first, kl.second);
    const auto mse = mean_and_error(k.sum_p_diff2, k.sum_p_diff4, k.count);
    const double rms = std::sqrt(mse.first);
    std::fprintf(out, "    %6.3f ± %6.3f %%", 100.0 * rms, 100.0 * 0.5 / rms * mse.second);
    const double top = static_cast<double>(k.same_top) / static_cast<double>(k.count);
    std::fprintf(out, "    %6.3f ± %6.3f %%\n", 100.0 * top, 100.0 * std::sqrt(top * (1 - top) / static_cast<double>(k.count - 1)));
}

// The closing statistics, line for line as llama-perplexity prints them.
inline void print_kld_summary(std::FILE* out, kld_stats& k) {
    using namespace detail;
    std::sort(k.kld_values.begin(), k.kld_values.end());
    std::sort(k.p_diff_values.begin(), k.p_diff_values.end());
    std::fprintf(out, "====== Perplexity statistics ======\n");
    const auto lp = mean_and_error(k.sum_nll, k.sum_nll2, k.count);
    const double ppl = std::exp(lp.first), ppl_unc = ppl * lp.second;
    std::fprintf(out, "Mean PPL(Q)                   : %10.6f ± %10.6f\n", ppl, ppl_unc);
    const auto lb = mean_and_error(k.sum_nll_base, k.sum_nll_base2, k.count);
    const double pb = std::exp(lb.first), pb_unc = pb * lb.second;
    std::fprintf(out, "Mean PPL(base)                : %10.6f ± %10.6f\n", pb, pb_unc);
    const double cov = covariance(k.sum_nll, k.sum_nll_base, k.sum_nll_nll_base, k.count);
    std::fprintf(out, "Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100.0 * cov / (lp.second * lb.second));
    const double ratio = lp.first - lb.first, ratio_unc = std::sqrt(lp.second * lp.second + lb.second * lb.second - 2.0 * cov);
    std::fprintf(out, "Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", ratio, ratio_unc);
    std::fprintf(out, "Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", std::exp(ratio), std::exp(ratio) * ratio_unc);
    const double pcov = ppl * pb * cov;
    std::fprintf(out, "Mean PPL(Q)-PPL(base)         : %10.6f ± %10.6f\n", ppl - pb,
                 std::sqrt(ppl_unc * ppl_unc + pb_unc * pb_unc - 2.0 * pcov));
    std::fprintf(out, "\n====== KL divergence statistics ======\n");
    const auto kl = mean_and_error(k.sum_kld, k.sum_kld2, k.count);
    const std::vector<float>& kv = k.kld_values;
    std::fprintf(out, "Mean    KLD: %10.6f ± %10.6f\n", kl.first, kl.second);
    std::fprintf(out, "Maximum KLD: %10.6f\n", static_cast<double>(kv.back()));
    std::fprintf(out, "99.9%%   KLD: %10.6f\n", static_cast<double>(percentile(kv, 0.999f)));
    std::fprintf(out, "99.0%%   KLD: %10.6f\n", static_cast<double>(percentile(kv, 0.990f)));
    std::fprintf(out, "95.0%%   KLD: %10.6f\n", static_cast<double>(percentile(kv, 0.950f)));
    std::fprintf(out, "90.0%%   KLD: %10.6f\n", static_cast<double>(percentile(kv, 0.900f)));
    std::fprintf(out, "Median  KLD: %10.6f\n", static_cast<double>(median(kv)));
    std::fprintf(out, "10.0%%   KLD: %10.6f\n", static_cast<double>(percentile(kv, 0.100f)));
    std::fprintf(out, " 5.0%%   KLD: %10.6f\n", static_cast<double>(percentile(kv, 0.050f)));
    std::fprintf(out, " 1.0%%   KLD: %10.6f\n", static_cast<double>(percentile(kv, 0.010f)));
    std::fprintf(out, " 0.1%%   KLD: %10.6f\n", static_cast<double>(percentile(kv, 0.001f)));
    std::fprintf(out, "Minimum KLD: %10.6f\n", static_cast<double>(kv.front()));
    std::fprintf(out, "\n====== Token probability statistics ======\n");
    const auto pd = mean_and_error(k.sum_p_diff, k.sum_p_diff2, k.count);
    const std::vector<float>& pv = k.p_diff_values;
    std::fprintf(out, "Mean    Δp: %6.3f ± %5.3f %%\n", 100.0 * pd.first, 100.0 * pd.second);
    std::fprintf(out, "Maximum Δp: %6.3f%%\n", 100.0 * pv.back());
    const float fr[] = {0.999f, 0.990f, 0.950f, 0.900f, 0.750f};
    const char* nm[] = {"99.9%", "99.0%", "95.0%", "90.0%", "75.0%"};
    for (int i = 0; i < 5; ++i) std::fprintf(out, "%s   Δp: %6.3f%%\n", nm[i], 100.0 * percentile(pv, fr[i]));
    std::fprintf(out, "Median  Δp: %6.3f%%\n", 100.0 * median(pv));
    const float fr2[] = {0.250f, 0.100f, 0.050f, 0.010f, 0.001f};
    const char* nm2[] = {"25.0%", "10.0%", " 5.0%", " 1.0%", " 0.1%"};
    for (int i = 0; i < 5; ++i) std::fprintf(out, "%s   Δp: %6.3f%%\n", nm2[i], 100.0 * percentile(pv, fr2[i]));
    std::fprintf(out, "Minimum Δp: %6.3f%%\n", 100.0 * pv.front());
    const auto mse = mean_and_error(k.sum_p_diff2, k.sum_p_diff4, k.count);
    const double rms = std::sqrt(mse.first);
    std::fprintf(out, "RMS Δp    : %6.3f ± %5.3f %%\n", 100.0 * rms, 100.0 * 0.5 / rms * mse.second);
    const double top = static_cast<double>(k.same_top) / static_cast<double>(k.count);
    std::fprintf(out, "Same top p: %6.3f ± %5.3f %%\n", 100.0 * top, 100.0 * std::sqrt(top * (1.0 - top) / static_cast<double>(k.count - 1)));
}

// Evaluates `m` on the base file's chunks and returns the statistics (their
// summary printed when there are at least 100 positions, as llama-perplexity does).
template <class Exec>
result<kld_stats> kl_divergence(const model& m, const base_file& b, const perplexity_options& o, Exec& exec) {
    if (b.n_vocab != m.c.vocab)
        return status::error(errc::shape_mismatch, "the base file has a vocabulary of %d, the model %d", b.n_vocab, m.c.vocab);
    const int n_ctx = b.n_ctx, first = n_ctx / 2, V = m.c.vocab;
    kld_stats k;
    prefill_state s;
    std::vector<int> chunk(static_cast<std::size_t>(n_ctx));
    std::vector<std::uint16_t> rec;
    std::fprintf(o.out, "chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence              Δp RMS            Same top p\n");
    for (int i = 0; i < b.n_chunk; ++i) {
        std::copy_n(b.tokens.begin() + static_cast<std::ptrdiff_t>(i) * n_ctx, n_ctx, chunk.begin());
        if (o.bos >= 0) chunk[0] = o.bos;
        prefill(m, chunk.data(), n_ctx, first, s, exec, o.run);
        for (int j = first; j < n_ctx - 1; ++j) {
            b.record(i, j - first, rec);
            kld_position(s.logits.data() + static_cast<std::size_t>(j - first) * V, V, rec.data(), chunk[static_cast<std::size_t>(j) + 1], k);
        }
        print_kld_line(o.out, i + 1, k);
        std::fflush(o.out);
    }
    std::fprintf(o.out, "\n");
    if (k.count >= 100) print_kld_summary(o.out, k);
    else std::fprintf(o.out, "(%zu positions: too few for the statistics, which need 100)\n", k.count);
    return k;
}

}  // namespace llama
