#!/usr/bin/env bash
# Installs what `make test` and `make demo` need, pinned, skipping what is already there.
# Idempotent: a second run on a ready machine checks versions and returns in about a second.
set -euo pipefail

MOTO_VERSION=5.2.1
CARGO_LAMBDA_VERSION=1.9.2
CBOR2_VERSION=6.3.0
CFN_LINT_VERSION=1.51.0
NEXTEST_VERSION=0.9.151
# arm64 (Graviton): cargo-lambda cross-compiles with zig, whose PyPI package is `ziglang`;
# qemu-user runs the result in tests, with Debian's arm64 C library as its sysroot.
ZIGLANG_VERSION=0.15.1
ARM64_TARGET=aarch64-unknown-linux-gnu

log() { printf 'setup: %s\n' "$*" >&2; }

pip_pkgs=()
py_has() { python3 - "$1" "$2" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if version(sys.argv[1]) == sys.argv[2] else 1)
PY
}
py_has moto "$MOTO_VERSION" && py_has flask-cors "$(python3 -c 'from importlib.metadata import version; print(version("flask-cors"))' 2>/dev/null || echo none)" \
  || pip_pkgs+=("moto[server]==$MOTO_VERSION")
py_has cbor2 "$CBOR2_VERSION" || pip_pkgs+=("cbor2==$CBOR2_VERSION")
py_has cargo-lambda "$CARGO_LAMBDA_VERSION" || pip_pkgs+=("cargo-lambda==$CARGO_LAMBDA_VERSION")
py_has cfn-lint "$CFN_LINT_VERSION" || pip_pkgs+=("cfn-lint==$CFN_LINT_VERSION")
py_has ziglang "$ZIGLANG_VERSION" || pip_pkgs+=("ziglang==$ZIGLANG_VERSION")
if ((${#pip_pkgs[@]})); then
  log "pip install ${pip_pkgs[*]}"
  python3 -m pip install --quiet --disable-pip-version-check "${pip_pkgs[@]}"
fi

apt_pkgs=()
command -v prometheus >/dev/null && command -v promtool >/dev/null || apt_pkgs+=(prometheus)
command -v faketime >/dev/null || apt_pkgs+=(faketime)
command -v qemu-aarch64 >/dev/null || apt_pkgs+=(qemu-user)
[[ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ]] || apt_pkgs+=(libc6-arm64-cross)
if ((${#apt_pkgs[@]})); then
  log "apt-get install ${apt_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" >/dev/null
  # The Debian package starts a system Prometheus on :9090; the suite starts its own.
  (systemctl disable --now prometheus || service prometheus stop || pkill -x prometheus) >/dev/null 2>&1 || true
fi

[[ "$(cargo-nextest nextest --version 2>/dev/null | awk 'NR==1{print $2}')" == "$NEXTEST_VERSION" ]] \
  || { log "cargo install cargo-nextest $NEXTEST_VERSION"; cargo install --quiet --locked "cargo-nextest@$NEXTEST_VERSION"; }
rustup target list --installed 2>/dev/null | grep -qx "$ARM64_TARGET" \
  || { log "rustup target add $ARM64_TARGET"; rustup target add "$ARM64_TARGET" >/dev/null; }
command -v aws >/dev/null || { log "pip install awscli"; python3 -m pip install --quiet awscli; }
# The real control plane (kube-apiserver, etcd, controller manager, scheduler, kubectl, KWOK,
# aws-iam-authenticator), built from Go modules; a no-op when the pinned build is there.
cluster_bin="$("$(dirname "$0")/cluster-build.sh")"
# kubectl for people and scripts: the cluster's own, where the machine has none.
command -v kubectl >/dev/null || ln -sf "$cluster_bin/kubectl" /usr/local/bin/kubectl
hash -r
log "ready: moto $MOTO_VERSION, cargo-lambda $(cargo lambda --version 2>/dev/null | awk '{print $2}'), cfn-lint $CFN_LINT_VERSION, $(prometheus --version 2>&1 | head -1 | awk '{print $1, $3}'), faketime, cargo-nextest $NEXTEST_VERSION, zig $ZIGLANG_VERSION + qemu-aarch64 ($ARM64_TARGET), control plane in $cluster_bin"
