// lowbit/formats/compressed_tensors_checkpoint.hpp — one linear layer of a
// compressed-tensors "pack-quantized" checkpoint (llm-compressor:
// `weight_packed`, `weight_shape`, `weight_scale`, `weight_zero_point`,
// `weight_g_idx`) read into lowbit's qmatrix without requantizing. Layout and
// formula: docs/formats.md, "compressed-tensors `pack-quantized`".
//
//   weight_packed      int32 [N, ceil(K/p)], p = 32 / b: word (n, w) holds the codes of
//                      inputs p*w .. p*w+p-1 of output n, input p*w+i at bits [b*i, b*i+b);
//                      a code is the signed value q plus 2^(b-1)
//   weight_shape       int32 or int64 [2] = {N, K}
//   weight_scale       f16/bf16/f32 [N, n_groups] (n_groups = 1 for "channel")
//   weight_zero_point  asymmetric: int32 [ceil(N/p), n_groups], packed the same way along
//                      the output dimension (older files: int8 [N, n_groups], unpacked)
//   w(n, k) = scale[n, g] * (q(n, k) - zp(n, g)),  g = g_idx[k] or k / G
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

// The "weights" quantization args of a config group in config.json's
// "quantization_config" (format "pack-quantized", type "int").
struct compressed_tensors_config {
    enum class strategy_kind { tensor, channel, group };
    int num_bits = 4;
    strategy_kind strategy = strategy_kind::group;
    int group_size = 128;  // for strategy group
    bool symmetric = true;
};

struct compressed_tensors_tensors {
    const safetensors::tensor_info* weight_packed = nullptr;
    const safetensors::tensor_info* weight_shape = nullptr;
    const safetensors::tensor_info* weight_scale = nullptr;
    const safetensors::tensor_info* weight_zero_point = nullptr;  // optional when symmetric
    const safetensors::tensor_info* weight_g_idx = nullptr;       // optional (act-order)
};

namespace detail {
// Element i of an integer tensor (I8, I32, I64), sign-extended.
inline std::int64_t int_at(const safetensors::tensor_info& t, std::size_t i) noexcept {
    const std::uint8_t* p = t.data.data();
    switch (t.type) {
        case safetensors::dtype::i8: return static_cast<std::int8_t>(p[i]);
        case safetensors::dtype::i32: return static_cast<std::int32_t>(word_at(t, i));
        default: {
            std::uint64_t v = 0;
            for (int k = 0; k < 8; ++k) v |= static_cast<std::uint64_t>(p[8 * i + static_cast<std::size_t>(k)]) << (8 * k);
            return static_cast<std::int64_t>(v);
        }
    }
}
}  // namespace detail

inline result<imported_qmatrix> read_compressed_tensors(const compressed_tensors_tensors& t, const compressed_tensors_config& c,
                                                        const std::string& prefix = "") {
    namespace st = safetensors;
    using detail::printable;
    using strat = compressed_tensors_config::strategy_kind;
    const std::string what = prefix.empty() ? std::string("compressed-tensors") : prefix;
    const std::string pw = printable(what).c_str();  // escaped, for messages
    const char* w = pw.c_str();
    const int b = c.num_bits;
    if (b < 1 || b > 8)
        return status::error(errc::unsupported, "%s: num_bits = %d in the quantization config; pack-quantized holds 1..8", w, b);
    if (c.strategy == strat::group && c.group_size < 1)
        return status::error(errc::invalid_argument, "%s: group_size = %d for strategy \"group\", must be >= 1", w, c.group_size);
    LOWBIT_TRY(detail::expect_tensor(t.weight_packed, prefix + ".weight_packed", {st::dtype::i32}, 2));
    LOWBIT_TRY(detail::expect_tensor(t.weight_shape, prefix + ".weight_shape", {st::dtype::i32, st::dtype::i64}, 1));
    if (!t.weight_scale) return status::error(errc::invalid_argument, "tensor '%s.weight_scale' is missing", w);
    if (t.weight_shape->shape[0] != 2)
        return status::error(errc::shape_mismatch, "%s.weight_shape has %llu entries, expected 2", w,
                             static_cast<unsigned long long>(t.weight_shape->shape[0]));
    const std::int64_t n_s = detail::int_at(*t.weight_shape, 0), k_s = detail::int_at(*t.weight_shape, 1);
    if (n_s < 1 || k_s < 1 || n_s > (1 << 30) || k_s > (1 << 30))
        return status::error(errc::shape_mismatch, "%s.weight_shape = [%lld, %lld] is not a valid matrix shape", w, static_cast<long long>(n_s),
                             static_cast<long long>(k_s));
    const std::uint64_t N = static_cast<std::uint64_t>(n_s), K = static_cast<std::uint64_t>(k_s);
    const std::uint64_t p = static_cast<std::uint64_t>(32 / b);
    LOWBIT_TRY(detail::expect_shape(*t.weight_packed, N, (K + p - 1) / p, "weight_shape N, ceil(K / (32 / num_bits))"));
    const std::uint64_t G = c.strategy == strat::group ? static_cast<std::uint64_t>(c.group_size) : K;
    const std::uint64_t n_groups = (K + G - 1) / G;
    if (c.strategy == strat::tensor) {
        if (t.weight_scale->n_elements != 1)
            return status::error(errc::shape_mismatch, "%s.weight_scale has %llu elements; strategy \"tensor\" has one", w,
                                 static_cast<unsigned long long>(t.weight_scale->n_elements));
    } else {
        LOWBIT_TRY(detail::expect_shape(*t.weight_scale, N, n_groups, c.strategy == strat::group ? "N, ceil(K / group_size)" : "N, 1"));
    }
    auto sc = detail::scale_type_of(*t.weight_scale);
    if (!sc) return sc.error();

    // Zero points: offset-binary fields z = zp + 2^(b-1), like the codes.
    const std::uint32_t mask = (1u << b) - 1u, half = 1u << (b - 1);
    const std::uint64_t n_zp = c.strategy == strat::tensor ? 1 : N * n_groups;
    std::vector<std::uint32_t> z(static_cast<std::size_t>(n_zp), half);
    if (const st::tensor_info* zp = t.weight_zero_point) {
        const bool packed = zp->type == st::dtype::i32 && c.strategy != strat::tensor;
        if (!packed && zp->type != st::dtype::i8 && zp->type != st::dtype::i32)
            return status::error(errc::invalid_argument, "%s.weight_zero_point has dtype %s, expected I32 (packed) or I8", w,
                                 st::dtype_name(zp->type));
        if (packed) {
            LOWBIT_TRY(detail::expect_shape(*zp, (N + p - 1) / p, n_groups, "ceil(N / (32 / num_bits)), n_groups"));
            for (std::size_t n = 0; n < N; ++n)
                for (std::size_t g = 0; g < n_groups; ++g)
                    z[n * n_groups + g] =
                        (detail::word_at(*zp, (n / p) * n_groups + g) >> (static_cast<std::uint32_t>(b) * (n % p))) & mask;
        } else {
            if (zp->n_elements != n_zp)
                return status::error(errc::shape_mismatch, "%s.weight_zero_point has %llu elements, expected %llu", w,
                                     static_cast<unsigned long long>(zp->n_elements), static_cast<unsigned long long>(n_zp));
            for (std::size_t i = 0; i < n_zp; ++i) {
                const std::int64_t v = detail::int_at(*zp, i);
                if (v < -static_cast<std::int64_t>(half) || v > static_cast<std::int64_t>(half) - 1)
                    return status::error(errc::invalid_argument, "%s.weight_zero_point[%zu] = %lld is outside the %d-bit range", w, i,
                                         static_cast<long long>(v), b);
                z[i] = static_cast<std::uint32_t>(v + static_cast<std::int64_t>(half));
            }
        }
        if (c.symmetric)
            for (std::size_t i = 0; i < n_zp; ++i)
                if (z[i] != half)
                    return status::error(errc::invalid_argument,
                                         "%s.weight_zero_point: symmetric is true in the quantization config but entry %zu is %d, not 0", w,
                                         i, static_cast<int>(z[i]) - static_cast<int>(half));
    } else if (!c.symmetric) {
        return status::error(errc::invalid_argument, "tensor '%s.weight_zero_point' is missing (symmetric is false)", w);
    }

    std::vector<std::int32_t> perm;
    if (const st::tensor_info* gi = t.weight_g_idx) {
        LOWBIT_TRY(detail::expect_tensor(gi, prefix + ".weight_g_idx", {st::dtype::i32, st::dtype::i64}, 1));
        if (gi->shape[0] != K)
            return status::error(errc::shape_mismatch, "%s.weight_g_idx has %llu entries, weight_shape has K = %llu", w,
                                 static_cast<unsigned long long>(gi->shape[0]), static_cast<unsigned long long>(K));
        const std::string name = pw + ".weight_g_idx";
        auto pr = perm_from_group_index([&](std::size_t k) { return detail::int_at(*gi, k); }, static_cast<std::size_t>(K),
                                        static_cast<std::size_t>(G), name.c_str());
        if (!pr) return pr.error();
        perm = std::move(*pr);
    }

    runtime_scheme s;
    s.bits = b;
    s.gran = c.strategy == strat::tensor ? granularity::per_tensor : c.strategy == strat::channel ? granularity::per_channel : granularity::per_group;
    s.group = c.strategy == strat::group ? c.group_size : 0;
    s.symmetric = c.symmetric;
    s.scale = *sc;
    detail::qmatrix_builder qb;
    LOWBIT_TRY(qb.init(s, static_cast<std::size_t>(N), static_cast<std::size_t>(K), std::move(perm)));
    const std::size_t words = static_cast<std::size_t>((K + p - 1) / p);
    for (std::size_t n = 0; n < N; ++n)
        for (std::size_t k = 0; k < K; ++k)
            qb.set_code(n, k, (detail::word_at(*t.weight_packed, n * words + k / p) >> (static_cast<std::uint32_t>(b) * (k % p))) & mask);
    if (c.strategy == strat::tensor) {
        qb.set_scale(0, 0, *t.weight_scale, 0);
        if (!c.symmetric) qb.set_zero(0, 0, z[0]);
    } else {
        for (std::size_t n = 0; n < N; ++n)
            for (std::size_t g = 0; g < n_groups; ++g) {
                qb.set_scale(n, g, *t.weight_scale, n * n_groups + g);
                if (!c.symmetric) qb.set_zero(n, g, z[n * n_groups + g]);
            }
    }
    return qb.finish(w);
}

inline result<imported_qmatrix> read_compressed_tensors(const safetensors::safetensors_file& f, const std::string& prefix,
                                                        const compressed_tensors_config& c) {
    const auto at = [&](const char* suffix) { return f.find_tensor(prefix + suffix); };
    return read_compressed_tensors(compressed_tensors_tensors{at(".weight_packed"), at(".weight_shape"), at(".weight_scale"),
                                                              at(".weight_zero_point"), at(".weight_g_idx")},
                                   c, prefix);
}

}  // namespace checkpoint
}  // namespace lowbit
