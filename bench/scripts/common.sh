# Shared by the scripts in bench/scripts: start a fresh `parlor serve` with the bench's
# limits off on $PORT (default 4700), stop it afterwards. Needs `make build`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PORT=${PORT:-4700}
PARLOR=${PARLOR:-./target/release/parlor}
BENCH=./target/release/bench
[ -x "$BENCH" ] || cargo build --release -p bench >/dev/null
work=$(mktemp -d "${TMPDIR:-/tmp}/parlor-bench.XXXXXX")
server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap stop_server EXIT
# start_server [extra parlor flags…]: a server with every abuse limit off (the load comes
# from one address and signs up 1,000 guests).
start_server() {
  if curl -s -o /dev/null "http://127.0.0.1:$PORT/livez"; then
    echo "something already serves 127.0.0.1:$PORT (PORT=… to choose another)" >&2; exit 1
  fi
  "$PARLOR" serve --addr "127.0.0.1:$PORT" --database "$work/bench.db" --log warn --allow-guests \
    --message-rate 0 --auth-per-minute 0 --signups-per-ip-per-hour 0 --max-connections-per-ip 0 \
    --max-streams-per-ip 0 --room-quota 0/0 "$@" 2>"$work/server.log" &
  server_pid=$!
  for _ in $(seq 100); do
    kill -0 "$server_pid" 2>/dev/null || break
    curl -s -o /dev/null "http://127.0.0.1:$PORT/livez" && return
    sleep 0.1
  done
  cat "$work/server.log"; exit 1
}
# load SECONDS [bench load flags…]: S1's shape (20 rooms x 50, 5 senders per room) at $RATE.
load() {
  local seconds=$1; shift
  "$BENCH" load --url "http://127.0.0.1:$PORT" --rooms 20 --clients-per-room 50 --senders-per-room 5 \
    --rate "${RATE:-2}" --duration "$seconds" --server-pid "$server_pid" --label "${LABEL:-run}" "$@"
}
