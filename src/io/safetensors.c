/* safetensors reader (mmap, validated against the specification) and writer.
 *
 * Specification (huggingface/safetensors README, "Format"):
 *   8 bytes      N, little-endian u64: size of the header
 *   N bytes      UTF-8 JSON object; MUST begin with '{' (0x7B) and MAY be
 *                right-padded with spaces (0x20); duplicate keys are
 *                disallowed; "__metadata__" is a string->string map
 *   rest         the byte buffer; each tensor is data_offsets [begin, end)
 *                relative to its start; the buffer must be entirely indexed,
 *                without holes or overlaps; empty tensors are allowed.
 * The reference implementation also caps N at 100,000,000 bytes.
 *
 * Nothing the file says is trusted: every size is checked for overflow and
 * against the real file length before any byte of tensor data is touched. */
#include "shardenc/io.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io_internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; the F32 fast path assumes a little-endian host"
#endif

#define ST_MAX_HEADER 100000000ull

struct se_st_file {
    char *path;
    void *map;      /* mmap'd file, or NULL for se_st_open_buffer */
    size_t map_len;
    const uint8_t *data; /* start of the data section (may be unaligned) */
    size_t data_len;
    se_st_tensor *t; /* sorted by name (strcmp) for se_st_find */
    size_t n;
    char **meta_key, **meta_val;
    size_t n_meta;
};

static const struct {
    const char *name;
    size_t size;
} dtypes[SE_DT_COUNT] = {
    [SE_DT_F32] = {"F32", 4},     [SE_DT_F16] = {"F16", 2},         [SE_DT_BF16] = {"BF16", 2},
    [SE_DT_F64] = {"F64", 8},     [SE_DT_I8] = {"I8", 1},           [SE_DT_U8] = {"U8", 1},
    [SE_DT_I16] = {"I16", 2},     [SE_DT_U16] = {"U16", 2},         [SE_DT_I32] = {"I32", 4},
    [SE_DT_U32] = {"U32", 4},     [SE_DT_I64] = {"I64", 8},         [SE_DT_U64] = {"U64", 8},
    [SE_DT_BOOL] = {"BOOL", 1},   [SE_DT_F8_E4M3] = {"F8_E4M3", 1}, [SE_DT_F8_E5M2] = {"F8_E5M2", 1},
};

const char *se_dtype_name(se_dtype dt)
{
    if ((int)dt < 0 || dt >= SE_DT_COUNT) return "?";
    return dtypes[dt].name;
}

size_t se_dtype_size(se_dtype dt)
{
    if ((int)dt < 0 || dt >= SE_DT_COUNT) return 0;
    return dtypes[dt].size;
}

static int dtype_from_name(const char *s, se_dtype *out)
{
    for (int i = 0; i < SE_DT_COUNT; i++)
        if (!strcmp(s, dtypes[i].name)) {
            *out = (se_dtype)i;
            return 0;
        }
    return -1;
}

/* ------------------------------------------------------------------ f16 / bf16 */

static uint32_t f32_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static float bits_f32(uint32_t u)
{
    float x;
    memcpy(&x, &u, 4);
    return x;
}

/* IEEE binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits. Every f16
 * is exactly representable in f32, so this direction is exact. */
float se_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (man << 13)); /* inf / NaN, payload kept */
    if (exp == 0) {
        /* zero or subnormal: man * 2^-24, exact in f32 */
        float v = (float)man * 0x1p-24f;
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112u) << 23) | (man << 13)); /* rebias 15 -> 127 */
}

/* Round to nearest, ties to even, like numpy's npy_floatbits_to_halfbits:
 * overflow goes to inf, tiny values to subnormals or signed zero, and a NaN
 * keeps its sign and top payload bits (forced non-zero so it stays NaN). */
uint16_t se_f32_to_f16(float x)
{
    uint32_t f = f32_bits(x);
    uint16_t sign = (uint16_t)((f >> 16) & 0x8000u);
    uint32_t fexp = f & 0x7f800000u;
    uint32_t fman = f & 0x007fffffu;
    if (fexp == 0x7f800000u) {
        if (fman) {
            uint16_t r = (uint16_t)(0x7c00u + (fman >> 13));
            if (r == 0x7c00u) r++;
            return sign | r;
        }
        return sign | 0x7c00u;
    }
    if (fexp >= 0x47800000u) return sign | 0x7c00u; /* |x| >= 2^16: overflow */
    if (fexp <= 0x38000000u) {
        /* |x| < 2^-14: result is subnormal or zero. */
        if (fexp < 0x33000000u) return sign; /* |x| < 2^-25: rounds to zero */
        uint32_t e = fexp >> 23;               /* 102 .. 112 */
        uint32_t m = fman | 0x00800000u;       /* implicit bit */
        uint32_t shift = 126u - e;              /* 14 .. 24: value = m * 2^(e-150), unit 2^-24 */
        uint32_t q = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1u);
        uint32_t half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (q & 1u))) q++;
        return sign | (uint16_t)q;
    }
    /* normal: rebias 127 -> 15 and drop 13 mantissa bits with RNE; a carry
     * into the exponent is correct (it may produce inf, also correct). */
    uint32_t h = ((fexp - 0x38000000u) >> 13) | (fman >> 13);
    uint32_t rem = fman & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
    return sign | (uint16_t)h;
}

/* bfloat16 conversions: core.h (se_bf16_to_f32, se_f32_to_bf16), shared with the kernels. */

/* ------------------------------------------------------------------ validation */

/* Strict UTF-8 (RFC 3629): no overlongs, no surrogates, <= U+10FFFF.
 * Returns the offset of the first bad byte, or len if valid. */
size_t se_io_utf8_check(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) n = 1, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0) n = 2, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0) n = 3, cp = c & 0x07, min = 0x10000;
        else return i;
        if (len - i <= n) return i;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
        i += n + 1;
    }
    return len;
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

const char *se_io_json_type_name(const void *v) { return json_type_name((const json_t *)v); }

void se_st_close(se_st_file *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->n; i++) free(f->t[i].name);
    free(f->t);
    for (size_t i = 0; i < f->n_meta; i++) {
        free(f->meta_key[i]);
        free(f->meta_val[i]);
    }
    free(f->meta_key);
    free(f->meta_val);
    if (f->map) munmap(f->map, f->map_len);
    free(f->path);
    free(f);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const se_st_tensor *)a)->name, ((const se_st_tensor *)b)->name);
}

static int cmp_offset(const void *a, const void *b)
{
    const se_st_tensor *x = *(const se_st_tensor *const *)a, *y = *(const se_st_tensor *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    /* zero-size tensors first at equal begin, so a non-empty one after them
     * is what the contiguity check sees */
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Reads a JSON integer that must be >= 0 into a uint64. */
static int json_u64(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v)) return -1;
    json_int_t x = json_integer_value(v);
    if (x < 0) return -2;
    *out = (uint64_t)x;
    return 0;
}

/* Parses one tensor entry into t (name already set). */
static se_status parse_tensor(const char *file, const char *name, json_t *obj, se_st_tensor *t, se_error *err)
{
    if (!json_is_object(obj))
        return se_error_set(err, SE_EFORMAT, "%s: tensor '%s': entry must be an object, found %s", file, name,
                            json_type_name(obj));
    json_t *jd = json_object_get(obj, "dtype"), *js = json_object_get(obj, "shape"),
           *jo = json_object_get(obj, "data_offsets");
    if (!jd) return se_error_set(err, SE_EFORMAT, "%s: tensor '%s': missing \"dtype\"", file, name);
    if (!js) return se_error_set(err, SE_EFORMAT, "%s: tensor '%s': missing \"shape\"", file, name);
    if (!jo) return se_error_set(err, SE_EFORMAT, "%s: tensor '%s': missing \"data_offsets\"", file, name);
    if (!json_is_string(jd))
        return se_error_set(err, SE_EFORMAT, "%s: tensor '%s': \"dtype\" must be a string, found %s", file, name,
                            json_type_name(jd));
    if (dtype_from_name(json_string_value(jd), &t->dtype))
        return se_error_set(err, SE_EFORMAT,
                            "%s: tensor '%s': unknown dtype '%.40s' (expected one of BOOL, U8, I8, F8_E5M2, "
                            "F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64)",
                            file, name, json_string_value(jd));
    if (!json_is_array(js))
        return se_error_set(err, SE_EFORMAT, "%s: tensor '%s': \"shape\" must be an array, found %s", file, name,
                            json_type_name(js));
    size_t nd = json_array_size(js);
    if (nd > SE_ST_MAX_DIMS)
        return se_error_set(err, SE_EUNSUPPORTED, "%s: tensor '%s': %zu dimensions, at most %d supported", file,
                            name, nd, SE_ST_MAX_DIMS);
    t->ndim = (int)nd;
    /* numel and nbytes with overflow checks: both must fit size_t and int64 */
    size_t numel = 1;
    for (size_t i = 0; i < nd; i++) {
        uint64_t d;
        int rc = json_u64(json_array_get(js, i), &d);
        if (rc == -1)
            return se_error_set(err, SE_EFORMAT, "%s: tensor '%s': shape[%zu] must be an integer, found %s", file,
                                name, i, json_type_name(json_array_get(js, i)));
        if (rc == -2)
            return se_error_set(err, SE_EFORMAT, "%s: tensor '%s': shape[%zu] is negative (%lld)", file, name, i,
                                (long long)json_integer_value(json_array_get(js, i)));
        t->shape[i] = (int64_t)d;
        if (d > SIZE_MAX || se_mul_overflow(numel, (size_t)d, &numel))
            return se_error_set(err, SE_EFORMAT, "%s: tensor '%s': shape's element count overflows", file, name);
    }
    size_t nbytes;
    if (numel > (size_t)INT64_MAX || se_mul_overflow(numel, dtypes[t->dtype].size, &nbytes))
        return se_error_set(err, SE_EFORMAT, "%s: tensor '%s': shape's byte size overflows", file, name);
    t->numel = (int64_t)numel;
    t->nbytes = nbytes;
    if (!json_is_array(jo) || json_array_size(jo) != 2)
        return se_error_set(err, SE_EFORMAT, "%s: tensor '%s': \"data_offsets\" must be an array [begin, end]",
                            file, name);
    uint64_t b, e;
    json_t *jb = json_array_get(jo, 0), *je = json_array_get(jo, 1);
    if (json_u64(jb, &b) || json_u64(je, &e))
        return se_error_set(err, SE_EFORMAT,
                            "%s: tensor '%s': \"data_offsets\" must hold two non-negative integers", file, name);
    if (b > e)
        return se_error_set(err, SE_EFORMAT, "%s: tensor '%s': data_offsets begin %llu > end %llu", file, name,
                            (unsigned long long)b, (unsigned long long)e);
    if (e - b != nbytes)
        return se_error_set(err, SE_EFORMAT,
                            "%s: tensor '%s': data_offsets span %llu bytes but %s shape needs %zu bytes", file, name,
                            (unsigned long long)(e - b), dtypes[t->dtype].name, nbytes);
    if (b > SIZE_MAX) return se_error_set(err, SE_EFORMAT, "%s: tensor '%s': offset too large", file, name);
    t->offset = (size_t)b;
    return SE_OK;
}

static se_status parse_metadata(se_st_file *f, json_t *m, se_error *err)
{
    if (!json_is_object(m))
        return se_error_set(err, SE_EFORMAT, "%s: __metadata__ must be an object of strings, found %s", f->path,
                            json_type_name(m));
    size_t n = json_object_size(m);
    f->meta_key = calloc(n ? n : 1, sizeof(char *));
    f->meta_val = calloc(n ? n : 1, sizeof(char *));
    if (!f->meta_key || !f->meta_val) return se_error_set(err, SE_ENOMEM, "%s: out of memory", f->path);
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v)
    {
        if (!json_is_string(v))
            return se_error_set(err, SE_EFORMAT, "%s: __metadata__ key '%.200s' must map to a string, found %s",
                                f->path, k, json_type_name(v));
        f->meta_key[f->n_meta] = strdup(k);
        f->meta_val[f->n_meta] = strdup(json_string_value(v));
        f->n_meta++;
        if (!f->meta_key[f->n_meta - 1] || !f->meta_val[f->n_meta - 1])
            return se_error_set(err, SE_ENOMEM, "%s: out of memory", f->path);
    }
    return SE_OK;
}

/* Validates buf[0..len) and fills f (path already set). */
static se_status st_parse(se_st_file *f, const uint8_t *buf, size_t len, se_error *err)
{
    const char *file = f->path;
    if (len < 8)
        return se_error_set(err, SE_EFORMAT, "%s: file is %zu bytes, too short for a safetensors header (8 bytes)",
                            file, len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | buf[i];
    if (n > ST_MAX_HEADER)
        return se_error_set(err, SE_EFORMAT, "%s: header length %llu exceeds the limit of %llu bytes", file,
                            (unsigned long long)n, ST_MAX_HEADER);
    if (n > len - 8)
        return se_error_set(err, SE_EFORMAT, "%s: header length %llu runs past the end of the file (%zu bytes)",
                            file, (unsigned long long)n, len);
    const uint8_t *hdr = buf + 8;
    if (n == 0 || hdr[0] != '{')
        return se_error_set(err, SE_EFORMAT, "%s: header does not start with '{'", file);
    size_t bad = se_io_utf8_check(hdr, (size_t)n);
    if (bad != n) return se_error_set(err, SE_EFORMAT, "%s: header is not valid UTF-8 (byte %zu)", file, bad + 8);
    /* The spec only allows trailing padding with spaces; jansson would also
     * accept tabs and newlines there, so strip spaces ourselves and let
     * jansson reject anything else that trails the object. */
    size_t hl = (size_t)n;
    while (hl > 0 && hdr[hl - 1] == ' ') hl--;
    json_error_t je;
    json_t *root = json_loadb((const char *)hdr, hl, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return se_error_set(err, SE_EFORMAT, "%s: header is not valid JSON: %s (at byte %d of the header)", file,
                            je.text, je.position);
    se_status st = SE_OK;
    if (hdr[hl - 1] != '}') {
        st = se_error_set(err, SE_EFORMAT, "%s: header JSON is followed by bytes other than space padding", file);
        goto out;
    }
    if (!json_is_object(root)) {
        st = se_error_set(err, SE_EFORMAT, "%s: header is not a JSON object", file);
        goto out;
    }
    f->data = buf + 8 + n;
    f->data_len = len - 8 - (size_t)n;
    size_t cap = json_object_size(root);
    f->t = calloc(cap ? cap : 1, sizeof *f->t);
    if (!f->t) {
        st = se_error_set(err, SE_ENOMEM, "%s: out of memory", file);
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (!strcmp(key, "__metadata__")) {
            if ((st = parse_metadata(f, val, err))) goto out;
            continue;
        }
        se_st_tensor *t = &f->t[f->n];
        if (!(t->name = strdup(key))) {
            st = se_error_set(err, SE_ENOMEM, "%s: out of memory", file);
            goto out;
        }
        f->n++;
        if ((st = parse_tensor(file, key, val, t, err))) goto out;
    }
    /* Coverage: sorted by begin, the tensors must tile [0, data_len)
     * exactly — no overlap, no hole, nothing after the last one. */
    {
        se_st_tensor **by = malloc((f->n ? f->n : 1) * sizeof *by);
        if (!by) {
            st = se_error_set(err, SE_ENOMEM, "%s: out of memory", file);
            goto out;
        }
        for (size_t i = 0; i < f->n; i++) by[i] = &f->t[i];
        qsort(by, f->n, sizeof *by, cmp_offset);
        size_t pos = 0;
        for (size_t i = 0; i < f->n && !st; i++) {
            const se_st_tensor *t = by[i];
            if (t->offset > pos)
                st = se_error_set(err, SE_EFORMAT, "%s: tensor '%s': data starts at %zu, leaving a hole after byte %zu",
                                  file, t->name, t->offset, pos);
            else if (t->offset < pos && t->nbytes > 0)
                st = se_error_set(err, SE_EFORMAT,
                                  "%s: tensor '%s': data [%zu, %zu) overlaps the previous tensor (ends at %zu)", file,
                                  t->name, t->offset, t->offset + t->nbytes, pos);
            else if (t->offset < pos) /* empty tensor inside another one's bytes: harmless but not the spec */
                st = se_error_set(err, SE_EFORMAT, "%s: tensor '%s': empty tensor at offset %zu inside other data",
                                  file, t->name, t->offset);
            else if (t->nbytes > f->data_len - pos)
                st = se_error_set(err, SE_EFORMAT,
                                  "%s: tensor '%s': data [%zu, %zu) runs past the end of the data section (%zu bytes)",
                                  file, t->name, t->offset, t->offset + t->nbytes, f->data_len);
            else pos += t->nbytes;
        }
        free(by);
        if (st) goto out;
        if (pos != f->data_len) {
            st = se_error_set(err, SE_EFORMAT, "%s: tensors cover %zu bytes but the data section has %zu bytes", file,
                              pos, f->data_len);
            goto out;
        }
    }
    qsort(f->t, f->n, sizeof *f->t, cmp_name);
out:
    json_decref(root);
    return st;
}

static se_status st_new(const char *name, se_st_file **out, se_error *err)
{
    *out = calloc(1, sizeof **out);
    if (!*out || !((*out)->path = strdup(name ? name : "(buffer)"))) {
        free(*out);
        *out = NULL;
        return se_error_set(err, SE_ENOMEM, "%s: out of memory", name ? name : "(buffer)");
    }
    return SE_OK;
}

se_status se_st_open_buffer(const void *data, size_t len, const char *name, se_st_file **out, se_error *err)
{
    se_st_file *f;
    se_status st = st_new(name, &f, err);
    *out = NULL;
    if (st) return st;
    if ((st = st_parse(f, data, len, err))) {
        se_st_close(f);
        return st;
    }
    *out = f;
    return SE_OK;
}

se_status se_st_open(const char *path, se_st_file **out, se_error *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return se_error_set(err, SE_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return se_error_set(err, SE_EIO, "%s: not a regular file", path);
    }
    size_t len = (size_t)sb.st_size;
    se_st_file *f;
    se_status st = st_new(path, &f, err);
    if (st) {
        close(fd);
        return st;
    }
    if (len > 0) {
        /* Read-only shared mapping: ranks on one node share the page cache. */
        void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) {
            st = se_error_set(err, SE_EIO, "%s: cannot mmap %zu bytes: %s", path, len, strerror(errno));
            close(fd);
            se_st_close(f);
            return st;
        }
        f->map = m;
        f->map_len = len;
    }
    close(fd);
    static const uint8_t empty[1];
    if ((st = st_parse(f, f->map ? f->map : empty, len, err))) {
        se_st_close(f);
        return st;
    }
    *out = f;
    return SE_OK;
}

const char *se_st_path(const se_st_file *f) { return f->path; }
size_t se_st_count(const se_st_file *f) { return f->n; }
const se_st_tensor *se_st_at(const se_st_file *f, size_t i) { return i < f->n ? &f->t[i] : NULL; }

const se_st_tensor *se_st_find(const se_st_file *f, const char *name)
{
    se_st_tensor key = {.name = (char *)name};
    return bsearch(&key, f->t, f->n, sizeof *f->t, cmp_name);
}

const char *se_st_metadata(const se_st_file *f, const char *key)
{
    for (size_t i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta_key[i], key)) return f->meta_val[i];
    return NULL;
}

/* ------------------------------------------------------------------ reading */

/* Converts n elements at src (any alignment) to fp32. */
static void convert_row(se_dtype dt, const uint8_t *src, size_t n, float *dst)
{
    switch (dt) {
    case SE_DT_F32: memcpy(dst, src, n * 4); break;
    case SE_DT_F16:
        for (size_t i = 0; i < n; i++) dst[i] = se_f16_to_f32((uint16_t)(src[2 * i] | (src[2 * i + 1] << 8)));
        break;
    case SE_DT_BF16:
        for (size_t i = 0; i < n; i++) dst[i] = se_bf16_to_f32((uint16_t)(src[2 * i] | (src[2 * i + 1] << 8)));
        break;
    case SE_DT_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, src + 8 * i, 8);
            dst[i] = (float)d;
        }
        break;
    default: break;
    }
}

se_status se_st_read_f32(const se_st_file *f, const se_st_tensor *t, int64_t row0, int64_t nrows, int64_t col0,
                         int64_t ncols, float *dst, se_error *err)
{
    if (!f || !t) return se_error_set(err, SE_EINVAL, "se_st_read_f32: no file or tensor");
    if (t->dtype != SE_DT_F32 && t->dtype != SE_DT_F16 && t->dtype != SE_DT_BF16 && t->dtype != SE_DT_F64)
        return se_error_set(err, SE_EUNSUPPORTED, "%s: tensor '%s': dtype %s cannot be read as fp32 "
                            "(supported: F32, F16, BF16, F64)", f->path, t->name, se_dtype_name(t->dtype));
    /* 2-D view: [shape0, prod(rest)]; 1-D [n] -> [n, 1]; scalar -> [1, 1]. */
    int64_t rows = t->ndim == 0 ? 1 : t->shape[0];
    /* cols = prod(shape[1:]). When shape[0] == 0 that product was never
     * bounded by the numel check, so saturate instead of overflowing. */
    int64_t cols = 1;
    for (int i = 1; i < t->ndim; i++) {
        if (t->shape[i] == 0) {
            cols = 0;
            break;
        }
        cols = cols > INT64_MAX / t->shape[i] ? INT64_MAX : cols * t->shape[i];
    }
    if (row0 < 0 || nrows < 0 || col0 < 0 || ncols < 0 || row0 > rows || nrows > rows - row0 || col0 > cols ||
        ncols > cols - col0)
        return se_error_set(err, SE_EINVAL,
                            "%s: tensor '%s': block rows [%lld, +%lld) x cols [%lld, +%lld) is outside its "
                            "[%lld, %lld] view",
                            f->path, t->name, (long long)row0, (long long)nrows, (long long)col0, (long long)ncols,
                            (long long)rows, (long long)cols);
    if (nrows == 0 || ncols == 0) return SE_OK;
    size_t es = dtypes[t->dtype].size;
    const uint8_t *base = f->data + t->offset;
    for (int64_t r = 0; r < nrows; r++) {
        /* element index (row0+r)*cols + col0 < numel, so this is in bounds */
        size_t e = (size_t)(row0 + r) * (size_t)cols + (size_t)col0;
        convert_row(t->dtype, base + e * es, (size_t)ncols, dst + (size_t)r * (size_t)ncols);
    }
    return SE_OK;
}

/* ------------------------------------------------------------------ writing */

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

se_status se_st_write(const char *path, const se_st_entry *entries, size_t n, const char *const *meta_kv,
                      size_t n_meta, se_error *err)
{
    se_status st = SE_OK;
    json_t *root = json_object();
    char *hdr = NULL;
    FILE *fp = NULL;
    char tmp[4096];
    int have_tmp = 0;
    if (!root) return se_error_set(err, SE_ENOMEM, "%s: out of memory", path);
    if (n_meta) {
        json_t *m = json_object();
        if (!m || json_object_set_new(root, "__metadata__", m)) {
            st = se_error_set(err, SE_ENOMEM, "%s: out of memory", path);
            goto out;
        }
        for (size_t i = 0; i < n_meta; i++) {
            if (!meta_kv[2 * i] || !meta_kv[2 * i + 1] || json_object_set_new(m, meta_kv[2 * i], json_string(meta_kv[2 * i + 1]))) {
                st = se_error_set(err, SE_EINVAL, "%s: metadata pair %zu is not a valid UTF-8 key/value", path, i);
                goto out;
            }
        }
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const se_st_entry *e = &entries[i];
        if (!e->name || !strcmp(e->name, "__metadata__") || json_object_get(root, e->name)) {
            st = se_error_set(err, SE_EINVAL, "%s: entry %zu: name '%s' is missing, reserved or repeated", path, i,
                              e->name ? e->name : "(null)");
            goto out;
        }
        if (e->dtype != SE_DT_F32 && e->dtype != SE_DT_F16 && e->dtype != SE_DT_BF16) {
            st = se_error_set(err, SE_EINVAL, "%s: tensor '%s': cannot write dtype %s (F32, F16 or BF16 only)", path,
                              e->name, se_dtype_name(e->dtype));
            goto out;
        }
        if (e->ndim < 0 || e->ndim > SE_ST_MAX_DIMS) {
            st = se_error_set(err, SE_EINVAL, "%s: tensor '%s': ndim %d out of range", path, e->name, e->ndim);
            goto out;
        }
        size_t numel = 1, nb;
        json_t *shape = json_array();
        for (int d = 0; d < e->ndim; d++) {
            if (e->shape[d] < 0 || (uint64_t)e->shape[d] > SIZE_MAX ||
                se_mul_overflow(numel, (size_t)e->shape[d], &numel)) {
                json_decref(shape);
                st = se_error_set(err, SE_EINVAL, "%s: tensor '%s': bad shape[%d] = %lld", path, e->name, d,
                                  (long long)e->shape[d]);
                goto out;
            }
            json_array_append_new(shape, json_integer(e->shape[d]));
        }
        if (se_mul_overflow(numel, dtypes[e->dtype].size, &nb) || off + nb < off || (numel && !e->data)) {
            json_decref(shape);
            st = se_error_set(err, SE_EINVAL, "%s: tensor '%s': too large or no data", path, e->name);
            goto out;
        }
        json_t *o = json_pack("{s:s, s:o, s:[I,I]}", "dtype", dtypes[e->dtype].name, "shape", shape, "data_offsets",
                              (json_int_t)off, (json_int_t)(off + nb));
        if (!o || json_object_set_new(root, e->name, o)) {
            st = se_error_set(err, SE_EINVAL, "%s: tensor '%s': name is not valid UTF-8", path, e->name);
            goto out;
        }
        off += nb;
    }
    hdr = json_dumps(root, JSON_PRESERVE_ORDER | JSON_COMPACT);
    if (!hdr) {
        st = se_error_set(err, SE_ENOMEM, "%s: cannot serialise the header", path);
        goto out;
    }
    size_t hl = strlen(hdr), padded = (hl + 7) / 8 * 8; /* data section starts 8-byte aligned */
    if ((st = se_file_tmp_name(tmp, sizeof tmp, path, err))) goto out;
    if (!(fp = fopen(tmp, "wb"))) {
        st = se_error_set(err, SE_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        goto out;
    }
    have_tmp = 1;
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    int ok = fwrite(len8, 1, 8, fp) == 8 && fwrite(hdr, 1, hl, fp) == hl;
    for (size_t i = hl; ok && i < padded; i++) ok = fputc(' ', fp) != EOF;
    enum { CHUNK = 16384 };
    uint8_t buf[CHUNK * 2];
    for (size_t i = 0; ok && i < n; i++) {
        const se_st_entry *e = &entries[i];
        size_t numel = 1;
        for (int d = 0; d < e->ndim; d++) numel *= (size_t)e->shape[d];
        if (e->dtype == SE_DT_F32) {
            ok = numel == 0 || fwrite(e->data, 4, numel, fp) == numel;
            continue;
        }
        for (size_t j = 0; ok && j < numel; j += CHUNK) {
            size_t m = numel - j < CHUNK ? numel - j : CHUNK;
            for (size_t k = 0; k < m; k++)
                put_le16(buf + 2 * k, e->dtype == SE_DT_F16 ? se_f32_to_f16(e->data[j + k]) : se_f32_to_bf16(e->data[j + k]));
            ok = fwrite(buf, 2, m, fp) == m;
        }
    }
    if (!ok) st = se_error_set(err, SE_EIO, "%s: write failed: %s", tmp, strerror(errno));
    st = se_stream_close(fp, tmp, st, err);
    fp = NULL;
    if (!st) st = se_file_rename(tmp, path, err); /* + fsync of the directory */
    if (!st) have_tmp = 0;
out:
    if (fp) fclose(fp);
    if (have_tmp) unlink(tmp);
    free(hdr);
    json_decref(root);
    return st;
}
