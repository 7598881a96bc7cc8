// lowbit/quant/detail/mt19937_64.hpp — the 64-bit Mersenne Twister with the
// parameters the C++ standard fixes for std::mt19937_64 ([rand.predef]), so
// the same seed gives the same draws as the standard engine on every platform.
// Written out here so that a public header does not pull in <random> (about a
// tenth of the time to parse lowbit.hpp); hadamard.hpp draws its signs from it.
// tests/test_quant_hadamard.cpp checks hadamard_rotation's signs against
// std::mt19937_64's draws.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lowbit {
namespace detail {

class mt19937_64 {
public:
    explicit mt19937_64(std::uint64_t seed) noexcept {
        x_[0] = seed;
        for (std::size_t i = 1; i < n; ++i) x_[i] = 6364136223846793005ULL * (x_[i - 1] ^ (x_[i - 1] >> 62)) + i;
        i_ = n;
    }

    std::uint64_t operator()() noexcept {
        if (i_ == n) twist();
        std::uint64_t z = x_[i_++];
        z ^= (z >> 29) & 0x5555555555555555ULL;
        z ^= (z << 17) & 0x71d67fffeda60000ULL;
        z ^= (z << 37) & 0xfff7eee000000000ULL;
        return z ^ (z >> 43);
    }

private:
    static constexpr std::size_t n = 312, m = 156;
    static constexpr std::uint64_t upper = ~0ULL << 31, lower = ~upper, a = 0xb5026f5aa96619e9ULL;

    // The next n words of the state, in place.
    void twist() noexcept {
        for (std::size_t k = 0; k < n; ++k) {
            const std::uint64_t y = (x_[k] & upper) | (x_[(k + 1) % n] & lower);
            x_[k] = x_[(k + m) % n] ^ (y >> 1) ^ ((y & 1) ? a : 0);
        }
        i_ = 0;
    }

    std::uint64_t x_[n];
    std::size_t i_;
};

}  // namespace detail
}  // namespace lowbit
