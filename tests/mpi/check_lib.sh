# Sourced by the tests/mpi scripts: the counters and the check helpers that
# every script prints its lines through ("ok: ...", "FAIL: ...") and closes
# with "N passed, M failed". check needs $w, the script's work folder.
pass=0; fail=0
ok()   { pass=$((pass + 1)); echo "ok: $*"; }
bad()  { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { local what="$1"; shift; if "$@" >"$w/check.log" 2>&1; then ok "$what"; else bad "$what"; cat "$w/check.log"; fi; }
