// Kernels, part 2: the typed grid over widths 3, 5, 6, 7 (the byte-straddling
// unpackers) and a dynamic group. Part 1: test_kernels.cpp.
#include "test_kernels_common.hpp"

using namespace lowbit;

#define KERNEL_SCHEMES_B                                                                                          \
    scheme<3, per_group<32>>, scheme<3, per_channel, asymmetric>, scheme<5, per_group<64>>,                       \
        scheme<6, per_group<128>, asymmetric>, scheme<7, per_tensor>, scheme<5, per_group_dynamic, asymmetric, scale_bf16>, \
        scheme<6, per_channel, symmetric, scale_f32>

TEST_CASE_TEMPLATE("kernels: gemv, every arch, both paths (widths 3,5,6,7)", S, KERNEL_SCHEMES_B) {
    kt::check_gemv_all_archs<S>();
}
TEST_CASE_TEMPLATE("kernels: gemm rows equal gemv rows, every arch (widths 3,5,6,7)", S, KERNEL_SCHEMES_B) {
    kt::check_gemm_all_archs<S>();
}
TEST_CASE_TEMPLATE("kernels: bit-identical for any thread count (widths 3,5,6,7)", S, scheme<3, per_group<32>>,
                   scheme<6, per_group<64>, asymmetric>) {
    kt::check_thread_determinism<S>();
}
