// fashion_mnist.hpp — Fashion-MNIST in IDX format (gzip'd as Debian's
// dataset-fashion-mnist ships it, or plain), read by qat_mnist and
// qat_mnist_eval alike, so that both see the same normalised test images.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace fashion_mnist {

inline std::vector<std::uint8_t> read_file(const std::string& path) {
    std::vector<std::uint8_t> bytes;
    FILE* f = nullptr;
    bool piped = false;
    if (FILE* plain = std::fopen(path.c_str(), "rb")) {
        f = plain;
    } else if (FILE* gz = std::fopen((path + ".gz").c_str(), "rb")) {
        std::fclose(gz);
        f = popen(("gzip -dc '" + path + ".gz'").c_str(), "r");  // no zlib dependency for an example
        piped = true;
    }
    if (!f) return bytes;
    std::uint8_t buf[1 << 16];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) bytes.insert(bytes.end(), buf, buf + n);
    if (piped) pclose(f);
    else std::fclose(f);
    return bytes;
}

inline std::uint32_t be32(const std::uint8_t* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

struct dataset {
    std::vector<float> x;          // n x 784, normalised
    std::vector<std::uint8_t> y;   // n labels
    std::size_t n = 0;
};
constexpr std::size_t kPixels = 784, kClasses = 10;

// Images (magic 0x803, n, 28, 28) and labels (magic 0x801, n); at most `limit` examples.
inline bool load(const std::string& dir, const char* prefix, std::size_t limit, dataset& d) {
    const auto img = read_file(dir + "/" + prefix + "-images-idx3-ubyte");
    const auto lab = read_file(dir + "/" + prefix + "-labels-idx1-ubyte");
    if (img.size() < 16 || lab.size() < 8 || be32(img.data()) != 0x803 || be32(lab.data()) != 0x801) return false;
    std::size_t n = be32(img.data() + 4);
    if (be32(lab.data() + 4) != n || be32(img.data() + 8) * be32(img.data() + 12) != kPixels ||
        img.size() < 16 + n * kPixels || lab.size() < 8 + n)
        return false;
    if (limit && limit < n) n = limit;
    d.n = n;
    d.x.resize(n * kPixels);
    d.y.assign(lab.begin() + 8, lab.begin() + 8 + static_cast<std::ptrdiff_t>(n));
    for (std::size_t i = 0; i < n * kPixels; ++i) d.x[i] = (img[16 + i] / 255.0f - 0.2860f) / 0.3530f;  // dataset mean/std
    return true;
}

}  // namespace fashion_mnist
