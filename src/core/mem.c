#include "shardenc/core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int se_mul_overflow(size_t n, size_t size, size_t *out)
{
    if (size != 0 && n > SIZE_MAX / size) return -1;
    *out = n * size;
    return 0;
}

void *se_alloc(size_t n, size_t size)
{
    size_t bytes;
    if (se_mul_overflow(n, size, &bytes)) return NULL;
    if (bytes == 0) bytes = SE_ALIGN;
    /* aligned_alloc wants a multiple of the alignment. */
    size_t rounded = (bytes + SE_ALIGN - 1) / SE_ALIGN * SE_ALIGN;
    if (rounded < bytes) return NULL;
    return aligned_alloc(SE_ALIGN, rounded);
}

void *se_calloc(size_t n, size_t size)
{
    void *p = se_alloc(n, size);
    if (p) memset(p, 0, n * size);
    return p;
}

void se_free(void *p) { free(p); }

double se_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static size_t status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    size_t kb = 0, klen = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, key, klen)) {
            kb = (size_t)strtoull(line + klen, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb * 1024;
}

size_t se_peak_rss_bytes(void) { return status_kb("VmHWM:"); }
size_t se_current_rss_bytes(void) { return status_kb("VmRSS:"); }

se_status se_read_file(const char *path, size_t max_bytes, char **out, size_t *len, se_error *err)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return se_error_set(err, SE_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return se_error_set(err, SE_EIO, "%s: not a regular file", path);
    }
    if ((size_t)st.st_size > max_bytes) {
        fclose(f);
        return se_error_set(err, SE_EFORMAT, "%s: file is %lld bytes, more than the %zu allowed", path,
                            (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return se_error_set(err, SE_ENOMEM, "%s: cannot allocate %zu bytes", path, n + 1);
    }
    size_t got = fread(buf, 1, n, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || got != n) {
        free(buf);
        return se_error_set(err, SE_EIO, "%s: short read (%zu of %zu bytes)", path, got, n);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return SE_OK;
}
