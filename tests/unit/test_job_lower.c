/* job: do_lower_case is Python's str.lower() (sentence-transformers'
 * Transformer.tokenize). Checked against tests/fixtures/text/py_lower.tsv,
 * made by /usr/bin/python3 (tests/ref/gen_py_lower.py): every code point's
 * lowercase, and the Final_Sigma context of every code point before and
 * after U+03A3. Plus hand cases whose expected bytes are Python's output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "job/embed_internal.h"
#include "se_test_util.h"

static char *lower(const char *s, size_t n, size_t *out_n)
{
    char *o = NULL;
    se_error err = {0};
    assert_int_equal(se_job_lower(s, n, &o, out_n, &err), SE_OK);
    assert_int_equal(strlen(o), *out_n);
    return o;
}

static void check(const char *in, const char *want)
{
    size_t n;
    char *o = lower(in, strlen(in), &n);
    if (strcmp(o, want)) fail_msg("lower(\"%s\") = \"%s\", Python says \"%s\"", in, o, want);
    free(o);
}

/* Expected strings printed by /usr/bin/python3 (3.11): repr(s.lower()). */
static void test_python_cases(void **state)
{
    (void)state;
    check("Hello WORLD", "hello world");
    check("\xC4\xB0stanbul", "i\xCC\x87stanbul");                 /* İ -> i + U+0307, not 'i' */
    check("\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3", "\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x82"); /* ΟΔΟΣ -> οδος (final) */
    check("\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3.", "\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x82."); /* '.' is case-ignorable */
    check("\xCE\xA3", "\xCF\x83");                               /* lone Σ -> σ */
    check("\xCE\xA3\xCE\x91", "\xCF\x83\xCE\xB1");               /* ΣΑ -> σα */
    check("\xCE\x91\xCE\xA3'\xCE\x92", "\xCE\xB1\xCF\x83'\xCE\xB2"); /* ΑΣ'Β: a cased letter follows */
    check("\xCE\x91\xCE\xA3'", "\xCE\xB1\xCF\x82'");
    check("\xCE\x91\xCE\xA3\xCC\x81", "\xCE\xB1\xCF\x82\xCC\x81"); /* combining acute skipped */
    check("\xC3\x80\xCE\xA3\xCE\xA3", "\xC3\xA0\xCF\x83\xCF\x82"); /* ÀΣΣ -> àσς */
    check("A \xCE\xA3 B", "a \xCF\x83 b");
    check("Stra\xC3\x9F" "e \xE1\xBA\x9E", "stra\xC3\x9F" "e \xC3\x9F"); /* ẞ -> ß; ß stays */
    check("\xC7\x85 \xC7\x84", "\xC7\x86 \xC7\x86");             /* titlecase ǅ and Ǆ -> ǆ */
    check("", "");
}

static void emit(char *b, size_t *n, utf8proc_int32_t c) { *n += (size_t)utf8proc_encode_char(c, (utf8proc_uint8_t *)b + *n); }

static int final_in(const char *s, size_t n)
{
    size_t m;
    char *o = lower(s, n, &m);
    int f = strstr(o, "\xCF\x82") != NULL;
    free(o);
    return f;
}

static void test_every_code_point(void **state)
{
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s/text/py_lower.tsv", se_test_fixtures());
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    /* want[c]: Python's lowercase bytes of c ("" = unchanged); sig[c]: the 3 contexts */
    enum { N = 0x110000 };
    char(*want)[16] = calloc(N, 16), (*sig)[4] = calloc(N, 4), *unassigned = calloc(N, 1);
    assert_non_null(want);
    assert_non_null(sig);
    assert_non_null(unassigned);
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        if (line[0] == 'U') { /* unknown to Python's Unicode (utf8proc may be newer) */
            unsigned a, b;
            assert_int_equal(sscanf(line, "U\t%X\t%X", &a, &b), 2);
            memset(unassigned + a, 1, b - a + 1);
            continue;
        }
        if (line[0] == 'S') {
            unsigned c;
            char fl[8];
            assert_int_equal(sscanf(line, "S\t%X\t%3s", &c, fl), 2);
            memcpy(sig[c], fl, 3);
            continue;
        }
        char *p = line;
        unsigned c = (unsigned)strtoul(p, &p, 16);
        size_t n = 0;
        for (;;) {
            char *q;
            unsigned long u = strtoul(p, &q, 16);
            if (q == p) break;
            emit(want[c], &n, (utf8proc_int32_t)u);
            p = q;
        }
    }
    fclose(f);
    int bad = 0;
    for (utf8proc_int32_t c = 1; c < N; c++) { /* NUL ends a C string */
        if ((c >= 0xD800 && c <= 0xDFFF) || unassigned[c]) continue;
        char in[16], s[32];
        size_t n = 0, m;
        emit(in, &n, c);
        char *o = lower(in, n, &m);
        const char *w = want[c][0] ? want[c] : NULL;
        if (w ? (m != strlen(w) || memcmp(o, w, m)) : (m != n || memcmp(o, in, n))) {
            if (bad++ < 10) print_error("U+%04X lowers differently from Python\n", (unsigned)c);
        }
        free(o);
        /* c+"Σ", "AΣ"+c, "A"+c+"Σ" */
        char got[4] = {0};
        size_t k = 0;
        emit(s, &k, c), emit(s, &k, 0x3A3);
        got[0] = (char)('0' + final_in(s, k));
        k = 0, emit(s, &k, 'A'), emit(s, &k, 0x3A3), emit(s, &k, c);
        got[1] = (char)('0' + final_in(s, k));
        k = 0, emit(s, &k, 'A'), emit(s, &k, c), emit(s, &k, 0x3A3);
        got[2] = (char)('0' + final_in(s, k));
        if (strcmp(got, sig[c][0] ? sig[c] : "010") && bad++ < 10)
            print_error("U+%04X: final sigma contexts %s, Python %s\n", (unsigned)c, got, sig[c][0] ? sig[c] : "010");
    }
    free(want), free(sig), free(unassigned);
    assert_int_equal(bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_python_cases),
        cmocka_unit_test(test_every_code_point),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
