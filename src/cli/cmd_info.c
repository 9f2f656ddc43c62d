/* shardenc info: a model's config and the tensor-parallel shard plan with the
 * bytes of weights per rank; init-model: write a random model folder. No MPI. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const se_opt_spec info_specs[] = {
    {"model", 1, "model folder (config.json [+ model.safetensors]) or a config.json"},
    {"tp", 1, "tensor-parallel size to plan for (default 1)"},
};
#define NI ((int)(sizeof info_specs / sizeof info_specs[0]))

static se_status load_cfg(const char *p, se_model_config *cfg, se_error *err)
{
    size_t len = strlen(p);
    if (len > 5 && !strcmp(p + len - 5, ".json")) return se_config_load(p, cfg, err);
    return se_model_load_config(p, cfg, err);
}

/* Bytes of weights a rank holds under the plan (fp32 after load). */
static void plan_bytes(const se_model_config *c, const se_shard *s, double *layer, double *repl)
{
    const se_recipe *R = se_recipe_of(c);
    double d = c->d_model, dl = (double)s->nh * (c->d_model / c->n_heads), nf = s->nf;
    double n1 = R->ffn == SE_FFN_GATED ? 2 * nf : nf; /* a gated W1 holds both halves of the units */
    *layer = 4.0 * c->n_layers * (3 * dl * d + 3 * dl + d * dl + n1 * d + n1 + d * nf);
    double e = c->emb_size > 0 ? c->emb_size : d;
    double emb = (double)c->vocab_size * e;
    if (R->pos_emb) emb += (double)c->max_pos * e;
    if (R->type_emb) emb += (double)c->type_vocab * e;
    if (R->emb_ln_g) emb += 2 * e;
    if (R->emb_proj_w && e != d) emb += d * e + d;
    *repl = 4.0 * (emb + c->n_layers * 6 * d);
}

int se_cmd_info(int argc, char **argv)
{
    se_error err;
    se_opts o;
    int help;
    int64_t tp = 1;
    se_status st = se_opts_parse(argc, argv, info_specs, NI, &o, &help, &err);
    if (!st && help) {
        se_opts_usage(stdout, "shardenc info --model DIR [--tp T]", info_specs, NI);
        return SE_EXIT_OK;
    }
    const char *dir = st ? NULL : se_opt_str(&o, info_specs, NI, "model", NULL);
    if (!st && !dir) st = se_error_set(&err, SE_EINVAL, "--model is required");
    if (!st) st = se_opt_int(&o, info_specs, NI, "tp", 1, 1, 1 << 16, &tp, &err);
    se_model_config c;
    if (!st) st = load_cfg(dir, &c, &err);
    se_shard s;
    if (!st) st = se_shard_plan(&c, 0, (int)tp, &s, &err);
    if (st) {
        fprintf(stderr, "shardenc info: %s\n", err.msg);
        return se_cli_exit_code(st);
    }
    const se_recipe *R = se_recipe_of(&c);
    char rd[512];
    se_recipe_describe(R, &c, rd, sizeof rd);
    printf("model %s: %s, d_model %d, %d heads x %d, d_ff %d, %d layers, vocab %d, %s, LayerNorm eps %g\n", dir,
           c.model_type, c.d_model, c.n_heads, c.d_model / c.n_heads, c.d_ff, c.n_layers, c.vocab_size,
           se_act_name(c.act), c.ln_eps);
    printf("recipe: %s\n", rd);
    if (R->pos == SE_POS_ROPE)
        printf("positions: RoPE on q and k (tables in double), up to %lld tokens per sequence, windows of %lld by "
               "default\n",
               (long long)se_recipe_max_len(R, &c), (long long)se_recipe_default_window(R, &c));
    else if (R->attn_bias == SE_ATTB_ALIBI)
        printf("positions: ALiBi in the attention (no position table; slopes of %d heads%s), up to %lld tokens "
               "per sequence (max_position_embeddings)\n",
               c.n_heads, (c.n_heads & (c.n_heads - 1)) ? ", not a power of two: interleaved extras" : "",
               (long long)se_recipe_max_len(R, &c));
    else if (R->pos != SE_POS_SINUSOIDAL)
        printf("positions: learned from index %d, up to %lld tokens per sequence\n", se_recipe_first_pos(R, &c),
               (long long)se_recipe_max_len(R, &c));
    else
        printf("positions: sinusoidal (%s, base %g), no length limit\n",
               c.sin_layout == SE_SIN_INTERLEAVED ? "interleaved" : "concat", c.sin_base);
    size_t dl = strlen(dir);
    if (!(dl > 5 && !strcmp(dir + dl - 5, ".json"))) {
        /* the sentence-transformers settings a job would use by default */
        se_head h;
        if (se_head_load(dir, c.d_model, NULL, -1, &h, &err)) {
            fprintf(stderr, "shardenc info: %s\n", err.msg);
            return se_cli_exit_code(SE_EFORMAT);
        }
        se_st_set *ws;
        se_error werr;
        if (se_st_set_open(dir, &ws, &werr) == SE_OK) {
            printf("weights: %s (%d file%s)\n", se_st_set_path(ws), se_st_set_n_files(ws),
                   se_st_set_n_files(ws) > 1 ? "s, each rank reads its slices from each" : "");
            se_st_set_close(ws);
        } else {
            printf("weights: not usable here (%s)\n", werr.msg);
        }
        se_st_folder f;
        printf("sentence-transformers: %s; output width %d\n", h.desc, h.d_out);
        if (!se_st_folder_load(dir, &f, &err)) {
            for (int i = 0; i < f.n_prompts; i++)
                printf("  prompt %s: \"%s\"%s\n", f.prompt_name[i], f.prompt_text[i],
                       !strcmp(f.prompt_name[i], f.default_prompt) ? " (default)" : "");
            if (f.do_lower_case >= 0) printf("  do_lower_case %s\n", f.do_lower_case ? "true" : "false");
            se_st_folder_free(&f);
        }
        se_head_free(&h);
    }
    printf("tensor-parallel plan for --tp %lld:\n", (long long)tp);
    printf("  %-5s %-12s %-16s %14s %14s %14s\n", "rank", "heads", "ffn units", "layer MiB", "replicated MiB",
           "total MiB");
    double tot = 0;
    for (int r = 0; r < tp; r++) {
        se_shard_plan(&c, r, (int)tp, &s, &err);
        double lb, rb;
        plan_bytes(&c, &s, &lb, &rb);
        char heads[32], units[32];
        snprintf(heads, sizeof heads, "%d-%d (%d)", s.h0, s.h0 + s.nh - 1, s.nh);
        snprintf(units, sizeof units, "%d-%d (%d)", s.f0, s.f0 + s.nf - 1, s.nf);
        printf("  %-5d %-12s %-16s %14.1f %14.1f %14.1f\n", r, heads, units, lb / (1 << 20), rb / (1 << 20),
               (lb + rb) / (1 << 20));
        tot += lb + rb;
    }
    printf("  all ranks: %.1f MiB of fp32 weights (layer weights fall as 1/T; embeddings and LayerNorms are "
           "replicated)\n",
           tot / (1 << 20));
    return SE_EXIT_OK;
}

static const se_opt_spec init_specs[] = {
    {"config", 1, "config.json giving the shape"},
    {"output", 1, "folder to write config.json and model.safetensors into"},
    {"seed", 1, "seed (default 1)"},
    {"dtype", 1, "F32 (default), F16 or BF16"},
    {"vocab", 1, "vocab.txt to copy next to the model (optional)"},
};
#define NN ((int)(sizeof init_specs / sizeof init_specs[0]))

int se_cmd_init_model(int argc, char **argv)
{
    se_error err;
    se_opts o;
    int help;
    int64_t seed = 1;
    se_status st = se_opts_parse(argc, argv, init_specs, NN, &o, &help, &err);
    if (!st && help) {
        se_opts_usage(stdout, "shardenc init-model --config FILE --output DIR [--seed S] [--dtype F32|F16|BF16]",
                      init_specs, NN);
        return SE_EXIT_OK;
    }
    const char *cfgp = st ? NULL : se_opt_str(&o, init_specs, NN, "config", NULL);
    const char *out = st ? NULL : se_opt_str(&o, init_specs, NN, "output", NULL);
    const char *dts = st ? "F32" : se_opt_str(&o, init_specs, NN, "dtype", "F32");
    const char *vocab = st ? NULL : se_opt_str(&o, init_specs, NN, "vocab", NULL);
    if (!st && (!cfgp || !out)) st = se_error_set(&err, SE_EINVAL, "--config and --output are required");
    if (!st) st = se_opt_int(&o, init_specs, NN, "seed", 1, 0, INT64_MAX, &seed, &err);
    se_dtype dt = SE_DT_F32;
    if (!st) {
        if (!strcmp(dts, "F16")) dt = SE_DT_F16;
        else if (!strcmp(dts, "BF16")) dt = SE_DT_BF16;
        else if (strcmp(dts, "F32")) st = se_error_set(&err, SE_EINVAL, "--dtype '%s' is not F32, F16 or BF16", dts);
    }
    se_model_config c;
    se_model *m = NULL;
    if (!st) st = se_config_load(cfgp, &c, &err);
    if (!st) st = se_model_init_random(&c, (uint64_t)seed, 0, 1, &m, &err);
    if (!st) st = se_model_save(m, out, dt, &err);
    se_model_free(m);
    if (!st && vocab) {
        char *buf;
        size_t len;
        st = se_read_file(vocab, (size_t)1 << 30, &buf, &len, &err);
        if (!st) {
            char path[4096];
            snprintf(path, sizeof path, "%s/vocab.txt", out);
            FILE *f = fopen(path, "wb");
            if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
                st = se_error_set(&err, SE_EIO, "%s: cannot write", path);
            free(buf);
        }
    }
    if (st) {
        fprintf(stderr, "shardenc init-model: %s\n", err.msg);
        return se_cli_exit_code(st);
    }
    fprintf(stderr, "shardenc init-model: wrote %s (random weights, seed %lld: embeddings carry no meaning)\n", out,
            (long long)seed);
    return SE_EXIT_OK;
}
