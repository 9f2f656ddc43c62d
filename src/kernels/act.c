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
    if (!bias && (act < SE_KACT_GELU_ERF || act > SE_KACT_SILU)) return;
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

/* GeGLU / SwiGLU (Shazeer 2020, "GLU Variants Improve Transformer"):
 * act(x·Wa) ⊙ (x·Wb), left in the first nf columns for the down projection. */
void se_gated_act(float *h, int rows, int nf, int ld, int act_half, int act)
{
    if (rows <= 0 || nf <= 0) return;
    se_bias_act(h + (act_half ? nf : 0), NULL, rows, nf, ld, act);
    const long work = (long)rows * nf;
#pragma omp parallel for schedule(static) if (work > (1L << 15) && !omp_in_parallel())
    for (int i = 0; i < rows; i++) {
        float *a = h + (size_t)i * ld, *b = a + nf;
#pragma omp simd
        for (int c = 0; c < nf; c++) a[c] *= b[c];
    }
}

/* RoPE (Su et al., RoFormer §3.4) on the first `rot` dims of each head, the
 * rest passed through (NomicBERT's rotary_emb_fraction < 1), with h = rot/2:
 *   halves (rotate_half, GPT-NeoX):  x'[i] = x[i]·cos - x[i+h]·sin,  x'[i+h] = x[i+h]·cos + x[i]·sin
 *   interleaved (GPT-J):             x'[2i] = x[2i]·cos - x[2i+1]·sin, x'[2i+1] = x[2i+1]·cos + x[2i]·sin
 * (flash-attn's apply_rotary_emb, which NomicBERT's modeling code copies), the
 * product in float on tables rounded once from double. */
void se_rope_apply_ex(float *x, int ld, const int64_t *seq_start, int n_seq, int n_heads, int d_head, int rot,
                      int interleaved, const float *cs, const float *sn, int per_token)
{
    const int half = rot / 2, step = interleaved ? 2 : 1, off = interleaved ? 1 : half;
    const int64_t n_tok = seq_start[n_seq];
#pragma omp parallel for schedule(static) if (n_tok * n_heads * d_head > (1L << 15) && !omp_in_parallel())
    for (int64_t t = 0; t < n_tok; t++) {
        int64_t p = t;
        if (!per_token) {
            int lo = 0, hi = n_seq - 1; /* the sequence holding t: last s with seq_start[s] <= t */
            while (lo < hi) {
                const int mid = lo + (hi - lo + 1) / 2;
                if (seq_start[mid] <= t)
                    lo = mid;
                else
                    hi = mid - 1;
            }
            p = t - seq_start[lo];
        }
        const float *c = cs + (size_t)p * half, *s = sn + (size_t)p * half;
        for (int hd = 0; hd < n_heads; hd++) {
            float *a = x + (size_t)t * ld + (size_t)hd * d_head, *b = a + off;
#pragma omp simd
            for (int i = 0; i < half; i++) {
                const float x1 = a[i * step], x2 = b[i * step];
                a[i * step] = x1 * c[i] - x2 * s[i];
                b[i * step] = x2 * c[i] + x1 * s[i];
            }
        }
    }
}

void se_rope_apply(float *x, int ld, const int64_t *seq_start, int n_seq, int n_heads, int d_head, const float *cs,
                   const float *sn)
{
    se_rope_apply_ex(x, ld, seq_start, n_seq, n_heads, d_head, d_head, 0, cs, sn, 0);
}
