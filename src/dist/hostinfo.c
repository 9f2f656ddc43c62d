/* dist: where the ranks run, so the CLI can warn when ranks × threads exceed
 * the cores of a host. */
#include "dist_internal.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    int cores;
    char name[256];
} host0_packet;

se_status se_dist_hostinfo(MPI_Comm comm, se_hostinfo *hi, se_error *err)
{
    memset(hi, 0, sizeof *hi);
    int me = 0;
    se_status s = se_dist_mpi_check(MPI_Comm_rank(comm, &me), err, "MPI_Comm_rank");
    if (s != SE_OK) return s;

    /* Ranks that can share memory are the ranks of one host. */
    MPI_Comm node = MPI_COMM_NULL;
    s = se_dist_mpi_check(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, me, MPI_INFO_NULL, &node), err,
                          "MPI_Comm_split_type (shared memory)");
    if (s != SE_OK) return s;
    int node_rank = 0, node_size = 1;
    s = se_dist_mpi_check(MPI_Comm_rank(node, &node_rank), err, "MPI_Comm_rank");
    if (s == SE_OK) s = se_dist_mpi_check(MPI_Comm_size(node, &node_size), err, "MPI_Comm_size");
    MPI_Comm_free(&node);
    if (s != SE_OK) return s;

    /* One leader per host: the sum of leaders is the number of hosts. */
    int leader = node_rank == 0;
    s = se_dist_mpi_check(MPI_Allreduce(&leader, &hi->n_hosts, 1, MPI_INT, MPI_SUM, comm), err, "MPI_Allreduce");
    if (s == SE_OK)
        s = se_dist_mpi_check(MPI_Allreduce(&node_size, &hi->max_ranks_per_host, 1, MPI_INT, MPI_MAX, comm), err,
                              "MPI_Allreduce");
    if (s != SE_OK) return s;

    host0_packet pkt;
    memset(&pkt, 0, sizeof pkt);
    if (me == 0) {
        /* Online cores of the host, not this process's affinity mask: mpiexec
         * may have bound rank 0 to one core, which says nothing of the host. */
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        pkt.cores = n > 0 ? (int)n : 1;
        char name[MPI_MAX_PROCESSOR_NAME];
        int len = 0;
        if (MPI_Get_processor_name(name, &len) != MPI_SUCCESS) snprintf(name, sizeof name, "unknown");
        snprintf(pkt.name, sizeof pkt.name, "%s", name);
    }
    s = se_dist_mpi_check(MPI_Bcast(&pkt, (int)sizeof pkt, MPI_BYTE, 0, comm), err, "MPI_Bcast");
    if (s != SE_OK) return s;
    hi->cores_per_host = pkt.cores;
    memcpy(hi->host0, pkt.name, sizeof hi->host0);
    hi->host0[sizeof hi->host0 - 1] = '\0';
    return SE_OK;
}
