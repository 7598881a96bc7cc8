// tests/test_kernel_table_lib.cpp — the typed front doors as a user's TU in
// compiled mode sees them: LOWBIT_COMPILED without LOWBIT_INLINE_KERNELS
// (tests/CMakeLists.txt defines it for test_kernel_table; undone here, before
// any include), so the calls below run lowbit::compiled's families and this
// TU parses no kernel body. test_kernel_table.cpp, in the same program, checks
// that they are the families the run-time dispatch gives, with the same
// results as its weights_view front door, and, for lib_scheme, the same
// entries as its own copy (kernels/detail/typed_family.hpp). Header-only (no
// LOWBIT_COMPILED) both TUs have the one inline copy of each table.
#undef LOWBIT_INLINE_KERNELS

#include "test_kernel_table_lib.hpp"

namespace lowbit_test {
template <class S>
lowbit::span<const lowbit::kernel_entry> lib_typed<S>::dense_kernels() {
    return lowbit::dense_kernels<S>();
}
template <class S>
lowbit::span<const lowbit::kernel_entry> lib_typed<S>::tiled_kernels() {
    return lowbit::tiled_kernels<S>();
}
template <class S>
lowbit::status lib_typed<S>::gemv(const lowbit::qmatrix_view<S>& w, lowbit::span<const float> x, lowbit::span<float> y,
                                  const lowbit::matmul_options& opt) {
    return lowbit::gemv(w, x, y, lowbit::serial_executor{}, opt);
}
template <class S>
lowbit::status lib_typed<S>::gemv(const lowbit::tiled_view<S>& w, lowbit::span<const float> x, lowbit::span<float> y,
                                  const lowbit::matmul_options& opt) {
    return lowbit::gemv(w, x, y, lowbit::serial_executor{}, opt);
}
template <class S>
lowbit::status lib_typed<S>::gemm(const lowbit::qmatrix_view<S>& w, lowbit::matrix_view<const float> x, lowbit::matrix_view<float> y,
                                  const lowbit::matmul_options& opt) {
    return lowbit::gemm(w, x, y, lowbit::serial_executor{}, opt);
}
template <class S>
lowbit::status lib_typed<S>::gemm(const lowbit::tiled_view<S>& w, lowbit::matrix_view<const float> x, lowbit::matrix_view<float> y,
                                  const lowbit::matmul_options& opt) {
    return lowbit::gemm(w, x, y, lowbit::serial_executor{}, opt);
}

// LOWBIT_TEST_LIB_SCHEMES, one by one.
template struct lib_typed<lowbit::scheme<1, lowbit::per_group<32>>>;
template struct lib_typed<lowbit::scheme<2, lowbit::per_tensor, lowbit::asymmetric, lowbit::scale_f32>>;
template struct lib_typed<lowbit::scheme<3, lowbit::per_channel, lowbit::symmetric, lowbit::scale_bf16>>;
template struct lib_typed<lib_scheme>;
template struct lib_typed<lowbit::scheme<4, lowbit::per_tensor, lowbit::asymmetric>>;
template struct lib_typed<lowbit::scheme<5, lowbit::per_group<64>, lowbit::asymmetric, lowbit::scale_bf16>>;
template struct lib_typed<lowbit::scheme<6, lowbit::per_channel, lowbit::symmetric, lowbit::scale_f32>>;
template struct lib_typed<lowbit::scheme<7, lowbit::per_group_dynamic, lowbit::asymmetric>>;
template struct lib_typed<lowbit::scheme<8, lowbit::per_group<128>>>;
template struct lib_typed<lowbit::scheme<8, lowbit::per_tensor, lowbit::asymmetric, lowbit::scale_f32>>;
}  // namespace lowbit_test
