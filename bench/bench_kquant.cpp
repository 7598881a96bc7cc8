// bench/bench_kquant.cpp — lowbit_bench_kquant: quantizing a tensor to the
// K-quants whose scale search is fit_affine (Q2_K, Q4_K, Q5_K), with and
// without an importance matrix, on the scalar search and on the arch the
// library picks (the AVX2 lanes where the CPU has AVX2; docs/formats.md,
// "How the K-quant scales are chosen").
//
//   kquant_quantize/<type>/<plain|imatrix>/<scalar|auto>/<rows>x<cols>
//
// One thread (gguf::quantize runs on the calling thread), CPU time per
// tensor. Counter speedup_vs_scalar on the auto rows: (CPU time of the scalar
// row measured just before in this process) / (this row's). Inputs: Gaussian
// weights, imatrix weights uniform in [0.1, 2) (seeded). --rows=N (default
// 4096) shortens the tensor; the columns are 4096.
//
// A binary of its own, apart from lowbit_bench: it builds in seconds.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <lowbit/formats/gguf_blocks.hpp>
#include <lowbit/kernels/arch.hpp>

using namespace lowbit;

namespace {

std::int64_t g_rows = 4096;
constexpr std::int64_t cols = 4096;
std::map<std::string, double> g_scalar_seconds;  // "<type>/<plain|imatrix>" -> CPU s per tensor

struct inputs {
    std::vector<float> x, qw;
};
const inputs& data() {
    static const inputs in = [] {
        inputs d;
        std::mt19937 rng(4096);
        std::normal_distribution<float> normal(0.0f, 0.02f);
        std::uniform_real_distribution<float> uni(0.1f, 2.0f);
        d.x.resize(static_cast<std::size_t>(g_rows * cols));
        for (float& v : d.x) v = normal(rng);
        d.qw.resize(static_cast<std::size_t>(cols));
        for (float& v : d.qw) v = uni(rng);
        return d;
    }();
    return in;
}

void run(benchmark::State& state, gguf::gguf_type type, const char* type_name, bool imatrix, arch a) {
    const inputs& in = data();
    if (!force_arch(a).ok()) {
        state.SkipWithError("arch not supported by this CPU");
        return;
    }
    std::vector<unsigned char> out(static_cast<std::size_t>(gguf::row_size(type, cols) * g_rows));
    const std::clock_t c0 = std::clock();
    for (auto _ : state) {
        const status st = gguf::quantize(type, in.x.data(), out.data(), g_rows, cols, imatrix ? in.qw.data() : nullptr);
        if (!st.ok()) state.SkipWithError(st.message());
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    const double cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC / static_cast<double>(state.iterations());
    (void)force_arch(arch::automatic);
    const std::string key = std::string(type_name) + (imatrix ? "/imatrix" : "/plain");
    if (a == arch::scalar) g_scalar_seconds[key] = cpu;
    else if (g_scalar_seconds.count(key) && cpu > 0.0) state.counters["speedup_vs_scalar"] = g_scalar_seconds[key] / cpu;
    state.counters["Mvalues_per_cpu_s"] = static_cast<double>(g_rows * cols) / cpu / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::strncmp(argv[i], "--rows=", 7) == 0) {
            g_rows = std::atoll(argv[i] + 7);
            for (int j = i; j + 1 < argc; ++j) argv[j] = argv[j + 1];
            --argc;
            --i;
        }
    }
    struct kind {
        gguf::gguf_type type;
        const char* name;
    };
    const kind kinds[] = {{gguf::gguf_type::q2_K, "Q2_K"}, {gguf::gguf_type::q4_K, "Q4_K"}, {gguf::gguf_type::q5_K, "Q5_K"}};
    const std::string shape = std::to_string(g_rows) + "x" + std::to_string(cols);
    for (const kind& k : kinds) {
        for (bool imatrix : {false, true}) {
            for (arch a : {arch::scalar, arch::automatic}) {
                const std::string name = std::string("kquant_quantize/") + k.name + (imatrix ? "/imatrix/" : "/plain/") +
                                         (a == arch::scalar ? "scalar/" : "auto/") + shape;
                auto body = [k, imatrix, a](benchmark::State& s) { run(s, k.type, k.name, imatrix, a); };
                benchmark::RegisterBenchmark(name.c_str(), body)->Unit(benchmark::kMillisecond);
            }
        }
    }
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
