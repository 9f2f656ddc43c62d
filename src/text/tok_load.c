/* Tokenizer loaders: vocab.txt, tokenizer.json (WordPiece only), a model
 * folder. Builds the vocab hash table and the per-option ASCII tables the
 * encoder's fast path uses. */
#include "tok_internal.h"
#include "tok_pipe.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

#define SE_TOK_MAX_FILE (256u << 20) /* vocab files are a few MB; refuse absurd ones */
#define SE_TOK_MAX_ID (1 << 24)

void se_tok_options_default(se_tok_options *o)
{
    o->lowercase = 1;
    o->strip_accents = -1;
    o->handle_chinese_chars = 1;
    o->clean_text = 1;
    o->max_input_chars_per_word = 100;
}

void se_tok_free(se_tokenizer *t)
{
    if (!t) return;
    free(t->strs);
    free(t->id_off);
    free(t->slots);
    free(t->added);
    se_pipe_free(t->pipe);
    free(t);
}

static se_tokenizer *tok_new(void)
{
    se_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    se_tok_options_default(&t->opt);
    t->unk_id = t->cls_id = t->sep_id = t->pad_id = t->mask_id = -1;
    memcpy(t->cont_prefix, "##", 3);
    t->cont_prefix_len = 2;
    return t;
}

/* Appends s[0..n) + NUL to the string pool; returns its offset or -1. */
static int64_t pool_add(se_tokenizer *t, const char *s, size_t n)
{
    if (n >= 0x7FFFFFFF || t->strs_len + n + 1 > 0xFFFFFFFFu) return -1;
    if (t->strs_len + n + 1 > t->strs_cap) {
        size_t cap = t->strs_cap ? t->strs_cap : 4096;
        while (cap < t->strs_len + n + 1) cap *= 2;
        char *p = realloc(t->strs, cap);
        if (!p) return -1;
        t->strs = p;
        t->strs_cap = cap;
    }
    int64_t off = (int64_t)t->strs_len;
    memcpy(t->strs + off, s, n);
    t->strs[off + n] = '\0';
    t->strs_len += n + 1;
    return off;
}

static void table_put(se_tokenizer *t, unsigned kind, uint32_t off, uint32_t len, int32_t id)
{
    uint64_t h = se_tok_hash_add(se_tok_hash_init(kind), t->strs + off, len);
    uint64_t m = (h ^ (h >> 31)) * 0x9E3779B97F4A7C15ull;
    uint32_t i = (uint32_t)(m >> t->shift);
    while (t->slots[i].tag) i = (i + 1) & t->mask;
    t->slots[i] = (se_tok_slot){(uint32_t)m | 1u, off, len | (kind ? SE_TOK_KIND_BIT : 0), id};
}

static int table_alloc(se_tokenizer *t, size_t min_cap)
{
    unsigned bits = 4;
    while (((size_t)1 << bits) < min_cap) bits++;
    free(t->slots);
    t->slots = calloc((size_t)1 << bits, sizeof *t->slots);
    if (!t->slots) return -1;
    t->mask = (uint32_t)(((size_t)1 << bits) - 1);
    t->shift = 64 - bits;
    return 0;
}

/* Every proper prefix (at character boundaries) of key (kind, off, len) that
 * is not already present becomes a SE_TOK_PREFIX entry: WordPiece walks a
 * candidate forward and stops as soon as it is no key's prefix. */
static size_t put_prefixes(se_tokenizer *t, unsigned kind, uint32_t off, uint32_t len)
{
    size_t added = 0;
    const char *s = t->strs + off;
    for (uint32_t b = 1; b < len; b++) {
        if (((uint8_t)s[b] & 0xC0) == 0x80) continue;
        if (se_tok_find(t, se_tok_hash_add(se_tok_hash_init(kind), s, b), kind, s, b) != -1) continue;
        table_put(t, kind, off, b, SE_TOK_PREFIX);
        added++;
    }
    return added;
}

static size_t utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((uint8_t)s[i] & 0xC0) != 0x80;
    return c;
}

/* Token list (offsets into the pool, parallel ids) -> hash table, id index,
 * special ids, ASCII and BMP tables. Duplicates are checked by the callers. */
static se_status tok_finish(se_tokenizer *t, const uint32_t *offs, const uint32_t *lens, const int32_t *ids, int n,
                            const char *src, se_error *err)
{
    if (n == 0) return se_error_set(err, SE_EFORMAT, "%s: empty vocabulary (no tokens)", src);
    t->n_tokens = n;
    const size_t pl = t->cont_prefix_len;
    /* Upper bound of entries: one per character of every key. */
    size_t bound = 0;
    for (int i = 0; i < n; i++) {
        size_t c = utf8_chars(t->strs + offs[i], lens[i]);
        int cont = pl && lens[i] > pl && memcmp(t->strs + offs[i], t->cont_prefix, pl) == 0;
        bound += c + (cont ? c : 0);
    }
    for (int pass = 0; pass < 2; pass++) {
        if (table_alloc(t, bound * 2 + 16)) return se_error_set(err, SE_ENOMEM, "%s: cannot allocate the vocab table", src);
        for (int i = 0; i < n; i++) {
            table_put(t, 0, offs[i], lens[i], ids[i]);
            if (pl && lens[i] > pl && memcmp(t->strs + offs[i], t->cont_prefix, pl) == 0)
                table_put(t, 1, offs[i] + (uint32_t)pl, lens[i] - (uint32_t)pl, ids[i]);
        }
        size_t used = (size_t)n;
        for (int i = 0; i < n; i++) {
            used += put_prefixes(t, 0, offs[i], lens[i]);
            if (pl && lens[i] > pl && memcmp(t->strs + offs[i], t->cont_prefix, pl) == 0)
                used += 1 + put_prefixes(t, 1, offs[i] + (uint32_t)pl, lens[i] - (uint32_t)pl);
        }
        if (used * 4 >= (size_t)t->mask + 1) break;
        bound = used; /* the bound was loose (shared prefixes): rebuild smaller, at load <= 1/2 */
    }
    for (int i = 0; i < n; i++) {
        uint32_t l = lens[i];
        if (l > t->max_key[0]) t->max_key[0] = l;
        if (pl && l > pl && memcmp(t->strs + offs[i], t->cont_prefix, pl) == 0 && l - pl > t->max_key[1])
            t->max_key[1] = (uint32_t)(l - pl);
    }
    int max_id = -1;
    for (int i = 0; i < n; i++)
        if (ids[i] > max_id) max_id = ids[i];
    t->n_ids = max_id + 1;
    t->id_off = malloc((size_t)t->n_ids * sizeof *t->id_off);
    if (!t->id_off) return se_error_set(err, SE_ENOMEM, "%s: cannot allocate the id index", src);
    for (int i = 0; i < t->n_ids; i++) t->id_off[i] = -1;
    for (int i = 0; i < n; i++)
        if (t->id_off[ids[i]] < 0) t->id_off[ids[i]] = offs[i];
    t->cls_id = se_tok_lookup(t, 0, "[CLS]", 5);
    t->sep_id = se_tok_lookup(t, 0, "[SEP]", 5);
    t->pad_id = se_tok_lookup(t, 0, "[PAD]", 5);
    t->mask_id = se_tok_lookup(t, 0, "[MASK]", 6);

    t->strip_accents = t->opt.strip_accents < 0 ? (t->opt.lowercase != 0) : (t->opt.strip_accents != 0);
    if (t->opt.max_input_chars_per_word <= 0) t->opt.max_input_chars_per_word = 100;
    for (int c = 0; c < 128; c++) {
        uint8_t cls = SE_AC_WORD;
        /* Rust char::is_whitespace: \t \n \v \f \r and space. */
        if (c == ' ' || (c >= 9 && c <= 13)) cls = SE_AC_WS;
        /* clean_text drops Cc except \t \n \r (which it maps to ' '), and NUL. */
        if (t->opt.clean_text && ((c < 32 && c != '\t' && c != '\n' && c != '\r') || c == 127)) cls = SE_AC_DROP;
        /* char::is_ascii_punctuation: 33-47, 58-64, 91-96, 123-126. */
        if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126))
            cls = SE_AC_PUNCT;
        t->ascii_class[c] = cls;
        t->ascii_lower[c] = (uint8_t)((t->opt.lowercase && c >= 'A' && c <= 'Z') ? c + 32 : c);
        char ch = (char)c;
        int32_t id = se_tok_lookup(t, 0, &ch, 1);
        t->ascii_single_id[c] = id >= 0 ? id : t->unk_id;
    }
    se_tok_bmp_init();
    t->slow_mask = SE_CF_WS | SE_CF_PUNCT | (t->strip_accents ? SE_CF_MN | SE_CF_DCHG : 0) |
                   (t->opt.lowercase ? SE_CF_LCHG : 0);
    return SE_OK;
}

/* Registers an added token matched on the raw text (normalized:false). */
static se_status add_special(se_tokenizer *t, const char *s, size_t n, int32_t id, const char *src, se_error *err)
{
    if (n == 0) return se_error_set(err, SE_EFORMAT, "%s: empty added token (id %d)", src, (int)id);
    se_tok_added *a = realloc(t->added, (size_t)(t->n_added + 1) * sizeof *a);
    if (!a) return se_error_set(err, SE_ENOMEM, "%s: out of memory", src);
    t->added = a;
    int64_t off = pool_add(t, s, n);
    if (off < 0) return se_error_set(err, SE_ENOMEM, "%s: out of memory", src);
    a[t->n_added++] = (se_tok_added){(uint32_t)off, (uint32_t)n, id};
    t->added_first[(uint8_t)s[0]] = 1;
    return SE_OK;
}

/* Rust str::trim_end: drops trailing White_Space characters. */
static size_t trim_end(const char *s, size_t n)
{
    while (n > 0) {
        size_t k = n - 1;
        while (k > 0 && ((uint8_t)s[k] & 0xC0) == 0x80 && n - k < 4) k--;
        utf8proc_int32_t c;
        if (utf8proc_iterate((const uint8_t *)s + k, (utf8proc_ssize_t)(n - k), &c) != (utf8proc_ssize_t)(n - k) ||
            !se_tok_is_ws(c))
            break;
        n = k;
    }
    return n;
}

se_status se_tok_load_vocab(const char *path, const se_tok_options *opt, se_tokenizer **out, se_error *err)
{
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    se_status st = se_read_file(path, SE_TOK_MAX_FILE, &buf, &len, err);
    if (st) return st;
    se_tokenizer *t = tok_new();
    size_t n_lines = 0;
    for (size_t i = 0; i < len; i++) n_lines += buf[i] == '\n';
    n_lines += 1;
    uint32_t *offs = calloc(n_lines, sizeof *offs), *lens = calloc(n_lines, sizeof *lens);
    int32_t *ids = calloc(n_lines, sizeof *ids);
    if (!t || !offs || !lens || !ids) {
        st = se_error_set(err, SE_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    if (opt) t->opt = *opt;
    if (len > 0 && n_lines > SE_TOK_MAX_ID) {
        st = se_error_set(err, SE_EFORMAT, "%s: %zu lines, more than the %d tokens supported", path, n_lines,
                          SE_TOK_MAX_ID);
        goto fail;
    }
    int n = 0, line = 0;
    for (size_t p = 0; p < len; line++) {
        const char *e = memchr(buf + p, '\n', len - p);
        size_t l = e ? (size_t)(e - (buf + p)) : len - p;
        /* HF WordPiece::read_file: BufRead::lines() then trim_end(), id = line index. */
        size_t tl = trim_end(buf + p, l);
        if (tl > 0) {
            if (memchr(buf + p, '\0', tl)) {
                st = se_error_set(err, SE_EFORMAT, "%s:%d: NUL byte in a token", path, line + 1);
                goto fail;
            }
            int64_t off = pool_add(t, buf + p, tl);
            if (off < 0) {
                st = se_error_set(err, SE_ENOMEM, "%s: out of memory", path);
                goto fail;
            }
            offs[n] = (uint32_t)off;
            lens[n] = (uint32_t)tl;
            ids[n] = line;
            n++;
        }
        p += l + (e ? 1 : 0);
    }
    /* Duplicates: HF silently keeps the last id; a vocab with a repeated
     * token is broken (one id is unreachable), so it is refused. */
    st = tok_finish(t, offs, lens, ids, n, path, err);
    if (st) goto fail;
    for (int i = 0; i < n; i++) {
        int32_t id = se_tok_lookup(t, 0, t->strs + offs[i], lens[i]);
        if (id != ids[i]) {
            st = se_error_set(err, SE_EFORMAT, "%s:%d: duplicate token '%s' (first at line %d)", path,
                              (int)ids[i] + 1, t->strs + offs[i], (int)id + 1);
            goto fail;
        }
    }
    t->unk_id = se_tok_lookup(t, 0, "[UNK]", 5);
    if (t->unk_id < 0) {
        st = se_error_set(err, SE_EFORMAT, "%s: the vocabulary has no [UNK] token", path);
        goto fail;
    }
    for (int c = 0; c < 128; c++)
        if (t->ascii_single_id[c] < 0) t->ascii_single_id[c] = t->unk_id;
    /* As transformers' BertTokenizerFast: [CLS] $A [SEP], and the five
     * special tokens are matched whole in the raw text. */
    if (t->cls_id >= 0 && t->sep_id >= 0) {
        t->prefix_ids[0] = t->cls_id;
        t->suffix_ids[0] = t->sep_id;
        t->n_prefix = t->n_suffix = 1;
    }
    static const char *const sp[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (int i = 0; i < 5; i++) {
        int32_t id = se_tok_lookup(t, 0, sp[i], strlen(sp[i]));
        if (id >= 0 && (st = add_special(t, sp[i], strlen(sp[i]), id, path, err))) goto fail;
    }
    free(buf);
    free(offs);
    free(lens);
    free(ids);
    *out = t;
    return SE_OK;
fail:
    free(buf);
    free(offs);
    free(lens);
    free(ids);
    se_tok_free(t);
    return st;
}

/* ---- tokenizer.json ---- */

static const char *type_of(json_t *o)
{
    json_t *ty = json_is_object(o) ? json_object_get(o, "type") : NULL;
    return json_is_string(ty) ? json_string_value(ty) : NULL;
}

static int get_bool(json_t *o, const char *key, int dflt, int *ok)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return dflt;
    if (!json_is_boolean(v)) {
        *ok = 0;
        return dflt;
    }
    return json_is_true(v);
}

/* The ids a template's SpecialToken stands for, from post_processor.special_tokens. */
se_status se_tok_template_ids(json_t *pp, json_t *tmpl, se_tokenizer *t, const char *path, se_error *err)
{
    json_t *specials = json_object_get(pp, "special_tokens");
    int seen_a = 0;
    size_t i;
    json_t *piece;
    json_array_foreach(tmpl, i, piece) {
        json_t *sp = json_object_get(piece, "SpecialToken");
        json_t *sq = json_object_get(piece, "Sequence");
        if (sq) {
            json_t *id = json_object_get(sq, "id");
            if (!json_is_string(id) || strcmp(json_string_value(id), "A") != 0 || seen_a)
                return se_error_set(err, SE_EUNSUPPORTED,
                                    "%s: post_processor.single: only one Sequence 'A' is supported", path);
            seen_a = 1;
        } else if (sp) {
            json_t *name = json_object_get(sp, "id");
            json_t *def = json_is_string(name) ? json_object_get(specials, json_string_value(name)) : NULL;
            json_t *ids = def ? json_object_get(def, "ids") : NULL;
            if (!json_is_array(ids))
                return se_error_set(err, SE_EFORMAT, "%s: post_processor: special token %s has no ids", path,
                                    json_is_string(name) ? json_string_value(name) : "?");
            size_t k;
            json_t *v;
            json_array_foreach(ids, k, v) {
                json_int_t x = json_integer_value(v);
                if (!json_is_integer(v) || x < 0 || x >= t->n_ids)
                    return se_error_set(err, SE_EFORMAT, "%s: post_processor: id out of range in %s", path,
                                        json_string_value(name));
                int *cnt = seen_a ? &t->n_suffix : &t->n_prefix;
                int32_t *dst = seen_a ? t->suffix_ids : t->prefix_ids;
                if (*cnt >= 8)
                    return se_error_set(err, SE_EUNSUPPORTED, "%s: post_processor: more than 8 special ids", path);
                dst[(*cnt)++] = (int32_t)x;
            }
        } else {
            return se_error_set(err, SE_EFORMAT, "%s: post_processor.single: unknown piece", path);
        }
    }
    if (!seen_a) return se_error_set(err, SE_EFORMAT, "%s: post_processor.single has no Sequence 'A'", path);
    return SE_OK;
}

se_status se_tok_load_json(const char *path, se_tokenizer **out, se_error *err)
{
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    se_status st = se_read_file(path, SE_TOK_MAX_FILE, &buf, &len, err);
    if (st) return st;
    json_error_t je;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    free(buf);
    if (!root) return se_error_set(err, SE_EFORMAT, "%s:%d:%d: invalid JSON: %s", path, je.line, je.column, je.text);
    se_tokenizer *t = tok_new();
    uint32_t *offs = NULL, *lens = NULL;
    int32_t *ids = NULL;
    if (!t) {
        st = se_error_set(err, SE_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    json_t *model = json_object_get(root, "model");
    const char *mt = type_of(model);
    if (!json_is_object(model)) {
        st = se_error_set(err, SE_EFORMAT, "%s: no \"model\" object", path);
        goto done;
    }
    /* WordPiece behind BertNormalizer (or none) + BertPreTokenizer with plain
     * added tokens keeps the fused fast path; anything else is the pipeline. */
    int wp_fast = mt && !strcmp(mt, "WordPiece");
    if (wp_fast) {
        json_t *nm = json_object_get(root, "normalizer");
        const char *nt = type_of(nm), *pt0 = type_of(json_object_get(root, "pre_tokenizer"));
        wp_fast = (!nm || json_is_null(nm) || (nt && !strcmp(nt, "BertNormalizer"))) && pt0 &&
                  !strcmp(pt0, "BertPreTokenizer");
        size_t ai;
        json_t *at;
        int okb = 1;
        json_array_foreach(json_object_get(root, "added_tokens"), ai, at) {
            if (get_bool(at, "normalized", 0, &okb) || get_bool(at, "single_word", 0, &okb) ||
                get_bool(at, "lstrip", 0, &okb) || get_bool(at, "rstrip", 0, &okb))
                wp_fast = 0;
        }
    }
    if (mt && (!strcmp(mt, "BPE") || !strcmp(mt, "Unigram") || (!strcmp(mt, "WordPiece") && !wp_fast))) {
        /* the general pipeline (tok_pipe.c) */
        st = se_pipe_load(root, path, t, err);
        goto done;
    }
    if (mt ? strcmp(mt, "WordPiece") != 0 : !json_object_get(model, "continuing_subword_prefix")) {
        st = se_error_set(err, SE_EUNSUPPORTED, "%s: model type '%s' is not supported (WordPiece, BPE, Unigram)", path,
                          mt ? mt : "(none)");
        goto done;
    }
    int ok = 1;
    /* Normalizer: BertNormalizer or none. */
    json_t *norm = json_object_get(root, "normalizer");
    if (norm && !json_is_null(norm)) {
        const char *nt = type_of(norm);
        if (!nt || strcmp(nt, "BertNormalizer") != 0) {
            st = se_error_set(err, SE_EUNSUPPORTED, "%s: normalizer '%s' is not supported (only BertNormalizer)",
                              path, nt ? nt : "?");
            goto done;
        }
        t->opt.clean_text = get_bool(norm, "clean_text", 1, &ok);
        t->opt.handle_chinese_chars = get_bool(norm, "handle_chinese_chars", 1, &ok);
        t->opt.lowercase = get_bool(norm, "lowercase", 1, &ok);
        t->opt.strip_accents = get_bool(norm, "strip_accents", -1, &ok); /* null: follow lowercase */
    } else {
        t->opt.clean_text = t->opt.handle_chinese_chars = t->opt.lowercase = t->opt.strip_accents = 0;
    }
    json_t *pre = json_object_get(root, "pre_tokenizer");
    const char *pt = type_of(pre);
    if (!pt || strcmp(pt, "BertPreTokenizer") != 0) {
        st = se_error_set(err, SE_EUNSUPPORTED, "%s: pre_tokenizer '%s' is not supported (only BertPreTokenizer)",
                          path, pt ? pt : "(none)");
        goto done;
    }
    json_t *mx = json_object_get(model, "max_input_chars_per_word");
    if (json_is_integer(mx)) {
        json_int_t v = json_integer_value(mx);
        if (v < 1 || v > 1000000) {
            st = se_error_set(err, SE_EFORMAT, "%s: max_input_chars_per_word %lld out of range [1, 1000000]", path,
                              (long long)v);
            goto done;
        }
        t->opt.max_input_chars_per_word = (int)v;
    }
    json_t *pfx = json_object_get(model, "continuing_subword_prefix");
    if (json_is_string(pfx)) {
        size_t pl = json_string_length(pfx);
        if (pl >= sizeof t->cont_prefix) {
            st = se_error_set(err, SE_EUNSUPPORTED, "%s: continuing_subword_prefix longer than 15 bytes", path);
            goto done;
        }
        memcpy(t->cont_prefix, json_string_value(pfx), pl + 1);
        t->cont_prefix_len = pl;
    }
    json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_object(vocab)) {
        st = se_error_set(err, SE_EFORMAT, "%s: model.vocab is not an object", path);
        goto done;
    }
    size_t nv = json_object_size(vocab);
    offs = malloc((nv + 1) * sizeof *offs);
    lens = malloc((nv + 1) * sizeof *lens);
    ids = malloc((nv + 1) * sizeof *ids);
    if (!offs || !lens || !ids) {
        st = se_error_set(err, SE_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    int n = 0;
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) {
        json_int_t id = json_integer_value(val);
        if (!json_is_integer(val) || id < 0 || id >= SE_TOK_MAX_ID) {
            st = se_error_set(err, SE_EFORMAT, "%s: model.vocab[\"%s\"]: id must be an integer in [0, %d)", path,
                              key, SE_TOK_MAX_ID);
            goto done;
        }
        int64_t off = pool_add(t, key, strlen(key));
        if (off < 0) {
            st = se_error_set(err, SE_ENOMEM, "%s: out of memory", path);
            goto done;
        }
        offs[n] = (uint32_t)off;
        lens[n] = (uint32_t)strlen(key);
        ids[n] = (int32_t)id;
        n++;
    }
    if ((st = tok_finish(t, offs, lens, ids, n, path, err))) goto done;
    json_t *unk = json_object_get(model, "unk_token");
    const char *unks = json_is_string(unk) ? json_string_value(unk) : "[UNK]";
    t->unk_id = se_tok_lookup(t, 0, unks, strlen(unks));
    if (t->unk_id < 0) {
        st = se_error_set(err, SE_EFORMAT, "%s: unk_token '%s' is not in model.vocab", path, unks);
        goto done;
    }
    for (int c = 0; c < 128; c++)
        if (t->ascii_single_id[c] < 0) t->ascii_single_id[c] = t->unk_id;

    /* Post-processor: TemplateProcessing, BertProcessing or none. */
    json_t *pp = json_object_get(root, "post_processor");
    const char *ppt = type_of(pp);
    if (pp && !json_is_null(pp)) {
        if (ppt && strcmp(ppt, "TemplateProcessing") == 0) {
            json_t *single = json_object_get(pp, "single");
            if (!json_is_array(single)) {
                st = se_error_set(err, SE_EFORMAT, "%s: post_processor.single is not an array", path);
                goto done;
            }
            if ((st = se_tok_template_ids(pp, single, t, path, err))) goto done;
        } else if (ppt && strcmp(ppt, "BertProcessing") == 0) {
            json_t *cls = json_object_get(pp, "cls"), *sep = json_object_get(pp, "sep");
            json_t *ci = json_array_get(cls, 1), *si = json_array_get(sep, 1);
            if (!json_is_integer(ci) || !json_is_integer(si) || json_integer_value(ci) < 0 ||
                json_integer_value(ci) >= t->n_ids || json_integer_value(si) < 0 ||
                json_integer_value(si) >= t->n_ids) {
                st = se_error_set(err, SE_EFORMAT, "%s: post_processor BertProcessing: bad cls/sep", path);
                goto done;
            }
            t->prefix_ids[0] = (int32_t)json_integer_value(ci);
            t->suffix_ids[0] = (int32_t)json_integer_value(si);
            t->n_prefix = t->n_suffix = 1;
        } else {
            st = se_error_set(err, SE_EUNSUPPORTED,
                              "%s: post_processor '%s' is not supported (TemplateProcessing, BertProcessing)", path,
                              ppt ? ppt : "?");
            goto done;
        }
        if (t->n_prefix > 0) t->cls_id = t->prefix_ids[0];
        if (t->n_suffix > 0) t->sep_id = t->suffix_ids[t->n_suffix - 1];
    }

    /* Added tokens: matched whole on the raw text when normalized:false. */
    json_t *added = json_object_get(root, "added_tokens");
    size_t ai;
    json_t *at;
    json_array_foreach(added, ai, at) {
        json_t *c = json_object_get(at, "content"), *id = json_object_get(at, "id");
        if (!json_is_string(c) || !json_is_integer(id) || json_integer_value(id) < 0 ||
            json_integer_value(id) >= SE_TOK_MAX_ID) {
            st = se_error_set(err, SE_EFORMAT, "%s: added_tokens[%zu]: needs a string content and an id", path, ai);
            goto done;
        }
        if (get_bool(at, "normalized", 0, &ok) || get_bool(at, "single_word", 0, &ok) ||
            get_bool(at, "lstrip", 0, &ok) || get_bool(at, "rstrip", 0, &ok)) {
            st = se_error_set(err, SE_EUNSUPPORTED,
                              "%s: added token '%s': normalized/single_word/lstrip/rstrip are not supported", path,
                              json_string_value(c));
            goto done;
        }
        if ((st = add_special(t, json_string_value(c), json_string_length(c), (int32_t)json_integer_value(id), path,
                              err)))
            goto done;
    }
    if (!ok) {
        st = se_error_set(err, SE_EFORMAT, "%s: a boolean setting has a non-boolean value", path);
        goto done;
    }
    st = SE_OK;
done:
    free(offs);
    free(lens);
    free(ids);
    json_decref(root);
    if (st) {
        se_tok_free(t);
        return st;
    }
    *out = t;
    return SE_OK;
}

static int file_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

se_status se_tok_load_dir(const char *dir, se_tokenizer **out, se_error *err)
{
    *out = NULL;
    char p[4096];
    if (snprintf(p, sizeof p, "%s/tokenizer.json", dir) >= (int)sizeof p)
        return se_error_set(err, SE_EINVAL, "%s: path too long", dir);
    if (file_exists(p)) return se_tok_load_json(p, out, err);
    se_tok_options o;
    se_tok_options_default(&o);
    snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
    if (file_exists(p)) {
        json_error_t je;
        json_t *cfg = json_load_file(p, 0, &je);
        if (!cfg) return se_error_set(err, SE_EFORMAT, "%s:%d:%d: invalid JSON: %s", p, je.line, je.column, je.text);
        int ok = 1;
        o.lowercase = get_bool(cfg, "do_lower_case", 1, &ok);
        o.strip_accents = get_bool(cfg, "strip_accents", -1, &ok);
        o.handle_chinese_chars = get_bool(cfg, "tokenize_chinese_chars", 1, &ok);
        json_decref(cfg);
        if (!ok) return se_error_set(err, SE_EFORMAT, "%s: do_lower_case/strip_accents must be booleans", p);
    }
    snprintf(p, sizeof p, "%s/vocab.txt", dir);
    if (!file_exists(p)) {
        /* slow-tokenizer files only: transformers writes tokenizer.json from them */
        static const char *const slow[] = {"sentencepiece.bpe.model", "spiece.model", "tokenizer.model", "vocab.json"};
        for (int i = 0; i < 4; i++) {
            char q[4096];
            snprintf(q, sizeof q, "%s/%s", dir, slow[i]);
            if (file_exists(q))
                return se_error_set(err, SE_EUNSUPPORTED,
                                    "%s: only %s, no tokenizer.json: convert it once where transformers is installed: "
                                    "python3 -c \"from transformers import AutoTokenizer as T; "
                                    "T.from_pretrained('%s').save_pretrained('%s')\"",
                                    dir, slow[i], dir, dir);
        }
        return se_error_set(err, SE_EIO, "%s: neither tokenizer.json nor vocab.txt found", dir);
    }
    return se_tok_load_vocab(p, &o, out, err);
}

int se_tok_vocab_size(const se_tokenizer *t) { return t->n_tokens; }
int se_tok_cls_id(const se_tokenizer *t) { return t->cls_id; }
int se_tok_sep_id(const se_tokenizer *t) { return t->sep_id; }
int se_tok_unk_id(const se_tokenizer *t) { return t->unk_id; }
int se_tok_pad_id(const se_tokenizer *t) { return t->pad_id; }

void se_tok_template(const se_tokenizer *t, const int32_t **prefix, int *n_prefix, const int32_t **suffix,
                     int *n_suffix)
{
    *prefix = t->prefix_ids;
    *n_prefix = t->n_prefix;
    *suffix = t->suffix_ids;
    *n_suffix = t->n_suffix;
}

const char *se_tok_id_to_token(const se_tokenizer *t, int id)
{
    if (t->pipe) { /* added tokens first: they override the model's piece */
        for (int k = 0; k < t->pipe->n_added; k++)
            if (t->pipe->added[k].id == id) return t->pipe->strs + t->pipe->added[k].off;
        return se_tmodel_id_token(t->pipe->model, id, NULL);
    }
    if (id < 0 || id >= t->n_ids || t->id_off[id] < 0) return NULL;
    return t->strs + t->id_off[id];
}

void se_ids_free(se_ids *v)
{
    if (!v) return;
    free(v->ids);
    v->ids = NULL;
    v->n = v->cap = 0;
}
