#!/usr/bin/env bash
# The tools' arguments: numeric options are read strictly
# (examples/common/cli_numbers.hpp): a value that is not wholly a number in the
# option's range is a usage error - exit 2, a line naming the tool, the option
# and the value - never atoi's "abc" -> 0 or "4x" -> 4, and never a silent
# clamp; those checks stop at the argument parser, so no model or data is read.
# Then the inputs (examples/common/input_file.hpp, docs/tools.md "Inputs of
# every tool"): a model or weights file that is a directory, empty, a
# device, unreadable, a dangling symbolic link or a FIFO, given to
# lowbit-llama, lowbit-layer --weights FILE.gguf and lowbit-quantize: the exit
# status and one line naming the path and saying what is wrong, never a crash
# or a hang; a FIFO is read where the tool accepts one (lowbit-layer,
# lowbit-quantize) and refused without waiting for a writer by lowbit-llama.
#
#   tests/cli/test_tool_args.sh LOWBIT_LLAMA LOWBIT_LAYER QAT_MNIST QAT_MNIST_EVAL LOWBIT_QUANTIZE STORIES260K
set -u
. "$(dirname "$0")/checks.sh"  # ok, bad, skip, check, abs, finish
usage="usage: $0 LOWBIT_LLAMA LOWBIT_LAYER QAT_MNIST QAT_MNIST_EVAL LOWBIT_QUANTIZE STORIES260K"
[ $# -eq 6 ] || { echo "$usage"; exit 1; }
llama=$(abs "$1") layer=$(abs "$2") qat=$(abs "$3") qat_eval=$(abs "$4") quantize=$(abs "$5") stories=$(abs "$6")
work=$(mktemp -d "${TMPDIR:-/tmp}/lowbit-tool-args-XXXXXX") || exit 1
trap 'chmod -R u+rw "$work" 2> /dev/null; rm -rf "$work"' EXIT

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

# ---- inputs ------------------------------------------------------------------------------
# one_line WHAT RC TEXT COMMAND...: says, and stderr is that one line.
one_line() {
    local what=$1
    says "$@"
    if [ "$(wc -l < "$work/err")" -ne 1 ]; then bad "$what: one line, got $(wc -l < "$work/err")"; fi
}
# feed FILE FIFO: writes FILE into FIFO in the background once a reader opens it (20 s at most,
# so that a tool that never opens it leaves no writer behind).
feed() { timeout 20 sh -c 'cat "$1" > "$2"' sh "$1" "$2" 2> /dev/null & }

cd "$work" || exit 1
timeout 60 "$llama" "$stories" --export-gguf w4.gguf --scheme w4g32 > /dev/null 2>&1 || bad "lowbit-llama: cannot export w4.gguf"
timeout 60 "$llama" "$stories" --export-gguf f32.gguf --scheme f32 > /dev/null 2>&1 || bad "lowbit-llama: cannot export f32.gguf"
: > empty.gguf
mkdir folder.gguf
ln -s nowhere.gguf dangling.gguf
cp w4.gguf locked.gguf && chmod 000 locked.gguf
mkfifo fifo.gguf
t=blk.0.attn_q.weight
for pair in "folder.gguf|is a directory" "empty.gguf|is empty" "dangling.gguf|cannot open: No such file or directory" \
            "locked.gguf|cannot open: Permission denied" "/dev/null|is a character device, not a regular file" \
            "fifo.gguf|is a FIFO, not a regular file"; do
    path=${pair%%|*} why=${pair#*|}
    if [ "$path" = locked.gguf ] && [ "$(id -u)" -eq 0 ]; then
        skip "unreadable inputs: running as root, which reads a file whatever its mode"
        continue
    fi
    # lowbit-llama opens the model more than once: a regular file only (a FIFO is refused, not waited on).
    one_line "lowbit-llama $path: $why" 1 "lowbit-llama: $path: $why" "$llama" "$path" --steps 1
    case $path in /dev/null|fifo.gguf) continue ;; esac  # read as streams by the two tools below
    one_line "lowbit-layer --weights $path: $why" 1 "lowbit-layer: $path: $why" "$layer" --weights "$path" --tensor $t
    one_line "qat_mnist_eval $path: $why" 1 "qat_mnist_eval: $path: $why" "$qat_eval" "$path"
    # lowbit-quantize takes a folder for a Hugging Face model (exit 2: not one)
    if [ "$path" = folder.gguf ]; then
        one_line "lowbit-quantize $path: not a model folder" 2 "lowbit-quantize: $path: no config.json" "$quantize" "$path" out.gguf --type Q8_0 --quiet
    else
        one_line "lowbit-quantize $path: $why" 1 "lowbit-quantize: $path: $why" "$quantize" "$path" out.gguf --type Q8_0 --quiet
    fi
done
# Streams: read into memory by the tools that read their input once.
one_line "lowbit-layer --weights /dev/null: is empty" 1 "lowbit-layer: /dev/null: is empty" "$layer" --weights /dev/null --tensor $t
one_line "lowbit-quantize /dev/null: is empty" 1 "lowbit-quantize: /dev/null: is empty" "$quantize" /dev/null out.gguf --type Q8_0 --quiet
feed w4.gguf fifo.gguf
timeout 20 "$layer" --weights fifo.gguf --tensor $t > out 2> err
rc=$?
if [ $rc -eq 0 ] && grep -qF "$t in lowbit weights" out && grep -qF "read into memory" out && grep -qF "kernel " out; then
    ok "lowbit-layer --weights a FIFO: runs the tensor, read into memory, and says so"
else
    bad "lowbit-layer --weights a FIFO: exit $rc: $(head -c 300 out) $(head -c 300 err)"
fi
feed f32.gguf fifo.gguf
says "lowbit-quantize from a FIFO: converts it" 0 "cannot be mmap'd; read it into memory" "$quantize" fifo.gguf q8.gguf --type Q8_0
[ "$(head -c 4 q8.gguf 2> /dev/null)" = GGUF ] && ok "lowbit-quantize from a FIFO: a GGUF written" || bad "lowbit-quantize from a FIFO: no GGUF"
wait
cd - > /dev/null || exit 1

finish
