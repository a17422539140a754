"""The controller contract and the context controllers get.

A controller owns one queue of keys of its primary kind; ``watches`` say which store
events enqueue which keys; ``reconcile`` reads the store, writes the store, and returns
when to look again. Controllers never call each other: that is what makes a restart
after a crash (or SIGKILL) free, since every controller simply re-reads the state.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Iterable
from typing import Any

from ..api.meta import Resource
from ..store.base import Store, WatchEvent
from .clock import Clock
from .events import EventSink
from .queue import Key

log = logging.getLogger("certkeeper")


@dataclasses.dataclass
class Result:
    requeue_after: dt.timedelta | None = None


@dataclasses.dataclass
class Options:
    """Daemon flags that change controller behaviour (cert-manager's names)."""

    cluster_resource_namespace: str = "cert-manager"
    min_backoff: dt.timedelta = dt.timedelta(hours=1)
    max_backoff: dt.timedelta = dt.timedelta(hours=32)
    enable_certificate_owner_ref: bool = False
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


class EventRecorder:
    """Kubernetes-style events: always a log line, and with a sink an Event in the store
    that ``describe`` and ``status`` show. Messages never carry keys."""

    def __init__(
        self, logger: logging.Logger | None = None, sink: EventSink | None = None, component: str = "certkeeper"
    ) -> None:
        self._log = logger or logging.getLogger("certkeeper.events")
        self.sink = sink
        self.component = component

    def for_component(self, component: str) -> EventRecorder:
        """The same recorder, reporting as ``component`` (a controller's name)."""
        return EventRecorder(self._log, self.sink, component)

    def event(self, obj: Resource, type_: str, reason: str, message: str) -> None:
        ns = f"{obj.namespace}/" if obj.namespace else ""
        level = logging.WARNING if type_ == "Warning" else logging.INFO
        self._log.log(level, "%s %s%s %s: %s", obj.KIND, ns, obj.name, reason, message)
        if self.sink is not None:
            self.sink.add(obj, type_, reason, message, self.component)


@dataclasses.dataclass
class Context:
    store: Store
    clock: Clock
    options: Options = dataclasses.field(default_factory=Options)
    recorder: EventRecorder = dataclasses.field(default_factory=EventRecorder)
    #: shared in-memory services (ACME account registry, HTTP-01 responder ...)
    services: dict[str, Any] = dataclasses.field(default_factory=dict)

    def now(self) -> dt.datetime:
        return self.clock.now()


Mapper = Callable[[WatchEvent], Iterable[Key]]


def key_of(obj: Resource) -> Key:
    return (obj.namespace, obj.name)


def same_key(event: WatchEvent) -> Iterable[Key]:
    return [(event.namespace, event.name)]


def controller_owner(kind: str) -> Mapper:
    """Map an event on an owned object to its controlling owner of ``kind``."""

    def mapper(event: WatchEvent) -> Iterable[Key]:
        ref = event.obj.controller_ref()
        if ref is not None and ref.kind == kind:
            return [(event.namespace, ref.name)]
        return []

    return mapper


class Controller:
    name: str = "controller"
    primary: type[Resource]
    #: per-key failure back-off (cert-manager: 1s..30s for certificates, 5s..5m others)
    backoff_base: dt.timedelta = dt.timedelta(seconds=1)
    backoff_cap: dt.timedelta = dt.timedelta(seconds=30)
    #: "main" for controllers that only compute and use the store; "io" for those that
    #: wait on the network or on other programs
    pool: str = "main"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.clock = ctx.clock
        # cert-manager's component names, so that event filters written for it still match
        self.recorder = ctx.recorder.for_component(f"cert-manager-{self.name}")
        self.log = logging.getLogger(f"certkeeper.{self.name}")
        #: queue ``key`` for this controller again, from any thread: for work handed to
        #: another thread or process that finishes later (the manager connects it)
        self.requeue: Callable[[Key], None] = lambda key: None

    def watches(self) -> list[tuple[str, Mapper]]:
        """(kind, mapper) pairs; the primary kind is watched by default."""
        return [(self.primary.KIND, same_key)]

    def initial_timer(self, obj: Resource) -> dt.timedelta | None:
        """At start-up, a wake-up this controller needs for ``obj`` that its stored state
        alone tells (a renewal time), armed before the sweep over everything reaches it."""
        return None

    def stop(self) -> None:
        """The manager is stopping: end what would hold a worker up (running hooks).
        Called before the manager waits for its workers."""

    def reconcile(self, key: Key) -> Result | None:
        raise NotImplementedError
