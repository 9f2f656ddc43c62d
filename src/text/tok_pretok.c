/* Pre-tokenizers of tokenizer.json (tokenizers/src/pre_tokenizers/): a list
 * of pieces in, a list of pieces out. Splitting follows
 * NormalizedString::split (tokenizers/src/tokenizer/normalizer.rs): a pattern
 * yields (range, is_match) runs, the delimiter behaviour regroups them, and
 * empty pieces are dropped (PreTokenizedString::split). */
#include "tok_pipe.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

enum { P_SEQ, P_BYTELEVEL, P_SPLIT, P_METASPACE, P_WHITESPACE, P_WSSPLIT, P_PUNCT, P_DIGITS, P_BERT };
enum { B_REMOVED, B_ISOLATED, B_PREV, B_NEXT, B_CONTIG };
enum { PS_ALWAYS, PS_FIRST, PS_NEVER };

struct se_pretok {
    int kind;
    se_pretok **parts;
    int n_parts;
    int add_prefix_space, use_regex; /* ByteLevel */
    se_regex re;                     /* ByteLevel (GPT-2 pattern), Split (Regex), Whitespace */
    int has_re;
    char *lit;                       /* Split String pattern, Metaspace replacement */
    size_t lit_len;
    int behavior, invert;            /* Split, Punctuation, Digits */
    int prepend_scheme, split;       /* Metaspace */
};

/* GPT-2's pattern, as tokenizers/src/pre_tokenizers/byte_level.rs has it. */
static const char k_gpt2_re[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* bytes_char() of byte_level.rs: printable Latin-1 bytes map to themselves,
 * the other 68 to U+0100.. in byte order. UTF-8 of each, built once. */
static char g_byte_utf8[256][3];
static uint8_t g_byte_len[256];
static pthread_once_t g_byte_once = PTHREAD_ONCE_INIT;
static void byte_table(void)
{
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int keep = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        int32_t c = keep ? b : 256 + n++;
        uint8_t u[4];
        g_byte_len[b] = (uint8_t)utf8proc_encode_char(c, u);
        memcpy(g_byte_utf8[b], u, g_byte_len[b]);
    }
}

void se_pretok_free(se_pretok *p)
{
    if (!p) return;
    for (int i = 0; i < p->n_parts; i++) se_pretok_free(p->parts[i]);
    free(p->parts);
    se_regex_free(&p->re);
    free(p->lit);
    free(p);
}

static int behavior_of(json_t *j, int dflt, int *ok)
{
    json_t *b = json_object_get(j, "behavior");
    if (!b || json_is_null(b)) return dflt;
    const char *s = json_is_string(b) ? json_string_value(b) : "";
    if (!strcmp(s, "Removed")) return B_REMOVED;
    if (!strcmp(s, "Isolated")) return B_ISOLATED;
    if (!strcmp(s, "MergedWithPrevious")) return B_PREV;
    if (!strcmp(s, "MergedWithNext")) return B_NEXT;
    if (!strcmp(s, "Contiguous")) return B_CONTIG;
    *ok = 0;
    return dflt;
}

static int flag(json_t *j, const char *k, int dflt, int *ok)
{
    json_t *v = json_object_get(j, k);
    if (!v || json_is_null(v)) return dflt;
    if (!json_is_boolean(v)) *ok = 0;
    return json_is_true(v);
}

se_status se_pretok_build(json_t *j, const char *where, se_pretok **out, se_error *err)
{
    *out = NULL;
    json_t *ty = json_object_get(j, "type");
    const char *t = json_is_string(ty) ? json_string_value(ty) : NULL;
    if (!t) return se_error_set(err, SE_EFORMAT, "%s: no \"type\"", where);
    se_pretok *p = calloc(1, sizeof *p);
    if (!p) return se_error_set(err, SE_ENOMEM, "%s: out of memory", where);
    pthread_once(&g_byte_once, byte_table);
    se_status st = SE_OK;
    int ok = 1;
    char w[512];
    if (!strcmp(t, "Sequence")) {
        p->kind = P_SEQ;
        json_t *arr = json_object_get(j, "pretokenizers");
        if (!json_is_array(arr)) {
            st = se_error_set(err, SE_EFORMAT, "%s.pretokenizers: an array is needed", where);
            goto out;
        }
        p->parts = calloc(json_array_size(arr) + 1, sizeof *p->parts);
        if (!p->parts) {
            st = se_error_set(err, SE_ENOMEM, "%s: out of memory", where);
            goto out;
        }
        size_t i;
        json_t *e;
        json_array_foreach(arr, i, e) {
            snprintf(w, sizeof w, "%s.pretokenizers[%zu]", where, i);
            if ((st = se_pretok_build(e, w, &p->parts[p->n_parts], err))) goto out;
            p->n_parts++;
        }
    } else if (!strcmp(t, "ByteLevel")) {
        p->kind = P_BYTELEVEL;
        p->add_prefix_space = flag(j, "add_prefix_space", 1, &ok);
        p->use_regex = flag(j, "use_regex", 1, &ok);
        if (p->use_regex) {
            if ((st = se_regex_compile(&p->re, k_gpt2_re, sizeof k_gpt2_re - 1, where, err))) goto out;
            p->has_re = 1;
        }
    } else if (!strcmp(t, "Split")) {
        p->kind = P_SPLIT;
        json_t *pat = json_object_get(j, "pattern");
        json_t *ps = json_object_get(pat, "String"), *pr = json_object_get(pat, "Regex");
        p->behavior = behavior_of(j, -1, &ok);
        p->invert = flag(j, "invert", 0, &ok);
        if (p->behavior < 0 || !ok) {
            st = se_error_set(err, SE_EFORMAT, "%s.behavior: one of Removed, Isolated, MergedWithPrevious, "
                              "MergedWithNext, Contiguous is needed", where);
            goto out;
        }
        if (json_is_string(pr)) {
            snprintf(w, sizeof w, "%s.pattern.Regex", where);
            if ((st = se_regex_compile(&p->re, json_string_value(pr), json_string_length(pr), w, err))) goto out;
            p->has_re = 1;
        } else if (json_is_string(ps) && json_string_length(ps) > 0) {
            p->lit_len = json_string_length(ps);
            p->lit = strdup(json_string_value(ps));
        } else {
            st = se_error_set(err, SE_EFORMAT, "%s.pattern: a non-empty String or a Regex is needed", where);
            goto out;
        }
    } else if (!strcmp(t, "Metaspace")) {
        p->kind = P_METASPACE;
        json_t *r = json_object_get(j, "replacement");
        size_t adv;
        if (!json_is_string(r) || json_string_length(r) == 0 ||
            se_utf8_next(json_string_value(r), json_string_length(r), &adv) < 0 || adv != json_string_length(r)) {
            st = se_error_set(err, SE_EFORMAT, "%s.replacement: one character is needed", where);
            goto out;
        }
        p->lit_len = json_string_length(r);
        p->lit = strdup(json_string_value(r));
        p->split = flag(j, "split", 1, &ok);
        json_t *sch = json_object_get(j, "prepend_scheme");
        p->prepend_scheme = PS_ALWAYS; /* metaspace.rs default_prepend_scheme_value */
        if (json_is_string(sch)) {
            const char *s = json_string_value(sch);
            if (!strcmp(s, "always")) p->prepend_scheme = PS_ALWAYS;
            else if (!strcmp(s, "first")) p->prepend_scheme = PS_FIRST;
            else if (!strcmp(s, "never")) p->prepend_scheme = PS_NEVER;
            else ok = 0;
        }
        /* legacy files: add_prefix_space false means never */
        if (flag(j, "add_prefix_space", 1, &ok) == 0) p->prepend_scheme = PS_NEVER;
    } else if (!strcmp(t, "Whitespace")) {
        p->kind = P_WHITESPACE;
        static const char re[] = "\\w+|[^\\w\\s]+";
        if ((st = se_regex_compile(&p->re, re, sizeof re - 1, where, err))) goto out;
        p->has_re = 1;
    } else if (!strcmp(t, "WhitespaceSplit")) {
        p->kind = P_WSSPLIT;
    } else if (!strcmp(t, "Punctuation")) {
        p->kind = P_PUNCT;
        p->behavior = behavior_of(j, B_ISOLATED, &ok);
    } else if (!strcmp(t, "Digits")) {
        p->kind = P_DIGITS;
        p->behavior = flag(j, "individual_digits", 0, &ok) ? B_ISOLATED : B_CONTIG;
    } else if (!strcmp(t, "BertPreTokenizer")) {
        p->kind = P_BERT;
    } else {
        st = se_error_set(err, SE_EUNSUPPORTED, "%s: pre_tokenizer type '%s' is not supported", where, t);
        goto out;
    }
    if (!ok) st = se_error_set(err, SE_EFORMAT, "%s: a setting has a value of the wrong type", where);
    else if ((p->kind == P_SPLIT || p->kind == P_METASPACE) && !p->has_re && !p->lit)
        st = se_error_set(err, SE_ENOMEM, "%s: out of memory", where);
out:
    if (st) {
        se_pretok_free(p);
        return st;
    }
    *out = p;
    return SE_OK;
}

/* ---- splitting ---- */

typedef struct {
    size_t s, e;
    int m;
} run;
typedef struct {
    run *r;
    size_t n, cap;
    int oom;
} runs;

static void run_add(runs *v, size_t s, size_t e, int m)
{
    if (v->n == v->cap) {
        size_t c = v->cap ? v->cap * 2 : 32;
        run *q = realloc(v->r, c * sizeof *q);
        if (!q) {
            v->oom = 1;
            return;
        }
        v->r = q;
        v->cap = c;
    }
    v->r[v->n++] = (run){s, e, m};
}

typedef int (*char_pred)(int32_t c);

/* punctuation.rs is_punc: ASCII punctuation or unicode_categories' P* (its
 * Unicode 8.0 tables: the same predicate as BertPreTokenizer, tok_encode.c). */
static int is_punc(int32_t c) { return se_tok_is_punct(c); }
static int is_numeric(int32_t c) /* char::is_numeric: Nd, Nl, No */
{
    if (c < 0x80) return c >= '0' && c <= '9';
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

/* Pattern::find_matches for a char predicate: every matching character is
 * its own match. */
static void find_pred(const char *s, size_t n, char_pred f, runs *v)
{
    size_t last = 0, adv;
    for (size_t i = 0; i < n; i += adv) {
        int32_t c = se_utf8_next(s + i, n - i, &adv);
        if (f(c)) {
            if (last < i) run_add(v, last, i, 0);
            run_add(v, i, i + adv, 1);
            last = i + adv;
        }
    }
    if (last < n) run_add(v, last, n, 0);
}

static void find_lit(const char *s, size_t n, const char *lit, size_t ln, runs *v)
{
    size_t prev = 0, i = 0;
    while (i + ln <= n) {
        const char *f = memmem(s + i, n - i, lit, ln);
        if (!f) break;
        size_t st = (size_t)(f - s);
        if (prev != st) run_add(v, prev, st, 0);
        run_add(v, st, st + ln, 1);
        prev = i = st + ln;
    }
    if (prev != n) run_add(v, prev, n, 0);
}

/* Regex find_iter: after an empty match the search resumes one character on. */
static int find_re(const se_regex *re, pcre2_match_data *md, const char *s, size_t n, runs *v)
{
    size_t prev = 0, pos = 0, ms, me;
    while (pos <= n) {
        int r = se_regex_next(re, md, s, n, pos, &ms, &me);
        if (r < 0) return -1;
        if (r == 0) break;
        if (prev != ms) run_add(v, prev, ms, 0);
        run_add(v, ms, me, 1);
        prev = me;
        if (me == ms) {
            if (me >= n) break;
            size_t adv;
            se_utf8_next(s + me, n - me, &adv);
            pos = me + adv;
        } else {
            pos = me;
        }
    }
    if (prev != n) run_add(v, prev, n, 0);
    return 0;
}

/* The delimiter behaviour (normalizer.rs, NormalizedString::split), in place:
 * afterwards m = 1 marks a run to remove. */
static void regroup(runs *v, int behavior, int invert)
{
    if (invert)
        for (size_t i = 0; i < v->n; i++) v->r[i].m = !v->r[i].m;
    size_t k = 0;
    int prevm = 0;
    switch (behavior) {
    case B_REMOVED: return;
    case B_ISOLATED:
        for (size_t i = 0; i < v->n; i++) v->r[i].m = 0;
        return;
    case B_CONTIG:
        for (size_t i = 0; i < v->n; i++) {
            int m = v->r[i].m;
            if (m == prevm && k > 0) v->r[k - 1].e = v->r[i].e;
            else v->r[k++] = (run){v->r[i].s, v->r[i].e, 0};
            prevm = m;
        }
        break;
    case B_PREV:
        for (size_t i = 0; i < v->n; i++) {
            int m = v->r[i].m;
            if (m && !prevm && k > 0) v->r[k - 1].e = v->r[i].e;
            else v->r[k++] = (run){v->r[i].s, v->r[i].e, 0};
            prevm = m;
        }
        break;
    case B_NEXT: /* fold from the right */
        for (size_t i = v->n; i-- > 0;) {
            int m = v->r[i].m;
            if (m && !prevm && k > 0) v->r[v->n - k].s = v->r[i].s;
            else {
                k++;
                v->r[v->n - k] = (run){v->r[i].s, v->r[i].e, 0};
            }
            prevm = m;
        }
        memmove(v->r, v->r + v->n - k, k * sizeof *v->r);
        break;
    }
    v->n = k;
}

/* Appends the kept runs of piece s (in in->text) to out, copying bytes. */
static void emit(se_tpieces *out, const char *s, const runs *v, int first)
{
    for (size_t i = 0; i < v->n; i++) {
        if (v->r[i].m || v->r[i].e == v->r[i].s) continue;
        size_t off = out->text.n;
        se_tbuf_put(&out->text, s + v->r[i].s, v->r[i].e - v->r[i].s);
        se_tpieces_add(out, off, v->r[i].e - v->r[i].s, first && v->r[i].s == 0);
    }
}

static void bytelevel_map(se_tpieces *out, const char *s, size_t n, int first)
{
    size_t off = out->text.n;
    for (size_t i = 0; i < n; i++) se_tbuf_put(&out->text, g_byte_utf8[(uint8_t)s[i]], g_byte_len[(uint8_t)s[i]]);
    se_tpieces_add(out, off, out->text.n - off, first);
}

static int apply_one(const se_pretok *p, const char *s, size_t n, int first, se_tpieces *out, runs *v,
                     pcre2_match_data *md, se_tbuf *tmp)
{
    v->n = 0;
    switch (p->kind) {
    case P_BYTELEVEL: {
        const char *src = s;
        size_t sn = n;
        if (p->add_prefix_space && !(n > 0 && s[0] == ' ')) {
            tmp->n = 0;
            se_tbuf_putc(tmp, ' ');
            se_tbuf_put(tmp, s, n);
            if (tmp->oom) return -1;
            src = tmp->b;
            sn = tmp->n;
        }
        if (!p->use_regex) {
            if (sn) bytelevel_map(out, src, sn, first);
            break;
        }
        if (find_re(&p->re, md, src, sn, v)) return -1;
        for (size_t i = 0; i < v->n; i++)
            if (v->r[i].e > v->r[i].s) bytelevel_map(out, src + v->r[i].s, v->r[i].e - v->r[i].s, first && i == 0);
        break;
    }
    case P_SPLIT:
        if (p->has_re) {
            if (find_re(&p->re, md, s, n, v)) return -1;
        } else {
            find_lit(s, n, p->lit, p->lit_len, v);
        }
        regroup(v, p->behavior, p->invert);
        emit(out, s, v, first);
        break;
    case P_METASPACE: {
        tmp->n = 0;
        int starts = n >= p->lit_len && memcmp(s, p->lit, p->lit_len) == 0;
        /* a leading space becomes the replacement, so it counts as one */
        if (n > 0 && s[0] == ' ') starts = 1;
        if (!starts && (p->prepend_scheme == PS_ALWAYS || (p->prepend_scheme == PS_FIRST && first)))
            se_tbuf_put(tmp, p->lit, p->lit_len);
        for (size_t i = 0; i < n; i++) {
            if (s[i] == ' ') se_tbuf_put(tmp, p->lit, p->lit_len);
            else se_tbuf_putc(tmp, s[i]);
        }
        if (tmp->oom) return -1;
        if (!p->split) {
            size_t off = out->text.n;
            se_tbuf_put(&out->text, tmp->b, tmp->n);
            if (tmp->n) se_tpieces_add(out, off, tmp->n, first);
            break;
        }
        find_lit(tmp->b, tmp->n, p->lit, p->lit_len, v);
        regroup(v, B_NEXT, 0);
        emit(out, tmp->b, v, first);
        break;
    }
    case P_WHITESPACE:
        if (find_re(&p->re, md, s, n, v)) return -1;
        regroup(v, B_REMOVED, 1);
        emit(out, s, v, first);
        break;
    case P_WSSPLIT:
        find_pred(s, n, se_tok_is_ws, v);
        emit(out, s, v, first);
        break;
    case P_PUNCT:
        find_pred(s, n, is_punc, v);
        regroup(v, p->behavior, 0);
        emit(out, s, v, first);
        break;
    case P_DIGITS:
        find_pred(s, n, is_numeric, v);
        regroup(v, p->behavior, 0);
        emit(out, s, v, first);
        break;
    case P_BERT: { /* whitespace (Removed), then punctuation (Isolated), bert.rs */
        find_pred(s, n, se_tok_is_ws, v);
        runs w = {0};
        for (size_t i = 0; i < v->n && !w.oom; i++) {
            if (v->r[i].m) continue;
            w.n = 0;
            find_pred(s + v->r[i].s, v->r[i].e - v->r[i].s, is_punc, &w);
            regroup(&w, B_ISOLATED, 0);
            emit(out, s + v->r[i].s, &w, first && v->r[i].s == 0);
        }
        int bad = w.oom;
        free(w.r);
        if (bad) return -1;
        break;
    }
    }
    return v->oom || out->oom || out->text.oom ? -1 : 0;
}

int se_pretok_apply(const se_pretok *p, const se_tpieces *in, se_tpieces *out)
{
    out->n = 0;
    out->text.n = 0;
    out->oom = out->text.oom = 0;
    if (p->kind == P_SEQ) {
        se_tpieces t[2];
        memset(t, 0, sizeof t);
        const se_tpieces *cur = in;
        int k = 0, rc = 0;
        for (int i = 0; i < p->n_parts && !rc; i++, k ^= 1) {
            rc = se_pretok_apply(p->parts[i], cur, &t[k]);
            cur = &t[k];
        }
        if (!rc) {
            se_tbuf_put(&out->text, cur->text.b ? cur->text.b : "", cur->text.n);
            for (size_t i = 0; i < cur->n; i++) se_tpieces_add(out, cur->p[i].off, cur->p[i].len, cur->p[i].first);
        }
        for (int i = 0; i < 2; i++) {
            free(t[i].text.b);
            free(t[i].p);
        }
        return rc || out->oom || out->text.oom ? -1 : 0;
    }
    runs v = {0};
    se_tbuf tmp = {0};
    pcre2_match_data *md = p->has_re ? pcre2_match_data_create_from_pattern(p->re.re, NULL) : NULL;
    int rc = p->has_re && !md ? -1 : 0;
    for (size_t i = 0; i < in->n && !rc; i++)
        rc = apply_one(p, in->text.b + in->p[i].off, in->p[i].len, in->p[i].first, out, &v, md, &tmp);
    if (md) pcre2_match_data_free(md);
    free(v.r);
    free(tmp.b);
    return rc;
}
