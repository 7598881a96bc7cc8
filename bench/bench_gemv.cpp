// bench/bench_gemv.cpp — gemv/<scheme>/<fma|int8|bf16>/<KxN>/t<threads>: y = W x on the
// public lowbit::gemv with a caller workspace, weights in the tiled kernel layout
// (pack/tiled.hpp); gemv/<scheme>/<fma|int8>/plain/<KxN>/t<threads>: the same on
// the plain qmatrix; gemv_cold/...: weights streamed from DRAM (bm_gemv_cold). Counters: weight_GBps (codes +
// scales read per second), frac_bw (of membw/t<threads> measured in the same
// run), ratio_f32 (our f32_gemv time / this time), GFLOPs.
// gemv_rot/w4g32/int8/<KxN>/t<threads>: the GEMV of a weight quantized after an
// input rotation (lowbit::rotated_gemv: x rotated by a randomized Hadamard
// transform first, as lowbit-llama's -rot linears run); ratio_plain is its time
// over the same tiled int8 GEMV without the rotation, both timed in the same
// iterations (bm_gemv_rot).
// rotate/<n>/<arch>/t1: the copy and hadamard_rotation::apply of one vector of
// n values alone, rotate_to/...: apply_to (out of place, what rotated_gemv
// runs), with the transform's arch forced (quant/detail/x86/fwht_x86.hpp).
#include <lowbit/kernels/rotated_matmul.hpp>
#include <lowbit/quant/hadamard.hpp>

#include "bench_schemes.hpp"

namespace bench {
namespace {

// weight_GBps over the run, and frac_bw (of membw/t<threads>, when it ran first).
void bandwidth_counters(benchmark::State& st, double wb, double per_call, int threads) {
    st.counters["weight_GBps"] = benchmark::Counter(wb * static_cast<double>(st.iterations()) / 1e9, benchmark::Counter::kIsRate);
    const double bw = result_or("membw/t" + std::to_string(threads), 0.0);
    if (bw > 0) st.counters["frac_bw"] = wb / per_call / 1e9 / bw;
}

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
    bandwidth_counters(st, static_cast<double>(weight_bytes(q)), per_call, threads);
    st.counters["GFLOPs"] =
        benchmark::Counter(2.0 * s.N * s.K * static_cast<double>(st.iterations()) / 1e9, benchmark::Counter::kIsRate);
    const double f32 = result_or("f32_gemv/" + shape_name(s) + "/t" + std::to_string(threads), 0.0);
    if (f32 > 0) st.counters["ratio_f32"] = f32 / per_call;
}

// The same GEMV with its weights read from DRAM: a ring of copies of the tiled
// weight that together hold at least 1 GiB (as much as membw reads, far more
// than any last-level cache: the lent Emerald Rapids has 300 MiB, which holds
// even the 8192 x 28672 weight that the hot rows above repeat), one copy per
// call, the least recently used next. frac_bw against membw of the same run
// is issue 19 item 3's "DRAM GEMV at the bandwidth".
template <class S>
void bm_gemv_cold(benchmark::State& st, shape s, int threads) {
    const std::size_t wb = weight_bytes(random_qmatrix<S>(s.N, s.K));
    const std::size_t copies = std::max<std::size_t>(2, ((std::size_t{1} << 30) + wb - 1) / wb);
    const std::vector<lowbit::tiled<S>> ring(copies, random_tiled<S>(s.N, s.K));
    const std::vector<float> x = random_floats(s.K, 3);
    std::vector<float> y(s.N);
    lowbit::matmul_workspace ws;
    lowbit::matmul_options opt;
    opt.path = lowbit::matmul_path::int8_dot;
    auto& exec = pool(threads);
    std::size_t next = 0;
    auto call = [&] {
        const auto st_ = lowbit::gemv(ring[next].view(), lowbit::span<const float>(x), lowbit::span<float>(y), exec, opt, ws);
        if (!st_) std::abort();
        next = next + 1 == copies ? 0 : next + 1;
    };
    for (std::size_t i = 0; i < copies; ++i) call();  // warm the workspace and the pool; leaves copy 0 the coldest
    timer tm;
    for (auto _ : st) {
        call();
        benchmark::ClobberMemory();
    }
    bandwidth_counters(st, static_cast<double>(wb), tm.seconds() / static_cast<double>(st.iterations()), threads);
    st.counters["copies"] = static_cast<double>(copies);
}

// Each iteration runs the plain GEMV and the rotated one
// (lowbit::rotated_gemv: the apply_to of x and the activation preparation on
// the caller, then the job) on the same weights, so that both see the same
// load and their ratio holds on a shared machine. The reported (manual) time
// is rotated_gemv's; ratio_plain its time over the plain GEMV's (the same
// weight bytes: the ratio of time per weight byte); rotate_us the apply_to of
// x alone (timed apart, after the two).
void bm_gemv_rot(benchmark::State& st, shape s, int threads) {
    using S = lowbit::scheme<4, lowbit::per_group<32>>;
    const double wb = static_cast<double>(weight_bytes(random_qmatrix<S>(s.N, s.K)));
    const auto tv = lowbit::to_weights(random_tiled<S>(s.N, s.K).view());
    if (!tv) std::abort();
    const lowbit::weights_view w = *tv;
    const std::vector<float> x = random_floats(s.K, 3);
    auto q = lowbit::hadamard_rotation::make(s.K, 11);
    if (!q) std::abort();
    std::vector<float> xr(s.K), y(s.N);
    lowbit::matmul_workspace ws_plain, ws_rot;
    lowbit::matmul_options opt;
    opt.path = lowbit::matmul_path::int8_dot;
    auto& exec = pool(threads);
    auto gemv = [&] {
        if (!lowbit::gemv(w, lowbit::span<const float>(x), lowbit::span<float>(y), exec, opt, ws_plain)) std::abort();
    };
    auto rotated = [&] {
        if (!lowbit::rotated_gemv(*q, w, lowbit::span<const float>(x), lowbit::span<float>(y), exec, opt, ws_rot)) std::abort();
    };
    gemv(), rotated();  // warm the workspaces
    double plain = 0, rot = 0, rotate = 0;
    for (auto _ : st) {
        const timer t0;
        gemv();
        benchmark::ClobberMemory();
        plain += t0.seconds();
        const timer t1;
        rotated();
        benchmark::ClobberMemory();
        const double r = t1.seconds();
        rot += r;
        const timer t2;
        if (!q->apply_to(lowbit::span<const float>(x), lowbit::span<float>(xr))) std::abort();
        benchmark::ClobberMemory();
        rotate += t2.seconds();
        st.SetIterationTime(r);
    }
    const double n = static_cast<double>(st.iterations());
    bandwidth_counters(st, wb, rot / n, threads);
    st.counters["ratio_plain"] = rot / plain;
    st.counters["rotate_us"] = rotate / n * 1e6;
    st.counters["plain_us"] = plain / n * 1e6;
}

// rotate/...: copy + apply(); rotate_to/...: apply_to (out of place).
void bm_rotate(benchmark::State& st, std::size_t n, lowbit::arch a, bool to) {
    if (!lowbit::force_arch(a)) {
        st.SkipWithError("arch not available on this CPU");
        return;
    }
    auto q = lowbit::hadamard_rotation::make(n, 11);
    if (!q) std::abort();
    const std::vector<float> x = random_floats(n, 3);
    std::vector<float> xr(n);
    for (auto _ : st) {
        if (to) {
            if (!q->apply_to(lowbit::span<const float>(x), lowbit::span<float>(xr))) std::abort();
        } else {
            std::copy(x.begin(), x.end(), xr.begin());
            if (!q->apply(lowbit::span<float>(xr))) std::abort();
        }
        benchmark::ClobberMemory();
    }
    (void)lowbit::force_arch(lowbit::arch::automatic);
}

}  // namespace

void register_gemv() {
    for (std::size_t n : {2048, 4096})
        for (lowbit::arch a : {lowbit::arch::automatic, lowbit::arch::avx2, lowbit::arch::sse2, lowbit::arch::neon})
            for (bool to : {false, true})
                benchmark::RegisterBenchmark(((to ? "rotate_to/" : "rotate/") + std::to_string(n) + "/" + lowbit::arch_name(a) + "/t1").c_str(),
                                             bm_rotate, n, a, to)
                    ->Unit(benchmark::kMicrosecond);
    // gemv_rot/w4g32/int8/<KxN>/tN: bm_gemv_rot (issue 20: within 10 % of the plain int8 GEMV per weight byte).
    for (const shape s : {shape{4096, 4096}, shape{2048, 512}})
        for (int t : thread_counts())
            benchmark::RegisterBenchmark(("gemv_rot/w4g32/int8/" + shape_name(s) + "/t" + std::to_string(t)).c_str(), bm_gemv_rot, s, t)
                ->UseManualTime()
                ->Unit(benchmark::kMicrosecond);
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
    // gemv_cold/<w4g32|w8g32>/int8/<KxN>/tN: weights from DRAM (bm_gemv_cold).
    for (const auto& s : gemv_shapes()) {
        if (s.K * s.N < std::size_t{4096} * 4096) continue;  // 2048x512 is there for its L2 residency
        for (int t : thread_counts()) {
            const std::string shp = shape_name(s) + "/t" + std::to_string(t);
            benchmark::RegisterBenchmark(("gemv_cold/w4g32/int8/" + shp).c_str(), bm_gemv_cold<lowbit::scheme<4, lowbit::per_group<32>>>, s, t)
                ->UseRealTime()
                ->Unit(benchmark::kMicrosecond);
            benchmark::RegisterBenchmark(("gemv_cold/w8g32/int8/" + shp).c_str(), bm_gemv_cold<lowbit::scheme<8, lowbit::per_group<32>>>, s, t)
                ->UseRealTime()
                ->Unit(benchmark::kMicrosecond);
        }
    }
    // gemv_small/<w4g16|w4g32>/<fma|int8|ref>/plain/<KxN>/tN: groups of 16 (the
    // small-group kernels, docs/kernels.md) against groups of 32 and the reference
    // on the dense layout (the tiled layout takes no groups of 16).
    for (const shape s : {shape{4096, 4096}, shape{2048, 512}})
        for (auto path : {lowbit::matmul_path::int8_dot, lowbit::matmul_path::dequant_fma, lowbit::matmul_path::reference})
            for (int t : thread_counts()) {
                const std::string tail = std::string("/") + (path == lowbit::matmul_path::reference ? "ref" : bench_path_name(path)) +
                                         "/plain/" + shape_name(s) + "/t" + std::to_string(t);
                benchmark::RegisterBenchmark(("gemv_small/w4g16" + tail).c_str(), bm_gemv<lowbit::scheme<4, lowbit::per_group<16>>>, s,
                                             path, t, false)
                    ->UseRealTime()
                    ->Unit(benchmark::kMicrosecond);
                benchmark::RegisterBenchmark(("gemv_small/w4g32" + tail).c_str(), bm_gemv<lowbit::scheme<4, lowbit::per_group<32>>>, s,
                                             path, t, false)
                    ->UseRealTime()
                    ->Unit(benchmark::kMicrosecond);
            }
    for (const auto& s : gemv_shapes())
        for_each_scheme([&](auto tag) {
            using S = decltype(tag);
            for (bool tiled : {true, false})
                for (auto path : {lowbit::matmul_path::int8_dot, lowbit::matmul_path::dequant_fma, lowbit::matmul_path::bf16_dot})
                    for (int t : thread_counts()) {
                        if (path == lowbit::matmul_path::bf16_dot && !tiled) continue;  // the dense bf16 path is the f32 body
                        const std::string name = "gemv/" + scheme_name<S>() + "/" + bench_path_name(path) + (tiled ? "/" : "/plain/") +
                                                 shape_name(s) + "/t" + std::to_string(t);
                        benchmark::RegisterBenchmark(name.c_str(), bm_gemv<S>, s, path, t, tiled)
                            ->UseRealTime()
                            ->Unit(benchmark::kMicrosecond);
                    }
        });
}

}  // namespace bench
