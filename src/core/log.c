#include "shardenc/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_level = -1;
static int g_rank = -1;

static void init_level(void)
{
    if (g_level >= 0) return;
    g_level = SE_LOG_INFO;
    const char *s = getenv("SHARDENC_LOG");
    if (!s) return;
    if (!strcmp(s, "error")) g_level = SE_LOG_ERROR;
    else if (!strcmp(s, "warn")) g_level = SE_LOG_WARN;
    else if (!strcmp(s, "info")) g_level = SE_LOG_INFO;
    else if (!strcmp(s, "debug")) g_level = SE_LOG_DEBUG;
}

void se_log_set_level(se_log_level lvl) { g_level = (int)lvl; }
se_log_level se_log_get_level(void)
{
    init_level();
    return (se_log_level)g_level;
}
void se_log_set_rank(int rank) { g_rank = rank; }

void se_log(se_log_level lvl, const char *fmt, ...)
{
    init_level();
    if ((int)lvl > g_level) return;
    static const char *const tag[] = {"error", "warning", "info", "debug"};
    char line[2048];
    int n;
    if (g_rank >= 0) n = snprintf(line, sizeof line, "shardenc[%d]: %s: ", g_rank, tag[lvl]);
    else n = snprintf(line, sizeof line, "shardenc: %s: ", tag[lvl]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* One fputs per message so lines from several ranks do not interleave. */
    size_t len = strlen(line);
    if (len + 1 < sizeof line) {
        line[len] = '\n';
        line[len + 1] = '\0';
    }
    fputs(line, stderr);
    fflush(stderr);
}
