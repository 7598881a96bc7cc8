// embd_hessian.hpp — a Hessian for token_embd.weight, so that GPTQ (and the
// block refinement after it) can quantize the embedding too
// (lowbit-quantize --method gptq --embd-hessian).
//
// Why: llama.cpp looks the embedding's rows up, no matmul reads them, so
// there is no X^T X and llama-imatrix records nothing for it; both
// llama-quantize and plain GPTQ leave it to round-to-nearest. Yet at Q4_K_M
// on tinyllama-sotu the embedding's rounding is a large share of the KLD
// (docs/ptq.md). An error delta in the row of a token enters the residual
// stream and, to first order, reaches every RMSNorm that reads the stream:
// the norm turns it into g * delta / rms(x) (dropping the part along x), and
// each weight W that reads that norm's output sees W (g * delta) / rms. The
// squared output error summed over those weights is delta^T H delta with
//     H = sum_n diag(g_n) (sum_{W reads n} W^T W) diag(g_n) / E[rms_n^2]
// over n = each layer's attn_norm (q, k, v) and ffn_norm (gate, up), and
// output_norm (output.weight), the same D x D matrix for every row. The
// paths through attention and the MLP's nonlinearity are ignored. E[rms^2]
// is the mean square of the calibration stream entering the layer (the
// quantized model's stream; ffn_norm uses the layer input's, which the
// attention output changes only partly).
#pragma once

#include <cstddef>
#include <vector>

namespace lbq {

struct embd_hessian {
    std::size_t D = 0;
    std::vector<double> h;  // D x D, row-major

    explicit embd_hessian(std::size_t d = 0) : D(d), h(d * d, 0.0) {}

    // h += scale * diag(g) W^T W diag(g); W is rows x D, row-major.
    void add(const float* W, std::size_t rows, const float* g, double scale) {
        std::vector<double> v(D);
        for (std::size_t r = 0; r < rows; ++r) {
            const float* w = W + r * D;
            for (std::size_t j = 0; j < D; ++j) v[j] = static_cast<double>(w[j]) * g[j];
            for (std::size_t i = 0; i < D; ++i) {
                const double a = scale * v[i];
                if (a == 0.0) continue;
                double* hi = h.data() + i * D;
                for (std::size_t j = 0; j < D; ++j) hi[j] += a * v[j];
            }
        }
    }

    // As floats for lowbit::hessian::from_matrix.
    std::vector<float> matrix() const { return std::vector<float>(h.begin(), h.end()); }
};

// Mean over tokens of mean_j x_j^2: E[rms^2] of `tokens` rows of D values.
inline double stream_mean_square(const float* x, std::size_t tokens, std::size_t D) {
    double s = 0;
    for (std::size_t i = 0; i < tokens * D; ++i) s += static_cast<double>(x[i]) * x[i];
    return tokens == 0 || D == 0 ? 0.0 : s / static_cast<double>(tokens * D);
}

}  // namespace lbq
