/* libFuzzer: se_tok_encode through the tokenizer.json pipeline on arbitrary
 * bytes, four tokenizers: the committed GPT-2 file with RoBERTa's added
 * tokens (lstrip/rstrip/single_word) and post-processor, the committed
 * Unigram file (real nmt_nfkc charsmap), a small byte-fallback BPE behind
 * Lowercase/NFKD/StripAccents/Replace + Split(Llama-3)/Digits/Punctuation,
 * a Unigram with byte_fallback behind Metaspace(first), and a WordPiece
 * behind NFD/Lowercase/Strip + Whitespace/Digits. Invariants
 * besides "no crash / no sanitizer report": ids in range and named, the
 * invalid-UTF-8 count equals se_utf8_count_invalid, the repaired text gives
 * the same ids, and add_special = template prefix + plain ids + suffix. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shardenc/text.h"

#define N_TOK 5
static se_tokenizer *g_tok[N_TOK];

static se_tokenizer *load_json_text(const char *content)
{
    char path[] = "/tmp/se_fuzz_pipe_XXXXXX";
    int fd = mkstemp(path);
    size_t len = strlen(content);
    if (fd < 0 || write(fd, content, len) != (ssize_t)len) abort();
    close(fd);
    se_tokenizer *t = NULL;
    se_error err;
    se_status st = se_tok_load_json(path, &t, &err);
    unlink(path);
    if (st) {
        fprintf(stderr, "fuzz setup: %s\n", err.msg);
        abort();
    }
    return t;
}

/* A committed fixture with some top-level keys replaced (JSON text of an object). */
static se_tokenizer *load_fixture(const char *rel, const char *patch)
{
    char p[4096];
    const char *fx = getenv("SE_FIXTURES");
    if (fx && *fx) {
        snprintf(p, sizeof p, "%s/%s", fx, rel);
    } else {
        snprintf(p, sizeof p, "%s", __FILE__);
        char *slash = strrchr(p, '/');
        if (slash) *slash = '\0';
        size_t l = strlen(p);
        snprintf(p + l, sizeof p - l, "/../fixtures/%s", rel);
    }
    json_error_t je;
    json_t *base = json_load_file(p, 0, &je), *pt = json_loads(patch, 0, &je);
    if (!base || !pt) {
        fprintf(stderr, "fuzz setup: %s: %s\n", p, je.text);
        abort();
    }
    json_object_update(base, pt);
    char *s = json_dumps(base, JSON_COMPACT);
    se_tokenizer *t = load_json_text(s);
    free(s);
    json_decref(base);
    json_decref(pt);
    return t;
}

static const char k_bpe[] =
    "{\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Lowercase\"},{\"type\":\"NFKD\"},"
    "{\"type\":\"StripAccents\"},{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"\\\\s{2,}\"},\"content\":\" \"}]},"
    "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":"
    "\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*"
    "|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":\"Isolated\"},{\"type\":\"Digits\",\"individual_digits\":true},"
    "{\"type\":\"Punctuation\",\"behavior\":\"MergedWithPrevious\"}]},"
    "\"added_tokens\":[{\"id\":9,\"content\":\"<x>\",\"single_word\":true,\"normalized\":true}],"
    "\"post_processor\":{\"type\":\"BertProcessing\",\"cls\":[\"<x>\",9],\"sep\":[\"a\",3]},"
    "\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"byte_fallback\":true,\"fuse_unk\":true,"
    "\"continuing_subword_prefix\":\"##\",\"end_of_word_suffix\":\"</w>\",\"vocab\":{\"<unk>\":0,\"<0x61>\":1,"
    "\"<0xC3>\":2,\"a\":3,\"##b\":4,\"ab\":5,\"c</w>\":6,\"##c</w>\":7,\"abc</w>\":8,\"<x>\":9,\"##a\":10,\"aa\":11},"
    "\"merges\":[\"a ##b\",\"ab ##c</w>\",\"a ##a\"]}}";

static const char k_uni[] =
    "{\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"first\",\"split\":true},"
    "\"added_tokens\":[{\"id\":1,\"content\":\"ab\",\"rstrip\":true,\"normalized\":false}],"
    "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"Sequence\":{\"id\":\"A\"}},"
    "{\"SpecialToken\":{\"id\":\"e\"}}],\"special_tokens\":{\"e\":{\"ids\":[2,0]}}},"
    "\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"byte_fallback\":true,\"vocab\":[[\"<unk>\",0],[\"ab\",-1],"
    "[\"\\u2581\",-2],[\"\\u2581a\",-1.5],[\"a\",-3],[\"b\",-3],[\"<0xE4>\",-9],[\"<0xB8>\",-9],[\"<0xAD>\",-9]]}}";

static const char k_wp[] =
    "{\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFD\"},{\"type\":\"Lowercase\"},"
    "{\"type\":\"Strip\",\"strip_left\":true,\"strip_right\":false}]},\"pre_tokenizer\":{\"type\":\"Sequence\","
    "\"pretokenizers\":[{\"type\":\"Whitespace\"},{\"type\":\"Digits\",\"individual_digits\":false}]},"
    "\"added_tokens\":[{\"id\":4,\"content\":\"[MASK]\",\"lstrip\":true,\"rstrip\":true,\"special\":true}],"
    "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"max_input_chars_per_word\":8,"
    "\"vocab\":{\"[UNK]\":0,\"a\":1,\"##b\":2,\"ab\":3,\"[MASK]\":4,\"e\":5,\"##\\u0301\":6,\"1\":7,\"##2\":8}}}";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    g_tok[0] = load_fixture("vocab/gpt2/tokenizer.json",
                            "{\"added_tokens\":[{\"id\":50256,\"content\":\"<|endoftext|>\",\"single_word\":true},"
                            "{\"id\":50257,\"content\":\"<s>\",\"rstrip\":true},{\"id\":50258,\"content\":\"<mask>\","
                            "\"lstrip\":true},{\"id\":50259,\"content\":\"</s>\",\"normalized\":true}],"
                            "\"post_processor\":{\"type\":\"RobertaProcessing\",\"cls\":[\"<s>\",50257],"
                            "\"sep\":[\"</s>\",50259]}}");
    g_tok[1] = load_fixture("vocab/unigram-xlmr/tokenizer.json", "{}");
    g_tok[2] = load_json_text(k_bpe);
    g_tok[3] = load_json_text(k_uni);
    g_tok[4] = load_json_text(k_wp);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    const se_tokenizer *t = g_tok[data[0] % N_TOK];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    se_ids a = {0}, b = {0}, c = {0};
    se_error err;
    size_t inv = 0, inv2 = 1;
    if (se_tok_encode(t, text, len, 0, &a, &inv, &err)) abort();
    for (size_t i = 0; i < a.n; i++)
        if (a.ids[i] < 0 || a.ids[i] >= se_tok_vocab_size(t) || !se_tok_id_to_token(t, a.ids[i])) abort();
    if (inv != se_utf8_count_invalid(text, len)) abort();
    char *fixed = malloc(3 * len + 1);
    size_t fl = se_utf8_repair(text, len, fixed);
    if (se_tok_encode(t, fixed, fl, 0, &b, &inv2, &err) || inv2 != 0) abort();
    if (a.n != b.n || (a.n && memcmp(a.ids, b.ids, a.n * sizeof *a.ids) != 0)) abort();
    /* with specials: the plain ids sit inside, after the template's prefix */
    if (se_tok_encode(t, text, len, 1, &c, NULL, &err)) abort();
    if (c.n < a.n) abort();
    size_t pre = 0;
    while (pre + a.n <= c.n && a.n && memcmp(c.ids + pre, a.ids, a.n * sizeof *a.ids)) pre++;
    if (a.n && pre + a.n > c.n) abort();
    free(fixed);
    se_ids_free(&a);
    se_ids_free(&b);
    se_ids_free(&c);
    return 0;
}
