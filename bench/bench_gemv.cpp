// bench/bench_gemv.cpp — gemv/<scheme>/<fma|int8>/<KxN>/t<threads>: y = W x on the
// public lowbit::gemv with a caller workspace, weights in the tiled kernel layout
// (pack/tiled.hpp); gemv/<scheme>/<fma|int8>/plain/<KxN>/t<threads>: the same on
// the plain qmatrix. Counters: weight_GBps (codes +
// scales read per second), frac_bw (of membw/t<threads> measured in the same
// run), ratio_f32 (our f32_gemv time / this time), GFLOPs.
#include "bench_schemes.hpp"

namespace bench {
namespace {

template <class S>
void bm_gemv(benchmark::State& st, shape s, lowbit::matmul_path path, int threads, bool tiled) {
    const auto& q = random_qmatrix<S>(s.N, s.K);
    const lowbit::tiled<S>* tw = tiled ? &random_tiled<S>(s.N, s.K) : nullptr;
    const std::vector<float> x = random_floats(s.K, 3);
    std::vector<float> y(s.N);
    lowbit::matmul_workspace ws;
    lowbit::matmul_options opt;
    opt.path = path;
    auto& exec = pool(threads);
    auto call = [&] {
        const auto st_ = tw ? lowbit::gemv(tw->view(), lowbit::span<const float>(x), lowbit::span<float>(y), exec, opt, ws)
                           : lowbit::gemv(q.view(), lowbit::span<const float>(x), lowbit::span<float>(y), exec, opt, ws);
        if (!st_) std::abort();
    };
    call();  // warm the workspace
    timer tm;
    for (auto _ : st) {
        call();
        benchmark::ClobberMemory();
    }
    const double per_call = tm.seconds() / static_cast<double>(st.iterations());
    const double wb = static_cast<double>(weight_bytes(q));
    const std::string t = "/t" + std::to_string(threads);
    st.counters["weight_GBps"] = benchmark::Counter(wb * static_cast<double>(st.iterations()) / 1e9, benchmark::Counter::kIsRate);
    st.counters["GFLOPs"] =
        benchmark::Counter(2.0 * s.N * s.K * static_cast<double>(st.iterations()) / 1e9, benchmark::Counter::kIsRate);
    const double bw = result_or("membw" + t, 0.0);
    if (bw > 0) st.counters["frac_bw"] = wb / per_call / 1e9 / bw;
    const double f32 = result_or("f32_gemv/" + shape_name(s) + t, 0.0);
    if (f32 > 0) st.counters["ratio_f32"] = f32 / per_call;
}

}  // namespace

void register_gemv() {
    // gemv_overhead/w4g32/int8/256x64/tN: a GEMV too small to split usefully
    // (64 rows, 9 KB of weights): what one call costs beyond its arithmetic,
    // i.e. activation quantization, task split and the pool's fork/join
    // (issue 19 item 2; llama.cpp's figure is the same shape through ggml).
    for (int t : thread_counts()) {
        using S = lowbit::scheme<4, lowbit::per_group<32>>;
        benchmark::RegisterBenchmark(("gemv_overhead/w4g32/int8/256x64/t" + std::to_string(t)).c_str(), bm_gemv<S>, shape{256, 64},
                                     lowbit::matmul_path::int8_dot, t, true)
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
    }
    for (const auto& s : gemv_shapes())
        for_each_scheme([&](auto tag) {
            using S = decltype(tag);
            for (bool tiled : {true, false})
                for (auto path : {lowbit::matmul_path::int8_dot, lowbit::matmul_path::dequant_fma})
                    for (int t : thread_counts()) {
                        const std::string name = "gemv/" + scheme_name<S>() + "/" + bench_path_name(path) + (tiled ? "/" : "/plain/") +
                                                 shape_name(s) + "/t" + std::to_string(t);
                        benchmark::RegisterBenchmark(name.c_str(), bm_gemv<S>, s, path, t, tiled)
                            ->UseRealTime()
                            ->Unit(benchmark::kMicrosecond);
                    }
        });
}

}  // namespace bench
