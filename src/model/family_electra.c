/* ELECTRA discriminators (transformers/models/electra/modeling_electra.py):
 * BERT's embeddings at width embedding_size, then ElectraModel's
 * `embeddings_project` Linear(embedding_size, hidden_size) when the two
 * differ; BERT's layers and names. Prefix `electra.` (ElectraForPreTraining,
 * whose discriminator_predictions.* head is ignored). */
#include "model/model_internal.h"

const se_recipe se_recipe_electra = {
    .family = "electra",
    .prefixes = {"electra."},
    SE_BERT_LAYOUT,
    .emb_proj_w = "embeddings_project.weight",
    .emb_proj_b = "embeddings_project.bias",
    .pos = SE_POS_LEARNED,
    .norm = SE_NORM_POST,
    .ffn = SE_FFN_DENSE,
    .specials = "[CLS] ... [SEP]",
};
