/* job: how windows combine into a document row, without MPI, against a
 * direct computation over token states: max of window maxima = max over all
 * tokens; token-weighted mean of window means = mean over all window tokens;
 * cls = token-weighted mean of the windows' first states. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "job/embed_internal.h"

enum { D = 5, NW = 4 };

static void test_combine_matches_token_states(void **state)
{
    (void)state;
    const int32_t lens[NW] = {64, 64, 64, 37};
    int total = 0;
    for (int k = 0; k < NW; k++) total += lens[k];
    float *tok = malloc((size_t)total * D * sizeof(float));
    srand(3);
    for (int i = 0; i < total * D; i++) tok[i] = (float)rand() / RAND_MAX * 4 - 2;
    /* per-window pooled rows, as se_pool makes them */
    float rows_max[NW * D], rows_mean[NW * D], rows_cls[NW * D];
    int64_t off = 0;
    for (int k = 0; k < NW; k++) {
        int64_t starts[2] = {0, lens[k]};
        se_pool(rows_max + k * D, tok + off * D, D, starts, 1, SE_POOL_MAX, 0);
        se_pool(rows_mean + k * D, tok + off * D, D, starts, 1, SE_POOL_MEAN, 0);
        se_pool(rows_cls + k * D, tok + off * D, D, starts, 1, SE_POOL_CLS, 0);
        off += lens[k];
    }
    double sum[D];
    float out[D];
    /* direct: over all token states of the document's windows */
    double mx[D], mean[D] = {0}, cls[D] = {0};
    for (int j = 0; j < D; j++) mx[j] = -INFINITY;
    off = 0;
    for (int k = 0; k < NW; k++) {
        for (int t = 0; t < lens[k]; t++)
            for (int j = 0; j < D; j++) {
                double v = tok[(off + t) * D + j];
                if (v > mx[j]) mx[j] = v;
                mean[j] += v / total;
            }
        for (int j = 0; j < D; j++) cls[j] += (double)lens[k] / total * tok[off * D + j];
        off += lens[k];
    }
    se_assemble_combine(out, rows_max, lens, NW, D, SE_POOL_MAX, sum);
    for (int j = 0; j < D; j++) assert_true(out[j] == (float)mx[j]);
    se_assemble_combine(out, rows_mean, lens, NW, D, SE_POOL_MEAN, sum);
    for (int j = 0; j < D; j++) assert_true(fabs(out[j] - mean[j]) < 1e-5);
    se_assemble_combine(out, rows_cls, lens, NW, D, SE_POOL_CLS, sum);
    for (int j = 0; j < D; j++) assert_true(fabs(out[j] - cls[j]) < 1e-5);
    /* one window: its row unchanged; none: a zero row */
    se_assemble_combine(out, rows_mean + D, lens + 1, 1, D, SE_POOL_MEAN, sum);
    assert_memory_equal(out, rows_mean + D, sizeof out);
    se_assemble_combine(out, rows_mean, lens, 0, D, SE_POOL_MEAN, sum);
    for (int j = 0; j < D; j++) assert_true(out[j] == 0.0f);
    free(tok);
}

/* --output-dtype f16: IEEE 754-2008 binary16 bit patterns (the values are
 * from the standard's format: 1 sign, 5 exponent, 10 fraction bits, bias 15). */
static void test_f16_round_to_nearest_even(void **state)
{
    (void)state;
    const float in[] = {0.0f, -0.0f, 1.0f, -2.0f, 65504.0f, 65519.0f, 65520.0f, 1e10f, INFINITY, -INFINITY,
                        1.0f + 0x1p-11f,       /* halfway between 1 and 1+2^-10: to even (1) */
                        1.0f + 3 * 0x1p-11f,   /* halfway, odd below: up to 1+2^-9 */
                        1.0f + 0x1p-11f + 0x1p-20f, /* just past halfway: up */
                        0x1p-14f,              /* smallest normal */
                        0x1p-24f,              /* smallest subnormal */
                        0x1p-25f,              /* halfway to 0: to even (0) */
                        3 * 0x1p-25f,          /* halfway between 1 and 2 steps: to even (2) */
                        0x1p-14f - 0x1p-25f,   /* halfway below the smallest normal: up to it */
                        0.1f, 1e-8f};
    const uint16_t want[] = {0x0000, 0x8000, 0x3c00, 0xc000, 0x7bff, 0x7bff, 0x7c00, 0x7c00, 0x7c00, 0xfc00,
                             0x3c00, 0x3c02, 0x3c01, 0x0400, 0x0001, 0x0000, 0x0002, 0x0400, 0x2e66, 0x0000};
    size_t n = sizeof in / sizeof in[0];
    uint16_t got[32];
    se_rows_to_f16(got, in, n);
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i]) fail_msg("f16(%a) = 0x%04x, want 0x%04x", (double)in[i], got[i], want[i]);
    float nan = NAN;
    se_rows_to_f16(got, &nan, 1);
    assert_true((got[0] & 0x7c00) == 0x7c00 && (got[0] & 0x3ff) != 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_combine_matches_token_states),
                                       cmocka_unit_test(test_f16_round_to_nearest_even)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
