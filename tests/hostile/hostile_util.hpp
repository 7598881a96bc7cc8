// Helpers of the hostile-input tests (tests/hostile/, docs/reliability.md):
// special float values, sentinel-filled output buffers that must stay untouched
// when a call fails, and misaligned pointers.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <lowbit/core/status.hpp>

namespace hostile {

inline float nan_() { return std::numeric_limits<float>::quiet_NaN(); }
inline float inf_() { return std::numeric_limits<float>::infinity(); }
inline float denorm_() { return std::numeric_limits<float>::denorm_min(); }
inline float huge_() { return std::numeric_limits<float>::max(); }

// The non-finite values every entry point is fed.
inline std::vector<float> non_finite_values() { return {nan_(), inf_(), -inf_()}; }

// A byte buffer filled with a pattern; untouched() says whether a failed call left it alone.
// Storage is 64-byte aligned plus `offset`, so at(offset) gives controlled (mis)alignment.
struct sentinel {
    static constexpr unsigned char fill = 0xA5;
    std::vector<unsigned char> bytes;
    std::size_t off;
    explicit sentinel(std::size_t n, std::size_t offset = 0) : bytes(n + offset + 64, fill), off(offset) {}
    unsigned char* base() {
        const auto p = reinterpret_cast<std::uintptr_t>(bytes.data());
        return bytes.data() + ((64 - (p & 63)) & 63) + off;
    }
    template <class T>
    T* as() { return reinterpret_cast<T*>(base()); }
    bool untouched() const {
        for (unsigned char b : bytes)
            if (b != fill) return false;
        return true;
    }
};

// The message of a failed status contains `what` (a clear status names the argument).
inline bool says(const lowbit::status& s, const char* what) {
    return !s.ok() && std::string(s.message()).find(what) != std::string::npos;
}

inline bool same_bits(const void* a, const void* b, std::size_t n) { return std::memcmp(a, b, n) == 0; }

}  // namespace hostile
