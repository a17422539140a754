"""Event mappers that wake an owner only when what it decides on has changed.

An ACME issuance writes its Order and Challenges many times (scheduled, presented,
accepted, polled ...), and each write used to wake the owner, which read everything again
to find nothing to do: a third of an issuance's reconciles. The owner's decision depends
on a few fields of the owned object (a Challenge's "final? failed?", an Order's state);
this mapper forwards an event only when those fields differ from what it last forwarded
for that object, and always forwards a deletion.

What it remembers is bounded by the objects still in flight: an object whose fingerprint
says it is done (``done``) is forgotten once forwarded, so a later event of a finished
object is forwarded again (one spare reconcile, never a missed one).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable

from ..api.meta import Resource
from ..store.base import EventType, WatchEvent
from .controller import Mapper
from .queue import Key


def owner_on_change(
    kind: str, fingerprint: Callable[[Resource], Hashable], done: Callable[[Hashable], bool]
) -> Mapper:
    """Map an event on an owned object to its controlling owner of ``kind``, when the
    object's ``fingerprint`` changed since the last event forwarded for it."""
    last: dict[tuple[str | None, str], Hashable] = {}
    lock = threading.Lock()

    def mapper(event: WatchEvent) -> Iterable[Key]:
        ref = event.obj.controller_ref()
        if ref is None or ref.kind != kind:
            return []
        key = (event.namespace, event.name)
        owner = [(event.namespace, ref.name)]
        if event.type == EventType.DELETED:
            with lock:
                last.pop(key, None)
            return owner
        fp = fingerprint(event.obj)
        with lock:
            if key in last and last[key] == fp:
                return []
            if done(fp):
                last.pop(key, None)
            else:
                last[key] = fp
        return owner

    return mapper
