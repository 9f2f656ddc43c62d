/* One JSONL corpus line -> se_doc. Accepted shapes:
 *   {"id": "a1", "text": "..."}                     raw text
 *   {"id": 7, "input_ids": [101, ...], "token_type_ids": [0, ...]}   pre-tokenised
 * Other keys are ignored (corpora carry their own metadata). */
#include "shardenc/io.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io_internal.h"

void se_doc_free(se_doc *doc)
{
    if (!doc) return;
    free(doc->id);
    free(doc->text);
    free(doc->input_ids);
    free(doc->type_ids);
    memset(doc, 0, sizeof *doc);
}

/* Array of integers in [0, INT32_MAX] -> malloc'd int32 array. */
static se_status int_array(json_t *a, const char *where, const char *key, int32_t **out, size_t *n, se_error *err)
{
    if (!json_is_array(a))
        return se_error_set(err, SE_EFORMAT, "%s: \"%s\" must be an array of integers, found %s", where, key,
                            se_io_json_type_name(a));
    size_t len = json_array_size(a);
    int32_t *v = malloc((len ? len : 1) * sizeof *v);
    if (!v) return se_error_set(err, SE_ENOMEM, "%s: out of memory for %zu ids", where, len);
    for (size_t i = 0; i < len; i++) {
        json_t *x = json_array_get(a, i);
        if (!json_is_integer(x)) {
            free(v);
            return se_error_set(err, SE_EFORMAT, "%s: \"%s\"[%zu] must be an integer, found %s", where, key, i,
                                se_io_json_type_name(x));
        }
        json_int_t k = json_integer_value(x);
        if (k < 0 || k > INT32_MAX) {
            free(v);
            return se_error_set(err, SE_EFORMAT, "%s: \"%s\"[%zu] = %lld is out of range [0, %d]", where, key, i,
                                (long long)k, INT32_MAX);
        }
        v[i] = (int32_t)k;
    }
    *out = v;
    *n = len;
    return SE_OK;
}

static se_status parse_obj(json_t *root, const char *where, se_doc *doc, se_error *err)
{
    if (!json_is_object(root))
        return se_error_set(err, SE_EFORMAT, "%s: a document must be a JSON object, found %s", where,
                            se_io_json_type_name(root));
    json_t *id = json_object_get(root, "id");
    char buf[64];
    if (!id) return se_error_set(err, SE_EFORMAT, "%s: missing \"id\"", where);
    if (json_is_string(id)) {
        if (strlen(json_string_value(id)) != json_string_length(id))
            return se_error_set(err, SE_EFORMAT, "%s: \"id\" contains a NUL character", where);
        doc->id = strdup(json_string_value(id));
    } else if (json_is_integer(id)) {
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(id));
        doc->id = strdup(buf);
    } else if (json_is_real(id)) {
        se_io_fmt_double(buf, sizeof buf, json_real_value(id));
        doc->id = strdup(buf);
    } else
        return se_error_set(err, SE_EFORMAT, "%s: \"id\" must be a string or a number, found %s", where,
                            se_io_json_type_name(id));
    if (!doc->id) return se_error_set(err, SE_ENOMEM, "%s: out of memory", where);

    json_t *text = json_object_get(root, "text"), *ids = json_object_get(root, "input_ids"),
           *tt = json_object_get(root, "token_type_ids");
    if (text && ids) return se_error_set(err, SE_EFORMAT, "%s: both \"text\" and \"input_ids\" given; use one", where);
    if (!text && !ids) return se_error_set(err, SE_EFORMAT, "%s: neither \"text\" nor \"input_ids\" given", where);
    if (text) {
        if (!json_is_string(text))
            return se_error_set(err, SE_EFORMAT, "%s: \"text\" must be a string, found %s", where,
                                se_io_json_type_name(text));
        if (tt) return se_error_set(err, SE_EFORMAT, "%s: \"token_type_ids\" given without \"input_ids\"", where);
        /* keep the length: "\u0000" inside the text is legal JSON */
        size_t n = json_string_length(text);
        if (!(doc->text = malloc(n + 1))) return se_error_set(err, SE_ENOMEM, "%s: out of memory", where);
        memcpy(doc->text, json_string_value(text), n);
        doc->text[n] = '\0';
        doc->text_len = n;
        return SE_OK;
    }
    se_status st = int_array(ids, where, "input_ids", &doc->input_ids, &doc->n_ids, err);
    if (st || !tt) return st;
    size_t nt;
    if ((st = int_array(tt, where, "token_type_ids", &doc->type_ids, &nt, err))) return st;
    if (nt != doc->n_ids)
        return se_error_set(err, SE_EFORMAT, "%s: \"token_type_ids\" has %zu entries but \"input_ids\" has %zu", where,
                            nt, doc->n_ids);
    return SE_OK;
}

/* Length of the well-formed UTF-8 sequence at s (Unicode Table 3-7), or, if
 * ill-formed, minus the length of its maximal subpart (at least 1). */
static int utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c == 0xE0) need = 2, lo = 0xA0;
    else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) need = 2;
    else if (c == 0xED) need = 2, hi = 0x9F;
    else if (c == 0xF0) need = 3, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) need = 3;
    else if (c == 0xF4) need = 3, hi = 0x8F;
    else return -1;
    for (int i = 1; i <= need; i++) {
        if ((size_t)i >= n) return -i;
        unsigned b = s[i];
        if (b < lo || b > hi) return -i;
        lo = 0x80, hi = 0xBF;
    }
    return need + 1;
}

/* With out == NULL: the number of replacements; else writes the repaired
 * bytes (room for 3·len) and returns their length. The tokenizer has the same
 * decoder (text.h); io may not depend on text, so the line gets its own. */
static size_t utf8_repair(const char *in, size_t len, char *out)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0, o = 0, bad = 0;
    while (i < len) {
        int k = utf8_seq(s + i, len - i);
        if (k > 0) {
            if (out) memcpy(out + o, s + i, (size_t)k);
            o += (size_t)k, i += (size_t)k;
        } else {
            /* each maximal ill-formed subpart becomes one U+FFFD, as Python's
             * and Rust's lossy decoders do */
            if (out) memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3, i += (size_t)-k, bad++;
        }
    }
    return out ? o : bad;
}

se_status se_doc_parse(const char *line, size_t len, const char *where, se_doc *doc, se_error *err)
{
    memset(doc, 0, sizeof *doc);
    if (!where) where = "(document)";
    /* Invalid UTF-8 never fails a document: it is replaced, counted, and the
     * tokenizer then drops U+FFFD as Hugging Face's does. */
    size_t bad = utf8_repair(line, len, NULL);
    char *fixed = NULL;
    if (bad) {
        fixed = malloc(len * 3 + 1);
        if (!fixed) return se_error_set(err, SE_ENOMEM, "%s: cannot allocate %zu bytes", where, len * 3 + 1);
        len = utf8_repair(line, len, fixed);
        line = fixed;
    }
    json_error_t je;
    json_t *root = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    free(fixed);
    doc->n_invalid_utf8 = bad;
    if (!root)
        return se_error_set(err, SE_EFORMAT, "%s: not valid JSON: %s (column %d)", where, je.text, je.column);
    se_status st = parse_obj(root, where, doc, err);
    json_decref(root);
    if (st) se_doc_free(doc);
    else doc->n_invalid_utf8 = bad;
    return st;
}
