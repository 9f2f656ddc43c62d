#!/usr/bin/env bash
# shardenc vs an eager PyTorch model of the same long-context shape (ModernBERT,
# NomicBERT), alternated in one run: tokens/s and peak memory at 2k/8k/32k
# tokens, one sequence, batch 1, and their ratios (launch/compare_long.py has
# the details: which code the peer follows, how 32k and full depth are handled).
#
#   launch/compare_long.sh [--layers 3] [--threads 2,1] [--seqs 2048,8192,32768] [--repeat 2]
#                          [--peer-mem-gib G] [--timeout S] [--markdown] [CONFIG.json ...]
#
# Default config: configs/modernbert-base.json. Runs under /usr/bin/python3
# (Debian's python3-torch; PYTORCH_PY=... to change); SHARDENC=path/to/shardenc
# (default build/shardenc). OPENBLAS_CORETYPE is left as the environment sets it.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "${PYTORCH_PY:-/usr/bin/python3}" "$HERE/compare_long.py" "$@"
