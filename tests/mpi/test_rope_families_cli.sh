#!/usr/bin/env bash
# The post-norm RoPE families of issue 12 through `shardenc embed` and `info`
# under real mpiexec, pre-tokenised input, against tests/ref/gen_rope_families.py
# (torch float64 from modeling_hf_nomic_bert.py and new-impl's modeling.py):
# NomicBERT (fc11/fc12 SwiGLU, dynamic NTK on the documents longer than
# max_trained_positions; 4 heads on 3 ranks = 2,1,1, 256 units = 86,85,85) and
# GTE "new" (fixed NTK, up_gate_proj; 6 heads on 4 ranks = 2,2,1,1) at TP 1-4,
# with SP, on a 2x2 grid; the interleaved half-head variant; the default
# window (trained length without NTK); refusals by name.
set -u
source "$SE_SRC/launch/mpi_env.sh"
source "$SE_SRC/tests/mpi/check_lib.sh"
export OMP_NUM_THREADS=1
bin="$SHARDENC"; npy="python3 $SE_SRC/tests/mpi/npytool.py"
fn="$SE_FIXTURES/models/tiny_nomic_bert"; fg="$SE_FIXTURES/models/tiny_gte_new"
w="$(mktemp -d)"; trap 'rm -rf "$w"' EXIT
embed() { SE_MPI_TIMEOUT=300 se_mpiexec -n "$1" "$bin" embed --quiet "${@:2}"; }

check "nomic_bert tp 1: token states" embed 1 --model "$fn" --input "$fn/input.jsonl" --output "$w/n1" --pooling none
check "  = PyTorch" $npy cmp "$w/n1.tokens.npy" "$fn/ref_tokens.npy" 1e-5
check "  NTK configured: windows of n_positions (40)" grep -q '"window_tokens": 40' "$w/n1.meta.json"
check "nomic_bert tp 3 sp (uneven heads and units): token states" embed 3 --tp 3 --sp --model "$fn" --input "$fn/input.jsonl" --output "$w/n3" --pooling none
check "  = PyTorch" $npy cmp "$w/n3.tokens.npy" "$fn/ref_tokens.npy" 1e-5
check "nomic_bert 2x2 grid (dp 2 x tp 2): mean" embed 4 --tp 2 --model "$fn" --input "$fn/input.jsonl" --output "$w/n4" --pooling mean
check "  = PyTorch" $npy cmp "$w/n4.npy" "$fn/ref_mean.npy" 1e-5
# half of each head rotated, interleaved pairs, no NTK
mkdir -p "$w/il"
ln -s "$fn/model.safetensors" "$w/il/"
cp "$fn/config_interleaved.json" "$w/il/config.json"
check "nomic_bert interleaved, fraction 0.5, tp 4: token states" embed 4 --tp 4 --model "$w/il" --input "$fn/input.jsonl" --output "$w/i4" --pooling none --max-tokens 40
check "  = PyTorch" $npy cmp "$w/i4.tokens.npy" "$fn/ref_interleaved_tokens.npy" 1e-5
check "no NTK: windows of max_trained_positions (16) by default" bash -c "$bin embed --quiet --model $w/il --input $fn/input.jsonl --output $w/i1 --pooling cls && grep -q '\"window_tokens\": 16' $w/i1.meta.json"
check "gte new tp 1: token states" embed 1 --model "$fg" --input "$fg/input.jsonl" --output "$w/g1" --pooling none
check "  = PyTorch" $npy cmp "$w/g1.tokens.npy" "$fg/ref_tokens.npy" 1e-5
check "gte new tp 4 sp (uneven heads): token states" embed 4 --tp 4 --sp --model "$fg" --input "$fg/input.jsonl" --output "$w/g4" --pooling none
check "  = PyTorch" $npy cmp "$w/g4.tokens.npy" "$fg/ref_tokens.npy" 1e-5
check "gte new 2x2 grid, sp: cls" embed 4 --tp 2 --sp --model "$fg" --input "$fg/input.jsonl" --output "$w/g22" --pooling cls
check "  = PyTorch" $npy cmp "$w/g22.npy" "$fg/ref_cls.npy" 1e-5
check "info names the RoPE variant and the gated FFN" bash -c "$bin info --model $fn > $w/info.txt && grep -q 'positions RoPE (theta 1000 global, every layer global, 8 of 8 dims per head, rotate_half, dynamic NTK scaling factor 2 beyond max_trained_positions 16), post-LN layers, gated FFN (silu)' $w/info.txt && $bin info --model $w/il | grep -q '4 of 8 dims per head, interleaved pairs)' && $bin info --model $fg | grep -q 'rotate_half, fixed NTK scaling factor 2), post-LN layers, gated FFN (gelu)'"
check "info: nomic-embed-text-v1.5 shape, windows of its trained 2048 tokens" bash -c "$bin info --model $SE_SRC/configs/nomic-embed-text-v1.5.json | grep -q 'up to 8192 tokens per sequence, windows of 2048 by default'"
check "info: gte-base-en-v1.5 shape, windows of 8192" bash -c "$bin info --model $SE_SRC/configs/gte-base-en-v1.5.json | grep -q 'fixed NTK scaling factor 2).*' && $bin info --model $SE_SRC/configs/gte-base-en-v1.5.json | grep -q 'windows of 8192 by default'"
bench2() { "$bin" bench --quiet --config "$fn" --seq 30 --batch 2 --iters 1 --warmup 0 && "$bin" bench --quiet --config "$fg" --seq 40 --batch 1 --iters 1 --warmup 0; }
check "bench runs both families (nomic past max_trained_positions)" bench2
# refusals, by name
mkdir -p "$w/bad"
ln -s "$fn/model.safetensors" "$w/bad/"
badcfg() { # key value: $w/bad/config.json = the fixture's with "key": value (one key per line there)
    sed "s/^  \"$1\": .*/  \"$1\": $2,/" "$fn/config.json" > "$w/bad/config.json" && grep -q "\"$1\": $2," "$w/bad/config.json"
}
# config-level refusals show in info (no MPI start-up); the missing bias in embed
refuse() { badcfg "$1" "$2" && ! "$bin" info --model "$w/bad" >/dev/null 2>"$w/e.txt" && grep -q "$3" "$w/e.txt"; }
check "nomic prenorm true: refused, named" refuse prenorm true "prenorm = true is not supported for nomic_bert"
check "nomic activation gelu (dense MLP): refused, named" refuse activation_function '"gelu"' "activation_function 'gelu' is not supported for nomic_bert"
check "nomic rotary_emb_fraction 0.3: refused, named" refuse rotary_emb_fraction 0.3 "rotary_emb_fraction = 0.3 gives 2.4 rotary dims"
nobias() { badcfg qkv_proj_bias true && ! "$bin" embed --quiet --model "$w/bad" --input "$fn/input.jsonl" --output "$w/b" 2>"$w/e.txt" && grep -q "missing tensor 'encoder.layers.0.attn.Wqkv.bias'" "$w/e.txt" && [ ! -e "$w/b.npy" ]; }
check "nomic qkv_proj_bias true without the bias tensors: refused, named, no output" nobias
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
