/* "No allocation in the per-layer hot path" (DESIGN.md), counted: this test
 * program defines malloc and friends itself (an executable's definitions
 * take precedence over glibc's for every library of the process: ours,
 * OpenBLAS, libgomp, oneDNN), forwards them to glibc's __libc_* entry points
 * and counts the calls made while a forward runs. After one warm-up forward
 * of the batch's shape (OpenBLAS's buffer pool, the OpenMP team, oneDNN's
 * memory objects are made then), a second forward of the same shape must
 * make no allocation from shardenc's own code (the caller of malloc is
 * classified by the object it lives in, dladdr), fp32 and bf16, both
 * backends. The libraries' own calls are printed, not bounded (measured:
 * OpenBLAS 0.3.21's threaded sgemm mallocs its job array per call, libgomp
 * allocates a team or work share per parallel region, oneDNN builds its
 * argument map per execute; README "Kernels"). Skipped under
 * AddressSanitizer, which owns malloc. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "se_test_mpi.h"
#include "se_test_util.h"
#include "shardenc/kernels.h"
#include "shardenc/model.h"

#if defined(__SANITIZE_ADDRESS__)
#define SE_COUNT_ALLOC 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SE_COUNT_ALLOC 0
#endif
#endif
#ifndef SE_COUNT_ALLOC
#define SE_COUNT_ALLOC 1
#endif

#if SE_COUNT_ALLOC
#include <dlfcn.h>
#include <errno.h>
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static int g_counting;
static long g_allocs;
#define MAX_SEEN 4096
static void *g_caller[MAX_SEEN]; /* the return address of each counted call */

#define counted()                                                                                                      \
    do {                                                                                                               \
        if (__atomic_load_n(&g_counting, __ATOMIC_RELAXED)) {                                                          \
            long k_ = __atomic_fetch_add(&g_allocs, 1, __ATOMIC_RELAXED);                                              \
            if (k_ < MAX_SEEN) g_caller[k_] = __builtin_return_address(0);                                             \
        }                                                                                                              \
    } while (0)

void *malloc(size_t n)
{
    counted();
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t s)
{
    counted();
    return __libc_calloc(n, s);
}
void *realloc(void *p, size_t n)
{
    counted();
    return __libc_realloc(p, n);
}
void free(void *p) { __libc_free(p); }
void *aligned_alloc(size_t a, size_t n)
{
    counted();
    return __libc_memalign(a, n);
}
void *memalign(size_t a, size_t n)
{
    counted();
    return __libc_memalign(a, n);
}
int posix_memalign(void **out, size_t a, size_t n)
{
    counted();
    void *p = __libc_memalign(a, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

/* Allocations made by the second of two forwards of the fixture's batch:
 * *ours those called from this executable (shardenc is linked in statically),
 * the rest by library in `libs`. */
static long forward_allocs(const char *name, long *ours, char *libs, size_t cap)
{
    char dir[1024];
    se_error err;
    se_test_batch b;
    assert_int_equal(se_test_fixture_batch(name, dir, sizeof dir, &b), 0);
    se_model *m;
    if (se_model_load(dir, 0, 1, &m, &err)) fail_msg("%s: %s", name, err.msg);
    se_workspace *ws;
    assert_int_equal(se_workspace_create(m, b.n_tok, b.n_tok, 0, &ws, &err), SE_OK);
    const float *h;
    assert_int_equal(se_model_forward(m, ws, b.ids, b.types, b.starts, b.n_seq, MPI_COMM_SELF, 0, &h, NULL, &err),
                     SE_OK);
    g_allocs = 0;
    __atomic_store_n(&g_counting, 1, __ATOMIC_SEQ_CST);
    se_status st = se_model_forward(m, ws, b.ids, b.types, b.starts, b.n_seq, MPI_COMM_SELF, 0, &h, NULL, &err);
    __atomic_store_n(&g_counting, 0, __ATOMIC_SEQ_CST);
    assert_int_equal(st, SE_OK);
    se_workspace_free(ws);
    se_model_free(m);
    se_test_batch_free(&b);
    const long n = __atomic_load_n(&g_allocs, __ATOMIC_SEQ_CST);
    Dl_info self, in;
    assert_true(dladdr((void *)&forward_allocs, &self));
    *ours = 0;
    libs[0] = 0;
    for (long k = 0; k < n && k < MAX_SEEN; k++) {
        if (!dladdr(g_caller[k], &in) || in.dli_fbase == self.dli_fbase) {
            ++*ours;
        } else {
            const char *base = strrchr(in.dli_fname, '/') ? strrchr(in.dli_fname, '/') + 1 : in.dli_fname;
            if (!strstr(libs, base) && strlen(libs) + strlen(base) + 2 < cap) strcat(strcat(libs, " "), base);
        }
    }
    return n;
}

static void test_forward_allocates_nothing(void **state)
{
    (void)state;
    se_error err;
    /* the counter counts: a malloc in the window is seen */
    __atomic_store_n(&g_counting, 1, __ATOMIC_SEQ_CST);
    void *volatile p = malloc(16);
    __atomic_store_n(&g_counting, 0, __ATOMIC_SEQ_CST);
    free(p);
    assert_int_equal(g_allocs, 1);
    assert_true(g_caller[0] != NULL);
    static const char *const models[] = {"small_bert", "tiny_modernbert", "tiny_mpnet"};
    for (int g = SE_GEMM_OPENBLAS; g <= SE_GEMM_ONEDNN; g++) {
        if (!se_gemm_available((se_gemm_backend)g)) continue;
        assert_int_equal(se_gemm_select(se_gemm_name((se_gemm_backend)g), &err), SE_OK);
        for (int prec = 0; prec < 2; prec++) {
            assert_int_equal(se_gemm_set_precision(prec ? "bf16" : "fp32", &err), SE_OK);
            for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
                long ours;
                char libs[256];
                const long n = forward_allocs(models[i], &ours, libs, sizeof libs);
                print_message("%-8s %s %-16s allocations in one forward: %ld by shardenc, %ld by%s\n",
                              se_gemm_name((se_gemm_backend)g), prec ? "bf16" : "fp32", models[i], ours, n - ours,
                              n > ours ? libs : " none");
                assert_true(n <= MAX_SEEN);
                assert_int_equal(ours, 0);
            }
        }
    }
    assert_int_equal(se_gemm_set_precision("fp32", &err), SE_OK);
    assert_int_equal(se_gemm_select("auto", &err), SE_OK);
}
#else
static void test_forward_allocates_nothing(void **state)
{
    (void)state;
    skip(); /* AddressSanitizer owns malloc */
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_forward_allocates_nothing)};
    return cmocka_run_group_tests(tests, se_test_mpi_setup, se_test_mpi_teardown);
}
