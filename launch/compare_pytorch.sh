#!/usr/bin/env bash
# shardenc vs PyTorch (torch.nn.TransformerEncoder), same shapes, same thread
# count, one run: tokens/s and peak-memory ratios for seq 128/512/2048/8192.
#
#   launch/compare_pytorch.sh [--layers L] [--threads T] [--tokens 4096] [--iters K] [--markdown]
#
# Defaults: configs/bert-base-long.json (bert-base shape, 8192 positions),
# 4 of its 12 layers (the same for both; a full run then takes ~5 min on 2
# cores), threads = all cores. Uses /usr/bin/python3 (Debian's python3-torch).
# SHARDENC=path/to/shardenc (default build/shardenc).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTORCH_PY="${PYTORCH_PY:-/usr/bin/python3}"
"$PYTORCH_PY" -c 'import torch' 2>/dev/null || {
    echo "compare_pytorch.sh: $PYTORCH_PY cannot import torch (Debian: apt-get install python3-torch)" >&2
    exit 2
}
export SHARDENC="${SHARDENC:-$HERE/../build/shardenc}"
[ -x "$SHARDENC" ] || { echo "compare_pytorch.sh: $SHARDENC not found (set SHARDENC=...)" >&2; exit 2; }
has_layers=0
for a in "$@"; do [ "$a" = --layers ] && has_layers=1; done
extra=()
[ "$has_layers" = 0 ] && extra=(--layers 4)
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(getconf _NPROCESSORS_ONLN) cores" \
     "($(lscpu | sed -n 's/^Core(s) per socket: *//p') per socket, $(lscpu | sed -n 's/^Thread(s) per core: *//p') thread(s) per core)"
exec "$PYTORCH_PY" "$HERE/compare_pytorch.py" "${extra[@]}" "$@"
