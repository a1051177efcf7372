# The two commands: `make demo` runs the main job locally, `make test` runs every check.
# Both install what they need first (tools/scripts/setup.sh).
SHELL := /bin/bash
export AWS_EC2_METADATA_DISABLED := true
export CARGO_TERM_COLOR := never

.PHONY: setup demo up test fmt-check clippy unit build

setup:
	@bash tools/scripts/setup.sh

demo: setup
	cargo run --quiet -p reelay-local -- demo

up: setup
	cargo run --quiet -p reelay-local -- up

fmt-check:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

# One moto server for the whole run (started and stopped by tools/scripts/with-moto.sh); every
# test creates its own uniquely named resources in it, so tests run in parallel.
test: setup fmt-check clippy
	bash tools/scripts/with-moto.sh cargo test --workspace
