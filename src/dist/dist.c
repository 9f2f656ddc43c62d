/* dist: MPI start/stop, the process grid, the shard plan, and collective
 * agreement on errors (DESIGN.md: "a failure on one rank is agreed
 * collectively and every rank exits with the message — no rank hangs"). */
#include "dist_internal.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Set when se_dist_init called MPI_Init_thread, so se_dist_finalize only
 * finalises an MPI it started (a test harness may own MPI instead). */
static int g_started_mpi = 0;

se_status se_dist_mpi_check(int rc, se_error *err, const char *what)
{
    if (rc == MPI_SUCCESS) return SE_OK;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "MPI error code %d", rc);
    return se_error_set(err, SE_EMPI, "%s failed: %s", what, text);
}

static const char *thread_level_name(int level)
{
    switch (level) {
    case MPI_THREAD_SINGLE: return "MPI_THREAD_SINGLE";
    case MPI_THREAD_FUNNELED: return "MPI_THREAD_FUNNELED";
    case MPI_THREAD_SERIALIZED: return "MPI_THREAD_SERIALIZED";
    case MPI_THREAD_MULTIPLE: return "MPI_THREAD_MULTIPLE";
    default: return "an unknown thread level";
    }
}

se_status se_dist_init(int *argc, char ***argv, se_error *err)
{
    int inited = 0, finalized = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (finalized) return se_error_set(err, SE_EMPI, "MPI was already finalised; it cannot be started again");
    if (!inited) {
        /* FUNNELED: OpenMP threads run inside each rank, but only the main
         * thread calls MPI, always outside parallel regions (issue 3). */
        int provided = MPI_THREAD_SINGLE;
        int rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) return se_dist_mpi_check(rc, err, "MPI_Init_thread");
        g_started_mpi = 1;
        if (provided < MPI_THREAD_FUNNELED)
            return se_error_set(err, SE_EMPI,
                                "the MPI library provides %s, shardenc needs MPI_THREAD_FUNNELED "
                                "(OpenMP threads inside each rank)",
                                thread_level_name(provided));
    }
    /* A failed call must come back to us as a status, so that the failure is
     * agreed and reported with context instead of a bare MPI abort. Split
     * communicators inherit this handler. */
    se_status s = se_dist_mpi_check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), err,
                                    "MPI_Comm_set_errhandler");
    if (s != SE_OK) return s;
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size > 1) se_log_set_rank(rank);
    return SE_OK;
}

void se_dist_finalize(void)
{
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (g_started_mpi && !finalized) MPI_Finalize();
    g_started_mpi = 0;
}

se_status se_grid_create(MPI_Comm comm, int tp, se_grid *g, se_error *err)
{
    memset(g, 0, sizeof *g);
    g->world = comm;
    g->tp = MPI_COMM_NULL;
    g->dp = MPI_COMM_NULL;
    se_status s = se_dist_mpi_check(MPI_Comm_rank(comm, &g->world_rank), err, "MPI_Comm_rank");
    if (s == SE_OK) s = se_dist_mpi_check(MPI_Comm_size(comm, &g->world_size), err, "MPI_Comm_size");
    if (s != SE_OK) return s;
    /* Every rank sees the same tp and size, so every rank refuses alike and no
     * agreement is needed here. */
    if (tp < 1) return se_error_set(err, SE_EINVAL, "--tp %d: the tensor-parallel size must be at least 1", tp);
    if (tp > g->world_size)
        return se_error_set(err, SE_EINVAL, "--tp %d is more than the %d rank%s of the job", tp, g->world_size,
                            g->world_size == 1 ? "" : "s");
    if (g->world_size % tp != 0)
        return se_error_set(err, SE_EINVAL, "--tp %d does not divide the %d ranks of the job", tp, g->world_size);

    /* Rank r: tp_rank = r % T, dp_rank = r / T. TP groups are blocks of
     * consecutive ranks (one node under block mapping); the dp communicator
     * joins the ranks holding the same shard in every group. */
    int r = g->world_rank;
    s = se_dist_mpi_check(MPI_Comm_split(comm, r / tp, r, &g->tp), err, "MPI_Comm_split (tensor-parallel group)");
    if (s == SE_OK) s = se_dist_mpi_check(MPI_Comm_split(comm, r % tp, r, &g->dp), err, "MPI_Comm_split (data-parallel)");
    if (s == SE_OK) s = se_dist_mpi_check(MPI_Comm_rank(g->tp, &g->tp_rank), err, "MPI_Comm_rank");
    if (s == SE_OK) s = se_dist_mpi_check(MPI_Comm_size(g->tp, &g->tp_size), err, "MPI_Comm_size");
    if (s == SE_OK) s = se_dist_mpi_check(MPI_Comm_rank(g->dp, &g->dp_rank), err, "MPI_Comm_rank");
    if (s == SE_OK) s = se_dist_mpi_check(MPI_Comm_size(g->dp, &g->dp_size), err, "MPI_Comm_size");
    if (s == SE_OK && (g->tp_rank != r % tp || g->tp_size != tp || g->dp_rank != r / tp ||
                       g->dp_size != g->world_size / tp))
        s = se_error_set(err, SE_EMPI, "grid split gave tp %d/%d dp %d/%d on rank %d, expected %d/%d %d/%d",
                         g->tp_rank, g->tp_size, g->dp_rank, g->dp_size, r, r % tp, tp, r / tp,
                         g->world_size / tp);
    if (s != SE_OK) se_grid_free(g);
    return s;
}

void se_grid_free(se_grid *g)
{
    if (!g) return;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) {
        if (g->tp != MPI_COMM_NULL) MPI_Comm_free(&g->tp);
        if (g->dp != MPI_COMM_NULL) MPI_Comm_free(&g->dp);
    }
    g->tp = MPI_COMM_NULL;
    g->dp = MPI_COMM_NULL;
}

void se_split(int64_t total, int parts, int index, int64_t *start, int64_t *count)
{
    if (total < 0 || parts < 1 || index < 0 || index >= parts) {
        *start = 0;
        *count = 0;
        return;
    }
    /* The first total % parts parts take one extra item:
     * count_i = floor(total/parts) + [i < total%parts],
     * start_i = i*floor(total/parts) + min(i, total%parts). */
    int64_t base = total / parts, rem = total % parts;
    *count = base + (index < rem ? 1 : 0);
    *start = (int64_t)index * base + (index < rem ? index : rem);
}

/* "rank <digits>: " at the start: the message was already named by an
 * earlier agreement (a TP group, then the world). Returns that rank, or -1. */
static int rank_prefix(const char *m)
{
    if (strncmp(m, "rank ", 5) != 0) return -1;
    m += 5;
    if (!isdigit((unsigned char)*m)) return -1;
    long r = 0;
    while (isdigit((unsigned char)*m) && r < INT_MAX / 10) r = r * 10 + (*m++ - '0');
    return m[0] == ':' && m[1] == ' ' ? (int)r : -1;
}

typedef struct {
    int code;
    int world_rank; /* of the rank that broadcasts */
    char msg[SE_ERRMSG_MAX];
} agree_packet;

se_status se_dist_agree(MPI_Comm comm, se_status local, se_error *err)
{
    int me = 0;
    int rc = MPI_Comm_rank(comm, &me);
    if (rc != MPI_SUCCESS) return local != SE_OK ? local : se_dist_mpi_check(rc, err, "MPI_Comm_rank");

    /* The common path costs one small all-reduce: min over ranks of
     * (failed ? rank : INT_MAX) is INT_MAX exactly when all are OK. */
    int mine = local != SE_OK ? me : INT_MAX, lowest = INT_MAX;
    rc = MPI_Allreduce(&mine, &lowest, 1, MPI_INT, MPI_MIN, comm);
    if (rc != MPI_SUCCESS) {
        if (local != SE_OK) return local; /* keep our own, more useful message */
        return se_dist_mpi_check(rc, err, "MPI_Allreduce (error agreement)");
    }
    if (lowest == INT_MAX) return SE_OK;

    /* The lowest failing rank broadcasts its code and message. */
    int world_rank = 0, world_size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    agree_packet pkt;
    memset(&pkt, 0, sizeof pkt);
    if (me == lowest) {
        pkt.code = (int)local;
        pkt.world_rank = world_rank;
        if (err && err->msg[0]) snprintf(pkt.msg, sizeof pkt.msg, "%s", err->msg);
        else snprintf(pkt.msg, sizeof pkt.msg, "%s", se_status_name(local));
    }
    rc = MPI_Bcast(&pkt, (int)sizeof pkt, MPI_BYTE, lowest, comm);
    if (rc != MPI_SUCCESS) {
        if (local != SE_OK) return local;
        se_dist_mpi_check(rc, err, "MPI_Bcast (error agreement)");
        return se_error_prefix(err, "a rank failed, and then ");
    }
    pkt.msg[sizeof pkt.msg - 1] = '\0';

    /* The origin is the rank named by an earlier agreement, else the sender.
     * The origin keeps its own code; everyone else reports SE_EREMOTE. */
    int named = rank_prefix(pkt.msg);
    int origin = named >= 0 ? named : pkt.world_rank;
    se_status code = local != SE_OK && world_rank == origin ? local : SE_EREMOTE;
    if (local != SE_OK && world_rank != origin && err)
        se_log(SE_LOG_DEBUG, "this rank also failed (rank %d's error is reported): %s", origin, err->msg);
    if (err) {
        err->code = code;
        if (world_size > 1 && named < 0) {
            char head[32];
            int hl = snprintf(head, sizeof head, "rank %d: ", pkt.world_rank);
            size_t room = sizeof err->msg - (size_t)hl - 1, ml = strlen(pkt.msg);
            if (ml > room) ml = room; /* truncate the tail, keep the prefix */
            memcpy(err->msg, head, (size_t)hl);
            memcpy(err->msg + hl, pkt.msg, ml);
            err->msg[(size_t)hl + ml] = '\0';
        } else {
            memcpy(err->msg, pkt.msg, sizeof err->msg);
        }
    }
    return code;
}

void se_dist_fatal(MPI_Comm comm, const se_error *err)
{
    se_log(SE_LOG_ERROR, "%s", err && err->msg[0] ? err->msg : "fatal error");
    int inited = 0, finalized = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (inited && !finalized) MPI_Abort(comm, 1);
    /* MPI_Abort does not return under Open MPI; without MPI there is no one
     * else to stop. */
    _exit(1);
}
