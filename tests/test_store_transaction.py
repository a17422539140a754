"""SqliteStore.transaction(): several writes as one commit (what `apply -f` relies on)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from certkeeper.api.core import Secret
from certkeeper.store.base import AlreadyExists, EventType
from certkeeper.store.sqlite import SqliteStore
from certkeeper.store.transactions import Transactional


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[SqliteStore, SqliteStore]]:
    """Two connections to one file, as the CLI and the daemon have."""
    a, b = SqliteStore(tmp_path / "s.db"), SqliteStore(tmp_path / "s.db")
    yield a, b
    a.close()
    b.close()


def test_writes_are_seen_together_after_the_block(pair: tuple[SqliteStore, SqliteStore]) -> None:
    a, b = pair
    assert isinstance(a, Transactional)
    with a.transaction():
        a.create(Secret.new("one", "default"))
        a.create(Secret.new("two", "default"))
        # inside: this thread reads its own writes, another connection sees none
        assert a.try_get(Secret, "default", "one") is not None
        assert b.list(Secret) == []
    assert [s.name for s in b.list(Secret)] == ["one", "two"]


def test_an_exception_undoes_every_write(pair: tuple[SqliteStore, SqliteStore]) -> None:
    a, b = pair
    a.create(Secret.new("before", "default"))
    with pytest.raises(RuntimeError), a.transaction():
        a.create(Secret.new("one", "default"))
        s = a.get(Secret, "default", "before")
        s.set("k", b"v")
        a.update(s)
        raise RuntimeError("the store failed half-way")
    assert [s.name for s in b.list(Secret)] == ["before"]
    assert b.get(Secret, "default", "before").get("k") is None
    # resourceVersions handed out in the undone block are handed out again, without a gap
    after = a.create(Secret.new("after", "default"))
    before = b.get(Secret, "default", "before")
    assert int(after.metadata.resource_version or 0) == int(before.metadata.resource_version or 0) + 1


def test_a_failed_call_inside_undoes_only_itself(pair: tuple[SqliteStore, SqliteStore]) -> None:
    a, b = pair
    a.create(Secret.new("taken", "default"))
    with a.transaction():
        a.create(Secret.new("one", "default"))
        with pytest.raises(AlreadyExists):
            a.create(Secret.new("taken", "default"))
        a.create(Secret.new("two", "default"))
    assert [s.name for s in b.list(Secret)] == ["one", "taken", "two"]


def test_watchers_hear_after_commit_in_order_and_other_threads_wait(pair: tuple[SqliteStore, SqliteStore]) -> None:
    a, _ = pair
    seen: list[tuple[EventType, str, int]] = []
    a.watch(lambda e: seen.append((e.type, e.name, int(e.obj.metadata.resource_version or 0))))
    inside = threading.Event()
    other_done = threading.Event()

    def other_thread() -> None:
        inside.wait(10)
        a.create(Secret.new("other", "default"))  # waits for the block to end
        other_done.set()

    t = threading.Thread(target=other_thread)
    t.start()
    with a.transaction():
        a.create(Secret.new("one", "default"))
        a.create(Secret.new("two", "default"))
        inside.set()
        assert not other_done.wait(0.5), "another thread wrote inside this transaction"
        assert seen == [], "a watcher heard of a write before its commit"
    t.join(10)
    assert other_done.is_set()
    assert [(typ, name) for typ, name, _ in seen] == [
        (EventType.ADDED, "one"), (EventType.ADDED, "two"), (EventType.ADDED, "other"),
    ]
    rvs = [rv for _, _, rv in seen]
    assert rvs == sorted(rvs) and len(set(rvs)) == 3

