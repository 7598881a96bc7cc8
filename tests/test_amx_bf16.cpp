// arch::amx, bf16_dot path (docs/kernels.md, "The AMX-BF16 body"): the
// AMX-BF16 tile body of the tiled layout (kernels/detail/x86/amx_bf16_body.hpp)
// on the emulated tiles (tests/amx_emulated.hpp: tdpbf16ps as the SDM's
// pseudo-code defines it, itself checked here) equals, bit for bit, a scalar
// walk in the SDM's order written here, and equals the bf16 scalar model up to
// the order of the f32 sums (the path's contract). Where the CPU and OS allow
// AMX-BF16 the same runs on the real tiles (the contract; the SDM order only
// reported) and through the public gemm. Part of test_amx.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <lowbit/kernels/tiled_matmul.hpp>  // with LOWBIT_INLINE_KERNELS (as the test builds define it): the x86 bodies
#include <lowbit/kernels/weights_matmul.hpp>

#include "test_kernels_common.hpp"
#include "test_util.hpp"

#if defined(LOWBIT_HAVE_AMX_BF16_KERNELS)
#include "amx_emulated.hpp"

using namespace lowbit;

namespace {

using kdetail::amx_emulated;
using kdetail::amx_tile_config;

float f_of(std::uint32_t u) {
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}
std::uint32_t u_of(float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}
float bf(std::uint16_t h) { return f_of(static_cast<std::uint32_t>(h) << 16); }
// DAZ / FTZ as the SDM states them (written apart from the emulator's).
float ftz(float v) { return std::fabs(v) < std::numeric_limits<float>::min() ? (std::signbit(v) ? -0.0f : 0.0f) : v; }
bool same(float a, float b) { return std::isnan(a) ? std::isnan(b) : u_of(a) == u_of(b); }

// A bf16 of every kind the instruction meets: small integers (the weights),
// normal values, subnormals (read as zero), zeros of both signs, now and then
// an infinity or a NaN.
std::uint16_t any_bf16(std::mt19937& rng, bool specials) {
    const unsigned r = rng() % 16;
    if (r < 5) return static_cast<std::uint16_t>(u_of(static_cast<float>(static_cast<int>(rng() % 511) - 255)) >> 16);
    if (r < 12) return static_cast<std::uint16_t>((rng() & 0x8000u) | ((1 + rng() % 253) << 7) | (rng() & 0x7f));
    if (r < 14) return static_cast<std::uint16_t>((rng() & 0x8000u) | (1 + rng() % 0x7f));  // subnormal
    if (r < 15 || !specials) return static_cast<std::uint16_t>(rng() & 0x8000u);
    return rng() % 2 ? static_cast<std::uint16_t>(0x7f80u | (rng() & 0x8000u)) : static_cast<std::uint16_t>(0x7fc1u);
}

}  // namespace

TEST_CASE("amx emulation: tdpbf16ps as the SDM defines it") {
    std::mt19937 rng(1916);
    const unsigned faults0 = amx_emulated::faults().load();
    for (int m_rows : {1, 7, 16})
        for (int k_pairs : {1, 8, 16})
            for (int n_cols : {3, 16})
                for (int kind = 0; kind < 3; ++kind) {
                    CAPTURE(m_rows);
                    CAPTURE(k_pairs);
                    CAPTURE(n_cols);
                    CAPTURE(kind);
                    // kind 0: small integers only (every sum exact: checked against
                    // the exact integer dot product too); 1: any finite value,
                    // subnormals among them; 2: infinities and NaNs too.
                    std::vector<std::uint16_t> A(16 * 32), B(16 * 32);
                    for (auto* v : {&A, &B})
                        for (auto& h : *v)
                            h = kind == 0 ? static_cast<std::uint16_t>(u_of(static_cast<float>(static_cast<int>(rng() % 31) - 15)) >> 16)
                                          : any_bf16(rng, kind == 2);
                    std::vector<float> C(16 * 16), out(16 * 16, 7.0f);
                    for (std::size_t i = 0; i < C.size(); ++i)
                        C[i] = kind == 0 ? static_cast<float>(static_cast<int>(rng() % 1001) - 500)
                                         : (i % 5 == 0 ? f_of(static_cast<std::uint32_t>(rng() % 0x7fffff) | (rng() & 0x80000000u))  // subnormal
                                                       : static_cast<float>(static_cast<int>(rng() % 2001) - 1000) * 0.37f);
                    amx_tile_config cfg;
                    cfg.set(0, m_rows, 4 * k_pairs);
                    cfg.set(1, k_pairs, 4 * n_cols);
                    cfg.set(2, m_rows, 4 * n_cols);
                    amx_emulated t;
                    t.configure(cfg);
                    t.load<0>(A.data(), 64);
                    t.load<1>(B.data(), 64);
                    t.load<2>(C.data(), 64);
                    t.dp_bf16<2, 0, 1>();
                    t.store<2>(out.data(), 64);
                    for (int m = 0; m < m_rows; ++m)
                        for (int n = 0; n < 16; ++n) {
                            if (n >= n_cols) {
                                REQUIRE(out[m * 16 + n] == 7.0f);  // not stored: past colsb
                                continue;
                            }
                            float ch[2] = {0.0f, 0.0f};
                            double exact = C[m * 16 + n];
                            for (int k = 0; k < k_pairs; ++k)
                                for (int e = 0; e < 2; ++e) {
                                    const float a = ftz(bf(A[m * 32 + 2 * k + e])), b = ftz(bf(B[k * 32 + 2 * n + e]));
                                    ch[e] = ftz(std::fma(a, b, ch[e]));
                                    exact += static_cast<double>(a) * b;
                                }
                            const float want = ftz(ftz(C[m * 16 + n]) + ftz(ch[0] + ch[1]));
                            REQUIRE(same(out[m * 16 + n], want));
                            if (kind == 0) REQUIRE(static_cast<double>(out[m * 16 + n]) == exact);
                        }
                    t.release();
                }
    CHECK(amx_emulated::faults().load() == faults0);
    // Shapes that do not chain fault, as for the integer dot products.
    amx_emulated t;
    amx_tile_config cfg;
    cfg.set(0, 4, 64);
    cfg.set(1, 15, 64);  // A has 16 pairs per row, B 15 rows
    cfg.set(2, 4, 64);
    t.configure(cfg);
    t.dp_bf16<2, 0, 1>();
    CHECK(amx_emulated::faults().load() == faults0 + 1);
    t.dp_bf16<2, 2, 1>();  // a tile used twice
    CHECK(amx_emulated::faults().load() == faults0 + 2);
    amx_emulated::faults().store(faults0);
}

namespace {

// Activation rows prepared as the bf16 entries prepare them (prepare_tbf16:
// bf16 words, every 4 columns as x0 x2 x1 x3), rows evenly spaced with a gap
// (as the workspace lays them out), and the same rows rounded to bf16 as
// floats for the scalar model.
struct bf16_rows {
    std::vector<std::uint16_t> words;
    std::vector<kdetail::tact_bf16> acts;
    std::vector<float> xr;  // rounded, prepared for the f32 model (permuted order)
    std::vector<kdetail::tact_f32> facts;
    std::size_t pad;
    template <class S>
    bf16_rows(const tiled_view<S>& w, const std::vector<float>& X, std::size_t M) {
        const std::size_t K = w.cols, nb = w.blocks;
        pad = nb * tile_block + tile_block;
        words.assign(M * pad, 0xffff);
        xr.resize(M * nb * tile_block);
        std::vector<float> rounded(K);
        for (std::size_t m = 0; m < M; ++m) {
            kdetail::prepare_tbf16(X.data() + m * K, w.perm, K, nb, words.data() + m * pad);
            for (std::size_t c = 0; c < K; ++c) rounded[c] = bf16_to_f32(kdetail::bf16_round(X[m * K + c]));
            kdetail::prepare_tf32(rounded.data(), w.perm, K, nb, xr.data() + m * nb * tile_block);
        }
        for (std::size_t m = 0; m < M; ++m) {
            acts.push_back(kdetail::tact_bf16{words.data() + m * pad});
            facts.push_back(kdetail::tact_f32{xr.data() + m * nb * tile_block});
        }
    }
};

// The bf16 scalar model (the scalar entry's: the f32 model on the rounded
// activations) of tiles [t0, t1) for M rows.
template <class S>
std::vector<float> bf16_model(const tiled_view<S>& w, std::size_t t0, std::size_t t1, const kdetail::tact_f32* a, std::size_t M) {
    std::vector<float> y(M * w.rows, -1.0f);
    for (std::size_t m = 0; m < M; m += 64)
        for (std::size_t t = t0; t < t1; ++t) kdetail::f32_tile_scalar(w, t, a + m, M - m < 64 ? M - m : 64, y.data() + m * w.rows, w.rows);
    return y;
}

// The body's sums in the SDM's order, on the prepared words: per block, dword
// k of the activation row holds words 2k, 2k+1 (columns col(2k), col(2k+1));
// one FTZ chain over the first words, one over the second, their sum added to
// a zeroed C, then acc = fma(P, s, acc) as the model.
template <class S>
std::vector<float> sdm_walk(const tiled_view<S>& w, std::size_t t0, std::size_t t1, const kdetail::tact_bf16* a, std::size_t M) {
    static constexpr std::size_t order[4] = {0, 2, 1, 3};
    std::vector<float> y(M * w.rows, -1.0f);
    for (std::size_t m0 = 0; m0 < M; m0 += 64) {
        const std::size_t mc = M - m0 < 64 ? M - m0 : 64;
        for (std::size_t t = t0; t < t1; ++t)
            kdetail::tile_scalar_walk(w, t, mc, y.data() + m0 * w.rows, w.rows,
                                      [&](std::size_t m, std::size_t b, const auto& code, float s, float z, float acc) {
                                          const std::uint16_t* x = a[m0 + m].x + b * tile_block;
                                          float ch[2] = {0.0f, 0.0f};
                                          for (std::size_t i = 0; i < tile_block; ++i) {
                                              const std::size_t col = (i & ~std::size_t{3}) + order[i & 3];
                                              const float wv = static_cast<float>(code(col)) - z;
                                              ch[i & 1] = ftz(std::fma(ftz(bf(x[i])), wv, ch[i & 1]));
                                          }
                                          const float P = ftz(0.0f + ftz(ch[0] + ch[1]));
                                          return std::fma(P, s, acc);
                                      });
    }
    return y;
}

// The contract against the model: NaN where it has NaN, its infinities, else
// within 1e-5 * 1.01 * sum |w x_bf16| (+1e-30: flushed subnormal partial sums).
void check_contract(const std::vector<float>& y, const std::vector<float>& model, const std::vector<double>& tol, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        if (same(y[i], model[i])) continue;  // (also the entries a test leaves at a placeholder in both)
        if (std::isnan(model[i])) REQUIRE(std::isnan(y[i]));
        else if (std::isinf(model[i])) REQUIRE(same(y[i], model[i]));
        else {
            REQUIRE(std::isfinite(y[i]));
            REQUIRE(std::fabs(static_cast<double>(y[i]) - model[i]) <= tol[i]);
        }
    }
}

// The tile body on Tiles for every row count of a sweep (min_rows 1: all on
// the tiles, groups of 16 and a last group of 1-15; 20: small M and the rest
// on the vdpbf16ps body), short strips, a tile sub-range, gathered rows;
// against the SDM walk bit for bit (sdm: emulated tiles) or only counting
// differences (real tiles), and against the model within the contract.
template <class S, class Tiles>
void check_bf16_body(unsigned seed, bool sdm, std::size_t& sdm_diffs) {
    struct shp {
        std::size_t N, K;
        bool perm, adversarial, long_k;
    };
    const bool reduced = lowbit_test::reduced();
    for (const shp& sh : {shp{1, 1, false, false, false}, shp{17, 31, true, false, false}, shp{40, 33, false, true, false},
                          shp{16, 64, false, false, false}, shp{45, 130, true, true, false}, shp{33, 257, false, false, false},
                          shp{20, 2048, true, true, true}, shp{16, 2080, false, false, true}}) {
        // LOWBIT_TEST_REDUCED (ASan+UBSan -O0, where the emulated tiles cost
        // ~1000x): without the shapes whose code paths the others reach (a
        // single tile 16 x 64, 33 x 257, the second long K).
        if (reduced && ((sh.N == 16 && sh.K == 64) || sh.K == 257 || sh.K == 2080)) continue;
        CAPTURE(sh.N);
        CAPTURE(sh.K);
        const auto q = kt::make_matrix<S>(sh.N, sh.K, seed++, sh.perm, sh.adversarial);
        auto tw = repack_tiled(q.view());
        REQUIRE(tw.ok());
        const tiled_view<S> w = tw->view();
        const std::size_t Mmax = 81;
        std::vector<float> X = kt::random_rows(Mmax, sh.K, seed, sh.adversarial);
        // Row 5: an infinity; row 6: a NaN; row 7: a huge finite value (3e38:
        // its products overflow where |u - z| >= 2); row 8: values near the
        // smallest normal (partial sums may be subnormal: flushed by the tiles);
        // row 9: subnormal activations (rounded to zero).
        X[5 * sh.K + sh.K / 2] = std::numeric_limits<float>::infinity();
        X[6 * sh.K + sh.K / 3] = std::numeric_limits<float>::quiet_NaN();
        X[7 * sh.K + (sh.K - 1)] = -3e38f;
        for (std::size_t c = 0; c < sh.K; ++c) X[8 * sh.K + c] *= 3e-38f;
        for (std::size_t c = 0; c < sh.K; ++c) X[9 * sh.K + c] *= 1e-39f;
        const bf16_rows P(w, X, Mmax);
        const auto d = kt::dequantized(q);
        std::vector<double> tol(Mmax * sh.N);
        for (std::size_t m = 0; m < Mmax; ++m) {
            std::vector<float> xm(sh.K);
            for (std::size_t c = 0; c < sh.K; ++c) xm[c] = bf16_to_f32(kdetail::bf16_round(X[m * sh.K + c]));
            const auto b = kt::dot_rows(d, sh.N, sh.K, xm.data(), true);
            for (std::size_t r = 0; r < sh.N; ++r) tol[m * sh.N + r] = kt::f32_rel_tol * 1.01 * b[r] + 1e-30;
        }
        const auto model_all = bf16_model(w, 0, w.tiles, P.facts.data(), Mmax);
        const auto walk_all = sdm_walk(w, 0, w.tiles, P.acts.data(), Mmax);
        auto run = [&](std::size_t t0, const kdetail::tact_bf16* acts, std::size_t M, std::size_t min_rows, std::size_t strip,
                       const std::vector<float>& model, const std::vector<float>& walk, bool tiles_only) {
            std::vector<float> y(M * sh.N, -1.0f);
            kdetail::amx::tbf16_tiles_on<S, Tiles>(w, t0, w.tiles, acts, M, y.data(), sh.N, min_rows, strip);
            check_contract(y, model, tol, M * sh.N);
            // Rows left to the vdpbf16ps body follow its order, not the SDM's.
            const std::size_t on_tiles = M < min_rows ? 0 : (M % 16 >= min_rows ? M : M / 16 * 16);
            for (std::size_t i = 0; i < on_tiles * sh.N; ++i) {
                if (i % sh.N < t0 * tile_rows) {
                    REQUIRE(y[i] == -1.0f);  // rows of tiles before t0 untouched
                    continue;
                }
                if (sdm) REQUIRE(same(y[i], walk[i]));
                else sdm_diffs += !same(y[i], walk[i]);
            }
            (void)tiles_only;
        };
        std::vector<std::size_t> Ms;
        if (sh.long_k) Ms = reduced ? std::vector<std::size_t>{17} : std::vector<std::size_t>{1, 15, 16, 17, 33, 47, 64, 81};
        else if (reduced) Ms = {1, 2, 5, 15, 16, 17, 20, 31, 32, 33, 47, 48, 49, 81};
        else
            for (std::size_t M = 1; M <= Mmax; ++M) Ms.push_back(M);
        for (std::size_t M : Ms) {
            CAPTURE(M);
            for (std::size_t min_rows : {std::size_t{1}, kdetail::amx::bf16_min_rows, std::size_t{20}}) {
                CAPTURE(min_rows);
                run(0, P.acts.data(), M, min_rows, kdetail::amx::bf16_strip_blocks, model_all, walk_all, true);
            }
        }
        // The body the table runs (compiled for scale_any, the scale type read at
        // run time) gives the typed body's bits.
        if constexpr (S::gran != granularity::per_tensor) {
            const auto aw = kdetail::any_scale_view(w);
            using AS = typename decltype(aw)::scheme_type;
            for (std::size_t M : {std::size_t{1}, std::size_t{17}, std::size_t{33}}) {
                CAPTURE(M);
                std::vector<float> y(M * sh.N, -1.0f), ya(M * sh.N, -2.0f);
                kdetail::amx::tbf16_tiles_on<S, Tiles>(w, 0, w.tiles, P.acts.data(), M, y.data(), sh.N, 1, 3);
                kdetail::amx::tbf16_tiles_on<AS, Tiles>(aw, 0, w.tiles, P.acts.data(), M, ya.data(), sh.N, 1, 3);
                for (std::size_t i = 0; i < y.size(); ++i) REQUIRE(same(ya[i], y[i]));
            }
        }
        // Short strips: accumulators kept in the output between strips, strips
        // shorter than the pipeline's lag, groups of scales across strips.
        for (std::size_t strip : {std::size_t{1}, std::size_t{3}})
            for (std::size_t M : {std::size_t{9}, std::size_t{21}, std::size_t{33}}) {
                CAPTURE(strip);
                CAPTURE(M);
                run(0, P.acts.data(), M, 1, strip, model_all, walk_all, true);
            }
        // A sub-range of tiles; the rows of the others untouched.
        if (w.tiles >= 2) {
            const std::size_t M = 19;
            std::vector<float> model(model_all.begin(), model_all.begin() + static_cast<std::ptrdiff_t>(M * sh.N));
            std::vector<float> walk(walk_all.begin(), walk_all.begin() + static_cast<std::ptrdiff_t>(M * sh.N));
            for (std::size_t m = 0; m < M; ++m)
                for (std::size_t r = 0; r < tile_rows; ++r) model[m * sh.N + r] = walk[m * sh.N + r] = -1.0f;
            std::vector<float> y(M * sh.N, -1.0f);
            kdetail::amx::tbf16_tiles_on<S, Tiles>(w, 1, w.tiles, P.acts.data(), M, y.data(), sh.N, 1, 2);
            for (std::size_t i = 0; i < y.size(); ++i) {
                if (i % sh.N < tile_rows) REQUIRE(y[i] == -1.0f);
                else if (sdm) REQUIRE(same(y[i], walk[i]));
            }
            check_contract(y, model, tol, M * sh.N);
        }
        // Rows not evenly spaced (reversed): the A tile is gathered.
        {
            const std::size_t M = 23;
            std::vector<kdetail::tact_bf16> rev(P.acts.rbegin() + static_cast<std::ptrdiff_t>(Mmax - M), P.acts.rend());
            std::vector<kdetail::tact_f32> frev(P.facts.rbegin() + static_cast<std::ptrdiff_t>(Mmax - M), P.facts.rend());
            const auto model = bf16_model(w, 0, w.tiles, frev.data(), M);
            const auto walk = sdm_walk(w, 0, w.tiles, rev.data(), M);
            std::vector<float> y(M * sh.N, -1.0f);
            kdetail::amx::tbf16_tiles_on<S, Tiles>(w, 0, w.tiles, rev.data(), M, y.data(), sh.N, 1, 3);
            std::vector<double> rtol(M * sh.N);
            for (std::size_t m = 0; m < M; ++m)
                for (std::size_t r = 0; r < sh.N; ++r) rtol[m * sh.N + r] = tol[(M - 1 - m) * sh.N + r];
            check_contract(y, model, rtol, M * sh.N);
            for (std::size_t i = 0; i < y.size(); ++i) {
                if (sdm) REQUIRE(same(y[i], walk[i]));
                else sdm_diffs += !same(y[i], walk[i]);
            }
        }
    }
}

#define LOWBIT_AMX_BF16_TEST_SCHEMES                                                                                        \
    scheme<1, per_group<32>>, scheme<1, per_channel, asymmetric>, scheme<2, per_tensor, asymmetric>, scheme<3, per_group<64>>, \
        scheme<4, per_group<32>>, scheme<4, per_tensor, symmetric, scale_bf16>, scheme<5, per_channel, asymmetric, scale_f32>, \
        scheme<6, per_group<128>, asymmetric>, scheme<7, per_tensor>, scheme<8, per_channel, asymmetric>,                    \
        scheme<8, per_group<32>, symmetric, scale_bf16>, scheme<4, per_group_dynamic, asymmetric>

}  // namespace

TEST_CASE_TEMPLATE("amx bf16 body on the emulated tiles: the SDM's order bit for bit, the bf16 model up to the order of the sums", S,
                   LOWBIT_AMX_BF16_TEST_SCHEMES) {
    if (!detail::cpu().has(arch::avx512vnni) || !detail::cpu().avx512bf16) {
        MESSAGE("skipped: the AMX-BF16 body's widening and float steps need AVX-512 VNNI and AVX512_BF16, which this CPU lacks");
        return;
    }
    const unsigned faults0 = amx_emulated::faults().load();
    const unsigned long dots0 = amx_emulated::dots().load();
    std::size_t diffs = 0;
    check_bf16_body<S, amx_emulated>(S::bits * 100 + (S::is_symmetric ? 5 : 6), true, diffs);
    CHECK(amx_emulated::faults().load() == faults0);  // every configuration and dot product was valid
    CHECK(amx_emulated::dots().load() > dots0);       // and the tiles did the work
}

TEST_CASE_TEMPLATE("amx bf16 body on the real tiles: the bf16 model up to the order of the sums", S, LOWBIT_AMX_BF16_TEST_SCHEMES) {
    if (!detail::cpu().has(arch::amx) || !detail::cpu().amx_bf16 || !detail::cpu().avx512bf16) {
        MESSAGE("skipped: this CPU/OS has no usable AMX-BF16 (amx usable = " << detail::cpu().has(arch::amx) << ", amx_bf16 = "
                                                                          << detail::cpu().amx_bf16
                                                                          << "); the emulated run above covers the body");
        return;
    }
    std::size_t diffs = 0;
    check_bf16_body<S, kdetail::amx_hw>(S::bits * 100 + (S::is_symmetric ? 7 : 8), false, diffs);
    MESSAGE("real tdpbf16ps vs the SDM's order: " << diffs << " outputs differ (not part of the contract)");
    // Through the public gemm on the run-time weights: the amx tile entry runs
    // (no fallback) and keeps the contract against the forced scalar model.
    const std::size_t N = 70, K = 200;
    const auto q = kt::make_matrix<S>(N, K, 79, true);
    auto tw = repack_tiled(q.view());
    REQUIRE(tw.ok());
    auto wv = to_weights(tw->view());
    REQUIRE(wv.ok());
    const auto d = kt::dequantized(q);
    for (std::size_t M : {1, 7, 16, 33, 64, 100}) {
        CAPTURE(M);
        const auto X = kt::random_vec(M * K, static_cast<unsigned>(M));
        auto run = [&](arch a) {
            kt::arch_scope s(a);
            std::vector<float> Y(M * N, -2.0f);
            matmul_info info;
            matmul_options o;
            o.path = matmul_path::bf16_dot;
            o.allow_fallback = a != arch::scalar;
            o.info = &info;
            REQUIRE(gemm(*wv, matrix_view<const float>(X.data(), M, K), matrix_view<float>(Y.data(), M, N), serial_executor{}, o).ok());
            if (a == arch::amx) {
                CHECK_FALSE(info.fell_back);
                CHECK(info.entry->body == arch::amx);
            }
            return Y;
        };
        const auto ys = run(arch::scalar), ya = run(arch::amx);
        std::vector<double> tol(M * N);
        for (std::size_t m = 0; m < M; ++m) {
            std::vector<float> xm(X.begin() + static_cast<std::ptrdiff_t>(m * K), X.begin() + static_cast<std::ptrdiff_t>((m + 1) * K));
            for (float& v : xm) v = bf16_to_f32(kdetail::bf16_round(v));
            const auto b = kt::dot_rows(d, N, K, xm.data(), true);
            for (std::size_t r = 0; r < N; ++r) tol[m * N + r] = kt::f32_rel_tol * 1.01 * b[r] + 1e-30;
        }
        check_contract(ya, ys, tol, M * N);
    }
}
#endif
