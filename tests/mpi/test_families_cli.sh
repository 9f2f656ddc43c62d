#!/usr/bin/env bash
# The families and sentence-transformers folders through `shardenc embed` and
# `shardenc info` under real mpiexec (pre-tokenised input): a sentence-
# transformers folder's own pipeline (mean -> Dense -> Dense -> Normalize, the
# window from max_seq_length) against sentence-transformers re-implemented in
# torch; RoBERTa from a sharded checkpoint on a 2x2 grid; DistilBERT and
# ELECTRA at TP 3 with SP; overrides and refusals by name.
set -u
source "$SE_SRC/launch/mpi_env.sh"
source "$SE_SRC/tests/mpi/check_lib.sh"
export OMP_NUM_THREADS=1
bin="$SHARDENC"; fx="$SE_FIXTURES/models"; npy="python3 $SE_SRC/tests/mpi/npytool.py"
w="$(mktemp -d)"; trap 'rm -rf "$w"' EXIT
embed() { SE_MPI_TIMEOUT=300 se_mpiexec -n "$1" "$bin" embed "${@:2}"; }

check "tiny_st, 2 ranks tp 2: the folder's modules" embed 2 --tp 2 --model "$fx/tiny_st" --input "$fx/tiny_st/input.jsonl" --output "$w/st"
cp "$w/check.log" "$w/st.log"
check "  = SentenceTransformer.encode (torch re-implementation)" $npy cmp "$w/st.npy" "$fx/tiny_st/ref_st.npy" 1e-5
check "  banner says what was used and where from" grep -q "pooling mean (from modules.json), Dense 32->16 tanh, Dense 16->8 identity, normalize on (from modules.json), max_seq_length 24" "$w/st.log"
embed 1 --model "$fx/tiny_st" --input "$fx/tiny_st/input.jsonl" --output "$w/st1" --quiet >/dev/null 2>&1
check "  meta.json records the head" grep -q '"head": "pooling mean (from modules.json)' "$w/st1.meta.json"
check "  window length from max_seq_length" grep -q '"window_tokens": 24' "$w/st1.meta.json"
check "  options name the pooling used" grep -q '"pooling": "mean", "normalize": true' "$w/st1.meta.json"
check "--pooling that breaks the Dense width is refused" bash -c "! $bin embed --quiet --model $fx/tiny_st --input $fx/tiny_st/input.jsonl --output $w/bad --pooling cls+mean 2>$w/err.txt && grep -q 'in_features 32, but the pooling (2 modes x 32) gives 64' $w/err.txt && [ ! -e $w/bad.npy ]"
check "--normalize with --no-normalize is refused" bash -c "! $bin embed --quiet --model $fx/tiny_st --input $fx/tiny_st/input.jsonl --output $w/bad --normalize --no-normalize 2>/dev/null"
check "tiny_bert (no modules.json): banner says pooling was not configured" embed 1 --model "$fx/tiny_bert" --input "$fx/tiny_bert/input.jsonl" --output "$w/b"
cp "$w/check.log" "$w/b.log"
check "  " grep -q "pooling cls (not configured by the model" "$w/b.log"
check "  rows = PyTorch cls" $npy cmp "$w/b.npy" "$fx/tiny_bert/ref_cls.npy" 1e-5

# prompts: prepended to the text before tokenising, one string (SentenceTransformer.encode)
check "--prefix 'query: '" embed 1 --model "$fx/tiny_st" --input "$fx/tiny_st/text.jsonl" --output "$w/p1" --prefix "query: "
cp "$w/check.log" "$w/p1.log"
check "  banner names the prompt" grep -q 'prompt "query: " (from --prefix) on text documents' "$w/p1.log"
check "  --prompt-name query" embed 1 --quiet --model "$fx/tiny_st" --input "$fx/tiny_st/text.jsonl" --output "$w/p2" --prompt-name query
check "  no prompt, 'query: ' written in the text" embed 1 --quiet --model "$fx/tiny_st" --input "$fx/tiny_st/text_query.jsonl" --output "$w/p3"
check "  all three equal" bash -c "$npy cmp $w/p1.npy $w/p3.npy 0 && $npy cmp $w/p2.npy $w/p3.npy 0"
check "  a prompt name the folder lacks is refused, listing its names" bash -c "! $bin embed --quiet --model $fx/tiny_st --input $fx/tiny_st/text.jsonl --output $w/bad --prompt-name doc 2>$w/e.txt && grep -q \"prompt-name 'doc': .*has only query, passage\" $w/e.txt"
# include_prompt false: pooling leaves [CLS] and the prompt's tokens out
mkdir -p "$w/ip/1_Pooling"
cp "$fx/tiny_st/config.json" "$fx/tiny_st/model.safetensors" "$fx/tiny_st/vocab.txt" "$fx/tiny_st/config_sentence_transformers.json" "$w/ip/"
echo '[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}, {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]' > "$w/ip/modules.json"
echo '{"pooling_mode_mean_tokens": true, "include_prompt": false}' > "$w/ip/1_Pooling/config.json"
echo '{"id": "s", "text": "the encoder reads"}' > "$w/one.jsonl"
check "include_prompt false" embed 1 --quiet --model "$w/ip" --input "$w/one.jsonl" --output "$w/ip1" --prompt-name query
check "  its token states" embed 1 --quiet --model "$w/ip" --input "$w/one.jsonl" --output "$w/ipt" --prompt-name query --pooling none
n=$(python3 -c "import sys; sys.path.insert(0, '$SE_SRC/tests/mpi'); import npytool; print(npytool.load('$w/ipt.tokens.npy')[0][0])")
# [CLS] + the prompt's tokens are left out: prompt_length = len(tokenize('query: ')) - 1
echo '{"id": "p", "text": "query: "}' > "$w/p.jsonl"
"$bin" tokenize --quiet --no-special --model "$w/ip" --input "$w/p.jsonl" --output "$w/p.ids" >/dev/null 2>&1
k=$(python3 -c "import json; print(1 + len(json.load(open('$w/p.ids'))['input_ids']))")
check "  = mean of the states after [CLS] and the prompt's $((k - 1)) tokens" bash -c "$npy slice $w/ipt.tokens.npy $k $n $w/tail.npy && $npy colmean $w/tail.npy $w/m.npy && $npy cmp $w/ip1.npy $w/m.npy 1e-6"
check "  and not the mean of all of them" bash -c "$npy colmean $w/ipt.tokens.npy $w/all.npy && ! $npy cmp $w/ip1.npy $w/all.npy 1e-3"

# do_lower_case: (prompt + text).lower() before the tokenizer (Transformer.tokenize);
# the tokenizer itself made case-sensitive, so only that lowercasing can match
cp -r "$fx/tiny_st" "$w/lc" && cp -r "$fx/tiny_st" "$w/cs"
echo '{"max_seq_length": 24, "do_lower_case": true}' > "$w/lc/sentence_bert_config.json"
echo '{"do_lower_case": false}' | tee "$w/lc/tokenizer_config.json" > "$w/cs/tokenizer_config.json"
echo '{"id": "u", "text": "THE Encoder READS"}' > "$w/up.jsonl"
check "do_lower_case true: upper-case text and prompt" bash -c "$bin embed --model $w/lc --input $w/up.jsonl --output $w/lc1 --prefix 'QUERY: ' > $w/lc1.log 2>&1 && grep -q 'text lowercased (do_lower_case)' $w/lc1.log"
check "  = the lower-case text and prompt" bash -c "$bin embed --quiet --model $w/lc --input $w/one.jsonl --output $w/lc2 --prefix 'query: ' && $npy cmp $w/lc1.npy $w/lc2.npy 0"
check "  and without do_lower_case the rows differ" bash -c "$bin embed --quiet --model $w/cs --input $w/up.jsonl --output $w/cs1 --prefix 'QUERY: ' && ! $npy cmp $w/cs1.npy $w/lc2.npy 1e-3"

check "tiny_roberta (sharded) on a 2x2 grid, sp" embed 4 --quiet --tp 2 --sp --model "$fx/tiny_roberta" --input "$fx/tiny_roberta/input.jsonl" --output "$w/r" --pooling mean
check "  rows = PyTorch" $npy cmp "$w/r.npy" "$fx/tiny_roberta/ref_mean.npy" 1e-5
check "  a 40-token document fits its 42 positions (from padding_idx+1) in one window" grep -q '"window_tokens": 40' "$w/r.meta.json"
check "tiny_mpnet on a 2x2 grid" embed 4 --quiet --tp 2 --model "$fx/tiny_mpnet" --input "$fx/tiny_mpnet/input.jsonl" --output "$w/mp" --pooling mean
check "  rows = PyTorch" $npy cmp "$w/mp.npy" "$fx/tiny_mpnet/ref_mean.npy" 1e-5
for m in distilbert electra; do
    check "tiny_$m tp 3 sp" embed 3 --quiet --tp 3 --sp --model "$fx/tiny_$m" --input "$fx/tiny_$m/input.jsonl" --output "$w/$m" --pooling max
    check "  rows = PyTorch" $npy cmp "$w/$m.npy" "$fx/tiny_$m/ref_max.npy" 1e-5
done

check "info names the family, recipe and sentence-transformers settings" bash -c "$bin info --model $fx/tiny_st > $w/info.txt && grep -q 'recipe: family bert' $w/info.txt && grep -q 'sentence-transformers: pooling mean (from modules.json)' $w/info.txt && grep -q 'prompt query: \"query: \"' $w/info.txt"
check "info on RoBERTa: positions from padding_idx+1" bash -c "$bin info --model $fx/tiny_roberta | grep -q 'positions: learned from index 2, up to 40 tokens'"
check "info on RoBERTa: the sharded index" bash -c "$bin info --model $fx/tiny_roberta | grep -q 'model.safetensors.index.json (2 files'"
mkdir -p "$w/unk"
echo '{"model_type": "deberta-v2"}' > "$w/unk/config.json"
check "an unknown model_type is refused naming it and the supported ones" bash -c "! $bin info --model $w/unk 2>$w/e.txt && grep -q \"model_type 'deberta-v2' is not supported (supported: bert, roberta, xlm-roberta, camembert, distilbert, electra, mpnet\" $w/e.txt"
# A tokenizer whose template is not one special on each side (GPT-2's adds none):
# text is refused with the reason (never framed with made-up ids), ids still work.
mkdir -p "$w/gpt2tok"
for f in "$fx/tiny_roberta"/*; do ln -s "$f" "$w/gpt2tok/"; done
ln -s "$fx/../vocab/gpt2/tokenizer.json" "$w/gpt2tok/tokenizer.json"
echo '{"id": "t", "text": "a text needs the template"}' > "$w/gpt2text.jsonl"
check "a template without one special on each side: text refused, named" bash -c "! $bin embed --quiet --model $w/gpt2tok --input $w/gpt2text.jsonl --output $w/g --on-error fail 2>$w/e.txt; cat $w/e.txt; grep -q 'template adds 0 special token(s) before and 0 after' $w/e.txt && [ ! -e $w/g.npy ]"
check "  its pre-tokenised input still embeds" embed 1 --quiet --model "$w/gpt2tok" --input "$fx/tiny_roberta/input.jsonl" --output "$w/g2" --pooling mean
check "  rows = PyTorch" $npy cmp "$w/g2.npy" "$fx/tiny_roberta/ref_mean.npy" 1e-5
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
