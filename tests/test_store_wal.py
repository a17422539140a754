"""The store under volume: steady writing does not grow the store's WAL without end (a PASSIVE checkpoint beside
a busy writer never completes, so the store must empty the WAL now and then)."""

from __future__ import annotations

import os
from pathlib import Path

from certkeeper.api.core import Secret
from certkeeper.store.sqlite import SqliteStore


def test_wal_stays_bounded_under_steady_writes(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    stop = store.watch(lambda event: None)
    try:
        payload = b"x" * 6000
        for i in range(10000):
            secret = Secret.new(f"s{i}", "default")
            secret.set("blob", payload)
            store.create(secret)
        limit = 32 * 1024 * 1024  # the store aims at ~16 MB; the checkpoint thread may lag
        written = 10000 * len(payload) * 2  # objects and change log
        assert written > 3 * limit, "the test must write well past the bound"
        assert os.path.getsize(tmp_path / "s.db-wal") < limit
    finally:
        stop()
        store.close()


def test_scan_pages_through_every_object_in_order(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    try:
        names = []
        for ns in ("a", "b"):
            for i in range(300):
                store.create(Secret.new(f"s{i}", ns))
                names.append((ns, f"s{i}"))
        scanned = [(s.namespace, s.name) for s in store.scan(Secret, page=64)]
        assert scanned == sorted(names)
        assert [(s.namespace, s.name) for s in store.list(Secret)] == scanned
    finally:
        store.close()
