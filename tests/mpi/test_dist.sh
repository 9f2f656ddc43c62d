#!/usr/bin/env bash
# dist under a real mpiexec: grid, split, collectives, error agreement, host
# info on 1..4 ranks (prog_dist check), and whole-job failure behaviour:
# one rank fails -> every rank exits non-zero within seconds, the message is
# printed once, no process is left.
set -u
: "${SE_SRC:?SE_SRC not set (run through ctest)}" "${SE_BUILD:?SE_BUILD not set (run through ctest)}"
. "$SE_SRC/launch/mpi_env.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
PROG="$SE_BUILD/tests/prog_dist"
if [ ! -x "$PROG" ]; then
    echo "test_dist: $PROG not built (cmake --build $SE_BUILD --target prog_dist)" >&2
    exit 1
fi
export SE_MPI_TIMEOUT=120
# The failure cases call MPI_Abort or exit without finalising on purpose.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"

pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() {
    fail=$((fail + 1))
    echo "test_dist: FAIL: $*" >&2
}
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# run NAME ARGS...: runs se_mpiexec, leaves stdout/stderr in $TMP/NAME.{out,err},
# the exit code in $rc and the wall time in $secs.
run() {
    local name="$1"
    shift
    local t0 t1
    t0=$(date +%s%N)
    se_mpiexec "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
    rc=$?
    t1=$(date +%s%N)
    secs=$(((t1 - t0) / 1000000000))
}

# No rank of $PROG may outlive its job. Zombies waiting for init to reap them
# have an empty command line, so they do not match the full path.
no_leftovers() {
    local i
    for i in $(seq 1 30); do
        pgrep -f "^$PROG( |$)" >/dev/null || return 0
        sleep 0.5
    done
    return 1
}

# contains_once FILE TEXT
contains_once() { [ "$(grep -cF -- "$2" "$1")" = 1 ]; }

# ---- in-process checks on 1..4 ranks ----
for n in 1 2 3 4; do
    run "check$n" -n "$n" "$PROG" check
    if [ "$rc" = 0 ] && grep -Eq "^prog_dist check: $n ranks: [1-9][0-9]* passed, 0 failed$" "$TMP/check$n.out"; then
        ok
    else
        bad "check on $n ranks: exit $rc"
        cat "$TMP/check$n.out" "$TMP/check$n.err" >&2
    fi
done

# ---- one rank cannot open its file: agreed, printed once by rank 0, all exit 1 ----
# expect_agreed NAME N BAD_RANK MESSAGE
expect_agreed() {
    local name="$1" n="$2" r="$3" msg="$4"
    run "$name" -n "$n" "$PROG" fail-open "$r"
    local e="$TMP/$name.err"
    if [ "$rc" != 1 ]; then bad "$name: exit code $rc, want 1"; cat "$e" >&2; else ok; fi
    if [ "$secs" -gt 30 ]; then bad "$name: took ${secs}s"; else ok; fi
    if contains_once "$e" "shardenc: error: $msg"; then ok; else
        bad "$name: '$msg' not printed exactly once"
        cat "$e" >&2
    fi
    if grep -q "MPI_ABORT" "$e"; then bad "$name: agreement should not need MPI_Abort"; else ok; fi
    if no_leftovers; then ok; else bad "$name: processes left: $(pgrep -af "^$PROG")"; fi
}
expect_agreed fail1 1 0 "/nonexistent/shard-0.bin: cannot open: No such file or directory"
expect_agreed fail2 2 1 "rank 1: /nonexistent/shard-1.bin: cannot open: No such file or directory"
expect_agreed fail4 4 2 "rank 2: /nonexistent/shard-2.bin: cannot open: No such file or directory"

# ---- agreement impossible: se_dist_fatal on rank 1 while the others wait in an
# all-reduce -> MPI_Abort, mpiexec kills the job ----
run fatal -n 3 "$PROG" fatal 1
e="$TMP/fatal.err"
if [ "$rc" != 0 ] && [ "$rc" != 124 ]; then ok; else bad "fatal: exit code $rc"; fi
if [ "$secs" -le 30 ]; then ok; else bad "fatal: took ${secs}s"; fi
if contains_once "$e" "shardenc[1]: error: /nonexistent/shard-1.bin: cannot open"; then ok; else
    bad "fatal: message not printed exactly once"
    cat "$e" >&2
fi
# (Open MPI's own "MPI_ABORT was invoked" banner is not asserted: mpiexec does not always
# print it when it tears the job down quickly under load.)
if grep -q "should not" "$e"; then bad "fatal: a waiting rank got out of its all-reduce"; else ok; fi
if no_leftovers; then ok; else bad "fatal: processes left: $(pgrep -af "^$PROG")"; fi

# ---- a rank dies without MPI_Finalize while the others wait: mpiexec kills them
# and returns that rank's exit code ----
run crash -n 4 "$PROG" crash 2
e="$TMP/crash.err"
if [ "$rc" = 3 ]; then ok; else bad "crash: exit code $rc, want 3"; cat "$e" >&2; fi
if [ "$secs" -le 30 ]; then ok; else bad "crash: took ${secs}s"; fi
if contains_once "$e" "prog_dist[2]: exiting without MPI_Finalize"; then ok; else bad "crash: message"; fi
if grep -q "should not" "$e"; then bad "crash: a waiting rank got out of its all-reduce"; else ok; fi
if no_leftovers; then ok; else bad "crash: processes left: $(pgrep -af "^$PROG")"; fi

echo "test_dist: $pass passed, $fail failed"
[ "$fail" = 0 ]
