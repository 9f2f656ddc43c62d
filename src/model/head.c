/* The sentence-transformers head: Pooling, Dense, Normalize, as
 * UKPLab/sentence-transformers computes them:
 *   models/Pooling.py  Pooling.forward: with attention_mask m (prompt tokens
 *     zeroed when include_prompt is false: attention_mask[:, :prompt_length] = 0)
 *     cls           token_embeddings[:, 0]                   (never masked)
 *     max           max_t over tokens, masked ones set to -1e9
 *     mean          sum_t m_t h_t / clamp(sum_t m_t, min=1e-9)
 *     mean_sqrt_len sum_t m_t h_t / sqrt(clamp(sum_t m_t, min=1e-9))
 *     weightedmean  weights w_t = t + 1 (position from 1): sum m_t w_t h_t / clamp(sum m_t w_t, 1e-9)
 *     lasttoken     the last token of the sequence (packed batches hold no padding)
 *     concatenated in that order (torch.cat(output_vectors, 1)).
 *   models/Dense.py    Dense.forward: activation_function(linear(x)).
 *   models/Normalize.py  F.normalize(x, p=2, dim=1).
 * Sums run in double so long documents keep fp32 accuracy. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardenc/kernels.h"
#include "shardenc/model.h"

void se_head_free(se_head *h)
{
    for (int i = 0; i < h->n_dense; i++) {
        free(h->dense[i].w);
        free(h->dense[i].b);
    }
    free(h->row);
    memset(h, 0, sizeof *h);
}

static se_status parse_modes(const char *s, se_head *h, se_error *err)
{
    unsigned bits = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *t = strtok_r(buf, "+", &save); t; t = strtok_r(NULL, "+", &save)) {
        int k = 0;
        while (k < SE_STP_COUNT && strcmp(t, se_st_pool_mode_name(k))) k++;
        if (k == SE_STP_COUNT && !strcmp(t, "mean_sqrt_len")) k = SE_STP_MEAN_SQRT_LEN;
        if (k == SE_STP_COUNT)
            return se_error_set(err, SE_EINVAL,
                                "--pooling '%s': '%s' is not one of cls, mean, max, mean_sqrt_len_tokens, "
                                "weightedmean, lasttoken (join several with '+'), or none",
                                s, t);
        bits |= 1u << k;
    }
    if (!bits) return se_error_set(err, SE_EINVAL, "--pooling '%s' names no mode", s);
    h->n_modes = 0;
    for (int k = 0; k < SE_STP_COUNT; k++)
        if (bits >> k & 1) h->modes[h->n_modes++] = k;
    return SE_OK;
}

static void modes_str(const se_head *h, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < h->n_modes && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? "+" : "", se_st_pool_mode_name(h->modes[i]));
}

static se_status load_dense(const char *dir, const se_st_module *md, se_dense *D, se_error *err)
{
    char sub[4700];
    snprintf(sub, sizeof sub, "%s/%s", dir, md->path);
    se_st_set *f;
    se_status st = se_st_set_open(sub, &f, err);
    if (st) return st;
    D->in = md->in;
    D->out = md->out;
    D->act = md->act;
    D->w = malloc((size_t)md->in * (size_t)md->out * sizeof(float));
    D->b = md->bias ? malloc((size_t)md->out * sizeof(float)) : NULL;
    if (!D->w || (md->bias && !D->b)) st = se_error_set(err, SE_ENOMEM, "cannot allocate a Dense layer");
    static const char *const names[2] = {"linear.weight", "linear.bias"};
    for (int j = 0; !st && j < 1 + !!md->bias; j++) {
        const se_st_file *file;
        const se_st_tensor *t = se_st_set_find(f, names[j], &file);
        int64_t want0 = md->out, want1 = j ? 1 : md->in;
        if (!t) st = se_error_set(err, SE_EFORMAT, "%s: missing tensor '%s' of a Dense module", se_st_set_path(f), names[j]);
        else if (t->ndim != (j ? 1 : 2) || t->shape[0] != want0 || (!j && t->shape[1] != want1))
            st = se_error_set(err, SE_ESHAPE, "%s: tensor '%s' does not have the shape [%d%s%s] that %s/config.json implies",
                              se_st_set_path(f), names[j], md->out, j ? "" : ", ", j ? "" : "in_features", md->path);
        else
            st = se_st_read_f32(file, t, 0, want0, 0, want1, j ? D->b : D->w, err);
    }
    se_st_set_close(f);
    return st;
}

se_status se_head_load(const char *dir, int d_model, const char *pooling, int normalize, se_head *h, se_error *err)
{
    memset(h, 0, sizeof *h);
    h->d_model = d_model;
    h->include_prompt = 1;
    se_st_folder f;
    se_status st = se_st_folder_load(dir, &f, err);
    if (st) return st;
    const char *pool_src = "not configured by the model: shardenc's default";
    for (int i = 0; !st && i < f.n; i++) {
        const se_st_module *md = &f.m[i];
        if (md->kind == SE_STM_POOLING) {
            if (h->from_folder) {
                st = se_error_set(err, SE_EUNSUPPORTED, "%s/modules.json: more than one Pooling module", dir);
                break;
            }
            h->from_folder = 1;
            h->n_modes = 0;
            for (int k = 0; k < SE_STP_COUNT; k++)
                if (md->modes >> k & 1) h->modes[h->n_modes++] = k;
            h->include_prompt = md->include_prompt;
        } else if (md->kind == SE_STM_DENSE) {
            st = load_dense(dir, md, &h->dense[h->n_dense], err);
            h->n_dense++;
        } else if (md->kind == SE_STM_NORMALIZE) {
            h->normalize = 1;
        }
    }
    if (h->from_folder) pool_src = "from modules.json";
    h->max_seq_length = f.max_seq_length;
    h->do_lower_case = f.do_lower_case;
    if (!st && !h->from_folder) {
        h->n_modes = 1;
        h->modes[0] = SE_STP_CLS;
        if (h->n_dense)
            st = se_error_set(err, SE_EUNSUPPORTED, "%s/modules.json: Dense modules without a Pooling module", dir);
    }
    if (!st && pooling) {
        st = parse_modes(pooling, h, err);
        pool_src = "from --pooling";
    }
    if (!st && normalize >= 0) h->normalize = normalize;
    /* Widths: pooled = n_modes·d, then each Dense in -> out. */
    int w = h->n_modes * d_model, widest = w;
    for (int i = 0; !st && i < h->n_dense; i++) {
        if (h->dense[i].in != w)
            st = se_error_set(err, SE_ESHAPE,
                              "%s: Dense module %d takes in_features %d, but the pooling (%d mode%s x %d) gives %d%s",
                              dir, i + 1, h->dense[i].in, h->n_modes, h->n_modes > 1 ? "s" : "", d_model, w,
                              pooling ? "; --pooling changed the width the model's Dense layers expect" : "");
        w = h->dense[i].out;
        if (w > widest) widest = w;
    }
    h->d_out = w;
    h->row_w = widest;
    if (!st && !(h->row = malloc(2 * (size_t)widest * sizeof(float))))
        st = se_error_set(err, SE_ENOMEM, "cannot allocate the pooling rows");
    if (!st) {
        modes_str(h, h->pooling_name, sizeof h->pooling_name);
        size_t n = (size_t)snprintf(h->desc, sizeof h->desc, "pooling %s (%s%s)", h->pooling_name, pool_src,
                                    h->include_prompt ? "" : ", prompt tokens excluded");
        for (int i = 0; i < h->n_dense && n < sizeof h->desc; i++)
            n += (size_t)snprintf(h->desc + n, sizeof h->desc - n, ", Dense %d->%d %s", h->dense[i].in,
                                  h->dense[i].out, se_dense_act_name(h->dense[i].act));
        if (n < sizeof h->desc)
            n += (size_t)snprintf(h->desc + n, sizeof h->desc - n, ", normalize %s (%s)", h->normalize ? "on" : "off",
                                  normalize >= 0 ? "from --normalize" : f.found ? "from modules.json" : "default");
        if (n < sizeof h->desc && f.max_seq_length)
            snprintf(h->desc + n, sizeof h->desc - n, ", max_seq_length %d (sentence_bert_config.json)",
                     f.max_seq_length);
    }
    se_st_folder_free(&f);
    if (st) se_head_free(h);
    return st;
}

/* One pooling mode of rows a..b-1 (mask: tokens before a + skip left out). */
static void pool_mode(float *o, const float *hid, int d, int64_t a, int64_t b, int64_t skip, int mode)
{
    int64_t m0 = a + skip; /* first token pooling sees (the mask's first 1) */
    if (m0 > b) m0 = b;
    switch (mode) {
    case SE_STP_CLS:
        memcpy(o, hid + (size_t)a * d, (size_t)d * sizeof(float));
        return;
    case SE_STP_LASTTOKEN:
        memcpy(o, hid + (size_t)(b - 1) * d, (size_t)d * sizeof(float));
        return;
    case SE_STP_MAX:
        for (int i = 0; i < d; i++) {
            float mx = m0 < b ? hid[(size_t)m0 * d + i] : -1e9f; /* all masked: -1e9, as Pooling.forward */
            for (int64_t t = m0 + 1; t < b; t++)
                if (hid[(size_t)t * d + i] > mx) mx = hid[(size_t)t * d + i];
            o[i] = mx;
        }
        return;
    default: {
        int weighted = mode == SE_STP_WEIGHTEDMEAN;
        double wsum = 0;
        for (int64_t t = m0; t < b; t++) wsum += weighted ? (double)(t - a + 1) : 1.0;
        if (wsum < 1e-9) wsum = 1e-9; /* torch.clamp(sum_mask, min=1e-9) */
        double div = mode == SE_STP_MEAN_SQRT_LEN ? sqrt(wsum) : wsum;
        for (int i = 0; i < d; i++) {
            double acc = 0;
            for (int64_t t = m0; t < b; t++) acc += (weighted ? (double)(t - a + 1) : 1.0) * hid[(size_t)t * d + i];
            o[i] = (float)(acc / div);
        }
    }
    }
}

static void dense_act(float *x, int n, se_dense_act a)
{
    for (int i = 0; i < n; i++) {
        double v = x[i];
        switch (a) {
        case SE_DACT_IDENTITY: break;
        case SE_DACT_TANH: v = tanh(v); break;
        case SE_DACT_RELU: v = v > 0 ? v : 0; break;
        case SE_DACT_SIGMOID: v = 1.0 / (1.0 + exp(-v)); break;
        case SE_DACT_GELU: v = 0.5 * v * (1.0 + erf(v / sqrt(2.0))); break; /* torch.nn.GELU() default: erf */
        }
        x[i] = (float)v;
    }
}

void se_head_apply(const se_head *h, float *out, const float *hidden, const int64_t *seq_start, int n_seq,
                   const int32_t *skip, int with_normalize)
{
    int d = h->d_model;
    for (int s = 0; s < n_seq; s++) {
        float *cur = h->n_dense ? h->row : out + (size_t)s * h->d_out, *nxt = h->row + h->row_w;
        int64_t sk = skip && !h->include_prompt ? skip[s] : 0;
        for (int k = 0; k < h->n_modes; k++)
            pool_mode(cur + (size_t)k * d, hidden, d, seq_start[s], seq_start[s + 1], sk, h->modes[k]);
        for (int i = 0; i < h->n_dense; i++) {
            const se_dense *D = &h->dense[i];
            float *dst = i == h->n_dense - 1 ? out + (size_t)s * h->d_out : nxt;
            se_linear(dst, D->out, cur, D->in, D->w, D->in, D->b, 1, D->out, D->in, 0.0f);
            dense_act(dst, D->out, D->act);
            nxt = cur;
            cur = dst;
        }
    }
    if (with_normalize && h->normalize) se_l2_normalize(out, n_seq, h->d_out);
}
