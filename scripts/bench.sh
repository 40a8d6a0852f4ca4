#!/usr/bin/env bash
# `make bench`: builds release binaries with the workspace profile and prints figures.
# Measures only; nothing here passes or fails on a number.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "# make bench — $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -m)"
cargo build -q --release -p lambda-support -p eks-auth -p testbed --bins
cargo bench -q -p eks-auth --bench token 2>/dev/null
target/release/suite-bench --release-dir target/release
