#!/usr/bin/env python3
"""Standard-library .npy helpers for the shell tests (CI has no numpy).

  npytool.py cmp A.npy B.npy TOL          relative Frobenius error of A vs B <= TOL
  npytool.py rows A.npy                   print the shape
  npytool.py window OUT.npy ROW WIN.npy LEN [LEN ...]
        row ROW of OUT equals the token-count-weighted mean of the rows of WIN
        (one per window, in order) with weights LEN, within 1e-5
  npytool.py zero OUT.npy ROW             row ROW is all zeros
  npytool.py slice IN.npy A B OUT.npy     rows A..B-1 of IN into OUT
  npytool.py docpool OUT.npy ROW TOKENS.npy OFFSETS.npy DOC MODE LEN [LEN ...]
        row ROW of OUT (pooled embed output) equals MODE (cls|mean|max) computed
        directly from document DOC's token states in a --pooling none output,
        split into windows of LEN tokens: max over all states, mean over all
        states, cls = LEN-weighted mean of each window's first state (1e-5)
  npytool.py colmean IN.npy OUT.npy        the mean of IN's rows, as a [1, d] array
  npytool.py f16of F32.npy F16.npy         F16 ('<f2') is exactly F32 rounded to binary16 by
                                           Python's struct 'e' (round half to even)
"""
import array, ast, math, struct, sys


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:6] == b"\x93NUMPY", f"{path}: not a .npy file"
    hlen = struct.unpack("<H", data[8:10])[0]
    hdr = ast.literal_eval(data[10:10 + hlen].decode("latin1"))
    if hdr["descr"] == "<f2":  # array has no half type: struct's 'e' (IEEE binary16)
        return hdr["shape"], [v[0] for v in struct.iter_unpack("<e", data[10 + hlen:])]
    code = {"<f4": "f", "<i8": "q"}[hdr["descr"]]
    a = array.array(code)
    a.frombytes(data[10 + hlen:])
    return hdr["shape"], a


def save(path, shape, a):
    descr = "<f4" if a.typecode == "f" else "<i8"
    sh = "(%s)" % (", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else ""))
    h = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, sh)
    pad = 64 - (10 + len(h) + 1) % 64
    h = h + " " * (pad % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode("latin1") + a.tobytes())


def rel(a, b):
    num = sum((x - y) ** 2 for x, y in zip(a, b))
    den = sum(y * y for y in b)
    return math.sqrt(num / den) if den else math.sqrt(num)


def main(argv):
    cmd = argv[1]
    if cmd == "cmp":
        (sa, a), (sb, b) = load(argv[2]), load(argv[3])
        if tuple(sa) != tuple(sb):
            print(f"shape {sa} != {sb}")
            return 1
        e = rel(a, b)
        print(f"{argv[2]} vs {argv[3]}: relative error {e:.3e}")
        return 0 if e <= float(argv[4]) else 1
    if cmd == "f16of":
        (sa, a), (sb, b) = load(argv[2]), load(argv[3])
        with open(argv[3], "rb") as f:
            is_f2 = b"'<f2'" in f.read(128)
        want = [struct.unpack("<e", struct.pack("<e", x))[0] for x in a]
        bad = sum(1 for x, y in zip(want, b) if x != y)
        print(f"{argv[3]}: <f2 {is_f2}, {len(b)} values, {bad} differ from {argv[2]} rounded to nearest even")
        return 0 if is_f2 and tuple(sa) == tuple(sb) and bad == 0 else 1
    if cmd == "rows":
        print(load(argv[2])[0])
        return 0
    if cmd == "window":
        (so, o), (sw, w) = load(argv[2]), load(argv[4])
        d, row, lens = so[1], int(argv[3]), [float(x) for x in argv[5:]]
        want = [sum(lens[k] * w[k * d + j] for k in range(len(lens))) / sum(lens) for j in range(d)]
        got = o[row * d:(row + 1) * d]
        e = rel(got, want)
        print(f"window mean of {len(lens)} windows: relative error {e:.3e}")
        return 0 if e <= 1e-5 else 1
    if cmd == "zero":
        (so, o) = load(argv[2])
        d, row = so[1], int(argv[3])
        return 0 if all(x == 0 for x in o[row * d:(row + 1) * d]) else 1
    if cmd == "slice":
        (s, a) = load(argv[2])
        lo, hi, d = int(argv[3]), int(argv[4]), s[1]
        save(argv[5], (hi - lo, d), array.array(a.typecode, a[lo * d:hi * d]))
        return 0
    if cmd == "docpool":
        (so, o), (st, t), (_, off) = load(argv[2]), load(argv[4]), load(argv[5])
        row, doc, mode, lens = int(argv[3]), int(argv[6]), argv[7], [int(x) for x in argv[8:]]
        d, t0 = so[1], off[doc]
        if off[doc + 1] - t0 != sum(lens):
            print(f"document {doc} has {off[doc + 1] - t0} token states, windows say {sum(lens)}")
            return 1
        states = [t[(t0 + i) * d:(t0 + i + 1) * d] for i in range(sum(lens))]
        if mode == "max":
            want = [max(s[j] for s in states) for j in range(d)]
        elif mode == "mean":
            want = [sum(s[j] for s in states) / len(states) for j in range(d)]
        else:
            firsts, k = [], 0
            for n in lens:
                firsts.append(states[k]); k += n
            want = [sum(n * f[j] for n, f in zip(lens, firsts)) / sum(lens) for j in range(d)]
        e = rel(o[row * d:(row + 1) * d], want)
        print(f"{mode} of document {doc} from its token states: relative error {e:.3e}")
        return 0 if e <= 1e-5 else 1
    if cmd == "colmean":
        (s, a) = load(argv[2])
        n, d = s[0], s[1]
        save(argv[3], (1, d), array.array("f", [sum(a[r * d + j] for r in range(n)) / n for j in range(d)]))
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
