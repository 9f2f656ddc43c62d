#!/usr/bin/env bash
# shardenc vs ONNX Runtime (npm onnxruntime-node, CPU provider) on the same
# encoder shape, same thread count, alternated in one run, best of N passes:
#   1. exports torch.nn.TransformerEncoder of the config's shape to ONNX with
#      Debian's python3-torch (launch/compare_ort.py), one model per shape;
#   2. times it in onnxruntime-node (launch/compare_ort.js), installed once
#      into ~/.cache/shardenc-ort with ONNXRUNTIME_NODE_INSTALL=skip (its CPU
#      binaries are in the npm tarball; the skipped step only fetches CUDA
#      ones from NuGet);
#   3. times `shardenc bench` (fp32, --gemm auto) on the same shape.
#
#   launch/compare_ort.sh [--layers L] [--threads "1 2"] [--passes N] [--shapes "512x8 4096x1"]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="${SHARDENC:-$HERE/../build/shardenc}"
CFG="$HERE/../configs/bert-base-long.json"
PY="${PYTORCH_PY:-/usr/bin/python3}"
ORT_DIR="${ORT_DIR:-$HOME/.cache/shardenc-ort}"
ORT_VERSION="${ORT_VERSION:-1.30.0}"
layers=2 threads="1 2" passes=3 shapes="512x8 4096x1"
while [ $# -gt 0 ]; do
    case "$1" in
        --layers) layers="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        --passes) passes="$2"; shift 2 ;;
        --shapes) shapes="$2"; shift 2 ;;
        *) echo "usage: launch/compare_ort.sh [--layers L] [--threads \"1 2\"] [--passes N] [--shapes \"512x8 4096x1\"]" >&2; exit 2 ;;
    esac
done
[ -x "$BIN" ] || { echo "compare_ort.sh: $BIN not found (set SHARDENC=...)" >&2; exit 2; }
"$PY" -c 'import torch' 2>/dev/null || { echo "compare_ort.sh: $PY cannot import torch (Debian: python3-torch)" >&2; exit 2; }
if [ ! -d "$ORT_DIR/node_modules/onnxruntime-node" ]; then
    mkdir -p "$ORT_DIR"
    [ -f "$ORT_DIR/package.json" ] || (cd "$ORT_DIR" && npm init -y >/dev/null)
    (cd "$ORT_DIR" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund "onnxruntime-node@$ORT_VERSION" >/dev/null)
fi
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
d=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["hidden_size"])' "$CFG")
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(getconf _NPROCESSORS_ONLN) cores;" \
     "OPENBLAS_CORETYPE='${OPENBLAS_CORETYPE:-}'; bert-base shape, $layers layers, fp32"
printf "%-8s %-7s %14s %12s %7s %8s\n" shape threads shardenc_tok/s ort_tok/s ratio gemm
for sh in $shapes; do
    seq="${sh%x*}" batch="${sh#*x}"
    "$PY" "$HERE/compare_ort.py" "$CFG" "$layers" "$seq" "$batch" "$work/m.onnx" >/dev/null
    for t in $threads; do
        best_s=0 best_o=0 gemm=""
        for p in $(seq "$passes"); do
            js=$(OMP_NUM_THREADS=$t "$BIN" bench --config "$CFG" --layers "$layers" --seq "$seq" --batch "$batch" --iters 2 --json)
            read -r tps gemm < <(python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(j["tokens_per_s"], j["gemm"])' "$js")
            jo=$(NODE_PATH="$ORT_DIR/node_modules" ORT_DIMS="[$batch,$seq,$d]" node "$HERE/compare_ort.js" "$work/m.onnx" "$t" 2)
            to=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["tokens_per_s"])' "$jo")
            best_s=$(python3 -c "print(max($best_s, $tps))")
            best_o=$(python3 -c "print(max($best_o, $to))")
        done
        printf "%-8s %-7s %14.1f %12.1f %7.2f %8s\n" "$sh" "$t" "$best_s" "$best_o" \
            "$(python3 -c "print($best_s / $best_o)")" "$gemm"
    done
done
