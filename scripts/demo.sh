#!/usr/bin/env bash
# Set up, build and run lowbit's quickstart demo. Extra arguments go to the demo
# (e.g. a path to a float32 .npy weight matrix).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# Header-only (LOWBIT_LINK_COMPILED=OFF): the demo's TU instantiates only the
# schemes it runs, 49 CPU-s to build on the 2-core machine against ~650 for
# lowbit::compiled's eight width TUs plus the demo (session 31); same output.
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DLOWBIT_BUILD_BENCH=OFF -DLOWBIT_BUILD_TESTS=OFF \
  -DLOWBIT_LINK_COMPILED=OFF >/dev/null
cmake --build build -j"$(nproc)" --target quickstart
./build/examples/quickstart "$@"
