// mlp_file.hpp — qat_mnist's quantized MLP as a GGUF file, and the forward
// pass through lowbit's kernels that qat_mnist (on the model in memory) and
// qat_mnist_eval (on the model read back) both run, so that their outputs can
// be compared bit for bit.
//
// The file (docs/qat.md, "Saving the trained model"): the two weight matrices
// as lowbit weights (docs/formats.md, "lowbit weights in GGUF": the codes and
// f16 scales lowbit::qat::export_qmatrix made from the trained weights and
// learned steps, stored as they are), the biases as F32 tensors:
//   fc1.weight  784 -> 256   fc1.bias  F32 [256]
//   fc2.weight  256 -> 10    fc2.bias  F32 [10]
//   general.architecture = "qat_mnist_mlp", general.name = how it was trained
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <lowbit/formats/weights_gguf_reader.hpp>
#include <lowbit/formats/weights_gguf_writer.hpp>
#include <lowbit/kernels/weights_matmul.hpp>
#include <lowbit/lowbit.hpp>

#include "../common/output_file.hpp"

namespace mlp_file {

using lowbit::errc;
using lowbit::status;

constexpr const char* architecture = "qat_mnist_mlp";

inline lowbit::span<const std::uint8_t> bytes_of(const std::vector<float>& v) {
    return {reinterpret_cast<const std::uint8_t*>(v.data()), v.size() * sizeof(float)};
}

// Writes the model to `path` as every tool writes a file
// (../common/output_file.hpp): a temporary file renamed over `path` when
// complete; `path` is never one of `inputs` (the training data) nor anything
// but a regular file (refused: invalid_argument).
inline status save(const std::string& path, const std::string& name, const lowbit::weights_view& w1, const std::vector<float>& b1,
                   const lowbit::weights_view& w2, const std::vector<float>& b2, const std::vector<tool_files::input_path>& inputs = {}) {
    namespace g = lowbit::gguf;
    g::gguf_writer gw;
    LOWBIT_TRY(gw.set("general.architecture", g::meta_value::string(architecture)));
    LOWBIT_TRY(gw.set("general.name", g::meta_value::string(name)));
    lowbit::weights_gguf_writer lw(gw);
    LOWBIT_TRY(lw.declare("fc1.weight", w1));
    LOWBIT_TRY(gw.add_tensor("fc1.bias", g::gguf_type::f32, {b1.size()}));
    LOWBIT_TRY(lw.declare("fc2.weight", w2));
    LOWBIT_TRY(gw.add_tensor("fc2.bias", g::gguf_type::f32, {b2.size()}));
    return tool_files::write_output(path, inputs, [&](tool_files::output_file& out) -> status {
        LOWBIT_TRY(lw.write_header(g::byte_sink(&out, tool_files::output_file::write_to)));
        LOWBIT_TRY(lw.write("fc1.weight", w1));
        LOWBIT_TRY(gw.write_tensor("fc1.bias", bytes_of(b1)));
        LOWBIT_TRY(lw.write("fc2.weight", w2));
        LOWBIT_TRY(gw.write_tensor("fc2.bias", bytes_of(b2)));
        return gw.finish();
    });
}

// The model of a file: views into its bytes (valid while they are).
struct model {
    lowbit::weights_view w1, w2;
    lowbit::span<const float> b1, b2;
    std::string name;
};

// Reads and checks the model: the architecture, both weights lowbit weights
// of one scheme, shapes that chain 784 -> hidden -> 10, biases that fit.
inline lowbit::result<model> load(lowbit::span<const std::uint8_t> bytes, std::size_t inputs, std::size_t classes) {
    auto r = lowbit::weights_gguf_reader::open(bytes);
    if (!r) return r.error();
    const auto& f = r->file();
    auto arch = f.get_string("general.architecture");
    if (!arch || *arch != architecture)
        return status::error(errc::unsupported, "general.architecture is not %s: not a qat_mnist model", architecture);
    for (const char* w : {"fc1.weight", "fc2.weight"})
        if (!r->is_lowbit(w)) return status::error(errc::corrupt_data, "%s is missing or not lowbit weights", w);
    model m{*r->find("fc1.weight"), *r->find("fc2.weight"), {}, {}, {}};
    if (auto n = f.get_string("general.name")) m.name = std::string(*n);
    if (m.w1.cols() != inputs || m.w2.cols() != m.w1.rows() || m.w2.rows() != classes)
        return status::error(errc::shape_mismatch, "weights %zu x %zu and %zu x %zu do not chain %zu -> hidden -> %zu", m.w1.rows(),
                             m.w1.cols(), m.w2.rows(), m.w2.cols(), inputs, classes);
    auto bias = [&](const char* name, std::size_t n, lowbit::span<const float>* out) -> status {
        const lowbit::gguf::tensor_info* t = f.find_tensor(name);
        if (!t || t->type != lowbit::gguf::gguf_type::f32 || t->n_dims != 1 || t->dims[0] != n)
            return status::error(errc::corrupt_data, "%s is missing or not F32 [%zu]", name, n);
        *out = lowbit::span<const float>(reinterpret_cast<const float*>(t->data.data()), n);  // 32-byte aligned by GGUF
        return {};
    };
    LOWBIT_TRY(bias("fc1.bias", m.w1.rows(), &m.b1));
    LOWBIT_TRY(bias("fc2.bias", m.w2.rows(), &m.b2));
    return m;
}

// y = x q^T by lowbit::gemm. With lowbit::compiled (LOWBIT_COMPILED) through the
// run-time front door, whose kernels the library holds: the typed gemm compiles
// every arch's kernels of S into each program (a third of qat_mnist's and
// qat_mnist_eval's compile time, for four widths). Same table, same kernel.
template <class S>
status product(const lowbit::qmatrix_view<S>& q, lowbit::matrix_view<const float> x, lowbit::matrix_view<float> y,
               lowbit::thread_pool& pool) {
#if defined(LOWBIT_COMPILED)
    auto w = lowbit::to_weights(q);
    if (!w) return w.error();
    return lowbit::gemm(*w, x, y, pool);
#else
    return lowbit::gemm(q, x, y, pool);
#endif
}

// Logits (n x classes) of relu(X W1^T + b1) W2^T + b2, the products by lowbit::gemm.
template <class S>
status logits(const lowbit::qmatrix_view<S>& q1, lowbit::span<const float> b1, const lowbit::qmatrix_view<S>& q2,
              lowbit::span<const float> b2, const float* x, std::size_t n, lowbit::thread_pool& pool, std::vector<float>& z) {
    const std::size_t H = q1.rows, K = q1.cols, C = q2.rows;
    std::vector<float> h(n * H);
    z.assign(n * C, 0.0f);
    LOWBIT_TRY(product(q1, lowbit::matrix_view<const float>(x, n, K), lowbit::matrix_view<float>(h.data(), n, H), pool));
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < H; ++j) h[i * H + j] = std::max(h[i * H + j] + b1[j], 0.0f);
    LOWBIT_TRY(product(q2, lowbit::matrix_view<const float>(h.data(), n, H), lowbit::matrix_view<float>(z.data(), n, C), pool));
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t c = 0; c < C; ++c) z[i * C + c] += b2[c];
    return {};
}

// Predicted class per row of logits.
inline std::vector<std::uint8_t> predictions(const std::vector<float>& z, std::size_t classes) {
    std::vector<std::uint8_t> p(z.size() / classes);
    for (std::size_t i = 0; i < p.size(); ++i) {
        const float* zr = z.data() + i * classes;
        p[i] = static_cast<std::uint8_t>(std::max_element(zr, zr + classes) - zr);
    }
    return p;
}

// FNV-1a over the logits' bits: equal outputs, equal hash.
inline std::uint64_t hash(const std::vector<float>& z) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (float v : z) {
        std::uint32_t b;
        std::memcpy(&b, &v, 4);
        for (int i = 0; i < 4; ++i) h = (h ^ ((b >> (8 * i)) & 0xffu)) * 0x100000001b3ULL;
    }
    return h;
}

}  // namespace mlp_file
