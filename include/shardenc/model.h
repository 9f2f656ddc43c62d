/* shardenc model: weights (each rank loads only its shard), the layer and model
 * forward, pooling. Asks io for tensors by name, kernels for the math, dist for
 * the collectives; never parses a file itself. */
#ifndef SHARDENC_MODEL_H
#define SHARDENC_MODEL_H

#include <mpi.h>

#include "shardenc/core.h"
#include "shardenc/dist.h"
#include "shardenc/io.h"

/* ------------------------------------------------------------------ recipes
 * A family is data (DESIGN.md, "Families are data"): one forward reads these
 * axes and one loader reads these names; adding a family is one small file
 * src/model/family_<name>.c holding its se_recipe, plus its reference test.
 * Pre-LN, RoPE, gated FFNs and local (sliding-window) layers run (ModernBERT,
 * issue 12), and ALiBi without a position table (JinaBERT-v2); a recipe that
 * uses an axis the forward does not implement is refused by se_recipe_check. */
typedef enum {
    SE_POS_LEARNED = 0,    /* E_pos[p], p = 0.. (BERT, DistilBERT, ELECTRA) */
    SE_POS_LEARNED_OFFSET, /* E_pos[pad+1+#non-pad before], pad tokens at E_pos[pad] (RoBERTa) */
    SE_POS_SINUSOIDAL,     /* fixed table added to the embeddings (vanilla) */
    SE_POS_ROPE,           /* q, k rotated per head (issue 12) */
    SE_POS_NONE,           /* no absolute positions (ALiBi models, issue 12) */
} se_pos_kind;
/* What the attention adds to the scores (se_attention_biased: a per-head table
 * over the key-minus-query distance). */
typedef enum {
    SE_ATTB_NONE = 0,
    SE_ATTB_REL_BUCKETS, /* + E_rel[bucket(j-i), h], one table shared by all layers (MPNet) */
    SE_ATTB_ALIBI,       /* - m_h·|i-j|, slopes by global head index (issue 12) */
} se_attb_kind;
/* Post-LN: x = LN(x + f(x)). Pre-LN: x = x + f(LN(x)), and a final LN after
 * the last layer (recipe final_ln_g). */
typedef enum { SE_NORM_POST = 0, SE_NORM_PRE } se_norm_place;
/* Dense: W2·act(W1·x). Gated (GeGLU/SwiGLU): W1 is [2·d_ff, d], halves a and b;
 * W2·(act(a·x) ⊙ (b·x)), the activated half first or second (gate_act_half). */
typedef enum { SE_FFN_DENSE = 0, SE_FFN_GATED } se_ffn_kind;

/* Tensor names of one layer (printf formats taking the layer index). Q, K, V
 * apart, or fused: row blocks j·d of one [3d, d] tensor named by qkv_w[0].
 * A NULL bias name = a bias-free linear or norm (ModernBERT). */
typedef struct {
    const char *qkv_w[3], *qkv_b[3];
    int fused;
    const char *wo, *bo, *ln1_g, *ln1_b, *w1, *b1, *w2, *b2, *ln2_g, *ln2_b;
    /* gated FFNs whose halves are two [d_ff, d] tensors (NomicBERT's fc11, fc12),
     * in the order of W1's halves a, b; NULL = both halves in the one w1 */
    const char *w1_halves[2], *b1_halves[2];
} se_layer_names;

typedef struct {
    const char *family;          /* "bert", "roberta", ... as `info` prints it */
    const char *prefixes[3];     /* tried in order when the bare names are absent ("bert.") */
    /* embeddings: token (+ position) (+ type) (+ norm) (+ projection); NULL = absent */
    const char *tok_emb, *pos_emb, *type_emb, *emb_ln_g, *emb_ln_b, *emb_proj_w, *emb_proj_b;
    se_layer_names layer;
    const char *layer_probe;     /* a name of layer %d, to notice extra layers in the file */
    const char *rel_bias;        /* [buckets, n_heads] table for SE_ATTB_REL_BUCKETS, or NULL */
    se_pos_kind pos;
    int pos_padding_idx;         /* SE_POS_LEARNED_OFFSET: padding_idx, or -1 for config's pad_token_id */
    se_attb_kind attn_bias;
    se_norm_place norm;
    se_ffn_kind ffn;
    int gate_act_half;           /* SE_FFN_GATED: the half of W1 that goes through act (0 first, 1 second) */
    int no_attn_norm_layer0;     /* pre-LN: layer 0 feeds x to attention unnormalised (ModernBERT) */
    const char *final_ln_g, *final_ln_b; /* pre-LN: the norm after the last layer */
    int emb_scale_sqrt_d;        /* x = E_tok·√d (vanilla, from scale_embedding) */
    const char *specials;        /* what a text window is wrapped in, for info */
} se_recipe;

/* The recipe of a config's family (never NULL for a parsed config). */
const se_recipe *se_recipe_of(const se_model_config *cfg);
/* Refuses, by axis name, a recipe whose axes the forward does not run. */
se_status se_recipe_check(const se_recipe *r, se_error *err);
/* One line describing the recipe (for info and banners). */
void se_recipe_describe(const se_recipe *r, const se_model_config *cfg, char *buf, size_t cap);
/* First position index used by a sequence (pad+1 for RoBERTa, else 0) and the
 * longest sequence the position table allows (0 = unlimited). */
int se_recipe_first_pos(const se_recipe *r, const se_model_config *cfg);
int se_recipe_padding_idx(const se_recipe *r, const se_model_config *cfg);
/* Layer l's attention under cfg: *window = 0 for global, else the half-width
 * (query i sees keys |i-j| <= window); *theta its RoPE base. */
void se_recipe_layer_attn(const se_recipe *r, const se_model_config *cfg, int l, int *window, double *theta);
/* MPNet's bucket of a key-minus-query distance (0..31). */
int se_recipe_rel_bucket(int rel);
/* ALiBi slope of global head h of n_heads, as JinaBERT's
 * _get_alibi_head_slopes lists them (in double): n a power of two: 2^(-8(h+1)/n);
 * else the c = 2^floor(log2 n) slopes of c, then every other slope of 2c,
 * 2^(-4(2j+1)/c) for j = h - c. The score of key j for query i gets -m_h·|i-j|. */
double se_recipe_alibi_slope(int n_heads, int h);
int64_t se_recipe_max_len(const se_recipe *r, const se_model_config *cfg);
/* RoPE: the dims rotated per head (cfg->rope_dim, or the whole head), and the
 * inverse frequency of pair i < dim/2 for base theta, in double, for a
 * sequence of seq_len tokens (which only NTK_DYNAMIC depends on). */
int se_recipe_rope_dim(const se_model_config *cfg);
double se_recipe_rope_inv_freq(const se_model_config *cfg, double theta, int i, int64_t seq_len);
/* The window length by default: cfg->default_window, else the position limit (0 = none). */
int64_t se_recipe_default_window(const se_recipe *r, const se_model_config *cfg);

/* What one tensor-parallel rank owns: heads [h0, h0+nh) and FFN units
 * [f0, f0+nf), contiguous (se_split: 12 heads on 5 ranks = 3,3,2,2,2). */
typedef struct {
    int tp_rank, tp_size;
    int h0, nh;
    int f0, nf;
} se_shard;

se_status se_shard_plan(const se_model_config *cfg, int tp_rank, int tp_size, se_shard *s, se_error *err);

/* One layer's local weights, repacked once at load (never per call):
 *   wqkv [3·nh·d_head, d_model]  rows: local Q heads, then K, then V  (column-parallel)
 *   wo   [d_model, nh·d_head]    the matching columns of Wo           (row-parallel)
 *   w1   [nf, d_model]           local FFN units                      (column-parallel)
 *        [2·nf, d_model]         gated: rows f0.. of each half, activated half first
 *   w2   [d_model, nf]           the matching columns of W2           (row-parallel)
 * bo and b2 are replicated and added once, after the reduction. The
 * handles pack the four matrices once for the GEMM backend (se_weight_pack:
 * qkv with its bias, w1 with bias and activation fused). */
typedef struct {
    float *wqkv, *bqkv;
    float *wo, *bo;
    float *ln1_g, *ln1_b;
    float *w1, *b1;
    float *w2, *b2;
    float *ln2_g, *ln2_b;
    struct se_weight *p_qkv, *p_o, *p_1, *p_2;
} se_layer;

typedef struct {
    se_model_config cfg;
    const se_recipe *recipe;
    se_shard shard;
    int d_head;
    float *tok_emb;  /* [vocab, e]  e = cfg.emb_size (= d_model unless projected) */
    float *pos_emb;  /* [max_pos, e] or NULL */
    float *type_emb; /* [type_vocab, e] or NULL */
    float *emb_ln_g, *emb_ln_b; /* [e] or NULL */
    float *emb_proj_w, *emb_proj_b; /* [d, e], [d] (ELECTRA with e != d) or NULL */
    float *final_ln_g, *final_ln_b; /* [d] pre-LN families, or NULL */
    float *zeros;        /* [max(d, e)] the beta of bias-free norms */
    float *rope_cs;      /* RoPE: per distinct theta t, [rope_rows, d_head/2] cos then the same of sin */
    int rope_rows;       /* positions tabulated (the longest sequence the model allows) */
    double rope_theta[2];/* global, local */
    float *rel_emb;      /* [rel_buckets, nh] the local heads' columns of the relative bias table, or NULL */
    float *att_bias;     /* [nh, 2·att_center+1] score bias by distance j-i for the local heads, or NULL */
    int att_center;      /* longest sequence - 1 */
    se_layer *layers;
    float *arena;        /* every weight above lives in this one allocation */
    float *stage;        /* precision bf16 while loading: one layer's fp32 matrices (then NULL, as are
                          * the layers' wqkv/wo/w1/w2: the handles p_* hold the only, bf16, copy) */
    size_t arena_floats;
    size_t layer_bytes;  /* bytes of the sharded layer weights on this rank */
    size_t replicated_bytes; /* embeddings, LayerNorms, row-parallel biases */
    char source[512];    /* folder the weights came from, or "random(seed)" */
    float *alibi_slopes; /* [nh] SE_ATTB_ALIBI: the slopes of this rank's GLOBAL heads h0.., or NULL */
} se_model;

/* Loads DIR/config.json and this rank's slices of DIR/model.safetensors, or
 * of the shards DIR/model.safetensors.index.json lists (each tensor read from
 * the file its weight_map names). Names per the family's recipe, with or
 * without its prefix (`bert.`, `roberta.`, ...); legacy LayerNorm
 * gamma/beta; unused tensors (cls.*, pooler.*) ignored; every shape checked
 * against the config with the tensor named in the message. */
se_status se_model_load(const char *dir, int tp_rank, int tp_size, se_model **out, se_error *err);
/* Loads only the config of DIR (for info and planning). */
se_status se_model_load_config(const char *dir, se_model_config *cfg, se_error *err);
/* Random weights of cfg's shape, generated per element from (seed, tensor,
 * index) so every shard of every tp size sees the same full model. */
se_status se_model_init_random(const se_model_config *cfg, uint64_t seed, int tp_rank, int tp_size, se_model **out,
                               se_error *err);
/* Writes a full (tp_size 1) model as DIR/config.json + DIR/model.safetensors
 * with Hugging Face BERT names (or the vanilla names). */
se_status se_model_save(const se_model *m, const char *dir, se_dtype dtype, se_error *err);
void se_model_free(se_model *m);

/* Scratch for the forward, sized once for the largest batch (max_tok tokens,
 * max_seq_len longest sequence); no allocation in the per-layer path. */
typedef struct se_workspace se_workspace;
se_status se_workspace_create(const se_model *m, int64_t max_tok, int64_t max_seq_len, int sp, se_workspace **out,
                              se_error *err);
void se_workspace_free(se_workspace *ws);
size_t se_workspace_bytes(const se_model *m, int64_t max_tok, int sp);

typedef struct {
    double t_embed, t_gemm, t_attn, t_other, t_coll;
    se_coll_stats coll;
    int64_t tokens, sequences;
} se_fwd_stats;

/* Encodes a packed batch: sequence s is tokens seq_start[s] .. seq_start[s+1]-1
 * of ids (and type_ids, or NULL for all zeros). On success *hidden points to
 * the last hidden states [n_tok, d_model] inside ws (valid until the next
 * call), identical on every rank of tp_comm. sp: sequence-parallel mode.
 * Collective over tp_comm: every rank must call it with the same batch. */
se_status se_model_forward(const se_model *m, se_workspace *ws, const int32_t *ids, const int32_t *type_ids,
                           const int64_t *seq_start, int n_seq, MPI_Comm tp_comm, int sp, const float **hidden,
                           se_fwd_stats *st, se_error *err);

typedef enum { SE_POOL_CLS = 0, SE_POOL_MEAN, SE_POOL_MAX, SE_POOL_NONE } se_pooling;
se_status se_pooling_parse(const char *s, se_pooling *p, se_error *err);
const char *se_pooling_name(se_pooling p);
/* out[s, :] = pool of rows seq_start[s] .. seq_start[s+1]-1 of hidden; with
 * normalize, each row is divided by its L2 norm (a zero row stays zero). */
void se_pool(float *out, const float *hidden, int d, const int64_t *seq_start, int n_seq, se_pooling p,
             int normalize);
void se_l2_normalize(float *rows, int n_rows, int d);

/* ------------------------------------------------------------------ sentence-transformers head
 * What follows the encoder in a sentence-transformers folder (io.h,
 * se_st_folder): Pooling (modes concatenated in Pooling.forward's order:
 * cls, max, mean, mean_sqrt_len_tokens, weightedmean, lasttoken), Dense
 * layers (y = act(x·Wᵀ + b)), Normalize. A folder without modules.json gets
 * today's default (cls, no Dense, no Normalize) and says so in desc. */
typedef struct {
    int in, out;
    se_dense_act act;
    float *w, *b; /* [out, in], [out] or NULL */
} se_dense;
typedef struct {
    int n_modes;
    int modes[SE_STP_COUNT];  /* SE_STP_*, in concatenation order */
    int include_prompt;
    int n_dense;
    se_dense dense[SE_ST_MAX_MODULES];
    int normalize;
    int d_model, d_out;       /* encoder width; width of one output row */
    int from_folder;          /* pooling came from the folder's modules */
    int max_seq_length;       /* sentence_bert_config.json, 0 = none */
    int do_lower_case;        /* sentence_bert_config.json: 1, 0, or -1 = not given */
    float *row;               /* scratch: 2 rows of the widest stage */
    int row_w;
    char pooling_name[160];   /* "mean", "cls+max", ... */
    char desc[768];           /* what is used and where it came from */
} se_head;
/* Reads DIR's sentence-transformers modules (and Dense weights, each from its
 * folder's model.safetensors) for an encoder of width d_model. pooling (NULL
 * = the folder's) replaces the Pooling module: "cls", "mean", "max",
 * "mean_sqrt_len_tokens", "weightedmean", "lasttoken", or several joined by
 * '+' (concatenated in sentence-transformers' order); a Dense that no longer
 * fits the pooled width is refused. normalize: -1 the folder's, 0 off, 1 on. */
se_status se_head_load(const char *dir, int d_model, const char *pooling, int normalize, se_head *h, se_error *err);
void se_head_free(se_head *h);
/* out[s, :d_out] for each sequence of a packed batch: pool, Dense, and L2 if
 * with_normalize (callers that merge windows first normalise after).
 * skip[s] (or NULL) = leading prompt tokens that pooling leaves out when
 * include_prompt is false (SentenceTransformer.encode's prompt_length). */
void se_head_apply(const se_head *h, float *out, const float *hidden, const int64_t *seq_start, int n_seq,
                   const int32_t *skip, int with_normalize);

/* FLOPs of one forward as the bench counts them: per token per layer
 * 24·d² + 4·n·d (n = its sequence length), plus nothing for embeddings. */
double se_model_flops(const se_model_config *cfg, const int64_t *seq_start, int n_seq, int n_layers);

#endif
