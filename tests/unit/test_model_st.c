/* sentence-transformers heads against tests/ref/gen_st.py (sentence-transformers'
 * Pooling/Dense/Normalize re-implemented in torch float64 over a padded
 * batch): the tiny_st folder's own pipeline (mean -> Dense tanh -> Dense ->
 * Normalize), every pooling mode alone, with prompt tokens excluded, and all
 * six concatenated in sentence-transformers' order whatever order --pooling
 * lists them in. Plus the refusals, by name. Tolerance 1e-5 relative. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <unistd.h>

#include "se_test_mpi.h"
#include "se_test_util.h"
#include "shardenc/model.h"

#define TOL 1e-5

static float *hidden;
static se_test_batch B;
static int D;

static void encode(void)
{
    char dir[1024], path[1200];
    snprintf(dir, sizeof dir, "%s/models/tiny_st", se_test_fixtures());
    se_error err;
    se_model *m;
    if (se_model_load(dir, 0, 1, &m, &err)) fail_msg("%s", err.msg);
    snprintf(path, sizeof path, "%s/input.jsonl", dir);
    assert_int_equal(se_test_read_batch(path, &B), 0);
    se_workspace *ws;
    assert_int_equal(se_workspace_create(m, B.n_tok, B.n_tok, 0, &ws, &err), SE_OK);
    const float *h;
    if (se_model_forward(m, ws, B.ids, B.types, B.starts, B.n_seq, MPI_COMM_SELF, 0, &h, NULL, &err))
        fail_msg("%s", err.msg);
    D = m->cfg.d_model;
    hidden = malloc((size_t)B.n_tok * D * sizeof(float));
    memcpy(hidden, h, (size_t)B.n_tok * D * sizeof(float));
    se_workspace_free(ws);
    se_model_free(m);
}

static void compare(const se_head *h, const char *ref_name, const int32_t *skip, int norm)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/models/tiny_st/%s", se_test_fixtures(), ref_name);
    float *ref = NULL, *out = malloc((size_t)B.n_seq * h->d_out * sizeof(float));
    assert_int_equal(se_test_read_f32(path, &ref), (int64_t)B.n_seq * h->d_out);
    se_head_apply(h, out, hidden, B.starts, B.n_seq, skip, norm);
    double e = se_rel_err(out, ref, (size_t)B.n_seq * h->d_out);
    printf("  %-42s %.2e  [%s]\n", ref_name, e, h->desc);
    if (e > TOL) fail_msg("%s: %.3e", ref_name, e);
    free(ref);
    free(out);
}

static void test_folder_pipeline(void **state)
{
    (void)state;
    encode();
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/models/tiny_st", se_test_fixtures());
    se_head h;
    se_error err;
    if (se_head_load(dir, D, NULL, -1, &h, &err)) fail_msg("%s", err.msg);
    assert_true(h.from_folder);
    assert_int_equal(h.n_dense, 2);
    assert_int_equal(h.d_out, 8);
    assert_int_equal(h.normalize, 1);
    assert_int_equal(h.max_seq_length, 24);
    assert_non_null(strstr(h.desc, "pooling mean (from modules.json)"));
    assert_non_null(strstr(h.desc, "Dense 32->16 tanh, Dense 16->8 identity"));
    compare(&h, "ref_st.npy", NULL, 1);
    se_head_free(&h);
    /* --normalize off: the reference's rows are unit length, ours then are not */
    assert_int_equal(se_head_load(dir, D, NULL, 0, &h, &err), SE_OK);
    assert_int_equal(h.normalize, 0);
    assert_non_null(strstr(h.desc, "normalize off (from --normalize)"));
    se_head_free(&h);
}

static void test_modes(void **state)
{
    (void)state;
    /* a folder without modules.json: the default (cls) unless --pooling says otherwise */
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/models/tiny_bert", se_test_fixtures());
    se_head h;
    se_error err;
    assert_int_equal(se_head_load(dir, D, NULL, -1, &h, &err), SE_OK);
    assert_non_null(strstr(h.desc, "pooling cls (not configured by the model"));
    compare(&h, "ref_pool_cls.npy", NULL, 1);
    se_head_free(&h);
    static const char *const modes[] = {"cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"};
    int32_t *skip = malloc((size_t)B.n_seq * sizeof(int32_t));
    for (int s = 0; s < B.n_seq; s++) {
        int64_t len = B.starts[s + 1] - B.starts[s];
        skip[s] = (int32_t)(len - 1 < 3 ? len - 1 : 3);
    }
    for (int i = 0; i < 6; i++) {
        char ref[128];
        assert_int_equal(se_head_load(dir, D, modes[i], -1, &h, &err), SE_OK);
        snprintf(ref, sizeof ref, "ref_pool_%s.npy", modes[i]);
        compare(&h, ref, NULL, 1);
        compare(&h, ref, skip, 1); /* include_prompt true: skip is ignored */
        if (i != 0 && i != 5) {
            h.include_prompt = 0;
            snprintf(ref, sizeof ref, "ref_pool_%s_skip3.npy", modes[i]);
            compare(&h, ref, skip, 1);
        }
        se_head_free(&h);
    }
    free(skip);
    /* listed in any order, concatenated in sentence-transformers' order */
    assert_int_equal(se_head_load(dir, D, "lasttoken+mean+cls+max+weightedmean+mean_sqrt_len_tokens", -1, &h, &err),
                     SE_OK);
    assert_int_equal(h.d_out, 6 * D);
    compare(&h, "ref_pool_all.npy", NULL, 1);
    se_head_free(&h);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_refusals(void **state)
{
    (void)state;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/models/tiny_st", se_test_fixtures());
    se_head h;
    se_error err;
    /* --pooling that changes the width the Dense layers take */
    assert_int_equal(se_head_load(dir, D, "cls+mean", -1, &h, &err), SE_ESHAPE);
    assert_non_null(strstr(err.msg, "Dense module 1 takes in_features 32, but the pooling (2 modes x 32) gives 64"));
    assert_int_equal(se_head_load(dir, D, "median", -1, &h, &err), SE_EINVAL);
    assert_non_null(strstr(err.msg, "'median' is not one of"));
    char tmp[] = "/tmp/se_st_XXXXXX", p[1200], sub[1200];
    assert_non_null(mkdtemp(tmp));
    snprintf(p, sizeof p, "%s/modules.json", tmp);
    write_text(p, "[{\"idx\": 0, \"name\": \"0\", \"path\": \"\", \"type\": \"sentence_transformers.models.Transformer\"},"
                  " {\"idx\": 1, \"name\": \"1\", \"path\": \"1_CNN\", \"type\": \"sentence_transformers.models.CNN\"}]");
    assert_int_equal(se_head_load(tmp, D, NULL, -1, &h, &err), SE_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "module type 'sentence_transformers.models.CNN' is not supported"));
    write_text(p, "[{\"idx\": 1, \"name\": \"1\", \"path\": \"1_Pooling\", \"type\": \"sentence_transformers.models.Pooling\"}]");
    snprintf(sub, sizeof sub, "%s/1_Pooling", tmp);
    mkdir(sub, 0777);
    snprintf(sub, sizeof sub, "%s/1_Pooling/config.json", tmp);
    write_text(sub, "{\"pooling_mode_mean_tokens\": false, \"pooling_mode_median_tokens\": true}");
    assert_int_equal(se_head_load(tmp, D, NULL, -1, &h, &err), SE_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "1_Pooling/config.json: pooling_mode_median_tokens is not supported"));
    write_text(sub, "{\"pooling_mode\": \"mean\", \"include_prompt\": false}");
    assert_int_equal(se_head_load(tmp, D, NULL, -1, &h, &err), SE_OK);
    assert_int_equal(h.include_prompt, 0);
    assert_non_null(strstr(h.desc, "prompt tokens excluded"));
    se_head_free(&h);
    /* Pooling.__init__ defaults: mean on unless the key says otherwise */
    write_text(sub, "{\"pooling_mode_cls_token\": true}");
    assert_int_equal(se_head_load(tmp, D, NULL, -1, &h, &err), SE_OK);
    assert_int_equal(h.n_modes, 2);
    se_head_free(&h);
    write_text(sub, "{\"pooling_mode_mean_tokens\": false}");
    assert_int_equal(se_head_load(tmp, D, NULL, -1, &h, &err), SE_EFORMAT);
    assert_non_null(strstr(err.msg, "no pooling mode is enabled"));
    unlink(sub);
    snprintf(sub, sizeof sub, "%s/1_Pooling", tmp);
    rmdir(sub);
    unlink(p);
    rmdir(tmp);
    free(hidden);
    se_test_batch_free(&B);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_folder_pipeline),
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, se_test_mpi_setup, se_test_mpi_teardown);
}
