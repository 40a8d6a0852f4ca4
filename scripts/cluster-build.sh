#!/usr/bin/env bash
# Builds the real Kubernetes control plane the tests and the demo run on, from the Go modules
# pinned in tools/cluster (go.mod, go.sum) and KWOK_VERSION below: kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, etcd, kwok and aws-iam-authenticator. Nothing prebuilt is fetched.
#
# The binaries go to a directory named after the hash of tools/cluster, so a second run (or a
# fresh clone on the same machine) finds them and returns at once; Go's own caches
# (GOCACHE, GOMODCACHE) make a rebuild after a pin change incremental. Prints the directory.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/tools/cluster"
key="$(cat "$src/go.mod" "$src/go.sum" "$src"/etcd/*.go "$0" | sha256sum | cut -c1-16)"
out="${CLUSTER_BIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/k8s-lambda-autoscalers/cluster-$key}"
KWOK_VERSION=v0.7.0
bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok aws-iam-authenticator)

ready() { local b; for b in "${bins[@]}"; do [[ -x "$out/$b" ]] || return 1; done; }
if ready; then echo "$out"; exit 0; fi

log() { printf 'cluster-build: %s\n' "$*" >&2; }
log "building ${bins[*]} into $out (first time: about 15 min on 2 cores; cached afterwards)"
start=$(date +%s)
tmp="$out.tmp.$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
cd "$src"
# go.sum pins every module; the checksum database is only consulted for modules missing there.
export GOFLAGS=-mod=readonly CGO_ENABLED=0
go build -trimpath -ldflags='-s -w' -o "$tmp/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubectl \
  ./etcd \
  sigs.k8s.io/aws-iam-authenticator/cmd/aws-iam-authenticator
# KWOK v0.7.0 is built against Kubernetes v0.33 libraries (it does not compile against v0.34's),
# so with its own go.mod, pinned by version.
GOFLAGS= GOBIN="$tmp" go install -trimpath -ldflags='-s -w' "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
# Earlier pins' binaries (about 500 MB each) are of no further use.
for old in "$(dirname "$out")"/cluster-*; do
  [[ "$old" == "$out" || "$old" == *.tmp.* ]] || rm -rf "$old"
done
ready
log "built in $(( $(date +%s) - start )) s"
echo "$out"
