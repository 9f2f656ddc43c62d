#!/usr/bin/env python3
"""shardenc performance model (Python 3 standard library only).

Fitted from a sweep CSV of launch/scaling.sh, it predicts the time of one
forward on one rank of a TP group as

  t = t_gemm + t_attention + t_other + t_collectives, each term per forward:

  t_gemm  = L*o_g + c_g * L * n_tok * (8 d^2 + 4 d d_ff) / (T * thr)
  t_attn  = L*o_a + c_a * L * n_tok * 4 seq d           / (T * thr)
  t_other = L*o_o + c_o * n_tok * (L*(4 d + d_ff/T) + d) / thr
  t_coll  = 2 L * [ 2(T-1) * alpha + 2(T-1)/T * n_tok*d*4 / beta ]
            + kappa * L * c * max(0, W - burst) * 8 / rate     (tbf-shaped TCP only)

  n_tok = seq * batch (tokens of one batch of the TP group), T = tp size,
  thr   = threads per rank actually available (cores / ranks when a host is
          oversubscribed). The flop counts: QKV 6 d^2 + output 2 d^2 + FFN
  4 d d_ff per token (GEMM); Q.K^T and A.V 2 seq d each per token (attention);
  LayerNorm, residuals, biases, GELU and the embedding lookup are ~linear in
  d and d_ff (other). c_* are seconds per flop per thread (1/c = the per-
  thread rate), o_* a fixed cost per layer (thread fork/join, small kernels).
  The collective term is the ring all-reduce, 2 per layer of n_tok*d*4 bytes
  (sequence-parallel mode: reduce-scatter + all-gather, the same cost; bench's
  JSON reports these calls and bytes per layer, collective_*_per_layer).
  alpha is a cost per message (ring step), 1/beta a cost per byte a rank sends.

  Emulated networks (scaling.sh --transport tcp --net-rate R, columns transport,
  net_rate, net_burst): the run's loopback is shaped by one tc tbf of rate R
  and bucket `burst`. Every byte of every rank passes that one qdisc (lo's
  egress), so a collective call of c per layer moves W = 4(T-1)*n_tok*d*4/c
  bytes (both directions of the ring, all T ranks) through it, the first
  `burst` of them out of the bucket refilled during the compute between calls
  (full when that compute lasts longer than burst/rate: 5 ms at 200mbit with
  scaling.sh's default 128 KiB, against tens of ms for a bert-base layer; not
  so for a tiny model, whose wire time this underestimates by up to burst/rate
  per call).
  That wire time is not fitted: it follows from the configured rate (kappa = 1:
  tbf enforces exactly that rate on L2 bytes; headers of 64 KiB loopback
  segments add 0.1 %). alpha and 1/beta are fitted per transport (shm, tcp):
  for tcp they are TCP's own costs on loopback (per message: syscalls, wake-up,
  ob1's matching; per byte: the copies through the stack), which the shaper
  does not set and which remain on a real network.

Fit: each compute term separately, least squares on relative error (weights
1/y^2), non-negative, per d_model found in the CSV (a prediction for another
d uses the nearest measured d); alpha, 1/beta by the same least squares over
the runs with collectives.

Subcommands
  fit CSV                       print the fitted parameters
  check CSV [--fit CSV2] [--loo] [--alpha-us U] [--kappa K]
                                per-row predicted vs measured tokens/s, mean
                                and max relative error (--loo: leave-one-out,
                                each row predicted from a fit without it; the
                                last line ends "max N %"). --alpha-us forces the
                                per-message cost (every transport), --kappa the factor on the
                                shaped wire time ("fit": fitted; default 1)
  selftest CSV [--tol 0.05]     (1) fit synthetic rows made from known
                                parameters on CSV's grid and recover them;
                                (2) fit CSV and reproduce its rows' tokens/s:
                                median |error| of the fitted rows <= tol.
                                Exit 1 otherwise. --synthetic: (1) only.
  predict --fit CSV --config FILE --seq N --batch B --nodes N
          --cores-per-node C --ranks-per-node R --tp T --bw-gbps G --lat-us U
          [--layers L] [--speed F]  tokens/s and efficiency on a cluster
  tp-table --fit CSV [--fit CSV2] [--share 0.2] [--cores-per-node 32] [--markdown]
                                where TP stops paying: bert-base/bert-large at
                                seq 512 and 8192 over 100 and 25 Gb/s (TCP:
                                the fitted TCP alpha, 1/beta on top of the
                                link's latency and rate, when the fit has tcp
                                rows)
"""
import argparse
import csv
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
COMPONENTS = ("gemm", "attention", "other")


# ---------------------------------------------------------------- features
def thr_eff(threads, ranks_per_host, host_cores):
    """Threads a rank really has: oversubscribed hosts time-slice their cores."""
    if host_cores and ranks_per_host * threads > host_cores:
        return host_cores / ranks_per_host
    return float(threads)


def features(s):
    """Per-forward regressors of one run s (dict of numbers): for each term, the
    (overhead coefficient, work coefficient) pair so that t = o*a + c*b."""
    L, d, dff, T, seq = s["layers"], s["d_model"], s["d_ff"], s["tp"], s["seq"]
    n_tok, thr = s["seq"] * s["batch"], s["thr"]
    f = {
        "gemm": (L, L * n_tok * (8.0 * d * d + 4.0 * d * dff) / (T * thr)),
        "attention": (L, L * n_tok * 4.0 * seq * d / (T * thr)),
        "other": (L, n_tok * (L * (4.0 * d + dff / T) + d) / thr),
    }
    f["coll"] = coll_features(s)
    return f


def coll_features(s):
    """(ring steps, bytes one rank sends, seconds on the shaped wire) per forward."""
    L, T = s["layers"], s["tp"]
    if T <= 1:
        return (0.0, 0.0, 0.0)
    msg = s["seq"] * s["batch"] * s["d_model"] * 4.0
    steps, sent = 2.0 * L * 2.0 * (T - 1), 2.0 * L * 2.0 * (T - 1) / T * msg
    wire = 0.0
    if s.get("rate"):
        c = s.get("calls") or 2.0
        per_call = T * sent / (L * c)          # all ranks' bytes through the one qdisc
        wire = L * c * max(0.0, per_call - s.get("burst", 0.0)) * 8.0 / s["rate"]
    return (steps, sent, wire)


def parse_rate(v):
    """tc's 200mbit / 1gbit / 10gbit -> bits/s (0: unshaped)."""
    v = (v or "").strip().lower()
    for suf, mul in (("kbit", 1e3), ("mbit", 1e6), ("gbit", 1e9)):
        if v.endswith(suf):
            return float(v[:-len(suf)]) * mul
    if v:
        raise SystemExit("perfmodel: net_rate '%s' is not like 200mbit, 1gbit, 10gbit" % v)
    return 0.0


def row_setup(r):
    """A CSV row -> the numbers the model uses, plus the measured values."""
    g = lambda k: float(r[k])
    ranks, threads = int(r["ranks"]), int(r["threads"])
    hc = float(r["host_cores"]) if r.get("host_cores") else 0.0
    nodes = max(1, int(r.get("nodes") or 1))
    s = {
        "layers": g("layers"), "d_model": g("d_model"), "d_ff": g("d_ff"), "tp": g("tp"), "seq": g("seq"),
        "batch": g("batch_per_group"), "dp": g("dp"), "thr": thr_eff(threads, ranks / nodes, hc),
    }
    s["oversub"] = s["thr"] < threads
    s["transport"] = r.get("transport") or "shm"
    s["rate"] = parse_rate(r.get("net_rate"))
    # sweeps before the net_burst column used a bucket of 10 ms at the rate, >= 64 KiB
    s["burst"] = float(r["net_burst"]) if r.get("net_burst") else max(65536.0, s["rate"] / 800.0)
    s["calls"] = float(r.get("collective_calls_per_layer") or 0) or (4.0 if r.get("sp") == "1" else 2.0)
    m = {"gemm": g("t_gemm"), "attention": g("t_attention"), "other": g("t_other"),
         "coll": g("t_collectives"), "tps": g("tokens_per_s"), "seconds": g("seconds")}
    return s, m


# ---------------------------------------------------------------- least squares
def solve_lin(A, b):
    """Gauss-Jordan with partial pivoting; None when singular."""
    n = len(b)
    M = [list(A[i]) + [b[i]] for i in range(n)]
    for c in range(n):
        p = max(range(c, n), key=lambda i: abs(M[i][c]))
        if abs(M[p][c]) <= 1e-12 * max(1e-300, max(abs(M[i][i]) for i in range(n))):
            return None
        M[c], M[p] = M[p], M[c]
        for i in range(n):
            if i != c:
                f = M[i][c] / M[c][c]
                M[i] = [x - f * y for x, y in zip(M[i], M[c])]
    return [M[i][n] / M[i][i] for i in range(n)]


def nnls(rows, rel=True):
    """min sum w (x . p - y)^2 over p >= 0; rows = [(x tuple, y)], w = 1/y^2
    (relative error) when rel. Every subset of free parameters is solved
    (there are at most 3) and the feasible one of least error kept."""
    rows = [r for r in rows if r[1] > 0]
    n = len(rows[0][0]) if rows else 0
    if not rows:
        return (0.0,) * n
    best = None
    for mask in range(1, 1 << n):
        idx = [k for k in range(n) if mask >> k & 1]
        A = [[0.0] * len(idx) for _ in idx]
        b = [0.0] * len(idx)
        for x, y in rows:
            w = 1.0 / (y * y) if rel else 1.0
            for i, ki in enumerate(idx):
                b[i] += w * x[ki] * y
                for j, kj in enumerate(idx):
                    A[i][j] += w * x[ki] * x[kj]
        sol = solve_lin(A, b)
        if sol is None or min(sol) < 0:
            continue
        p = [0.0] * n
        for ki, v in zip(idx, sol):
            p[ki] = v
        err = sum(((sum(pk * xk for pk, xk in zip(p, x)) - y) / (y if rel else 1.0)) ** 2 for x, y in rows)
        if best is None or err < best[0] - 1e-15:
            best = (err, tuple(p))
    return best[1] if best else (0.0,) * n


def nnls2(rows, rel=True):
    """min sum w (p*a + q*b - y)^2 over p, q >= 0; rows = [(a, b, y)]."""
    return nnls([((a, b), y) for a, b, y in rows], rel)


def fit_rows(setups, trim=True, kappa=1.0):
    """setups: [(s, m)] -> model dict. With trim, one refit without the rows
    whose total time the first fit misses by more than max(30 %, 5 x the
    median miss): on a shared machine a run now and then catches another
    job's burst, and one such row would drag every rate."""
    model = fit_rows_once(setups, kappa)
    if not trim or len(setups) < 4:
        return model
    miss = []
    for s, m in setups:
        t = predict_setup(model, s)["total"]
        miss.append(abs(t - m["seconds"]) / m["seconds"] if m["seconds"] > 0 else 0.0)
    med = sorted(miss)[len(miss) // 2]
    keep = [sm for sm, e in zip(setups, miss) if e <= max(0.3, 5 * med)]
    if len(keep) == len(setups) or len(keep) < len(setups) // 2 + 1:
        return model
    model = fit_rows_once(keep, kappa)
    model["n_trimmed"] = len(setups) - len(keep)
    model["excluded"] = [i for i, e in enumerate(miss) if e > max(0.3, 5 * med)]
    model["n_rows"] = len(setups)
    return model


def fit_rows_once(setups, kappa=1.0):
    model = {"compute": {}, "coll": {}}
    by_d = {}
    for s, m in setups:
        by_d.setdefault(int(s["d_model"]), []).append((s, m))
    for d, lst in sorted(by_d.items()):
        par = {}
        for c in COMPONENTS:
            pts = []
            for s, m in lst:
                a, b = features(s)[c]
                pts.append((a, b, m[c]))
            par[c] = nnls2(pts)
        model["compute"][d] = par
    for cls in sorted({s["transport"] for s, m in setups}):
        model["coll"][cls] = fit_coll([(s, m) for s, m in setups if s["transport"] == cls], kappa)
    model["n_rows"] = len(setups)
    model["n_trimmed"] = 0
    model["excluded"] = []
    return model


def fit_coll(setups, kappa=1.0):
    """alpha, 1/beta (and kappa when kappa is "fit") of one transport from its
    runs with collectives. Oversubscribed runs only if there are no others:
    there a collective mostly waits for a descheduled partner rank, which is
    not the cost of the wire."""
    coll = [(s, m) for s, m in setups if s["tp"] > 1]
    if any(not s.get("oversub") for s, m in coll):
        coll = [(s, m) for s, m in coll if not s.get("oversub")]
    par = {"alpha": 0.0, "inv_beta": 0.0, "kappa": 1.0 if kappa == "fit" else kappa, "n": len(coll)}
    if not coll:
        return par
    if kappa == "fit":
        par["alpha"], par["inv_beta"], par["kappa"] = nnls([(features(s)["coll"], m["coll"]) for s, m in coll])
        par["kappa_fitted"] = True
        return par
    # The shaped wire time is known (kappa * its configured seconds): fit the
    # rest, still weighting by the measured total so that the error is relative.
    rows = []
    for s, m in coll:
        a, b, w = features(s)["coll"]
        rows.append(((a / m["coll"], b / m["coll"]), 1.0 - kappa * w / m["coll"]) if m["coll"] > 0 else None)
    rows = [r for r in rows if r]
    par["alpha"], par["inv_beta"] = nnls(rows, rel=False)
    return par


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit("perfmodel: %s has no rows" % path)
    return rows


def fit_csv(paths, a=None):
    """Fit from one CSV or the rows of several; --shm-gbps / --shm-lat-us in a
    replace the fitted intra-node collective cost (this machine's, which
    includes waiting for slower ranks), --alpha-us the TCP one, --kappa "fit"
    or a number the factor on the shaped wire time."""
    paths = [paths] if isinstance(paths, str) else paths
    kappa = getattr(a, "kappa", None) or "1"
    model = fit_rows([row_setup(r) for p in paths for r in read_csv(p)], kappa=parse_kappa(kappa))
    return override(model, a)


def parse_kappa(k):
    return "fit" if k == "fit" else float(k)


def override(model, a):
    sh = model["coll"].setdefault("shm", {"alpha": 0.0, "inv_beta": 0.0, "kappa": 1.0, "n": 0})
    if a is not None and getattr(a, "shm_gbps", None):
        sh["inv_beta"] = 8.0 / (a.shm_gbps * 1e9)
    if a is not None and getattr(a, "shm_lat_us", None) is not None:
        sh["alpha"] = a.shm_lat_us * 1e-6
    if a is not None and getattr(a, "alpha_us", None) is not None:
        for c in model["coll"].values():
            c["alpha"] = a.alpha_us * 1e-6
    return model


# ---------------------------------------------------------------- prediction
def nearest_par(model, d):
    ds = list(model["compute"].keys())
    if not ds:
        raise SystemExit("perfmodel: the fit has no compute rows")
    return model["compute"][min(ds, key=lambda x: abs(math.log(x / d)))]


def predict_setup(model, s, alpha=None, inv_beta=None, speed=1.0):
    """Seconds per forward by term for one rank of setup s. alpha/inv_beta
    override the fitted collective cost of s's transport, e.g. with a
    network's. speed: core speed relative to the fit machine's."""
    par = nearest_par(model, s["d_model"])
    f = features(s)
    t = {}
    for c in COMPONENTS:
        o, k = par[c]
        t[c] = (o * f[c][0] + k * f[c][1]) / speed
    cp = coll_par(model, s["transport"])
    a = cp["alpha"] if alpha is None else alpha
    ib = cp["inv_beta"] if inv_beta is None else inv_beta
    t["coll"] = a * f["coll"][0] + ib * f["coll"][1] + cp["kappa"] * f["coll"][2]
    t["total"] = sum(t[c] for c in COMPONENTS) + t["coll"]
    return t


def coll_par(model, transport):
    """The fitted collective cost of a transport; a transport without TP runs in
    the fit costs nothing beyond the wire (alpha = 1/beta = 0)."""
    c = model["coll"].get(transport)
    return c if c and c["n"] else {"alpha": 0.0, "inv_beta": 0.0, "kappa": (c or {}).get("kappa", 1.0), "n": 0}


def tps_of(s, t):
    return s["seq"] * s["batch"] * s["dp"] / t["total"]


# ---------------------------------------------------------------- commands
def describe(model):
    out = []
    for d, par in sorted(model["compute"].items()):
        g, a, o = par["gemm"], par["attention"], par["other"]
        out.append("d_model %d: GEMM %.2f GFLOP/s per thread + %.1f us/layer; attention %.2f GFLOP/s per thread"
                   " + %.1f us/layer; other %.3f Gelem/s per thread + %.1f us/layer" % (
                       d, 1e-9 / g[1] if g[1] else float("inf"), g[0] * 1e6,
                       1e-9 / a[1] if a[1] else float("inf"), a[0] * 1e6,
                       1e-9 / o[1] if o[1] else float("inf"), o[0] * 1e6))
    if model.get("n_trimmed"):
        out.append("(%d of %d rows left out of the fit as outliers: more than max(30 %%, 5 x median) off)" % (
            model["n_trimmed"], model["n_rows"]))
    for cls, c in sorted(model["coll"].items()):
        if not c["n"]:
            continue
        bw = 8e-9 / c["inv_beta"] if c["inv_beta"] else float("inf")
        out.append("collectives %s (%d runs): alpha %.2f us per ring step, beta %.2f GB/s (%.1f Gb/s)%s" % (
            cls, c["n"], c["alpha"] * 1e6, bw / 8, bw,
            "; shaped wire time x %.3f (%s)" % (c["kappa"], "fitted" if c.get("kappa_fitted") else "fixed")
            if cls == "tcp" else ""))
    return "\n".join(out)


def check_rows(rows, model=None, loo=False, verbose=True, a=None):
    """Per-row predicted vs measured tokens/s. With loo each row is predicted
    from a fit of the other rows (a: the command's --kappa / --alpha-us)."""
    setups = [row_setup(r) for r in rows]
    kappa = parse_kappa(getattr(a, "kappa", None) or "1")
    errs, kept = [], []
    excl = set(model.get("excluded", [])) if model and not loo else set()
    if verbose:
        print("%-4s %-3s %-3s %-2s %-3s %-6s %-5s %-5s %-4s %-7s %12s %12s %7s %6s" % (
            "P", "thr", "tp", "sp", "L", "seq", "batch", "d", "net", "rate", "measured/s", "predicted/s", "err%",
            "coll%"))
    for i, (r, (s, m)) in enumerate(zip(rows, setups)):
        mdl = override(fit_rows(setups[:i] + setups[i + 1:], kappa=kappa), a) if loo else model
        t = predict_setup(mdl, s)
        p = tps_of(s, t)
        e = (p - m["tps"]) / m["tps"]
        errs.append(abs(e))
        if i not in excl:
            kept.append(abs(e))
        if verbose:
            print("%-4s %-3s %-3s %-2s %-3s %-6s %-5s %-5s %-4s %-7s %12.1f %12.1f %+7.1f %6.1f%s" % (
                r["ranks"], r["threads"], r["tp"], r["sp"], r["layers"], r["seq"], r["batch_per_group"],
                r["d_model"], s["transport"], r.get("net_rate") or "-", m["tps"], p, 100 * e,
                100 * t["coll"] / t["total"],
                "  (outlier, not fitted)" if i in excl else ""))
    mean = sum(errs) / len(errs)
    kept = kept or errs
    kmean = sum(kept) / len(kept)
    kmed = sorted(kept)[len(kept) // 2] if len(kept) % 2 else sum(sorted(kept)[len(kept) // 2 - 1:][:2]) / 2
    med = sorted(errs)[len(errs) // 2] if len(errs) % 2 else sum(sorted(errs)[len(errs) // 2 - 1:][:2]) / 2
    if verbose:
        print("%srows %d: mean |error| %.1f %%, median %.1f %%, max %.1f %%" % (
            "leave-one-out, " if loo else "", len(errs), 100 * mean, 100 * med, 100 * max(errs)))
        if excl:
            print("rows fitted %d: mean |error| %.1f %%, median %.1f %%, max %.1f %%" % (
                len(kept), 100 * kmean, 100 * kmed, 100 * max(kept)))
    return kmean, kmed, max(kept)


def cmd_fit(a):
    print(describe(fit_csv(a.csv, a)))


def cmd_check(a):
    rows = read_csv(a.csv)
    model = fit_csv(a.fit or [a.csv], a)
    if not a.loo:
        print(describe(model))
    check_rows(rows, model, loo=a.loo, a=a)


def cmd_selftest(a):
    rows = read_csv(a.csv)
    setups = [row_setup(r) for r in rows]
    ok = True
    # (1) Synthetic: times made by the model from known parameters on this
    # CSV's grid must give those parameters back.
    truth = {"gemm": (2e-5, 1 / 20e9), "attention": (1e-5, 1 / 8e9), "other": (3e-5, 1 / 1e9)}
    alpha, inv_beta = 3e-6, 1 / 5e9
    syn = []
    for s, m in setups:
        f = features(s)
        mm = dict(m)
        for c in COMPONENTS:
            mm[c] = truth[c][0] * f[c][0] + truth[c][1] * f[c][1]
        mm["coll"] = alpha * f["coll"][0] + inv_beta * f["coll"][1] + f["coll"][2]
        syn.append((s, mm))
    fm = fit_rows(syn)
    for d, par in fm["compute"].items():
        for c in COMPONENTS:
            # Both parameters are identifiable only when the rows of this d vary
            # the work per layer; otherwise only the predictions are checked.
            ratios = {round(features(s)[c][1] / features(s)[c][0], 6) for s, _ in syn if s["d_model"] == d}
            if len(ratios) < 2:
                continue
            for k in range(2):
                want, got = truth[c][k], par[c][k]
                if abs(got - want) > 1e-6 * want:
                    print("selftest: synthetic %s parameter %d (d_model %d): got %g, want %g" % (c, k, d, got, want))
                    ok = False
    for cls, cp in fm["coll"].items():
        # alpha and 1/beta of a transport: identifiable when its TP runs vary
        # the bytes per ring step (the shaped wire time is known, kappa = 1).
        ratios = {round(features(s)["coll"][1] / features(s)["coll"][0], 3) for s, _ in syn
                  if s["transport"] == cls and s["tp"] > 1}
        if len(ratios) < 2:
            continue
        for k, want in (("alpha", alpha), ("inv_beta", inv_beta)):
            if abs(cp[k] - want) > 1e-6 * want:
                print("selftest: synthetic %s %s: got %g, want %g" % (cls, k, cp[k], want))
                ok = False
    syn_err = 0.0
    for s, mm in syn:
        t = predict_setup(fm, s)
        tot = sum(mm[c] for c in COMPONENTS) + mm["coll"]
        syn_err = max(syn_err, abs(t["total"] - tot) / tot)
    print("selftest (1) synthetic rows: max |error| %.2e %s" % (syn_err, "ok" if syn_err < 1e-6 else "FAIL"))
    ok = ok and syn_err < 1e-6
    if a.synthetic:
        sys.exit(0 if ok else 1)
    # (2) The measured rows: fit and reproduce.
    model = fit_rows(setups)
    print(describe(model))
    mean, med, mx = check_rows(rows, model)
    # The median: on a shared machine a few runs catch other jobs' bursts
    # (the mean and max are printed above for the record).
    good = med <= a.tol
    print("selftest (2) fitted rows: median |error| %.1f %% (tolerance %.1f %%) %s" % (
        100 * med, 100 * a.tol, "ok" if good else "FAIL"))
    sys.exit(0 if ok and good else 1)


def load_config(path):
    with open(path) as f:
        c = json.load(f)
    return {"d_model": c["hidden_size"], "n_heads": c["num_attention_heads"], "d_ff": c["intermediate_size"],
            "layers": c["num_hidden_layers"], "name": os.path.basename(path)}


def cluster(model, cfg, seq, batch, layers, nodes, cpn, rpn, tp, bw_gbps, lat_us, speed=1.0):
    """Predict one cluster setup. TP groups inside a node use the fitted
    (shared-memory) collective cost; a group spanning nodes pays, for every
    ring step (its slowest link), the network's latency plus the fitted TCP
    per-message cost (alpha), and per byte a rank sends the link's 8/rate
    (times kappa, the measured share of a configured rate TCP gets) plus the
    fitted TCP per-byte cost. A fit without tcp rows: the link alone.
    Full duplex, one rank per node: each rank's bytes have their own link."""
    threads = cpn / rpn
    P = nodes * rpn
    dp = P // tp
    s = {"layers": layers, "d_model": cfg["d_model"], "d_ff": cfg["d_ff"], "tp": float(tp), "seq": seq,
         "batch": batch, "dp": dp, "thr": threads, "transport": "shm"}
    if tp <= rpn:
        t = predict_setup(model, s, speed=speed)
        where = "intra-node"
    else:
        s["transport"] = "tcp"
        cp = coll_par(model, "tcp")
        t = predict_setup(model, s, alpha=cp["alpha"] + lat_us * 1e-6,
                          inv_beta=cp["inv_beta"] + cp["kappa"] * 8.0 / (bw_gbps * 1e9), speed=speed)
        where = "network"
    tps = tps_of(s, t)
    # Ideal: every core as fast as one single-threaded TP-1 rank on the same
    # batch (the usual efficiency against one core), no collectives.
    s1 = dict(s, tp=1.0, dp=1, thr=1.0)
    t1 = predict_setup(model, s1, speed=speed)
    ideal = tps_of(s1, t1) * cpn * nodes
    return {"tps": tps, "t": t, "eff": tps / ideal if ideal > 0 else 0, "where": where, "dp": dp,
            "threads": threads, "coll_share": t["coll"] / t["total"]}


def cmd_predict(a):
    model = fit_csv(a.fit, a)
    cfg = load_config(a.config)
    L = a.layers or cfg["layers"]
    if a.ranks_per_node * a.nodes % a.tp:
        sys.exit("perfmodel: tp %d does not divide %d ranks" % (a.tp, a.ranks_per_node * a.nodes))
    r = cluster(model, cfg, a.seq, a.batch, L, a.nodes, a.cores_per_node, a.ranks_per_node, a.tp,
                a.bw_gbps, a.lat_us, a.speed)
    t = r["t"]
    print("%s, %d layers, seq %d x batch %d per group; %d nodes x %d cores, %d ranks/node x %.3g threads, "
          "TP %d (%s), DP %d" % (cfg["name"], L, a.seq, a.batch, a.nodes, a.cores_per_node, a.ranks_per_node,
                                 r["threads"], a.tp, r["where"], r["dp"]))
    print("per forward: gemm %.4f s, attention %.4f s, other %.4f s, collectives %.4f s (%.1f %%)" % (
        t["gemm"], t["attention"], t["other"], t["coll"], 100 * r["coll_share"]))
    print("predicted: %.1f tokens/s, parallel efficiency %.1f %%" % (r["tps"], 100 * r["eff"]))


def cmd_tp_table(a):
    """For each model and sequence length: the collective share of the layer
    time at each TP size, and the first TP size where it exceeds --share.
    Links: the two networks (TP group spread over T nodes, one rank of
    cores-per-node threads on each) and, for comparison, shared memory inside
    one node (T ranks of cores-per-node/T threads, the alpha/beta fitted here)."""
    model = fit_csv(a.fit, a)
    tcp = "TCP, " if coll_par(model, "tcp")["n"] else ""
    links = [("%s100 Gb/s, %g us" % (tcp, a.lat100), 100.0, a.lat100),
             ("%s25 Gb/s, %g us" % (tcp, a.lat25), 25.0, a.lat25)]
    if coll_par(model, "shm")["n"] or a.shm_gbps:   # no shm TP runs in the fit: no intra-node row
        links.append(("in a node (shm, %s)" % ("%g Gb/s" % a.shm_gbps if a.shm_gbps else "fitted"), None, None))
    cases = [("bert-base", 512, 8), ("bert-base", 8192, 1), ("bert-large", 512, 8), ("bert-large", 8192, 1)]
    sizes = [2, 3, 4, 6, 8, 12, 16]
    show = [2, 4, 8, 16]
    lines = []
    md = a.markdown
    hdr = ["model", "seq x batch", "TP link", "collective share at TP=" + ",".join(map(str, show)),
           "TP stops paying at (share > %d %%)" % round(100 * a.share), "efficiency at the largest TP that pays"]
    if md:
        lines.append("| " + " | ".join(hdr) + " |")
        lines.append("|" + "---|" * len(hdr))
    else:
        lines.append(" | ".join(hdr))
    for name, seq, batch in cases:
        cfg = load_config(os.path.join(a.configs, name + ".json"))
        for lname, bw, lat in links:
            shares, stop, best = {}, None, None
            for T in sizes:
                if T > cfg["n_heads"]:
                    break
                if bw is None:   # one node, T ranks
                    r = cluster(model, cfg, seq, batch, cfg["layers"], 1, a.cores_per_node, T, T, 100.0, 2.0,
                                a.speed)
                else:            # T nodes, one rank each
                    r = cluster(model, cfg, seq, batch, cfg["layers"], T, a.cores_per_node, 1, T, bw, lat, a.speed)
                shares[T] = r["coll_share"]
                if r["coll_share"] > a.share:
                    stop = stop or T
                elif stop is None:
                    best = (T, r)
            sh = ", ".join("%.0f %%" % (100 * shares[T]) if T in shares else "-" for T in show)
            stop_s = "TP=%d" % stop if stop else "pays up to TP=%d (= heads)" % max(shares)
            eff = "%.0f %% (TP=%d)" % (100 * best[1]["eff"], best[0]) if best else "TP=1 only"
            row = [name, "%d x %d" % (seq, batch), lname, sh, stop_s, eff]
            lines.append(("| " + " | ".join(row) + " |") if md else " | ".join(row))
    print("\n".join(lines))
    print("\n%s%d cores per node, core speed x%g of the fit machine, the config's layers; share = collectives / "
          "layer time; seq 8192 uses the shapes only (BERT checkpoints stop at 512 positions)." % (
              "" if not md else "", a.cores_per_node, a.speed))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    def tcp_opts(p):
        p.add_argument("--kappa", default="1", help='factor on the shaped wire time: a number or "fit" [1]')
        p.add_argument("--alpha-us", type=float, help="force every transport's cost per ring step (default: fitted)")
    p = sub.add_parser("fit"); p.add_argument("csv"); tcp_opts(p); p.set_defaults(fn=cmd_fit)
    p = sub.add_parser("check"); p.add_argument("csv"); p.add_argument("--fit"); p.add_argument("--loo",
                                                                                              action="store_true")
    tcp_opts(p)
    p.set_defaults(fn=cmd_check)
    p = sub.add_parser("selftest"); p.add_argument("csv"); p.add_argument("--tol", type=float, default=0.05)
    p.add_argument("--synthetic", action="store_true", help="part (1) only")
    p.set_defaults(fn=cmd_selftest)
    p = sub.add_parser("predict")
    p.add_argument("--fit", required=True, action="append", help="CSV (repeat to fit the rows of several)")
    p.add_argument("--config", required=True); tcp_opts(p)
    p.add_argument("--seq", type=int, default=512); p.add_argument("--batch", type=int, default=8)
    p.add_argument("--layers", type=int, default=0); p.add_argument("--nodes", type=int, default=1)
    p.add_argument("--cores-per-node", type=int, default=32); p.add_argument("--ranks-per-node", type=int, default=1)
    p.add_argument("--tp", type=int, default=1); p.add_argument("--bw-gbps", type=float, default=100.0)
    p.add_argument("--lat-us", type=float, default=2.0); p.add_argument("--speed", type=float, default=1.0)
    p.add_argument("--shm-gbps", type=float, help="intra-node collective bandwidth (default: fitted)")
    p.add_argument("--shm-lat-us", type=float, help="intra-node latency per ring step (default: fitted)")
    p.set_defaults(fn=cmd_predict)
    p = sub.add_parser("tp-table")
    p.add_argument("--fit", required=True, action="append", help="CSV (repeat to fit the rows of several)")
    p.add_argument("--share", type=float, default=0.2); tcp_opts(p)
    p.add_argument("--cores-per-node", type=int, default=32); p.add_argument("--speed", type=float, default=1.0)
    p.add_argument("--lat100", type=float, default=2.0, help="latency (us) of the 100 Gb/s network")
    p.add_argument("--lat25", type=float, default=10.0, help="latency (us) of the 25 Gb/s network")
    p.add_argument("--configs", default=os.path.join(HERE, "..", "configs")); p.add_argument("--markdown",
                                                                                            action="store_true")
    p.add_argument("--shm-gbps", type=float, help="intra-node collective bandwidth (default: fitted)")
    p.add_argument("--shm-lat-us", type=float, help="intra-node latency per ring step (default: fitted)")
    p.set_defaults(fn=cmd_tp_table)
    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
