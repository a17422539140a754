#!/usr/bin/env bash
# Install certkeeper, store the example issuers and certificates, and run the daemon:
# certificates appear as files under ./quickstart-certs/<namespace>/<secret>/ and are
# renewed before they expire. Ctrl-C stops it; run it again to carry on where it was.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/certkeeper ]; then
    python3 -m venv .venv
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -e .
fi
export CERTKEEPER_STORE="${CERTKEEPER_STORE:-$PWD/quickstart-certs/store.db}"
mkdir -p "$(dirname "$CERTKEEPER_STORE")"
.venv/bin/certkeeper apply -f examples/quickstart/
exec .venv/bin/certkeeper run --secrets-dir "$PWD/quickstart-certs" \
    --on-renew 'echo "renewed $CERTKEEPER_NAMESPACE/$CERTKEEPER_CERTIFICATE in $CERTKEEPER_DIR"' "$@"
