/* The resume fingerprint and the journal (no MPI: unit-tested alone).
 *
 * PREFIX.journal = [4 KiB header: magic, se_fingerprint] [slot 0] [slot 1] ...
 * A slot is 16 bytes at SE_JOURNAL_HEADER + 16*b: (magic, b, check), check =
 * FNV-1a(fingerprint digest, magic, b). Writers on any node pwrite only their
 * own batches' slots, so no two writers share bytes; a slot that is torn,
 * zero (never written) or left from another job fails its check and only
 * that batch is encoded again. The caller makes the rows durable before it
 * marks their slot (store.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job/embed_internal.h"

#define JOURNAL_MAGIC 0x32534a4553ULL /* "SEJS2" */
#define SLOT_MAGIC 0x534a5332u

typedef struct {
    uint32_t magic, batch;
    uint64_t check;
} slot;

_Static_assert(sizeof(se_fingerprint) + 8 <= SE_JOURNAL_HEADER, "fingerprint fits the journal header");
_Static_assert(sizeof(slot) == 16, "16-byte slots");

uint64_t se_fp_digest(const se_fingerprint *fp)
{
    return se_fnv1a64(SE_FNV_INIT, fp, sizeof *fp);
}

static uint64_t slot_check(uint64_t digest, uint32_t b)
{
    uint32_t v[2] = {SLOT_MAGIC, b};
    return se_fnv1a64(digest, v, sizeof v);
}

/* appends "; " + text to msg */
static void add(char *msg, size_t cap, int *n, const char *fmt, const char *a, const char *b)
{
    size_t l = strlen(msg);
    if (l + 4 >= cap) return;
    if (*n) l += (size_t)snprintf(msg + l, cap - l, "; ");
    if (l < cap) snprintf(msg + l, cap - l, fmt, a, b);
    (*n)++;
}

int se_fp_diff(const se_fingerprint *a, const se_fingerprint *b, char *msg, size_t cap)
{
    int n = 0;
    msg[0] = 0;
    if (strncmp(a->version, b->version, sizeof a->version))
        add(msg, cap, &n, "shardenc version %.16s -> %.16s", a->version, b->version);
    for (int i = 0; i < a->n_files; i++) {
        int j = 0;
        while (j < b->n_files && strncmp(a->files[i].name, b->files[j].name, sizeof a->files[i].name)) j++;
        if (j == b->n_files) add(msg, cap, &n, "%.112s is gone%s", a->files[i].name, "");
        else if (a->files[i].hash != b->files[j].hash)
            add(msg, cap, &n, "the content of %.112s changed%s", a->files[i].name, "");
    }
    for (int j = 0; j < b->n_files; j++) {
        int i = 0;
        while (i < a->n_files && strncmp(a->files[i].name, b->files[j].name, sizeof a->files[i].name)) i++;
        if (i == a->n_files) add(msg, cap, &n, "%.112s is new%s", b->files[j].name, "");
    }
    /* options: name the words that differ */
    if (strncmp(a->options, b->options, sizeof a->options)) {
        char x[sizeof a->options + 1], y[sizeof b->options + 1];
        snprintf(x, sizeof x, "%.480s", a->options);
        snprintf(y, sizeof y, "%.480s", b->options);
        char *sx, *sy, *px = strtok_r(x, " ", &sx), *py = strtok_r(y, " ", &sy);
        int found = 0;
        while (px || py) {
            if (!px || !py || strcmp(px, py)) {
                add(msg, cap, &n, "option %s -> %s", px ? px : "(none)", py ? py : "(none)");
                found = 1;
            }
            px = px ? strtok_r(NULL, " ", &sx) : NULL;
            py = py ? strtok_r(NULL, " ", &sy) : NULL;
        }
        if (!found) add(msg, cap, &n, "the options changed%s%s", "", "");
    }
    if (!n && (a->plan_hash != b->plan_hash || a->n_batches != b->n_batches))
        add(msg, cap, &n, "the batch plan changed (%s%s)", "another build or grid planned other batches", "");
    return n;
}

se_status se_journal_create(const char *path, const se_fingerprint *fp, se_error *err)
{
    char *head = calloc(1, SE_JOURNAL_HEADER);
    if (!head) return se_error_set(err, SE_ENOMEM, "%s: cannot allocate the header", path);
    uint64_t magic = JOURNAL_MAGIC;
    memcpy(head, &magic, 8);
    memcpy(head + 8, fp, sizeof *fp);
    /* the slots are a hole of zeros: invalid until written */
    se_status st = se_file_commit(path, head, SE_JOURNAL_HEADER, NULL, 0, err);
    free(head);
    return st;
}

se_status se_journal_read(const char *path, const se_fingerprint *fp, unsigned char *done, int64_t *n_done,
                          int *found, se_error *err)
{
    *n_done = 0;
    *found = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        if (errno == ENOENT) return SE_OK;
        return se_error_set(err, SE_EIO, "%s: cannot open: %s", path, strerror(errno));
    }
    *found = 1;
    char *head = malloc(SE_JOURNAL_HEADER);
    se_status st = head ? se_pread_full(fd, head, SE_JOURNAL_HEADER, 0, path, err)
                        : se_error_set(err, SE_ENOMEM, "%s: cannot allocate the header", path);
    uint64_t magic = 0;
    if (!st) memcpy(&magic, head, 8);
    if (!st && magic != JOURNAL_MAGIC)
        st = se_error_set(err, SE_EFORMAT, "%s: not a shardenc journal (or one of an older version); "
                                           "rerun without --resume to start over", path);
    if (!st) {
        se_fingerprint old;
        memcpy(&old, head + 8, sizeof old);
        char what[700];
        if (se_fp_diff(&old, fp, what, sizeof what) || se_fp_digest(&old) != se_fp_digest(fp))
            st = se_error_set(err, SE_EINVAL,
                              "--resume: %s belongs to another job: %s; rerun without --resume to start over",
                              path, what[0] ? what : "the fingerprint differs");
    }
    free(head);
    uint64_t dig = se_fp_digest(fp);
    slot buf[512];
    for (int64_t b0 = 0; !st && b0 < fp->n_batches; b0 += 512) {
        int64_t m = fp->n_batches - b0 < 512 ? fp->n_batches - b0 : 512;
        ssize_t k;
        do k = pread(fd, buf, (size_t)m * sizeof(slot), SE_JOURNAL_HEADER + b0 * (int64_t)sizeof(slot));
        while (k < 0 && errno == EINTR);
        if (k < 0) {
            st = se_error_set(err, SE_EIO, "%s: read failed: %s", path, strerror(errno));
            break;
        }
        int64_t have = k / (ssize_t)sizeof(slot); /* a short file: the rest was never written */
        for (int64_t i = 0; i < have; i++) {
            int64_t b = b0 + i;
            if (buf[i].magic == SLOT_MAGIC && buf[i].batch == (uint32_t)b && buf[i].check == slot_check(dig, (uint32_t)b)) {
                if (!done[b]) (*n_done)++;
                done[b] = 1;
            }
        }
        if (have < m) break;
    }
    close(fd);
    return st;
}

se_status se_journal_mark(int fd, const char *path, const se_fingerprint *fp, int64_t b, se_error *err)
{
    slot s = {SLOT_MAGIC, (uint32_t)b, slot_check(se_fp_digest(fp), (uint32_t)b)};
    return se_pwrite_full(fd, &s, sizeof s, SE_JOURNAL_HEADER + b * (int64_t)sizeof s, path, err);
}
