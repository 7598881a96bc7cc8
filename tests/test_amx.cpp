// arch::amx (docs/kernels.md, "AMX"): the AMX-INT8 GEMM body of the tiled
// layout equals the int8 scalar model bit for bit. CPUs without AMX (this
// project's CI) run the body on the scalar model of the tile instructions
// (tests/amx_emulated.hpp, itself checked against the
// instructions' definition here); CPUs whose OS grants AMX also run the real
// instructions, directly and through the public gemm. The detection, forcing
// and fallback rules of the new arch are checked everywhere.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <lowbit/kernels/kernel_list.hpp>
#include <lowbit/kernels/tiled_matmul.hpp>
#include <lowbit/kernels/weights_matmul.hpp>

#include "test_kernels_common.hpp"

#if defined(LOWBIT_HAVE_AMX_KERNELS)
#include "amx_emulated.hpp"
#endif

using namespace lowbit;

TEST_CASE("amx: name, forcing, fallback chain, table entries") {
    auto p = parse_arch("amx");
    REQUIRE(p.ok());
    CHECK(*p == arch::amx);
    CHECK(std::string(arch_name(arch::amx)) == "amx");
    CHECK(fallback_arch(arch::amx) == arch::avx512vnni);
    const auto& f = detail::cpu();
    CHECK(f.has(arch::amx) == (f.has(arch::avx512vnni) && f.amx_hw && f.amx_permitted));
    if (f.has(arch::amx)) {
        CHECK(detail::best_arch(f) == arch::amx);
    } else {
        const status st = force_arch(arch::amx);
        CHECK(st.code() == errc::unsupported);
        if (f.amx_hw && f.has(arch::avx512vnni)) {
            MESSAGE("this CPU has AMX but the OS refused the tile state: the refusal is reported");
            CHECK(std::string(st.message()).find("refused") != std::string::npos);
        }
        CHECK(active_arch() == detail::best_arch(f));
    }
#if defined(LOWBIT_HAVE_AMX_KERNELS)
    // Every dense and tiled family lists amx for every path it has on avx512vnni
    // (int8_dot, dequant_fma, bf16_dot): the tiled int8 entry is the tile body,
    // and the tiled bf16 path has two (the AMX-BF16 tile body, needing AMX-BF16,
    // then the vdpbf16ps body for CPUs without it); the others are
    // avx512vnni's (or avx512's) bodies.
    // Read from the run-time table (w4-sym-f16, per group): tiled_kernels<S>() and
    // dense_kernels<S>() would compile every arch's bodies of S here for this.
    int tiled_amx = 0, dense_amx = 0, tiled_amx_bf16 = 0;
    for_each_kernel([&](const kernel_entry& e) {
        const kernel_key& k = e.key;
        if (k.a != arch::amx || !is_scheme_layout(k.lay) || k.bits_or_type != 4 || !k.symmetric || k.scale != scale_type::f16 ||
            k.per_tensor)
            return;
        if (k.lay == layout::tiled) {
            ++tiled_amx;
            char name[64];
            kernel_name(e, name, sizeof name);
            if (k.path == matmul_path::int8_dot) CHECK(std::string(name) == "w4-sym-f16/tiled/i8/amx");
            else if (k.path == matmul_path::bf16_dot && e.body == arch::amx) {
                CHECK(std::string(name) == "w4-sym-f16/tiled/bf16/amx+bf16");
                CHECK(e.needs == (needs_avx512bf16 | needs_amx_bf16));
                ++tiled_amx_bf16;
            } else CHECK(e.body == arch::avx512);
        } else {
            ++dense_amx;
            CHECK(e.body != arch::amx);
        }
    });
#if defined(LOWBIT_HAVE_AMX_BF16_KERNELS)
    CHECK(tiled_amx == 4);
    CHECK(tiled_amx_bf16 == 1);
#else
    CHECK(tiled_amx == 3);
    CHECK(tiled_amx_bf16 == 0);
#endif
    CHECK(dense_amx == 3);
    CHECK((f.amx_bf16 && !f.amx_hw) == false);  // AMX-BF16 only on top of the tile state
#endif
}

#if defined(LOWBIT_HAVE_AMX_KERNELS)
namespace {

using kdetail::amx_emulated;
using kdetail::amx_tile_config;

// tdpb[ss|su|us]d by the SDM's definition, written independently of the emulator's loops.
std::int32_t dpbd(const std::uint8_t* a, const std::uint8_t* b, bool sa, bool sb) {
    std::int64_t s = 0;
    for (int e = 0; e < 4; ++e) {
        const std::int64_t x = sa ? static_cast<std::int8_t>(a[e]) : a[e], y = sb ? static_cast<std::int8_t>(b[e]) : b[e];
        s += x * y;
    }
    return static_cast<std::int32_t>(s);
}

}  // namespace

TEST_CASE("amx emulation: the tile instructions as the SDM defines them") {
    std::mt19937 rng(19);
    std::uniform_int_distribution<int> byte(0, 255);
    const unsigned faults0 = amx_emulated::faults().load();
    for (int m_rows : {1, 7, 16})
        for (int k_quads : {1, 8, 16})
            for (int n_cols : {3, 16})
                for (int kind = 0; kind < 3; ++kind) {
                    CAPTURE(m_rows);
                    CAPTURE(k_quads);
                    CAPTURE(n_cols);
                    CAPTURE(kind);
                    const bool sa = kind != 2, sb = kind != 1;  // ss, su, us
                    std::vector<std::uint8_t> A(16 * 64), B(16 * 64);
                    for (auto& v : A) v = static_cast<std::uint8_t>(byte(rng));
                    for (auto& v : B) v = static_cast<std::uint8_t>(byte(rng));
                    // C near the int32 limits: the sums wrap around.
                    std::vector<std::int32_t> C(16 * 16), out(16 * 16, 7);
                    for (std::size_t i = 0; i < C.size(); ++i)
                        C[i] = i % 3 == 0 ? std::numeric_limits<std::int32_t>::max() - static_cast<std::int32_t>(i)
                                          : (i % 3 == 1 ? std::numeric_limits<std::int32_t>::min() + static_cast<std::int32_t>(i)
                                                        : static_cast<std::int32_t>(i) * 1000);
                    amx_tile_config cfg;
                    cfg.set(0, m_rows, 4 * k_quads);
                    cfg.set(1, k_quads, 4 * n_cols);
                    cfg.set(2, m_rows, 4 * n_cols);
                    amx_emulated t;
                    t.configure(cfg);
                    t.load<0>(A.data(), 64);
                    t.load<1>(B.data(), 64);
                    t.load<2>(C.data(), 64);
                    if (kind == 0) t.dp_ss<2, 0, 1>();
                    else if (kind == 1) t.dp_su<2, 0, 1>();
                    else t.dp_us<2, 0, 1>();
                    t.store<2>(out.data(), 64);
                    for (int m = 0; m < m_rows; ++m)
                        for (int n = 0; n < 16; ++n) {
                            if (n >= n_cols) {
                                REQUIRE(out[m * 16 + n] == 7);  // not stored: past colsb
                                continue;
                            }
                            std::uint32_t want = static_cast<std::uint32_t>(C[m * 16 + n]);
                            for (int k = 0; k < k_quads; ++k)
                                want += static_cast<std::uint32_t>(dpbd(&A[m * 64 + 4 * k], &B[k * 64 + 4 * n], sa, sb));
                            REQUIRE(out[m * 16 + n] == static_cast<std::int32_t>(want));
                        }
                    t.release();
                }
    CHECK(amx_emulated::faults().load() == faults0);
    // What the hardware faults on is counted, not computed.
    amx_emulated t;
    std::vector<std::uint8_t> buf(1024);
    t.load<0>(buf.data(), 64);  // no configuration
    CHECK(amx_emulated::faults().load() == faults0 + 1);
    amx_tile_config cfg;
    cfg.set(0, 4, 32);
    cfg.set(1, 7, 64);  // A has 8 quads per row, B 7 rows: do not chain
    cfg.set(2, 4, 64);
    t.configure(cfg);
    t.dp_su<2, 0, 1>();
    CHECK(amx_emulated::faults().load() == faults0 + 2);
    cfg.set(3, 17, 64);  // more rows than palette 1 has
    t.configure(cfg);
    CHECK(amx_emulated::faults().load() == faults0 + 3);
    amx_emulated::faults().store(faults0);
}

namespace {

// Prepared int8 activations of M rows (the scalar preparation: every arch's equals it).
template <class S>
struct prepared {
    std::vector<unsigned char> buf;
    std::vector<kdetail::tact_i8> acts;
    prepared(const tiled_view<S>& w, const std::vector<float>& X, std::size_t M) {
        buf.resize(kdetail::tiled_i8_ws::bytes(w.cols, M) + 64);
        void* base = buf.data() + ((64 - reinterpret_cast<std::uintptr_t>(buf.data()) % 64) % 64);
        const kdetail::tiled_i8_ws ws = kdetail::tiled_i8_ws::at(base, w.cols, M);
        for (std::size_t m = 0; m < M; ++m) {
            kdetail::prepare_ti8<S::bits, S::is_symmetric>(X.data() + m * w.cols, w.perm, w.cols, ws.nb, ws.q + m * ws.pad,
                                                           ws.dx + m * ws.nb, ws.zq + m * ws.nb);
            acts.push_back(kdetail::tact_i8{ws.q + m * ws.pad, ws.dx + m * ws.nb, ws.zq + m * ws.nb});
        }
    }
};

// The int8 scalar model of tiles [t0, t1) for M rows (at most 64 per call of the model).
template <class S>
std::vector<float> model(const tiled_view<S>& w, std::size_t t0, std::size_t t1, const kdetail::tact_i8* a, std::size_t M) {
    std::vector<float> y(M * w.rows, -1.0f);
    for (std::size_t m = 0; m < M; m += 64)
        for (std::size_t t = t0; t < t1; ++t) kdetail::int8_tile_scalar(w, t, a + m, M - m < 64 ? M - m : 64, y.data() + m * w.rows, w.rows);
    return y;
}

bool same(float a, float b) { return std::isnan(a) ? std::isnan(b) : kt::same_bits(a, b); }
// The first index where y and want differ (same()), y.size() where none does: one
// assertion per output, not one per element (an assertion costs more than the
// comparison at -O0 under ASan+UBSan, this test's build; session 29).
std::size_t first_diff(const std::vector<float>& y, const std::vector<float>& want) {
    for (std::size_t i = 0; i < y.size(); ++i)
        if (!same(y[i], want[i])) return i;
    return y.size();
}

// The AMX body on Tiles, every row count 1..40 (min_rows 1: all through the tiles;
// groups of 16 rows and a last group of 1-15), short strips of blocks, tile
// sub-ranges, activation rows the body must gather, and a row threshold (small
// M and the rest of the groups on the avx512vnni body), against the model.
template <class S, class Tiles>
void check_body(unsigned seed) {
    struct shp {
        std::size_t N, K;
        bool perm, adversarial;
    };
    for (const shp& sh : {shp{1, 1, false, false}, shp{17, 31, true, false}, shp{40, 33, false, true}, shp{16, 64, false, false},
                          shp{45, 130, true, true}, shp{33, 257, false, false}}) {
        CAPTURE(sh.N);
        CAPTURE(sh.K);
        const auto q = kt::make_matrix<S>(sh.N, sh.K, seed++, sh.perm, sh.adversarial);
        auto tw = repack_tiled(q.view());
        REQUIRE(tw.ok());
        const tiled_view<S> w = tw->view();
        const std::size_t Mmax = 40;
        std::vector<float> X = kt::random_rows(Mmax, sh.K, seed, sh.adversarial);
        if (sh.adversarial) X[5 * sh.K] = std::numeric_limits<float>::infinity();  // row 5: every output NaN
        const prepared<S> P(w, X, Mmax);
        for (std::size_t M = 1; M <= Mmax; ++M) {
            CAPTURE(M);
            const auto want = model(w, 0, w.tiles, P.acts.data(), M);
            // 1: every row on the tiles; 20: M < 20 on the avx512vnni body, then
            // whole groups on the tiles and the rest (< 20) on the avx512vnni body.
            // (The library's amx_min_rows, 64, is above Mmax: it takes the avx512vnni body here.)
            for (std::size_t min_rows : {std::size_t{1}, std::size_t{20}}) {
                std::vector<float> y(M * sh.N, -1.0f);
                kdetail::amx::ti8_tiles_on<S, Tiles>(w, 0, w.tiles, P.acts.data(), M, y.data(), sh.N, min_rows);
                REQUIRE(first_diff(y, want) == y.size());
            }
            // The body the table runs: compiled for scale_any, the scale type read at run time.
            if constexpr (S::gran != granularity::per_tensor) {
                if (M == 1 || M == 17 || M == Mmax) {
                    const auto aw = kdetail::any_scale_view(w);
                    using AS = typename decltype(aw)::scheme_type;
                    std::vector<float> y(M * sh.N, -1.0f);
                    kdetail::amx::ti8_tiles_on<AS, Tiles>(aw, 0, w.tiles, P.acts.data(), M, y.data(), sh.N, 1);
                    REQUIRE(first_diff(y, want) == y.size());
                }
            }
        }
        // Short strips (the library's strip is 32 blocks, more than these shapes
        // have): several strips with the accumulators kept in the output between
        // them, a last strip shorter than the others, strips of one block (shorter
        // than the pipeline's lag: every block is first and last), and groups of
        // scales that span two strips (g64 / g128 / per channel with strips of 3).
        for (std::size_t strip : {std::size_t{1}, std::size_t{3}})  // 2: the uneven block steps below
            for (std::size_t M : {std::size_t{9}, std::size_t{21}, std::size_t{33}}) {  // one group of 9; 16 + 5; 2 x 16 + 1
                CAPTURE(strip);
                CAPTURE(M);
                const auto want = model(w, 0, w.tiles, P.acts.data(), M);
                std::vector<float> y(M * sh.N, -1.0f);
                kdetail::amx::ti8_tiles_on<S, Tiles>(w, 0, w.tiles, P.acts.data(), M, y.data(), sh.N, 1, strip);
                REQUIRE(first_diff(y, want) == y.size());
            }
        // A sub-range of tiles (odd count); other rows untouched.
        if (w.tiles >= 2) {
            const std::size_t M = 19;
            const auto want = model(w, 1, w.tiles, P.acts.data(), M);
            std::vector<float> y(M * sh.N, -1.0f);
            kdetail::amx::ti8_tiles_on<S, Tiles>(w, 1, w.tiles, P.acts.data(), M, y.data(), sh.N, 1);
            REQUIRE(first_diff(y, want) == y.size());
        }
        // Activation rows not evenly spaced (reversed): the A tile is gathered.
        {
            const std::size_t M = 23;
            std::vector<kdetail::tact_i8> rev(P.acts.rbegin() + static_cast<std::ptrdiff_t>(Mmax - M), P.acts.rend());
            const auto want = model(w, 0, w.tiles, rev.data(), M);
            std::vector<float> y(M * sh.N, -1.0f);
            kdetail::amx::ti8_tiles_on<S, Tiles>(w, 0, w.tiles, rev.data(), M, y.data(), sh.N, 1, 3);
            REQUIRE(first_diff(y, want) == y.size());
        }
        // Codes evenly spaced, block steps and zq not (copied out unevenly): the
        // body copies each row's own.
        {
            const std::size_t M = 18, nb = w.blocks;
            std::vector<float> dx(M * (nb + 2));
            std::vector<std::int32_t> zq(M * (nb + 2));
            std::vector<kdetail::tact_i8> acts(P.acts.begin(), P.acts.begin() + static_cast<std::ptrdiff_t>(M));
            for (std::size_t m = 0; m < M; ++m) {
                const std::size_t at = m * (nb + 1) + m % 2;
                std::copy(P.acts[m].dx, P.acts[m].dx + nb, dx.begin() + static_cast<std::ptrdiff_t>(at));
                std::copy(P.acts[m].zq, P.acts[m].zq + nb, zq.begin() + static_cast<std::ptrdiff_t>(at));
                acts[m].dx = dx.data() + at;
                acts[m].zq = zq.data() + at;
            }
            const auto want = model(w, 0, w.tiles, P.acts.data(), M);
            std::vector<float> y(M * sh.N, -1.0f);
            kdetail::amx::ti8_tiles_on<S, Tiles>(w, 0, w.tiles, acts.data(), M, y.data(), sh.N, 1, 2);
            REQUIRE(first_diff(y, want) == y.size());
        }
    }
}

#define LOWBIT_AMX_TEST_SCHEMES                                                                                             \
    scheme<1, per_group<32>>, scheme<1, per_channel, asymmetric>, scheme<2, per_tensor, asymmetric>, scheme<3, per_group<64>>, \
        scheme<4, per_group<32>>, scheme<4, per_tensor, symmetric, scale_bf16>, scheme<5, per_channel, asymmetric, scale_f32>, \
        scheme<6, per_group<128>, asymmetric>, scheme<7, per_tensor>, scheme<8, per_channel, asymmetric>,                    \
        scheme<8, per_group<32>, symmetric, scale_bf16>, scheme<4, per_group_dynamic, asymmetric>

}  // namespace

TEST_CASE_TEMPLATE("amx body on the emulated tiles equals the int8 scalar model (widths 1-8, sym/asym, every scale)", S,
                   LOWBIT_AMX_TEST_SCHEMES) {
    if (!detail::cpu().has(arch::avx512vnni)) {
        MESSAGE("skipped: the AMX body's epilogue is AVX-512 VNNI code and this CPU has no AVX-512 VNNI");
        return;
    }
    const unsigned faults0 = kdetail::amx_emulated::faults().load();
    const unsigned long dots0 = kdetail::amx_emulated::dots().load();
    check_body<S, kdetail::amx_emulated>(S::bits * 100 + (S::is_symmetric ? 1 : 2));
    CHECK(kdetail::amx_emulated::faults().load() == faults0);  // every configuration and dot product was valid
    CHECK(kdetail::amx_emulated::dots().load() > dots0);       // and the tiles did the work
}

TEST_CASE_TEMPLATE("amx body on the real tiles equals the int8 scalar model", S, LOWBIT_AMX_TEST_SCHEMES) {
    if (!detail::cpu().has(arch::amx)) {
        MESSAGE("skipped: this CPU/OS has no usable AMX-INT8 (amx_hw = " << detail::cpu().amx_hw
                                                                         << ", amx_permitted = " << detail::cpu().amx_permitted
                                                                         << "); the emulated run above covers the body");
        return;
    }
    check_body<S, kdetail::amx_hw>(S::bits * 100 + (S::is_symmetric ? 3 : 4));
    // Through the public gemm on the run-time weights (the kernel table's entries,
    // compiled once in lowbit::compiled: a typed gemm here would instantiate every
    // arch's tiled bodies for each scheme, two thirds of this file's compile): the
    // amx entry runs (no fallback) and equals the forced scalar model.
    const std::size_t N = 70, K = 200;
    const auto q = kt::make_matrix<S>(N, K, 77, true);
    auto tw = repack_tiled(q.view());
    REQUIRE(tw.ok());
    auto wv = to_weights(tw->view());
    REQUIRE(wv.ok());
    for (std::size_t M : {1, 7, 8, 33, 64, 100}) {
        CAPTURE(M);
        const auto X = kt::random_vec(M * K, static_cast<unsigned>(M));
        auto run = [&](arch a) {
            kt::arch_scope s(a);
            std::vector<float> Y(M * N, -2.0f);
            matmul_info info;
            matmul_options o;
            o.path = matmul_path::int8_dot;
            o.allow_fallback = a != arch::scalar;
            o.info = &info;
            REQUIRE(gemm(*wv, matrix_view<const float>(X.data(), M, K), matrix_view<float>(Y.data(), M, N), serial_executor{}, o)
                        .ok());
            if (a == arch::amx) {
                CHECK_FALSE(info.fell_back);
                CHECK(info.entry->body == arch::amx);
            }
            return Y;
        };
        const auto ys = run(arch::scalar), ya = run(arch::amx);
        for (std::size_t i = 0; i < ys.size(); ++i) REQUIRE(kt::same_bits(ya[i], ys[i]));
    }
}
#endif
