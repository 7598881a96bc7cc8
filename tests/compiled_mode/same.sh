#!/usr/bin/env bash
# compiled_mode_same: the twins' digest of the header-only build and of the
# lowbit::compiled build (twins_digest.cpp) must be identical.
set -euo pipefail
a=$("$1")
b=$("$2")
echo "$a"
if [ "$a" != "$b" ]; then
  echo "lowbit: header-only and lowbit::compiled differ; compiled gives:" >&2
  echo "$b" >&2
  exit 1
fi
