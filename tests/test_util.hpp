// Shared helpers for lowbit's tests: deterministic data generators.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <vector>

namespace lowbit_test {

// LOWBIT_TEST_REDUCED=1: smaller statistical shapes, for slow runs (qemu in
// scripts/test-arm.sh, ASan+UBSan in scripts/test-sanitize.sh), or a sample of
// a long property sweep. Never drops a kernel or a scheme from a test's grid.
inline bool reduced() {
    const char* v = std::getenv("LOWBIT_TEST_REDUCED");
    return v && *v && *v != '0';
}

inline std::vector<float> gaussian(std::size_t n, std::uint32_t seed, float sigma = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, sigma);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

// An LLM-like weight: Gaussian with a few input channels (columns) scaled up.
inline std::vector<float> llm_like(std::size_t rows, std::size_t cols, std::uint32_t seed) {
    std::vector<float> w = gaussian(rows * cols, seed, 0.02f);
    std::mt19937 rng(seed + 1);
    for (int k = 0; k < 8; ++k) {
        const std::size_t c = rng() % cols;
        for (std::size_t r = 0; r < rows; ++r) w[r * cols + c] *= 12.0f;
    }
    return w;
}

}  // namespace lowbit_test
