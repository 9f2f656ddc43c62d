/* Command-line options shared by the subcommands, and the grid banner. */
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardenc/job.h"

static int find(const se_opt_spec *specs, int n, const char *name, size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(specs[i].name) == len && !strncmp(specs[i].name, name, len)) return i;
    return -1;
}

se_status se_opts_parse(int argc, char **argv, const se_opt_spec *specs, int n_specs, se_opts *o, int *help,
                        se_error *err)
{
    memset(o, 0, sizeof *o);
    *help = 0;
    if (n_specs > 64) return se_error_set(err, SE_EINVAL, "too many options");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *help = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0)
            return se_error_set(err, SE_EINVAL, "unexpected argument '%s' (options start with --)", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        int k = find(specs, n_specs, name, len);
        if (k < 0) return se_error_set(err, SE_EINVAL, "unknown option '--%.*s' (see --help)", (int)len, name);
        if (!specs[k].has_value) {
            if (eq) return se_error_set(err, SE_EINVAL, "option '--%s' takes no value", specs[k].name);
            o->values[k] = "1";
        } else if (eq) {
            o->values[k] = eq + 1;
        } else {
            if (i + 1 >= argc) return se_error_set(err, SE_EINVAL, "option '--%s' needs a value", specs[k].name);
            o->values[k] = argv[++i];
        }
    }
    return SE_OK;
}

const char *se_opt_str(const se_opts *o, const se_opt_spec *specs, int n_specs, const char *name, const char *def)
{
    int k = find(specs, n_specs, name, strlen(name));
    return k >= 0 && o->values[k] ? o->values[k] : def;
}

int se_opt_flag(const se_opts *o, const se_opt_spec *specs, int n_specs, const char *name)
{
    return se_opt_str(o, specs, n_specs, name, NULL) != NULL;
}

se_status se_opt_int(const se_opts *o, const se_opt_spec *specs, int n_specs, const char *name, int64_t def,
                     int64_t lo, int64_t hi, int64_t *out, se_error *err)
{
    const char *s = se_opt_str(o, specs, n_specs, name, NULL);
    if (!s) {
        *out = def;
        return SE_OK;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return se_error_set(err, SE_EINVAL, "option '--%s' wants an integer, got '%s'", name, s);
    if (v < lo || v > hi)
        return se_error_set(err, SE_EINVAL, "option '--%s' is %lld, outside %lld..%lld", name, v, (long long)lo,
                            (long long)hi);
    *out = v;
    return SE_OK;
}

void se_opts_usage(FILE *f, const char *synopsis, const se_opt_spec *specs, int n_specs)
{
    fprintf(f, "usage: %s\n\noptions:\n", synopsis);
    for (int i = 0; i < n_specs; i++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s", specs[i].name, specs[i].has_value ? " X" : "");
        fprintf(f, "  %-22s %s\n", left, specs[i].help);
    }
}

se_status se_job_print_grid(const se_grid *g, const char *what, int quiet, se_error *err)
{
    se_hostinfo hi;
    se_status st = se_dist_hostinfo(g->world, &hi, err);
    if (st) return st;
    if (g->world_rank != 0) return SE_OK;
    int threads = omp_get_max_threads();
    if (!quiet)
        fprintf(stderr,
                "shardenc %s: %d rank%s = %d data-parallel group%s x %d tensor-parallel, %d thread%s per rank, "
                "%d host%s (rank 0 on %s, %d cores)\n",
                what, g->world_size, g->world_size > 1 ? "s" : "", g->dp_size, g->dp_size > 1 ? "s" : "", g->tp_size,
                threads, threads > 1 ? "s" : "", hi.n_hosts, hi.n_hosts > 1 ? "s" : "", hi.host0, hi.cores_per_host);
    if ((int64_t)hi.max_ranks_per_host * threads > hi.cores_per_host)
        se_log(SE_LOG_WARN,
               "%d ranks x %d threads on one host exceed its %d cores: timings will suffer (set OMP_NUM_THREADS or "
               "ranks per node)",
               hi.max_ranks_per_host, threads, hi.cores_per_host);
    return SE_OK;
}
