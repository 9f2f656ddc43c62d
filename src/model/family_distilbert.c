/* DistilBERT (transformers/models/distilbert/modeling_distilbert.py):
 * Embeddings = word + learned position (from 0; sinusoidal_pos_embds only
 * initialises that table, which the checkpoint stores), LayerNorm eps 1e-12,
 * no token types; TransformerBlock is post-LN: sa_layer_norm(attn + x), then
 * output_layer_norm(ffn + x). Prefix `distilbert.` (DistilBertForMaskedLM,
 * whose vocab_* head is ignored). */
#include "model/model_internal.h"

const se_recipe se_recipe_distilbert = {
    .family = "distilbert",
    .prefixes = {"distilbert."},
    .tok_emb = "embeddings.word_embeddings.weight",
    .pos_emb = "embeddings.position_embeddings.weight",
    .emb_ln_g = "embeddings.LayerNorm.weight",
    .emb_ln_b = "embeddings.LayerNorm.bias",
    .layer =
        {
            {"transformer.layer.%d.attention.q_lin.weight", "transformer.layer.%d.attention.k_lin.weight",
             "transformer.layer.%d.attention.v_lin.weight"},
            {"transformer.layer.%d.attention.q_lin.bias", "transformer.layer.%d.attention.k_lin.bias",
             "transformer.layer.%d.attention.v_lin.bias"},
            0,
            "transformer.layer.%d.attention.out_lin.weight",
            "transformer.layer.%d.attention.out_lin.bias",
            "transformer.layer.%d.sa_layer_norm.weight",
            "transformer.layer.%d.sa_layer_norm.bias",
            "transformer.layer.%d.ffn.lin1.weight",
            "transformer.layer.%d.ffn.lin1.bias",
            "transformer.layer.%d.ffn.lin2.weight",
            "transformer.layer.%d.ffn.lin2.bias",
            "transformer.layer.%d.output_layer_norm.weight",
            "transformer.layer.%d.output_layer_norm.bias",
        },
    .layer_probe = "transformer.layer.%d.ffn.lin2.weight",
    .pos = SE_POS_LEARNED,
    .norm = SE_NORM_POST,
    .ffn = SE_FFN_DENSE,
    .specials = "[CLS] ... [SEP]",
};
