#!/usr/bin/env bash
# Compares lowbit-quantize with llama.cpp's llama-quantize, recipe by recipe, on
# one input GGUF: the type of every tensor (scripts/gguf_types.py) and the whole
# files (cmp). Outside CI: it needs a llama-quantize binary. docs/tools.md has
# the commands and the results.
#
#   scripts/compare_llama_quantize.sh IN.gguf LOWBIT_QUANTIZE LLAMA_QUANTIZE WORKDIR [RECIPE...] [-- EXTRA_ARGS]
#
# EXTRA_ARGS (e.g. --pure) go to both tools. Prints one line per recipe:
#   RECIPE types=same|DIFF bytes=identical|DIFF
# and exits 1 if any recipe differs.
set -u
in=$1 lq=$2 llq=$3 dir=$4
shift 4
recipes=() extra=()
while [ $# -gt 0 ]; do
    if [ "$1" = "--" ]; then shift; extra=("$@"); break; fi
    recipes+=("$1"); shift
done
[ ${#recipes[@]} -gt 0 ] || recipes=(Q2_K Q2_K_S Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K Q4_0 Q4_1 Q5_0 Q5_1 Q8_0
                                     IQ4_NL IQ4_XS TQ1_0 TQ2_0 MXFP4_MOE IQ3_S IQ3_M)
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir"
bad=0
for r in "${recipes[@]}"; do
    a="$dir/lowbit-$r.gguf" b="$dir/llama-$r.gguf"
    rm -f "$a" "$b"
    "$lq" "$in" "$a" --type "$r" --quiet "${extra[@]}" > "$dir/lowbit-$r.log" 2>&1
    rca=$?
    # llama-quantize's ftype names are the same; it takes them after IN OUT, options before.
    "$llq" "${extra[@]}" "$in" "$b" "$r" > "$dir/llama-$r.log" 2>&1
    rcb=$?
    if [ $rca -ne 0 ] || [ $rcb -ne 0 ]; then
        echo "$r lowbit-rc=$rca llama-rc=$rcb"
        bad=1
        continue
    fi
    python3 "$here/gguf_types.py" "$a" --kv > "$dir/lowbit-$r.types"
    python3 "$here/gguf_types.py" "$b" --kv > "$dir/llama-$r.types"
    t=same; cmp -s "$dir/lowbit-$r.types" "$dir/llama-$r.types" || { t=DIFF; bad=1; }
    c=identical; cmp -s "$a" "$b" || { c=DIFF; bad=1; }
    echo "$r types=$t bytes=$c"
    [ "$c" = identical ] && rm -f "$a" "$b"  # keep only what differs
done
exit $bad
