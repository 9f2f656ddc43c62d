/* shardenc core: status codes and error messages, logging, aligned memory,
 * timers. Every other module depends on this one and on nothing else here. */
#ifndef SHARDENC_CORE_H
#define SHARDENC_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdarg.h>

#define SE_VERSION "0.1.0"

/* Every fallible function returns an se_status and fills an se_error with the
 * context a user needs: the file, the tensor or line, expected vs found. */
typedef enum {
    SE_OK = 0,
    SE_EINVAL,       /* bad argument or option */
    SE_EIO,          /* open/read/write/rename failed */
    SE_EFORMAT,      /* a file's content is malformed */
    SE_ENOMEM,       /* allocation failed or would exceed a limit */
    SE_EUNSUPPORTED, /* valid input the runtime does not implement */
    SE_ESHAPE,       /* a shape disagrees with the config or another tensor */
    SE_EMPI,         /* an MPI call failed */
    SE_EREMOTE,      /* another rank failed; the message is that rank's */
    SE_EINTERRUPTED, /* a signal asked us to stop */
    SE_STATUS_COUNT
} se_status;

#define SE_ERRMSG_MAX 1024
typedef struct {
    se_status code;
    char msg[SE_ERRMSG_MAX];
} se_error;

const char *se_status_name(se_status s);
/* Sets err (if not NULL) and returns code: `return se_error_set(err, SE_EIO,
 * "%s: cannot open: %s", path, strerror(errno));` */
se_status se_error_set(se_error *err, se_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prepends context ("while loading X: ") to an already-set message. */
se_status se_error_prefix(se_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void se_error_clear(se_error *err);

/* Logging to stderr. The level comes from SHARDENC_LOG (error, warn, info,
 * debug) or se_log_set_level; the prefix names the rank once MPI is up. */
typedef enum { SE_LOG_ERROR = 0, SE_LOG_WARN, SE_LOG_INFO, SE_LOG_DEBUG } se_log_level;
void se_log_set_level(se_log_level lvl);
se_log_level se_log_get_level(void);
void se_log_set_rank(int rank); /* -1: no rank prefix */
void se_log(se_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* 64-byte aligned allocation (one AVX-512 line). se_alloc returns NULL on
 * failure or overflow of n*size; memory is not zeroed unless se_calloc. */
#define SE_ALIGN 64
void *se_alloc(size_t n, size_t size);
void *se_calloc(size_t n, size_t size);
void se_free(void *p);
/* n*size with overflow check: returns 0 and sets *out, or -1 on overflow. */
int se_mul_overflow(size_t n, size_t size, size_t *out);

/* Monotonic seconds, and the process's peak resident set (VmHWM) in bytes. */
double se_time_now(void);
size_t se_peak_rss_bytes(void);
size_t se_current_rss_bytes(void);

/* Read a whole (small) file into a NUL-terminated buffer; *len excludes NUL. */
se_status se_read_file(const char *path, size_t max_bytes, char **out, size_t *len, se_error *err);

/* ---------------------------------------------------------------- files
 * The one place for full-length I/O loops, checked syncs and the atomic
 * commit of a file (temp name, fsync, rename, fsync of the directory):
 * errors name the file and the errno text (ENOSPC, EDQUOT, EFBIG...). */
se_status se_pwrite_full(int fd, const void *buf, size_t n, int64_t off, const char *path, se_error *err);
/* A short file (EOF before n bytes) is an error too. */
se_status se_pread_full(int fd, void *buf, size_t n, int64_t off, const char *path, se_error *err);
/* fdatasync, checked (a deferred ENOSPC/EDQUOT is reported here). fd < 0: no-op. */
se_status se_fd_sync(int fd, const char *path, se_error *err);
/* close, checked; sets *fd = -1. *fd < 0: no-op. */
se_status se_fd_close(int *fd, const char *path, se_error *err);
/* fsync of the directory holding file_path (after a rename or create). */
se_status se_dir_sync(const char *file_path, se_error *err);
/* rename(tmp, path), then fsync of path's directory. */
se_status se_file_rename(const char *tmp, const char *path, se_error *err);
/* Writes a then b to "path.tmp.<pid>", fsyncs, closes (checked), renames it
 * to path and fsyncs the directory; on failure nothing is left under path's
 * name or the temp name. */
se_status se_file_commit(const char *path, const void *a, size_t na, const void *b, size_t nb, se_error *err);
/* "path.tmp.<pid>", the temporary name of every commit. */
se_status se_file_tmp_name(char *buf, size_t cap, const char *path, se_error *err);
/* For files written through stdio: fflush, fsync and fclose of f, each
 * checked, f closed in every case. A prior error st is returned unchanged. */
se_status se_stream_close(FILE *f, const char *path, se_status st, se_error *err);

/* bfloat16 (the top half of an IEEE f32), shared by io (BF16 safetensors)
 * and the kernels (--precision bf16). Inline so conversion loops vectorise.
 * Widening is exact. Narrowing rounds to nearest even: add 0x7fff plus the
 * lowest kept bit, then truncate (a finite overflow carries into the
 * exponent and yields inf, as it should); a NaN keeps sign and its top 7
 * payload bits, with the quiet bit set if those are all zero so it cannot
 * turn into inf. */
static inline float se_bf16_to_f32(uint16_t h)
{
    union { uint32_t u; float f; } v = {.u = (uint32_t)h << 16};
    return v.f;
}

static inline uint16_t se_f32_to_bf16(float x)
{
    union { float f; uint32_t u; } v = {.f = x};
    uint32_t f = v.u;
    if ((f & 0x7fffffffu) > 0x7f800000u) {
        uint16_t h = (uint16_t)(f >> 16);
        return (h & 0x7fu) ? h : (uint16_t)(h | 0x0040u);
    }
    f += 0x7fffu + ((f >> 16) & 1u);
    return (uint16_t)(f >> 16);
}

/* UTF-8, the one decoder of the project (io's JSONL repair and the
 * tokenizer use it). se_utf8_decode: the code point of the sequence at
 * p[0..n), n >= 1, p[0] >= 0x80, and its length in *adv; an ill-formed
 * sequence gives -1 with *adv = the length of its maximal subpart (Unicode
 * §3.9, Table 3-7: the practice of Rust's from_utf8_lossy, Python's
 * errors="replace" and WHATWG). Inline: the tokenizer calls it per code point. */
static inline int32_t se_utf8_decode(const uint8_t *p, size_t n, size_t *adv)
{
    uint8_t b = p[0], lo = 0x80, hi = 0xBF;
    int need;
    int32_t c;
    if (b >= 0xC2 && b <= 0xDF) {
        need = 1;
        c = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 2;
        c = b & 0x0F;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F; /* no surrogates */
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3;
        c = b & 0x07;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    } else {
        *adv = 1;
        return -1;
    }
    for (int k = 1; k <= need; k++) {
        if ((size_t)k >= n || p[k] < lo || p[k] > hi) {
            *adv = (size_t)k;
            return -1;
        }
        lo = 0x80;
        hi = 0xBF;
        c = (c << 6) | (p[k] & 0x3F);
    }
    *adv = (size_t)need + 1;
    return c;
}
/* se_utf8_count_invalid: the number of ill-formed subsequences (maximal
 * subparts) in s[0..len), 0 if it is valid UTF-8. se_utf8_repair: copies s to
 * out with each of them replaced by U+FFFD (EF BF BD); out must hold 3*len
 * bytes; returns the output length. */
size_t se_utf8_count_invalid(const char *s, size_t len);
size_t se_utf8_repair(const char *s, size_t len, char *out);

/* FNV-1a, 64 bit (http://www.isthe.com/chongo/tech/comp/fnv/): h = (h ^ byte) * 2^40+2^8+0xb3.
 * Chain calls by passing the previous value; start with SE_FNV_INIT. */
#define SE_FNV_INIT 14695981039346656037ULL /* the FNV-64 offset basis, 0xcbf29ce484222325 */
uint64_t se_fnv1a64(uint64_t h, const void *p, size_t n);
/* FNV-1a of a whole file's content. */
se_status se_hash_file(const char *path, uint64_t *out, se_error *err);

#endif
