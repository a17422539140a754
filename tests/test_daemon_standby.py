"""Two daemons on one store: the second waits as a standby and takes over at once when the
first dies, even by SIGKILL (the real ``certkeeper run`` processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from certkeeper.api.certificate import Certificate
from certkeeper.api.meta import get_condition
from certkeeper.store.base import WatchEvent
from certkeeper.store.sqlite import SqliteStore

from .daemons import CLI, NO_PORTS, Daemon
from .harness import CA_SETUP, leaf_certificate


def wait_ready(store: SqliteStore, name: str, timeout: float = 60) -> bool:
    done = threading.Event()

    def check(cert: Certificate) -> None:
        cond = get_condition(cert.status.conditions if cert.status else None, "Ready")
        if cert.name == name and cond is not None and cond.status == "True":
            done.set()

    def on_event(event: WatchEvent) -> None:
        if isinstance(event.obj, Certificate):
            check(event.obj)

    stop = store.watch(on_event)
    try:
        existing = store.try_get(Certificate, "default", name)
        if existing is not None:
            check(existing)
        return done.wait(timeout)
    finally:
        stop()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    yield {**os.environ, "CERTKEEPER_STORE": str(tmp_path / "store.db")}


def test_second_daemon_is_a_standby_and_takes_over_after_sigkill(tmp_path: Path, env: dict[str, str]) -> None:
    manifests = tmp_path / "ca.yaml"
    manifests.write_text(CA_SETUP)
    subprocess.run([*CLI, "apply", "-f", str(manifests)], env=env, check=True, capture_output=True)
    first = Daemon(env)
    second: Daemon | None = None
    store = SqliteStore(tmp_path / "store.db")
    try:
        assert first.wait_for("serving in")
        assert wait_ready(store, "root-ca")
        second = Daemon(env)
        assert second.wait_for("waiting as a standby")
        assert not any("serving in" in line for line in second.lines)

        first.stop(signal.SIGKILL)
        assert second.wait_for("serving in"), "".join(second.lines)
        leaf = tmp_path / "leaf.yaml"
        leaf.write_text(leaf_certificate("after"))
        subprocess.run([*CLI, "apply", "-f", str(leaf)], env=env, check=True, capture_output=True)
        assert wait_ready(store, "after"), "".join(second.lines)
        assert second.stop() == 0
    finally:
        first.stop(signal.SIGKILL)
        if second is not None:
            second.stop(signal.SIGKILL)
        store.close()


def test_disable_auto_approval_waits_for_certkeeper_approve(tmp_path: Path, env: dict[str, str]) -> None:
    manifests = tmp_path / "m.yaml"
    selfsigned = CA_SETUP.split("---")[0]
    manifests.write_text(selfsigned + "---\n" + leaf_certificate("web", issuerRef={"name": "selfsigned"}))
    subprocess.run([*CLI, "apply", "-f", str(manifests)], env=env, check=True, capture_output=True)
    proc = subprocess.Popen([*CLI, "run", *NO_PORTS, "--disable-auto-approval", "--http01-address", ""], env=env,
                            stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    store = SqliteStore(tmp_path / "store.db")
    try:
        from certkeeper.api.certificate import CertificateRequest

        created = threading.Event()

        def on_event(event: WatchEvent) -> None:
            if event.kind == "CertificateRequest" and event.name == "web-1":
                created.set()

        stop = store.watch(on_event)
        try:
            assert created.wait(30) or store.try_get(CertificateRequest, "default", "web-1") is not None
        finally:
            stop()
        # bounded wait for something that must not happen: issuance without approval
        assert not wait_ready(store, "web", timeout=2), "issued without approval"
        cr = store.get(CertificateRequest, "default", "web-1")
        assert get_condition(cr.status.conditions if cr.status else None, "Approved") is None
        out = subprocess.run([*CLI, "approve", "web-1"], env=env, check=True, capture_output=True, text=True)
        assert "Approved" in out.stdout or "approved" in out.stdout
        assert wait_ready(store, "web")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        store.close()
