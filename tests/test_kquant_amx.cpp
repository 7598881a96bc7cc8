// arch::amx on tiled K-quant weights (layout::tiled_kquant): the tile body
// (formats/detail/x86/tiled_kquant_amx.hpp) equals the scalar model
// (kdetail::kq_tile_scalar) bit for bit, on the emulated tiles
// (tests/amx_emulated.hpp) everywhere AVX-512 VNNI runs, on the real ones where
// the OS grants AMX, and through the public gemm there. Part of test_amx.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <lowbit/formats/tiled_kquant_matmul.hpp>
#include <lowbit/kernels/tiled_matmul.hpp>  // with LOWBIT_INLINE_KERNELS (as the test builds define it): the x86 bodies and LOWBIT_HAVE_AMX_KERNELS
#include <lowbit/weights/repack.hpp>

#include "test_util.hpp"

#if defined(LOWBIT_HAVE_AMX_KERNELS)
#include "amx_emulated.hpp"

namespace {

using namespace lowbit;
using gguf::gguf_type;

// rows x cols of random blocks of type t, finite d/dmin (f16 max and zero among them).
std::vector<std::uint8_t> kq_blocks(gguf_type t, std::size_t rows, std::size_t cols, std::uint32_t seed) {
    std::mt19937 rng(seed);
    const std::size_t bb = gguf::type_size(t), n = rows * cols / 256;
    std::vector<std::uint8_t> out(n * bb);
    for (auto& b : out) b = static_cast<std::uint8_t>(rng());
    for (std::size_t i = 0; i < n; ++i) {
        std::uint8_t* blk = out.data() + i * bb;
        for (int f = 0; f < (t == gguf_type::q6_K ? 1 : 2); ++f) {
            std::uint16_t h = static_cast<std::uint16_t>(((3 + rng() % 8) << 10) | (rng() & 0x3ff) | (rng() % 2 ? 0x8000 : 0));
            if (i % 7 == 3) h = f ? 0x0000 : 0x7bff;
            std::memcpy(blk + (t == gguf_type::q6_K ? 208 : 2 * f), &h, 2);
        }
    }
    return out;
}

bool same(float a, float b) { return std::isnan(a) ? std::isnan(b) : std::memcmp(&a, &b, 4) == 0; }
// The first index where y and want differ (same()), y.size() where none does: one
// assertion per output, not one per element (an assertion costs more than the
// comparison at -O0 under ASan+UBSan, this test's build; session 29).
std::size_t first_diff(const std::vector<float>& y, const std::vector<float>& want) {
    for (std::size_t i = 0; i < y.size(); ++i)
        if (!same(y[i], want[i])) return i;
    return y.size();
}

// The activations as the entries prepare them (prepare_ti8, then the half sums), rows `stride` codes apart.
struct kq_prepared {
    std::vector<std::int8_t> q;
    std::vector<float> dx;
    std::vector<std::int32_t> zq;
    std::vector<kdetail::tact_i8> acts;
    kq_prepared(const std::vector<float>& X, std::size_t M, std::size_t K) : q(M * K), dx(M * K / 32), zq(2 * M * K / 32) {
        const std::size_t nb = K / 32;
        for (std::size_t m = 0; m < M; ++m) {
            kdetail::prepare_ti8<4, false>(X.data() + m * K, nullptr, K, nb, q.data() + m * K, dx.data() + m * nb, zq.data() + 2 * m * nb);
            kdetail::kq_half_sums(q.data() + m * K, nb, zq.data() + 2 * m * nb);
            acts.push_back(kdetail::tact_i8{q.data() + m * K, dx.data() + m * nb, zq.data() + 2 * m * nb});
        }
    }
};

// The body against the model. The shapes reach the pipeline's edges (lag 2,
// a ring of 4 C buffers): strips of 1, 2, 3 blocks (shorter than the lag, and
// last strips of 1-3 blocks: K = 256 is 8 blocks), strips crossing a
// super-block, M = 16k +- 1 with the rest on the tiles (min_m 1) or on the
// avx512vnni body (min_m 20, 64: a rest under 64 rows), N not a multiple of 16,
// gathered rows, a NaN row and a row of +-127.
// LOWBIT_TEST_REDUCED (ASan+UBSan, this test's only run): the strip sweep's
// (min_m, strip) grid on the edge M is a pairwise sample, each strip once with
// min_m rotating over M, so every (M, strip), (M, min_m) and (min_m, strip) pair
// still runs (6 of 18 per edge M; session 29, docs/history/test-command.md).
template <int B, class Tiles>
void check_kq_body(gguf_type t, std::uint32_t seed) {
    const bool sampled = lowbit_test::reduced();
    for (const auto& nk : {std::pair<std::size_t, std::size_t>{37, 512}, {16, 256}, {5, 2304}, {21, 768}}) {
        const std::size_t N = nk.first, K = nk.second;
        CAPTURE(N);
        CAPTURE(K);
        const auto blocks = kq_blocks(t, N, K, seed++);
        auto g = make_ggml_weights(t, blocks.data(), N, K);
        REQUIRE(g);
        auto tw = repack(*g, layout::tiled_kquant);
        REQUIRE(tw);
        const kdetail::kq_view w = kdetail::kq_view_of(tw->view());
        const std::size_t tiles = (N + 15) / 16, Mmax = 81;
        std::vector<float> X = lowbit_test::gaussian(Mmax * K, seed++, 2.0f);
        X[5 * K + 3] = std::numeric_limits<float>::infinity();  // row 5: every output NaN
        for (std::size_t c = 0; c < K; ++c) X[7 * K + c] = c % 3 ? 127.0f : -127.0f;
        const kq_prepared P(X, Mmax, K);
        const auto model = [&](const kdetail::tact_i8* acts, std::size_t M) {  // the model takes 64 rows at most
            std::vector<float> y(M * N, -1.0f);
            for (std::size_t m0 = 0; m0 < M; m0 += 64)
                for (std::size_t tt = 0; tt < tiles; ++tt)
                    kdetail::kq_tile_scalar<B>(w, tt, acts + m0, M - m0 < 64 ? M - m0 : 64, y.data() + m0 * N, N);
            return y;
        };
        std::size_t mi = 0;
        for (std::size_t M : {1, 2, 15, 16, 17, 31, 33, 47, 49, 63, 65, 79, 81}) {
            CAPTURE(M);
            const std::vector<float> want = model(P.acts.data(), M);
            const bool edge = M <= 17 || M == 33 || M == 65;  // the strip sweep on a few M
            const std::size_t min_ms[] = {1, 20, kdetail::kq_amx::min_rows}, strips[] = {32, 1, 2, 3, 5, 7};
            for (std::size_t ni = 0; ni < 3; ++ni)
                for (std::size_t si = 0; si < 6; ++si) {
                    const std::size_t min_m = min_ms[ni], strip = strips[si];
                    if (strip != 32 && strip != 3 && !edge) continue;
                    if (sampled && edge && ni != (si + mi) % 3) continue;
                    CAPTURE(min_m);
                    CAPTURE(strip);
                    std::vector<float> y(M * N, -1.0f);
                    kdetail::kq_amx::tiles_on<B, Tiles>(w, 0, tiles, P.acts.data(), M, y.data(), N, min_m, strip);
                    REQUIRE(first_diff(y, want) == y.size());
                }
            // gathered rows (not evenly spaced): reversed
            std::vector<kdetail::tact_i8> rev(P.acts.rend() - static_cast<std::ptrdiff_t>(M), P.acts.rend());
            const std::vector<float> want_r = model(rev.data(), M);
            std::vector<float> y(M * N, -1.0f);
            kdetail::kq_amx::tiles_on<B, Tiles>(w, 0, tiles, rev.data(), M, y.data(), N, 1, 5);
            REQUIRE(first_diff(y, want_r) == y.size());
            ++mi;
        }
    }
}

void check_all_types(bool hw) {
    if (hw) {
        check_kq_body<4, kdetail::amx_hw>(gguf_type::q4_K, 10);
        check_kq_body<5, kdetail::amx_hw>(gguf_type::q5_K, 20);
        check_kq_body<6, kdetail::amx_hw>(gguf_type::q6_K, 30);
    } else {
        check_kq_body<4, kdetail::amx_emulated>(gguf_type::q4_K, 10);
        check_kq_body<5, kdetail::amx_emulated>(gguf_type::q5_K, 20);
        check_kq_body<6, kdetail::amx_emulated>(gguf_type::q6_K, 30);
    }
}

}  // namespace

TEST_CASE("amx tiled K-quant body on the emulated tiles equals the model (Q4_K, Q5_K, Q6_K)") {
    if (!lowbit::detail::cpu().has(lowbit::arch::avx512vnni)) {
        MESSAGE("skipped: the body's epilogue is AVX-512 VNNI code and this CPU has no AVX-512 VNNI");
        return;
    }
    const unsigned faults0 = lowbit::kdetail::amx_emulated::faults().load();
    const unsigned long dots0 = lowbit::kdetail::amx_emulated::dots().load();
    check_all_types(false);
    CHECK(lowbit::kdetail::amx_emulated::faults().load() == faults0);
    CHECK(lowbit::kdetail::amx_emulated::dots().load() > dots0);
}

TEST_CASE("amx tiled K-quant body on the real tiles equals the model; the amx entry runs through gemm") {
    if (!lowbit::detail::cpu().has(lowbit::arch::amx)) {
        MESSAGE("skipped: this CPU/OS has no usable AMX-INT8; the emulated run covers the body");
        return;
    }
    check_all_types(true);
    for (lowbit::gguf::gguf_type t : {lowbit::gguf::gguf_type::q4_K, lowbit::gguf::gguf_type::q6_K}) {
        const std::size_t N = 70, K = 512, M = 80;
        const auto blocks = kq_blocks(t, N, K, 99);
        auto tw = lowbit::repack(*lowbit::make_ggml_weights(t, blocks.data(), N, K), lowbit::layout::tiled_kquant);
        REQUIRE(tw);
        const std::vector<float> X = lowbit_test::gaussian(M * K, 5, 1.0f);
        std::vector<float> Y(M * N), Ys(M * N);
        lowbit::matmul_info info;
        lowbit::matmul_options opt;
        opt.info = &info;
        REQUIRE(lowbit::kquant::gemm(tw->view(), lowbit::matrix_view<const float>(X.data(), M, K), lowbit::matrix_view<float>(Y.data(), M, N),
                                     lowbit::serial_executor{}, opt)
                    .ok());
        CHECK(info.entry->key.a == lowbit::arch::amx);
        CHECK(!info.fell_back);
        REQUIRE(lowbit::force_arch(lowbit::arch::scalar).ok());
        REQUIRE(lowbit::kquant::gemm(tw->view(), lowbit::matrix_view<const float>(X.data(), M, K), lowbit::matrix_view<float>(Ys.data(), M, N)).ok());
        (void)lowbit::force_arch(lowbit::arch::automatic);
        for (std::size_t i = 0; i < Y.size(); ++i) REQUIRE(same(Y[i], Ys[i]));
    }
}
#endif
