#!/usr/bin/env bash
# Tensor- and data-parallel forward under real mpiexec: T = 1..4, with and
# without --sp, and 2 groups x 2 TP on 4 ranks, for the tiny and small BERT
# and vanilla fixtures and the tiny RoBERTa (sharded), DistilBERT, ELECTRA and
# MPNet (relative position buckets: each rank its global heads' bias columns)
# fixtures (4 heads on 3 ranks: 2,1,1) at fewer points; each result within 1e-5 of PyTorch and of
# one rank.
set -u
source "$SE_SRC/launch/mpi_env.sh"
prog="$SE_BUILD/tests/prog_model_tp"
fx="$SE_FIXTURES/models"
fail=0; pass=0
run() { # np tp sp model
    if out=$(SE_MPI_TIMEOUT=120 se_mpiexec -n "$1" "$prog" "$fx/$4" "$2" "$3" 2>&1); then
        pass=$((pass + 1)); echo "$out" | grep -v '^$'
    else
        fail=$((fail + 1)); echo "FAIL: -n $1 tp $2 sp $3 $4"; echo "$out"
    fi
}
for model in tiny_bert small_bert tiny_vanilla small_vanilla; do
    for t in 1 2 3 4; do
        run "$t" "$t" 0 "$model"
        [ "$t" -gt 1 ] && run "$t" "$t" 1 "$model"
    done
    run 4 2 0 "$model"   # 2 data-parallel groups x 2 tensor-parallel ranks
    run 4 2 1 "$model"
    run 2 1 0 "$model"   # 2 groups of 1
done
# The other families: TP 1-4, SP at 2-4, a 2x2 grid (fewer runs: CI time).
# tiny_roberta is a sharded checkpoint (model.safetensors.index.json): each
# rank reads its slices from both shards.
for model in tiny_roberta tiny_distilbert tiny_electra tiny_mpnet; do
    for a in "1 1 0" "2 2 1" "3 3 1" "4 4 0" "4 2 1"; do
        set -- $a
        run "$1" "$2" "$3" "$model"
    done
done
# uneven splits: 8 heads on 3 ranks (3,3,2), 1024 FFN units on 3 (342,341,341) are covered by t=3 above.
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
