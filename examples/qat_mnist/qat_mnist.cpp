// qat_mnist — post-training quantization vs quantization-aware training on
// Fashion-MNIST, with a small MLP (784-256-10) trained by the Adam written below.
//
// For every bit width it quantizes the trained FP32 model with lowbit's RTN
// (min/max and MSE-searched ranges), then fine-tunes it with fake quantization
// (lowbit/qat.hpp): STE with a periodically re-calibrated step, and LSQ with
// learned steps. Every quantized model is exported to qmatrix and evaluated
// through lowbit::gemm; the accuracy must equal the fake-quantization
// evaluation (it is printed next to it, and a mismatch fails the run).
//
//   qat_mnist [--data DIR] [--epochs N] [--qat-epochs N] [--train N] [--test N]
//             [--threads N] [--seed N] [--quick] [--json] [--save FILE.gguf [--save-bits B]]
// --save writes the LSQ-trained B-bit model (B = 2, 3 or 4; default 4) as a
// lowbit GGUF (mlp_file.hpp) and prints its accuracy and a hash of its test
// logits; qat_mnist_eval FILE.gguf reads it back and prints the same two.
// Data: Debian package dataset-fashion-mnist (IDX files in
// /usr/share/datasets/fashion-mnist); see README.md. Exit code 77 when absent.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <lowbit/lowbit.hpp>
#include <lowbit/qat.hpp>

#include "../common/cli_numbers.hpp"
#include "fashion_mnist.hpp"
#include "mlp_file.hpp"

namespace {

using fashion_mnist::dataset;
using fashion_mnist::kClasses;
using fashion_mnist::kPixels;
using fashion_mnist::load;

// ---- options --------------------------------------------------------------------------------
struct options {
    std::string data = "/usr/share/datasets/fashion-mnist";
    int epochs = 8;        // FP32 training
    int qat_epochs = 3;    // each QAT fine-tuning run
    std::size_t train = 0, test = 0;  // 0: all
    unsigned threads = 2;
    std::uint64_t seed = 1;
    bool json = false;
    std::string save;   // --save FILE.gguf
    int save_bits = 4;  // --save-bits: which QAT LSQ model
    std::vector<tool_files::input_path> inputs;  // the data files, which --save must not replace
};

bool parse_args(int argc, char** argv, options& o) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&](const char* name) -> const char* {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "qat_mnist: %s needs a value\n", name);
                std::exit(2);
            }
            return argv[++i];
        };
        // A bad number is a usage error: one line naming the option, exit 2.
        auto number = [&](long long lo, long long hi, auto* field) {
            if (!lbcli::parse_int("qat_mnist", a.c_str(), next(a.c_str()), lo, hi, field)) std::exit(2);
        };
        if (a == "--data") o.data = next("--data");
        else if (a == "--epochs") number(1, 10000, &o.epochs);
        else if (a == "--qat-epochs") number(0, 10000, &o.qat_epochs);
        else if (a == "--train") number(0, 1 << 30, &o.train);  // 0: all
        else if (a == "--test") number(0, 1 << 30, &o.test);
        else if (a == "--threads") number(1, 1024, &o.threads);
        else if (a == "--seed") {
            if (!lbcli::parse_u64("qat_mnist", "--seed", next("--seed"), &o.seed)) std::exit(2);
        }
        else if (a == "--json") o.json = true;
        else if (a == "--save") o.save = next("--save");
        else if (a == "--save-bits") number(2, 4, &o.save_bits);
        else if (a == "--quick") {  // the CTest smoke run: a subset, few epochs
            o.train = 6000;
            o.test = 2000;
            o.epochs = 3;
            o.qat_epochs = 1;
        } else {
            std::fprintf(stderr,
                         "usage: qat_mnist [--data DIR] [--epochs N] [--qat-epochs N] [--train N] [--test N] "
                         "[--threads N] [--seed N] [--quick] [--json] [--save FILE.gguf [--save-bits 2|3|4]]\n");
            return false;
        }
    }
    if (!o.save.empty() && (o.save_bits < 2 || o.save_bits > 4 || o.qat_epochs < 1)) {
        std::fprintf(stderr, "qat_mnist: --save keeps the QAT LSQ model of --save-bits 2, 3 or 4 bits (and needs --qat-epochs >= 1)\n");
        return false;
    }
    return o.epochs >= 1 && o.qat_epochs >= 0 && o.threads >= 1;
}

// ---- deterministic random numbers (no std:: distributions: theirs differ between libraries) ----
struct rng {
    std::uint64_t s;
    explicit rng(std::uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ULL + 1) {}
    std::uint64_t next() {  // splitmix64
        std::uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }  // [0, 1)
    std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
};

// ---- dense algebra, split over rows into fixed tasks (same result for any thread count) ------------
using pool_t = lowbit::thread_pool;

// Y (M x N) = X (M x K) W^T + b, W given transposed (Wt: K x N) so the inner loop is a vectorisable axpy.
void linear_forward(const float* x, std::size_t M, std::size_t K, const float* wt, const float* b, std::size_t N, float* y,
                    pool_t& pool) {
    pool((M + 15) / 16, [&](std::size_t t) {
        for (std::size_t m = t * 16; m < std::min(M, t * 16 + 16); ++m) {
            float* yr = y + m * N;
            std::copy(b, b + N, yr);
            const float* xr = x + m * K;
            for (std::size_t k = 0; k < K; ++k) {
                const float xv = xr[k];
                if (xv == 0.0f) continue;
                const float* wr = wt + k * N;
                for (std::size_t n = 0; n < N; ++n) yr[n] += xv * wr[n];
            }
        }
    });
}

void transpose(const float* w, std::size_t N, std::size_t K, float* wt) {
    for (std::size_t n = 0; n < N; ++n)
        for (std::size_t k = 0; k < K; ++k) wt[k * N + n] = w[n * K + k];
}

// dX (M x K) = dY (M x N) W (N x K)
void linear_backward_input(const float* dy, std::size_t M, std::size_t N, const float* w, std::size_t K, float* dx, pool_t& pool) {
    pool((M + 15) / 16, [&](std::size_t t) {
        for (std::size_t m = t * 16; m < std::min(M, t * 16 + 16); ++m) {
            float* dxr = dx + m * K;
            std::fill(dxr, dxr + K, 0.0f);
            for (std::size_t n = 0; n < N; ++n) {
                const float g = dy[m * N + n];
                if (g == 0.0f) continue;
                const float* wr = w + n * K;
                for (std::size_t k = 0; k < K; ++k) dxr[k] += g * wr[k];
            }
        }
    });
}

// dW (N x K) = dY^T (N x M) X (M x K), db = column sums of dY
void linear_backward_weights(const float* dy, std::size_t M, std::size_t N, const float* x, std::size_t K, float* dw, float* db,
                             pool_t& pool) {
    pool((N + 7) / 8, [&](std::size_t t) {
        for (std::size_t n = t * 8; n < std::min(N, t * 8 + 8); ++n) {
            float* dwr = dw + n * K;
            std::fill(dwr, dwr + K, 0.0f);
            float bsum = 0.0f;
            for (std::size_t m = 0; m < M; ++m) {
                const float g = dy[m * N + n];
                bsum += g;
                if (g == 0.0f) continue;
                const float* xr = x + m * K;
                for (std::size_t k = 0; k < K; ++k) dwr[k] += g * xr[k];
            }
            db[n] = bsum;
        }
    });
}

// ---- the model ------------------------------------------------------------------------------
struct layer {
    std::size_t out = 0, in = 0;
    std::vector<float> w, b;  // w: out x in, row-major (lowbit's N x K)
};
struct mlp {
    layer l1, l2;
};

mlp init_mlp(std::size_t hidden, std::uint64_t seed) {
    rng r(seed);
    auto make = [&](std::size_t out, std::size_t in) {
        layer l;
        l.out = out;
        l.in = in;
        l.w.resize(out * in);
        l.b.assign(out, 0.0f);
        const float bound = std::sqrt(6.0f / static_cast<float>(in));  // He-uniform for ReLU
        for (auto& v : l.w) v = (2.0f * r.uniform() - 1.0f) * bound;
        return l;
    };
    mlp m;
    m.l1 = make(hidden, kPixels);
    m.l2 = make(kClasses, hidden);
    return m;
}

// Adam (Kingma & Ba), one state per parameter tensor.
struct adam {
    std::vector<float> m, v;
    void step(std::vector<float>& p, const std::vector<float>& g, float lr, long t) {
        const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
        if (m.size() != p.size()) {
            m.assign(p.size(), 0.0f);
            v.assign(p.size(), 0.0f);
        }
        const float c1 = 1.0f - std::pow(b1, static_cast<float>(t)), c2 = 1.0f - std::pow(b2, static_cast<float>(t));
        for (std::size_t i = 0; i < p.size(); ++i) {
            m[i] = b1 * m[i] + (1.0f - b1) * g[i];
            v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
            p[i] -= lr * (m[i] / c1) / (std::sqrt(v[i] / c2) + eps);
        }
    }
};

// How the weights are quantized while training: not at all (FP32), or fake-quantized
// with fixed (re-calibrated) steps and STE, or with LSQ-learned steps.
enum class mode { fp32, ste, lsq };

// Per-layer fake-quantization state for scheme S (symmetric, so no zero points).
template <class S>
struct qlayer_state {
    std::vector<float> steps;
    adam opt_steps;
};

struct batch_buffers {
    std::vector<float> x, wt1, wt2, h, z, dz, dh, dw1, db1, dw2, db2, wq1, wq2, gw1, gw2, gs1, gs2;
};

// Softmax cross-entropy over a batch: writes dL/dz (mean over the batch) into dz, returns the loss sum.
double softmax_xent(const float* z, const std::uint8_t* y, std::size_t M, float* dz) {
    double loss = 0.0;
    for (std::size_t m = 0; m < M; ++m) {
        const float* zr = z + m * kClasses;
        float* dr = dz + m * kClasses;
        const float mx = *std::max_element(zr, zr + kClasses);
        double sum = 0.0;
        for (std::size_t c = 0; c < kClasses; ++c) sum += std::exp(static_cast<double>(zr[c] - mx));
        for (std::size_t c = 0; c < kClasses; ++c) {
            const double p = std::exp(static_cast<double>(zr[c] - mx)) / sum;
            dr[c] = static_cast<float>((p - (c == y[m] ? 1.0 : 0.0)) / static_cast<double>(M));
        }
        loss -= static_cast<double>(zr[y[m]] - mx) - std::log(sum);
    }
    return loss;
}

void check(const lowbit::status& s, const char* what) {
    if (!s.ok()) {
        std::fprintf(stderr, "qat_mnist: %s: %s\n", what, s.message());
        std::exit(1);
    }
}

// Effective weights of a layer (fake-quantized unless FP32).
template <class S>
void effective_weights(const layer& l, mode md, const qlayer_state<S>& q, std::vector<float>& out, pool_t& pool) {
    out.resize(l.w.size());
    if (md == mode::fp32) {
        std::copy(l.w.begin(), l.w.end(), out.begin());
        return;
    }
    check(lowbit::qat::fake_quantize<S>({l.w.data(), l.out, l.in}, q.steps, {}, {out.data(), l.out, l.in}, {}, pool),
             "fake_quantize");
}

// Train for `epochs` epochs with Adam and a cosine learning-rate schedule from lr0.
template <class S>
void train(mlp& net, const dataset& d, mode md, qlayer_state<S>* q1, qlayer_state<S>* q2, int epochs, float lr0,
           std::uint64_t seed, pool_t& pool, bool verbose) {
    constexpr std::size_t B = 128;
    const std::size_t H = net.l1.out;
    batch_buffers bb;
    bb.x.resize(B * kPixels);
    bb.h.resize(B * H);
    bb.z.resize(B * kClasses);
    bb.dz.resize(B * kClasses);
    bb.dh.resize(B * H);
    bb.dw1.resize(net.l1.w.size());
    bb.db1.resize(H);
    bb.dw2.resize(net.l2.w.size());
    bb.db2.resize(kClasses);
    bb.wt1.resize(net.l1.w.size());
    bb.wt2.resize(net.l2.w.size());
    std::vector<std::uint8_t> yb(B);
    adam a_w1, a_b1, a_w2, a_b2;
    std::vector<std::size_t> order(d.n);
    for (std::size_t i = 0; i < d.n; ++i) order[i] = i;
    rng r(seed);
    const std::size_t steps_per_epoch = d.n / B;
    const long total = static_cast<long>(steps_per_epoch) * epochs;
    long t = 0;
    for (int e = 0; e < epochs; ++e) {
        for (std::size_t i = d.n - 1; i > 0; --i) std::swap(order[i], order[r.below(i + 1)]);  // Fisher-Yates
        double loss = 0.0;
        for (std::size_t s = 0; s < steps_per_epoch; ++s, ++t) {
            const float lr = lr0 * 0.5f * (1.0f + std::cos(3.14159265f * static_cast<float>(t) / static_cast<float>(total)));
            if (md == mode::ste && t % 100 == 0) {
                // STE keeps steps fixed; refresh them from lowbit's MSE range search now and then.
                check(lowbit::qat::calibrated_init<S>({net.l1.w.data(), net.l1.out, net.l1.in}, lowbit::calibrate::mse{}, q1->steps, {}),
                         "calibrated_init");
                check(lowbit::qat::calibrated_init<S>({net.l2.w.data(), net.l2.out, net.l2.in}, lowbit::calibrate::mse{}, q2->steps, {}),
                         "calibrated_init");
            }
            for (std::size_t m = 0; m < B; ++m) {
                const std::size_t idx = order[s * B + m];
                std::copy(d.x.begin() + static_cast<std::ptrdiff_t>(idx * kPixels),
                          d.x.begin() + static_cast<std::ptrdiff_t>((idx + 1) * kPixels), bb.x.begin() + static_cast<std::ptrdiff_t>(m * kPixels));
                yb[m] = d.y[idx];
            }
            // Forward with the effective (fake-quantized) weights.
            effective_weights<S>(net.l1, md, *q1, bb.wq1, pool);
            effective_weights<S>(net.l2, md, *q2, bb.wq2, pool);
            transpose(bb.wq1.data(), H, kPixels, bb.wt1.data());
            transpose(bb.wq2.data(), kClasses, H, bb.wt2.data());
            linear_forward(bb.x.data(), B, kPixels, bb.wt1.data(), net.l1.b.data(), H, bb.h.data(), pool);
            for (auto& v : bb.h) v = std::max(v, 0.0f);
            linear_forward(bb.h.data(), B, H, bb.wt2.data(), net.l2.b.data(), kClasses, bb.z.data(), pool);
            loss += softmax_xent(bb.z.data(), yb.data(), B, bb.dz.data());
            // Backward: gradients with respect to the effective weights ...
            linear_backward_weights(bb.dz.data(), B, kClasses, bb.h.data(), H, bb.dw2.data(), bb.db2.data(), pool);
            linear_backward_input(bb.dz.data(), B, kClasses, bb.wq2.data(), H, bb.dh.data(), pool);
            for (std::size_t i = 0; i < bb.dh.size(); ++i)
                if (bb.h[i] <= 0.0f) bb.dh[i] = 0.0f;
            linear_backward_weights(bb.dh.data(), B, H, bb.x.data(), kPixels, bb.dw1.data(), bb.db1.data(), pool);
            // ... then through fake quantization to the float weights (STE) and the steps (LSQ).
            if (md != mode::fp32) {
                lowbit::span<float> gs1, gs2;
                if (md == mode::lsq) {
                    bb.gs1.resize(q1->steps.size());
                    bb.gs2.resize(q2->steps.size());
                    gs1 = bb.gs1;
                    gs2 = bb.gs2;
                }
                check(lowbit::qat::fake_quantize_backward<S>({net.l1.w.data(), H, kPixels}, q1->steps, {}, {bb.dw1.data(), H, kPixels},
                                                                {bb.dw1.data(), H, kPixels}, gs1, {}, pool),
                         "fake_quantize_backward");
                check(lowbit::qat::fake_quantize_backward<S>({net.l2.w.data(), kClasses, H}, q2->steps, {}, {bb.dw2.data(), kClasses, H},
                                                                {bb.dw2.data(), kClasses, H}, gs2, {}, pool),
                         "fake_quantize_backward");
                if (md == mode::lsq) {
                    q1->opt_steps.step(q1->steps, bb.gs1, lr, t + 1);
                    q2->opt_steps.step(q2->steps, bb.gs2, lr, t + 1);
                    check(lowbit::qat::project_steps<S>(q1->steps), "project_steps");
                    check(lowbit::qat::project_steps<S>(q2->steps), "project_steps");
                }
            }
            a_w1.step(net.l1.w, bb.dw1, lr, t + 1);
            a_b1.step(net.l1.b, bb.db1, lr, t + 1);
            a_w2.step(net.l2.w, bb.dw2, lr, t + 1);
            a_b2.step(net.l2.b, bb.db2, lr, t + 1);
        }
        if (verbose) std::fprintf(stderr, "  epoch %d: loss %.4f\n", e + 1, loss / static_cast<double>(steps_per_epoch * B));
    }
}

// Accuracy of a float model (weights as given) on d.
double accuracy_float(const std::vector<float>& w1, const std::vector<float>& b1, const std::vector<float>& w2,
                      const std::vector<float>& b2, std::size_t H, const dataset& d, pool_t& pool, std::vector<std::uint8_t>* pred) {
    std::vector<float> wt1(w1.size()), wt2(w2.size()), h(d.n * H), z(d.n * kClasses);
    transpose(w1.data(), H, kPixels, wt1.data());
    transpose(w2.data(), kClasses, H, wt2.data());
    linear_forward(d.x.data(), d.n, kPixels, wt1.data(), b1.data(), H, h.data(), pool);
    for (auto& v : h) v = std::max(v, 0.0f);
    linear_forward(h.data(), d.n, H, wt2.data(), b2.data(), kClasses, z.data(), pool);
    std::size_t ok = 0;
    if (pred) pred->resize(d.n);
    for (std::size_t i = 0; i < d.n; ++i) {
        const float* zr = z.data() + i * kClasses;
        const auto p = static_cast<std::uint8_t>(std::max_element(zr, zr + kClasses) - zr);
        ok += p == d.y[i];
        if (pred) (*pred)[i] = p;
    }
    return static_cast<double>(ok) / static_cast<double>(d.n);
}

// Accuracy of the exported model through lowbit's kernels (mlp_file::logits,
// which qat_mnist_eval runs on the saved file); *hash: of its logits.
template <class S>
double accuracy_kernels(const lowbit::qmatrix<S>& q1, const std::vector<float>& b1, const lowbit::qmatrix<S>& q2,
                        const std::vector<float>& b2, const dataset& d, pool_t& pool, std::vector<std::uint8_t>* pred, std::uint64_t* hash) {
    std::vector<float> z;
    check(mlp_file::logits<S>(q1.view(), {b1.data(), b1.size()}, q2.view(), {b2.data(), b2.size()}, d.x.data(), d.n, pool, z), "gemm");
    *pred = mlp_file::predictions(z, kClasses);
    *hash = mlp_file::hash(z);
    std::size_t ok = 0;
    for (std::size_t i = 0; i < d.n; ++i) ok += (*pred)[i] == d.y[i];
    return static_cast<double>(ok) / static_cast<double>(d.n);
}

struct row {
    std::string method, scheme;
    int bits;
    double accuracy, accuracy_fake_quant;
    std::size_t bytes;
    double seconds;
    std::size_t disagreements;  // test predictions that differ between the two evaluations
    std::uint64_t logits_hash;  // of the exported model's test logits (mlp_file::hash)
};

double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Evaluate a quantized model given its steps: fake-quantized float eval, then export + kernel eval.
template <class S>
row evaluate_quantized(const char* method, const mlp& net, const std::vector<float>& st1, const std::vector<float>& st2,
                       const dataset& test, pool_t& pool, double t0, const std::string& save_to = "",
                       const std::vector<tool_files::input_path>& inputs = {}) {
    std::vector<float> wq1(net.l1.w.size()), wq2(net.l2.w.size());
    check(lowbit::qat::fake_quantize<S>({net.l1.w.data(), net.l1.out, net.l1.in}, st1, {}, {wq1.data(), net.l1.out, net.l1.in}, {}, pool),
             "fake_quantize");
    check(lowbit::qat::fake_quantize<S>({net.l2.w.data(), net.l2.out, net.l2.in}, st2, {}, {wq2.data(), net.l2.out, net.l2.in}, {}, pool),
             "fake_quantize");
    std::vector<std::uint8_t> p_fq, p_k;
    const double acc_fq = accuracy_float(wq1, net.l1.b, wq2, net.l2.b, net.l1.out, test, pool, &p_fq);
    auto q1 = lowbit::qat::export_qmatrix<S>({net.l1.w.data(), net.l1.out, net.l1.in}, st1, {});
    auto q2 = lowbit::qat::export_qmatrix<S>({net.l2.w.data(), net.l2.out, net.l2.in}, st2, {});
    if (!q1 || !q2) check(!q1 ? q1.error() : q2.error(), "export_qmatrix");
    std::uint64_t hash = 0;
    const double acc_k = accuracy_kernels<S>(*q1, net.l1.b, *q2, net.l2.b, test, pool, &p_k, &hash);
    row r;
    r.method = method;
    char name[32];
    S::runtime().name(name, sizeof name);
    r.scheme = name;
    r.bits = S::bits;
    r.logits_hash = hash;
    if (!save_to.empty())  // the codes and scales just evaluated, stored as they are
        if (const lowbit::status st = mlp_file::save(save_to, std::string(method) + " " + name, *lowbit::to_weights(q1->view()), net.l1.b,
                                                     *lowbit::to_weights(q2->view()), net.l2.b, inputs);
            !st)
            std::exit(tool_files::report("qat_mnist", save_to, st));
    r.accuracy = acc_k;
    r.accuracy_fake_quant = acc_fq;
    r.bytes = q1->bytes() + q2->bytes() + (net.l1.b.size() + net.l2.b.size()) * sizeof(float);
    r.seconds = now() - t0;
    r.disagreements = 0;
    for (std::size_t i = 0; i < p_k.size(); ++i) r.disagreements += p_k[i] != p_fq[i];
    return r;
}

// PTQ (RTN with min/max and MSE ranges) and QAT (STE, LSQ) rows for one scheme.
template <class S>
void run_scheme(const mlp& fp32, const dataset& train_set, const dataset& test, const options& o, bool do_qat, pool_t& pool,
                std::vector<row>& rows) {
    auto steps_for = [&](const mlp& net, const lowbit::calibration& c, std::vector<float>& s1, std::vector<float>& s2) {
        s1.resize(net.l1.out);
        s2.resize(net.l2.out);
        check(lowbit::qat::calibrated_init<S>({net.l1.w.data(), net.l1.out, net.l1.in}, c, s1, {}), "calibrated_init");
        check(lowbit::qat::calibrated_init<S>({net.l2.w.data(), net.l2.out, net.l2.in}, c, s2, {}), "calibrated_init");
    };
    std::vector<float> s1, s2;
    double t0 = now();
    steps_for(fp32, lowbit::calibrate::minmax{}, s1, s2);
    rows.push_back(evaluate_quantized<S>("ptq_rtn", fp32, s1, s2, test, pool, t0));
    t0 = now();
    steps_for(fp32, lowbit::calibrate::mse{}, s1, s2);
    rows.push_back(evaluate_quantized<S>("ptq_mse", fp32, s1, s2, test, pool, t0));
    if (!do_qat || o.qat_epochs == 0) return;

    for (mode md : {mode::ste, mode::lsq}) {
        t0 = now();
        mlp net = fp32;  // fine-tune from the FP32 model
        qlayer_state<S> q1, q2;
        q1.steps.resize(net.l1.out);
        q2.steps.resize(net.l2.out);
        if (md == mode::lsq) {
            check(lowbit::qat::lsq_init<S>({net.l1.w.data(), net.l1.out, net.l1.in}, q1.steps, {}), "lsq_init");
            check(lowbit::qat::lsq_init<S>({net.l2.w.data(), net.l2.out, net.l2.in}, q2.steps, {}), "lsq_init");
        }
        if (!o.json) std::fprintf(stderr, "qat_%s %d-bit:\n", md == mode::ste ? "ste" : "lsq", S::bits);
        train<S>(net, train_set, md, &q1, &q2, o.qat_epochs, 2e-4f, o.seed + 100 + static_cast<std::uint64_t>(S::bits), pool, !o.json);
        if (md == mode::ste) steps_for(net, lowbit::calibrate::mse{}, q1.steps, q2.steps);  // a last re-calibration on the trained weights
        const bool save = md == mode::lsq && !o.save.empty() && o.save_bits == S::bits;
        rows.push_back(evaluate_quantized<S>(md == mode::ste ? "qat_ste" : "qat_lsq", net, q1.steps, q2.steps, test, pool, t0,
                                             save ? o.save : std::string(), o.inputs));
    }
}

template <int B>
using pc = lowbit::scheme<B, lowbit::per_channel, lowbit::symmetric, lowbit::scale_f16>;

}  // namespace

int main(int argc, char** argv) {
    options o;
    if (!parse_args(argc, argv, o)) return 2;
    dataset train_set, test;
    if (!load(o.data, "train", o.train, train_set) || !load(o.data, "t10k", o.test, test)) {
        std::fprintf(stderr,
                     "qat_mnist: Fashion-MNIST not found in %s (Debian: apt-get install dataset-fashion-mnist, "
                     "or examples/qat_mnist/setup.sh)\n",
                     o.data.c_str());
        return 77;  // CTest: skipped
    }
    if (!o.save.empty()) {  // refused now, not after the training
        for (const char* set : {"train", "t10k"})
            for (const char* part : {"-images-idx3-ubyte", "-labels-idx1-ubyte"})
                for (const char* gz : {"", ".gz"}) tool_files::add_input(o.inputs, o.data + "/" + set + part + gz);
        if (const int rc = tool_files::check_output("qat_mnist", o.save, o.inputs)) return rc;
        tool_files::install_signal_handlers("qat_mnist");  // a signal removes the file's temporary copy
    }
    pool_t pool(o.threads);
    const double t_start = now();

    // FP32 baseline.
    mlp net = init_mlp(256, o.seed);
    if (!o.json) std::fprintf(stderr, "fp32 (%zu train, %zu test examples):\n", train_set.n, test.n);
    double t0 = now();
    qlayer_state<pc<8>> unused1, unused2;
    train<pc<8>>(net, train_set, mode::fp32, &unused1, &unused2, o.epochs, 1e-3f, o.seed, pool, !o.json);
    std::vector<row> rows;
    row fp;
    fp.method = "fp32";
    fp.scheme = "f32";
    fp.bits = 32;
    fp.accuracy = fp.accuracy_fake_quant = accuracy_float(net.l1.w, net.l1.b, net.l2.w, net.l2.b, net.l1.out, test, pool, nullptr);
    fp.bytes = (net.l1.w.size() + net.l1.b.size() + net.l2.w.size() + net.l2.b.size()) * sizeof(float);
    fp.seconds = now() - t0;
    fp.disagreements = 0;
    fp.logits_hash = 0;
    rows.push_back(fp);

    run_scheme<pc<8>>(net, train_set, test, o, false, pool, rows);
    run_scheme<pc<4>>(net, train_set, test, o, true, pool, rows);
    run_scheme<pc<3>>(net, train_set, test, o, true, pool, rows);
    run_scheme<pc<2>>(net, train_set, test, o, true, pool, rows);

    bool exact = true;
    for (const row& r : rows) exact = exact && r.accuracy == r.accuracy_fake_quant;
    if (o.json) {
        std::printf("[\n");
        for (std::size_t i = 0; i < rows.size(); ++i) {
            const row& r = rows[i];
            std::printf("  {\"method\": \"%s\", \"bits\": %d, \"scheme\": \"%s\", \"accuracy\": %.4f, \"accuracy_fake_quant\": %.4f, "
                        "\"bytes\": %zu, \"seconds\": %.1f}%s\n",
                        r.method.c_str(), r.bits, r.scheme.c_str(), r.accuracy, r.accuracy_fake_quant, r.bytes, r.seconds,
                        i + 1 < rows.size() ? "," : "");
        }
        std::printf("]\n");
    } else {
        std::printf("Fashion-MNIST, MLP 784-256-10, %zu train / %zu test examples, %d FP32 + %d QAT epochs\n", train_set.n, test.n,
                    o.epochs, o.qat_epochs);
        std::printf("%-8s %4s %-8s %9s %11s %10s %8s\n", "method", "bits", "scheme", "accuracy", "fake-quant", "bytes", "seconds");
        for (const row& r : rows)
            std::printf("%-8s %4d %-8s %8.2f%% %10.2f%% %10zu %8.1f\n", r.method.c_str(), r.bits, r.scheme.c_str(), 100 * r.accuracy,
                        100 * r.accuracy_fake_quant, r.bytes, r.seconds);
        std::printf("accuracy: exported qmatrix through lowbit::gemm; fake-quant: the float model with fake-quantized weights.\n");
        std::printf("total %.1f s\n", now() - t_start);
    }
    for (const row& r : rows)
        if (!o.save.empty() && r.method == "qat_lsq" && r.bits == o.save_bits)  // qat_mnist_eval prints the same line of the file
            std::fprintf(stderr, "model %s: %s, %zu test examples, accuracy %.4f, logits hash %016llx\n", o.save.c_str(), r.scheme.c_str(), test.n,
                        r.accuracy, static_cast<unsigned long long>(r.logits_hash));
    for (const row& r : rows)
        if (r.disagreements)
            std::fprintf(stderr, "qat_mnist: note: %s %d-bit: %zu test predictions differ between kernels and fake quantization\n",
                         r.method.c_str(), r.bits, r.disagreements);
    if (!exact) {
        std::fprintf(stderr, "qat_mnist: the exported model's accuracy differs from the fake-quantization accuracy\n");
        return 1;
    }
    return 0;
}
