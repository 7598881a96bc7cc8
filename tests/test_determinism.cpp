// Determinism (issue 9, item 7): quantized codes are bit-identical across every
// arch path and thread count; GEMV/GEMM outputs are bit-identical across thread
// counts for both paths. Arch paths: lowbit::force_arch over scalar, sse2,
// avx2, avx512, avxvnni, avx512vnni (those this CPU lacks are skipped); the
// QAT kernels' SIMD/scalar paths (fq_path). Thread counts: serial_executor and
// thread_pool(2), (3), (7), rotated_gemv too. docs/reliability.md, "Determinism".

// Header-only (the TSan build): the run-time quantize twin below instantiates
// only the widths its schemes use (2, 3, 4, 8; compiled_mode.hpp), not all
// eight: 45.4 -> 34.7 CPU-s to compile under TSan. A scheme of another width
// added to that case fails with errc::unsupported there, never silently.
#if !defined(LOWBIT_COMPILED) && !defined(LOWBIT_WIDTHS)
#define LOWBIT_WIDTHS 0x8E
#endif
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <lowbit/formats/gguf_blocks.hpp>
#include <lowbit/formats/gguf_matmul.hpp>
#include <lowbit/kernels/rotated_matmul.hpp>
#include <lowbit/lowbit.hpp>
#include <lowbit/qat.hpp>

#include "test_archs.hpp"
#include "test_util.hpp"

using namespace lowbit;

namespace {

// LOWBIT_TEST_REDUCED=1 (scripts/test-sanitize.sh): smaller shapes, same cases.
std::size_t pick(std::size_t n, std::size_t small) { return lowbit_test::reduced() ? small : n; }

std::vector<arch> archs() { return lowbit_test::runnable_archs(); }
using lowbit_test::arch_scope;

// Calls f(exec, name) with a serial executor and pools of 2, 3 and 7 threads.
template <class F>
void every_executor(F&& f) {
    serial_executor serial;
    f(serial, "serial");
    for (unsigned n : {2u, 3u, 7u}) {
        thread_pool pool(n);
        f(pool, ("pool" + std::to_string(n)).c_str());
    }
}

template <class S>
std::vector<unsigned char> bytes_of(const qmatrix<S>& q) {
    const auto& st = q.storage();
    std::vector<unsigned char> b(st.codes.begin(), st.codes.end());
    const auto* s32 = reinterpret_cast<const unsigned char*>(st.scales_f32.data());
    const auto* s16 = reinterpret_cast<const unsigned char*>(st.scales_16.data());
    b.insert(b.end(), s32, s32 + st.scales_f32.size() * 4);
    b.insert(b.end(), s16, s16 + st.scales_16.size() * 2);
    b.insert(b.end(), st.zeros.begin(), st.zeros.end());
    return b;
}

}  // namespace

TEST_CASE_TEMPLATE("determinism: quantize codes, scales and zeros are identical on every arch and thread count", S,
                   scheme<4, per_group<64>, asymmetric>, scheme<3, per_channel, symmetric, scale_bf16>,
                   scheme<8, per_tensor, asymmetric, scale_f32>, scheme<2, per_group_dynamic>) {
    const std::size_t N = pick(150, 100), K = 700;  // >= 94 rows: several 64k-element tasks, a ragged last one
    const auto w = lowbit_test::llm_like(N, K, 1);
    const matrix_view<const float> wv(w.data(), N, K);
    for (const calibration& c : {calibration(calibrate::minmax{}), calibration(calibrate::mse{}), calibration(calibrate::percentile{99.0f})}) {
        quantize_options o;
        o.calib = c;
        o.group = 96;
        std::vector<unsigned char> want;
        for (arch a : archs()) {
            arch_scope s(a);
            every_executor([&](auto& exec, const char* name) {
                CAPTURE(name);
                const std::string an = arch_name(a);
                CAPTURE(an);
                auto q = quantize<S>(wv, o, exec);
                REQUIRE(q);
                const auto b = bytes_of(*q);
                if (want.empty()) want = b;
                CHECK(b == want);
                // the run-time twin writes the same bytes
                auto r = quantize(S::runtime(96), wv, c, exec);
                REQUIRE(r);
                CHECK(r->storage.codes == q->storage().codes);
            });
        }
    }
}

TEST_CASE_TEMPLATE("determinism: GEMV and GEMM bits do not depend on the thread count (both paths, every arch)", S,
                   scheme<4, per_group<64>, asymmetric>, scheme<2, per_tensor>, scheme<8, per_channel, symmetric, scale_f32>,
                   scheme<1, per_group<32>>) {
    const std::size_t N = pick(333, 133), K = 520, M = 5;  // tasks of 64 rows and a short one
    const auto w = lowbit_test::gaussian(N * K, 2);
    quantize_options o;
    o.group = 64;
    auto q = quantize<S>(matrix_view<const float>(w.data(), N, K), o);
    REQUIRE(q);
    std::vector<std::int32_t> perm(K);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), std::mt19937(3));
    q->set_perm(perm);
    const auto x = lowbit_test::gaussian(M * K, 4);
    for (arch a : archs()) {
        arch_scope s(a);
        for (auto path : {matmul_path::dequant_fma, matmul_path::int8_dot, matmul_path::reference}) {
            matmul_options mo;
            mo.path = path;
            std::vector<float> y0, Y0;
            every_executor([&](auto& exec, const char* name) {
                const std::string where = std::string(arch_name(a)) + "/" + std::to_string(static_cast<int>(path)) + "/" + name;
                CAPTURE(where);
                std::vector<float> y(N), Y(M * N);
                REQUIRE(gemv(*q, span<const float>(x.data(), K), span<float>(y), exec, mo).ok());
                REQUIRE(gemm(*q, matrix_view<const float>(x.data(), M, K), matrix_view<float>(Y.data(), M, N), exec, mo).ok());
                if (y0.empty()) {
                    y0 = y;
                    Y0 = Y;
                }
                CHECK(std::memcmp(y.data(), y0.data(), N * 4) == 0);
                CHECK(std::memcmp(Y.data(), Y0.data(), M * N * 4) == 0);
                CHECK(std::memcmp(Y.data(), y.data(), N * 4) == 0);  // GEMM row 0 is the GEMV
            });
        }
    }
}

TEST_CASE("determinism: the int8 path's activation quantization gives the same bits on every arch") {
    // The int8 result depends on the prepared activations only through the scalar
    // model, which every arch equals; ragged K, permutation, hostile rows included.
    using S = scheme<4, per_group<32>>;
    const std::size_t N = 70, K = 300;
    const auto w = lowbit_test::gaussian(N * K, 5);
    auto q = quantize<S>(matrix_view<const float>(w.data(), N, K));
    REQUIRE(q);
    auto x = lowbit_test::gaussian(3 * K, 6);
    x[K + 5] = 1e-39f;  // a subnormal in row 1 takes the guarded preparation
    matmul_options mo;
    mo.path = matmul_path::int8_dot;
    std::vector<float> want;
    for (arch a : archs()) {
        arch_scope s(a);
        every_executor([&](auto& exec, const char*) {
            std::vector<float> Y(3 * N);
            REQUIRE(gemm(*q, matrix_view<const float>(x.data(), 3, K), matrix_view<float>(Y.data(), 3, N), exec, mo).ok());
            if (want.empty()) want = Y;
            CHECK(std::memcmp(Y.data(), want.data(), Y.size() * 4) == 0);
        });
    }
}

TEST_CASE_TEMPLATE("determinism: QAT fake quantization is identical on the SIMD and scalar paths and any thread count", S,
                   scheme<4, per_group<32>, asymmetric>, scheme<3, per_channel, symmetric, scale_f32>, scheme<8, per_tensor>) {
    const std::size_t N = pick(40, 36), K = 2000;  // > 64k elements: several tasks
    auto w = lowbit_test::gaussian(N * K, 7);
    const matrix_view<const float> wv(w.data(), N, K);
    auto l = qlayout::make(S::runtime(), N, K);
    REQUIRE(l);
    std::vector<float> steps(l->n_scales);
    std::vector<std::uint8_t> zeros(l->n_zeros);
    REQUIRE(qat::calibrated_init<S>(wv, calibration{}, span<float>(steps), span<std::uint8_t>(zeros)).ok());
    const auto gy = lowbit_test::gaussian(N * K, 8);
    std::vector<float> want_y, want_g, want_gs;
    for (arch a : archs()) {  // the QAT kernels take the compile-time SIMD arch; forcing must not change anything
        arch_scope s(a);
        for (auto path : {qat::fq_path::automatic, qat::fq_path::scalar}) {
            every_executor([&](auto& exec, const char* name) {
                CAPTURE(name);
                qat::fq_backward_options o;
                o.path = path;
                std::vector<float> y(N * K), g(N * K), gs(steps.size());
                REQUIRE(qat::fake_quantize<S>(wv, span<const float>(steps), span<const std::uint8_t>(zeros),
                                              matrix_view<float>(y.data(), N, K), o, exec)
                            .ok());
                REQUIRE(qat::fake_quantize_backward<S>(wv, span<const float>(steps), span<const std::uint8_t>(zeros),
                                                       matrix_view<const float>(gy.data(), N, K), matrix_view<float>(g.data(), N, K),
                                                       span<float>(gs), o, exec)
                            .ok());
                if (want_y.empty()) {
                    want_y = y;
                    want_g = g;
                }
                CHECK(std::memcmp(y.data(), want_y.data(), y.size() * 4) == 0);
                CHECK(std::memcmp(g.data(), want_g.data(), g.size() * 4) == 0);
                // step-gradient sums are reassociated between paths (documented), never between thread counts
                if (path == qat::fq_path::automatic) {
                    if (want_gs.empty()) want_gs = gs;
                    CHECK(std::memcmp(gs.data(), want_gs.data(), gs.size() * 4) == 0);
                }
            });
        }
    }
    // exported codes equal quantize's (same quantizer), on every arch
    auto e = qat::export_qmatrix<S>(wv, span<const float>(steps), span<const std::uint8_t>(zeros));
    REQUIRE(e);
    auto q = quantize<S>(wv);
    REQUIRE(q);
    CHECK(e->storage().codes == q->storage().codes);
}

TEST_CASE("determinism: GGUF block encoders and GGUF matmul give the same bytes on every arch and thread count") {
    using namespace lowbit::gguf;
    const std::size_t N = 70, K = 512;
    const auto w = lowbit_test::llm_like(N, K, 9);
    const auto x = lowbit_test::gaussian(3 * K, 10);
    for (gguf_type t : {gguf_type::q4_0, gguf_type::q5_0, gguf_type::q8_0, gguf_type::q2_K, gguf_type::q3_K, gguf_type::q4_K,
                        gguf_type::q5_K, gguf_type::q6_K}) {
        CAPTURE(type_name(t));
        const std::size_t rb = static_cast<std::size_t>(gguf::row_size(t, static_cast<std::int64_t>(K)));
        std::vector<unsigned char> want_rows;
        std::vector<float> want_y;
        for (arch a : archs()) {
            arch_scope s(a);
            std::vector<unsigned char> rows(N * rb);
            REQUIRE(quantize(t, w.data(), rows.data(), N, K, nullptr).ok());
            if (want_rows.empty()) want_rows = rows;
            CHECK(rows == want_rows);
            if (!matmul_supported(t)) continue;
            every_executor([&](auto& exec, const char* name) {
                CAPTURE(name);
                std::vector<float> Y(3 * N);
                REQUIRE(gemm(t, rows.data(), N, K, matrix_view<const float>(x.data(), 3, K), matrix_view<float>(Y.data(), 3, N), exec).ok());
                if (want_y.empty()) want_y = Y;
                CHECK(std::memcmp(Y.data(), want_y.data(), Y.size() * 4) == 0);
            });
        }
    }
}

// rotated_gemv (kernels/rotated_matmul.hpp): the same bits on every executor.
TEST_CASE("determinism: rotated_gemv's bits do not depend on the thread count") {
    using S = scheme<4, per_group<32>>;
    const std::size_t N = pick(300, 100), K = 1024;
    const auto w = lowbit_test::gaussian(N * K, 12);
    auto q = quantize<S>(matrix_view<const float>(w.data(), N, K));
    REQUIRE(q);
    auto t = repack_tiled(q->view());
    REQUIRE(t);
    auto wt = to_weights(t->view());
    REQUIRE(wt);
    auto rot = hadamard_rotation::make(K, 13);
    REQUIRE(rot);
    const auto x = lowbit_test::gaussian(K, 14);
    for (auto path : {matmul_path::dequant_fma, matmul_path::int8_dot}) {
        matmul_options mo;
        mo.path = path;
        std::vector<float> y0;
        every_executor([&](auto& exec, const char* name) {
            const std::string where = std::to_string(static_cast<int>(path)) + "/" + name;
            CAPTURE(where);
            matmul_workspace ws;
            std::vector<float> y(N, -1.0f);
            REQUIRE(rotated_gemv(*rot, *wt, span<const float>(x), span<float>(y), exec, mo, ws).ok());
            if (y0.empty()) y0 = y;
            CHECK(std::memcmp(y.data(), y0.data(), N * 4) == 0);
        });
    }
}
