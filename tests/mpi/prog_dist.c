/* Test driver for the dist module under a real mpiexec (tests/mpi/test_dist.sh).
 *
 *   prog_dist check          every in-process check; rank 0 prints
 *                            "prog_dist check: P ranks: N passed, M failed";
 *                            exit 1 on any failure
 *   prog_dist fail-open R    rank R cannot open its shard file; the failure is
 *                            agreed, rank 0 prints the message, all exit 1
 *   prog_dist fatal R        rank R calls se_dist_fatal while the others wait in
 *                            an all-reduce (agreement impossible)
 *   prog_dist crash R        rank R exits(3) without MPI_Finalize while the
 *                            others wait in an all-reduce
 *   prog_dist bench          all-reduce latency and bandwidth, 1 KiB .. 64 MiB
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dist/dist_internal.h"
#include "shardenc/dist.h"

static int g_rank, g_size, g_pass, g_fail;

#define CHECK(cond, ...)                                                                                          \
    do {                                                                                                          \
        if (cond) {                                                                                               \
            g_pass++;                                                                                             \
        } else {                                                                                                  \
            g_fail++;                                                                                             \
            fprintf(stderr, "prog_dist[%d]: FAIL %s:%d: %s: ", g_rank, __FILE__, __LINE__, #cond);                \
            fprintf(stderr, __VA_ARGS__);                                                                         \
            fputc('\n', stderr);                                                                                  \
        }                                                                                                         \
    } while (0)

static void check_grid(int tp)
{
    se_grid g;
    se_error err;
    se_error_clear(&err);
    se_status s = se_grid_create(MPI_COMM_WORLD, tp, &g, &err);
    char want[256] = "";
    if (tp < 1) snprintf(want, sizeof want, "--tp %d: the tensor-parallel size must be at least 1", tp);
    else if (tp > g_size)
        snprintf(want, sizeof want, "--tp %d is more than the %d rank%s of the job", tp, g_size, g_size == 1 ? "" : "s");
    else if (g_size % tp) snprintf(want, sizeof want, "--tp %d does not divide the %d ranks of the job", tp, g_size);
    if (want[0]) {
        CHECK(s == SE_EINVAL, "tp=%d: status %d", tp, s);
        CHECK(!strcmp(err.msg, want), "tp=%d: message '%s', want '%s'", tp, err.msg, want);
        CHECK(g.tp == MPI_COMM_NULL && g.dp == MPI_COMM_NULL, "tp=%d: communicators left behind", tp);
        se_grid_free(&g);
        return;
    }
    CHECK(s == SE_OK, "tp=%d: %s", tp, err.msg);
    if (s != SE_OK) return;
    int r = g_rank;
    CHECK(g.world_rank == r && g.world_size == g_size, "tp=%d: world %d/%d", tp, g.world_rank, g.world_size);
    CHECK(g.tp_rank == r % tp && g.tp_size == tp, "tp=%d: tp %d/%d", tp, g.tp_rank, g.tp_size);
    CHECK(g.dp_rank == r / tp && g.dp_size == g_size / tp, "tp=%d: dp %d/%d", tp, g.dp_rank, g.dp_size);
    /* Membership, not just numbering: the TP group is the block of consecutive
     * world ranks r - r%tp .. +tp-1; the dp communicator holds r%tp + k*tp. */
    int mine = r, sum = -1, lo = -1;
    MPI_Allreduce(&mine, &sum, 1, MPI_INT, MPI_SUM, g.tp);
    MPI_Allreduce(&mine, &lo, 1, MPI_INT, MPI_MIN, g.tp);
    int b = r - r % tp;
    CHECK(lo == b && sum == tp * b + tp * (tp - 1) / 2, "tp=%d: tp group min %d sum %d", tp, lo, sum);
    int nd = g_size / tp, t = r % tp;
    MPI_Allreduce(&mine, &sum, 1, MPI_INT, MPI_SUM, g.dp);
    MPI_Allreduce(&mine, &lo, 1, MPI_INT, MPI_MIN, g.dp);
    CHECK(lo == t && sum == nd * t + tp * nd * (nd - 1) / 2, "tp=%d: dp group min %d sum %d", tp, lo, sum);
    se_grid_free(&g);
    CHECK(g.tp == MPI_COMM_NULL && g.dp == MPI_COMM_NULL, "tp=%d: not freed", tp);
}

static void check_split(void)
{
    const int64_t want[5] = {3, 3, 2, 2, 2};
    int64_t next = 0;
    for (int i = 0; i < 5; i++) {
        int64_t s, c;
        se_split(12, 5, i, &s, &c);
        CHECK(c == want[i] && s == next, "split 12/5 part %d: start %lld count %lld", i, (long long)s, (long long)c);
        next = s + c;
    }
    CHECK(next == 12, "split 12/5 covers %lld", (long long)next);
    /* The split of the TP group this process is in: every rank's share sums
     * back to the total over the communicator. */
    int64_t s, c, total = 0;
    se_split(3072, g_size, g_rank, &s, &c);
    MPI_Allreduce(&c, &total, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    CHECK(total == 3072, "split 3072 over %d ranks sums to %lld", g_size, (long long)total);
}

/* Integer-valued floats below 2^24: every sum is exact in any order. */
static void check_allreduce(void)
{
    const int64_t n = 1003;
    float *buf = malloc((size_t)n * sizeof *buf);
    for (int64_t i = 0; i < n; i++) buf[i] = (float)((g_rank + 1) * (i % 101));
    se_coll_stats st = {0};
    se_error err;
    se_error_clear(&err);
    se_status s = se_allreduce_sum(buf, n, MPI_COMM_WORLD, &st, &err);
    CHECK(s == SE_OK, "allreduce: %s", err.msg);
    int bad = 0;
    const int64_t tri = (int64_t)g_size * (g_size + 1) / 2;
    for (int64_t i = 0; i < n; i++) bad += buf[i] != (float)(tri * (i % 101));
    CHECK(bad == 0, "allreduce: %d wrong elements", bad);
    if (g_size > 1) {
        CHECK(st.calls == 1 && st.bytes == n * 4 && st.wire_bytes == 2 * (g_size - 1) * n * 4 / g_size,
              "allreduce stats: calls %lld bytes %lld wire %lld", (long long)st.calls, (long long)st.bytes,
              (long long)st.wire_bytes);
        CHECK(st.seconds > 0 && st.seconds < 10, "allreduce seconds %g", st.seconds);
    } else {
        CHECK(st.calls == 0 && st.bytes == 0 && st.seconds == 0, "size 1 allreduce counted %lld", (long long)st.calls);
    }

    /* Chunking (2^30 in production) with chunks of 7: 1003 = 143*7 + 2. */
    se_dist_coll_chunk = 7;
    for (int64_t i = 0; i < n; i++) buf[i] = (float)(g_rank * 3 + i);
    s = se_allreduce_sum(buf, n, MPI_COMM_WORLD, &st, &err);
    se_dist_coll_chunk = (int64_t)1 << 30;
    bad = 0;
    for (int64_t i = 0; i < n; i++)
        bad += buf[i] != (float)(3 * (int64_t)g_size * (g_size - 1) / 2 + g_size * i);
    CHECK(s == SE_OK && bad == 0, "chunked allreduce: status %d, %d wrong", s, bad);
    if (g_size > 1) CHECK(st.calls == 2 && st.bytes == 2 * n * 4, "chunked counts as one call: %lld", (long long)st.calls);

    /* Zero elements and a NULL stats pointer are fine; negative n is refused. */
    CHECK(se_allreduce_sum(buf, 0, MPI_COMM_WORLD, NULL, &err) == SE_OK, "n=0: %s", err.msg);
    s = se_allreduce_sum(buf, -1, MPI_COMM_WORLD, NULL, &err);
    CHECK(s == SE_EINVAL && !strcmp(err.msg, "all-reduce of -1 elements"), "n=-1: %d '%s'", s, err.msg);
    /* An MPI failure comes back as SE_EMPI with the MPI error string. */
    s = se_allreduce_sum(buf, 4, MPI_COMM_NULL, NULL, &err);
    CHECK(s == SE_EMPI && strstr(err.msg, "failed: ") && strstr(err.msg, "communicator"), "comm null: %d '%s'", s,
          err.msg);
    free(buf);
}

static void check_reduce_scatter(void)
{
    int P = g_size;
    int *counts = malloc((size_t)P * sizeof *counts), *displs = malloc((size_t)P * sizeof *displs);
    int total = 0;
    for (int r = 0; r < P; r++) {
        counts[r] = (r == P - 1 && P > 1) ? 0 : r + 2; /* uneven, the last one empty */
        displs[r] = total;
        total += counts[r];
    }
    float *send = malloc((size_t)total * sizeof *send), *recv = malloc((size_t)(counts[g_rank] + 1) * sizeof *recv);
    for (int i = 0; i < total; i++) send[i] = (float)((g_rank + 1) * i);
    recv[counts[g_rank]] = -7.0f; /* sentinel past the block */
    se_coll_stats st = {0};
    se_error err;
    se_error_clear(&err);
    se_status s = se_reduce_scatter_sum(send, recv, counts, MPI_COMM_WORLD, &st, &err);
    CHECK(s == SE_OK, "reduce-scatter: %s", err.msg);
    int bad = 0;
    const int tri = P * (P + 1) / 2;
    for (int j = 0; j < counts[g_rank]; j++) bad += recv[j] != (float)(tri * (displs[g_rank] + j));
    CHECK(bad == 0 && recv[counts[g_rank]] == -7.0f, "reduce-scatter: %d wrong, sentinel %g", bad,
          recv[counts[g_rank]]);
    if (P > 1)
        CHECK(st.calls == 1 && st.bytes == total * 4 && st.wire_bytes == (int64_t)(P - 1) * total * 4 / P,
              "reduce-scatter stats: calls %lld bytes %lld wire %lld", (long long)st.calls, (long long)st.bytes,
              (long long)st.wire_bytes);
    else
        CHECK(st.calls == 0, "size 1 reduce-scatter counted");

    /* In place: the block lands at the start of the buffer. */
    for (int i = 0; i < total; i++) send[i] = (float)((g_rank + 1) * i);
    s = se_reduce_scatter_sum(send, send, counts, MPI_COMM_WORLD, NULL, &err);
    bad = 0;
    for (int j = 0; j < counts[g_rank]; j++) bad += send[j] != (float)(tri * (displs[g_rank] + j));
    CHECK(s == SE_OK && bad == 0, "in-place reduce-scatter: status %d, %d wrong", s, bad);

    int saved = counts[0];
    counts[0] = -3;
    s = se_reduce_scatter_sum(send, recv, counts, MPI_COMM_WORLD, NULL, &err);
    CHECK(s == SE_EINVAL && !strcmp(err.msg, "reduce-scatter: counts[0] = -3 is negative"), "negative: '%s'", err.msg);
    counts[0] = saved;
    free(send);
    free(recv);
    free(counts);
    free(displs);
}

static void check_allgatherv(void)
{
    int P = g_size;
    int *counts = malloc((size_t)P * sizeof *counts), *displs = malloc((size_t)P * sizeof *displs);
    int end = 0, total = 0;
    for (int r = 0; r < P; r++) {
        counts[r] = 2 * r + 1;
        displs[r] = end + 1; /* a one-element gap before each piece stays untouched */
        end = displs[r] + counts[r];
        total += counts[r];
    }
    float *buf = malloc((size_t)end * sizeof *buf);
    for (int i = 0; i < end; i++) buf[i] = -1.0f;
    for (int j = 0; j < counts[g_rank]; j++) buf[displs[g_rank] + j] = (float)(1000 * g_rank + j);
    se_coll_stats st = {0};
    se_error err;
    se_error_clear(&err);
    se_status s = se_allgatherv_inplace(buf, counts, displs, MPI_COMM_WORLD, &st, &err);
    CHECK(s == SE_OK, "allgatherv: %s", err.msg);
    int bad = 0;
    for (int r = 0; r < P; r++) {
        bad += buf[displs[r] - 1] != -1.0f;
        for (int j = 0; j < counts[r]; j++) bad += buf[displs[r] + j] != (float)(1000 * r + j);
    }
    CHECK(bad == 0, "allgatherv: %d wrong elements", bad);
    if (P > 1)
        CHECK(st.calls == 1 && st.bytes == counts[g_rank] * 4 && st.wire_bytes == (int64_t)(P - 1) * total * 4 / P,
              "allgatherv stats: calls %lld bytes %lld wire %lld", (long long)st.calls, (long long)st.bytes,
              (long long)st.wire_bytes);
    else
        CHECK(st.calls == 0, "size 1 allgatherv counted");
    free(buf);
    free(counts);
    free(displs);
}

/* Reduce-scatter then all-gather of the same vector equals one all-reduce,
 * in values and in wire bytes (the sequence-parallel identity). */
static void check_sp_identity(void)
{
    int P = g_size;
    int n = 37;
    int *counts = malloc((size_t)P * sizeof *counts), *displs = malloc((size_t)P * sizeof *displs);
    for (int r = 0; r < P; r++) {
        int64_t st, c;
        se_split(n, P, r, &st, &c);
        counts[r] = (int)c;
        displs[r] = (int)st;
    }
    float *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
    for (int i = 0; i < n; i++) a[i] = b[i] = (float)(g_rank * 5 + i % 7);
    se_coll_stats s1 = {0}, s2 = {0};
    se_error err;
    se_status s = se_allreduce_sum(a, n, MPI_COMM_WORLD, &s1, &err);
    if (s == SE_OK) s = se_reduce_scatter_sum(b, b, counts, MPI_COMM_WORLD, &s2, &err);
    if (s == SE_OK) {
        memmove(b + displs[g_rank], b, (size_t)counts[g_rank] * sizeof *b);
        s = se_allgatherv_inplace(b, counts, displs, MPI_COMM_WORLD, &s2, &err);
    }
    CHECK(s == SE_OK && !memcmp(a, b, (size_t)n * sizeof *a), "RS+AG != AR (status %d)", s);
    /* (P-1)/P rounding of two terms vs one may differ by a byte. */
    CHECK(llabs(s1.wire_bytes - s2.wire_bytes) <= 1, "wire bytes AR %lld vs RS+AG %lld", (long long)s1.wire_bytes,
          (long long)s2.wire_bytes);
    free(a);
    free(b);
    free(counts);
    free(displs);
}

static void check_agree(void)
{
    const char *text = "/data/shard.bin: cannot open: No such file or directory";
    se_error err;
    char want[256];

    /* All OK: SE_OK and err untouched. */
    se_error_set(&err, SE_OK, "untouched");
    se_status s = se_dist_agree(MPI_COMM_WORLD, SE_OK, &err);
    CHECK(s == SE_OK && !strcmp(err.msg, "untouched"), "all ok: %d '%s'", s, err.msg);

    /* One rank fails (rank 1, or rank 0 alone). */
    int f = g_size > 1 ? 1 : 0;
    se_error_clear(&err);
    s = g_rank == f ? se_error_set(&err, SE_EIO, "%s", text) : SE_OK;
    s = se_dist_agree(MPI_COMM_WORLD, s, &err);
    if (g_size > 1) snprintf(want, sizeof want, "rank %d: %s", f, text);
    else snprintf(want, sizeof want, "%s", text);
    se_status wcode = g_rank == f ? SE_EIO : SE_EREMOTE;
    CHECK(s == wcode && err.code == wcode, "one fails: status %d code %d, want %d", s, err.code, wcode);
    CHECK(!strcmp(err.msg, want), "one fails: '%s', want '%s'", err.msg, want);

    /* Two ranks fail with different errors: the lowest wins everywhere. */
    if (g_size > 1) {
        int f1 = g_size > 2 ? 1 : 0, f2 = f1 + 1;
        se_error_clear(&err);
        s = SE_OK;
        if (g_rank == f1) s = se_error_set(&err, SE_ESHAPE, "wq: shape [4, 8], expected [4, 6]");
        if (g_rank == f2) s = se_error_set(&err, SE_ENOMEM, "cannot allocate 1 GiB");
        s = se_dist_agree(MPI_COMM_WORLD, s, &err);
        snprintf(want, sizeof want, "rank %d: wq: shape [4, 8], expected [4, 6]", f1);
        wcode = g_rank == f1 ? SE_ESHAPE : SE_EREMOTE;
        CHECK(s == wcode && err.code == wcode, "two fail: status %d, want %d", s, wcode);
        CHECK(!strcmp(err.msg, want), "two fail: '%s', want '%s'", err.msg, want);
    }

    /* Nested: agree in TP groups of 2, then in the world. The world rank of
     * the origin names it, once, and the origin keeps its code. */
    if (g_size >= 2 && g_size % 2 == 0) {
        se_grid g;
        s = se_grid_create(MPI_COMM_WORLD, 2, &g, &err);
        CHECK(s == SE_OK, "grid tp=2: %s", err.msg);
        int f3 = g_size - 1; /* tp_rank 1 of the last group */
        se_error_clear(&err);
        s = g_rank == f3 ? se_error_set(&err, SE_EFORMAT, "vocab.txt:3: empty token") : SE_OK;
        s = se_dist_agree(g.tp, s, &err);
        int in_group = g_rank / 2 == f3 / 2;
        CHECK(in_group ? s != SE_OK : s == SE_OK, "tp agree: status %d", s);
        s = se_dist_agree(MPI_COMM_WORLD, s, &err);
        snprintf(want, sizeof want, "rank %d: vocab.txt:3: empty token", f3);
        wcode = g_rank == f3 ? SE_EFORMAT : SE_EREMOTE;
        CHECK(s == wcode && !strcmp(err.msg, want), "nested: %d '%s', want %d '%s'", s, err.msg, wcode, want);
        se_grid_free(&g);
    }
}

static void check_hostinfo(void)
{
    se_hostinfo hi;
    se_error err;
    se_error_clear(&err);
    se_status s = se_dist_hostinfo(MPI_COMM_WORLD, &hi, &err);
    CHECK(s == SE_OK, "hostinfo: %s", err.msg);
    char name[MPI_MAX_PROCESSOR_NAME];
    int len;
    MPI_Get_processor_name(name, &len);
    /* mpiexec on one machine: one host with all the ranks. */
    CHECK(hi.n_hosts == 1 && hi.max_ranks_per_host == g_size, "hostinfo: %d hosts, %d ranks per host", hi.n_hosts,
          hi.max_ranks_per_host);
    CHECK(hi.cores_per_host == (int)sysconf(_SC_NPROCESSORS_ONLN), "hostinfo: %d cores", hi.cores_per_host);
    CHECK(!strcmp(hi.host0, name), "hostinfo: host0 '%s', here '%s'", hi.host0, name);
}

static int run_check(void)
{
    for (int tp = -1; tp <= g_size + 1; tp++) check_grid(tp);
    check_split();
    check_allreduce();
    check_reduce_scatter();
    check_allgatherv();
    check_sp_identity();
    check_agree();
    check_hostinfo();
    int mine[2] = {g_pass, g_fail}, tot[2];
    MPI_Allreduce(mine, tot, 2, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (g_rank == 0) printf("prog_dist check: %d ranks: %d passed, %d failed\n", g_size, tot[0], tot[1]);
    return tot[1] ? 1 : 0;
}

/* The issue-3 scenario: rank R cannot open its file. Every fallible phase
 * ends with se_dist_agree, so the others wait there, not in the next
 * all-reduce; rank 0 prints the agreed message once and every rank exits 1. */
static int run_fail_open(int bad)
{
    se_error err;
    se_error_clear(&err);
    char path[64];
    snprintf(path, sizeof path, g_rank == bad ? "/nonexistent/shard-%d.bin" : "/proc/self/status", g_rank);
    char *text = NULL;
    size_t len = 0;
    se_status s = se_read_file(path, 1 << 20, &text, &len, &err);
    free(text);
    s = se_dist_agree(MPI_COMM_WORLD, s, &err);
    if (s == SE_OK) {
        float x = 1.0f;
        s = se_allreduce_sum(&x, 1, MPI_COMM_WORLD, NULL, &err);
    }
    if (s != SE_OK) {
        if (g_rank == 0) fprintf(stderr, "shardenc: error: %s\n", err.msg);
        return 1;
    }
    return 0;
}

static int run_fatal(int bad, int crash)
{
    if (g_rank == bad) {
        se_error err;
        se_error_set(&err, SE_EIO, "/nonexistent/shard-%d.bin: cannot open", g_rank);
        if (crash) {
            fprintf(stderr, "prog_dist[%d]: exiting without MPI_Finalize\n", g_rank);
            fflush(stderr);
            exit(3);
        }
        se_dist_fatal(MPI_COMM_WORLD, &err);
    }
    /* The others are already in the next collective and would wait forever. */
    float x = 1.0f;
    se_error err;
    se_allreduce_sum(&x, 1, MPI_COMM_WORLD, NULL, &err);
    fprintf(stderr, "prog_dist[%d]: all-reduce returned, which it should not\n", g_rank);
    return 0;
}

/* All-reduce latency and bandwidth: best over repeats of the mean time of a
 * batch (the machine is shared). algbw = bytes/t; busbw = 2(p-1)/p·bytes/t, the
 * figure to compare with memory bandwidth under the ring model. */
static int run_bench(void)
{
    const int64_t max_n = ((int64_t)64 << 20) / 4;
    float *buf = malloc((size_t)max_n * sizeof *buf);
    for (int64_t i = 0; i < max_n; i++) buf[i] = 0.0f;
    se_error err;
    if (g_rank == 0) printf("%10s %8s %12s %12s %12s\n", "bytes", "iters", "usec", "algbw_GB/s", "busbw_GB/s");
    for (int64_t bytes = 1024; bytes <= ((int64_t)64 << 20); bytes *= 4) {
        int64_t n = bytes / 4;
        int iters = (int)(bytes <= (1 << 16) ? 2000 : bytes <= (1 << 22) ? 100 : 8);
        se_allreduce_sum(buf, n, MPI_COMM_WORLD, NULL, &err); /* warm-up */
        double best = 1e30;
        for (int rep = 0; rep < 5; rep++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = se_time_now();
            for (int it = 0; it < iters; it++)
                if (se_allreduce_sum(buf, n, MPI_COMM_WORLD, NULL, &err) != SE_OK) {
                    fprintf(stderr, "%s\n", err.msg);
                    return 1;
                }
            double t = (se_time_now() - t0) / iters, tmax;
            MPI_Allreduce(&t, &tmax, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
            if (tmax < best) best = tmax;
        }
        if (g_rank == 0)
            printf("%10lld %8d %12.2f %12.3f %12.3f\n", (long long)bytes, iters, best * 1e6, bytes / best / 1e9,
                   2.0 * (g_size - 1) / g_size * bytes / best / 1e9);
    }
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    se_error err;
    se_error_clear(&err);
    if (se_dist_init(&argc, &argv, &err) != SE_OK) {
        fprintf(stderr, "prog_dist: %s\n", err.msg);
        return 2;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    const char *mode = argc > 1 ? argv[1] : "check";
    int arg = argc > 2 ? atoi(argv[2]) : 1;
    int rc;
    if (!strcmp(mode, "check")) rc = run_check();
    else if (!strcmp(mode, "fail-open")) rc = run_fail_open(arg);
    else if (!strcmp(mode, "fatal")) rc = run_fatal(arg, 0);
    else if (!strcmp(mode, "crash")) rc = run_fatal(arg, 1);
    else if (!strcmp(mode, "bench")) rc = run_bench();
    else {
        fprintf(stderr, "prog_dist: unknown mode '%s'\n", mode);
        rc = 2;
    }
    se_dist_finalize();
    return rc;
}
