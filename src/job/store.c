/* The row store and its journal. Rows are pwritten in place (each batch owns
 * its rows, so writers never overlap); a group leader keeps its finished
 * batches pending until a flush: fdatasync of the store, and only then the
 * batches' journal slots, and fdatasync of the journal. Flushes are grouped
 * (every sync_batches batches or sync_seconds seconds, and at the end): the
 * cost is measured in README.md. A batch the journal names is durable; a
 * batch done but not yet flushed when the job dies is simply encoded again.
 *
 *   PREFIX.windows.tmp      float32 [n_windows, d] pooled windows (pooled modes)
 *   PREFIX.tokens.npy.tmp   the final token-state file, filled in place (none)
 *   PREFIX.journal          see journal.c */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "job/embed_internal.h"
#include "shardenc/kernels.h"

/* The model and tokenizer files a job may read: config and tokenizer JSON,
 * vocabularies and merges (.txt), weights (.safetensors), SentencePiece
 * (.model), in the folder and one level of sub-folders (sentence-transformers
 * modules such as 1_Pooling/config.json). */
static int wanted(const char *name)
{
    static const char *const ext[] = {".json", ".txt", ".safetensors", ".model"};
    size_t n = strlen(name);
    if (name[0] == '.') return 0;
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t k = strlen(ext[i]);
        if (n > k && !strcmp(name + n - k, ext[i])) return 1;
    }
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const se_fp_file *)a)->name, ((const se_fp_file *)b)->name);
}

static se_status list_model_files(const char *dir, const char *sub, se_fingerprint *fp, se_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s%s%s", dir, sub[0] ? "/" : "", sub);
    DIR *dh = opendir(path);
    if (!dh) return sub[0] ? SE_OK : se_error_set(err, SE_EIO, "%s: cannot list: %s", dir, strerror(errno));
    struct dirent *e;
    se_status st = SE_OK;
    while (!st && (e = readdir(dh))) {
        if (e->d_name[0] == '.') continue;
        char full[4500], rel[300];
        snprintf(full, sizeof full, "%s/%s", path, e->d_name);
        snprintf(rel, sizeof rel, "%s%s%s", sub, sub[0] ? "/" : "", e->d_name);
        struct stat sb;
        if (stat(full, &sb) != 0) continue;
        if (S_ISDIR(sb.st_mode) && !sub[0]) st = list_model_files(dir, e->d_name, fp, err);
        else if (S_ISREG(sb.st_mode) && wanted(e->d_name)) {
            if (fp->n_files >= SE_FP_MAX_FILES - 1) /* the last slot is the corpus */
                st = se_error_set(err, SE_EUNSUPPORTED, "%s: more than %d model files", dir, SE_FP_MAX_FILES - 1);
            else if (strlen(rel) >= sizeof fp->files[0].name)
                st = se_error_set(err, SE_EUNSUPPORTED, "%s/%s: file name too long", dir, rel);
            else
                memcpy(fp->files[fp->n_files++].name, rel, strlen(rel) + 1);
        }
    }
    closedir(dh);
    return st;
}

/* Collective: the fingerprint of this run. Files are hashed in parallel
 * (file i on rank i % P), their hashes summed across ranks. */
se_status se_store_fingerprint(se_job *J, se_error *err)
{
    const se_embed_opts *o = J->o;
    se_fingerprint *fp = &J->fp;
    memset(fp, 0, sizeof *fp);
    snprintf(fp->version, sizeof fp->version, "%s", SE_VERSION);
    snprintf(fp->options, sizeof fp->options,
             "pooling=%s normalize=%d window=%lld stride=%lld batch_tokens=%lld tp=%d sp=%d on_error=%s",
             o->head ? o->head->pooling_name : se_pooling_name(o->pooling), o->normalize, (long long)J->win_len, (long long)J->stride,
             (long long)J->batch_tokens, J->g->tp_size, o->sp && J->g->tp_size > 1, o->on_error_fail ? "fail" : "skip");
    /* the sentence-transformers head as resolved (modes, Dense, Normalize, overrides) and the prompt */
    size_t ol = strlen(fp->options);
    /* the GEMM backend, --precision and --deterministic move the bits too */
    snprintf(fp->options + ol, sizeof fp->options - ol, " gemm=%s precision=%s deterministic=%d",
             se_gemm_name(se_gemm_current()), se_precision_name(se_gemm_precision()), se_gemm_deterministic());
    ol = strlen(fp->options);
    snprintf(fp->options + ol, sizeof fp->options - ol, " head=%016llx prompt=%016llx",
             o->head ? (unsigned long long)se_fnv1a64(SE_FNV_INIT, o->head->desc, strlen(o->head->desc)) : 0ULL,
             o->prompt ? (unsigned long long)se_fnv1a64(SE_FNV_INIT, o->prompt, strlen(o->prompt)) : 0ULL);
    /* the field mapping and the output type */
    uint64_t fh = se_fnv1a64(SE_FNV_INIT, o->id_field ? o->id_field : "id", strlen(o->id_field ? o->id_field : "id") + 1);
    for (int i = 0; i < o->n_text_fields; i++) fh = se_fnv1a64(fh, o->text_fields[i], strlen(o->text_fields[i]) + 1);
    fh = se_fnv1a64(fh, "|", 1);
    for (int i = 0; i < o->n_tsv_columns; i++) fh = se_fnv1a64(fh, o->tsv_columns[i], strlen(o->tsv_columns[i]) + 1);
    ol = strlen(fp->options);
    snprintf(fp->options + ol, sizeof fp->options - ol, " fields=%016llx dtype=%s", (unsigned long long)fh,
             o->out_f16 ? "f16" : "f32");
    fp->plan_hash = se_plan_hash(J->hist, J->n_len, J->batches, J->n_batches);
    fp->n_batches = J->n_batches;
    se_status st = list_model_files(o->model_dir, "", fp, err);
    if (!st) qsort(fp->files, (size_t)fp->n_files, sizeof fp->files[0], cmp_name);
    int64_t h[SE_FP_MAX_FILES] = {0}, sum[SE_FP_MAX_FILES];
    for (int i = 0; !st && i < fp->n_files; i++) {
        if (i % J->g->world_size != J->g->world_rank) continue;
        char full[4400];
        snprintf(full, sizeof full, "%s/%s", o->model_dir, fp->files[i].name);
        uint64_t v;
        st = se_hash_file(full, &v, err);
        h[i] = (int64_t)v;
    }
    st = se_dist_agree(J->g->world, st, err);
    if (!st) st = se_dist_allreduce_i64(h, sum, SE_FP_MAX_FILES, MPI_SUM, J->g->world, err);
    for (int i = 0; !st && i < fp->n_files; i++) fp->files[i].hash = (uint64_t)sum[i];
    if (!st) {
        se_fp_file *c = &fp->files[fp->n_files++];
        if (J->n_src == 1) snprintf(c->name, sizeof c->name, "the input %.90s", J->src[0].path);
        else snprintf(c->name, sizeof c->name, "the %d inputs (%.70s, ...)", J->n_src, J->src[0].path);
        c->hash = J->corpus_hash;
    }
    return se_dist_agree(J->g->world, st, err);
}

se_status se_store_open(se_job *J, se_error *err)
{
    const se_embed_opts *o = J->o;
    const se_grid *g = J->g;
    int none = o->pooling == SE_POOL_NONE;
    se_job_path(J->journal_path, sizeof J->journal_path, o->output, ".journal");
    se_job_path(J->store_path, sizeof J->store_path, o->output, none ? ".tokens.npy.tmp" : ".windows.tmp");
    se_status st = SE_OK;
    int64_t rows = none ? J->n_tokens_total : J->n_win;
    char hdr[256];
    int64_t shape[2] = {rows, J->d};
    /* pooling none fills the final file in place, so in the output's dtype */
    J->store_hdr = none ? (int64_t)se_npy_header(hdr, sizeof hdr, o->out_f16 ? "<f2" : "<f4", 2, shape) : 0;
    int64_t store_bytes = J->store_hdr + rows * J->d * (none && o->out_f16 ? 2 : (int64_t)sizeof(float));
    if (g->world_rank == 0) {
        int found = 0;
        if (o->resume) st = se_journal_read(J->journal_path, &J->fp, J->done, &J->n_done_before, &found, err);
        if (!st && found && J->n_done_before > 0 && none && access(J->store_path, F_OK) != 0) {
            /* killed between the renames of a finished job: the token file
             * already has its final name, but meta.json does not say complete */
            char fin[4200];
            se_job_path(fin, sizeof fin, o->output, ".tokens.npy");
            if (access(fin, F_OK) == 0) st = se_file_rename(fin, J->store_path, err);
        }
        if (!st && found && J->n_done_before > 0) {
            struct stat sb;
            if (stat(J->store_path, &sb) != 0 || sb.st_size != store_bytes)
                st = se_error_set(err, SE_EFORMAT,
                                  "--resume: %s is missing or has the wrong size; rerun without --resume",
                                  J->store_path);
        }
        if (!st && o->resume && !found && !o->quiet)
            fprintf(stderr, "shardenc embed: --resume: no journal %s, starting the job\n", J->journal_path);
        if (!st && !(found && J->n_done_before > 0)) {
            /* Start over. The old journal goes first (and durably): it must
             * never outlive the rows it names. */
            J->n_done_before = 0;
            memset(J->done, 0, (size_t)J->n_batches);
            if (unlink(J->journal_path) != 0 && errno != ENOENT)
                st = se_error_set(err, SE_EIO, "%s: cannot remove: %s", J->journal_path, strerror(errno));
            if (!st) st = se_dir_sync(J->journal_path, err);
            int fd = st ? -1 : open(J->store_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
            if (!st && fd < 0) st = se_error_set(err, SE_EIO, "%s: cannot create: %s", J->store_path, strerror(errno));
            if (!st && ftruncate(fd, store_bytes) != 0)
                st = se_error_set(err, SE_EIO, "%s: cannot size to %lld bytes: %s", J->store_path,
                                  (long long)store_bytes, strerror(errno));
            if (!st && none) st = se_pwrite_full(fd, hdr, (size_t)J->store_hdr, 0, J->store_path, err);
            if (!st) st = se_fd_sync(fd, J->store_path, err);
            se_status cs = se_fd_close(&fd, J->store_path, st ? NULL : err);
            if (!st) st = cs;
            if (!st) st = se_journal_create(J->journal_path, &J->fp, err);
        }
    }
    st = se_dist_agree(g->world, st, err);
    if (!st) st = se_dist_bcast(J->done, J->n_batches, 0, g->world, err);
    if (!st) st = se_dist_bcast(&J->n_done_before, sizeof J->n_done_before, 0, g->world, err);
    st = se_dist_agree(g->world, st, err);
    if (st) return st;
    if (g->tp_rank == 0) {
        J->store_fd = open(J->store_path, O_RDWR);
        if (J->store_fd < 0) st = se_error_set(err, SE_EIO, "%s: cannot open: %s", J->store_path, strerror(errno));
        J->journal_fd = st ? -1 : open(J->journal_path, O_RDWR);
        if (!st && J->journal_fd < 0)
            st = se_error_set(err, SE_EIO, "%s: cannot open: %s", J->journal_path, strerror(errno));
    }
    return se_dist_agree(g->world, st, err);
}

se_status se_store_flush(se_job *J, se_pending *p, se_error *err)
{
    p->last = se_time_now();
    if (p->n == 0) return SE_OK;
    double t0 = se_time_now();
    /* 1. the rows, 2. the slots that name them, 3. the slots */
    se_status st = se_fd_sync(J->store_fd, J->store_path, err);
    for (int64_t i = 0; !st && i < p->n; i++)
        st = se_journal_mark(J->journal_fd, J->journal_path, &J->fp, p->batch[i], err);
    if (!st) st = se_fd_sync(J->journal_fd, J->journal_path, err);
    if (!st) p->n = 0;
    J->t_sync += se_time_now() - t0;
    J->n_syncs++;
    return st;
}

se_status se_store_close(se_job *J, se_error *err)
{
    se_status st = se_fd_close(&J->store_fd, J->store_path, err);
    se_status js = se_fd_close(&J->journal_fd, J->journal_path, st ? NULL : err);
    return st ? st : js;
}
