/* job: windows, batches and the plan hash, without MPI. Windows checked
 * against a direct enumeration; batches cover every window once, respect the
 * token budget, and are longest first; the hash sees any change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "job/embed_internal.h"

static void test_windows_of_a_long_text_document(void **state)
{
    (void)state;
    /* 200 content tokens, windows of 64 (62 content + [CLS]/[SEP]), stride 55:
     * starts 0, 55, 110, 165 -> lengths 64, 64, 64, 37 (35 content + 2) */
    se_docrec d[2] = {{.n_tok = 200, .is_text = 1}, {.n_tok = 3, .is_text = 0}};
    se_window w[8];
    int64_t n = se_plan_windows(d, 2, 64, 55, NULL);
    assert_int_equal(n, 5);
    assert_int_equal(se_plan_windows(d, 2, 64, 55, w), 5);
    const int64_t start[4] = {0, 55, 110, 165};
    const int32_t len[4] = {64, 64, 64, 37};
    int64_t tok = 0;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(w[i].doc, 0);
        assert_int_equal(w[i].start, start[i]);
        assert_int_equal(w[i].len, len[i]);
        assert_int_equal(w[i].last, i == 3);
        assert_int_equal(w[i].tok_off, tok);
        tok += len[i];
    }
    /* pre-tokenised: the bare ids, one window */
    assert_int_equal(w[4].doc, 1);
    assert_int_equal(w[4].len, 3);
    assert_int_equal(w[4].last, 1);
}

static void test_empty_documents(void **state)
{
    (void)state;
    /* empty ids: no window (a zero row); empty text: one [CLS] [SEP] window */
    se_docrec d[2] = {{.n_tok = 0, .is_text = 0}, {.n_tok = 0, .is_text = 1}};
    se_window w[2];
    assert_int_equal(se_plan_windows(d, 2, 64, 55, w), 1);
    assert_int_equal(w[0].doc, 1);
    assert_int_equal(w[0].len, 2);
}

static void test_batches_cover_and_respect_budget(void **state)
{
    (void)state;
    srand(7);
    enum { ND = 300 };
    se_docrec d[ND];
    for (int i = 0; i < ND; i++) d[i] = (se_docrec){.n_tok = rand() % 300, .is_text = i % 2};
    int64_t nw = se_plan_windows(d, ND, 64, 40, NULL);
    se_window *w = malloc((size_t)nw * sizeof *w);
    int64_t *order = malloc((size_t)nw * sizeof *order);
    se_batch *b = malloc((size_t)nw * sizeof *b);
    se_plan_windows(d, ND, 64, 40, w);
    int64_t nb = se_plan_batches(w, nw, 256, order, b);
    unsigned char *seen = calloc((size_t)nw, 1);
    int64_t next = 0;
    int32_t prev_len = INT32_MAX;
    for (int64_t k = 0; k < nb; k++) {
        assert_int_equal(b[k].first, next);
        int64_t t = 0;
        for (int32_t i = 0; i < b[k].count; i++) {
            int64_t x = order[b[k].first + i];
            assert_false(seen[x]);
            seen[x] = 1;
            t += w[x].len;
            assert_true(w[x].len <= prev_len); /* longest first */
            prev_len = w[x].len;
        }
        assert_int_equal(t, b[k].tokens);
        assert_true(t <= 256);
        next += b[k].count;
    }
    assert_int_equal(next, nw);
    /* same inputs, same plan, same hash; one window changed: another hash */
    uint64_t h = se_plan_hash(w, nw, order, b, nb);
    assert_true(h == se_plan_hash(w, nw, order, b, nb));
    w[nw / 2].len--;
    assert_true(h != se_plan_hash(w, nw, order, b, nb));
    w[nw / 2].len++;
    b[0].count++;
    assert_true(h != se_plan_hash(w, nw, order, b, nb));
    free(w), free(order), free(b), free(seen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_windows_of_a_long_text_document),
        cmocka_unit_test(test_empty_documents),
        cmocka_unit_test(test_batches_cover_and_respect_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
