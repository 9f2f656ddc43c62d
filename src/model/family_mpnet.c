/* MPNet (transformers/models/mpnet/modeling_mpnet.py): MPNetEmbeddings =
 * word + position with create_position_ids_from_input_ids and padding_idx
 * fixed at 1 (self.padding_idx = 1, not the config's), LayerNorm, no token
 * types; MPNetSelfAttention: scores = q·kᵀ/√d_head + position_bias, the bias
 * computed once in MPNetEncoder.compute_position_bias from the shared
 * relative_attention_bias table over relative_position_bucket(j - i)
 * (bidirectional, 32 buckets, max_distance 128); post-LN layers with BERT's
 * intermediate/output. Prefix `mpnet.` (MPNetForMaskedLM). */
#include "model/model_internal.h"

const se_recipe se_recipe_mpnet = {
    .family = "mpnet",
    .prefixes = {"mpnet."},
    .tok_emb = "embeddings.word_embeddings.weight",
    .pos_emb = "embeddings.position_embeddings.weight",
    .emb_ln_g = "embeddings.LayerNorm.weight",
    .emb_ln_b = "embeddings.LayerNorm.bias",
    .layer =
        {
            {"encoder.layer.%d.attention.attn.q.weight", "encoder.layer.%d.attention.attn.k.weight",
             "encoder.layer.%d.attention.attn.v.weight"},
            {"encoder.layer.%d.attention.attn.q.bias", "encoder.layer.%d.attention.attn.k.bias",
             "encoder.layer.%d.attention.attn.v.bias"},
            0,
            "encoder.layer.%d.attention.attn.o.weight",
            "encoder.layer.%d.attention.attn.o.bias",
            "encoder.layer.%d.attention.LayerNorm.weight",
            "encoder.layer.%d.attention.LayerNorm.bias",
            "encoder.layer.%d.intermediate.dense.weight",
            "encoder.layer.%d.intermediate.dense.bias",
            "encoder.layer.%d.output.dense.weight",
            "encoder.layer.%d.output.dense.bias",
            "encoder.layer.%d.output.LayerNorm.weight",
            "encoder.layer.%d.output.LayerNorm.bias",
        },
    .layer_probe = "encoder.layer.%d.output.dense.weight",
    .rel_bias = "encoder.relative_attention_bias.weight",
    .pos = SE_POS_LEARNED_OFFSET,
    .pos_padding_idx = 1,
    .attn_bias = SE_ATTB_REL_BUCKETS,
    .norm = SE_NORM_POST,
    .ffn = SE_FFN_DENSE,
    .specials = "<s> ... </s>",
};
