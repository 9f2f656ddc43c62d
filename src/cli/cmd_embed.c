/* shardenc embed: the corpus job (see job/embed.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const se_opt_spec specs[] = {
    {"model", 1, "Hugging Face model folder: config.json, model.safetensors, vocab.txt or tokenizer.json"},
    {"input", 1,
     "corpus files, folders (every *.jsonl, *.jsonl.gz, *.jsonl.zst, *.tsv[.gz|.zst] inside) or quoted globs, "
     "several after one --input or --input repeated; JSON Lines {\"id\", \"text\"} or {\"id\", \"input_ids\"[, "
     "\"token_type_ids\"]} a line, or TSV id<TAB>text"},
    {"id-field", 1, "key of the document id (default id; dotted paths reach nested keys); no id: FILE:LINE"},
    {"text-field", 1, "key(s) of the text, comma-separated, joined by one space (default text; BEIR: title,text)"},
    {"tsv-columns", 1, "names of the TSV columns, comma-separated (default id,text)"},
    {"output-dtype", 1, "f32 (default) or f16 (rows rounded to nearest even, .npy <f2)"},
    {"output", 1, "output prefix: PREFIX.npy, PREFIX.ids.txt, PREFIX.meta.json"},
    {"tp", 1, "tensor-parallel size: ranks sharing one model copy (default 1)"},
    {"sp", 0, "sequence-parallel collectives inside each TP group"},
    {"pooling", 1,
     "cls, mean, max, mean_sqrt_len_tokens, weightedmean, lasttoken (several joined by '+'), or none (per-token "
     "states); default: the sentence-transformers folder's Pooling module, else cls"},
    {"normalize", 0, "L2-normalise each embedding (default: on iff the folder has a Normalize module)"},
    {"no-normalize", 0, "do not L2-normalise, even if the folder has a Normalize module"},
    {"max-tokens", 1,
     "window length in tokens (default: the folder's max_seq_length, else the model's limit; vanilla: unlimited)"},
    {"prompt-name", 1,
     "prepend the folder's prompt of that name (config_sentence_transformers.json) to every text document"},
    {"prefix", 1, "prepend this text to every text document (e.g. \"query: \")"},
    {"stride", 1, "window stride in content tokens (default: 1/8 overlap)"},
    {"batch-tokens", 1, "tokens per packed batch (default 8192, or the longest window)"},
    {"resume", 0, "continue an interrupted job with the same arguments"},
    {"on-error", 1, "skip (default: record bad lines in meta.json) or fail"},
    {"sync-every", 1, "seconds between syncs that make finished batches durable and journal them (default 10)"},
    {"sync-batches", 1, "... or after this many batches of a group, whichever comes first (default 256)"},
    {"progress-every", 1, "seconds between progress lines when not on a terminal (default 10)"},
    {"gemm", 1, "GEMM backend: auto (default), openblas, onednn"},
    {"deterministic", 0, "same bits whatever the threads per rank (OpenBLAS in fixed row blocks)"},
    {"precision", 1, "fp32 (default, exact) or bf16 (bf16 weights, fp32 accumulation; README \"Precision\")"},
    {"quiet", 0, "no banner and no progress"},
};
#define NS ((int)(sizeof specs / sizeof specs[0]))

/* SentenceTransformer.encode(prompt_name=..., prompt=...): an explicit
 * prefix, else the named prompt, else default_prompt_name, else none. */
static se_status resolve_prompt(const char *dir, const char *name, const char *prefix, char *out, size_t cap,
                                se_error *err)
{
    out[0] = 0;
    if (name && prefix) return se_error_set(err, SE_EINVAL, "--prompt-name and --prefix are two prompts: give one");
    if (prefix) {
        if (strlen(prefix) >= cap) return se_error_set(err, SE_EINVAL, "--prefix is longer than %zu bytes", cap - 1);
        snprintf(out, cap, "%s", prefix);
        return SE_OK;
    }
    se_st_folder f;
    se_status st = se_st_folder_load(dir, &f, err);
    if (st) return st;
    const char *want = name ? name : f.default_prompt[0] ? f.default_prompt : NULL;
    int k = 0;
    while (want && k < f.n_prompts && strcmp(f.prompt_name[k], want)) k++;
    if (want && k == f.n_prompts) {
        char names[512] = "";
        size_t n = 0;
        for (int i = 0; i < f.n_prompts && n < sizeof names; i++)
            n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "", f.prompt_name[i]);
        st = se_error_set(err, SE_EINVAL, "--prompt-name '%s': %s/config_sentence_transformers.json has %s%s", want,
                          dir, f.n_prompts ? "only " : "no prompts", names);
    } else if (want) {
        if (strlen(f.prompt_text[k]) >= cap) st = se_error_set(err, SE_EINVAL, "prompt '%s' is too long", want);
        else snprintf(out, cap, "%s", f.prompt_text[k]);
    }
    se_st_folder_free(&f);
    return st;
}

/* Comma-separated names into a NULL-free list (pointers into buf). */
static int split_names(char *buf, const char **out, int cap)
{
    int n = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t && n < cap; t = strtok_r(NULL, ",", &save))
        if (*t) out[n++] = t;
    return n;
}

/* --input takes several values: "--input a b dir/" (what an unquoted glob
 * expands to) or "--input a --input b". They are gathered here, and argv
 * keeps only the first for the option parser. */
static int gather_inputs(int argc, char **argv, char **kept, const char **inputs, int cap, int *n_in)
{
    int k = 0;
    *n_in = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int eq = !strncmp(a, "--input=", 8);
        if (i == 0 || (strcmp(a, "--input") && !eq)) {
            kept[k++] = argv[i];
            continue;
        }
        int first = *n_in == 0;
        if (first) kept[k++] = argv[i];
        if (eq) {
            if (*n_in < cap) inputs[(*n_in)++] = a + 8;
        } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2)) {
            if (first) kept[k++] = argv[i + 1];
            if (*n_in < cap) inputs[(*n_in)++] = argv[++i];
        } else {
            return -1; /* "--input" with nothing after it */
        }
        while (i + 1 < argc && strncmp(argv[i + 1], "--", 2))
            if (*n_in < cap) inputs[(*n_in)++] = argv[++i];
            else i++;
    }
    kept[k] = NULL;
    return k;
}

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
    int64_t tp = 1, pe = 10, se = 10;
    char **kept = calloc((size_t)argc + 1, sizeof *kept);
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    int n_inputs = 0;
    se_status st = !kept || !inputs ? se_error_set(&err, SE_ENOMEM, "out of memory") : SE_OK;
    int n_kept = st ? 0 : gather_inputs(argc, argv, kept, inputs, argc, &n_inputs);
    if (!st && n_kept < 0) st = se_error_set(&err, SE_EINVAL, "option '--input' needs a value");
    if (!st) st = se_opts_parse(n_kept, kept, specs, NS, &o, &help, &err);
    if (!st && n_inputs > 0) eo.inputs = inputs, eo.n_inputs = n_inputs;
    char idf_buf[256], tf_buf[1024], tc_buf[1024];
    const char *tf[64], *tc[64];
    if (!st) {
        const char *v = se_opt_str(&o, specs, NS, "id-field", NULL);
        if (v) snprintf(idf_buf, sizeof idf_buf, "%s", v), eo.id_field = idf_buf;
        if ((v = se_opt_str(&o, specs, NS, "text-field", NULL))) {
            snprintf(tf_buf, sizeof tf_buf, "%s", v);
            eo.text_fields = tf, eo.n_text_fields = split_names(tf_buf, tf, 64);
            if (!eo.n_text_fields) st = se_error_set(&err, SE_EINVAL, "--text-field names no field");
        }
        if (!st && (v = se_opt_str(&o, specs, NS, "tsv-columns", NULL))) {
            snprintf(tc_buf, sizeof tc_buf, "%s", v);
            eo.tsv_columns = tc, eo.n_tsv_columns = split_names(tc_buf, tc, 64);
            if (eo.n_tsv_columns < 2) st = se_error_set(&err, SE_EINVAL, "--tsv-columns needs at least two names");
        }
        const char *dt = se_opt_str(&o, specs, NS, "output-dtype", "f32");
        if (!st && !strcmp(dt, "f16")) eo.out_f16 = 1;
        else if (!st && strcmp(dt, "f32")) st = se_error_set(&err, SE_EINVAL, "--output-dtype '%s' is not f32 or f16", dt);
    }
    if (!st && help) {
        if (rank == 0)
            se_opts_usage(stdout,
                          "[mpirun -n P] shardenc embed --model DIR --input FILE|DIR|'GLOB'... --output PREFIX [--tp T] "
                          "[--pooling MODE[+MODE..]|none] [--normalize|--no-normalize] [--resume]",
                          specs, NS);
        free(kept), free(inputs);
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
    if (!st) st = se_opt_int(&o, specs, NS, "sync-every", 10, 1, 86400, &se, &err);
    if (!st) st = se_opt_int(&o, specs, NS, "sync-batches", 256, 1, 1 << 30, &eo.sync_batches, &err);
    /* The sentence-transformers head: the folder's modules unless --pooling /
     * --normalize / --no-normalize / --max-tokens say otherwise. */
    se_head head = {0};
    char prompt[4096] = "";
    const char *pooling = st ? NULL : se_opt_str(&o, specs, NS, "pooling", NULL);
    if (!st)
        st = resolve_prompt(eo.model_dir, se_opt_str(&o, specs, NS, "prompt-name", NULL),
                            se_opt_str(&o, specs, NS, "prefix", NULL), prompt, sizeof prompt, &err);
    if (!st && prompt[0]) eo.prompt = prompt;
    int have_head = 0;
    if (!st && pooling && !strcmp(pooling, "none")) {
        eo.pooling = SE_POOL_NONE;
    } else if (!st) {
        int nrm = se_opt_flag(&o, specs, NS, "normalize") ? 1 : se_opt_flag(&o, specs, NS, "no-normalize") ? 0 : -1;
        se_model_config mc;
        st = se_model_load_config(eo.model_dir, &mc, &err);
        if (!st) st = se_head_load(eo.model_dir, mc.d_model, pooling, nrm, &head, &err);
        have_head = !st;
        if (!st) {
            /* not none: the head pools. eo.pooling is then the rule that combines a
             * long document's window rows (embed_internal.h): a lone cls/mean/max
             * combines as itself (max = the max over all token states); anything
             * else (several modes, Dense) as the token-weighted mean of the rows. */
            eo.pooling = SE_POOL_MEAN;
            if (head.n_modes == 1 && head.n_dense == 0) {
                if (head.modes[0] == SE_STP_CLS) eo.pooling = SE_POOL_CLS;
                if (head.modes[0] == SE_STP_MAX) eo.pooling = SE_POOL_MAX;
            }
            eo.head = &head;
            if (prompt[0]) {
                eo.prompt = prompt;
                size_t n = strlen(head.desc);
                snprintf(head.desc + n, sizeof head.desc - n, ", prompt \"%.200s\" (from %s) on text documents",
                         prompt, se_opt_str(&o, specs, NS, "prefix", NULL) ? "--prefix"
                                 : se_opt_str(&o, specs, NS, "prompt-name", NULL) ? "--prompt-name"
                                                                                 : "default_prompt_name");
            }
            /* do_lower_case: Transformer.tokenize lowercases (prompt + text) with
             * str.lower() first; the job does the same (se_corpus_tok_text). */
            if (head.do_lower_case == 1) {
                size_t n = strlen(head.desc);
                snprintf(head.desc + n, sizeof head.desc - n, ", text lowercased (do_lower_case)");
            }
            int64_t lim = se_recipe_max_len(se_recipe_of(&mc), &mc);
            if (eo.max_tokens == 0 && head.max_seq_length > 0)
                eo.max_tokens = lim > 0 && head.max_seq_length > lim ? lim : head.max_seq_length;
        }
    }
    if (!st) {
        const char *oe = se_opt_str(&o, specs, NS, "on-error", "skip");
        if (!strcmp(oe, "fail")) eo.on_error_fail = 1;
        else if (strcmp(oe, "skip")) st = se_error_set(&err, SE_EINVAL, "--on-error '%s' is not skip or fail", oe);
    }
    eo.sp = se_opt_flag(&o, specs, NS, "sp");
    eo.normalize = have_head ? head.normalize : se_opt_flag(&o, specs, NS, "normalize");
    if (!st && se_opt_flag(&o, specs, NS, "normalize") && se_opt_flag(&o, specs, NS, "no-normalize"))
        st = se_error_set(&err, SE_EINVAL, "--normalize and --no-normalize contradict each other");
    eo.resume = se_opt_flag(&o, specs, NS, "resume");
    eo.quiet = se_opt_flag(&o, specs, NS, "quiet");
    eo.progress_every = (double)pe;
    eo.sync_seconds = (double)se;
    eo.tp = (int)tp;
    if (!st) st = se_cli_compute_setup(se_opt_str(&o, specs, NS, "gemm", "auto"),
                                       se_opt_str(&o, specs, NS, "precision", "fp32"),
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
        eo.stop = se_cli_signals_install();
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
    if (have_head) se_head_free(&head);
    free(kept), free(inputs);
    se_dist_finalize();
    return code;
}
