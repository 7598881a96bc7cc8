#!/usr/bin/env bash
# Install what lowbit's build, tests and benches need, from Debian packages.
# Safe to re-run: installs only what is missing. Usage: scripts/install-deps.sh [extra-package...]
set -euo pipefail

need=(cmake g++ make doctest-dev libbenchmark-dev "$@")
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "lowbit: installing missing packages: ${missing[*]}"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "lowbit: apt-get not found. Install these yourself (names are Debian's): ${missing[*]}" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "lowbit: not root and no sudo. Run as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >/tmp/lowbit-apt.log 2>&1; then
  echo "lowbit: could not install ${missing[*]} (see /tmp/lowbit-apt.log):" >&2
  tail -n 5 /tmp/lowbit-apt.log >&2
  exit 1
fi
