#!/bin/sh
# Builds the libFuzzer harnesses with clang++ (ASan + UBSan) and runs each for
# SECONDS (default 60): the library's GGUF, safetensors, .npy (npy) and
# quantized-checkpoint readers (checkpoint: GPTQ / AWQ / compressed-tensors),
# and lowbit-quantize's tokenizer.model, Hugging Face JSON and imatrix readers.
# weights_gguf (lowbit weights in GGUF, run through gemv) runs only when named:
# its kernels take minutes of CPU to build. Build output and the working corpus go to
# $LOWBIT_FUZZ_DIR (default: a fresh temporary directory), never into the repo.
#
#   tests/fuzz/run.sh 60            # every fuzzer, 60 s each
#   tests/fuzz/run.sh 60 hf_json    # one of them
#   tests/fuzz/run.sh 600 weights_gguf
#   CXX=clang++-14 tests/fuzz/run.sh 20
# Exit status: 0 when every fuzzer ran clean, non-zero on a finding (the
# crashing input is left in the work directory and its path printed).
set -eu
seconds=${1:-60}
harnesses=${2:-"gguf safetensors sentencepiece hf_json imatrix checkpoint npy"}
here=$(cd "$(dirname "$0")" && pwd)
include="$here/../../include"
cxx=${CXX:-clang++}
work=${LOWBIT_FUZZ_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/lowbit-fuzz.XXXXXX")}
mkdir -p "$work/artifacts"
for h in gguf safetensors sentencepiece hf_json imatrix checkpoint weights_gguf npy; do mkdir -p "$work/corpus/$h"; done

# -g1 (line tables): a finding's stack trace still names file and line, and the
# harnesses compile in two thirds of -g's CPU time. The seed writer runs in a
# few milliseconds: -O0, no debug information.
warn="-std=c++17 -Wall -Wextra -Wpedantic -Werror -fno-exceptions -fno-rtti -I$include"
flags="$warn -g1 -O1"
san="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all"
echo "lowbit fuzz: building with $cxx in $work"
# The seed writer and the harnesses build side by side (most of this script's
# time before fuzzing).
$cxx $warn -O0 -o "$work/gen_seeds" "$here/gen_seeds.cpp" &
pids=$!
weights=
case " $harnesses " in *" checkpoint "*|*" weights_gguf "*|*" npy "*) weights=1 ;; esac
if [ -n "$weights" ]; then
  $cxx $warn -O0 -o "$work/gen_weight_seeds" "$here/gen_weight_seeds.cpp" &
  pids="$pids $!"
fi
for h in $harnesses; do
  # lowbit-quantize's headers are built as the tool is: with exceptions (std::regex).
  case $h in hf_json|imatrix) ex=-fexceptions ;; *) ex= ;; esac
  # fuzz_weights_gguf runs gemv, whose kernels for all eight code widths take
  # minutes of CPU to compile under ASan: LOWBIT_FUZZ_WIDTHS (a LOWBIT_WIDTHS
  # bit mask, default 0x0A: 2 and 4 bits) picks the widths it runs; the others
  # are still read and checked, and their gemv returns errc::unsupported.
  if [ "$h" = weights_gguf ]; then ex="-DLOWBIT_WIDTHS=${LOWBIT_FUZZ_WIDTHS:-0x0A}"; fi
  $cxx $flags $ex $san -o "$work/fuzz_$h" "$here/fuzz_$h.cpp" &
  pids="$pids $!"
done
for p in $pids; do wait "$p"; done
"$work/gen_seeds" "$work/corpus" "$here/../data/tinyllama-sotu"
if [ -n "$weights" ]; then "$work/gen_weight_seeds" "$work/corpus"; fi

status=0
for h in $harnesses; do
  # Inputs that once failed (tests/fuzz/regress/READER/) are replayed first,
  # every run, whatever the random search finds.
  if [ -d "$here/regress/$h" ]; then
    if ! "$work/fuzz_$h" "$here/regress/$h"/* >"$work/regress_$h.log" 2>&1; then
      status=1
      echo "lowbit fuzz: fuzz_$h FAILED on a saved regression input; see $work/regress_$h.log"
      tail -n 40 "$work/regress_$h.log"
    fi
  fi
  echo "lowbit fuzz: fuzz_$h for ${seconds}s"
  dict=
  if [ -f "$here/$h.dict" ]; then dict="-dict=$here/$h.dict"; fi
  # The weight readers' seeds (a layer's tensors, lowbit's metadata keys)
  # reach 3 KB; they get room to grow.
  case $h in checkpoint|weights_gguf) maxlen=16384 ;; *) maxlen=4096 ;; esac
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
