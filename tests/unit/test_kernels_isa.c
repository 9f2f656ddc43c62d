/* The kernel sets chosen at run time (src/kernels/isa.c): selection refuses
 * unknown names and sets the CPU lacks, and every set this CPU runs gives the
 * same LayerNorm, activations, softmax and attention as the generic (SSE2)
 * set within 1e-6 relative (they differ only by FMA contraction and vector
 * width, i.e. rounding). tests/unit/test_model_isa.c checks whole forwards. */
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

static uint32_t rng = 7;
static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

static void test_select(void **state)
{
    (void)state;
    se_error err;
    assert_int_equal(se_isa_select("sse9", &err), SE_EINVAL);
    assert_non_null(strstr(err.msg, "sse9"));
    assert_int_equal(se_isa_select("generic", &err), SE_OK);
    assert_int_equal(se_isa_current(), SE_ISA_GENERIC);
    for (int i = SE_ISA_AVX2; i <= SE_ISA_AVX512; i++) {
        se_status st = se_isa_select(se_isa_name((se_isa)i), &err);
        if (se_isa_supported((se_isa)i)) {
            assert_int_equal(st, SE_OK);
            assert_int_equal(se_isa_current(), i);
        } else {
            assert_int_equal(st, SE_EUNSUPPORTED);
            assert_non_null(strstr(err.msg, "not supported by this CPU"));
        }
    }
    assert_int_equal(se_isa_select("auto", &err), SE_OK);
    assert_int_equal(se_isa_current(), se_isa_best());
    print_message("best kernel set on this CPU: %s\n", se_isa_name(se_isa_best()));
}

enum { ROWS = 37, D = 768, NSEQ = 3, H = 2 };

/* Every kernel of the dispatch table on one input, outputs concatenated. */
static size_t run_all(float *out, int dh)
{
    static const int lens[NSEQ] = {1, 130, 300};
    size_t o = 0;
    rng = 7;
    float *x = malloc(sizeof(float) * ROWS * D), *r = malloc(sizeof(float) * ROWS * D);
    float g[D], b[D];
    for (int i = 0; i < ROWS * D; i++) x[i] = 3 * frand(), r[i] = frand();
    for (int j = 0; j < D; j++) g[j] = 1 + 0.1f * frand(), b[j] = 0.1f * frand();
    se_layernorm(out + o, x, r, g, b, ROWS, D, 1e-12f);
    o += ROWS * D;
    for (int act = -1; act <= 2; act++) {
        memcpy(out + o, x, sizeof(float) * ROWS * D);
        se_bias_act(out + o, b, ROWS, D, D, act);
        o += ROWS * D;
    }
    memcpy(out + o, x, sizeof(float) * ROWS * D);
    se_softmax_rows(out + o, ROWS, D);
    o += ROWS * D;
    se_vexp(out + o, x, ROWS * D);
    o += ROWS * D;
    /* attention over packed sequences, H heads of dh */
    int64_t ss[NSEQ + 1] = {0};
    for (int s = 0; s < NSEQ; s++) ss[s + 1] = ss[s] + lens[s];
    const int n = (int)ss[NSEQ], W = 3 * H * dh;
    float *qkv = malloc(sizeof(float) * (size_t)n * W);
    for (int i = 0; i < n * W; i++) qkv[i] = 2 * frand();
    float *ws = se_alloc(se_attention_ws_floats(se_num_threads(), dh), sizeof(float));
    se_attention(out + o, H * dh, qkv, W, qkv + H * dh, W, qkv + 2 * H * dh, W, ss, NSEQ, H, dh, 0.125f, ws);
    o += (size_t)n * H * dh;
    se_free(ws);
    free(qkv), free(x), free(r);
    return o;
}

static void test_sets_agree(void **state)
{
    (void)state;
    se_error err;
    const size_t cap = 8 * ROWS * D + 431 * H * 64;
    for (int dh = 32; dh <= 64; dh += 32) {
        float *ref = malloc(sizeof(float) * cap), *got = malloc(sizeof(float) * cap);
        assert_int_equal(se_isa_select("generic", &err), SE_OK);
        const size_t n = run_all(ref, dh);
        for (int i = SE_ISA_AVX2; i <= SE_ISA_AVX512; i++) {
            if (!se_isa_supported((se_isa)i)) {
                print_message("%s: not on this CPU, skipped\n", se_isa_name((se_isa)i));
                continue;
            }
            assert_int_equal(se_isa_select(se_isa_name((se_isa)i), &err), SE_OK);
            assert_int_equal(run_all(got, dh), n);
            size_t off = 0;
            static const char *const part[] = {"layernorm", "bias", "gelu_erf", "gelu_tanh", "relu", "softmax", "exp"};
            for (int p = 0; p < 8; p++) {
                const size_t len = p < 7 ? (size_t)ROWS * D : n - off;
                const double e = se_rel_err(got + off, ref + off, len);
                print_message("%s vs generic, d_head %d, %-9s rel err %.2e\n", se_isa_name((se_isa)i), dh,
                              p < 7 ? part[p] : "attention", e);
                assert_true(e <= 1e-6);
                off += len;
            }
        }
        free(ref), free(got);
    }
    assert_int_equal(se_isa_select("auto", &err), SE_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_select), cmocka_unit_test(test_sets_agree)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
