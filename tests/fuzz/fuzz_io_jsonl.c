/* libFuzzer: se_doc_parse on arbitrary bytes; an accepted document is
 * either text or ids, with consistent lengths. */
#include <stdlib.h>
#include <string.h>

#include "shardenc/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *line = malloc(size ? size : 1);
    if (size) memcpy(line, data, size);
    se_doc d;
    se_error err;
    if (se_doc_parse(line, size, "fuzz.jsonl:1", &d, &err) == SE_OK) {
        if (!d.id || (!d.text) == (!d.input_ids)) abort();
        if (d.text && d.text[d.text_len] != '\0') abort();
        for (size_t i = 0; i < d.n_ids; i++)
            if (d.input_ids[i] < 0 || (d.type_ids && d.type_ids[i] < 0)) abort();
        se_doc_free(&d);
    } else if (d.id || d.text || d.input_ids || d.type_ids) {
        abort(); /* a failed parse leaves nothing to free */
    }
    free(line);
    return 0;
}
