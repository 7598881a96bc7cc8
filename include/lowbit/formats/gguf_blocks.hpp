// lowbit/formats/gguf_blocks.hpp — llama.cpp's block formats, byte-exact with ggml.
//
// Plain structs with ggml's byte layout (Q4_0 … Q8_1, Q2_K … Q8_K), and
// row codecs that write the same bytes as ggml's reference quantizers
// (quantize_row_*_ref, and quantize_* with an importance matrix) and read
// back the same floats as ggml's dequantize_row_*. docs/formats.md draws
// every layout and states the formulas; comments below point there.
//
// Why the arithmetic looks fussy. The scale searches of the K-quants compare
// sums of products, so a single fused multiply-add (one rounding instead of
// two) can flip a decision and change the bytes. ggml's reference bytes come
// from code compiled without contraction. Two guards keep that true here
// whatever the user's flags (-O3 -march=native, -ffp-contract=fast):
//   1. every product that reaches an addition goes through detail::mul(),
//      which hides the product from the optimiser behind an empty asm
//      statement, so no FMA can be formed (clang ignores pragmas under
//      -ffp-contract=fast, so this is the guard that always holds);
//   2. the whole body is compiled with contraction off by pragma (GCC:
//      optimize("fp-contract=off"); clang: fp contract(off)), pushed and
//      popped so nothing leaks into the includer.
// -ffast-math (reassociation, finite-math) is not supported: it changes the
// order of the sums, and no ggml build produces its bytes either.
//
// Only the standard library and lowbit/core are used: an engine that merely
// stores GGUF blocks pays for no SIMD code.
#pragma once

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "../core/half.hpp"
#include "../core/status.hpp"
#include "../core/views.hpp"
#include "gguf_types.hpp"

namespace lowbit {
namespace gguf {

// ---- block geometry --------------------------------------------------------------
constexpr int qk_legacy = 32;  // values per block of Q4_0 … Q8_1
constexpr int qk_k = 256;      // values per super-block of the K-quants (ggml's QK_K)
constexpr int k_scale_size = 12;  // bytes of packed 6-bit scales/mins in Q4_K and Q5_K

// ---- block structs: ggml's exact layouts (docs/formats.md, "Block layouts") ------
// fp16 fields hold IEEE binary16 bits (lowbit::f16_to_f32 reads them). Multi-byte
// fields are in host order; GGUF files are little-endian, like every host ggml runs on.

struct block_q4_0 {  // x = d * (q - 8)
    static constexpr int values = qk_legacy;
    static constexpr gguf_type type_id = gguf_type::q4_0;
    std::uint16_t d;
    std::uint8_t qs[qk_legacy / 2];  // byte j: value j in the low nibble, value j+16 in the high one
};
struct block_q4_1 {  // x = d * q + m
    static constexpr int values = qk_legacy;
    static constexpr gguf_type type_id = gguf_type::q4_1;
    std::uint16_t d;
    std::uint16_t m;
    std::uint8_t qs[qk_legacy / 2];
};
struct block_q5_0 {  // x = d * (q - 16)
    static constexpr int values = qk_legacy;
    static constexpr gguf_type type_id = gguf_type::q5_0;
    std::uint16_t d;
    std::uint8_t qh[4];  // bit j (little-endian 32-bit word): fifth bit of value j
    std::uint8_t qs[qk_legacy / 2];
};
struct block_q5_1 {  // x = d * q + m
    static constexpr int values = qk_legacy;
    static constexpr gguf_type type_id = gguf_type::q5_1;
    std::uint16_t d;
    std::uint16_t m;
    std::uint8_t qh[4];
    std::uint8_t qs[qk_legacy / 2];
};
struct block_q8_0 {  // x = d * q
    static constexpr int values = qk_legacy;
    static constexpr gguf_type type_id = gguf_type::q8_0;
    std::uint16_t d;
    std::int8_t qs[qk_legacy];
};
struct block_q8_1 {  // x = d * q; s = d * sum(q), for the integer-dot kernels
    static constexpr int values = qk_legacy;
    static constexpr gguf_type type_id = gguf_type::q8_1;
    std::uint16_t d;
    std::uint16_t s;
    std::int8_t qs[qk_legacy];
};
struct block_q2_K {  // x = d * sc * q - dmin * m, 16 sub-blocks of 16
    static constexpr int values = qk_k;
    static constexpr gguf_type type_id = gguf_type::q2_K;
    std::uint8_t scales[qk_k / 16];  // low nibble: sub-block scale, high nibble: sub-block min
    std::uint8_t qs[qk_k / 4];
    std::uint16_t d;
    std::uint16_t dmin;
};
struct block_q3_K {  // x = d * (sc - 32) * (q - 4), 16 sub-blocks of 16
    static constexpr int values = qk_k;
    static constexpr gguf_type type_id = gguf_type::q3_K;
    std::uint8_t hmask[qk_k / 8];  // third bit of each value
    std::uint8_t qs[qk_k / 4];     // low two bits
    std::uint8_t scales[12];       // sixteen 6-bit scales
    std::uint16_t d;
};
struct block_q4_K {  // x = d * sc * q - dmin * m, 8 sub-blocks of 32
    static constexpr int values = qk_k;
    static constexpr gguf_type type_id = gguf_type::q4_K;
    std::uint16_t d;
    std::uint16_t dmin;
    std::uint8_t scales[k_scale_size];  // eight 6-bit scales and eight 6-bit mins
    std::uint8_t qs[qk_k / 2];
};
struct block_q5_K {  // x = d * sc * q - dmin * m, 8 sub-blocks of 32
    static constexpr int values = qk_k;
    static constexpr gguf_type type_id = gguf_type::q5_K;
    std::uint16_t d;
    std::uint16_t dmin;
    std::uint8_t scales[k_scale_size];
    std::uint8_t qh[qk_k / 8];
    std::uint8_t qs[qk_k / 2];
};
struct block_q6_K {  // x = d * sc * (q - 32), 16 sub-blocks of 16
    static constexpr int values = qk_k;
    static constexpr gguf_type type_id = gguf_type::q6_K;
    std::uint8_t ql[qk_k / 2];       // low four bits
    std::uint8_t qh[qk_k / 4];       // high two bits
    std::int8_t scales[qk_k / 16];   // signed 8-bit sub-block scales
    std::uint16_t d;
};
struct block_q8_K {  // x = d * q; activations for the K-quant dot products (d is f32)
    static constexpr int values = qk_k;
    static constexpr gguf_type type_id = gguf_type::q8_K;
    float d;
    std::int8_t qs[qk_k];
    std::int16_t bsums[qk_k / 16];  // sum of each run of 16 quants
};

static_assert(sizeof(block_q4_0) == 18, "Q4_0 block is 18 bytes");
static_assert(sizeof(block_q4_1) == 20, "Q4_1 block is 20 bytes");
static_assert(sizeof(block_q5_0) == 22, "Q5_0 block is 22 bytes");
static_assert(sizeof(block_q5_1) == 24, "Q5_1 block is 24 bytes");
static_assert(sizeof(block_q8_0) == 34, "Q8_0 block is 34 bytes");
static_assert(sizeof(block_q8_1) == 36, "Q8_1 block is 36 bytes");
static_assert(sizeof(block_q2_K) == 84, "Q2_K block is 84 bytes");
static_assert(sizeof(block_q3_K) == 110, "Q3_K block is 110 bytes");
static_assert(sizeof(block_q4_K) == 144, "Q4_K block is 144 bytes");
static_assert(sizeof(block_q5_K) == 176, "Q5_K block is 176 bytes");
static_assert(sizeof(block_q6_K) == 210, "Q6_K block is 210 bytes");
static_assert(sizeof(block_q8_K) == 292, "Q8_K block is 292 bytes");

namespace detail {
template <class B>
constexpr bool agrees_with_type_table() {
    return type_size(B::type_id) == sizeof(B) && type_block_size(B::type_id) == static_cast<std::size_t>(B::values);
}
static_assert(agrees_with_type_table<block_q4_0>() && agrees_with_type_table<block_q4_1>() &&
                  agrees_with_type_table<block_q5_0>() && agrees_with_type_table<block_q5_1>() &&
                  agrees_with_type_table<block_q8_0>() && agrees_with_type_table<block_q8_1>() &&
                  agrees_with_type_table<block_q2_K>() && agrees_with_type_table<block_q3_K>() &&
                  agrees_with_type_table<block_q4_K>() && agrees_with_type_table<block_q5_K>() &&
                  agrees_with_type_table<block_q6_K>() && agrees_with_type_table<block_q8_K>(),
              "block structs and gguf_types.hpp disagree");
}  // namespace detail

}  // namespace gguf
}  // namespace lowbit

// ---- contraction off for everything below (guard 2 above); popped at the end ----
#include "detail/fp_contract_off_begin.inl"

namespace lowbit {
namespace gguf {
namespace detail {

// ggml treats a group whose largest magnitude is below this as all zeros.
constexpr float group_max_eps = 1e-15f;

// Returns v unchanged, but opaque to the optimiser: a product passed through
// here cannot be fused with the addition that consumes it (guard 1 above).
inline float opaque(float v) noexcept {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__SSE_MATH__))
    __asm__("" : "+x"(v));
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
    __asm__("" : "+w"(v));
#elif defined(__GNUC__) || defined(__clang__)
    __asm__("" : "+m"(v));
#else
    volatile float spill = v;
    v = spill;
#endif
    return v;
}

// a * b rounded to float on its own, never fused into a neighbouring add.
inline float mul(float a, float b) noexcept { return opaque(a * b); }

// Round to nearest, ties to even, by the magic-number trick ggml uses: adding
// 1.5 * 2^23 leaves round(v) in the low mantissa bits. Valid for |v| < 2^22.
inline int nearest_int(float v) noexcept {
    const float biased = opaque(v) + 12582912.0f;
    std::uint32_t bits;
    std::memcpy(&bits, &biased, sizeof bits);
    return static_cast<int>(bits & 0x007fffffu) - 0x00400000;
}

// C's float -> int conversion (truncation), made total: out-of-range and NaN
// give INT_MIN, as x86's cvttss2si does. Only reachable with degenerate scales.
inline int truncate_to_int(float v) noexcept {
    if (v > -2147483904.0f && v < 2147483648.0f) return static_cast<int>(v);
    return INT_MIN;
}

inline int clamp_int(int v, int lo, int hi) noexcept { return v < lo ? lo : (v > hi ? hi : v); }

inline float to_f32(std::uint16_t h) noexcept { return f16_to_f32(h); }
inline std::uint16_t to_f16(float f) noexcept { return f32_to_f16(f); }

// ---- argument checks: data errors become a status, nothing is written ----------
inline status check_finite(const char* fn, const char* what, const float* v, std::int64_t n) noexcept {
    for (std::int64_t i = 0; i < n; ++i) {
        if (LOWBIT_UNLIKELY(!std::isfinite(v[i]))) {
            return status::error(errc::non_finite, "%s: %s[%lld] is %s", fn, what, static_cast<long long>(i),
                                 std::isnan(v[i]) ? "NaN" : "infinite");
        }
    }
    return status();
}

// The most values one call takes: their floats must fit in one object
// (PTRDIFF_MAX bytes), so that every byte count formed from k (k * 4 input
// bytes, k / block * block bytes <= k * 4 output bytes) is exact.
constexpr std::int64_t max_values = static_cast<std::int64_t>(PTRDIFF_MAX / 4);

inline status check_length(const char* fn, const char* what, std::int64_t k, int block) noexcept {
    if (k < 0) return status::error(errc::invalid_argument, "%s: %s = %lld is negative", fn, what, static_cast<long long>(k));
    if (k > max_values)
        return status::error(errc::invalid_argument, "%s: %s = %lld is more floats than fit in memory (limit %lld)", fn,
                             what, static_cast<long long>(k), static_cast<long long>(max_values));
    if (k % block != 0) {
        return status::error(errc::shape_mismatch, "%s: %s = %lld is not a multiple of the block size %d", fn, what,
                             static_cast<long long>(k), block);
    }
    return status();
}

inline status check_pointers(const char* fn, std::int64_t k, const void* in, const void* out) noexcept {
    if (k > 0 && in == nullptr) return status::error(errc::invalid_argument, "%s: input pointer is null", fn);
    if (k > 0 && out == nullptr) return status::error(errc::invalid_argument, "%s: output pointer is null", fn);
    return status();
}

// ---- scale searches (docs/formats.md, "How the K-quant scales are chosen") --------
// Each returns the scale and writes codes to L. They follow ggml's searches step
// for step, including evaluation order, so that ties break the same way.

// The rule a search used for its final codes: code = nearest_int(inv * (x - off)),
// or no rule when the group was all zeros (codes 0). A block's grid (below)
// keeps it, so that values coded later land exactly where ggml would put them.
struct search_rounding {
    float inv = 0.0f, off = 0.0f;
    bool all_zero = true;
};

// Symmetric codes l in [-nmax, nmax): start from the scale that maps the
// largest-magnitude value to -nmax, then try 18 nearby scales and keep the one
// with the largest weighted sum(x*l)^2 / sum(l^2) (ggml's make_qx_quants with
// rmse_type 1). Weights default to x^2. L receives l + nmax.
inline float fit_symmetric(int n, int nmax, const float* x, std::int8_t* L, const float* qw,
                           search_rounding* rounding = nullptr) noexcept {
    float amax = 0.0f;
    float max = 0.0f;  // signed value with the largest magnitude (first one wins)
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < group_max_eps) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        if (rounding) *rounding = search_rounding{};
        return 0.0f;
    }
    auto weight = [&](int i) { return qw ? qw[i] : x[i] * x[i]; };
    auto code = [&](float iscale, int i) { return clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1); };

    float iscale = static_cast<float>(-nmax) / max;
    float sumlx = 0.0f;
    float suml2 = 0.0f;
    for (int i = 0; i < n; ++i) {
        const int l = code(iscale, i);
        L[i] = static_cast<std::int8_t>(l + nmax);
        const float w = weight(i);
        sumlx += mul(w * x[i], static_cast<float>(l));
        suml2 += mul(w * static_cast<float>(l), static_cast<float>(l));
    }
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    float code_iscale = iscale;
    for (int step = -9; step <= 9; ++step) {
        if (step == 0) continue;
        iscale = -(static_cast<float>(nmax) + mul(0.1f, static_cast<float>(step))) / max;
        sumlx = 0.0f;
        suml2 = 0.0f;
        for (int i = 0; i < n; ++i) {
            const int l = code(iscale, i);
            const float w = weight(i);
            sumlx += mul(w * x[i], static_cast<float>(l));
            suml2 += mul(w * static_cast<float>(l), static_cast<float>(l));
        }
        if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) L[i] = static_cast<std::int8_t>(nmax + code(iscale, i));
            code_iscale = iscale;
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    if (rounding) *rounding = search_rounding{code_iscale, 0.0f, false};
    return scale;
}

// Q3_K's search (ggml's make_q3_quants with do_rmse): the plain scale, then up
// to five sweeps that move single codes when that raises sum(w x l)^2/sum(w l^2),
// with w = x^2. L receives l + nmax (or 0 for an all-zero group).
inline float fit_symmetric_sweeps(int n, int nmax, const float* x, std::int8_t* L) noexcept {
    float amax = 0.0f;
    float max = 0.0f;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < group_max_eps) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.0f;
    }
    const float iscale = static_cast<float>(-nmax) / max;
    float sumlx = 0.0f;
    float suml2 = 0.0f;
    for (int i = 0; i < n; ++i) {
        const int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = static_cast<std::int8_t>(l);
        const float w = x[i] * x[i];
        sumlx += mul(w * x[i], static_cast<float>(l));
        suml2 += mul(w * static_cast<float>(l), static_cast<float>(l));
    }
    for (int sweep = 0; sweep < 5; ++sweep) {
        int changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = x[i] * x[i];
            const float li = static_cast<float>(L[i]);
            float slx = sumlx - mul(w * x[i], li);
            if (!(slx > 0.0f)) continue;
            float sl2 = suml2 - mul(w * li, li);
            const int nl = clamp_int(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
            if (nl == L[i]) continue;
            slx += mul(w * x[i], static_cast<float>(nl));
            sl2 += mul(w * static_cast<float>(nl), static_cast<float>(nl));
            if (sl2 > 0.0f && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = static_cast<std::int8_t>(nl);
                sumlx = slx;
                suml2 = sl2;
                ++changed;
            }
        }
        if (changed == 0) break;
    }
    for (int i = 0; i < n; ++i) L[i] = static_cast<std::int8_t>(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// Affine codes l in [0, nmax] with x ~ scale * l + min, min <= 0: start from
// the min/max grid, then for nstep+1 candidate inverse scales solve the
// weighted least-squares (scale, min) for the rounded codes and keep the one
// with the smallest weighted error (|err| when use_mad, err^2 otherwise).
// This is ggml's make_qkx2_quants; make_qkx3_quants is the same computation
// whenever weights are given, which is every use ggml makes of it.
// Writes -min to *neg_min.
inline float fit_affine(int n, int nmax, const float* x, const float* weights, std::uint8_t* L, std::uint8_t* Laux,
                        float* neg_min, float rmin, float rdelta, int nstep, bool use_mad,
                        search_rounding* rounding = nullptr) noexcept {
    float min = x[0];
    float max = x[0];
    float sum_w = weights[0];
    float sum_x = mul(sum_w, x[0]);
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += weights[i];
        sum_x += mul(weights[i], x[i]);
    }
    if (min > 0.0f) min = 0.0f;
    if (max == min) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        *neg_min = -min;
        if (rounding) *rounding = search_rounding{};
        return 0.0f;
    }
    auto error_of = [&](float s, float m, const std::uint8_t* codes) {
        float err = 0.0f;
        for (int i = 0; i < n; ++i) {
            float diff = mul(s, static_cast<float>(codes[i])) + m - x[i];
            diff = use_mad ? std::fabs(diff) : diff * diff;
            err += mul(weights[i], diff);
        }
        return err;
    };

    float iscale = static_cast<float>(nmax) / (max - min);
    float scale = 1.0f / iscale;
    for (int i = 0; i < n; ++i) {
        L[i] = static_cast<std::uint8_t>(clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax));
    }
    float best_error = error_of(scale, min, L);
    search_rounding codes_from{iscale, min, false};
    if (nstep < 1) {
        *neg_min = -min;
        if (rounding) *rounding = codes_from;
        return scale;
    }
    for (int step = 0; step <= nstep; ++step) {
        iscale = (rmin + mul(rdelta, static_cast<float>(step)) + static_cast<float>(nmax)) / (max - min);
        float sum_l = 0.0f;
        float sum_l2 = 0.0f;
        float sum_xl = 0.0f;
        for (int i = 0; i < n; ++i) {
            const int l = clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = static_cast<std::uint8_t>(l);
            const float fl = static_cast<float>(l);
            const float w = weights[i];
            sum_l += mul(w, fl);
            sum_l2 += mul(w * fl, fl);
            sum_xl += mul(w * fl, x[i]);
        }
        const float det = mul(sum_w, sum_l2) - mul(sum_l, sum_l);
        if (!(det > 0.0f)) continue;
        float this_scale = (mul(sum_w, sum_xl) - mul(sum_x, sum_l)) / det;
        float this_min = (mul(sum_l2, sum_x) - mul(sum_l, sum_xl)) / det;
        if (this_min > 0.0f) {
            this_min = 0.0f;
            this_scale = sum_xl / sum_l2;
        }
        const float err = error_of(this_scale, this_min, Laux);
        if (err < best_error) {
            for (int i = 0; i < n; ++i) L[i] = Laux[i];
            codes_from = search_rounding{iscale, min, false};  // min before this step's update: the one Laux used
            best_error = err;
            scale = this_scale;
            min = this_min;
        }
    }
    *neg_min = -min;
    if (rounding) *rounding = codes_from;
    return scale;
}

// Non-negative values (sub-block scales or mins) to codes in [0, nmax] with a
// weighted MSE search over 8 nearby scales, then code sweeps as in Q3_K (ggml's
// make_qp_quants, used by the importance-matrix K-quants).
inline float fit_positive(int n, int nmax, const float* x, std::uint8_t* L, const float* qw) noexcept {
    float max = 0.0f;
    for (int i = 0; i < n; ++i) max = max > x[i] ? max : x[i];
    if (max < group_max_eps) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.0f;
    }
    float iscale = static_cast<float>(nmax) / max;
    for (int i = 0; i < n; ++i) L[i] = static_cast<std::uint8_t>(nearest_int(iscale * x[i]));
    const float scale = 1.0f / iscale;
    float best_mse = 0.0f;
    for (int i = 0; i < n; ++i) {
        const float diff = x[i] - mul(scale, static_cast<float>(L[i]));
        best_mse += mul(qw[i] * diff, diff);
    }
    for (int step = -4; step <= 4; ++step) {
        if (step == 0) continue;
        const float iscale_try = (mul(0.1f, static_cast<float>(step)) + static_cast<float>(nmax)) / max;
        const float scale_try = 1.0f / iscale_try;
        float mse = 0.0f;
        for (int i = 0; i < n; ++i) {
            const int l = std::min(nmax, nearest_int(iscale_try * x[i]));
            const float diff = x[i] - mul(scale_try, static_cast<float>(l));
            mse += mul(qw[i] * diff, diff);
        }
        if (mse < best_mse) {
            best_mse = mse;
            iscale = iscale_try;
        }
    }
    float sumlx = 0.0f;
    float suml2 = 0.0f;
    for (int i = 0; i < n; ++i) {
        const int l = std::min(nmax, nearest_int(iscale * x[i]));
        L[i] = static_cast<std::uint8_t>(l);
        const float w = qw[i];
        sumlx += mul(w * x[i], static_cast<float>(l));
        suml2 += mul(w * static_cast<float>(l), static_cast<float>(l));
    }
    for (int sweep = 0; sweep < 5; ++sweep) {
        int changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = qw[i];
            const float li = static_cast<float>(L[i]);
            float slx = sumlx - mul(w * x[i], li);
            float sl2 = suml2 - mul(w * li, li);
            if (!(slx > 0.0f && sl2 > 0.0f)) continue;
            const int nl = std::min(nmax, nearest_int(x[i] * sl2 / slx));
            if (nl == L[i]) continue;
            slx += mul(w * x[i], static_cast<float>(nl));
            sl2 += mul(w * static_cast<float>(nl), static_cast<float>(nl));
            if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = static_cast<std::uint8_t>(nl);
                sumlx = slx;
                suml2 = sl2;
                ++changed;
            }
        }
        if (changed == 0) break;
    }
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// ---- bit packing shared by several K-quants (docs/formats.md) ----------------------

// Four 2-bit codes per byte: within each half (128 values), byte l holds
// values l, l+32, l+64, l+96 from the lowest bits up. Used by Q2_K and Q3_K.
inline void pack_2bit_k(const std::uint8_t* L, std::uint8_t* qs) noexcept {
    for (int half = 0; half < 2; ++half) {
        const std::uint8_t* src = L + 128 * half;
        for (int l = 0; l < 32; ++l) {
            qs[32 * half + l] = static_cast<std::uint8_t>(src[l] | (src[l + 32] << 2) | (src[l + 64] << 4) | (src[l + 96] << 6));
        }
    }
}

// Eight 6-bit scales and eight 6-bit mins in 12 bytes (Q4_K, Q5_K): bytes 0-3
// hold scales 0-3, bytes 4-7 mins 0-3, each with two spare top bits that carry
// the high bits of scales/mins 4-7, whose low nibbles fill bytes 8-11.
inline void pack_scales_k4(const std::uint8_t* sc, const std::uint8_t* mn, std::uint8_t* out) noexcept {
    for (int j = 0; j < 4; ++j) {
        out[j] = static_cast<std::uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
        out[j + 4] = static_cast<std::uint8_t>(mn[j] | ((mn[j + 4] >> 4) << 6));
        out[j + 8] = static_cast<std::uint8_t>((sc[j + 4] & 0x0f) | ((mn[j + 4] & 0x0f) << 4));
    }
}

inline void unpack_scale_k4(int j, const std::uint8_t* in, std::uint8_t* sc, std::uint8_t* mn) noexcept {
    if (j < 4) {
        *sc = static_cast<std::uint8_t>(in[j] & 63);
        *mn = static_cast<std::uint8_t>(in[j + 4] & 63);
    } else {
        *sc = static_cast<std::uint8_t>((in[j + 4] & 0x0f) | ((in[j - 4] >> 6) << 4));
        *mn = static_cast<std::uint8_t>((in[j + 4] >> 4) | ((in[j] >> 6) << 4));
    }
}

// Sixteen 6-bit scales in 12 bytes (Q3_K): low nibbles of scales 0-7 and 8-15
// share bytes 0-7 (low, high nibble); the high two bits go to bytes 8-11,
// scale j at bit 2*(j/4) of byte 8 + j%4.
inline void pack_scales_q3(const int* six_bit, std::uint8_t* out) noexcept {
    std::memset(out, 0, 12);
    for (int j = 0; j < 16; ++j) {
        const unsigned v = static_cast<unsigned>(six_bit[j]) & 63u;
        if (j < 8) {
            out[j] = static_cast<std::uint8_t>(v & 0x0f);
        } else {
            out[j - 8] = static_cast<std::uint8_t>(out[j - 8] | ((v & 0x0f) << 4));
        }
        out[8 + j % 4] = static_cast<std::uint8_t>(out[8 + j % 4] | ((v >> 4) << (2 * (j / 4))));
    }
}

inline int unpack_scale_q3(int j, const std::uint8_t* in) noexcept {
    const int low = j < 8 ? (in[j] & 0x0f) : (in[j - 8] >> 4);
    const int high = (in[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (low | (high << 4)) - 32;
}

// ---- a block's grid: the scale choice and the coding of one value, apart --------------
// ggml's quantizers choose a block's scales (and mins) from its values, then code
// each value on them. GPTQ on these formats (algo/gptq_gguf.hpp) needs the two
// steps apart: it fixes a block's grid from the weights as they are when its
// sweep reaches the block, then codes each weight after the error updates of the
// columns before it. block_grid is that fixed grid: the rule ggml applies to
// turn a value into a code, and what the decoder makes of a code. Every encoder
// below is choose_grid + code_on_grid per value + store_codes, so the split
// cannot drift from the bytes ggml writes.
enum class code_rule : std::uint8_t {
    truncate,     // legacy reference types: trunc(mul(x - off, inv) + add) (ggml adds 8.5, 16.5 or 0.5)
    round_away,   // Q8_0: roundf(x * inv)
    nearest_mul,  // the importance searches: nearest_int(inv * (x - off)) with the search's own inv
    nearest_div,  // K-quants: nearest_int((x - off) / inv) with inv the stored sub-block scale
};

struct block_grid {
    code_rule rule = code_rule::nearest_mul;
    int width = 32;       // values per sub-block (one scale)
    int lo = 0, hi = 15;  // the rounded integer is clamped to [lo, hi] and stored as that + bias
    int bias = 0;
    float add = 0.0f;     // the truncate rule's constant
    bool affine = false;  // value = mul(dl, code - vbias) + ml, else (code - vbias) * dl: the decoders' shapes
    int vbias = 0;
    // Per sub-block; left uninitialised (a block is encoded millions of times):
    // choose_grid writes every entry that code_on_grid and value_on_grid read.
    float inv[16], off[16], dl[16], ml[16];
    bool keep[16];            // a zero scale: ggml keeps the search's codes (they do not change the value)
    std::uint8_t kept[qk_k];  // the search's codes, read only where keep is set
};

// Keeps |v| inside the range where nearest_int is exact. A no-op for every value
// ggml itself codes (those land within one step of the grid); it only matters
// for the GPTQ-updated values that fall far outside a block's range.
inline float clamp_for_rounding(float v, int lo, int hi) noexcept {
    const float a = static_cast<float>(lo - 1), b = static_cast<float>(hi + 1);
    return v < a ? a : (v > b ? b : v);
}

// The code ggml would store for value x at position i of the block. Clamped to
// the type's range (ggml's own clamps, or none where its values cannot leave it).
inline int code_on_grid(const block_grid& g, int i, float x) noexcept {
    const int s = i / g.width;
    if (g.keep[s]) return g.kept[i];
    int v = 0;
    switch (g.rule) {
        case code_rule::truncate: v = truncate_to_int(mul(x - g.off[s], g.inv[s]) + g.add); break;
        case code_rule::round_away: v = truncate_to_int(std::round(x * g.inv[s])); break;
        case code_rule::nearest_mul: v = nearest_int(clamp_for_rounding(g.inv[s] * (x - g.off[s]), g.lo, g.hi)); break;
        case code_rule::nearest_div: v = nearest_int(clamp_for_rounding((x - g.off[s]) / g.inv[s], g.lo, g.hi)); break;
    }
    return clamp_int(v, g.lo, g.hi) + g.bias;
}

// The float the type's decoder reads back for `code` at position i (the same
// expression as decode() below, so the two agree to the bit).
inline float value_on_grid(const block_grid& g, int i, int code) noexcept {
    const int s = i / g.width;
    const float c = static_cast<float>(code - g.vbias);
    return g.affine ? mul(g.dl[s], c) + g.ml[s] : mul(c, g.dl[s]);  // mul: never fused into the caller's arithmetic
}

inline void one_scale_grid(block_grid& g, code_rule rule, int lo, int hi, int bias, float add, float inv, float off) noexcept {
    g.rule = rule;
    g.width = 32;
    g.lo = lo;
    g.hi = hi;
    g.bias = bias;
    g.add = add;
    g.inv[0] = inv;
    g.off[0] = off;
    g.keep[0] = false;
}
inline void keep_search_codes(block_grid& g, const search_rounding& r, const std::uint8_t* L, int n) noexcept {
    g.keep[0] = r.all_zero;
    for (int i = 0; i < n; ++i) g.kept[i] = L[i];
}

// ---- legacy blocks (docs/formats.md, "Q4_0 … Q8_1") ---------------------------------

// Fifth bits of 32 codes into the little-endian 32-bit word qh.
inline void store_high_bits(std::uint32_t word, std::uint8_t* qh) noexcept {
    for (int b = 0; b < 4; ++b) qh[b] = static_cast<std::uint8_t>(word >> (8 * b));
}
inline std::uint32_t load_high_bits(const std::uint8_t* qh) noexcept {
    return static_cast<std::uint32_t>(qh[0]) | (static_cast<std::uint32_t>(qh[1]) << 8) |
           (static_cast<std::uint32_t>(qh[2]) << 16) | (static_cast<std::uint32_t>(qh[3]) << 24);
}

// The signed value of largest magnitude (first one wins) — the legacy
// symmetric types put it at code 0, i.e. at -8 or -16.
inline float signed_absmax(const float* x, int n) noexcept {
    float amax = 0.0f;
    float max = 0.0f;
    for (int j = 0; j < n; ++j) {
        if (amax < std::fabs(x[j])) {
            amax = std::fabs(x[j]);
            max = x[j];
        }
    }
    return max;
}

inline void min_max(const float* x, int n, float* lo, float* hi) noexcept {
    float mn = 3.40282347e+38f;
    float mx = -3.40282347e+38f;
    for (int j = 0; j < n; ++j) {
        if (x[j] < mn) mn = x[j];
        if (x[j] > mx) mx = x[j];
    }
    *lo = mn;
    *hi = mx;
}

// Q5 code pair -> nibble byte and two bits of the high-bit word.
inline void put_q5_pair(int j, unsigned a, unsigned b, std::uint8_t* qs, std::uint32_t& word) noexcept {
    qs[j] = static_cast<std::uint8_t>((a & 0x0fu) | ((b & 0x0fu) << 4));
    word |= ((a >> 4) & 1u) << j;
    word |= ((b >> 4) & 1u) << (j + 16);
}

// Q8_1: d = absmax / 127, q = round(x / d) with halves away from zero (C's roundf),
// as Q8_0's grid below.
inline float encode_q8(const float* x, std::int8_t* qs) noexcept {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < 32; ++j) qs[j] = static_cast<std::int8_t>(truncate_to_int(std::round(x[j] * id)));
    return d;
}

inline void encode(const float* x, block_q8_1& y) noexcept {
    const float d = encode_q8(x, y.qs);
    y.d = to_f16(d);
    int sum = 0;
    for (int j = 0; j < 32; ++j) sum += y.qs[j];
    y.s = to_f16(static_cast<float>(sum) * d);
}

inline void decode(const block_q4_0& b, float* y) noexcept {
    const float d = to_f32(b.d);
    for (int j = 0; j < 16; ++j) {
        y[j] = static_cast<float>((b.qs[j] & 0x0f) - 8) * d;
        y[j + 16] = static_cast<float>((b.qs[j] >> 4) - 8) * d;
    }
}

inline void decode(const block_q4_1& b, float* y) noexcept {
    const float d = to_f32(b.d);
    const float m = to_f32(b.m);
    for (int j = 0; j < 16; ++j) {
        y[j] = mul(static_cast<float>(b.qs[j] & 0x0f), d) + m;
        y[j + 16] = mul(static_cast<float>(b.qs[j] >> 4), d) + m;
    }
}

inline int q5_code(const std::uint8_t* qs, std::uint32_t word, int j) noexcept {
    const int nib = j < 16 ? (qs[j] & 0x0f) : (qs[j - 16] >> 4);
    return nib | static_cast<int>(((word >> j) & 1u) << 4);
}

inline void decode(const block_q5_0& b, float* y) noexcept {
    const float d = to_f32(b.d);
    const std::uint32_t word = load_high_bits(b.qh);
    for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(q5_code(b.qs, word, j) - 16) * d;
}

inline void decode(const block_q5_1& b, float* y) noexcept {
    const float d = to_f32(b.d);
    const float m = to_f32(b.m);
    const std::uint32_t word = load_high_bits(b.qh);
    for (int j = 0; j < 32; ++j) y[j] = mul(static_cast<float>(q5_code(b.qs, word, j)), d) + m;
}

inline void decode(const block_q8_0& b, float* y) noexcept {
    const float d = to_f32(b.d);
    for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(b.qs[j]) * d;
}

// ggml has no dequantizer for Q8_1 (it only feeds dot products); this one
// reads the block by its definition, x = d * q.
inline void decode(const block_q8_1& b, float* y) noexcept {
    const float d = to_f32(b.d);
    for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(b.qs[j]) * d;
}

// ---- legacy blocks with an importance matrix (ggml's quantize_q*_*_impl) ---------
// sigma2 is the mean square of the whole row; each value's weight is
// qw * sqrt(sigma2 + x^2).
inline float row_mean_square(const float* x, std::int64_t n) noexcept {
    float sum = 0.0f;
    for (std::int64_t j = 0; j < n; ++j) sum += mul(x[j], x[j]);
    return sum / static_cast<float>(n);
}

inline void importance(const float* x, const float* qw, float sigma2, int n, float* w) noexcept {
    for (int j = 0; j < n; ++j) w[j] = mul(qw[j], std::sqrt(sigma2 + mul(x[j], x[j])));
}

// Legacy blocks on a grid. qw == nullptr: ggml's reference quantizer
// (quantize_row_*_ref); otherwise its importance path with the row's sigma2.
inline void choose_grid_symmetric(const float* x, const float* qw, float sigma2, int nmax, std::uint16_t& d16, block_grid& g) noexcept {
    if (!qw) {
        const float d = signed_absmax(x, 32) / static_cast<float>(-nmax);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        d16 = to_f16(d);
        one_scale_grid(g, code_rule::truncate, 0, 2 * nmax - 1, 0, static_cast<float>(nmax) + 0.5f, id, 0.0f);
    } else {
        float w[32];
        std::int8_t L[32];
        search_rounding r;
        importance(x, qw, sigma2, 32, w);
        d16 = to_f16(fit_symmetric(32, nmax, x, L, w, &r));
        one_scale_grid(g, code_rule::nearest_mul, -nmax, nmax - 1, nmax, 0.0f, r.inv, r.off);
        keep_search_codes(g, r, reinterpret_cast<const std::uint8_t*>(L), 32);
    }
    g.affine = false;
    g.vbias = nmax;
    g.dl[0] = to_f32(d16);
}

inline void choose_grid_affine(const float* x, const float* qw, float sigma2, int nmax, std::uint16_t& d16, std::uint16_t& m16,
                               block_grid& g) noexcept {
    if (!qw) {
        float lo, hi;
        min_max(x, 32, &lo, &hi);
        const float d = (hi - lo) / static_cast<float>(nmax);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        d16 = to_f16(d);
        m16 = to_f16(lo);
        one_scale_grid(g, code_rule::truncate, 0, nmax, 0, 0.5f, id, lo);
    } else {
        float w[32];
        std::uint8_t L[32], Laux[32];
        search_rounding r;
        importance(x, qw, sigma2, 32, w);
        float neg_min;
        const float d = fit_affine(32, nmax, x, w, L, Laux, &neg_min, -0.9f, 0.05f, 36, false, &r);
        d16 = to_f16(d);
        m16 = to_f16(-neg_min);
        one_scale_grid(g, code_rule::nearest_mul, 0, nmax, 0, 0.0f, r.inv, r.off);
        keep_search_codes(g, r, L, 32);
    }
    g.affine = true;
    g.vbias = 0;
    g.dl[0] = to_f32(d16);
    g.ml[0] = to_f32(m16);
}

inline void choose_grid(const float* x, const float* qw, float sigma2, block_q4_0& y, block_grid& g) noexcept {
    choose_grid_symmetric(x, qw, sigma2, 8, y.d, g);
}
inline void choose_grid(const float* x, const float* qw, float sigma2, block_q5_0& y, block_grid& g) noexcept {
    choose_grid_symmetric(x, qw, sigma2, 16, y.d, g);
}
inline void choose_grid(const float* x, const float* qw, float sigma2, block_q4_1& y, block_grid& g) noexcept {
    choose_grid_affine(x, qw, sigma2, 15, y.d, y.m, g);
}
inline void choose_grid(const float* x, const float* qw, float sigma2, block_q5_1& y, block_grid& g) noexcept {
    choose_grid_affine(x, qw, sigma2, 31, y.d, y.m, g);
}
// Q8_0: d = absmax / 127, q = round(x / d) with halves away from zero (C's roundf);
// ggml ignores importance weights for it.
inline void choose_grid(const float* x, const float*, float, block_q8_0& y, block_grid& g) noexcept {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y.d = to_f16(d);
    one_scale_grid(g, code_rule::round_away, -127, 127, 0, 0.0f, id, 0.0f);
    g.affine = false;
    g.vbias = 0;
    g.dl[0] = to_f32(y.d);
}

inline void store_codes(const std::uint8_t* L, block_q4_0& y) noexcept {
    for (int j = 0; j < 16; ++j) y.qs[j] = static_cast<std::uint8_t>(L[j] | (L[j + 16] << 4));
}
inline void store_codes(const std::uint8_t* L, block_q4_1& y) noexcept {
    for (int j = 0; j < 16; ++j) y.qs[j] = static_cast<std::uint8_t>(L[j] | (L[j + 16] << 4));
}
inline void store_codes(const std::uint8_t* L, block_q5_0& y) noexcept {
    std::uint32_t word = 0;
    for (int j = 0; j < 16; ++j) put_q5_pair(j, L[j], L[j + 16], y.qs, word);
    store_high_bits(word, y.qh);
}
inline void store_codes(const std::uint8_t* L, block_q5_1& y) noexcept {
    std::uint32_t word = 0;
    for (int j = 0; j < 16; ++j) put_q5_pair(j, L[j], L[j + 16], y.qs, word);
    store_high_bits(word, y.qh);
}
inline void store_codes(const std::uint8_t* L, block_q8_0& y) noexcept { std::memcpy(y.qs, L, 32); }  // two's complement bytes

// ---- K-quants (docs/formats.md, "Q2_K … Q8_K") --------------------------------------

// Sum of squares of one 256-value super-block (the K-quants' sigma2 is per super-block).
inline float superblock_sum_squares(const float* x) noexcept {
    float sum = 0.0f;
    for (int j = 0; j < qk_k; ++j) sum += mul(x[j], x[j]);
    return sum;
}

// K-quant grids: the search's codes are kept for sub-blocks whose stored scale
// is zero; every other code is recomputed from the stored (f16, 4/6-bit) scales.
// sc/mn: each sub-block's integer scale and min; x ~ d*sc*q - dmin*mn.
inline void affine_k_grid(block_grid& g, int width, int n_sub, int nmax, std::uint16_t d16, std::uint16_t dmin16, const int* sc,
                          const int* mn) noexcept {
    const float d_all = to_f32(d16);
    const float m_all = to_f32(dmin16);
    g.rule = code_rule::nearest_div;
    g.width = width;
    g.lo = 0;
    g.hi = nmax;
    g.bias = 0;
    g.affine = true;
    g.vbias = 0;
    for (int j = 0; j < n_sub; ++j) {
        const float d = d_all * static_cast<float>(sc[j]);
        const float dm = m_all * static_cast<float>(mn[j]);
        g.keep[j] = d == 0.0f;
        g.inv[j] = d;
        g.off[j] = -dm;  // (x - off) is ggml's (x + dm), exactly
        g.dl[j] = d;
        g.ml[j] = -dm;   // mul(dl, q) + (-dm) is the decoder's mul(dl, q) - dm, exactly
    }
}
// Q3_K, Q6_K: x ~ d*sc*(q - bias), one signed integer scale per sub-block of 16.
inline void symmetric_k_grid(block_grid& g, int lo, int hi, std::uint16_t d16, const int* sc) noexcept {
    const float d_all = to_f32(d16);
    g.rule = code_rule::nearest_div;
    g.width = 16;
    g.lo = lo;
    g.hi = hi;
    g.bias = -lo;
    g.affine = false;
    g.vbias = -lo;
    for (int j = 0; j < 16; ++j) {
        const float d = d_all * static_cast<float>(sc[j]);
        g.keep[j] = d == 0.0f;
        g.inv[j] = d;
        g.off[j] = 0.0f;
        g.dl[j] = d;
    }
}

inline void choose_grid(const float* x, const float* qw, float, block_q2_K& y, block_grid& g) noexcept {
    std::uint8_t* L = g.kept;
    std::uint8_t Laux[16];
    float w[16], mins[16], scales[16];
    if (!qw) {
        float max_scale = 0.0f;
        float max_min = 0.0f;
        for (int j = 0; j < 16; ++j) {
            for (int l = 0; l < 16; ++l) w[l] = std::fabs(x[16 * j + l]);
            scales[j] = fit_affine(16, 3, x + 16 * j, w, L + 16 * j, Laux, &mins[j], -0.5f, 0.1f, 15, true);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0.0f) {
            const float iscale = 15.0f / max_scale;
            for (int j = 0; j < 16; ++j) y.scales[j] = static_cast<std::uint8_t>(nearest_int(iscale * scales[j]));
            y.d = to_f16(max_scale / 15.0f);
        } else {
            for (int j = 0; j < 16; ++j) y.scales[j] = 0;
            y.d = to_f16(0.0f);
        }
        if (max_min > 0.0f) {
            const float iscale = 15.0f / max_min;
            for (int j = 0; j < 16; ++j) {
                const unsigned l = static_cast<unsigned>(nearest_int(iscale * mins[j]));
                y.scales[j] = static_cast<std::uint8_t>(y.scales[j] | (l << 4));
            }
            y.dmin = to_f16(max_min / 15.0f);
        } else {
            y.dmin = to_f16(0.0f);
        }
    } else {
        std::uint8_t Ls[16], Lm[16];
        float sw[16];
        const float sigma2 = superblock_sum_squares(x) / static_cast<float>(qk_k);
        for (int j = 0; j < 16; ++j) {
            importance(x + 16 * j, qw + 16 * j, sigma2, 16, w);
            sw[j] = 0.0f;
            for (int l = 0; l < 16; ++l) sw[j] += w[l];
            scales[j] = fit_affine(16, 3, x + 16 * j, w, L + 16 * j, Laux, &mins[j], -0.9f, 0.05f, 36, false);
        }
        y.d = to_f16(fit_positive(16, 15, scales, Ls, sw));
        y.dmin = to_f16(fit_positive(16, 15, mins, Lm, sw));
        for (int j = 0; j < 16; ++j) y.scales[j] = static_cast<std::uint8_t>(Ls[j] | (Lm[j] << 4));
    }
    int sc[16], mn[16];
    for (int j = 0; j < 16; ++j) {
        sc[j] = y.scales[j] & 0x0f;
        mn[j] = y.scales[j] >> 4;
    }
    affine_k_grid(g, 16, 16, 3, y.d, y.dmin, sc, mn);
}
inline void store_codes(const std::uint8_t* L, block_q2_K& y) noexcept { pack_2bit_k(L, y.qs); }

inline void choose_grid(const float* x, const float* qw, float, block_q3_K& y, block_grid& g) noexcept {
    std::int8_t L[qk_k];
    float scales[16];
    if (!qw) {
        float max_scale = 0.0f;  // signed scale of largest magnitude
        float amax = 0.0f;
        for (int j = 0; j < 16; ++j) {
            scales[j] = fit_symmetric_sweeps(16, 4, x + 16 * j, L + 16 * j);
            if (std::fabs(scales[j]) > amax) {
                amax = std::fabs(scales[j]);
                max_scale = scales[j];
            }
        }
        if (max_scale != 0.0f) {
            const float iscale = -32.0f / max_scale;
            int six_bit[16];
            for (int j = 0; j < 16; ++j) {
                const int l = static_cast<std::int8_t>(nearest_int(iscale * scales[j]));  // ggml narrows to int8 first
                six_bit[j] = clamp_int(l, -32, 31) + 32;
            }
            pack_scales_q3(six_bit, y.scales);
            y.d = to_f16(1.0f / iscale);
        } else {
            std::memset(y.scales, 0, sizeof y.scales);
            y.d = to_f16(0.0f);
        }
    } else {
        std::int8_t Ls[16];
        float w[16], sw[16];
        const float sigma2 = 2.0f * superblock_sum_squares(x) / static_cast<float>(qk_k);
        for (int j = 0; j < 16; ++j) {
            importance(x + 16 * j, qw + 16 * j, sigma2, 16, w);
            float sumw = 0.0f;
            for (int l = 0; l < 16; ++l) sumw += w[l];
            sw[j] = sumw;
            scales[j] = fit_symmetric(16, 4, x + 16 * j, L + 16 * j, w);
        }
        const float d_block = fit_symmetric(16, 32, scales, Ls, sw);
        int six_bit[16];
        for (int j = 0; j < 16; ++j) six_bit[j] = Ls[j];
        pack_scales_q3(six_bit, y.scales);
        y.d = to_f16(d_block);
    }
    for (int i = 0; i < qk_k; ++i) g.kept[i] = static_cast<std::uint8_t>(L[i]);
    int sc[16];
    for (int j = 0; j < 16; ++j) sc[j] = unpack_scale_q3(j, y.scales);
    symmetric_k_grid(g, -4, 3, y.d, sc);
}
// The third bits to hmask (value j -> byte j%32, bit j/32), the rest packed.
inline void store_codes(const std::uint8_t* L, block_q3_K& y) noexcept {
    std::uint8_t low[qk_k];
    std::memset(y.hmask, 0, sizeof y.hmask);
    for (int j = 0; j < qk_k; ++j) {
        int l = L[j];
        if (l > 3) {
            y.hmask[j % 32] = static_cast<std::uint8_t>(y.hmask[j % 32] | (1u << (j / 32)));
            l -= 4;
        }
        low[j] = static_cast<std::uint8_t>(l);
    }
    pack_2bit_k(low, y.qs);
}

// Q4_K / Q5_K share the scale stage: eight affine sub-blocks of 32.
// Reference path: weights av_x + |x| with av_x the sub-block's RMS; the
// sub-block scales and mins are then put on 6-bit grids by their maxima.
inline void scales_k_ref(const float* x, int nmax, float rmin, float rdelta, int nstep, std::uint8_t* L, std::uint8_t* packed,
                         std::uint16_t* d, std::uint16_t* dmin) noexcept {
    std::uint8_t Laux[32], ls[8], lm[8];
    float w[32], mins[8], scales[8];
    float max_scale = 0.0f;
    float max_min = 0.0f;
    for (int j = 0; j < 8; ++j) {
        const float* xs = x + 32 * j;
        float sum_x2 = 0.0f;
        for (int l = 0; l < 32; ++l) sum_x2 += mul(xs[l], xs[l]);
        const float av_x = std::sqrt(sum_x2 / 32.0f);
        for (int l = 0; l < 32; ++l) w[l] = av_x + std::fabs(xs[l]);
        scales[j] = fit_affine(32, nmax, xs, w, L + 32 * j, Laux, &mins[j], rmin, rdelta, nstep, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
    for (int j = 0; j < 8; ++j) {  // narrowed to 8 bits before the clamp, as in ggml
        ls[j] = std::min<std::uint8_t>(63, static_cast<std::uint8_t>(nearest_int(inv_scale * scales[j])));
        lm[j] = std::min<std::uint8_t>(63, static_cast<std::uint8_t>(nearest_int(inv_min * mins[j])));
    }
    pack_scales_k4(ls, lm, packed);
    *d = to_f16(max_scale / 63.0f);
    *dmin = to_f16(max_min / 63.0f);
}

// Importance-matrix path: weights qw * sqrt(sigma2 + x^2) with sigma2 twice the
// super-block's mean square, finer search, and fit_positive for the 6-bit grids.
inline void scales_k_weighted(const float* x, const float* qw, int nmax, std::uint8_t* L, std::uint8_t* packed,
                              std::uint16_t* d, std::uint16_t* dmin) noexcept {
    std::uint8_t Laux[32], ls[8], lm[8];
    float w[32], mins[8], scales[8], sw[8];
    const float sigma2 = 2.0f * superblock_sum_squares(x) / static_cast<float>(qk_k);
    for (int j = 0; j < 8; ++j) {
        importance(x + 32 * j, qw + 32 * j, sigma2, 32, w);
        float sumw = 0.0f;
        for (int l = 0; l < 32; ++l) sumw += w[l];
        sw[j] = sumw;
        scales[j] = fit_affine(32, nmax, x + 32 * j, w, L + 32 * j, Laux, &mins[j], -0.9f, 0.05f, 36, false);
    }
    const float d_block = fit_positive(8, 63, scales, ls, sw);
    const float m_block = fit_positive(8, 63, mins, lm, sw);
    for (int j = 0; j < 8; ++j) {
        ls[j] = std::min<std::uint8_t>(63, ls[j]);
        lm[j] = std::min<std::uint8_t>(63, lm[j]);
    }
    pack_scales_k4(ls, lm, packed);
    *d = to_f16(d_block);
    *dmin = to_f16(m_block);
}

// Q4_K (nmax 15) and Q5_K (nmax 31); the reference searches differ in their ranges.
template <class B>
inline void choose_grid_k4(const float* x, const float* qw, int nmax, float rmin, float rdelta, int nstep, B& y, block_grid& g) noexcept {
    if (!qw) scales_k_ref(x, nmax, rmin, rdelta, nstep, g.kept, y.scales, &y.d, &y.dmin);
    else scales_k_weighted(x, qw, nmax, g.kept, y.scales, &y.d, &y.dmin);
    int sc[8], mn[8];
    for (int j = 0; j < 8; ++j) {
        std::uint8_t s, m;
        unpack_scale_k4(j, y.scales, &s, &m);
        sc[j] = s;
        mn[j] = m;
    }
    affine_k_grid(g, 32, 8, nmax, y.d, y.dmin, sc, mn);
}
inline void choose_grid(const float* x, const float* qw, float, block_q4_K& y, block_grid& g) noexcept {
    choose_grid_k4(x, qw, 15, -1.0f, 0.1f, 20, y, g);
}
inline void choose_grid(const float* x, const float* qw, float, block_q5_K& y, block_grid& g) noexcept {
    choose_grid_k4(x, qw, 31, -0.5f, 0.1f, 15, y, g);
}

// Q4_K nibbles: byte l of chunk c holds value 64c + l (low) and 64c + l + 32 (high).
inline void store_codes(const std::uint8_t* L, block_q4_K& y) noexcept {
    for (int c = 0; c < 4; ++c) {
        for (int l = 0; l < 32; ++l) {
            y.qs[32 * c + l] = static_cast<std::uint8_t>(L[64 * c + l] | (L[64 * c + l + 32] << 4));
        }
    }
}

// Q5_K: nibbles as Q4_K; fifth bit of value 64c + l at bit 2c of qh[l], of
// value 64c + l + 32 at bit 2c + 1.
inline void store_codes(const std::uint8_t* L, block_q5_K& y) noexcept {
    std::memset(y.qh, 0, sizeof y.qh);
    for (int c = 0; c < 4; ++c) {
        for (int l = 0; l < 32; ++l) {
            const unsigned a = L[64 * c + l];
            const unsigned b = L[64 * c + l + 32];
            y.qs[32 * c + l] = static_cast<std::uint8_t>((a & 0x0fu) | ((b & 0x0fu) << 4));
            y.qh[l] = static_cast<std::uint8_t>(y.qh[l] | (((a >> 4) & 1u) << (2 * c)) | (((b >> 4) & 1u) << (2 * c + 1)));
        }
    }
}

// Q6_K: ggml's reference and importance paths differ only in the weights handed
// to fit_symmetric (x^2, or the importance values as they are). A block whose
// sub-block scales are all ~0 is stored as zero bytes.
inline void choose_grid(const float* x, const float* qw, float, block_q6_K& y, block_grid& g) noexcept {
    std::int8_t L[qk_k];
    float scales[16];
    float max_scale = 0.0f;
    float max_abs = 0.0f;
    for (int j = 0; j < 16; ++j) {
        scales[j] = fit_symmetric(16, 32, x + 16 * j, L + 16 * j, qw ? qw + 16 * j : nullptr);
        if (std::fabs(scales[j]) > max_abs) {
            max_abs = std::fabs(scales[j]);
            max_scale = scales[j];
        }
    }
    int sc[16] = {};
    if (max_abs < group_max_eps) {
        y.d = 0;
        std::memset(y.scales, 0, sizeof y.scales);
        std::memset(L, 0, sizeof L);  // every code 0: with d = 0 the whole block is zero bytes
    } else {
        const float iscale = -128.0f / max_scale;
        y.d = to_f16(1.0f / iscale);
        for (int j = 0; j < 16; ++j) {
            y.scales[j] = static_cast<std::int8_t>(std::min(127, nearest_int(iscale * scales[j])));
            sc[j] = y.scales[j];
        }
    }
    for (int i = 0; i < qk_k; ++i) g.kept[i] = static_cast<std::uint8_t>(L[i]);
    symmetric_k_grid(g, -32, 31, y.d, sc);
}
// Per half of 128: ql[l] = low nibbles of values l (low) and l+64 (high),
// ql[l+32] of l+32 and l+96; qh[l] = the top two bits of l, l+32, l+64, l+96.
inline void store_codes(const std::uint8_t* L, block_q6_K& y) noexcept {
    for (int h = 0; h < 2; ++h) {
        const std::uint8_t* src = L + 128 * h;
        std::uint8_t* ql = y.ql + 64 * h;
        std::uint8_t* qh = y.qh + 32 * h;
        for (int l = 0; l < 32; ++l) {
            const unsigned v0 = src[l];
            const unsigned v1 = src[l + 32];
            const unsigned v2 = src[l + 64];
            const unsigned v3 = src[l + 96];
            ql[l] = static_cast<std::uint8_t>((v0 & 0x0fu) | ((v2 & 0x0fu) << 4));
            ql[l + 32] = static_cast<std::uint8_t>((v1 & 0x0fu) | ((v3 & 0x0fu) << 4));
            qh[l] = static_cast<std::uint8_t>((v0 >> 4) | ((v1 >> 4) << 2) | ((v2 >> 4) << 4) | ((v3 >> 4) << 6));
        }
    }
}

// One block: its grid, each value's code on it, the packed codes.
template <class B>
inline void encode_on_grid(const float* x, const float* qw, float sigma2, B& y) noexcept {
    block_grid g;
    choose_grid(x, qw, sigma2, y, g);
    std::uint8_t L[B::values];
    for (int i = 0; i < B::values; ++i) L[i] = static_cast<std::uint8_t>(code_on_grid(g, i, x[i]));
    store_codes(L, y);
}

inline void encode(const float* x, block_q4_0& y) noexcept { encode_on_grid(x, nullptr, 0.0f, y); }
inline void encode(const float* x, block_q4_1& y) noexcept { encode_on_grid(x, nullptr, 0.0f, y); }
inline void encode(const float* x, block_q5_0& y) noexcept { encode_on_grid(x, nullptr, 0.0f, y); }
inline void encode(const float* x, block_q5_1& y) noexcept { encode_on_grid(x, nullptr, 0.0f, y); }
inline void encode(const float* x, block_q8_0& y) noexcept { encode_on_grid(x, nullptr, 0.0f, y); }
inline void encode_weighted(const float* x, const float* qw, float sigma2, block_q4_0& y) noexcept { encode_on_grid(x, qw, sigma2, y); }
inline void encode_weighted(const float* x, const float* qw, float sigma2, block_q4_1& y) noexcept { encode_on_grid(x, qw, sigma2, y); }
inline void encode_weighted(const float* x, const float* qw, float sigma2, block_q5_0& y) noexcept { encode_on_grid(x, qw, sigma2, y); }
inline void encode_weighted(const float* x, const float* qw, float sigma2, block_q5_1& y) noexcept { encode_on_grid(x, qw, sigma2, y); }
inline void encode(const float* x, block_q2_K& y) noexcept { encode_on_grid(x, nullptr, 0.0f, y); }
inline void encode(const float* x, block_q3_K& y) noexcept { encode_on_grid(x, nullptr, 0.0f, y); }
inline void encode(const float* x, block_q4_K& y) noexcept { encode_on_grid(x, nullptr, 0.0f, y); }
inline void encode(const float* x, block_q5_K& y) noexcept { encode_on_grid(x, nullptr, 0.0f, y); }
inline void encode(const float* x, block_q6_K& y) noexcept { encode_on_grid(x, nullptr, 0.0f, y); }
inline void encode_weighted(const float* x, const float* qw, block_q2_K& y) noexcept { encode_on_grid(x, qw, 0.0f, y); }
inline void encode_weighted(const float* x, const float* qw, block_q3_K& y) noexcept { encode_on_grid(x, qw, 0.0f, y); }
inline void encode_weighted(const float* x, const float* qw, block_q4_K& y) noexcept { encode_on_grid(x, qw, 0.0f, y); }
inline void encode_weighted(const float* x, const float* qw, block_q5_K& y) noexcept { encode_on_grid(x, qw, 0.0f, y); }
inline void encode_weighted(const float* x, const float* qw, block_q6_K& y) noexcept { encode_on_grid(x, qw, 0.0f, y); }

// Q8_K: symmetric 8-bit with scale max / -127 (so the largest magnitude maps to
// -127, never -128), d kept in f32, plus sums of each run of 16 codes.
inline void encode(const float* x, block_q8_K& y) noexcept {
    float max = 0.0f;
    float amax = 0.0f;
    for (int j = 0; j < qk_k; ++j) {
        if (std::fabs(x[j]) > amax) {
            amax = std::fabs(x[j]);
            max = x[j];
        }
    }
    if (amax == 0.0f) {  // ggml leaves bsums untouched here; we zero them
        std::memset(&y, 0, sizeof y);
        return;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < qk_k; ++j) y.qs[j] = static_cast<std::int8_t>(std::min(127, nearest_int(iscale * x[j])));
    for (int g = 0; g < 16; ++g) {
        int sum = 0;
        for (int i = 0; i < 16; ++i) sum += y.qs[16 * g + i];
        y.bsums[g] = static_cast<std::int16_t>(sum);
    }
    y.d = 1.0f / iscale;
}

// Dequantizers: the expression shapes below (which product is formed first,
// product then subtraction) are ggml's, so the floats agree to the bit.
inline void decode(const block_q2_K& b, float* y) noexcept {
    const float d = to_f32(b.d);
    const float dmin = to_f32(b.dmin);
    for (int j = 0; j < 16; ++j) {  // sub-block j: half j/8, byte offset 16*(j%2), shift 2*((j%8)/2)
        const float dl = d * static_cast<float>(b.scales[j] & 0x0f);
        const float ml = dmin * static_cast<float>(b.scales[j] >> 4);
        const std::uint8_t* q = b.qs + 32 * (j / 8) + 16 * (j % 2);
        const int shift = 2 * ((j % 8) / 2);
        for (int l = 0; l < 16; ++l) y[16 * j + l] = mul(dl, static_cast<float>((q[l] >> shift) & 3)) - ml;
    }
}

inline void decode(const block_q3_K& b, float* y) noexcept {
    const float d_all = to_f32(b.d);
    for (int j = 0; j < 16; ++j) {  // sub-block j covers values 16j .. 16j+15
        const float dl = d_all * static_cast<float>(unpack_scale_q3(j, b.scales));
        const std::uint8_t* q = b.qs + 32 * (j / 8) + 16 * (j % 2);
        const int shift = 2 * ((j % 8) / 2);
        for (int l = 0; l < 16; ++l) {
            const int v = 16 * j + l;
            const int low = (q[l] >> shift) & 3;
            const int high = (b.hmask[v % 32] >> (v / 32)) & 1;
            y[v] = dl * static_cast<float>(low - (high ? 0 : 4));
        }
    }
}

inline void decode(const block_q4_K& b, float* y) noexcept {
    const float d = to_f32(b.d);
    const float dmin = to_f32(b.dmin);
    for (int j = 0; j < 8; ++j) {
        std::uint8_t sc, mn;
        unpack_scale_k4(j, b.scales, &sc, &mn);
        const float dl = d * static_cast<float>(sc);
        const float ml = dmin * static_cast<float>(mn);
        const std::uint8_t* q = b.qs + 32 * (j / 2);
        const int shift = 4 * (j % 2);
        for (int l = 0; l < 32; ++l) y[32 * j + l] = mul(dl, static_cast<float>((q[l] >> shift) & 0x0f)) - ml;
    }
}

inline void decode(const block_q5_K& b, float* y) noexcept {
    const float d = to_f32(b.d);
    const float dmin = to_f32(b.dmin);
    for (int j = 0; j < 8; ++j) {
        std::uint8_t sc, mn;
        unpack_scale_k4(j, b.scales, &sc, &mn);
        const float dl = d * static_cast<float>(sc);
        const float ml = dmin * static_cast<float>(mn);
        const std::uint8_t* q = b.qs + 32 * (j / 2);
        const int shift = 4 * (j % 2);
        for (int l = 0; l < 32; ++l) {
            const int code = ((q[l] >> shift) & 0x0f) + (((b.qh[l] >> j) & 1) << 4);
            y[32 * j + l] = mul(dl, static_cast<float>(code)) - ml;
        }
    }
}

inline void decode(const block_q6_K& b, float* y) noexcept {
    const float d = to_f32(b.d);
    for (int v = 0; v < qk_k; ++v) {
        const int h = v / 128;        // half
        const int r = v % 128;        // position inside the half
        const int quarter = r / 32;   // which of the four values sharing ql/qh bytes
        const int l = r % 32;
        const std::uint8_t lbyte = b.ql[64 * h + l + 32 * (quarter & 1)];
        const int low = (quarter < 2) ? (lbyte & 0x0f) : (lbyte >> 4);
        const int high = (b.qh[32 * h + l] >> (2 * quarter)) & 3;
        const int q = (low | (high << 4)) - 32;
        y[v] = d * static_cast<float>(b.scales[v / 16]) * static_cast<float>(q);
    }
}

inline void decode(const block_q8_K& b, float* y) noexcept {
    for (int j = 0; j < qk_k; ++j) y[j] = b.d * static_cast<float>(b.qs[j]);
}

// ---- row drivers --------------------------------------------------------------------
// Blocks (and floats) are read and written through typed pointers: refuse
// addresses C++ cannot use as such, and outputs that overlap their input.
template <class In, class Out>
inline status check_buffers(const char* fn, const In* in, std::size_t in_bytes, const Out* out, std::size_t out_bytes) noexcept {
    if (lowbit::detail::misaligned(in) || lowbit::detail::misaligned(out))
        return status::error(errc::invalid_argument, "%s: input or output pointer is not aligned to its element type", fn);
    if (lowbit::detail::overlaps(in, in_bytes, out, out_bytes))
        return status::error(errc::invalid_argument, "%s: output overlaps the input", fn);
    return status();
}

template <class B>
status quantize_rows(const char* fn, const float* x, B* y, std::int64_t k) noexcept {
    LOWBIT_TRY(check_length(fn, "k", k, B::values));
    LOWBIT_TRY(check_pointers(fn, k, x, y));
    LOWBIT_TRY(check_buffers(fn, x, static_cast<std::size_t>(k) * 4, y, static_cast<std::size_t>(k / B::values) * sizeof(B)));
    LOWBIT_TRY(check_finite(fn, "x", x, k));
    const std::int64_t nb = k / B::values;
    for (std::int64_t i = 0; i < nb; ++i) encode(x + i * B::values, y[i]);
    return status();
}

template <class B>
status dequantize_rows(const char* fn, const B* x, float* y, std::int64_t k) noexcept {
    LOWBIT_TRY(check_length(fn, "k", k, B::values));
    LOWBIT_TRY(check_pointers(fn, k, x, y));
    LOWBIT_TRY(check_buffers(fn, x, static_cast<std::size_t>(k / B::values) * sizeof(B), y, static_cast<std::size_t>(k) * 4));
    const std::int64_t nb = k / B::values;
    for (std::int64_t i = 0; i < nb; ++i) decode(x[i], y + i * B::values);
    return status();
}

// Legacy types: sigma2 over the whole row. K-quants: per super-block, inside encode_weighted.
template <class B>
void encode_legacy_weighted_row(const float* x, const float* qw, std::int64_t n, B* y) noexcept {
    const float sigma2 = row_mean_square(x, n);
    for (std::int64_t i = 0; i < n / B::values; ++i) encode_weighted(x + i * B::values, qw + i * B::values, sigma2, y[i]);
}
template <class B>
void encode_k_weighted_row(const float* x, const float* qw, std::int64_t n, B* y) noexcept {
    for (std::int64_t i = 0; i < n / B::values; ++i) encode_weighted(x + i * B::values, qw + i * B::values, y[i]);
}
inline void encode_weighted_row(const float* x, const float* qw, std::int64_t n, block_q4_0* y) noexcept { encode_legacy_weighted_row(x, qw, n, y); }
inline void encode_weighted_row(const float* x, const float* qw, std::int64_t n, block_q4_1* y) noexcept { encode_legacy_weighted_row(x, qw, n, y); }
inline void encode_weighted_row(const float* x, const float* qw, std::int64_t n, block_q5_0* y) noexcept { encode_legacy_weighted_row(x, qw, n, y); }
inline void encode_weighted_row(const float* x, const float* qw, std::int64_t n, block_q5_1* y) noexcept { encode_legacy_weighted_row(x, qw, n, y); }
inline void encode_weighted_row(const float* x, const float* qw, std::int64_t n, block_q2_K* y) noexcept { encode_k_weighted_row(x, qw, n, y); }
inline void encode_weighted_row(const float* x, const float* qw, std::int64_t n, block_q3_K* y) noexcept { encode_k_weighted_row(x, qw, n, y); }
inline void encode_weighted_row(const float* x, const float* qw, std::int64_t n, block_q4_K* y) noexcept { encode_k_weighted_row(x, qw, n, y); }
inline void encode_weighted_row(const float* x, const float* qw, std::int64_t n, block_q5_K* y) noexcept { encode_k_weighted_row(x, qw, n, y); }
inline void encode_weighted_row(const float* x, const float* qw, std::int64_t n, block_q6_K* y) noexcept { encode_k_weighted_row(x, qw, n, y); }
// Q8_0 ignores importance weights in ggml.
inline void encode_weighted_row(const float* x, const float*, std::int64_t n, block_q8_0* y) noexcept {
    for (std::int64_t i = 0; i < n / 32; ++i) encode(x + 32 * i, y[i]);
}

// Importance-matrix quantization of nrow rows of n_per_row values; the weights
// (n_per_row of them) apply to every row. Without weights it is the reference
// quantizer over all rows, as in ggml.
template <class B>
status quantize_weighted_rows(const char* fn, const float* src, B* dst, std::int64_t nrow, std::int64_t n_per_row,
                              const float* qw) noexcept {
    if (nrow < 0) return status::error(errc::invalid_argument, "%s: nrow = %lld is negative", fn, static_cast<long long>(nrow));
    LOWBIT_TRY(check_length(fn, "n_per_row", n_per_row, B::values));
    if (n_per_row > 0 && nrow > max_values / n_per_row)
        return status::error(errc::invalid_argument, "%s: nrow * n_per_row = %lld * %lld overflows (limit %lld values)", fn,
                             static_cast<long long>(nrow), static_cast<long long>(n_per_row),
                             static_cast<long long>(max_values));
    const std::int64_t total = nrow * n_per_row;
    LOWBIT_TRY(check_pointers(fn, total, src, dst));
    LOWBIT_TRY(check_buffers(fn, src, static_cast<std::size_t>(total) * 4, dst, static_cast<std::size_t>(total / B::values) * sizeof(B)));
    if (qw && lowbit::detail::misaligned(qw)) return status::error(errc::invalid_argument, "%s: quant_weights is not float aligned", fn);
    LOWBIT_TRY(check_finite(fn, "src", src, total));
    if (qw == nullptr) {
        const std::int64_t nb = total / B::values;
        for (std::int64_t i = 0; i < nb; ++i) encode(src + i * B::values, dst[i]);
        return status();
    }
    LOWBIT_TRY(check_finite(fn, "quant_weights", qw, n_per_row));
    const std::int64_t nb = n_per_row / B::values;
    for (std::int64_t r = 0; r < nrow; ++r) {
        const float* x = src + r * n_per_row;
        B* y = dst + r * nb;
        encode_weighted_row(x, qw, n_per_row, y);
    }
    return status();
}

}  // namespace detail

// ---- public API -------------------------------------------------------------------
// quantize_row_<t>(x, y, k): k values (a multiple of the block size) -> k / block
//   blocks, the bytes of ggml's quantize_row_<t>_ref.
// quantize_<t>(src, dst, nrow, n_per_row, quant_weights): ggml's quantize_<t>; with
//   quant_weights (an imatrix row of n_per_row values, or nullptr) for the types
//   where ggml uses them. Rows are contiguous in both src and dst.
// dequantize_row_<t>(x, y, k): the floats of ggml's dequantize_row_<t>.
// All return a status: k not a multiple of the block, a null pointer, or a NaN/Inf
// input is an error, and then nothing has been written.

#define LOWBIT_GGUF_ROW_CODECS(t)                                                                     \
    inline status quantize_row_##t(const float* x, block_##t* y, std::int64_t k) noexcept {           \
        return detail::quantize_rows("gguf::quantize_row_" #t, x, y, k);                                \
    }                                                                                                   \
    inline status dequantize_row_##t(const block_##t* x, float* y, std::int64_t k) noexcept {         \
        return detail::dequantize_rows("gguf::dequantize_row_" #t, x, y, k);                            \
    }
#define LOWBIT_GGUF_WEIGHTED(t)                                                                         \
    inline status quantize_##t(const float* src, block_##t* dst, std::int64_t nrow, std::int64_t n_per_row, \
                               const float* quant_weights) noexcept {                                   \
        return detail::quantize_weighted_rows("gguf::quantize_" #t, src, dst, nrow, n_per_row, quant_weights); \
    }

LOWBIT_GGUF_ROW_CODECS(q4_0)
LOWBIT_GGUF_ROW_CODECS(q4_1)
LOWBIT_GGUF_ROW_CODECS(q5_0)
LOWBIT_GGUF_ROW_CODECS(q5_1)
LOWBIT_GGUF_ROW_CODECS(q8_0)
LOWBIT_GGUF_ROW_CODECS(q8_1)
LOWBIT_GGUF_ROW_CODECS(q2_K)
LOWBIT_GGUF_ROW_CODECS(q3_K)
LOWBIT_GGUF_ROW_CODECS(q4_K)
LOWBIT_GGUF_ROW_CODECS(q5_K)
LOWBIT_GGUF_ROW_CODECS(q6_K)
LOWBIT_GGUF_ROW_CODECS(q8_K)
LOWBIT_GGUF_WEIGHTED(q4_0)
LOWBIT_GGUF_WEIGHTED(q4_1)
LOWBIT_GGUF_WEIGHTED(q5_0)
LOWBIT_GGUF_WEIGHTED(q5_1)
LOWBIT_GGUF_WEIGHTED(q8_0)
LOWBIT_GGUF_WEIGHTED(q2_K)
LOWBIT_GGUF_WEIGHTED(q3_K)
LOWBIT_GGUF_WEIGHTED(q4_K)
LOWBIT_GGUF_WEIGHTED(q5_K)
LOWBIT_GGUF_WEIGHTED(q6_K)

#undef LOWBIT_GGUF_ROW_CODECS
#undef LOWBIT_GGUF_WEIGHTED

}  // namespace gguf
}  // namespace lowbit

// The types with a header of their own (each includes this file first; see
// gguf_block_rows.hpp for why that order works whichever is included first).
#include "gguf_iq1_encode.hpp"
#include "gguf_iq2_encode.hpp"
#include "gguf_iq3_encode.hpp"
#include "gguf_iq_lattice.hpp"
#include "gguf_iquants.hpp"
#include "gguf_mxfp4.hpp"
#include "gguf_ternary.hpp"

namespace lowbit {
namespace gguf {

// ---- runtime dispatch (the tools' twin: a switch onto the typed functions) -----------

// True when quantize_row / dequantize_row handle type t.
constexpr bool has_row_codec(gguf_type t) noexcept {
    switch (t) {
        case gguf_type::f32: case gguf_type::f16: case gguf_type::bf16:
        case gguf_type::q4_0: case gguf_type::q4_1: case gguf_type::q5_0: case gguf_type::q5_1:
        case gguf_type::q8_0: case gguf_type::q8_1: case gguf_type::q2_K: case gguf_type::q3_K:
        case gguf_type::q4_K: case gguf_type::q5_K: case gguf_type::q6_K: case gguf_type::q8_K:
        case gguf_type::iq4_nl: case gguf_type::iq4_xs: case gguf_type::tq1_0: case gguf_type::tq2_0:
        case gguf_type::mxfp4: case gguf_type::iq3_xxs: case gguf_type::iq3_s: case gguf_type::iq2_s:
        case gguf_type::iq2_xs: case gguf_type::iq2_xxs: case gguf_type::iq1_s:  // quantize() only, with weights
        case gguf_type::iq1_m:
            return true;
        default:
            return false;
    }
}

// True for the types ggml quantizes only with an importance matrix (llama.cpp's
// ggml_quantize_requires_imatrix): quantize_row refuses them, quantize needs weights.
constexpr bool requires_imatrix(gguf_type t) noexcept {
    return t == gguf_type::iq2_xxs || t == gguf_type::iq2_xs || t == gguf_type::iq1_s;
}

// True when dequantize_row handles type t. Today the same set as
// has_row_codec; callers that only read ask this, so that a type lowbit can
// read before it can write stays readable.
constexpr bool has_row_decoder(gguf_type t) noexcept { return has_row_codec(t); }

// Bytes that k values of type t occupy (k a multiple of the block size), 0 for an unknown type.
constexpr std::int64_t row_size(gguf_type t, std::int64_t k) noexcept {
    return type_block_size(t) == 0 ? 0
                                   : k / static_cast<std::int64_t>(type_block_size(t)) * static_cast<std::int64_t>(type_size(t));
}

namespace detail {
inline status plain_rows(gguf_type t, const float* x, void* y, std::int64_t k, const char* fn) noexcept {
    LOWBIT_TRY(check_length(fn, "k", k, 1));
    LOWBIT_TRY(check_pointers(fn, k, x, y));
    const std::size_t out_bytes = static_cast<std::size_t>(k) * (t == gguf_type::f32 ? 4 : 2);
    LOWBIT_TRY(check_buffers(fn, x, static_cast<std::size_t>(k) * 4, static_cast<const unsigned char*>(y), out_bytes));
    if (t == gguf_type::f32) {
        if (k > 0) std::memcpy(y, x, static_cast<std::size_t>(k) * sizeof(float));
        return status();
    }
    // Byte-wise writes: like the reads below, 16-bit data need not be aligned.
    auto* out = static_cast<unsigned char*>(y);
    for (std::int64_t i = 0; i < k; ++i) {
        const std::uint16_t h = t == gguf_type::f16 ? f32_to_f16(x[i]) : f32_to_bf16(x[i]);
        std::memcpy(out + 2 * i, &h, sizeof h);
    }
    return status();
}
inline status plain_rows_back(gguf_type t, const void* x, float* y, std::int64_t k, const char* fn) noexcept {
    LOWBIT_TRY(check_length(fn, "k", k, 1));
    LOWBIT_TRY(check_pointers(fn, k, x, y));
    LOWBIT_TRY(check_buffers(fn, static_cast<const unsigned char*>(x), static_cast<std::size_t>(k) * (t == gguf_type::f32 ? 4 : 2), y,
                             static_cast<std::size_t>(k) * 4));
    if (t == gguf_type::f32) {
        if (k > 0) std::memcpy(y, x, static_cast<std::size_t>(k) * sizeof(float));
        return status();
    }
    // Byte-wise reads: safetensors (and mmap'd files generally) need not align 16-bit data.
    const auto* in = static_cast<const unsigned char*>(x);
    for (std::int64_t i = 0; i < k; ++i) {
        std::uint16_t h;
        std::memcpy(&h, in + 2 * i, sizeof h);
        y[i] = t == gguf_type::f16 ? f16_to_f32(h) : bf16_to_f32(h);
    }
    return status();
}
inline status no_codec(const char* fn, gguf_type t) noexcept {
    return status::error(errc::unsupported, "%s: no codec for type %s (id %u)", fn, type_name(t), static_cast<unsigned>(t));
}
}  // namespace detail

// Quantize k floats into dst, laid out as type t. F32/F16/BF16 are plain
// conversions (F16 and BF16 round to nearest even, as ggml does) and accept
// any k; they do not reject NaN/Inf.
inline status quantize_row(gguf_type t, const float* x, void* dst, std::int64_t k) noexcept {
    switch (t) {
        case gguf_type::f32: case gguf_type::f16: case gguf_type::bf16:
            return detail::plain_rows(t, x, dst, k, "gguf::quantize_row");
        case gguf_type::q4_0: return quantize_row_q4_0(x, static_cast<block_q4_0*>(dst), k);
        case gguf_type::q4_1: return quantize_row_q4_1(x, static_cast<block_q4_1*>(dst), k);
        case gguf_type::q5_0: return quantize_row_q5_0(x, static_cast<block_q5_0*>(dst), k);
        case gguf_type::q5_1: return quantize_row_q5_1(x, static_cast<block_q5_1*>(dst), k);
        case gguf_type::q8_0: return quantize_row_q8_0(x, static_cast<block_q8_0*>(dst), k);
        case gguf_type::q8_1: return quantize_row_q8_1(x, static_cast<block_q8_1*>(dst), k);
        case gguf_type::q2_K: return quantize_row_q2_K(x, static_cast<block_q2_K*>(dst), k);
        case gguf_type::q3_K: return quantize_row_q3_K(x, static_cast<block_q3_K*>(dst), k);
        case gguf_type::q4_K: return quantize_row_q4_K(x, static_cast<block_q4_K*>(dst), k);
        case gguf_type::q5_K: return quantize_row_q5_K(x, static_cast<block_q5_K*>(dst), k);
        case gguf_type::q6_K: return quantize_row_q6_K(x, static_cast<block_q6_K*>(dst), k);
        case gguf_type::q8_K: return quantize_row_q8_K(x, static_cast<block_q8_K*>(dst), k);
        case gguf_type::iq4_nl: return quantize_row_iq4_nl(x, static_cast<block_iq4_nl*>(dst), k);
        case gguf_type::iq4_xs: return quantize_row_iq4_xs(x, static_cast<block_iq4_xs*>(dst), k);
        case gguf_type::tq1_0: return quantize_row_tq1_0(x, static_cast<block_tq1_0*>(dst), k);
        case gguf_type::tq2_0: return quantize_row_tq2_0(x, static_cast<block_tq2_0*>(dst), k);
        case gguf_type::mxfp4: return quantize_row_mxfp4(x, static_cast<block_mxfp4*>(dst), k);
        case gguf_type::iq3_xxs: return quantize_row_iq3_xxs(x, static_cast<block_iq3_xxs*>(dst), k);
        case gguf_type::iq3_s: return quantize_row_iq3_s(x, static_cast<block_iq3_s*>(dst), k);
        case gguf_type::iq2_s: return quantize_row_iq2_s(x, static_cast<block_iq2_s*>(dst), k);
        case gguf_type::iq1_m: return quantize_iq1_m(x, static_cast<block_iq1_m*>(dst), 1, k, nullptr);
        case gguf_type::iq2_xs: case gguf_type::iq2_xxs: case gguf_type::iq1_s:
            return status::error(errc::invalid_argument,
                                 "gguf::quantize_row: %s needs an importance matrix; use gguf::quantize with quant_weights",
                                 type_name(t));
        default: return detail::no_codec("gguf::quantize_row", t);
    }
}

// Dequantize k values of type t from src.
inline status dequantize_row(gguf_type t, const void* src, float* y, std::int64_t k) noexcept {
    switch (t) {
        case gguf_type::f32: case gguf_type::f16: case gguf_type::bf16:
            return detail::plain_rows_back(t, src, y, k, "gguf::dequantize_row");
        case gguf_type::q4_0: return dequantize_row_q4_0(static_cast<const block_q4_0*>(src), y, k);
        case gguf_type::q4_1: return dequantize_row_q4_1(static_cast<const block_q4_1*>(src), y, k);
        case gguf_type::q5_0: return dequantize_row_q5_0(static_cast<const block_q5_0*>(src), y, k);
        case gguf_type::q5_1: return dequantize_row_q5_1(static_cast<const block_q5_1*>(src), y, k);
        case gguf_type::q8_0: return dequantize_row_q8_0(static_cast<const block_q8_0*>(src), y, k);
        case gguf_type::q8_1: return dequantize_row_q8_1(static_cast<const block_q8_1*>(src), y, k);
        case gguf_type::q2_K: return dequantize_row_q2_K(static_cast<const block_q2_K*>(src), y, k);
        case gguf_type::q3_K: return dequantize_row_q3_K(static_cast<const block_q3_K*>(src), y, k);
        case gguf_type::q4_K: return dequantize_row_q4_K(static_cast<const block_q4_K*>(src), y, k);
        case gguf_type::q5_K: return dequantize_row_q5_K(static_cast<const block_q5_K*>(src), y, k);
        case gguf_type::q6_K: return dequantize_row_q6_K(static_cast<const block_q6_K*>(src), y, k);
        case gguf_type::q8_K: return dequantize_row_q8_K(static_cast<const block_q8_K*>(src), y, k);
        case gguf_type::iq4_nl: return dequantize_row_iq4_nl(static_cast<const block_iq4_nl*>(src), y, k);
        case gguf_type::iq4_xs: return dequantize_row_iq4_xs(static_cast<const block_iq4_xs*>(src), y, k);
        case gguf_type::tq1_0: return dequantize_row_tq1_0(static_cast<const block_tq1_0*>(src), y, k);
        case gguf_type::tq2_0: return dequantize_row_tq2_0(static_cast<const block_tq2_0*>(src), y, k);
        case gguf_type::mxfp4: return dequantize_row_mxfp4(static_cast<const block_mxfp4*>(src), y, k);
        case gguf_type::iq2_xxs: return dequantize_row_iq2_xxs(static_cast<const block_iq2_xxs*>(src), y, k);
        case gguf_type::iq2_xs: return dequantize_row_iq2_xs(static_cast<const block_iq2_xs*>(src), y, k);
        case gguf_type::iq2_s: return dequantize_row_iq2_s(static_cast<const block_iq2_s*>(src), y, k);
        case gguf_type::iq3_xxs: return dequantize_row_iq3_xxs(static_cast<const block_iq3_xxs*>(src), y, k);
        case gguf_type::iq3_s: return dequantize_row_iq3_s(static_cast<const block_iq3_s*>(src), y, k);
        case gguf_type::iq1_s: return dequantize_row_iq1_s(static_cast<const block_iq1_s*>(src), y, k);
        case gguf_type::iq1_m: return dequantize_row_iq1_m(static_cast<const block_iq1_m*>(src), y, k);
        default: return detail::no_codec("gguf::dequantize_row", t);
    }
}

// ggml's quantize_chunk for one type: nrow rows of n_per_row values, optional
// importance weights (ignored by the types where ggml ignores them: Q8_0,
// TQ1_0, TQ2_0, MXFP4, and Q8_1/Q8_K, which ggml never quantizes with an
// imatrix). For IQ4_NL this is ggml's quantize_iq4_nl, whose search differs
// from quantize_row's reference quantizer even without weights.
inline status quantize(gguf_type t, const float* src, void* dst, std::int64_t nrow, std::int64_t n_per_row,
                       const float* quant_weights) noexcept {
    switch (t) {
        case gguf_type::q4_0: return quantize_q4_0(src, static_cast<block_q4_0*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::q4_1: return quantize_q4_1(src, static_cast<block_q4_1*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::q5_0: return quantize_q5_0(src, static_cast<block_q5_0*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::q5_1: return quantize_q5_1(src, static_cast<block_q5_1*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::q8_0: return quantize_q8_0(src, static_cast<block_q8_0*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::q2_K: return quantize_q2_K(src, static_cast<block_q2_K*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::q3_K: return quantize_q3_K(src, static_cast<block_q3_K*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::q4_K: return quantize_q4_K(src, static_cast<block_q4_K*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::q5_K: return quantize_q5_K(src, static_cast<block_q5_K*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::q6_K: return quantize_q6_K(src, static_cast<block_q6_K*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::iq4_nl: return quantize_iq4_nl(src, static_cast<block_iq4_nl*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::iq4_xs: return quantize_iq4_xs(src, static_cast<block_iq4_xs*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::tq1_0: return quantize_tq1_0(src, static_cast<block_tq1_0*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::tq2_0: return quantize_tq2_0(src, static_cast<block_tq2_0*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::mxfp4: return quantize_mxfp4(src, static_cast<block_mxfp4*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::iq3_xxs: return quantize_iq3_xxs(src, static_cast<block_iq3_xxs*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::iq3_s: return quantize_iq3_s(src, static_cast<block_iq3_s*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::iq2_s: return quantize_iq2_s(src, static_cast<block_iq2_s*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::iq2_xs: return quantize_iq2_xs(src, static_cast<block_iq2_xs*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::iq2_xxs: return quantize_iq2_xxs(src, static_cast<block_iq2_xxs*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::iq1_s: return quantize_iq1_s(src, static_cast<block_iq1_s*>(dst), nrow, n_per_row, quant_weights);
        case gguf_type::iq1_m: return quantize_iq1_m(src, static_cast<block_iq1_m*>(dst), nrow, n_per_row, quant_weights);
        default: {
            if (nrow < 0 || n_per_row < 0) {
                return status::error(errc::invalid_argument, "gguf::quantize: nrow = %lld or n_per_row = %lld is negative",
                                     static_cast<long long>(nrow), static_cast<long long>(n_per_row));
            }
            if (!has_row_codec(t)) return detail::no_codec("gguf::quantize", t);
            // Rows are quantized as one run, so each row must be whole blocks (as in ggml).
            LOWBIT_TRY(detail::check_length("gguf::quantize", "n_per_row", n_per_row, static_cast<int>(type_block_size(t))));
            // The product is formed only when it fits: it used to overflow
            // (undefined behaviour) and, wrapped to 0, "succeed" writing nothing.
            if (n_per_row > 0 && nrow > detail::max_values / n_per_row)
                return status::error(errc::invalid_argument,
                                     "gguf::quantize: nrow * n_per_row = %lld * %lld overflows (limit %lld values)",
                                     static_cast<long long>(nrow), static_cast<long long>(n_per_row),
                                     static_cast<long long>(detail::max_values));
            return quantize_row(t, src, dst, nrow * n_per_row);
        }
    }
}

}  // namespace gguf
}  // namespace lowbit

#include "detail/fp_contract_off_end.inl"
