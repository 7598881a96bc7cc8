// bench/bench_amx.cpp — lowbit_bench_amx: the tiled int8 GEMM of arch::amx
// against avx512vnni's on the same weights and activations (issue 19 item 1),
// each forced with force_arch, so the AMX body's speed-up and the M below
// which it should leave the rows to the avx512vnni body (amx::amx_min_rows)
// can be read off one run on an AMX machine.
//   amx/<scheme>/<K>x<N>/m<M>/<arch>/t<threads>
// schemes w4g32, w8g32, w8pc; shapes 2048x2048, 4096x4096 and 4096x14336
// (K x N); M = 1, 4, 8, 16, 32, 64, 256 (the sweep that sets amx_min_rows) at
// 1 thread and LOWBIT_BENCH_THREADS (default: every core), and M = 64, 256
// also at 4 and 16 threads whatever the core count (names that do not depend
// on the machine: the A/B runs filter on them). An arch the CPU (or OS) lacks
// is registered but skipped with a message. Counter GOPs: 2*M*N*K integer
// operations per second. docs/kernels.md ("AMX") has the commands.
// The bf16_dot path likewise: amx-bf16/<scheme>/<K>x<N>/m<M>/<arch>/t<threads>,
// the AMX-BF16 tile body (arch amx, on CPUs with AMX-BF16) against the
// vdpbf16ps body (arch avx512vnni), same shapes and M sweep (it sets
// amx::bf16_min_rows); GOPs counts 2*M*N*K float operations there. An arch
// whose bf16 entry would be a fallback (no AVX512_BF16, or AMX without
// AMX-BF16) is skipped with a message, as is a missing arch.
#include "bench_schemes.hpp"

#include <algorithm>
#include <memory>
#include <thread>
#include <vector>

namespace bench {
namespace {

lowbit::thread_pool& pool_of(unsigned threads) {
    static std::map<unsigned, std::unique_ptr<lowbit::thread_pool>> pools;
    auto& p = pools[threads];
    if (!p) p = std::make_unique<lowbit::thread_pool>(threads);
    return *p;
}

template <class S>
void bm_amx(benchmark::State& st, shape s, std::size_t M, lowbit::arch a, unsigned threads, lowbit::matmul_path path) {
    if (!lowbit::force_arch(a)) {
        st.SkipWithError((std::string("arch ") + lowbit::arch_name(a) + " is not available on this CPU/OS").c_str());
        return;
    }
    const auto& tw = random_tiled<S>(s.N, s.K);
    const std::vector<float> x = random_floats(M * s.K, 4);
    std::vector<float> y(M * s.N);
    lowbit::matmul_workspace ws;
    lowbit::matmul_info info;
    lowbit::matmul_options opt;
    opt.path = path;
    opt.allow_fallback = false;  // the forced arch's own entry, or no number
    opt.info = &info;
    auto& exec = pool_of(threads);
    const lowbit::matrix_view<const float> X(x.data(), M, s.K);
    const lowbit::matrix_view<float> Y(y.data(), M, s.N);
    auto call = [&] { return lowbit::gemm(tw.view(), X, Y, exec, opt, ws); };
    if (const lowbit::status first = call(); !first) {  // e.g. a bf16 entry whose CPU feature is missing: no fallback here
        (void)lowbit::force_arch(lowbit::arch::automatic);
        st.SkipWithError(first.message());
        return;
    }
    st.SetLabel(info.kernel);
    for (auto _ : st) {
        if (!call()) std::abort();
        benchmark::ClobberMemory();
    }
    (void)lowbit::force_arch(lowbit::arch::automatic);
    st.counters["GOPs"] = benchmark::Counter(2.0 * M * s.N * s.K * static_cast<double>(st.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

unsigned max_threads() {
    if (const char* e = std::getenv("LOWBIT_BENCH_THREADS")) return static_cast<unsigned>(std::max(1, std::atoi(e)));
    const unsigned n = std::thread::hardware_concurrency();
    return n ? n : 1;
}

template <class S>
void register_scheme() {
    const unsigned tmax = max_threads();
    for (shape s : {shape{2048, 2048}, shape{4096, 4096}, shape{4096, 14336}})
        for (std::size_t m : {1, 4, 8, 16, 32, 64, 256}) {
            std::vector<unsigned> threads{1u};
            if (m >= 64) threads.insert(threads.end(), {4u, 16u});
            if (std::find(threads.begin(), threads.end(), tmax) == threads.end()) threads.push_back(tmax);
            for (unsigned t : threads)
                for (lowbit::matmul_path p : {lowbit::matmul_path::int8_dot, lowbit::matmul_path::bf16_dot})
                    for (lowbit::arch a : {lowbit::arch::avx512vnni, lowbit::arch::amx}) {
                        const std::string name = std::string(p == lowbit::matmul_path::bf16_dot ? "amx-bf16/" : "amx/") + scheme_name<S>() +
                                                 "/" + shape_name(s) + "/m" + std::to_string(m) + "/" + lowbit::arch_name(a) + "/t" +
                                                 std::to_string(t);
                        benchmark::RegisterBenchmark(name.c_str(), bm_amx<S>, s, m, a, t, p)->UseRealTime()->Unit(benchmark::kMillisecond);
                    }
        }
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    const auto& f = lowbit::detail::cpu();
    benchmark::AddCustomContext("lowbit_arch", lowbit::arch_name(lowbit::active_arch()));
    benchmark::AddCustomContext("amx", f.has(lowbit::arch::amx) ? "usable" : (f.amx_hw ? "refused by the OS" : "absent"));
    benchmark::AddCustomContext("amx_bf16", f.amx_bf16 ? "yes" : "no");
    benchmark::AddCustomContext("avx512bf16", f.avx512bf16 ? "yes" : "no");
    bench::register_scheme<lowbit::scheme<4, lowbit::per_group<32>>>();
    bench::register_scheme<lowbit::scheme<8, lowbit::per_group<32>>>();
    bench::register_scheme<lowbit::scheme<8, lowbit::per_channel>>();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
