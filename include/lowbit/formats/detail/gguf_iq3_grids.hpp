// lowbit/formats/detail/gguf_iq3_grids.hpp — IQ3_XXS and IQ3_S as GPTQ sees
// them (algo/gptq_gguf.hpp): a super-block whose scales the encoder chooses,
// then groups of values coded jointly on that fixed grid.
//
// A lattice type cannot round one value at a time: 4 consecutive values are
// one point of the grid (gguf_iq_grids.hpp), and IQ3_XXS stores 7 sign bits
// per 8 values, the eighth implied by an even count of negatives. GPTQ's unit
// is therefore a group of lattice_group_width<B>() columns (IQ3_S: 4, one
// point; IQ3_XXS: 8, two points and their shared sign parity).
//
//   - lattice_choose: the whole super-block through the type's encoder
//     (gguf_iq3_encode.hpp, ggml's search, with or without importance
//     weights): d, the 4-bit sub-block scales and a first coding of every
//     group. Also the sigma2 the encoder weighs with.
//   - lattice_code_group: one group's values coded again on that block's
//     scales: signs split off (IQ3_XXS flipping the cheapest value of an
//     odd-negatives 8 as the encoder does), the magnitudes of each 4 to the
//     nearest grid point at the decoded sub-block scale (an exhaustive search
//     over the 512 / 256 points, distances weighted per value); its index and
//     sign bits written where the decoder reads them, nothing else touched.
//   - lattice_decode_group: what the decoder reads back for one group, with
//     the decoder's own arithmetic (bit-exact with decode_iq3_*).
//
// With no error fed into a group (a diagonal Hessian), GPTQ keeps the
// encoder's coding of it, so the bytes equal gguf::quantize's.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "../gguf_iq3_encode.hpp"
#include "../gguf_iq_lattice.hpp"
#include "gguf_arith.hpp"

#include "fp_contract_off_begin.inl"

namespace lowbit {
namespace gguf {
namespace detail {

template <class B>
constexpr bool is_lattice_block() noexcept {
    return B::type_id == gguf_type::iq3_s || B::type_id == gguf_type::iq3_xxs;
}
template <class B>
constexpr int lattice_group_width() noexcept {
    return B::type_id == gguf_type::iq3_xxs ? 8 : 4;
}

inline void lattice_choose(const float* x, const float* qw, block_iq3_s& y, float& sigma2) noexcept {
    sigma2 = iq3_sigma2(x);
    encode_iq3_s(x, qw, y);
}
inline void lattice_choose(const float* x, const float* qw, block_iq3_xxs& y, float& sigma2) noexcept {
    sigma2 = iq3_sigma2(x);
    encode_iq3_xxs(x, qw, y);
}

// The whole block, as gguf::detail::decode does for the other block types
// (the refit and the lattice refine decode through this name).
inline void decode(const block_iq3_s& b, float* y) noexcept { decode_iq3_s(b, y); }
inline void decode(const block_iq3_xxs& b, float* y) noexcept { decode_iq3_xxs(b, y); }

// The decoders' sub-block scales (db) and the unit of a level: value = db · levels[l] · sign.
inline float lattice_sub_scale(const block_iq3_s& b, int ib) noexcept {
    const unsigned s = (b.scales[ib / 2] >> (4 * (ib % 2))) & 0xfu;
    return to_f32(b.d) * static_cast<float>(1 + 2 * static_cast<int>(s));
}
inline float lattice_sub_scale(const block_iq3_xxs& b, int ib) noexcept {
    const std::uint32_t meta = load_u32le(b.qs + qk_k / 4 + 4 * ib);
    return to_f32(b.d) * (0.5f + static_cast<float>(meta >> 28)) * 0.5f;
}

// Group g of IQ3_S: values 4g .. 4g+3 (sub-block g/8, point g%8).
inline void lattice_decode_group(const block_iq3_s& b, int g, float* y) noexcept {
    const int ib = g / 8, k = g % 8;
    const unsigned index = b.qs[8 * ib + k] | ((b.qh[ib] >> k) & 1u) << 8;
    const unsigned signs = (b.signs[4 * ib + k / 2] >> (4 * (k % 2))) & 0xfu;
    put_iq3_point(iq_grids::iq3s_index[index], iq_grids::iq3s_levels, signs, lattice_sub_scale(b, ib), y);
}
// Group g of IQ3_XXS: values 8g .. 8g+7 (sub-block g/4, sign field g%4).
inline void lattice_decode_group(const block_iq3_xxs& b, int g, float* y) noexcept {
    const int ib = g / 4, l = g % 4;
    const std::uint32_t meta = load_u32le(b.qs + qk_k / 4 + 4 * ib);
    const std::uint8_t signs = iq_grids::iq_sign_byte(meta >> (7 * l));
    const float db = lattice_sub_scale(b, ib);
    const std::uint8_t* q = b.qs + 8 * ib;
    put_iq3_point(iq_grids::iq3xxs_index[q[2 * l]], iq_grids::iq3xxs_levels, signs & 0xfu, db, y);
    put_iq3_point(iq_grids::iq3xxs_index[q[2 * l + 1]], iq_grids::iq3xxs_levels, signs >> 4, db, y + 4);
}

// The levels of n magnitudes v (n/4 points of a grid of n_points) at the
// sub-block scale db: level l decodes to db · levels[l], the decoder's own
// product (IQ3_S: 1, 3, ..., 15; IQ3_XXS: 4, 12, ..., 52 and 62, not 60:
// ggml's table breaks the 8l + 4 pattern at the top level, and the search
// measures what the decoder will read). For each 4 values the grid point
// nearest to them, by an exhaustive search, the squared distance weighted by
// ow (n values; null: 1; GPTQ passes 1/U_jj², the diagonal of the OBS
// metric), the first on ties. False when db is not a positive finite number
// (a block the encoder left zero: every value decodes to 0).
inline bool lattice_levels(const iq_lattice& lat, int n_points, int n, const float* v, const float* ow, float db,
                           const std::uint8_t* levels, std::int8_t* L) noexcept {
    if (!(db > 0.0f) || !(db < 3.40282347e38f)) return false;
    float unit[8];  // db · levels[l]
    for (int l = 0; l <= lat.max_level; ++l) unit[l] = db * static_cast<float>(levels[l]);
    for (int k = 0; k < n / 4; ++k) {
        const float* vk = v + 4 * k;
        const float one[4] = {1.0f, 1.0f, 1.0f, 1.0f};
        const float* wk = ow ? ow + 4 * k : one;
        float best = 3.40282347e38f;
        int pick = 0;
        for (int p = 0; p < n_points; ++p) {
            float d2 = 0.0f;
            for (int i = 0; i < 4; ++i) {
                const float diff = unit[lat.level(p, i)] - vk[i];
                d2 += wk[i] * diff * diff;
            }
            if (d2 < best) {
                best = d2;
                pick = p;
            }
        }
        for (int i = 0; i < 4; ++i) L[4 * k + i] = static_cast<std::int8_t>(lat.level(pick, i));
    }
    return true;
}

// Re-codes group g of IQ3_S from its 4 current values x: signs as x's, the
// magnitudes to the nearest grid point under the weights ow (IQ3_S stores
// every sign: qw and sigma2 are for IQ3_XXS's sign parity).
inline void lattice_code_group(const float* x, const float*, float, const float* ow, int g, block_iq3_s& b) noexcept {
    const int ib = g / 8, k = g % 8;
    float v[4];
    unsigned signs = 0;
    for (int i = 0; i < 4; ++i) {
        v[i] = x[i] >= 0.0f ? x[i] : -x[i];
        if (!(x[i] >= 0.0f)) signs |= 1u << i;
    }
    const iq_lattice lat = iq3s_lattice();
    std::int8_t L[4];
    if (!lattice_levels(lat, 512, 4, v, ow, lattice_sub_scale(b, ib), iq_grids::iq3s_levels, L)) return;
    const int p = lat.map.point(lat.code(L));
    b.qs[8 * ib + k] = static_cast<std::uint8_t>(p & 255);
    b.qh[ib] = static_cast<std::uint8_t>((b.qh[ib] & ~(1u << k)) | static_cast<unsigned>(p >> 8) << k);
    std::uint8_t& sb = b.signs[4 * ib + k / 2];
    const unsigned shift = 4u * static_cast<unsigned>(k % 2);
    sb = static_cast<std::uint8_t>((sb & ~(0xfu << shift)) | signs << shift);
}

// Re-codes group g of IQ3_XXS from its 8 current values x.
inline void lattice_code_group(const float* x, const float* qw, float sigma2, const float* ow, int g, block_iq3_xxs& b) noexcept {
    const int ib = g / 4, l = g % 4;
    float w[8], v[8];  // w: the encoder's importance of each value, for the sign-parity flip
    for (int i = 0; i < 8; ++i) w[i] = qw ? qw[i] * std::sqrt(sigma2 + mul(x[i], x[i])) : mul(x[i], x[i]);
    std::uint8_t signs = 0;
    iq_split_signs(8, x, w, true, v, &signs);  // even negatives: the cheapest value flipped, its magnitude negated
    const iq_lattice lat = iq3xxs_lattice();
    std::int8_t L[8];
    if (!lattice_levels(lat, 256, 8, v, ow, lattice_sub_scale(b, ib), iq_grids::iq3xxs_levels, L)) return;
    std::uint8_t* q = b.qs + 8 * ib;
    q[2 * l] = static_cast<std::uint8_t>(lat.map.point(lat.code(L)));
    q[2 * l + 1] = static_cast<std::uint8_t>(lat.map.point(lat.code(L + 4)));
    std::uint8_t* mb = b.qs + qk_k / 4 + 4 * ib;
    std::uint32_t meta = load_u32le(mb);
    meta = (meta & ~(127u << (7 * l))) | static_cast<std::uint32_t>(signs & 127u) << (7 * l);
    for (int i = 0; i < 4; ++i) mb[i] = static_cast<std::uint8_t>(meta >> (8 * i));
}

}  // namespace detail
}  // namespace gguf
}  // namespace lowbit

#include "fp_contract_off_end.inl"
