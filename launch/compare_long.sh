#!/usr/bin/env bash
# shardenc vs an eager PyTorch model of the same long-context shape (ModernBERT,
# NomicBERT), alternated in one run: tokens/s and peak memory at 2k/8k/32k
# tokens, one sequence, batch 1, and their ratios (launch/compare_long.py has
# the details: which code the peer follows, how 32k and full depth are handled).
#
#   launch/compare_long.sh [--layers 3] [--threads 2,1] [--seqs 2048,8192,32768] [--repeat 2]
#                          [--peer-mem-gib G] [--timeout S] [--markdown] [CONFIG.json ...]
#
# Default config: configs/modernbert-base.json. Uses /usr/bin/python3 (Debian's
# python3-torch); SHARDENC=path/to/shardenc (default build/shardenc).
# OPENBLAS_CORETYPE is left as the environment sets it (printed).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTORCH_PY="${PYTORCH_PY:-/usr/bin/python3}"
"$PYTORCH_PY" -c 'import torch' 2>/dev/null || {
    echo "compare_long.sh: $PYTORCH_PY cannot import torch (Debian: apt-get install python3-torch)" >&2
    exit 2
}
export SHARDENC="${SHARDENC:-$HERE/../build/shardenc}"
[ -x "$SHARDENC" ] || { echo "compare_long.sh: $SHARDENC not found (set SHARDENC=...)" >&2; exit 2; }
exec "$PYTORCH_PY" "$HERE/compare_long.py" "$@"
