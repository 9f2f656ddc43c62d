/* --precision bf16 fidelity: every model fixture with a PyTorch float64
 * reference (tests/fixtures/models/<name>/ref_tokens.npy, written by
 * tests/ref/gen_reference.py, gen_families.py and gen_long.py from each
 * family's own modeling code) is loaded in bf16 and run under every GEMM
 * backend built in; the worst token row's cosine to the reference must be
 * >= 0.999 (the bound). The figures printed (worst row, relative
 * Frobenius error) are the README's "Precision" table.
 *
 * The test can fail in both directions: bf16 must really round (an fp32
 * checkpoint's rows move by more than the fp32 bound 1e-5, or the path is a
 * silent fp32), its layer matrices must take half the fp32 bytes, and fp32
 * loaded afterwards must still meet 1e-5. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "se_test_mpi.h"
#include "se_test_util.h"
#include "shardenc/kernels.h"
#include "shardenc/model.h"

#define MIN_COS 0.999

/* The smallest cosine between matching rows of a and b ([rows, d]), its row in *at. */
static double worst_cosine(const float *a, const float *b, int64_t rows, int d, int64_t *at)
{
    double worst = 2;
    for (int64_t r = 0; r < rows; r++) {
        double ab = 0, aa = 0, bb = 0;
        for (int i = 0; i < d; i++) {
            double x = a[r * d + i], y = b[r * d + i];
            ab += x * y, aa += x * x, bb += y * y;
        }
        double c = aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : (aa == bb ? 1 : 0);
        if (c < worst) worst = c, *at = r;
    }
    return worst;
}

typedef struct {
    double cos, rel;
    int64_t row;
    char name[64];
} worst_fig;

/* One fixture under the current backend and precision: the worst row cosine
 * and relative error to the reference; layer bytes in *lb. */
static void run(const char *name, worst_fig *f, size_t *lb)
{
    char dir[1024], path[1200];
    se_error err;
    se_test_batch b;
    assert_int_equal(se_test_fixture_batch(name, dir, sizeof dir, &b), 0);
    se_model *m;
    if (se_model_load(dir, 0, 1, &m, &err)) fail_msg("%s: %s", name, err.msg);
    int64_t maxlen = se_test_batch_maxlen(&b);
    se_workspace *ws;
    assert_int_equal(se_workspace_create(m, b.n_tok, maxlen, 0, &ws, &err), SE_OK);
    const float *h;
    if (se_model_forward(m, ws, b.ids, b.types, b.starts, b.n_seq, MPI_COMM_SELF, 0, &h, NULL, &err))
        fail_msg("%s: %s", name, err.msg);
    const int d = m->cfg.d_model;
    float *ref = NULL;
    snprintf(path, sizeof path, "%s/ref_tokens.npy", dir);
    assert_int_equal(se_test_read_f32(path, &ref), b.n_tok * d);
    f->cos = worst_cosine(h, ref, b.n_tok, d, &f->row);
    f->rel = se_rel_err(h, ref, (size_t)(b.n_tok * d));
    snprintf(f->name, sizeof f->name, "%s", name);
    *lb = m->layer_bytes;
    free(ref);
    se_test_batch_free(&b);
    se_workspace_free(ws);
    se_model_free(m);
}

static int by_name(const void *a, const void *b) { return strcmp(a, b); }

/* Fixture folders with a token reference, sorted (readdir order is the file system's). */
static int list_fixtures(char names[][64], int cap)
{
    char dir[1024], path[1400];
    snprintf(dir, sizeof dir, "%s/models", se_test_fixtures());
    DIR *dp = opendir(dir);
    assert_non_null(dp);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dp)) && n < cap) {
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s/ref_tokens.npy", dir, e->d_name);
        if (e->d_name[0] == '.' || stat(path, &sb) || strlen(e->d_name) >= 64) continue;
        snprintf(path, sizeof path, "%s/%s/input.jsonl", dir, e->d_name);
        if (stat(path, &sb)) continue;
        memcpy(names[n++], e->d_name, strlen(e->d_name) + 1); /* < 64, checked above */
    }
    closedir(dp);
    qsort(names, (size_t)n, 64, by_name);
    return n;
}

static void test_bf16_fidelity(void **state)
{
    (void)state;
    static char names[64][64];
    const int n = list_fixtures(names, 64);
    assert_true(n >= 10); /* the families' fixtures are there */
    se_error err;
    /* passes: OpenBLAS; OpenBLAS with the activations rounded to bf16 too (the
     * bf16-native scheme, emulated: its fidelity on a CPU without it); oneDNN */
    static const int pass_gemm[] = {SE_GEMM_OPENBLAS, SE_GEMM_OPENBLAS, SE_GEMM_ONEDNN}, pass_round[] = {0, 1, 0};
    for (int p = 0; p < 3; p++) {
        const int g = pass_gemm[p];
        if (!se_gemm_available((se_gemm_backend)g)) continue;
        assert_int_equal(se_gemm_select(se_gemm_name((se_gemm_backend)g), &err), SE_OK);
        se_gemm_set_bf16_round_inputs(pass_round[p]);
        const char *tag = pass_round[p] ? "+inputs" : "";
        worst_fig all = {.cos = 2}, rel = {.rel = 0};
        static size_t bytes_fp32; /* small_bert's fp32 layer bytes under OpenBLAS (the first backend) */
        int moved = 0;
        for (int i = 0; i < n; i++) {
            worst_fig f16;
            size_t lb16;
            assert_int_equal(se_gemm_set_precision("bf16", &err), SE_OK);
            run(names[i], &f16, &lb16);
            const char *path = se_gemm_precision_path();
            print_message("%-8s %-20s bf16 (%s%s): worst row %4lld cos %.6f, rel err %.2e\n",
                          se_gemm_name((se_gemm_backend)g), names[i], path, tag, (long long)f16.row, f16.cos, f16.rel);
            assert_true(!strcmp(path, "bf16-weights") || !strcmp(path, "bf16-native"));
            if (f16.cos < MIN_COS)
                fail_msg("%s: bf16 row %lld has cosine %.6f < %.3f", names[i], (long long)f16.row, f16.cos, MIN_COS);
            moved += f16.rel > 1e-4;
            if (f16.cos < all.cos) all = f16;
            if (f16.rel > rel.rel) rel = f16;
            if (strcmp(names[i], "small_bert") || pass_round[p]) continue;
            /* fp32 loaded after bf16 stays exact; bf16's layer matrices take half
             * the bytes of the fp32 ones read in place (OpenBLAS: no packed copy;
             * biases stay fp32, hence a little over 0.5) */
            worst_fig f32;
            size_t lb32;
            assert_int_equal(se_gemm_set_precision("fp32", &err), SE_OK);
            run(names[i], &f32, &lb32);
            assert_true(f32.rel <= 1e-5);
            if (g == SE_GEMM_OPENBLAS) bytes_fp32 = lb32;
            print_message("%-8s %-20s layer bytes bf16 / fp32 in place %.3f\n", se_gemm_name((se_gemm_backend)g),
                          names[i], (double)lb16 / (double)bytes_fp32);
            assert_true((double)lb16 / (double)bytes_fp32 > 0.49 && (double)lb16 / (double)bytes_fp32 < 0.51);
        }
        /* bf16 really rounds: the fp32 checkpoints (most fixtures) move well past fp32's bound;
         * rounding the inputs too moves the bf16 checkpoints as well */
        assert_true(moved >= (pass_round[p] ? n : n / 2));
        print_message("%-8s%s worst row over %d fixtures: %s row %lld cos %.6f; largest rel err %s %.2e\n",
                      se_gemm_name((se_gemm_backend)g), tag, n, all.name, (long long)all.row, all.cos, rel.name,
                      rel.rel);
    }
    se_gemm_set_bf16_round_inputs(0);
    assert_int_equal(se_gemm_set_precision("fp32", &err), SE_OK);
    assert_int_equal(se_gemm_select("auto", &err), SE_OK);
}

static void test_bf16_names(void **state)
{
    (void)state;
    se_error err;
    assert_int_equal(se_gemm_set_precision("fp16", &err), SE_EINVAL);
    assert_non_null(strstr(err.msg, "fp32, bf16"));
    assert_int_equal(se_gemm_set_precision(NULL, &err), SE_OK);
    assert_int_equal(se_gemm_precision(), SE_PREC_FP32);
    assert_string_equal(se_gemm_precision_path(), "fp32");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_bf16_names), cmocka_unit_test(test_bf16_fidelity)};
    return cmocka_run_group_tests(tests, se_test_mpi_setup, se_test_mpi_teardown);
}
