/* cmocka group setup/teardown for unit tests that call MPI (a model forward
 * with its collectives on a single rank). Header-only. */
#ifndef SE_TEST_MPI_H
#define SE_TEST_MPI_H

#include "shardenc/dist.h"

static int se_test_mpi_setup(void **state)
{
    (void)state;
    int argc = 0;
    char **argv = NULL;
    se_error err;
    return se_dist_init(&argc, &argv, &err) == SE_OK ? 0 : -1;
}

static int se_test_mpi_teardown(void **state)
{
    (void)state;
    se_dist_finalize();
    return 0;
}

#endif
