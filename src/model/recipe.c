/* Family -> recipe, and what the one forward can run of the recipe axes. */
#include <stdio.h>
#include <string.h>

#include "model/model_internal.h"

const se_recipe *se_recipe_of(const se_model_config *cfg)
{
    switch (cfg->arch) {
    case SE_ARCH_BERT: return &se_recipe_bert;
    case SE_ARCH_ROBERTA: return &se_recipe_roberta;
    case SE_ARCH_DISTILBERT: return &se_recipe_distilbert;
    case SE_ARCH_ELECTRA: return &se_recipe_electra;
    case SE_ARCH_VANILLA:
    case SE_ARCH_COUNT: break;
    }
    return &se_recipe_vanilla;
}

static const char *pos_name(se_pos_kind p)
{
    static const char *const n[] = {"learned absolute", "learned from padding_idx+1", "sinusoidal", "RoPE", "ALiBi",
                                    "relative buckets"};
    return (unsigned)p < sizeof n / sizeof n[0] ? n[p] : "?";
}

se_status se_recipe_check(const se_recipe *r, se_error *err)
{
    if (r->pos != SE_POS_LEARNED && r->pos != SE_POS_LEARNED_OFFSET && r->pos != SE_POS_SINUSOIDAL)
        return se_error_set(err, SE_EUNSUPPORTED,
                            "family %s: positions '%s' are not implemented (supported: learned absolute, learned "
                            "from padding_idx+1, sinusoidal)",
                            r->family, pos_name(r->pos));
    if (r->norm != SE_NORM_POST)
        return se_error_set(err, SE_EUNSUPPORTED, "family %s: pre-LN layers are not implemented (supported: post-LN)",
                            r->family);
    if (r->ffn != SE_FFN_DENSE)
        return se_error_set(err, SE_EUNSUPPORTED, "family %s: gated FFNs are not implemented (supported: dense)",
                            r->family);
    return SE_OK;
}

int se_recipe_first_pos(const se_recipe *r, const se_model_config *cfg)
{
    return r->pos == SE_POS_LEARNED_OFFSET ? cfg->pad_token_id + 1 : 0;
}

int64_t se_recipe_max_len(const se_recipe *r, const se_model_config *cfg)
{
    if (r->pos == SE_POS_SINUSOIDAL || cfg->max_pos <= 0) return cfg->max_pos > 0 ? cfg->max_pos : 0;
    int64_t n = (int64_t)cfg->max_pos - se_recipe_first_pos(r, cfg);
    return n > 0 ? n : 0;
}

void se_recipe_describe(const se_recipe *r, const se_model_config *cfg, char *buf, size_t cap)
{
    char emb[160];
    int e = cfg->emb_size > 0 ? cfg->emb_size : cfg->d_model;
    snprintf(emb, sizeof emb, "token%s%s%s%s", r->pos_emb ? " + position" : "",
             r->type_emb && cfg->type_vocab > 0 ? " + type" : "", r->emb_ln_g ? ", LayerNorm" : "",
             r->emb_proj_w && e != cfg->d_model ? ", projected" : "");
    snprintf(buf, cap, "family %s: positions %s, %s layers, %s FFN (%s), embeddings %s (width %d), specials %s",
             r->family, pos_name(r->pos), r->norm == SE_NORM_POST ? "post-LN" : "pre-LN",
             r->ffn == SE_FFN_DENSE ? "dense" : "gated", se_act_name(cfg->act), emb, e, r->specials);
}
