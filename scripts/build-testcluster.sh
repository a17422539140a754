#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager and etcd from the Go module proxy at the
# release pinned in tools/testcluster/go.mod, into .cache/testcluster/<pin>/bin.
# A build is reused until the pin (go.mod or go.sum) changes; prints the bin folder.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mod="$root/tools/testcluster"
pin="$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -c1-12)"
out="$root/.cache/testcluster/$pin/bin"
if [ -x "$out/kube-apiserver" ] && [ -x "$out/kube-controller-manager" ] && [ -x "$out/etcd" ]; then
    echo "$out"
    exit 0
fi
command -v go >/dev/null || { echo "go is needed to build the test control plane" >&2; exit 1; }
version="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v[0-9]/ {print $2; exit} $1 == "require" && $2 == "k8s.io/kubernetes" {print $3; exit}' "$mod/go.mod")"
[ -n "$version" ] || { echo "no k8s.io/kubernetes version in $mod/go.mod" >&2; exit 1; }
major="${version#v}"; major="${major%%.*}"
minor="${version#v*.}"; minor="${minor%%.*}"
ld="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ld="$ld -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
tmp="$out.tmp.$$"
rm -rf "$tmp" && mkdir -p "$tmp"
start=$(date +%s)
(
    cd "$mod"
    export CGO_ENABLED=0 GOFLAGS=-mod=mod
    go build -trimpath -ldflags "$ld" -o "$tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
    go build -trimpath -ldflags "$ld" -o "$tmp/kube-controller-manager" k8s.io/kubernetes/cmd/kube-controller-manager
    go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3
) >&2
rm -rf "$out" && mv "$tmp" "$out"
echo "built the test control plane $version in $(( $(date +%s) - start )) s" >&2
echo "$out"
