#!/usr/bin/env bash
# First paint (issue 15): server-rendered pages per second under wrk, beside the server's CPU
# per request, and a cold load in Chromium (bytes on the wire, ms to hydrated) on loopback.
#   bench/scripts/firstpaint.sh          (needs `make build`, wrk and end2end's Playwright)
# Prints markdown tables for bench/RESULTS.md.
source "$(dirname "$0")/common.sh"
command -v wrk >/dev/null || { echo "wrk is missing: apt install wrk (scripts/install-tools.sh --test installs it)" >&2; exit 1; }
SECONDS_EACH=${SECONDS_EACH:-10}
CONNECTIONS=${CONNECTIONS:-32}
start_server
base="http://127.0.0.1:$PORT"

# A room with 50 messages, so the room page renders a full first screen.
jar="$work/cookies"
curl -sf -c "$jar" -b "$jar" -H 'content-type: application/json' -H "origin: $base" \
  -d '{"name":"Painter"}' "$base/api/session/guest" >/dev/null
curl -sf -c "$jar" -b "$jar" -H 'content-type: application/json' -H "origin: $base" \
  -d '{"slug":"paint","title":"First paint"}' "$base/api/rooms" >/dev/null
for i in $(seq 50); do
  curl -sf -c "$jar" -b "$jar" -H 'content-type: application/json' -H "origin: $base" \
    -d "{\"text\":\"message number $i, about as long as people write them\"}" \
    "$base/api/rooms/paint/messages" >/dev/null
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$server_pid/stat"; }
hz=$(getconf CLK_TCK)

echo "| page | Accept-Encoding | requests/s | latency p50 / p99 ms | server CPU ms / request | bytes / response |"
echo "|---|---|---|---|---|---|"
for page in / /rooms/paint; do
  for encoding in identity "gzip, deflate, br"; do
    size=$(curl -s -o /dev/null -w '%{size_download}' -H "accept-encoding: $encoding" "$base$page")
    before=$(cpu_ticks)
    out=$(wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_EACH}s" --latency -H "accept-encoding: $encoding" "$base$page")
    after=$(cpu_ticks)
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    total=$(awk '/requests in/ {print $1}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out")
    cpu=$(awk -v t=$((after - before)) -v hz="$hz" -v n="$total" 'BEGIN {printf "%.3f", t * 1000 / hz / n}')
    printf '| %s | %s | %.0f | %s / %s | %s | %s |\n' "$page" "$encoding" "$rps" "$p50" "$p99" "$cpu" "$size"
    [ -z "$errors" ] || echo "  (wrk: $errors)"
  done
done

echo
PARLOR_FIRSTPAINT_URL="$base/rooms/paint" node bench/scripts/firstpaint.mjs
