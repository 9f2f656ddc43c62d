/* Activations, vector exp/erf and row softmax. The loops call the branch-free
 * helpers of vmath.h under `omp simd`, so gcc emits AVX-512 code for them; a
 * scalar libm erff over the FFN's [n_tok, d_ff] block would cost ~30% of the
 * GEMM it follows. */
#include "shardenc/kernels.h"
#include "vmath.h"

#include <math.h>
#include <omp.h>

/* se_act values (include/shardenc/io.h); kernels do not depend on io. */
enum { ACT_NONE = -1, ACT_GELU_ERF = 0, ACT_GELU_TANH = 1, ACT_RELU = 2 };

#define SQRT1_2F 0.70710678118654752440f
/* √(2/π) */
#define SQRT_2_PI 0.79788456080286535588f

/* GELU(x) = 0.5·x·(1 + erf(x/√2)) */
static inline float gelu_erf(float x) { return 0.5f * x * (1.0f + se_erff_fast(x * SQRT1_2F)); }

/* GELU_tanh(x) = 0.5·x·(1 + tanh(u)), u = √(2/π)(x + 0.044715x³).
 * Since 0.5(1 + tanh u) = 1/(1 + e^(-2u)), this is x/(1 + e^(-2u)): one exp
 * and one division, no cancellation near u = 0, and for u → -∞ the exp goes to
 * +inf and the result to -0 (the true value underflows too). */
static inline float gelu_tanh(float x)
{
    float u = SQRT_2_PI * (x + 0.044715f * x * x * x);
    return x / (1.0f + se_expf_fast(-2.0f * u));
}

float se_gelu_erf_ref(float x)
{
    double xd = x;
    return (float)(0.5 * xd * (1.0 + erf(xd / sqrt(2.0))));
}

float se_gelu_tanh_ref(float x)
{
    double xd = x;
    return (float)(0.5 * xd * (1.0 + tanh(sqrt(2.0 / M_PI) * (xd + 0.044715 * xd * xd * xd))));
}

void se_vexp(float *y, const float *x, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) y[i] = se_expf_fast(x[i]);
}

void se_verf(float *y, const float *x, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) y[i] = se_erff_fast(x[i]);
}

/* One row: x += bias, then act, in one pass over memory. The act switch is
 * outside the loop so every loop body is a straight vectorisable line. */
static void bias_act_row(float *restrict x, const float *restrict b, int n, int act)
{
    switch (act) {
    case ACT_GELU_ERF:
        if (b) {
#pragma omp simd
            for (int j = 0; j < n; j++) x[j] = gelu_erf(x[j] + b[j]);
        } else {
#pragma omp simd
            for (int j = 0; j < n; j++) x[j] = gelu_erf(x[j]);
        }
        break;
    case ACT_GELU_TANH:
        if (b) {
#pragma omp simd
            for (int j = 0; j < n; j++) x[j] = gelu_tanh(x[j] + b[j]);
        } else {
#pragma omp simd
            for (int j = 0; j < n; j++) x[j] = gelu_tanh(x[j]);
        }
        break;
    case ACT_RELU:
        if (b) {
#pragma omp simd
            for (int j = 0; j < n; j++) {
                float v = x[j] + b[j];
                x[j] = v > 0.0f ? v : 0.0f;
            }
        } else {
#pragma omp simd
            for (int j = 0; j < n; j++) x[j] = x[j] > 0.0f ? x[j] : 0.0f;
        }
        break;
    default: /* bias only */
        if (b) {
#pragma omp simd
            for (int j = 0; j < n; j++) x[j] += b[j];
        }
        break;
    }
}

void se_bias_act(float *x, const float *bias, int rows, int cols, int ld, int act)
{
    if (rows <= 0 || cols <= 0) return;
    if (!bias && (act < ACT_GELU_ERF || act > ACT_RELU)) return;
    const long work = (long)rows * cols;
#pragma omp parallel for schedule(static) if (work > (1L << 15) && !omp_in_parallel())
    for (int i = 0; i < rows; i++) bias_act_row(x + (size_t)i * ld, bias, cols, act);
}

/* softmax(x)_j = exp(x_j - max x) / Σ_k exp(x_k - max x), per row. */
void se_softmax_rows(float *x, int rows, int n)
{
    if (rows <= 0 || n <= 0) return;
#pragma omp parallel for schedule(static) if ((long)rows * n > (1L << 15) && !omp_in_parallel())
    for (int i = 0; i < rows; i++) {
        float *r = x + (size_t)i * n;
        float m = r[0];
#pragma omp simd reduction(max : m)
        for (int j = 0; j < n; j++) m = r[j] > m ? r[j] : m;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int j = 0; j < n; j++) {
            r[j] = se_expf_neg(r[j] - m);
            s += r[j];
        }
        const float inv = 1.0f / s;
#pragma omp simd
        for (int j = 0; j < n; j++) r[j] *= inv;
    }
}
