// lowbit/parallel.hpp — the executor concept, a serial executor and a small
// std::thread pool.
//
// An executor is anything callable as `exec(n_tasks, fn)` that calls
// `fn(std::size_t task)` once for every task in [0, n_tasks), in any order and
// on any threads, and returns when all have finished. Kernels split their work
// into tasks whose results do not depend on which thread runs them, so results
// are bit-identical for every executor and thread count. A host engine passes
// its own pool through a tiny adapter (examples/openmp_executor.cpp).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

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

// A fixed pool of worker threads; the calling thread works too, so
// thread_pool(2) starts one extra thread. One job runs at a time; a call made
// from inside a task runs inline (no deadlock on nested use).
class thread_pool {
public:
    explicit thread_pool(unsigned threads = std::thread::hardware_concurrency()) {
        if (threads == 0) threads = 1;
        workers_.reserve(threads - 1);
        for (unsigned i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
    }
    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;
    ~thread_pool() {
        {
            std::lock_guard<std::mutex> lk(m_);
            stop_ = true;
        }
        cv_work_.notify_all();
        for (auto& t : workers_) t.join();
    }

    unsigned concurrency() const noexcept { return static_cast<unsigned>(workers_.size() + 1); }

    template <class F>
    void operator()(std::size_t n_tasks, F&& fn) {
        using Fn = std::remove_reference_t<F>;
        run(n_tasks, [](void* ctx, std::size_t i) { (*static_cast<Fn*>(ctx))(i); },
            const_cast<void*>(static_cast<const void*>(&fn)));
    }

private:
    using call_fn = void (*)(void*, std::size_t);

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
        std::lock_guard<std::mutex> one_job(job_m_);
        {
            std::lock_guard<std::mutex> lk(m_);
            call_ = call;
            ctx_ = ctx;
            n_ = n;
            next_.store(0, std::memory_order_relaxed);
            active_ = workers_.size();
            ++generation_;
        }
        cv_work_.notify_all();
        work();
        std::unique_lock<std::mutex> lk(m_);
        cv_done_.wait(lk, [this] { return active_ == 0; });
    }

    void work() {
        inside_task() = true;
        for (;;) {
            const std::size_t i = next_.fetch_add(1, std::memory_order_relaxed);
            if (i >= n_) break;
            call_(ctx_, i);
        }
        inside_task() = false;
    }

    void worker_loop() {
        std::size_t seen = 0;
        for (;;) {
            std::unique_lock<std::mutex> lk(m_);
            cv_work_.wait(lk, [&] { return stop_ || generation_ != seen; });
            if (stop_) return;
            seen = generation_;
            lk.unlock();
            work();
            lk.lock();
            if (--active_ == 0) cv_done_.notify_one();
        }
    }

    std::vector<std::thread> workers_;
    std::mutex job_m_, m_;
    std::condition_variable cv_work_, cv_done_;
    call_fn call_ = nullptr;
    void* ctx_ = nullptr;
    std::size_t n_ = 0;
    std::atomic<std::size_t> next_{0};
    std::size_t active_ = 0;
    std::size_t generation_ = 0;
    bool stop_ = false;
};

}  // namespace lowbit
