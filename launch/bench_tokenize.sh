#!/usr/bin/env bash
# Tokenizer throughput, one core: shardenc vs Hugging Face tokenizers (Rust,
# via the npm binding @anush008/tokenizers), same input, same run.
#   launch/bench_tokenize.sh [BUILD_DIR] [MB]        (defaults: build, 50)
# Builds a >= MB corpus of real multilingual text from what Debian ships
# (licenses, /usr/share/doc, man pages in all installed languages, gettext
# catalogues; repeated if the machine holds less — the builder says so), then
# times both tokenizers on the in-memory texts (best of 3) for each kind
# (WordPiece, byte-level BPE, Unigram + Precompiled), and, if the
# shardenc CLI exists, `shardenc tokenize` end to end (JSON in and out).
# Needs node and `npm install --prefix tests/ref` (see tests/ref/package.json).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
MB=${2:-50}
WORK=${SE_BENCH_DIR:-/tmp/shardenc-bench-tok}
mkdir -p "$WORK"
CORPUS=$WORK/corpus_${MB}MB.jsonl
VOCAB=$SRC/tests/fixtures/vocab/bert-base-uncased
[ -s "$CORPUS" ] || /usr/bin/python3 "$SRC/tests/ref/make_corpus.py" bench "$CORPUS" "$MB"
[ -x "$BUILD/tests/prog_text_tokbench" ] || cmake --build "$BUILD" --target prog_text_tokbench -j2 >/dev/null
[ -d "$SRC/tests/ref/node_modules/@anush008/tokenizers" ] || npm install --prefix "$SRC/tests/ref" >/dev/null
echo "corpus: $CORPUS ($(du -m "$CORPUS" | cut -f1) MB of JSONL)"

export OMP_NUM_THREADS=1 RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
# One tokenizer of each kind: WordPiece (bert-base-uncased), byte-level BPE
# (GPT-2's file: RoBERTa's vocabulary, merges and pre-tokenizer), Unigram with
# the nmt_nfkc Precompiled charsmap (XLM-R's layout). Same text, one core each.
KINDS=(
  "WordPiece:$VOCAB/tokenizer.json"
  "BPE:$SRC/tests/fixtures/vocab/gpt2/tokenizer.json"
  "Unigram:$SRC/tests/fixtures/vocab/unigram-xlmr/tokenizer.json"
)
summary=()
for kv in "${KINDS[@]}"; do
  kind=${kv%%:*}; tj=${kv#*:}
  ours=$(taskset -c 0 "$BUILD/tests/prog_text_tokbench" "$tj" "$CORPUS" 3)
  hf=$(taskset -c 0 node "$SRC/tests/ref/bench_hf_tokenize.js" "$tj" "$CORPUS" 3)
  echo "$kind: $ours"
  [ "$kind" = WordPiece ] && wp_ours=$ours
  echo "$kind: $hf"
  o=$(sed 's/.*MBps=//' <<<"$ours"); h=$(sed 's/.*MBps=//' <<<"$hf")
  oi=$(sed 's/.* ids=\([0-9]*\).*/\1/' <<<"$ours"); hi=$(sed 's/.* ids=\([0-9]*\).*/\1/' <<<"$hf")
  [ "$oi" = "$hi" ] && same="same number of ids ($oi)" || same="WARNING: id counts differ: ours $oi, HF $hi"
  summary+=("$(printf '%-9s shardenc %6s MB/s   HF tokenizers %6s MB/s   ratio %sx   %s' "$kind" "$o" "$h" \
    "$(awk -v a="$o" -v b="$h" 'BEGIN{printf "%.1f", a/b}')" "$same")")
done
echo "tokenize (in memory, 1 core, best of 3):"
printf '  %s\n' "${summary[@]}"
ours=$wp_ours # the CLI run below is the WordPiece tokenizer on the same corpus

CLI=$BUILD/shardenc
if [ -x "$CLI" ] && "$CLI" tokenize --help >/dev/null 2>&1; then
  bytes=$(sed 's/.*bytes=\([0-9]*\).*/\1/' <<<"$ours")
  t0=$(date +%s.%N)
  taskset -c 0 "$CLI" tokenize --model "$VOCAB" --input "$CORPUS" --output "$WORK/ids.jsonl" --quiet
  t1=$(date +%s.%N)
  echo "shardenc tokenize (CLI, JSON in+out, 1 core): $(awk -v b="$bytes" -v a="$t0" -v c="$t1" 'BEGIN{printf "%.2f", b/(c-a)/1e6}') MB/s of text"
fi
