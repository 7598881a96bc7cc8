#!/bin/sh
# Builds the libFuzzer harnesses with clang++ (ASan + UBSan) and runs each for
# SECONDS (default 60). Build output and the working corpus go to
# $LOWBIT_FUZZ_DIR (default: a fresh temporary directory), never into the repo.
#
#   tests/fuzz/run.sh 60            # both fuzzers, 60 s each
#   CXX=clang++-14 tests/fuzz/run.sh 20
# Exit status: 0 when both fuzzers ran clean, non-zero on a finding (the
# crashing input is left in the work directory and its path printed).
set -eu
seconds=${1:-60}
here=$(cd "$(dirname "$0")" && pwd)
include="$here/../../include"
cxx=${CXX:-clang++}
work=${LOWBIT_FUZZ_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/lowbit-fuzz.XXXXXX")}
mkdir -p "$work/corpus/gguf" "$work/corpus/safetensors" "$work/artifacts"

flags="-std=c++17 -g -O1 -Wall -Wextra -Wpedantic -Werror -fno-exceptions -fno-rtti -I$include"
san="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all"
echo "lowbit fuzz: building with $cxx in $work"
$cxx $flags -o "$work/gen_seeds" "$here/gen_seeds.cpp"
"$work/gen_seeds" "$work/corpus"
for h in gguf safetensors; do
  $cxx $flags $san -o "$work/fuzz_$h" "$here/fuzz_$h.cpp"
done

status=0
for h in gguf safetensors; do
  echo "lowbit fuzz: fuzz_$h for ${seconds}s"
  if ! "$work/fuzz_$h" "$work/corpus/$h" -dict="$here/$h.dict" -max_total_time="$seconds" \
      -max_len=4096 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="$work/artifacts/$h-" >"$work/fuzz_$h.log" 2>&1; then
    status=1
    echo "lowbit fuzz: fuzz_$h FAILED; see $work/fuzz_$h.log and $work/artifacts/"
    tail -n 40 "$work/fuzz_$h.log"
  fi
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*DONE" "$work/fuzz_$h.log" || true
  echo "lowbit fuzz: corpus $h: $(ls "$work/corpus/$h" | wc -l) inputs"
done
exit $status
