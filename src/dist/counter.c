/* dist: the shared work counter. A few int64 slots in an MPI window on rank
 * 0 of comm, reached by one-sided atomics (MPI_Get_accumulate, element-wise
 * atomic per MPI-3.1 §11.7.1) inside one passive epoch (MPI_Win_lock_all)
 * held for the counter's life, so a data-parallel group that drew short
 * batches simply takes more without any rank waiting for another.
 *
 * Over TCP (osc/pt2pt) an operation progresses only while rank 0 is inside
 * MPI, so se_counter_iadd starts one without waiting: a group issues its next
 * draw before encoding its current batch and collects it afterwards, by which
 * time rank 0 has entered MPI between its own batches: rank 0 calls
 * se_counter_poll after each of its batches, since its other MPI calls (on a
 * one-rank TP group, or on its own window) need not enter the progress engine. */
#include "dist_internal.h"

#include <stdlib.h>
#include <string.h>

struct se_counter {
    MPI_Win win;
    MPI_Comm comm;
    int64_t *base;
    int n;
    int locked;
    MPI_Request req;  /* the one se_counter_iadd in flight, or MPI_REQUEST_NULL */
    int64_t *pend_add; /* its operand, kept alive until it completes */
    int64_t *sink;     /* result buffer when the caller wants none */
    int64_t *zero;
};

se_status se_counter_create(MPI_Comm comm, int n_slots, se_counter **out, se_error *err)
{
    *out = NULL;
    int r = 0;
    se_status st = se_dist_mpi_check(MPI_Comm_rank(comm, &r), err, "MPI_Comm_rank");
    se_counter *c = calloc(1, sizeof *c);
    int64_t *bufs = calloc((size_t)n_slots * 3, sizeof *bufs);
    if (!st && (!c || !bufs)) st = se_error_set(err, SE_ENOMEM, "cannot allocate the work counter");
    if (st) {
        free(c), free(bufs);
        return st;
    }
    c->n = n_slots;
    c->comm = comm;
    c->win = MPI_WIN_NULL;
    c->req = MPI_REQUEST_NULL;
    c->pend_add = bufs, c->sink = bufs + n_slots, c->zero = bufs + 2 * n_slots;
    st = se_dist_mpi_check(MPI_Win_allocate(r == 0 ? (MPI_Aint)(n_slots * sizeof(int64_t)) : 0, sizeof(int64_t),
                                            MPI_INFO_NULL, comm, &c->base, &c->win),
                           err, "MPI_Win_allocate");
    if (!st && r == 0)
        for (int i = 0; i < n_slots; i++) c->base[i] = 0;
    /* the zeros are visible to every rank before anyone adds */
    if (!st) st = se_dist_mpi_check(MPI_Win_fence(0, c->win), err, "MPI_Win_fence");
    if (!st) st = se_dist_mpi_check(MPI_Win_lock_all(MPI_MODE_NOCHECK, c->win), err, "MPI_Win_lock_all");
    if (!st) c->locked = 1;
    if (st) {
        se_counter_free(c);
        return st;
    }
    *out = c;
    return SE_OK;
}

void se_counter_poll(se_counter *c)
{
    /* Any MPI call that enters the progress engine serves the passive-target
     * requests queued at rank 0; an MPI_Iprobe matches nothing and costs ~1 us. */
    int flag = 0;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, c->comm, &flag, MPI_STATUS_IGNORE);
}

se_status se_counter_iadd(se_counter *c, const int64_t *add, int64_t *old, se_error *err)
{
    if (c->req != MPI_REQUEST_NULL) return se_error_set(err, SE_EINVAL, "a counter operation is already in flight");
    memcpy(c->pend_add, add ? add : c->zero, (size_t)c->n * sizeof(int64_t));
    se_status st = se_dist_mpi_check(MPI_Rget_accumulate(c->pend_add, c->n, MPI_INT64_T, old ? old : c->sink, c->n,
                                                         MPI_INT64_T, 0, 0, c->n, MPI_INT64_T,
                                                         add ? MPI_SUM : MPI_NO_OP, c->win, &c->req),
                                     err, "MPI_Rget_accumulate");
    /* osc/pt2pt queues the request and sends it from the progress engine:
     * push it out now, or it leaves only when this rank next waits */
    if (!st) se_counter_poll(c);
    return st;
}

se_status se_counter_wait(se_counter *c, se_error *err)
{
    if (c->req == MPI_REQUEST_NULL) return SE_OK;
    return se_dist_mpi_check(MPI_Wait(&c->req, MPI_STATUS_IGNORE), err, "MPI_Wait (work counter)");
}

se_status se_counter_add(se_counter *c, const int64_t *add, int64_t *old, se_error *err)
{
    se_status st = se_counter_wait(c, err);
    if (!st) st = se_counter_iadd(c, add, old, err);
    if (!st) st = se_counter_wait(c, err);
    return st;
}

void se_counter_free(se_counter *c)
{
    if (!c) return;
    if (c->req != MPI_REQUEST_NULL) MPI_Wait(&c->req, MPI_STATUS_IGNORE);
    if (c->locked) MPI_Win_unlock_all(c->win);
    if (c->win != MPI_WIN_NULL) MPI_Win_free(&c->win);
    free(c->pend_add);
    free(c);
}
