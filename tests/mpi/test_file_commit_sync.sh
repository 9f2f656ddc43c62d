#!/usr/bin/env bash
# Every file shardenc commits (config.json and model.safetensors from
# init-model, the ids of `shardenc tokenize`) is written to a temporary name,
# fsync'ed, renamed, and its directory fsync'ed (core's se_file_commit /
# se_stream_close + se_file_rename): checked on the real system calls with
# strace -y, which names each fd's file.
set -euo pipefail
: "${SHARDENC:?SHARDENC (the shardenc binary) must be set; ctest sets it}"
FX=${SE_FIXTURES:-$(cd "$(dirname "$0")/../fixtures" && pwd)}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v strace >/dev/null || fail "strace is needed (Debian package strace)"
strace -o /dev/null true 2>/dev/null || { echo "SKIP: ptrace is not permitted here"; exit 0; }

trace() { strace -f -y -e trace=fsync,fdatasync,rename,renameat,renameat2 -o "$W/tr" "$@"; }

# durable FINAL: fsync of FINAL.tmp.*, then the rename to FINAL, then an fsync of its directory
durable() {
    awk -v f="$1" -v d="$(dirname "$1")" '
        index($0, "sync(") && index($0, "<" f ".tmp.") { s = 1 }
        s && index($0, "rename") && index($0, "\"" f "\")") { r = 1; next }
        r && index($0, "fsync(") && index($0, "<" d ">") { ok = 1 }
        END { exit !ok }' "$W/tr" || { sed 's/^[0-9]* *//' "$W/tr" >&2; fail "$1 is not synced, renamed and its directory synced"; }
}

trace "$SHARDENC" init-model --config "$FX/models/tiny_bert/config.json" --output "$W/m" >/dev/null 2>&1 \
    || fail "init-model failed"
durable "$W/m/config.json"
durable "$W/m/model.safetensors"

trace "$SHARDENC" tokenize --model "$FX/vocab/bert-base-uncased" --input "$FX/tok/corpus.jsonl" --output "$W/ids.jsonl" \
    --quiet 2>/dev/null || fail "tokenize failed"
durable "$W/ids.jsonl"
echo "PASS"
