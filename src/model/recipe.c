/* Family -> recipe, and what the one forward can run of the recipe axes. */
#include <math.h>
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
    case SE_ARCH_MPNET: return &se_recipe_mpnet;
    case SE_ARCH_MODERNBERT: return &se_recipe_modernbert;
    case SE_ARCH_NOMIC_BERT: return &se_recipe_nomic_bert;
    case SE_ARCH_GTE_NEW: return &se_recipe_gte_new;
    case SE_ARCH_JINABERT: return &se_recipe_jinabert;
    case SE_ARCH_VANILLA:
    case SE_ARCH_COUNT: break;
    }
    return &se_recipe_vanilla;
}

static const char *pos_name(se_pos_kind p)
{
    static const char *const n[] = {"learned absolute", "learned from padding_idx+1", "sinusoidal", "RoPE", "none"};
    return (unsigned)p < sizeof n / sizeof n[0] ? n[p] : "?";
}

se_status se_recipe_check(const se_recipe *r, se_error *err)
{
    /* no positions at all would make the encoder order-blind: only with ALiBi */
    if (r->pos == SE_POS_NONE && r->attn_bias != SE_ATTB_ALIBI)
        return se_error_set(err, SE_EUNSUPPORTED,
                            "family %s: positions '%s' need ALiBi attention (supported: learned absolute, learned "
                            "from padding_idx+1, sinusoidal, RoPE, none with ALiBi)",
                            r->family, pos_name(r->pos));
    if (r->attn_bias == SE_ATTB_ALIBI && (r->pos != SE_POS_NONE || r->rel_bias))
        return se_error_set(err, SE_EUNSUPPORTED,
                            "family %s: ALiBi is implemented without other positions (JinaBERT-v2)", r->family);
    if (r->norm == SE_NORM_PRE && !r->final_ln_g)
        return se_error_set(err, SE_EUNSUPPORTED, "family %s: pre-LN layers need a final norm", r->family);
    return SE_OK;
}

int se_recipe_padding_idx(const se_recipe *r, const se_model_config *cfg)
{
    return r->pos_padding_idx >= 0 ? r->pos_padding_idx : cfg->pad_token_id;
}

int se_recipe_first_pos(const se_recipe *r, const se_model_config *cfg)
{
    return r->pos == SE_POS_LEARNED_OFFSET ? se_recipe_padding_idx(r, cfg) + 1 : 0;
}

/* ModernBertAttention.__init__: layer l is local iff l % global_attn_every_n_layers
 * != 0, with window (local_attention // 2, local_attention // 2) and the local
 * theta; the sliding-window mask of ModernBertModel is |i - j| <= local_attention // 2. */
void se_recipe_layer_attn(const se_recipe *r, const se_model_config *cfg, int l, int *window, double *theta)
{
    int local = r->pos == SE_POS_ROPE && cfg->global_every > 0 && l % cfg->global_every != 0;
    *window = local ? cfg->local_window / 2 : 0;
    *theta = local ? cfg->rope_theta_local : cfg->rope_theta;
    if (local && *window < 1) *window = 0; /* local_attention 0 or 1: HF's mask keeps only the diagonal; see check */
}

/* MPNetEncoder.relative_position_bucket(j - i, num_buckets=32, max_distance=128),
 * in float32 as torch evaluates it (n.float(); the Python scalars join the
 * float32 ops as float32), truncated by .to(torch.long). */
int se_recipe_rel_bucket(int rel)
{
    const int nb = 16, max_exact = 8; /* num_buckets //= 2; max_exact = num_buckets // 2 */
    int ret = 0, n = -rel;
    if (n < 0) ret += nb;
    n = n < 0 ? -n : n;
    if (n < max_exact) return ret + n;
    float v = logf((float)n / (float)max_exact) / (float)log(128.0 / max_exact) * (float)(nb - max_exact);
    int large = max_exact + (int)v;
    return ret + (large < nb - 1 ? large : nb - 1);
}

/* JinaBertEncoder.rebuild_alibi_tensor's _get_alibi_head_slopes
 * (jinaai/jina-bert-implementation modeling_bert.py; from MosaicBERT and
 * Press et al.'s reference code):
 *   get_slopes_power_of_2(n): start = 2**(-(2**-(log2(n) - 3))); [start * start**i]
 *     i.e. slope i = 2^(-8(i+1)/n)
 *   n a power of 2: those; else c = 2**floor(log2(n)):
 *     get_slopes_power_of_2(c) + _get_alibi_head_slopes(2c)[0::2][: n - c]
 *     i.e. after the c slopes of c, slope c+j = 2^(-8(2j+1)/(2c)) = 2^(-4(2j+1)/c).
 * Exact in double (the original rounds the list to float32 through torch.Tensor). */
double se_recipe_alibi_slope(int n_heads, int h)
{
    int c = 1;
    while (2 * c <= n_heads) c *= 2;
    if (h < c) return exp2(-8.0 * (h + 1) / c);
    return exp2(-4.0 * (2 * (h - c) + 1) / c);
}

int64_t se_recipe_max_len(const se_recipe *r, const se_model_config *cfg)
{
    if (r->pos == SE_POS_SINUSOIDAL || cfg->max_pos <= 0) return cfg->max_pos > 0 ? cfg->max_pos : 0;
    int64_t n = (int64_t)cfg->max_pos - se_recipe_first_pos(r, cfg);
    return n > 0 ? n : 0;
}

int se_recipe_rope_dim(const se_model_config *cfg)
{
    return cfg->rope_dim > 0 ? cfg->rope_dim : cfg->d_model / cfg->n_heads;
}

/* inv_freq_i = theta^(-2i/dim), scaled:
 *  NTK_FIXED, GTE's NTKScalingRotaryEmbedding._set_cos_sin_cache (Alibaba-NLP/new-impl
 *    modeling.py; its tables are built at init for max_position_embeddings·factor
 *    positions, so the scaling applies whenever factor > 1):
 *      inv_freq = (theta·f)^(-2i/dim) / f^(2/dim)
 *  NTK_DYNAMIC, NomicBertDynamicNTKRotaryEmbedding._update_cos_sin_cache
 *    (modeling_hf_nomic_bert.py) for a sequence of n > max_trained_positions T:
 *      base = theta·(f·n/T - (f-1))^(dim/(dim-2)), inv_freq = base^(-2i/dim)
 *    (the original keys this on the padded batch length and caches the table;
 *    here every sequence is its own batch of one with a fresh cache: README). */
double se_recipe_rope_inv_freq(const se_model_config *cfg, double theta, int i, int64_t seq_len)
{
    const double dim = se_recipe_rope_dim(cfg), f = cfg->rope_factor, e = -(2.0 * i) / dim;
    if (cfg->rope_scaling == SE_ROPE_NTK_FIXED && f > 1.0) return pow(theta * f, e) / pow(f, 2.0 / dim);
    if (cfg->rope_scaling == SE_ROPE_NTK_DYNAMIC && seq_len > cfg->rope_trained) {
        double base = theta * pow(f * (double)seq_len / cfg->rope_trained - (f - 1.0), dim / (dim - 2.0));
        return pow(base, e);
    }
    return pow(theta, e);
}

int64_t se_recipe_default_window(const se_recipe *r, const se_model_config *cfg)
{
    int64_t lim = se_recipe_max_len(r, cfg);
    return cfg->default_window > 0 && (lim <= 0 || cfg->default_window < lim) ? cfg->default_window : lim;
}

void se_recipe_describe(const se_recipe *r, const se_model_config *cfg, char *buf, size_t cap)
{
    char emb[160];
    int e = cfg->emb_size > 0 ? cfg->emb_size : cfg->d_model;
    snprintf(emb, sizeof emb, "token%s%s%s%s", r->pos_emb ? " + position" : "",
             r->type_emb && cfg->type_vocab > 0 ? " + type" : "", r->emb_ln_g ? ", LayerNorm" : "",
             r->emb_proj_w && e != cfg->d_model ? ", projected" : "");
    char rope[320] = "";
    if (r->pos == SE_POS_ROPE)
        snprintf(rope, sizeof rope, " (theta %g global%s", cfg->rope_theta,
                 cfg->global_every > 1 ? "" : ", every layer global)");
    if (r->pos == SE_POS_ROPE && (cfg->rope_dim || cfg->rope_interleaved || cfg->rope_scaling)) {
        size_t k = strlen(rope);
        snprintf(rope + k - 1, sizeof rope - k + 1, ", %d of %d dims per head, %s%s)", se_recipe_rope_dim(cfg),
                 cfg->d_model / cfg->n_heads, cfg->rope_interleaved ? "interleaved pairs" : "rotate_half",
                 cfg->rope_scaling == SE_ROPE_NTK_FIXED     ? ", fixed NTK scaling"
                 : cfg->rope_scaling == SE_ROPE_NTK_DYNAMIC ? ", dynamic NTK scaling"
                                                            : "");
        k = strlen(rope);
        if (cfg->rope_scaling)
            snprintf(rope + k - 1, sizeof rope - k + 1, " factor %g%s)", cfg->rope_factor,
                     cfg->rope_scaling == SE_ROPE_NTK_DYNAMIC ? " beyond max_trained_positions" : "");
        k = strlen(rope);
        if (cfg->rope_scaling == SE_ROPE_NTK_DYNAMIC)
            snprintf(rope + k - 1, sizeof rope - k + 1, " %d)", cfg->rope_trained);
    }
    if (r->pos == SE_POS_ROPE && cfg->global_every > 1)
        snprintf(rope + strlen(rope), sizeof rope - strlen(rope),
                 ", %g local; layer l global iff l %% %d == 0, the others a %d-token window)", cfg->rope_theta_local,
                 cfg->global_every, cfg->local_window);
    snprintf(buf, cap,
             "family %s: positions %s%s%s, %s layers, %s FFN (%s), embeddings %s (width %d), specials %s", r->family,
             pos_name(r->pos), rope,
             r->attn_bias == SE_ATTB_REL_BUCKETS ? " + relative position buckets (32, bidirectional, shared)"
             : r->attn_bias == SE_ATTB_ALIBI   ? ", ALiBi (-m_h*|i-j| in the attention tiles, slopes by global head)"
                                               : "",
             r->norm == SE_NORM_POST ? "post-LN" : "pre-LN",
             r->ffn == SE_FFN_DENSE ? "dense" : "gated", se_act_name(cfg->act), emb, e, r->specials);
}
