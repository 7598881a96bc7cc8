// tests/test_kernel_table_lib.hpp — what test_kernel_table_lib.cpp, a TU of
// test_kernel_table built as a user's compiled-mode TU (no
// LOWBIT_INLINE_KERNELS), tells test_kernel_table.cpp (which has its own
// copies of one scheme's kernels): the typed families and the typed front
// doors' results of that TU, for the schemes listed below.
#pragma once

#include <lowbit/kernels/tiled_matmul.hpp>

namespace lowbit_test {
// The scheme whose kernels test_kernel_table.cpp also instantiates itself.
using lib_scheme = lowbit::scheme<4, lowbit::per_group<32>>;

// The typed schemes the two TUs compare: every width, every granularity the
// typed API takes (per tensor, per channel, static and dynamic groups), both
// symmetries and every scale type. kernel_scheme<S> maps each onto one of the
// kernel schemes of test_kernel_table's grid, each of which is reached, so the
// per-tensor branch of typed_family and the per-group-dynamic one are both
// checked. test_kernel_table_lib.cpp instantiates lib_typed for each, one line
// a scheme (a missing one is a link error).
#define LOWBIT_TEST_LIB_SCHEMES                                                                                                  \
    lowbit::scheme<1, lowbit::per_group<32>>, lowbit::scheme<2, lowbit::per_tensor, lowbit::asymmetric, lowbit::scale_f32>,     \
        lowbit::scheme<3, lowbit::per_channel, lowbit::symmetric, lowbit::scale_bf16>, lowbit_test::lib_scheme,                          \
        lowbit::scheme<4, lowbit::per_tensor, lowbit::asymmetric>,                                                              \
        lowbit::scheme<5, lowbit::per_group<64>, lowbit::asymmetric, lowbit::scale_bf16>,                                       \
        lowbit::scheme<6, lowbit::per_channel, lowbit::symmetric, lowbit::scale_f32>,                                           \
        lowbit::scheme<7, lowbit::per_group_dynamic, lowbit::asymmetric>, lowbit::scheme<8, lowbit::per_group<128>>,            \
        lowbit::scheme<8, lowbit::per_tensor, lowbit::asymmetric, lowbit::scale_f32>

// In that TU: dense_kernels<S>(), tiled_kernels<S>(), and gemv / gemm on the
// typed views (serial, the thread's workspace).
template <class S>
struct lib_typed {
    static lowbit::span<const lowbit::kernel_entry> dense_kernels();
    static lowbit::span<const lowbit::kernel_entry> tiled_kernels();
    static lowbit::status gemv(const lowbit::qmatrix_view<S>& w, lowbit::span<const float> x, lowbit::span<float> y,
                               const lowbit::matmul_options& opt);
    static lowbit::status gemv(const lowbit::tiled_view<S>& w, lowbit::span<const float> x, lowbit::span<float> y,
                               const lowbit::matmul_options& opt);
    static lowbit::status gemm(const lowbit::qmatrix_view<S>& w, lowbit::matrix_view<const float> x, lowbit::matrix_view<float> y,
                               const lowbit::matmul_options& opt);
    static lowbit::status gemm(const lowbit::tiled_view<S>& w, lowbit::matrix_view<const float> x, lowbit::matrix_view<float> y,
                               const lowbit::matmul_options& opt);
};
}  // namespace lowbit_test
