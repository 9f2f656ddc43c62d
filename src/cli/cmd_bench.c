/* shardenc bench: the encoder on random weights of a config's shape, with the
 * OpenBLAS sgemm rate on the layer's own GEMM shapes measured in the same run,
 * a time breakdown and collective volume. Figures, never pass/fail. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const se_opt_spec specs[] = {
    {"config", 1, "model config.json (e.g. configs/bert-base.json) or a model folder"},
    {"seq", 1, "tokens per sequence (default 512)"},
    {"batch", 1, "sequences per batch and data-parallel group (default 8)"},
    {"layers", 1, "run only the first L layers (default: the config's)"},
    {"tp", 1, "tensor-parallel size (default 1)"},
    {"sp", 0, "sequence-parallel collectives (reduce-scatter + all-gather)"},
    {"iters", 1, "timed iterations (default 3)"},
    {"warmup", 1, "untimed iterations first (default 1)"},
    {"baseline", 0, "also time rank 0 alone at tp 1 and report parallel efficiency"},
    {"seed", 1, "weight seed (default 1)"},
    {"gemm", 1, "GEMM backend: auto (default), openblas, onednn"},
    {"deterministic", 0, "same bits whatever the threads per rank (OpenBLAS in fixed row blocks)"},
    {"precision", 1, "fp32 (default, exact) or bf16 (bf16 weights, fp32 accumulation; README \"Precision\")"},
    {"json", 0, "print one JSON object (rank 0) instead of text"},
    {"quiet", 0, "no banner"},
};
#define NS ((int)(sizeof specs / sizeof specs[0]))

#define NF 11 /* figures per rank gathered to rank 0 */

typedef struct {
    double seconds, gemm, attn, other, coll, embed;
    double calls, bytes;
} rank_fig;

/* The sgemm rate on exactly the shapes of one layer's GEMMs on this rank. */
static double sgemm_rate(const se_model *m, int64_t n, int iters, double *flops_out)
{
    int d = m->cfg.d_model, dl = m->shard.nh * m->d_head, nf = m->shard.nf;
    int shapes[4][2] = {{3 * dl, d}, {d, dl}, {nf, d}, {d, nf}}; /* N, K */
    size_t maxk = (size_t)(d > nf ? d : nf), maxn = (size_t)(3 * dl > nf ? 3 * dl : nf);
    if ((size_t)d > maxn) maxn = (size_t)d;
    float *A = se_alloc((size_t)n * maxk, sizeof(float)), *B = se_alloc(maxn * maxk, sizeof(float)),
          *C = se_alloc((size_t)n * maxn, sizeof(float));
    if (!A || !B || !C) {
        se_free(A), se_free(B), se_free(C);
        return 0;
    }
    for (size_t i = 0; i < (size_t)n * maxk; i++) A[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
    for (size_t i = 0; i < maxn * maxk; i++) B[i] = (float)((i * 40503u) % 1000) * 1e-3f - 0.5f;
    double best = 1e30, flops = 0;
    for (int j = 0; j < 4; j++) flops += 2.0 * (double)n * shapes[j][0] * shapes[j][1];
    for (int it = 0; it < iters + 1; it++) {
        double t = se_time_now();
        for (int j = 0; j < 4; j++)
            se_sgemm(1, (int)n, shapes[j][0], shapes[j][1], 1.0f, A, shapes[j][1], B, shapes[j][1], 0.0f, C,
                     shapes[j][0]);
        t = se_time_now() - t;
        if (it > 0 && t < best) best = t; /* first round warms caches and threads */
    }
    se_free(A), se_free(B), se_free(C);
    *flops_out = flops;
    return flops / best / 1e9;
}

static se_status run_forward(const se_model *m, se_workspace *ws, const int32_t *ids, const int64_t *starts, int batch,
                             MPI_Comm comm, int sp, int warmup, int iters, rank_fig *fig, se_error *err)
{
    memset(fig, 0, sizeof *fig);
    se_fwd_stats st;
    const float *h;
    for (int it = 0; it < warmup + iters; it++) {
        MPI_Barrier(comm);
        double t = se_time_now();
        se_status s = se_model_forward(m, ws, ids, NULL, starts, batch, comm, sp, &h, &st, err);
        if (s) return s;
        t = se_time_now() - t;
        if (it < warmup) continue;
        fig->seconds += t;
        fig->gemm += st.t_gemm;
        fig->attn += st.t_attn;
        fig->other += st.t_other + st.t_embed;
        fig->coll += st.t_coll;
        fig->calls += (double)st.coll.calls;
        fig->bytes += (double)st.coll.bytes;
    }
    return SE_OK;
}

int se_cmd_bench(int argc, char **argv)
{
    se_error err;
    se_error_clear(&err);
    se_status st = se_dist_init(&argc, &argv, &err);
    if (st) {
        fprintf(stderr, "shardenc bench: %s\n", err.msg);
        return SE_EXIT_FAIL;
    }
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    se_opts o;
    int help = 0;
    int64_t seq = 512, batch = 8, layers = -1, tp = 1, iters = 3, warmup = 1, seed = 1;
    se_model_config cfg;
    const char *cpath = NULL;
    st = se_opts_parse(argc, argv, specs, NS, &o, &help, &err);
    if (!st && help) {
        if (rank == 0)
            se_opts_usage(stdout, "[mpirun -n P] shardenc bench --config FILE [--seq N] [--batch B] [--tp T] [--sp]",
                          specs, NS);
        se_dist_finalize();
        return SE_EXIT_OK;
    }
    if (!st && !(cpath = se_opt_str(&o, specs, NS, "config", NULL)))
        st = se_error_set(&err, SE_EINVAL, "--config is required (e.g. --config configs/bert-base.json)");
    if (!st) st = se_opt_int(&o, specs, NS, "seq", 512, 1, 1 << 22, &seq, &err);
    if (!st) st = se_opt_int(&o, specs, NS, "batch", 8, 1, 1 << 20, &batch, &err);
    if (!st) st = se_opt_int(&o, specs, NS, "layers", -1, 1, 100000, &layers, &err);
    if (!st) st = se_opt_int(&o, specs, NS, "tp", 1, 1, 1 << 16, &tp, &err);
    if (!st) st = se_opt_int(&o, specs, NS, "iters", 3, 1, 100000, &iters, &err);
    if (!st) st = se_opt_int(&o, specs, NS, "warmup", 1, 0, 100000, &warmup, &err);
    if (!st) st = se_opt_int(&o, specs, NS, "seed", 1, 0, INT64_MAX, &seed, &err);
    if (!st) {
        char path[4096];
        size_t len = strlen(cpath);
        if (len > 5 && !strcmp(cpath + len - 5, ".json")) snprintf(path, sizeof path, "%s", cpath);
        else snprintf(path, sizeof path, "%s/config.json", cpath);
        st = se_config_load(path, &cfg, &err);
    }
    if (!st && layers > 0) {
        if (layers > cfg.n_layers)
            st = se_error_set(&err, SE_EINVAL, "--layers %lld exceeds the config's %d layers", (long long)layers,
                              cfg.n_layers);
        else cfg.n_layers = (int)layers;
    }
    /* Random weights: a longer learned position table costs nothing and lets
     * BERT shapes be timed at long sequences (the vanilla model has no limit). */
    if (!st && cfg.max_pos > 0 && seq > cfg.max_pos) {
        if (rank == 0 && !se_opt_flag(&o, specs, NS, "json"))
            fprintf(stderr, "shardenc bench: --seq %lld > max_position_embeddings %d: timing with a longer random "
                    "position table\n", (long long)seq, cfg.max_pos);
        cfg.max_pos = (int)seq;
    }
    if (!st) st = se_cli_compute_setup(se_opt_str(&o, specs, NS, "gemm", "auto"),
                                       se_opt_str(&o, specs, NS, "precision", "fp32"),
                                       se_opt_flag(&o, specs, NS, "deterministic"), rank, &err);
    int sp = se_opt_flag(&o, specs, NS, "sp"), json = se_opt_flag(&o, specs, NS, "json");
    int quiet = se_opt_flag(&o, specs, NS, "quiet") || json;
    /* Options are the same on every rank, so their errors are too: no agreement needed. */
    if (st) {
        if (rank == 0) fprintf(stderr, "shardenc bench: %s\n", err.msg);
        se_dist_finalize();
        return se_cli_exit_code(st);
    }
    se_grid g;
    se_model *m = NULL;
    se_workspace *ws = NULL;
    int32_t *ids = NULL;
    int64_t *starts = NULL;
    int64_t n_tok = seq * batch;
    st = se_grid_create(MPI_COMM_WORLD, (int)tp, &g, &err);
    if (st) {
        if (rank == 0) fprintf(stderr, "shardenc bench: %s\n", err.msg);
        se_dist_finalize();
        return se_cli_exit_code(st);
    }
    if (se_job_print_grid(&g, "bench", quiet, &err)) se_log(SE_LOG_WARN, "%s", err.msg);
    se_error_clear(&err);
    st = se_model_init_random(&cfg, (uint64_t)seed, g.tp_rank, g.tp_size, &m, &err);
    if (!st) st = se_workspace_create(m, n_tok, seq, sp, &ws, &err);
    if (!st) {
        ids = malloc((size_t)n_tok * sizeof *ids);
        starts = malloc((size_t)(batch + 1) * sizeof *starts);
        if (!ids || !starts) st = se_error_set(&err, SE_ENOMEM, "cannot allocate the batch");
    }
    st = se_dist_agree(g.world, st, &err);
    rank_fig fig = {0};
    double sg_rate = 0, sg_flops = 0, rss_fwd = 0, fma_peak = 0;
    if (!st) {
        /* Token ids are arbitrary but in range; the batch differs per DP group. */
        for (int64_t t = 0; t < n_tok; t++) ids[t] = (int32_t)((t * 7919 + g.dp_rank * 104729) % cfg.vocab_size);
        for (int64_t s = 0; s <= batch; s++) starts[s] = s * seq;
        st = run_forward(m, ws, ids, starts, (int)batch, g.tp, sp, (int)warmup, (int)iters, &fig, &err);
        /* the encoder's peak, before the sgemm reference allocates its own operands */
        rss_fwd = (double)se_peak_rss_bytes();
        st = se_dist_agree(g.world, st, &err);
    }
    if (!st) {
        MPI_Barrier(g.world); /* every rank measures sgemm at once: same contention as the forward */
        sg_rate = sgemm_rate(m, n_tok, (int)iters, &sg_flops);
        MPI_Barrier(g.world);
        fma_peak = se_fma_peak_gflops(0.3);
    }
    /* Optional baseline: rank 0 alone, whole model, one rank's threads. */
    double base_tps = 0;
    if (!st && se_opt_flag(&o, specs, NS, "baseline")) {
        se_status bs = SE_OK;
        if (g.world_rank == 0) {
            se_model *m1 = NULL;
            se_workspace *w1 = NULL;
            rank_fig f1;
            bs = se_model_init_random(&cfg, (uint64_t)seed, 0, 1, &m1, &err);
            if (!bs) bs = se_workspace_create(m1, n_tok, seq, 0, &w1, &err);
            if (!bs) bs = run_forward(m1, w1, ids, starts, (int)batch, MPI_COMM_SELF, 0, (int)warmup, (int)iters, &f1,
                                      &err);
            if (!bs) base_tps = (double)n_tok * iters / f1.seconds;
            se_workspace_free(w1);
            se_model_free(m1);
        }
        st = se_dist_agree(g.world, bs, &err);
    }
    int code = SE_EXIT_OK;
    if (st) {
        if (g.world_rank == 0 || st != SE_EREMOTE) {
            if (g.world_rank == 0) fprintf(stderr, "shardenc bench: %s\n", err.msg);
        }
        code = se_cli_exit_code(st == SE_EREMOTE ? SE_EIO : st);
    } else {
        /* Gather every rank's figures to rank 0. */
        double mine[NF] = {fig.seconds, fig.gemm, fig.attn, fig.other, fig.coll, fig.calls, fig.bytes, sg_rate,
                           rss_fwd, (double)(m->layer_bytes + m->replicated_bytes + se_gemm_scratch_bytes()), fma_peak};
        double *all = g.world_rank == 0 ? malloc(sizeof(double) * NF * (size_t)g.world_size) : NULL;
        MPI_Gather(mine, NF, MPI_DOUBLE, all, NF, MPI_DOUBLE, 0, g.world);
        if (g.world_rank == 0) {
            int P = g.world_size, slow = 0;
            double sg_total = 0, rss_max = 0, wmax = 0, peak_total = 0;
            for (int r = 0; r < P; r++) {
                sg_total += all[r * NF + 7];
                peak_total += all[r * NF + 10];
                if (all[r * NF + 8] > rss_max) rss_max = all[r * NF + 8];
                if (all[r * NF + 9] > wmax) wmax = all[r * NF + 9];
                if (all[r * NF + 0] > all[slow * NF + 0]) slow = r;
            }
            double secs = all[slow * NF + 0] / iters; /* per forward, slowest rank */
            double model_flops = se_model_flops(&cfg, starts, (int)batch, cfg.n_layers);
            double tps = (double)n_tok * g.dp_size / secs;
            double gflops = model_flops * g.dp_size / secs / 1e9;
            double pct = 100.0 * gflops / sg_total;
            double per_layer_calls = all[5] / iters / cfg.n_layers, per_layer_bytes = all[6] / iters / cfg.n_layers;
            double eff = base_tps > 0 ? tps / (base_tps * P) : -1;
            const double *r0 = all, *rs = all + slow * NF;
            const double pct_peak = 100.0 * gflops / peak_total;
            if (json) {
                printf("{\"model\": \"%s\", \"arch\": \"%s\", \"d_model\": %d, \"n_heads\": %d, \"d_ff\": %d, "
                       "\"layers\": %d, \"seq\": %lld, \"batch\": %lld, \"world_size\": %d, \"tp\": %d, \"dp\": %d, "
                       "\"sp\": %s, \"threads\": %d, \"blas_parallel\": %d, \"iters\": %lld, "
                       "\"tokens_per_s\": %.2f, \"tokens_per_s_per_rank\": %.2f, \"gflops\": %.3f, "
                       "\"sgemm_gflops\": %.3f, \"pct_of_sgemm\": %.2f, \"fma_peak_gflops\": %.3f, "
                       "\"pct_of_fma_peak\": %.2f, \"isa\": \"%s\", \"gemm\": \"%s\", \"gemm_library\": \"%s\", "
                       "\"precision\": \"%s\", \"precision_path\": \"%s\", "
                       "\"deterministic\": %s, \"seconds\": %.6f, "
                       "\"peak_rss_bytes\": %.0f, \"weight_bytes_per_rank\": %.0f, "
                       "\"breakdown\": {\"gemm\": %.6f, \"attention\": %.6f, \"other\": %.6f, \"collectives\": %.6f}, "
                       "\"collective_calls\": %.0f, \"collective_bytes\": %.0f, "
                       "\"collective_calls_per_layer\": %.2f, \"collective_bytes_per_layer\": %.0f, "
                       "\"slowest_rank\": {\"rank\": %d, \"seconds\": %.6f, \"breakdown\": {\"gemm\": %.6f, "
                       "\"attention\": %.6f, \"other\": %.6f, \"collectives\": %.6f}}, "
                       "\"baseline_tokens_per_s\": %.2f, \"parallel_efficiency\": %.4f}\n",
                       cpath, se_recipe_of(&cfg)->family, cfg.d_model, cfg.n_heads, cfg.d_ff,
                       cfg.n_layers, (long long)seq, (long long)batch, P, g.tp_size, g.dp_size, sp ? "true" : "false",
                       omp_get_max_threads(), se_blas_parallel_mode(), (long long)iters, tps, tps / P, gflops,
                       sg_total, pct, peak_total, pct_peak, se_isa_name(se_isa_current()),
                       se_gemm_name(se_gemm_current()), se_gemm_info(), se_precision_name(se_gemm_precision()),
                       se_gemm_precision_path(), se_gemm_deterministic() ? "true" : "false", secs, rss_max, wmax, r0[1] / iters, r0[2] / iters, r0[3] / iters, r0[4] / iters,
                       r0[5] / iters, r0[6] / iters, per_layer_calls, per_layer_bytes, slow, rs[0] / iters,
                       rs[1] / iters, rs[2] / iters, rs[3] / iters, rs[4] / iters, base_tps, eff);
            } else {
                printf("model %s: %s d_model %d, %d heads, d_ff %d, %d layers; seq %lld x batch %lld per group\n",
                       cpath, se_recipe_of(&cfg)->family, cfg.d_model, cfg.n_heads, cfg.d_ff,
                       cfg.n_layers, (long long)seq, (long long)batch);
                printf("grid: %d ranks = %d DP x %d TP%s, %d threads/rank, BLAS %s (parallel mode %d)\n", P,
                       g.dp_size, g.tp_size, sp ? " (sequence-parallel)" : "", omp_get_max_threads(),
                       se_blas_parallel_mode() == 2 ? "OpenMP build" : "NOT the OpenMP build",
                       se_blas_parallel_mode());
                printf("throughput: %.1f tokens/s (%.1f per rank), %.2f s per forward (slowest rank)\n", tps, tps / P,
                       secs);
                printf("rate:       %.1f GFLOP/s = %.1f %% of OpenBLAS sgemm on the layer's GEMM shapes (%.1f GFLOP/s "
                       "summed over ranks)\n",
                       gflops, pct, sg_total);
                printf("peak:       %.1f GFLOP/s = %.1f %% of the cores' FMA peak (register-only loop, %.1f GFLOP/s "
                       "summed over ranks)\n",
                       gflops, pct_peak, peak_total);
                printf("kernels:    %s; GEMM %s%s (%s); precision %s (%s)\n", se_isa_name(se_isa_current()),
                       se_gemm_name(se_gemm_current()), se_gemm_deterministic() ? ", deterministic" : "", se_gemm_info(),
                       se_precision_name(se_gemm_precision()), se_gemm_precision_path());
                printf("breakdown (rank 0, s/forward): gemm %.4f  attention %.4f  other %.4f  collectives %.4f\n",
                       r0[1] / iters, r0[2] / iters, r0[3] / iters, r0[4] / iters);
                if (P > 1)
                    printf("slowest rank %d: gemm %.4f  attention %.4f  other %.4f  collectives %.4f (%.1f %% of "
                           "its time)\n",
                           slow, rs[1] / iters, rs[2] / iters, rs[3] / iters, rs[4] / iters,
                           100 * rs[4] / (rs[0] > 0 ? rs[0] : 1));
                printf("collectives per layer: %.1f calls, %.2f MiB sent per rank\n", per_layer_calls,
                       per_layer_bytes / (1 << 20));
                printf("memory: peak RSS %.1f MiB (max over ranks), weights %.1f MiB per rank\n", rss_max / (1 << 20),
                       wmax / (1 << 20));
                if (eff >= 0)
                    printf("baseline: rank 0 alone at tp 1: %.1f tokens/s; parallel efficiency %.1f %%\n", base_tps,
                           100 * eff);
            }
            fflush(stdout);
            free(all);
        }
    }
    free(ids);
    free(starts);
    se_workspace_free(ws);
    se_model_free(m);
    se_grid_free(&g);
    se_dist_finalize();
    return code;
}
