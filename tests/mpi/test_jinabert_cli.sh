#!/usr/bin/env bash
# JinaBERT-v2 (issue 12: ALiBi in the flash tile loop, a GLU MLP, no position
# table) through `shardenc embed` and `info` under real mpiexec, pre-tokenised
# input, against tests/ref/gen_jinabert.py (torch float64 from JinaBERT's
# modeling code). tiny_jinabert has 6 heads (not a power of two: interleaved
# slopes) and geglu: TP 1, TP 4 with SP (6 heads on 4 ranks = 2,2,1,1, so
# ranks 1-3 need the slopes of global heads 2.., not 0..), TP 3 (40 FFN units
# = 14,13,13 of both GLU halves) and a 2x2 DP x TP grid; tiny_jinabert_p2 has
# 4 heads and reglu under a `bert.` prefix. Refusals by name.
set -u
source "$SE_SRC/launch/mpi_env.sh"
source "$SE_SRC/tests/mpi/check_lib.sh"
export OMP_NUM_THREADS=1
bin="$SHARDENC"; fx="$SE_FIXTURES/models/tiny_jinabert"; p2="$SE_FIXTURES/models/tiny_jinabert_p2"
npy="python3 $SE_SRC/tests/mpi/npytool.py"
w="$(mktemp -d)"; trap 'rm -rf "$w"' EXIT
embed() { SE_MPI_TIMEOUT=300 se_mpiexec -n "$1" "$bin" embed --quiet "${@:2}"; }

check "jinabert tp 1: token states" embed 1 --model "$fx" --input "$fx/input.jsonl" --output "$w/t1" --pooling none
check "  = PyTorch" $npy cmp "$w/t1.tokens.npy" "$fx/ref_tokens.npy" 1e-5
check "  window length follows max_position_embeddings (64)" grep -q '"window_tokens": 64' "$w/t1.meta.json"
check "jinabert tp 4 sp (6 heads on 4 ranks): token states" embed 4 --tp 4 --sp --model "$fx" --input "$fx/input.jsonl" --output "$w/t4" --pooling none
check "  = PyTorch" $npy cmp "$w/t4.tokens.npy" "$fx/ref_tokens.npy" 1e-5
check "jinabert tp 3 (uneven GLU units): mean" embed 3 --tp 3 --model "$fx" --input "$fx/input.jsonl" --output "$w/m3" --pooling mean
check "  = PyTorch" $npy cmp "$w/m3.npy" "$fx/ref_mean.npy" 1e-5
check "jinabert 2x2 DP x TP grid, sp: cls" embed 4 --tp 2 --sp --model "$fx" --input "$fx/input.jsonl" --output "$w/g" --pooling cls
check "  = PyTorch" $npy cmp "$w/g.npy" "$fx/ref_cls.npy" 1e-5
check "jinabert 4 heads (power of two), reglu, bert. prefix, tp 2: max" embed 2 --tp 2 --model "$p2" --input "$p2/input.jsonl" --output "$w/p2" --pooling max
check "  = PyTorch" $npy cmp "$w/p2.npy" "$p2/ref_max.npy" 1e-5
check "info names ALiBi, the GLU and the slopes' branch" bash -c "$bin info --model $fx > $w/info.txt && grep -q 'family jinabert: positions none, ALiBi' $w/info.txt && grep -q 'post-LN layers, gated FFN (gelu)' $w/info.txt && grep -q 'slopes of 6 heads, not a power of two' $w/info.txt"
check "info on the real shape: 8192 tokens, 12 heads on 4 ranks" bash -c "$bin info --model $SE_SRC/configs/jina-embeddings-v2-base-en.json --tp 4 > $w/info2.txt && grep -q 'up to 8192 tokens per sequence' $w/info2.txt && grep -q '9-11 (3)' $w/info2.txt"
# text: WordPiece from the folder's vocab.txt (jina-embeddings-v2-*-en ship a BERT
# WordPiece tokenizer); the same rows as the ids `shardenc tokenize` makes
mkdir -p "$w/txt"
ln -s "$fx/model.safetensors" "$fx/config.json" "$w/txt/"
python3 - "$w/txt/vocab.txt" "$w/docs.jsonl" <<'PY'
import json, sys
words = "the of and to in is long document encoder attention linear bias slope head query key value".split()
pieces = ["##ing", "##ed"] + list("abcdefghijklmnopqrstuvwxyz") + ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"]
vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ","] + words + pieces
open(sys.argv[1], "w").write("\n".join(vocab[:100]) + "\n")
docs = ["The attention of a long document encoder.", "Linear biases, one slope per head!", "Query, key and value."]
open(sys.argv[2], "w").write("".join(json.dumps({"id": "t%d" % i, "text": t}) + "\n" for i, t in enumerate(docs)))
PY
check "text input (WordPiece from vocab.txt): mean" "$bin" embed --quiet --model "$w/txt" --input "$w/docs.jsonl" --output "$w/tx" --pooling mean
check "  = the pre-tokenised ids of shardenc tokenize" bash -c "$bin tokenize --quiet --model $w/txt --input $w/docs.jsonl --output $w/ids.jsonl && $bin embed --quiet --model $w/txt --input $w/ids.jsonl --output $w/ti --pooling mean && $npy cmp $w/tx.npy $w/ti.npy 0"
# refusals
mkdir -p "$w/bad"
ln -s "$fx/model.safetensors" "$w/bad/"
python3 - "$fx/config.json" "$w/bad/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["feed_forward_type"] = "original"; json.dump(c, open(sys.argv[2], "w"))
PY
check "feed_forward_type original with alibi: refused, named" bash -c "! $bin embed --quiet --model $w/bad --input $fx/input.jsonl --output $w/b 2>$w/e.txt && grep -q \"feed_forward_type 'original' is not supported with position_embedding_type 'alibi'\" $w/e.txt && [ ! -e $w/b.npy ]"
mkdir -p "$w/code"
ln -s "$p2/model.safetensors" "$w/code/"
python3 - "$fx/config.json" "$w/code/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); json.dump(c, open(sys.argv[2], "w"))
PY
check "weights of another shape (config of 6 heads, 4-head file): refused, tensor named" bash -c "! $bin embed --quiet --model $w/code --input $fx/input.jsonl --output $w/c 2>$w/e.txt && grep -q \"bert.embeddings.word_embeddings.weight' has shape\" $w/e.txt && [ ! -e $w/c.npy ]"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
