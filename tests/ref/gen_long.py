#!/usr/bin/python3
"""Reference fixture for the long-context families of issue 12: ModernBERT
(RoPE with a global and a local theta, every global_attn_every_n_layers-th
layer global and the others a sliding window, pre-LN with bias-free norms and
linears, no attention norm in layer 0, a final norm, GeGLU through Wi/Wo).

    /usr/bin/python3 tests/ref/gen_long.py [--out DIR] [--drift]

Writes tests/fixtures/models/tiny_modernbert/ (config.json in the older
global/local theta format, config_layer_types.json in the newer layer_types +
rope_parameters format, model.safetensors under ModernBertForMaskedLM's
`model.` prefix, input.jsonl, ref_tokens.npy, ref_offsets.npy, ref_*.npy
pooled). --drift measures how far Hugging Face's float32 RoPE tables move the
last hidden state from exact (double) RoPE at 2048 and 8192 tokens (README).

The reference is written from transformers' modeling_modernbert.py
(huggingface/transformers src/transformers/models/modernbert/modeling_modernbert.py,
commit 000c33fdfde12e1ffafbfcdb3c926df5727a00b6), eager attention path, and
reads the checkpoint by its tensor names:
  ModernBertEmbeddings.forward (l. ~200-215): drop(norm(tok_embeddings(ids))),
      norm = nn.LayerNorm(hidden, eps=norm_eps, bias=norm_bias)
  ModernBertMLP.forward (l. ~235): input, gate = Wi(h).chunk(2, dim=-1);
      Wo(act(input) * gate), act = ACT2FN[hidden_activation] ("gelu": erf GELU)
  ModernBertRotaryEmbedding.compute_default_rope_parameters / forward (l. ~250-320):
      inv_freq = 1 / base ** (arange(0, dim, 2) / dim); freqs = pos * inv_freq;
      emb = cat(freqs, freqs); cos, sin   (float32 there; float64 here, see --drift)
  rotate_half / apply_rotary_pos_emb (l. ~325-360): q*cos + rotate_half(q)*sin,
      rotate_half(x) = cat(-x2, x1)  (halves, not interleaved)
  eager_attention_forward (l. ~363-395): qkv.view(bs, -1, 3, heads, head_dim);
      scores = q k^T * head_dim**-0.5 + (sliding_window_mask if local else mask)
  ModernBertAttention.__init__ (l. ~500-520): local iff layer_id %
      global_attn_every_n_layers != 0, local_attention = (w // 2, w // 2), the
      theta of rope_parameters[layer_types[layer_id]]
  ModernBertModel._update_attention_mask: window_mask = |rows - rows.T| <=
      local_attention // 2 (the key is masked with finfo.min outside)
  ModernBertEncoderLayer (l. ~540-580): attn_norm = Identity() for layer 0;
      h = h + attn(attn_norm(h)); h = h + mlp(mlp_norm(h))
  ModernBertModel.forward: hidden = final_norm(hidden) after the layers.
Batch size 1 per document (no padding), so the unpadded flash path and the
eager path agree.
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_reference as G  # noqa: E402

ROOT, DEFAULT_OUT = G.ROOT, G.DEFAULT_OUT  # importing G set torch to 1 thread and float64

CFG = {
    "model_type": "modernbert", "architectures": ["ModernBertForMaskedLM"],
    "hidden_size": 48, "num_attention_heads": 6, "num_hidden_layers": 4, "intermediate_size": 40,
    "hidden_activation": "gelu", "max_position_embeddings": 64, "vocab_size": 120,
    "norm_eps": 1e-5, "norm_bias": False, "attention_bias": False, "mlp_bias": False,
    "global_rope_theta": 160000.0, "local_rope_theta": 10000.0, "global_attn_every_n_layers": 3,
    "local_attention": 10, "pad_token_id": 0, "cls_token_id": 1, "sep_token_id": 2,
}


def N(rng, shape, std):
    return (rng.standard_normal(shape) * std).astype(np.float32)


def checkpoint(cfg, seed):
    rng = np.random.default_rng(seed)
    D, Fd, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    t = [("model.embeddings.tok_embeddings.weight", N(rng, (V, D), 1.0)),
         ("model.embeddings.norm.weight", (1 + N(rng, (D,), 0.1)).astype(np.float32))]
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        if i > 0:
            t.append((p + "attn_norm.weight", (1 + N(rng, (D,), 0.1)).astype(np.float32)))
        t += [(p + "attn.Wqkv.weight", N(rng, (3 * D, D), 0.6 / np.sqrt(D))),
              (p + "attn.Wo.weight", N(rng, (D, D), 1 / np.sqrt(D))),
              (p + "mlp_norm.weight", (1 + N(rng, (D,), 0.1)).astype(np.float32)),
              (p + "mlp.Wi.weight", N(rng, (2 * Fd, D), 1.6 / np.sqrt(D))),
              (p + "mlp.Wo.weight", N(rng, (D, Fd), 1 / np.sqrt(Fd)))]
    t.append(("model.final_norm.weight", (1 + N(rng, (D,), 0.1)).astype(np.float32)))
    return t


def rope_tables(n, dim, base, dtype):
    inv = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).to(dtype) / dim))
    freqs = torch.arange(n, dtype=dtype)[:, None] * inv[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(torch.float64), emb.sin().to(torch.float64)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def ln(x, w, eps):
    return F.layer_norm(x, (x.shape[-1],), w, None, eps)


def forward(cfg, W, ids, wrong=None, rope_dtype=torch.float64):
    """Last hidden state [n, D] of one document; wrong names a deliberate
    deviation for the sensitivity checks."""
    D, H, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
    dh, eps, n = D // H, cfg["norm_eps"], len(ids)
    h = ln(W["model.embeddings.tok_embeddings.weight"][torch.tensor(ids)], W["model.embeddings.norm.weight"], eps)
    r = torch.arange(n)
    window = (r[None, :] - r[:, None]).abs() <= cfg["local_attention"] // 2
    for i in range(L):
        p = "model.layers.%d." % i
        local = i % cfg["global_attn_every_n_layers"] != 0 and wrong != "all_global"
        theta = cfg["local_rope_theta"] if local else cfg["global_rope_theta"]
        cos, sin = rope_tables(n, dh, theta, rope_dtype)
        x = h if i == 0 else ln(h, W[p + "attn_norm.weight"], eps)
        qkv = (x @ W[p + "attn.Wqkv.weight"].T).view(n, 3, H, dh)  # eager_attention_forward's view
        q, k, v = (qkv[:, j].transpose(0, 1) for j in range(3))  # [H, n, dh]
        if wrong == "interleaved":
            def rot(t):
                t2 = t.view(H, n, dh // 2, 2)
                c, s = cos[:, : dh // 2], sin[:, : dh // 2]
                return torch.stack((t2[..., 0] * c - t2[..., 1] * s, t2[..., 1] * c + t2[..., 0] * s), -1).view(H, n, dh)
            q, k = rot(q), rot(k)
        else:
            q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        s = q @ k.transpose(1, 2) * dh ** -0.5
        if local:
            s = s.masked_fill(~window, torch.finfo(torch.float64).min)
        a = (torch.softmax(s, dim=-1) @ v).transpose(0, 1).reshape(n, D)
        h = h + a @ W[p + "attn.Wo.weight"].T
        x = ln(h, W[p + "mlp_norm.weight"], eps)
        inp, gate = (x @ W[p + "mlp.Wi.weight"].T).chunk(2, dim=-1)
        if wrong == "gate_swapped":
            inp, gate = gate, inp
        h = h + (F.gelu(inp) * gate) @ W[p + "mlp.Wo.weight"].T
    return ln(h, W["model.final_norm.weight"], eps)


def docs(cfg, seed):
    d = G.bert_docs(seed, cfg["vocab_size"], cfg["max_position_embeddings"], 1, cls_id=1, sep_id=2, first=3)
    for x in d:
        x.pop("token_type_ids", None)
    return d


def generate(out_dir):
    cfg = CFG
    d = os.path.join(out_dir, "tiny_modernbert")
    os.makedirs(d, exist_ok=True)
    tensors = checkpoint(cfg, 401)
    W = {n: torch.from_numpy(a.astype(np.float64)) for n, a in tensors}
    G.write_json(os.path.join(d, "config.json"), cfg)
    # the newer format: layer_types + rope_parameters instead of the theta keys
    new = {k: v for k, v in cfg.items() if k not in ("global_rope_theta", "local_rope_theta")}
    new["layer_types"] = ["sliding_attention" if i % cfg["global_attn_every_n_layers"] else "full_attention"
                          for i in range(cfg["num_hidden_layers"])]
    new["rope_parameters"] = {"full_attention": {"rope_type": "default", "rope_theta": cfg["global_rope_theta"]},
                              "sliding_attention": {"rope_type": "default", "rope_theta": cfg["local_rope_theta"]}}
    G.write_json(os.path.join(d, "config_layer_types.json"), new)
    G.write_safetensors(os.path.join(d, "model.safetensors"), tensors, "F32")
    ds = docs(cfg, 501)
    G.write_jsonl(os.path.join(d, "input.jsonl"), ds)
    outs, offs = [], [0]
    for doc in ds:
        outs.append(forward(cfg, W, doc["input_ids"]))
        offs.append(offs[-1] + len(doc["input_ids"]))
    tok = torch.cat(outs, 0)
    # the fixture tells the variants apart: all layers global, interleaved RoPE
    # pairs, the GeGLU halves swapped each move the output far past 1e-5
    for wrong in ("all_global", "interleaved", "gate_swapped"):
        alt = torch.cat([forward(cfg, W, doc["input_ids"], wrong) for doc in ds], 0)
        e = float(torch.linalg.norm(alt - tok) / torch.linalg.norm(tok))
        assert e > 1e-3, (wrong, e)
        print("  sensitivity %-12s %.2e" % (wrong, e))
    G.save_npy(os.path.join(d, "ref_tokens.npy"), tok.numpy().astype(np.float32))
    G.save_npy(os.path.join(d, "ref_offsets.npy"), np.array(offs, dtype=np.int64))
    pooled = G.pool(tok, offs)
    for k in ("cls", "mean", "max"):
        G.save_npy(os.path.join(d, "ref_%s.npy" % k), pooled[k].numpy().astype(np.float32))
    print("tiny_modernbert %d tokens, %d tensors" % (offs[-1], len(tensors)))


def drift():
    """Relative Frobenius distance of the last hidden state with float32 RoPE
    tables (as transformers builds them) from double tables, one document."""
    for n in (2048, 8192):
        cfg = dict(CFG, hidden_size=128, num_attention_heads=2, num_hidden_layers=2, intermediate_size=64,
                   max_position_embeddings=n, vocab_size=1000, global_attn_every_n_layers=1)
        W = {k: torch.from_numpy(a.astype(np.float64)) for k, a in checkpoint(cfg, 7)}
        ids = np.random.default_rng(8).integers(3, 1000, size=n).tolist()
        a = forward(cfg, W, ids)
        b = forward(cfg, W, ids, rope_dtype=torch.float32)
        print("n=%d head_dim 64 theta %g: float32 RoPE tables drift %.2e (relative, last hidden state)"
              % (n, cfg["global_rope_theta"], float(torch.linalg.norm(a - b) / torch.linalg.norm(a))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--drift", action="store_true")
    args = ap.parse_args()
    if args.drift:
        drift()
    else:
        generate(args.out)


if __name__ == "__main__":
    main()
