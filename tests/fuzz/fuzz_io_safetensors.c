/* libFuzzer: se_st_open_buffer must refuse or accept any bytes without
 * reading out of bounds, and every accepted tensor must read back (whole,
 * and as a row and a column slice) within the buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shardenc/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* copy so ASan catches reads one past the end */
    uint8_t *buf = malloc(size ? size : 1);
    if (size) memcpy(buf, data, size);
    se_st_file *f;
    se_error err;
    if (se_st_open_buffer(buf, size, "fuzz.safetensors", &f, &err) == SE_OK) {
        for (size_t i = 0; i < se_st_count(f); i++) {
            const se_st_tensor *t = se_st_at(f, i);
            if (se_st_find(f, t->name) != t) abort();
            int64_t rows = t->ndim ? t->shape[0] : 1;
            int64_t cols = rows ? t->numel / rows : 0;
            if (t->numel > (1 << 20)) continue;
            float *dst = malloc((size_t)t->numel * sizeof(float) + 4);
            se_st_read_f32(f, t, 0, rows, 0, cols, dst, &err);
            if (rows > 1) se_st_read_f32(f, t, rows / 2, rows - rows / 2, 0, cols, dst, &err);
            if (cols > 1) se_st_read_f32(f, t, 0, rows, cols / 2, cols - cols / 2, dst, &err);
            if (rows < INT64_MAX && se_st_read_f32(f, t, 0, rows + 1, 0, cols, dst, &err) == SE_OK) abort();
            free(dst);
        }
        se_st_metadata(f, "format");
        se_st_close(f);
    }
    free(buf);
    return 0;
}
