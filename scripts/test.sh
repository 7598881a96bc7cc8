#!/usr/bin/env bash
# The test command (README; CI runs it through .ci/run). Every check runs once
# where it tells something (docs/testing.md: the plan and the measured times):
#   1. a plain build (g++ -O2, Ninja) of the examples, the benchmarks and the
#      tests whose optimised build is the point: the kernels' release copies
#      and their -O3 -march=native -ffp-contract=fast copies, the run-time twins
#      with their x86 kernels, determinism across arch paths and thread counts,
#      the tools' end-to-end tests; CTest runs those, the header check, the
#      consumer builds, the fuzzers and the examples' smoke runs;
#   2. scripts/test-sanitize.sh: every test binary under ASan+UBSan (clang -O1),
#      the threaded ones under TSan. The tests in `sanitized_only` below check
#      results, not code generation: they run there only, not twice;
#   3. scripts/test-arm.sh: the AArch64 cross build, kernel tests under qemu.
# At the end: a table of wall and CPU seconds per phase.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/phase.sh
export LOWBIT_PHASE_LOG=${LOWBIT_PHASE_LOG:-$(mktemp)}
jobs=$(nproc)
sanitized_only=(test_core test_quant test_gguf_file test_safetensors test_pack test_reference test_algo test_qat
                test_hostile test_llama test_import)
# Built to check that they compile and link, never run here: -O0 (lowbit-layer's
# run-time twins: 184 CPU-s at -O2). Run examples stay -O2.
compile_only=(quickstart lowbit-layer lowbit-gptq-bench openmp_executor lowbit_bench)

lowbit_phase "install dependencies" bash scripts/install-deps.sh ninja-build clang libclang-rt-dev \
  dataset-fashion-mnist g++-aarch64-linux-gnu qemu-user

lowbit_ninja_dir build-test
lowbit_phase "plain: configure (g++ -O2)" cmake -S . -B build-test -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" "-DLOWBIT_SKIP_TESTS=$(IFS=';'; echo "${sanitized_only[*]}")" \
  "-DLOWBIT_TARGET_OPT=$(IFS=';'; echo "${compile_only[*]/%/=-O0}")" >/dev/null
lowbit_phase "plain: build" cmake --build build-test -j"$jobs"
lowbit_phase "plain: ctest" ctest --test-dir build-test --output-on-failure -j"$jobs"

bash scripts/test-sanitize.sh  # ASan+UBSan on every test, TSan on the threaded ones (docs/reliability.md)
bash scripts/test-arm.sh       # AArch64 cross build, kernel tests under qemu (neon, neondot)

# Nothing dropped: each test left out of the plain build ran under ASan+UBSan.
for t in "${sanitized_only[@]}"; do
  if ! ctest --test-dir "${LOWBIT_ASAN_DIR:-build-asan}" -N -R "^$t\$" | grep -q '^Total Tests: 1$'; then
    echo "lowbit: $t is in neither the plain nor the ASan+UBSan run" >&2
    exit 1
  fi
done
echo "lowbit: all tests passed. Time per phase (wall, and CPU = user+sys of everything it ran):"
cat "$LOWBIT_PHASE_LOG"
