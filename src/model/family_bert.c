/* BERT (transformers/models/bert/modeling_bert.py): learned absolute
 * positions from 0, token types, embedding LayerNorm, post-LN layers with a
 * dense GELU FFN. The checkpoint may carry a `bert.` prefix (BertForMaskedLM,
 * BertForPreTraining) and heads (cls.*, pooler.*) that the encoder ignores. */
#include "model/model_internal.h"

const se_recipe se_recipe_bert = {
    .family = "bert",
    .prefixes = {"bert."},
    SE_BERT_LAYOUT,
    .pos = SE_POS_LEARNED,
    .norm = SE_NORM_POST,
    .ffn = SE_FFN_DENSE,
    .specials = "[CLS] ... [SEP]",
};
