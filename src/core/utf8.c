/* UTF-8 counting and repair over se_utf8_decode (core.h). */
#include <string.h>

#include "shardenc/core.h"

size_t se_utf8_count_invalid(const char *s, size_t len)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t bad = 0, i = 0;
    while (i < len) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t adv;
        if (se_utf8_decode(p + i, len - i, &adv) < 0) bad++;
        i += adv;
    }
    return bad;
}

size_t se_utf8_repair(const char *s, size_t len, char *out)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t o = 0, i = 0;
    while (i < len) {
        if (p[i] < 0x80) {
            out[o++] = (char)p[i++];
            continue;
        }
        size_t adv;
        if (se_utf8_decode(p + i, len - i, &adv) < 0) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
        } else {
            memcpy(out + o, s + i, adv);
            o += adv;
        }
        i += adv;
    }
    return o;
}
