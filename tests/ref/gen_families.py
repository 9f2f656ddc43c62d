#!/usr/bin/python3
"""Reference fixtures for the families beyond BERT and vanilla (issue 10):
RoBERTa (sharded checkpoint, `roberta.` prefix, a pad id inside a document),
DistilBERT (`distilbert.` prefix + MLM head) and ELECTRA (embedding_size 32 <
hidden_size 64, `electra.` prefix + discriminator head).

    /usr/bin/python3 tests/ref/gen_families.py [--out DIR]

Writes tests/fixtures/models/tiny_{roberta,distilbert,electra}/: config.json,
the weights, input.jsonl, ref_tokens.npy (last hidden states of every document
concatenated), ref_offsets.npy and ref_mean.npy / ref_cls.npy. Deterministic
(numpy PCG64 seeds, torch single-threaded float64, fixed file order).

The reference forward is written from the Hugging Face transformers modeling
code of each family and reads the checkpoint by its tensor names (so a wrong
name in our recipe table cannot pass):
  RoBERTa  src/transformers/models/roberta/modeling_roberta.py
           (commit 000824f17f924a8b520edf04c597c461fc83356a)
           RobertaEmbeddings.forward: embeddings = word + token_type (+ position if
           "absolute"), LayerNorm; create_position_ids_from_input_ids:
           mask = ids.ne(padding_idx); pos = cumsum(mask) * mask + padding_idx;
           RobertaSelfAttention.forward: scores = q k^T / sqrt(d_head), softmax, @ v;
           RobertaSelfOutput: LayerNorm(dense(ctx) + input); RobertaIntermediate /
           RobertaOutput: LayerNorm(dense(act(dense(x))) + x)  (copied from BERT).
  DistilBERT src/transformers/models/distilbert/modeling_distilbert.py
           (commit 00b326f4caca2d1fbebe5c86e1693475fd4d0c9a)
           Embeddings.forward: word + position (arange), LayerNorm(eps=1e-12), no types;
           MultiHeadSelfAttention.forward: q = q / sqrt(dim_per_head); scores = q k^T;
           softmax; context @ v; out_lin; TransformerBlock.forward:
           sa_layer_norm(sa_output + x); output_layer_norm(ffn(sa) + sa);
           FFN.ff_chunk: lin2(activation(lin1(x))).
  MPNet    src/transformers/models/mpnet/modeling_mpnet.py
           (commit 00099b9f15ad8bea330364709453fc49cbba90e5)
           MPNetEmbeddings: self.padding_idx = 1 (fixed); position_ids =
           create_position_ids_from_input_ids(input_ids, self.padding_idx); word +
           position, LayerNorm; no token types.
           MPNetEncoder.forward: position_bias = self.compute_position_bias(hidden_states)
           (relative_position = memory - context = j - i, relative_position_bucket with
           num_buckets=32, max_distance=128, in float32 via n.float(); values =
           relative_attention_bias(rp_bucket).permute([2, 0, 1])), shared by all layers;
           MPNetSelfAttention.forward: scores = q k^T / sqrt(d_head); scores += position_bias;
           softmax; c = probs @ v; o(c); MPNetAttention: LayerNorm(o + hidden);
           MPNetIntermediate / MPNetOutput as BERT's.
  ELECTRA  src/transformers/models/electra/modeling_electra.py
           ElectraEmbeddings (BERT's, at embedding_size); ElectraModel.__init__:
           `if config.embedding_size != config.hidden_size: self.embeddings_project =
           nn.Linear(config.embedding_size, config.hidden_size)`; ElectraModel.forward:
           hidden = embeddings(...); `if hasattr(self, "embeddings_project"): hidden =
           self.embeddings_project(hidden)`; then the BERT encoder.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_reference as G  # noqa: E402  (file writers, docs, pooling)

ROOT, DEFAULT_OUT = G.ROOT, G.DEFAULT_OUT  # importing G set torch to 1 thread and float64


def N(rng, shape, std):
    return (rng.standard_normal(shape) * std).astype(np.float32)


def ln_params(rng, n):
    return (1.0 + N(rng, (n,), 0.1)).astype(np.float32), N(rng, (n,), 0.1)


def layer_tensors(rng, D, H, Fd, names):
    """One encoder layer under the family's names (q, k, v, o, ln1, w1, w2, ln2)."""
    g = math.sqrt(1.5 / math.sqrt(D // H))
    t = []
    for k in ("q", "k", "v"):
        t += [(names[k] + ".weight", N(rng, (D, D), (g if k != "v" else 1.0) / math.sqrt(D))),
              (names[k] + ".bias", N(rng, (D,), 0.1))]
    t += [(names["o"] + ".weight", N(rng, (D, D), 1 / math.sqrt(D))), (names["o"] + ".bias", N(rng, (D,), 0.1))]
    a, b = ln_params(rng, D)
    t += [(names["ln1"] + ".weight", a), (names["ln1"] + ".bias", b)]
    t += [(names["w1"] + ".weight", N(rng, (Fd, D), 1.6 / math.sqrt(D))), (names["w1"] + ".bias", N(rng, (Fd,), 0.1))]
    t += [(names["w2"] + ".weight", N(rng, (D, Fd), 1 / math.sqrt(Fd))), (names["w2"] + ".bias", N(rng, (D,), 0.1))]
    a, b = ln_params(rng, D)
    t += [(names["ln2"] + ".weight", a), (names["ln2"] + ".bias", b)]
    return t


def bert_layer_names(p, i):
    q = "%sencoder.layer.%d." % (p, i)
    return {"q": q + "attention.self.query", "k": q + "attention.self.key", "v": q + "attention.self.value",
            "o": q + "attention.output.dense", "ln1": q + "attention.output.LayerNorm",
            "w1": q + "intermediate.dense", "w2": q + "output.dense", "ln2": q + "output.LayerNorm"}


def distil_layer_names(p, i):
    q = "%stransformer.layer.%d." % (p, i)
    return {"q": q + "attention.q_lin", "k": q + "attention.k_lin", "v": q + "attention.v_lin",
            "o": q + "attention.out_lin", "ln1": q + "sa_layer_norm", "w1": q + "ffn.lin1", "w2": q + "ffn.lin2",
            "ln2": q + "output_layer_norm"}


PREFIX = {"roberta": "roberta.", "distilbert": "distilbert.", "electra": "electra.", "mpnet": "mpnet."}


def mpnet_layer_names(p, i):
    q = "%sencoder.layer.%d." % (p, i)
    return {"q": q + "attention.attn.q", "k": q + "attention.attn.k", "v": q + "attention.attn.v",
            "o": q + "attention.attn.o", "ln1": q + "attention.LayerNorm", "w1": q + "intermediate.dense",
            "w2": q + "output.dense", "ln2": q + "output.LayerNorm"}


NAMES = {"roberta": bert_layer_names, "electra": bert_layer_names, "distilbert": distil_layer_names,
         "mpnet": mpnet_layer_names}


def relative_position_bucket(relative_position, num_buckets=32, max_distance=128):
    """MPNetEncoder.relative_position_bucket, verbatim in its arithmetic (float32 via n.float())."""
    ret = 0
    n = -relative_position
    num_buckets //= 2
    ret += (n < 0).to(torch.long) * num_buckets
    n = torch.abs(n)
    max_exact = num_buckets // 2
    is_small = n < max_exact
    val_if_large = max_exact + (
        torch.log(n.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)
    ).to(torch.long)
    val_if_large = torch.min(val_if_large, torch.full_like(val_if_large, num_buckets - 1))
    ret += torch.where(is_small, n, val_if_large)
    return ret


def make_checkpoint(family, cfg, seed):
    rng = np.random.default_rng(seed)
    D, L, V, P = cfg["_D"], cfg["_L"], cfg["vocab_size"], cfg["max_position_embeddings"]
    H, Fd, E = cfg["_H"], cfg["_F"], cfg.get("embedding_size", cfg["_D"])
    p = PREFIX[family]
    t = [(p + "embeddings.word_embeddings.weight", N(rng, (V, E), 0.02)),
         (p + "embeddings.position_embeddings.weight", N(rng, (P, E), 0.02))]
    if family not in ("distilbert", "mpnet"):
        t.append((p + "embeddings.token_type_embeddings.weight", N(rng, (cfg["type_vocab_size"], E), 0.02)))
    a, b = ln_params(rng, E)
    t += [(p + "embeddings.LayerNorm.weight", a), (p + "embeddings.LayerNorm.bias", b)]
    if family == "electra":
        t += [(p + "embeddings_project.weight", N(rng, (D, E), 1.0 / math.sqrt(E))),
              (p + "embeddings_project.bias", N(rng, (D,), 0.1))]
    for i in range(L):
        t += layer_tensors(rng, D, H, Fd, NAMES[family](p, i))
    if family == "mpnet":
        t.append((p + "encoder.relative_attention_bias.weight", N(rng, (cfg["relative_attention_num_buckets"], H), 1.0)))
    # task heads the encoder must ignore
    if family == "roberta":
        t += [("lm_head.dense.weight", N(rng, (D, D), 0.1)), ("lm_head.bias", N(rng, (V,), 0.1))]
    elif family == "mpnet":
        t += [("lm_head.dense.weight", N(rng, (D, D), 0.1)), ("lm_head.bias", N(rng, (V,), 0.1))]
    elif family == "distilbert":
        t += [("vocab_transform.weight", N(rng, (D, D), 0.1)), ("vocab_projector.bias", N(rng, (V,), 0.1))]
    else:
        t += [("discriminator_predictions.dense.weight", N(rng, (D, D), 0.1)),
              ("discriminator_predictions.dense_prediction.weight", N(rng, (1, D), 0.1))]
    return t


def act_fn(name):
    if name == "gelu":
        return lambda z: 0.5 * z * (1.0 + torch.erf(z / math.sqrt(2.0)))
    if name == "gelu_new":
        return lambda z: 0.5 * z * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (z + 0.044715 * z ** 3)))
    raise ValueError(name)


@torch.no_grad()
def hf_forward(family, cfg, W, ids, types, wrong=None):
    """One document (batch 1, no padding), following the modeling code cited above."""
    p = PREFIX[family]
    w = lambda n: W[p + n]  # noqa: E731
    D, H = cfg["_D"], cfg["_H"]
    dh = D // H
    eps = 1e-12 if family == "distilbert" else cfg["layer_norm_eps"]
    ids_t = torch.tensor(ids, dtype=torch.long)
    n = len(ids)
    if family in ("roberta", "mpnet"):
        pad = cfg["pad_token_id"] if family == "roberta" else 1  # MPNetEmbeddings: self.padding_idx = 1
        mask = ids_t.ne(pad).int()                      # create_position_ids_from_input_ids
        pos = (torch.cumsum(mask, dim=0).type_as(mask) * mask).long() + pad
        if wrong == "count_pad":
            pos = torch.arange(n) + pad + 1
        elif wrong == "from_zero":
            pos = torch.arange(n)
    else:
        pos = torch.arange(n)                           # position_ids buffer [:, :seq_length]
    x = w("embeddings.word_embeddings.weight")[ids_t] + w("embeddings.position_embeddings.weight")[pos]
    if family not in ("distilbert", "mpnet"):
        tt = torch.tensor(types, dtype=torch.long)
        x = x + w("embeddings.token_type_embeddings.weight")[tt]
    E = x.shape[1]
    x = F.layer_norm(x, (E,), w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"), eps)
    if family == "electra" and cfg["embedding_size"] != D:
        x = x @ w("embeddings_project.weight").T + w("embeddings_project.bias")
    act = act_fn(cfg.get("activation", cfg.get("hidden_act")))
    names = NAMES[family]
    bias = None
    if family == "mpnet":  # MPNetEncoder.compute_position_bias (no position_ids: arange)
        ctx = torch.arange(n, dtype=torch.long)[:, None]
        mem = torch.arange(n, dtype=torch.long)[None, :]
        bucket = relative_position_bucket(mem - ctx, num_buckets=32)
        bias = w("encoder.relative_attention_bias.weight")[bucket].permute([2, 0, 1])  # [H, n, n]
        if wrong == "bias_transposed":
            bias = bias.transpose(1, 2)
    lin = lambda nm, z: z @ W[nm + ".weight"].T + W[nm + ".bias"]  # noqa: E731
    for i in range(cfg["_L"]):
        nm = names(p, i)
        q = lin(nm["q"], x).view(n, H, dh).transpose(0, 1)
        k = lin(nm["k"], x).view(n, H, dh).transpose(0, 1)
        v = lin(nm["v"], x).view(n, H, dh).transpose(0, 1)
        if family == "distilbert":
            scores = (q / math.sqrt(dh)) @ k.transpose(1, 2)
        else:
            scores = (q @ k.transpose(1, 2)) / math.sqrt(dh)
        if bias is not None:
            scores = scores + bias
        ctx = (torch.softmax(scores, dim=-1) @ v).transpose(0, 1).reshape(n, D)
        x = F.layer_norm(lin(nm["o"], ctx) + x, (D,), W[nm["ln1"] + ".weight"], W[nm["ln1"] + ".bias"], eps)
        h = lin(nm["w2"], act(lin(nm["w1"], x)))
        x = F.layer_norm(h + x, (D,), W[nm["ln2"] + ".weight"], W[nm["ln2"] + ".bias"], eps)
    return x


def configs():
    base = {"attention_probs_dropout_prob": 0.1, "hidden_dropout_prob": 0.1, "initializer_range": 0.02,
            "torch_dtype": "float32"}
    rob = dict(base, architectures=["RobertaForMaskedLM"], model_type="roberta", hidden_size=64,
               num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, hidden_act="gelu",
               max_position_embeddings=42, type_vocab_size=1, vocab_size=300, layer_norm_eps=1e-5,
               pad_token_id=1, bos_token_id=0, eos_token_id=2, position_embedding_type="absolute")
    dis = {"architectures": ["DistilBertForMaskedLM"], "model_type": "distilbert", "dim": 64, "n_layers": 2,
           "n_heads": 4, "hidden_dim": 128, "activation": "gelu", "max_position_embeddings": 40,
           "vocab_size": 300, "pad_token_id": 0, "sinusoidal_pos_embds": False, "dropout": 0.1,
           "attention_dropout": 0.1, "torch_dtype": "float32"}
    ele = dict(base, architectures=["ElectraForPreTraining"], model_type="electra", embedding_size=32,
               hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
               hidden_act="gelu_new", max_position_embeddings=40, type_vocab_size=2, vocab_size=300,
               layer_norm_eps=1e-12, pad_token_id=0, position_embedding_type="absolute")
    mpn = dict(base, architectures=["MPNetForMaskedLM"], model_type="mpnet", hidden_size=64, num_hidden_layers=2,
               num_attention_heads=4, intermediate_size=128, hidden_act="gelu", max_position_embeddings=160,
               vocab_size=300, layer_norm_eps=1e-5, pad_token_id=1, bos_token_id=0, eos_token_id=2,
               relative_attention_num_buckets=32)
    out = []
    for fam, c, seed in (("roberta", rob, 301), ("distilbert", dis, 302), ("electra", ele, 303), ("mpnet", mpn, 304)):
        c = dict(c)
        c["_D"] = c.get("hidden_size", c.get("dim"))
        c["_H"] = c.get("num_attention_heads", c.get("n_heads"))
        c["_L"] = c.get("num_hidden_layers", c.get("n_layers"))
        c["_F"] = c.get("intermediate_size", c.get("hidden_dim"))
        out.append((fam, c, seed))
    return out


def docs_for(fam, cfg, seed):
    V = cfg["vocab_size"]
    if fam in ("roberta", "mpnet"):
        maxlen = cfg["max_position_embeddings"] - cfg["pad_token_id"] - 1
        docs = G.bert_docs(seed, V, maxlen, cfg.get("type_vocab_size", 1), cls_id=0, sep_id=2)
        docs[4]["input_ids"][2] = cfg["pad_token_id"]  # a pad id inside: position padding_idx, not counted
        docs[0]["input_ids"][3] = cfg["pad_token_id"]
        if fam == "mpnet":
            for d in docs:
                d.pop("token_type_ids", None)
    elif fam == "distilbert":
        docs = G.bert_docs(seed, V, cfg["max_position_embeddings"], 1)
        for d in docs:
            d.pop("token_type_ids", None)  # DistilBERT has no token types
    else:
        docs = G.bert_docs(seed, V, cfg["max_position_embeddings"], cfg["type_vocab_size"])
    return docs


def generate(out_dir):
    for fam, cfg, seed in configs():
        d = os.path.join(out_dir, "tiny_" + fam)
        os.makedirs(d, exist_ok=True)
        tensors = make_checkpoint(fam, cfg, seed)
        W = {n: torch.from_numpy(a.astype(np.float64)) for n, a in tensors}
        G.write_json(os.path.join(d, "config.json"), {k: v for k, v in cfg.items() if not k.startswith("_")})
        for f in os.listdir(d):
            if f.startswith("model"):
                os.remove(os.path.join(d, f))
        if fam == "roberta":
            # sharded the way save_pretrained shards: an index and two files
            half = len(tensors) // 2
            parts = [("model-00001-of-00002.safetensors", tensors[:half]),
                     ("model-00002-of-00002.safetensors", tensors[half:])]
            wm = {}
            for fn, part in parts:
                G.write_safetensors(os.path.join(d, fn), part, "F32")
                wm.update({n: fn for n, _ in part})
            size = sum(a.size * 4 for _, a in tensors)
            G.write_json(os.path.join(d, "model.safetensors.index.json"),
                         {"metadata": {"total_size": size}, "weight_map": dict(sorted(wm.items()))})
        else:
            G.write_safetensors(os.path.join(d, "model.safetensors"), tensors, "F32")
        docs = docs_for(fam, cfg, seed + 100)
        G.write_jsonl(os.path.join(d, "input.jsonl"), docs)
        outs, offs = [], [0]
        for doc in docs:
            types = doc.get("token_type_ids", [0] * len(doc["input_ids"]))
            outs.append(hf_forward(fam, cfg, W, doc["input_ids"], types))
            offs.append(offs[-1] + len(doc["input_ids"]))
        tok = torch.cat(outs, 0)
        if fam == "mpnet":
            # every reachable bucket is used (distances up to 157 > max_distance 128;
            # bucket 16, "distance 0 to the right", cannot occur), and
            # the bias read as bias[i - j] moves the output far past 1e-5
            longest = max(len(x["input_ids"]) for x in docs)
            r = torch.arange(longest)
            assert len(set(relative_position_bucket(r[None, :] - r[:, None]).flatten().tolist())) == 31
            alt = torch.cat([hf_forward(fam, cfg, W, doc["input_ids"], None, "bias_transposed") for doc in docs], 0)
            e = float(torch.linalg.norm(alt - tok) / torch.linalg.norm(tok))
            assert e > 1e-3, e
            print("  sensitivity bias_transposed %.2e" % e)
        if fam == "roberta":
            # The fixture must tell RoBERTa's positions apart from near misses:
            # counting the pad id, or starting at 0, moves the output far past 1e-5.
            for wrong in ("count_pad", "from_zero"):
                alt = torch.cat([hf_forward(fam, cfg, W, doc["input_ids"],
                                            doc.get("token_type_ids", [0] * len(doc["input_ids"])), wrong)
                                 for doc in docs], 0)
                e = float(torch.linalg.norm(alt - tok) / torch.linalg.norm(tok))
                assert e > 1e-3, (wrong, e)
                print("  sensitivity %-10s %.2e" % (wrong, e))
        G.save_npy(os.path.join(d, "ref_tokens.npy"), tok.numpy().astype(np.float32))
        G.save_npy(os.path.join(d, "ref_offsets.npy"), np.array(offs, dtype=np.int64))
        pooled = G.pool(tok, offs)
        for k in ("cls", "mean", "max", "cls_norm", "mean_norm", "max_norm"):
            G.save_npy(os.path.join(d, "ref_%s.npy" % k), pooled[k].numpy().astype(np.float32))
        print("%-16s %d tokens, %d tensors" % ("tiny_" + fam, offs[-1], len(tensors)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=DEFAULT_OUT)
    generate(ap.parse_args().out)


if __name__ == "__main__":
    main()
