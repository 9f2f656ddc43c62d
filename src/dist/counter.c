/* dist: the shared work counter. A few int64 slots in an MPI window on rank
 * 0 of comm, reached by one-sided atomics (MPI_Fetch_and_op under a shared
 * lock), so a data-parallel group that drew short batches simply takes more
 * without any rank waiting for another. */
#include "dist_internal.h"

#include <stdlib.h>

struct se_counter {
    MPI_Win win;
    int64_t *base;
    int n;
};

se_status se_counter_create(MPI_Comm comm, int n_slots, se_counter **out, se_error *err)
{
    *out = NULL;
    int r = 0;
    se_status st = se_dist_mpi_check(MPI_Comm_rank(comm, &r), err, "MPI_Comm_rank");
    se_counter *c = calloc(1, sizeof *c);
    if (!st && !c) st = se_error_set(err, SE_ENOMEM, "cannot allocate the work counter");
    if (st) {
        free(c);
        return st;
    }
    c->n = n_slots;
    c->win = MPI_WIN_NULL;
    st = se_dist_mpi_check(MPI_Win_allocate(r == 0 ? (MPI_Aint)(n_slots * sizeof(int64_t)) : 0, sizeof(int64_t),
                                            MPI_INFO_NULL, comm, &c->base, &c->win),
                           err, "MPI_Win_allocate");
    if (!st && r == 0)
        for (int i = 0; i < n_slots; i++) c->base[i] = 0;
    /* the zeros are visible to every rank before anyone adds */
    if (!st) st = se_dist_mpi_check(MPI_Win_fence(0, c->win), err, "MPI_Win_fence");
    if (st) {
        se_counter_free(c);
        return st;
    }
    *out = c;
    return SE_OK;
}

se_status se_counter_add(se_counter *c, const int64_t *add, int64_t *old, se_error *err)
{
    int64_t sink;
    se_status st = se_dist_mpi_check(MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, c->win), err, "MPI_Win_lock");
    if (st) return st;
    for (int i = 0; i < c->n && !st; i++) {
        if (add && add[i] == 0 && !old) continue;
        int64_t z = 0;
        st = se_dist_mpi_check(MPI_Fetch_and_op(add ? &add[i] : &z, old ? &old[i] : &sink, MPI_INT64_T, 0, i,
                                                add ? MPI_SUM : MPI_NO_OP, c->win),
                               err, "MPI_Fetch_and_op");
    }
    se_status us = se_dist_mpi_check(MPI_Win_unlock(0, c->win), err, "MPI_Win_unlock");
    return st ? st : us;
}

void se_counter_free(se_counter *c)
{
    if (!c) return;
    if (c->win != MPI_WIN_NULL) MPI_Win_free(&c->win);
    free(c);
}
