"""The ``Events:`` block of ``kubectl describe`` and ``cmctl status``: what the
controllers did to an object, newest last, repeats folded into one line."""

from __future__ import annotations

import datetime as _dt

from ..api.event import Event
from ..api.meta import Resource, parse_time
from ..store.base import Store
from .printers import event_source, human_duration


def events_for(store: Store, obj: Resource) -> list[Event]:
    """The object's events, oldest first (kubectl sorts them by last time seen). Events
    of cluster-scoped objects are in ``default``, as Kubernetes files them."""
    namespace = obj.namespace or "default"
    out = [
        e for e in store.list(Event, namespace)
        if e.involved_object.kind == obj.KIND and e.involved_object.name == obj.name
        and (not e.involved_object.uid or not obj.uid or e.involved_object.uid == obj.uid)
    ]
    return sorted(out, key=lambda e: e.last_timestamp or e.first_timestamp or e.metadata.creation_timestamp or "")


def _since(ts: str | None, now: _dt.datetime) -> str:
    return human_duration(now - parse_time(ts)) if ts else "<unknown>"


def _age(e: Event, now: _dt.datetime) -> str:
    first = e.first_timestamp or e.event_time or e.metadata.creation_timestamp
    if (e.count or 1) > 1 and e.last_timestamp:
        return f"{_since(e.last_timestamp, now)} (x{e.count} over {_since(first, now)})"
    return _since(first, now)


def event_lines(events: list[Event], now: _dt.datetime, indent: str = "") -> list[str]:
    if not events:
        return [f"{indent}Events:  <none>"]
    rows = [["Type", "Reason", "Age", "From", "Message"], ["----", "------", "----", "----", "-------"]]
    rows += [[e.type or "", e.reason or "", _age(e, now), event_source(e.to_dict()), (e.message or "").strip()] for e in events]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [f"{indent}Events:"]
    for r in rows:
        cells = [c.ljust(widths[i]) for i, c in enumerate(r[:4])] + [r[4]]
        lines.append(f"{indent}  " + "  ".join(cells).rstrip())
    return lines
