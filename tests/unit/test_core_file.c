/* core: the file helpers on a real file system: atomic commit leaves the
 * whole file or nothing, short reads are errors naming the file, FNV-1a
 * matches the published test vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glob.h>

#include "shardenc/core.h"
#include "se_test_util.h"

#define g_dir se_test_dir

/* files in dir, temp files included (glob's "*" skips only dot files) */
static int n_entries(const char *dir)
{
    char pat[128];
    snprintf(pat, sizeof pat, "%s/*", dir);
    glob_t g;
    int n = glob(pat, 0, NULL, &g) == 0 ? (int)g.gl_pathc : 0;
    globfree(&g);
    return n;
}

static void test_commit_whole_or_nothing(void **state)
{
    (void)state;
    char p[128];
    snprintf(p, sizeof p, "%s/out.bin", g_dir);
    se_error err;
    assert_int_equal(se_file_commit(p, "head", 4, "tail!", 5, &err), SE_OK);
    char buf[16] = {0};
    int fd = open(p, O_RDONLY);
    assert_int_equal(read(fd, buf, sizeof buf), 9);
    close(fd);
    assert_string_equal(buf, "headtail!");
    assert_int_equal(n_entries(g_dir), 1); /* no temp file left */
    /* a folder that does not exist: an error naming the temp path, nothing left */
    snprintf(p, sizeof p, "%s/nope/out.bin", g_dir);
    assert_int_equal(se_file_commit(p, "x", 1, NULL, 0, &err), SE_EIO);
    assert_non_null(strstr(err.msg, "/nope/out.bin"));
    assert_non_null(strstr(err.msg, "No such file"));
    /* the name is taken by a directory: the rename fails, the temp file is removed */
    snprintf(p, sizeof p, "%s/dir", g_dir);
    assert_int_equal(mkdir(p, 0755), 0);
    assert_int_equal(se_file_commit(p, "x", 1, NULL, 0, &err), SE_EIO);
    assert_non_null(strstr(err.msg, "cannot rename"));
    assert_int_equal(n_entries(g_dir), 2);
}

static void test_short_read_and_hash(void **state)
{
    (void)state;
    char p[128];
    snprintf(p, sizeof p, "%s/h.bin", g_dir);
    se_error err;
    assert_int_equal(se_file_commit(p, "a", 1, NULL, 0, &err), SE_OK);
    int fd = open(p, O_RDONLY);
    char buf[4];
    assert_int_equal(se_pread_full(fd, buf, 1, 0, p, &err), SE_OK);
    assert_int_equal(se_pread_full(fd, buf, 2, 0, p, &err), SE_EIO);
    assert_non_null(strstr(err.msg, "h.bin"));
    assert_non_null(strstr(err.msg, "shorter than expected"));
    assert_int_equal(se_fd_close(&fd, p, &err), SE_OK);
    assert_int_equal(fd, -1);
    /* FNV-1a 64 test vectors (Fowler/Noll/Vo reference: "" and "a", "foobar") */
    assert_true(se_fnv1a64(SE_FNV_INIT, "", 0) == 0xcbf29ce484222325ULL);
    assert_true(se_fnv1a64(SE_FNV_INIT, "a", 1) == 0xaf63dc4c8601ec8cULL);
    assert_true(se_fnv1a64(SE_FNV_INIT, "foobar", 6) == 0x85944171f73967e8ULL);
    uint64_t h = 0;
    assert_int_equal(se_hash_file(p, &h, &err), SE_OK);
    assert_true(h == 0xaf63dc4c8601ec8cULL);
    snprintf(p, sizeof p, "%s/missing", g_dir);
    assert_int_equal(se_hash_file(p, &h, &err), SE_EIO);
    assert_non_null(strstr(err.msg, "missing: cannot open"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commit_whole_or_nothing),
        cmocka_unit_test(test_short_read_and_hash),
    };
    return cmocka_run_group_tests(tests, se_test_dir_setup, se_test_dir_teardown);
}
