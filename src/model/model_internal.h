/* Private to src/model: the family recipes (one small file each). */
#ifndef SE_MODEL_INTERNAL_H
#define SE_MODEL_INTERNAL_H

#include "shardenc/model.h"

extern const se_recipe se_recipe_bert, se_recipe_roberta, se_recipe_distilbert, se_recipe_electra, se_recipe_mpnet,
    se_recipe_modernbert, se_recipe_vanilla, se_recipe_nomic_bert, se_recipe_gte_new;
extern const se_recipe se_recipe_jinabert;

/* BERT's layer names (BertLayer in modeling_bert.py), shared by the families
 * that kept them (RoBERTa, ELECTRA). A macro: C wants constant initialisers. */
/* BERT's embedding tensor names and layer probe, shared by the families that
 * keep BERT's checkpoint layout (bert, roberta, electra); needs SE_BERT_LAYER_NAMES. */
#define SE_BERT_LAYOUT                                                   \
    .tok_emb = "embeddings.word_embeddings.weight",                     \
    .pos_emb = "embeddings.position_embeddings.weight",                 \
    .type_emb = "embeddings.token_type_embeddings.weight",              \
    .emb_ln_g = "embeddings.LayerNorm.weight", .emb_ln_b = "embeddings.LayerNorm.bias", \
    .layer = SE_BERT_LAYER_NAMES, .layer_probe = "encoder.layer.%d.output.dense.weight"
/* BertSelfAttention / BertSelfOutput's names: q, k, v apart with biases, the
 * output dense and its LayerNorm (also JinaBERT-v2's, whose MLP differs). */
#define SE_BERT_ATTN_NAMES                                                                                             \
    {"encoder.layer.%d.attention.self.query.weight", "encoder.layer.%d.attention.self.key.weight",                     \
     "encoder.layer.%d.attention.self.value.weight"},                                                                  \
        {"encoder.layer.%d.attention.self.query.bias", "encoder.layer.%d.attention.self.key.bias",                     \
         "encoder.layer.%d.attention.self.value.bias"},                                                                \
        0, "encoder.layer.%d.attention.output.dense.weight", "encoder.layer.%d.attention.output.dense.bias",           \
        "encoder.layer.%d.attention.output.LayerNorm.weight", "encoder.layer.%d.attention.output.LayerNorm.bias"
#define SE_BERT_LAYER_NAMES                                                                                            \
    {                                                                                                                  \
        SE_BERT_ATTN_NAMES, "encoder.layer.%d.intermediate.dense.weight", "encoder.layer.%d.intermediate.dense.bias",  \
            "encoder.layer.%d.output.dense.weight", "encoder.layer.%d.output.dense.bias",                              \
            "encoder.layer.%d.output.LayerNorm.weight", "encoder.layer.%d.output.LayerNorm.bias",                      \
    }

/* RoPE cos/sin of positions p0 .. p0+rows-1 for a sequence of seq_len tokens
 * (weights.c): [rows, dim/2] each, row stride ld floats. */
void se_rope_fill(const se_model_config *c, double theta, int64_t seq_len, int64_t p0, int64_t rows, float *cs,
                  float *sn, size_t ld);

#endif
