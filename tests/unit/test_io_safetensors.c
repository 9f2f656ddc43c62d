/* io/safetensors: every malformed file the spec forbids is refused with a
 * message naming the file (and tensor); good files, incl. unaligned data,
 * metadata, empty tensors and scalars, read back exactly; f16/bf16
 * conversion checked exhaustively and against numpy/torch values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shardenc/io.h"

static char g_path[256];

/* Builds 8-byte N + header (padded with `pad` spaces) + data bytes. */
static uint8_t *build(const char *hdr, size_t pad, const void *data, size_t dlen, size_t *len)
{
    size_t hl = strlen(hdr) + pad;
    *len = 8 + hl + dlen;
    uint8_t *b = malloc(*len);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, hdr, strlen(hdr));
    memset(b + 8 + strlen(hdr), ' ', pad);
    if (dlen) memcpy(b + 8 + hl, data, dlen);
    return b;
}

static void write_bytes(const void *b, size_t len)
{
    FILE *f = fopen(g_path, "wb");
    assert_non_null(f);
    if (len) assert_int_equal(fwrite(b, 1, len, f), len);
    fclose(f);
}

/* Writes the file, opens it, expects `code` and each of the NULL-terminated
 * substrings (plus the path) in the message. Also runs the buffer variant. */
static void expect_bad(const uint8_t *b, size_t len, se_status code, ...)
{
    write_bytes(b, len);
    se_st_file *f = (se_st_file *)1;
    se_error err;
    se_error_clear(&err);
    se_status st = se_st_open(g_path, &f, &err);
    if (st != code) fail_msg("expected %s, got %s: %s", se_status_name(code), se_status_name(st), err.msg);
    assert_null(f);
    if (!strstr(err.msg, g_path)) fail_msg("message does not name the file: %s", err.msg);
    va_list ap;
    va_start(ap, code);
    for (const char *s; (s = va_arg(ap, const char *));)
        if (!strstr(err.msg, s)) fail_msg("message lacks '%s': %s", s, err.msg);
    va_end(ap);
    se_error err2;
    assert_int_equal(se_st_open_buffer(b, len, "buf.safetensors", &f, &err2), code);
    assert_non_null(strstr(err2.msg, "buf.safetensors"));
}

static void bad_hdr(const char *hdr, size_t dlen, se_status code, const char *s1, const char *s2)
{
    uint8_t data[64] = {0};
    size_t len;
    uint8_t *b = build(hdr, 0, data, dlen, &len);
    expect_bad(b, len, code, s1, s2, (const char *)NULL);
    free(b);
}

static void test_bad_lengths(void **state)
{
    (void)state;
    uint8_t five[5] = {2, 0, 0, 0, 0};
    expect_bad(five, 5, SE_EFORMAT, "too short", (const char *)NULL);
    expect_bad(five, 0, SE_EFORMAT, "too short", (const char *)NULL);
    uint8_t big[16] = {0};
    uint64_t n = 100000001;
    for (int i = 0; i < 8; i++) big[i] = (uint8_t)(n >> (8 * i));
    expect_bad(big, 16, SE_EFORMAT, "100000001", "exceeds", (const char *)NULL);
    uint8_t past[12] = {5, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' '};
    expect_bad(past, 12, SE_EFORMAT, "past the end", (const char *)NULL);
    uint8_t huge[12] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}', ' ', ' '};
    expect_bad(huge, 12, SE_EFORMAT, "exceeds", (const char *)NULL);
}

static void test_bad_header_text(void **state)
{
    (void)state;
    bad_hdr(" {}", 0, SE_EFORMAT, "start with '{'", NULL);
    bad_hdr("", 0, SE_EFORMAT, "start with '{'", NULL);
    bad_hdr("{\"a\xff\": 1}", 0, SE_EFORMAT, "UTF-8", NULL);
    bad_hdr("{\"\xc0\xaf\": 1}", 0, SE_EFORMAT, "UTF-8", NULL);   /* overlong '/' */
    bad_hdr("{\"\xed\xa0\x80\": 1}", 0, SE_EFORMAT, "UTF-8", NULL); /* surrogate */
    bad_hdr("{\"a\": ", 0, SE_EFORMAT, "not valid JSON", NULL);
    bad_hdr("{}\n", 0, SE_EFORMAT, "padding", NULL);
    bad_hdr("{} x", 0, SE_EFORMAT, "not valid JSON", NULL);
    bad_hdr("[]", 0, SE_EFORMAT, "start with '{'", NULL);
    bad_hdr("{}{}", 0, SE_EFORMAT, "not valid JSON", NULL);
    bad_hdr("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
            " \"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
            8, SE_EFORMAT, "duplicate", NULL);
}

static void test_bad_entries(void **state)
{
    (void)state;
    bad_hdr("{\"enc.w\": {\"dtype\": \"F31\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, SE_EFORMAT, "'enc.w'",
            "unknown dtype 'F31'");
    bad_hdr("{\"enc.w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4, SE_EFORMAT, "'enc.w'", "missing \"dtype\"");
    bad_hdr("{\"enc.w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4, SE_EFORMAT, "'enc.w'",
            "missing \"shape\"");
    bad_hdr("{\"enc.w\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4, SE_EFORMAT, "'enc.w'", "missing \"data_offsets\"");
    bad_hdr("{\"enc.w\": {\"dtype\": 5, \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, SE_EFORMAT, "'enc.w'",
            "\"dtype\" must be a string");
    bad_hdr("{\"enc.w\": {\"dtype\": \"F32\", \"shape\": \"1\", \"data_offsets\": [0, 4]}}", 4, SE_EFORMAT, "'enc.w'",
            "\"shape\" must be an array");
    bad_hdr("{\"enc.w\": {\"dtype\": \"F32\", \"shape\": [1.0], \"data_offsets\": [0, 4]}}", 4, SE_EFORMAT,
            "'enc.w'", "shape[0] must be an integer");
    bad_hdr("{\"enc.w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", 4, SE_EFORMAT, "'enc.w'",
            "[begin, end]");
    bad_hdr("{\"enc.w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, \"4\"]}}", 4, SE_EFORMAT,
            "'enc.w'", "non-negative integers");
    bad_hdr("{\"enc.w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 4, SE_EFORMAT, "'enc.w'",
            "non-negative integers");
    bad_hdr("{\"enc.w\": [1, 2]}", 0, SE_EFORMAT, "'enc.w'", "must be an object");
    bad_hdr("{\"enc.w\": {\"dtype\": \"F32\", \"shape\": [2, -1], \"data_offsets\": [0, 4]}}", 4, SE_EFORMAT,
            "'enc.w'", "shape[1] is negative (-1)");
    bad_hdr("{\"enc.w\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 16], \"data_offsets\": [0, 4]}}",
            4, SE_EFORMAT, "'enc.w'", "overflows");
    bad_hdr("{\"enc.w\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904], \"data_offsets\": [0, 4]}}", 4,
            SE_EFORMAT, "'enc.w'", "byte size overflows");
    bad_hdr("{\"enc.w\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 4]}}", 4,
            SE_EUNSUPPORTED, "'enc.w'", "9 dimensions");
    bad_hdr("{\"enc.w\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8, SE_EFORMAT, "'enc.w'",
            "span 8 bytes but F32 shape needs 12");
    bad_hdr("{\"enc.w\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [8, 4]}}", 8, SE_EFORMAT, "'enc.w'",
            "begin 8 > end 4");
}

static void test_bad_layout(void **state)
{
    (void)state;
    /* overlap: b starts inside a */
    bad_hdr("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
            " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
            12, SE_EFORMAT, "'b'", "overlaps");
    /* hole between a and b */
    bad_hdr("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
            " \"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 12]}}",
            12, SE_EFORMAT, "'b'", "hole");
    /* hole at the start */
    bad_hdr("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8, SE_EFORMAT, "'a'", "hole");
    /* extra bytes after the last tensor */
    bad_hdr("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 6, SE_EFORMAT,
            "cover 4 bytes", "has 6 bytes");
    /* tensor past the end of the file */
    bad_hdr("{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 8, SE_EFORMAT, "'a'",
            "past the end of the data section");
    /* data but no tensors */
    bad_hdr("{}", 4, SE_EFORMAT, "cover 0 bytes", NULL);
    /* same range twice */
    bad_hdr("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
            " \"b\": {\"dtype\": \"I32\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
            4, SE_EFORMAT, "overlaps", NULL);
    bad_hdr("{\"__metadata__\": {\"format\": 1}}", 0, SE_EFORMAT, "__metadata__ key 'format'", "string");
    bad_hdr("{\"__metadata__\": [\"pt\"]}", 0, SE_EFORMAT, "__metadata__ must be an object", NULL);
}

static se_st_file *open_ok(const uint8_t *b, size_t len)
{
    write_bytes(b, len);
    se_st_file *f = NULL;
    se_error err;
    se_status st = se_st_open(g_path, &f, &err);
    if (st) fail_msg("%s", err.msg);
    return f;
}

static void test_good_unaligned_metadata_empty(void **state)
{
    (void)state;
    /* header of odd length, so the data section starts at an odd offset;
     * tensors listed out of offset order */
    const char *hdr = "{\"__metadata__\": {\"format\": \"pt\", \"k\": \"v\"},"
                      "\"w\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [8, 32]},"
                      "\"s\": {\"dtype\": \"F64\", \"shape\": [], \"data_offsets\": [0, 8]},"
                      "\"z\": {\"dtype\": \"F16\", \"shape\": [0, 5], \"data_offsets\": [32, 32]},"
                      "\"e\": {\"dtype\": \"BF16\", \"shape\": [3, 0], \"data_offsets\": [32, 32]},"
                      "\"h\": {\"dtype\": \"F16\", \"shape\": [3], \"data_offsets\": [32, 38]},"
                      "\"g\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [38, 42]},"
                      "\"i\": {\"dtype\": \"I32\", \"shape\": [1], \"data_offsets\": [42, 46], \"extra\": 1},"
                      "\"end\": {\"dtype\": \"U8\", \"shape\": [0], \"data_offsets\": [46, 46]}}";
    uint8_t data[46];
    double sc = -1.25;
    memcpy(data, &sc, 8);
    float w[6] = {1, 2, 3, 4, 5, 6};
    memcpy(data + 8, w, 24);
    uint16_t h[3] = {0x3c00, 0xc100, 0x0001}, g[2] = {0x3f80, 0x4049};
    for (int i = 0; i < 3; i++) data[32 + 2 * i] = (uint8_t)h[i], data[33 + 2 * i] = (uint8_t)(h[i] >> 8);
    for (int i = 0; i < 2; i++) data[38 + 2 * i] = (uint8_t)g[i], data[39 + 2 * i] = (uint8_t)(g[i] >> 8);
    memset(data + 42, 7, 4);
    size_t pad = strlen(hdr) % 2 ? 0 : 1, len;
    uint8_t *b = build(hdr, pad, data, sizeof data, &len);
    assert_int_equal((8 + strlen(hdr) + pad) % 2, 1);
    se_st_file *f = open_ok(b, len);
    assert_int_equal(se_st_count(f), 8);
    assert_string_equal(se_st_at(f, 0)->name, "e"); /* sorted by name */
    assert_string_equal(se_st_at(f, 7)->name, "z");
    assert_null(se_st_at(f, 8));
    assert_string_equal(se_st_metadata(f, "format"), "pt");
    assert_string_equal(se_st_metadata(f, "k"), "v");
    assert_null(se_st_metadata(f, "nope"));
    assert_null(se_st_find(f, "nope"));
    assert_string_equal(se_st_path(f), g_path);
    se_error err;
    float out[8];

    const se_st_tensor *t = se_st_find(f, "w");
    assert_non_null(t);
    assert_int_equal(t->dtype, SE_DT_F32);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->numel, 6);
    assert_int_equal(t->offset, 8);
    assert_int_equal(se_st_read_f32(f, t, 0, 2, 0, 3, out, &err), SE_OK);
    for (int i = 0; i < 6; i++) assert_true(out[i] == w[i]);

    t = se_st_find(f, "s");
    assert_int_equal(t->ndim, 0);
    assert_int_equal(t->numel, 1);
    assert_int_equal(se_st_read_f32(f, t, 0, 1, 0, 1, out, &err), SE_OK);
    assert_true(out[0] == -1.25f);

    t = se_st_find(f, "z");
    assert_int_equal(t->numel, 0);
    assert_int_equal(t->nbytes, 0);
    assert_int_equal(se_st_read_f32(f, t, 0, 0, 0, 5, out, &err), SE_OK);
    assert_int_equal(se_st_read_f32(f, t, 0, 1, 0, 5, out, &err), SE_EINVAL);
    t = se_st_find(f, "e");
    assert_int_equal(se_st_read_f32(f, t, 0, 3, 0, 0, out, &err), SE_OK);

    t = se_st_find(f, "h");
    assert_int_equal(se_st_read_f32(f, t, 0, 3, 0, 1, out, &err), SE_OK);
    assert_true(out[0] == 1.0f && out[1] == -2.5f && out[2] == 0x1p-24f);
    t = se_st_find(f, "g");
    assert_int_equal(se_st_read_f32(f, t, 1, 1, 0, 1, out, &err), SE_OK);
    assert_true(out[0] == 3.140625f);

    t = se_st_find(f, "i");
    assert_int_equal(se_st_read_f32(f, t, 0, 1, 0, 1, out, &err), SE_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "'i'"));
    assert_non_null(strstr(err.msg, "I32"));
    assert_non_null(strstr(err.msg, g_path));
    se_st_close(f);
    free(b);

    /* an empty file that is still valid: "{}" and no data */
    b = build("{}", 6, NULL, 0, &len);
    f = open_ok(b, len);
    assert_int_equal(se_st_count(f), 0);
    se_st_close(f);
    free(b);
}

/* 4-D tensor [5, 2, 3, 2] viewed as [5, 12]: row and column blocks, bounds. */
static void test_slices(void **state)
{
    (void)state;
    enum { R = 5, C = 12 };
    float v[R * C];
    for (int i = 0; i < R * C; i++) v[i] = (float)i + 0.5f;
    se_st_entry e[3] = {{.name = "w", .dtype = SE_DT_F32, .ndim = 4, .shape = {5, 2, 3, 2}, .data = v},
                        {.name = "b", .dtype = SE_DT_F32, .ndim = 1, .shape = {R}, .data = v},
                        {.name = "wh", .dtype = SE_DT_F16, .ndim = 2, .shape = {R, C}, .data = v}};
    se_error err;
    assert_int_equal(se_st_write(g_path, e, 3, NULL, 0, &err), SE_OK);
    se_st_file *f;
    assert_int_equal(se_st_open(g_path, &f, &err), SE_OK);
    const se_st_tensor *w = se_st_find(f, "w"), *b = se_st_find(f, "b"), *wh = se_st_find(f, "wh");
    float out[R * C];
    /* rows [1, 4) */
    assert_int_equal(se_st_read_f32(f, w, 1, 3, 0, C, out, &err), SE_OK);
    for (int i = 0; i < 3 * C; i++) assert_true(out[i] == v[C + i]);
    /* cols [4, 9) of all rows: stride ncols */
    memset(out, 0, sizeof out);
    assert_int_equal(se_st_read_f32(f, w, 0, R, 4, 5, out, &err), SE_OK);
    for (int r = 0; r < R; r++)
        for (int c = 0; c < 5; c++) assert_true(out[r * 5 + c] == v[r * C + 4 + c]);
    /* the same block from the F16 copy (values k+0.5 < 64 are exact in f16) */
    assert_int_equal(se_st_read_f32(f, wh, 2, 2, 10, 2, out, &err), SE_OK);
    assert_true(out[0] == v[2 * C + 10] && out[1] == v[2 * C + 11] && out[2] == v[3 * C + 10] &&
                out[3] == v[3 * C + 11]);
    /* a bias [5] is [5, 1]: a row slice follows its weight's */
    assert_int_equal(se_st_read_f32(f, b, 3, 2, 0, 1, out, &err), SE_OK);
    assert_true(out[0] == v[3] && out[1] == v[4]);
    /* out of bounds, each way */
    assert_int_equal(se_st_read_f32(f, w, 4, 2, 0, C, out, &err), SE_EINVAL);
    assert_non_null(strstr(err.msg, "'w'"));
    assert_non_null(strstr(err.msg, g_path));
    assert_non_null(strstr(err.msg, "[5, 12]"));
    assert_int_equal(se_st_read_f32(f, w, 0, 1, 8, 5, out, &err), SE_EINVAL);
    assert_int_equal(se_st_read_f32(f, w, -1, 1, 0, 1, out, &err), SE_EINVAL);
    assert_int_equal(se_st_read_f32(f, w, 0, 1, 0, -1, out, &err), SE_EINVAL);
    assert_int_equal(se_st_read_f32(f, w, INT64_MAX, INT64_MAX, 0, 1, out, &err), SE_EINVAL);
    assert_int_equal(se_st_read_f32(f, b, 0, 1, 1, 1, out, &err), SE_EINVAL);
    se_st_close(f);
}

static void test_write_roundtrip(void **state)
{
    (void)state;
    float a[6] = {1.0f, -0.1f, 65504.0f, 1e-8f, INFINITY, NAN};
    float s = 3.0f;
    se_st_entry e[5] = {{.name = "z.f32", .dtype = SE_DT_F32, .ndim = 2, .shape = {2, 3}, .data = a},
                        {.name = "a.f16", .dtype = SE_DT_F16, .ndim = 1, .shape = {6}, .data = a},
                        {.name = "m.bf16", .dtype = SE_DT_BF16, .ndim = 3, .shape = {1, 2, 3}, .data = a},
                        {.name = "scalar", .dtype = SE_DT_F32, .ndim = 0, .data = &s},
                        {.name = "empty \"q\"", .dtype = SE_DT_F16, .ndim = 2, .shape = {0, 4}, .data = NULL}};
    const char *meta[] = {"format", "pt", "note", "é"};
    se_error err;
    assert_int_equal(se_st_write(g_path, e, 5, meta, 2, &err), SE_OK);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", g_path, (long)getpid());
    assert_int_equal(access(tmp, F_OK), -1); /* renamed into place */

    FILE *fp = fopen(g_path, "rb");
    uint8_t n8[8];
    assert_int_equal(fread(n8, 1, 8, fp), 8);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | n8[i];
    assert_int_equal(n % 8, 0);
    fseek(fp, 0, SEEK_END);
    /* data: 24 + 12 + 12 + 4 + 0 bytes */
    assert_int_equal((uint64_t)ftell(fp), 8 + n + 52);
    fclose(fp);

    se_st_file *f;
    assert_int_equal(se_st_open(g_path, &f, &err), SE_OK);
    assert_int_equal(se_st_count(f), 5);
    assert_string_equal(se_st_metadata(f, "note"), "é");
    /* tensors in the given order, contiguous */
    assert_int_equal(se_st_find(f, "z.f32")->offset, 0);
    assert_int_equal(se_st_find(f, "a.f16")->offset, 24);
    assert_int_equal(se_st_find(f, "m.bf16")->offset, 36);
    assert_int_equal(se_st_find(f, "scalar")->offset, 48);
    assert_int_equal(se_st_find(f, "empty \"q\"")->numel, 0);
    float out[6];
    assert_int_equal(se_st_read_f32(f, se_st_find(f, "z.f32"), 0, 2, 0, 3, out, &err), SE_OK);
    assert_memory_equal(out, a, sizeof a);
    assert_int_equal(se_st_read_f32(f, se_st_find(f, "a.f16"), 0, 6, 0, 1, out, &err), SE_OK);
    assert_true(out[0] == 1.0f && out[1] == se_f16_to_f32(0xae66) && out[2] == 65504.0f && out[3] == 0.0f &&
                isinf(out[4]) && isnan(out[5]));
    assert_int_equal(se_st_read_f32(f, se_st_find(f, "m.bf16"), 0, 1, 0, 6, out, &err), SE_OK);
    assert_true(out[0] == 1.0f && out[1] == se_bf16_to_f32(0xbdcd) && out[2] == 65536.0f &&
                out[3] == se_bf16_to_f32(0x322c) && isinf(out[4]) && isnan(out[5]));
    assert_int_equal(se_st_read_f32(f, se_st_find(f, "scalar"), 0, 1, 0, 1, out, &err), SE_OK);
    assert_true(out[0] == 3.0f);
    se_st_close(f);

    /* refused entries; nothing is left behind */
    se_st_entry dup[2] = {e[0], e[0]};
    assert_int_equal(se_st_write(g_path, dup, 2, NULL, 0, &err), SE_EINVAL);
    assert_non_null(strstr(err.msg, "z.f32"));
    se_st_entry i32 = {.name = "x", .dtype = SE_DT_I32, .ndim = 1, .shape = {1}, .data = a};
    assert_int_equal(se_st_write(g_path, &i32, 1, NULL, 0, &err), SE_EINVAL);
    se_st_entry neg = {.name = "x", .dtype = SE_DT_F32, .ndim = 1, .shape = {-1}, .data = a};
    assert_int_equal(se_st_write(g_path, &neg, 1, NULL, 0, &err), SE_EINVAL);
    assert_int_equal(se_st_write("/nonexistent-dir/x.safetensors", e, 1, NULL, 0, &err), SE_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x.safetensors"));
}

static void test_open_errors(void **state)
{
    (void)state;
    se_st_file *f;
    se_error err;
    assert_int_equal(se_st_open("/nonexistent/model.safetensors", &f, &err), SE_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/model.safetensors"));
    assert_int_equal(se_st_open("/tmp", &f, &err), SE_EIO);
    assert_string_equal(se_dtype_name(SE_DT_BF16), "BF16");
    assert_int_equal(se_dtype_size(SE_DT_F8_E4M3), 1);
    assert_int_equal(se_dtype_size(SE_DT_U64), 8);
}

/* f16: every pattern widens and narrows back to itself (NaN payloads too),
 * and every midpoint between neighbours rounds to the even one. */
static void test_f16_exhaustive(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float x = se_f16_to_f32((uint16_t)h);
        assert_int_equal(se_f32_to_f16(x), h);
        uint32_t e = (h >> 10) & 0x1f;
        if (e == 0x1f) {
            assert_true((h & 0x3ff) ? isnan(x) : isinf(x));
            continue;
        }
        if ((h & 0x7fff) == 0x7bff) continue; /* next is inf: midpoint checked below */
        float y = se_f16_to_f32((uint16_t)(h + 1));
        double mid = ((double)x + (double)y) / 2;  /* exact in f32: f16 has 11 bits */
        float m = (float)mid;
        assert_true((double)m == mid);
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        assert_int_equal(se_f32_to_f16(m), even);
        assert_int_equal(se_f32_to_f16(nextafterf(m, 0.0f)), h);
        assert_int_equal(se_f32_to_f16(nextafterf(m, INFINITY * (x < 0 || (h & 0x8000) ? -1.0f : 1.0f))), h + 1);
    }
    /* values produced by numpy.float32(v).astype(numpy.float16), numpy 1.24 */
    static const struct {
        uint32_t f;
        uint16_t h;
    } np[] = {{0x477fe000, 0x7bff}, {0x477fef00, 0x7bff}, {0x477ff000, 0x7c00}, {0x47c35000, 0x7c00},
              {0x337ffae5, 0x0001}, {0x32fffae5, 0x0000}, {0x33000001, 0x0001}, {0x387fda40, 0x03ff},
              {0x322bcc77, 0x0000}, {0x3dcccccd, 0x2e66}, {0x40490fdb, 0x4248}, {0xb3d6bf95, 0x8002},
              {0x3f801000, 0x3c00}, {0x3f801800, 0x3c01}, {0x7fc00001, 0x7e00}, {0xffc00000, 0xfe00},
              {0x7f800001, 0x7c01}, {0x7fa00000, 0x7d00}, {0xff800000, 0xfc00}, {0x80000000, 0x8000}};
    for (size_t i = 0; i < sizeof np / sizeof np[0]; i++) {
        float x;
        memcpy(&x, &np[i].f, 4);
        assert_int_equal(se_f32_to_f16(x), np[i].h);
    }
}

static void test_bf16(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float x = se_bf16_to_f32((uint16_t)h);
        assert_int_equal(se_f32_to_bf16(x), h);
        if (((h >> 7) & 0xff) == 0xff || (h & 0x7fff) == 0x7f7f) continue;
        uint32_t lo = h << 16, mid = lo + 0x8000u; /* bit pattern of the midpoint */
        float m, below, above;
        uint32_t bm1 = mid - 1, bp1 = mid + 1;
        memcpy(&m, &mid, 4);
        memcpy(&below, &bm1, 4);
        memcpy(&above, &bp1, 4);
        assert_int_equal(se_f32_to_bf16(m), (h & 1) ? h + 1 : h);
        assert_int_equal(se_f32_to_bf16(below), h);
        assert_int_equal(se_f32_to_bf16(above), h + 1);
    }
    /* torch.tensor(v).to(torch.bfloat16), torch 2.x */
    static const struct {
        uint32_t f;
        uint16_t b;
    } tv[] = {{0x3dcccccd, 0x3dcd}, {0x40490fdb, 0x4049}, {0xb3d6bf95, 0xb3d7}, {0x477fe000, 0x4780},
              {0x47c35000, 0x47c3}, {0x322bcc77, 0x322c}, {0x3f801800, 0x3f80}, {0x7f7fffff, 0x7f80}};
    for (size_t i = 0; i < sizeof tv / sizeof tv[0]; i++) {
        float x;
        memcpy(&x, &tv[i].f, 4);
        assert_int_equal(se_f32_to_bf16(x), tv[i].b);
    }
    /* NaN stays NaN, whatever its payload */
    uint32_t nans[] = {0x7f800001, 0x7fc00000, 0xff800001, 0x7fffffff};
    for (size_t i = 0; i < 4; i++) {
        float x;
        memcpy(&x, &nans[i], 4);
        assert_true(isnan(se_bf16_to_f32(se_f32_to_bf16(x))));
        assert_true(isnan(se_f16_to_f32(se_f32_to_f16(x))));
    }
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_path, sizeof g_path, "/tmp/se_io_st_%ld.safetensors", (long)getpid());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(g_path);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_lengths),    cmocka_unit_test(test_bad_header_text),
        cmocka_unit_test(test_bad_entries),    cmocka_unit_test(test_bad_layout),
        cmocka_unit_test(test_good_unaligned_metadata_empty), cmocka_unit_test(test_slices),
        cmocka_unit_test(test_write_roundtrip), cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_f16_exhaustive), cmocka_unit_test(test_bf16),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
