"""The store shared by two processes: the CLI writes while the daemon watches."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from certkeeper.api.certificate import Certificate
from certkeeper.api.core import Secret
from certkeeper.store.base import EventType, WatchEvent
from certkeeper.store.sqlite import SqliteStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "store.db")
    yield s
    s.close()


def run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


WRITER = """
    import sys
    from certkeeper.api.certificate import Certificate
    from certkeeper.store.sqlite import SqliteStore
    s = SqliteStore(sys.argv[1])
    c = Certificate.new(sys.argv[2], "default")
    c.spec.secret_name = sys.argv[2] + "-tls"
    c = s.create(c)
    c.metadata.labels = {"by": "cli"}
    s.update(c)
    s.close()
"""


def test_watch_sees_changes_committed_by_another_process(store: SqliteStore) -> None:
    seen: list[WatchEvent] = []
    done = threading.Event()

    def handler(ev: WatchEvent) -> None:
        seen.append(ev)
        if ev.type is EventType.MODIFIED and ev.name == "from-cli":
            done.set()

    store.watch(handler)
    run_python(WRITER, store.path, "from-cli")
    assert done.wait(10), f"no event from the other process; got {seen}"
    assert [(e.type, e.kind, e.name) for e in seen] == [
        (EventType.ADDED, "Certificate", "from-cli"),
        (EventType.MODIFIED, "Certificate", "from-cli"),
    ]
    assert isinstance(seen[1].obj, Certificate) and seen[1].obj.labels() == {"by": "cli"}


def test_interleaved_local_and_remote_changes_arrive_in_resource_version_order(store: SqliteStore) -> None:
    """A local write that follows a remote one delivers the remote change first."""
    seen: list[WatchEvent] = []
    got_local = threading.Event()

    def handler(ev: WatchEvent) -> None:
        seen.append(ev)
        if ev.name == "local-after":
            got_local.set()

    store.watch(handler)
    store.create(Secret.new("local-before", "default"))
    run_python(WRITER, store.path, "remote")
    store.create(Secret.new("local-after", "default"))
    assert got_local.wait(10)
    names = [e.name for e in seen]
    assert names[:4] == ["local-before", "remote", "remote", "local-after"]
    rvs = [int(e.obj.metadata.resource_version or 0) for e in seen]
    assert rvs == sorted(rvs)


def test_two_processes_writing_at_once_lose_nothing(store: SqliteStore) -> None:
    code = """
        import sys
        from certkeeper.api.core import Secret
        from certkeeper.store.sqlite import SqliteStore
        s = SqliteStore(sys.argv[1])
        for i in range(150):
            s.create(Secret.new(f"remote-{i}", "default"))
        s.close()
    """
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), store.path])
    for i in range(150):
        store.create(Secret.new(f"local-{i}", "default"))
    assert proc.wait(timeout=120) == 0
    names = {s.name for s in store.list(Secret, "default")}
    assert len(names) == 300


def test_idle_watch_costs_no_measurable_cpu(store: SqliteStore) -> None:
    """The poll for other processes' commits is a counter read five times a second."""
    store.watch(lambda ev: None)
    stop = threading.Event()
    cpu0 = time.process_time()
    wall0 = time.monotonic()
    stop.wait(2.0)  # a measurement window, not a wait for a result
    cpu = time.process_time() - cpu0
    wall = time.monotonic() - wall0
    assert cpu / wall < 0.01, f"idle watch used {cpu / wall:.2%} CPU"


def test_database_file_is_private(store: SqliteStore) -> None:
    store.create(Secret.new("k", "default"))
    for suffix in ("", "-wal", "-shm"):
        p = store.path + suffix
        if os.path.exists(p):
            assert os.stat(p).st_mode & 0o077 == 0, p
