#!/usr/bin/env bash
# The tools' arguments: numeric options are read strictly
# (examples/common/cli_numbers.hpp): a value that is not wholly a number in the
# option's range is a usage error - exit 2, a line naming the tool, the option
# and the value - never atoi's "abc" -> 0 or "4x" -> 4, and never a silent
# clamp; those checks stop at the argument parser, so no model or data is read.
# Then a model path that is a folder, an empty file or a device: exit 1 and a
# line that says which.
#
#   tests/cli/test_tool_args.sh LOWBIT_LLAMA LOWBIT_LAYER QAT_MNIST QAT_MNIST_EVAL
set -u
. "$(dirname "$0")/checks.sh"  # ok, bad, skip, check, abs, finish
llama=${1:?usage: $0 LOWBIT_LLAMA LOWBIT_LAYER QAT_MNIST QAT_MNIST_EVAL}
layer=${2:?}
qat=${3:?}
qat_eval=${4:?}
work=$(mktemp -d "${TMPDIR:-/tmp}/lowbit-tool-args-XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT

# says WHAT RC TEXT COMMAND...: the command must exit RC with TEXT on stderr.
says() {
    local what=$1 want=$2 text=$3
    shift 3
    timeout 20 "$@" > "$work/out" 2> "$work/err"
    local rc=$?
    if [ "$rc" -eq "$want" ] && grep -qF -- "$text" "$work/err"; then ok "$what"; else bad "$what: exit $rc: $(head -c 300 "$work/err")"; fi
}
# refused NAME TOOL OPTION VALUE ARGS...: exit 2, naming "OPTION 'VALUE'".
refused() {
    local name=$1 tool=$2 opt=$3 value=$4
    shift 4
    says "$name: $opt '$value' refused" 2 "$opt '$value'" "$tool" "$@" "$opt" "$value"
}

m=model.bin  # never opened: the parser refuses first
for v in abc 4x "" 0 -1 1025 99999999999999999999; do refused lowbit-llama "$llama" --threads "$v" "$m"; done
for v in 0 -3 1.5; do refused lowbit-llama "$llama" --steps "$v" "$m"; done
for v in abc -1 18446744073709551616; do refused lowbit-llama "$llama" --seed "$v" "$m"; done
for v in nan inf -0.5 1x; do refused lowbit-llama "$llama" --temperature "$v" "$m"; done
for v in 1.5 -0.1 nan; do refused lowbit-llama "$llama" --top-p "$v" "$m"; done
for v in 2 abc; do refused lowbit-llama "$llama" --ctx "$v" "$m" --perplexity t.txt; done
for v in 0 x; do refused lowbit-llama "$llama" --chunks "$v" "$m" --perplexity t.txt; done
for v in 2x ,; do refused lowbit-llama "$llama" --bench-threads "$v" "$m" --bench tg16; done
# an item of a list: the line names the item
says "lowbit-llama: --bench-threads '1,0' refused" 2 "--bench-threads '0'" "$llama" "$m" --bench tg16 --bench-threads 1,0
refused lowbit-llama "$llama" --path avx "$m"
refused lowbit-llama "$llama" --layout dense "$m"
for v in 0 9 four; do refused lowbit-layer "$layer" --bits "$v" --synthetic 8,8,8; done
for v in -1 2.5; do refused lowbit-layer "$layer" --group "$v" --synthetic 8,8,8; done
refused lowbit-layer "$layer" --alpha 1.5 --synthetic 8,8,8
refused lowbit-layer "$layer" --threads 0 --synthetic 8,8,8
refused lowbit-layer "$layer" --synthetic -1,8,8
refused lowbit-layer "$layer" --synthetic 8,8
for v in 0 x; do refused qat_mnist "$qat" --epochs "$v"; done
refused qat_mnist "$qat" --threads 0
refused qat_mnist "$qat" --save-bits 5
refused qat_mnist "$qat" --seed -4
refused qat_mnist_eval "$qat_eval" --threads 0 model.gguf
refused qat_mnist_eval "$qat_eval" --test x model.gguf

# model paths: exit 1 and the reason
: > "$work/empty.gguf"
mkdir "$work/folder.gguf"
for pair in "$work/folder.gguf|is a directory" "$work/empty.gguf|is empty" "/dev/null|is not a regular file"; do
    path=${pair%%|*} why=${pair#*|}
    says "lowbit-llama $path: $why" 1 "$path: $why" "$llama" "$path" --steps 1
done

finish
