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

/* Per-thread scratch: S [bq, bk], then m, l, alpha [bq] each; rounded to a
 * 64-byte multiple so each thread's block stays aligned (and on its own
 * cache lines) when ws is. */
static size_t per_thread_floats(void)
{
    size_t f = (size_t)ATT_BQ_MAX * ATT_BK_MAX + 3 * (size_t)ATT_BQ_MAX;
    return (f + 15) & ~(size_t)15;
}

size_t se_attention_ws_floats(int max_threads, int d_head)
{
    (void)d_head;
    if (max_threads < 1) max_threads = 1;
    return (size_t)max_threads * per_thread_floats();
}

/* Work item (s, h, query rows q0 .. q0+qn-1 of sequence s). */
static void attend_tile(float *out, int ldo, const float *q, int ldq, const float *k, int ldk, const float *v,
                        int ldv, int64_t base, int n, int q0, int qn, int h, int dh, float scale, int bk,
                        float *S, float *m, float *l, float *alpha)
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
        float *m = S + (size_t)ATT_BQ_MAX * ATT_BK_MAX;
        float *l = m + ATT_BQ_MAX;
        float *alpha = l + ATT_BQ_MAX;
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
                attend_tile(out, ldo, q, ldq, k, ldk, v, ldv, seq_start[s], (int)n, (int)q0, qn, h, d_head, scale,
                            bk, S, m, l, alpha);
            }
        }
    }
}
