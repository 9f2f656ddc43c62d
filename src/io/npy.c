/* .npy format 1.0 (numpy/lib/format.py), byte-for-byte what numpy.save
 * writes: "\x93NUMPY" 1 0, u16 LE header length, then the dict
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * followed by numpy's "growth" spaces (21 - len(repr(shape[0])), so the
 * first axis can be rewritten in place), then space padding and '\n' so the
 * data starts at a multiple of 64 (padlen is 1..64, never 0). */
#include "shardenc/io.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPY_ALIGN 64
#define NPY_GROWTH_DIGITS 21
#define NPY_MAX_DIMS 4 /* se_npy_read's shape[4] */

size_t se_npy_header(char *buf, size_t cap, const char *descr, int ndim, const int64_t *shape)
{
    if (!descr || ndim < 0 || (ndim > 0 && !shape) || strlen(descr) > 16) return 0;
    /* dict without the magic; the longest shape is 64 dims x 21 chars */
    char dict[2048];
    size_t n = (size_t)snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || n + 32 > sizeof dict) return 0;
        n += (size_t)snprintf(dict + n, sizeof dict - n, i ? ", %" PRId64 : "%" PRId64, shape[i]);
    }
    if (n + 64 > sizeof dict) return 0;
    n += (size_t)snprintf(dict + n, sizeof dict - n, ndim == 1 ? ",), }" : "), }");
    if (ndim > 0) {
        char first[32];
        int len0 = snprintf(first, sizeof first, "%" PRId64, shape[0]);
        for (int i = len0; i < NPY_GROWTH_DIGITS; i++) dict[n++] = ' ';
    }
    size_t hlen = n + 1; /* + '\n' */
    size_t pad = NPY_ALIGN - (10 + hlen) % NPY_ALIGN;
    size_t total = 10 + hlen + pad;
    if (hlen + pad > 65535 || total > cap) return 0;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)((hlen + pad) & 0xff);
    buf[9] = (char)((hlen + pad) >> 8);
    memcpy(buf + 10, dict, n);
    memset(buf + 10 + n, ' ', pad);
    buf[total - 1] = '\n';
    return total;
}

se_status se_npy_write(const char *path, const char *descr, int ndim, const int64_t *shape, const void *data,
                       size_t elem_size, se_error *err)
{
    char hdr[4096];
    size_t hl = se_npy_header(hdr, sizeof hdr, descr, ndim, shape);
    if (!hl) return se_error_set(err, SE_EINVAL, "%s: cannot build a .npy header for this shape", path);
    size_t numel = 1, nb;
    for (int i = 0; i < ndim; i++)
        if ((uint64_t)shape[i] > SIZE_MAX || se_mul_overflow(numel, (size_t)shape[i], &numel))
            return se_error_set(err, SE_EINVAL, "%s: shape too large", path);
    if (se_mul_overflow(numel, elem_size, &nb) || (nb && !data))
        return se_error_set(err, SE_EINVAL, "%s: data too large or missing", path);
    /* durable and atomic: a crash leaves either no file or the whole one */
    return se_file_commit(path, hdr, hl, data, nb, err);
}

/* ---- reading: a tiny parser for the dict literal numpy writes ---- */

static void skip_ws(const char **p, const char *end)
{
    while (*p < end && (**p == ' ' || **p == '\t')) (*p)++;
}

static int eat(const char **p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    skip_ws(p, end);
    if ((size_t)(end - *p) < n || memcmp(*p, lit, n)) return -1;
    *p += n;
    return 0;
}

/* 'key' or "key" into out (cap bytes). */
static int quoted(const char **p, const char *end, char *out, size_t cap)
{
    skip_ws(p, end);
    if (*p >= end || (**p != '\'' && **p != '"')) return -1;
    char q = *(*p)++;
    size_t n = 0;
    while (*p < end && **p != q) {
        if (n + 1 >= cap) return -1;
        out[n++] = *(*p)++;
    }
    if (*p >= end) return -1;
    (*p)++;
    out[n] = '\0';
    return 0;
}

se_status se_npy_read(const char *path, char descr[8], int *ndim, int64_t shape[4], void **data, se_error *err)
{
    *data = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return se_error_set(err, SE_EIO, "%s: cannot open: %s", path, strerror(errno));
    se_status st = SE_OK;
    char *hdr = NULL;
    void *buf = NULL;
    struct stat sb;
    unsigned char pre[12];
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = se_error_set(err, SE_EIO, "%s: not a regular file", path);
        goto out;
    }
    size_t fsize = (size_t)sb.st_size;
    if (fsize < 10 || fread(pre, 1, 10, fp) != 10 || memcmp(pre, "\x93NUMPY", 6)) {
        st = se_error_set(err, SE_EFORMAT, "%s: not a .npy file (bad magic)", path);
        goto out;
    }
    size_t hlen, pos;
    if (pre[6] == 1 && pre[7] == 0) {
        hlen = (size_t)pre[8] | ((size_t)pre[9] << 8);
        pos = 10;
    } else if ((pre[6] == 2 || pre[6] == 3) && pre[7] == 0) { /* u32 header length */
        if (fsize < 12 || fread(pre + 10, 1, 2, fp) != 2) {
            st = se_error_set(err, SE_EFORMAT, "%s: truncated header", path);
            goto out;
        }
        hlen = (size_t)pre[8] | ((size_t)pre[9] << 8) | ((size_t)pre[10] << 16) | ((size_t)pre[11] << 24);
        pos = 12;
    } else {
        st = se_error_set(err, SE_EUNSUPPORTED, "%s: .npy version %d.%d is not supported", path, pre[6], pre[7]);
        goto out;
    }
    if (hlen > fsize - pos || hlen > (1u << 20)) {
        st = se_error_set(err, SE_EFORMAT, "%s: header length %zu runs past the end of the file", path, hlen);
        goto out;
    }
    if (!(hdr = malloc(hlen + 1)) || fread(hdr, 1, hlen, fp) != hlen) {
        st = se_error_set(err, SE_EIO, "%s: cannot read the header", path);
        goto out;
    }
    const char *p = hdr, *end = hdr + hlen;
    char key[32], val[16];
    int have_descr = 0, have_order = 0, have_shape = 0, nd = 0;
    if (eat(&p, end, "{")) goto bad;
    for (;;) {
        skip_ws(&p, end);
        if (p < end && *p == '}') {
            p++;
            break;
        }
        if (quoted(&p, end, key, sizeof key) || eat(&p, end, ":")) goto bad;
        if (!strcmp(key, "descr")) {
            if (quoted(&p, end, val, sizeof val)) goto bad;
            if (strcmp(val, "<f4") && strcmp(val, "<i8")) {
                st = se_error_set(err, SE_EUNSUPPORTED, "%s: dtype '%s' is not supported (expected '<f4' or '<i8')",
                                  path, val);
                goto out;
            }
            memcpy(descr, val, 4); /* "<f4" or "<i8" and its NUL */
            have_descr = 1;
        } else if (!strcmp(key, "fortran_order")) {
            if (!eat(&p, end, "False")) have_order = 1;
            else if (!eat(&p, end, "True")) {
                st = se_error_set(err, SE_EUNSUPPORTED, "%s: Fortran-order arrays are not supported", path);
                goto out;
            } else goto bad;
        } else if (!strcmp(key, "shape")) {
            if (eat(&p, end, "(")) goto bad;
            for (;;) {
                skip_ws(&p, end);
                if (p < end && *p == ')') {
                    p++;
                    break;
                }
                if (p >= end || *p < '0' || *p > '9') goto bad;
                int64_t v = 0;
                while (p < end && *p >= '0' && *p <= '9') {
                    if (v > (INT64_MAX - 9) / 10) goto bad;
                    v = v * 10 + (*p++ - '0');
                }
                if (nd == NPY_MAX_DIMS) {
                    st = se_error_set(err, SE_EUNSUPPORTED, "%s: more than %d dimensions", path, NPY_MAX_DIMS);
                    goto out;
                }
                shape[nd++] = v;
                skip_ws(&p, end);
                if (p < end && *p == ',') p++;
                else if (p < end && *p == ')') continue;
                else goto bad;
            }
            have_shape = 1;
        } else goto bad;
        skip_ws(&p, end);
        if (p < end && *p == ',') p++;
        else if (!(p < end && *p == '}')) goto bad;
    }
    while (p < end && (*p == ' ' || *p == '\n')) p++;
    if (p != end || !have_descr || !have_order || !have_shape) goto bad;
    *ndim = nd;
    size_t numel = 1, nb;
    for (int i = 0; i < nd; i++)
        if ((uint64_t)shape[i] > SIZE_MAX || se_mul_overflow(numel, (size_t)shape[i], &numel)) goto bad;
    if (se_mul_overflow(numel, descr[2] == '8' ? 8 : 4, &nb)) goto bad;
    if (nb != fsize - pos - hlen) {
        st = se_error_set(err, SE_EFORMAT, "%s: the header's shape needs %zu bytes of data, the file holds %zu", path,
                          nb, fsize - pos - hlen);
        goto out;
    }
    if (!(buf = malloc(nb ? nb : 1))) {
        st = se_error_set(err, SE_ENOMEM, "%s: cannot allocate %zu bytes", path, nb);
        goto out;
    }
    if (nb && fread(buf, 1, nb, fp) != nb) {
        st = se_error_set(err, SE_EIO, "%s: short read", path);
        goto out;
    }
    *data = buf;
    buf = NULL;
    goto out;
bad:
    st = se_error_set(err, SE_EFORMAT, "%s: malformed .npy header", path);
out:
    free(hdr);
    free(buf);
    fclose(fp);
    return st;
}
