/* io/npy: headers byte-identical to numpy.save (literals pasted from numpy
 * 1.24's write_array_header_1_0), write -> read roundtrip, refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shardenc/io.h"

static const struct {
    const char *descr;
    int ndim;
    int64_t shape[14];
    const char *dict; /* everything after the 10-byte prefix, as numpy writes it */
} cases[] = {
    {"<f4", 2, {3, 4}, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }                                                          \n"},
    {"<i8", 1, {5}, "{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }                                                            \n"},
    {"<f4", 0, {0}, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }                                                              \n"},
    /* here numpy's 21-digit growth padding pushes the header to 192 bytes */
    {"<f4", 14, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14), }                                                                                 \n"},
    {"<f4", 2, {100000, 768}, "{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 768), }                                                   \n"},
};

static char g_path[64];

static void test_header_matches_numpy(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[512];
        size_t n = se_npy_header(buf, sizeof buf, cases[i].descr, cases[i].ndim, cases[i].shape);
        size_t dl = strlen(cases[i].dict);
        assert_int_equal(n, 10 + dl);
        assert_int_equal(n % 64, 0);
        assert_memory_equal(buf, "\x93NUMPY\x01\x00", 8);
        assert_int_equal((unsigned char)buf[8] | (unsigned char)buf[9] << 8, dl);
        assert_memory_equal(buf + 10, cases[i].dict, dl);
        assert_int_equal(se_npy_header(buf, n - 1, cases[i].descr, cases[i].ndim, cases[i].shape), 0);
    }
    int64_t neg = -1;
    char buf[256];
    assert_int_equal(se_npy_header(buf, sizeof buf, "<f4", 1, &neg), 0);
}

static void test_roundtrip(void **state)
{
    (void)state;
    se_error err;
    float a[12];
    for (int i = 0; i < 12; i++) a[i] = (float)i * 0.25f - 1.0f;
    int64_t shp[2] = {3, 4};
    assert_int_equal(se_npy_write(g_path, "<f4", 2, shp, a, 4, &err), SE_OK);
    char descr[8];
    int nd;
    int64_t s[4];
    void *data;
    assert_int_equal(se_npy_read(g_path, descr, &nd, s, &data, &err), SE_OK);
    assert_string_equal(descr, "<f4");
    assert_int_equal(nd, 2);
    assert_int_equal(s[0], 3);
    assert_int_equal(s[1], 4);
    assert_memory_equal(data, a, sizeof a);
    free(data);
    /* the file on disk is header + raw data, 128 + 48 bytes */
    FILE *f = fopen(g_path, "rb");
    fseek(f, 0, SEEK_END);
    assert_int_equal(ftell(f), 128 + 48);
    fclose(f);

    int64_t ids[3] = {5, -1, INT64_MAX}, n3 = 3;
    assert_int_equal(se_npy_write(g_path, "<i8", 1, &n3, ids, 8, &err), SE_OK);
    assert_int_equal(se_npy_read(g_path, descr, &nd, s, &data, &err), SE_OK);
    assert_string_equal(descr, "<i8");
    assert_int_equal(nd, 1);
    assert_int_equal(s[0], 3);
    assert_memory_equal(data, ids, sizeof ids);
    free(data);

    int64_t z[2] = {0, 7};
    assert_int_equal(se_npy_write(g_path, "<f4", 2, z, NULL, 4, &err), SE_OK);
    assert_int_equal(se_npy_read(g_path, descr, &nd, s, &data, &err), SE_OK);
    assert_int_equal(nd, 2);
    assert_int_equal(s[0], 0);
    assert_int_equal(s[1], 7);
    free(data);
    float sc = 2.5f;
    assert_int_equal(se_npy_write(g_path, "<f4", 0, NULL, &sc, 4, &err), SE_OK);
    assert_int_equal(se_npy_read(g_path, descr, &nd, s, &data, &err), SE_OK);
    assert_int_equal(nd, 0);
    assert_true(*(float *)data == 2.5f);
    free(data);
    assert_int_equal(se_npy_write("/nonexistent-dir/x.npy", "<f4", 0, NULL, &sc, 4, &err), SE_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x.npy"));
}

/* Writes prefix + dict (padded to 64 with '\n') + nbytes of zeros. */
static void write_raw(const char *dict, size_t nbytes, int version)
{
    char buf[512];
    size_t dl = strlen(dict), pre = version == 1 ? 10 : 12;
    size_t total = (pre + dl + 1 + 63) / 64 * 64;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (char)version;
    buf[7] = 0;
    size_t hl = total - pre;
    buf[8] = (char)(hl & 0xff);
    buf[9] = (char)(hl >> 8);
    if (version != 1) buf[10] = buf[11] = 0;
    memcpy(buf + pre, dict, dl);
    memset(buf + pre + dl, ' ', total - pre - dl);
    buf[total - 1] = '\n';
    FILE *f = fopen(g_path, "wb");
    fwrite(buf, 1, total, f);
    for (size_t i = 0; i < nbytes; i++) fputc(0, f);
    fclose(f);
}

static void expect_read(se_status code, const char *msg)
{
    char descr[8];
    int nd;
    int64_t s[4];
    void *data = (void *)1;
    se_error err;
    se_error_clear(&err);
    se_status st = se_npy_read(g_path, descr, &nd, s, &data, &err);
    if (st != code) fail_msg("expected %s, got %s: %s", se_status_name(code), se_status_name(st), err.msg);
    if (st == SE_OK) {
        free(data);
        return;
    }
    assert_null(data);
    if (!strstr(err.msg, msg) || !strstr(err.msg, g_path)) fail_msg("message lacks '%s' or the path: %s", msg, err.msg);
}

static void test_read_variants_and_refusals(void **state)
{
    (void)state;
    /* key order and quoting other writers use; version 2.0 */
    write_raw("{\"shape\": (2, 3), \"fortran_order\": False, \"descr\": \"<f4\"}", 24, 1);
    expect_read(SE_OK, NULL);
    write_raw("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", 16, 2);
    expect_read(SE_OK, NULL);
    write_raw("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24, 1);
    expect_read(SE_EUNSUPPORTED, "Fortran");
    write_raw("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 24, 1);
    expect_read(SE_EUNSUPPORTED, "dtype '<f8'");
    write_raw("{'descr': '>f4', 'fortran_order': False, 'shape': (3,), }", 12, 1);
    expect_read(SE_EUNSUPPORTED, "dtype '>f4'");
    write_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1), }", 4, 1);
    expect_read(SE_EUNSUPPORTED, "more than 4 dimensions");
    write_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", 47, 1);
    expect_read(SE_EFORMAT, "needs 48 bytes of data, the file holds 47");
    write_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", 49, 1);
    expect_read(SE_EFORMAT, "needs 48 bytes");
    write_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (-3, 4), }", 0, 1);
    expect_read(SE_EFORMAT, "malformed");
    write_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999, 99999999999), }", 0, 1);
    expect_read(SE_EFORMAT, "malformed");
    write_raw("{'descr': '<f4', 'shape': (3,), }", 12, 1);
    expect_read(SE_EFORMAT, "malformed");
    write_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}", 12, 1);
    expect_read(SE_EFORMAT, "malformed");
    write_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 12, 7);
    expect_read(SE_EUNSUPPORTED, "version 7.0");
    FILE *f = fopen(g_path, "wb");
    fwrite("PK\x03\x04 not npy", 1, 12, f);
    fclose(f);
    expect_read(SE_EFORMAT, "bad magic");
    f = fopen(g_path, "wb");
    fwrite("\x93NUMPY\x01\x00\xff\x00{", 1, 11, f);
    fclose(f);
    expect_read(SE_EFORMAT, "past the end");
    unlink(g_path);
    expect_read(SE_EIO, "cannot open");
}

int main(void)
{
    snprintf(g_path, sizeof g_path, "/tmp/se_io_npy_%ld.npy", (long)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_matches_numpy),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_read_variants_and_refusals),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(g_path);
    return rc;
}
