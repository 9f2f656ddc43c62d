/* Activations, vector exp/erf and row softmax: the OpenMP loops over rows,
 * each row done by the kernel set chosen at run time (kern_body.h, whose
 * branch-free vmath.h loops become AVX2 or AVX-512 code; a scalar libm erff
 * over the FFN's [n_tok, d_ff] block would cost ~30% of the GEMM it follows). */
#include "shardenc/kernels.h"
#include "isa.h"

#include <math.h>
#include <omp.h>

#define SQRT_2_PI 0.79788456080286535588 /* √(2/π) */

float se_gelu_erf_ref(float x)
{
    double xd = x;
    return (float)(0.5 * xd * (1.0 + erf(xd / sqrt(2.0))));
}

float se_gelu_tanh_ref(float x)
{
    double xd = x;
    return (float)(0.5 * xd * (1.0 + tanh(SQRT_2_PI * (xd + 0.044715 * xd * xd * xd))));
}

void se_vexp(float *y, const float *x, size_t n) { se_kern()->vexp(y, x, n); }

void se_verf(float *y, const float *x, size_t n) { se_kern()->verf(y, x, n); }

void se_bias_act(float *x, const float *bias, int rows, int cols, int ld, int act)
{
    if (rows <= 0 || cols <= 0) return;
    if (!bias && (act < SE_KACT_GELU_ERF || act > SE_KACT_RELU)) return;
    const long work = (long)rows * cols;
    void (*row)(float *, const float *, int, int) = se_kern()->bias_act_row;
#pragma omp parallel for schedule(static) if (work > (1L << 15) && !omp_in_parallel())
    for (int i = 0; i < rows; i++) row(x + (size_t)i * ld, bias, cols, act);
}

/* softmax(x)_j = exp(x_j - max x) / Σ_k exp(x_k - max x), per row. */
void se_softmax_rows(float *x, int rows, int n)
{
    if (rows <= 0 || n <= 0) return;
    void (*row)(float *, int) = se_kern()->softmax_row;
#pragma omp parallel for schedule(static) if ((long)rows * n > (1L << 15) && !omp_in_parallel())
    for (int i = 0; i < rows; i++) row(x + (size_t)i * n, n);
}
