/* The job's inputs (issue 13): --input paths, folders and globs expanded to
 * a list of files in name order, each opened up front (an unreadable file is
 * refused before any work), its compression told by its magic bytes and its
 * format by its name (.tsv[.gz|.zst] is TSV, anything else JSON Lines); and
 * a line reader over plain, gzip (zlib) and zstd (libzstd) files that never
 * ends early silently: a truncated or corrupt stream is an error naming the
 * file and the compressed byte offset. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "job/embed_internal.h"

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n > k && !strcmp(s + n - k, suf);
}

/* What a folder contributes: the corpus shards, not whatever else sits there. */
static int corpus_name(const char *name)
{
    static const char *const suf[] = {".jsonl", ".jsonl.gz", ".jsonl.zst", ".tsv", ".tsv.gz", ".tsv.zst"};
    if (name[0] == '.') return 0;
    for (size_t i = 0; i < sizeof suf / sizeof suf[0]; i++)
        if (ends_with(name, suf[i])) return 1;
    return 0;
}

static int is_tsv(const char *path)
{
    return ends_with(path, ".tsv") || ends_with(path, ".tsv.gz") || ends_with(path, ".tsv.zst");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct {
    se_source *v;
    int n, cap;
} src_list;

/* Opens path and appends it: refused here, before any work, if unreadable. */
static se_status add_file(src_list *l, const char *path, se_error *err)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        se_source *p = realloc(l->v, (size_t)cap * sizeof *p);
        if (!p) return se_error_set(err, SE_ENOMEM, "cannot list the inputs");
        l->v = p, l->cap = cap;
    }
    se_source *s = &l->v[l->n];
    memset(s, 0, sizeof *s);
    s->fd = open(path, O_RDONLY);
    if (s->fd < 0) return se_error_set(err, SE_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    unsigned char m[4] = {0};
    se_status st = SE_OK;
    if (fstat(s->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) st = se_error_set(err, SE_EINVAL, "%s: not a regular file", path);
    else if (pread(s->fd, m, sizeof m, 0) < 0)
        st = se_error_set(err, SE_EIO, "%s: cannot read: %s", path, strerror(errno));
    if (!st && !(s->path = strdup(path))) st = se_error_set(err, SE_ENOMEM, "cannot list the inputs");
    if (st) {
        close(s->fd);
        return st;
    }
    s->size = sb.st_size;
    s->tsv = is_tsv(path);
    /* RFC 1952 member magic 1f 8b; RFC 8878 frame magic 28 b5 2f fd */
    s->comp = m[0] == 0x1f && m[1] == 0x8b ? SE_COMP_GZIP
              : m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd ? SE_COMP_ZSTD
                                                                             : SE_COMP_NONE;
    s->owner = -1;
    l->n++;
    return SE_OK;
}

static se_status add_dir(src_list *l, const char *dir, se_error *err)
{
    DIR *dh = opendir(dir);
    if (!dh) return se_error_set(err, SE_EIO, "%s: cannot list: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    se_status st = SE_OK;
    struct dirent *e;
    while (!st && (e = readdir(dh))) {
        if (!corpus_name(e->d_name)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **p = realloc(names, cap * sizeof *p);
            if (!p) st = se_error_set(err, SE_ENOMEM, "cannot list %s", dir);
            else names = p;
        }
        if (!st && !(names[n++] = strdup(e->d_name))) st = se_error_set(err, SE_ENOMEM, "cannot list %s", dir);
    }
    closedir(dh);
    if (!st && n == 0)
        st = se_error_set(err, SE_EINVAL, "%s: no *.jsonl, *.jsonl.gz, *.jsonl.zst, *.tsv[.gz|.zst] file inside", dir);
    if (!st) qsort(names, n, sizeof *names, cmp_str); /* name order, bytewise: the same on every host */
    for (size_t i = 0; i < n && !st; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s%s%s", dir, ends_with(dir, "/") ? "" : "/", names[i]);
        st = add_file(l, path, err);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return st;
}

static se_status add_path(src_list *l, const char *p, se_error *err)
{
    struct stat sb;
    if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) return add_dir(l, p, err);
    return add_file(l, p, err);
}

se_status se_sources_expand(const char *const *inputs, int n_inputs, se_source **out, int *n_out, se_error *err)
{
    src_list l = {0};
    se_status st = SE_OK;
    for (int i = 0; i < n_inputs && !st; i++) {
        const char *p = inputs[i];
        struct stat sb;
        /* a quoted glob (the shell left it to us); an existing name is taken as it is */
        if (strpbrk(p, "*?[") && stat(p, &sb) != 0) {
            glob_t g;
            int rc = glob(p, 0, NULL, &g);
            if (rc == GLOB_NOMATCH) st = se_error_set(err, SE_EINVAL, "--input %s: no file matches", p);
            else if (rc) st = se_error_set(err, SE_EIO, "--input %s: cannot expand the pattern", p);
            else {
                char **v = g.gl_pathv;
                qsort(v, g.gl_pathc, sizeof *v, cmp_str);
                for (size_t k = 0; k < g.gl_pathc && !st; k++) st = add_path(&l, v[k], err);
            }
            if (rc != GLOB_NOMATCH && rc == 0) globfree(&g);
        } else {
            st = add_path(&l, p, err);
        }
    }
    if (!st && l.n == 0) st = se_error_set(err, SE_EINVAL, "no input file");
    if (st) {
        se_sources_free(l.v, l.n);
        return st;
    }
    *out = l.v, *n_out = l.n;
    return SE_OK;
}

void se_sources_free(se_source *s, int n)
{
    for (int i = 0; s && i < n; i++) {
        if (s[i].fd >= 0) close(s[i].fd);
        free(s[i].path);
    }
    free(s);
}

const char *se_comp_name(se_comp c)
{
    return c == SE_COMP_GZIP ? "gzip" : c == SE_COMP_ZSTD ? "zstd" : "none";
}

/* Where the frames of a zstd file begin (ZSTD_findFrameCompressedSize walks
 * each frame's block headers: no decompression). A file that cannot be
 * walked to its end (corrupt, truncated) is one frame: the decoder then
 * reports the damage at its offset when the file is read. */
se_status se_source_frames(const se_source *s, int64_t **starts, int *n, se_error *err)
{
    *starts = NULL, *n = 0;
    int64_t cap = 16, k = 0, at = 0;
    int64_t *v = malloc((size_t)cap * sizeof *v);
    if (!v) return se_error_set(err, SE_ENOMEM, "%s: cannot list its zstd frames", s->path);
    v[k++] = 0;
    void *m = s->comp == SE_COMP_ZSTD && s->size > 0 ? mmap(NULL, (size_t)s->size, PROT_READ, MAP_PRIVATE, s->fd, 0) : MAP_FAILED;
    if (m != MAP_FAILED) {
        const unsigned char *p = m;
        while (at < s->size) {
            size_t fs = ZSTD_findFrameCompressedSize(p + at, (size_t)(s->size - at));
            if (ZSTD_isError(fs) || fs == 0) {
                k = 1; /* not walkable: one piece */
                break;
            }
            at += (int64_t)fs;
            if (at >= s->size) break;
            if (k == cap) {
                int64_t *q = realloc(v, (size_t)cap * 2 * sizeof *v);
                if (!q) {
                    munmap(m, (size_t)s->size), free(v);
                    return se_error_set(err, SE_ENOMEM, "%s: cannot list its zstd frames", s->path);
                }
                v = q, cap *= 2;
            }
            v[k++] = at;
        }
        munmap(m, (size_t)s->size);
    }
    *starts = v, *n = (int)k;
    return SE_OK;
}

/* ---------------------------------------------------------------- the line reader */

struct se_reader {
    const se_source *s;
    int64_t fpos;      /* next byte of the file to read */
    unsigned char *in; /* compressed input */
    size_t in_pos, in_len;
    int file_eof, done; /* done: no more output will come */
    int frame_open;     /* a gzip member / zstd frame is begun but not finished */
    z_stream z;
    int z_init;
    ZSTD_DStream *zs;
    char *out; /* decompressed bytes [start, end) not yet returned */
    size_t start, end, cap, scan;
    int64_t pos; /* uncompressed offset of out[start] (compressed: from the unit's first frame) */
    /* compressed: where the unit's frames end (a frame boundary), and the
     * uncompressed offset reached there, once the decoder has passed it */
    int64_t stop_c, stop_d;
    int stop_known;
    /* compressed: the frames begun at or after the start of the line being
     * read, (compressed offset, uncompressed offset) each: a line's key is
     * its frame's file offset and its offset in that frame, the same
     * whichever frame a rank began decoding at */
    int64_t (*frames)[2];
    int n_frames, frames_cap;
    uint64_t key;
};

#define IN_CHUNK (1 << 16)

se_status se_reader_open(const se_source *s, int64_t start, int64_t stop, se_reader **out, se_error *err)
{
    se_reader *r = calloc(1, sizeof *r);
    if (!r) return se_error_set(err, SE_ENOMEM, "cannot allocate a reader");
    int comp = s->comp != SE_COMP_NONE;
    r->s = s;
    r->fpos = start, r->pos = comp ? 0 : start;
    r->stop_c = stop;
    r->cap = 1 << 16;
    r->out = malloc(r->cap);
    r->in = comp ? malloc(IN_CHUNK) : NULL;
    r->frames_cap = 8;
    r->frames = malloc((size_t)r->frames_cap * sizeof *r->frames);
    se_status st = !r->out || !r->frames || (comp && !r->in) ? se_error_set(err, SE_ENOMEM, "cannot allocate a reader")
                                                             : SE_OK;
    if (!st) r->frames[0][0] = start, r->frames[0][1] = 0, r->n_frames = 1;
    if (!st && s->comp == SE_COMP_GZIP) {
        /* 15 + 16: a gzip wrapper only (RFC 1952), members one after another */
        if (inflateInit2(&r->z, 15 + 16) != Z_OK) st = se_error_set(err, SE_ENOMEM, "%s: zlib init failed", s->path);
        else r->z_init = 1;
    }
    if (!st && s->comp == SE_COMP_ZSTD && !(r->zs = ZSTD_createDStream()))
        st = se_error_set(err, SE_ENOMEM, "%s: zstd init failed", s->path);
    if (st) {
        se_reader_close(r);
        return st;
    }
    *out = r;
    return SE_OK;
}

void se_reader_close(se_reader *r)
{
    if (!r) return;
    if (r->z_init) inflateEnd(&r->z);
    if (r->zs) ZSTD_freeDStream(r->zs);
    free(r->in), free(r->out), free(r->frames), free(r);
}

/* Offset in the file of the next compressed byte the decoder has not taken. */
static int64_t cpos(const se_reader *r)
{
    return r->fpos - (int64_t)(r->in_len - r->in_pos);
}

static se_status read_in(se_reader *r, se_error *err)
{
    if (r->in_pos < r->in_len || r->file_eof) return SE_OK;
    ssize_t k = pread(r->s->fd, r->in, IN_CHUNK, r->fpos);
    if (k < 0) return se_error_set(err, SE_EIO, "%s: read failed at byte %lld: %s", r->s->path, (long long)r->fpos, strerror(errno));
    r->in_pos = 0, r->in_len = (size_t)k, r->fpos += k;
    if (k == 0) r->file_eof = 1;
    return SE_OK;
}

static se_status truncated(const se_reader *r, se_error *err)
{
    return se_error_set(err, SE_EFORMAT, "%s: truncated %s stream: it ends at byte %lld inside a %s", r->s->path,
                        se_comp_name(r->s->comp), (long long)r->fpos,
                        r->s->comp == SE_COMP_GZIP ? "gzip member" : "zstd frame");
}

/* A gzip member or zstd frame has ended at the decoder's input position:
 * the next one begins there (and if it is where the unit stops, the
 * uncompressed offset of the unit's end is known). */
static se_status frame_end(se_reader *r, se_error *err)
{
    int64_t c = cpos(r), d = r->pos + (int64_t)(r->end - r->start);
    if (c == r->stop_c && !r->stop_known) r->stop_d = d, r->stop_known = 1;
    if (r->n_frames == r->frames_cap) {
        void *p = realloc(r->frames, (size_t)r->frames_cap * 2 * sizeof *r->frames);
        if (!p) return se_error_set(err, SE_ENOMEM, "%s: cannot allocate a reader", r->s->path);
        r->frames = p, r->frames_cap *= 2;
    }
    r->frames[r->n_frames][0] = c, r->frames[r->n_frames][1] = d, r->n_frames++;
    return SE_OK;
}

/* Appends decompressed bytes at out[end..cap). */
static se_status fill(se_reader *r, se_error *err)
{
    const se_source *s = r->s;
    char *dst = r->out + r->end;
    size_t room = r->cap - r->end;
    if (s->comp == SE_COMP_NONE) {
        ssize_t k = pread(s->fd, dst, room, r->fpos);
        if (k < 0)
            return se_error_set(err, SE_EIO, "%s: read failed at byte %lld: %s", s->path, (long long)r->fpos, strerror(errno));
        r->fpos += k, r->end += (size_t)k;
        if (k == 0) r->done = 1;
        return SE_OK;
    }
    se_status st = read_in(r, err);
    if (st) return st;
    int at_eof = r->in_pos == r->in_len && r->file_eof;
    if (at_eof && !r->frame_open) {
        r->done = 1;
        return SE_OK;
    }
    int64_t at = cpos(r);
    if (s->comp == SE_COMP_GZIP) {
        r->z.next_in = r->in + r->in_pos, r->z.avail_in = (uInt)(r->in_len - r->in_pos);
        r->z.next_out = (Bytef *)dst, r->z.avail_out = (uInt)room;
        r->frame_open = 1;
        int rc = inflate(&r->z, Z_NO_FLUSH);
        size_t used = (r->in_len - r->in_pos) - r->z.avail_in;
        r->in_pos += used;
        r->end += room - r->z.avail_out;
        /* all input taken, no output and no end: the member is cut short */
        if (at_eof && rc != Z_STREAM_END && r->z.avail_out == room) return truncated(r, err);
        if (rc == Z_STREAM_END) {
            /* the next member, if any bytes follow, is a new gzip stream */
            r->frame_open = 0;
            inflateReset(&r->z);
            return frame_end(r, err);
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            return se_error_set(err, SE_EFORMAT, "%s: corrupt gzip stream near byte %lld: %s", s->path,
                                (long long)(at + (int64_t)used), r->z.msg ? r->z.msg : "inflate failed");
        }
        return SE_OK;
    }
    ZSTD_inBuffer in = {r->in, r->in_len, r->in_pos};
    ZSTD_outBuffer o = {dst, room, 0};
    size_t rc = ZSTD_decompressStream(r->zs, &o, &in);
    if (ZSTD_isError(rc))
        return se_error_set(err, SE_EFORMAT, "%s: corrupt zstd stream near byte %lld: %s", s->path,
                            (long long)(at + (int64_t)(in.pos - r->in_pos)), ZSTD_getErrorName(rc));
    r->in_pos = in.pos;
    r->end += o.pos;
    if (at_eof && rc != 0 && o.pos == 0) return truncated(r, err);
    r->frame_open = rc != 0; /* 0: a frame is complete and flushed */
    return rc == 0 ? frame_end(r, err) : SE_OK;
}

se_status se_reader_next(se_reader *r, char **line, size_t *len, int64_t *off, se_error *err)
{
    for (;;) {
        char *nl = r->scan < r->end ? memchr(r->out + r->scan, '\n', r->end - r->scan) : NULL;
        if (nl || (r->done && r->end > r->start)) {
            size_t e = nl ? (size_t)(nl - r->out) + 1 : r->end;
            *line = r->out + r->start, *len = e - r->start, *off = r->pos;
            if (r->s->comp == SE_COMP_NONE) {
                r->key = (uint64_t)r->pos;
            } else { /* the frame holding the line's first byte */
                int k = 0;
                while (k + 1 < r->n_frames && r->frames[k + 1][1] <= r->pos) k++;
                if (k > 0) {
                    memmove(r->frames, r->frames + k, (size_t)(r->n_frames - k) * sizeof *r->frames);
                    r->n_frames -= k;
                }
                r->key = (uint64_t)r->frames[0][0] * 0x9E3779B97F4A7C15u ^ (uint64_t)(r->pos - r->frames[0][1]);
            }
            r->pos += (int64_t)(e - r->start);
            r->start = r->scan = e;
            return SE_OK;
        }
        if (r->done) {
            *line = NULL, *len = 0, *off = r->pos;
            return SE_OK;
        }
        r->scan = r->end;
        if (r->start > 0) { /* keep the partial line at the front */
            memmove(r->out, r->out + r->start, r->end - r->start);
            r->end -= r->start, r->scan -= r->start, r->start = 0;
        }
        if (r->end == r->cap) {
            char *p = realloc(r->out, r->cap * 2);
            if (!p) return se_error_set(err, SE_ENOMEM, "%s: cannot hold a line of %zu bytes", r->s->path, r->cap);
            r->out = p, r->cap *= 2;
        }
        se_status st = fill(r, err);
        if (st) return st;
    }
}

uint64_t se_reader_line_key(const se_reader *r) { return r->key; }

int se_reader_stop(const se_reader *r, int64_t *stop_d)
{
    if (r->stop_known) *stop_d = r->stop_d;
    return r->stop_known;
}

int64_t se_reader_in_pos(const se_reader *r)
{
    return r->s->comp == SE_COMP_NONE ? r->pos : cpos(r);
}
