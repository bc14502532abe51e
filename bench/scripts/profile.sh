#!/usr/bin/env bash
# perf profile (DWARF call graphs) and system-call counts of the server under S1-shaped load.
# Needs Debian's linux-perf and strace. Leaves bench/scripts/perf.data for `perf report`.
#   RATE=8 bench/scripts/profile.sh
source "$(dirname "$0")/common.sh"
start_server "$@"
load 20 > "$work/load.txt" &
loader=$!
sleep 4
perf record -F 499 --call-graph dwarf,16384 -p "$server_pid" -o bench/scripts/perf.data -- sleep 8 >/dev/null 2>&1
strace -c -f -p "$server_pid" -o "$work/strace.txt" & tracer=$!
sleep 3; kill -INT "$tracer"; wait "$tracer" 2>/dev/null || true
wait "$loader"
perf report -i bench/scripts/perf.data --no-children --sort comm,dso,symbol -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -30
sort -k4 -n -r "$work/strace.txt" | head -12
grep -E "latency|per 1,000" "$work/load.txt"
