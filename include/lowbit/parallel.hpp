// lowbit/parallel.hpp — the executor concept, a serial executor and a small
// thread pool.
//
// An executor is anything callable as `exec(n_tasks, fn)` that calls
// `fn(std::size_t task)` once for every task in [0, n_tasks), in any order and
// on any threads, and returns when all have finished. Kernels split their work
// into tasks whose results do not depend on which thread runs them, so results
// are bit-identical for every executor and thread count. A host engine passes
// its own pool through a tiny adapter (examples/openmp_executor.cpp).
//
// The pool's workings (threads, mutexes, condition variables: pthreads
// rather than <thread>, <mutex> and <condition_variable>, ~0.35 CPU-s to
// parse with g++ 12; detail/os_mutex.hpp and os_thread.hpp say where) are in
// detail/thread_pool_impl.hpp: inline below in header-only mode, compiled
// once in lowbit::compiled with LOWBIT_COMPILED (compiled_mode.hpp), so that
// a TU of lowbit.hpp there does not parse them. The class is the same in both
// modes: a handle on its state.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "compiled_mode.hpp"

namespace lowbit {

struct serial_executor {
    template <class F>
    void operator()(std::size_t n_tasks, F&& fn) const {
        for (std::size_t i = 0; i < n_tasks; ++i) fn(i);
    }
    unsigned concurrency() const noexcept { return 1; }
};

// Threads hint of an executor: exec.concurrency() if it has one, else 1.
template <class E, class = void>
struct executor_concurrency {
    static unsigned get(const E&) noexcept { return 1; }
};
template <class E>
struct executor_concurrency<E, std::void_t<decltype(std::declval<const E&>().concurrency())>> {
    static unsigned get(const E& e) noexcept { return static_cast<unsigned>(e.concurrency()); }
};

namespace detail {
// The cores std::thread::hardware_concurrency() reports (0 if unknown), out
// of line: see above.
LOWBIT_COMPILED_INLINE unsigned hardware_threads() noexcept;
}  // namespace detail

// A fixed pool of worker threads; the calling thread works too, so
// thread_pool(2) starts one extra thread. One job runs at a time; a call made
// from inside a task runs inline (no deadlock on nested use).
//
// Hand-off: a job is published by one atomic increment that idle workers poll
// for `spin` before they sleep on a condition variable, and the caller polls
// for the last task the same way. The default, 0, always sleeps: a library
// pool should not burn a game's or a robot's cores between calls. An
// inference loop that owns its cores passes e.g. 100 us (lowbit-llama's
// --spin, bench/'s pools): a decode step makes a few hundred short calls in
// a row (a 1B LLaMA: 155 GEMVs per token), and waking sleeping threads
// through the OS for each is a fixed cost per call that grows with the
// thread count (bench/ pool_overhead/sleep vs /spin; issue 19 item 2).
// Polling only pays while every thread of the pool has a core: a polling
// thread that the OS has preempted is not woken early as a sleeping one is,
// so on a machine busy with other programs one hand-off could take a whole
// scheduler slice (milliseconds). The pool notices that as a worker that
// had not even picked the job up when the caller, done with its own share,
// had waited the whole spin for the rest (a job that had to wake sleeping
// workers does not count), and then sleeps for the next 16 jobs, 32 after a
// second miss, up to 4096; every 256 jobs in a row that end within the spin
// halve that. A job whose tasks simply run longer than the spin after the
// caller's share (the last rows of a big matmul, a worker slowed by memory)
// is not a miss: every worker was there, polling paid, and the caller sleeps
// for the rest of that job only. (Counting those as misses made a 16-thread
// decode, where some job of each token has such a tail, sleep for good.)
// A pool of more threads than the machine has cores never polls.
//
// Task split: thread k (the caller is 0) owns the k-th contiguous slice of a
// job's tasks and runs it first, then takes what is left of the others'
// slices. A job repeated over the same data (a GEMV per layer and token)
// so gives each thread the same rows every time: at 16 threads a 4096 x 4096
// 4-bit weight is 0.6 MB per core, resident in that core's L2 across calls,
// where a first-come split would read most rows from other cores' caches on
// each call. Which thread runs a task never changes its result.
class thread_pool {
public:
    explicit thread_pool(unsigned threads = detail::hardware_threads(),
                         std::chrono::microseconds spin = std::chrono::microseconds(0));
    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;
    ~thread_pool();

    unsigned concurrency() const noexcept { return threads_; }

    // How the jobs run on the workers were handed over, since construction:
    // by polling, and how many of those had a worker come late (each started
    // a run of sleeping hand-offs, see above). For tuning and diagnosis
    // (lowbit-llama --bench prints them); read between jobs, from the thread
    // that runs them.
    struct handoff_counts {
        std::uint64_t jobs = 0, polled = 0, late = 0;
        std::uint64_t long_tail = 0;  // polled jobs that outlasted the spin with every worker there
    };
    handoff_counts handoffs() const;

    template <class F>
    void operator()(std::size_t n_tasks, F&& fn) {
        using Fn = std::remove_reference_t<F>;
        run(n_tasks, [](void* ctx, std::size_t i) { (*static_cast<Fn*>(ctx))(i); },
            const_cast<void*>(static_cast<const void*>(&fn)));
    }

private:
    using call_fn = void (*)(void*, std::size_t);
    void run(std::size_t n, call_fn call, void* ctx);

    struct state;  // detail/thread_pool_impl.hpp
    state* s_;
    unsigned threads_;  // the caller and the workers
};

}  // namespace lowbit

#if !defined(LOWBIT_COMPILED)
#include "detail/thread_pool_impl.hpp"
#endif
