// qat_mnist_eval — loads a model that `qat_mnist --save FILE.gguf` wrote
// (mlp_file.hpp) and evaluates it on the Fashion-MNIST test set through the
// same kernels, printing the line qat_mnist printed for the model in memory:
// equal accuracy and equal logits hash mean the saved model computes what the
// trained one did, bit for bit.
//
//   qat_mnist_eval FILE.gguf [--data DIR] [--test N] [--threads N]
// Exit codes: 0 evaluated, 1 a bad file, 2 usage, 77 no data (as qat_mnist).
#include <cstdio>
#include <cstdlib>
#include <string>

#include <lowbit/lowbit.hpp>

#include "../common/cli_numbers.hpp"
#include "../common/input_file.hpp"
#include "fashion_mnist.hpp"
#include "mlp_file.hpp"

namespace {

// The schemes qat_mnist trains and saves: per channel, symmetric, f16 scales.
template <int B>
using pc = lowbit::scheme<B, lowbit::per_channel, lowbit::symmetric, lowbit::scale_f16>;

template <int B>
lowbit::status logits_as(const mlp_file::model& m, const fashion_mnist::dataset& d, lowbit::thread_pool& pool, std::vector<float>& z) {
    auto q1 = lowbit::as_qmatrix<pc<B>>(m.w1);
    if (!q1) return q1.error();
    auto q2 = lowbit::as_qmatrix<pc<B>>(m.w2);
    if (!q2) return q2.error();
    return mlp_file::logits<pc<B>>(*q1, m.b1, *q2, m.b2, d.x.data(), d.n, pool, z);
}

}  // namespace

int main(int argc, char** argv) {
    std::string path, data = "/usr/share/datasets/fashion-mnist";
    std::size_t test_n = 0;
    unsigned threads = 2;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const bool has = i + 1 < argc;
        if (a == "--data" && has) data = argv[++i];
        else if (a == "--test" && has) {
            if (!lbcli::parse_int("qat_mnist_eval", "--test", argv[++i], 0, 1 << 30, &test_n)) return 2;
        } else if (a == "--threads" && has) {
            if (!lbcli::parse_int("qat_mnist_eval", "--threads", argv[++i], 1, 1024, &threads)) return 2;
        }
        else if (!a.empty() && a[0] != '-' && path.empty()) path = a;
        else {
            std::fprintf(stderr, "usage: qat_mnist_eval FILE.gguf [--data DIR] [--test N] [--threads N]\n");
            return 2;
        }
    }
    if (path.empty()) {
        std::fprintf(stderr, "usage: qat_mnist_eval FILE.gguf [--data DIR] [--test N] [--threads N]\n");
        return 2;
    }
    // Mapped (or read from a pipe) page-aligned: the lowbit weights lie 64-byte aligned, as the reader requires.
    tool_files::input_file file;
    if (lowbit::status s = file.open(path); !s) return std::fprintf(stderr, "qat_mnist_eval: %s: %s\n", path.c_str(), s.message()), 1;
    auto m = mlp_file::load(file.bytes(), fashion_mnist::kPixels, fashion_mnist::kClasses);
    if (!m) return std::fprintf(stderr, "qat_mnist_eval: %s: %s\n", path.c_str(), m.error().message()), 1;
    fashion_mnist::dataset test;
    if (!fashion_mnist::load(data, "t10k", test_n, test)) {
        std::fprintf(stderr, "qat_mnist_eval: Fashion-MNIST not found in %s\n", data.c_str());
        return 77;
    }
    lowbit::thread_pool pool(threads);
    std::vector<float> z;
    lowbit::status st;
    switch (m->w1.scheme().bits) {
        case 2: st = logits_as<2>(*m, test, pool, z); break;
        case 3: st = logits_as<3>(*m, test, pool, z); break;
        case 4: st = logits_as<4>(*m, test, pool, z); break;
        case 8: st = logits_as<8>(*m, test, pool, z); break;
        default: st = lowbit::status::error(lowbit::errc::unsupported, "%d-bit weights: qat_mnist saves 2, 3, 4 or 8 bits", m->w1.scheme().bits);
    }
    if (!st) return std::fprintf(stderr, "qat_mnist_eval: %s: %s\n", path.c_str(), st.message()), 1;
    const auto pred = mlp_file::predictions(z, fashion_mnist::kClasses);
    std::size_t ok = 0;
    for (std::size_t i = 0; i < test.n; ++i) ok += pred[i] == test.y[i];
    char scheme[48];
    m->w1.scheme().name(scheme, sizeof scheme);
    std::fprintf(stderr, "model %s: %s, %zu test examples, accuracy %.4f, logits hash %016llx\n", path.c_str(), scheme, test.n,
                 static_cast<double>(ok) / static_cast<double>(test.n), static_cast<unsigned long long>(mlp_file::hash(z)));
    std::printf("%s (%s): accuracy %.2f%% on %zu Fashion-MNIST test images\n", path.c_str(), m->name.c_str(),
                100.0 * static_cast<double>(ok) / static_cast<double>(test.n), test.n);
    return 0;
}
