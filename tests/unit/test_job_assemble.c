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

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_combine_matches_token_states)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
