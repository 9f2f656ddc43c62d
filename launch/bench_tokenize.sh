#!/usr/bin/env bash
# Tokenizer throughput, one core: shardenc vs Hugging Face tokenizers (Rust,
# via the npm binding @anush008/tokenizers), same input, same run.
#   launch/bench_tokenize.sh [BUILD_DIR] [MB]        (defaults: build, 50)
# Builds a >= MB corpus of real multilingual text from what Debian ships
# (licenses, /usr/share/doc, man pages in all installed languages, gettext
# catalogues; repeated if the machine holds less — the builder says so), then
# times both tokenizers on the in-memory texts (best of 3), and, if the
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
ours=$(taskset -c 0 "$BUILD/tests/prog_text_tokbench" "$VOCAB/tokenizer.json" "$CORPUS" 3)
echo "$ours"
hf=$(taskset -c 0 node "$SRC/tests/ref/bench_hf_tokenize.js" "$VOCAB/tokenizer.json" "$CORPUS" 3)
echo "$hf"
o=$(sed 's/.*MBps=//' <<<"$ours"); h=$(sed 's/.*MBps=//' <<<"$hf")
oi=$(sed 's/.* ids=\([0-9]*\).*/\1/' <<<"$ours"); hi=$(sed 's/.* ids=\([0-9]*\).*/\1/' <<<"$hf")
[ "$oi" = "$hi" ] && echo "same number of ids: $oi" || echo "WARNING: id counts differ: ours $oi, HF $hi"
echo "tokenize (in memory, 1 core): shardenc $o MB/s, HF tokenizers $h MB/s, ratio $(awk -v a="$o" -v b="$h" 'BEGIN{printf "%.1f", a/b}')x"

CLI=$BUILD/shardenc
if [ -x "$CLI" ] && "$CLI" tokenize --help >/dev/null 2>&1; then
  bytes=$(sed 's/.*bytes=\([0-9]*\).*/\1/' <<<"$ours")
  t0=$(date +%s.%N)
  taskset -c 0 "$CLI" tokenize --model "$VOCAB" --input "$CORPUS" --output "$WORK/ids.jsonl" --quiet
  t1=$(date +%s.%N)
  echo "shardenc tokenize (CLI, JSON in+out, 1 core): $(awk -v b="$bytes" -v a="$t0" -v c="$t1" 'BEGIN{printf "%.2f", b/(c-a)/1e6}') MB/s of text"
fi
