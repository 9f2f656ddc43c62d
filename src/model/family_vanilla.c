/* The seed document's encoder as torch.nn.TransformerEncoder (post-LN, ReLU):
 * x = E_tok·√d (scale_embedding) + sinusoidal PE; Q;K;V fused in
 * in_proj_weight. Names are a real TransformerEncoder's state_dict() under
 * `encoder.`, the token table `embedding.weight`. */
#include "model/model_internal.h"

const se_recipe se_recipe_vanilla = {
    .family = "vanilla",
    .tok_emb = "embedding.weight",
    .layer =
        {
            {"encoder.layers.%d.self_attn.in_proj_weight", "encoder.layers.%d.self_attn.in_proj_weight",
             "encoder.layers.%d.self_attn.in_proj_weight"},
            {"encoder.layers.%d.self_attn.in_proj_bias", "encoder.layers.%d.self_attn.in_proj_bias",
             "encoder.layers.%d.self_attn.in_proj_bias"},
            1,
            "encoder.layers.%d.self_attn.out_proj.weight",
            "encoder.layers.%d.self_attn.out_proj.bias",
            "encoder.layers.%d.norm1.weight",
            "encoder.layers.%d.norm1.bias",
            "encoder.layers.%d.linear1.weight",
            "encoder.layers.%d.linear1.bias",
            "encoder.layers.%d.linear2.weight",
            "encoder.layers.%d.linear2.bias",
            "encoder.layers.%d.norm2.weight",
            "encoder.layers.%d.norm2.bias",
        },
    .layer_probe = "encoder.layers.%d.linear2.weight",
    .pos = SE_POS_SINUSOIDAL,
    .norm = SE_NORM_POST,
    .ffn = SE_FFN_DENSE,
    .emb_scale_sqrt_d = 1,
    .specials = "none (pre-tokenised ids as given)",
};
