// The tiled codebook layout (layout::tiled_codebook, issue 20): to_tiled /
// from_tiled lossless, dequantize equal on both layouts, and its int8 kernels
// of every arch against the scalar model bit for bit, which is the tiled int8
// model of the 8-bit codes G + 128 (docs/kernels.md, "The tiled codebook
// layout"). Part of the test_kernels_tiled binary: with lowbit::compiled the
// entries come from the library (LOWBIT_COMPILED: no kernel instantiated
// here), header-only (the AArch64 build under qemu) from this TU.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <lowbit/formats/codebook_matmul.hpp>
#include <lowbit/formats/gguf_iquants.hpp>
#include <lowbit/kernels/tiled_matmul.hpp>  // kdetail::int8_tile_scalar, prepare_ti8: the tiled int8 model (tiled_w8_model)
#include <lowbit/parallel.hpp>
#include <lowbit/weights/repack.hpp>

#include "test_archs.hpp"
#include "test_codebook_common.hpp"
#include "test_entries.hpp"
#include "test_util.hpp"

namespace {

using namespace lowbit;
using namespace lowbit_test::cb_helpers;
using lowbit_test::arch_scope;
namespace cb = lowbit::codebook;

// The tiled model restated through the tiled int8 model of the symmetric
// 8-bit scheme: codes G + 128 and the same f16 scales per 32 give the same
// integers and float steps (kdetail::int8_tile_scalar), so the same bits.
std::vector<float> tiled_w8_model(const weights_view& cw, const std::vector<float>& X, std::size_t M) {
    using S8 = scheme<8, per_group<32>, symmetric, scale_f16>;
    const std::size_t n = cw.rows(), k = cw.cols(), nb = k / 32;
    auto q = qmatrix<S8>::allocate(n, k);
    REQUIRE(q);
    const auto mv = q->mut_view();
    for (std::size_t r = 0; r < n; ++r)
        for (std::size_t b = 0; b < nb; ++b) {
            const std::uint8_t* blk = cw.codes() + r * cw.row_bytes() + b * codebook_block_bytes(cw.scheme().bits);
            std::uint16_t d;
            std::memcpy(&d, blk, 2);
            mv.scales[r * nb + b] = d;
            for (std::size_t j = 0; j < 32; ++j) {  // the level from the value: d * G / d is G exactly (|G| <= 127)
                const float v = weight_at(cw, r, 32 * b + j);
                const int level = f16_to_f32(d) != 0.0f ? static_cast<int>(std::lround(v / f16_to_f32(d))) : 0;
                mv.codes[r * mv.row_bytes + 32 * b + j] = static_cast<std::uint8_t>(level + 128);  // 8-bit codes: one byte each
            }
        }
    auto t = repack_tiled(q->view());
    REQUIRE(t);
    const tiled_view<S8> tv = t->view();
    std::vector<std::int8_t> qa(M * nb * 32);
    std::vector<float> dx(M * nb);
    std::vector<std::int32_t> zq(M * nb);
    std::vector<kdetail::tact_i8> acts(M);
    for (std::size_t m = 0; m < M; ++m) {
        kdetail::prepare_ti8<8, true>(X.data() + m * k, nullptr, k, nb, qa.data() + m * nb * 32, dx.data() + m * nb, zq.data() + m * nb);
        acts[m] = kdetail::tact_i8{qa.data() + m * nb * 32, dx.data() + m * nb, zq.data() + m * nb};
    }
    std::vector<float> Y(M * n);
    for (std::size_t t0 = 0; t0 < tv.tiles; ++t0) kdetail::int8_tile_scalar(tv, t0, acts.data(), M, Y.data(), n);
    return Y;
}

// Row r of codebook weights cw against activations x (cw.cols() values): the
// double sum, the sum of |w x| and the bound of Q8_0's activation rounding
// (per block |w| * amax / 254).
struct dot_bound {
    double ref = 0, mag = 0, step = 0;
};
dot_bound dot_and_bound(const weights_view& cw, std::size_t r, const float* x) {
    dot_bound d;
    for (std::size_t b = 0; b < cw.cols() / 32; ++b) {
        float amax = 0;
        for (std::size_t j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[32 * b + j]));
        for (std::size_t j = 0; j < 32; ++j) {
            const double wv = weight_at(cw, r, 32 * b + j), xv = x[32 * b + j];
            d.ref += wv * xv;
            d.mag += std::fabs(wv * xv);
            d.step += std::fabs(wv) * amax / 254.0;
        }
    }
    return d;
}

bool vbmi_cpu() { return lowbit::detail::cpu().avx512vbmi && lowbit::detail::cpu().avx512bitalg; }

// Codebook weights (N x K, `bits`-bit indices) whose every index sits at every
// column of a block (idx = (row + 5 c + b) mod 2^bits over the 16 rows of a
// tile), with the block scales taken in turn from `scales`.
weights indexed_codebook(int bits, std::size_t N, std::size_t K, const cb::grid& g, const std::vector<std::uint16_t>& scales) {
    weights_desc d;
    d.lay = layout::codebook;
    d.scheme.bits = bits;
    d.rows = N;
    d.cols = K;
    std::memcpy(d.grid, g.levels, sizeof d.grid);
    auto w = weights::allocate(d);
    REQUIRE(w);
    const std::size_t bb = codebook_block_bytes(bits), nb = K / 32;
    for (std::size_t r = 0; r < N; ++r)
        for (std::size_t b = 0; b < nb; ++b) {
            std::uint8_t* blk = w->codes() + (r * nb + b) * bb;
            std::memcpy(blk, &scales[(r * nb + b) % scales.size()], 2);
            std::memset(blk + 2, 0, bb - 2);
            for (int j = 0; j < 32; ++j) {  // the block format of weight_at
                const int idx = static_cast<int>((r + 5 * static_cast<std::size_t>(j) + b) % (std::size_t{1} << bits));
                if (bits == 4) blk[2 + j % 16] = static_cast<std::uint8_t>(blk[2 + j % 16] | idx << (j < 16 ? 0 : 4));
                else {
                    blk[2 + j % 8] = static_cast<std::uint8_t>(blk[2 + j % 8] | (idx & 3) << (2 * (j / 8)));
                    blk[10 + j / 8] = static_cast<std::uint8_t>(blk[10 + j / 8] | (idx >> 2) << (j % 8));
                }
            }
        }
    return std::move(*w);
}


}  // namespace

TEST_CASE("tiled codebook: to_tiled / from_tiled are lossless and dequantize to the same bits") {
    std::uint32_t seed = 100;
    for (const cb::grid& g : test_grids())
        for (std::size_t k : {32, 288})
            for (std::size_t n : {1, 16, 37}) {  // part of a tile, one whole tile, two and part of a third
                CAPTURE(g.bits);
                CAPTURE(k);
                CAPTURE(n);
                const std::vector<float> w_f = adversarial(n, k, ++seed);
                auto w = cb::quantize(matrix_view<const float>(w_f.data(), n, k), g);
                REQUIRE(w);
                auto t = cb::to_tiled(w->view());
                REQUIRE(t);
                CHECK(t->view().lay() == layout::tiled_codebook);
                CHECK(t->view().code_bytes() == (n + 15) / 16 * (k / 32) * 64 * static_cast<std::size_t>(g.bits));
                CHECK(t->view().scale_bytes() == (n + 15) / 16 * (k / 32) * 16 * 2);
                CHECK(std::memcmp(t->view().grid(), w->view().grid(), 16) == 0);
                std::vector<float> a(n * k), b(n * k, -1.0f);
                REQUIRE(cb::dequantize(w->view(), matrix_view<float>(a.data(), n, k)).ok());
                REQUIRE(cb::dequantize(t->view(), matrix_view<float>(b.data(), n, k)).ok());
                CHECK(same_bits(a, b));
                auto back = cb::from_tiled(t->view());
                REQUIRE(back);
                REQUIRE(back->view().code_bytes() == w->view().code_bytes());
                CHECK(std::memcmp(back->view().codes(), w->view().codes(), w->view().code_bytes()) == 0);
            }
    // Bad descriptions are refused once, at make_weights (repack's refusals: test_weights.cpp).
    const std::vector<float> w_f = lowbit_test::gaussian(5 * 64, 9u);
    auto w = cb::quantize(matrix_view<const float>(w_f.data(), 5, 64), cb::nf_grid(4));
    REQUIRE(w);
    auto t = cb::to_tiled(w->view());
    REQUIRE(t);
    CHECK(cb::to_tiled(t->view()).error().code() == errc::invalid_argument);
    CHECK(cb::from_tiled(w->view()).error().code() == errc::invalid_argument);
    weights_desc d = t->view().desc();
    CHECK(make_weights(d).ok());
    d.grid[3] = d.grid[2];  // not ascending
    CHECK(make_weights(d).error().code() == errc::invalid_argument);
    d = t->view().desc();
    d.cols = 48;
    CHECK(make_weights(d).error().code() == errc::invalid_argument);
    d = t->view().desc();
    d.scales = nullptr;
    CHECK(make_weights(d).error().code() == errc::invalid_argument);
    d = t->view().desc();
    d.scales = static_cast<const std::uint8_t*>(d.scales) + 1;
    CHECK(make_weights(d).error().code() == errc::invalid_argument);
    d = t->view().desc();
    d.scheme.bits = 5;
    CHECK(make_weights(d).error().code() == errc::unsupported);
    std::vector<float> y(4 * 64);
    CHECK(cb::dequantize(t->view(), matrix_view<float>(y.data(), 4, 64)).code() == errc::shape_mismatch);
}

TEST_CASE("tiled codebook gemv/gemm: every arch equals the scalar model bit for bit, and the model is the tiled int8 model") {
    const std::size_t ks[] = {32, 288};  // one block; nine (odd, more than 8)
    const std::size_t ns[] = {5, 37};    // N not a multiple of 16: part of one tile; two whole tiles and part of a third
    const std::size_t M = 13;                       // gemm: zmm 6 + 6 + 1 rows, ymm 2 x 6 + 1
    std::uint32_t seed = 300;
    for (const cb::grid& g : test_grids())
        for (std::size_t k : ks)
            for (std::size_t n : ns) {
                CAPTURE(g.bits);
                CAPTURE(int(g.levels[0]));
                CAPTURE(k);
                CAPTURE(n);
                const std::vector<float> w_f = adversarial(n, k, ++seed);
                auto cw = cb::quantize(matrix_view<const float>(w_f.data(), n, k), g);
                REQUIRE(cw);
                auto w = cb::to_tiled(cw->view());
                REQUIRE(w);
                std::vector<float> X = lowbit_test::gaussian(M * k, ++seed, 2.0f);
                X[k + 3] = 1e4f;                                                                                                 // a spike in row 1
                std::fill(X.begin() + 2 * static_cast<std::ptrdiff_t>(k), X.begin() + 3 * static_cast<std::ptrdiff_t>(k), 0.0f);  // row 2 zero
                for (std::size_t c = 0; c < k; ++c) X[3 * k + c] = c % 2 ? 127.0f : -127.0f;                                    // row 3: +-amax
                std::vector<float> y_ref(n), Y_ref(M * n);
                {
                    arch_scope s(arch::scalar);
                    REQUIRE(cb::gemv(w->view(), span<const float>(X.data(), k), span<float>(y_ref)).ok());
                    REQUIRE(cb::gemm(w->view(), matrix_view<const float>(X.data(), M, k), matrix_view<float>(Y_ref.data(), M, n)).ok());
                }
                CHECK(std::memcmp(Y_ref.data(), y_ref.data(), n * sizeof(float)) == 0);  // gemm row 0 = gemv
                CHECK(same_bits(Y_ref, tiled_w8_model(cw->view(), X, M)));
                // The reference path, and the model against it within the activation rounding.
                std::vector<float> Y_dbl(M * n);
                matmul_options ro;
                ro.path = matmul_path::reference;
                REQUIRE(cb::gemm(w->view(), matrix_view<const float>(X.data(), M, k), matrix_view<float>(Y_dbl.data(), M, n), serial_executor{}, ro).ok());
                for (std::size_t m = 0; m < M; ++m)
                    for (std::size_t r = 0; r < n; ++r) {
                        const dot_bound db = dot_and_bound(cw->view(), r, X.data() + m * k);
                        const double ref = db.ref, mag = db.mag, step = db.step;
                        CHECK(std::fabs(Y_dbl[m * n + r] - ref) <= 1e-6 * mag + 1e-30);
                        CHECK(std::fabs(Y_ref[m * n + r] - ref) <= 1.01 * step + 1e-5 * mag + 1e-30);
                    }
                for (arch a : lowbit_test::runnable_archs()) {
                    const std::string arch_s = arch_name(a);
                    CAPTURE(arch_s);
                    arch_scope s(a);
                    std::vector<float> y(n), Y(M * n);
                    matmul_info info;
                    matmul_options o;
                    o.info = &info;
                    REQUIRE(cb::gemv(w->view(), span<const float>(X.data(), k), span<float>(y), serial_executor{}, o).ok());
                    REQUIRE(cb::gemm(w->view(), matrix_view<const float>(X.data(), M, k), matrix_view<float>(Y.data(), M, n)).ok());
                    CHECK(same_bits(y, y_ref));
                    CHECK(same_bits(Y, Y_ref));
                    CHECK(info.fell_back == (a == arch::sse2));  // every arch but sse2 has its entry
                    CHECK(std::string(info.kernel).rfind("cb" + std::to_string(g.bits) + "/tiled_codebook/i8/", 0) == 0);
                    // The VBMI body runs exactly where the CPU has it (its entries shadow the plain avx512vnni ones).
                    CHECK((info.entry->needs == needs_avx512vbmi) == ((a == arch::avx512vnni || a == arch::amx) && vbmi_cpu()));
                }
            }
}

TEST_CASE("tiled codebook gemm: threads and strided, unaligned activations give the same bits; NaN activations propagate") {
    const std::size_t n = 70, k = 320, M = 5;
    const std::vector<float> w_f = lowbit_test::gaussian(n * k, 31u);
    for (int bits : {3, 4}) {
        auto cw = cb::quantize(matrix_view<const float>(w_f.data(), n, k), cb::nf_grid(bits));
        REQUIRE(cw);
        auto w = cb::to_tiled(cw->view());
        REQUIRE(w);
        std::vector<float> X = lowbit_test::gaussian(M * (k + 3) + 1, 32u);
        const matrix_view<const float> Xv(X.data() + 1, M, k, k + 3);
        std::vector<float> Y1(M * n), Y2(M * (n + 1));
        REQUIRE(cb::gemm(w->view(), Xv, matrix_view<float>(Y1.data(), M, n)).ok());
        thread_pool pool(3);
        REQUIRE(cb::gemm(w->view(), Xv, matrix_view<float>(Y2.data(), M, n, n + 1), pool).ok());
        for (std::size_t m = 0; m < M; ++m)
            for (std::size_t r = 0; r < n; ++r) CHECK(Y1[m * n + r] == Y2[m * (n + 1) + r]);
        X[1 + 7] = std::numeric_limits<float>::quiet_NaN();
        std::vector<float> y(n);
        REQUIRE(cb::gemv(w->view(), span<const float>(X.data() + 1, k), span<float>(y)).ok());
        for (float v : y) CHECK(std::isnan(v));
        CHECK(cb::gemv(w->view(), span<const float>(X.data(), k - 1), span<float>(y)).code() == errc::shape_mismatch);
        // The front door takes the codebook layout too (its entries: test_codebook.cpp;
        // its Q8_0 activations refuse NaN).
        X[1 + 7] = 0.5f;
        std::vector<float> yc(n);
        matmul_info info;
        matmul_options io;
        io.info = &info;
        REQUIRE(cb::gemv(cw->view(), span<const float>(X.data() + 1, k), span<float>(yc), serial_executor{}, io).ok());
        CHECK(std::string(info.kernel).rfind("cb" + std::to_string(bits) + "/codebook/i8/", 0) == 0);
        for (layout lay : {layout::codebook, layout::tiled_codebook}) {  // with lowbit::compiled: its families, by place
            REQUIRE(cb::kernels(bits, lay).size() > 0);
            for (const kernel_entry& e : cb::kernels(bits, lay)) CHECK((e.key.lay == lay && e.key.bits_or_type == bits));
        }
        CHECK(cb::kernels(bits, layout::dense).size() == 0);
        CHECK(cb::gemv(*make_ggml_weights(gguf::gguf_type::q4_0, X.data(), 1, 32), span<const float>(X.data(), 32), span<float>(yc.data(), 1))
                  .code() == errc::invalid_argument);
        matmul_options f;
        f.path = matmul_path::dequant_fma;
        CHECK(cb::gemv(w->view(), span<const float>(X.data(), k), span<float>(y), serial_executor{}, f).code() == errc::unsupported);
    }
}

TEST_CASE("tiled codebook: every entry the CPU runs, the lookup's shadowed ones too, equals the model on every index at every column") {
    // Each entry runs directly (not through the lookup), so the plain avx512vnni body
    // is checked on a VBMI CPU as well. Every grid index meets every column of a
    // block (every quad vector, every byte of it: the VBMI 3-bit lookup has a table
    // per quad pair); scales: f16 max, min normal, min subnormal, zero, negative.
    const std::vector<std::uint16_t> scales = {0x7bff, 0x0400, 0x0001, 0x0000, 0xbc00, 0x3c00, 0xfbff};
    const std::size_t M = 13;  // gemv (M = 1) is row 0 of the first run
    std::uint32_t seed = 700;
    for (const cb::grid& g : test_grids())
        for (const auto& nk : {std::pair<std::size_t, std::size_t>{37, 288}, {5, 64}, {64, 32}}) {
            const std::size_t n = nk.first, k = nk.second;
            CAPTURE(g.bits);
            CAPTURE(int(g.levels[0]));
            CAPTURE(n);
            CAPTURE(k);
            auto cw = indexed_codebook(g.bits, n, k, g, scales);
            auto w = cb::to_tiled(cw.view());
            REQUIRE(w);
            std::vector<float> X = lowbit_test::gaussian(M * k, ++seed, 2.0f);
            for (std::size_t c = 0; c < k; ++c) X[2 * k + c] = c % 3 ? 127.0f : -127.0f;
            const span<const kernel_entry> fam = cb::kernels(g.bits, layout::tiled_codebook);
            const kernel_entry* model = nullptr;
            for (const kernel_entry& e : fam)
                if (e.key.path == matmul_path::int8_dot && e.key.a == arch::scalar) model = &e;
            REQUIRE(model != nullptr);
            const std::vector<float> Y_model = lowbit_test::run_entry_direct(*model, w->view(), X, M);
            const std::vector<float> y_model = lowbit_test::run_entry_direct(*model, w->view(), X, 1);
            CHECK(same_bits(Y_model, tiled_w8_model(cw.view(), X, M)));
            int vbmi_entries = 0;
            for (const kernel_entry& e : fam) {
                if (e.key.path != matmul_path::int8_dot || !lowbit::detail::cpu().has(e.body) || !needs_met(e)) continue;
                char name[64];
                kernel_name(e, name, sizeof name);
                const std::string name_s = name;
                CAPTURE(name_s);
                vbmi_entries += e.needs == needs_avx512vbmi;
                CHECK(same_bits(lowbit_test::run_entry_direct(e, w->view(), X, M), Y_model));
                CHECK(same_bits(lowbit_test::run_entry_direct(e, w->view(), X, 1), y_model));
            }
            CHECK(vbmi_entries == (vbmi_cpu() ? 2 : 0));  // avx512vnni and amx keys
        }
}

namespace {

// IQ4_NL blocks written by lowbit's IQ4_NL quantizer, then some block scales
// overwritten (every 7th block from block `from`, in turn) with `scales`.
std::vector<gguf::block_iq4_nl> iq4nl_blocks(std::size_t n, std::size_t k, std::uint32_t seed, const std::vector<std::uint16_t>& scales, std::size_t from) {
    const std::vector<float> x = adversarial(n, k, seed);
    std::vector<gguf::block_iq4_nl> b(n * k / 32);
    REQUIRE(gguf::quantize_iq4_nl(x.data(), b.data(), static_cast<std::int64_t>(n), static_cast<std::int64_t>(k), nullptr).ok());
    for (std::size_t i = from, s = 0; i < b.size() && !scales.empty(); i += 7, ++s) b[i].d = scales[s % scales.size()];
    return b;
}

}  // namespace

TEST_CASE("IQ4_NL blocks repacked to tiled_codebook: the same values bit for bit, the int8 kernels equal the tiled model, the round trip the bytes") {
    // Scales: f16 max, min normal, smallest subnormal, zero, negative zero, negative.
    const std::vector<std::uint16_t> finite = {0x7bff, 0x0400, 0x0001, 0x0000, 0x8000, 0xbc00};
    const std::size_t M = 13;
    std::uint32_t seed = 900;
    // n: one row, one tile, part of a third, 33; k: one block, nine, 4096 / 8 (whole tiles of the VBMI body and not)
    for (const auto& nk : {std::pair<std::size_t, std::size_t>{1, 32}, {16, 64}, {37, 288}, {33, 512}}) {
        const std::size_t n = nk.first, k = nk.second;
        CAPTURE(n);
        CAPTURE(k);
        const auto blocks = iq4nl_blocks(n, k, ++seed, finite, 1);
        auto g = make_ggml_weights(gguf::gguf_type::iq4_nl, blocks.data(), n, k);
        REQUIRE(g);
        auto c = repack(*g, layout::codebook);
        auto t = repack(*g, layout::tiled_codebook);
        REQUIRE(c);
        REQUIRE(t);
        CHECK(t->view().lay() == layout::tiled_codebook);
        CHECK(std::memcmp(t->view().grid(), gguf::iq4nl_levels, 16) == 0);
        // dequantize: ggml's decode of the blocks, the codebook and the tiled codebook values
        std::vector<float> a(n * k), bc(n * k, -1.0f), bt(n * k, -2.0f);
        for (std::size_t r = 0; r < n; ++r)
            REQUIRE(gguf::dequantize_row_iq4_nl(blocks.data() + r * (k / 32), a.data() + r * k, static_cast<std::int64_t>(k)).ok());
        REQUIRE(cb::dequantize(c->view(), matrix_view<float>(bc.data(), n, k)).ok());
        REQUIRE(cb::dequantize(t->view(), matrix_view<float>(bt.data(), n, k)).ok());
        CHECK(same_bits(a, bc));
        CHECK(same_bits(a, bt));
        // back to ggml: the same bytes from either layout
        for (const weights* w : {&*c, &*t}) {
            auto back = repack(w->view(), layout::ggml);
            REQUIRE(back);
            CHECK(back->view().ggml_type() == gguf::gguf_type::iq4_nl);
            REQUIRE(back->view().code_bytes() == blocks.size() * sizeof(gguf::block_iq4_nl));
            CHECK(std::memcmp(back->view().codes(), blocks.data(), back->view().code_bytes()) == 0);
        }
        // gemv / gemm: every arch equals the scalar entry and the tiled int8 model; the
        // tiled layout's reference path is within 1e-6 of a double sum over ggml's
        // decode of the blocks; the model, and the codebook layout's reference path
        // (its Q8_0 scalar model, as for ggml blocks), within the activation rounding
        std::vector<float> X = lowbit_test::gaussian(M * k, ++seed, 2.0f);
        for (std::size_t col = 0; col < k; ++col) X[3 * k + col] = col % 2 ? 127.0f : -127.0f;
        const std::vector<float> Y_model = tiled_w8_model(c->view(), X, M);
        std::vector<float> Yr_c(M * n), Yr_t(M * n, 1.0f);
        matmul_options ro;
        ro.path = matmul_path::reference;
        REQUIRE(cb::gemm(c->view(), matrix_view<const float>(X.data(), M, k), matrix_view<float>(Yr_c.data(), M, n), serial_executor{}, ro).ok());
        REQUIRE(cb::gemm(t->view(), matrix_view<const float>(X.data(), M, k), matrix_view<float>(Yr_t.data(), M, n), serial_executor{}, ro).ok());
        for (std::size_t m = 0; m < M; ++m)
            for (std::size_t r = 0; r < n; ++r) {
                const dot_bound db = dot_and_bound(c->view(), r, X.data() + m * k);  // c's values are a's (checked above)
                const double ref = db.ref, mag = db.mag, step = db.step;
                CHECK(std::fabs(Yr_c[m * n + r] - ref) <= 1.01 * step + 1e-5 * mag + 1e-30);
                CHECK(std::fabs(Yr_t[m * n + r] - ref) <= 1e-6 * mag + 1e-30);
                CHECK(std::fabs(Y_model[m * n + r] - ref) <= 1.01 * step + 1e-5 * mag + 1e-30);
            }
        for (arch ar : lowbit_test::runnable_archs()) {
            const std::string arch_s = arch_name(ar);
            CAPTURE(arch_s);
            arch_scope s(ar);
            std::vector<float> y(n), Y(M * n);
            REQUIRE(cb::gemv(t->view(), span<const float>(X.data(), k), span<float>(y)).ok());
            REQUIRE(cb::gemm(t->view(), matrix_view<const float>(X.data(), M, k), matrix_view<float>(Y.data(), M, n)).ok());
            CHECK(same_bits(Y, Y_model));
            CHECK(std::memcmp(y.data(), Y_model.data(), n * sizeof(float)) == 0);
        }
    }
}

TEST_CASE("IQ4_NL blocks with NaN/Inf scales repack losslessly; their rows are non-finite, the other rows unchanged") {
    const std::size_t n = 37, k = 288, M = 3;
    const std::vector<std::uint16_t> bad = {0x7e00, 0x7c00, 0xfc00, 0x7c01};  // NaN, +Inf, -Inf, a signalling NaN
    const auto blocks = iq4nl_blocks(n, k, 77u, bad, 3);
    auto zeroed = blocks;  // the same with the bad scales 0
    std::vector<bool> bad_row(n, false);
    for (std::size_t i = 0; i < blocks.size(); ++i)
        if ((blocks[i].d & 0x7c00) == 0x7c00) zeroed[i].d = 0, bad_row[i / (k / 32)] = true;
    auto g = make_ggml_weights(gguf::gguf_type::iq4_nl, blocks.data(), n, k);
    auto gz = make_ggml_weights(gguf::gguf_type::iq4_nl, zeroed.data(), n, k);
    REQUIRE(g);
    REQUIRE(gz);
    auto t = repack(*g, layout::tiled_codebook);
    auto tz = repack(*gz, layout::tiled_codebook);
    REQUIRE(t);
    REQUIRE(tz);
    auto back = repack(t->view(), layout::ggml);
    REQUIRE(back);
    CHECK(std::memcmp(back->view().codes(), blocks.data(), back->view().code_bytes()) == 0);
    std::vector<float> a(n * k), b(n * k);
    for (std::size_t r = 0; r < n; ++r)
        REQUIRE(gguf::dequantize_row_iq4_nl(blocks.data() + r * (k / 32), a.data() + r * k, static_cast<std::int64_t>(k)).ok());
    REQUIRE(cb::dequantize(t->view(), matrix_view<float>(b.data(), n, k)).ok());
    for (std::size_t i = 0; i < a.size(); ++i) {
        CAPTURE(i);
        CHECK(((std::isnan(a[i]) && std::isnan(b[i])) || std::memcmp(&a[i], &b[i], 4) == 0));
    }
    const std::vector<float> X = lowbit_test::gaussian(M * k, 78u);
    std::vector<float> Yz(M * n);
    REQUIRE(cb::gemm(tz->view(), matrix_view<const float>(X.data(), M, k), matrix_view<float>(Yz.data(), M, n)).ok());
    for (arch ar : lowbit_test::runnable_archs()) {
        const std::string arch_s = arch_name(ar);
        CAPTURE(arch_s);
        arch_scope s(ar);
        std::vector<float> Y(M * n);
        REQUIRE(cb::gemm(t->view(), matrix_view<const float>(X.data(), M, k), matrix_view<float>(Y.data(), M, n)).ok());
        for (std::size_t m = 0; m < M; ++m)
            for (std::size_t r = 0; r < n; ++r) {
                CAPTURE(m);
                CAPTURE(r);
                if (bad_row[r]) CHECK(!std::isfinite(Y[m * n + r]));
                else CHECK(std::memcmp(&Y[m * n + r], &Yz[m * n + r], 4) == 0);
            }
    }
}

TEST_CASE("repack to ggml IQ4_NL: codebook weights on another grid, or 3-bit, are refused naming why") {
    const std::vector<float> x = lowbit_test::gaussian(4 * 64, 5u);
    for (const cb::grid& gr : test_grids()) {
        CAPTURE(gr.bits);
        auto c = cb::quantize(matrix_view<const float>(x.data(), 4, 64), gr);
        REQUIRE(c);
        auto t = cb::to_tiled(c->view());
        REQUIRE(t);
        for (const weights* w : {&*c, &*t}) {
            auto back = repack(w->view(), layout::ggml);
            REQUIRE(!back);
            CHECK(back.error().code() == errc::unsupported);
            CHECK(std::string(back.error().message()).find("IQ4_NL") != std::string::npos);
        }
    }
    // IQ4_XS has no codebook form (its per-32 scale is not an f16): refused.
    std::vector<std::uint8_t> xs(gguf::type_size(gguf::gguf_type::iq4_xs));
    auto g = make_ggml_weights(gguf::gguf_type::iq4_xs, xs.data(), 1, 256);
    REQUIRE(g);
    CHECK(repack(*g, layout::tiled_codebook).error().code() == errc::unsupported);
    CHECK(repack(*g, layout::codebook).error().code() == errc::unsupported);
}
