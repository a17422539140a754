"""``/livez`` and ``/readyz``: what the Deployment's probes ask (deploy/30-deployment.yaml)."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from certkeeper.health import Health, HealthServer, start_health

from .daemons import NO_PORTS
from .test_cli_run import _cli, _env, daemon
from .test_cli_support import ISSUER_AND_CERT, certkeeper_command
from .test_metrics import free_port


class FakeNow:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def get_until(port: int, path: str, code: int, timeout: float = 60) -> tuple[int, str]:
    """The daemon reaches each state on its own thread: ask until it answers ``code``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = get(port, path)
        except OSError:  # not listening yet
            answer = (0, "")
        if answer[0] == code or time.monotonic() > deadline:
            return answer
        threading.Event().wait(0.05)


def test_live_until_the_loop_stalls_and_again_after_a_beat() -> None:
    now = FakeNow()
    h = Health(stall_after=30, now=now)
    assert h.live() == (True, "ok")
    now.t += 30
    assert h.live()[0]
    now.t += 1
    live, why = h.live()
    assert not live
    assert "has not turned for 31s (limit 30s)" in why
    h.beat()
    assert h.live() == (True, "ok")


def test_ready_only_when_set_and_live() -> None:
    now = FakeNow()
    h = Health(stall_after=30, now=now)
    assert h.ready() == (False, "starting")
    h.set_ready(True)
    assert h.ready() == (True, "ok")
    now.t += 31
    assert not h.ready()[0]  # a wedged daemon is not ready either
    h.beat()
    h.set_ready(False, "stopping")
    assert h.ready() == (False, "stopping")


def test_a_leader_whose_lease_goes_unrenewed_past_duration_plus_timeout_is_not_live() -> None:
    """client-go's leader-election watchdog, as cert-manager's livez: a standby (no lease
    watched) stays live whatever the lease does."""
    now = FakeNow()
    h = Health(stall_after=1000, now=now)
    renewed: list[float | None] = [None]
    h.watch_lease(lambda: renewed[0], limit=80)
    now.t += 500
    assert h.live() == (True, "ok")  # never renewed yet: nothing to measure from
    renewed[0] = now.t
    now.t += 80
    assert h.live() == (True, "ok")
    now.t += 1
    assert h.live() == (False, "the leader lease has not been renewed for 81s (limit 80s)")
    assert not h.ready()[0]
    renewed[0] = now.t
    assert h.live() == (True, "ok")
    now.t += 100
    h.watch_lease(None, 0)  # stopped leading
    assert h.live() == (True, "ok")


@pytest.fixture
def served() -> Iterator[tuple[Health, FakeNow, int]]:
    now = FakeNow()
    health = Health(stall_after=30, now=now)
    server = HealthServer(health)
    server.start("127.0.0.1:0")
    yield health, now, server.port
    server.stop()


def test_endpoint_answers_200_or_503_with_the_reason(served: tuple[Health, FakeNow, int]) -> None:
    health, now, port = served
    assert get(port, "/livez") == (200, "ok\n")
    assert get(port, "/healthz") == (200, "ok\n")
    assert get(port, "/readyz") == (503, "starting\n")
    health.set_ready(True)
    assert get(port, "/readyz?verbose") == (200, "ok\n")
    now.t += 60
    code, text = get(port, "/livez")
    assert code == 503
    assert "has not turned" in text
    assert get(port, "/metrics")[0] == 404


def test_a_taken_port_is_an_error_naming_the_address_and_the_daemon_keeps_issuing(tmp_path: Path) -> None:
    """controller-runtime would stop; certkeeper keeps its certificates renewed and says
    in the log which address and which flag (docs/running-on-a-host.md)."""
    store = tmp_path / "store.db"
    assert _cli(store, "apply", "-f", "-", input=ISSUER_AND_CERT).returncode == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with daemon(store, "--healthz-listen-address", f"127.0.0.1:{port}") as (proc, lines):
            assert any(f"ERROR certkeeper.health: /livez and /readyz are off: cannot serve on 127.0.0.1:{port} "
                       "(--healthz-listen-address)" in line for line in lines), lines
            r = _cli(store, "wait", "certificate/foo", "--for", "condition=Ready", "--timeout", "60s")
            assert r.returncode == 0, r.stderr
            assert proc.poll() is None
            proc.terminate()
            assert proc.wait(timeout=60) == 0


def test_a_taken_port_disables_the_endpoint_only() -> None:
    first = start_health(Health(stall_after=30), "127.0.0.1:0")
    assert first is not None
    try:
        assert start_health(Health(stall_after=30), f"127.0.0.1:{first.port}") is None
        assert start_health(Health(stall_after=30), "") is None
    finally:
        first.stop()


def test_run_is_ready_as_leader_and_as_standby_and_stops_serving_on_exit(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    assert _cli(store, "apply", "-f", "-", input=ISSUER_AND_CERT).returncode == 0
    leader_port, standby_port = free_port(), free_port()
    with daemon(store, "--healthz-listen-address", f"127.0.0.1:{leader_port}") as (leader, _):
        assert get_until(leader_port, "/readyz", 200) == (200, "ok\n")
        assert get(leader_port, "/livez") == (200, "ok\n")
        standby = subprocess.Popen(
            [*certkeeper_command(), "run", "--http01-address", "", *NO_PORTS,
             "--healthz-listen-address", f"127.0.0.1:{standby_port}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(store),
        )
        try:
            assert standby.stderr is not None
            for line in standby.stderr:
                if "waiting as a standby" in line:
                    break
            assert get_until(standby_port, "/readyz", 200) == (200, "ok\n")
        finally:
            standby.terminate()
            assert standby.wait(timeout=60) == 0
        leader.terminate()
        assert leader.wait(timeout=60) == 0
    with pytest.raises(OSError):
        get(leader_port, "/livez")
