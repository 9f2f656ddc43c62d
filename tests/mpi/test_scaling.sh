#!/usr/bin/env bash
# launch/scaling.sh on a tiny grid (1-2 ranks, 1 layer, configs/tiny-bench.json):
# exact CSV columns and rows, skipped combinations, efficiency pass, append
# without a second header; launch/plot_scaling makes 4 valid PNGs; and
# launch/perfmodel.py selftest reproduces its own fit inputs within 5 % (and
# fails on rows it cannot fit). Needs gnuplot: a missing gnuplot is a FAILURE.
set -u
: "${SE_SRC:?SE_SRC not set (run through ctest)}"
: "${SHARDENC:?SHARDENC not set (the shardenc CLI target was not built)}"
. "$SE_SRC/launch/mpi_env.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export SE_MPI_TIMEOUT=60 SHARDENC
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
PY="${PYTHON:-python3}"
L="$SE_SRC/launch"

fail=0
bad() {
    fail=$((fail + 1))
    echo "test_scaling: FAIL: $*" >&2
}
if ! command -v gnuplot >/dev/null; then
    echo "test_scaling: FAIL: gnuplot is not installed (launch/install.sh installs gnuplot-nox)" >&2
    exit 1
fi
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
CSV="$TMP/sweep.csv"

# 1. Dry run: skips with reasons, no CSV.
"$L/scaling.sh" --dry-run --config "$SE_SRC/configs/tiny-bench.json" --ranks "2 8" --tp "3 8" --seq 64 \
    --max-cores 0 --out "$CSV" >"$TMP/dry.out" 2>"$TMP/dry.err" || bad "dry run exited non-zero"
grep -q "skip: P=2 threads=1 tp=3 sp=off seq=64 batch=8: tp 3 does not divide 2 ranks" "$TMP/dry.err" ||
    bad "no 'tp does not divide' skip"
grep -q "skip: P=8 threads=1 tp=8 sp=off seq=64 batch=8: tp 8 > 4 heads" "$TMP/dry.err" || bad "no 'tp > heads' skip"
[ ! -e "$CSV" ] || bad "dry run wrote $CSV"
"$L/scaling.sh" --mode sideways --out "$CSV" 2>"$TMP/bad.err" && bad "--mode sideways accepted"
grep -q "mode must be strong or weak" "$TMP/bad.err" || bad "no message for a bad --mode"

# 2. The tiny strong-scaling grid: 2 runs on 1 rank, 6 on 2 ranks.
"$L/scaling.sh" --config "$SE_SRC/configs/tiny-bench.json" --ranks "1 2" --threads 1 --tp "1 2" --sp "off on" \
    --seq "64 128" --batch 4 --layers 1 --iters 20 --warmup 3 --repeat 2 --out "$CSV" >"$TMP/sweep.out" 2>"$TMP/sweep.err" ||
    { bad "sweep exited non-zero"; cat "$TMP/sweep.err" >&2; }
grep -q "8 runs, 8 skipped, 0 failed" "$TMP/sweep.err" || { bad "sweep summary"; tail -3 "$TMP/sweep.err" >&2; }
# 2b. TCP on a loopback shaped by tc tbf in a private network namespace (issue
#     15): 2 runs; at 8 mbit/s the TP all-reduces take at least 70 % of the time the
#     rate alone needs, and more than twice as long as at 1 gbit/s.
"$L/scaling.sh" --config "$SE_SRC/configs/tiny-bench.json" --ranks 2 --tp 2 --seq 64 --batch 2 --layers 1 --iters 5 \
    --transport tcp --net-rate "8mbit 1gbit" --out "$TMP/net.csv" >/dev/null 2>"$TMP/net.err" ||
    { bad "tcp --net-rate sweep exited non-zero"; cat "$TMP/net.err" >&2; }
"$PY" - "$TMP/net.csv" <<'EOF' || bad "tcp --net-rate CSV"
import csv, sys
rows = {r["net_rate"]: r for r in csv.DictReader(open(sys.argv[1]))}
assert sorted(rows) == ["1gbit", "8mbit"] and all(r["transport"] == "tcp" for r in rows.values()), rows
assert all(r["net_burst"] == "131072" for r in rows.values()), [r["net_burst"] for r in rows.values()]
slow, fast = float(rows["8mbit"]["t_collectives"]), float(rows["1gbit"]["t_collectives"])
# The wire time at 8 mbit/s: both ranks' bytes of the ring cross the one shaped
# loopback, 2 x the payload per layer (collective_bytes_per_layer). The tiny
# forward's compute between calls is far shorter than the 131 ms the bucket
# takes to refill at 8 mbit/s, so the bucket hardly helps after the first calls.
r = rows["8mbit"]
wire = float(r["layers"]) * 2 * float(r["collective_bytes_per_layer"]) * 8 / 8e6
assert slow >= 0.7 * wire, "collectives %g s at 8mbit, the rate alone needs %g s: the rate is not applied" % (slow, wire)
# 1gbit is 125 x faster on the wire; under load its time is mostly waiting for the partner
assert slow > 2 * fast, "collectives %g s at 8mbit vs %g s at 1gbit: the rate is not applied" % (slow, fast)
EOF
"$L/scaling.sh" --transport shm --net-rate 1gbit --dry-run 2>"$TMP/bad.err" && bad "--net-rate without tcp accepted"
grep -q "needs --transport tcp" "$TMP/bad.err" || bad "no message for --net-rate without tcp"
# 3. A weak-scaling run appended to the same file (no second header).
"$L/scaling.sh" --config "$SE_SRC/configs/tiny-bench.json" --mode weak --ranks 2 --tp 2 --seq 64 --batch 2 \
    --layers 1 --iters 5 --out "$CSV" >/dev/null 2>"$TMP/weak.err" || bad "weak run exited non-zero"

"$PY" - "$CSV" <<'EOF' || bad "CSV content"
import csv, sys
want = ("sweep_id,timestamp,host,mode,config,arch,d_model,n_heads,d_ff,layers,seq,batch_per_group,global_batch,"
        "ranks,threads,cores,nodes,host_cores,tp,dp,sp,iters,repeats,tokens_per_forward,tokens_per_s,tokens_per_s_per_rank,gflops,"
        "sgemm_gflops,pct_of_sgemm,seconds,peak_rss_bytes_per_rank,weight_bytes_per_rank,t_gemm,t_attention,t_other,"
        "t_collectives,collective_calls_per_layer,collective_bytes_per_layer,collective_bytes,speedup,efficiency,"
        "transport,net_rate,net_burst")
lines = open(sys.argv[1]).read().splitlines()
err = []
if lines[0] != want: err.append("header: %r" % lines[0])
if sum(1 for l in lines if l.startswith("sweep_id,")) != 1: err.append("header written twice")
rows = list(csv.DictReader(open(sys.argv[1])))
if len(rows) != 9: err.append("%d rows, want 9" % len(rows))
strong = [r for r in rows if r["mode"] == "strong"]
got = sorted((r["ranks"], r["tp"], r["sp"], r["seq"], r["batch_per_group"]) for r in strong)
exp = sorted([("1", "1", "0", s, "4") for s in ("64", "128")] + [("2", "1", "0", s, "2") for s in ("64", "128")] +
             [("2", "2", sp, s, "4") for s in ("64", "128") for sp in ("0", "1")])
if got != exp: err.append("strong grid %s" % got)
for r in rows:
    tag = "%s P%s tp%s sp%s seq%s" % (r["mode"], r["ranks"], r["tp"], r["sp"], r["seq"])
    if r["transport"] != "shm" or r["net_rate"] != "" or r["net_burst"] != "": err.append(tag + ": transport columns")
    if r["d_model"] != "64" or r["n_heads"] != "4" or r["d_ff"] != "256" or r["layers"] != "1":
        err.append(tag + ": shape columns")
    if float(r["tokens_per_s"]) <= 0 or float(r["seconds"]) <= 0 or float(r["gflops"]) <= 0: err.append(tag + ": rates")
    if int(r["peak_rss_bytes_per_rank"]) < 1 << 20: err.append(tag + ": peak rss")
    if r["cores"] != str(min(int(r["ranks"]) * int(r["threads"]), int(r["host_cores"]))): err.append(tag + ": cores")
    n_tok = int(r["seq"]) * int(r["batch_per_group"])
    if int(r["tokens_per_forward"]) != n_tok * int(r["dp"]): err.append(tag + ": tokens_per_forward")
    calls = float(r["collective_calls_per_layer"])
    if r["tp"] == "1":
        if calls != 0 or int(r["collective_bytes"]) != 0: err.append(tag + ": collectives at tp 1")
    else:
        # 2 all-reduces of n_tok*d floats per layer; SP: reduce-scatter + all-gather each.
        if calls != (4 if r["sp"] == "1" else 2): err.append(tag + ": %g collective calls per layer" % calls)
        if r["sp"] == "0" and int(r["collective_bytes_per_layer"]) != 2 * n_tok * 64 * 4:
            err.append(tag + ": collective bytes %s" % r["collective_bytes_per_layer"])
        if float(r["t_collectives"]) <= 0: err.append(tag + ": no collective time")
    if r["speedup"] == "" or r["efficiency"] == "": err.append(tag + ": efficiency not filled")
    if r["mode"] == "strong" and r["global_batch"] != "4": err.append(tag + ": global batch")
for r in strong:
    if r["ranks"] == "1":  # the reference of its group
        if r["speedup"] != "1.0000" or r["efficiency"] != "1.0000": err.append("reference row not 1.0000")
    else:
        ref = [x for x in strong if x["ranks"] == "1" and x["seq"] == r["seq"]][0]
        e = float(r["tokens_per_s"]) / float(ref["tokens_per_s"]) / 2
        if abs(float(r["efficiency"]) - e) > 1e-3: err.append("efficiency %s, want %.4f" % (r["efficiency"], e))
weak = [r for r in rows if r["mode"] == "weak"]
if len(weak) != 1 or weak[0]["batch_per_group"] != "4" or weak[0]["efficiency"] != "1.0000":
    err.append("weak row: %s" % [(r["batch_per_group"], r["efficiency"]) for r in weak])
for e in err: print("csv:", e, file=sys.stderr)
sys.exit(1 if err else 0)
EOF

# 4. Plots: four PNG files, PNG magic, IHDR width >= 800, non-trivial size.
"$L/plot_scaling" "$CSV" "$TMP/png" >"$TMP/plot.out" 2>"$TMP/plot.err" || { bad "plot_scaling failed"; cat "$TMP/plot.err" >&2; }
for n in speedup efficiency breakdown seq; do
    f="$TMP/png/scaling_$n.png"
    if [ ! -f "$f" ]; then bad "$f missing"; continue; fi
    [ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || bad "$f is not a PNG"
    [ "$(stat -c %s "$f")" -gt 10000 ] || bad "$f is only $(stat -c %s "$f") bytes"
    w=$(od -An -tu1 -j16 -N4 "$f" | awk '{print $1*16777216+$2*65536+$3*256+$4}')
    [ "${w:-0}" -ge 800 ] || bad "$f width $w"
done
grep -qx "$TMP/png/scaling_breakdown.png" "$TMP/plot.out" || bad "plot_scaling did not list its files"
[ -e "$TMP/png/scaling_network.png" ] && bad "a network plot without --net-rate rows"
"$L/plot_scaling" "$TMP/net.csv" "$TMP/netpng" >"$TMP/plot.out" 2>"$TMP/plot.err" || { bad "network plot failed"; cat "$TMP/plot.err" >&2; }
f="$TMP/netpng/scaling_network.png"
[ -f "$f" ] && [ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] && [ "$(stat -c %s "$f")" -gt 10000 ] ||
    bad "scaling_network.png missing or not a PNG"
"$L/plot_scaling" "$CSV" "$TMP/png" --sweep no-such-sweep 2>"$TMP/plot2.err" && bad "plot of no rows succeeded"
grep -q "no rows to plot" "$TMP/plot2.err" || bad "no message for an empty selection"

# 5. Performance model. (a) On the live rows: the fit code recovers known
# parameters from synthetic times on this grid, and `check` runs. The live
# timings themselves are not held to 5 %: CI shares the cores with other
# tests, and one burst makes a 0.2 ms run 3x slower. (b) On a sweep measured on
# the 2-core dev machine (tests/fixtures/scaling/sweep-2core.csv, best of
# repeated sweeps): the fit reproduces its own inputs within 5 % (median).
# (c) The same rows with every other run made 1.6x slower cannot be fitted.
FIX="$SE_SRC/tests/fixtures/scaling/sweep-2core.csv"
"$PY" "$L/perfmodel.py" selftest "$CSV" --synthetic >"$TMP/self.out" 2>&1 || { bad "perfmodel selftest --synthetic"; cat "$TMP/self.out" >&2; }
grep -q "selftest (1) synthetic rows: max |error| .* ok" "$TMP/self.out" || bad "no synthetic selftest line"
"$PY" "$L/perfmodel.py" check "$CSV" >"$TMP/check.out" || bad "perfmodel check"
grep -q "^rows 9: mean |error| .*, median .*, max " "$TMP/check.out" || bad "check summary line"
"$PY" "$L/perfmodel.py" selftest "$FIX" --tol 0.05 >"$TMP/fix.out" 2>&1 || { bad "perfmodel selftest on $FIX"; cat "$TMP/fix.out" >&2; }
grep -q "selftest (2) fitted rows: median |error| .* ok" "$TMP/fix.out" || bad "no ok line for the fixture"
"$PY" - "$FIX" "$TMP/skewed.csv" <<'EOF2'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
for i, r in enumerate(rows):
    if i % 2:
        for k in ("seconds", "t_gemm", "t_attention", "t_other", "t_collectives"):
            r[k] = "%.9f" % (float(r[k]) * 1.6)
        r["tokens_per_s"] = "%.3f" % (float(r["tokens_per_s"]) / 1.6)
w = csv.DictWriter(open(sys.argv[2], "w", newline=""), fieldnames=list(rows[0].keys()))
w.writeheader(); w.writerows(rows)
EOF2
"$PY" "$L/perfmodel.py" selftest "$TMP/skewed.csv" >"$TMP/skew.out" 2>&1 && bad "selftest passed a CSV it cannot fit"
grep -q "selftest (2) fitted rows: median |error| .* FAIL" "$TMP/skew.out" || bad "no FAIL line for the skewed CSV"
# A model fitted on the fixture predicts a shape it never saw (4 ranks, TP 4).
"$PY" "$L/perfmodel.py" predict --fit "$FIX" --config "$SE_SRC/configs/tiny-bench.json" --seq 128 --batch 4 \
    --nodes 1 --cores-per-node 4 --ranks-per-node 4 --tp 4 >"$TMP/pred.out" || bad "perfmodel predict"
grep -q "TP 4 (intra-node), DP 1" "$TMP/pred.out" || bad "predict: grid line"
grep -qE "^predicted: [0-9.]+ tokens/s, parallel efficiency [0-9.]+ %" "$TMP/pred.out" || bad "predict: figures"

if [ "$fail" != 0 ]; then
    echo "test_scaling: $fail failure(s)" >&2
    exit 1
fi
echo "test_scaling: ok"
