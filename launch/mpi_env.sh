# shellcheck shell=bash
# Sourced by the scripts in tests/ and launch/:   . "$SE_SRC/launch/mpi_env.sh"
#
# 1. Open MPI refuses to start as root unless two variables are set; export
#    them only when we are root (containers, CI), never for normal users.
# 2. se_mpiexec: mpiexec with --oversubscribe and a binding that keeps each
#    rank's OpenMP threads on distinct cores.
#
# What Open MPI 4.1 does by default (measured on a 2-core VM with
# --report-bindings and /proc/self/status Cpus_allowed_list):
#   -n 1 or -n 2 (np <= 2)     binds each rank to ONE core ("bind-to core").
#                              -n 1 with OMP_NUM_THREADS=2 runs both threads on
#                              core 0: half the machine idle, no warning.
#   -n 3.. (np > 2)            binds to socket (here: all cores).
#   more ranks than cores      with --oversubscribe: no binding at all.
# So the default is only right for one thread per rank. se_mpiexec chooses:
#   ranks × OMP_NUM_THREADS <= cores   --map-by slot:PE=<threads> --bind-to core
#                                      (each rank owns <threads> cores; its
#                                      OpenMP threads spread over them)
#   otherwise (oversubscribed)         --bind-to none (let the kernel schedule;
#                                      pinning would stack ranks on one core)
# SE_MPI_BIND=none forces --bind-to none. A --bind-to/--map-by given by the
# caller wins and se_mpiexec adds neither. Cores are counted on this host
# (getconf _NPROCESSORS_ONLN); for multi-host runs use the Slurm/PBS templates.

if [ "$(id -u)" = 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1
    export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

# se_mpiexec [mpiexec options] program [args]   (same arguments as mpiexec)
# SE_MPI_TIMEOUT=<seconds> runs it under timeout(1) (a shell function cannot
# be given to timeout; on SIGTERM mpiexec kills its ranks): exit code 124.
se_mpiexec() {
    local n="" user_bind=0 prev="" a
    for a in "$@"; do
        case "$prev" in -n | -np | --np | -c) [ -z "$n" ] && n="$a" ;; esac
        case "$a" in
            --bind-to | --bind-to=* | --map-by | --map-by=* | -bind-to | -map-by) user_bind=1 ;;
        esac
        prev="$a"
    done
    local bind=()
    if [ "$user_bind" = 0 ]; then
        local threads="${OMP_NUM_THREADS:-1}" cores
        cores="$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)"
        case "$threads" in '' | *[!0-9]*) threads=1 ;; esac
        if [ "${SE_MPI_BIND:-auto}" != none ] && [ -n "$n" ] && [ "$threads" -ge 1 ] &&
            [ $((n * threads)) -le "$cores" ]; then
            bind=(--map-by "slot:PE=$threads" --bind-to core)
        else
            bind=(--bind-to none)
        fi
    fi
    local pre=()
    [ -n "${SE_MPI_TIMEOUT:-}" ] && pre=(timeout "$SE_MPI_TIMEOUT")
    "${pre[@]}" "${SE_MPIEXEC:-mpiexec}" --oversubscribe "${bind[@]}" "$@"
}
