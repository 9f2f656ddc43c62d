/* sentence-transformers folder files (see io.h). Sources followed:
 * UKPLab/sentence-transformers sentence_transformers/models/Pooling.py
 * (config keys pooling_mode_cls_token, _max_tokens, _mean_tokens,
 * _mean_sqrt_len_tokens, _weightedmean_tokens, _lasttoken, include_prompt;
 * "pooling_mode" as a string overrides them), models/Dense.py (in_features,
 * out_features, bias, activation_function as an import path), and
 * SentenceTransformer.py (modules.json, sentence_bert_config.json,
 * config_sentence_transformers.json). */
#include "shardenc/io.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/io_internal.h"

#define ST_MAX_BYTES (4u << 20)

static const char *const pool_keys[SE_STP_COUNT] = {
    "pooling_mode_cls_token",           "pooling_mode_max_tokens",          "pooling_mode_mean_tokens",
    "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken",
};
static const char *const pool_names[SE_STP_COUNT] = {"cls",          "max",         "mean", "mean_sqrt_len_tokens",
                                                     "weightedmean", "lasttoken"};

const char *se_st_pool_mode_name(int mode) { return mode >= 0 && mode < SE_STP_COUNT ? pool_names[mode] : "?"; }

const char *se_dense_act_name(se_dense_act a)
{
    static const char *const n[] = {"identity", "tanh", "relu", "sigmoid", "gelu"};
    return (unsigned)a < 5 ? n[a] : "?";
}

void se_st_folder_free(se_st_folder *f)
{
    for (int i = 0; i < f->n_prompts; i++) free(f->prompt_text[i]);
    memset(f, 0, sizeof *f);
}

/* Reads DIR/REL as JSON; *out NULL (and SE_OK) if the file does not exist. */
static se_status load_json(const char *dir, const char *rel, json_t **out, char *path, size_t cap, se_error *err)
{
    *out = NULL;
    snprintf(path, cap, "%s/%s", dir, rel);
    struct stat sb;
    if (stat(path, &sb) != 0) return SE_OK;
    char *buf;
    size_t len;
    se_status st = se_read_file(path, ST_MAX_BYTES, &buf, &len, err);
    if (st) return st;
    json_error_t je;
    *out = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    free(buf);
    if (!*out)
        return se_error_set(err, SE_EFORMAT, "%s: not valid JSON: %s (line %d, column %d)", path, je.text, je.line,
                            je.column);
    return SE_OK;
}

static se_status get_bool(json_t *o, const char *key, int *out, const char *path, se_error *err)
{
    json_t *v = json_object_get(o, key);
    if (!v) return SE_OK;
    if (!json_is_boolean(v))
        return se_error_set(err, SE_EFORMAT, "%s: %s must be true or false, found %s", path, key,
                            se_io_json_type_name(v));
    *out = json_is_true(v);
    return SE_OK;
}

static se_status get_pos_int(json_t *o, const char *key, int *out, const char *path, se_error *err)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return SE_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > (1 << 24))
        return se_error_set(err, SE_EFORMAT, "%s: %s must be a positive integer, found %s", path, key,
                            se_io_json_type_name(v));
    *out = (int)json_integer_value(v);
    return SE_OK;
}

static se_status parse_pooling(json_t *o, se_st_module *m, const char *path, se_error *err)
{
    se_status st;
    m->modes = 0;
    m->include_prompt = 1;
    for (int i = 0; i < SE_STP_COUNT; i++) {
        int on = i == SE_STP_MEAN; /* Pooling.__init__: pooling_mode_mean_tokens defaults to True */
        if ((st = get_bool(o, pool_keys[i], &on, path, err))) return st;
        if (on) m->modes |= 1u << i;
    }
    json_t *pm = json_object_get(o, "pooling_mode");
    if (pm && !json_is_null(pm)) {
        /* Pooling.__init__: a pooling_mode string replaces the flags ("mean",
         * "max", "cls", "weightedmean", "lasttoken"; mean_sqrt_len_tokens too). */
        if (!json_is_string(pm))
            return se_error_set(err, SE_EFORMAT, "%s: pooling_mode must be a string, found %s", path,
                                se_io_json_type_name(pm));
        const char *s = json_string_value(pm);
        int k = 0;
        while (k < SE_STP_COUNT && strcmp(s, pool_names[k])) k++;
        if (k == SE_STP_COUNT)
            return se_error_set(err, SE_EUNSUPPORTED,
                                "%s: pooling_mode '%.100s' is not supported (supported: cls, max, mean, "
                                "mean_sqrt_len_tokens, weightedmean, lasttoken)",
                                path, s);
        m->modes = 1u << k;
    }
    /* Keys naming what we do not implement are refused, never ignored. */
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (!strncmp(key, "pooling_mode_", 13)) {
            int k = 0;
            while (k < SE_STP_COUNT && strcmp(key, pool_keys[k])) k++;
            if (k == SE_STP_COUNT && !json_is_false(v))
                return se_error_set(err, SE_EUNSUPPORTED,
                                    "%s: %s is not supported (supported: pooling_mode_cls_token, _max_tokens, "
                                    "_mean_tokens, _mean_sqrt_len_tokens, _weightedmean_tokens, _lasttoken)",
                                    path, key);
        }
    }
    if (!m->modes)
        return se_error_set(err, SE_EFORMAT, "%s: no pooling mode is enabled (set one of pooling_mode_*)", path);
    return get_bool(o, "include_prompt", &m->include_prompt, path, err);
}

static se_status parse_dense(json_t *o, se_st_module *m, const char *path, se_error *err)
{
    se_status st;
    m->in = m->out = 0;
    m->bias = 1;
    if ((st = get_pos_int(o, "in_features", &m->in, path, err)) ||
        (st = get_pos_int(o, "out_features", &m->out, path, err)) || (st = get_bool(o, "bias", &m->bias, path, err)))
        return st;
    if (!m->in || !m->out) return se_error_set(err, SE_EFORMAT, "%s: in_features and out_features are required", path);
    json_t *a = json_object_get(o, "activation_function");
    const char *s = json_is_string(a) ? json_string_value(a) : "torch.nn.modules.activation.Tanh"; /* Dense's default */
    static const struct {
        const char *name;
        se_dense_act act;
    } acts[] = {
        {"torch.nn.modules.linear.Identity", SE_DACT_IDENTITY}, {"torch.nn.modules.activation.Tanh", SE_DACT_TANH},
        {"torch.nn.modules.activation.ReLU", SE_DACT_RELU},     {"torch.nn.modules.activation.Sigmoid", SE_DACT_SIGMOID},
        {"torch.nn.modules.activation.GELU", SE_DACT_GELU},
    };
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (!strcmp(s, acts[i].name)) {
            m->act = acts[i].act;
            return SE_OK;
        }
    return se_error_set(err, SE_EUNSUPPORTED,
                        "%s: activation_function '%.200s' is not supported (supported: torch.nn.modules.linear."
                        "Identity, torch.nn.modules.activation.Tanh, .ReLU, .Sigmoid, .GELU)",
                        path, s);
}

static se_status parse_modules(const char *dir, json_t *mods, const char *mpath, se_st_folder *f, se_error *err)
{
    if (!json_is_array(mods)) return se_error_set(err, SE_EFORMAT, "%s: must be a JSON array of modules", mpath);
    size_t i;
    json_t *e;
    json_array_foreach(mods, i, e)
    {
        const char *type = json_string_value(json_object_get(e, "type"));
        const char *path = json_string_value(json_object_get(e, "path"));
        if (!type || !path)
            return se_error_set(err, SE_EFORMAT, "%s: module %zu needs string \"type\" and \"path\"", mpath, i);
        if (f->n == SE_ST_MAX_MODULES)
            return se_error_set(err, SE_EUNSUPPORTED, "%s: more than %d modules", mpath, SE_ST_MAX_MODULES);
        if (strstr(path, "..") || path[0] == '/')
            return se_error_set(err, SE_EFORMAT, "%s: module path '%.200s' leaves the model folder", mpath, path);
        se_st_module *m = &f->m[f->n];
        memset(m, 0, sizeof *m);
        snprintf(m->path, sizeof m->path, "%s", path);
        const char *dot = strrchr(type, '.');
        const char *cls = dot ? dot + 1 : type;
        char cpath[4700];
        json_t *c = NULL;
        se_status st = SE_OK;
        if (!strcmp(cls, "Transformer")) {
            if (f->n != 0 || path[0])
                return se_error_set(err, SE_EUNSUPPORTED,
                                    "%s: the Transformer module must come first at path \"\" (found '%.200s' at %zu)",
                                    mpath, path, i);
            m->kind = SE_STM_TRANSFORMER;
        } else if (!strcmp(cls, "Pooling") || !strcmp(cls, "Dense")) {
            char rel[600];
            snprintf(rel, sizeof rel, "%s/config.json", path);
            if ((st = load_json(dir, rel, &c, cpath, sizeof cpath, err))) return st;
            if (!c) return se_error_set(err, SE_EFORMAT, "%s: module %s has no %s", mpath, type, cpath);
            if (!json_is_object(c)) st = se_error_set(err, SE_EFORMAT, "%s: must be a JSON object", cpath);
            else if (cls[0] == 'P') {
                m->kind = SE_STM_POOLING;
                st = parse_pooling(c, m, cpath, err);
            } else {
                m->kind = SE_STM_DENSE;
                st = parse_dense(c, m, cpath, err);
            }
            json_decref(c);
            if (st) return st;
        } else if (!strcmp(cls, "Normalize")) {
            m->kind = SE_STM_NORMALIZE;
        } else {
            return se_error_set(err, SE_EUNSUPPORTED,
                                "%s: module type '%.200s' is not supported (supported: Transformer, Pooling, Dense, "
                                "Normalize)",
                                mpath, type);
        }
        f->n++;
    }
    return SE_OK;
}

static se_status parse_prompts(json_t *o, se_st_folder *f, const char *path, se_error *err)
{
    json_t *p = json_object_get(o, "prompts");
    if (p && !json_is_null(p)) {
        if (!json_is_object(p)) return se_error_set(err, SE_EFORMAT, "%s: prompts must be an object", path);
        const char *k;
        json_t *v;
        json_object_foreach(p, k, v)
        {
            if (!json_is_string(v))
                return se_error_set(err, SE_EFORMAT, "%s: prompts[\"%.60s\"] must be a string", path, k);
            if (f->n_prompts == SE_ST_MAX_PROMPTS || strlen(k) >= sizeof f->prompt_name[0])
                return se_error_set(err, SE_EUNSUPPORTED, "%s: too many or too long prompt names", path);
            snprintf(f->prompt_name[f->n_prompts], sizeof f->prompt_name[0], "%s", k);
            if (!(f->prompt_text[f->n_prompts] = strdup(json_string_value(v))))
                return se_error_set(err, SE_ENOMEM, "cannot copy a prompt");
            f->n_prompts++;
        }
    }
    json_t *d = json_object_get(o, "default_prompt_name");
    if (d && !json_is_null(d)) {
        if (!json_is_string(d)) return se_error_set(err, SE_EFORMAT, "%s: default_prompt_name must be a string", path);
        int k = 0;
        while (k < f->n_prompts && strcmp(f->prompt_name[k], json_string_value(d))) k++;
        if (k == f->n_prompts)
            return se_error_set(err, SE_EFORMAT, "%s: default_prompt_name '%.60s' is not one of prompts", path,
                                json_string_value(d));
        snprintf(f->default_prompt, sizeof f->default_prompt, "%s", json_string_value(d));
    }
    return SE_OK;
}

se_status se_st_folder_load(const char *dir, se_st_folder *f, se_error *err)
{
    memset(f, 0, sizeof *f);
    f->do_lower_case = -1;
    char path[4700];
    json_t *j;
    se_status st = load_json(dir, "modules.json", &j, path, sizeof path, err);
    if (!st && j) {
        f->found = 1;
        st = parse_modules(dir, j, path, f, err);
        json_decref(j);
    }
    if (!st && !(st = load_json(dir, "sentence_bert_config.json", &j, path, sizeof path, err)) && j) {
        if (!json_is_object(j)) st = se_error_set(err, SE_EFORMAT, "%s: must be a JSON object", path);
        if (!st) st = get_pos_int(j, "max_seq_length", &f->max_seq_length, path, err);
        if (!st) st = get_bool(j, "do_lower_case", &f->do_lower_case, path, err);
        json_decref(j);
    }
    if (!st && !(st = load_json(dir, "config_sentence_transformers.json", &j, path, sizeof path, err)) && j) {
        st = json_is_object(j) ? parse_prompts(j, f, path, err)
                               : se_error_set(err, SE_EFORMAT, "%s: must be a JSON object", path);
        json_decref(j);
    }
    if (st) se_st_folder_free(f);
    return st;
}
