"""The embedded store: every object in one SQLite file, with Kubernetes' write semantics.

Why SQLite: one file that survives a process kill (WAL, ``synchronous=NORMAL``), that the
CLI and the daemon can both write (``busy_timeout`` and ``BEGIN IMMEDIATE`` serialise the
writers), and whose writes cost tens of microseconds.

Objects are stored as their JSON (``to_dict()``) and decoded on every read, which is both
the fresh copy the protocol promises and cheaper than a deep copy of a cached model.

Watching: every change is also written to a ``changelog`` table in the same transaction,
under a single global resourceVersion counter. Changes made through this process are
queued right after the commit; changes made by another process are found by a thread that
polls ``PRAGMA data_version`` (a counter read, no I/O when nothing changed) and reads the
log past the last resourceVersion handed out. Both paths feed one queue in
resourceVersion order, drained outside the database lock.
"""

from __future__ import annotations

import base64
import builtins
import collections
import dataclasses
import functools
import json
import logging
import os
import secrets
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from ..api import registry
from ..api.times import format_time
from ..runtime.clock import Clock, RealClock
from . import sqlitefile
from .base import (
    AlreadyExists,
    Conflict,
    EventType,
    Invalid,
    NotFound,
    R,
    StoreError,
    WatchEvent,
    WatchHandler,
)
from .errors import StoreBroken, StoreMissing
from .names import dns1123_label_error, dns1123_subdomain_error

if TYPE_CHECKING:  # imported where used: a reading command decodes neither, and the
    # command-line reads that render the stored JSON (list_raw, get_raw) import no model
    from ..api.event import Event
    from ..api.meta import Resource

log = logging.getLogger(__name__)

#: how many change-log entries are kept for watchers in other processes to catch up
CHANGELOG_KEEP = 10_000
#: trim the change log every this many write transactions of this process
_TRIM_EVERY = 500
#: ask the checkpoint thread to copy the WAL into the database every this many writes
_CHECKPOINT_EVERY = 300
#: WAL size (pages) past which the checkpoint thread empties it completely (~16 MB)
_WAL_TRUNCATE_FRAMES = 4000
#: how often the watch thread looks for other processes' commits
POLL_INTERVAL = 0.2
#: Kubernetes' generateName alphabet (no vowels, no confusable characters)
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_GENERATE_SUFFIX = 5
_MAX_GENERATE_PREFIX = 63 - _GENERATE_SUFFIX

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    kind TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    uid TEXT NOT NULL UNIQUE,
    resource_version INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (kind, namespace, name)
);
CREATE TABLE IF NOT EXISTS owner_refs (
    owner_uid TEXT NOT NULL,
    uid TEXT NOT NULL,
    PRIMARY KEY (owner_uid, uid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS owner_refs_by_dependent ON owner_refs (uid);
CREATE TABLE IF NOT EXISTS changelog (
    rv INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires REAL NOT NULL,
    renewed REAL NOT NULL
);
"""
_STATEMENTS = [stmt.strip() for stmt in _SCHEMA.split(";") if stmt.strip()]
_TABLES = ["objects", "owner_refs", "changelog", "leases"]

P = ParamSpec("P")
T = TypeVar("T")


def _translated(fn: Callable[Concatenate[SqliteStore, P], T]) -> Callable[Concatenate[SqliteStore, P], T]:
    """SQLite's errors leave the store as StoreErrors that say what happened to which file."""

    @functools.wraps(fn)
    def wrapper(self: SqliteStore, /, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(self, *args, **kwargs)
        except sqlite3.Error as e:
            raise sqlitefile.translate(self.path, e, self.timeout) from e

    return wrapper


def kind_key(cls: type[Resource]) -> str:
    """``Kind.group`` (``Certificate.cert-manager.io``; core kinds: ``Secret``), the
    stored kind: versions may change, the group and kind do not."""
    group = cls.API_VERSION.rpartition("/")[0]
    return f"{cls.KIND}.{group}" if group else cls.KIND


def resource_name(cls: type[Resource]) -> str:
    """``plural.group`` as the API server names a resource in its messages."""
    group = cls.API_VERSION.rpartition("/")[0]
    return f"{cls.PLURAL}.{group}" if group else cls.PLURAL


def _written(obj: R, meta: Mapping[str, Any]) -> R:
    """A shallow copy of the caller's object with the metadata the store set (uid,
    resourceVersion, generation ...): what was written, without decoding it back from
    JSON, which would cost as much as the write's own serialisation."""
    # model_copy(update=...) rather than attribute by attribute: pydantic's __setattr__
    # costs more than the copy itself, and this runs on every write
    m = obj.metadata.model_copy(update={
        "name": meta.get("name", obj.metadata.name),
        "namespace": meta.get("namespace"),
        "uid": meta.get("uid"),
        "resource_version": meta.get("resourceVersion"),
        "generation": meta.get("generation"),
        "creation_timestamp": meta.get("creationTimestamp"),
        "deletion_timestamp": meta.get("deletionTimestamp"),
    })
    return obj.model_copy(update={"metadata": m})


def _decode(cls: type[R], data: str | bytes) -> R:
    """A stored row as its model. Rows written before ``[]byte`` fields were base64 hold
    raw PEM there; the legacy context reads those too, and the next write stores base64."""
    from ..api.bytefield import LEGACY_PEM_CONTEXT

    return cls.model_validate_json(data, context=LEGACY_PEM_CONTEXT)


def _dumps(d: Mapping[str, Any]) -> str:
    return json.dumps(d, separators=(",", ":"), ensure_ascii=False)


def _labels_match(d: Mapping[str, Any], wanted: Mapping[str, str]) -> bool:
    labels = d.get("metadata", {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in wanted.items())


def _owner_uids(d: Mapping[str, Any]) -> set[str]:
    return {ref["uid"] for ref in d.get("metadata", {}).get("ownerReferences") or [] if ref.get("uid")}


@dataclasses.dataclass(frozen=True)
class _Change:
    rv: int
    type: EventType
    kind: str
    namespace: str
    name: str
    data: str


@dataclasses.dataclass
class _Watcher:
    handler: WatchHandler
    start_rv: int
    active: bool = True


@dataclasses.dataclass
class _Tx:
    """What one write transaction changed, to be queued for watchers after COMMIT."""

    changes: list[_Change] = dataclasses.field(default_factory=list)
    #: the last resourceVersion handed out in this transaction
    last_rv: int | None = None


class SqliteStore:
    """The Store protocol over one SQLite file; safe to share between threads and to open
    from several processes at once.

    ``create=False`` opens only an existing store (the CLI's reading verbs: a mistyped
    path must not become a new, empty store). ``timeout`` is how long a call waits for
    another process's lock (None: without end).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        clock: Clock | None = None,
        *,
        create: bool = True,
        timeout: float | None = 30.0,
    ) -> None:
        self.path = os.fspath(path)
        self.clock: Clock = clock or RealClock()
        self.timeout = timeout
        # re-entrant: a transaction() holds it across the calls made inside it
        self._lock = threading.RLock()
        #: the open transaction() of the thread holding _lock, if any
        self._batch: _Tx | None = None
        self._batch_owner: int | None = None
        #: (device, inode) of the file opened, to notice it being removed or replaced
        self._identity: tuple[int, int] | None = None
        try:
            self._conn = self._open(create)
        except sqlite3.Error as e:
            raise sqlitefile.translate(self.path, e, timeout) from e
        self._classes: dict[str, type[Resource]] = {}
        self._writes = 0
        # watch state: _delivered_rv is guarded by _lock; the rest by _qlock
        self._qlock = threading.Lock()
        self._watchers: list[_Watcher] = []
        self._pending: collections.deque[_Change] = collections.deque()
        self._dispatching = False
        self._delivered_rv = 0
        self._data_version = 0
        self._poller: threading.Thread | None = None
        self._closed = threading.Event()
        self._checkpoint_wanted = threading.Event()
        self._checkpointer: threading.Thread | None = None

    # ------------------------------------------------------------------ setup

    def _open(self, create: bool) -> sqlite3.Connection:
        if self.path == ":memory:":
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            for stmt in _STATEMENTS:
                conn.execute(stmt)
            return conn
        if sqlitefile.identity(self.path) is None:
            if not create:
                raise StoreMissing(f"no store at {self.path}")
            if sqlitefile.create(self.path, _STATEMENTS):
                log.info("created a new store at %s", self.path)
        self._identity = sqlitefile.identity(self.path)
        conn = sqlitefile.connect(self.path, self.timeout)
        try:
            # reading the schema reads the header: afterwards the journal mode is known
            missing = sqlitefile.retry_busy(lambda: sqlitefile.check(conn, self.path, _TABLES), self.timeout)
            mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
            if create and (missing or mode != "wal"):
                # a store made by an older version: only then is the write lock taken here
                sqlitefile.retry_busy(lambda: self._upgrade(conn), self.timeout)
            conn.execute("PRAGMA synchronous = NORMAL")
            # checkpoints fsync; a writer should not pay for them (see _checkpoint_loop)
            conn.execute("PRAGMA wal_autocheckpoint = 0")
        except BaseException:
            conn.close()
            raise
        return conn

    def _upgrade(self, conn: sqlite3.Connection) -> None:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            log.warning("SQLite store %s: journal_mode is %s, not WAL", self.path, mode)
        conn.execute("BEGIN IMMEDIATE")
        try:
            for stmt in _STATEMENTS:
                conn.execute(stmt)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------------ helpers

    def _key(self, cls: type[Resource]) -> str:
        key = kind_key(cls)
        if key not in self._classes:
            self._classes[key] = cls
        return key

    def _class_for(self, key: str) -> type[Resource] | None:
        cls = self._classes.get(key)
        if cls is not None:
            return cls
        for candidate in registry.KINDS:
            if kind_key(candidate) == key:
                return candidate
        return None

    @staticmethod
    def _namespace(cls: type[Resource], namespace: str | None) -> str:
        if not cls.NAMESPACED:
            return ""
        return namespace or "default"

    def _now(self) -> str:
        return format_time(self.clock.now())

    def _not_found(self, cls: type[Resource], name: str) -> NotFound:
        return NotFound(f'{resource_name(cls)} "{name}" not found')

    def _conflict(self, cls: type[Resource], name: str) -> Conflict:
        return Conflict(
            f'Operation cannot be fulfilled on {resource_name(cls)} "{name}": the object has been '
            "modified; please apply your changes to the latest version and try again"
        )

    def _invalid(self, cls: type[Resource], name: str, errors: list[str]) -> Invalid:
        return Invalid(f'{kind_key(cls)} "{name}" is invalid: {", ".join(errors)}', errors)

    @staticmethod
    def _fold_string_data(cls: type[Resource], d: dict[str, Any]) -> None:
        """The API server merges the write-only ``stringData`` into ``data``."""
        if "string_data" not in cls.model_fields:
            return
        string_data = d.pop("stringData", None)
        if string_data:
            data = d.setdefault("data", {})
            for k, v in string_data.items():
                data[k] = base64.b64encode(v.encode()).decode("ascii")

    @contextmanager
    def _write(self) -> Iterator[_Tx]:
        """One BEGIN IMMEDIATE transaction; its changes are queued after COMMIT (still
        under the lock, so the queue stays in resourceVersion order) and delivered after
        the lock is released. Inside a transaction() it is a savepoint of that one."""
        if self._batch is not None and self._batch_owner == threading.get_ident():
            with self._savepoint(self._batch) as tx:
                yield tx
            return
        with self._transaction() as tx:
            yield tx

    @contextmanager
    def _transaction(self) -> Iterator[_Tx]:
        tx = _Tx()
        with self._lock:
            sqlitefile.retry_busy(lambda: self._conn.execute("BEGIN IMMEDIATE"), self.timeout)
            try:
                yield tx
                self._writes += 1
                if self._writes % _TRIM_EVERY == 0:
                    self._trim_changelog()
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            if self._writes % _CHECKPOINT_EVERY == 0:
                self._request_checkpoint()
            if tx.changes:
                self._enqueue(tx.changes)
        if tx.changes:
            self._drain()

    @contextmanager
    def _savepoint(self, tx: _Tx) -> Iterator[_Tx]:
        """One call inside a transaction(): if it fails, only its own writes are undone."""
        changes, last_rv = len(tx.changes), tx.last_rv
        self._conn.execute("SAVEPOINT call")
        try:
            yield tx
        except BaseException:
            self._conn.execute("ROLLBACK TO call")
            del tx.changes[changes:]
            tx.last_rv = last_rv
            raise
        finally:
            self._conn.execute("RELEASE call")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Every write made by this thread inside the block is committed together, or none
        is: ``apply -f`` of several objects never leaves some of them written. Other
        threads' calls wait until the block ends; watchers see the changes after COMMIT."""
        if self._batch_owner == threading.get_ident():
            yield  # nested: part of the outer one
            return
        try:
            with self._transaction() as tx:
                tx.last_rv = self._current_rv()  # for seen_version(); writes count on from it
                self._batch, self._batch_owner = tx, threading.get_ident()
                try:
                    yield
                finally:
                    self._batch, self._batch_owner = None, None
        except sqlite3.Error as e:
            raise sqlitefile.translate(self.path, e, self.timeout) from e

    def seen_version(self) -> int | None:
        """See ``Transactional.seen_version``."""
        batch = self._batch
        if batch is None or self._batch_owner != threading.get_ident():
            return None
        return batch.last_rv

    def _next_rv(self, tx: _Tx) -> int:
        """The global resourceVersion is the change log's highest entry (the log is only
        ever trimmed from the old end); BEGIN IMMEDIATE makes this transaction the only
        writer, so it is read once and counted on in memory."""
        if tx.last_rv is None:
            tx.last_rv = self._current_rv()
        tx.last_rv += 1
        return tx.last_rv

    def _current_rv(self) -> int:
        row = self._conn.execute("SELECT max(rv) FROM changelog").fetchone()
        return int(row[0] or 0)

    def _record(self, tx: _Tx, etype: EventType, key: str, ns: str, name: str, rv: int, data: str) -> None:
        self._conn.execute(
            "INSERT INTO changelog (rv, kind, namespace, name, type, data) VALUES (?, ?, ?, ?, ?, ?)",
            (rv, key, ns, name, etype.value, data),
        )
        tx.changes.append(_Change(rv, etype, key, ns, name, data))

    def _trim_changelog(self) -> None:
        self._conn.execute("DELETE FROM changelog WHERE rv <= ?", (self._current_rv() - CHANGELOG_KEEP,))

    def _fetch(self, key: str, ns: str, name: str) -> tuple[str, int, str] | None:
        row = self._conn.execute(
            "SELECT data, resource_version, uid FROM objects WHERE kind = ? AND namespace = ? AND name = ?",
            (key, ns, name),
        ).fetchone()
        return None if row is None else (row[0], int(row[1]), row[2])

    def _store_row(
        self,
        tx: _Tx,
        etype: EventType,
        key: str,
        ns: str,
        name: str,
        d: dict[str, Any],
        old_owners: set[str] | None,
    ) -> str:
        """Give ``d`` the next resourceVersion, write it (insert or replace) and log it."""
        rv = self._next_rv(tx)
        meta = d["metadata"]
        meta["resourceVersion"] = str(rv)
        data = _dumps(d)
        uid = meta["uid"]
        if etype is EventType.ADDED:
            self._conn.execute(
                "INSERT INTO objects (kind, namespace, name, uid, resource_version, data) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key, ns, name, uid, rv, data),
            )
        else:
            self._conn.execute(
                "UPDATE objects SET resource_version = ?, data = ? WHERE kind = ? AND namespace = ? AND name = ?",
                (rv, data, key, ns, name),
            )
        owners = _owner_uids(d)
        if owners != (old_owners or set()):
            self._conn.execute("DELETE FROM owner_refs WHERE uid = ?", (uid,))
            self._conn.executemany(
                "INSERT OR IGNORE INTO owner_refs (owner_uid, uid) VALUES (?, ?)", [(o, uid) for o in owners]
            )
        self._record(tx, etype, key, ns, name, rv, data)
        return data

    # ------------------------------------------------------------------ reads

    def get(self, cls: type[R], namespace: str | None, name: str) -> R:
        obj = self.try_get(cls, namespace, name)
        if obj is None:
            raise self._not_found(cls, name)
        return obj

    @_translated
    def try_get(self, cls: type[R], namespace: str | None, name: str) -> R | None:
        key = self._key(cls)
        with self._lock:
            row = self._conn.execute(
                "SELECT data FROM objects WHERE kind = ? AND namespace = ? AND name = ?",
                (key, self._namespace(cls, namespace), name),
            ).fetchone()
        return None if row is None else _decode(cls, row[0])

    @_translated
    def list(
        self,
        cls: type[R],
        namespace: str | None = None,
        labels: Mapping[str, str] | None = None,
        owner_uid: str | None = None,
    ) -> list[R]:
        rows = self._select(self._key(cls), namespace if cls.NAMESPACED else None, labels, owner_uid)
        return [_decode(cls, r) for r in rows]

    @_translated
    def list_raw(
        self, key: str, namespace: str | None = None, labels: Mapping[str, str] | None = None,
        owner_uid: str | None = None,
    ) -> builtins.list[dict[str, Any]]:
        """``list`` of the kind stored as ``key`` (``kind_key``), as the stored JSON: what
        kubectl prints is what the API server stores, and the command line renders it
        without building the models (``cli/reads.py``)."""
        return [json.loads(r) for r in self._select(key, namespace, labels, owner_uid)]

    @_translated
    def get_raw(self, key: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """``try_get`` as the stored JSON; ``namespace`` None for a cluster-scoped kind."""
        with self._lock:
            row = self._conn.execute(
                "SELECT data FROM objects WHERE kind = ? AND namespace = ? AND name = ?", (key, namespace or "", name)
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def _select(
        self, key: str, namespace: str | None, labels: Mapping[str, str] | None, owner_uid: str | None
    ) -> builtins.list[str]:
        """The stored JSON of the matching rows, by namespace and name."""
        args: list[Any] = []
        if owner_uid is not None:
            # start from the owner index: a Certificate's requests without scanning them all
            # CROSS JOIN fixes the loop order in SQLite: owner index first, then each object
            sql = (
                "SELECT data FROM owner_refs CROSS JOIN objects ON objects.uid = owner_refs.uid"
                " WHERE owner_uid = ? AND kind = ?"
            )
            args.append(owner_uid)
        else:
            sql = "SELECT data FROM objects WHERE kind = ?"
        args.append(key)
        if namespace is not None:
            sql += " AND namespace = ?"
            args.append(namespace)
        python_filter: dict[str, str] = {}
        for k, v in (labels or {}).items():
            if '"' in k:  # not expressible as a JSON path; never a valid label key anyway
                python_filter[k] = v
                continue
            sql += " AND json_extract(data, ?) IS ?"
            args += [f'$.metadata.labels."{k}"', v]
        sql += " ORDER BY namespace, name"
        with self._lock:
            rows = [r[0] for r in self._conn.execute(sql, args).fetchall()]
        if python_filter:
            rows = [r for r in rows if _labels_match(json.loads(r), python_filter)]
        return rows

    def scan(self, cls: type[R], page: int = 256) -> Iterator[R]:
        """Every object of a kind, a page at a time (keyset pagination, the lock taken per
        page): a start-up replay of 10,000 Secrets never holds them all in memory."""
        key = self._key(cls)
        after = ("", "")
        while True:
            with self._lock:
                try:
                    rows = self._conn.execute(
                        "SELECT namespace, name, data FROM objects WHERE kind = ? AND (namespace, name) > (?, ?)"
                        " ORDER BY namespace, name LIMIT ?",
                        (key, after[0], after[1], page),
                    ).fetchall()
                except sqlite3.Error as e:
                    raise sqlitefile.translate(self.path, e, self.timeout) from e
            for _, _, data in rows:
                yield _decode(cls, data)
            if len(rows) < page:
                return
            after = (rows[-1][0], rows[-1][1])

    # ------------------------------------------------------------------ writes

    @_translated
    def create(self, obj: R) -> R:
        cls = type(obj)
        key = self._key(cls)
        d = obj.to_dict()
        self._fold_string_data(cls, d)
        meta = d.setdefault("metadata", {})
        ns = self._namespace(cls, meta.get("namespace"))
        if ns:
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        name = meta.get("name") or ""
        prefix = meta.get("generateName") or ""
        if not name and not prefix:
            raise self._invalid(cls, "", ["metadata.name: Required value: name or generateName is required"])
        errors: builtins.list[str] = []
        if ns and (err := dns1123_label_error(ns)):
            errors.append(f'metadata.namespace: Invalid value: "{ns}": {err}')
        if name and (err := dns1123_subdomain_error(name)):
            errors.append(f'metadata.name: Invalid value: "{name}": {err}')
        if errors:
            raise self._invalid(cls, name or prefix, errors)
        for system_field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(system_field, None)
        meta["uid"] = str(uuid.uuid4())
        meta["generation"] = 1
        meta["creationTimestamp"] = self._now()
        with self._write() as tx:
            if not name:
                name = self._generate_name(key, ns, prefix)
                if err := dns1123_subdomain_error(name):
                    raise self._invalid(cls, name, [f'metadata.name: Invalid value: "{name}": {err}'])
                meta["name"] = name
            try:
                data = self._store_row(tx, EventType.ADDED, key, ns, name, d, None)
            except sqlite3.IntegrityError:  # the (kind, namespace, name) key: no extra read
                raise AlreadyExists(f'{resource_name(cls)} "{name}" already exists') from None
        if getattr(obj, "string_data", None):
            return _decode(cls, data)  # stringData was folded into data
        return _written(obj, meta)

    def _generate_name(self, key: str, ns: str, prefix: str) -> str:
        prefix = prefix[:_MAX_GENERATE_PREFIX]
        while True:
            suffix = "".join(secrets.choice(_GENERATE_ALPHABET) for _ in range(_GENERATE_SUFFIX))
            if self._fetch(key, ns, prefix + suffix) is None:
                return prefix + suffix

    def _check_preconditions(
        self, cls: type[Resource], name: str, meta: Mapping[str, Any], rv: int, uid: str
    ) -> None:
        given_uid = meta.get("uid")
        if given_uid and given_uid != uid:
            raise Conflict(
                f"Precondition failed: UID in precondition: {given_uid}, UID in object meta: {uid}"
            )
        given_rv = meta.get("resourceVersion")
        if given_rv and given_rv != str(rv):
            raise self._conflict(cls, name)

    @_translated
    def update(self, obj: R) -> R:
        cls = type(obj)
        key = self._key(cls)
        d = obj.to_dict()
        self._fold_string_data(cls, d)
        meta = d.setdefault("metadata", {})
        ns = self._namespace(cls, meta.get("namespace"))
        name = meta.get("name") or ""
        with self._write() as tx:
            row = self._fetch(key, ns, name)
            if row is None:
                raise self._not_found(cls, name)
            stored_data, stored_rv, uid = row
            self._check_preconditions(cls, name, meta, stored_rv, uid)
            stored = json.loads(stored_data)
            smeta = stored["metadata"]
            for system_field in (
                "uid",
                "name",
                "namespace",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "resourceVersion",
            ):
                if system_field in smeta:
                    meta[system_field] = smeta[system_field]
                else:
                    meta.pop(system_field, None)
            if cls.HAS_STATUS:
                if "status" in stored:
                    d["status"] = stored["status"]
                else:
                    d.pop("status", None)
            self._validate_update(cls, name, stored, d)
            if "spec" in cls.model_fields and d.get("spec") != stored.get("spec"):
                meta["generation"] = int(smeta.get("generation") or 0) + 1
            if d == stored:
                return _decode(cls, stored_data)
            if smeta.get("deletionTimestamp") and not meta.get("finalizers"):
                data = self._remove(tx, key, ns, name, d)
                return _decode(cls, data)
            data = self._store_row(tx, EventType.MODIFIED, key, ns, name, d, _owner_uids(stored))
        # the stored status, not the caller's, is what an update returns
        return _decode(cls, data)

    def apply(self, obj: R, field_manager: str) -> R:
        """Server-side apply emulated (``store/apply.py``): merge over the stored object,
        then create or update it with its resourceVersion as precondition."""
        from ..api.core import Secret
        from .apply import merge_apply

        if not isinstance(obj, Secret):
            raise StoreError(f"server-side apply of {obj.KIND} is not supported by the SQLite store")
        ns = self._namespace(Secret, obj.metadata.namespace)
        for _ in range(10):
            existing = self.try_get(Secret, ns, obj.name)
            merged = merge_apply(existing, obj, field_manager)
            merged.metadata.namespace = ns
            try:
                if existing is None:
                    return self.create(merged)  # type: ignore[return-value]
                return self.update(merged)  # type: ignore[return-value]
            except (AlreadyExists, Conflict):
                continue  # someone wrote in between: merge over their version
        raise self._conflict(Secret, obj.name)

    def _validate_update(
        self, cls: type[Resource], name: str, stored: Mapping[str, Any], d: Mapping[str, Any]
    ) -> None:
        errors: builtins.list[str] = []
        if stored["metadata"].get("deletionTimestamp"):
            old = set(stored["metadata"].get("finalizers") or [])
            new = [f for f in d["metadata"].get("finalizers") or [] if f not in old]
            if new:
                errors.append(
                    "metadata.finalizers: Forbidden: no new finalizers can be added if the object is "
                    f"being deleted, found new finalizers {json.dumps(new)}"
                )
        if stored.get("immutable"):
            if d.get("data") != stored.get("data"):
                errors.append("data: Forbidden: field is immutable when `immutable` is set")
            if not d.get("immutable"):
                errors.append("immutable: Forbidden: field is immutable when `immutable` is set")
        if errors:
            raise self._invalid(cls, name, errors)

    @_translated
    def update_status(self, obj: R) -> R:
        cls = type(obj)
        name = obj.name
        if not cls.HAS_STATUS:
            raise NotFound(f'{resource_name(cls)} "{name}": the server could not find the requested resource')
        key = self._key(cls)
        ns = self._namespace(cls, obj.namespace)
        status = getattr(obj, "status", None)
        # only the status is written: serialise only it (a request's spec carries a CSR)
        new_status = (
            status.model_dump(by_alias=True, exclude_none=True, mode="json")
            if status is not None and hasattr(status, "model_dump")
            else status
        )
        meta = {"uid": obj.metadata.uid, "resourceVersion": obj.metadata.resource_version}
        with self._write() as tx:
            row = self._fetch(key, ns, name)
            if row is None:
                raise self._not_found(cls, name)
            stored_data, stored_rv, uid = row
            self._check_preconditions(cls, name, meta, stored_rv, uid)
            stored = json.loads(stored_data)
            if stored.get("status") == new_status:
                return _decode(cls, stored_data)
            if new_status is None:
                stored.pop("status", None)
            else:
                stored["status"] = new_status
            self._store_row(tx, EventType.MODIFIED, key, ns, name, stored, _owner_uids(stored))
        return _written(obj, stored["metadata"])

    @_translated
    def delete(self, cls: type[R], namespace: str | None, name: str) -> None:
        key = self._key(cls)
        ns = self._namespace(cls, namespace)
        with self._write() as tx:
            row = self._fetch(key, ns, name)
            if row is None:
                raise self._not_found(cls, name)
            stored = json.loads(row[0])
            if stored["metadata"].get("finalizers"):
                self._mark_deleted(tx, key, ns, name, stored)
            else:
                self._remove(tx, key, ns, name, stored)

    def _mark_deleted(self, tx: _Tx, key: str, ns: str, name: str, d: dict[str, Any]) -> None:
        """Deletion blocked by finalizers: set deletionTimestamp once, as the API server does."""
        meta = d["metadata"]
        if meta.get("deletionTimestamp"):
            return
        meta["deletionTimestamp"] = self._now()
        meta["deletionGracePeriodSeconds"] = 0
        self._store_row(tx, EventType.MODIFIED, key, ns, name, d, _owner_uids(d))

    def _remove(self, tx: _Tx, key: str, ns: str, name: str, d: dict[str, Any]) -> str:
        """Remove a row for good, then garbage-collect its dependents (background
        propagation, all in this transaction). Returns the object's last JSON."""
        data = self._delete_row(tx, key, ns, name, d)
        gone = [d["metadata"]["uid"]]
        while gone:
            owner_uid = gone.pop()
            dependents = self._conn.execute(
                "SELECT o.kind, o.namespace, o.name, o.data FROM owner_refs r "
                "JOIN objects o ON o.uid = r.uid WHERE r.owner_uid = ? ORDER BY o.resource_version",
                (owner_uid,),
            ).fetchall()
            self._conn.execute("DELETE FROM owner_refs WHERE owner_uid = ?", (owner_uid,))
            for dkey, dns, dname, ddata in dependents:
                dep = json.loads(ddata)
                dmeta = dep["metadata"]
                refs = dmeta.get("ownerReferences") or []
                solid = [r for r in refs if r.get("uid") != owner_uid and self._uid_exists(r.get("uid"))]
                if solid:
                    # Kubernetes' collector drops references to owners that are gone and
                    # keeps an object that still has an owner
                    dmeta["ownerReferences"] = solid
                    old_owners = {r["uid"] for r in refs if r.get("uid")}
                    self._store_row(tx, EventType.MODIFIED, dkey, dns, dname, dep, old_owners)
                elif dmeta.get("finalizers"):
                    self._mark_deleted(tx, dkey, dns, dname, dep)
                else:
                    self._delete_row(tx, dkey, dns, dname, dep)
                    gone.append(dmeta["uid"])
        return data

    def _uid_exists(self, uid: str | None) -> bool:
        if not uid:
            return False
        return self._conn.execute("SELECT 1 FROM objects WHERE uid = ?", (uid,)).fetchone() is not None

    def _delete_row(self, tx: _Tx, key: str, ns: str, name: str, d: dict[str, Any]) -> str:
        rv = self._next_rv(tx)
        d["metadata"]["resourceVersion"] = str(rv)
        data = _dumps(d)
        self._conn.execute(
            "DELETE FROM objects WHERE kind = ? AND namespace = ? AND name = ?", (key, ns, name)
        )
        self._conn.execute("DELETE FROM owner_refs WHERE uid = ?", (d["metadata"]["uid"],))
        self._record(tx, EventType.DELETED, key, ns, name, rv, data)
        return data

    # ------------------------------------------------------------------ events

    @_translated
    def record_events(self, events: Sequence[Event]) -> None:
        """Rows in the objects table (so get, describe and delete see them) but no entry in
        the change log: nothing watches Events, and a delivery would cost every controller's
        mappers a decode. Their resourceVersion is the store's current one."""
        if not events:
            return
        from ..api.event import Event

        key = self._key(Event)
        # the models are turned into dicts before the lock is taken: a controller waiting
        # for the store should not wait for this thread's pydantic work
        dicts = [ev.to_dict() for ev in events]
        now = self._now()
        with self._write():
            rv = self._current_rv()
            rows = []
            for d in dicts:
                meta = d["metadata"]
                ns = meta.get("namespace") or "default"
                meta["namespace"] = ns
                meta.setdefault("uid", str(uuid.uuid4()))
                meta.setdefault("creationTimestamp", now)
                meta["resourceVersion"] = str(rv)
                rows.append((key, ns, meta["name"], meta["uid"], rv, _dumps(d)))
            self._conn.executemany(
                "INSERT INTO objects (kind, namespace, name, uid, resource_version, data) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (kind, namespace, name) DO UPDATE SET "
                "resource_version = excluded.resource_version, data = excluded.data",
                rows,
            )

    @_translated
    def expire_events(self, last_seen_before: str) -> int:
        from ..api.event import Event

        with self._write():
            cur = self._conn.execute(
                "DELETE FROM objects WHERE kind = ? AND "
                "coalesce(json_extract(data, '$.lastTimestamp'), json_extract(data, '$.eventTime'), "
                "json_extract(data, '$.metadata.creationTimestamp')) < ?",
                (self._key(Event), last_seen_before),
            )
            return cur.rowcount

    # ------------------------------------------------------------------ leases

    @_translated
    def acquire_lease(self, name: str, holder: str, duration_seconds: float) -> bool:
        """Also the leader's regular check that the store is still the one others see: a
        store file removed or replaced under a running daemon raises StoreBroken, since
        a daemon writing to a file nobody reads is a second, invisible leader."""
        self.check_identity()
        now = self.clock.now().timestamp()
        with self._write():
            row = self._conn.execute("SELECT holder, expires FROM leases WHERE name = ?", (name,)).fetchone()
            if row is not None and row[0] != holder and float(row[1]) > now:
                return False
            self._conn.execute(
                "INSERT INTO leases (name, holder, expires, renewed) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires, "
                "renewed = excluded.renewed",
                (name, holder, now + duration_seconds, now),
            )
        return True

    @_translated
    def check_identity(self) -> None:
        """Raise StoreBroken if the path no longer names the file this store opened."""
        if self._identity is not None and sqlitefile.identity(self.path) != self._identity:
            raise StoreBroken(
                f"store {self.path} was removed or replaced while in use; this process no longer "
                "sees what other processes write"
            )

    @_translated
    def release_lease(self, name: str, holder: str) -> None:
        with self._write():
            self._conn.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))

    # ------------------------------------------------------------------ watch

    @_translated
    def watch(self, handler: WatchHandler) -> Callable[[], None]:
        with self._lock:
            current = self._current_rv()
            watcher = _Watcher(handler, current)
            with self._qlock:
                if not self._watchers:
                    # nobody was listening: nothing older than now is owed to anyone
                    self._delivered_rv = current
                    self._data_version = self._conn.execute("PRAGMA data_version").fetchone()[0]
                self._watchers.append(watcher)
                if self._poller is None and not self._closed.is_set():
                    self._poller = threading.Thread(
                        target=self._poll_loop, name="certkeeper-store-watch", daemon=True
                    )
                    self._poller.start()

        def stop() -> None:
            with self._qlock:
                watcher.active = False
                if watcher in self._watchers:
                    self._watchers.remove(watcher)

        return stop

    def _enqueue(self, changes: builtins.list[_Change]) -> None:
        """Called with _lock held, right after COMMIT."""
        with self._qlock:
            listening = bool(self._watchers)
        if not listening:
            self._delivered_rv = max(self._delivered_rv, changes[-1].rv)
            return
        if changes[0].rv > self._delivered_rv + 1:
            # another process committed since we last looked: its changes come first
            changes = self._read_log(self._delivered_rv, changes[0].rv) + changes
        with self._qlock:
            self._pending.extend(c for c in changes if c.rv > self._delivered_rv)
        self._delivered_rv = max(self._delivered_rv, changes[-1].rv)

    def _read_log(self, after: int, before: int | None = None) -> builtins.list[_Change]:
        sql = "SELECT rv, type, kind, namespace, name, data FROM changelog WHERE rv > ?"
        args: builtins.list[int] = [after]
        if before is not None:
            sql += " AND rv < ?"
            args.append(before)
        rows = self._conn.execute(sql + " ORDER BY rv", args).fetchall()
        if rows and rows[0][0] != after + 1:
            log.warning(
                "store watch fell behind: changes %d..%d were trimmed from the log", after + 1, rows[0][0] - 1
            )
        return [_Change(int(r[0]), EventType(r[1]), r[2], r[3], r[4], r[5]) for r in rows]

    def _poll_loop(self) -> None:
        while not self._closed.wait(POLL_INTERVAL):
            with self._qlock:
                if not self._watchers:
                    self._poller = None
                    return
            try:
                self._poll_once()
            except Exception:
                if self._closed.is_set():
                    return
                log.exception("store watch: reading other processes' changes failed")

    def _poll_once(self) -> None:
        """Deliver what other processes committed; near free when nothing changed."""
        with self._lock:
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            if version == self._data_version:
                return
            self._data_version = version
            changes = self._read_log(self._delivered_rv)
            if not changes:
                return
            with self._qlock:
                self._pending.extend(changes)
            self._delivered_rv = changes[-1].rv
        self._drain()

    def _drain(self) -> None:
        """Deliver queued changes, one thread at a time and never under the database
        lock. A thread that finds another (or itself, re-entrantly from a handler)
        already delivering leaves its changes to that one, which keeps the order."""
        with self._qlock:
            if self._dispatching:
                return
            self._dispatching = True
        try:
            while True:
                with self._qlock:
                    if not self._pending:
                        self._dispatching = False
                        return
                    change = self._pending.popleft()
                    watchers = [w for w in self._watchers if w.active and change.rv > w.start_rv]
                if watchers:
                    self._deliver(change, watchers)
        except BaseException:
            with self._qlock:
                self._dispatching = False
            raise

    def _deliver(self, change: _Change, watchers: builtins.list[_Watcher]) -> None:
        cls = self._class_for(change.kind)
        if cls is None:
            log.debug("store watch: skipping change of unknown kind %s", change.kind)
            return
        try:
            obj = _decode(cls, change.data)
        except ValueError:
            log.exception("store watch: cannot decode %s %s/%s", change.kind, change.namespace, change.name)
            return
        # one decoded object is shared by all handlers: they must copy before mutating
        event = WatchEvent(change.type, cls.KIND, change.namespace or None, change.name, obj)
        for w in watchers:
            if not w.active:
                continue
            try:
                w.handler(event)
            except Exception:
                log.exception("store watch handler failed on %s %s", change.type.value, change.kind)

    # ------------------------------------------------------------------ checkpoints

    def _request_checkpoint(self) -> None:
        """Called with _lock held."""
        if self._checkpointer is None and not self._closed.is_set():
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, name="certkeeper-store-checkpoint", daemon=True
            )
            self._checkpointer.start()
        self._checkpoint_wanted.set()

    def _checkpoint_loop(self) -> None:
        """Copy the WAL back into the database from a connection of its own: a PASSIVE
        checkpoint runs beside the writers, so the fsyncs it needs never sit inside a
        write. Sleeps (no timer) until asked."""
        try:
            # "rw": a store file removed meanwhile must not come back as an empty one
            conn = sqlite3.connect(
                sqlitefile.uri(self.path, "rw"), uri=True, timeout=30.0, isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error:
            log.exception("store: cannot open %s for WAL checkpoints", self.path)
            return
        try:
            while True:
                self._checkpoint_wanted.wait()
                self._checkpoint_wanted.clear()
                if self._closed.is_set():
                    return
                try:
                    _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if frames > _WAL_TRUNCATE_FRAMES:
                        # Under steady writes a PASSIVE checkpoint is always a little
                        # behind, so the WAL would never rewind and grows without end
                        # (seen: 2.7 GB over 10,000 issuances). Now and then make the
                        # writers wait a moment for a full checkpoint and an empty WAL.
                        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                except sqlite3.Error as e:  # a full disk: the next one tries again
                    log.warning("store: WAL checkpoint failed: %s", e)
        finally:
            conn.close()

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        self._closed.set()
        self._checkpoint_wanted.set()
        for thread in (self._poller, self._checkpointer):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=5)
        with self._lock:
            try:
                self._conn.close()
            except sqlite3.Error as e:  # pragma: no cover - closing never matters more than this
                raise StoreError(str(e)) from e

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
