#!/usr/bin/env bash
# The test suite under sanitizers (docs/reliability.md, "Sanitizers"):
#   1. every test binary built with ASan + UBSan (clang++, -O0 -g1; the long-running
#      ones -O1) and run by CTest;
#   2. the threaded tests (thread pool; quantize, kernels, QAT and GGUF matmul
#      across thread counts; GPTQ's threaded parts) built with TSan (-O1 -g1) and run.
# Any finding fails the run (-fno-sanitize-recover=all, halt_on_error).
# -g1: line tables, enough for the sanitizers' stack traces and cheaper to build.
# Examples, benchmarks, consumer builds, the header check and the fuzzers are
# left out: they are not the library under test here (the fuzzers have their
# own ASan build, tests/fuzz/run.sh). LOWBIT_TEST_REDUCED=1 shrinks the largest
# shapes of the tests that read it; every test still runs.
#
#   bash scripts/test-sanitize.sh            # both
#   bash scripts/test-sanitize.sh asan       # or: tsan
#   bash scripts/test-sanitize.sh asan-build # then asan-ctest: the two halves of asan, so that
#                                            # scripts/test.sh can run other phases beside each
# LOWBIT_ASAN_SKIP_TESTS="a b": tests the ASan+UBSan build leaves out (scripts/test.sh: the
# ones whose check is the plain build's or TSan's; docs/testing.md). Default: none.
# Build directories: build-asan/ and build-tsan/ (override with LOWBIT_ASAN_DIR,
# LOWBIT_TSAN_DIR). Compiler: $LOWBIT_SANITIZE_CXX, default clang++ (its UBSan
# also checks float-to-int conversions), else g++.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/phase.sh
what=${1:-all}
jobs=$(nproc)
[ "$jobs" -gt 2 ] && jobs=2  # the template-heavy tests need ~2 GB per compiler under ASan
cxx=${LOWBIT_SANITIZE_CXX:-$(command -v clang++ || command -v g++)}
asan_dir=${LOWBIT_ASAN_DIR:-build-asan}
tsan_dir=${LOWBIT_TSAN_DIR:-build-tsan}
lowbit_linker  # lowbit_link_flags: lld (scripts/phase.sh)
# Ninja: CMake's Makefiles build one target at a time.
common=(-G Ninja -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo
        -DLOWBIT_BUILD_EXAMPLES=OFF -DLOWBIT_BUILD_BENCH=OFF -DLOWBIT_INSTALL=OFF -DLOWBIT_FUZZ_SECONDS=0
        "-DCMAKE_EXE_LINKER_FLAGS=$lowbit_link_flags")  # lld: scripts/phase.sh
# ASan+UBSan at -O0: under ASan a template-heavy test compiles in a quarter of
# -O1's CPU time (test_quant.cpp: 21 s vs 97 s) and ASan misses nothing that -O1
# would catch. The tests that run long (matmuls, GPTQ, the kernels' grids) stay
# at -O1, where the run saves more than the compile costs (docs/testing.md).
# test_algo_gguf: 259 s of CTest wall time at -O0, 47 CPU-s at -O1 (compile 21 CPU-s);
# test_llama_hostile (1 MiB tokenizer runs): 6.3 + 55.0 CPU-s to compile and run at -O0,
# 14.6 + 21.3 at -O1. test_awq_gguf (the AWQ searches' K-quant fits): 4.2 + 21.0 at -O0,
# 12.8 + 2.5 at -O1 (session 14). test_kernels: -O0 since session 21 (its two TUs
# 44 CPU-s to compile instead of 156, the run 22 instead of 13, once its GEMM check
# computed each row's tolerance once instead of once per arch and path);
# test_gguf_matmul too (37 CPU-s to compile instead of 100, the run 38 instead of 8).
# test_llama_attention (session 29: attention over long contexts, a small TU): 2.5 + 15.5
# and 1.8 + 13.0 CPU-s to compile and run at -O0, 7.1 + 2.6 and 5.1 + 2.3 at -O1.
asan_o1=${LOWBIT_ASAN_O1_TESTS:-test_llama test_algo test_determinism test_algo_gguf test_llama_hostile test_awq_gguf test_llama_attention}
asan_opt=$(for t in $asan_o1; do printf '%s=-O1;' "$t"; done)
asan_opt=${asan_opt%;}
# Debug information of the ASan+UBSan build: -g1 (line tables) by default;
# scripts/test.sh passes -g0 (test_qat.cpp: 22.3 CPU-s to compile instead of
# 27.7): reports then name functions and offsets, not lines.
asan_g=${LOWBIT_ASAN_DEBUG_INFO:--g1}
case $asan_g in -g0 | -g1 | -g) ;; *) echo "test-sanitize.sh: LOWBIT_ASAN_DEBUG_INFO must be -g0, -g1 or -g" >&2; exit 2 ;; esac
asan_skip=$(for t in ${LOWBIT_ASAN_SKIP_TESTS:-}; do printf '%s;' "$t"; done)
asan_skip=${asan_skip%;}
# LOWBIT_ASAN_COMPILED_LIB=<liblowbit_compiled.a>: link that library (scripts/test.sh:
# the plain build's, uninstrumented) instead of building lowbit::compiled under
# ASan+UBSan, which costs more than all the tests together (eight width TUs,
# 158-317 s of wall time each at -O0, docs/testing.md). What it holds is
# checked there all the same: the kernel tests build their own instrumented
# copies of the kernels they test, and every test's own code (the typed front
# doors' checks, the validators) is instrumented; the library's run-time twins
# are not, nor the kernels that the other tests' typed calls run (only the
# kernel tests define LOWBIT_INLINE_KERNELS under sanitizers: tests/CMakeLists.txt).
asan_lib=()
[ -n "${LOWBIT_ASAN_COMPILED_LIB:-}" ] && asan_lib=("-DLOWBIT_COMPILED_PREBUILT=$LOWBIT_ASAN_COMPILED_LIB")
export LOWBIT_TEST_REDUCED=1
# Not run under sanitizers: they build other programs (consumers, header check), not test binaries.
exclude='^(headers_standalone.*|consumer_.*|fuzz_.*)$'

case $what in all | asan | asan-build | asan-ctest | tsan) ;; *) echo "test-sanitize.sh: unknown part '$what'" >&2; exit 2 ;; esac
if [ "$what" = all ] || [ "$what" = asan ] || [ "$what" = asan-build ]; then
  echo "lowbit sanitize: ASan+UBSan build in $asan_dir with $cxx"
  lowbit_ninja_dir "$asan_dir"
  lowbit_phase "ASan+UBSan: configure" cmake -S . -B "$asan_dir" "${common[@]}" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O0 $asan_g" \
    "-DLOWBIT_TARGET_OPT=$asan_opt" "-DLOWBIT_SKIP_TESTS=$asan_skip" -DLOWBIT_SANITIZE=address,undefined ${asan_lib[@]+"${asan_lib[@]}"} >/dev/null
  lowbit_phase "ASan+UBSan: build (clang -O0/-O1)" cmake --build "$asan_dir" -j"$jobs"
fi
if [ "$what" = all ] || [ "$what" = asan ] || [ "$what" = asan-ctest ]; then
  ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:abort_on_error=0:halt_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    lowbit_phase "ASan+UBSan: ctest" ctest --test-dir "$asan_dir" --output-on-failure -j"$jobs" --timeout "$lowbit_test_timeout" -E "$exclude"
fi

if [ "$what" = all ] || [ "$what" = tsan ]; then
  # The threaded code: the pool itself (test_reference: every task once, nested use);
  # quantize, both matmul paths, QAT and GGUF matmul on pools of 2, 3 and 7 threads
  # (test_determinism); GPTQ's threaded factorisation and sweep (test_algo's linalg and
  # GPTQ cases, without the 11008 x 4096 layer, which takes minutes under TSan).
  echo "lowbit sanitize: TSan build in $tsan_dir with $cxx"
  lowbit_ninja_dir "$tsan_dir"
  # Header-only (LOWBIT_LINK_COMPILED=OFF): three tests, none calls a run-time
  # twin; lowbit::compiled at -O1 under TSan would cost more than they do.
  lowbit_phase "TSan: configure" cmake -S . -B "$tsan_dir" "${common[@]}" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
    -DLOWBIT_SANITIZE=thread -DLOWBIT_LINK_COMPILED=OFF >/dev/null
  lowbit_phase "TSan: build" cmake --build "$tsan_dir" -j"$jobs" --target test_reference test_determinism test_algo
  export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
  tsan_run() {  # && : set -e does not reach into a function run as a condition
    timeout "$lowbit_test_timeout" "$tsan_dir/tests/test_reference" --no-version &&
    timeout "$lowbit_test_timeout" "$tsan_dir/tests/test_determinism" --no-version &&
    timeout "$lowbit_test_timeout" "$tsan_dir/tests/test_algo" --no-version --test-case='linalg*,gptq: hand-worked*,gptq: equals*,gptq: act-order*'
  }
  lowbit_phase "TSan: run" tsan_run
fi
