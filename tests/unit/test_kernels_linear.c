/* se_linear / se_sgemm against double loops; the BLAS is the OpenMP build. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shardenc/kernels.h"

static uint32_t rng_state = 7;
static float frand(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(rng_state >> 8) / 8388608.0f - 1.0f;
}

static float *rbuf(size_t n)
{
    float *p = malloc(n * sizeof(float));
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) p[i] = frand();
    return p;
}

/* ‖Y - R‖_F / ‖R‖_F over the M×N block of Y (row stride ldy). */
static double rel(const float *Y, int ldy, const double *R, int M, int N)
{
    double a = 0, b = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double d = Y[(size_t)i * ldy + j] - R[(size_t)i * N + j];
            a += d * d;
            b += R[(size_t)i * N + j] * R[(size_t)i * N + j];
        }
    return sqrt(a / b);
}

static void test_blas_build(void **state)
{
    (void)state;
    assert_int_equal(se_blas_parallel_mode(), 2); /* OpenMP build, not pthreads */
    assert_non_null(strstr(se_blas_config(), "OpenBLAS"));
    assert_true(se_num_threads() >= 1);
}

/* Y = X·Wᵀ (+ bias) with beta 0 and 1, strides wider than the shapes. */
static void test_linear(void **state)
{
    (void)state;
    const int M = 37, N = 53, K = 71, ldx = K + 3, ldw = K + 5, ldy = N + 2;
    float *X = rbuf((size_t)M * ldx), *W = rbuf((size_t)N * ldw), *b = rbuf(N);
    float *Y = rbuf((size_t)M * ldy), *Y0 = malloc(sizeof(float) * (size_t)M * ldy);
    memcpy(Y0, Y, sizeof(float) * (size_t)M * ldy);
    double *R = malloc(sizeof(double) * (size_t)M * N);
    for (int pass = 0; pass < 4; pass++) {
        const int with_bias = pass & 1;
        const float beta = (pass & 2) ? 1.0f : 0.0f;
        memcpy(Y, Y0, sizeof(float) * (size_t)M * ldy);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double acc = beta != 0.0f ? Y0[(size_t)i * ldy + j] : 0.0;
                for (int k = 0; k < K; k++) acc += (double)X[(size_t)i * ldx + k] * W[(size_t)j * ldw + k];
                if (with_bias) acc += b[j];
                R[(size_t)i * N + j] = acc;
            }
        se_linear(Y, ldy, X, ldx, W, ldw, with_bias ? b : NULL, M, N, K, beta);
        const double e = rel(Y, ldy, R, M, N);
        print_message("bias %d beta %.0f: rel err %.3g\n", with_bias, beta, e);
        assert_true(e <= 1e-6);
        /* columns past N are untouched */
        for (int i = 0; i < M; i++)
            for (int j = N; j < ldy; j++) assert_true(Y[(size_t)i * ldy + j] == Y0[(size_t)i * ldy + j]);
        /* and the bias really is in: dropping it would show */
        if (with_bias) {
            for (int j = 0; j < N; j++) R[j] -= b[j];
            assert_true(rel(Y, ldy, R, 1, N) > 1e-3);
        }
    }
    free(X), free(W), free(b), free(Y), free(Y0), free(R);
}

/* se_sgemm: C = alpha·A·B (transb 0) or alpha·A·Bᵀ (transb 1) + beta·C. */
static void test_sgemm(void **state)
{
    (void)state;
    const int M = 19, N = 23, K = 29;
    float *A = rbuf((size_t)M * K), *B = rbuf((size_t)K * N), *C = rbuf((size_t)M * N);
    float *C0 = malloc(sizeof(float) * (size_t)M * N);
    memcpy(C0, C, sizeof(float) * (size_t)M * N);
    double *R = malloc(sizeof(double) * (size_t)M * N);
    for (int transb = 0; transb < 2; transb++) {
        memcpy(C, C0, sizeof(float) * (size_t)M * N);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double acc = 0;
                for (int k = 0; k < K; k++)
                    acc += (double)A[i * K + k] * (transb ? B[(size_t)j * K + k] : B[(size_t)k * N + j]);
                R[i * N + j] = 0.5 * acc + 2.0 * C0[i * N + j];
            }
        se_sgemm(transb, M, N, K, 0.5f, A, K, B, transb ? K : N, 2.0f, C, N);
        assert_true(rel(C, N, R, M, N) <= 1e-6);
    }
    /* K = 0: only beta·C remains */
    memcpy(C, C0, sizeof(float) * (size_t)M * N);
    se_sgemm(1, M, N, 0, 0.5f, A, 1, B, 1, 2.0f, C, N);
    for (int i = 0; i < M * N; i++) assert_true(C[i] == 2.0f * C0[i]);
    se_linear(C, N, A, 1, B, 1, NULL, M, N, 0, 0.0f);
    for (int i = 0; i < M * N; i++) assert_true(C[i] == 0.0f);
    free(A), free(B), free(C), free(C0), free(R);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blas_build),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_sgemm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
