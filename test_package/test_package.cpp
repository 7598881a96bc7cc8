// Conan's test_package: the packaged headers compile (no dependency to find), and a
// 4-bit quantized GEMV runs.
#include <lowbit/lowbit.hpp>

#include <cstdio>
#include <vector>

int main() {
    const std::size_t N = 8, K = 64;
    std::vector<float> w(N * K), x(K, 1.0f), y(N);
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = 0.01f * float(int(i % 13) - 6);

    lowbit::matrix_view<const float> wv(w.data(), N, K);
    auto q = lowbit::quantize<lowbit::scheme<4, lowbit::per_group<32>>>(wv);
    if (!q || !lowbit::gemv(*q, x, y)) {
        std::fprintf(stderr, "lowbit test_package: quantize or gemv failed\n");
        return 1;
    }
    std::printf("lowbit test_package: y[0] = %g\n", double(y[0]));
    return 0;
}
