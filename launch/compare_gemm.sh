#!/usr/bin/env bash
# The GEMM backends side by side on this machine: `shardenc bench` with
# --gemm openblas and --gemm onednn alternated, best of N passes each, at the
# bert-base shape (seq 512 x 8 and 4096 x 1), 1 and 2 threads; prints
# tokens/s, % of the cores' FMA peak (register-only loop, same run) and the
# onednn/openblas ratio. OPENBLAS_CORETYPE is left as the environment sets it;
# UNSET_CORETYPE=1 unsets it for these runs only (what a user's machine
# without the variable would see) and says so.
#
#   launch/compare_gemm.sh [--layers L] [--passes N]     (defaults 2 and 3)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="${SHARDENC:-$HERE/../build/shardenc}"
CFG="$HERE/../configs/bert-base-long.json"
layers=2 passes=3
while [ $# -gt 0 ]; do
    case "$1" in
        --layers) layers="$2"; shift 2 ;;
        --passes) passes="$2"; shift 2 ;;
        *) echo "usage: launch/compare_gemm.sh [--layers L] [--passes N]" >&2; exit 2 ;;
    esac
done
[ -x "$BIN" ] || { echo "compare_gemm.sh: $BIN not found (set SHARDENC=...)" >&2; exit 2; }
if [ "${UNSET_CORETYPE:-0}" = 1 ]; then
    echo "note: OPENBLAS_CORETYPE unset for these runs (was '${OPENBLAS_CORETYPE:-}')"
    unset OPENBLAS_CORETYPE
else
    echo "OPENBLAS_CORETYPE='${OPENBLAS_CORETYPE:-}' (as the environment sets it)"
fi
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(getconf _NPROCESSORS_ONLN) cores; bert-base shape, $layers layers"
printf "%-10s %-7s %12s %8s %12s %8s %7s\n" shape threads openblas_tok/s %peak onednn_tok/s %peak ratio
for shape in "512 8" "4096 1"; do
    set -- $shape
    for t in 1 2; do
        best_o=0 best_d=0 pk_o=0 pk_d=0
        for p in $(seq "$passes"); do
            for g in openblas onednn; do
                out=$(OMP_NUM_THREADS=$t "$BIN" bench --config "$CFG" --layers "$layers" --seq "$1" --batch "$2" \
                      --iters 2 --json --gemm $g)
                read -r tps pk < <(python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(j["tokens_per_s"], j["pct_of_fma_peak"])' "$out")
                if [ $g = openblas ]; then
                    python3 -c "import sys; sys.exit(0 if $tps > $best_o else 1)" && best_o=$tps pk_o=$pk
                else
                    python3 -c "import sys; sys.exit(0 if $tps > $best_d else 1)" && best_d=$tps pk_d=$pk
                fi
            done
        done
        printf "%-10s %-7s %12.1f %8.1f %12.1f %8.1f %7.2f\n" "$1x$2" "$t" "$best_o" "$pk_o" "$best_d" "$pk_d" \
            "$(python3 -c "print($best_d / $best_o)")"
    done
done
