#!/usr/bin/env bash
# kubectl for the webhook tests (they run `kubectl apply` against the test control plane):
# the one on PATH if there is one, else built from the Go module proxy at the release
# pinned in tools/testcluster/go.mod into .cache/testcluster/<pin>/kubectl. Prints its path.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if command -v kubectl >/dev/null; then
    command -v kubectl
    exit 0
fi
mod="$root/tools/testcluster"
pin="$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -c1-12)"
out="$root/.cache/testcluster/$pin/kubectl"
if [ ! -x "$out" ]; then
    command -v go >/dev/null || { echo "go is needed to build kubectl" >&2; exit 1; }
    version="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v[0-9]/ {print $2; exit} $1 == "require" && $2 == "k8s.io/kubernetes" {print $3; exit}' "$mod/go.mod")"
    ld="-s -w"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ld="$ld -X $pkg.gitVersion=$version -X $pkg.gitTreeState=clean"
    done
    mkdir -p "$(dirname "$out")"
    (cd "$mod" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ld" -o "$out.tmp" k8s.io/kubernetes/cmd/kubectl) >&2
    mv "$out.tmp" "$out"
fi
echo "$out"
