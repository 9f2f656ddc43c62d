/* The WordPiece tokenizer against Hugging Face tokenizers' ids (fixtures made
 * by tests/ref/gen_tokenizer_ref.js), and the loaders' error paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shardenc/text.h"

static char g_fx[2048];

static const char *fx(const char *rel)
{
    static char buf[8][4096];
    static int k;
    char *b = buf[k++ & 7];
    snprintf(b, 4096, "%s/%s", g_fx, rel);
    return b;
}

/* One JSONL file, parsed line by line (JSON_ALLOW_NUL: texts contain \u0000). */
typedef struct {
    json_t **v;
    size_t n;
} jsonl;

static jsonl read_jsonl(const char *path)
{
    jsonl r = {0};
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    size_t vcap = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        json_error_t je;
        json_t *j = json_loadb(line, (size_t)len, JSON_ALLOW_NUL, &je);
        if (!j) fail_msg("%s:%zu: %s", path, r.n + 1, je.text);
        if (r.n == vcap) {
            vcap = vcap ? vcap * 2 : 1024;
            r.v = realloc(r.v, vcap * sizeof *r.v);
        }
        r.v[r.n++] = j;
    }
    free(line);
    fclose(f);
    return r;
}

static void free_jsonl(jsonl *r)
{
    for (size_t i = 0; i < r->n; i++) json_decref(r->v[i]);
    free(r->v);
}

/* Encodes every corpus document and compares with the reference ids. */
static void check_corpus(se_tokenizer *t, const char *ids_file, int special)
{
    jsonl corpus = read_jsonl(fx("tok/corpus.jsonl"));
    jsonl ref = read_jsonl(fx(ids_file));
    assert_int_equal(corpus.n, ref.n);
    assert_true(corpus.n > 1000);
    se_ids ids = {0};
    se_error err;
    size_t bad_docs = 0, total = 0;
    for (size_t i = 0; i < corpus.n; i++) {
        json_t *text = json_object_get(corpus.v[i], "text");
        assert_true(json_equal(json_object_get(corpus.v[i], "id"), json_object_get(ref.v[i], "id")));
        size_t n_inv = 99;
        assert_int_equal(se_tok_encode(t, json_string_value(text), json_string_length(text), special, &ids, &n_inv,
                                       &err),
                         SE_OK);
        assert_int_equal(n_inv, 0);
        json_t *want = json_object_get(ref.v[i], "input_ids");
        size_t nw = json_array_size(want);
        total += nw;
        size_t k = 0;
        while (k < nw && k < ids.n && json_integer_value(json_array_get(want, k)) == ids.ids[k]) k++;
        if (k != nw || ids.n != nw) {
            if (bad_docs < 5)
                print_error("%s: document %zu: %zu ids, want %zu; first difference at %zu: got %d want %d\n",
                            ids_file, i, ids.n, nw, k, k < ids.n ? ids.ids[k] : -1,
                            k < nw ? (int)json_integer_value(json_array_get(want, k)) : -1);
            bad_docs++;
        }
    }
    print_message("%s: %zu documents, %zu ids compared, %zu differ\n", ids_file, corpus.n, total, bad_docs);
    assert_int_equal(bad_docs, 0);
    se_ids_free(&ids);
    free_jsonl(&corpus);
    free_jsonl(&ref);
}

static se_tokenizer *load_vocab_txt(int lowercase)
{
    se_tok_options o;
    se_tok_options_default(&o);
    o.lowercase = lowercase;
    se_tokenizer *t = NULL;
    se_error err;
    se_status st = se_tok_load_vocab(fx("vocab/bert-base-uncased/vocab.txt"), &o, &t, &err);
    if (st) fail_msg("%s", err.msg);
    return t;
}

static se_tokenizer *load_json(const char *dir)
{
    se_tokenizer *t = NULL;
    se_error err;
    char p[4200];
    snprintf(p, sizeof p, "%s/tokenizer.json", fx(dir));
    if (se_tok_load_json(p, &t, &err)) fail_msg("%s", err.msg);
    return t;
}

static void test_vocab_uncased(void **s)
{
    (void)s;
    se_tokenizer *t = load_vocab_txt(1);
    check_corpus(t, "tok/ids_uncased_special.jsonl", 1);
    check_corpus(t, "tok/ids_uncased_plain.jsonl", 0);
    se_tok_free(t);
}

static void test_vocab_cased(void **s)
{
    (void)s;
    se_tokenizer *t = load_vocab_txt(0);
    check_corpus(t, "tok/ids_cased_special.jsonl", 1);
    check_corpus(t, "tok/ids_cased_plain.jsonl", 0);
    se_tok_free(t);
}

static void test_json_uncased(void **s)
{
    (void)s;
    se_tokenizer *t = load_json("vocab/bert-base-uncased");
    check_corpus(t, "tok/ids_uncased_special.jsonl", 1);
    check_corpus(t, "tok/ids_uncased_plain.jsonl", 0);
    se_tok_free(t);
}

static void test_json_cased(void **s)
{
    (void)s;
    se_tokenizer *t = load_json("vocab/bert-cased-config");
    check_corpus(t, "tok/ids_cased_special.jsonl", 1);
    check_corpus(t, "tok/ids_cased_plain.jsonl", 0);
    se_tok_free(t);
}

static size_t unhex(const char *h, char *out)
{
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (char)v;
    }
    return n;
}

/* Bytes that are not UTF-8: one U+FFFD per maximal subpart (then removed by
 * clean_text), ids and the count as the reference. */
static void test_invalid_utf8(void **s)
{
    (void)s;
    se_tokenizer *tu = load_json("vocab/bert-base-uncased"), *tc = load_vocab_txt(0);
    jsonl cases = read_jsonl(fx("tok/invalid_utf8.jsonl"));
    assert_true(cases.n >= 20);
    se_ids ids = {0};
    se_error err;
    size_t total_invalid = 0;
    for (size_t i = 0; i < cases.n; i++) {
        char buf[256];
        size_t n = unhex(json_string_value(json_object_get(cases.v[i], "hex")), buf);
        for (int c = 0; c < 2; c++) {
            size_t n_inv = 99;
            assert_int_equal(se_tok_encode(c ? tc : tu, buf, n, 1, &ids, &n_inv, &err), SE_OK);
            json_t *want = json_object_get(cases.v[i], c ? "cased" : "uncased");
            assert_int_equal(n_inv, json_integer_value(json_object_get(cases.v[i], "n_invalid")));
            assert_int_equal(ids.n, json_array_size(want));
            for (size_t k = 0; k < ids.n; k++) assert_int_equal(ids.ids[k], json_integer_value(json_array_get(want, k)));
            if (!c) total_invalid += n_inv;
        }
    }
    /* hand-checked: Unicode table 3-8's example has 6 maximal subparts */
    char b[32];
    size_t n = unhex("61f18080e180c262806380bf64", b), n_inv = 0;
    assert_int_equal(se_tok_encode(tu, b, n, 0, &ids, &n_inv, &err), SE_OK);
    assert_int_equal(n_inv, 6);
    assert_true(total_invalid > 30);
    se_ids_free(&ids);
    free_jsonl(&cases);
    se_tok_free(tu);
    se_tok_free(tc);
}

static void expect_ids(se_tokenizer *t, const char *text, size_t len, int special, const int32_t *want, size_t nw)
{
    se_ids ids = {0};
    se_error err;
    assert_int_equal(se_tok_encode(t, text, len, special, &ids, NULL, &err), SE_OK);
    assert_int_equal(ids.n, nw);
    for (size_t i = 0; i < nw; i++) assert_int_equal(ids.ids[i], want[i]);
    se_ids_free(&ids);
}

/* Exact values known from bert-base-uncased. */
static void test_known_ids(void **s)
{
    (void)s;
    se_tokenizer *t = load_vocab_txt(1);
    assert_int_equal(se_tok_vocab_size(t), 30522);
    assert_int_equal(se_tok_cls_id(t), 101);
    assert_int_equal(se_tok_sep_id(t), 102);
    assert_int_equal(se_tok_unk_id(t), 100);
    assert_int_equal(se_tok_pad_id(t), 0);
    assert_string_equal(se_tok_id_to_token(t, 1), "[unused0]");
    assert_string_equal(se_tok_id_to_token(t, 7592), "hello");
    assert_string_equal(se_tok_id_to_token(t, 2015), "##s");
    assert_null(se_tok_id_to_token(t, 30522));
    assert_null(se_tok_id_to_token(t, -1));
    expect_ids(t, "Hello, World!", 13, 1, (int32_t[]){101, 7592, 1010, 2088, 999, 102}, 6);
    expect_ids(t, "", 0, 1, (int32_t[]){101, 102}, 2);
    expect_ids(t, "", 0, 0, NULL, 0);
    /* [MASK] is an added token matched in the raw text; [mask] is not */
    expect_ids(t, "a [MASK] b [mask]", 17, 0, (int32_t[]){1037, 103, 1038, 1031, 7308, 1033}, 6);
    /* 100 chars: pieces; 101: [UNK] (max_input_chars_per_word) */
    char w[102];
    memset(w, 'a', 101);
    se_ids ids = {0};
    se_error err;
    assert_int_equal(se_tok_encode(t, w, 100, 0, &ids, NULL, &err), SE_OK);
    assert_int_equal(ids.n, 50); /* aaa ##aa x48 ##a, as the reference */
    assert_int_equal(ids.ids[0], 13360);
    assert_int_equal(ids.ids[49], 2050);
    expect_ids(t, w, 101, 0, (int32_t[]){100}, 1);
    /* NUL and controls vanish, NBSP splits, accents go */
    expect_ids(t, "caf\xc3\xa9\x00\x07 x\xc2\xa0y", 12, 0, (int32_t[]){7668, 1060, 1061}, 3);
    se_ids_free(&ids);
    se_tok_free(t);
}

static char *write_tmp(const char *content, size_t len)
{
    static char path[8][64];
    static int k;
    char *p = path[k++ & 7];
    snprintf(p, 64, "/tmp/se_tok_test_XXXXXX");
    int fd = mkstemp(p);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    close(fd);
    return p;
}

static void test_loader_errors(void **s)
{
    (void)s;
    se_tokenizer *t = (se_tokenizer *)0x1;
    se_error err;
    se_tok_options o;
    se_tok_options_default(&o);

    assert_int_equal(se_tok_load_vocab("/nonexistent/vocab.txt", &o, &t, &err), SE_EIO);
    assert_null(t);
    assert_non_null(strstr(err.msg, "/nonexistent/vocab.txt"));
    assert_int_equal(se_tok_load_json("/nonexistent/tokenizer.json", &t, &err), SE_EIO);

    char *p = write_tmp("", 0);
    assert_int_equal(se_tok_load_vocab(p, &o, &t, &err), SE_EFORMAT);
    assert_non_null(strstr(err.msg, "empty vocabulary"));
    unlink(p);
    p = write_tmp("\n\n  \n", 5);
    assert_int_equal(se_tok_load_vocab(p, &o, &t, &err), SE_EFORMAT);
    assert_non_null(strstr(err.msg, "empty vocabulary"));
    unlink(p);

    const char dup[] = "[PAD]\n[UNK]\nhello\nworld\nhello\n";
    p = write_tmp(dup, sizeof dup - 1);
    assert_int_equal(se_tok_load_vocab(p, &o, &t, &err), SE_EFORMAT);
    assert_non_null(strstr(err.msg, ":5: duplicate token 'hello' (first at line 3)"));
    unlink(p);

    const char nounk[] = "[PAD]\nhello\n";
    p = write_tmp(nounk, sizeof nounk - 1);
    assert_int_equal(se_tok_load_vocab(p, &o, &t, &err), SE_EFORMAT);
    assert_non_null(strstr(err.msg, "no [UNK]"));
    unlink(p);

    const char bpe[] = "{\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"a\":0}},"
                       "\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"}}";
    p = write_tmp(bpe, sizeof bpe - 1);
    assert_int_equal(se_tok_load_json(p, &t, &err), SE_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "model type 'WordLevel' is not supported (WordPiece, BPE, Unigram)"));
    unlink(p);

    /* WordPiece behind other parts goes through the pipeline, which refuses what it lacks by name */
    const char nfkc[] = "{\"normalizer\":{\"type\":\"Nmt\"},\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
                        "\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":0}}}";
    p = write_tmp(nfkc, sizeof nfkc - 1);
    assert_int_equal(se_tok_load_json(p, &t, &err), SE_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "normalizer type 'Nmt' is not supported"));
    unlink(p);

    const char dupj[] = "{\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
                        "\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":0,\"a\":1,\"a\":2}}}";
    p = write_tmp(dupj, sizeof dupj - 1);
    assert_int_equal(se_tok_load_json(p, &t, &err), SE_EFORMAT);
    assert_non_null(strstr(err.msg, "duplicate"));
    unlink(p);

    const char trunc[] = "{\"model\":{\"type\":\"WordPiece\",";
    p = write_tmp(trunc, sizeof trunc - 1);
    assert_int_equal(se_tok_load_json(p, &t, &err), SE_EFORMAT);
    assert_non_null(strstr(err.msg, "invalid JSON"));
    unlink(p);

    const char emptyv[] = "{\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
                          "\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}";
    p = write_tmp(emptyv, sizeof emptyv - 1);
    assert_int_equal(se_tok_load_json(p, &t, &err), SE_EFORMAT);
    assert_non_null(strstr(err.msg, "empty vocabulary"));
    unlink(p);

    /* a minimal valid tokenizer.json: no normalizer, BertProcessing */
    const char mini[] = "{\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
                        "\"post_processor\":{\"type\":\"BertProcessing\",\"sep\":[\"[SEP]\",3],\"cls\":[\"[CLS]\",2]},"
                        "\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":0,\"ab\":1,\"[CLS]\":2,\"[SEP]\":3,"
                        "\"##c\":4,\"AB\":5}}}";
    p = write_tmp(mini, sizeof mini - 1);
    assert_int_equal(se_tok_load_json(p, &t, &err), SE_OK);
    expect_ids(t, "abc AB ab!", 10, 1, (int32_t[]){2, 1, 4, 5, 1, 0, 3}, 7);
    se_tok_free(t);
    unlink(p);

    assert_int_equal(se_tok_load_dir("/nonexistent-dir", &t, &err), SE_EIO);
    assert_non_null(strstr(err.msg, "neither tokenizer.json nor vocab.txt"));
}

static void test_load_dir(void **s)
{
    (void)s;
    se_tokenizer *t = NULL;
    se_error err;
    assert_int_equal(se_tok_load_dir(fx("vocab/bert-cased-config"), &t, &err), SE_OK);
    /* cased config: no lowercasing, accents kept */
    expect_ids(t, "Hello", 5, 0, (int32_t[]){100}, 1);
    se_tok_free(t);
}

int main(void)
{
    const char *e = getenv("SE_FIXTURES");
    if (e && *e) {
        snprintf(g_fx, sizeof g_fx, "%s", e);
    } else { /* default: the source tree this file sits in */
        snprintf(g_fx, sizeof g_fx, "%s", __FILE__);
        char *slash = strrchr(g_fx, '/');
        if (slash) *slash = '\0';
        strncat(g_fx, "/../fixtures", sizeof g_fx - strlen(g_fx) - 1);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_ids),    cmocka_unit_test(test_vocab_uncased), cmocka_unit_test(test_vocab_cased),
        cmocka_unit_test(test_json_uncased), cmocka_unit_test(test_json_cased),    cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_loader_errors), cmocka_unit_test(test_load_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
