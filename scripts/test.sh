#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs the test peers (Pebble, BIND, certbot,
# lego from Debian when run as root), the Python packages, then lint, types and tests.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for bin in pebble named tsig-keygen dig lego certbot pdns_server; do
    command -v "$bin" >/dev/null 2>&1 || need+=("$bin")
done
if [ "${#need[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            pebble bind9 bind9-utils dnsutils lego certbot python3-certbot-dns-rfc2136 \
            pdns-server pdns-backend-sqlite3 >/dev/null
    else
        echo "missing test peers (${need[*]}); install them as root or their tests are skipped" >&2
    fi
fi
if [ ! -x .venv/bin/pytest ]; then
    python3 -m venv .venv
    .venv/bin/pip install -q --upgrade pip
fi
.venv/bin/pip install -q -e '.[test]'
export PATH="$PWD/.venv/bin:$PATH"
# the real Kubernetes control plane (kube-apiserver, kube-controller-manager, etcd) the
# Kubernetes tests run against: built from the Go module proxy once, then cached
bash scripts/build-testcluster.sh >/dev/null
# kubectl, for the webhook tests' `kubectl apply` (PATH's, or built at the same pin)
KUBECTL="$(bash scripts/build-kubectl.sh)"
export KUBECTL
# the Gateway API CRDs of the pinned release (the gateway-shim tests), into Go's module cache
bash scripts/gateway-api-crds.sh >/dev/null
# the current Pebble (profiles, ARI) from the Go module proxy, cached by its pin
bash scripts/build-pebble.sh >/dev/null
ruff check src tests bench
mypy
exec pytest -q -p no:cacheprovider "$@"
