#!/usr/bin/env bash
# The benchmark suite in one command (see BENCHMARKS.md).
#
#   bench/run.sh                      full run: release build, 3 interleaved runs of 5 s
#   bench/run.sh --runs 5 --only http  any vestis-bench flag (--help lists them)
#   bench/run.sh --smoke              CI's seconds-long check that the suite works
#                                     (debug build, tiny sizes; figures not judged)
#
# Installs wrk (Debian's package) when it is missing. Servers run as their
# own processes on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
    echo "bench: installing wrk" >&2
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq wrk >/dev/null
fi

profile=release
for arg in "$@"; do
    [ "$arg" = "--smoke" ] && profile=debug
done
packages=(-p vestis-bench -p vestis-mock-server -p vestis-cli)
if [ "$profile" = release ]; then
    cargo build --release "${packages[@]}"
else
    cargo build "${packages[@]}"
fi
bin_dir="${CARGO_TARGET_DIR:-target}/$profile"
exec "$bin_dir/vestis-bench" --bin-dir "$bin_dir" "$@"
