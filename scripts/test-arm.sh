#!/usr/bin/env bash
# Cross compile lowbit's kernel tests for AArch64 and run them under qemu-user
# (docs/kernels.md "ARM kernels", docs/install.md "Cross compiling for AArch64").
#
# Builds a reduced set of test binaries that still reaches every kernel (no
# examples, benches, consumer builds or fuzzers) into build-arm/, then:
#   1. CTest under `qemu-aarch64 -cpu max` (has the Armv8.2 dot product): the
#      automatic arch must be neondot, and the kernel tests force every arch the
#      CPU runs (scalar, sse2 = the 4-lane NEON f32 body, neon, neondot) against the models;
#   2. the kernel tests again on an emulated Cortex-A72 (Armv8.0, no dot
#      product): the automatic arch must be neon, and neondot must be refused;
#      the arch loops force neon only (LOWBIT_TEST_ARCHS=neon: the scalar and
#      4-lane bodies ran under -cpu max; docs/history/test-command.md, session 23).
# About 3 minutes from a clean build directory on 2 busy cores (3m12s measured).
# Usage: scripts/test-arm.sh   (env LOWBIT_ARM_BUILD_DIR: build directory, default build-arm)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/phase.sh
bash scripts/install-deps.sh g++-aarch64-linux-gnu qemu-user ninja-build
build="${LOWBIT_ARM_BUILD_DIR:-build-arm}"
lowbit_ninja_dir "$build"
tests=(test_kernels test_kernels_tiled test_gguf_matmul test_gguf_blocks test_core test_quant test_pack test_reference)
# Header-only (LOWBIT_LINK_COMPILED=OFF): these tests call no run-time twin, so
# lowbit::compiled would only add its build; this also checks the header-only
# mode on AArch64. Ninja builds the targets side by side (CMake's Makefiles build one target at a
# time). -O1: these tests check results, not speed, and -O1 compiles in 60% of
# -O2's time (test_quant.cpp: 39 s vs 65 s); the kernels are intrinsics, their
# helpers always_inline, so they compile to the same instructions.
# LOWBIT_TEST_SAMPLED_GRID: test_quant's generic code on a Latin square of its
# scheme grid (32 of 128 schemes; the whole grid runs under ASan+UBSan on x86),
# and test_kernels_tiled's grid on the ASan+UBSan build's 12 schemes, not 21
# (every width, symmetry, scale type and per-tensor; session 25: -16 CPU-s of
# compile, -21 of qemu runs; docs/testing.md); and (session 27) test_quant's
# MSE-search tensor case on half of its 108 tensors, calibrate_groups on norms
# 2, 2.4 and one of 3 / 1.5 per group size and width, its group sweep on every
# 13th group, not every 7th (qemu 65.9 -> 38.8 CPU-s; x86 runs them all).
lowbit_phase "AArch64: configure" cmake -S . -B "$build" -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" -DLOWBIT_BUILD_EXAMPLES=OFF -DLOWBIT_BUILD_BENCH=OFF -DLOWBIT_INSTALL=OFF \
  -DLOWBIT_LINK_COMPILED=OFF -DLOWBIT_TEST_SAMPLED_GRID=ON >/dev/null
lowbit_phase "AArch64: build (g++ -O1)" cmake --build "$build" -j"$(nproc)" --target "${tests[@]}"
regex="^($(IFS='|'; echo "${tests[*]}"))\$"
# LOWBIT_TEST_REDUCED=1: smaller statistical shapes (tests/test_util.hpp), same kernels and schemes.
export LOWBIT_TEST_REDUCED=1
LOWBIT_TEST_EXPECT_ARCH=neondot lowbit_phase "AArch64: ctest under qemu (-cpu max)" \
  ctest --test-dir "$build" -R "$regex" --output-on-failure -j"$(nproc)" --timeout "$lowbit_test_timeout"
# test_gguf_matmul leaves out three cases there (session 27): the int8 error bound
# (arch-independent: every arch equals the scalar model bit for bit, checked for
# neon under -cpu max and by the case that runs every type's neon copy here), the
# no-allocation case (neon's workspace checked under -cpu max) and codebook k-means
# (no kernel); every neon copy still runs here, and the automatic arch is neon in
# the cases that do not force one.
a72_skip_test_gguf_matmul='gguf gemv: error against the f32 matmul*,gguf gemv/gemm: a pre-sized workspace*,codebook: k-means*'
a72() {  # || return: set -e does not reach into a function run as a condition
  local t skip
  for t in test_kernels test_kernels_tiled test_gguf_matmul; do
    echo "lowbit: $t on an emulated Cortex-A72 (no dot product)"
    skip=a72_skip_$t
    LOWBIT_TEST_EXPECT_ARCH=neon LOWBIT_TEST_ARCHS=neon timeout "$lowbit_test_timeout" qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu cortex-a72 \
      "$build/tests/$t" --minimal ${!skip:+"--test-case-exclude=${!skip}"} || return
  done
}
lowbit_phase "AArch64: kernel tests on a Cortex-A72" a72
