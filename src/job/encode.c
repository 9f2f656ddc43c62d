/* The encode phase: each data-parallel group first works through its static
 * share of the longest-first batch list, then draws the tail from the shared
 * work counter (dist/counter.c); each TP group encodes its batch collectively,
 * the group leader writes the rows in place and keeps the batch pending until
 * the next grouped flush makes it durable and journals it (store.c).
 *
 * Why a static share: the counter lives on rank 0 and a one-sided
 * fetch-and-add over TCP (Open MPI osc/pt2pt over btl/tcp) only progresses
 * when rank 0 enters MPI, i.e. between its own batches. Drawing every batch
 * from it makes each group wait up to one of rank 0's batches per draw. The
 * static share (a greedy least-loaded split of the first SE_STATIC_SHARE of
 * the tokens, computed identically on every rank, no communication) holds the
 * long batches; the tail is the short batches, so a draw there waits at most
 * one short batch of rank 0, and it still evens out groups of unequal speed.
 * Rows go to fixed offsets, so which group encodes a batch changes no byte. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job/embed_internal.h"

enum { C_NEXT, C_TOKENS, C_DOCS, C_SLOTS };

/* Fraction of the remaining tokens handed out statically (when dp > 1). */
#define SE_STATIC_SHARE 0.75

/* Tail batches per draw: two, so that a draw started when the first is
 * taken has the time of two short batches to be served by rank 0. */
#define SE_DRAW 2

/* Starts the leader's next draw (SE_DRAW batches), reporting the tokens and
 * documents finished since the last one (for rank 0's progress line). */
static se_status draw(se_counter *cnt, int *drawing, int64_t *nxt, int64_t *owed_tok, int64_t *owed_docs,
                      se_error *err)
{
    int64_t add[C_SLOTS] = {SE_DRAW, *owed_tok, *owed_docs};
    se_status st = se_counter_iadd(cnt, add, nxt, err);
    *owed_tok = *owed_docs = 0;
    *drawing = !st;
    return st;
}

/* This group's static share: todo[0..*n_static) split greedily (longest
 * first, each batch to the least-loaded group, ties to the lowest group) —
 * deterministic from the plan and done[], identical on every rank. */
static int64_t static_share(const se_job *J, const int64_t *todo, int64_t n_todo, int64_t *mine, int64_t *n_mine,
                            int64_t *load)
{
    const se_grid *g = J->g;
    *n_mine = 0;
    if (g->dp_size <= 1) return 0; /* one group: the counter is local to rank 0 anyway */
    double total = 0, acc = 0;
    for (int64_t k = 0; k < n_todo; k++) total += J->batches[todo[k]].tokens;
    for (int i = 0; i < g->dp_size; i++) load[i] = 0;
    int64_t k = 0;
    for (; k < n_todo && acc < SE_STATIC_SHARE * total; k++) {
        int best = 0;
        for (int i = 1; i < g->dp_size; i++)
            if (load[i] < load[best]) best = i;
        load[best] += J->batches[todo[k]].tokens;
        acc += J->batches[todo[k]].tokens;
        if (best == g->dp_rank) mine[(*n_mine)++] = todo[k];
    }
    return k;
}

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

/* Gathers a batch's windows (their records read from the sorted plan file
 * into recs) into ids/types: [CLS] content [SEP] for text (and framed ids),
 * the bare ids otherwise. */
static se_status gather(const se_job *J, se_doc_cache *cache, const se_batch *B, se_planrec *recs, int32_t *ids,
                        int32_t *types, int64_t *starts, int *n_last, se_error *err)
{
    int64_t t = 0;
    *n_last = 0;
    se_status st = se_sorted_read(J, B, recs, err);
    for (int32_t i = 0; !st && i < B->count; i++) {
        const se_planrec *w = &recs[i];
        starts[i] = t;
        if ((st = se_corpus_load_doc(J, cache, w, err))) return st;
        if (w->flags & SE_WIN_TEXT) {
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
        *n_last += (w->flags & SE_WIN_LAST) != 0;
    }
    starts[B->count] = t;
    return st;
}

/* Rows of an encoded batch into the store, at their fixed offsets. */
static se_status put_rows(se_job *J, const se_batch *B, const se_planrec *recs, const float *h, const int64_t *starts,
                          float *pooled, int32_t *skips, uint16_t *half, se_error *err)
{
    const int d = J->d;
    se_status ls = SE_OK;
    if (J->o->pooling == SE_POOL_NONE) {
        for (int32_t i = 0; i < B->count && !ls; i++) {
            const se_planrec *w = &recs[i];
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
            for (int32_t i = 0; i < B->count; i++)
                skips[i] = (recs[i].flags & SE_WIN_TEXT) && recs[i].start == 0 ? J->prompt_skip : 0;
            se_head_apply(J->o->head, pooled, h, starts, B->count, skips, 0);
        } else {
            se_pool(pooled, h, d, starts, B->count, J->o->pooling, 0);
        }
        for (int32_t i = 0; i < B->count && !ls; i++)
            ls = se_pwrite_full(J->store_fd, pooled + (size_t)i * d, (size_t)d * sizeof(float),
                                recs[i].row * d * (int64_t)sizeof(float), J->store_path, err);
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
    if (J->n_len - 1 > max_len) max_len = J->n_len - 1; /* the longest window */
    int64_t *mine = malloc((size_t)(n_todo + 1) * sizeof *mine), n_mine = 0, n_static = 0, pos = 0;
    int64_t *load = malloc((size_t)g->dp_size * sizeof *load);
    if (todo && mine && load) n_static = static_share(J, todo, n_todo, mine, &n_mine, load);
    /* tokens and documents this group finished since it last told the counter */
    int64_t owed_tok = 0, owed_docs = 0;
    /* the leader's draw in flight (se_counter_iadd) and its result */
    int64_t nxt[C_SLOTS] = {0}, q_first = 0, q_pos = SE_DRAW, n_tail = n_todo - n_static;
    int drawing = 0;
    se_workspace *ws = NULL;
    int32_t *ids = malloc((size_t)max_batch_tok * sizeof *ids), *types = malloc((size_t)max_batch_tok * sizeof *types);
    int64_t *starts = malloc((size_t)(max_count + 1) * sizeof *starts);
    float *pooled = malloc((size_t)max_count * (size_t)d * sizeof(float));
    int32_t *skips = calloc((size_t)max_count, sizeof *skips);
    se_planrec *recs = malloc((size_t)max_count * sizeof *recs);
    uint16_t *half = o->out_f16 && o->pooling == SE_POOL_NONE ? malloc((size_t)max_len * (size_t)d * sizeof *half) : NULL;
    se_pending pend = {.batch = malloc((size_t)(sync_k + 1) * sizeof(int64_t)), .cap = sync_k, .last = se_time_now()};
    if (!todo || !mine || !load || !ids || !types || !starts || !pooled || !skips || !recs || !pend.batch ||
        (o->out_f16 && o->pooling == SE_POOL_NONE && !half))
        st = se_error_set(err, SE_ENOMEM, "cannot allocate batch buffers");
    if (!st) st = se_workspace_create(J->model, max_batch_tok, max_len, o->sp, &ws, err);
    /* counter: next index into todo, tokens done, documents done */
    se_counter *cnt = NULL;
    se_error merr;
    se_status cs = se_counter_create(g->world, C_SLOTS, &cnt, &merr);
    if (!st && cs) st = cs, *err = merr;
    st = se_dist_agree(g->world, st, err);
    se_doc_cache cache = {.src = -1};
    int64_t done_tok0 = 0;
    for (int64_t b = 0; b < J->n_batches; b++)
        if (J->done[b]) done_tok0 += J->batches[b].tokens;
    while (!st) {
        /* 1. the static share needs no communication; then the group leader
         * draws the next tail batch (and reports what it did since its last
         * draw, so the static phase sends nothing to rank 0); the group learns it */
        int64_t b = -1;
        se_status ls = SE_OK;
        if (pos < n_mine) {
            b = mine[pos++];
            /* the first tail draw starts with the last static batch */
            if (pos == n_mine && g->tp_rank == 0 && n_tail > 0) ls = draw(cnt, &drawing, nxt, &owed_tok, &owed_docs, err);
            ls = se_dist_agree(g->tp, ls, err);
            if (ls) {
                st = ls;
                break;
            }
        } else {
            double tw = se_time_now();
            int64_t k = -1;
            if (g->tp_rank == 0) {
                if (q_pos >= SE_DRAW) { /* the held draw is used up: collect the one in flight */
                    if (!drawing) ls = draw(cnt, &drawing, nxt, &owed_tok, &owed_docs, err);
                    if (!ls) ls = se_counter_wait(cnt, err);
                    drawing = 0;
                    q_first = ls ? INT64_MAX / 2 : nxt[C_NEXT];
                    q_pos = 0;
                }
                k = q_first + q_pos++;
                /* the next draw starts now and completes while this one's
                 * batches are encoded (rank 0 serves it between its batches) */
                if (!ls && q_pos == 1 && q_first + SE_DRAW < n_tail)
                    ls = draw(cnt, &drawing, nxt, &owed_tok, &owed_docs, err);
            }
            se_status bs = se_dist_bcast(&k, sizeof k, 0, g->tp, &merr);
            if (!ls && bs) ls = bs, *err = merr;
            if ((ls = se_dist_agree(g->tp, ls, err))) {
                st = ls;
                break;
            }
            J->t_wait += se_time_now() - tw;
            if (k >= n_tail) break;
            b = todo[n_static + k];
        }
        double tb = se_time_now();
        const se_batch *B = &J->batches[b];
        /* 2. its windows' tokens; a rank that could not read its input must
         * not leave the others waiting inside the forward's collectives */
        int n_last = 0;
        ls = gather(J, &cache, B, recs, ids, types, starts, &n_last, err);
        ls = se_dist_agree(g->tp, ls, err);
        /* 3. encode (collective in the TP group), pool, write in place */
        const float *h = NULL;
        if (!ls) ls = se_model_forward(J->model, ws, ids, types, starts, B->count, g->tp, o->sp, &h, NULL, err);
        if (!ls && g->tp_rank == 0) {
            ls = put_rows(J, B, recs, h, starts, pooled, skips, half, err);
            if (!ls) pend.batch[pend.n++] = b;
            if (!ls && (pend.n >= pend.cap || se_time_now() - pend.last >= sync_s)) ls = se_store_flush(J, &pend, err);
        }
        if (se_job_stopping(J) && !ls) ls = se_error_set(err, SE_EINTERRUPTED, "interrupted by a signal");
        /* 4. the group agrees; a failure poisons the shared counter so every
         * other group stops at its next draw (a group still in its static
         * share finds out when it reaches the tail; the final agreement
         * reports the failure either way) */
        ls = se_dist_agree(g->tp, ls, err);
        if (ls) {
            if (g->tp_rank == 0) {
                int64_t add[C_SLOTS] = {(int64_t)1 << 40, 0, 0};
                se_counter_add(cnt, add, NULL, &merr);
            }
            st = ls;
            break;
        }
        owed_tok += B->tokens;
        owed_docs += n_last;
        J->busy += se_time_now() - tb;
        J->my_tokens += g->tp_rank == 0 ? B->tokens : 0;
        J->my_batches++;
        if (g->world_rank == 0) {
            int64_t v[C_SLOTS];
            se_counter_poll(cnt); /* serve the other groups' draws */
            /* rank 0's own work is counted at once; the others' as they draw */
            if (!se_counter_add(cnt, NULL, v, &merr) &&
                v[C_TOKENS] + owed_tok + done_tok0 < J->n_tokens_total)
                print_progress(J, v[C_DOCS] + owed_docs, v[C_TOKENS] + owed_tok + done_tok0, t0, 0);
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
    free(todo), free(mine), free(load), free(ids), free(types), free(starts), free(pooled), free(skips), free(recs), free(pend.batch),
        free(half);
    J->t_encode = se_time_now() - t0;
    return st;
}
