// A small program a user of lowbit would write: quantize a weight matrix to
// 4 bits in groups of 32, multiply by it, and measure the error. Built by
// tests/consumers/run.sh once per way of consuming lowbit (installed package,
// add_subdirectory, vendored include/, single header). Uses the templated API
// only: lowbit/runtime.hpp's run-time twins instantiate every scheme and would
// make these builds slow.
#include <lowbit/lowbit.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
    const std::size_t N = 64, K = 256;  // an N x K weight, row-major
    std::vector<float> w(N * K), x(K), y(N), y_ref(N, 0.0f);
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = 0.01f * float(int(i % 97) - 48);
    for (std::size_t k = 0; k < K; ++k) x[k] = 0.5f + 0.25f * float(k % 5);

    using W4 = lowbit::scheme<4, lowbit::per_group<32>>;
    lowbit::matrix_view<const float> wv(w.data(), N, K);
    auto q = lowbit::quantize<W4>(wv);
    if (!q) {
        std::fprintf(stderr, "consumer: quantize: %s\n", q.error().message());
        return 1;
    }
    if (!lowbit::gemv(*q, x, y)) return 1;
    auto r = lowbit::measure(wv, *q);
    if (!r) return 1;

    // y must be close to the f32 product: 4-bit g32 keeps SQNR well above 15 dB.
    double err = 0, ref = 0;
    for (std::size_t n = 0; n < N; ++n) {
        for (std::size_t k = 0; k < K; ++k) y_ref[n] += w[n * K + k] * x[k];
        err += double(y[n] - y_ref[n]) * double(y[n] - y_ref[n]);
        ref += double(y_ref[n]) * double(y_ref[n]);
    }
    const double out_sqnr = 10.0 * std::log10(ref / err);
    std::printf("consumer: %.3f bits/weight, weight SQNR %.1f dB, output SQNR %.1f dB\n",
                r->bits_per_weight, r->weight.sqnr_db, out_sqnr);
    return (r->weight.sqnr_db > 15.0 && out_sqnr > 15.0) ? 0 : 1;
}
