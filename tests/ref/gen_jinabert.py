#!/usr/bin/python3
"""Reference fixtures for JinaBERT-v2 (issue 12): jina-embeddings-v2-*-en, whose
config.json says model_type "bert", position_embedding_type "alibi",
feed_forward_type "geglu" and names the remote code
jinaai/jina-bert-implementation (modeling_bert.py, JinaBertModel).

    /usr/bin/python3 tests/ref/gen_jinabert.py [--out DIR]

Writes tests/fixtures/models/tiny_jinabert/ (6 heads: NOT a power of two, so
the slopes take _get_alibi_head_slopes' interleaved branch; geglu; bare
JinaBertModel names + its pooler) and tiny_jinabert_p2/ (4 heads, a power of
two; reglu; `bert.` prefix + an MLM head, as JinaBertForMaskedLM saves it):
config.json, model.safetensors, input.jsonl, ref_tokens.npy (last hidden
states of every document concatenated), ref_offsets.npy, ref_{cls,mean,max}.npy.
Deterministic (numpy PCG64 seeds, torch single-threaded float64, fixed order).

The hub repo itself is not reachable from here (only GitHub is); the forward
below follows its code as Jina AI and Hugging Face ported it, with its class
and function names, into huggingface/text-embeddings-inference (commit
0d124dc9773be6ac5a9a57d8439aba9bbbf33273):
  backends/python/server/text_embeddings_server/models/jinaBert_model.py
  (a port of modeling_bert.py; its MLP is the later qk-post-norm variant, see below)
    JinaBertConfig (l. 19): feed_forward_type (default "original"),
        position_embedding_type, layer_norm_eps
    JinaBertEmbeddings.forward (l. 88-111): word_embeddings + token_type_embeddings,
        the position table only if position_embedding_type == "absolute",
        then LayerNorm(layer_norm_eps)
    JinaBertSelfAttention.forward (l. 162-213): query/key/value with bias,
        scores / math.sqrt(attention_head_size) (l. 195) + attention_mask,
        softmax(scores + bias) (l. 201), @ value
    JinaBertSelfOutput.forward (l. 232-244): LayerNorm(dense(ctx) + input)
    JinaBertGLUMLP.__init__ (l. 274-284): act = nn.ReLU() for "reglu",
        nn.GELU() (erf) for "geglu", else ValueError -- from feed_forward_type,
        not hidden_act
    JinaBertLayer (l. 307-371): feed_forward_type.endswith("glu") -> the GLU MLP
    JinaBertEncoder.rebuild_alibi_tensor (l. 383-426): _get_alibi_head_slopes
        (get_slopes_power_of_2(n): start = 2**(-(2**-(log2(n) - 3))),
        [start * ratio**i]; not a power of 2: the slopes of closest_power_of_2 +
        _get_alibi_head_slopes(2 * closest_power_of_2)[0::2][: n - closest]);
        relative_position = |memory - context|; alibi = -slopes * relative_position
        (symmetric: an encoder, no causal mask); forward (l. 428-456) adds it to
        every layer's scores
  backends/candle/src/models/jina.rs, the jina-embeddings-v2-base-en layer
    (JinaBertLayer::load / forward, l. 251-306): mlp.gated_layers.weight
    [2*intermediate, hidden] without bias, mlp.wo.weight/.bias,
    mlp.layernorm.weight/.bias; gated = hidden[..., :intermediate] through the
    activation, non_gated = hidden[..., intermediate:];
    layer_norm(wo(gated * non_gated) + residual) -- the first half is the gate
    (the qk-post-norm code model's up_gated_layer activates the second half and
    is not this family: its tensor names differ, so it fails to load by name)
  backends/candle/src/alibi.rs (l. 18-80, "Copyright (c) 2023 Jina AI GmbH"):
    the same slopes (alibi_head_slopes) and bias (build_alibi_tensor).
The original rounds the slope list to float32 (torch.Tensor(...)); this
reference keeps float64, like the runtime's slopes (< 6e-8 relative per slope).
Batch size 1 per document, so padding never enters.
"""
import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_reference as G  # noqa: E402

ROOT, DEFAULT_OUT = G.ROOT, G.DEFAULT_OUT  # importing G set torch to 1 thread and float64

BASE = {"model_type": "bert", "architectures": ["JinaBertForMaskedLM"], "position_embedding_type": "alibi",
        "hidden_act": "gelu", "max_position_embeddings": 64, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
        "pad_token_id": 0, "attention_probs_dropout_prob": 0.0, "hidden_dropout_prob": 0.1,
        "attn_implementation": "torch", "emb_pooler": "mean", "initializer_range": 0.02,
        "torch_dtype": "float32"}
FIXTURES = [
    # name, config, prefix, seed
    ("tiny_jinabert", dict(BASE, hidden_size=24, num_attention_heads=6, num_hidden_layers=2, intermediate_size=40,
                           vocab_size=100, feed_forward_type="geglu"), "", 601),
    ("tiny_jinabert_p2", dict(BASE, hidden_size=32, num_attention_heads=4, num_hidden_layers=2,
                              intermediate_size=24, vocab_size=100, feed_forward_type="reglu"), "bert.", 602),
]


def get_alibi_head_slopes(n_heads):
    """_get_alibi_head_slopes, verbatim in its arithmetic (Python floats)."""
    def get_slopes_power_of_2(n):
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        ratio = start
        return [start * ratio ** i for i in range(n)]

    if math.log2(n_heads).is_integer():
        return get_slopes_power_of_2(n_heads)
    closest_power_of_2 = 2 ** math.floor(math.log2(n_heads))
    return (get_slopes_power_of_2(closest_power_of_2)
            + get_alibi_head_slopes(2 * closest_power_of_2)[0::2][: n_heads - closest_power_of_2])


def alibi_bias(slopes, n, signed=False):
    """rebuild_alibi_tensor: -slopes[h] * |memory - context|, [H, n, n]."""
    ctx = torch.arange(n)[:, None]
    mem = torch.arange(n)[None, :]
    rel = (mem - ctx) if signed else torch.abs(mem - ctx)
    return torch.tensor(slopes)[:, None, None] * -rel[None].to(torch.float64)


N = G.normal  # float32 draws of std from a PCG64 generator


def checkpoint(cfg, prefix, seed):
    rng = np.random.default_rng(seed)
    D, H, Fd, V = cfg["hidden_size"], cfg["num_attention_heads"], cfg["intermediate_size"], cfg["vocab_size"]
    p = prefix
    ln = lambda: ((1 + N(rng, (D,), 0.1)).astype(np.float32), N(rng, (D,), 0.1))  # noqa: E731
    t = [(p + "embeddings.word_embeddings.weight", N(rng, (V, D), 1.0)),
         (p + "embeddings.token_type_embeddings.weight", N(rng, (cfg["type_vocab_size"], D), 0.5))]
    g, b = ln()
    t += [(p + "embeddings.LayerNorm.weight", g), (p + "embeddings.LayerNorm.bias", b)]
    qk = math.sqrt(1.5 / math.sqrt(D // H)) / math.sqrt(D)
    for i in range(cfg["num_hidden_layers"]):
        q = "%sencoder.layer.%d." % (p, i)
        for k, s in (("query", qk), ("key", qk), ("value", 1 / math.sqrt(D))):
            t += [(q + "attention.self.%s.weight" % k, N(rng, (D, D), s)),
                  (q + "attention.self.%s.bias" % k, N(rng, (D,), 0.1))]
        t += [(q + "attention.output.dense.weight", N(rng, (D, D), 1 / math.sqrt(D))),
              (q + "attention.output.dense.bias", N(rng, (D,), 0.1))]
        g, b = ln()
        t += [(q + "attention.output.LayerNorm.weight", g), (q + "attention.output.LayerNorm.bias", b)]
        t += [(q + "mlp.gated_layers.weight", N(rng, (2 * Fd, D), 1.6 / math.sqrt(D))),
              (q + "mlp.wo.weight", N(rng, (D, Fd), 1 / math.sqrt(Fd))),
              (q + "mlp.wo.bias", N(rng, (D,), 0.1))]
        g, b = ln()
        t += [(q + "mlp.layernorm.weight", g), (q + "mlp.layernorm.bias", b)]
    if prefix:  # JinaBertForMaskedLM's head: not part of the encoder
        t += [("cls.predictions.transform.dense.weight", N(rng, (D, D), 0.1)),
              ("cls.predictions.bias", N(rng, (V,), 0.1))]
    else:  # JinaBertModel's pooler: not part of the last hidden state
        t += [("pooler.dense.weight", N(rng, (D, D), 0.1)), ("pooler.dense.bias", N(rng, (D,), 0.1))]
    return t


def forward(cfg, W, prefix, ids, types, wrong=None, tp=1):
    """Last hidden state [n, D] of one document. wrong names a deliberate
    deviation for the sensitivity checks: "pow2_formula" (slopes
    2^(-8(h+1)/H) as if H were a power of two), "local_index" (under tp ranks,
    each rank's slopes by its local head index), "signed" (-m·(j - i)),
    "gate_swapped" (the second half activated)."""
    w = lambda nm: W[prefix + nm]  # noqa: E731
    D, H = cfg["hidden_size"], cfg["num_attention_heads"]
    Fd, dh, eps, n = cfg["intermediate_size"], D // H, cfg["layer_norm_eps"], len(ids)
    act = {"geglu": lambda z: F.gelu(z), "reglu": torch.relu}[cfg["feed_forward_type"]]  # nn.GELU(): erf
    x = w("embeddings.word_embeddings.weight")[torch.tensor(ids)] + \
        w("embeddings.token_type_embeddings.weight")[torch.tensor(types)]
    x = F.layer_norm(x, (D,), w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"), eps)
    slopes = get_alibi_head_slopes(H)
    if wrong == "pow2_formula":
        slopes = [2 ** (-8 * (h + 1) / H) for h in range(H)]
    elif wrong == "local_index":  # rank r owns heads [h0, h0+nh) (se_split), uses slopes[0..nh)
        slopes, h0 = [], 0
        for r in range(tp):
            nh = H // tp + (1 if r < H % tp else 0)
            slopes += get_alibi_head_slopes(H)[:nh]
            h0 += nh
    bias = alibi_bias(slopes, n, signed=wrong == "signed")
    lin = lambda nm, z: z @ W[nm + ".weight"].T + W[nm + ".bias"]  # noqa: E731
    for i in range(cfg["num_hidden_layers"]):
        q = "%sencoder.layer.%d." % (prefix, i)
        qh = lin(q + "attention.self.query", x).view(n, H, dh).transpose(0, 1)
        kh = lin(q + "attention.self.key", x).view(n, H, dh).transpose(0, 1)
        vh = lin(q + "attention.self.value", x).view(n, H, dh).transpose(0, 1)
        s = qh @ kh.transpose(1, 2) / math.sqrt(dh) + bias
        ctx = (torch.softmax(s, dim=-1) @ vh).transpose(0, 1).reshape(n, D)
        x = F.layer_norm(lin(q + "attention.output.dense", ctx) + x, (D,),
                         W[q + "attention.output.LayerNorm.weight"], W[q + "attention.output.LayerNorm.bias"], eps)
        hs = x @ W[q + "mlp.gated_layers.weight"].T
        gated, non_gated = hs[:, :Fd], hs[:, Fd:]
        if wrong == "gate_swapped":
            gated, non_gated = non_gated, gated
        y = lin(q + "mlp.wo", act(gated) * non_gated)
        x = F.layer_norm(y + x, (D,), W[q + "mlp.layernorm.weight"], W[q + "mlp.layernorm.bias"], eps)
    return x


def generate(out_dir):
    for name, cfg, prefix, seed in FIXTURES:
        d = os.path.join(out_dir, name)
        os.makedirs(d, exist_ok=True)
        tensors = checkpoint(cfg, prefix, seed)
        W = {k: torch.from_numpy(a.astype(np.float64)) for k, a in tensors}
        G.write_json(os.path.join(d, "config.json"), cfg)
        G.write_safetensors(os.path.join(d, "model.safetensors"), tensors, "F32")
        docs = G.bert_docs(seed + 100, cfg["vocab_size"], cfg["max_position_embeddings"], cfg["type_vocab_size"])
        G.write_jsonl(os.path.join(d, "input.jsonl"), docs)
        types = lambda doc: doc.get("token_type_ids", [0] * len(doc["input_ids"]))  # noqa: E731
        outs, offs = [], [0]
        for doc in docs:
            outs.append(forward(cfg, W, prefix, doc["input_ids"], types(doc)))
            offs.append(offs[-1] + len(doc["input_ids"]))
        tok = torch.cat(outs, 0)
        H = cfg["num_attention_heads"]
        # The fixture tells ALiBi's variants apart: slopes by the power-of-two
        # formula (6 heads only: for 4 it is the same list), slopes by local
        # head index under TP (what a rank gets if it forgets h0), the signed
        # distance, the GLU halves swapped: each moves the output far past 1e-5.
        wrongs = [("local_index", 2), ("local_index", 4), ("signed", 1), ("gate_swapped", 1)]
        if H & (H - 1):
            wrongs.insert(0, ("pow2_formula", 1))
        else:
            assert get_alibi_head_slopes(H) == [2 ** (-8 * (h + 1) / H) for h in range(H)]
        for wrong, tp in wrongs:
            alt = torch.cat([forward(cfg, W, prefix, doc["input_ids"], types(doc), wrong, tp) for doc in docs], 0)
            e = float(torch.linalg.norm(alt - tok) / torch.linalg.norm(tok))
            assert e > 1e-3, (name, wrong, tp, e)
            print("  sensitivity %-12s tp %d %.2e" % (wrong, tp, e))
        G.save_npy(os.path.join(d, "ref_tokens.npy"), tok.numpy().astype(np.float32))
        G.save_npy(os.path.join(d, "ref_offsets.npy"), np.array(offs, dtype=np.int64))
        pooled = G.pool(tok, offs)
        for k in ("cls", "mean", "max"):
            G.save_npy(os.path.join(d, "ref_%s.npy" % k), pooled[k].numpy().astype(np.float32))
        print("%-17s %d heads, slopes %s; %d tokens, %d tensors" % (
            name, H, " ".join("%.6g" % s for s in get_alibi_head_slopes(H)), offs[-1], len(tensors)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=DEFAULT_OUT)
    generate(ap.parse_args().out)


if __name__ == "__main__":
    main()
