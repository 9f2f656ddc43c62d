#!/usr/bin/python3
"""Builds tokenizer test corpora from text that Debian ships (nobody here wrote it).

  make_corpus.py fixture OUT.jsonl      the committed fixture (< ~1 MB): paragraphs of
                                        license texts, copyright files, READMEs, man pages
                                        in many languages, gettext translations, hard cases
                                        and a sweep over Unicode code points
  make_corpus.py bench OUT.jsonl MB     >= MB megabytes of real multilingual text for
                                        launch/bench_tokenize.sh (repeated if the machine
                                        ships less; the script says so)

Deterministic for a given machine: files are taken in sorted order.
Each line is {"id": ..., "text": ...}.
"""
import glob
import gzip
import json
import os
import re
import struct
import sys

ROFF_ESC = re.compile(r'\\f(\[[^\]]*\]|\(..|.)|\\\(..|\\\[[^\]]*\]|\\[-&e|^%]|\\s[-+]?\d')


def paragraphs(text, min_len=40, max_len=4000):
    for p in re.split(r'\n\s*\n', text):
        p = p.strip('\n')
        if min_len <= len(p):
            yield p[:max_len]


def read_text(path):
    try:
        with open(path, 'rb') as f:
            return f.read().decode('utf-8', 'replace')
    except OSError:
        return ''


def man_text(path):
    """Roff source to roughly plain text: macros dropped, their words kept."""
    try:
        with gzip.open(path, 'rb') as f:
            src = f.read().decode('utf-8', 'replace')
    except (OSError, EOFError):
        return ''
    out = []
    for line in src.split('\n'):
        if line.startswith(('.\\"', "'\\\"")):
            continue
        if line.startswith(('.', "'")):
            parts = line[1:].split(None, 1)
            if not parts:
                out.append('')
                continue
            if parts[0] in ('PP', 'P', 'LP', 'sp', 'br', 'TP', 'IP', 'SH', 'SS', 'RS', 'RE'):
                out.append('')
            line = parts[1] if len(parts) > 1 and parts[0] in (
                'SH', 'SS', 'B', 'I', 'BR', 'IR', 'RB', 'RI', 'BI', 'IB', 'IP', 'TP', 'SM', 'SB') else ''
            line = line.replace('"', '')
        out.append(ROFF_ESC.sub('', line))
    return '\n'.join(out)


def mo_strings(path):
    """Translated strings of a gettext .mo file (GNU format, either byte order)."""
    try:
        data = open(path, 'rb').read()
    except OSError:
        return []
    if len(data) < 28:
        return []
    magic = struct.unpack('<I', data[:4])[0]
    end = '<' if magic == 0x950412de else '>' if magic == 0xde120495 else None
    if end is None:
        return []
    _, n, _, toff = struct.unpack(end + '4I', data[4:20])
    res = []
    for i in range(n):
        ln, off = struct.unpack(end + '2I', data[toff + 8 * i: toff + 8 * i + 8])
        s = data[off:off + ln].decode('utf-8', 'replace')
        if i == 0 and 'Content-Type' in s:
            continue
        res.extend(x for x in s.split('\0') if x.strip())
    return res


HARD = [
    "Café, naïve, résumé, coöperate, Ångström, façade — déjà vu! São Paulo, Zürich, Øresund, Łódź, İstanbul.",
    "Ελληνικά: Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο. ΣΟΦΟΣ σοφός ΟΔΥΣΣΕΥΣ ς σ Σ.",
    "Русский: Съешь же ещё этих мягких французских булок, да выпей чаю. ЁЖИК ёжик Ѐ ѝ.",
    "Українська: Чуєш їх, доцю, га? Кумедна ж ти, прощайся без ґольфів! Ґ ґ Ї ї Є є.",
    "中文：我能吞下玻璃而不伤身体。汉字「漢字」，繁體與简体；𠀀𠀁𪚥 兀 豈 丽.",
    "日本語：いろはにほへと ちりぬるを わかよたれそ つねならむ カタカナ ｶﾀｶﾅ ー 〜 、。「」",
    "한국어: 다람쥐 헌 쳇바퀴에 타고파. 한글 ㄱㄴㄷ ᄀᄁ 훈민정음 ＡＢＣ１２３",
    "العربية: نص حكيم له سر قاطع وذو شأن عظيم مكتوب على ثوب أخضر ومغلف بجلد أزرق. ١٢٣٤ ؟ ،",
    "עברית: דג סקרן שט בים מאוכזב ולפתע מצא חברה. שָׁלוֹם",
    "हिन्दी: ऋषियों को सताने वाले दुष्ट राक्षसों के राजा रावण का सर्वनाश करने वाले विष्णुवतार भगवान श्रीराम।",
    "ไทย: เป็นมนุษย์สุดประเสริฐเลิศคุณค่า กว่าบรรดาฝูงสัตว์เดรัจฉาน",
    "Emoji: 😀 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️ 🇫🇷 🥰 🫠 ✈︎ 1️⃣ #️⃣ *️⃣ ©️ ™ ℃ ½ ² ³ ⁴ ₅",
    "Zero width: a\u200bb c\u200dd e\ufefff g\u200ch i\u2060j \ufeffBOM at start \u00adsoft\u00adhyphen",
    "Controls:\x01\x02\x03 bell\x07 esc\x1b[31m red\x1b[0m del\x7f \x0bvt \x0cff \x85nel \x9fapc end",
    "Tabs\tand\tnewlines\nand\r\ncarriage\rreturns\n\n\t  mixed \t\r\n  ",
    "NBSP:\u00a0non\u00a0breaking\u2007figure\u202fnarrow\u2009thin\u3000ideographic\u2028line\u2029para\u1680ogham\u205fmath",
    "Replacement \ufffd char and NUL \x00 in the middle \ufffd\ufffd\x00\x00.",
    "Longwords: " + "a" * 99 + " " + "b" * 100 + " " + "c" * 101 + " " + "é" * 100 + " " + "é" * 101 + " "
    + "pneumonoultramicroscopicsilicovolcanoconiosis" * 3 + " " + "ǅ" * 120,
    "URLs: https://www.example.org/path/to/page?query=1&x=%20y#frag mailto:user@example.com ftp://ftp.debian.org/debian/ "
    "http://[2001:db8::1]:8080/ www.gnu.org/licenses/gpl-3.0.html",
    "Numbers: 3.14159 1,234,567.89 -42 +7 1e-10 0x1F 12:30:45 2024-01-31 50% $9.99 €10,50 ¥1000 #1 No.5 3/4 1/2",
    "Combining: e\u0301 a\u0300\u0301\u0302 o\u0308\u0304 n\u0303 c\u0327 Z\u0351\u0352\u0353\u0354 "
    "\u1e9b\u0323 x\u20dd \u0915\u093f \u0e01\u0e34 \u05e9\u05c1\u05b8 q\u0307\u0323 q\u0323\u0307",
    "Case: ΣΑΣ ﬁ ﬂ ß ẞ Ǆ ǅ ǆ İ ı K Å Ω ℌ Ⅻ ⅻ Ⓐ ⓐ 𝐀 𝐚 ＦＵＬＬ ｗｉｄｔｈ Ꭰ ꭰ Ա ա 𐐀 𐐨",
    "Punct: «guillemets» „Anführung“ ‚single‘ “double” ‘single’ … ‐ ‑ ‒ – — ― ⁇ ‽ ¿¡ · • ※ § ¶ † ‡ ‰ ′ ″ 〈〉【】〔〕",
    "Symbols: +−×÷=≠≈≤≥ ∞ ∑ ∏ √ ∫ ← → ↑ ↓ ⇒ ⇔ ∀ ∃ ∈ ∉ ⊂ ⊃ ∪ ∩ ° ± µ ‰ ← ¤ ¢ £ ¥ ₹ ₿ ☃ ★ ♠ ♥ ♦ ♣ ☺",
    "Special tokens in text: [CLS] hello [SEP] [MASK] [PAD] [UNK] [cls] [ CLS ] [[SEP]] [MASK][MASK]x[SEP]",
    "Mixed scripts: naïveté日本語中文한국어Русскийελληνικάالعربيةעבריתहिन्दीไทย",
    "Private use and unassigned: \ue000\uf8ff \U000f0000 \u0378 \ufdd0 \uffff \U0001fbff \U000e0001tag\U000e007f",
    "",
    "   ",
    "a",
    ".",
    "Hey friend!     How are you?!?",
    "野口里佳 Noguchi Rika",
    "Mr. O'Neill's dog—it's 5 o'clock; isn't it? (yes) [no] {maybe} <tag> \"quoted\" `tick` ~tilde^caret|pipe\\back",
    "Fullwidth: ＨＥＬＬＯ，ｗｏｒｌｄ！ １２３ ＃＄％＆ halfwidth ｱｲｳ ﾞﾟ",
    "Math alnum: 𝕳𝖊𝖑𝖑𝖔 𝒲ℴ𝓇𝓁𝒹 𝟙𝟚𝟛 ℝ ℕ ℤ",
    "Compat ideographs: \uf900\uf901\ufa0e\ufa6d \U0002f800\U0002fa1d and radicals ⺀ ⼀ ㄅ ㆠ",
    "Hangul jamo and syllables: 각 갂 힣 ᄀ ᅡ ᆨ ㄱ ㅏ 똠방각하",
    "Vietnamese: Tiếng Việt có dấu: ả ã ạ ằ ẳ ẵ ặ ề ể ễ ệ ỉ ĩ ị ỏ õ ọ ồ ổ ỗ ộ ờ ở ỡ ợ ừ ử ữ ự ỳ ỷ ỹ ỵ đ Đ",
    "Greek tonos/dialytika: ΐ ΰ ά έ ή ί ό ύ ώ ϊ ϋ ᾶ ῆ ῖ ῦ ῶ ᾳ ῃ ῳ ᾼ ῌ ῼ ͅ ΅ ῭ ` ´",
    "Turkish: IĞDIR ığdır İzmir ızgara Şişli şişli Çanakkale çanakkale",
]


def sweep_docs():
    """Every code point c, outside the big uniform blocks, as "c a<c>b": alone it shows
    its normalised form (case, accents), inside a word whether it is dropped, split
    off as punctuation/whitespace, or kept."""
    ranges = [(0x80, 0x3400), (0xA000, 0xAC00), (0xD7B0, 0xD800), (0xF900, 0x10000),
              (0x10000, 0x10200), (0x10400, 0x10500), (0x1D400, 0x1D800), (0x1F000, 0x1FC00),
              (0xE0000, 0xE0080), (0x20000, 0x20010), (0x2F800, 0x2F810)]
    cps = [c for a, b in ranges for c in range(a, b) if not (0xD800 <= c < 0xE000)]
    docs = []
    for i in range(0, len(cps), 512):
        docs.append(' '.join(chr(c) + ' a' + chr(c) + 'b' for c in cps[i:i + 512]))
    return docs


def real_docs(budget, full=False):
    """(source, paragraph) pairs from licenses, copyright files, READMEs, man pages, .mo files."""
    out = []
    used = [0]

    def take(src, text, per_file):
        if full:
            per_file = 10 ** 9
        k = 0
        for p in paragraphs(text):
            if k >= per_file or used[0] >= budget:
                return
            out.append((src, p))
            used[0] += len(p.encode())
            k += 1

    for f in sorted(glob.glob('/usr/share/common-licenses/*')):
        if os.path.isfile(f):
            take(f, read_text(f), 6)
    step = 1 if full else 9
    for f in sorted(glob.glob('/usr/share/doc/*/copyright'))[::step]:
        take(f, read_text(f), 2)
    for f in sorted(glob.glob('/usr/share/doc/*/README*'))[::1 if full else 3]:
        if not f.endswith('.gz'):
            take(f, read_text(f), 2)
    langs = ['de', 'fr', 'ru', 'ja', 'zh_CN', 'zh_TW', 'ko', 'pl', 'uk', 'cs', 'tr', 'es', 'sr', 'it', 'pt_BR', '']
    if full:
        langs = sorted(os.listdir('/usr/share/man'))
    for lang in langs:
        if full:
            pages = sorted(glob.glob('/usr/share/man/%s/*.gz' % lang) + glob.glob('/usr/share/man/%s/man*/*.gz' % lang))
        else:
            pages = sorted(glob.glob('/usr/share/man/%s/man1/*.gz' % lang if lang else '/usr/share/man/man1/*.gz'))
            pages = pages[::max(1, len(pages) // 6)][:6]
        for f in pages:
            take(f, man_text(f), 3)
    mlangs = ['ja', 'zh_CN', 'ko', 'ru', 'el', 'ar', 'he', 'hi', 'th', 'vi', 'uk', 'ka', 'am', 'ta', 'bn', 'fa']
    if full:
        mlangs = sorted(os.listdir('/usr/share/locale'))
    for lang in mlangs:
        for f in sorted(glob.glob('/usr/share/locale/%s/LC_MESSAGES/*.mo' % lang))[:None if full else 2]:
            strs = mo_strings(f)[:None if full else 60]
            take(f, '\n\n'.join(strs), 60)
    return out


def main():
    mode, path = sys.argv[1], sys.argv[2]
    if mode == 'fixture':
        docs = [t for _, t in real_docs(560_000)] + HARD + sweep_docs()
        with open(path, 'w', encoding='utf-8') as f:
            for i, t in enumerate(docs):
                # a few string ids, the rest numeric: the CLI must keep both kinds
                did = 'doc-%d' % i if i % 7 == 3 else i
                f.write(json.dumps({'id': did, 'text': t}, ensure_ascii=False) + '\n')
        print('%s: %d documents, %d bytes' % (path, len(docs), os.path.getsize(path)), file=sys.stderr)
    elif mode == 'bench':
        want = int(float(sys.argv[3]) * 1e6)
        docs = [t for _, t in real_docs(10 ** 12, full=True)]
        total = sum(len(t.encode()) for t in docs)
        if total > want:
            # more than asked: an even sample (every k-th paragraph) keeps the language mix
            k = total / want
            docs = [docs[int(i * k)] for i in range(int(len(docs) / k))]
            total = sum(len(t.encode()) for t in docs)
        reps = max(1, -(-want // max(total, 1)))
        if reps > 1:
            print('bench corpus: %.1f MB of distinct text on this machine, repeated %d times' % (total / 1e6, reps),
                  file=sys.stderr)
        with open(path, 'w', encoding='utf-8') as f:
            n = 0
            for r in range(reps):
                for t in docs:
                    f.write(json.dumps({'id': n, 'text': t}, ensure_ascii=False) + '\n')
                    n += 1
        print('%s: %d documents, %d bytes of text' % (path, n, total * reps), file=sys.stderr)
    else:
        sys.exit('usage: make_corpus.py fixture OUT | bench OUT MB')


if __name__ == '__main__':
    main()
