// lowbit/formats/awq_checkpoint.hpp — one linear layer of an AutoAWQ "GEMM"
// checkpoint (`qweight`, `qzeros`, `scales`) read into lowbit's qmatrix
// without requantizing. Layout and formula: docs/formats.md, "AWQ (AutoAWQ GEMM)".
//
//   qweight  int32 [K, N/8]           word (k, w): the 4-bit codes of outputs 8w..8w+7
//                                     of input k, nibble i holding output 8w + order[i]
//   qzeros   int32 [ceil(K/G), N/8]   the zero points, packed the same way
//   scales   f16   [ceil(K/G), N]
//   order = {0, 2, 4, 6, 1, 3, 5, 7}   (AutoAWQ's AWQ_ORDER)
//   w(n, k) = scales[k / G, n] * (q(k, n) - z(k / G, n))
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "imported_qmatrix.hpp"

namespace lowbit {
namespace checkpoint {

// config.json's "quantization_config" (quant_method "awq") or quant_config.json.
struct awq_config {
    int bits = 4;           // "bits" / "w_bit": GEMM packing is 4-bit only
    int group_size = 128;   // "group_size" / "q_group_size"
    bool zero_point = true; // GEMM checkpoints are asymmetric
};

struct awq_tensors {
    const safetensors::tensor_info* qweight = nullptr;
    const safetensors::tensor_info* qzeros = nullptr;
    const safetensors::tensor_info* scales = nullptr;
};

// Nibble that holds output column 8w + c: the inverse of AWQ_ORDER.
constexpr int awq_nibble_of_column[8] = {0, 4, 1, 5, 2, 6, 3, 7};

inline result<imported_qmatrix> read_awq(const awq_tensors& t, const awq_config& c, const std::string& prefix = "") {
    using detail::printable;
    const std::string what = prefix.empty() ? std::string("awq") : prefix;
    if (c.bits != 4)
        return status::error(errc::unsupported, "%s: bits = %d in the quantization config; AutoAWQ GEMM packing is 4-bit",
                             printable(what).c_str(), c.bits);
    if (!c.zero_point)
        return status::error(errc::unsupported, "%s: zero_point = false; lowbit reads AutoAWQ GEMM checkpoints with zero points",
                             printable(what).c_str());
    LOWBIT_TRY(detail::expect_packed_int32_layer(what, c.group_size, t.qweight, t.qzeros, t.scales, prefix));
    const std::uint64_t K = t.qweight->shape[0], W = t.qweight->shape[1], N = W * 8;
    LOWBIT_TRY(detail::expect_qweight_size(what, N, K));
    const std::uint64_t G = c.group_size == -1 ? K : static_cast<std::uint64_t>(c.group_size);
    const std::uint64_t n_groups = (K + G - 1) / G;
    LOWBIT_TRY(detail::expect_shape(*t.qzeros, n_groups, W, "ceil(K / group_size), N / 8"));
    LOWBIT_TRY(detail::expect_shape(*t.scales, n_groups, N, "ceil(K / group_size), N"));
    auto sc = detail::scale_type_of(*t.scales);
    if (!sc) return sc.error();

    runtime_scheme s;
    s.bits = 4;
    s.gran = c.group_size == -1 ? granularity::per_channel : granularity::per_group;
    s.group = c.group_size == -1 ? 0 : c.group_size;
    s.symmetric = false;
    s.scale = *sc;
    detail::qmatrix_builder qb;
    LOWBIT_TRY(qb.init(s, static_cast<std::size_t>(N), static_cast<std::size_t>(K), {}));
    auto nibble = [](std::uint32_t word, std::size_t n) { return (word >> (4 * awq_nibble_of_column[n % 8])) & 15u; };
    const std::size_t Wn = static_cast<std::size_t>(W), Nn = static_cast<std::size_t>(N);
    for (std::size_t k = 0; k < K; ++k)
        for (std::size_t n = 0; n < N; ++n) qb.set_code(n, k, nibble(detail::word_at(*t.qweight, k * Wn + n / 8), n));
    for (std::size_t g = 0; g < n_groups; ++g)
        for (std::size_t n = 0; n < N; ++n) {
            qb.set_zero(n, g, nibble(detail::word_at(*t.qzeros, g * Wn + n / 8), n));
            qb.set_scale(n, g, *t.scales, g * Nn + n);
        }
    return qb.finish(printable(what).c_str());
}

inline result<imported_qmatrix> read_awq(const safetensors::safetensors_file& f, const std::string& prefix, const awq_config& c) {
    const auto at = [&](const char* suffix) { return f.find_tensor(prefix + suffix); };
    return read_awq(awq_tensors{at(".qweight"), at(".qzeros"), at(".scales")}, c, prefix);
}

}  // namespace checkpoint
}  // namespace lowbit
