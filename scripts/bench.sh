#!/usr/bin/env bash
# `make bench`: builds release binaries with the workspace profile and prints figures, and
# writes them to BENCHMARKS.md. Measures only; nothing here passes or fails on a number.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
{
echo "# Benchmarks"
echo
echo "Written by \`make bench\` ($(basename "$0")) on $(date -u +%Y-%m-%dT%H:%MZ): $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -m). Figures are medians of repeated runs with the interquartile spread where the table has one. Nothing is asserted."
echo
} | tee "$out"

section() { printf '\n## %s\n\n`%s`\n\n' "$1" "$2" | tee -a "$out"; }

target="${CARGO_TARGET_DIR:-target}"
cargo build -q --release --workspace --bins
section "Start-up, memory, sizes; eks-token vs aws eks get-token" "target/release/suite-bench --release-dir target/release"
"$target/release/suite-bench" --release-dir "$target/release" | tee -a "$out"
section "Token generation per call" "cargo bench -p eks-auth --bench token"
cargo bench -q -p eks-auth --bench token 2>/dev/null | tee -a "$out"
section "Testbed API server throughput" "cargo bench -p testbed --bench apiserver"
cargo bench -q -p testbed --bench apiserver 2>/dev/null | tee -a "$out"

# End-to-end figures per function against the stand-ins: #[ignore]d test targets named
# `bench`, built with the `measure` profile (release optimisation, no fat LTO).
for crate in alarm-scaler concurrency-scaler queue-scaler iam-sync node-autoscaler; do
  [[ -f crates/$crate/tests/bench.rs ]] || continue
  cmd="cargo test --profile measure -p $crate --test bench -- --ignored --nocapture --test-threads 1"
  section "$crate against the stand-ins" "$cmd"
  $cmd 2>/dev/null | grep -vE '^(running [0-9]+ test|test |$)' | tee -a "$out"
done
cp "$out" BENCHMARKS.md
echo
echo "wrote BENCHMARKS.md"
