#!/usr/bin/env bash
# The embed job's promise under real failures: SIGKILL at random moments and
# in each phase (index, first batch, assembly), a full file system (a real
# tmpfs, filled, then remounted larger), and --resume refusing, by name, every
# change that would make a resumed output wrong; restart semantics for batch
# schedulers. Every resumed output is compared byte for byte with an
# uninterrupted run.
set -u
source "$SE_SRC/launch/mpi_env.sh"
source "$SE_SRC/tests/mpi/check_lib.sh"
export OMP_NUM_THREADS=1
bin="$SHARDENC"; fx="$SE_FIXTURES/models"
w="$(mktemp -d)"; mnt="$w/fs"
cleanup() { mountpoint -q "$mnt" 2>/dev/null && umount "$mnt"; rm -rf "$w"; }
trap cleanup EXIT
same() { cmp "$1.npy" "$2.npy" && cmp "$1.ids.txt" "$2.ids.txt"; }
run1() { "$bin" embed --quiet "$@"; }   # singleton: one rank, no mpiexec

# A model folder of our own (its files get edited below) and a text corpus of
# many short documents (assembly takes long enough to be hit).
cp -r "$fx/tiny_bert" "$w/model"
python3 - "$w/c.jsonl" "$w/model/vocab.txt" <<'PY'
import json, random, sys
random.seed(11)
words = open(sys.argv[2]).read().split()[100:]
with open(sys.argv[1], "w") as f:
    for i in range(2000):
        n = random.choice([2, 4, 8, 12, 30, 80])
        f.write(json.dumps({"id": f"d{i}", "text": " ".join(random.choice(words) for _ in range(n))}) + "\n")
PY
opts=(--model "$w/model" --input "$w/c.jsonl" --pooling mean --batch-tokens 1024 --sync-batches 1)
check "reference run" run1 "${opts[@]}" --output "$w/ref"

# 1. Restart semantics: --resume with nothing to resume starts the job;
#    --resume after a finished job says so, exits 0, recomputes nothing.
check "--resume on a fresh prefix runs the job" run1 "${opts[@]}" --output "$w/fresh" --resume
check "  byte-identical" same "$w/fresh" "$w/ref"
before=$(stat -c %Y.%s "$w/fresh.npy" "$w/fresh.meta.json")
"$bin" embed "${opts[@]}" --output "$w/fresh" --resume >"$w/e.log" 2>&1; rc=$?
if [ $rc = 0 ] && grep -q "complete; nothing to do" "$w/e.log" && [ "$before" = "$(stat -c %Y.%s "$w/fresh.npy" "$w/fresh.meta.json")" ]; then
    ok "--resume after a finished job: exit 0, says so, outputs untouched"
else bad "--resume after a finished job (rc $rc)"; cat "$w/e.log"; fi

# 2. SIGKILL of the whole job in each phase and at random moments, each
#    restart with --resume (singleton and 2 ranks), until it finishes.
out="$w/kill"; hits=""
for phase in index first assemble random; do
    had=0; [ -e "$out.meta.json" ] && had=1
    delay=$(python3 -c "import random; print(round(random.uniform(0.05, 1.5), 3))")
    if [ $phase = random ]; then   # the whole mpiexec job, 2 ranks
        r=$(python3 "$SE_SRC/tests/mpi/killer.py" $phase "$out" "$delay" -- env SE_MPI_TIMEOUT=120 bash -c "source $SE_SRC/launch/mpi_env.sh; se_mpiexec -n 2 $bin embed --quiet ${opts[*]} --output $out --resume")
    else
        r=$(python3 "$SE_SRC/tests/mpi/killer.py" $phase "$out" "$delay" -- "$bin" embed --quiet "${opts[@]}" --output "$out" --resume)
    fi
    hits="$hits $r"
    # meta.json, renamed last, marks a complete job: whenever it is there, the outputs are whole
    [ $had = 0 ] && [ -e "$out.meta.json" ] && ! same "$out" "$w/ref" >/dev/null 2>&1 && bad "  $phase: meta.json next to incomplete outputs"
done
# ranks of a killed mpiexec notice their launcher is gone and exit: give them 20 s
for _ in $(seq 1 200); do [ -z "$(pgrep -f -- "embed --quiet.*--output $out ")" ] && break; sleep 0.1; done
[ -z "$(pgrep -f -- "embed --quiet.*--output $out ")" ] && ok "no rank left after the kills" || { bad "ranks left after kill -9"; ps -ef | grep -- "--output $out " | grep -v grep; }
echo "kills:$hits"
case "$hits" in *"hit index"*"hit first"*"hit assemble"*) ok "killed during indexing, the first batch and assembly" ;;
    *) bad "a phase was not hit:$hits" ;; esac
check "resumed after the kills" run1 "${opts[@]}" --output "$out" --resume
check "  byte-identical" same "$out" "$w/ref"

# 2b. Signals (handled by the CLI): one SIGINT stops after the batch in hand
#     with exit 3; a second one ends the process at once (128 + 2). Batches
#     of a second or so (small_bert, 8192 tokens) leave time for the second.
python3 - "$w/long.jsonl" <<'PY'
import json, random, sys
random.seed(2)
with open(sys.argv[1], "w") as f:
    for i in range(64):
        f.write(json.dumps({"id": i, "input_ids": [random.randrange(5, 2000) for _ in range(256)]}) + "\n")
PY
sopts=(--model "$fx/small_bert" --input "$w/long.jsonl" --pooling cls --batch-tokens 8192)
for n in 1 2; do
    "$bin" embed --quiet "${sopts[@]}" --output "$w/sig$n" >"$w/e.log" 2>&1 & p=$!
    for _ in $(seq 1 1000); do [ -f "$w/sig$n.journal" ] && break; sleep 0.01; done
    kill -INT $p; [ $n = 2 ] && { sleep 0.2; kill -INT $p; }
    wait $p; rc=$?
    want=$([ $n = 1 ] && echo 3 || echo 130)
    [ $rc = $want ] && [ ! -e "$w/sig$n.npy" ] && ok "$n SIGINT: exit $rc" || { bad "$n SIGINT: exit $rc, wanted $want"; cat "$w/e.log"; }
done
check "  resumed after Ctrl-C" run1 "${sopts[@]}" --output "$w/sig1" --resume
check "  resumed after a second Ctrl-C" run1 "${sopts[@]}" --output "$w/sig2" --resume
check "  both byte-identical" cmp "$w/sig1.npy" "$w/sig2.npy"

# 3. A full file system: a real tmpfs too small for the token states.
nopts=(--model "$w/model" --input "$w/c.jsonl" --pooling none --batch-tokens 1024 --sync-batches 1)
check "reference run (pooling none)" run1 "${nopts[@]}" --output "$w/nref"
mkdir -p "$mnt"
if mount -t tmpfs -o size=4m tmpfs "$mnt" 2>"$w/e.log"; then
    "$bin" embed --quiet "${nopts[@]}" --output "$mnt/o" >"$w/e.log" 2>&1; rc=$?
    if [ $rc -ne 0 ] && grep -q "$mnt/o.tokens.npy.tmp.*No space left on device" "$w/e.log" \
        && [ ! -e "$mnt/o.tokens.npy" ] && [ ! -e "$mnt/o.meta.json" ] && [ ! -e "$mnt/o.offsets.npy" ]; then
        ok "ENOSPC: exit $rc, names the file and the error, nothing under the final names"
    else bad "ENOSPC (rc $rc)"; cat "$w/e.log"; ls -la "$mnt"; fi
    mount -o remount,size=64m "$mnt"
    check "  after remounting larger, --resume finishes" run1 "${nopts[@]}" --output "$mnt/o" --resume
    check "  token states byte-identical" cmp "$mnt/o.tokens.npy" "$w/nref.tokens.npy"
    check "  offsets and ids byte-identical" bash -c "cmp $mnt/o.offsets.npy $w/nref.offsets.npy && cmp $mnt/o.ids.txt $w/nref.ids.txt"
    grep -q '"batches_resumed": 0,' "$mnt/o.meta.json" && bad "  nothing was resumed" || ok "  the batches made durable before the failure were kept"
    umount "$mnt"
else
    bad "cannot mount a tmpfs (the tests run as root)"; cat "$w/e.log"
fi

# 3b. Stopped between the final renames (pooling none: the token file already
#     has its final name, meta.json not yet): --resume finishes the job.
mkdir "$w/rn.offsets.npy"   # the rename of the offsets fails: a directory has the name
run1 "${nopts[@]}" --output "$w/rn" >"$w/e.log" 2>&1 && bad "rename onto a directory succeeded"
[ -e "$w/rn.tokens.npy" ] && [ ! -e "$w/rn.meta.json" ] && grep -q "rn.offsets.npy" "$w/e.log" && ok "failed between the renames, named" || { bad "renames"; cat "$w/e.log"; }
rmdir "$w/rn.offsets.npy"
check "  --resume finishes" run1 "${nopts[@]}" --output "$w/rn" --resume
check "  byte-identical" bash -c "cmp $w/rn.tokens.npy $w/nref.tokens.npy && cmp $w/rn.offsets.npy $w/nref.offsets.npy && cmp $w/rn.ids.txt $w/nref.ids.txt"

# 4. --resume refuses what changed, and says what. A job whose assembly
#    fails (its output name is taken by a directory) leaves a complete journal.
jopts=(--input "$w/c.jsonl" --batch-tokens 1024 --output "$w/j")
mkdir "$w/j.npy.tmp"
run1 --model "$w/model" "${jopts[@]}" --pooling mean >"$w/e.log" 2>&1 && bad "assembly into a directory succeeded"
grep -q "j.npy.tmp" "$w/e.log" && [ -e "$w/j.journal" ] && ok "failed assembly names its file, keeps the journal" || { bad "no journal"; cat "$w/e.log"; }
rmdir "$w/j.npy.tmp"
refused() {  # refused WHAT PATTERN ARGS...: --resume exits non-zero and the message says PATTERN
    local what="$1" pat="$2"; shift 2
    "$bin" embed --quiet "$@" --resume >"$w/e.log" 2>&1; local rc=$?
    if [ $rc -ne 0 ] && grep -q -- "$pat" "$w/e.log" && [ ! -e "$w/j.npy" ]; then ok "refused: $what"; else bad "not refused: $what (rc $rc)"; cat "$w/e.log"; fi
}
keep_mtime() { touch -r "$w/stamp" "$1"; }
cp -r "$w/model" "$w/model2"; touch -r "$w/model2/vocab.txt" "$w/stamp"
# vocab.txt: one token renamed, same size and mtime
python3 - "$w/model2/vocab.txt" <<'PY'
import sys
p = sys.argv[1]; t = open(p).read().split("\n"); k = next(i for i, x in enumerate(t) if i > 200 and len(x) >= 4)
t[k] = t[k][::-1] if t[k][::-1] != t[k] else t[k][1:] + t[k][0]; open(p, "w").write("\n".join(t))
PY
keep_mtime "$w/model2/vocab.txt"
refused "vocab.txt edited in place" "the content of vocab.txt changed" --model "$w/model2" "${jopts[@]}" --pooling mean
cp "$w/model/vocab.txt" "$w/model2/vocab.txt"
# model.safetensors: the last byte (a weight) flipped, same size and mtime
touch -r "$w/model2/model.safetensors" "$w/stamp"
python3 -c "import sys; f = open(sys.argv[1], 'r+b'); f.seek(-1, 2); b = f.read(1); f.seek(-1, 2); f.write(bytes([b[0] ^ 1]))" "$w/model2/model.safetensors"
keep_mtime "$w/model2/model.safetensors"
refused "a weight changed" "the content of model.safetensors changed" --model "$w/model2" "${jopts[@]}" --pooling mean
cp "$w/model/model.safetensors" "$w/model2/model.safetensors"
# a tokenizer file added next to the model
echo '{}' > "$w/model2/special_tokens_map.json"
refused "a tokenizer file added" "special_tokens_map.json is new" --model "$w/model2" "${jopts[@]}" --pooling mean
# the corpus edited in place: one letter, same size and mtime
cp "$w/c.jsonl" "$w/c2.jsonl"; touch -r "$w/c.jsonl" "$w/stamp"
python3 -c "import sys; p = sys.argv[1]; d = bytearray(open(p, 'rb').read()); i = d.index(b'text') + 9; d[i] = ord('x') if d[i] != ord('x') else ord('y'); open(p, 'wb').write(d)" "$w/c.jsonl"
keep_mtime "$w/c.jsonl"
refused "corpus edited in place" "the content of the input .*c.jsonl changed" --model "$w/model" "${jopts[@]}" --pooling mean
mv "$w/c2.jsonl" "$w/c.jsonl"
refused "another pooling" "option pooling=mean -> pooling=max" --model "$w/model" "${jopts[@]}" --pooling max
refused "--normalize" "option normalize=0 -> normalize=1" --model "$w/model" "${jopts[@]}" --pooling mean --normalize
refused "another window" "option window=64 -> window=32" --model "$w/model" "${jopts[@]}" --pooling mean --max-tokens 32
# another shardenc version wrote the journal (its header edited)
cp "$w/j.journal" "$w/j.saved"
python3 -c "import sys; f = open(sys.argv[1], 'r+b'); f.seek(8); f.write(b'0.0.9\0')" "$w/j.journal"
refused "another shardenc version" "shardenc version 0.0.9 -> " --model "$w/model" "${jopts[@]}" --pooling mean
mv "$w/j.saved" "$w/j.journal"
check "unchanged: --resume finishes from the journal" run1 --model "$w/model" "${jopts[@]}" --pooling mean --resume
check "  byte-identical" same "$w/j" "$w/ref"
grep -q '"batches_resumed": 0,' "$w/j.meta.json" && bad "  recomputed everything" || ok "  nothing recomputed"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
