// bench/bench_gemm.cpp — gemm/<scheme>/<fma|int8|bf16>/4096x4096/m<M>/t<threads> (M = 32, 256; 16 and 64 for tiled w4g32):
// Y = X W^T on the public lowbit::gemm with a caller workspace, weights in the
// tiled kernel layout; gemm/<scheme>/<fma|int8>/plain/...: on the plain qmatrix. Counters:
// GFLOPs (2*M*N*K per call; for the int8 path these are integer ops),
// ratio_f32 (our f32_gemm time / this time), frac_vnni_peak (int8 path: GOPs
// over vnni_peak/t<threads> of the same run).
#include "bench_schemes.hpp"

namespace bench {
namespace {

template <class S>
void bm_gemm(benchmark::State& st, shape s, std::size_t M, lowbit::matmul_path path, int threads, bool tiled) {
    const auto& q = random_qmatrix<S>(s.N, s.K);
    const lowbit::tiled<S>* tw = tiled ? &random_tiled<S>(s.N, s.K) : nullptr;
    const std::vector<float> x = random_floats(M * s.K, 4);
    std::vector<float> y(M * s.N);
    lowbit::matmul_workspace ws;
    lowbit::matmul_options opt;
    opt.path = path;
    auto& exec = pool(threads);
    const lowbit::matrix_view<const float> X(x.data(), M, s.K);
    const lowbit::matrix_view<float> Y(y.data(), M, s.N);
    auto call = [&] {
        const auto st_ = tw ? lowbit::gemm(tw->view(), X, Y, exec, opt, ws) : lowbit::gemm(q.view(), X, Y, exec, opt, ws);
        if (!st_) std::abort();
    };
    call();
    timer tm;
    for (auto _ : st) {
        call();
        benchmark::ClobberMemory();
    }
    const double per_call = tm.seconds() / static_cast<double>(st.iterations());
    const double flops = 2.0 * M * s.N * s.K;
    const std::string t = "/t" + std::to_string(threads);
    st.counters["GFLOPs"] = benchmark::Counter(flops * static_cast<double>(st.iterations()) / 1e9, benchmark::Counter::kIsRate);
    const double f32 = result_or("f32_gemm/" + shape_name(s) + "/m" + std::to_string(M) + t, 0.0);
    if (f32 > 0) st.counters["ratio_f32"] = f32 / per_call;
    const double peak = result_or("vnni_peak" + t, 0.0);
    if (peak > 0 && path == lowbit::matmul_path::int8_dot) st.counters["frac_vnni_peak"] = flops / per_call / 1e9 / peak;
}

}  // namespace

void register_gemm() {
    // m16 and m64: w4g32 on the tiled layout only (issue 19 item 4's rows:
    // where the float paths' register blocks and row passes change).
    for (std::size_t m : {16, 32, 64, 256})
        for_each_scheme([&](auto tag) {
            using S = decltype(tag);
            for (bool tiled : {true, false})
                for (auto path : {lowbit::matmul_path::int8_dot, lowbit::matmul_path::dequant_fma, lowbit::matmul_path::bf16_dot})
                    for (int t : thread_counts()) {
                        if (path == lowbit::matmul_path::bf16_dot && !tiled) continue;  // the dense bf16 path is the f32 body
                        if ((m == 16 || m == 64) && !(tiled && scheme_name<S>() == "w4g32")) continue;
                        const std::string name = "gemm/" + scheme_name<S>() + "/" + bench_path_name(path) + (tiled ? "/" : "/plain/") +
                                                 "4096x4096/m" + std::to_string(m) + "/t" + std::to_string(t);
                        benchmark::RegisterBenchmark(name.c_str(), bm_gemm<S>, shape{4096, 4096}, m, path, t, tiled)
                            ->UseRealTime()
                            ->Unit(benchmark::kMillisecond);
                    }
        });
}

}  // namespace bench
