"""Which piece of work an object belongs to, so that the queues finish it before newer work.

An issuance is a chain of objects, each created by a controller working on the one before
and owned by it: Certificate → CertificateRequest → Order → Challenge. Every object seen
live gets a ticket (``queue.next_ticket``): its controlling owner's when the owner has one,
a new one otherwise. The queues serve lower tickets first, so a step of an issuance that
started earlier goes before any step of one that started later, and a batch of
certificates flows through like a pipeline instead of advancing stage by stage together.

Only what the queues can use is kept: objects of the kinds controllers reconcile, seen by
live events (the start-up sweep over every stored object has a queue of its own), and at
most ``limit`` of them, the oldest forgotten first. A forgotten object simply gets a new
ticket when it is seen again, which is the plain first-come order.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from ..store.base import EventType, WatchEvent
from .queue import Key, Ticket, next_ticket

#: (kind, namespace, name)
ObjectKey = tuple[str, str | None, str]


class Lineage:
    def __init__(self, kinds: Iterable[str], limit: int = 10_000) -> None:
        self.kinds = frozenset(kinds)
        self.limit = limit
        self._lock = threading.Lock()
        self._tickets: dict[ObjectKey, Ticket] = {}

    def observe(self, event: WatchEvent) -> Ticket | None:
        """The ticket of the event's object (None for kinds no controller reconciles)."""
        if event.kind not in self.kinds:
            return None
        key = (event.kind, event.namespace, event.name)
        with self._lock:
            if event.type == EventType.DELETED:
                return self._tickets.pop(key, None)
            ticket = self._tickets.get(key)
            if ticket is not None:
                return ticket
            ref = event.obj.controller_ref()
            if ref is not None and ref.kind:
                ticket = self._tickets.get((ref.kind, event.namespace, ref.name))
            if ticket is None:
                ticket = next_ticket()
            self._tickets[key] = ticket
            if len(self._tickets) > self.limit:
                del self._tickets[next(iter(self._tickets))]  # the oldest entry (insertion order)
            return ticket

    def ticket(self, kind: str, key: Key) -> Ticket | None:
        """The ticket of a known object (a dict read: safe under the queue's lock)."""
        return self._tickets.get((kind, key[0], key[1]))

    def __len__(self) -> int:
        return len(self._tickets)
