#!/bin/sh
# A compiler launcher that records each compile's CPU time (docs/testing.md):
#   LOWBIT_CPU_LOG=/tmp/cpu.log CMAKE_CXX_COMPILER_LAUNCHER=$PWD/scripts/cpu-log-launcher.sh cmake -S . -B b ...
# appends "<user+sys s> <wall s> <output file>" per compile; sort -rn the log for the worst TUs.
# CPU seconds, unlike a build's wall time, barely move when other jobs share the cores.
log=${LOWBIT_CPU_LOG:-/dev/null}
out=unknown
prev=
for a in "$@"; do
  [ "$prev" = "-o" ] && out=$a
  prev=$a
done
start=$(date +%s.%N)
/usr/bin/time -f "%U %S" -o "$log.$$" "$@"
rc=$?
end=$(date +%s.%N)
if [ -f "$log.$$" ]; then
  awk -v s="$start" -v e="$end" -v o="$out" 'NF==2 && $1 ~ /^[0-9.]+$/ {printf "%.1f %.1f %s\n", $1+$2, e-s, o}' "$log.$$" >>"$log"
  rm -f "$log.$$"
fi
exit $rc
