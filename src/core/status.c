#include "shardenc/core.h"

#include <stdio.h>
#include <string.h>

static const char *const names[SE_STATUS_COUNT] = {
    [SE_OK] = "ok",
    [SE_EINVAL] = "invalid argument",
    [SE_EIO] = "I/O error",
    [SE_EFORMAT] = "malformed input",
    [SE_ENOMEM] = "out of memory",
    [SE_EUNSUPPORTED] = "unsupported",
    [SE_ESHAPE] = "shape mismatch",
    [SE_EMPI] = "MPI error",
    [SE_EREMOTE] = "failure on another rank",
    [SE_EINTERRUPTED] = "interrupted",
};

const char *se_status_name(se_status s)
{
    if ((int)s < 0 || s >= SE_STATUS_COUNT) return "unknown status";
    return names[s];
}

se_status se_error_set(se_error *err, se_status code, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

se_status se_error_prefix(se_error *err, const char *fmt, ...)
{
    if (!err) return SE_OK;
    char head[SE_ERRMSG_MAX], old[SE_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    /* head then as much of the old message as fits (truncation is intended) */
    size_t h = strnlen(head, sizeof err->msg - 1), o = strnlen(old, sizeof old);
    if (o > sizeof err->msg - 1 - h) o = sizeof err->msg - 1 - h;
    memcpy(err->msg, head, h);
    memcpy(err->msg + h, old, o);
    err->msg[h + o] = '\0';
    return err->code;
}

void se_error_clear(se_error *err)
{
    if (err) {
        err->code = SE_OK;
        err->msg[0] = '\0';
    }
}
