/* Private to src/dist: MPI return codes to se_error. */
#ifndef SHARDENC_DIST_INTERNAL_H
#define SHARDENC_DIST_INTERNAL_H

#include "shardenc/dist.h"

/* If rc != MPI_SUCCESS: fills err with SE_EMPI, "<what> failed: <MPI error
 * string>", and returns SE_EMPI; else SE_OK. */
se_status se_dist_mpi_check(int rc, se_error *err, const char *what);

/* Elements per MPI_Allreduce call (2^30, so counts fit an int). A variable
 * only so that tests can exercise the chunking with small buffers. */
extern int64_t se_dist_coll_chunk;

#endif
