#!/usr/bin/env bash
# A real Kubernetes control plane on loopback for a person to try certkeeper against:
#   scripts/testcluster.sh up DIR     # builds it the first time, prints KUBECONFIG=DIR/admin.kubeconfig
#   scripts/testcluster.sh down DIR
set -euo pipefail
cd "$(dirname "$0")/.."
py=python3
[ -x .venv/bin/python ] && py=.venv/bin/python
exec "$py" -m tests.kubecluster "$@"
