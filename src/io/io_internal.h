/* Private helpers shared by the io module's files. */
#ifndef SE_IO_INTERNAL_H
#define SE_IO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Strict UTF-8 check; returns the offset of the first bad byte, or len. */
size_t se_io_utf8_check(const uint8_t *s, size_t len);
/* "an integer", "a string", ... for a json_t * (void * keeps jansson out of this header). */
const char *se_io_json_type_name(const void *v);
/* Shortest "%.*g" text (up to 17 digits) that reads back as exactly x. */
void se_io_fmt_double(char *buf, size_t cap, double x);

#endif
