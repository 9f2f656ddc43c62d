/* BERT (transformers/models/bert/modeling_bert.py): learned absolute
 * positions from 0, token types, embedding LayerNorm, post-LN layers with a
 * dense GELU FFN. The checkpoint may carry a `bert.` prefix (BertForMaskedLM,
 * BertForPreTraining) and heads (cls.*, pooler.*) that the encoder ignores. */
#include "model/model_internal.h"


const se_recipe se_recipe_bert = {
    .family = "bert",
    .prefixes = {"bert."},
    .tok_emb = "embeddings.word_embeddings.weight",
    .pos_emb = "embeddings.position_embeddings.weight",
    .type_emb = "embeddings.token_type_embeddings.weight",
    .emb_ln_g = "embeddings.LayerNorm.weight",
    .emb_ln_b = "embeddings.LayerNorm.bias",
    .layer = SE_BERT_LAYER_NAMES,
    .layer_probe = "encoder.layer.%d.output.dense.weight",
    .pos = SE_POS_LEARNED,
    .norm = SE_NORM_POST,
    .ffn = SE_FFN_DENSE,
    .specials = "[CLS] ... [SEP]",
};
