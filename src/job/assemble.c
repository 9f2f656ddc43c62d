/* Windows -> documents. Pooled modes: a document's row combines its windows'
 * pooled rows (se_assemble_combine), then L2 if asked; every rank assembles a
 * contiguous range of documents into PREFIX.npy.tmp. Pooling none: the token
 * file is complete already; only the offsets are written. */
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

static se_status write_offsets(se_job *J, const char *npy, se_error *err)
{
    int64_t *off = malloc((size_t)(J->n_docs + 1) * sizeof *off);
    if (!off) return se_error_set(err, SE_ENOMEM, "cannot allocate offsets");
    int64_t w = 0, tok = 0;
    for (int64_t i = 0; i < J->n_docs; i++) {
        off[i] = tok;
        while (w < J->n_win && J->win[w].doc == i) tok += J->win[w++].len;
    }
    off[J->n_docs] = tok;
    int64_t shape[1] = {J->n_docs + 1};
    se_status st = se_npy_write(npy, "<i8", 1, shape, off, sizeof(int64_t), err);
    free(off);
    return st;
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

se_status se_assemble_run(se_job *J, se_error *err)
{
    const se_grid *g = J->g;
    const se_embed_opts *o = J->o;
    int d = J->d;
    double t0 = se_time_now();
    se_status st = SE_OK;
    char npy[4200];
    se_job_path(npy, sizeof npy, o->output, o->pooling == SE_POOL_NONE ? ".offsets.npy.tmp" : ".npy.tmp");
    if (o->pooling == SE_POOL_NONE) {
        if (g->world_rank == 0) st = write_offsets(J, npy, err);
        J->t_assemble = se_time_now() - t0;
        return se_dist_agree(g->world, st, err);
    }
    char hdr[256];
    int64_t shape[2] = {J->n_docs, d};
    size_t es = o->out_f16 ? 2 : sizeof(float); /* bytes per output element */
    size_t hlen = se_npy_header(hdr, sizeof hdr, o->out_f16 ? "<f2" : "<f4", 2, shape);
    if (g->world_rank == 0) {
        int fd = open(npy, O_RDWR | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) st = se_error_set(err, SE_EIO, "%s: cannot create: %s", npy, strerror(errno));
        if (!st) st = se_pwrite_full(fd, hdr, hlen, 0, npy, err);
        if (!st && ftruncate(fd, (off_t)(hlen + (size_t)J->n_docs * d * es)) != 0)
            st = se_error_set(err, SE_EIO, "%s: cannot size: %s", npy, strerror(errno));
        se_status cs = se_fd_close(&fd, npy, st ? NULL : err);
        if (!st) st = cs;
    }
    if ((st = se_dist_agree(g->world, st, err))) return st;
    /* every rank assembles a contiguous range of documents */
    int64_t d0, nd;
    se_split(J->n_docs, g->world_size, g->world_rank, &d0, &nd);
    int fd = open(npy, O_RDWR), sfd = open(J->store_path, O_RDONLY);
    if (fd < 0 || sfd < 0)
        st = se_error_set(err, SE_EIO, "%s: cannot open for assembly: %s", fd < 0 ? npy : J->store_path,
                          strerror(errno));
    /* the longest document's windows in one buffer */
    int64_t maxw = 1;
    for (int64_t w = 0, w0 = 0; w <= J->n_win; w++)
        if (w == J->n_win || (w > 0 && J->win[w].doc != J->win[w - 1].doc)) {
            if (w - w0 > maxw) maxw = w - w0;
            w0 = w;
        }
    float *rows = malloc((size_t)(maxw + 1) * (size_t)d * sizeof(float));
    uint16_t *half = malloc((size_t)d * sizeof *half);
    int32_t *lens = malloc((size_t)maxw * sizeof *lens);
    double *sum = malloc((size_t)d * sizeof(double));
    if (!st && (!rows || !lens || !sum || !half)) st = se_error_set(err, SE_ENOMEM, "cannot allocate assembly buffers");
    /* first window of d0: windows are in document order */
    int64_t lo = 0, hi = J->n_win;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (J->win[mid].doc < d0) lo = mid + 1;
        else hi = mid;
    }
    int64_t w = lo;
    float *out = rows + (size_t)maxw * d;
    for (int64_t i = d0; !st && i < d0 + nd; i++) {
        if ((i & 1023) == 0 && se_job_stopping(J)) {
            st = se_error_set(err, SE_EINTERRUPTED, "interrupted by a signal while assembling %s", npy);
            break;
        }
        int64_t w0 = w;
        while (w < J->n_win && J->win[w].doc == i) w++;
        if (w > w0)
            st = se_pread_full(sfd, rows, (size_t)(w - w0) * d * sizeof(float), w0 * d * (int64_t)sizeof(float),
                               J->store_path, err);
        for (int64_t k = w0; k < w; k++) lens[k - w0] = J->win[k].len;
        if (st) break;
        se_assemble_combine(out, rows, lens, w - w0, d, o->pooling, sum);
        if (o->normalize) se_l2_normalize(out, 1, d);
        if (o->out_f16) se_rows_to_f16(half, out, (size_t)d);
        st = se_pwrite_full(fd, o->out_f16 ? (const void *)half : (const void *)out, (size_t)d * es,
                            (int64_t)hlen + i * d * (int64_t)es, npy, err);
    }
    if (!st) st = se_fd_sync(fd, npy, err);
    se_status cs = se_fd_close(&fd, npy, st ? NULL : err);
    if (!st) st = cs;
    if (sfd >= 0) close(sfd);
    free(rows), free(lens), free(sum), free(half);
    J->t_assemble = se_time_now() - t0;
    return se_dist_agree(g->world, st, err);
}
