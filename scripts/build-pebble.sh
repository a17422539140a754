#!/usr/bin/env bash
# Builds the current Pebble (profiles, ARI) from the Go module proxy at the release pinned
# in tools/pebble/go.mod, into .cache/pebble/<pin>/bin. A build is reused until the pin
# (go.mod or go.sum) changes; prints the bin folder.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mod="$root/tools/pebble"
pin="$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -c1-12)"
out="$root/.cache/pebble/$pin/bin"
if [ -x "$out/pebble" ]; then
    echo "$out"
    exit 0
fi
command -v go >/dev/null || { echo "go is needed to build the current Pebble" >&2; exit 1; }
tmp="$out.tmp.$$"
rm -rf "$tmp" && mkdir -p "$tmp"
start=$(date +%s)
(
    cd "$mod"
    export CGO_ENABLED=0 GOFLAGS=-mod=mod
    go build -trimpath -ldflags "-s -w" -o "$tmp/pebble" github.com/letsencrypt/pebble/v2/cmd/pebble
) >&2
rm -rf "$out" && mv "$tmp" "$out"
echo "built Pebble $(awk '$1 == "github.com/letsencrypt/pebble/v2" {print $2}' "$mod/go.mod") in $(( $(date +%s) - start )) s" >&2
echo "$out"
