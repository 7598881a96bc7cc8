#!/usr/bin/env bash
# Every public header must compile on its own, warning-free, without
# exceptions or RTTI, with every C++ compiler we support.
# Usage: tests/check_headers.sh [compiler...]   (default: g++ and clang++ if present)
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
compilers=("$@")
[ ${#compilers[@]} -eq 0 ] && for c in g++ clang++; do command -v "$c" >/dev/null && compilers+=("$c"); done
flags=(-std=c++17 -Wall -Wextra -Wpedantic -Werror -fno-exceptions -fno-rtti -fsyntax-only -I"$root/include")
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
headers=$(cd "$root/include" && find lowbit -name '*.hpp' -not -path '*/detail/*' | sort)
fail=0
n=0
for cxx in "${compilers[@]}"; do
  for h in $headers; do
    src="$tmp/$(echo "$h" | tr '/.' '__')_$cxx.cpp"
    printf '#include <%s>\n#include <%s>\nint main() { return 0; }\n' "$h" "$h" > "$src"  # twice: include guards too
    echo "$cxx $src $h"
  done
done > "$tmp/jobs"
while read -r cxx src h; do
  n=$((n + 1))
  if ! out=$("$cxx" "${flags[@]}" "$src" 2>&1); then
    echo "FAIL: $cxx $h"; echo "$out" | head -20; fail=$((fail + 1))
  fi
done < "$tmp/jobs"
echo "$((n - fail)) passed, $fail failed"
[ $fail -eq 0 ]
