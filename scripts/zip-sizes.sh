#!/usr/bin/env bash
# `make zip-sizes`: `make build` (release, the workspace profile) for x86_64 and for arm64, each
# into its own lambda dir (target/lambda, the deploy's, is left alone), then one table of the
# six zips' sizes. The README's choice of the template's default Architecture cites it.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
for arch in x86_64 arm64; do
  make -s build ARCH=$arch LAMBDA_DIR="$target/zip-sizes/$arch" >/dev/null
  for zip in "$target"/zip-sizes/$arch/*/bootstrap.zip; do scripts/zip-arch.py "$zip" $arch; done
done
python3 - "$target/zip-sizes" <<'PY'
import os, sys
base = sys.argv[1]
functions = sorted(os.listdir(os.path.join(base, "x86_64")))
size = lambda arch, f: os.path.getsize(os.path.join(base, arch, f, "bootstrap.zip")) / 1e6
print("| function | x86_64 zip | arm64 zip | arm64 ÷ x86_64 |")
print("|---|---|---|---|")
for f in functions:
    x, a = size("x86_64", f), size("arm64", f)
    print(f"| {f} | {x:.2f} MB | {a:.2f} MB | {a / x:.2f} |")
x = sum(size("x86_64", f) for f in functions)
a = sum(size("arm64", f) for f in functions)
print(f"| all six | {x:.2f} MB | {a:.2f} MB | {a / x:.2f} |")
PY
