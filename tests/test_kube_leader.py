"""Two controllers against one real cluster: one holds the Lease and acts, the other waits;
SIGKILL of the leader hands over within the lease's duration, and no revision of any
Certificate is issued twice."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from certkeeper.api.certificate import Certificate, CertificateRequest
from certkeeper.api.constants import ANN_REVISION
from certkeeper.store.kube import open_kube_store
from certkeeper.store.kube.client import LEASES

from .daemons import Daemon
from .harness import CA_SETUP, leaf_certificate
from .kubecluster import ControlPlane, wipe_namespaces

pytest_plugins = ["tests.kubecluster"]

LEASE_SECONDS = 6
RETRY_SECONDS = 1
ARGS = [
    "--leader-election-namespace", "default",
    "--leader-election-lease-duration", f"{LEASE_SECONDS}s",
    "--leader-election-renew-deadline", "4s",
    "--leader-election-retry-period", f"{RETRY_SECONDS}s",
    "--kube-api-qps", "0",
]
CLI = [sys.executable, "-m", "certkeeper"]


def holder_of(daemon: Daemon) -> str:
    for line in daemon.lines:
        m = re.search(r"acquired lease \S+ as (\S+);", line)
        if m:
            return m.group(1)
    raise AssertionError("no 'acquired lease' line:\n" + "".join(daemon.lines))


def wait_ready(env: dict[str, str], names: list[str]) -> None:
    subprocess.run(
        [*CLI, "wait", *(f"certificate/{n}" for n in names), "--for", "condition=Ready", "--timeout", "120s"],
        check=True, env=env, capture_output=True,
    )


@pytest.mark.timeout(300)
def test_one_leads_the_other_waits_and_takes_over_after_sigkill(kube_cluster: ControlPlane, tmp_path: Path) -> None:
    wipe_namespaces(kube_cluster)
    env = {k: v for k, v in os.environ.items() if k != "CERTKEEPER_STORE"}
    env["KUBECONFIG"] = str(kube_cluster.kubeconfig)
    first = [f"a{i}" for i in range(10)]
    second = [f"b{i}" for i in range(10)]
    manifests = tmp_path / "first.yaml"
    manifests.write_text(CA_SETUP + "---\n" + "---\n".join(leaf_certificate(n) for n in first))
    subprocess.run([*CLI, "apply", "-f", str(manifests)], check=True, env=env, capture_output=True)

    leader = Daemon(env, ARGS)
    standby: Daemon | None = None
    try:
        assert leader.wait_for("acquired lease", timeout=60), "".join(leader.lines)
        standby = Daemon(env, ARGS)
        assert standby.wait_for("waiting as a standby", timeout=60), "".join(standby.lines)
        wait_ready(env, ["root-ca", *first])

        store = open_kube_store(str(kube_cluster.kubeconfig), qps=0)
        try:
            lease = store.client.json("GET", LEASES.path("default", "certkeeper-controller"))
        finally:
            store.close()
        assert lease["spec"]["holderIdentity"] == holder_of(leader)
        assert not any("starting controllers" in line for line in standby.lines), "".join(standby.lines)

        more = tmp_path / "second.yaml"
        more.write_text("---\n".join(leaf_certificate(n) for n in second))
        subprocess.run([*CLI, "apply", "-f", str(more)], check=True, env=env, capture_output=True)
        leader.proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        leader.proc.wait()
        assert standby.wait_for("acquired lease", timeout=LEASE_SECONDS + 30), "".join(standby.lines)
        took = time.monotonic() - killed
        # client-go's rule: free once unrenewed for the duration, tried every retry period
        assert took <= LEASE_SECONDS + 2 * RETRY_SECONDS + 1, took
        assert holder_of(standby) != holder_of(leader)
        wait_ready(env, ["root-ca", *first, *second])
    finally:
        if leader.proc.poll() is None:
            leader.proc.kill()
        if standby is not None:
            assert standby.stop() == 0, "".join(standby.lines)

    store = open_kube_store(str(kube_cluster.kubeconfig), qps=0)
    try:
        for cert in store.list(Certificate, "default"):
            requests = [cr for cr in store.list(CertificateRequest, "default") if cr.is_controlled_by(cert)]
            revisions = sorted(int(cr.annotations()[ANN_REVISION]) for cr in requests)
            # contiguous and each once: no revision was issued by both daemons
            assert revisions == list(range(1, len(revisions) + 1)), (cert.name, revisions)
            assert cert.status is not None and cert.status.revision == revisions[-1], cert.name
    finally:
        store.close()
