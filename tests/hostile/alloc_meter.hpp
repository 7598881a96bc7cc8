// Counts the bytes a program holds through operator new, and the most it held
// since a mark: the tests that a reader's memory is linear in its input's size
// (tests/hostile/test_hostile_readers.cpp, tests/fuzz/) read it around a call.
//
// Including this header REPLACES the global operator new and delete of the
// whole program, so exactly one translation unit per binary may include it.
// Each block carries its size in a 16-byte prefix (16 keeps max_align_t
// alignment); the over-aligned forms are not replaced and are not counted
// (the readers do not use them).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace alloc_meter {

inline std::atomic<std::size_t>& held() {
    static std::atomic<std::size_t> n{0};
    return n;
}
inline std::atomic<std::size_t>& peak() {
    static std::atomic<std::size_t> n{0};
    return n;
}

// Starts a measurement: the peak restarts from what is held now.
inline std::size_t mark() {
    const std::size_t h = held().load();
    peak().store(h);
    return h;
}
// The most bytes held at once since `mark` returned `base`, above `base`.
inline std::size_t peak_since(std::size_t base) {
    const std::size_t p = peak().load();
    return p > base ? p - base : 0;
}

inline void* take(std::size_t n) noexcept {
    void* p = std::malloc(n + 16);
    if (!p) return nullptr;
    *static_cast<std::size_t*>(p) = n;
    const std::size_t now = held().fetch_add(n) + n;
    std::size_t pk = peak().load();
    while (now > pk && !peak().compare_exchange_weak(pk, now)) {
    }
    return static_cast<char*>(p) + 16;
}
inline void give(void* q) noexcept {
    if (!q) return;
    void* p = static_cast<char*>(q) - 16;
    held().fetch_sub(*static_cast<std::size_t*>(p));
    std::free(p);
}
inline void* take_or_abort(std::size_t n) noexcept {
    void* p = take(n);
    if (!p) std::abort();  // built without exceptions: no std::bad_alloc to throw
    return p;
}

}  // namespace alloc_meter

void* operator new(std::size_t n) { return alloc_meter::take_or_abort(n); }
void* operator new[](std::size_t n) { return alloc_meter::take_or_abort(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return alloc_meter::take(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return alloc_meter::take(n); }
void operator delete(void* p) noexcept { alloc_meter::give(p); }
void operator delete[](void* p) noexcept { alloc_meter::give(p); }
void operator delete(void* p, std::size_t) noexcept { alloc_meter::give(p); }
void operator delete[](void* p, std::size_t) noexcept { alloc_meter::give(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { alloc_meter::give(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { alloc_meter::give(p); }
