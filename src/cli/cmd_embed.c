/* shardenc embed: the corpus job (see job/embed.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const se_opt_spec specs[] = {
    {"model", 1, "Hugging Face model folder: config.json, model.safetensors, vocab.txt or tokenizer.json"},
    {"input", 1, "JSON Lines corpus: {\"id\", \"text\"} or {\"id\", \"input_ids\"[, \"token_type_ids\"]} a line"},
    {"output", 1, "output prefix: PREFIX.npy, PREFIX.ids.txt, PREFIX.meta.json"},
    {"tp", 1, "tensor-parallel size: ranks sharing one model copy (default 1)"},
    {"sp", 0, "sequence-parallel collectives inside each TP group"},
    {"pooling", 1, "cls (default), mean, max, or none (per-token states)"},
    {"normalize", 0, "L2-normalise each embedding"},
    {"max-tokens", 1, "window length in tokens (default: the model's limit; vanilla: unlimited)"},
    {"stride", 1, "window stride in content tokens (default: 1/8 overlap)"},
    {"batch-tokens", 1, "tokens per packed batch (default 8192, or the longest window)"},
    {"resume", 0, "continue an interrupted job with the same arguments"},
    {"on-error", 1, "skip (default: record bad lines in meta.json) or fail"},
    {"progress-every", 1, "seconds between progress lines when not on a terminal (default 10)"},
    {"gemm", 1, "GEMM backend: auto (default), openblas, onednn"},
    {"deterministic", 0, "same bits whatever the threads per rank (OpenBLAS in fixed row blocks)"},
    {"quiet", 0, "no banner and no progress"},
};
#define NS ((int)(sizeof specs / sizeof specs[0]))

int se_cmd_embed(int argc, char **argv)
{
    se_error err;
    se_error_clear(&err);
    if (se_dist_init(&argc, &argv, &err)) {
        fprintf(stderr, "shardenc embed: %s\n", err.msg);
        return SE_EXIT_FAIL;
    }
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    se_opts o;
    int help;
    se_embed_opts eo = {0};
    int64_t tp = 1, pe = 10;
    se_status st = se_opts_parse(argc, argv, specs, NS, &o, &help, &err);
    if (!st && help) {
        if (rank == 0)
            se_opts_usage(stdout,
                          "[mpirun -n P] shardenc embed --model DIR --input FILE.jsonl --output PREFIX [--tp T] "
                          "[--pooling cls|mean|max|none] [--normalize] [--resume]",
                          specs, NS);
        se_dist_finalize();
        return SE_EXIT_OK;
    }
    if (!st) {
        eo.model_dir = se_opt_str(&o, specs, NS, "model", NULL);
        eo.input = se_opt_str(&o, specs, NS, "input", NULL);
        eo.output = se_opt_str(&o, specs, NS, "output", NULL);
        if (!eo.model_dir || !eo.input || !eo.output)
            st = se_error_set(&err, SE_EINVAL, "--model, --input and --output are required (see --help)");
    }
    if (!st) st = se_opt_int(&o, specs, NS, "tp", 1, 1, 1 << 16, &tp, &err);
    if (!st) st = se_opt_int(&o, specs, NS, "max-tokens", 0, 0, INT32_MAX, &eo.max_tokens, &err);
    if (!st) st = se_opt_int(&o, specs, NS, "stride", 0, 0, INT32_MAX, &eo.stride, &err);
    if (!st) st = se_opt_int(&o, specs, NS, "batch-tokens", 0, 0, INT32_MAX, &eo.batch_tokens, &err);
    if (!st) st = se_opt_int(&o, specs, NS, "progress-every", 10, 0, 86400, &pe, &err);
    if (!st) st = se_pooling_parse(se_opt_str(&o, specs, NS, "pooling", "cls"), &eo.pooling, &err);
    if (!st) {
        const char *oe = se_opt_str(&o, specs, NS, "on-error", "skip");
        if (!strcmp(oe, "fail")) eo.on_error_fail = 1;
        else if (strcmp(oe, "skip")) st = se_error_set(&err, SE_EINVAL, "--on-error '%s' is not skip or fail", oe);
    }
    eo.sp = se_opt_flag(&o, specs, NS, "sp");
    eo.normalize = se_opt_flag(&o, specs, NS, "normalize");
    eo.resume = se_opt_flag(&o, specs, NS, "resume");
    eo.quiet = se_opt_flag(&o, specs, NS, "quiet");
    eo.progress_every = (double)pe;
    eo.tp = (int)tp;
    if (!st) st = se_cli_compute_setup(se_opt_str(&o, specs, NS, "gemm", "auto"),
                                              se_opt_flag(&o, specs, NS, "deterministic"), rank, &err);
    se_grid g;
    int have_grid = 0;
    if (!st) {
        st = se_grid_create(MPI_COMM_WORLD, (int)tp, &g, &err);
        have_grid = !st;
    }
    if (!st) {
        if (se_job_print_grid(&g, "embed", eo.quiet, &err)) se_log(SE_LOG_WARN, "%s", err.msg);
        se_error_clear(&err);
        st = se_embed_run(&eo, &g, &err);
    }
    /* Every rank holds the same agreed message; rank 0 prints it once. */
    if (st && rank == 0) {
        fprintf(stderr, "shardenc embed: error: %s\n", err.msg);
        if (st == SE_EINTERRUPTED || (st == SE_EREMOTE && strstr(err.msg, "interrupted")))
            fprintf(stderr, "shardenc embed: rerun the same command with --resume to finish the job\n");
    }
    int code = se_cli_exit_code(st);
    if (st == SE_EREMOTE) code = strstr(err.msg, "interrupted") ? SE_EXIT_INTERRUPTED : SE_EXIT_FAIL;
    if (have_grid) se_grid_free(&g);
    se_dist_finalize();
    return code;
}
