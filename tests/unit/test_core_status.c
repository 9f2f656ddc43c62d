/* Core: error messages, aligned allocation, overflow checks, file reading. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shardenc/core.h"

static void test_error_set_and_prefix(void **state)
{
    (void)state;
    se_error err;
    se_error_clear(&err);
    assert_int_equal(se_error_set(&err, SE_EIO, "%s: cannot open", "a.bin"), SE_EIO);
    assert_string_equal(err.msg, "a.bin: cannot open");
    se_error_prefix(&err, "loading %s: ", "model");
    assert_string_equal(err.msg, "loading model: a.bin: cannot open");
    assert_int_equal(err.code, SE_EIO);
    assert_string_equal(se_status_name(SE_ESHAPE), "shape mismatch");
    assert_string_equal(se_status_name((se_status)999), "unknown status");
}

static void test_alloc_aligned_and_overflow(void **state)
{
    (void)state;
    float *p = se_alloc(1000, sizeof(float));
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % SE_ALIGN, 0);
    se_free(p);
    assert_null(se_alloc(SIZE_MAX / 2, 4));
    size_t out;
    assert_int_equal(se_mul_overflow(SIZE_MAX / 2, 3, &out), -1);
    assert_int_equal(se_mul_overflow(6, 7, &out), 0);
    assert_int_equal(out, 42);
    int *z = se_calloc(17, sizeof(int));
    for (int i = 0; i < 17; i++) assert_int_equal(z[i], 0);
    se_free(z);
}

static void test_read_file(void **state)
{
    (void)state;
    char path[] = "/tmp/se_core_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "hello", 5), 5);
    close(fd);
    char *buf;
    size_t len;
    se_error err;
    assert_int_equal(se_read_file(path, 100, &buf, &len, &err), SE_OK);
    assert_int_equal(len, 5);
    assert_string_equal(buf, "hello");
    free(buf);
    assert_int_equal(se_read_file(path, 3, &buf, &len, &err), SE_EFORMAT);
    assert_non_null(strstr(err.msg, path));
    unlink(path);
    assert_int_equal(se_read_file(path, 100, &buf, &len, &err), SE_EIO);
    assert_non_null(strstr(err.msg, "cannot open"));
}

static void test_rss_and_time(void **state)
{
    (void)state;
    assert_true(se_peak_rss_bytes() > 0);
    assert_true(se_peak_rss_bytes() >= se_current_rss_bytes() / 2);
    double t0 = se_time_now();
    assert_true(se_time_now() >= t0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_set_and_prefix),
        cmocka_unit_test(test_alloc_aligned_and_overflow),
        cmocka_unit_test(test_read_file),
        cmocka_unit_test(test_rss_and_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
