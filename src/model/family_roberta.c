/* RoBERTa, XLM-RoBERTa, CamemBERT (transformers/models/roberta/modeling_roberta.py,
 * RobertaEmbeddings): BERT's layers and names under a `roberta.` prefix; the
 * one difference is the position index, create_position_ids_from_input_ids:
 *     mask = (ids != padding_idx);  pos = cumsum(mask) · mask + padding_idx
 * so real tokens count from padding_idx + 1 and a pad id keeps padding_idx.
 * Checkpoints have type_vocab_size 1 and max_position_embeddings 514. */
#include "model/model_internal.h"

const se_recipe se_recipe_roberta = {
    .family = "roberta",
    .prefixes = {"roberta."},
    SE_BERT_LAYOUT,
    .pos = SE_POS_LEARNED_OFFSET,
    .pos_padding_idx = -1,
    .norm = SE_NORM_POST,
    .ffn = SE_FFN_DENSE,
    .specials = "<s> ... </s>",
};
