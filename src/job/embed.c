/* The embed job, orchestrated over its parts (embed_internal.h): index the
 * corpus in parallel, plan windows and length-sorted packed batches, open
 * the journal and row store (or resume them), let data-parallel groups draw
 * batches from the shared counter and encode them, assemble windows into
 * documents, and rename the outputs into place only when whole.
 *
 * Collectives never sit behind a branch on a local status: a rank that
 * failed still reaches the same calls, and every phase ends agreed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "job/embed_internal.h"

static se_status setup(se_job *J, se_error *err)
{
    const se_embed_opts *o = J->o;
    const se_grid *g = J->g;
    se_status st = se_model_load_config(o->model_dir, &J->cfg, err);
    if (!st && g->tp_size > J->cfg.n_heads)
        st = se_error_set(err, SE_EINVAL, "--tp %d exceeds the %d attention heads of %s", g->tp_size, J->cfg.n_heads,
                          o->model_dir);
    if (st) return st;
    J->d = o->head ? o->head->d_out : J->cfg.d_model;
    /* window length and stride; RoBERTa's positions start at padding_idx+1 */
    int64_t max_len = se_recipe_max_len(se_recipe_of(&J->cfg), &J->cfg);
    if (max_len > 0) {
        if (o->max_tokens > max_len)
            return se_error_set(err, SE_EINVAL,
                                "--max-tokens %lld exceeds the %lld tokens max_position_embeddings %d of %s allows",
                                (long long)o->max_tokens, (long long)max_len, J->cfg.max_pos, o->model_dir);
        /* the model's own default (NomicBERT: its trained length) */
        J->win_len = o->max_tokens > 0 ? o->max_tokens : se_recipe_default_window(se_recipe_of(&J->cfg), &J->cfg);
    } else {
        J->win_len = o->max_tokens; /* 0: the whole document, however long */
    }
    if (J->win_len > 0 && J->win_len < 3)
        return se_error_set(err, SE_EINVAL, "--max-tokens %lld leaves no room for [CLS] ... [SEP]",
                            (long long)J->win_len);
    int64_t content = J->win_len > 0 ? J->win_len - 2 : 0;
    J->stride = o->stride > 0 ? o->stride : content - content / 8; /* overlap of 1/8 of the window */
    if (J->win_len > 0 && (J->stride < 1 || J->stride > content))
        return se_error_set(err, SE_EINVAL, "--stride %lld must be between 1 and the window's %lld content tokens",
                            (long long)o->stride, (long long)content);
    /* the tokenizer is needed only if the corpus has text */
    se_error terr;
    if (se_tok_load_dir(o->model_dir, &J->tok, &terr)) {
        J->tok = NULL;
        snprintf(J->tok_msg, sizeof J->tok_msg, "the model has no usable tokenizer (%.900s)", terr.msg);
        return SE_OK;
    }
    /* Windows are framed as prefix + piece + suffix with one special token on
     * each side (plan.c: N-2 content tokens): [CLS]/[SEP], <s>/</s>. A template
     * of another shape (none, as GPT-2's, or several) is not windowed by
     * guessing: text input is refused with the reason, ids still work. */
    const int32_t *pre, *suf;
    int npre, nsuf;
    se_tok_template(J->tok, &pre, &npre, &suf, &nsuf);
    if (npre != 1 || nsuf != 1 || pre[0] != se_tok_cls_id(J->tok) || suf[0] != se_tok_sep_id(J->tok)) {
        snprintf(J->tok_msg, sizeof J->tok_msg,
                 "the model's tokenizer template adds %d special token(s) before and %d after a text; shardenc "
                 "windows text only with one before and one after ([CLS] ... [SEP] or <s> ... </s>): give "
                 "input_ids instead",
                 npre, nsuf);
        se_tok_free(J->tok);
        J->tok = NULL;
        return SE_OK;
    }
    /* every id the tokenizer can emit (vocabulary, added tokens, specials)
     * must index the embedding table: checked once here, not per token */
    int tv = se_tok_vocab_size(J->tok), cls = se_tok_cls_id(J->tok), sep = se_tok_sep_id(J->tok);
    if (tv > J->cfg.vocab_size)
        return se_error_set(err, SE_ESHAPE, "%s: the tokenizer has %d tokens but config.json says vocab_size %d",
                            o->model_dir, tv, J->cfg.vocab_size);
    if (cls < 0 || sep < 0 || cls >= J->cfg.vocab_size || sep >= J->cfg.vocab_size)
        return se_error_set(err, SE_ESHAPE, "%s: the tokenizer's [CLS]/[SEP] ids (%d, %d) are not in the model's "
                                            "vocabulary of %d", o->model_dir, cls, sep, J->cfg.vocab_size);
    /* SentenceTransformer.encode: prompt_length = len(tokenize(prompt)) - 1, i.e.
     * [CLS] and the prompt's tokens, masked out of pooling when include_prompt is false. */
    if (o->prompt && *o->prompt && o->head && !o->head->include_prompt) {
        se_ids pi = {0};
        se_status ps = se_corpus_tok_text(J, "", 0, &pi, NULL, err); /* the prompt, lowercased like the text */
        J->prompt_skip = (int32_t)(1 + pi.n);
        se_ids_free(&pi);
        if (ps) return ps;
    }
    return SE_OK;
}

/* The batches, from the merged window histogram alone: identical on every
 * rank and for every number of ranks (plan.c). */
static se_status plan(se_job *J, se_error *err)
{
    int64_t longest = J->n_len > 0 ? J->n_len - 1 : 0;
    J->batch_tokens = J->o->batch_tokens > 0 ? J->o->batch_tokens : (longest > 8192 ? longest : 8192);
    if (longest > J->batch_tokens)
        return se_error_set(err, SE_EINVAL, "--batch-tokens %lld is smaller than the longest window (%lld tokens)",
                            (long long)J->batch_tokens, (long long)longest);
    J->n_batches = se_plan_batches(J->hist, J->n_len, J->batch_tokens, NULL);
    J->batches = malloc((size_t)(J->n_batches + 1) * sizeof *J->batches);
    J->done = calloc((size_t)J->n_batches + 1, 1);
    if (!J->batches || !J->done) return se_error_set(err, SE_ENOMEM, "cannot allocate the plan of %lld batches",
                                                     (long long)J->n_batches);
    se_plan_batches(J->hist, J->n_len, J->batch_tokens, J->batches);
    return SE_OK;
}

/* Local only (no collective): every rank checks its own host. */
static se_status check_memory(se_job *J, const se_hostinfo *hi, se_error *err)
{
    int64_t mb = 1;
    for (int64_t b = 0; b < J->n_batches; b++)
        if (J->batches[b].tokens > mb) mb = J->batches[b].tokens;
    FILE *f = fopen("/proc/meminfo", "r");
    double avail = 0;
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "MemAvailable:", 13)) avail = strtod(line + 13, NULL) * 1024;
    if (f) fclose(f);
    double need = (double)se_workspace_bytes(J->model, mb, J->o->sp) +
                  (double)(J->model->layer_bytes + J->model->replicated_bytes) +
                  (double)J->n_batches * (sizeof(se_batch) + 17) + (double)J->n_len * 16;
    double per_rank = avail / (hi->max_ranks_per_host > 0 ? hi->max_ranks_per_host : 1);
    if (avail > 0 && need > per_rank)
        return se_error_set(err, SE_ENOMEM,
                            "batches of %lld tokens need %.2f GiB per rank (activations, weights, index) but only %.2f "
                            "GiB is available per rank on this host; lower --batch-tokens or --max-tokens, or raise "
                            "--tp",
                            (long long)mb, need / (1 << 30), per_rank / (1 << 30));
    return SE_OK;
}

/* Every rank writes under the output prefix (its PREFIX.ids.part<r> and
 * docs.part<r>, its windows into the shared PREFIX.plan.tmp that others read,
 * group leaders the rows in place, every rank its share of the outputs;
 * rank 0 renames), so every rank must see the same directory. Rank 0 writes a unique token to
 * PREFIX.probe (fsync, close), the token goes round in a broadcast, and every
 * other rank opens the file afresh (close-to-open, as NFS guarantees) and must
 * read that very token. A prefix on node-local storage (/tmp, /dev/shm, a
 * local disk on each node) fails here, before any work. */
static se_status probe_output(se_job *J, const se_hostinfo *hi, se_error *err)
{
    const se_grid *g = J->g;
    char path[4200], token[160] = {0}, host[64] = "?";
    se_job_path(path, sizeof path, J->o->output, ".probe");
    gethostname(host, sizeof host - 1);
    se_status st = SE_OK;
    if (g->world_rank == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(token, sizeof token, "shardenc output probe %s pid %ld t %lld.%09ld", host, (long)getpid(),
                 (long long)ts.tv_sec, ts.tv_nsec);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            st = se_error_set(err, SE_EIO, "%s: cannot create a file under the output prefix: %s", path,
                              strerror(errno));
        else {
            st = se_pwrite_full(fd, token, strlen(token), 0, path, err);
            if (!st && fsync(fd) != 0) st = se_error_set(err, SE_EIO, "%s: fsync failed: %s", path, strerror(errno));
            if (close(fd) != 0 && !st) st = se_error_set(err, SE_EIO, "%s: close failed: %s", path, strerror(errno));
        }
    }
    se_error merr;
    se_status bs = se_dist_bcast(token, sizeof token, 0, g->world, &merr);
    if (!st && bs) st = bs, *err = merr;
    if (!bs && g->world_rank != 0 && token[0]) {
        char got[sizeof token] = {0};
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, got, sizeof got - 1) : -1;
        int e = errno;
        if (fd >= 0) close(fd);
        if (n < 0 || strcmp(got, token) != 0)
            st = se_error_set(err, SE_EINVAL,
                              "%s: rank %d on host %s %s the probe file rank 0 wrote on host %s: the output prefix "
                              "must be on a file system every rank sees, coherent for pwrite and rename (a shared "
                              "file system such as NFS, Lustre, GPFS or CephFS), not node-local storage (/tmp, "
                              "/dev/shm, a local disk)",
                              path, g->world_rank, host,
                              n < 0 ? (e == ENOENT ? "does not see" : "cannot read") : "reads other content in",
                              hi->host0);
    }
    st = se_dist_agree(g->world, st, err);
    if (g->world_rank == 0) unlink(path);
    return st;
}

/* Rank 0 looks at PREFIX.meta.json: a finished job with this very
 * fingerprint (and its data file still there) is not run again. */
static se_status already_complete(se_job *J, int *done, se_error *err)
{
    int32_t v = 0;
    if (J->g->world_rank == 0 && J->o->resume && se_output_is_complete(J)) {
        char data[4200];
        se_job_path(data, sizeof data, J->o->output, J->o->pooling == SE_POOL_NONE ? ".tokens.npy" : ".npy");
        struct stat sb;
        v = stat(data, &sb) == 0;
    }
    se_status st = se_dist_bcast(&v, sizeof v, 0, J->g->world, err);
    *done = v;
    return se_dist_agree(J->g->world, st, err);
}

se_status se_embed_run(const se_embed_opts *o, const se_grid *g, se_error *err)
{
    double t_start = se_time_now();
    se_job J = {.o = o, .g = g, .store_fd = -1, .journal_fd = -1, .plan_fd = -1};
    J.fields = (se_doc_fields){.id_field = o->id_field, .text_fields = o->text_fields, .n_text = o->n_text_fields,
                               .tsv_columns = o->tsv_columns, .n_tsv = o->n_tsv_columns, .id_optional = 1};
    se_hostinfo hi;
    se_status st = se_dist_hostinfo(g->world, &hi, err);
    if (!st) st = setup(&J, err);
    /* every input opened now: an unreadable one is refused before any work */
    if (!st) st = o->inputs ? se_sources_expand(o->inputs, o->n_inputs, &J.src, &J.n_src, err)
                            : se_sources_expand(&o->input, 1, &J.src, &J.n_src, err);
    st = se_dist_agree(g->world, st, err);
    if (!st) {
        /* the same list on every rank (a file system that differs between hosts is refused) */
        uint64_t h = (uint64_t)J.n_src;
        for (int i = 0; i < J.n_src; i++) h = se_fnv1a64(h, J.src[i].path, strlen(J.src[i].path) + 1);
        int64_t mine[2] = {(int64_t)h, -(int64_t)h}, mx[2];
        st = se_dist_allreduce_i64(mine, mx, 2, MPI_MAX, g->world, err);
        if (!st && mx[0] != -mx[1])
            st = se_error_set(err, SE_EINVAL, "the ranks see different input files (--input expands differently on "
                                              "their hosts)");
        st = se_dist_agree(g->world, st, err);
    }
    if (!st) st = probe_output(&J, &hi, err);
    if (!st) st = se_corpus_index(&J, err);
    if (!st) st = se_dist_agree(g->world, plan(&J, err), err); /* identical on every rank */
    if (!st) st = se_store_fingerprint(&J, err);
    int complete = 0;
    if (!st) st = already_complete(&J, &complete, err);
    if (!st && complete) {
        if (g->world_rank == 0) {
            /* killed after meta.json was renamed: what is left is spent */
            char p[4200];
            se_job_path(p, sizeof p, o->output, ".journal");
            unlink(p);
            se_job_path(p, sizeof p, o->output, ".windows.tmp");
            if (o->pooling != SE_POOL_NONE) unlink(p);
            if (!o->quiet)
                fprintf(stderr, "shardenc embed: --resume: %s.meta.json says this job is complete; nothing to do\n",
                        o->output);
        }
        goto out;
    }
    if (!st) {
        st = se_model_load(o->model_dir, g->tp_rank, g->tp_size, &J.model, err);
        if (!st) st = check_memory(&J, &hi, err);
        st = se_dist_agree(g->world, st, err);
    }
    if (!st && g->world_rank == 0 && !o->quiet)
        fprintf(stderr,
                "shardenc embed: %lld documents (%lld lines skipped) in %d file%s, %.2f MB, %lld windows of at most "
                "%lld tokens, %lld tokens in %lld batches of <= %lld tokens; indexed in %.1fs (%.1f MB/s per rank)\n",
                (long long)J.n_docs, (long long)J.n_skips_total, J.n_src, J.n_src > 1 ? "s" : "", J.in_bytes / 1e6,
                (long long)J.n_win, (long long)J.win_len, (long long)J.n_tokens_total, (long long)J.n_batches,
                (long long)J.batch_tokens, J.t_index, se_corpus_mb_per_s(&J));
    if (!st && g->world_rank == 0 && !o->quiet && o->head) fprintf(stderr, "shardenc embed: %s\n", o->head->desc);
    if (!st) st = se_sorted_write(&J, err);
    if (!st) st = se_store_open(&J, err);
    if (!st && g->world_rank == 0 && o->resume && J.n_done_before > 0 && !o->quiet)
        fprintf(stderr, "shardenc embed: resuming: %lld of %lld batches were already done\n",
                (long long)J.n_done_before, (long long)J.n_batches);
    if (!st) st = se_corpus_open_spills(&J, err);
    if (!st) st = se_encode_run(&J, err);
    if (!st) {
        se_status cs = se_store_close(&J, err);
        st = se_dist_agree(g->world, cs, err);
    }
    if (!st) st = se_assemble_run(&J, err);
    if (!st) st = se_output_finish(&J, t_start, err);
    if (!st && g->world_rank == 0 && !o->quiet)
        fprintf(stderr, "shardenc embed: wrote %s%s, %s.ids.txt, %s.meta.json (%lld documents) in %.1fs\n", o->output,
                o->pooling == SE_POOL_NONE ? ".tokens.npy + .offsets.npy" : ".npy", o->output, o->output,
                (long long)J.n_docs, se_time_now() - t_start);
out:
    se_corpus_close(&J);
    se_sources_free(J.src, J.n_src);
    if (J.store_fd >= 0) close(J.store_fd);
    if (J.journal_fd >= 0) close(J.journal_fd);
    se_model_free(J.model);
    se_tok_free(J.tok);
    free(J.skips), free(J.hist), free(J.batches), free(J.done);
    return st;
}
