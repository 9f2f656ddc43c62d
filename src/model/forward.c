/* The encoder forward, Megatron-style (DESIGN.md, "Tensor-parallel layer"):
 *
 *   qkv_t = x · Wqkv_tᵀ + b_t                  column-parallel (local heads)
 *   a_t   = softmax(q·kᵀ/√d_head)·v            flash attention, local heads
 *   y     = allreduce_sum(a_t · Wo_tᵀ) + bo    row-parallel, bias once after the sum
 *   x     = LN(x + y)
 *   h_t   = act(x · W1_tᵀ + b1_t)              column-parallel (local FFN units)
 *   x     = LN(x + allreduce_sum(h_t · W2_tᵀ) + b2)
 *
 * Sequence-parallel mode replaces each all-reduce by a reduce-scatter over
 * token rows, runs bias + residual + LayerNorm on this rank's rows only, and
 * all-gathers x before the next column-parallel product.
 *
 * The recipe's axes change only steps, never the loop: pre-LN layers run
 * x = x + Σ y (+ b) after each reduction and feed LN(x) (held in y, free at
 * that point) to the next product, with a final LN after the last layer; RoPE
 * rotates q and k of the local heads after the QKV product (theta per layer);
 * local layers pass a window to the flash kernel; a gated FFN multiplies its
 * two halves before W2 (se_gated_act), still one reduction. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardenc/kernels.h"
#include "shardenc/model.h"
#include "model/model_internal.h"

/* Positions for which the vanilla model's sinusoidal table is cached; beyond
 * it the rows are computed on the fly (long single documents). */
#define SE_PE_CACHE_ROWS 8192

struct se_workspace {
    int64_t max_tok, max_seq_len;
    int sp;
    float *x;     /* [max_tok, d]      hidden states, replicated in the TP group */
    float *big;   /* qkv [max_tok, 3·dl] followed by attn [max_tok, dl]; h [max_tok, nf] reuses it */
    float *y;     /* [max_tok, max(d, e)] row-parallel partial sums; the embeddings before projection */
    float *yloc;  /* [max_tok/T+1, d]  reduce-scatter target (sp) */
    float *attn_ws;
    float *pe;    /* [pe_rows, d] sinusoidal table (vanilla) */
    int64_t pe_rows;
    int *counts, *displs; /* per TP rank, in floats (sp) */
    float *rope_tok; /* NTK_DYNAMIC: [max_tok, rope_dim/2] cos then the same of sin, per token of the batch */
};

/* Floats of the per-token RoPE tables (dynamic NTK only: the angles depend on
 * each sequence's length). */
static size_t rope_tok_floats(const se_model *m, int64_t max_tok)
{
    return m->cfg.rope_scaling == SE_ROPE_NTK_DYNAMIC && m->rope_cs
               ? (size_t)max_tok * (size_t)se_recipe_rope_dim(&m->cfg)
               : 0;
}

static size_t big_floats(const se_model *m, int64_t max_tok)
{
    size_t dl = (size_t)m->shard.nh * (size_t)m->d_head,
           nf = (size_t)m->shard.nf * (m->recipe->ffn == SE_FFN_GATED ? 2 : 1);
    size_t per_tok = 4 * dl > nf ? 4 * dl : nf;
    return per_tok * (size_t)max_tok;
}

static size_t y_width(const se_model *m)
{
    return (size_t)(m->cfg.emb_size > m->cfg.d_model ? m->cfg.emb_size : m->cfg.d_model);
}

size_t se_workspace_bytes(const se_model *m, int64_t max_tok, int sp)
{
    size_t d = (size_t)m->cfg.d_model;
    size_t f = (d + y_width(m)) * (size_t)max_tok + big_floats(m, max_tok);
    if (sp) f += d * (size_t)(max_tok / m->shard.tp_size + 1);
    f += se_attention_ws_floats(se_num_threads(), m->d_head);
    if (m->recipe->pos == SE_POS_SINUSOIDAL) f += d * (size_t)SE_PE_CACHE_ROWS;
    f += rope_tok_floats(m, max_tok);
    return f * sizeof(float);
}

/* Sinusoidal encoding (the seed article; "Attention is all you need" §3.5):
 * angle(p, i) = p / base^(2i/d); interleaved: PE[2i] = sin, PE[2i+1] = cos;
 * concat: PE[i] = sin, PE[d/2 + i] = cos. Computed in double, rounded once. */
static void pe_row(float *row, int64_t p, const se_model_config *c)
{
    int half = c->d_model / 2;
    for (int i = 0; i < half; i++) {
        double angle = (double)p / pow(c->sin_base, (2.0 * i) / c->d_model);
        float s = (float)sin(angle), co = (float)cos(angle);
        if (c->sin_layout == SE_SIN_INTERLEAVED) {
            row[2 * i] = s;
            row[2 * i + 1] = co;
        } else {
            row[i] = s;
            row[half + i] = co;
        }
    }
}

se_status se_workspace_create(const se_model *m, int64_t max_tok, int64_t max_seq_len, int sp, se_workspace **out,
                              se_error *err)
{
    *out = NULL;
    if (max_tok < 1) max_tok = 1;
    if (max_seq_len < 1 || max_seq_len > max_tok) max_seq_len = max_tok;
    int T = m->shard.tp_size;
    size_t d = (size_t)m->cfg.d_model;
    if (sp && T > 1 && (double)max_tok * (double)d > 2147483647.0)
        return se_error_set(err, SE_EINVAL, "a batch of %lld tokens is too large for sequence-parallel collectives",
                            (long long)max_tok);
    se_workspace *ws = calloc(1, sizeof *ws);
    if (!ws) return se_error_set(err, SE_ENOMEM, "cannot allocate the workspace");
    ws->max_tok = max_tok;
    ws->max_seq_len = max_seq_len;
    ws->sp = sp && T > 1;
    ws->x = se_alloc((size_t)max_tok * d, sizeof(float));
    ws->y = se_alloc((size_t)max_tok * y_width(m), sizeof(float));
    ws->big = se_alloc(big_floats(m, max_tok), sizeof(float));
    ws->attn_ws = se_alloc(se_attention_ws_floats(se_num_threads(), m->d_head), sizeof(float));
    int ok = ws->x && ws->y && ws->big && ws->attn_ws;
    se_error rerr;
    if (ok && se_gemm_reserve(max_tok, &rerr)) ok = 0; /* bf16-native: the rounded activations */
    if (ws->sp) {
        ws->yloc = se_alloc((size_t)(max_tok / T + 1) * d, sizeof(float));
        ws->counts = calloc((size_t)T, sizeof(int));
        ws->displs = calloc((size_t)T, sizeof(int));
        ok = ok && ws->yloc && ws->counts && ws->displs;
    }
    if (ok && m->recipe->pos == SE_POS_SINUSOIDAL) {
        ws->pe_rows = max_seq_len < SE_PE_CACHE_ROWS ? max_seq_len : SE_PE_CACHE_ROWS;
        ws->pe = se_alloc((size_t)ws->pe_rows * d, sizeof(float));
        ok = ws->pe != NULL;
        for (int64_t p = 0; ok && p < ws->pe_rows; p++) pe_row(ws->pe + (size_t)p * d, p, &m->cfg);
    }
    if (ok && rope_tok_floats(m, max_tok)) {
        ws->rope_tok = se_alloc(rope_tok_floats(m, max_tok), sizeof(float));
        ok = ws->rope_tok != NULL;
    }
    if (!ok) {
        se_workspace_free(ws);
        return se_error_set(err, SE_ENOMEM,
                            "cannot allocate %.1f MiB of activations for batches of %lld tokens; lower --batch-tokens",
                            (double)se_workspace_bytes(m, max_tok, sp) / (1 << 20), (long long)max_tok);
    }
    *out = ws;
    return SE_OK;
}

void se_workspace_free(se_workspace *ws)
{
    if (!ws) return;
    se_free(ws->x);
    se_free(ws->y);
    se_free(ws->big);
    se_free(ws->yloc);
    se_free(ws->attn_ws);
    se_free(ws->pe);
    se_free(ws->rope_tok);
    free(ws->counts);
    free(ws->displs);
    free(ws);
}

static se_status check_batch(const se_model *m, const se_workspace *ws, const int32_t *ids, const int32_t *type_ids,
                             const int64_t *seq_start, int n_seq, se_error *err)
{
    const se_model_config *c = &m->cfg;
    if (n_seq < 1 || seq_start[0] != 0) return se_error_set(err, SE_EINVAL, "empty batch or bad offsets");
    int64_t n_tok = seq_start[n_seq];
    if (n_tok > ws->max_tok)
        return se_error_set(err, SE_EINVAL, "batch of %lld tokens exceeds the workspace (%lld)", (long long)n_tok,
                            (long long)ws->max_tok);
    int64_t max_len = se_recipe_max_len(m->recipe, c);
    for (int s = 0; s < n_seq; s++) {
        int64_t len = seq_start[s + 1] - seq_start[s];
        if (len < 1) return se_error_set(err, SE_EINVAL, "sequence %d of the batch is empty", s);
        if (max_len > 0 && len > max_len)
            return se_error_set(err, SE_EINVAL,
                                "sequence %d has %lld tokens, more than the %lld that max_position_embeddings %d of "
                                "the model allows",
                                s, (long long)len, (long long)max_len, c->max_pos);
    }
    for (int64_t t = 0; t < n_tok; t++) {
        if (ids[t] < 0 || ids[t] >= c->vocab_size)
            return se_error_set(err, SE_EINVAL, "token id %d at batch position %lld is outside the vocabulary (size %d)",
                                ids[t], (long long)t, c->vocab_size);
        if (type_ids && (type_ids[t] < 0 || type_ids[t] >= (m->type_emb ? c->type_vocab : 1)))
            return se_error_set(err, SE_EINVAL, "token_type_id %d at batch position %lld is outside type_vocab_size %d",
                                type_ids[t], (long long)t, c->type_vocab);
    }
    return SE_OK;
}

/* The recipe's embeddings (DESIGN.md, "The math, once"):
 *   x = E_tok[id]·(√d if scaled) + E_pos[pos(p)] or PE(p) + E_type[t],
 * then LayerNorm, then the projection e -> d (ELECTRA) if there is one.
 * pos(p) = p (learned), or RoBERTa's create_position_ids_from_input_ids:
 * padding_idx + (count of non-pad ids up to and including p), padding_idx
 * itself for a pad id. Packed batches carry no padding, so a sequence without
 * pad ids gets padding_idx+1+p. */
static void embed(const se_model *m, se_workspace *ws, const int32_t *ids, const int32_t *type_ids,
                  const int64_t *seq_start, int n_seq)
{
    const se_model_config *c = &m->cfg;
    const se_recipe *R = m->recipe;
    int d = c->d_model, e = c->emb_size;
    float *out = m->emb_proj_w ? ws->y : ws->x; /* [n_tok, e] */
    float scale = (R->emb_scale_sqrt_d && c->scale_embedding) ? sqrtf((float)d) : 1.0f;
    int pad = se_recipe_padding_idx(R, c);
    for (int s = 0; s < n_seq; s++) {
        int64_t seen = 0; /* non-pad tokens so far (offset positions) */
        for (int64_t t = seq_start[s]; t < seq_start[s + 1]; t++) {
            int64_t p = t - seq_start[s];
            float *x = out + (size_t)t * e;
            const float *et = m->tok_emb + (size_t)ids[t] * e;
            if (R->pos == SE_POS_SINUSOIDAL) {
                if (p < ws->pe_rows) {
                    const float *pe = ws->pe + (size_t)p * d;
                    for (int i = 0; i < d; i++) x[i] = et[i] * scale + pe[i];
                } else {
                    pe_row(x, p, c);
                    for (int i = 0; i < d; i++) x[i] += et[i] * scale;
                }
                continue;
            }
            for (int i = 0; i < e; i++) x[i] = et[i] * scale;
            if (m->pos_emb) {
                int64_t pi = p;
                if (R->pos == SE_POS_LEARNED_OFFSET) pi = ids[t] == pad ? pad : pad + ++seen;
                const float *pe = m->pos_emb + (size_t)pi * e;
                for (int i = 0; i < e; i++) x[i] += pe[i];
            }
            if (m->type_emb) {
                const float *te = m->type_emb + (size_t)(type_ids ? type_ids[t] : 0) * e;
                for (int i = 0; i < e; i++) x[i] += te[i];
            }
        }
    }
    int n = (int)seq_start[n_seq];
    if (m->emb_ln_g) se_layernorm(out, out, NULL, m->emb_ln_g, m->emb_ln_b, n, e, c->ln_eps);
    if (m->emb_proj_w) se_linear(ws->x, d, out, e, m->emb_proj_w, e, m->emb_proj_b, n, d, e, 0.0f);
}

/* x += y over n floats (the pre-LN residual). */
static void add_rows(float *x, const float *y, int64_t n)
{
#pragma omp parallel for simd schedule(static) if (n > (1L << 16))
    for (int64_t i = 0; i < n; i++) x[i] += y[i];
}

/* Row-parallel epilogue: x = LN(x + sum_over_ranks(y) + bias), or without the
 * LN (g NULL: pre-LN layers) x = x + sum(y) + bias. Dense mode sums
 * y everywhere; sp mode sums only this rank's token rows, normalises them and
 * all-gathers x. */
static se_status reduce_residual_ln(const se_model *m, se_workspace *ws, int64_t n_tok, const float *bias,
                                    const float *g, const float *b, MPI_Comm comm, se_fwd_stats *st, se_error *err)
{
    int d = m->cfg.d_model, T = m->shard.tp_size;
    double t0 = se_time_now();
    se_status s;
    if (!ws->sp) {
        if ((s = se_allreduce_sum(ws->y, n_tok * d, comm, &st->coll, err))) return s;
        double t1 = se_time_now();
        st->t_coll += t1 - t0;
        se_bias_act(ws->y, bias, (int)n_tok, d, d, -1);
        if (g)
            se_layernorm(ws->x, ws->x, ws->y, g, b, (int)n_tok, d, m->cfg.ln_eps);
        else
            add_rows(ws->x, ws->y, n_tok * d);
        st->t_other += se_time_now() - t1;
        return SE_OK;
    }
    int64_t r0 = 0, nr = 0;
    for (int r = 0; r < T; r++) {
        int64_t a, k;
        se_split(n_tok, T, r, &a, &k);
        ws->counts[r] = (int)(k * d);
        ws->displs[r] = (int)(a * d);
        if (r == m->shard.tp_rank) r0 = a, nr = k;
    }
    if ((s = se_reduce_scatter_sum(ws->y, ws->yloc, ws->counts, comm, &st->coll, err))) return s;
    double t1 = se_time_now();
    st->t_coll += t1 - t0;
    if (nr > 0) {
        se_bias_act(ws->yloc, bias, (int)nr, d, d, -1);
        float *xs = ws->x + (size_t)r0 * d;
        if (g)
            se_layernorm(xs, xs, ws->yloc, g, b, (int)nr, d, m->cfg.ln_eps);
        else
            add_rows(xs, ws->yloc, nr * d);
    }
    double t2 = se_time_now();
    st->t_other += t2 - t1;
    if ((s = se_allgatherv_inplace(ws->x, ws->counts, ws->displs, comm, &st->coll, err))) return s;
    st->t_coll += se_time_now() - t2;
    return SE_OK;
}

se_status se_model_forward(const se_model *m, se_workspace *ws, const int32_t *ids, const int32_t *type_ids,
                           const int64_t *seq_start, int n_seq, MPI_Comm tp_comm, int sp, const float **hidden,
                           se_fwd_stats *st, se_error *err)
{
    se_fwd_stats local;
    if (!st) st = &local;
    memset(st, 0, sizeof *st);
    *hidden = NULL;
    if (!!sp != !!ws->sp && m->shard.tp_size > 1)
        return se_error_set(err, SE_EINVAL, "workspace was made for sp=%d, forward called with sp=%d", ws->sp, sp);
    se_status s = check_batch(m, ws, ids, type_ids, seq_start, n_seq, err);
    if (s) return s;
    const se_model_config *c = &m->cfg;
    int64_t n = seq_start[n_seq];
    int d = c->d_model, dh = m->d_head, nh = m->shard.nh, dl = nh * dh, nf = m->shard.nf;
    float *qkv = ws->big, *attn = ws->big + (size_t)n * 3 * dl, *h = ws->big;
    float scale = 1.0f / sqrtf((float)dh);
    const int pre = m->recipe->norm == SE_NORM_PRE, gated = m->recipe->ffn == SE_FFN_GATED;
    const int ldh = gated ? 2 * nf : nf;

    double t = se_time_now();
    embed(m, ws, ids, type_ids, seq_start, n_seq);
    /* dynamic NTK: a batch with a sequence past max_trained_positions gets
     * per-token tables, each sequence's angles from its own length */
    const int rd = m->rope_cs ? se_recipe_rope_dim(c) : 0;
    const float *tok_cs = NULL, *tok_sn = NULL;
    for (int q = 0; ws->rope_tok && q < n_seq && !tok_cs; q++)
        if (seq_start[q + 1] - seq_start[q] > c->rope_trained) tok_cs = ws->rope_tok;
    if (tok_cs) {
        float *cs = ws->rope_tok, *sn = cs + (size_t)n * (rd / 2);
        tok_sn = sn;
        for (int q = 0; q < n_seq; q++) {
            int64_t a = seq_start[q], len = seq_start[q + 1] - a;
            se_rope_fill(c, m->rope_theta[0], len, 0, len, cs + (size_t)a * (rd / 2), sn + (size_t)a * (rd / 2),
                         (size_t)(rd / 2));
        }
    }
    st->t_embed = se_time_now() - t;

    for (int l = 0; l < c->n_layers; l++) {
        const se_layer *L = &m->layers[l];
        int window;
        double theta;
        se_recipe_layer_attn(m->recipe, c, l, &window, &theta);
        /* pre-LN: the product reads LN1(x) (none for ModernBERT's layer 0) */
        t = se_time_now();
        const float *xin = ws->x;
        if (pre && L->ln1_g) {
            se_layernorm(ws->y, ws->x, NULL, L->ln1_g, L->ln1_b, (int)n, d, c->ln_eps);
            xin = ws->y;
        }
        /* qkv = x · Wqkvᵀ + bqkv, our heads only */
        double t0 = se_time_now();
        st->t_other += t0 - t;
        if ((s = se_linear_w(qkv, 3 * dl, xin, d, L->p_qkv, L->bqkv, (int)n, err))) return s;
        double t1 = se_time_now();
        st->t_gemm += t1 - t0;
        if (m->rope_cs) { /* q, k of our heads rotated by their positions (table of this layer's theta) */
            const size_t tab = (size_t)(theta == m->rope_theta[0] ? 0 : 1) * m->rope_rows * rd;
            const float *cs = tok_cs ? tok_cs : m->rope_cs + tab,
                        *sn = tok_cs ? tok_sn : cs + (size_t)m->rope_rows * (rd / 2);
            for (int j = 0; j < 2; j++)
                se_rope_apply_ex(qkv + (size_t)j * dl, 3 * dl, seq_start, n_seq, nh, dh, rd, c->rope_interleaved, cs,
                                 sn, tok_cs != NULL);
        }
        /* a_h = softmax(q_h·k_hᵀ/√d_head)·v_h per sequence and local head */
        /* (+ bias[h, j - i]: MPNet's relative position buckets, inside the tile loop; keys within the window;
         *  - m_h·|i - j|: ALiBi, slopes of our global heads, also inside the tile loop) */
        const se_att_bias att_bias = {m->att_bias, 2 * m->att_center + 1, m->att_center, window, m->alibi_slopes};
        se_attention_biased(attn, dl, qkv, 3 * dl, qkv + dl, 3 * dl, qkv + 2 * dl, 3 * dl, seq_start, n_seq, nh, dh,
                            scale, m->att_bias || window > 0 || m->alibi_slopes ? &att_bias : NULL, ws->attn_ws);
        double t2 = se_time_now();
        st->t_attn += t2 - t1;
        /* y = a · Woᵀ (partial over heads); x = LN(x + Σ y + bo), pre-LN x + Σ y + bo */
        if ((s = se_linear_w(ws->y, d, attn, dl, L->p_o, NULL, (int)n, err))) return s;
        st->t_gemm += se_time_now() - t2;
        if ((s = reduce_residual_ln(m, ws, n, L->bo, pre ? NULL : L->ln1_g, L->ln1_b, tp_comm, st, err))) return s;
        t = se_time_now();
        xin = ws->x;
        if (pre) {
            se_layernorm(ws->y, ws->x, NULL, L->ln2_g, L->ln2_b, (int)n, d, c->ln_eps);
            xin = ws->y;
        }
        /* h = act(x · W1ᵀ + b1), our FFN units (bias + act fused where the backend can);
         * gated: both halves of our units, then act(a) ⊙ b into the first nf columns */
        t0 = se_time_now();
        st->t_other += t0 - t;
        if ((s = se_linear_w(h, ldh, xin, d, L->p_1, L->b1, (int)n, err))) return s;
        if (gated) se_gated_act(h, (int)n, nf, ldh, m->recipe->gate_act_half, (int)c->act);
        t2 = se_time_now();
        st->t_gemm += t2 - t0;
        /* y = h · W2ᵀ (partial over units); x = LN(x + Σ y + b2) */
        if ((s = se_linear_w(ws->y, d, h, ldh, L->p_2, NULL, (int)n, err))) return s;
        st->t_gemm += se_time_now() - t2;
        if ((s = reduce_residual_ln(m, ws, n, L->b2, pre ? NULL : L->ln2_g, L->ln2_b, tp_comm, st, err))) return s;
    }
    if (m->final_ln_g) se_layernorm(ws->x, ws->x, NULL, m->final_ln_g, m->final_ln_b, (int)n, d, c->ln_eps);
    st->tokens = n;
    st->sequences = n_seq;
    *hidden = ws->x;
    return SE_OK;
}

double se_model_flops(const se_model_config *cfg, const int64_t *seq_start, int n_seq, int n_layers)
{
    /* Per token per layer: QKV 6d², Wo 2d², FFN 4·d·d_ff (6·d·d_ff gated: W1 has
     * both halves), attention QKᵀ and P·V 4·k·d with k the keys a query sees
     * (n, or at most 2w+1 in a local layer). With d_ff = 4d this is the
     * 24d² + 4nd of the issue. */
    const se_recipe *R = se_recipe_of(cfg);
    double d = cfg->d_model, ffn = (R->ffn == SE_FFN_GATED ? 6 : 4) * d * cfg->d_ff, f = 0;
    for (int l = 0; l < n_layers; l++) {
        int w;
        double theta;
        se_recipe_layer_attn(R, cfg, l, &w, &theta);
        for (int s = 0; s < n_seq; s++) {
            double len = (double)(seq_start[s + 1] - seq_start[s]);
            double keys = w > 0 && 2.0 * w + 1 < len ? 2.0 * w + 1 : len;
            f += len * (8 * d * d + ffn + 4 * keys * d);
        }
    }
    return f;
}
