#!/usr/bin/env bash
# Programs that read lowbit GGUF weights (docs/formats.md, "lowbit weights in GGUF"):
#   qat     qat_mnist --quick --json --save FILE (also the smoke run), then qat_mnist_eval FILE: the model read back
#           prints the accuracy and logits hash of the model in memory at the end
#           of training (exit 77 when Fashion-MNIST is absent); a truncated file
#           is one error line, exit 1.
#   layer   lowbit-quantize --type w4g128 on tests/data/tinyllama-sotu, then
#           lowbit-layer --weights FILE --tensor NAME runs a lowbit tensor and a
#           ggml one from the mapping; an unknown name is one error line; and a
#           tensor of a --type w4g128a --method awq file.
#
#   tests/cli/test_lowbit_weights_programs.sh qat QAT_MNIST QAT_MNIST_EVAL
#   tests/cli/test_lowbit_weights_programs.sh layer LOWBIT_QUANTIZE LOWBIT_LAYER TINYLLAMA_DIR
set -u
work=$(mktemp -d "${TMPDIR:-/tmp}/lowbit-weights-programs-XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL - $*"; exit 1; }

case "${1:-}" in
qat)
    # --json: the smoke run's arguments too (tests/CMakeLists.txt: one training serves both).
    "$2" --quick --json --save "$work/m.gguf" > "$work/train.out" 2> "$work/train.err"
    rc=$?
    [ $rc -eq 77 ] && { echo "SKIP - no Fashion-MNIST"; exit 77; }
    [ $rc -eq 0 ] || { cat "$work/train.err"; fail "qat_mnist --quick --json --save exited $rc"; }
    cat "$work/train.out"
    [ "$(head -c 1 "$work/train.out")" = "[" ] && grep -q '"method": "fp32"' "$work/train.out" || fail "qat_mnist --json printed no results array"
    want=$(grep '^model ' "$work/train.err")
    [ -n "$want" ] || fail "qat_mnist printed no 'model' line"
    "$3" "$work/m.gguf" --test 2000 > "$work/eval.out" 2> "$work/eval.err" || { cat "$work/eval.err"; fail "qat_mnist_eval failed"; }
    got=$(grep '^model ' "$work/eval.err")
    echo "in memory: $want"
    echo "from file: $got"
    [ "$want" = "$got" ] || fail "the loaded model differs from the trained one"
    head -c 1000 "$work/m.gguf" > "$work/cut.gguf"
    "$3" "$work/cut.gguf" --test 10 > /dev/null 2> "$work/cut.err"
    rc=$?
    [ $rc -eq 1 ] && [ "$(wc -l < "$work/cut.err")" -eq 1 ] || fail "a truncated file: exit $rc, $(cat "$work/cut.err")"
    echo "ok - qat_mnist --save / qat_mnist_eval"
    ;;
layer)
    "$2" "$4" "$work/w4.gguf" --type w4g128 --tensor-type ffn_down=w8pc --quiet || fail "lowbit-quantize --type w4g128 failed"
    "$3" --weights "$work/w4.gguf" --tensor blk.2.ffn_up.weight --json > "$work/up.json" || fail "lowbit-layer on a lowbit tensor failed"
    cat "$work/up.json"
    grep -q '"scheme": "w4g128", "layout": "tiled", "rows": 768, "cols": 256' "$work/up.json" || fail "blk.2.ffn_up.weight is not w4g128 768 x 256"
    "$3" --weights "$work/w4.gguf" --tensor blk.2.ffn_down.weight > "$work/down.txt" || fail "lowbit-layer on w8pc failed"
    cat "$work/down.txt"
    grep -q 'lowbit weights: w8pc, tiled layout, 256 x 768' "$work/down.txt" || fail "blk.2.ffn_down.weight is not w8pc"
    "$3" --weights "$work/w4.gguf" --tensor output.weight --json > "$work/out.json" || fail "lowbit-layer on a ggml tensor failed"
    grep -q '"scheme": "Q6_K", "layout": "ggml"' "$work/out.json" || fail "output.weight is not Q6_K"
    "$3" --weights "$work/w4.gguf" --tensor blk.2.nothing.weight > /dev/null 2> "$work/bad.err"
    rc=$?
    [ $rc -eq 1 ] && [ "$(wc -l < "$work/bad.err")" -eq 1 ] && grep -q "no weights named 'blk.2.nothing.weight'" "$work/bad.err" ||
        fail "an unknown tensor: exit $rc, $(cat "$work/bad.err")"
    # AWQ's scales folded, then rtn on an asymmetric lowbit grid: lowbit-layer runs its tensors too
    "$2" "$4" "$work/awq.gguf" --type w4g128a --method awq --calib "$4/calib.txt" --calib-tokens 512 --quiet ||
        fail "lowbit-quantize --type w4g128a --method awq failed"
    "$3" --weights "$work/awq.gguf" --tensor blk.1.attn_v.weight --json > "$work/awq.json" || fail "lowbit-layer on an awq tensor failed"
    cat "$work/awq.json"
    grep -q '"scheme": "w4g128a", "layout": "tiled", "rows": 128, "cols": 256' "$work/awq.json" || fail "blk.1.attn_v.weight is not w4g128a 128 x 256"
    echo "ok - lowbit-layer --weights FILE.gguf --tensor NAME"
    ;;
*) fail "usage: $0 qat QAT_MNIST QAT_MNIST_EVAL | layer LOWBIT_QUANTIZE LOWBIT_LAYER TINYLLAMA_DIR" ;;
esac
