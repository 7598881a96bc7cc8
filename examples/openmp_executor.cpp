// openmp_executor — run lowbit's kernels on an OpenMP thread team.
//
// An executor is anything callable as exec(n_tasks, fn) that runs fn(task)
// once for each task in [0, n_tasks) and returns when all are done
// (lowbit/parallel.hpp). Kernels split their work into a fixed set of tasks,
// so the result is bit-identical whatever runs them: this adapter, lowbit's
// thread_pool, or a serial loop. The program checks exactly that.
//
//   openmp_executor [N K]       (default 4096 x 4096; OMP_NUM_THREADS picks the team size)
#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include <lowbit/lowbit.hpp>

// The whole adapter: a dynamic schedule, because tasks are uneven (row tails).
struct openmp_executor {
    template <class F>
    void operator()(std::size_t n_tasks, F&& fn) const {
        const long n = static_cast<long>(n_tasks);
#pragma omp parallel for schedule(dynamic, 1)
        for (long i = 0; i < n; ++i) fn(static_cast<std::size_t>(i));
    }
    unsigned concurrency() const { return static_cast<unsigned>(omp_get_max_threads()); }
};

int main(int argc, char** argv) {
    const std::size_t N = argc > 2 ? std::strtoul(argv[1], nullptr, 10) : 4096;
    const std::size_t K = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 4096;
    using W4 = lowbit::scheme<4, lowbit::per_group<32>>;

    std::mt19937 rng(1);
    std::normal_distribution<float> nd;
    std::vector<float> w(N * K), x(K);
    for (float& v : w) v = nd(rng);
    for (float& v : x) v = nd(rng);

    openmp_executor omp;
    auto q = lowbit::quantize<W4>(lowbit::matrix_view<const float>(w.data(), N, K), lowbit::quantize_options{}, omp);
    if (!q) {
        std::fprintf(stderr, "quantize: %s\n", q.error().message());
        return 1;
    }

    lowbit::matmul_options opt;
    opt.path = lowbit::matmul_path::int8_dot;
    lowbit::matmul_workspace ws;  // reused across calls: no allocation on the hot path
    std::vector<float> y_omp(N), y_serial(N);
    lowbit::status st = lowbit::gemv(q->view(), lowbit::span<const float>(x), lowbit::span<float>(y_omp), omp, opt, ws);
    if (st.ok())
        st = lowbit::gemv(q->view(), lowbit::span<const float>(x), lowbit::span<float>(y_serial), lowbit::serial_executor{}, opt, ws);
    if (!st) {
        std::fprintf(stderr, "gemv: %s\n", st.message());
        return 1;
    }
    const bool same = std::memcmp(y_omp.data(), y_serial.data(), N * sizeof(float)) == 0;
    std::printf("W4 g32 int8 gemv %zu x %zu on %u OpenMP threads (arch %s): %s the serial result\n", N, K,
                omp.concurrency(), lowbit::arch_name(lowbit::active_arch()), same ? "bit-identical to" : "DIFFERENT from");
    return same ? 0 : 1;
}
