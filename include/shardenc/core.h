/* shardenc core: status codes and error messages, logging, aligned memory,
 * timers. Every other module depends on this one and on nothing else here. */
#ifndef SHARDENC_CORE_H
#define SHARDENC_CORE_H

#include <stddef.h>
#include <stdint.h>
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

#endif
