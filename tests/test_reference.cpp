// The scalar reference kernels (gemv, gemm, dequantize) against a naive
// double-precision product of the dequantized matrix; errors; executors.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <ostream>  // doctest prints std::thread::id through operator<<, which needs the full ostream
#include <thread>
#include <vector>

#include <lowbit/kernels.hpp>

#include "test_util.hpp"

using namespace lowbit;

namespace {
template <class S>
void check_against_naive(std::size_t M, std::size_t N, std::size_t K, bool with_perm) {
    const std::vector<float> w = lowbit_test::gaussian(N * K, static_cast<std::uint32_t>(N * 131 + K));
    auto q = quantize<S>(matrix_view<const float>(w.data(), N, K));
    REQUIRE(q);
    if (with_perm) {
        std::vector<std::int32_t> perm(K);
        std::iota(perm.begin(), perm.end(), 0);
        std::mt19937 rng(5);
        std::shuffle(perm.begin(), perm.end(), rng);
        q->set_perm(perm);
    }
    std::vector<float> deq(N * K);
    REQUIRE(dequantize(*q, matrix_view<float>(deq.data(), N, K)).ok());
    const std::vector<float> x = lowbit_test::gaussian(M * K, 99);
    std::vector<float> y(M * N, -1.0f);
    if (M == 1) REQUIRE(gemv(*q, span<const float>(x.data(), K), span<float>(y.data(), N)).ok());
    else REQUIRE(gemm(*q, matrix_view<const float>(x.data(), M, K), matrix_view<float>(y.data(), M, N)).ok());
    for (std::size_t m = 0; m < M; ++m)
        for (std::size_t n = 0; n < N; ++n) {
            double ref = 0, mag = 0;
            for (std::size_t k = 0; k < K; ++k) {
                ref += static_cast<double>(deq[n * K + k]) * x[m * K + k];
                mag += std::fabs(static_cast<double>(deq[n * K + k]) * x[m * K + k]);
            }
            REQUIRE(std::fabs(y[m * N + n] - ref) <= 1e-6 * mag + 1e-30);
        }
}
}  // namespace

TEST_CASE("reference gemv/gemm equal the naive product of the dequantized weights") {
    const std::size_t shapes[][3] = {{1, 1, 1}, {1, 7, 33}, {1, 65, 100}, {3, 5, 64}, {4, 130, 97}, {2, 1, 300}};
    for (auto& s : shapes) {
        CAPTURE(s[0]);
        CAPTURE(s[1]);
        CAPTURE(s[2]);
        check_against_naive<scheme<4, per_group<32>>>(s[0], s[1], s[2], false);
        check_against_naive<scheme<3, per_group<16>, asymmetric>>(s[0], s[1], s[2], true);
        check_against_naive<scheme<8, per_channel, symmetric, scale_bf16>>(s[0], s[1], s[2], false);
        check_against_naive<scheme<2, per_tensor, asymmetric, scale_f32>>(s[0], s[1], s[2], true);
        check_against_naive<scheme<1, per_group<8>>>(s[0], s[1], s[2], false);
    }
}

TEST_CASE("gemv/gemm reject bad shapes, null and overlapping buffers, leaving y untouched") {
    using S = scheme<4, per_group<32>>;
    const std::vector<float> w = lowbit_test::gaussian(8 * 64, 1);
    auto q = quantize<S>(matrix_view<const float>(w.data(), 8, 64));
    REQUIRE(q);
    std::vector<float> x(64, 1.0f), y(8, 7.0f), buf(200, 1.0f);
    CHECK(gemv(*q, span<const float>(x.data(), 63), span<float>(y)).code() == errc::shape_mismatch);
    CHECK(gemv(*q, span<const float>(x), span<float>(y.data(), 7)).code() == errc::shape_mismatch);
    CHECK(gemv(*q, span<const float>(nullptr, 64), span<float>(y)).code() == errc::invalid_argument);
    CHECK(gemv(*q, span<const float>(buf.data(), 64), span<float>(buf.data() + 60, 8)).code() == errc::invalid_argument);
    for (float v : y) CHECK(v == 7.0f);
    std::vector<float> Y(2 * 8, 7.0f);
    CHECK(gemm(*q, matrix_view<const float>(x.data(), 1, 64), matrix_view<float>(Y.data(), 2, 8)).code() ==
          errc::shape_mismatch);
    CHECK(gemm(*q, matrix_view<const float>(buf.data(), 2, 64), matrix_view<float>(buf.data() + 100, 2, 8)).code() ==
          errc::invalid_argument);
    for (float v : Y) CHECK(v == 7.0f);
    CHECK(gemm(*q, matrix_view<const float>(x.data(), 0, 64), matrix_view<float>(Y.data(), 0, 8)).ok());  // M = 0: nothing to do
    qmatrix_view<S> broken = q->view();
    broken.scales = nullptr;
    CHECK(!gemv(broken, span<const float>(x), span<float>(y)).ok());
}

TEST_CASE("results are bit-identical for every executor and thread count") {
    using S = scheme<4, per_group<128>, asymmetric>;
    const std::size_t N = 333, K = 1000, M = 5;
    const std::vector<float> w = lowbit_test::gaussian(N * K, 2), x = lowbit_test::gaussian(M * K, 3);
    auto q = quantize<S>(matrix_view<const float>(w.data(), N, K));
    REQUIRE(q);
    std::vector<float> y1(M * N), y2(M * N), y3(M * N);
    REQUIRE(gemm(*q, matrix_view<const float>(x.data(), M, K), matrix_view<float>(y1.data(), M, N)).ok());
    thread_pool p2(2), p4(4);
    REQUIRE(gemm(*q, matrix_view<const float>(x.data(), M, K), matrix_view<float>(y2.data(), M, N), p2).ok());
    REQUIRE(gemm(*q, matrix_view<const float>(x.data(), M, K), matrix_view<float>(y3.data(), M, N), p4).ok());
    CHECK(std::memcmp(y1.data(), y2.data(), y1.size() * 4) == 0);
    CHECK(std::memcmp(y1.data(), y3.data(), y1.size() * 4) == 0);
    // a lambda is an executor too
    std::vector<float> y4(N);
    auto inline_exec = [](std::size_t n, auto&& fn) {
        for (std::size_t i = n; i-- > 0;) fn(i);  // reverse order on purpose
    };
    REQUIRE(gemv(*q, span<const float>(x.data(), K), span<float>(y4), inline_exec).ok());
    CHECK(std::memcmp(y4.data(), y1.data(), N * 4) == 0);
}

TEST_CASE("thread_pool runs every task once, also nested and repeatedly") {
    thread_pool pool(3);
    CHECK(pool.concurrency() == 3);
    for (int rep = 0; rep < 50; ++rep) {
        std::vector<std::atomic<int>> hits(97);
        pool(hits.size(), [&](std::size_t i) {
            hits[i]++;
            pool(2, [&](std::size_t) {});  // nested: runs inline
        });
        for (auto& h : hits) REQUIRE(h.load() == 1);
    }
    pool(0, [](std::size_t) { FAIL("no task expected"); });
    for (std::size_t n : {2, 4, 5, 7}) {  // fewer tasks than threads, and slices of unequal length
        thread_pool p5(5);
        std::vector<std::atomic<int>> hits(n);
        p5(n, [&](std::size_t i) { hits[i]++; });
        for (auto& h : hits) CHECK(h.load() == 1);
    }
}

// The default pool has as many threads as std::thread counts cores (with
// glibc the pool asks the OS itself and starts pthreads, not std::threads:
// detail/os_thread.hpp), and a pool of many threads starts, runs and joins
// them all, each worker on a thread of its own.
TEST_CASE("thread_pool's default size is std::thread::hardware_concurrency(), and many workers run") {
    thread_pool dflt;
    CHECK(dflt.concurrency() == std::max(1u, std::thread::hardware_concurrency()));
    constexpr unsigned P = 33;
    thread_pool many(P);
    CHECK(many.concurrency() == P);
    for (int rep = 0; rep < 10; ++rep) {
        // As many tasks as threads, each waiting until all have started: every
        // thread runs exactly its own task (as in the slice test below).
        std::atomic<unsigned> started{0};
        std::thread::id ran[P];
        many(P, [&](std::size_t i) {
            ran[i] = std::this_thread::get_id();
            started.fetch_add(1);
            while (started.load() < P) std::this_thread::yield();
        });
        REQUIRE(ran[0] == std::this_thread::get_id());
        std::vector<std::thread::id> ids(ran, ran + P);
        std::sort(ids.begin(), ids.end());
        REQUIRE(std::adjacent_find(ids.begin(), ids.end()) == ids.end());  // P distinct threads
    }
}

// A pool that lives for one job: its worker is still starting when the
// caller runs out of tasks, so the caller goes to sleep just as the worker
// finishes: the race between caller_sleeps_ and pending_. With a store
// there, qemu-user lost the wake-up (two runs of 20,000 lives in three hung;
// test-arm.sh runs this test); a lost one hangs here until CTest's timeout.
TEST_CASE("thread_pool wakes its caller in short lives") {
    std::atomic<long> ran{0};
    for (int rep = 0; rep < 1000; ++rep) {
        thread_pool pool(2);
        pool(8, [&](std::size_t) { ran.fetch_add(1, std::memory_order_relaxed); });
    }
    CHECK(ran.load() == 8000);
}

// Each thread starts on its own slice of the tasks (thread k, the caller
// being 0, on task k of a job of as many tasks as threads), so that a job
// repeated over the same data keeps each row in one core's cache. Every
// task waits until all have started: no thread can finish early and take
// another's task, so the mapping is exact, and the same on every job.
TEST_CASE("thread_pool gives each thread the same slice on every job") {
    constexpr std::size_t P = 3;
    thread_pool pool(P, std::chrono::microseconds(50));
    std::thread::id first[P];
    for (int rep = 0; rep < 20; ++rep) {
        std::atomic<std::size_t> started{0};
        std::thread::id ran[P];
        pool(P, [&](std::size_t i) {
            ran[i] = std::this_thread::get_id();
            started.fetch_add(1);
            while (started.load() < P) std::this_thread::yield();
        });
        CHECK(ran[0] == std::this_thread::get_id());
        for (std::size_t i = 0; i < P; ++i) {
            if (rep == 0) first[i] = ran[i];
            CHECK(ran[i] == first[i]);
        }
        CHECK(ran[1] != ran[2]);
    }
}

// The hand-off has three ways for a job to reach a worker and for the caller
// to see it end: both spinning, a worker asleep (spin 0, or a gap longer than
// the spin), the caller asleep (a task longer than the spin). Each must run
// every task exactly once; TSan runs this test (scripts/test-sanitize.sh).
TEST_CASE("thread_pool hands jobs over spinning, sleeping and mixed") {
    using std::chrono::microseconds;
    struct mode {
        unsigned threads;
        microseconds spin;
        microseconds gap;   // idle time between jobs
        microseconds task;  // busy time of task 0
        microseconds tail = microseconds(0);  // busy time of the last slice's first task, when a worker runs it
    };
    // Polling needs a core per thread (a pool of more threads than cores never
    // polls), so the polling modes use at most as many threads as there are cores.
    const unsigned hw = std::thread::hardware_concurrency();
    const unsigned fit = std::max(2u, std::min(4u, hw));
    const mode modes[] = {
        {fit, microseconds(100), microseconds(0), microseconds(0)},    // back to back: polling hand-off
        {fit, microseconds(0), microseconds(0), microseconds(0)},      // always asleep
        {fit, microseconds(20), microseconds(200), microseconds(0)},   // workers fall asleep between jobs
        {fit, microseconds(20), microseconds(0), microseconds(300)},   // caller falls asleep on the last task
        {2 * fit + 1, microseconds(50), microseconds(0), microseconds(0)},  // more threads than cores: never polls
        // A worker's task outlasts the spin while every worker is there (the
        // caller's own 30 us task gives them time to arrive): a long tail,
        // which must not stop the polling as a late worker does. The spin is
        // long (2 ms) so that a worker still polls when the next job comes:
        // with 100 us, a loaded CI machine under TSan took longer than that
        // to wake the caller after every job, each job found the worker
        // asleep, and no job was ever classified (CI failed on the check below).
        {fit, microseconds(2000), microseconds(0), microseconds(30), microseconds(8000)},
    };
    for (const mode& m : modes) {
        CAPTURE(m.threads);
        CAPTURE(m.spin.count());
        thread_pool pool(m.threads, m.spin);
        const int reps = m.gap.count() || m.task.count() ? 40 : 400;
        std::vector<std::atomic<int>> hits(13);
        const std::size_t last_slice = ((m.threads - 1) * hits.size() + m.threads - 1) / m.threads;
        const std::thread::id caller = std::this_thread::get_id();
        for (int rep = 0; rep < reps; ++rep) {
            if (m.gap.count()) std::this_thread::sleep_for(m.gap);
            pool(hits.size(), [&](std::size_t i) {
                if (i == 0 && m.task.count()) std::this_thread::sleep_for(m.task);
                if (i == last_slice && m.tail.count() && std::this_thread::get_id() != caller)
                    std::this_thread::sleep_for(m.tail);
                hits[i].fetch_add(1, std::memory_order_relaxed);
            });
            // run() returned: every task of this job has finished.
            for (auto& h : hits) REQUIRE(h.load(std::memory_order_relaxed) == rep + 1);
        }
        // The hand-off counts: every job counted; polling only where the
        // pool may poll; a late worker only on a polled job.
        pool(1, [](std::size_t) {});  // one task: runs inline, not a job of the workers
        const thread_pool::handoff_counts c = pool.handoffs();
        CHECK(c.jobs == static_cast<std::uint64_t>(reps));
        CHECK(c.polled <= c.jobs);
        CHECK(c.late + c.long_tail <= c.polled);
        if (m.spin.count() == 0 || (hw != 0 && m.threads > hw)) {
            CHECK(c.polled == 0);
        } else {
            CHECK(c.polled >= 1);  // the first job polls
            // Only a late worker stops the polling; long tails do not.
            if (c.late == 0) CHECK(c.polled == c.jobs);
        }
        // The tail mode's worker task outlasts the spin 4x: a polled job that
        // did not have to wake a worker either has a long tail or (a worker
        // descheduled) a late one. Whether a job had to wake a worker is the
        // scheduler's choice, so this asks for one classified job in 40 (the
        // first job always wakes the workers), not for every job.
        if (m.tail.count()) CHECK(c.late + c.long_tail >= 1);
    }
}
