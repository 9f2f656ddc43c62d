#!/usr/bin/env bash
# Installs what shardenc needs from Debian 12 packages, only what is missing.
# Runs as root, or through sudo when it is available.
set -euo pipefail

PKGS=(
    build-essential cmake pkg-config     # C11 compiler, build system
    openmpi-bin libopenmpi-dev           # MPI (mpiexec, mpicc, headers)
    libopenblas0-openmp libopenblas-openmp-dev  # OpenBLAS, its OpenMP build (DESIGN.md: one thread pool)
    libdnnl-dev                          # oneDNN: the second GEMM backend (--gemm onednn)
    libcmocka-dev                        # unit tests
    libjansson-dev                       # JSON: config.json, JSONL, tokenizer.json
    libutf8proc-dev                      # Unicode normalisation and categories for the tokenizer
    libpcre2-dev                         # PCRE2 with JIT: the Unicode regexes of tokenizer.json (Split, ByteLevel)
    zlib1g-dev libzstd-dev               # .jsonl.gz / .jsonl.zst corpora (issue 13)
    gzip zstd                            # the tests make real .gz and .zst shards with them
    clang libclang-rt-14-dev             # libFuzzer targets (the test command runs them)
    gnuplot-nox                          # launch/plot_scaling
    iproute2 util-linux                  # ip, tc, unshare: scaling.sh --net-rate (shaped loopback per run)
    python3                              # launch/perfmodel.py, launch/scaling_csv.py (standard library only)
    strace                               # tests/mpi/test_file_commit_sync.sh: the fsync/rename calls, observed
)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install.sh: all ${#PKGS[@]} packages present"
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "install.sh: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
fi
echo "install.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
