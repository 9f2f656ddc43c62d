/* shardenc model: weights (each rank loads only its shard), the layer and model
 * forward, pooling. Asks io for tensors by name, kernels for the math, dist for
 * the collectives; never parses a file itself. */
#ifndef SHARDENC_MODEL_H
#define SHARDENC_MODEL_H

#include <mpi.h>

#include "shardenc/core.h"
#include "shardenc/dist.h"
#include "shardenc/io.h"

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
    se_shard shard;
    int d_head;
    float *tok_emb;  /* [vocab, d] */
    float *pos_emb;  /* [max_pos, d] (BERT) or NULL */
    float *type_emb; /* [type_vocab, d] (BERT) or NULL */
    float *emb_ln_g, *emb_ln_b; /* (BERT) or NULL */
    se_layer *layers;
    float *arena;        /* every weight above lives in this one allocation */
    size_t arena_floats;
    size_t layer_bytes;  /* bytes of the sharded layer weights on this rank */
    size_t replicated_bytes; /* embeddings, LayerNorms, row-parallel biases */
    char source[512];    /* folder the weights came from, or "random(seed)" */
} se_model;

/* Loads DIR/config.json and this rank's slices of DIR/model.safetensors.
 * Tensor names with or without the `bert.` prefix; legacy LayerNorm
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

/* FLOPs of one forward as the bench counts them: per token per layer
 * 24·d² + 4·n·d (n = its sequence length), plus nothing for embeddings. */
double se_model_flops(const se_model_config *cfg, const int64_t *seq_start, int n_seq, int n_layers);

#endif
