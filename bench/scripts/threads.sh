#!/usr/bin/env bash
# Server CPU by thread under S1-shaped load, over 15 s of steady state: which part (the
# tokio workers, the message writer's thread) costs what.
#   bench/scripts/threads.sh                    # S1: 2 msg/s per sender
#   RATE=8 bench/scripts/threads.sh --commit-window-us 0
source "$(dirname "$0")/common.sh"
start_server "$@"
load 22 > "$work/load.txt" &
loader=$!
sleep 5
snapshot() {
  for task in /proc/"$server_pid"/task/*; do
    printf '%s %s\n' "$(tr ' ' _ < "$task/comm")" "$(awk '{print $14 + $15}' "$task/stat")"
  done | awk '{ticks[$1] += $2} END {for (name in ticks) print name, ticks[name]}' | sort
}
snapshot > "$work/before"; sleep 15; snapshot > "$work/after"
hz=$(getconf CLK_TCK)
echo "| thread | CPU % of a core |"; echo "|---|---|"
join "$work/before" "$work/after" | awk -v hz="$hz" '{d = ($3 - $2) * 100 / hz / 15; total += d; if (d > 0) printf "| %s | %.1f |\n", $1, d} END {printf "| total | %.1f |\n", total}'
wait "$loader"
grep -E "latency|per 1,000" "$work/load.txt"
