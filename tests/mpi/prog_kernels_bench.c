/* Kernel benchmark: our kernels against OpenBLAS sgemm, measured in the same
 * run so the ratios hold on a busy machine. Not a test; rerun by hand:
 *   OMP_NUM_THREADS=1 build/tests/prog_kernels_bench [reps] [--tiles]
 * Prints, for bert-base shapes (d_model 768, 12 heads × 64, d_ff 3072):
 *   - sgemm GFLOP/s on [4096×768]·[768×768]ᵀ (the reference rate) and the
 *     FFN shapes;
 *   - attention GFLOP/s at 8 sequences × 512 and 1 × 4096 (FLOPs 4·n²·d per
 *     sequence: Q·Kᵀ and P·V), and its ratio to the reference;
 *   - LayerNorm(+residual) on [4096×768] and bias+GELU on [4096×3072], as a
 *     fraction of the GEMM each follows; bias prefill vs add-after;
 *   - one whole encoder layer built from these kernels (QKV, attention, Wo,
 *     LN, FFN1+GELU, FFN2, LN) at 4096 tokens, FLOPs 24·d² + 4·n·d per token,
 *     as a fraction of the reference sgemm rate.
 * Every figure is the best of `reps` runs. */
#include "shardenc/core.h"
#include "shardenc/kernels.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

    double best_ref = 1e30, best_ffn1 = 1e30, best_ffn2 = 1e30, best_a512 = 1e30, best_a4096 = 1e30;
    double best_ln = 1e30, best_gelu = 1e30, best_pre = 1e30, best_after = 1e30, best_nobias = 1e30;
    double best_l512 = 1e30, best_l4096 = 1e30;
    const float sc = 1.0f / sqrtf((float)DH);
    for (int r = 0; r < reps; r++) {
        double t;
#define TIME(best, stmt)                                                                                              \
    do {                                                                                                              \
        t = se_time_now();                                                                                            \
        stmt;                                                                                                         \
        t = se_time_now() - t;                                                                                        \
        if (t < best) best = t;                                                                                       \
    } while (0)
        TIME(best_ref, se_sgemm(1, NTOK, D, D, 1.0f, b.x, D, b.wo, D, 0.0f, b.y, D));
        TIME(best_nobias, se_linear(b.y, D, b.att, D, b.wo, D, NULL, NTOK, D, D, 0.0f));
        TIME(best_pre, se_linear(b.y, D, b.att, D, b.wo, D, b.bo, NTOK, D, D, 0.0f));
        TIME(best_after, {
            se_linear(b.y, D, b.att, D, b.wo, D, NULL, NTOK, D, D, 0.0f);
            se_bias_act(b.y, b.bo, NTOK, D, D, -1);
        });
        TIME(best_ln, se_layernorm(b.att, b.x, b.y, b.g1, b.be1, NTOK, D, 1e-12f));
        TIME(best_ffn1, se_linear(b.h, DFF, b.x, D, b.w1, D, NULL, NTOK, DFF, D, 0.0f));
        memcpy(b.h, hsave, (size_t)NTOK * DFF * sizeof(float)); /* realistic GELU inputs */
        TIME(best_gelu, se_bias_act(b.h, b.b1, NTOK, DFF, DFF, 0));
        TIME(best_ffn2, se_linear(b.y, D, b.h, DFF, b.w2, DFF, NULL, NTOK, D, DFF, 0.0f));
        TIME(best_a512, se_attention(b.att, D, b.qkv, 3 * D, b.qkv + D, 3 * D, b.qkv + 2 * D, 3 * D, ss8, 8, H, DH,
                                     sc, b.ws));
        TIME(best_a4096, se_attention(b.att, D, b.qkv, 3 * D, b.qkv + D, 3 * D, b.qkv + 2 * D, 3 * D, ss1, 1, H,
                                      DH, sc, b.ws));
        /* keep the layer's activations bounded: restart from fresh x */
        TIME(best_l512, layer(&b, ss8, 8));
        TIME(best_l4096, layer(&b, ss1, 1));
    }
    const double g_ref = 2.0 * NTOK * D * D / best_ref * 1e-9;
    const double g_ffn1 = 2.0 * NTOK * D * DFF / best_ffn1 * 1e-9;
    const double g_ffn2 = 2.0 * NTOK * D * DFF / best_ffn2 * 1e-9;
    const double g_a512 = 4.0 * 512.0 * 512.0 * D * 8 / best_a512 * 1e-9;
    const double g_a4096 = 4.0 * 4096.0 * 4096.0 * D / best_a4096 * 1e-9;
    printf("sgemm [4096x768]x[768x768]^T   %8.2f GFLOP/s  (reference)\n", g_ref);
    printf("sgemm FFN1 [4096x768]x[3072x768]^T %6.2f GFLOP/s  (%.3f of ref)\n", g_ffn1, g_ffn1 / g_ref);
    printf("sgemm FFN2 [4096x3072]x[768x3072]^T %5.2f GFLOP/s  (%.3f of ref)\n", g_ffn2, g_ffn2 / g_ref);
    printf("attention 8 x 512, 12x64        %8.2f GFLOP/s  (%.3f of ref)\n", g_a512, g_a512 / g_ref);
    printf("attention 1 x 4096, 12x64       %8.2f GFLOP/s  (%.3f of ref)\n", g_a4096, g_a4096 / g_ref);
    printf("linear 4096x768x768: no bias %.2f ms, bias prefill %.2f ms (+%.1f%%), bias after %.2f ms (+%.1f%%)\n",
           best_nobias * 1e3, best_pre * 1e3, 100 * (best_pre / best_nobias - 1), best_after * 1e3,
           100 * (best_after / best_nobias - 1));
    printf("layernorm+res [4096x768] %.2f ms = %.1f%% of the Wo GEMM it follows\n", best_ln * 1e3,
           100 * best_ln / best_nobias);
    printf("bias+GELU [4096x3072]    %.2f ms = %.1f%% of the FFN1 GEMM it follows\n", best_gelu * 1e3,
           100 * best_gelu / best_ffn1);
    const double fl512 = (double)NTOK * (24.0 * D * D + 4.0 * 512 * D);
    const double fl4096 = (double)NTOK * (24.0 * D * D + 4.0 * 4096 * D);
    printf("layer seq 512 x 8:  %.1f ms, %.2f GFLOP/s = %.3f of sgemm ref\n", best_l512 * 1e3,
           fl512 / best_l512 * 1e-9, fl512 / best_l512 * 1e-9 / g_ref);
    printf("layer seq 4096 x 1: %.1f ms, %.2f GFLOP/s = %.3f of sgemm ref\n", best_l4096 * 1e3,
           fl4096 / best_l4096 * 1e-9, fl4096 / best_l4096 * 1e-9 / g_ref);

    if (sweep) {
        static const int bqs[] = {32, 64, 128, 192, 256}, bks[] = {128, 256, 512, 1024};
        int obq, obk;
        se_attention_get_tiles(&obq, &obk);
        for (size_t i = 0; i < sizeof bqs / sizeof *bqs; i++)
            for (size_t j = 0; j < sizeof bks / sizeof *bks; j++) {
                se_attention_set_tiles(bqs[i], bks[j]);
                double b5 = 1e30, b4 = 1e30, rf = 1e30, t;
                for (int r = 0; r < reps; r++) {
                    TIME(rf, se_sgemm(1, NTOK, D, D, 1.0f, b.x, D, b.wo, D, 0.0f, b.y, D));
                    TIME(b5, se_attention(b.att, D, b.qkv, 3 * D, b.qkv + D, 3 * D, b.qkv + 2 * D, 3 * D, ss8, 8, H,
                                          DH, sc, b.ws));
                    TIME(b4, se_attention(b.att, D, b.qkv, 3 * D, b.qkv + D, 3 * D, b.qkv + 2 * D, 3 * D, ss1, 1, H,
                                          DH, sc, b.ws));
                }
                const double gr = 2.0 * NTOK * D * D / rf * 1e-9;
                printf("tiles bq %3d bk %4d: attn 8x512 %.3f, 1x4096 %.3f of sgemm (%.1f GFLOP/s)\n", bqs[i], bks[j],
                       4.0 * 512.0 * 512.0 * D * 8 / b5 * 1e-9 / gr, 4.0 * 4096.0 * 4096.0 * D / b4 * 1e-9 / gr, gr);
            }
        se_attention_set_tiles(obq, obk);
    }
    printf("peak RSS %.1f MiB\n", se_peak_rss_bytes() / 1048576.0);
    return 0;
}
