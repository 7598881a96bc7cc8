// lowbit/detail/os_thread.hpp — the thread pool's workers: start n threads
// that each run one function with their number, join them all; and the
// number of cores (detail/thread_pool_impl.hpp is the one user). Not a
// general thread library.
//
// Why not std::thread: parse time, as for os_mutex.hpp (which says why it
// counts). <thread> brings <tuple>, unique_ptr and std::thread's state
// classes, and starting one on a lambda instantiates them, ~0.03-0.04 s of a
// header-only TU of lowbit.hpp with g++ 12 (user s, AMD Zen 5;
// docs/history/test-command.md, session 37). With glibc this makes the calls
// std::thread makes there (libstdc++ and libc++ alike):
//   - a start is pthread_create with default attributes, as std::thread's
//     constructor;
//   - a join is pthread_join (a worker is never joined twice, nor by itself);
//   - the number of cores is get_nprocs(), std::thread::hardware_concurrency()
//     in libstdc++ on glibc (libc++ calls sysconf(_SC_NPROCESSORS_ONLN), which
//     glibc answers with get_nprocs()), 0 if it fails.
// A start that fails is the caller's to report (the pool stops the workers
// it has and ends the program with a message; std::thread would throw
// std::system_error there). Other systems (MSVC, macOS, musl, Android:
// other libraries, other calls) get std::thread itself.
#pragma once

#include <cstddef>
#include <vector>

#if defined(__has_include)
#if __has_include(<pthread.h>) && !defined(_MSC_VER)
#include <pthread.h>  // defines __GLIBC__ (through <features.h>) where glibc is the C library
#endif
#endif

#if defined(__GLIBC__) && defined(PTHREAD_CREATE_JOINABLE)
#define LOWBIT_OS_THREAD_PTHREAD 1
#include <sys/sysinfo.h>
#else
#include <thread>
#endif

namespace lowbit {
namespace detail {

class os_threads {
public:
    using entry = void (*)(void* ctx, std::size_t k);

    os_threads() = default;
    os_threads(const os_threads&) = delete;
    os_threads& operator=(const os_threads&) = delete;

    // Starts threads k = 1..n, thread k running fn(ctx, k); 0, or the error
    // of the first start that failed (the threads started before it run on,
    // and join() waits for them). Called once.
    int start(std::size_t n, entry fn, void* ctx) {
#if defined(LOWBIT_OS_THREAD_PTHREAD)
        workers_.reserve(n);  // never grows after: each worker reads its own slot
        for (std::size_t k = 1; k <= n; ++k) {
            workers_.push_back(slot{pthread_t(), fn, ctx, k});
            if (const int e = pthread_create(&workers_.back().id, nullptr, &run_slot, &workers_.back())) {
                workers_.pop_back();
                return e;
            }
        }
#else
        workers_.reserve(n);
        for (std::size_t k = 1; k <= n; ++k) workers_.emplace_back([fn, ctx, k] { fn(ctx, k); });
#endif
        return 0;
    }

    // Waits for every started thread to return.
    void join() noexcept {
#if defined(LOWBIT_OS_THREAD_PTHREAD)
        for (slot& s : workers_) pthread_join(s.id, nullptr);
#else
        for (std::thread& t : workers_) t.join();
#endif
        workers_.clear();
    }

    std::size_t size() const noexcept { return workers_.size(); }
    bool empty() const noexcept { return workers_.empty(); }

    // Cores the OS reports, 0 if unknown (std::thread::hardware_concurrency()).
    static unsigned cores() noexcept {
#if defined(LOWBIT_OS_THREAD_PTHREAD)
        const int n = get_nprocs();
        return n < 0 ? 0u : static_cast<unsigned>(n);
#else
        return std::thread::hardware_concurrency();
#endif
    }

private:
#if defined(LOWBIT_OS_THREAD_PTHREAD)
    struct slot {
        pthread_t id;
        entry fn;
        void* ctx;
        std::size_t k;
    };
    // An exception out of a worker ends the program, as out of std::thread's.
    static void* run_slot(void* p) noexcept {
        const slot& s = *static_cast<const slot*>(p);
        s.fn(s.ctx, s.k);
        return nullptr;
    }
    std::vector<slot> workers_;
#else
    std::vector<std::thread> workers_;
#endif
};

}  // namespace detail
}  // namespace lowbit
