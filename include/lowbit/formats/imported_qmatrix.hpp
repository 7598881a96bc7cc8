// lowbit/formats/imported_qmatrix.hpp — what the quantized-checkpoint readers
// (gptq_checkpoint.hpp, awq_checkpoint.hpp, compressed_tensors_checkpoint.hpp)
// produce, and how they assemble it: unpacked integer codes, zero points and
// scales, rearranged into lowbit's qmatrix layout without requantizing.
//
// The readers decode every code and zero point to an integer u, z in [0, 255]
// and copy the scale bits unchanged, so value(r, c) = scale * (u - z) in f32 is
// the checkpoint's own formula evaluated exactly (docs/formats.md, "Quantized
// checkpoints in"). Standard library only: an engine can import a checkpoint
// without the kernels.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "../core/half.hpp"
#include "../core/scheme.hpp"
#include "../core/status.hpp"
#include "../pack/bitpack.hpp"
#include "../pack/qmatrix.hpp"
#include "detail/printable.hpp"
#include "safetensors.hpp"

namespace lowbit {
namespace checkpoint {

// Bytes an imported matrix holds in lowbit's layout (what --dry-run reports
// without reading the packed data: footprint_of needs only the scheme and shape).
struct imported_footprint {
    std::uint64_t codes = 0, scales = 0, zeros = 0, perm = 0;
};
inline result<imported_footprint> footprint_of(const runtime_scheme& s, std::size_t rows, std::size_t cols, bool has_perm) noexcept {
    auto l = qlayout::make(s, rows, cols);
    if (!l) return l.error();
    imported_footprint f;
    f.codes = l->code_bytes();
    f.scales = l->n_scales * static_cast<std::uint64_t>(scale_bits(s.scale) / 8);
    f.zeros = l->n_zeros;
    f.perm = has_perm ? cols * 4 : 0;
    return f;
}

// A quantized N x K weight (N outputs, K inputs) read from a checkpoint: the
// scheme as a value and qmatrix storage (codes, scales, zeros, optional input
// permutation). `any_qmatrix{scheme, std::move(storage)}` (runtime.hpp) runs it.
struct imported_qmatrix {
    runtime_scheme scheme;
    qstorage storage;

    std::size_t rows() const noexcept { return storage.layout.rows; }
    std::size_t cols() const noexcept { return storage.layout.cols; }
    imported_footprint footprint() const noexcept {
        imported_footprint f;
        f.codes = storage.codes.size();
        f.scales = storage.scales_f32.size() * 4 + storage.scales_16.size() * 2;
        f.zeros = storage.zeros.size();
        f.perm = storage.perm.size() * 4;
        return f;
    }
    // Scale of group g of row r, decoded to float.
    float scale(std::size_t r, std::size_t g) const noexcept {
        const std::size_t i = scheme.gran == granularity::per_tensor ? 0 : r * storage.layout.groups_per_row + g;
        if (scheme.scale == scale_type::f32) return storage.scales_f32[i];
        return scheme.scale == scale_type::f16 ? f16_to_f32(storage.scales_16[i]) : bf16_to_f32(storage.scales_16[i]);
    }
    int zero(std::size_t r, std::size_t g) const noexcept {
        if (scheme.symmetric) return 1 << (scheme.bits - 1);
        return storage.zeros[scheme.gran == granularity::per_tensor ? 0 : r * storage.layout.groups_per_row + g];
    }
    // Code of stored column j of row r (input perm[j] when there is a permutation).
    int code(std::size_t r, std::size_t j) const noexcept {
        const std::uint8_t* row = storage.codes.data() + r * storage.layout.row_bytes;
        const std::size_t b = static_cast<std::size_t>(scheme.bits), bit = j * b;
        std::uint32_t v = row[bit / 8] >> (bit % 8);
        if (bit % 8 + b > 8) v |= static_cast<std::uint32_t>(row[bit / 8 + 1]) << (8 - bit % 8);
        return static_cast<int>(v & ((1u << b) - 1u));
    }
    // Row r in the input order: out[k] = weight(r, k), k < cols().
    void dequantize_row(std::size_t r, float* out) const noexcept {
        const std::size_t G = static_cast<std::size_t>(storage.layout.group);
        for (std::size_t j = 0; j < cols(); ++j) {
            const std::size_t g = j / G;
            const float v = scale(r, g) * static_cast<float>(code(r, j) - zero(r, g));
            out[storage.perm.empty() ? j : static_cast<std::size_t>(storage.perm[j])] = v;
        }
    }

};

namespace detail {

using lowbit::detail::printable;

// Word i of a little-endian 32-bit tensor (safetensors data is not aligned).
inline std::uint32_t word_at(const safetensors::tensor_info& t, std::size_t i) noexcept {
    const std::uint8_t* p = t.data.data() + 4 * i;
    return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 | static_cast<std::uint32_t>(p[2]) << 16 |
           static_cast<std::uint32_t>(p[3]) << 24;
}

// Bits [bit, bit + b) of a little-endian bit stream made of 32-bit words
// (word(i) gives word i): the GPTQ packing, whose 3-bit codes straddle words.
template <class Word>
std::uint32_t stream_bits(Word&& word, std::size_t bit, int b) noexcept {
    const std::size_t w = bit / 32;
    const unsigned s = static_cast<unsigned>(bit % 32);
    std::uint64_t v = word(w) >> s;
    if (s + static_cast<unsigned>(b) > 32) v |= static_cast<std::uint64_t>(word(w + 1)) << (32 - s);
    return static_cast<std::uint32_t>(v & ((1u << b) - 1u));
}

// The tensor named `name`, with dtype `dt` and the given rank; nullptr and an
// error naming it otherwise. `dims` receives the shape.
inline status expect_tensor(const safetensors::tensor_info* t, const std::string& name, std::initializer_list<safetensors::dtype> dts,
                            std::size_t rank) {
    if (!t) return status::error(errc::invalid_argument, "tensor '%s' is missing", printable(name).c_str());
    bool dt_ok = false;
    for (safetensors::dtype d : dts) dt_ok = dt_ok || t->type == d;
    if (!dt_ok) {
        std::string want;
        for (safetensors::dtype d : dts) want += std::string(want.empty() ? "" : " or ") + safetensors::dtype_name(d);
        return status::error(errc::invalid_argument, "tensor '%s' has dtype %s, expected %s", printable(name).c_str(),
                             safetensors::dtype_name(t->type), want.c_str());
    }
    if (t->shape.size() != rank)
        return status::error(errc::shape_mismatch, "tensor '%s' has rank %zu, expected %zu", printable(name).c_str(), t->shape.size(), rank);
    return {};
}

inline status expect_shape(const safetensors::tensor_info& t, std::uint64_t d0, std::uint64_t d1, const char* why) {
    if (t.shape.size() != 2 || t.shape[0] != d0 || t.shape[1] != d1)
        return status::error(errc::shape_mismatch, "tensor '%s' has shape [%llu, %llu], expected [%llu, %llu] (%s)",
                             printable(t.name).c_str(), static_cast<unsigned long long>(t.shape.empty() ? 0 : t.shape[0]),
                             static_cast<unsigned long long>(t.shape.size() < 2 ? 0 : t.shape[1]), static_cast<unsigned long long>(d0),
                             static_cast<unsigned long long>(d1), why);
    return {};
}

// What AutoAWQ and AutoGPTQ checkpoints share, checked in this order: the
// config's group_size (-1, one group, or >= 1), then PREFIX.qweight and
// .qzeros (int32, 2-D) and .scales (f16, bf16 or f32, 2-D). `what` names the
// layer in messages.
inline status expect_packed_int32_layer(const std::string& what, int group_size, const safetensors::tensor_info* qweight,
                                        const safetensors::tensor_info* qzeros, const safetensors::tensor_info* scales,
                                        const std::string& prefix) {
    namespace st = safetensors;
    if (group_size == 0 || group_size < -1)
        return status::error(errc::invalid_argument, "%s: group_size = %d in the quantization config, must be -1 or >= 1",
                             printable(what).c_str(), group_size);
    LOWBIT_TRY(expect_tensor(qweight, prefix + ".qweight", {st::dtype::i32}, 2));
    LOWBIT_TRY(expect_tensor(qzeros, prefix + ".qzeros", {st::dtype::i32}, 2));
    return expect_tensor(scales, prefix + ".scales", {st::dtype::f16, st::dtype::bf16, st::dtype::f32}, 2);
}

// An N x K matrix from qweight: neither empty nor larger than 2^30 a side.
inline status expect_qweight_size(const std::string& what, std::uint64_t N, std::uint64_t K) {
    if (N == 0 || K == 0) return status::error(errc::shape_mismatch, "%s.qweight is empty", printable(what).c_str());
    if (N > (1u << 30) || K > (1u << 30)) return status::error(errc::invalid_argument, "%s.qweight is too large", printable(what).c_str());
    return {};
}

inline result<scale_type> scale_type_of(const safetensors::tensor_info& t) {
    switch (t.type) {
        case safetensors::dtype::f16: return scale_type::f16;
        case safetensors::dtype::bf16: return scale_type::bf16;
        case safetensors::dtype::f32: return scale_type::f32;
        default:
            return status::error(errc::invalid_argument, "scales tensor '%s' has dtype %s, expected F16, BF16 or F32",
                                 printable(t.name).c_str(), safetensors::dtype_name(t.type));
    }
}

// Accumulates the N x K codes, the zero points and the scales of a tensor in
// the order the checkpoint stores them, then packs them into lowbit's layout.
// Columns are stored in `perm` order (perm[j] = input column of stored column j).
class qmatrix_builder {
public:
    status init(const runtime_scheme& s, std::size_t rows, std::size_t cols, std::vector<std::int32_t> perm) {
        auto l = qlayout::make(s, rows, cols);
        if (!l) return l.error();
        scheme_ = s;
        out_.storage.layout = *l;
        out_.scheme = s;
        codes_.assign(rows * cols, 0);
        if (s.scale == scale_type::f32) out_.storage.scales_f32.assign(l->n_scales, 0.0f);
        else out_.storage.scales_16.assign(l->n_scales, 0);
        out_.storage.zeros.assign(l->n_zeros, 0);
        inv_.clear();
        if (!perm.empty()) {  // where each input column is stored
            inv_.assign(cols, 0);
            for (std::size_t j = 0; j < cols; ++j) inv_[static_cast<std::size_t>(perm[j])] = j;
        }
        out_.storage.perm = std::move(perm);
        return {};
    }
    const qlayout& layout() const noexcept { return out_.storage.layout; }
    // Code u of weight (r, input column k).
    void set_code(std::size_t r, std::size_t k, std::uint32_t u) noexcept {
        codes_[r * layout().cols + (inv_.empty() ? k : inv_[k])] = static_cast<std::uint8_t>(u);
    }
    std::size_t scale_index(std::size_t r, std::size_t g) const noexcept {
        return scheme_.gran == granularity::per_tensor ? 0 : r * layout().groups_per_row + g;
    }
    // The scale bits of element i of `t` (F16, BF16 or F32, the type of scheme.scale).
    void set_scale(std::size_t r, std::size_t g, const safetensors::tensor_info& t, std::size_t i) noexcept {
        const std::uint8_t* p = t.data.data();
        if (scheme_.scale == scale_type::f32) {
            std::uint32_t b = 0;
            for (int k = 0; k < 4; ++k) b |= static_cast<std::uint32_t>(p[4 * i + static_cast<std::size_t>(k)]) << (8 * k);
            out_.storage.scales_f32[scale_index(r, g)] = bits_to_f32(b);
        } else {
            out_.storage.scales_16[scale_index(r, g)] = static_cast<std::uint16_t>(p[2 * i] | p[2 * i + 1] << 8);
        }
    }
    void set_zero(std::size_t r, std::size_t g, std::uint32_t z) noexcept { out_.storage.zeros[scale_index(r, g)] = static_cast<std::uint8_t>(z); }

    // Checks every scale is finite (a NaN scale would make every weight of its
    // group NaN: garbage, refused) and packs the codes row by row.
    result<imported_qmatrix> finish(const char* what) {
        const std::size_t n = layout().n_scales;
        for (std::size_t i = 0; i < n; ++i) {
            const float s = scheme_.scale == scale_type::f32 ? out_.storage.scales_f32[i]
                            : scheme_.scale == scale_type::f16 ? f16_to_f32(out_.storage.scales_16[i])
                                                              : bf16_to_f32(out_.storage.scales_16[i]);
            if (!std::isfinite(s))
                return status::error(errc::non_finite, "%s: scale %zu (row %zu, group %zu) is not finite", what, i,
                                     layout().groups_per_row ? i / layout().groups_per_row : 0,
                                     layout().groups_per_row ? i % layout().groups_per_row : 0);
        }
        out_.storage.codes.assign(layout().code_bytes(), 0);
        for (std::size_t r = 0; r < layout().rows; ++r)
            LOWBIT_TRY(pack_codes(scheme_.bits, codes_.data() + r * layout().cols, layout().cols,
                                  out_.storage.codes.data() + r * layout().row_bytes));
        codes_.clear();
        codes_.shrink_to_fit();
        return std::move(out_);
    }

private:
    runtime_scheme scheme_;
    imported_qmatrix out_;
    std::vector<std::uint8_t> codes_;  // N x K unpacked, in stored column order
    std::vector<std::size_t> inv_;
};

}  // namespace detail
}  // namespace checkpoint
}  // namespace lowbit
