"""Events kept in the store, the way Kubernetes keeps them, off the controllers' path.

A controller's ``recorder.event(...)`` must never slow an issuance or fail it, so the
sink only queues: a thread of its own writes what gathered in one transaction. Repeats of
the same event (same object, component, type, reason and message) become one Event whose
``count`` and ``lastTimestamp`` grow, as the Kubernetes event correlator does, so a
Certificate that fails every hour shows one line ``(x12 over 11h)``, not twelve. Events
last seen more than an hour ago are removed (the API server's default ``--event-ttl``).
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
import time
import uuid
from typing import NamedTuple

from ..api.event import Event, EventSource, ObjectReference
from ..api.meta import Resource, format_time, parse_time
from ..store.base import Store
from .clock import Clock

log = logging.getLogger("certkeeper.events")

EVENT_TTL = dt.timedelta(hours=1)
#: a short wait after the first event of a batch, so one issuance's events go in one write
BATCH_DELAY = 0.2
#: how often events older than the TTL are removed
EXPIRY_INTERVAL = 600.0
#: queued and not yet written; beyond this new events are dropped (and counted), never
#: blocking a controller
MAX_PENDING = 10_000
#: events remembered for aggregation
MAX_KNOWN = 4096

_Key = tuple[str, str, str, str, str, str, str, str]


class _Seen(NamedTuple):
    """What aggregation needs of an Event already written: a few strings, not the Event
    (thousands of them are remembered)."""

    name: str
    uid: str
    times: int
    first: str
    last: str


class _Pending(NamedTuple):
    """An event as the recorder gave it, made into an Event only on the sink's thread:
    the controllers' path pays for a tuple, not for a model."""

    api_version: str
    resource_version: str | None
    seen: _Seen


def _event(key: _Key, pending: _Pending) -> Event:
    component, kind, namespace, name, uid, type_, reason, message = key
    seen = pending.seen
    ev = Event.new(
        seen.name,
        namespace or "default",  # events of cluster-scoped objects live in "default"
        involved_object=ObjectReference(
            api_version=pending.api_version, kind=kind, namespace=namespace or None, name=name,
            uid=uid or None, resource_version=pending.resource_version,
        ),
        reason=reason, message=message, type=type_, count=seen.times,
        first_timestamp=seen.first, last_timestamp=seen.last,
        # no host: cert-manager's events name only the component ("From" in describe)
        source=EventSource(component=component), reporting_component=component,
    )
    ev.metadata.uid = seen.uid
    return ev


class EventSink:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.dropped = 0
        self._lock = threading.Lock()
        self._pending: dict[_Key, _Pending] = {}
        self._known: collections.OrderedDict[_Key, _Seen] = collections.OrderedDict()
        self._last_nanos = 0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what the recorder calls -----------------------------------------------------
    def add(self, obj: Resource, type_: str, reason: str, message: str, component: str) -> None:
        now = self.clock.now()
        key: _Key = (component, obj.KIND, obj.namespace or "", obj.name, obj.uid, type_, reason, message)
        with self._lock:
            if len(self._pending) >= MAX_PENDING and key not in self._pending:
                self.dropped += 1
                return
            known = self._known.get(key)
            if known is not None and parse_time(known.last) >= now - EVENT_TTL:
                seen = _Seen(known.name, known.uid, known.times + 1, known.first, format_time(now))
            else:
                seen = _Seen(self._name(obj, now), str(uuid.uuid4()), 1, format_time(now), format_time(now))
            self._known[key] = seen
            self._known.move_to_end(key)
            while len(self._known) > MAX_KNOWN:
                self._known.popitem(last=False)
            self._pending[key] = _Pending(obj.API_VERSION, obj.metadata.resource_version, seen)
        self._wake.set()

    def _name(self, obj: Resource, now: dt.datetime) -> str:
        """Kubernetes names an event <object>.<unix nanoseconds in hex>; kept unique here
        even when a test clock stands still."""
        nanos = max(int(now.timestamp() * 1e9), self._last_nanos + 1)
        self._last_nanos = nanos
        return f"{obj.name}.{nanos:x}"

    # -- writing -----------------------------------------------------------------------
    def flush(self) -> int:
        """Write what is queued now; returns how many Events were written."""
        with self._lock:
            pending = list(self._pending.items())
            self._pending.clear()
        batch = [_event(key, p) for key, p in pending]
        if not batch:
            return 0
        try:
            self.store.record_events(batch)
        except Exception as e:  # best-effort: the log line was written already
            log.warning("could not store %d events: %s", len(batch), e)
            return 0
        return len(batch)

    def expire(self) -> int:
        try:
            return self.store.expire_events(format_time(self.clock.now() - EVENT_TTL))
        except Exception as e:
            log.warning("could not remove expired events: %s", e)
            return 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="certkeeper-events", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the thread and write what is still queued."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()

    def _loop(self) -> None:
        # the first clean-up after a start waits its turn: not in the way of the start-up
        expired_at = time.monotonic()
        while not self._stopping.is_set():
            if self._wake.wait(EXPIRY_INTERVAL):
                self._wake.clear()
                self._stopping.wait(BATCH_DELAY)
                self.flush()
            if time.monotonic() - expired_at >= EXPIRY_INTERVAL:
                self.expire()
                expired_at = time.monotonic()
