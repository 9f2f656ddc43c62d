/* shardenc kernels: GEMM wrapper, LayerNorm, activations, softmax, attention.
 * OpenMP lives here; kernels know nothing of MPI, files or models. All
 * matrices are row-major fp32. One thread pool: OpenBLAS's OpenMP build and our
 * loops share OMP_NUM_THREADS; no threaded GEMM is called from inside a
 * parallel region (inside one, OpenBLAS's OpenMP build runs single-threaded). */
#ifndef SHARDENC_KERNELS_H
#define SHARDENC_KERNELS_H

#include "shardenc/core.h"

/* Checks the BLAS is OpenBLAS's OpenMP build (openblas_get_parallel() == 2). */
int se_blas_parallel_mode(void); /* 0 sequential, 1 pthreads, 2 OpenMP */
const char *se_blas_config(void);
int se_num_threads(void);        /* omp_get_max_threads() */

/* Kernel sets (LayerNorm, activations, softmax, attention tiles), each built
 * in its own unit for its ISA and chosen at run time, so one binary built
 * without -march runs on any x86-64 node. The first kernel call picks the
 * best set the CPU and OS support, or the one the environment variable
 * SHARDENC_ISA names (auto, avx512, avx2, generic). */
typedef enum { SE_ISA_GENERIC = 0, SE_ISA_AVX2 = 1, SE_ISA_AVX512 = 2 } se_isa;
const char *se_isa_name(se_isa isa);
int se_isa_supported(se_isa isa);
se_isa se_isa_best(void);
/* name: "auto" (or NULL/empty), "avx512", "avx2", "generic"; a set this CPU
 * cannot run is SE_EUNSUPPORTED, an unknown name SE_EINVAL. Not thread-safe
 * against running kernels: call between forwards. */
se_status se_isa_select(const char *name, se_error *err);
se_isa se_isa_current(void);
/* The multiply-add peak of the active kernel set, all threads at once, in
 * GFLOP/s, from a register-only FMA loop run for about `seconds`. */
double se_fma_peak_gflops(double seconds);

/* Y[M,N] = X[M,K] · W[N,K]ᵀ (+ bias[N] if not NULL), W in nn.Linear layout
 * [out, in]. beta = 0 overwrites Y, beta = 1 accumulates. */
void se_linear(float *Y, int ldy, const float *X, int ldx, const float *W, int ldw, const float *bias, int M, int N,
               int K, float beta);
/* ---- GEMM backends (src/kernels/gemm.c) ----
 * One backend per process, chosen before any weight is packed: OpenBLAS or
 * oneDNN (if built with it). "auto" (also the default) takes oneDNN on CPUs
 * with AVX-512 and OpenBLAS otherwise (the README gives the measurements). */
typedef enum { SE_GEMM_OPENBLAS = 0, SE_GEMM_ONEDNN = 1 } se_gemm_backend;
const char *se_gemm_name(se_gemm_backend b);
int se_gemm_available(se_gemm_backend b);
/* name: "auto" (or NULL/empty), "openblas", "onednn" (SE_EUNSUPPORTED if not built in). */
se_status se_gemm_select(const char *name, se_error *err);
se_gemm_backend se_gemm_current(void);
const char *se_gemm_info(void); /* library and version, for logs and meta.json */
/* Deterministic mode: products cut in fixed row blocks, each one
 * single-threaded call, so the bits do not depend on the thread count
 * (OpenBLAS only; set before se_gemm_select, which then refuses oneDNN). */
void se_gemm_set_deterministic(int on);
int se_gemm_deterministic(void);

/* Precision of the products with weights (--precision), chosen like the
 * backend before any weight is packed (until set, SHARDENC_PRECISION, else
 * fp32). fp32: exact, the default. bf16: every packed weight is held in
 * bfloat16 only (half the memory; the caller's fp32 W is not kept) and the
 * products accumulate in fp32. Where oneDNN has a bf16 matmul for the CPU
 * (AVX-512 / AVX512-BF16 / AMX) the activations are rounded to bf16 as its
 * input ("bf16-native"); elsewhere each product widens its bf16 weight into
 * an fp32 scratch and runs the fp32 GEMM ("bf16-weights": activations stay
 * fp32). LayerNorm, softmax, residuals and attention stay fp32 in both. */
typedef enum { SE_PREC_FP32 = 0, SE_PREC_BF16 = 1 } se_precision;
const char *se_precision_name(se_precision p);
/* name: "fp32" (or NULL/empty) or "bf16"; anything else SE_EINVAL. */
se_status se_gemm_set_precision(const char *name, se_error *err);
se_precision se_gemm_precision(void);
/* "fp32", "bf16-native" or "bf16-weights" (see above); for bf16 known once a
 * weight is packed (before that "bf16"). */
const char *se_gemm_precision_path(void);
/* Sizes the scratch the bf16-native path rounds activations into for
 * products of up to max_rows rows (called by se_workspace_create, so the
 * per-layer path never allocates); a no-op elsewhere. */
se_status se_gemm_reserve(int64_t max_rows, se_error *err);
/* On the bf16-weights path, also round the activations to bf16 before each
 * product, as bf16-native does (tests: that path's fidelity on any CPU). */
void se_gemm_set_bf16_round_inputs(int on);
/* Bytes of the backend's process-wide scratch (bf16 widening and rounding). */
size_t se_gemm_scratch_bytes(void);

/* A weight W[N,K] (nn.Linear layout, caller-owned, must outlive the handle
 * in fp32; in bf16 the handle keeps its own copy and W may be freed),
 * prepacked once for the current backend with its epilogue: the product
 * computes Y = act(X·Wᵀ + bias) (with_bias: a bias is passed to every call;
 * act: an se_act value or -1). The backend may keep a copy in its own layout
 * (se_weight_extra_bytes) or read W in place. */
typedef struct se_weight se_weight;
se_status se_weight_pack(se_weight **out, const float *W, int N, int K, int with_bias, int act, se_error *err);
void se_weight_free(se_weight *w);
size_t se_weight_extra_bytes(const se_weight *w);
/* Y[M,N] = act(X[M,K]·Wᵀ + bias), overwriting Y; never inside a parallel region. */
se_status se_linear_w(float *Y, int ldy, const float *X, int ldx, const se_weight *w, const float *bias, int M,
                      se_error *err);

/* Plain sgemm C = alpha·A·B(ᵀ) + beta·C for the bench's reference rate. */
void se_sgemm(int transb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc);

/* out = LN(x (+ res)) · gamma + beta over rows of width d, eps inside the sqrt
 * (LN(z) = (z - mean) / sqrt(var + eps), biased variance). out may alias x or
 * res. res may be NULL. Rows are independent; computed with a double sum for
 * the mean/variance so long rows keep fp32 accuracy. */
void se_layernorm(float *out, const float *x, const float *res, const float *gamma, const float *beta, int n_rows,
                  int d, float eps);

/* In place over n values, with an optional per-column bias added first
 * (x[r, c] += bias[c] for a [rows, cols] block, then act). */
void se_bias_act(float *x, const float *bias, int rows, int cols, int ld, int act /* se_act, or -1 for none */);
/* Scalar references of the activations (tests). */
float se_gelu_erf_ref(float x);
float se_gelu_tanh_ref(float x);

/* Fast vectorisable expf/erff used by the kernels: exp max rel error 0.7 ulp
 * (0 below -87.34, +inf above 88.72); erf max abs error 3.3e-7 (Eigen's
 * rational approximation evaluated in float). */
void se_vexp(float *y, const float *x, size_t n);
void se_verf(float *y, const float *x, size_t n);

/* RoPE in place on the first n_heads·d_head columns of x [n_tok, ld] (q or k
 * of the local heads): for token t at position p within its sequence and each
 * head, pairs (i, i + d_head/2) rotate by cos/sin[p, i] (rotate_half, the
 * GPT-NeoX layout); cs and sn are [>= longest sequence, d_head/2]. */
void se_rope_apply(float *x, int ld, const int64_t *seq_start, int n_seq, int n_heads, int d_head, const float *cs,
                   const float *sn);
/* The same on the first `rot` (even, <= d_head) dims of each head, the others
 * untouched; interleaved: pairs (2i, 2i+1) instead of (i, i + rot/2); tables
 * [rows, rot/2], row = position in the sequence, or with per_token the token's
 * row in the batch (tables that differ per sequence: NomicBERT's dynamic NTK). */
void se_rope_apply_ex(float *x, int ld, const int64_t *seq_start, int n_seq, int n_heads, int d_head, int rot,
                      int interleaved, const float *cs, const float *sn, int per_token);
/* Gated FFN epilogue in place on h [rows, 2·nf] (row stride ld): the first nf
 * columns become act(h[:, a]) ⊙ h[:, b], where a is the activated half
 * (act_half 0: columns 0..nf-1, else nf..2nf-1) and b the other. */
void se_gated_act(float *h, int rows, int nf, int ld, int act_half, int act);

/* Row softmax in place over [rows, n] (tests and small paths). */
void se_softmax_rows(float *x, int rows, int n);

/* Attention over packed variable-length sequences, never materialising an
 * n×n matrix: tiles of queries against blocks of keys with an online softmax
 * (running max and sum). For every sequence s (tokens seq_start[s] ..
 * seq_start[s+1]-1) and every head h < n_heads:
 *   out_h = softmax(q_h · k_hᵀ · scale) · v_h
 * q, k and v are [n_tok, ...] row-major with row strides ldq/ldk/ldv; head h
 * of q starts at column h*d_head (same for k and v). out is [n_tok, n_heads*d_head]
 * with row stride ldo. Threads split (sequence, head, query tile) work items;
 * scratch comes from ws (see se_attention_ws_floats), no allocation inside. */
size_t se_attention_ws_floats(int max_threads, int d_head);
void se_attention(float *out, int ldo, const float *q, int ldq, const float *k, int ldk, const float *v, int ldv,
                  const int64_t *seq_start, int n_seq, int n_heads, int d_head, float scale, float *ws);
/* The same with an additive per-head score bias that depends only on the
 * key-minus-query distance, added inside the tile loop (no n×n buffer):
 *   score_h(i, j) = q_i·k_j·scale + bias[h·ld + center + (j - i)]
 * (MPNet's relative position buckets; ALiBi's -m_h·|i-j| is computed from
 * its slopes instead, see below). center must be >= the longest sequence - 1,
 * ld >= 2·center + 1;
 * h is the local head index. NULL bias = se_attention. Runs the sgemm tiles
 * (the AVX-512 d_head 64 path takes no bias yet). */
typedef struct {
    const float *bias; /* NULL = no additive bias (window only) */
    int ld, center;
    /* > 0: sliding window, query i sees only keys |j - i| <= window (ModernBERT's
     * local layers); key blocks wholly outside are never visited, so a layer
     * costs O(n·window). 0 = every key. */
    int window;
    /* ALiBi (Press et al. 2022, symmetric as JinaBERT-v2 builds it): score_h(i, j)
     * -= slopes[h]·|i - j|, computed in the tile loop from the slope and the
     * distance (no table, no n×n buffer); h the local head index, so the caller
     * passes the slopes of its global heads. NULL = none. */
    const float *slopes;
} se_att_bias;
void se_attention_biased(float *out, int ldo, const float *q, int ldq, const float *k, int ldk, const float *v, int ldv,
                         const int64_t *seq_start, int n_seq, int n_heads, int d_head, float scale,
                         const se_att_bias *bias, float *ws);
/* ws must hold se_attention_ws_floats(T, d_head) floats with T >= the number
 * of threads at the call (se_num_threads()); 64-byte aligned (se_alloc) is
 * best. The call uses no other memory: ws is ~1.2 MiB per thread whatever the
 * sequence length (no n×n buffer). n_tok is seq_start[n_seq]; sequences of
 * length 0 are allowed. Work items go largest sequence first, dynamically. */
/* Tile sizes (queries per work item, keys per block), for tuning and tests;
 * clamped to [1, 256] and [1, 1024]. Not thread-safe: set before calls. */
void se_attention_set_tiles(int bq, int bk);
void se_attention_get_tiles(int *bq, int *bk);
/* d_head = 64 with the AVX-512 kernel set uses register-tiled products
 * instead of cblas_sgemm (faster; same math). 0 forces the sgemm path (tests,
 * bench). */
void se_attention_set_avx512(int on);

#endif
