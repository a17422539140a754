"""A compact table of what the metrics need from each object, fed by the store's watch.

Scrapes must stay cheap with 10,000 Certificates: decoding the whole store per scrape
would cost CPU and memory on every poll. So each object is reduced once, on change, to a
tuple of a few strings and numbers; the watch's objects are shared and never kept.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from ..api.acme import Challenge
from ..api.certificate import Certificate
from ..api.issuer import ClusterIssuer, Issuer
from ..api.meta import Condition, get_condition, parse_time
from ..store.base import EventType, Store, WatchEvent


class CertRow(NamedTuple):
    ready: str
    issuer_name: str
    issuer_kind: str
    issuer_group: str
    not_after: float
    not_before: float
    renewal: float


class ChallengeRow(NamedTuple):
    state: str
    domain: str
    reason: str
    processing: str
    type: str


V = TypeVar("V")

Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped kinds


def _ts(value: str | None) -> float:
    """RFC 3339 to epoch seconds; cert-manager reports 0 when the field is unset."""
    if not value:
        return 0.0
    try:
        return parse_time(value).timestamp()
    except ValueError:
        return 0.0


def _ready(conditions: list[Condition] | None) -> str:
    ready = get_condition(conditions, "Ready")
    return ready.status if ready else "Unknown"


def cert_row(crt: Certificate) -> CertRow:
    """The row of a Certificate. The status and issuer strings repeat across thousands of
    rows: interned, each row holds a reference to one copy instead of its own."""
    ref = crt.spec.issuer_ref
    st = crt.status
    return CertRow(
        ready=sys.intern(_ready(st.conditions if st else None)),
        # cert-manager labels with the issuerRef fields as written, empty when left out
        issuer_name=sys.intern((ref.name or "") if ref else ""),
        issuer_kind=sys.intern((ref.kind or "") if ref else ""),
        issuer_group=sys.intern((ref.group or "") if ref else ""),
        not_after=_ts(st.not_after if st else None),
        not_before=_ts(st.not_before if st else None),
        renewal=_ts(st.renewal_time if st else None),
    )


def challenge_row(ch: Challenge) -> ChallengeRow:
    st = ch.status
    return ChallengeRow(
        state=(st.state or "") if st else "",
        domain=ch.spec.dns_name or "",
        reason=(st.reason or "") if st else "",
        processing="true" if st and st.processing else "false",
        type=ch.spec.type or "",
    )


class MetricsTable:
    """Rows per kind, kept current by the watch; primed by a paged scan at start.

    ``version`` moves only when a row really changed (most watch events of a Certificate
    change nothing the metrics show), so that the exposition is rebuilt only then.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.certificates: dict[Key, CertRow] = {}
        self.issuers: dict[Key, str] = {}
        self.cluster_issuers: dict[Key, str] = {}
        self.challenges: dict[Key, ChallengeRow] = {}
        self.version = 0
        #: set once the scan of the stored objects is done (or failed: then ``failure`` says why)
        self.primed = threading.Event()
        self.failure = ""
        # while priming, keys the watch already wrote: the scan may have read them older
        self._written: set[tuple[int, Key]] | None = None
        self._unwatch: Callable[[], None] | None = None

    def start(self, store: Store) -> None:
        """Watch, then scan: the scan's rows never replace what the watch delivered since."""
        self.watch(store)
        self.prime(store)

    def watch(self, store: Store) -> None:
        with self._lock:
            self._written = set()
        self._unwatch = store.watch(self.on_event)

    def prime(self, store: Store) -> None:
        """Read every stored object once (what the watch will not replay); ``primed`` is set
        at the end either way."""
        try:
            for kind in (Certificate, Issuer, ClusterIssuer, Challenge):
                for obj in store.scan(kind):
                    self._apply(obj, deleted=False, scanned=True)
        except Exception as exc:
            self.failure = f"the stored objects could not be read: {exc}"
            raise
        finally:
            with self._lock:
                self._written = None
            self.primed.set()

    def stop(self) -> None:
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None

    def on_event(self, ev: WatchEvent) -> None:
        self._apply(ev.obj, deleted=ev.type == EventType.DELETED)

    def _apply(self, obj: object, deleted: bool, scanned: bool = False) -> None:
        meta = getattr(obj, "metadata", None)
        if meta is None:
            return
        key: Key = (sys.intern(meta.namespace or ""), meta.name or "")
        # ClusterIssuer subclasses Issuer: test it first
        if isinstance(obj, ClusterIssuer):
            self._put(self.cluster_issuers, key, None if deleted else _ready(obj.status.conditions if obj.status else None),
                      scanned)
        elif isinstance(obj, Issuer):
            self._put(self.issuers, key, None if deleted else _ready(obj.status.conditions if obj.status else None),
                      scanned)
        elif isinstance(obj, Certificate):
            self._put(self.certificates, key, None if deleted else cert_row(obj), scanned)
        elif isinstance(obj, Challenge):
            self._put(self.challenges, key, None if deleted else challenge_row(obj), scanned)

    def _put(self, table: dict[Key, V], key: Key, row: V | None, scanned: bool = False) -> None:
        with self._lock:
            if self._written is not None:
                if scanned and (id(table), key) in self._written:
                    return
                if not scanned:
                    self._written.add((id(table), key))
            if row is None:
                if table.pop(key, None) is not None:
                    self.version += 1
            elif table.get(key) != row:
                table[key] = row
                self.version += 1

    def snapshot(self, table: dict[Key, V]) -> list[tuple[Key, V]]:
        with self._lock:
            return list(table.items())

    def snapshot_all(self, tables: list[dict[Key, Any]], since: int) -> tuple[int, list[list[tuple[Key, Any]]] | None]:
        """The version and the rows of these tables, read together; no rows (None) when the
        version is still ``since``."""
        with self._lock:
            if self.version == since:
                return since, None
            return self.version, [list(t.items()) for t in tables]
