#!/usr/bin/python3
"""shardenc against an eager PyTorch model of the same long-context shape, in one run.

  /usr/bin/python3 launch/compare_long.py [--shardenc BIN] [--layers L] [--threads 2,1]
        [--seqs 2048,8192,32768] [--iters K] [--warmup W] [--repeat N] [--long-seq S]
        [--peer-mem-gib G] [--timeout SECONDS] [--markdown] CONFIG.json [CONFIG.json ...]

Families: modernbert and nomic_bert (model_type of each config). For every
config, thread count and sequence length (one sequence, batch 1) it alternates
`repeat` times, each in its own child process with OMP_NUM_THREADS=T,
OMP_PLACES=cores, OMP_PROC_BIND=close:
  * shardenc bench --config C --seq S --batch 1 --layers L --json (1 rank);
  * the PyTorch peer below, float32, no dropout, torch.inference_mode(),
    torch.set_num_threads(T) (checked), the same L layers;
and keeps each one's fastest run (stderr gets both as raw JSON, a line per
cell). Sequences >= --long-seq (default 16384) run once, without warm-up (a
32k forward takes minutes here).

The peer is the model's own eager code rewritten as plain torch (transformers
is not installed here; Debian's torch 1.13 has no scaled_dot_product_attention,
so the eager matmul-softmax path is what this torch offers):
  * modernbert: transformers src/transformers/models/modernbert/modeling_modernbert.py
    (the commit tests/ref/gen_long.py cites): ModernBertEmbeddings (norm of
    tok_embeddings), ModernBertModel._update_attention_mask (a [1,1,n,n]
    additive global mask from _prepare_4d_attention_mask and the sliding-window
    mask: |rows - rows.T| <= local_attention // 2, finfo.min outside),
    ModernBertRotaryEmbedding (float32 inv_freq, recomputed per layer call),
    eager_attention_forward (q k^T * scale + mask on the full n x n matrix, also
    on local layers; softmax; @ v), ModernBertEncoderLayer (no attn_norm in
    layer 0, pre-LN residuals), ModernBertMLP (Wi -> chunk -> act(input) * gate
    -> Wo), final_norm.
  * nomic_bert: nomic-ai/contrastors src/contrastors/models/huggingface/
    modeling_hf_nomic_bert.py (the remote code nomic-embed-text-v1.5 names):
    NomicBertEmbeddings (word + token type, no positions with rotary),
    emb_ln, NomicBertRotaryEmbedding / NomicBertDynamicNTKRotaryEmbedding
    (float32 cos/sin of rotary_emb_fraction * head_dim, halves layout unless
    rotary_emb_interleaved; NTK base when rotary_scaling_factor is set and
    seqlen > max_trained_positions), NomicBertAttention (Wqkv, q k^T /
    sqrt(head_dim) + extended mask, softmax, @ v, out_proj), NomicBertBlock
    post-norm (norm1(attn + h), norm2(mlp + h)), NomciBertGatedMLP (fc11(x) *
    silu(fc12(x)) -> fc2, hidden rounded up to a multiple of 256).
Weights are random (torch's default init): only shapes and arithmetic matter.

Before it runs, the peer estimates its own peak (weights, the two live n x n x
heads fp32 score tensors of one layer, ModernBERT's two n x n masks and the
int64 distance matrix that builds them); above --peer-mem-gib (default: 70 %
of MemAvailable when the script starts) it does not run and the row says what
it would need. An allocation failure or --timeout (default 1800 s per child) is
reported the same way, never as a crash of the table.

Memory: shardenc's "encoder peak" is bench's peak_rss_bytes (max RSS after the
forward, before bench's sgemm reference allocates), "process" the child's
ru_maxrss (os.wait4), as for the peer. Full-depth estimates: --layers L of the
config's N layers are measured; the peer's layers all cost the same (local
layers too), so its time scales by N / L; shardenc's non-attention time scales
by N / L and its attention time by (global layers in N) / (global layers in L),
which counts local layers at the global rate: an upper bound on the time.
Weights of the missing layers (Wqkv, Wo, gated up, down; fp32) are added to both peaks.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_pytorch import spawn  # noqa: E402

MiB = 2.0 ** 20
GiB = 2.0 ** 30


def cfg_get(c, *keys, default=None):
    for k in keys:
        if k in c and c[k] is not None:
            return c[k]
    return default


def shape_of(c):
    """(family, d, heads, layers, d_ff, vocab) from either family's key names."""
    fam = c.get("model_type")
    if fam not in ("modernbert", "nomic_bert"):
        raise SystemExit("compare_long: model_type %r: only modernbert and nomic_bert have a peer" % fam)
    d = cfg_get(c, "hidden_size", "n_embd")
    h = cfg_get(c, "num_attention_heads", "n_head")
    L = cfg_get(c, "num_hidden_layers", "n_layer")
    dff = cfg_get(c, "intermediate_size", "n_inner")
    v = c["vocab_size"]
    if fam == "nomic_bert":
        dff = (dff + 255) // 256 * 256  # NomciBertGatedMLP: multiple_of=256
        m = c.get("pad_vocab_size_multiple", 1)
        v = (v + m - 1) // m * m  # NomicBertModel.__init__ pads the vocabulary
    return fam, d, h, L, dff, v


def n_global(c, L):
    """Layers of the first L that attend globally (ModernBertAttention: layer_id %
    global_attn_every_n_layers == 0); every layer for families without windows."""
    if c.get("model_type") != "modernbert":
        return L
    every = c.get("global_attn_every_n_layers", 1) or 1
    return sum(1 for i in range(L) if i % every == 0)


def layer_weight_bytes(c):
    """fp32 bytes of one layer's matrices (norms and biases left out): Wqkv, Wo,
    the gated up projection (Wi, or fc11 + fc12) and the down projection."""
    _, d, _, _, dff, _ = shape_of(c)
    return 4.0 * (3 * d * d + d * d + 2 * dff * d + dff * d)


def peer_need_bytes(c, L, n):
    fam, d, h, _, dff, v = shape_of(c)
    wdff = 2 * dff
    weights = 4.0 * v * d + L * layer_weight_bytes(c)
    scores = 2 * 4.0 * h * n * n  # one layer's scores and the next op's output
    acts = 4.0 * n * (3 * d + wdff + 4 * d) * 2
    masks = (2 * 4.0 + 8.0) * n * n if fam == "modernbert" else 0.0
    return weights + scores + acts + masks


def modernbert_peer(torch, c, L, n):
    import torch.nn.functional as F
    _, d, H, _, dff, V = shape_of(c)
    dh, eps = d // H, c.get("norm_eps", 1e-5)
    every = c.get("global_attn_every_n_layers", 1) or 1
    win = c.get("local_attention", 128)
    g_theta = cfg_get(c, "global_rope_theta", default=160000.0)
    l_theta = cfg_get(c, "local_rope_theta", default=10000.0)
    rp = c.get("rope_parameters")
    if isinstance(rp, dict) and "full_attention" in rp:  # newer format
        g_theta = rp["full_attention"].get("rope_theta", g_theta)
        l_theta = rp.get("sliding_attention", {}).get("rope_theta", l_theta)
    act = {"gelu": F.gelu, "silu": F.silu, "relu": F.relu}[c.get("hidden_activation", "gelu")]
    lin = lambda i, o: torch.nn.Linear(i, o, bias=False)  # noqa: E731
    tok = torch.nn.Embedding(V, d)
    ones = lambda: torch.ones(d)  # noqa: E731
    layers = [dict(attn_norm=None if i == 0 else ones(), Wqkv=lin(d, 3 * d), Wo=lin(d, d), mlp_norm=ones(),
                   Wi=lin(d, 2 * dff), Wo2=lin(dff, d), local=i % every != 0) for i in range(L)]
    emb_norm, final_norm = ones(), ones()

    def rotate_half(x):
        x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
        return torch.cat((-x2, x1), dim=-1)

    def rope(theta, pos):  # ModernBertRotaryEmbedding.forward, float32 as there
        inv = 1.0 / (theta ** (torch.arange(0, dh, 2, dtype=torch.int64).float() / dh))
        freqs = (inv[None, :, None] @ pos[:, None, :].float()).transpose(1, 2)
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos(), emb.sin()

    def fwd(ids):
        bs = ids.shape[0]
        pos = torch.arange(n).unsqueeze(0)
        # _update_attention_mask: expanded additive mask and the sliding-window mask
        am = torch.ones(bs, n)
        gmask = ((1.0 - am[:, None, None, :].expand(bs, 1, n, n)) * torch.finfo(torch.float32).min)
        rows = torch.arange(n).unsqueeze(0)
        distance = torch.abs(rows - rows.T)
        window = (distance <= win // 2).unsqueeze(0).unsqueeze(0)
        del distance
        smask = gmask.masked_fill(window.logical_not(), torch.finfo(torch.float32).min)
        del window
        h = F.layer_norm(tok(ids), (d,), emb_norm, None, eps)
        for ly in layers:
            x = h if ly["attn_norm"] is None else F.layer_norm(h, (d,), ly["attn_norm"], None, eps)
            qkv = ly["Wqkv"](x).view(bs, -1, 3, H, dh)
            cos, sin = rope(l_theta if ly["local"] else g_theta, pos)
            q, k, v = qkv.transpose(3, 1).unbind(dim=2)
            cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
            q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
            s = torch.matmul(q, k.transpose(2, 3)) * dh ** -0.5
            s = s + (smask if ly["local"] else gmask)
            s = torch.softmax(s, dim=-1, dtype=torch.float32).to(q.dtype)
            a = torch.matmul(s, v)
            del s
            a = a.transpose(1, 2).contiguous().view(bs, -1, d)
            h = h + ly["Wo"](a)
            inp, gate = ly["Wi"](F.layer_norm(h, (d,), ly["mlp_norm"], None, eps)).chunk(2, dim=-1)
            h = h + ly["Wo2"](act(inp) * gate)
        return F.layer_norm(h, (d,), final_norm, None, eps)

    return fwd, V


def nomic_peer(torch, c, L, n):
    import torch.nn.functional as F
    _, d, H, _, dff, V = shape_of(c)
    dh, eps = d // H, cfg_get(c, "layer_norm_epsilon", "layer_norm_eps", default=1e-12)
    rdim = int(dh * cfg_get(c, "rotary_emb_fraction", default=1.0))
    base = float(cfg_get(c, "rotary_emb_base", default=10000.0))
    inter = bool(c.get("rotary_emb_interleaved", False))
    scaling = c.get("rotary_scaling_factor")
    trained = cfg_get(c, "max_trained_positions", default=2048)
    qb = bool(c.get("qkv_proj_bias", True))
    b1, b2 = bool(c.get("mlp_fc1_bias", True)), bool(c.get("mlp_fc2_bias", True))
    act = {"swiglu": F.silu, "geglu": F.gelu}.get(c.get("activation_function", "swiglu"))
    if act is None:
        raise SystemExit("compare_long: nomic_bert activation_function %r: only swiglu/geglu" %
                         c.get("activation_function"))
    word, ttype = torch.nn.Embedding(V, d), torch.nn.Embedding(max(1, c.get("type_vocab_size", 2)), d)
    emb_ln = torch.nn.LayerNorm(d, eps=eps)
    layers = [dict(Wqkv=torch.nn.Linear(d, 3 * d, bias=qb), out=torch.nn.Linear(d, d, bias=qb),
                   norm1=torch.nn.LayerNorm(d, eps=eps), norm2=torch.nn.LayerNorm(d, eps=eps),
                   fc11=torch.nn.Linear(d, dff, bias=b1), fc12=torch.nn.Linear(d, dff, bias=b1),
                   fc2=torch.nn.Linear(dff, d, bias=b2)) for _ in range(L)]
    b = base
    if scaling and n > trained:  # NomicBertDynamicNTKRotaryEmbedding._update_cos_sin_cache
        b = base * ((scaling * n / trained) - (scaling - 1)) ** (rdim / (rdim - 2))
    inv = 1.0 / (b ** (torch.arange(0, rdim, 2, dtype=torch.float32) / rdim))
    freqs = torch.outer(torch.arange(n, dtype=torch.float32), inv)
    cos_c, sin_c = torch.cos(freqs), torch.sin(freqs)

    def rotate_half(x):
        if not inter:
            x1, x2 = x.chunk(2, dim=-1)
            return torch.cat((-x2, x1), dim=-1)
        x1, x2 = x[..., ::2], x[..., 1::2]
        return torch.stack((-x2, x1), dim=-1).flatten(-2)

    def apply_rotary_emb(x):  # x: (batch, seqlen, nheads, headdim)
        rep = (lambda t: t.repeat(1, 2)) if not inter else (lambda t: t.repeat_interleave(2, dim=-1))
        cos, sin = rep(cos_c)[:, None, :], rep(sin_c)[:, None, :]
        return torch.cat([x[..., :rdim] * cos + rotate_half(x[..., :rdim]) * sin, x[..., rdim:]], dim=-1)

    norm_factor = math.sqrt(dh)

    def fwd(ids):
        bs = ids.shape[0]
        h = emb_ln(word(ids) + ttype(torch.zeros_like(ids)))
        am = torch.ones(bs, n)
        ext = (1.0 - am[:, None, None, :]) * torch.finfo(torch.float32).min  # get_extended_attention_mask
        for ly in layers:
            qkv = ly["Wqkv"](h).view(bs, n, 3, H, dh)
            if rdim > 0:
                qkv = torch.stack((apply_rotary_emb(qkv[:, :, 0]), apply_rotary_emb(qkv[:, :, 1]), qkv[:, :, 2]), 2)
            q, k, v = (qkv[:, :, j].permute(0, 2, 1, 3) for j in range(3))
            s = torch.matmul(q, k.transpose(-1, -2)) / norm_factor
            s = s + ext
            s = F.softmax(s, dim=-1)
            a = torch.matmul(s, v)
            del s
            a = a.permute(0, 2, 1, 3).reshape(bs, n, d)
            h = ly["norm1"](ly["out"](a) + h)
            y = ly["fc11"](h) * act(ly["fc12"](h))
            h = ly["norm2"](ly["fc2"](y) + h)
        return h

    return fwd, V


def peer_worker(a):
    with open(a.config) as f:
        c = json.load(f)
    need = peer_need_bytes(c, a.layers, a.seq)
    if need > a.peer_mem_gib * GiB:
        print(json.dumps({"error": "not run: needs ~%.1f GiB (cap %.1f GiB)" % (need / GiB, a.peer_mem_gib),
                          "need_bytes": need}))
        return
    import torch
    torch.set_num_threads(a.threads)
    got = torch.get_num_threads()
    if got != a.threads:
        sys.exit("torch.get_num_threads() = %d, want %d" % (got, a.threads))
    torch.manual_seed(1)
    fam = c["model_type"]
    fwd, V = (modernbert_peer if fam == "modernbert" else nomic_peer)(torch, c, a.layers, a.seq)
    ids = (torch.arange(a.seq) * 7919 % V).reshape(1, a.seq)
    try:
        with torch.inference_mode():
            for _ in range(a.warmup):
                fwd(ids)
            t = time.perf_counter()
            for _ in range(a.iters):
                out = fwd(ids)
            t = (time.perf_counter() - t) / a.iters
    except RuntimeError as e:  # DefaultCPUAllocator: can't allocate memory
        print(json.dumps({"error": "failed: %s" % str(e).splitlines()[0][:200], "need_bytes": need}))
        return
    assert out.shape == (1, a.seq, c.get("hidden_size", c.get("n_embd"))) and out.dtype == torch.float32
    print(json.dumps({"tokens_per_s": a.seq / t, "seconds": t, "threads": got, "torch": torch.__version__,
                      "need_bytes": need}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("configs", nargs="*", default=[os.path.join(here, "..", "configs", "modernbert-base.json")])
    ap.add_argument("--shardenc", default=os.environ.get("SHARDENC", os.path.join(here, "..", "build", "shardenc")))
    ap.add_argument("--layers", type=int, default=3, help="layers measured, the same for both (default 3)")
    ap.add_argument("--threads", default="2", help="comma list, e.g. 2,1")
    ap.add_argument("--seqs", default="2048,8192,32768")
    ap.add_argument("--iters", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=2, help="alternating runs of each; the fastest is kept")
    ap.add_argument("--long-seq", type=int, default=16384, help="from this length: one run, no warm-up")
    mem_avail = 0
    with open("/proc/meminfo") as f:
        for ln in f:
            if ln.startswith("MemAvailable:"):
                mem_avail = int(ln.split()[1]) * 1024
    ap.add_argument("--peer-mem-gib", type=float, default=round(0.7 * mem_avail / GiB, 1))
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per child before it is killed")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    ap.add_argument("--seq", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        a.threads = int(a.threads)
        return peer_worker(a)
    try:
        import torch  # noqa: F401  (the peer's; checked here so the table does not fail row by row)
    except ImportError:
        raise SystemExit("compare_long: %s cannot import torch (Debian: apt-get install python3-torch)" %
                         sys.executable)
    if not os.access(a.shardenc, os.X_OK):
        raise SystemExit("compare_long: %s not found (set SHARDENC=... or --shardenc)" % a.shardenc)
    env = dict(os.environ, OMP_PLACES="cores", OMP_PROC_BIND="close")
    if os.getuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    print("machine: %s; OPENBLAS_CORETYPE=%s; peer cap %.1f GiB; load at start %s" % (
        subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True,
                       text=True).stdout.strip() + ", %d cores" % os.cpu_count(),
        os.environ.get("OPENBLAS_CORETYPE", "<unset>"), a.peer_mem_gib, open("/proc/loadavg").read().split()[:3]))
    rows = []
    for config in a.configs:
        with open(config) as f:
            c = json.load(f)
        fam, _, _, Lf, _, _ = shape_of(c)
        L = min(a.layers, Lf)
        for T in [int(t) for t in a.threads.split(",") if t]:
            env["OMP_NUM_THREADS"] = str(T)
            for seq in [int(s) for s in a.seqs.split(",") if s]:
                long_ = seq >= a.long_seq
                warm, iters, rep = (0, 1, 1) if long_ else (a.warmup, a.iters, a.repeat)
                t0 = time.time()
                best_s = best_p = None
                for _ in range(rep):  # alternate; keep each one's fastest run
                    s, srss = spawn([a.shardenc, "bench", "--config", config, "--seq", str(seq), "--batch", "1",
                                     "--layers", str(L), "--iters", str(iters), "--warmup", str(warm), "--json"],
                                    env, timeout=a.timeout, check=False)
                    s["process_rss"] = srss
                    p, prss = spawn([sys.executable, os.path.abspath(__file__), "--worker", "--config", config,
                                     "--layers", str(L), "--threads", str(T), "--seq", str(seq), "--iters",
                                     str(iters), "--warmup", str(warm), "--peer-mem-gib", str(a.peer_mem_gib)],
                                    env, timeout=a.timeout, check=False)
                    p["process_rss"] = prss
                    if best_s is None or s.get("tokens_per_s", 0) > best_s.get("tokens_per_s", 0):
                        best_s = s
                    if best_p is None or p.get("tokens_per_s", 0) > best_p.get("tokens_per_s", 0):
                        best_p = p
                for j, who in ((best_s, "shardenc"), (best_p, "peer")):
                    if "threads" in j and j["threads"] != T:
                        raise SystemExit("compare_long: %s ran %d threads, want %d" % (who, j["threads"], T))
                rows.append((config, fam, L, Lf, T, seq, rep, best_s, best_p))
                print("raw: %s" % json.dumps({"config": config, "threads": T, "seq": seq, "shardenc": best_s,
                                              "peer": best_p}), file=sys.stderr)
                print("%s L=%d T=%d seq %d: shardenc %s, peer %s (%.0f s, load %s)" % (
                    os.path.basename(config), L, T, seq, best_s.get("tokens_per_s", best_s.get("error")),
                    best_p.get("tokens_per_s", best_p.get("error")), time.time() - t0,
                    open("/proc/loadavg").read().split()[0]), file=sys.stderr, flush=True)
    torch_v = next((r[8]["torch"] for r in rows if "torch" in r[8]), "?")
    hdr = ["shape", "seq", "threads", "runs", "shardenc tok/s", "PyTorch tok/s", "speed ratio",
           "shardenc peak MiB (encoder / process)", "PyTorch peak MiB", "memory ratio (encoder / PyTorch)",
           "full depth: est. tok/s shardenc / PyTorch", "full depth: est. peak MiB shardenc / PyTorch"]
    print("float32, one sequence (batch 1), 1 rank; measured: the first L layers (same for both); "
          "peer: eager torch %s" % torch_v)
    if a.markdown:
        print("| " + " | ".join(hdr) + " |")
        print("|---|" + "---:|" * (len(hdr) - 1))
    else:
        print("  ".join(hdr))
    for config, fam, L, Lf, T, seq, rep, s, p in rows:
        cells = ["%s (%s), %d of %d layers" % (os.path.basename(config), fam, L, Lf), str(seq), str(T), str(rep)]
        sok, pok = "tokens_per_s" in s, "tokens_per_s" in p
        cells.append("%.0f" % s["tokens_per_s"] if sok else s["error"][:120])
        cells.append("%.0f" % p["tokens_per_s"] if pok else p["error"][:120])
        cells.append("%.2f" % (s["tokens_per_s"] / p["tokens_per_s"]) if sok and pok else "-")
        cells.append("%.0f / %.0f" % (s["peak_rss_bytes"] / MiB, s["process_rss"] / MiB) if sok else "-")
        cells.append("%.0f" % (p["process_rss"] / MiB) if pok else
                     ("needs ~%.0f" % (p["need_bytes"] / MiB) if "need_bytes" in p else "-"))
        cells.append("%.2f" % (s["peak_rss_bytes"] / p["process_rss"]) if sok and pok else "-")
        est_s = est_p = "-"
        extra = layer_weight_bytes(c_of(config)) * (Lf - L)
        if sok:
            att = s["breakdown"]["attention"]
            t_full = (s["seconds"] - att) * Lf / L + att * n_global(c_of(config), Lf) / n_global(c_of(config), L)
            est_s = "%.0f" % (seq / t_full)
        if pok:
            est_p = "%.0f" % (p["tokens_per_s"] * L / Lf)
        cells.append("%s / %s" % (est_s, est_p))
        cells.append("%s / %s" % ("%.0f" % ((s["peak_rss_bytes"] + extra) / MiB) if sok else "-",
                                  "%.0f" % ((p["process_rss"] + extra) / MiB) if pok else
                                  ("needs ~%.0f" % ((p["need_bytes"] + extra) / MiB) if "need_bytes" in p else "-")))
        print(("| " + " | ".join(cells) + " |") if a.markdown else "  ".join(cells))


def c_of(config):
    with open(config) as f:
        return json.load(f)


if __name__ == "__main__":
    main()
