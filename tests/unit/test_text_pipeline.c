/* The tokenizer.json pipeline (byte-level BPE, Unigram + Precompiled, the
 * other normalizers / pre-tokenizers / post-processors) against Hugging Face
 * tokenizers' ids: tests/ref/gen_pipeline_ref.js wrote, per variant of
 * tests/fixtures/tok/pipe_variants.json, the ids of the corpus and of hard
 * cases. Each variant is rebuilt here from its base file + patch. Plus the
 * refusals: unsupported parts by name, hostile files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "se_test_util.h"
#include "shardenc/text.h"

static char g_fx[4096];

static json_t *load_json(const char *rel)
{
    char p[8192];
    snprintf(p, sizeof p, "%s/%s", g_fx, rel);
    json_error_t je;
    json_t *j = json_load_file(p, JSON_ALLOW_NUL, &je);
    if (!j) fail_msg("%s: %s", p, je.text);
    return j;
}

/* "@base.KEY" -> base[KEY]; "@base.model+FLAG" -> base's model with FLAG true; "@base.model-A-B"
 * -> with A and B false; "+mask_lstrip" on added_tokens: [MASK] lstrip + normalized (as the generator). */
static json_t *resolve(json_t *v, json_t *base)
{
    if (json_is_string(v) && strncmp(json_string_value(v), "@base.", 6) == 0) {
        char key[64];
        snprintf(key, sizeof key, "%s", json_string_value(v) + 6);
        char *plus = strchr(key, '+'), *minus = strchr(key, '-');
        if (plus) *plus++ = '\0';
        if (minus) *minus++ = '\0';
        json_t *r = json_deep_copy(json_object_get(base, key));
        while (minus) { /* "model-A-B": A and B false */
            char *next = strchr(minus, '-');
            if (next) *next++ = '\0';
            json_object_set_new(r, minus, json_false());
            minus = next;
        }
        if (plus && !strcmp(plus, "mask_lstrip")) {
            size_t i;
            json_t *e;
            json_array_foreach(r, i, e) {
                if (!strcmp(json_string_value(json_object_get(e, "content")), "[MASK]")) {
                    json_object_set_new(e, "lstrip", json_true());
                    json_object_set_new(e, "normalized", json_true());
                }
            }
        } else if (plus) {
            json_object_set_new(r, plus, json_true());
        }
        return r;
    }
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) json_array_append_new(a, resolve(e, base));
        return a;
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e) json_object_set_new(o, k, resolve(e, base));
        return o;
    }
    return json_incref(v);
}

static se_tokenizer *load_variant(json_t *variants, const char *name)
{
    json_t *v = json_object_get(variants, name);
    assert_non_null(v);
    json_t *base = load_json(json_string_value(json_object_get(v, "base")));
    json_t *tj = json_copy(base);
    const char *k;
    json_t *e;
    json_object_foreach(json_object_get(v, "patch"), k, e) json_object_set_new(tj, k, resolve(e, base));
    char path[] = "/tmp/se_test_pipe_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(json_dump_file(tj, path, JSON_COMPACT), 0);
    json_decref(tj);
    json_decref(base);
    se_tokenizer *t = NULL;
    se_error err;
    se_status st = se_tok_load_json(path, &t, &err);
    unlink(path);
    if (st) fail_msg("variant %s: %s", name, err.msg);
    return t;
}

static json_t *g_corpus; /* id (as text) -> text */

static void check_variant(const char *name)
{
    json_t *variants = load_json("tok/pipe_variants.json");
    se_tokenizer *t = load_variant(variants, name);
    char rel[8192];
    snprintf(rel, sizeof rel, "%s/tok/pipe_%s.jsonl", g_fx, name);
    FILE *f = fopen(rel, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t ln;
    se_ids ids = {0}, plain = {0};
    int n = 0, bad = 0;
    while ((ln = getline(&line, &cap, f)) > 0) {
        json_error_t je;
        json_t *rec = json_loadb(line, (size_t)ln, JSON_ALLOW_NUL, &je);
        assert_non_null(rec);
        json_t *id = json_object_get(rec, "id"), *text = json_object_get(rec, "text");
        char key[64];
        if (json_is_integer(id)) snprintf(key, sizeof key, "%lld", (long long)json_integer_value(id));
        else snprintf(key, sizeof key, "%s", json_string_value(id));
        if (!text) text = json_object_get(g_corpus, key);
        assert_non_null(text);
        json_t *want = json_object_get(rec, "input_ids");
        se_error err;
        assert_int_equal(se_tok_encode(t, json_string_value(text), json_string_length(text), 1, &ids, NULL, &err), SE_OK);
        int same = ids.n == json_array_size(want);
        for (size_t i = 0; same && i < ids.n; i++) same = ids.ids[i] == json_integer_value(json_array_get(want, i));
        if (!same && bad++ < 3) {
            size_t i = 0;
            while (i < ids.n && i < json_array_size(want) && ids.ids[i] == json_integer_value(json_array_get(want, i))) i++;
            fprintf(stderr, "%s doc %s: %zu ids vs HF %zu, first difference at %zu (ours %d, HF %d)\n", name, key,
                    ids.n, json_array_size(want), i, i < ids.n ? ids.ids[i] : -1,
                    i < json_array_size(want) ? (int)json_integer_value(json_array_get(want, i)) : -1);
        }
        /* without specials: the same ids minus the template around them */
        assert_int_equal(se_tok_encode(t, json_string_value(text), json_string_length(text), 0, &plain, NULL, &err), SE_OK);
        if (same && ids.n >= plain.n) {
            size_t pre = 0;
            while (pre + plain.n <= ids.n && memcmp(ids.ids + pre, plain.ids, plain.n * sizeof *plain.ids)) pre++;
            if (pre + plain.n > ids.n && bad++ < 3) fprintf(stderr, "%s doc %s: plain ids not inside special ids\n", name, key);
        }
        n++;
        json_decref(rec);
    }
    free(line);
    fclose(f);
    se_ids_free(&ids);
    se_ids_free(&plain);
    se_tok_free(t);
    json_decref(variants);
    if (bad) fail_msg("variant %s: %d of %d documents differ from Hugging Face tokenizers", name, bad, n);
    assert_true(n > 20);
}

static void test_roberta(void **s) { (void)s; check_variant("roberta"); }
static void test_gpt2(void **s) { (void)s; check_variant("gpt2"); }
static void test_llama2(void **s) { (void)s; check_variant("llama2"); }
static void test_gpt2_prefix(void **s) { (void)s; check_variant("gpt2-prefix"); }
static void test_llama3_split(void **s) { (void)s; check_variant("llama3-split"); }
static void test_qwen_split(void **s) { (void)s; check_variant("qwen-split"); }
static void test_xlmr(void **s) { (void)s; check_variant("xlmr"); }
static void test_xlmr_new(void **s) { (void)s; check_variant("xlmr-new"); }
static void test_t5_first(void **s) { (void)s; check_variant("t5-first"); }
static void test_misc_norm(void **s) { (void)s; check_variant("misc-norm"); }
static void test_bert_parts(void **s) { (void)s; check_variant("bert-parts"); }
static void test_split_behaviors(void **s) { (void)s; check_variant("split-behaviors"); }
static void test_wordpiece_nfd(void **s) { (void)s; check_variant("wordpiece-nfd"); }
static void test_bpe_options(void **s) { (void)s; check_variant("bpe-options"); }
static void test_bpe_nofuse(void **s) { (void)s; check_variant("bpe-nofuse"); }

/* A tokenizer.json from a JSON text; the expected status and a piece of the message. */
static void expect_refusal(const char *json, se_status want, const char *msg)
{
    char path[] = "/tmp/se_test_pipe_bad_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, json, strlen(json)), (ssize_t)strlen(json));
    close(fd);
    se_tokenizer *t = NULL;
    se_error err;
    se_status st = se_tok_load_json(path, &t, &err);
    unlink(path);
    if (st != want || !strstr(err.msg, msg) || !strstr(err.msg, "/tmp/se_test_pipe_bad_"))
        fail_msg("want status %d with '%s' and the file name, got %d: %s", (int)want, msg, (int)st, st ? err.msg : "");
    assert_null(t);
}

#define BPE_OK "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]}"
#define UNI_OK "\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"<unk>\",0],[\"a\",-1.5]]}"

static void test_refusals(void **s)
{
    (void)s;
    /* what is not implemented is refused by name, with its JSON path */
    expect_refusal("{\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFC\"},{\"type\":\"Nmt\"}]},"
                   BPE_OK "}", SE_EUNSUPPORTED, "normalizer.normalizers[1]: normalizer type 'Nmt' is not supported");
    expect_refusal("{\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"UnicodeScripts\"}]},"
                   UNI_OK "}", SE_EUNSUPPORTED, "pre_tokenizer.pretokenizers[0]: pre_tokenizer type 'UnicodeScripts'");
    expect_refusal("{\"post_processor\":{\"type\":\"Fancy\"}," BPE_OK "}", SE_EUNSUPPORTED,
                   "post_processor: post_processor type 'Fancy' is not supported");
    expect_refusal("{\"model\":{\"type\":\"WordLevel\",\"vocab\":{}}}", SE_EUNSUPPORTED, "model type 'WordLevel'");
    expect_refusal("{\"extra\":1," BPE_OK "}", SE_EUNSUPPORTED, "top-level key 'extra' is not supported");
    expect_refusal("{\"model\":{\"type\":\"BPE\",\"dropout\":0.1,\"vocab\":{\"a\":0},\"merges\":[]}}", SE_EUNSUPPORTED,
                   "model.dropout");
    expect_refusal("{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(a\"},\"behavior\":\"Isolated\"},"
                   BPE_OK "}", SE_EUNSUPPORTED, "pre_tokenizer.pattern.Regex: regex '(a' does not compile");
    expect_refusal("{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"String\":\"x\"},\"behavior\":\"Sideways\"},"
                   BPE_OK "}", SE_EFORMAT, "pre_tokenizer.behavior");
    /* hostile files */
    expect_refusal("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a b\"]}}", SE_EFORMAT,
                   "model.merges[0]: token 'ab' is not in model.vocab");
    expect_refusal("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a c\"]}}", SE_EFORMAT,
                   "model.merges[0]: token 'c' is not in model.vocab");
    expect_refusal("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"ab\"]}}", SE_EFORMAT,
                   "model.merges[0]: 'ab' is not two tokens");
    expect_refusal("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":99999999},\"merges\":[]}}", SE_EFORMAT,
                   "model.vocab[\"a\"]: id must be an integer");
    expect_refusal("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-1},\"merges\":[]}}", SE_EFORMAT, "model.vocab");
    expect_refusal("{\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"vocab\":{\"a\":0},\"merges\":[]}}",
                   SE_EFORMAT, "model.unk_token '<unk>' is not in model.vocab");
    expect_refusal("{\"added_tokens\":[{\"id\":-3,\"content\":\"x\"}]," BPE_OK "}", SE_EFORMAT, "added_tokens[0]");
    expect_refusal("{\"post_processor\":{\"type\":\"RobertaProcessing\",\"cls\":[\"<s>\",7],\"sep\":[\"</s>\",2]},"
                   BPE_OK "}", SE_EFORMAT, "cls and sep must be [token, id] with an id in the vocabulary");
    expect_refusal("{\"model\":{\"type\":\"Unigram\",\"unk_id\":5,\"vocab\":[[\"a\",0]]}}", SE_EFORMAT, "model.unk_id");
    expect_refusal("{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",\"x\"]]}}", SE_EFORMAT, "model.vocab[0]");
    expect_refusal("{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}", SE_EFORMAT, "model.vocab must be a non-empty");
    expect_refusal("{\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"@@@\"}," UNI_OK "}",
                   SE_EFORMAT, "precompiled_charsmap: invalid base64");
    expect_refusal("{\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"/////wAAAAA=\"}," UNI_OK "}",
                   SE_EFORMAT, "precompiled_charsmap: trie size");
    expect_refusal("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"\xff\":0},\"merges\":[]}}", SE_EFORMAT, "invalid JSON");
}

/* A hostile charsmap whose units point outside the array, and text with
 * invalid UTF-8: no crash, the count reported, ids in range. */
static void test_hostile_encode(void **s)
{
    (void)s;
    /* trie of 2 units: unit 0 offset 0; unit 1 claims label 'a' and a leaf far away */
    static const char js[] = "{\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"CAAAAAAAAABhAf//AA==\"},"
                             UNI_OK ",\"added_tokens\":[{\"id\":1,\"content\":\"aa\",\"lstrip\":true,\"rstrip\":true,"
                             "\"single_word\":true,\"normalized\":true}]}";
    char path[] = "/tmp/se_test_pipe_h_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, js, sizeof js - 1), (ssize_t)(sizeof js - 1));
    close(fd);
    se_tokenizer *t = NULL;
    se_error err;
    se_status st = se_tok_load_json(path, &t, &err);
    unlink(path);
    if (st) fail_msg("%s", err.msg);
    se_ids ids = {0};
    size_t bad = 0;
    const char txt[] = "a\xff aa b \xe2\x82 aa  aaa a";
    assert_int_equal(se_tok_encode(t, txt, sizeof txt - 1, 1, &ids, &bad, &err), SE_OK);
    assert_int_equal(bad, 2);
    for (size_t i = 0; i < ids.n; i++) assert_true(ids.ids[i] >= 0 && ids.ids[i] < se_tok_vocab_size(t));
    se_ids_free(&ids);
    se_tok_free(t);
}

static void test_dir_and_template(void **s)
{
    (void)s;
    char p[8192];
    snprintf(p, sizeof p, "%s/vocab/unigram-xlmr", g_fx);
    se_tokenizer *t = NULL;
    se_error err;
    assert_int_equal(se_tok_load_dir(p, &t, &err), SE_OK);
    const int32_t *pre, *suf;
    int np, ns;
    se_tok_template(t, &pre, &np, &suf, &ns);
    assert_int_equal(np, 1);
    assert_int_equal(ns, 1);
    assert_int_equal(pre[0], 0); /* <s> $A </s> */
    assert_int_equal(suf[0], 2);
    assert_int_equal(se_tok_cls_id(t), 0);
    assert_int_equal(se_tok_sep_id(t), 2);
    assert_int_equal(se_tok_pad_id(t), 1);
    assert_int_equal(se_tok_unk_id(t), 3);
    assert_string_equal(se_tok_id_to_token(t, 2), "</s>");
    se_tok_free(t);
    /* GPT-2: no template, so no cls/sep */
    snprintf(p, sizeof p, "%s/vocab/gpt2", g_fx);
    assert_int_equal(se_tok_load_dir(p, &t, &err), SE_OK);
    se_tok_template(t, &pre, &np, &suf, &ns);
    assert_int_equal(np + ns, 0);
    assert_int_equal(se_tok_cls_id(t), -1);
    assert_int_equal(se_tok_vocab_size(t), 50257);
    se_tok_free(t);
    /* a folder with only the SentencePiece model: refused with the conversion */
    char d[] = "/tmp/se_test_spm_XXXXXX";
    assert_non_null(mkdtemp(d));
    snprintf(p, sizeof p, "%s/sentencepiece.bpe.model", d);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("x", f);
    fclose(f);
    assert_int_equal(se_tok_load_dir(d, &t, &err), SE_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "only sentencepiece.bpe.model, no tokenizer.json"));
    assert_non_null(strstr(err.msg, "save_pretrained"));
    unlink(p);
    rmdir(d);
}

int main(void)
{
    const char *e = getenv("SE_FIXTURES");
    if (e && *e) {
        snprintf(g_fx, sizeof g_fx, "%s", e);
    } else {
        snprintf(g_fx, sizeof g_fx, "%s", __FILE__);
        char *slash = strrchr(g_fx, '/');
        if (slash) *slash = '\0';
        strncat(g_fx, "/../fixtures", sizeof g_fx - strlen(g_fx) - 1);
    }
    char p[8192];
    snprintf(p, sizeof p, "%s/tok/corpus.jsonl", g_fx);
    FILE *f = fopen(p, "r");
    if (!f) {
        fprintf(stderr, "%s: cannot open\n", p);
        return 1;
    }
    g_corpus = json_object();
    char *line = NULL;
    size_t cap = 0;
    ssize_t ln;
    while ((ln = getline(&line, &cap, f)) > 0) {
        json_error_t je;
        json_t *rec = json_loadb(line, (size_t)ln, JSON_ALLOW_NUL, &je);
        if (!rec) continue;
        json_t *id = json_object_get(rec, "id");
        char key[64];
        if (json_is_integer(id)) snprintf(key, sizeof key, "%lld", (long long)json_integer_value(id));
        else snprintf(key, sizeof key, "%s", json_string_value(id));
        json_object_set(g_corpus, key, json_object_get(rec, "text"));
        json_decref(rec);
    }
    free(line);
    fclose(f);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roberta),     cmocka_unit_test(test_gpt2),        cmocka_unit_test(test_llama2),        cmocka_unit_test(test_gpt2_prefix),
        cmocka_unit_test(test_llama3_split), cmocka_unit_test(test_qwen_split), cmocka_unit_test(test_xlmr),
        cmocka_unit_test(test_xlmr_new),    cmocka_unit_test(test_t5_first),    cmocka_unit_test(test_misc_norm),
        cmocka_unit_test(test_bert_parts),  cmocka_unit_test(test_split_behaviors), cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_hostile_encode), cmocka_unit_test(test_dir_and_template),
        cmocka_unit_test(test_wordpiece_nfd),  cmocka_unit_test(test_bpe_options), cmocka_unit_test(test_bpe_nofuse),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    json_decref(g_corpus);
    return rc;
}
