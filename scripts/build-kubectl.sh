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
    (cd "$mod" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$out.tmp" k8s.io/kubernetes/cmd/kubectl) >&2
    mv "$out.tmp" "$out"
fi
echo "$out"
