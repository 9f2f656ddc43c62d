#!/usr/bin/python3
"""shardenc against PyTorch, the same encoder shapes, side by side, in one run.

  /usr/bin/python3 launch/compare_pytorch.py --shardenc BIN [--config FILE] [--layers L]
        [--threads T] [--seqs 128,512,2048,8192] [--tokens 4096] [--iters K] [--repeat N] [--markdown]

For every sequence length (batch = tokens / seq, at least 1) it runs, each in
its own child process started with the same environment (OMP_NUM_THREADS=T,
OMP_PLACES=cores, OMP_PROC_BIND=close):
  * PyTorch: token + position embeddings, LayerNorm, then
    torch.nn.TransformerEncoder(TransformerEncoderLayer(d_model, n_heads,
    d_ff, dropout=0, activation="gelu", batch_first=True)) with the config's
    layer count, float32, eval(), torch.inference_mode(); torch.set_num_threads(T)
    and a check that torch.get_num_threads() == T.
  * shardenc bench --config FILE --seq S --batch B --layers L --json (1 rank).
Both time `iters` forwards after one warm-up (mean per forward). Peak memory is
the child's ru_maxrss (os.wait4), so both are measured the same way; the
shardenc figure includes the bench's own sgemm reference buffers
(2 x n_tok x d_ff floats), i.e. it is an upper bound.
"""
import argparse
import json
import os
import selectors
import signal
import sys
import time


def torch_worker(a):
    import torch
    torch.set_num_threads(a.threads)
    got = torch.get_num_threads()
    if got != a.threads:
        sys.exit("torch.get_num_threads() = %d, want %d" % (got, a.threads))
    with open(a.config) as f:
        c = json.load(f)
    d, h, dff = c["hidden_size"], c["num_attention_heads"], c["intermediate_size"]
    L = a.layers or c["num_hidden_layers"]
    torch.manual_seed(1)
    emb = torch.nn.Embedding(c["vocab_size"], d)
    pos = torch.nn.Embedding(max(a.seq, c.get("max_position_embeddings", 512)), d)
    ln = torch.nn.LayerNorm(d, eps=c.get("layer_norm_eps", 1e-12))
    layer = torch.nn.TransformerEncoderLayer(d, h, dff, dropout=0.0, activation="gelu", batch_first=True,
                                             layer_norm_eps=c.get("layer_norm_eps", 1e-12))
    enc = torch.nn.TransformerEncoder(layer, L, enable_nested_tensor=False)
    for m in (emb, pos, ln, enc):
        m.eval()
    ids = (torch.arange(a.batch * a.seq) * 7919 % c["vocab_size"]).reshape(a.batch, a.seq)
    p = torch.arange(a.seq).unsqueeze(0)

    def fwd():
        return enc(ln(emb(ids) + pos(p)))

    with torch.inference_mode():
        for _ in range(a.warmup):
            fwd()
        t = time.perf_counter()
        for _ in range(a.iters):
            out = fwd()
        t = (time.perf_counter() - t) / a.iters
    assert out.shape == (a.batch, a.seq, d) and out.dtype == torch.float32
    print(json.dumps({"tokens_per_s": a.batch * a.seq / t, "seconds": t, "threads": got,
                      "torch": torch.__version__, "layers": L}))


def spawn(cmd, env, timeout=None, check=True):
    """Run cmd; return its last JSON line and its peak RSS in bytes (ru_maxrss of
    exactly this child, from wait4: RUSAGE_CHILDREN would be a max over all).
    timeout (seconds): the child is killed (SIGKILL) when it runs longer. With
    check=False a failure, a timeout or a missing JSON line is returned as
    {"error": "..."} instead of exiting, so a long table survives one bad cell."""
    r, w = os.pipe()
    e, ew = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.dup2(w, 1)
        os.dup2(ew, 2)
        os.close(r)
        os.close(e)
        try:
            os.execvpe(cmd[0], cmd, env)
        finally:
            os._exit(127)
    os.close(w)
    os.close(ew)
    chunks, errs = [], []
    sel = selectors.DefaultSelector()
    sel.register(r, selectors.EVENT_READ, chunks)
    sel.register(e, selectors.EVENT_READ, errs)
    open_fds = 2
    deadline = None if timeout is None else time.monotonic() + timeout
    killed = False
    while open_fds:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0 and not killed:
            os.kill(pid, signal.SIGKILL)
            killed = True
        for key, _ in sel.select(None if killed or left is None else left):
            data = os.read(key.fd, 65536)
            if not data:
                sel.unregister(key.fd)
                os.close(key.fd)
                open_fds -= 1
            else:
                key.data.append(data)
    _, status, ru = os.wait4(pid, 0)
    out = b"".join(chunks).decode()
    rss = ru.ru_maxrss * 1024  # Linux: kilobytes
    code = os.waitstatus_to_exitcode(status)
    js = [ln for ln in out.splitlines() if ln.startswith("{")]
    why = None
    if killed:
        why = "timeout: killed after %.0f s" % timeout
    elif code != 0:
        tail = b"".join(errs).decode().strip().splitlines()[-3:]
        why = "exit %d%s" % (code, (": " + " / ".join(tail)) if tail else "")
    elif not js:
        why = "no JSON line in its output"
    if why is None:
        return json.loads(js[-1]), rss
    if not check:
        return {"error": why}, rss
    sys.stderr.write(b"".join(errs).decode())
    raise SystemExit("%s: %s failed (%s)" % (os.path.basename(sys.argv[0]), " ".join(cmd), why))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--shardenc", default=os.environ.get("SHARDENC", os.path.join(here, "..", "build", "shardenc")))
    ap.add_argument("--config", default=os.path.join(here, "..", "configs", "bert-base-long.json"))
    ap.add_argument("--layers", type=int, default=0, help="layers (default: the config's)")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "0") or 0) or
                    os.cpu_count())
    ap.add_argument("--seqs", default="128,512,2048,8192")
    ap.add_argument("--tokens", type=int, default=4096, help="tokens per batch (batch = tokens/seq, >= 1)")
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1, help="runs of each, alternating; the fastest is kept")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--seq", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return torch_worker(a)
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), OMP_PLACES="cores", OMP_PROC_BIND="close")
    if os.getuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    with open(a.config) as f:
        L = a.layers or json.load(f)["num_hidden_layers"]
    rows = []
    for seq in [int(s) for s in a.seqs.replace(" ", ",").split(",") if s]:
        batch = max(1, a.tokens // seq)
        t0 = time.time()
        tj = sj = None
        for _ in range(a.repeat):  # alternate the two; keep each one's fastest run
            t, tr = spawn([sys.executable, os.path.abspath(__file__), "--worker", "--config", a.config,
                           "--layers", str(L), "--threads", str(a.threads), "--seq", str(seq), "--batch",
                           str(batch), "--iters", str(a.iters), "--warmup", str(a.warmup)], env)
            s, sr = spawn([a.shardenc, "bench", "--config", a.config, "--seq", str(seq), "--batch", str(batch),
                           "--layers", str(L), "--iters", str(a.iters), "--warmup", str(a.warmup), "--json"], env)
            if tj is None or t["tokens_per_s"] > tj["tokens_per_s"]:
                tj = t
            if sj is None or s["tokens_per_s"] > sj["tokens_per_s"]:
                sj = s
            trss = tr if tj is t else trss
            srss = sr if sj is s else srss
        if sj["threads"] != a.threads or tj["threads"] != a.threads:
            raise SystemExit("compare_pytorch: thread counts differ: shardenc %d, torch %d, want %d" % (
                sj["threads"], tj["threads"], a.threads))
        rows.append((seq, batch, sj["tokens_per_s"], tj["tokens_per_s"], srss, trss, sj["pct_of_sgemm"]))
        print("seq %5d x batch %2d: shardenc %8.1f tok/s, torch %8.1f tok/s (%.0f s)" % (
            seq, batch, sj["tokens_per_s"], tj["tokens_per_s"], time.time() - t0), file=sys.stderr)
    print("%s, %d layers, %d threads, float32, torch %s" % (os.path.basename(a.config), L, a.threads, tj["torch"]))
    hdr = ["seq x batch", "shardenc tok/s", "PyTorch tok/s", "speed ratio (shardenc/PyTorch)",
           "shardenc peak MiB", "PyTorch peak MiB", "memory ratio (shardenc/PyTorch)", "shardenc % of sgemm"]
    if a.markdown:
        print("| " + " | ".join(hdr) + " |")
        print("|" + "---:|" * len(hdr))
    else:
        print("  ".join(hdr))
    for seq, batch, s, t, sr, tr, pct in rows:
        cells = ["%d x %d" % (seq, batch), "%.0f" % s, "%.0f" % t, "%.2f" % (s / t), "%.0f" % (sr / 2 ** 20),
                 "%.0f" % (tr / 2 ** 20), "%.2f" % (sr / tr), "%.0f %%" % pct]
        print(("| " + " | ".join(cells) + " |") if a.markdown else "  ".join(cells))


if __name__ == "__main__":
    main()
