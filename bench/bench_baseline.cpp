// bench/bench_baseline.cpp — what the quantized kernels are judged against:
//   membw/t{1,2}      streaming read of a 1 GiB buffer (far larger than the LLC): GBps
//   cachebw/<w4|w8>/t* the same read of a buffer as large as a 4096x4096 w4g32 (w8g32)
//                     weight, again and again: the ceiling of the cache-resident GEMV
//   vnni_peak/t{1,2}  a tight vpdpbusd loop on independent zmm accumulators: GOPs
//   f32_gemv/KxN/t*   our own f32 GEMV (AVX-512 FMA, memory bound): weight_GBps
//   f32_gemm/KxN/mM/t* our own register-blocked f32 GEMM: GFLOPs
// The x86 bodies use target attributes, like the library's kernels; on a CPU
// without AVX-512 (VNNI) those benchmarks report an error instead.
#include <immintrin.h>

#include <cstring>

#include "bench_common.hpp"

namespace bench {
namespace {

#define BENCH_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,fma")))

BENCH_AVX512 std::uint64_t read_sum(const std::uint8_t* p, std::size_t n) {
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (std::size_t i = 0; i + 256 <= n; i += 256) {
        a0 = _mm512_add_epi64(a0, _mm512_load_si512(p + i));
        a1 = _mm512_add_epi64(a1, _mm512_load_si512(p + i + 64));
        a2 = _mm512_add_epi64(a2, _mm512_load_si512(p + i + 128));
        a3 = _mm512_add_epi64(a3, _mm512_load_si512(p + i + 192));
    }
    alignas(64) std::uint64_t v[8];
    _mm512_store_si512(v, _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3)));
    return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
}

void bm_membw(benchmark::State& st, int threads) {
    constexpr std::size_t bytes = std::size_t{1} << 30, tasks = 64, per = bytes / tasks;
    static std::uint8_t* buf = [] {
        auto* b = static_cast<std::uint8_t*>(std::aligned_alloc(4096, bytes));
        for (std::size_t i = 0; i < bytes; i += 4096) b[i] = static_cast<std::uint8_t>(i >> 12);
        std::memset(b, 1, bytes);
        return b;
    }();
    std::uint64_t sink[tasks] = {};
    timer tm;
    for (auto _ : st) {
        pool(threads)(tasks, [&](std::size_t t) { sink[t] += read_sum(buf + t * per, per); });
        benchmark::DoNotOptimize(sink);
    }
    const double gbps = static_cast<double>(bytes) * static_cast<double>(st.iterations()) / 1e9;
    st.counters["GBps"] = benchmark::Counter(gbps, benchmark::Counter::kIsRate);
    st.SetBytesProcessed(static_cast<std::int64_t>(bytes) * st.iterations());
    results()["membw/t" + std::to_string(threads)] = gbps / tm.seconds();
}

// The hot GEMV's ceiling: the read of a buffer the size of its weight (9.4 MB
// for 4096 x 4096 at 4.5 bits, 17.8 MB at 8.5), repeated, in 64 contiguous
// slices as the GEMV's 64 tasks of 64 rows, so that each thread reads the same
// slices on every call (the pool's task-to-thread mapping) from its own L2 or
// from the shared L3, as the GEMV does. A GEMV that reads its weight at this
// rate cannot be made faster by any kernel: only by fewer bytes or by more of
// them staying in a core's L2.
void bm_cachebw(benchmark::State& st, std::size_t bytes, int threads) {
    constexpr std::size_t tasks = 64;
    const std::size_t per = bytes / tasks;  // a multiple of 256 for both sizes
    auto* buf = static_cast<std::uint8_t*>(std::aligned_alloc(4096, bytes));
    std::memset(buf, 1, bytes);
    std::uint64_t sink[tasks] = {};
    auto& p = pool(threads);
    for (int warm = 0; warm < 3; ++warm) p(tasks, [&](std::size_t t) { sink[t] += read_sum(buf + t * per, per); });
    for (auto _ : st) {
        p(tasks, [&](std::size_t t) { sink[t] += read_sum(buf + t * per, per); });
        benchmark::DoNotOptimize(sink);
    }
    std::free(buf);
    st.counters["GBps"] = benchmark::Counter(static_cast<double>(bytes) * static_cast<double>(st.iterations()) / 1e9,
                                             benchmark::Counter::kIsRate);
}

BENCH_AVX512 void vnni_loop(std::size_t iters, std::int32_t* out) {
    __m512i acc[12];
    for (auto& a : acc) a = _mm512_setzero_si512();
    __m512i u = _mm512_set1_epi8(3), x = _mm512_set1_epi8(-5);
    for (std::size_t i = 0; i < iters; ++i) {
        for (auto& a : acc) a = _mm512_dpbusd_epi32(a, u, x);
        __asm__ volatile("" : "+v"(u), "+v"(x));  // keep the loop from being folded
    }
    __m512i s = acc[0];
    for (int k = 1; k < 12; ++k) s = _mm512_add_epi32(s, acc[k]);
    alignas(64) std::int32_t v[16];
    _mm512_store_si512(v, s);
    *out = v[0] + v[15];
}

void bm_vnni_peak(benchmark::State& st, int threads) {
    if (!lowbit::detail::cpu().avx512vnni) {
        st.SkipWithError("no AVX-512 VNNI");
        return;
    }
    constexpr std::size_t iters = 1 << 22;
    std::int32_t out[2] = {};
    timer tm;
    for (auto _ : st) {
        pool(threads)(static_cast<std::size_t>(threads), [&](std::size_t t) { vnni_loop(iters, out + t); });
        benchmark::DoNotOptimize(out);
    }
    // one vpdpbusd zmm = 64 multiply-adds = 128 integer ops
    const double ops = 128.0 * 12 * iters * threads * static_cast<double>(st.iterations());
    st.counters["GOPs"] = benchmark::Counter(ops / 1e9, benchmark::Counter::kIsRate);
    results()["vnni_peak/t" + std::to_string(threads)] = ops / 1e9 / tm.seconds();
}

BENCH_AVX512 float hsum(__m512 v) {  // (GCC 12 warns inside _mm512_reduce_add_ps)
    alignas(64) float a[16];
    _mm512_store_ps(a, v);
    float s = 0;
    for (float x : a) s += x;
    return s;
}

// y[r] = W[r,:] . x, rows [r0, r1), 4 rows at a time.
BENCH_AVX512 void f32_gemv_rows(const float* w, const float* x, float* y, std::size_t K, std::size_t r0, std::size_t r1) {
    std::size_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        std::size_t k = 0;
        for (; k + 16 <= K; k += 16) {
            const __m512 xv = _mm512_loadu_ps(x + k);
            for (int i = 0; i < 4; ++i) a[i] = _mm512_fmadd_ps(_mm512_loadu_ps(w + (r + i) * K + k), xv, a[i]);
        }
        for (int i = 0; i < 4; ++i) {
            float s = hsum(a[i]);
            for (std::size_t kk = k; kk < K; ++kk) s += w[(r + i) * K + kk] * x[kk];
            y[r + i] = s;
        }
    }
    for (; r < r1; ++r) {
        float s = 0;
        for (std::size_t k = 0; k < K; ++k) s += w[r * K + k] * x[k];
        y[r] = s;
    }
}

// Y[m, n] = X[m,:] . W[n,:]: 3 x 4 register block of zmm dot products (K % 16 == 0).
BENCH_AVX512 void f32_gemm_block(const float* w, const float* x, float* y, std::size_t K, std::size_t N, std::size_t M,
                                 std::size_t n0, std::size_t n1) {
    for (std::size_t m0 = 0; m0 < M; m0 += 3) {
        const std::size_t mb = M - m0 < 3 ? M - m0 : 3;
        for (std::size_t n = n0; n < n1; n += 4) {
            const std::size_t nb = n1 - n < 4 ? n1 - n : 4;
            __m512 acc[3][4];
            for (auto& r : acc)
                for (auto& a : r) a = _mm512_setzero_ps();
            for (std::size_t k = 0; k < K; k += 16) {
                __m512 wv[4], xv[3];
                for (std::size_t j = 0; j < 4; ++j) wv[j] = _mm512_loadu_ps(w + (n + (j < nb ? j : 0)) * K + k);
                for (std::size_t i = 0; i < 3; ++i) xv[i] = _mm512_loadu_ps(x + (m0 + (i < mb ? i : 0)) * K + k);
                for (int i = 0; i < 3; ++i)
                    for (int j = 0; j < 4; ++j) acc[i][j] = _mm512_fmadd_ps(xv[i], wv[j], acc[i][j]);
            }
            for (std::size_t i = 0; i < mb; ++i)
                for (std::size_t j = 0; j < nb; ++j) y[(m0 + i) * N + n + j] = hsum(acc[i][j]);
        }
    }
}

struct f32_data {
    std::vector<float> w, x, y;
};
f32_data& f32_for(std::size_t N, std::size_t K, std::size_t M) {
    static f32_data d;
    static std::size_t cn = 0, ck = 0;
    if (cn != N || ck != K) {
        d.w = random_floats(N * K, 1);
        cn = N;
        ck = K;
    }
    if (d.x.size() != M * K) d.x = random_floats(M * K, 2);
    d.y.assign(M * N, 0.0f);
    return d;
}

void bm_f32_gemv(benchmark::State& st, shape s, int threads) {
    auto& d = f32_for(s.N, s.K, 1);
    const std::size_t tasks = (s.N + 63) / 64;
    timer tm;
    for (auto _ : st) {
        pool(threads)(tasks, [&](std::size_t t) {
            f32_gemv_rows(d.w.data(), d.x.data(), d.y.data(), s.K, t * 64, std::min(s.N, t * 64 + 64));
        });
        benchmark::ClobberMemory();
    }
    const double bytes = static_cast<double>(s.N * s.K * 4) * static_cast<double>(st.iterations());
    st.counters["weight_GBps"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsRate);
    results()["f32_gemv/" + shape_name(s) + "/t" + std::to_string(threads)] = tm.seconds() / static_cast<double>(st.iterations());
    st.counters["GFLOPs"] = benchmark::Counter(2.0 * s.N * s.K * static_cast<double>(st.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

void bm_f32_gemm(benchmark::State& st, shape s, std::size_t M, int threads) {
    auto& d = f32_for(s.N, s.K, M);
    const std::size_t tasks = (s.N + 63) / 64;
    timer tm;
    for (auto _ : st) {
        pool(threads)(tasks, [&](std::size_t t) {
            f32_gemm_block(d.w.data(), d.x.data(), d.y.data(), s.K, s.N, M, t * 64, std::min(s.N, t * 64 + 64));
        });
        benchmark::ClobberMemory();
    }
    st.counters["GFLOPs"] =
        benchmark::Counter(2.0 * M * s.N * s.K * static_cast<double>(st.iterations()) / 1e9, benchmark::Counter::kIsRate);
    results()["f32_gemm/" + shape_name(s) + "/m" + std::to_string(M) + "/t" + std::to_string(threads)] =
        tm.seconds() / static_cast<double>(st.iterations());
}

// pool_overhead/<spin|sleep>/tN: one call of an empty job of N tasks on N
// threads, the fixed cost every threaded kernel call pays (issue 19 item 2).
// spin: bench's pools (workers poll 100 us for the next call, as between the
// matmuls of a decode step); sleep: spin 0, every call wakes its threads
// through the OS.
void bm_pool_overhead(benchmark::State& st, int threads, bool spin) {
    lowbit::thread_pool& p = pool(threads, spin);
    std::vector<std::size_t> sink(static_cast<std::size_t>(threads) * 16);
    for (auto _ : st) {
        p(static_cast<std::size_t>(threads), [&](std::size_t t) { sink[t * 16] += 1; });
        benchmark::ClobberMemory();
    }
}

}  // namespace

void register_baselines() {
    for (bool spin : {true, false})
        for (int t : thread_counts())
            benchmark::RegisterBenchmark(("pool_overhead/" + std::string(spin ? "spin" : "sleep") + "/t" + std::to_string(t)).c_str(),
                                         bm_pool_overhead, t, spin)
                ->UseRealTime()
                ->Unit(benchmark::kMicrosecond);
    for (int t : thread_counts()) {
        benchmark::RegisterBenchmark(("membw/t" + std::to_string(t)).c_str(), bm_membw, t)->UseRealTime()->Unit(benchmark::kMillisecond);
    }
    // 4096 x 4096 at 4.5 and 8.5 bits per weight (w4g32, w8g32: codes and an f16 scale per 32)
    for (const auto& [name, bytes] : {std::pair<const char*, std::size_t>{"w4", 9437184}, {"w8", 17825792}})
        for (int t : thread_counts())
            benchmark::RegisterBenchmark(("cachebw/" + std::string(name) + "/t" + std::to_string(t)).c_str(), bm_cachebw, bytes, t)
                ->UseRealTime()
                ->Unit(benchmark::kMicrosecond);
    for (int t : thread_counts()) benchmark::RegisterBenchmark(("vnni_peak/t" + std::to_string(t)).c_str(), bm_vnni_peak, t)->UseRealTime();
    for (const auto& s : gemv_shapes())
        for (int t : thread_counts())
            benchmark::RegisterBenchmark(("f32_gemv/" + shape_name(s) + "/t" + std::to_string(t)).c_str(), bm_f32_gemv, s, t)
                ->UseRealTime()
                ->Unit(benchmark::kMicrosecond);
    for (std::size_t m : {32, 256})
        for (int t : thread_counts())
            benchmark::RegisterBenchmark(("f32_gemm/4096x4096/m" + std::to_string(m) + "/t" + std::to_string(t)).c_str(),
                                         bm_f32_gemm, shape{4096, 4096}, m, t)
                ->UseRealTime()
                ->Unit(benchmark::kMillisecond);
}

}  // namespace bench
