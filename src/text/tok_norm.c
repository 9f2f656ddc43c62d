/* Normalizers of tokenizer.json (tokenizers/src/normalizers/): each maps a
 * UTF-8 string to a UTF-8 string. Sequence runs its parts in order through
 * two buffers. Unicode data comes from utf8proc (Debian's), the same tables
 * the WordPiece path uses. */
#include "tok_pipe.h"
#include "tok_compat_pipe.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

enum {
    N_SEQ, N_NFC, N_NFD, N_NFKC, N_NFKD, N_LOWER, N_STRIP, N_ACCENTS, N_REPLACE, N_PREPEND, N_PRECOMPILED, N_BERT
};

struct se_norm {
    int kind;
    se_norm **parts; /* N_SEQ */
    int n_parts;
    int left, right;  /* N_STRIP */
    int clean, chinese, accents, lower; /* N_BERT */
    char *pat, *content; /* N_REPLACE literal pattern (pat) or regex, content; N_PREPEND: content */
    size_t pat_len, content_len;
    se_regex re;
    int is_regex;
    uint32_t *trie; /* N_PRECOMPILED: Darts double array units */
    size_t trie_n;
    char *normalized;
    size_t normalized_len;
};

int32_t se_utf8_next(const char *s, size_t n, size_t *adv)
{
    utf8proc_int32_t c;
    utf8proc_ssize_t k = utf8proc_iterate((const uint8_t *)s, (utf8proc_ssize_t)(n > 4 ? 4 : n), &c);
    if (k <= 0) {
        *adv = 1;
        return -1;
    }
    *adv = (size_t)k;
    return c;
}

int se_tok_is_word_char(int32_t c)
{
    if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_PC:
        return 1;
    default:
        return c == 0x200C || c == 0x200D; /* Join_Control */
    }
}

void se_norm_free(se_norm *n)
{
    if (!n) return;
    for (int i = 0; i < n->n_parts; i++) se_norm_free(n->parts[i]);
    free(n->parts);
    free(n->pat);
    free(n->content);
    se_regex_free(&n->re);
    free(n->trie);
    free(n->normalized);
    free(n);
}

static int get_flag(json_t *o, const char *k, int dflt, int *ok)
{
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return dflt;
    if (!json_is_boolean(v)) *ok = 0;
    return json_is_true(v);
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Standard base64 with padding (Rust base64 STANDARD, as tokenizers reads it). */
static uint8_t *b64_decode(const char *s, size_t n, size_t *out_n)
{
    if (n % 4) return NULL;
    uint8_t *o = malloc(n / 4 * 3 + 1);
    if (!o) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i += 4) {
        int last = i + 4 == n;
        int pad2 = last && s[i + 2] == '=' && s[i + 3] == '=', pad3 = last && !pad2 && s[i + 3] == '=';
        int v0 = b64val((uint8_t)s[i]), v1 = b64val((uint8_t)s[i + 1]);
        int v2 = pad2 ? 0 : b64val((uint8_t)s[i + 2]), v3 = pad2 || pad3 ? 0 : b64val((uint8_t)s[i + 3]);
        if (v0 < 0 || v1 < 0 || v2 < 0 || v3 < 0) {
            free(o);
            return NULL;
        }
        o[k++] = (uint8_t)(v0 << 2 | v1 >> 4);
        if (!pad2) o[k++] = (uint8_t)(v1 << 4 | v2 >> 2);
        if (!pad2 && !pad3) o[k++] = (uint8_t)(v2 << 6 | v3);
    }
    *out_n = k;
    return o;
}

/* The precompiled_charsmap of SentencePiece: u32 trie size in bytes, the
 * Darts double-array units, then NUL-separated replacement strings
 * (spm_precompiled/src/lib.rs, parse and DoubleArray). */
static se_status load_charsmap(se_norm *n, json_t *j, const char *where, se_error *err)
{
    json_t *cm = json_object_get(j, "precompiled_charsmap");
    if (!json_is_string(cm))
        return se_error_set(err, SE_EFORMAT, "%s.precompiled_charsmap: a base64 string is needed", where);
    size_t bn = 0;
    uint8_t *b = b64_decode(json_string_value(cm), json_string_length(cm), &bn);
    if (!b) return se_error_set(err, SE_EFORMAT, "%s.precompiled_charsmap: invalid base64", where);
    se_status st = SE_OK;
    uint32_t tsize = bn >= 4 ? (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24 : 0;
    if (bn < 4 || tsize > bn - 4 || tsize < 4) {
        st = se_error_set(err, SE_EFORMAT, "%s.precompiled_charsmap: trie size %u does not fit in %zu bytes", where,
                          tsize, bn);
        goto out;
    }
    n->trie_n = tsize / 4;
    n->trie = malloc(n->trie_n * sizeof *n->trie);
    n->normalized_len = bn - 4 - n->trie_n * 4;
    n->normalized = dup_n((const char *)b + 4 + n->trie_n * 4, n->normalized_len);
    if (!n->trie || !n->normalized) {
        st = se_error_set(err, SE_ENOMEM, "%s: out of memory", where);
        goto out;
    }
    for (size_t i = 0; i < n->trie_n; i++) {
        const uint8_t *u = b + 4 + 4 * i;
        n->trie[i] = (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
    }
    if (utf8proc_decompose((const uint8_t *)n->normalized, (utf8proc_ssize_t)n->normalized_len, NULL, 0, 0) < 0)
        st = se_error_set(err, SE_EFORMAT, "%s.precompiled_charsmap: replacement strings are not valid UTF-8", where);
out:
    free(b);
    return st;
}

/* DoubleArray::common_prefix_search, first result only (Precompiled::transform
 * uses results[0]); returns the replacement or NULL. Bounds are checked: a
 * hostile array refers outside itself -> no match. */
static const char *charsmap_lookup(const se_norm *n, const uint8_t *k, size_t kn, size_t *rlen)
{
    const uint32_t *a = n->trie;
    size_t pos = 0;
    uint32_t unit = a[0];
#define OFFSET(u) (((size_t)(u) >> 10) << (((u) & (1u << 9)) >> 6))
    pos ^= OFFSET(unit);
    for (size_t i = 0; i < kn; i++) {
        if (k[i] == 0) break;
        pos ^= k[i];
        if (pos >= n->trie_n) return NULL;
        unit = a[pos];
        if ((unit & ((1u << 31) | 0xFF)) != k[i]) return NULL;
        pos ^= OFFSET(unit);
        if ((unit >> 8) & 1) {
            if (pos >= n->trie_n) return NULL;
            size_t v = a[pos] & ((1u << 31) - 1);
            if (v >= n->normalized_len) return NULL;
            size_t e = v;
            while (e < n->normalized_len && n->normalized[e]) e++;
            *rlen = e - v;
            return n->normalized + v;
        }
    }
#undef OFFSET
    return NULL;
}

se_status se_norm_build(json_t *j, const char *where, se_norm **out, se_error *err)
{
    *out = NULL;
    json_t *ty = json_object_get(j, "type");
    const char *t = json_is_string(ty) ? json_string_value(ty) : NULL;
    if (!t) return se_error_set(err, SE_EFORMAT, "%s: no \"type\"", where);
    se_norm *n = calloc(1, sizeof *n);
    if (!n) return se_error_set(err, SE_ENOMEM, "%s: out of memory", where);
    se_status st = SE_OK;
    int ok = 1;
    if (!strcmp(t, "Sequence")) {
        n->kind = N_SEQ;
        json_t *arr = json_object_get(j, "normalizers");
        if (!json_is_array(arr)) {
            st = se_error_set(err, SE_EFORMAT, "%s.normalizers: an array is needed", where);
            goto out;
        }
        n->parts = calloc(json_array_size(arr) + 1, sizeof *n->parts);
        if (!n->parts) {
            st = se_error_set(err, SE_ENOMEM, "%s: out of memory", where);
            goto out;
        }
        size_t i;
        json_t *e;
        json_array_foreach(arr, i, e) {
            char w[512];
            snprintf(w, sizeof w, "%s.normalizers[%zu]", where, i);
            if ((st = se_norm_build(e, w, &n->parts[n->n_parts], err))) goto out;
            n->n_parts++;
        }
    } else if (!strcmp(t, "NFC")) n->kind = N_NFC;
    else if (!strcmp(t, "NFD")) n->kind = N_NFD;
    else if (!strcmp(t, "NFKC")) n->kind = N_NFKC;
    else if (!strcmp(t, "NFKD")) n->kind = N_NFKD;
    else if (!strcmp(t, "Lowercase")) n->kind = N_LOWER;
    else if (!strcmp(t, "StripAccents")) n->kind = N_ACCENTS;
    else if (!strcmp(t, "Strip")) {
        n->kind = N_STRIP;
        n->left = get_flag(j, "strip_left", 1, &ok);
        n->right = get_flag(j, "strip_right", 1, &ok);
    } else if (!strcmp(t, "BertNormalizer")) {
        n->kind = N_BERT;
        n->clean = get_flag(j, "clean_text", 1, &ok);
        n->chinese = get_flag(j, "handle_chinese_chars", 1, &ok);
        n->lower = get_flag(j, "lowercase", 1, &ok);
        n->accents = get_flag(j, "strip_accents", -1, &ok);
        if (n->accents < 0) n->accents = n->lower;
    } else if (!strcmp(t, "Prepend")) {
        n->kind = N_PREPEND;
        json_t *p = json_object_get(j, "prepend");
        if (!json_is_string(p)) {
            st = se_error_set(err, SE_EFORMAT, "%s.prepend: a string is needed", where);
            goto out;
        }
        n->content_len = json_string_length(p);
        n->content = dup_n(json_string_value(p), n->content_len);
    } else if (!strcmp(t, "Replace")) {
        n->kind = N_REPLACE;
        json_t *p = json_object_get(j, "pattern"), *c = json_object_get(j, "content");
        json_t *ps = json_object_get(p, "String"), *pr = json_object_get(p, "Regex");
        if (!json_is_string(c) || !(json_is_string(ps) || json_is_string(pr))) {
            st = se_error_set(err, SE_EFORMAT, "%s: Replace needs pattern {String|Regex} and a string content", where);
            goto out;
        }
        n->content_len = json_string_length(c);
        n->content = dup_n(json_string_value(c), n->content_len);
        if (json_is_string(pr)) {
            n->is_regex = 1;
            char w[512];
            snprintf(w, sizeof w, "%s.pattern.Regex", where);
            if ((st = se_regex_compile(&n->re, json_string_value(pr), json_string_length(pr), w, err))) goto out;
        } else {
            n->pat_len = json_string_length(ps);
            n->pat = dup_n(json_string_value(ps), n->pat_len);
            if (n->pat_len == 0) {
                st = se_error_set(err, SE_EUNSUPPORTED, "%s.pattern.String: an empty pattern is not supported", where);
                goto out;
            }
        }
    } else if (!strcmp(t, "Precompiled")) {
        n->kind = N_PRECOMPILED;
        if ((st = load_charsmap(n, j, where, err))) goto out;
    } else {
        st = se_error_set(err, SE_EUNSUPPORTED, "%s: normalizer type '%s' is not supported", where, t);
        goto out;
    }
    if (!ok) st = se_error_set(err, SE_EFORMAT, "%s: a boolean setting has a non-boolean value", where);
    else if ((n->kind == N_PREPEND || n->kind == N_REPLACE) && !n->content)
        st = se_error_set(err, SE_ENOMEM, "%s: out of memory", where);
out:
    if (st) {
        se_norm_free(n);
        return st;
    }
    *out = n;
    return SE_OK;
}

/* The reference's verdict for c from a generated table (tok_compat_pipe.h), or NULL. */
static const char *compat_map(const se_tok_compat_map *t, int n, int32_t c)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (t[mid].c == c) return t[mid].s;
        if (t[mid].c < c) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

/* Rust char::to_lowercase, one character: utf8proc's simple mapping plus the
 * one multi-character lowercase in Unicode (U+0130 -> i + U+0307), and the
 * characters newer than utf8proc's Unicode (tok_compat_pipe.h). */
static void put_lower(se_tbuf *o, int32_t c)
{
    const char *r = compat_map(se_tok_compat_lower, se_tok_compat_lower_n, c);
    if (r) {
        se_tbuf_put(o, r, strlen(r));
        return;
    }
    if (c == 0x130) {
        se_tbuf_put(o, "i\xcc\x87", 3);
        return;
    }
    se_tbuf_put_cp(o, utf8proc_tolower(c));
}

static int is_mark(int32_t c)
{
    int lo = 0, hi = se_tok_compat_mark_n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (se_tok_compat_mark[mid].c == c) return se_tok_compat_mark[mid].hf;
        if (se_tok_compat_mark[mid].c < c) lo = mid + 1;
        else hi = mid - 1;
    }
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_MC || k == UTF8PROC_CATEGORY_ME;
}

static void unicode_form_run(const char *s, size_t n, utf8proc_option_t opt, se_tbuf *o)
{
    utf8proc_uint8_t *r = NULL;
    utf8proc_ssize_t k = utf8proc_map((const uint8_t *)s, (utf8proc_ssize_t)n, &r, opt | UTF8PROC_STABLE);
    if (k < 0) {
        o->oom = 1;
        return;
    }
    se_tbuf_put(o, r, (size_t)k);
    free(r);
}

/* NFC/NFD/NFKC/NFKD by utf8proc, except the characters whose decomposition
 * the reference's (older) tables do not have: those are passed through as
 * the reference decomposes them, splitting the text around them. */
static void unicode_form(const char *s, size_t n, utf8proc_option_t opt, se_tbuf *o)
{
    const se_tok_compat_map *t = (opt & UTF8PROC_COMPAT) ? se_tok_compat_nfkd : se_tok_compat_nfd;
    int tn = (opt & UTF8PROC_COMPAT) ? se_tok_compat_nfkd_n : se_tok_compat_nfd_n;
    size_t run = 0, adv;
    for (size_t i = 0; i < n; i += adv) {
        if ((uint8_t)s[i] < 0x80) {
            adv = 1;
            continue;
        }
        const char *r = compat_map(t, tn, se_utf8_next(s + i, n - i, &adv));
        if (!r) continue;
        if (i > run) unicode_form_run(s + run, i - run, opt, o);
        se_tbuf_put(o, r, strlen(r));
        run = i + adv;
    }
    if (n > run || n == 0) unicode_form_run(s + run, n - run, opt, o);
}

/* Precompiled::normalize (tokenizers/src/normalizers/precompiled.rs): per
 * extended grapheme cluster shorter than 6 bytes, the charsmap's first prefix
 * match replaces the whole cluster; otherwise each character is looked up
 * alone. */
static void precompiled(const se_norm *nm, const char *s, size_t n, se_tbuf *o)
{
    size_t i = 0;
    while (i < n) {
        /* one grapheme cluster [i, e) */
        size_t adv, e = i;
        int32_t state = 0, prev = se_utf8_next(s + i, n - i, &adv);
        e += adv;
        while (e < n) {
            int32_t c = se_utf8_next(s + e, n - e, &adv);
            if (utf8proc_grapheme_break_stateful(prev, c, &state)) break;
            prev = c;
            e += adv;
        }
        size_t rl;
        const char *r;
        if (e - i < 6 && (r = charsmap_lookup(nm, (const uint8_t *)s + i, e - i, &rl))) {
            se_tbuf_put(o, r, rl);
        } else {
            for (size_t k = i; k < e; k += adv) {
                se_utf8_next(s + k, e - k, &adv);
                if ((r = charsmap_lookup(nm, (const uint8_t *)s + k, adv, &rl))) se_tbuf_put(o, r, rl);
                else se_tbuf_put(o, s + k, adv);
            }
        }
        i = e;
    }
}

static void replace(const se_norm *nm, const char *s, size_t n, se_tbuf *o)
{
    size_t i = 0;
    if (!nm->is_regex) {
        while (i < n) {
            const char *f = n - i >= nm->pat_len ? memmem(s + i, n - i, nm->pat, nm->pat_len) : NULL;
            if (!f) break;
            se_tbuf_put(o, s + i, (size_t)(f - (s + i)));
            se_tbuf_put(o, nm->content, nm->content_len);
            i = (size_t)(f - s) + nm->pat_len;
        }
        se_tbuf_put(o, s + i, n - i);
        return;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(nm->re.re, NULL);
    if (!md) {
        o->oom = 1;
        return;
    }
    size_t pos = 0, ms, me;
    while (pos <= n) {
        int r = se_regex_next(&nm->re, md, s, n, pos, &ms, &me);
        if (r < 0) o->oom = 1;
        if (r <= 0) break;
        if (me == ms) { /* empty match: nothing to replace here, step one character */
            if (ms >= n) break;
            size_t adv;
            se_utf8_next(s + ms, n - ms, &adv);
            se_tbuf_put(o, s + i, ms + adv - i);
            i = pos = ms + adv;
            continue;
        }
        se_tbuf_put(o, s + i, ms - i);
        se_tbuf_put(o, nm->content, nm->content_len);
        i = pos = me;
    }
    se_tbuf_put(o, s + i, n - i);
    pcre2_match_data_free(md);
}

static void bert(const se_norm *nm, const char *s, size_t n, se_tbuf *o)
{
    se_tbuf a = {0}, b = {0};
    /* clean_text, handle_chinese_chars (BertNormalizer::do_clean_text, do_handle_chinese_chars) */
    for (size_t i = 0, adv; i < n; i += adv) {
        int32_t c = se_utf8_next(s + i, n - i, &adv);
        if (nm->clean) {
            /* is_control excludes \t \n \r, which are whitespace (bert.rs is_control) */
            if (c == 0 || c == 0xFFFD || (se_tok_is_other(c) && c != '\t' && c != '\n' && c != '\r')) continue;
            if (se_tok_is_ws(c)) {
                se_tbuf_putc(&a, ' ');
                continue;
            }
        }
        if (nm->chinese && se_tok_is_cjk(c)) {
            se_tbuf_putc(&a, ' ');
            se_tbuf_put(&a, s + i, adv);
            se_tbuf_putc(&a, ' ');
            continue;
        }
        se_tbuf_put(&a, s + i, adv);
    }
    const char *cur = a.b;
    size_t cn = a.n;
    if (nm->accents) { /* NFD, then drop nonspacing marks */
        se_tbuf d = {0};
        unicode_form(cur, cn, UTF8PROC_DECOMPOSE, &d);
        for (size_t i = 0, adv; i < d.n; i += adv) {
            int32_t c = se_utf8_next(d.b + i, d.n - i, &adv);
            if (!se_tok_is_mn(c)) se_tbuf_put(&b, d.b + i, adv);
        }
        b.oom |= d.oom;
        free(d.b);
        cur = b.b;
        cn = b.n;
    }
    if (nm->lower) {
        for (size_t i = 0, adv; i < cn; i += adv) put_lower(o, se_utf8_next(cur + i, cn - i, &adv));
    } else {
        se_tbuf_put(o, cur, cn);
    }
    o->oom |= a.oom | b.oom;
    free(a.b);
    free(b.b);
}

int se_norm_apply(const se_norm *nm, const char *s, size_t n, se_tbuf *o)
{
    o->n = 0;
    o->oom = 0;
    if (!s) s = "";
    switch (nm->kind) {
    case N_SEQ: {
        se_tbuf t[2] = {{0}, {0}};
        const char *cur = s;
        size_t cn = n;
        int k = 0;
        for (int i = 0; i < nm->n_parts; i++, k ^= 1) {
            if (se_norm_apply(nm->parts[i], cur, cn, &t[k])) {
                free(t[0].b);
                free(t[1].b);
                return -1;
            }
            cur = t[k].b;
            cn = t[k].n;
        }
        se_tbuf_put(o, cur, cn);
        free(t[0].b);
        free(t[1].b);
        break;
    }
    case N_NFC: unicode_form(s, n, UTF8PROC_COMPOSE, o); break;
    case N_NFD: unicode_form(s, n, UTF8PROC_DECOMPOSE, o); break;
    case N_NFKC: unicode_form(s, n, UTF8PROC_COMPOSE | UTF8PROC_COMPAT, o); break;
    case N_NFKD: unicode_form(s, n, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, o); break;
    case N_LOWER:
        for (size_t i = 0, adv; i < n; i += adv) {
            if ((uint8_t)s[i] < 0x80) {
                adv = 1;
                se_tbuf_putc(o, (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]));
            } else {
                put_lower(o, se_utf8_next(s + i, n - i, &adv));
            }
        }
        break;
    case N_ACCENTS:
        for (size_t i = 0, adv; i < n; i += adv) {
            int32_t c = se_utf8_next(s + i, n - i, &adv);
            if (!is_mark(c)) se_tbuf_put(o, s + i, adv);
        }
        break;
    case N_STRIP: { /* char::is_whitespace at either end */
        size_t b = 0, e = n, adv;
        if (nm->left)
            while (b < e) {
                int32_t c = se_utf8_next(s + b, e - b, &adv);
                if (!se_tok_is_ws(c)) break;
                b += adv;
            }
        if (nm->right)
            while (e > b) {
                size_t k = e - 1;
                while (k > b && ((uint8_t)s[k] & 0xC0) == 0x80) k--;
                if (!se_tok_is_ws(se_utf8_next(s + k, e - k, &adv))) break;
                e = k;
            }
        se_tbuf_put(o, s + b, e - b);
        break;
    }
    case N_PREPEND:
        if (n) se_tbuf_put(o, nm->content, nm->content_len);
        se_tbuf_put(o, s, n);
        break;
    case N_REPLACE: replace(nm, s, n, o); break;
    case N_PRECOMPILED: precompiled(nm, s, n, o); break;
    case N_BERT: bert(nm, s, n, o); break;
    }
    if (!o->b) se_tbuf_put(o, "", 0);
    return o->oom ? -1 : 0;
}
