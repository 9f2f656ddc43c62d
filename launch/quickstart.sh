#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs the
# main job on its embedded default (launch/make_demo.sh) on 2 MPI ranks:
#   mpiexec -n 2 shardenc embed --model out/demo/model --input out/demo/corpus.jsonl \
#       --output out/demo/embeddings --pooling mean --normalize
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
cd "$top"
bash launch/install.sh
bash launch/build.sh release
bash launch/make_demo.sh out/demo
source launch/mpi_env.sh
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
se_mpiexec -n 2 build/shardenc embed --model out/demo/model --input out/demo/corpus.jsonl \
    --output out/demo/embeddings --pooling mean --normalize --progress-every 2
python3 - <<'PY'
import json
m = json.load(open("out/demo/embeddings.meta.json"))
c = m["counts"]
print(f"quickstart: {c['documents']} documents, {c['tokens']} tokens in {c['windows']} windows -> "
      f"out/demo/embeddings.npy ({c['documents']} x {m['model_config']['hidden_size']} float32), "
      f"{m['timings']['tokens_per_s']:.0f} tokens/s")
print("quickstart: the demo model has random weights: its embeddings carry no meaning (see README).")
PY
