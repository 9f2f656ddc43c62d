"""Exports the encoder that `shardenc bench` times to ONNX, with Debian's
python3-torch: torch.nn.TransformerEncoder of the config's shape (post-LN,
GELU(erf), batch_first, float32, eval), input [batch, seq, d_model] (the
embedding output; bench's embedding + LayerNorm is < 1 % of its time), fixed
shapes. Used by launch/compare_ort.sh.

    /usr/bin/python3 launch/compare_ort.py CONFIG.json LAYERS SEQ BATCH OUT.onnx
"""
import json
import sys

import torch


def main():
    cfg_path, layers, seq, batch, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    cfg = json.load(open(cfg_path))
    d, h, dff = cfg["hidden_size"], cfg["num_attention_heads"], cfg["intermediate_size"]
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(d, h, dff, dropout=0.0, activation="gelu", batch_first=True,
                                             norm_first=False, layer_norm_eps=cfg.get("layer_norm_eps", 1e-12))
    enc = torch.nn.TransformerEncoder(layer, layers, enable_nested_tensor=False).eval()
    x = torch.randn(batch, seq, d)
    # traced with grad enabled: under no_grad eval() takes PyTorch's fused
    # fast path (aten::_transformer_encoder_layer_fwd), which has no ONNX form
    torch.onnx.export(enc, (x,), out, input_names=["x"], output_names=["y"], opset_version=17,
                      do_constant_folding=True)
    print(f"exported {out}: {layers} layers, d {d}, {h} heads, d_ff {dff}, input [{batch}, {seq}, {d}]")


if __name__ == "__main__":
    main()
