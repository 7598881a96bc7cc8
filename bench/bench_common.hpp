// bench/bench_common.hpp — shared pieces of lowbit_bench: shapes, scheme
// names, random quantized matrices (the speed of a kernel does not depend on
// the values, so codes and scales are random bytes instead of a slow
// quantization of 235M weights), and the results other benchmarks compare to.
#pragma once

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <cstdint>
#include <cstdio>
#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <lowbit/lowbit.hpp>

#include "bench_threads.hpp"

namespace bench {

struct shape {
    std::size_t K, N;
};
inline const std::vector<shape>& gemv_shapes() {
    // 2048x512 (K x N): 0.6 MB of 4-bit weights, the part of the 4096x4096 GEMV
    // that each of 16 threads computes, resident in one core's L2: the kernel's
    // speed with the memory hierarchy out of the way.
    static const std::vector<shape> s = {{4096, 4096}, {4096, 14336}, {8192, 28672}, {2048, 512}};
    return s;
}
inline std::string shape_name(const shape& s) { return std::to_string(s.K) + "x" + std::to_string(s.N); }

// Results shared between benchmarks (registration order runs membw and the f32
// baselines first): GB/s of the memory probe per thread count, seconds per call of f32 kernels.
inline std::map<std::string, double>& results() {
    static std::map<std::string, double> r;
    return r;
}

// Wall time since construction.
struct timer {
    std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
    double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
};
inline double result_or(const std::string& key, double fallback) {
    auto it = results().find(key);
    return it == results().end() ? fallback : it->second;
}


// One pool per thread count (and hand-off), made on first use. Its workers
// poll for the next call for 100 us before they sleep (thread_pool's `spin`),
// as an inference engine's pool does between the matmuls of a token: the
// per-call cost measured here is the one a decode loop sees. poll = false:
// spin 0, every call wakes its threads through the OS (pool_overhead/sleep).
inline lowbit::thread_pool& pool(int threads, bool poll = true) {
    static std::map<std::pair<int, bool>, std::unique_ptr<lowbit::thread_pool>> pools;
    auto& p = pools[{threads, poll}];
    if (!p) p = std::make_unique<lowbit::thread_pool>(static_cast<unsigned>(threads), std::chrono::microseconds(poll ? 100 : 0));
    return *p;
}

// A qmatrix with random codes and scales in [0.5, 1) * 2^-6, cached by name: the
// benchmarks of one (scheme, shape) are registered next to each other.
// Only one cached matrix is alive at a time (the largest is 235 MB).
inline void (*&release_cached())() {
    static void (*f)() = nullptr;
    return f;
}
template <class S>
struct qcache {
    static std::unique_ptr<lowbit::qmatrix<S>>& get() {
        static std::unique_ptr<lowbit::qmatrix<S>> c;
        return c;
    }
    static void release() { get().reset(); }
};
template <class S>
const lowbit::qmatrix<S>& random_qmatrix(std::size_t N, std::size_t K) {
    auto& cached = qcache<S>::get();
    static std::size_t cn = 0, ck = 0;
    if (cached && cn == N && ck == K) return *cached;
    if (release_cached()) release_cached()();
    release_cached() = &qcache<S>::release;
    auto q = lowbit::qmatrix<S>::allocate(N, K, 0);
    auto mv = q->mut_view();
    std::mt19937_64 rng(42);
    const auto& l = q->layout();
    for (std::size_t i = 0; i + 8 <= l.code_bytes(); i += 8) {
        const std::uint64_t v = rng();
        std::memcpy(mv.codes + i, &v, 8);
    }
    for (std::size_t i = 0; i < l.n_scales; ++i)
        mv.scales[i] = S::scale_codec::encode(static_cast<float>(0.5 + (rng() % 1000) / 2000.0) / 64.0f);
    for (std::size_t i = 0; i < l.n_zeros; ++i) mv.zeros[i] = static_cast<std::uint8_t>(rng() % (1u << S::bits));
    cached = std::make_unique<lowbit::qmatrix<S>>(std::move(*q));
    cn = N;
    ck = K;
    return *cached;
}

// The same matrix in the tiled kernel layout (pack/tiled.hpp), cached per scheme.
template <class S>
const lowbit::tiled<S>& random_tiled(std::size_t N, std::size_t K) {
    static std::unique_ptr<lowbit::tiled<S>> cached;
    static std::size_t cn = 0, ck = 0;
    if (cached && cn == N && ck == K) return *cached;
    cached.reset();
    auto t = lowbit::repack_tiled(random_qmatrix<S>(N, K).view());
    if (!t) std::abort();
    cached = std::make_unique<lowbit::tiled<S>>(std::move(*t));
    cn = N;
    ck = K;
    return *cached;
}

inline std::vector<float> random_floats(std::size_t n, unsigned seed) {
    std::vector<float> v(n);
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd;
    for (auto& x : v) x = nd(rng);
    return v;
}

// Bytes a GEMV reads from the weights: codes + scales + zeros.
template <class S>
std::size_t weight_bytes(const lowbit::qmatrix<S>& q) {
    const auto& l = q.layout();
    return l.code_bytes() + l.n_scales * sizeof(typename S::scale_storage) + l.n_zeros;
}

void register_gemv();
void register_gemm();
void register_baselines();

}  // namespace bench
