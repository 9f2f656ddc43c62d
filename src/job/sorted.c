/* The windows in sorted order, on disk: PREFIX.plan.tmp holds one
 * se_planrec per window at its position in the longest-first order (plan.c),
 * so a batch is one pread of consecutive records, on whichever rank draws it.
 *
 * Why a shared file and not memory: every rank used to hold every window
 * (82 bytes per document per rank measured, not falling with the ranks).
 * Here each rank writes only its own windows, and knows their positions
 * without seeing anyone else's: the windows of length L take positions
 * start[L] .. start[L] + hist[L) in document order, and the earlier ranks
 * hold the earlier documents (corpus.c), so this rank's k-th window of
 * length L goes to start[L] + hist_before[L] + k. Memory: the histograms and
 * a write buffer; disk: sizeof(se_planrec) bytes per window, removed at the
 * end. The file is rebuilt by every run (the index pass runs every time),
 * so it needs no durability; it lives beside the output, which every rank
 * sees (embed.c probes that). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job/embed_internal.h"

#define WRITE_BUF 16384 /* records buffered before they are sorted and written */

typedef struct {
    int64_t pos;
    se_planrec r;
} placed;

static int cmp_pos(const void *a, const void *b)
{
    int64_t x = ((const placed *)a)->pos, y = ((const placed *)b)->pos;
    return x < y ? -1 : x > y;
}

/* Sorts the buffer by position and writes each run of consecutive positions
 * with one pwrite: a rank's windows of one length are consecutive, so a
 * flush costs about one write per length present in the buffer. */
static se_status flush(int fd, const char *path, placed *buf, int64_t n, se_planrec *run, se_error *err)
{
    qsort(buf, (size_t)n, sizeof *buf, cmp_pos);
    se_status st = SE_OK;
    for (int64_t i = 0; i < n && !st;) {
        int64_t j = i;
        while (j < n && buf[j].pos == buf[i].pos + (j - i)) run[j - i] = buf[j].r, j++;
        st = se_pwrite_full(fd, run, (size_t)(j - i) * sizeof *run, buf[i].pos * (int64_t)sizeof *run, path, err);
        i = j;
    }
    return st;
}

/* This rank's windows, document by document, to their sorted positions. */
static se_status place(se_job *J, int fd, se_error *err)
{
    int64_t *next = malloc((size_t)(J->n_len + 1) * sizeof *next);
    placed *buf = malloc(WRITE_BUF * sizeof *buf);
    se_planrec *run = malloc(WRITE_BUF * sizeof *run);
    FILE *f = NULL;
    se_status st = !next || !buf || !run ? se_error_set(err, SE_ENOMEM, "cannot allocate the plan writer") : SE_OK;
    if (!st) {
        se_plan_class_starts(J->hist, J->n_len, next);
        for (int64_t L = 0; L < J->n_len; L++) next[L] += J->hist_before[L];
        st = se_corpus_docs_open(J, &f, err);
    }
    int64_t nd = 0, row = J->win_base, tok = J->tok_base, nb = 0, me = J->g->world_rank;
    se_docrec d;
    int got = 0;
    while (!st && (got = se_corpus_docs_next(J, f, &d, err)) == 1) {
        nd++;
        int64_t nw = se_plan_doc_nwin(d.n_tok, d.is_text, J->win_len, J->stride);
        int spill = J->src[d.src].comp == SE_COMP_NONE ? -1 : (int)me;
        for (int64_t k = 0; k < nw && !st; k++) {
            placed *p = &buf[nb++];
            int64_t start;
            int32_t len = se_plan_doc_win(d.n_tok, d.is_text, J->win_len, J->stride, k, &start);
            p->pos = next[len]++;
            p->r = (se_planrec){.row = row++, .tok_off = tok, .offset = d.offset, .line = d.line, .start = start,
                                .n_tok = d.n_tok, .bytes = d.len, .src = d.src, .len = len, .spill = spill,
                                .flags = (d.is_text ? SE_WIN_TEXT : 0) | (k == nw - 1 ? SE_WIN_LAST : 0)};
            tok += len;
            if (nb == WRITE_BUF) {
                st = flush(fd, J->plan_path, buf, nb, run, err), nb = 0;
                if (!st && se_job_stopping(J))
                    st = se_error_set(err, SE_EINTERRUPTED, "interrupted by a signal while writing %s", J->plan_path);
            }
        }
    }
    if (got < 0) st = SE_EIO;
    if (!st && nb) st = flush(fd, J->plan_path, buf, nb, run, err);
    if (!st && (nd != J->my_docs || row != J->win_base + J->my_win))
        st = se_error_set(err, SE_EIO, "%s: holds %lld documents, the index pass wrote %lld", J->docs_path,
                          (long long)nd, (long long)J->my_docs);
    if (f) fclose(f);
    free(next), free(buf), free(run);
    return st;
}

se_status se_sorted_write(se_job *J, se_error *err)
{
    const se_grid *g = J->g;
    double t0 = se_time_now();
    se_job_path(J->plan_path, sizeof J->plan_path, J->o->output, ".plan.tmp");
    se_status st = se_job_create_sized(J, J->plan_path, NULL, 0, J->n_win * (int64_t)sizeof(se_planrec), err);
    if (st) return st;
    if (J->my_win > 0) {
        int fd = open(J->plan_path, O_WRONLY);
        if (fd < 0) st = se_error_set(err, SE_EIO, "%s: cannot open: %s", J->plan_path, strerror(errno));
        if (!st) st = place(J, fd, err);
        /* closed before the others open it to read: close-to-open on NFS */
        se_status cs = se_fd_close(&fd, J->plan_path, st ? NULL : err);
        if (!st) st = cs;
    }
    if ((st = se_dist_agree(g->world, st, err))) return st;
    J->plan_fd = open(J->plan_path, O_RDONLY);
    if (J->plan_fd < 0) st = se_error_set(err, SE_EIO, "%s: cannot open: %s", J->plan_path, strerror(errno));
    J->t_plan = se_time_now() - t0;
    return se_dist_agree(g->world, st, err);
}

se_status se_sorted_read(const se_job *J, const se_batch *B, se_planrec *out, se_error *err)
{
    return se_pread_full(J->plan_fd, out, (size_t)B->count * sizeof *out, B->first * (int64_t)sizeof *out,
                         J->plan_path, err);
}
