#!/usr/bin/env bash
# Prints the folder of the standard-channel Gateway API CRDs of the release pinned in
# tools/gatewayapi/go.mod, downloading that Go module (checked against go.sum) into the
# Go module cache the first time. The tests install these files as they are.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mod="$root/tools/gatewayapi"
command -v go >/dev/null || { echo "go is needed to fetch the Gateway API CRDs" >&2; exit 1; }
dir="$(cd "$mod" && GOFLAGS=-mod=readonly go mod download -json sigs.k8s.io/gateway-api \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -d "$dir/config/crd/standard" ] || { echo "no CRDs in the gateway-api module at '$dir'" >&2; exit 1; }
echo "$dir/config/crd/standard"
