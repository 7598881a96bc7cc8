#!/usr/bin/env bash
# Every public header must compile on its own, warning-free, without
# exceptions or RTTI (-Wall -Wextra -Wpedantic -Werror -fno-exceptions -fno-rtti).
#
#   tests/check_headers.sh                  the test command's check (CTest headers_standalone):
#                                           every header alone (included twice: include guards
#                                           too) with the first compiler found (g++, else
#                                           clang++), and every other one on a single file
#                                           that includes all public headers
#   tests/check_headers.sh --each g++ clang++   the long form: every header alone with every
#                                           compiler named (about twice the CPU time)
#
# Why one compiler per header is enough here (docs/testing.md): whether a header
# includes what it uses does not depend on the compiler; what does (warnings,
# extensions, template errors) shows just as well in one file holding all of them.
# The compiles run side by side ($LOWBIT_HEADER_JOBS, default nproc).
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
each=0
if [ "${1:-}" = "--each" ]; then each=1; shift; fi
compilers=("$@")
[ ${#compilers[@]} -eq 0 ] && for c in g++ clang++; do command -v "$c" >/dev/null && compilers+=("$c"); done
[ ${#compilers[@]} -eq 0 ] && { echo "check_headers.sh: no C++ compiler found" >&2; exit 2; }
jobs=${LOWBIT_HEADER_JOBS:-$(nproc)}
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
headers=$(cd "$root/include" && find lowbit -name '*.hpp' -not -path '*/detail/*' | sort)

# One line per compile: <compiler> <source file> <what it checks>.
for cxx in "${compilers[@]}"; do
  if [ $each -eq 1 ] || [ "$cxx" = "${compilers[0]}" ]; then
    for h in $headers; do
      src="$tmp/$(echo "$h" | tr '/.' '__')_$(basename "$cxx").cpp"
      printf '#include <%s>\n#include <%s>\nint main() { return 0; }\n' "$h" "$h" > "$src"
      echo "$cxx $src $h"
    done
  else
    src="$tmp/all_headers_$(basename "$cxx").cpp"
    for h in $headers; do printf '#include <%s>\n' "$h"; done > "$src"
    echo 'int main() { return 0; }' >> "$src"
    echo "$cxx $src all-public-headers"
  fi
done > "$tmp/jobs"

# Each compile prints one result line (and, on failure, the first errors) to its own file.
export root
xargs -P "$jobs" -L 1 bash -c '
  cxx=$0 src=$1 what=$2
  if out=$("$cxx" -std=c++17 -Wall -Wextra -Wpedantic -Werror -fno-exceptions -fno-rtti -fsyntax-only \
             -I"$root/include" "$src" 2>&1); then
    echo "ok" > "$src.result"
  else
    { echo "FAIL: $cxx $what"; echo "$out" | head -20; } > "$src.result"
  fi' < "$tmp/jobs"

n=0 fail=0
while read -r cxx src what; do
  n=$((n + 1))
  if [ "$(head -n 1 "$src.result" 2>/dev/null)" != ok ]; then
    fail=$((fail + 1))
    cat "$src.result" 2>/dev/null || echo "FAIL: $cxx $what (no result)"
  fi
done < "$tmp/jobs"
echo "$((n - fail)) passed, $fail failed ($(IFS=,; echo "${compilers[*]}"); each header alone with ${compilers[0]}$([ $each -eq 1 ] && echo ' and every other compiler'))"
[ $fail -eq 0 ]
