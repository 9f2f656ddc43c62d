/* The Unigram model of tokenizer.json (tokenizers/src/models/unigram/):
 * Viterbi best path over the pieces that start at each character
 * (Unigram::encode_optimized, after sentencepiece's unigram_model.cc); a
 * character no piece covers costs min_score - 10 (K_UNK_PENALTY) as unk, and
 * consecutive unks are fused (fuse_unk is always on for Unigram). A fused
 * string not in the vocabulary becomes <0xXX> byte pieces if byte_fallback
 * and all exist, else unk_id (Unigram::tokenize). */
#include "tok_pipe.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SE_UNI_MAX_PIECES (1 << 24)

/* The score as tokenizers reads it. serde_json without its float_roundtrip
 * feature (tokenizers' Cargo.toml) parses "d1d2...dn" x 10^e as
 * (double)significand, then one multiplication or division by an exact power
 * of ten (serde_json de.rs f64_from_parts): that can differ from the
 * correctly rounded value by an ulp, which decides Viterbi ties between paths
 * whose scores sum equally. jansson gives the correctly rounded double, whose
 * shortest decimal form is the text Python's and JavaScript's JSON writers
 * put in the file; the digits are recovered from it and serde's arithmetic
 * redone. */
static double serde_f64(double d)
{
    if (d == 0 || !isfinite(d)) return d;
    char buf[40];
    for (int prec = 0; prec < 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec, d);
        if (strtod(buf, NULL) == d) break;
    }
    /* buf: [-]D[.DDD]e[+-]XX */
    const char *p = buf;
    int neg = *p == '-';
    if (neg) p++;
    uint64_t sig = 0;
    int nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') {
            sig = sig * 10 + (uint64_t)(*p - '0');
            nd++;
        }
    int e10 = atoi(p + 1) - (nd - 1);
    /* serde keeps trailing zeros of the text, the shortest form has none, and
     * the value of sig / 10^k does not depend on them except through rounding
     * of (double)sig, which is exact below 2^53 anyway. */
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                   1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    double f = (double)sig;
    int a = e10 < 0 ? -e10 : e10;
    if (a <= 22) f = e10 >= 0 ? f * pow10[a] : f / pow10[a];
    else f = e10 >= 0 ? f * pow(10, a) : f / pow(10, a); /* beyond any real score: pow is close enough */
    return neg ? -f : f;
}

se_status se_unigram_build(json_t *model, const char *path, se_tmodel **out, se_error *err)
{
    *out = NULL;
    se_tmodel *m = calloc(1, sizeof *m);
    if (!m) return se_error_set(err, SE_ENOMEM, "%s: out of memory", path);
    m->kind = SE_TM_UNIGRAM;
    m->unk_id = -1;
    se_status st = SE_OK;
    json_t *vocab = json_object_get(model, "vocab"), *unk = json_object_get(model, "unk_id");
    json_t *bf = json_object_get(model, "byte_fallback");
    size_t n = json_array_size(vocab);
    if (!json_is_array(vocab) || n == 0 || n > SE_UNI_MAX_PIECES) {
        st = se_error_set(err, SE_EFORMAT, "%s: model.vocab must be a non-empty array of [piece, score] (at most %d)",
                          path, SE_UNI_MAX_PIECES);
        goto out;
    }
    if (bf && !json_is_null(bf) && !json_is_boolean(bf)) {
        st = se_error_set(err, SE_EFORMAT, "%s: model.byte_fallback must be a boolean", path);
        goto out;
    }
    m->byte_fallback = json_is_true(bf);
    if (unk && !json_is_null(unk)) {
        if (!json_is_integer(unk) || json_integer_value(unk) < 0 || (size_t)json_integer_value(unk) >= n) {
            st = se_error_set(err, SE_EFORMAT, "%s: model.unk_id must be an index into model.vocab (%zu pieces)", path, n);
            goto out;
        }
        m->unk_id = (int32_t)json_integer_value(unk);
    }
    m->scores = malloc(n * sizeof *m->scores);
    if (!m->scores || se_smap_init(&m->vocab, n * 2)) goto oom;
    double min_score = INFINITY;
    size_t i;
    json_t *e;
    json_array_foreach(vocab, i, e) {
        json_t *p = json_array_get(e, 0), *sc = json_array_get(e, 1);
        if (!json_is_array(e) || json_array_size(e) != 2 || !json_is_string(p) || !json_is_number(sc) ||
            !isfinite(json_number_value(sc))) {
            st = se_error_set(err, SE_EFORMAT, "%s: model.vocab[%zu]: a [string, finite number] pair is needed", path, i);
            goto out;
        }
        if (json_string_length(p) == 0) {
            st = se_error_set(err, SE_EFORMAT, "%s: model.vocab[%zu]: empty piece", path, i);
            goto out;
        }
        m->scores[i] = json_is_integer(sc) ? (double)json_integer_value(sc) : serde_f64(json_number_value(sc));
        if (m->scores[i] < min_score) min_score = m->scores[i];
        /* a repeated piece maps to its last id (token_to_ids.insert overwrites) */
        if (se_smap_put(&m->vocab, json_string_value(p), json_string_length(p), (int32_t)i, 1) < 0) goto oom;
    }
    json_array_foreach(vocab, i, e) {
        json_t *p = json_array_get(e, 0);
        if (se_smap_put_prefixes(&m->vocab, json_string_value(p), json_string_length(p)) < 0) goto oom;
    }
    m->unk_score = min_score - 10.0;
    if ((st = se_tmodel_index(m, path, err))) goto out;
    if (m->unk_id >= m->n_ids || (m->unk_id >= 0 && m->id_off[m->unk_id] < 0)) {
        st = se_error_set(err, SE_EFORMAT, "%s: model.unk_id %d names a piece repeated later in model.vocab", path,
                          (int)m->unk_id);
        goto out;
    }
    *out = m;
    return SE_OK;
oom:
    st = se_error_set(err, SE_ENOMEM, "%s: out of memory", path);
out:
    se_tmodel_free(m);
    return st;
}

typedef struct {
    double score;
    int32_t id;
    int32_t start; /* -1 = not reached */
} node;

static int push_piece(const se_tmodel *m, const char *s, size_t n, se_ids *out)
{
    int32_t id = se_smap_get(&m->vocab, s, n);
    if (id < 0 && m->byte_fallback) {
        int all = 1;
        for (size_t k = 0; k < n; k++) all &= m->byte_id[(uint8_t)s[k]] >= 0;
        if (all) {
            for (size_t k = 0; k < n; k++)
                if (se_ids_push(out, m->byte_id[(uint8_t)s[k]])) return -1;
            return 0;
        }
    }
    return se_ids_push(out, id >= 0 ? id : m->unk_id);
}

int se_unigram_encode(const se_tmodel *m, const char *s, size_t n, se_ids *out)
{
    node stack_nodes[257];
    node *best = n < 256 ? stack_nodes : malloc((n + 1) * sizeof *best);
    if (!best) return -1;
    for (size_t i = 0; i <= n; i++) best[i] = (node){0, -1, -1};
    best[0].start = 0;
    int rc = 0;
    for (size_t at = 0, mb; at < n; at += mb) {
        se_utf8_next(s + at, n - at, &mb);
        double here = best[at].score;
        int single = 0;
        uint64_t h = se_tok_hash_init(0);
        size_t e = at;
        /* every vocabulary piece starting at `at`, shortest first (the trie's order) */
        while (e < n && e - at < m->vocab.max_len) {
            size_t adv;
            se_utf8_next(s + e, n - e, &adv);
            h = se_tok_hash_add(h, s + e, adv);
            e += adv;
            int32_t id = se_smap_get_h(&m->vocab, h, s + at, e - at);
            if (id == -1) break;
            if (id == SE_TOK_PREFIX) continue;
            double cand = here + m->scores[id];
            node *t = &best[e];
            if (t->start < 0 || cand > t->score) *t = (node){cand, id, (int32_t)at};
            if (e - at == mb) single = 1;
        }
        if (!single) {
            if (m->unk_id < 0) { /* Unigram without unk_id: tokenizers errors (MissingUnkId) */
                rc = -2;
                goto done;
            }
            node *t = &best[at + mb];
            double cand = here + m->unk_score;
            if (t->start < 0 || cand > t->score) *t = (node){cand, m->unk_id, (int32_t)at};
        }
    }
    /* backtrack, fusing unk runs, then emit left to right */
    size_t k = 0;
    int32_t *starts = (int32_t *)malloc((n + 1) * sizeof *starts);
    if (!starts) {
        rc = -1;
        goto done;
    }
    for (size_t end = n; end > 0;) {
        size_t st = (size_t)best[end].start;
        if (best[end].id == m->unk_id) {
            while (st > 0 && best[st].id == m->unk_id) st = (size_t)best[st].start;
        }
        starts[k++] = (int32_t)st;
        end = st;
    }
    /* starts[] holds piece starts from the right; walk it backwards */
    for (size_t j = k; j-- > 0;) {
        size_t st = (size_t)starts[j];
        size_t en = j > 0 ? (size_t)starts[j - 1] : n;
        if (push_piece(m, s + st, en - st, out)) {
            rc = -1;
            break;
        }
    }
    free(starts);
done:
    if (best != stack_nodes) free(best);
    return rc;
}
