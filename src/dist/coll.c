/* dist: fp32 sum collectives of the tensor-parallel layer (DESIGN.md:
 * y = allreduce_sum(a_t·Wo_tᵀ); sequence-parallel mode = reduce-scatter over
 * tokens + all-gather), each timed and counted into se_coll_stats. */
#include "dist_internal.h"

#include <limits.h>
#include <string.h>

/* MPI counts are int: chunk large all-reduces at 2^30 elements (4 GiB). */
int64_t se_dist_coll_chunk = (int64_t)1 << 30;

/* Seconds include waiting for the slowest rank to arrive: that wait is part of
 * what a collective costs the caller (load imbalance shows up here). */
static void add_stats(se_coll_stats *st, double t0, int64_t bytes, int64_t wire)
{
    if (!st) return;
    st->seconds += se_time_now() - t0;
    st->calls += 1;
    st->bytes += bytes;
    st->wire_bytes += wire;
}

static se_status comm_geom(MPI_Comm comm, int *rank, int *size, se_error *err)
{
    se_status s = se_dist_mpi_check(MPI_Comm_size(comm, size), err, "MPI_Comm_size");
    if (s == SE_OK && rank) s = se_dist_mpi_check(MPI_Comm_rank(comm, rank), err, "MPI_Comm_rank");
    return s;
}

/* sum(counts) over p ranks, refusing negative counts. */
static se_status counts_total(const int *counts, int p, int64_t *total, se_error *err, const char *what)
{
    int64_t t = 0;
    for (int i = 0; i < p; i++) {
        if (counts[i] < 0) return se_error_set(err, SE_EINVAL, "%s: counts[%d] = %d is negative", what, i, counts[i]);
        t += counts[i];
    }
    *total = t;
    return SE_OK;
}

se_status se_allreduce_sum(float *buf, int64_t n, MPI_Comm comm, se_coll_stats *st, se_error *err)
{
    if (n < 0) return se_error_set(err, SE_EINVAL, "all-reduce of %lld elements", (long long)n);
    int p = 1;
    se_status s = comm_geom(comm, NULL, &p, err);
    if (s != SE_OK || p == 1 || n == 0) return s;
    double t0 = se_time_now();
    int64_t chunk = se_dist_coll_chunk > 0 && se_dist_coll_chunk <= INT_MAX ? se_dist_coll_chunk : (int64_t)1 << 30;
    for (int64_t off = 0; off < n; off += chunk) {
        int c = (int)(n - off < chunk ? n - off : chunk);
        s = se_dist_mpi_check(MPI_Allreduce(MPI_IN_PLACE, buf + off, c, MPI_FLOAT, MPI_SUM, comm), err,
                              "MPI_Allreduce");
        if (s != SE_OK) return s;
    }
    /* Ring all-reduce: reduce-scatter + all-gather, each sending (p-1)/p of
     * the vector from every rank: 2(p-1)/p · n · 4 bytes. */
    add_stats(st, t0, n * 4, 2 * (int64_t)(p - 1) * n * 4 / p);
    return SE_OK;
}

se_status se_reduce_scatter_sum(const float *send, float *recv, const int *counts, MPI_Comm comm,
                                se_coll_stats *st, se_error *err)
{
    int p = 1;
    int64_t total = 0;
    se_status s = comm_geom(comm, NULL, &p, err);
    if (s == SE_OK) s = counts_total(counts, p, &total, err, "reduce-scatter");
    if (s != SE_OK) return s;
    if (p == 1) {
        if (send != recv && counts[0] > 0) memmove(recv, send, (size_t)counts[0] * sizeof(float));
        return SE_OK;
    }
    if (total == 0) return SE_OK;
    double t0 = se_time_now();
    /* send == recv: MPI forbids aliasing, MPI_IN_PLACE takes the input from
     * recv and leaves this rank's block at its start. */
    s = se_dist_mpi_check(MPI_Reduce_scatter(send == recv ? MPI_IN_PLACE : send, recv, counts, MPI_FLOAT,
                                             MPI_SUM, comm),
                          err, "MPI_Reduce_scatter");
    if (s != SE_OK) return s;
    add_stats(st, t0, total * 4, (int64_t)(p - 1) * total * 4 / p);
    return SE_OK;
}

se_status se_allgatherv_inplace(float *buf, const int *counts, const int *displs, MPI_Comm comm,
                                se_coll_stats *st, se_error *err)
{
    int p = 1, me = 0;
    int64_t total = 0;
    se_status s = comm_geom(comm, &me, &p, err);
    if (s == SE_OK) s = counts_total(counts, p, &total, err, "all-gather");
    if (s != SE_OK || p == 1 || total == 0) return s;
    for (int i = 0; i < p; i++)
        if (displs[i] < 0)
            return se_error_set(err, SE_EINVAL, "all-gather: displs[%d] = %d is negative", i, displs[i]);
    double t0 = se_time_now();
    s = se_dist_mpi_check(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts, displs, MPI_FLOAT, comm),
                          err, "MPI_Allgatherv");
    if (s != SE_OK) return s;
    add_stats(st, t0, (int64_t)counts[me] * 4, (int64_t)(p - 1) * total * 4 / p);
    return SE_OK;
}
