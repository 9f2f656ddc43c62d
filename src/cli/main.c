/* shardenc: run Transformer encoders over corpora with MPI + OpenMP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: shardenc <command> [options]\n"
            "\n"
            "commands:\n"
            "  embed       encode a JSONL corpus into one embedding row per document (MPI job)\n"
            "  tokenize    turn {\"id\",\"text\"} lines into {\"id\",\"input_ids\"} lines (WordPiece, as Hugging Face)\n"
            "  bench       time the encoder on random weights of a config's shape (MPI job)\n"
            "  info        print a model's config and its tensor-parallel shard plan\n"
            "  init-model  write a randomly initialised model folder from a config\n"
            "  version     print the version\n"
            "\n"
            "`shardenc <command> --help` describes each command's options.\n");
}

se_status se_cli_compute_setup(const char *gemm, const char *precision, int deterministic, int rank, se_error *err)
{
    se_gemm_set_deterministic(deterministic);
    se_status st = se_isa_select(getenv("SHARDENC_ISA"), err);
    if (!st) st = se_gemm_select(gemm, err);
    if (!st) st = se_gemm_set_precision(precision, err);
    if (st) return st;
    if (rank == 0 && se_blas_parallel_mode() != 2)
        se_log(SE_LOG_WARN,
               "OpenBLAS is not its OpenMP build (openblas_get_parallel() = %d, config '%s'): its threads and ours "
               "will oversubscribe the cores; rebuild against the OpenMP build (Debian: libopenblas-openmp-dev, "
               "RHEL: libopenblaso, or -DSE_BLAS_ROOT=PREFIX)",
               se_blas_parallel_mode(), se_blas_config());
    return SE_OK;
}

int se_cli_exit_code(se_status st)
{
    switch (st) {
    case SE_OK: return SE_EXIT_OK;
    case SE_EINVAL: return SE_EXIT_USAGE;
    case SE_EINTERRUPTED: return SE_EXIT_INTERRUPTED;
    default: return SE_EXIT_FAIL;
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return SE_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "embed")) return se_cmd_embed(argc - 1, argv + 1);
    if (!strcmp(cmd, "tokenize")) return se_cmd_tokenize(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return se_cmd_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "info")) return se_cmd_info(argc - 1, argv + 1);
    if (!strcmp(cmd, "init-model")) return se_cmd_init_model(argc - 1, argv + 1);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("shardenc %s\n", SE_VERSION);
        return SE_EXIT_OK;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return SE_EXIT_OK;
    }
    fprintf(stderr, "shardenc: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return SE_EXIT_USAGE;
}
