/* Helpers shared by the tests: fixture paths, relative Frobenius error, and
 * reading a fixture's input.jsonl into one packed batch. Header-only. */
#ifndef SE_TEST_UTIL_H
#define SE_TEST_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardenc/io.h"

static inline const char *se_test_fixtures(void)
{
    const char *f = getenv("SE_FIXTURES");
    return f ? f : "tests/fixtures";
}

/* ‖a − b‖_F / ‖b‖_F in double. */
static inline double se_rel_err(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

typedef struct {
    int32_t *ids, *types;
    int64_t *starts;
    int n_seq;
    int64_t n_tok;
} se_test_batch;

/* Packs every document of a pre-tokenised JSONL file into one batch. */
static inline int se_test_read_batch(const char *path, se_test_batch *b)
{
    memset(b, 0, sizeof *b);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    size_t tcap = 1 << 16;
    b->ids = malloc(tcap * sizeof(int32_t));
    b->types = malloc(tcap * sizeof(int32_t));
    b->starts = malloc(1025 * sizeof(int64_t));
    b->starts[0] = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        se_doc doc;
        se_error err;
        if (se_doc_parse(line, (size_t)len - (line[len - 1] == '\n'), path, &doc, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return -1;
        }
        if (b->n_tok + (int64_t)doc.n_ids > (int64_t)tcap || b->n_seq >= 1024) return -1;
        for (size_t i = 0; i < doc.n_ids; i++) {
            b->ids[b->n_tok + i] = doc.input_ids[i];
            b->types[b->n_tok + i] = doc.type_ids ? doc.type_ids[i] : 0;
        }
        b->n_tok += (int64_t)doc.n_ids;
        b->starts[++b->n_seq] = b->n_tok;
        se_doc_free(&doc);
    }
    free(line);
    fclose(f);
    return 0;
}

/* Fixture `name`'s folder into dir, its input.jsonl into *b. */
static inline int se_test_fixture_batch(const char *name, char *dir, size_t cap, se_test_batch *b)
{
    char path[1200];
    snprintf(dir, cap, "%s/models/%s", se_test_fixtures(), name);
    snprintf(path, sizeof path, "%s/input.jsonl", dir);
    return se_test_read_batch(path, b);
}

/* The longest sequence of a batch (workspace sizing). */
static inline int64_t se_test_batch_maxlen(const se_test_batch *b)
{
    int64_t m = 0;
    for (int s = 0; s < b->n_seq; s++)
        if (b->starts[s + 1] - b->starts[s] > m) m = b->starts[s + 1] - b->starts[s];
    return m;
}

static inline void se_test_batch_free(se_test_batch *b)
{
    free(b->ids);
    free(b->types);
    free(b->starts);
}

/* Reads a float32 .npy fixture; returns the element count or -1. */
static inline int64_t se_test_read_f32(const char *path, float **data)
{
    char descr[8];
    int ndim;
    int64_t shape[4];
    se_error err;
    void *p = NULL;
    if (se_npy_read(path, descr, &ndim, shape, &p, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    *data = p;
    return n;
}

/* A fresh folder under /tmp for tests that need real files (cmocka group
 * setup/teardown), removed with everything in it. */
static char se_test_dir[64];
static inline int se_test_dir_setup(void **state)
{
    (void)state;
    snprintf(se_test_dir, sizeof se_test_dir, "/tmp/se_test_XXXXXX");
    return mkdtemp(se_test_dir) ? 0 : -1;
}
static inline int se_test_dir_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", se_test_dir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
