#!/usr/bin/env bash
# Corpus scale (issue 13, requirement 4): many short documents, a tiny model,
# real mpiexec. Generates N short text documents (ids d0..d<N-1>, each text
# drawn from a fixed vocabulary by the document's index), embeds them at each
# rank count asked, and checks that
#   - ids.txt is exactly d0 .. d<N-1> in order, and the .npy has N rows;
#   - 2000 sampled documents, embedded alone at one rank, give the same rows
#     at their positions (relative Frobenius 1e-5: rows in order, none lost);
# then prints each rank's peak RSS (meta.json memory.peak_rss_mib_per_rank,
# VmHWM) and, with two corpus sizes, the bytes per document per rank that
# the index/plan/ids cost: (RSS(N2) - RSS(N1)) / ((N2 - N1) / ranks).
#
#   launch/scale_docs.sh [--docs N] [--docs2 N2] [--ranks "1 2 4"] [--limit-mib 192] [--dir DIR]
#   launch/scale_docs.sh --docs 5000000 --ranks 2          # the issue's target: < 192 MiB per rank
#   launch/scale_docs.sh --docs 200000 --docs2 1000000 --ranks "1 2 4"   # the bytes/doc/rank table
#
# The output prefix (and the corpus) go under DIR (default: a fresh folder in
# the current directory, removed at the end); the job's spills (docs, plan,
# line and id parts) sit beside the prefix while it runs.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
source "$top/launch/mpi_env.sh"
bin="${SHARDENC:-$top/build/shardenc}"
model="${MODEL:-}" # default: a micro BERT made below (d 16, 1 layer): the index, not the model, is measured
docs=5000000 docs2=0 ranks=2 limit=192 dir=""
while [ $# -gt 0 ]; do
    case "$1" in
        --docs) docs="$2"; shift 2 ;;
        --docs2) docs2="$2"; shift 2 ;;
        --ranks) ranks="$2"; shift 2 ;;
        --limit-mib) limit="$2"; shift 2 ;;
        --dir) dir="$2"; shift 2 ;;
        *) echo "usage: $0 [--docs N] [--docs2 N2] [--ranks \"1 2 4\"] [--limit-mib M] [--dir DIR]" >&2; exit 2 ;;
    esac
done
[ -x "$bin" ] || { echo "no $bin: bash launch/build.sh release" >&2; exit 2; }
keep=1
if [ -z "$dir" ]; then dir="$(mktemp -d "$PWD/scale_docs.XXXXXX")"; keep=0; fi
mkdir -p "$dir"
[ "$keep" = 1 ] || trap 'rm -rf "$dir"' EXIT
export OMP_NUM_THREADS=1
PY=/usr/bin/python3 # Debian's, with numpy
if [ -z "$model" ]; then
    model="$dir/micro_bert" fx="$top/tests/fixtures/models/tiny_bert"
    if [ ! -s "$model/model.safetensors" ]; then
        mkdir -p "$model"
        cat > "$dir/micro.json" <<'JSON'
{"model_type": "bert", "architectures": ["BertModel"], "hidden_size": 16, "num_attention_heads": 2,
 "num_hidden_layers": 1, "intermediate_size": 32, "hidden_act": "gelu", "max_position_embeddings": 64,
 "type_vocab_size": 2, "vocab_size": 1000, "layer_norm_eps": 1e-12, "pad_token_id": 0}
JSON
        "$bin" init-model --config "$dir/micro.json" --output "$model" --vocab "$fx/vocab.txt" >/dev/null 2>&1
        cp "$fx/tokenizer_config.json" "$model/"
    fi
fi

gen() { # N -> $dir/c<N>.jsonl, and the 2000-document sample
    [ -s "$dir/c$1.jsonl" ] && return
    "$PY" - "$1" "$dir" "$model/vocab.txt" <<'PY'
import random, sys
n, d = int(sys.argv[1]), sys.argv[2]
words = [w.strip() for w in open(sys.argv[3]) if w.strip().isalpha() and len(w.strip()) > 2][:400]
def text(i):  # 3..12 words, fixed by i: the same document whatever the run
    r = random.Random(i)
    return " ".join(r.choice(words) for _ in range(3 + i % 10))
with open(f"{d}/c{n}.jsonl", "w", buffering=1 << 22) as f:
    for i in range(n):
        f.write('{"id": "d%d", "text": "%s"}\n' % (i, text(i)))
sample = sorted(random.Random(n).sample(range(n), min(n, 2000)))
with open(f"{d}/s{n}.jsonl", "w") as f:
    for i in sample:
        f.write('{"id": "d%d", "text": "%s"}\n' % (i, text(i)))
open(f"{d}/s{n}.idx", "w").write(" ".join(map(str, sample)))
PY
}

run() { # N P -> prints "N P rss_max rss_list seconds"
    local n="$1" p="$2" out="$dir/o${1}_$2"
    local t0=$SECONDS
    se_mpiexec -n "$p" "$bin" embed --quiet --model "$model" --input "$dir/c$n.jsonl" --output "$out" --pooling mean
    local t=$((SECONDS - t0))
    [ -s "$dir/s$n.npy" ] || se_mpiexec -n 1 "$bin" embed --quiet --model "$model" --input "$dir/s$n.jsonl" \
        --output "$dir/s$n" --pooling mean
    "$PY" - "$out" "$n" "$dir/s$n" "$p" "$t" "$limit" <<'PY'
import json, sys
import numpy as np
out, n, s, p, t, limit = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5], float(sys.argv[6])
ok = True
with open(out + ".ids.txt") as f:
    for i, line in enumerate(f):
        if line != "d%d\n" % i:
            print(f"FAIL: ids.txt line {i + 1} is {line.strip()!r}, not d{i}"); ok = False; break
    else:
        i = i + 1 if n else 0
if ok and i != n: print(f"FAIL: ids.txt has {i} lines, not {n}"); ok = False
rows = np.load(out + ".npy", mmap_mode="r")
if rows.shape[0] != n: print(f"FAIL: {rows.shape[0]} rows, not {n}"); ok = False
idx = [int(x) for x in open(s + ".idx").read().split()]
ref = np.load(s + ".npy")
got = np.asarray(rows[idx], dtype=np.float64)
rel = np.linalg.norm(got - ref) / np.linalg.norm(ref)
if not rel < 1e-5: print(f"FAIL: sampled rows differ from the documents embedded alone (rel {rel:.2e})"); ok = False
m = json.load(open(out + ".meta.json"))
rss = m["memory"]["peak_rss_mib_per_rank"]
if max(rss) >= limit: print(f"FAIL: a rank peaked at {max(rss):.1f} MiB (limit {limit:.0f})"); ok = False
print(f"RESULT docs={n} ranks={p} peak_rss_mib={max(rss):.1f} per_rank={rss} seconds={t} "
      f"index_mb_per_s_per_rank={m['timings']['index_mb_per_s_per_rank']} sample_rel={rel:.1e} "
      f"{'ok' if ok else 'FAILED'}")
sys.exit(0 if ok else 1)
PY
    rm -f "$out".*
}

status=0
gen "$docs"
[ "$docs2" -gt 0 ] && gen "$docs2"
declare -A rss1 rss2
for p in $ranks; do
    line="$(run "$docs" "$p")" || status=1
    echo "$line"
    rss1[$p]="$(sed -n 's/.*peak_rss_mib=\([0-9.]*\).*/\1/p' <<<"$line")"
    if [ "$docs2" -gt 0 ]; then
        line="$(run "$docs2" "$p")" || status=1
        echo "$line"
        rss2[$p]="$(sed -n 's/.*peak_rss_mib=\([0-9.]*\).*/\1/p' <<<"$line")"
    fi
done
if [ "$docs2" -gt 0 ]; then
    echo "ranks  peak MiB at $docs  peak MiB at $docs2  bytes/doc/rank"
    for p in $ranks; do
        awk -v p="$p" -v a="${rss1[$p]:-0}" -v b="${rss2[$p]:-0}" -v n1="$docs" -v n2="$docs2" \
            'BEGIN { printf "%5d  %16.1f  %17.1f  %14.2f\n", p, a, b, (b - a) * 1048576 / ((n2 - n1) / p) }'
    done
fi
exit $status
