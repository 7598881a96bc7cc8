#!/usr/bin/env bash
# Build and run tests/consumers/consumer.cpp the way a user of lowbit would,
# one way of consuming lowbit per mode (docs/install.md shows the same steps):
#
#   run.sh install-prefix                 configure lowbit with tests/examples/benches
#                                         off and `cmake --install` it into $WORK/prefix
#   run.sh find_package  <cxx> <std>      separate CMake project: find_package(lowbit CONFIG
#                                         REQUIRED) from $WORK/prefix, links lowbit::lowbit
#   run.sh add_subdirectory <cxx> <std>   separate CMake project: add_subdirectory(<lowbit>)
#   run.sh vendor <cxx> <std>             include/ copied into a tree, compiled with only
#                                         -I <copy> -pthread, no CMake, and a check that the
#                                         headers reach no xsimd header (only the standard library)
#   run.sh single <cxx> <std>             the checked-in single_include/lowbit/lowbit.hpp alone
#   run.sh amalgamation                   regenerate the single header, diff with the checked-in one
#
# <cxx> is g++ or clang++ (any C++ compiler command), <std> c++17 or c++20. Every
# consumer build uses -fno-exceptions -fno-rtti -Wall -Wextra -Wpedantic -Werror
# (at -O0, to stay quick). Environment (set by tests/consumers/CMakeLists.txt):
#   LOWBIT_CONSUMER_WORK      scratch directory (default: a new temporary one)
#   CMAKE                     the cmake to use (default: cmake on PATH)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
src="$(cd "$here/../.." && pwd)"
mode="${1:?usage: run.sh <mode> [<cxx> <std>]}"
cxx="${2:-}"
std="${3:-}"
tag="$(basename "${cxx:-none}")-$std"   # names this build's directories
cmake="${CMAKE:-cmake}"
work="${LOWBIT_CONSUMER_WORK:-}"
if [ -z "$work" ]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"

flags=(-O0 -fno-exceptions -fno-rtti -Wall -Wextra -Wpedantic -Werror)

need_compiler() {
  case "$std" in c++17 | c++20) ;; *) echo "run.sh: <std> must be c++17 or c++20, not '$std'" >&2; exit 2 ;; esac
  command -v "$cxx" >/dev/null || { echo "run.sh: compiler '$cxx' not found" >&2; exit 2; }
}

install_prefix() {
  local build="$work/lowbit-build" prefix="$work/prefix"
  rm -rf "$build" "$prefix"
  "$cmake" -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DLOWBIT_BUILD_TESTS=OFF \
    -DLOWBIT_BUILD_EXAMPLES=OFF -DLOWBIT_BUILD_BENCH=OFF >"$work/lowbit-configure.log"
  "$cmake" --install "$build" --prefix "$prefix" >"$work/lowbit-install.log"
  for f in include/lowbit/lowbit.hpp share/cmake/lowbit/lowbitConfig.cmake \
           share/cmake/lowbit/lowbitConfigVersion.cmake share/cmake/lowbit/lowbitTargets.cmake; do
    [ -f "$prefix/$f" ] || { echo "run.sh: install-prefix: $f is missing from the install" >&2; exit 1; }
  done
  echo "installed lowbit into $prefix"
}

# A separate CMake project in tests/consumers/<project>, configured with <cxx> and <std>.
cmake_consumer() {
  local project="$1"; shift
  local build="$work/$project-$tag"
  rm -rf "$build"
  "$cmake" -S "$here/$project" -B "$build" "$@" \
    -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_CXX_STANDARD="${std#c++}" -DCMAKE_CXX_STANDARD_REQUIRED=ON \
    -DCMAKE_CXX_EXTENSIONS=OFF -DCMAKE_BUILD_TYPE= -DCMAKE_CXX_FLAGS="${flags[*]}" \
    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >"$build.configure.log" 2>&1 \
    || { cat "$build.configure.log" >&2; exit 1; }
  "$cmake" --build "$build" >"$build.build.log" 2>&1 || { cat "$build.build.log" >&2; exit 1; }
  # The flags the test claims must be the ones the compiler saw.
  for f in "-std=$std" -fno-exceptions -fno-rtti -Werror; do
    grep -q -- "$f" "$build/compile_commands.json" \
      || { echo "run.sh: $project: '$f' is not in the compile command" >&2; cat "$build/compile_commands.json" >&2; exit 1; }
  done
  "$build/consumer"
}

# A compiler command line, no CMake: -I <dir> only. The headers need nothing but the
# standard library: a header of xsimd (an earlier dependency, often installed in
# /usr/include, where it would be found silently) in the dependency list fails.
direct_consumer() {
  local incdir="$2" out="$work/$1-$tag/consumer"
  local deps
  deps="$("$cxx" "-std=$std" -I "$incdir" -M "$here/consumer.cpp")"
  case "$deps" in
    *xsimd*) echo "run.sh: $1: lowbit's headers include xsimd" >&2; exit 1 ;;
  esac
  local cmd=("$cxx" "-std=$std" "${flags[@]}" -I "$incdir" "$here/consumer.cpp" -pthread -o "$out")
  echo "${cmd[*]}"
  "${cmd[@]}"
  "$out"
}

case "$mode" in
  install-prefix)
    install_prefix
    ;;
  find_package)
    need_compiler
    [ -f "$work/prefix/share/cmake/lowbit/lowbitConfig.cmake" ] || install_prefix
    cmake_consumer find_package -DCMAKE_PREFIX_PATH="$work/prefix"
    ;;
  add_subdirectory)
    need_compiler
    cmake_consumer add_subdirectory -DLOWBIT_SOURCE_DIR="$src"
    ;;
  vendor)
    need_compiler
    # The user's tree: a copy of include/ and nothing else from the repository.
    vendored="$work/vendor-$tag/third_party/lowbit"
    rm -rf "$vendored" && mkdir -p "$vendored" && cp -R "$src/include" "$vendored/include"
    direct_consumer vendor "$vendored/include"
    ;;
  single)
    need_compiler
    one="$work/single-$tag/include/lowbit"
    rm -rf "$one" && mkdir -p "$one" && cp "$src/single_include/lowbit/lowbit.hpp" "$one/lowbit.hpp"
    direct_consumer single "$work/single-$tag/include"
    ;;
  amalgamation)
    fresh="$work/lowbit.amalgamated.hpp"
    python3 "$src/scripts/amalgamate.py" -o "$fresh"
    if ! diff -u "$src/single_include/lowbit/lowbit.hpp" "$fresh" >"$work/amalgamation.diff"; then
      head -n 40 "$work/amalgamation.diff"
      echo "amalgamation out of date: run scripts/amalgamate.py" >&2
      exit 1
    fi
    echo "single_include/lowbit/lowbit.hpp is up to date"
    ;;
  *)
    echo "run.sh: unknown mode '$mode'" >&2
    exit 2
    ;;
esac
