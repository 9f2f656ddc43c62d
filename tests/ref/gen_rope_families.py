#!/usr/bin/python3
"""Reference fixtures for the post-norm RoPE families of issue 12: NomicBERT
(nomic_bert) and GTE "new".

    /usr/bin/python3 tests/ref/gen_rope_families.py [--out DIR]

Writes tests/fixtures/models/tiny_nomic_bert/ and tiny_gte_new/ (config.json,
model.safetensors, input.jsonl, ref_tokens.npy, ref_offsets.npy, ref_*.npy
pooled). tiny_nomic_bert also has config_interleaved.json (half the head
rotated, interleaved pairs, no NTK) with ref_interleaved_tokens.npy.

NomicBERT, from nomic-ai/contrastors
src/contrastors/models/huggingface/modeling_hf_nomic_bert.py (the remote code
the nomic-embed hub repos name), commit 613ddfd37309e538cceadb05b1e6423e7b09f603:
  NomicBertModel.__init__ (l. 1651-1673): vocab_size padded up to
      pad_vocab_size_multiple; forward (l. 1675-1690): emb_ln(embeddings(ids, types))
  NomicBertEmbeddings.forward (l. 980-1000): word + token_type, no position
      table when rotary_emb_fraction > 0 (l. 970)
  NomciBertGatedMLP (l. 1031-1071): hidden = n_inner rounded up to a multiple of
      256; y = fc11(x); gate = fc12(x); fc2(y * act(gate)); swiglu = F.silu
      (NomicBertBlock.__init__, l. 1427-1431)
  apply_rotary_emb / rotate_half (l. 1074-1099): the first ro_dim dims rotate,
      halves (cat(-x2, x1)) or interleaved pairs (stack(-x2, x1) over x[::2], x[1::2])
  NomicBertRotaryEmbedding (l. 1102-1212): inv_freq = 1 / base ** (arange(0, dim, 2) / dim),
      dim = head_dim * rotary_emb_fraction; freqs = outer(t, inv_freq)
  NomicBertDynamicNTKRotaryEmbedding._update_cos_sin_cache (l. 1226-1240): for
      seqlen > max_trained_positions, base = base * ((f * seqlen / T) - (f - 1)) ** (dim / (dim - 2))
  NomicBertAttention.forward (l. 1345-1414): Wqkv, rearrange "(three h d)",
      rotary on q and k, scaled_dot_product_attention (scale head_dim^-0.5), out_proj
  NomicBertBlock.forward, prenorm False (l. 1505-1514): h = norm1(attn(h) + h);
      h = norm2(mlp(h) + h)
The original caches its tables and keys dynamic NTK on the (padded) batch
length: the reference is the original at batch size 1 with a fresh cache per
document (README). Angles in float64 here (float32 in the original: README, RoPE).

GTE "new", from the remote code Alibaba-NLP/new-impl modeling.py (as kept in
the public code index: no commit id available), classes:
  NewEmbeddings._init_rope / forward: word (+ token_type if type_vocab_size > 0),
      LayerNorm; rope_scaling {type: ntk} -> NTKScalingRotaryEmbedding(dim = hidden/heads)
  NTKScalingRotaryEmbedding.__init__ / _set_cos_sin_cache: tables built at init for
      max_position_embeddings * factor > max_position_embeddings positions, so
      base = base * factor; inv_freq = 1 / base ** (arange(0, dim, 2) / dim);
      inv_freq = inv_freq / factor ** (2 / dim); emb = cat(freqs, freqs)
  apply_rotary_pos_emb / rotate_half: q * cos + rotate_half(q) * sin (halves)
  NewAttention.forward / _attention: qkv_proj(h).split(all_head_size), view (heads, head_dim),
      scores / sqrt(head_dim), softmax, o_proj
  NewGatedMLP.forward: up_states, gate = split(up_gate_proj(h), intermediate_size);
      down_proj(act_fn(gate) * up_states)
  NewLayer.forward: h = attn_ln(h + attn(h)); h = mlp_ln(h + mlp(h))
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

NOMIC = {
    "model_type": "nomic_bert", "architectures": ["NomicBertModel"], "activation_function": "swiglu",
    "n_embd": 32, "n_head": 4, "n_layer": 1, "n_inner": 200, "n_positions": 40, "max_trained_positions": 16,
    "vocab_size": 100, "pad_vocab_size_multiple": 8, "type_vocab_size": 2, "layer_norm_epsilon": 1e-12,
    "prenorm": False, "parallel_block": False, "causal": False, "qkv_proj_bias": False, "mlp_fc1_bias": False,
    "mlp_fc2_bias": False, "use_rms_norm": False, "rotary_emb_base": 1000, "rotary_emb_fraction": 1.0,
    "rotary_emb_interleaved": False, "rotary_emb_scale_base": None, "rotary_scaling_factor": 2.0,
    "pad_token_id": 0,
}
NOMIC_INTERLEAVED = dict(NOMIC, rotary_emb_fraction=0.5, rotary_emb_interleaved=True, rotary_scaling_factor=None)

GTE = {
    "model_type": "new", "architectures": ["NewModel"], "hidden_size": 24, "num_attention_heads": 6,
    "num_hidden_layers": 2, "intermediate_size": 40, "hidden_act": "gelu", "max_position_embeddings": 40,
    "vocab_size": 100, "type_vocab_size": 0, "layer_norm_eps": 1e-12, "layer_norm_type": "layer_norm",
    "position_embedding_type": "rope", "rope_theta": 1000.0, "rope_scaling": {"factor": 2.0, "type": "ntk"},
    "pack_qkv": True, "unpad_inputs": False, "use_memory_efficient_attention": False,
    "logn_attention_scale": False, "pad_token_id": 0,
}


def N(rng, shape, std):
    return (rng.standard_normal(shape) * std).astype(np.float32)


def ln_pair(rng, D):
    return (1 + N(rng, (D,), 0.1)).astype(np.float32), N(rng, (D,), 0.1)


def nomic_dims(cfg):
    V = cfg["vocab_size"]
    m = cfg["pad_vocab_size_multiple"]
    V = (V + m - 1) // m * m
    Fd = (cfg["n_inner"] + 255) // 256 * 256
    return cfg["n_embd"], cfg["n_head"], cfg["n_layer"], Fd, V


def nomic_checkpoint(cfg, seed):
    rng = np.random.default_rng(seed)
    D, H, L, Fd, V = nomic_dims(cfg)
    g, b = ln_pair(rng, D)
    t = [("embeddings.word_embeddings.weight", N(rng, (V, D), 1.0)),
         ("embeddings.token_type_embeddings.weight", N(rng, (cfg["type_vocab_size"], D), 0.5)),
         ("emb_ln.weight", g), ("emb_ln.bias", b)]
    for i in range(L):
        p = "encoder.layers.%d." % i
        g1, b1 = ln_pair(rng, D)
        g2, b2 = ln_pair(rng, D)
        t += [(p + "attn.Wqkv.weight", N(rng, (3 * D, D), 1.2 / np.sqrt(D))),
              (p + "attn.out_proj.weight", N(rng, (D, D), 1 / np.sqrt(D))),
              (p + "norm1.weight", g1), (p + "norm1.bias", b1),
              (p + "mlp.fc11.weight", N(rng, (Fd, D), 1.6 / np.sqrt(D))),
              (p + "mlp.fc12.weight", N(rng, (Fd, D), 1.6 / np.sqrt(D))),
              (p + "mlp.fc2.weight", N(rng, (D, Fd), 1 / np.sqrt(Fd))),
              (p + "norm2.weight", g2), (p + "norm2.bias", b2)]
    return t


def gte_checkpoint(cfg, seed):
    rng = np.random.default_rng(seed)
    D, Fd, V, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"], cfg["num_hidden_layers"]
    g, b = ln_pair(rng, D)
    t = [("embeddings.word_embeddings.weight", N(rng, (V, D), 1.0)),
         ("embeddings.LayerNorm.weight", g), ("embeddings.LayerNorm.bias", b)]
    for i in range(L):
        p = "encoder.layer.%d." % i
        g1, b1 = ln_pair(rng, D)
        g2, b2 = ln_pair(rng, D)
        t += [(p + "attention.qkv_proj.weight", N(rng, (3 * D, D), 1.2 / np.sqrt(D))),
              (p + "attention.qkv_proj.bias", N(rng, (3 * D,), 0.1)),
              (p + "attention.o_proj.weight", N(rng, (D, D), 1 / np.sqrt(D))),
              (p + "attention.o_proj.bias", N(rng, (D,), 0.1)),
              (p + "attn_ln.weight", g1), (p + "attn_ln.bias", b1),
              (p + "mlp.up_gate_proj.weight", N(rng, (2 * Fd, D), 1.6 / np.sqrt(D))),
              (p + "mlp.down_proj.weight", N(rng, (D, Fd), 1 / np.sqrt(Fd))),
              (p + "mlp.down_proj.bias", N(rng, (D,), 0.1)),
              (p + "mlp_ln.weight", g2), (p + "mlp_ln.bias", b2)]
    return t


def rotate_half(x, interleaved):
    """modeling_hf_nomic_bert.rotate_half (and new-impl's for interleaved=False)."""
    if not interleaved:
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat((-x2, x1), dim=-1)
    x1, x2 = x[..., ::2], x[..., 1::2]
    return torch.stack((-x2, x1), dim=-1).flatten(-2)


def apply_rotary(x, cos, sin, interleaved):
    """apply_rotary_emb: x [H, n, dh]; cos, sin [n, ro_dim/2]."""
    ro = cos.shape[-1] * 2
    rep = (lambda c: c.repeat_interleave(2, dim=-1)) if interleaved else (lambda c: torch.cat((c, c), dim=-1))
    c, s = rep(cos), rep(sin)
    return torch.cat([x[..., :ro] * c + rotate_half(x[..., :ro], interleaved) * s, x[..., ro:]], dim=-1)


def ln(x, w, b, eps):
    return F.layer_norm(x, (x.shape[-1],), w, b, eps)


def attention(x, Wqkv, bqkv, Wo, bo, H, cos, sin, interleaved):
    n, D = x.shape
    dh = D // H
    qkv = x @ Wqkv.T + (bqkv if bqkv is not None else 0)
    qkv = qkv.view(n, 3, H, dh)  # "(three h d)" / split(all_head_size) + view(heads, head_dim)
    q, k, v = (qkv[:, j].transpose(0, 1) for j in range(3))  # [H, n, dh]
    q, k = apply_rotary(q, cos, sin, interleaved), apply_rotary(k, cos, sin, interleaved)
    a = torch.softmax(q @ k.transpose(1, 2) / np.sqrt(dh), dim=-1) @ v
    return a.transpose(0, 1).reshape(n, D) @ Wo.T + (bo if bo is not None else 0)


def nomic_forward(cfg, W, ids, types, wrong=None):
    D, H, L, Fd, V = nomic_dims(cfg)
    dh, eps, n = D // H, cfg["layer_norm_epsilon"], len(ids)
    dim = int(dh * cfg["rotary_emb_fraction"])
    interleaved = cfg["rotary_emb_interleaved"] != (wrong == "interleaved")
    base = float(cfg["rotary_emb_base"])
    f, T = cfg.get("rotary_scaling_factor"), cfg["max_trained_positions"]
    if f and n > T and wrong != "no_ntk":  # fresh cache, batch of one: seqlen = n
        base = base * ((f * n / T) - (f - 1)) ** (dim / (dim - 2))
    inv = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    freqs = torch.outer(torch.arange(n, dtype=torch.float64), inv)
    cos, sin = freqs.cos(), freqs.sin()
    h = W["embeddings.word_embeddings.weight"][torch.tensor(ids)]
    h = h + W["embeddings.token_type_embeddings.weight"][torch.tensor(types)]
    h = ln(h, W["emb_ln.weight"], W["emb_ln.bias"], eps)
    for i in range(L):
        p = "encoder.layers.%d." % i
        a = attention(h, W[p + "attn.Wqkv.weight"], None, W[p + "attn.out_proj.weight"], None, H, cos, sin,
                      interleaved)
        h = ln(a + h, W[p + "norm1.weight"], W[p + "norm1.bias"], eps)
        y, gate = h @ W[p + "mlp.fc11.weight"].T, h @ W[p + "mlp.fc12.weight"].T
        if wrong == "gate_swapped":
            y, gate = gate, y
        m = (y * F.silu(gate)) @ W[p + "mlp.fc2.weight"].T
        h = ln(m + h, W[p + "norm2.weight"], W[p + "norm2.bias"], eps)
    return h


def gte_forward(cfg, W, ids, types, wrong=None):
    D, H, L, Fd = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"], cfg["intermediate_size"]
    dh, eps, n = D // H, cfg["layer_norm_eps"], len(ids)
    base, f = float(cfg["rope_theta"]), cfg["rope_scaling"]["factor"]
    scaled = cfg["max_position_embeddings"] * f > cfg["max_position_embeddings"] and wrong != "no_ntk"
    if scaled:
        base = base * f
    inv = 1.0 / (base ** (torch.arange(0, dh, 2, dtype=torch.float64) / dh))
    if scaled:
        inv = inv / f ** (2 / dh)
    freqs = torch.outer(torch.arange(n, dtype=torch.float64), inv)
    cos, sin = freqs.cos(), freqs.sin()  # cat(freqs, freqs) is apply_rotary's halves layout
    h = ln(W["embeddings.word_embeddings.weight"][torch.tensor(ids)], W["embeddings.LayerNorm.weight"],
           W["embeddings.LayerNorm.bias"], eps)
    for i in range(L):
        p = "encoder.layer.%d." % i
        a = attention(h, W[p + "attention.qkv_proj.weight"], W[p + "attention.qkv_proj.bias"],
                      W[p + "attention.o_proj.weight"], W[p + "attention.o_proj.bias"], H, cos, sin,
                      wrong == "interleaved")
        h = ln(h + a, W[p + "attn_ln.weight"], W[p + "attn_ln.bias"], eps)
        up, gate = torch.split(h @ W[p + "mlp.up_gate_proj.weight"].T, Fd, dim=-1)
        if wrong == "gate_swapped":
            up, gate = gate, up
        m = (F.gelu(gate) * up) @ W[p + "mlp.down_proj.weight"].T + W[p + "mlp.down_proj.bias"]
        h = ln(h + m, W[p + "mlp_ln.weight"], W[p + "mlp_ln.bias"], eps)
    return h


def run(fwd, cfg, W, ds, wrong=None):
    return torch.cat([fwd(cfg, W, x["input_ids"], x.get("token_type_ids", [0] * len(x["input_ids"])), wrong)
                      for x in ds], 0)


def sensitivity(name, fwd, cfg, W, ds, tok, wrongs):
    # the fixture tells the variants apart: each deviation moves the output far past 1e-5
    for wrong in wrongs:
        e = float(torch.linalg.norm(run(fwd, cfg, W, ds, wrong) - tok) / torch.linalg.norm(tok))
        assert e > 1e-3, (name, wrong, e)
        print("  %s sensitivity %-12s %.2e" % (name, wrong, e))


def save_refs(d, tok, offs, prefix="ref"):
    G.save_npy(os.path.join(d, prefix + "_tokens.npy"), tok.numpy().astype(np.float32))
    if prefix != "ref":
        return
    G.save_npy(os.path.join(d, "ref_offsets.npy"), np.array(offs, dtype=np.int64))
    pooled = G.pool(tok, offs)
    for k in ("cls", "mean", "max"):
        G.save_npy(os.path.join(d, "ref_%s.npy" % k), pooled[k].numpy().astype(np.float32))


def write_family(out_dir, sub, cfg, tensors, dtype, ds, fwd, wrongs):
    d = os.path.join(out_dir, sub)
    os.makedirs(d, exist_ok=True)
    # the reference reads the values the file holds (F16 rounding included)
    W = {n: torch.from_numpy(G.store(a, dtype)[1]) for n, a in tensors}
    G.write_json(os.path.join(d, "config.json"), cfg)
    G.write_safetensors(os.path.join(d, "model.safetensors"), tensors, dtype)
    G.write_jsonl(os.path.join(d, "input.jsonl"), ds)
    offs = [0]
    for x in ds:
        offs.append(offs[-1] + len(x["input_ids"]))
    tok = run(fwd, cfg, W, ds)
    sensitivity(sub, fwd, cfg, W, ds, tok, wrongs)
    save_refs(d, tok, offs)
    print("%s %d tokens, %d tensors" % (sub, offs[-1], len(tensors)))
    return d, W, tok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()
    P = NOMIC["n_positions"]
    ds = G.bert_docs(611, NOMIC["vocab_size"], P, NOMIC["type_vocab_size"], cls_id=1, sep_id=2, first=3)
    # documents of 40, 21 and 29 tokens pass max_trained_positions 16: dynamic NTK
    assert sum(len(x["input_ids"]) > NOMIC["max_trained_positions"] for x in ds) >= 2
    d, W, tok = write_family(args.out, "tiny_nomic_bert", NOMIC, nomic_checkpoint(NOMIC, 613), "F16", ds,
                             nomic_forward, ("interleaved", "gate_swapped", "no_ntk"))
    G.write_json(os.path.join(d, "config_interleaved.json"), NOMIC_INTERLEAVED)
    alt = run(nomic_forward, NOMIC_INTERLEAVED, W, ds)
    sensitivity("tiny_nomic_bert/interleaved", nomic_forward, NOMIC_INTERLEAVED, W, ds, alt, ("interleaved",))
    save_refs(d, alt, None, "ref_interleaved")
    gds = G.bert_docs(617, GTE["vocab_size"], GTE["max_position_embeddings"], 1, cls_id=1, sep_id=2, first=3)
    for x in gds:
        x.pop("token_type_ids", None)
    write_family(args.out, "tiny_gte_new", GTE, gte_checkpoint(GTE, 619), "F32", gds, gte_forward,
                 ("interleaved", "gate_swapped", "no_ntk"))


if __name__ == "__main__":
    main()
