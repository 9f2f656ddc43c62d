/* core: the file helpers every module shares (DESIGN.md "Files that must
 * survive a crash are written through one helper"): full pread/pwrite loops,
 * checked sync and close, rename + directory fsync, and FNV-1a hashing. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shardenc/core.h"

se_status se_pwrite_full(int fd, const void *buf, size_t n, int64_t off, const char *path, se_error *err)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t k = pwrite(fd, p, n, (off_t)off);
        if (k < 0 && errno == EINTR) continue;
        /* ENOSPC, EDQUOT and EFBIG surface here (or at the sync): name them */
        if (k <= 0)
            return se_error_set(err, SE_EIO, "%s: write of %zu bytes at offset %lld failed: %s", path, n,
                                (long long)off, k < 0 ? strerror(errno) : "no progress");
        p += k, n -= (size_t)k, off += k;
    }
    return SE_OK;
}

se_status se_pread_full(int fd, void *buf, size_t n, int64_t off, const char *path, se_error *err)
{
    char *p = buf;
    while (n > 0) {
        ssize_t k = pread(fd, p, n, (off_t)off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0)
            return se_error_set(err, SE_EIO, "%s: read at offset %lld failed: %s", path, (long long)off,
                                k == 0 ? "file is shorter than expected (changed during the job?)" : strerror(errno));
        p += k, n -= (size_t)k, off += k;
    }
    return SE_OK;
}

se_status se_fd_sync(int fd, const char *path, se_error *err)
{
    /* A quota or full-disk error on NFS/Lustre may be reported only here. */
    if (fd >= 0 && fdatasync(fd) != 0)
        return se_error_set(err, SE_EIO, "%s: sync failed: %s", path, strerror(errno));
    return SE_OK;
}

se_status se_fd_close(int *fd, const char *path, se_error *err)
{
    if (*fd < 0) return SE_OK;
    int rc = close(*fd);
    *fd = -1;
    /* NFS reports deferred write errors at close: never ignore it */
    if (rc != 0) return se_error_set(err, SE_EIO, "%s: close failed: %s", path, strerror(errno));
    return SE_OK;
}

se_status se_dir_sync(const char *file_path, se_error *err)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", file_path) >= (int)sizeof buf)
        return se_error_set(err, SE_EINVAL, "%.200s...: path too long", file_path);
    const char *dir = dirname(buf);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return se_error_set(err, SE_EIO, "%s: cannot open directory: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    /* some file systems refuse fsync on a directory (EINVAL): nothing to sync there */
    if (rc != 0 && e != EINVAL && e != EROFS)
        return se_error_set(err, SE_EIO, "%s: directory sync failed: %s", dir, strerror(e));
    return SE_OK;
}

se_status se_file_rename(const char *tmp, const char *path, se_error *err)
{
    if (rename(tmp, path) != 0)
        return se_error_set(err, SE_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    return se_dir_sync(path, err);
}

se_status se_file_tmp_name(char *buf, size_t cap, const char *path, se_error *err)
{
    if ((size_t)snprintf(buf, cap, "%s.tmp.%ld", path, (long)getpid()) >= cap)
        return se_error_set(err, SE_EINVAL, "%.200s...: path too long", path);
    return SE_OK;
}

se_status se_stream_close(FILE *f, const char *path, se_status st, se_error *err)
{
    errno = 0;
    int bad = ferror(f) || fflush(f) != 0 || fsync(fileno(f)) != 0;
    int e = errno;
    bad |= fclose(f) != 0;
    if (!st && bad) st = se_error_set(err, SE_EIO, "%s: write failed: %s", path, strerror(e ? e : errno ? errno : EIO));
    return st;
}

se_status se_file_commit(const char *path, const void *a, size_t na, const void *b, size_t nb, se_error *err)
{
    char tmp[4096];
    se_status ts = se_file_tmp_name(tmp, sizeof tmp, path, err);
    if (ts) return ts;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return se_error_set(err, SE_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    se_status st = se_pwrite_full(fd, a, na, 0, tmp, err);
    if (!st && nb) st = se_pwrite_full(fd, b, nb, (int64_t)na, tmp, err);
    if (!st && fsync(fd) != 0) st = se_error_set(err, SE_EIO, "%s: sync failed: %s", tmp, strerror(errno));
    se_status cs = se_fd_close(&fd, tmp, st ? NULL : err);
    if (!st) st = cs;
    if (!st) st = se_file_rename(tmp, path, err);
    if (st) unlink(tmp);
    return st;
}

uint64_t se_fnv1a64(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

se_status se_hash_file(const char *path, uint64_t *out, se_error *err)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return se_error_set(err, SE_EIO, "%s: cannot open: %s", path, strerror(errno));
    uint64_t h = SE_FNV_INIT;
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    se_status st = buf ? SE_OK : se_error_set(err, SE_ENOMEM, "%s: cannot allocate a read buffer", path);
    for (;;) {
        if (st) break;
        ssize_t k = read(fd, buf, cap);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) st = se_error_set(err, SE_EIO, "%s: read failed: %s", path, strerror(errno));
        if (k <= 0) break;
        h = se_fnv1a64(h, buf, (size_t)k);
    }
    free(buf);
    close(fd);
    *out = h;
    return st;
}
