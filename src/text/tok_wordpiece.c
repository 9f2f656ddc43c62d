/* The WordPiece model as a pipeline part (tokenizers/src/models/wordpiece/):
 * greedy longest-match-first from the left, continuation pieces looked up
 * with continuing_subword_prefix, a word longer than
 * max_input_chars_per_word or with an unmatchable rest becomes one unk.
 * Used when a WordPiece tokenizer.json has parts other than BertNormalizer +
 * BertPreTokenizer; those two keep the fused fast path of tok_encode.c. */
#include "tok_pipe.h"

#include <stdlib.h>
#include <string.h>

se_status se_wordpiece_build(json_t *model, const char *path, se_tmodel **out, se_error *err)
{
    *out = NULL;
    se_tmodel *m = calloc(1, sizeof *m);
    if (!m) return se_error_set(err, SE_ENOMEM, "%s: out of memory", path);
    m->kind = SE_TM_WORDPIECE;
    se_status st = SE_OK;
    json_t *vocab = json_object_get(model, "vocab"), *unk = json_object_get(model, "unk_token");
    json_t *pfx = json_object_get(model, "continuing_subword_prefix"), *mx = json_object_get(model, "max_input_chars_per_word");
    m->max_chars = 100;
    if (mx && !json_is_null(mx)) {
        if (!json_is_integer(mx) || json_integer_value(mx) < 1 || json_integer_value(mx) > 1000000) {
            st = se_error_set(err, SE_EFORMAT, "%s: model.max_input_chars_per_word must be an integer in [1, 1000000]", path);
            goto out;
        }
        m->max_chars = (int)json_integer_value(mx);
    }
    const char *p = json_is_string(pfx) ? json_string_value(pfx) : "##";
    m->cont_len = strlen(p);
    m->cont_prefix = strdup(p);
    if (!json_is_object(vocab) || !m->cont_prefix) {
        st = se_error_set(err, SE_EFORMAT, "%s: model.vocab must be an object", path);
        goto out;
    }
    if (se_smap_init(&m->vocab, json_object_size(vocab))) goto oom;
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) {
        json_int_t id = json_integer_value(val);
        if (!json_is_integer(val) || id < 0 || id >= (1 << 24)) {
            st = se_error_set(err, SE_EFORMAT, "%s: model.vocab[\"%.80s\"]: id must be an integer in [0, %d)", path, key,
                              1 << 24);
            goto out;
        }
        if (se_smap_put(&m->vocab, key, strlen(key), (int32_t)id, 1) < 0) goto oom;
    }
    if ((st = se_tmodel_index(m, path, err))) goto out;
    const char *u = json_is_string(unk) ? json_string_value(unk) : "[UNK]";
    m->unk_id = se_smap_get(&m->vocab, u, strlen(u));
    if (m->unk_id < 0) {
        st = se_error_set(err, SE_EFORMAT, "%s: model.unk_token '%.80s' is not in model.vocab", path, u);
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

int se_wordpiece_encode(const se_tmodel *m, const char *s, size_t n, se_ids *out)
{
    size_t chars = 0;
    for (size_t i = 0; i < n; i++) chars += ((uint8_t)s[i] & 0xC0) != 0x80;
    if (chars > (size_t)m->max_chars) return se_ids_push(out, m->unk_id);
    size_t mark = out->n;
    char stackbuf[512];
    char *buf = m->cont_len + n <= sizeof stackbuf ? stackbuf : malloc(m->cont_len + n);
    if (!buf) return -1;
    memcpy(buf, m->cont_prefix, m->cont_len);
    int rc = 0;
    for (size_t start = 0; start < n;) {
        size_t end = n;
        int32_t id = -1;
        while (end > start) {
            if (start == 0) {
                id = se_smap_get(&m->vocab, s, end);
            } else {
                memcpy(buf + m->cont_len, s + start, end - start);
                id = se_smap_get(&m->vocab, buf, m->cont_len + end - start);
            }
            if (id >= 0) break;
            do end--; /* one character back */
            while (end > start && ((uint8_t)s[end] & 0xC0) == 0x80);
        }
        if (id < 0) { /* no piece: the whole word is unk */
            out->n = mark;
            rc = se_ids_push(out, m->unk_id);
            break;
        }
        if ((rc = se_ids_push(out, id))) break;
        start = end;
    }
    if (buf != stackbuf) free(buf);
    return rc;
}
