/* The GEMM backends (src/kernels/gemm.c): every backend built in computes
 * Y = act(X·Wᵀ + bias) with prepacked weights against a double reference
 * (relative Frobenius error <= 1e-6 in fp32), on ragged shapes, padded row
 * strides, M changing from call to call (oneDNN's run-time M and its cached
 * memory objects) and a call whose input and output have the same shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "se_test_util.h"
#include "shardenc/kernels.h"

static uint32_t rng = 11;
static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

static double act_d(double x, int act)
{
    switch (act) {
    case 0: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case 1: return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case 2: return x > 0 ? x : 0;
    default: return x;
    }
}

/* One product, checked; returns its relative error. */
static double check_one(int M, int N, int K, int ldx, int ldy, int with_bias, int act)
{
    float *X = malloc(sizeof(float) * (size_t)M * ldx), *W = malloc(sizeof(float) * (size_t)N * K);
    float *b = malloc(sizeof(float) * (size_t)N), *Y = malloc(sizeof(float) * (size_t)M * ldy);
    float *ref = malloc(sizeof(float) * (size_t)M * N), *got = malloc(sizeof(float) * (size_t)M * N);
    for (size_t i = 0; i < (size_t)M * ldx; i++) X[i] = frand();
    for (size_t i = 0; i < (size_t)N * K; i++) W[i] = frand() / sqrtf((float)K);
    for (int i = 0; i < N; i++) b[i] = frand();
    for (size_t i = 0; i < (size_t)M * ldy; i++) Y[i] = NAN; /* overwritten, pads untouched */
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = with_bias ? b[j] : 0;
            for (int k = 0; k < K; k++) acc += (double)X[(size_t)i * ldx + k] * W[(size_t)j * K + k];
            ref[(size_t)i * N + j] = (float)act_d(acc, act);
        }
    se_error err;
    se_weight *w;
    assert_int_equal(se_weight_pack(&w, W, N, K, with_bias, act, &err), SE_OK);
    assert_int_equal(se_linear_w(Y, ldy, X, ldx, w, with_bias ? b : NULL, M, &err), SE_OK);
    for (int i = 0; i < M; i++) {
        memcpy(got + (size_t)i * N, Y + (size_t)i * ldy, sizeof(float) * (size_t)N);
        for (int j = N; j < ldy; j++) assert_true(isnan(Y[(size_t)i * ldy + j]));
    }
    const double e = se_rel_err(got, ref, (size_t)M * N);
    se_weight_free(w);
    free(X), free(W), free(b), free(Y), free(ref), free(got);
    return e;
}

static void test_backends(void **state)
{
    (void)state;
    static const int shapes[][5] = {
        /* M, N, K, ldx pad, ldy pad */
        {1, 5, 3, 0, 0}, {7, 100, 77, 3, 1}, {300, 96, 256, 0, 0}, {64, 64, 64, 0, 0}, {33, 257, 129, 16, 7},
    };
    se_error err;
    int tested = 0;
    for (int bk = SE_GEMM_OPENBLAS; bk <= SE_GEMM_ONEDNN; bk++) {
        if (!se_gemm_available((se_gemm_backend)bk)) {
            print_message("%s: not built in, skipped\n", se_gemm_name((se_gemm_backend)bk));
            continue;
        }
        assert_int_equal(se_gemm_select(se_gemm_name((se_gemm_backend)bk), &err), SE_OK);
        double worst = 0;
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
            for (int act = -1; act <= 2; act++)
                for (int wb = 0; wb <= 1; wb++) {
                    const int *sh = shapes[s];
                    const double e = check_one(sh[0], sh[1], sh[2], sh[2] + sh[3], sh[1] + sh[4], wb, act);
                    if (e > worst) worst = e;
                    if (e > 1e-6) fail_msg("%s M %d N %d K %d act %d bias %d: rel err %.3g", se_gemm_name(bk), sh[0],
                                           sh[1], sh[2], act, wb, e);
                }
        print_message("%s: worst rel err %.2e over %zu shapes x 8 epilogues\n", se_gemm_name(bk), worst,
                      sizeof shapes / sizeof *shapes);
        tested++;
    }
    assert_true(tested >= 1);
    assert_int_equal(se_gemm_select("auto", &err), SE_OK);
}

/* One packed weight reused for changing M, input and output of equal shape. */
static void test_reuse(void **state)
{
    (void)state;
    se_error err;
    for (int bk = SE_GEMM_OPENBLAS; bk <= SE_GEMM_ONEDNN; bk++) {
        if (!se_gemm_available((se_gemm_backend)bk)) continue;
        assert_int_equal(se_gemm_select(se_gemm_name((se_gemm_backend)bk), &err), SE_OK);
        enum { D = 48, MMAX = 70 };
        float *W = malloc(sizeof(float) * D * D), *X = malloc(sizeof(float) * MMAX * D),
              *Y = malloc(sizeof(float) * MMAX * D);
        for (int i = 0; i < D * D; i++) W[i] = frand();
        se_weight *w;
        assert_int_equal(se_weight_pack(&w, W, D, D, 0, -1, &err), SE_OK);
        static const int Ms[] = {70, 1, 13, 70, 2};
        for (int t = 0; t < 5; t++) {
            const int M = Ms[t];
            for (int i = 0; i < M * D; i++) X[i] = frand();
            assert_int_equal(se_linear_w(Y, D, X, D, w, NULL, M, &err), SE_OK);
            double num = 0, den = 0;
            for (int i = 0; i < M; i++)
                for (int j = 0; j < D; j++) {
                    double acc = 0;
                    for (int k = 0; k < D; k++) acc += (double)X[i * D + k] * W[j * D + k];
                    num += (Y[i * D + j] - acc) * (Y[i * D + j] - acc);
                    den += acc * acc;
                }
            assert_true(sqrt(num / den) <= 1e-6);
        }
        se_weight_free(w);
        free(W), free(X), free(Y);
    }
    assert_int_equal(se_gemm_select("auto", &err), SE_OK);
}

static void test_select(void **state)
{
    (void)state;
    se_error err;
    assert_int_equal(se_gemm_select("mkl", &err), SE_EINVAL);
    assert_non_null(strstr(err.msg, "mkl"));
    assert_int_equal(se_gemm_select("openblas", &err), SE_OK);
    assert_int_equal(se_gemm_current(), SE_GEMM_OPENBLAS);
    assert_int_equal(se_gemm_select("onednn", &err), se_gemm_available(SE_GEMM_ONEDNN) ? SE_OK : SE_EUNSUPPORTED);
    assert_int_equal(se_gemm_select("auto", &err), SE_OK);
    /* the rule of the README: oneDNN where AVX-512 is, OpenBLAS elsewhere */
    const int want_dnnl = se_gemm_available(SE_GEMM_ONEDNN) && se_isa_supported(SE_ISA_AVX512);
    assert_int_equal(se_gemm_current(), want_dnnl ? SE_GEMM_ONEDNN : SE_GEMM_OPENBLAS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_select), cmocka_unit_test(test_backends),
                                       cmocka_unit_test(test_reuse)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
