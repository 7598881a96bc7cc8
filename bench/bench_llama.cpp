// bench/bench_llama.cpp — lowbit_bench_llama: lowbit-llama's steps outside
// the linear layers at the shapes of a 1B LLaMA (dim 2048, 32 heads, 4 KV
// heads, head size 64, FFN 5632), each on the AVX2 path (linalg::gemm_acc and
// std::exp: the baseline) and on the CPU's best (AVX-512 where it has it:
// examples/llama/avx512.hpp), forced with force_arch in this one process.
//   llama/attention/pp512/<arch>/t<threads>   causal_attention of 512 positions from 0 (one layer of pp512)
//   llama/attention/tg@511/<arch>/t<threads>  one position over a 512-key cache (one layer of a decode step)
//   llama/swiglu/pp512/<arch>/t<threads>      swiglu over 512 x 5632 values (one layer of pp512)
// `--threads=1,2,4` (bench_common.hpp) sets the thread counts, default 1,2.
// Each row reports x_base: the avx2 row's real time over its own (same case
// and thread count; avx2 rows are registered first), and x_base_cpu the same
// for the process's CPU time (std::clock), which on a shared machine leaves
// out the waits for a core (at t > 1 it adds the pool's polling). An arch
// the CPU lacks is skipped.
#include "bench_common.hpp"

#include <chrono>
#include <ctime>

#include "prefill.hpp"

namespace {

constexpr std::size_t kHeads = 32, kKvHeads = 4, kHeadSize = 64, kHidden = 5632;

std::vector<float> uniform(std::size_t n, std::uint64_t seed, float amp) {
    std::vector<float> v(n);
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> u(-amp, amp);
    for (float& x : v) x = u(rng);
    return v;
}

std::map<std::string, std::pair<double, double>>& base_seconds() {  // real, CPU
    static std::map<std::string, std::pair<double, double>> m;
    return m;
}

// Runs f(exec) under the forced arch; x_base against the avx2 row of `key`.
template <class F>
void timed(benchmark::State& st, lowbit::arch a, int threads, const std::string& key, F&& f) {
    if (!lowbit::force_arch(a)) {
        st.SkipWithError((std::string("arch ") + lowbit::arch_name(a) + " is not available on this CPU").c_str());
        return;
    }
    auto& exec = bench::pool(threads);
    f(exec);  // warm: scratch buffers, pool threads
    double secs = 0, cpu = 0;
    for (auto _ : st) {
        const auto t0 = std::chrono::steady_clock::now();
        const std::clock_t c0 = std::clock();
        f(exec);
        cpu += static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
        secs += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        benchmark::ClobberMemory();
    }
    (void)lowbit::force_arch(lowbit::arch::automatic);
    const double n = static_cast<double>(st.iterations());
    st.counters["cpu_ms"] = 1e3 * cpu / n;
    if (a == lowbit::arch::avx2) {
        base_seconds()[key] = {secs / n, cpu / n};
    } else if (base_seconds().count(key)) {
        st.counters["x_base"] = base_seconds()[key].first / (secs / n);
        st.counters["x_base_cpu"] = base_seconds()[key].second / (cpu / n);
    }
}

void bm_attention(benchmark::State& st, std::size_t first, std::size_t n, lowbit::arch a, int threads, std::string key) {
    const llama::attention_dims dims{kHeads, kKvHeads, kHeadSize};
    const std::size_t D = kHeads * kHeadSize, KV = kKvHeads * kHeadSize;
    const std::vector<float> q = uniform(n * D, 1, 1.0f), k = uniform((first + n) * KV, 2, 1.0f), v = uniform(k.size(), 3, 1.0f);
    std::vector<float> out(n * D);
    const llama::attention_io io{q.data(), D, k.data(), v.data(), KV, out.data(), D};
    timed(st, a, threads, key, [&](lowbit::thread_pool& exec) { llama::causal_attention(dims, io, first, n, exec); });
}

void bm_swiglu(benchmark::State& st, std::size_t n, lowbit::arch a, int threads, std::string key) {
    const std::vector<float> g0 = uniform(n, 4, 6.0f), u = uniform(n, 5, 2.0f);
    std::vector<float> g = g0;
    timed(st, a, threads, key, [&](lowbit::thread_pool& exec) {
        std::copy(g0.begin(), g0.end(), g.begin());  // the same inputs every call (part of each row's time)
        llama::swiglu(g.data(), u.data(), n, exec);
    });
}

void register_all() {
    const lowbit::arch best = lowbit::active_arch();
    for (int t : bench::thread_counts()) {
        const std::string tt = "/t" + std::to_string(t);
        for (lowbit::arch a : {lowbit::arch::avx2, best}) {
            const std::string arch = std::string("/") + lowbit::arch_name(a);
            benchmark::RegisterBenchmark(("llama/attention/pp512" + arch + tt).c_str(), bm_attention, 0, 512, a, t, "att_pp" + tt)
                ->UseRealTime()->Unit(benchmark::kMillisecond);
            benchmark::RegisterBenchmark(("llama/attention/tg@511" + arch + tt).c_str(), bm_attention, 511, 1, a, t, "att_tg" + tt)
                ->UseRealTime()->Unit(benchmark::kMicrosecond);
            benchmark::RegisterBenchmark(("llama/swiglu/pp512" + arch + tt).c_str(), bm_swiglu, 512 * kHidden, a, t, "swiglu" + tt)
                ->UseRealTime()->Unit(benchmark::kMillisecond);
            if (a == best) break;  // a CPU whose best is AVX2: one row
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (!bench::take_threads_flag(argc, argv)) return 1;
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::AddCustomContext("lowbit_arch", lowbit::arch_name(lowbit::active_arch()));
    register_all();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
