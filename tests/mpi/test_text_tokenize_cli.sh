#!/usr/bin/env bash
# shardenc tokenize end to end: ids identical to Hugging Face's (committed
# fixtures), ids preserved, malformed lines reported with file:line and
# skipped, invalid UTF-8 counted, exit codes, no partial output on failure.
set -euo pipefail
: "${SHARDENC:?SHARDENC (the shardenc binary) must be set; ctest sets it}"
FX=${SE_FIXTURES:-$(cd "$(dirname "$0")/../fixtures" && pwd)}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. the reference corpus, four ways
"$SHARDENC" tokenize --model "$FX/vocab/bert-base-uncased" --input "$FX/tok/corpus.jsonl" --output "$W/a.jsonl" --quiet 2>"$W/err"
cmp "$W/a.jsonl" "$FX/tok/ids_uncased_special.jsonl" || fail "uncased tokenizer.json ids differ"
grep -q "tokenize: 1162 documents, .* 0 malformed lines skipped" "$W/err" || fail "summary: $(cat "$W/err")"
"$SHARDENC" tokenize --vocab "$FX/vocab/bert-base-uncased/vocab.txt" --no-special --input "$FX/tok/corpus.jsonl" --output "$W/b.jsonl" --quiet 2>/dev/null
cmp "$W/b.jsonl" "$FX/tok/ids_uncased_plain.jsonl" || fail "uncased vocab.txt --no-special ids differ"
"$SHARDENC" tokenize --model "$FX/vocab/bert-cased-config" --input "$FX/tok/corpus.jsonl" --output "$W/c.jsonl" --quiet 2>/dev/null
cmp "$W/c.jsonl" "$FX/tok/ids_cased_special.jsonl" || fail "cased ids differ"
"$SHARDENC" tokenize --vocab "$FX/vocab/bert-cased-config/tokenizer.json" --no-special --input - --output "$W/d.jsonl" --quiet <"$FX/tok/corpus.jsonl" 2>/dev/null
cmp "$W/d.jsonl" "$FX/tok/ids_cased_plain.jsonl" || fail "cased --no-special (stdin) ids differ"

# 2. malformed lines, ids of every kind, invalid UTF-8 (line 6: \xff and a truncated \xe2\x82);
#    expected ids checked against HF tokenizers (NUL\0here: nu ##l ##her ##e)
printf '%s\n' '{"id": 1, "text": "Hello, World!"}' '{"id": "x\"1", "text": "Hello"' '' \
  '{"id": "doc-7", "text": "a [MASK] b"}' '{"text": "no id"}' > "$W/in.jsonl"
printf '{"id": 2.5, "text": "caf\xc3\xa9 \xff ok\xe2\x82"}\n' >> "$W/in.jsonl"
printf '{"id": 3, "text": 42}\n{"id": -4, "text": "NUL\\u0000here"}\n' >> "$W/in.jsonl"
"$SHARDENC" tokenize --model "$FX/vocab/bert-base-uncased" --input "$W/in.jsonl" --output "$W/out.jsonl" 2>"$W/err" \
  || fail "exit status $? with some good lines"
cat > "$W/want.jsonl" <<'X'
{"id":1,"input_ids":[101,7592,1010,2088,999,102]}
{"id":"doc-7","input_ids":[101,1037,103,1038,102]}
{"id":2.5,"input_ids":[101,7668,7929,102]}
{"id":-4,"input_ids":[101,16371,2140,5886,2063,102]}
X
diff "$W/out.jsonl" "$W/want.jsonl" || fail "output of the mixed file"
grep -q "in.jsonl:2:.*invalid JSON" "$W/err" || fail "no file:line for line 2: $(cat "$W/err")"
grep -q "in.jsonl:5: expected an object" "$W/err" || fail "no report for line 5"
grep -q "in.jsonl:7: expected an object" "$W/err" || fail "no report for line 7"
grep -q "4 documents, 21 ids, 3 malformed lines skipped, 2 invalid UTF-8 sequences replaced in 1 documents" "$W/err" \
  || fail "summary: $(tail -1 "$W/err")"

# 2b. JSON the fast line parser must get right or hand to jansson: escapes and
#     surrogate pairs in text, an escaped string id kept as written, a nested id,
#     an escaped key, a lone surrogate (invalid)
cat > "$W/esc.jsonl" <<'X'
{"text": "\u00e9\ud83d\ude00\/x", "id": "a\"b\\c"}
{"id": {"k": [1, 2]}, "text": "x"}
{"id": 9, "text": "\ud800"}
{"\u0074ext": "x", "id": 10}
X
"$SHARDENC" tokenize --model "$FX/vocab/bert-base-uncased" --input "$W/esc.jsonl" --output "$W/esc.out" --quiet 2>"$W/err"
cat > "$W/want.jsonl" <<'X'
{"id":"a\"b\\c","input_ids":[101,100,1013,1060,102]}
{"id":{"k":[1,2]},"input_ids":[101,1060,102]}
{"id":10,"input_ids":[101,1060,102]}
X
diff "$W/esc.out" "$W/want.jsonl" || fail "escapes / fallback lines"
grep -q "esc.jsonl:3:.*invalid JSON" "$W/err" || fail "lone surrogate not reported: $(cat "$W/err")"

# 3. nothing readable -> exit 1 and no output file; usage errors -> 2; missing input -> 1
printf 'not json\n{"id":1}\n' > "$W/bad.jsonl"
set +e
"$SHARDENC" tokenize --model "$FX/vocab/bert-base-uncased" --input "$W/bad.jsonl" --output "$W/none.jsonl" 2>"$W/err"; rc=$?
[ $rc -eq 1 ] || fail "all-bad input: exit $rc, want 1"
[ ! -e "$W/none.jsonl" ] || fail "output written although nothing was read"
ls "$W" | grep -q tmp && fail "temporary file left behind"
grep -q "no line could be read" "$W/err" || fail "all-bad message: $(cat "$W/err")"
"$SHARDENC" tokenize --input "$W/in.jsonl" --output "$W/x.jsonl" 2>/dev/null; rc=$?
[ $rc -eq 2 ] || fail "no --vocab/--model: exit $rc, want 2"
"$SHARDENC" tokenize --model "$FX/vocab/bert-base-uncased" --bogus 2>/dev/null; rc=$?
[ $rc -eq 2 ] || fail "unknown option: exit $rc, want 2"
"$SHARDENC" tokenize --model "$FX/vocab/bert-base-uncased" --input "$W/missing.jsonl" --output "$W/x.jsonl" 2>"$W/err"; rc=$?
[ $rc -eq 1 ] || fail "missing input: exit $rc, want 1"
grep -q "missing.jsonl: cannot open" "$W/err" || fail "missing input message"
"$SHARDENC" tokenize --model "$W/nomodel" --input "$W/in.jsonl" --output "$W/x.jsonl" 2>"$W/err"; rc=$?
[ $rc -eq 1 ] || fail "missing model: exit $rc, want 1"
grep -q "neither tokenizer.json nor vocab.txt" "$W/err" || fail "missing model message"
set -e
echo "tokenize CLI: all checks passed"
