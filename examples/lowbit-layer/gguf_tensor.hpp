// gguf_tensor.hpp — lowbit-layer --weights FILE.gguf --tensor NAME: one weight
// of a GGUF file, run where it lies. Lowbit weights (docs/formats.md, "lowbit
// weights in GGUF", as lowbit-quantize --type w4g128 or lowbit-llama
// --export-gguf write them) and ggml block tensors come back from
// weights_gguf_reader as views into the mapped file, and the kernels run those
// bytes: no copy, no repack. Printed: the scheme, layout and size, the kernel
// the table picks, the time of one gemv and of a gemm over the activations,
// and with --reference W.npy (the float weights) the output error
// ||X W^T - X W^^T|| / ||X W^T|| against them.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <lowbit/formats/npy.hpp>
#include <lowbit/formats/weights_gguf_reader.hpp>
#include <lowbit/kernels/weights_matmul.hpp>
#include <lowbit/lowbit.hpp>

#include "../common/input_file.hpp"

namespace layer_gguf {

struct options {
    std::string file, tensor, calib, reference;
    int threads = 2;
    std::size_t tokens = 64;  // random activations when there is no --calib
    bool json = false;
};

// Seconds per call of f, the best of a few rounds of enough calls to last ~50 ms.
template <class F>
double seconds_per_call(F&& f) {
    using clock = std::chrono::steady_clock;
    int calls = 1;
    double best = 1e30;
    for (int round = 0; round < 5; ++round) {
        const auto t0 = clock::now();
        for (int i = 0; i < calls; ++i) f();
        const double s = std::chrono::duration<double>(clock::now() - t0).count();
        best = std::min(best, s / calls);
        if (s < 0.05) calls *= 2;
    }
    return best;
}

inline int run(const options& o) {
    using namespace lowbit;
    auto fail = [](const char* what, const status& s) {
        std::fprintf(stderr, "lowbit-layer: %s: %s\n", what, s.message());
        return 1;
    };
    // Mapped, or read into page-aligned memory from a pipe: the file's 64-byte
    // aligned tensors stay 64-byte aligned either way, as the reader requires.
    tool_files::input_file m;
    if (status s = m.open(o.file); !s) return fail(o.file.c_str(), s);
    auto r = weights_gguf_reader::open(m.bytes());
    if (!r) return fail(o.file.c_str(), r.error());
    auto wr = r->find(o.tensor);
    if (!wr) return fail(o.file.c_str(), wr.error());
    const weights_view& w = *wr;
    const std::size_t N = w.rows(), K = w.cols();

    // Activations: --calib X.npy [T, K], else T random rows.
    std::vector<float> X;
    std::size_t T = o.tokens;
    if (!o.calib.empty()) {
        auto x = read_npy(o.calib.c_str());
        if (!x) return fail(o.calib.c_str(), x.error());
        if (x->shape.size() != 2 || x->shape[1] != K || x->shape[0] == 0) {
            std::fprintf(stderr, "lowbit-layer: %s must be [tokens, %zu] to match %s\n", o.calib.c_str(), K, o.tensor.c_str());
            return 1;
        }
        T = x->shape[0];
        X = std::move(x->data);
    } else {
        std::mt19937 rng(7);
        std::normal_distribution<float> g;
        X.resize(T * K);
        for (float& v : X) v = g(rng);
    }
    thread_pool pool(static_cast<unsigned>(std::max(1, o.threads)));
    std::vector<float> Y(T * N);
    matmul_info info;
    matmul_options opt;
    opt.info = &info;
    if (status s = gemm(w, matrix_view<const float>(X.data(), T, K), matrix_view<float>(Y.data(), T, N), pool, opt); !s)
        return fail(o.tensor.c_str(), s);
    const double t_gemv = seconds_per_call([&] {
        (void)gemv(w, span<const float>(X.data(), K), span<float>(Y.data(), N), pool);
    });
    const double t_gemm = seconds_per_call([&] {
        (void)gemm(w, matrix_view<const float>(X.data(), T, K), matrix_view<float>(Y.data(), T, N), pool);
    });

    // Against the float weights: the layer's output error.
    double rel = NAN, sqnr = NAN;
    if (!o.reference.empty()) {
        auto ref = read_npy(o.reference.c_str());
        if (!ref) return fail(o.reference.c_str(), ref.error());
        if (ref->shape.size() != 2 || ref->shape[0] != N || ref->shape[1] != K) {
            std::fprintf(stderr, "lowbit-layer: %s must be [%zu, %zu] to match %s\n", o.reference.c_str(), N, K, o.tensor.c_str());
            return 1;
        }
        std::vector<float> Yref(T * N);
        if (status s = linalg::matmul_nt(matrix_view<const float>(X.data(), T, K), matrix_view<const float>(ref->data.data(), N, K),
                                         matrix_view<float>(Yref.data(), T, N), pool);
            !s)
            return fail(o.reference.c_str(), s);
        (void)gemm(w, matrix_view<const float>(X.data(), T, K), matrix_view<float>(Y.data(), T, N), pool);
        double e = 0, s2 = 0;
        for (std::size_t i = 0; i < Y.size(); ++i) {
            const double d = static_cast<double>(Y[i]) - Yref[i];
            e += d * d;
            s2 += static_cast<double>(Yref[i]) * Yref[i];
        }
        rel = s2 > 0 ? std::sqrt(e / s2) : 0.0;
        sqnr = e > 0 ? 10 * std::log10(s2 / e) : INFINITY;
    }
    char scheme[48] = "";
    if (w.lay() == layout::ggml) std::snprintf(scheme, sizeof scheme, "%s", gguf::type_name(w.ggml_type()));
    else if (w.lay() == layout::codebook) std::snprintf(scheme, sizeof scheme, "cb%d", w.scheme().bits);
    else w.scheme().name(scheme, sizeof scheme);
    const double bpw = 8.0 * static_cast<double>(w.bytes()) / static_cast<double>(N * K);
    const char* lay = layout_name(w.lay());
    if (o.json) {
        char err[64] = "\"rel_error\": null, \"sqnr_db\": null";  // no --reference: nothing to compare with
        if (!std::isnan(rel)) std::snprintf(err, sizeof err, "\"rel_error\": %.6g, \"sqnr_db\": %.4g", rel, sqnr);
        std::printf("{\"tensor\": \"%s\", \"scheme\": \"%s\", \"layout\": \"%s\", \"rows\": %zu, \"cols\": %zu, \"bytes\": %zu, \"bpw\": %.4g, "
                    "\"kernel\": \"%s\", \"tokens\": %zu, \"gemv_us\": %.4g, \"gemm_ms\": %.4g, %s}\n",
                    o.tensor.c_str(), scheme, lay, N, K, w.bytes(), bpw, info.kernel[0] ? info.kernel : "?", T, t_gemv * 1e6, t_gemm * 1e3, err);
        return 0;
    }
    std::printf("%s: %s in %s: %s, %s layout, %zu x %zu, %zu bytes (%.3f bpw), %s\n", o.file.c_str(), o.tensor.c_str(),
                r->is_lowbit(o.tensor) ? "lowbit weights" : "ggml blocks", scheme, lay, N, K, w.bytes(), bpw,
                m.mapped() ? "mapped (no copy)" : "read into memory (a pipe, a device or a file system without mmap)");
    std::printf("kernel %s; gemv %.1f us; gemm of %zu tokens %.3f ms (%d threads)\n", info.kernel[0] ? info.kernel : "?", t_gemv * 1e6, T,
                t_gemm * 1e3, std::max(1, o.threads));
    if (!std::isnan(rel)) std::printf("against %s: rel_error %.5f, sqnr %.2f dB\n", o.reference.c_str(), rel, sqnr);
    return 0;
}

}  // namespace layer_gguf
