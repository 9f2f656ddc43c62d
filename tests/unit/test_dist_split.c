/* dist: the shard plan (se_split), without MPI. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "shardenc/dist.h"

static void test_split_12_heads_on_5(void **state)
{
    (void)state;
    const int64_t want_count[5] = {3, 3, 2, 2, 2}, want_start[5] = {0, 3, 6, 8, 10};
    for (int i = 0; i < 5; i++) {
        int64_t s = -1, c = -1;
        se_split(12, 5, i, &s, &c);
        assert_int_equal(c, want_count[i]);
        assert_int_equal(s, want_start[i]);
    }
}

/* For many (total, parts): ranges are contiguous, cover 0..total exactly,
 * and counts differ by at most one, larger ones first. */
static void test_split_covers_exactly(void **state)
{
    (void)state;
    for (int64_t total = 0; total <= 40; total++) {
        for (int parts = 1; parts <= 9; parts++) {
            int64_t next = 0, prev_count = INT64_MAX;
            for (int i = 0; i < parts; i++) {
                int64_t s, c;
                se_split(total, parts, i, &s, &c);
                assert_int_equal(s, next);
                assert_true(c == total / parts || c == total / parts + 1);
                assert_true(c <= prev_count);
                prev_count = c;
                next = s + c;
            }
            assert_int_equal(next, total);
        }
    }
}

static void test_split_typical_and_large(void **state)
{
    (void)state;
    int64_t s, c;
    /* bert-base FFN: 3072 units on 4 ranks. */
    se_split(3072, 4, 3, &s, &c);
    assert_int_equal(s, 2304);
    assert_int_equal(c, 768);
    /* fewer items than parts: the last parts get nothing. */
    se_split(2, 4, 1, &s, &c);
    assert_int_equal(s, 1);
    assert_int_equal(c, 1);
    se_split(2, 4, 3, &s, &c);
    assert_int_equal(s, 2);
    assert_int_equal(c, 0);
    /* beyond int32. */
    se_split((int64_t)1 << 40, 3, 2, &s, &c);
    assert_int_equal(c, ((int64_t)1 << 40) / 3);
    assert_int_equal(s + c, (int64_t)1 << 40);
}

static void test_split_invalid_gives_empty(void **state)
{
    (void)state;
    int64_t s = 7, c = 7;
    se_split(10, 0, 0, &s, &c);
    assert_int_equal(s, 0);
    assert_int_equal(c, 0);
    s = c = 7;
    se_split(10, 3, 3, &s, &c);
    assert_int_equal(c, 0);
    s = c = 7;
    se_split(10, 3, -1, &s, &c);
    assert_int_equal(c, 0);
    s = c = 7;
    se_split(-5, 3, 0, &s, &c);
    assert_int_equal(c, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_12_heads_on_5),
        cmocka_unit_test(test_split_covers_exactly),
        cmocka_unit_test(test_split_typical_and_large),
        cmocka_unit_test(test_split_invalid_gives_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
