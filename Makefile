# The README's two commands are the contract: `make demo` and `make test`.
SHELL := bash
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: help setup test lint lint-template fmt demo bench bench-check build deploy fuzz zip-sizes link-order

# The suite's functions: one crate and one binary each, one function in infra/template.yaml.
FUNCTIONS := alarm-scaler alarm-sync concurrency-scaler queue-scaler iam-sync node-autoscaler
# arm64 (default: Graviton, 20 % cheaper per GB-second; README `## Deploy`) or x86_64; must
# match the stack's Architecture parameter.
ARCH ?= arm64
STACK_NAME ?= k8s-lambda-autoscalers

help:
	@echo "make demo   run the suite's main job on local stand-ins"
	@echo "make test   install what the tests need (pinned), then run every test"
	@echo "make lint   rustfmt, clippy (-D warnings) and cfn-lint (make lint-template)"
	@echo "make bench  measure and print figures (not tests)"
	@echo "make bench-check  make bench, then fail if a figure misses its target (BENCHMARKS.md)"
	@echo "make link-order  remake link/init-order.ld (the init code linked together; valgrind)"
	@echo "make fuzz   fuzz every event decoder and CR parser (nightly; FUZZ_SECONDS per target)"
	@echo "make build  release zips of every function (cargo lambda build; arm64, ARCH=x86_64)"
	@echo "make zip-sizes  release zips for both architectures, sizes side by side"
	@echo "make deploy package and deploy infra/template.yaml (CLUSTER_NAME, API_SERVER, CERT_AUTHORITY)"

setup:
	@scripts/setup.sh

# One build serves both commands: `make demo` builds exactly what `make test` builds (same
# packages, targets and so the same feature resolution), then runs the demo binary itself (a
# `cargo run -p demo` would resolve features for demo alone and rebuild much of the tree).
BUILD_SET := --workspace --all-targets
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)

# nextest builds every binary of BUILD_SET before the first test: SUITE_WORKSPACE_BUILT tells
# the tests that need another package's function binary not to start a cargo of their own
# (testbed::world::build; it would wait on the lock the arm64 test's cross build holds).
test: setup
	SUITE_WORKSPACE_BUILT=1 $(CARGO) nextest run $(BUILD_SET) --no-fail-fast

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	@$(MAKE) --no-print-directory lint-template

# The CloudFormation templates, with the cfn-lint scripts/setup.sh pins (also run by
# crates/deploy-checks in `make test`).
lint-template:
	cfn-lint infra/template.yaml infra/keda/queue-and-roles.yaml

fmt:
	$(CARGO) fmt --all

# The demo finds the functions' (debug) binaries next to its own.
demo: setup
	$(CARGO) test -q --no-run $(BUILD_SET)
	$(TARGET_DIR)/debug/suite-demo

bench: setup
	@scripts/bench.sh

# make bench, then each figure against its target (the Targets table of BENCHMARKS.md);
# fails when one is missed. Not part of make test.
bench-check: setup
	@scripts/bench-check.py

# link/init-order.ld, which link/build.rs links into every function: the functions each runs
# from spawn to its first Runtime API poll (callgrind, on release binaries kept unstripped in
# their own target dir), linked ahead of the rest of .text. Remake it when init changes.
link-order:
	CARGO_PROFILE_RELEASE_STRIP=false CARGO_TARGET_DIR=$(TARGET_DIR)/link-order \
	  $(CARGO) build --release $(addprefix --bin ,$(FUNCTIONS))
	$(CARGO) run -q -p testbed --bin link-order -- \
	  --release-dir $(TARGET_DIR)/link-order/release --out link/init-order.ld

# cargo-fuzz (pinned) on nightly, FUZZ_SECONDS (default 30) per target of fuzz/: prints the
# executions and crashes per target; fails on any crash.
fuzz:
	@scripts/fuzz.sh

# target/lambda/<function>/bootstrap.zip for each function, the CodeUri of infra/template.yaml,
# for ARCH (arm64 or x86_64; the last build wins, and make deploy checks it matches ARCH).
# PROFILE=dev (tests: no fat LTO) and LAMBDA_DIR (default target/lambda) leave the zips the
# deploy uses alone.
PROFILE ?= release
LAMBDA_DIR ?=
build:
	$(CARGO) lambda build --profile $(PROFILE) --output-format zip \
	  $(if $(filter arm64,$(ARCH)),--arm64,--x86-64) $(addprefix --bin ,$(FUNCTIONS)) \
	  $(if $(LAMBDA_DIR),--lambda-dir $(LAMBDA_DIR))

# The zip of every function for both architectures (release), side by side: the figures the
# README's choice of the template's default Architecture rests on.
zip-sizes:
	@scripts/zip-sizes.sh

# Deploys infra/template.yaml with the zips of `make build`: `sam deploy` when SAM CLI is
# installed, else awscli's `cloudformation package` (to DEPLOY_BUCKET) and `deploy`. More
# parameters: DEPLOY_PARAMS="CreateAccessEntries=true DryRun=true ...". Never run by tests.
DEPLOY_CAPABILITIES := CAPABILITY_IAM CAPABILITY_NAMED_IAM CAPABILITY_AUTO_EXPAND
deploy:
	@test -n "$(CLUSTER_NAME)" && test -n "$(API_SERVER)" && test -n "$(CERT_AUTHORITY)" || \
	  { echo "make deploy: set CLUSTER_NAME, API_SERVER and CERT_AUTHORITY (README: Deploy)" >&2; exit 2; }
	@for f in $(FUNCTIONS); do test -f target/lambda/$$f/bootstrap.zip || \
	  { echo "make deploy: target/lambda/$$f/bootstrap.zip is missing: make build ARCH=$(ARCH)" >&2; exit 2; }; \
	  scripts/zip-arch.py target/lambda/$$f/bootstrap.zip $(ARCH) || exit 2; done
	@params='ClusterName=$(CLUSTER_NAME) ApiServer=$(API_SERVER) CertAuthority=$(CERT_AUTHORITY) Architecture=$(ARCH) $(DEPLOY_PARAMS)'; \
	if command -v sam >/dev/null; then \
	  set -x; sam deploy --template-file infra/template.yaml --stack-name $(STACK_NAME) \
	    --capabilities $(DEPLOY_CAPABILITIES) --resolve-s3 --no-fail-on-empty-changeset \
	    --parameter-overrides $$params; \
	else \
	  test -n "$(DEPLOY_BUCKET)" || { echo "make deploy: without sam, set DEPLOY_BUCKET (an S3 bucket for the zips)" >&2; exit 2; }; \
	  set -x; aws cloudformation package --template-file infra/template.yaml \
	    --s3-bucket $(DEPLOY_BUCKET) --output-template-file target/lambda/packaged.yaml && \
	  aws cloudformation deploy --template-file target/lambda/packaged.yaml --stack-name $(STACK_NAME) \
	    --capabilities $(DEPLOY_CAPABILITIES) --no-fail-on-empty-changeset \
	    --parameter-overrides $$params; \
	fi
