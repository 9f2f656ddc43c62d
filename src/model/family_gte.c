/* GTE "new" (model_type new: gte-*-en-v1.5, gte-multilingual-base; the hub's
 * remote code Alibaba-NLP/new-impl modeling.py, as kept in the public code
 * index this project searches — no commit id there; classes cited):
 *   NewEmbeddings.forward: word_embeddings(ids) (+ token_type_embeddings when
 *     type_vocab_size > 0), no position table for position_embedding_type
 *     rope, then LayerNorm; rotary_emb = NTKScalingRotaryEmbedding when
 *     rope_scaling {type: ntk} (_init_rope), over dim = hidden/heads.
 *   NewAttention.forward: qkv_proj(h).split(all_head_size) = row blocks Q;K;V,
 *     each viewed (heads, head_dim); apply_rotary_pos_emb with rotate_half
 *     (halves); scores / sqrt(head_dim); o_proj (both linears with bias).
 *   NewGatedMLP.forward: up_states, gate = split(up_gate_proj(h), intermediate);
 *     down_proj(act(gate) * up_states) — the second half is the activated one;
 *     up_gate_proj has no bias, down_proj has one.
 *   NewLayer.forward: post-norm, h = attn_ln(h + attn(h)); h = mlp_ln(h + mlp(h)).
 * Bare names (NewModel) or under `new.` (NewForMaskedLM and the other heads). */
#include "model/model_internal.h"

const se_recipe se_recipe_gte_new = {
    .family = "new",
    .prefixes = {"new."},
    .tok_emb = "embeddings.word_embeddings.weight",
    .type_emb = "embeddings.token_type_embeddings.weight",
    .emb_ln_g = "embeddings.LayerNorm.weight",
    .emb_ln_b = "embeddings.LayerNorm.bias",
    .layer =
        {
            .qkv_w = {"encoder.layer.%d.attention.qkv_proj.weight", "encoder.layer.%d.attention.qkv_proj.weight",
                      "encoder.layer.%d.attention.qkv_proj.weight"},
            .qkv_b = {"encoder.layer.%d.attention.qkv_proj.bias", "encoder.layer.%d.attention.qkv_proj.bias",
                      "encoder.layer.%d.attention.qkv_proj.bias"},
            .fused = 1,
            .wo = "encoder.layer.%d.attention.o_proj.weight",
            .bo = "encoder.layer.%d.attention.o_proj.bias",
            .ln1_g = "encoder.layer.%d.attn_ln.weight",
            .ln1_b = "encoder.layer.%d.attn_ln.bias",
            .w1 = "encoder.layer.%d.mlp.up_gate_proj.weight",
            .w2 = "encoder.layer.%d.mlp.down_proj.weight",
            .b2 = "encoder.layer.%d.mlp.down_proj.bias",
            .ln2_g = "encoder.layer.%d.mlp_ln.weight",
            .ln2_b = "encoder.layer.%d.mlp_ln.bias",
        },
    .layer_probe = "encoder.layer.%d.mlp.down_proj.weight",
    .pos = SE_POS_ROPE,
    .norm = SE_NORM_POST,
    .ffn = SE_FFN_GATED,
    .gate_act_half = 1,
    .specials = "[CLS] ... [SEP]",
};
