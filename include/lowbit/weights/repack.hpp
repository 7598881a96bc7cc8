// lowbit/weights/repack.hpp — repack(w, layout): the one converter between
// weight layouts. Every conversion is lossless (the values the kernels
// compute from the result are exactly those of the input):
//
//   dense <-> tiled            pack/tiled.hpp's repack_tiled / unpack_tiled
//   ggml Q4_0/Q5_0/Q8_0 -> dense   w4g32 / w5g32 / w8g32, symmetric, f16 scales:
//                              Q4_0 x = d (q - 8), Q5_0 x = d (q - 16), Q8_0 x = d q
//                              are lowbit's s (u - z) with z = 8, 16, 128 (u = q + 128 for Q8_0)
//   dense -> ggml              the inverse, for exactly those three schemes, no permutation
//   ggml -> tiled, tiled -> ggml   through dense
//   codebook <-> tiled_codebook    formats/codebook.hpp's to_tiled / from_tiled: the same
//                              indices, f16 scales and grid in the tiled geometry
//   ggml Q4_K/Q5_K/Q6_K <-> tiled_kquant   formats/tiled_kquant.hpp's to_tiled / from_tiled:
//                              every field of the blocks in the tiled geometry
//   ggml IQ4_NL -> codebook    the same block bytes, the grid IQ4_NL's 16 levels
//                              (gguf::iq4nl_levels): a 4-bit codebook block is IQ4_NL's
//   ggml IQ4_NL -> tiled_codebook   through codebook (codebook::to_tiled)
//   codebook, tiled_codebook -> ggml IQ4_NL   the inverse, only for 4-bit indices on
//                              exactly IQ4_NL's grid (another grid has no ggml form)
//
// Other ggml types (K-quants, Q4_1, IQ4_XS, ...) have no lossless dense or
// codebook form and are refused (errc::unsupported): IQ4_XS's per-32 scale
// d * (ls - 32) is not an f16 in general. The dense <-> tiled switch instantiates the
// packer for every kernel scheme (weights/visit.hpp): once per width in
// lowbit::compiled with LOWBIT_COMPILED (repack_width below).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../compiled_mode.hpp"
#include "../formats/codebook.hpp"
#include "../formats/gguf_iquants.hpp"
#include "../formats/tiled_kquant.hpp"
#include "../pack/any_qmatrix.hpp"
#include "../pack/tiled.hpp"
#include "convert.hpp"
#include "visit.hpp"
#include "weights.hpp"
#include "weights_view.hpp"

namespace lowbit {
namespace detail {

// The owning result of a dense/tiled repack, with w's scheme (not S's).
template <class Owner>
weights adopt(const runtime_scheme& rs, const Owner& o, weights_desc d) {
    d.scheme = rs;
    d.codes = o.codes.data();
    d.scales = o.scales.data();
    d.zeros = rs.symmetric ? nullptr : o.zeros.data();
    d.perm = o.perm.empty() ? nullptr : o.perm.data();
    return weights::copy_of(*make_weights(d));  // o came from valid weights
}

// The dense <-> tiled repack of the kernel schemes of width B, instantiated
// once per width: in the caller's TU when header-only, in lowbit::compiled
// (src/kernels_w*.cpp) with LOWBIT_COMPILED, so that a TU calling repack
// instantiates no packer (they were a fifth of lowbit-quantize's compile).
template <int B>
struct repack_width {
    static status to_tiled(const weights_view& w, result<weights>& out);
    static status to_dense(const weights_view& w, result<weights>& out);
};
template <int B>
status repack_width<B>::to_tiled(const weights_view& w, result<weights>& out) {
    auto f = [&](auto tag) {
        using S = decltype(tag);
        auto t = repack_tiled(qmatrix_of<S>(w));
        if (!t) return t.error();
        weights_desc d = w.desc();
        d.lay = layout::tiled;
        out = adopt(w.scheme(), *t, d);
        return status{};
    };
    return visit_kernel_sym<B>(w.scheme(), f);
}
template <int B>
status repack_width<B>::to_dense(const weights_view& w, result<weights>& out) {
    auto f = [&](auto tag) {
        using S = decltype(tag);
        using T = layout_traits<layout::tiled>;
        tiled<S> t;  // unpack_tiled reads an owning tiled: copy the view's arrays in
        t.rows = w.rows();
        t.cols = w.cols();
        t.group = w.group();
        t.row_bytes = packed_bytes(w.cols(), S::bits);
        t.tiles = T::tiles(w.desc());
        t.blocks = T::blocks(w.desc());
        t.groups = T::groups(w.desc());
        t.blocks_per_group = T::blocks_per_group(w.desc());
        // resize + memcpy, not assign: GCC 12 warns (-Wnonnull, falsely) on assign from a range
        t.codes.resize(w.code_bytes());
        std::memcpy(t.codes.data(), w.codes(), w.code_bytes());
        t.scales.resize(w.scale_count());
        std::memcpy(t.scales.data(), w.scales(), w.scale_bytes());
        t.zeros.resize(w.zero_bytes());
        if (w.zero_bytes()) std::memcpy(t.zeros.data(), w.zeros(), w.zero_bytes());
        t.perm.resize(w.perm_bytes() / sizeof(std::int32_t));
        if (w.perm()) std::memcpy(t.perm.data(), w.perm(), w.perm_bytes());
        auto q = unpack_tiled(t);
        if (!q) return q.error();
        const qmatrix_view<S> v = q->view();
        weights_desc d = w.desc();
        d.lay = layout::dense;
        d.scheme = w.scheme();
        d.row_bytes = v.row_bytes;
        d.codes = v.codes;
        d.scales = v.scales;
        d.zeros = v.zeros;
        d.perm = v.perm;
        out = weights::copy_of(*make_weights(d));
        return status{};
    };
    return visit_kernel_sym<B>(w.scheme(), f);
}
LOWBIT_EXTERN_WIDTHS(repack_width)

inline result<weights> dense_to_tiled(const weights_view& w) {
    result<weights> out = status::error(errc::unsupported, "repack: not run");
    LOWBIT_TRY(visit_width(w.scheme(), [&](auto b) { return repack_width<decltype(b)::value>::to_tiled(w, out); }));
    return out;
}

inline result<weights> tiled_to_dense(const weights_view& w) {
    result<weights> out = status::error(errc::unsupported, "repack: not run");
    LOWBIT_TRY(visit_width(w.scheme(), [&](auto b) { return repack_width<decltype(b)::value>::to_dense(w, out); }));
    return out;
}

// ggml block types that are lowbit schemes (bits; 0: none). Block bytes:
// Q4_0 = f16 d, 16 bytes of nibble pairs (codes j and j + 16);
// Q5_0 = f16 d, 4 bytes of fifth bits (bit j of code j), 16 bytes of nibbles;
// Q8_0 = f16 d, 32 int8.
inline int ggml_dense_bits(gguf::gguf_type t) noexcept {
    return t == gguf::gguf_type::q4_0 ? 4 : t == gguf::gguf_type::q5_0 ? 5 : t == gguf::gguf_type::q8_0 ? 8 : 0;
}
inline runtime_scheme ggml_dense_scheme(int bits) noexcept {
    runtime_scheme rs;
    rs.bits = bits;
    rs.gran = granularity::per_group;
    rs.group = 32;
    rs.symmetric = true;
    rs.scale = scale_type::f16;
    return rs;
}

inline void ggml_block_to_codes(int bits, const std::uint8_t* blk, std::uint8_t* u) noexcept {
    if (bits == 4) {
        for (int j = 0; j < 16; ++j) u[j] = blk[2 + j] & 15, u[j + 16] = blk[2 + j] >> 4;
    } else if (bits == 5) {
        std::uint32_t hi;
        std::memcpy(&hi, blk + 2, 4);
        for (int j = 0; j < 16; ++j) {
            u[j] = static_cast<std::uint8_t>((blk[6 + j] & 15) | (((hi >> j) & 1) << 4));
            u[j + 16] = static_cast<std::uint8_t>((blk[6 + j] >> 4) | (((hi >> (j + 16)) & 1) << 4));
        }
    } else {
        for (int j = 0; j < 32; ++j) u[j] = static_cast<std::uint8_t>(blk[2 + j] + 128);  // int8 q -> u = q + 128 (mod 256)
    }
}
inline void codes_to_ggml_block(int bits, const std::uint8_t* u, std::uint8_t* blk) noexcept {
    if (bits == 4) {
        for (int j = 0; j < 16; ++j) blk[2 + j] = static_cast<std::uint8_t>((u[j] & 15) | (u[j + 16] << 4));
    } else if (bits == 5) {
        std::uint32_t hi = 0;
        for (int j = 0; j < 32; ++j) hi |= static_cast<std::uint32_t>((u[j] >> 4) & 1) << j;
        std::memcpy(blk + 2, &hi, 4);
        for (int j = 0; j < 16; ++j) blk[6 + j] = static_cast<std::uint8_t>((u[j] & 15) | ((u[j + 16] & 15) << 4));
    } else {
        for (int j = 0; j < 32; ++j) blk[2 + j] = static_cast<std::uint8_t>(u[j] - 128);
    }
}

inline result<weights> ggml_to_dense(const weights_view& w) {
    const int bits = ggml_dense_bits(w.ggml_type());
    if (!bits)
        return status::error(errc::unsupported, "repack: ggml type %s has no lossless dense form (only Q4_0, Q5_0, Q8_0%s)",
                             gguf::type_name(w.ggml_type()),
                             w.ggml_type() == gguf::gguf_type::iq4_nl ? "; IQ4_NL becomes codebook or tiled_codebook" : "");
    weights_desc d;
    d.lay = layout::dense;
    d.scheme = ggml_dense_scheme(bits);
    d.rows = w.rows();
    d.cols = w.cols();
    d.row_bytes = packed_bytes(w.cols(), bits);
    auto out = weights::allocate(d);
    if (!out) return out.error();
    const std::size_t blocks = w.cols() / 32, bb = gguf::type_size(w.ggml_type());
    auto* scales = static_cast<std::uint16_t*>(out->scales());
    std::vector<std::uint8_t> u(w.cols());
    for (std::size_t r = 0; r < w.rows(); ++r) {
        const std::uint8_t* row = w.codes() + r * w.row_bytes();
        for (std::size_t b = 0; b < blocks; ++b) {
            std::memcpy(&scales[r * blocks + b], row + b * bb, 2);  // every one of the three starts with its f16 d
            ggml_block_to_codes(bits, row + b * bb, u.data() + b * 32);
        }
        LOWBIT_TRY(pack_codes(bits, u.data(), w.cols(), out->codes() + r * d.row_bytes));
    }
    return out;
}

inline result<weights> dense_to_ggml(const weights_view& w) {
    const runtime_scheme& s = w.scheme();
    const int bits = s.bits;
    const bool ok = (bits == 4 || bits == 5 || bits == 8) && s.gran == granularity::per_group && w.group() == 32 && s.symmetric &&
                    s.scale == scale_type::f16 && w.cols() % 32 == 0;
    if (!ok) {
        char name[48];
        s.name(name, sizeof name);
        return status::error(errc::unsupported,
                             "repack: %s weights with %zu columns have no ggml form (w4g32, w5g32, w8g32 with f16 scales, cols %% 32 == 0)",
                             name, w.cols());
    }
    if (w.perm()) return status::error(errc::unsupported, "repack: ggml blocks cannot hold an input permutation");
    weights_desc d;
    d.lay = layout::ggml;
    d.ggml = bits == 4 ? gguf::gguf_type::q4_0 : bits == 5 ? gguf::gguf_type::q5_0 : gguf::gguf_type::q8_0;
    d.rows = w.rows();
    d.cols = w.cols();
    auto out = weights::allocate(d);
    if (!out) return out.error();
    const std::size_t blocks = w.cols() / 32, bb = gguf::type_size(d.ggml), rb = blocks * bb;
    const auto* scales = static_cast<const std::uint16_t*>(w.scales());
    std::vector<std::uint8_t> u(w.cols());
    for (std::size_t r = 0; r < w.rows(); ++r) {
        LOWBIT_TRY(unpack_codes(bits, w.codes() + r * w.row_bytes(), w.cols(), u.data()));
        std::uint8_t* row = out->codes() + r * rb;
        for (std::size_t b = 0; b < blocks; ++b) {
            std::memcpy(row + b * bb, &scales[r * blocks + b], 2);
            codes_to_ggml_block(bits, u.data() + b * 32, row + b * bb);
        }
    }
    return out;
}

// IQ4_NL blocks as codebook weights: the bytes unchanged (ggml rows are
// packed, as codebook rows are), the grid IQ4_NL's one table.
inline result<weights> iq4nl_to_codebook(const weights_view& w) {
    weights_desc d;
    d.lay = layout::codebook;
    d.scheme.bits = 4;
    d.rows = w.rows();
    d.cols = w.cols();
    std::memcpy(d.grid, gguf::iq4nl_levels, sizeof gguf::iq4nl_levels);
    auto out = weights::allocate(d);
    if (!out) return out.error();
    std::memcpy(out->codes(), w.codes(), w.code_bytes());  // the two sizes agree: rows * cols / 32 * 18
    return out;
}
// The inverse, for codebook weights (not tiled) whose grid is IQ4_NL's
// (checked by the caller, repack_codebook).
inline result<weights> codebook_to_iq4nl(const weights_view& w) {
    weights_desc d;
    d.lay = layout::ggml;
    d.ggml = gguf::gguf_type::iq4_nl;
    d.rows = w.rows();
    d.cols = w.cols();
    auto out = weights::allocate(d);
    if (!out) return out.error();
    std::memcpy(out->codes(), w.codes(), w.code_bytes());
    return out;
}

// Codebook <-> ggml (IQ4_NL alone) and codebook <-> tiled_codebook.
inline result<weights> repack_codebook(const weights_view& w, layout to) {
    const bool cb_from = w.lay() == layout::codebook || w.lay() == layout::tiled_codebook;
    const bool cb_to = to == layout::codebook || to == layout::tiled_codebook;
    if (cb_from && cb_to) return w.lay() == layout::codebook ? codebook::to_tiled(w) : codebook::from_tiled(w);
    if (w.lay() == layout::ggml && w.ggml_type() == gguf::gguf_type::iq4_nl) {
        auto c = iq4nl_to_codebook(w);
        if (!c || to == layout::codebook) return c;
        return codebook::to_tiled(c->view());
    }
    if (cb_from && to == layout::ggml) {
        if (w.scheme().bits != 4 || std::memcmp(w.grid(), gguf::iq4nl_levels, sizeof gguf::iq4nl_levels) != 0)
            return status::error(errc::unsupported, "repack: %d-bit codebook weights on a grid other than IQ4_NL's 16 levels have no ggml form "
                                 "(ggml's one codebook type, IQ4_NL, has a fixed grid)", w.scheme().bits);
        if (w.lay() == layout::codebook) return codebook_to_iq4nl(w);
        auto c = codebook::from_tiled(w);
        if (!c) return c;
        return codebook_to_iq4nl(c->view());
    }
    return status::error(errc::unsupported, "repack: %s%s%s weights cannot become %s (codebook weights come from floats, "
                         "formats/codebook.hpp, or from ggml IQ4_NL blocks, and go to tiled_codebook or, on IQ4_NL's grid, IQ4_NL)",
                         w.lay() == layout::ggml ? "ggml " : "", w.lay() == layout::ggml ? gguf::type_name(w.ggml_type()) : "",
                         w.lay() == layout::ggml ? "" : layout_name(w.lay()), layout_name(to));
}
}  // namespace detail

// The weights of `w` in layout `to` (a copy when it is already in `to`).
inline result<weights> repack(const weights_view& w, layout to) {
    if (static_cast<int>(to) > static_cast<int>(layout::tiled_kquant))
        return status::error(errc::invalid_argument,
                             "repack: to = %d is not a layout (dense 0, tiled 1, ggml 2, codebook 3, tiled_codebook 4, tiled_kquant 5)",
                             static_cast<int>(to));
    if (w.lay() == to) return weights::copy_of(w);
    if (w.lay() == layout::tiled_kquant || to == layout::tiled_kquant) {
        if (w.lay() == layout::ggml) return kquant::to_tiled(w);
        if (to == layout::ggml) return kquant::from_tiled(w);
        return status::error(errc::unsupported, "repack: %s weights cannot become %s (tiled K-quant weights come from and go back to "
                             "ggml Q4_K/Q5_K/Q6_K blocks alone)", layout_name(w.lay()), layout_name(to));
    }
    if (w.lay() == layout::codebook || w.lay() == layout::tiled_codebook || to == layout::codebook || to == layout::tiled_codebook)
        return detail::repack_codebook(w, to);
    switch (w.lay()) {
        case layout::dense: return to == layout::tiled ? detail::dense_to_tiled(w) : detail::dense_to_ggml(w);
        case layout::tiled: {
            auto d = detail::tiled_to_dense(w);
            if (!d || to == layout::dense) return d;
            return detail::dense_to_ggml(d->view());
        }
        case layout::ggml: {
            auto d = detail::ggml_to_dense(w);
            if (!d || to == layout::dense) return d;
            return detail::dense_to_tiled(d->view());
        }
        case layout::codebook:
        case layout::tiled_codebook:
        case layout::tiled_kquant: break;
    }
    return status::error(errc::invalid_argument, "repack: unknown layout");
}

}  // namespace lowbit
