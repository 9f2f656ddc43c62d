#!/usr/bin/env bash
# Builds the embedded default of the main job in OUT (default out/demo):
#   - a long-document corpus from real text every Debian machine has
#     (/usr/share/common-licenses and packages' copyright files), as JSONL;
#   - a small BERT-shaped model with RANDOM weights (configs/demo-bert-small.json,
#     seed 1) and the real bert-base-uncased vocabulary. Its embeddings carry no
#     meaning: it exists to exercise the whole job without a download.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$top/out/demo}"
bin="${SHARDENC:-$top/build/shardenc}"
mkdir -p "$out"
if [ ! -f "$out/model/model.safetensors" ]; then
    "$bin" init-model --config "$top/configs/demo-bert-small.json" --output "$out/model" --seed 1 \
        --vocab "$top/tests/fixtures/vocab/bert-base-uncased/vocab.txt"
fi
if [ ! -f "$out/corpus.jsonl" ]; then
    # One document per file; ids are the file paths. Capped at ~2 MB of text.
    python3 - "$out/corpus.jsonl" <<'PY'
import glob, json, os, sys
files = sorted(glob.glob("/usr/share/common-licenses/*")) + sorted(glob.glob("/usr/share/doc/*/copyright"))
seen, total = set(), 0
with open(sys.argv[1] + ".tmp", "w", encoding="utf-8") as out:
    for f in files:
        real = os.path.realpath(f)
        if real in seen or not os.path.isfile(real):
            continue
        seen.add(real)
        text = open(real, "rb").read().decode("utf-8", "replace")
        out.write(json.dumps({"id": f, "text": text}, ensure_ascii=False) + "\n")
        total += len(text)
        if total > 2_000_000:
            break
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
print(f"make_demo: {len(seen)} documents, {total/1e6:.1f} MB of text", file=sys.stderr)
PY
fi
