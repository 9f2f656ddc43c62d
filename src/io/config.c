/* config.json: Hugging Face BertConfig keys, plus our "vanilla_transformer"
 * (the seed document's encoder: sinusoidal positions, ReLU FFN). Missing keys
 * take BertConfig's defaults; what we cannot run is refused by name, and
 * every size is bounded so a hostile config cannot ask for petabytes. */
#include "shardenc/io.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/io_internal.h"

#define CFG_MAX_BYTES (16u << 20)

const char *se_act_name(se_act a)
{
    switch (a) {
    case SE_ACT_GELU_ERF: return "gelu";
    case SE_ACT_GELU_TANH: return "gelu_new";
    case SE_ACT_RELU: return "relu";
    case SE_ACT_SILU: return "silu";
    }
    return "?";
}

void se_io_fmt_double(char *buf, size_t cap, double x)
{
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, cap, "%.*g", p, x);
        if (strtod(buf, NULL) == x) return;
    }
}

/* Integer key: absent -> keep *out; present -> must be an integer in [lo, hi]. */
static se_status get_int(json_t *root, const char *name, const char *key, long long lo, long long hi, int *out,
                         int *present, se_error *err)
{
    json_t *v = json_object_get(root, key);
    if (present) *present = v != NULL;
    if (!v) return SE_OK;
    if (!json_is_integer(v))
        return se_error_set(err, SE_EFORMAT, "%s: %s must be an integer, found %s", name, key,
                            se_io_json_type_name(v));
    long long x = json_integer_value(v);
    if (x < lo || x > hi)
        return se_error_set(err, SE_EFORMAT, "%s: %s = %lld is out of range [%lld, %lld]", name, key, x, lo, hi);
    *out = (int)x;
    return SE_OK;
}

/* Number key (integer or real), finite, in (lo, hi]. */
static se_status get_num(json_t *root, const char *name, const char *key, double lo, double hi, double *out,
                         se_error *err)
{
    json_t *v = json_object_get(root, key);
    if (!v) return SE_OK;
    if (!json_is_number(v))
        return se_error_set(err, SE_EFORMAT, "%s: %s must be a number, found %s", name, key,
                            se_io_json_type_name(v));
    double x = json_number_value(v);
    if (!(x > lo && x <= hi))
        return se_error_set(err, SE_EFORMAT, "%s: %s = %g is out of range (%g, %g]", name, key, x, lo, hi);
    *out = x;
    return SE_OK;
}

/* String key: absent -> *out untouched (NULL by caller). */
static se_status get_str(json_t *root, const char *name, const char *key, const char **out, se_error *err)
{
    json_t *v = json_object_get(root, key);
    if (!v) return SE_OK;
    if (!json_is_string(v))
        return se_error_set(err, SE_EFORMAT, "%s: %s must be a string, found %s", name, key,
                            se_io_json_type_name(v));
    *out = json_string_value(v);
    return SE_OK;
}

static se_status get_bool(json_t *root, const char *name, const char *key, int *out, se_error *err)
{
    json_t *v = json_object_get(root, key);
    if (!v) return SE_OK;
    if (!json_is_boolean(v))
        return se_error_set(err, SE_EFORMAT, "%s: %s must be true or false, found %s", name, key,
                            se_io_json_type_name(v));
    *out = json_is_true(v);
    return SE_OK;
}

/* ModernBertConfig's RoPE and alternation keys, in both formats: the older
 * global_rope_theta / local_rope_theta, and the newer layer_types with
 * rope_parameters per type ({"full_attention": {"rope_theta": ..}, ...}).
 * ModernBertAttention.__init__ makes layer l local iff
 * l % global_attn_every_n_layers != 0 and takes its theta from
 * rope_parameters[layer_types[l]], so a layer_types list that disagrees with
 * that rule is refused rather than guessed. Biases (attention_bias, mlp_bias,
 * norm_bias) are refused when true: the released checkpoints have none. */
static se_status parse_modernbert(json_t *root, const char *name, se_model_config *cfg, se_error *err)
{
    se_status st;
    static const char *const biases[] = {"attention_bias", "mlp_bias", "norm_bias"};
    for (int i = 0; i < 3; i++) {
        int b = 0;
        if ((st = get_bool(root, name, biases[i], &b, err))) return st;
        if (b)
            return se_error_set(err, SE_EUNSUPPORTED, "%s: %s = true is not supported for modernbert (supported: false)",
                                name, biases[i]);
    }
    if ((st = get_int(root, name, "global_attn_every_n_layers", 1, 1000, &cfg->global_every, NULL, err))) return st;
    if ((st = get_int(root, name, "local_attention", 0, 1 << 24, &cfg->local_window, NULL, err))) return st;
    if ((st = get_num(root, name, "global_rope_theta", 0.0, 1e12, &cfg->rope_theta, err))) return st;
    if ((st = get_num(root, name, "local_rope_theta", 0.0, 1e12, &cfg->rope_theta_local, err))) return st;
    json_t *rp = json_object_get(root, "rope_parameters");
    if (rp && !json_is_null(rp)) {
        static const char *const types[2] = {"full_attention", "sliding_attention"};
        double *theta[2] = {&cfg->rope_theta, &cfg->rope_theta_local};
        for (int i = 0; i < 2; i++) {
            json_t *t = json_is_object(rp) ? json_object_get(rp, types[i]) : NULL;
            if (!t) continue;
            char key[64];
            snprintf(key, sizeof key, "rope_parameters.%s", types[i]);
            const char *rt = NULL;
            if (!json_is_object(t) || (st = get_str(t, name, "rope_type", &rt, err)))
                return st ? st : se_error_set(err, SE_EFORMAT, "%s: %s must be an object", name, key);
            if (rt && strcmp(rt, "default"))
                return se_error_set(err, SE_EUNSUPPORTED, "%s: %s.rope_type '%.60s' is not supported (supported: default)",
                                    name, key, rt);
            if ((st = get_num(t, name, "rope_theta", 0.0, 1e12, theta[i], err))) return st;
        }
    }
    json_t *lt = json_object_get(root, "layer_types");
    if (lt && !json_is_null(lt)) {
        if (!json_is_array(lt) || (int)json_array_size(lt) != cfg->n_layers)
            return se_error_set(err, SE_EFORMAT, "%s: layer_types must be a list of num_hidden_layers = %d strings",
                                name, cfg->n_layers);
        for (int l = 0; l < cfg->n_layers; l++) {
            const char *s = json_string_value(json_array_get(lt, (size_t)l));
            int local = l % cfg->global_every != 0;
            if (!s || strcmp(s, local ? "sliding_attention" : "full_attention"))
                return se_error_set(err, SE_EUNSUPPORTED,
                                    "%s: layer_types[%d] = '%.40s', but global_attn_every_n_layers = %d makes layer %d "
                                    "%s (ModernBertAttention windows by that rule)",
                                    name, l, s ? s : "(not a string)", cfg->global_every, l,
                                    local ? "sliding_attention" : "full_attention");
        }
    }
    return SE_OK;
}

/* JinaBERT-v2 (jinaai/jina-bert-implementation, configuration_bert.py
 * JinaBertConfig and modeling_bert.py JinaBertGLUMLP): model_type "bert" with
 * position_embedding_type "alibi" and a gated feed_forward_type. The GLU MLP
 * picks its activation from feed_forward_type alone (reglu: nn.ReLU(), geglu:
 * nn.GELU(), i.e. erf) and ignores hidden_act; JinaBertConfig's default
 * "original" keeps BERT's dense FFN beside ALiBi, which no released checkpoint
 * uses and this runtime does not run, so it is refused by name. */
static se_status parse_jinabert(json_t *root, const char *name, se_model_config *cfg, se_error *err)
{
    const char *ff = NULL;
    se_status st = get_str(root, name, "feed_forward_type", &ff, err);
    if (st) return st;
    if (ff && !strcmp(ff, "geglu")) cfg->act = SE_ACT_GELU_ERF;
    else if (ff && !strcmp(ff, "reglu")) cfg->act = SE_ACT_RELU;
    else
        return se_error_set(err, SE_EUNSUPPORTED,
                            "%s: feed_forward_type '%.60s' is not supported with position_embedding_type 'alibi' "
                            "(JinaBERT-v2; supported: geglu, reglu)",
                            name, ff ? ff : "original (JinaBertConfig's default, key absent)");
    return SE_OK;
}

/* A key that must be absent, null or false (a variant the forward does not run). */
static se_status refuse_true(json_t *root, const char *name, const char *mt, const char *key, se_error *err)
{
    json_t *v = json_object_get(root, key);
    if (v && !json_is_false(v) && !json_is_null(v))
        return se_error_set(err, SE_EUNSUPPORTED, "%s: %s = %s is not supported for %s (supported: false)", name, key,
                            json_is_true(v) ? "true" : se_io_json_type_name(v), mt);
    return SE_OK;
}

/* NomicBertConfig (contrastors src/contrastors/models/huggingface/
 * configuration_hf_nomic_bert.py, a GPT2Config: n_embd, n_head, n_layer,
 * n_inner, n_positions, layer_norm_epsilon, activation_function) as
 * modeling_hf_nomic_bert.py reads it: NomicBertModel.__init__ pads vocab_size
 * up to pad_vocab_size_multiple; NomciBertGatedMLP takes n_inner (or
 * int(8·n_embd/3)) rounded up to a multiple of 256; NomicBertAttention rotates
 * head_dim·rotary_emb_fraction dims with rotary_emb_base, interleaved or not,
 * and uses NomicBertDynamicNTKRotaryEmbedding when rotary_scaling_factor is
 * set (base rescaled for sequences longer than max_trained_positions).
 * Variants its code has but the forward does not run are refused by name. */
static se_status parse_nomic(json_t *root, const char *name, se_model_config *cfg, se_error *err)
{
    se_status st;
    static const char *const refused[] = {"prenorm", "parallel_block", "causal", "use_rms_norm", "rotary_head_dim",
                                          "norm_mlp"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if ((st = refuse_true(root, name, "nomic_bert", refused[i], err))) return st;
    json_t *sb = json_object_get(root, "rotary_emb_scale_base"); /* xPos scaling */
    if (sb && !json_is_null(sb))
        return se_error_set(err, SE_EUNSUPPORTED, "%s: rotary_emb_scale_base is not supported (supported: null)", name);
    json_t *kv = json_object_get(root, "num_heads_kv");
    if (kv && !json_is_null(kv) && !(json_is_integer(kv) && json_integer_value(kv) == cfg->n_heads))
        return se_error_set(err, SE_EUNSUPPORTED, "%s: num_heads_kv is not supported (supported: null or n_head)", name);
    const char *act = "gelu_new"; /* GPT2Config's default: a dense MLP, not run here */
    if ((st = get_str(root, name, "activation_function", &act, err))) return st;
    if (!strcmp(act, "swiglu")) cfg->act = SE_ACT_SILU;
    else if (!strcmp(act, "geglu")) cfg->act = SE_ACT_GELU_ERF; /* F.gelu */
    else
        return se_error_set(err, SE_EUNSUPPORTED,
                            "%s: activation_function '%.60s' is not supported for nomic_bert (supported: swiglu, "
                            "geglu: the gated fc11/fc12 MLP)",
                            name, act);
    json_t *ni = json_object_get(root, "n_inner");
    int inner = (int)(8.0 * cfg->d_model / 3.0);
    if (ni && !json_is_null(ni) && (st = get_int(root, name, "n_inner", 1, 1 << 20, &inner, NULL, err))) return st;
    cfg->d_ff = (inner + 255) / 256 * 256; /* NomciBertGatedMLP: multiple_of=256 */
    int mult = 1;
    if ((st = get_int(root, name, "pad_vocab_size_multiple", 1, 1 << 16, &mult, NULL, err))) return st;
    cfg->vocab_size = (cfg->vocab_size + mult - 1) / mult * mult;
    int b = 1;
    static const char *const bias_keys[] = {"qkv_proj_bias", "mlp_fc1_bias", "mlp_fc2_bias"};
    static const unsigned bias_bits[] = {SE_NOBIAS_QKV | SE_NOBIAS_O, SE_NOBIAS_FC1, SE_NOBIAS_FC2};
    for (int i = 0; i < 3; i++) {
        b = 1;
        if ((st = get_bool(root, name, bias_keys[i], &b, err))) return st;
        if (!b) cfg->no_bias |= bias_bits[i];
    }
    double frac = 0.0;
    cfg->rope_theta = 10000.0;
    if ((st = get_num(root, name, "rotary_emb_fraction", -1.0, 1.0, &frac, err))) return st;
    if ((st = get_num(root, name, "rotary_emb_base", 0.0, 1e12, &cfg->rope_theta, err))) return st;
    if ((st = get_bool(root, name, "rotary_emb_interleaved", &cfg->rope_interleaved, err))) return st;
    int dh = cfg->d_model / (cfg->n_heads > 0 ? cfg->n_heads : 1);
    double rd = dh * frac;
    if (!(frac > 0.0) || rd != (double)(int)rd || (int)rd % 2)
        return se_error_set(err, SE_EUNSUPPORTED,
                            "%s: rotary_emb_fraction = %g gives %g rotary dims of the %d per head (supported: a "
                            "fraction in (0, 1] that gives an even number; 0 = learned positions, not implemented)",
                            name, frac, rd, dh);
    cfg->rope_dim = (int)rd;
    cfg->rope_trained = 2048;
    if ((st = get_int(root, name, "max_trained_positions", 1, 1 << 24, &cfg->rope_trained, NULL, err))) return st;
    json_t *sf = json_object_get(root, "rotary_scaling_factor");
    if (sf && !json_is_null(sf) && !(json_is_number(sf) && json_number_value(sf) == 0)) { /* `if getattr(...)` */
        if ((st = get_num(root, name, "rotary_scaling_factor", 0.0, 1e6, &cfg->rope_factor, err))) return st;
        if (cfg->rope_dim <= 2)
            return se_error_set(err, SE_EUNSUPPORTED,
                                "%s: rotary_scaling_factor needs more than 2 rotary dims (its base exponent is "
                                "dim/(dim-2)), this config rotates %d",
                                name, cfg->rope_dim);
        cfg->rope_scaling = SE_ROPE_NTK_DYNAMIC;
    }
    /* the trained length by default; with NTK scaling the model is meant for n_positions */
    cfg->default_window = cfg->rope_scaling == SE_ROPE_NTK_DYNAMIC || cfg->rope_trained > cfg->max_pos
                              ? cfg->max_pos
                              : cfg->rope_trained;
    return SE_OK;
}

/* NewConfig (Alibaba-NLP/new-impl configuration.py) as modeling.py reads it:
 * position_embedding_type 'rope' (NewEmbeddings._init_rope), rope_theta, and
 * rope_scaling {type: ntk, factor} for NTKScalingRotaryEmbedding (fixed NTK:
 * the tables are built for max_position_embeddings·factor at init). pack_qkv
 * false, rms_norm, logn_attention_scale and the mixed_b variant are refused. */
static se_status parse_gte(json_t *root, const char *name, const char *pet, se_model_config *cfg, se_error *err)
{
    se_status st;
    if (pet && strcmp(pet, "rope"))
        return se_error_set(err, SE_EUNSUPPORTED,
                            "%s: position_embedding_type '%.60s' is not supported for new (supported: rope)", name, pet);
    json_t *pq = json_object_get(root, "pack_qkv");
    if (pq && !json_is_true(pq))
        return se_error_set(err, SE_EUNSUPPORTED, "%s: pack_qkv = %s is not supported for new (supported: true)", name,
                            json_is_false(pq) ? "false" : se_io_json_type_name(pq));
    if ((st = refuse_true(root, name, "new", "logn_attention_scale", err))) return st;
    const char *lnt = NULL;
    if ((st = get_str(root, name, "layer_norm_type", &lnt, err))) return st;
    if (lnt && strcmp(lnt, "layer_norm"))
        return se_error_set(err, SE_EUNSUPPORTED,
                            "%s: layer_norm_type '%.60s' is not supported for new (supported: layer_norm)", name, lnt);
    cfg->rope_theta = 10000.0;
    if ((st = get_num(root, name, "rope_theta", 0.0, 1e12, &cfg->rope_theta, err))) return st;
    json_t *rs = json_object_get(root, "rope_scaling");
    if (rs && !json_is_null(rs)) {
        const char *type = NULL;
        if (!json_is_object(rs)) return se_error_set(err, SE_EFORMAT, "%s: rope_scaling must be an object or null", name);
        if ((st = get_str(rs, name, "type", &type, err))) return st;
        if (!type || strcmp(type, "ntk"))
            return se_error_set(err, SE_EUNSUPPORTED,
                                "%s: rope_scaling.type '%.60s' is not supported for new (supported: ntk)", name,
                                type ? type : "(missing)");
        json_t *mb = json_object_get(rs, "mixed_b");
        if (mb && !json_is_null(mb))
            return se_error_set(err, SE_EUNSUPPORTED, "%s: rope_scaling.mixed_b is not supported (supported: null)",
                                name);
        if (!json_object_get(rs, "factor"))
            return se_error_set(err, SE_EFORMAT, "%s: rope_scaling needs a factor", name);
        if ((st = get_num(rs, name, "factor", 0.0, 1e6, &cfg->rope_factor, err))) return st;
        cfg->rope_scaling = SE_ROPE_NTK_FIXED;
    }
    return SE_OK;
}

static se_status parse_root(json_t *root, const char *name, se_model_config *cfg, se_error *err)
{
    se_status st;
    if (!json_is_object(root))
        return se_error_set(err, SE_EFORMAT, "%s: top level must be a JSON object, found %s", name,
                            se_io_json_type_name(root));
    memset(cfg, 0, sizeof *cfg);

    const char *mt = NULL;
    if ((st = get_str(root, name, "model_type", &mt, err))) return st;
    if (!mt) {
        se_log(SE_LOG_WARN, "%s: no model_type; assuming \"bert\"", name);
        mt = "bert";
    }
    /* model_type -> family. The key names and defaults of each family's
     * Hugging Face config class (configuration_<family>.py). DistilBertConfig
     * spells the sizes dim/n_layers/n_heads/hidden_dim/activation. */
    static const struct {
        const char *model_type;
        se_arch arch;
    } types[] = {
        {"bert", SE_ARCH_BERT},           {"roberta", SE_ARCH_ROBERTA},       {"xlm-roberta", SE_ARCH_ROBERTA},
        {"camembert", SE_ARCH_ROBERTA},   {"distilbert", SE_ARCH_DISTILBERT}, {"electra", SE_ARCH_ELECTRA},
        {"mpnet", SE_ARCH_MPNET},         {"vanilla_transformer", SE_ARCH_VANILLA}, {"modernbert", SE_ARCH_MODERNBERT},
        {"nomic_bert", SE_ARCH_NOMIC_BERT}, {"new", SE_ARCH_GTE_NEW},
    };
    size_t ti = 0, nt = sizeof types / sizeof types[0];
    while (ti < nt && strcmp(mt, types[ti].model_type)) ti++;
    if (ti == nt)
        return se_error_set(err, SE_EUNSUPPORTED,
                            "%s: model_type '%.100s' is not supported (supported: bert, roberta, xlm-roberta, "
                            "camembert, distilbert, electra, mpnet, modernbert, nomic_bert, new, vanilla_transformer)",
                            name, mt);
    cfg->arch = types[ti].arch;
    snprintf(cfg->model_type, sizeof cfg->model_type, "%s", mt);
    int vanilla = cfg->arch == SE_ARCH_VANILLA, distil = cfg->arch == SE_ARCH_DISTILBERT,
        mpnet = cfg->arch == SE_ARCH_MPNET, modern = cfg->arch == SE_ARCH_MODERNBERT,
        nomic = cfg->arch == SE_ARCH_NOMIC_BERT, gte = cfg->arch == SE_ARCH_GTE_NEW;
    /* NomicBertConfig is a GPT2Config: n_embd, n_layer, n_head; n_inner and
     * activation_function are read by parse_nomic (nullable, gated names) */
    const char *k_hidden = distil ? "dim" : nomic ? "n_embd" : "hidden_size",
               *k_layers = distil ? "n_layers" : nomic ? "n_layer" : "num_hidden_layers",
               *k_heads = distil ? "n_heads" : nomic ? "n_head" : "num_attention_heads",
               *k_ff = distil ? "hidden_dim" : nomic ? NULL : "intermediate_size",
               *k_act = distil ? "activation" : modern ? "hidden_activation" : nomic ? NULL : "hidden_act";

    /* BertConfig defaults (transformers/models/bert/configuration_bert.py). */
    cfg->d_model = 768;
    cfg->n_layers = 12;
    cfg->n_heads = 12;
    cfg->d_ff = 3072;
    cfg->act = vanilla ? SE_ACT_RELU : SE_ACT_GELU_ERF;
    cfg->max_pos = vanilla ? 0 : 512;
    cfg->type_vocab = vanilla || distil || mpnet || modern ? 0 : 2;
    cfg->vocab_size = 30522;
    cfg->ln_eps = vanilla ? 1e-5f : 1e-12f;
    cfg->pad_token_id = cfg->arch == SE_ARCH_ROBERTA || mpnet ? 1 : 0; /* RobertaConfig, MPNetConfig: 1 */
    if (mpnet) { /* MPNetConfig */
        cfg->vocab_size = 30527;
        cfg->max_pos = 514;
        cfg->rel_buckets = 32;
    }
    if (modern) { /* ModernBertConfig (configuration_modernbert.py) */
        cfg->vocab_size = 50368;
        cfg->d_ff = 1152;
        cfg->n_layers = 22;
        cfg->max_pos = 8192;
        cfg->ln_eps = 1e-5f;
        cfg->pad_token_id = 50283;
        cfg->rope_theta = 160000.0;
        cfg->rope_theta_local = 10000.0;
        cfg->global_every = 3;
        cfg->local_window = 128;
    }
    if (nomic) { /* GPT2Config + NomicBertConfig defaults */
        cfg->vocab_size = 50257;
        cfg->max_pos = 1024;
        cfg->ln_eps = 1e-5f;
    }
    if (gte) { /* NewConfig */
        cfg->vocab_size = 30528;
        cfg->max_pos = 2048;
        cfg->type_vocab = 1;
    }
    cfg->sin_layout = SE_SIN_INTERLEAVED;
    cfg->sin_base = 10000.0;
    cfg->scale_embedding = 1;
    if (distil) cfg->n_layers = 6; /* DistilBertConfig: n_layers=6 */
    if (cfg->arch == SE_ARCH_ELECTRA) { /* ElectraConfig: the small discriminator's shape */
        cfg->d_model = 256;
        cfg->n_heads = 4;
        cfg->d_ff = 1024;
        cfg->emb_size = 128;
    }

    /* Bounds: generous for real models, small enough that no single size can
     * make a buffer overflow size_t arithmetic downstream. */
    if ((st = get_int(root, name, k_hidden, 1, 65536, &cfg->d_model, NULL, err))) return st;
    if ((st = get_int(root, name, k_layers, 1, 1000, &cfg->n_layers, NULL, err))) return st;
    if ((st = get_int(root, name, k_heads, 1, 65536, &cfg->n_heads, NULL, err))) return st;
    if (k_ff && (st = get_int(root, name, k_ff, 1, 1 << 20, &cfg->d_ff, NULL, err))) return st;
    if (cfg->arch != SE_ARCH_ELECTRA) cfg->emb_size = cfg->d_model;
    else if ((st = get_int(root, name, "embedding_size", 1, 65536, &cfg->emb_size, NULL, err)))
        return st;
    if ((st = get_int(root, name, "vocab_size", 1, 100000000, &cfg->vocab_size, NULL, err))) return st;
    int have_max_pos = 0;
    if ((st = get_int(root, name, nomic ? "n_positions" : "max_position_embeddings", 1, 1 << 20, &cfg->max_pos,
                      &have_max_pos, err)))
        return st;
    if (vanilla && !have_max_pos) cfg->max_pos = 0;
    if (mpnet) {
        /* MPNetEncoder.compute_position_bias buckets with num_buckets=32 whatever
         * the config says; the table needs those 32 rows. */
        if ((st = get_int(root, name, "relative_attention_num_buckets", 1, 1 << 16, &cfg->rel_buckets, NULL, err)))
            return st;
        if (cfg->rel_buckets < 32)
            return se_error_set(err, SE_EUNSUPPORTED,
                                "%s: relative_attention_num_buckets = %d is not supported (MPNet's modeling code "
                                "computes 32 buckets; supported: >= 32)",
                                name, cfg->rel_buckets);
    }
    if (vanilla || distil || mpnet || modern) {
        int tv = 0;
        if ((st = get_int(root, name, "type_vocab_size", 0, 65536, &tv, NULL, err))) return st;
        if (tv != 0)
            return se_error_set(err, SE_EUNSUPPORTED,
                                "%s: type_vocab_size = %d, but %s has no token type embeddings "
                                "(use 0 or leave it out)",
                                name, tv, mt);
    } else if ((st = get_int(root, name, "type_vocab_size", nomic || gte ? 0 : 1, 65536, &cfg->type_vocab, NULL,
                             err)))
        return st;
    json_t *pad = json_object_get(root, "pad_token_id");
    if (pad && !json_is_null(pad)) /* HF writes null for "no padding token" */
        if ((st = get_int(root, name, "pad_token_id", 0, 100000000, &cfg->pad_token_id, NULL, err))) return st;
    if (cfg->pad_token_id >= cfg->vocab_size)
        return se_error_set(err, SE_EFORMAT, "%s: pad_token_id = %d is not below vocab_size = %d", name,
                            cfg->pad_token_id, cfg->vocab_size);
    double eps = cfg->ln_eps; /* DistilBERT: fixed 1e-12 in its modeling code, no key */
    if (!distil && (st = get_num(root, name, modern ? "norm_eps" : nomic ? "layer_norm_epsilon" : "layer_norm_eps", 0.0,
                                 1.0, &eps, err)))
        return st;
    cfg->ln_eps = (float)eps;
    if (!(cfg->ln_eps > 0.0f))
        return se_error_set(err, SE_EFORMAT, "%s: layer_norm_eps = %g underflows float", name, eps);

    const char *act = NULL;
    if (k_act && (st = get_str(root, name, k_act, &act, err))) return st;
    if (act) {
        if (!strcmp(act, "gelu")) cfg->act = SE_ACT_GELU_ERF;
        else if (!strcmp(act, "gelu_new") || !strcmp(act, "gelu_pytorch_tanh")) cfg->act = SE_ACT_GELU_TANH;
        else if (!strcmp(act, "relu")) cfg->act = SE_ACT_RELU;
        else
            return se_error_set(err, SE_EUNSUPPORTED,
                                "%s: %s '%.100s' is not supported (supported: gelu, gelu_new, "
                                "gelu_pytorch_tanh, relu)",
                                name, k_act, act);
    }

    const char *pet = NULL;
    if ((st = get_str(root, name, "position_embedding_type", &pet, err))) return st;
    /* An encoder only: a causal mask or cross-attention would change every row. */
    static const char *const refused_true[] = {"is_decoder", "add_cross_attention"};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(root, refused_true[i]);
        if (v && !json_is_false(v) && !json_is_null(v))
            return se_error_set(err, SE_EUNSUPPORTED,
                                "%s: %s = %s is not supported (shardenc runs bidirectional encoders only; supported: "
                                "false)",
                                name, refused_true[i], json_is_true(v) ? "true" : se_io_json_type_name(v));
    }
    if (cfg->n_heads > cfg->d_model || cfg->d_model % cfg->n_heads)
        return se_error_set(err, SE_EFORMAT,
                            "%s: hidden_size = %d is not divisible by num_attention_heads = %d", name, cfg->d_model,
                            cfg->n_heads);
    if (modern) {
        if ((st = parse_modernbert(root, name, cfg, err))) return st;
    } else if (cfg->arch == SE_ARCH_BERT && pet && !strcmp(pet, "alibi")) {
        cfg->arch = SE_ARCH_JINABERT; /* no position table: ALiBi in the attention */
        if ((st = parse_jinabert(root, name, cfg, err))) return st;
    } else if (nomic) {
        if ((st = parse_nomic(root, name, cfg, err))) return st;
    } else if (gte) {
        if ((st = parse_gte(root, name, pet, cfg, err))) return st;
    } else if (!vanilla) {
        if (pet && strcmp(pet, "absolute"))
            return se_error_set(err, SE_EUNSUPPORTED,
                                "%s: position_embedding_type '%.100s' is not supported for %s (supported: absolute%s)",
                                name, pet, mt, cfg->arch == SE_ARCH_BERT ? ", alibi" : "");
        /* DistilBERT's sinusoidal_pos_embds only initialises the position table
         * (create_sinusoidal_embeddings in modeling_distilbert.py); the table
         * is stored in the checkpoint and read from there like a learned one. */
    } else {
        if (pet && strcmp(pet, "sinusoidal"))
            return se_error_set(err, SE_EUNSUPPORTED,
                                "%s: position_embedding_type '%.100s' is not supported for vanilla_transformer "
                                "(supported: sinusoidal)",
                                name, pet);
        /* nn.TransformerEncoderLayer(norm_first=True) is pre-LN: running it
         * post-LN would change every row, so it is refused, not approximated. */
        json_t *nf = json_object_get(root, "norm_first");
        if (nf && !json_is_false(nf) && !json_is_null(nf))
            return se_error_set(err, SE_EUNSUPPORTED,
                                "%s: norm_first = %s is not supported (pre-LN layers are not implemented; "
                                "supported: false, i.e. nn.TransformerEncoderLayer's post-LN default)",
                                name, json_is_true(nf) ? "true" : se_io_json_type_name(nf));
        const char *lay = NULL;
        if ((st = get_str(root, name, "sinusoidal_layout", &lay, err))) return st;
        if (lay) {
            if (!strcmp(lay, "interleaved")) cfg->sin_layout = SE_SIN_INTERLEAVED;
            else if (!strcmp(lay, "concat")) cfg->sin_layout = SE_SIN_CONCAT;
            else
                return se_error_set(err, SE_EUNSUPPORTED,
                                    "%s: sinusoidal_layout '%.100s' is not supported (supported: interleaved, concat)",
                                    name, lay);
        }
        if ((st = get_num(root, name, "sinusoidal_base", 1.0, 1e12, &cfg->sin_base, err))) return st;
        json_t *se = json_object_get(root, "scale_embedding");
        if (se) {
            if (!json_is_boolean(se))
                return se_error_set(err, SE_EFORMAT, "%s: scale_embedding must be true or false, found %s", name,
                                    se_io_json_type_name(se));
            cfg->scale_embedding = json_is_true(se);
        }
        /* PE(p, 2i) = sin(p / base^(2i/D)), PE(p, 2i+1) = cos(...): pairs of columns. */
        if (cfg->d_model % 2)
            return se_error_set(err, SE_EFORMAT, "%s: hidden_size = %d must be even for sinusoidal positions", name,
                                cfg->d_model);
    }

    return SE_OK;
}

se_status se_config_parse(const char *json, size_t len, const char *name, se_model_config *cfg, se_error *err)
{
    if (!name) name = "config.json";
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return se_error_set(err, SE_EFORMAT, "%s: not valid JSON: %s (line %d, column %d)", name, je.text, je.line,
                            je.column);
    se_status st = parse_root(root, name, cfg, err);
    json_decref(root);
    return st;
}

se_status se_config_load(const char *path, se_model_config *cfg, se_error *err)
{
    char *buf;
    size_t len;
    se_status st = se_read_file(path, CFG_MAX_BYTES, &buf, &len, err);
    if (st) return st;
    st = se_config_parse(buf, len, path, cfg, err);
    free(buf);
    return st;
}

se_status se_config_save(const char *path, const se_model_config *cfg, se_error *err)
{
    int vanilla = cfg->arch == SE_ARCH_VANILLA, distil = cfg->arch == SE_ARCH_DISTILBERT;
    char eps[40], base[40], text[2048];
    /* the shortest decimal that reads back as the same float ("1e-12") */
    for (int p = 1; p <= 9; p++) {
        snprintf(eps, sizeof eps, "%.*g", p, (double)cfg->ln_eps);
        if (strtof(eps, NULL) == cfg->ln_eps) break;
    }
    se_io_fmt_double(base, sizeof base, cfg->sin_base);
    /* DistilBertConfig's own key names; it has no layer_norm_eps (fixed 1e-12). */
    int n = snprintf(text, sizeof text,
                     "{\n"
                     "  \"model_type\": \"%s\",\n"
                     "  \"%s\": %d,\n"
                     "  \"%s\": %d,\n"
                     "  \"%s\": %d,\n"
                     "  \"%s\": %d,\n"
                     "  \"%s\": \"%s\",\n"
                     "  \"vocab_size\": %d,\n"
                     "  \"%s\": %s,\n"
                     "  \"pad_token_id\": %d,\n",
                     cfg->model_type[0] ? cfg->model_type : vanilla ? "vanilla_transformer" : "bert",
                     distil ? "dim" : "hidden_size", cfg->d_model, distil ? "n_layers" : "num_hidden_layers",
                     cfg->n_layers, distil ? "n_heads" : "num_attention_heads", cfg->n_heads,
                     distil ? "hidden_dim" : "intermediate_size", cfg->d_ff, distil ? "activation" : "hidden_act",
                     se_act_name(cfg->act), cfg->vocab_size, distil ? "_layer_norm_eps" : "layer_norm_eps", eps,
                     cfg->pad_token_id);
    if (cfg->arch == SE_ARCH_ELECTRA)
        n += snprintf(text + n, sizeof text - (size_t)n, "  \"embedding_size\": %d,\n", cfg->emb_size);
    if (cfg->max_pos > 0 || !vanilla)
        n += snprintf(text + n, sizeof text - (size_t)n, "  \"max_position_embeddings\": %d,\n", cfg->max_pos);
    if (vanilla)
        n += snprintf(text + n, sizeof text - (size_t)n,
                      "  \"sinusoidal_layout\": \"%s\",\n  \"sinusoidal_base\": %s,\n  \"scale_embedding\": %s,\n"
                      "  \"position_embedding_type\": \"sinusoidal\"\n}\n",
                      cfg->sin_layout == SE_SIN_CONCAT ? "concat" : "interleaved", base,
                      cfg->scale_embedding ? "true" : "false");
    else if (distil)
        n += snprintf(text + n, sizeof text - (size_t)n, "  \"sinusoidal_pos_embds\": false\n}\n");
    else
        n += snprintf(text + n, sizeof text - (size_t)n,
                      "  \"type_vocab_size\": %d,\n  \"position_embedding_type\": \"absolute\"\n}\n", cfg->type_vocab);
    /* Never write a config we would refuse to read. */
    se_model_config check;
    se_status st = se_config_parse(text, (size_t)n, path, &check, err);
    if (st) return se_error_prefix(err, "refusing to save: ");

    /* temp name, fsync, rename, directory fsync: a crash leaves the old file or the new */
    return se_file_commit(path, text, (size_t)n, NULL, 0, err);
}
