#!/usr/bin/env bash
# Set up, build and run lowbit's quickstart demo. Extra arguments go to the demo
# (e.g. a path to a float32 .npy weight matrix).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DLOWBIT_BUILD_BENCH=OFF -DLOWBIT_BUILD_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" --target quickstart
./build/examples/quickstart "$@"
