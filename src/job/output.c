/* The output files: PREFIX.ids.txt from the ranks' parts, PREFIX.meta.json,
 * and the renames into the final names, meta.json (the mark of a complete
 * job) last, each followed by an fsync of the directory. */
#include <errno.h>
#include <fcntl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job/embed_internal.h"
#include "shardenc/kernels.h"

void se_job_path(char *buf, size_t cap, const char *prefix, const char *suffix)
{
    snprintf(buf, cap, "%s%s", prefix, suffix);
}

se_status se_job_create_sized(const se_job *J, const char *path, const char *hdr, size_t hlen, int64_t bytes,
                            se_error *err)
{
    se_status st = SE_OK;
    if (J->g->world_rank == 0) {
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) st = se_error_set(err, SE_EIO, "%s: cannot create: %s", path, strerror(errno));
        if (!st && hlen) st = se_pwrite_full(fd, hdr, hlen, 0, path, err);
        if (!st && ftruncate(fd, (off_t)(hlen + (size_t)bytes)) != 0)
            st = se_error_set(err, SE_EIO, "%s: cannot size: %s", path, strerror(errno));
        se_status cs = se_fd_close(&fd, path, st ? NULL : err);
        if (!st) st = cs;
    }
    return se_dist_agree(J->g->world, st, err);
}

/* Output bytes buffered for one pwrite; with fd < 0 only counted. */
typedef struct {
    int fd;
    const char *path;
    int64_t at; /* file offset of buf[0] */
    char *buf;
    size_t n, cap;
} ids_out;

static se_status ids_flush(ids_out *o, se_error *err)
{
    se_status st = o->fd >= 0 && o->n ? se_pwrite_full(o->fd, o->buf, o->n, o->at, o->path, err) : SE_OK;
    o->at += (int64_t)o->n, o->n = 0;
    return st;
}

static se_status ids_put(ids_out *o, const char *p, size_t k, se_error *err)
{
    se_status st = o->n + k > o->cap ? ids_flush(o, err) : SE_OK;
    if (st) return st;
    if (k > o->cap) { /* a line longer than the buffer goes on its own */
        st = o->fd >= 0 ? se_pwrite_full(o->fd, p, k, o->at, o->path, err) : SE_OK;
        o->at += (int64_t)k;
        return st;
    }
    memcpy(o->buf + o->n, p, k);
    o->n += k;
    return SE_OK;
}

/* This rank's part of ids.txt: its units in file order, each from its
 * PREFIX.ids.part<r>; a document without an id was written as "\L<line in
 * its unit>" and becomes FILE:LINE here. From offset o->at on; with fd < 0
 * it only counts the bytes (the first pass, for the offsets). */
static se_status put_ids(se_job *J, ids_out *o, se_error *err)
{
    char part[4200], name[4400];
    snprintf(part, sizeof part, "%s.ids.part%d", J->o->output, J->g->world_rank);
    FILE *p = fopen(part, "rb");
    se_status st = p ? SE_OK : se_error_set(err, SE_EIO, "%s: cannot open: %s", part, strerror(errno));
    char *line = NULL, *esc = malloc(2 * sizeof name + 2);
    size_t cap = 0;
    if (!st && !esc) st = se_error_set(err, SE_ENOMEM, "cannot allocate");
    for (int u = 0; u < J->n_units && !st; u++) {
        const se_unit *un = &J->units[u];
        if (un->owner != J->g->world_rank) continue;
        for (int64_t left = un->id_bytes; left > 0 && !st;) {
            ssize_t k = getline(&line, &cap, p);
            if (k <= 0) {
                st = se_error_set(err, SE_EIO, "%s: ends early", part);
                break;
            }
            left -= k;
            if (k > 2 && line[0] == '\\' && line[1] == 'L') {
                snprintf(name, sizeof name, "%s:%lld", J->src[un->src].path, atoll(line + 2) + (long long)un->line_base);
                st = ids_put(o, esc, se_job_escape_id(esc, name), err);
            } else {
                st = ids_put(o, line, (size_t)k, err);
            }
        }
    }
    if (!st) st = ids_flush(o, err);
    free(line), free(esc);
    if (p) fclose(p);
    return st;
}

/* ids.txt, collective: every rank converts its own part (a first pass
 * counts its bytes, an exscan gives its offset) and writes it in place, so
 * no rank reads the others' ids and the merge runs in parallel. */
static se_status write_ids(se_job *J, se_error *err)
{
    const se_grid *g = J->g;
    char out[4200];
    se_job_path(out, sizeof out, J->o->output, ".ids.txt.tmp");
    ids_out o = {.fd = -1, .path = out, .cap = 1 << 20};
    o.buf = malloc(o.cap);
    se_status st = o.buf ? put_ids(J, &o, err) : se_error_set(err, SE_ENOMEM, "cannot allocate");
    int64_t mine = o.at, before = 0, total = 0;
    if ((st = se_dist_agree(g->world, st, err))) goto done;
    st = se_dist_exscan_i64(&mine, &before, 1, g->world, err);
    if (!st) st = se_dist_allreduce_i64(&mine, &total, 1, MPI_SUM, g->world, err);
    st = se_dist_agree(g->world, st, err);
    if (!st) st = se_job_create_sized(J, out, NULL, 0, total, err);
    if (st) goto done;
    o.at = before, o.n = 0;
    if (mine > 0) {
        o.fd = open(out, O_RDWR);
        if (o.fd < 0) st = se_error_set(err, SE_EIO, "%s: cannot open: %s", out, strerror(errno));
        if (!st) st = put_ids(J, &o, err);
        if (!st && o.at != before + mine) st = se_error_set(err, SE_EIO, "%s: ids changed between passes", out);
        if (!st) st = se_fd_sync(o.fd, out, err); /* durable before rank 0 renames it */
        se_status cs = se_fd_close(&o.fd, out, st ? NULL : err);
        if (!st) st = cs;
    }
    st = se_dist_agree(g->world, st, err);
done:
    free(o.buf);
    return st;
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static const char *window_rule(se_pooling p)
{
    switch (p) {
    case SE_POOL_MAX: return "element-wise max over the windows' max rows = the max over all token states of all windows";
    case SE_POOL_MEAN:
        return "token-count-weighted mean of the windows' mean rows = the mean over every token of every window "
               "(overlap tokens once per window, each window's [CLS] and [SEP] included)";
    case SE_POOL_CLS: return "token-count-weighted mean of the windows' [CLS] states";
    default: return "none: every window's token states, in document order";
    }
}

/* Per group: tokens, batches, busy s, syncs, sync s, wait s (waiting for work). */
#define SE_GROUP_FIGS 6
/* per rank: those, then its peak resident memory (bytes) */
#define SE_RANK_FIGS (SE_GROUP_FIGS + 1)

/* Peak resident set of this process (VmHWM, Linux /proc), bytes; 0 if unknown. */
static double peak_rss(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = strtod(line + 6, NULL);
    if (f) fclose(f);
    return kb * 1024;
}

static se_status write_meta(se_job *J, const double *group_fig, const double *rss, double total, se_error *err)
{
    const se_embed_opts *o = J->o;
    const se_grid *g = J->g;
    char path[4200];
    se_job_path(path, sizeof path, o->output, ".meta.json.tmp");
    FILE *f = fopen(path, "wb");
    if (!f) return se_error_set(err, SE_EIO, "%s: cannot create: %s", path, strerror(errno));
    fprintf(f, "{\n  \"shardenc_version\": \"%s\",\n  \"complete\": true,\n  \"fingerprint\": \"%016llx\",\n",
            SE_VERSION, (unsigned long long)se_fp_digest(&J->fp));
    fprintf(f, "  \"model\": ");
    json_str(f, o->model_dir);
    fprintf(f, ",\n  \"model_config\": {\"model_type\": ");
    json_str(f, J->cfg.model_type);
    fprintf(f, ", \"hidden_size\": %d, \"num_attention_heads\": %d, \"num_hidden_layers\": %d, "
               "\"intermediate_size\": %d, \"hidden_act\": \"%s\", \"max_position_embeddings\": %d},\n",
            J->cfg.d_model, J->cfg.n_heads, J->cfg.n_layers, J->cfg.d_ff, se_act_name(J->cfg.act), J->cfg.max_pos);
    fprintf(f, "  \"input\": ");
    json_str(f, J->src[0].path);
    fprintf(f, ",\n  \"inputs\": {\"files\": %d, \"bytes\": %lld, \"list\": [", J->n_src, (long long)J->in_bytes);
    for (int i = 0; i < J->n_src; i++) {
        fprintf(f, "%s\n    {\"file\": ", i ? "," : "");
        json_str(f, J->src[i].path);
        fprintf(f, ", \"bytes\": %lld, \"format\": \"%s\", \"compression\": \"%s\"}", (long long)J->src[i].size,
                J->src[i].tsv ? "tsv" : "jsonl", se_comp_name(J->src[i].comp));
    }
    fprintf(f, "\n  ]},\n  \"output_dtype\": \"%s\"", J->o->out_f16 ? "f16" : "f32");
    fprintf(f, ",\n  \"output_prefix\": ");
    json_str(f, o->output);
    fprintf(f,
            ",\n  \"options\": {\"pooling\": \"%s\", \"normalize\": %s, \"window_tokens\": %lld, \"stride\": %lld, "
            "\"batch_tokens\": %lld, \"tp\": %d, \"sp\": %s, \"on_error\": \"%s\"},\n",
            o->head ? o->head->pooling_name : se_pooling_name(o->pooling), o->normalize ? "true" : "false",
            (long long)J->win_len, (long long)J->stride, (long long)J->batch_tokens, g->tp_size,
            o->sp ? "true" : "false", o->on_error_fail ? "fail" : "skip");
    if (o->head) {
        fprintf(f, "  \"head\": ");
        json_str(f, o->head->desc);
        fprintf(f, ",\n");
    }
    /* a head's rows (pooling, Dense, Normalize per window) combine as a token-weighted mean */
    fprintf(f, "  \"window_pooling\": \"%s\",\n", window_rule(o->pooling));
    fprintf(f, "  \"ids_escaping\": \"one id a line; backslash, newline and carriage return in an id are written "
               "as \\\\\\\\, \\\\n, \\\\r\",\n");
    fprintf(f,
            "  \"counts\": {\"lines\": %lld, \"blank_lines\": %lld, \"documents\": %lld, \"windows\": %lld, "
            "\"tokens\": %lld, \"batches\": %lld, \"batches_resumed\": %lld, \"skipped_lines\": %lld, "
            "\"empty_documents\": %lld, \"invalid_utf8_replaced\": %lld, \"framed_id_documents\": %lld},\n",
            (long long)J->n_lines, (long long)J->n_blank, (long long)J->n_docs, (long long)J->n_win,
            (long long)J->n_tokens_total, (long long)J->n_batches, (long long)J->n_done_before,
            (long long)J->n_skips_total, (long long)J->n_empty, (long long)J->n_invalid_utf8, (long long)J->n_framed);
    fprintf(f, "  \"empty_document_result\": \"a zero row (pre-tokenised input with no ids); text input with no tokens "
               "is encoded as [CLS] [SEP]\",\n");
    fprintf(f, "  \"skipped\": [");
    for (int64_t i = 0; i < J->n_skips; i++) {
        fprintf(f, "%s\n    {\"file\": ", i ? "," : "");
        json_str(f, J->src[J->skips[i].src].path);
        fprintf(f, ", \"line\": %lld, \"reason\": ", (long long)J->skips[i].line);
        json_str(f, J->skips[i].reason);
        fputc('}', f);
    }
    fprintf(f, "%s],\n", J->n_skips ? "\n  " : "");
    fprintf(f, "  \"grid\": {\"world_size\": %d, \"tp\": %d, \"dp\": %d, \"threads_per_rank\": %d},\n", g->world_size,
            g->tp_size, g->dp_size, omp_get_max_threads());
    /* the pieces of the index pass (files, byte ranges, runs of zstd frames) */
    fprintf(f, "  \"index_units\": %d,\n", J->n_units);
    fprintf(f, "  \"compute\": {\"isa\": \"%s\", \"gemm\": \"%s\", \"precision\": \"%s\", \"precision_path\": \"%s\", "
               "\"deterministic\": %s, \"gemm_library\": ",
            se_isa_name(se_isa_current()), se_gemm_name(se_gemm_current()), se_precision_name(se_gemm_precision()),
            se_gemm_precision_path(), se_gemm_deterministic() ? "true" : "false");
    json_str(f, se_gemm_info());
    fprintf(f, "},\n");
    fprintf(f, "  \"groups\": [");
    double mean = 0, mx = 0, wait_share = 0;
    for (int i = 0; i < g->dp_size; i++) {
        const double *v = group_fig + SE_GROUP_FIGS * i;
        fprintf(f,
                "%s\n    {\"group\": %d, \"tokens\": %.0f, \"batches\": %.0f, \"busy_seconds\": %.3f, "
                "\"syncs\": %.0f, \"sync_seconds\": %.3f, \"wait_seconds\": %.3f}",
                i ? "," : "", i, v[0], v[1], v[2], v[3], v[4], v[5]);
        mean += v[2] / g->dp_size;
        if (v[2] > mx) mx = v[2];
        if (v[2] > 0 && v[5] / v[2] > wait_share) wait_share = v[5] / v[2];
    }
    /* memory per rank (issue 13): the index, plan and ids stay on disk, so
     * this is the model, its workspace and the batch list */
    double rss_max = 0;
    fprintf(f, "\n  ],\n  \"memory\": {\"peak_rss_mib_per_rank\": [");
    for (int r = 0; r < g->world_size; r++) {
        fprintf(f, "%s%.1f", r ? ", " : "", rss[r] / (1 << 20));
        if (rss[r] > rss_max) rss_max = rss[r];
    }
    fprintf(f, "], \"peak_rss_mib_max\": %.1f, \"documents_per_rank\": %.0f},", rss_max / (1 << 20),
            (double)J->n_docs / g->world_size);
    fprintf(f, "\n  \"slowest_group_busy_over_mean\": %.4f,\n  \"max_wait_over_busy\": %.4f,\n",
            mean > 0 ? mx / mean : 1.0, wait_share);
    fprintf(f,
            "  \"timings\": {\"index_seconds\": %.3f, \"plan_file_seconds\": %.3f, \"encode_seconds\": %.3f, "
            "\"assemble_seconds\": %.3f, "
            "\"total_seconds\": %.3f, \"tokens_per_s\": %.1f, \"index_mb_per_s_per_rank\": %.2f}\n}\n",
            J->t_index, J->t_plan, J->t_encode, J->t_assemble, total,
            J->t_encode > 0 ? (double)J->n_tokens_total / J->t_encode : 0.0, se_corpus_mb_per_s(J));
    return se_stream_close(f, path, SE_OK, err);
}

static se_status rename_tmp(const char *prefix, const char *suffix, se_error *err)
{
    char a[4200], b[4200];
    snprintf(b, sizeof b, "%s%s", prefix, suffix);
    snprintf(a, sizeof a, "%s%s.tmp", prefix, suffix);
    return se_file_rename(a, b, err);
}

se_status se_output_finish(se_job *J, double t_start, se_error *err)
{
    const se_grid *g = J->g;
    const se_embed_opts *o = J->o;
    /* per-group figures for meta.json */
    double mine[SE_RANK_FIGS] = {(double)J->my_tokens, (double)J->my_batches, J->busy,
                                 (double)J->n_syncs,   J->t_sync,           J->t_wait, peak_rss()};
    double *all = g->world_rank == 0 ? calloc((size_t)g->world_size * (SE_RANK_FIGS + 1), sizeof(double)) : NULL;
    se_status st = g->world_rank == 0 && !all ? se_error_set(err, SE_ENOMEM, "cannot allocate group figures") : SE_OK;
    void *got = NULL;
    int64_t bytes = 0;
    se_error merr;
    se_status ms = se_dist_gatherv_bytes(mine, sizeof mine, &got, &bytes, 0, g->world, &merr);
    if (!st && ms) st = ms, *err = merr;
    st = se_dist_agree(g->world, st, err);
    if (!st) st = write_ids(J, err);
    if (!st && g->world_rank == 0) {
        memcpy(all, got, (size_t)bytes);
        double *rss = all + (size_t)g->world_size * SE_RANK_FIGS; /* its spare row */
        for (int r = 0; r < g->world_size; r++) rss[r] = all[SE_RANK_FIGS * r + SE_GROUP_FIGS];
        /* keep the TP leaders' figures: one row per group */
        for (int i = 0; i < g->dp_size; i++)
            for (int k = 0; k < SE_GROUP_FIGS; k++)
                all[SE_GROUP_FIGS * i + k] = all[SE_RANK_FIGS * (i * g->tp_size) + k];
        st = write_meta(J, all, rss, se_time_now() - t_start, err);
        /* final names only now; meta.json, the mark of a complete job, last */
        if (!st && o->pooling == SE_POOL_NONE) st = rename_tmp(o->output, ".tokens.npy", err);
        if (!st) st = rename_tmp(o->output, o->pooling == SE_POOL_NONE ? ".offsets.npy" : ".npy", err);
        if (!st) st = rename_tmp(o->output, ".ids.txt", err);
        if (!st) st = rename_tmp(o->output, ".meta.json", err);
        if (!st) {
            unlink(J->journal_path);
            if (o->pooling != SE_POOL_NONE) unlink(J->store_path);
        }
    }
    free(got), free(all);
    return se_dist_agree(g->world, st, err);
}

int se_output_is_complete(const se_job *J)
{
    char path[4200], want[64];
    se_job_path(path, sizeof path, J->o->output, ".meta.json");
    char *text = NULL;
    size_t len = 0;
    se_error e;
    if (se_read_file(path, 1 << 24, &text, &len, &e)) return 0;
    snprintf(want, sizeof want, "\"fingerprint\": \"%016llx\"", (unsigned long long)se_fp_digest(&J->fp));
    int ok = strstr(text, "\"complete\": true") && strstr(text, want);
    free(text);
    return ok ? 1 : 0;
}
