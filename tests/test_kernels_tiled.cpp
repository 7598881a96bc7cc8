// Kernels, part 3: the tiled layout (pack/tiled.hpp) and the kernels on it
// (kernels/tiled_matmul.hpp). The repack is pure and reversible for every
// width, granularity and shape; on every arch this CPU runs, both paths equal
// their scalar models bit for bit (and the ARM copies are shown to run), the
// int8 model stays within the int8 error bound and the f32 model within the
// f32 tolerance of the reference, GEMM rows equal GEMV, and results do not
// depend on the thread count.
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <numeric>
#include <string>

#include <lowbit/kernels/tiled_matmul.hpp>  // with LOWBIT_INLINE_KERNELS (as the test builds define it) also kdetail::bf16_round

#include "any_scale_view.hpp"
#include "test_kernels_common.hpp"
#include "test_util.hpp"

using namespace lowbit;

static_assert(planes_of(8).count == 1 && planes_of(8).width[0] == 8, "8: one byte plane");
static_assert(planes_of(7).count == 3 && planes_of(7).shift[2] == 6, "7 = 4 + 2 + 1");
static_assert(planes_of(5).count == 2 && planes_of(5).width[1] == 1, "5 = 4 + 1");
static_assert(planes_of(3).count == 2 && planes_of(3).width[0] == 2, "3 = 2 + 1");

namespace {

// The code of row r, column c read back from the tiled bytes by the layout's
// definition (independent of the repack's own loops).
template <class S>
unsigned tiled_code(const tiled<S>& t, std::size_t r, std::size_t c) {
    const std::size_t ti = r / 16, i = r % 16, b = c / 32, j = (c % 32) / 4, e = c % 4, n = 4 * i + e;
    const std::uint8_t* p = t.codes.data() + (ti * t.blocks + b) * t.block_bytes;
    const bit_planes pl = planes_of(S::bits);
    unsigned code = 0;
    for (int k = 0; k < pl.count; ++k) {
        const int w = pl.width[k];
        const unsigned byte = p[64 * (j % static_cast<std::size_t>(w)) + n];
        code |= ((byte >> (w * static_cast<int>(j / static_cast<std::size_t>(w)))) & ((1u << w) - 1)) << pl.shift[k];
        p += 64 * w;
    }
    return code;
}

template <class S>
void check_round_trip() {
    for (const auto& sh : kt::shapes()) {
        CAPTURE(sh.N);
        CAPTURE(sh.K);
        const auto q = kt::make_matrix<S>(sh.N, sh.K, static_cast<unsigned>(sh.N * 31 + sh.K), sh.K % 2 == 1);
        auto t = repack_tiled(q.view());
        REQUIRE(t.ok());
        CHECK(t->codes.size() == t->tiles * t->blocks * 64 * S::bits);
        for (std::size_t r = 0; r < sh.N; ++r)
            for (std::size_t c = 0; c < sh.K; c += 1 + c % 5) REQUIRE(tiled_code(*t, r, c) == q.view().code(r, c));
        auto back = unpack_tiled(*t);
        REQUIRE(back.ok());
        const auto a = q.view(), b = back->view();
        REQUIRE(b.rows == a.rows);
        REQUIRE(b.cols == a.cols);
        REQUIRE(b.row_bytes == a.row_bytes);
        CHECK(std::memcmp(a.codes, b.codes, a.rows * a.row_bytes) == 0);
        const std::size_t ns = q.layout().n_scales;
        CHECK(std::memcmp(a.scales, b.scales, ns * sizeof(typename S::scale_storage)) == 0);
        if (!S::is_symmetric) CHECK(std::memcmp(a.zeros, b.zeros, ns) == 0);
        CHECK(q.perm() == back->perm());
    }
}

// How often the ARM tiled kernels ran (arm/tiled_body.inl counts them): the
// kernels equal the scalar models bit for bit, so only these counts show that
// a forced neon / neondot really reached its copy and not the scalar fallback.
#if defined(LOWBIT_HAVE_ARM_KERNELS) && LOWBIT_ARM_DOT_COPY
#define LOWBIT_TEST_ARM_DOT_COPY 1  // the build has a separate sdot copy
#else
#define LOWBIT_TEST_ARM_DOT_COPY 0
#endif
struct tiled_runs {
    unsigned long long neon_i8 = 0, neon_f32 = 0, neon_prep = 0, dot_i8 = 0;
};
inline tiled_runs count_tiled_runs() {
    tiled_runs r;
#if defined(LOWBIT_HAVE_ARM_KERNELS)
    r.neon_i8 = kdetail::neon::tiled_runs().i8.load();
    r.neon_f32 = kdetail::neon::tiled_runs().f32.load();
    r.neon_prep = kdetail::neon::tiled_runs().prep.load();
    r.dot_i8 = kdetail::neondot::tiled_runs().i8.load();
#endif
    return r;
}
// After a GEMM on both paths under arch a: the copy a names ran its int8 kernel
// (neondot: the sdot copy, not the plain one, where the build has both), the
// neon copy ran the f32 kernel and the activation preparation.
inline void check_arm_copy_ran(arch a, const tiled_runs& before, const tiled_runs& after) {
    if (a != arch::neon && a != arch::neondot) return;
    CHECK(after.neon_f32 > before.neon_f32);
    CHECK(after.neon_prep > before.neon_prep);
#if LOWBIT_TEST_ARM_DOT_COPY
    if (a == arch::neondot) {
        CHECK(after.dot_i8 > before.dot_i8);
        CHECK(after.neon_i8 == before.neon_i8);
    } else {
        CHECK(after.neon_i8 > before.neon_i8);
        CHECK(after.dot_i8 == before.dot_i8);
    }
#else
    CHECK(after.neon_i8 > before.neon_i8);
#endif
}

// Every arch: int8 and f32 bit-exact vs their scalar models, the int8 model
// within the int8 bound and the f32 model within the f32 tolerance of the
// reference; GEMM row m == GEMV of row m.
template <class S>
void check_kernels() {
    unsigned seed = 7;
    // N: every count of 4-row units in the last tile (13, 15, 18 ...); K: tails of a block and of a group.
    std::vector<kt::shape> shapes = {{1, 1},   {3, 31},   {17, 32},  {5, 33},  {2, 64},    {13, 96},   {16, 255},
                                     {33, 256}, {9, 257}, {15, 1},   {18, 65}, {31, 300}, {40, 1031}, {6, 4100}};
    // LOWBIT_TEST_REDUCED (ASan+UBSan, qemu): without {6, 4100}, a quarter of
    // the grid's weights. K above 4096 reaches no other code: no kernel or front
    // door branches on K beyond its block and group tails (4100: a 4-column
    // tail, as 300 % 32 = 12 and 1031 % 32 = 7 are tails), and its int32 sums
    // stay far from overflow as 1031's do. {40, 1031} stays: the only N whose
    // last of three tiles holds two whole 4-row units, the longest K left.
    if (lowbit_test::reduced()) shapes.pop_back();
    // Each shape with and without a permutation, with random and adversarial
    // values: all four pairs on every shape in the full run; under
    // LOWBIT_TEST_REDUCED two of them, (0, 0) and (1, 1) on even shapes, (0, 1)
    // and (1, 0) on odd ones, so that every shape still runs both permutation
    // states and both value kinds, and each of the four pairs runs on six or
    // seven shapes (every pair of factors covered: half the grid's runs).
    const bool pairs = lowbit_test::reduced();
    for (std::size_t si = 0; si < shapes.size(); ++si)
        for (int perm = 0; perm < 2; ++perm)
            for (int adv = 0; adv < 2; ++adv) {
                if (pairs && ((perm ^ adv) != static_cast<int>(si % 2))) continue;
                const kt::shape& sh = shapes[si];
                CAPTURE(sh.N);
                CAPTURE(sh.K);
                CAPTURE(perm);
                CAPTURE(adv);
                const auto q = kt::make_matrix<S>(sh.N, sh.K, seed++, perm != 0, adv != 0);
                auto t = repack_tiled(q.view());
                REQUIRE(t.ok());
                const std::size_t M = 3 + seed % 9;  // exercises the MB register blocks and their tails
                std::vector<float> xs(M * (sh.K + 3));
                for (std::size_t m = 0; m < M; ++m) {
                    const auto v = kt::random_vec(sh.K, seed++, adv != 0);
                    std::copy(v.begin(), v.end(), xs.begin() + static_cast<std::ptrdiff_t>(m * (sh.K + 3)));
                }
                const matrix_view<const float> X(xs.data(), M, sh.K, sh.K + 3);
                // The weights dequantized once for every bound and exact product below.
                const auto d = kt::dequantized(q);
                const auto ref_bound = kt::dot_rows(d, sh.N, sh.K, xs.data(), true);
                const auto i8_bound = kt::int8_bound(q, d, xs.data());
                std::vector<float> ref(sh.N), model(M * sh.N), model_f(M * sh.N), model_b(M * sh.N);
                std::vector<double> bf16_tol(M * sh.N);  // summation order: 1e-5 of sum |w x_bf16|
                for (std::size_t m = 0; m < M; ++m) {
                    std::vector<float> xm(xs.begin() + static_cast<std::ptrdiff_t>(m * (sh.K + 3)), xs.begin() + static_cast<std::ptrdiff_t>(m * (sh.K + 3) + sh.K));
                    for (float& v : xm) v = bf16_to_f32(kdetail::bf16_round(v));
                    const auto b = kt::dot_rows(d, sh.N, sh.K, xm.data(), true);
                    for (std::size_t r = 0; r < sh.N; ++r) bf16_tol[m * sh.N + r] = kt::f32_rel_tol * b[r] + 1e-30;
                }
                matmul_options o;
                o.path = matmul_path::reference;
                REQUIRE(gemv(t->view(), span<const float>(xs.data(), sh.K), span<float>(ref), serial_executor{}, o).ok());
                {
                    // The reference on the tiled layout is the plain layout's: the
                    // exact dot product of the dequantized weights (not a dense gemv,
                    // which would compile every arch's dense kernels per scheme just
                    // for this: docs/history/test-command.md, session 11).
                    const auto exact = kt::dot_rows(d, sh.N, sh.K, xs.data());
                    for (std::size_t r = 0; r < sh.N; ++r) REQUIRE(std::fabs(exact[r] - ref[r]) <= 1e-6 * ref_bound[r] + 1e-30);
                }
                {
                    kt::arch_scope s(arch::scalar);
                    o.path = matmul_path::int8_dot;
                    REQUIRE(gemm(t->view(), X, matrix_view<float>(model.data(), M, sh.N), serial_executor{}, o).ok());
                    o.path = matmul_path::dequant_fma;
                    REQUIRE(gemm(t->view(), X, matrix_view<float>(model_f.data(), M, sh.N), serial_executor{}, o).ok());
                    o.path = matmul_path::bf16_dot;
                    REQUIRE(gemm(t->view(), X, matrix_view<float>(model_b.data(), M, sh.N), serial_executor{}, o).ok());
                }
                // The bf16 model: the exact product with the rounded activations, within float rounding.
                std::vector<float> xr(xs.begin(), xs.begin() + static_cast<std::ptrdiff_t>(sh.K));
                for (float& v : xr) v = bf16_to_f32(kdetail::bf16_round(v));
                const auto exact_b = kt::dot_rows(d, sh.N, sh.K, xr.data());
                const auto bound_b = kt::dot_rows(d, sh.N, sh.K, xr.data(), true);
                for (std::size_t r = 0; r < sh.N; ++r) {
                    REQUIRE(std::fabs(model[r] - ref[r]) <= 1.001 * i8_bound[r] + 1e-5 * ref_bound[r] + 1e-30);
                    REQUIRE(std::fabs(model_f[r] - ref[r]) <= kt::f32_rel_tol * ref_bound[r] + 1e-30);
                    REQUIRE(std::fabs(model_b[r] - exact_b[r]) <= kt::f32_rel_tol * bound_b[r] + 1e-30);
                    REQUIRE(std::fabs(model_b[r] - ref[r]) <= (1.001 / 256 + kt::f32_rel_tol) * ref_bound[r] + 1e-30);
                }
                for (arch a : kt::runnable_archs()) {
                    const std::string an = arch_name(a);
                    CAPTURE(an);
                    kt::arch_scope s(a);
                    REQUIRE(active_arch() == a);
                    const tiled_runs runs0 = count_tiled_runs();
                    // GEMM, strided and at an odd offset (unaligned), 2 threads.
                    kt::offset_buffer y(M * (sh.N + 1), 1, -7.0f);
                    thread_pool pool(2);
                    o.path = matmul_path::int8_dot;
                    REQUIRE(gemm(t->view(), X, matrix_view<float>(y.p, M, sh.N, sh.N + 1), pool, o).ok());
                    for (std::size_t m = 0; m < M; ++m) {
                        for (std::size_t r = 0; r < sh.N; ++r) REQUIRE(kt::same_bits(y.p[m * (sh.N + 1) + r], model[m * sh.N + r]));
                        REQUIRE(y.p[m * (sh.N + 1) + sh.N] == -7.0f);  // the stride gap is untouched
                    }
                    // GEMV of row 0 at an odd offset == GEMM row 0.
                    kt::offset_buffer xv(sh.K, 3), yv(sh.N, 1, -7.0f);
                    std::copy(xs.begin(), xs.begin() + static_cast<std::ptrdiff_t>(sh.K), xv.p);
                    REQUIRE(gemv(t->view(), span<const float>(xv.p, sh.K), span<float>(yv.p, sh.N), serial_executor{}, o).ok());
                    for (std::size_t r = 0; r < sh.N; ++r) REQUIRE(kt::same_bits(yv.p[r], model[r]));
                    CHECK(yv.storage.back() == -7.0f);
                    // f32 path: every row equals the f32 model; GEMM row m == GEMV of row m.
                    o.path = matmul_path::dequant_fma;
                    std::vector<float> yf(M * sh.N), yf1(sh.N);
                    REQUIRE(gemm(t->view(), X, matrix_view<float>(yf.data(), M, sh.N), pool, o).ok());
                    REQUIRE(gemv(t->view(), span<const float>(xv.p, sh.K), span<float>(yf1), serial_executor{}, o).ok());
                    for (std::size_t i = 0; i < M * sh.N; ++i) REQUIRE(kt::same_bits(yf[i], model_f[i]));
                    for (std::size_t r = 0; r < sh.N; ++r) REQUIRE(kt::same_bits(yf[r], yf1[r]));
                    // bf16 path: the model's bits (f32 bodies) or the model up to the order of
                    // the f32 sums (vdpbf16ps, AMX-BF16 tiles); GEMM row 0 == GEMV of row 0 where
                    // both ran one body or both are exact. On arch::amx the GEMM runs the
                    // AMX-BF16 tiles and the GEMV the vdpbf16ps body: two summation orders, each
                    // within the model's bound (found on the Intel machine, session 29). The
                    // AMX-BF16 entry holds both bodies (the tiles from its minimum rows, the
                    // vdpbf16ps body below), so one entry is not one body there (session 30).
                    o.path = matmul_path::bf16_dot;
                    matmul_info info, info1;
                    o.info = &info;
                    REQUIRE(gemm(t->view(), X, matrix_view<float>(yf.data(), M, sh.N), pool, o).ok());
                    const bool exact = info.entry->needs == 0;
                    o.info = &info1;
                    REQUIRE(gemv(t->view(), span<const float>(xv.p, sh.K), span<float>(yf1), serial_executor{}, o).ok());
                    o.info = nullptr;
                    const bool exact1 = info1.entry->needs == 0;
                    for (std::size_t i = 0; i < M * sh.N; ++i) {
                        if (exact) REQUIRE(kt::same_bits(yf[i], model_b[i]));
                        else REQUIRE(std::fabs(static_cast<double>(yf[i]) - model_b[i]) <= bf16_tol[i]);
                    }
                    const bool one_body = info1.entry == info.entry && !(info.entry->needs & needs_amx_bf16);
                    if (one_body || (exact && exact1)) {
                        for (std::size_t r = 0; r < sh.N; ++r) REQUIRE(kt::same_bits(yf[r], yf1[r]));
                    } else {
                        CAPTURE(info.kernel);
                        CAPTURE(info1.kernel);
                        for (std::size_t r = 0; r < sh.N; ++r) {
                            if (exact1) REQUIRE(kt::same_bits(yf1[r], model_b[r]));
                            else REQUIRE(std::fabs(static_cast<double>(yf1[r]) - model_b[r]) <= bf16_tol[r]);
                        }
                    }
                    check_arm_copy_ran(a, runs0, count_tiled_runs());
                }
            }
}

}  // namespace

TEST_CASE_TEMPLATE("tiled layout: repack and unpack are exact inverses", S, scheme<1, per_group<32>>,
                   scheme<2, per_channel, asymmetric>, scheme<3, per_group<64>>, scheme<4, per_group<32>, asymmetric>,
                   scheme<5, per_tensor>, scheme<6, per_group<128>, symmetric, scale_bf16>, scheme<7, per_channel>,
                   scheme<8, per_group<32>, asymmetric, scale_f32>) {
    check_round_trip<S>();
}

TEST_CASE("tiled layout: planes put the low bits first, quads interleave 16 rows") {
    using S = scheme<3, per_channel>;
    auto q = qmatrix<S>::allocate(16, 32);
    REQUIRE(q.ok());
    std::uint8_t codes[32];
    for (std::size_t r = 0; r < 16; ++r) {
        for (int c = 0; c < 32; ++c) codes[c] = static_cast<std::uint8_t>(r == 0 ? c % 8 : 0);
        pack_codes<3>(codes, 32, q->mut_view().codes + r * q->view().row_bytes);
    }
    auto t = repack_tiled(q->view());
    REQUIRE(t.ok());
    const std::uint8_t* p = t->codes.data();
    // Row 0, quad vector 0 (codes 0..3 = 0,1,2,3) is bytes 0..3; the 2-bit plane's vector 0
    // holds quads 0, 2, 4, 6 at bits 0, 2, 4, 6: code c of quad 0 -> bits 0-1 of byte c.
    CHECK(p[0] == 0x00);  // byte 0: code 0 of quads 0, 2, 4, 6 (all 0)
    CHECK((p[1] & 3) == 1);
    CHECK((p[2] & 3) == 2);
    CHECK((p[3] & 3) == 3);
    // Quad 1 (codes 4..7 = 4,5,6,7) is in plane vector 1: low bits 0,1,2,3; bit 2 in the 1-bit plane.
    CHECK((p[64 + 1] & 3) == 1);
    CHECK(((p[128 + 0] >> 1) & 1) == 1);  // 1-bit plane, quad 1 at bit 1: code 4 has bit 2 set
    CHECK(((p[128 + 0] >> 0) & 1) == 0);  // quad 0, code 0: bit 2 clear
    // Rows 1..15 are zero.
    for (int n = 4; n < 64; ++n) CHECK(p[n] == 0);
}

// The schemes of the extreme-value case below: each also runs the general check.
#define LOWBIT_TILED_EXTREME_SCHEMES                                                                              \
    scheme<8, per_channel, asymmetric, scale_f32>, scheme<8, per_group<32>, symmetric, scale_f32>,                  \
        scheme<7, per_channel, asymmetric, scale_f32>, scheme<1, per_channel, symmetric, scale_f32>,                \
        scheme<1, per_channel, asymmetric, scale_f32>
// Every width, both symmetries, each scale type and granularity (static and
// odd groups) besides those. Each kernel scheme (bits, symmetry, scale type:
// the group is read at run time, per-tensor weights run the per-group bodies)
// instantiates every arch's tiled bodies (clang -O0 under ASan+UBSan: ~10 CPU-s
// a kernel scheme), so the sanitized build (LOWBIT_TEST_FEWER_SCHEMES,
// tests/CMakeLists.txt), this file's only x86 run, takes the first seven typed
// schemes: with the five above and the bf16 case below they are ten kernel
// schemes (1 sym/asym f32, 2 asym f16, 3 asym f16, 4 sym f16, 5 sym f16, 6 asym
// bf16, 7 asym f32, 8 sym/asym f32) that cover every width, symmetry, scale
// type and granularity. The optimised copies of every arch run on ten more
// schemes in test_kernel_table. The AArch64 build (LOWBIT_TEST_SAMPLED_GRID,
// scripts/test-arm.sh) takes the same twelve (session 25: 58 -> 38 CPU-s to
// compile this TU, 44 -> 26 to run it under qemu -cpu max); every NEON body's
// code paths (each width's planes, both symmetries, each scale type, per
// tensor) still run there, not every combination of them (2, 3 and 7 bits
// symmetric, f16 scales on 1, 6 and 8 bits: only the full build runs those).
#define LOWBIT_TILED_SCHEMES_A                                                                                     \
    scheme<2, per_group<64>, asymmetric>, scheme<3, per_group<96>, asymmetric>, scheme<4, per_group<32>>,            \
        scheme<6, per_group<128>, asymmetric, scale_bf16>, scheme<5, per_tensor>, scheme<5, per_channel>,   \
        scheme<6, per_group<32>, asymmetric, scale_bf16>
#define LOWBIT_TILED_SCHEMES_B                                                                                      \
    scheme<1, per_group<32>>, scheme<3, per_channel>, scheme<6, per_channel, asymmetric>, scheme<7, per_group<32>, symmetric, scale_f32>, \
        scheme<8, per_group<32>>, scheme<8, per_channel, asymmetric>, scheme<1, per_channel, asymmetric>, scheme<2, per_group<32>>, \
        scheme<8, per_tensor>

#if defined(LOWBIT_TEST_FEWER_SCHEMES)
TEST_CASE_TEMPLATE("tiled kernels: every arch against the scalar model and the reference", S, LOWBIT_TILED_SCHEMES_A,
                   LOWBIT_TILED_EXTREME_SCHEMES) {
    check_kernels<S>();
}
#else
TEST_CASE_TEMPLATE("tiled kernels: every arch against the scalar model and the reference", S, LOWBIT_TILED_SCHEMES_A,
                   LOWBIT_TILED_SCHEMES_B, LOWBIT_TILED_EXTREME_SCHEMES) {
    check_kernels<S>();
}
#endif

// The f32 panel body (x86/tiled_body.inl, docs/kernels.md "The f32 panel
// body"): widened panels of 2 units x 4 blocks reused over up to 128 rows.
// Every width, both symmetries; N = 100 (7 tiles: a task's 4 and a tail of 3,
// i.e. a panel of one unit on zmm; the last tile 4 rows), K = 200 (7 blocks: a
// panel of 4 and one of 3, the last block 8 columns), groups of 96 (3 blocks:
// groups span panels) or one per row; a permutation for even widths. Called
// directly with the threshold at 1, M = 151 (two passes of rows) and every tail
// of the register blocks below (every M from 1 to 33 for 4 bits) equals the
// scalar model bit for bit; through the table (M = 64 and 151
// every arch; ten of the sixteen schemes, see below) the
// f32 path equals the model and GEMV, and the bf16 path its model as the other
// bf16 checks do.
template <class S>
void check_f32_panel_table(const tiled_view<S>& w, const qmatrix<S>& q, const std::vector<float>& xs, const std::vector<float>& model,
                           std::size_t Mmax) {
    const std::size_t N = w.rows, K = w.cols;
    const matrix_view<const float> X(xs.data(), Mmax, K);
    std::vector<float> model_b(Mmax * N);
    matmul_options o;
    {
        kt::arch_scope s(arch::scalar);
        o.path = matmul_path::bf16_dot;
        REQUIRE(gemm(w, X, matrix_view<float>(model_b.data(), Mmax, N), serial_executor{}, o).ok());
    }
    std::vector<double> bf16_tol(Mmax * N);
    for (std::size_t m = 0; m < Mmax; ++m) {
        std::vector<float> xm(xs.begin() + static_cast<std::ptrdiff_t>(m * K), xs.begin() + static_cast<std::ptrdiff_t>((m + 1) * K));
        for (float& v : xm) v = bf16_to_f32(kdetail::bf16_round(v));
        const auto b = kt::abs_dot(q, xm.data());
        for (std::size_t r = 0; r < N; ++r) bf16_tol[m * N + r] = kt::f32_rel_tol * b[r] + 1e-30;
    }
    thread_pool pool(2);
    for (arch a : kt::runnable_archs()) {
        const std::string an = arch_name(a);
        CAPTURE(an);
        kt::arch_scope s(a);
        for (std::size_t M : {std::size_t{64}, Mmax}) {
            CAPTURE(M);
            const matrix_view<const float> Xm(xs.data(), M, K);
            std::vector<float> y(M * N), y1(N);
            o.path = matmul_path::dequant_fma;
            REQUIRE(gemm(w, Xm, matrix_view<float>(y.data(), M, N), pool, o).ok());
            for (std::size_t i = 0; i < M * N; ++i) REQUIRE(kt::same_bits(y[i], model[i]));
            REQUIRE(gemv(w, span<const float>(xs.data() + (M - 1) * K, K), span<float>(y1), serial_executor{}, o).ok());
            for (std::size_t r = 0; r < N; ++r) REQUIRE(kt::same_bits(y1[r], y[(M - 1) * N + r]));
            o.path = matmul_path::bf16_dot;
            matmul_info info;
            o.info = &info;
            REQUIRE(gemm(w, Xm, matrix_view<float>(y.data(), M, N), pool, o).ok());
            o.info = nullptr;
            const bool exact = info.entry->needs == 0;
            for (std::size_t i = 0; i < M * N; ++i) {
                if (exact) REQUIRE(kt::same_bits(y[i], model_b[i]));
                else REQUIRE(std::fabs(static_cast<double>(y[i]) - model_b[i]) <= bf16_tol[i]);
            }
        }
    }
}

template <class S, bool ThroughTable>
void check_f32_panel() {
    const std::size_t N = 100, K = 200;
    const auto q = kt::make_matrix<S>(N, K, 40 + S::bits, S::bits % 2 == 0, S::bits % 3 == 0);
    auto t = repack_tiled(q.view());
    REQUIRE(t.ok());
    const tiled_view<S> w = t->view();
    const std::size_t Mmax = 151, nb = w.blocks, pad = nb * tile_block;
    std::vector<float> xs(Mmax * K), xa(Mmax * pad);
    for (std::size_t m = 0; m < Mmax; ++m) {
        const auto v = kt::random_vec(K, 900 + static_cast<unsigned>(m), m % 5 == 3);
        std::copy(v.begin(), v.end(), xs.begin() + static_cast<std::ptrdiff_t>(m * K));
    }
    std::vector<kdetail::tact_f32> acts(Mmax);
    for (std::size_t m = 0; m < Mmax; ++m) {
        kdetail::prepare_tf32(xs.data() + m * K, w.perm, K, nb, xa.data() + m * pad);
        acts[m] = kdetail::tact_f32{xa.data() + m * pad};
    }
    std::vector<float> model(Mmax * N);
    for (std::size_t m = 0; m < Mmax; m += 64)  // (the scalar model takes up to 64 rows a call)
        for (std::size_t tt = 0; tt < w.tiles; ++tt)
            kdetail::f32_tile_scalar(w, tt, acts.data() + m, Mmax - m < 64 ? Mmax - m : 64, model.data() + m * N, N);
#if defined(LOWBIT_HAVE_X86_KERNELS)
    // The bodies as the table instantiates them (kdetail::any_scale_view).
    const auto wk = kdetail::any_scale_view(w);
    // Every tail of the 6-, 2- and 1-row register blocks; every M to 33 for 4 bits.
    std::vector<std::size_t> Ms = {1, 2, 3, 5, 6, 7, 8, 11, 13, 16, 33, Mmax};
    if (S::bits == 4) {
        Ms.resize(33);
        std::iota(Ms.begin(), Ms.end(), std::size_t{1});
        Ms.push_back(Mmax);
    }
    for (arch a : kt::runnable_archs()) {
        if (a != arch::avx2 && a != arch::avx512) continue;
        const std::string an = arch_name(a);
        CAPTURE(an);
        for (std::size_t M : Ms) {
            CAPTURE(M);
            std::vector<float> y(M * (N + 1), -7.0f);
            // tasks of 64 rows, as the table runs them, and one call over all tiles
            for (std::size_t t0 = 0; t0 < w.tiles; t0 += 4) {
                const std::size_t t1 = M % 2 ? w.tiles : (t0 + 4 < w.tiles ? t0 + 4 : w.tiles);
                if (a == arch::avx2) kdetail::avx2::tf32_tiles_at(wk, t0, t1, acts.data(), M, y.data(), N + 1, 1);
                else kdetail::avx512::tf32_tiles_at(wk, t0, t1, acts.data(), M, y.data(), N + 1, 1);
                if (t1 == w.tiles) break;
            }
            for (std::size_t m = 0; m < M; ++m) {
                for (std::size_t r = 0; r < N; ++r) REQUIRE(kt::same_bits(y[m * (N + 1) + r], model[m * N + r]));
                REQUIRE(y[m * (N + 1) + N] == -7.0f);
            }
        }
    }
#endif
    if constexpr (ThroughTable) check_f32_panel_table(w, q, xs, model, Mmax);
}
// Through the table only for schemes whose kernel scheme (bits, symmetry,
// scale type) the cases above instantiate already: each new one would compile
// every arch's tiled bodies again (~10 CPU-s under ASan+UBSan).
TEST_CASE_TEMPLATE("tiled kernels: the f32 panel body equals the scalar model for every width and M", S,
                   scheme<1, per_group<96>, symmetric, scale_f32>, scheme<1, per_channel, asymmetric, scale_f32>,
                   scheme<2, per_group<96>>, scheme<2, per_channel, asymmetric>, scheme<3, per_channel>,
                   scheme<3, per_group<96>, asymmetric>, scheme<4, per_group<96>>, scheme<4, per_channel, asymmetric>,
                   scheme<5, per_channel>, scheme<5, per_group<96>, asymmetric>, scheme<6, per_group<96>>,
                   scheme<6, per_channel, asymmetric, scale_bf16>, scheme<7, per_channel, symmetric, scale_f32>,
                   scheme<7, per_group<96>, asymmetric, scale_f32>, scheme<8, per_group<96>, symmetric, scale_f32>,
                   scheme<8, per_channel, asymmetric, scale_f32>) {
    constexpr int B = S::bits;
    constexpr bool known = S::is_symmetric ? (B == 1 || B == 4 || B == 5 || B == 8) : (B != 4 && B != 5);
    check_f32_panel<S, known>();
}

// The vdpbf16ps body (x86/bf16_body.hpp, docs/kernels.md "The bf16 path"):
// since session 25, in calls of 6 rows or more (tb::pair_min_rows), it runs a
// task's tiles two at a time (rows_pass2: 12, 8, 4 and 1 rows against two
// tiles' widened blocks) and an odd last tile alone (rows_pass: 12, 4, 1 rows,
// as every tile in calls of fewer rows). Called directly on the kernel scheme (as the
// table instantiates it, so no second copy of the body is compiled) with the
// activations prepare_tbf16 writes (prep_bf16's words, bit for bit), N = 100
// (7 tiles, the last of 4 rows), K = 300 (10 blocks: chunks of 8 and 2, the
// last block 12 columns): tile ranges as the table's tasks cut them ([0, 4):
// two pairs; [4, 7): a pair and a lone partial tile), one range of all tiles
// (three pairs and a lone one), [1, 7) (the partial tile second in a pair)
// and every tile alone; every M from 1 to 33 (both sides of the threshold,
// each tail of the pair's and the lone tile's register blocks) and 151 (passes of 128 and 23 rows). Each
// output equals, bit for bit, the same row of one call over all 151 rows and
// tiles (every register block and range performs the same operations per row:
// GEMM row m == GEMV of row m), which is within the path's tolerance of the
// bf16 model; the output's stride gap stays untouched. NaN and Inf
// activations through the pairs: the hostile-activation case above (N = 37:
// a pair and a lone tile; M = 5: the 4- and 1-row blocks).
template <class S>
void check_bf16_pairs() {
#if defined(LOWBIT_HAVE_BF16_KERNELS)
    if (!detail::cpu().avx512bf16) {
        MESSAGE("skipped: the vdpbf16ps body needs AVX512_BF16, which this CPU lacks (the table's tests run its fallback)");
        return;
    }
    const std::size_t N = 100, K = 300, Mmax = 151;
    const auto q = kt::make_matrix<S>(N, K, 60 + S::bits, S::bits % 2 == 0, S::bits % 3 == 0);
    auto t = repack_tiled(q.view());
    REQUIRE(t.ok());
    const tiled_view<S> w = t->view();
    const std::size_t nb = w.blocks, pad = nb * tile_block + tile_block;
    std::vector<float> xs(Mmax * K);
    for (std::size_t m = 0; m < Mmax; ++m) {
        const auto v = kt::random_vec(K, 1300 + static_cast<unsigned>(m), m % 4 == 1);
        std::copy(v.begin(), v.end(), xs.begin() + static_cast<std::ptrdiff_t>(m * K));
    }
    std::vector<std::uint16_t> xw(Mmax * pad);
    std::vector<kdetail::tact_bf16> acts(Mmax);
    for (std::size_t m = 0; m < Mmax; ++m) {
        kdetail::prepare_tbf16(xs.data() + m * K, w.perm, K, nb, xw.data() + m * pad);
        acts[m] = kdetail::tact_bf16{xw.data() + m * pad};
    }
    std::vector<float> model_b(Mmax * N);
    matmul_options o;
    o.path = matmul_path::bf16_dot;
    {
        kt::arch_scope s(arch::scalar);
        REQUIRE(gemm(w, matrix_view<const float>(xs.data(), Mmax, K), matrix_view<float>(model_b.data(), Mmax, N), serial_executor{}, o)
                    .ok());
    }
    const auto wk = kdetail::any_scale_view(w);
    // One call over every row and tile: within the tolerance of the model.
    std::vector<float> all(Mmax * N);
    kdetail::avx512bf16::tbf16_tiles(wk, 0, w.tiles, acts.data(), Mmax, all.data(), N);
    for (std::size_t m = 0; m < Mmax; ++m) {
        std::vector<float> xm(xs.begin() + static_cast<std::ptrdiff_t>(m * K), xs.begin() + static_cast<std::ptrdiff_t>((m + 1) * K));
        for (float& v : xm) v = bf16_to_f32(kdetail::bf16_round(v));
        const auto b = kt::abs_dot(q, xm.data());
        for (std::size_t r = 0; r < N; ++r) {
            CAPTURE(m);
            CAPTURE(r);
            REQUIRE(std::fabs(static_cast<double>(all[m * N + r]) - model_b[m * N + r]) <= kt::f32_rel_tol * 1.01 * b[r] + 1e-30);
        }
    }
    const std::vector<std::vector<std::size_t>> cuts = {{0, 4, 7}, {0, 7}, {0, 1, 7}, {0, 1, 2, 3, 4, 5, 6, 7}};
    std::vector<std::size_t> Ms(33);
    std::iota(Ms.begin(), Ms.end(), std::size_t{1});
    Ms.push_back(Mmax);
    for (std::size_t M : Ms)
        for (std::size_t c = 0; c < cuts.size(); ++c) {
            CAPTURE(M);
            CAPTURE(c);
            std::vector<float> y(M * (N + 1), -7.0f);
            const auto& cut = cuts[c];
            for (std::size_t i = 0; i + 1 < cut.size(); ++i)
                if (cut[i] < cut[i + 1]) kdetail::avx512bf16::tbf16_tiles(wk, cut[i], cut[i + 1], acts.data(), M, y.data(), N + 1);
            for (std::size_t m = 0; m < M; ++m) {
                for (std::size_t r = 0; r < N; ++r) REQUIRE(kt::same_bits(y[m * (N + 1) + r], all[m * N + r]));
                REQUIRE(y[m * (N + 1) + N] == -7.0f);
            }
        }
#endif
}
TEST_CASE_TEMPLATE("tiled kernels: the vdpbf16ps body's tile pairs and lone tiles equal one call over all rows, within the bf16 model's "
                   "tolerance",
                   S, scheme<4, per_group<32>>, scheme<6, per_group<128>, asymmetric, scale_bf16>, scheme<3, per_group<96>, asymmetric>,
                   scheme<1, per_channel, symmetric, scale_f32>, scheme<8, per_channel, asymmetric, scale_f32>) {
    check_bf16_pairs<S>();
}

// The integer extremes: rows of all-lowest and all-highest codes and rows that
// alternate them, against activations of +-amax (int8 codes +-127) in runs and
// alternating. The widening NEON dot sums two products in int16 (|w| <= 128,
// |x| <= 127: 32512 at most); a wrong bound, a lost zero correction or a
// saturating step shows here as a difference from the scalar model.
TEST_CASE_TEMPLATE("tiled kernels: extreme codes and activations equal the scalar model on every arch", S,
                   LOWBIT_TILED_EXTREME_SCHEMES) {
    constexpr int B = S::bits;
    const std::size_t N = 19, K = 96;  // a partial second tile
    auto q = qmatrix<S>::allocate(N, K, S::static_group ? S::static_group : static_cast<int>(K));
    REQUIRE(q.ok());
    auto mv = q->mut_view();
    std::vector<std::uint8_t> codes(K);
    for (std::size_t r = 0; r < N; ++r) {
        for (std::size_t c = 0; c < K; ++c) {
            const unsigned hi = (1u << B) - 1;
            switch (r % 4) {
                case 0: codes[c] = 0; break;
                case 1: codes[c] = static_cast<std::uint8_t>(hi); break;
                case 2: codes[c] = static_cast<std::uint8_t>(c % 2 ? hi : 0); break;
                default: codes[c] = static_cast<std::uint8_t>((c / 4) % 2 ? hi : 0); break;
            }
        }
        pack_codes<B>(codes.data(), K, mv.codes + r * mv.row_bytes);
    }
    const std::size_t ns = q->layout().n_scales;
    for (std::size_t i = 0; i < ns; ++i) {
        mv.scales[i] = S::scale_codec::encode(1.0f + 0.125f * static_cast<float>(i % 3));
        if (!S::is_symmetric) mv.zeros[i] = static_cast<std::uint8_t>(i % 2 ? (1u << B) - 1 : 0);
    }
    auto t = repack_tiled(q->view());
    REQUIRE(t.ok());
    for (int pattern = 0; pattern < 3; ++pattern) {
        CAPTURE(pattern);
        std::vector<float> x(K);
        for (std::size_t c = 0; c < K; ++c)
            x[c] = pattern == 0 ? 2.5f : pattern == 1 ? -2.5f : ((c % 2) ? -2.5f : 2.5f);
        for (auto path : {matmul_path::int8_dot, matmul_path::dequant_fma}) {
            matmul_options o;
            o.path = path;
            std::vector<float> model(N);
            {
                kt::arch_scope s(arch::scalar);
                REQUIRE(gemv(t->view(), span<const float>(x), span<float>(model), serial_executor{}, o).ok());
            }
            for (arch a : kt::runnable_archs()) {
                const std::string an = arch_name(a);
                CAPTURE(an);
                kt::arch_scope s(a);
                std::vector<float> y(N, -1.0f);
                REQUIRE(gemv(t->view(), span<const float>(x), span<float>(y), serial_executor{}, o).ok());
                for (std::size_t r = 0; r < N; ++r) REQUIRE(kt::same_bits(y[r], model[r]));
            }
        }
    }
}

// With no arch forced, a GEMM runs the automatic arch's copy; under
// LOWBIT_TEST_EXPECT_ARCH=<name> (scripts/test-arm.sh sets it per emulated CPU)
// that arch must be the automatic choice, so a run that silently lost its NEON
// or sdot copy of the tiled kernels fails.
TEST_CASE("tiled kernels: the automatic arch runs its own copy") {
    using S = scheme<4, per_group<32>>;
    const auto q = kt::make_matrix<S>(20, 96, 3, false);
    auto t = repack_tiled(q.view());
    REQUIRE(t.ok());
    const std::size_t M = 3;
    std::vector<float> x(M * 96, 0.25f), y(M * 20), model(M * 20);
    REQUIRE(force_arch(arch::automatic).ok());
    const arch a = active_arch();
    if (const char* want = std::getenv("LOWBIT_TEST_EXPECT_ARCH")) CHECK(std::string(arch_name(a)) == std::string(want));
    for (auto path : {matmul_path::int8_dot, matmul_path::dequant_fma}) {
        matmul_options o;
        o.path = path;
        const tiled_runs before = count_tiled_runs();
        REQUIRE(gemm(t->view(), matrix_view<const float>(x.data(), M, 96), matrix_view<float>(y.data(), M, 20), serial_executor{}, o).ok());
        const tiled_runs after = count_tiled_runs();
        if (a == arch::neon || a == arch::neondot) {
            if (path == matmul_path::dequant_fma) CHECK(after.neon_f32 > before.neon_f32);
            else if (a == arch::neondot && LOWBIT_TEST_ARM_DOT_COPY) CHECK(after.dot_i8 > before.dot_i8);
            else CHECK(after.neon_i8 > before.neon_i8);
        }
        kt::arch_scope s(arch::scalar);
        REQUIRE(gemm(t->view(), matrix_view<const float>(x.data(), M, 96), matrix_view<float>(model.data(), M, 20), serial_executor{}, o).ok());
        CHECK(std::memcmp(y.data(), model.data(), y.size() * 4) == 0);
    }
}

TEST_CASE("tiled kernels: results do not depend on the thread count") {
    using S = scheme<4, per_group<32>>;
    const auto q = kt::make_matrix<S>(200, 700, 5, true);
    auto t = repack_tiled(q.view());
    REQUIRE(t.ok());
    const std::size_t M = 11;
    std::vector<float> x(M * 700);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i));
    for (auto path : {matmul_path::int8_dot, matmul_path::dequant_fma, matmul_path::bf16_dot}) {
        matmul_options o;
        o.path = path;
        std::vector<float> y1(M * 200);
        REQUIRE(gemm(t->view(), matrix_view<const float>(x.data(), M, 700), matrix_view<float>(y1.data(), M, 200), serial_executor{}, o).ok());
        for (unsigned th : {2u, 3u, 7u}) {
            thread_pool pool(th);
            std::vector<float> y(M * 200);
            REQUIRE(gemm(t->view(), matrix_view<const float>(x.data(), M, 700), matrix_view<float>(y.data(), M, 200), pool, o).ok());
            CHECK(std::memcmp(y.data(), y1.data(), y.size() * 4) == 0);
        }
    }
}

TEST_CASE("tiled layout and kernels: bad input gets a status, outputs untouched") {
    using S = scheme<4, per_group_dynamic>;
    quantize_options qo;
    qo.group = 48;  // not a multiple of 32: the tiled layout cannot hold it
    std::vector<float> w(4 * 96, 0.5f);
    auto q48 = quantize<S>(matrix_view<const float>(w.data(), 4, 96), qo);
    REQUIRE(q48.ok());
    auto bad = repack_tiled(q48->view());
    CHECK(!bad.ok());
    CHECK(bad.error().code() == errc::unsupported);

    qo.group = 32;
    auto q = quantize<S>(matrix_view<const float>(w.data(), 4, 96), qo);
    REQUIRE(q.ok());
    auto t = repack_tiled(q->view());
    REQUIRE(t.ok());
    std::vector<float> x(96, 1.0f), y(4, -3.0f), x_short(95, 1.0f);
    CHECK(!gemv(t->view(), span<const float>(x_short), span<float>(y)).ok());
    CHECK(!gemv(t->view(), span<const float>(x.data(), 96), span<float>(y.data(), 3)).ok());
    CHECK(!gemv(t->view(), span<const float>(nullptr, 96), span<float>(y)).ok());
    CHECK(!gemv(t->view(), span<const float>(x), span<float>(x.data(), 4)).ok());  // y inside x
    // y on top of the weights' scales
    auto tv = t->view();
    CHECK(!gemv(tv, span<const float>(x), span<float>(reinterpret_cast<float*>(const_cast<std::uint8_t*>(tv.codes)), 4)).ok());
    matmul_options o;
    o.path = static_cast<matmul_path>(9);
    CHECK(!gemv(tv, span<const float>(x), span<float>(y), serial_executor{}, o).ok());
    auto broken = tv;
    broken.blocks = 2;
    CHECK(!gemv(broken, span<const float>(x), span<float>(y)).ok());
    broken = tv;
    broken.codes = nullptr;
    CHECK(!gemv(broken, span<const float>(x), span<float>(y)).ok());
    for (float v : y) CHECK(v == -3.0f);
    // A corrupted owning object is refused by unpack_tiled.
    auto t2 = *t;
    t2.codes.pop_back();
    CHECK(!unpack_tiled(t2).ok());
    // NaN in the activations propagates (int8 path) like an f32 product does.
    x[5] = std::numeric_limits<float>::quiet_NaN();
    o.path = matmul_path::int8_dot;
    REQUIRE(gemv(tv, span<const float>(x), span<float>(y), serial_executor{}, o).ok());
    for (float v : y) CHECK(std::isnan(v));
    for (arch a : kt::runnable_archs()) {  // and in the bf16 path on every arch
        kt::arch_scope s(a);
        o.path = matmul_path::bf16_dot;
        std::fill(y.begin(), y.end(), 0.0f);
        REQUIRE(gemv(tv, span<const float>(x), span<float>(y), serial_executor{}, o).ok());
        for (float v : y) CHECK(std::isnan(v));
    }
}

// The bf16 path on hostile activations, every arch against the bf16 model:
// subnormals count as zero, a huge finite value (above the largest bf16)
// becomes Inf, Inf and NaN propagate as in an f32 product; the outputs' class
// (NaN, +-Inf, finite) is the model's, finite ones within the summation-order
// tolerance. Extreme codes: all-lowest / all-highest rows with zero points 0
// and 2^B - 1 (|u - z| = 255 is still exact in bf16).
TEST_CASE_TEMPLATE("tiled kernels: the bf16 path on hostile activations and extreme codes, every arch", S,
                   scheme<6, per_group<32>, asymmetric, scale_bf16>, scheme<8, per_channel, asymmetric, scale_f32>,
                   scheme<1, per_group<32>, symmetric, scale_f32>) {
    constexpr int B = S::bits;
    const std::size_t N = 37, K = 161;  // a partial third tile; a K tail of one code
    auto q = qmatrix<S>::allocate(N, K, S::static_group ? S::static_group : static_cast<int>(K));
    REQUIRE(q.ok());
    auto mv = q->mut_view();
    std::vector<std::uint8_t> codes(K);
    const unsigned hi = (1u << B) - 1;
    for (std::size_t r = 0; r < N; ++r) {
        for (std::size_t c = 0; c < K; ++c)
            codes[c] = static_cast<std::uint8_t>(r % 3 == 0 ? 0 : r % 3 == 1 ? hi : (c * 7 + r) % (hi + 1));
        pack_codes<B>(codes.data(), K, mv.codes + r * mv.row_bytes);
    }
    for (std::size_t i = 0; i < q->layout().n_scales; ++i) {
        mv.scales[i] = S::scale_codec::encode(0.5f + 0.25f * static_cast<float>(i % 5));
        if (!S::is_symmetric) mv.zeros[i] = static_cast<std::uint8_t>(i % 2 ? hi : 0);
    }
    auto t = repack_tiled(q->view());
    REQUIRE(t.ok());
    const std::size_t M = 5;
    std::vector<float> x(M * K);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.7f * static_cast<float>(i)) * 3.0f;
    x[0 * K + 3] = 1e-40f;                                       // subnormal: 0
    x[0 * K + 9] = -1.5e-38f;                                    // normal, below 2^-126: 0
    x[1 * K + 17] = 3.4e38f;                                     // above the largest bf16: Inf
    x[2 * K + 40] = std::numeric_limits<float>::infinity();
    x[3 * K + 160] = std::numeric_limits<float>::quiet_NaN();  // in the K tail
    x[4 * K + 100] = 1e30f;                                      // huge, finite in bf16
    matmul_options o;
    o.path = matmul_path::bf16_dot;
    std::vector<float> model(M * N);
    const matrix_view<const float> X(x.data(), M, K);
    {
        kt::arch_scope s(arch::scalar);
        REQUIRE(gemm(t->view(), X, matrix_view<float>(model.data(), M, N), serial_executor{}, o).ok());
    }
    for (std::size_t r = 0; r < N; ++r) {
        CHECK(std::isfinite(model[0 * N + r]));
        CHECK(std::isnan(model[3 * N + r]));
        CHECK(std::isfinite(model[4 * N + r]));
    }
    // Each row's tolerance (of its bf16-rounded activations) once, not once per arch.
    const auto d = kt::dequantized(*q);
    std::vector<std::vector<double>> tols(M);
    for (std::size_t m = 0; m < M; ++m) {
        std::vector<float> xm(x.begin() + static_cast<std::ptrdiff_t>(m * K), x.begin() + static_cast<std::ptrdiff_t>((m + 1) * K));
        for (float& v : xm) v = std::isfinite(v) ? bf16_to_f32(kdetail::bf16_round(v)) : 0.0f;
        tols[m] = kt::dot_rows(d, N, K, xm.data(), true);
    }
    for (arch a : kt::runnable_archs()) {
        const std::string an = arch_name(a);
        CAPTURE(an);
        kt::arch_scope s(a);
        std::vector<float> y(M * N, -1.0f);
        REQUIRE(gemm(t->view(), X, matrix_view<float>(y.data(), M, N), serial_executor{}, o).ok());
        for (std::size_t m = 0; m < M; ++m) {
            const auto& tol = tols[m];
            for (std::size_t r = 0; r < N; ++r) {
                CAPTURE(m);
                CAPTURE(r);
                const float want = model[m * N + r], got = y[m * N + r];
                REQUIRE(std::isnan(got) == std::isnan(want));
                if (std::isinf(want)) REQUIRE(got == want);
                else if (std::isfinite(want)) REQUIRE(std::fabs(static_cast<double>(got) - want) <= kt::f32_rel_tol * 1.01 * tol[r] + 1e-30);
            }
        }
    }
}

TEST_CASE("tiled kernels: denormal, tiny and huge activations give the scalar model's result on every arch") {
    // bf16 scales: the kernels of scheme<6, per_group<128>, asymmetric, scale_bf16>
    // above, not a kernel scheme of its own to compile.
    using S = scheme<6, per_group<32>, asymmetric, scale_bf16>;
    const auto q = kt::make_matrix<S>(20, 100, 11, false);
    auto t = repack_tiled(q.view());
    REQUIRE(t.ok());
    std::vector<float> x(100);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::cos(static_cast<float>(i));
    x[3] = 1e-40f;     // denormal
    x[40] = -3e-38f;   // normal, below 2^-120: counts as 0
    x[70] = 1.0e30f;   // huge (the outputs stay finite)
    x[71] = -0.9e30f;
    matmul_options o;
    o.path = matmul_path::int8_dot;
    std::vector<float> model(20);
    {
        kt::arch_scope s(arch::scalar);
        REQUIRE(gemv(t->view(), span<const float>(x), span<float>(model), serial_executor{}, o).ok());
    }
    for (float v : model) CHECK(std::isfinite(v));
    for (arch a : kt::runnable_archs()) {
        kt::arch_scope s(a);
        std::vector<float> y(20);
        REQUIRE(gemv(t->view(), span<const float>(x), span<float>(y), serial_executor{}, o).ok());
        CHECK(std::memcmp(y.data(), model.data(), y.size() * 4) == 0);
    }
}
