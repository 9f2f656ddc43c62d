/* The BPE model of tokenizer.json (tokenizers/src/models/bpe/): the word is
 * split into characters (with continuing_subword_prefix / end_of_word_suffix,
 * byte_fallback, fuse_unk as BPE::merge_word), then merges are applied lowest
 * rank first, leftmost first among equal ranks, through a binary heap with
 * lazy invalidation exactly as Word::merge_all does. */
#include "tok_pipe.h"

#include <stdlib.h>
#include <string.h>

#define SE_BPE_MAX_ID (1 << 24)

static inline uint64_t pair_key(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1; }
static inline uint32_t pair_slot(uint64_t k, uint32_t mask) { return (uint32_t)((k * 0x9E3779B97F4A7C15ull) >> 32) & mask; }

static const se_merge_slot *merge_find(const se_tmodel *m, int32_t a, int32_t b)
{
    uint64_t k = pair_key(a, b);
    for (uint32_t i = pair_slot(k, m->merge_mask);; i = (i + 1) & m->merge_mask) {
        const se_merge_slot *s = &m->merges[i];
        if (s->key == k) return s;
        if (!s->key) return NULL;
    }
}

static char *dup_json_str(json_t *v, size_t *len)
{
    *len = json_string_length(v);
    char *d = malloc(*len + 1);
    if (d) memcpy(d, json_string_value(v), *len + 1);
    return d;
}

se_status se_bpe_build(json_t *model, const char *path, se_tmodel **out, se_error *err)
{
    *out = NULL;
    se_tmodel *m = calloc(1, sizeof *m);
    if (!m) return se_error_set(err, SE_ENOMEM, "%s: out of memory", path);
    m->kind = SE_TM_BPE;
    m->unk_id = -1;
    se_status st = SE_OK;
    char *buf = NULL;
    json_t *vocab = json_object_get(model, "vocab"), *merges = json_object_get(model, "merges");
    json_t *dropout = json_object_get(model, "dropout");
    if (dropout && !json_is_null(dropout) && !(json_is_number(dropout) && json_number_value(dropout) == 0)) {
        st = se_error_set(err, SE_EUNSUPPORTED, "%s: model.dropout: BPE dropout (random merges) is not supported", path);
        goto out;
    }
    if (!json_is_object(vocab) || !json_is_array(merges)) {
        st = se_error_set(err, SE_EFORMAT, "%s: model.vocab must be an object and model.merges an array", path);
        goto out;
    }
    const char *bools[] = {"fuse_unk", "byte_fallback", "ignore_merges"};
    int *dst[] = {&m->fuse_unk, &m->byte_fallback, &m->ignore_merges};
    for (int i = 0; i < 3; i++) {
        json_t *v = json_object_get(model, bools[i]);
        if (v && !json_is_null(v) && !json_is_boolean(v)) {
            st = se_error_set(err, SE_EFORMAT, "%s: model.%s must be a boolean", path, bools[i]);
            goto out;
        }
        *dst[i] = json_is_true(v);
    }
    json_t *cp = json_object_get(model, "continuing_subword_prefix"), *eow = json_object_get(model, "end_of_word_suffix");
    if ((cp && !json_is_null(cp) && !json_is_string(cp)) || (eow && !json_is_null(eow) && !json_is_string(eow))) {
        st = se_error_set(err, SE_EFORMAT, "%s: model.continuing_subword_prefix/end_of_word_suffix must be strings", path);
        goto out;
    }
    if (json_is_string(cp) && json_string_length(cp) && !(m->cont_prefix = dup_json_str(cp, &m->cont_len))) goto oom;
    if (json_is_string(eow) && json_string_length(eow) && !(m->eow_suffix = dup_json_str(eow, &m->eow_len))) goto oom;
    if (se_smap_init(&m->vocab, json_object_size(vocab))) goto oom;
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) {
        json_int_t id = json_integer_value(val);
        if (!json_is_integer(val) || id < 0 || id >= SE_BPE_MAX_ID) {
            st = se_error_set(err, SE_EFORMAT, "%s: model.vocab[\"%.80s\"]: id must be an integer in [0, %d)", path,
                              key, SE_BPE_MAX_ID);
            goto out;
        }
        if (se_smap_put(&m->vocab, key, strlen(key), (int32_t)id, 1) < 0) goto oom;
    }
    if ((st = se_tmodel_index(m, path, err))) goto out;
    json_t *unk = json_object_get(model, "unk_token");
    if (json_is_string(unk)) {
        m->unk_id = se_smap_get(&m->vocab, json_string_value(unk), json_string_length(unk));
        if (m->unk_id < 0) {
            st = se_error_set(err, SE_EFORMAT, "%s: model.unk_token '%.80s' is not in model.vocab", path,
                              json_string_value(unk));
            goto out;
        }
    }
    /* merges: "a b" (legacy) or ["a", "b"]; rank = index; a repeated pair keeps
     * the later rank (the Rust HashMap collect overwrites). */
    size_t nm = json_array_size(merges);
    if (nm > ((size_t)1 << 26)) {
        st = se_error_set(err, SE_EUNSUPPORTED, "%s: model.merges has %zu entries, more than 2^26", path, nm);
        goto out;
    }
    unsigned bits = 4;
    while (((size_t)1 << bits) < nm * 2 + 16) bits++;
    m->merges = calloc((size_t)1 << bits, sizeof *m->merges);
    m->merge_mask = (uint32_t)(((size_t)1 << bits) - 1);
    size_t cap = 256;
    buf = malloc(cap);
    if (!m->merges || !buf) goto oom;
    size_t i;
    json_t *e;
    json_array_foreach(merges, i, e) {
        const char *a, *b;
        size_t la, lb;
        if (json_is_string(e)) {
            a = json_string_value(e);
            const char *sp = memchr(a, ' ', json_string_length(e));
            if (!sp) {
                st = se_error_set(err, SE_EFORMAT, "%s: model.merges[%zu]: '%.80s' is not two tokens", path, i, a);
                goto out;
            }
            la = (size_t)(sp - a);
            b = sp + 1;
            lb = json_string_length(e) - la - 1;
        } else if (json_is_array(e) && json_array_size(e) == 2 && json_is_string(json_array_get(e, 0)) &&
                   json_is_string(json_array_get(e, 1))) {
            a = json_string_value(json_array_get(e, 0));
            la = json_string_length(json_array_get(e, 0));
            b = json_string_value(json_array_get(e, 1));
            lb = json_string_length(json_array_get(e, 1));
        } else {
            st = se_error_set(err, SE_EFORMAT, "%s: model.merges[%zu]: a \"a b\" string or a pair is needed", path, i);
            goto out;
        }
        int32_t ia = se_smap_get(&m->vocab, a, la), ib = se_smap_get(&m->vocab, b, lb);
        /* the merged token: a + b without b's continuing prefix (BpeBuilder::build) */
        size_t pl = m->cont_len;
        if (ia >= 0 && ib >= 0 && lb < pl) {
            st = se_error_set(err, SE_EFORMAT, "%s: model.merges[%zu]: '%.80s' is shorter than the prefix", path, i, b);
            goto out;
        }
        if (la + lb + 1 > cap) {
            while (la + lb + 1 > cap) cap *= 2;
            char *q = realloc(buf, cap);
            if (!q) goto oom;
            buf = q;
        }
        memcpy(buf, a, la);
        if (ib >= 0) memcpy(buf + la, b + pl, lb - pl);
        int32_t in = ia >= 0 && ib >= 0 ? se_smap_get(&m->vocab, buf, la + lb - pl) : -1;
        if (in < 0) {
            const char *which = ia < 0 ? a : ib < 0 ? b : buf;
            int wl = (int)(ia < 0 ? la : ib < 0 ? lb : la + lb - pl);
            st = se_error_set(err, SE_EFORMAT, "%s: model.merges[%zu]: token '%.*s' is not in model.vocab", path, i,
                              wl > 80 ? 80 : wl, which);
            goto out;
        }
        uint64_t k = pair_key(ia, ib);
        uint32_t j = pair_slot(k, m->merge_mask);
        while (m->merges[j].key && m->merges[j].key != k) j = (j + 1) & m->merge_mask;
        m->merges[j] = (se_merge_slot){k, (uint32_t)i, in};
    }
    free(buf);
    *out = m;
    return SE_OK;
oom:
    st = se_error_set(err, SE_ENOMEM, "%s: out of memory", path);
out:
    free(buf);
    se_tmodel_free(m);
    return st;
}

/* ---- encode one word ---- */

typedef struct {
    int32_t id;
    int32_t prev, next;
    uint32_t len; /* 0 = merged away */
} sym;
typedef struct {
    uint32_t rank, pos;
    int32_t new_id;
} hent;

static inline int hless(const hent *a, const hent *b) { return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos; }

static void hpush(hent *h, size_t *n, hent e)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!hless(&e, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static hent hpop(hent *h, size_t *n)
{
    hent top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && hless(&h[c + 1], &h[c])) c++;
        if (!hless(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

/* Id of prefix? + s[0..n) + suffix? in the vocabulary, or -1. */
static int32_t piece_id(const se_tmodel *m, const char *s, size_t n, int pre, int suf)
{
    if (!(pre && m->cont_len) && !(suf && m->eow_len)) return se_smap_get(&m->vocab, s, n);
    uint64_t h = se_tok_hash_init(0);
    char tmp[256];
    size_t k = 0;
    if (pre && m->cont_len + n + m->eow_len > sizeof tmp) return -1;
    if (pre && m->cont_len) { /* an absent prefix or suffix is NULL: no memcpy from it */
        memcpy(tmp, m->cont_prefix, m->cont_len);
        k = m->cont_len;
    }
    if (k + n + m->eow_len > sizeof tmp) return -1;
    memcpy(tmp + k, s, n);
    k += n;
    if (suf && m->eow_len) {
        memcpy(tmp + k, m->eow_suffix, m->eow_len);
        k += m->eow_len;
    }
    h = se_tok_hash_add(h, tmp, k);
    int32_t id = se_smap_get_h(&m->vocab, h, tmp, k);
    return id >= 0 ? id : -1;
}

int se_bpe_encode(const se_tmodel *m, const char *s, size_t n, se_ids *out)
{
    if (m->ignore_merges) {
        int32_t id = se_smap_get(&m->vocab, s, n);
        if (id >= 0) return se_ids_push(out, id);
    }
    sym stack_sym[64];
    hent stack_h[3 * 64 + 16];
    /* at most one symbol per byte (byte fallback), one heap entry per merge step pair push */
    /* symbols: at most one per byte, plus the prefix and suffix bytes of byte fallback */
    size_t cap = n * (1 + m->cont_len + m->eow_len);
    sym *sy = cap <= 64 ? stack_sym : malloc(cap * sizeof *sy);
    hent *h = cap <= 64 ? stack_h : malloc((3 * cap + 16) * sizeof *h);
    int rc = 0;
    if (!sy || !h) {
        rc = -1;
        goto done;
    }
    size_t ns = 0;
    int32_t unk = -1;
    uint32_t unk_len = 0;
    for (size_t i = 0, adv; i < n; i += adv) {
        se_utf8_next(s + i, n - i, &adv);
        int32_t id = piece_id(m, s + i, adv, i > 0, i + adv == n);
        if (id >= 0) {
            if (unk >= 0) {
                sy[ns++] = (sym){unk, 0, 0, unk_len};
                unk = -1;
            }
            sy[ns++] = (sym){id, 0, 0, (uint32_t)adv};
            continue;
        }
        if (m->byte_fallback) {
            /* merge_word falls back on the bytes of the decorated piece: prefix + char + suffix */
            const char *parts[3] = {i > 0 ? m->cont_prefix : NULL, s + i, i + adv == n ? m->eow_suffix : NULL};
            size_t lens[3] = {i > 0 ? m->cont_len : 0, adv, i + adv == n ? m->eow_len : 0};
            int all = 1;
            for (int q = 0; q < 3; q++)
                for (size_t k = 0; k < lens[q]; k++) all &= m->byte_id[(uint8_t)parts[q][k]] >= 0;
            if (all && ns + lens[0] + lens[1] + lens[2] <= cap) { /* a pending unk stays pending, as in merge_word */
                for (int q = 0; q < 3; q++)
                    for (size_t k = 0; k < lens[q]; k++) sy[ns++] = (sym){m->byte_id[(uint8_t)parts[q][k]], 0, 0, 1};
                continue;
            }
        }
        if (m->unk_id >= 0) {
            if (unk >= 0 && m->fuse_unk) {
                unk_len += (uint32_t)adv;
            } else {
                if (unk >= 0) sy[ns++] = (sym){unk, 0, 0, unk_len};
                unk = m->unk_id;
                unk_len = (uint32_t)adv;
            }
        }
    }
    if (unk >= 0) sy[ns++] = (sym){unk, 0, 0, unk_len};
    for (size_t i = 0; i < ns; i++) {
        sy[i].prev = (int32_t)i - 1;
        sy[i].next = i + 1 < ns ? (int32_t)i + 1 : -1;
    }
    size_t hn = 0;
    for (size_t i = 0; i + 1 < ns; i++) {
        const se_merge_slot *mg = merge_find(m, sy[i].id, sy[i + 1].id);
        if (mg) hpush(h, &hn, (hent){mg->rank, (uint32_t)i, mg->new_id});
    }
    while (hn) {
        hent top = hpop(h, &hn);
        sym *cur = &sy[top.pos];
        if (cur->len == 0 || cur->next < 0) continue;
        sym *right = &sy[cur->next];
        const se_merge_slot *mg = merge_find(m, cur->id, right->id);
        if (!mg || mg->new_id != top.new_id) continue; /* expired entry */
        cur->id = top.new_id;
        cur->len += right->len;
        cur->next = right->next;
        right->len = 0;
        if (cur->next >= 0) sy[cur->next].prev = (int32_t)top.pos;
        /* ns - 1 initial entries, at most two per merge and ns - 1 merges: 3 cap fits */
        if (cur->prev >= 0 && (mg = merge_find(m, sy[cur->prev].id, cur->id)))
            hpush(h, &hn, (hent){mg->rank, (uint32_t)cur->prev, mg->new_id});
        if (cur->next >= 0 && (mg = merge_find(m, cur->id, sy[cur->next].id)))
            hpush(h, &hn, (hent){mg->rank, top.pos, mg->new_id});
    }
    for (size_t i = 0; i < ns; i++)
        if (sy[i].len && se_ids_push(out, sy[i].id)) {
            rc = -1;
            break;
        }
done:
    if (sy != stack_sym) free(sy);
    if (h != stack_h) free(h);
    return rc;
}
