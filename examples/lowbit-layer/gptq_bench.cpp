// lowbit-gptq-bench — GPTQ's cost on a large layer: Hessian accumulation from
// streamed calibration batches, the factorization, the column sweep, and peak
// memory. Activations are synthetic but correlated (low-rank + noise, a few
// outlier channels), generated batch by batch so they never exist all at once.
//
//   lowbit-gptq-bench [N K sequences seq_len threads group]   (default 4096 4096 128 2048 2 128)
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>
#if defined(__unix__)
#include <sys/resource.h>
#endif

#include <lowbit/algo.hpp>

namespace {
long peak_rss_kb() {
#if defined(__unix__)
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
#else
    return 0;
#endif
}
double cpu_seconds() {  // process CPU time, all threads
#if defined(__unix__)
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + 1e-6 * static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
#else
    return 0;
#endif
}
double since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
struct xorshift {
    std::uint64_t s;
    float next() {  // roughly N(0, 1): sum of 4 uniforms, centred and scaled
        float acc = 0;
        for (int i = 0; i < 4; ++i) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            acc += static_cast<float>(s >> 40) * (1.0f / 16777216.0f);
        }
        return (acc - 2.0f) * 1.7320508f;
    }
};
}  // namespace

int main(int argc, char** argv) {
    const std::size_t N = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 4096;
    const std::size_t K = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 4096;
    const std::size_t seqs = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 128;
    const std::size_t len = argc > 4 ? std::strtoul(argv[4], nullptr, 10) : 2048;
    const unsigned threads = argc > 5 ? static_cast<unsigned>(std::atoi(argv[5])) : 2;
    const int group = argc > 6 ? std::atoi(argv[6]) : 128;
    lowbit::thread_pool pool(threads);

    std::vector<float> w(N * K);
    xorshift r{0x9e3779b97f4a7c15ull};
    for (float& v : w) v = 0.02f * r.next();
    const std::size_t R = 32;  // activation = mix of R latent factors + noise, per-channel gains
    std::vector<float> basis(R * K), gain(K), x(len * K);
    for (float& v : basis) v = 0.3f * r.next();
    for (std::size_t j = 0; j < K; ++j) gain[j] = (j % 97 == 0 ? 10.0f : 1.0f) * (0.5f + 0.25f * std::fabs(r.next()));

    lowbit::hessian h(K);
    double t_gen = 0, t_h = 0, cpu_h = 0;
    for (std::size_t s = 0; s < seqs; ++s) {
        auto t0 = std::chrono::steady_clock::now();
        pool((len + 255) / 256, [&](std::size_t task) {  // generate one sequence in parallel
            xorshift rr{0x1234567ull + s * 1000003ull + task * 7919ull};
            float c[R];
            for (std::size_t t = task * 256; t < std::min(len, (task + 1) * 256); ++t) {
                for (float& v : c) v = rr.next();
                float* xt = x.data() + t * K;
                for (std::size_t j = 0; j < K; ++j) xt[j] = 0.5f * rr.next();
                for (std::size_t q = 0; q < R; ++q)
                    for (std::size_t j = 0; j < K; ++j) xt[j] += c[q] * basis[q * K + j];
                for (std::size_t j = 0; j < K; ++j) xt[j] *= gain[j];
            }
        });
        t_gen += since(t0);
        t0 = std::chrono::steady_clock::now();
        const double c0 = cpu_seconds();
        const lowbit::status st = h.add_batch(lowbit::matrix_view<const float>(x.data(), len, K), pool);
        if (!st) return std::fprintf(stderr, "gptq-bench: %s\n", st.message()), 1;
        t_h += since(t0);
        cpu_h += cpu_seconds() - c0;
    }
    lowbit::runtime_scheme rs;
    rs.bits = 4;
    rs.symmetric = false;
    rs.gran = group > 0 ? lowbit::granularity::per_group : lowbit::granularity::per_channel;
    rs.group = group > 0 ? group : 0;
    auto t0 = std::chrono::steady_clock::now();
    const double c0 = cpu_seconds();
    auto q = lowbit::gptq_quantize(rs, lowbit::matrix_view<const float>(w.data(), N, K), h, lowbit::gptq_options{}, pool);
    if (!q) return std::fprintf(stderr, "gptq-bench: %s\n", q.error().message()), 1;
    const double t_q = since(t0), cpu_q = cpu_seconds() - c0;
    const double flops_h = static_cast<double>(seqs * len) * static_cast<double>(K) * static_cast<double>(K);  // upper half, 2 flops each
    std::printf("GPTQ %zu x %zu, %zu x %zu calibration tokens, 4-bit %s, %u threads\n", N, K, seqs, len,
                group > 0 ? ("g" + std::to_string(group)).c_str() : "per channel", threads);
    std::printf("  activations generated     %8.2f s (not GPTQ)\n", t_gen);
    std::printf("  Hessian accumulation      %8.2f s  (%.1f GFLOP/s; CPU time %.2f s)\n", t_h, flops_h / t_h * 1e-9, cpu_h);
    std::printf("  damping + chol(H^-1)      %8.2f s  (damp %.3g of mean diag, %d retries)\n", q->report.seconds_factor,
                q->report.damp_fraction, q->report.damp_retries);
    std::printf("  column sweep              %8.2f s\n", q->report.seconds_sweep);
    std::printf("  GPTQ total (H + quant)    %8.2f s  (CPU time %.2f s; quant alone %.2f s wall, %.2f s CPU)\n", t_h + t_q, cpu_h + cpu_q, t_q, cpu_q);
    std::printf("  workspace %.1f MiB, peak RSS %.1f MiB (weights %.1f MiB, batch %.1f MiB, H %.1f MiB)\n",
                static_cast<double>(q->report.workspace_bytes) / 1048576.0, static_cast<double>(peak_rss_kb()) / 1024.0,
                static_cast<double>(N * K * 4) / 1048576.0, static_cast<double>(len * K * 4) / 1048576.0,
                static_cast<double>(K * K * 4) / 1048576.0);
    return 0;
}
