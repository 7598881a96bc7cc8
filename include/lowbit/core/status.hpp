// lowbit/core/status.hpp — error values that work with exceptions off.
//
// Functions that can fail on *data* (shapes, NaN, files) return `status` or
// `result<T>`. The message names the offending argument and is stored inline,
// so returning an error never allocates.
#pragma once

#include <cstdarg>
#include <cstdio>
#include <new>
#include <type_traits>
#include <utility>

#include "config.hpp"

namespace lowbit {

enum class errc : int {
    ok = 0,
    invalid_argument,  // a parameter outside its domain (bits, group size, null pointer)
    shape_mismatch,    // tensor shapes or lengths that do not fit together
    non_finite,        // NaN or Inf in data that must be finite
    numerical,         // an algorithm failed numerically (e.g. matrix not positive definite)
    unsupported,       // a valid request this build cannot do
    io_error,          // reading or writing a file failed
    corrupt_data,      // a file or buffer is truncated, inconsistent or hostile
    out_of_memory,
};

inline const char* errc_name(errc e) noexcept {
    switch (e) {
        case errc::ok: return "ok";
        case errc::invalid_argument: return "invalid argument";
        case errc::shape_mismatch: return "shape mismatch";
        case errc::non_finite: return "non-finite value";
        case errc::numerical: return "numerical failure";
        case errc::unsupported: return "unsupported";
        case errc::io_error: return "I/O error";
        case errc::corrupt_data: return "corrupt data";
        case errc::out_of_memory: return "out of memory";
    }
    return "unknown error";
}

class status {
public:
    static constexpr int max_message = 200;

    status() noexcept = default;  // ok

    // printf-style message; truncated to max_message - 1 characters.
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    static status
    error(errc code, const char* fmt, ...) noexcept {
        status s;
        s.code_ = code;
        std::va_list args;
        va_start(args, fmt);
        std::vsnprintf(s.msg_, sizeof s.msg_, fmt, args);
        va_end(args);
        return s;
    }

    bool ok() const noexcept { return code_ == errc::ok; }
    explicit operator bool() const noexcept { return ok(); }
    errc code() const noexcept { return code_; }
    const char* message() const noexcept { return ok() ? "ok" : msg_; }

private:
    errc code_ = errc::ok;
    char msg_[max_message] = {};
};

// result<T>: a T or an error status. T need not be default constructible.
template <class T>
class result {
public:
    result(const T& v) : has_(true) { ::new (static_cast<void*>(&storage_)) T(v); }
    result(T&& v) noexcept(std::is_nothrow_move_constructible<T>::value) : has_(true) {
        ::new (static_cast<void*>(&storage_)) T(std::move(v));
    }
    result(const status& s) noexcept : has_(false), st_(s) {
        LOWBIT_ASSERT(!s.ok(), "result<T> built from an ok status carries no value");
    }
    result(const result& o) : has_(o.has_), st_(o.st_) {
        if (has_) ::new (static_cast<void*>(&storage_)) T(*o);
    }
    result(result&& o) noexcept(std::is_nothrow_move_constructible<T>::value) : has_(o.has_), st_(o.st_) {
        if (has_) ::new (static_cast<void*>(&storage_)) T(std::move(*o));
    }
    result& operator=(result o) noexcept(std::is_nothrow_move_constructible<T>::value) {
        reset();
        has_ = o.has_;
        st_ = o.st_;
        if (has_) ::new (static_cast<void*>(&storage_)) T(std::move(*o));
        return *this;
    }
    ~result() { reset(); }

    bool ok() const noexcept { return has_; }
    explicit operator bool() const noexcept { return has_; }
    const status& error() const noexcept { return st_; }

    T& operator*() & noexcept { return *ptr(); }
    const T& operator*() const& noexcept { return *ptr(); }
    T&& operator*() && noexcept { return std::move(*ptr()); }
    T* operator->() noexcept { return ptr(); }
    const T* operator->() const noexcept { return ptr(); }
    T& value() & noexcept { return *ptr(); }
    const T& value() const& noexcept { return *ptr(); }
    T&& value() && noexcept { return std::move(*ptr()); }

private:
    T* ptr() noexcept {
        LOWBIT_ASSERT(has_, "result<T> accessed while holding an error");
        return std::launder(reinterpret_cast<T*>(&storage_));
    }
    const T* ptr() const noexcept {
        LOWBIT_ASSERT(has_, "result<T> accessed while holding an error");
        return std::launder(reinterpret_cast<const T*>(&storage_));
    }
    void reset() noexcept {
        if (has_) ptr()->~T();
        has_ = false;
    }

    alignas(T) unsigned char storage_[sizeof(T)];
    bool has_;
    status st_;
};

}  // namespace lowbit

// Propagate a failed status from an expression that yields a status.
#define LOWBIT_TRY(expr)                             \
    do {                                             \
        ::lowbit::status lowbit_try_status_ = (expr); \
        if (!lowbit_try_status_.ok()) return lowbit_try_status_; \
    } while (0)
