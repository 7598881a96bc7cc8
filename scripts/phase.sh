# Sourced by scripts/test.sh, test-sanitize.sh and test-arm.sh (not run on its own).
#
# lowbit_phase <name> <command...>: runs the command and appends one line to
# $LOWBIT_PHASE_LOG (when set): its wall seconds and the CPU seconds (user+sys)
# of everything it ran. CPU seconds barely move when other jobs share the cores,
# wall seconds do; docs/testing.md reads the table this makes.
# The body is a subshell: `times` there counts only what this phase ran, not a
# background phase of scripts/test.sh that the calling shell reaps meanwhile.
lowbit_phase() (
  local name=$1 t0=$SECONDS f rc=0
  shift
  f=$(mktemp)
  times >"$f"   # in the shell that runs the command: another would see no children's times
  "$@" || rc=$?
  times >>"$f"
  if [ -n "${LOWBIT_PHASE_LOG:-}" ]; then
    # Line 2 and 4 of the two `times` outputs: the children's user and sys time, e.g. 1m2.500s 0m0.310s.
    awk -v name="$name" -v wall=$((SECONDS - t0)) '
      function s(t) { split(t, a, "m"); return a[1] * 60 + a[2] }
      NR == 2 { c0 = s($1) + s($2) } NR == 4 { c1 = s($1) + s($2) }
      END { printf "%-44s %6d s wall %7.0f s CPU\n", name, wall, c1 - c0 }' "$f" >>"$LOWBIT_PHASE_LOG"
  fi
  rm -f "$f"
  return $rc
)

# lowbit_ninja_dir <dir>: empties <dir> when an earlier run configured it with
# another generator (CMake refuses to switch in place).
lowbit_ninja_dir() {
  if [ -f "$1/CMakeCache.txt" ] && ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$1/CMakeCache.txt"; then
    rm -rf "$1"
  fi
}

# A hung test fails its run in bounded time instead of using up CI's 90
# minutes (session 11's submission did: a lost wake-up under qemu). Every
# CTest entry and every test binary run outside CTest gets at most this many
# seconds; the slowest, test_llama under ASan+UBSan, takes about 110.
lowbit_test_timeout=900

# lowbit_linker: sets lowbit_link_flags, what the test builds pass as
# CMAKE_EXE_LINKER_FLAGS: -fuse-ld=lld where ld.lld is installed (scripts/test.sh
# installs it). ld.bfd took 2-3x lld's CPU time on the test binaries (an
# ASan+UBSan test binary 2.7-4.8 CPU-s against 0.8-1.9; docs/history/test-command.md, session
# 22). The programs do the same: lld, like ld.bfd, keeps the first object's copy
# of an inline function (test_quant's -O1 MSE-search TU relies on it). Without
# ld.lld it says so and the builds link with the compiler's default linker.
# (The AArch64 cross build keeps ld.bfd: its g++ finds no aarch64 ld.lld, and its
# eight links take ~5 s in all.)
lowbit_linker() {
  if command -v ld.lld >/dev/null 2>&1; then
    lowbit_link_flags=-fuse-ld=lld
  else
    echo "lowbit: ld.lld not found: linking with the default linker (slower; bash scripts/install-deps.sh lld)" >&2
    lowbit_link_flags=
  fi
}
