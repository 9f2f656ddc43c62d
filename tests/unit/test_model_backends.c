/* Whole forwards under every kernel set this CPU runs (SHARDENC_ISA's
 * choices, forced with se_isa_select) and every GEMM backend built in
 * (--gemm, weights packed at load for each): each matches the PyTorch float64
 * reference (tests/ref/gen_reference.py fixtures) at the fp32 bound 1e-5, and
 * matches generic + OpenBLAS within 1e-5. On an AVX-512 node this is the test
 * that forces the AVX2 path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "se_test_mpi.h"
#include "se_test_util.h"
#include "shardenc/kernels.h"
#include "shardenc/model.h"

static void check(const char *name)
{
    char dir[1024], path[1200];
    se_error err;
    se_test_batch b;
    assert_int_equal(se_test_fixture_batch(name, dir, sizeof dir, &b), 0);
    float *ref = NULL, *first = NULL;
    snprintf(path, sizeof path, "%s/ref_tokens.npy", dir);
    const size_t n = (size_t)se_test_read_f32(path, &ref);
    for (int g = SE_GEMM_OPENBLAS; g <= SE_GEMM_ONEDNN; g++) {
        if (!se_gemm_available((se_gemm_backend)g)) continue;
        assert_int_equal(se_gemm_select(se_gemm_name((se_gemm_backend)g), &err), SE_OK);
        se_model *m;
        if (se_model_load(dir, 0, 1, &m, &err)) fail_msg("%s: %s", name, err.msg);
        assert_int_equal(n, (size_t)b.n_tok * m->cfg.d_model);
        se_workspace *ws;
        assert_int_equal(se_workspace_create(m, b.n_tok, b.n_tok, 0, &ws, &err), SE_OK);
        for (int i = SE_ISA_GENERIC; i <= SE_ISA_AVX512; i++) {
            if (!se_isa_supported((se_isa)i)) continue;
            assert_int_equal(se_isa_select(se_isa_name((se_isa)i), &err), SE_OK);
            const float *h;
            if (se_model_forward(m, ws, b.ids, b.types, b.starts, b.n_seq, MPI_COMM_SELF, 0, &h, NULL, &err))
                fail_msg("%s: %s", name, err.msg);
            if (!first) {
                first = malloc(n * sizeof(float));
                memcpy(first, h, n * sizeof(float));
            }
            const double e = se_rel_err(h, ref, n), eg = se_rel_err(h, first, n);
            print_message("%-18s %-8s %-7s vs PyTorch %.2e, vs generic+openblas %.2e\n", name,
                          se_gemm_name((se_gemm_backend)g), se_isa_name((se_isa)i), e, eg);
            assert_true(e <= 1e-5);
            assert_true(eg <= 1e-5);
        }
        se_workspace_free(ws);
        se_model_free(m);
    }
    assert_int_equal(se_isa_select("auto", &err), SE_OK);
    assert_int_equal(se_gemm_select("auto", &err), SE_OK);
    free(ref), free(first);
    free(b.ids), free(b.types), free(b.starts);
}

static void test_bert(void **state) { (void)state; check("small_bert"); }
static void test_bert_gelu_tanh(void **state) { (void)state; check("tiny_bert_gelu_new"); }
static void test_vanilla(void **state) { (void)state; check("small_vanilla"); }

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_bert), cmocka_unit_test(test_bert_gelu_tanh),
                                       cmocka_unit_test(test_vanilla)};
    return cmocka_run_group_tests(tests, se_test_mpi_setup, se_test_mpi_teardown);
}
