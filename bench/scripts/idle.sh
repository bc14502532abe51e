#!/usr/bin/env bash
# Server RSS per idle WebSocket at 5,000 sockets (S4 uses 19,800 from two generators; this is
# the quick version for an A/B).
#   bench/scripts/idle.sh [parlor flags…]
source "$(dirname "$0")/common.sh"
start_server "$@"
"$BENCH" load --url "http://127.0.0.1:$PORT" --rooms 100 --clients-per-room 50 --senders-per-room 0 \
  --duration 5 --server-pid "$server_pid" --label idle | grep -E "server pid|per connection"
