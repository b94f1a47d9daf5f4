#!/usr/bin/env bash
# The scan benchmark (issue #2): builds the release binaries, then runs picket-bench as root,
# which scans a network-namespace lab with Picket, Nmap, masscan and RustScan and prints wall
# time and found/expected per scenario. Arguments go to picket-bench (see bench/README.md);
# without --results, the table is also written to bench/RESULTS.md.
#
#   bench/scan.sh                                   # every scenario and tool
#   bench/scan.sh --scenarios clean,loss3 --tools picket,nmap --timeout 120
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
    echo "bench/scan.sh: needs root (network namespaces, raw sockets for nmap -sS and masscan)" >&2
    exit 1
fi

cargo build --release -p picket -p picket-bench

args=("$@")
if [[ " ${args[*]} " != *" --results "* && " ${args[*]} " != *" --results="* ]]; then
    args+=(--results bench/RESULTS.md)
fi
# exec: Ctrl-C and SIGTERM reach picket-bench, which kills the running scanner and removes
# the lab before it exits.
exec target/release/picket-bench "${args[@]}"
