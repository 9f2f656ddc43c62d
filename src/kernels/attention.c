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
 * The tile kernels live in kern_body.h, compiled once per ISA; this file
 * schedules the work items. The sgemm calls run inside an OpenMP parallel region, where OpenBLAS's
 * OpenMP build runs single-threaded (it checks omp_in_parallel()), so there is
 * no oversubscription; with one thread there is no region and OpenBLAS sees
 * omp_get_max_threads() == 1. */
#include "shardenc/kernels.h"
#include "isa.h"

#include <omp.h>

/* The tiles in use (tuned in tests/mpi/prog_kernels_bench.c); their upper
 * bounds SE_ATT_BQ_MAX / SE_ATT_BK_MAX (isa.h) size the workspace. */
static int g_bq = 256;
static int g_bk = 512;

void se_attention_set_tiles(int bq, int bk)
{
    g_bq = bq < 1 ? 1 : bq > SE_ATT_BQ_MAX ? SE_ATT_BQ_MAX : bq;
    g_bk = bk < 1 ? 1 : bk > SE_ATT_BK_MAX ? SE_ATT_BK_MAX : bk;
}

void se_attention_get_tiles(int *bq, int *bk)
{
    if (bq) *bq = g_bq;
    if (bk) *bk = g_bk;
}

/* Per-thread scratch, in floats: S [BK_MAX, LDS_MAX] (either layout),
 * Qt [64, LDS_MAX], then five vectors of LDS_MAX (m, l, alpha, block max,
 * block sum). Each part is a multiple of 16 floats so it stays 64-byte
 * aligned when ws is. */
#define WS_S ((size_t)SE_ATT_BK_MAX * SE_ATT_LDS_MAX)
#define WS_QT ((size_t)64 * SE_ATT_LDS_MAX)
static size_t per_thread_floats(void) { return WS_S + WS_QT + 5 * (size_t)SE_ATT_LDS_MAX; }

size_t se_attention_ws_floats(int max_threads, int d_head)
{
    (void)d_head;
    if (max_threads < 1) max_threads = 1;
    return (size_t)max_threads * per_thread_floats();
}

/* The register-tiled d_head = 64 path, where the kernel set has one. */
static int use_tiled = 1;

void se_attention_set_avx512(int on) { use_tiled = on; }

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
    const int bk = g_bk;
    const int H = n_heads;
    /* Few items for the threads (small batches, TP's few local heads): halve
     * the query tile until there are >= 2 items a thread (or the tile is 32
     * rows), so every thread gets work. A row's result does not depend on the
     * tile it sits in, but the split follows the thread count, so
     * --deterministic keeps the fixed tile. */
    int bq = g_bq;
    const int64_t want = 2 * (int64_t)omp_get_max_threads();
    while (!se_gemm_deterministic() && bq > 32 && (seq_start[n_seq] / bq + n_seq) * H < want) bq /= 2;

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
    const se_kern_ops *K = se_kern();
    const int tiled = d_head == 64 && use_tiled && K->attend_tile64 && !bias; /* the register tiles take no bias */
#pragma omp parallel
    {
        se_att_scratch w;
        w.S = ws + (size_t)omp_get_thread_num() * ptf;
        w.Qt = w.S + WS_S;
        w.m = w.Qt + WS_QT;
        w.l = w.m + SE_ATT_LDS_MAX;
        w.alpha = w.l + SE_ATT_LDS_MAX;
        w.mb = w.alpha + SE_ATT_LDS_MAX;
        w.lb = w.mb + SE_ATT_LDS_MAX;
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
                if (tiled)
                    K->attend_tile64(out, ldo, q, ldq, k, ldk, v, ldv, seq_start[s], (int)n, (int)q0, qn, h, scale,
                                     bk, &w);
                else
                    K->attend_tile(out, ldo, q, ldq, k, ldk, v, ldv, seq_start[s], (int)n, (int)q0, qn, h, d_head,
                                   scale, bk, bias, &w);
            }
        }
    }
}
