// lowbit/detail/thread_pool_impl.hpp — the workings of thread_pool
// (parallel.hpp, which describes the hand-off and the task split). Included
// by parallel.hpp in header-only mode; with LOWBIT_COMPILED only by
// lowbit::compiled (src/dispatch.cpp), so that the OS headers below are parsed
// once there instead of in every TU of lowbit.hpp. Included after
// parallel.hpp (its declarations), never alone.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "../core/cpu_relax.hpp"
#include "os_mutex.hpp"
#include "os_thread.hpp"

namespace lowbit {
namespace detail {
LOWBIT_COMPILED_INLINE unsigned hardware_threads() noexcept { return os_threads::cores(); }
}  // namespace detail

struct thread_pool::state {
    state(unsigned threads, std::chrono::microseconds spin) : spin_(spin), slices_(threads) {
        // More threads than cores: a polling thread would hold a core that
        // another of the pool's threads needs.
        const unsigned cores = detail::hardware_threads();
        if (cores != 0 && threads > cores) spin_ = std::chrono::microseconds(0);
        const auto entry = [](void* self, std::size_t k) { static_cast<state*>(self)->worker_loop(k); };
        if (const int e = workers_.start(threads - 1, entry, this)) {
            // Where std::thread would throw std::system_error (os_thread.hpp):
            // the workers already running are stopped, then the program ends.
            stop_workers();
            std::fprintf(stderr, "lowbit: thread_pool(%u) could not start a thread (error %d)\n", threads, e);
            std::abort();
        }
    }
    ~state() { stop_workers(); }

    void stop_workers() {
        stop_.store(true, std::memory_order_seq_cst);
        generation_.fetch_add(1, std::memory_order_seq_cst);
        wake(cv_work_, true);
        workers_.join();
    }

    handoff_counts handoffs() const {
        detail::os_lock one_job(job_m_);
        return counts_;
    }

    static bool& inside_task() noexcept {
        static thread_local bool inside = false;
        return inside;
    }

    void run(std::size_t n, call_fn call, void* ctx) {
        if (n == 0) return;
        if (workers_.empty() || n == 1 || inside_task()) {
            for (std::size_t i = 0; i < n; ++i) call(ctx, i);
            return;
        }
        detail::os_lock one_job(job_m_);
        const bool spin = spin_.count() > 0 && quiet_jobs_ == 0;
        if (quiet_jobs_ > 0) --quiet_jobs_;
        ++counts_.jobs;
        if (spin) ++counts_.polled;
        // The job's fields are plain: the seq_cst increment of generation_
        // publishes them, and no worker reads them once pending_ reached 0.
        call_ = call;
        ctx_ = ctx;
        spin_job_ = spin;
        // Slice k = [ceil(k n / P), ceil((k + 1) n / P)): with fewer tasks than
        // threads the caller's slice is never the empty one.
        const std::size_t P = workers_.size() + 1;
        for (std::size_t k = 0; k < P; ++k) {
            slices_[k].next.store((k * n + P - 1) / P, std::memory_order_relaxed);
            slices_[k].end = ((k + 1) * n + P - 1) / P;
        }
        pending_.store(workers_.size(), std::memory_order_relaxed);
        const std::uint64_t job = generation_.fetch_add(1, std::memory_order_seq_cst) + 1;
        // A worker about to sleep registers in sleepers_ before it reads
        // generation_ again (seq_cst on both sides): either it sees this job,
        // or this load sees it and wakes it.
        const bool woke = sleepers_.load(std::memory_order_seq_cst) != 0;
        if (woke) wake(cv_work_, true);
        work(0);
        const auto done = [this] { return pending_.load(std::memory_order_acquire) == 0; };
        // Only a job that every worker was polling for tells whether polling
        // pays: one that had to wake sleepers (the first after a quiet run)
        // is slow however idle the cores are, and counts neither way.
        if (spin && spin_until(done, spin_)) {
            if (!woke && ++streak_ >= 256) {  // the cores are free again: halve the quiet runs
                streak_ = 0;
                backoff_ = backoff_ >= 32 ? backoff_ / 2 : 0;
            }
            return;
        }
        if (spin && !woke) {
            if (all_arrived(job)) {
                ++counts_.long_tail;
            } else {  // a worker was not there in time: its core is busy elsewhere
                ++counts_.late;
                streak_ = 0;
                backoff_ = backoff_ == 0 ? 16 : std::min<unsigned>(2 * backoff_, 4096);
                quiet_jobs_ = backoff_;
            }
        }
        if (done()) return;
        detail::os_lock lk(m_);
        // Announce the sleep before reading pending_ (the last worker does the
        // reverse): one of the two sees the other. An exchange, not a store:
        // a seq_cst store followed by a seq_cst load is enough in C++, but
        // qemu-user on x86 lets AArch64's STLR pass a later LDAR and lost this
        // wake-up (test-arm.sh hung); a read-modify-write is a full barrier
        // on every host and costs nothing next to the sleep.
        caller_sleeps_.exchange(true, std::memory_order_seq_cst);
        lk.wait(cv_done_, [this] { return pending_.load(std::memory_order_seq_cst) == 0; });
        caller_sleeps_.store(false, std::memory_order_relaxed);
    }

    // Whether every worker has picked job `job` up (read by the caller only
    // after a whole spin: a plain scan of the workers' own lines).
    bool all_arrived(std::uint64_t job) const {
        for (std::size_t k = 1; k <= workers_.size(); ++k)
            if (slices_[k].arrived.load(std::memory_order_relaxed) != job) return false;
        return true;
    }

    // Own slice first, then the others' in turn (the load before the
    // increment keeps finished threads off slices already drained).
    void work(std::size_t self) {
        inside_task() = true;
        const std::size_t P = workers_.size() + 1;
        for (std::size_t k = 0; k < P; ++k) {
            slice& s = slices_[(self + k) % P];
            while (s.next.load(std::memory_order_relaxed) < s.end) {
                const std::size_t i = s.next.fetch_add(1, std::memory_order_relaxed);
                if (i >= s.end) break;
                call_(ctx_, i);
            }
        }
        inside_task() = false;
    }

    void worker_loop(std::size_t self) {
        std::uint64_t seen = 0;
        bool spin = false;  // how the last job was handed over: poll for the next one, or sleep
        for (;;) {
            if (!spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; },
                            spin ? spin_ : std::chrono::microseconds(0))) {
                detail::os_lock lk(m_);
                sleepers_.fetch_add(1, std::memory_order_seq_cst);
                lk.wait(cv_work_, [&] { return generation_.load(std::memory_order_seq_cst) != seen; });
                sleepers_.fetch_sub(1, std::memory_order_relaxed);
            }
            if (stop_.load(std::memory_order_acquire)) return;
            seen = generation_.load(std::memory_order_acquire);
            slices_[self].arrived.store(seen, std::memory_order_relaxed);
            spin = spin_job_;
            work(self);
            if (pending_.fetch_sub(1, std::memory_order_seq_cst) == 1 && caller_sleeps_.load(std::memory_order_seq_cst))
                wake(cv_done_, false);
        }
    }

    // Polls pred for `spin`; true as soon as pred holds. No yield: on Linux a
    // yielding thread can lose its core for a whole slice, long after pred held.
    template <class P>
    static bool spin_until(P pred, std::chrono::microseconds spin) {
        if (pred()) return true;
        if (spin.count() <= 0) return false;
        const auto deadline = std::chrono::steady_clock::now() + spin;
        for (unsigned i = 1;; ++i) {
            detail::cpu_relax();
            if (pred()) return true;
            if (i % 64 == 0 && std::chrono::steady_clock::now() >= deadline) return pred();
        }
    }

    // Taking m_ first orders the notification after a sleeper's predicate
    // check (which runs under m_), so the wake-up cannot fall between them.
    void wake(detail::os_condvar& cv, bool all) {
        { detail::os_lock lk(m_); }
        if (all)
            cv.notify_all();
        else
            cv.notify_one();
    }

    std::chrono::microseconds spin_;
    detail::os_threads workers_;
    mutable detail::os_mutex job_m_;  // one job at a time (and the counts below)
    detail::os_mutex m_;
    detail::os_condvar cv_work_, cv_done_;
    call_fn call_ = nullptr;
    void* ctx_ = nullptr;
    // One thread's part of a job: tasks [next, end) not yet taken. A line each:
    // the owner's increments stay in its own cache.
    struct alignas(64) slice {
        std::atomic<std::size_t> next{0};
        std::size_t end = 0;
        std::atomic<std::uint64_t> arrived{0};  // the last job the owner picked up (workers only)
    };
    std::vector<slice> slices_;      // P = workers_.size() + 1 (never resized), fields written by run() as call_
    bool spin_job_ = false;          // the job's hand-off polls (a job field, as call_)
    unsigned quiet_jobs_ = 0;        // jobs left to hand over sleeping (caller only, under job_m_)
    unsigned backoff_ = 0;           // the last such run's length
    unsigned streak_ = 0;            // jobs in a row that ended within the spin
    handoff_counts counts_;          // under job_m_
    std::atomic<std::size_t> pending_{0};         // workers still in the current job
    std::atomic<std::uint64_t> generation_{0};    // jobs published (and one more to stop)
    std::atomic<unsigned> sleepers_{0};           // workers asleep on cv_work_, or about to be
    std::atomic<bool> caller_sleeps_{false};      // run() asleep on cv_done_
    std::atomic<bool> stop_{false};
};

LOWBIT_COMPILED_INLINE thread_pool::thread_pool(unsigned threads, std::chrono::microseconds spin)
    : s_(new state(threads == 0 ? 1 : threads, spin)), threads_(threads == 0 ? 1 : threads) {}
LOWBIT_COMPILED_INLINE thread_pool::~thread_pool() { delete s_; }
LOWBIT_COMPILED_INLINE thread_pool::handoff_counts thread_pool::handoffs() const { return s_->handoffs(); }
LOWBIT_COMPILED_INLINE void thread_pool::run(std::size_t n, call_fn call, void* ctx) { s_->run(n, call, ctx); }

}  // namespace lowbit
