// tests/test_kernel_table_lib.cpp — the typed front doors as a user's TU in
// compiled mode sees them: LOWBIT_COMPILED without LOWBIT_INLINE_KERNELS
// (tests/CMakeLists.txt defines it for test_kernel_table; undone here, before
// any include), so the calls below run lowbit::compiled's families and this
// TU parses no kernel body. test_kernel_table.cpp, in the same program with
// its own copies, checks that the two are distinct, list the same entries and
// give the same bits (kernels/detail/typed_family.hpp). Header-only (no
// LOWBIT_COMPILED) both TUs have the one inline copy.
#undef LOWBIT_INLINE_KERNELS

#include "test_kernel_table_lib.hpp"

namespace lowbit_test {
lowbit::span<const lowbit::kernel_entry> lib_dense_kernels() { return lowbit::dense_kernels<lib_scheme>(); }
lowbit::span<const lowbit::kernel_entry> lib_tiled_kernels() { return lowbit::tiled_kernels<lib_scheme>(); }
lowbit::status lib_gemm(const lowbit::qmatrix_view<lib_scheme>& w, lowbit::matrix_view<const float> x, lowbit::matrix_view<float> y,
                        const lowbit::matmul_options& opt) {
    return lowbit::gemm(w, x, y, lowbit::serial_executor{}, opt);
}
lowbit::status lib_gemm(const lowbit::tiled_view<lib_scheme>& w, lowbit::matrix_view<const float> x, lowbit::matrix_view<float> y,
                        const lowbit::matmul_options& opt) {
    return lowbit::gemm(w, x, y, lowbit::serial_executor{}, opt);
}
}  // namespace lowbit_test
