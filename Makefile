# The two commands: `make demo` runs the main job locally, `make test` runs every check.
# Both install what they need first (tools/scripts/setup.sh).
SHELL := /bin/bash
export AWS_EC2_METADATA_DISABLED := true
export CARGO_TERM_COLOR := never
export SAM_CLI_TELEMETRY := 0

.PHONY: setup demo up test fmt-check clippy lint-template build

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

# Both linters run offline (research/local-aws.md); plain `sam validate` needs a region.
lint-template:
	.venv/bin/cfn-lint template.yaml
	.venv/bin/sam validate --lint --region us-east-1

# Release packages of the four functions with cargo-lambda (from PyPI), without zig. x86_64
# because this machine cannot fetch the arm64 Rust standard library; deploy with
# `sam deploy --guided` (Architecture=x86_64 to match this build, or build arm64 elsewhere).
build:
	bash tools/scripts/setup.sh --build
	PATH="$(CURDIR)/.venv/bin:$$PATH" CARGO_LAMBDA_COMPILER=cargo .venv/bin/sam build --parameter-overrides Architecture=x86_64

# One moto server for the whole run (started and stopped by tools/scripts/with-moto.sh); every
# test creates its own uniquely named resources in it, so tests run in parallel.
# Every test records the AWS actions each function calls (REELAY_IAM_USAGE_DIR); the last step
# compares them with each function's policy in template.yaml (tests/iam_usage.rs).
IAM_USAGE_DIR := $(CURDIR)/.local/iam-usage
test: setup fmt-check clippy lint-template
	rm -rf $(IAM_USAGE_DIR) && mkdir -p $(IAM_USAGE_DIR)
	REELAY_IAM_USAGE_DIR=$(IAM_USAGE_DIR) bash tools/scripts/with-moto.sh cargo test --workspace
	REELAY_IAM_USAGE_DIR=$(IAM_USAGE_DIR) cargo test -p reelay-local --test iam_usage -- --ignored

# The upload benchmark: writes the tables in BENCHMARKS.md. Release build (debug numbers mean
# little); the bench starts and stops its own moto and X emulator, each case in a fresh process.
.PHONY: bench
bench: setup
	cargo build --release --quiet -p x-emulator
	cargo run --release --quiet -p reelay-bench -- run
	cargo run --release --quiet -p reelay-bench -- schedule
	cargo build --release --quiet -p reelay-api -p reelay-create-post -p reelay-fit-video -p reelay-oauth-callback -p reelay-process-upload -p reelay-reconciler
	cargo run --release --quiet -p reelay-bench -- coldstart
	cargo run --release --quiet -p reelay-bench -- api-latency

# The chaos suite (tools/reelay-local/tests/chaos.rs, RELIABILITY.md): CHAOS_RUNS seeded runs of
# one upload under random kills, duplicate and stale messages and X faults, checked against what X
# holds. Prints one summary line; a failing run prints its seed and trace to stderr. The first seed
# is CHAOS_SEED (default: the time, shown in the summary); `make test` runs a 6-run slice.
CHAOS_RUNS ?= 200
.PHONY: chaos
chaos: setup
	@CHAOS_RUNS=$(CHAOS_RUNS) CHAOS_SEED=$${CHAOS_SEED:-$$(date +%s)} cargo test --quiet -p reelay-local --test chaos
