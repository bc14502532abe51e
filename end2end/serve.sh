#!/usr/bin/env bash
# Starts one Parlor process for the browser tests:  serve.sh NAME PORT [extra parlor flags…]
# Every process uses end2end/.data/e2e.db (scripts/test.sh deletes it before a run), or
# PARLOR_E2E_DATABASE when set (a postgres:// URL for the deployed test), and, when
# PARLOR_TEST_REDIS_URL is set, that Redis: several processes then serve the same rooms.
set -euo pipefail
name=$1 port=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
mkdir -p "$here/.data"
redis=()
if [ -n "${PARLOR_TEST_REDIS_URL:-}" ]; then redis=(--redis "$PARLOR_TEST_REDIS_URL"); fi
cd "$root"   # the site (target/site) is found relative to the workspace root
echo "parlor $name on 127.0.0.1:$port" >&2
exec ./target/release/parlor serve \
  --addr "127.0.0.1:$port" \
  --database "${PARLOR_E2E_DATABASE:-$here/.data/e2e.db}" \
  --log "${PARLOR_E2E_LOG:-warn}" \
  --allow-guests \
  --auth-per-minute 600 \
  --signups-per-ip-per-hour 0 \
  --room-quota 0/0 \
  "${redis[@]}" \
  "$@"
