#!/usr/bin/env bash
# Configures and builds one flavour of shardenc.
#   launch/build.sh [release|asan|fuzz]   -> build/, build-asan/, build-fuzz/
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
jobs="$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)"
case "${1:-release}" in
    release) dir="$top/build";      args=(-DCMAKE_BUILD_TYPE=Release) ;;
    asan)    dir="$top/build-asan"; args=(-DCMAKE_BUILD_TYPE=Debug -DSE_SANITIZE=ON) ;;
    # the library gets coverage instrumentation too, or libFuzzer would fuzz blind
    fuzz)    dir="$top/build-fuzz"; args=(-DCMAKE_BUILD_TYPE=Debug -DSE_FUZZ=ON -DSE_SANITIZE=ON -DCMAKE_C_COMPILER=clang -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link) ;;
    *) echo "usage: launch/build.sh [release|asan|fuzz]" >&2; exit 2 ;;
esac
cmake -S "$top" -B "$dir" "${args[@]}" >/dev/null
targets=()
if [ "${1:-release}" = fuzz ]; then   # only the fuzzers: the other tests are built by the other flavours
    for f in "$top"/tests/fuzz/fuzz_*.c; do targets+=(--target "$(basename "$f" .c)"); done
fi
cmake --build "$dir" -j "$jobs" "${targets[@]}"
