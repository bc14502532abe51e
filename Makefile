# Parlor's entry points. Install steps live in scripts/install-tools.sh (idempotent), so
# every target works on a fresh machine that has only Rust, git, make and Node.js.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Where `make run` serves; override with PARLOR_ADDR=0.0.0.0:8080 make run.
export PARLOR_ADDR ?= 127.0.0.1:3000

.PHONY: help run build dev test bench tools test-tools fmt lint clean

help:
	@echo "make run    install what is missing, build, serve on http://$(PARLOR_ADDR)"
	@echo "make build  build target/release/parlor and the site (target/site) without serving"
	@echo "make dev    rebuild and reload on every change (cargo leptos watch)"
	@echo "make test   install what is missing, run the Rust and the browser tests"
	@echo "make lint   cargo fmt --check and clippy for the server and the WASM builds"
	@echo "make bench  load scenarios S1-S4 and the store benchmark (tables for bench/RESULTS.md)"

tools:
	@scripts/install-tools.sh

test-tools:
	@scripts/install-tools.sh --test

# --precompress writes .br and .gz beside every site file; the server sends them as they are.
build: tools
	cargo leptos build --release --precompress

run: build
	@mkdir -p data
	./target/release/parlor serve

dev: tools
	cargo leptos watch

test: test-tools build
	scripts/test.sh

bench: test-tools build
	bench/run.py

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --exclude frontend --all-targets -- -D warnings
	cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings

fmt:
	cargo fmt --all

clean:
	cargo clean
