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

/* Lays out every tensor of the model in the arena. Called twice: once with
 * base == NULL to measure, once to assign the pointers. */
static void layout(se_model *m, arena *a)
{
    const se_model_config *c = &m->cfg;
    size_t d = (size_t)c->d_model, dl = (size_t)m->shard.nh * (size_t)m->d_head, nf = (size_t)m->shard.nf;
    size_t rep0 = a->used;
    m->tok_emb = take(a, (size_t)c->vocab_size * d);
    if (c->arch == SE_ARCH_BERT) {
        m->pos_emb = take(a, (size_t)c->max_pos * d);
        m->type_emb = take(a, (size_t)(c->type_vocab > 0 ? c->type_vocab : 1) * d);
        m->emb_ln_g = take(a, d);
        m->emb_ln_b = take(a, d);
    } else {
        m->pos_emb = m->type_emb = m->emb_ln_g = m->emb_ln_b = NULL;
    }
    size_t rep = a->used - rep0, lay = 0;
    for (int l = 0; l < c->n_layers; l++) {
        se_layer *L = &m->layers[l];
        size_t u0 = a->used;
        L->wqkv = take(a, 3 * dl * d);
        L->bqkv = take(a, 3 * dl);
        L->wo = take(a, d * dl);
        L->w1 = take(a, nf * d);
        L->b1 = take(a, nf);
        L->w2 = take(a, d * nf);
        lay += a->used - u0;
        u0 = a->used;
        L->bo = take(a, d);
        L->ln1_g = take(a, d);
        L->ln1_b = take(a, d);
        L->b2 = take(a, d);
        L->ln2_g = take(a, d);
        L->ln2_b = take(a, d);
        rep += a->used - u0;
    }
    m->layer_bytes = lay * sizeof(float);
    m->replicated_bytes = rep * sizeof(float);
}

static se_status model_alloc(const se_model_config *cfg, int tp_rank, int tp_size, se_model **out, se_error *err)
{
    *out = NULL;
    if (cfg->d_model % cfg->n_heads)
        return se_error_set(err, SE_EINVAL, "hidden_size %d is not divisible by num_attention_heads %d", cfg->d_model,
                            cfg->n_heads);
    if (cfg->arch == SE_ARCH_VANILLA && cfg->d_model % 2)
        return se_error_set(err, SE_EINVAL, "sinusoidal positions need an even hidden_size, got %d", cfg->d_model);
    se_model *m = calloc(1, sizeof *m);
    if (!m) return se_error_set(err, SE_ENOMEM, "cannot allocate the model");
    m->cfg = *cfg;
    m->d_head = cfg->d_model / cfg->n_heads;
    se_status st = se_shard_plan(cfg, tp_rank, tp_size, &m->shard, err);
    if (st) {
        free(m);
        return st;
    }
    m->layers = calloc((size_t)cfg->n_layers, sizeof *m->layers);
    arena a = {0};
    layout(m, &a);
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
    layout(m, &a);
    *out = m;
    return SE_OK;
}

/* Packs every layer's matrices once for the GEMM backend in use, after the
 * arena holds their values; a backend that copies them into its own layout
 * adds those bytes to layer_bytes. */
static se_status prepack(se_model *m, se_error *err)
{
    const int d = m->cfg.d_model, dl = m->shard.nh * m->d_head, nf = m->shard.nf;
    se_status st = SE_OK;
    for (int l = 0; !st && l < m->cfg.n_layers; l++) {
        se_layer *L = &m->layers[l];
        if (!(st = se_weight_pack(&L->p_qkv, L->wqkv, 3 * dl, d, 1, -1, err)) &&
            !(st = se_weight_pack(&L->p_o, L->wo, d, dl, 0, -1, err)) &&
            !(st = se_weight_pack(&L->p_1, L->w1, nf, d, 1, (int)m->cfg.act, err)))
            st = se_weight_pack(&L->p_2, L->w2, d, nf, 0, -1, err);
        m->layer_bytes += se_weight_extra_bytes(L->p_qkv) + se_weight_extra_bytes(L->p_o) +
                          se_weight_extra_bytes(L->p_1) + se_weight_extra_bytes(L->p_2);
    }
    return st;
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
    free(m->layers);
    free(m);
}

/* ---------------------------------------------------------------- loading */

typedef struct {
    const se_st_file *f;
    const char *prefix; /* "" or "bert." */
    const se_model_config *cfg;
} loader;

static const se_st_tensor *find_tensor(const loader *ld, const char *name, char *full, size_t cap)
{
    snprintf(full, cap, "%s%s", ld->prefix, name);
    const se_st_tensor *t = se_st_find(ld->f, full);
    if (t) return t;
    /* Old TF-converted checkpoints name LayerNorm parameters gamma/beta;
     * Hugging Face renames them on load, so do we. */
    size_t n = strlen(full);
    if (n > 7 && !strcmp(full + n - 7, ".weight") && strstr(full, "LayerNorm")) {
        char alt[512];
        snprintf(alt, sizeof alt, "%.*s.gamma", (int)(n - 7), full);
        if ((t = se_st_find(ld->f, alt))) return t;
    } else if (n > 5 && !strcmp(full + n - 5, ".bias") && strstr(full, "LayerNorm")) {
        char alt[512];
        snprintf(alt, sizeof alt, "%.*s.beta", (int)(n - 5), full);
        if ((t = se_st_find(ld->f, alt))) return t;
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
    const se_st_tensor *t = find_tensor(ld, name, full, sizeof full);
    if (!t)
        return se_error_set(err, SE_EFORMAT, "%s: missing tensor '%s' (needed by config.json: %s, %d layers)",
                            se_st_path(ld->f), full, ld->cfg->model_type, ld->cfg->n_layers);
    int64_t want[2] = {d0, d1};
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == want[i];
    if (!ok) {
        char got[128], exp[128];
        shape_str(got, sizeof got, t->ndim, t->shape);
        shape_str(exp, sizeof exp, ndim, want);
        return se_error_set(err, SE_ESHAPE, "%s: tensor '%s' has shape %s, but config.json implies %s",
                            se_st_path(ld->f), full, got, exp);
    }
    return se_st_read_f32(ld->f, t, r0, nr, c0, nc, dst, err);
}

#define LOAD_VEC(name, n, dst) load(&ld, name, 1, (n), 0, 0, (n), 0, 1, (dst), err)
#define LOAD_MAT(name, rows, cols, dst) load(&ld, name, 2, (rows), (cols), 0, (rows), 0, (cols), (dst), err)

/* Tensor names of one layer, per family. BERT stores Q, K and V apart;
 * torch.nn.TransformerEncoder stacks them in in_proj_weight [3d, d]. */
typedef struct {
    const char *qkv_w[3], *qkv_b[3];
    int fused; /* Q;K;V are row blocks j·d of one [3d, d] tensor */
    const char *wo, *bo, *ln1_g, *ln1_b, *w1, *b1, *w2, *b2, *ln2_g, *ln2_b;
} layer_names;

static const layer_names bert_names = {
    {"encoder.layer.%d.attention.self.query.weight", "encoder.layer.%d.attention.self.key.weight",
     "encoder.layer.%d.attention.self.value.weight"},
    {"encoder.layer.%d.attention.self.query.bias", "encoder.layer.%d.attention.self.key.bias",
     "encoder.layer.%d.attention.self.value.bias"},
    0,
    "encoder.layer.%d.attention.output.dense.weight",
    "encoder.layer.%d.attention.output.dense.bias",
    "encoder.layer.%d.attention.output.LayerNorm.weight",
    "encoder.layer.%d.attention.output.LayerNorm.bias",
    "encoder.layer.%d.intermediate.dense.weight",
    "encoder.layer.%d.intermediate.dense.bias",
    "encoder.layer.%d.output.dense.weight",
    "encoder.layer.%d.output.dense.bias",
    "encoder.layer.%d.output.LayerNorm.weight",
    "encoder.layer.%d.output.LayerNorm.bias",
};

static const layer_names vanilla_names = {
    {"encoder.layers.%d.self_attn.in_proj_weight", "encoder.layers.%d.self_attn.in_proj_weight",
     "encoder.layers.%d.self_attn.in_proj_weight"},
    {"encoder.layers.%d.self_attn.in_proj_bias", "encoder.layers.%d.self_attn.in_proj_bias",
     "encoder.layers.%d.self_attn.in_proj_bias"},
    1,
    "encoder.layers.%d.self_attn.out_proj.weight",
    "encoder.layers.%d.self_attn.out_proj.bias",
    "encoder.layers.%d.norm1.weight",
    "encoder.layers.%d.norm1.bias",
    "encoder.layers.%d.linear1.weight",
    "encoder.layers.%d.linear1.bias",
    "encoder.layers.%d.linear2.weight",
    "encoder.layers.%d.linear2.bias",
    "encoder.layers.%d.norm2.weight",
    "encoder.layers.%d.norm2.bias",
};

static const layer_names *names_of(const se_model_config *c)
{
    return c->arch == SE_ARCH_BERT ? &bert_names : &vanilla_names;
}

static se_status load_layer(const loader *ldp, const se_model *m, int l, se_error *err)
{
    const loader ld = *ldp;
    const layer_names *N = names_of(&m->cfg);
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
        if ((st = load(&ld, NAME(N->qkv_b[j]), 1, rows, 0, r0, dl, 0, 1, L->bqkv + (size_t)j * dl, err))) return st;
    }
    /* Row-parallel output projection: the matching columns of Wo; bias replicated. */
    if ((st = load(&ld, NAME(N->wo), 2, d, d, 0, d, q0, dl, L->wo, err))) return st;
    if ((st = LOAD_VEC(NAME(N->bo), d, L->bo))) return st;
    if ((st = LOAD_VEC(NAME(N->ln1_g), d, L->ln1_g))) return st;
    if ((st = LOAD_VEC(NAME(N->ln1_b), d, L->ln1_b))) return st;
    /* FFN: rows of W1 (column-parallel), columns of W2 (row-parallel). */
    if ((st = load(&ld, NAME(N->w1), 2, ff, d, f0, nf, 0, d, L->w1, err))) return st;
    if ((st = load(&ld, NAME(N->b1), 1, ff, 0, f0, nf, 0, 1, L->b1, err))) return st;
    if ((st = load(&ld, NAME(N->w2), 2, d, ff, 0, d, f0, nf, L->w2, err))) return st;
    if ((st = LOAD_VEC(NAME(N->b2), d, L->b2))) return st;
    if ((st = LOAD_VEC(NAME(N->ln2_g), d, L->ln2_g))) return st;
    return LOAD_VEC(NAME(N->ln2_b), d, L->ln2_b);
#undef NAME
}

se_status se_model_load_config(const char *dir, se_model_config *cfg, se_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    return se_config_load(path, cfg, err);
}

se_status se_model_load(const char *dir, int tp_rank, int tp_size, se_model **out, se_error *err)
{
    *out = NULL;
    se_model_config cfg;
    se_status st = se_model_load_config(dir, &cfg, err);
    if (st) return st;
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        char alt[4096];
        snprintf(alt, sizeof alt, "%s/pytorch_model.bin", dir);
        if (stat(alt, &sb) == 0)
            return se_error_set(err, SE_EUNSUPPORTED,
                                "%s: no model.safetensors, only pytorch_model.bin (a pickle, which shardenc does not "
                                "execute); convert it once with Hugging Face: "
                                "AutoModel.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)",
                                dir);
        return se_error_set(err, SE_EIO, "%s: cannot open model weights", path);
    }
    se_st_file *f;
    if ((st = se_st_open(path, &f, err))) return st;
    se_model *m;
    if ((st = model_alloc(&cfg, tp_rank, tp_size, &m, err))) {
        se_st_close(f);
        return st;
    }
    snprintf(m->source, sizeof m->source, "%s", dir);
    loader ld = {.f = f, .prefix = "", .cfg = &cfg};
    int64_t d = cfg.d_model;
    if (cfg.arch == SE_ARCH_BERT) {
        if (!se_st_find(f, "embeddings.word_embeddings.weight") && se_st_find(f, "bert.embeddings.word_embeddings.weight"))
            ld.prefix = "bert.";
        if (!(st = LOAD_MAT("embeddings.word_embeddings.weight", cfg.vocab_size, d, m->tok_emb)) &&
            !(st = LOAD_MAT("embeddings.position_embeddings.weight", cfg.max_pos, d, m->pos_emb)) &&
            !(st = cfg.type_vocab > 0 ? LOAD_MAT("embeddings.token_type_embeddings.weight", cfg.type_vocab, d,
                                                 m->type_emb)
                                      : SE_OK) &&
            !(st = LOAD_VEC("embeddings.LayerNorm.weight", d, m->emb_ln_g)))
            st = LOAD_VEC("embeddings.LayerNorm.bias", d, m->emb_ln_b);
        if (cfg.type_vocab == 0) memset(m->type_emb, 0, (size_t)d * sizeof(float));
    } else {
        st = LOAD_MAT("embedding.weight", cfg.vocab_size, d, m->tok_emb);
    }
    for (int l = 0; !st && l < cfg.n_layers; l++) st = load_layer(&ld, m, l, err);
    if (!st) {
        /* More layers in the file than the config asks for is a config/checkpoint
         * mismatch worth a warning; Hugging Face ignores them the same way. */
        char extra[128];
        snprintf(extra, sizeof extra, cfg.arch == SE_ARCH_BERT ? "%sencoder.layer.%d.output.dense.weight"
                                                               : "%sencoder.layers.%d.linear2.weight",
                 ld.prefix, cfg.n_layers);
        if (se_st_find(f, extra))
            se_log(SE_LOG_WARN, "%s holds more layers than num_hidden_layers=%d in config.json; using the first %d",
                   path, cfg.n_layers, cfg.n_layers);
    }
    se_st_close(f);
    if (!st) st = prepack(m, err);
    if (st) {
        se_model_free(m);
        return st;
    }
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

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
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
    int64_t d = cfg->d_model, dh = m->d_head, ff = cfg->d_ff;
    int64_t q0 = (int64_t)m->shard.h0 * dh, dl = (int64_t)m->shard.nh * dh, f0 = m->shard.f0, nf = m->shard.nf;
    const float w = 0.02f; /* BERT's initializer_range */
    fill(m->tok_emb, seed, "tok", d, 0, cfg->vocab_size, 0, d, 0, w);
    if (cfg->arch == SE_ARCH_BERT) {
        fill(m->pos_emb, seed, "pos", d, 0, cfg->max_pos, 0, d, 0, w);
        fill(m->type_emb, seed, "type", d, 0, cfg->type_vocab > 0 ? cfg->type_vocab : 1, 0, d, 0, w);
        fill(m->emb_ln_g, seed, "eln_g", d, 0, 1, 0, d, 1, 0.05f);
        fill(m->emb_ln_b, seed, "eln_b", d, 0, 1, 0, d, 0, 0.05f);
    }
    for (int l = 0; l < cfg->n_layers; l++) {
        se_layer *L = &m->layers[l];
        char n[64];
        static const char *const qkv[3] = {"q", "k", "v"};
        for (int j = 0; j < 3; j++) {
            snprintf(n, sizeof n, "%d.w%s", l, qkv[j]);
            fill(L->wqkv + j * dl * d, seed, n, d, q0, dl, 0, d, 0, w);
            snprintf(n, sizeof n, "%d.b%s", l, qkv[j]);
            fill(L->bqkv + j * dl, seed, n, 1, q0, dl, 0, 1, 0, w);
        }
#define FILL(field, tag, cols, r0, nr, c0, nc, mean, std)                                                               \
    snprintf(n, sizeof n, "%d." tag, l);                                                                               \
    fill(L->field, seed, n, cols, r0, nr, c0, nc, mean, std)
        FILL(wo, "wo", d, 0, d, q0, dl, 0, w);
        FILL(bo, "bo", 1, 0, d, 0, 1, 0, w);
        FILL(ln1_g, "ln1g", 1, 0, d, 0, 1, 1, 0.05f);
        FILL(ln1_b, "ln1b", 1, 0, d, 0, 1, 0, 0.05f);
        FILL(w1, "w1", d, f0, nf, 0, d, 0, w);
        FILL(b1, "b1", 1, f0, nf, 0, 1, 0, w);
        FILL(w2, "w2", ff, 0, d, f0, nf, 0, w);
        FILL(b2, "b2", 1, 0, d, 0, 1, 0, w);
        FILL(ln2_g, "ln2g", 1, 0, d, 0, 1, 1, 0.05f);
        FILL(ln2_b, "ln2b", 1, 0, d, 0, 1, 0, 0.05f);
#undef FILL
    }
    if ((st = prepack(m, err))) {
        se_model_free(m);
        return st;
    }
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
    int64_t d = c->d_model, ff = c->d_ff;
    int bert = c->arch == SE_ARCH_BERT;
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
    if (bert) {
        ADD("embeddings.word_embeddings.weight", m->tok_emb, 2, c->vocab_size, d);
        ADD("embeddings.position_embeddings.weight", m->pos_emb, 2, c->max_pos, d);
        if (c->type_vocab > 0) ADD("embeddings.token_type_embeddings.weight", m->type_emb, 2, c->type_vocab, d);
        ADD("embeddings.LayerNorm.weight", m->emb_ln_g, 1, d, 0);
        ADD("embeddings.LayerNorm.bias", m->emb_ln_b, 1, d, 0);
    } else {
        ADD("embedding.weight", m->tok_emb, 2, c->vocab_size, d);
    }
    const layer_names *N = names_of(c);
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
