# The README's two commands are the contract: `make demo` and `make test`.
SHELL := bash
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: help setup test lint fmt demo bench build deploy

help:
	@echo "make demo   run the suite's main job on local stand-ins"
	@echo "make test   install what the tests need (pinned), then run every test"
	@echo "make lint   rustfmt and clippy (-D warnings)"
	@echo "make bench  measure and print figures (not tests)"
	@echo "make build  release zips of every function (cargo lambda build)"

setup:
	@scripts/setup.sh

test: setup
	$(CARGO) nextest run --workspace --all-targets --no-fail-fast

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

demo: setup
	@echo "make demo: not yet — the end-to-end demo lands with the deploy-and-try issue."

bench: setup
	@scripts/bench.sh

build:
	@echo "make build: not yet — the first function crate adds it."

deploy:
	@echo "make deploy: not yet — lands with the IaC template."
