#!/usr/bin/env bash
# Installs what building Parlor needs, skipping whatever is already there (idempotent).
#   scripts/install-tools.sh          build tools (make run / make build / make dev)
#   scripts/install-tools.sh --test   also what the tests need (make test)
# Nothing is downloaded from GitHub: tools come from crates.io, npm and Debian.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.10   # 0.3.11 needs rustc 1.96 with --locked
WITH_TEST_TOOLS=0
[ "${1:-}" = "--test" ] && WITH_TEST_TOOLS=1

say()  { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
fail() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

command -v cargo >/dev/null || fail "cargo is missing: install Rust with rustup (https://rustup.rs)."
command -v npm >/dev/null   || fail "npm is missing: install Node.js 18 or newer (Debian: apt install nodejs npm)."

# 1. The browser half of Parlor is compiled to WebAssembly.
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "Adding the wasm32-unknown-unknown Rust target (the browser code compiles to WASM)"
  rustup target add wasm32-unknown-unknown
fi

# 2. cargo-leptos builds the server and the WASM bundle together. Built with no_downloads:
#    it then uses the tools installed below instead of fetching them from GitHub.
if ! cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
  say "Installing cargo-leptos $CARGO_LEPTOS_VERSION (builds from source: ~13 minutes and ~3 GB of RAM, once)"
  cargo install "cargo-leptos@$CARGO_LEPTOS_VERSION" --locked --features no_downloads
fi

# 3. wasm-bindgen-cli must be exactly the wasm-bindgen version in Cargo.lock.
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[ -n "$want" ] || fail "cannot read the wasm-bindgen version from Cargo.lock"
have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)
if [ "$have" != "$want" ]; then
  say "Installing wasm-bindgen-cli $want to match Cargo.lock (~3 minutes, once)"
  # Not --locked: its own lock file names a crate version missing from the registry.
  cargo install wasm-bindgen-cli --version "$want"
fi

# 4. wasm-opt from npm's binaryen (root package.json). cargo-leptos puts node_modules/.bin
#    first on PATH. Debian's binaryen (wasm-opt 108) silently breaks hydration: never use it.
if [ ! -x node_modules/.bin/wasm-opt ]; then
  say "Installing wasm-opt (npm package binaryen) into ./node_modules"
  npm ci --no-audit --no-fund
fi

[ "$WITH_TEST_TOOLS" = 1 ] || exit 0

# 5. Test services and browser: Debian's redis-server, postgresql, nginx and chromium.
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null    || missing+=(redis-tools)   # the cluster test forms clusters with it
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v psql >/dev/null        || missing+=(postgresql-client)   # the browser deployed test creates its database with it
[ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)   # make bench: server-rendered pages per second (bench/scripts/firstpaint.sh)
[ -x /usr/bin/chromium ] || missing+=(chromium)
# Fonts for the screenshots: Hangul and emoji instead of empty boxes.
[ -d /usr/share/fonts/opentype/noto ] || missing+=(fonts-noto-cjk)
[ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || missing+=(fonts-noto-color-emoji)
if [ "${#missing[@]}" -gt 0 ]; then
  say "Installing ${missing[*]} from Debian (the tests use a real Redis, a real browser and its fonts)"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || fail "need root or sudo to apt-get install ${missing[*]}"
    SUDO=sudo
  fi
  # The tests start their own PostgreSQL and nginx on free ports: keep the packages from
  # starting system-wide ones on 5432 and 80 (policy-rc.d answers "not now").
  policy_added=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    policy_added=1
  fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  [ -z "$policy_added" ] || $SUDO rm -f /usr/sbin/policy-rc.d
fi

# 6. Playwright for the browser tests (it uses /usr/bin/chromium; no browser download).
# Again whenever package-lock.json changed since the last install (a new test package).
if [ ! -f end2end/node_modules/.package-lock.json ] ||
   [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
  say "Installing the end-to-end test packages (npm ci in end2end/)"
  (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi
