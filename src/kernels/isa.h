/* Private to src/kernels: the kernel sets built for several x86-64 ISAs and
 * the table the dispatching wrappers call through. Each set is the same
 * source (kern_body.h) compiled in its own unit under `#pragma GCC target`
 * (kern_generic.c, kern_avx2.c, kern_avx512.c), so the default build needs no
 * -march flag and one binary runs on any x86-64 node: isa.c picks the best set
 * the CPU and OS support, once, by cpuid (DESIGN.md, "GEMM backends and
 * precision"). Only row- and tile-level functions live here: the OpenMP
 * loops stay in the generic units and call one of these per row or tile. */
#ifndef SE_KERNELS_ISA_H
#define SE_KERNELS_ISA_H

#include <stddef.h>
#include <stdint.h>

#include "shardenc/kernels.h"

/* se_act values (include/shardenc/io.h); kernels do not depend on io. */
enum { SE_KACT_NONE = -1, SE_KACT_GELU_ERF = 0, SE_KACT_GELU_TANH = 1, SE_KACT_RELU = 2, SE_KACT_SILU = 3 };

/* Per-thread attention scratch of one tile (see attention.c for the sizes). */
typedef struct {
    float *S, *Qt, *m, *l, *alpha, *mb, *lb;
} se_att_scratch;

typedef struct {
    se_isa isa;
    /* runs `iters` steps of a register-only FMA loop, returns its flops */
    double (*fma_flops)(long iters);
    /* x[j] = act(x[j] + b[j]) over one row of n (b may be NULL) */
    void (*bias_act_row)(float *x, const float *b, int n, int act);
    /* one row of se_layernorm */
    void (*layernorm_row)(float *o, const float *x, const float *r, const float *g, const float *b, int d, float eps);
    void (*softmax_row)(float *x, int n);
    void (*vexp)(float *y, const float *x, size_t n);
    void (*verf)(float *y, const float *x, size_t n);
    /* One attention work item (sequence at base of length n, query rows
     * q0..q0+qn-1, head h): the any-d_head path with cblas_sgemm products and
 * an optional additive per-head distance bias (MPNet's table, ALiBi's
 * slopes; NULL = none),
     * and the register-tiled d_head = 64 path (NULL where the ISA has none). */
    void (*attend_tile)(float *out, int ldo, const float *q, int ldq, const float *k, int ldk, const float *v, int ldv,
                        int64_t base, int n, int q0, int qn, int h, int dh, float scale, int bk,
                        const se_att_bias *bias, se_att_scratch *w);
    void (*attend_tile64)(float *out, int ldo, const float *q, int ldq, const float *k, int ldk, const float *v,
                          int ldv, int64_t base, int n, int q0, int qn, int h, float scale, int bk, se_att_scratch *w);
} se_kern_ops;

extern const se_kern_ops se_kern_generic, se_kern_avx2, se_kern_avx512;

/* The active set (chosen on first use, see se_isa_select). */
const se_kern_ops *se_kern(void);

/* Attention tile bounds shared by attention.c and the tile kernels: LDS_MAX is
 * ATT_BQ_MAX rounded up to 96 (the register tiles' widths 32 and 6 divide it). */
#define SE_ATT_BQ_MAX 256
#define SE_ATT_BK_MAX 1024
#define SE_ATT_LDS_MAX 288

#endif
