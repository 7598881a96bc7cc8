#!/usr/bin/env bash
# Every example tool's outputs end to end (docs/tools.md, "Outputs of every
# tool"; examples/common/output_file.hpp): an output is never one of the run's
# inputs (by name, hard link or symbolic link) and never anything but a
# regular file (exit 2, one line naming OUT and the input, the input
# byte-identical); a write error is exit 1 naming OUT, with the old OUT intact
# and no temporary file left; a signal removes the temporary file; a
# successful run replaces an existing OUT. lowbit-quantize's own rules are
# tests/cli/test_quantize_files.sh.
#
#   tests/cli/test_tool_outputs.sh LOWBIT_LLAMA LOWBIT_LAYER LOWBIT_PLAN_PLOT QAT_MNIST LOWBIT_QUANTIZE STORIES260K TINYLLAMA_DIR
#
# Prints one line per check ("ok", "FAIL" or "SKIP" with the reason) and exits
# non-zero if any check failed.
set -u
. "$(dirname "$0")/checks.sh"  # ok, bad, skip, check, abs, finish
usage="usage: $0 LOWBIT_LLAMA LOWBIT_LAYER LOWBIT_PLAN_PLOT QAT_MNIST LOWBIT_QUANTIZE STORIES260K TINYLLAMA_DIR"
[ $# -eq 7 ] || { echo "$usage"; exit 1; }
llama=$(abs "$1") layer=$(abs "$2") plot=$(abs "$3") qat=$(abs "$4") quantize=$(abs "$5") stories=$(abs "$6") tinyllama=$(abs "$7")
for x in "$llama" "$layer" "$plot" "$qat" "$quantize"; do [ -x "$x" ] || { echo "FAIL - $x is not an executable"; exit 1; }; done
work=$(mktemp -d "${TMPDIR:-/tmp}/lowbit-tool-outputs-XXXXXX") || exit 1
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work" || exit 1

# t TOOL ARGS...: runs a tool; exit status in $rc, stderr in stderr.txt.
t() {
    timeout 120 "$@" > stdout.txt 2> stderr.txt
    rc=$?
}
has() { grep -qF -- "$1" stderr.txt; }
rc_is() { [ "$rc" -eq "$1" ]; }
one_line() { [ "$(wc -l < stderr.txt)" -eq 1 ]; }
no_temps() { ! compgen -G "${1:-.}/*tmp-*" > /dev/null; }
is_gguf() { [ -f "$1" ] && [ ! -L "$1" ] && [ "$(head -c 4 "$1")" = GGUF ]; }
show() { [ "$rc" -ne 0 ] && echo "     (exit $rc) $(head -3 stderr.txt)"; return 0; }
# refused WHAT OUT INPUT_NAME: exit 2, one line naming OUT and saying "same file as the input INPUT_NAME".
refused_same() { rc_is 2 && one_line && has "$1: is the same file as the input $2"; }

# ---- lowbit-llama --export-gguf ----------------------------------------------------------
t "$llama" "$stories" --export-gguf m.gguf --scheme f32
check "export f32 from stories260K.bin: exit 0, a GGUF" eval 'rc_is 0 && is_gguf m.gguf'
cp m.gguf m.orig
t "$llama" m.gguf --export-gguf m.gguf --scheme w4g32
check "--export-gguf onto its model by name: exit 2, one line naming OUT and the input" eval 'refused_same m.gguf m.gguf'
check "--export-gguf onto its model by name: model byte-identical" cmp -s m.gguf m.orig
t "$llama" m.gguf --export-gguf "$work/./m.gguf" --scheme w4g32
check "--export-gguf onto its model by another spelling: exit 2" eval 'rc_is 2 && has "same file" && cmp -s m.gguf m.orig'
ln m.gguf hard.gguf
t "$llama" m.gguf --export-gguf hard.gguf --scheme w4g32
check "--export-gguf onto a hard link to its model: exit 2, model and link unchanged" \
    eval 'refused_same hard.gguf m.gguf && cmp -s m.gguf m.orig && cmp -s hard.gguf m.orig'
ln -s m.gguf soft.gguf
t "$llama" m.gguf --export-gguf soft.gguf --scheme w4g32
check "--export-gguf onto a symlink to its model: exit 2, model unchanged, link still a link" \
    eval 'refused_same soft.gguf m.gguf && cmp -s m.gguf m.orig && [ -L soft.gguf ]'
t "$llama" soft.gguf --export-gguf m.gguf --scheme w4g32
check "model through a symlink, OUT the real file: exit 2, model unchanged" eval 'rc_is 2 && cmp -s m.gguf m.orig'

# OUT is not a regular file
cp m.orig other.gguf
ln -s other.gguf link.gguf
t "$llama" m.gguf --export-gguf link.gguf --scheme w4g32
check "--export-gguf onto a symlink to another file: exit 2, 'symbolic link', link and target unchanged" \
    eval 'rc_is 2 && one_line && has "link.gguf: exists and is a symbolic link" && [ -L link.gguf ] && cmp -s other.gguf m.orig'
ln -s nowhere.gguf dangling.gguf
t "$llama" m.gguf --export-gguf dangling.gguf --scheme w4g32
check "--export-gguf onto a dangling symlink: exit 2, nothing created" eval 'rc_is 2 && [ -L dangling.gguf ] && [ ! -e nowhere.gguf ]'
mkfifo fifo.gguf
t "$llama" m.gguf --export-gguf fifo.gguf --scheme w4g32
check "--export-gguf onto a FIFO: exit 2 (without blocking), 'a FIFO', still a FIFO" eval 'rc_is 2 && has "a FIFO" && [ -p fifo.gguf ]'
mkdir dir.gguf
t "$llama" m.gguf --export-gguf dir.gguf --scheme w4g32
check "--export-gguf onto a directory: exit 2, 'a directory'" eval 'rc_is 2 && has "a directory" && [ -d dir.gguf ]'
check "no temporary file left" no_temps

# write errors: a missing folder, a file size limit, a read-only folder
t "$llama" m.gguf --export-gguf nodir/q.gguf --scheme w4g32
check "--export-gguf into a missing folder: exit 1, one line naming OUT and ENOENT" \
    eval 'rc_is 1 && one_line && has "nodir/q.gguf: cannot create a file next to it: No such file or directory"'
echo "old contents" > limited.gguf
(ulimit -f 64 && exec timeout 120 "$llama" m.gguf --export-gguf limited.gguf --scheme f32 > /dev/null 2> stderr.txt)
rc=$?
check "--export-gguf under ulimit -f 64 (1 MB model): exit 1 (not killed by SIGXFSZ), names OUT and EFBIG" \
    eval 'rc_is 1 && has "limited.gguf: write failed: File too large"'
check "ulimit -f: old OUT intact, no temporary file" eval '[ "$(cat limited.gguf)" = "old contents" ] && no_temps'
if unshare -rm true 2> /dev/null; then  # root ignores permission bits: a read-only tmpfs in a user + mount namespace
    mkdir -p ro
    unshare -rm bash -c "mount -t tmpfs -o size=1m tmpfs ro && echo 'old contents' > ro/q.gguf && mount -o remount,ro ro &&
        '$llama' m.gguf --export-gguf ro/q.gguf --scheme w4g32 > /dev/null 2> stderr.txt; echo \$? > rc.txt; cat ro/q.gguf > ro-after.txt"
    rc=$(cat rc.txt 2> /dev/null || echo 99)
    check "--export-gguf into a read-only folder (ro tmpfs): exit 1, names OUT and EROFS, old OUT intact" \
        eval 'rc_is 1 && one_line && has "ro/q.gguf: cannot create a file next to it: Read-only file system" && [ "$(cat ro-after.txt)" = "old contents" ]'
else
    skip "read-only folder: 'unshare -rm' (user + mount namespace for a read-only tmpfs) is not allowed here"
fi

# success replaces an existing OUT; a dead run's temporary file is removed
echo "old contents" > q.gguf
sh -c 'exit 0' &
dead=$!
wait "$dead"
touch "q.gguf.lowbit-tmp-$dead-abcdef"
t "$llama" m.gguf --export-gguf q.gguf --scheme w4g32; show
check "--export-gguf onto an existing regular file: exit 0, replaced by a GGUF" eval 'rc_is 0 && is_gguf q.gguf'
check "--export-gguf: a dead run's temporary file removed" eval '[ ! -e "q.gguf.lowbit-tmp-$dead-abcdef" ] && no_temps'

# ---- lowbit-llama --plan-out, and two outputs of one run -----------------------------------
t "$llama" m.gguf --bpw 4.5 --plan-out m.gguf
check "--plan-out onto the model: exit 2 before any work, model unchanged" eval 'refused_same m.gguf m.gguf && cmp -s m.gguf m.orig'
ln m.gguf p.pass1
t "$llama" m.gguf --bpw 4.5 --plan-passes 2 --plan-out p
check "--plan-out FILE whose FILE.pass1 is the model (hard link): exit 2 naming FILE.pass1" \
    eval 'refused_same p.pass1 m.gguf && cmp -s m.gguf m.orig'
t "$llama" m.gguf --bpw 4.5 --plan-out same.out --export-gguf same.out
check "--plan-out and --export-gguf the same file: exit 2, 'another output'" eval 'rc_is 2 && one_line && has "same.out: is another output of this run"'

# ---- lowbit-llama --kl-divergence-base (writing mode) -------------------------------------------
# A GGUF with a vocabulary (text needs one): tinyllama-sotu as F16.
cp "$tinyllama/dev.txt" text.txt
cp text.txt text.orig
if timeout 120 "$quantize" "$tinyllama" tl.gguf --type F16 --quiet > /dev/null 2> q.err; then
    cp tl.gguf tl.orig
    t "$llama" tl.gguf --perplexity text.txt --ctx 64 --chunks 2 --kl-divergence-base tl.gguf
    check "--kl-divergence-base onto the model: exit 2, model unchanged" eval 'refused_same tl.gguf tl.gguf && cmp -s tl.gguf tl.orig'
    t "$llama" tl.gguf --perplexity text.txt --ctx 64 --chunks 2 --kl-divergence-base text.txt
    check "--kl-divergence-base onto the text: exit 2, text unchanged" eval 'refused_same text.txt text.txt && cmp -s text.txt text.orig'
    ln -s text.txt text-link.txt
    t "$llama" tl.gguf --perplexity text.txt --ctx 64 --chunks 2 --kl-divergence-base text-link.txt
    check "--kl-divergence-base onto a symlink to the text: exit 2" eval 'refused_same text-link.txt text.txt && cmp -s text.txt text.orig'
    echo "old contents" > base.bin
    t "$llama" tl.gguf --perplexity text.txt --ctx 64 --chunks 2 --kl-divergence-base base.bin; show
    check "--kl-divergence-base onto an existing file: exit 0, replaced by a base file" eval 'rc_is 0 && [ "$(head -c 8 base.bin)" = _logits_ ]'
    cp base.bin base.good
    t "$llama" tl.gguf --kl-divergence --kl-divergence-base base.bin --ctx 64
    check "the base file reads back (--kl-divergence): exit 0" rc_is 0
    (ulimit -f 64 && exec timeout 120 "$llama" tl.gguf --perplexity text.txt --ctx 64 --chunks 2 --kl-divergence-base base.bin > /dev/null 2> stderr.txt)
    rc=$?
    check "--kl-divergence-base under ulimit -f 64: exit 1, names the file and EFBIG" eval 'rc_is 1 && has "base.bin: write failed: File too large"'
    check "ulimit -f: old base file intact, no temporary file" eval 'cmp -s base.bin base.good && no_temps'
    # SIGTERM while the base file is being written: the handler removes it and names the program.
    timeout 120 "$llama" tl.gguf --perplexity text.txt --ctx 512 --kl-divergence-base base.bin > /dev/null 2> bg.err &
    pid=$!
    for _ in $(seq 1 1000); do
        compgen -G "base.bin.lowbit-tmp-*" > /dev/null && break
        sleep 0.01
    done
    if compgen -G "base.bin.lowbit-tmp-*" > /dev/null; then
        kill -TERM "$pid"
        wait "$pid"
        rc=$?
        check "SIGTERM mid-write: exit 143 (timeout passes it on), 'lowbit-llama: interrupted'" eval 'rc_is 143 && grep -q "^lowbit-llama: interrupted" bg.err'
        check "SIGTERM mid-write: old base file intact, no temporary file" eval 'cmp -s base.bin base.good && no_temps'
    else
        wait "$pid"
        bad "SIGTERM mid-write: the temporary file never appeared (exit $?)"
    fi
else
    bad "cannot make the tinyllama-sotu GGUF: $(head -1 q.err)"
fi

# ---- lowbit-layer --save-weights / --save-calib / --save-dequant ------------------------------------
t "$layer" --synthetic 32,64,32 --method rtn --group 32 --save-weights w.npy --save-calib x.npy
check "lowbit-layer --synthetic --save-weights/--save-calib: exit 0, two .npy files" \
    eval 'rc_is 0 && [ "$(head -c 6 w.npy | tail -c 5)" = NUMPY ] && [ "$(head -c 6 x.npy | tail -c 5)" = NUMPY ]'
cp w.npy w.orig
cp x.npy x.orig
t "$layer" --weights w.npy --calib x.npy --method rtn --group 32 --save-weights w.npy
check "--save-weights onto --weights: exit 2, one line, weights unchanged" eval 'refused_same w.npy w.npy && cmp -s w.npy w.orig'
ln x.npy x-hard.npy
t "$layer" --weights w.npy --calib x.npy --method rtn --group 32 --save-calib x-hard.npy
check "--save-calib onto a hard link to --calib: exit 2, calib unchanged" eval 'refused_same x-hard.npy x.npy && cmp -s x.npy x.orig'
ln -s w.npy deq.rtn.npy
t "$layer" --weights w.npy --calib x.npy --method rtn --group 32 --save-dequant deq
check "--save-dequant PREFIX whose PREFIX.rtn.npy links to --weights: exit 2" eval 'refused_same deq.rtn.npy w.npy && cmp -s w.npy w.orig'
t "$layer" --weights w.npy --calib x.npy --method rtn --group 32 --save-weights nodir/w.npy
check "--save-weights into a missing folder: exit 1, one line naming OUT" \
    eval 'rc_is 1 && one_line && has "nodir/w.npy: cannot create a file next to it: No such file or directory"'
echo "old contents" > big.npy
(ulimit -f 8 && exec timeout 120 "$layer" --synthetic 256,256,32 --method rtn --group 32 --save-weights big.npy > /dev/null 2> stderr.txt)
rc=$?
check "--save-weights under ulimit -f 8: exit 1, names OUT and EFBIG, old OUT intact" \
    eval 'rc_is 1 && has "big.npy: write failed: File too large" && [ "$(cat big.npy)" = "old contents" ]'
echo "old contents" > deq2.rtn.npy
t "$layer" --weights w.npy --calib x.npy --method rtn --group 32 --save-dequant deq2; show
check "--save-dequant onto an existing file: exit 0, replaced" eval 'rc_is 0 && [ "$(head -c 6 deq2.rtn.npy | tail -c 5)" = NUMPY ]'
check "lowbit-layer: no temporary file left" no_temps

# ---- lowbit-plan-plot POINTS OUT.svg ----------------------------------------------------------------
printf 'plan p4.5 4.5 0.010 0.012\nuniform q4 4.5 - 0.020\n' > points.txt
cp points.txt points.orig
t "$plot" points.txt points.txt
check "lowbit-plan-plot with OUT = POINTS: exit 2, points unchanged" eval 'refused_same points.txt points.txt && cmp -s points.txt points.orig'
ln points.txt points-hard.svg
t "$plot" points.txt points-hard.svg
check "lowbit-plan-plot onto a hard link to POINTS: exit 2" eval 'refused_same points-hard.svg points.txt && cmp -s points.txt points.orig'
mkdir plot-dir.svg
t "$plot" points.txt plot-dir.svg
check "lowbit-plan-plot onto a directory: exit 2" eval 'rc_is 2 && has "a directory"'
echo "old contents" > plot.svg
t "$plot" points.txt plot.svg; show
check "lowbit-plan-plot onto an existing file: exit 0, an SVG" eval 'rc_is 0 && grep -q "<svg" plot.svg'
check "lowbit-plan-plot: no temporary file left" no_temps

# ---- qat_mnist --save, on a small generated Fashion-MNIST-shaped data set --------------------------
# IDX files: images (magic 0x803, n, 28, 28, pixels), labels (magic 0x801, n, labels 0..9).
byte() { printf "\\x$(printf %02x "$1")"; }
be32() { byte $(($1 >> 24 & 255)); byte $(($1 >> 16 & 255)); byte $(($1 >> 8 & 255)); byte $(($1 & 255)); }
images() { { be32 2051; be32 "$2"; be32 28; be32 28; head -c $(($2 * 784)) /dev/urandom; } > "$1"; }
labels() { { be32 2049; be32 "$2"; for _ in $(seq 1 "$2"); do byte $((RANDOM % 10)); done; } > "$1"; }
mkdir data
images data/train-images-idx3-ubyte 64
labels data/train-labels-idx1-ubyte 64
images data/t10k-images-idx3-ubyte 32
labels data/t10k-labels-idx1-ubyte 32
cp data/train-images-idx3-ubyte train.orig
qat_run() { t "$qat" --data data --epochs 1 --qat-epochs 1 --threads 1 --json --save "$@"; }
qat_run data/train-images-idx3-ubyte
check "qat_mnist --save onto its training images: exit 2 before training, images unchanged" \
    eval 'refused_same data/train-images-idx3-ubyte data/train-images-idx3-ubyte && cmp -s data/train-images-idx3-ubyte train.orig'
ln -s data/t10k-labels-idx1-ubyte labels-link
qat_run labels-link
check "qat_mnist --save onto a symlink to its test labels: exit 2" eval 'refused_same labels-link data/t10k-labels-idx1-ubyte'
echo "old contents" > mlp.gguf
(ulimit -f 16 && exec timeout 120 "$qat" --data data --epochs 1 --qat-epochs 1 --threads 1 --json --save mlp.gguf > /dev/null 2> stderr.txt)
rc=$?
check "qat_mnist --save under ulimit -f 16: exit 1, names OUT and EFBIG, old OUT intact" \
    eval 'rc_is 1 && has "mlp.gguf: write failed: File too large" && [ "$(cat mlp.gguf)" = "old contents" ]'
qat_run mlp.gguf; show
check "qat_mnist --save onto an existing file: exit 0, a GGUF" eval 'rc_is 0 && is_gguf mlp.gguf'
check "qat_mnist: no temporary file left" no_temps

finish
