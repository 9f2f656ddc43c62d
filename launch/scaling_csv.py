#!/usr/bin/env python3
"""CSV helper of launch/scaling.sh (Python 3 standard library only).

  scaling_csv.py config FILE            print "n_heads max_pos" of a config.json
  scaling_csv.py row CSV KEY=VALUE...   read one `shardenc bench --json` line on
                                        stdin, append one row to CSV (header
                                        first when the file is new or empty)
  scaling_csv.py finalize CSV [SWEEP]   fill speedup and efficiency (all rows,
                                        or only those of sweep SWEEP)
  scaling_csv.py best OUT CSV...        merge sweeps: for each configuration
                                        (mode, config, layers, seq, batch, ranks,
                                        threads, tp, sp) keep the fastest row,
                                        as one sweep "best", efficiency redone.
                                        On a shared machine: repeat, take the best.

Efficiency (final pass, after the sweep):  rows are grouped by
(sweep_id, mode, config, layers, seq, workload) where the workload is the
global batch in strong scaling (fixed total work) and the batch per rank
(batch_per_group / tp) in weak scaling (fixed work per rank). The reference
of a group is its smallest run: fewest cores, then fewest ranks, then tp 1,
then sp off. cores = ranks x threads, capped at nodes x host_cores (an
oversubscribed run uses only the cores there are). Then

    speedup    = tokens_per_s / tokens_per_s_ref
    efficiency = speedup / (cores / cores_ref)

which is the usual T1/(p*Tp) for strong scaling and, since the work grows
with the cores in weak scaling, also the usual T_ref/T_p there.
"""
import csv
import json
import os
import sys

COLUMNS = [
    "sweep_id", "timestamp", "host", "mode", "config", "arch", "d_model", "n_heads", "d_ff", "layers",
    "seq", "batch_per_group", "global_batch", "ranks", "threads", "cores", "nodes", "host_cores", "tp", "dp", "sp",
    "iters", "repeats", "tokens_per_forward", "tokens_per_s", "tokens_per_s_per_rank", "gflops", "sgemm_gflops",
    "pct_of_sgemm", "seconds", "peak_rss_bytes_per_rank", "weight_bytes_per_rank", "t_gemm", "t_attention",
    "t_other", "t_collectives", "collective_calls_per_layer", "collective_bytes_per_layer", "collective_bytes",
    "speedup", "efficiency", "transport", "net_rate", "net_burst",
]


def cmd_config(path):
    with open(path) as f:
        c = json.load(f)
    heads = c.get("num_attention_heads", c.get("n_heads", 0))
    maxpos = c.get("max_position_embeddings", 0)
    print(heads, maxpos)


def cmd_row(path, kv):
    # One JSON line per repeat of the run (scaling.sh --repeat N): keep the
    # fastest, the run least disturbed by other jobs on a shared machine.
    runs = []
    for ln in sys.stdin.read().splitlines():
        ln = ln.strip()
        if ln.startswith("{"):
            try:
                runs.append(json.loads(ln))
            except ValueError:
                pass
    if not runs:
        sys.exit("scaling_csv.py row: no JSON line from shardenc bench on stdin")
    js = max(runs, key=lambda j: j["tokens_per_s"])
    extra = dict(a.split("=", 1) for a in kv)
    slow = js["slowest_rank"]["breakdown"]
    n_tok = js["seq"] * js["batch"]
    row = {
        "sweep_id": extra.get("sweep_id", ""),
        "timestamp": extra.get("timestamp", ""),
        "host": extra.get("host", ""),
        "mode": extra.get("mode", ""),
        "config": js["model"],
        "arch": js["arch"],
        "d_model": js["d_model"],
        "n_heads": js["n_heads"],
        "d_ff": js["d_ff"],
        "layers": js["layers"],
        "seq": js["seq"],
        "batch_per_group": js["batch"],
        "global_batch": js["batch"] * js["dp"],
        "ranks": js["world_size"],
        "threads": js["threads"],
        "cores": "",  # set by cores_used() below
        "nodes": extra.get("nodes", "1"),
        "host_cores": extra.get("host_cores", ""),
        "tp": js["tp"],
        "dp": js["dp"],
        "sp": 1 if js["sp"] else 0,
        "iters": js["iters"],
        "repeats": len(runs),
        "tokens_per_forward": n_tok * js["dp"],
        "tokens_per_s": js["tokens_per_s"],
        "tokens_per_s_per_rank": js["tokens_per_s_per_rank"],
        "gflops": js["gflops"],
        "sgemm_gflops": js["sgemm_gflops"],
        "pct_of_sgemm": js["pct_of_sgemm"],
        "seconds": js["seconds"],
        "peak_rss_bytes_per_rank": int(js["peak_rss_bytes"]),
        "weight_bytes_per_rank": int(js["weight_bytes_per_rank"]),
        # The slowest rank's breakdown: it sets `seconds`, and its collective
        # time holds the least waiting for other ranks (closest to the wire cost).
        "t_gemm": slow["gemm"],
        "t_attention": slow["attention"],
        "t_other": slow["other"],
        "t_collectives": slow["collectives"],
        "collective_calls_per_layer": js["collective_calls_per_layer"],
        "collective_bytes_per_layer": int(js["collective_bytes_per_layer"]),
        "collective_bytes": int(js["collective_bytes"]),
        "speedup": "",
        "efficiency": "",
        # scaling.sh --transport / --net-rate: shm (MPI's choice on one host) or
        # tcp over loopback, shaped by tc tbf at net_rate (empty: unshaped)
        "transport": extra.get("transport", "shm"),
        "net_rate": extra.get("net_rate", ""),
        # the tbf bucket in bytes (scaling.sh --net-burst; empty: unshaped)
        "net_burst": extra.get("net_burst", ""),
    }
    row["cores"] = cores_used(row)
    new = not os.path.exists(path) or os.path.getsize(path) == 0
    if not new:
        with open(path, newline="") as f:
            head = next(csv.reader(f), [])
        if head != COLUMNS:
            sys.exit("scaling_csv.py: %s has other columns than this version writes; use a new file" % path)
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        if new:
            w.writeheader()
        w.writerow(row)
    print("  -> %.1f tokens/s, %.1f GFLOP/s (%.1f %% of sgemm), collectives %.1f %% of time" % (
        js["tokens_per_s"], js["gflops"], js["pct_of_sgemm"],
        100.0 * slow["collectives"] / js["seconds"] if js["seconds"] > 0 else 0.0))


def cores_used(r):
    """ranks x threads, capped at the cores of the hosts used: an oversubscribed
    run (4 ranks on 2 cores) uses 2 cores, and its efficiency is per those."""
    c = int(r["ranks"]) * int(r["threads"])
    try:
        cap = int(r["nodes"] or 1) * int(r["host_cores"])
    except (KeyError, ValueError):
        return c
    return min(c, cap) if cap > 0 else c


def group_key(r):
    weak = r["mode"] == "weak"
    work = "%g" % (float(r["batch_per_group"]) / float(r["tp"])) if weak else r["global_batch"]
    # one reference per network: efficiency at 200mbit is against 1 rank there
    return (r["sweep_id"], r["mode"], r["config"], r["layers"], r["seq"], work, r.get("transport", ""),
            r.get("net_rate", ""))


def cmd_finalize(path, sweep=None):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    groups = {}
    for r in rows:
        r["cores"] = cores_used(r)
        if sweep is None or r["sweep_id"] == sweep:
            groups.setdefault(group_key(r), []).append(r)
    for g in groups.values():
        ref = min(g, key=lambda r: (int(r["cores"]), int(r["ranks"]), int(r["tp"]), int(r["sp"])))
        tps0, c0 = float(ref["tokens_per_s"]), float(ref["cores"])
        for r in g:
            s = float(r["tokens_per_s"]) / tps0 if tps0 > 0 else 0.0
            r["speedup"] = "%.4f" % s
            r["efficiency"] = "%.4f" % (s / (float(r["cores"]) / c0))
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


def cmd_best(out, paths):
    best = {}
    n = 0
    for p in paths:
        with open(p, newline="") as f:
            for r in csv.DictReader(f):
                n += 1
                k = tuple(r[c] for c in ("mode", "config", "layers", "seq", "batch_per_group", "ranks", "threads",
                                         "tp", "sp", "transport", "net_rate") if c in r)
                if k not in best or float(r["tokens_per_s"]) > float(best[k]["tokens_per_s"]):
                    best[k] = r
    rows = list(best.values())
    for r in rows:
        r["sweep_id"] = "best"
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    cmd_finalize(out)
    print("%d rows -> %d configurations in %s" % (n, len(rows), out), file=sys.stderr)


def main(a):
    if len(a) >= 2 and a[0] == "config":
        cmd_config(a[1])
    elif len(a) >= 2 and a[0] == "row":
        cmd_row(a[1], a[2:])
    elif len(a) in (2, 3) and a[0] == "finalize":
        cmd_finalize(a[1], a[2] if len(a) == 3 else None)
    elif len(a) >= 3 and a[0] == "best":
        cmd_best(a[1], a[2:])
    elif len(a) == 1 and a[0] == "columns":
        print(",".join(COLUMNS))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
