// Kernels, part 1: dispatch, workspace, fallbacks, and the typed grid over
// widths 1, 2, 4, 8 (the shift-and-mask unpackers). Part 2 (test_kernels_b.cpp)
// covers 3, 5, 6, 7. Helpers and tolerances: test_kernels_common.hpp.
#include <cstdlib>

#include "test_kernels_common.hpp"

using namespace lowbit;

// One kernel scheme per width (bits, symmetry, scale type: what the bodies are
// instantiated for; the group is read at run time and per-tensor weights run
// the per-group bodies), several typed schemes each: this file compiles every
// arch's bodies (clang -O1 under ASan+UBSan) for four kernel schemes, not
// nine. The widths' symmetries and scale types are spread over both files so
// that each symmetry and each scale type runs here: 4 sym f16, 8 asym f32,
// 2 asym bf16, 1 sym f16; test_kernels_b.cpp: 3 asym f16, 5 asym bf16, 6 sym
// f32, 7 sym f16. Other combinations run in test_kernel_table (g++ -O2, the
// optimised copies, every entry of ten schemes) and, for the NEON and dotprod
// bodies, in the AArch64 build's own case below.
#define KERNEL_SCHEMES_A                                                                                        \
    scheme<4, per_group<32>>, scheme<4, per_channel>, scheme<8, per_channel, asymmetric, scale_f32>,              \
        scheme<8, per_group<64>, asymmetric, scale_f32>, scheme<2, per_group<32>, asymmetric, scale_bf16>,        \
        scheme<1, per_group<32>>, scheme<2, per_tensor, asymmetric, scale_bf16>

TEST_CASE_TEMPLATE("kernels: gemv, every arch, both paths (widths 1,2,4,8)", S, KERNEL_SCHEMES_A) {
    kt::check_gemv_all_archs<S>();
}
TEST_CASE_TEMPLATE("kernels: gemm rows equal gemv rows, every arch (widths 1,2,4,8)", S, KERNEL_SCHEMES_A) {
    kt::check_gemm_all_archs<S>();
}
#if defined(__aarch64__)
// The AArch64 build is the NEON and dotprod bodies' only run (test_kernel_table
// is x86's): there the other symmetry or scale type of each width too.
TEST_CASE_TEMPLATE("kernels: gemv and gemm, every arch, more kernel schemes (AArch64)", S, scheme<4, per_group<128>, asymmetric>,
                   scheme<8, per_channel>, scheme<2, per_group<32>, symmetric, scale_bf16>, scheme<4, per_group<48>, asymmetric, scale_bf16>) {
    kt::check_gemv_all_archs<S>();
    kt::check_gemm_all_archs<S>();
}
#endif
// f32 scales on the 8-bit asymmetric scheme: its kernels are those of
// scheme<8, per_group<64>, asymmetric, scale_f32> above, not a kernel scheme
// of their own to compile.
TEST_CASE_TEMPLATE("kernels: bit-identical for any thread count (widths 1,2,4,8)", S, scheme<4, per_group<32>>,
                   scheme<8, per_channel, asymmetric, scale_f32>) {
    kt::check_thread_determinism<S>();
}

TEST_CASE("kernels: arch names, forcing, refusal") {
    for (arch a : {arch::scalar, arch::sse2, arch::avx2, arch::avx512, arch::avxvnni, arch::avx512vnni, arch::neon,
                   arch::neondot, arch::amx}) {
        auto p = parse_arch(arch_name(a));
        REQUIRE(p.ok());
        CHECK(*p == a);
    }
    CHECK_FALSE(parse_arch("avx9000").ok());
    CHECK(force_arch(arch::scalar).ok());
    CHECK(active_arch() == arch::scalar);
    CHECK(force_arch(arch::automatic).ok());
    CHECK(active_arch() == detail::best_arch(detail::cpu()));
#if defined(__x86_64__)
    CHECK(force_arch(arch::neon).code() == errc::unsupported);
    CHECK(force_arch(arch::neondot).code() == errc::unsupported);
#endif
#if defined(__aarch64__)
    CHECK(detail::cpu().has(arch::neon));
    CHECK(detail::best_arch(detail::cpu()) == (detail::cpu().dotprod ? arch::neondot : arch::neon));
    CHECK(force_arch(arch::neondot).code() == (detail::cpu().dotprod ? errc::ok : errc::unsupported));
    (void)force_arch(arch::automatic);
#endif
}

// LOWBIT_TEST_EXPECT_ARCH=<name>: the arch this run must pick by itself (scripts/test-arm.sh
// sets it per emulated CPU, so a run that silently lost its dot-product path fails).
TEST_CASE("kernels: the expected arch is the automatic choice") {
    const char* want = std::getenv("LOWBIT_TEST_EXPECT_ARCH");
    if (!want) return;
    const std::string got = arch_name(detail::best_arch(detail::cpu()));
    CHECK(got == std::string(want));
}

// Groups of a multiple of 8 that is not one of 32 (blocks.hpp, "small groups"):
// both paths on every arch against the reference and the int8 scalar model,
// ragged last groups (K = 31, 33, 257, ...) included. 1-bit int8 has no
// small-group kernel: the reference, checked below.
#define KERNEL_SCHEMES_SMALL                                                                                   \
    scheme<4, per_group<16>>, scheme<8, per_group<24>, asymmetric, scale_f32>,                                 \
        scheme<2, per_group<16>, asymmetric, scale_bf16>, scheme<1, per_group<8>>

TEST_CASE_TEMPLATE("kernels: small groups, gemv, every arch, both paths", S, KERNEL_SCHEMES_SMALL,
                   scheme<2, per_group<48>, asymmetric, scale_bf16>) {
    kt::check_gemv_all_archs<S>();
}
TEST_CASE_TEMPLATE("kernels: small groups, gemm rows equal gemv rows", S, scheme<4, per_group<16>>,
                   scheme<8, per_group<24>, asymmetric, scale_f32>) {
    kt::check_gemm_all_archs<S>();
}

// Which groups the fast kernels take, reported: a multiple of 8 on the f32
// path, of 8 (16 for 2 bits, none for 1 bit) on the int8 path; other groups
// run the reference as a fallback (refused when fallbacks are not allowed).
template <class S>
void check_small_group_dispatch(bool f32_fast, bool i8_fast) {
    const auto q = kt::make_matrix<S>(9, 200, 3, true);
    const auto x = kt::random_vec(200, 4);
    std::vector<float> a(9), b(9);
    matmul_options ref;
    ref.path = matmul_path::reference;
    REQUIRE(gemv(q, span<const float>(x), span<float>(a), serial_executor{}, ref).ok());
    for (auto path : {matmul_path::dequant_fma, matmul_path::int8_dot}) {
        const bool fast = path == matmul_path::dequant_fma ? f32_fast : i8_fast;
        CAPTURE(static_cast<int>(path));
        matmul_info info;
        matmul_options o;
        o.path = path;
        o.info = &info;
        REQUIRE(gemv(q, span<const float>(x), span<float>(b), serial_executor{}, o).ok());
        REQUIRE(info.entry != nullptr);
        CHECK(info.fell_back == (!fast || info.entry->key.a != active_arch()));
        CHECK((info.entry->key.path == matmul_path::reference) == !fast);
        if (!fast) CHECK(std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
        o.allow_fallback = false;
        o.info = nullptr;
        if (!fast) CHECK(gemv(q, span<const float>(x), span<float>(b), serial_executor{}, o).code() == errc::unsupported);
    }
}
TEST_CASE("kernels: small groups take the fast kernels, other groups the reference (reported)") {
    check_small_group_dispatch<scheme<4, per_group<16>>>(true, true);
    check_small_group_dispatch<scheme<8, per_group<40>, asymmetric, scale_f32>>(true, true);
    check_small_group_dispatch<scheme<2, per_group<8>, asymmetric, scale_bf16>>(true, false);
    check_small_group_dispatch<scheme<1, per_group<16>>>(true, false);
    check_small_group_dispatch<scheme<4, per_group<12>>>(false, false);
    check_small_group_dispatch<scheme<4, per_group<50>>>(false, false);
}

TEST_CASE("kernels: caller workspace, any_qmatrix twin, errors leave y untouched") {
    using S = scheme<4, per_group<32>>;
    const auto q = kt::make_matrix<S>(40, 96, 5, false);
    const auto x = kt::random_vec(96, 6);
    std::vector<float> a(40), b(40, 1.0f);
    matmul_workspace ws;
    matmul_options o;
    o.path = matmul_path::int8_dot;
    REQUIRE(gemv(q.view(), span<const float>(x), span<float>(a), serial_executor{}, o, ws).ok());
    CHECK(ws.capacity() > 0);
    const std::size_t cap = ws.capacity();
    REQUIRE(gemv(q.view(), span<const float>(x), span<float>(a), serial_executor{}, o, ws).ok());
    CHECK(ws.capacity() == cap);  // reused, no growth
    REQUIRE(gemv(q, span<const float>(x), span<float>(b), serial_executor{}, o).ok());
    CHECK(std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
    std::vector<float> bad(39, 2.0f);
    CHECK(gemv(q, span<const float>(x), span<float>(bad), serial_executor{}, o).code() == errc::shape_mismatch);
    CHECK(bad[0] == 2.0f);
}
