#!/usr/bin/env bash
# bench/run.sh — build and run lowbit_bench (1 and 2 threads; the benchmark
# names carry /t1 and /t2), then write docs/benchmarks.md from the JSON output.
#
#   bench/run.sh [build-dir]           default build dir: <repo>/build-bench
#   LOWBIT_BENCH_MIN_TIME=0.5          seconds per benchmark (Google Benchmark --benchmark_min_time)
#   LOWBIT_BENCH_FILTER=regex          run a subset (the report then covers that subset)
#   LOWBIT_BENCH_JSON=path             keep the raw JSON there (default: <build-dir>/lowbit_bench.json)
#
# Needs cmake, a C++17 compiler, Google Benchmark (libbenchmark-dev) and python3.
# The numbers depend on the machine and its load: compare ratios, not absolutes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-bench}
min_time=${LOWBIT_BENCH_MIN_TIME:-0.5}
filter=${LOWBIT_BENCH_FILTER:-.}
json=${LOWBIT_BENCH_JSON:-$build/lowbit_bench.json}

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DLOWBIT_BUILD_BENCH=ON >/dev/null
cmake --build "$build" --target lowbit_bench -j2
cmd=("$build/bench/lowbit_bench" "--benchmark_min_time=$min_time" "--benchmark_filter=$filter"
     "--benchmark_out=$json" "--benchmark_out_format=json")
echo "running: ${cmd[*]}" >&2
"${cmd[@]}"
python3 "$root/bench/report.py" "$json" "bench/run.sh (LOWBIT_BENCH_MIN_TIME=$min_time LOWBIT_BENCH_FILTER=$filter): ${cmd[*]#$root/}" \
  > "$root/docs/benchmarks.md"
echo "wrote $root/docs/benchmarks.md" >&2
