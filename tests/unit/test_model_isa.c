/* Whole forwards under every kernel set this CPU runs (SHARDENC_ISA's
 * choices, forced with se_isa_select): each matches the PyTorch float64
 * reference (tests/ref/gen_reference.py fixtures) at the fp32 bound 1e-5, and
 * the AVX2 and AVX-512 sets match the generic one within 1e-5. On an AVX-512
 * node this is the test that forces the AVX2 path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "se_test_util.h"
#include "shardenc/kernels.h"
#include "shardenc/model.h"

static void check(const char *name)
{
    char dir[1024], path[1200];
    snprintf(dir, sizeof dir, "%s/models/%s", se_test_fixtures(), name);
    se_error err;
    se_model *m;
    if (se_model_load(dir, 0, 1, &m, &err)) fail_msg("%s: %s", name, err.msg);
    se_test_batch b;
    snprintf(path, sizeof path, "%s/input.jsonl", dir);
    assert_int_equal(se_test_read_batch(path, &b), 0);
    se_workspace *ws;
    assert_int_equal(se_workspace_create(m, b.n_tok, b.n_tok, 0, &ws, &err), SE_OK);
    const size_t n = (size_t)b.n_tok * m->cfg.d_model;
    float *ref = NULL, *gen = malloc(n * sizeof(float));
    snprintf(path, sizeof path, "%s/ref_tokens.npy", dir);
    assert_int_equal((size_t)se_test_read_f32(path, &ref), n);
    for (int i = SE_ISA_GENERIC; i <= SE_ISA_AVX512; i++) {
        if (!se_isa_supported((se_isa)i)) continue;
        assert_int_equal(se_isa_select(se_isa_name((se_isa)i), &err), SE_OK);
        const float *h;
        if (se_model_forward(m, ws, b.ids, b.types, b.starts, b.n_seq, MPI_COMM_SELF, 0, &h, NULL, &err))
            fail_msg("%s: %s", name, err.msg);
        const double e = se_rel_err(h, ref, n);
        if (i == SE_ISA_GENERIC) memcpy(gen, h, n * sizeof(float));
        const double eg = se_rel_err(h, gen, n);
        print_message("%-14s %-7s vs PyTorch %.2e, vs generic %.2e\n", name, se_isa_name((se_isa)i), e, eg);
        assert_true(e <= 1e-5);
        assert_true(eg <= 1e-5);
    }
    assert_int_equal(se_isa_select("auto", &err), SE_OK);
    free(ref), free(gen);
    se_workspace_free(ws);
    se_model_free(m);
    free(b.ids), free(b.types), free(b.starts);
}

static void test_bert(void **state) { (void)state; check("small_bert"); }
static void test_bert_gelu_tanh(void **state) { (void)state; check("tiny_bert_gelu_new"); }
static void test_vanilla(void **state) { (void)state; check("small_vanilla"); }

static int setup(void **state)
{
    (void)state;
    int argc = 0;
    char **argv = NULL;
    se_error err;
    return se_dist_init(&argc, &argv, &err) == SE_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    se_dist_finalize();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_bert), cmocka_unit_test(test_bert_gelu_tanh),
                                       cmocka_unit_test(test_vanilla)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
