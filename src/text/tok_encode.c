/* The encoder: Hugging Face tokenizers' BertNormalizer -> BertPreTokenizer ->
 * WordPiece -> post-processor, fused into one pass over the bytes.
 *
 * HF order per character (normalizers/bert.rs, then pre_tokenizers/bert.rs):
 *   1. clean_text: drop NUL, U+FFFD and "other" chars (Cc Cf Co Cs; \t \n \r
 *      excepted), map whitespace (\t \n \r, White_Space) to ' '
 *   2. handle_chinese_chars: spaces around CJK ideographs
 *   3. strip_accents: NFD, then drop Mn
 *   4. lowercase: Rust char::to_lowercase (full mapping, no context)
 *   5. split on White_Space (removed) and on punctuation (isolated):
 *      ASCII 33-47 58-64 91-96 123-126, or category P*
 *   6. WordPiece per word: greedy longest match, "##" continuation, a word of
 *      more than max_input_chars_per_word chars or with an unmatched piece -> [UNK]
 * Every step is per character, so it is done once per character as we go.
 * (NFD's canonical reordering across characters only moves marks with a
 * non-zero combining class; stable reordering commutes with dropping Mn, so
 * it could matter only for non-Mn marks with ccc != 0 appearing out of
 * order — musical-symbol combining marks; not reproduced.)
 * Categories come from utf8proc (Unicode 15), corrected where HF's own
 * tables (Unicode 8.0) disagree by the generated ranges of tok_compat.h.
 * ASCII bytes never reach utf8proc: a 128-entry class table decides them. */
#include "tok_internal.h"
#include "tok_pipe.h"
#include "tok_compat.h"

#include <pthread.h>
#include <stdlib.h>
#include <utf8proc.h>

/* HF's verdict for c if c is in one of the generated compat ranges, else -1. */
static inline int compat(const se_tok_compat_range *r, int n, int32_t c)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int m = (lo + hi) / 2;
        if (c < r[m].lo) hi = m - 1;
        else if (c > r[m].hi) lo = m + 1;
        else return r[m].hf;
    }
    return -1;
}

/* Rust char::is_whitespace (White_Space property): 9-13, 0x85, and Zs/Zl/Zp. */
int se_tok_is_ws(int32_t c)
{
    if (c < 128) return c == ' ' || (c >= 9 && c <= 13);
    if (c == 0x85) return 1;
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP;
}

/* unicode_categories' is_other() as used by BertNormalizer: Cc Cf Co (Cs
 * cannot occur in a Rust char). Unassigned (Cn) code points are kept: the
 * reference tokenizer keeps U+0378, U+FDD0 (checked against it). */
int se_tok_is_other(int32_t c)
{
    int v = compat(se_tok_compat_other, se_tok_compat_other_n, c);
    if (v >= 0) return v;
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CO ||
           k == UTF8PROC_CATEGORY_CS;
}

int se_tok_is_punct(int32_t c)
{
    if (c < 128)
        return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
    int v = compat(se_tok_compat_punct, se_tok_compat_punct_n, c);
    if (v >= 0) return v;
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

/* Nonspacing mark (Mn), with HF's Unicode 8.0 verdicts (tok_compat.h). */
int se_tok_is_mn(int32_t c)
{
    int v = compat(se_tok_compat_mn, se_tok_compat_mn_n, c);
    if (v >= 0) return v;
    return utf8proc_category(c) == UTF8PROC_CATEGORY_MN;
}

/* The CJK Unified Ideographs blocks of BertNormalizer::is_chinese_char. */
int se_tok_is_cjk(int32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

uint8_t se_tok_bmp[65536];
static pthread_once_t bmp_once = PTHREAD_ONCE_INIT;

static void bmp_build(void)
{
    for (int32_t c = 0; c < 65536; c++) {
        if (c >= 0xD800 && c <= 0xDFFF) continue; /* never decoded: ill-formed UTF-8 */
        uint8_t f = 0;
        if (se_tok_is_other(c)) f |= SE_CF_OTHER;
        if (se_tok_is_ws(c)) f |= SE_CF_WS;
        if (se_tok_is_punct(c)) f |= SE_CF_PUNCT;
        if (se_tok_is_mn(c)) f |= SE_CF_MN;
        if (se_tok_is_cjk(c)) f |= SE_CF_CJK;
        if (c == 0x130 || utf8proc_tolower(c) != c) f |= SE_CF_LCHG;
        utf8proc_int32_t d[8];
        int bc = 0;
        if (utf8proc_decompose_char(c, d, 8, UTF8PROC_DECOMPOSE, &bc) != 1 || d[0] != c) f |= SE_CF_DCHG;
        se_tok_bmp[c] = f;
    }
}

void se_tok_bmp_init(void) { pthread_once(&bmp_once, bmp_build); }

typedef struct {
    const se_tokenizer *t;
    se_ids *out;
    char *w;        /* the current word, normalised UTF-8 */
    size_t wlen;    /* bytes stored */
    size_t wcap;    /* capacity: (max_chars + 1) * 4 bytes */
    size_t wchars;  /* characters seen, may exceed what is stored */
    int oom;
} enc_state;

static inline int push_id(enc_state *s, int32_t id)
{
    se_ids *o = s->out;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 256;
        int32_t *p = realloc(o->ids, cap * sizeof *p);
        if (!p) {
            s->oom = 1;
            return -1;
        }
        o->ids = p;
        o->cap = cap;
    }
    o->ids[o->n++] = id;
    return 0;
}

/* WordPiece on the current word (models/wordpiece/mod.rs): greedy longest
 * prefix; later pieces are looked up as prefix+piece; any miss -> one [UNK]. */
static void flush_word(enc_state *s)
{
    if (s->wlen == 0 && s->wchars == 0) return;
    const se_tokenizer *t = s->t;
    const char *w = s->w;
    const size_t len = s->wlen;
    size_t n0 = s->out->n;
    s->wlen = 0;
    if (s->wchars > (size_t)t->opt.max_input_chars_per_word) {
        s->wchars = 0;
        push_id(s, t->unk_id);
        return;
    }
    s->wchars = 0;
    /* HF's short path: the whole word is a token (most words of real text). */
    if (len <= t->max_key[0]) {
        int32_t id = se_tok_lookup(t, 0, w, len);
        if (id >= 0) {
            push_id(s, id);
            return;
        }
    }
    /* Greedy longest match, walked forward: extend the piece one character at
     * a time while it is still the prefix of some key (hash incremental),
     * remember the longest that is a key. Same result as HF's shrinking
     * search, with far fewer lookups on unknown words. */
    size_t start = 0;
    unsigned kind = 0;
    while (start < len) {
        uint64_t h = se_tok_hash_init(kind);
        int32_t id = -1;
        size_t best = start, e = start;
        while (e < len) {
            uint8_t lead = (uint8_t)w[e];
            size_t cl = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
            h = se_tok_hash_add(h, w + e, cl);
            e += cl;
            int32_t r = se_tok_find(t, h, kind, w + start, e - start);
            if (r == -1) break;
            if (r >= 0) {
                id = r;
                best = e;
            }
        }
        if (id < 0) {
            s->out->n = n0;
            push_id(s, t->unk_id);
            return;
        }
        if (push_id(s, id)) return;
        start = best;
        kind = 1;
    }
}

static inline void append_cp(enc_state *s, int32_t c)
{
    s->wchars++;
    if (s->wlen + 4 > s->wcap) return; /* the word is already too long: only count */
    s->wlen += (size_t)utf8proc_encode_char(c, (uint8_t *)s->w + s->wlen);
}

/* Step 5 for one normalised character. */
static inline void put_cp(enc_state *s, int32_t c)
{
    if (se_tok_is_ws(c)) {
        flush_word(s);
    } else if (se_tok_is_punct(c)) {
        flush_word(s);
        append_cp(s, c);
        flush_word(s);
    } else {
        append_cp(s, c);
    }
}

/* Steps 3-5 for one character that survived clean_text. */
static void normalize_cp(enc_state *s, int32_t c)
{
    const se_tokenizer *t = s->t;
    utf8proc_int32_t dec[8];
    utf8proc_ssize_t nd = 1;
    dec[0] = c;
    if (t->strip_accents) {
        int bc = 0;
        nd = utf8proc_decompose_char(c, dec, 8, UTF8PROC_DECOMPOSE, &bc);
        if (nd < 1 || nd > 8) {
            nd = 1;
            dec[0] = c;
        }
    }
    for (utf8proc_ssize_t i = 0; i < nd; i++) {
        int32_t d = dec[i];
        if (t->strip_accents && d >= 0x300 && se_tok_is_mn(d)) continue;
        if (t->opt.lowercase) {
            if (d == 0x130) { /* SpecialCasing: İ -> i + U+0307, the one multi-char lowercase */
                put_cp(s, 'i');
                put_cp(s, 0x307);
                continue;
            }
            d = utf8proc_tolower(d);
        }
        put_cp(s, d);
    }
}

/* Longest added token starting at p, or NULL. */
static inline const se_tok_added *match_added(const se_tokenizer *t, const char *p, size_t n)
{
    const se_tok_added *best = NULL;
    for (int i = 0; i < t->n_added; i++) {
        const se_tok_added *a = &t->added[i];
        if (a->len <= n && (!best || a->len > best->len) && memcmp(p, t->strs + a->off, a->len) == 0) best = a;
    }
    return best;
}

se_status se_tok_encode(const se_tokenizer *t, const char *text, size_t len, int add_special, se_ids *out,
                        size_t *n_invalid, se_error *err)
{
    out->n = 0;
    if (n_invalid) *n_invalid = 0;
    if (!text && len) return se_error_set(err, SE_EINVAL, "se_tok_encode: NULL text with length %zu", len);
    if (t->pipe) return se_pipe_encode(t, text, len, add_special, out, n_invalid, err);
    if (add_special && (t->n_prefix + t->n_suffix) == 0 && (t->cls_id < 0 || t->sep_id < 0))
        return se_error_set(err, SE_EINVAL, "se_tok_encode: the vocabulary has no [CLS]/[SEP] for special tokens");
    char stackbuf[4096];
    enc_state s = {t, out, stackbuf, 0, 0, 0, 0};
    size_t need = ((size_t)t->opt.max_input_chars_per_word + 2) * 4;
    if (need > sizeof stackbuf) {
        s.w = malloc(need);
        if (!s.w) return se_error_set(err, SE_ENOMEM, "se_tok_encode: out of memory");
        s.wcap = need;
    } else {
        s.wcap = sizeof stackbuf;
    }
    if (add_special)
        for (int i = 0; i < t->n_prefix; i++) push_id(&s, t->prefix_ids[i]);

    const uint8_t *p = (const uint8_t *)text;
    const int clean = t->opt.clean_text, chinese = t->opt.handle_chinese_chars;
    size_t bad = 0, i = 0;
    while (i < len) {
        uint8_t b = p[i];
        if (t->added_first[b]) {
            const se_tok_added *a = match_added(t, text + i, len - i);
            if (a) {
                flush_word(&s);
                push_id(&s, a->id);
                i += a->len;
                continue;
            }
        }
        if (b < 0x80) {
            switch (t->ascii_class[b]) {
            case SE_AC_WORD: /* the hot loop: a run of ASCII word bytes */
                do {
                    s.wchars++;
                    if (s.wlen < s.wcap) s.w[s.wlen++] = (char)t->ascii_lower[b];
                    if (++i >= len) break;
                    b = p[i];
                } while (b < 0x80 && t->ascii_class[b] == SE_AC_WORD && !t->added_first[b]);
                continue;
            case SE_AC_WS:
                flush_word(&s);
                break;
            case SE_AC_PUNCT:
                flush_word(&s);
                push_id(&s, t->ascii_single_id[b]);
                break;
            default: /* SE_AC_DROP */
                break;
            }
            i++;
            continue;
        }
        size_t adv;
        int32_t c = se_utf8_decode(p + i, len - i, &adv);
        i += adv;
        if (c < 0) {
            bad++;
            c = 0xFFFD;
        }
        if (c < 0x10000) { /* BMP: one table read decides the common cases */
            uint8_t fl = se_tok_bmp[c];
            if (clean) {
                if ((fl & SE_CF_OTHER) || c == 0xFFFD) continue;
                if (fl & SE_CF_WS) {
                    flush_word(&s);
                    continue;
                }
            }
            if (!(fl & t->slow_mask)) { /* unchanged by NFD/lowercase as configured, not a split */
                if ((fl & SE_CF_CJK) && chinese) {
                    flush_word(&s);
                    append_cp(&s, c);
                    flush_word(&s);
                } else {
                    append_cp(&s, c);
                }
                continue;
            }
        } else if (clean) {
            if (se_tok_is_other(c)) continue;
            if (se_tok_is_ws(c)) {
                flush_word(&s);
                continue;
            }
        }
        if (chinese && se_tok_is_cjk(c)) {
            flush_word(&s);
            normalize_cp(&s, c);
            flush_word(&s);
            continue;
        }
        normalize_cp(&s, c);
    }
    flush_word(&s);
    if (add_special)
        for (int k = 0; k < t->n_suffix; k++) push_id(&s, t->suffix_ids[k]);
    if (s.w != stackbuf) free(s.w);
    if (n_invalid) *n_invalid = bad;
    if (s.oom) return se_error_set(err, SE_ENOMEM, "se_tok_encode: out of memory for %zu ids", out->n);
    return SE_OK;
}
