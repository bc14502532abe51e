#!/usr/bin/env bash
# Starts one Parlor process for the browser tests on a fresh database:
#   serve.sh NAME PORT [extra parlor flags…]
set -euo pipefail
name=$1 port=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
data="$here/.data"
mkdir -p "$data"
rm -f "$data/$name.db" "$data/$name.db-wal" "$data/$name.db-shm"
cd "$root"   # the site (target/site) is found relative to the workspace root
exec ./target/release/parlor serve \
  --addr "127.0.0.1:$port" \
  --database "$data/$name.db" \
  --log "${PARLOR_E2E_LOG:-warn}" \
  "$@"
