/* Windows -> documents. Pooled modes: a document's row combines its windows'
 * pooled rows (se_assemble_combine), then L2 if asked; every rank assembles
 * its own documents (its contiguous share of the input, read back from its
 * PREFIX.docs.part<r>) into PREFIX.npy.tmp. Pooling none: the token file is
 * complete already; every rank writes its documents' offsets. */
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job/embed_internal.h"

void se_assemble_combine(float *out, const float *rows, const int32_t *lens, int64_t n_win, int d, se_pooling p,
                         double *sum)
{
    if (n_win == 0) {
        memset(out, 0, (size_t)d * sizeof(float)); /* empty document: a zero row, recorded in meta.json */
        return;
    }
    if (n_win == 1) {
        memcpy(out, rows, (size_t)d * sizeof(float));
        return;
    }
    if (p == SE_POOL_MAX) {
        /* max over windows of per-window maxima = max over all token states */
        memcpy(out, rows, (size_t)d * sizeof(float));
        for (int64_t k = 1; k < n_win; k++)
            for (int j = 0; j < d; j++)
                if (rows[k * d + j] > out[j]) out[j] = rows[k * d + j];
        return;
    }
    /* mean: sum_k len_k * mean_k / sum_k len_k = the mean over every token of
     * every window (overlap tokens count once per window they sit in, and so
     * do each window's [CLS]/[SEP]); cls: the same weights over the windows'
     * [CLS] states */
    double tw = 0;
    memset(sum, 0, (size_t)d * sizeof(double));
    for (int64_t k = 0; k < n_win; k++) {
        double wt = lens[k];
        for (int j = 0; j < d; j++) sum[j] += wt * rows[k * d + j];
        tw += wt;
    }
    for (int j = 0; j < d; j++) out[j] = (float)(sum[j] / tw);
}

/* IEEE 754 binary32 -> binary16, round to nearest, ties to even (what
 * numpy's astype(float16) and torch's .half() do): overflow past 65520 is
 * inf, below 2^-14 the subnormal step is 2^-24, NaN stays a (quiet) NaN. */
static uint16_t f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000, a = x & 0x7fffffffu;
    if (a >= 0x7f800000u) return (uint16_t)(sign | 0x7c00 | (a > 0x7f800000u ? 0x200 | ((a >> 13) & 0x3ff) : 0));
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* >= 65520 */
    if (a < 0x38800000u) {                                  /* < 2^-14: a multiple of 2^-24, exact * 2^24 */
        float v;
        memcpy(&v, &a, sizeof v);
        return (uint16_t)(sign | (uint32_t)lrintf(v * 16777216.0f)); /* default rounding: to nearest even */
    }
    uint32_t r = a - 0x38000000u; /* exponent bias 127 -> 15 */
    uint32_t h = r >> 13, rem = r & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++; /* a carry rolls into the exponent, as it should */
    return (uint16_t)(sign | h);
}

void se_rows_to_f16(uint16_t *out, const float *in, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = f32_to_f16(in[i]);
}

#define OFF_CHUNK 8192

/* Pooling none: offsets.npy [n_docs + 1] int64, the first token row of each
 * document in PREFIX.tokens.npy and the total; each rank writes its own
 * documents' entries (from its tok_base on), the last rank the total. */
static se_status write_offsets(se_job *J, int fd, const char *npy, size_t hlen, se_error *err)
{
    int64_t *buf = malloc(OFF_CHUNK * sizeof *buf), n = 0, at = J->doc_base, tok = J->tok_base, nd = 0;
    FILE *f = NULL;
    se_status st = buf ? se_corpus_docs_open(J, &f, err) : se_error_set(err, SE_ENOMEM, "cannot allocate offsets");
    se_docrec d;
    int got = 0;
    while (!st && (got = se_corpus_docs_next(J, f, &d, err)) == 1) {
        buf[n++] = tok;
        nd++;
        int64_t nw = se_plan_doc_nwin(d.n_tok, d.is_text, J->win_len, J->stride), start;
        for (int64_t k = 0; k < nw; k++) tok += se_plan_doc_win(d.n_tok, d.is_text, J->win_len, J->stride, k, &start);
        if (n == OFF_CHUNK) {
            st = se_pwrite_full(fd, buf, (size_t)n * sizeof *buf, (int64_t)hlen + at * 8, npy, err);
            at += n, n = 0;
        }
    }
    if (got < 0) st = SE_EIO;
    if (!st && nd != J->my_docs)
        st = se_error_set(err, SE_EIO, "%s: holds %lld documents, the index pass wrote %lld", J->docs_path,
                          (long long)nd, (long long)J->my_docs);
    if (!st && J->g->world_rank == J->g->world_size - 1) buf[n++] = J->n_tokens_total;
    if (!st && n) st = se_pwrite_full(fd, buf, (size_t)n * sizeof *buf, (int64_t)hlen + at * 8, npy, err);
    if (f) fclose(f);
    free(buf);
    return st;
}

#define ASM_CHUNK 4096 /* window rows read, and output rows written, per call */

/* Pooled modes: this rank's documents, from its windows' rows (contiguous
 * in the store from its win_base on) to its rows of the output (from its
 * doc_base on). Both sides are contiguous, so they are read and written in
 * chunks of ASM_CHUNK rows, not a call per document. */
static se_status combine_rows(se_job *J, int fd, const char *npy, size_t hlen, se_error *err)
{
    const se_embed_opts *o = J->o;
    int d = J->d;
    size_t es = o->out_f16 ? 2 : sizeof(float); /* bytes per output element */
    int sfd = open(J->store_path, O_RDONLY);
    se_status st = sfd < 0 ? se_error_set(err, SE_EIO, "%s: cannot open for assembly: %s", J->store_path,
                                          strerror(errno))
                           : SE_OK;
    /* rows[0 .. have) hold the store's rows from window w0 on */
    int64_t cap = ASM_CHUNK, w0 = J->win_base, have = 0, w = J->win_base, i = J->doc_base, n_out = 0;
    int64_t w_end = J->win_base + J->my_win;
    float *rows = malloc((size_t)cap * d * sizeof(float)), *out = malloc((size_t)d * sizeof(float));
    int32_t *lens = malloc((size_t)cap * sizeof *lens);
    char *obuf = malloc((size_t)ASM_CHUNK * d * es);
    double *sum = malloc((size_t)d * sizeof(double));
    if (!st && (!rows || !out || !lens || !obuf || !sum)) st = se_error_set(err, SE_ENOMEM, "cannot allocate assembly buffers");
    FILE *f = NULL;
    if (!st) st = se_corpus_docs_open(J, &f, err);
    se_docrec doc;
    int got = 0;
    while (!st && (got = se_corpus_docs_next(J, f, &doc, err)) == 1) {
        if ((i & 1023) == 0 && se_job_stopping(J)) {
            st = se_error_set(err, SE_EINTERRUPTED, "interrupted by a signal while assembling %s", npy);
            break;
        }
        int64_t nw = se_plan_doc_nwin(doc.n_tok, doc.is_text, J->win_len, J->stride), start;
        if (w + nw > w0 + have) { /* refill from w: this document's windows and the next chunk */
            if (nw > cap) {
                float *r = realloc(rows, (size_t)nw * d * sizeof(float));
                int32_t *l = realloc(lens, (size_t)nw * sizeof *l);
                if (r) rows = r;
                if (l) lens = l;
                if (!r || !l) {
                    st = se_error_set(err, SE_ENOMEM, "cannot hold the %lld windows of a document", (long long)nw);
                    break;
                }
                cap = nw;
            }
            w0 = w, have = w_end - w < cap ? w_end - w : cap;
            if (have < nw) {
                st = se_error_set(err, SE_EIO, "%s: more windows than the index pass counted", J->docs_path);
                break;
            }
            if ((st = se_pread_full(sfd, rows, (size_t)have * d * sizeof(float), w0 * d * (int64_t)sizeof(float),
                                    J->store_path, err)))
                break;
        }
        for (int64_t k = 0; k < nw; k++) lens[k] = se_plan_doc_win(doc.n_tok, doc.is_text, J->win_len, J->stride, k, &start);
        se_assemble_combine(out, rows + (size_t)(w - w0) * d, lens, nw, d, o->pooling, sum);
        w += nw;
        if (o->normalize) se_l2_normalize(out, 1, d);
        if (o->out_f16) se_rows_to_f16((uint16_t *)(void *)(obuf + (size_t)n_out * d * es), out, (size_t)d);
        else memcpy(obuf + (size_t)n_out * d * es, out, (size_t)d * es);
        i++;
        if (++n_out == ASM_CHUNK) {
            st = se_pwrite_full(fd, obuf, (size_t)n_out * d * es, (int64_t)hlen + (i - n_out) * d * (int64_t)es, npy, err);
            n_out = 0;
        }
    }
    if (got < 0) st = SE_EIO;
    if (!st && n_out)
        st = se_pwrite_full(fd, obuf, (size_t)n_out * d * es, (int64_t)hlen + (i - n_out) * d * (int64_t)es, npy, err);
    if (!st && (i != J->doc_base + J->my_docs || w != w_end))
        st = se_error_set(err, SE_EIO, "%s: holds %lld documents, the index pass wrote %lld", J->docs_path,
                          (long long)(i - J->doc_base), (long long)J->my_docs);
    if (f) fclose(f);
    if (sfd >= 0) close(sfd);
    free(rows), free(lens), free(sum), free(obuf), free(out);
    return st;
}

se_status se_assemble_run(se_job *J, se_error *err)
{
    const se_grid *g = J->g;
    const se_embed_opts *o = J->o;
    int none = o->pooling == SE_POOL_NONE;
    double t0 = se_time_now();
    char npy[4200], hdr[256];
    se_job_path(npy, sizeof npy, o->output, none ? ".offsets.npy.tmp" : ".npy.tmp");
    int64_t shape[2] = {none ? J->n_docs + 1 : J->n_docs, J->d};
    size_t hlen = se_npy_header(hdr, sizeof hdr, none ? "<i8" : o->out_f16 ? "<f2" : "<f4", none ? 1 : 2, shape);
    int64_t bytes = none ? shape[0] * 8 : J->n_docs * J->d * (int64_t)(o->out_f16 ? 2 : sizeof(float));
    se_status st = se_job_create_sized(J, npy, hdr, hlen, bytes, err);
    if (st) return st;
    int fd = open(npy, O_RDWR);
    if (fd < 0) st = se_error_set(err, SE_EIO, "%s: cannot open for assembly: %s", npy, strerror(errno));
    if (!st) st = none ? write_offsets(J, fd, npy, hlen, err) : combine_rows(J, fd, npy, hlen, err);
    /* every rank's rows durable before rank 0 renames the file into place */
    if (!st) st = se_fd_sync(fd, npy, err);
    se_status cs = se_fd_close(&fd, npy, st ? NULL : err);
    if (!st) st = cs;
    J->t_assemble = se_time_now() - t0;
    return se_dist_agree(g->world, st, err);
}
