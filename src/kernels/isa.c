/* Run-time choice of the kernel set (isa.h): the best one the CPU and the OS
 * support, found by cpuid once, or the one SHARDENC_ISA / se_isa_select asks
 * for (tests force AVX2 on an AVX-512 node this way). __builtin_cpu_supports
 * reads cpuid and, for AVX and AVX-512, xgetbv, so a kernel set is offered only
 * when the OS saves its registers too. */
#include <stdlib.h>
#include <string.h>

#include "isa.h"

static const char *const isa_names[] = {"generic", "avx2", "avx512"};

const char *se_isa_name(se_isa isa) { return (unsigned)isa < 3 ? isa_names[isa] : "?"; }

int se_isa_supported(se_isa isa)
{
    __builtin_cpu_init();
    switch (isa) {
    case SE_ISA_GENERIC:
        return 1;
    case SE_ISA_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case SE_ISA_AVX512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
               se_isa_supported(SE_ISA_AVX2);
    }
    return 0;
}

se_isa se_isa_best(void)
{
    if (se_isa_supported(SE_ISA_AVX512)) return SE_ISA_AVX512;
    if (se_isa_supported(SE_ISA_AVX2)) return SE_ISA_AVX2;
    return SE_ISA_GENERIC;
}

static const se_kern_ops *const tables[] = {&se_kern_generic, &se_kern_avx2, &se_kern_avx512};
static const se_kern_ops *g_ops; /* accessed atomically: first use may race */

se_status se_isa_select(const char *name, se_error *err)
{
    se_isa want;
    if (!name || !*name || !strcmp(name, "auto")) {
        want = se_isa_best();
    } else {
        int k = -1;
        for (int i = 0; i < 3; i++)
            if (!strcmp(name, isa_names[i])) k = i;
        if (k < 0)
            return se_error_set(err, SE_EINVAL, "kernel set '%s' (SHARDENC_ISA) is not one of auto, avx512, avx2, generic",
                                name);
        want = (se_isa)k;
        if (!se_isa_supported(want))
            return se_error_set(err, SE_EUNSUPPORTED,
                                "kernel set '%s' (SHARDENC_ISA) is not supported by this CPU; the best it runs is '%s'",
                                name, se_isa_name(se_isa_best()));
    }
    __atomic_store_n(&g_ops, tables[want], __ATOMIC_RELEASE);
    return SE_OK;
}

const se_kern_ops *se_kern(void)
{
    const se_kern_ops *o = __atomic_load_n(&g_ops, __ATOMIC_ACQUIRE);
    if (o) return o;
    se_error err;
    if (se_isa_select(getenv("SHARDENC_ISA"), &err)) {
        /* the CLI checks the variable up front with a clear error; a library
         * user with a bad value gets the best set and this warning */
        se_log(SE_LOG_WARN, "%s; using '%s'", err.msg, se_isa_name(se_isa_best()));
        se_isa_select("auto", &err);
    }
    return __atomic_load_n(&g_ops, __ATOMIC_ACQUIRE);
}

se_isa se_isa_current(void) { return se_kern()->isa; }

/* Peak of the active kernel set's FMA loop over every thread at once, best of
 * a few rounds of ~`seconds` (a timed GEMM's % of this is the fraction of
 * the silicon it uses). */
double se_fma_peak_gflops(double seconds)
{
    const se_kern_ops *k = se_kern();
    long iters = 1 << 20;
    double t0 = se_time_now();
    k->fma_flops(iters); /* calibrate */
    double dt = se_time_now() - t0;
    if (dt > 0) iters = (long)(iters * (seconds / 3) / dt) + 1;
    double best = 0;
    for (int r = 0; r < 3; r++) {
        double flops = 0, t = se_time_now();
#pragma omp parallel reduction(+ : flops)
        flops += k->fma_flops(iters);
        t = se_time_now() - t;
        if (flops / t > best) best = flops / t;
    }
    return best / 1e9;
}
