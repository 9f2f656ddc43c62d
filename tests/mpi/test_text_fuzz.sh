#!/usr/bin/env bash
# Bounded fuzzing of the tokenizer and its loaders (issue 4): runs each text
# fuzz target for SE_FUZZ_SECONDS (default 10) from its seed corpus. The
# targets exist only in a clang build with -DSE_FUZZ=ON (add
# -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link for coverage inside the library);
# elsewhere this test reports that it was skipped.
set -euo pipefail
: "${SE_BUILD:?}" "${SE_SRC:?}"
secs=${SE_FUZZ_SECONDS:-10}
ran=0
for t in fuzz_text_tokenizer fuzz_text_loaders; do
  bin=$SE_BUILD/tests/$t
  [ -x "$bin" ] || continue
  work=$(mktemp -d)
  cp "$SE_SRC/tests/fuzz/corpus/$t/"* "$work/"
  (cd "$work" && "$bin" -max_total_time="$secs" -max_len=4096 -print_final_stats=1 "$work" 2>"$work/log") \
    || { tail -40 "$work/log"; echo "FAIL: $t found a crash"; exit 1; }
  grep -h "stat::number_of_executed_units" "$work/log" | sed "s/^/$t: /"
  rm -rf "$work"
  ran=$((ran + 1))
done
[ $ran -gt 0 ] || echo "SKIPPED: no fuzz targets in $SE_BUILD (configure with CC=clang -DSE_FUZZ=ON)"
