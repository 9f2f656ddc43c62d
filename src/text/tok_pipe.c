/* The tokenizer.json pipeline (tokenizers/src/tokenizer/mod.rs,
 * encode_single_sequence, and added_vocabulary.rs extract_and_normalize):
 *   1. added tokens with normalized:false are split out of the raw text;
 *   2. each remaining segment is normalized, and added tokens with
 *      normalized:true are split out of the normalized text;
 *   3. the rest is pre-tokenized and each piece goes through the model;
 *   4. the post-processor's template wraps the ids (add_special).
 * Added tokens match leftmost-longest, non-overlapping; single_word, lstrip
 * and rstrip as AddedVocabulary::find_matches. */
#include "tok_pipe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SE_PIPE_MAX_ID (1 << 24)

void se_pipe_free(se_pipe *p)
{
    if (!p) return;
    se_norm_free(p->norm);
    se_pretok_free(p->pre);
    se_tmodel_free(p->model);
    free(p->added);
    free(p->strs);
    free(p);
}

static int is_null(json_t *v) { return !v || json_is_null(v); }

/* RobertaProcessing / BertProcessing: "cls": [token, id], "sep": [token, id]. */
static se_status pair_ids(json_t *pp, const char *type, se_tokenizer *t, const char *where, se_error *err)
{
    json_t *ci = json_array_get(json_object_get(pp, "cls"), 1), *si = json_array_get(json_object_get(pp, "sep"), 1);
    if (!json_is_integer(ci) || !json_is_integer(si) || json_integer_value(ci) < 0 ||
        json_integer_value(ci) >= t->n_ids || json_integer_value(si) < 0 || json_integer_value(si) >= t->n_ids)
        return se_error_set(err, SE_EFORMAT, "%s: %s: cls and sep must be [token, id] with an id in the vocabulary",
                            where, type);
    t->prefix_ids[0] = (int32_t)json_integer_value(ci);
    t->suffix_ids[0] = (int32_t)json_integer_value(si);
    t->n_prefix = t->n_suffix = 1;
    return SE_OK;
}

static se_status post_processor(json_t *pp, se_tokenizer *t, const char *path, const char *where, se_error *err)
{
    if (is_null(pp)) return SE_OK;
    json_t *ty = json_object_get(pp, "type");
    const char *s = json_is_string(ty) ? json_string_value(ty) : "?";
    if (!strcmp(s, "TemplateProcessing")) {
        json_t *single = json_object_get(pp, "single");
        if (!json_is_array(single)) return se_error_set(err, SE_EFORMAT, "%s.single is not an array", where);
        t->n_prefix = t->n_suffix = 0;
        return se_tok_template_ids(pp, single, t, path, err);
    }
    if (!strcmp(s, "RobertaProcessing") || !strcmp(s, "BertProcessing")) return pair_ids(pp, s, t, where, err);
    if (!strcmp(s, "ByteLevel")) return SE_OK; /* offsets only */
    if (!strcmp(s, "Sequence")) {
        json_t *arr = json_object_get(pp, "processors");
        if (!json_is_array(arr)) return se_error_set(err, SE_EFORMAT, "%s.processors is not an array", where);
        size_t i;
        json_t *e;
        json_array_foreach(arr, i, e) {
            char w[512];
            snprintf(w, sizeof w, "%s.processors[%zu]", where, i);
            se_status st = post_processor(e, t, path, w, err);
            if (st) return st;
        }
        return SE_OK;
    }
    return se_error_set(err, SE_EUNSUPPORTED, "%s: post_processor type '%s' is not supported", where, s);
}

static se_status added_tokens(json_t *arr, se_tokenizer *t, se_pipe *p, const char *path, se_error *err)
{
    if (is_null(arr)) return SE_OK;
    if (!json_is_array(arr)) return se_error_set(err, SE_EFORMAT, "%s: added_tokens is not an array", path);
    size_t n = json_array_size(arr);
    p->added = calloc(n + 1, sizeof *p->added);
    if (!p->added) return se_error_set(err, SE_ENOMEM, "%s: out of memory", path);
    se_tbuf pool = {0}, norm = {0};
    se_status st = SE_OK;
    size_t i;
    json_t *at;
    json_array_foreach(arr, i, at) {
        json_t *c = json_object_get(at, "content"), *id = json_object_get(at, "id");
        if (!json_is_string(c) || json_string_length(c) == 0 || !json_is_integer(id) || json_integer_value(id) < 0 ||
            json_integer_value(id) >= SE_PIPE_MAX_ID) {
            st = se_error_set(err, SE_EFORMAT, "%s: added_tokens[%zu]: needs a non-empty content and an id in [0, %d)",
                              path, i, SE_PIPE_MAX_ID);
            break;
        }
        const char *keys[] = {"single_word", "lstrip", "rstrip", "normalized", "special"};
        int v[5] = {0};
        for (int k = 0; k < 5; k++) {
            json_t *b = json_object_get(at, keys[k]);
            if (!is_null(b) && !json_is_boolean(b)) {
                st = se_error_set(err, SE_EFORMAT, "%s: added_tokens[%zu].%s must be a boolean", path, i, keys[k]);
                goto out;
            }
            /* AddedToken default: normalized = !special */
            v[k] = is_null(b) ? (k == 3 ? !json_is_true(json_object_get(at, "special")) : 0) : json_is_true(b);
        }
        const char *s = json_string_value(c);
        size_t sl = json_string_length(c);
        if (se_utf8_count_invalid(s, sl) || memchr(s, 0, sl)) {
            st = se_error_set(err, SE_EFORMAT, "%s: added_tokens[%zu]: content is not valid UTF-8 text", path, i);
            break;
        }
        if (v[3] && p->norm) { /* matched in the normalized text: its normalized form */
            if (se_norm_apply(p->norm, s, sl, &norm)) {
                st = se_error_set(err, SE_ENOMEM, "%s: out of memory", path);
                break;
            }
            s = norm.b;
            sl = norm.n;
        }
        se_padded *a = &p->added[p->n_added++];
        *a = (se_padded){(uint32_t)pool.n, (uint32_t)sl, (int32_t)json_integer_value(id), (uint8_t)v[0], (uint8_t)v[1],
                         (uint8_t)v[2], (uint8_t)v[3]};
        se_tbuf_put(&pool, s, sl);
        se_tbuf_putc(&pool, 0);
        if (sl == 0) p->n_added--; /* normalizes to nothing: can never match */
        if (a->id >= t->pipe_n_ids) t->pipe_n_ids = a->id + 1;
    }
out:
    if (!st && pool.oom) st = se_error_set(err, SE_ENOMEM, "%s: out of memory", path);
    p->strs = pool.b;
    p->strs_len = pool.n;
    free(norm.b);
    return st;
}

se_status se_pipe_load(json_t *root, const char *path, se_tokenizer *t, se_error *err)
{
    static const char *const known[] = {"version", "truncation", "padding", "added_tokens", "normalizer",
                                        "pre_tokenizer", "model", "post_processor", "decoder"};
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        size_t k = 0;
        while (k < sizeof known / sizeof *known && strcmp(known[k], key)) k++;
        if (k == sizeof known / sizeof *known)
            return se_error_set(err, SE_EUNSUPPORTED, "%s: top-level key '%.80s' is not supported", path, key);
    }
    se_pipe *p = calloc(1, sizeof *p);
    if (!p) return se_error_set(err, SE_ENOMEM, "%s: out of memory", path);
    t->pipe = p;
    char w[512];
    se_status st;
    json_t *model = json_object_get(root, "model");
    json_t *mt = json_object_get(model, "type");
    const char *mts = json_is_string(mt) ? json_string_value(mt) : "";
    if (!strcmp(mts, "BPE")) st = se_bpe_build(model, path, &p->model, err);
    else if (!strcmp(mts, "Unigram")) st = se_unigram_build(model, path, &p->model, err);
    else if (!strcmp(mts, "WordPiece")) st = se_wordpiece_build(model, path, &p->model, err);
    else st = se_error_set(err, SE_EUNSUPPORTED, "%s: model type '%s' is not supported (WordPiece, BPE, Unigram)", path,
                           mts);
    if (st) return st;
    json_t *norm = json_object_get(root, "normalizer"), *pre = json_object_get(root, "pre_tokenizer");
    snprintf(w, sizeof w, "%s: normalizer", path);
    if (!is_null(norm) && (st = se_norm_build(norm, w, &p->norm, err))) return st;
    snprintf(w, sizeof w, "%s: pre_tokenizer", path);
    if (!is_null(pre) && (st = se_pretok_build(pre, w, &p->pre, err))) return st;
    t->pipe_n_ids = se_tmodel_n_ids(p->model);
    if ((st = added_tokens(json_object_get(root, "added_tokens"), t, p, path, err))) return st;
    t->n_ids = t->pipe_n_ids;
    t->n_tokens = t->pipe_n_ids;
    snprintf(w, sizeof w, "%s: post_processor", path);
    if ((st = post_processor(json_object_get(root, "post_processor"), t, path, w, err))) return st;
    t->unk_id = se_tmodel_unk_id(p->model);
    t->cls_id = t->n_prefix > 0 ? t->prefix_ids[0] : -1;
    t->sep_id = t->n_suffix > 0 ? t->suffix_ids[t->n_suffix - 1] : -1;
    static const char *const pads[] = {"<pad>", "[PAD]"};
    for (int i = 0; i < 2 && t->pad_id < 0; i++) {
        for (int k = 0; k < p->n_added; k++)
            if (p->added[k].len == strlen(pads[i]) && !memcmp(p->strs + p->added[k].off, pads[i], p->added[k].len))
                t->pad_id = p->added[k].id;
        if (t->pad_id < 0) t->pad_id = se_tmodel_token_id(p->model, pads[i], strlen(pads[i]));
    }
    return SE_OK;
}

/* ---- encode ---- */

static int ends_with_word(const char *s, size_t n)
{
    if (!n) return 0;
    size_t k = n - 1, adv;
    while (k > 0 && ((uint8_t)s[k] & 0xC0) == 0x80) k--;
    return se_tok_is_word_char(se_utf8_next(s + k, n - k, &adv));
}
static int starts_with_word(const char *s, size_t n)
{
    size_t adv;
    return n && se_tok_is_word_char(se_utf8_next(s, n, &adv));
}

/* Longest added token of the set (normalized or not) starting at s[0..n): index or -1. */
static int match_at(const se_pipe *p, int normalized, const char *s, size_t n)
{
    int best = -1;
    for (int k = 0; k < p->n_added; k++) {
        const se_padded *a = &p->added[k];
        if (a->normalized != normalized || a->len > n || (best >= 0 && a->len <= p->added[best].len)) continue;
        if (p->strs[a->off] == s[0] && !memcmp(p->strs + a->off, s, a->len)) best = k;
    }
    return best;
}

typedef struct {
    const se_tokenizer *t;
    se_ids *out;
    se_tbuf nbuf;
    se_tpieces in, outp;
    int err;
} enc;

/* Pre-tokenizer + model over one segment that holds no added token. */
static void model_segment(enc *e, const char *s, size_t n, int first)
{
    if (!n || e->err) return;
    const se_pipe *p = e->t->pipe;
    e->in.n = e->in.text.n = 0;
    e->in.oom = e->in.text.oom = 0;
    se_tbuf_put(&e->in.text, s, n);
    se_tpieces_add(&e->in, 0, n, first);
    const se_tpieces *pc = &e->in;
    if (p->pre) {
        if (se_pretok_apply(p->pre, &e->in, &e->outp)) {
            e->err = -1;
            return;
        }
        pc = &e->outp;
    }
    if (pc->oom || pc->text.oom) {
        e->err = -1;
        return;
    }
    for (size_t i = 0; i < pc->n; i++) {
        int rc = se_tmodel_encode(p->model, pc->text.b + pc->p[i].off, pc->p[i].len, e->out);
        if (rc) {
            e->err = rc;
            return;
        }
    }
}

/* Splits s[0..n) on the added tokens of one set; calls seg() on the rest
 * and pushes the tokens' ids. find_matches of added_vocabulary.rs. */
static void split_added(enc *e, int normalized, const char *s, size_t n, int first,
                        void (*seg)(enc *, const char *, size_t, int))
{
    const se_pipe *p = e->t->pipe;
    size_t start_off = 0, i = 0;
    while (i < n && !e->err) {
        int k = match_at(p, normalized, s + i, n - i);
        if (k < 0) {
            i++;
            continue;
        }
        const se_padded *a = &p->added[k];
        size_t ms = i, me = i + a->len;
        if (a->single_word && ((ms > 0 && ends_with_word(s, ms)) || (me < n && starts_with_word(s + me, n - me)))) {
            i = me;
            continue;
        }
        if (a->lstrip) { /* absorb the whitespace before it, not already taken by the previous match */
            size_t b = ms;
            while (b > start_off) {
                size_t k2 = b - 1, adv;
                while (k2 > start_off && ((uint8_t)s[k2] & 0xC0) == 0x80) k2--;
                if (!se_tok_is_ws(se_utf8_next(s + k2, b - k2, &adv))) break;
                b = k2;
            }
            ms = b;
        }
        if (a->rstrip)
            for (size_t adv; me < n && se_tok_is_ws(se_utf8_next(s + me, n - me, &adv));) me += adv;
        if (start_off < ms) seg(e, s + start_off, ms - start_off, first && start_off == 0);
        if (se_ids_push(e->out, a->id)) e->err = -1;
        start_off = i = me;
    }
    if (start_off < n || n == 0) seg(e, s + start_off, n - start_off, first && start_off == 0);
}

static void normalized_segment(enc *e, const char *s, size_t n, int first)
{
    const se_pipe *p = e->t->pipe;
    if (!p->norm) {
        split_added(e, 1, s, n, first, model_segment);
        return;
    }
    se_tbuf nb = {0};
    if (se_norm_apply(p->norm, s, n, &nb)) {
        e->err = -1;
    } else {
        split_added(e, 1, nb.b, nb.n, first, model_segment);
    }
    free(nb.b);
}

se_status se_pipe_encode(const se_tokenizer *t, const char *text, size_t len, int add_special, se_ids *out,
                         size_t *n_invalid, se_error *err)
{
    out->n = 0;
    size_t bad = se_utf8_count_invalid(text, len);
    if (n_invalid) *n_invalid = bad;
    char *rep = NULL;
    if (bad) { /* U+FFFD per maximal ill-formed subpart, as the Rust side would see a lossy string */
        rep = malloc(3 * len + 1);
        if (!rep) return se_error_set(err, SE_ENOMEM, "se_tok_encode: out of memory");
        len = se_utf8_repair(text, len, rep);
        text = rep;
    }
    enc e;
    memset(&e, 0, sizeof e);
    e.t = t;
    e.out = out;
    if (add_special)
        for (int i = 0; i < t->n_prefix; i++) e.err |= se_ids_push(out, t->prefix_ids[i]);
    if (!e.err) split_added(&e, 0, text ? text : "", len, 1, normalized_segment);
    if (add_special && !e.err)
        for (int i = 0; i < t->n_suffix; i++) e.err |= se_ids_push(out, t->suffix_ids[i]);
    free(e.nbuf.b);
    free(e.in.text.b);
    free(e.in.p);
    free(e.outp.text.b);
    free(e.outp.p);
    free(rep);
    if (e.err == -2)
        return se_error_set(err, SE_EFORMAT, "se_tok_encode: a character no piece covers, and the Unigram model has no "
                                             "unk_id");
    if (e.err) return se_error_set(err, SE_ENOMEM, "se_tok_encode: out of memory (or a regex over its match limit)");
    return SE_OK;
}
