// lowbit/detail/os_mutex.hpp — the thread pool's sleep and wake-up: a mutex,
// a condition variable on it, and a scope that holds the mutex
// (detail/thread_pool_impl.hpp is the one user). Not a general lock library.
//
// Why not std::mutex and std::condition_variable: parse time. The pool's
// workings are parsed by every header-only TU of lowbit.hpp, and with g++ 12
// `<mutex>`, `<condition_variable>` and `<memory>` (through them
// `<system_error>`, `<string>` and shared_ptr) parse in 0.33-0.38 s alone,
// `<pthread.h>` in 0.01-0.03 (user s, AMD Zen 5; issue 15 wants lowbit.hpp
// alone under 1.0 s; docs/history/test-command.md, session 34). So POSIX systems get
// pthreads, and the rest (MSVC) the std types, same meaning:
//   - initialisation cannot fail: both use the static initializers, as
//     libstdc++'s std::mutex and std::condition_variable do;
//   - a failed lock stops the program (std::mutex::lock throws, which with
//     nothing to catch it ends in std::terminate), and wait/notify/unlock
//     ignore errors, as libstdc++ does (they cannot fail on a valid mutex
//     held by the caller);
//   - wait can return spuriously: callers loop on a predicate (os_lock::wait).
#pragma once

#if defined(__has_include)
#if __has_include(<pthread.h>) && !defined(_MSC_VER)
#define LOWBIT_OS_MUTEX_PTHREAD 1
#endif
#endif

#if defined(LOWBIT_OS_MUTEX_PTHREAD)
#include <pthread.h>

#include <cstdio>
#include <cstdlib>
#else
#include <condition_variable>
#include <mutex>
#endif

namespace lowbit {
namespace detail {

// Neither is copied or moved (a pthread object may not be: its address is its identity).
struct os_no_copy {
    os_no_copy() = default;
    os_no_copy(const os_no_copy&) = delete;
    os_no_copy& operator=(const os_no_copy&) = delete;
};

#if defined(LOWBIT_OS_MUTEX_PTHREAD)

class os_mutex : os_no_copy {
public:
    ~os_mutex() { pthread_mutex_destroy(&m_); }

    void lock() noexcept {
        if (const int e = pthread_mutex_lock(&m_)) {
            std::fprintf(stderr, "lowbit: pthread_mutex_lock failed (error %d)\n", e);
            std::abort();
        }
    }
    void unlock() noexcept { pthread_mutex_unlock(&m_); }

private:
    friend class os_condvar;
    pthread_mutex_t m_ = PTHREAD_MUTEX_INITIALIZER;
};

class os_condvar : os_no_copy {
public:
    ~os_condvar() { pthread_cond_destroy(&c_); }

    // m held by the caller; held again on return.
    void wait(os_mutex& m) noexcept { pthread_cond_wait(&c_, &m.m_); }
    void notify_one() noexcept { pthread_cond_signal(&c_); }
    void notify_all() noexcept { pthread_cond_broadcast(&c_); }

private:
    pthread_cond_t c_ = PTHREAD_COND_INITIALIZER;
};

#else

class os_mutex : os_no_copy {
public:
    void lock() { m_.lock(); }
    void unlock() noexcept { m_.unlock(); }

private:
    friend class os_condvar;
    std::mutex m_;
};

class os_condvar : os_no_copy {
public:
    // m held by the caller; held again on return (the unique_lock adopts
    // it for the wait and gives it back).
    void wait(os_mutex& m) {
        std::unique_lock<std::mutex> lk(m.m_, std::adopt_lock);
        c_.wait(lk);
        lk.release();
    }
    void notify_one() noexcept { c_.notify_one(); }
    void notify_all() noexcept { c_.notify_all(); }

private:
    std::condition_variable c_;
};

#endif

// Holds m for a scope (std::lock_guard's job).
class os_lock : os_no_copy {
public:
    explicit os_lock(os_mutex& m) : m_(m) { m_.lock(); }
    ~os_lock() { m_.unlock(); }

    // Sleeps on cv until pred holds (checked first, and after every wake-up,
    // spurious ones included), as std::condition_variable::wait(lk, pred).
    template <class P>
    void wait(os_condvar& cv, P pred) {
        while (!pred()) cv.wait(m_);
    }

private:
    os_mutex& m_;
};

}  // namespace detail
}  // namespace lowbit
