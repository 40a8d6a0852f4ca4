#!/usr/bin/env bash
# `make bench`: builds release binaries with the workspace profile and prints figures, and
# writes them into BENCHMARKS.md between its `make bench` markers (the rest of the file, the
# commentary on those figures, is kept). Measures only; nothing passes or fails on a number.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
{
echo "## Latest \`make bench\` run"
echo
echo "Written by \`make bench\` ($(basename "$0")) on $(date -u +%Y-%m-%dT%H:%MZ): $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -m). Figures are medians of repeated runs with the interquartile spread where the table has one. Nothing is asserted."
echo
} | tee "$out"

section() { printf '\n### %s\n\n`%s`\n\n' "$1" "$2" | tee -a "$out"; }

target="${CARGO_TARGET_DIR:-target}"
# Exactly the binaries measured, as `make build` selects them (one resolution of features):
# the six functions, the bare-runtime floor, the cold-start comparison functions and the
# bench driver; then eks-token on its own,
# whose `cli` feature (SSO, credential_process) must not reach the functions' binaries.
cold=$(for s in sqs cloudwatch iam sqs-lambda dynamodb; do echo cold-floor-$s cold-defaults-$s; done)
cargo build -q --release $(printf -- '--bin %s ' alarm-scaler alarm-sync iam-sync node-autoscaler \
  concurrency-scaler queue-scaler lambda-floor $cold suite-bench)
cargo build -q --release --bin eks-token
section "Start-up, memory, sizes; eks-token vs aws eks get-token; cold start, whole" "target/release/suite-bench --release-dir target/release"
"$target/release/suite-bench" --release-dir "$target/release" | tee -a "$out"
section "Token generation per call" "cargo bench -p eks-auth --bench token"
cargo bench -q -p eks-auth --bench token 2>/dev/null | tee -a "$out"

# End-to-end figures per function against the stand-ins: the #[ignore]d tests of the `bench`
# module of each crate's one test binary (`tests/it`), built with the `measure` profile
# (release optimisation, no fat LTO).
for crate in alarm-scaler concurrency-scaler queue-scaler iam-sync node-autoscaler; do
  [[ -f crates/$crate/tests/it/bench.rs ]] || continue
  cmd="cargo test --profile measure -p $crate --test it -- bench:: --ignored --nocapture --test-threads 1"
  section "$crate against the stand-ins" "$cmd"
  $cmd 2>/dev/null | grep -vE '^(running [0-9]+ test|test |$)' | tee -a "$out"
done
python3 - "$out" <<'PY'
import os, sys
begin, end = "<!-- make bench: begin -->", "<!-- make bench: end -->"
run = open(sys.argv[1]).read().rstrip() + "\n"
doc = open("BENCHMARKS.md").read() if os.path.exists("BENCHMARKS.md") else "# Benchmarks\n"
if begin in doc and end in doc:
    doc = doc[: doc.index(begin)] + begin + "\n" + run + doc[doc.index(end):]
else:
    doc = doc.rstrip() + "\n\n" + begin + "\n" + run + end + "\n"
open("BENCHMARKS.md", "w").write(doc)
PY
echo
echo "wrote the make bench section of BENCHMARKS.md"
