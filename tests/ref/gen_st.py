#!/usr/bin/python3
"""A tiny sentence-transformers folder and what SentenceTransformer.encode
returns for its documents (sentence-transformers cannot be installed here, so
its modules are re-implemented in torch float64 from its source):

  UKPLab/sentence-transformers sentence_transformers/models/Pooling.py
  (commit 01d5ae387b49838059bb9323ea93e7cbed1c4862), Pooling.forward:
    cls            token_embeddings[:, 0]
    max            token_embeddings[input_mask_expanded == 0] = -1e9; torch.max(., 1)
    mean           sum(token_embeddings * mask, 1) / torch.clamp(mask.sum(1), min=1e-9)
    mean_sqrt_len  sum(...) / torch.sqrt(clamp(mask.sum(1)))
    weightedmean   weights = arange(1, seq_len + 1); mask * weights; sum / clamp(sum of weights)
    lasttoken      the last position with attention_mask 1 (gather)
    output_vector = torch.cat(output_vectors, 1) in the order above.
  Newer Pooling.forward (include_prompt): `if not self.include_prompt and
  "prompt_length" in features: attention_mask[:, :prompt_length] = 0`.
  models/Dense.py Dense.forward: activation_function(linear(sentence_embedding)).
  models/Normalize.py: F.normalize(sentence_embedding, p=2, dim=1).

The batch is padded (right padding, attention_mask 0) as SentenceTransformer
batches are, so the reference does not share the runtime's packed layout.

    /usr/bin/python3 tests/ref/gen_st.py [--out DIR]

Writes tests/fixtures/models/tiny_st/: a BERT encoder (d 32, 2 layers),
modules.json (Transformer, Pooling mean, Dense 32->16 tanh, Dense 16->8
identity without bias, Normalize), sentence_bert_config.json (max_seq_length
24), config_sentence_transformers.json (prompts), input.jsonl, and
ref_st.npy (the folder's pipeline), ref_pool_<mode>.npy and
ref_pool_<mode>_skip3.npy (each pooling mode alone over the last hidden
states, and with the first min(3, len-1) tokens of each document excluded as
a prompt), ref_pool_all.npy (all
six concatenated).
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
MODES = ["cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"]


def st_pool(tok, mask, modes, prompt_length=None, lens=None):
    """Pooling.forward over a padded batch tok [B, T, D], mask [B, T]."""
    tok = tok.clone()
    mask = mask.clone()
    if prompt_length is not None:
        mask[:, :prompt_length] = 0
    out = []
    if "cls" in modes:
        out.append(tok[:, 0])
    if "max" in modes:
        m = mask.unsqueeze(-1).expand(tok.size()).to(tok.dtype)
        t = tok.clone()
        t[m == 0] = -1e9
        out.append(torch.max(t, 1)[0])
    if "mean" in modes or "mean_sqrt_len_tokens" in modes:
        m = mask.unsqueeze(-1).expand(tok.size()).to(tok.dtype)
        s = torch.sum(tok * m, 1)
        c = torch.clamp(m.sum(1), min=1e-9)
        if "mean" in modes:
            out.append(s / c)
        if "mean_sqrt_len_tokens" in modes:
            out.append(s / torch.sqrt(c))
    if "weightedmean" in modes:
        m = mask.unsqueeze(-1).expand(tok.size()).to(tok.dtype)
        w = torch.arange(1, tok.shape[1] + 1).unsqueeze(0).unsqueeze(-1).expand(tok.size()).to(tok.dtype)
        m = m * w
        out.append(torch.sum(tok * m, 1) / torch.clamp(m.sum(1), min=1e-9))
    if "lasttoken" in modes:
        # last position whose (unmodified) attention mask is 1: right padding
        out.append(torch.stack([tok[i, lens[i] - 1] for i in range(tok.shape[0])]))
    return torch.cat(out, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=DEFAULT_OUT)
    out_dir = os.path.join(ap.parse_args().out, "tiny_st")
    os.makedirs(os.path.join(out_dir, "1_Pooling"), exist_ok=True)
    os.makedirs(os.path.join(out_dir, "2_Dense"), exist_ok=True)
    os.makedirs(os.path.join(out_dir, "3_Dense"), exist_ok=True)
    D, H, L, Fd, V, P = 32, 4, 2, 64, 200, 40
    cfg = G.bert_config(D, H, L, Fd, V, P)
    w = G.make_weights(401, D, H, L, Fd, V, P=P, T=2, bert=True)
    G.write_safetensors(os.path.join(out_dir, "model.safetensors"), G.bert_entries(w), "F32")
    G.write_json(os.path.join(out_dir, "config.json"), cfg)
    G.write_json(os.path.join(out_dir, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
        {"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"},
        {"idx": 4, "name": "4", "path": "4_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    G.write_json(os.path.join(out_dir, "1_Pooling", "config.json"), {
        "word_embedding_dimension": D, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False, "pooling_mode_lasttoken": False, "include_prompt": True})
    rng = np.random.default_rng(402)
    W1 = (rng.standard_normal((16, D)) / math.sqrt(D) * 2).astype(np.float32)
    b1 = (rng.standard_normal(16) * 0.1).astype(np.float32)
    W2 = (rng.standard_normal((8, 16)) / math.sqrt(16)).astype(np.float32)
    G.write_json(os.path.join(out_dir, "2_Dense", "config.json"), {
        "in_features": D, "out_features": 16, "bias": True,
        "activation_function": "torch.nn.modules.activation.Tanh"})
    G.write_safetensors(os.path.join(out_dir, "2_Dense", "model.safetensors"),
                        [("linear.weight", W1), ("linear.bias", b1)], "F32")
    G.write_json(os.path.join(out_dir, "3_Dense", "config.json"), {
        "in_features": 16, "out_features": 8, "bias": False,
        "activation_function": "torch.nn.modules.linear.Identity"})
    G.write_safetensors(os.path.join(out_dir, "3_Dense", "model.safetensors"), [("linear.weight", W2)], "F32")
    G.write_json(os.path.join(out_dir, "sentence_bert_config.json"), {"max_seq_length": 24, "do_lower_case": False})
    G.write_json(os.path.join(out_dir, "config_sentence_transformers.json"), {
        "prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": None,
        "similarity_fn_name": "cosine"})
    docs = G.bert_docs(403, V, 24, 2)
    G.write_jsonl(os.path.join(out_dir, "input.jsonl"), docs)
    ws = G.stored_weights(w, "F32")
    ref = G.TorchReference(cfg, ws)
    toks = [ref.forward(d["input_ids"], G.types_of(d)) for d in docs]
    lens = [t.shape[0] for t in toks]
    T = max(lens)
    batch = torch.zeros(len(docs), T, D)
    mask = torch.zeros(len(docs), T, dtype=torch.long)
    for i, t in enumerate(toks):
        batch[i, :lens[i]] = t
        mask[i, :lens[i]] = 1
    save = lambda n, a: G.save_npy(os.path.join(out_dir, n), a.numpy().astype(np.float32))  # noqa: E731
    for m in MODES:
        save("ref_pool_%s.npy" % m, st_pool(batch, mask, [m], lens=lens))
        if m not in ("cls", "lasttoken"):
            # a prompt of min(3, len - 1) tokens per document, each pooled alone
            # (encode uses one prompt_length per call; the runtime takes one per sequence)
            rows = [st_pool(batch[i:i + 1], mask[i:i + 1], [m], prompt_length=min(3, lens[i] - 1), lens=lens[i:i + 1])
                    for i in range(len(docs))]
            save("ref_pool_%s_skip3.npy" % m, torch.cat(rows, 0))
    save("ref_pool_all.npy", st_pool(batch, mask, MODES, lens=lens))
    x = st_pool(batch, mask, ["mean"], lens=lens)
    x = torch.tanh(x @ torch.from_numpy(W1.astype(np.float64)).T + torch.from_numpy(b1.astype(np.float64)))
    x = x @ torch.from_numpy(W2.astype(np.float64)).T
    save("ref_st.npy", F.normalize(x, p=2, dim=1))
    # text input for the prompt checks of tests/mpi/test_families_cli.sh
    G.write_bytes(os.path.join(out_dir, "vocab.txt"), ("\n".join(G.tiny_vocab.build_vocab(V)) + "\n").encode("utf-8"))
    G.write_jsonl(os.path.join(out_dir, "text.jsonl"), [{"id": "t%d" % i, "text": t["text"]} for i, t in enumerate(G.TEXT_DOCS)])
    G.write_jsonl(os.path.join(out_dir, "text_query.jsonl"),
                  [{"id": "t%d" % i, "text": "query: " + t["text"]} for i, t in enumerate(G.TEXT_DOCS)])
    print("tiny_st: %d documents, %d tokens" % (len(docs), sum(lens)))


if __name__ == "__main__":
    main()
