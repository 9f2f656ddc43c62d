/* libFuzzer: se_tok_encode on arbitrary bytes, three small tokenizers
 * (uncased vocab.txt, cased tokenizer.json with max_input_chars_per_word 6,
 * no clean_text). Invariants checked besides "no crash / no sanitizer report":
 * ids are in range, the invalid-UTF-8 count equals se_utf8_count_invalid, and
 * encoding the repaired text (U+FFFD substituted) gives the same ids. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shardenc/text.h"

static se_tokenizer *g_tok[3];

static const char k_vocab[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\nc\nab\n##b\n##c\n##bc\nhello\nhe\n##llo\n##l\n"
                              "\xc3\xa9\n##\xc3\xa9\n\xe4\xb8\xad\n!\n,\n.\n[\n]\n#\n##a\nx\n##x\n\xce\xb1\n\xcf\x83\n";
static const char k_json[] =
    "{\"added_tokens\":[{\"id\":4,\"content\":\"[MASK]\",\"normalized\":false}],"
    "\"normalizer\":{\"type\":\"BertNormalizer\",\"clean_text\":%s,\"handle_chinese_chars\":%s,"
    "\"strip_accents\":false,\"lowercase\":false},\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
    "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"[CLS]\"}},"
    "{\"Sequence\":{\"id\":\"A\"}},{\"SpecialToken\":{\"id\":\"[SEP]\"}}],\"special_tokens\":{\"[CLS]\":{\"ids\":[2]},"
    "\"[SEP]\":{\"ids\":[3]}}},\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"max_input_chars_per_word\":6,"
    "\"vocab\":{\"[PAD]\":0,\"[UNK]\":1,\"[CLS]\":2,\"[SEP]\":3,\"[MASK]\":4,\"A\":5,\"a\":6,\"##b\":7,\"\xc3\xa9\":8,"
    "\"e\":9,\"##\xcc\x81\":10,\"\xe4\xb8\xad\":11,\"\xef\xbf\xbd\":12,\"##\xef\xbf\xbd\":13,\"!\":14}}}";

static se_tokenizer *load_tmp(const char *content, size_t len, int json)
{
    char path[] = "/tmp/se_fuzz_tok_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, content, len) != (ssize_t)len) abort();
    close(fd);
    se_tokenizer *t = NULL;
    se_error err;
    se_status st = json ? se_tok_load_json(path, &t, &err) : se_tok_load_vocab(path, NULL, &t, &err);
    unlink(path);
    if (st) {
        fprintf(stderr, "fuzz setup: %s\n", err.msg);
        abort();
    }
    return t;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char buf[4096];
    g_tok[0] = load_tmp(k_vocab, sizeof k_vocab - 1, 0);
    int n = snprintf(buf, sizeof buf, k_json, "true", "true");
    g_tok[1] = load_tmp(buf, (size_t)n, 1);
    n = snprintf(buf, sizeof buf, k_json, "false", "false");
    g_tok[2] = load_tmp(buf, (size_t)n, 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    const se_tokenizer *t = g_tok[data[0] % 3];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    se_ids a = {0}, b = {0};
    se_error err;
    size_t inv = 0, inv2 = 1;
    if (se_tok_encode(t, text, len, data[0] & 4, &a, &inv, &err)) abort();
    for (size_t i = 0; i < a.n; i++)
        if (a.ids[i] < 0 || !se_tok_id_to_token(t, a.ids[i])) abort();
    if (inv != se_utf8_count_invalid(text, len)) abort();
    char *fixed = malloc(3 * len + 1);
    size_t fl = se_utf8_repair(text, len, fixed);
    if (se_utf8_count_invalid(fixed, fl) != 0) abort();
    if (se_tok_encode(t, fixed, fl, data[0] & 4, &b, &inv2, &err) || inv2 != 0) abort();
    if (a.n != b.n || (a.n && memcmp(a.ids, b.ids, a.n * sizeof *a.ids) != 0)) abort();
    free(fixed);
    se_ids_free(&a);
    se_ids_free(&b);
    return 0;
}
