/* Weights: each rank loads only its shard of the layer weights plus the
 * replicated tensors, into one arena, repacked once for the forward. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "shardenc/kernels.h"
#include "shardenc/model.h"
#include "model/model_internal.h"

#define PAD16(n) (((n) + 15) & ~(size_t)15) /* 64-byte alignment of each tensor in the arena */

se_status se_shard_plan(const se_model_config *cfg, int tp_rank, int tp_size, se_shard *s, se_error *err)
{
    if (tp_size < 1 || tp_rank < 0 || tp_rank >= tp_size)
        return se_error_set(err, SE_EINVAL, "tensor-parallel rank %d of %d is out of range", tp_rank, tp_size);
    if (tp_size > cfg->n_heads)
        return se_error_set(err, SE_EINVAL,
                            "--tp %d exceeds the %d attention heads of the model: every tensor-parallel rank needs at "
                            "least one head",
                            tp_size, cfg->n_heads);
    int64_t h0, nh, f0, nf;
    se_split(cfg->n_heads, tp_size, tp_rank, &h0, &nh);
    se_split(cfg->d_ff, tp_size, tp_rank, &f0, &nf);
    s->tp_rank = tp_rank;
    s->tp_size = tp_size;
    s->h0 = (int)h0;
    s->nh = (int)nh;
    s->f0 = (int)f0;
    s->nf = (int)nf;
    return SE_OK;
}

/* ---------------------------------------------------------------- arena */

typedef struct {
    float *base;
    size_t used, cap; /* in floats */
} arena;

static float *take(arena *a, size_t n)
{
    float *p = a->base ? a->base + a->used : NULL;
    a->used += PAD16(n);
    return p;
}

/* Lays out every tensor of the model in the arena, per the recipe. Called
 * twice: once with base == NULL to measure, once to assign the pointers.
 * stage (precision bf16, else NULL): the four layer matrices of every layer
 * go there instead, all layers at the same offsets: each layer is loaded,
 * packed into its bf16 handles (se_weight_pack copies) and overwritten by the
 * next, so the fp32 matrices are never all held at once. */
static void layout(se_model *m, arena *a, arena *stage)
{
    const se_model_config *c = &m->cfg;
    const se_recipe *R = m->recipe;
    size_t d = (size_t)c->d_model, e = (size_t)c->emb_size, dl = (size_t)m->shard.nh * (size_t)m->d_head,
           nf = (size_t)m->shard.nf;
    size_t rep0 = a->used;
    m->tok_emb = take(a, (size_t)c->vocab_size * e);
    m->pos_emb = R->pos_emb ? take(a, (size_t)c->max_pos * e) : NULL;
    m->type_emb = R->type_emb && c->type_vocab > 0 ? take(a, (size_t)c->type_vocab * e) : NULL;
    m->emb_ln_g = R->emb_ln_g ? take(a, e) : NULL;
    m->emb_ln_b = R->emb_ln_b ? take(a, e) : NULL;
    int proj = R->emb_proj_w && e != d;
    m->emb_proj_w = proj ? take(a, d * e) : NULL;
    m->emb_proj_b = proj ? take(a, d) : NULL;
    size_t nh = (size_t)m->shard.nh;
    int relb = R->attn_bias == SE_ATTB_REL_BUCKETS;
    m->att_center = relb ? (int)se_recipe_max_len(R, c) - 1 : 0;
    m->rel_emb = relb ? take(a, (size_t)c->rel_buckets * nh) : NULL;
    m->att_bias = relb ? take(a, nh * (size_t)(2 * m->att_center + 1)) : NULL;
    m->alibi_slopes = R->attn_bias == SE_ATTB_ALIBI ? take(a, nh) : NULL;
    m->final_ln_g = R->final_ln_g ? take(a, d) : NULL;
    m->final_ln_b = R->final_ln_b ? take(a, d) : NULL;
    m->zeros = take(a, d > e ? d : e);
    if (m->final_ln_g && !m->final_ln_b) m->final_ln_b = m->zeros;
    if (m->emb_ln_g && !m->emb_ln_b) m->emb_ln_b = m->zeros;
    /* RoPE: one cos/sin table per distinct theta (global, local) */
    int n_rope = R->pos == SE_POS_ROPE ? 1 + (c->global_every > 1 && c->rope_theta_local != c->rope_theta) : 0;
    m->rope_rows = n_rope ? (int)se_recipe_max_len(R, c) : 0;
    m->rope_cs = n_rope ? take(a, (size_t)n_rope * (size_t)m->rope_rows * (size_t)se_recipe_rope_dim(c)) : NULL;
    const se_layer_names *N = &R->layer;
    size_t w1_rows = R->ffn == SE_FFN_GATED ? 2 * nf : nf;
    size_t rep = a->used - rep0, lay = 0;
    arena *aw = stage ? stage : a;
    for (int l = 0; l < c->n_layers; l++) {
        se_layer *L = &m->layers[l];
        size_t u0 = a->used;
        if (stage) stage->used = 0;
        L->wqkv = take(aw, 3 * dl * d);
        L->bqkv = N->qkv_b[0] && !(c->no_bias & SE_NOBIAS_QKV) ? take(a, 3 * dl) : NULL;
        L->wo = take(aw, d * dl);
        L->w1 = take(aw, w1_rows * d);
        L->b1 = (N->b1 || N->b1_halves[0]) && !(c->no_bias & SE_NOBIAS_FC1) ? take(a, w1_rows) : NULL;
        L->w2 = take(aw, d * nf);
        lay += a->used - u0;
        u0 = a->used;
        L->bo = N->bo && !(c->no_bias & SE_NOBIAS_O) ? take(a, d) : NULL;
        int ln1 = !(R->no_attn_norm_layer0 && l == 0);
        L->ln1_g = ln1 ? take(a, d) : NULL;
        L->ln1_b = ln1 ? (N->ln1_b ? take(a, d) : m->zeros) : NULL;
        L->b2 = N->b2 && !(c->no_bias & SE_NOBIAS_FC2) ? take(a, d) : NULL;
        L->ln2_g = take(a, d);
        L->ln2_b = N->ln2_b ? take(a, d) : m->zeros;
        rep += a->used - u0;
    }
    m->layer_bytes = lay * sizeof(float);
    m->replicated_bytes = rep * sizeof(float);
}

/* RoPE tables (Su et al., RoFormer §3.4; ModernBertRotaryEmbedding): for
 * position p and pair i < dim/2 (dim = the rotated dims of a head), angle =
 * p·inv_freq_i (se_recipe_rope_inv_freq: theta^(-2i/dim), NTK-scaled as the
 * config says), cos and sin of it. Computed in double and rounded once: Hugging
 * Face builds inv_freq and p·inv_freq in float32, whose angle error grows with
 * p (README, "RoPE"). NTK_DYNAMIC: these are the tables of sequences up to
 * max_trained_positions; longer ones get theirs per forward (forward.c). */
void se_rope_fill(const se_model_config *c, double theta, int64_t seq_len, int64_t p0, int64_t rows, float *cs,
                  float *sn, size_t ld)
{
    int half = se_recipe_rope_dim(c) / 2;
    for (int i = 0; i < half; i++) {
        double inv = se_recipe_rope_inv_freq(c, theta, i, seq_len);
        for (int64_t p = 0; p < rows; p++) {
            double ang = (double)(p0 + p) * inv;
            cs[(size_t)p * ld + i] = (float)cos(ang);
            sn[(size_t)p * ld + i] = (float)sin(ang);
        }
    }
}

static void build_rope(se_model *m)
{
    int half = se_recipe_rope_dim(&m->cfg) / 2, rows = m->rope_rows;
    int n = m->cfg.global_every > 1 && m->cfg.rope_theta_local != m->cfg.rope_theta ? 2 : 1;
    m->rope_theta[0] = m->cfg.rope_theta;
    m->rope_theta[1] = n == 2 ? m->cfg.rope_theta_local : m->cfg.rope_theta;
    for (int t = 0; t < n; t++) {
        float *cs = m->rope_cs + (size_t)t * rows * 2 * half, *sn = cs + (size_t)rows * half;
        se_rope_fill(&m->cfg, m->rope_theta[t], 0, 0, rows, cs, sn, (size_t)half);
    }
}

static se_status model_alloc(const se_model_config *cfg, int tp_rank, int tp_size, se_model **out, se_error *err)
{
    *out = NULL;
    if (cfg->d_model % cfg->n_heads)
        return se_error_set(err, SE_EINVAL, "hidden_size %d is not divisible by num_attention_heads %d", cfg->d_model,
                            cfg->n_heads);
    const se_recipe *R = se_recipe_of(cfg);
    se_status st = se_recipe_check(R, err);
    if (st) return st;
    if (R->pos == SE_POS_SINUSOIDAL && cfg->d_model % 2)
        return se_error_set(err, SE_EINVAL, "sinusoidal positions need an even hidden_size, got %d", cfg->d_model);
    if (R->attn_bias == SE_ATTB_REL_BUCKETS && (cfg->rel_buckets < 32 || se_recipe_max_len(R, cfg) < 1))
        return se_error_set(err, SE_EINVAL, "relative position buckets need 32 table rows and a position limit");
    if (R->pos == SE_POS_ROPE && ((cfg->d_model / cfg->n_heads) % 2 || se_recipe_max_len(R, cfg) < 1))
        return se_error_set(err, SE_EINVAL, "RoPE needs an even head size and max_position_embeddings >= 1");
    if (R->pos_emb && se_recipe_max_len(R, cfg) < 1)
        return se_error_set(err, SE_EINVAL,
                            "max_position_embeddings %d leaves no position for a token (positions start at %d)",
                            cfg->max_pos, se_recipe_first_pos(R, cfg));
    se_model *m = calloc(1, sizeof *m);
    if (!m) return se_error_set(err, SE_ENOMEM, "cannot allocate the model");
    m->cfg = *cfg;
    if (m->cfg.emb_size <= 0) m->cfg.emb_size = cfg->d_model;
    m->recipe = R;
    m->d_head = cfg->d_model / cfg->n_heads;
    st = se_shard_plan(cfg, tp_rank, tp_size, &m->shard, err);
    if (st) {
        free(m);
        return st;
    }
    m->layers = calloc((size_t)cfg->n_layers, sizeof *m->layers);
    arena a = {0}, st_a = {0}, *stage = se_gemm_precision() == SE_PREC_BF16 ? &st_a : NULL;
    if (m->layers) layout(m, &a, stage);
    m->arena = se_alloc(a.used, sizeof(float));
    if (!m->layers || !m->arena) {
        size_t bytes = a.used * sizeof(float);
        se_model_free(m);
        return se_error_set(err, SE_ENOMEM, "cannot allocate %.1f MiB for the model weights of this rank",
                            (double)bytes / (1 << 20));
    }
    m->arena_floats = a.used;
    a.base = m->arena;
    a.used = 0;
    if (stage) {
        m->stage = se_alloc(st_a.used, sizeof(float));
        if (!m->stage) {
            se_model_free(m);
            return se_error_set(err, SE_ENOMEM, "cannot allocate %.1f MiB to stage one layer's weights",
                                (double)st_a.used * sizeof(float) / (1 << 20));
        }
        st_a.base = m->stage;
    }
    layout(m, &a, stage);
    memset(m->zeros, 0, sizeof(float) * (size_t)(m->cfg.d_model > m->cfg.emb_size ? m->cfg.d_model : m->cfg.emb_size));
    if (m->rope_cs) build_rope(m);
    /* ALiBi: local head h is global head h0 + h, whose slope depends on the
     * global head count (a rank's own count would give other slopes) */
    for (int h = 0; m->alibi_slopes && h < m->shard.nh; h++)
        m->alibi_slopes[h] = (float)se_recipe_alibi_slope(cfg->n_heads, m->shard.h0 + h);
    *out = m;
    return SE_OK;
}

/* Packs layer l's matrices once for the GEMM backend in use, right after
 * they hold their values; a backend that copies them into its own layout
 * (or bf16) adds those bytes to layer_bytes. With a staging area (bf16) the
 * fp32 matrices are dropped once the last layer is packed (prepack_done). */
static se_status prepack(se_model *m, int l, se_error *err)
{
    const int d = m->cfg.d_model, dl = m->shard.nh * m->d_head, nf = m->shard.nf;
    /* gated: W1 gives both halves, the activation comes with the product (forward) */
    const int gated = m->recipe->ffn == SE_FFN_GATED, n1 = gated ? 2 * nf : nf, act1 = gated ? -1 : (int)m->cfg.act;
    se_layer *L = &m->layers[l];
    se_status st;
    if (!(st = se_weight_pack(&L->p_qkv, L->wqkv, 3 * dl, d, L->bqkv != NULL, -1, err)) &&
        !(st = se_weight_pack(&L->p_o, L->wo, d, dl, 0, -1, err)) &&
        !(st = se_weight_pack(&L->p_1, L->w1, n1, d, L->b1 != NULL, act1, err)))
        st = se_weight_pack(&L->p_2, L->w2, d, nf, 0, -1, err);
    m->layer_bytes += se_weight_extra_bytes(L->p_qkv) + se_weight_extra_bytes(L->p_o) + se_weight_extra_bytes(L->p_1) +
                      se_weight_extra_bytes(L->p_2);
    return st;
}

/* After the last layer is packed: the staged fp32 matrices go (bf16 keeps
 * only the handles' copies), their pointers with them. */
static void prepack_done(se_model *m)
{
    if (!m->stage) return;
    se_free(m->stage);
    m->stage = NULL;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        se_layer *L = &m->layers[l];
        L->wqkv = L->wo = L->w1 = L->w2 = NULL;
    }
}

void se_model_free(se_model *m)
{
    if (!m) return;
    for (int l = 0; m->layers && l < m->cfg.n_layers; l++) {
        se_weight_free(m->layers[l].p_qkv);
        se_weight_free(m->layers[l].p_o);
        se_weight_free(m->layers[l].p_1);
        se_weight_free(m->layers[l].p_2);
    }
    se_free(m->arena);
    se_free(m->stage);
    free(m->layers);
    free(m);
}

/* ---------------------------------------------------------------- loading */

typedef struct {
    const se_st_set *f;
    const char *prefix; /* "" or the recipe's prefix that the file uses */
    const se_model_config *cfg;
} loader;

static const se_st_tensor *find_tensor(const loader *ld, const char *name, char *full, size_t cap,
                                       const se_st_file **file)
{
    snprintf(full, cap, "%s%s", ld->prefix, name);
    const se_st_tensor *t = se_st_set_find(ld->f, full, file);
    if (t) return t;
    /* Old TF-converted checkpoints name LayerNorm parameters gamma/beta;
     * Hugging Face renames them on load, so do we. */
    size_t n = strlen(full);
    if (n > 7 && !strcmp(full + n - 7, ".weight") && strstr(full, "LayerNorm")) {
        char alt[512];
        snprintf(alt, sizeof alt, "%.*s.gamma", (int)(n - 7), full);
        if ((t = se_st_set_find(ld->f, alt, file))) return t;
    } else if (n > 5 && !strcmp(full + n - 5, ".bias") && strstr(full, "LayerNorm")) {
        char alt[512];
        snprintf(alt, sizeof alt, "%.*s.beta", (int)(n - 5), full);
        if ((t = se_st_set_find(ld->f, alt, file))) return t;
    }
    return NULL;
}

static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t k = 0;
    k += (size_t)snprintf(buf + k, cap - k, "[");
    for (int i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
}

/* Finds `name`, checks its shape is exactly [d0] or [d0, d1], and copies rows
 * [r0, r0+nr) x cols [c0, c0+nc) (2-D view, see se_st_read_f32) to dst. */
static se_status load(const loader *ld, const char *name, int ndim, int64_t d0, int64_t d1, int64_t r0, int64_t nr,
                      int64_t c0, int64_t nc, float *dst, se_error *err)
{
    char full[512];
    const se_st_file *file;
    const se_st_tensor *t = find_tensor(ld, name, full, sizeof full, &file);
    if (!t)
        return se_error_set(err, SE_EFORMAT, "%s: missing tensor '%s' (needed by config.json: %s, %d layers)",
                            se_st_set_path(ld->f), full, ld->cfg->model_type, ld->cfg->n_layers);
    int64_t want[2] = {d0, d1};
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == want[i];
    if (!ok) {
        char got[128], exp[128];
        shape_str(got, sizeof got, t->ndim, t->shape);
        shape_str(exp, sizeof exp, ndim, want);
        return se_error_set(err, SE_ESHAPE, "%s: tensor '%s' has shape %s, but config.json implies %s",
                            se_st_path(file), full, got, exp);
    }
    return se_st_read_f32(file, t, r0, nr, c0, nc, dst, err);
}

#define LOAD_VEC(name, n, dst) load(&ld, name, 1, (n), 0, 0, (n), 0, 1, (dst), err)
#define LOAD_MAT(name, rows, cols, dst) load(&ld, name, 2, (rows), (cols), 0, (rows), 0, (cols), (dst), err)

static se_status load_layer(const loader *ldp, const se_model *m, int l, se_error *err)
{
    const loader ld = *ldp;
    const se_layer_names *N = &m->recipe->layer;
    const se_layer *L = &m->layers[l];
    int64_t d = m->cfg.d_model, dh = m->d_head, ff = m->cfg.d_ff;
    int64_t q0 = (int64_t)m->shard.h0 * dh, dl = (int64_t)m->shard.nh * dh;
    int64_t f0 = m->shard.f0, nf = m->shard.nf, rows = N->fused ? 3 * d : d;
    char name[256];
    se_status st;
#define NAME(fmt) (snprintf(name, sizeof name, fmt, l), name)
    /* Column-parallel QKV: the rows of the heads this rank owns, Q;K;V stacked. */
    for (int j = 0; j < 3; j++) {
        int64_t r0 = (N->fused ? j * d : 0) + q0;
        if ((st = load(&ld, NAME(N->qkv_w[j]), 2, rows, d, r0, dl, 0, d, L->wqkv + (size_t)j * dl * d, err)))
            return st;
        if (L->bqkv &&
            (st = load(&ld, NAME(N->qkv_b[j]), 1, rows, 0, r0, dl, 0, 1, L->bqkv + (size_t)j * dl, err)))
            return st;
    }
    /* Row-parallel output projection: the matching columns of Wo; bias replicated. */
    if ((st = load(&ld, NAME(N->wo), 2, d, d, 0, d, q0, dl, L->wo, err))) return st;
    if (L->bo && (st = LOAD_VEC(NAME(N->bo), d, L->bo))) return st;
    if (L->ln1_g && (st = LOAD_VEC(NAME(N->ln1_g), d, L->ln1_g))) return st;
    if (L->ln1_g && N->ln1_b && (st = LOAD_VEC(NAME(N->ln1_b), d, L->ln1_b))) return st;
    /* FFN: rows of W1 (column-parallel), columns of W2 (row-parallel). Gated:
     * W1 is [2·ff, d] and each rank takes the same units [f0, f0+nf) from both
     * halves (rows f0.. and ff+f0..), so act(a)⊙b is local and W2's columns
     * [f0, f0+nf) finish the product with the one reduction a dense FFN has. */
    int halves = m->recipe->ffn == SE_FFN_GATED ? 2 : 1, apart = N->w1_halves[0] != NULL;
    for (int hf = 0; hf < halves; hf++) {
        /* one [halves·ff, d] tensor, or (NomicBERT's fc11, fc12) one [ff, d] per half */
        const char *wn = apart ? N->w1_halves[hf] : N->w1, *bn = apart ? N->b1_halves[hf] : N->b1;
        int64_t all = apart ? ff : halves * ff, r0 = (apart ? 0 : hf * ff) + f0;
        if ((st = load(&ld, NAME(wn), 2, all, d, r0, nf, 0, d, L->w1 + (size_t)hf * nf * d, err))) return st;
        if (L->b1 && (st = load(&ld, NAME(bn), 1, all, 0, r0, nf, 0, 1, L->b1 + hf * nf, err))) return st;
    }
    if ((st = load(&ld, NAME(N->w2), 2, d, ff, 0, d, f0, nf, L->w2, err))) return st;
    if (L->b2 && (st = LOAD_VEC(NAME(N->b2), d, L->b2))) return st;
    if ((st = LOAD_VEC(NAME(N->ln2_g), d, L->ln2_g))) return st;
    return N->ln2_b ? LOAD_VEC(NAME(N->ln2_b), d, L->ln2_b) : SE_OK;
#undef NAME
}

se_status se_model_load_config(const char *dir, se_model_config *cfg, se_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    return se_config_load(path, cfg, err);
}

/* bias[h][center + r] = E_rel[bucket(r), h] for r = j - i in [-center, center]:
 * MPNetEncoder.compute_position_bias, looked up once instead of per batch. */
static void build_att_bias(se_model *m)
{
    int nh = m->shard.nh, w = 2 * m->att_center + 1;
    for (int h = 0; h < nh; h++)
        for (int r = -m->att_center; r <= m->att_center; r++)
            m->att_bias[(size_t)h * w + m->att_center + r] = m->rel_emb[(size_t)se_recipe_rel_bucket(r) * nh + h];
}

/* The embedding tensors of the recipe: token, position, type, norm, projection. */
static se_status load_embeddings(const loader *ldp, se_model *m, se_error *err)
{
    const loader ld = *ldp;
    const se_recipe *R = m->recipe;
    const se_model_config *c = &m->cfg;
    int64_t d = c->d_model, e = c->emb_size;
    se_status st = LOAD_MAT(R->tok_emb, c->vocab_size, e, m->tok_emb);
    if (!st && m->pos_emb) st = LOAD_MAT(R->pos_emb, c->max_pos, e, m->pos_emb);
    if (!st && m->type_emb) st = LOAD_MAT(R->type_emb, c->type_vocab, e, m->type_emb);
    if (!st && m->emb_ln_g) st = LOAD_VEC(R->emb_ln_g, e, m->emb_ln_g);
    if (!st && R->emb_ln_b) st = LOAD_VEC(R->emb_ln_b, e, m->emb_ln_b);
    if (!st && R->final_ln_g) st = LOAD_VEC(R->final_ln_g, d, m->final_ln_g);
    if (!st && R->final_ln_b) st = LOAD_VEC(R->final_ln_b, d, m->final_ln_b);
    if (!st && m->emb_proj_w) st = LOAD_MAT(R->emb_proj_w, d, e, m->emb_proj_w);
    if (!st && m->emb_proj_b) st = LOAD_VEC(R->emb_proj_b, d, m->emb_proj_b);
    /* the relative bias table: every bucket row, the columns of this rank's heads */
    if (!st && m->rel_emb)
        st = load(&ld, R->rel_bias, 2, c->rel_buckets, c->n_heads, 0, c->rel_buckets, m->shard.h0, m->shard.nh,
                  m->rel_emb, err);
    if (!st && m->att_bias) build_att_bias(m);
    return st;
}

/* Does `name` spell printf format `fmt` (one %d, or none)? *l gets the number. */
static int fmt_match(const char *fmt, const char *name, int *l)
{
    const char *d = strstr(fmt, "%d");
    *l = -1;
    if (!d) return !strcmp(fmt, name);
    size_t pre = (size_t)(d - fmt);
    if (strncmp(fmt, name, pre)) return 0;
    const char *p = name + pre, *q = p;
    while (*q >= '0' && *q <= '9') q++;
    if (q == p || q - p > 6) return 0;
    *l = atoi(p);
    return !strcmp(q, d + 2);
}

/* The recipe's names of the encoder: the layer tensors, or a table it reads. */
static int known_name(const se_recipe *R, const char *name, int *l)
{
    const se_layer_names *N = &R->layer;
    const char *const fm[] = {N->qkv_w[0], N->qkv_w[1], N->qkv_w[2], N->qkv_b[0], N->qkv_b[1], N->qkv_b[2],
                              N->wo,       N->bo,       N->ln1_g,    N->ln1_b,    N->w1,       N->b1,
                              N->w2,       N->b2,       N->ln2_g,    N->ln2_b,    R->rel_bias, R->tok_emb,
                              R->pos_emb,  R->type_emb, R->emb_ln_g, R->emb_ln_b, R->emb_proj_w, R->emb_proj_b,
                              N->w1_halves[0], N->w1_halves[1], N->b1_halves[0], N->b1_halves[1]};
    char alt[512];
    size_t n = strlen(name);
    /* LayerNorm gamma/beta, as find_tensor accepts them */
    if (n > 6 && !strcmp(name + n - 6, ".gamma")) snprintf(alt, sizeof alt, "%.*s.weight", (int)(n - 6), name);
    else if (n > 5 && !strcmp(name + n - 5, ".beta")) snprintf(alt, sizeof alt, "%.*s.bias", (int)(n - 5), name);
    else snprintf(alt, sizeof alt, "%s", name);
    for (size_t i = 0; i < sizeof fm / sizeof fm[0]; i++)
        if (fm[i] && fmt_match(fm[i], alt, l)) return 1;
    return 0;
}

/* A tensor under the encoder's own prefix (the first component of the layer
 * names: "encoder.", DistilBERT's "transformer.") that the recipe does not
 * read would change the rows if the model used it (TransformerEncoder's
 * final `encoder.norm`, an extra projection...): refused by name. Tensors
 * outside it (heads: cls.*, pooler.*, lm_head.*, vocab_*; buffers such as
 * embeddings.position_ids) are ignored, as AutoModel ignores them; layers
 * past num_hidden_layers only warn, as Hugging Face does. */
static se_status check_unused(const se_st_set *f, const se_recipe *R, const char *prefix, se_error *err)
{
    const char *dot = strchr(R->layer_probe, '.');
    size_t pl = strlen(prefix), rl = dot ? (size_t)(dot - R->layer_probe) + 1 : 0;
    for (int k = 0; k < se_st_set_n_files(f); k++) {
        const se_st_file *file = se_st_set_file(f, k);
        const se_st_tensor *t;
        for (size_t i = 0; (t = se_st_at(file, i)); i++) {
            const char *nm = t->name;
            if (strncmp(nm, prefix, pl)) continue;
            nm += pl;
            int l;
            if (!rl || strncmp(nm, R->layer_probe, rl) || known_name(R, nm, &l)) continue;
            return se_error_set(err, SE_EUNSUPPORTED,
                                "%s: tensor '%s' is not part of the %s recipe (shardenc would ignore it and compute "
                                "other rows than the model: e.g. a final encoder norm, "
                                "nn.TransformerEncoder(norm=...), is not supported)",
                                se_st_path(file), t->name, R->family);
        }
    }
    return SE_OK;
}

se_status se_model_load(const char *dir, int tp_rank, int tp_size, se_model **out, se_error *err)
{
    *out = NULL;
    se_model_config cfg;
    se_status st = se_model_load_config(dir, &cfg, err);
    if (st) return st;
    se_st_set *f;
    if ((st = se_st_set_open(dir, &f, err))) return st;
    se_model *m;
    if ((st = model_alloc(&cfg, tp_rank, tp_size, &m, err))) {
        se_st_set_close(f);
        return st;
    }
    snprintf(m->source, sizeof m->source, "%s", dir);
    const se_recipe *R = m->recipe;
    loader ld = {.f = f, .prefix = "", .cfg = &m->cfg};
    /* Bare names (AutoModel) or under the family's prefix (the *For* heads). */
    const se_st_file *hold;
    for (int i = 0; i < 3 && R->prefixes[i] && !se_st_set_find(f, R->tok_emb, &hold); i++) {
        char full[256];
        snprintf(full, sizeof full, "%s%s", R->prefixes[i], R->tok_emb);
        if (se_st_set_find(f, full, &hold)) {
            ld.prefix = R->prefixes[i];
            break;
        }
    }
    st = load_embeddings(&ld, m, err);
    for (int l = 0; !st && l < cfg.n_layers; l++)
        if (!(st = load_layer(&ld, m, l, err))) st = prepack(m, l, err);
    /* after the loads, so that a missing tensor is the message for a wrong family */
    if (!st) st = check_unused(f, R, ld.prefix, err);
    if (!st) {
        /* More layers in the file than the config asks for is a config/checkpoint
         * mismatch worth a warning; Hugging Face ignores them the same way. */
        char extra[256], probe[200];
        snprintf(probe, sizeof probe, R->layer_probe, cfg.n_layers);
        snprintf(extra, sizeof extra, "%s%s", ld.prefix, probe);
        if (se_st_set_find(f, extra, &hold))
            se_log(SE_LOG_WARN, "%s holds more layers than num_hidden_layers=%d in config.json; using the first %d",
                   se_st_set_path(f), cfg.n_layers, cfg.n_layers);
    }
    se_st_set_close(f);
    if (st) {
        se_model_free(m);
        return st;
    }
    prepack_done(m);
    *out = m;
    return SE_OK;
}

/* ---------------------------------------------------------------- random init */

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* FNV-1a of the tensor name from a basis one digit short of FNV's own: a
 * slip kept on purpose, since it seeds every random model init-model has
 * made (changing it would change them all). */
static uint64_t name_hash(const char *s)
{
    return se_fnv1a64(1469598103934665603ULL, s, strlen(s));
}

/* Fills dst with rows [r0,r0+nr) x cols [c0,c0+nc) of a virtual full tensor
 * `name` of width `cols`: value = mean + std·U(-√3, √3), from (seed, name, index). */
static void fill(float *dst, uint64_t seed, const char *name, int64_t cols, int64_t r0, int64_t nr, int64_t c0,
                 int64_t nc, float mean, float std)
{
    uint64_t key = splitmix64(seed ^ name_hash(name));
    for (int64_t r = 0; r < nr; r++)
        for (int64_t c = 0; c < nc; c++) {
            uint64_t u = splitmix64(key + (uint64_t)((r0 + r) * cols + (c0 + c)));
            double x = ((double)(u >> 11) * 0x1.0p-53) * 2.0 - 1.0; /* U(-1, 1) */
            dst[r * nc + c] = mean + std * (float)(x * 1.7320508075688772);
        }
}

se_status se_model_init_random(const se_model_config *cfg, uint64_t seed, int tp_rank, int tp_size, se_model **out,
                               se_error *err)
{
    se_model *m;
    se_status st = model_alloc(cfg, tp_rank, tp_size, &m, err);
    if (st) return st;
    snprintf(m->source, sizeof m->source, "random(seed=%llu)", (unsigned long long)seed);
    const se_recipe *R = m->recipe;
    int64_t d = cfg->d_model, dh = m->d_head, ff = cfg->d_ff;
    int64_t q0 = (int64_t)m->shard.h0 * dh, dl = (int64_t)m->shard.nh * dh, f0 = m->shard.f0, nf = m->shard.nf;
    const float w = 0.02f; /* BERT's initializer_range */
    int64_t e = m->cfg.emb_size;
    fill(m->tok_emb, seed, "tok", e, 0, cfg->vocab_size, 0, e, 0, w);
    if (m->pos_emb) fill(m->pos_emb, seed, "pos", e, 0, cfg->max_pos, 0, e, 0, w);
    if (m->type_emb) fill(m->type_emb, seed, "type", e, 0, cfg->type_vocab, 0, e, 0, w);
    if (m->emb_ln_g) fill(m->emb_ln_g, seed, "eln_g", e, 0, 1, 0, e, 1, 0.05f);
    if (R->emb_ln_b) fill(m->emb_ln_b, seed, "eln_b", e, 0, 1, 0, e, 0, 0.05f);
    if (R->final_ln_g) fill(m->final_ln_g, seed, "fln_g", d, 0, 1, 0, d, 1, 0.05f);
    if (R->final_ln_b) fill(m->final_ln_b, seed, "fln_b", d, 0, 1, 0, d, 0, 0.05f);
    if (m->emb_proj_w) fill(m->emb_proj_w, seed, "eproj_w", e, 0, d, 0, e, 0, w);
    if (m->emb_proj_b) fill(m->emb_proj_b, seed, "eproj_b", 1, 0, d, 0, 1, 0, w);
    if (m->rel_emb) {
        fill(m->rel_emb, seed, "rel", cfg->n_heads, 0, cfg->rel_buckets, m->shard.h0, m->shard.nh, 0, 0.5f);
        build_att_bias(m);
    }
    for (int l = 0; l < cfg->n_layers; l++) {
        se_layer *L = &m->layers[l];
        char n[64];
        static const char *const qkv[3] = {"q", "k", "v"};
        for (int j = 0; j < 3; j++) {
            snprintf(n, sizeof n, "%d.w%s", l, qkv[j]);
            fill(L->wqkv + j * dl * d, seed, n, d, q0, dl, 0, d, 0, w);
            snprintf(n, sizeof n, "%d.b%s", l, qkv[j]);
            if (L->bqkv) fill(L->bqkv + j * dl, seed, n, 1, q0, dl, 0, 1, 0, w);
        }
#define FILL(field, tag, cols, r0, nr, c0, nc, mean, std)                                                               \
    snprintf(n, sizeof n, "%d." tag, l);                                                                               \
    fill(L->field, seed, n, cols, r0, nr, c0, nc, mean, std)
        const se_layer_names *N = &R->layer;
        FILL(wo, "wo", d, 0, d, q0, dl, 0, w);
        if (L->bo) { FILL(bo, "bo", 1, 0, d, 0, 1, 0, w); }
        if (L->ln1_g) { FILL(ln1_g, "ln1g", 1, 0, d, 0, 1, 1, 0.05f); }
        if (L->ln1_g && N->ln1_b) { FILL(ln1_b, "ln1b", 1, 0, d, 0, 1, 0, 0.05f); }
        /* gated: a virtual [2·ff, d] W1, each half's rows f0.. */
        for (int hf = 0; hf < (R->ffn == SE_FFN_GATED ? 2 : 1); hf++) {
            snprintf(n, sizeof n, "%d.w1", l);
            fill(L->w1 + (size_t)hf * nf * d, seed, n, d, hf * ff + f0, nf, 0, d, 0, w);
            snprintf(n, sizeof n, "%d.b1", l);
            if (L->b1) fill(L->b1 + hf * nf, seed, n, 1, hf * ff + f0, nf, 0, 1, 0, w);
        }
        FILL(w2, "w2", ff, 0, d, f0, nf, 0, w);
        if (L->b2) { FILL(b2, "b2", 1, 0, d, 0, 1, 0, w); }
        FILL(ln2_g, "ln2g", 1, 0, d, 0, 1, 1, 0.05f);
        if (N->ln2_b) { FILL(ln2_b, "ln2b", 1, 0, d, 0, 1, 0, 0.05f); }
#undef FILL
        if ((st = prepack(m, l, err))) {
            se_model_free(m);
            return st;
        }
    }
    prepack_done(m);
    *out = m;
    return SE_OK;
}

/* ---------------------------------------------------------------- saving */

se_status se_model_save(const se_model *m, const char *dir, se_dtype dtype, se_error *err)
{
    if (m->shard.tp_size != 1)
        return se_error_set(err, SE_EINVAL, "only a whole model (tp 1) can be saved, this one is shard %d of %d",
                            m->shard.tp_rank, m->shard.tp_size);
    const se_model_config *c = &m->cfg;
    const se_recipe *R = m->recipe;
    if (c->n_layers > 0 && !m->layers[0].wqkv)
        return se_error_set(err, SE_EUNSUPPORTED, "a model loaded with precision bf16 keeps no fp32 layer weights to "
                                                  "save (load it with --precision fp32)");
    if (R->norm != SE_NORM_POST || R->ffn != SE_FFN_DENSE || R->pos == SE_POS_ROPE)
        return se_error_set(err, SE_EUNSUPPORTED, "saving a %s model is not implemented (post-LN dense families only)",
                            R->family);
    int64_t d = c->d_model, ff = c->d_ff, e_w = c->emb_size;
    size_t cap = 8 + (size_t)c->n_layers * 16, n = 0;
    se_st_entry *e = calloc(cap, sizeof *e);
    char(*names)[128] = calloc(cap, sizeof *names);
    if (!e || !names) {
        free(e);
        free(names);
        return se_error_set(err, SE_ENOMEM, "cannot allocate the tensor list");
    }
#define ADD(nm, ptr, nd, s0, s1)                                                                                       \
    do {                                                                                                               \
        snprintf(names[n], sizeof names[n], "%s", nm);                                                                 \
        e[n] = (se_st_entry){.name = names[n], .dtype = dtype, .ndim = nd, .shape = {s0, s1}, .data = ptr};            \
        n++;                                                                                                           \
    } while (0)
    char nm[128];
    ADD(R->tok_emb, m->tok_emb, 2, c->vocab_size, e_w);
    if (m->pos_emb) ADD(R->pos_emb, m->pos_emb, 2, c->max_pos, e_w);
    if (m->type_emb) ADD(R->type_emb, m->type_emb, 2, c->type_vocab, e_w);
    if (m->emb_ln_g) ADD(R->emb_ln_g, m->emb_ln_g, 1, e_w, 0);
    if (m->emb_ln_b) ADD(R->emb_ln_b, m->emb_ln_b, 1, e_w, 0);
    if (m->emb_proj_w) ADD(R->emb_proj_w, m->emb_proj_w, 2, d, e_w);
    if (m->emb_proj_b) ADD(R->emb_proj_b, m->emb_proj_b, 1, d, 0);
    if (m->rel_emb) ADD(R->rel_bias, m->rel_emb, 2, c->rel_buckets, c->n_heads);
    const se_layer_names *N = &R->layer;
    for (int l = 0; l < c->n_layers; l++) {
        const se_layer *L = &m->layers[l];
#define L2(fmt, ptr, nd, s0, s1)                                                                                       \
    snprintf(nm, sizeof nm, fmt, l);                                                                                   \
    ADD(nm, ptr, nd, s0, s1)
        if (N->fused) {
            L2(N->qkv_w[0], L->wqkv, 2, 3 * d, d);
            L2(N->qkv_b[0], L->bqkv, 1, 3 * d, 0);
        } else {
            for (int j = 0; j < 3; j++) {
                L2(N->qkv_w[j], L->wqkv + j * d * d, 2, d, d);
                L2(N->qkv_b[j], L->bqkv + j * d, 1, d, 0);
            }
        }
        L2(N->wo, L->wo, 2, d, d);
        L2(N->bo, L->bo, 1, d, 0);
        L2(N->ln1_g, L->ln1_g, 1, d, 0);
        L2(N->ln1_b, L->ln1_b, 1, d, 0);
        L2(N->w1, L->w1, 2, ff, d);
        L2(N->b1, L->b1, 1, ff, 0);
        L2(N->w2, L->w2, 2, d, ff);
        L2(N->b2, L->b2, 1, d, 0);
        L2(N->ln2_g, L->ln2_g, 1, d, 0);
        L2(N->ln2_b, L->ln2_b, 1, d, 0);
#undef L2
    }
#undef ADD
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        free(e);
        free(names);
        return se_error_set(err, SE_EIO, "%s: cannot create folder: %s", dir, strerror(errno));
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    se_status st = se_config_save(path, c, err);
    if (!st) {
        static const char *const meta[] = {"format", "pt", "generator", "shardenc " SE_VERSION};
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        st = se_st_write(path, e, n, meta, 2, err);
    }
    free(e);
    free(names);
    return st;
}
