#!/bin/sh
# Builds lowbit-llama's reader fuzzers (fuzz_vocab: GGUF vocabulary ->
# tokenizer -> encode/decode; fuzz_kld_base: llama-perplexity's
# --kl-divergence-base file) with clang++ (ASan + UBSan) and runs each for
# SECONDS (default 60). Same conventions as run.sh: work in $LOWBIT_FUZZ_DIR
# (default: a fresh temporary directory), never in the repo.
#
#   tests/fuzz/run_llama.sh 60
# Exit status: 0 when both ran clean, non-zero on a finding.
set -eu
seconds=${1:-60}
here=$(cd "$(dirname "$0")" && pwd)
root="$here/../.."
cxx=${CXX:-clang++}
work=${LOWBIT_FUZZ_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/lowbit-fuzz-llama.XXXXXX")}
mkdir -p "$work/corpus/vocab" "$work/corpus/kld_base" "$work/artifacts"

# -g1 and an -O0 seed writer: run.sh says why.
# LOWBIT_COMPILED: the llama headers pull in the run-time twins of every scheme
# (kernels/weights_matmul.hpp), 13 of the 15 CPU-s clang spends parsing them
# header-only; these programs call none of them, so declarations suffice and
# they link without lowbit::compiled (the kld_base harness and the seed writer
# compile in ~4 CPU-s each instead of ~17; the seeds are byte-identical).
warn="-std=c++17 -Wall -Wextra -Wpedantic -Werror -fno-exceptions -fno-rtti -DLOWBIT_COMPILED -I$root/include -I$root/examples/llama"
flags="$warn -g1 -O1"
san="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all"
echo "lowbit fuzz: building with $cxx in $work"
$cxx $warn -O0 -o "$work/gen_llama_seeds" "$here/gen_llama_seeds.cpp"
"$work/gen_llama_seeds" "$work/corpus" "$root/tests/data/tinyllama-sotu/converter-f16.json"
for h in vocab kld_base; do
  $cxx $flags $san -o "$work/fuzz_$h" "$here/fuzz_$h.cpp"
done

status=0
for h in vocab kld_base; do
  # A real vocabulary is ~20 KB; base files of a few chunks fit in 4 KB.
  maxlen=4096
  dict=""
  if [ "$h" = vocab ]; then maxlen=32768; dict="-dict=$here/gguf.dict"; fi
  echo "lowbit fuzz: fuzz_$h for ${seconds}s"
  if ! "$work/fuzz_$h" "$work/corpus/$h" $dict -max_total_time="$seconds" \
      -max_len=$maxlen -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="$work/artifacts/$h-" >"$work/fuzz_$h.log" 2>&1; then
    status=1
    echo "lowbit fuzz: fuzz_$h FAILED; see $work/fuzz_$h.log and $work/artifacts/"
    tail -n 40 "$work/fuzz_$h.log"
  fi
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*DONE" "$work/fuzz_$h.log" || true
  echo "lowbit fuzz: corpus $h: $(ls "$work/corpus/$h" | wc -l) inputs"
done
exit $status
