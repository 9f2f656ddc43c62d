#!/usr/bin/env bash
# Scaling sweep: runs `shardenc bench --json` over a grid and appends one CSV
# row per run (launch/scaling_csv.py documents the columns and efficiency).
#
#   launch/scaling.sh [options]          (every option also has an env variable)
#     --ranks "1 2 4"        SE_RANKS     MPI ranks (world size P)           [1 2]
#     --threads "1 2"        SE_THREADS   OpenMP threads per rank            [1]
#     --tp "1 2"             SE_TP        tensor-parallel sizes              [1 2]
#     --sp "off on"          SE_SP        sequence-parallel mode (only tp>1) [off]
#     --seq "128 512"        SE_SEQ       tokens per sequence                [512]
#     --batch "8"            SE_BATCH     strong: GLOBAL batch (sequences per
#                                         forward over all DP groups, split
#                                         evenly among them);
#                                         weak: sequences PER RANK (a TP group
#                                         of T ranks gets T times that)     [8]
#     --mode strong|weak     SE_MODE                                          [strong]
#     --layers L             SE_LAYERS    run only L layers                   [config's]
#     --config FILE          SE_CONFIG                          [configs/bert-base.json]
#     --iters K --warmup W   SE_ITERS SE_WARMUP                               [3 1]
#     --out FILE.csv         SE_OUT                                 [scaling.csv]
#     --max-cores N          SE_MAX_CORES skip runs with ranks*threads > N
#                                         (default: cores of this host; 0 = no limit)
#     --launcher auto|mpiexec|srun|none  SE_LAUNCHER  (auto: srun inside a Slurm
#                                         job, else mpiexec; none: P must be 1)
#     --repeat N             SE_REPEAT    run each point N times, keep the fastest [1]
#     --wait-idle S          SE_WAIT_IDLE before each run wait up to S seconds for
#                                         the host to have no other runnable
#                                         process (/proc/stat procs_running)  [0]
#     --timeout S            SE_RUN_TIMEOUT  seconds per run (0 = none)        [0]
#     --transport shm|tcp    SE_TRANSPORT shm: whatever MPI picks on one host
#                                         (shared memory); tcp: MPI forced onto
#                                         TCP over loopback (--mca pml ob1 --mca
#                                         btl tcp,self, osc pt2pt)            [shm]
#     --net-rate "200mbit 1gbit 10gbit"  SE_NET_RATE  (tcp only) each point runs
#                                         in a private network namespace
#                                         (unshare -n, needs root) whose loopback
#                                         is shaped by tc tbf at that rate
#                                         (kbit/mbit/gbit); latency is TCP's own
#                                         (no netem)                  [unshaped]
#     --net-burst BYTES      SE_NET_BURST the tbf bucket (>= 70000: a loopback
#                                         TSO segment is up to 64 KiB + headers)
#                                         [131072: 0.1 ms at 10gbit, 5 ms at
#                                         200mbit, so a collective of MBs runs at
#                                         the rate, not out of the bucket]
#     --dry-run                           print the commands only
#   SHARDENC=path/to/shardenc (default: build/shardenc next to this folder)
#
# Skipped (with the reason on stderr): tp not dividing P, tp > heads, sp with
# tp 1, seq > max_position_embeddings, a strong-scaling global batch that the
# DP groups cannot split evenly, ranks*threads above --max-cores.
#
# Binding: each run exports OMP_NUM_THREADS=t, OMP_PLACES=cores and, unless
# the run oversubscribes the host, OMP_PROC_BIND=close; se_mpiexec (from
# launch/mpi_env.sh) then maps each rank on t cores (--map-by slot:PE=t
# --bind-to core) or, oversubscribed, binds nothing (--bind-to none, and
# OMP_PROC_BIND=false so that every rank's thread 0 does not land on core 0).
# Under Slurm, srun gets --cpus-per-task=t --cpu-bind=cores.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="$(cd "$HERE/.." && pwd)"
if [ -f "$HERE/mpi_env.sh" ]; then
    # shellcheck source=launch/mpi_env.sh
    . "$HERE/mpi_env.sh"
fi
if ! declare -F se_mpiexec >/dev/null; then
    # Plain fallback when mpi_env.sh is absent.
    if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
    se_mpiexec() { "${SE_MPIEXEC:-mpiexec}" --oversubscribe --bind-to none "$@"; }
fi

RANKS="${SE_RANKS:-1 2}"
THREADS="${SE_THREADS:-1}"
TPS="${SE_TP:-1 2}"
SPS="${SE_SP:-off}"
SEQS="${SE_SEQ:-512}"
BATCHES="${SE_BATCH:-8}"
MODE="${SE_MODE:-strong}"
LAYERS="${SE_LAYERS:-}"
CONFIG="${SE_CONFIG:-$SRC/configs/bert-base.json}"
ITERS="${SE_ITERS:-3}"
WARMUP="${SE_WARMUP:-1}"
OUT="${SE_OUT:-scaling.csv}"
HOST_CORES="$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)"
MAX_CORES="${SE_MAX_CORES:-$HOST_CORES}"
LAUNCHER="${SE_LAUNCHER:-auto}"
RUN_TIMEOUT="${SE_RUN_TIMEOUT:-0}"
REPEAT="${SE_REPEAT:-1}"
WAIT_IDLE="${SE_WAIT_IDLE:-0}"
TRANSPORT="${SE_TRANSPORT:-shm}"
NET_RATES="${SE_NET_RATE:-}"
NET_BURST="${SE_NET_BURST:-131072}"
DRY=0
BIN="${SHARDENC:-$SRC/build/shardenc}"
PY="${PYTHON:-python3}"

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }
need() { [ $# -ge 2 ] || { echo "scaling.sh: $1 needs a value" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
    case "$1" in
        --ranks) need "$@"; RANKS="$2"; shift ;;
        --threads) need "$@"; THREADS="$2"; shift ;;
        --tp) need "$@"; TPS="$2"; shift ;;
        --sp) need "$@"; SPS="$2"; shift ;;
        --seq) need "$@"; SEQS="$2"; shift ;;
        --batch) need "$@"; BATCHES="$2"; shift ;;
        --mode) need "$@"; MODE="$2"; shift ;;
        --layers) need "$@"; LAYERS="$2"; shift ;;
        --config) need "$@"; CONFIG="$2"; shift ;;
        --iters) need "$@"; ITERS="$2"; shift ;;
        --warmup) need "$@"; WARMUP="$2"; shift ;;
        --out) need "$@"; OUT="$2"; shift ;;
        --max-cores) need "$@"; MAX_CORES="$2"; shift ;;
        --launcher) need "$@"; LAUNCHER="$2"; shift ;;
        --timeout) need "$@"; RUN_TIMEOUT="$2"; shift ;;
        --repeat) need "$@"; REPEAT="$2"; shift ;;
        --wait-idle) need "$@"; WAIT_IDLE="$2"; shift ;;
        --transport) need "$@"; TRANSPORT="$2"; shift ;;
        --net-rate) need "$@"; NET_RATES="$2"; shift ;;
        --net-burst) need "$@"; NET_BURST="$2"; shift ;;
        --dry-run) DRY=1 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "scaling.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done
# Lists may be given with commas too: --ranks 1,2,4
RANKS="${RANKS//,/ }" THREADS="${THREADS//,/ }" TPS="${TPS//,/ }" SPS="${SPS//,/ }"
SEQS="${SEQS//,/ }" BATCHES="${BATCHES//,/ }"

NET_RATES="${NET_RATES//,/ }"
case "$TRANSPORT" in shm | tcp) ;; *) echo "scaling.sh: --transport must be shm or tcp, not '$TRANSPORT'" >&2; exit 2 ;; esac
if [ -n "$NET_RATES" ]; then
    [ "$TRANSPORT" = tcp ] || { echo "scaling.sh: --net-rate shapes TCP over loopback: it needs --transport tcp" >&2; exit 2; }
    for v in $NET_RATES; do
        [[ "$v" =~ ^[1-9][0-9]*(kbit|mbit|gbit)$ ]] ||
            { echo "scaling.sh: --net-rate '$v' is not a rate like 200mbit, 1gbit, 10gbit" >&2; exit 2; }
    done
    [[ "$NET_BURST" =~ ^[0-9]+$ ]] && [ "$NET_BURST" -ge 70000 ] ||
        { echo "scaling.sh: --net-burst '$NET_BURST' must be a byte count >= 70000 (a loopback TSO segment)" >&2; exit 2; }
    if [ "$DRY" = 0 ]; then
        for c in unshare ip tc; do
            command -v "$c" >/dev/null || { echo "scaling.sh: --net-rate needs '$c' (util-linux, iproute2)" >&2; exit 2; }
        done
    fi
fi
case "$MODE" in strong | weak) ;; *) echo "scaling.sh: --mode must be strong or weak, not '$MODE'" >&2; exit 2 ;; esac
[ -f "$CONFIG" ] || { echo "scaling.sh: config '$CONFIG' not found" >&2; exit 2; }
if [ "$DRY" = 0 ] && [ ! -x "$BIN" ]; then
    echo "scaling.sh: shardenc binary '$BIN' not found or not executable (set SHARDENC=...)" >&2
    exit 2
fi
command -v "$PY" >/dev/null || { echo "scaling.sh: $PY not found (any Python 3 will do)" >&2; exit 2; }
if [ "$LAUNCHER" = auto ]; then
    if [ -n "${SLURM_JOB_ID:-}" ] && command -v srun >/dev/null; then LAUNCHER=srun; else LAUNCHER=mpiexec; fi
fi
# Under srun the sweep may span nodes: host_cores is one node's, --max-cores
# defaults to the whole allocation, and each run asks for the nodes it fills.
if [ "$LAUNCHER" = srun ]; then
    HOST_CORES="${SLURM_CPUS_ON_NODE:-$HOST_CORES}"
    [ -z "${SE_MAX_CORES:-}" ] && [ "$MAX_CORES" = "$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)" ] &&
        MAX_CORES=$((HOST_CORES * ${SLURM_NNODES:-1}))
fi
read -r HEADS MAXPOS < <("$PY" "$HERE/scaling_csv.py" config "$CONFIG")

# wait_idle: on a shared machine, start a run when nothing else is runnable
# (procs_running counts the reader itself), or after WAIT_IDLE seconds anyway.
wait_idle() {
    [ "$WAIT_IDLE" -gt 0 ] && [ -r /proc/stat ] || return 0
    local end=$((SECONDS + WAIT_IDLE)) quiet=0 r
    while [ "$SECONDS" -lt "$end" ]; do
        r=$(awk '/^procs_running/ {print $2}' /proc/stat)
        if [ "${r:-9}" -le 1 ]; then
            quiet=$((quiet + 1))
            [ "$quiet" -ge 3 ] && return 0
        else
            quiet=0
        fi
        sleep 0.2
    done
    echo "  (host still busy after ${WAIT_IDLE}s: running anyway)" >&2
}
isnum() { case "$1" in '' | *[!0-9]*) return 1 ;; *) [ "$1" -ge 1 ] ;; esac; }
for v in $RANKS $THREADS $TPS $SEQS $BATCHES $ITERS $REPEAT; do
    isnum "$v" || { echo "scaling.sh: '$v' is not a positive integer" >&2; exit 2; }
done
for v in $SPS; do case "$v" in on | off) ;; *) echo "scaling.sh: --sp takes on/off, not '$v'" >&2; exit 2 ;; esac; done

SWEEP="$(date -u +%Y%m%dT%H%M%SZ)-$$"
HOST="$(hostname 2>/dev/null || echo unknown)"
n_run=0 n_skip=0 n_fail=0
skip() { echo "skip: $*" >&2; n_skip=$((n_skip + 1)); }

echo "sweep $SWEEP: mode $MODE, config $CONFIG${LAYERS:+, $LAYERS layers}; output $OUT" >&2
for NR in ${NET_RATES:-none}; do
for P in $RANKS; do
    for t in $THREADS; do
        for T in $TPS; do
            for spv in $SPS; do
                for S in $SEQS; do
                    for B in $BATCHES; do
                        what="P=$P threads=$t tp=$T sp=$spv seq=$S batch=$B"
                        [ "$NR" != none ] && what+=" net=$NR"
                        if [ $((P % T)) != 0 ]; then skip "$what: tp $T does not divide $P ranks"; continue; fi
                        if [ "$T" -gt "$HEADS" ]; then skip "$what: tp $T > $HEADS heads"; continue; fi
                        if [ "$spv" = on ] && [ "$T" = 1 ]; then skip "$what: sp needs tp > 1"; continue; fi
                        if [ "$MAXPOS" -gt 0 ] && [ "$S" -gt "$MAXPOS" ]; then
                            skip "$what: seq > max_position_embeddings $MAXPOS"; continue
                        fi
                        if [ "$MAX_CORES" -gt 0 ] && [ $((P * t)) -gt "$MAX_CORES" ]; then
                            skip "$what: $((P * t)) cores > --max-cores $MAX_CORES"; continue
                        fi
                        DP=$((P / T))
                        if [ "$MODE" = strong ]; then
                            if [ $((B % DP)) != 0 ]; then skip "$what: global batch $B not divisible by $DP groups"; continue; fi
                            BG=$((B / DP))
                        else
                            BG=$((B * T))
                        fi
                        args=(bench --config "$CONFIG" --seq "$S" --batch "$BG" --tp "$T" --iters "$ITERS"
                            --warmup "$WARMUP" --json)
                        [ -n "$LAYERS" ] && args+=(--layers "$LAYERS")
                        [ "$spv" = on ] && args+=(--sp)
                        export OMP_NUM_THREADS="$t" OMP_PLACES=cores
                        # Ranks per host: all P here under mpiexec on one host.
                        if [ $((P * t)) -le "$HOST_CORES" ] || [ "$LAUNCHER" = srun ]; then
                            export OMP_PROC_BIND=close
                        else
                            export OMP_PROC_BIND=false
                        fi
                        NODES=1
                        case "$LAUNCHER" in
                            srun)
                                # Block distribution keeps a TP group's ranks on one node.
                                NODES=$(((P * t + HOST_CORES - 1) / HOST_CORES))
                                cmd=(srun -N "$NODES" -n "$P" --cpus-per-task="$t" --cpu-bind=cores
                                    --distribution=block:block "$BIN" "${args[@]}") ;;
                            mpiexec)
                                mca=()
                                [ "$TRANSPORT" = tcp ] && mca=(--mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include lo
                                    --mca oob_tcp_if_include lo --mca osc pt2pt)
                                cmd=(se_mpiexec -n "$P" "${mca[@]}" -x OMP_NUM_THREADS -x OMP_PLACES -x OMP_PROC_BIND
                                    "$BIN" "${args[@]}")
                                if [ "$NR" != none ]; then
                                    # tbf: a small fixed bucket (--net-burst), queue latency 50 ms.
                                    # A bucket of 10 ms at the rate would carry a whole all-reduce
                                    # of a few MB at 10gbit past the shaper; a real link has no
                                    # bucket. perfmodel.py takes the bucket off each collective.
                                    cmd=(unshare -n bash -c 'ip link set lo up && tc qdisc add dev lo root tbf rate "$1" \
                                        burst "$2" latency 50ms && . "$3" && shift 3 && "$@"' _ "$NR" "$NET_BURST" \
                                        "$HERE/mpi_env.sh" se_mpiexec "${cmd[@]:1}")
                                fi ;;
                            none)
                                if [ "$P" != 1 ]; then skip "$what: --launcher none runs 1 rank only"; continue; fi
                                cmd=("$BIN" "${args[@]}") ;;
                            *) echo "scaling.sh: unknown launcher '$LAUNCHER'" >&2; exit 2 ;;
                        esac
                        [ "$RUN_TIMEOUT" != 0 ] && export SE_MPI_TIMEOUT="$RUN_TIMEOUT"
                        echo "run: $what (batch $BG per group; OMP_PROC_BIND=$OMP_PROC_BIND): ${cmd[*]}" >&2
                        [ "$DRY" = 1 ] && continue
                        outp="" ok=1
                        for ((rep = 0; rep < REPEAT; rep++)); do
                            wait_idle
                            if ! o="$("${cmd[@]}")"; then ok=0; break; fi
                            outp+="$o"$'\n'
                        done
                        if [ "$ok" = 0 ]; then
                            echo "FAILED: $what" >&2
                            n_fail=$((n_fail + 1))
                            continue
                        fi
                        "$PY" "$HERE/scaling_csv.py" row "$OUT" sweep_id="$SWEEP" mode="$MODE" host="$HOST" \
                            host_cores="$HOST_CORES" nodes="$NODES" transport="$TRANSPORT" net_rate="${NR/#none/}" \
                            net_burst="$([ "$NR" = none ] || echo "$NET_BURST")" \
                            timestamp="$(date -u +%Y-%m-%dT%H:%M:%SZ)" <<<"$outp" >&2
                        n_run=$((n_run + 1))
                    done
                done
            done
        done
    done
done
done
if [ "$DRY" = 0 ] && [ "$n_run" -gt 0 ]; then
    "$PY" "$HERE/scaling_csv.py" finalize "$OUT" "$SWEEP"
fi
echo "sweep $SWEEP: $n_run runs, $n_skip skipped, $n_fail failed -> $OUT" >&2
[ "$n_fail" = 0 ]
