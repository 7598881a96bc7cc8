#!/usr/bin/env bash
# The test command (README; CI runs it through .ci/run). Every check runs once
# where it tells something (docs/testing.md: the plan and the measured times):
#   1. a plain build (g++ -O2, Ninja) of the examples, the benchmarks and the
#      tests whose optimised build is the point: the kernels' release copies
#      and their -O3 -march=native -ffp-contract=fast copies, determinism
#      across arch paths and thread counts, the tools' end-to-end tests; CTest
#      runs those, the header check (each public header alone but the umbrella
#      headers, which only include others: tests/check_headers.sh), the
#      consumer builds (g++ c++17, clang++ c++20), the fuzzers (3 s each:
#      tests/fuzz/run.sh for long runs) and the examples' runs
#      (lowbit_llama_eval holds test_llama's KLD bounds at 16 x 256, which
#      test_llama checks only on the full sample, not under ASan+UBSan's
#      LOWBIT_TEST_REDUCED);
#   2. scripts/test-sanitize.sh: the tests in `sanitized_only` below (they check
#      results, not code generation: they run there only, not twice) and the
#      kernel tests under ASan+UBSan (clang -O0, the long-running ones -O1), the
#      threaded ones under TSan; `plain_only`: tests whose check is the plain
#      build's (and TSan's), left out of the ASan+UBSan build;
#   3. scripts/test-arm.sh: the AArch64 cross build, kernel tests under qemu
#      (test_quant and test_kernels_tiled on sampled scheme grids that keep
#      every width, symmetry and scale type; test_quant's whole grid runs under
#      ASan+UBSan, test_kernels_tiled's 21 schemes only in a build with neither
#      LOWBIT_SANITIZE nor LOWBIT_TEST_SAMPLED_GRID: docs/testing.md).
# Under LOWBIT_TEST_REDUCED (phases 2 and 3) the kernel grids that crossed
# every shape with every (permutation, value kind) pair, and test_gguf_matmul's
# edge shapes with both weight sources, run a pairwise sample: every shape with
# each factor's every value, not every triple (session 27, docs/history/test-command.md).
# The phases overlap so that neither core idles: the ASan+UBSan build beside
# the plain build and CTest run, then the AArch64 build and qemu runs beside
# the ASan+UBSan CTest run and TSan. The background ones keep their output in
# a log each (build-test/*.log), printed when they end.
# At the end: a table of wall and CPU seconds per phase, and the whole run's.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/phase.sh
export LOWBIT_PHASE_LOG=${LOWBIT_PHASE_LOG:-$(mktemp)}
jobs=$(nproc)
t_start=$SECONDS
# test_gguf_blocks: the plain build runs its -O3 -march=native -ffp-contract=fast
# copy (test_gguf_blocks_native, the stricter check of the codecs' immunity to
# FMA contraction), not the -O2 one too (the same four TUs compiled twice).
# test_kernels, test_kernels_tiled: the optimised kernels are checked in the
# plain build by test_kernel_table (every entry of ten schemes that cover each
# width, symmetry, scale type and granularity, on every arch, against the
# scalar model: lowbit::compiled's entries, the ones the tools run),
# test_determinism (arch paths and thread counts bit-exact, its own -O2 copies)
# and the tools' tests; their own -O2 copies cost 170 CPU-s to compile.
# test_amx: the AMX body on emulated tiles (no CPU here has AMX): a result
# check, ~60 CPU-s to compile a second time at -O2. (Under ASan+UBSan the
# emulator's loops are an -O1 TU of their own, tests/amx_emulated.cpp.)
# test_hostile_hf (hostile input to lowbit-quantize's readers, in process) and
# test_weights_file (round trips and hostile files of lowbit weights in GGUF):
# memory-safety suites that drive no tool; they ran plain at -O0, which the
# ASan+UBSan -O0 run covers (plain compile 7.0 and 8.3 CPU-s; test_hostile_hf
# did not run under ASan+UBSan before: 7.6 CPU-s to compile there, 5.6 to run).
# test_tool_files (examples/common/input_file.hpp, session 36): the same kind.
sanitized_only=(test_core test_quant test_gguf_file test_safetensors test_pack test_reference test_algo test_qat
                test_hostile test_llama test_llama_text test_llama_hostile test_algo_gguf test_runtime test_qat_runtime
                test_import test_weights test_gguf_blocks test_kernels test_kernels_tiled test_amx test_awq_gguf
                test_hostile_hf test_weights_file test_rotated_matmul test_tool_files)
# Bit-exactness across arch paths and thread counts: the plain build's -O2 code,
# and TSan's run of the same test (scripts/test-sanitize.sh). test_kernel_table:
# the optimised kernels through the table; under ASan+UBSan the same kernel
# bodies run in test_kernels, test_kernels_tiled, test_gguf_matmul and test_amx,
# and the table's glue in test_weights, test_runtime and test_llama (~100 CPU-s
# of clang -O0 compile saved). test_intrin_include: what it checks (a user's
# <immintrin.h> after lowbit's narrower GCC 12 include) happens with g++ only.
plain_only=(test_determinism test_kernel_table test_intrin_include)
# Built to check that they compile and link, never run here: -O0. Run examples
# stay -O2. Examples, tests and benches link lowbit::compiled (built once per
# build: the run-time twins and the kernel table's lookup of every scheme,
# src/), so no TU of theirs instantiates every scheme any more. lowbit_compiled
# itself at -O1 (kernels_w4.cpp 53.5 CPU-s, 80.7 at -O2: about +215 for the eight
# widths; 48-50 on the loaded machine in session 27, two thirds of it the dense
# and tiled kernel bodies, one copy per symmetry and scale type: docs/history/test-command.md,
# "Session 27, branch ci28a"): test_kernel_table checks these -O1 entries (the ones the tools run),
# not -O2 copies of its own (108 -> 29 CPU-s to compile); test_determinism and
# test_gguf_matmul check their own -O2 copies.
# The other benches, lowbit-kernels and lowbit-plan-plot too (-O2 -> -O0, g++
# user+sys: bench_amx 14.1 -> 8.0, lowbit-kernels 15.9 -> 6.5, bench_gguf 5.7 ->
# 3.3, bench_llama 5.5 -> 3.8, bench_calibrate 6.3 -> 5.4, plot_main 1.3 -> 0.8;
# session 29: bench_kquant, left at -O2 since it came, 8.9, 9.3 -> 4.5, 4.7).
compile_only=(quickstart lowbit-layer lowbit-gptq-bench openmp_executor lowbit_bench lowbit_bench_gguf lowbit_bench_calibrate
              lowbit_bench_amx lowbit_bench_llama lowbit_bench_kquant lowbit-kernels lowbit-plan-plot)
# Run, but at -O0: tests that drive the tools (built -O2) and read and compare
# files, whose own code computes little; -O2 cost 2-4x the compile time for a
# run a few seconds shorter (docs/history/test-command.md, session 7). test_hf_convert and
# test_import_tool stay -O2: at -O0 their runs cost more than the compile saves.
unoptimised=(test_quantize_tool test_quantize_recipes test_quantize_tool_mkmodel
             readme_example)

lowbit_phase "install dependencies" bash scripts/install-deps.sh ninja-build clang libclang-rt-dev lld \
  dataset-fashion-mnist g++-aarch64-linux-gnu qemu-user
lowbit_linker  # lowbit_link_flags: lld (scripts/phase.sh)

lowbit_ninja_dir build-test
lowbit_phase "plain: configure (g++ -O2)" cmake -S . -B build-test -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" "-DLOWBIT_SKIP_TESTS=$(IFS=';'; echo "${sanitized_only[*]}")" \
  "-DLOWBIT_TARGET_OPT=$(IFS=';'; echo "${compile_only[*]/%/=-O0};${unoptimised[*]/%/=-O0}");lowbit_compiled=-O1" -DLOWBIT_FUZZ_SECONDS=3 \
  -DLOWBIT_CONSUMER_ALL_PAIRS=OFF "-DCMAKE_EXE_LINKER_FLAGS=$lowbit_link_flags" >/dev/null
# lowbit_bg <log> <command...>: runs the command in the background, its output
# into <log>; lowbit_wait <pid> <log> prints the log and fails when it failed.
bg_pids=()
trap 'for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
lowbit_bg() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 &
  bg_pids+=($!)
}
lowbit_wait() {
  local rc=0
  wait "$1" || rc=$?
  cat "$2"
  if [ $rc -ne 0 ]; then
    echo "lowbit: the phase logged in $2 failed (exit $rc)" >&2
    exit $rc
  fi
}

# Two builds or runs at a time, so that no core waits on another's last TU,
# the header check or the fuzzers: the ASan+UBSan build beside the plain build
# and CTest run, the AArch64 phase beside the end of that build and the
# ASan+UBSan CTest and TSan runs. -g0: a fifth less compile time; a finding
# names the function, and `bash scripts/test-sanitize.sh asan` (-g1) its line.
# The ASan+UBSan build links the plain build's lowbit::compiled (-O1, not
# instrumented: scripts/test-sanitize.sh says why), so that one is built first.
lowbit_phase "plain: build lowbit_compiled" cmake --build build-test -j"$jobs" --target lowbit_compiled
asan_build_log=build-test/asan-build.log
LOWBIT_ASAN_SKIP_TESTS="${plain_only[*]}" LOWBIT_ASAN_DEBUG_INFO=-g0 LOWBIT_ASAN_COMPILED_LIB="$PWD/build-test/liblowbit_compiled.a" \
  lowbit_bg "$asan_build_log" bash scripts/test-sanitize.sh asan-build
asan_build=$!
lowbit_phase "plain: build" cmake --build build-test -j"$jobs"
lowbit_phase "plain: ctest" ctest --test-dir build-test --output-on-failure -j"$jobs" --timeout "$lowbit_test_timeout"

arm_log=build-test/test-arm.log  # not in build-arm/: test-arm.sh may empty that folder
lowbit_bg "$arm_log" bash scripts/test-arm.sh  # AArch64 cross build, kernel tests under qemu (neon, neondot)
arm=$!
lowbit_wait $asan_build "$asan_build_log"
bash scripts/test-sanitize.sh asan-ctest  # ASan+UBSan (docs/reliability.md)
bash scripts/test-sanitize.sh tsan        # TSan on the threaded tests
lowbit_wait $arm "$arm_log"

# Nothing dropped: each test left out of one build ran in the other.
asan_dir=${LOWBIT_ASAN_DIR:-build-asan}
lowbit_ran() {  # lowbit_ran <build dir> <test>: registered there and not disabled
  ctest --test-dir "$1" -N -R "^$2\$" | grep -q '^Total Tests: 1$' &&
    ! grep -qx "$2" <(sed -n 's/^[0-9]*:\(.*\)$/\1/p' "$1/Testing/Temporary/LastTestsDisabled.log" 2>/dev/null)
}
for t in "${sanitized_only[@]}"; do
  if ! lowbit_ran "$asan_dir" "$t"; then
    echo "lowbit: $t is in neither the plain nor the ASan+UBSan run" >&2
    exit 1
  fi
done
for t in "${plain_only[@]}"; do
  if ! lowbit_ran build-test "$t"; then
    echo "lowbit: $t is in neither the ASan+UBSan nor the plain run" >&2
    exit 1
  fi
done
echo "lowbit: all tests passed. Time per phase (wall, and CPU = user+sys of everything it ran):"
cat "$LOWBIT_PHASE_LOG"
# The phases overlap: their wall seconds add up to more than the run's.
t_file=$(mktemp)
times >"$t_file"  # in this shell: in a pipeline, times would see no children
awk -v wall=$((SECONDS - t_start)) '
  function s(t) { split(t, a, "m"); return a[1] * 60 + a[2] }
  NR == 2 { printf "%-44s %6d s wall %7.0f s CPU\n", "whole run (phases overlap)", wall, s($1) + s($2) }' "$t_file"
rm -f "$t_file"

