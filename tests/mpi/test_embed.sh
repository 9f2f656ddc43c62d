#!/usr/bin/env bash
# The embed job end to end under real mpiexec: PyTorch references, identical
# results across P = 1, 2, 4 and TP = 1, 2 and with each document alone,
# windowing checked by hand, kill-and-resume byte-identical, bad input.
set -u
source "$SE_SRC/launch/mpi_env.sh"
source "$SE_SRC/tests/mpi/check_lib.sh"
export OMP_NUM_THREADS=1
bin="$SHARDENC"; fx="$SE_FIXTURES/models"; npy="python3 $SE_SRC/tests/mpi/npytool.py"
w="$(mktemp -d)"; trap 'rm -rf "$w"' EXIT
embed() { SE_MPI_TIMEOUT=300 se_mpiexec -n "$1" "$bin" embed --quiet "${@:2}"; }

# 1. PyTorch references through the whole job (pre-tokenised input).
for pool in cls mean max; do
    check "tiny_bert --pooling $pool vs PyTorch" embed 1 --model "$fx/tiny_bert" --input "$fx/tiny_bert/input.jsonl" --output "$w/r_$pool" --pooling $pool
    check "  rows" $npy cmp "$w/r_$pool.npy" "$fx/tiny_bert/ref_$pool.npy" 1e-5
done
check "small_vanilla mean --normalize, 2 ranks tp 2" embed 2 --tp 2 --model "$fx/small_vanilla" --input "$fx/small_vanilla/input.jsonl" --output "$w/rv" --pooling mean --normalize
check "  rows" $npy cmp "$w/rv.npy" "$fx/small_vanilla/ref_mean_norm.npy" 1e-5
check "tiny_bert --pooling none on 2 ranks" embed 2 --model "$fx/tiny_bert" --input "$fx/tiny_bert/input.jsonl" --output "$w/rn" --pooling none
check "  token states" $npy cmp "$w/rn.tokens.npy" "$fx/tiny_bert/ref_tokens.npy" 1e-5
check "  offsets" $npy cmp "$w/rn.offsets.npy" "$fx/tiny_bert/ref_offsets.npy" 0
check "  ids in input order" diff "$w/rn.ids.txt" <(for i in 0 1 2 3 4 5 6 7; do echo d$i; done)

# 2. A mixed corpus (text + pre-tokenised + long documents + an empty one):
#    identical results for every grid, and equal to each document alone.
python3 - "$w/mixed.jsonl" "$fx/tiny_bert" <<'PY'
import json, random, sys
random.seed(5)
out = open(sys.argv[1], "w")
for line in open(sys.argv[2] + "/text.jsonl"):
    out.write(line)
for i in range(40):
    n = random.choice([1, 3, 17, 40, 62, 64, 100, 150, 300])
    out.write(json.dumps({"id": f"p{i}", "input_ids": [random.randrange(5, 1000) for _ in range(n)]}) + "\n")
out.write(json.dumps({"id": "empty", "input_ids": []}) + "\n")
out.write(json.dumps({"id": "empty_text", "text": ""}) + "\n")
PY
check "mixed corpus, 1 rank" embed 1 --model "$fx/tiny_bert" --input "$w/mixed.jsonl" --output "$w/m1" --pooling mean --batch-tokens 256
for grid in "2 1" "2 2" "4 1" "4 2"; do
    set -- $grid
    check "mixed corpus, $1 ranks tp $2" embed "$1" --tp "$2" --model "$fx/tiny_bert" --input "$w/mixed.jsonl" --output "$w/m$1_$2" --pooling mean --batch-tokens 256
    check "  same as 1 rank" $npy cmp "$w/m$1_$2.npy" "$w/m1.npy" 1e-5
    check "  ids identical" cmp "$w/m$1_$2.ids.txt" "$w/m1.ids.txt"
done
check "sp on 2 ranks" embed 2 --tp 2 --sp --model "$fx/tiny_bert" --input "$w/mixed.jsonl" --output "$w/msp" --pooling mean --batch-tokens 256
check "  same as 1 rank" $npy cmp "$w/msp.npy" "$w/m1.npy" 1e-5
# each document alone (a one-line corpus, plain singleton run without mpiexec)
n=$(wc -l < "$w/mixed.jsonl"); alone_ok=1
for i in 1 3 9 20 30 44; do
    sed -n "${i}p" "$w/mixed.jsonl" > "$w/one.jsonl"
    "$bin" embed --quiet --model "$fx/tiny_bert" --input "$w/one.jsonl" --output "$w/one" --pooling mean >/dev/null 2>&1 || alone_ok=0
    $npy slice "$w/m1.npy" $((i - 1)) "$i" "$w/row.npy"
    $npy cmp "$w/one.npy" "$w/row.npy" 1e-5 >/dev/null || { alone_ok=0; echo "document $i differs alone"; }
done
[ $alone_ok = 1 ] && ok "documents alone equal their rows in the batch run" || bad "documents alone"
check "empty pre-tokenised document is a zero row" $npy zero "$w/m1.npy" $((n - 2))
check "meta.json records the empty document" grep -q '"empty_documents": 2' "$w/m1.meta.json"

# 3. Windowing by hand: a 200-token document at max_position 64: windows of 64
#    with stride 55 (1/8 overlap of 62), weights 64, 64, 64, 35.
python3 - "$w" <<'PY'
import json, random, sys
random.seed(9); ids = [random.randrange(5, 1000) for _ in range(200)]
open(sys.argv[1] + "/long.jsonl", "w").write(json.dumps({"id": "long", "input_ids": ids}) + "\n")
with open(sys.argv[1] + "/wins.jsonl", "w") as f:
    for k, s in enumerate([0, 55, 110, 165]):
        f.write(json.dumps({"id": f"w{k}", "input_ids": ids[s:s + 64]}) + "\n")
PY
check "long document" embed 2 --model "$fx/tiny_bert" --input "$w/long.jsonl" --output "$w/long" --pooling cls
check "its windows alone" embed 1 --model "$fx/tiny_bert" --input "$w/wins.jsonl" --output "$w/wins" --pooling cls
check "  = token-count-weighted mean of the windows" $npy window "$w/long.npy" 0 "$w/wins.npy" 64 64 64 35
check "  meta.json says 4 windows" grep -q '"windows": 4' "$w/long.meta.json"

# 3b. Windows pool like their pooling, checked against the document's token
#     states (--pooling none); the same long document as text and as the
#     framed ids of `shardenc tokenize` gives identical rows for every pooling.
python3 - "$w/longtext.jsonl" "$fx/tiny_bert/vocab.txt" <<'PY'
import json, random, sys
random.seed(4); words = open(sys.argv[2]).read().split()[100:]
open(sys.argv[1], "w").write(json.dumps({"id": "lt", "text": " ".join(random.choice(words) for _ in range(170))}) + "\n")
PY
"$bin" tokenize --quiet --model "$fx/tiny_bert" --input "$w/longtext.jsonl" --output "$w/longids.jsonl" >/dev/null 2>&1
lens=$(python3 -c "
import json, sys
n = len(json.loads(open(sys.argv[1]).readline())['input_ids']) - 2; W, S, s, out = 62, 55, 0, []
while True:
    out.append(min(W, n - s) + 2)
    if s + W >= n: break
    s += S
print(*out)" "$w/longids.jsonl")
check "long text document, pooling none ($(echo $lens | wc -w) windows: $lens)" "$bin" embed --quiet --model "$fx/tiny_bert" --input "$w/longtext.jsonl" --output "$w/ltn" --pooling none
for pool in cls mean max; do
    check "long text, --pooling $pool" "$bin" embed --quiet --model "$fx/tiny_bert" --input "$w/longtext.jsonl" --output "$w/lt_$pool" --pooling $pool
    check "  = $pool from its token states" $npy docpool "$w/lt_$pool.npy" 0 "$w/ltn.tokens.npy" "$w/ltn.offsets.npy" 0 $pool $lens
    check "  its framed ids give identical rows" bash -c "$bin embed --quiet --model $fx/tiny_bert --input $w/longids.jsonl --output $w/li_$pool --pooling $pool && cmp $w/li_$pool.npy $w/lt_$pool.npy && grep -q '\"framed_id_documents\": 1' $w/li_$pool.meta.json"
done

# 4. Kill and resume: SIGTERM of one rank, then SIGKILL of one rank; each
#    resumed run is byte-identical to an uninterrupted one. (Random kills,
#    full disks and fingerprint refusals: test_embed_durable.sh.)
python3 - "$w/big.jsonl" <<'PY'
import json, random, sys
random.seed(3)
with open(sys.argv[1], "w") as f:
    for i in range(500):
        n = random.randint(8, 256)
        f.write(json.dumps({"id": i, "input_ids": [random.randrange(5, 2000) for _ in range(n)]}) + "\n")
PY
check "uninterrupted run" embed 2 --model "$fx/small_bert" --input "$w/big.jsonl" --output "$w/full" --batch-tokens 512
for sig in TERM KILL; do
    out="$w/k$sig"
    SE_MPI_TIMEOUT=300 se_mpiexec -n 2 "$bin" embed --quiet --model "$fx/small_bert" --input "$w/big.jsonl" --output "$out" --batch-tokens 512 --sync-batches 2 >"$w/k.log" 2>&1 &
    mp=$!
    for _ in $(seq 1 600); do   # wait until some batches are journaled (slots after the 4 KiB header)
        [ -f "$out.journal" ] && [ "$(stat -c %s "$out.journal")" -gt 4112 ] && break
        sleep 0.05
    done
    victim=$(pgrep -f -- "--output $out " | tail -1)
    [ -n "$victim" ] && kill -$sig "$victim"
    wait $mp; rc=$?
    sleep 1
    if [ $rc -ne 0 ] && [ ! -e "$out.npy" ] && [ ! -e "$out.meta.json" ] && [ -z "$(pgrep -f -- "--output $out ")" ]; then
        ok "SIG$sig of one rank: exit $rc, no final output, no rank left"
    else
        bad "SIG$sig of one rank: exit $rc"; cat "$w/k.log"; ls "$w"
    fi
    [ $sig = TERM ] && { grep -q -- "--resume" "$w/k.log" && ok "  message says --resume" || { bad "  no --resume hint"; cat "$w/k.log"; }; }
    check "  resumed" embed 2 --model "$fx/small_bert" --input "$w/big.jsonl" --output "$out" --batch-tokens 512 --resume
    check "  byte-identical" cmp "$out.npy" "$w/full.npy"
    check "  ids identical" cmp "$out.ids.txt" "$w/full.ids.txt"
    grep -q '"batches_resumed": 0,' "$out.meta.json" && bad "  nothing was resumed" || ok "  only unfinished batches recomputed"
done

# 5. Bad input: skipped and recorded, or fatal with --on-error fail.
printf '%s\n' '{"id": "a", "input_ids": [2, 5, 3]}' 'not json' '{"id": "b"}' '{"id": "c", "input_ids": "x"}' \
    '{"id": "d", "input_ids": [2, 5000, 3]}' '' '{"id": "e", "input_ids": [2, 6, 3]}' > "$w/badlines.jsonl"
printf '{"id": "u", "text": "caf\xc3 ok \xff\xfe"}\n' >> "$w/badlines.jsonl"
check "bad lines skipped" embed 2 --model "$fx/tiny_bert" --input "$w/badlines.jsonl" --output "$w/bl"
check "  3 documents kept (a, e, and u with its invalid UTF-8 replaced)" bash -c "[ \$(wc -l < $w/bl.ids.txt) = 3 ]"
check "  meta.json names line 2 (bad JSON)" grep -q '"line": 2' "$w/bl.meta.json"
check "  meta.json names line 5 (id outside vocabulary)" grep -q '"line": 5, "reason": ".*outside the vocabulary' "$w/bl.meta.json"
check "  invalid UTF-8 counted" grep -q '"invalid_utf8_replaced": [1-9]' "$w/bl.meta.json"
embed 2 --model "$fx/tiny_bert" --input "$w/badlines.jsonl" --output "$w/blf" --on-error fail >"$w/e.log" 2>&1; rc=$?
[ $rc -ne 0 ] && grep -q "badlines.jsonl:2:" "$w/e.log" && [ ! -e "$w/blf.npy" ] && ok "--on-error fail: exit $rc, names line 2" || { bad "--on-error fail"; cat "$w/e.log"; }
# every line skipped (text under another key): a failure that suggests the cause
printf '%s\n' '{"id": "a", "content": "hello"}' '{"id": "b", "content": "world"}' > "$w/content.jsonl"
embed 2 --model "$fx/tiny_bert" --input "$w/content.jsonl" --output "$w/ct" >"$w/e.log" 2>&1; rc=$?
[ $rc -ne 0 ] && grep -q "content.jsonl: all 2 non-blank lines were skipped" "$w/e.log" && grep -q '"content"' "$w/e.log" && [ ! -e "$w/ct.npy" ] && [ ! -e "$w/ct.meta.json" ] \
    && ok "every line skipped: exit $rc, says why, no output" || { bad "every line skipped ($rc)"; cat "$w/e.log"; }
# ids with a newline or a backslash cannot collide in ids.txt
printf '%s\n' '{"id": "a\nb", "input_ids": [2, 5, 3]}' '{"id": "a b", "input_ids": [2, 6, 3]}' '{"id": "a\\nb", "input_ids": [2, 7, 3]}' > "$w/nlid.jsonl"
check "ids with newlines" "$bin" embed --quiet --model "$fx/tiny_bert" --input "$w/nlid.jsonl" --output "$w/nl"
check "  escaped, one a line, all distinct" diff "$w/nl.ids.txt" <(printf '%s\n' 'a\nb' 'a b' 'a\\nb')
# a tokenizer whose ids run past the model's vocab_size (sparse tokenizer.json ids): named, fatal
mkdir -p "$w/sparse" && cp "$fx/tiny_bert/config.json" "$fx/tiny_bert/model.safetensors" "$w/sparse/"
python3 - "$SE_FIXTURES/vocab/bert-cased-config/tokenizer.json" "$fx/tiny_bert/vocab.txt" "$w/sparse/tokenizer.json" "$w/sparse.jsonl" <<'PY'
import json, sys
t = json.load(open(sys.argv[1])); words = [x for x in open(sys.argv[2]).read().split("\n") if x]
voc = {x: i for i, x in enumerate(words)}; victim = words[500]; del voc[victim]; voc[victim] = 1500
t["model"]["vocab"] = voc
t["added_tokens"] = [dict(a, id=voc[a["content"]]) for a in t["added_tokens"] if a["content"] in voc]
json.dump(t, open(sys.argv[3], "w"))
open(sys.argv[4], "w").write(json.dumps({"id": "x", "text": "hello " + victim}) + "\n")
PY
"$bin" embed --quiet --model "$w/sparse" --input "$w/sparse.jsonl" --output "$w/sp" >"$w/e.log" 2>&1; rc=$?
[ $rc = 1 ] && grep -q "sparse.jsonl:1: the tokenizer produced id 1500 .* outside the model's vocabulary" "$w/e.log" && [ ! -e "$w/sp.npy" ] \
    && ok "tokenizer id past vocab_size: exit 1, named" || { bad "tokenizer id past vocab_size ($rc)"; cat "$w/e.log"; }
embed 2 --model "$fx/tiny_bert" --input "$w/nope.jsonl" --output "$w/x" >"$w/e.log" 2>&1; rc=$?
[ $rc -ne 0 ] && [ "$(grep -c "nope.jsonl: cannot open" "$w/e.log")" = 1 ] && ok "missing input: exit $rc, message once" || { bad "missing input"; cat "$w/e.log"; }
embed 2 --tp 3 --model "$fx/tiny_bert" --input "$w/mixed.jsonl" --output "$w/x" >"$w/e.log" 2>&1; rc=$?
[ $rc -ne 0 ] && grep -q -- "--tp 3" "$w/e.log" && ok "--tp 3 on 2 ranks refused" || { bad "--tp 3"; cat "$w/e.log"; }
embed 4 --tp 4 --model "$fx/tiny_bert" --input "$w/mixed.jsonl" --output "$w/x" >/dev/null 2>&1 && ok "--tp 4 = heads accepted" || bad "--tp 4"
embed 1 --model "$fx/tiny_bert" --input "$w/mixed.jsonl" --output "$w/x" --pooling avg >"$w/e.log" 2>&1; rc=$?
[ $rc = 2 ] && grep -q "'avg' is not one of" "$w/e.log" && ok "bad --pooling: usage exit 2" || { bad "bad --pooling ($rc)"; cat "$w/e.log"; }

# 6. One rank fails to open its model file: the whole job stops, the message
#    is printed once, no rank is left running.
mkdir -p "$w/broken" && cp "$fx/tiny_bert/config.json" "$fx/tiny_bert/vocab.txt" "$w/broken/"
head -c 1000 "$fx/tiny_bert/model.safetensors" > "$w/broken/model.safetensors"
start=$(date +%s)
SE_MPI_TIMEOUT=60 se_mpiexec -n 1 "$bin" embed --model "$fx/tiny_bert" --input "$w/mixed.jsonl" --output "$w/f" --tp 2 : \
    -n 1 "$bin" embed --model "$w/broken" --input "$w/mixed.jsonl" --output "$w/f" --tp 2 >"$w/e.log" 2>&1; rc=$?
el=$(( $(date +%s) - start ))
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $el -lt 30 ] && grep -q "broken/model.safetensors" "$w/e.log" && [ -z "$(pgrep -f -- "--output $w/f ")" ]; then
    ok "one rank's truncated safetensors: exit $rc in ${el}s, named, no rank left"
else
    bad "rank failure (rc $rc, ${el}s)"; cat "$w/e.log"
fi

# 7. Writer ranks must see one output directory (issue 15). Rank 1 runs in a
#    mount namespace of its own with a fresh tmpfs over the output directory:
#    a real node-local view. Refused before any work, with the reason.
mkdir -p "$w/shared"
pargs=(embed --quiet --model "$fx/tiny_bert" --input "$w/mixed.jsonl" --output "$w/shared/p")
SE_MPI_TIMEOUT=60 se_mpiexec -n 1 "$bin" "${pargs[@]}" : -n 1 unshare -m sh -c 'mount -t tmpfs tmpfs "$0" && exec "$@"' \
    "$w/shared" "$bin" "${pargs[@]}" >"$w/e.log" 2>&1; rc=$?
if [ $rc -ne 0 ] && grep -q "rank 1 on host .* does not see the probe file .*node-local storage" "$w/e.log" \
    && [ -z "$(ls -A "$w/shared")" ]; then
    ok "output prefix not shared by rank 1: refused (exit $rc) before any work, nothing left"
else
    bad "output probe refusal (rc $rc)"; cat "$w/e.log"; ls -A "$w/shared"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
