/* se_layernorm and se_softmax_rows against double loops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shardenc/kernels.h"

static uint32_t rng_state = 3;
static float frand(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(rng_state >> 8) / 8388608.0f - 1.0f;
}

/* LN(z)·g + b in double, z = x (+ r). */
static void ln_ref(double *out, const float *x, const float *r, const float *g, const float *b, int rows, int d,
                   double eps)
{
    for (int i = 0; i < rows; i++) {
        double mean = 0, var = 0;
        for (int j = 0; j < d; j++) mean += (double)x[i * d + j] + (r ? (double)r[i * d + j] : 0.0);
        mean /= d;
        for (int j = 0; j < d; j++) {
            double c = (double)x[i * d + j] + (r ? (double)r[i * d + j] : 0.0) - mean;
            var += c * c;
        }
        var /= d;
        for (int j = 0; j < d; j++) {
            double z = (double)x[i * d + j] + (r ? (double)r[i * d + j] : 0.0);
            out[i * d + j] = (z - mean) / sqrt(var + eps) * g[j] + b[j];
        }
    }
}

static double rel(const float *y, const double *r, size_t n)
{
    double a = 0, b = 0;
    for (size_t i = 0; i < n; i++) {
        a += (y[i] - r[i]) * (y[i] - r[i]);
        b += r[i] * r[i];
    }
    return sqrt(a / b);
}

/* Rows with a large common offset (mean 300, spread 1) check that neither
 * E[z²]-mean² cancellation nor float rounding of z - mean creeps in; eps
 * 1e-12 (BERT) and 1e-5 (vanilla); out separate, aliasing x, aliasing res. */
static void test_layernorm(void **state)
{
    (void)state;
    const int rows = 67, d = 768;
    const size_t n = (size_t)rows * d;
    float *x = malloc(n * 4), *r = malloc(n * 4), *g = malloc(d * 4), *b = malloc(d * 4), *out = malloc(n * 4);
    float *xa = malloc(n * 4);
    double *ref = malloc(n * 8);
    for (size_t i = 0; i < n; i++) {
        x[i] = 300.0f + frand();
        r[i] = 0.5f * frand();
    }
    for (int j = 0; j < d; j++) {
        g[j] = 1.0f + 0.5f * frand();
        b[j] = 0.1f * frand();
    }
    static const float eps[2] = {1e-12f, 1e-5f};
    for (int e = 0; e < 2; e++)
        for (int with_res = 0; with_res < 2; with_res++) {
            const float *rr = with_res ? r : NULL;
            ln_ref(ref, x, rr, g, b, rows, d, eps[e]);
            se_layernorm(out, x, rr, g, b, rows, d, eps[e]);
            double er = rel(out, ref, n);
            print_message("eps %g res %d: rel err %.3g\n", eps[e], with_res, er);
            assert_true(er <= 1e-7);
            memcpy(xa, x, n * 4); /* out aliases x */
            se_layernorm(xa, xa, rr, g, b, rows, d, eps[e]);
            assert_memory_equal(xa, out, n * 4);
            if (with_res) { /* out aliases res */
                memcpy(xa, r, n * 4);
                se_layernorm(xa, x, xa, g, b, rows, d, eps[e]);
                assert_memory_equal(xa, out, n * 4);
            }
        }
    /* a constant row: var 0, out = beta exactly */
    for (int j = 0; j < d; j++) x[j] = 5.0f;
    se_layernorm(out, x, NULL, g, b, 1, d, 1e-12f);
    for (int j = 0; j < d; j++) assert_true(out[j] == b[j]);
    /* eps matters: with a tiny variance eps 1e-5 vs 1e-12 differ */
    for (int j = 0; j < d; j++) x[j] = 1e-3f * frand();
    float o2[768];
    se_layernorm(out, x, NULL, g, b, 1, d, 1e-12f);
    se_layernorm(o2, x, NULL, g, b, 1, d, 1e-5f);
    double diff = 0;
    for (int j = 0; j < d; j++) diff += fabs(out[j] - o2[j]);
    assert_true(diff > 1.0);
    free(x), free(r), free(g), free(b), free(out), free(xa), free(ref);
}

static void test_softmax(void **state)
{
    (void)state;
    const int rows = 9, n = 1001;
    float *x = malloc(sizeof(float) * rows * n);
    double *ref = malloc(sizeof(double) * rows * n);
    for (int i = 0; i < rows * n; i++) x[i] = 20.0f * frand() + (i / n) * 50.0f; /* large offsets too */
    x[3] = 1000.0f;                                                              /* would overflow expf */
    for (int i = 0; i < rows; i++) {
        double m = -INFINITY, s = 0;
        for (int j = 0; j < n; j++) m = x[i * n + j] > m ? x[i * n + j] : m;
        for (int j = 0; j < n; j++) s += exp((double)x[i * n + j] - m);
        for (int j = 0; j < n; j++) ref[i * n + j] = exp((double)x[i * n + j] - m) / s;
    }
    se_softmax_rows(x, rows, n);
    assert_true(rel(x, ref, (size_t)rows * n) <= 1e-6);
    assert_true(fabsf(x[3] - 1.0f) <= 1e-6f);
    for (int i = 0; i < rows * n; i++) assert_true(x[i] >= 0.0f && x[i] <= 1.0f);
    free(x), free(ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_softmax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
