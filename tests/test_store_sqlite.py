"""The SQLite store behaves like the Kubernetes API server on the points controllers rely on."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from certkeeper.api.certificate import Certificate, CertificateRequest, CertificateStatus
from certkeeper.api.common import IssuerReference
from certkeeper.api.core import Namespace, Secret
from certkeeper.api.issuer import ClusterIssuer, Issuer, IssuerSpec, SelfSignedIssuer
from certkeeper.api.meta import Condition, Resource, format_time
from certkeeper.runtime.clock import FakeClock
from certkeeper.store import StoreBroken, open_store, sqlite_path_from_url
from certkeeper.store.base import AlreadyExists, Conflict, EventType, Invalid, NotFound, WatchEvent
from certkeeper.store.sqlite import SqliteStore

T0 = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "store.db", clock=clock)
    yield s
    s.close()


def cert(name: str, namespace: str = "default", secret: str | None = None) -> Certificate:
    c = Certificate.new(name, namespace)
    c.spec.secret_name = secret or f"{name}-tls"
    c.spec.dns_names = [f"{name}.example.com"]
    c.spec.issuer_ref = IssuerReference(name="ca", kind="Issuer")
    return c


def owned(obj: Resource, owner: Resource) -> Resource:
    obj.metadata.owner_references = [owner.as_owner()]
    return obj


class Recorder:
    """A watch handler that lets the test wait for a given event without sleeping."""

    def __init__(self) -> None:
        self.events: list[WatchEvent] = []
        self._cond = threading.Condition()

    def __call__(self, ev: WatchEvent) -> None:
        with self._cond:
            self.events.append(ev)
            self._cond.notify_all()

    def wait_for(self, pred: object, timeout: float = 10.0) -> WatchEvent:
        assert callable(pred)
        with self._cond:
            found: list[WatchEvent] = []

            def check() -> bool:
                found[:] = [e for e in self.events if pred(e)]
                return bool(found)

            assert self._cond.wait_for(check, timeout), f"no matching event in {self.events}"
            return found[0]


# ---------------------------------------------------------------- create / get / list


def test_create_assigns_server_fields(store: SqliteStore) -> None:
    created = store.create(cert("a"))
    assert created.metadata.uid and len(created.metadata.uid) == 36
    assert created.metadata.generation == 1
    assert created.metadata.creation_timestamp == format_time(T0) == "2026-03-01T12:00:00Z"
    assert int(created.metadata.resource_version or "0") > 0
    got = store.get(Certificate, "default", "a")
    assert got == created
    assert got.spec.dns_names == ["a.example.com"]
    # a fresh copy each time: mutating it changes nothing stored
    got.spec.dns_names = ["x.example.com"]
    assert store.get(Certificate, "default", "a").spec.dns_names == ["a.example.com"]


def test_create_keeps_status_and_ignores_caller_system_fields(store: SqliteStore) -> None:
    c = cert("a")
    c.status = CertificateStatus(revision=3)
    c.metadata.uid = "caller-chosen"
    c.metadata.resource_version = "999"
    created = store.create(c)
    assert created.status is not None and created.status.revision == 3
    assert created.metadata.uid != "caller-chosen"
    assert c.metadata.uid == "caller-chosen", "the caller's object is not modified"


def test_create_twice_already_exists(store: SqliteStore) -> None:
    store.create(cert("a"))
    with pytest.raises(AlreadyExists, match=r'^certificates\.cert-manager\.io "a" already exists$'):
        store.create(cert("a"))
    # same name in another namespace or of another kind is fine
    store.create(cert("a", "other"))
    store.create(Secret.new("a", "default"))


def test_get_missing_not_found_and_try_get(store: SqliteStore) -> None:
    with pytest.raises(NotFound, match=r'^certificates\.cert-manager\.io "nope" not found$'):
        store.get(Certificate, "default", "nope")
    with pytest.raises(NotFound, match=r'^secrets "nope" not found$'):
        store.get(Secret, "default", "nope")
    assert store.try_get(Certificate, "default", "nope") is None


def test_generate_name(store: SqliteStore) -> None:
    names = set()
    for _ in range(20):
        cr = CertificateRequest.new("", "default")
        cr.metadata.name = None
        cr.metadata.generate_name = "a-"
        created = store.create(cr)
        assert created.name.startswith("a-") and len(created.name) == len("a-") + 5
        assert set(created.name[2:]) <= set("bcdfghjklmnpqrstvwxz2456789")
        names.add(created.name)
    assert len(names) == 20
    assert {c.name for c in store.list(CertificateRequest, "default")} == names


def test_invalid_names_refused(store: SqliteStore) -> None:
    with pytest.raises(Invalid, match="metadata.name: Invalid value"):
        store.create(cert("Not_Valid"))
    with pytest.raises(Invalid, match="metadata.namespace: Invalid value"):
        store.create(cert("a", "../etc"))
    nameless = Certificate.new("", "default")
    nameless.metadata.name = None
    with pytest.raises(Invalid, match="name or generateName is required"):
        store.create(nameless)


def test_cluster_scoped_kinds_have_no_namespace(store: SqliteStore) -> None:
    ci = ClusterIssuer.new("root", spec=IssuerSpec(self_signed=SelfSignedIssuer()))
    created = store.create(ci)
    assert created.metadata.namespace is None
    assert store.get(ClusterIssuer, None, "root").spec.self_signed is not None
    # an Issuer of the same name is a different kind
    assert store.try_get(Issuer, "default", "root") is None
    store.create(Namespace.new("team-a"))
    assert [n.name for n in store.list(Namespace)] == ["team-a"]


def test_list_by_namespace_and_labels(store: SqliteStore) -> None:
    for name, ns, labels in [
        ("a", "default", {"app": "web", "tier": "front"}),
        ("b", "default", {"app": "web", "tier": "back"}),
        ("c", "other", {"app": "web", "tier": "front"}),
        ("d", "other", None),
    ]:
        c = cert(name, ns)
        c.metadata.labels = labels
        store.create(c)
    assert [c.name for c in store.list(Certificate)] == ["a", "b", "c", "d"]
    assert [c.name for c in store.list(Certificate, "other")] == ["c", "d"]
    assert [c.name for c in store.list(Certificate, labels={"app": "web"})] == ["a", "b", "c"]
    assert [c.name for c in store.list(Certificate, labels={"app": "web", "tier": "front"})] == ["a", "c"]
    assert [c.name for c in store.list(Certificate, "default", {"tier": "front"})] == ["a"]
    assert store.list(Certificate, labels={"app": "db"}) == []
    assert store.list(Secret) == []


def test_label_keys_with_prefix_and_dots(store: SqliteStore) -> None:
    s = Secret.new("x", "default")
    s.metadata.labels = {"controller.cert-manager.io/fao": "true"}
    store.create(s)
    store.create(Secret.new("y", "default"))
    assert [o.name for o in store.list(Secret, labels={"controller.cert-manager.io/fao": "true"})] == ["x"]


# ---------------------------------------------------------------- update


def test_update_conflict_on_stale_resource_version(store: SqliteStore) -> None:
    first = store.create(cert("x"))
    second = store.get(Certificate, "default", "x")
    first.metadata.labels = {"a": "1"}
    updated = store.update(first)
    assert int(updated.metadata.resource_version or 0) > int(second.metadata.resource_version or 0)
    second.metadata.labels = {"a": "2"}
    with pytest.raises(Conflict) as e:
        store.update(second)
    assert str(e.value) == (
        'Operation cannot be fulfilled on certificates.cert-manager.io "x": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    assert store.get(Certificate, "default", "x").metadata.labels == {"a": "1"}
    # without a resourceVersion the update is unconditional, as in Kubernetes
    second.metadata.resource_version = None
    assert store.update(second).metadata.labels == {"a": "2"}


def test_update_missing_not_found(store: SqliteStore) -> None:
    with pytest.raises(NotFound):
        store.update(cert("ghost"))
    c = store.create(cert("gone"))
    store.delete(Certificate, "default", "gone")
    with pytest.raises(NotFound):
        store.update(c)


def test_update_of_recreated_object_conflicts_on_uid(store: SqliteStore) -> None:
    old = store.create(cert("x"))
    store.delete(Certificate, "default", "x")
    store.create(cert("x"))
    old.metadata.resource_version = None
    with pytest.raises(Conflict, match="UID in precondition"):
        store.update(old)


def test_generation_bumps_only_on_spec_change(store: SqliteStore) -> None:
    c = store.create(cert("x"))
    c.metadata.labels = {"a": "b"}
    c.metadata.annotations = {"note": "1"}
    c = store.update(c)
    assert c.metadata.generation == 1
    c.spec.dns_names = ["y.example.com"]
    c = store.update(c)
    assert c.metadata.generation == 2
    c.status = CertificateStatus(revision=1)
    c = store.update_status(c)
    assert c.metadata.generation == 2
    # the caller cannot set generation, uid or creationTimestamp
    c.metadata.generation = 40
    c.metadata.uid = None
    c.metadata.creation_timestamp = "2000-01-01T00:00:00Z"
    c = store.update(c)
    assert c.metadata.generation == 2
    assert c.metadata.creation_timestamp == "2026-03-01T12:00:00Z"


def test_noop_update_keeps_resource_version_and_emits_nothing(store: SqliteStore) -> None:
    c = store.create(cert("x"))
    rec = Recorder()
    store.watch(rec)
    again = store.update(c)
    assert again.metadata.resource_version == c.metadata.resource_version
    again = store.update_status(c)
    assert again.metadata.resource_version == c.metadata.resource_version
    assert rec.events == []


def test_update_keeps_stored_status_update_status_keeps_spec(store: SqliteStore, clock: FakeClock) -> None:
    c = store.create(cert("x"))
    c.status = CertificateStatus(
        conditions=[Condition(type="Ready", status="True", reason="Ready", message="ok")], revision=1
    )
    c = store.update_status(c)
    # update() with a different status: status ignored, spec written
    c.status = CertificateStatus(revision=99)
    c.spec.dns_names = ["new.example.com"]
    c = store.update(c)
    assert c.status is not None and c.status.revision == 1
    assert c.spec.dns_names == ["new.example.com"]
    # update_status() with a different spec: spec ignored, status written
    c.spec.dns_names = ["ignored.example.com"]
    c.metadata.labels = {"ignored": "yes"}
    c.status = CertificateStatus(revision=2)
    c = store.update_status(c)
    stored = store.get(Certificate, "default", "x")
    assert stored.spec.dns_names == ["new.example.com"]
    assert stored.metadata.labels is None
    assert stored.status is not None and stored.status.revision == 2 and stored.status.conditions is None
    # status can be cleared
    stored.status = None
    assert store.update_status(stored).status is None


def test_update_status_conflict(store: SqliteStore) -> None:
    c = store.create(cert("x"))
    c2 = store.get(Certificate, "default", "x")
    c.status = CertificateStatus(revision=1)
    store.update_status(c)
    c2.status = CertificateStatus(revision=5)
    with pytest.raises(Conflict):
        store.update_status(c2)


def test_secret_update_writes_whole_object_and_folds_string_data(store: SqliteStore) -> None:
    s = Secret.new("tls", "default")
    s.type = "kubernetes.io/tls"
    s.string_data = {"note": "hello"}
    s = store.create(s)
    assert s.string_data is None and s.get("note") == b"hello"
    s.set("tls.crt", b"CERT")
    s.metadata.annotations = {"cert-manager.io/certificate-name": "x"}
    s = store.update(s)
    assert s.metadata.generation == 1
    got = store.get(Secret, "default", "tls")
    assert got.decoded() == {"note": b"hello", "tls.crt": b"CERT"}
    assert got.annotations() == {"cert-manager.io/certificate-name": "x"}


def test_immutable_secret_data_cannot_change(store: SqliteStore) -> None:
    s = Secret.new("frozen", "default")
    s.set("k", b"v")
    s.immutable = True
    s = store.create(s)
    s.set("k", b"other")
    with pytest.raises(Invalid, match="field is immutable"):
        store.update(s)


# ---------------------------------------------------------------- delete, finalizers, GC


def test_delete_without_finalizers_removes(store: SqliteStore) -> None:
    store.create(cert("x"))
    store.delete(Certificate, "default", "x")
    assert store.try_get(Certificate, "default", "x") is None
    with pytest.raises(NotFound):
        store.delete(Certificate, "default", "x")


def test_finalizers_hold_deletion_until_removed(store: SqliteStore, clock: FakeClock) -> None:
    c = cert("x")
    c.metadata.finalizers = ["example.com/cleanup"]
    store.create(c)
    clock.advance(dt.timedelta(minutes=5))
    store.delete(Certificate, "default", "x")
    held = store.get(Certificate, "default", "x")
    assert held.metadata.deletion_timestamp == "2026-03-01T12:05:00Z"
    # a second delete keeps the first timestamp
    clock.advance(dt.timedelta(minutes=5))
    store.delete(Certificate, "default", "x")
    held = store.get(Certificate, "default", "x")
    assert held.metadata.deletion_timestamp == "2026-03-01T12:05:00Z"
    # the caller cannot clear deletionTimestamp, nor add finalizers now
    held.metadata.finalizers = ["example.com/cleanup", "example.com/more"]
    with pytest.raises(Invalid, match="no new finalizers can be added"):
        store.update(held)
    held.metadata.finalizers = ["example.com/cleanup"]
    held.metadata.deletion_timestamp = None
    held.metadata.labels = {"still": "here"}
    held = store.update(held)
    assert held.metadata.deletion_timestamp == "2026-03-01T12:05:00Z"
    # removing the last finalizer deletes it
    held.metadata.finalizers = None
    store.update(held)
    assert store.try_get(Certificate, "default", "x") is None


def test_gc_chain_across_kinds(store: SqliteStore) -> None:
    a = store.create(cert("a"))
    b = store.create(owned(CertificateRequest.new("a-1", "default"), a))
    c = store.create(owned(Secret.new("a-key", "default"), b))
    unrelated = store.create(cert("z"))
    rec = Recorder()
    store.watch(rec)
    store.delete(Certificate, "default", "a")
    assert store.try_get(Certificate, "default", "a") is None
    assert store.try_get(CertificateRequest, "default", "a-1") is None
    assert store.try_get(Secret, "default", "a-key") is None
    assert store.get(Certificate, "default", "z").uid == unrelated.uid
    deleted = [(e.kind, e.name) for e in rec.events if e.type is EventType.DELETED]
    assert deleted == [("Certificate", "a"), ("CertificateRequest", "a-1"), ("Secret", "a-key")]
    assert {e.obj.uid for e in rec.events} == {a.uid, b.uid, c.uid}


def test_gc_keeps_object_with_another_owner(store: SqliteStore) -> None:
    a = store.create(cert("a"))
    b = store.create(cert("b"))
    s = Secret.new("shared", "default")
    s.metadata.owner_references = [a.as_owner(), b.as_owner()]
    store.create(s)
    store.delete(Certificate, "default", "a")
    kept = store.get(Secret, "default", "shared")
    assert [r.uid for r in kept.metadata.owner_references or []] == [b.uid]
    store.delete(Certificate, "default", "b")
    assert store.try_get(Secret, "default", "shared") is None


def test_gc_marks_dependents_with_finalizers(store: SqliteStore) -> None:
    a = store.create(cert("a"))
    dep = owned(CertificateRequest.new("a-1", "default"), a)
    dep.metadata.finalizers = ["example.com/f"]
    store.create(dep)
    grandchild = store.create(
        owned(Secret.new("g", "default"), store.get(CertificateRequest, "default", "a-1"))
    )
    store.delete(Certificate, "default", "a")
    held = store.get(CertificateRequest, "default", "a-1")
    assert held.metadata.deletion_timestamp is not None
    assert store.get(Secret, "default", "g").uid == grandchild.uid
    held.metadata.finalizers = []
    store.update(held)
    assert store.try_get(CertificateRequest, "default", "a-1") is None
    assert store.try_get(Secret, "default", "g") is None


def test_owner_reference_added_by_update_is_collected(store: SqliteStore) -> None:
    a = store.create(cert("a"))
    s = store.create(Secret.new("s", "default"))
    s.metadata.owner_references = [a.as_owner()]
    store.update(s)
    store.delete(Certificate, "default", "a")
    assert store.try_get(Secret, "default", "s") is None


# ---------------------------------------------------------------- watch (in process)


def test_watch_in_process_order_and_content(store: SqliteStore) -> None:
    rec = Recorder()
    stop = store.watch(rec)
    c = store.create(cert("x"))
    c.metadata.labels = {"a": "b"}
    c = store.update(c)
    c.status = CertificateStatus(revision=1)
    store.update_status(c)
    store.delete(Certificate, "default", "x")
    # delivered synchronously after commit when nothing else is delivering
    assert [(e.type, e.kind, e.namespace, e.name) for e in rec.events] == [
        (EventType.ADDED, "Certificate", "default", "x"),
        (EventType.MODIFIED, "Certificate", "default", "x"),
        (EventType.MODIFIED, "Certificate", "default", "x"),
        (EventType.DELETED, "Certificate", "default", "x"),
    ]
    rvs = [int(e.obj.metadata.resource_version or 0) for e in rec.events]
    assert rvs == sorted(rvs) and len(set(rvs)) == 4
    assert isinstance(rec.events[2].obj, Certificate)
    assert rec.events[2].obj.status is not None and rec.events[2].obj.status.revision == 1
    assert rec.events[3].obj.labels() == {"a": "b"}
    stop()
    store.create(cert("y"))
    assert len(rec.events) == 4


def test_watch_only_sees_changes_after_subscription(store: SqliteStore) -> None:
    store.create(cert("before"))
    rec = Recorder()
    store.watch(rec)
    store.create(cert("after"))
    assert [e.name for e in rec.events] == ["after"]


def test_failing_handler_does_not_stop_the_watch(store: SqliteStore) -> None:
    def boom(ev: WatchEvent) -> None:
        raise RuntimeError("handler bug")

    rec = Recorder()
    store.watch(boom)
    store.watch(rec)
    store.create(cert("a"))
    store.create(cert("b"))
    assert [e.name for e in rec.events] == ["a", "b"]


def test_handler_may_write_to_the_store(store: SqliteStore) -> None:
    """A handler that writes (controllers do) neither deadlocks nor reorders events."""
    seen: list[tuple[str, str]] = []

    def reactor(ev: WatchEvent) -> None:
        seen.append((ev.type.value, ev.name))
        if ev.type is EventType.ADDED and ev.kind == "Certificate":
            store.create(Secret.new(ev.name + "-tls", "default"))

    store.watch(reactor)
    store.create(cert("a"))
    assert seen == [("ADDED", "a"), ("ADDED", "a-tls")]


def test_concurrent_writers_with_conflict_retry(store: SqliteStore) -> None:
    """Optimistic locking: N threads incrementing a counter through update() with
    re-read on Conflict lose no increment."""
    s = Secret.new("counter", "default")
    s.set("n", b"0")
    store.create(s)
    conflicts = 0
    lock = threading.Lock()

    def bump(times: int) -> None:
        nonlocal conflicts
        for _ in range(times):
            while True:
                cur = store.get(Secret, "default", "counter")
                cur.set("n", str(int(cur.get("n") or b"0") + 1).encode())
                try:
                    store.update(cur)
                    break
                except Conflict:
                    with lock:
                        conflicts += 1

    threads = [threading.Thread(target=bump, args=(50,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.get(Secret, "default", "counter").get("n") == b"200"


# ---------------------------------------------------------------- persistence, leases, URLs


def test_reopen_keeps_objects_and_resource_version_grows(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with SqliteStore(path) as s1:
        c = s1.create(cert("x"))
    with SqliteStore(path) as s2:
        assert s2.get(Certificate, "default", "x") == c
        c2 = s2.create(cert("y"))
        assert int(c2.metadata.resource_version or 0) > int(c.metadata.resource_version or 0)
    assert (path.stat().st_mode & 0o777) == 0o600


def test_lease_exclusive_and_expires(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "s.db"
    with SqliteStore(path, clock=clock) as a, SqliteStore(path, clock=clock) as b:
        assert a.acquire_lease("certkeeper-controller", "host-a", 60)
        assert not b.acquire_lease("certkeeper-controller", "host-b", 60)
        # renewing by the holder works and pushes expiry out
        clock.advance(dt.timedelta(seconds=50))
        assert a.acquire_lease("certkeeper-controller", "host-a", 60)
        clock.advance(dt.timedelta(seconds=50))
        assert not b.acquire_lease("certkeeper-controller", "host-b", 60)
        # the holder stops renewing: after expiry the standby takes over
        clock.advance(dt.timedelta(seconds=11))
        assert b.acquire_lease("certkeeper-controller", "host-b", 60)
        assert not a.acquire_lease("certkeeper-controller", "host-a", 60)
        # a release by a non-holder does nothing; by the holder frees it at once
        a.release_lease("certkeeper-controller", "host-a")
        assert not a.acquire_lease("certkeeper-controller", "host-a", 60)
        b.release_lease("certkeeper-controller", "host-b")
        assert a.acquire_lease("certkeeper-controller", "host-a", 60)
        # other lease names are independent
        assert b.acquire_lease("other", "host-b", 60)


def test_open_store_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert sqlite_path_from_url("sqlite:///abs/x.db") == "/abs/x.db"
    assert sqlite_path_from_url("sqlite://rel.db") == "rel.db"
    assert sqlite_path_from_url("some/file.db") == "some/file.db"
    with pytest.raises(ValueError):
        sqlite_path_from_url("postgres://db")
    with pytest.raises(StoreBroken, match="no store at"):
        open_store(f"sqlite://{tmp_path}/s.db")
    with pytest.raises(StoreBroken, match="does not exist"):
        open_store(f"sqlite://{tmp_path}/nested/s.db", create=True)
    assert not (tmp_path / "nested").exists()
    store = open_store(f"sqlite://{tmp_path}/nested/s.db", create=True, make_folder=True)
    assert (tmp_path / "nested").stat().st_mode & 0o777 == 0o700
    try:
        store.create(cert("x"))
    finally:
        store.close()
    monkeypatch.chdir(tmp_path)
    rel = open_store("sqlite://rel.db", create=True)
    try:
        assert rel.try_get(Certificate, "default", "x") is None
    finally:
        rel.close()
    assert (tmp_path / "rel.db").exists()


def test_default_store_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from certkeeper.store import default_store_path

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    p = default_store_path()
    assert p == tmp_path / "state" / "certkeeper" / "certkeeper.db"
    assert not p.parent.exists(), "only creating a store makes its folder"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_store_path() == tmp_path / "home" / ".local" / "state" / "certkeeper" / "certkeeper.db"


def test_watch_order_with_concurrent_writers(store: SqliteStore) -> None:
    rvs: list[int] = []
    store.watch(lambda ev: rvs.append(int(ev.obj.metadata.resource_version or 0)))

    def writer(prefix: str) -> None:
        for i in range(50):
            store.create(Secret.new(f"{prefix}-{i}", "default"))

    threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(rvs) == 200
    assert rvs == sorted(rvs) and len(set(rvs)) == 200


def test_change_log_is_trimmed_and_resource_version_survives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from certkeeper.store import sqlite as sqlite_store

    monkeypatch.setattr(sqlite_store, "CHANGELOG_KEEP", 10)
    monkeypatch.setattr(sqlite_store, "_TRIM_EVERY", 5)
    path = tmp_path / "s.db"
    with SqliteStore(path) as s:
        for i in range(60):
            last = s.create(Secret.new(f"s{i}", "default"))
    with sqlite3.connect(path) as conn:
        (count,) = conn.execute("SELECT count(*) FROM changelog").fetchone()
    assert count <= 15
    with SqliteStore(path) as s:
        nxt = s.create(Secret.new("after", "default"))
    assert int(nxt.metadata.resource_version or 0) == int(last.metadata.resource_version or 0) + 1


def test_committed_write_survives_process_kill(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "s.db"
    code = (
        "import os, signal, sys\n"
        "from certkeeper.api.core import Secret\n"
        "from certkeeper.store.sqlite import SqliteStore\n"
        "s = SqliteStore(sys.argv[1])\n"
        "x = Secret.new('durable', 'default'); x.set('tls.key', b'KEY')\n"
        "s.create(x)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(path)], timeout=60)
    assert proc.returncode == -9
    with SqliteStore(path) as s:
        assert s.get(Secret, "default", "durable").get("tls.key") == b"KEY"


def test_list_by_owner(store: SqliteStore) -> None:
    a = store.create(cert("a"))
    b = store.create(cert("b"))
    for name, owner in [("a-1", a), ("a-2", a), ("b-1", b)]:
        store.create(owned(CertificateRequest.new(name, "default"), owner))
    store.create(CertificateRequest.new("orphan", "default"))
    assert [r.name for r in store.list(CertificateRequest, "default", owner_uid=a.uid)] == ["a-1", "a-2"]
    assert [r.name for r in store.list(CertificateRequest, owner_uid=b.uid)] == ["b-1"]
    assert store.list(Secret, owner_uid=a.uid) == []
