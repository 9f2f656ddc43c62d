/* NomicBERT (nomic-embed-text; the remote code of the hub repos, kept in
 * nomic-ai/contrastors src/contrastors/models/huggingface/modeling_hf_nomic_bert.py,
 * commit 613ddfd37309e538cceadb05b1e6423e7b09f603):
 *   NomicBertEmbeddings.forward (l. 980-1000): word_embeddings(ids) +
 *     token_type_embeddings(type ids); no position table when
 *     rotary_emb_fraction > 0 (l. 970); NomicBertModel.forward (l. 675-690)
 *     then emb_ln.
 *   NomicBertAttention (l. 1285-1415): Wqkv rearranged "(three h d)" = row
 *     blocks Q;K;V, heads contiguous; RoPE on the first head_dim·fraction dims
 *     of q and k (apply_rotary_emb, l. 1083: halves or interleaved pairs);
 *     scaled_dot_product_attention (scale head_dim^-0.5); out_proj. Both
 *     linears carry a bias iff qkv_proj_bias.
 *   NomicBertBlock.forward, prenorm false (l. 1505-1514): post-norm,
 *     h = norm1(attn(h) + h); h = norm2(mlp(h) + h).
 *   NomciBertGatedMLP.forward (l. 1059-1071): y = fc11(x); gate = fc12(x);
 *     fc2(y * act(gate)) — the second half (fc12) is the activated one; swiglu
 *     = F.silu, geglu = F.gelu (NomicBertBlock.__init__, l. 1427-1431).
 * Bare names (NomicBertModel, as the hub's nomic-embed checkpoints store them)
 * or under `bert.` (NomicBertForPreTraining). */
#include "model/model_internal.h"

const se_recipe se_recipe_nomic_bert = {
    .family = "nomic_bert",
    .prefixes = {"bert."},
    .tok_emb = "embeddings.word_embeddings.weight",
    .type_emb = "embeddings.token_type_embeddings.weight",
    .emb_ln_g = "emb_ln.weight",
    .emb_ln_b = "emb_ln.bias",
    .layer =
        {
            .qkv_w = {"encoder.layers.%d.attn.Wqkv.weight", "encoder.layers.%d.attn.Wqkv.weight",
                      "encoder.layers.%d.attn.Wqkv.weight"},
            .qkv_b = {"encoder.layers.%d.attn.Wqkv.bias", "encoder.layers.%d.attn.Wqkv.bias",
                      "encoder.layers.%d.attn.Wqkv.bias"},
            .fused = 1,
            .wo = "encoder.layers.%d.attn.out_proj.weight",
            .bo = "encoder.layers.%d.attn.out_proj.bias",
            .ln1_g = "encoder.layers.%d.norm1.weight",
            .ln1_b = "encoder.layers.%d.norm1.bias",
            .w1_halves = {"encoder.layers.%d.mlp.fc11.weight", "encoder.layers.%d.mlp.fc12.weight"},
            .b1_halves = {"encoder.layers.%d.mlp.fc11.bias", "encoder.layers.%d.mlp.fc12.bias"},
            .w2 = "encoder.layers.%d.mlp.fc2.weight",
            .b2 = "encoder.layers.%d.mlp.fc2.bias",
            .ln2_g = "encoder.layers.%d.norm2.weight",
            .ln2_b = "encoder.layers.%d.norm2.bias",
        },
    .layer_probe = "encoder.layers.%d.mlp.fc2.weight",
    .pos = SE_POS_ROPE,
    .norm = SE_NORM_POST,
    .ffn = SE_FFN_GATED,
    .gate_act_half = 1,
    .specials = "[CLS] ... [SEP]",
};
