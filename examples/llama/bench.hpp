// bench.hpp — `lowbit-llama MODEL --bench pp512,tg128`: the two numbers
// llama-bench reports, measured the same way, so the two tools can be run on
// the same GGUF file and compared (docs/benchmarks-llamacpp.md).
//
//   ppN  prompt processing: N tokens from position 0 through the model as one
//        batch (prefill.hpp), logits of the last position only — llama-bench's
//        "pp" test (one llama_decode of an N-token batch).
//   tgN  text generation: N tokens one at a time from an empty KV cache, each
//        step computing the logits and taking the greedy next token —
//        llama-bench's "tg" test.
//
// Each test runs once to warm up, then `reps` times; the line reports the mean
// and the standard deviation of tokens/s over the repetitions (llama-bench's
// avg_ts and stddev_ts) and where the time went: linear layers (classifier
// included), attention, and the rest (norms, RoPE, SwiGLU, embedding lookup,
// the executor's fork/join outside those calls).
#pragma once

#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "prefill.hpp"

namespace llama {

struct bench_test {
    bool prompt = true;  // pp (prompt) or tg (generation)
    int tokens = 0;
};

struct bench_result {
    bench_test test;
    double mean_tps = 0, stddev_tps = 0;
    double matmul_share = 0, attention_share = 0;  // fractions of the measured time
};

// "pp512,tg128" -> tests; a clear error for anything else.
inline result<std::vector<bench_test>> parse_bench(const std::string& list) {
    std::vector<bench_test> out;
    std::size_t at = 0;
    while (at <= list.size()) {
        const std::size_t end = std::min(list.find(',', at), list.size());
        const std::string item = list.substr(at, end - at);
        at = end + 1;
        if (item.empty()) continue;
        bench_test t;
        if (item.size() > 2 && (item.compare(0, 2, "pp") == 0 || item.compare(0, 2, "tg") == 0)) {
            t.prompt = item[0] == 'p';
            char* stop = nullptr;
            const long n = std::strtol(item.c_str() + 2, &stop, 10);
            if (*stop == '\0' && n > 0 && n <= (1 << 20)) t.tokens = static_cast<int>(n);
        }
        if (t.tokens == 0)
            return status::error(errc::invalid_argument, "--bench: '%s' is not ppN or tgN (N in 1..1048576)", item.c_str());
        out.push_back(t);
    }
    if (out.empty()) return status::error(errc::invalid_argument, "--bench: no test given (e.g. pp512,tg128)");
    return out;
}

// One run of a test; returns its seconds and adds the split to *times. ps
// holds the prefill's activations from run to run, as llama-bench's context
// keeps its compute buffers: a fresh one (41 MB at pp512 of a 1B model)
// cost 100-112 ms of page faults and zeroing per run on the Zen 5
// development machine, ~4 % of a one-thread pp512 there.
template <class Exec>
double bench_once(const model& m, const bench_test& t, Exec& exec, run_options o, op_times* times, prefill_state& ps) {
    o.times = times;
    rng r(42);
    std::vector<int> tokens(static_cast<std::size_t>(t.tokens));
    for (int& id : tokens) id = static_cast<int>(r.next_u32() % static_cast<std::uint32_t>(m.c.vocab));
    const auto t0 = std::chrono::steady_clock::now();
    if (t.prompt) {
        prefill(m, tokens.data(), t.tokens, t.tokens - 1, ps, exec, o);
    } else {
        state s(m.c, t.tokens);
        int tok = tokens[0];
        for (int pos = 0; pos < t.tokens; ++pos) {
            const float* logits = forward(m, s, tok, pos, exec, o);
            tok = static_cast<int>(std::max_element(logits, logits + m.c.vocab) - logits);
        }
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

template <class Exec>
result<bench_result> run_bench(const model& m, const bench_test& t, int reps, Exec& exec, const run_options& o) {
    if (t.tokens > m.c.seq_len)
        return status::error(errc::invalid_argument, "--bench: %s%d needs %d positions, the model has %d (its context length)",
                             t.prompt ? "pp" : "tg", t.tokens, t.tokens, m.c.seq_len);
    prefill_state ps;  // sized by the warm-up run
    op_times warm;
    bench_once(m, t, exec, o, &warm, ps);
    op_times split;
    double total = 0, sum = 0, sum2 = 0;
    for (int i = 0; i < reps; ++i) {
        const double secs = bench_once(m, t, exec, o, &split, ps);
        const double tps = t.tokens / secs;
        total += secs, sum += tps, sum2 += tps * tps;
    }
    bench_result b;
    b.test = t;
    b.mean_tps = sum / reps;
    b.stddev_tps = reps > 1 ? std::sqrt(std::max(0.0, (sum2 - sum * sum / reps) / (reps - 1))) : 0.0;
    b.matmul_share = split.matmul / total;
    b.attention_share = split.attention / total;
    return b;
}

}  // namespace llama
