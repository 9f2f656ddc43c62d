/* LayerNorm over rows, with the residual add fused in: the OpenMP loop over
 * rows; each row (two double passes, then the scaled output) is done by the
 * kernel set chosen at run time (kern_body.h, k_layernorm_row). */
#include "shardenc/kernels.h"
#include "isa.h"

#include <omp.h>

void se_layernorm(float *out, const float *x, const float *res, const float *gamma, const float *beta, int n_rows,
                  int d, float eps)
{
    if (n_rows <= 0 || d <= 0) return;
    void (*row)(float *, const float *, const float *, const float *, const float *, int, float) =
        se_kern()->layernorm_row;
#pragma omp parallel for schedule(static) if ((long)n_rows * d > (1L << 14) && !omp_in_parallel())
    for (int i = 0; i < n_rows; i++)
        row(out + (size_t)i * d, x + (size_t)i * d, res ? res + (size_t)i * d : NULL, gamma, beta, d, eps);
}
