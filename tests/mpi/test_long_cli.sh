#!/usr/bin/env bash
# The long-context families (issue 12) through `shardenc embed` and `info`
# under real mpiexec, pre-tokenised input, against tests/ref/gen_long.py
# (torch float64 from modeling_modernbert.py): ModernBERT at TP 1-4 (6 heads
# on 4 ranks = 2,2,1,1; 40 FFN units on 3 = 14,13,13) with and without SP,
# on a 2x2 grid, from both config formats; refusals by name.
set -u
source "$SE_SRC/launch/mpi_env.sh"
source "$SE_SRC/tests/mpi/check_lib.sh"
export OMP_NUM_THREADS=1
bin="$SHARDENC"; fx="$SE_FIXTURES/models/tiny_modernbert"; npy="python3 $SE_SRC/tests/mpi/npytool.py"
w="$(mktemp -d)"; trap 'rm -rf "$w"' EXIT
embed() { SE_MPI_TIMEOUT=300 se_mpiexec -n "$1" "$bin" embed --quiet "${@:2}"; }

check "modernbert tp 1: token states" embed 1 --model "$fx" --input "$fx/input.jsonl" --output "$w/t1" --pooling none
check "  = PyTorch" $npy cmp "$w/t1.tokens.npy" "$fx/ref_tokens.npy" 1e-5
check "  window length follows the model (64 positions)" grep -q '"window_tokens": 64' "$w/t1.meta.json"
check "modernbert tp 4 sp (uneven heads): token states" embed 4 --tp 4 --sp --model "$fx" --input "$fx/input.jsonl" --output "$w/t4" --pooling none
check "  = PyTorch" $npy cmp "$w/t4.tokens.npy" "$fx/ref_tokens.npy" 1e-5
check "modernbert tp 3 (uneven FFN units): mean" embed 3 --tp 3 --model "$fx" --input "$fx/input.jsonl" --output "$w/m3" --pooling mean
check "  = PyTorch" $npy cmp "$w/m3.npy" "$fx/ref_mean.npy" 1e-5
# the newer config format: layer_types + rope_parameters
mkdir -p "$w/new"
ln -s "$fx/model.safetensors" "$w/new/"
cp "$fx/config_layer_types.json" "$w/new/config.json"
check "layer_types config on a 2x2 grid, sp: cls" embed 4 --tp 2 --sp --model "$w/new" --input "$fx/input.jsonl" --output "$w/g" --pooling cls
check "  = PyTorch" $npy cmp "$w/g.npy" "$fx/ref_cls.npy" 1e-5
check "info names RoPE, the alternation and the gated FFN" bash -c "$bin info --model $fx > $w/info.txt && grep -q 'positions RoPE (theta 160000 global, 10000 local; layer l global iff l % 3 == 0, the others a 10-token window), pre-LN layers, gated FFN (gelu)' $w/info.txt && grep -q 'positions: RoPE on q and k' $w/info.txt"
check "info reads the layer_types format the same" bash -c "$bin info --model $w/new | grep -q 'theta 160000 global, 10000 local'"
# refusals
mkdir -p "$w/bad"
ln -s "$fx/model.safetensors" "$w/bad/"
python3 - "$fx/config_layer_types.json" "$w/bad/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["layer_types"][1] = "full_attention"; json.dump(c, open(sys.argv[2], "w"))
PY
check "layer_types that disagree with global_attn_every_n_layers: refused, named" bash -c "! $bin info --model $w/bad 2>$w/e.txt && grep -q \"layer_types\[1\] = 'full_attention', but global_attn_every_n_layers = 3 makes layer 1 sliding_attention\" $w/e.txt"
python3 - "$fx/config.json" "$w/bad/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["mlp_bias"] = True; json.dump(c, open(sys.argv[2], "w"))
PY
check "mlp_bias true: refused, named" bash -c "! $bin embed --quiet --model $w/bad --input $fx/input.jsonl --output $w/b 2>$w/e.txt && grep -q 'mlp_bias = true is not supported for modernbert' $w/e.txt && [ ! -e $w/b.npy ]"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
