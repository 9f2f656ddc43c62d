/* io/jsonl: document lines -> se_doc, every refusal named with `where`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardenc/io.h"

static se_status parse(const char *line, se_doc *d, se_error *err)
{
    return se_doc_parse(line, strlen(line), "corpus.jsonl:17", d, err);
}

static void expect_bad(const char *line, const char *msg)
{
    se_doc d;
    se_error err;
    se_error_clear(&err);
    se_status st = parse(line, &d, &err);
    if (st != SE_EFORMAT) fail_msg("%s: expected EFORMAT, got %s: %s", line, se_status_name(st), err.msg);
    if (strncmp(err.msg, "corpus.jsonl:17: ", 17)) fail_msg("message does not start with where: %s", err.msg);
    if (!strstr(err.msg, msg)) fail_msg("message lacks '%s': %s", msg, err.msg);
    assert_null(d.id);
    assert_null(d.text);
    assert_null(d.input_ids);
    assert_null(d.type_ids);
}

static void test_text_docs(void **state)
{
    (void)state;
    se_doc d;
    se_error err;
    assert_int_equal(parse("{\"id\": \"doc-1\", \"text\": \"Hello, world\", \"lang\": \"en\"}", &d, &err), SE_OK);
    assert_string_equal(d.id, "doc-1");
    assert_string_equal(d.text, "Hello, world");
    assert_int_equal(d.text_len, 12);
    assert_null(d.input_ids);
    assert_null(d.type_ids);
    se_doc_free(&d);
    assert_null(d.id);

    /* NUL inside the text keeps the full length; unicode escapes decoded */
    assert_int_equal(parse("{\"id\": 42, \"text\": \"a\\u0000b\\u00e9\"}\r", &d, &err), SE_OK);
    assert_string_equal(d.id, "42");
    assert_int_equal(d.text_len, 5);
    assert_memory_equal(d.text, "a\0b\xc3\xa9", 6);
    se_doc_free(&d);

    assert_int_equal(parse("{\"text\": \"\", \"id\": -9007199254740993}", &d, &err), SE_OK);
    assert_string_equal(d.id, "-9007199254740993");
    assert_non_null(d.text);
    assert_int_equal(d.text_len, 0);
    se_doc_free(&d);

    assert_int_equal(parse("{\"id\": 1.5, \"text\": \"x\"}", &d, &err), SE_OK);
    assert_string_equal(d.id, "1.5");
    se_doc_free(&d);
    assert_int_equal(parse("{\"id\": 0.1, \"text\": \"x\"}", &d, &err), SE_OK);
    assert_string_equal(d.id, "0.1");
    se_doc_free(&d);
    assert_int_equal(parse("{\"id\": 1e20, \"text\": \"x\"}", &d, &err), SE_OK);
    assert_string_equal(d.id, "1e+20");
    se_doc_free(&d);
    se_doc_free(NULL);
}

static void test_token_docs(void **state)
{
    (void)state;
    se_doc d;
    se_error err;
    assert_int_equal(parse("{\"id\": \"t\", \"input_ids\": [101, 7592, 102], \"token_type_ids\": [0, 0, 1]}", &d, &err),
                     SE_OK);
    assert_null(d.text);
    assert_int_equal(d.n_ids, 3);
    assert_int_equal(d.input_ids[0], 101);
    assert_int_equal(d.input_ids[1], 7592);
    assert_int_equal(d.input_ids[2], 102);
    assert_non_null(d.type_ids);
    assert_int_equal(d.type_ids[2], 1);
    se_doc_free(&d);

    assert_int_equal(parse("{\"id\": \"t\", \"input_ids\": [2147483647]}", &d, &err), SE_OK);
    assert_int_equal(d.n_ids, 1);
    assert_int_equal(d.input_ids[0], INT32_MAX);
    assert_null(d.type_ids);
    se_doc_free(&d);

    assert_int_equal(parse("{\"id\": \"t\", \"input_ids\": []}", &d, &err), SE_OK);
    assert_non_null(d.input_ids);
    assert_int_equal(d.n_ids, 0);
    se_doc_free(&d);
}

static void test_refusals(void **state)
{
    (void)state;
    expect_bad("{\"id\": \"a\", \"text\": \"x\"", "not valid JSON");
    expect_bad("", "not valid JSON");
    expect_bad("[1, 2]", "must be a JSON object, found an array");
    expect_bad("{\"text\": \"x\"}", "missing \"id\"");
    expect_bad("{\"id\": null, \"text\": \"x\"}", "\"id\" must be a string or a number, found null");
    expect_bad("{\"id\": [1], \"text\": \"x\"}", "\"id\" must be a string or a number, found an array");
    expect_bad("{\"id\": \"a\\u0000b\", \"text\": \"x\"}", "NUL");
    expect_bad("{\"id\": \"a\"}", "neither \"text\" nor \"input_ids\"");
    expect_bad("{\"id\": \"a\", \"text\": \"x\", \"input_ids\": [1]}", "both \"text\" and \"input_ids\"");
    expect_bad("{\"id\": \"a\", \"text\": 5}", "\"text\" must be a string, found an integer");
    expect_bad("{\"id\": \"a\", \"text\": \"x\", \"token_type_ids\": [0]}", "without \"input_ids\"");
    expect_bad("{\"id\": \"a\", \"input_ids\": \"1 2\"}", "\"input_ids\" must be an array of integers, found a string");
    expect_bad("{\"id\": \"a\", \"input_ids\": [1, -2]}", "\"input_ids\"[1] = -2 is out of range");
    expect_bad("{\"id\": \"a\", \"input_ids\": [2147483648]}", "\"input_ids\"[0] = 2147483648 is out of range");
    expect_bad("{\"id\": \"a\", \"input_ids\": [1, 2.0]}", "\"input_ids\"[1] must be an integer, found a real number");
    expect_bad("{\"id\": \"a\", \"input_ids\": [1, 2], \"token_type_ids\": [0]}",
               "\"token_type_ids\" has 1 entries but \"input_ids\" has 2");
    expect_bad("{\"id\": \"a\", \"input_ids\": [1], \"token_type_ids\": [-1]}", "\"token_type_ids\"[0] = -1");
    expect_bad("{\"id\": \"a\", \"input_ids\": [1], \"token_type_ids\": {}}", "\"token_type_ids\" must be an array");
    expect_bad("{\"id\": \"a\", \"id\": \"b\", \"text\": \"x\"}", "duplicate");
}

/* Invalid UTF-8 is replaced by U+FFFD per maximal ill-formed subpart (as
 * Python's and Rust's lossy decoders do) and counted; the document parses. */
/* Field mapping (issue 13): BEIR's _id + title + text, dotted paths, C4
 * lines without an id, TSV lines. */
static void test_fields(void **state)
{
    (void)state;
    se_doc d;
    se_error err;
    const char *tf[] = {"title", "text"};
    se_doc_fields beir = {.id_field = "_id", .text_fields = tf, .n_text = 2, .id_optional = 1};
#define P(l, f) se_doc_parse_fields(l, strlen(l), "c.jsonl:3", f, &d, &err)
    assert_int_equal(P("{\"_id\": \"b1\", \"title\": \"A title\", \"text\": \"the body\"}", &beir), SE_OK);
    assert_string_equal(d.id, "b1");
    assert_string_equal(d.text, "A title the body");
    se_doc_free(&d);
    /* missing, null or empty parts add nothing, and no stray space */
    assert_int_equal(P("{\"_id\": 4, \"title\": \"\", \"text\": \"body\"}", &beir), SE_OK);
    assert_string_equal(d.text, "body");
    se_doc_free(&d);
    assert_int_equal(P("{\"_id\": 4, \"title\": \"only\", \"text\": null}", &beir), SE_OK);
    assert_string_equal(d.text, "only");
    se_doc_free(&d);
    assert_int_equal(P("{\"_id\": 4, \"title\": \"\", \"text\": \"\"}", &beir), SE_OK);
    assert_string_equal(d.text, "");
    assert_int_equal((int)d.text_len, 0);
    se_doc_free(&d);
    /* no id (C4): allowed when optional, the id stays NULL */
    assert_int_equal(P("{\"text\": \"c4 page\", \"url\": \"http://x\"}", &beir), SE_OK);
    assert_null(d.id);
    assert_string_equal(d.text, "c4 page");
    se_doc_free(&d);
    se_doc_fields req = {.id_field = "_id"};
    assert_int_equal(P("{\"id\": \"x\", \"text\": \"t\"}", &req), SE_EFORMAT);
    assert_non_null(strstr(err.msg, "missing \"_id\""));
    /* dotted paths reach nested keys; a key with a dot in it is found as a whole first */
    const char *nt[] = {"body.main"};
    se_doc_fields nested = {.id_field = "meta.doc.id", .text_fields = nt, .n_text = 1};
    assert_int_equal(P("{\"meta\": {\"doc\": {\"id\": 77}}, \"body\": {\"main\": \"deep\"}}", &nested), SE_OK);
    assert_string_equal(d.id, "77");
    assert_string_equal(d.text, "deep");
    se_doc_free(&d);
    assert_int_equal(P("{\"meta.doc.id\": \"flat\", \"body.main\": \"t\"}", &nested), SE_OK);
    assert_string_equal(d.id, "flat");
    se_doc_free(&d);
    assert_int_equal(P("{\"meta\": {\"doc\": 1}, \"body\": {\"main\": \"t\"}}", &nested), SE_EFORMAT);
    assert_int_equal(P("{\"_id\": \"a\", \"title\": 3}", &beir), SE_EFORMAT);
    assert_non_null(strstr(err.msg, "\"title\" must be a string"));
    assert_int_equal(P("{\"_id\": \"a\", \"url\": \"u\"}", &beir), SE_EFORMAT);
    assert_non_null(strstr(err.msg, "none of the text fields"));
#undef P
}

static void test_tsv(void **state)
{
    (void)state;
    se_doc d;
    se_error err;
#define T(l, f) se_doc_parse_tsv(l, strlen(l), "c.tsv:9", f, &d, &err)
    assert_int_equal(T("7067032\tThe presence of communication", NULL), SE_OK);
    assert_string_equal(d.id, "7067032");
    assert_string_equal(d.text, "The presence of communication");
    se_doc_free(&d);
    assert_int_equal(T("x\t", NULL), SE_OK); /* empty text: an empty document */
    assert_string_equal(d.text, "");
    se_doc_free(&d);
    assert_int_equal(T("no tab here", NULL), SE_EFORMAT);
    assert_non_null(strstr(err.msg, "c.tsv:9: no tab"));
    assert_int_equal(T("\tsome text", NULL), SE_EFORMAT);
    assert_non_null(strstr(err.msg, "empty id"));
    /* a NUL byte inside the id (found by fuzz_io_jsonl: it became an empty id) */
    assert_int_equal(se_doc_parse_tsv("\0\0\0\0\t\0\0\0-", 9, "c.tsv:9", NULL, &d, &err), SE_EFORMAT);
    assert_non_null(strstr(err.msg, "c.tsv:9: the id (column \"id\") contains a NUL byte"));
    assert_int_equal(se_doc_parse_tsv("a\0b\ttext", 8, "c.tsv:9", NULL, &d, &err), SE_EFORMAT);
    /* named columns: BEIR-like title and text out of three */
    const char *cols[] = {"pid", "title", "text"}, *tf[] = {"title", "text"};
    se_doc_fields f = {.id_field = "pid", .text_fields = tf, .n_text = 2, .tsv_columns = cols, .n_tsv = 3};
    assert_int_equal(T("p1\tTitle\tBody text", &f), SE_OK);
    assert_string_equal(d.id, "p1");
    assert_string_equal(d.text, "Title Body text");
    se_doc_free(&d);
    assert_int_equal(T("p2\tOnly title", &f), SE_OK); /* a column the line lacks is missing */
    assert_string_equal(d.text, "Only title");
    se_doc_free(&d);
    /* no id column named: the id stays NULL (the job writes FILE:LINE) */
    const char *c2[] = {"title", "text"};
    se_doc_fields noid = {.tsv_columns = c2, .n_tsv = 2, .text_fields = tf, .n_text = 2};
    assert_int_equal(T("A\tB", &noid), SE_OK);
    assert_null(d.id);
    assert_string_equal(d.text, "A B");
    se_doc_free(&d);
    /* invalid UTF-8 is repaired and counted, as in JSON lines */
    assert_int_equal(T("u\tcaf\xc3 ok", NULL), SE_OK);
    assert_int_equal((int)d.n_invalid_utf8, 1);
    assert_string_equal(d.text, "caf\xef\xbf\xbd ok");
    se_doc_free(&d);
#undef T
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    se_doc doc;
    se_error err;
    /* "a" C3 (truncated 2-byte) "b" FF FE (two bad bytes) E2 82 (truncated 3-byte) */
    const char in[] = "{\"id\": 0, \"text\": \"a\xC3" "b\xFF\xFE\xE2\x82\"}";
    assert_int_equal(se_doc_parse(in, sizeof in - 1, "c.jsonl:1", &doc, &err), SE_OK);
    assert_int_equal(doc.n_invalid_utf8, 4);
    assert_string_equal(doc.text, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    se_doc_free(&doc);
    /* surrogates and overlongs are ill-formed; a valid 4-byte emoji is kept */
    const char sur[] = "{\"id\": 0, \"text\": \"\xED\xA0\x80 \xC0\xAF \xF0\x9F\x98\x80\"}";
    assert_int_equal(se_doc_parse(sur, sizeof sur - 1, "c.jsonl:2", &doc, &err), SE_OK);
    assert_int_equal(doc.n_invalid_utf8, 5);
    se_doc_free(&doc);
    const char line[] = "{\"id\": 1, \"text\": \"caf\xC3 ok \xFF\"}";
    assert_int_equal(se_doc_parse(line, sizeof line - 1, "c.jsonl:3", &doc, &err), SE_OK);
    assert_int_equal(doc.n_invalid_utf8, 2);
    assert_string_equal(doc.text, "caf\xEF\xBF\xBD ok \xEF\xBF\xBD");
    se_doc_free(&doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_docs),
        cmocka_unit_test(test_token_docs),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_tsv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
