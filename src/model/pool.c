/* Pooling of last hidden states into one row per sequence. */
#include <math.h>
#include <string.h>

#include "shardenc/model.h"

se_status se_pooling_parse(const char *s, se_pooling *p, se_error *err)
{
    if (!strcmp(s, "cls")) *p = SE_POOL_CLS;
    else if (!strcmp(s, "mean")) *p = SE_POOL_MEAN;
    else if (!strcmp(s, "max")) *p = SE_POOL_MAX;
    else if (!strcmp(s, "none")) *p = SE_POOL_NONE;
    else return se_error_set(err, SE_EINVAL, "--pooling '%s' is not one of cls, mean, max, none", s);
    return SE_OK;
}

const char *se_pooling_name(se_pooling p)
{
    static const char *const n[] = {"cls", "mean", "max", "none"};
    return (unsigned)p < 4 ? n[p] : "?";
}

void se_l2_normalize(float *rows, int n_rows, int d)
{
    for (int r = 0; r < n_rows; r++) {
        float *x = rows + (size_t)r * d;
        double ss = 0;
        for (int i = 0; i < d; i++) ss += (double)x[i] * x[i];
        if (ss > 0) {
            float inv = (float)(1.0 / sqrt(ss));
            for (int i = 0; i < d; i++) x[i] *= inv;
        }
    }
}

void se_pool(float *out, const float *hidden, int d, const int64_t *seq_start, int n_seq, se_pooling p, int normalize)
{
    for (int s = 0; s < n_seq; s++) {
        float *o = out + (size_t)s * d;
        int64_t a = seq_start[s], b = seq_start[s + 1];
        const float *h0 = hidden + (size_t)a * d;
        switch (p) {
        case SE_POOL_CLS:
        case SE_POOL_NONE:
            memcpy(o, h0, (size_t)d * sizeof(float));
            break;
        case SE_POOL_MEAN: {
            /* Mask-aware by construction: packed sequences hold no padding. Sum
             * in double so long documents do not lose the low bits. Rows are
             * walked in order (contiguous reads, one pass over the sequence per
             * chunk of POOL_CHUNK columns held in a double accumulator on the
             * stack); each column still sums its tokens in token order, so the
             * result is the same as a column-by-column walk, bit for bit. */
            enum { POOL_CHUNK = 512 };
            double acc[POOL_CHUNK];
            for (int c0 = 0; c0 < d; c0 += POOL_CHUNK) {
                const int nc = d - c0 < POOL_CHUNK ? d - c0 : POOL_CHUNK;
                for (int i = 0; i < nc; i++) acc[i] = 0;
                for (int64_t t = a; t < b; t++) {
                    const float *h = hidden + (size_t)t * d + c0;
                    for (int i = 0; i < nc; i++) acc[i] += h[i];
                }
                for (int i = 0; i < nc; i++) o[c0 + i] = (float)(acc[i] / (double)(b - a));
            }
            break;
        }
        case SE_POOL_MAX:
            memcpy(o, h0, (size_t)d * sizeof(float));
            for (int64_t t = a + 1; t < b; t++) {
                const float *h = hidden + (size_t)t * d;
                for (int i = 0; i < d; i++)
                    if (h[i] > o[i]) o[i] = h[i];
            }
            break;
        }
    }
    if (normalize) se_l2_normalize(out, n_seq, d);
}
