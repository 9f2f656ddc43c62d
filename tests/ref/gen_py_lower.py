#!/usr/bin/python3
"""Python's str.lower() of every code point it changes, for test_job_lower.

sentence-transformers applies s.lower() when do_lower_case is set
(sentence_transformers/models/Transformer.py, Transformer.tokenize). One line
per code point: hex code point, tab, hex code points of c.lower(). Run:
  /usr/bin/python3 tests/ref/gen_py_lower.py > tests/fixtures/text/py_lower.tsv
"""
import sys, unicodedata
print(f"# Python {sys.version.split()[0]}, Unicode {unicodedata.unidata_version}")
for c in range(0x110000):
    if 0xD800 <= c <= 0xDFFF:
        continue
    l = chr(c).lower()
    if l != chr(c):
        print(f"{c:X}\t" + " ".join(f"{ord(x):X}" for x in l))
# Final sigma (CPython handle_capital_sigma): for each code point c, whether
# U+03A3 lowers to final U+03C2 in c+"Σ", "AΣ"+c and "A"+c+"Σ"; listed only
# where that differs from a code point neither cased nor case-ignorable (010).
for c in range(0x110000):
    if 0xD800 <= c <= 0xDFFF:
        continue
    x = chr(c)
    f = "".join("1" if s.lower().endswith("\u03c2") or ("\u03c2" in s.lower()) else "0"
                for s in (x + "\u03a3", "A\u03a3" + x, "A" + x + "\u03a3"))
    if f != "010":
        print(f"S\t{c:X}\t{f}")
# Code points unassigned in Python's Unicode version (ranges): utf8proc may
# know a newer Unicode, whose new letters Python cannot judge.
start = None
for c in range(0x110001):
    un = c < 0x110000 and unicodedata.category(chr(c)) == "Cn"
    if un and start is None:
        start = c
    elif not un and start is not None:
        print(f"U\t{start:X}\t{c - 1:X}")
        start = None
