/* dist: checked collectives on bytes and int64 for the job's bookkeeping
 * (index, plan, journal). One policy for every call: MPI_ERRORS_RETURN is set
 * on the world (se_dist_init), so each return code is turned into SE_EMPI
 * naming the call; MPI counts are int, so a payload above INT_MAX bytes is
 * refused on every rank alike (each rank sees the same sizes before any
 * rank calls the collective), never truncated. */
#include "dist_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static se_status too_big(int64_t bytes, const char *what, se_error *err)
{
    return se_error_set(err, SE_EUNSUPPORTED, "%s: %lld bytes exceed one MPI message (INT_MAX); split the job",
                        what, (long long)bytes);
}

se_status se_dist_bcast(void *buf, int64_t bytes, int root, MPI_Comm comm, se_error *err)
{
    if (bytes < 0 || bytes > INT_MAX) return too_big(bytes, "MPI_Bcast", err);
    return se_dist_mpi_check(MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, comm), err, "MPI_Bcast");
}

se_status se_dist_allreduce_i64(const int64_t *in, int64_t *out, int n, MPI_Op op, MPI_Comm comm, se_error *err)
{
    return se_dist_mpi_check(MPI_Allreduce(in, out, n, MPI_INT64_T, op, comm), err, "MPI_Allreduce");
}

se_status se_dist_exscan_i64(const int64_t *in, int64_t *out, int n, MPI_Comm comm, se_error *err)
{
    int r = 0;
    se_status st = se_dist_mpi_check(MPI_Comm_rank(comm, &r), err, "MPI_Comm_rank");
    if (!st) st = se_dist_mpi_check(MPI_Exscan(in, out, n, MPI_INT64_T, MPI_SUM, comm), err, "MPI_Exscan");
    if (r == 0) memset(out, 0, (size_t)n * sizeof *out); /* MPI leaves rank 0's result undefined */
    return st;
}

/* Counts and displacements of a variable gather, refused alike everywhere
 * when the total does not fit an int. */
static se_status vcounts(int64_t n, MPI_Comm comm, int **counts, int **displs, int64_t *total, se_error *err)
{
    int p = 1;
    se_status st = se_dist_mpi_check(MPI_Comm_size(comm, &p), err, "MPI_Comm_size");
    if (st) return st;
    int64_t *all = malloc(sizeof(int64_t) * (size_t)p);
    *counts = malloc(sizeof(int) * (size_t)p);
    *displs = malloc(sizeof(int) * (size_t)p);
    int ok = all && *counts && *displs;
    /* everyone takes part in the gather of sizes even if its malloc failed */
    int64_t mine = n;
    int rc = MPI_Allgather(&mine, 1, MPI_INT64_T, all ? all : &mine, all ? 1 : 0, MPI_INT64_T, comm);
    if (!ok) st = se_error_set(err, SE_ENOMEM, "cannot allocate %d gather counts", p);
    if (!st) st = se_dist_mpi_check(rc, err, "MPI_Allgather");
    int64_t t = 0;
    for (int i = 0; !st && i < p; i++) {
        if (t > INT_MAX || all[i] > INT_MAX - t) {
            st = too_big(t + all[i], "MPI_Allgatherv", err);
            break;
        }
        (*displs)[i] = (int)t;
        (*counts)[i] = (int)all[i];
        t += all[i];
    }
    free(all);
    *total = t;
    if (st) {
        free(*counts), free(*displs);
        *counts = *displs = NULL;
    }
    return st;
}

se_status se_dist_allgatherv_bytes(const void *send, int64_t n, void **recv, int64_t *total, MPI_Comm comm,
                                   se_error *err)
{
    int *c = NULL, *d = NULL;
    *recv = NULL;
    se_status st = vcounts(n, comm, &c, &d, total, err);
    if (st) return st;
    *recv = malloc((size_t)*total + 1);
    /* an allocation failure must still enter the collective: send what we can, agree after */
    static char dummy;
    int rc = MPI_Allgatherv(send, (int)n, MPI_BYTE, *recv ? *recv : &dummy, c, d, MPI_BYTE, comm);
    if (!*recv) st = se_error_set(err, SE_ENOMEM, "cannot allocate %lld bytes to gather", (long long)*total);
    else st = se_dist_mpi_check(rc, err, "MPI_Allgatherv");
    free(c), free(d);
    return st;
}

se_status se_dist_gatherv_bytes(const void *send, int64_t n, void **recv, int64_t *total, int root, MPI_Comm comm,
                                se_error *err)
{
    int *c = NULL, *d = NULL, r = 0;
    *recv = NULL;
    se_status st = vcounts(n, comm, &c, &d, total, err);
    if (st) return st;
    MPI_Comm_rank(comm, &r);
    if (r == root) *recv = malloc((size_t)*total + 1);
    static char dummy;
    int rc = MPI_Gatherv(send, (int)n, MPI_BYTE, r != root || *recv ? *recv : &dummy, c, d, MPI_BYTE, root, comm);
    if (r == root && !*recv) st = se_error_set(err, SE_ENOMEM, "cannot allocate %lld bytes to gather", (long long)*total);
    else st = se_dist_mpi_check(rc, err, "MPI_Gatherv");
    free(c), free(d);
    return st;
}
