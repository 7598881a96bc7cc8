// bench/bench_calibrate.cpp — the cost of MSE clip calibration against min/max
// (issue 20 item 4: MSE <= 3x min/max). One binary of its own
// (lowbit_bench_calibrate) so it builds in seconds, apart from the kernels.
//
//   calibrate/<scheme>/minmax   quantize<S> of a 2048x2048 weight, calib = minmax
//   calibrate/<scheme>/mse      the same with calibrate::mse{} (grid 100, shrink 0.8, norm 2.4)
//   calibrate/<scheme>/mse_l2   the same with norm 2 (the fast path of the search)
// Each mse row reports x_minmax: its time over the minmax row's, measured in
// this process (minmax rows are registered first), both as CPU time of the
// process (std::clock): on a shared machine wall time also counts the waits
// for a core. One thread: the search is per group and splits over threads
// like everything else.
// The weight is Gaussian (sigma 0.02) with 1 % of values scaled by 8
// (outliers), fixed seed: the shape of real LLM weights that makes clipping pay.
#include <benchmark/benchmark.h>

#include <ctime>
#include <cstddef>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <lowbit/lowbit.hpp>

namespace {

constexpr std::size_t kRows = 2048, kCols = 2048;

const std::vector<float>& weight() {
    static const std::vector<float> w = [] {
        std::vector<float> v(kRows * kCols);
        std::mt19937_64 rng(20);
        std::normal_distribution<float> gauss(0.0f, 0.02f);
        std::uniform_real_distribution<float> u(0.0f, 1.0f);
        for (float& x : v) {
            x = gauss(rng);
            if (u(rng) < 0.01f) x *= 8.0f;
        }
        return v;
    }();
    return w;
}

std::map<std::string, double>& minmax_seconds() {
    static std::map<std::string, double> m;
    return m;
}

template <class S>
void bm_quantize(benchmark::State& st, std::string name, lowbit::calibration calib) {
    const lowbit::matrix_view<const float> w(weight().data(), kRows, kCols);
    double seconds = 0.0;
    for (auto _ : st) {
        const std::clock_t t0 = std::clock();
        auto q = lowbit::quantize<S>(w, calib);
        seconds += static_cast<double>(std::clock() - t0) / CLOCKS_PER_SEC;
        if (!q) {
            st.SkipWithError(q.error().message());
            return;
        }
        benchmark::DoNotOptimize(q->storage().codes.data());
    }
    const double per_call = seconds / static_cast<double>(st.iterations());
    st.counters["ns_per_weight"] = per_call * 1e9 / static_cast<double>(kRows * kCols);
    if (calib.kind == lowbit::calibration::method::minmax) {
        minmax_seconds()[name] = per_call;
    } else {
        const auto it = minmax_seconds().find(name);
        if (it != minmax_seconds().end()) st.counters["x_minmax"] = per_call / it->second;
    }
}

template <class S>
void add(const std::string& name) {
    lowbit::calibrate::mse l2;
    l2.norm = 2.0f;
    benchmark::RegisterBenchmark(("calibrate/" + name + "/minmax").c_str(), bm_quantize<S>, name, lowbit::calibration{})
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("calibrate/" + name + "/mse").c_str(), bm_quantize<S>, name,
                                 lowbit::calibration{lowbit::calibrate::mse{}})
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("calibrate/" + name + "/mse_l2").c_str(), bm_quantize<S>, name, lowbit::calibration{l2})
        ->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
    using namespace lowbit;
    add<scheme<4, per_group<32>>>("w4g32");
    add<scheme<4, per_group<32>, asymmetric>>("w4g32a");
    add<scheme<4, per_group<128>>>("w4g128");
    add<scheme<4, per_group<128>, asymmetric>>("w4g128a");
    add<scheme<3, per_group<128>>>("w3g128");
    add<scheme<3, per_group<128>, asymmetric>>("w3g128a");
    add<scheme<3, per_group<64>>>("w3g64");
    add<scheme<3, per_group<64>, asymmetric>>("w3g64a");
    add<scheme<2, per_group<16>>>("w2g16");
    add<scheme<2, per_group<16>, asymmetric>>("w2g16a");
    add<scheme<8, per_group<32>>>("w8g32");
    add<scheme<8, per_group<32>, asymmetric>>("w8g32a");
    add<scheme<8, per_channel>>("w8pc");
    add<scheme<8, per_channel, asymmetric>>("w8pca");
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
