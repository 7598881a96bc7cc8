// GEMV/GEMM on GGUF blocks (formats/gguf_matmul.hpp).
//
// For every supported weight type, rows quantized with quantize_row_* are
// multiplied and checked three ways:
//   (a) against dequantize_row + an f64 dot with the f32 activations, within
//       the hard bound of docs/formats.md ("Matmul on GGUF blocks"): each
//       activation is replaced by its int8 block code, off by at most
//       e_b = amax_b / 254 (+ the f16 rounding of Q8_0's scale, 2^-11 amax_b),
//       so |y - y_ref| <= sum_j |w_j| e_b(j) + a float-rounding term;
//   (b) against an f64 dot with the dequantized activations (the exact value
//       the integer kernels compute), within the float-rounding term alone;
//   (c) bit-exactly against the scalar model, for every arch this CPU runs,
//       for gemv and gemm, and for every thread count; also on edge shapes
//       (k = one block .. 17 blocks, M = 1..5, row counts that are not a
//       multiple of the task size), arbitrary block bytes (extreme codes) and
//       extreme f16 scales (max, subnormal, zero: outputs that overflow).
// And: a call with a pre-sized matmul_workspace allocates nothing.
// The relative errors of (a) are printed; docs/formats.md quotes them.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <lowbit/formats/gguf_matmul.hpp>

#include "hostile/alloc_meter.hpp"  // replaces operator new for this binary (no other TU includes it)
#include "test_archs.hpp"
#include "test_util.hpp"

using namespace lowbit;
using namespace lowbit::gguf;

namespace {

const gguf_type all_types[] = {gguf_type::q4_0,   gguf_type::q4_1,    gguf_type::q5_0,   gguf_type::q5_1,
                               gguf_type::q8_0,   gguf_type::q2_K,    gguf_type::q3_K,   gguf_type::q4_K,
                               gguf_type::q5_K,   gguf_type::q6_K,    gguf_type::iq4_nl, gguf_type::iq4_xs,
                               gguf_type::mxfp4,  gguf_type::tq1_0,   gguf_type::tq2_0,  gguf_type::iq3_xxs,
                               gguf_type::iq3_s,  gguf_type::iq2_xxs, gguf_type::iq2_xs, gguf_type::iq2_s,
                               gguf_type::iq1_s,  gguf_type::iq1_m};
const arch all_archs[] = {arch::scalar,  arch::sse2,       arch::avx2, arch::avx512,
                          arch::avxvnni, arch::avx512vnni, arch::neon, arch::neondot};

bool is_k_quant(gguf_type t) { return type_block_size(t) == 256; }
// ggml's vec_dot_type: the activation blocks of weight type t.
gguf_type activation_type(gguf_type t) {
    if (is_k_quant(t)) return gguf_type::q8_K;
    return t == gguf_type::q4_1 || t == gguf_type::q5_1 ? gguf_type::q8_1 : gguf_type::q8_0;
}

using lowbit_test::arch_scope;

// n_rows GGUF rows of k values; uint16 storage keeps the f16 fields aligned.
struct gguf_matrix {
    gguf_type type;
    std::size_t rows, k;
    std::vector<std::uint16_t> bytes;
    std::vector<float> deq;  // dequantize_row of every row
    const void* data() const { return bytes.data(); }
};

gguf_matrix make_matrix(gguf_type t, std::size_t rows, std::size_t k, std::uint32_t seed) {
    gguf_matrix m{t, rows, k, std::vector<std::uint16_t>((rows * row_size(t, k) + 1) / 2), std::vector<float>(rows * k)};
    std::vector<float> w = lowbit_test::gaussian(rows * k, seed);
    for (std::size_t i = 0; i < w.size(); i += 97) w[i] *= 6.0f;  // a few outliers
    auto* base = reinterpret_cast<unsigned char*>(m.bytes.data());
    // An importance matrix (the types that need one; the others ignore or use it alike).
    std::vector<float> imatrix(k);
    for (std::size_t j = 0; j < k; ++j) imatrix[j] = 0.5f + static_cast<float>((j * 7) % 13) / 8.0f;
    REQUIRE(quantize(t, w.data(), base, static_cast<std::int64_t>(rows), static_cast<std::int64_t>(k),
                     requires_imatrix(t) ? imatrix.data() : nullptr)
                .ok());
    for (std::size_t r = 0; r < rows; ++r)
        REQUIRE(dequantize_row(t, base + r * row_size(t, k), m.deq.data() + r * k, static_cast<std::int64_t>(k)).ok());
    return m;
}

// The activation row as the kernels see it: quantized to Q8_0 / Q8_1 / Q8_K and back.
std::vector<float> as_kernel_sees(gguf_type t, const float* x, std::size_t k) {
    const gguf_type at = activation_type(t);
    std::vector<unsigned char> q(row_size(at, k) + 4);
    std::vector<float> back(k);
    void* p = q.data();  // operator new storage: aligned for block_q8_K's float
    REQUIRE(quantize_row(at, x, p, static_cast<std::int64_t>(k)).ok());
    REQUIRE(dequantize_row(at, p, back.data(), static_cast<std::int64_t>(k)).ok());
    return back;
}

struct bounds {
    double quant;   // sum_j |w_j| e_b(j): activation int8 rounding
    double round;   // float rounding of the block terms and their sum
    double quant_sum = 0.0;  // Q8_1 only: the f16 rounding of the activation block sums
};

// Hard error bounds for one output (docs/formats.md, "Matmul on GGUF blocks").
bounds error_bounds(gguf_type t, const float* w, const float* x, std::size_t k) {
    const std::size_t qa = is_k_quant(t) ? 256 : 32;  // activation block
    const double f16_term = is_k_quant(t) ? std::ldexp(1.0, -20) : std::ldexp(1.0, -11);
    const std::size_t qw = type_block_size(t);
    const double nb = static_cast<double>(k / qw);
    bounds b{0.0, 0.0, 0.0};
    for (std::size_t i0 = 0; i0 < k; i0 += qa) {
        // a float maximum (exact): a double fmax reduction over floats crashes
        // aarch64 GCC 12.2 at -O3 (ICE in vect_transform_reduction)
        float amax = 0.0f;
        for (std::size_t j = i0; j < i0 + qa; ++j) amax = std::fmax(amax, std::fabs(x[j]));
        const double e = static_cast<double>(amax) * (1.0 / 254.0 + f16_term);
        for (std::size_t j = i0; j < i0 + qa; ++j) b.quant += std::fabs(w[j]) * e;
    }
    // Each block term is a few float products (relative error <= 4 * 2^-24 on
    // the magnitude of its parts, which for the affine K-quants are the scale
    // and min halves, each <= 2 max|w| per value) and nb of them are summed.
    for (std::size_t i0 = 0; i0 < k; i0 += qw) {
        double wmax = 0.0, xsum = 0.0;
        for (std::size_t j = i0; j < i0 + qw; ++j) {
            wmax = std::fmax(wmax, std::fabs(w[j]));
            xsum += std::fabs(x[j]) * 1.01;
        }
        b.round += 2.0 * wmax * xsum;
        // Q8_1's s = d * sum(q) is stored in f16: the min's product m * s is
        // off by up to 2^-11 of it (|m| <= max|w| of the block).
        if (activation_type(t) == gguf_type::q8_1) b.quant_sum += wmax * xsum * std::ldexp(1.0, -11);
    }
    b.round *= (nb + 8.0) * std::ldexp(1.0, -22);
    b.round += b.quant_sum;
    return b;
}

double dot(const float* a, const float* b, std::size_t k) {
    double s = 0.0;
    for (std::size_t j = 0; j < k; ++j) s += static_cast<double>(a[j]) * b[j];
    return s;
}

std::vector<float> run_gemm(const gguf_matrix& w, const std::vector<float>& X, std::size_t M) {
    std::vector<float> Y(M * w.rows, -1.0f);
    REQUIRE(gemm(w.type, w.data(), w.rows, w.k, matrix_view<const float>(X.data(), M, w.k),
                 matrix_view<float>(Y.data(), M, w.rows))
                .ok());
    return Y;
}

// Byte offsets of a block's f16 scale fields (IQ1_M's is spread over four
// nibbles and MXFP4's is an E8M0 byte: both handled apart).
std::vector<std::size_t> f16_fields(gguf_type t) {
    switch (t) {
        case gguf_type::q4_1: case gguf_type::q5_1: case gguf_type::q4_K: case gguf_type::q5_K: return {0, 2};
        case gguf_type::q2_K: return {80, 82};
        case gguf_type::q3_K: return {108};
        case gguf_type::q6_K: return {208};
        case gguf_type::tq1_0: return {52};
        case gguf_type::tq2_0: return {64};
        case gguf_type::iq1_m: case gguf_type::mxfp4: return {};
        default: return {0};
    }
}

// n rows of arbitrary block bytes: every 7th byte 0xff, every 11th 0x80, the
// rest random; the scales finite (f16: 2^-7 .. ~2^0, either sign; MXFP4's
// exponent 2^-8 .. 2^6).
std::vector<std::uint16_t> arbitrary_rows(gguf_type t, std::size_t n, std::size_t k, std::mt19937& rng) {
    const std::size_t rb = row_size(t, k), bb = type_size(t);
    std::vector<std::uint16_t> storage((n * rb + 1) / 2);
    auto* p = reinterpret_cast<unsigned char*>(storage.data());
    for (std::size_t i = 0; i < n * rb; ++i) p[i] = static_cast<unsigned char>(i % 7 == 0 ? 0xff : (i % 11 == 0 ? 0x80 : rng()));
    for (std::size_t b = 0; b < n * rb / bb; ++b) {
        unsigned char* blk = p + b * bb;
        const std::uint16_t h = static_cast<std::uint16_t>(0x2000 + rng() % 0x1c00 + (rng() % 2 ? 0x8000 : 0));
        for (std::size_t at : f16_fields(t)) {
            const std::uint16_t hf = static_cast<std::uint16_t>(0x2000 + rng() % 0x1c00 + (rng() % 2 ? 0x8000 : 0));
            std::memcpy(blk + at, &hf, 2);
        }
        if (t == gguf_type::mxfp4) blk[0] = static_cast<unsigned char>(120 + rng() % 15);
        if (t == gguf_type::iq1_m)  // the top nibble of each scale word holds 4 bits of the f16
            for (int i = 0; i < 4; ++i) blk[48 + 2 * i + 1] = static_cast<unsigned char>((blk[48 + 2 * i + 1] & 0x0f) | (((h >> (4 * i)) & 0xf) << 4));
    }
    return storage;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// gemv of type t on `storage` with every SIMD arch this CPU runs forced in turn:
// the bits of y_ref (the scalar model's). Returns how many archs ran.
int gemv_same_on_every_arch(gguf_type t, const void* storage, std::size_t n, std::size_t k, const std::vector<float>& x,
                            const std::vector<float>& y_ref) {
    int archs_run = 0;
    for (arch a : all_archs) {
        if (a == arch::scalar || !lowbit_test::arch_selected(a) || !force_arch(a).ok()) continue;
        const std::string arch_s = arch_name(a);
        CAPTURE(arch_s);
        arch_scope s(a);
        std::vector<float> y(n);
        REQUIRE(gemv(t, storage, n, k, span<const float>(x), span<float>(y)).ok());
        CHECK(same_bits(y, y_ref));
        ++archs_run;
    }
    return archs_run;
}

// Storage for n rows of k values (k a multiple of 256) of super-block type t,
// 2-byte aligned for the blocks' f16 fields.
std::vector<std::uint16_t> super_block_storage(gguf_type t, std::size_t n, std::size_t k) {
    const std::size_t bytes = n * (k / 256) * type_size(t);
    REQUIRE(row_size(t, k) * n == bytes);
    return std::vector<std::uint16_t>((bytes + 1) / 2);
}

// The grid-coverage cases' check: activations from `seed` with one block
// reaching the int8 limit, the scalar model's finite output, then every SIMD
// arch's bits equal to it (a message says how many archs ran).
void check_grid_rows_on_every_arch(gguf_type t, const void* storage, std::size_t n, std::size_t k, unsigned seed) {
    std::vector<float> x = lowbit_test::gaussian(k, seed);
    x[5] = -1000.0f;  // one block's activations reach -127 (its codes -128 / +-127)
    std::vector<float> y_ref(n);
    {
        arch_scope s(arch::scalar);
        REQUIRE(gemv(t, storage, n, k, span<const float>(x), span<float>(y_ref)).ok());
    }
    for (float v : y_ref) CHECK(std::isfinite(v));
    const int archs_run = gemv_same_on_every_arch(t, storage, n, k, x, y_ref);
    MESSAGE(std::string(type_name(t)) << ": " << archs_run << " SIMD archs checked");
}

}  // namespace

TEST_CASE("gguf gemv: error against the f32 matmul within the int8-activation bound") {
    for (gguf_type t : all_types) {
        for (std::size_t k : {std::size_t{256}, std::size_t{1024}}) {
            const std::string type_s = type_name(t);
            CAPTURE(type_s);
            CAPTURE(k);
            const std::size_t n = 33;  // more than one 32-row task
            const gguf_matrix w = make_matrix(t, n, k, 11u + static_cast<std::uint32_t>(k));
            const std::vector<float> x = lowbit_test::gaussian(k, 7u);
            const std::vector<float> xs = as_kernel_sees(t, x.data(), k);
            std::vector<float> y(n);
            REQUIRE(gemv(t, w.data(), n, k, span<const float>(x), span<float>(y)).ok());
            double err2 = 0.0, ref2 = 0.0, worst_ratio = 0.0;
            for (std::size_t r = 0; r < n; ++r) {
                const float* wr = w.deq.data() + r * k;
                const double ref = dot(wr, x.data(), k);      // (a) the f32 matmul
                const double exact = dot(wr, xs.data(), k);   // (b) what the integer kernel computes
                const bounds b = error_bounds(t, wr, x.data(), k);
                CHECK(std::fabs(y[r] - ref) <= b.quant + b.round);
                CHECK(std::fabs(y[r] - exact) <= b.round);
                worst_ratio = std::fmax(worst_ratio, std::fabs(y[r] - ref) / (b.quant + b.round));
                err2 += (y[r] - ref) * (y[r] - ref);
                ref2 += ref * ref;
            }
            const double rel = std::sqrt(err2 / ref2);
            std::printf("gguf gemv %-4s k=%-5zu rel. error vs f32 %.3e (worst |err| / bound %.3f)\n", type_name(t), k, rel,
                        worst_ratio);
            // The int8 activation alone gives ~amax/(127 sqrt(12)) noise per value,
            // about 0.6% of a Gaussian row; 2% is far from flaky and still catches
            // a wrong code layout (relative error ~1).
            CHECK(rel < 0.02);
        }
    }
}

// The arch loops below skip an arch LOWBIT_TEST_ARCHS leaves out
// (lowbit_test::arch_selected); a list naming an arch this CPU does not run fails here.
TEST_CASE("gguf gemv: LOWBIT_TEST_ARCHS names only archs this CPU runs, and at least one is forced") {
    CHECK(!lowbit_test::runnable_archs().empty());
}

TEST_CASE("gguf gemv/gemm: every arch equals the scalar model bit for bit") {
    const std::size_t n = 131, M = 5;  // odd rows, several row tasks
    for (gguf_type t : all_types) {
        const std::string type_s = type_name(t);
        CAPTURE(type_s);
        const std::size_t k = 512;
        const gguf_matrix w = make_matrix(t, n, k, 3u);
        const std::vector<float> X = lowbit_test::gaussian(M * k, 5u, 3.0f);
        std::vector<float> y_ref(n), Y_ref;
        {
            arch_scope s(arch::scalar);
            REQUIRE(gemv(t, w.data(), n, k, span<const float>(X.data(), k), span<float>(y_ref)).ok());
            Y_ref = run_gemm(w, X, M);
        }
        // gemm row 0 is gemv of X row 0 (same activation quantization per row).
        CHECK(std::memcmp(Y_ref.data(), y_ref.data(), n * sizeof(float)) == 0);
        for (arch a : all_archs) {
            if (!lowbit_test::arch_selected(a) || !force_arch(a).ok()) continue;
            const std::string arch_s = arch_name(a);
            CAPTURE(arch_s);
            arch_scope s(a);
            std::vector<float> y(n);
            REQUIRE(gemv(t, w.data(), n, k, span<const float>(X.data(), k), span<float>(y)).ok());
            CHECK(same_bits(y, y_ref));
            CHECK(same_bits(run_gemm(w, X, M), Y_ref));
        }
    }
}

// Whether arch a runs a SIMD copy for type t (its own or, along the fallback
// chain, AVX2's for the AVX-512 archs), not the scalar model: every type on
// every SIMD arch.
bool has_simd_copy(gguf_type, arch a) { return a != arch::scalar && a != arch::sse2; }

TEST_CASE("gguf gemv: an arch without a copy of the type runs the scalar model, and matmul_info says so") {
    const std::size_t n = 5;
    for (gguf_type t : all_types) {
        const std::string type_s = type_name(t);
        CAPTURE(type_s);
        const std::size_t k = type_block_size(t);
        const std::vector<std::uint16_t> bytes = [&] {
            std::mt19937 rng(1);
            return arbitrary_rows(t, n, k, rng);
        }();
        const std::vector<float> x = lowbit_test::gaussian(k, 3u);
        for (arch a : all_archs) {
            if (!lowbit_test::arch_selected(a) || !force_arch(a).ok()) continue;
            const std::string arch_s = arch_name(a);
            CAPTURE(arch_s);
            arch_scope s(a);
            matmul_info info;
            matmul_options opt;
            opt.info = &info;
            std::vector<float> y(n);
            REQUIRE(gemv(t, bytes.data(), n, k, span<const float>(x), span<float>(y), serial_executor{}, opt).ok());
            REQUIRE(info.entry != nullptr);
            if (a == arch::scalar) {
                CHECK(!info.fell_back);
            } else if (!has_simd_copy(t, a)) {
                CHECK(info.fell_back);
                CHECK(info.entry->body == arch::scalar);
                opt.allow_fallback = false;  // and a caller can refuse it
                CHECK(gemv(t, bytes.data(), n, k, span<const float>(x), span<float>(y), serial_executor{}, opt).code() ==
                      errc::unsupported);
            } else {
                CHECK(info.entry->body != arch::scalar);
            }
#if defined(LOWBIT_HAVE_GGUF_VBMI)
            // The VBMI lattice copies run wherever the CPU has VBMI (so the cases of this file test them there).
            const bool vbmi_type = t == gguf_type::iq2_xxs || t == gguf_type::iq2_xs || t == gguf_type::iq2_s ||
                                   t == gguf_type::iq3_xxs || t == gguf_type::iq3_s || t == gguf_type::iq1_s || t == gguf_type::iq1_m;
            CHECK((info.entry->needs == needs_avx512vbmi) == (vbmi_type && a == arch::avx512vnni && lowbit::detail::cpu().avx512vbmi && lowbit::detail::cpu().avx512bitalg));
#endif
        }
    }
}

TEST_CASE("gguf gemm: strided views, M > 1, and any thread count give the same bits") {
    const std::size_t n = 97, M = 3, k = 256, ldx = k + 5, ldy = n + 3;
    for (gguf_type t : all_types) {
        const std::string type_s = type_name(t);
        CAPTURE(type_s);
        const gguf_matrix w = make_matrix(t, n, k, 21u);
        const std::vector<float> X = lowbit_test::gaussian(M * ldx, 9u);
        std::vector<float> Y(M * ldy, 42.0f);
        REQUIRE(gemm(t, w.data(), n, k, matrix_view<const float>(X.data(), M, k, ldx), matrix_view<float>(Y.data(), M, n, ldy))
                    .ok());
        for (std::size_t m = 0; m < M; ++m) {
            std::vector<float> y(n);
            REQUIRE(gemv(t, w.data(), n, k, span<const float>(X.data() + m * ldx, k), span<float>(y)).ok());
            CHECK(std::memcmp(y.data(), Y.data() + m * ldy, n * sizeof(float)) == 0);
            for (std::size_t r = n; r < ldy; ++r) CHECK(Y[m * ldy + r] == 42.0f);  // padding untouched
        }
        for (unsigned threads : {1u, 2u, 3u}) {
            CAPTURE(threads);
            thread_pool pool(threads);
            std::vector<float> Yt(M * ldy, 42.0f);
            REQUIRE(gemm(t, w.data(), n, k, matrix_view<const float>(X.data(), M, k, ldx),
                         matrix_view<float>(Yt.data(), M, n, ldy), pool)
                        .ok());
            CHECK(same_bits(Yt, Y));
            std::vector<float> y(n), y1(n);
            REQUIRE(gemv(t, w.data(), n, k, span<const float>(X.data(), k), span<float>(y), pool).ok());
            REQUIRE(gemv(t, w.data(), n, k, span<const float>(X.data(), k), span<float>(y1)).ok());
            CHECK(same_bits(y, y1));
        }
    }
}

TEST_CASE("gguf gemv/gemm: errors return a status and leave the output untouched") {
    const std::size_t n = 3, k = 256;
    const gguf_matrix w = make_matrix(gguf_type::q4_K, n, k, 1u);
    std::vector<float> x = lowbit_test::gaussian(k, 2u);
    std::vector<float> y(n, 7.0f);
    auto untouched = [&] {
        for (float v : y)
            if (v != 7.0f) return false;
        return true;
    };
    auto gv = [&](gguf_type t, const void* rows, std::size_t nr, std::size_t kk, span<const float> xx, span<float> yy) {
        return gemv(t, rows, nr, kk, xx, yy).code();
    };
    const span<const float> xs(x);
    const span<float> ys(y);
    CHECK(gv(gguf_type::q8_1, w.data(), n, k, xs, ys) == errc::unsupported);  // activation blocks, not weights
    CHECK(gv(gguf_type::q8_K, w.data(), n, k, xs, ys) == errc::unsupported);
    CHECK(gv(gguf_type::f32, w.data(), n, k, xs, ys) == errc::unsupported);
    CHECK(gv(static_cast<gguf_type>(4), w.data(), n, k, xs, ys) == errc::unsupported);
    CHECK(gv(gguf_type::q4_K, w.data(), n, 128, span<const float>(x.data(), 128), ys) == errc::invalid_argument);
    CHECK(gv(gguf_type::q4_0, w.data(), n, 48, span<const float>(x.data(), 48), ys) == errc::invalid_argument);
    CHECK(gv(gguf_type::iq4_nl, w.data(), n, 48, span<const float>(x.data(), 48), ys) == errc::invalid_argument);
    for (gguf_type t : {gguf_type::iq4_xs, gguf_type::tq1_0, gguf_type::iq2_xxs, gguf_type::iq1_m, gguf_type::q2_K})
        CHECK(gv(t, w.data(), n, 128, span<const float>(x.data(), 128), ys) == errc::invalid_argument);
    CHECK(gv(gguf_type::iq3_s, reinterpret_cast<const unsigned char*>(w.data()) + 1, n, k, xs, ys) == errc::invalid_argument);
    CHECK(gv(gguf_type::q4_K, w.data(), n, 0, span<const float>(x.data(), 0), ys) == errc::invalid_argument);
    CHECK(gv(gguf_type::q4_K, w.data(), n, k, span<const float>(x.data(), k - 1), ys) == errc::shape_mismatch);
    CHECK(gv(gguf_type::q4_K, w.data(), n, k, xs, span<float>(y.data(), n - 1)) == errc::shape_mismatch);
    CHECK(gv(gguf_type::q4_K, nullptr, n, k, xs, ys) == errc::invalid_argument);
    CHECK(gv(gguf_type::q4_K, w.data(), n, k, span<const float>(nullptr, k), ys) == errc::invalid_argument);
    CHECK(gv(gguf_type::q4_K, w.data(), n, k, xs, span<float>(nullptr, n)) == errc::invalid_argument);
    CHECK(gv(gguf_type::q4_K, reinterpret_cast<const unsigned char*>(w.data()) + 1, n, k, xs, ys) == errc::invalid_argument);
    {  // y aliasing x
        std::vector<float> xy(k, 1.0f);
        CHECK(gv(gguf_type::q4_K, w.data(), n, k, span<const float>(xy), span<float>(xy.data() + 1, n)) ==
              errc::invalid_argument);
    }
    x[100] = std::numeric_limits<float>::quiet_NaN();
    CHECK(gv(gguf_type::q4_K, w.data(), n, k, xs, ys) == errc::non_finite);
    // Every activation quantizer refuses it: Q8_1 (Q4_1), Q8_0 (IQ4_NL), Q8_K (IQ2_XXS).
    for (gguf_type t : {gguf_type::q4_1, gguf_type::iq4_nl, gguf_type::iq2_xxs})
        CHECK(gv(t, w.data(), n, k, xs, ys) == errc::non_finite);
    x[100] = std::numeric_limits<float>::infinity();
    CHECK(gv(gguf_type::q4_K, w.data(), n, k, xs, ys) == errc::non_finite);
    CHECK(untouched());
    x[100] = 0.0f;

    // gemm: shapes, strides, null, NaN in a later row (nothing written before the check).
    const std::size_t M = 2;
    std::vector<float> X = lowbit_test::gaussian(M * k, 4u);
    std::vector<float> Y(M * n, 7.0f);
    auto gm = [&](std::size_t xr, std::size_t xc, std::size_t xs_, std::size_t yr, std::size_t yc, std::size_t ys_) {
        return gemm(gguf_type::q4_K, w.data(), n, k, matrix_view<const float>(X.data(), xr, xc, xs_),
                    matrix_view<float>(Y.data(), yr, yc, ys_))
            .code();
    };
    CHECK(gm(M, k - 1, k, M, n, n) == errc::shape_mismatch);
    CHECK(gm(M, k, k, M + 1, n, n) == errc::shape_mismatch);
    CHECK(gm(M, k, k, M, n + 1, n + 1) == errc::shape_mismatch);
    CHECK(gm(M, k, k - 1, M, n, n) == errc::invalid_argument);
    CHECK(gemm(gguf_type::q4_K, w.data(), n, k, matrix_view<const float>(nullptr, M, k), matrix_view<float>(Y.data(), M, n))
              .code() == errc::invalid_argument);
    X[k + 3] = std::numeric_limits<float>::quiet_NaN();
    CHECK(gm(M, k, k, M, n, n) == errc::non_finite);
    for (float v : Y) CHECK(v == 7.0f);

    // Empty shapes are fine and write nothing.
    CHECK(gemv(gguf_type::q4_K, nullptr, 0, k, xs, span<float>()).ok());
    CHECK(gemm(gguf_type::q4_K, w.data(), n, k, matrix_view<const float>(X.data(), 0, k), matrix_view<float>(Y.data(), 0, n))
              .ok());
}

TEST_CASE("gguf gemv: arbitrary block bytes (extreme codes and scales) give the same bits on every arch") {
    // Not what a quantizer writes: Q8_0 codes of -128, Q6_K scales of -128,
    // 6-bit K scales of 63, all code bits set — the integer paths must not
    // saturate or overflow. The f16 fields get finite values. Nine 256-value
    // blocks: the lattice copies' batch of eight and a tail.
    const std::size_t n = 40;
    std::mt19937 rng(99);
    for (gguf_type t : all_types) {
        const std::size_t k = is_k_quant(t) ? 9 * 256 : 512;
        const std::string type_s = type_name(t);
        CAPTURE(type_s);
        const std::vector<std::uint16_t> storage = arbitrary_rows(t, n, k, rng);
        std::vector<float> x = lowbit_test::gaussian(k, 5u);
        x[3] = 1000.0f;  // one large activation per block elsewhere is +-127
        std::vector<float> y_ref(n);
        {
            arch_scope s(arch::scalar);
            REQUIRE(gemv(t, storage.data(), n, k, span<const float>(x), span<float>(y_ref)).ok());
        }
        for (float v : y_ref) CHECK(std::isfinite(v));
        for (arch a : all_archs) {
            if (!lowbit_test::arch_selected(a) || !force_arch(a).ok()) continue;
            const std::string arch_s = arch_name(a);
            CAPTURE(arch_s);
            arch_scope s(a);
            std::vector<float> y(n);
            REQUIRE(gemv(t, storage.data(), n, k, span<const float>(x), span<float>(y)).ok());
            CHECK(same_bits(y, y_ref));
        }
    }
}

TEST_CASE("gguf IQ2_XXS/IQ2_XS/IQ2_S: every grid index at every point position, random signs, every arch equals the model") {
    // The VBMI copies look the codes up by index bits (IQ2_S's high code byte
    // by its rank: run start, steps within the run of 8) and put each sign
    // bit into the level lookup's index. 32 rows of 33 super-blocks (the
    // loop of eight and the blocks after it), point p of block b at index
    // (b + 67 p) mod (grid size): each position sees every index; signs,
    // scales and f16 fields random (finite).
    const std::size_t n = 32, k = 33 * 256;
    std::mt19937 rng(3131);
    for (gguf_type t : {gguf_type::iq2_xxs, gguf_type::iq2_xs, gguf_type::iq2_s}) {
        const std::string type_s = type_name(t);
        CAPTURE(type_s);
        const unsigned grid = t == gguf_type::iq2_xxs ? 256u : t == gguf_type::iq2_xs ? 512u : 1024u;
        const std::size_t bb = type_size(t), nblocks = n * k / 256;
        std::vector<std::uint16_t> storage = super_block_storage(t, n, k);
        auto* bytes = reinterpret_cast<unsigned char*>(storage.data());
        for (std::size_t b = 0; b < nblocks; ++b) {
            unsigned char* blk = bytes + b * bb;
            const auto index = [b, grid](int p) { return static_cast<unsigned>((b + 67u * static_cast<unsigned>(p)) % grid); };
            const std::uint16_t h = static_cast<std::uint16_t>(0x2000 + rng() % 0x1c00 + (rng() % 2 ? 0x8000 : 0));
            std::memcpy(blk, &h, 2);
            if (t == gguf_type::iq2_xxs) {  // per 32 values: four index bytes, a u32 of four 7-bit sign fields and a 4-bit scale
                for (int ib = 0; ib < 8; ++ib) {
                    for (int l = 0; l < 4; ++l) blk[2 + 8 * ib + l] = static_cast<unsigned char>(index(4 * ib + l));
                    const std::uint32_t meta = static_cast<std::uint32_t>(rng());
                    std::memcpy(blk + 2 + 8 * ib + 4, &meta, 4);
                }
            } else if (t == gguf_type::iq2_xs) {  // per point a u16: 9-bit index | 7 sign bits << 9; scales[8]
                for (int p = 0; p < 32; ++p) {
                    const std::uint16_t q = static_cast<std::uint16_t>(index(p) | (rng() % 128) << 9);
                    std::memcpy(blk + 2 + 2 * p, &q, 2);
                }
                for (int i = 0; i < 8; ++i) blk[66 + i] = static_cast<unsigned char>(rng());
            } else {  // qs: 32 low index bytes, 32 sign bytes; qh[8]: bits 8, 9 of index 4 j + l at bits 2 l, 2 l + 1 of byte j; scales[8]
                for (int p = 0; p < 32; ++p) {
                    blk[2 + p] = static_cast<unsigned char>(index(p) & 0xff);
                    blk[34 + p] = static_cast<unsigned char>(rng());
                }
                for (int j = 0; j < 8; ++j) {
                    unsigned qh = 0;
                    for (int l = 0; l < 4; ++l) qh |= (index(4 * j + l) >> 8) << (2 * l);
                    blk[66 + j] = static_cast<unsigned char>(qh);
                    blk[74 + j] = static_cast<unsigned char>(rng());
                }
            }
        }
        check_grid_rows_on_every_arch(t, storage.data(), n, k, 31u);
    }
}

TEST_CASE("gguf IQ1_S/IQ1_M: every grid index at every point position and every shift-sign pattern, every arch equals the model") {
    // The IQ1 copies find their points by table lookups built on the index
    // bits (VBMI: a 2048-byte plane and runs of 16, four blocks at a time;
    // AVX2: indices formed in vector registers and stored for a chunk of 16
    // super-blocks, IQ1_M's per-point shift by a 16-entry table of its
    // sub-block's sign pattern). 2048 super-blocks
    // (64 rows of 32), point p of block b at index (b + 67 p) mod 2048: each
    // position sees all 2048 indices; IQ1_M sub-block j of block b has the
    // shift-sign pattern (b + j) mod 16, IQ1_S the sign bit (b >> j) & 1;
    // scales and f16 fields random (finite).
    const std::size_t n = 64, k = 32 * 256;
    std::mt19937 rng(1818);
    for (gguf_type t : {gguf_type::iq1_s, gguf_type::iq1_m}) {
        const std::string type_s = type_name(t);
        CAPTURE(type_s);
        const std::size_t bb = type_size(t), nblocks = n * k / 256;
        std::vector<std::uint16_t> storage = super_block_storage(t, n, k);
        auto* bytes = reinterpret_cast<unsigned char*>(storage.data());
        for (std::size_t b = 0; b < nblocks; ++b) {
            unsigned char* blk = bytes + b * bb;
            const auto index = [b](int p) { return static_cast<unsigned>((b + 67u * static_cast<unsigned>(p)) % 2048u); };
            const std::uint16_t h = static_cast<std::uint16_t>(0x2000 + rng() % 0x1c00 + (rng() % 2 ? 0x8000 : 0));
            if (t == gguf_type::iq1_s) {  // d, qs[32], qh[8] (u16)
                std::memcpy(blk, &h, 2);
                for (int ib = 0; ib < 8; ++ib) {
                    unsigned qh = (static_cast<unsigned>(rng() % 8) << 12) | (static_cast<unsigned>((b >> ib) & 1u) << 15);
                    for (int l = 0; l < 4; ++l) {
                        blk[2 + 4 * ib + l] = static_cast<unsigned char>(index(4 * ib + l) & 0xff);
                        qh |= (index(4 * ib + l) >> 8) << (3 * l);
                    }
                    const std::uint16_t q16 = static_cast<std::uint16_t>(qh);
                    std::memcpy(blk + 34 + 2 * ib, &q16, 2);
                }
            } else {  // qs[32], qh[16] (a nibble per point: high bits, shift sign), scales[8]
                for (int p = 0; p < 32; ++p) {
                    blk[p] = static_cast<unsigned char>(index(p) & 0xff);
                    const unsigned sign = ((b + static_cast<std::size_t>(p / 4)) >> (p % 4)) & 1u;
                    const unsigned nib = (index(p) >> 8) | (sign << 3);
                    blk[32 + p / 2] = static_cast<unsigned char>(p % 2 ? (blk[32 + p / 2] | (nib << 4)) : nib);
                }
                for (int i = 0; i < 8; ++i) blk[48 + i] = static_cast<unsigned char>(rng());
                for (int i = 0; i < 4; ++i) blk[48 + 2 * i + 1] = static_cast<unsigned char>((blk[48 + 2 * i + 1] & 0x0f) | (((h >> (4 * i)) & 0xf) << 4));
            }
        }
        check_grid_rows_on_every_arch(t, storage.data(), n, k, 18u);
    }
}

TEST_CASE("gguf IQ1_S/IQ1_M/IQ3_S: rows around the AVX2 copies' chunks of 16 super-blocks, every arch equals the model") {
    // The AVX2 IQ1 and IQ3_S copies store the grid indices of up to 16
    // super-blocks of a row, then dot them: rows of 15, 16, 31, 32 and 33
    // super-blocks (a short chunk, whole chunks, a tail of 15 and of 1),
    // arbitrary block bytes.
    std::mt19937 rng(2616);
    for (gguf_type t : {gguf_type::iq1_s, gguf_type::iq1_m, gguf_type::iq3_s}) {
        for (std::size_t blocks : {15, 16, 31, 32, 33}) {
            const std::string type_s = type_name(t);
            CAPTURE(type_s);
            CAPTURE(blocks);
            const std::size_t n = 9, k = blocks * 256;
            const std::vector<std::uint16_t> storage = arbitrary_rows(t, n, k, rng);
            const std::vector<float> x = lowbit_test::gaussian(k, static_cast<std::uint32_t>(blocks));
            std::vector<float> y_ref(n);
            {
                arch_scope s(arch::scalar);
                REQUIRE(gemv(t, storage.data(), n, k, span<const float>(x), span<float>(y_ref)).ok());
            }
            for (float v : y_ref) CHECK(std::isfinite(v));
            gemv_same_on_every_arch(t, storage.data(), n, k, x, y_ref);  // CHECKs each arch's bits
        }
    }
}

TEST_CASE("gguf gemv: extreme scales (f16 max, subnormal, zero, either sign) give the same bits on every arch") {
    // The block terms may overflow to inf or give NaN (inf * 0): every arch
    // must still give the model's bits, the float terms being the same calls
    // in the same order.
    const std::uint16_t f16s[] = {0x7bff, 0xfbff, 0x0001, 0x8001, 0x0400, 0x0000, 0x8000, 0x3c00, 0x5000};
    const std::uint8_t e8m0s[] = {0, 1, 2, 127, 128, 254, 255};
    const std::size_t n = 12;
    std::mt19937 rng(7);
    std::size_t non_finite = 0;  // outputs that overflowed: the case is as extreme as it says
    for (gguf_type t : all_types) {
        const std::size_t k = is_k_quant(t) ? 9 * 256 : 512;  // the lattice copies' eight terms at once, and a tail
        const std::string type_s = type_name(t);
        CAPTURE(type_s);
        std::vector<std::uint16_t> storage = arbitrary_rows(t, n, k, rng);
        auto* p = reinterpret_cast<unsigned char*>(storage.data());
        const std::size_t bb = type_size(t);
        for (std::size_t b = 0; b < n * row_size(t, k) / bb; ++b) {
            unsigned char* blk = p + b * bb;
            for (std::size_t at : f16_fields(t)) std::memcpy(blk + at, &f16s[rng() % 9], 2);
            if (t == gguf_type::mxfp4) blk[0] = e8m0s[rng() % 7];
            if (t == gguf_type::iq1_m) {
                const std::uint16_t h = f16s[rng() % 9];
                for (int i = 0; i < 4; ++i) blk[48 + 2 * i + 1] = static_cast<unsigned char>((blk[48 + 2 * i + 1] & 0x0f) | (((h >> (4 * i)) & 0xf) << 4));
            }
        }
        std::vector<float> x = lowbit_test::gaussian(k, 6u);
        x[5] = 3.0e4f;
        std::vector<float> y_ref(n);
        {
            arch_scope s(arch::scalar);
            REQUIRE(gemv(t, storage.data(), n, k, span<const float>(x), span<float>(y_ref)).ok());
        }
        for (float v : y_ref) non_finite += !std::isfinite(v);
        gemv_same_on_every_arch(t, storage.data(), n, k, x, y_ref);
    }
    CHECK(non_finite > 0);
}

TEST_CASE("gguf TQ1_0: every byte value at every qs and qh position, extreme scales, every arch equals the model") {
    // The AVX-512 copies find trit n of a byte b from b * 3^n mod 256, each
    // zmm with its own power per word (x86/gguf_dot_avx512_body.inl): byte
    // (b + 7 p) % 256 at position p of block b, over at least 256 blocks,
    // puts every value at every one of the 52 positions. K = 1, 8, 9, 17
    // super-blocks (the batch of eight and its tails), odd row counts, GEMM
    // with M = 5 (a tile of four rows and one more) and GEMV; f16 scales max,
    // min normal, subnormal, zero, negative; activations Gaussian with one
    // large value, and saturating (+-127).
    const std::uint16_t f16s[] = {0x7bff, 0x0400, 0x0001, 0x0000, 0x8000, 0xfbff, 0x3c00};
    const std::size_t bb = type_size(gguf_type::tq1_0);
    for (std::size_t blocks : {1, 8, 9, 17}) {
        const std::size_t k = 256 * blocks, n = (256 / blocks + 1) | 1;  // odd, n * blocks > 256
        CAPTURE(k);
        std::vector<std::uint16_t> storage((n * blocks * bb + 1) / 2);
        auto* p = reinterpret_cast<unsigned char*>(storage.data());
        for (std::size_t b = 0; b < n * blocks; ++b) {
            for (std::size_t at = 0; at < 52; ++at) p[b * bb + at] = static_cast<unsigned char>((b + 7 * at) % 256);
            std::memcpy(p + b * bb + 52, &f16s[b % 7], 2);
        }
        const std::size_t M = 5;  // rows_dot<4> (the AVX-512 copies' GEMM tile) and one row more
        std::vector<float> X = lowbit_test::gaussian(M * k, static_cast<std::uint32_t>(blocks));
        X[7] = 5.0e3f;
        for (std::size_t j = 0; j < k; ++j) X[k + j] = j % 3 ? -1.0e4f : 1.0e4f;
        const matrix_view<const float> Xv(X.data(), M, k);
        std::vector<float> Y_ref(M * n), y_ref(n);
        {
            arch_scope s(arch::scalar);
            REQUIRE(gemm(gguf_type::tq1_0, storage.data(), n, k, Xv, matrix_view<float>(Y_ref.data(), M, n)).ok());
            REQUIRE(gemv(gguf_type::tq1_0, storage.data(), n, k, span<const float>(X.data() + k, k), span<float>(y_ref)).ok());
        }
        for (arch a : all_archs) {
            if (a == arch::scalar || !lowbit_test::arch_selected(a) || !force_arch(a).ok()) continue;
            const std::string arch_s = arch_name(a);
            CAPTURE(arch_s);
            arch_scope s(a);
            std::vector<float> Y(M * n, -1.0f), y(n, -1.0f);
            REQUIRE(gemm(gguf_type::tq1_0, storage.data(), n, k, Xv, matrix_view<float>(Y.data(), M, n)).ok());
            REQUIRE(gemv(gguf_type::tq1_0, storage.data(), n, k, span<const float>(X.data() + k, k), span<float>(y)).ok());
            CHECK(same_bits(Y, Y_ref));
            CHECK(same_bits(y, y_ref));
        }
    }
}

TEST_CASE("gguf gemv/gemm: every arch equals the scalar model on edge shapes and codes") {
    // k from one block to 17 (the AVX-512 copies take 32-value blocks eight at a
    // time: 8, 9 and 17 cover the batch and its tail; the 256-value types are
    // taken one super-block at a time, or eight (the VBMI lattice copies), so
    // 1, 3 and 9 cover them), row counts around the
    // 32-row task, M = 1..5; weights from the quantizer and arbitrary bytes;
    // activations Gaussian, saturating (every block code +-127) or zero.
    // LOWBIT_TEST_REDUCED (ASan+UBSan, qemu): each row count with one of the
    // two sources, alternating with the row count, the block count and the
    // type, so that every (type, blocks), (type, rows) and (blocks, rows) pair
    // still meets both sources (half of this case's runs); the full run takes
    // both sources everywhere.
    const bool pairs = lowbit_test::reduced();
    std::mt19937 rng(2024);
    std::size_t type_index = 0;
    for (gguf_type t : all_types) {
        ++type_index;
        std::size_t blocks_index = 0;
        for (std::size_t blocks : {1, 3, 8, 9, 17}) {
            ++blocks_index;
            if (is_k_quant(t) && (blocks == 8 || blocks == 17)) continue;
            const std::size_t k = blocks * type_block_size(t);
            // Eight quantized rows, repeated to n rows (the lattice quantizers
            // take ~1 us per value; the kernels do not care that rows repeat).
            const gguf_matrix base = make_matrix(t, 8, k, static_cast<std::uint32_t>(k));
            const std::size_t rb = row_size(t, k);
            std::size_t n_index = 0;
            for (std::size_t n : {1, 33, 70}) {
                ++n_index;
                for (int source = 0; source < 2; ++source) {
                    if (pairs && static_cast<std::size_t>(source) != (type_index + blocks_index + n_index) % 2) continue;
                    const std::string type_s = type_name(t);
                    CAPTURE(type_s);
                    CAPTURE(k);
                    CAPTURE(n);
                    CAPTURE(source);
                    std::vector<std::uint16_t> bytes = source ? arbitrary_rows(t, n, k, rng) : std::vector<std::uint16_t>((n * rb + 1) / 2);
                    for (std::size_t r = 0; !source && r < n; ++r)
                        std::memcpy(reinterpret_cast<unsigned char*>(bytes.data()) + r * rb,
                                    reinterpret_cast<const unsigned char*>(base.data()) + (r % 8) * rb, rb);
                    const std::size_t M = 5;
                    std::vector<float> X = lowbit_test::gaussian(M * k, static_cast<std::uint32_t>(n));
                    for (std::size_t j = 0; j < k; ++j) X[2 * k + j] = j % 2 ? -1.0e4f : 1.0e4f;  // codes +-127
                    for (std::size_t j = 0; j < k; ++j) X[3 * k + j] = 0.0f;                       // scale 0
                    // The scalar model once, on all M rows: each output row depends on its
                    // own activation row only, so the M = m results below are held to its
                    // first m rows (computing it again for each m cost 1-3 CPU-s of this
                    // case's ~16 under ASan+UBSan).
                    std::vector<float> Y_all(M * n, -1.0f);
                    {
                        arch_scope s(arch::scalar);
                        REQUIRE(gemm(t, bytes.data(), n, k, matrix_view<const float>(X.data(), M, k), matrix_view<float>(Y_all.data(), M, n)).ok());
                    }
                    for (std::size_t m = 1; m <= M; ++m) {
                        CAPTURE(m);
                        const matrix_view<const float> Xm(X.data(), m, k);
                        const std::vector<float> Y_ref(Y_all.data(), Y_all.data() + m * n);
                        for (arch a : all_archs) {
                            if (a == arch::scalar || !lowbit_test::arch_selected(a) || !force_arch(a).ok()) continue;
                            const std::string arch_s = arch_name(a);
                            CAPTURE(arch_s);
                            arch_scope s(a);
                            std::vector<float> Y(m * n, -1.0f);
                            REQUIRE(gemm(t, bytes.data(), n, k, Xm, matrix_view<float>(Y.data(), m, n)).ok());
                            CHECK(same_bits(Y, Y_ref));
                            if (m == 1) {
                                std::vector<float> y(n, -1.0f);
                                REQUIRE(gemv(t, bytes.data(), n, k, span<const float>(X.data(), k), span<float>(y)).ok());
                                CHECK(same_bits(y, Y_ref));
                            }
                        }
                    }
                }
            }
        }
    }
}

TEST_CASE("gguf gemv/gemm: a pre-sized workspace means no allocation") {
    const std::size_t n = 70, k = 512, M = 3;
    for (gguf_type t : all_types) {
        const std::string type_s = type_name(t);
        CAPTURE(type_s);
        const gguf_matrix w = make_matrix(t, n, k, 8u);
        const std::vector<float> X = lowbit_test::gaussian(M * k, 6u);
        const matrix_view<const float> Xv(X.data(), M, k);
        std::vector<float> Y_tls(M * n), y_tls(n);
        REQUIRE(gemm(t, w.data(), n, k, Xv, matrix_view<float>(Y_tls.data(), M, n)).ok());
        REQUIRE(gemv(t, w.data(), n, k, span<const float>(X.data(), k), span<float>(y_tls)).ok());
        matmul_workspace ws;
        std::vector<float> Y(M * n), y(n);
        REQUIRE(gemm(t, w.data(), n, k, Xv, matrix_view<float>(Y.data(), M, n), serial_executor{}, ws).ok());  // grows ws
        CHECK(same_bits(Y, Y_tls));
        const std::size_t capacity = ws.capacity();
        for (arch a : all_archs) {
            if (!lowbit_test::arch_selected(a) || !force_arch(a).ok()) continue;
            const std::string arch_s = arch_name(a);
            CAPTURE(arch_s);
            arch_scope s(a);
            // Nothing is checked inside the measured region: doctest may allocate.
            const std::size_t base = alloc_meter::mark();
            const bool gemm_ok = gemm(t, w.data(), n, k, Xv, matrix_view<float>(Y.data(), M, n), serial_executor{}, ws).ok();
            const bool gemv_ok = gemv(t, w.data(), n, k, span<const float>(X.data(), k), span<float>(y), serial_executor{}, ws).ok();
            const std::size_t with_ws = alloc_meter::peak_since(base);
            // The thread's own workspace has grown to this shape above: no allocation either.
            const std::size_t base2 = alloc_meter::mark();
            const bool tls_ok = gemm(t, w.data(), n, k, Xv, matrix_view<float>(Y_tls.data(), M, n)).ok();
            const std::size_t with_tls = alloc_meter::peak_since(base2);
            CHECK(gemm_ok);
            CHECK(gemv_ok);
            CHECK(tls_ok);
            CHECK(with_ws == 0);
            CHECK(with_tls == 0);
            CHECK(ws.capacity() == capacity);
            CHECK(same_bits(Y, Y_tls));
            CHECK(same_bits(y, y_tls));
        }
        // The meter does see this path's allocation: a fresh workspace grows once.
        matmul_workspace fresh;
        const std::size_t base = alloc_meter::mark();
        const bool ok = gemv(t, w.data(), n, k, span<const float>(X.data(), k), span<float>(y), serial_executor{}, fresh).ok();
        CHECK(ok);
        CHECK(alloc_meter::peak_since(base) >= k);
    }
}
