#!/usr/bin/python3
"""Generates the reference fixtures under tests/fixtures/models/ (see the README there).

    /usr/bin/python3 tests/ref/gen_reference.py [--out DIR] [--quiet]

Deterministic: weights and inputs come from numpy PCG64 generators with fixed
seeds, torch runs single-threaded in float64, and every file is written in a
fixed order with fixed formatting, so two runs give byte-identical trees.

For each model this writes config.json, model.safetensors (written here by
hand: 8-byte LE header length, JSON header padded with spaces to a multiple
of 8, contiguous data), input.jsonl, and the reference outputs computed in
float64 from the weights exactly as stored (after F16/BF16 rounding):
ref_tokens.npy, ref_offsets.npy, ref_cls.npy, ref_mean.npy, ref_max.npy,
ref_cls_norm.npy, ref_mean_norm.npy, ref_max_norm.npy.

The reference forward pass is PyTorch's own modules: each BERT layer is
copied into torch.nn.TransformerEncoderLayer (post-LN, batch_first; Wq;Wk;Wv
stacked into in_proj_weight) - a post-LN BERT layer is exactly that module -
and the embeddings into torch.nn.Embedding + torch.nn.LayerNorm; the vanilla
model is a real torch.nn.TransformerEncoder whose state_dict() provides the
tensor names. A second, independent formulation from torch ops
(softmax(q k^T / sqrt(d_k)) v per head, F.layer_norm, GELU written out) must
agree to 1e-12 or the generator fails.
"""
import argparse
import hashlib
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiny_vocab  # noqa: E402

torch.set_num_threads(1)  # fixed summation order: byte-identical outputs on every run
torch.set_default_dtype(torch.float64)

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DEFAULT_OUT = os.path.join(ROOT, "tests", "fixtures", "models")
AGREE_TOL = 1e-12  # torch modules vs independent formulation, relative Frobenius

# ----------------------------------------------------------------------------- dtypes


def round_f16(a):
    """float32 -> float16 bits (numpy rounds to nearest even)."""
    return a.astype(np.float16)


def round_bf16_bits(a):
    """float32 -> bfloat16 bits, round to nearest even (no NaN/Inf in our data)."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


def bf16_bits_to_f32(b):
    return (b.astype(np.uint32) << 16).view(np.float32)


def store(a, dtype):
    """Returns (bytes as stored, the float64 values the file really holds)."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    if dtype == "F32":
        return a.astype("<f4").tobytes(), a.astype(np.float64)
    if dtype == "F16":
        h = round_f16(a)
        return h.astype("<f2").tobytes(), h.astype(np.float64)
    if dtype == "BF16":
        b = round_bf16_bits(a)
        return b.astype("<u2").tobytes(), bf16_bits_to_f32(b).astype(np.float64)
    raise ValueError(dtype)


# ----------------------------------------------------------------------------- file writers


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


def write_safetensors(path, entries, dtype):
    """entries: list of (name, float32 array). Data in list order, header in the same order."""
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    off = 0
    for name, arr in entries:
        raw, _ = store(arr, dtype)
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((-len(h)) % 8)
    write_bytes(path, struct.pack("<Q", len(h)) + h + b"".join(blobs))


def write_json(path, obj):
    write_bytes(path, (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


def write_jsonl(path, rows):
    write_bytes(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8"))


def save_npy(path, arr):
    with open(path, "wb") as f:
        np.save(f, arr, allow_pickle=False)


# ----------------------------------------------------------------------------- weights
#
# Canonical weights (float32 numpy), independent of any file naming:
#   tok [V,D], pos [P,D] (BERT), type [T,D] (BERT), emb_ln_g/b [D] (BERT)
#   layers[i]: Wq Wk Wv Wo [D,D], bq bk bv bo [D], ln1_g ln1_b [D],
#              W1 [F,D] b1 [F], W2 [D,F] b2 [D], ln2_g ln2_b [D]
#   pool_W [D,D], pool_b [D] (BERT, unused by the encoder)
#
# Init: weights ~ N(0, (gain/sqrt(fan_in))^2) so activations stay O(1) at every
# size; gains chosen so attention is peaked (score std ~1.5, softmax far from
# uniform) and the FFN pre-activations span GELU's curved region (std ~1.3),
# where the erf and tanh forms differ most. Biases and LayerNorm parameters
# are non-trivial (LN gamma = 1 + 0.1 N, beta = 0.1 N, biases 0.1 N) so a
# dropped or transposed one shows. BERT embeddings keep BERT's small scale
# (std 0.03, so the pre-LN variance is ~3e-3): a wrong layer_norm_eps (1e-5
# for 1e-12) then moves the output by far more than the 1e-5 tolerance.


def normal(rng, shape, std):
    return (rng.standard_normal(shape) * std).astype(np.float32)


def make_weights(seed, D, H, L, Fd, V, P=None, T=None, bert=True):
    rng = np.random.default_rng(seed)
    d_k = D // H
    # score std ~ s_q^2 sqrt(d_k) for q,k entries of std s_q; want ~1.5
    qk_gain = math.sqrt(1.5 / math.sqrt(d_k))
    w = {}
    if bert:
        w["tok"] = normal(rng, (V, D), 0.02)
        w["pos"] = normal(rng, (P, D), 0.02)
        w["type"] = normal(rng, (T, D), 0.02)
        w["emb_ln_g"] = (1.0 + normal(rng, (D,), 0.1)).astype(np.float32)
        w["emb_ln_b"] = normal(rng, (D,), 0.1)
    else:
        # torch/fairseq convention: N(0, D^-1/2) so tok * sqrt(D) has unit
        # scale, comparable to the sinusoidal table (entries in [-1, 1]).
        w["tok"] = normal(rng, (V, D), D ** -0.5)
    layers = []
    for _ in range(L):
        lw = {}
        lw["Wq"] = normal(rng, (D, D), qk_gain / math.sqrt(D))
        lw["bq"] = normal(rng, (D,), 0.1)
        lw["Wk"] = normal(rng, (D, D), qk_gain / math.sqrt(D))
        lw["bk"] = normal(rng, (D,), 0.1)
        lw["Wv"] = normal(rng, (D, D), 1.0 / math.sqrt(D))
        lw["bv"] = normal(rng, (D,), 0.1)
        lw["Wo"] = normal(rng, (D, D), 1.0 / math.sqrt(D))
        lw["bo"] = normal(rng, (D,), 0.1)
        lw["ln1_g"] = (1.0 + normal(rng, (D,), 0.1)).astype(np.float32)
        lw["ln1_b"] = normal(rng, (D,), 0.1)
        lw["W1"] = normal(rng, (Fd, D), 1.6 / math.sqrt(D))
        lw["b1"] = normal(rng, (Fd,), 0.1)
        lw["W2"] = normal(rng, (D, Fd), 1.0 / math.sqrt(Fd))
        lw["b2"] = normal(rng, (D,), 0.1)
        lw["ln2_g"] = (1.0 + normal(rng, (D,), 0.1)).astype(np.float32)
        lw["ln2_b"] = normal(rng, (D,), 0.1)
        layers.append(lw)
    w["layers"] = layers
    if bert:
        w["pool_W"] = normal(rng, (D, D), 1.0 / math.sqrt(D))
        w["pool_b"] = normal(rng, (D,), 0.1)
    return w


def mlm_head_weights(seed, D, V, tok):
    """Extra tensors of a BertForMaskedLM checkpoint (ignored by an encoder)."""
    rng = np.random.default_rng(seed)
    return [
        ("cls.predictions.bias", normal(rng, (V,), 0.1)),
        ("cls.predictions.decoder.weight", tok.copy()),  # tied to the word embeddings
        ("cls.predictions.transform.LayerNorm.bias", normal(rng, (D,), 0.1)),
        ("cls.predictions.transform.LayerNorm.weight", (1.0 + normal(rng, (D,), 0.1)).astype(np.float32)),
        ("cls.predictions.transform.dense.bias", normal(rng, (D,), 0.1)),
        ("cls.predictions.transform.dense.weight", normal(rng, (D, D), 1.0 / math.sqrt(D))),
    ]


def bert_entries(w, prefix="", legacy_ln=False):
    """Hugging Face BertModel tensor names, in BertModel.state_dict() order."""
    g, b = ("gamma", "beta") if legacy_ln else ("weight", "bias")
    p = prefix
    e = [
        (p + "embeddings.word_embeddings.weight", w["tok"]),
        (p + "embeddings.position_embeddings.weight", w["pos"]),
        (p + "embeddings.token_type_embeddings.weight", w["type"]),
        (p + "embeddings.LayerNorm." + g, w["emb_ln_g"]),
        (p + "embeddings.LayerNorm." + b, w["emb_ln_b"]),
    ]
    for i, lw in enumerate(w["layers"]):
        q = "%sencoder.layer.%d." % (p, i)
        e += [
            (q + "attention.self.query.weight", lw["Wq"]),
            (q + "attention.self.query.bias", lw["bq"]),
            (q + "attention.self.key.weight", lw["Wk"]),
            (q + "attention.self.key.bias", lw["bk"]),
            (q + "attention.self.value.weight", lw["Wv"]),
            (q + "attention.self.value.bias", lw["bv"]),
            (q + "attention.output.dense.weight", lw["Wo"]),
            (q + "attention.output.dense.bias", lw["bo"]),
            (q + "attention.output.LayerNorm." + g, lw["ln1_g"]),
            (q + "attention.output.LayerNorm." + b, lw["ln1_b"]),
            (q + "intermediate.dense.weight", lw["W1"]),
            (q + "intermediate.dense.bias", lw["b1"]),
            (q + "output.dense.weight", lw["W2"]),
            (q + "output.dense.bias", lw["b2"]),
            (q + "output.LayerNorm." + g, lw["ln2_g"]),
            (q + "output.LayerNorm." + b, lw["ln2_b"]),
        ]
    e += [(p + "pooler.dense.weight", w["pool_W"]), (p + "pooler.dense.bias", w["pool_b"])]
    return e


def torch_encoder(D, H, Fd, L, eps, activation):
    layer = nn.TransformerEncoderLayer(D, H, Fd, dropout=0.0, activation=activation, layer_norm_eps=eps,
                                       batch_first=True, norm_first=False, dtype=torch.float64)
    enc = nn.TransformerEncoder(layer, L, enable_nested_tensor=False)
    enc.eval()
    return enc


def load_layer(tl, lw):
    """Copies one canonical layer (float64 numpy) into a torch.nn.TransformerEncoderLayer."""
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))  # noqa: E731
    with torch.no_grad():
        tl.self_attn.in_proj_weight.copy_(t(np.concatenate([lw["Wq"], lw["Wk"], lw["Wv"]], 0)))
        tl.self_attn.in_proj_bias.copy_(t(np.concatenate([lw["bq"], lw["bk"], lw["bv"]], 0)))
        tl.self_attn.out_proj.weight.copy_(t(lw["Wo"]))
        tl.self_attn.out_proj.bias.copy_(t(lw["bo"]))
        tl.linear1.weight.copy_(t(lw["W1"]))
        tl.linear1.bias.copy_(t(lw["b1"]))
        tl.linear2.weight.copy_(t(lw["W2"]))
        tl.linear2.bias.copy_(t(lw["b2"]))
        tl.norm1.weight.copy_(t(lw["ln1_g"]))
        tl.norm1.bias.copy_(t(lw["ln1_b"]))
        tl.norm2.weight.copy_(t(lw["ln2_g"]))
        tl.norm2.bias.copy_(t(lw["ln2_b"]))


def vanilla_entries(w, cfg):
    """Names from a real torch.nn.TransformerEncoder's state_dict(), under `encoder.`."""
    enc = torch_encoder(cfg["hidden_size"], cfg["num_attention_heads"], cfg["intermediate_size"],
                        cfg["num_hidden_layers"], cfg["layer_norm_eps"], "relu")
    for tl, lw in zip(enc.layers, w["layers"]):
        load_layer(tl, lw)
    e = [("embedding.weight", w["tok"])]
    for name, val in enc.state_dict().items():
        e.append(("encoder." + name, val.numpy().astype(np.float32)))
    # The float32 -> float64 -> float32 trip is exact, so these are w's values.
    return e


def stored_weights(w, dtype):
    """The canonical weights as the file holds them, in float64."""
    r = lambda a: store(a, dtype)[1]  # noqa: E731
    out = {k: r(v) for k, v in w.items() if k != "layers"}
    out["layers"] = [{k: r(v) for k, v in lw.items()} for lw in w["layers"]]
    return out


# ----------------------------------------------------------------------------- reference forward


def sinusoidal(n, D, base, layout):
    """PE[p, 2i] = sin(p / base^(2i/D)), PE[p, 2i+1] = cos(.)   (interleaved, the paper)
    PE[p, i] = sin(p / base^(2i/D)), PE[p, D/2+i] = cos(.)      (concat), for i < D/2."""
    p = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(D // 2, dtype=torch.float64)[None, :]
    ang = p / torch.pow(torch.tensor(float(base), dtype=torch.float64), 2.0 * i / D)
    pe = torch.zeros(n, D, dtype=torch.float64)
    if layout == "interleaved":
        pe[:, 0::2] = torch.sin(ang)
        pe[:, 1::2] = torch.cos(ang)
    elif layout == "concat":
        pe[:, : D // 2] = torch.sin(ang)
        pe[:, D // 2:] = torch.cos(ang)
    else:
        raise ValueError(layout)
    return pe


def gelu_tanh(x):
    """GELU, tanh form (Hugging Face gelu_new): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return F.gelu(x, approximate="tanh")


class TorchReference:
    """The reference: PyTorch modules loaded with the stored weights (float64)."""

    def __init__(self, cfg, ws):
        self.cfg = cfg
        D, H, L, Fd = (cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"],
                       cfg["intermediate_size"])
        self.bert = cfg["model_type"] == "bert"
        act = {"gelu": "gelu", "gelu_new": gelu_tanh, "relu": "relu"}[cfg["hidden_act"]]
        self.enc = torch_encoder(D, H, Fd, L, cfg["layer_norm_eps"], act)
        for tl, lw in zip(self.enc.layers, ws["layers"]):
            load_layer(tl, lw)
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
        self.tok = nn.Embedding(ws["tok"].shape[0], D, dtype=torch.float64)
        with torch.no_grad():
            self.tok.weight.copy_(t(ws["tok"]))
        if self.bert:
            self.pos = nn.Embedding(ws["pos"].shape[0], D, dtype=torch.float64)
            self.typ = nn.Embedding(ws["type"].shape[0], D, dtype=torch.float64)
            self.ln = nn.LayerNorm(D, eps=cfg["layer_norm_eps"], dtype=torch.float64)
            with torch.no_grad():
                self.pos.weight.copy_(t(ws["pos"]))
                self.typ.weight.copy_(t(ws["type"]))
                self.ln.weight.copy_(t(ws["emb_ln_g"]))
                self.ln.bias.copy_(t(ws["emb_ln_b"]))
            for m in (self.tok, self.pos, self.typ, self.ln):
                m.eval()
        self.D = D

    @torch.no_grad()
    def forward(self, ids, types):
        ids = torch.tensor(ids, dtype=torch.long)[None, :]
        n = ids.shape[1]
        if self.bert:
            tt = torch.tensor(types, dtype=torch.long)[None, :]
            x = self.ln(self.tok(ids) + self.pos(torch.arange(n)[None, :]) + self.typ(tt))
        else:
            c = self.cfg
            scale = math.sqrt(self.D) if c["scale_embedding"] else 1.0
            x = self.tok(ids) * scale + sinusoidal(n, self.D, c["sinusoidal_base"], c["sinusoidal_layout"])[None]
        return self.enc(x)[0]


def independent_forward(cfg, ws, ids, types, act=None, eps=None, layout=None, scale_embedding=None,
                        attn_scale=None, pos_shift=0, ignore_types=False, trace=None, dtype=torch.float64):
    """Second formulation from plain torch ops, written from DESIGN.md's math.
    The keyword overrides inject deliberate bugs for the sensitivity table."""
    D, H = cfg["hidden_size"], cfg["num_attention_heads"]
    dk = D // H
    eps = cfg["layer_norm_eps"] if eps is None else eps
    act = act or cfg["hidden_act"]
    T = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(dtype)  # noqa: E731
    ids_t = torch.tensor(ids, dtype=torch.long)
    n = len(ids)
    if cfg["model_type"] == "bert":
        tt = torch.zeros(n, dtype=torch.long) if ignore_types else torch.tensor(types, dtype=torch.long)
        pos = torch.clamp(torch.arange(n) + pos_shift, max=ws["pos"].shape[0] - 1)
        x = T(ws["tok"])[ids_t] + T(ws["pos"])[pos] + T(ws["type"])[tt]
        x = F.layer_norm(x, (D,), T(ws["emb_ln_g"]), T(ws["emb_ln_b"]), eps)
    else:
        se = cfg["scale_embedding"] if scale_embedding is None else scale_embedding
        lay = layout or cfg["sinusoidal_layout"]
        x = T(ws["tok"])[ids_t] * (math.sqrt(D) if se else 1.0) + sinusoidal(n, D, cfg["sinusoidal_base"], lay).to(dtype)
    s = 1.0 / math.sqrt(dk) if attn_scale is None else attn_scale
    for lw in ws["layers"]:
        x_in = x
        q = x @ T(lw["Wq"]).T + T(lw["bq"])
        k = x @ T(lw["Wk"]).T + T(lw["bk"])
        v = x @ T(lw["Wv"]).T + T(lw["bv"])
        a = torch.empty_like(q)
        for h in range(H):
            sl = slice(h * dk, (h + 1) * dk)
            p = torch.softmax((q[:, sl] @ k[:, sl].T) * s, dim=-1)
            a[:, sl] = p @ v[:, sl]
        x = F.layer_norm(x + a @ T(lw["Wo"]).T + T(lw["bo"]), (D,), T(lw["ln1_g"]), T(lw["ln1_b"]), eps)
        z = x @ T(lw["W1"]).T + T(lw["b1"])
        if act == "gelu":
            hdn = 0.5 * z * (1.0 + torch.erf(z / math.sqrt(2.0)))
        elif act == "gelu_new":
            hdn = 0.5 * z * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (z + 0.044715 * z ** 3)))
        elif act == "relu":
            hdn = torch.clamp(z, min=0.0)
        else:
            raise ValueError(act)
        x = F.layer_norm(x + hdn @ T(lw["W2"]).T + T(lw["b2"]), (D,), T(lw["ln2_g"]), T(lw["ln2_b"]), eps)
        if trace is not None:
            trace.append((x_in, x))
    return x


def rel(a, b):
    """Relative Frobenius error ||a - b|| / ||b||."""
    return float(torch.linalg.norm(a - b) / torch.linalg.norm(b))


def pool(tokens, offsets):
    cls, mean, mx = [], [], []
    for i in range(len(offsets) - 1):
        x = tokens[offsets[i]:offsets[i + 1]]
        cls.append(x[0])
        mean.append(x.mean(0))
        mx.append(x.max(0).values)
    cls, mean, mx = torch.stack(cls), torch.stack(mean), torch.stack(mx)
    nrm = lambda a: a / torch.linalg.norm(a, dim=1, keepdim=True)  # noqa: E731
    return {"cls": cls, "mean": mean, "max": mx, "cls_norm": nrm(cls), "mean_norm": nrm(mean), "max_norm": nrm(mx)}


# ----------------------------------------------------------------------------- inputs


def bert_docs(seed, V, P, type_vocab, cls_id=2, sep_id=3, first=5):
    """8 documents: [CLS] ... [SEP], lengths 1 (just [CLS]) .. P; some two-segment
    (token types 0 then 1), some without token_type_ids (defaults to zeros)."""
    rng = np.random.default_rng(seed)
    lengths = [P // 4 + 3, 1, 7, P, P // 2 + 1, 2, P // 8 + 5, 3 * P // 4 - 1]
    docs = []
    for i, n in enumerate(lengths):
        body = rng.integers(first, V, size=max(n - 2, 0)).tolist()
        if n == 1:
            ids = [cls_id]
        elif n == 2:
            ids = [cls_id, sep_id]
        else:
            ids = [cls_id] + body + [sep_id]
        types = [0] * n
        if i in (0, 3, 4, 7) and n > 4:
            # sentence pair: [CLS] A [SEP] B [SEP]; A's [SEP] is type 0, B is type 1
            cut = 1 + int(rng.integers(1, n - 3))
            ids[cut] = sep_id
            types = [0] * (cut + 1) + [type_vocab - 1] * (n - cut - 1)
        if i == 3:
            ids[1] = V - 1  # the largest valid id
        if i == 4:
            ids[2] = 0      # [PAD] as a real token: still a token, still attended to
        d = {"id": "d%d" % i, "input_ids": ids}
        if i not in (2, 5):  # d2 and d5 exercise the default of all zeros
            d["token_type_ids"] = types
        docs.append(d)
    return docs


def vanilla_docs(seed, V):
    """No position limit: includes a 600-token document. token_type_ids omitted
    except two docs with explicit zeros (ignored by the vanilla model)."""
    rng = np.random.default_rng(seed)
    lengths = [37, 1, 600, 5, 64, 129, 17, 300]
    docs = []
    for i, n in enumerate(lengths):
        ids = rng.integers(0, V, size=n).tolist()
        if i == 2:
            ids[0], ids[-1] = 0, V - 1
        d = {"id": "d%d" % i, "input_ids": ids}
        if i in (0, 5):
            d["token_type_ids"] = [0] * n
        docs.append(d)
    return docs


# ----------------------------------------------------------------------------- models


def bert_config(D, H, L, Fd, V, P, act="gelu", dtype="float32", arch="BertModel"):
    return {
        "architectures": [arch],
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": act,
        "hidden_dropout_prob": 0.1,
        "hidden_size": D,
        "initializer_range": 0.02,
        "intermediate_size": Fd,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": P,
        "model_type": "bert",
        "num_attention_heads": H,
        "num_hidden_layers": L,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "torch_dtype": dtype,
        "type_vocab_size": 2,
        "vocab_size": V,
    }


def vanilla_config(D, H, L, Fd, V, layout):
    return {
        "architectures": ["VanillaTransformerEncoder"],
        "hidden_act": "relu",
        "hidden_size": D,
        "intermediate_size": Fd,
        "layer_norm_eps": 1e-5,
        "model_type": "vanilla_transformer",
        "num_attention_heads": H,
        "num_hidden_layers": L,
        "pad_token_id": 0,
        "position_embedding_type": "sinusoidal",
        "scale_embedding": True,
        "sinusoidal_base": 10000,
        "sinusoidal_layout": layout,
        "torch_dtype": "float32",
        "vocab_size": V,
    }


TORCH_DTYPE = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


def model_specs():
    """(name, config, weight key, dtype, naming, docs key)."""
    tiny = dict(D=64, H=4, L=2, Fd=256, V=1000, P=64, T=2)
    small = dict(D=256, H=8, L=4, Fd=1024, V=2000, P=256, T=2)
    specs = []
    for dt, suf in (("F32", ""), ("F16", "_f16"), ("BF16", "_bf16")):
        specs.append(("tiny_bert" + suf, bert_config(64, 4, 2, 256, 1000, 64, dtype=TORCH_DTYPE[dt]),
                      "tiny_bert", dt, "plain", "tiny_bert"))
    specs.append(("tiny_bert_gelu_new", bert_config(64, 4, 2, 256, 1000, 64, act="gelu_new"),
                  "tiny_bert", "F32", "plain", "tiny_bert"))
    specs.append(("tiny_bert_prefixed", bert_config(64, 4, 2, 256, 1000, 64, arch="BertForMaskedLM"),
                  "tiny_bert", "F32", "prefixed", "tiny_bert"))
    specs.append(("tiny_bert_legacy_ln", bert_config(64, 4, 2, 256, 1000, 64),
                  "tiny_bert", "F32", "legacy_ln", "tiny_bert"))
    for dt, suf in (("F32", ""), ("F16", "_f16"), ("BF16", "_bf16")):
        specs.append(("small_bert" + suf, bert_config(256, 8, 4, 1024, 2000, 256, dtype=TORCH_DTYPE[dt]),
                      "small_bert", dt, "plain", "small_bert"))
    specs.append(("tiny_vanilla", vanilla_config(64, 4, 2, 256, 1000, "interleaved"),
                  "tiny_vanilla", "F32", "vanilla", "tiny_vanilla"))
    specs.append(("tiny_vanilla_concat", vanilla_config(64, 4, 2, 256, 1000, "concat"),
                  "tiny_vanilla", "F32", "vanilla", "tiny_vanilla"))
    specs.append(("small_vanilla", vanilla_config(256, 8, 4, 1024, 1000, "interleaved"),
                  "small_vanilla", "F32", "vanilla", "small_vanilla"))
    weights = {
        "tiny_bert": make_weights(101, bert=True, **tiny),
        "small_bert": make_weights(102, bert=True, **small),
        "tiny_vanilla": make_weights(103, D=64, H=4, L=2, Fd=256, V=1000, bert=False),
        "small_vanilla": make_weights(104, D=256, H=8, L=4, Fd=1024, V=1000, bert=False),
    }
    docs = {
        "tiny_bert": bert_docs(201, 1000, 64, 2),
        "small_bert": bert_docs(202, 2000, 256, 2),
        "tiny_vanilla": vanilla_docs(203, 1000),
        "small_vanilla": vanilla_docs(204, 1000),
    }
    return specs, weights, docs


# ----------------------------------------------------------------------------- text demo

TEXT_DOCS = [
    {"id": "t0", "text": "The encoder reads a document and writes one vector for it."},
    {"id": "t1", "text": "Self-attention: each token looks at every other token, then the model sums the values."},
    {"id": "t2", "text": "Training large language models needs many computers working in parallel!"},
    {"id": "t3", "text": "On Monday, 3 students found 12 errors in the tokenizer's output (really)."},
    {"id": "t4", "text": "自注意力 is the core of the Transformer encoder model."},
]


# ----------------------------------------------------------------------------- read-back check


def read_safetensors(path):
    """Minimal reader, independent of the writer: {name: float64 array}."""
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n].decode("utf-8"))
    data = b[8 + n:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        lo, hi = e["data_offsets"]
        raw = data[lo:hi]
        if e["dtype"] == "F32":
            a = np.frombuffer(raw, dtype="<f4").astype(np.float64)
        elif e["dtype"] == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float64)
        elif e["dtype"] == "BF16":
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        else:
            raise ValueError(e["dtype"])
        out[name] = a.reshape(e["shape"])
    return out


HF_LAYER = {
    "attention.self.query.weight": "Wq", "attention.self.query.bias": "bq",
    "attention.self.key.weight": "Wk", "attention.self.key.bias": "bk",
    "attention.self.value.weight": "Wv", "attention.self.value.bias": "bv",
    "attention.output.dense.weight": "Wo", "attention.output.dense.bias": "bo",
    "attention.output.LayerNorm.weight": "ln1_g", "attention.output.LayerNorm.bias": "ln1_b",
    "intermediate.dense.weight": "W1", "intermediate.dense.bias": "b1",
    "output.dense.weight": "W2", "output.dense.bias": "b2",
    "output.LayerNorm.weight": "ln2_g", "output.LayerNorm.bias": "ln2_b",
}
HF_EMB = {
    "embeddings.word_embeddings.weight": "tok", "embeddings.position_embeddings.weight": "pos",
    "embeddings.token_type_embeddings.weight": "type", "embeddings.LayerNorm.weight": "emb_ln_g",
    "embeddings.LayerNorm.bias": "emb_ln_b",
}


def verify_checkpoint(d, cfg, docs, ref_tokens):
    """Reads model.safetensors back the way a loader would (Hugging Face
    semantics for BERT; torch load_state_dict(strict=True) for vanilla), runs
    it, and requires the stored reference: catches a name mapped to the wrong
    tensor, which the reference computation itself could not see."""
    t = read_safetensors(os.path.join(d, "model.safetensors"))
    L = cfg["num_hidden_layers"]
    if cfg["model_type"] == "bert":
        w = {"layers": [{} for _ in range(L)]}
        for name, a in t.items():
            if name.startswith("cls.") or ".pooler." in name or name.startswith("pooler."):
                continue
            if name.startswith("bert."):
                name = name[len("bert."):]
            if name.endswith(".gamma"):
                name = name[:-len("gamma")] + "weight"
            if name.endswith(".beta"):
                name = name[:-len("beta")] + "bias"
            if name in HF_EMB:
                w[HF_EMB[name]] = a
                continue
            parts = name.split(".", 3)  # encoder, layer, i, rest
            assert parts[:2] == ["encoder", "layer"], name
            w["layers"][int(parts[2])][HF_LAYER[parts[3]]] = a
        assert all(len(lw) == 16 for lw in w["layers"]) and len(w) == 6, d
        got = torch.cat([independent_forward(cfg, w, x["input_ids"], types_of(x)) for x in docs])
    else:
        enc = torch_encoder(cfg["hidden_size"], cfg["num_attention_heads"], cfg["intermediate_size"], L,
                            cfg["layer_norm_eps"], "relu")
        sd = {k[len("encoder."):]: torch.from_numpy(a) for k, a in t.items() if k.startswith("encoder.")}
        enc.load_state_dict(sd, strict=True)
        assert set(t) == {"embedding.weight"} | {"encoder." + k for k in sd}, d
        D = cfg["hidden_size"]
        E = torch.from_numpy(t["embedding.weight"])
        outs = []
        with torch.no_grad():
            for x in docs:
                n = len(x["input_ids"])
                h = E[torch.tensor(x["input_ids"])] * math.sqrt(D) + sinusoidal(
                    n, D, cfg["sinusoidal_base"], cfg["sinusoidal_layout"])
                outs.append(enc(h[None])[0])
        got = torch.cat(outs)
    e = rel(got, ref_tokens)
    if not e <= AGREE_TOL:
        raise SystemExit("%s: checkpoint read back gives %.3e relative error vs the reference" % (d, e))


# ----------------------------------------------------------------------------- README

NAMING_DOC = {
    "plain": "BertModel names",
    "prefixed": "`bert.` + MLM head",
    "legacy_ln": "LayerNorm gamma/beta",
    "vanilla": "torch TransformerEncoder",
}

README_TEMPLATE = """# Reference fixtures: small checkpoints and PyTorch outputs

Generated by `tests/ref/gen_reference.py` (this file too). Regenerate with

    /usr/bin/python3 tests/ref/gen_reference.py

(needs torch and numpy; about 10 s). The output is byte-identical on every run:
weights and inputs come from numpy PCG64 generators with fixed seeds, torch runs
single-threaded in float64, files are written in a fixed order and format. The
script prints a sha256 over the whole tree; compare it before and after.
Do not edit these files by hand.

## Models

| folder | model_type | d/layers/heads/d_ff | vocab | max pos | act | dtype | tensor names | tokens | size |
|---|---|---|---|---|---|---|---|---|---|
{models}

Total: {total}. Folders sharing a stem share weights: `tiny_bert*` hold the
same values (`_f16`/`_bf16` rounded to nearest even; `_gelu_new` differs only
in `hidden_act`; `_prefixed` and `_legacy_ln` only in tensor names, so their
reference outputs equal tiny_bert's exactly); `tiny_vanilla_concat` has
`tiny_vanilla`'s weights with the other sinusoidal layout.

## Files in each folder

- `config.json` - Hugging Face style. BERT: BertConfig keys (`hidden_size`,
  `num_hidden_layers`, `num_attention_heads`, `intermediate_size`, `hidden_act`,
  `max_position_embeddings`, `type_vocab_size` = 2, `layer_norm_eps` = 1e-12,
  `vocab_size`, `position_embedding_type` = "absolute", `torch_dtype`, ...).
  Vanilla: `"model_type": "vanilla_transformer"`, the same size keys,
  `hidden_act` = "relu", `layer_norm_eps` = 1e-5, `position_embedding_type` =
  "sinusoidal", `sinusoidal_layout` ("interleaved" or "concat"),
  `sinusoidal_base` = 10000, `scale_embedding` = true; no
  `max_position_embeddings` and no `type_vocab_size` (no position limit, no
  token types).
- `model.safetensors` - 8-byte little-endian header length N (a multiple of 8),
  N bytes of JSON padded with spaces: `__metadata__` = {{"format": "pt"}} first,
  then one entry per tensor in data order, data sections contiguous from 0 to
  the end of the file. One dtype per file (F32, F16 or BF16). Names:
  - BertModel names (no prefix): `embeddings.word_embeddings.weight` [V,d],
    `embeddings.position_embeddings.weight` [P,d],
    `embeddings.token_type_embeddings.weight` [2,d],
    `embeddings.LayerNorm.weight/.bias` [d], and per layer i
    `encoder.layer.{{i}}.attention.self.query/key/value.weight` [d,d] `.bias` [d],
    `encoder.layer.{{i}}.attention.output.dense.weight` [d,d] `.bias`,
    `encoder.layer.{{i}}.attention.output.LayerNorm.weight/.bias`,
    `encoder.layer.{{i}}.intermediate.dense.weight` [d_ff,d] `.bias` [d_ff],
    `encoder.layer.{{i}}.output.dense.weight` [d,d_ff] `.bias` [d],
    `encoder.layer.{{i}}.output.LayerNorm.weight/.bias`; then
    `pooler.dense.weight/.bias` (unused by an encoder). Weights are [out, in]
    as in torch.nn.Linear.
  - `tiny_bert_prefixed`: the same names with `bert.` in front, plus the unused
    BertForMaskedLM head `cls.predictions.bias` [V],
    `cls.predictions.decoder.weight` [V,d] (a copy of the word embeddings),
    `cls.predictions.transform.dense.weight/.bias`,
    `cls.predictions.transform.LayerNorm.weight/.bias`; all sorted by name, as
    the safetensors library writes them.
  - `tiny_bert_legacy_ln`: BertModel names with `LayerNorm.gamma` /
    `LayerNorm.beta` for `LayerNorm.weight` / `LayerNorm.bias` (old TF-converted
    checkpoints; Hugging Face renames them at load).
  - vanilla: `embedding.weight` [V,d], then the state_dict() of a real
    `torch.nn.TransformerEncoder(TransformerEncoderLayer(d, heads, d_ff,
    dropout=0, activation="relu", batch_first=True, norm_first=False), layers)`
    under `encoder.`: `encoder.layers.{{i}}.self_attn.in_proj_weight` [3d,d]
    (rows Wq; Wk; Wv), `.self_attn.in_proj_bias` [3d],
    `.self_attn.out_proj.weight/.bias`, `.linear1.weight` [d_ff,d] `/.bias`,
    `.linear2.weight` [d,d_ff] `/.bias`, `.norm1.weight/.bias` (after
    attention), `.norm2.weight/.bias` (after the FFN).
- `input.jsonl` - 8 pre-tokenised documents, one per line:
  `{{"id": "d0", "input_ids": [...], "token_type_ids": [...]}}`.
  BERT: `[CLS]`=2 ... `[SEP]`=3; lengths include 1 (just `[CLS]`), 2 and
  exactly `max_position_embeddings`; d0/d3/d4/d7 are sentence pairs (types 0
  then 1); d2 and d5 have no `token_type_ids` (the default is all zeros); d3
  contains id V-1 and d4 contains id 0 as an ordinary token. Vanilla: random ids
  in [0, V), lengths 37, 1, 600, 5, 64, 129, 17, 300 (600 > any BERT limit);
  only d0 and d5 carry `token_type_ids` (all zeros, ignored).
- Reference outputs (NumPy .npy, little-endian, C order), computed in float64
  from the weights exactly as stored (after F16/BF16 rounding), each document
  encoded alone (no padding, no attention mask), then cast to float32:
  - `ref_tokens.npy` float32 [total_tokens, d]: last hidden states of all
    documents concatenated in input order (what `--pooling none` writes as
    PREFIX.tokens.npy).
  - `ref_offsets.npy` int64 [n_docs+1]: document i is rows
    offsets[i]..offsets[i+1] of ref_tokens (PREFIX.offsets.npy).
  - `ref_cls.npy`, `ref_mean.npy`, `ref_max.npy` float32 [n_docs, d]: the first
    token's state, the mean over all tokens of the document (including [CLS]
    and [SEP]), the elementwise max over them.
  - `ref_cls_norm.npy`, `ref_mean_norm.npy`, `ref_max_norm.npy`: the same rows
    divided by their L2 norm (`--normalize`).
- `tiny_bert/` only: `vocab.txt` (1000 WordPiece tokens, uncased:
  `[PAD]`=0 `[UNK]`=1 `[CLS]`=2 `[SEP]`=3 `[MASK]`=4, then punctuation, digits,
  a-z, a few CJK characters, `##` pieces and suffixes, common English words,
  one `[unused0]`), `tokenizer_config.json` (`do_lower_case`: true) and
  `text.jsonl` (5 raw-text documents `{{"id", "text"}}` for the tokenizer path;
  no reference outputs for them).

## How the reference is computed

`TorchReference` uses PyTorch's own modules in float64: each BERT layer is
copied into `torch.nn.TransformerEncoderLayer(d, heads, d_ff, dropout=0,
activation=gelu (erf) or tanh-GELU, layer_norm_eps, batch_first=True,
norm_first=False)` (Wq;Wk;Wv stacked into in_proj_weight; a post-LN BERT
layer is exactly this module) and the embeddings into `nn.Embedding` (word,
position, token type) + `nn.LayerNorm`. The vanilla model is a real
`nn.TransformerEncoder` fed `E[id] * sqrt(d) + PE[p]` with

    interleaved: PE[p, 2i] = sin(p / base^(2i/d)),  PE[p, 2i+1] = cos(p / base^(2i/d))
    concat:      PE[p, i]  = sin(p / base^(2i/d)),  PE[p, d/2+i] = cos(p / base^(2i/d)),  i < d/2

A second formulation written from torch ops (per-head softmax(q k^T/sqrt(d_k)) v,
F.layer_norm, GELU written out with erf or tanh) must agree to 1e-12 relative
Frobenius error or the generator stops ("agree" below).

Weights: N(0, (g/sqrt(fan_in))^2) with gains chosen so attention is peaked
(score std ~1.5) and FFN pre-activations reach GELU's curved region; biases
0.1 N; LayerNorm gamma 1 + 0.1 N, beta 0.1 N; BERT embeddings N(0, 0.02^2)
as in BERT's init (small pre-LN variance makes layer_norm_eps visible);
vanilla embeddings N(0, 1/d) so E * sqrt(d) is comparable to PE.

## Figures (from the last generation)

Per-layer change = ||x_out - x_in||_F / ||x_in||_F over all tokens (each layer
materially changes the states). fp32 = relative Frobenius error of the same
forward pass done in float32 with torch ops: what correct fp32 arithmetic
reaches, against the 1e-5 tolerance of the C tests. vs F32 weights = how far
F16/BF16 rounding of the weights alone moves the output (why the reference is
computed from the stored values).

| folder | per-layer change | agree | fp32 | vs F32 weights |
|---|---|---|---|---|
{figures}

Sensitivity: relative Frobenius error of the last hidden states when a
plausible bug is injected into the independent formulation. Everything except
the vanilla layer_norm_eps (the pre-LN variance there is O(1), so 1e-5 vs
1e-12 moves the output by ~3e-6) is caught by a 1e-5 tolerance; test LayerNorm's
epsilon in a kernel unit test as well.

| folder | bug: error |
|---|---|
{sens}

## Checking shardenc's output by hand

    shardenc embed --model tests/fixtures/models/tiny_bert --input tests/fixtures/models/tiny_bert/input.jsonl \\
        --output /tmp/o --pooling none
    /usr/bin/python3 tests/ref/check_outputs.py tests/fixtures/models/tiny_bert /tmp/o

`check_outputs.py` reads PREFIX.tokens.npy + PREFIX.offsets.npy, or PREFIX.npy
(pooled; it reports the error against every ref_* pooling and names the
closest unless `--pooling`/`--normalize` are given), prints relative Frobenius
errors (overall and per document) and exits 1 above `--tol` (default 1e-5).
"""


# ----------------------------------------------------------------------------- main


def sensitivity(cfg, ws, docs, ref_tokens):
    """How far plausible implementation bugs move the last hidden states
    (relative Frobenius error vs the reference); all must exceed 1e-5."""
    bert = cfg["model_type"] == "bert"
    variants = {}
    if bert:
        other = "gelu_new" if cfg["hidden_act"] == "gelu" else "gelu"
        variants["act=" + other] = dict(act=other)
        variants["layer_norm_eps=1e-5"] = dict(eps=1e-5)
        variants["layer_norm_eps=1e-6"] = dict(eps=1e-6)
        variants["token_type_ids ignored"] = dict(ignore_types=True)
        variants["positions shifted by 1"] = dict(pos_shift=1)
    else:
        other = "concat" if cfg["sinusoidal_layout"] == "interleaved" else "interleaved"
        variants["sinusoidal_layout=" + other] = dict(layout=other)
        variants["scale_embedding=false"] = dict(scale_embedding=False)
        variants["act=gelu"] = dict(act="gelu")
        variants["layer_norm_eps=1e-12"] = dict(eps=1e-12)
    dk = cfg["hidden_size"] // cfg["num_attention_heads"]
    variants["attention scale 1/d_k"] = dict(attn_scale=1.0 / dk)
    out = {}
    for name, kw in variants.items():
        t = torch.cat([independent_forward(cfg, ws, d["input_ids"], types_of(d), **kw) for d in docs])
        out[name] = rel(t, ref_tokens)
    return out


def types_of(d):
    return d.get("token_type_ids", [0] * len(d["input_ids"]))


def generate(out_dir, quiet=False):
    log = (lambda *a: None) if quiet else print
    specs, weights, docs_by = model_specs()
    os.makedirs(out_dir, exist_ok=True)
    stats = {}
    for name, cfg, wkey, dtype, naming, dkey in specs:
        d = os.path.join(out_dir, name)
        os.makedirs(d, exist_ok=True)
        w = weights[wkey]
        # ---- checkpoint
        if naming == "plain":
            entries = bert_entries(w)
        elif naming == "legacy_ln":
            entries = bert_entries(w, legacy_ln=True)
        elif naming == "prefixed":
            # A BertForMaskedLM checkpoint: bert.* plus the unused MLM head, in the
            # name-sorted order the safetensors library writes.
            entries = bert_entries(w, prefix="bert.") + mlm_head_weights(301, cfg["hidden_size"],
                                                                         cfg["vocab_size"], w["tok"])
            entries.sort(key=lambda e: e[0])
        else:
            entries = vanilla_entries(w, cfg)
        write_safetensors(os.path.join(d, "model.safetensors"), entries, dtype)
        write_json(os.path.join(d, "config.json"), cfg)
        docs = docs_by[dkey]
        write_jsonl(os.path.join(d, "input.jsonl"), docs)
        # ---- reference, from the weights as stored
        ws = stored_weights(w, dtype)
        ref = TorchReference(cfg, ws)
        toks, indep, trace = [], [], []
        for doc in docs:
            toks.append(ref.forward(doc["input_ids"], types_of(doc)))
            indep.append(independent_forward(cfg, ws, doc["input_ids"], types_of(doc), trace=trace))
        tokens, indep = torch.cat(toks), torch.cat(indep)
        agree = rel(indep, tokens)
        if not agree <= AGREE_TOL:
            raise SystemExit("%s: torch modules and independent formulation differ: %.3e" % (name, agree))
        verify_checkpoint(d, cfg, docs, tokens)
        offsets = np.cumsum([0] + [len(x["input_ids"]) for x in docs]).astype(np.int64)
        pooled = pool(tokens, offsets)
        save_npy(os.path.join(d, "ref_tokens.npy"), tokens.numpy().astype(np.float32))
        save_npy(os.path.join(d, "ref_offsets.npy"), offsets)
        for k in ("cls", "mean", "max", "cls_norm", "mean_norm", "max_norm"):
            save_npy(os.path.join(d, "ref_%s.npy" % k), pooled[k].numpy().astype(np.float32))
        # ---- statistics: per-layer relative change ||x_out - x_in|| / ||x_in|| over all tokens
        L = cfg["num_hidden_layers"]
        per_layer = []
        for li in range(L):
            xin = torch.cat([trace[j * L + li][0] for j in range(len(docs))])
            xout = torch.cat([trace[j * L + li][1] for j in range(len(docs))])
            per_layer.append(rel(xout, xin))
        st = {"agree": agree, "per_layer_change": per_layer, "n_tokens": int(offsets[-1])}
        # what correct float32 arithmetic achieves (the C runtime's situation)
        t32 = torch.cat([independent_forward(cfg, ws, x["input_ids"], types_of(x), dtype=torch.float32)
                         for x in docs]).double()
        st["fp32_error"] = rel(t32, tokens)
        if dtype == "F32" and naming in ("plain", "vanilla"):
            st["sensitivity"] = sensitivity(cfg, ws, docs, tokens)
        if dtype != "F32":
            # what the rounding of the weights alone does (the reference uses the rounded ones)
            t32 = torch.cat([independent_forward(cfg, stored_weights(w, "F32"), x["input_ids"], types_of(x))
                             for x in docs])
            st["vs_f32_weights"] = rel(tokens, t32)
        stats[name] = st
        log("%-20s tokens=%4d agree=%.1e fp32=%.1e per-layer change=%s%s%s" % (
            name, st["n_tokens"], agree, st["fp32_error"], " ".join("%.3f" % c for c in per_layer),
            "" if "vs_f32_weights" not in st else "  vs F32 weights %.2e" % st["vs_f32_weights"],
            "" if "sensitivity" not in st else "\n    sensitivity: " + ", ".join(
                "%s %.1e" % kv for kv in st["sensitivity"].items())))
    # ---- tokenizer demo files for tiny_bert
    d = os.path.join(out_dir, "tiny_bert")
    write_bytes(os.path.join(d, "vocab.txt"), ("\n".join(tiny_vocab.build_vocab(1000)) + "\n").encode("utf-8"))
    write_json(os.path.join(d, "tokenizer_config.json"), {"do_lower_case": True, "model_max_length": 64,
                                                          "tokenizer_class": "BertTokenizer"})
    write_jsonl(os.path.join(d, "text.jsonl"), TEXT_DOCS)
    for name, st in stats.items():
        for k, v in st.get("sensitivity", {}).items():
            if v < 1e-5:
                log("note: %s: '%s' moves the output by only %.1e (< the 1e-5 tolerance)" % (name, k, v))
    write_readme(out_dir, specs, stats)
    return stats


def fmt_size(n):
    return "%.1f MB" % (n / 1e6) if n >= 1e6 else "%d kB" % round(n / 1e3)


def write_readme(out_dir, specs, stats):
    rows, sizes, total = [], [], 0
    for name, cfg, wkey, dtype, naming, dkey in specs:
        d = os.path.join(out_dir, name)
        sz = sum(os.path.getsize(os.path.join(d, f)) for f in sorted(os.listdir(d)))
        total += sz
        st = stats[name]
        rows.append("| %s | %s | %d/%d/%d/%d | %d | %s | %s | %s | %s | %d | %s |" % (
            name, cfg["model_type"], cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"],
            cfg["intermediate_size"], cfg["vocab_size"], cfg.get("max_position_embeddings", "none"),
            cfg["hidden_act"], dtype, NAMING_DOC[naming], st["n_tokens"], fmt_size(sz)))
    figs = []
    for name, cfg, wkey, dtype, naming, dkey in specs:
        st = stats[name]
        line = "| %s | %s | %.1e | %.1e | %s |" % (
            name, " ".join("%.3f" % c for c in st["per_layer_change"]), st["agree"], st["fp32_error"],
            "%.1e" % st["vs_f32_weights"] if "vs_f32_weights" in st else "")
        figs.append(line)
    sens = []
    for name, st in stats.items():
        if "sensitivity" in st:
            sens.append("| %s | %s |" % (name, "; ".join("%s: %.1e" % kv for kv in st["sensitivity"].items())))
    text = README_TEMPLATE.format(models="\n".join(rows), figures="\n".join(figs), sens="\n".join(sens),
                                  total=fmt_size(total))
    write_bytes(os.path.join(out_dir, "README.md"), text.encode("utf-8"))


def tree_digest(root):
    h = hashlib.sha256()
    for dp, dn, fn in sorted(os.walk(root)):
        dn.sort()
        for f in sorted(fn):
            p = os.path.join(dp, f)
            h.update(os.path.relpath(p, root).encode() + b"\0")
            with open(p, "rb") as fh:
                h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="output folder (default tests/fixtures/models)")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    generate(a.out, a.quiet)
    if not a.quiet:
        print("tree sha256:", tree_digest(a.out))


if __name__ == "__main__":
    main()
