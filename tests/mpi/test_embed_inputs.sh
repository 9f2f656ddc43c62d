#!/usr/bin/env bash
# Corpora as they come (issue 13), end to end under real mpiexec: a folder of
# plain, gzip (two members), zstd (two frames) and TSV shards, a quoted glob,
# at 1 and 2 ranks, must give the very rows and ids of the same corpus as one
# plain file; BEIR-style title + text, C4-style lines without id (FILE:LINE),
# TSV bad lines skipped with file:line; --output-dtype f16 = f32 rounded to
# nearest even; truncated .gz/.zst and unreadable inputs refused, naming the
# file; the resume fingerprint covers every input.
set -u
source "$SE_SRC/launch/mpi_env.sh"
source "$SE_SRC/tests/mpi/check_lib.sh"
export OMP_NUM_THREADS=1
bin="$SHARDENC"; fx="$SE_FIXTURES/models"; npy="python3 $SE_SRC/tests/mpi/npytool.py"
w="$(mktemp -d)"; trap 'rm -rf "$w"' EXIT
embed() { SE_MPI_TIMEOUT=300 se_mpiexec -n "$1" "$bin" embed --quiet --model "$fx/tiny_bert" "${@:2}"; }
for t in gzip zstd; do command -v $t >/dev/null || { echo "FAIL: the $t command is missing (launch/install.sh installs it)"; exit 1; }; done

# The corpus: 60 short text documents and 10 pre-tokenised ones, written once
# as one plain file and once as shards of every kind (ids and texts equal).
python3 - "$w" "$fx/tiny_bert/text.jsonl" <<'PY'
import json, os, random, sys
w = sys.argv[1]
random.seed(13)
words = " ".join(json.loads(l)["text"] for l in open(sys.argv[2])).split()
docs = [(f"d{i}", " ".join(random.choice(words) for _ in range(random.randrange(1, 40)))) for i in range(60)]
ptok = [(f"p{i}", [2] + [random.randrange(5, 900) for _ in range(random.randrange(1, 30))] + [3]) for i in range(10)]
line = lambda d: json.dumps({"id": d[0], "text": d[1]}) + "\n"
pline = lambda d: json.dumps({"id": d[0], "input_ids": d[1]}) + "\n"
with open(f"{w}/all.jsonl", "w") as f:
    f.writelines(line(d) for d in docs[:20]); f.writelines(pline(d) for d in ptok)
    f.writelines(line(d) for d in docs[20:])
os.mkdir(f"{w}/mixed")
with open(f"{w}/mixed/a.jsonl", "w") as f:
    f.writelines(line(d) for d in docs[:20]); f.writelines(pline(d) for d in ptok)
for name, part in (("b1", docs[20:30]), ("b2", docs[30:40]), ("c1", docs[40:45]), ("c2", docs[45:50])):
    open(f"{w}/{name}.part", "w").writelines(line(d) for d in part)
with open(f"{w}/e.tsv", "w") as f:  # MS MARCO collection.tsv shape, with two bad lines
    f.writelines(f"{i}\t{t}\n" for i, t in docs[50:55])
    f.write("no tab on this line\n")
    f.write("\tan empty id\n")
    f.writelines(f"{i}\t{t}\n" for i, t in docs[55:60])
open(f"{w}/mixed/notes.txt", "w").write("not a corpus file: a folder takes only its shards\n")
# BEIR (title + text, _id) and C4 (text, url, no id)
beir = [{"_id": "b0", "title": "Encoder", "text": docs[0][1]}, {"_id": "b1", "title": "", "text": docs[1][1]},
        {"_id": "b2", "text": docs[2][1]}, {"_id": "b3", "title": docs[3][1], "text": ""}]
open(f"{w}/beir.jsonl", "w").writelines(json.dumps(b) + "\n" for b in beir)
c4 = [{"text": docs[5 + i][1], "url": f"http://x/{i}", "timestamp": "2019"} for i in range(3)]
open(f"{w}/c4.jsonl", "w").writelines(json.dumps(c) + "\n" for c in c4)
join = lambda b: " ".join(x for x in (b.get("title"), b.get("text")) if x)
with open(f"{w}/beir_ref.jsonl", "w") as f:
    f.writelines(json.dumps({"id": b["_id"], "text": join(b)}) + "\n" for b in beir)
    f.writelines(json.dumps({"id": "c4", "text": c["text"]}) + "\n" for c in c4)
PY
gzip -c "$w/b1.part" > "$w/mixed/b.jsonl.gz" && gzip -c "$w/b2.part" >> "$w/mixed/b.jsonl.gz"
zstd -q -c "$w/c1.part" > "$w/mixed/c.jsonl.zst" && zstd -q -c "$w/c2.part" >> "$w/mixed/c.jsonl.zst"
zstd -q -c "$w/e.tsv" > "$w/mixed/e.tsv.zst"
gzip -c "$w/c4.jsonl" > "$w/c4.jsonl.gz"

# 1. One plain file, the reference.
check "one plain file, 1 rank" embed 1 --input "$w/all.jsonl" --output "$w/ref"
# 2. The folder at 1 rank, and a quoted glob + a path at 2 ranks: the same rows and ids.
check "a folder of .jsonl, .jsonl.gz, .jsonl.zst, .tsv.zst, 1 rank" embed 1 --input "$w/mixed" --output "$w/f1"
check "  identical rows" $npy cmp "$w/f1.npy" "$w/ref.npy" 0
check "  ids in order of files then lines" diff "$w/f1.ids.txt" "$w/ref.ids.txt"
check "quoted glob + a path, 2 ranks" embed 2 --input "$w/mixed/*.jsonl*" "$w/mixed/e.tsv.zst" --output "$w/f2"
check "  identical rows" $npy cmp "$w/f2.npy" "$w/ref.npy" 0
check "  identical ids" diff "$w/f2.ids.txt" "$w/ref.ids.txt"
check "  the TSV line without a tab skipped, file:line" grep -q '"file": ".*e.tsv.zst", "line": 6, "reason": "no tab' "$w/f2.meta.json"
check "  the TSV line with an empty id skipped, file:line" grep -q '"file": ".*e.tsv.zst", "line": 7, "reason": "empty id' "$w/f2.meta.json"
check "  meta.json lists 4 files with their compressed sizes" python3 -c "
import json, os, sys; m = json.load(open('$w/f2.meta.json'))
i = m['inputs']; assert i['files'] == 4 and i['bytes'] == sum(os.path.getsize(f['file']) for f in i['list']), i
assert [f['compression'] for f in i['list']] == ['none', 'gzip', 'zstd', 'zstd'] and i['list'][3]['format'] == 'tsv', i
assert m['timings']['index_mb_per_s_per_rank'] > 0 and m['counts']['skipped_lines'] == 2"
# A line longer than a rank's whole byte range (3 ranks): read once, by the rank where it starts.
python3 -c "
import json, random; random.seed(2)
with open('$w/long.jsonl', 'w') as f:
    for i, n in enumerate((3, 3000, 3, 3)):
        f.write(json.dumps({'id': f'l{i}', 'input_ids': [random.randrange(5, 900) for _ in range(n)]}) + '\\n')"
check "a line longer than a rank's byte range, 3 ranks" embed 3 --input "$w/long.jsonl" --output "$w/lg" --pooling mean
check "  each line once, in order" diff "$w/lg.ids.txt" <(printf '%s\n' l0 l1 l2 l3)
check "  the same rows as 1 rank" embed 1 --input "$w/long.jsonl" --output "$w/lg1" --pooling mean
check "  identical" $npy cmp "$w/lg.npy" "$w/lg1.npy" 0

# 3. --output-dtype f16: the f32 rows rounded to nearest even (Python's struct 'e' as the reference).
check "--output-dtype f16, 2 ranks" embed 2 --input "$w/mixed" --output "$w/h" --output-dtype f16
check "  = f32 rows rounded to nearest even, <f2" $npy f16of "$w/ref.npy" "$w/h.npy"
check "--output-dtype f16 --pooling none" embed 1 --input "$w/mixed/c.jsonl.zst" --output "$w/hn" --output-dtype f16 --pooling none
check "  f32 token states of the same file" embed 1 --input "$w/mixed/c.jsonl.zst" --output "$w/fn" --pooling none
check "  = f32 token states rounded to nearest even" $npy f16of "$w/fn.tokens.npy" "$w/hn.tokens.npy"
# 4. BEIR title + text and C4 lines without id.
check "BEIR --id-field _id --text-field title,text + C4 .jsonl.gz without ids" embed 2 --input "$w/beir.jsonl" --input "$w/c4.jsonl.gz" --output "$w/b" --id-field _id --text-field title,text
check "  reference: the fields joined by one space" embed 1 --input "$w/beir_ref.jsonl" --output "$w/bref"
check "  rows equal" $npy cmp "$w/b.npy" "$w/bref.npy" 0
check "  ids: _id, then FILE:LINE" diff "$w/b.ids.txt" <(printf '%s\n' b0 b1 b2 b3 "$w/c4.jsonl.gz:1" "$w/c4.jsonl.gz:2" "$w/c4.jsonl.gz:3")
# 5. Bad input: truncated and corrupt streams, unreadable files; nothing that looks complete.
head -c $(( $(stat -c %s "$w/mixed/b.jsonl.gz") - 9 )) "$w/mixed/b.jsonl.gz" > "$w/cut.jsonl.gz"
head -c $(( $(stat -c %s "$w/mixed/c.jsonl.zst") - 7 )) "$w/mixed/c.jsonl.zst" > "$w/cut.jsonl.zst"
python3 -c "
d = bytearray(open('$w/mixed/b.jsonl.gz', 'rb').read()); d[40] ^= 0x55; open('$w/bad.jsonl.gz', 'wb').write(d)"
for f in cut.jsonl.gz cut.jsonl.zst bad.jsonl.gz; do
    embed 2 --input "$w/all.jsonl" "$w/$f" --output "$w/x_$f" >"$w/e.log" 2>&1; rc=$?
    want=truncated; [ $f = bad.jsonl.gz ] && want=corrupt
    [ $rc -ne 0 ] && grep -q "$w/$f: $want .* byte [0-9]" "$w/e.log" && [ ! -e "$w/x_$f.npy" ] && [ ! -e "$w/x_$f.meta.json" ] \
        && ok "$f: exit $rc, names the file, '$want', the offset" || { bad "$f ($rc)"; cat "$w/e.log"; }
done
embed 2 --input "$w/all.jsonl" "$w/missing.jsonl.gz" --output "$w/mi" >"$w/e.log" 2>&1; rc=$?
[ $rc -ne 0 ] && grep -q "missing.jsonl.gz: cannot open" "$w/e.log" && [ ! -e "$w/mi.ids.part0" ] && [ ! -e "$w/mi.journal" ] \
    && ok "an unreadable input refused before any work" || { bad "unreadable input ($rc)"; cat "$w/e.log"; }
"$bin" embed --model "$fx/tiny_bert" --output "$w/mi" --input >"$w/e.log" 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "'--input' needs a value" "$w/e.log" && ok "--input without a value" || { bad "--input without a value ($rc)"; cat "$w/e.log"; }
embed 1 --input "$w/mixed/nothing*.jsonl" --output "$w/mi" >"$w/e.log" 2>&1; rc=$?
[ $rc -ne 0 ] && grep -q "no file matches" "$w/e.log" && ok "a glob that matches nothing refused" || { bad "empty glob ($rc)"; cat "$w/e.log"; }
# 6. The resume fingerprint covers every input: a finished job is found complete,
#    until one shard changes.
SE_MPI_TIMEOUT=300 se_mpiexec -n 1 "$bin" embed --model "$fx/tiny_bert" --input "$w/mixed" --output "$w/f1" --resume >"$w/e.log" 2>&1
grep -q "nothing to do" "$w/e.log" && ok "--resume, inputs unchanged: complete" || { bad "--resume unchanged"; cat "$w/e.log"; }
zstd -q -c "$w/c2.part" > "$w/mixed/c.jsonl.zst" # one frame fewer: another corpus
SE_MPI_TIMEOUT=300 se_mpiexec -n 1 "$bin" embed --model "$fx/tiny_bert" --input "$w/mixed" --output "$w/f1" --resume >"$w/e.log" 2>&1
! grep -q "nothing to do" "$w/e.log" && [ "$(wc -l < "$w/f1.ids.txt")" = 65 ] && ok "--resume after a shard changed: the job runs again" \
    || { bad "--resume changed shard"; cat "$w/e.log"; }

# 7. Scale (requirement 4): each rank indexes a contiguous share and keeps
#    it on disk; the plan comes from the length histogram. Several windows a
#    document, many small batches, an empty file, a compressed shard, lines
#    without id, a blank and a bad line: 1, 2 and 3 ranks give the very bytes.
python3 - "$w" "$fx/tiny_bert/text.jsonl" <<'PY'
import json, random, sys
w = sys.argv[1]
random.seed(4)
words = " ".join(json.loads(l)["text"] for l in open(sys.argv[2])).split()
t = lambda: " ".join(random.choice(words) for _ in range(random.randrange(1, 60)))
with open(f"{w}/s_a.jsonl", "w") as f:
    for i in range(40):
        f.write(json.dumps({"id": f"a{i}", "text": t()}) + "\n")
        if i == 7: f.write("\n")
        if i == 21: f.write("{not json\n")
open(f"{w}/s_empty.jsonl", "w").close()
with open(f"{w}/s_b.jsonl", "w") as f:
    f.writelines(json.dumps({"id": f"b{i}", "text": t()}) + "\n" for i in range(25))
with open(f"{w}/s_c.jsonl", "w") as f:
    f.writelines(json.dumps({"text": t()}) + "\n" for i in range(30))
PY
gzip "$w/s_b.jsonl"
sin=(--input "$w/s_a.jsonl" "$w/s_empty.jsonl" "$w/s_b.jsonl.gz" "$w/s_c.jsonl" --max-tokens 16 --batch-tokens 64)
for p in 1 2 3; do
    check "scale: 3 shards + an empty file, windows of 16, batches of 64 tokens, $p rank(s)" embed $p "${sin[@]}" --output "$w/sc$p" --pooling mean
    check "  no spill left (docs, plan, line and id parts)" bash -c "! ls '$w'/sc$p.*part* '$w'/sc$p.plan.tmp 2>/dev/null | grep -q ."
    check "  meta.json: a peak RSS per rank" python3 -c "
import json; m = json.load(open('$w/sc$p.meta.json')); r = m['memory']['peak_rss_mib_per_rank']
assert len(r) == $p and min(r) > 1, r"
done
for p in 2 3; do
    check "  $p ranks: rows identical to 1 rank" $npy cmp "$w/sc$p.npy" "$w/sc1.npy" 0
    check "  $p ranks: ids identical (FILE:LINE past a blank and a bad line)" cmp "$w/sc$p.ids.txt" "$w/sc1.ids.txt"
    check "  $p ranks: the same skipped lines" python3 -c "
import json; a, b = (json.load(open(f'$w/sc{q}.meta.json')) for q in (1, $p))
assert a['skipped'] == b['skipped'] and a['counts'] == b['counts'], (a['skipped'], b['skipped'])"
done
check "  ids: 40 + 25 ids, then s_c.jsonl:1..30" diff "$w/sc1.ids.txt" <(printf 'a%s\n' $(seq 0 39); printf 'b%s\n' $(seq 0 24); for i in $(seq 1 30); do echo "$w/s_c.jsonl:$i"; done)
check "scale: --pooling none, 1 rank" embed 1 "${sin[@]}" --output "$w/sn1" --pooling none
check "scale: --pooling none, 3 ranks" embed 3 "${sin[@]}" --output "$w/sn3" --pooling none
check "  token states and offsets identical" bash -c "cmp '$w/sn1.tokens.npy' '$w/sn3.tokens.npy' && cmp '$w/sn1.offsets.npy' '$w/sn3.offsets.npy'"

# 5. One big .zst of several frames is indexed by several ranks, cut at frame
#    boundaries (issue 13: balance by zstd frames). The frames cut lines in
#    the middle, right after a '\n', and one frame holds no '\n' at all; lines
#    without id (FILE:LINE) and a bad line. 1, 2 and 3 ranks: the very bytes,
#    and the rows of the same text as one plain file.
python3 - "$w" "$fx/tiny_bert/text.jsonl" <<'PY'
import json, random, sys
w = sys.argv[1]
random.seed(5)
words = " ".join(json.loads(l)["text"] for l in open(sys.argv[2])).split()
lines = [json.dumps({"text": " ".join(random.choice(words) for _ in range(random.randrange(1, 50)))}) + "\n" for _ in range(36)]
lines[17] = "{not json\n"
data = "".join(lines).encode()
open(f"{w}/z_plain.jsonl", "wb").write(data)
ends = [0]
for i in (3, 9, 14, 22, 30):  # right after the '\n' of line i
    ends.append(sum(len(l) for l in lines[:i]))
ends += [ends[2] + 7, ends[4] + 11, ends[4] + 15]  # mid-line; a 4-byte frame inside one line
ends = sorted(set(ends)) + [len(data)]
for k in range(len(ends) - 1):
    open(f"{w}/z_frame{k:02d}", "wb").write(data[ends[k]:ends[k + 1]])
PY
: > "$w/z.jsonl.zst"; for f in "$w"/z_frame*; do zstd -q -c "$f" >> "$w/z.jsonl.zst"; done
check "zstd frames: one plain file, 1 rank" embed 1 --input "$w/z_plain.jsonl" --output "$w/zp" --max-tokens 16
for p in 1 2 3; do
    check "zstd frames: one .zst of 9 frames, $p rank(s)" embed $p --input "$w/z.jsonl.zst" --output "$w/z$p" --max-tokens 16
    check "  its index pieces: $p" python3 -c "import json; m = json.load(open('$w/z$p.meta.json')); assert m['index_units'] == $p, m['index_units']"
    check "  rows identical to the plain file's" $npy cmp "$w/z$p.npy" "$w/zp.npy" 0
    check "  ids FILE:LINE as the plain file's, the bad line 18 skipped" bash -c "diff <(sed 's|z.jsonl.zst|z_plain.jsonl|' '$w/z$p.ids.txt') '$w/zp.ids.txt' && grep -q '\"line\": 18, ' '$w/z$p.meta.json'"
done
check "  2 and 3 ranks: the same bytes as 1" bash -c "cmp '$w/z1.npy' '$w/z2.npy' && cmp '$w/z1.npy' '$w/z3.npy' && cmp '$w/z1.ids.txt' '$w/z3.ids.txt'"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
