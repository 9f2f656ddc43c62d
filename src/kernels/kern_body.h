/* Private to src/kernels: the row and tile kernels, compiled once per ISA.
 * Included by kern_generic.c, kern_avx2.c and kern_avx512.c after their
 * `#pragma GCC target`, with KERN_OPS naming the table to define and
 * KERN_ISA its se_isa; KERN_AVX512 adds the register-tiled attention path.
 * Every function here is static: the units share no symbol but their table. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "isa.h"
#include "vmath.h"

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

/* SiLU(x) = x·sigmoid(x) = x/(1 + e^(-x)); for x → -∞ the exp overflows to
 * +inf and the result is -0, as the true value underflows. */
static inline float silu(float x) { return x / (1.0f + se_expf_fast(-x)); }

static void k_vexp(float *y, const float *x, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) y[i] = se_expf_fast(x[i]);
}

static void k_verf(float *y, const float *x, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) y[i] = se_erff_fast(x[i]);
}

/* One row: x += bias, then act, in one pass over memory. The act switch is
 * outside the loop so every loop body is a straight vectorisable line. */
static void k_bias_act_row(float *restrict x, const float *restrict b, int n, int act)
{
    switch (act) {
    case SE_KACT_GELU_ERF:
        if (b) {
#pragma omp simd
            for (int j = 0; j < n; j++) x[j] = gelu_erf(x[j] + b[j]);
        } else {
#pragma omp simd
            for (int j = 0; j < n; j++) x[j] = gelu_erf(x[j]);
        }
        break;
    case SE_KACT_GELU_TANH:
        if (b) {
#pragma omp simd
            for (int j = 0; j < n; j++) x[j] = gelu_tanh(x[j] + b[j]);
        } else {
#pragma omp simd
            for (int j = 0; j < n; j++) x[j] = gelu_tanh(x[j]);
        }
        break;
    case SE_KACT_RELU:
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
    case SE_KACT_SILU:
        if (b) {
#pragma omp simd
            for (int j = 0; j < n; j++) x[j] = silu(x[j] + b[j]);
        } else {
#pragma omp simd
            for (int j = 0; j < n; j++) x[j] = silu(x[j]);
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

/* out = (z - mean) / sqrt(var + eps) · gamma + beta, z = x (+ res), with
 * mean = Σz/d and the biased var = Σ(z - mean)²/d. Two passes over the row in
 * double (the row of 768..4096 floats is in L1): the centred second pass avoids
 * the cancellation of E[z²] - mean², the double sums keep long rows exact to
 * fp32. The last pass reads z again, so o may alias x or r: each element is
 * read before the same index is written. */
static void k_layernorm_row(float *o, const float *xr, const float *rr, const float *gamma, const float *beta, int d,
                            float eps)
{
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
    /* The last pass stays in double too: (z - mean) with z and mean rounded
     * to float would lose ulp(mean)/std of accuracy when the row's mean is
     * large against its spread. */
    if (rr) {
#pragma omp simd
        for (int j = 0; j < d; j++)
            o[j] = (float)(((double)xr[j] + (double)rr[j] - mean) * rstd) * gamma[j] + beta[j];
    } else {
#pragma omp simd
        for (int j = 0; j < d; j++) o[j] = (float)(((double)xr[j] - mean) * rstd) * gamma[j] + beta[j];
    }
}

/* softmax(x)_j = exp(x_j - max x) / Σ_k exp(x_k - max x) */
static void k_softmax_row(float *r, int n)
{
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

/* Flash attention, one work item (attention.c has the derivation): for each
 * key block j, S = scale·log2(e)·Q·K_jᵀ, m' = max(m, rowmax S),
 * P = 2^(S - m'), l = l·2^(m - m') + rowsum P, O = O·2^(m - m') + P·V_j;
 * finally O /= l. Products by cblas_sgemm (OpenBLAS dispatches its own ISA). */
static void k_attend_tile(float *out, int ldo, const float *q, int ldq, const float *k, int ldk, const float *v,
                          int ldv, int64_t base, int n, int q0, int qn, int h, int dh, float scale, int bk,
                          const se_att_bias *bias, se_att_scratch *w)
{
    float *S = w->S, *m = w->m, *l = w->l, *alpha = w->alpha;
    const float scale2 = scale * 1.44269504088896341f; /* scale·log2(e) */
    const float *Q = q + (size_t)(base + q0) * ldq + (size_t)h * dh;
    float *O = out + (size_t)(base + q0) * ldo + (size_t)h * dh;
    /* Sliding window: only keys [q0 - win, q0 + qn - 1 + win] can matter to the
     * tile; inside a block, keys outside a row's own window score -inf. A row
     * that has seen no key yet keeps m = -inf, l = 0 and P = 0, so the first
     * block that reaches it starts it exactly like the first block of all. */
    const int win = bias ? bias->window : 0;
    const int kbeg = win > 0 && q0 - win > 0 ? q0 - win : 0;
    const int kend = win > 0 && q0 + qn + win < n ? q0 + qn + win : n;
    for (int k0 = kbeg; k0 < kend; k0 += bk) {
        const int kn = kend - k0 < bk ? kend - k0 : bk;
        const int first = k0 == kbeg;
        const float *K = k + (size_t)(base + k0) * ldk + (size_t)h * dh;
        const float *V = v + (size_t)(base + k0) * ldv + (size_t)h * dh;
        /* S = scale·log2(e) · Q·K_jᵀ  (the sgemm's alpha carries it for free) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, qn, kn, dh, scale2, Q, ldq, K, ldk, 0.0f, S, kn);
        for (int i = 0; i < qn; i++) {
            float *srow = S + (size_t)i * kn;
            if (win > 0) {
                const int lo = q0 + i - win - k0, hi = q0 + i + win - k0; /* allowed j in [lo, hi] */
                for (int j = 0; j < kn && j < lo; j++) srow[j] = -INFINITY;
                for (int j = hi + 1 > 0 ? hi + 1 : 0; j < kn; j++) srow[j] = -INFINITY;
            }
            if (bias && bias->bias) {
                /* + log2(e)·bias[h, (k0 + j) - (q0 + i)]: the bias in the same log2 units */
                const float *brow = bias->bias + (size_t)h * bias->ld + bias->center + k0 - (q0 + i);
#pragma omp simd
                for (int j = 0; j < kn; j++) srow[j] += 1.44269504088896341f * brow[j];
            }
            float mx = srow[0];
            if (bias && bias->slopes) {
                /* ALiBi: - log2(e)·m_h·|(k0 + j) - (q0 + i)|, from the slope and the
                 * distance (exact in float below 2^24 tokens), in the pass that
                 * takes the row max; JinaBertEncoder's alibi = -slopes·|memory -
                 * context|, symmetric for the encoder */
                const float ms = -1.44269504088896341f * bias->slopes[h];
                const int r0 = k0 - (q0 + i);
                mx = -INFINITY;
#pragma omp simd reduction(max : mx)
                for (int j = 0; j < kn; j++) {
                    const float sj = srow[j] + ms * fabsf((float)(r0 + j));
                    srow[j] = sj;
                    mx = sj > mx ? sj : mx;
                }
            } else {
#pragma omp simd reduction(max : mx)
                for (int j = 0; j < kn; j++) mx = srow[j] > mx ? srow[j] : mx;
            }
            const float mnew = (first || mx > m[i]) ? mx : m[i];
            float sum = 0.0f;
            if (mnew == -INFINITY) { /* windowed row with no key here yet */
                for (int j = 0; j < kn; j++) srow[j] = 0.0f;
                m[i] = mnew;
                if (first) l[i] = 0.0f;
                alpha[i] = 1.0f;
                continue;
            }
            /* P = 2^(S - m') and its row sum, one pass */
#pragma omp simd reduction(+ : sum)
            for (int j = 0; j < kn; j++) {
                float p = srow[j] == -INFINITY ? 0.0f : se_exp2f_neg(srow[j] - mnew);
                srow[j] = p;
                sum += p;
            }
            if (first || m[i] == -INFINITY) {
                l[i] = sum;
                alpha[i] = 1.0f;
            } else {
                /* rescale factor of everything accumulated so far: 2^(m - m') */
                const float a = se_exp2f_neg(m[i] - mnew);
                l[i] = l[i] * a + sum;
                alpha[i] = a;
            }
            m[i] = mnew;
        }
        if (!first) {
            for (int i = 0; i < qn; i++) {
                const float a = alpha[i];
                if (a == 1.0f) continue;
                float *o = O + (size_t)i * ldo;
#pragma omp simd
                for (int c = 0; c < dh; c++) o[c] *= a;
            }
        }
        /* O = O·alpha + P·V_j  (first block overwrites: beta 0) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, qn, dh, kn, 1.0f, S, kn, V, ldv,
                    first ? 0.0f : 1.0f, O, ldo);
    }
    /* O /= l */
    for (int i = 0; i < qn; i++) {
        const float inv = 1.0f / l[i];
        float *o = O + (size_t)i * ldo;
#pragma omp simd
        for (int c = 0; c < dh; c++) o[c] *= inv;
    }
}

#if KERN_AVX512
#include <immintrin.h>

/* The same work item with hand-blocked AVX-512 products for d_head = 64,
 * the BERT head size. OpenBLAS reaches ~85% of its large-GEMM rate on these
 * shapes (inner dimension 64, a new call per block, repacking each time);
 * these register-tiled loops need no packing at all:
 *  - Q·Kᵀ is computed transposed, St[j][i] (keys × queries), vectorised over
 *    16 queries from Qt = Q tileᵀ (transposed once per item, reused for every
 *    key block) with K[j][e] broadcast straight from the q/k/v buffer; the
 *    per-query block max is taken in registers as St is stored.
 *  - the softmax then runs down the columns of St (still vectorised over
 *    queries), and P·V broadcasts P[i][j] = St[j][i] against the V row j,
 *    which is contiguous (64 floats = 4 vectors), accumulating straight into
 *    out with the rescale by 2^(m - m') fused into the load of O. */
#define QK_J 12 /* keys per Q·Kᵀ register tile: 12 × 2 vectors of queries */
#define PV_I 6  /* queries per P·V register tile: 6 × 4 vectors of d_head */

static inline void qk_tile(float *St, int lds, const float *Qt, const float *K, int ldk, int j0, int jn, int i0,
                           float scale2, float *mb)
{
    __m512 acc0[QK_J], acc1[QK_J];
    const float *kr[QK_J];
#pragma GCC unroll 12
    for (int jj = 0; jj < QK_J; jj++) {
        /* rows past the block's end reuse its last row; they are not stored */
        kr[jj] = K + (size_t)(j0 + (jj < jn ? jj : jn - 1)) * ldk;
        acc0[jj] = _mm512_setzero_ps();
        acc1[jj] = _mm512_setzero_ps();
    }
    for (int e = 0; e < 64; e++) {
        const __m512 a0 = _mm512_loadu_ps(Qt + (size_t)e * lds + i0);
        const __m512 a1 = _mm512_loadu_ps(Qt + (size_t)e * lds + i0 + 16);
#pragma GCC unroll 12
        for (int jj = 0; jj < QK_J; jj++) {
            const __m512 b = _mm512_set1_ps(kr[jj][e]);
            acc0[jj] = _mm512_fmadd_ps(a0, b, acc0[jj]);
            acc1[jj] = _mm512_fmadd_ps(a1, b, acc1[jj]);
        }
    }
    const __m512 sc = _mm512_set1_ps(scale2);
    __m512 m0 = _mm512_loadu_ps(mb + i0), m1 = _mm512_loadu_ps(mb + i0 + 16);
#pragma GCC unroll 12
    for (int jj = 0; jj < QK_J; jj++) {
        if (jj >= jn) break;
        const __m512 x0 = _mm512_mul_ps(acc0[jj], sc), x1 = _mm512_mul_ps(acc1[jj], sc);
        _mm512_storeu_ps(St + (size_t)(j0 + jj) * lds + i0, x0);
        _mm512_storeu_ps(St + (size_t)(j0 + jj) * lds + i0 + 16, x1);
        m0 = _mm512_max_ps(m0, x0);
        m1 = _mm512_max_ps(m1, x1);
    }
    _mm512_storeu_ps(mb + i0, m0);
    _mm512_storeu_ps(mb + i0 + 16, m1);
}

/* O[i0 .. i0+in-1][0..63] = O·alpha (or 0 if first) + Σ_j P[i][j]·V[j] */
static inline void pv_tile(float *O, int ldo, const float *St, int lds, const float *V, int ldv, int kn, int i0,
                           int in, const float *alpha, int first)
{
    __m512 acc[PV_I][4];
    const float *pp[PV_I];
#pragma GCC unroll 6
    for (int ii = 0; ii < PV_I; ii++) {
        const int i = i0 + (ii < in ? ii : in - 1); /* extra rows recompute the last one, not stored */
        pp[ii] = St + i;
        if (first || ii >= in) {
            for (int c = 0; c < 4; c++) acc[ii][c] = _mm512_setzero_ps();
        } else {
            const __m512 a = _mm512_set1_ps(alpha[i]);
            for (int c = 0; c < 4; c++) acc[ii][c] = _mm512_mul_ps(_mm512_loadu_ps(O + (size_t)i * ldo + 16 * c), a);
        }
    }
    for (int j = 0; j < kn; j++) {
        const float *vr = V + (size_t)j * ldv;
        const __m512 v0 = _mm512_loadu_ps(vr), v1 = _mm512_loadu_ps(vr + 16);
        const __m512 v2 = _mm512_loadu_ps(vr + 32), v3 = _mm512_loadu_ps(vr + 48);
        const size_t off = (size_t)j * lds;
#pragma GCC unroll 6
        for (int ii = 0; ii < PV_I; ii++) {
            const __m512 p = _mm512_set1_ps(pp[ii][off]);
            acc[ii][0] = _mm512_fmadd_ps(p, v0, acc[ii][0]);
            acc[ii][1] = _mm512_fmadd_ps(p, v1, acc[ii][1]);
            acc[ii][2] = _mm512_fmadd_ps(p, v2, acc[ii][2]);
            acc[ii][3] = _mm512_fmadd_ps(p, v3, acc[ii][3]);
        }
    }
#pragma GCC unroll 6
    for (int ii = 0; ii < PV_I; ii++) {
        if (ii >= in) break;
        for (int c = 0; c < 4; c++) _mm512_storeu_ps(O + (size_t)(i0 + ii) * ldo + 16 * c, acc[ii][c]);
    }
}

static void k_attend_tile64(float *out, int ldo, const float *q, int ldq, const float *k, int ldk, const float *v,
                            int ldv, int64_t base, int n, int q0, int qn, int h, float scale, int bk, se_att_scratch *w)
{
    float *St = w->S, *Qt = w->Qt, *m = w->m, *l = w->l, *alpha = w->alpha, *mb = w->mb, *lb = w->lb;
    const int dh = 64;
    const float scale2 = scale * 1.44269504088896341f; /* scale·log2(e) */
    const float *Q = q + (size_t)(base + q0) * ldq + (size_t)h * dh;
    float *O = out + (size_t)(base + q0) * ldo + (size_t)h * dh;
    const int nc = (qn + 31) & ~31; /* query columns computed: whole 32-wide tiles */
    const int lds = nc;             /* row stride of St and Qt; <= SE_ATT_LDS_MAX */
    /* Qt = Q tileᵀ, zero past qn so the padded columns stay finite */
    for (int e = 0; e < dh; e++) {
        float *qt = Qt + (size_t)e * lds;
        for (int i = 0; i < qn; i++) qt[i] = Q[(size_t)i * ldq + e];
        for (int i = qn; i < nc; i++) qt[i] = 0.0f;
    }
    for (int k0 = 0; k0 < n; k0 += bk) {
        const int kn = n - k0 < bk ? n - k0 : bk;
        const int first = k0 == 0;
        const float *K = k + (size_t)(base + k0) * ldk + (size_t)h * dh;
        const float *V = v + (size_t)(base + k0) * ldv + (size_t)h * dh;
        for (int i = 0; i < nc; i++) mb[i] = -INFINITY;
        /* St = scale·log2(e) · K_j·Qᵀ, and the block max per query; keys
         * outer: the tile's 12 key rows stay in L1 while all query slices pass */
        for (int j0 = 0; j0 < kn; j0 += QK_J)
            for (int i0 = 0; i0 < nc; i0 += 32)
                qk_tile(St, lds, Qt, K, ldk, j0, kn - j0 < QK_J ? kn - j0 : QK_J, i0, scale2, mb);
        /* m' = max(m, block max); alpha = 2^(m - m') */
#pragma omp simd
        for (int i = 0; i < nc; i++) {
            const float mn = first || mb[i] > m[i] ? mb[i] : m[i];
            alpha[i] = first ? 1.0f : se_exp2f_neg(m[i] - mn);
            m[i] = mn;
            lb[i] = 0.0f;
        }
        /* P = 2^(S - m'), down the columns, with the per-query sums */
        for (int j = 0; j < kn; j++) {
            float *row = St + (size_t)j * lds;
#pragma omp simd
            for (int i = 0; i < nc; i++) {
                const float p = se_exp2f_neg(row[i] - m[i]);
                row[i] = p;
                lb[i] += p;
            }
        }
#pragma omp simd
        for (int i = 0; i < nc; i++) l[i] = first ? lb[i] : l[i] * alpha[i] + lb[i];
        /* O = O·alpha + P·V_j */
        for (int i0 = 0; i0 < qn; i0 += PV_I)
            pv_tile(O, ldo, St, lds, V, ldv, kn, i0, qn - i0 < PV_I ? qn - i0 : PV_I, alpha, first);
    }
    /* O /= l */
    for (int i = 0; i < qn; i++) {
        const float inv = 1.0f / l[i];
        float *o = O + (size_t)i * ldo;
#pragma omp simd
        for (int c = 0; c < dh; c++) o[c] *= inv;
    }
}
#define KERN_TILE64 k_attend_tile64
#else
#define KERN_TILE64 NULL
#endif

/* The core's multiply-add peak: FMA_ACC independent accumulators, each
 * acc = acc·m + a, so every step is one vector FMA (AVX2/AVX-512 units: the
 * contraction of -ffp-contract=fast; the generic unit gets a multiply and an
 * add, which is its peak) and nothing leaves the registers. 12 chains cover
 * a 4-cycle FMA latency on two ports with room to spare; m < 1 and a > 0
 * keep the values at a fixed point, far from overflow or denormals. */
#define FMA_ACC 12
typedef float fma_vec __attribute__((vector_size(KERN_VEC_BYTES)));
static double k_fma_flops(long iters)
{
    fma_vec acc[FMA_ACC], m, a;
    for (int i = 0; i < FMA_ACC; i++)
        for (int j = 0; j < (int)(KERN_VEC_BYTES / 4); j++) acc[i][j] = (float)(i + j);
    for (int j = 0; j < (int)(KERN_VEC_BYTES / 4); j++) m[j] = 0.999999f, a[j] = 1e-6f;
    for (long it = 0; it < iters; it++) {
#pragma GCC unroll 12
        for (int i = 0; i < FMA_ACC; i++) acc[i] = acc[i] * m + a;
        __asm__ volatile("" : "+x"(m)); /* keep the loop from being folded */
    }
    float sink = 0;
    for (int i = 0; i < FMA_ACC; i++)
        for (int j = 0; j < (int)(KERN_VEC_BYTES / 4); j++) sink += acc[i][j];
    __asm__ volatile("" ::"x"(sink));
    return 2.0 * FMA_ACC * (KERN_VEC_BYTES / 4) * (double)iters;
}

const se_kern_ops KERN_OPS = {
    .fma_flops = k_fma_flops,
    .isa = KERN_ISA,
    .bias_act_row = k_bias_act_row,
    .layernorm_row = k_layernorm_row,
    .softmax_row = k_softmax_row,
    .vexp = k_vexp,
    .verf = k_verf,
    .attend_tile = k_attend_tile,
    .attend_tile64 = KERN_TILE64,
};
