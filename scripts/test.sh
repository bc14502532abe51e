#!/usr/bin/env bash
# Runs Parlor's tests against real services, and stops what it started:
#   - a private redis-server on a free port, without persistence (never the one on 6379);
#   - a private PostgreSQL (initdb into a temp dir, pg_ctl on a free port; as the
#     `postgres` user when run as root, since PostgreSQL refuses to run as root);
#   - the Rust unit and integration tests (real SQLite files, real sockets);
#   - the Playwright tests in headless Chromium against real `parlor` processes (and, in
#     end2end/tests/deployed.spec.ts, nginx before three on a fresh PostgreSQL database).
# `make test` installs the tools and builds target/release/parlor before calling this.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/parlor-test.XXXXXX")
redis_pid=""
pg_dir=""
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
  if [ -n "$pg_dir" ]; then
    as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

redis_port=$(free_port)
say "Starting redis-server on 127.0.0.1:$redis_port (no persistence)"
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$tmp" --logfile "$tmp/redis.log" &
redis_pid=$!
for _ in $(seq 50); do
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.1
done
redis-cli -p "$redis_port" ping >/dev/null || { cat "$tmp/redis.log"; exit 1; }
export PARLOR_TEST_REDIS_URL="redis://127.0.0.1:$redis_port"
export PARLOR_TEST_REDIS_PORT="$redis_port"

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$pg_bin/initdb" ] || { echo "PostgreSQL is missing: run scripts/install-tools.sh --test" >&2; exit 1; }
pg_port=$(free_port)
pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/parlor-pg.XXXXXX")
[ "$(id -u)" = 0 ] && chown postgres "$pg_dir"
say "Starting PostgreSQL ($pg_bin) on 127.0.0.1:$pg_port (a throwaway cluster)"
as_pg "$pg_bin/initdb" -D "$pg_dir/data" -U parlor --auth=trust -E UTF8 --no-sync >"$pg_dir/initdb.log" 2>&1 \
  || { cat "$pg_dir/initdb.log"; exit 1; }
as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w \
  -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null \
  || { cat "$pg_dir/log"; exit 1; }
export PARLOR_TEST_POSTGRES_URL="postgres://parlor@127.0.0.1:$pg_port/postgres"

# Release mode and the same LEPTOS_* variables as cargo-leptos' build, so the tests reuse
# the dependencies `make build` compiled instead of building everything a second time.
export LEPTOS_OUTPUT_NAME=parlor
say "Rust tests"
cargo test --release --workspace --exclude frontend

say "Browser tests (Playwright, headless Chromium; two parlor processes sharing Redis; three behind nginx on PostgreSQL)"
rm -rf end2end/.data
(cd end2end && npx playwright test)
