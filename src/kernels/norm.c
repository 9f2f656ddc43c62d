/* LayerNorm over rows, with the residual add fused in. */
#include "shardenc/kernels.h"

#include <math.h>
#include <omp.h>

/* out = (z - mean) / sqrt(var + eps) · gamma + beta, z = x (+ res), with
 * mean = Σz/d and the biased var = Σ(z - mean)²/d. Two passes over the row in
 * double (the row of 768..4096 floats is in L1): the centred second pass avoids
 * the cancellation of E[z²] - mean², the double sums keep long rows exact to
 * fp32. The last pass reads z again, so out may alias x or res: each element
 * is read before the same index is written, and rows are independent. */
void se_layernorm(float *out, const float *x, const float *res, const float *gamma, const float *beta, int n_rows,
                  int d, float eps)
{
    if (n_rows <= 0 || d <= 0) return;
#pragma omp parallel for schedule(static) if ((long)n_rows * d > (1L << 14) && !omp_in_parallel())
    for (int i = 0; i < n_rows; i++) {
        const float *xr = x + (size_t)i * d;
        const float *rr = res ? res + (size_t)i * d : NULL;
        float *o = out + (size_t)i * d;
        double s = 0.0;
        if (rr) {
#pragma omp simd reduction(+ : s)
            for (int j = 0; j < d; j++) s += (double)xr[j] + (double)rr[j];
        } else {
#pragma omp simd reduction(+ : s)
            for (int j = 0; j < d; j++) s += (double)xr[j];
        }
        const double mean = s / d;
        double v = 0.0;
        if (rr) {
#pragma omp simd reduction(+ : v)
            for (int j = 0; j < d; j++) {
                double c = (double)xr[j] + (double)rr[j] - mean;
                v += c * c;
            }
        } else {
#pragma omp simd reduction(+ : v)
            for (int j = 0; j < d; j++) {
                double c = (double)xr[j] - mean;
                v += c * c;
            }
        }
        const double rstd = 1.0 / sqrt(v / d + (double)eps);
        /* The last pass stays in double too: (z - mean) with z and mean
         * rounded to float would lose ulp(mean)/std of accuracy when the row's
         * mean is large against its spread. */
        if (rr) {
#pragma omp simd
            for (int j = 0; j < d; j++)
                o[j] = (float)(((double)xr[j] + (double)rr[j] - mean) * rstd) * gamma[j] + beta[j];
        } else {
#pragma omp simd
            for (int j = 0; j < d; j++) o[j] = (float)(((double)xr[j] - mean) * rstd) * gamma[j] + beta[j];
        }
    }
}
