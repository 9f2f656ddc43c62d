/* Flash attention on CPU over packed variable-length sequences.
 *
 * For one (sequence, head, query tile) work item, with Q the tile's queries:
 *   for each key block j:   S   = scale·log2(e) · Q·K_jᵀ             (sgemm)
 *                           m'  = max(m, rowmax S)                  running max
 *                           P   = 2^(S - m')                        (= exp(scale·QKᵀ - max))
 *                           l   = l·2^(m - m') + rowsum P           running sum
 *                           O   = O·2^(m - m') + P·V_j              (sgemm, beta 1)
 *   finally                 O  /= l
 * Working in log2 units (the factor rides on the sgemm's alpha for free)
 * makes the exponential a plain 2^x: the cheaper range reduction is ~15% of
 * the softmax's cost, which is ~10% of the whole.
 * which equals softmax(Q·Kᵀ·scale)·V without ever holding more than a
 * [tile, block] piece of the n×n score matrix. O is accumulated directly in
 * `out` (its rows and head columns belong to this item only).
 *
 * The sgemm calls run inside an OpenMP parallel region, where OpenBLAS's
 * OpenMP build runs single-threaded (it checks omp_in_parallel()), so there is
 * no oversubscription; with one thread there is no region and OpenBLAS sees
 * omp_get_max_threads() == 1. */
#include "shardenc/kernels.h"
#include "vmath.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>

/* Upper bounds of the tiles, which size the workspace, and the tiles in use
 * (tuned in tests/mpi/prog_kernels_bench.c). */
#define ATT_BQ_MAX 256
#define ATT_BK_MAX 1024
static int g_bq = 256;
static int g_bk = 512;

void se_attention_set_tiles(int bq, int bk)
{
    g_bq = bq < 1 ? 1 : bq > ATT_BQ_MAX ? ATT_BQ_MAX : bq;
    g_bk = bk < 1 ? 1 : bk > ATT_BK_MAX ? ATT_BK_MAX : bk;
}

void se_attention_get_tiles(int *bq, int *bk)
{
    if (bq) *bq = g_bq;
    if (bk) *bk = g_bk;
}

/* Per-thread scratch, in floats: S [ATT_BK_MAX, LDS_MAX] (either layout),
 * Qt [64, LDS_MAX], then five vectors of LDS_MAX (m, l, alpha, block max,
 * block sum); LDS_MAX = ATT_BQ_MAX rounded up to 96 (the AVX-512 path's tile
 * widths 32 and 6 both divide it). Each part is a multiple of 16 floats so it
 * stays 64-byte aligned when ws is. */
#define LDS_MAX 288
#define WS_S ((size_t)ATT_BK_MAX * LDS_MAX)
#define WS_QT ((size_t)64 * LDS_MAX)
static size_t per_thread_floats(void) { return WS_S + WS_QT + 5 * (size_t)LDS_MAX; }

size_t se_attention_ws_floats(int max_threads, int d_head)
{
    (void)d_head;
    if (max_threads < 1) max_threads = 1;
    return (size_t)max_threads * per_thread_floats();
}

/* Work item (s, h, query rows q0 .. q0+qn-1 of sequence s). */
static void attend_tile(float *out, int ldo, const float *q, int ldq, const float *k, int ldk, const float *v,
                        int ldv, int64_t base, int n, int q0, int qn, int h, int dh, float scale, int bk,
                        const se_att_bias *bias, float *S, float *m, float *l, float *alpha)
{
    const float scale2 = scale * 1.44269504088896341f; /* scale·log2(e) */
    const float *Q = q + (size_t)(base + q0) * ldq + (size_t)h * dh;
    float *O = out + (size_t)(base + q0) * ldo + (size_t)h * dh;
    for (int k0 = 0; k0 < n; k0 += bk) {
        const int kn = n - k0 < bk ? n - k0 : bk;
        const float *K = k + (size_t)(base + k0) * ldk + (size_t)h * dh;
        const float *V = v + (size_t)(base + k0) * ldv + (size_t)h * dh;
        /* S = scale·log2(e) · Q·K_jᵀ  (the sgemm's alpha carries it for free) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, qn, kn, dh, scale2, Q, ldq, K, ldk, 0.0f, S, kn);
        for (int i = 0; i < qn; i++) {
            float *srow = S + (size_t)i * kn;
            if (bias) {
                /* + log2(e)·bias[h, (k0 + j) - (q0 + i)]: the bias in the same log2 units */
                const float *brow = bias->bias + (size_t)h * bias->ld + bias->center + k0 - (q0 + i);
#pragma omp simd
                for (int j = 0; j < kn; j++) srow[j] += 1.44269504088896341f * brow[j];
            }
            float mx = srow[0];
#pragma omp simd reduction(max : mx)
            for (int j = 0; j < kn; j++) mx = srow[j] > mx ? srow[j] : mx;
            const float mnew = (k0 == 0 || mx > m[i]) ? mx : m[i];
            float sum = 0.0f;
            /* P = 2^(S - m') and its row sum, one pass */
#pragma omp simd reduction(+ : sum)
            for (int j = 0; j < kn; j++) {
                float p = se_exp2f_neg(srow[j] - mnew);
                srow[j] = p;
                sum += p;
            }
            if (k0 == 0) {
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
        if (k0 > 0) {
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
                    k0 == 0 ? 0.0f : 1.0f, O, ldo);
    }
    /* O /= l */
    for (int i = 0; i < qn; i++) {
        const float inv = 1.0f / l[i];
        float *o = O + (size_t)i * ldo;
#pragma omp simd
        for (int c = 0; c < dh; c++) o[c] *= inv;
    }
}

#if defined(__AVX512F__)
#define SE_ATT_AVX512 1
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

static int use_avx512 = 1;

void se_attention_set_avx512(int on) { use_avx512 = on; }

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

static void attend_tile_avx512(float *out, int ldo, const float *q, int ldq, const float *k, int ldk,
                               const float *v, int ldv, int64_t base, int n, int q0, int qn, int h, float scale,
                               int bk, float *St, float *Qt, float *m, float *l, float *alpha, float *mb,
                               float *lb)
{
    const int dh = 64;
    const float scale2 = scale * 1.44269504088896341f; /* scale·log2(e) */
    const float *Q = q + (size_t)(base + q0) * ldq + (size_t)h * dh;
    float *O = out + (size_t)(base + q0) * ldo + (size_t)h * dh;
    const int nc = (qn + 31) & ~31; /* query columns computed: whole 32-wide tiles */
    const int lds = nc;             /* row stride of St and Qt; <= LDS_MAX */
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
        /* St = scale·log2(e) · K_j·Qᵀ, and the block max per query */
        /* keys outer: the tile's 12 key rows stay in L1 while all query
         * slices pass */
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
#else
#define SE_ATT_AVX512 0
void se_attention_set_avx512(int on) { (void)on; }
#endif

static inline int len_class(int64_t n)
{
    int c = 0;
    while (n > 1) {
        n >>= 1;
        c++;
    }
    return c;
}

void se_attention(float *out, int ldo, const float *q, int ldq, const float *k, int ldk, const float *v, int ldv,
                  const int64_t *seq_start, int n_seq, int n_heads, int d_head, float scale, float *ws)
{
    se_attention_biased(out, ldo, q, ldq, k, ldk, v, ldv, seq_start, n_seq, n_heads, d_head, scale, NULL, ws);
}

void se_attention_biased(float *out, int ldo, const float *q, int ldq, const float *k, int ldk, const float *v, int ldv,
                         const int64_t *seq_start, int n_seq, int n_heads, int d_head, float scale,
                         const se_att_bias *bias, float *ws)
{
    if (n_seq <= 0 || n_heads <= 0 || d_head <= 0) return;
    const int bq = g_bq, bk = g_bk;
    const int H = n_heads;

    /* Work items are (query-tile slot, head). Slots are numbered without a
     * table: sequence s owns slots [slot0(s), slot0(s+1)) with
     * slot0(s) = floor(seq_start[s]/bq) + s, which is at least ceil(n_s/bq)
     * slots (a few are empty and skipped). A slot's sequence is found by
     * binary search on slot0, which is strictly increasing. */
    const int64_t n_slots = seq_start[n_seq] / bq + n_seq;
    const int64_t n_items = n_slots * H;

    /* Largest first, for load balance when long and short sequences share a
     * batch: one dynamic loop per length class floor(log2 n), from the longest
     * class down, with nowait so a thread moves on without a barrier. */
    int cmin = 64, cmax = -1;
    for (int s = 0; s < n_seq; s++) {
        const int64_t n = seq_start[s + 1] - seq_start[s];
        if (n <= 0) continue;
        const int c = len_class(n);
        if (c < cmin) cmin = c;
        if (c > cmax) cmax = c;
    }
    if (cmax < 0) return;

    const size_t ptf = per_thread_floats();
#pragma omp parallel
    {
        float *S = ws + (size_t)omp_get_thread_num() * ptf;
        float *Qt = S + WS_S;
        float *m = Qt + WS_QT;
        float *l = m + LDS_MAX;
        float *alpha = l + LDS_MAX;
        float *mb = alpha + LDS_MAX;
        float *lb = mb + LDS_MAX;
        for (int c = cmax; c >= cmin; c--) {
#pragma omp for schedule(dynamic, 1) nowait
            for (int64_t it = 0; it < n_items; it++) {
                const int64_t slot = it / H;
                const int h = (int)(it % H);
                int lo = 0, hi = n_seq - 1; /* last s with slot0(s) <= slot */
                while (lo < hi) {
                    const int mid = lo + (hi - lo + 1) / 2;
                    if (seq_start[mid] / bq + mid <= slot)
                        lo = mid;
                    else
                        hi = mid - 1;
                }
                const int s = lo;
                const int64_t n = seq_start[s + 1] - seq_start[s];
                if (n <= 0 || len_class(n) != c) continue;
                const int64_t q0 = (slot - (seq_start[s] / bq + s)) * bq;
                if (q0 >= n) continue;
                const int qn = n - q0 < bq ? (int)(n - q0) : bq;
#if SE_ATT_AVX512
                if (d_head == 64 && use_avx512 && !bias)
                    attend_tile_avx512(out, ldo, q, ldq, k, ldk, v, ldv, seq_start[s], (int)n, (int)q0, qn, h, scale,
                                       bk, S, Qt, m, l, alpha, mb, lb);
                else
#endif
                    attend_tile(out, ldo, q, ldq, k, ldk, v, ldv, seq_start[s], (int)n, (int)q0, qn, h, d_head, scale,
                                bk, bias, S, m, l, alpha);
            }
        }
    }
}
