// lowbit/formats/gptq_checkpoint.hpp — one linear layer of an AutoGPTQ /
// GPTQModel safetensors checkpoint (`qweight`, `qzeros`, `scales`, `g_idx`)
// read into lowbit's qmatrix without requantizing. Layout and formula:
// docs/formats.md, "GPTQ (AutoGPTQ, GPTQModel)".
//
//   qweight  int32 [K*b/32, N]   column n: the codes of weights (n, 0..K-1) as one
//                                little-endian bit stream over the words (3-bit
//                                codes straddle words)
//   qzeros   int32 [ceil(K/G), N*b/32]  row g: the zero fields of groups (0..N-1, g),
//                                the same bit stream along the output dimension
//   scales   f16   [ceil(K/G), N]
//   g_idx    int32 [K]           group of each input column (optional)
//   w(n, k) = scales[g, n] * (q(k, n) - z(g, n)),  g = g_idx[k],
//   z = field + 1 in the v1 checkpoint format ("zero minus one"), field in v2.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "group_index.hpp"
#include "imported_qmatrix.hpp"

namespace lowbit {
namespace checkpoint {

enum class gptq_format { v1, v2 };

// quantize_config.json (or config.json's "quantization_config").
struct gptq_config {
    int bits = 4;          // 2, 3, 4 or 8
    int group_size = 128;  // -1: one group per output channel
    bool sym = true;
    bool desc_act = false;
    gptq_format format = gptq_format::v1;  // "checkpoint_format": "gptq" (v1, the default) or "gptq_v2"
};

struct gptq_tensors {
    const safetensors::tensor_info* qweight = nullptr;
    const safetensors::tensor_info* qzeros = nullptr;
    const safetensors::tensor_info* scales = nullptr;
    const safetensors::tensor_info* g_idx = nullptr;  // may be absent: column k is in group k / G
};

inline result<imported_qmatrix> read_gptq(const gptq_tensors& t, const gptq_config& c, const std::string& prefix = "") {
    namespace st = safetensors;
    using detail::printable;
    const std::string what = prefix.empty() ? std::string("gptq") : prefix;
    const int b = c.bits;
    if (b != 2 && b != 3 && b != 4 && b != 8)
        return status::error(errc::unsupported, "%s: bits = %d in the quantization config; GPTQ checkpoints use 2, 3, 4 or 8",
                             printable(what).c_str(), b);
    LOWBIT_TRY(detail::expect_packed_int32_layer(what, c.group_size, t.qweight, t.qzeros, t.scales, prefix));
    if (t.g_idx) LOWBIT_TRY(detail::expect_tensor(t.g_idx, prefix + ".g_idx", {st::dtype::i32}, 1));

    const std::uint64_t N = t.qweight->shape[1];
    const std::uint64_t K = t.qweight->shape[0] * 32 / static_cast<std::uint64_t>(b);
    LOWBIT_TRY(detail::expect_qweight_size(what, N, K));
    if (N * static_cast<std::uint64_t>(b) % 32 != 0)
        return status::error(errc::shape_mismatch, "%s: %llu output columns of %d bits do not fill whole int32 words of qzeros",
                             printable(what).c_str(), static_cast<unsigned long long>(N), b);
    const std::uint64_t G = c.group_size == -1 ? K : static_cast<std::uint64_t>(c.group_size);
    const std::uint64_t n_groups = (K + G - 1) / G;
    LOWBIT_TRY(detail::expect_shape(*t.qzeros, n_groups, N * static_cast<std::uint64_t>(b) / 32, "ceil(K / group_size), N * bits / 32"));
    LOWBIT_TRY(detail::expect_shape(*t.scales, n_groups, N, "ceil(K / group_size), N"));

    std::vector<std::int32_t> perm;
    if (t.g_idx) {
        if (t.g_idx->shape[0] != K)
            return status::error(errc::shape_mismatch, "%s.g_idx has %llu entries; qweight packs K = %llu input columns",
                                 printable(what).c_str(), static_cast<unsigned long long>(t.g_idx->shape[0]),
                                 static_cast<unsigned long long>(K));
        const std::string name = what + ".g_idx";
        auto p = perm_from_group_index([&](std::size_t k) { return static_cast<std::int64_t>(static_cast<std::int32_t>(detail::word_at(*t.g_idx, k))); },
                                       static_cast<std::size_t>(K), static_cast<std::size_t>(G), printable(name).c_str());
        if (!p) return p.error();
        perm = std::move(*p);
    }

    auto sc = detail::scale_type_of(*t.scales);
    if (!sc) return sc.error();
    runtime_scheme s;
    s.bits = b;
    s.gran = c.group_size == -1 ? granularity::per_channel : granularity::per_group;
    s.group = c.group_size == -1 ? 0 : c.group_size;
    s.symmetric = c.sym;
    s.scale = *sc;

    // Zero points first: a symmetric config must store 2^(b-1) everywhere.
    const std::uint32_t zero_add = c.format == gptq_format::v1 ? 1 : 0;
    const std::size_t zw = static_cast<std::size_t>(t.qzeros->shape[1]);
    std::vector<std::uint32_t> z(static_cast<std::size_t>(n_groups * N));
    for (std::size_t g = 0; g < n_groups; ++g)
        for (std::size_t n = 0; n < N; ++n) {
            const std::uint32_t v =
                detail::stream_bits([&](std::size_t w) { return detail::word_at(*t.qzeros, g * zw + w); }, n * static_cast<std::size_t>(b), b) +
                zero_add;
            if (v > 255)
                return status::error(errc::unsupported, "%s.qzeros[%zu] column %zu: v1 zero %u does not fit lowbit's 8-bit zero points",
                                     printable(what).c_str(), g, n, v);
            if (c.sym && v != (1u << (b - 1)))
                return status::error(errc::invalid_argument,
                                     "%s.qzeros: sym is true in the quantization config but group %zu of output %zu has zero %u, not %u "
                                     "(is checkpoint_format %s right?)",
                                     printable(what).c_str(), g, n, v, 1u << (b - 1), c.format == gptq_format::v1 ? "gptq" : "gptq_v2");
            z[g * N + n] = v;
        }

    detail::qmatrix_builder qb;
    LOWBIT_TRY(qb.init(s, static_cast<std::size_t>(N), static_cast<std::size_t>(K), std::move(perm)));
    // Stored column of input k and stored group g: qmatrix_builder and the
    // counting sort of group_index.hpp (stored group g is checkpoint group g).
    for (std::size_t n = 0; n < N; ++n) {
        const std::size_t Nn = static_cast<std::size_t>(N);
        for (std::size_t k = 0; k < K; ++k)
            qb.set_code(n, k, detail::stream_bits([&](std::size_t w) { return detail::word_at(*t.qweight, w * Nn + n); },
                                                  k * static_cast<std::size_t>(b), b));
        for (std::size_t g = 0; g < n_groups; ++g) {
            qb.set_scale(n, g, *t.scales, g * Nn + n);
            if (!c.sym) qb.set_zero(n, g, z[g * Nn + n]);
        }
    }
    return qb.finish(printable(what).c_str());
}

// The tensors PREFIX.qweight, .qzeros, .scales and (if present) .g_idx of one file.
inline result<imported_qmatrix> read_gptq(const safetensors::safetensors_file& f, const std::string& prefix, const gptq_config& c) {
    const auto at = [&](const char* suffix) { return f.find_tensor(prefix + suffix); };
    return read_gptq(gptq_tensors{at(".qweight"), at(".qzeros"), at(".scales"), at(".g_idx")}, c, prefix);
}

}  // namespace checkpoint
}  // namespace lowbit
