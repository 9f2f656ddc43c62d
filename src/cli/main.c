/* shardenc: run Transformer encoders over corpora with MPI + OpenMP. */
#include <stdio.h>
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
