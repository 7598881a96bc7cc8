// bench/bench_gguf.cpp — lowbit_bench_gguf: gguf::gemv and gguf::gemm on GGUF
// blocks per kernel copy, gguf_gemv/<type>/<arch>/<KxN>/t1 and
// gguf_gemm/<type>/<arch>/<KxN>/M<m>/t1 (formats/gguf_matmul.hpp; docs/formats.md,
// "Matmul on GGUF blocks"). One thread, a caller workspace (no allocation per call).
// Counters: weight_GBps (block bytes read per second of wall time) and
// ratio_avx2 (CPU time per call of the avx2 copy, measured just before in this
// process, / this one's: CPU time, not wall time, so that other processes on a
// busy machine disturb the ratio less). Archs the CPU lacks are reported as skipped.
// Q4_0 … Q6_K run on every arch; Q2_K, Q3_K, TQ1_0 and the lattice i-quants
// on avx2, avx512 and avx512vnni (their 512-bit copies).
//
// gguf_gemv_bytes/<type>/auto/4096x4096/t<threads>: every weight type with
// kernels, on the arch the library picks, each beside Q4_0 (run first at the
// same thread count): per_byte_vs_q4_0 = (time per weight byte of this type) /
// (Q4_0's), issue 18's acceptance measure (<= 1.5). One group per count of
// `--threads=LIST` (default 1,2; bench_threads.hpp). t1 runs on the calling
// thread (serial_executor) and times CPU seconds, as before; t > 1 runs on a
// lowbit::thread_pool of that many threads and times wall seconds (the pool's
// CPU time would count its waiting). At t1, a type whose picked entry is a
// +vbmi copy also reports per_byte_no_vbmi: the plain AVX-512 entry it
// shadows, run as many times after the timed loop (CPU time), per byte
// against the same Q4_0: before and after of the VBMI copies in one process.
// gguf_gemv_bytes_avx2/<type>/avx2/4096x4096/t<threads>: the same with every
// type, Q4_0 included, forced to its AVX2 copy (force_arch(avx2): a
// LOWBIT_FORCE_ARCH in the environment does not reach the benches, which set
// the arch per case).
//
// codebook_gemv_bytes/<CB4|CB3>/<arch>/4096x4096/t1: codebook weights
// (formats/codebook.hpp, NF grid), after the gguf_gemv_bytes group:
// per_byte_vs_q8_0, per_byte_vs_iq4_nl, per_byte_vs_q4_0 = (CPU time per
// weight byte) / (that type's, measured just before with the auto arch):
// issue 20's acceptance measure (<= 1.1 against the int8 path).
//
// codebook_gemv_tiled/<CB4|CB3>/<KxN>/t<threads>: the tiled codebook GEMV at
// each count of `--threads=LIST` (default 1,2; bench_threads.hpp)
// (repack(w, layout::tiled_codebook); docs/kernels.md, "The tiled codebook
// layout") against the tiled int8 GEMV of the same index width (w4g32 / w3g32,
// symmetric, f16 scales: the same bytes per weight), issue 20's acceptance
// measure. Each iteration runs the tiled int8 GEMV, the tiled codebook GEMV
// and the codebook-layout GEMV one after another (wall time each, so the three
// see the same load on a shared machine); the reported time is the tiled
// codebook call's. ratio_per_byte = (tiled codebook time / its bytes) /
// (tiled int8 time / its bytes), target <= 1.10; ratio_codebook_layout the
// same for the codebook layout (the 18-/14-byte blocks); on a CPU with
// AVX512_VBMI, ratio_no_vbmi the same for the plain avx512vnni body that the
// VBMI one shadows, run fourth in each iteration (before/after in one process).
//
// kquant_gemm/<Q4_K|Q6_K>/<KxN>/m<M>/t<threads> (M > 1) and kquant_gemv/...
// (M = 1): K-quant blocks repacked into the tiled K-quant layout
// (repack(w, layout::tiled_kquant); docs/kernels.md, "The tiled K-quant
// layout", issue 19). Each iteration runs, one after another on the same
// activations: the tiled K-quant call on the arch the library picks (amx on
// an AMX CPU), the same on its avx512vnni entry alone (where the CPU has it),
// the blocks (gguf::gemm, ggml's arithmetic), and Q4_0 repacked into the
// tiled layout (w4g32 tiles, the reference the K-quants should reach). The
// reported time is the first call's; counters: tiles_avx512vnni_us,
// blocks_us, q4_0_tiles_us, and ratio_vs_blocks / ratio_vs_q4_0_tiles =
// (tiles time) / (that call's time): < 1 is faster. --threads=LIST sets the
// thread counts.
//
// iq4nl_gemv_tiled/IQ4_NL/4096x4096/m1/t<threads> and iq4nl_gemm_tiled/.../m64/...:
// IQ4_NL blocks repacked into the tiled codebook layout (repack(w,
// layout::tiled_codebook), what lowbit-llama runs them in) against the blocks
// themselves, one after the other in each iteration (bm_iq4nl_tiled):
// ratio_vs_blocks = tiled time / blocks time.
//
// The weights are random block bytes with finite f16 scales: the time of the
// integer kernels does not depend on the values, and quantizing 16M weights
// to Q4_K first would take longer than the benchmark.
//
// A binary of its own, apart from lowbit_bench: it builds in seconds, not minutes.
#include <benchmark/benchmark.h>

#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <lowbit/formats/codebook_matmul.hpp>
#include <lowbit/formats/gguf_matmul.hpp>
#include <lowbit/formats/tiled_kquant_matmul.hpp>
#include <lowbit/kernels/kernel_list.hpp>
#include <lowbit/kernels/weights_matmul.hpp>
#include <lowbit/parallel.hpp>
#include <lowbit/weights/repack.hpp>

#include "bench_threads.hpp"

namespace {

using lowbit::arch;
using lowbit::gguf::gguf_type;

std::map<std::string, double>& seconds_per_call() {
    static std::map<std::string, double> r;
    return r;
}

// n rows of k values of type t: random bytes, every f16 field in [2^-7, 2^0) with a random sign.
std::vector<std::uint16_t> random_rows(gguf_type t, std::size_t n, std::size_t k) {
    const std::size_t rb = lowbit::gguf::row_size(t, k), bb = lowbit::gguf::type_size(t);
    std::vector<std::uint16_t> storage((n * rb + 1) / 2);
    auto* p = reinterpret_cast<unsigned char*>(storage.data());
    std::mt19937_64 rng(42);
    for (std::size_t i = 0; i < n * rb; ++i) p[i] = static_cast<unsigned char>(rng());
    // Where the f16 fields sit: {offset of the first, how many}. IQ1_M's is
    // spread over the top nibbles of its four scale words and MXFP4 has an
    // exponent byte: set apart below (random ones give subnormal or infinite
    // products, which time differently).
    std::size_t f16_at = 0, n_f16 = 1;
    switch (t) {
        case gguf_type::q4_1: case gguf_type::q5_1: case gguf_type::q4_K: case gguf_type::q5_K: n_f16 = 2; break;
        case gguf_type::q2_K: f16_at = 80; n_f16 = 2; break;
        case gguf_type::q3_K: f16_at = 108; break;
        case gguf_type::q6_K: f16_at = 208; break;
        case gguf_type::tq1_0: f16_at = 52; break;
        case gguf_type::tq2_0: f16_at = 64; break;
        case gguf_type::iq1_m: case gguf_type::mxfp4: n_f16 = 0; break;
        default: break;
    }
    for (std::size_t b = 0; b < n * rb / bb; ++b) {
        unsigned char* blk = p + b * bb;
        for (std::size_t f = 0; f < n_f16; ++f) {
            const auto h = static_cast<std::uint16_t>(0x2000 + rng() % 0x1c00 + (rng() % 2 ? 0x8000 : 0));
            std::memcpy(blk + f16_at + 2 * f, &h, 2);
        }
        if (t == gguf_type::mxfp4) blk[0] = static_cast<unsigned char>(120 + rng() % 15);  // 2^-8 .. 2^6
        if (t == gguf_type::iq1_m)
            for (int i = 0; i < 4; ++i) blk[49 + 2 * i] = static_cast<unsigned char>((blk[49 + 2 * i] & 0x0f) | (i == 3 ? 0x20 : 0));
    }
    return storage;
}

// Gaussian activations: n values, the same seed for every benchmark.
std::vector<float> random_activations(std::size_t n) {
    std::vector<float> x(n);
    std::mt19937 rng(3);
    std::normal_distribution<float> nd;
    for (float& v : x) v = nd(rng);
    return x;
}

// The benchmark loop over call (run once before, to warm the workspace and the
// caches): CPU seconds per call. The arch is set back to automatic after.
template <class F>
double cpu_seconds_per_call(benchmark::State& st, F&& call) {
    call();
    const std::clock_t c0 = std::clock();
    for (auto _ : st) {
        call();
        benchmark::ClobberMemory();
    }
    const double per_call = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC / static_cast<double>(st.iterations());
    (void)lowbit::force_arch(arch::automatic);
    return per_call;
}

// The benchmark loop over call on `threads` threads (run once before): wall
// seconds per call. The arch is set back to automatic after.
template <class F>
double wall_seconds_per_call(benchmark::State& st, F&& call) {
    call();
    const auto t0 = std::chrono::steady_clock::now();
    for (auto _ : st) {
        call();
        benchmark::ClobberMemory();
    }
    const double per_call = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / static_cast<double>(st.iterations());
    (void)lowbit::force_arch(arch::automatic);
    return per_call;
}

// M = 0: gemv; else gemm with M activation rows. threads > 1 (gemv only): on a
// thread pool, timed in wall seconds.
void bm_gguf(benchmark::State& st, gguf_type t, arch a, std::size_t K, std::size_t N, std::size_t M, std::string key, int threads) {
    if (!lowbit::force_arch(a).ok()) {
        st.SkipWithError("arch not supported by this CPU");
        return;
    }
    const std::vector<std::uint16_t> w = random_rows(t, N, K);
    const std::size_t rows = M ? M : 1;
    const std::vector<float> x = random_activations(K * rows);
    std::vector<float> y(N * rows);
    lowbit::matmul_workspace ws;
    auto call = [&] {
        const bool ok = M ? lowbit::gguf::gemm(t, w.data(), N, K, lowbit::matrix_view<const float>(x.data(), M, K),
                                               lowbit::matrix_view<float>(y.data(), M, N), lowbit::serial_executor{}, ws)
                                .ok()
                          : lowbit::gguf::gemv(t, w.data(), N, K, lowbit::span<const float>(x), lowbit::span<float>(y),
                                               lowbit::serial_executor{}, ws)
                                .ok();
        if (!ok) std::abort();
    };
    double per_call = 0;
    if (threads > 1) {
        lowbit::thread_pool pool(static_cast<unsigned>(threads), std::chrono::microseconds(100));
        per_call = wall_seconds_per_call(st, [&] {
            if (!lowbit::gguf::gemv(t, w.data(), N, K, lowbit::span<const float>(x), lowbit::span<float>(y), pool, ws).ok()) std::abort();
        });
    } else {
        per_call = cpu_seconds_per_call(st, call);
    }
    const bool bytes_group = key.compare(0, 6, "bytes/") == 0;
    if (!bytes_group) seconds_per_call()[key + arch_name(a)] = per_call;
    const double wb = static_cast<double>(N * lowbit::gguf::row_size(t, K));
    st.counters["weight_GBps"] = benchmark::Counter(wb * static_cast<double>(st.iterations()) / 1e9, benchmark::Counter::kIsRate);
    if (M)  // multiply-adds per second: what a prefill's linear layers do
        st.counters["GMACps"] = benchmark::Counter(static_cast<double>(K * N * M) * static_cast<double>(st.iterations()) / 1e9,
                                                   benchmark::Counter::kIsRate);
    if (!bytes_group) {
        const auto base = seconds_per_call().find(key + "avx2");
        if (base != seconds_per_call().end()) st.counters["ratio_avx2"] = base->second / per_call;
    } else {  // a per-byte group (key: its arch and thread count): Q4_0 runs first
        seconds_per_call()[key + std::string(lowbit::gguf::type_name(t))] = per_call / wb;
        const auto q40 = seconds_per_call().find(key + std::string(lowbit::gguf::type_name(gguf_type::q4_0)));
        if (q40 != seconds_per_call().end()) st.counters["per_byte_vs_q4_0"] = per_call / wb / q40->second;
        // Where the lookup took an entry with a CPU feature more (a +vbmi copy), the
        // entry it shadows (same key, needs 0) runs as many times after the loop
        // (CPU time): per_byte_no_vbmi, the before of the +vbmi copies in one process.
        if (threads == 1 && a == arch::automatic && q40 != seconds_per_call().end()) {  // (the arch is automatic again here)
            lowbit::matmul_info info;
            lowbit::matmul_options opt;
            opt.info = &info;
            if (!lowbit::gguf::gemv(t, w.data(), N, K, lowbit::span<const float>(x), lowbit::span<float>(y), lowbit::serial_executor{}, opt, ws).ok())
                std::abort();
            const lowbit::kernel_entry* shadowed = nullptr;
            if (info.entry && info.entry->needs)
                for (const lowbit::kernel_entry& e : lowbit::gguf::kernels(t))
                    if (e.needs == 0 && e.key.path == info.entry->key.path && e.key.a == info.entry->key.a) shadowed = &e;
            if (shadowed) {
                const auto view = lowbit::make_ggml_weights(t, w.data(), N, K);
                if (!view) std::abort();
                const lowbit::detail::kernel_family fam{shadowed, 1};
                lowbit::serial_executor serial;
                const auto run = [&] {
                    if (!lowbit::detail::family_gemv(fam, *view, lowbit::span<const float>(x), lowbit::span<float>(y), serial, lowbit::matmul_options{}, ws))
                        std::abort();
                };
                run();
                const std::clock_t c0 = std::clock();
                for (benchmark::IterationCount i = 0; i < st.iterations(); ++i) run();
                const double no_vbmi = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC / static_cast<double>(st.iterations());
                st.counters["per_byte_no_vbmi"] = no_vbmi / wb / q40->second;
            }
        }
    }
}

// Codebook weights of `bits`-bit indices: random index bytes, f16 scales as random_rows gives IQ4_NL.
void bm_codebook(benchmark::State& st, int bits, arch a, std::size_t K, std::size_t N) {
    if (!lowbit::force_arch(a).ok()) {
        st.SkipWithError("arch not supported by this CPU");
        return;
    }
    const std::size_t bb = lowbit::codebook_block_bytes(bits), rb = K / 32 * bb;
    std::vector<std::uint16_t> w = random_rows(gguf_type::iq4_nl, N, K);  // 18-byte blocks, f16 first
    std::vector<std::uint16_t> storage((N * rb + 1) / 2);
    const auto* src = reinterpret_cast<const unsigned char*>(w.data());
    auto* dst = reinterpret_cast<unsigned char*>(storage.data());
    for (std::size_t b = 0; b < N * K / 32; ++b) std::memcpy(dst + b * bb, src + b * 18, bb);
    lowbit::weights_desc d;
    d.lay = lowbit::layout::codebook;
    d.scheme.bits = bits;
    d.rows = N;
    d.cols = K;
    d.codes = dst;
    const lowbit::codebook::grid g = lowbit::codebook::nf_grid(bits);
    std::memcpy(d.grid, g.levels, sizeof d.grid);
    auto view = lowbit::make_weights(d);
    if (!view) std::abort();
    const std::vector<float> x = random_activations(K);
    std::vector<float> y(N);
    lowbit::matmul_workspace ws;
    auto call = [&] {
        if (!lowbit::codebook::gemv(*view, lowbit::span<const float>(x), lowbit::span<float>(y), lowbit::serial_executor{}, lowbit::matmul_options{}, ws).ok())
            std::abort();
    };
    const double per_call = cpu_seconds_per_call(st, call);
    const double wb = static_cast<double>(N * rb);
    st.counters["weight_GBps"] = benchmark::Counter(wb * static_cast<double>(st.iterations()) / 1e9, benchmark::Counter::kIsRate);
    for (gguf_type t : {gguf_type::q8_0, gguf_type::iq4_nl, gguf_type::q4_0}) {
        const auto base = seconds_per_call().find("bytes/" + std::string(lowbit::gguf::type_name(t)));
        std::string counter = "per_byte_vs_" + std::string(lowbit::gguf::type_name(t));
        for (char& c : counter) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (base != seconds_per_call().end()) st.counters[counter] = per_call / wb / base->second;
    }
}

// Codebook weights (layout::codebook) of `bits`-bit indices on the NF grid: random bytes as bm_codebook's.
lowbit::weights random_codebook(int bits, std::size_t N, std::size_t K) {
    const std::size_t bb = lowbit::codebook_block_bytes(bits);
    const std::vector<std::uint16_t> w = random_rows(gguf_type::iq4_nl, N, K);  // 18-byte blocks, f16 first
    lowbit::weights_desc d;
    d.lay = lowbit::layout::codebook;
    d.scheme.bits = bits;
    d.rows = N;
    d.cols = K;
    const lowbit::codebook::grid g = lowbit::codebook::nf_grid(bits);
    std::memcpy(d.grid, g.levels, sizeof d.grid);
    auto out = lowbit::weights::allocate(d);
    if (!out) std::abort();
    const auto* src = reinterpret_cast<const unsigned char*>(w.data());
    for (std::size_t b = 0; b < N * K / 32; ++b) std::memcpy(out->codes() + b * bb, src + b * 18, bb);
    return std::move(*out);
}

// The tiled int8 layout of `Bits`-bit codes, groups of 32, f16 scales: random
// codes and scales (run through the table: lowbit::compiled's kernels).
template <int Bits>
lowbit::weights random_tiled_g32(std::size_t N, std::size_t K) {
    using S = lowbit::scheme<Bits, lowbit::per_group<32>>;
    auto q = lowbit::qmatrix<S>::allocate(N, K);
    if (!q) std::abort();
    const auto v = q->mut_view();
    std::mt19937_64 rng(7);
    for (std::size_t i = 0; i < N * v.row_bytes; ++i) v.codes[i] = static_cast<std::uint8_t>(rng());
    for (std::size_t i = 0; i < N * (K / 32); ++i)
        v.scales[i] = lowbit::f32_to_f16(std::ldexp(1.0f + static_cast<float>(rng() % 1024) / 1024.0f, -static_cast<int>(rng() % 7) - 1));
    auto t = lowbit::repack(*lowbit::to_weights(q->view()), lowbit::layout::tiled);
    if (!t) std::abort();
    return std::move(*t);
}

template <int Bits>
void bm_codebook_tiled(benchmark::State& st, std::size_t K, std::size_t N, int threads) {
    const auto plain = random_tiled_g32<Bits>(N, K);
    const lowbit::weights cb = random_codebook(Bits, N, K);
    auto tcb = lowbit::codebook::to_tiled(cb.view());
    if (!tcb) std::abort();
    const lowbit::weights_view pv = plain.view(), tv = tcb->view(), cv = cb.view();
    const double plain_bytes = static_cast<double>(pv.bytes()), tcb_bytes = static_cast<double>(tv.bytes() + (std::size_t{1} << Bits)),
                 cb_bytes = static_cast<double>(cv.bytes() + (std::size_t{1} << Bits));
    const std::vector<float> x = random_activations(K);
    std::vector<float> y(N);
    lowbit::thread_pool pool(static_cast<unsigned>(threads), std::chrono::microseconds(100));
    lowbit::matmul_workspace ws;
    lowbit::matmul_options opt;
    opt.path = lowbit::matmul_path::int8_dot;
    using clock = std::chrono::steady_clock;
    const auto run_plain = [&] {
        if (!lowbit::gemv(pv, lowbit::span<const float>(x), lowbit::span<float>(y), pool, opt, ws)) std::abort();
    };
    const auto run_cb = [&](const lowbit::weights_view& w) {
        if (!lowbit::codebook::gemv(w, lowbit::span<const float>(x), lowbit::span<float>(y), pool, opt, ws)) std::abort();
    };
    // Where the lookup takes an entry with a CPU feature more (the VBMI body), the
    // body it shadows (same key, needs 0) runs too, through a family of that one
    // entry: before and after in one process (ratio_no_vbmi).
    const lowbit::kernel_entry* shadowed = nullptr;
    {
        lowbit::matmul_info info;
        opt.info = &info;
        run_cb(tv);
        opt.info = nullptr;
        for (const lowbit::kernel_entry& e : lowbit::codebook::kernels(Bits, lowbit::layout::tiled_codebook))
            if (info.entry->needs && e.needs == 0 && e.key.path == info.entry->key.path && e.key.a == info.entry->key.a) shadowed = &e;
    }
    const lowbit::detail::kernel_family shadowed_family{shadowed, 1};
    const auto run_shadowed = [&] {
        if (!lowbit::detail::family_gemv(shadowed_family, tv, lowbit::span<const float>(x), lowbit::span<float>(y), pool, opt, ws)) std::abort();
    };
    run_plain(), run_cb(tv), run_cb(cv);  // warm the workspace and the pool
    double t_plain = 0, t_tcb = 0, t_cb = 0, t_shadowed = 0;
    for (auto _ : st) {
        const auto t0 = clock::now();
        run_plain();
        benchmark::ClobberMemory();
        const auto t1 = clock::now();
        run_cb(tv);
        benchmark::ClobberMemory();
        const auto t2 = clock::now();
        run_cb(cv);
        benchmark::ClobberMemory();
        const auto t3 = clock::now();
        if (shadowed) run_shadowed();
        benchmark::ClobberMemory();
        const auto t4 = clock::now();
        const double a = std::chrono::duration<double>(t1 - t0).count(), b = std::chrono::duration<double>(t2 - t1).count(),
                     c = std::chrono::duration<double>(t3 - t2).count();
        t_plain += a, t_tcb += b, t_cb += c, t_shadowed += std::chrono::duration<double>(t4 - t3).count();
        st.SetIterationTime(b);
    }
    const double n = static_cast<double>(st.iterations());
    st.counters["ratio_per_byte"] = (t_tcb / tcb_bytes) / (t_plain / plain_bytes);
    if (shadowed) {
        st.counters["ratio_no_vbmi"] = (t_shadowed / tcb_bytes) / (t_plain / plain_bytes);
        st.counters["no_vbmi_us"] = t_shadowed / n * 1e6;
    }
    st.counters["ratio_codebook_layout"] = (t_cb / cb_bytes) / (t_plain / plain_bytes);
    st.counters["plain_us"] = t_plain / n * 1e6;
    st.counters["codebook_layout_us"] = t_cb / n * 1e6;
    st.counters["weight_GBps"] = tcb_bytes * n / t_tcb / 1e9;
}

// Q4_0 blocks repacked to tiles (w4g32, the layout lowbit-llama runs a Q4_0 file in).
lowbit::weights q4_0_tiles(std::size_t N, std::size_t K) {
    const std::vector<std::uint16_t> rows = random_rows(gguf_type::q4_0, N, K);
    auto g = lowbit::make_ggml_weights(gguf_type::q4_0, rows.data(), N, K);
    if (!g) std::abort();
    auto t = lowbit::repack(*g, lowbit::layout::tiled);
    if (!t) std::abort();
    return std::move(*t);
}

void bm_kquant_tiled(benchmark::State& st, gguf_type type, std::size_t K, std::size_t N, std::size_t M, int threads) {
    const std::vector<std::uint16_t> rows = random_rows(type, N, K);
    auto g = lowbit::make_ggml_weights(type, rows.data(), N, K);
    if (!g) std::abort();
    auto tk = lowbit::repack(*g, lowbit::layout::tiled_kquant);
    if (!tk) std::abort();
    const lowbit::weights q40 = q4_0_tiles(N, K);
    const lowbit::weights_view tv = tk->view(), qv = q40.view();
    std::vector<float> x = random_activations(K * M);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = x[i % K] * (1.0f + 0.01f * static_cast<float>(i / K));
    std::vector<float> y(N * M);
    lowbit::thread_pool pool(static_cast<unsigned>(threads), std::chrono::microseconds(100));
    lowbit::matmul_workspace ws;
    lowbit::matmul_options opt;
    opt.path = lowbit::matmul_path::int8_dot;
    const lowbit::matrix_view<const float> X(x.data(), M, K);
    const lowbit::matrix_view<float> Y(y.data(), M, N);
    const lowbit::kernel_entry* vnni = nullptr;
    for (const lowbit::kernel_entry& e : lowbit::kquant::kernels(type))
        if (e.key.path == lowbit::matmul_path::int8_dot && e.key.a == arch::avx512vnni && lowbit::detail::cpu().has(e.body)) vnni = &e;
    const lowbit::detail::kernel_family vnni_family{vnni, vnni ? std::size_t{1} : 0};
    const auto run = [&](const lowbit::weights_view& w) {
        if (!lowbit::gemm(w, X, Y, pool, opt, ws)) std::abort();
    };
    const auto run_blocks = [&] {
        if (!lowbit::gemm(*g, X, Y, pool, opt, ws)) std::abort();
    };
    const auto run_vnni = [&] {
        if (vnni && !lowbit::detail::family_gemm(vnni_family, tv, X, Y, pool, opt, ws)) std::abort();
    };
    run(tv), run(qv), run_blocks(), run_vnni();  // warm the workspace and the pool
    using clock = std::chrono::steady_clock;
    double t_tiles = 0, t_vnni = 0, t_blocks = 0, t_q40 = 0;
    for (auto _ : st) {
        const auto t0 = clock::now();
        run(tv);
        benchmark::ClobberMemory();
        const auto t1 = clock::now();
        run_vnni();
        benchmark::ClobberMemory();
        const auto t2 = clock::now();
        run_blocks();
        benchmark::ClobberMemory();
        const auto t3 = clock::now();
        run(qv);
        benchmark::ClobberMemory();
        const auto t4 = clock::now();
        const double a = std::chrono::duration<double>(t1 - t0).count();
        t_tiles += a, t_vnni += std::chrono::duration<double>(t2 - t1).count(), t_blocks += std::chrono::duration<double>(t3 - t2).count(),
            t_q40 += std::chrono::duration<double>(t4 - t3).count();
        st.SetIterationTime(a);
    }
    const double n = static_cast<double>(st.iterations());
    if (vnni) st.counters["tiles_avx512vnni_us"] = t_vnni / n * 1e6;
    st.counters["blocks_us"] = t_blocks / n * 1e6;
    st.counters["q4_0_tiles_us"] = t_q40 / n * 1e6;
    st.counters["ratio_vs_blocks"] = t_tiles / t_blocks;
    st.counters["ratio_vs_q4_0_tiles"] = t_tiles / t_q40;
    st.counters["GMACps"] = static_cast<double>(K) * static_cast<double>(N) * static_cast<double>(M) * n / t_tiles / 1e9;
}

// IQ4_NL blocks against their repack into the tiled codebook layout
// (repack(w, layout::tiled_codebook): IQ4_NL is a 4-bit codebook on a fixed
// grid), the copy lowbit-llama runs them in. Each iteration runs the tiled
// codebook call, then the blocks, on the same activations (wall time each,
// so both see the same load on a shared machine); the reported time is the
// tiled call's. Counters: blocks_us, ratio_vs_blocks = tiled time / blocks
// time (< 1 is faster), weight_GBps and blocks_GBps (the same 18 bytes per 32
// weights in both layouts).
void bm_iq4nl_tiled(benchmark::State& st, std::size_t K, std::size_t N, std::size_t M, int threads) {
    const std::vector<std::uint16_t> rows = random_rows(gguf_type::iq4_nl, N, K);
    auto g = lowbit::make_ggml_weights(gguf_type::iq4_nl, rows.data(), N, K);
    if (!g) std::abort();
    auto tc = lowbit::repack(*g, lowbit::layout::tiled_codebook);
    if (!tc) std::abort();
    std::vector<float> x = random_activations(K * M);
    std::vector<float> y(N * M);
    lowbit::thread_pool pool(static_cast<unsigned>(threads), std::chrono::microseconds(100));
    lowbit::matmul_workspace ws;
    lowbit::matmul_options opt;
    opt.path = lowbit::matmul_path::int8_dot;
    const lowbit::matrix_view<const float> X(x.data(), M, K);
    const lowbit::matrix_view<float> Y(y.data(), M, N);
    const auto run = [&](const lowbit::weights_view& w) {
        const bool ok = M == 1 ? lowbit::gemv(w, lowbit::span<const float>(x.data(), K), lowbit::span<float>(y.data(), N), pool, opt, ws).ok()
                               : lowbit::gemm(w, X, Y, pool, opt, ws).ok();
        if (!ok) std::abort();
    };
    const lowbit::weights_view tv = tc->view();
    run(tv), run(*g);  // warm the workspace and the pool
    using clock = std::chrono::steady_clock;
    double t_tiles = 0, t_blocks = 0;
    for (auto _ : st) {
        const auto t0 = clock::now();
        run(tv);
        benchmark::ClobberMemory();
        const auto t1 = clock::now();
        run(*g);
        benchmark::ClobberMemory();
        const auto t2 = clock::now();
        const double a = std::chrono::duration<double>(t1 - t0).count();
        t_tiles += a, t_blocks += std::chrono::duration<double>(t2 - t1).count();
        st.SetIterationTime(a);
    }
    const double n = static_cast<double>(st.iterations()), bytes = static_cast<double>(g->code_bytes());
    st.counters["blocks_us"] = t_blocks / n * 1e6;
    st.counters["ratio_vs_blocks"] = t_tiles / t_blocks;
    st.counters["weight_GBps"] = bytes * n / t_tiles / 1e9;
    st.counters["blocks_GBps"] = bytes * n / t_blocks / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
    if (!bench::take_threads_flag(argc, argv)) return 1;
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    const std::size_t K = 4096, N = 4096;
    // avx2 first in each group: the others report their ratio to it.
    // gemv 4096 x 4096; gemm 2048 x 2048 (a 1B model's attention projection) with 64 activation rows.
    const std::size_t KG = 2048, NG = 2048, MG = 64;
    for (std::size_t M : {std::size_t{0}, MG})
        for (gguf_type t : {gguf_type::q4_0, gguf_type::q5_0, gguf_type::q8_0, gguf_type::q4_K, gguf_type::q5_K, gguf_type::q6_K})
            for (arch a : {arch::avx2, arch::scalar, arch::avx512, arch::avx512vnni, arch::neon, arch::neondot}) {
                const std::size_t k = M ? KG : K, n = M ? NG : N;
                const std::string shape = std::to_string(k) + "x" + std::to_string(n) + (M ? "/M" + std::to_string(M) : "");
                const std::string tn = lowbit::gguf::type_name(t);
                const std::string key = (M ? "gemm/" : "gemv/") + tn + "/" + shape + "/";
                const std::string name = (M ? "gguf_gemm/" : "gguf_gemv/") + tn + "/" + arch_name(a) + "/" + shape + "/t1";
                benchmark::RegisterBenchmark(name.c_str(), bm_gguf, t, a, k, n, M, key, 1)->UseRealTime()->Unit(benchmark::kMicrosecond);
            }
    // The 256-value types whose AVX-512 copies are 512-bit (issue 18), beside their avx2 copy.
    for (std::size_t M : {std::size_t{0}, MG})
        for (gguf_type t : {gguf_type::q2_K, gguf_type::q3_K, gguf_type::tq1_0, gguf_type::iq2_xxs, gguf_type::iq2_xs, gguf_type::iq2_s,
                            gguf_type::iq3_xxs, gguf_type::iq3_s, gguf_type::iq1_s, gguf_type::iq1_m})
            for (arch a : {arch::avx2, arch::avx512, arch::avx512vnni}) {
                const std::size_t k = M ? KG : K, n = M ? NG : N;
                const std::string shape = std::to_string(k) + "x" + std::to_string(n) + (M ? "/M" + std::to_string(M) : "");
                const std::string tn = lowbit::gguf::type_name(t);
                const std::string key = (M ? "gemm/" : "gemv/") + tn + "/" + shape + "/";
                const std::string name = (M ? "gguf_gemm/" : "gguf_gemv/") + tn + "/" + arch_name(a) + "/" + shape + "/t1";
                benchmark::RegisterBenchmark(name.c_str(), bm_gguf, t, a, k, n, M, key, 1)->UseRealTime()->Unit(benchmark::kMicrosecond);
            }
    // The per-byte groups: the arch the library picks (gguf_gemv_bytes/), then
    // every type forced to its AVX2 copy, Q4_0 included (gguf_gemv_bytes_avx2/,
    // named apart so that a filter '^gguf_gemv_bytes/' runs the first alone).
    for (arch a : {arch::automatic, arch::avx2})
        for (int th : bench::thread_counts())
            for (gguf_type t : lowbit::ggml_kernel_types) {  // Q4_0 first
                const bool avx2 = a == arch::avx2;
                const std::string name = std::string(avx2 ? "gguf_gemv_bytes_avx2/" : "gguf_gemv_bytes/") + lowbit::gguf::type_name(t) +
                                         (avx2 ? "/avx2/" : "/auto/") + std::to_string(K) + "x" + std::to_string(N) + "/t" + std::to_string(th);
                const std::string key = std::string("bytes/") + (avx2 ? "avx2/" : "") + (th > 1 ? "t" + std::to_string(th) + "/" : "");
                benchmark::RegisterBenchmark(name.c_str(), bm_gguf, t, a, K, N, 0, key, th)->UseRealTime()->Unit(benchmark::kMicrosecond);
            }
    for (int bits : {4, 3})
        for (arch a : {arch::automatic, arch::avx2, arch::avx512vnni, arch::scalar}) {
            const std::string name = "codebook_gemv_bytes/CB" + std::to_string(bits) + "/" + (a == arch::automatic ? "auto" : arch_name(a)) + "/" +
                                     std::to_string(K) + "x" + std::to_string(N) + "/t1";
            benchmark::RegisterBenchmark(name.c_str(), bm_codebook, bits, a, K, N)->UseRealTime()->Unit(benchmark::kMicrosecond);
        }
    const std::size_t tiled_shapes[2][2] = {{4096, 4096}, {2048, 512}};  // K x N
    for (int bits : {4, 3})
        for (const auto& kn : tiled_shapes)
            for (int t : bench::thread_counts()) {
                const std::string name = "codebook_gemv_tiled/CB" + std::to_string(bits) + "/" + std::to_string(kn[0]) + "x" + std::to_string(kn[1]) +
                                         "/t" + std::to_string(t);
                benchmark::RegisterBenchmark(name.c_str(), bits == 4 ? bm_codebook_tiled<4> : bm_codebook_tiled<3>, kn[0], kn[1], t)
                    ->UseManualTime()
                    ->Unit(benchmark::kMicrosecond);
            }
    for (gguf_type t : {gguf_type::q4_K, gguf_type::q6_K})
        for (std::size_t M : {std::size_t{256}, std::size_t{1}})
            for (int th : bench::thread_counts()) {
                const std::string name = std::string(M > 1 ? "kquant_gemm/" : "kquant_gemv/") + lowbit::gguf::type_name(t) + "/4096x4096/m" +
                                         std::to_string(M) + "/t" + std::to_string(th);
                benchmark::RegisterBenchmark(name.c_str(), bm_kquant_tiled, t, K, N, M, th)->UseManualTime()->Unit(benchmark::kMicrosecond);
            }
    for (std::size_t M : {std::size_t{1}, std::size_t{64}})
        for (int th : bench::thread_counts()) {
            const std::string name = std::string(M > 1 ? "iq4nl_gemm_tiled/" : "iq4nl_gemv_tiled/") + "IQ4_NL/4096x4096/m" + std::to_string(M) + "/t" +
                                     std::to_string(th);
            benchmark::RegisterBenchmark(name.c_str(), bm_iq4nl_tiled, K, N, M, th)->UseManualTime()->Unit(benchmark::kMicrosecond);
        }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
