/* GEMM backends for the products with weights (DESIGN.md, "GEMM backends and
 * precision"): OpenBLAS (its OpenMP build) and oneDNN 2.x (Debian's
 * libdnnl-dev, OpenMP runtime: the same libgomp pool as our loops). One
 * backend per process, chosen before weights are packed.
 *
 * oneDNN: one matmul primitive per weight, created at pack time with
 *   dst[M,N] = act(src[M,K] · wei[K,N] + bias[1,N])
 * M and the row strides are run-time dimensions (batches vary), K and N are
 * fixed, and the weights' memory format is `any`: the library picks its
 * layout (blocked for its AVX-512/AMX brgemm kernels, plain for its AVX2
 * sgemm) and the nn.Linear [N,K] tensor is reordered into it once, here; when
 * the layout it asks for is our own ([K,N] with strides {1,K}, "ba"), the
 * weights are used in place with no copy. Bias and activation (GELU erf/tanh,
 * ReLU) are fused as the primitive's bias and eltwise post-op.
 * OpenBLAS: W is used in place ([N,K] is already what RowMajor NoTrans ×
 * Trans reads, DESIGN.md), bias folded into C before the sgemm, activation in
 * one pass after (se_bias_act): the exact arithmetic of se_linear.
 *
 * Precision bf16 (se_gemm_set_precision): the handle keeps the weight in
 * bfloat16 only. oneDNN with a bf16 matmul for the CPU (it needs avx512_core
 * at least; AVX512-BF16/AMX run it natively): the primitive takes bf16 src
 * and weights, f32 bias and dst, and accumulates in f32; the activations are
 * rounded to bf16 into a scratch first (se_gemm_reserve). Elsewhere (oneDNN
 * 2.6 answers `unimplemented` on AVX2-only CPUs, checked at pack time; and
 * OpenBLAS has no bf16 GEMM) each call widens the bf16 weight, exactly, into
 * one process-wide fp32 scratch and runs the fp32 product on it: the memory
 * saving holds, the speed is fp32's less the widening. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isa.h"

#ifdef SE_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#endif

struct se_weight {
    const float *W; /* [N, K], the caller's (fp32), else NULL */
    uint16_t *W16;  /* bf16, owned (precision bf16 outside the native path): [N, K], or the oneDNN
                     * primitive's own fp32 layout element for element */
    size_t n16;     /* elements of W16 */
    int N, K, with_bias, act;
#ifdef SE_HAVE_ONEDNN
    dnnl_primitive_t prim;
    dnnl_memory_t wmem, bmem; /* weights in the primitive's layout; bias handle set per call */
    int src16;                /* the primitive reads bf16 src (bf16-native) */
    void *packed;             /* our copy when the layout differs from W's, else NULL */
    size_t packed_bytes;
#endif
};

static int g_backend = -1; /* se_gemm_backend, -1 until chosen */

static const char *const backend_names[] = {"openblas", "onednn"};

const char *se_gemm_name(se_gemm_backend b) { return (unsigned)b < 2 ? backend_names[b] : "?"; }

int se_gemm_available(se_gemm_backend b)
{
#ifdef SE_HAVE_ONEDNN
    return b == SE_GEMM_OPENBLAS || b == SE_GEMM_ONEDNN;
#else
    return b == SE_GEMM_OPENBLAS;
#endif
}

/* `auto`, by rule (README "GEMM backends"): oneDNN where the CPU has
 * AVX-512, since there its brgemm kernels run on prepacked weights and its
 * ISA dispatch reaches AVX-512/AMX whatever OPENBLAS_CORETYPE pins OpenBLAS
 * to; OpenBLAS on AVX2-only CPUs, where oneDNN 2.6 has no packed-weight
 * kernel (plain jit sgemm) and measured no faster (README). */
static int g_det;

static se_gemm_backend auto_choice(void)
{
    if (g_det) return SE_GEMM_OPENBLAS; /* the backend with the fixed-block mode */
    if (se_gemm_available(SE_GEMM_ONEDNN) && se_isa_supported(SE_ISA_AVX512)) return SE_GEMM_ONEDNN;
    return SE_GEMM_OPENBLAS;
}

se_status se_gemm_select(const char *name, se_error *err)
{
    se_gemm_backend b;
    if (!name || !*name || !strcmp(name, "auto")) {
        b = auto_choice();
    } else if (!strcmp(name, "openblas")) {
        b = SE_GEMM_OPENBLAS;
    } else if (!strcmp(name, "onednn")) {
        b = SE_GEMM_ONEDNN;
        if (g_det)
            return se_error_set(err, SE_EINVAL,
                                "--deterministic needs --gemm openblas (or auto): oneDNN's products are not split "
                                "in fixed blocks");
        if (!se_gemm_available(b))
            return se_error_set(err, SE_EUNSUPPORTED,
                                "--gemm onednn: this shardenc was built without oneDNN (install libdnnl-dev and "
                                "rebuild)");
    } else {
        return se_error_set(err, SE_EINVAL, "--gemm '%s' is not one of auto, openblas, onednn", name);
    }
    g_backend = (int)b;
    return SE_OK;
}

/* Until se_gemm_select is called (the CLI's --gemm), SHARDENC_GEMM picks the
 * backend: a library user or a test can switch without an option. */
se_gemm_backend se_gemm_current(void)
{
    if (g_backend < 0) {
        se_error err;
        if (se_gemm_select(getenv("SHARDENC_GEMM"), &err)) {
            se_log(SE_LOG_WARN, "SHARDENC_GEMM: %s; using '%s'", err.msg, se_gemm_name(auto_choice()));
            g_backend = (int)auto_choice();
        }
    }
    return (se_gemm_backend)g_backend;
}

/* ---- precision ---- */
static int g_prec = -1;    /* se_precision, -1 until chosen */
static int g_native = -1;  /* bf16: 1 oneDNN bf16 matmul, 0 widened to fp32, -1 nothing packed yet */
static float *g_wide;      /* fp32 scratch a bf16 weight is widened into, max N·K */
static size_t g_wide_cap;  /* floats */
static uint16_t *g_x16;    /* bf16-native: the activations rounded to bf16, max M·K */
static size_t g_x16_cap;   /* elements */
static float *g_xr;        /* bf16-weights with inputs rounded (se_gemm_set_bf16_round_inputs): M·K */
static size_t g_xr_cap;    /* floats */
static int g_round_in;     /* round the activations to bf16 on the bf16-weights path too */
static int g_maxk;         /* largest K of the bf16 weights */

void se_gemm_set_bf16_round_inputs(int on) { g_round_in = on; }

const char *se_precision_name(se_precision p) { return p == SE_PREC_BF16 ? "bf16" : p == SE_PREC_FP32 ? "fp32" : "?"; }

se_status se_gemm_set_precision(const char *name, se_error *err)
{
    if (!name || !*name || !strcmp(name, "fp32")) {
        g_prec = SE_PREC_FP32;
    } else if (!strcmp(name, "bf16")) {
        g_prec = SE_PREC_BF16;
    } else {
        return se_error_set(err, SE_EINVAL, "--precision '%s' is not one of fp32, bf16", name);
    }
    return SE_OK;
}

se_precision se_gemm_precision(void)
{
    if (g_prec < 0) {
        se_error err;
        if (se_gemm_set_precision(getenv("SHARDENC_PRECISION"), &err)) {
            se_log(SE_LOG_WARN, "SHARDENC_PRECISION: %s; using fp32", err.msg);
            g_prec = SE_PREC_FP32;
        }
    }
    return (se_precision)g_prec;
}

const char *se_gemm_precision_path(void)
{
    if (se_gemm_precision() == SE_PREC_FP32) return "fp32";
    return g_native < 0 ? "bf16" : g_native ? "bf16-native" : "bf16-weights";
}

size_t se_gemm_scratch_bytes(void)
{
    return (g_wide_cap + g_xr_cap) * sizeof(float) + g_x16_cap * sizeof(uint16_t);
}

/* Grows a process-wide scratch (load time or se_gemm_reserve: never per layer). */
static se_status grow(void **buf, size_t *cap, size_t need, size_t elem, se_error *err)
{
    if (need <= *cap) return SE_OK;
    void *p = se_alloc(need, elem);
    if (!p) return se_error_set(err, SE_ENOMEM, "cannot allocate %.1f MiB of GEMM scratch", (double)need * elem / (1 << 20));
    se_free(*buf);
    *buf = p;
    *cap = need;
    return SE_OK;
}

se_status se_gemm_reserve(int64_t max_rows, se_error *err)
{
    const size_t n = (size_t)(max_rows > 0 ? max_rows : 0) * (size_t)g_maxk;
    if (g_native == 1) return grow((void **)&g_x16, &g_x16_cap, n, sizeof(uint16_t), err);
    if (g_native == 0 && g_round_in) return grow((void **)&g_xr, &g_xr_cap, n, sizeof(float), err);
    return SE_OK;
}

/* dst[i] = W16[i] widened (exact: bf16 is the top half of an f32). */
static void widen(float *dst, const uint16_t *src, size_t n)
{
#pragma omp parallel for simd schedule(static) if (n > (1u << 16))
    for (size_t i = 0; i < n; i++) dst[i] = se_bf16_to_f32(src[i]);
}

/* w->W16 = src[0..n) rounded to bf16 (RNE), and the widening scratch sized for it. */
static se_status make_w16(se_weight *w, const float *src, size_t n, se_error *err)
{
    g_native = 0;
    w->n16 = n;
    w->W16 = se_alloc(n ? n : 1, sizeof(uint16_t));
    if (!w->W16) return se_error_set(err, SE_ENOMEM, "cannot allocate %zu bytes of bf16 weights", n * 2);
    for (size_t i = 0; i < n; i++) w->W16[i] = se_f32_to_bf16(src[i]);
    return grow((void **)&g_wide, &g_wide_cap, n, sizeof(float), err);
}

#ifdef SE_HAVE_ONEDNN
static dnnl_engine_t g_eng;
static dnnl_stream_t g_strm;

static se_status dnnl_check(dnnl_status_t s, const char *what, se_error *err)
{
    if (s == dnnl_success) return SE_OK;
    return se_error_set(err, s == dnnl_out_of_memory ? SE_ENOMEM : SE_EUNSUPPORTED, "oneDNN: %s failed (status %d)",
                        what, (int)s);
}

static se_status dnnl_init(se_error *err)
{
    if (g_eng) return SE_OK;
    se_status st = dnnl_check(dnnl_engine_create(&g_eng, dnnl_cpu, 0), "engine_create", err);
    if (!st) st = dnnl_check(dnnl_stream_create(&g_strm, g_eng, dnnl_stream_default_flags), "stream_create", err);
    return st;
}

/* Memory objects for the activations, cached by role (0 src, 1 dst: one
 * call may use the same shape for both) and shape: every layer of a forward
 * runs the same few shapes, so a new batch shape creates ~4 small objects
 * once and the per-layer path only swaps data handles. Called from one thread
 * (never inside a parallel region, DESIGN.md). */
#define MCACHE 8
typedef struct {
    int64_t rows, cols, ld;
    dnnl_data_type_t dt;
    dnnl_memory_t mem;
    unsigned long last;
} mc_entry;
static mc_entry g_mcache[2][MCACHE];
static unsigned long g_tick;

static se_status act_mem(int role, int64_t rows, int64_t cols, int64_t ld, dnnl_data_type_t dt, void *ptr,
                         dnnl_memory_t *out, se_error *err)
{
    mc_entry *g_mc = g_mcache[role];
    int victim = 0;
    for (int i = 0; i < MCACHE; i++) {
        if (g_mc[i].mem && g_mc[i].rows == rows && g_mc[i].cols == cols && g_mc[i].ld == ld && g_mc[i].dt == dt) {
            g_mc[i].last = ++g_tick;
            *out = g_mc[i].mem;
            return dnnl_check(dnnl_memory_set_data_handle(*out, ptr), "memory_set_data_handle", err);
        }
        if (g_mc[i].last < g_mc[victim].last) victim = i;
    }
    if (g_mc[victim].mem) dnnl_memory_destroy(g_mc[victim].mem);
    g_mc[victim].mem = NULL;
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {rows, cols}, strides = {ld, 1};
    se_status st = dnnl_check(dnnl_memory_desc_init_by_strides(&md, 2, dims, dt, strides), "memory_desc", err);
    if (!st) st = dnnl_check(dnnl_memory_create(&g_mc[victim].mem, &md, g_eng, ptr), "memory_create", err);
    if (st) return st;
    g_mc[victim].rows = rows, g_mc[victim].cols = cols, g_mc[victim].ld = ld, g_mc[victim].dt = dt;
    g_mc[victim].last = ++g_tick;
    *out = g_mc[victim].mem;
    return SE_OK;
}

/* The matmul primitive of w with src and weights of type dt (f32, or bf16
 * with f32 accumulation, bias and dst), from the fp32 [N,K] weight W.
 * widen (bf16 without a bf16 matmul): an fp32 primitive whose weights, in the
 * layout it asked for (a reorder is elementwise, so any layout), are kept
 * only as bf16 in W16 and widened into the scratch at each call, the weights
 * memory's data handle pointing there. A bf16 primitive the CPU lacks sets
 * *unimpl and returns SE_OK. */
static se_status pack_onednn(se_weight *w, const float *W, dnnl_data_type_t dt, int widen, int *unimpl,
                             se_error *err)
{
    se_status st = dnnl_init(err);
    if (st) return st;
    *unimpl = 0;
    const int64_t N = w->N, K = w->K, R = DNNL_RUNTIME_DIM_VAL;
    dnnl_memory_desc_t src, wei, bia, dst, user;
    dnnl_dims_t sd = {R, K}, ss = {R, 1}, wd = {K, N}, dd = {R, N}, ws = {1, K}, bd = {1, N};
    dnnl_memory_desc_init_by_strides(&src, 2, sd, dt, ss);
    dnnl_memory_desc_init_by_strides(&dst, 2, dd, dnnl_f32, ss);
    dnnl_memory_desc_init_by_tag(&wei, 2, wd, dt, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_strides(&user, 2, wd, dnnl_f32, ws); /* nn.Linear [N,K] seen as [K,N] */
    dnnl_memory_desc_init_by_tag(&bia, 2, bd, dnnl_f32, dnnl_ab);
    dnnl_matmul_desc_t mm;
    if ((st = dnnl_check(dnnl_matmul_desc_init(&mm, &src, &wei, w->with_bias ? &bia : NULL, &dst), "matmul_desc",
                         err)))
        return st;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    st = dnnl_check(dnnl_primitive_attr_create(&attr), "attr_create", err);
    if (!st && w->act >= SE_KACT_GELU_ERF && w->act <= SE_KACT_SILU) {
        /* swish with alpha 1 is SiLU, x·sigmoid(x) */
        static const dnnl_alg_kind_t alg[] = {dnnl_eltwise_gelu_erf, dnnl_eltwise_gelu_tanh, dnnl_eltwise_relu,
                                              dnnl_eltwise_swish};
        static const float alpha[] = {0.0f, 0.0f, 0.0f, 1.0f};
        st = dnnl_check(dnnl_post_ops_create(&po), "post_ops_create", err);
        if (!st)
            st = dnnl_check(dnnl_post_ops_append_eltwise(po, 1.0f, alg[w->act], alpha[w->act], 0.0f), "eltwise", err);
        if (!st) st = dnnl_check(dnnl_primitive_attr_set_post_ops(attr, po), "set_post_ops", err);
    }
    if (!st) {
        dnnl_status_t ds = dnnl_primitive_desc_create(&pd, &mm, attr, g_eng, NULL);
        if (ds == dnnl_unimplemented && dt == dnnl_bf16) {
            *unimpl = 1;
            pd = NULL;
        } else {
            st = dnnl_check(ds, "matmul primitive_desc", err);
        }
    }
    const dnnl_memory_desc_t *want = st || !pd ? NULL : dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    if (want) st = dnnl_check(dnnl_primitive_create(&w->prim, pd), "matmul primitive", err);
    if (!want || st) {
        /* no primitive: unimplemented bf16 */
    } else if (dnnl_memory_desc_equal(want, &user)) {
        /* the library reads our layout: no copy */
        st = dnnl_check(dnnl_memory_create(&w->wmem, &user, g_eng, (void *)W), "weights memory", err);
        if (!st && widen) st = make_w16(w, W, (size_t)N * (size_t)K, err);
    } else {
        /* reorder once into the layout the primitive asked for */
        w->packed_bytes = dnnl_memory_desc_get_size(want);
        w->packed = se_alloc(w->packed_bytes, 1);
        dnnl_memory_t um = NULL;
        dnnl_primitive_desc_t rpd = NULL;
        dnnl_primitive_t rp = NULL;
        if (!w->packed) st = se_error_set(err, SE_ENOMEM, "cannot allocate %zu bytes of packed weights", w->packed_bytes);
        if (!st) st = dnnl_check(dnnl_memory_create(&w->wmem, want, g_eng, w->packed), "packed weights memory", err);
        if (!st) st = dnnl_check(dnnl_memory_create(&um, &user, g_eng, (void *)W), "weights memory", err);
        if (!st) st = dnnl_check(dnnl_reorder_primitive_desc_create(&rpd, &user, g_eng, want, g_eng, NULL), "reorder", err);
        if (!st) st = dnnl_check(dnnl_primitive_create(&rp, rpd), "reorder primitive", err);
        if (!st) {
            dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, um}, {DNNL_ARG_TO, w->wmem}};
            st = dnnl_check(dnnl_primitive_execute(rp, g_strm, 2, a), "reorder execute", err);
            if (!st) st = dnnl_check(dnnl_stream_wait(g_strm), "stream_wait", err);
        }
        if (rp) dnnl_primitive_destroy(rp);
        if (rpd) dnnl_primitive_desc_destroy(rpd);
        if (um) dnnl_memory_destroy(um);
        if (!st && widen) {
            /* keep the primitive's layout, as bf16 only */
            st = make_w16(w, w->packed, w->packed_bytes / sizeof(float), err);
            se_free(w->packed);
            w->packed = NULL;
            w->packed_bytes = 0;
        }
    }
    if (!st && w->prim && w->with_bias)
        st = dnnl_check(dnnl_memory_create(&w->bmem, &bia, g_eng, DNNL_MEMORY_NONE), "bias", err);
    w->src16 = w->prim && dt == dnnl_bf16;
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return st;
}
#endif

se_status se_weight_pack(se_weight **out, const float *W, int N, int K, int with_bias, int act, se_error *err)
{
    *out = NULL;
    se_weight *w = calloc(1, sizeof *w);
    if (!w) return se_error_set(err, SE_ENOMEM, "cannot allocate a weight handle");
    w->N = N, w->K = K, w->with_bias = with_bias, w->act = act;
    const int bf16 = se_gemm_precision() == SE_PREC_BF16;
    se_status st = SE_OK;
    if (!bf16) w->W = W;
#ifdef SE_HAVE_ONEDNN
    if (se_gemm_current() == SE_GEMM_ONEDNN && N > 0 && K > 0) {
        int unimpl = 0;
        st = pack_onednn(w, W, bf16 ? dnnl_bf16 : dnnl_f32, 0, &unimpl, err);
        if (!st && bf16 && w->prim) {
            g_native = 1;
        } else if (!st && unimpl) {
            if (g_native < 0)
                se_log(SE_LOG_INFO, "oneDNN has no bf16 matmul on this CPU: bf16 weights are widened to fp32 per "
                                    "product (precision path bf16-weights)");
            /* the fp32 primitive on the widened scratch, its handle set per call */
            st = pack_onednn(w, W, dnnl_f32, 1, &unimpl, err);
        }
    }
#endif
    if (bf16 && K > g_maxk) g_maxk = K;
    /* OpenBLAS: our own bf16 copy [N,K], widened per call into the shared scratch */
    if (!st && bf16 && !w->src16 && !w->W16) st = make_w16(w, W, (size_t)N * (size_t)K, err);
    if (st) {
        se_weight_free(w);
        return st;
    }
    *out = w;
    return SE_OK;
}

void se_weight_free(se_weight *w)
{
    if (!w) return;
#ifdef SE_HAVE_ONEDNN
    if (w->prim) dnnl_primitive_destroy(w->prim);
    if (w->wmem) dnnl_memory_destroy(w->wmem);
    if (w->bmem) dnnl_memory_destroy(w->bmem);
    se_free(w->packed);
#endif
    se_free(w->W16);
    free(w);
}

size_t se_weight_extra_bytes(const se_weight *w)
{
    if (!w) return 0;
    size_t b = w->n16 * sizeof(uint16_t);
#ifdef SE_HAVE_ONEDNN
    b += w->packed_bytes;
#endif
    return b;
}

/* Deterministic mode (se_gemm_set_deterministic): OpenBLAS's threaded sgemm
 * splits the product by thread count and its edge micro-kernels round
 * differently from the main ones, so 1 and 2 threads differ in the last bits.
 * Here the product is cut into blocks of DET_ROWS rows fixed by M alone, each
 * computed by one single-threaded sgemm (inside the parallel region OpenBLAS's
 * OpenMP build runs sequentially), so every element comes from the same call
 * with the same operands whatever the number of threads. The cost is one
 * packing of W per block instead of per product (measured on the layer's four
 * products at 4096 tokens: +16 % with 512-row blocks, +2.4 % at 1 thread and
 * +5.3 % at 2 with 1024, ~1 % with 2048, which leaves too few blocks for many
 * threads) and fewer blocks than threads on small batches. */
#define DET_ROWS 1024

void se_gemm_set_deterministic(int on) { g_det = on; }
int se_gemm_deterministic(void) { return g_det; }

static void linear_openblas(float *Y, int ldy, const float *X, int ldx, const float *W, const se_weight *w,
                            const float *bias, int M)
{
    if (w->act >= SE_KACT_GELU_ERF && w->act <= SE_KACT_SILU) {
        /* product, then bias + activation in one pass (se_bias_act) */
        se_linear(Y, ldy, X, ldx, W, w->K, NULL, M, w->N, w->K, 0.0f);
        se_bias_act(Y, w->with_bias ? bias : NULL, M, w->N, ldy, w->act);
    } else {
        se_linear(Y, ldy, X, ldx, W, w->K, w->with_bias ? bias : NULL, M, w->N, w->K, 0.0f);
    }
}

se_status se_linear_w(float *Y, int ldy, const float *X, int ldx, const se_weight *w, const float *bias, int M,
                      se_error *err)
{
    if (M <= 0 || w->N <= 0) return SE_OK;
    const float *W = w->W;
    if (w->W16) {
        widen(g_wide, w->W16, w->n16);
        W = g_wide;
        if (g_round_in) {
            /* the bf16-native path's input rounding, emulated in fp32 (fidelity of that path on any CPU) */
            const size_t K = (size_t)w->K;
            se_status st = grow((void **)&g_xr, &g_xr_cap, (size_t)M * K, sizeof(float), err);
            if (st) return st;
#pragma omp parallel for schedule(static) if ((size_t)M * K > (1u << 16))
            for (int r = 0; r < M; r++)
                for (size_t c = 0; c < K; c++)
                    g_xr[(size_t)r * K + c] = se_bf16_to_f32(se_f32_to_bf16(X[(size_t)r * ldx + c]));
            X = g_xr, ldx = w->K;
        }
    }
#ifdef SE_HAVE_ONEDNN
    if (w->prim) {
        dnnl_memory_t src, dst;
        se_status st = SE_OK;
        if (w->src16) {
            /* bf16-native: the activations rounded to bf16 (RNE), rows packed at ld K */
            const size_t K = (size_t)w->K;
            if ((st = grow((void **)&g_x16, &g_x16_cap, (size_t)M * K, sizeof(uint16_t), err))) return st;
#pragma omp parallel for schedule(static) if ((size_t)M * K > (1u << 16))
            for (int r = 0; r < M; r++)
                for (size_t c = 0; c < K; c++) g_x16[(size_t)r * K + c] = se_f32_to_bf16(X[(size_t)r * ldx + c]);
            st = act_mem(0, M, w->K, w->K, dnnl_bf16, g_x16, &src, err);
        } else {
            st = act_mem(0, M, w->K, ldx, dnnl_f32, (void *)X, &src, err);
        }
        if (!st) st = act_mem(1, M, w->N, ldy, dnnl_f32, Y, &dst, err);
        if (!st && w->W16) st = dnnl_check(dnnl_memory_set_data_handle(w->wmem, (void *)W), "weights handle", err);
        if (st) return st;
        dnnl_exec_arg_t a[4] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w->wmem}, {DNNL_ARG_DST, dst}};
        int na = 3;
        if (w->with_bias) {
            dnnl_memory_set_data_handle(w->bmem, (void *)bias);
            a[na++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, w->bmem};
        }
        st = dnnl_check(dnnl_primitive_execute(w->prim, g_strm, na, a), "matmul execute", err);
        if (!st) st = dnnl_check(dnnl_stream_wait(g_strm), "stream_wait", err);
        return st;
    }
#endif
    (void)err;
    if (!g_det) {
        linear_openblas(Y, ldy, X, ldx, W, w, bias, M);
        return SE_OK;
    }
    const int nb = (M + DET_ROWS - 1) / DET_ROWS;
#pragma omp parallel for schedule(dynamic, 1)
    for (int b = 0; b < nb; b++) {
        const int r0 = b * DET_ROWS, m = M - r0 < DET_ROWS ? M - r0 : DET_ROWS;
        linear_openblas(Y + (size_t)r0 * ldy, ldy, X + (size_t)r0 * ldx, ldx, W, w, bias, m);
    }
    return SE_OK;
}

const char *se_gemm_info(void)
{
    static char buf[128];
    if (se_gemm_current() == SE_GEMM_OPENBLAS) {
        snprintf(buf, sizeof buf, "%s", se_blas_config());
    } else {
#ifdef SE_HAVE_ONEDNN
        const dnnl_version_t *v = dnnl_version();
        snprintf(buf, sizeof buf, "oneDNN %d.%d.%d (cpu runtime %s)", v->major, v->minor, v->patch,
                 v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other");
#endif
    }
    return buf;
}
