/* shardenc dist: the process grid, the shard plan, collectives with timers,
 * and collective agreement on errors. MPI lives here; dist knows nothing of
 * models (the shard plan only splits counts). */
#ifndef SHARDENC_DIST_H
#define SHARDENC_DIST_H

#include <mpi.h>

#include "shardenc/core.h"

/* World of P ranks = DP groups × TP ranks. TP groups are blocks of
 * consecutive world ranks (rank r: tp_rank = r % T, dp_rank = r / T), so under
 * the usual block mapping a TP group sits on one node. */
typedef struct {
    MPI_Comm world;   /* MPI_COMM_WORLD (or the communicator given) */
    MPI_Comm tp;      /* the ranks that share one model copy */
    MPI_Comm dp;      /* the ranks holding the same shard across groups */
    int world_rank, world_size;
    int tp_rank, tp_size;
    int dp_rank, dp_size;
} se_grid;

/* MPI_Init_thread(MPI_THREAD_FUNNELED) if MPI is not initialised yet; sets
 * MPI_ERRORS_RETURN on the world so a failed call returns instead of aborting.
 * Refuses (SE_EMPI) an MPI that provides less than FUNNELED when it starts MPI
 * itself; accepts whatever level a caller that initialised MPI chose. Sets the
 * log prefix to the world rank when the world has more than one rank. */
se_status se_dist_init(int *argc, char ***argv, se_error *err);
/* MPI_Finalize, only if se_dist_init started MPI and it is not finalised yet. */
void se_dist_finalize(void);
/* Splits comm into the grid. Refuses tp < 1, tp not dividing the size. */
se_status se_grid_create(MPI_Comm comm, int tp, se_grid *g, se_error *err);
void se_grid_free(se_grid *g);

/* Contiguous split of `total` items over `parts`: the first total % parts
 * parts get one more (12 heads on 5 ranks: 3,3,2,2,2). */
void se_split(int64_t total, int parts, int index, int64_t *start, int64_t *count);

/* Collective error agreement. Every rank of comm calls it with its own status
 * (err holds the message when status != SE_OK). If any rank failed, all
 * return non-OK: the lowest failing rank's message is copied into err on every
 * rank, prefixed "rank N: ", and the code is SE_EREMOTE on the others. No rank
 * hangs as long as all ranks reach the call. */
se_status se_dist_agree(MPI_Comm comm, se_status local, se_error *err);
/* Details of se_dist_agree:
 * - cost when every rank is OK: one MPI_Allreduce of one int.
 * - N is the MPI_COMM_WORLD rank of the failing process (not its rank in comm),
 *   so nested agreements (TP group, then world) name the same process; a
 *   message that already starts with "rank <digits>: " is not prefixed again.
 *   With a one-rank world there is no prefix at all.
 * - the failing rank keeps its own code, with the prefixed message, so after
 *   the call all ranks hold the same text: print it on one rank only. (In a
 *   nested agreement the rank named in the message keeps its code.)
 * - a failing rank that is not the lowest gets SE_EREMOTE and the lowest
 *   rank's message; its own message is logged at debug level.
 * - if the agreement itself fails (MPI error), returns SE_EMPI, or the local
 *   code and message when this rank had failed.
 * Convention: every fallible phase ends with se_dist_agree before any further
 * collective, so all ranks reach it. A rank that instead returns early while
 * the others wait in a collective hangs the job: under Open MPI 4.1 its
 * MPI_Finalize waits for them forever (measured). Use se_dist_fatal there. */

/* Safety net where agreement is impossible (a rank is known to have crashed,
 * or ranks are stuck in different collectives): logs err->msg once on the
 * calling rank ("shardenc[r]: error: ..."), then MPI_Abort(comm, 1), which under
 * Open MPI makes mpiexec kill every rank of the job. Does not return (the one
 * place the library ends the process; _exit(1) if MPI_Abort ever returned). */
void se_dist_fatal(MPI_Comm comm, const se_error *err) __attribute__((noreturn));

/* Collective timing and volume, summed over calls (per layer or per job). */
typedef struct {
    double seconds;
    int64_t calls;
    int64_t bytes; /* payload bytes this rank sent into collectives:
                    * allreduce n*4, reduce-scatter sum(counts)*4,
                    * allgatherv counts[rank]*4 */
    int64_t wire_bytes; /* bytes this rank sends over the network under the
                         * ring algorithms, p = comm size (the performance
                         * model's figure): allreduce 2(p-1)/p*n*4,
                         * reduce-scatter and allgatherv (p-1)/p*sum(counts)*4,
                         * so reduce-scatter + all-gather == one all-reduce */
} se_coll_stats;

/* With comm size 1 the collectives do no MPI call and count nothing in st
 * (reduce-scatter copies send to recv). Errors: SE_EMPI with the MPI error
 * string, SE_EINVAL for negative counts. Buffers are fp32. */

/* In-place sum over comm; n may exceed INT_MAX (sent in chunks of 2^30). */
se_status se_allreduce_sum(float *buf, int64_t n, MPI_Comm comm, se_coll_stats *st, se_error *err);
/* Reduce-scatter of a [sum(counts)] buffer: rank r receives the sum of
 * elements displs[r] .. displs[r]+counts[r]-1 into recv, where displs[r] =
 * counts[0] + ... + counts[r-1]. send == recv is allowed (MPI_IN_PLACE): the
 * result then lands at the start of the buffer, not at displs[r]. */
se_status se_reduce_scatter_sum(const float *send, float *recv, const int *counts, MPI_Comm comm,
                                se_coll_stats *st, se_error *err);
/* All-gather of variable-size pieces into buf (in place: rank r's piece
 * already sits at displs[r]). */
se_status se_allgatherv_inplace(float *buf, const int *counts, const int *displs, MPI_Comm comm,
                                se_coll_stats *st, se_error *err);

/* Host layout of the world: distinct hosts, max ranks on one host, and this
 * host's online cores, to warn when ranks × threads oversubscribe. */
typedef struct {
    int n_hosts;
    int max_ranks_per_host;
    int cores_per_host; /* of rank 0's host */
    char host0[256];
} se_hostinfo;
se_status se_dist_hostinfo(MPI_Comm comm, se_hostinfo *hi, se_error *err);


/* ---------------------------------------------------------------- job bookkeeping
 * Checked collectives on bytes and int64 (index, plan, journal). All return
 * SE_EMPI naming the call when MPI fails (MPI_ERRORS_RETURN is set by
 * se_dist_init), and refuse (SE_EUNSUPPORTED, on every rank alike) payloads
 * above INT_MAX bytes: the one place for MPI's int-count policy. Like every
 * collective, every rank of comm must call them; agree afterwards. */
se_status se_dist_bcast(void *buf, int64_t bytes, int root, MPI_Comm comm, se_error *err);
se_status se_dist_allreduce_i64(const int64_t *in, int64_t *out, int n, MPI_Op op, MPI_Comm comm, se_error *err);
/* Exclusive prefix sums of n int64 element-wise over the ranks; rank 0 gets zeros. */
se_status se_dist_exscan_i64(const int64_t *in, int64_t *out, int n, MPI_Comm comm, se_error *err);
/* Concatenates every rank's n bytes in rank order into *recv (malloc'ed,
 * *total bytes; every rank for allgatherv, root only for gatherv). */
se_status se_dist_allgatherv_bytes(const void *send, int64_t n, void **recv, int64_t *total, MPI_Comm comm,
                                   se_error *err);
se_status se_dist_gatherv_bytes(const void *send, int64_t n, void **recv, int64_t *total, int root, MPI_Comm comm,
                                se_error *err);

/* The shared work counter: n int64 slots on rank 0 of comm, zeroed, added to
 * with one-sided atomics (no rank waits for another). Create and free are
 * collective; se_counter_add is not: add[i] is added to slot i and the value
 * before goes to old[i] (either may be NULL: add NULL reads all slots). */
typedef struct se_counter se_counter;
se_status se_counter_create(MPI_Comm comm, int n_slots, se_counter **out, se_error *err);
se_status se_counter_add(se_counter *c, const int64_t *add, int64_t *old, se_error *err);
/* The same without waiting: starts the operation (at most one in flight, its
 * old[] must stay valid) and se_counter_wait completes it. */
se_status se_counter_iadd(se_counter *c, const int64_t *add, int64_t *old, se_error *err);
se_status se_counter_wait(se_counter *c, se_error *err);
/* Rank 0 (the window's host) lets queued one-sided operations progress. */
void se_counter_poll(se_counter *c);
void se_counter_free(se_counter *c);

#endif
