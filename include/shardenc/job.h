/* shardenc job: the embed job (chunk, batch, schedule, write, resume,
 * progress) and the helpers the CLI shares: option parsing, the grid banner. */
#ifndef SHARDENC_JOB_H
#define SHARDENC_JOB_H

#include <signal.h>
#include <stdio.h>

#include "shardenc/core.h"
#include "shardenc/dist.h"
#include "shardenc/model.h"

/* ---------------------------------------------------------------- options
 * A tiny getopt-long: "--name value", "--name=value", boolean flags. */
typedef struct {
    const char *name;   /* without the dashes */
    int has_value;      /* 0: flag */
    const char *help;
} se_opt_spec;

typedef struct {
    const char *values[64]; /* parallel to specs; flags get "1" */
} se_opts;

/* Parses argv[1..]; unknown options and missing values are SE_EINVAL with
 * the offending word named. "--help" sets *help. */
se_status se_opts_parse(int argc, char **argv, const se_opt_spec *specs, int n_specs, se_opts *o, int *help,
                        se_error *err);
const char *se_opt_str(const se_opts *o, const se_opt_spec *specs, int n_specs, const char *name, const char *def);
int se_opt_flag(const se_opts *o, const se_opt_spec *specs, int n_specs, const char *name);
/* Integer option with range check; SE_EINVAL names the option. */
se_status se_opt_int(const se_opts *o, const se_opt_spec *specs, int n_specs, const char *name, int64_t def,
                     int64_t lo, int64_t hi, int64_t *out, se_error *err);
void se_opts_usage(FILE *f, const char *synopsis, const se_opt_spec *specs, int n_specs);

/* Prints (rank 0) the grid a job runs on: world size, TP × DP, threads per
 * rank, hosts; warns when ranks × threads exceed a host's cores. Collective. */
se_status se_job_print_grid(const se_grid *g, const char *what, int quiet, se_error *err);

/* ---------------------------------------------------------------- embed */
typedef struct {
    const char *model_dir;
    const char *input;       /* the first of inputs (messages) */
    const char *const *inputs; /* files, folders, globs (issue 13); NULL: just input */
    int n_inputs;
    const char *id_field;    /* NULL: "id" (dotted paths reach nested keys) */
    const char *const *text_fields; /* NULL: "text"; several are joined by one space */
    int n_text_fields;
    const char *const *tsv_columns; /* NULL: id, text */
    int n_tsv_columns;
    int out_f16;             /* --output-dtype f16: rows rounded to nearest even */
    const char *output;      /* prefix */
    int tp, sp;
    se_pooling pooling;      /* SE_POOL_NONE: per-token states; otherwise head (if set) pools */
    const se_head *head;     /* sentence-transformers head (pooling, Dense); NULL = se_pool(pooling) */
    const char *prompt;      /* text prepended to every text document before tokenising, or NULL */
    int normalize;
    int64_t max_tokens;      /* window length; 0 = model limit (BERT) / unlimited (vanilla) */
    int64_t stride;          /* 0 = window - window/8 */
    int64_t batch_tokens;    /* 0 = default */
    int resume;
    int on_error_fail;       /* --on-error fail */
    int quiet;
    double progress_every;   /* seconds between plain progress lines */
    double sync_seconds;     /* make finished rows durable and journal them at least this often (0 = 10 s) */
    int64_t sync_batches;    /* ... or after this many batches of a group (0 = 256) */
    /* Set by the caller's signal handler (the CLI's): the job stops after
     * the batch in hand, journals what is durable and returns
     * SE_EINTERRUPTED. NULL: never. */
    const volatile sig_atomic_t *stop;
} se_embed_opts;

/* Runs the whole job collectively over g->world. Returns SE_OK only when the
 * final outputs exist under their final names. */
se_status se_embed_run(const se_embed_opts *o, const se_grid *g, se_error *err);

#endif
