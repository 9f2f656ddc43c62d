/* job: the resume fingerprint and the slot-per-batch journal, without MPI,
 * on a real file: marks survive, torn/stale/foreign slots cost only their
 * batch, every kind of change is refused and named. */
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

#include "job/embed_internal.h"
#include "se_test_util.h"

#define g_dir se_test_dir

static se_fingerprint base_fp(void)
{
    se_fingerprint fp;
    memset(&fp, 0, sizeof fp);
    snprintf(fp.version, sizeof fp.version, "0.1.0");
    snprintf(fp.options, sizeof fp.options, "pooling=mean normalize=0 window=64 stride=55 batch_tokens=512 tp=1");
    fp.plan_hash = 0x1234;
    fp.n_batches = 100;
    fp.n_files = 3;
    snprintf(fp.files[0].name, sizeof fp.files[0].name, "config.json");
    fp.files[0].hash = 11;
    snprintf(fp.files[1].name, sizeof fp.files[1].name, "vocab.txt");
    fp.files[1].hash = 22;
    snprintf(fp.files[2].name, sizeof fp.files[2].name, "the input c.jsonl");
    fp.files[2].hash = 33;
    return fp;
}

static void path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", g_dir, name);
}

static void test_marks_survive_reopen(void **state)
{
    (void)state;
    char p[300];
    path(p, sizeof p, "a.journal");
    se_fingerprint fp = base_fp();
    se_error err;
    assert_int_equal(se_journal_create(p, &fp, &err), SE_OK);
    unsigned char done[100] = {0};
    int64_t n = -1;
    int found = 0;
    assert_int_equal(se_journal_read(p, &fp, done, &n, &found, &err), SE_OK);
    assert_int_equal(found, 1);
    assert_int_equal(n, 0); /* fresh: nothing done */
    int fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    const int64_t marks[] = {0, 7, 99, 42};
    for (int i = 0; i < 4; i++) assert_int_equal(se_journal_mark(fd, p, &fp, marks[i], &err), SE_OK);
    close(fd);
    memset(done, 0, sizeof done);
    assert_int_equal(se_journal_read(p, &fp, done, &n, &found, &err), SE_OK);
    assert_int_equal(n, 4);
    for (int b = 0; b < 100; b++) assert_int_equal(done[b], b == 0 || b == 7 || b == 99 || b == 42);
    /* slots sit at fixed offsets: the file ends right after the last slot */
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_size, SE_JOURNAL_HEADER + 100 * 16);
}

static void test_torn_and_stale_slots_cost_only_their_batch(void **state)
{
    (void)state;
    char p[300];
    path(p, sizeof p, "b.journal");
    se_fingerprint fp = base_fp();
    se_error err;
    assert_int_equal(se_journal_create(p, &fp, &err), SE_OK);
    int fd = open(p, O_RDWR);
    for (int64_t b = 0; b < 10; b++) assert_int_equal(se_journal_mark(fd, p, &fp, b, &err), SE_OK);
    /* torn: half of slot 3 overwritten with zeros */
    char z[8] = {0};
    assert_int_equal(pwrite(fd, z, 8, SE_JOURNAL_HEADER + 3 * 16 + 8), 8);
    /* slot 5 holds slot 6's record (a write at the wrong place) */
    char s6[16];
    assert_int_equal(pread(fd, s6, 16, SE_JOURNAL_HEADER + 6 * 16), 16);
    assert_int_equal(pwrite(fd, s6, 16, SE_JOURNAL_HEADER + 5 * 16), 16);
    close(fd);
    /* a slot of another job (other fingerprint) in slot 8 */
    se_fingerprint other = base_fp();
    other.files[1].hash = 23;
    char q[300];
    path(q, sizeof q, "other.journal");
    assert_int_equal(se_journal_create(q, &other, &err), SE_OK);
    int fo = open(q, O_RDWR);
    assert_int_equal(se_journal_mark(fo, q, &other, 8, &err), SE_OK);
    char s8[16];
    assert_int_equal(pread(fo, s8, 16, SE_JOURNAL_HEADER + 8 * 16), 16);
    close(fo);
    fd = open(p, O_RDWR);
    assert_int_equal(pwrite(fd, s8, 16, SE_JOURNAL_HEADER + 8 * 16), 16);
    close(fd);
    unsigned char done[100] = {0};
    int64_t n = 0;
    int found = 0;
    assert_int_equal(se_journal_read(p, &fp, done, &n, &found, &err), SE_OK);
    assert_int_equal(n, 7);
    for (int b = 0; b < 100; b++) assert_int_equal(done[b], b < 10 && b != 3 && b != 5 && b != 8);
    /* a file cut inside the slots: the rest counts as not done */
    assert_int_equal(truncate(p, SE_JOURNAL_HEADER + 4 * 16 + 5), 0);
    memset(done, 0, sizeof done);
    assert_int_equal(se_journal_read(p, &fp, done, &n, &found, &err), SE_OK);
    assert_int_equal(n, 3); /* 0, 1, 2 (3 is torn) */
}

static void test_missing_and_foreign_files(void **state)
{
    (void)state;
    char p[300];
    path(p, sizeof p, "none.journal");
    se_fingerprint fp = base_fp();
    unsigned char done[100] = {0};
    int64_t n = 0;
    int found = 1;
    se_error err;
    assert_int_equal(se_journal_read(p, &fp, done, &n, &found, &err), SE_OK);
    assert_int_equal(found, 0);
    path(p, sizeof p, "junk.journal");
    FILE *f = fopen(p, "wb");
    for (int i = 0; i < 5000; i++) fputc('x', f);
    fclose(f);
    assert_int_equal(se_journal_read(p, &fp, done, &n, &found, &err), SE_EFORMAT);
    assert_non_null(strstr(err.msg, "not a shardenc journal"));
    assert_non_null(strstr(err.msg, "junk.journal"));
}

/* Each kind of change is refused and named in the message. */
static void test_refusal_names_what_changed(void **state)
{
    (void)state;
    char p[300];
    path(p, sizeof p, "c.journal");
    se_fingerprint fp = base_fp();
    se_error err;
    assert_int_equal(se_journal_create(p, &fp, &err), SE_OK);
    int n = 0;
#define CASE(w, body)                                                                                                  \
    do {                                                                                                               \
        se_fingerprint b = base_fp();                                                                                  \
        body;                                                                                                          \
        unsigned char done[100] = {0};                                                                                 \
        int64_t k = 0;                                                                                                 \
        int found = 0;                                                                                                 \
        assert_int_equal(se_journal_read(p, &b, done, &k, &found, &err), SE_EINVAL);                                   \
        if (!strstr(err.msg, w)) fail_msg("expected '%s' in: %s", w, err.msg);                                         \
        assert_non_null(strstr(err.msg, "c.journal"));                                                                 \
        n++;                                                                                                           \
    } while (0)
    CASE("shardenc version 0.1.0 -> 0.2.0", snprintf(b.version, sizeof b.version, "0.2.0"));
    CASE("the content of vocab.txt changed", b.files[1].hash = 99);
    CASE("the content of the input c.jsonl changed", b.files[2].hash = 1);
    CASE("option pooling=mean -> pooling=max",
         snprintf(b.options, sizeof b.options, "pooling=max normalize=0 window=64 stride=55 batch_tokens=512 tp=1"));
    CASE("option stride=55 -> stride=50",
         snprintf(b.options, sizeof b.options, "pooling=mean normalize=0 window=64 stride=50 batch_tokens=512 tp=1"));
    CASE("the batch plan changed", b.plan_hash = 5);
    CASE("tokenizer.json is new", (b.n_files = 4, snprintf(b.files[3].name, sizeof b.files[3].name, "tokenizer.json")));
    CASE("config.json is gone", (b.files[0] = b.files[2], b.n_files = 2));
    assert_int_equal(n, 8);
    /* and the same fingerprint is accepted */
    unsigned char done[100] = {0};
    int64_t k = 0;
    int found = 0;
    assert_int_equal(se_journal_read(p, &fp, done, &k, &found, &err), SE_OK);
}

static void test_diff_lists_several(void **state)
{
    (void)state;
    se_fingerprint a = base_fp(), b = base_fp();
    char msg[700];
    assert_int_equal(se_fp_diff(&a, &b, msg, sizeof msg), 0);
    assert_true(se_fp_digest(&a) == se_fp_digest(&b));
    b.files[0].hash = 1;
    b.files[2].hash = 2;
    assert_int_equal(se_fp_diff(&a, &b, msg, sizeof msg), 2);
    assert_non_null(strstr(msg, "config.json"));
    assert_non_null(strstr(msg, "c.jsonl"));
    assert_true(se_fp_digest(&a) != se_fp_digest(&b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_marks_survive_reopen),
        cmocka_unit_test(test_torn_and_stale_slots_cost_only_their_batch),
        cmocka_unit_test(test_missing_and_foreign_files),
        cmocka_unit_test(test_refusal_names_what_changed),
        cmocka_unit_test(test_diff_lists_several),
    };
    return cmocka_run_group_tests(tests, se_test_dir_setup, se_test_dir_teardown);
}
