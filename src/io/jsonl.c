/* One JSONL corpus line -> se_doc. Accepted shapes:
 *   {"id": "a1", "text": "..."}                     raw text
 *   {"id": 7, "input_ids": [101, ...], "token_type_ids": [0, ...]}   pre-tokenised
 * Other keys are ignored (corpora carry their own metadata). The id and text
 * keys can be renamed (se_doc_fields: BEIR's _id, title + text); TSV lines
 * (MS MARCO's collection.tsv) map to the same se_doc. */
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

/* The value at a dotted path ("meta.doc_id") of an object, or NULL. A key
 * that itself holds a dot is found first as a whole. */
static json_t *get_path(json_t *root, const char *path)
{
    json_t *v = json_object_get(root, path);
    if (v || !strchr(path, '.')) return v;
    char key[256];
    const char *p = path;
    v = root;
    while (v && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof key || !json_is_object(v)) return NULL;
        memcpy(key, p, n);
        key[n] = 0;
        v = json_object_get(v, key);
        p = dot ? dot + 1 : p + n;
    }
    return v;
}

/* A scalar id as text: a string as-is, a number as printed; NULL if v is not one. */
static se_status id_text(json_t *id, const char *where, const char *name, char **out, se_error *err)
{
    char buf[64];
    if (json_is_string(id)) {
        if (strlen(json_string_value(id)) != json_string_length(id))
            return se_error_set(err, SE_EFORMAT, "%s: \"%s\" contains a NUL character", where, name);
        *out = strdup(json_string_value(id));
    } else if (json_is_integer(id)) {
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(id));
        *out = strdup(buf);
    } else if (json_is_real(id)) {
        se_io_fmt_double(buf, sizeof buf, json_real_value(id));
        *out = strdup(buf);
    } else
        return se_error_set(err, SE_EFORMAT, "%s: \"%s\" must be a string or a number, found %s", where, name,
                            se_io_json_type_name(id));
    return *out ? SE_OK : se_error_set(err, SE_ENOMEM, "%s: out of memory", where);
}

/* Appends s (n bytes) to doc->text, one space between parts; empty parts add nothing. */
static se_status add_text(se_doc *doc, const char *s, size_t n, const char *where, se_error *err)
{
    if (!doc->text) {
        if (!(doc->text = malloc(n + 1))) return se_error_set(err, SE_ENOMEM, "%s: out of memory", where);
        memcpy(doc->text, s, n);
        doc->text[n] = 0;
        doc->text_len = n;
        return SE_OK;
    }
    if (n == 0) return SE_OK;
    size_t sep = doc->text_len > 0;
    char *p = realloc(doc->text, doc->text_len + sep + n + 1);
    if (!p) return se_error_set(err, SE_ENOMEM, "%s: out of memory", where);
    if (sep) p[doc->text_len] = ' ';
    memcpy(p + doc->text_len + sep, s, n);
    doc->text_len += sep + n;
    p[doc->text_len] = 0;
    doc->text = p;
    return SE_OK;
}

static const char *const default_text[] = {"text"};

static se_status parse_obj(json_t *root, const char *where, const se_doc_fields *f, se_doc *doc, se_error *err)
{
    if (!json_is_object(root))
        return se_error_set(err, SE_EFORMAT, "%s: a document must be a JSON object, found %s", where,
                            se_io_json_type_name(root));
    const char *idf = f && f->id_field ? f->id_field : "id";
    const char *const *tf = f && f->n_text ? f->text_fields : default_text;
    int n_tf = f && f->n_text ? f->n_text : 1;
    json_t *id = get_path(root, idf);
    if (!id && !(f && f->id_optional)) return se_error_set(err, SE_EFORMAT, "%s: missing \"%s\"", where, idf);
    se_status st = id ? id_text(id, where, idf, &doc->id, err) : SE_OK;
    if (st) return st;

    json_t *ids = json_object_get(root, "input_ids"), *tt = json_object_get(root, "token_type_ids");
    /* text: the named fields joined by one space, missing and empty ones left out */
    int n_present = 0;
    for (int i = 0; i < n_tf && !st; i++) {
        json_t *t = get_path(root, tf[i]);
        if (!t || json_is_null(t)) continue;
        if (!json_is_string(t))
            return se_error_set(err, SE_EFORMAT, "%s: \"%s\" must be a string, found %s", where, tf[i],
                                se_io_json_type_name(t));
        n_present++;
        /* keep the length: "\u0000" inside the text is legal JSON */
        st = add_text(doc, json_string_value(t), json_string_length(t), where, err);
    }
    if (st) return st;
    if (n_present && ids)
        return se_error_set(err, SE_EFORMAT, "%s: both \"%s\" and \"input_ids\" given; use one", where, tf[0]);
    if (!n_present && !ids) {
        if (n_tf == 1) return se_error_set(err, SE_EFORMAT, "%s: neither \"%s\" nor \"input_ids\" given", where, tf[0]);
        return se_error_set(err, SE_EFORMAT, "%s: none of the text fields (\"%s\", ...) nor \"input_ids\" given", where,
                            tf[0]);
    }
    if (n_present) {
        if (tt) return se_error_set(err, SE_EFORMAT, "%s: \"token_type_ids\" given without \"input_ids\"", where);
        return SE_OK;
    }
    st = int_array(ids, where, "input_ids", &doc->input_ids, &doc->n_ids, err);
    if (st || !tt) return st;
    size_t nt;
    if ((st = int_array(tt, where, "token_type_ids", &doc->type_ids, &nt, err))) return st;
    if (nt != doc->n_ids)
        return se_error_set(err, SE_EFORMAT, "%s: \"token_type_ids\" has %zu entries but \"input_ids\" has %zu", where,
                            nt, doc->n_ids);
    return SE_OK;
}

/* Invalid UTF-8 never fails a document: it is replaced, counted, and the
 * tokenizer then drops U+FFFD as Hugging Face's does. *fixed is the repaired
 * copy to free (or NULL when the line was well-formed). */
static se_status repair_line(const char **line, size_t *len, char **fixed, size_t *bad, const char *where,
                             se_error *err)
{
    *fixed = NULL;
    *bad = se_utf8_count_invalid(*line, *len);
    if (!*bad) return SE_OK;
    if (!(*fixed = malloc(*len * 3 + 1)))
        return se_error_set(err, SE_ENOMEM, "%s: cannot allocate %zu bytes", where, *len * 3 + 1);
    *len = se_utf8_repair(*line, *len, *fixed);
    *line = *fixed;
    return SE_OK;
}

se_status se_doc_parse_fields(const char *line, size_t len, const char *where, const se_doc_fields *f, se_doc *doc,
                              se_error *err)
{
    memset(doc, 0, sizeof *doc);
    if (!where) where = "(document)";
    size_t bad;
    char *fixed;
    se_status st = repair_line(&line, &len, &fixed, &bad, where, err);
    if (st) return st;
    json_error_t je;
    json_t *root = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    free(fixed);
    if (!root)
        return se_error_set(err, SE_EFORMAT, "%s: not valid JSON: %s (column %d)", where, je.text, je.column);
    st = parse_obj(root, where, f, doc, err);
    json_decref(root);
    if (st) se_doc_free(doc);
    else doc->n_invalid_utf8 = bad;
    return st;
}

se_status se_doc_parse(const char *line, size_t len, const char *where, se_doc *doc, se_error *err)
{
    return se_doc_parse_fields(line, len, where, NULL, doc, err);
}

static const char *const default_cols[] = {"id", "text"};

se_status se_doc_parse_tsv(const char *line, size_t len, const char *where, const se_doc_fields *f, se_doc *doc,
                           se_error *err)
{
    memset(doc, 0, sizeof *doc);
    if (!where) where = "(document)";
    const char *const *cols = f && f->n_tsv ? f->tsv_columns : default_cols;
    int n_cols = f && f->n_tsv ? f->n_tsv : 2;
    const char *idf = f && f->id_field ? f->id_field : "id";
    const char *const *tf = f && f->n_text ? f->text_fields : default_text;
    int n_tf = f && f->n_text ? f->n_text : 1;
    if (!memchr(line, '\t', len))
        return se_error_set(err, SE_EFORMAT, "%s: no tab: a TSV line is %s<TAB>%s...", where, cols[0], cols[1]);
    size_t bad;
    char *fixed;
    se_status st = repair_line(&line, &len, &fixed, &bad, where, err);
    if (st) return st;
    /* column k: [start[k], start[k] + clen[k]); the last named column stops at the next tab too */
    size_t start[64], clen[64];
    int n = 0;
    for (size_t p = 0; n < n_cols && n < 64;) {
        const char *tab = memchr(line + p, '\t', len - p);
        size_t e = tab ? (size_t)(tab - line) : len;
        start[n] = p, clen[n++] = e - p;
        if (!tab) break;
        p = e + 1;
    }
    /* no id column at all: doc->id stays NULL and the job names the document FILE:LINE */
    for (int k = 0; k < n_cols && !st; k++) {
        if (strcmp(cols[k], idf)) continue;
        if (k >= n || clen[k] == 0) st = se_error_set(err, SE_EFORMAT, "%s: empty id (column \"%s\")", where, idf);
        /* a NUL would cut the id short (to nothing, or into another document's id) */
        else if (memchr(line + start[k], '\0', clen[k]))
            st = se_error_set(err, SE_EFORMAT, "%s: the id (column \"%s\") contains a NUL byte", where, idf);
        else if (!(doc->id = strndup(line + start[k], clen[k]))) st = se_error_set(err, SE_ENOMEM, "%s: out of memory", where);
    }
    for (int i = 0; i < n_tf && !st; i++)
        for (int k = 0; k < n_cols && k < n && !st; k++)
            if (!strcmp(cols[k], tf[i])) st = add_text(doc, line + start[k], clen[k], where, err);
    if (!st && !doc->text) st = add_text(doc, "", 0, where, err);
    free(fixed);
    if (st) se_doc_free(doc);
    else doc->n_invalid_utf8 = bad;
    return st;
}
