// bench/bench_main.cpp — registers every benchmark in a fixed order (memory
// probe and f32 baselines first, so the quantized kernels can report ratios to
// them) and runs Google Benchmark. `--threads=1,2,4,8,16` sets the thread
// counts of every threaded case (default 1,2).
#include "bench_common.hpp"

int main(int argc, char** argv) {
    if (!bench::take_threads_flag(argc, argv)) return 1;
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::AddCustomContext("lowbit_arch", lowbit::arch_name(lowbit::active_arch()));
    bench::register_baselines();
    bench::register_gemv();
    bench::register_gemm();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
