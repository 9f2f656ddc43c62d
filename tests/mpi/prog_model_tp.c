/* Tensor/data-parallel forward check, run under mpiexec by test_model_tp.sh:
 *   prog_model_tp MODEL_DIR TP SP
 * Every TP group encodes the fixture's documents; rank 0 of each group compares
 * the last hidden states and the pooled rows with (a) the PyTorch reference and
 * (b) the same model on one rank, relative Frobenius error <= 1e-5. Prints one
 * line per group and exits non-zero on any failure (agreed over all ranks). */
#include <stdio.h>
#include <stdlib.h>

#include "se_test_util.h"
#include "shardenc/shardenc.h"

int main(int argc, char **argv)
{
    se_error err;
    se_error_clear(&err);
    if (se_dist_init(&argc, &argv, &err)) return 1;
    if (argc != 4) {
        fprintf(stderr, "usage: prog_model_tp MODEL_DIR TP SP\n");
        return 2;
    }
    const char *dir = argv[1];
    int tp = atoi(argv[2]), sp = atoi(argv[3]);
    se_grid g;
    se_status st = se_grid_create(MPI_COMM_WORLD, tp, &g, &err);
    if (st) {
        fprintf(stderr, "%s\n", err.msg);
        se_dist_finalize();
        return 1;
    }
    se_model *m = NULL, *m1 = NULL;
    se_workspace *ws = NULL, *ws1 = NULL;
    se_test_batch b = {0};
    char path[2048];
    snprintf(path, sizeof path, "%s/input.jsonl", dir);
    st = se_model_load(dir, g.tp_rank, g.tp_size, &m, &err);
    if (!st && se_test_read_batch(path, &b)) st = se_error_set(&err, SE_EIO, "%s: cannot read", path);
    if (!st) st = se_workspace_create(m, b.n_tok, b.n_tok, sp, &ws, &err);
    if (!st && g.tp_rank == 0) {
        st = se_model_load(dir, 0, 1, &m1, &err);
        if (!st) st = se_workspace_create(m1, b.n_tok, b.n_tok, 0, &ws1, &err);
    }
    st = se_dist_agree(g.world, st, &err);
    const float *h = NULL, *h1 = NULL;
    se_fwd_stats fs;
    if (!st) st = se_model_forward(m, ws, b.ids, b.types, b.starts, b.n_seq, g.tp, sp, &h, &fs, &err);
    st = se_dist_agree(g.world, st, &err);
    int bad = 0;
    if (!st && g.tp_rank == 0) {
        int d = m->cfg.d_model;
        size_t n = (size_t)(b.n_tok * d);
        float *ref = NULL, *tp_h = malloc(n * sizeof(float));
        memcpy(tp_h, h, n * sizeof(float));
        snprintf(path, sizeof path, "%s/ref_tokens.npy", dir);
        if (se_test_read_f32(path, &ref) != (int64_t)n) bad = 1;
        st = se_model_forward(m1, ws1, b.ids, b.types, b.starts, b.n_seq, MPI_COMM_SELF, 0, &h1, NULL, &err);
        if (st || bad) {
            fprintf(stderr, "group %d: %s\n", g.dp_rank, st ? err.msg : "bad reference");
            bad = 1;
        } else {
            double e_ref = se_rel_err(tp_h, ref, n), e_one = se_rel_err(tp_h, h1, n);
            float *pool = malloc((size_t)b.n_seq * d * sizeof(float)), *pref = NULL;
            se_pool(pool, tp_h, d, b.starts, b.n_seq, SE_POOL_MEAN, 0);
            snprintf(path, sizeof path, "%s/ref_mean.npy", dir);
            double e_pool = se_test_read_f32(path, &pref) == (int64_t)b.n_seq * d
                                ? se_rel_err(pool, pref, (size_t)b.n_seq * d)
                                : 1.0;
            /* exactly two collectives a layer: all-reduce, or reduce-scatter + all-gather with sp */
            int64_t want_calls = (int64_t)m->cfg.n_layers * 2 * (sp && tp > 1 ? 2 : 1) * (tp > 1);
            printf("%s world %d tp %d sp %d group %d: vs PyTorch %.2e, vs one rank %.2e, mean-pool %.2e, "
                   "collectives %lld (want %lld)\n",
                   dir, g.world_size, tp, sp, g.dp_rank, e_ref, e_one, e_pool, (long long)fs.coll.calls,
                   (long long)want_calls);
            bad = e_ref > 1e-5 || e_one > 1e-5 || e_pool > 1e-5 || fs.coll.calls != want_calls;
            free(pool);
            free(pref);
        }
        free(ref);
        free(tp_h);
    }
    int any = 0;
    MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (st && g.world_rank == 0) fprintf(stderr, "error: %s\n", err.msg);
    se_workspace_free(ws);
    se_workspace_free(ws1);
    se_model_free(m);
    se_model_free(m1);
    se_test_batch_free(&b);
    se_grid_free(&g);
    se_dist_finalize();
    return (st || any) ? 1 : 0;
}
