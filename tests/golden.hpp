// tests/golden.hpp — reading ggml's golden files (tests/data/gguf_golden/,
// from ggml's reference quantizers; README.md there says where each comes from) for
// the byte-exactness tests of test_gguf_blocks: test_gguf_blocks.cpp,
// test_gguf_more_types.cpp and test_gguf_iq.cpp share these.
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace gguf_golden {

// The whole file, or nothing when it cannot be opened (the callers REQUIRE a size).
inline std::vector<unsigned char> read_bytes(const std::string& path) {
    std::vector<unsigned char> out;
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return out;
    unsigned char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
    std::fclose(f);
    return out;
}

// The file as host-order floats (the goldens' inputs and dequantized outputs).
inline std::vector<float> read_floats(const std::string& path) {
    const std::vector<unsigned char> bytes = read_bytes(path);
    std::vector<float> out(bytes.size() / sizeof(float));
    if (!out.empty()) std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
    return out;
}

inline const std::string golden_dir = std::string(LOWBIT_TEST_DATA_DIR) + "/gguf_golden/";

// The input distributions every golden type was quantized from (<name>.f32).
constexpr const char* distributions[] = {"gaussian", "laplace", "coswave", "zeros", "constant", "outlier", "tiny", "negative"};

// Index of the first differing byte, or -1.
inline long first_difference(const unsigned char* a, const unsigned char* b, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        if (a[i] != b[i]) return static_cast<long>(i);
    }
    return -1;
}

}  // namespace gguf_golden
