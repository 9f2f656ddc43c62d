#!/usr/bin/env bash
# shardenc embed with plain Open MPI over a hostfile (no batch system).
#
#   launch/mpirun_example.sh HOSTFILE MODEL_DIR corpus.jsonl OUT_PREFIX [TP] [RANKS_PER_NODE] [THREADS]
#
# --map-by ppr:R:node:PE=t puts R ranks on every node, each on t cores, and
# --bind-to core pins it there; OMP_PLACES=cores / OMP_PROC_BIND=close then
# spread each rank's t OpenMP threads over its own t cores (--report-bindings
# prints the result: check it once). R x t must not exceed a node's cores.
# Consecutive ranks land on the same node, so TP groups (TP dividing R) stay
# inside a node and only the data-parallel groups span nodes.
set -euo pipefail
HOSTFILE="${1:?hostfile}" MODEL="${2:?model dir}" INPUT="${3:?corpus.jsonl}" OUTPUT="${4:?output prefix}"
TP="${5:-1}" R="${6:-4}" T="${7:-8}"
SHARDENC="${SHARDENC:-shardenc}"
[ $((R % TP)) = 0 ] || { echo "mpirun_example.sh: TP $TP does not divide $R ranks per node" >&2; exit 2; }
NODES=$(grep -cvE '^[[:space:]]*(#|$)' "$HOSTFILE")
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OMP_NUM_THREADS="$T" OMP_PLACES=cores OMP_PROC_BIND=close
exec mpirun --hostfile "$HOSTFILE" -n $((NODES * R)) --map-by "ppr:$R:node:PE=$T" --bind-to core --report-bindings \
    -x OMP_NUM_THREADS -x OMP_PLACES -x OMP_PROC_BIND -x PATH -x LD_LIBRARY_PATH \
    "$SHARDENC" embed --model "$MODEL" --input "$INPUT" --output "$OUTPUT" --tp "$TP" --pooling mean --normalize --resume
