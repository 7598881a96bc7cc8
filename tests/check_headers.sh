#!/usr/bin/env bash
# Every public header must compile on its own, warning-free, without
# exceptions or RTTI (-Wall -Wextra -Wpedantic -Werror -fno-exceptions -fno-rtti).
#
#   tests/check_headers.sh                  the test command's check (CTest headers_standalone):
#                                           every header alone (included twice: include guards
#                                           too) with the first compiler found (clang++, else
#                                           g++), and every other one on a single file
#                                           that includes all public headers
#   tests/check_headers.sh --each clang++ g++   the long form: every header alone with every
#                                           compiler named (about twice the CPU time)
#
# Why one compiler per header is enough here (docs/testing.md): whether a header
# includes what it uses does not depend on the compiler; what does (warnings,
# extensions, template errors) shows just as well in one file holding all of them.
# Also: every public header in one file with LOWBIT_COMPILED (as a user of
# lowbit::compiled sees them), and the detail/ include rules below.
# The compiles run side by side ($LOWBIT_HEADER_JOBS, default nproc).
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
each=0
if [ "${1:-}" = "--each" ]; then each=1; shift; fi
compilers=("$@")
# clang++ first: the pass of every header alone costs 96 CPU-s with it, 117 with g++
# (docs/history/test-command.md, session 28); g++ then compiles the file of all headers.
[ ${#compilers[@]} -eq 0 ] && for c in clang++ g++; do command -v "$c" >/dev/null && compilers+=("$c"); done
[ ${#compilers[@]} -eq 0 ] && { echo "check_headers.sh: no C++ compiler found" >&2; exit 2; }
jobs=${LOWBIT_HEADER_JOBS:-$(nproc)}
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
headers=$(cd "$root/include" && find lowbit -name '*.hpp' -not -path '*/detail/*' | sort)

# The detail/ rules (issue 15): a public header includes no other folder's
# detail/ header (its own folder's detail/ is its private part), and tests and
# benches include no detail/ header at all. Checked by reading the includes.
reach=$(cd "$root/include" && grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"(\.\./)+([^"]*/)?detail/' $headers)
inside=$(cd "$root" && grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"][^>"]*lowbit/([^>"]*/)?detail/' tests bench \
           --include='*.cpp' --include='*.hpp' --include='*.h' --include='*.inl')
rules_ok=1
if [ -n "$reach" ]; then rules_ok=0; echo "FAIL: a public header includes another folder's detail/ header:"; echo "$reach"; fi
if [ -n "$inside" ]; then rules_ok=0; echo "FAIL: tests or bench include a detail/ header:"; echo "$inside"; fi

# kernel_list.hpp, weights_matmul.hpp and rotated_matmul.hpp (which include it) alone instantiate one code width
# (LOWBIT_WIDTHS, compiled_mode.hpp), not all eight: their includes are the same for every
# width; all eight widths are instantiated header-only by the one file of all headers (g++),
# and their definitions compiled by g++ in the library (src/kernels_w*.cpp, one width each).
# Alone with all widths they cost 14.6 and 13.3 g++ CPU-s (with one: 3.7 each).
one_width=" lowbit/kernels/kernel_list.hpp lowbit/kernels/weights_matmul.hpp lowbit/kernels/rotated_matmul.hpp "

# An umbrella header (nothing but comments, `#pragma once` and `#include "..."` of
# other public headers, each checked alone here) is not compiled alone: it is
# self-contained when each header it includes is, and that is what the other
# compiles check; every umbrella still compiles in the file of all headers (both
# compilers, and with LOWBIT_COMPILED), and lowbit.hpp in the consumer builds
# and readme_example. One whose includes reach a detail/ header, or that holds
# anything else (a declaration, a macro), is compiled alone as before. Alone,
# the nine umbrellas cost 11.5 of the g++ pass's 90 CPU-s (docs/history/test-command.md, session 26).
umbrella() {  # umbrella <header>: true when it only includes public headers checked alone
  local h=$1 dir inc rest
  dir=$(dirname "$h")
  # (no `grep -q` in a pipe: under pipefail its early exit fails the pipe)
  rest=$(sed -e 's://.*$::' "$root/include/$h" | grep -v '^[[:space:]]*$' |
           grep -vE '^[[:space:]]*#[[:space:]]*(include[[:space:]]*"[^"]*"|pragma once)[[:space:]]*$')
  [ -n "$rest" ] && return 1
  for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$root/include/$h"); do
    inc=$(realpath -m --relative-to="$root/include" "$root/include/$dir/$inc")
    case " $(echo $headers) " in *" $inc "*) ;; *) return 1 ;; esac
  done
  return 0
}
umbrellas=" "
for h in $headers; do umbrella "$h" && umbrellas="$umbrellas$h "; done

# One line per compile: <compiler> <source file> <what it checks>.
for cxx in "${compilers[@]}"; do
  if [ $each -eq 1 ] || [ "$cxx" = "${compilers[0]}" ]; then
    for h in $headers; do
      case $umbrellas in *" $h "*) continue ;; esac
      src="$tmp/$(echo "$h" | tr '/.' '__')_$(basename "$cxx").cpp"
      case $one_width in *" $h "*) echo '#define LOWBIT_WIDTHS 0x80' ;; *) ;; esac > "$src"
      printf '#include <%s>\n#include <%s>\nint main() { return 0; }\n' "$h" "$h" >> "$src"
      echo "$cxx $src $h"
    done
  else
    src="$tmp/all_headers_$(basename "$cxx").cpp"
    for h in $headers; do printf '#include <%s>\n' "$h"; done > "$src"
    echo 'int main() { return 0; }' >> "$src"
    echo "$cxx $src all-public-headers"
  fi
done > "$tmp/jobs"
# All of them again as a lowbit::compiled user sees them (declarations, no
# definitions of the run-time dispatch: include/lowbit/compiled_mode.hpp).
src="$tmp/all_headers_compiled_mode.cpp"
{ echo '#define LOWBIT_COMPILED'; for h in $headers; do printf '#include <%s>\n' "$h"; done; echo 'int main() { return 0; }'; } > "$src"
echo "${compilers[0]} $src all-public-headers-with-LOWBIT_COMPILED" >> "$tmp/jobs"

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
echo "$((n - fail)) passed, $fail failed ($(IFS=,; echo "${compilers[*]}"); each header alone with ${compilers[0]}$([ $each -eq 1 ] && echo ' and every other compiler'), but the umbrellas:$umbrellas)"
[ $fail -eq 0 ] && [ $rules_ok -eq 1 ]
