// tests/test_kernel_table_lib.hpp — what test_kernel_table_lib.cpp, a TU of
// test_kernel_table built as a user's compiled-mode TU (no
// LOWBIT_INLINE_KERNELS), tells test_kernel_table.cpp (which has its own
// copies of the kernels): its typed family of w4 symmetric f16 per group and
// its typed front doors' results.
#pragma once

#include <lowbit/kernels/tiled_matmul.hpp>

namespace lowbit_test {
using lib_scheme = lowbit::scheme<4, lowbit::per_group<32>>;

// dense_kernels<lib_scheme>(), tiled_kernels<lib_scheme>() in that TU.
lowbit::span<const lowbit::kernel_entry> lib_dense_kernels();
lowbit::span<const lowbit::kernel_entry> lib_tiled_kernels();
// gemm on the typed views in that TU.
lowbit::status lib_gemm(const lowbit::qmatrix_view<lib_scheme>& w, lowbit::matrix_view<const float> x, lowbit::matrix_view<float> y,
                        const lowbit::matmul_options& opt);
lowbit::status lib_gemm(const lowbit::tiled_view<lib_scheme>& w, lowbit::matrix_view<const float> x, lowbit::matrix_view<float> y,
                        const lowbit::matmul_options& opt);
}  // namespace lowbit_test
