#!/usr/bin/python3
"""Compares shardenc output with a fixture's PyTorch reference (for humans; CI does not use it).

    /usr/bin/python3 tests/ref/check_outputs.py MODEL_DIR PREFIX [--pooling P] [--normalize] [--tol 1e-5]

MODEL_DIR is a folder of tests/fixtures/models (with ref_*.npy). PREFIX is what
was passed to `shardenc embed --output`: if PREFIX.tokens.npy exists (pooling
none) it is compared with ref_tokens.npy, and PREFIX.offsets.npy with
ref_offsets.npy; otherwise PREFIX.npy is compared with ref_<pooling>[_norm].npy
- all of them if --pooling is not given, naming the closest. Prints the
relative Frobenius error ||out - ref||_F / ||ref||_F overall and per document;
exits 1 if the (chosen or closest) error exceeds --tol, 2 on a shape mismatch
or missing file.
"""
import argparse
import os
import sys

import numpy as np


def rel(a, b):
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    nb = np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / nb) if nb > 0 else float(np.linalg.norm(a - b))


def load(path):
    if not os.path.exists(path):
        print("missing: %s" % path)
        sys.exit(2)
    return np.load(path, allow_pickle=False)


def check_tokens(model_dir, prefix, tol):
    out = load(prefix + ".tokens.npy")
    ref = load(os.path.join(model_dir, "ref_tokens.npy"))
    ref_off = load(os.path.join(model_dir, "ref_offsets.npy"))
    off_path = prefix + ".offsets.npy"
    if os.path.exists(off_path):
        off = np.load(off_path, allow_pickle=False)
        if off.shape != ref_off.shape or not np.array_equal(off, ref_off):
            print("offsets differ: got %s, reference %s" % (off.tolist(), ref_off.tolist()))
            return 2
        print("offsets: identical (%d docs, dtype %s)" % (len(off) - 1, off.dtype))
    else:
        print("note: %s not found, using the reference offsets" % off_path)
    if out.shape != ref.shape:
        print("shape mismatch: got %s, reference %s" % (out.shape, ref.shape))
        return 2
    if out.dtype != np.float32:
        print("note: dtype %s (expected float32)" % out.dtype)
    e = rel(out, ref)
    print("tokens [%d, %d]: relative Frobenius error %.3e   max abs diff %.3e" % (
        ref.shape[0], ref.shape[1], e, float(np.max(np.abs(out.astype(np.float64) - ref)))))
    for i in range(len(ref_off) - 1):
        a, b = ref_off[i], ref_off[i + 1]
        print("  doc %d (%d tokens): %.3e" % (i, b - a, rel(out[a:b], ref[a:b])))
    print("PASS" if e <= tol else "FAIL (tol %.1e)" % tol)
    return 0 if e <= tol else 1


def check_pooled(model_dir, prefix, pooling, normalize, tol):
    out = load(prefix + ".npy")
    if pooling:
        names = [pooling + ("_norm" if normalize else "")]
    else:
        names = [n for n in ("cls", "mean", "max", "cls_norm", "mean_norm", "max_norm")
                 if os.path.exists(os.path.join(model_dir, "ref_%s.npy" % n))]
    best = None
    for n in names:
        ref = load(os.path.join(model_dir, "ref_%s.npy" % n))
        if out.shape != ref.shape:
            print("shape mismatch vs ref_%s: got %s, reference %s" % (n, out.shape, ref.shape))
            return 2
        e = rel(out, ref)
        per = " ".join("%.1e" % rel(out[i], ref[i]) for i in range(ref.shape[0]))
        print("vs %-10s relative Frobenius error %.3e   per doc: %s" % (n, e, per))
        if best is None or e < best[1]:
            best = (n, e)
    print("closest: %s (%.3e) %s" % (best[0], best[1], "PASS" if best[1] <= tol else "FAIL (tol %.1e)" % tol))
    return 0 if best[1] <= tol else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("prefix")
    ap.add_argument("--pooling", choices=["cls", "mean", "max"], help="compare PREFIX.npy with this pooling only")
    ap.add_argument("--normalize", action="store_true", help="with --pooling: the L2-normalised reference")
    ap.add_argument("--tol", type=float, default=1e-5)
    a = ap.parse_args()
    if os.path.exists(a.prefix + ".tokens.npy"):
        sys.exit(check_tokens(a.model_dir, a.prefix, a.tol))
    sys.exit(check_pooled(a.model_dir, a.prefix, a.pooling, a.normalize, a.tol))


if __name__ == "__main__":
    main()
