"""Killed at any point, the daemon converges when started again: every Certificate Ready,
no Secret whose tls.key does not match its tls.crt, no orphaned temporary key Secrets.

Two ways: in-process, the store "dies" right after its N-th write for every N through a
whole issuance (deterministic, covers every write point); and the real daemon process
killed with SIGKILL while it issues. Both on the SQLite store and on a real Kubernetes
API server.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from certkeeper.api.certificate import Certificate
from certkeeper.api.constants import LABEL_NEXT_PRIVATE_KEY
from certkeeper.api.core import TLS_CERT, TLS_KEY, Secret
from certkeeper.api.meta import get_condition
from certkeeper.pki.chain import parse_certificates
from certkeeper.pki.keys import decode_private_key, public_keys_equal
from certkeeper.store.sqlite import SqliteStore

from .daemons import NO_PORTS, Daemon
from .harness import BACKENDS, CA_SETUP, Harness, leaf_certificate
from .kubecluster import wait_collected, wipe_namespaces

pytest_plugins = ["tests.kubecluster"]


class Crash(BaseException):
    """Stands for the process dying: nothing after it runs."""


class CrashingStore:
    """Proxy that lets exactly ``budget`` writes through, then dies right after the last."""

    WRITES = ("create", "update", "update_status", "delete", "apply")

    def __init__(self, inner: Any, budget: int) -> None:
        self._inner = inner
        self.budget = budget
        self.writes = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in self.WRITES:
            return attr

        def write(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            self.writes += 1
            if self.writes >= self.budget:
                raise Crash(f"killed after write {self.writes}")
            return result

        return write


def assert_converged(store: Any, namespace: str = "default") -> None:
    certs = store.list(Certificate, namespace)
    assert certs
    for cert in certs:
        ready = get_condition(cert.status.conditions if cert.status else None, "Ready")
        assert ready is not None and ready.status == "True", (cert.name, ready)
        secret = store.get(Secret, cert.namespace, cert.spec.secret_name or "")
        key = decode_private_key(secret.get(TLS_KEY) or b"")
        leaf = parse_certificates(secret.get(TLS_CERT) or b"")[0]
        assert public_keys_equal(leaf.public_key(), key), f"{cert.name}: key and certificate differ"
    assert store.list(Secret, namespace, {LABEL_NEXT_PRIVATE_KEY: "true"}) == []


@pytest.fixture(params=BACKENDS)
def cluster(request: pytest.FixtureRequest) -> Any:
    """None for the SQLite store, or the real control plane."""
    return request.getfixturevalue("kube_cluster") if request.param == "kube" else None


def crash_after(h: Harness, budget: int) -> CrashingStore:
    """Every controller of ``h`` writes through a store that dies after ``budget`` writes."""
    crashing = CrashingStore(h.store, budget)
    h.manager.ctx.store = crashing  # type: ignore[assignment]
    for c in h.manager.controllers:
        c.store = crashing  # type: ignore[assignment]
    return crashing


def count_writes(tmp: Path, cluster: Any) -> int:
    h = Harness(tmp, cluster)
    counter = crash_after(h, 10**9)
    h.apply(CA_SETUP)
    h.apply(leaf_certificate("web"))
    h.settle()
    writes = counter.writes
    h.close()
    return writes


@pytest.mark.timeout(900)  # on the cluster: a fresh start for each of ~27 write points
def test_killed_after_every_write_converges(tmp_path: Path, cluster: Any) -> None:
    killed_after_every_write(tmp_path, cluster, batched=False)


def test_killed_after_every_write_of_batched_reconciles_converges(tmp_path: Path) -> None:
    """As the daemon's main worker runs on SQLite: reconciles share commits, so a death
    undoes every write since the last commit; what is left must be as safe as after any
    single write."""
    (tmp_path / "batches").mkdir()
    h = Harness(tmp_path / "batches", None)
    commits = 0
    transaction = h.store.transaction

    def counted() -> Any:
        nonlocal commits
        commits += 1
        return transaction()

    h.store.transaction = counted  # type: ignore[method-assign]
    counter = crash_after(h, 10**9)
    h.apply(CA_SETUP)
    h.apply(leaf_certificate("web"))
    h.settle(batched=True)
    h.close()
    assert 0 < commits < counter.writes, (commits, counter.writes)
    killed_after_every_write(tmp_path, None, batched=True)


def killed_after_every_write(tmp_path: Path, cluster: Any, batched: bool) -> None:
    (tmp_path / "count").mkdir()
    total = count_writes(tmp_path / "count", cluster)
    assert total > 20, total
    print(f"one CA bootstrap plus one leaf issuance = {total} store writes")
    for budget in range(1, total + 1):
        folder = tmp_path / f"run-{budget}"
        folder.mkdir()
        h = Harness(folder, cluster)
        h.apply(CA_SETUP)
        h.apply(leaf_certificate("web"))
        crash_after(h, budget)
        with pytest.raises(Crash):
            h.settle(batched=batched)
        h.manager.stop()
        # at the moment of death, no Secret holds a key beside another issuance's certificate
        for secret in h.store.list(Secret, "default"):
            if secret.get(TLS_KEY) and secret.get(TLS_CERT):
                key = decode_private_key(secret.get(TLS_KEY) or b"")
                leaf = parse_certificates(secret.get(TLS_CERT) or b"")[0]
                assert public_keys_equal(leaf.public_key(), key), (budget, secret.name)
        h.store.close()
        # a new daemon on the same store file
        again = Harness(folder, cluster, wipe=False)
        again.settle()
        assert_converged(again.store)
        again.close()


@pytest.mark.timeout(400)
def test_sigkill_during_issuance_converges(tmp_path: Path, cluster: Any) -> None:
    """The real daemon process, SIGKILLed repeatedly at random moments while it issues 40
    certificates, then started once more: everything converges."""
    manifests = tmp_path / "m.yaml"
    manifests.write_text(CA_SETUP + "---\n" + "---\n".join(leaf_certificate(f"c{i}") for i in range(40)))
    cli = [sys.executable, "-m", "certkeeper"]
    run_args: list[str] = []
    if cluster is None:
        db = tmp_path / "store.db"
        env = {**os.environ, "CERTKEEPER_STORE": str(db)}
        window = (0.3, 1.5)
    else:
        wipe_namespaces(cluster)
        env = {k: v for k, v in os.environ.items() if k != "CERTKEEPER_STORE"}
        env["KUBECONFIG"] = str(cluster.kubeconfig)
        # a killed leader's Lease is taken over once it has not been renewed for its duration
        run_args = [
            "--leader-election-namespace", "default", "--leader-election-lease-duration", "4s",
            "--leader-election-renew-deadline", "3s", "--leader-election-retry-period", "1s",
            "--kube-api-qps", "0",
        ]
        # the daemon lists every kind before it acts: the kills must land after that
        window = (2.0, 8.0)
    subprocess.run([*cli, "apply", "-f", str(manifests)], check=True, env=env, capture_output=True)
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"kill moments from seed {seed}")
    for _ in range(5):
        proc = subprocess.Popen([*cli, "run", *NO_PORTS, *run_args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(*window))  # where the kill lands is the point of the test, not a race to hide
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    daemon = Daemon(env, run_args)
    try:
        # the certificates may all be Ready from the killed runs already; what is checked is
        # that this daemon starts on what they left and stops cleanly
        assert daemon.wait_for("serving in", timeout=90), "".join(daemon.lines)
        names = [f"certificate/c{i}" for i in range(40)] + ["certificate/root-ca"]
        subprocess.run(
            [*cli, "wait", *names, "--for", "condition=Ready", "--timeout", "120s"],
            check=True, env=env, capture_output=True,
        )
    finally:
        assert daemon.stop() == 0, "".join(daemon.lines)
    if cluster is None:
        store: Any = SqliteStore(tmp_path / "store.db")
    else:
        from certkeeper.store.kube import open_kube_store

        store = open_kube_store(str(cluster.kubeconfig), qps=0)
        # the garbage collector removes what belonged to objects that are gone
        assert wait_collected(store)
    try:
        assert_converged(store)
    finally:
        store.close()
