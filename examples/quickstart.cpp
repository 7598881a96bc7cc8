// quickstart — quantize one weight matrix at many schemes and compare them.
//
//   quickstart                 a 4096 x 4096 LLM-like matrix (Gaussian, a few
//                              outlier input channels), fixed seed
//   quickstart --gaussian      N(0,1) weights instead (the published RTN figures)
//   quickstart W.npy           a real float32 [N, K] matrix
//   quickstart --rows N --cols K --threads T
//
// For each scheme it prints bits per weight, size, weight SQNR, cosine, max
// error, and the layer-output error ||X W^T - X Q(W)^T|| / ||X W^T|| on a batch
// of 32 activation rows, then checks the kernel (gemm) against the f32 product.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <lowbit/formats/npy.hpp>
#include <lowbit/lowbit.hpp>

namespace {

struct options {
    std::size_t rows = 4096, cols = 4096;
    unsigned threads = 2;
    bool gaussian = false;
    const char* npy = nullptr;
};

bool parse_args(int argc, char** argv, options& o) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&](const char* what) -> const char* {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "quickstart: %s needs a value\n", what);
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--gaussian") o.gaussian = true;
        else if (a == "--rows") o.rows = std::strtoul(next("--rows"), nullptr, 10);
        else if (a == "--cols") o.cols = std::strtoul(next("--cols"), nullptr, 10);
        else if (a == "--threads") o.threads = static_cast<unsigned>(std::strtoul(next("--threads"), nullptr, 10));
        else if (a == "-h" || a == "--help") return false;
        else if (a[0] != '-') o.npy = argv[i];
        else {
            std::fprintf(stderr, "quickstart: unknown option %s\n", a.c_str());
            return false;
        }
    }
    return o.rows > 0 && o.cols > 0 && o.threads > 0;
}

// LLM-like weights: N(0, 0.02^2), with 0.2% of input channels 10x larger, as
// seen in trained transformers' projections.
std::vector<float> make_weights(const options& o) {
    std::mt19937 rng(1234);
    std::normal_distribution<float> nd(0.0f, o.gaussian ? 1.0f : 0.02f);
    std::vector<float> w(o.rows * o.cols);
    for (auto& v : w) v = nd(rng);
    if (!o.gaussian) {
        for (std::size_t k = 0; k < std::max<std::size_t>(1, o.cols / 512); ++k) {
            const std::size_t c = rng() % o.cols;
            for (std::size_t r = 0; r < o.rows; ++r) w[r * o.cols + c] *= 10.0f;
        }
    }
    return w;
}

// Activations with a few large channels, as LLM hidden states have.
std::vector<float> make_activations(std::size_t m, std::size_t k) {
    std::mt19937 rng(99);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> x(m * k);
    for (auto& v : x) v = nd(rng);
    for (std::size_t j = 0; j < std::max<std::size_t>(1, k / 1024); ++j) {
        const std::size_t c = rng() % k;
        for (std::size_t r = 0; r < m; ++r) x[r * k + c] *= 20.0f;
    }
    return x;
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    if (!parse_args(argc, argv, o)) {
        std::fprintf(stderr, "usage: quickstart [W.npy] [--gaussian] [--rows N] [--cols K] [--threads T]\n");
        return 2;
    }
    std::vector<float> w;
    if (o.npy) {
        auto a = lowbit::read_npy(o.npy);
        if (!a) {
            std::fprintf(stderr, "quickstart: %s\n", a.error().message());
            return 1;
        }
        o.rows = a->rows();
        o.cols = a->cols();
        w = std::move(a->data);
    } else {
        w = make_weights(o);
    }
    const std::size_t N = o.rows, K = o.cols, M = 32;
    const lowbit::matrix_view<const float> wv(w.data(), N, K);
    const std::vector<float> x = make_activations(M, K);
    const lowbit::matrix_view<const float> xv(x.data(), M, K);
    lowbit::thread_pool pool(o.threads);

    std::printf("lowbit %s quickstart: W is %zu x %zu (%s), X is %zu x %zu, %u threads\n\n", LOWBIT_VERSION_STRING, N, K,
                o.npy ? o.npy : (o.gaussian ? "N(0,1)" : "LLM-like, seed 1234"), M, K, o.threads);
    std::printf("%-10s %-6s %5s %9s %9s %9s %10s %10s %10s %7s\n", "scheme", "calib", "bpw", "size MB", "SQNR dB", "cosine",
                "max err", "out SQNR", "out relerr", "sec");
    std::printf("%-10s %-6s %5s %9.2f %9s %9s %10s %10s %10s %7s\n", "f32", "-", "32", N * K * 4 / 1e6, "inf", "1", "0", "inf",
                "0", "-");

    const char* schemes[] = {"w8pc",   "w8g32",  "w4pc",   "w4g128", "w4g128a", "w4g32",
                             "w4g32a", "w3g128a", "w3g32a", "w2g32a", "w2g16a"};
    for (const char* name : schemes) {
        for (int use_mse = 0; use_mse < 2; ++use_mse) {
            if (use_mse && name[1] == '8') continue;  // at 8 bits clipping buys nothing visible
            const auto rs = lowbit::parse_scheme(name);
            const lowbit::calibration calib =
                use_mse ? lowbit::calibration(lowbit::calibrate::mse{}) : lowbit::calibration(lowbit::calibrate::minmax{});
            const auto t0 = std::chrono::steady_clock::now();
            auto q = lowbit::quantize(*rs, wv, calib, pool);
            const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            if (!q) {
                std::fprintf(stderr, "quickstart: %s: %s\n", name, q.error().message());
                return 1;
            }
            auto rep = lowbit::measure(wv, *q, xv, pool);
            if (!rep) {
                std::fprintf(stderr, "quickstart: %s\n", rep.error().message());
                return 1;
            }
            std::printf("%-10s %-6s %5.3f %9.2f %9.2f %9.6f %10.4g %10.2f %10.4f %7.2f\n", name, calib.name(),
                        rep->bits_per_weight, rep->bytes / 1e6, rep->weight.sqnr_db, rep->weight.cosine, rep->weight.max_abs,
                        rep->output.sqnr_db, rep->output.rel_error, sec);
        }
    }

    // The kernel on the quantized weights: Y = X Q(W)^T, against the f32 product.
    auto q4 = lowbit::quantize<lowbit::scheme<4, lowbit::per_group<32>>>(wv, lowbit::calibrate::mse{}, pool);
    if (!q4) return 1;
    std::vector<float> yq(M * N), yf(M * N);
    const auto t0 = std::chrono::steady_clock::now();
    if (!lowbit::gemm(*q4, xv, lowbit::matrix_view<float>(yq.data(), M, N), pool)) return 1;
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    pool(N, [&](std::size_t n) {
        for (std::size_t m = 0; m < M; ++m) {
            double acc = 0;
            for (std::size_t k = 0; k < K; ++k) acc += static_cast<double>(w[n * K + k]) * x[m * K + k];
            yf[m * N + n] = static_cast<float>(acc);
        }
    });
    const auto e = lowbit::compare(lowbit::span<const float>(yf), lowbit::span<const float>(yq));
    std::printf("\ngemm w4g32 (mse) on X (%zu x %zu): %.3f s, output SQNR %.2f dB vs f32, cosine %.6f\n", M, K, sec, e.sqnr_db,
                e.cosine);
    std::printf("bpw counts scales (and a zero-point byte for asymmetric 'a' schemes); docs/concepts.md explains the columns.\n");
    return 0;
}
