#!/usr/bin/env bash
# lowbit-quantize's file rules end to end (docs/tools.md, "Input and output"):
# OUT is never the input, never anything but a regular file; write errors name
# OUT and leave no temporary file; a killed run's temporary file is removed by
# the next run; a NaN is refused wherever it sits.
#
#   tests/cli/test_quantize_files.sh LOWBIT_QUANTIZE TEST_QUANTIZE_TOOL_MKMODEL
#
# Runs that fail after the conversion started use --quiet, so that stderr is
# exactly the one error line. Prints one line per check ("ok", "FAIL" or "SKIP" with the reason) and exits
# non-zero if any check failed.
set -u
. "$(dirname "$0")/checks.sh"  # ok, bad, skip, check, abs, finish
tool=$(abs "${1:?usage: $0 LOWBIT_QUANTIZE MKMODEL}")
mkmodel=$(abs "${2:?usage: $0 LOWBIT_QUANTIZE MKMODEL}")
[ -x "$tool" ] && [ -x "$mkmodel" ] || { echo "FAIL - $1 or $2 is not an executable"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/lowbit-quantize-files-XXXXXX") || exit 1
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work" || exit 1

# q ARGS...: runs the tool; exit status in $rc, stderr in $err.
q() {
    timeout 60 "$tool" "$@" --threads 1 > stdout.txt 2> stderr.txt
    rc=$?
    err=$(tr -d "\\0" < stderr.txt)
}
has() { grep -qF -- "$1" stderr.txt; }
rc_is() { [ "$rc" -eq "$1" ]; }
one_line() { [ "$(wc -l < stderr.txt)" -eq 1 ]; }
no_temps() { ! compgen -G "$1/*tmp-*" > /dev/null; }  # also the old OUT.tmp-XXXXXX names
is_gguf() { [ -f "$1" ] && [ ! -L "$1" ] && [ "$(head -c 4 "$1")" = GGUF ]; }
show() { [ "$rc" -ne 0 ] && echo "     (exit $rc) $err"; return 0; }

"$mkmodel" model.gguf 1 256 512 512 > /dev/null || { echo "FAIL - cannot make the test model"; exit 1; }
cp model.gguf in.gguf

# ---- 1. OUT is the input: by name, through a hard link, through a symlink ----------
q in.gguf in.gguf --type Q8_0
check "same path: exit 2" rc_is 2
check "same path: one line naming OUT and the input" eval 'one_line && has "in.gguf: is the same file as the input in.gguf"'
check "same path: input unchanged" cmp -s in.gguf model.gguf
q in.gguf "$work/./in.gguf" --type Q8_0
check "same file by another spelling: exit 2" rc_is 2
ln in.gguf hard.gguf
q in.gguf hard.gguf --type Q8_0
check "hard link to the input: exit 2, 'same file'" eval 'rc_is 2 && has "same file"'
check "hard link to the input: input and link unchanged" eval 'cmp -s in.gguf model.gguf && cmp -s hard.gguf model.gguf'
ln -s in.gguf soft.gguf
q in.gguf soft.gguf --type Q8_0
check "symlink to the input: exit 2, 'same file'" eval 'rc_is 2 && has "same file"'
check "symlink to the input: input unchanged, link still a link" eval 'cmp -s in.gguf model.gguf && [ -L soft.gguf ]'
q soft.gguf in.gguf --type Q8_0
check "input through a symlink, OUT the real file: exit 2" eval 'rc_is 2 && cmp -s in.gguf model.gguf'
check "no temporary file left" no_temps .

# ---- 2. OUT exists and is not a regular file -----------------------------------------
cp model.gguf other.gguf
ln -s other.gguf link.gguf
q in.gguf link.gguf --type Q8_0
check "symlink to another file: exit 2, says 'symbolic link'" eval 'rc_is 2 && one_line && has "link.gguf: exists and is a symbolic link"'
check "symlink to another file: link and its target unchanged" eval '[ -L link.gguf ] && cmp -s other.gguf model.gguf'
ln -s nowhere.gguf dangling.gguf
q in.gguf dangling.gguf --type Q8_0
check "dangling symlink: exit 2, nothing created" eval 'rc_is 2 && [ -L dangling.gguf ] && [ ! -e nowhere.gguf ]'
mkfifo fifo.gguf
q in.gguf fifo.gguf --type Q8_0
check "FIFO: exit 2 (without blocking), says 'FIFO', still a FIFO" eval 'rc_is 2 && has "a FIFO" && [ -p fifo.gguf ]'
mkdir dir.gguf
q in.gguf dir.gguf --type Q8_0
check "directory: exit 2, says 'directory'" eval 'rc_is 2 && has "a directory" && [ -d dir.gguf ]'
if [ "$(id -u)" -eq 0 ] && mknod null.gguf c 1 3 2> /dev/null; then
    q in.gguf null.gguf --type Q8_0
    check "device node (mknod c 1 3 in the test folder): exit 2, still a device" eval 'rc_is 2 && has "a character device" && [ -c null.gguf ]'
else
    skip "device node made with mknod: needs root (uid $(id -u)) and a file system that allows device nodes"
fi
# Never a system device (/dev/null, /dev/full) as OUT: a tool that regressed
# would replace the machine's device node with a regular file.
check "no temporary file left" no_temps .

# An existing regular OUT is replaced (as llama-quantize does), through a temp file.
echo "old contents" > existing.gguf
q in.gguf existing.gguf --type Q8_0; show
check "existing regular OUT: exit 0, replaced by a GGUF" eval 'rc_is 0 && is_gguf existing.gguf'

# ---- 3. write errors: read-only folder, full file system, file size limit ------------
# In a user and mount namespace a tmpfs can be mounted without privileges; root
# ignores permission bits, so a read-only mount is the one test that binds it.
in_ns() { rm -f rc.txt; unshare -rm bash -c "$1" 2> ns.err; }
if unshare -rm true 2> /dev/null; then
    mkdir -p ro full
    in_ns "mount -t tmpfs -o size=1m tmpfs ro && mount -o remount,ro ro &&
           '$tool' in.gguf ro/out.gguf --type Q8_0 --threads 1 --quiet > /dev/null 2> stderr.txt; echo \$? > rc.txt"
    rc=$(cat rc.txt 2> /dev/null || echo none)
    check "read-only folder (ro tmpfs): exit 1" rc_is 1
    check "read-only folder: names OUT and the reason" eval 'one_line && has "ro/out.gguf: cannot create a file next to it: Read-only file system"'
    # 64 KiB tmpfs; the Q8_0 output is ~0.6 MB. ls runs inside: the tmpfs goes with the namespace.
    in_ns "mount -t tmpfs -o size=64k tmpfs full &&
           '$tool' in.gguf full/out.gguf --type Q8_0 --threads 1 --quiet > /dev/null 2> stderr.txt; echo \$? > rc.txt; ls -A full > ls.txt"
    rc=$(cat rc.txt 2> /dev/null || echo none)
    check "full file system (64 KiB tmpfs): exit 1" rc_is 1
    check "full file system: names OUT and ENOSPC" eval 'one_line && has "full/out.gguf: write failed: No space left on device"'
    check "full file system: nothing left in the folder" eval '[ ! -s ls.txt ]'
else
    why=$(unshare -rm true 2>&1 | head -1)
    if [ "$(id -u)" -ne 0 ]; then  # not root: permission bits hold
        mkdir -p ro && chmod 555 ro
        q in.gguf ro/out.gguf --type Q8_0 --quiet
        check "read-only folder (chmod 555): exit 1, names OUT and EACCES" \
            eval 'rc_is 1 && one_line && has "ro/out.gguf: cannot create a file next to it: Permission denied"'
    else
        skip "read-only folder: root ignores permission bits and 'unshare -rm' (for a read-only tmpfs) is not allowed here: $why"
    fi
    skip "full file system: 'unshare -rm' (user + mount namespace for a small tmpfs) is not allowed here: $why"
fi
(ulimit -f 64 && exec timeout 60 "$tool" in.gguf limited.gguf --type Q8_0 --threads 1 --quiet > /dev/null 2> stderr.txt)
rc=$?
check "ulimit -f 64 (SIGXFSZ ignored, EFBIG): exit 1, not killed by the signal (153)" rc_is 1
check "ulimit -f: names OUT and EFBIG" eval 'one_line && has "limited.gguf: write failed: File too large"'
check "ulimit -f: no OUT, no temporary file" eval '[ ! -e limited.gguf ] && no_temps .'

# ---- 4. signals mid-write, and the next run cleans up after SIGKILL -------------------
# A model that takes a moment to convert (~50 MB of F32 to Q6_K on one thread).
"$mkmodel" big.gguf 1 1024 2048 4096 > /dev/null || { echo "FAIL - cannot make the big model"; exit 1; }
# start_and_wait_temp OUT: starts the tool in the background ($pid) and waits
# until its temporary file exists.
start_and_wait_temp() {
    "$tool" big.gguf "$1" --type Q6_K --threads 1 > /dev/null 2> bg.err &
    pid=$!
    for _ in $(seq 1 500); do
        compgen -G "$1.lowbit-tmp-$pid-*" > /dev/null && return 0
        sleep 0.01
    done
    return 1
}
if start_and_wait_temp term.gguf; then
    kill -TERM "$pid"
    wait "$pid"
    rc=$?
    check "SIGTERM mid-write: exit 143, says interrupted" eval 'rc_is 143 && grep -q interrupted bg.err'
    check "SIGTERM mid-write: no OUT, no temporary file" eval '[ ! -e term.gguf ] && no_temps .'
else
    bad "SIGTERM mid-write: the temporary file never appeared"
    wait "$pid"
fi
if start_and_wait_temp killed.gguf; then
    kill -KILL "$pid"
    wait "$pid" 2> /dev/null
    stale=$(compgen -G "killed.gguf.lowbit-tmp-$pid-*")
    check "SIGKILL mid-write: the temporary file is left (nothing can catch SIGKILL)" test -n "$stale"
    # Decoys the next run must keep: a live pid (this shell's) and a name not of the pattern.
    touch "killed.gguf.lowbit-tmp-$$-abcdef" killed.gguf.lowbit-tmp-junk
    q in.gguf killed.gguf --type Q8_0; show
    check "next run: exit 0, OUT written" eval 'rc_is 0 && is_gguf killed.gguf'
    check "next run: says it removed the stale file, by name" eval 'has "removed 1 temporary file" && has "$stale"'
    check "next run: stale file gone; live pid's and non-matching files kept" \
        eval '[ ! -e "$stale" ] && [ -e "killed.gguf.lowbit-tmp-$$-abcdef" ] && [ -e killed.gguf.lowbit-tmp-junk ]'
    rm -f "killed.gguf.lowbit-tmp-$$-abcdef" killed.gguf.lowbit-tmp-junk
else
    bad "SIGKILL mid-write: the temporary file never appeared"
    wait "$pid"
fi

# ---- 5. NaN in a tensor that is not quantized ------------------------------------------
# Rows of 72: no block type fits, so the Q8_0 run falls back to F16 for the
# matrices; the norms are kept as F32 by the rules.
for t in blk.0.attn_q.weight blk.0.attn_norm.weight; do
    "$mkmodel" nan.gguf 1 72 128 64 "$t" > /dev/null || { bad "cannot make the NaN model ($t)"; continue; }
    echo "old contents" > nan-out.gguf
    q nan.gguf nan-out.gguf --type Q8_0 --quiet
    nan_msg="tensor '$t': value 3 (row 0, column 3) is NaN"
    check "NaN in $t: exit 2, one line naming the tensor and the index" eval 'rc_is 2 && one_line && has "$nan_msg"'
    check "NaN in $t: existing OUT unchanged, no temporary file" eval '[ "$(cat nan-out.gguf)" = "old contents" ] && no_temps .'
done

finish
