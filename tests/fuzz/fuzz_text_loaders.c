/* libFuzzer: the bytes as a vocab.txt and as a tokenizer.json. A load either
 * fails with a message or gives a tokenizer that encodes a fixed text and the
 * input itself with every id in range. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shardenc/text.h"

static void exercise(se_tokenizer *t, const uint8_t *data, size_t size)
{
    static const char k_text[] = "Hello, World! caf\xc3\xa9 [MASK] \xe4\xb8\xad\xe6\x96\x87 ##x\xff end";
    se_ids ids = {0};
    se_error err;
    for (int pass = 0; pass < 2; pass++) {
        const char *s = pass ? (const char *)data : k_text;
        size_t n = pass ? size : sizeof k_text - 1;
        if (se_tok_encode(t, s, n, 1, &ids, NULL, &err) == SE_OK) {
            for (size_t i = 0; i < ids.n; i++)
                if (ids.ids[i] < 0 || ids.ids[i] >= (1 << 24)) abort();
        } else if (!err.msg[0]) {
            abort();
        }
    }
    se_ids_free(&ids);
    (void)se_tok_id_to_token(t, se_tok_unk_id(t));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/se_fuzz_load_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) abort();
    if (size && write(fd, data, size) != (ssize_t)size) abort();
    close(fd);
    for (int json = 0; json < 2; json++) {
        se_tokenizer *t = NULL;
        se_error err;
        err.msg[0] = 0;
        se_status st = json ? se_tok_load_json(path, &t, &err) : se_tok_load_vocab(path, NULL, &t, &err);
        if (st == SE_OK) {
            if (!t) abort();
            exercise(t, data, size);
            se_tok_free(t);
        } else if (t || !err.msg[0]) {
            abort();
        }
    }
    unlink(path);
    return 0;
}
