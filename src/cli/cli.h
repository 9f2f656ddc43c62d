/* The `shardenc` command's subcommands; each returns a process exit code. */
#ifndef SHARDENC_CLI_H
#define SHARDENC_CLI_H

#include <signal.h>

#include "shardenc/shardenc.h"

/* Exit codes: 0 success, 1 runtime failure (a file, a rank, the data),
 * 2 usage error (bad option), 3 interrupted (resumable with --resume). */
enum { SE_EXIT_OK = 0, SE_EXIT_FAIL = 1, SE_EXIT_USAGE = 2, SE_EXIT_INTERRUPTED = 3 };

int se_cmd_embed(int argc, char **argv);
int se_cmd_tokenize(int argc, char **argv);
int se_cmd_bench(int argc, char **argv);
int se_cmd_info(int argc, char **argv);
int se_cmd_init_model(int argc, char **argv);

/* Installs the handlers of SIGINT, SIGTERM, SIGUSR1 (signals.c) and returns
 * the flag a job polls (se_embed_opts.stop): non-zero once one arrived. */
const volatile sig_atomic_t *se_cli_signals_install(void);

/* The compute setup shared by embed and bench, before any model is loaded:
 * the kernel set (SHARDENC_ISA, default the best this CPU runs), the GEMM
 * backend (--gemm auto|openblas|onednn, --deterministic) and the BLAS threading check
 * (openblas_get_parallel() == 2, the OpenMP build: a pthread build would
 * fight our OpenMP threads; warned on rank 0, not fatal). */
se_status se_cli_compute_setup(const char *gemm, const char *precision, int deterministic, int rank, se_error *err);

/* Maps a status to an exit code. */
int se_cli_exit_code(se_status st);

#endif
