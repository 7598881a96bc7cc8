// Kernels, part 2: the typed grid over widths 3, 5, 6, 7 (the byte-straddling
// unpackers) and a dynamic group. Part 1: test_kernels.cpp.
#include "test_kernels_common.hpp"

using namespace lowbit;

// One kernel scheme per width: 3 asym f16, 5 asym bf16, 6 sym f32, 7 sym f16
// (test_kernels.cpp says why).
#define KERNEL_SCHEMES_B                                                                                          \
    scheme<3, per_group<32>, asymmetric>, scheme<3, per_channel, asymmetric>, scheme<5, per_group<64>, asymmetric, scale_bf16>, \
        scheme<6, per_group<128>, symmetric, scale_f32>, scheme<7, per_tensor>, scheme<5, per_group_dynamic, asymmetric, scale_bf16>, \
        scheme<6, per_channel, symmetric, scale_f32>, scheme<7, per_group<32>>

TEST_CASE_TEMPLATE("kernels: gemv, every arch, both paths (widths 3,5,6,7)", S, KERNEL_SCHEMES_B) {
    kt::check_gemv_all_archs<S>();
}
TEST_CASE_TEMPLATE("kernels: gemm rows equal gemv rows, every arch (widths 3,5,6,7)", S, KERNEL_SCHEMES_B) {
    kt::check_gemm_all_archs<S>();
}
TEST_CASE_TEMPLATE("kernels: bit-identical for any thread count (widths 3,5,6,7)", S, scheme<3, per_group<32>, asymmetric>,
                   scheme<6, per_group<64>, symmetric, scale_f32>) {
    kt::check_thread_determinism<S>();
}
#if defined(__aarch64__)
// The NEON and dotprod bodies' only run (test_kernels.cpp says why).
TEST_CASE_TEMPLATE("kernels: gemv and gemm, every arch, more kernel schemes (AArch64, widths 3,5,6,7)", S, scheme<3, per_group<32>>,
                   scheme<5, per_group<64>>, scheme<6, per_group<128>, asymmetric>) {
    kt::check_gemv_all_archs<S>();
    kt::check_gemm_all_archs<S>();
}
#endif
