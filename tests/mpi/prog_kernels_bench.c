/* Kernel benchmark: our kernels against OpenBLAS sgemm, measured in the same
 * run so the ratios hold on a busy machine. Not a test; rerun by hand:
 *   OMP_NUM_THREADS=1 build/tests/prog_kernels_bench [reps] [--tiles]
 * Prints, for bert-base shapes (d_model 768, 12 heads × 64, d_ff 3072):
 *   - sgemm GFLOP/s on [4096×768]·[768×768]ᵀ (the reference rate) and the
 *     FFN shapes;
 *   - attention at 8 sequences × 512 and 1 × 4096 (FLOPs 4·n²·d per
 *     sequence: Q·Kᵀ and P·V) as a ratio to the reference, default (AVX-512
 *     tiles) and sgemm paths;
 *   - LayerNorm(+residual) on [4096×768] and bias+GELU on [4096×3072], as a
 *     fraction of the GEMM each follows; bias prefill vs add-after;
 *   - one whole encoder layer built from these kernels (QKV, attention, Wo,
 *     LN, FFN1+GELU, FFN2, LN) at 4096 tokens, FLOPs 24·d² + 4·n·d per token,
 *     as a fraction of the reference sgemm rate.
 * Every figure is a ratio to an sgemm timed just before it in the same rep
 * (best and median over reps), so other load on the machine mostly cancels. */
#include "shardenc/core.h"
#include "shardenc/kernels.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* With one thread the figures use this thread's CPU time, which does not
 * count the time the scheduler gives to other processes on a shared machine;
 * with more threads, wall time. */
static int use_cpu_clock;
static double now(void)
{
    if (use_cpu_clock) {
        struct timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return ts.tv_sec + 1e-9 * ts.tv_nsec;
    }
    return se_time_now();
}

static float *randbuf(size_t n, unsigned *seed, float amp)
{
    float *p = se_alloc(n, sizeof(float));
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        p[i] = amp * ((float)(*seed >> 8) / 16777216.0f - 0.5f);
    }
    return p;
}

#define D 768
#define H 12
#define DH 64
#define DFF 3072
#define NTOK 4096

typedef struct {
    float *x, *qkv, *att, *y, *h;
    float *wqkv, *bqkv, *wo, *bo, *w1, *b1, *w2, *b2, *g1, *be1, *g2, *be2;
    float *ws;
} layer_bufs;

/* One encoder layer (DESIGN.md "layer"), the way the model module will chain
 * the kernels; here only to time them together. */
static void layer(layer_bufs *b, const int64_t *seq_start, int n_seq)
{
    se_linear(b->qkv, 3 * D, b->x, D, b->wqkv, D, b->bqkv, NTOK, 3 * D, D, 0.0f);
    se_attention(b->att, D, b->qkv, 3 * D, b->qkv + D, 3 * D, b->qkv + 2 * D, 3 * D, seq_start, n_seq, H, DH,
                 1.0f / sqrtf((float)DH), b->ws);
    se_linear(b->y, D, b->att, D, b->wo, D, b->bo, NTOK, D, D, 0.0f);
    se_layernorm(b->x, b->x, b->y, b->g1, b->be1, NTOK, D, 1e-12f);
    se_linear(b->h, DFF, b->x, D, b->w1, D, NULL, NTOK, DFF, D, 0.0f);
    se_bias_act(b->h, b->b1, NTOK, DFF, DFF, 0);
    se_linear(b->y, D, b->h, DFF, b->w2, DFF, b->b2, NTOK, D, DFF, 0.0f);
    se_layernorm(b->x, b->x, b->y, b->g2, b->be2, NTOK, D, 1e-12f);
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    if (reps < 1) reps = 1;
    int sweep = argc > 2 && strcmp(argv[2], "--tiles") == 0;
    unsigned seed = 12345;
    use_cpu_clock = se_num_threads() == 1;
    printf("threads %d, blas parallel mode %d (2 = OpenMP), %s\n", se_num_threads(), se_blas_parallel_mode(),
           se_blas_config());

    layer_bufs b;
    b.x = randbuf((size_t)NTOK * D, &seed, 2.0f);
    b.qkv = randbuf((size_t)NTOK * 3 * D, &seed, 2.0f);
    b.att = randbuf((size_t)NTOK * D, &seed, 1.0f);
    b.y = randbuf((size_t)NTOK * D, &seed, 1.0f);
    b.h = randbuf((size_t)NTOK * DFF, &seed, 4.0f);
    b.wqkv = randbuf((size_t)3 * D * D, &seed, 0.1f);
    b.bqkv = randbuf(3 * D, &seed, 0.1f);
    b.wo = randbuf((size_t)D * D, &seed, 0.1f);
    b.bo = randbuf(D, &seed, 0.1f);
    b.w1 = randbuf((size_t)DFF * D, &seed, 0.1f);
    b.b1 = randbuf(DFF, &seed, 0.1f);
    b.w2 = randbuf((size_t)D * DFF, &seed, 0.05f);
    b.b2 = randbuf(D, &seed, 0.1f);
    b.g1 = randbuf(D, &seed, 0.2f);
    b.be1 = randbuf(D, &seed, 0.2f);
    b.g2 = randbuf(D, &seed, 0.2f);
    b.be2 = randbuf(D, &seed, 0.2f);
    b.ws = se_alloc(se_attention_ws_floats(se_num_threads(), DH), sizeof(float));
    float *hsave = se_alloc((size_t)NTOK * DFF, sizeof(float));
    memcpy(hsave, b.h, (size_t)NTOK * DFF * sizeof(float));

    int64_t ss8[9], ss1[2] = {0, NTOK};
    for (int i = 0; i <= 8; i++) ss8[i] = (int64_t)i * 512;

    const float sc = 1.0f / sqrtf((float)DH);
    const double f_ref = 2.0 * NTOK * D * D, f_ffn = 2.0 * NTOK * D * DFF;
    const double f_a512 = 4.0 * 512.0 * 512.0 * D * 8, f_a4096 = 4.0 * 4096.0 * 4096.0 * D;
    const double f_l512 = (double)NTOK * (24.0 * D * D + 4.0 * 512 * D);
    const double f_l4096 = (double)NTOK * (24.0 * D * D + 4.0 * 4096 * D);
    /* Each figure is a ratio to a reference timed right before it, in the same
     * rep, so a busy machine slows both; per rep ratios, best and median. */
    enum { R_REF, R_FFN1, R_FFN2, R_A512, R_A4096, R_PRE, R_AFTER, R_LN, R_GELU, R_L512, R_L4096, NR };
    static const char *names[NR] = {"sgemm [4096x768]x[768x768]^T (reference)", "sgemm FFN1 [4096x768]x[3072x768]^T",
                                    "sgemm FFN2 [4096x3072]x[768x3072]^T", "attention 8 x 512, 12 heads x 64",
                                    "attention 1 x 4096, 12 heads x 64", "linear+bias, prefill (time / no-bias linear)",
                                    "linear+bias, add after (time / no-bias linear)",
                                    "layernorm+res [4096x768] (time / Wo GEMM)",
                                    "bias+GELU [4096x3072] (time / FFN1 GEMM)", "encoder layer seq 512 x 8",
                                    "encoder layer seq 4096 x 1"};
    double *ratio = calloc((size_t)NR * reps, sizeof(double));
    double best_ref_rate = 0;
    for (int r = 0; r < reps; r++) {
        double t, tr, tk;
#define TIME(out, stmt)                                                                                               \
    do {                                                                                                              \
        t = now();                                                                                            \
        stmt;                                                                                                         \
        out = now() - t;                                                                                      \
    } while (0)
#define REF() TIME(tr, se_sgemm(1, NTOK, D, D, 1.0f, b.x, D, b.wo, D, 0.0f, b.y, D))
#define RATE(idx, flops, stmt)                                                                                        \
    do {                                                                                                              \
        REF();                                                                                                        \
        TIME(tk, stmt);                                                                                               \
        ratio[(idx) * reps + r] = ((flops) / tk) / (f_ref / tr);                                                      \
    } while (0)
        REF();
        ratio[R_REF * reps + r] = f_ref / tr * 1e-9; /* GFLOP/s, not a ratio */
        if (ratio[R_REF * reps + r] > best_ref_rate) best_ref_rate = ratio[R_REF * reps + r];
        RATE(R_FFN1, f_ffn, se_linear(b.h, DFF, b.x, D, b.w1, D, NULL, NTOK, DFF, D, 0.0f));
        RATE(R_FFN2, f_ffn, se_linear(b.y, D, b.h, DFF, b.w2, DFF, NULL, NTOK, D, DFF, 0.0f));
        RATE(R_A512, f_a512,
             se_attention(b.att, D, b.qkv, 3 * D, b.qkv + D, 3 * D, b.qkv + 2 * D, 3 * D, ss8, 8, H, DH, sc, b.ws));
        RATE(R_A4096, f_a4096,
             se_attention(b.att, D, b.qkv, 3 * D, b.qkv + D, 3 * D, b.qkv + 2 * D, 3 * D, ss1, 1, H, DH, sc, b.ws));
        TIME(tr, se_linear(b.y, D, b.att, D, b.wo, D, NULL, NTOK, D, D, 0.0f));
        TIME(tk, se_linear(b.y, D, b.att, D, b.wo, D, b.bo, NTOK, D, D, 0.0f));
        ratio[R_PRE * reps + r] = tk / tr;
        TIME(tr, se_linear(b.y, D, b.att, D, b.wo, D, NULL, NTOK, D, D, 0.0f));
        TIME(tk, {
            se_linear(b.y, D, b.att, D, b.wo, D, NULL, NTOK, D, D, 0.0f);
            se_bias_act(b.y, b.bo, NTOK, D, D, -1);
        });
        ratio[R_AFTER * reps + r] = tk / tr;
        TIME(tr, se_linear(b.y, D, b.att, D, b.wo, D, NULL, NTOK, D, D, 0.0f));
        TIME(tk, se_layernorm(b.att, b.x, b.y, b.g1, b.be1, NTOK, D, 1e-12f));
        ratio[R_LN * reps + r] = tk / tr;
        TIME(tr, se_linear(b.h, DFF, b.x, D, b.w1, D, NULL, NTOK, DFF, D, 0.0f));
        memcpy(b.h, hsave, (size_t)NTOK * DFF * sizeof(float)); /* realistic GELU inputs */
        TIME(tk, se_bias_act(b.h, b.b1, NTOK, DFF, DFF, 0));
        ratio[R_GELU * reps + r] = tk / tr;
        RATE(R_L512, f_l512, layer(&b, ss8, 8));
        RATE(R_L4096, f_l4096, layer(&b, ss1, 1));
    }
    printf("clock: %s\n", use_cpu_clock ? "thread CPU time" : "wall");
    printf("%d reps; each line: best and median over reps of the ratio to a reference timed just before it\n", reps);
    printf("%-48s best %7.2f GFLOP/s\n", names[R_REF], best_ref_rate);
    for (int i = 1; i < NR; i++) {
        double *v = ratio + (size_t)i * reps;
        /* sort for the median; "best" is max for rates, min for time ratios */
        for (int x = 1; x < reps; x++)
            for (int y = x; y > 0 && v[y - 1] > v[y]; y--) {
                double tmp = v[y];
                v[y] = v[y - 1];
                v[y - 1] = tmp;
            }
        const int is_time = i == R_PRE || i == R_AFTER || i == R_LN || i == R_GELU;
        printf("%-48s best %.3f  median %.3f %s\n", names[i], is_time ? v[0] : v[reps - 1], v[reps / 2],
               is_time ? "(time ratio)" : "(of sgemm rate)");
    }
    free(ratio);
    { /* the same attention through cblas_sgemm (the path for d_head != 64) */
        double b5 = 0, b4 = 0, t, tr, tk, rr;
        se_attention_set_avx512(0);
        for (int r = 0; r < reps; r++) {
            REF();
            TIME(tk, se_attention(b.att, D, b.qkv, 3 * D, b.qkv + D, 3 * D, b.qkv + 2 * D, 3 * D, ss8, 8, H, DH, sc,
                                  b.ws));
            rr = (f_a512 / tk) / (f_ref / tr);
            b5 = rr > b5 ? rr : b5;
            REF();
            TIME(tk, se_attention(b.att, D, b.qkv, 3 * D, b.qkv + D, 3 * D, b.qkv + 2 * D, 3 * D, ss1, 1, H, DH, sc,
                                  b.ws));
            rr = (f_a4096 / tk) / (f_ref / tr);
            b4 = rr > b4 ? rr : b4;
        }
        se_attention_set_avx512(1);
        printf("%-48s best %.3f (of sgemm rate)\n", "attention 8 x 512, sgemm path", b5);
        printf("%-48s best %.3f (of sgemm rate)\n", "attention 1 x 4096, sgemm path", b4);
    }

    if (sweep) {
        static const int bqs[] = {64, 128, 192, 256}, bks[] = {128, 256, 512, 1024};
        int obq, obk;
        se_attention_get_tiles(&obq, &obk);
        for (size_t i = 0; i < sizeof bqs / sizeof *bqs; i++)
            for (size_t j = 0; j < sizeof bks / sizeof *bks; j++) {
                se_attention_set_tiles(bqs[i], bks[j]);
                double b5 = 0, b4 = 0, t, tr, tk, rr;
                for (int r = 0; r < reps; r++) {
                    REF();
                    TIME(tk, se_attention(b.att, D, b.qkv, 3 * D, b.qkv + D, 3 * D, b.qkv + 2 * D, 3 * D, ss8, 8, H,
                                          DH, sc, b.ws));
                    rr = (f_a512 / tk) / (f_ref / tr);
                    b5 = rr > b5 ? rr : b5;
                    REF();
                    TIME(tk, se_attention(b.att, D, b.qkv, 3 * D, b.qkv + D, 3 * D, b.qkv + 2 * D, 3 * D, ss1, 1, H,
                                          DH, sc, b.ws));
                    rr = (f_a4096 / tk) / (f_ref / tr);
                    b4 = rr > b4 ? rr : b4;
                }
                printf("tiles bq %3d bk %4d: attention 8x512 %.3f, 1x4096 %.3f of sgemm (best)\n", bqs[i], bks[j], b5,
                       b4);
            }
        se_attention_set_tiles(obq, obk);
    }
    printf("peak RSS %.1f MiB\n", se_peak_rss_bytes() / 1048576.0);
    return 0;
}
