#!/usr/bin/env bash
# Set up, build everything (library tests, examples, benches) and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh clang libclang-rt-dev dataset-fashion-mnist
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-test -j"$(nproc)"
ctest --test-dir build-test --output-on-failure -j"$(nproc)"
bash scripts/test-sanitize.sh  # ASan+UBSan on every test, TSan on the threaded ones (docs/reliability.md)
bash scripts/test-arm.sh  # AArch64 cross build, kernel tests under qemu (neon, neondot): ~3-6 min
