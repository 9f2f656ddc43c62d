/* libFuzzer: se_doc_parse on arbitrary bytes; an accepted document is
 * either text or ids, with consistent lengths. The same bytes go through
 * the field-mapped parser (dotted id, two text fields) and the TSV parser. */
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
    const char *tf[] = {"title", "a.b"}, *cols[] = {"x", "title", "a.b"};
    se_doc_fields f = {.id_field = "m.id", .text_fields = tf, .n_text = 2, .tsv_columns = cols, .n_tsv = 3,
                       .id_optional = 1};
    for (int k = 0; k < 3; k++) {
        se_status st = k == 0 ? se_doc_parse_fields(line, size, "fuzz.jsonl:1", &f, &d, &err)
                       : se_doc_parse_tsv(line, size, "fuzz.tsv:1", k == 1 ? NULL : &f, &d, &err);
        if (st == SE_OK) {
            if ((!d.text) == (!d.input_ids)) abort();
            if (d.text && d.text[d.text_len] != '\0') abort();
            if (k == 1 && (!d.id || !d.id[0])) abort(); /* TSV: an id column, never empty */
            se_doc_free(&d);
        } else if (d.id || d.text || d.input_ids || d.type_ids) {
            abort();
        }
    }
    free(line);
    return 0;
}
