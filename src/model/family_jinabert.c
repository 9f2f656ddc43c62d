/* JinaBERT-v2 (jina-embeddings-v2-{small,base}-en, ...): config.json names
 * model_type "bert", position_embedding_type "alibi", feed_forward_type
 * "geglu" and the remote code jinaai/jina-bert-implementation
 * (modeling_bert.py, JinaBertModel). From that code, as ported in
 * huggingface/text-embeddings-inference (commit 0d124dc9773be6ac5a9a57d8439aba9bbbf33273:
 * backends/python/server/text_embeddings_server/models/jinaBert_model.py and
 * backends/candle/src/models/jina.rs, alibi.rs; tests/ref/gen_jinabert.py
 * cites the lines):
 *   JinaBertEmbeddings: word + token_type, no position table when
 *     position_embedding_type == "alibi", then LayerNorm;
 *   JinaBertSelfAttention / JinaBertSelfOutput: BERT's, q/k/v and dense with
 *     biases, scores/√d_head + mask + bias, post-LN;
 *   JinaBertEncoder.rebuild_alibi_tensor: bias = -slope_h·|j - i| (symmetric),
 *     slopes of _get_alibi_head_slopes(num_attention_heads) (se_recipe_alibi_slope);
 *   JinaBertGLUMLP: gated_layers [2·d_ff, d] without bias, gated = first
 *     d_ff rows, non_gated = the rest, wo(act(gated) * non_gated) + bias,
 *     layernorm(that + residual): post-LN. Prefix `bert.` in JinaBertForMaskedLM. */
#include "model/model_internal.h"

const se_recipe se_recipe_jinabert = {
    .family = "jinabert",
    .prefixes = {"bert."},
    .tok_emb = "embeddings.word_embeddings.weight",
    .type_emb = "embeddings.token_type_embeddings.weight",
    .emb_ln_g = "embeddings.LayerNorm.weight",
    .emb_ln_b = "embeddings.LayerNorm.bias",
    .layer =
        {
            SE_BERT_ATTN_NAMES,
            "encoder.layer.%d.mlp.gated_layers.weight",
            NULL,
            "encoder.layer.%d.mlp.wo.weight",
            "encoder.layer.%d.mlp.wo.bias",
            "encoder.layer.%d.mlp.layernorm.weight",
            "encoder.layer.%d.mlp.layernorm.bias",
        },
    .layer_probe = "encoder.layer.%d.mlp.wo.weight",
    .pos = SE_POS_NONE,
    .attn_bias = SE_ATTB_ALIBI,
    .norm = SE_NORM_POST,
    .ffn = SE_FFN_GATED,
    .gate_act_half = 0,
    .specials = "[CLS] ... [SEP]",
};
