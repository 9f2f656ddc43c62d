/* The encode phase: data-parallel groups draw batches from the shared work
 * counter (dist/counter.c), each TP group encodes its batch collectively, the
 * group leader writes the rows in place and keeps the batch pending until the
 * next grouped flush makes it durable and journals it (store.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job/embed_internal.h"

enum { C_NEXT, C_TOKENS, C_DOCS, C_SLOTS };

static void print_progress(const se_job *J, int64_t docs_done, int64_t tok_done, double t0, int final)
{
    static double last;
    double now = se_time_now();
    if (J->o->quiet || (!final && now - last < J->o->progress_every)) return;
    last = now;
    double el = now - t0, rate = el > 0 ? (double)tok_done / el : 0;
    double eta = rate > 0 ? (double)(J->n_tokens_total - tok_done) / rate : 0;
    double frac = J->n_tokens_total ? (double)tok_done / (double)J->n_tokens_total : 1;
    if (isatty(2)) {
        char bar[31];
        int fill = (int)(frac * 30);
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
        bar[30] = 0;
        fprintf(stderr, "\r[%s] %5.1f%% docs %lld/%lld tokens %lld/%lld %.0f tok/s ETA %.0fs   %s", bar, 100 * frac,
                (long long)docs_done, (long long)J->n_docs, (long long)tok_done, (long long)J->n_tokens_total, rate,
                eta, final ? "\n" : "");
    } else {
        fprintf(stderr,
                "shardenc embed: %5.1f%% docs %lld/%lld (%d file%s, %.1f MB) tokens %lld/%lld %.0f tok/s ETA %.0fs\n",
                100 * frac, (long long)docs_done, (long long)J->n_docs, J->n_src, J->n_src > 1 ? "s" : "",
                (double)J->in_bytes / 1e6, (long long)tok_done, (long long)J->n_tokens_total, rate, eta);
    }
    fflush(stderr);
}

/* Gathers a batch's windows into ids/types: [CLS] content [SEP] for text
 * (and framed ids), the bare ids otherwise. */
static se_status gather(const se_job *J, se_doc_cache *cache, const se_batch *B, int32_t *ids, int32_t *types,
                        int64_t *starts, int *n_last, se_error *err)
{
    int64_t t = 0;
    *n_last = 0;
    for (int32_t i = 0; i < B->count; i++) {
        const se_window *w = &J->win[J->order[B->first + i]];
        starts[i] = t;
        se_status ls = se_corpus_load_doc(J, cache, w->doc, err);
        if (ls) return ls;
        if (J->docs[w->doc].is_text) {
            int64_t nc = w->len - 2;
            ids[t] = se_tok_cls_id(J->tok);
            types[t++] = 0;
            memcpy(ids + t, cache->ids.ids + w->start, (size_t)nc * sizeof *ids);
            memset(types + t, 0, (size_t)nc * sizeof *types);
            t += nc;
            ids[t] = se_tok_sep_id(J->tok);
            types[t++] = 0;
        } else {
            memcpy(ids + t, cache->ids.ids + w->start, (size_t)w->len * sizeof *ids);
            memcpy(types + t, cache->types + w->start, (size_t)w->len * sizeof *types);
            t += w->len;
        }
        *n_last += w->last;
    }
    starts[B->count] = t;
    return SE_OK;
}

/* Rows of an encoded batch into the store, at their fixed offsets. */
static se_status put_rows(se_job *J, const se_batch *B, const float *h, const int64_t *starts, float *pooled,
                          int32_t *skips, uint16_t *half, se_error *err)
{
    const int d = J->d;
    se_status ls = SE_OK;
    if (J->o->pooling == SE_POOL_NONE) {
        for (int32_t i = 0; i < B->count && !ls; i++) {
            const se_window *w = &J->win[J->order[B->first + i]];
            float *rows = (float *)h + (size_t)starts[i] * d;
            if (J->o->normalize) se_l2_normalize(rows, w->len, d);
            if (J->o->out_f16) {
                se_rows_to_f16(half, rows, (size_t)w->len * d);
                ls = se_pwrite_full(J->store_fd, half, (size_t)w->len * d * 2, J->store_hdr + w->tok_off * d * 2,
                                    J->store_path, err);
            } else {
                ls = se_pwrite_full(J->store_fd, rows, (size_t)w->len * d * sizeof(float),
                                    J->store_hdr + w->tok_off * d * (int64_t)sizeof(float), J->store_path, err);
            }
        }
    } else {
        if (J->o->head) {
            /* the prompt sits in a text document's first window only */
            for (int32_t i = 0; i < B->count; i++) {
                const se_window *w = &J->win[J->order[B->first + i]];
                skips[i] = J->docs[w->doc].is_text && w->start == 0 ? J->prompt_skip : 0;
            }
            se_head_apply(J->o->head, pooled, h, starts, B->count, skips, 0);
        } else {
            se_pool(pooled, h, d, starts, B->count, J->o->pooling, 0);
        }
        for (int32_t i = 0; i < B->count && !ls; i++)
            ls = se_pwrite_full(J->store_fd, pooled + (size_t)i * d, (size_t)d * sizeof(float),
                                J->order[B->first + i] * d * (int64_t)sizeof(float), J->store_path, err);
    }
    return ls;
}

se_status se_encode_run(se_job *J, se_error *err)
{
    const se_grid *g = J->g;
    const se_embed_opts *o = J->o;
    int d = J->d;
    se_status st = SE_OK;
    double t0 = se_time_now();
    double sync_s = o->sync_seconds > 0 ? o->sync_seconds : 10.0;
    int64_t sync_k = o->sync_batches > 0 ? o->sync_batches : 256;
    /* The work list: batches not yet journaled, longest first (they were planned so). */
    int64_t *todo = malloc((size_t)(J->n_batches + 1) * sizeof *todo), n_todo = 0;
    int64_t max_batch_tok = 1, max_len = 1, max_count = 1;
    for (int64_t b = 0; todo && b < J->n_batches; b++) {
        if (!J->done[b]) todo[n_todo++] = b;
        if (J->batches[b].tokens > max_batch_tok) max_batch_tok = J->batches[b].tokens;
        if (J->batches[b].count > max_count) max_count = J->batches[b].count;
    }
    for (int64_t w = 0; w < J->n_win; w++)
        if (J->win[w].len > max_len) max_len = J->win[w].len;
    se_workspace *ws = NULL;
    int32_t *ids = malloc((size_t)max_batch_tok * sizeof *ids), *types = malloc((size_t)max_batch_tok * sizeof *types);
    int64_t *starts = malloc((size_t)(max_count + 1) * sizeof *starts);
    float *pooled = malloc((size_t)max_count * (size_t)d * sizeof(float));
    int32_t *skips = calloc((size_t)max_count, sizeof *skips);
    uint16_t *half = o->out_f16 && o->pooling == SE_POOL_NONE ? malloc((size_t)max_len * (size_t)d * sizeof *half) : NULL;
    se_pending pend = {.batch = malloc((size_t)(sync_k + 1) * sizeof(int64_t)), .cap = sync_k, .last = se_time_now()};
    if (!todo || !ids || !types || !starts || !pooled || !skips || !pend.batch ||
        (o->out_f16 && o->pooling == SE_POOL_NONE && !half))
        st = se_error_set(err, SE_ENOMEM, "cannot allocate batch buffers");
    if (!st) st = se_workspace_create(J->model, max_batch_tok, max_len, o->sp, &ws, err);
    /* counter: next index into todo, tokens done, documents done */
    se_counter *cnt = NULL;
    se_error merr;
    se_status cs = se_counter_create(g->world, C_SLOTS, &cnt, &merr);
    if (!st && cs) st = cs, *err = merr;
    st = se_dist_agree(g->world, st, err);
    se_doc_cache cache = {.doc = -1};
    int64_t done_tok0 = 0;
    for (int64_t b = 0; b < J->n_batches; b++)
        if (J->done[b]) done_tok0 += J->batches[b].tokens;
    while (!st) {
        /* 1. the group leader draws the next batch; the group learns it */
        int64_t k = -1;
        se_status ls = SE_OK;
        if (g->tp_rank == 0) {
            int64_t add[C_SLOTS] = {1, 0, 0}, old[C_SLOTS];
            ls = se_counter_add(cnt, add, old, err);
            k = ls ? INT64_MAX : old[C_NEXT];
        }
        se_status bs = se_dist_bcast(&k, sizeof k, 0, g->tp, &merr);
        if (!ls && bs) ls = bs, *err = merr;
        if ((ls = se_dist_agree(g->tp, ls, err))) {
            st = ls;
            break;
        }
        if (k >= n_todo) break;
        double tb = se_time_now();
        const se_batch *B = &J->batches[todo[k]];
        /* 2. its windows' tokens; a rank that could not read its input must
         * not leave the others waiting inside the forward's collectives */
        int n_last = 0;
        ls = gather(J, &cache, B, ids, types, starts, &n_last, err);
        ls = se_dist_agree(g->tp, ls, err);
        /* 3. encode (collective in the TP group), pool, write in place */
        const float *h = NULL;
        if (!ls) ls = se_model_forward(J->model, ws, ids, types, starts, B->count, g->tp, o->sp, &h, NULL, err);
        if (!ls && g->tp_rank == 0) {
            ls = put_rows(J, B, h, starts, pooled, skips, half, err);
            if (!ls) pend.batch[pend.n++] = todo[k];
            if (!ls && (pend.n >= pend.cap || se_time_now() - pend.last >= sync_s)) ls = se_store_flush(J, &pend, err);
        }
        if (se_job_stopping(J) && !ls) ls = se_error_set(err, SE_EINTERRUPTED, "interrupted by a signal");
        /* 4. the group agrees; a failure poisons the shared counter so every
         * other group stops after its current batch */
        ls = se_dist_agree(g->tp, ls, err);
        if (g->tp_rank == 0) {
            int64_t add[C_SLOTS] = {ls ? (int64_t)1 << 40 : 0, B->tokens, n_last};
            se_status as = se_counter_add(cnt, add, NULL, &merr);
            if (!ls && as) ls = as, *err = merr;
        }
        if (ls) {
            st = ls;
            break;
        }
        J->busy += se_time_now() - tb;
        J->my_tokens += g->tp_rank == 0 ? B->tokens : 0;
        J->my_batches++;
        if (g->world_rank == 0) {
            int64_t v[C_SLOTS];
            if (!se_counter_add(cnt, NULL, v, &merr) && v[C_TOKENS] + done_tok0 < J->n_tokens_total)
                print_progress(J, v[C_DOCS], v[C_TOKENS] + done_tok0, t0, 0);
        }
    }
    /* What is written is made durable and journaled even when the job stops
     * (an interrupt, or another group's failure): a restart redoes less. */
    if (g->tp_rank == 0 && pend.batch) {
        se_status fs = se_store_flush(J, &pend, st ? &merr : err);
        if (!st) st = fs;
    }
    /* Everyone leaves the loop (done, failed, or told by the poisoned counter). */
    st = se_dist_agree(g->world, st, err);
    if (!st && g->world_rank == 0) print_progress(J, J->n_docs, J->n_tokens_total, t0, 1);
    se_counter_free(cnt);
    se_workspace_free(ws);
    se_doc_cache_free(&cache);
    free(todo), free(ids), free(types), free(starts), free(pooled), free(skips), free(pend.batch), free(half);
    J->t_encode = se_time_now() - t0;
    return st;
}
