/* job: windows, batches and the plan hash, without MPI. Windows checked
 * against a direct enumeration; batches from the length histogram equal the
 * greedy packing of the explicitly sorted windows; the hash sees any change. */
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
    assert_int_equal(se_plan_doc_nwin(200, 1, 64, 55), 4);
    const int64_t start[4] = {0, 55, 110, 165};
    const int32_t len[4] = {64, 64, 64, 37};
    for (int i = 0; i < 4; i++) {
        int64_t s;
        assert_int_equal(se_plan_doc_win(200, 1, 64, 55, i, &s), len[i]);
        assert_int_equal(s, start[i]);
    }
    /* pre-tokenised: the bare ids, one window; unlimited windows: one */
    assert_int_equal(se_plan_doc_nwin(3, 0, 64, 55), 1);
    int64_t s;
    assert_int_equal(se_plan_doc_win(3, 0, 64, 55, 0, &s), 3);
    assert_int_equal(se_plan_doc_nwin(5000, 1, 0, 0), 1);
    assert_int_equal(se_plan_doc_win(5000, 1, 0, 0, 0, &s), 5002);
}

/* The closed form against the loop it replaces: windows at 0, S, 2S, ...
 * until one reaches the end. */
static void test_window_count_matches_the_loop(void **state)
{
    (void)state;
    for (int64_t c = 0; c < 300; c++)
        for (int64_t S = 1; S <= 62; S += 7)
            for (int text = 0; text < 2; text++) {
                int64_t W = 64 - (text ? 2 : 0), n = 0;
                if (c > 0 || text)
                    for (int64_t st = 0;; st += S) {
                        int64_t s, len = c - st < W ? c - st : W;
                        assert_int_equal(se_plan_doc_win(c, text, 64, S, n, &s), len + (text ? 2 : 0));
                        assert_int_equal(s, st);
                        n++;
                        if (st + W >= c) break;
                    }
                assert_int_equal(se_plan_doc_nwin(c, text, 64, S), n);
            }
}

static void test_empty_documents(void **state)
{
    (void)state;
    /* empty ids: no window (a zero row); empty text: one [CLS] [SEP] window */
    int64_t s;
    assert_int_equal(se_plan_doc_nwin(0, 0, 64, 55), 0);
    assert_int_equal(se_plan_doc_nwin(0, 1, 64, 55), 1);
    assert_int_equal(se_plan_doc_win(0, 1, 64, 55, 0, &s), 2);
}

static int64_t g_len[4096];
static int cmp_len_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    if (g_len[x] != g_len[y]) return g_len[x] > g_len[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Batches from the histogram equal the greedy packing of the explicitly
 * sorted windows (longest first, ties by index), window by window; the
 * class starts put each window at its sorted position. */
static void test_batches_equal_the_sorted_greedy_packing(void **state)
{
    (void)state;
    srand(7);
    int64_t nw = 0, hist[65] = {0}, start[65], order[4096], pos[4096];
    for (int i = 0; i < 300; i++) {
        int64_t c = rand() % 300, text = i % 2, s;
        for (int64_t k = 0; k < se_plan_doc_nwin(c, (int)text, 64, 40); k++) {
            g_len[nw] = se_plan_doc_win(c, (int)text, 64, 40, k, &s);
            hist[g_len[nw]]++, order[nw] = nw, nw++;
        }
    }
    assert_true(nw < 4096);
    qsort(order, (size_t)nw, sizeof *order, cmp_len_desc);
    /* each window's position from the class starts, in document order */
    se_plan_class_starts(hist, 65, start);
    for (int64_t w = 0; w < nw; w++) pos[w] = start[g_len[w]]++;
    for (int64_t i = 0; i < nw; i++) assert_int_equal(pos[order[i]], i);
    for (int64_t B = 64; B <= 4096; B *= 4) {
        se_batch ref[4096], b[4096];
        int64_t nr = 0;
        for (int64_t i = 0; i < nw;) {
            int64_t first = i, t = 0;
            while (i < nw && t + g_len[order[i]] <= B) t += g_len[order[i++]];
            if (i == first) t = g_len[order[i++]];
            ref[nr++] = (se_batch){.first = first, .count = (int32_t)(i - first), .tokens = (int32_t)t};
        }
        assert_int_equal(se_plan_batches(hist, 65, B, NULL), nr);
        assert_int_equal(se_plan_batches(hist, 65, B, b), nr);
        assert_memory_equal(b, ref, (size_t)nr * sizeof *b);
    }
    /* a window longer than the budget gets a batch of its own */
    int64_t h2[9] = {0, 0, 0, 3, 0, 0, 0, 0, 2};
    se_batch b2[5];
    assert_int_equal(se_plan_batches(h2, 9, 6, b2), 4);
    assert_int_equal(b2[0].count, 1), assert_int_equal(b2[0].tokens, 8);
    assert_int_equal(b2[1].count, 1), assert_int_equal(b2[1].tokens, 8);
    assert_int_equal(b2[2].count, 2), assert_int_equal(b2[2].tokens, 6);
    assert_int_equal(b2[3].count, 1), assert_int_equal(b2[3].tokens, 3);
    /* same inputs, same hash; one window's length or one batch changed: another */
    se_batch b[4096];
    int64_t nb = se_plan_batches(hist, 65, 256, b);
    uint64_t h = se_plan_hash(hist, 65, b, nb);
    assert_true(h == se_plan_hash(hist, 65, b, nb));
    hist[30]--, hist[31]++;
    assert_true(h != se_plan_hash(hist, 65, b, nb));
    hist[30]++, hist[31]--;
    b[0].count++;
    assert_true(h != se_plan_hash(hist, 65, b, nb));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_windows_of_a_long_text_document),
        cmocka_unit_test(test_window_count_matches_the_loop),
        cmocka_unit_test(test_empty_documents),
        cmocka_unit_test(test_batches_equal_the_sorted_greedy_packing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
