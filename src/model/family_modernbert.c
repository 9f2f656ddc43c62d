/* ModernBERT (transformers/models/modernbert/modeling_modernbert.py, commit
 * 000c33fdfde12e1ffafbfcdb3c926df5727a00b6): ModernBertEmbeddings =
 * norm(tok_embeddings(ids)), no positions or token types; ModernBertEncoderLayer
 * is pre-LN: h = h + attn(attn_norm(h)); h = h + mlp(mlp_norm(h)), attn_norm
 * nn.Identity() for layer 0; ModernBertAttention: fused Wqkv viewed
 * (.., 3, heads, head_dim) = row blocks Q;K;V, RoPE on q and k
 * (apply_rotary_pos_emb with rotate_half: halves, not interleaved), scores
 * scaled by head_dim**-0.5, a sliding-window mask on the layers with
 * l % global_attn_every_n_layers != 0; ModernBertMLP: input, gate =
 * Wi(h).chunk(2); Wo(act(input) * gate) (GeGLU, the activated half first);
 * every LayerNorm and Linear bias-free (norm_bias, attention_bias, mlp_bias
 * false); ModernBertModel ends with final_norm. Prefix `model.`
 * (ModernBertForMaskedLM). */
#include "model/model_internal.h"

const se_recipe se_recipe_modernbert = {
    .family = "modernbert",
    .prefixes = {"model."},
    .tok_emb = "embeddings.tok_embeddings.weight",
    .emb_ln_g = "embeddings.norm.weight",
    .layer =
        {
            {"layers.%d.attn.Wqkv.weight", "layers.%d.attn.Wqkv.weight", "layers.%d.attn.Wqkv.weight"},
            {NULL, NULL, NULL},
            1,
            "layers.%d.attn.Wo.weight",
            NULL,
            "layers.%d.attn_norm.weight",
            NULL,
            "layers.%d.mlp.Wi.weight",
            NULL,
            "layers.%d.mlp.Wo.weight",
            NULL,
            "layers.%d.mlp_norm.weight",
            NULL,
        },
    .layer_probe = "layers.%d.mlp.Wo.weight",
    .pos = SE_POS_ROPE,
    .norm = SE_NORM_PRE,
    .ffn = SE_FFN_GATED,
    .gate_act_half = 0,
    .no_attn_norm_layer0 = 1,
    .final_ln_g = "final_norm.weight",
    .specials = "[CLS] ... [SEP]",
};
