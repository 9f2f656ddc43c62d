#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs every
# test: the Release build, the same suite under AddressSanitizer +
# UndefinedBehaviorSanitizer, and each libFuzzer target for a bounded time.
#   SE_FUZZ_SECONDS (default 20) bounds each fuzzer.
set -uo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
cd "$top"
bash launch/install.sh || exit 1
jobs="$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
pass=0; fail=0; failed=()
step() { # name command...
    local name="$1"; shift
    echo "=== $name"
    if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); failed+=("$name"); fi
}
ctest_in() { (cd "$1" && ctest --output-on-failure -j "$jobs" --timeout 900); }

step "build (Release)" bash launch/build.sh release
step "tests (Release)" ctest_in build
step "build (ASan+UBSan)" bash launch/build.sh asan
step "tests (ASan+UBSan)" ctest_in build-asan
step "build (libFuzzer, clang)" bash launch/build.sh fuzz
secs="${SE_FUZZ_SECONDS:-20}"
run_fuzz() { # binary: runs from its seed corpus (copied: the fuzzer adds to it)
    local f="$1" name work rc
    name="$(basename "$f")"
    work="$(mktemp -d)"
    [ -d "tests/fuzz/corpus/$name" ] && cp -r "tests/fuzz/corpus/$name/." "$work/"
    "$f" -max_total_time="$secs" -rss_limit_mb=2048 -error_exitcode=77 "$work" >"$work.log" 2>&1
    rc=$?
    grep -E "^#[0-9]+.*DONE|Done [0-9]+ runs" "$work.log" | tail -1
    [ "$rc" -ne 0 ] && tail -40 "$work.log"
    rm -rf "$work" "$work.log"
    return "$rc"
}
for f in build-fuzz/tests/fuzz_*; do
    [ -x "$f" ] || continue
    step "fuzz $(basename "$f") (${secs}s)" run_fuzz "$f"
done
echo
[ ${#failed[@]} -gt 0 ] && printf 'failed step: %s\n' "${failed[@]}"
echo "test.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
